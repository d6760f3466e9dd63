/*
 * vnc_ws: /api/vnc/ws, RFB over a WebSocket on the HTTPS port, for noVNC and other browser
 * VNC clients.
 *
 * The web front end only carries bytes: the protocol runs in the VNC front end, reached
 * through the RFB gateway of daemon/services.h (a front end never includes another). The
 * client authenticated like on every endpoint (session cookie or API token, the Origin of
 * /api/ws), so the gateway gets that identity and its session offers the security type None;
 * a viewer's session is view-only there. Without [vnc] enabled there is no gateway and the
 * path answers 404.
 *
 * Bytes flow as a stream: a binary message from the client is input to the session, in
 * whatever pieces lws hands over; the session's output is pulled (peek, consumed) when the
 * socket is writable and goes out as binary messages (noVNC reads the socket as a stream,
 * so where a message ends means nothing). The pipe below writes them straight to the socket
 * (web/rawwrite.h), as the H.264 socket does: small pieces are gathered into one message,
 * a long one is sent from the session's own buffer with only its frame header written from
 * here, and the session's bytes are consumed once the socket took them. Between the first
 * and the last byte of a message nothing else may be written on the connection: reads are
 * paused meanwhile (lws would answer a ping or a close with a frame of its own), and the
 * socket is closed only between messages.
 *
 * Bounded: a client whose output waits and that takes nothing of it for STALL_MS is dropped
 * (the session builds an update only when the last one left, so this is a client that
 * stopped reading, not a slow one); a socket being closed gets CLOSE_GRACE_S to take what
 * is in flight. Sessions that end (logout, password or role change, user deleted, token
 * revoked) close like the other sockets, from the web's housekeeping and at once when the
 * auth service says credentials changed; the VNC engine rechecks its copy too.
 */
#define LOG_TAG "vnc-ws"
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "web/web.h"

#define CLOSE_SESSION_ENDED 4001   /* as on the other sockets: log in again, do not retry */
#define CLOSE_GRACE_S	    2	   /* a closing socket that does not read is dropped after this */
#define STALL_MS	    20000  /* output waiting, none of it taken: dropped after this */
#define PASS_BUDGET	    262144 /* bytes one client writes in one writable pass */
#define CLOSE_TRY_LATER	    1013   /* RFC 6455's registry: try again later */

/* --- the pipe: the session's output as WebSocket messages ---------------------------- */

bool ipkvm_rfb_pipe_busy(const struct ipkvm_rfb_pipe *p)
{
	return p->run_off < p->run_len || p->body_off < p->body_len;
}

/* Takes the next message from the session: 1 when one was made, 0 when nothing waits. */
static int next_message(struct ipkvm_rfb_pipe *p)
{
	uint8_t *payload = p->buf + IPKVM_RFB_PIPE_HDR;
	size_t copied = 0;
	while (p->conn && copied < IPKVM_RFB_PIPE_COPY) {
		const unsigned char *data = NULL;
		size_t n = p->gw->peek(p->conn, &data);
		if (!n)
			break;
		if (!copied && n >= IPKVM_RFB_PIPE_COPY) {
			/* A long piece: its own message, from where it is. */
			size_t len = n < IPKVM_RFB_PIPE_BODY ? n : IPKVM_RFB_PIPE_BODY;
			size_t h = ipkvm_ws_binary_header(payload, IPKVM_RFB_PIPE_HDR, len);
			p->run = payload - h;
			p->run_len = h;
			p->body = data;
			p->body_len = len;
			p->run_off = p->body_off = 0;
			return 1;
		}
		size_t take = IPKVM_RFB_PIPE_COPY - copied;
		if (take > n)
			take = n;
		memcpy(payload + copied, data, take);
		copied += take;
		p->gw->consumed(p->conn, take); /* may end the session: p->conn is then NULL */
	}
	if (!copied)
		return 0;
	size_t h = ipkvm_ws_binary_header(payload, IPKVM_RFB_PIPE_HDR, copied);
	p->run = payload - h;
	p->run_len = h + copied;
	p->run_off = 0;
	p->body = NULL;
	p->body_len = p->body_off = 0;
	return 1;
}

