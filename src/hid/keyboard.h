/*
 * hid/keyboard: the keyboard state model and the exact USB HID report bytes it produces.
 *
 * Pure state, no I/O: the input layer presses and releases keys by HID (page, usage), the
 * output layer takes reports and writes them to /dev/hidgN or a CH9329. Keys are named by
 * HID usage numbers straight from the HID Usage Tables (the keymap maps browser codes to them):
 *   - keyboard page 0x07: usages 0x04..0xDF are keys, 0xE0..0xE7 the eight modifiers
 *     (LeftCtrl, LeftShift, LeftAlt, LeftGUI, RightCtrl, RightShift, RightAlt, RightGUI);
 *   - consumer page 0x0C: media keys, usages 0x0001..0x0FFF;
 *   - generic desktop page 0x01: system control 0x81 Power Down, 0x82 Sleep, 0x83 Wake Up.
 *
 * Reports (byte layouts; every descriptor below is a const array with a comment):
 *   boot keyboard, on the keyboard HID function (8 bytes, no report ID):
 *     [0] modifiers (bit n = usage 0xE0 + n)  [1] 0  [2..7] key usages in press order, 0 = empty.
 *     With more than 6 non-modifier keys held the keyboard is in phantom state: [2..7] are all
 *     0x01 (ErrorRollOver) while the modifiers are still reported, as the HID spec requires.
 *     Releasing back to 6 or fewer keys gives the normal report again.
 *   NKRO keyboard, optional replacement for the boot report on that function (29 bytes, no ID):
 *     [0] modifiers as above, [1..28] bitmap of usages 0x00..0xDF: usage u is bit (u % 8) of
 *     byte 1 + u / 8. The modifiers are not repeated in the bitmap (their usages 0xE0..0xE7 are
 *     declared once, by byte 0). Bits 0x00..0x03 (reserved/error codes) are always 0.
 *   LED output report (host -> device, 1 byte, both keyboard formats): bit0 Num Lock,
 *     bit1 Caps Lock, bit2 Scroll Lock, bit3 Compose, bit4 Kana, bits 5..7 padding.
 *   consumer + system control, on a HID function of their own, two reports told apart by ID:
 *     consumer: [0] 0x01 (report ID) [1..2] usage of the pressed consumer key, 16-bit little
 *       endian, 0 when none (an array of one: the most recently pressed key that is still held);
 *     system:   [0] 0x02 (report ID) [1] bit0 Power Down, bit1 Sleep, bit2 Wake Up.
 *
 * Change tracking: every report function "takes" the report (remembers its bytes);
 * ipkvm_hid_keyboard_changed() says whether the report taken now would differ from the last one
 * taken, so an output sends only changes. The host is assumed to start with nothing pressed
 * (the initial "last" report is the idle one); after an output reconnects, call
 * ipkvm_hid_keyboard_invalidate() so the current state is sent again. Take a report after every
 * press/release, or a quick press+release between two takes is invisible to the target.
 */
#ifndef IPKVM_HID_KEYBOARD_H
#define IPKVM_HID_KEYBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPKVM_HID_PAGE_DESKTOP	0x01
#define IPKVM_HID_PAGE_KEYBOARD 0x07
#define IPKVM_HID_PAGE_CONSUMER 0x0C

#define IPKVM_HID_USAGE_ERROR_ROLLOVER 0x01
#define IPKVM_HID_USAGE_MOD_FIRST      0xE0 /* LeftControl */
#define IPKVM_HID_USAGE_MOD_LAST       0xE7 /* RightGUI */
#define IPKVM_HID_USAGE_SYS_POWER      0x81 /* generic desktop System Power Down */
#define IPKVM_HID_USAGE_SYS_SLEEP      0x82 /* generic desktop System Sleep */
#define IPKVM_HID_USAGE_SYS_WAKE       0x83 /* generic desktop System Wake Up */
#define IPKVM_HID_CONSUMER_USAGE_MAX   0x0FFF

/* Modifier bits of byte 0 of both keyboard reports. */
#define IPKVM_HID_MOD_LCTRL  0x01
#define IPKVM_HID_MOD_LSHIFT 0x02
#define IPKVM_HID_MOD_LALT   0x04
#define IPKVM_HID_MOD_LGUI   0x08
#define IPKVM_HID_MOD_RCTRL  0x10
#define IPKVM_HID_MOD_RSHIFT 0x20
#define IPKVM_HID_MOD_RALT   0x40
#define IPKVM_HID_MOD_RGUI   0x80

/* System control bits of byte 1 of the system report. */
#define IPKVM_HID_SYS_POWER 0x01
#define IPKVM_HID_SYS_SLEEP 0x02
#define IPKVM_HID_SYS_WAKE  0x04

#define IPKVM_HID_BOOT_REPORT_LEN     8
#define IPKVM_HID_NKRO_REPORT_LEN     29
#define IPKVM_HID_CONSUMER_REPORT_LEN 3
#define IPKVM_HID_SYSTEM_REPORT_LEN   2
#define IPKVM_HID_REPORT_ID_CONSUMER  0x01
#define IPKVM_HID_REPORT_ID_SYSTEM    0x02

#define IPKVM_HID_KBD_KEYS_MAX	    0xE0 /* bound on held non-modifier keys (usages < 0xE0) */
#define IPKVM_HID_CONSUMER_HELD_MAX 8

