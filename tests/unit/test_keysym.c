/*
 * test_keysym: keysym input for the target's layout (hid/keysym.c). Every case is checked as
 * the exact action sequence ("+ShiftLeft +KeyA" = ShiftLeft down, KeyA down): symbols with
 * and without the client's Shift on us/uk/de/fr/jp targets, Shift lifted and AltGr added
 * (US "@" to de), the JIS keys, dead keys, Caps Lock, shortcuts, AltGr as ISO_Level3_Shift,
 * the keys without a symbol, releases after modifier changes, auto-repeat, release_all, the
 * error returns, every character of every bundled layout against the layout's own strokes,
 * and the whole uint32 keysym space against the invariant "nothing stays pressed".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hid/keysym.h"
#include "hid/layout.h"

/* Keysyms used below (X11 keysymdef values). */
#define XK_BackSpace	     0xff08
#define XK_Tab		     0xff09
#define XK_Return	     0xff0d
#define XK_Pause	     0xff13
#define XK_Scroll_Lock	     0xff14
#define XK_Escape	     0xff1b
#define XK_Muhenkan	     0xff22
#define XK_Henkan_Mode	     0xff23
#define XK_Hiragana_Katakana 0xff27
#define XK_Zenkaku_Hankaku   0xff2a
#define XK_Eisu_toggle	     0xff30
#define XK_Home		     0xff50
#define XK_Left		     0xff51
#define XK_Up		     0xff52
#define XK_Right	     0xff53
#define XK_Down		     0xff54
#define XK_Prior	     0xff55
#define XK_Next		     0xff56
#define XK_End		     0xff57
#define XK_Print	     0xff61
#define XK_Insert	     0xff63
#define XK_Menu		     0xff67
#define XK_Mode_switch	     0xff7e
#define XK_Num_Lock	     0xff7f
#define XK_KP_Enter	     0xff8d
#define XK_KP_Home	     0xff95
#define XK_KP_Add	     0xffab
#define XK_KP_Decimal	     0xffae
#define XK_KP_0		     0xffb0
#define XK_KP_1		     0xffb1
#define XK_KP_9		     0xffb9
#define XK_F1		     0xffbe
#define XK_F4		     0xffc1
#define XK_F12		     0xffc9
#define XK_F13		     0xffca
#define XK_F24		     0xffd5
#define XK_Shift_L	     0xffe1
#define XK_Shift_R	     0xffe2
#define XK_Control_L	     0xffe3
#define XK_Caps_Lock	     0xffe5
#define XK_Meta_L	     0xffe7
#define XK_Alt_L	     0xffe9
#define XK_Alt_R	     0xffea
#define XK_Super_L	     0xffeb
#define XK_Delete	     0xffff
#define XK_ISO_Level3_Shift  0xfe03
#define XK_ISO_Left_Tab	     0xfe20
#define XK_dead_grave	     0xfe50
#define XK_dead_acute	     0xfe51
#define XK_dead_circumflex   0xfe52
#define XK_dead_tilde	     0xfe53
#define XK_dead_diaeresis    0xfe57
#define XK_EuroSign	     0x20ac
#define XK_yen		     0x00a5
#define XK_eacute	     0x00e9
#define XK_Eacute	     0x00c9
#define XK_kana_A	     0x04b1
#define XF86XK_AudioMute     0x1008ff12
#define XF86XK_AudioForward  0x1008ff97
#define UNI(cp)		     (0x01000000u | (cp))

static struct ipkvm_keysym_kbd *kbd(const char *layout)
{
	const struct ipkvm_layout *l = ipkvm_layout_find(layout);
	struct ipkvm_keysym_kbd *k;

	assert_non_null(l);
	k = ipkvm_keysym_kbd_new(l);
	assert_non_null(k);
	return k;
}

/* "+Code -Code ..." for n actions. */
static void fmt(const struct ipkvm_key_action *a, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%c%s", i ? " " : "",
				      a[i].down ? '+' : '-', a[i].code);
}

