/* Unit tests for target/virtual.c: the virtual computer's parts wired together, driven
 * through its real interfaces (report bytes on its socketpairs, ATX lines, the render
 * call) with an injected clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hid/keyboard.h"
#include "hid/mouse.h"
#include "target/virtual.h"

struct world {
	struct ipkvm_vtarget *vt;
	int64_t now;
	int64_t timer; /* last delay asked, -2 none */
	int leds_calls, changed_calls;
	int dev[IPKVM_VTARGET_HID_FDS]; /* the daemon's ends, as the gadget backend opens them */
	struct ipkvm_hid_keyboard kb;
	char dir[64];
};

static int64_t w_now(void *ctx)
{
	return ((struct world *)ctx)->now;
}

static void w_timer(void *ctx, int64_t ms)
{
	((struct world *)ctx)->timer = ms;
}

static void w_leds(void *ctx)
{
	((struct world *)ctx)->leds_calls++;
}

static void w_changed(void *ctx)
{
	((struct world *)ctx)->changed_calls++;
}

static const char *const paths[IPKVM_VTARGET_HID_FDS] = {
    IPKVM_VTARGET_HID_KEYBOARD, IPKVM_VTARGET_HID_MOUSE_ABS, IPKVM_VTARGET_HID_MOUSE_REL,
    IPKVM_VTARGET_HID_CONSUMER};

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	strcpy(w->dir, "/tmp/test_virtual.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	/* A tiny ISO (label "TEST LIVE") and a file that is not one. */
	uint8_t *iso = calloc(18, 2048);
	memcpy(iso + 16 * 2048,
	       "\x01"
	       "CD001\x01",
	       7);
	memset(iso + 16 * 2048 + 40, ' ', 32);
	memcpy(iso + 16 * 2048 + 40, "TEST LIVE", 9);
	memcpy(iso + 17 * 2048,
	       "\xff"
	       "CD001\x01",
	       7);
	char iso_path[128], junk_path[128];
	snprintf(iso_path, sizeof(iso_path), "%s/live.iso", w->dir);
	snprintf(junk_path, sizeof(junk_path), "%s/junk.img", w->dir);
	write_file(iso_path, iso, 18 * 2048);
	write_file(junk_path, "junk", 4);
	free(iso);
	const char *media[] = {iso_path, junk_path};
	w->now = 1000;
	w->timer = -2;
	struct ipkvm_vtarget_config cfg = {.width = 1920,
					   .height = 1080,
					   .fps = 60,
					   .format = IPKVM_FMT_RGB24,
					   .layout = "us",
					   .autoboot_ms = 0,
					   .media = media,
					   .n_media = 2,
					   .ctx = w,
					   .changed = w_changed,
					   .leds = w_leds,
					   .timer = w_timer,
					   .now_ms = w_now};
	char err[128] = "";
	w->vt = ipkvm_vtarget_create(&cfg, err, sizeof(err));
	assert_non_null(w->vt);
	for (int i = 0; i < IPKVM_VTARGET_HID_FDS; i++) {
		w->dev[i] = ipkvm_vtarget_hid_open(w->vt, paths[i]);
		assert_true(w->dev[i] >= 0);
	}
	ipkvm_hid_keyboard_init(&w->kb);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	for (int i = 0; i < IPKVM_VTARGET_HID_FDS; i++)
		close(w->dev[i]);
	ipkvm_vtarget_destroy(w->vt);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	assert_int_equal(system(cmd), 0);
	free(w);
	return 0;
}

/* Sends one report on interface i the way the gadget backend writes it, and lets the
 * target read it. */
static void send_report(struct world *w, int i, const uint8_t *r, size_t len)
{
	assert_int_equal(write(w->dev[i], r, len), (ssize_t)len);
	int host[IPKVM_VTARGET_HID_FDS];
	ipkvm_vtarget_hid_fds(w->vt, host);
	ipkvm_vtarget_hid_readable(w->vt, host[i]);
}

