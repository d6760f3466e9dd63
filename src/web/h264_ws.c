/*
 * h264_ws: /api/streamer/h264 (and its older name /api/media/ws), H.264 to the browser over
 * the same authenticated HTTPS connection.
 * Every binary message the server sends is one access unit of the shared H.264 stage
 * (format in video/h264_stream.h), decoded in the browser by WebCodecs.
 *
 * A client never queues: it sends the next access unit it has not had when its socket can
 * take one (the cursor of h264_stream.h). A client that falls behind skips to a fresh
 * keyframe, which it asks the encoder for: late pictures are worse than missing ones on a
 * remote console. A client starts at a keyframe made after it joined,
 * and may ask for one itself (text message {"event":"keyframe"} after a decoder error).
 * With nothing to send for a second, a header-only keep-alive goes out so the browser can
 * tell a still screen from a dead connection.
 *
 * A message is written straight from the shared access unit (web/rawwrite.h): the frame
 * header goes in the buffer's headroom, and what the socket does not take now goes on at the
 * next writable pass from where it stopped. Between the first and the last byte of a message
 * nothing else is written on the connection (lws holds nothing, reads are paused so it has
 * no pong or close to answer), and the socket is closed only between messages.
 */
#define LOG_TAG "h264-ws"
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "video/h264_stream.h"
#include "video/video.h"
#include "web/web.h"

#define KEEPALIVE_MS	    1000
#define CLOSE_SESSION_ENDED 4001
#define CUT_GRACE_S	    2 /* a cut client that does not read is dropped after this */

static struct ipkvm_h264_stream *stream_of(struct ipkvm_server *srv)
{
	return srv->svc->video ? ipkvm_video_h264(srv->svc->video) : NULL;
}

/* Drop to a keyframe made from now on. */
static void want_keyframe(struct ipkvm_h264_client *c, struct ipkvm_h264_stream *st)
{
	ipkvm_h264_cursor_reset(st, &c->cursor);
	ipkvm_video_kick(c->srv->svc->video); /* on a still screen the last frame is encoded */
}

static int h264ws_established(void *client, struct ipkvm_server *srv, struct lws *wsi,
			      const struct ipkvm_auth *auth)
{
	struct ipkvm_h264_client *c = client;
	struct ipkvm_h264_stream *st = stream_of(srv);
	struct ipkvm_auth a = *auth;
	memset(c, 0, sizeof(*c));
	if (!st) {
		static const char why[] = "H.264 is not available: use the MJPEG stream";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, (unsigned char *)why,
				 sizeof(why) - 1);
		return -1;
	}
	c->srv = srv;
	c->wsi = wsi;
	c->auth = a;
	c->last_tx_ms = ipkvm_mono_ms();
	c->next_client = srv->h264_clients;
	srv->h264_clients = c;
	ipkvm_h264_stream_watch(st, 1);
	want_keyframe(c, st);
	LOG_INFO("H.264 client: %s", c->auth.user);
	return 0;
}

static void h264ws_closed(void *client)
{
	struct ipkvm_h264_client *c = client;
	if (!c->srv)
		return;
	struct ipkvm_h264_stream *st = stream_of(c->srv);
	if (st)
		ipkvm_h264_stream_watch(st, -1);
	for (struct ipkvm_h264_client **p = &c->srv->h264_clients; *p; p = &(*p)->next_client) {
		if (*p == c) {
			*p = c->next_client;
			break;
		}
	}
	LOG_INFO("H.264 client left: %s (%llu units, %llu skipped to a keyframe)", c->auth.user,
		 (unsigned long long)c->cursor.sent, (unsigned long long)c->cursor.drops);
	ipkvm_buf_unref(c->out);
	memset(c, 0, sizeof(*c));
}

static int h264ws_receive(void *client, const void *in, size_t len)
{
	struct ipkvm_h264_client *c = client;
	if (!c->srv || c->cut)
		return 0;
	if (!ipkvm_authsvc_recheck(c->srv->svc->auth, &c->auth, true)) {
		c->cut = true;
		lws_close_reason(c->wsi, (enum lws_close_status)CLOSE_SESSION_ENDED,
				 (unsigned char *)"session ended", 13);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CUT_GRACE_S);
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	/* The one message a client sends: {"event":"keyframe"} (its decoder lost track). */
	json_error_t e;
	json_t *m = json_loadb(in, len, JSON_REJECT_DUPLICATES, &e);
	const char *ev = json_string_value(json_object_get(m, "event"));
	if (ev && strcmp(ev, "keyframe") == 0) {
		want_keyframe(c, stream_of(c->srv));
		lws_callback_on_writable(c->wsi);
	}
	json_decref(m);
	return 0;
}

