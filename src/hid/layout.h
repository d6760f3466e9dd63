/*
 * layout: turning Unicode text into key strokes for the target computer's keyboard layout.
 *
 * The target's OS interprets USB key usages through its own layout (German QWERTZ, French
 * AZERTY, Japanese JIS...), so "type this text" (POST /api/hid/type) has to know which key
 * and modifiers produce each character there. The tables live in data/layouts/<name>.txt
 * (us, uk, de, fr, jp; format documented in us.txt) and are compiled into layout.c by
 * scripts/gen_layouts.py, so there is nothing to load at run time.
 *
 * A character is typed as one stroke (key + modifiers, e.g. '@' on de = AltGr+KeyQ) or, for
 * characters only reachable through a dead key, two strokes: the dead key, then the base
 * key (de 'é' = Equal, then KeyE) or Space to get the accent itself (de '^' = Backquote,
 * Space). A stroke means: press the modifiers, press the key, release the key, release the
 * modifiers; the caller (paste pacing) turns it into reports.
 *
 * Characters the layout cannot type are never dropped silently: they are reported with
 * their index (counted in Unicode characters of the input) so the API can return
 * {"untyped":[{"index":…,"char":…}]}. Text is not normalised: a decomposed "e" + U+0301 is
 * typed as "e" and the U+0301 reported untyped.
 */
#ifndef IPKVM_HID_LAYOUT_H
#define IPKVM_HID_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* Modifier bits, identical to byte 0 of a boot keyboard report (so they can be OR'ed in
 * directly): ctrl = ControlLeft, shift = ShiftLeft, altgr = AltRight. */
#define IPKVM_LAYOUT_MOD_CTRL  0x01
#define IPKVM_LAYOUT_MOD_SHIFT 0x02
#define IPKVM_LAYOUT_MOD_ALTGR 0x40

struct ipkvm_stroke {
	const char *code; /* KeyboardEvent.code name, static storage ("KeyQ", "IntlRo"...) */
	uint16_t usage;	  /* HID usage on the keyboard page 0x07 (0x04..0x89) */
	uint8_t mods;	  /* IPKVM_LAYOUT_MOD_* held while the key is pressed */
};

struct ipkvm_untyped {
	size_t index; /* position in the input, in Unicode characters (code points) from 0 */
	uint32_t cp;  /* the character */
	char utf8[5]; /* the character as NUL-terminated UTF-8 */
};

struct ipkvm_layout; /* opaque, static storage: never freed */

/* The layout named `name` ("us", "uk", "de", "fr", "jp"; exact, case-sensitive), or NULL. */
const struct ipkvm_layout *ipkvm_layout_find(const char *name);
/* For listing (GET /api/hid): the i-th bundled layout, NULL past the end. */
const struct ipkvm_layout *ipkvm_layout_at(size_t i);
const char *ipkvm_layout_name(const struct ipkvm_layout *l);
const char *ipkvm_layout_description(const struct ipkvm_layout *l);

/*
 * Translates UTF-8 `utf8` (NUL-terminated) into strokes for layout `l`.
 * "\n" and "\r" are Enter, with "\r\n" one Enter (the "\n" is then neither typed nor
 * reported); "\t" is Tab. Every other character with no way to type it on `l` goes to
 * `untyped`. Writes at most `max` strokes to `out` and `umax` entries to `untyped` (either
 * array may be NULL when its max is 0), and always sets *nout / *nuntyped to the number
 * needed, so a call with max 0 sizes the buffers.
 * Returns 0; -EINVAL on invalid UTF-8 (overlong, surrogates, > U+10FFFF, truncated) or NULL
 * l/utf8 (nothing written is meaningful then); -ENOSPC if either array was too small (the
 * counts say how much was needed; the first `max` strokes are valid).
 */
int ipkvm_layout_type(const struct ipkvm_layout *l, const char *utf8, struct ipkvm_stroke *out,
		      size_t max, size_t *nout, struct ipkvm_untyped *untyped, size_t umax,
		      size_t *nuntyped);

/* One character, the way ipkvm_layout_type() types it (keysym input, hid/keysym.c): the
 * strokes for cp on l into out, 1 (one key) or 2 (a dead key, then the base key or Space).
 * Returns that count, or -ENOENT when l cannot type cp (any cp is safe; "\n" is Enter, "\r"
 * is not mapped here). */
int ipkvm_layout_char(const struct ipkvm_layout *l, uint32_t cp, struct ipkvm_stroke out[2]);
/* The dead key for accent (the spacing accent, e.g. U+00B4 on de: Equal) as one stroke.
 * Returns 0, or -ENOENT when l has no such dead key. */
int ipkvm_layout_dead_key(const struct ipkvm_layout *l, uint32_t accent, struct ipkvm_stroke *out);

#endif
