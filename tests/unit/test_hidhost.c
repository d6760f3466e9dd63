/*
 * Unit tests for target/hidhost: the virtual target's USB host view of HID. Every report kind
 * is fed both as hand-written reference bytes and as bytes made by hid/keyboard.c and
 * hid/mouse.c, and the resulting host events are checked exactly: key down/up order, typed
 * text on the us and jp layouts, Caps/Num Lock LEDs and their output report callback, the
 * phantom state, consumer/system presses, absolute scaling, relative clamping, wheel, and
 * -EINVAL for malformed reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hid/keyboard.h"
#include "hid/mouse.h"
#include "target/hidhost.h"

#define W 1920
#define H 1080

/* Everything the callbacks saw. */
struct rec {
	char text[256];
	size_t ntext;
	struct {
		uint8_t usage;
		bool down;
	} keys[64];
	size_t nkeys;
	uint8_t leds[16];
	size_t nleds;
	uint16_t cons[8];
	bool cons_down[8];
	size_t ncons;
	uint8_t sys[8];
	bool sys_down[8];
	size_t nsys;
	int px, py, pbuttons, npointer;
	int wheel, pan, nwheel;
};

struct fx {
	struct rec rec;
	struct ipkvm_hidhost *h;
	struct ipkvm_hid_keyboard kb;
};

static void on_key(uint8_t usage, bool down, void *ctx)
{
	struct rec *r = ctx;
	if (r->nkeys < 64) {
		r->keys[r->nkeys].usage = usage;
		r->keys[r->nkeys].down = down;
		r->nkeys++;
	}
}

static void on_char(uint32_t c, void *ctx)
{
	struct rec *r = ctx;
	assert_true(c < 0x80);
	if (r->ntext < sizeof(r->text) - 1)
		r->text[r->ntext++] = (char)c;
}

static void on_leds(uint8_t leds, void *ctx)
{
	struct rec *r = ctx;
	if (r->nleds < 16)
		r->leds[r->nleds++] = leds;
}

static void on_consumer(uint16_t usage, bool down, void *ctx)
{
	struct rec *r = ctx;
	if (r->ncons < 8) {
		r->cons[r->ncons] = usage;
		r->cons_down[r->ncons++] = down;
	}
}

static void on_system(uint8_t usage, bool down, void *ctx)
{
	struct rec *r = ctx;
	if (r->nsys < 8) {
		r->sys[r->nsys] = usage;
		r->sys_down[r->nsys++] = down;
	}
}

static void on_pointer(int x, int y, uint8_t buttons, void *ctx)
{
	struct rec *r = ctx;
	r->px = x;
	r->py = y;
	r->pbuttons = buttons;
	r->npointer++;
}

static void on_wheel(int wheel, int pan, void *ctx)
{
	struct rec *r = ctx;
	r->wheel += wheel;
	r->pan += pan;
	r->nwheel++;
}

static struct fx *fx_new(enum ipkvm_hidhost_layout layout, uint8_t leds)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	struct ipkvm_hidhost_config cfg = {
	    .width = W,
	    .height = H,
	    .layout = layout,
	    .leds = leds,
	    .on_key = on_key,
	    .on_char = on_char,
	    .on_leds = on_leds,
	    .on_consumer = on_consumer,
	    .on_system = on_system,
	    .on_pointer = on_pointer,
	    .on_wheel = on_wheel,
	    .ctx = &f->rec,
	};
	f->h = ipkvm_hidhost_create(&cfg);
	assert_non_null(f->h);
	ipkvm_hid_keyboard_init(&f->kb);
	return f;
}

static void fx_free(struct fx *f)
{
	ipkvm_hidhost_destroy(f->h);
	free(f);
}

static void feed_kbd(struct fx *f, const uint8_t r[8])
{
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_KEYBOARD, r, 8), 0);
}

#define KBD(...) feed_kbd(f, (const uint8_t[8]){__VA_ARGS__})