int ipkvm_rfb_pipe_write(struct ipkvm_rfb_pipe *p, int fd, SSL *ssl, size_t budget, size_t *wrote)
{
	*wrote = 0;
	for (;;) {
		while (ipkvm_rfb_pipe_busy(p)) {
			bool run = p->run_off < p->run_len;
			const uint8_t *b = run ? p->run + p->run_off : p->body + p->body_off;
			size_t left = run ? p->run_len - p->run_off : p->body_len - p->body_off;
			ssize_t n = ipkvm_raw_send(fd, ssl, &p->rw, b, left, left);
			if (n < 0)
				return -1;
			*wrote += (size_t)n;
			if (run)
				p->run_off += (size_t)n;
			else
				p->body_off += (size_t)n;
			if ((size_t)n < left)
				return 0; /* the socket is full: on at the next writable pass */
		}
		if (p->body_len && p->conn)
			p->gw->consumed(p->conn, p->body_len);
		p->body = NULL;
		p->run_len = p->run_off = p->body_len = p->body_off = 0;
		if (!p->conn)
			return 1;
		if (*wrote >= budget) {
			const unsigned char *data;
			return p->gw->peek(p->conn, &data) ? 0 : 1;
		}
		if (!next_message(p))
			return 1;
	}
}

/* --- the socket ------------------------------------------------------------------------ */

/* Closes the socket at the next message boundary with code and why; with drain, once the
 * session's output is all sent. Bounded by CLOSE_GRACE_S either way. */
static void stop(struct ipkvm_vnc_client *c, uint16_t code, const char *why, bool drain)
{
	if (!drain)
		c->pipe.conn = NULL;
	if (c->stopping)
		return;
	c->stopping = true;
	c->drain = drain;
	c->close_code = code;
	c->close_why = why;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
	lws_callback_on_writable(c->wsi);
}

static void sink_want_write(void *ctx)
{
	struct ipkvm_vnc_client *c = ctx;
	if (!c->waiting_ms)
		c->waiting_ms = ipkvm_mono_ms();
	lws_callback_on_writable(c->wsi);
}

static void sink_close(void *ctx)
{
	struct ipkvm_vnc_client *c = ctx;
	c->ended = true;
	stop(c, LWS_CLOSE_STATUS_NORMAL, "the VNC session ended", false);
}

static bool vncws_available(const struct ipkvm_server *srv, const char **why)
{
	*why = "VNC is off ([vnc] enabled = 0)";
	return srv->svc->rfb != NULL;
}

static int vncws_established(void *client, struct ipkvm_server *srv, struct lws *wsi,
			     const struct ipkvm_auth *auth)
{
	struct ipkvm_vnc_client *c = client;
	const struct ipkvm_rfb_gateway *gw = srv->svc->rfb;
	struct ipkvm_auth a = *auth;
	memset(c, 0, sizeof(*c));
	if (!gw) {
		static const char why[] = "VNC is off";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, (unsigned char *)why,
				 sizeof(why) - 1);
		return -1;
	}
	c->srv = srv;
	c->wsi = wsi;
	c->auth = a;
	c->sink.ctx = c;
	c->sink.want_write = sink_want_write;
	c->sink.close = sink_close;
	char peer[IPKVM_ADDR_MAX];
	ipkvm_web_peer_addr(wsi, peer, sizeof(peer));
	/* The session speaks first: want_write comes from inside open(). */
	c->conn = gw->open(gw->ctx, &c->auth, peer, &c->sink);
	if (!c->conn) {
		static const char why[] = "no room for another VNC session";
		LOG_WARN("%s: %s's VNC session refused (too many, or out of memory)", peer,
			 c->auth.user);
		lws_close_reason(wsi, (enum lws_close_status)CLOSE_TRY_LATER, (unsigned char *)why,
				 sizeof(why) - 1);
		c->srv = NULL;
		return -1;
	}
	c->pipe.gw = gw;
	c->pipe.conn = c->ended ? NULL : c->conn;
	c->next = srv->vnc_clients;
	srv->vnc_clients = c;
	LOG_INFO("%s: VNC over WebSocket: %s (%s)", peer, c->auth.user,
		 ipkvm_role_name(c->auth.role));
	lws_callback_on_writable(wsi);
	return 0;
}

