/*
 * events: the daemon's small publish/subscribe bus for state changes that clients see
 * (`{"event":NAME,"data":{...}}` on /api/ws).
 *
 * A publish serialises the message once into a refcounted buffer and hands a reference to
 * every subscriber; the WebSocket layer queues those references per client. Modules publish
 * from the main thread only (the design's rule: client-visible state lives there), so the
 * bus needs no locking.
 */
#ifndef IPKVM_CORE_EVENTS_H
#define IPKVM_CORE_EVENTS_H

#include <jansson.h>

#include "core/buf.h"

struct ipkvm_events;

/* Called for each published message; take a reference with ipkvm_buf_ref to keep it. */
typedef void (*ipkvm_event_fn)(void *ctx, const char *event, struct ipkvm_buf *msg);

struct ipkvm_events *ipkvm_events_create(void);
void ipkvm_events_destroy(struct ipkvm_events *ev);

/* Returns a subscription id (> 0) or -ENOMEM. */
int ipkvm_events_subscribe(struct ipkvm_events *ev, ipkvm_event_fn fn, void *ctx);
void ipkvm_events_unsubscribe(struct ipkvm_events *ev, int id);

/* Publishes {"event":event,"data":data}; data is stolen (NULL → {}). Returns 0 or -errno. */
int ipkvm_events_publish(struct ipkvm_events *ev, const char *event, json_t *data);

/* Serialises {"event":event,"data":data} (data stolen) into a new buffer, for a message to
 * one client. NULL on failure. */
struct ipkvm_buf *ipkvm_events_message(const char *event, json_t *data);

#endif