/* Press/release through the HID layer's keyboard model and send its boot report. */
static void model(struct fx *f, uint16_t usage, bool down)
{
	uint8_t r[IPKVM_HID_BOOT_REPORT_LEN];
	if (down)
		assert_int_equal(ipkvm_hid_keyboard_press(&f->kb, IPKVM_HID_PAGE_KEYBOARD, usage),
				 0);
	else
		assert_int_equal(ipkvm_hid_keyboard_release(&f->kb, IPKVM_HID_PAGE_KEYBOARD, usage),
				 0);
	assert_int_equal(ipkvm_hid_keyboard_boot_report(&f->kb, r), 8);
	feed_kbd(f, r);
}

static void tap(struct fx *f, uint16_t usage, bool shift)
{
	if (shift)
		model(f, 0xE1, true);
	model(f, usage, true);
	model(f, usage, false);
	if (shift)
		model(f, 0xE1, false);
}

/* US keycaps, test side only: the characters used by the tests below. */
static void us_usage(char c, uint16_t *usage, bool *shift)
{
	*shift = false;
	if (c >= 'a' && c <= 'z') {
		*usage = (uint16_t)(0x04 + c - 'a');
	} else if (c >= 'A' && c <= 'Z') {
		*usage = (uint16_t)(0x04 + c - 'A');
		*shift = true;
	} else if (c >= '1' && c <= '9') {
		*usage = (uint16_t)(0x1E + c - '1');
	} else if (c == ' ') {
		*usage = 0x2C;
	} else if (c == ',') {
		*usage = 0x36;
	} else if (c == '!') {
		*usage = 0x1E;
		*shift = true;
	} else {
		fail_msg("no test usage for '%c'", c);
	}
}

static void type_us(struct fx *f, const char *s)
{
	for (; *s; s++) {
		uint16_t u = 0;
		bool shift = false;
		us_usage(*s, &u, &shift);
		tap(f, u, shift);
	}
}

static void test_hello_world_model(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	type_us(f, "Hello, World!");
	assert_string_equal(f->rec.text, "Hello, World!");
	assert_int_equal(f->rec.nleds, 0);
	assert_int_equal(ipkvm_hidhost_modifiers(f->h), 0);
	assert_false(ipkvm_hidhost_key_down(f->h, 0x0B));
	/* Enter and Backspace. */
	tap(f, 0x28, false);
	tap(f, 0x2A, false);
	assert_string_equal(f->rec.text, "Hello, World!\n\b");
	fx_free(f);
}

