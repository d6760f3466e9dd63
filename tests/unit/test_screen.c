/*
 * Unit tests for target/screen: the firmware setup screen (tabs, boot menu selection, Enter,
 * Esc, Exit page, unreadable media, the autoboot countdown and its deadlines), the console
 * shell (typing, backspace across a wrap, echo, clear, help, unknown commands, poweroff and
 * reboot actions), wrapping, scrolling and wheel scrollback past 200 lines, the status line,
 * exact pixels (a glyph in RGB24 and YUYV, the pointer's tip and extent, marks), render errors,
 * the mode change on boot, and the generation counter (bumps on visible changes only).
 * Row texts are compared whole, so any layout change shows up here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/screen.h"
#include "video/draw.h"

#define PROMPT "user@target:~$ "

static const struct ipkvm_rgb CON_FG = {200, 205, 210}, CON_BG = {12, 16, 24};
static const struct ipkvm_rgb PROMPT_FG = {122, 200, 140};
static const struct ipkvm_rgb FW_TITLE_FG = {22, 38, 92}, FW_TITLE_BG = {176, 182, 194};

static struct ipkvm_screen *mk(int autoboot_ms)
{
	struct ipkvm_screen_config cfg;
	ipkvm_screen_config_defaults(&cfg);
	cfg.autoboot_ms = autoboot_ms;
	struct ipkvm_screen *s = ipkvm_screen_create(&cfg);
	assert_non_null(s);
	return s;
}

static const char *rt(const struct ipkvm_screen *s, int r)
{
	static char buf[1024];
	assert_int_equal(ipkvm_screen_row_text(s, r, buf, sizeof(buf)), 0);
	return buf;
}

static void press(struct ipkvm_screen *s, uint8_t usage)
{
	ipkvm_screen_key(s, usage, true, 0, 0);
	ipkvm_screen_key(s, usage, false, 0, 0);
}

static void type(struct ipkvm_screen *s, const char *text)
{
	for (; *text; text++)
		ipkvm_screen_char(s, (unsigned char)*text, 0);
}

static void media2(struct ipkvm_screen *s)
{
	struct ipkvm_screen_media m[2];
	memset(m, 0, sizeof(m));
	strcpy(m[0].name, "debian.iso");
	strcpy(m[0].label, "DEBIAN_12");
	strcpy(m[1].name, "bad.iso");
	strcpy(m[1].error, "no primary volume descriptor");
	assert_int_equal(ipkvm_screen_set_media(s, m, 2), 0);
}

/* Powered on and booted from the internal disk. */
static struct ipkvm_screen *console(void)
{
	struct ipkvm_screen *s = mk(0);
	ipkvm_screen_power(s, true, 0);
	press(s, 0x29);
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_CONSOLE);
	assert_int_equal(ipkvm_screen_take_action(s, NULL), IPKVM_SCREEN_ACT_BOOTED);
	return s;
}

static struct ipkvm_frame *render(const struct ipkvm_screen *s, enum ipkvm_pixfmt fmt)
{
	int w, h;
	ipkvm_screen_mode(s, &w, &h, NULL);
	struct ipkvm_frame *f = ipkvm_frame_new(fmt, (unsigned)w, (unsigned)h, 0);
	assert_non_null(f);
	memset(f->data, 0xa5, f->size);
	assert_int_equal(ipkvm_screen_render(s, f), 0);
	return f;
}

static struct ipkvm_rgb px(const struct ipkvm_frame *f, int x, int y)
{
	const uint8_t *p = f->data + (size_t)y * f->stride + (size_t)x * 3;
	return (struct ipkvm_rgb){p[0], p[1], p[2]};
}

static void assert_px(const struct ipkvm_frame *f, int x, int y, struct ipkvm_rgb c)
{
	struct ipkvm_rgb g = px(f, x, y);
	if (g.r != c.r || g.g != c.g || g.b != c.b)
		fail_msg("pixel (%d,%d) is (%d,%d,%d), want (%d,%d,%d)", x, y, g.r, g.g, g.b, c.r,
			 c.g, c.b);
}

static void test_config_and_off(void **state)
{
	(void)state;
	struct ipkvm_screen_config cfg;
	ipkvm_screen_config_defaults(&cfg);
	cfg.width = 1921;
	assert_null(ipkvm_screen_create(&cfg));
	ipkvm_screen_config_defaults(&cfg);
	cfg.layout = "de";
	assert_null(ipkvm_screen_create(&cfg));
	ipkvm_screen_config_defaults(&cfg);
	cfg.fps = 0;
	assert_null(ipkvm_screen_create(&cfg));

	struct ipkvm_screen *s = ipkvm_screen_create(NULL);
	assert_non_null(s);
	int w, h, fps;
	ipkvm_screen_mode(s, &w, &h, &fps);
	assert_int_equal(w, 1920);
	assert_int_equal(h, 1080);
	assert_int_equal(fps, 60);
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_OFF);
	assert_int_equal(ipkvm_screen_rows(s), 0);
	char buf[8];
	assert_int_equal(ipkvm_screen_row_text(s, 0, buf, sizeof(buf)), -ENODATA);
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_RGB24, 1920, 1080, 0);
	assert_int_equal(ipkvm_screen_render(s, f), -ENODATA);
	assert_int_equal(ipkvm_screen_next_deadline(s), -1);
	ipkvm_frame_unref(f);
	assert_int_equal(ipkvm_screen_set_layout(s, "xx"), -EINVAL);
	assert_int_equal(ipkvm_screen_set_media(s, NULL, 1), -EINVAL);
	ipkvm_screen_destroy(s);
	ipkvm_screen_destroy(NULL);
}

