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
 * themselves, the keypad) map by a fixed table of keysyms to KeyboardEvent.code (the values
 * of the key table's keysym column, and the JIS keys where a JIS keyboard has them). A
 * release releases exactly the key its press pressed, whatever the modifiers did meanwhile.
 * The target's Caps Lock (its LED) is taken into account for letters.
 *
 * The rules, exactly:
 *   - Modifier keysyms press the target's key of the same name (Shift_L ShiftLeft, Control_R
 *     ControlRight, Alt_L and Meta_L AltLeft, Alt_R and Meta_R AltRight, Super_L/R
 *     MetaLeft/Right, ISO_Level3_Shift and Mode_switch AltRight) and are the "client's
 *     modifiers".
 *   - A symbol (Latin-1 keysym, Unicode keysym 0x01000000 | code point, EuroSign, a dead_*
 *     keysym = the layout's dead key for that accent) is typed by the layout's stroke. While
 *     the client holds Control, Alt/Meta or Super (a shortcut), it is pressed by the stroke's
 *     key under the modifiers as held. Otherwise Shift and AltGr are made what the stroke
 *     needs: ShiftLeft/AltRight pressed when needed and not held, the held ones lifted when
 *     not needed; for a letter, the target's Caps Lock flips the Shift it needs. A symbol the
 *     layout types with a dead key gets the dead key pressed and released first.
 *   - After every event the target's modifiers are "the client's modifiers, adjusted for the
 *     most recently pressed key still held": an added Shift stays down while its key is
 *     held and goes when it is released; a lifted one comes back then if the client still
 *     holds it. Order: modifier releases, modifier presses, then the key.
 *   - A press of a keysym already held (auto-repeat), or of another keysym on the same key,
 *     releases the key first (up, down: one character per client press). Modifier repeats do
 *     nothing. A release of a keysym not held releases the key (or modifier) it maps to if
 *     that is held, else does nothing.
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
/* Keysyms (keys and modifiers) one client can hold at once. */
#define IPKVM_KEYSYM_MAX_HELD 32
/* Enough actions for ipkvm_keysym_release_all(): every held key, then every modifier. */
#define IPKVM_KEYSYM_MAX_RELEASE (IPKVM_KEYSYM_MAX_HELD + 8)

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
 * a release of a key not pressed, or of a keysym with no key), -ENOENT for a press when the
 * target's layout has no key for keysym (the caller logs it), -ENOBUFS for a press when
 * IPKVM_KEYSYM_MAX_HELD keysyms are held already, -ENOSPC when max is too small. On an
 * error nothing changed. Any uint32_t keysym is safe. */
int ipkvm_keysym_event(struct ipkvm_keysym_kbd *k, uint32_t keysym, bool down,
		       struct ipkvm_key_action *out, size_t max);
/* The client goes away: releases for every key it holds, then for every modifier down on
 * the target, at most max (IPKVM_KEYSYM_MAX_RELEASE is always enough). Returns the count
 * written; the object is empty afterwards. */
size_t ipkvm_keysym_release_all(struct ipkvm_keysym_kbd *k, struct ipkvm_key_action *out,
				size_t max);

/* The QEMU Extended Key Event's keycode ("qnum") is looked up with ipkvm_key_by_qnum(), in
 * hid/keymap.h (included above) beside the other key-table lookups. */

#endif
