/*
 * vnc: the VNC front end (see vnc.h): sockets, TLS, limits and deadlines around the
 * sessions of rfb.c.
 *
 * One connection is one struct ipkvm_rfb_conn, on one list for both kinds: the VNC port's
 * (a socket, its watch, maybe an SSL) and carried ones (a sink into the carrier). A TCP
 * connection's life:
 *
 *   accept ─ plain ─(start_tls hook)─ TLS wanted ─(queued bytes out)─ handshake ─ TLS up
 *      every state: readable → read (or SSL_read) → ipkvm_rfb_session_input()
 *                   writable (watched only while peek() gives bytes) → write pieces
 *      ─ closing() → the last bytes out (at most CLOSE_GRACE_MS) → closed
 *
 * While TLS is wanted or being negotiated nothing is read for the session: the bytes on the
 * socket are the client's handshake, for OpenSSL. Reads and writes take a bounded amount per
 * callback, so a client that floods or drains fast gets its turn like the others, and every
 * socket is non-blocking: a stalled client only ever stalls itself.
 *
 * Connections are closed only from this file's own callbacks (the watch, tick, the auth
 * watcher, stop), never from inside a hook the engine calls, so the engine is never freed
 * under itself. Carried sessions end through the carrier: sink->close, then its close_conn.
 */
#define LOG_TAG "vnc"
#include "vnc/vnc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/authsvc.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/loop.h"
#include "tls/tls.h"

/* Connections from one address (IPv6: one /64) that have not authenticated yet. */
#define UNAUTH_PER_ADDRESS 8
/* A session that ended has this long to take its last bytes (a failure reason). */
#define CLOSE_GRACE_MS 5000
/* Bytes read, and written, for one connection per callback: its turn, then the others'. */
#define READ_BUDGET  (256 * 1024)
#define WRITE_BUDGET (1024 * 1024)
/* One write: a TLS record holds 16 KiB, so 64 KiB is a few records per call. */
#define WRITE_PIECE (64 * 1024)
/* Connections accepted per callback of the listening socket. */
#define ACCEPT_BATCH 32
/* Refusals are logged one line per this, with how many were not. */
#define REFUSAL_LOG_MS 10000
/* After the process ran out of descriptors, accepting pauses this long. */
#define ACCEPT_PAUSE_MS 1000

enum tls_state {
	TLS_OFF,       /* plain RFB */
	TLS_WANTED,    /* start_tls: the handshake starts once the queued bytes are out */
	TLS_HANDSHAKE, /* SSL_accept() under way */
	TLS_UP,	       /* RFB goes on inside TLS */
};

struct ipkvm_rfb_conn {
	struct ipkvm_vnc *vnc;
	struct ipkvm_rfb_conn *prev, *next;
	struct ipkvm_rfb_session *s;
	bool carried;
	/* The VNC port's connections. */
	int fd;
	struct ipkvm_loop_watch *watch;
	unsigned events; /* what the watch asks for (IPKVM_LOOP_*) */
	SSL *ssl;
	enum tls_state tls;
	bool anonymous_ok;     /* TLSPlain with [vnc] anonymous_tls: anonymous suites too */
	bool hs_wants_write;   /* the handshake waits for writable */
	bool read_wants_write; /* SSL_read waits for writable */
	bool write_wants_read; /* SSL_write waits for readable */
	/* Carried sessions. */
	struct ipkvm_rfb_sink sink;
	bool ended; /* sink->close was called: only close_conn is left */
	const char *end_reason;
	/* For the limits and the log. */
	char peer[INET6_ADDRSTRLEN + 16]; /* "ADDR port N" (carried: the carrier's text) */
	char addr[INET6_ADDRSTRLEN];	  /* the address alone, for the engine */
	char key[IPKVM_CLIENT_KEY_MAX];	  /* the per-address limit's key */
	int64_t opened_ms, close_by_ms;	  /* close_by_ms: 0 = not closing */
	char why[128];			  /* a close reason built here (TLS errors) */
	uint64_t bytes_in, bytes_out;
};

