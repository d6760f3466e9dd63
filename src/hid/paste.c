/*
 * paste: typing a text with back-pressure, progress and cancel (see paste.h). A small state
 * machine over the strokes: step 0 modifiers down, 1 key down, 2 key up, 3 modifiers up.
 * A step runs only when the output holds nothing (the step before reached the target);
 * otherwise the paste waits for ipkvm_paste_drained() instead of polling.
 */
#define LOG_TAG "paste"
#include "hid/paste.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/events.h"
#include "core/util.h"
#include "hid/hid.h"
#include "hid/layout.h"

#define PROGRESS_EVERY_MS 250

struct ipkvm_paste {
	struct ipkvm_paste_config cfg;
	uint64_t next_id;
	/* the paste under way (strokes != NULL) */
	uint64_t id;
	struct ipkvm_stroke *strokes;
	size_t n, next;
	unsigned step;
	int delay_ms;
	int64_t last_event_ms;
	bool waiting; /* for the output to write what it holds */
};

static const struct {
	uint8_t bit;
	const char *code;
} mods_keys[] = {{IPKVM_LAYOUT_MOD_CTRL, "ControlLeft"},
		 {IPKVM_LAYOUT_MOD_SHIFT, "ShiftLeft"},
		 {IPKVM_LAYOUT_MOD_ALTGR, "AltRight"}};

static int64_t now_ms(struct ipkvm_paste *p)
{
	return p->cfg.now_ms ? p->cfg.now_ms(p->cfg.ctx) : ipkvm_mono_ms();
}

static void timer(struct ipkvm_paste *p, int64_t delay_ms)
{
	if (p->cfg.timer)
		p->cfg.timer(p->cfg.ctx, delay_ms);
}

static void event(struct ipkvm_paste *p, uint64_t id, const char *state, size_t typed, size_t total)
{
	if (p->cfg.events)
		ipkvm_events_publish(p->cfg.events, "hid_type",
				     json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)id,
					       "state", state, "typed", (json_int_t)typed, "total",
					       (json_int_t)total));
}

static void end(struct ipkvm_paste *p, const char *state)
{
	event(p, p->id, state, p->next, p->n);
	timer(p, -1);
	free(p->strokes);
	p->strokes = NULL;
	p->waiting = false;
}

struct ipkvm_paste *ipkvm_paste_create(const struct ipkvm_paste_config *cfg)
{
	struct ipkvm_paste *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->next_id = 1;
	return p;
}

void ipkvm_paste_destroy(struct ipkvm_paste *p)
{
	if (!p)
		return;
	if (p->strokes)
		end(p, "cancelled");
	free(p);
}

bool ipkvm_paste_busy(const struct ipkvm_paste *p)
{
	return p->strokes != NULL;
}

int ipkvm_paste_start(struct ipkvm_paste *p, const char *text, const char *layout_name,
		      int delay_ms, uint64_t *id, size_t *strokes, json_t **untyped_out)
{
	const struct ipkvm_layout *layout = ipkvm_layout_find(layout_name ? layout_name : "us");
	struct ipkvm_untyped *untyped = NULL;
	struct ipkvm_stroke *v = NULL;
	size_t n = 0, nu = 0;
	int r = 0;
	if (!layout)
		return -ENOENT;
	if (delay_ms < 0 || delay_ms > 1000)
		return -EINVAL;
	if (p->strokes)
		return -EBUSY;
	if (ipkvm_layout_type(layout, text, NULL, 0, &n, NULL, 0, &nu) < 0 && n == 0 && nu == 0)
		return -EILSEQ;
	untyped = calloc(nu ? nu : 1, sizeof(*untyped));
	v = calloc(n ? n : 1, sizeof(*v));
	if (!untyped || !v || ipkvm_layout_type(layout, text, v, n, &n, untyped, nu, &nu) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (untyped_out) {
		json_t *ut = json_array();
		for (size_t i = 0; i < nu; i++)
			json_array_append_new(ut, json_pack("{s:I, s:s}", "index",
							    (json_int_t)untyped[i].index, "char",
							    untyped[i].utf8));
		*untyped_out = ut;
	}
	*id = p->next_id++;
	*strokes = n;
	if (n == 0) {
		event(p, *id, "done", 0, 0);
		goto out;
	}
	p->id = *id;
	p->strokes = v;
	v = NULL;
	p->n = n;
	p->next = 0;
	p->step = 0;
	p->delay_ms = delay_ms;
	p->last_event_ms = 0;
	p->waiting = false;
	timer(p, 0);
out:
	free(v);
	free(untyped);
	return r;
}

int ipkvm_paste_cancel(struct ipkvm_paste *p, uint64_t *id, size_t *typed, size_t *total)
{
	if (!p->strokes)
		return -ENOENT;
	ipkvm_hid_release_all(p->cfg.hid);
	*id = p->id;
	*typed = p->next;
	*total = p->n;
	end(p, "cancelled");
	return 0;
}

static void set_mods(struct ipkvm_paste *p, uint8_t mods, bool down)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(mods_keys); i++)
		if (mods & mods_keys[i].bit)
			ipkvm_hid_key(p->cfg.hid, mods_keys[i].code, down);
}

void ipkvm_paste_tick(struct ipkvm_paste *p)
{
	if (!p->strokes)
		return;
	if (ipkvm_hid_pending(p->cfg.hid) > 0) { /* the step before has not reached it yet */
		p->waiting = true;
		return;
	}
	const struct ipkvm_stroke *s = &p->strokes[p->next];
	int r = 0;
	switch (p->step) {
	case 0:
		set_mods(p, s->mods, true);
		break;
	case 1:
		r = ipkvm_hid_key(p->cfg.hid, s->code, true);
		break;
	case 2:
		r = ipkvm_hid_key(p->cfg.hid, s->code, false);
		break;
	case 3:
		set_mods(p, s->mods, false);
		break;
	}
	if (r < 0) {
		ipkvm_hid_release_all(p->cfg.hid);
		end(p, "failed");
		return;
	}
	int64_t wait = 0;
	if (++p->step == 4) {
		p->step = 0;
		if (++p->next == p->n) {
			end(p, "done");
			return;
		}
		wait = p->delay_ms;
		int64_t now = now_ms(p);
		if (now - p->last_event_ms >= PROGRESS_EVERY_MS) {
			p->last_event_ms = now;
			event(p, p->id, "typing", p->next, p->n);
		}
	}
	timer(p, wait);
}

void ipkvm_paste_drained(struct ipkvm_paste *p)
{
	if (!p->strokes || !p->waiting)
		return;
	p->waiting = false;
	timer(p, 0);
}