static void test_firmware_screen(void **state)
{
	(void)state;
	struct ipkvm_screen *s = mk(3000);
	media2(s);
	ipkvm_screen_power(s, true, 1000);
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_FIRMWARE);
	int w, h, cw, ch, x0, y0;
	ipkvm_screen_mode(s, &w, &h, NULL);
	assert_int_equal(w, 1024);
	assert_int_equal(h, 768);
	ipkvm_screen_cell(s, &cw, &ch, &x0, &y0);
	assert_int_equal(cw, 8);
	assert_int_equal(ch, 16);
	assert_int_equal(x0, 0);
	assert_int_equal(y0, 0);
	assert_int_equal(ipkvm_screen_rows(s), 48);
	assert_int_equal(ipkvm_screen_cols(s), 128);

	char title[128];
	snprintf(title, sizeof(title), "%50s%s", "", "ipkvm Virtual Firmware Setup");
	assert_string_equal(rt(s, 0), title);
	assert_string_equal(rt(s, 1), "  [Main]   Boot    Exit");
	assert_string_equal(rt(s, 3), "  System Information");
	assert_string_equal(rt(s, 5), "  Firmware: ipkvm Virtual Firmware 1.0");
	assert_string_equal(rt(s, 6), "  Processor: ipkvm virtual CPU");
	assert_string_equal(rt(s, 7), "  Memory: 4096 MB");
	assert_string_equal(rt(s, 8), "  Keyboard layout: us");
	assert_string_equal(rt(s, 9), "  Display: 1920x1080 @ 60 Hz");
	assert_string_equal(rt(s, 10), "  Boot media: 2 attached");
	assert_string_equal(rt(s, 45), "  Booting Internal disk in 3 s - press any key to stop");
	assert_string_equal(rt(s, 47), "  <-/-> page  Up/Down select  Enter choose  Esc continue");
	int r, c;
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, -1);
	assert_int_equal(c, -1);
	assert_int_equal(ipkvm_screen_set_layout(s, "jp"), 0);
	assert_string_equal(rt(s, 8), "  Keyboard layout: jp");
	ipkvm_screen_destroy(s);
}

static void test_firmware_navigation(void **state)
{
	(void)state;
	struct ipkvm_screen *s = mk(3000);
	media2(s);
	ipkvm_screen_power(s, true, 0);
	press(s, 0x50); /* Left wraps to Exit */
	assert_string_equal(rt(s, 1), "   Main    Boot   [Exit]");
	assert_string_equal(rt(s, 5), "  > Continue boot");
	assert_string_equal(rt(s, 6), "    Power off");
	press(s, 0x4f); /* Right wraps to Main */
	press(s, 0x4f);
	assert_string_equal(rt(s, 1), "   Main   [Boot]   Exit");
	assert_string_equal(rt(s, 3), "  Boot Menu");
	assert_string_equal(rt(s, 5), "  > Internal disk");
	assert_string_equal(rt(s, 6), "    debian.iso  [DEBIAN_12]");
	assert_string_equal(rt(s, 7), "    bad.iso  (unreadable: no primary volume descriptor)");
	/* The key stopped the countdown. */
	assert_string_equal(rt(s, 45), "");
	assert_int_equal(ipkvm_screen_next_deadline(s), -1);

	press(s, 0x51);
	press(s, 0x51);
	press(s, 0x51); /* clamped at the last entry */
	assert_string_equal(rt(s, 5), "    Internal disk");
	assert_string_equal(rt(s, 7), "  > bad.iso  (unreadable: no primary volume descriptor)");
	press(s, 0x28); /* unreadable: an error line, no boot */
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_FIRMWARE);
	assert_string_equal(rt(s, 44), "  cannot boot bad.iso: no primary volume descriptor");
	assert_int_equal(ipkvm_screen_take_action(s, NULL), IPKVM_SCREEN_ACT_NONE);
	press(s, 0x52); /* the next key clears the error */
	assert_string_equal(rt(s, 44), "");
	assert_string_equal(rt(s, 6), "  > debian.iso  [DEBIAN_12]");

	struct ipkvm_screen_state st;
	ipkvm_screen_state(s, &st);
	assert_int_equal(st.fw_tab, 1);
	assert_int_equal(st.fw_selected, 1);

	ipkvm_screen_key(s, 0x58, true, 0, 0); /* keypad Enter boots media 0 */
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_CONSOLE);
	int idx = 99;
	assert_int_equal(ipkvm_screen_take_action(s, &idx), IPKVM_SCREEN_ACT_BOOTED);
	assert_int_equal(idx, 0);
	assert_int_equal(ipkvm_screen_take_action(s, &idx), IPKVM_SCREEN_ACT_NONE);
	assert_string_equal(rt(s, 0), "Live system from debian.iso: DEBIAN_12");
	assert_string_equal(rt(s, 1), "");
	assert_string_equal(rt(s, 2), "user@target:~$");
	ipkvm_screen_state(s, &st);
	assert_true(st.booted);
	assert_int_equal(st.boot_index, 0);
	assert_string_equal(st.boot_name, "debian.iso");
	ipkvm_screen_destroy(s);
}

