/*
 * h264_stream: the H.264 stage (see h264_stream.h).
 *
 * One lock guards the mailbox, the ring and the settings; the encoder runs outside it. The
 * encoder object itself is touched only by the encoder thread; live settings reach it
 * through ipkvm_h264_set_params, which the encoder module makes safe to call from another
 * thread.
 */
#define LOG_TAG "h264s"
#include "video/h264_stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

struct ipkvm_h264_stream {
	struct ipkvm_h264 *enc;
	char backend[16];
	void (*wake)(void *ctx);
	void *wake_ctx;
	pthread_t thread;
	bool started;
	atomic_bool stopping;

	pthread_mutex_t lock;
	pthread_cond_t work;
	struct ipkvm_frame *mailbox;
	bool want_key;
	int watchers;
	int bitrate, max_fps, gop;
	struct ipkvm_h264_au ring[IPKVM_H264_RING];
	uint64_t seq, newest_key;
	/* statistics */
	int64_t win_start;
	unsigned win_frames;
	uint64_t win_bytes;
	double fps;
	uint64_t bytes_per_s, frames, keyframes, skipped;
	double encode_ms;
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The message for an access unit: header, then the Annex-B bytes. */
static struct ipkvm_buf *message(const struct ipkvm_buf *au, uint64_t seq, bool key,
				 int64_t capture_wall_us, unsigned w, unsigned h)
{
	size_t n = au ? au->len : 0;
	struct ipkvm_buf *m = ipkvm_buf_new(IPKVM_H264_HEADER + n);
	if (!m)
		return NULL;
	uint8_t *p = m->data;
	memset(p, 0, IPKVM_H264_HEADER);
	p[0] = 1;
	p[1] = au ? (key ? IPKVM_H264_FLAG_KEY : 0) : IPKVM_H264_FLAG_ALIVE;
	put_le(p + 4, (uint32_t)seq, 4);
	put_le(p + 8, (uint64_t)capture_wall_us, 8);
	put_le(p + 16, w, 2);
	put_le(p + 18, h, 2);
	if (n)
		memcpy(p + IPKVM_H264_HEADER, au->data, n);
	return m;
}

struct ipkvm_buf *ipkvm_h264_keepalive(void)
{
	return message(NULL, 0, false, ipkvm_wall_us(), 0, 0);
}

static void publish(struct ipkvm_h264_stream *s, struct ipkvm_buf *au, bool key,
		    const struct ipkvm_frame *f, double ms)
{
	int64_t now = ipkvm_mono_us();
	int64_t cap_wall = ipkvm_mono_to_wall_us(f->ts_us);
	pthread_mutex_lock(&s->lock);
	uint64_t seq = ++s->seq;
	struct ipkvm_buf *msg = message(au, seq, key, cap_wall, f->width, f->height);
	if (!msg) {
		s->seq--;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	struct ipkvm_h264_au *slot = &s->ring[seq % IPKVM_H264_RING];
	if (slot->msg)
		ipkvm_buf_unref(slot->msg);
	*slot = (struct ipkvm_h264_au){.msg = msg,
				       .annexb_offset = IPKVM_H264_HEADER,
				       .seq = seq,
				       .width = f->width,
				       .height = f->height,
				       .key = key};
	if (key) {
		s->newest_key = seq;
		s->keyframes++;
	}
	s->frames++;
	s->encode_ms = ms;
	if (now - s->win_start >= 1000000) {
		double span = (double)(now - s->win_start) / 1e6;
		s->fps = span > 3 ? 0 : s->win_frames / span;
		s->bytes_per_s = span > 3 ? 0 : (uint64_t)(s->win_bytes / span);
		s->win_start = now;
		s->win_frames = 0;
		s->win_bytes = 0;
	}
	s->win_frames++;
	s->win_bytes += au->len;
	pthread_mutex_unlock(&s->lock);
	if (s->wake)
		s->wake(s->wake_ctx);
}

static void *encoder_main(void *arg)
{
	struct ipkvm_h264_stream *s = arg;
	int64_t last = 0;
	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->stopping)) {
		if (!s->mailbox) {
			pthread_cond_wait(&s->work, &s->lock);
			continue;
		}
		/* Pace to max_fps, counted from the start of the last encode, with a quarter of
		 * an interval of slack (a 60 fps source against 60 fps arrives +- jitter): wait
		 * for the slot, taking newer frames meanwhile. */
		int64_t interval = 1000000 / (s->max_fps > 0 ? s->max_fps : 60);
		int64_t slot = last + interval - interval / 4;
		int64_t wait = slot - ipkvm_mono_us();
		if (last && wait > 1000 && !s->want_key) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += (long)(wait % 1000000) * 1000;
			until.tv_sec += wait / 1000000 + until.tv_nsec / 1000000000;
			until.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&s->work, &s->lock, &until);
			continue;
		}
		struct ipkvm_frame *f = s->mailbox;
		s->mailbox = NULL;
		bool force = s->want_key;
		s->want_key = false;
		pthread_mutex_unlock(&s->lock);

		struct ipkvm_buf *au = NULL;
		bool key = false;
		int64_t t0 = ipkvm_mono_us();
		int r = ipkvm_h264_encode(s->enc, f, force, &au, &key);
		last = t0;
		if (r == 0) {
			publish(s, au, key, f, (double)(ipkvm_mono_us() - t0) / 1000.0);
			ipkvm_buf_unref(au);
		}
		ipkvm_frame_unref(f);
		pthread_mutex_lock(&s->lock);
		if (r == -EAGAIN) {
			s->skipped++; /* rate control dropped it; a later change carries it */
		} else if (r < 0) {
			LOG_WARN("encoding failed: %s", strerror(-r));
			s->want_key |= force; /* the keyframe is still owed */
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct ipkvm_h264_stream *ipkvm_h264_stream_create(const struct ipkvm_h264_config *cfg,
						   void (*wake)(void *ctx), void *ctx, char *err,
						   size_t errlen)
{
	struct ipkvm_h264_stream *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->enc = ipkvm_h264_create(cfg, err, errlen);
	if (!s->enc) {
		free(s);
		return NULL;
	}
	ipkvm_strlcpy(s->backend, ipkvm_h264_backend(s->enc), sizeof(s->backend));
	s->wake = wake;
	s->wake_ctx = ctx;
	s->bitrate = cfg->bitrate_kbps;
	s->max_fps = cfg->max_fps;
	s->gop = cfg->gop;
	s->win_start = ipkvm_mono_us();
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	if (pthread_create(&s->thread, NULL, encoder_main, s) != 0) {
		snprintf(err, errlen, "cannot start the encoder thread");
		ipkvm_h264_stream_destroy(s);
		return NULL;
	}
	s->started = true;
	LOG_INFO("H.264: %s, %d kbit/s, %d fps, keyframes %s", s->backend, s->bitrate, s->max_fps,
		 s->gop ? "periodic" : "on demand");
	return s;
}

void ipkvm_h264_stream_destroy(struct ipkvm_h264_stream *s)
{
	if (!s)
		return;
	if (s->started) {
		atomic_store(&s->stopping, true);
		pthread_mutex_lock(&s->lock);
		pthread_cond_broadcast(&s->work);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	ipkvm_frame_unref(s->mailbox);
	for (int i = 0; i < IPKVM_H264_RING; i++)
		if (s->ring[i].msg)
			ipkvm_buf_unref(s->ring[i].msg);
	ipkvm_h264_destroy(s->enc);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

bool ipkvm_h264_stream_wanted(struct ipkvm_h264_stream *s)
{
	pthread_mutex_lock(&s->lock);
	bool w = s->watchers > 0;
	pthread_mutex_unlock(&s->lock);
	return w;
}

bool ipkvm_h264_stream_needs_frame(struct ipkvm_h264_stream *s)
{
	pthread_mutex_lock(&s->lock);
	bool n = s->watchers > 0 && s->want_key && !s->mailbox;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void ipkvm_h264_stream_offer(struct ipkvm_h264_stream *s, struct ipkvm_frame *f)
{
	pthread_mutex_lock(&s->lock);
	ipkvm_frame_unref(s->mailbox); /* the encoder is behind: newest wins */
	s->mailbox = f;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
}

void ipkvm_h264_stream_watch(struct ipkvm_h264_stream *s, int delta)
{
	pthread_mutex_lock(&s->lock);
	s->watchers += delta;
	if (s->watchers < 0)
		s->watchers = 0;
	pthread_mutex_unlock(&s->lock);
}

void ipkvm_h264_stream_keyframe(struct ipkvm_h264_stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->want_key = true;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
}

uint64_t ipkvm_h264_stream_newest(struct ipkvm_h264_stream *s, uint64_t *newest_key)
{
	pthread_mutex_lock(&s->lock);
	uint64_t n = s->seq;
	if (newest_key)
		*newest_key = s->newest_key;
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool ipkvm_h264_stream_get(struct ipkvm_h264_stream *s, uint64_t seq, struct ipkvm_h264_au *out)
{
	pthread_mutex_lock(&s->lock);
	const struct ipkvm_h264_au *slot = &s->ring[seq % IPKVM_H264_RING];
	bool ok = seq && slot->msg && slot->seq == seq;
	if (ok) {
		*out = *slot;
		ipkvm_buf_ref(out->msg);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

void ipkvm_h264_cursor_reset(struct ipkvm_h264_stream *s, struct ipkvm_h264_cursor *c)
{
	c->next = 0;
	c->key_min = ipkvm_h264_stream_newest(s, NULL) + 1;
	ipkvm_h264_stream_keyframe(s);
}

bool ipkvm_h264_cursor_next(struct ipkvm_h264_stream *s, struct ipkvm_h264_cursor *c,
			    struct ipkvm_h264_au *out)
{
	uint64_t key, newest = ipkvm_h264_stream_newest(s, &key);
	if (c->next && newest >= c->next && newest - c->next >= IPKVM_H264_LAG) {
		c->drops++;
		ipkvm_h264_cursor_reset(s, c); /* too far behind: skip to a fresh keyframe */
	}
	if (!c->next && key && key >= c->key_min)
		c->next = key;
	if (!c->next || c->next > newest)
		return false;
	if (!ipkvm_h264_stream_get(s, c->next, out)) {
		c->drops++;
		ipkvm_h264_cursor_reset(s, c); /* it left the ring */
		return false;
	}
	c->next++;
	c->sent++;
	return true;
}

bool ipkvm_h264_cursor_pending(struct ipkvm_h264_stream *s, const struct ipkvm_h264_cursor *c)
{
	return c->next && c->next <= ipkvm_h264_stream_newest(s, NULL);
}

int ipkvm_h264_stream_set(struct ipkvm_h264_stream *s, int bitrate_kbps, int max_fps, int gop)
{
	int r = ipkvm_h264_set_params(s->enc, bitrate_kbps, max_fps, gop);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	s->bitrate = bitrate_kbps;
	s->max_fps = max_fps;
	s->gop = gop;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void ipkvm_h264_stream_stats(struct ipkvm_h264_stream *s, struct ipkvm_h264_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	if (ipkvm_mono_us() - s->win_start > 3000000)
		s->fps = 0, s->bytes_per_s = 0;
	ipkvm_strlcpy(out->backend, s->backend, sizeof(out->backend));
	out->bitrate_kbps = s->bitrate;
	out->max_fps = s->max_fps;
	out->gop = s->gop;
	out->watchers = s->watchers;
	out->fps = s->fps;
	out->bytes_per_s = s->bytes_per_s;
	out->frames = s->frames;
	out->keyframes = s->keyframes;
	out->skipped = s->skipped;
	out->encode_ms = s->encode_ms;
	pthread_mutex_unlock(&s->lock);
}
