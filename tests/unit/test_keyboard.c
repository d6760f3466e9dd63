/*
 * Unit tests for hid/keyboard: exact boot, NKRO, consumer and system report bytes for each key
 * class, left/right modifiers, six keys in press order, the phantom state with a seventh key
 * (six 0x01 with the modifiers still reported) and the way back, release_all, change tracking,
 * LED output parsing of every bit, rejected usages, and the descriptor arrays.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "hid/keyboard.h"

#define KB IPKVM_HID_PAGE_KEYBOARD
#define CC IPKVM_HID_PAGE_CONSUMER
#define GD IPKVM_HID_PAGE_DESKTOP

/* Takes the boot report and compares it with the 8 expected bytes. */
static void expect_boot(struct ipkvm_hid_keyboard *kb, const uint8_t want[8])
{
	uint8_t out[8];
	memset(out, 0xAA, sizeof(out));
	assert_int_equal(ipkvm_hid_keyboard_boot_report(kb, out), 8);
	assert_memory_equal(out, want, 8);
}

static void test_idle(void **state)
{
	struct ipkvm_hid_keyboard kb;
	ipkvm_hid_keyboard_init(&kb);
	assert_false(ipkvm_hid_keyboard_any_pressed(&kb));
	for (int r = 0; r < IPKVM_HID_REPORT_COUNT_; r++)
		assert_false(ipkvm_hid_keyboard_changed(&kb, r));
	expect_boot(&kb, (const uint8_t[8]){0, 0, 0, 0, 0, 0, 0, 0});
}