static void test_firmware_click_and_exit(void **state)
{
	(void)state;
	struct ipkvm_screen *s = mk(3000);
	media2(s);
	ipkvm_screen_power(s, true, 0);
	/* Click the Boot tab (row 1, columns 10..15), then the debian entry (row 6). */
	ipkvm_screen_pointer(s, 12 * 8, 1 * 16 + 3, 1);
	ipkvm_screen_pointer(s, 12 * 8, 1 * 16 + 3, 0);
	assert_string_equal(rt(s, 1), "   Main   [Boot]   Exit");
	ipkvm_screen_pointer(s, 100, 6 * 16 + 8, 1);
	assert_string_equal(rt(s, 6), "  > debian.iso  [DEBIAN_12]");
	assert_int_equal(ipkvm_screen_next_deadline(s), -1);
	ipkvm_screen_pointer(s, 100, 6 * 16 + 8, 0);

	/* Exit page: Power off asks for power off and stays in the firmware. */
	press(s, 0x4f);
	press(s, 0x51);
	assert_string_equal(rt(s, 6), "  > Power off");
	press(s, 0x28);
	int idx = 5;
	assert_int_equal(ipkvm_screen_take_action(s, &idx), IPKVM_SCREEN_ACT_POWEROFF);
	assert_int_equal(idx, -1);
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_FIRMWARE);
	/* Continue boot boots the internal disk. */
	press(s, 0x52);
	press(s, 0x28);
	assert_int_equal(ipkvm_screen_take_action(s, &idx), IPKVM_SCREEN_ACT_BOOTED);
	assert_int_equal(idx, -1);
	assert_string_equal(rt(s, 0), "ipkvm virtual OS 1.0 (tty1)");
	ipkvm_screen_destroy(s);
}

static void test_esc_boots_disk_and_mode_change(void **state)
{
	(void)state;
	struct ipkvm_screen *s = mk(3000);
	media2(s);
	ipkvm_screen_power(s, true, 0);
	press(s, 0x4f);
	press(s, 0x51); /* select debian.iso: Esc still boots entry 0 */
	struct ipkvm_frame *big = ipkvm_frame_new(IPKVM_FMT_YUYV, 1920, 1080, 0);
	struct ipkvm_frame *small = ipkvm_frame_new(IPKVM_FMT_YUYV, 1024, 768, 0);
	assert_int_equal(ipkvm_screen_render(s, big), -EINVAL);
	assert_int_equal(ipkvm_screen_render(s, small), 0);
	press(s, 0x29);
	int idx = 7, w, h, fps, cw, ch, x0, y0;
	assert_int_equal(ipkvm_screen_take_action(s, &idx), IPKVM_SCREEN_ACT_BOOTED);
	assert_int_equal(idx, -1);
	ipkvm_screen_mode(s, &w, &h, &fps);
	assert_int_equal(w, 1920);
	assert_int_equal(h, 1080);
	assert_int_equal(fps, 60);
	ipkvm_screen_cell(s, &cw, &ch, &x0, &y0);
	assert_int_equal(cw, 16);
	assert_int_equal(ch, 32);
	assert_int_equal(x0, 0);
	assert_int_equal(y0, 12);
	assert_int_equal(ipkvm_screen_rows(s), 33);
	assert_int_equal(ipkvm_screen_cols(s), 120);
	assert_int_equal(ipkvm_screen_render(s, small), -EINVAL);
	assert_int_equal(ipkvm_screen_render(s, big), 0);
	struct ipkvm_frame *mj = ipkvm_frame_new(IPKVM_FMT_MJPEG, 0, 0, 64);
	mj->width = 1920;
	mj->height = 1080;
	assert_int_equal(ipkvm_screen_render(s, mj), -EINVAL);
	assert_string_equal(rt(s, 0), "ipkvm virtual OS 1.0 (tty1)");
	assert_string_equal(rt(s, 1), "");
	assert_string_equal(rt(s, 2), "user@target:~$");
	int r, c;
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, 2);
	assert_int_equal(c, 15);
	ipkvm_screen_power(s, false, 10);
	assert_int_equal(ipkvm_screen_render(s, big), -ENODATA);
	ipkvm_frame_unref(big);
	ipkvm_frame_unref(small);
	ipkvm_frame_unref(mj);
	ipkvm_screen_destroy(s);
}

static void test_countdown(void **state)
{
	(void)state;
	struct ipkvm_screen *s = mk(3000);
	ipkvm_screen_power(s, true, 1000);
	assert_int_equal(ipkvm_screen_next_deadline(s), 2000);
	uint64_t g = ipkvm_screen_generation(s);
	ipkvm_screen_tick(s, 1999);
	assert_int_equal(ipkvm_screen_generation(s), g);
	ipkvm_screen_tick(s, 2000);
	assert_int_equal(ipkvm_screen_generation(s), g + 1);
	assert_string_equal(rt(s, 45), "  Booting Internal disk in 2 s - press any key to stop");
	assert_int_equal(ipkvm_screen_next_deadline(s), 3000);
	ipkvm_screen_tick(s, 3000);
	assert_string_equal(rt(s, 45), "  Booting Internal disk in 1 s - press any key to stop");
	assert_int_equal(ipkvm_screen_next_deadline(s), 4000);
	ipkvm_screen_tick(s, 3999);
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_FIRMWARE);
	ipkvm_screen_tick(s, 4000);
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_CONSOLE);
	int idx = 3;
	assert_int_equal(ipkvm_screen_take_action(s, &idx), IPKVM_SCREEN_ACT_BOOTED);
	assert_int_equal(idx, -1);
	assert_int_equal(ipkvm_screen_next_deadline(s), -1);

	/* A key stops it; ticks then do nothing. */
	ipkvm_screen_power(s, true, 10000);
	assert_int_equal(ipkvm_screen_take_action(s, NULL), IPKVM_SCREEN_ACT_NONE);
	ipkvm_screen_key(s, 0x04, true, 0, 10500);
	assert_string_equal(rt(s, 45), "");
	assert_int_equal(ipkvm_screen_next_deadline(s), -1);
	ipkvm_screen_tick(s, 20000);
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_FIRMWARE);
	ipkvm_screen_destroy(s);

	/* A countdown that is not whole seconds: 1.5 s shows 2 until 0.5 s have passed. */
	s = mk(1500);
	ipkvm_screen_power(s, true, 0);
	assert_string_equal(rt(s, 45), "  Booting Internal disk in 2 s - press any key to stop");
	assert_int_equal(ipkvm_screen_next_deadline(s), 500);
	ipkvm_screen_tick(s, 700); /* a late timer */
	assert_string_equal(rt(s, 45), "  Booting Internal disk in 1 s - press any key to stop");
	assert_int_equal(ipkvm_screen_next_deadline(s), 1500);
	ipkvm_screen_tick(s, 1600);
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_CONSOLE);
	ipkvm_screen_destroy(s);

	s = mk(0); /* no autoboot */
	ipkvm_screen_power(s, true, 0);
	assert_string_equal(rt(s, 45), "");
	assert_int_equal(ipkvm_screen_next_deadline(s), -1);
	ipkvm_screen_destroy(s);
}