static void test_key_events_reference(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	/* LeftShift + A + B at once, then A released, then all released. */
	KBD(0x02, 0, 0x04, 0x05, 0, 0, 0, 0);
	assert_int_equal(f->rec.nkeys, 3);
	assert_int_equal(f->rec.keys[0].usage, 0xE1);
	assert_true(f->rec.keys[0].down);
	assert_int_equal(f->rec.keys[1].usage, 0x04);
	assert_int_equal(f->rec.keys[2].usage, 0x05);
	assert_string_equal(f->rec.text, "AB");
	assert_true(ipkvm_hidhost_key_down(f->h, 0x04));
	assert_true(ipkvm_hidhost_key_down(f->h, 0xE1));
	KBD(0x02, 0, 0x05, 0, 0, 0, 0, 0);
	assert_int_equal(f->rec.nkeys, 4);
	assert_int_equal(f->rec.keys[3].usage, 0x04);
	assert_false(f->rec.keys[3].down);
	/* Same report again: no events (reports carry state). */
	KBD(0x02, 0, 0x05, 0, 0, 0, 0, 0);
	assert_int_equal(f->rec.nkeys, 4);
	/* Shift released and c pressed in one report: modifiers first -> lower case. */
	KBD(0x00, 0, 0x05, 0x06, 0, 0, 0, 0);
	assert_int_equal(f->rec.nkeys, 6);
	assert_int_equal(f->rec.keys[4].usage, 0xE1);
	assert_false(f->rec.keys[4].down);
	assert_int_equal(f->rec.keys[5].usage, 0x06);
	assert_string_equal(f->rec.text, "ABc");
	KBD(0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(f->rec.nkeys, 8);
	assert_int_equal(ipkvm_hidhost_modifiers(f->h), 0);
	/* Ctrl+C types nothing but is a key event; RightShift also shifts. */
	KBD(0x01, 0, 0x06, 0, 0, 0, 0, 0);
	KBD(0x20, 0, 0x1F, 0, 0, 0, 0, 0);
	assert_string_equal(f->rec.text, "ABc@");
	fx_free(f);
}

static void test_caps_lock_led(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	tap(f, 0x39, false); /* CapsLock via the model */
	assert_int_equal(f->rec.nleds, 1);
	assert_int_equal(f->rec.leds[0], 0x02);
	assert_int_equal(ipkvm_hidhost_leds(f->h), 0x02);
	type_us(f, "abC1");
	/* Caps: letters inverted by Shift, digits unaffected. */
	assert_string_equal(f->rec.text, "ABc1");
	/* Holding Caps down across reports toggles once; release does nothing. */
	KBD(0, 0, 0x39, 0, 0, 0, 0, 0);
	KBD(0, 0, 0x39, 0x04, 0, 0, 0, 0);
	KBD(0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(f->rec.nleds, 2);
	assert_int_equal(f->rec.leds[1], 0x00);
	assert_string_equal(f->rec.text, "ABc1a");
	/* Num Lock and Scroll Lock bits. */
	KBD(0, 0, 0x53, 0, 0, 0, 0, 0);
	KBD(0, 0, 0x47, 0, 0, 0, 0, 0);
	KBD(0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(f->rec.nleds, 4);
	assert_int_equal(f->rec.leds[2], 0x01);
	assert_int_equal(f->rec.leds[3], 0x05);
	assert_int_equal(ipkvm_hidhost_leds(f->h), 0x05);
	fx_free(f);
}

static void test_keypad_numlock(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	tap(f, 0x59, false); /* KP1, Num Lock off: nothing */
	tap(f, 0x57, false); /* KP+ always */
	tap(f, 0x53, false); /* Num Lock on */
	tap(f, 0x59, false);
	tap(f, 0x62, false);
	tap(f, 0x63, false);
	tap(f, 0x61, true); /* Shift+KP9 with Num Lock: navigation, no digit */
	tap(f, 0x58, false);
	assert_string_equal(f->rec.text, "+10.\n");
	assert_int_equal(f->rec.nleds, 1);
	assert_int_equal(f->rec.leds[0], 0x01);
	fx_free(f);

	/* Initial LED state from the config, without a callback. */
	f = fx_new(IPKVM_HIDHOST_LAYOUT_US, IPKVM_HIDHOST_LED_NUM);
	tap(f, 0x5A, false);
	assert_string_equal(f->rec.text, "2");
	assert_int_equal(f->rec.nleds, 0);
	fx_free(f);
}

static void test_jp_layout(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_JP, 0);
	/* Through the keyboard model: IntlRo, Shift+IntlRo, Shift+IntlYen, BracketLeft,
	 * BracketRight, Backslash. */
	tap(f, 0x87, false);
	tap(f, 0x87, true);
	tap(f, 0x89, true);
	tap(f, 0x2F, false);
	tap(f, 0x30, false);
	tap(f, 0x31, false);
	assert_string_equal(f->rec.text, "\\_|@[]");
	/* Hand-written: Equal = ^, Shift+Equal = ~, Quote = :, Shift+Quote = *, Shift+2 = ",
	 * Shift+Semicolon = +, Shift+BracketLeft = `, IntlYen = \, NonUS# = ]. */
	f->rec.ntext = 0;
	memset(f->rec.text, 0, sizeof(f->rec.text));
	KBD(0, 0, 0x2E, 0, 0, 0, 0, 0);
	KBD(0x02, 0, 0x2E, 0, 0, 0, 0, 0);
	KBD(0x02, 0, 0, 0, 0, 0, 0, 0);
	KBD(0x02, 0, 0x2E, 0, 0, 0, 0, 0); /* Shift held: ~ */
	KBD(0, 0, 0x34, 0, 0, 0, 0, 0);
	KBD(0x02, 0, 0x34, 0, 0, 0, 0, 0);
	KBD(0x02, 0, 0, 0, 0, 0, 0, 0);
	KBD(0x02, 0, 0x34, 0, 0, 0, 0, 0);
	KBD(0x02, 0, 0x1F, 0, 0, 0, 0, 0);
	KBD(0x02, 0, 0x33, 0, 0, 0, 0, 0);
	KBD(0x02, 0, 0x2F, 0, 0, 0, 0, 0);
	KBD(0, 0, 0x89, 0, 0, 0, 0, 0);
	KBD(0, 0, 0x32, 0, 0, 0, 0, 0);
	KBD(0, 0, 0, 0, 0, 0, 0, 0);
	assert_string_equal(f->rec.text, "^~:*\"+`\\]");
	/* The same keys on us; IntlRo/IntlYen type nothing there. */
	assert_int_equal(ipkvm_hidhost_set_layout(f->h, IPKVM_HIDHOST_LAYOUT_US), 0);
	f->rec.ntext = 0;
	memset(f->rec.text, 0, sizeof(f->rec.text));
	tap(f, 0x87, false);
	tap(f, 0x89, true);
	tap(f, 0x2F, false);
	tap(f, 0x30, false);
	tap(f, 0x31, false);
	tap(f, 0x2E, true);
	assert_string_equal(f->rec.text, "[]\\+");
	assert_int_equal(ipkvm_hidhost_set_layout(f->h, (enum ipkvm_hidhost_layout)7), -EINVAL);
	fx_free(f);
}

static void test_layout_names(void **state)
{
	enum ipkvm_hidhost_layout l = IPKVM_HIDHOST_LAYOUT_US;
	assert_int_equal(ipkvm_hidhost_layout_parse("jp", &l), 0);
	assert_int_equal(l, IPKVM_HIDHOST_LAYOUT_JP);
	assert_int_equal(ipkvm_hidhost_layout_parse("us", &l), 0);
	assert_int_equal(l, IPKVM_HIDHOST_LAYOUT_US);
	assert_int_equal(ipkvm_hidhost_layout_parse("de", &l), -EINVAL);
	assert_int_equal(ipkvm_hidhost_layout_parse(NULL, &l), -EINVAL);
	assert_string_equal(ipkvm_hidhost_layout_name(IPKVM_HIDHOST_LAYOUT_JP), "jp");
	assert_string_equal(ipkvm_hidhost_layout_name(IPKVM_HIDHOST_LAYOUT_US), "us");
}

static void test_phantom(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	/* Hand-written: a and b down, then phantom with Shift: keys stay, only Shift changes. */
	KBD(0, 0, 0x04, 0x05, 0, 0, 0, 0);
	size_t n = f->rec.nkeys;
	KBD(0x02, 0, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01);
	assert_int_equal(f->rec.nkeys, n + 1);
	assert_int_equal(f->rec.keys[n].usage, 0xE1);
	assert_true(ipkvm_hidhost_key_down(f->h, 0x04));
	assert_true(ipkvm_hidhost_key_down(f->h, 0x05));
	assert_string_equal(f->rec.text, "ab");
	KBD(0x00, 0, 0x04, 0x05, 0, 0, 0, 0);
	assert_string_equal(f->rec.text, "ab"); /* nothing typed twice */
	KBD(0, 0, 0, 0, 0, 0, 0, 0);
	fx_free(f);

	/* Through the model: 7 keys held -> phantom; releasing one gives 6 keys again, the 7th
	 * (never seen) appears as a fresh press then. */
	f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	for (uint16_t u = 0x04; u < 0x04 + 7; u++)
		model(f, u, true);
	assert_string_equal(f->rec.text, "abcdef");
	assert_false(ipkvm_hidhost_key_down(f->h, 0x0A));
	model(f, 0x04, false);
	assert_string_equal(f->rec.text, "abcdefg");
	assert_false(ipkvm_hidhost_key_down(f->h, 0x04));
	assert_true(ipkvm_hidhost_key_down(f->h, 0x0A));
	ipkvm_hid_keyboard_release_all(&f->kb);
	uint8_t r[8];
	ipkvm_hid_keyboard_boot_report(&f->kb, r);
	feed_kbd(f, r);
	for (uint8_t u = 0x04; u < 0x0B; u++)
		assert_false(ipkvm_hidhost_key_down(f->h, u));
	fx_free(f);
}

static void test_consumer_system(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	/* Hand-written: Volume Up (0xE9) press and release; Power press/release. */
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_CONSUMER_SYSTEM,
					      (const uint8_t[]){0x01, 0xE9, 0x00}, 3),
			 0);
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_CONSUMER_SYSTEM,
					      (const uint8_t[]){0x01, 0x00, 0x00}, 3),
			 0);
	assert_int_equal(f->rec.ncons, 2);
	assert_int_equal(f->rec.cons[0], 0xE9);
	assert_true(f->rec.cons_down[0]);
	assert_int_equal(f->rec.cons[1], 0xE9);
	assert_false(f->rec.cons_down[1]);
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_CONSUMER_SYSTEM,
					      (const uint8_t[]){0x02, 0x01}, 2),
			 0);
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_CONSUMER_SYSTEM,
					      (const uint8_t[]){0x02, 0x00}, 2),
			 0);
	assert_int_equal(f->rec.nsys, 2);
	assert_int_equal(f->rec.sys[0], 0x81);
	assert_true(f->rec.sys_down[0]);
	assert_false(f->rec.sys_down[1]);

	/* Through the model: AC Home (0x0223, 16-bit usage) then Mute (0xE2) while held. */
	uint8_t r[3], s[2];
	ipkvm_hid_keyboard_press(&f->kb, IPKVM_HID_PAGE_CONSUMER, 0x0223);
	assert_int_equal(ipkvm_hid_keyboard_consumer_report(&f->kb, r), 3);
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_CONSUMER_SYSTEM, r, 3), 0);
	ipkvm_hid_keyboard_press(&f->kb, IPKVM_HID_PAGE_CONSUMER, 0xE2);
	ipkvm_hid_keyboard_consumer_report(&f->kb, r);
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_CONSUMER_SYSTEM, r, 3), 0);
	assert_int_equal(f->rec.cons[2], 0x0223);
	assert_true(f->rec.cons_down[2]);
	/* The array holds one usage: Mute replaces Home (Home up, Mute down). */
	assert_int_equal(f->rec.ncons, 5);
	assert_int_equal(f->rec.cons[3], 0x0223);
	assert_false(f->rec.cons_down[3]);
	assert_int_equal(f->rec.cons[4], 0xE2);
	assert_true(f->rec.cons_down[4]);
	ipkvm_hid_keyboard_press(&f->kb, IPKVM_HID_PAGE_DESKTOP, IPKVM_HID_USAGE_SYS_SLEEP);
	assert_int_equal(ipkvm_hid_keyboard_system_report(&f->kb, s), 2);
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_CONSUMER_SYSTEM, s, 2), 0);
	assert_int_equal(f->rec.nsys, 3);
	assert_int_equal(f->rec.sys[2], 0x82);
	assert_true(f->rec.sys_down[2]);
	fx_free(f);
}