struct ipkvm_vnc {
	const struct ipkvm_services *svc;
	const struct ipkvm_config *cfg;
	struct ipkvm_rfb_env env;
	char *name;
	struct ipkvm_rfb_vncauth_entry *vncauth;
	struct ipkvm_tls_files tls_files;
	struct ipkvm_tls_policy tls_policy;
	SSL_CTX *ssl_ctx;
	int lfd;
	struct ipkvm_loop_watch *lwatch;
	int64_t accept_paused_until; /* 0 = accepting */
	int port;
	struct ipkvm_rfb_conn *conns; /* every connection, both kinds */
	size_t n_conns;
	struct ipkvm_rfb_gateway gateway;
	struct ipkvm_vnc_info info;
	bool watching_auth, stopped;
	bool refusal_logged; /* refusal_logged_ms is set */
	int64_t refusal_logged_ms;
	unsigned refusals_unlogged;
};

static int64_t now_ms(const struct ipkvm_vnc *v)
{
	return v->env.now_ms ? v->env.now_ms(v->env.clock_ctx) : ipkvm_mono_ms();
}

static void count_changed(struct ipkvm_vnc *v)
{
	v->info.clients = v->n_conns;
}

/* ---- the log ------------------------------------------------------------------------- */

static void refused(struct ipkvm_vnc *v, const char *peer, const char *why)
{
	int64_t now = now_ms(v);
	if (v->refusal_logged && now - v->refusal_logged_ms < REFUSAL_LOG_MS) {
		v->refusals_unlogged++;
		return;
	}
	LOG_WARN("VNC connection from %s refused: %s", peer, why);
	v->refusal_logged = true;
	v->refusal_logged_ms = now;
}

static void refusals_flush(struct ipkvm_vnc *v)
{
	if (v->refusals_unlogged && now_ms(v) - v->refusal_logged_ms >= REFUSAL_LOG_MS) {
		LOG_WARN("%u more VNC connections refused in the last %d s", v->refusals_unlogged,
			 REFUSAL_LOG_MS / 1000);
		v->refusals_unlogged = 0;
		v->refusal_logged_ms = now_ms(v);
	}
}

static const char *user_of(const struct ipkvm_rfb_conn *c)
{
	const char *u = c->s ? ipkvm_rfb_session_user(c->s) : "";
	return u && *u ? u : "-";
}

static void log_closed(const struct ipkvm_rfb_conn *c, const char *reason)
{
	LOG_INFO("VNC %s%s (user %s) closed: %s; %" PRIu64 " bytes in, %" PRIu64 " out, %" PRId64
		 " s",
		 c->carried ? "over /api/vnc/ws from " : "", c->peer, user_of(c), reason,
		 c->bytes_in, c->bytes_out, (now_ms(c->vnc) - c->opened_ms) / 1000);
}

/* ---- connections --------------------------------------------------------------------- */

static void conn_link(struct ipkvm_vnc *v, struct ipkvm_rfb_conn *c)
{
	c->next = v->conns;
	if (v->conns)
		v->conns->prev = c;
	v->conns = c;
	v->n_conns++;
	count_changed(v);
}

static void conn_unlink(struct ipkvm_rfb_conn *c)
{
	struct ipkvm_vnc *v = c->vnc;
	if (c->prev)
		c->prev->next = c->next;
	else
		v->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	v->n_conns--;
	count_changed(v);
}

