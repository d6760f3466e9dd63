/*
 * atx/gpio: the front-panel lines on GPIO (see gpio.h).
 *
 * A line spec that is all digits is an offset, anything else a line name: boards name their
 * header pins ("GPIO23" on a Pi) and gpio-sim names its lines, so both forms are useful.
 * The LED levels are re-read with get_value after draining events rather than computed from
 * the edges: a burst of HDD activity may queue more edges than we read at once, and the
 * level is what the state reports.
 */
#define LOG_TAG "gpio"
#include "atx/gpio.h"

#include <errno.h>
#include <gpiod.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define CONSUMER "ipkvmd"

/* ---- libgpiod ---- */

static void *lg_chip_open(const char *name)
{
	return gpiod_chip_open_lookup(name);
}

static void lg_chip_close(void *chip)
{
	gpiod_chip_close(chip);
}

static void *lg_line_get(void *chip, const char *spec)
{
	char *end;
	errno = 0;
	unsigned long off = strtoul(spec, &end, 10);
	if (*spec && !*end && !errno)
		return gpiod_chip_get_line(chip, (unsigned)off);
	struct gpiod_line *l = gpiod_chip_find_line(chip, spec);
	if (!l && !errno)
		errno = ENOENT;
	return l;
}

static int lg_request_output(void *line, const char *consumer, bool active_low, int value)
{
	return gpiod_line_request_output_flags(
	    line, consumer, active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0, value);
}

/* An active-low LED input is an optocoupler pulling the line to ground while the LED is
 * lit: it needs a pull-up, which a Pi's GPIO22/24 do not have by default (pull-down). */
static int lg_request_events(void *line, const char *consumer, bool active_low)
{
	return gpiod_line_request_both_edges_events_flags(
	    line, consumer,
	    active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW | GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP
		       : 0);
}

static int lg_set_value(void *line, int value)
{
	return gpiod_line_set_value(line, value);
}

static int lg_get_value(void *line)
{
	return gpiod_line_get_value(line);
}

static int lg_event_fd(void *line)
{
	return gpiod_line_event_get_fd(line);
}

/* Reading a line event blocks when none is queued: look first. */
static int lg_event_read(void *line)
{
	struct pollfd p = {.fd = gpiod_line_event_get_fd(line), .events = POLLIN};
	if (poll(&p, 1, 0) <= 0) {
		errno = EAGAIN;
		return -1;
	}
	struct gpiod_line_event ev;
	return gpiod_line_event_read(line, &ev);
}

static void lg_release(void *line)
{
	gpiod_line_release(line);
}

const struct ipkvm_gpio_io ipkvm_gpio_io_libgpiod = {
    .chip_open = lg_chip_open,
    .chip_close = lg_chip_close,
    .line_get = lg_line_get,
    .request_output = lg_request_output,
    .request_events = lg_request_events,
    .set_value = lg_set_value,
    .get_value = lg_get_value,
    .event_fd = lg_event_fd,
    .event_read = lg_event_read,
    .release = lg_release,
};

/* ---- the lines ---- */

static const char *const line_names[IPKVM_ATX_LINE_COUNT] = {"power_button", "reset_button",
							     "power_led", "hdd_led"};

struct ipkvm_gpio {
	const struct ipkvm_gpio_io *io;
	void *chip;
	void *line[IPKVM_ATX_LINE_COUNT]; /* NULL = not wired */
	int fd[IPKVM_ATX_LINE_COUNT];	  /* event fds of the inputs, -1 otherwise */
	int level[IPKVM_ATX_LINE_COUNT];  /* last level seen of the inputs */
	struct ipkvm_atx_lines lines;
};

static bool is_input(int i)
{
	return i == IPKVM_ATX_POWER_LED || i == IPKVM_ATX_HDD_LED;
}

static int gl_set(void *ctx, enum ipkvm_atx_line line, bool pressed)
{
	struct ipkvm_gpio *g = ctx;
	if ((unsigned)line >= IPKVM_ATX_LINE_COUNT || is_input(line))
		return -EINVAL;
	if (!g->line[line])
		return -ENOENT;
	return g->io->set_value(g->line[line], pressed) < 0 ? -errno : 0;
}

static int gl_get(void *ctx, enum ipkvm_atx_line line)
{
	struct ipkvm_gpio *g = ctx;
	if ((unsigned)line >= IPKVM_ATX_LINE_COUNT || !is_input(line))
		return -EINVAL;
	if (!g->line[line])
		return -ENOENT;
	int v = g->io->get_value(g->line[line]);
	return v < 0 ? -errno : v != 0;
}