static void feed_abs(struct fx *f, uint8_t buttons, uint16_t x, uint16_t y, int wheel)
{
	uint8_t r[IPKVM_HID_ABS_REPORT_LEN];
	assert_int_equal(ipkvm_hid_abs_report(buttons, x, y, wheel, 0, r), 7);
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_ABS, r, 7), 0);
}

static void test_absolute(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	int x, y;
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, (W - 1) / 2);
	assert_int_equal(y, (H - 1) / 2);
	/* Hand-written reference bytes. */
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_ABS,
					      (const uint8_t[]){0, 0, 0, 0, 0, 0, 0}, 7),
			 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, 0);
	assert_int_equal(y, 0);
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_ABS,
					      (const uint8_t[]){0x01, 0xFF, 0x7F, 0xFF, 0x7F, 0, 0},
					      7),
			 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, W - 1);
	assert_int_equal(y, H - 1);
	assert_int_equal(ipkvm_hidhost_buttons(f->h), 0x01);
	assert_int_equal(f->rec.px, W - 1);
	assert_int_equal(f->rec.pbuttons, 0x01);
	/* Beyond the logical maximum clamps to the edge. */
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_ABS,
					      (const uint8_t[]){0, 0xFF, 0xFF, 0x00, 0x80, 0, 0},
					      7),
			 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, W - 1);
	assert_int_equal(y, H - 1);

	/* Through the model: the (0.25, 0.75) point as the HID layer maps it from a video. */
	uint16_t ax, ay;
	assert_int_equal(
	    ipkvm_hid_abs_from_video(0.25 * (W - 1), 0.75 * (H - 1), W, H, W, H, &ax, &ay), 0);
	feed_abs(f, IPKVM_HID_BTN_RIGHT, ax, ay, 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_true(abs(x - (int)(0.25 * (W - 1) + 0.5)) <= 1);
	assert_true(abs(y - (int)(0.75 * (H - 1) + 0.5)) <= 1);
	assert_int_equal(ipkvm_hidhost_buttons(f->h), IPKVM_HID_BTN_RIGHT);
	feed_abs(f, 0, (uint16_t)(0.25 * 32767 + 0.5), (uint16_t)(0.75 * 32767 + 0.5), 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_true(abs(x - (int)(0.25 * (W - 1) + 0.5)) <= 1);
	assert_true(abs(y - (int)(0.75 * (H - 1) + 0.5)) <= 1);
	/* Every absolute value maps monotonically into the screen; exact corners. */
	int last = -1;
	for (unsigned v = 0; v <= 32767; v += 7) {
		feed_abs(f, 0, (uint16_t)v, 0, 0);
		ipkvm_hidhost_pointer(f->h, &x, &y);
		assert_true(x >= last && x <= W - 1);
		last = x;
	}
	feed_abs(f, 0, 32767, 16384, 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, W - 1);
	assert_int_equal(y, (H - 1) / 2 + 1); /* 16384 * 1079 / 32767 = 539.52 -> 540 */
	/* Screen change: exact corners of the new size, pointer clamped. */
	assert_int_equal(ipkvm_hidhost_set_screen(f->h, 1024, 768), 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, 1023);
	feed_abs(f, 0, 32767, 32767, 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, 1023);
	assert_int_equal(y, 767);
	assert_int_equal(ipkvm_hidhost_set_screen(f->h, 0, 768), -EINVAL);
	assert_int_equal(ipkvm_hidhost_set_screen(f->h, 1024, 40000), -EINVAL);
	fx_free(f);
}

static void test_relative(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	int x, y;
	/* Hand-written: from the centre (959, 539), +10 / -5, then -128 (int8 minimum). */
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_REL,
					      (const uint8_t[]){0x04, 10, 0xFB, 0, 0}, 5),
			 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, 969);
	assert_int_equal(y, 534);
	assert_int_equal(ipkvm_hidhost_buttons(f->h), 0x04);
	assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_REL,
					      (const uint8_t[]){0xE0, 0x80, 0x7F, 0, 0}, 5),
			 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, 841);
	assert_int_equal(y, 661);
	assert_int_equal(ipkvm_hidhost_buttons(f->h), 0); /* padding bits ignored */

	/* Through the model: a huge move left/up clamps at (0, 0), right/down at the edge. */
	uint8_t r[64][IPKVM_HID_REL_REPORT_LEN];
	size_t n = ipkvm_hid_rel_reports(-5000, -3000, 0, 0, IPKVM_HID_BTN_LEFT, r, 64);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_REL, r[i], 5), 0);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, 0);
	assert_int_equal(y, 0);
	assert_int_equal(ipkvm_hidhost_buttons(f->h), IPKVM_HID_BTN_LEFT);
	n = ipkvm_hid_rel_reports(300, 200, 0, 0, 0, r, 64);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_REL, r[i], 5);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, 300);
	assert_int_equal(y, 200);
	n = ipkvm_hid_rel_reports(8000, 8000, 0, 0, 0, r, 64);
	for (size_t i = 0; i < n; i++)
		ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_REL, r[i], 5);
	ipkvm_hidhost_pointer(f->h, &x, &y);
	assert_int_equal(x, W - 1);
	assert_int_equal(y, H - 1);
	assert_int_equal(f->rec.px, W - 1);
	assert_int_equal(f->rec.py, H - 1);
	fx_free(f);
}

