/*
 * hid/keyboard: pressed-key state and the exact bytes of the keyboard, consumer-control and
 * system-control reports (layouts documented in keyboard.h).
 *
 * Why it is shaped so:
 *   - State is a plain struct with fixed arrays (no allocation): it lives inside the HID
 *     service, is copied freely in tests, and release_all can never fail.
 *   - Non-modifier keys are kept in press order, not as a set, because the boot report lists
 *     the first six held keys in the order they went down; the NKRO bitmap is derived from the
 *     same list, so the two formats can never disagree.
 *   - Past six keys the boot report goes to the phantom state (six 0x01 ErrorRollOver) instead of
 *     dropping keys or releasing everything: the host then keeps the previous key state, which
 *     is what a real keyboard does, and a key released later is not seen as typed twice.
 *   - Report builders remember the bytes they produced so the output layer can ask "changed?"
 *     and skip writes that would repeat the last report.
 */
#define LOG_TAG "hid-kbd"
#include "core/log.h"

#include "hid/keyboard.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/*
 * Boot keyboard with LED output report (HID 1.11 appendix B.1 layout). One deliberate
 * difference from the sample in the spec: the key array's logical/usage maximum is 0xE7, not
 * 0x65, so the ISO/JIS keys (International1..5 = 0x87..0x8B, Lang1/2 = 0x90/0x91) and F13..F24
 * are valid in report protocol too; the boot protocol ignores the descriptor anyway.
 */
const uint8_t ipkvm_hid_desc_boot_keyboard[] = {
    0x05, 0x01,	      /* Usage Page (Generic Desktop) */
    0x09, 0x06,	      /* Usage (Keyboard) */
    0xA1, 0x01,	      /* Collection (Application) */
    0x05, 0x07,	      /*   Usage Page (Keyboard/Keypad) */
    0x19, 0xE0,	      /*   Usage Minimum (LeftControl) */
    0x29, 0xE7,	      /*   Usage Maximum (RightGUI) */
    0x15, 0x00,	      /*   Logical Minimum (0) */
    0x25, 0x01,	      /*   Logical Maximum (1) */
    0x75, 0x01,	      /*   Report Size (1) */
    0x95, 0x08,	      /*   Report Count (8) */
    0x81, 0x02,	      /*   Input (Data,Var,Abs): byte 0, modifiers */
    0x95, 0x01,	      /*   Report Count (1) */
    0x75, 0x08,	      /*   Report Size (8) */
    0x81, 0x01,	      /*   Input (Const): byte 1, reserved */
    0x95, 0x05,	      /*   Report Count (5) */
    0x75, 0x01,	      /*   Report Size (1) */
    0x05, 0x08,	      /*   Usage Page (LEDs) */
    0x19, 0x01,	      /*   Usage Minimum (Num Lock) */
    0x29, 0x05,	      /*   Usage Maximum (Kana) */
    0x91, 0x02,	      /*   Output (Data,Var,Abs): LED bits 0..4 */
    0x95, 0x01,	      /*   Report Count (1) */
    0x75, 0x03,	      /*   Report Size (3) */
    0x91, 0x01,	      /*   Output (Const): LED padding bits 5..7 */
    0x95, 0x06,	      /*   Report Count (6) */
    0x75, 0x08,	      /*   Report Size (8) */
    0x15, 0x00,	      /*   Logical Minimum (0) */
    0x26, 0xE7, 0x00, /*   Logical Maximum (231) */
    0x05, 0x07,	      /*   Usage Page (Keyboard/Keypad) */
    0x19, 0x00,	      /*   Usage Minimum (0) */
    0x29, 0xE7,	      /*   Usage Maximum (231) */
    0x81, 0x00,	      /*   Input (Data,Array,Abs): bytes 2..7, key usages */
    0xC0,	      /* End Collection */
};
const size_t ipkvm_hid_desc_boot_keyboard_len = sizeof(ipkvm_hid_desc_boot_keyboard);

/*
 * NKRO keyboard: byte 0 modifiers, bytes 1..28 one bit per usage 0x00..0xDF (usage u = bit u%8
 * of byte 1 + u/8), same LED output report as the boot keyboard.
 */
