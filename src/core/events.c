/*
 * events: see events.h. Subscribers are few (one per WebSocket client plus a handful of
 * modules), so a flat array scanned on publish is the simplest correct structure.
 */
#define LOG_TAG "events"
#include "core/events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"

struct sub {
	int id;
	ipkvm_event_fn fn;
	void *ctx;
};

struct ipkvm_events {
	struct sub *subs;
	size_t n, cap;
	int next_id;
};

struct ipkvm_events *ipkvm_events_create(void)
{
	struct ipkvm_events *ev = calloc(1, sizeof(*ev));
	if (ev)
		ev->next_id = 1;
	return ev;
}

void ipkvm_events_destroy(struct ipkvm_events *ev)
{
	if (!ev)
		return;
	free(ev->subs);
	free(ev);
}

int ipkvm_events_subscribe(struct ipkvm_events *ev, ipkvm_event_fn fn, void *ctx)
{
	if (ev->n == ev->cap) {
		size_t cap = ev->cap ? ev->cap * 2 : 16;
		struct sub *s = realloc(ev->subs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		ev->subs = s;
		ev->cap = cap;
	}
	int id = ev->next_id++;
	ev->subs[ev->n++] = (struct sub){.id = id, .fn = fn, .ctx = ctx};
	return id;
}

void ipkvm_events_unsubscribe(struct ipkvm_events *ev, int id)
{
	for (size_t i = 0; i < ev->n; i++) {
		if (ev->subs[i].id == id) {
			memmove(&ev->subs[i], &ev->subs[i + 1],
				(ev->n - i - 1) * sizeof(ev->subs[0]));
			ev->n--;
			return;
		}
	}
}

struct ipkvm_buf *ipkvm_events_message(const char *event, json_t *data)
{
	json_t *msg = json_pack("{s:s, s:o}", "event", event, "data", data ? data : json_object());
	if (!msg)
		return NULL;
	size_t len;
	char *text = ipkvm_json_dump(msg, &len);
	json_decref(msg);
	if (!text)
		return NULL;
	struct ipkvm_buf *b = ipkvm_buf_copy(text, len);
	free(text);
	return b;
}

int ipkvm_events_publish(struct ipkvm_events *ev, const char *event, json_t *data)
{
	struct ipkvm_buf *b = ipkvm_events_message(event, data);
	if (!b) {
		LOG_ERROR("cannot serialise event %s", event);
		return -ENOMEM;
	}
	/* A subscriber may unsubscribe itself from its callback (a client closing on overflow):
	 * walk a snapshot of the ids so no one is skipped or called twice. */
	size_t n = ev->n;
	int *ids = malloc((n ? n : 1) * sizeof(*ids));
	if (!ids) {
		ipkvm_buf_unref(b);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = ev->subs[i].id;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < ev->n; j++) {
			if (ev->subs[j].id == ids[i]) {
				ev->subs[j].fn(ev->subs[j].ctx, event, b);
				break;
			}
		}
	}
	free(ids);
	ipkvm_buf_unref(b);
	return 0;
}