static void test_wheel(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	long wheel, pan;
	/* Hand-written: relative wheel -1 (down), pan +2; absolute wheel +3. */
	ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_REL, (const uint8_t[]){0, 0, 0, 0xFF, 2}, 5);
	ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_ABS,
			     (const uint8_t[]){0, 0, 0x40, 0, 0x40, 3, 0}, 7);
	ipkvm_hidhost_wheel_total(f->h, &wheel, &pan);
	assert_int_equal(wheel, 2);
	assert_int_equal(pan, 2);
	assert_int_equal(f->rec.nwheel, 2);
	/* Through the model: a 300-step scroll split into reports adds up exactly. */
	uint8_t r[8][IPKVM_HID_ABS_REPORT_LEN];
	size_t n = ipkvm_hid_abs_reports(0, 100, 100, -300, 0, r, 8);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_ABS, r[i], 7), 0);
	uint8_t rr[8][IPKVM_HID_REL_REPORT_LEN];
	n = ipkvm_hid_rel_reports(0, 0, 5, -130, 0, rr, 8);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ipkvm_hidhost_report(f->h, IPKVM_HIDHOST_MOUSE_REL, rr[i], 5), 0);
	ipkvm_hidhost_wheel_total(f->h, &wheel, &pan);
	assert_int_equal(wheel, 2 - 300 + 5);
	assert_int_equal(pan, 2 - 130);
	assert_int_equal(f->rec.wheel, 2 - 300 + 5);
	assert_int_equal(f->rec.pan, 2 - 130);
	fx_free(f);
}

