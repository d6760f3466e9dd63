/*
 * conn: the connection table, the daemon's defence against clients that only want to use
 * it up. Every accepted connection (HTTPS and the plain port) has a row: its client address
 * (IPv6 aggregated by /64, since one host owns a whole /64), whether it has authenticated a
 * request, and a deadline.
 *
 * - A new connection is refused when its address already holds max_connections_per_address
 *   connections, or max_unauth_per_address that have not authenticated anything. The check
 *   runs right after accept(), before TLS, so a refusal costs one close().
 * - When the table holds max_connections, the oldest unauthenticated connection is closed
 *   to make room: strangers can fill the table, but never keep a logged-in operator out.
 * - The deadline bounds the time a client has for headers plus body (request_timeout) and
 *   how long an unauthenticated connection may sit idle; the one-second tick closes the
 *   connections past it. libwebsockets' own timeouts restart with every byte, so a client
 *   sending one byte every few seconds would otherwise hold its connection for ever.
 * - Refusals are logged at most once every ten seconds, with a count: a flood must not
 *   turn into a flood of log lines.
 * The open-files limit is raised at start to fit max_connections, so accept() never fails
 * for want of descriptors (libwebsockets retries a failing accept at once, in a busy loop).
 */
#define LOG_TAG "conn"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/util.h"
#include "web/conn.h"
#include "web/web.h"

/* Descriptors kept free beside the connections: devices, files, the workers, downloads. */
#define FD_RESERVE   256
#define LOG_EVERY_MS 10000

struct conn {
	struct lws *wsi;
	char client[IPKVM_CLIENT_KEY_MAX]; /* ipkvm_client_key(): IPv6 by /64 */
	int64_t since_ms;		   /* accepted */
	int64_t deadline_ms;		   /* 0 = none */
	bool authed;			   /* has authenticated a request */
	int64_t closing_ms; /* when it was asked to close (0 = not): it no longer counts */
};

struct ipkvm_conns {
	struct conn *v;
	size_t n, cap;
	int max, per_addr, unauth_per_addr;
	int64_t timeout_ms;
	/* refusals since the last log line */
	unsigned refused, evicted, timed_out;
	int64_t last_log_ms;
	char last_client[IPKVM_CLIENT_KEY_MAX];
};

void ipkvm_conn_client_key(const struct sockaddr *sa, char *out, size_t len)
{
	char text[INET6_ADDRSTRLEN] = "";
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, text,
			  sizeof(text));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  text, sizeof(text));
	ipkvm_client_key(text, out, len);
}

/* Raises the open-files limit so max connections and the reserve fit; lowers max when the
 * hard limit is too low. */
static int fit_fd_limit(int max)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return max;
	rlim_t need = (rlim_t)max + FD_RESERVE;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rlim_t want =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
		struct rlimit nl = {want, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
			rl.rlim_cur = want;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		int fit = rl.rlim_cur > FD_RESERVE + 16 ? (int)(rl.rlim_cur - FD_RESERVE) : 16;
		LOG_WARN("open-files limit %llu is too low for max_connections = %d; serving %d "
			 "(raise LimitNOFILE= or ulimit -n to %llu)",
			 (unsigned long long)rl.rlim_cur, max, fit, (unsigned long long)need);
		return fit;
	}
	return max;
}

struct ipkvm_conns *ipkvm_conns_create(const struct ipkvm_config *cfg)
{
	struct ipkvm_conns *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max = fit_fd_limit(cfg->max_connections);
	t->per_addr = cfg->max_connections_per_address;
	t->unauth_per_addr = cfg->max_unauth_per_address;
	t->timeout_ms = (int64_t)cfg->request_timeout * 1000;
	t->cap = 64;
	t->v = calloc(t->cap, sizeof(*t->v));
	if (!t->v) {
		free(t);
		return NULL;
	}
	return t;
}

void ipkvm_conns_destroy(struct ipkvm_conns *t)
{
	if (!t)
		return;
	free(t->v);
	free(t);
}

/* Asks lws to close the connection at its next pass. lws replaces a pending timeout with
 * its own when a byte arrives first (the body timeout), so the sweep closes what is still
 * there a second later for good. */
static void close_conn(struct conn *c)
{
	c->closing_ms = ipkvm_mono_ms();
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_REASON_BASE, LWS_TO_KILL_ASYNC);
}

