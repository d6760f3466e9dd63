/*
 * keysym: X11 keysyms (VNC KeyEvent) -> key actions for the target's layout (see keysym.h for
 * the rules).
 *
 * Why it is shaped so:
 *   - A keysym is one of three things: a modifier (Shift_L, ISO_Level3_Shift...), a key
 *     without a symbol (Return, F1, KP_1, Henkan...: fixed tables below, by keysym value), or
 *     a symbol (a character, or a dead accent), typed by the target's layout tables
 *     (layout.c). Only symbols get modifiers added or lifted; the other two are pressed as
 *     they are, under the modifiers the client holds.
 *   - The target's modifier keys are never toggled ad hoc: after every event they are brought
 *     to one computed state, "what the client holds, adjusted for the most recent key still
 *     held" (each held key remembers which modifiers it added and lifted). That one rule gives
 *     the put-back-only-if-still-held behaviour, survives overlapping keys, auto-repeat and
 *     modifier changes in the middle of a press, and nothing can stay stuck: with no key
 *     held, the target holds exactly the client's modifiers.
 *   - An event is computed on a copy of the state and committed only when its actions fit
 *     the caller's array, so -ENOSPC (or a full table) changes nothing.
 *   - The keysym tables hold only what a client sends and a bundled layout or the key table
 *     can do something with: Latin-1 and Unicode keysyms are code points by definition; the
 *     only other legacy keysym whose character a bundled layout types is EuroSign.
 */
#include "hid/keysym.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Modifier bits: byte 0 of a boot keyboard report, which is also what IPKVM_LAYOUT_MOD_*
 * use (ctrl = ControlLeft, shift = ShiftLeft, altgr = AltRight). */
#define M_CTRL_L  0x01
#define M_SHIFT_L 0x02
#define M_ALT_L	  0x04
#define M_META_L  0x08
#define M_CTRL_R  0x10
#define M_SHIFT_R 0x20
#define M_ALT_R	  0x40
#define M_META_R  0x80
#define M_SHIFT	  (M_SHIFT_L | M_SHIFT_R)
#define M_CTRL	  (M_CTRL_L | M_CTRL_R)

/* KeyboardEvent.code of each modifier bit, in bit order. */
static const char *const mod_codes[8] = {"ControlLeft",	 "ShiftLeft",  "AltLeft",  "MetaLeft",
					 "ControlRight", "ShiftRight", "AltRight", "MetaRight"};

/* Modifier keysyms. `shortcut`: a client holding it is typing a shortcut (Ctrl+Shift+T), so
 * symbols are pressed by their key under the modifiers as held; Shift and AltGr (the
 * ISO_Level3_Shift / Mode_switch keysyms) only select symbols, so they are adjusted. */
struct ks_mod {
	uint32_t keysym;
	uint8_t bit;
	bool shortcut;
};

static const struct ks_mod mods[] = {
    {0xfe03, M_ALT_R, false},	/* ISO_Level3_Shift (AltGr) */
    {0xff7e, M_ALT_R, false},	/* Mode_switch */
    {0xffe1, M_SHIFT_L, false}, /* Shift_L */
    {0xffe2, M_SHIFT_R, false}, /* Shift_R */
    {0xffe3, M_CTRL_L, true},	/* Control_L */
    {0xffe4, M_CTRL_R, true},	/* Control_R */
    {0xffe7, M_ALT_L, true},	/* Meta_L: X11 puts Meta on the Alt keys */
    {0xffe8, M_ALT_R, true},	/* Meta_R */
    {0xffe9, M_ALT_L, true},	/* Alt_L */
    {0xffea, M_ALT_R, true},	/* Alt_R */
    {0xffeb, M_META_L, true},	/* Super_L (the Windows/Command key) */
    {0xffec, M_META_R, true},	/* Super_R */
};