/* Frees a connection of either kind (the carried one's carrier is done with it). */
static void conn_free(struct ipkvm_rfb_conn *c, const char *reason)
{
	log_closed(c, reason);
	conn_unlink(c);
	ipkvm_loop_unwatch(c->watch);
	if (c->ssl) {
		/* close_notify if the socket takes it now; nothing waits for the answer. */
		if (c->tls == TLS_UP)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	ERR_clear_error();
	if (c->fd >= 0)
		close(c->fd);
	ipkvm_rfb_session_free(c->s);
	free(c);
}

/* Ends a carried session from the VNC side: its carrier closes the transport, then calls
 * close_conn (maybe from inside sink.close: c is not touched after it). */
static void carried_end(struct ipkvm_rfb_conn *c, const char *reason)
{
	if (c->ended)
		return;
	c->ended = true;
	c->end_reason = reason;
	c->sink.close(c->sink.ctx);
}

/* Ends a connection of either kind now. */
static void conn_end(struct ipkvm_rfb_conn *c, const char *reason)
{
	if (c->carried)
		carried_end(c, reason);
	else
		conn_free(c, reason);
}

static void conn_watch(struct ipkvm_rfb_conn *c, unsigned events)
{
	if (c->watch && events != c->events)
		ipkvm_loop_watch_set(c->watch, events);
	c->events = events;
}

/* What the watch should ask for, from the connection's state (outside the engine's
 * hooks: peek() is called). */
static void conn_update(struct ipkvm_rfb_conn *c)
{
	const unsigned char *d;
	unsigned ev;
	switch (c->tls) {
	case TLS_WANTED:
		/* Only the queued bytes: the client's handshake waits on the socket. */
		ev = IPKVM_LOOP_WRITE;
		break;
	case TLS_HANDSHAKE:
		ev = c->hs_wants_write ? IPKVM_LOOP_WRITE : IPKVM_LOOP_READ;
		break;
	default:
		ev = IPKVM_LOOP_READ;
		if (c->read_wants_write ||
		    (!c->write_wants_read && ipkvm_rfb_session_peek(c->s, &d)))
			ev |= IPKVM_LOOP_WRITE;
		break;
	}
	conn_watch(c, ev);
}

/* The engine's hooks. They only note what is wanted: the connection acts on it from its
 * own callbacks. */
static void tcp_want_write(void *ctx)
{
	struct ipkvm_rfb_conn *c = ctx;
	if (c->tls == TLS_OFF || c->tls == TLS_UP)
		conn_watch(c, c->events | IPKVM_LOOP_WRITE);
}

static int tcp_start_tls(void *ctx, bool anonymous_ok)
{
	struct ipkvm_rfb_conn *c = ctx;
	if (c->tls != TLS_OFF || !c->vnc->ssl_ctx)
		return -EINVAL;
	c->anonymous_ok = anonymous_ok && c->vnc->cfg->vnc_anonymous_tls;
	c->tls = TLS_WANTED;
	conn_watch(c, IPKVM_LOOP_WRITE);
	return 0;
}

/* Drives the server handshake. 1: done; 0: waiting for the socket; < 0: failed. */
static int conn_handshake(struct ipkvm_rfb_conn *c)
{
	ERR_clear_error();
	int r = SSL_accept(c->ssl);
	if (r == 1) {
		c->tls = TLS_UP;
		c->hs_wants_write = false;
		bool anonymous = ipkvm_tls_is_anonymous(c->ssl);
		LOG_DEBUG("VNC %s: %s, %s%s", c->peer, SSL_get_version(c->ssl),
			  SSL_get_cipher_name(c->ssl), anonymous ? " (anonymous)" : "");
		ipkvm_rfb_session_tls_ready(c->s, anonymous);
		return 1;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->hs_wants_write = e == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	unsigned long err = ERR_peek_error();
	const char *what = err ? ERR_reason_error_string(err) : NULL;
	snprintf(c->why, sizeof(c->why), "TLS handshake failed: %s",
		 what ? what : "the client closed the connection");
	ERR_clear_error();
	return -EPROTO;
}

static int conn_start_handshake(struct ipkvm_rfb_conn *c)
{
	c->ssl = SSL_new(c->vnc->ssl_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		return -ENOMEM;
	}
	if (c->anonymous_ok && ipkvm_tls_allow_anonymous(c->ssl, &c->vnc->tls_policy) < 0) {
		snprintf(c->why, sizeof(c->why),
			 "TLS handshake failed: cannot allow anonymous TLS");
		return -EINVAL;
	}
	SSL_set_accept_state(c->ssl);
	c->tls = TLS_HANDSHAKE;
	return conn_handshake(c);
}

/* The session ended: its last bytes get CLOSE_GRACE_MS to leave. */
static void note_closing(struct ipkvm_rfb_conn *c)
{
	if (!c->close_by_ms && ipkvm_rfb_session_closing(c->s))
		c->close_by_ms = now_ms(c->vnc) + CLOSE_GRACE_MS;
}

/* Reads what the client sent, within the budget. 0, or < 0 with *why set: close. */
static int conn_read(struct ipkvm_rfb_conn *c, const char **why)
{
	unsigned char buf[16384];
	size_t budget = READ_BUDGET;
	while (budget > 0 && (c->tls == TLS_OFF || c->tls == TLS_UP)) {
		ssize_t n;
		if (c->ssl) {
			c->read_wants_write = false;
			ERR_clear_error();
			int r = SSL_read(c->ssl, buf, sizeof(buf));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ)
					return 0;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->read_wants_write = true;
					return 0;
				}
				unsigned long err = ERR_peek_error();
				ERR_clear_error();
				/* A client that closes without TLS's close_notify (most do) is
				 * no error: RFB's messages say where they end. */
				if (e == SSL_ERROR_ZERO_RETURN ||
				    (e == SSL_ERROR_SSL &&
				     ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
					*why = "closed by the client";
				} else if (e == SSL_ERROR_SSL) {
					const char *what = ERR_reason_error_string(err);
					snprintf(c->why, sizeof(c->why), "TLS error: %s",
						 what ? what : "unknown");
					*why = c->why;
				} else {
					*why = "connection lost";
				}
				return -EIO;
			}
			n = r;
		} else {
			n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return 0;
			if (n <= 0) {
				*why = n == 0 ? "closed by the client" : "connection lost";
				return -EIO;
			}
		}
		c->bytes_in += (uint64_t)n;
		budget -= (size_t)n < budget ? (size_t)n : budget;
		/* After the end, the client's bytes are read only to see it go. */
		if (!ipkvm_rfb_session_closing(c->s))
			ipkvm_rfb_session_input(c->s, buf, (size_t)n);
		note_closing(c);
	}
	return 0;
}

