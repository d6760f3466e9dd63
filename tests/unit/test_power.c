/*
 * Unit tests for target/power with a fake clock: exact callback sequences (event, value, time)
 * for a short press booting, the HDD LED blink pattern and the end of the boot, a 4999 ms press
 * while on (ACPI event only), a press held 5000 ms (off at exactly the 5 s mark, before the
 * release; late ticks stamp the exact moment), reset from RUNNING and from BOOTING, the 50 ms
 * debounce on both buttons, the OS side (shutdown from inside the ACPI callback, booted()),
 * next_deadline() at each step, config validation and state names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "target/power.h"

struct rec {
	enum ipkvm_power_event ev;
	int value;
	int64_t at;
};

struct log {
	struct rec r[512];
	size_t n;
	bool shutdown_on_acpi;
	struct ipkvm_power *p;
};

static void record(void *ctx, enum ipkvm_power_event ev, int value, int64_t at_ms)
{
	struct log *l = ctx;
	assert_true(l->n < 512);
	l->r[l->n++] = (struct rec){ev, value, at_ms};
	if (ev == IPKVM_POWER_EV_ACPI_BUTTON && l->shutdown_on_acpi)
		assert_int_equal(ipkvm_power_shutdown(l->p, at_ms), 0);
}

#define ST  IPKVM_POWER_EV_STATE
#define PL  IPKVM_POWER_EV_POWER_LED
#define HD  IPKVM_POWER_EV_HDD_LED
#define AC  IPKVM_POWER_EV_ACPI_BUTTON
#define OFF IPKVM_POWER_OFF
#define BOO IPKVM_POWER_BOOTING
#define RUN IPKVM_POWER_RUNNING

/* Asserts the recorded events equal exp[0..n) exactly, then clears the log. */
static void expect(struct log *l, const struct rec *exp, size_t n)
{
	for (size_t i = 0; i < n && i < l->n; i++) {
		if (l->r[i].ev != exp[i].ev || l->r[i].value != exp[i].value ||
		    l->r[i].at != exp[i].at)
			fail_msg("event %zu: got (%d,%d,%lld) want (%d,%d,%lld)", i, l->r[i].ev,
				 l->r[i].value, (long long)l->r[i].at, exp[i].ev, exp[i].value,
				 (long long)exp[i].at);
	}
	assert_int_equal(l->n, n);
	l->n = 0;
}
#define EXPECT(l, ...)                                                                             \
	expect((l), (const struct rec[]){__VA_ARGS__},                                             \
	       sizeof((const struct rec[]){__VA_ARGS__}) / sizeof(struct rec))
#define EXPECT_NONE(l) assert_int_equal((l)->n, 0)

static void leds(const struct ipkvm_power *p, enum ipkvm_power_state s, bool pwr, bool hdd)
{
	assert_int_equal(ipkvm_power_get_state(p), s);
	assert_int_equal(ipkvm_power_power_led(p), pwr);
	assert_int_equal(ipkvm_power_hdd_led(p), hdd);
}

static void setup_power(struct ipkvm_power *p, struct log *l)
{
	memset(l, 0, sizeof(*l));
	l->p = p;
	assert_int_equal(ipkvm_power_init(p, NULL, record, l, 0), 0);
}

/* Boots with a 100 ms press released at t and ends the boot at once; clears the log. */
static void boot_to_running(struct ipkvm_power *p, struct log *l, int64_t t)
{
	ipkvm_power_set_power_button(p, true, t - 100);
	ipkvm_power_set_power_button(p, false, t);
	assert_int_equal(ipkvm_power_booted(p, t), 0);
	EXPECT(l, {ST, BOO, t}, {PL, 1, t}, {HD, 1, t}, {ST, RUN, t}, {HD, 0, t});
	leds(p, RUN, true, false);
}