/* One event; its actions must be exactly `want`. */
static void ev(struct ipkvm_keysym_kbd *k, uint32_t keysym, bool down, const char *want)
{
	struct ipkvm_key_action a[IPKVM_KEYSYM_MAX_ACTIONS];
	char got[512];
	int n = ipkvm_keysym_event(k, keysym, down, a, IPKVM_KEYSYM_MAX_ACTIONS);

	if (n < 0)
		fail_msg("keysym 0x%x %s: error %d, want \"%s\"", keysym, down ? "down" : "up", n,
			 want);
	fmt(a, (size_t)n, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("keysym 0x%x %s: got \"%s\", want \"%s\"", keysym, down ? "down" : "up",
			 got, want);
}

#define DOWN(k, ks, want) ev(k, ks, true, want)
#define UP(k, ks, want)	  ev(k, ks, false, want)

/* Press and release; the actions of each. */
static void tap(struct ipkvm_keysym_kbd *k, uint32_t keysym, const char *down, const char *up)
{
	DOWN(k, keysym, down);
	UP(k, keysym, up);
}

/* Nothing may be left pressed. */
static void assert_idle(struct ipkvm_keysym_kbd *k)
{
	struct ipkvm_key_action a[IPKVM_KEYSYM_MAX_RELEASE];
	char got[512];
	size_t n = ipkvm_keysym_release_all(k, a, IPKVM_KEYSYM_MAX_RELEASE);

	fmt(a, n, got, sizeof(got));
	if (n)
		fail_msg("left pressed: %s", got);
}

static void test_letter_with_and_without_shift(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("us");

	(void)state;
	tap(k, 'a', "+KeyA", "-KeyA");
	/* "A" from a client that does not hold Shift (its own Caps Lock): Shift added. */
	tap(k, 'A', "+ShiftLeft +KeyA", "-KeyA -ShiftLeft");
	/* ... and from one that does: the client's Shift does it. */
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	tap(k, 'A', "+KeyA", "-KeyA");
	/* a lower-case letter while the client holds Shift (Shift + its Caps Lock): lifted,
	 * and back afterwards because it is still held */
	tap(k, 'a', "-ShiftLeft +KeyA", "-KeyA +ShiftLeft");
	UP(k, XK_Shift_L, "-ShiftLeft");
	/* Shift_R lifted the same way */
	DOWN(k, XK_Shift_R, "+ShiftRight");
	tap(k, '1', "-ShiftRight +Digit1", "-Digit1 +ShiftRight");
	tap(k, '!', "+Digit1", "-Digit1");
	UP(k, XK_Shift_R, "-ShiftRight");
	assert_idle(k);
	/* the same letters on the other layouts: de and fr move Y/Z and A/Q */
	ipkvm_keysym_kbd_free(k);
	k = kbd("de");
	tap(k, 'z', "+KeyY", "-KeyY");
	tap(k, 'Y', "+ShiftLeft +KeyZ", "-KeyZ -ShiftLeft");
	ipkvm_keysym_kbd_free(k);
	k = kbd("fr");
	tap(k, 'a', "+KeyQ", "-KeyQ");
	tap(k, 'Q', "+ShiftLeft +KeyA", "-KeyA -ShiftLeft");
	/* fr digits need Shift */
	tap(k, '1', "+ShiftLeft +Digit1", "-Digit1 -ShiftLeft");
	ipkvm_keysym_kbd_free(k);
	k = kbd("uk");
	tap(k, 'A', "+ShiftLeft +KeyA", "-KeyA -ShiftLeft");
	ipkvm_keysym_kbd_free(k);
}

static void test_us_client_at_to_de(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("de");

	(void)state;
	/* A US client types "@" as Shift+2: the de target needs AltGr+Q and no Shift. */
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	DOWN(k, '@', "-ShiftLeft +AltRight +KeyQ");
	UP(k, '@', "-KeyQ -AltRight +ShiftLeft");
	UP(k, XK_Shift_L, "-ShiftLeft");
	/* Shift let go before the key: it is not put back */
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	DOWN(k, '@', "-ShiftLeft +AltRight +KeyQ");
	UP(k, XK_Shift_L, "");
	UP(k, '@', "-KeyQ -AltRight");
	/* other US-shifted symbols on de */
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	tap(k, '"', "+Digit2", "-Digit2");
	tap(k, '(', "+Digit8", "-Digit8");
	tap(k, '{', "-ShiftLeft +AltRight +Digit7", "-Digit7 -AltRight +ShiftLeft");
	tap(k, '#', "-ShiftLeft +Backslash", "-Backslash +ShiftLeft");
	tap(k, '+', "-ShiftLeft +BracketRight", "-BracketRight +ShiftLeft");
	UP(k, XK_Shift_L, "-ShiftLeft");
	tap(k, '*', "+ShiftLeft +BracketRight", "-BracketRight -ShiftLeft");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
}

static void test_jp(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("jp");

	(void)state;
	tap(k, '_', "+ShiftLeft +IntlRo", "-IntlRo -ShiftLeft");
	tap(k, '\\', "+IntlRo", "-IntlRo");
	/* the Yen key (a Japanese client's "yen"), Shift+Yen = | */
	tap(k, XK_yen, "+IntlYen", "-IntlYen");
	tap(k, '|', "+ShiftLeft +IntlYen", "-IntlYen -ShiftLeft");
	/* US-client Shift combinations to JIS positions */
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	tap(k, '@', "-ShiftLeft +BracketLeft", "-BracketLeft +ShiftLeft");
	tap(k, '_', "+IntlRo", "-IntlRo");
	tap(k, '"', "+Digit2", "-Digit2");
	tap(k, ':', "-ShiftLeft +Quote", "-Quote +ShiftLeft");
	tap(k, '~', "+Equal", "-Equal");
	UP(k, XK_Shift_L, "-ShiftLeft");
	tap(k, '^', "+Equal", "-Equal");
	tap(k, '=', "+ShiftLeft +Minus", "-Minus -ShiftLeft");
	/* the JIS keys */
	tap(k, XK_Hiragana_Katakana, "+KanaMode", "-KanaMode");
	tap(k, XK_Zenkaku_Hankaku, "+Backquote", "-Backquote");
	tap(k, XK_Henkan_Mode, "+Convert", "-Convert");
	tap(k, XK_Muhenkan, "+NonConvert", "-NonConvert");
	tap(k, XK_Eisu_toggle, "+CapsLock", "-CapsLock");
	/* kana characters need the IME: not typeable */
	struct ipkvm_key_action a[IPKVM_KEYSYM_MAX_ACTIONS];
	assert_int_equal(ipkvm_keysym_event(k, XK_kana_A, true, a, IPKVM_KEYSYM_MAX_ACTIONS),
			 -ENOENT);
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
	/* yen elsewhere: no key */
	k = kbd("us");
	assert_int_equal(ipkvm_keysym_event(k, XK_yen, true, a, IPKVM_KEYSYM_MAX_ACTIONS), -ENOENT);
	ipkvm_keysym_kbd_free(k);
	k = kbd("de");
	assert_int_equal(ipkvm_keysym_event(k, XK_yen, true, a, IPKVM_KEYSYM_MAX_ACTIONS), -ENOENT);
	ipkvm_keysym_kbd_free(k);
}

static void test_dead_keys(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("fr");
	struct ipkvm_key_action a[IPKVM_KEYSYM_MAX_ACTIONS];

	(void)state;
	/* é is a key on fr */
	tap(k, XK_eacute, "+Digit2", "-Digit2");
	tap(k, UNI(0xe9), "+Digit2", "-Digit2");
	/* the client's dead keys press the target's */
	tap(k, XK_dead_circumflex, "+BracketLeft", "-BracketLeft");
	tap(k, XK_dead_diaeresis, "+ShiftLeft +BracketLeft", "-BracketLeft -ShiftLeft");
	tap(k, XK_dead_tilde, "+AltRight +Digit2", "-Digit2 -AltRight");
	tap(k, XK_dead_grave, "+AltRight +Digit7", "-Digit7 -AltRight");
	assert_int_equal(ipkvm_keysym_event(k, XK_dead_acute, true, a, IPKVM_KEYSYM_MAX_ACTIONS),
			 -ENOENT);
	/* ë only through the dead key */
	tap(k, 0xeb, "+ShiftLeft +BracketLeft -BracketLeft -ShiftLeft +KeyE", "-KeyE");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);

	k = kbd("de");
	/* é on de: dead ´ (Equal), then E */
	tap(k, XK_eacute, "+Equal -Equal +KeyE", "-KeyE");
	tap(k, XK_Eacute, "+Equal -Equal +ShiftLeft +KeyE", "-KeyE -ShiftLeft");
	/* è: dead ` is Shift+Equal */
	tap(k, 0xe8, "+ShiftLeft +Equal -Equal -ShiftLeft +KeyE", "-KeyE");
	/* ^ itself: dead ^ then Space */
	tap(k, '^', "+Backquote -Backquote +Space", "-Space");
	tap(k, XK_dead_acute, "+Equal", "-Equal");
	tap(k, XK_dead_circumflex, "+Backquote", "-Backquote");
	tap(k, XK_dead_grave, "+ShiftLeft +Equal", "-Equal -ShiftLeft");
	/* a de client's own dead key, then e: the target composes é itself */
	tap(k, XK_dead_acute, "+Equal", "-Equal");
	tap(k, 'e', "+KeyE", "-KeyE");
	/* with Caps Lock on, É needs no Shift on the base key */
	ipkvm_keysym_set_caps_lock(k, true);
	tap(k, XK_Eacute, "+Equal -Equal +KeyE", "-KeyE");
	ipkvm_keysym_set_caps_lock(k, false);
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);

	k = kbd("us");
	assert_int_equal(ipkvm_keysym_event(k, XK_dead_acute, true, a, IPKVM_KEYSYM_MAX_ACTIONS),
			 -ENOENT);
	assert_int_equal(ipkvm_keysym_event(k, XK_eacute, true, a, IPKVM_KEYSYM_MAX_ACTIONS),
			 -ENOENT);
	ipkvm_keysym_kbd_free(k);
}

