/* Unit tests for video/h264_stream.c: the shared H.264 stage with the real openh264 encoder —
 * the message header and Annex-B framing, a client starting at a keyframe made after it
 * joined, where the Annex-B bytes start for other carriers, a lagging client skipped to a
 * fresh keyframe, keep-alives, live settings. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "video/draw.h"
#include "video/h264_stream.h"

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static int wakes;

static void on_wake(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&wake_lock);
	wakes++;
	pthread_mutex_unlock(&wake_lock);
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A 320x240 YUYV picture with text n (each n looks different). */
static struct ipkvm_frame *picture(int n)
{
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 320, 240, 0);
	assert_non_null(f);
	ipkvm_draw_rect(f, 0, 0, 320, 240, (struct ipkvm_rgb){12, 16, 24});
	char text[32];
	snprintf(text, sizeof(text), "frame %d", n);
	ipkvm_draw_text(f, 16, 16 + (n % 10) * 16, text, 1, (struct ipkvm_rgb){200, 205, 210},
			NULL);
	f->ts_us = mono_us();
	return f;
}

static struct ipkvm_h264_stream *make(int fps)
{
	struct ipkvm_h264_config cfg = {
	    .backend = "software", .bitrate_kbps = 1000, .max_fps = fps, .gop = 0};
	char err[256] = "";
	struct ipkvm_h264_stream *s =
	    ipkvm_h264_stream_create(&cfg, on_wake, NULL, err, sizeof(err));
	assert_non_null(s);
	return s;
}

/* Waits until the stream has published unit seq. */
static void wait_seq(struct ipkvm_h264_stream *s, uint64_t seq)
{
	for (int i = 0; i < 3000 && ipkvm_h264_stream_newest(s, NULL) < seq; i++)
		usleep(1000);
	assert_true(ipkvm_h264_stream_newest(s, NULL) >= seq);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The NAL unit types of an Annex-B buffer, in order, into t (returns the count). */
static int nal_types(const uint8_t *d, size_t len, int *t, int max)
{
	int n = 0;
	for (size_t i = 0; i + 3 < len && n < max; i++) {
		if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
			t[n++] = d[i + 3] & 0x1f;
			i += 3;
		}
	}
	return n;
}

static void test_header_and_keyframe_on_join(void **state)
{
	(void)state;
	struct ipkvm_h264_stream *s = make(120);
	assert_false(ipkvm_h264_stream_wanted(s));
	ipkvm_h264_stream_watch(s, 1);
	assert_true(ipkvm_h264_stream_wanted(s));
	struct ipkvm_h264_cursor c = {0};
	ipkvm_h264_cursor_reset(s, &c); /* the client joins: a keyframe is owed */
	assert_true(ipkvm_h264_stream_needs_frame(s));
	struct ipkvm_h264_au au;
	assert_false(ipkvm_h264_cursor_next(s, &c, &au)); /* nothing yet */
	int64_t before = mono_us();
	ipkvm_h264_stream_offer(s, picture(0));
	wait_seq(s, 1);
	assert_false(ipkvm_h264_stream_needs_frame(s));
	assert_true(ipkvm_h264_cursor_next(s, &c, &au));
	assert_true(au.key);
	const uint8_t *m = au.msg->data;
	assert_int_equal(m[0], 1);		     /* version */
	assert_int_equal(m[1], IPKVM_H264_FLAG_KEY); /* flags */
	assert_int_equal(le32(m + 4), 1);	     /* sequence */
	assert_int_equal(m[16] | m[17] << 8, 320);   /* width */
	assert_int_equal(m[18] | m[19] << 8, 240);   /* height */
	int64_t cap = 0;
	for (int i = 7; i >= 0; i--)
		cap = cap << 8 | m[8 + i];
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	int64_t wall = (int64_t)rt.tv_sec * 1000000 + rt.tv_nsec / 1000;
	assert_true(cap <= wall && cap > wall - (mono_us() - before) - 1000000); /* unix µs */
	int t[16];
	int n = nal_types(m + IPKVM_H264_HEADER, au.msg->len - IPKVM_H264_HEADER, t, 16);
	assert_true(n >= 3);
	assert_int_equal(t[0], 7); /* SPS, PPS, then the IDR slice */
	assert_int_equal(t[1], 8);
	assert_int_equal(t[n - 1], 5);
	ipkvm_buf_unref(au.msg);
	/* The next changes are P-frames, in order. */
	for (int i = 1; i <= 3; i++) {
		ipkvm_h264_stream_offer(s, picture(i));
		wait_seq(s, (uint64_t)i + 1);
		assert_true(ipkvm_h264_cursor_next(s, &c, &au));
		assert_false(au.key);
		assert_int_equal(au.seq, (uint64_t)i + 1);
		n = nal_types(au.msg->data + IPKVM_H264_HEADER, au.msg->len - IPKVM_H264_HEADER, t,
			      16);
		assert_int_equal(t[n - 1], 1);
		ipkvm_buf_unref(au.msg);
	}
	assert_false(ipkvm_h264_cursor_pending(s, &c));
	pthread_mutex_lock(&wake_lock);
	assert_true(wakes >= 4);
	pthread_mutex_unlock(&wake_lock);
	ipkvm_h264_stream_destroy(s);
}

