/*
 * test_keysym_target: keysym input end to end on the virtual computer. The actions of
 * hid/keysym.c go through the real HID layer (ipkvm_hid_key: keyboard model, boot reports,
 * the gadget protocol on the virtual target's socketpairs) into the virtual target, whose
 * USB host types them on its console with its own us/jp keycap tables; the test reads the
 * console line. Typed as a client without modifiers and as a US client that holds Shift for
 * shifted symbols (so Shift is lifted and added on the way). The LED path comes back the
 * same way: Caps Lock pressed by keysym, the target's LED report read by the HID layer
 * (ipkvm_hid_get_leds), handed to the keysym object, and letters still arrive in the case
 * the client sent. Also ipkvm_hid_mouse_relative().
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hid/hid.h"
#include "hid/keysym.h"
#include "hid/layout.h"
#include "target/virtual.h"

#define XK_Shift_L   0xffe1
#define XK_Caps_Lock 0xffe5
#define XK_Escape    0xff1b
#define XK_yen	     0x00a5

#define PROMPT "user@target:~$ "

struct world {
	struct ipkvm_vtarget *vt;
	struct ipkvm_hid *hid;
	struct ipkvm_keysym_kbd *kbd;
	int64_t now;
	int hid_changed;
};

static int64_t w_now(void *ctx)
{
	return ((struct world *)ctx)->now;
}

static void w_hid_changed(void *ctx)
{
	((struct world *)ctx)->hid_changed++;
}

/* The target reads every report waiting; then the HID layer reads what came back (the LED
 * output report). */
static void pump(struct world *w)
{
	int host[IPKVM_VTARGET_HID_FDS];
	struct pollfd fds[IPKVM_HID_OUT_MAX_FDS];
	size_t n;

	ipkvm_vtarget_hid_fds(w->vt, host);
	for (int i = 0; i < IPKVM_VTARGET_HID_FDS; i++)
		ipkvm_vtarget_hid_readable(w->vt, host[i]);
	n = ipkvm_hid_pollfds(w->hid, fds, IPKVM_HID_OUT_MAX_FDS);
	for (size_t i = 0; i < n; i++) {
		struct pollfd p = {.fd = fds[i].fd, .events = POLLIN};
		if (poll(&p, 1, 0) == 1)
			ipkvm_hid_fd_ready(w->hid, p.fd, p.revents);
	}
}

static void apply(struct world *w, const struct ipkvm_key_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ipkvm_hid_key(w->hid, a[i].code, a[i].down), 0);
		pump(w);
	}
}

static void key(struct world *w, uint32_t keysym, bool down)
{
	struct ipkvm_key_action a[IPKVM_KEYSYM_MAX_ACTIONS];
	int n = ipkvm_keysym_event(w->kbd, keysym, down, a, IPKVM_KEYSYM_MAX_ACTIONS);

	if (n < 0)
		fail_msg("keysym 0x%x: %d", keysym, n);
	apply(w, a, (size_t)n);
}

static void tap(struct world *w, uint32_t keysym)
{
	key(w, keysym, true);
	key(w, keysym, false);
}

static struct world *world_new(const char *layout)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[128] = "";

	assert_non_null(w);
	w->now = 1000;
	struct ipkvm_vtarget_config vc = {.width = 1920,
					  .height = 1080,
					  .fps = 60,
					  .format = IPKVM_FMT_RGB24,
					  .layout = layout,
					  .ctx = w,
					  .now_ms = w_now};
	w->vt = ipkvm_vtarget_create(&vc, err, sizeof(err));
	assert_non_null(w->vt);
	struct ipkvm_hid_config hc = {.output = "virtual",
				      .keyboard = IPKVM_VTARGET_HID_KEYBOARD,
				      .mouse_abs = IPKVM_VTARGET_HID_MOUSE_ABS,
				      .mouse_rel = IPKVM_VTARGET_HID_MOUSE_REL,
				      .consumer = IPKVM_VTARGET_HID_CONSUMER,
				      .open_fn = ipkvm_vtarget_hid_open,
				      .open_ctx = w->vt,
				      .changed = w_hid_changed,
				      .ctx = w};
	w->hid = ipkvm_hid_create(&hc);
	assert_non_null(w->hid);
	w->kbd = ipkvm_keysym_kbd_new(ipkvm_layout_find(layout));
	assert_non_null(w->kbd);
	pump(w);

	/* Power on, then Esc at the firmware: the OS console with its prompt. */
	const struct ipkvm_atx_lines *l = ipkvm_vtarget_atx_lines(w->vt);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_BUTTON, true), 0);
	w->now += 200;
	ipkvm_vtarget_tick(w->vt);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_BUTTON, false), 0);
	tap(w, XK_Escape);
	return w;
}

static void world_free(struct world *w)
{
	struct ipkvm_key_action a[IPKVM_KEYSYM_MAX_RELEASE];

	assert_int_equal(ipkvm_keysym_release_all(w->kbd, a, IPKVM_KEYSYM_MAX_RELEASE), 0);
	ipkvm_keysym_kbd_free(w->kbd);
	ipkvm_hid_destroy(w->hid);
	ipkvm_vtarget_destroy(w->vt);
	free(w);
}

