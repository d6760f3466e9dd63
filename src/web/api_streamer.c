/*
 * api_streamer: the video endpoints.
 *   GET  /api/streamer           state: source, signal, rates, clients, settings
 *   POST /api/streamer/params    {quality?, max_fps?}: live, no capture restart
 *   GET  /api/streamer/stream    MJPEG (multipart/x-mixed-replace)
 *   GET  /api/streamer/snapshot  the newest JPEG; ?raw=1: PNG of the newest raw frame
 *
 * Stream clients share the pipeline's images: each image is one buffer holding its
 * multipart part. A client keeps a reference to the image it is sending and an offset into
 * it, and writes straight from that buffer as much as its socket takes (web/rawwrite.h: no
 * copy per client, over HTTP or HTTPS), going on at the next writable pass. Only at the end
 * of a part does it look for the next image, and then takes the newest: a client that fell
 * behind skips what it missed, at a part boundary, and a stalled one holds one image and
 * nobody else; nobody waits for anybody. Each client gets its current image again at least
 * once a second, so a still screen still reaches it.
 *
 * Access is checked again every second, as for the WebSockets: a stream whose session or
 * token ended (logout, expiry, user deleted, token revoked) is ended (the closing boundary,
 * then the connection is closed), and a snapshot still waiting for its picture gets 401.
 */
#define LOG_TAG "stream"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/loop.h"
#include "video/jpeg.h"
#include "video/h264_stream.h"
#include "video/video.h"
#include "web/rawwrite.h"
#include "web/web.h"

#define RESEND_MS   1000 /* a still picture is sent again this often */
#define SNAPSHOT_MS 3000 /* how long a snapshot may wait for a fresh image */
#define CUT_GRACE_S 2	 /* a cut stream whose client does not read is dropped after this */

struct ipkvm_stream_client {
	struct ipkvm_http_req *req;
	bool headers_sent;
	struct ipkvm_video_image img; /* the part being sent (img.part NULL: between parts) */
	size_t off;		      /* bytes of it sent */
	struct ipkvm_rawwrite rw;
	uint64_t sent_seq; /* the image sent last (or being sent) */
	int64_t sent_ms;   /* when its part was finished */
	uint64_t frames;
	bool cut;			/* access ended: end the stream at the next part boundary */
	uint64_t wrote_pass;		/* the loop pass it last wrote in */
	struct ipkvm_loop_watch *input; /* the client's socket, readable: see stream_input */
	struct ipkvm_stream_client *next;
};

/* Bytes of MJPEG the loop writes in one pass (one lws_service()). Encrypting and copying
 * pictures into the sockets of many fast viewers is the loop's biggest job; unbounded, a
 * pass with 150 of them takes 15 ms and an operator's request or key waits for its end.
 * Bounded, a pass takes about a millisecond and the streams go on in the next passes: a
 * stream writes at most what is left of the budget (its part goes on later from where it
 * stopped). Streams take turns, oldest first: while some were held back in the last pass,
 * only those that have waited as long as the longest-waiting of them may write, so the
 * streams lws happens to serve first in every pass cannot starve the others. */
#define PASS_BUDGET (1u << 20)
/* Less than this left of the budget counts as spent: no write of a few bytes (a TLS record
 * of its own) for a part that goes on in the next pass anyway. */
#define PASS_MIN_WRITE (16u << 10)

/* How many bytes this stream may write now (0: wait for the next pass). */
static size_t pass_allowance(struct ipkvm_server *srv, struct ipkvm_stream_client *c)
{
	uint64_t pass = ipkvm_loop_passes(srv->svc->loop);
	if (srv->stream_pass != pass) {
		bool last = srv->stream_pass + 1 == pass;
		srv->streams_held_last = last ? srv->streams_held : 0;
		srv->held_oldest_last = srv->held_oldest;
		srv->stream_pass = pass;
		srv->stream_pass_bytes = 0;
		srv->streams_held = 0;
		srv->held_oldest = UINT64_MAX;
	}
	bool not_my_turn = srv->streams_held_last && c->wrote_pass > srv->held_oldest_last;
	if (srv->stream_pass_bytes + PASS_MIN_WRITE > PASS_BUDGET || not_my_turn) {
		srv->streams_held++;
		if (c->wrote_pass < srv->held_oldest)
			srv->held_oldest = c->wrote_pass;
		return 0;
	}
	c->wrote_pass = pass;
	return PASS_BUDGET - srv->stream_pass_bytes;
}