/* One key of each class on the keyboard page, pressed alone. */
static void test_key_classes(void **state)
{
	static const uint8_t usages[] = {
	    0x04, /* a */
	    0x1E, /* 1 */
	    0x28, /* Enter */
	    0x29, /* Escape */
	    0x2C, /* Space */
	    0x3A, /* F1 */
	    0x45, /* F12 */
	    0x4F, /* ArrowRight */
	    0x4C, /* Delete */
	    0x53, /* NumLock */
	    0x62, /* Numpad0 */
	    0x64, /* IntlBackslash (ISO) */
	    0x65, /* ContextMenu */
	    0x68, /* F13 */
	    0x73, /* F24 */
	    0x87, /* IntlRo (JIS) */
	    0x88, /* KanaMode */
	    0x89, /* IntlYen */
	    0x8A, /* Convert */
	    0x8B, /* NonConvert */
	    0x90, /* Lang1 */
	    0x91, /* Lang2 */
	};
	struct ipkvm_hid_keyboard kb;
	ipkvm_hid_keyboard_init(&kb);
	for (size_t i = 0; i < sizeof(usages); i++) {
		assert_int_equal(ipkvm_hid_keyboard_press(&kb, KB, usages[i]), 0);
		assert_true(ipkvm_hid_keyboard_is_pressed(&kb, KB, usages[i]));
		assert_true(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
		expect_boot(&kb, (const uint8_t[8]){0, 0, usages[i], 0, 0, 0, 0, 0});
		assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
		assert_int_equal(ipkvm_hid_keyboard_release(&kb, KB, usages[i]), 0);
		assert_false(ipkvm_hid_keyboard_is_pressed(&kb, KB, usages[i]));
		assert_true(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
		expect_boot(&kb, (const uint8_t[8]){0, 0, 0, 0, 0, 0, 0, 0});
	}
}

static void test_modifiers(void **state)
{
	struct ipkvm_hid_keyboard kb;
	ipkvm_hid_keyboard_init(&kb);
	/* Each modifier alone: usage 0xE0 + n is bit n, no key slot used. */
	for (int n = 0; n < 8; n++) {
		assert_int_equal(ipkvm_hid_keyboard_press(&kb, KB, (uint16_t)(0xE0 + n)), 0);
		expect_boot(&kb, (const uint8_t[8]){(uint8_t)(1u << n), 0, 0, 0, 0, 0, 0, 0});
		assert_int_equal(ipkvm_hid_keyboard_release(&kb, KB, (uint16_t)(0xE0 + n)), 0);
		expect_boot(&kb, (const uint8_t[8]){0});
	}
	/* Left and right Shift are distinct; releasing one keeps the other. */
	ipkvm_hid_keyboard_press(&kb, KB, 0xE1); /* LeftShift */
	ipkvm_hid_keyboard_press(&kb, KB, 0xE5); /* RightShift */
	ipkvm_hid_keyboard_press(&kb, KB, 0x04); /* a */
	expect_boot(&kb, (const uint8_t[8]){IPKVM_HID_MOD_LSHIFT | IPKVM_HID_MOD_RSHIFT, 0, 0x04});
	ipkvm_hid_keyboard_release(&kb, KB, 0xE1);
	expect_boot(&kb, (const uint8_t[8]){IPKVM_HID_MOD_RSHIFT, 0, 0x04});
	/* Ctrl+Alt+Delete (left ctrl, right alt = AltGr). */
	ipkvm_hid_keyboard_release_all(&kb);
	ipkvm_hid_keyboard_press(&kb, KB, 0xE0);
	ipkvm_hid_keyboard_press(&kb, KB, 0xE6);
	ipkvm_hid_keyboard_press(&kb, KB, 0x4C);
	expect_boot(&kb, (const uint8_t[8]){0x41, 0, 0x4C, 0, 0, 0, 0, 0});
	assert_true(ipkvm_hid_keyboard_is_pressed(&kb, KB, 0xE6));
	assert_false(ipkvm_hid_keyboard_is_pressed(&kb, KB, 0xE2));
}

static void test_six_keys_and_order(void **state)
{
	struct ipkvm_hid_keyboard kb;
	ipkvm_hid_keyboard_init(&kb);
	static const uint8_t keys[6] = {0x0B, 0x08, 0x0F, 0x0F, 0x12, 0x1A};
	/* h e l (l again is a repeat: ignored) o w */
	for (int i = 0; i < 6; i++)
		assert_int_equal(ipkvm_hid_keyboard_press(&kb, KB, keys[i]), 0);
	expect_boot(&kb, (const uint8_t[8]){0, 0, 0x0B, 0x08, 0x0F, 0x12, 0x1A, 0});
	ipkvm_hid_keyboard_press(&kb, KB, 0x15); /* r: sixth distinct key */
	expect_boot(&kb, (const uint8_t[8]){0, 0, 0x0B, 0x08, 0x0F, 0x12, 0x1A, 0x15});
	/* Releasing one in the middle closes the gap, order kept. */
	ipkvm_hid_keyboard_release(&kb, KB, 0x0F);
	expect_boot(&kb, (const uint8_t[8]){0, 0, 0x0B, 0x08, 0x12, 0x1A, 0x15, 0});
	/* Releasing a key that is not held changes nothing. */
	assert_int_equal(ipkvm_hid_keyboard_release(&kb, KB, 0x04), 0);
	assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
}

static void test_phantom(void **state)
{
	struct ipkvm_hid_keyboard kb;
	ipkvm_hid_keyboard_init(&kb);
	ipkvm_hid_keyboard_press(&kb, KB, 0xE0); /* LeftCtrl */
	ipkvm_hid_keyboard_press(&kb, KB, 0xE5); /* RightShift */
	for (uint16_t u = 0x04; u < 0x04 + 6; u++)
		ipkvm_hid_keyboard_press(&kb, KB, u);
	expect_boot(&kb, (const uint8_t[8]){0x21, 0, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09});
	/* Seventh key: phantom state, modifiers still reported. */
	ipkvm_hid_keyboard_press(&kb, KB, 0x0A);
	assert_true(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
	expect_boot(&kb, (const uint8_t[8]){0x21, 0, 1, 1, 1, 1, 1, 1});
	/* An eighth key: still phantom, identical report, so nothing to send. */
	ipkvm_hid_keyboard_press(&kb, KB, 0x0B);
	assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
	/* Modifier change during phantom state is reported. */
	ipkvm_hid_keyboard_release(&kb, KB, 0xE0);
	expect_boot(&kb, (const uint8_t[8]){0x20, 0, 1, 1, 1, 1, 1, 1});
	/* Back to seven: still phantom. */
	ipkvm_hid_keyboard_release(&kb, KB, 0x05);
	expect_boot(&kb, (const uint8_t[8]){0x20, 0, 1, 1, 1, 1, 1, 1});
	/* Back to six: the normal report of the six still held, in press order. */
	ipkvm_hid_keyboard_release(&kb, KB, 0x04);
	expect_boot(&kb, (const uint8_t[8]){0x20, 0, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B});
	ipkvm_hid_keyboard_release(&kb, KB, 0x0B);
	expect_boot(&kb, (const uint8_t[8]){0x20, 0, 0x06, 0x07, 0x08, 0x09, 0x0A, 0});
}

static void test_release_all(void **state)
{
	struct ipkvm_hid_keyboard kb;
	uint8_t c[3], s[2];
	ipkvm_hid_keyboard_init(&kb);
	ipkvm_hid_keyboard_press(&kb, KB, 0xE3);
	for (uint16_t u = 0x1E; u < 0x1E + 9; u++)
		ipkvm_hid_keyboard_press(&kb, KB, u);
	ipkvm_hid_keyboard_press(&kb, CC, 0x00E9);
	ipkvm_hid_keyboard_press(&kb, GD, IPKVM_HID_USAGE_SYS_SLEEP);
	expect_boot(&kb, (const uint8_t[8]){0x08, 0, 1, 1, 1, 1, 1, 1});
	ipkvm_hid_keyboard_consumer_report(&kb, c);
	ipkvm_hid_keyboard_system_report(&kb, s);
	assert_true(ipkvm_hid_keyboard_any_pressed(&kb));

	ipkvm_hid_keyboard_release_all(&kb);
	assert_false(ipkvm_hid_keyboard_any_pressed(&kb));
	/* Every report changed back to idle and must be sent. */
	for (int r = 0; r < IPKVM_HID_REPORT_COUNT_; r++)
		if (r != IPKVM_HID_REPORT_NKRO) /* never taken, still idle */
			assert_true(ipkvm_hid_keyboard_changed(&kb, r));
	expect_boot(&kb, (const uint8_t[8]){0});
	assert_int_equal(ipkvm_hid_keyboard_consumer_report(&kb, c), 3);
	assert_memory_equal(c, ((const uint8_t[3]){0x01, 0x00, 0x00}), 3);
	assert_int_equal(ipkvm_hid_keyboard_system_report(&kb, s), 2);
	assert_memory_equal(s, ((const uint8_t[2]){0x02, 0x00}), 2);
	/* Release all again: nothing new to send. */
	ipkvm_hid_keyboard_release_all(&kb);
	for (int r = 0; r < IPKVM_HID_REPORT_COUNT_; r++)
		assert_false(ipkvm_hid_keyboard_changed(&kb, r));
}

static void test_nkro(void **state)
{
	struct ipkvm_hid_keyboard kb;
	uint8_t out[IPKVM_HID_NKRO_REPORT_LEN], want[IPKVM_HID_NKRO_REPORT_LEN];
	ipkvm_hid_keyboard_init(&kb);

	assert_int_equal(ipkvm_hid_keyboard_nkro_report(&kb, out), 29);
	memset(want, 0, sizeof(want));
	assert_memory_equal(out, want, 29);

	/* a (0x04), z (0x1D), Enter (0x28), IntlYen (0x89), Lang2 (0x91), 0xDF: 10 keys. */
	static const uint8_t keys[] = {0x04, 0x1D, 0x28, 0x89, 0x91, 0xDF, 0x05, 0x06, 0x07, 0x08};
	ipkvm_hid_keyboard_press(&kb, KB, 0xE2); /* LeftAlt */
	ipkvm_hid_keyboard_press(&kb, KB, 0xE7); /* RightGUI */
	for (size_t i = 0; i < sizeof(keys); i++)
		ipkvm_hid_keyboard_press(&kb, KB, keys[i]);
	assert_true(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_NKRO));
	ipkvm_hid_keyboard_nkro_report(&kb, out);
	memset(want, 0, sizeof(want));
	want[0] = 0x84;
	want[1 + 0x04 / 8] = 0xF0; /* 0x04..0x07: bits 4..7 of byte 1 */
	want[1 + 0x08 / 8] = 0x01; /* 0x08: bit 0 of byte 2 */
	want[1 + 0x1D / 8] = 0x20; /* 0x1D: bit 5 of byte 4 */
	want[1 + 0x28 / 8] = 0x01; /* 0x28: bit 0 of byte 6 */
	want[1 + 0x89 / 8] = 0x02; /* 0x89: bit 1 of byte 18 */
	want[1 + 0x91 / 8] = 0x02; /* 0x91: bit 1 of byte 19 */
	want[1 + 0xDF / 8] = 0x80; /* 0xDF: bit 7 of byte 28 */
	assert_memory_equal(out, want, 29);
	assert_int_equal(want[28], 0x80);
	assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_NKRO));
	/* The boot report of the same state is phantom (10 keys). */
	expect_boot(&kb, (const uint8_t[8]){0x84, 0, 1, 1, 1, 1, 1, 1});

	ipkvm_hid_keyboard_release(&kb, KB, 0x06);
	ipkvm_hid_keyboard_nkro_report(&kb, out);
	want[1] = 0xB0;
	assert_memory_equal(out, want, 29);
}

