/*
 * hid: see hid.h.
 */
#define LOG_TAG "hid"
#include "hid/hid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "hid/keyboard.h"
#include "hid/keymap.h"
#include "hid/mouse.h"

struct ipkvm_hid {
	struct ipkvm_hid_output *out;
	struct ipkvm_hid_keyboard kb;
	struct ipkvm_hid_leds leds;
	const char *output;
	int abs_x, abs_y, buttons;
	int jiggler_s;
	bool relative;
	int64_t last_input_ms;
	uint64_t jiggles;
	void (*changed)(void *ctx);
	void (*fds_changed)(void *ctx);
	void (*timer)(void *ctx, int64_t delay_ms);
	void (*drained)(void *ctx);
	void *ctx;
	bool resync;	   /* the output came online: tell the host our keyboard state */
	int64_t out_due;   /* when the output wants its tick (mono ms), -1 = never */
	int64_t timer_due; /* what was last asked of cfg->timer (mono ms), -1 = none */
	bool creating;	   /* in ipkvm_hid_create(): hooks wait for the end */
};

/* Asks the loop for the earliest tick wanted: the output's, the resync (at once), the
 * jiggler's (when the idle time runs out). An early tick is harmless: each part checks. */
static void rearm(struct ipkvm_hid *h)
{
	if (!h->timer || h->creating)
		return;
	int64_t now = ipkvm_mono_ms(), due = h->out_due;
	if (h->resync && h->out->online)
		due = now;
	if (h->jiggler_s && h->out->online) {
		int64_t j = h->last_input_ms + h->jiggler_s * 1000LL;
		if (due < 0 || j < due)
			due = j;
	}
	if (due == h->timer_due)
		return;
	h->timer_due = due;
	h->timer(h->ctx, due < 0 ? -1 : due > now ? due - now : 0);
}

static void on_fds(void *ctx, struct ipkvm_hid_output *out)
{
	struct ipkvm_hid *h = ctx;
	if (h->fds_changed && !h->creating)
		h->fds_changed(h->ctx);
}

static void on_timer(void *ctx, struct ipkvm_hid_output *out, int64_t delay_ms)
{
	struct ipkvm_hid *h = ctx;
	h->out_due = delay_ms < 0 ? -1 : ipkvm_mono_ms() + delay_ms;
	rearm(h);
}

static void on_state(void *ctx, struct ipkvm_hid_output *out, bool online, const char *reason)
{
	struct ipkvm_hid *h = ctx;
	LOG_INFO("output %s%s%s", online ? "online" : "offline", reason[0] ? ": " : "", reason);
	if (online) {
		/* The host may hold keys a previous ipkvmd (killed with them down) left: send
		 * our keyboard state (after a start, nothing held) from the service, not from
		 * inside the output's own callback. Found in the bench VM. */
		ipkvm_hid_keyboard_invalidate(&h->kb);
		h->resync = true;
	}
	if (h->changed)
		h->changed(h->ctx);
	rearm(h);
}

static void on_leds(void *ctx, struct ipkvm_hid_output *out, uint8_t byte)
{
	struct ipkvm_hid *h = ctx;
	struct ipkvm_hid_leds leds;
	ipkvm_hid_leds_parse(byte, &leds);
	if (memcmp(&leds, &h->leds, sizeof(leds)) == 0)
		return;
	h->leds = leds;
	if (h->changed)
		h->changed(h->ctx);
}