static void reply_access_ended(struct ipkvm_http_req *req)
{
	ipkvm_http_reply_error(req, 401, "unauthorized", NULL,
			       "the session or token ended: log in again");
}

static bool need_video(struct ipkvm_http_req *req)
{
	if (req->srv->svc->video)
		return true;
	ipkvm_http_reply_error(req, 503, "no_video", NULL,
			       "no video source is configured ([video] source)");
	return false;
}

json_t *ipkvm_streamer_status(struct ipkvm_server *srv)
{
	if (!srv->svc->video)
		return json_pack("{s:s, s:{s:s, s:s, s:n}}", "source", "none", "signal", "state",
				 "no_device", "reason", "no video source is configured", "capture");
	struct ipkvm_video_status st;
	ipkvm_video_status(srv->svc->video, &st);
	unsigned clients = 0;
	for (struct ipkvm_stream_client *c = srv->streams; c; c = c->next)
		clients++;
	const char *capture = ipkvm_capture_name(st.signal.capture);
	/* Which JPEG encoder: the device's MJPEG passed through, the board's hardware one, or
	 * software (with why not the hardware one, when it was wanted). */
	const char *encoder = st.format == IPKVM_FMT_MJPEG ? "passthrough"
			      : st.jpeg.v4l2		   ? "v4l2"
							   : "software";
	/* The extra JPEG qualities made for clients that asked another one (VNC), highest
	 * first, and the images made per second at every quality. */
	json_t *extras = json_array();
	for (unsigned i = 0; extras && i < st.nextras; i++)
		json_array_append_new(extras, json_integer(st.extras[i]));
	return json_pack(
	    "{s:s, s:{s:s, s:s, s:i, s:i, s:f, s:o}, s:s, s:f, s:f, s:I, s:I, s:i, s:i, s:i, s:i, "
	    "s:i, s:I, s:o, s:s, s:s, s:o, s:f, s:I}",
	    "source", st.source, "signal", "state", ipkvm_signal_name(st.signal.state), "reason",
	    st.signal.reason, "width", st.signal.width, "height", st.signal.height, "fps",
	    st.signal.fps, "capture", capture ? json_string(capture) : json_null(), "format",
	    ipkvm_pixfmt_name(st.format), "capture_fps", st.capture_fps, "encoded_fps",
	    st.encoded_fps, "bytes_per_s", (json_int_t)st.bytes_per_s, "dropped",
	    (json_int_t)st.dropped, "quality", st.quality, "max_fps", st.max_fps, "clients",
	    clients, "workers", st.workers, "strips", st.strips, "seq", (json_int_t)st.seq, "h264",
	    ipkvm_h264ws_status(srv), "encoder", encoder, "encoder_reason", st.jpeg.reason,
	    "extra_qualities", extras ? extras : json_null(), "encodes_per_s", st.encodes_per_s,
	    "encodes", (json_int_t)st.encodes);
}

void ipkvm_api_streamer(struct ipkvm_http_req *req)
{
	if (!ipkvm_http_method_ok(req, IPKVM_GET))
		return;
	ipkvm_http_reply_ok(req, 200, ipkvm_streamer_status(req->srv));
}

/* The H.264 part of POST /api/streamer/params: 0, or -EINVAL with the reply made. */
static int set_h264(struct ipkvm_http_req *req, json_t *body)
{
	json_t *b = json_object_get(body, "h264_bitrate"), *f = json_object_get(body, "h264_fps"),
	       *g = json_object_get(body, "h264_gop");
	if (!b && !f && !g)
		return 0;
	struct ipkvm_h264_stream *st = ipkvm_video_h264(req->srv->svc->video);
	if (!st) {
		ipkvm_http_reply_error(req, 409, "no_h264", NULL, "H.264 is off ([h264] backend)");
		return -EINVAL;
	}
	struct ipkvm_h264_stats cur;
	ipkvm_h264_stream_stats(st, &cur);
	json_int_t bitrate = b ? json_integer_value(b) : cur.bitrate_kbps;
	json_int_t fps = f ? json_integer_value(f) : cur.max_fps;
	json_int_t gop = g ? json_integer_value(g) : cur.gop;
	/* The encoder checks the ranges (ints first: a huge JSON number must not wrap). */
	if (bitrate < 0 || bitrate > INT_MAX || fps < 0 || fps > INT_MAX || gop < 0 ||
	    gop > INT_MAX || ipkvm_h264_stream_set(st, (int)bitrate, (int)fps, (int)gop) < 0) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "h264_bitrate must be 100 to 50000 kbit/s, h264_fps 1 to "
				       "120, h264_gop 0 to 600");
		return -EINVAL;
	}
	return 0;
}