struct ipkvm_gpio *ipkvm_gpio_create(const struct ipkvm_gpio_config *cfg, char *err, size_t errlen)
{
	struct ipkvm_gpio *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->io = cfg->io ? cfg->io : &ipkvm_gpio_io_libgpiod;
	for (int i = 0; i < IPKVM_ATX_LINE_COUNT; i++)
		g->fd[i] = g->level[i] = -1;
	const char *chip = cfg->chip && cfg->chip[0] ? cfg->chip : "gpiochip0";
	const struct ipkvm_gpio_line_config *lc = cfg->lines;
	if (!(lc[IPKVM_ATX_POWER_BUTTON].line && lc[IPKVM_ATX_POWER_BUTTON].line[0]) &&
	    !(lc[IPKVM_ATX_RESET_BUTTON].line && lc[IPKVM_ATX_RESET_BUTTON].line[0])) {
		snprintf(err, errlen, "neither the power nor the reset button line is set");
		goto fail;
	}
	g->chip = g->io->chip_open(chip);
	if (!g->chip) {
		snprintf(err, errlen, "%s: %s", chip,
			 errno == ENOENT ? "no such GPIO chip" : strerror(errno));
		goto fail;
	}
	for (int i = 0; i < IPKVM_ATX_LINE_COUNT; i++) {
		const char *spec = lc[i].line;
		if (!spec || !spec[0])
			continue;
		void *l = g->io->line_get(g->chip, spec);
		if (!l) {
			snprintf(err, errlen, "%s line '%s' on %s: %s", line_names[i], spec, chip,
				 errno == ENOENT || errno == EINVAL ? "no such line"
								    : strerror(errno));
			goto fail;
		}
		int r = is_input(i) ? g->io->request_events(l, CONSUMER, lc[i].active_low)
				    : g->io->request_output(l, CONSUMER, lc[i].active_low, 0);
		if (r < 0) {
			snprintf(err, errlen, "%s line '%s' on %s: %s%s", line_names[i], spec, chip,
				 strerror(errno),
				 errno == EBUSY ? " (another program holds it)" : "");
			goto fail;
		}
		g->line[i] = l;
		if (is_input(i)) {
			g->fd[i] = g->io->event_fd(l);
			g->level[i] = g->io->get_value(l);
		}
	}
	g->lines = (struct ipkvm_atx_lines){.name = "gpio", .set = gl_set, .get = gl_get, .ctx = g};
	LOG_INFO("%s: power %s, reset %s, power LED %s, HDD LED %s", chip,
		 g->line[0] ? lc[0].line : "-", g->line[1] ? lc[1].line : "-",
		 g->line[2] ? lc[2].line : "-", g->line[3] ? lc[3].line : "-");
	return g;
fail:
	ipkvm_gpio_destroy(g);
	return NULL;
}

void ipkvm_gpio_destroy(struct ipkvm_gpio *g)
{
	if (!g)
		return;
	for (int i = 0; i < IPKVM_ATX_LINE_COUNT; i++) {
		if (!g->line[i])
			continue;
		if (!is_input(i))
			g->io->set_value(g->line[i], 0); /* never leave a button pressed */
		g->io->release(g->line[i]);
	}
	if (g->chip)
		g->io->chip_close(g->chip);
	free(g);
}

const struct ipkvm_atx_lines *ipkvm_gpio_lines(struct ipkvm_gpio *g)
{
	return &g->lines;
}

size_t ipkvm_gpio_fds(const struct ipkvm_gpio *g, int *fds, size_t max)
{
	size_t n = 0;
	for (int i = 0; i < IPKVM_ATX_LINE_COUNT && n < max; i++) {
		if (g->fd[i] >= 0)
			fds[n++] = g->fd[i];
	}
	return n;
}

bool ipkvm_gpio_readable(struct ipkvm_gpio *g, int fd)
{
	for (int i = 0; i < IPKVM_ATX_LINE_COUNT; i++) {
		if (g->fd[i] != fd || !g->line[i])
			continue;
		/* Drain what is queued (bounded: the HDD LED may flicker fast). */
		for (int n = 0; n < 64 && g->io->event_read(g->line[i]) == 0; n++) {
		}
		int v = g->io->get_value(g->line[i]);
		if (v < 0 || v == g->level[i])
			return false;
		g->level[i] = v;
		return true;
	}
	return false;
}
