/*
 * atx: actions on the front-panel lines (see atx.h).
 *
 * One button press is in flight at a time, held until release_at; the LED inputs are read
 * from the provider whenever it says they changed, and the last values are kept so that
 * "changed" fires only on real changes. The decision of whether "on"/"off" press at all is
 * taken from the LED at the moment of the request, like an operator looking at the panel.
 */
#define LOG_TAG "atx"
#include "atx/atx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

struct ipkvm_atx {
	struct ipkvm_atx_config cfg;
	struct ipkvm_atx_lines lines;
	struct ipkvm_atx_cb cb;
	int held;	    /* line of the button held, -1 = none */
	const char *action; /* what the press is for (a static string), NULL when idle */
	int64_t release_at;
	int leds[2]; /* last read power/HDD LED: 1, 0 or -errno */
};

static int64_t now_ms(struct ipkvm_atx *a)
{
	return a->cb.now_ms ? a->cb.now_ms(a->cb.ctx) : ipkvm_mono_ms();
}

static void changed(struct ipkvm_atx *a)
{
	if (a->cb.changed)
		a->cb.changed(a->cb.ctx);
}

static int read_led(struct ipkvm_atx *a, enum ipkvm_atx_line line)
{
	int v = a->lines.get ? a->lines.get(a->lines.ctx, line) : -ENOENT;
	return v < 0 ? v : v != 0;
}

/* Re-reads both LEDs; true when either differs from what was last seen. */
static bool refresh_leds(struct ipkvm_atx *a)
{
	bool diff = false;
	for (int i = 0; i < 2; i++) {
		int v = read_led(a, (enum ipkvm_atx_line)(IPKVM_ATX_POWER_LED + i));
		diff |= v != a->leds[i];
		a->leds[i] = v;
	}
	return diff;
}

struct ipkvm_atx *ipkvm_atx_create(const struct ipkvm_atx_config *cfg,
				   const struct ipkvm_atx_lines *lines,
				   const struct ipkvm_atx_cb *cb)
{
	if (cfg->click_ms < 1 || cfg->click_ms > 10000 || cfg->long_click_ms <= cfg->click_ms ||
	    cfg->long_click_ms > 60000 || !lines->set) {
		LOG_ERROR("bad settings: click %d ms, long click %d ms", cfg->click_ms,
			  cfg->long_click_ms);
		return NULL;
	}
	struct ipkvm_atx *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->cfg = *cfg;
	a->lines = *lines;
	if (cb)
		a->cb = *cb;
	a->held = -1;
	refresh_leds(a);
	return a;
}

static void release(struct ipkvm_atx *a)
{
	if (a->held < 0)
		return;
	int r = a->lines.set(a->lines.ctx, (enum ipkvm_atx_line)a->held, false);
	if (r < 0) /* nothing better to do than say so: the line is in the provider's hands */
		LOG_ERROR("releasing the %s button: %s",
			  a->held == IPKVM_ATX_POWER_BUTTON ? "power" : "reset", strerror(-r));
	a->held = -1;
	a->action = NULL;
}

void ipkvm_atx_destroy(struct ipkvm_atx *a)
{
	if (!a)
		return;
	release(a);
	free(a);
}

static int press(struct ipkvm_atx *a, enum ipkvm_atx_line line, int ms, const char *action)
{
	if (a->held >= 0)
		return -EBUSY;
	int r = a->lines.set(a->lines.ctx, line, true);
	if (r < 0) {
		LOG_ERROR("%s: pressing the button: %s", action, strerror(-r));
		return r;
	}
	LOG_INFO("%s: %s button held for %d ms", action,
		 line == IPKVM_ATX_POWER_BUTTON ? "power" : "reset", ms);
	a->held = (int)line;
	a->action = action;
	a->release_at = now_ms(a) + ms;
	if (a->cb.timer)
		a->cb.timer(a->cb.ctx, ms);
	refresh_leds(a); /* the press may have changed them already (a virtual board) */
	changed(a);
	return 0;
}

int ipkvm_atx_power(struct ipkvm_atx *a, const char *action, bool *pressed)
{
	*pressed = false;
	bool want_on;
	int ms = a->cfg.click_ms;
	enum ipkvm_atx_line line = IPKVM_ATX_POWER_BUTTON;
	if (strcmp(action, "on") == 0) {
		want_on = true;
		action = "on";
	} else if (strcmp(action, "off") == 0) {
		want_on = false;
		action = "off";
	} else if (strcmp(action, "off_hard") == 0) {
		want_on = false;
		ms = a->cfg.long_click_ms;
		action = "off_hard";
	} else if (strcmp(action, "reset_hard") == 0) {
		want_on = false; /* "press only while on", like off */
		line = IPKVM_ATX_RESET_BUTTON;
		action = "reset_hard";
	} else {
		return -EINVAL;
	}
	if (a->held >= 0)
		return -EBUSY;
	refresh_leds(a);
	if (a->leds[0] < 0)
		return -ENOTSUP;
	bool on = a->leds[0] == 1;
	if (want_on == on)
		return 0; /* already there */
	if (line == IPKVM_ATX_RESET_BUTTON && !on)
		return 0;
	int r = press(a, line, ms, action);
	*pressed = r == 0;
	return r;
}

int ipkvm_atx_click(struct ipkvm_atx *a, const char *button)
{
	if (strcmp(button, "power") == 0)
		return press(a, IPKVM_ATX_POWER_BUTTON, a->cfg.click_ms, "click power");
	if (strcmp(button, "power_long") == 0)
		return press(a, IPKVM_ATX_POWER_BUTTON, a->cfg.long_click_ms, "click power_long");
	if (strcmp(button, "reset") == 0)
		return press(a, IPKVM_ATX_RESET_BUTTON, a->cfg.click_ms, "click reset");
	return -EINVAL;
}

void ipkvm_atx_tick(struct ipkvm_atx *a)
{
	if (a->held < 0)
		return;
	int64_t now = now_ms(a);
	if (now < a->release_at) {
		if (a->cb.timer)
			a->cb.timer(a->cb.ctx, a->release_at - now);
		return;
	}
	release(a);
	refresh_leds(a);
	changed(a);
}

void ipkvm_atx_leds_changed(struct ipkvm_atx *a)
{
	if (refresh_leds(a))
		changed(a);
}

bool ipkvm_atx_busy(const struct ipkvm_atx *a)
{
	return a->held >= 0;
}

static json_t *led_json(int v)
{
	return v < 0 ? json_null() : json_boolean(v);
}

json_t *ipkvm_atx_state(struct ipkvm_atx *a)
{
	return json_pack("{s:s, s:b, s:o, s:{s:o, s:o}, s:{s:b, s:b}, s:{s:i, s:i}}", "driver",
			 a->lines.name ? a->lines.name : "?", "busy", a->held >= 0, "action",
			 a->action ? json_string(a->action) : json_null(), "leds", "power",
			 led_json(a->leds[0]), "hdd", led_json(a->leds[1]), "wired", "power_led",
			 a->leds[0] != -ENOENT, "hdd_led", a->leds[1] != -ENOENT, "config",
			 "click_ms", a->cfg.click_ms, "long_click_ms", a->cfg.long_click_ms);
}