static void test_consumer(void **state)
{
	struct ipkvm_hid_keyboard kb;
	uint8_t c[3];
	ipkvm_hid_keyboard_init(&kb);

	assert_int_equal(ipkvm_hid_keyboard_consumer_report(&kb, c), 3);
	assert_memory_equal(c, ((const uint8_t[3]){0x01, 0, 0}), 3);
	/* Volume Up 0x00E9. */
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, CC, 0x00E9), 0);
	assert_true(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_CONSUMER));
	assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
	ipkvm_hid_keyboard_consumer_report(&kb, c);
	assert_memory_equal(c, ((const uint8_t[3]){0x01, 0xE9, 0x00}), 3);
	/* AC Home 0x0223 on top: most recent wins, little endian. */
	ipkvm_hid_keyboard_press(&kb, CC, 0x0223);
	ipkvm_hid_keyboard_consumer_report(&kb, c);
	assert_memory_equal(c, ((const uint8_t[3]){0x01, 0x23, 0x02}), 3);
	/* Releasing it brings back the one still held. */
	ipkvm_hid_keyboard_release(&kb, CC, 0x0223);
	ipkvm_hid_keyboard_consumer_report(&kb, c);
	assert_memory_equal(c, ((const uint8_t[3]){0x01, 0xE9, 0x00}), 3);
	/* Play/Pause 0x00CD, then releasing the older one changes nothing visible. */
	ipkvm_hid_keyboard_press(&kb, CC, 0x00CD);
	ipkvm_hid_keyboard_consumer_report(&kb, c);
	assert_memory_equal(c, ((const uint8_t[3]){0x01, 0xCD, 0x00}), 3);
	ipkvm_hid_keyboard_release(&kb, CC, 0x00E9);
	assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_CONSUMER));
	ipkvm_hid_keyboard_release(&kb, CC, 0x00CD);
	ipkvm_hid_keyboard_consumer_report(&kb, c);
	assert_memory_equal(c, ((const uint8_t[3]){0x01, 0x00, 0x00}), 3);
	/* Bounds: at most IPKVM_HID_CONSUMER_HELD_MAX held; usage 0 and > 0xFFF rejected. */
	for (uint16_t u = 1; u <= IPKVM_HID_CONSUMER_HELD_MAX; u++)
		assert_int_equal(ipkvm_hid_keyboard_press(&kb, CC, u), 0);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, CC, 0x0100), -ENOSPC);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, CC, 0), -EINVAL);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, CC, 0x1000), -EINVAL);
	/* Consumer keys do not touch the keyboard report. */
	expect_boot(&kb, (const uint8_t[8]){0});
}

