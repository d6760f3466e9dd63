/*
 * ws: /api/ws, the authenticated event socket. The server pushes `{"event","data"}` text
 * messages from the event bus; the client may send `ping` (answered with `pong` and the
 * server clock, which the UI uses for its clock-offset and latency estimates).
 *
 * Each client has a bounded queue of references to shared message buffers. A client that
 * falls IPKVM_WS_QUEUE messages behind is cut (close 1008) rather than allowed to hold
 * memory or slow anyone; the UI reconnects and reads fresh state. Sockets whose session or
 * token ended are closed by the one-second sweep.
 */
#define LOG_TAG "ws"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build_config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "hid/hid.h"
#include "web/web.h"

_Static_assert(LWS_PRE <= IPKVM_BUF_HEADROOM, "event buffers need LWS_PRE bytes of headroom");

#define WS_RX_MAX 65536
/* Close code (private range 4000-4999) telling the UI its session is over: log in again
 * rather than reconnect. */
#define WS_CLOSE_SESSION_ENDED 4001

static void cut(struct ipkvm_ws_client *c, int status, const char *why)
{
	if (c->cut)
		return;
	c->cut = true;
	LOG_INFO("closing %s's event socket: %s", c->auth.user, why);
	lws_close_reason(c->wsi, (enum lws_close_status)status, (unsigned char *)why, strlen(why));
	lws_callback_on_writable(c->wsi);
}