const uint8_t ipkvm_hid_desc_nkro_keyboard[] = {
    0x05, 0x01, /* Usage Page (Generic Desktop) */
    0x09, 0x06, /* Usage (Keyboard) */
    0xA1, 0x01, /* Collection (Application) */
    0x05, 0x07, /*   Usage Page (Keyboard/Keypad) */
    0x19, 0xE0, /*   Usage Minimum (LeftControl) */
    0x29, 0xE7, /*   Usage Maximum (RightGUI) */
    0x15, 0x00, /*   Logical Minimum (0) */
    0x25, 0x01, /*   Logical Maximum (1) */
    0x75, 0x01, /*   Report Size (1) */
    0x95, 0x08, /*   Report Count (8) */
    0x81, 0x02, /*   Input (Data,Var,Abs): byte 0, modifiers */
    0x95, 0x05, /*   Report Count (5) */
    0x75, 0x01, /*   Report Size (1) */
    0x05, 0x08, /*   Usage Page (LEDs) */
    0x19, 0x01, /*   Usage Minimum (Num Lock) */
    0x29, 0x05, /*   Usage Maximum (Kana) */
    0x91, 0x02, /*   Output (Data,Var,Abs): LED bits 0..4 */
    0x95, 0x01, /*   Report Count (1) */
    0x75, 0x03, /*   Report Size (3) */
    0x91, 0x01, /*   Output (Const): LED padding bits 5..7 */
    0x05, 0x07, /*   Usage Page (Keyboard/Keypad) */
    0x19, 0x00, /*   Usage Minimum (0) */
    0x29, 0xDF, /*   Usage Maximum (0xDF) */
    0x15, 0x00, /*   Logical Minimum (0) */
    0x25, 0x01, /*   Logical Maximum (1) */
    0x75, 0x01, /*   Report Size (1) */
    0x95, 0xE0, /*   Report Count (224) */
    0x81, 0x02, /*   Input (Data,Var,Abs): bytes 1..28, key bitmap */
    0xC0,	/* End Collection */
};
const size_t ipkvm_hid_desc_nkro_keyboard_len = sizeof(ipkvm_hid_desc_nkro_keyboard);

/* Consumer control (report ID 1, one 16-bit usage) and system control (report ID 2, 3 bits). */
const uint8_t ipkvm_hid_desc_consumer_system[] = {
    0x05, 0x0C,	      /* Usage Page (Consumer) */
    0x09, 0x01,	      /* Usage (Consumer Control) */
    0xA1, 0x01,	      /* Collection (Application) */
    0x85, 0x01,	      /*   Report ID (1) */
    0x15, 0x00,	      /*   Logical Minimum (0) */
    0x26, 0xFF, 0x0F, /*   Logical Maximum (0x0FFF) */
    0x19, 0x00,	      /*   Usage Minimum (0) */
    0x2A, 0xFF, 0x0F, /*   Usage Maximum (0x0FFF) */
    0x75, 0x10,	      /*   Report Size (16) */
    0x95, 0x01,	      /*   Report Count (1) */
    0x81, 0x00,	      /*   Input (Data,Array,Abs): bytes 1..2, usage LE */
    0xC0,	      /* End Collection */
    0x05, 0x01,	      /* Usage Page (Generic Desktop) */
    0x09, 0x80,	      /* Usage (System Control) */
    0xA1, 0x01,	      /* Collection (Application) */
    0x85, 0x02,	      /*   Report ID (2) */
    0x19, 0x81,	      /*   Usage Minimum (System Power Down) */
    0x29, 0x83,	      /*   Usage Maximum (System Wake Up) */
    0x15, 0x00,	      /*   Logical Minimum (0) */
    0x25, 0x01,	      /*   Logical Maximum (1) */
    0x75, 0x01,	      /*   Report Size (1) */
    0x95, 0x03,	      /*   Report Count (3) */
    0x81, 0x02,	      /*   Input (Data,Var,Abs): bits 0..2 power, sleep, wake */
    0x95, 0x05,	      /*   Report Count (5) */
    0x81, 0x01,	      /*   Input (Const): padding bits 3..7 */
    0xC0,	      /* End Collection */
};
const size_t ipkvm_hid_desc_consumer_system_len = sizeof(ipkvm_hid_desc_consumer_system);

void ipkvm_hid_keyboard_init(struct ipkvm_hid_keyboard *kb)
{
	memset(kb, 0, sizeof(*kb));
	/* The idle reports still carry their report IDs. */
	kb->last_consumer[0] = IPKVM_HID_REPORT_ID_CONSUMER;
	kb->last_system[0] = IPKVM_HID_REPORT_ID_SYSTEM;
}

static bool is_key_usage(uint16_t usage)
{
	/* 0x00 none, 0x01..0x03 error codes: not keys. */
	return usage >= 0x04 && usage <= IPKVM_HID_USAGE_MOD_LAST;
}

static bool is_mod_usage(uint16_t usage)
{
	return usage >= IPKVM_HID_USAGE_MOD_FIRST && usage <= IPKVM_HID_USAGE_MOD_LAST;
}

static int system_bit(uint16_t usage)
{
	switch (usage) {
	case IPKVM_HID_USAGE_SYS_POWER:
		return IPKVM_HID_SYS_POWER;
	case IPKVM_HID_USAGE_SYS_SLEEP:
		return IPKVM_HID_SYS_SLEEP;
	case IPKVM_HID_USAGE_SYS_WAKE:
		return IPKVM_HID_SYS_WAKE;
	default:
		return 0;
	}
}

