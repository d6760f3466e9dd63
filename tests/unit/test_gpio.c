/* Unit tests for atx/gpio.c: requests, levels, events and errors through a fake io table
 * standing in for libgpiod (pipes play the line event fds). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "atx/gpio.h"

#define NLINES 32

struct fline {
	int offset;
	char name[16];
	bool requested, output, active_low;
	int value; /* physical level */
	int pipe[2];
	int busy; /* request fails with EBUSY */
};

static struct fchip {
	bool open;
	struct fline l[NLINES];
	char log[512];
} chip;

static void logf_(const char *fmt, ...)
{
	size_t n = strlen(chip.log);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(chip.log + n, sizeof(chip.log) - n, fmt, ap);
	va_end(ap);
}

static void *f_chip_open(const char *name)
{
	if (strcmp(name, "gpiochip0") != 0) {
		errno = ENOENT;
		return NULL;
	}
	chip.open = true;
	return &chip;
}

static void f_chip_close(void *c)
{
	((struct fchip *)c)->open = false;
}

static void *f_line_get(void *c, const char *spec)
{
	struct fchip *fc = c;
	for (int i = 0; i < NLINES; i++) {
		char off[8];
		snprintf(off, sizeof(off), "%d", i);
		if (strcmp(spec, off) == 0 || strcmp(spec, fc->l[i].name) == 0)
			return &fc->l[i];
	}
	errno = ENOENT;
	return NULL;
}

static int logical(const struct fline *l)
{
	return l->active_low ? !l->value : l->value;
}

static int f_request_output(void *line, const char *consumer, bool active_low, int value)
{
	struct fline *l = line;
	if (l->busy) {
		errno = EBUSY;
		return -1;
	}
	l->requested = l->output = true;
	l->active_low = active_low;
	l->value = active_low ? !value : value;
	logf_("out%d=%d ", l->offset, l->value);
	return 0;
}

static int f_request_events(void *line, const char *consumer, bool active_low)
{
	struct fline *l = line;
	l->requested = true;
	l->active_low = active_low;
	assert_int_equal(pipe2(l->pipe, O_NONBLOCK), 0);
	return 0;
}

static int f_set_value(void *line, int v)
{
	struct fline *l = line;
	l->value = l->active_low ? !v : v;
	logf_("set%d=%d ", l->offset, l->value);
	return 0;
}

static int f_get_value(void *line)
{
	return logical(line);
}

static int f_event_fd(void *line)
{
	return ((struct fline *)line)->pipe[0];
}

static int f_event_read(void *line)
{
	char c;
	if (read(((struct fline *)line)->pipe[0], &c, 1) != 1) {
		errno = EAGAIN;
		return -1;
	}
	return 0;
}

static void f_release(void *line)
{
	struct fline *l = line;
	l->requested = false;
	if (!l->output) {
		close(l->pipe[0]);
		close(l->pipe[1]);
	}
	logf_("rel%d ", l->offset);
}

static const struct ipkvm_gpio_io fio = {
    .chip_open = f_chip_open,
    .chip_close = f_chip_close,
    .line_get = f_line_get,
    .request_output = f_request_output,
    .request_events = f_request_events,
    .set_value = f_set_value,
    .get_value = f_get_value,
    .event_fd = f_event_fd,
    .event_read = f_event_read,
    .release = f_release,
};

static int setup(void **state)
{
	memset(&chip, 0, sizeof(chip));
	for (int i = 0; i < NLINES; i++)
		chip.l[i].offset = i;
	strcpy(chip.l[24].name, "PWR_LED");
	return 0;
}

/* The LED changes physically and the kernel queues an edge event. */
static void edge(int offset, int value)
{
	chip.l[offset].value = value;
	assert_int_equal(write(chip.l[offset].pipe[1], "e", 1), 1);
}

static struct ipkvm_gpio_config pi_config(void)
{
	struct ipkvm_gpio_config cfg = {.chip = "gpiochip0", .io = &fio};
	cfg.lines[IPKVM_ATX_POWER_BUTTON] = (struct ipkvm_gpio_line_config){"23", false};
	cfg.lines[IPKVM_ATX_RESET_BUTTON] = (struct ipkvm_gpio_line_config){"27", false};
	cfg.lines[IPKVM_ATX_POWER_LED] = (struct ipkvm_gpio_line_config){"PWR_LED", true};
	cfg.lines[IPKVM_ATX_HDD_LED] = (struct ipkvm_gpio_line_config){"22", false};
	return cfg;
}

static void test_lines_requested_inactive(void **state)
{
	struct ipkvm_gpio_config cfg = pi_config();
	char err[160] = "";
	struct ipkvm_gpio *g = ipkvm_gpio_create(&cfg, err, sizeof(err));
	assert_non_null(g);
	assert_string_equal(chip.log, "out23=0 out27=0 ");
	assert_true(chip.l[24].requested && chip.l[22].requested && chip.l[24].active_low);
	const struct ipkvm_atx_lines *l = ipkvm_gpio_lines(g);
	assert_string_equal(l->name, "gpio");
	/* Active-low LED: physical 1 = dark. */
	chip.l[24].value = 1;
	assert_int_equal(l->get(l->ctx, IPKVM_ATX_POWER_LED), 0);
	chip.l[24].value = 0;
	assert_int_equal(l->get(l->ctx, IPKVM_ATX_POWER_LED), 1);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_BUTTON, true), 0);
	assert_int_equal(chip.l[23].value, 1);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_LED, true), -EINVAL);
	assert_int_equal(l->get(l->ctx, IPKVM_ATX_RESET_BUTTON), -EINVAL);
	chip.log[0] = '\0';
	ipkvm_gpio_destroy(g); /* the held button is released before the line is */
	assert_string_equal(chip.log, "set23=0 rel23 set27=0 rel27 rel24 rel22 ");
	assert_false(chip.open);
}