static void test_console_typing(void **state)
{
	(void)state;
	struct ipkvm_screen *s = console();
	int r, c;
	type(s, "hello");
	assert_string_equal(rt(s, 2), PROMPT "hello");
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, 2);
	assert_int_equal(c, 20);
	type(s, "\b\b");
	assert_string_equal(rt(s, 2), PROMPT "hel");
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(c, 18);
	type(s, "\b\b\b");
	uint64_t g = ipkvm_screen_generation(s);
	type(s, "\b\b\t"); /* cannot eat the prompt; tab ignored */
	assert_int_equal(ipkvm_screen_generation(s), g);
	assert_string_equal(rt(s, 2), "user@target:~$");
	ipkvm_screen_char(s, 0x263a, 0); /* not ASCII: ignored */
	assert_int_equal(ipkvm_screen_generation(s), g);

	type(s, "echo  Hello,   World!\n");
	assert_string_equal(rt(s, 2), PROMPT "echo  Hello,   World!");
	assert_string_equal(rt(s, 3), "Hello, World!");
	assert_string_equal(rt(s, 4), "user@target:~$");
	type(s, "\n");
	assert_string_equal(rt(s, 5), "user@target:~$");
	type(s, "echo\n");
	assert_string_equal(rt(s, 6), "");
	assert_string_equal(rt(s, 7), "user@target:~$");
	type(s, "  frobnicate --now\n");
	assert_string_equal(rt(s, 8), "frobnicate: command not found");
	type(s, "help\n");
	assert_string_equal(rt(s, 10), "Commands:");
	assert_string_equal(rt(s, 11), "  echo TEXT   print TEXT");
	assert_string_equal(rt(s, 15), "  reboot      restart the machine");
	assert_string_equal(rt(s, 16), "user@target:~$");
	type(s, "clear\n");
	assert_string_equal(rt(s, 0), "user@target:~$");
	assert_string_equal(rt(s, 1), "");
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, 0);
	assert_int_equal(c, 15);
	assert_int_equal(ipkvm_screen_take_action(s, NULL), IPKVM_SCREEN_ACT_NONE);
	/* Keys go nowhere in the console (text comes as characters). */
	g = ipkvm_screen_generation(s);
	press(s, 0x29);
	assert_int_equal(ipkvm_screen_generation(s), g);
	ipkvm_screen_destroy(s);
}

static void test_poweroff_reboot(void **state)
{
	(void)state;
	struct ipkvm_screen *s = console();
	type(s, "poweroff\n");
	int idx = 4;
	assert_int_equal(ipkvm_screen_take_action(s, &idx), IPKVM_SCREEN_ACT_POWEROFF);
	assert_int_equal(idx, -1);
	assert_string_equal(rt(s, 3), "Powering off...");
	int r, c;
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, -1);
	uint64_t g = ipkvm_screen_generation(s);
	type(s, "echo hi\n"); /* halted: ignored */
	assert_int_equal(ipkvm_screen_generation(s), g);
	assert_int_equal(ipkvm_screen_take_action(s, NULL), IPKVM_SCREEN_ACT_NONE);
	ipkvm_screen_destroy(s);

	s = console();
	type(s, "reboot\n");
	assert_int_equal(ipkvm_screen_take_action(s, NULL), IPKVM_SCREEN_ACT_REBOOT);
	assert_string_equal(rt(s, 3), "Rebooting...");
	/* The caller restarts the machine: firmware again. */
	ipkvm_screen_power(s, true, 100);
	assert_int_equal(ipkvm_screen_phase(s), IPKVM_SCREEN_FIRMWARE);
	ipkvm_screen_destroy(s);

	s = console(); /* Ctrl+Alt+Del */
	ipkvm_screen_key(s, 0x4c, true, 0x01 | 0x04, 0);
	assert_int_equal(ipkvm_screen_take_action(s, NULL), IPKVM_SCREEN_ACT_REBOOT);
	ipkvm_screen_destroy(s);
}