/* Keys without a symbol, sorted by keysym. The keypad's Num-Lock-off keysyms (KP_Home...)
 * mean the navigation keys, so they press those: the target's Num Lock cannot turn them
 * into digits. The JIS keys are where a JIS 106/109 keyboard has them: Zenkaku_Hankaku is
 * the key at Backquote's position, Eisu_toggle the Caps Lock key. */
struct ks_key {
	uint32_t keysym;
	const char *code;
};

static const struct ks_key keys[] = {
    {0xfe20, "Tab"},			/* ISO_Left_Tab (what Shift+Tab sends) */
    {0xff08, "Backspace"},		/* BackSpace */
    {0xff09, "Tab"},			/* Tab */
    {0xff0d, "Enter"},			/* Return */
    {0xff13, "Pause"},			/* Pause */
    {0xff14, "ScrollLock"},		/* Scroll_Lock */
    {0xff15, "PrintScreen"},		/* Sys_Req */
    {0xff1b, "Escape"},			/* Escape */
    {0xff22, "NonConvert"},		/* Muhenkan */
    {0xff23, "Convert"},		/* Henkan_Mode */
    {0xff25, "Lang4"},			/* Hiragana */
    {0xff26, "Lang3"},			/* Katakana */
    {0xff27, "KanaMode"},		/* Hiragana_Katakana */
    {0xff2a, "Backquote"},		/* Zenkaku_Hankaku */
    {0xff2d, "KanaMode"},		/* Kana_Lock */
    {0xff2e, "KanaMode"},		/* Kana_Shift */
    {0xff2f, "CapsLock"},		/* Eisu_Shift */
    {0xff30, "CapsLock"},		/* Eisu_toggle */
    {0xff31, "Lang1"},			/* Hangul */
    {0xff34, "Lang2"},			/* Hangul_Hanja */
    {0xff50, "Home"},			/* Home */
    {0xff51, "ArrowLeft"},		/* Left */
    {0xff52, "ArrowUp"},		/* Up */
    {0xff53, "ArrowRight"},		/* Right */
    {0xff54, "ArrowDown"},		/* Down */
    {0xff55, "PageUp"},			/* Prior */
    {0xff56, "PageDown"},		/* Next */
    {0xff57, "End"},			/* End */
    {0xff60, "Select"},			/* Select */
    {0xff61, "PrintScreen"},		/* Print */
    {0xff63, "Insert"},			/* Insert */
    {0xff65, "Undo"},			/* Undo */
    {0xff66, "Again"},			/* Redo */
    {0xff67, "ContextMenu"},		/* Menu */
    {0xff68, "Find"},			/* Find */
    {0xff6a, "Help"},			/* Help */
    {0xff6b, "Pause"},			/* Break */
    {0xff7f, "NumLock"},		/* Num_Lock */
    {0xff8d, "NumpadEnter"},		/* KP_Enter */
    {0xff95, "Home"},			/* KP_Home */
    {0xff96, "ArrowLeft"},		/* KP_Left */
    {0xff97, "ArrowUp"},		/* KP_Up */
    {0xff98, "ArrowRight"},		/* KP_Right */
    {0xff99, "ArrowDown"},		/* KP_Down */
    {0xff9a, "PageUp"},			/* KP_Prior */
    {0xff9b, "PageDown"},		/* KP_Next */
    {0xff9c, "End"},			/* KP_End */
    {0xff9e, "Insert"},			/* KP_Insert */
    {0xff9f, "Delete"},			/* KP_Delete */
    {0xffaa, "NumpadMultiply"},		/* KP_Multiply */
    {0xffab, "NumpadAdd"},		/* KP_Add */
    {0xffac, "NumpadComma"},		/* KP_Separator */
    {0xffad, "NumpadSubtract"},		/* KP_Subtract */
    {0xffae, "NumpadDecimal"},		/* KP_Decimal */
    {0xffaf, "NumpadDivide"},		/* KP_Divide */
    {0xffb0, "Numpad0"},		/* KP_0 */
    {0xffb1, "Numpad1"},		/* KP_1 */
    {0xffb2, "Numpad2"},		/* KP_2 */
    {0xffb3, "Numpad3"},		/* KP_3 */
    {0xffb4, "Numpad4"},		/* KP_4 */
    {0xffb5, "Numpad5"},		/* KP_5 */
    {0xffb6, "Numpad6"},		/* KP_6 */
    {0xffb7, "Numpad7"},		/* KP_7 */
    {0xffb8, "Numpad8"},		/* KP_8 */
    {0xffb9, "Numpad9"},		/* KP_9 */
    {0xffbd, "NumpadEqual"},		/* KP_Equal */
    {0xffe5, "CapsLock"},		/* Caps_Lock */
    {0xffff, "Delete"},			/* Delete */
    {0x1008ff02, "BrightnessUp"},	/* XF86MonBrightnessUp */
    {0x1008ff03, "BrightnessDown"},	/* XF86MonBrightnessDown */
    {0x1008ff11, "AudioVolumeDown"},	/* XF86AudioLowerVolume */
    {0x1008ff12, "AudioVolumeMute"},	/* XF86AudioMute */
    {0x1008ff13, "AudioVolumeUp"},	/* XF86AudioRaiseVolume */
    {0x1008ff14, "MediaPlayPause"},	/* XF86AudioPlay */
    {0x1008ff15, "MediaStop"},		/* XF86AudioStop */
    {0x1008ff16, "MediaTrackPrevious"}, /* XF86AudioPrev */
    {0x1008ff17, "MediaTrackNext"},	/* XF86AudioNext */
    {0x1008ff18, "BrowserHome"},	/* XF86HomePage */
    {0x1008ff19, "LaunchMail"},		/* XF86Mail */
    {0x1008ff1b, "BrowserSearch"},	/* XF86Search */
    {0x1008ff1c, "MediaRecord"},	/* XF86AudioRecord */
    {0x1008ff1d, "LaunchApp2"},		/* XF86Calculator */
    {0x1008ff26, "BrowserBack"},	/* XF86Back */
    {0x1008ff27, "BrowserForward"},	/* XF86Forward */
    {0x1008ff28, "BrowserStop"},	/* XF86Stop */
    {0x1008ff29, "BrowserRefresh"},	/* XF86Refresh */
    {0x1008ff2a, "Power"},		/* XF86PowerOff */
    {0x1008ff2b, "WakeUp"},		/* XF86WakeUp */
    {0x1008ff2c, "Eject"},		/* XF86Eject */
    {0x1008ff2f, "Sleep"},		/* XF86Sleep */
    {0x1008ff30, "BrowserFavorites"},	/* XF86Favorites */
    {0x1008ff31, "MediaPlayPause"},	/* XF86AudioPause */
    {0x1008ff33, "LaunchApp1"},		/* XF86MyComputer */
    {0x1008ff3e, "MediaRewind"},	/* XF86AudioRewind */
    {0x1008ff57, "Copy"},		/* XF86Copy */
    {0x1008ff58, "Cut"},		/* XF86Cut */
    {0x1008ff6b, "Open"},		/* XF86Open */
    {0x1008ff6d, "Paste"},		/* XF86Paste */
    {0x1008ff73, "BrowserRefresh"},	/* XF86Reload */
    {0x1008ff81, "MediaSelect"},	/* XF86Tools */
    {0x1008ff97, "MediaFastForward"},	/* XF86AudioForward */
};