static void test_short_press_boots(void **state)
{
	struct ipkvm_power p;
	struct log l;

	setup_power(&p, &l);
	leds(&p, OFF, false, false);
	assert_int_equal(ipkvm_power_next_deadline(&p), -1);

	/* Pressing does nothing yet: a press while off acts on release. */
	ipkvm_power_set_power_button(&p, true, 1000);
	EXPECT_NONE(&l);
	leds(&p, OFF, false, false);
	assert_int_equal(ipkvm_power_next_deadline(&p), -1);
	ipkvm_power_set_power_button(&p, true, 1050); /* repeated level: ignored */
	ipkvm_power_set_power_button(&p, false, 1100);
	EXPECT(&l, {ST, BOO, 1100}, {PL, 1, 1100}, {HD, 1, 1100});
	leds(&p, BOO, true, true);

	/* HDD LED: on 250 ms, off 250 ms, from the boot start. */
	assert_int_equal(ipkvm_power_next_deadline(&p), 1350);
	ipkvm_power_tick(&p, 1349);
	EXPECT_NONE(&l);
	ipkvm_power_tick(&p, 1350);
	EXPECT(&l, {HD, 0, 1350});
	leds(&p, BOO, true, false);
	assert_int_equal(ipkvm_power_next_deadline(&p), 1600);

	/* A late tick reports every edge at its own moment. */
	ipkvm_power_tick(&p, 2599);
	EXPECT(&l, {HD, 1, 1600}, {HD, 0, 1850}, {HD, 1, 2100}, {HD, 0, 2350});
	leds(&p, BOO, true, false);

	/* Boot ends at 1100 + 1500; the HDD edge due at the same moment loses to it. */
	assert_int_equal(ipkvm_power_next_deadline(&p), 2600);
	ipkvm_power_tick(&p, 2600);
	EXPECT(&l, {ST, RUN, 2600});
	leds(&p, RUN, true, false);
	assert_int_equal(ipkvm_power_next_deadline(&p), -1);
	ipkvm_power_tick(&p, 100000);
	EXPECT_NONE(&l);
}

static void test_boot_end_while_hdd_on(void **state)
{
	struct ipkvm_power p;
	struct log l;
	struct ipkvm_power_config cfg;

	ipkvm_power_config_defaults(&cfg);
	cfg.boot_ms = 1600; /* ends during an "on" phase (1600..1850) */
	memset(&l, 0, sizeof(l));
	assert_int_equal(ipkvm_power_init(&p, &cfg, record, &l, 0), 0);
	ipkvm_power_set_power_button(&p, true, 0);
	ipkvm_power_set_power_button(&p, false, 100);
	ipkvm_power_tick(&p, 1700);
	EXPECT(&l, {ST, BOO, 100}, {PL, 1, 100}, {HD, 1, 100}, {HD, 0, 350}, {HD, 1, 600},
	       {HD, 0, 850}, {HD, 1, 1100}, {HD, 0, 1350}, {HD, 1, 1600}, {ST, RUN, 1700},
	       {HD, 0, 1700});
	leds(&p, RUN, true, false);
}

static void test_press_4999_is_acpi_only(void **state)
{
	struct ipkvm_power p;
	struct log l;

	setup_power(&p, &l);
	boot_to_running(&p, &l, 1000);
	ipkvm_power_set_power_button(&p, true, 10000);
	assert_int_equal(ipkvm_power_next_deadline(&p), 15000);
	ipkvm_power_tick(&p, 14999);
	EXPECT_NONE(&l);
	ipkvm_power_set_power_button(&p, false, 14999);
	EXPECT(&l, {AC, 0, 14999});
	leds(&p, RUN, true, false);
	assert_int_equal(ipkvm_power_next_deadline(&p), -1);
	ipkvm_power_tick(&p, 30000);
	EXPECT_NONE(&l);
	leds(&p, RUN, true, false);

	/* Same during BOOTING: the firmware gets the event, the boot goes on. */
	setup_power(&p, &l);
	ipkvm_power_set_power_button(&p, true, 0);
	ipkvm_power_set_power_button(&p, false, 100);
	l.n = 0;
	ipkvm_power_set_power_button(&p, true, 200);
	ipkvm_power_set_power_button(&p, false, 300);
	EXPECT(&l, {AC, 0, 300});
	leds(&p, BOO, true, true); /* first HDD edge is at 350 */
	assert_int_equal(ipkvm_power_next_deadline(&p), 350);
}