static void test_system(void **state)
{
	struct ipkvm_hid_keyboard kb;
	uint8_t s[2];
	ipkvm_hid_keyboard_init(&kb);
	static const struct {
		uint16_t usage;
		uint8_t bit;
	} cases[] = {{0x81, 0x01}, {0x82, 0x02}, {0x83, 0x04}};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(ipkvm_hid_keyboard_press(&kb, GD, cases[i].usage), 0);
		assert_true(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_SYSTEM));
		assert_int_equal(ipkvm_hid_keyboard_system_report(&kb, s), 2);
		assert_memory_equal(s, ((const uint8_t[2]){0x02, cases[i].bit}), 2);
		assert_true(ipkvm_hid_keyboard_is_pressed(&kb, GD, cases[i].usage));
		ipkvm_hid_keyboard_release(&kb, GD, cases[i].usage);
		ipkvm_hid_keyboard_system_report(&kb, s);
		assert_memory_equal(s, ((const uint8_t[2]){0x02, 0x00}), 2);
	}
	ipkvm_hid_keyboard_press(&kb, GD, 0x81);
	ipkvm_hid_keyboard_press(&kb, GD, 0x83);
	ipkvm_hid_keyboard_system_report(&kb, s);
	assert_memory_equal(s, ((const uint8_t[2]){0x02, 0x05}), 2);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, GD, 0x80), -EINVAL);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, GD, 0x84), -EINVAL);
}