static void log_counts(struct ipkvm_conns *t)
{
	int64_t now = ipkvm_mono_ms();
	if (!t->refused && !t->evicted && !t->timed_out)
		return;
	if (now - t->last_log_ms < LOG_EVERY_MS)
		return;
	LOG_WARN("%u connection(s) refused by the per-address limits (the last from %s), %u "
		 "closed to make room, %u closed at the request deadline",
		 t->refused, t->last_client[0] ? t->last_client : "-", t->evicted, t->timed_out);
	t->refused = t->evicted = t->timed_out = 0;
	t->last_log_ms = now;
}

int ipkvm_conns_admit(struct ipkvm_conns *t, const struct sockaddr *sa)
{
	char key[IPKVM_CLIENT_KEY_MAX];
	ipkvm_conn_client_key(sa, key, sizeof(key));
	int same = 0, unauth = 0, live = 0;
	struct conn *oldest = NULL;
	for (size_t i = 0; i < t->n; i++) {
		struct conn *c = &t->v[i];
		if (c->closing_ms)
			continue;
		live++;
		if (strcmp(c->client, key) == 0) {
			same++;
			unauth += !c->authed;
		}
		if (!c->authed && (!oldest || c->since_ms < oldest->since_ms))
			oldest = c;
	}
	if (same >= t->per_addr || unauth >= t->unauth_per_addr) {
		t->refused++;
		ipkvm_strlcpy(t->last_client, key, sizeof(t->last_client));
		log_counts(t);
		return -EMFILE;
	}
	if (live >= t->max) {
		if (!oldest) {
			t->refused++;
			ipkvm_strlcpy(t->last_client, key, sizeof(t->last_client));
			log_counts(t);
			return -EMFILE; /* every connection is a logged-in client's */
		}
		close_conn(oldest);
		t->evicted++;
		log_counts(t);
	}
	return 0;
}

static struct conn *find(struct ipkvm_conns *t, const struct lws *wsi)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (t->v[i].wsi == wsi)
			return &t->v[i];
	return NULL;
}

void ipkvm_conns_add(struct ipkvm_conns *t, struct lws *wsi)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	if (t->n == t->cap) {
		struct conn *grown = realloc(t->v, 2 * t->cap * sizeof(*grown));
		if (!grown) {
			/* No row, no service: a connection we cannot account for is closed. */
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_REASON_BASE, LWS_TO_KILL_ASYNC);
			return;
		}
		t->v = grown;
		t->cap *= 2;
	}
	struct conn *c = &t->v[t->n++];
	memset(c, 0, sizeof(*c));
	c->wsi = wsi;
	ipkvm_conn_client_key((struct sockaddr *)&ss, c->client, sizeof(c->client));
	c->since_ms = ipkvm_mono_ms();
	c->deadline_ms = c->since_ms + t->timeout_ms;
}

void ipkvm_conns_remove(struct ipkvm_conns *t, const struct lws *wsi)
{
	struct conn *c = find(t, wsi);
	if (c)
		*c = t->v[--t->n];
}

void ipkvm_conns_request(struct ipkvm_conns *t, const struct lws *wsi, bool authed,
			 bool reading_body)
{
	struct conn *c = find(t, wsi);
	if (!c)
		return;
	if (!authed)
		return; /* headers and body share the deadline set when the wait began */
	c->authed = true;
	c->deadline_ms = reading_body ? ipkvm_mono_ms() + t->timeout_ms : 0;
}

void ipkvm_conns_busy(struct ipkvm_conns *t, const struct lws *wsi)
{
	struct conn *c = find(t, wsi);
	if (c)
		c->deadline_ms = 0;
}

void ipkvm_conns_idle(struct ipkvm_conns *t, const struct lws *wsi)
{
	struct conn *c = find(t, wsi);
	if (c)
		c->deadline_ms = c->authed ? 0 : ipkvm_mono_ms() + t->timeout_ms;
}

void ipkvm_conns_sweep(struct ipkvm_conns *t)
{
	int64_t now = ipkvm_mono_ms();
	struct lws *stuck[64];
	size_t n_stuck = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct conn *c = &t->v[i];
		if (!c->closing_ms && c->deadline_ms && now >= c->deadline_ms) {
			close_conn(c);
			t->timed_out++;
		} else if (c->closing_ms && now - c->closing_ms >= 1000 &&
			   n_stuck < IPKVM_ARRAY_SIZE(stuck)) {
			stuck[n_stuck++] = c->wsi;
		}
	}
	/* From the loop's timer no callback of these connections is running: closing them
	 * now is safe. Each close removes its row, so the list was taken first. */
	for (size_t i = 0; i < n_stuck; i++)
		lws_set_timeout(stuck[i], PENDING_TIMEOUT_USER_REASON_BASE, LWS_TO_KILL_SYNC);
	log_counts(t);
}