static void vncws_closed(void *client)
{
	struct ipkvm_vnc_client *c = client;
	if (!c->srv)
		return;
	for (struct ipkvm_vnc_client **p = &c->srv->vnc_clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	if (c->conn)
		c->srv->svc->rfb->close_conn(c->conn);
	LOG_INFO("VNC over WebSocket closed: %s", c->auth.user);
	memset(c, 0, sizeof(*c));
}

static int vncws_receive(void *client, const void *in, size_t len)
{
	struct ipkvm_vnc_client *c = client;
	if (!c->srv || c->stopping)
		return 0;
	/* Any message counts as activity for the session's idle timer, as on /api/ws. */
	if (!ipkvm_authsvc_recheck(c->srv->svc->auth, &c->auth, true)) {
		stop(c, CLOSE_SESSION_ENDED, "session ended", false);
		return 0;
	}
	if (lws_is_first_fragment(c->wsi))
		c->rx_text = !lws_frame_is_binary(c->wsi);
	if (c->rx_text) {
		stop(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "RFB goes in binary messages", false);
		return 0;
	}
	if (len && c->srv->svc->rfb->input(c->conn, in, len) < 0 && !c->stopping)
		stop(c, LWS_CLOSE_STATUS_NORMAL, "", true); /* its last words go out first */
	return 0;
}

static int vncws_writeable(void *client)
{
	struct ipkvm_vnc_client *c = client;
	if (!c->srv)
		return -1;
	if (!ipkvm_raw_ready(c->wsi)) {
		/* lws still holds bytes of its own (the 101 answer): they go first. */
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	SSL *ssl = lws_is_ssl(c->wsi) ? lws_get_ssl(c->wsi) : NULL;
	size_t wrote = 0;
	int r = ipkvm_rfb_pipe_write(&c->pipe, ssl ? -1 : lws_get_socket_fd(c->wsi), ssl,
				     PASS_BUDGET, &wrote);
	if (r < 0)
		return -1;
	bool busy = ipkvm_rfb_pipe_busy(&c->pipe);
	if (busy != c->rx_paused) {
		c->rx_paused = busy;
		lws_rx_flow_control(c->wsi, !busy);
	}
	if (r == 0) {
		if (wrote || !c->waiting_ms)
			c->waiting_ms = ipkvm_mono_ms();
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	c->waiting_ms = 0;
	if (!c->stopping)
		return 0;
	lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
			 (unsigned char *)c->close_why, strlen(c->close_why));
	return -1; /* between messages: lws sends the close frame */
}

const struct ipkvm_ws_ops ipkvm_vncws_ops = {
    .established = vncws_established,
    .receive = vncws_receive,
    .writeable = vncws_writeable,
    .closed = vncws_closed,
    .available = vncws_available,
    .subprotocol = "binary",
};

void ipkvm_vncws_sweep(struct ipkvm_server *srv)
{
	for (struct ipkvm_vnc_client *c = srv->vnc_clients; c; c = c->next) {
		if (c->stopping || ipkvm_authsvc_recheck(srv->svc->auth, &c->auth, false))
			continue;
		LOG_INFO("closing %s's VNC socket: session ended", c->auth.user);
		stop(c, CLOSE_SESSION_ENDED, "session ended", false);
	}
}

void ipkvm_vncws_tick(struct ipkvm_server *srv)
{
	int64_t now = ipkvm_mono_ms();
	ipkvm_vncws_sweep(srv);
	for (struct ipkvm_vnc_client *c = srv->vnc_clients; c; c = c->next) {
		if (!c->waiting_ms || now - c->waiting_ms < STALL_MS)
			continue;
		LOG_WARN("dropping %s's VNC socket: none of its output taken for %d s",
			 c->auth.user, STALL_MS / 1000);
		c->waiting_ms = 0;
		c->pipe.conn = NULL;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
}
