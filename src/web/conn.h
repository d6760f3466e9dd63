/*
 * conn.h: the connection table (see conn.c): per-address limits, room for logged-in
 * clients, request deadlines.
 */
#ifndef IPKVM_WEB_CONN_H
#define IPKVM_WEB_CONN_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/config.h"

struct ipkvm_conns;

/* Raises the open-files limit to fit cfg->max_connections (or serves fewer, with a
 * warning). NULL when out of memory. */
struct ipkvm_conns *ipkvm_conns_create(const struct ipkvm_config *cfg);
void ipkvm_conns_destroy(struct ipkvm_conns *t);
/* The client a connection is counted as (ipkvm_client_key(): IPv6 by its /64). */
void ipkvm_conn_client_key(const struct sockaddr *sa, char *out, size_t len);
/* Right after accept(): 0 to serve the client, -EMFILE to close it (a per-address limit).
 * A full table closes its oldest unauthenticated connection to make room. */
int ipkvm_conns_admit(struct ipkvm_conns *t, const struct sockaddr *sa);
/* A connection was set up (deadline: request_timeout from now) or is gone. */
void ipkvm_conns_add(struct ipkvm_conns *t, struct lws *wsi);
void ipkvm_conns_remove(struct ipkvm_conns *t, const struct lws *wsi);
/* A request's headers are in. An authenticated one marks the connection as a logged-in
 * client's and gets request_timeout for its body (reading_body) or no deadline; an
 * unauthenticated one keeps the deadline it had, for headers and body together. */
void ipkvm_conns_request(struct ipkvm_conns *t, const struct lws *wsi, bool authed,
			 bool reading_body);
/* The request is complete and being answered (a worker job, a stream): no deadline. */
void ipkvm_conns_busy(struct ipkvm_conns *t, const struct lws *wsi);
/* Keep-alive: waiting for the next request (unauthenticated: request_timeout). */
void ipkvm_conns_idle(struct ipkvm_conns *t, const struct lws *wsi);
/* Once a second: closes the connections past their deadline. */
void ipkvm_conns_sweep(struct ipkvm_conns *t);

#endif