static void key(struct world *w, uint8_t usage, bool down)
{
	if (down)
		ipkvm_hid_keyboard_press(&w->kb, IPKVM_HID_PAGE_KEYBOARD, usage);
	else
		ipkvm_hid_keyboard_release(&w->kb, IPKVM_HID_PAGE_KEYBOARD, usage);
	uint8_t r[IPKVM_HID_BOOT_REPORT_LEN];
	ipkvm_hid_keyboard_boot_report(&w->kb, r);
	send_report(w, 0, r, sizeof(r));
}

static void tap(struct world *w, uint8_t usage)
{
	key(w, usage, true);
	key(w, usage, false);
}

static json_t *state_of(struct world *w)
{
	return ipkvm_vtarget_state(w->vt);
}

static const char *str(json_t *st, const char *k)
{
	return json_string_value(json_object_get(st, k));
}

static void press_power(struct world *w, int64_t ms)
{
	const struct ipkvm_atx_lines *l = ipkvm_vtarget_atx_lines(w->vt);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_BUTTON, true), 0);
	w->now += ms;
	ipkvm_vtarget_tick(w->vt);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_BUTTON, false), 0);
}

static void test_hid_open_paths(void **state)
{
	struct world *w = *state;
	assert_int_equal(ipkvm_vtarget_hid_open(w->vt, "/dev/hidg0"), -ENOENT);
	assert_int_equal(ipkvm_vtarget_hid_open(w->vt, "virtual:joystick"), -ENOENT);
}

static void test_power_line_boots_and_leds_follow(void **state)
{
	struct world *w = *state;
	const struct ipkvm_atx_lines *l = ipkvm_vtarget_atx_lines(w->vt);
	assert_string_equal(l->name, "virtual");
	assert_int_equal(l->get(l->ctx, IPKVM_ATX_POWER_LED), 0);
	struct ipkvm_signal_info sig;
	ipkvm_vtarget_signal(w->vt, &sig);
	assert_int_equal(sig.state, IPKVM_SIGNAL_NO_SIGNAL);
	uint64_t gen = UINT64_MAX;
	struct ipkvm_frame *f = NULL;
	assert_int_equal(ipkvm_vtarget_render(w->vt, &gen, &f), -ENODATA);

	press_power(w, 200);
	assert_int_equal(l->get(l->ctx, IPKVM_ATX_POWER_LED), 1);
	assert_int_equal(l->get(l->ctx, IPKVM_ATX_HDD_LED), 1); /* blinks while booting */
	assert_true(w->leds_calls >= 1);
	assert_true(w->changed_calls >= 1);
	assert_int_equal(w->timer, 250); /* the HDD LED's next blink */
	json_t *st = state_of(w);
	assert_string_equal(str(st, "power"), "booting");
	assert_string_equal(str(st, "phase"), "firmware");
	json_decref(st);
	ipkvm_vtarget_signal(w->vt, &sig);
	assert_int_equal(sig.state, IPKVM_SIGNAL_OK);
	assert_int_equal(sig.width, 1024);
	assert_int_equal(sig.height, 768);

	/* Frames: one per change, in the firmware's mode, none while unchanged. */
	assert_int_equal(ipkvm_vtarget_render(w->vt, &gen, &f), 0);
	assert_int_equal(f->width, 1024);
	assert_int_equal(f->height, 768);
	assert_int_equal(f->format, IPKVM_FMT_RGB24);
	assert_true(f->ts_us > 0);
	ipkvm_frame_unref(f);
	assert_int_equal(ipkvm_vtarget_render(w->vt, &gen, &f), -EAGAIN);

	tap(w, 0x29); /* Esc: continue boot */
	st = state_of(w);
	assert_string_equal(str(st, "power"), "running");
	assert_string_equal(str(st, "phase"), "console");
	assert_string_equal(str(st, "booted"), "disk");
	json_decref(st);
	assert_int_equal(l->get(l->ctx, IPKVM_ATX_HDD_LED), 0);
	assert_int_equal(ipkvm_vtarget_render(w->vt, &gen, &f), 0);
	assert_int_equal(f->width, 1920);
	assert_int_equal(f->height, 1080);
	ipkvm_frame_unref(f);

	/* A short press while on: the OS shuts down. */
	press_power(w, 200);
	st = state_of(w);
	assert_string_equal(str(st, "power"), "off");
	assert_int_equal(json_array_size(json_object_get(st, "rows")), 0);
	json_decref(st);
	assert_int_equal(l->get(l->ctx, IPKVM_ATX_POWER_LED), 0);
	assert_int_equal(ipkvm_vtarget_render(w->vt, &gen, &f), -ENODATA);
}