static void test_wrap(void **state)
{
	(void)state;
	struct ipkvm_screen *s = console();
	char x105[106], x15[16];
	memset(x105, 'x', 105);
	x105[105] = '\0';
	memset(x15, 'y', 15);
	x15[15] = '\0';
	char want[200];
	snprintf(want, sizeof(want), PROMPT "%s", x105);
	type(s, x105); /* exactly fills row 2: the wrap is pending */
	assert_string_equal(rt(s, 2), want);
	assert_string_equal(rt(s, 3), "");
	int r, c;
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, 2);
	assert_int_equal(c, 119);
	type(s, x15);
	assert_string_equal(rt(s, 2), want);
	assert_string_equal(rt(s, 3), x15);
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, 3);
	assert_int_equal(c, 15);
	/* Backspace back across the wrap. */
	for (int i = 0; i < 15; i++)
		type(s, "\b");
	assert_string_equal(rt(s, 3), "");
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, 2);
	assert_int_equal(c, 119);
	type(s, "\b");
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(c, 119);
	want[strlen(want) - 1] = '\0';
	assert_string_equal(rt(s, 2), want);
	type(s, "zz\n");
	assert_string_equal(rt(s, 3), "z");
	char longcmd[160];
	memset(longcmd, 'x', 104);
	strcpy(longcmd + 104, "zz: command not");
	assert_string_equal(rt(s, 4), longcmd); /* 126 characters wrap after 120 */
	assert_string_equal(rt(s, 5), "found");
	assert_string_equal(rt(s, 6), "user@target:~$");
	/* The input line is limited. */
	type(s, "\n");
	uint64_t g = 0;
	for (int i = 0; i < IPKVM_SCREEN_INPUT_MAX; i++)
		type(s, "a");
	g = ipkvm_screen_generation(s);
	type(s, "a");
	assert_int_equal(ipkvm_screen_generation(s), g);
	ipkvm_screen_destroy(s);
}

static void test_scroll_and_wheel(void **state)
{
	(void)state;
	struct ipkvm_screen *s = console();
	char cmd[32], want[64];
	for (int i = 0; i < 40; i++) {
		snprintf(cmd, sizeof(cmd), "echo %d\n", i);
		type(s, cmd);
	}
	/* Lines: banner, blank, then "PROMPT echo k" / "k" pairs, then the prompt: 83 lines,
	 * 32 text rows, so the top row is line 51 = the output "24". */
	assert_string_equal(rt(s, 0), "24");
	assert_string_equal(rt(s, 30), "39");
	assert_string_equal(rt(s, 31), "user@target:~$");
	int r, c;
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, 31);

	uint64_t g = ipkvm_screen_generation(s);
	ipkvm_screen_wheel(s, 1, 0);
	assert_int_equal(ipkvm_screen_generation(s), g + 1);
	assert_string_equal(rt(s, 0), PROMPT "echo 23");
	ipkvm_screen_cursor(s, &r, &c);
	assert_int_equal(r, -1);
	assert_non_null(strstr(rt(s, 32), "scrollback 3"));
	ipkvm_screen_wheel(s, 100, 0);
	assert_string_equal(rt(s, 0), "ipkvm virtual OS 1.0 (tty1)");
	g = ipkvm_screen_generation(s);
	ipkvm_screen_wheel(s, 1, 0); /* already at the top: no-op */
	assert_int_equal(ipkvm_screen_generation(s), g);
	ipkvm_screen_wheel(s, -100, 0);
	assert_string_equal(rt(s, 0), "24");
	ipkvm_screen_wheel(s, -1, 0);
	assert_int_equal(ipkvm_screen_generation(s), g + 1);
	ipkvm_screen_wheel(s, 2, 0);
	type(s, "q"); /* typing jumps back to the bottom */
	assert_string_equal(rt(s, 31), PROMPT "q");
	type(s, "\b");

	/* More than the scrollback keeps: 403 lines, 288 kept, the oldest is line 115. */
	for (int i = 40; i < 200; i++) {
		snprintf(cmd, sizeof(cmd), "echo %d\n", i);
		type(s, cmd);
	}
	ipkvm_screen_wheel(s, 1000, 0);
	struct ipkvm_screen_state st;
	ipkvm_screen_state(s, &st);
	assert_int_equal(st.scrollback, 256);
	assert_string_equal(rt(s, 0), "56");
	snprintf(want, sizeof(want), PROMPT "echo %d", 72);
	assert_string_equal(rt(s, 31), want);
	ipkvm_screen_destroy(s);
}

static void test_status_line(void **state)
{
	(void)state;
	struct ipkvm_screen *s = console();
	assert_string_equal(rt(s, 32), " [num] [caps] [scroll]  us  1920x1080@60  pointer 0,0  "
				       "from Internal disk");
	uint64_t g = ipkvm_screen_generation(s);
	ipkvm_screen_set_leds(s, 0x03);
	assert_int_equal(ipkvm_screen_generation(s), g + 1);
	ipkvm_screen_set_leds(s, 0x03);
	assert_int_equal(ipkvm_screen_generation(s), g + 1);
	ipkvm_screen_pointer(s, 100, 200, 0);
	assert_int_equal(ipkvm_screen_set_layout(s, "jp"), 0);
	assert_string_equal(rt(s, 32), " [NUM] [CAPS] [scroll]  jp  1920x1080@60  pointer 100,200  "
				       "from Internal disk");
	ipkvm_screen_set_leds(s, 0x04);
	assert_string_equal(rt(s, 32), " [num] [caps] [SCROLL]  jp  1920x1080@60  pointer 100,200  "
				       "from Internal disk");
	ipkvm_screen_pointer(s, 5000, -3, 0); /* clamped */
	struct ipkvm_screen_state st;
	ipkvm_screen_state(s, &st);
	assert_int_equal(st.pointer_x, 1919);
	assert_int_equal(st.pointer_y, 0);
	assert_int_equal(st.leds, 4);
	assert_string_equal(st.layout, "jp");

	/* Lit LEDs are drawn on green: the "[" of [SCROLL] at column 14 of row 32. */
	struct ipkvm_frame *f = render(s, IPKVM_FMT_RGB24);
	assert_px(f, 14 * 16, 12 + 32 * 32, (struct ipkvm_rgb){122, 200, 140});
	assert_px(f, 1 * 16, 12 + 32 * 32, CON_FG); /* "[num]": status bg = the text fg */
	ipkvm_frame_unref(f);
	char small[5];
	assert_int_equal(ipkvm_screen_row_text(s, 32, small, sizeof(small)), -ENOSPC);
	assert_string_equal(small, " [nu");
	assert_int_equal(ipkvm_screen_row_text(s, 33, small, sizeof(small)), -EINVAL);
	ipkvm_screen_destroy(s);
}