/* F1..F24 are 0xffbe..0xffd5 in order. */
#define KS_F1  0xffbe
#define KS_F24 0xffd5

/* Dead-key keysyms -> the spacing accent a layout's `dead` line names. */
static const struct {
	uint32_t keysym, accent;
} deads[] = {
    {0xfe50, 0x0060}, /* dead_grave */
    {0xfe51, 0x00b4}, /* dead_acute */
    {0xfe52, 0x005e}, /* dead_circumflex */
    {0xfe53, 0x007e}, /* dead_tilde */
    {0xfe57, 0x00a8}, /* dead_diaeresis */
};

/* Legacy (pre-Unicode) keysyms outside Latin-1 -> code point, for the characters a bundled
 * layout types (data/layouts/: everything else there is Latin-1). */
static const struct {
	uint32_t keysym, cp;
} legacy[] = {
    {0x20ac, 0x20ac}, /* EuroSign */
};

#define KS_UNICODE 0x01000000u
#define KS_YEN	   0xa5

/* A held keysym. Modifiers (bit != 0) feed the client's modifier state; keys remember the
 * key they pressed and which modifier bits their press added and lifted. */
struct ks_held {
	uint32_t keysym;
	const char *code;
	uint8_t bit;	   /* modifier entries: its bit */
	bool shortcut;	   /* modifier entries: see struct ks_mod */
	uint8_t add, lift; /* key entries */
	uint64_t seq;	   /* press order */
};