static void test_caps_lock(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("us");

	(void)state;
	ipkvm_keysym_set_caps_lock(k, true);
	tap(k, 'A', "+KeyA", "-KeyA");
	tap(k, 'a', "+ShiftLeft +KeyA", "-KeyA -ShiftLeft");
	/* not letters: Caps Lock does not change them */
	tap(k, '1', "+Digit1", "-Digit1");
	tap(k, '!', "+ShiftLeft +Digit1", "-Digit1 -ShiftLeft");
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	tap(k, 'A', "-ShiftLeft +KeyA", "-KeyA +ShiftLeft");
	tap(k, 'a', "+KeyA", "-KeyA");
	UP(k, XK_Shift_L, "-ShiftLeft");
	ipkvm_keysym_set_caps_lock(k, false);
	tap(k, 'A', "+ShiftLeft +KeyA", "-KeyA -ShiftLeft");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
	/* de umlauts are letters */
	k = kbd("de");
	ipkvm_keysym_set_caps_lock(k, true);
	tap(k, 0xdc, "+BracketLeft", "-BracketLeft");			    /* Ü */
	tap(k, 0xfc, "+ShiftLeft +BracketLeft", "-BracketLeft -ShiftLeft"); /* ü */
	tap(k, 0xdf, "+Minus", "-Minus"); /* ß has no upper case here */
	ipkvm_keysym_kbd_free(k);
}