/* Cell (row, col) of the console holds glyph ch drawn in fg on bg: checked pixel by pixel. */
static void check_cell_rgb(const struct ipkvm_frame *f, int x, int y, int scale, unsigned char ch,
			   struct ipkvm_rgb fg, struct ipkvm_rgb bg)
{
	const uint8_t *g = ipkvm_font_glyph(ch);
	for (int py = 0; py < 16 * scale; py++)
		for (int pxl = 0; pxl < 8 * scale; pxl++) {
			bool on = (g[py / scale] >> (7 - pxl / scale)) & 1;
			assert_px(f, x + pxl, y + py, on ? fg : bg);
		}
}

static void test_glyph_pixels(void **state)
{
	(void)state;
	struct ipkvm_screen *s = console();
	type(s, "A");
	ipkvm_screen_pointer(s, 1900, 1000, 0); /* out of the way */
	struct ipkvm_frame *f = render(s, IPKVM_FMT_RGB24);
	/* 'A' at row 2, column 15: x = 15 * 16, y = 12 + 2 * 32. */
	check_cell_rgb(f, 240, 76, 2, 'A', CON_FG, CON_BG);
	/* The cursor after it: an underline in the cell's last 4 pixel rows. */
	assert_px(f, 256, 76 + 27, CON_BG);
	assert_px(f, 256, 76 + 28, CON_FG);
	assert_px(f, 271, 76 + 31, CON_FG);
	/* The margins above the grid and the backgrounds are the console bg, never black. */
	assert_px(f, 0, 0, CON_BG);
	assert_px(f, 1919, 1079, CON_BG);
	ipkvm_frame_unref(f);

	/* YUYV: at scale 2 each font pixel is a whole pair, so the colours are exact. */
	f = render(s, IPKVM_FMT_YUYV);
	uint8_t fy, fu, fv, by, bu, bv;
	ipkvm_rgb_to_yuv(CON_FG, &fy, &fu, &fv);
	ipkvm_rgb_to_yuv(CON_BG, &by, &bu, &bv);
	const uint8_t *g = ipkvm_font_glyph('A');
	for (int py = 0; py < 32; py++)
		for (int pair = 0; pair < 8; pair++) {
			bool on = (g[py / 2] >> (7 - pair)) & 1;
			const uint8_t *p =
			    f->data + (size_t)(76 + py) * f->stride + (240 + 2 * pair) * 2;
			assert_int_equal(p[0], on ? fy : by);
			assert_int_equal(p[1], on ? fu : bu);
			assert_int_equal(p[2], on ? fy : by);
			assert_int_equal(p[3], on ? fv : bv);
		}
	ipkvm_frame_unref(f);

	/* BGR24 swaps the bytes. */
	f = render(s, IPKVM_FMT_BGR24);
	const uint8_t *q = f->data + 0;
	assert_int_equal(q[0], CON_BG.b);
	assert_int_equal(q[2], CON_BG.r);
	ipkvm_frame_unref(f);

	/* Firmware: scale 1, the title's 'i' at row 0, column 50. */
	ipkvm_screen_power(s, true, 0);
	f = render(s, IPKVM_FMT_RGB24);
	check_cell_rgb(f, 400, 0, 1, 'i', FW_TITLE_FG, FW_TITLE_BG);
	ipkvm_frame_unref(f);
	ipkvm_screen_destroy(s);
}

static void test_pointer_pixels(void **state)
{
	(void)state;
	struct ipkvm_screen *s = console();
	ipkvm_screen_pointer(s, 1900, 1000, 0);
	struct ipkvm_frame *away = render(s, IPKVM_FMT_RGB24);
	ipkvm_screen_pointer(s, 500, 301, 0);
	struct ipkvm_frame *f = render(s, IPKVM_FMT_RGB24);
	static const struct ipkvm_rgb black = {0, 0, 0}, white = {255, 255, 255};
	assert_px(f, 500, 301, black);
	assert_px(f, 500 + 4, 301 + 10, white);	 /* inside the fill */
	assert_px(f, 500 + 14, 301 + 37, black); /* the tail's bottom outline */
	/* Nothing above row 301 or left of column 500 changed; something below-right did. The
	 * status line differs ("pointer ..."), so the comparison skips its band. */
	int changed = 0;
	for (int y = 0; y < 1080; y++) {
		if (y >= 12 + 32 * 32 && y < 12 + 33 * 32)
			continue;
		for (int x = 0; x < 1920; x++) {
			if (y >= 1000 && x >= 1900)
				continue; /* the pointer in "away" */
			struct ipkvm_rgb a = px(away, x, y), b = px(f, x, y);
			bool same = a.r == b.r && a.g == b.g && a.b == b.b;
			if (y < 301 || x < 500)
				assert_true(same);
			else if (!same) {
				changed++;
				assert_true(x < 500 + 24 && y < 301 + 38);
			}
		}
	}
	assert_true(changed > 200);
	ipkvm_frame_unref(f);
	ipkvm_frame_unref(away);

	/* YUYV at an odd x: the tip's Y is black's. */
	f = render(s, IPKVM_FMT_YUYV);
	ipkvm_screen_pointer(s, 501, 301, 0);
	assert_int_equal(ipkvm_screen_render(s, f), 0);
	assert_int_equal(f->data[(size_t)301 * f->stride + 501 * 2], 16);

	/* Firmware, scale 1: tip black, the pixel to its right is the background. */
	ipkvm_screen_power(s, true, 0);
	ipkvm_screen_pointer(s, 1023, 767, 0);
	ipkvm_frame_unref(f);
	f = render(s, IPKVM_FMT_RGB24);
	assert_px(f, 1023, 767, black);
	ipkvm_screen_pointer(s, 300, 400, 0);
	assert_int_equal(ipkvm_screen_render(s, f), 0);
	assert_px(f, 300, 400, black);
	assert_px(f, 301, 400, ((struct ipkvm_rgb){22, 38, 92}));
	assert_px(f, 299, 400, ((struct ipkvm_rgb){22, 38, 92}));
	assert_px(f, 300, 399, ((struct ipkvm_rgb){22, 38, 92}));
	assert_px(f, 301, 401, black);
	assert_px(f, 301, 402, white);
	ipkvm_frame_unref(f);
	ipkvm_screen_destroy(s);
}