/* Sends what the session has, within the budget; starts a wanted handshake once nothing
 * is queued. 0, 1 (the session is over and everything is out: close), or < 0 (*why). */
static int conn_write(struct ipkvm_rfb_conn *c, const char **why)
{
	size_t budget = WRITE_BUDGET;
	const unsigned char *d;
	size_t n;
	if (c->tls == TLS_HANDSHAKE)
		return 0;
	while (budget > 0 && (n = ipkvm_rfb_session_peek(c->s, &d)) > 0) {
		ssize_t w;
		if (n > WRITE_PIECE)
			n = WRITE_PIECE;
		if (c->ssl) {
			c->write_wants_read = false;
			ERR_clear_error();
			int r = SSL_write(c->ssl, d, (int)n);
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE)
					return 0;
				if (e == SSL_ERROR_WANT_READ) {
					c->write_wants_read = true;
					return 0;
				}
				ERR_clear_error();
				*why = "connection lost";
				return -EIO;
			}
			w = r;
		} else {
			w = send(c->fd, d, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return 0;
			if (w <= 0) {
				*why = "connection lost";
				return -EIO;
			}
		}
		ipkvm_rfb_session_consumed(c->s, (size_t)w);
		c->bytes_out += (uint64_t)w;
		budget -= (size_t)w < budget ? (size_t)w : budget;
	}
	if (budget == 0)
		return 0; /* more next time: the watch asks for writable */
	if (c->tls == TLS_WANTED) {
		int r = conn_start_handshake(c);
		if (r < 0) {
			*why = c->why[0] ? c->why : "TLS handshake failed: out of memory";
			return r;
		}
		if (r == 0)
			return 0;
		/* Up: anything the engine queued on tls_ready goes next time round. */
		return 0;
	}
	note_closing(c);
	return ipkvm_rfb_session_closing(c->s) ? 1 : 0;
}

