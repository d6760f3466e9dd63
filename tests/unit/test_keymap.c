/*
 * test_keymap: the generated key table (data/keymap.csv -> scripts/gen_keymap.py ->
 * keymap.c). Asserts exact values for representative keys of every class (letters, JIS/ISO
 * keys, keypad, F13-F24, modifiers, consumer and system-control pages), that the full
 * 104/105/106/109-key sets are present, and the table's invariants the lookups rely on:
 * sorted unique codes, unique (page, usage) and evdev numbers, and a by_usage round trip for
 * every entry; and the qnum column (XT set-1 codes of VNC's QEMU Extended Key Event) for
 * representative keys of every class, both ways, with out-of-range lookups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/input-event-codes.h>

#include "hid/keymap.h"

struct expect {
	const char *code;
	uint16_t page;
	uint16_t usage;
	uint16_t evdev;
	const char *keysym; /* NULL: none */
};

static void check_key(const struct expect *e)
{
	const struct ipkvm_key *k = ipkvm_key_by_code(e->code);

	if (k == NULL)
		fail_msg("%s: not in table", e->code);
	assert_string_equal(k->code, e->code);
	if (k->page != e->page || k->usage != e->usage || k->evdev != e->evdev)
		fail_msg("%s: got page 0x%02X usage 0x%02X evdev %u, want 0x%02X 0x%02X %u",
			 e->code, k->page, k->usage, k->evdev, e->page, e->usage, e->evdev);
	if (e->keysym == NULL)
		assert_null(k->keysym);
	else
		assert_string_equal(k->keysym, e->keysym);
	/* and back again */
	assert_ptr_equal(ipkvm_key_by_usage(e->page, e->usage), k);
}