static void test_marks(void **state)
{
	(void)state;
	struct ipkvm_screen *s = console();
	/* The centre of cell (row 5, column 10). */
	int x = 10 * 16 + 8, y = 12 + 5 * 32 + 16;
	ipkvm_screen_pointer(s, x, y, 0);
	uint64_t g = ipkvm_screen_generation(s);
	ipkvm_screen_pointer(s, x, y, 1);
	assert_int_equal(ipkvm_screen_generation(s), g + 1);
	ipkvm_screen_pointer(s, x, y, 0); /* release: nothing */
	assert_int_equal(ipkvm_screen_generation(s), g + 1);
	struct ipkvm_screen_state st;
	ipkvm_screen_state(s, &st);
	assert_int_equal(st.marks, 1);
	struct ipkvm_frame *f = render(s, IPKVM_FMT_RGB24);
	/* A blank marked cell is all fg (the top-left corner is clear of the pointer). */
	assert_px(f, 160, 12 + 160, CON_FG);
	assert_px(f, 160 + 5, 12 + 160 + 10, CON_FG);
	assert_px(f, 159, 12 + 160, CON_BG);
	assert_px(f, 176, 12 + 160, CON_BG);
	ipkvm_screen_pointer(s, x + 16, y, 1); /* a second mark */
	ipkvm_screen_pointer(s, x + 16, y, 0);
	ipkvm_screen_pointer(s, x, y, 1); /* toggles the first off */
	ipkvm_screen_pointer(s, x, y, 0);
	ipkvm_screen_state(s, &st);
	assert_int_equal(st.marks, 1);
	assert_int_equal(ipkvm_screen_render(s, f), 0);
	assert_px(f, 160, 12 + 160, CON_BG);
	assert_px(f, 176, 12 + 160, CON_FG);
	/* A marked letter is drawn bg on fg. */
	ipkvm_screen_pointer(s, 16 + 8, 12 + 2 * 32 + 4, 1); /* row 2 col 1: 's' of "user" */
	ipkvm_screen_pointer(s, 1900, 1000, 0);
	assert_int_equal(ipkvm_screen_render(s, f), 0);
	check_cell_rgb(f, 16, 12 + 64, 2, 's', CON_BG, PROMPT_FG); /* the prompt's colour */
	ipkvm_screen_pointer(s, 1900, 1000, 2);			   /* right press clears all */
	ipkvm_screen_state(s, &st);
	assert_int_equal(st.marks, 0);
	/* The status line cannot be marked. */
	ipkvm_screen_pointer(s, 1900, 1050, 0);
	g = ipkvm_screen_generation(s);
	ipkvm_screen_pointer(s, 1900, 1050, 1);
	assert_int_equal(ipkvm_screen_generation(s), g);
	ipkvm_frame_unref(f);
	ipkvm_screen_destroy(s);
}

static void test_generation(void **state)
{
	(void)state;
	struct ipkvm_screen *s = mk(3000);
	uint64_t g = ipkvm_screen_generation(s);
	ipkvm_screen_set_leds(s, 1); /* off: invisible */
	ipkvm_screen_pointer(s, 10, 10, 0);
	ipkvm_screen_power(s, false, 0);
	ipkvm_screen_key(s, 0x04, true, 0, 0);
	assert_int_equal(ipkvm_screen_generation(s), g);
	ipkvm_screen_power(s, true, 0);
	assert_int_equal(ipkvm_screen_generation(s), ++g);
	ipkvm_screen_key(s, 0x04, false, 0, 0); /* key up */
	ipkvm_screen_set_leds(s, 3);		/* the firmware does not show LEDs */
	ipkvm_screen_pointer(s, 10, 10, 0);	/* same place */
	ipkvm_screen_wheel(s, 1, 0);
	ipkvm_screen_char(s, 'a', 0);
	ipkvm_screen_tick(s, 500);
	assert_int_equal(ipkvm_screen_set_layout(s, "us"), 0);
	assert_int_equal(ipkvm_screen_set_media(s, NULL, 0), 0);
	assert_int_equal(ipkvm_screen_generation(s), g);
	ipkvm_screen_key(s, 0x04, true, 0, 0); /* stops the countdown */
	assert_int_equal(ipkvm_screen_generation(s), ++g);
	ipkvm_screen_key(s, 0x04, true, 0, 0); /* nothing left to change */
	ipkvm_screen_key(s, 0x52, true, 0, 0); /* Up on the Main page */
	assert_int_equal(ipkvm_screen_generation(s), g);
	ipkvm_screen_pointer(s, 11, 10, 0);
	assert_int_equal(ipkvm_screen_generation(s), ++g);
	assert_int_equal(ipkvm_screen_set_layout(s, "jp"), 0);
	assert_int_equal(ipkvm_screen_generation(s), ++g);
	press(s, 0x4f);
	assert_int_equal(ipkvm_screen_generation(s), ++g);
	assert_int_equal(ipkvm_screen_set_layout(s, "us"), 0); /* not on the Boot page */
	assert_int_equal(ipkvm_screen_generation(s), g);
	media2(s);
	assert_int_equal(ipkvm_screen_generation(s), ++g);
	media2(s);
	assert_int_equal(ipkvm_screen_generation(s), g);
	press(s, 0x29);
	assert_int_equal(ipkvm_screen_generation(s), ++g);
	type(s, "x");
	assert_int_equal(ipkvm_screen_generation(s), ++g);
	ipkvm_screen_power(s, false, 0);
	assert_int_equal(ipkvm_screen_generation(s), ++g);
	ipkvm_screen_power(s, false, 0);
	assert_int_equal(ipkvm_screen_generation(s), g);
	ipkvm_screen_destroy(s);
}

