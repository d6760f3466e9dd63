/*
 * keysym: keyboard input by X11 keysym (what VNC's KeyEvent carries) turned into key
 * presses for the target's keyboard layout, one object per client.
 *
 * A VNC client says which symbol a key made on its own keyboard ("A", "@", "yen"), not which
 * key it was. The target's OS reads positions through its own layout, so a symbol is typed
 * with the key and modifiers the target's layout needs (layout.c's tables): a symbol that
 * needs Shift or AltGr on the target gets it for the length of the press, and a Shift the
 * client holds is lifted for a symbol that needs none there (the client's Shift made its "@",
 * the target's "@" may be AltGr+Q). Keys without a symbol (Return, F1, arrows, the modifiers
 * themselves, the keypad) map by the key table's keysym column. A release releases exactly the
 * key its press pressed, whatever the modifiers did meanwhile. The target's Caps Lock (its LED)
 * is taken into account for letters.
 *
 * The object only computes: it returns key actions (KeyboardEvent.code, down/up) for the
 * caller to apply with ipkvm_hid_key() in order. Pure, so the unit tests check every
 * sequence.
 */
#ifndef IPKVM_HID_KEYSYM_H
#define IPKVM_HID_KEYSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hid/keymap.h"
#include "hid/layout.h"

/* Enough actions for any one event (lift modifiers, press modifiers, the key, restore). */
#define IPKVM_KEYSYM_MAX_ACTIONS 12

struct ipkvm_key_action {
	const char *code; /* KeyboardEvent.code, static storage */
	bool down;
};

struct ipkvm_keysym_kbd;

/* For layout l (must outlive it). NULL when out of memory. */
struct ipkvm_keysym_kbd *ipkvm_keysym_kbd_new(const struct ipkvm_layout *l);
void ipkvm_keysym_kbd_free(struct ipkvm_keysym_kbd *k);

/* The target's Caps Lock LED (from the HID's LED state). */
void ipkvm_keysym_set_caps_lock(struct ipkvm_keysym_kbd *k, bool on);

/* A KeyEvent: the actions that make the target see keysym pressed or released, at most max
 * (IPKVM_KEYSYM_MAX_ACTIONS is always enough). Returns their count (0: nothing to do, e.g.
 * a release of a key not pressed), -ENOENT when the target's layout has no key for keysym
 * (the caller logs it), -ENOSPC when max is too small. */
int ipkvm_keysym_event(struct ipkvm_keysym_kbd *k, uint32_t keysym, bool down,
		       struct ipkvm_key_action *out, size_t max);
/* The client goes away: releases for everything it holds, at most max. Returns the count. */
size_t ipkvm_keysym_release_all(struct ipkvm_keysym_kbd *k, struct ipkvm_key_action *out,
				size_t max);

/* The key of a QEMU Extended Key Event's keycode: an XT (set 1) scancode, with 0xE0-prefixed
 * codes as 0x80 | code ("qnum"). NULL when no key has it. */
const struct ipkvm_key *ipkvm_key_by_qnum(uint32_t qnum);

#endif