/* Writes what the socket takes of the message in flight. 1 when it is complete, 0 when the
 * rest waits for the next writable pass, -1 when the connection is broken. */
static int write_message(struct ipkvm_h264_client *c)
{
	size_t left = c->out_len - c->out_off;
	ssize_t n = ipkvm_raw_write(c->wsi, &c->rw, c->out_start + c->out_off, left, left);
	if (n < 0)
		return -1;
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len) {
		/* Nothing may come between the bytes of a frame, and lws answers a ping or a
		 * close with a frame of its own before it offers the next writable pass: it
		 * reads nothing from this client until the message is complete. */
		if (!c->rx_paused)
			lws_rx_flow_control(c->wsi, 0);
		c->rx_paused = true;
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	ipkvm_buf_unref(c->out);
	c->out = NULL;
	if (c->rx_paused)
		lws_rx_flow_control(c->wsi, 1);
	c->rx_paused = false;
	return 1;
}

static int h264ws_writeable(void *client)
{
	struct ipkvm_h264_client *c = client;
	if (c->out) {
		int r = write_message(c);
		if (r <= 0)
			return r;
		/* Complete: the next one (or the close) on the next writable pass, after
		 * whatever lws has to send between messages. */
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->cut)
		return -1; /* between messages: lws sends the close frame */
	struct ipkvm_h264_stream *st = stream_of(c->srv);
	if (!st)
		return -1;
	if (!ipkvm_raw_ready(c->wsi)) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	uint64_t drops = c->cursor.drops;
	struct ipkvm_h264_au au;
	struct ipkvm_buf *msg = NULL;
	if (ipkvm_h264_cursor_next(st, &c->cursor, &au))
		msg = au.msg;
	else if (c->alive_due)
		msg = ipkvm_h264_keepalive();
	if (c->cursor.drops != drops)
		ipkvm_video_kick(c->srv->svc->video); /* a keyframe was asked for */
	if (!msg)
		return 0;
	c->alive_due = false;
	c->last_tx_ms = ipkvm_mono_ms();
	/* The frame header goes in the buffer's headroom, the same bytes for every client,
	 * so the message is one run of bytes written from the shared buffer. */
	size_t h = ipkvm_ws_binary_header(msg->data, IPKVM_BUF_HEADROOM, msg->len);
	c->out = msg;
	c->out_start = msg->data - h;
	c->out_len = h + msg->len;
	c->out_off = 0;
	int r = write_message(c);
	if (r < 0)
		return -1;
	if (r > 0 && ipkvm_h264_cursor_pending(st, &c->cursor))
		lws_callback_on_writable(c->wsi);
	return 0;
}

const struct ipkvm_ws_ops ipkvm_h264ws_ops = {
    .established = h264ws_established,
    .receive = h264ws_receive,
    .writeable = h264ws_writeable,
    .closed = h264ws_closed,
};

void ipkvm_h264ws_wake(struct ipkvm_server *srv)
{
	for (struct ipkvm_h264_client *c = srv->h264_clients; c; c = c->next_client)
		lws_callback_on_writable(c->wsi);
}

void ipkvm_h264ws_tick(struct ipkvm_server *srv)
{
	int64_t now = ipkvm_mono_ms();
	for (struct ipkvm_h264_client *c = srv->h264_clients; c; c = c->next_client) {
		if (!c->cut && !ipkvm_authsvc_recheck(srv->svc->auth, &c->auth, false)) {
			c->cut = true;
			lws_close_reason(c->wsi, (enum lws_close_status)CLOSE_SESSION_ENDED,
					 (unsigned char *)"session ended", 13);
			/* It closes between messages; a client that stopped reading in the
			 * middle of one never gets there: dropped after a grace period. */
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CUT_GRACE_S);
		} else if (now - c->last_tx_ms >= KEEPALIVE_MS) {
			c->alive_due = true;
		}
		lws_callback_on_writable(c->wsi);
	}
}

json_t *ipkvm_h264ws_status(struct ipkvm_server *srv)
{
	struct ipkvm_h264_stream *st = stream_of(srv);
	if (!st)
		return json_null();
	struct ipkvm_h264_stats s;
	ipkvm_h264_stream_stats(st, &s);
	return json_pack("{s:s, s:i, s:i, s:i, s:i, s:f, s:I, s:I, s:I, s:f}", "backend", s.backend,
			 "bitrate", s.bitrate_kbps, "fps_max", s.max_fps, "gop", s.gop, "clients",
			 s.watchers, "fps", s.fps, "bytes_per_s", (json_int_t)s.bytes_per_s,
			 "frames", (json_int_t)s.frames, "keyframes", (json_int_t)s.keyframes,
			 "encode_ms", s.encode_ms);
}
