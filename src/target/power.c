/*
 * target/power: power/reset buttons -> OFF/BOOTING/RUNNING and the power/HDD LEDs of the
 * virtual computer (the rules are listed in power.h).
 *
 * Why it is shaped so:
 *   - Pure state machine with time passed in: the virtual target runs it from the main loop
 *     with the monotonic clock, the unit tests with a fake clock, so timings are exact to the
 *     millisecond and tests never sleep.
 *   - Timers are not stored as a queue: each one is a deadline derived from the state (force
 *     off = press start + 5 s while a press that began "on" is held; boot end; next HDD LED
 *     edge). tick() repeatedly fires the earliest due deadline and recomputes, so a late tick
 *     still produces every change in time order, each stamped with its exact moment.
 *   - Events are emitted as differences between the state and what the callback was last told
 *     (sync()). A callback that changes the state again (the OS shutting down on an ACPI event)
 *     then reports its own changes, and the outer emission finds nothing stale to report.
 *   - Buttons act on release except the 5 s hold, which acts while held: that is what a real
 *     ATX board does, and it makes debouncing a plain duration check on the release.
 */
#define LOG_TAG "power"
#include "core/log.h"

#include "target/power.h"

#include <errno.h>
#include <stddef.h>

#define NO_DEADLINE INT64_MAX

void ipkvm_power_config_defaults(struct ipkvm_power_config *cfg)
{
	cfg->debounce_ms = 50;
	cfg->force_off_ms = 5000;
	cfg->boot_ms = 1500;
	cfg->hdd_on_ms = 250;
	cfg->hdd_off_ms = 250;
}

int ipkvm_power_init(struct ipkvm_power *p, const struct ipkvm_power_config *cfg, ipkvm_power_cb cb,
		     void *cb_ctx, int64_t now_ms)
{
	*p = (struct ipkvm_power){0};
	if (cfg)
		p->cfg = *cfg;
	else
		ipkvm_power_config_defaults(&p->cfg);
	if (p->cfg.debounce_ms < 0 || p->cfg.force_off_ms <= p->cfg.debounce_ms ||
	    p->cfg.boot_ms < 0 || p->cfg.hdd_on_ms <= 0 || p->cfg.hdd_off_ms <= 0) {
		LOG_ERROR("invalid power timings");
		return -EINVAL;
	}
	p->cb = cb;
	p->cb_ctx = cb_ctx;
	p->run.now = now_ms;
	p->run.state = IPKVM_POWER_OFF;
	p->run.rep_state = IPKVM_POWER_OFF;
	return 0;
}

static void emit(struct ipkvm_power *p, enum ipkvm_power_event ev, int value, int64_t at)
{
	if (!p->cb)
		return;
	p->run.cb_depth++;
	p->cb(p->cb_ctx, ev, value, at);
	p->run.cb_depth--;
}

/* Reports every difference between the state and what the callback last heard. The "reported"
 * fields are updated before each call, so a nested sync() from inside the callback neither
 * repeats nor loses anything. */
static void sync(struct ipkvm_power *p, int64_t at)
{
	bool led;

	if (p->run.rep_state != p->run.state || p->run.rep_gen != p->run.boot_gen) {
		p->run.rep_state = p->run.state;
		p->run.rep_gen = p->run.boot_gen;
		emit(p, IPKVM_POWER_EV_STATE, (int)p->run.state, at);
	}
	/* Re-read after the callback: it may have changed the state. */
	led = p->run.state != IPKVM_POWER_OFF;
	if (p->run.rep_power_led != led) {
		p->run.rep_power_led = led;
		emit(p, IPKVM_POWER_EV_POWER_LED, led, at);
	}
	if (p->run.rep_hdd != p->run.hdd) {
		p->run.rep_hdd = p->run.hdd;
		emit(p, IPKVM_POWER_EV_HDD_LED, p->run.hdd, at);
	}
}

static void enter_booting(struct ipkvm_power *p, int64_t at)
{
	p->run.state = IPKVM_POWER_BOOTING;
	p->run.boot_gen++;
	p->run.boot_start = at;
	p->run.hdd = true;
	p->run.hdd_next = at + p->cfg.hdd_on_ms;
	LOG_DEBUG("booting at %lld ms", (long long)at);
	sync(p, at);
}

static void enter_state(struct ipkvm_power *p, enum ipkvm_power_state s, int64_t at)
{
	p->run.state = s;
	p->run.hdd = false;
	LOG_DEBUG("%s at %lld ms", ipkvm_power_state_name(s), (long long)at);
	sync(p, at);
}

static int64_t force_off_deadline(const struct ipkvm_power *p)
{
	if (p->run.state == IPKVM_POWER_OFF || !p->run.pwr_pressed || !p->run.pwr_from_on ||
	    p->run.pwr_consumed)
		return NO_DEADLINE;
	return p->run.pwr_start + p->cfg.force_off_ms;
}

static int64_t boot_deadline(const struct ipkvm_power *p)
{
	if (p->run.state != IPKVM_POWER_BOOTING || p->cfg.boot_ms == 0)
		return NO_DEADLINE;
	return p->run.boot_start + p->cfg.boot_ms;
}