static void conn_ready(void *ctx, int fd, unsigned events)
{
	struct ipkvm_rfb_conn *c = ctx;
	const char *why = NULL;
	int r = 0;
	if (c->tls == TLS_HANDSHAKE) {
		r = conn_handshake(c);
		if (r < 0) {
			conn_free(c, c->why);
			return;
		}
	}
	/* A TLS write that waited for readable goes first; then read (input may queue an
	 * answer; a TLS read that waited for writable is retried), then write. */
	if (c->write_wants_read && (events & IPKVM_LOOP_READ)) {
		c->write_wants_read = false;
		r = conn_write(c, &why);
	}
	if (r >= 0 && ((events & IPKVM_LOOP_READ) || c->read_wants_write))
		r = conn_read(c, &why);
	if (r >= 0)
		r = conn_write(c, &why);
	if (r < 0) {
		conn_free(c, why ? why : "error");
		return;
	}
	if (r == 1) {
		conn_free(c, "session ended");
		return;
	}
	conn_update(c);
}

static int unauth_from(const struct ipkvm_vnc *v, const char *key)
{
	int n = 0;
	for (const struct ipkvm_rfb_conn *c = v->conns; c; c = c->next)
		n += !c->carried && !ipkvm_rfb_session_authenticated(c->s) &&
		     strcmp(c->key, key) == 0;
	return n;
}

static void peer_text(const struct sockaddr_storage *ss, struct ipkvm_rfb_conn *c)
{
	unsigned port = 0;
	c->addr[0] = '\0';
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
			inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], c->addr, sizeof(c->addr));
		else
			inet_ntop(AF_INET6, &a6->sin6_addr, c->addr, sizeof(c->addr));
		port = ntohs(a6->sin6_port);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a4->sin_addr, c->addr, sizeof(c->addr));
		port = ntohs(a4->sin_port);
	}
	if (!c->addr[0])
		ipkvm_strlcpy(c->addr, "unknown", sizeof(c->addr));
	snprintf(c->peer, sizeof(c->peer), "%s port %u", c->addr, port);
	ipkvm_client_key(c->addr, c->key, sizeof(c->key));
}

static void conn_accepted(struct ipkvm_vnc *v, int fd, const struct sockaddr_storage *ss)
{
	struct ipkvm_rfb_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->vnc = v;
	c->fd = fd;
	peer_text(ss, c);
	if (v->n_conns >= (size_t)v->cfg->vnc_max_clients) {
		char why[96];
		snprintf(why, sizeof(why), "too many clients ([vnc] max_clients = %d)",
			 v->cfg->vnc_max_clients);
		refused(v, c->peer, why);
		goto refuse;
	}
	if (unauth_from(v, c->key) >= UNAUTH_PER_ADDRESS) {
		char why[96];
		snprintf(why, sizeof(why), "%d connections from %s still logging in",
			 UNAUTH_PER_ADDRESS, c->key);
		refused(v, c->peer, why);
		goto refuse;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->opened_ms = now_ms(v);
	c->events = IPKVM_LOOP_READ;
	struct ipkvm_rfb_hooks hooks = {
	    .ctx = c, .want_write = tcp_want_write, .start_tls = tcp_start_tls};
	c->s = ipkvm_rfb_session_new(&v->env, IPKVM_RFB_TCP, NULL, c->addr, &hooks);
	if (!c->s)
		goto refuse;
	c->watch = ipkvm_loop_watch(v->svc->loop, fd, c->events, conn_ready, c);
	if (!c->watch) {
		ipkvm_rfb_session_free(c->s);
		goto refuse;
	}
	conn_link(v, c);
	LOG_INFO("VNC connection from %s", c->peer);
	/* The server speaks first: its version goes out now if the socket takes it. */
	conn_ready(c, fd, 0);
	return;
refuse:
	close(fd);
	free(c);
}

static void listener_ready(void *ctx, int fd, unsigned events)
{
	struct ipkvm_vnc *v = ctx;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The connection stays queued: stop asking until the tick. */
				LOG_WARN("VNC: cannot accept (%s); pausing for %d ms",
					 strerror(errno), ACCEPT_PAUSE_MS);
				v->accept_paused_until = now_ms(v) + ACCEPT_PAUSE_MS;
				ipkvm_loop_watch_set(v->lwatch, 0);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				LOG_WARN("VNC: accept: %s", strerror(errno));
			}
			return;
		}
		conn_accepted(v, cfd, &ss);
	}
}