static void test_acpi_shutdown_from_callback(void **state)
{
	struct ipkvm_power p;
	struct log l;

	setup_power(&p, &l);
	boot_to_running(&p, &l, 1000);
	l.shutdown_on_acpi = true;
	ipkvm_power_set_power_button(&p, true, 5000);
	ipkvm_power_set_power_button(&p, false, 5200);
	EXPECT(&l, {AC, 0, 5200}, {ST, OFF, 5200}, {PL, 0, 5200});
	leds(&p, OFF, false, false);
	assert_int_equal(ipkvm_power_next_deadline(&p), -1);
	assert_int_equal(ipkvm_power_shutdown(&p, 6000), -EALREADY);
	EXPECT_NONE(&l);
}

static void test_hold_5000_forces_off(void **state)
{
	struct ipkvm_power p;
	struct log l;

	setup_power(&p, &l);
	boot_to_running(&p, &l, 1000);
	ipkvm_power_set_power_button(&p, true, 10000);
	ipkvm_power_tick(&p, 14999);
	EXPECT_NONE(&l);
	leds(&p, RUN, true, false);
	ipkvm_power_tick(&p, 15000);
	EXPECT(&l, {ST, OFF, 15000}, {PL, 0, 15000});
	leds(&p, OFF, false, false); /* off while the button is still held */
	assert_int_equal(ipkvm_power_next_deadline(&p), -1);
	/* The release does nothing more: no ACPI event, no boot. */
	ipkvm_power_set_power_button(&p, false, 16000);
	EXPECT_NONE(&l);
	leds(&p, OFF, false, false);
	ipkvm_power_tick(&p, 30000);
	EXPECT_NONE(&l);

	/* No tick in between: the release at exactly 5000 ms fires the force-off first. */
	setup_power(&p, &l);
	boot_to_running(&p, &l, 1000);
	ipkvm_power_set_power_button(&p, true, 2000);
	ipkvm_power_set_power_button(&p, false, 7000);
	EXPECT(&l, {ST, OFF, 7000}, {PL, 0, 7000});

	/* A late release long after: the change is stamped at the 5 s mark. */
	setup_power(&p, &l);
	boot_to_running(&p, &l, 1000);
	ipkvm_power_set_power_button(&p, true, 2000);
	ipkvm_power_set_power_button(&p, false, 9000);
	EXPECT(&l, {ST, OFF, 7000}, {PL, 0, 7000});

	/* During BOOTING (boot_ms 0: it stays there): the HDD LED goes off too, and blinks are
	 * reported up to the force-off. */
	struct ipkvm_power_config cfg;
	ipkvm_power_config_defaults(&cfg);
	cfg.boot_ms = 0;
	memset(&l, 0, sizeof(l));
	assert_int_equal(ipkvm_power_init(&p, &cfg, record, &l, 0), 0);
	ipkvm_power_set_power_button(&p, true, 0);
	ipkvm_power_set_power_button(&p, false, 100);
	ipkvm_power_tick(&p, 5000);
	l.n = 0;
	leds(&p, BOO, true, false); /* 100 + 19*250 = 4850: off phase */
	ipkvm_power_set_power_button(&p, true, 5000);
	ipkvm_power_tick(&p, 10000);
	/* Edges from 5100 (on) to 9850 (off), then the force-off at 10000 (HDD already off). */
	EXPECT(&l, {HD, 1, 5100}, {HD, 0, 5350}, {HD, 1, 5600}, {HD, 0, 5850}, {HD, 1, 6100},
	       {HD, 0, 6350}, {HD, 1, 6600}, {HD, 0, 6850}, {HD, 1, 7100}, {HD, 0, 7350},
	       {HD, 1, 7600}, {HD, 0, 7850}, {HD, 1, 8100}, {HD, 0, 8350}, {HD, 1, 8600},
	       {HD, 0, 8850}, {HD, 1, 9100}, {HD, 0, 9350}, {HD, 1, 9600}, {HD, 0, 9850},
	       {ST, OFF, 10000}, {PL, 0, 10000});
	leds(&p, OFF, false, false);
}

