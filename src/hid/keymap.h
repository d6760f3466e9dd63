/*
 * keymap: the key model. One row per physical key, naming it the way each side of ipkvm
 * needs: the browser's KeyboardEvent.code (what the operator's page sends), the USB HID
 * usage (what goes into reports to the target), the Linux evdev code (virtual target,
 * uinput), the X11 keysym and the XT scan code ("qnum", VNC's QEMU Extended Key Event).
 *
 * The table lives in data/keymap.csv and is turned into C at build time by
 * scripts/gen_keymap.py, which also emits the lookup functions below; there is no
 * hand-written keymap.c. The generator validates the CSV (unique codes, unique
 * (page, usage), unique qnum, value ranges, evdev numbers against
 * linux/input-event-codes.h), so the table can be trusted here without run-time checks.
 *
 * Pages: 0x07 keyboard/keypad (boot and NKRO reports), 0x0C consumer (media, volume,
 * browser keys; consumer-control report), 0x01 generic desktop system control (Power
 * 0x81, Sleep 0x82, WakeUp 0x83; system-control report). A code appears once, on the page
 * that hosts act on (e.g. volume keys are on the consumer page, not keyboard 0x7F..0x81).
 * (The IPKVM_HID_PAGE_* names for these pages are in hid/keyboard.h.)
 */
#ifndef IPKVM_HID_KEYMAP_H
#define IPKVM_HID_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keyboard-page modifier usages: LeftControl .. RightGUI. Bit (usage - 0xE0) of the first
 * byte of a boot/NKRO keyboard report. */
#define IPKVM_HID_USAGE_MODIFIER_FIRST 0xE0
#define IPKVM_HID_USAGE_MODIFIER_LAST  0xE7

struct ipkvm_key {
	const char *code;   /* KeyboardEvent.code, e.g. "KeyA", "IntlYen" */
	uint16_t page;	    /* USB HID usage page: 0x01, 0x07 or 0x0C */
	uint16_t usage;	    /* usage id on that page */
	uint16_t evdev;	    /* Linux KEY_* number */
	const char *keysym; /* X11 keysym name (unshifted US meaning), NULL where none */
	uint8_t qnum;	    /* XT set-1 make code, E0-prefixed as 0x80 | code; 0 = none */
};

/* The generated table, sorted by strcmp() order of code, and its length. */
extern const struct ipkvm_key ipkvm_keys[];
extern const size_t ipkvm_keys_count;

/* Entry for a KeyboardEvent.code (exact, case-sensitive), or NULL if unknown or code is
 * NULL. Binary search. */
const struct ipkvm_key *ipkvm_key_by_code(const char *code);

/* Entry for a (page, usage) pair, or NULL if the table has none. Binary search over a
 * generated (page, usage)-sorted index. */
const struct ipkvm_key *ipkvm_key_by_usage(uint16_t page, uint16_t usage);

/* The key of a QEMU Extended Key Event's keycode: an XT (set 1) scancode, with 0xE0-prefixed
 * codes as 0x80 | code ("qnum"). NULL when no key has it (any uint32_t is safe). A direct
 * generated index: no search. */
const struct ipkvm_key *ipkvm_key_by_qnum(uint32_t qnum);

/* Number of entries in ipkvm_keys. */
size_t ipkvm_key_count(void);

/* True for the eight keyboard-page modifiers (usages 0xE0..0xE7); false for NULL. */
bool ipkvm_key_is_modifier(const struct ipkvm_key *k);

/* The key's bit in the report's modifier byte (0x01 ControlLeft .. 0x80 MetaRight), or 0
 * when k is NULL or not a modifier. */
uint8_t ipkvm_key_modifier_bit(const struct ipkvm_key *k);

#endif