static void test_shortcuts(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("us");

	(void)state;
	/* Ctrl+C */
	DOWN(k, XK_Control_L, "+ControlLeft");
	tap(k, 'c', "+KeyC", "-KeyC");
	UP(k, XK_Control_L, "-ControlLeft");
	/* Ctrl+Shift+T: modifiers as held, by the letter's key */
	DOWN(k, XK_Control_L, "+ControlLeft");
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	tap(k, 'T', "+KeyT", "-KeyT");
	/* even when the client's letter has the other case */
	tap(k, 't', "+KeyT", "-KeyT");
	UP(k, XK_Shift_L, "-ShiftLeft");
	/* Ctrl + a symbol the target shifts: no Shift added under a shortcut */
	tap(k, 'C', "+KeyC", "-KeyC");
	UP(k, XK_Control_L, "-ControlLeft");
	/* Alt+F4, Super+E, Meta as Alt */
	DOWN(k, XK_Alt_L, "+AltLeft");
	tap(k, XK_F4, "+F4", "-F4");
	UP(k, XK_Alt_L, "-AltLeft");
	DOWN(k, XK_Super_L, "+MetaLeft");
	tap(k, 'e', "+KeyE", "-KeyE");
	UP(k, XK_Super_L, "-MetaLeft");
	DOWN(k, XK_Meta_L, "+AltLeft");
	tap(k, 'x', "+KeyX", "-KeyX");
	UP(k, XK_Meta_L, "-AltLeft");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
	/* Ctrl+Z on de is the key labelled Z (KeyY); Ctrl+Shift+1 on fr is Ctrl+Shift+Digit1 */
	k = kbd("de");
	DOWN(k, XK_Control_L, "+ControlLeft");
	tap(k, 'z', "+KeyY", "-KeyY");
	UP(k, XK_Control_L, "-ControlLeft");
	/* Ctrl + ^ (a dead key + Space character on de): its dead key */
	DOWN(k, XK_Control_L, "+ControlLeft");
	tap(k, '^', "+Backquote", "-Backquote");
	UP(k, XK_Control_L, "-ControlLeft");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
	k = kbd("fr");
	DOWN(k, XK_Control_L, "+ControlLeft");
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	tap(k, '!', "+Slash", "-Slash");
	UP(k, XK_Shift_L, "-ShiftLeft");
	tap(k, '1', "+Digit1", "-Digit1");
	UP(k, XK_Control_L, "-ControlLeft");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
}