static void test_representative_keys(void **state)
{
	static const struct expect want[] = {
	    {"KeyA", 0x07, 0x04, 30, "a"},
	    {"KeyZ", 0x07, 0x1D, 44, "z"},
	    {"Digit1", 0x07, 0x1E, 2, "1"},
	    {"Digit0", 0x07, 0x27, 11, "0"},
	    {"Enter", 0x07, 0x28, 28, "Return"},
	    {"Escape", 0x07, 0x29, 1, "Escape"},
	    {"Space", 0x07, 0x2C, 57, "space"},
	    {"Backslash", 0x07, 0x31, 43, "backslash"},
	    {"Quote", 0x07, 0x34, 40, "apostrophe"},
	    {"Backquote", 0x07, 0x35, 41, "grave"},
	    {"CapsLock", 0x07, 0x39, 58, "Caps_Lock"},
	    {"F1", 0x07, 0x3A, 59, "F1"},
	    {"F12", 0x07, 0x45, 88, "F12"},
	    {"PrintScreen", 0x07, 0x46, 99, "Print"},
	    {"ScrollLock", 0x07, 0x47, 70, "Scroll_Lock"},
	    {"Pause", 0x07, 0x48, 119, "Pause"},
	    {"PageUp", 0x07, 0x4B, 104, "Prior"},
	    {"ArrowUp", 0x07, 0x52, 103, "Up"},
	    {"NumLock", 0x07, 0x53, 69, "Num_Lock"},
	    {"NumpadEnter", 0x07, 0x58, 96, "KP_Enter"},
	    {"Numpad1", 0x07, 0x59, 79, "KP_1"},
	    {"Numpad0", 0x07, 0x62, 82, "KP_0"},
	    {"NumpadDecimal", 0x07, 0x63, 83, "KP_Decimal"},
	    {"IntlBackslash", 0x07, 0x64, 86, "less"},
	    {"ContextMenu", 0x07, 0x65, 127, "Menu"},
	    {"NumpadEqual", 0x07, 0x67, 117, "KP_Equal"},
	    {"F13", 0x07, 0x68, 183, "F13"},
	    {"F24", 0x07, 0x73, 194, "F24"},
	    {"NumpadComma", 0x07, 0x85, 121, "KP_Separator"},
	    {"IntlRo", 0x07, 0x87, 89, NULL},
	    {"KanaMode", 0x07, 0x88, 93, "Hiragana_Katakana"},
	    {"IntlYen", 0x07, 0x89, 124, NULL},
	    {"Convert", 0x07, 0x8A, 92, "Henkan_Mode"},
	    {"NonConvert", 0x07, 0x8B, 94, "Muhenkan"},
	    {"Lang1", 0x07, 0x90, 122, "Hangul"},
	    {"Lang2", 0x07, 0x91, 123, "Hangul_Hanja"},
	    {"ControlLeft", 0x07, 0xE0, 29, "Control_L"},
	    {"ShiftRight", 0x07, 0xE5, 54, "Shift_R"},
	    {"MetaRight", 0x07, 0xE7, 126, "Super_R"},
	    {"MediaPlayPause", 0x0C, 0xCD, 164, "XF86AudioPlay"},
	    {"MediaStop", 0x0C, 0xB7, 166, "XF86AudioStop"},
	    {"MediaTrackNext", 0x0C, 0xB5, 163, "XF86AudioNext"},
	    {"MediaTrackPrevious", 0x0C, 0xB6, 165, "XF86AudioPrev"},
	    {"AudioVolumeMute", 0x0C, 0xE2, 113, "XF86AudioMute"},
	    {"AudioVolumeUp", 0x0C, 0xE9, 115, "XF86AudioRaiseVolume"},
	    {"AudioVolumeDown", 0x0C, 0xEA, 114, "XF86AudioLowerVolume"},
	    {"BrowserHome", 0x0C, 0x223, 172, "XF86HomePage"},
	    {"Power", 0x01, 0x81, 116, "XF86PowerOff"},
	    {"Sleep", 0x01, 0x82, 142, "XF86Sleep"},
	    {"WakeUp", 0x01, 0x83, 143, "XF86WakeUp"},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		check_key(&want[i]);
}

/* The evdev column agrees with the kernel's own names for the keys that are easiest to get
 * wrong (the generator checks all of them against the header at build time too). */
static void test_evdev_matches_kernel_names(void **state)
{
	assert_int_equal(ipkvm_key_by_code("IntlYen")->evdev, KEY_YEN);
	assert_int_equal(ipkvm_key_by_code("IntlRo")->evdev, KEY_RO);
	assert_int_equal(ipkvm_key_by_code("KanaMode")->evdev, KEY_KATAKANAHIRAGANA);
	assert_int_equal(ipkvm_key_by_code("Convert")->evdev, KEY_HENKAN);
	assert_int_equal(ipkvm_key_by_code("NonConvert")->evdev, KEY_MUHENKAN);
	assert_int_equal(ipkvm_key_by_code("Lang1")->evdev, KEY_HANGEUL);
	assert_int_equal(ipkvm_key_by_code("Lang2")->evdev, KEY_HANJA);
	assert_int_equal(ipkvm_key_by_code("IntlBackslash")->evdev, KEY_102ND);
	assert_int_equal(ipkvm_key_by_code("NumpadEnter")->evdev, KEY_KPENTER);
	assert_int_equal(ipkvm_key_by_code("PrintScreen")->evdev, KEY_SYSRQ);
	assert_int_equal(ipkvm_key_by_code("ContextMenu")->evdev, KEY_COMPOSE);
	assert_int_equal(ipkvm_key_by_code("F24")->evdev, KEY_F24);
	assert_int_equal(ipkvm_key_by_code("MediaPlayPause")->evdev, KEY_PLAYPAUSE);
	assert_int_equal(ipkvm_key_by_code("Power")->evdev, KEY_POWER);
	assert_int_equal(ipkvm_key_by_code("WakeUp")->evdev, KEY_WAKEUP);
}

static void test_modifiers(void **state)
{
	static const struct {
		const char *code;
		uint8_t bit;
	} mods[] = {
	    {"ControlLeft", 0x01},  {"ShiftLeft", 0x02},  {"AltLeft", 0x04},  {"MetaLeft", 0x08},
	    {"ControlRight", 0x10}, {"ShiftRight", 0x20}, {"AltRight", 0x40}, {"MetaRight", 0x80},
	};
	size_t nmods = 0;

	for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		const struct ipkvm_key *k = ipkvm_key_by_code(mods[i].code);

		assert_non_null(k);
		assert_true(ipkvm_key_is_modifier(k));
		assert_int_equal(ipkvm_key_modifier_bit(k), mods[i].bit);
	}
	/* Exactly those eight in the whole table. */
	for (size_t i = 0; i < ipkvm_key_count(); i++) {
		if (ipkvm_key_is_modifier(&ipkvm_keys[i]))
			nmods++;
		else
			assert_int_equal(ipkvm_key_modifier_bit(&ipkvm_keys[i]), 0);
	}
	assert_int_equal(nmods, 8);

	assert_false(ipkvm_key_is_modifier(ipkvm_key_by_code("KeyA")));
	assert_int_equal(ipkvm_key_modifier_bit(ipkvm_key_by_code("CapsLock")), 0);
	/* Consumer 0xE2 (Mute) has a modifier's usage number on another page. */
	assert_false(ipkvm_key_is_modifier(ipkvm_key_by_code("AudioVolumeMute")));
	assert_int_equal(ipkvm_key_modifier_bit(ipkvm_key_by_code("AudioVolumeMute")), 0);
	assert_false(ipkvm_key_is_modifier(NULL));
	assert_int_equal(ipkvm_key_modifier_bit(NULL), 0);
}