/* Whether d starts with an Annex-B start code (00 00 01 or 00 00 00 01). */
static bool start_code(const uint8_t *d, size_t len)
{
	return (len >= 3 && d[0] == 0 && d[1] == 0 && d[2] == 1) ||
	       (len >= 4 && d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 1);
}

/* Another carrier of the shared stream (VNC's Open H.264 encoding) finds the Annex-B bytes at
 * annexb_offset, the same through the cursor and through get: a keyframe unit is SPS, PPS
 * and an IDR slice, the next unit a P slice, each starting with a start code. */
static void test_annexb_offset_for_other_carriers(void **state)
{
	(void)state;
	struct ipkvm_h264_stream *s = make(120);
	ipkvm_h264_stream_watch(s, 1);
	struct ipkvm_h264_cursor c = {0};
	ipkvm_h264_cursor_reset(s, &c);
	ipkvm_h264_stream_offer(s, picture(0));
	wait_seq(s, 1);
	ipkvm_h264_stream_offer(s, picture(1));
	wait_seq(s, 2);
	for (int k = 0; k < 2; k++) {
		struct ipkvm_h264_au au, again;
		assert_true(ipkvm_h264_cursor_next(s, &c, &au));
		assert_int_equal(au.key, k == 0);
		assert_int_equal(au.annexb_offset, IPKVM_H264_HEADER);
		assert_int_equal(au.width, 320); /* the picture's size, without the header */
		assert_int_equal(au.height, 240);
		assert_true(au.msg->len > au.annexb_offset + 4);
		const uint8_t *annexb = au.msg->data + au.annexb_offset;
		size_t len = au.msg->len - au.annexb_offset;
		assert_true(start_code(annexb, len));
		int t[16];
		int n = nal_types(annexb, len, t, 16);
		if (k == 0) {
			bool sps = false, pps = false, idr = false;
			for (int i = 0; i < n; i++) {
				sps = sps || t[i] == 7;
				pps = pps || (t[i] == 8 && sps);
				idr = idr || (t[i] == 5 && pps);
			}
			assert_true(sps && pps && idr); /* in that order */
		} else {
			assert_true(n >= 1);
			assert_int_equal(t[n - 1], 1);
			for (int i = 0; i < n; i++)
				assert_int_not_equal(t[i], 5);
		}
		assert_true(ipkvm_h264_stream_get(s, au.seq, &again));
		assert_int_equal(again.annexb_offset, au.annexb_offset);
		assert_ptr_equal(again.msg, au.msg);
		ipkvm_buf_unref(again.msg);
		ipkvm_buf_unref(au.msg);
	}
	ipkvm_h264_stream_destroy(s);
}

/* A client that fell IPKVM_H264_LAG behind is not fed stale pictures: it skips to a
 * keyframe made after it fell behind; a second client keeps its own place. */