static void test_typing_and_led_report_back(void **state)
{
	struct world *w = *state;
	press_power(w, 100);
	tap(w, 0x29);
	json_t *st = state_of(w);
	int row = (int)json_integer_value(json_object_get(json_object_get(st, "cursor"), "row"));
	json_decref(st);
	key(w, 0xE1, true); /* Shift */
	tap(w, 0x0B);	    /* H */
	key(w, 0xE1, false);
	tap(w, 0x0C); /* i */
	st = state_of(w);
	const char *line = json_string_value(json_array_get(json_object_get(st, "rows"), row));
	assert_string_equal(line, "user@target:~$ Hi");
	json_decref(st);

	/* Caps Lock: the host answers with the LED output report on the keyboard interface. */
	tap(w, 0x39);
	uint8_t led = 0;
	assert_int_equal(read(w->dev[0], &led, 1), 1);
	assert_int_equal(led, 0x02);
	st = state_of(w);
	assert_true(json_is_true(json_object_get(json_object_get(st, "leds"), "caps")));
	json_decref(st);
	tap(w, 0x39);
	assert_int_equal(read(w->dev[0], &led, 1), 1);
	assert_int_equal(led, 0x00);
}

static void test_pointer_follows_mode_and_reports(void **state)
{
	struct world *w = *state;
	press_power(w, 100);
	uint8_t r[IPKVM_HID_ABS_REPORT_LEN];
	ipkvm_hid_abs_report(0, 8192, 24575, 0, 0, r);
	send_report(w, 1, r, sizeof(r));
	json_t *st = state_of(w);
	json_t *p = json_object_get(st, "pointer");
	/* Firmware 1024x768: x = (8192 * 1023 + 16383) / 32767. */
	assert_int_equal(json_integer_value(json_object_get(p, "x")), 256);
	assert_int_equal(json_integer_value(json_object_get(p, "y")), 575);
	json_decref(st);
	tap(w, 0x29);
	send_report(w, 1, r, sizeof(r)); /* the same position in the 1080p console */
	st = state_of(w);
	p = json_object_get(st, "pointer");
	assert_int_equal(json_integer_value(json_object_get(p, "x")), 480);
	assert_int_equal(json_integer_value(json_object_get(p, "y")), 809);
	json_decref(st);
	uint8_t rel[5] = {0, 10, (uint8_t)-20, 0, 0};
	send_report(w, 2, rel, sizeof(rel));
	st = state_of(w);
	p = json_object_get(st, "pointer");
	assert_int_equal(json_integer_value(json_object_get(p, "x")), 490);
	assert_int_equal(json_integer_value(json_object_get(p, "y")), 789);
	json_decref(st);
}

static void test_media_and_boot_from_medium(void **state)
{
	struct world *w = *state;
	json_t *st = state_of(w);
	json_t *m = json_object_get(st, "media");
	assert_int_equal(json_array_size(m), 2);
	assert_string_equal(str(json_array_get(m, 0), "name"), "live.iso");
	assert_string_equal(str(json_array_get(m, 0), "label"), "TEST LIVE");
	assert_true(json_is_null(json_object_get(json_array_get(m, 0), "error")));
	assert_string_equal(str(json_array_get(m, 1), "name"), "junk.img");
	assert_true(json_is_null(json_object_get(json_array_get(m, 1), "label")));
	assert_non_null(str(json_array_get(m, 1), "error"));
	json_decref(st);
	press_power(w, 100);
	tap(w, 0x4F); /* Right: the Boot page */
	tap(w, 0x51); /* Down: live.iso */
	tap(w, 0x28); /* Enter */
	st = state_of(w);
	assert_string_equal(str(st, "booted"), "live.iso");
	bool shown = false;
	json_t *rows = json_object_get(st, "rows");
	for (size_t i = 0; i < json_array_size(rows); i++)
		shown |= strstr(json_string_value(json_array_get(rows, i)), "TEST LIVE") != NULL;
	assert_true(shown);
	json_decref(st);
}