void ipkvm_api_streamer_params(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {
	    {"quality", IPKVM_JSON_INTEGER, false},	 {"max_fps", IPKVM_JSON_INTEGER, false},
	    {"h264_bitrate", IPKVM_JSON_INTEGER, false}, {"h264_fps", IPKVM_JSON_INTEGER, false},
	    {"h264_gop", IPKVM_JSON_INTEGER, false},
	};
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_video(req))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	struct ipkvm_video_status st;
	ipkvm_video_status(req->srv->svc->video, &st);
	json_t *q = json_object_get(body, "quality"), *m = json_object_get(body, "max_fps");
	json_int_t quality = q ? json_integer_value(q) : st.quality;
	json_int_t max_fps = m ? json_integer_value(m) : st.max_fps;
	if (quality < 1 || quality > 100)
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'quality' must be 1 to 100");
	else if (max_fps < 1 || max_fps > 240)
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'max_fps' must be 1 to 240");
	else if (ipkvm_video_set_params(req->srv->svc->video, (int)quality, (int)max_fps) < 0)
		ipkvm_http_reply_error(req, 500, "internal", NULL, "cannot apply the settings");
	else if (set_h264(req, body) == 0)
		ipkvm_http_reply_ok(req, 200, ipkvm_streamer_status(req->srv));
	json_decref(body);
}

/* --- MJPEG stream -------------------------------------------------------------------- */

/* The client sent something after its request, or closed its side. A stream never ends, so
 * no later request on this connection could be answered: the stream ends here. It must: lws
 * 4.1 neither reads nor stops polling a connection whose response is under way, so one
 * stray byte (or the client's FIN) would wake its poll() at once, pass after pass, a core
 * spinning for as long as the stream lasted. */