struct ipkvm_hid *ipkvm_hid_create(const struct ipkvm_hid_config *cfg)
{
	struct ipkvm_hid *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->changed = cfg->changed;
	h->fds_changed = cfg->fds_changed;
	h->timer = cfg->timer;
	h->drained = cfg->drained;
	h->ctx = cfg->ctx;
	h->out_due = h->timer_due = -1;
	h->creating = true;
	ipkvm_hid_keyboard_init(&h->kb);
	struct ipkvm_hid_gadget_config gc;
	memset(&gc, 0, sizeof(gc));
	gc.path[IPKVM_HID_KEYBOARD] = cfg->keyboard;
	gc.path[IPKVM_HID_MOUSE_ABS] = cfg->mouse_abs;
	gc.path[IPKVM_HID_MOUSE_REL] = cfg->mouse_rel;
	gc.path[IPKVM_HID_CONSUMER] = cfg->consumer;
	gc.path[IPKVM_HID_SYSTEM] = cfg->consumer;
	gc.open_fn = cfg->open_fn;
	gc.open_ctx = cfg->open_ctx;
	struct ipkvm_hid_output_cb cb = {
	    .ctx = h, .state = on_state, .leds = on_leds, .fds_changed = on_fds, .timer = on_timer};
	int r;
	if (cfg->output && strcmp(cfg->output, "ch9329") == 0) {
		struct ipkvm_hid_ch9329_config cc = {.path = cfg->serial, .baud = cfg->baud};
		h->output = "ch9329";
		r = ipkvm_hid_ch9329_create(&cc, &cb, &h->out);
	} else {
		/* The virtual target speaks the gadget's protocol: one fd per interface. */
		h->output =
		    cfg->output && strcmp(cfg->output, "virtual") == 0 ? "virtual" : "gadget";
		r = ipkvm_hid_gadget_create(&gc, &cb, &h->out);
	}
	if (r < 0) {
		free(h);
		return NULL;
	}
	r = ipkvm_hid_output_start(h->out);
	if (r < 0)
		LOG_WARN("output not ready yet (%s); retrying", strerror(-r));
	h->creating = false;
	rearm(h);
	return h;
}

void ipkvm_hid_destroy(struct ipkvm_hid *h)
{
	if (!h)
		return;
	ipkvm_hid_output_destroy(h->out);
	free(h);
}

/* Sends the reports of the keyboard model (mask: bit 0 keyboard, 1 consumer, 2 system) that
 * changed since they were last sent. A kind the
 * output does not offer (-ENODEV: no node configured) is skipped. Returns the first other
 * error. */
static int flush(struct ipkvm_hid *h, unsigned mask)
{
	static const struct {
		enum ipkvm_hid_kbd_report which;
		enum ipkvm_hid_kind kind;
		int (*build)(struct ipkvm_hid_keyboard *kb, uint8_t *out);
	} reports[] = {
	    {IPKVM_HID_REPORT_BOOT, IPKVM_HID_KEYBOARD, ipkvm_hid_keyboard_boot_report},
	    {IPKVM_HID_REPORT_CONSUMER, IPKVM_HID_CONSUMER, ipkvm_hid_keyboard_consumer_report},
	    {IPKVM_HID_REPORT_SYSTEM, IPKVM_HID_SYSTEM, ipkvm_hid_keyboard_system_report},
	};
	uint8_t buf[IPKVM_HID_REPORT_MAX];
	int first = 0;
	for (size_t i = 0; i < sizeof(reports) / sizeof(reports[0]); i++) {
		if (!(mask & (1u << i)) || !ipkvm_hid_keyboard_changed(&h->kb, reports[i].which))
			continue;
		int n = reports[i].build(&h->kb, buf);
		int r = n > 0 ? ipkvm_hid_output_send(h->out, reports[i].kind, buf, (size_t)n) : n;
		/* Releasing everything skips kinds that are not offered; a key of a kind that is
		 * not offered (a media key without a consumer node) is an error for its caller. */
		if (r < 0 && !(r == -ENODEV && mask == 7u) && !first)
			first = r;
	}
	return first;
}

int ipkvm_hid_set_mouse_mode(struct ipkvm_hid *h, const char *mode)
{
	if (strcmp(mode, "absolute") != 0 && strcmp(mode, "relative") != 0)
		return -EINVAL;
	h->relative = strcmp(mode, "relative") == 0;
	return 0;
}

bool ipkvm_hid_mouse_relative(struct ipkvm_hid *h)
{
	return h->relative;
}

void ipkvm_hid_get_leds(struct ipkvm_hid *h, struct ipkvm_hid_leds *out)
{
	*out = h->leds;
}