static void test_small_mode_and_media_limit(void **state)
{
	(void)state;
	struct ipkvm_screen_config cfg;
	ipkvm_screen_config_defaults(&cfg);
	cfg.width = 800;
	cfg.height = 600;
	cfg.fps = 30;
	cfg.autoboot_ms = 0;
	struct ipkvm_screen *s = ipkvm_screen_create(&cfg);
	assert_non_null(s);
	struct ipkvm_screen_media m[IPKVM_SCREEN_MEDIA_MAX + 1];
	memset(m, 0, sizeof(m));
	for (int i = 0; i <= IPKVM_SCREEN_MEDIA_MAX; i++)
		snprintf(m[i].name, sizeof(m[i].name), "disk%02d.iso", i);
	assert_int_equal(ipkvm_screen_set_media(s, m, IPKVM_SCREEN_MEDIA_MAX + 1), -E2BIG);
	ipkvm_screen_power(s, true, 0);
	assert_string_equal(rt(s, 9), "  Display: 800x600 @ 30 Hz");
	assert_string_equal(rt(s, 10), "  Boot media: 16 attached");
	ipkvm_screen_pointer(s, 1000, 700, 0);
	press(s, 0x4f);
	for (int i = 0; i < 20; i++)
		press(s, 0x51);
	assert_string_equal(rt(s, 5 + IPKVM_SCREEN_MEDIA_MAX), "  > disk15.iso");
	press(s, 0x28);
	int idx;
	assert_int_equal(ipkvm_screen_take_action(s, &idx), IPKVM_SCREEN_ACT_BOOTED);
	assert_int_equal(idx, 15);
	assert_string_equal(rt(s, 0), "Live system from disk15.iso");
	/* Below 1280x720 the console keeps 8x16 cells; the pointer is clamped to the new mode. */
	int w, h, fps, cw, ch, x0, y0;
	ipkvm_screen_mode(s, &w, &h, &fps);
	assert_int_equal(w, 800);
	assert_int_equal(h, 600);
	assert_int_equal(fps, 30);
	ipkvm_screen_cell(s, &cw, &ch, &x0, &y0);
	assert_int_equal(cw, 8);
	assert_int_equal(ch, 16);
	assert_int_equal(y0, 4);
	assert_int_equal(ipkvm_screen_rows(s), 37);
	assert_int_equal(ipkvm_screen_cols(s), 100);
	assert_string_equal(rt(s, 36), " [num] [caps] [scroll]  us  800x600@30  pointer 799,599  "
				       "from disk15.iso");

	/* UYVY at scale 1: a cell's pairs mix fg and bg; the Y bytes follow the glyph. */
	type(s, "W");
	ipkvm_screen_pointer(s, 0, 0, 0);
	struct ipkvm_frame *f = render(s, IPKVM_FMT_UYVY);
	uint8_t fy, fu, fv, by, bu, bv;
	ipkvm_rgb_to_yuv(CON_FG, &fy, &fu, &fv);
	ipkvm_rgb_to_yuv(CON_BG, &by, &bu, &bv);
	const uint8_t *g = ipkvm_font_glyph('W');
	for (int py = 0; py < 16; py++)
		for (int pxl = 0; pxl < 8; pxl++) {
			bool on = (g[py] >> (7 - pxl)) & 1;
			const uint8_t *p = f->data + (size_t)(4 + 2 * 16 + py) * f->stride +
					   (size_t)(15 * 8 + (pxl & ~1)) * 2;
			assert_int_equal(p[1 + 2 * (pxl & 1)], on ? fy : by);
			bool other = (g[py] >> (7 - (pxl ^ 1))) & 1;
			if (on == other) {
				assert_int_equal(p[0], on ? fu : bu);
				assert_int_equal(p[2], on ? fv : bv);
			}
		}
	ipkvm_frame_unref(f);
	ipkvm_screen_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_and_off),
	    cmocka_unit_test(test_firmware_screen),
	    cmocka_unit_test(test_firmware_navigation),
	    cmocka_unit_test(test_firmware_click_and_exit),
	    cmocka_unit_test(test_esc_boots_disk_and_mode_change),
	    cmocka_unit_test(test_countdown),
	    cmocka_unit_test(test_console_typing),
	    cmocka_unit_test(test_poweroff_reboot),
	    cmocka_unit_test(test_wrap),
	    cmocka_unit_test(test_scroll_and_wheel),
	    cmocka_unit_test(test_status_line),
	    cmocka_unit_test(test_glyph_pixels),
	    cmocka_unit_test(test_pointer_pixels),
	    cmocka_unit_test(test_marks),
	    cmocka_unit_test(test_generation),
	    cmocka_unit_test(test_small_mode_and_media_limit),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	ipkvm_frame_pool_drain();
	return rc;
}