static void test_reset_restarts(void **state)
{
	struct ipkvm_power p;
	struct log l;

	setup_power(&p, &l);
	boot_to_running(&p, &l, 1000);
	/* Acts on release: nothing while held. */
	ipkvm_power_set_reset_button(&p, true, 20000);
	assert_int_equal(ipkvm_power_next_deadline(&p), -1);
	ipkvm_power_tick(&p, 25000);
	EXPECT_NONE(&l);
	leds(&p, RUN, true, false);
	ipkvm_power_set_reset_button(&p, false, 25100);
	EXPECT(&l, {ST, BOO, 25100}, {HD, 1, 25100}); /* power LED stays on: no event */
	leds(&p, BOO, true, true);
	assert_int_equal(ipkvm_power_next_deadline(&p), 25350);

	/* Reset during BOOTING restarts the boot: STATE again, boot timer from the new start. */
	ipkvm_power_tick(&p, 25400);
	EXPECT(&l, {HD, 0, 25350});
	ipkvm_power_set_reset_button(&p, true, 25450);
	ipkvm_power_set_reset_button(&p, false, 25550);
	EXPECT(&l, {ST, BOO, 25550}, {HD, 1, 25550});
	leds(&p, BOO, true, true);
	ipkvm_power_tick(&p, 27049); /* the old boot end (26600) no longer applies */
	l.n = 0;
	assert_int_equal(ipkvm_power_get_state(&p), BOO);
	ipkvm_power_tick(&p, 27050);
	/* 27050 = 25550 + 6*250: the LED, off since 26800, would turn on; the boot end wins. */
	EXPECT(&l, {ST, RUN, 27050});
}

static void test_reset_ignored_when_off_or_bounce(void **state)
{
	struct ipkvm_power p;
	struct log l;

	setup_power(&p, &l);
	ipkvm_power_set_reset_button(&p, true, 100);
	ipkvm_power_set_reset_button(&p, false, 1000);
	EXPECT_NONE(&l);
	leds(&p, OFF, false, false);

	boot_to_running(&p, &l, 2000);
	ipkvm_power_set_reset_button(&p, true, 3000);
	ipkvm_power_set_reset_button(&p, false, 3049); /* 49 ms: bounce */
	EXPECT_NONE(&l);
	leds(&p, RUN, true, false);
	ipkvm_power_set_reset_button(&p, true, 4000);
	ipkvm_power_set_reset_button(&p, false, 4050); /* 50 ms: counts */
	EXPECT(&l, {ST, BOO, 4050}, {HD, 1, 4050});
}