static void test_laggard_skips_to_a_fresh_keyframe(void **state)
{
	(void)state;
	struct ipkvm_h264_stream *s = make(120);
	ipkvm_h264_stream_watch(s, 2);
	struct ipkvm_h264_cursor slow = {0}, fast = {0};
	ipkvm_h264_cursor_reset(s, &slow);
	ipkvm_h264_cursor_reset(s, &fast);
	ipkvm_h264_stream_offer(s, picture(0));
	wait_seq(s, 1);
	struct ipkvm_h264_au au;
	assert_true(ipkvm_h264_cursor_next(s, &slow, &au));
	ipkvm_buf_unref(au.msg);
	for (int i = 1; i <= IPKVM_H264_LAG + 5; i++) {
		ipkvm_h264_stream_offer(s, picture(i));
		wait_seq(s, (uint64_t)i + 1);
		while (ipkvm_h264_cursor_next(s, &fast, &au))
			ipkvm_buf_unref(au.msg); /* the fast one keeps up */
	}
	uint64_t newest = ipkvm_h264_stream_newest(s, NULL);
	assert_false(ipkvm_h264_cursor_next(s, &slow, &au)); /* dropped, keyframe asked */
	assert_int_equal(slow.drops, 1);
	assert_int_equal(slow.key_min, newest + 1);
	ipkvm_h264_stream_offer(s, picture(100));
	wait_seq(s, newest + 1);
	assert_true(ipkvm_h264_cursor_next(s, &slow, &au));
	assert_true(au.key);
	assert_int_equal(au.seq, newest + 1);
	ipkvm_buf_unref(au.msg);
	assert_true(ipkvm_h264_cursor_next(s, &fast, &au)); /* the keyframe, in its order */
	assert_int_equal(au.seq, newest + 1);
	ipkvm_buf_unref(au.msg);
	assert_int_equal(fast.drops, 0);
	ipkvm_h264_stream_destroy(s);
}

/* The encoder paces itself: frames offered faster than max_fps are merged (newest wins),
 * never queued; settings apply live. */
static void test_pacing_and_live_settings(void **state)
{
	(void)state;
	struct ipkvm_h264_stream *s = make(10); /* one unit per 75..100 ms at most */
	ipkvm_h264_stream_watch(s, 1);
	struct ipkvm_h264_cursor c = {0};
	ipkvm_h264_cursor_reset(s, &c);
	ipkvm_h264_stream_offer(s, picture(0));
	wait_seq(s, 1);
	int64_t t0 = mono_us();
	for (int i = 1; i <= 20; i++) { /* 20 changes in ~100 ms */
		ipkvm_h264_stream_offer(s, picture(i));
		usleep(5000);
	}
	usleep(200000);
	uint64_t n = ipkvm_h264_stream_newest(s, NULL);
	double secs = (double)(mono_us() - t0) / 1e6;
	assert_true(n >= 2 && (double)(n - 1) <= secs * 10 / 0.75 + 1); /* paced, merged */
	assert_int_equal(ipkvm_h264_stream_set(s, 500, 30, 60), 0);
	assert_int_equal(ipkvm_h264_stream_set(s, 5, 30, 60), -EINVAL);
	struct ipkvm_h264_stats st;
	ipkvm_h264_stream_stats(s, &st);
	assert_int_equal(st.bitrate_kbps, 500);
	assert_int_equal(st.max_fps, 30);
	assert_int_equal(st.gop, 60);
	assert_string_equal(st.backend, "openh264");
	assert_int_equal(st.watchers, 1);
	assert_true(st.frames == n);
	ipkvm_h264_stream_destroy(s);
}

static void test_keepalive_message(void **state)
{
	(void)state;
	struct ipkvm_buf *k = ipkvm_h264_keepalive();
	assert_int_equal(k->len, IPKVM_H264_HEADER);
	assert_int_equal(k->data[0], 1);
	assert_int_equal(k->data[1], IPKVM_H264_FLAG_ALIVE);
	ipkvm_buf_unref(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_and_keyframe_on_join),
	    cmocka_unit_test(test_annexb_offset_for_other_carriers),
	    cmocka_unit_test(test_laggard_skips_to_a_fresh_keyframe),
	    cmocka_unit_test(test_pacing_and_live_settings),
	    cmocka_unit_test(test_keepalive_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