static void test_bad_reports(void **state)
{
	struct fx *f = fx_new(IPKVM_HIDHOST_LAYOUT_US, 0);
	const uint8_t b[32] = {0x01, 0x04, 0, 0, 0, 0, 0, 0};
	struct ipkvm_hidhost *h = f->h;
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_KEYBOARD, b, 7), -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_KEYBOARD, b, 29), -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_KEYBOARD, NULL, 8), -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_MOUSE_ABS, b, 5), -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_MOUSE_ABS, b, 8), -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_MOUSE_REL, b, 3), -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_MOUSE_REL, b, 7), -EINVAL);
	/* Consumer report of system length and vice versa, unknown IDs, empty. */
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_CONSUMER_SYSTEM, b, 2), -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_CONSUMER_SYSTEM,
					      (const uint8_t[]){0x02, 1, 0}, 3),
			 -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_CONSUMER_SYSTEM,
					      (const uint8_t[]){0x03, 1, 0}, 3),
			 -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_CONSUMER_SYSTEM, b, 0), -EINVAL);
	assert_int_equal(ipkvm_hidhost_report(h, (enum ipkvm_hidhost_kind)9, b, 8), -EINVAL);
	/* Nothing happened. */
	assert_int_equal(f->rec.nkeys, 0);
	assert_int_equal(f->rec.ncons + f->rec.nsys, 0);
	assert_int_equal(f->rec.npointer, 0);
	fx_free(f);

	/* Bad configs. */
	struct ipkvm_hidhost_config cfg = {.width = 0, .height = 10};
	assert_null(ipkvm_hidhost_create(&cfg));
	cfg.width = 10;
	cfg.layout = (enum ipkvm_hidhost_layout)5;
	assert_null(ipkvm_hidhost_create(&cfg));
	assert_null(ipkvm_hidhost_create(NULL));
	/* No callbacks at all is fine. */
	cfg.layout = IPKVM_HIDHOST_LAYOUT_US;
	h = ipkvm_hidhost_create(&cfg);
	assert_non_null(h);
	assert_int_equal(ipkvm_hidhost_report(h, IPKVM_HIDHOST_KEYBOARD,
					      (const uint8_t[8]){0, 0, 0x39, 0x04}, 8),
			 0);
	assert_int_equal(ipkvm_hidhost_leds(h), 0x02);
	ipkvm_hidhost_destroy(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_world_model),
	    cmocka_unit_test(test_key_events_reference),
	    cmocka_unit_test(test_caps_lock_led),
	    cmocka_unit_test(test_keypad_numlock),
	    cmocka_unit_test(test_jp_layout),
	    cmocka_unit_test(test_layout_names),
	    cmocka_unit_test(test_phantom),
	    cmocka_unit_test(test_consumer_system),
	    cmocka_unit_test(test_absolute),
	    cmocka_unit_test(test_relative),
	    cmocka_unit_test(test_wheel),
	    cmocka_unit_test(test_bad_reports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
