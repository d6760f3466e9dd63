/*
 * atx: the target's front panel — power and reset buttons pressed for it, power and HDD LEDs
 * read from it — behind one line interface, so GPIO (libgpiod, on a real board) and the
 * built-in virtual target are driven by the same actions.
 *
 * Lines (struct ipkvm_atx_lines): the provider drives the two button outputs and reads the
 * two LED inputs; it calls ipkvm_atx_leds_changed() when an input changes (GPIO edge event,
 * the virtual target's LED callback). An LED that is not wired reads -ENOENT and the state
 * says so, instead of pretending it is off.
 *
 * Actions (one at a time: a second one while a button is held is -EBUSY):
 *   on          press power for click_ms, only if the power LED is off
 *   off         press power for click_ms, only if the power LED is on (the OS shuts down)
 *   off_hard    hold power for long_click_ms (> 5 s: every ATX board cuts power), if on
 *   reset_hard  press reset for click_ms, if on
 * The conditional actions need the power LED; without it they are -ENOTSUP (the raw
 * clicks still work). Clicks: power (click_ms), power_long (long_click_ms), reset (click_ms),
 * whatever the LED says.
 *
 * Timing is the caller's: the object asks for a tick through cb.timer and reads the clock
 * through cb.now_ms (tests inject both). Main thread only.
 */
#ifndef IPKVM_ATX_ATX_H
#define IPKVM_ATX_ATX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum ipkvm_atx_line {
	IPKVM_ATX_POWER_BUTTON = 0, /* output: true = pressed */
	IPKVM_ATX_RESET_BUTTON,	    /* output */
	IPKVM_ATX_POWER_LED,	    /* input: 1 lit, 0 dark, -ENOENT not wired */
	IPKVM_ATX_HDD_LED,	    /* input */
	IPKVM_ATX_LINE_COUNT,
};

struct ipkvm_atx_lines {
	const char *name; /* "virtual", "gpio": shown in the state as "driver" */
	int (*set)(void *ctx, enum ipkvm_atx_line line, bool pressed); /* 0 or -errno */
	int (*get)(void *ctx, enum ipkvm_atx_line line);	       /* 1, 0 or -errno */
	void *ctx;
};

struct ipkvm_atx_config {
	int click_ms;	   /* short press, default 200 */
	int long_click_ms; /* forced power-off hold, default 5500 */
};

struct ipkvm_atx_cb {
	void *ctx;
	void (*changed)(void *ctx); /* LEDs or busy changed: publish the state */
	void (*timer)(void *ctx,
		      int64_t delay_ms); /* call ipkvm_atx_tick in delay_ms; -1 cancels */
	int64_t (*now_ms)(void *ctx);	 /* NULL = ipkvm_mono_ms() */
};

struct ipkvm_atx;

/* NULL for a bad config (click_ms 1..10000, long_click_ms > click_ms and <= 60000) or no
 * memory. lines is copied. */
struct ipkvm_atx *ipkvm_atx_create(const struct ipkvm_atx_config *cfg,
				   const struct ipkvm_atx_lines *lines,
				   const struct ipkvm_atx_cb *cb);
/* Releases a held button first. */
void ipkvm_atx_destroy(struct ipkvm_atx *a);

/* "on", "off", "off_hard", "reset_hard". *pressed tells whether a button was pressed (false
 * when the machine is already in the asked state). 0, -EINVAL unknown action, -EBUSY,
 * -ENOTSUP power LED not wired, or the line's error. */
int ipkvm_atx_power(struct ipkvm_atx *a, const char *action, bool *pressed);
/* "power", "power_long", "reset". 0, -EINVAL, -EBUSY or the line's error. */
int ipkvm_atx_click(struct ipkvm_atx *a, const char *button);
/* Releases the button whose time is up. */
void ipkvm_atx_tick(struct ipkvm_atx *a);
/* The line provider says an LED input changed; cb.changed runs when the state did. */
void ipkvm_atx_leds_changed(struct ipkvm_atx *a);
bool ipkvm_atx_busy(const struct ipkvm_atx *a);

/* {"driver":S,"busy":B,"leds":{"power":B|null,"hdd":B|null},
 *  "wired":{"power_led":B,"hdd_led":B},"config":{"click_ms":N,"long_click_ms":N}} */
json_t *ipkvm_atx_state(struct ipkvm_atx *a);

#endif