static void test_led_events(void **state)
{
	struct ipkvm_gpio_config cfg = pi_config();
	char err[160] = "";
	chip.l[24].value = 1; /* dark (active low) */
	struct ipkvm_gpio *g = ipkvm_gpio_create(&cfg, err, sizeof(err));
	assert_non_null(g);
	int fds[4];
	assert_int_equal(ipkvm_gpio_fds(g, fds, 4), 2);
	assert_int_equal(fds[0], chip.l[24].pipe[0]);
	assert_int_equal(fds[1], chip.l[22].pipe[0]);
	edge(24, 0); /* lit */
	assert_true(ipkvm_gpio_readable(g, fds[0]));
	assert_false(ipkvm_gpio_readable(g, fds[0])); /* nothing new */
	/* A burst of HDD edges ending where it began: drained, no change reported. */
	for (int i = 0; i < 10; i++)
		edge(22, i % 2 == 0);
	edge(22, 0);
	assert_false(ipkvm_gpio_readable(g, fds[1]));
	char c;
	assert_int_equal(read(chip.l[22].pipe[0], &c, 1), -1); /* drained */
	edge(22, 1);
	assert_true(ipkvm_gpio_readable(g, fds[1]));
	assert_false(ipkvm_gpio_readable(g, 12345));
	ipkvm_gpio_destroy(g);
}

static void test_unwired_leds_and_errors(void **state)
{
	struct ipkvm_gpio_config cfg = pi_config();
	cfg.lines[IPKVM_ATX_POWER_LED].line = "";
	cfg.lines[IPKVM_ATX_HDD_LED].line = NULL;
	char err[160] = "";
	struct ipkvm_gpio *g = ipkvm_gpio_create(&cfg, err, sizeof(err));
	assert_non_null(g);
	const struct ipkvm_atx_lines *l = ipkvm_gpio_lines(g);
	assert_int_equal(l->get(l->ctx, IPKVM_ATX_POWER_LED), -ENOENT);
	int fds[4];
	assert_int_equal(ipkvm_gpio_fds(g, fds, 4), 0);
	ipkvm_gpio_destroy(g);

	cfg = pi_config();
	cfg.chip = "gpiochip9";
	assert_null(ipkvm_gpio_create(&cfg, err, sizeof(err)));
	assert_string_equal(err, "gpiochip9: no such GPIO chip");

	cfg = pi_config();
	cfg.lines[IPKVM_ATX_RESET_BUTTON].line = "NOPE";
	assert_null(ipkvm_gpio_create(&cfg, err, sizeof(err)));
	assert_string_equal(err, "reset_button line 'NOPE' on gpiochip0: no such line");
	assert_false(chip.l[23].requested); /* what was requested before is released */
	assert_false(chip.open);

	cfg = pi_config();
	chip.l[27].busy = 1;
	assert_null(ipkvm_gpio_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "another program holds it"));
	chip.l[27].busy = 0;

	cfg = pi_config();
	cfg.lines[IPKVM_ATX_POWER_BUTTON].line = "";
	cfg.lines[IPKVM_ATX_RESET_BUTTON].line = "";
	assert_null(ipkvm_gpio_create(&cfg, err, sizeof(err)));
	assert_string_equal(err, "neither the power nor the reset button line is set");
}

/* The lines drive the ATX actions: a click is a pulse on the button line. */
static int64_t clock_ms;
static int64_t now_fn(void *ctx)
{
	return clock_ms;
}

static void test_atx_over_gpio(void **state)
{
	struct ipkvm_gpio_config cfg = pi_config();
	char err[160] = "";
	chip.l[24].value = 1; /* dark */
	struct ipkvm_gpio *g = ipkvm_gpio_create(&cfg, err, sizeof(err));
	assert_non_null(g);
	struct ipkvm_atx_config ac = {.click_ms = 200, .long_click_ms = 5500};
	struct ipkvm_atx_cb cb = {.now_ms = now_fn};
	struct ipkvm_atx *a = ipkvm_atx_create(&ac, ipkvm_gpio_lines(g), &cb);
	bool pressed;
	chip.log[0] = '\0';
	assert_int_equal(ipkvm_atx_power(a, "on", &pressed), 0);
	assert_true(pressed);
	clock_ms += 200;
	ipkvm_atx_tick(a);
	assert_string_equal(chip.log, "set23=1 set23=0 ");
	ipkvm_atx_destroy(a);
	ipkvm_gpio_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_lines_requested_inactive, setup),
	    cmocka_unit_test_setup(test_led_events, setup),
	    cmocka_unit_test_setup(test_unwired_leds_and_errors, setup),
	    cmocka_unit_test_setup(test_atx_over_gpio, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
