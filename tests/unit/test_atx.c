/* Unit tests for atx/atx.c: actions against fake lines and a fake clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "atx/atx.h"

struct fake {
	bool out[2];	  /* power, reset button levels */
	int led[2];	  /* power, HDD: 1, 0 or -ENOENT */
	int set_err;	  /* next set() fails with this */
	int presses[2];	  /* press edges seen */
	int64_t now;	  /* clock */
	int64_t timer;	  /* last delay asked, -2 = none */
	int changes;	  /* cb.changed calls */
	bool led_follows; /* a press of power toggles the power LED (a board that reacts) */
	char log[256];	  /* "P+ P- R+ R-" edges */
};

static int f_set(void *ctx, enum ipkvm_atx_line line, bool pressed)
{
	struct fake *f = ctx;
	if (f->set_err) {
		int e = f->set_err;
		f->set_err = 0;
		return e;
	}
	int i = line == IPKVM_ATX_POWER_BUTTON ? 0 : 1;
	if (pressed && !f->out[i])
		f->presses[i]++;
	f->out[i] = pressed;
	size_t n = strlen(f->log);
	snprintf(f->log + n, sizeof(f->log) - n, "%s%c%c", n ? " " : "", i ? 'R' : 'P',
		 pressed ? '+' : '-');
	if (pressed && i == 0 && f->led_follows && f->led[0] >= 0)
		f->led[0] = !f->led[0];
	return 0;
}

static int f_get(void *ctx, enum ipkvm_atx_line line)
{
	struct fake *f = ctx;
	return f->led[line == IPKVM_ATX_POWER_LED ? 0 : 1];
}

static void f_changed(void *ctx)
{
	((struct fake *)ctx)->changes++;
}

static void f_timer(void *ctx, int64_t ms)
{
	((struct fake *)ctx)->timer = ms;
}

static int64_t f_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static struct ipkvm_atx *make(struct fake *f, int power_led, int hdd_led)
{
	memset(f, 0, sizeof(*f));
	f->led[0] = power_led;
	f->led[1] = hdd_led;
	f->now = 1000;
	f->timer = -2;
	struct ipkvm_atx_config cfg = {.click_ms = 200, .long_click_ms = 5500};
	struct ipkvm_atx_lines lines = {.name = "fake", .set = f_set, .get = f_get, .ctx = f};
	struct ipkvm_atx_cb cb = {
	    .ctx = f, .changed = f_changed, .timer = f_timer, .now_ms = f_now};
	struct ipkvm_atx *a = ipkvm_atx_create(&cfg, &lines, &cb);
	assert_non_null(a);
	return a;
}