/* Drives attached at run time (the MSD module's LUNs) join the boot menu after the
 * configured images; eject takes them out. */
static void test_drive_attach_and_eject(void **state)
{
	struct world *w = *state;
	char iso[128];
	snprintf(iso, sizeof(iso), "%s/live.iso", w->dir);
	assert_int_equal(ipkvm_vtarget_attach(w->vt, 9, iso, true, false), -EINVAL);
	assert_int_equal(ipkvm_vtarget_attach(w->vt, 1, iso, true, true), -EINVAL);
	assert_int_equal(ipkvm_vtarget_attach(w->vt, 1, iso, true, false), 0);
	assert_int_equal(ipkvm_vtarget_attach(w->vt, 1, iso, true, false), -EBUSY);
	json_t *st = state_of(w);
	json_t *m = json_object_get(st, "media");
	assert_int_equal(json_array_size(m), 3);
	json_t *d = json_array_get(m, 2);
	assert_string_equal(str(d, "name"), "live.iso");
	assert_string_equal(str(d, "label"), "TEST LIVE");
	assert_int_equal(json_integer_value(json_object_get(d, "lun")), 1);
	assert_true(json_is_null(json_object_get(json_array_get(m, 0), "lun")));
	json_decref(st);
	/* Boot it: the third entry of the menu. */
	press_power(w, 100);
	tap(w, 0x4F);
	tap(w, 0x51);
	tap(w, 0x51);
	tap(w, 0x51);
	tap(w, 0x28);
	st = state_of(w);
	assert_string_equal(str(st, "booted"), "live.iso");
	json_decref(st);
	assert_int_equal(ipkvm_vtarget_eject(w->vt, 1), 0);
	st = state_of(w);
	assert_int_equal(json_array_size(json_object_get(st, "media")), 2);
	json_decref(st);
}

static void test_poweroff_command_and_bad_reports(void **state)
{
	struct world *w = *state;
	press_power(w, 100);
	tap(w, 0x29);
	/* A report of the wrong size for its interface is refused, nothing else changes. */
	uint8_t bad[3] = {1, 2, 3};
	send_report(w, 0, bad, sizeof(bad));
	static const uint8_t cmd[] = {0x13, 0x12, 0x1A, 0x08, 0x15, 0x12, 0x09, 0x09, 0x28};
	for (size_t i = 0; i < sizeof(cmd); i++) /* "poweroff" Enter */
		tap(w, cmd[i]);
	json_t *st = state_of(w);
	assert_string_equal(str(st, "power"), "off");
	json_decref(st);
}

static void test_bad_config(void **state)
{
	(void)state;
	char err[128] = "";
	struct ipkvm_vtarget_config cfg = {
	    .width = 1920, .height = 1080, .fps = 60, .format = IPKVM_FMT_YUYV, .layout = "de"};
	assert_null(ipkvm_vtarget_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "layout"));
	cfg.layout = "jp";
	cfg.format = IPKVM_FMT_MJPEG;
	assert_null(ipkvm_vtarget_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "raw frames"));
	cfg.format = IPKVM_FMT_YUYV;
	cfg.width = 7;
	assert_null(ipkvm_vtarget_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "mode"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hid_open_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_power_line_boots_and_leds_follow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_typing_and_led_report_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pointer_follows_mode_and_reports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_media_and_boot_from_medium, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drive_attach_and_eject, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_poweroff_command_and_bad_reports, setup, teardown),
	    cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
