/*
 * atx/gpio: the front-panel lines on GPIO through libgpiod 1.6 — the power and reset button
 * outputs (driving optocouplers or transistors across the board's header pins) and the power
 * and HDD LED inputs (the LED header's voltage through an optocoupler), as an
 * ipkvm_atx_lines provider.
 *
 * Each line is named by its offset on the chip ("23") or by its line name ("ATX_POWER", as
 * the device tree or gpio-sim names it); "" means not wired (an LED that is not wired reads
 * -ENOENT, so the ATX state says "unknown" instead of "off"). active_low inverts a line
 * (e.g. an optocoupler that pulls the input low while the LED is lit).
 *
 * Outputs are requested inactive, so starting the daemon never presses a button. LED inputs
 * are requested with both-edge events; the main loop polls their fds and calls
 * ipkvm_gpio_readable(), which drains the events and says whether a level changed.
 *
 * All libgpiod calls go through an io table (struct ipkvm_gpio_io) so the unit tests can
 * stand in for the kernel; the bench VM drives the real one through gpio-sim.
 */
#ifndef IPKVM_ATX_GPIO_H
#define IPKVM_ATX_GPIO_H

#include <stdbool.h>
#include <stddef.h>

#include "atx/atx.h"

struct ipkvm_gpio_io {
	void *(*chip_open)(const char *name); /* NULL with errno set */
	void (*chip_close)(void *chip);
	/* The line by offset ("23") or name; NULL with errno set (ENOENT: no such line). */
	void *(*line_get)(void *chip, const char *spec);
	int (*request_output)(void *line, const char *consumer, bool active_low, int value);
	int (*request_events)(void *line, const char *consumer, bool active_low);
	int (*set_value)(void *line, int value); /* logical value: 1 = active */
	int (*get_value)(void *line);		 /* logical value, or -1 with errno */
	int (*event_fd)(void *line);
	int (*event_read)(void *line); /* one queued event: 0; none queued: -1, errno EAGAIN */
	void (*release)(void *line);
};

/* The libgpiod implementation. */
extern const struct ipkvm_gpio_io ipkvm_gpio_io_libgpiod;

struct ipkvm_gpio_line_config {
	const char *line; /* offset or name; NULL or "" = not wired */
	bool active_low;
};

struct ipkvm_gpio_config {
	const char *chip; /* "gpiochip0", "/dev/gpiochip0", a label or a number */
	struct ipkvm_gpio_line_config lines[IPKVM_ATX_LINE_COUNT];
	const struct ipkvm_gpio_io *io; /* NULL = libgpiod */
};

struct ipkvm_gpio;

/* Opens the chip and requests the wired lines. NULL with err set ("gpiochip0: no such
 * chip", "line 23: Device or resource busy (another program holds it)"). A board whose
 * button lines are both unwired is refused: there would be nothing to press. */
struct ipkvm_gpio *ipkvm_gpio_create(const struct ipkvm_gpio_config *cfg, char *err, size_t errlen);
/* Releases the lines (the buttons go inactive first). */
void ipkvm_gpio_destroy(struct ipkvm_gpio *g);

const struct ipkvm_atx_lines *ipkvm_gpio_lines(struct ipkvm_gpio *g);
/* The LED inputs' event fds (at most 2), to poll for reading. */
size_t ipkvm_gpio_fds(const struct ipkvm_gpio *g, int *fds, size_t max);
/* Drains fd's events; true when an LED level changed since the last look. */
bool ipkvm_gpio_readable(struct ipkvm_gpio *g, int fd);

#endif