static void enqueue(struct ipkvm_ws_client *c, struct ipkvm_buf *msg)
{
	if (c->cut)
		return;
	if (c->q_len == IPKVM_WS_QUEUE) {
		cut(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too far behind");
		return;
	}
	c->queue[(c->q_head + c->q_len++) % IPKVM_WS_QUEUE] = ipkvm_buf_ref(msg);
	lws_callback_on_writable(c->wsi);
}

static void on_event(void *ctx, const char *event, struct ipkvm_buf *msg)
{
	enqueue(ctx, msg);
}

static void send_new(struct ipkvm_ws_client *c, const char *event, json_t *data)
{
	struct ipkvm_buf *b = ipkvm_events_message(event, data);
	if (b) {
		enqueue(c, b);
		ipkvm_buf_unref(b);
	}
}

static json_int_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ws_established(void *client, struct ipkvm_server *srv, struct lws *wsi,
			  const struct ipkvm_auth *auth)
{
	struct ipkvm_ws_client *c = client;
	struct ipkvm_auth a = *auth;
	memset(c, 0, sizeof(*c));
	c->srv = srv;
	c->wsi = wsi;
	c->auth = a;
	c->sub_id = ipkvm_events_subscribe(srv->svc->events, on_event, c);
	if (c->sub_id < 0)
		return -1;
	c->next = srv->ws_clients;
	srv->ws_clients = c;
	LOG_INFO("event socket open: %s (%s)", c->auth.user, ipkvm_role_name(c->auth.role));
	send_new(c, "hello",
		 json_pack("{s:s, s:s, s:s, s:I}", "user", c->auth.user, "role",
			   ipkvm_role_name(c->auth.role), "version", IPKVM_VERSION, "server_time",
			   wall_ms()));
	return 0;
}

static void send_error(struct ipkvm_ws_client *c, const char *code, const char *message)
{
	send_new(c, "error", json_pack("{s:s, s:s}", "code", code, "message", message));
}

/* The outcome of an input message, binary or JSON: nothing on success, else an `error`
 * event whose code says whose fault it was (the one map from input errors to codes). */
static void input_done(struct ipkvm_ws_client *c, int r, const char *err)
{
	if (r == 0) {
		c->sent_input = true;
		return;
	}
	if (r == -EPERM)
		send_error(c, "forbidden", err);
	else if (r == -EINVAL || r == -ENOENT)
		send_error(c, "bad_request", err);
	else
		send_error(c, "hid_error", err);
}

static void handle_binary(struct ipkvm_ws_client *c, const uint8_t *data, size_t len)
{
	char err[256];
	int r = ipkvm_ws_binary_input(c->srv, &c->auth, data, len, err, sizeof(err));
	input_done(c, r, err);
}

static void handle_message(struct ipkvm_ws_client *c, const char *text, size_t len)
{
	static const struct ipkvm_json_field fields[] = {
	    {"event", IPKVM_JSON_STRING, true},
	    {"data", IPKVM_JSON_OBJECT, false},
	};
	char err[256];
	json_t *msg = ipkvm_json_parse_object(text, len, err, sizeof(err));
	if (!msg) {
		send_error(c, "bad_json", err);
		return;
	}
	if (ipkvm_json_check(msg, fields, IPKVM_ARRAY_SIZE(fields), err, sizeof(err)) < 0) {
		send_error(c, "bad_request", err);
		json_decref(msg);
		return;
	}
	const char *event = ipkvm_json_str(msg, "event");
	json_t *data = json_object_get(msg, "data");
	char kerr[256];
	bool key = strcmp(event, "key") == 0;
	if (key || strcmp(event, "mouse") == 0) {
		int r = key ? ipkvm_ws_key(c->srv, &c->auth, data, kerr, sizeof(kerr))
			    : ipkvm_ws_mouse(c->srv, &c->auth, data, kerr, sizeof(kerr));
		input_done(c, r, kerr);
	} else if (strcmp(event, "ping") == 0) {
		json_t *pong = data ? json_deep_copy(data) : json_object();
		json_object_set_new(pong, "server_time", json_integer(wall_ms()));
		send_new(c, "pong", pong);
	} else {
		send_error(c, "bad_request",
			   "unknown event (the client may send: ping, key, mouse)");
	}
	json_decref(msg);
}

static int ws_receive(void *client, const void *in, size_t len)
{
	struct ipkvm_ws_client *c = client;
	if (c->cut)
		return 0;
	c->last_rx_ms = ipkvm_mono_ms();
	/* Any message from the client counts as activity for its session's idle timer. */
	if (!ipkvm_authsvc_recheck(c->srv->svc->auth, &c->auth, true)) {
		cut(c, WS_CLOSE_SESSION_ENDED, "session ended");
		return 0;
	}
	bool first = lws_is_first_fragment(c->wsi), last = lws_is_final_fragment(c->wsi);
	if (first)
		c->rx_binary = lws_frame_is_binary(c->wsi);
	if (first && last) {
		if (c->rx_binary)
			handle_binary(c, in, len);
		else
			handle_message(c, in, len);
		return 0;
	}
	if (first)
		c->rx_len = 0;
	if (c->rx_len + len > WS_RX_MAX) {
		cut(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
		return 0;
	}
	char *grown = realloc(c->rx, c->rx_len + len + 1);
	if (!grown)
		return -1;
	c->rx = grown;
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (last) {
		if (c->rx_binary)
			handle_binary(c, (const uint8_t *)c->rx, c->rx_len);
		else
			handle_message(c, c->rx, c->rx_len);
		c->rx_len = 0;
	}
	return 0;
}

static int ws_writeable(void *client)
{
	struct ipkvm_ws_client *c = client;
	if (c->cut)
		return -1; /* lws sends the close frame set by lws_close_reason */
	if (!c->q_len)
		return 0;
	struct ipkvm_buf *b = c->queue[c->q_head];
	c->q_head = (c->q_head + 1) % IPKVM_WS_QUEUE;
	c->q_len--;
	int n = lws_write(c->wsi, b->data, b->len, LWS_WRITE_TEXT);
	ipkvm_buf_unref(b);
	if (n < 0)
		return -1;
	if (c->q_len)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void ws_closed(void *client)
{
	struct ipkvm_ws_client *c = client;
	if (!c->srv)
		return;
	ipkvm_events_unsubscribe(c->srv->svc->events, c->sub_id);
	/* Keys this client held must not stay down on the target. */
	if (c->sent_input && c->srv->svc->hid)
		ipkvm_hid_release_all(c->srv->svc->hid);
	for (struct ipkvm_ws_client **p = &c->srv->ws_clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	while (c->q_len) {
		ipkvm_buf_unref(c->queue[c->q_head]);
		c->q_head = (c->q_head + 1) % IPKVM_WS_QUEUE;
		c->q_len--;
	}
	free(c->rx);
	LOG_INFO("event socket closed: %s", c->auth.user);
	memset(c, 0, sizeof(*c));
}

const struct ipkvm_ws_ops ipkvm_events_ws_ops = {
    .established = ws_established,
    .receive = ws_receive,
    .writeable = ws_writeable,
    .closed = ws_closed,
};

void ipkvm_ws_sweep(struct ipkvm_server *srv)
{
	int64_t now = ipkvm_mono_ms();
	for (struct ipkvm_ws_client *c = srv->ws_clients; c; c = c->next) {
		if (!c->cut && !ipkvm_authsvc_recheck(srv->svc->auth, &c->auth, false))
			cut(c, WS_CLOSE_SESSION_ENDED, "session ended");
		/* Stuck-key guard: input stopped arriving while keys are held. */
		if (c->sent_input && srv->svc->hid && ipkvm_hid_any_pressed(srv->svc->hid) &&
		    now - c->last_rx_ms > (int64_t)srv->cfg->hid_release_after * 1000) {
			LOG_WARN("%s sent nothing for %d s with keys held: releasing them",
				 c->auth.user, srv->cfg->hid_release_after);
			ipkvm_hid_release_all(srv->svc->hid);
			c->sent_input = false;
		}
	}
}