static void test_altgr(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("de");

	(void)state;
	/* a de client: AltGr is ISO_Level3_Shift */
	DOWN(k, XK_ISO_Level3_Shift, "+AltRight");
	tap(k, '@', "+KeyQ", "-KeyQ");
	tap(k, 0x20ac, "+KeyE", "-KeyE");
	/* a symbol without AltGr while it is held: lifted, then back */
	tap(k, 'q', "-AltRight +KeyQ", "-KeyQ +AltRight");
	UP(k, XK_ISO_Level3_Shift, "-AltRight");
	/* Mode_switch is AltGr too */
	DOWN(k, XK_Mode_switch, "+AltRight");
	tap(k, '\\', "+Minus", "-Minus");
	UP(k, XK_Mode_switch, "-AltRight");
	/* AltGr added for a client without it */
	tap(k, '~', "+AltRight +BracketRight", "-BracketRight -AltRight");
	tap(k, 0xb5, "+AltRight +KeyM", "-KeyM -AltRight"); /* µ */
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
	/* a de client's AltGr+Q "@" to a us target: AltGr lifted, Shift added */
	k = kbd("us");
	DOWN(k, XK_ISO_Level3_Shift, "+AltRight");
	tap(k, '@', "-AltRight +ShiftLeft +Digit2", "-Digit2 -ShiftLeft +AltRight");
	UP(k, XK_ISO_Level3_Shift, "-AltRight");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
	/* € on uk: EuroSign and the Unicode keysym alike */
	k = kbd("uk");
	tap(k, XK_EuroSign, "+AltRight +Digit4", "-Digit4 -AltRight");
	tap(k, UNI(0x20ac), "+AltRight +Digit4", "-Digit4 -AltRight");
	tap(k, 0xa3, "+ShiftLeft +Digit3", "-Digit3 -ShiftLeft"); /* £ */
	tap(k, '#', "+Backslash", "-Backslash");
	tap(k, '\\', "+IntlBackslash", "-IntlBackslash");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
}

static void test_keys_without_symbol(void **state)
{
	static const struct {
		uint32_t keysym;
		const char *code;
	} keys[] = {
	    {XK_Return, "Enter"},
	    {XK_BackSpace, "Backspace"},
	    {XK_Tab, "Tab"},
	    {XK_ISO_Left_Tab, "Tab"},
	    {XK_Escape, "Escape"},
	    {XK_Delete, "Delete"},
	    {XK_Home, "Home"},
	    {XK_End, "End"},
	    {XK_Prior, "PageUp"},
	    {XK_Next, "PageDown"},
	    {XK_Left, "ArrowLeft"},
	    {XK_Up, "ArrowUp"},
	    {XK_Right, "ArrowRight"},
	    {XK_Down, "ArrowDown"},
	    {XK_Insert, "Insert"},
	    {XK_F1, "F1"},
	    {XK_F12, "F12"},
	    {XK_F13, "F13"},
	    {XK_F24, "F24"},
	    {XK_Caps_Lock, "CapsLock"},
	    {XK_Num_Lock, "NumLock"},
	    {XK_Scroll_Lock, "ScrollLock"},
	    {XK_Print, "PrintScreen"},
	    {XK_Pause, "Pause"},
	    {XK_Menu, "ContextMenu"},
	    {XK_KP_Enter, "NumpadEnter"},
	    {XK_KP_0, "Numpad0"},
	    {XK_KP_1, "Numpad1"},
	    {XK_KP_9, "Numpad9"},
	    {XK_KP_Decimal, "NumpadDecimal"},
	    {XK_KP_Add, "NumpadAdd"},
	    {XK_KP_Home, "Home"},
	    {XF86XK_AudioMute, "AudioVolumeMute"},
	    {XF86XK_AudioForward, "MediaFastForward"},
	};
	static const char *const layouts[] = {"us", "uk", "de", "fr", "jp"};
	char want[64];

	(void)state;
	for (size_t l = 0; l < 5; l++) {
		struct ipkvm_keysym_kbd *k = kbd(layouts[l]);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			snprintf(want, sizeof(want), "+%s", keys[i].code);
			DOWN(k, keys[i].keysym, want);
			snprintf(want, sizeof(want), "-%s", keys[i].code);
			UP(k, keys[i].keysym, want);
		}
		/* under the client's modifiers, as they are: Shift+Tab, Shift+Home */
		DOWN(k, XK_Shift_L, "+ShiftLeft");
		tap(k, XK_ISO_Left_Tab, "+Tab", "-Tab");
		tap(k, XK_Home, "+Home", "-Home");
		UP(k, XK_Shift_L, "-ShiftLeft");
		/* every F key */
		for (uint32_t f = 0; f < 24; f++) {
			snprintf(want, sizeof(want), "+F%u", f + 1);
			DOWN(k, XK_F1 + f, want);
			snprintf(want, sizeof(want), "-F%u", f + 1);
			UP(k, XK_F1 + f, want);
		}
		assert_idle(k);
		ipkvm_keysym_kbd_free(k);
	}
}