static int64_t hdd_deadline(const struct ipkvm_power *p)
{
	return p->run.state == IPKVM_POWER_BOOTING ? p->run.hdd_next : NO_DEADLINE;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int64_t next_deadline(const struct ipkvm_power *p)
{
	return min64(force_off_deadline(p), min64(boot_deadline(p), hdd_deadline(p)));
}

int64_t ipkvm_power_next_deadline(const struct ipkvm_power *p)
{
	int64_t d = next_deadline(p);
	return d == NO_DEADLINE ? -1 : d;
}

/* Fires the timer(s) due at d. Priority when several coincide: force-off (ends everything),
 * then boot end (the HDD LED goes off with it), then the HDD edge. */
static void fire(struct ipkvm_power *p, int64_t d)
{
	if (force_off_deadline(p) == d) {
		p->run.pwr_consumed = true;
		LOG_INFO("power button held %lld ms: forced off", (long long)p->cfg.force_off_ms);
		enter_state(p, IPKVM_POWER_OFF, d);
	} else if (boot_deadline(p) == d) {
		enter_state(p, IPKVM_POWER_RUNNING, d);
	} else if (hdd_deadline(p) == d) {
		p->run.hdd = !p->run.hdd;
		p->run.hdd_next = d + (p->run.hdd ? p->cfg.hdd_on_ms : p->cfg.hdd_off_ms);
		sync(p, d);
	}
}

void ipkvm_power_tick(struct ipkvm_power *p, int64_t now_ms)
{
	int64_t d;

	if (now_ms < p->run.now)
		now_ms = p->run.now;
	while ((d = next_deadline(p)) <= now_ms)
		fire(p, d);
	p->run.now = now_ms;
}

enum edge { EDGE_NONE, EDGE_PRESS, EDGE_RELEASE };

/* What both buttons share: timers due by now_ms fire first; a press records its start; a
 * release shorter than the debounce time is a bounce. *held: how long a release was held. */
static enum edge button_edge(struct ipkvm_power *p, const char *name, bool *is_pressed,
			     int64_t *start, bool pressed, int64_t now_ms, int64_t *held)
{
	ipkvm_power_tick(p, now_ms);
	if (pressed == *is_pressed)
		return EDGE_NONE;
	*is_pressed = pressed;
	if (pressed) {
		*start = p->run.now;
		return EDGE_PRESS;
	}
	*held = p->run.now - *start;
	if (*held < p->cfg.debounce_ms) {
		LOG_DEBUG("%s button bounce (%lld ms) ignored", name, (long long)*held);
		return EDGE_NONE;
	}
	return EDGE_RELEASE;
}

void ipkvm_power_set_power_button(struct ipkvm_power *p, bool pressed, int64_t now_ms)
{
	int64_t held = 0;

	switch (button_edge(p, "power", &p->run.pwr_pressed, &p->run.pwr_start, pressed, now_ms,
			    &held)) {
	case EDGE_NONE:
		return;
	case EDGE_PRESS:
		p->run.pwr_from_on = p->run.state != IPKVM_POWER_OFF;
		p->run.pwr_consumed = false;
		return;
	case EDGE_RELEASE:
		break;
	}
	now_ms = p->run.now;
	if (p->run.pwr_consumed)
		return; /* already forced off at the 5 s mark */
	if (p->run.pwr_from_on) {
		/* The press began while on: only ever an ACPI event, and only if still on (the OS
		 * may have shut down during the hold). */
		if (p->run.state != IPKVM_POWER_OFF)
			emit(p, IPKVM_POWER_EV_ACPI_BUTTON, 0, now_ms);
		return;
	}
	if (held >= p->cfg.force_off_ms) {
		LOG_DEBUG("power button held %lld ms while off: ignored", (long long)held);
		return;
	}
	enter_booting(p, now_ms);
}

void ipkvm_power_set_reset_button(struct ipkvm_power *p, bool pressed, int64_t now_ms)
{
	int64_t held = 0;

	if (button_edge(p, "reset", &p->run.rst_pressed, &p->run.rst_start, pressed, now_ms,
			&held) != EDGE_RELEASE)
		return;
	if (p->run.state == IPKVM_POWER_OFF)
		return;
	enter_booting(p, p->run.now);
}

/* Time for an OS-side call: inside a callback the caller's time is taken as is (the outer
 * tick() is still walking through earlier deadlines); otherwise timers due first fire. */
static int64_t os_side_time(struct ipkvm_power *p, int64_t now_ms)
{
	if (p->run.cb_depth > 0)
		return now_ms;
	ipkvm_power_tick(p, now_ms);
	return p->run.now;
}

int ipkvm_power_shutdown(struct ipkvm_power *p, int64_t now_ms)
{
	int64_t t = os_side_time(p, now_ms);

	if (p->run.state == IPKVM_POWER_OFF)
		return -EALREADY;
	enter_state(p, IPKVM_POWER_OFF, t);
	return 0;
}

int ipkvm_power_reboot(struct ipkvm_power *p, int64_t now_ms)
{
	int64_t t = os_side_time(p, now_ms);

	if (p->run.state == IPKVM_POWER_OFF)
		return -EINVAL;
	enter_booting(p, t);
	return 0;
}

int ipkvm_power_booted(struct ipkvm_power *p, int64_t now_ms)
{
	int64_t t = os_side_time(p, now_ms);

	if (p->run.state != IPKVM_POWER_BOOTING)
		return -EINVAL;
	enter_state(p, IPKVM_POWER_RUNNING, t);
	return 0;
}

enum ipkvm_power_state ipkvm_power_get_state(const struct ipkvm_power *p)
{
	return p->run.state;
}

bool ipkvm_power_power_led(const struct ipkvm_power *p)
{
	return p->run.state != IPKVM_POWER_OFF;
}

bool ipkvm_power_hdd_led(const struct ipkvm_power *p)
{
	return p->run.hdd;
}

const char *ipkvm_power_state_name(enum ipkvm_power_state s)
{
	switch (s) {
	case IPKVM_POWER_OFF:
		return "off";
	case IPKVM_POWER_BOOTING:
		return "booting";
	case IPKVM_POWER_RUNNING:
		return "running";
	}
	return "?";
}