static void test_unknown(void **state)
{
	static const char *const bad[] = {
	    "",	    "keya",	    "KEYA",   "KeyA ",	  " KeyA",	  "Key", "A",	"Aaaa",
	    "Zzzz", "NumpadEnterX", "Numpad", "IntlHash", "Unidentified", "Fn",	 "F25", "\xff",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ipkvm_key_by_code(bad[i]) != NULL)
			fail_msg("code \"%s\" should be unknown", bad[i]);
	assert_null(ipkvm_key_by_code(NULL));

	assert_null(ipkvm_key_by_usage(0x07, 0x00));
	assert_null(ipkvm_key_by_usage(0x07, 0x01)); /* ErrorRollOver: phantom state, not a key */
	assert_null(ipkvm_key_by_usage(0x07, 0x32)); /* Non-US # is sent as Backslash 0x31 */
	assert_null(ipkvm_key_by_usage(0x07, 0xFF));
	assert_null(ipkvm_key_by_usage(0x07, 0xFFFF));
	assert_null(ipkvm_key_by_usage(0x0C, 0x00));
	assert_null(ipkvm_key_by_usage(0x01, 0x80));
	assert_null(ipkvm_key_by_usage(0x00, 0x04));
	assert_null(ipkvm_key_by_usage(0x08, 0x04));
	assert_null(ipkvm_key_by_usage(0xFFFF, 0xFFFF));
	/* Same usage id on different pages is a different key. */
	assert_string_equal(ipkvm_key_by_usage(0x07, 0xE2)->code, "AltLeft");
	assert_string_equal(ipkvm_key_by_usage(0x0C, 0xE2)->code, "AudioVolumeMute");
	assert_null(ipkvm_key_by_usage(0x07, 0x81)); /* volume lives on the consumer page */
}

static void test_table_invariants(void **state)
{
	size_t n = ipkvm_key_count();

	assert_int_equal(n, ipkvm_keys_count);
	assert_true(n > 150);
	for (size_t i = 0; i < n; i++) {
		const struct ipkvm_key *k = &ipkvm_keys[i];

		assert_non_null(k->code);
		assert_true(k->page == 0x01 || k->page == 0x07 || k->page == 0x0C);
		if (k->page == 0x07)
			assert_true(k->usage >= 0x04 && k->usage <= 0xE7);
		assert_true(k->evdev >= 1 && k->evdev <= KEY_MAX);
		if (k->keysym != NULL)
			assert_true(k->keysym[0] != '\0');
		/* sorted, so unique */
		if (i > 0 && strcmp(ipkvm_keys[i - 1].code, k->code) >= 0)
			fail_msg("table not sorted/unique at %zu: %s, %s", i,
				 ipkvm_keys[i - 1].code, k->code);
		/* every entry is found both ways, as itself */
		assert_ptr_equal(ipkvm_key_by_code(k->code), k);
		assert_ptr_equal(ipkvm_key_by_usage(k->page, k->usage), k);
		for (size_t j = i + 1; j < n; j++) {
			const struct ipkvm_key *o = &ipkvm_keys[j];

			if (o->page == k->page && o->usage == k->usage)
				fail_msg("%s and %s share a usage", k->code, o->code);
			if (o->evdev == k->evdev)
				fail_msg("%s and %s share evdev %u", k->code, o->code, k->evdev);
		}
	}
}

/* Every key of the 104 (ANSI), 105 (ISO), 106/109 (JIS) layouts, the F13-F24 row, the
 * keypad extras and the media/system keys the issue names. */