int ipkvm_hid_set_jiggler(struct ipkvm_hid *h, int interval_s)
{
	if (interval_s < 0 || interval_s > 86400)
		return -EINVAL;
	h->jiggler_s = interval_s;
	h->last_input_ms = ipkvm_mono_ms();
	rearm(h);
	return 0;
}

static void jiggle(struct ipkvm_hid *h)
{
	int64_t now = ipkvm_mono_ms();
	if (!h->jiggler_s || !h->out->online || now - h->last_input_ms < h->jiggler_s * 1000LL)
		return;
	int buttons = h->buttons;
	if (ipkvm_hid_mouse_rel(h, 1, 0, buttons, 0, 0) == 0) {
		ipkvm_hid_mouse_rel(h, -1, 0, buttons, 0, 0);
	} else {
		int x = h->abs_x < 32767 ? h->abs_x + 1 : h->abs_x - 1, back = h->abs_x;
		if (ipkvm_hid_mouse_abs(h, x, -1, buttons, 0, 0) == 0)
			ipkvm_hid_mouse_abs(h, back, -1, buttons, 0, 0);
	}
	h->jiggles++;
	h->last_input_ms = now; /* the jiggle itself restarts the wait */
}

int ipkvm_hid_key(struct ipkvm_hid *h, const char *code, bool down)
{
	const struct ipkvm_key *k = ipkvm_key_by_code(code);
	if (!k)
		return -ENOENT;
	h->last_input_ms = ipkvm_mono_ms();
	if (!h->out->online)
		return -ENOTCONN;
	if (down)
		ipkvm_hid_keyboard_press(&h->kb, k->page, k->usage);
	else
		ipkvm_hid_keyboard_release(&h->kb, k->page, k->usage);
	/* Only the report of the key's own page: the others did not change. */
	unsigned mask = k->page == 0x07 ? 1u : k->page == 0x0C ? 2u : 4u;
	int r = flush(h, mask);
	if ((r == -ENODEV || r == -EOPNOTSUPP) && down) {
		/* Nothing can carry it: the key is not held either. */
		ipkvm_hid_keyboard_release(&h->kb, k->page, k->usage);
	}
	return r;
}

#define MOUSE_SPLIT_MAX 64 /* reports one move may be split into (64 x 127 px) */

int ipkvm_hid_mouse_abs(struct ipkvm_hid *h, int x, int y, int buttons, int wheel, int pan)
{
	uint8_t rep[MOUSE_SPLIT_MAX][IPKVM_HID_ABS_REPORT_LEN];
	if (x > IPKVM_HID_ABS_MAX || y > IPKVM_HID_ABS_MAX || buttons > IPKVM_HID_BTN_MASK)
		return -EINVAL;
	h->last_input_ms = ipkvm_mono_ms();
	if (!h->out->online)
		return -ENOTCONN;
	int nx = x < 0 ? h->abs_x : x, ny = y < 0 ? h->abs_y : y;
	int nb = buttons < 0 ? h->buttons : buttons;
	size_t n = ipkvm_hid_abs_reports((uint8_t)nb, (uint16_t)nx, (uint16_t)ny, wheel, pan, rep,
					 MOUSE_SPLIT_MAX);
	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int r = ipkvm_hid_output_send(h->out, IPKVM_HID_MOUSE_ABS, rep[i], sizeof(rep[i]));
		if (r < 0)
			return r;
	}
	h->abs_x = nx;
	h->abs_y = ny;
	h->buttons = nb;
	return 0;
}

int ipkvm_hid_mouse_rel(struct ipkvm_hid *h, int dx, int dy, int buttons, int wheel, int pan)
{
	uint8_t rep[MOUSE_SPLIT_MAX][IPKVM_HID_REL_REPORT_LEN];
	if (buttons > IPKVM_HID_BTN_MASK)
		return -EINVAL;
	h->last_input_ms = ipkvm_mono_ms();
	if (!h->out->online)
		return -ENOTCONN;
	int nb = buttons < 0 ? h->buttons : buttons;
	size_t n = ipkvm_hid_rel_reports(dx, dy, wheel, pan, (uint8_t)nb, rep, MOUSE_SPLIT_MAX);
	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int r = ipkvm_hid_output_send(h->out, IPKVM_HID_MOUSE_REL, rep[i], sizeof(rep[i]));
		if (r < 0)
			return r;
	}
	h->buttons = nb;
	return 0;
}