/* The console line the cursor is on. */
static void line(struct world *w, char *buf, size_t len)
{
	json_t *st = ipkvm_vtarget_state(w->vt);
	json_t *cur = json_object_get(st, "cursor");
	int row = (int)json_integer_value(json_object_get(cur, "row"));
	const char *s = json_string_value(json_array_get(json_object_get(st, "rows"), (size_t)row));

	assert_non_null(s);
	snprintf(buf, len, "%s", s);
	json_decref(st);
}

/* Characters a US keyboard makes with Shift. */
static bool us_shifted(char c)
{
	return (c >= 'A' && c <= 'Z') || (c && strchr("~!@#$%^&*()_+{}|:\"<>?", c));
}

/* Types s by keysym: plainly, or as a US client that holds Shift_L around its shifted
 * characters. */
static void type(struct world *w, const char *s, bool us_client)
{
	for (; *s; s++) {
		bool shift = us_client && us_shifted(*s);
		if (shift)
			key(w, XK_Shift_L, true);
		tap(w, (unsigned char)*s);
		if (shift)
			key(w, XK_Shift_L, false);
	}
}

static void check_typing(const char *layout, bool us_client)
{
	static const char text[] = "Hello, World! @_\\|~^";
	struct world *w = world_new(layout);
	char got[512];

	type(w, text, us_client);
	line(w, got, sizeof(got));
	assert_string_equal(got, PROMPT "Hello, World! @_\\|~^");
	/* nothing held on the target afterwards */
	json_t *st = ipkvm_hid_state(w->hid);
	assert_int_equal(json_array_size(json_object_get(st, "pressed")), 0);
	json_decref(st);
	world_free(w);
}

static void test_us_plain(void **state)
{
	(void)state;
	check_typing("us", false);
}

static void test_us_client_shift(void **state)
{
	(void)state;
	check_typing("us", true);
}

static void test_jp_plain(void **state)
{
	(void)state;
	check_typing("jp", false);
}

static void test_jp_client_shift(void **state)
{
	(void)state;
	check_typing("jp", true);
}

/* The JIS Yen key types \ on the virtual target (its keycap table, like Windows). */
static void test_jp_yen(void **state)
{
	struct world *w = world_new("jp");
	char got[512];

	(void)state;
	tap(w, XK_yen);
	type(w, "=+:*", true);
	line(w, got, sizeof(got));
	assert_string_equal(got, PROMPT "\\=+:*");
	world_free(w);
}

static void test_caps_lock_led_round_trip(void **state)
{
	struct world *w = world_new("us");
	struct ipkvm_hid_leds leds;
	char got[512];

	(void)state;
	ipkvm_hid_get_leds(w->hid, &leds);
	assert_false(leds.caps);
	assert_false(leds.num);
	assert_false(leds.scroll);
	int changed = w->hid_changed;
	tap(w, XK_Caps_Lock);
	/* the target's LED report came back through the HID layer */
	ipkvm_hid_get_leds(w->hid, &leds);
	assert_true(leds.caps);
	assert_false(leds.num);
	assert_true(w->hid_changed > changed);
	/* without telling the keysym object, letters come out in the wrong case... */
	type(w, "Ab", false);
	line(w, got, sizeof(got));
	assert_string_equal(got, PROMPT "aB");
	/* ...with it, as sent */
	ipkvm_keysym_set_caps_lock(w->kbd, leds.caps);
	type(w, "Ab1", false);
	type(w, "Cd!", true);
	line(w, got, sizeof(got));
	assert_string_equal(got, PROMPT "aBAb1Cd!");
	tap(w, XK_Caps_Lock);
	ipkvm_hid_get_leds(w->hid, &leds);
	assert_false(leds.caps);
	world_free(w);
}

static void test_mouse_relative(void **state)
{
	struct world *w = world_new("us");

	(void)state;
	assert_false(ipkvm_hid_mouse_relative(w->hid));
	assert_int_equal(ipkvm_hid_set_mouse_mode(w->hid, "relative"), 0);
	assert_true(ipkvm_hid_mouse_relative(w->hid));
	assert_int_equal(ipkvm_hid_set_mouse_mode(w->hid, "sideways"), -EINVAL);
	assert_true(ipkvm_hid_mouse_relative(w->hid));
	assert_int_equal(ipkvm_hid_set_mouse_mode(w->hid, "absolute"), 0);
	assert_false(ipkvm_hid_mouse_relative(w->hid));
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_us_plain),	   cmocka_unit_test(test_us_client_shift),
	    cmocka_unit_test(test_jp_plain),	   cmocka_unit_test(test_jp_client_shift),
	    cmocka_unit_test(test_jp_yen),	   cmocka_unit_test(test_caps_lock_led_round_trip),
	    cmocka_unit_test(test_mouse_relative),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