/* ---- the listening socket ------------------------------------------------------------ */

static int listen_on(struct ipkvm_vnc *v)
{
	const char *addr = v->cfg->vnc_listen && v->cfg->vnc_listen[0] ? v->cfg->vnc_listen : NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	int fd = -1, r, one = 1, zero = 0;
	if (addr && inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)v->cfg->vnc_port);
		len = sizeof(*a4);
	} else if (!addr || inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)v->cfg->vnc_port);
		if (!addr)
			a6->sin6_addr = in6addr_any;
		len = sizeof(*a6);
	} else {
		LOG_ERROR("[vnc] listen = %s: not an IPv4 or IPv6 address", addr);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && !addr && errno == EAFNOSUPPORT) {
		/* A kernel without IPv6: every IPv4 address then. */
		memset(&ss, 0, sizeof(ss));
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)v->cfg->vnc_port);
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof(*a4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		r = -errno;
		LOG_ERROR("VNC: socket: %s", strerror(-r));
		return r;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "" is IPv6 and IPv4 on one socket; a given IPv6 address is that address only. */
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, addr ? &one : &zero, sizeof(int));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		if (r == -EADDRNOTAVAIL)
			LOG_ERROR(
			    "[vnc] listen = %s: no interface of this machine has that address",
			    addr ? addr : "");
		else
			LOG_ERROR("VNC: cannot listen on %s port %d: %s",
				  addr ? addr : "every address", v->cfg->vnc_port, strerror(-r));
		close(fd);
		return r;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	v->port = ntohs(ss.ss_family == AF_INET6 ? a6->sin6_port : a4->sin_port);
	v->lfd = fd;
	v->lwatch = ipkvm_loop_watch(v->svc->loop, fd, IPKVM_LOOP_READ, listener_ready, v);
	if (!v->lwatch)
		return -ENOMEM;
	bool v6 = addr && strchr(addr, ':');
	LOG_INFO("VNC serving %s%s%s port %d (VeNCrypt with TLS%s; at most %d clients)",
		 v6 ? "[" : "", addr ? addr : "every address", v6 ? "]" : "", v->port,
		 v->env.n_vncauth ? ", and VncAuth" : "", v->cfg->vnc_max_clients);
	if (v->cfg->vnc_anonymous_tls)
		LOG_WARN("VNC: [vnc] anonymous_tls = 1: TLSPlain clients may log in over "
			 "anonymous TLS, which an active man in the middle can read (passwords "
			 "included); use X509Plain where the client can");
	return 0;
}

/* ---- the gateway: sessions carried by another front end -------------------------------- */

static void carried_want_write(void *ctx)
{
	struct ipkvm_rfb_conn *c = ctx;
	if (!c->ended)
		c->sink.want_write(c->sink.ctx);
}

static struct ipkvm_rfb_conn *gw_open(void *ctx, const struct ipkvm_auth *auth, const char *peer,
				      const struct ipkvm_rfb_sink *sink)
{
	struct ipkvm_vnc *v = ctx;
	if (v->stopped)
		return NULL;
	if (v->n_conns >= (size_t)v->cfg->vnc_max_clients) {
		char why[96];
		snprintf(why, sizeof(why), "too many clients ([vnc] max_clients = %d)",
			 v->cfg->vnc_max_clients);
		refused(v, peer, why);
		return NULL;
	}
	struct ipkvm_rfb_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->vnc = v;
	c->fd = -1;
	c->carried = true;
	c->sink = *sink;
	ipkvm_strlcpy(c->addr, peer, sizeof(c->addr));
	ipkvm_strlcpy(c->peer, peer, sizeof(c->peer));
	ipkvm_client_key(peer, c->key, sizeof(c->key));
	c->opened_ms = now_ms(v);
	conn_link(v, c);
	struct ipkvm_rfb_hooks hooks = {.ctx = c, .want_write = carried_want_write};
	c->s = ipkvm_rfb_session_new(&v->env, IPKVM_RFB_PREAUTH, auth, peer, &hooks);
	if (!c->s) {
		conn_unlink(c);
		free(c);
		return NULL;
	}
	LOG_INFO("VNC over /api/vnc/ws from %s (user %s)", c->peer,
		 auth && auth->user[0] ? auth->user : "-");
	return c;
}