static void test_bad_config(void **state)
{
	(void)state;
	struct fake f = {0};
	struct ipkvm_atx_lines lines = {.name = "fake", .set = f_set, .get = f_get, .ctx = &f};
	struct ipkvm_atx_config bad[] = {{0, 5500}, {200, 200}, {200, 60001}, {10001, 20000}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(ipkvm_atx_create(&bad[i], &lines, NULL));
}

static void test_click_holds_then_releases(void **state)
{
	(void)state;
	struct fake f;
	struct ipkvm_atx *a = make(&f, 0, 0);
	assert_int_equal(ipkvm_atx_click(a, "power"), 0);
	assert_true(f.out[0]);
	assert_int_equal(f.timer, 200);
	assert_true(ipkvm_atx_busy(a));
	assert_int_equal(f.changes, 1);
	/* A second action while held is refused and changes nothing. */
	bool pressed = true;
	assert_int_equal(ipkvm_atx_click(a, "reset"), -EBUSY);
	assert_int_equal(ipkvm_atx_power(a, "on", &pressed), -EBUSY);
	assert_false(pressed);
	/* An early tick re-arms for the rest. */
	f.now += 150;
	ipkvm_atx_tick(a);
	assert_true(f.out[0]);
	assert_int_equal(f.timer, 50);
	f.now += 50;
	ipkvm_atx_tick(a);
	assert_false(f.out[0]);
	assert_false(ipkvm_atx_busy(a));
	assert_int_equal(f.changes, 2);
	assert_string_equal(f.log, "P+ P-");
	assert_int_equal(ipkvm_atx_click(a, "bogus"), -EINVAL);
	ipkvm_atx_destroy(a);
}

static void test_long_click_and_reset(void **state)
{
	(void)state;
	struct fake f;
	struct ipkvm_atx *a = make(&f, 1, 0);
	assert_int_equal(ipkvm_atx_click(a, "power_long"), 0);
	assert_int_equal(f.timer, 5500);
	f.now += 5500;
	ipkvm_atx_tick(a);
	assert_int_equal(ipkvm_atx_click(a, "reset"), 0);
	assert_int_equal(f.timer, 200);
	f.now += 200;
	ipkvm_atx_tick(a);
	assert_string_equal(f.log, "P+ P- R+ R-");
	ipkvm_atx_destroy(a);
}

static void test_power_actions_follow_led(void **state)
{
	(void)state;
	struct fake f;
	bool pressed;
	struct ipkvm_atx *a = make(&f, 0, 0);
	/* Off machine: off, off_hard and reset_hard do nothing; on presses. */
	assert_int_equal(ipkvm_atx_power(a, "off", &pressed), 0);
	assert_false(pressed);
	assert_int_equal(ipkvm_atx_power(a, "off_hard", &pressed), 0);
	assert_false(pressed);
	assert_int_equal(ipkvm_atx_power(a, "reset_hard", &pressed), 0);
	assert_false(pressed);
	assert_string_equal(f.log, "");
	assert_int_equal(ipkvm_atx_power(a, "on", &pressed), 0);
	assert_true(pressed);
	f.now += 200;
	ipkvm_atx_tick(a);
	/* On machine: on does nothing; off_hard holds long; reset_hard presses reset. */
	f.led[0] = 1;
	ipkvm_atx_leds_changed(a);
	assert_int_equal(ipkvm_atx_power(a, "on", &pressed), 0);
	assert_false(pressed);
	assert_int_equal(ipkvm_atx_power(a, "reset_hard", &pressed), 0);
	assert_true(pressed);
	assert_int_equal(f.timer, 200);
	f.now += 200;
	ipkvm_atx_tick(a);
	assert_int_equal(ipkvm_atx_power(a, "off_hard", &pressed), 0);
	assert_true(pressed);
	assert_int_equal(f.timer, 5500);
	f.now += 5500;
	ipkvm_atx_tick(a);
	assert_string_equal(f.log, "P+ P- R+ R- P+ P-");
	assert_int_equal(ipkvm_atx_power(a, "sideways", &pressed), -EINVAL);
	ipkvm_atx_destroy(a);
}

static void test_unwired_power_led(void **state)
{
	(void)state;
	struct fake f;
	bool pressed;
	struct ipkvm_atx *a = make(&f, -ENOENT, -ENOENT);
	assert_int_equal(ipkvm_atx_power(a, "on", &pressed), -ENOTSUP);
	assert_int_equal(ipkvm_atx_click(a, "power"), 0); /* raw clicks still work */
	json_t *st = ipkvm_atx_state(a);
	assert_true(json_is_null(json_object_get(json_object_get(st, "leds"), "power")));
	assert_false(json_is_true(json_object_get(json_object_get(st, "wired"), "power_led")));
	assert_true(json_is_true(json_object_get(st, "busy")));
	assert_string_equal(json_string_value(json_object_get(st, "action")), "click power");
	assert_string_equal(json_string_value(json_object_get(st, "driver")), "fake");
	json_decref(st);
	ipkvm_atx_destroy(a); /* releases the held button */
	assert_false(f.out[0]);
}

static void test_led_changes_reported_once(void **state)
{
	(void)state;
	struct fake f;
	struct ipkvm_atx *a = make(&f, 0, 0);
	ipkvm_atx_leds_changed(a);
	assert_int_equal(f.changes, 0);
	f.led[1] = 1;
	ipkvm_atx_leds_changed(a);
	ipkvm_atx_leds_changed(a);
	assert_int_equal(f.changes, 1);
	json_t *st = ipkvm_atx_state(a);
	assert_true(json_is_true(json_object_get(json_object_get(st, "leds"), "hdd")));
	assert_true(json_is_false(json_object_get(json_object_get(st, "leds"), "power")));
	json_decref(st);
	ipkvm_atx_destroy(a);
}

static void test_line_error(void **state)
{
	(void)state;
	struct fake f;
	struct ipkvm_atx *a = make(&f, 0, 0);
	f.set_err = -EIO;
	assert_int_equal(ipkvm_atx_click(a, "power"), -EIO);
	assert_false(ipkvm_atx_busy(a));
	assert_int_equal(ipkvm_atx_click(a, "power"), 0);
	ipkvm_atx_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_config),
	    cmocka_unit_test(test_click_holds_then_releases),
	    cmocka_unit_test(test_long_click_and_reset),
	    cmocka_unit_test(test_power_actions_follow_led),
	    cmocka_unit_test(test_unwired_power_led),
	    cmocka_unit_test(test_led_changes_reported_once),
	    cmocka_unit_test(test_line_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