static void test_release_after_modifier_change(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("us");

	(void)state;
	/* pressed as "1", Shift comes, released as "!" (a client that looks the release up
	 * under the current modifiers): the key of the press is released */
	DOWN(k, '1', "+Digit1");
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	UP(k, '!', "-Digit1");
	UP(k, XK_Shift_L, "-ShiftLeft");
	/* pressed as "!", Shift released first, the release says "!" */
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	DOWN(k, '!', "+Digit1");
	UP(k, XK_Shift_L, "-ShiftLeft");
	UP(k, '!', "-Digit1");
	/* Shift added for "A"; the client presses Shift meanwhile, then lets go of "A": the
	 * client's Shift stays */
	DOWN(k, 'A', "+ShiftLeft +KeyA");
	DOWN(k, XK_Shift_R, "+ShiftRight");
	UP(k, 'A', "-KeyA -ShiftLeft");
	UP(k, XK_Shift_R, "-ShiftRight");
	/* a modifier pressed as Alt_L, released as Meta_L */
	DOWN(k, XK_Alt_L, "+AltLeft");
	UP(k, XK_Meta_L, "-AltLeft");
	/* a release of something never pressed */
	UP(k, 'q', "");
	UP(k, XK_Shift_L, "");
	UP(k, XK_kana_A, "");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);

	/* de, US client: Control pressed while "@" (Shift lifted, AltGr added) is held */
	k = kbd("de");
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	DOWN(k, '@', "-ShiftLeft +AltRight +KeyQ");
	DOWN(k, XK_Control_L, "+ControlLeft");
	UP(k, '@', "-KeyQ -AltRight +ShiftLeft");
	UP(k, XK_Control_L, "-ControlLeft");
	UP(k, XK_Shift_L, "-ShiftLeft");
	/* overlapping keys: "@" held, "a" pressed and released, "@" released */
	DOWN(k, '@', "+AltRight +KeyQ");
	DOWN(k, 'a', "-AltRight +KeyA");
	UP(k, '@', "-KeyQ");
	UP(k, 'a', "-KeyA");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
}

static void test_repeat(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("de");

	(void)state;
	/* down, down, down, up: one press per client press, nothing left */
	DOWN(k, 'a', "+KeyA");
	DOWN(k, 'a', "-KeyA +KeyA");
	DOWN(k, 'a', "-KeyA +KeyA");
	UP(k, 'a', "-KeyA");
	UP(k, 'a', "");
	assert_idle(k);
	/* with modifiers added: they stay for the whole repeat */
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	DOWN(k, '@', "-ShiftLeft +AltRight +KeyQ");
	DOWN(k, '@', "-KeyQ +KeyQ");
	DOWN(k, '@', "-KeyQ +KeyQ");
	UP(k, '@', "-KeyQ -AltRight +ShiftLeft");
	DOWN(k, XK_Shift_L, "");
	UP(k, XK_Shift_L, "-ShiftLeft");
	/* repeat with another keysym of the same key ("a" then "A") */
	DOWN(k, 'a', "+KeyA");
	DOWN(k, 'A', "-KeyA +ShiftLeft +KeyA");
	UP(k, 'A', "-KeyA -ShiftLeft");
	UP(k, 'a', "");
	/* a dead-key character repeats whole */
	DOWN(k, XK_eacute, "+Equal -Equal +KeyE");
	DOWN(k, XK_eacute, "-KeyE +Equal -Equal +KeyE");
	UP(k, XK_eacute, "-KeyE");
	/* keys without a symbol */
	DOWN(k, XK_BackSpace, "+Backspace");
	DOWN(k, XK_BackSpace, "-Backspace +Backspace");
	UP(k, XK_BackSpace, "-Backspace");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
}

static void test_release_all(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("de");
	struct ipkvm_key_action a[IPKVM_KEYSYM_MAX_RELEASE];
	char got[512];
	size_t n;

	(void)state;
	DOWN(k, XK_Shift_L, "+ShiftLeft");
	DOWN(k, XK_Control_L, "+ControlLeft");
	DOWN(k, 'x', "+KeyX");
	DOWN(k, XK_F1, "+F1");
	n = ipkvm_keysym_release_all(k, a, IPKVM_KEYSYM_MAX_RELEASE);
	fmt(a, n, got, sizeof(got));
	assert_string_equal(got, "-KeyX -F1 -ControlLeft -ShiftLeft");
	assert_idle(k);
	/* afterwards, the client's releases are of nothing */
	UP(k, 'x', "");
	UP(k, XK_Shift_L, "");
	/* a modifier the client does not hold but a held key added */
	DOWN(k, '@', "+AltRight +KeyQ");
	n = ipkvm_keysym_release_all(k, a, IPKVM_KEYSYM_MAX_RELEASE);
	fmt(a, n, got, sizeof(got));
	assert_string_equal(got, "-KeyQ -AltRight");
	/* max is respected */
	DOWN(k, 'a', "+KeyA");
	DOWN(k, 'b', "+KeyB");
	assert_int_equal(ipkvm_keysym_release_all(k, a, 1), 1);
	assert_string_equal(a[0].code, "KeyA");
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
}