/* Which report ipkvm_hid_keyboard_changed() / invalidate are about. */
enum ipkvm_hid_kbd_report {
	IPKVM_HID_REPORT_BOOT = 0,
	IPKVM_HID_REPORT_NKRO,
	IPKVM_HID_REPORT_CONSUMER,
	IPKVM_HID_REPORT_SYSTEM,
	IPKVM_HID_REPORT_COUNT_,
};

/* Plain value; ipkvm_hid_keyboard_init() before use (nothing held, idle reports taken). */
struct ipkvm_hid_keyboard {
	uint8_t mods;				    /* modifier bits */
	uint8_t nkeys;				    /* held non-modifier keys */
	uint8_t keys[IPKVM_HID_KBD_KEYS_MAX];	    /* their usages, in press order */
	uint8_t ncons;				    /* held consumer keys */
	uint16_t cons[IPKVM_HID_CONSUMER_HELD_MAX]; /* their usages, in press order */
	uint8_t system;				    /* system control bits */
	/* Last report taken of each kind, and "send again even if equal" flags. */
	uint8_t last_boot[IPKVM_HID_BOOT_REPORT_LEN];
	uint8_t last_nkro[IPKVM_HID_NKRO_REPORT_LEN];
	uint8_t last_consumer[IPKVM_HID_CONSUMER_REPORT_LEN];
	uint8_t last_system[IPKVM_HID_SYSTEM_REPORT_LEN];
	bool stale[IPKVM_HID_REPORT_COUNT_];
};

/* LED output report, as sent by the host. */
struct ipkvm_hid_leds {
	bool num;
	bool caps;
	bool scroll;
	bool compose;
	bool kana;
};

void ipkvm_hid_keyboard_init(struct ipkvm_hid_keyboard *kb);

/*
 * Press / release one key by (page, usage). Pressing a held key or releasing a key that is not
 * held is a no-op returning 0 (a repeated browser keydown must not reorder the report).
 * Returns -EINVAL for a page/usage that is not a key (keyboard usages 0x00..0x03 and > 0xE7,
 * consumer 0 or > 0x0FFF, desktop other than 0x81..0x83), -ENOSPC when more than
 * IPKVM_HID_CONSUMER_HELD_MAX consumer keys would be held.
 */
int ipkvm_hid_keyboard_press(struct ipkvm_hid_keyboard *kb, uint16_t page, uint16_t usage);
int ipkvm_hid_keyboard_release(struct ipkvm_hid_keyboard *kb, uint16_t page, uint16_t usage);
/* Releases every key, modifier, consumer and system key (stuck-key prevention). */
void ipkvm_hid_keyboard_release_all(struct ipkvm_hid_keyboard *kb);
bool ipkvm_hid_keyboard_is_pressed(const struct ipkvm_hid_keyboard *kb, uint16_t page,
				   uint16_t usage);
/* True when anything at all is held (keys, modifiers, consumer or system keys). */
bool ipkvm_hid_keyboard_any_pressed(const struct ipkvm_hid_keyboard *kb);

/*
 * Report builders: write the report for the current state into out, remember it as taken, and
 * return its length in bytes (IPKVM_HID_*_REPORT_LEN).
 */
int ipkvm_hid_keyboard_boot_report(struct ipkvm_hid_keyboard *kb,
				   uint8_t out[IPKVM_HID_BOOT_REPORT_LEN]);
int ipkvm_hid_keyboard_nkro_report(struct ipkvm_hid_keyboard *kb,
				   uint8_t out[IPKVM_HID_NKRO_REPORT_LEN]);
int ipkvm_hid_keyboard_consumer_report(struct ipkvm_hid_keyboard *kb,
				       uint8_t out[IPKVM_HID_CONSUMER_REPORT_LEN]);
int ipkvm_hid_keyboard_system_report(struct ipkvm_hid_keyboard *kb,
				     uint8_t out[IPKVM_HID_SYSTEM_REPORT_LEN]);

/* Whether taking report `which` now would give bytes different from the last taken (or the
 * report was invalidated since). */
bool ipkvm_hid_keyboard_changed(const struct ipkvm_hid_keyboard *kb,
				enum ipkvm_hid_kbd_report which);
/* Marks every report as needing to be sent again (e.g. the output came back online). */
void ipkvm_hid_keyboard_invalidate(struct ipkvm_hid_keyboard *kb);

/* Decodes the 1-byte LED output report (bits 0..4; 5..7 ignored). */
void ipkvm_hid_leds_parse(uint8_t byte, struct ipkvm_hid_leds *leds);

/*
 * Report descriptors, for the USB gadget's functions (configfs report_desc) and docs.
 * ipkvm_hid_desc_boot_keyboard: boot keyboard with LED output (interface subclass 1 protocol 1).
 * ipkvm_hid_desc_nkro_keyboard: the NKRO format above, same LED output report.
 * ipkvm_hid_desc_consumer_system: consumer (ID 1) and system control (ID 2).
 */
extern const uint8_t ipkvm_hid_desc_boot_keyboard[];
extern const size_t ipkvm_hid_desc_boot_keyboard_len;
extern const uint8_t ipkvm_hid_desc_nkro_keyboard[];
extern const size_t ipkvm_hid_desc_nkro_keyboard_len;
extern const uint8_t ipkvm_hid_desc_consumer_system[];
extern const size_t ipkvm_hid_desc_consumer_system_len;

#endif