static int find_key(const struct ipkvm_hid_keyboard *kb, uint8_t usage)
{
	for (int i = 0; i < kb->nkeys; i++)
		if (kb->keys[i] == usage)
			return i;
	return -1;
}

static int find_consumer(const struct ipkvm_hid_keyboard *kb, uint16_t usage)
{
	for (int i = 0; i < kb->ncons; i++)
		if (kb->cons[i] == usage)
			return i;
	return -1;
}

static int set_key(struct ipkvm_hid_keyboard *kb, uint16_t page, uint16_t usage, bool down)
{
	int i;

	switch (page) {
	case IPKVM_HID_PAGE_KEYBOARD:
		if (!is_key_usage(usage))
			return -EINVAL;
		if (is_mod_usage(usage)) {
			uint8_t bit = (uint8_t)(1u << (usage - IPKVM_HID_USAGE_MOD_FIRST));
			kb->mods = down ? (uint8_t)(kb->mods | bit) : (uint8_t)(kb->mods & ~bit);
			return 0;
		}
		i = find_key(kb, (uint8_t)usage);
		if (down && i < 0) {
			/* Cannot overflow: each usage below 0xE0 is held at most once. */
			kb->keys[kb->nkeys++] = (uint8_t)usage;
		} else if (!down && i >= 0) {
			memmove(&kb->keys[i], &kb->keys[i + 1], (size_t)(kb->nkeys - i - 1));
			kb->nkeys--;
		}
		return 0;
	case IPKVM_HID_PAGE_CONSUMER:
		if (usage == 0 || usage > IPKVM_HID_CONSUMER_USAGE_MAX)
			return -EINVAL;
		i = find_consumer(kb, usage);
		if (down && i < 0) {
			if (kb->ncons >= IPKVM_HID_CONSUMER_HELD_MAX) {
				LOG_WARN("consumer key 0x%04x: %d consumer keys already held",
					 usage, kb->ncons);
				return -ENOSPC;
			}
			kb->cons[kb->ncons++] = usage;
		} else if (!down && i >= 0) {
			memmove(&kb->cons[i], &kb->cons[i + 1],
				(size_t)(kb->ncons - i - 1) * sizeof(kb->cons[0]));
			kb->ncons--;
		}
		return 0;
	case IPKVM_HID_PAGE_DESKTOP: {
		int bit = system_bit(usage);
		if (!bit)
			return -EINVAL;
		kb->system = down ? (uint8_t)(kb->system | bit) : (uint8_t)(kb->system & ~bit);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int ipkvm_hid_keyboard_press(struct ipkvm_hid_keyboard *kb, uint16_t page, uint16_t usage)
{
	return set_key(kb, page, usage, true);
}

int ipkvm_hid_keyboard_release(struct ipkvm_hid_keyboard *kb, uint16_t page, uint16_t usage)
{
	return set_key(kb, page, usage, false);
}

void ipkvm_hid_keyboard_release_all(struct ipkvm_hid_keyboard *kb)
{
	/* Keep the "last taken" memory: the output must still send the all-released reports. */
	kb->mods = 0;
	kb->nkeys = 0;
	kb->ncons = 0;
	kb->system = 0;
}

bool ipkvm_hid_keyboard_is_pressed(const struct ipkvm_hid_keyboard *kb, uint16_t page,
				   uint16_t usage)
{
	switch (page) {
	case IPKVM_HID_PAGE_KEYBOARD:
		if (!is_key_usage(usage))
			return false;
		if (is_mod_usage(usage))
			return kb->mods & (1u << (usage - IPKVM_HID_USAGE_MOD_FIRST));
		return find_key(kb, (uint8_t)usage) >= 0;
	case IPKVM_HID_PAGE_CONSUMER:
		return usage != 0 && find_consumer(kb, usage) >= 0;
	case IPKVM_HID_PAGE_DESKTOP:
		return system_bit(usage) && (kb->system & system_bit(usage));
	default:
		return false;
	}
}

bool ipkvm_hid_keyboard_any_pressed(const struct ipkvm_hid_keyboard *kb)
{
	return kb->mods || kb->nkeys || kb->ncons || kb->system;
}

/* The builders below compute reports without recording them, so changed() can reuse them. */
static void build_boot(const struct ipkvm_hid_keyboard *kb, uint8_t out[8])
{
	memset(out, 0, 8);
	out[0] = kb->mods;
	if (kb->nkeys > 6) {
		memset(out + 2, IPKVM_HID_USAGE_ERROR_ROLLOVER, 6);
		return;
	}
	memcpy(out + 2, kb->keys, kb->nkeys);
}

static void build_nkro(const struct ipkvm_hid_keyboard *kb, uint8_t out[29])
{
	memset(out, 0, 29);
	out[0] = kb->mods;
	for (int i = 0; i < kb->nkeys; i++)
		out[1 + kb->keys[i] / 8] |= (uint8_t)(1u << (kb->keys[i] % 8));
}

static void build_consumer(const struct ipkvm_hid_keyboard *kb, uint8_t out[3])
{
	/* One usage only: the most recent press wins, the earlier one comes back when it goes. */
	uint16_t u = kb->ncons ? kb->cons[kb->ncons - 1] : 0;
	out[0] = IPKVM_HID_REPORT_ID_CONSUMER;
	out[1] = (uint8_t)(u & 0xFF);
	out[2] = (uint8_t)(u >> 8);
}

static void build_system(const struct ipkvm_hid_keyboard *kb, uint8_t out[2])
{
	out[0] = IPKVM_HID_REPORT_ID_SYSTEM;
	out[1] = kb->system;
}

/* Each report: its builder, where the copy of the last one sent is kept, and its length. */
static const struct {
	void (*build)(const struct ipkvm_hid_keyboard *kb, uint8_t *out);
	size_t last; /* offset in struct ipkvm_hid_keyboard */
	size_t len;
} reports[IPKVM_HID_REPORT_COUNT_] = {
    [IPKVM_HID_REPORT_BOOT] = {build_boot, offsetof(struct ipkvm_hid_keyboard, last_boot),
			       IPKVM_HID_BOOT_REPORT_LEN},
    [IPKVM_HID_REPORT_NKRO] = {build_nkro, offsetof(struct ipkvm_hid_keyboard, last_nkro),
			       IPKVM_HID_NKRO_REPORT_LEN},
    [IPKVM_HID_REPORT_CONSUMER] = {build_consumer,
				   offsetof(struct ipkvm_hid_keyboard, last_consumer),
				   IPKVM_HID_CONSUMER_REPORT_LEN},
    [IPKVM_HID_REPORT_SYSTEM] = {build_system, offsetof(struct ipkvm_hid_keyboard, last_system),
				 IPKVM_HID_SYSTEM_REPORT_LEN},
};

/* Builds report which into out and records it as the last one sent. */
static int take(struct ipkvm_hid_keyboard *kb, enum ipkvm_hid_kbd_report which, uint8_t *out)
{
	reports[which].build(kb, out);
	memcpy((uint8_t *)kb + reports[which].last, out, reports[which].len);
	kb->stale[which] = false;
	return (int)reports[which].len;
}

int ipkvm_hid_keyboard_boot_report(struct ipkvm_hid_keyboard *kb,
				   uint8_t out[IPKVM_HID_BOOT_REPORT_LEN])
{
	return take(kb, IPKVM_HID_REPORT_BOOT, out);
}

int ipkvm_hid_keyboard_nkro_report(struct ipkvm_hid_keyboard *kb,
				   uint8_t out[IPKVM_HID_NKRO_REPORT_LEN])
{
	return take(kb, IPKVM_HID_REPORT_NKRO, out);
}

int ipkvm_hid_keyboard_consumer_report(struct ipkvm_hid_keyboard *kb,
				       uint8_t out[IPKVM_HID_CONSUMER_REPORT_LEN])
{
	return take(kb, IPKVM_HID_REPORT_CONSUMER, out);
}

int ipkvm_hid_keyboard_system_report(struct ipkvm_hid_keyboard *kb,
				     uint8_t out[IPKVM_HID_SYSTEM_REPORT_LEN])
{
	return take(kb, IPKVM_HID_REPORT_SYSTEM, out);
}

bool ipkvm_hid_keyboard_changed(const struct ipkvm_hid_keyboard *kb,
				enum ipkvm_hid_kbd_report which)
{
	uint8_t buf[IPKVM_HID_NKRO_REPORT_LEN];

	if ((unsigned)which >= IPKVM_HID_REPORT_COUNT_)
		return false;
	if (kb->stale[which])
		return true;
	reports[which].build(kb, buf);
	const uint8_t *last = (const uint8_t *)kb + reports[which].last;
	return memcmp(buf, last, reports[which].len) != 0;
}

void ipkvm_hid_keyboard_invalidate(struct ipkvm_hid_keyboard *kb)
{
	for (int i = 0; i < IPKVM_HID_REPORT_COUNT_; i++)
		kb->stale[i] = true;
}

void ipkvm_hid_leds_parse(uint8_t byte, struct ipkvm_hid_leds *leds)
{
	leds->num = byte & 0x01;
	leds->caps = byte & 0x02;
	leds->scroll = byte & 0x04;
	leds->compose = byte & 0x08;
	leds->kana = byte & 0x10;
}