static void test_full_key_sets(void **state)
{
	static const char *const need[] = {
	    "Backquote",
	    "Digit1",
	    "Digit2",
	    "Digit3",
	    "Digit4",
	    "Digit5",
	    "Digit6",
	    "Digit7",
	    "Digit8",
	    "Digit9",
	    "Digit0",
	    "Minus",
	    "Equal",
	    "Backspace",
	    "Tab",
	    "KeyQ",
	    "KeyW",
	    "KeyE",
	    "KeyR",
	    "KeyT",
	    "KeyY",
	    "KeyU",
	    "KeyI",
	    "KeyO",
	    "KeyP",
	    "BracketLeft",
	    "BracketRight",
	    "Backslash",
	    "CapsLock",
	    "KeyA",
	    "KeyS",
	    "KeyD",
	    "KeyF",
	    "KeyG",
	    "KeyH",
	    "KeyJ",
	    "KeyK",
	    "KeyL",
	    "Semicolon",
	    "Quote",
	    "Enter",
	    "ShiftLeft",
	    "KeyZ",
	    "KeyX",
	    "KeyC",
	    "KeyV",
	    "KeyB",
	    "KeyN",
	    "KeyM",
	    "Comma",
	    "Period",
	    "Slash",
	    "ShiftRight",
	    "ControlLeft",
	    "MetaLeft",
	    "AltLeft",
	    "Space",
	    "AltRight",
	    "MetaRight",
	    "ContextMenu",
	    "ControlRight",
	    "Escape",
	    "F1",
	    "F2",
	    "F3",
	    "F4",
	    "F5",
	    "F6",
	    "F7",
	    "F8",
	    "F9",
	    "F10",
	    "F11",
	    "F12",
	    "F13",
	    "F14",
	    "F15",
	    "F16",
	    "F17",
	    "F18",
	    "F19",
	    "F20",
	    "F21",
	    "F22",
	    "F23",
	    "F24",
	    "PrintScreen",
	    "ScrollLock",
	    "Pause",
	    "Insert",
	    "Home",
	    "PageUp",
	    "Delete",
	    "End",
	    "PageDown",
	    "ArrowUp",
	    "ArrowLeft",
	    "ArrowDown",
	    "ArrowRight",
	    "NumLock",
	    "NumpadDivide",
	    "NumpadMultiply",
	    "NumpadSubtract",
	    "NumpadAdd",
	    "NumpadEnter",
	    "Numpad0",
	    "Numpad1",
	    "Numpad2",
	    "Numpad3",
	    "Numpad4",
	    "Numpad5",
	    "Numpad6",
	    "Numpad7",
	    "Numpad8",
	    "Numpad9",
	    "NumpadDecimal",
	    "NumpadEqual",
	    "NumpadComma",
	    "IntlBackslash",
	    "IntlYen",
	    "IntlRo",
	    "KanaMode",
	    "Convert",
	    "NonConvert",
	    "Lang1",
	    "Lang2",
	    "MediaPlayPause",
	    "MediaStop",
	    "MediaTrackNext",
	    "MediaTrackPrevious",
	    "AudioVolumeMute",
	    "AudioVolumeUp",
	    "AudioVolumeDown",
	    "BrowserHome",
	    "BrowserBack",
	    "BrowserForward",
	    "BrowserRefresh",
	    "BrowserSearch",
	    "Power",
	    "Sleep",
	    "WakeUp",
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (ipkvm_key_by_code(need[i]) == NULL)
			fail_msg("%s missing from the key table", need[i]);
}

/* The key table's qnum column: XT set-1 codes, E0-prefixed ones as 0x80 | code. */
static void test_qnum(void **state)
{
	static const struct {
		uint32_t qnum;
		const char *code;
	} want[] = {
	    {0x01, "Escape"},
	    {0x02, "Digit1"},
	    {0x0B, "Digit0"},
	    {0x0E, "Backspace"},
	    {0x0F, "Tab"},
	    {0x10, "KeyQ"},
	    {0x1C, "Enter"},
	    {0x1D, "ControlLeft"},
	    {0x1E, "KeyA"},
	    {0x29, "Backquote"},
	    {0x2A, "ShiftLeft"},
	    {0x2B, "Backslash"},
	    {0x2C, "KeyZ"},
	    {0x35, "Slash"},
	    {0x36, "ShiftRight"},
	    {0x37, "NumpadMultiply"},
	    {0x38, "AltLeft"},
	    {0x39, "Space"},
	    {0x3A, "CapsLock"},
	    {0x3B, "F1"},
	    {0x44, "F10"},
	    {0x45, "NumLock"},
	    {0x46, "ScrollLock"},
	    {0x47, "Numpad7"},
	    {0x52, "Numpad0"},
	    {0x53, "NumpadDecimal"},
	    {0x54, "PrintScreen"},
	    {0x56, "IntlBackslash"},
	    {0x57, "F11"},
	    {0x58, "F12"},
	    {0x59, "NumpadEqual"},
	    {0x5D, "F13"},
	    {0x6F, "F24"},
	    {0x70, "KanaMode"},
	    {0x73, "IntlRo"},
	    {0x76, "Lang5"},
	    {0x77, "Lang4"},
	    {0x78, "Lang3"},
	    {0x79, "Convert"},
	    {0x7B, "NonConvert"},
	    {0x7D, "IntlYen"},
	    {0x7E, "NumpadComma"},
	    {0x9C, "NumpadEnter"},
	    {0x9D, "ControlRight"},
	    {0xA0, "AudioVolumeMute"},
	    {0xB5, "NumpadDivide"},
	    {0xB8, "AltRight"},
	    {0xC6, "Pause"},
	    {0xC7, "Home"},
	    {0xC8, "ArrowUp"},
	    {0xC9, "PageUp"},
	    {0xCB, "ArrowLeft"},
	    {0xCD, "ArrowRight"},
	    {0xCF, "End"},
	    {0xD0, "ArrowDown"},
	    {0xD1, "PageDown"},
	    {0xD2, "Insert"},
	    {0xD3, "Delete"},
	    {0xDB, "MetaLeft"},
	    {0xDC, "MetaRight"},
	    {0xDD, "ContextMenu"},
	    {0xDE, "Power"},
	    {0xF1, "Lang2"},
	    {0xF2, "Lang1"},
	};
	static const char *const need[] = {
	    "Backquote",      "Minus",	  "Equal",   "BracketLeft", "BracketRight", "Semicolon",
	    "Quote",	      "Comma",	  "Period",  "Numpad1",	    "Numpad9",	    "NumpadAdd",
	    "NumpadSubtract", "F2",	  "F9",	     "F14",	    "F23",	    "ArrowLeft",
	    "Lang1",	      "Lang2",	  "Lang3",   "Lang4",	    "Lang5",	    "IntlRo",
	    "IntlYen",	      "KanaMode", "Convert", "NonConvert",  "AltRight",	    "MetaRight",
	};
	size_t with = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct ipkvm_key *k = ipkvm_key_by_qnum(want[i].qnum);
		if (!k)
			fail_msg("qnum 0x%02X: no key, want %s", want[i].qnum, want[i].code);
		assert_string_equal(k->code, want[i].code);
		assert_int_equal(k->qnum, want[i].qnum);
	}
	/* every letter and digit of the main block */
	for (char c = 'A'; c <= 'Z'; c++) {
		char code[8] = "Key";
		code[3] = c;
		assert_true(ipkvm_key_by_code(code)->qnum != 0);
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		const struct ipkvm_key *k = ipkvm_key_by_code(need[i]);
		assert_non_null(k);
		if (k->qnum == 0)
			fail_msg("%s has no qnum", need[i]);
		assert_ptr_equal(ipkvm_key_by_qnum(k->qnum), k);
	}
	/* both ways for the whole table; unique by construction of the index */
	for (size_t i = 0; i < ipkvm_key_count(); i++) {
		if (!ipkvm_keys[i].qnum)
			continue;
		with++;
		assert_ptr_equal(ipkvm_key_by_qnum(ipkvm_keys[i].qnum), &ipkvm_keys[i]);
	}
	assert_int_equal(with, ipkvm_key_count()); /* every key of the table has one */
	/* no key, and out of range */
	assert_null(ipkvm_key_by_qnum(0));
	assert_null(ipkvm_key_by_qnum(0x80));
	assert_null(ipkvm_key_by_qnum(0xE0));
	assert_null(ipkvm_key_by_qnum(0x100));
	assert_null(ipkvm_key_by_qnum(0x11E));
	assert_null(ipkvm_key_by_qnum(0xFFFFFFFFu));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_representative_keys),
	    cmocka_unit_test(test_evdev_matches_kernel_names),
	    cmocka_unit_test(test_modifiers),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_table_invariants),
	    cmocka_unit_test(test_full_key_sets),
	    cmocka_unit_test(test_qnum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