static int gw_input(struct ipkvm_rfb_conn *c, const void *data, size_t len)
{
	if (c->ended || ipkvm_rfb_session_closing(c->s))
		return -EPIPE;
	c->bytes_in += len;
	int r = ipkvm_rfb_session_input(c->s, data, len);
	if (r >= 0 && ipkvm_rfb_session_closing(c->s))
		r = -EPIPE;
	if (r < 0 && !c->end_reason)
		c->end_reason = "session ended";
	return r;
}

static size_t gw_peek(struct ipkvm_rfb_conn *c, const unsigned char **data)
{
	return ipkvm_rfb_session_peek(c->s, data);
}

static void gw_consumed(struct ipkvm_rfb_conn *c, size_t n)
{
	c->bytes_out += n;
	ipkvm_rfb_session_consumed(c->s, n);
}

static void gw_close_conn(struct ipkvm_rfb_conn *c)
{
	conn_free(c, c->end_reason ? c->end_reason : "closed by the client");
}

/* ---- the auth watcher and the wakes ---------------------------------------------------- */

static void credentials_changed(void *ctx)
{
	struct ipkvm_vnc *v = ctx;
	struct ipkvm_rfb_conn *next;
	for (struct ipkvm_rfb_conn *c = v->conns; c; c = next) {
		next = c->next;
		/* One already ending keeps its grace to take its last bytes. */
		if (!c->ended && !ipkvm_rfb_session_closing(c->s) &&
		    !ipkvm_rfb_session_recheck(c->s))
			conn_end(c, "credentials ended (logged out, user deleted or changed)");
	}
}

static void kick_all(struct ipkvm_vnc *v)
{
	for (struct ipkvm_rfb_conn *c = v->conns; c; c = c->next) {
		if (!c->ended)
			ipkvm_rfb_session_kick(c->s);
	}
}

void ipkvm_vnc_frames_ready(struct ipkvm_vnc *v)
{
	kick_all(v);
}

void ipkvm_vnc_h264_ready(struct ipkvm_vnc *v)
{
	kick_all(v);
}

/* ---- the object ------------------------------------------------------------------------ */

struct ipkvm_vnc *ipkvm_vnc_create(const struct ipkvm_services *svc,
				   const struct ipkvm_vnc_config *vc)
{
	struct ipkvm_vnc *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->svc = svc;
	v->cfg = svc->cfg;
	v->lfd = -1;
	v->name = strdup(vc->name ? vc->name : "ipkvm");
	if (!v->name)
		goto err;
	if (vc->n_vncauth) {
		v->vncauth = calloc(vc->n_vncauth, sizeof(*v->vncauth));
		if (!v->vncauth)
			goto err;
		memcpy(v->vncauth, vc->vncauth, vc->n_vncauth * sizeof(*v->vncauth));
	}
	v->env = (struct ipkvm_rfb_env){.svc = svc,
					.layout = vc->layout,
					.name = v->name,
					.tls = true,
					.vncauth = v->vncauth,
					.n_vncauth = vc->n_vncauth,
					.now_ms = vc->now_ms,
					.clock_ctx = vc->clock_ctx};
	ipkvm_tls_policy(v->cfg, &v->tls_policy);
	if (ipkvm_tls_files(v->cfg, &v->tls_files) < 0)
		goto err;
	v->ssl_ctx = ipkvm_tls_server_ctx(&v->tls_files, &v->tls_policy);
	if (!v->ssl_ctx)
		goto err;
	if (ipkvm_authsvc_watch(svc->auth, credentials_changed, v) < 0)
		goto err;
	v->watching_auth = true;
	if (listen_on(v) < 0)
		goto err;
	v->gateway = (struct ipkvm_rfb_gateway){.ctx = v,
						.open = gw_open,
						.input = gw_input,
						.peek = gw_peek,
						.consumed = gw_consumed,
						.close_conn = gw_close_conn};
	v->info.port = v->port;
	v->info.anonymous_tls = v->cfg->vnc_anonymous_tls != 0;
	return v;
err:
	ipkvm_vnc_destroy(v);
	return NULL;
}