struct ks_state {
	bool caps;
	uint8_t target; /* modifier bits pressed on the target */
	uint64_t seq;
	size_t nheld;
	struct ks_held held[IPKVM_KEYSYM_MAX_HELD];
};

struct ipkvm_keysym_kbd {
	const struct ipkvm_layout *layout;
	struct ks_state st;
};

/* The actions of one event, built before they are handed out. Twice the largest event. */
struct ks_out {
	struct ipkvm_key_action a[2 * IPKVM_KEYSYM_MAX_ACTIONS];
	size_t n;
	bool overflow;
};

static void emit(struct ks_out *o, const char *code, bool down)
{
	if (o->n >= sizeof(o->a) / sizeof(o->a[0])) {
		o->overflow = true;
		return;
	}
	o->a[o->n].code = code;
	o->a[o->n].down = down;
	o->n++;
}

struct ipkvm_keysym_kbd *ipkvm_keysym_kbd_new(const struct ipkvm_layout *l)
{
	struct ipkvm_keysym_kbd *k;

	if (!l)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->layout = l;
	return k;
}

void ipkvm_keysym_kbd_free(struct ipkvm_keysym_kbd *k)
{
	free(k);
}

void ipkvm_keysym_set_caps_lock(struct ipkvm_keysym_kbd *k, bool on)
{
	k->st.caps = on;
}

/* What a keysym is to us. */
enum ks_kind { KS_NONE, KS_MOD, KS_KEY, KS_SYMBOL };

struct ks_what {
	enum ks_kind kind;
	const struct ks_mod *mod; /* KS_MOD */
	const char *code;	  /* KS_KEY, and KS_SYMBOL: the key that is held */
	struct ipkvm_stroke s[2]; /* KS_SYMBOL: strokes, the last one held */
	int ns;
	bool letter; /* KS_SYMBOL: Caps Lock applies */
};