static void stream_input(void *ctx, int fd, unsigned events)
{
	struct ipkvm_stream_client *c = ctx;
	(void)fd;
	(void)events;
	LOG_INFO("%s: %s's client sent data or closed its side: ending the stream", c->req->addr,
		 c->req->auth.user);
	ipkvm_loop_unwatch(c->input);
	c->input = NULL;
	lws_set_timeout(c->req->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void ipkvm_api_streamer_stream(struct ipkvm_http_req *req)
{
	if (!ipkvm_http_method_ok(req, IPKVM_GET) || !need_video(req))
		return;
	struct ipkvm_stream_client *c = calloc(1, sizeof(*c));
	if (!c) {
		ipkvm_http_reply_error(req, 500, "internal", NULL, "out of memory");
		return;
	}
	c->req = req;
	c->next = req->srv->streams;
	req->srv->streams = c;
	req->stream = c;
	if (req->srv->svc->loop)
		c->input = ipkvm_loop_watch(req->srv->svc->loop, lws_get_socket_fd(req->wsi),
					    IPKVM_LOOP_READ, stream_input, c);
	ipkvm_video_watch(req->srv->svc->video, 1);
	LOG_INFO("%s: %s started watching", req->addr, req->auth.user);
	lws_callback_on_writable(req->wsi);
}

static int write_stream_headers(struct ipkvm_http_req *req)
{
	static const char extra[] = "cache-control: no-store, no-cache\r\n"
				    "pragma: no-cache\r\n"
				    "x-content-type-options: nosniff\r\n"
				    "x-frame-options: DENY\r\n"
				    "referrer-policy: no-referrer\r\n";
	uint8_t buf[LWS_PRE + 1024];
	uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	if (lws_add_http_common_headers(req->wsi, HTTP_STATUS_OK,
					"multipart/x-mixed-replace;boundary=" IPKVM_MJPEG_BOUNDARY,
					LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end))
		return -1;
	memcpy(p, extra, sizeof(extra) - 1);
	p += sizeof(extra) - 1;
	if (lws_is_ssl(req->wsi)) {
		memcpy(p, IPKVM_HSTS_HEADER, sizeof(IPKVM_HSTS_HEADER) - 1);
		p += sizeof(IPKVM_HSTS_HEADER) - 1;
	}
	return lws_finalize_write_http_header(req->wsi, start, &p, end) ? -1 : 0;
}

/* The closing delimiter tells a multipart parser the stream ended on purpose; lws flushes it
 * before it closes the connection. */
static int end_stream(struct ipkvm_http_req *req)
{
	static const char last[] = "\r\n--" IPKVM_MJPEG_BOUNDARY "--\r\n";
	uint8_t buf[LWS_PRE + sizeof(last)];
	memcpy(buf + LWS_PRE, last, sizeof(last) - 1);
	lws_write(req->wsi, buf + LWS_PRE, sizeof(last) - 1, LWS_WRITE_HTTP);
	return -1;
}

/* Between parts: takes the next image to send, if there is one to send now. */
static bool next_image(struct ipkvm_stream_client *c, int64_t now)
{
	struct ipkvm_video_image img = {0};
	if (!ipkvm_video_latest(c->req->srv->svc->video, &img))
		return false; /* nothing yet: woken when the first image is out */
	if (img.seq == c->sent_seq && now - c->sent_ms < RESEND_MS) {
		ipkvm_video_image_release(&img);
		return false; /* woken by the next image, or by the tick for the resend */
	}
	c->img = img;
	c->off = 0;
	c->sent_seq = img.seq;
	return true;
}

int ipkvm_stream_writeable(struct ipkvm_http_req *req)
{
	struct ipkvm_stream_client *c = req->stream;
	if (c->cut && !c->headers_sent) {
		/* Nothing sent yet: an ordinary 401, written once the stream is gone. */
		ipkvm_stream_detach(req);
		reply_access_ended(req);
		return 0;
	}
	if (!c->headers_sent) {
		if (write_stream_headers(req) < 0)
			return -1;
		c->headers_sent = true;
		/* lws gives every request timeout_secs to complete and counts a stream's
		 * frames as nothing: without this, every stream ended after 20 s. */
		lws_set_timeout(req->wsi, NO_PENDING_TIMEOUT, 0);
		lws_callback_on_writable(req->wsi);
		return 0;
	}
	if (!ipkvm_raw_ready(req->wsi)) {
		/* lws still holds bytes of its own (the headers): they go first. */
		lws_callback_on_writable(req->wsi);
		return 0;
	}
	for (;;) {
		int64_t now = ipkvm_mono_ms();
		if (!c->img.part) {
			if (c->cut)
				return end_stream(req);
			if (!next_image(c, now))
				return 0;
		}
		size_t allow = pass_allowance(req->srv, c);
		if (!allow) {
			lws_callback_on_writable(req->wsi); /* the next pass */
			return 0;
		}
		const struct ipkvm_buf *part = c->img.part;
		size_t left = part->len - c->off;
		ssize_t n = ipkvm_raw_write(req->wsi, &c->rw, part->data + c->off, left,
					    allow < left ? allow : left);
		if (n < 0)
			return -1;
		req->srv->stream_pass_bytes += (size_t)n;
		c->off += (size_t)n;
		if (c->off < part->len) {
			/* The socket is full, or the pass's budget is spent: the rest later. */
			lws_callback_on_writable(req->wsi);
			return 0;
		}
		c->frames++;
		c->sent_ms = now;
		ipkvm_video_image_release(&c->img);
		memset(&c->img, 0, sizeof(c->img));
	}
}

void ipkvm_stream_detach(struct ipkvm_http_req *req)
{
	struct ipkvm_server *srv = req->srv;
	if (req->stream) {
		for (struct ipkvm_stream_client **p = &srv->streams; *p; p = &(*p)->next) {
			if (*p == req->stream) {
				*p = req->stream->next;
				break;
			}
		}
		LOG_INFO("%s: %s stopped watching after %llu frames", req->addr, req->auth.user,
			 (unsigned long long)req->stream->frames);
		ipkvm_video_image_release(&req->stream->img);
		ipkvm_loop_unwatch(req->stream->input);
		free(req->stream);
		req->stream = NULL;
		if (srv->svc->video)
			ipkvm_video_watch(srv->svc->video, -1);
	}
	if (req->snapshot_deadline_ms) {
		for (struct ipkvm_http_req **p = &srv->snapshot_waiters; *p;
		     p = &(*p)->next_waiting) {
			if (*p == req) {
				*p = req->next_waiting;
				break;
			}
		}
		req->snapshot_deadline_ms = 0;
	}
}

/* --- snapshots ---------------------------------------------------------------------- */

static void reply_jpeg(struct ipkvm_http_req *req, const struct ipkvm_video_image *img)
{
	ipkvm_http_header(req, "cache-control", "no-store");
	ipkvm_http_header(req, "x-sequence", "%llu", (unsigned long long)img->seq);
	ipkvm_http_reply(req, 200, "image/jpeg", img->part->data + img->jpeg_offset,
			 img->part->len - img->jpeg_offset);
}

struct png_job {
	struct ipkvm_job job;
	struct ipkvm_server *srv;
	struct ipkvm_http_req *req; /* NULL once the request is gone */
	struct ipkvm_frame *frame;
	struct ipkvm_buf *png;
	int err;
};

static void png_run(struct ipkvm_job *j)
{
	struct png_job *pj = (struct png_job *)j;
	const struct ipkvm_frame *f = pj->frame;
	uint8_t *rgb = malloc((size_t)f->width * f->height * 3);
	if (!rgb) {
		pj->err = -ENOMEM;
		return;
	}
	ipkvm_frame_to_rgb24(f, rgb);
	pj->err = ipkvm_png_encode_rgb24(rgb, f->width, f->height, &pj->png);
	free(rgb);
}

static void png_done(struct ipkvm_job *j)
{
	struct png_job *pj = (struct png_job *)j;
	struct ipkvm_http_req *req = pj->req;
	if (req) {
		req->job = NULL;
		if (!ipkvm_authsvc_recheck_viewer(pj->srv->svc->auth, &req->auth)) {
			reply_access_ended(req);
		} else if (pj->err < 0) {
			ipkvm_http_reply_error(req, 500, "internal", NULL, "cannot make a PNG: %s",
					       strerror(-pj->err));
		} else {
			ipkvm_http_header(req, "cache-control", "no-store");
			ipkvm_http_header(req, "x-sequence", "%llu",
					  (unsigned long long)pj->frame->seq);
			ipkvm_http_reply(req, 200, "image/png", pj->png->data, pj->png->len);
		}
	}
	ipkvm_buf_unref(pj->png);
	ipkvm_frame_unref(pj->frame);
	free(pj);
}

static void png_detach(struct ipkvm_http_req *req)
{
	((struct png_job *)req->job)->req = NULL;
	req->job = NULL;
}

static void wait_for_image(struct ipkvm_http_req *req, int64_t since, bool png)
{
	req->snapshot_since = since;
	req->snapshot_png = png;
	req->snapshot_deadline_ms = ipkvm_mono_ms() + SNAPSHOT_MS;
	req->next_waiting = req->srv->snapshot_waiters;
	req->srv->snapshot_waiters = req;
	ipkvm_video_request_image(req->srv->svc->video);
}

/* Starts the PNG of the newest raw frame; f is taken over. */
static void snapshot_png(struct ipkvm_http_req *req, struct ipkvm_frame *f)
{
	if (f->format == IPKVM_FMT_MJPEG) {
		ipkvm_frame_unref(f);
		ipkvm_http_reply_error(req, 409, "no_raw_frame", NULL,
				       "the device sends MJPEG: there is no raw frame (use the "
				       "JPEG snapshot)");
		return;
	}
	struct png_job *pj = calloc(1, sizeof(*pj));
	if (!pj) {
		ipkvm_frame_unref(f);
		ipkvm_http_reply_error(req, 500, "internal", NULL, "out of memory");
		return;
	}
	pj->job.run = png_run;
	pj->job.done = png_done;
	pj->srv = req->srv;
	pj->req = req;
	pj->frame = f;
	req->job = pj;
	req->job_detach = png_detach;
	ipkvm_worker_submit(req->srv->svc->worker, &pj->job);
}

static void snapshot_raw(struct ipkvm_http_req *req)
{
	struct ipkvm_frame *f = ipkvm_video_latest_raw(req->srv->svc->video);
	if (f)
		snapshot_png(req, f);
	else
		wait_for_image(req, -1, true); /* nothing captured yet (just started) */
}

void ipkvm_api_streamer_snapshot(struct ipkvm_http_req *req)
{
	if (!ipkvm_http_method_ok(req, IPKVM_GET) || !need_video(req))
		return;
	char arg[16];
	const char *raw = lws_get_urlarg_by_name(req->wsi, "raw=", arg, sizeof(arg));
	if (raw && strcmp(raw, "1") == 0) {
		snapshot_raw(req);
		return;
	}
	struct ipkvm_video_status st;
	ipkvm_video_status(req->srv->svc->video, &st);
	struct ipkvm_video_image img = {0};
	bool have = ipkvm_video_latest(req->srv->svc->video, &img);
	/* Without watchers the last image may be old: wait for one of the picture as it is
	 * now, unless there is no picture to wait for (a placeholder is current: the signal
	 * is still gone). */
	if (have && (st.watchers > 0 || (img.placeholder && st.signal.state != IPKVM_SIGNAL_OK))) {
		reply_jpeg(req, &img);
		ipkvm_video_image_release(&img);
		return;
	}
	int64_t since = have ? (int64_t)img.seq : -1;
	ipkvm_video_image_release(&img);
	wait_for_image(req, since, false);
}

void ipkvm_stream_wake(struct ipkvm_server *srv)
{
	if (!srv->svc->video)
		return;
	struct ipkvm_video_image img = {0};
	if (!ipkvm_video_latest(srv->svc->video, &img))
		return;
	for (struct ipkvm_stream_client *c = srv->streams; c; c = c->next)
		if (c->headers_sent && !c->img.part && img.seq != c->sent_seq)
			lws_callback_on_writable(c->req->wsi);
	for (struct ipkvm_http_req **p = &srv->snapshot_waiters; *p;) {
		struct ipkvm_http_req *req = *p;
		struct ipkvm_frame *raw = NULL;
		if (req->snapshot_png && !(raw = ipkvm_video_latest_raw(srv->svc->video))) {
			p = &req->next_waiting;
			continue;
		}
		if (raw || (int64_t)img.seq > req->snapshot_since) {
			*p = req->next_waiting;
			req->snapshot_deadline_ms = 0;
			/* Access may have ended since the last tick: no picture then. */
			if (!ipkvm_authsvc_recheck_viewer(srv->svc->auth, &req->auth)) {
				ipkvm_frame_unref(raw);
				reply_access_ended(req);
			} else if (raw) {
				snapshot_png(req, raw);
			} else {
				reply_jpeg(req, &img);
			}
		} else {
			p = &req->next_waiting;
		}
	}
	ipkvm_video_image_release(&img);
}

void ipkvm_stream_tick(struct ipkvm_server *srv)
{
	int64_t now = ipkvm_mono_ms();
	for (struct ipkvm_stream_client *c = srv->streams; c; c = c->next) {
		if (!c->cut && !ipkvm_authsvc_recheck_viewer(srv->svc->auth, &c->req->auth)) {
			LOG_INFO("%s: %s's access ended: ending the stream", c->req->addr,
				 c->req->auth.user);
			c->cut = true;
			/* A client that does not read never finishes its part, and the stream
			 * ends only at a part boundary: drop it after a grace period. */
			lws_set_timeout(c->req->wsi, PENDING_TIMEOUT_USER_OK, CUT_GRACE_S);
			lws_callback_on_writable(c->req->wsi);
		} else if (!c->cut && c->headers_sent && !c->img.part &&
			   now - c->sent_ms >= RESEND_MS) {
			lws_callback_on_writable(c->req->wsi);
		}
	}
	for (struct ipkvm_http_req **p = &srv->snapshot_waiters; *p;) {
		struct ipkvm_http_req *req = *p;
		if (!ipkvm_authsvc_recheck_viewer(srv->svc->auth, &req->auth)) {
			*p = req->next_waiting;
			req->snapshot_deadline_ms = 0;
			reply_access_ended(req);
		} else if (now >= req->snapshot_deadline_ms) {
			*p = req->next_waiting;
			req->snapshot_deadline_ms = 0;
			ipkvm_http_reply_error(req, 503, "no_image", NULL,
					       "no picture arrived within %d s",
					       SNAPSHOT_MS / 1000);
		} else {
			p = &req->next_waiting;
		}
	}
	/* The `streamer` event, when the state changed (while video flows, the rates move
	 * every second, so it comes once a second). */
	json_t *st = ipkvm_streamer_status(srv);
	char *text = st ? ipkvm_json_dump(st, NULL) : NULL;
	if (text && strcmp(text, srv->streamer_last) != 0) {
		ipkvm_strlcpy(srv->streamer_last, text, sizeof(srv->streamer_last));
		ipkvm_events_publish(srv->svc->events, "streamer", json_incref(st));
	}
	free(text);
	json_decref(st);
}