static void test_invalid(void **state)
{
	struct ipkvm_hid_keyboard kb;
	ipkvm_hid_keyboard_init(&kb);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, KB, 0x00), -EINVAL);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, KB, 0x01), -EINVAL);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, KB, 0x03), -EINVAL);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, KB, 0xE8), -EINVAL);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, KB, 0x104), -EINVAL);
	assert_int_equal(ipkvm_hid_keyboard_press(&kb, 0x09, 0x01), -EINVAL);
	assert_int_equal(ipkvm_hid_keyboard_release(&kb, 0x08, 0x01), -EINVAL);
	assert_false(ipkvm_hid_keyboard_any_pressed(&kb));
	assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
	/* Every valid keyboard usage at once: no overflow, bitmap full, boot phantom. */
	for (uint16_t u = 0x04; u <= 0xE7; u++)
		assert_int_equal(ipkvm_hid_keyboard_press(&kb, KB, u), 0);
	assert_int_equal(kb.nkeys, 0xE0 - 0x04);
	expect_boot(&kb, (const uint8_t[8]){0xFF, 0, 1, 1, 1, 1, 1, 1});
	uint8_t n[29];
	ipkvm_hid_keyboard_nkro_report(&kb, n);
	assert_int_equal(n[0], 0xFF);
	assert_int_equal(n[1], 0xF0);
	for (int i = 2; i < 29; i++)
		assert_int_equal(n[i], 0xFF);
}

static void test_invalidate(void **state)
{
	struct ipkvm_hid_keyboard kb;
	uint8_t b[8];
	ipkvm_hid_keyboard_init(&kb);
	ipkvm_hid_keyboard_press(&kb, KB, 0x04);
	ipkvm_hid_keyboard_boot_report(&kb, b);
	assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
	ipkvm_hid_keyboard_invalidate(&kb);
	for (int r = 0; r < IPKVM_HID_REPORT_COUNT_; r++)
		assert_true(ipkvm_hid_keyboard_changed(&kb, r));
	expect_boot(&kb, (const uint8_t[8]){0, 0, 0x04});
	assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
	assert_true(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_SYSTEM));
	/* A press and release between two takes is invisible (documented). */
	ipkvm_hid_keyboard_press(&kb, KB, 0x05);
	ipkvm_hid_keyboard_release(&kb, KB, 0x05);
	assert_false(ipkvm_hid_keyboard_changed(&kb, IPKVM_HID_REPORT_BOOT));
	assert_false(ipkvm_hid_keyboard_changed(&kb, (enum ipkvm_hid_kbd_report)99));
}