static void test_errors(void **state)
{
	struct ipkvm_keysym_kbd *k = kbd("us");
	struct ipkvm_key_action a[IPKVM_KEYSYM_MAX_ACTIONS];
	static const uint32_t none[] = {
	    0,		 0x1f,	     0x7f,	 0x80,	     0x9f,	 0xa0 /* nbsp: no key */,
	    0x01000000,	 0x0100001f, 0x0100007f, 0x0100d800, 0x0100dfff, 0x01110000,
	    UNI(0x65e5), XK_kana_A,  0xfe5a,	 0xffffff,   0x7fffffff, 0xffffffff,
	};

	(void)state;
	assert_null(ipkvm_keysym_kbd_new(NULL));
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		if (ipkvm_keysym_event(k, none[i], true, a, IPKVM_KEYSYM_MAX_ACTIONS) != -ENOENT)
			fail_msg("keysym 0x%x: want -ENOENT", none[i]);
		assert_int_equal(ipkvm_keysym_event(k, none[i], false, a, IPKVM_KEYSYM_MAX_ACTIONS),
				 0);
	}
	/* -ENOSPC changes nothing */
	assert_int_equal(ipkvm_keysym_event(k, 'A', true, a, 1), -ENOSPC);
	assert_int_equal(ipkvm_keysym_event(k, 'A', true, a, 0), -ENOSPC);
	assert_idle(k);
	tap(k, 'A', "+ShiftLeft +KeyA", "-KeyA -ShiftLeft");
	/* a release that needs nothing fits in 0 */
	assert_int_equal(ipkvm_keysym_event(k, 'A', false, NULL, 0), 0);
	/* the table of held keys is bounded */
	for (uint32_t i = 0; i < IPKVM_KEYSYM_MAX_HELD; i++) {
		uint32_t ks = i < 26 ? 'a' + i : XK_F1 + (i - 26);
		assert_int_equal(ipkvm_keysym_event(k, ks, true, a, IPKVM_KEYSYM_MAX_ACTIONS), 1);
	}
	assert_int_equal(ipkvm_keysym_event(k, '1', true, a, IPKVM_KEYSYM_MAX_ACTIONS), -ENOBUFS);
	assert_int_equal(ipkvm_keysym_event(k, XK_Shift_L, true, a, IPKVM_KEYSYM_MAX_ACTIONS),
			 -ENOBUFS);
	/* a repeat of a held one still works */
	DOWN(k, 'a', "-KeyA +KeyA");
	struct ipkvm_key_action all[IPKVM_KEYSYM_MAX_RELEASE];
	assert_int_equal(ipkvm_keysym_release_all(k, all, IPKVM_KEYSYM_MAX_RELEASE),
			 IPKVM_KEYSYM_MAX_HELD);
	assert_idle(k);
	ipkvm_keysym_kbd_free(k);
	ipkvm_keysym_kbd_free(NULL);
}

/* Any keysym, pressed and released, leaves nothing pressed; a press gives -ENOENT or at
 * least one action ending with a key down. Scans every block that has meanings, and a
 * stride through the rest of the uint32 space. */
static void check_any(struct ipkvm_keysym_kbd *k, uint32_t ks)
{
	struct ipkvm_key_action a[IPKVM_KEYSYM_MAX_ACTIONS];
	int n = ipkvm_keysym_event(k, ks, true, a, IPKVM_KEYSYM_MAX_ACTIONS);

	if (n == -ENOENT)
		return;
	if (n < 1 || !a[n - 1].down) {
		/* modifiers press their key too */
		fail_msg("keysym 0x%x: %d", ks, n);
	}
	n = ipkvm_keysym_event(k, ks, false, a, IPKVM_KEYSYM_MAX_ACTIONS);
	if (n < 1 || a[0].down)
		fail_msg("keysym 0x%x release: %d", ks, n);
	struct ipkvm_key_action r[IPKVM_KEYSYM_MAX_RELEASE];
	if (ipkvm_keysym_release_all(k, r, IPKVM_KEYSYM_MAX_RELEASE) != 0)
		fail_msg("keysym 0x%x left something pressed", ks);
}

static void test_any_keysym_is_safe(void **state)
{
	static const char *const layouts[] = {"us", "uk", "de", "fr", "jp"};

	(void)state;
	for (size_t l = 0; l < 5; l++) {
		struct ipkvm_keysym_kbd *k = kbd(layouts[l]);
		for (uint32_t ks = 0; ks <= 0x10000; ks++)
			check_any(k, ks);
		for (uint32_t ks = 0x01000000; ks <= 0x01003000; ks++)
			check_any(k, ks);
		for (uint32_t ks = 0x1008fe00; ks <= 0x1008ffff; ks++)
			check_any(k, ks);
		for (uint64_t ks = 0; ks <= 0xffffffffu; ks += 0x10003)
			check_any(k, (uint32_t)ks);
		check_any(k, 0xffffffffu);
		ipkvm_keysym_kbd_free(k);
	}
}