static const char *fixed_key(uint32_t keysym)
{
	size_t lo = 0, hi = sizeof(keys) / sizeof(keys[0]);
	static const char *const fkeys[24] = {
	    "F1",  "F2",  "F3",	 "F4",	"F5",  "F6",  "F7",  "F8",  "F9",  "F10", "F11", "F12",
	    "F13", "F14", "F15", "F16", "F17", "F18", "F19", "F20", "F21", "F22", "F23", "F24"};

	if (keysym >= KS_F1 && keysym <= KS_F24)
		return fkeys[keysym - KS_F1];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (keys[mid].keysym == keysym)
			return keys[mid].code;
		if (keys[mid].keysym < keysym)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The character of a symbol keysym, 0 for none. */
static uint32_t keysym_char(uint32_t keysym)
{
	if ((keysym >= 0x20 && keysym <= 0x7e) || (keysym >= 0xa0 && keysym <= 0xff))
		return keysym;
	if (keysym >= KS_UNICODE + 0x20 && keysym <= KS_UNICODE + 0x10ffff) {
		uint32_t cp = keysym - KS_UNICODE;
		if ((cp >= 0x7f && cp < 0xa0) || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		return cp;
	}
	for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
		if (legacy[i].keysym == keysym)
			return legacy[i].cp;
	return 0;
}

/* The other case of a Latin-1 letter (which is what the layouts have), 0 for none. */
static uint32_t other_case(uint32_t cp)
{
	if (cp >= 'a' && cp <= 'z')
		return cp - 0x20;
	if (cp >= 'A' && cp <= 'Z')
		return cp + 0x20;
	if (cp >= 0xe0 && cp <= 0xfe && cp != 0xf7)
		return cp - 0x20;
	if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
		return cp + 0x20;
	if (cp == 0xff)
		return 0x178;
	if (cp == 0x178)
		return 0xff;
	return 0;
}

/* A letter for Caps Lock: its other case is typed the same way except for the Shift of the
 * last stroke (a, A on KeyA; ü, Ü on de's BracketLeft; de é, É: dead ´, then E). */
static bool is_letter(const struct ipkvm_layout *l, uint32_t cp, const struct ipkvm_stroke *s,
		      int ns)
{
	struct ipkvm_stroke o[2];
	uint32_t oc = other_case(cp);
	const struct ipkvm_stroke *a = &s[ns - 1], *b = &o[ns - 1];

	if (!oc || ipkvm_layout_char(l, oc, o) != ns)
		return false;
	if (ns == 2 && (strcmp(o[0].code, s[0].code) != 0 || o[0].mods != s[0].mods))
		return false;
	return strcmp(a->code, b->code) == 0 &&
	       (a->mods & ~IPKVM_LAYOUT_MOD_SHIFT) == (b->mods & ~IPKVM_LAYOUT_MOD_SHIFT) &&
	       (a->mods & IPKVM_LAYOUT_MOD_SHIFT) != (b->mods & IPKVM_LAYOUT_MOD_SHIFT);
}

static void classify(const struct ipkvm_layout *l, uint32_t keysym, struct ks_what *w)
{
	uint32_t cp;

	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		if (mods[i].keysym == keysym) {
			w->kind = KS_MOD;
			w->mod = &mods[i];
			w->code = NULL;
			for (int b = 0; b < 8; b++)
				if (mods[i].bit == 1u << b)
					w->code = mod_codes[b];
			return;
		}
	}
	w->code = fixed_key(keysym);
	if (w->code) {
		w->kind = KS_KEY;
		return;
	}
	for (size_t i = 0; i < sizeof(deads) / sizeof(deads[0]); i++) {
		if (deads[i].keysym == keysym) {
			if (ipkvm_layout_dead_key(l, deads[i].accent, &w->s[0]) == 0) {
				w->kind = KS_SYMBOL;
				w->ns = 1;
				w->code = w->s[0].code;
			}
			return;
		}
	}
	cp = keysym_char(keysym);
	if (!cp)
		return;
	w->ns = ipkvm_layout_char(l, cp, w->s);
	if (w->ns <= 0 && cp == KS_YEN) {
		/* A JIS keyboard's Yen key (IntlYen, Shift gives |) has a ¥ keycap: a Japanese
		 * client reports it as yen even though the target's table types \ with it. */
		struct ipkvm_stroke bar[2];
		if (ipkvm_layout_char(l, '|', bar) == 1 && strcmp(bar[0].code, "IntlYen") == 0) {
			w->s[0] = bar[0];
			w->s[0].mods = 0;
			w->ns = 1;
		}
	}
	if (w->ns <= 0) {
		w->ns = 0;
		return;
	}
	w->kind = KS_SYMBOL;
	w->code = w->s[w->ns - 1].code;
	w->letter = is_letter(l, cp, w->s, w->ns);
}

/* The modifiers the client holds, and whether any of them makes a shortcut. */
static uint8_t client_mods(const struct ks_state *st, bool *shortcut)
{
	uint8_t m = 0;

	if (shortcut)
		*shortcut = false;
	for (size_t i = 0; i < st->nheld; i++) {
		if (!st->held[i].bit)
			continue;
		m |= st->held[i].bit;
		if (shortcut && st->held[i].shortcut)
			*shortcut = true;
	}
	return m;
}

/* The modifier state the target should have: the client's, adjusted for the most recently
 * pressed key still held. */
static uint8_t desired(const struct ks_state *st)
{
	const struct ks_held *latest = NULL;
	uint8_t m = client_mods(st, NULL);

	for (size_t i = 0; i < st->nheld; i++)
		if (!st->held[i].bit && (!latest || st->held[i].seq > latest->seq))
			latest = &st->held[i];
	if (latest)
		m = (uint8_t)((m & ~latest->lift) | latest->add);
	return m;
}

/* Brings the target's modifiers to `want`: releases first, then presses. */
static void sync_to(struct ks_state *st, uint8_t want, struct ks_out *o)
{
	for (int b = 0; b < 8; b++)
		if ((st->target & ~want) & (1u << b))
			emit(o, mod_codes[b], false);
	for (int b = 0; b < 8; b++)
		if ((want & ~st->target) & (1u << b))
			emit(o, mod_codes[b], true);
	st->target = want;
}

/* Which modifiers a stroke adds to, and lifts from, the client's (`held`). */
static void adjust(uint8_t held, const struct ipkvm_stroke *s, bool letter, bool caps, uint8_t *add,
		   uint8_t *lift)
{
	bool shift = (s->mods & IPKVM_LAYOUT_MOD_SHIFT) != 0;
	bool altgr = (s->mods & IPKVM_LAYOUT_MOD_ALTGR) != 0;

	*add = *lift = 0;
	if (letter && caps)
		shift = !shift; /* Caps Lock already gives the other case */
	if (shift && !(held & M_SHIFT))
		*add |= M_SHIFT_L;
	else if (!shift && (held & M_SHIFT))
		*lift |= held & M_SHIFT;
	if (altgr && !(held & M_ALT_R))
		*add |= M_ALT_R;
	else if (!altgr && (held & M_ALT_R))
		*lift |= M_ALT_R;
	if ((s->mods & IPKVM_LAYOUT_MOD_CTRL) && !(held & M_CTRL))
		*add |= M_CTRL_L;
}

static struct ks_held *find_keysym(struct ks_state *st, uint32_t keysym)
{
	for (size_t i = 0; i < st->nheld; i++)
		if (st->held[i].keysym == keysym)
			return &st->held[i];
	return NULL;
}

/* The held key entry that pressed `code` (keys only: modifiers are matched by bit). */
static struct ks_held *find_code(struct ks_state *st, const char *code)
{
	for (size_t i = 0; i < st->nheld; i++)
		if (!st->held[i].bit && strcmp(st->held[i].code, code) == 0)
			return &st->held[i];
	return NULL;
}

static struct ks_held *find_bit(struct ks_state *st, uint8_t bit)
{
	for (size_t i = 0; i < st->nheld; i++)
		if (st->held[i].bit == bit)
			return &st->held[i];
	return NULL;
}

static void drop(struct ks_state *st, struct ks_held *e)
{
	size_t i = (size_t)(e - st->held);

	memmove(&st->held[i], &st->held[i + 1], (st->nheld - i - 1) * sizeof(st->held[0]));
	st->nheld--;
}

static int press(struct ks_state *st, uint32_t keysym, const struct ks_what *w, struct ks_out *o)
{
	struct ks_held *old = find_keysym(st, keysym);
	struct ks_held e = {.keysym = keysym, .code = w->code};
	bool shortcut;
	uint8_t held;

	if (w->kind == KS_MOD) {
		if (old)
			return 0; /* a repeat: already held */
		if (st->nheld == IPKVM_KEYSYM_MAX_HELD)
			return -ENOBUFS;
		e.bit = w->mod->bit;
		e.shortcut = w->mod->shortcut;
		e.seq = ++st->seq;
		st->held[st->nheld++] = e;
		sync_to(st, desired(st), o);
		return 0;
	}
	/* A repeat, or another keysym on the same key ('a' then 'A'): release it first, so
	 * the target sees one key press per client press and nothing is pressed twice. */
	if (!old)
		old = find_code(st, w->code);
	if (old) {
		emit(o, old->code, false);
		drop(st, old);
	} else if (st->nheld == IPKVM_KEYSYM_MAX_HELD) {
		return -ENOBUFS;
	}
	held = client_mods(st, &shortcut);
	if (w->kind == KS_SYMBOL) {
		const struct ipkvm_stroke *last = &w->s[w->ns - 1];
		if (shortcut) {
			/* Modifiers as held, by the symbol's key; for an accent typed as dead
			 * key + Space, that is the dead key. */
			if (w->ns == 2 && strcmp(last->code, "Space") == 0)
				e.code = w->s[0].code;
		} else {
			if (w->ns == 2) {
				uint8_t add, lift;
				adjust(held, &w->s[0], false, st->caps, &add, &lift);
				sync_to(st, (uint8_t)((held & ~lift) | add), o);
				emit(o, w->s[0].code, true);
				emit(o, w->s[0].code, false);
			}
			adjust(held, last, w->letter, st->caps, &e.add, &e.lift);
		}
	}
	/* The same key may now be pressed through a different entry only if a shortcut
	 * turned an accent into its dead key: that key's holder is released too. */
	if (e.code != w->code) {
		struct ks_held *dup = find_code(st, e.code);
		if (dup) {
			emit(o, dup->code, false);
			drop(st, dup);
		}
	}
	e.seq = ++st->seq;
	st->held[st->nheld++] = e;
	sync_to(st, desired(st), o);
	emit(o, e.code, true);
	return 0;
}

static int release(struct ks_state *st, uint32_t keysym, const struct ks_what *w, struct ks_out *o)
{
	struct ks_held *e = find_keysym(st, keysym);

	/* Some clients release with the keysym of the modifiers at release time ('1' for a
	 * '!' pressed with Shift, Meta_L for Alt_L): then the key or modifier it names. */
	if (!e && w->kind == KS_MOD)
		e = find_bit(st, w->mod->bit);
	else if (!e && w->code)
		e = find_code(st, w->code);
	if (!e)
		return 0;
	if (!e->bit)
		emit(o, e->code, false);
	drop(st, e);
	sync_to(st, desired(st), o);
	return 0;
}

int ipkvm_keysym_event(struct ipkvm_keysym_kbd *k, uint32_t keysym, bool down,
		       struct ipkvm_key_action *out, size_t max)
{
	struct ks_state st = k->st;
	struct ks_out o = {.n = 0};
	struct ks_what w;
	int ret;

	classify(k->layout, keysym, &w);
	if (w.kind == KS_NONE) {
		/* A release of something we never pressed needs nothing either. */
		return down ? -ENOENT : 0;
	}
	ret = down ? press(&st, keysym, &w, &o) : release(&st, keysym, &w, &o);
	if (ret < 0)
		return ret;
	if (o.overflow || o.n > max)
		return -ENOSPC;
	if (o.n)
		memcpy(out, o.a, o.n * sizeof(o.a[0]));
	k->st = st;
	return (int)o.n;
}

size_t ipkvm_keysym_release_all(struct ipkvm_keysym_kbd *k, struct ipkvm_key_action *out,
				size_t max)
{
	struct ks_state *st = &k->st;
	size_t n = 0;

	for (size_t i = 0; i < st->nheld; i++) {
		if (st->held[i].bit)
			continue;
		if (n < max) {
			out[n].code = st->held[i].code;
			out[n].down = false;
		}
		n++;
	}
	for (int b = 0; b < 8; b++) {
		if (!(st->target & (1u << b)))
			continue;
		if (n < max) {
			out[n].code = mod_codes[b];
			out[n].down = false;
		}
		n++;
	}
	st->nheld = 0;
	st->target = 0;
	return n < max ? n : max;
}