static void test_leds(void **state)
{
	struct ipkvm_hid_leds l;
	memset(&l, 0xFF, sizeof(l));
	ipkvm_hid_leds_parse(0x00, &l);
	assert_false(l.num || l.caps || l.scroll || l.compose || l.kana);
	ipkvm_hid_leds_parse(0x01, &l);
	assert_true(l.num);
	assert_false(l.caps || l.scroll || l.compose || l.kana);
	ipkvm_hid_leds_parse(0x02, &l);
	assert_true(l.caps);
	assert_false(l.num || l.scroll || l.compose || l.kana);
	ipkvm_hid_leds_parse(0x04, &l);
	assert_true(l.scroll);
	assert_false(l.num || l.caps || l.compose || l.kana);
	ipkvm_hid_leds_parse(0x08, &l);
	assert_true(l.compose);
	assert_false(l.num || l.caps || l.scroll || l.kana);
	ipkvm_hid_leds_parse(0x10, &l);
	assert_true(l.kana);
	assert_false(l.num || l.caps || l.scroll || l.compose);
	ipkvm_hid_leds_parse(0x1F, &l);
	assert_true(l.num && l.caps && l.scroll && l.compose && l.kana);
	/* Padding bits are ignored. */
	ipkvm_hid_leds_parse(0xE2, &l);
	assert_true(l.caps);
	assert_false(l.num || l.scroll || l.compose || l.kana);
}

/* Walks a descriptor's short items: checks every item is complete and the collections nest. */
static void check_items(const uint8_t *d, size_t len)
{
	size_t i = 0;
	int depth = 0;
	while (i < len) {
		static const size_t sizes[4] = {0, 1, 2, 4};
		uint8_t prefix = d[i];
		assert_int_not_equal(prefix, 0xFE); /* no long items */
		size_t n = sizes[prefix & 3];
		if ((prefix & 0xFC) == 0xA0)
			depth++;
		if ((prefix & 0xFC) == 0xC0)
			depth--;
		assert_true(depth >= 0);
		i += 1 + n;
	}
	assert_int_equal(i, len);
	assert_int_equal(depth, 0);
}

static void test_descriptors(void **state)
{
	assert_int_equal(ipkvm_hid_desc_boot_keyboard_len, 64);
	assert_memory_equal(ipkvm_hid_desc_boot_keyboard,
			    ((const uint8_t[]){0x05, 0x01, 0x09, 0x06}), 4);
	assert_int_equal(ipkvm_hid_desc_boot_keyboard[63], 0xC0);
	check_items(ipkvm_hid_desc_boot_keyboard, ipkvm_hid_desc_boot_keyboard_len);

	assert_int_equal(ipkvm_hid_desc_nkro_keyboard_len, 57);
	assert_memory_equal(ipkvm_hid_desc_nkro_keyboard,
			    ((const uint8_t[]){0x05, 0x01, 0x09, 0x06}), 4);
	check_items(ipkvm_hid_desc_nkro_keyboard, ipkvm_hid_desc_nkro_keyboard_len);

	assert_int_equal(ipkvm_hid_desc_consumer_system_len, 52);
	assert_memory_equal(ipkvm_hid_desc_consumer_system,
			    ((const uint8_t[]){0x05, 0x0C, 0x09, 0x01, 0xA1, 0x01, 0x85, 0x01}), 8);
	check_items(ipkvm_hid_desc_consumer_system, ipkvm_hid_desc_consumer_system_len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle),	cmocka_unit_test(test_key_classes),
	    cmocka_unit_test(test_modifiers),	cmocka_unit_test(test_six_keys_and_order),
	    cmocka_unit_test(test_phantom),	cmocka_unit_test(test_release_all),
	    cmocka_unit_test(test_nkro),	cmocka_unit_test(test_consumer),
	    cmocka_unit_test(test_system),	cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_invalidate),	cmocka_unit_test(test_leds),
	    cmocka_unit_test(test_descriptors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