static void test_debounce_power(void **state)
{
	struct ipkvm_power p;
	struct log l;

	setup_power(&p, &l);
	/* While off: 49 ms ignored, 50 ms boots. */
	ipkvm_power_set_power_button(&p, true, 0);
	ipkvm_power_set_power_button(&p, false, 49);
	EXPECT_NONE(&l);
	ipkvm_power_set_power_button(&p, true, 60);
	ipkvm_power_set_power_button(&p, false, 61);
	EXPECT_NONE(&l);
	leds(&p, OFF, false, false);
	ipkvm_power_set_power_button(&p, true, 100);
	ipkvm_power_set_power_button(&p, false, 150);
	EXPECT(&l, {ST, BOO, 150}, {PL, 1, 150}, {HD, 1, 150});

	/* While on: a 49 ms press is no ACPI event. */
	assert_int_equal(ipkvm_power_booted(&p, 200), 0);
	EXPECT(&l, {ST, RUN, 200}, {HD, 0, 200});
	ipkvm_power_set_power_button(&p, true, 1000);
	ipkvm_power_set_power_button(&p, false, 1049);
	EXPECT_NONE(&l);
	ipkvm_power_set_power_button(&p, true, 2000);
	ipkvm_power_set_power_button(&p, false, 2050);
	EXPECT(&l, {AC, 0, 2050});
}

static void test_long_press_while_off_ignored(void **state)
{
	struct ipkvm_power p;
	struct log l;

	setup_power(&p, &l);
	ipkvm_power_set_power_button(&p, true, 0);
	ipkvm_power_set_power_button(&p, false, 4999);
	EXPECT(&l, {ST, BOO, 4999}, {PL, 1, 4999}, {HD, 1, 4999});

	setup_power(&p, &l);
	ipkvm_power_set_power_button(&p, true, 0);
	ipkvm_power_set_power_button(&p, false, 5000);
	EXPECT_NONE(&l);
	leds(&p, OFF, false, false);
}

static void test_shutdown_during_hold(void **state)
{
	struct ipkvm_power p;
	struct log l;

	/* A press that began while on never boots, even if the OS shut down meanwhile. */
	setup_power(&p, &l);
	boot_to_running(&p, &l, 1000);
	ipkvm_power_set_power_button(&p, true, 2000);
	assert_int_equal(ipkvm_power_shutdown(&p, 3000), 0);
	EXPECT(&l, {ST, OFF, 3000}, {PL, 0, 3000});
	assert_int_equal(ipkvm_power_next_deadline(&p), -1);
	ipkvm_power_set_power_button(&p, false, 3500);
	EXPECT_NONE(&l);
	leds(&p, OFF, false, false);
}

static void test_os_reboot(void **state)
{
	struct ipkvm_power p;
	struct log l;

	setup_power(&p, &l);
	assert_int_equal(ipkvm_power_reboot(&p, 10), -EINVAL); /* off: nothing to restart */
	boot_to_running(&p, &l, 1000);
	assert_int_equal(ipkvm_power_reboot(&p, 5000), 0);
	EXPECT(&l, {ST, BOO, 5000}, {HD, 1, 5000});
	leds(&p, BOO, true, true);
	assert_int_equal(ipkvm_power_next_deadline(&p), 5250);
}

static void test_os_side_errors_and_boot_ms_zero(void **state)
{
	struct ipkvm_power p;
	struct log l;
	struct ipkvm_power_config cfg;

	setup_power(&p, &l);
	assert_int_equal(ipkvm_power_booted(&p, 10), -EINVAL);
	assert_int_equal(ipkvm_power_shutdown(&p, 10), -EALREADY);
	boot_to_running(&p, &l, 1000);
	assert_int_equal(ipkvm_power_booted(&p, 1100), -EINVAL);
	assert_int_equal(ipkvm_power_shutdown(&p, 1200), 0);
	EXPECT(&l, {ST, OFF, 1200}, {PL, 0, 1200});

	/* Time going backwards is clamped to the latest seen time. */
	ipkvm_power_set_power_button(&p, true, 500);
	ipkvm_power_set_power_button(&p, false, 1300);
	EXPECT(&l, {ST, BOO, 1300}, {PL, 1, 1300}, {HD, 1, 1300});

	/* boot_ms 0: only booted() ends BOOTING; the LED blinks meanwhile. */
	ipkvm_power_config_defaults(&cfg);
	cfg.boot_ms = 0;
	memset(&l, 0, sizeof(l));
	assert_int_equal(ipkvm_power_init(&p, &cfg, record, &l, 0), 0);
	ipkvm_power_set_power_button(&p, true, 0);
	ipkvm_power_set_power_button(&p, false, 100);
	ipkvm_power_tick(&p, 100000);
	leds(&p, BOO, true, false); /* 100000 - 100 = 99900 = 199*500 + 400: off phase */
	l.n = 0;
	assert_int_equal(ipkvm_power_next_deadline(&p), 100100);
	assert_int_equal(ipkvm_power_booted(&p, 100050), 0);
	EXPECT(&l, {ST, RUN, 100050});
	assert_int_equal(ipkvm_power_next_deadline(&p), -1);
}