void ipkvm_hid_release_all(struct ipkvm_hid *h)
{
	ipkvm_hid_keyboard_release_all(&h->kb);
	if (!h->out->online)
		return;
	flush(h, 7u);
	if (h->buttons) {
		/* Whichever mouse pressed them, an absolute report with no buttons lets go;
		 * without an absolute mouse, a relative one. */
		if (ipkvm_hid_mouse_abs(h, -1, -1, 0, 0, 0) == -ENODEV)
			ipkvm_hid_mouse_rel(h, 0, 0, 0, 0, 0);
		h->buttons = 0;
	}
}

bool ipkvm_hid_any_pressed(struct ipkvm_hid *h)
{
	return ipkvm_hid_keyboard_any_pressed(&h->kb) || h->buttons;
}

size_t ipkvm_hid_pending(struct ipkvm_hid *h)
{
	return ipkvm_hid_output_pending(h->out);
}

size_t ipkvm_hid_pollfds(struct ipkvm_hid *h, struct pollfd *fds, size_t max)
{
	return ipkvm_hid_output_pollfds(h->out, fds, max);
}

/* Tells the owner when nothing waits any more (a write, a drop when going offline). */
static void check_drained(struct ipkvm_hid *h)
{
	if (h->drained && ipkvm_hid_output_pending(h->out) == 0)
		h->drained(h->ctx);
}

void ipkvm_hid_fd_ready(struct ipkvm_hid *h, int fd, short revents)
{
	if (revents & POLLOUT)
		ipkvm_hid_output_on_writable(h->out, fd);
	if (revents & (POLLIN | POLLERR | POLLHUP))
		ipkvm_hid_output_on_readable(h->out, fd);
	rearm(h);
	check_drained(h);
}

void ipkvm_hid_tick(struct ipkvm_hid *h)
{
	h->timer_due = -1; /* this is it */
	ipkvm_hid_output_tick(h->out);
	if (h->resync && h->out->online) {
		h->resync = false;
		flush(h, 1u); /* the boot keyboard report */
	}
	jiggle(h);
	rearm(h);
	check_drained(h);
}

json_t *ipkvm_hid_state(struct ipkvm_hid *h)
{
	json_t *pressed = json_array();
	for (size_t i = 0; i < ipkvm_key_count(); i++) {
		const struct ipkvm_key *k = &ipkvm_keys[i];
		if (ipkvm_hid_keyboard_is_pressed(&h->kb, k->page, k->usage))
			json_array_append_new(pressed, json_string(k->code));
	}
	const struct ipkvm_hid_output_counters *c = &h->out->counters;
	return json_pack(
	    "{s:s, s:s, s:b, s:s, s:{s:b, s:b, s:b, s:b, s:b}, s:o, s:{s:i, s:i, s:i}, "
	    "s:{s:i, s:I}, s:{s:I, s:I, s:I, s:I}}",
	    "output", h->output, "mouse_mode", h->relative ? "relative" : "absolute", "online",
	    h->out->online, "reason", h->out->reason, "leds", "num", h->leds.num, "caps",
	    h->leds.caps, "scroll", h->leds.scroll, "compose", h->leds.compose, "kana",
	    h->leds.kana, "pressed", pressed, "mouse", "x", h->abs_x, "y", h->abs_y, "buttons",
	    h->buttons, "jiggler", "interval", h->jiggler_s, "jiggles", (json_int_t)h->jiggles,
	    "counters", "sent", (json_int_t)c->sent, "written", (json_int_t)c->written, "queued",
	    (json_int_t)c->queued, "dropped", (json_int_t)c->dropped);
}