/* The modifier codes of a stroke's mods, in report-bit order (ControlLeft, ShiftLeft,
 * AltRight), with sign c. */
static size_t mods_str(uint8_t mods, char c, char *buf, size_t len)
{
	size_t o = 0;

	if (mods & IPKVM_LAYOUT_MOD_CTRL)
		o += (size_t)snprintf(buf + o, len - o, " %cControlLeft", c);
	if (mods & IPKVM_LAYOUT_MOD_SHIFT)
		o += (size_t)snprintf(buf + o, len - o, " %cShiftLeft", c);
	if (mods & IPKVM_LAYOUT_MOD_ALTGR)
		o += (size_t)snprintf(buf + o, len - o, " %cAltRight", c);
	return o;
}

/* Every character each bundled layout can type, sent as its keysym (Latin-1, Unicode, and
 * the legacy keysym of a character beyond Latin-1, which every such character must have)
 * by a client holding no modifier, gives exactly the layout's strokes: the dead key tapped
 * with its modifiers, then the (last) key held with its own. The counts are the layouts'
 * (data/layouts/: key lines from U+0020 on, compose results, dead accents). */
static void test_every_layout_character(void **state)
{
	static const char *const layouts[] = {"us", "uk", "de", "fr", "jp"};
	static const size_t nchars[] = {95, 98, 141, 137, 95};
	static const struct {
		uint32_t cp, keysym;
	} legacy[] = {{0x20ac, XK_EuroSign}};

	(void)state;
	for (size_t l = 0; l < 5; l++) {
		const struct ipkvm_layout *lay = ipkvm_layout_find(layouts[l]);
		struct ipkvm_keysym_kbd *k = kbd(layouts[l]);
		size_t count = 0;

		for (uint32_t cp = 0x20; cp < 0x30000; cp++) {
			struct ipkvm_stroke s[2];
			char down[256], up[256];
			size_t o = 0;
			int ns = ipkvm_layout_char(lay, cp, s);

			if (ns <= 0)
				continue;
			count++;
			down[0] = 0;
			if (ns == 2) {
				o += mods_str(s[0].mods, '+', down + o, sizeof(down) - o);
				o += (size_t)snprintf(down + o, sizeof(down) - o, " +%s -%s",
						      s[0].code, s[0].code);
				o += mods_str(s[0].mods & ~s[1].mods, '-', down + o,
					      sizeof(down) - o);
				o += mods_str(s[1].mods & ~s[0].mods, '+', down + o,
					      sizeof(down) - o);
			} else {
				o += mods_str(s[0].mods, '+', down + o, sizeof(down) - o);
			}
			snprintf(down + o, sizeof(down) - o, " +%s", s[ns - 1].code);
			o = (size_t)snprintf(up, sizeof(up), "-%s", s[ns - 1].code);
			mods_str(s[ns - 1].mods, '-', up + o, sizeof(up) - o);
			if (cp <= 0xff) {
				tap(k, cp, down + 1, up);
			} else {
				size_t i = 0;
				while (i < sizeof(legacy) / sizeof(legacy[0]) && legacy[i].cp != cp)
					i++;
				if (i == sizeof(legacy) / sizeof(legacy[0]))
					fail_msg("%s: U+%04X has no legacy keysym here", layouts[l],
						 cp);
				tap(k, legacy[i].keysym, down + 1, up);
			}
			tap(k, UNI(cp), down + 1, up);
			assert_idle(k);
		}
		if (count != nchars[l])
			fail_msg("%s: %zu characters, want %zu", layouts[l], count, nchars[l]);
		ipkvm_keysym_kbd_free(k);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_letter_with_and_without_shift),
	    cmocka_unit_test(test_us_client_at_to_de),
	    cmocka_unit_test(test_jp),
	    cmocka_unit_test(test_dead_keys),
	    cmocka_unit_test(test_caps_lock),
	    cmocka_unit_test(test_shortcuts),
	    cmocka_unit_test(test_altgr),
	    cmocka_unit_test(test_keys_without_symbol),
	    cmocka_unit_test(test_release_after_modifier_change),
	    cmocka_unit_test(test_repeat),
	    cmocka_unit_test(test_release_all),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_any_keysym_is_safe),
	    cmocka_unit_test(test_every_layout_character),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