static void test_no_callback(void **state)
{
	struct ipkvm_power p;

	assert_int_equal(ipkvm_power_init(&p, NULL, NULL, NULL, 0), 0);
	ipkvm_power_set_power_button(&p, true, 0);
	ipkvm_power_set_power_button(&p, false, 100);
	leds(&p, BOO, true, true);
	ipkvm_power_tick(&p, 1600);
	leds(&p, RUN, true, false);
}

static void test_config_and_names(void **state)
{
	struct ipkvm_power p;
	struct ipkvm_power_config cfg;

	ipkvm_power_config_defaults(&cfg);
	assert_int_equal(cfg.debounce_ms, 50);
	assert_int_equal(cfg.force_off_ms, 5000);
	assert_int_equal(cfg.boot_ms, 1500);
	assert_int_equal(cfg.hdd_on_ms, 250);
	assert_int_equal(cfg.hdd_off_ms, 250);

	cfg.debounce_ms = -1;
	assert_int_equal(ipkvm_power_init(&p, &cfg, NULL, NULL, 0), -EINVAL);
	ipkvm_power_config_defaults(&cfg);
	cfg.force_off_ms = 50;
	assert_int_equal(ipkvm_power_init(&p, &cfg, NULL, NULL, 0), -EINVAL);
	ipkvm_power_config_defaults(&cfg);
	cfg.boot_ms = -1;
	assert_int_equal(ipkvm_power_init(&p, &cfg, NULL, NULL, 0), -EINVAL);
	ipkvm_power_config_defaults(&cfg);
	cfg.hdd_on_ms = 0;
	assert_int_equal(ipkvm_power_init(&p, &cfg, NULL, NULL, 0), -EINVAL);
	ipkvm_power_config_defaults(&cfg);
	cfg.hdd_off_ms = 0;
	assert_int_equal(ipkvm_power_init(&p, &cfg, NULL, NULL, 0), -EINVAL);

	assert_string_equal(ipkvm_power_state_name(IPKVM_POWER_OFF), "off");
	assert_string_equal(ipkvm_power_state_name(IPKVM_POWER_BOOTING), "booting");
	assert_string_equal(ipkvm_power_state_name(IPKVM_POWER_RUNNING), "running");
	assert_string_equal(ipkvm_power_state_name((enum ipkvm_power_state)7), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_short_press_boots),
	    cmocka_unit_test(test_boot_end_while_hdd_on),
	    cmocka_unit_test(test_press_4999_is_acpi_only),
	    cmocka_unit_test(test_acpi_shutdown_from_callback),
	    cmocka_unit_test(test_hold_5000_forces_off),
	    cmocka_unit_test(test_reset_restarts),
	    cmocka_unit_test(test_reset_ignored_when_off_or_bounce),
	    cmocka_unit_test(test_debounce_power),
	    cmocka_unit_test(test_long_press_while_off_ignored),
	    cmocka_unit_test(test_shutdown_during_hold),
	    cmocka_unit_test(test_os_reboot),
	    cmocka_unit_test(test_os_side_errors_and_boot_ms_zero),
	    cmocka_unit_test(test_no_callback),
	    cmocka_unit_test(test_config_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