void ipkvm_vnc_stop(struct ipkvm_vnc *v)
{
	if (!v || v->stopped)
		return;
	v->stopped = true;
	ipkvm_loop_unwatch(v->lwatch);
	v->lwatch = NULL;
	if (v->lfd >= 0)
		close(v->lfd);
	v->lfd = -1;
	struct ipkvm_rfb_conn *next;
	for (struct ipkvm_rfb_conn *c = v->conns; c; c = next) {
		next = c->next;
		conn_end(c, "server shutting down");
	}
}

void ipkvm_vnc_destroy(struct ipkvm_vnc *v)
{
	if (!v)
		return;
	ipkvm_vnc_stop(v);
	/* Carried sessions whose carrier never called close_conn (the loop is gone). */
	while (v->conns)
		conn_free(v->conns,
			  v->conns->end_reason ? v->conns->end_reason : "server shutting down");
	if (v->watching_auth)
		ipkvm_authsvc_unwatch(v->svc->auth, credentials_changed, v);
	SSL_CTX_free(v->ssl_ctx);
	if (v->vncauth) {
		explicit_bzero(v->vncauth, v->env.n_vncauth * sizeof(*v->vncauth));
		free(v->vncauth);
	}
	free(v->name);
	free(v);
}

void ipkvm_vnc_tick(struct ipkvm_vnc *v)
{
	int64_t now = now_ms(v);
	const unsigned char *d;
	struct ipkvm_rfb_conn *next;
	for (struct ipkvm_rfb_conn *c = v->conns; c; c = next) {
		next = c->next;
		if (c->ended)
			continue;
		bool authed = ipkvm_rfb_session_authenticated(c->s);
		bool ended = ipkvm_rfb_session_closing(c->s);
		if (!c->carried && c->close_by_ms && now >= c->close_by_ms) {
			conn_free(c, "did not take the session's last bytes in 5 s");
		} else if (!ipkvm_rfb_session_tick(c->s)) {
			conn_end(c, ended ? "session ended; its last bytes were not taken in time"
				    : authed
					? "credentials ended (expired, user deleted or changed)"
					: "did not finish the handshake and login in 10 s");
		} else if (ipkvm_rfb_session_closing(c->s) && !ipkvm_rfb_session_peek(c->s, &d) &&
			   c->tls != TLS_HANDSHAKE) {
			/* Ended with nothing (more) to say: a carried one's carrier closes it. */
			conn_end(c, "session ended");
		} else if (!c->carried) {
			note_closing(c);
			conn_update(c);
		}
	}
	if (v->accept_paused_until && now >= v->accept_paused_until && v->lwatch) {
		v->accept_paused_until = 0;
		ipkvm_loop_watch_set(v->lwatch, IPKVM_LOOP_READ);
	}
	refusals_flush(v);
}

void ipkvm_vnc_reload_tls(struct ipkvm_vnc *v)
{
	ipkvm_tls_reload(v->ssl_ctx, &v->tls_files);
}

const struct ipkvm_rfb_gateway *ipkvm_vnc_gateway(struct ipkvm_vnc *v)
{
	return &v->gateway;
}

const struct ipkvm_vnc_info *ipkvm_vnc_info(const struct ipkvm_vnc *v)
{
	return &v->info;
}

int ipkvm_vnc_port(const struct ipkvm_vnc *v)
{
	return v->port;
}
