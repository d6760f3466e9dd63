/*
 * Unit tests for video/source_pattern: config validation (exact error texts) and defaults,
 * the lifecycle (next() before start / after stop is -EAGAIN, stop/start and close/open
 * cycles, destroy from any state without leaks), frame size and format for every format and
 * scene, exact colours of the testcard bars per format, seq increasing, "static" frames
 * byte-identical, "desktop" frames differing in under 2 % of bytes, "testcard" frames
 * differing, timerfd pacing (10 frames in ~100 ms at 100 fps, waiting with poll on the fd),
 * and overruns skipping ahead instead of delivering stale frames.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "video/draw.h"
#include "video/source_pattern.h"

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct ipkvm_source *make(unsigned w, unsigned h, unsigned fps, enum ipkvm_pixfmt fmt,
				 const char *scene)
{
	struct ipkvm_pattern_config c = {
	    .width = w, .height = h, .fps = fps, .format = fmt, .scene = scene};
	char err[160];
	struct ipkvm_source *s = ipkvm_source_pattern_create(&c, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(err, "");
	return s;
}

static void open_start(struct ipkvm_source *s)
{
	assert_int_equal(s->ops->open(s), 0);
	assert_true(s->ops->fd(s) >= 0);
	assert_int_equal(s->ops->start(s), 0);
}

/* Waits (poll on the fd, like the capture thread) for the next frame. */
static struct ipkvm_frame *get(struct ipkvm_source *s)
{
	for (int tries = 0; tries < 100; tries++) {
		struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
		assert_int_equal(poll(&p, 1, 2000), 1);
		assert_true(p.revents & POLLIN);
		struct ipkvm_frame *f = (struct ipkvm_frame *)1;
		int r = s->ops->next(s, &f);
		if (r == 0) {
			assert_non_null(f);
			/* what the capture thread does: keep the picture, hand the frame back */
			struct ipkvm_frame *k = ipkvm_frame_keep(f);
			assert_non_null(k);
			assert_false(k->borrowed);
			ipkvm_source_done(s, f);
			return k;
		}
		assert_int_equal(r, -EAGAIN);
		assert_null(f);
	}
	fail_msg("no frame");
	return NULL;
}

static void expect_err(struct ipkvm_pattern_config c, const char *want)
{
	char err[160] = "untouched";
	assert_null(ipkvm_source_pattern_create(&c, err, sizeof(err)));
	assert_string_equal(err, want);
}

static void test_config(void **state)
{
	struct ipkvm_pattern_config ok = {.width = 640, .height = 480, .fps = 30};
	struct ipkvm_pattern_config c = ok;
	c.width = 641;
	expect_err(c, "pattern width 641 must be even");
	c.width = 14;
	expect_err(c, "pattern width 14 is out of range (16..8192)");
	c.width = 8194;
	expect_err(c, "pattern width 8194 is out of range (16..8192)");
	c = ok;
	c.height = 15;
	expect_err(c, "pattern height 15 is out of range (16..8192)");
	c.height = 8193;
	expect_err(c, "pattern height 8193 is out of range (16..8192)");
	c = ok;
	c.fps = 241;
	expect_err(c, "pattern fps 241 is out of range (1..240)");
	c = ok;
	c.format = IPKVM_FMT_MJPEG;
	expect_err(c, "pattern format 4 is not supported (yuyv, uyvy, rgb24 or bgr24)");
	c = ok;
	c.scene = "mandelbrot";
	expect_err(c, "unknown pattern scene \"mandelbrot\" (testcard, desktop or static)");
	/* err may be NULL or tiny. */
	assert_null(ipkvm_source_pattern_create(&c, NULL, 0));
	char small[8];
	assert_null(ipkvm_source_pattern_create(&c, small, sizeof(small)));
	assert_string_equal(small, "unknown");

	/* The extremes are accepted. */
	c = (struct ipkvm_pattern_config){.width = 16, .height = 16, .fps = 1, .scene = "static"};
	struct ipkvm_source *s = ipkvm_source_pattern_create(&c, NULL, 0);
	assert_non_null(s);
	s->ops->destroy(s);
	c = (struct ipkvm_pattern_config){.width = 8192, .height = 8192, .fps = 240};
	s = ipkvm_source_pattern_create(&c, NULL, 0);
	assert_non_null(s);
	s->ops->destroy(s);
}

static void test_defaults_signal(void **state)
{
	struct ipkvm_pattern_config c = {0};
	char err[160];
	struct ipkvm_source *s = ipkvm_source_pattern_create(&c, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s->ops->name, "pattern");
	assert_null(s->ops->event);
	struct ipkvm_signal_info si;
	memset(&si, 0xff, sizeof(si));
	s->ops->signal(s, &si);
	assert_int_equal(si.state, IPKVM_SIGNAL_OK);
	assert_int_equal(si.capture, IPKVM_CAPTURE_PATTERN);
	assert_string_equal(ipkvm_capture_name(si.capture), "pattern");
	assert_int_equal(si.width, 1920);
	assert_int_equal(si.height, 1080);
	assert_true(si.fps == 60.0);
	assert_string_equal(si.reason, "synthetic pattern \"testcard\" 1920x1080@60 yuyv");
	s->ops->destroy(s);

	s = ipkvm_source_pattern_create(NULL, err, sizeof(err)); /* NULL config = defaults */
	assert_non_null(s);
	s->ops->destroy(s);

	s = make(320, 240, 25, IPKVM_FMT_BGR24, "desktop");
	s->ops->signal(s, &si);
	assert_int_equal(si.width, 320);
	assert_true(si.fps == 25.0);
	assert_string_equal(si.reason, "synthetic pattern \"desktop\" 320x240@25 bgr24");
	s->ops->destroy(s);
}

static void test_lifecycle(void **state)
{
	struct ipkvm_source *s = make(64, 32, 200, IPKVM_FMT_YUYV, "testcard");
	struct ipkvm_frame *f = (struct ipkvm_frame *)1;
	assert_int_equal(s->ops->fd(s), -1);
	assert_int_equal(s->ops->next(s, &f), -EAGAIN); /* not open */
	assert_null(f);
	assert_int_equal(s->ops->start(s), -EBADF);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->open(s), 0);		/* idempotent */
	assert_int_equal(s->ops->next(s, &f), -EAGAIN); /* not started */
	assert_int_equal(s->ops->start(s), 0);
	f = get(s);
	uint64_t seq = f->seq;
	assert_true(seq >= 1);
	ipkvm_frame_unref(f);
	s->ops->stop(s);
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
	assert_int_equal(poll(&p, 1, 30), 0); /* a stopped source is never readable */
	assert_int_equal(s->ops->start(s), 0);
	f = get(s);
	assert_true(f->seq > seq); /* seq continues across stop/start */
	seq = f->seq;
	ipkvm_frame_unref(f);
	s->ops->stop(s);
	s->ops->close(s);
	assert_int_equal(s->ops->fd(s), -1);
	s->ops->close(s); /* twice is harmless */
	open_start(s);
	f = get(s);
	assert_true(f->seq > seq);
	ipkvm_frame_unref(f);
	s->ops->destroy(s); /* while started: cleans up everything */
	s = make(64, 32, 200, IPKVM_FMT_YUYV, "desktop");
	s->ops->destroy(s); /* never opened */

	/* Nothing before the first period (1 s at 1 fps). */
	s = make(64, 32, 1, IPKVM_FMT_YUYV, "static");
	open_start(s);
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	assert_null(f);
	s->ops->destroy(s);
}

static void test_formats_scenes(void **state)
{
	const char *scenes[] = {"testcard", "desktop", "static"};
	enum ipkvm_pixfmt fmts[] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY, IPKVM_FMT_RGB24,
				    IPKVM_FMT_BGR24};
	for (int i = 0; i < 3; i++) {
		for (int k = 0; k < 4; k++) {
			struct ipkvm_source *s = make(96, 64, 200, fmts[k], scenes[i]);
			open_start(s);
			uint64_t last = 0;
			for (int n = 0; n < 3; n++) {
				int64_t before = now_us();
				struct ipkvm_frame *f = get(s);
				assert_int_equal(f->format, fmts[k]);
				assert_int_equal(f->width, 96);
				assert_int_equal(f->height, 64);
				assert_int_equal(f->stride, 96 * ipkvm_pixfmt_bpp(fmts[k]));
				assert_int_equal(f->size, f->stride * 64);
				assert_true(f->seq > last);
				assert_true(f->ts_us >= before && f->ts_us <= now_us());
				last = f->seq;
				ipkvm_frame_unref(f);
			}
			s->ops->destroy(s);
		}
	}
	/* Tiny frames in every scene. */
	for (int i = 0; i < 3; i++) {
		struct ipkvm_source *s = make(16, 16, 200, IPKVM_FMT_YUYV, scenes[i]);
		open_start(s);
		ipkvm_frame_unref(get(s));
		s->ops->destroy(s);
	}
}

/* The second bar (75 % yellow) in the testcard, pixel (x, 300) of a 700x600 frame. */
static void test_testcard_colours(void **state)
{
	enum ipkvm_pixfmt fmts[] = {IPKVM_FMT_RGB24, IPKVM_FMT_BGR24, IPKVM_FMT_YUYV,
				    IPKVM_FMT_UYVY};
	static const uint8_t want[4][4] = {
	    {191, 191, 0}, {0, 191, 191}, {161, 44, 161, 141}, {44, 161, 141, 161}};
	for (int k = 0; k < 4; k++) {
		struct ipkvm_source *s = make(700, 600, 200, fmts[k], "testcard");
		open_start(s);
		struct ipkvm_frame *f = get(s);
		const uint8_t *p = f->data + 300 * f->stride + 150 * ipkvm_pixfmt_bpp(fmts[k]);
		assert_memory_equal(p, want[k], ipkvm_pixfmt_bpp(fmts[k]) == 3 ? 3 : 4);
		ipkvm_frame_unref(f);
		s->ops->destroy(s);
	}
}

static size_t diff_bytes(const struct ipkvm_frame *a, const struct ipkvm_frame *b)
{
	size_t n = 0;
	for (size_t i = 0; i < a->size; i++)
		n += a->data[i] != b->data[i];
	return n;
}

static void test_static_identical(void **state)
{
	struct ipkvm_source *s = make(320, 240, 200, IPKVM_FMT_YUYV, "static");
	open_start(s);
	/* A still picture is lent (a view of the source's own picture), not rendered anew:
	 * comparing it with a kept copy finds it the same and copies nothing. */
	struct ipkvm_frame *kept = get(s), *v = NULL;
	for (int i = 0; i < 3; i++) {
		struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
		assert_int_equal(poll(&p, 1, 2000), 1);
		if (s->ops->next(s, &v) != 0)
			continue;
		assert_true(v->borrowed);
		assert_true(v->seq > kept->seq);
		uint64_t copies = ipkvm_frame_copies();
		struct ipkvm_frame *k = (struct ipkvm_frame *)1;
		assert_int_equal(ipkvm_frame_compare(v, kept, &k), 0);
		assert_null(k);
		assert_int_equal(ipkvm_frame_copies(), copies);
		ipkvm_source_done(s, v);
	}
	ipkvm_frame_unref(kept);
	struct ipkvm_frame *a = get(s);
	for (int i = 0; i < 5; i++) {
		struct ipkvm_frame *b = get(s);
		assert_true(b->seq > a->seq);
		assert_memory_equal(a->data, b->data, a->size);
		ipkvm_frame_unref(a);
		a = b;
	}
	ipkvm_frame_unref(a);
	s->ops->destroy(s);
}

static void test_desktop_small_changes(void **state)
{
	struct ipkvm_source *s = make(1280, 720, 60, IPKVM_FMT_YUYV, "desktop");
	open_start(s);
	struct ipkvm_frame *a = get(s);
	size_t total = 0;
	for (int i = 0; i < 8; i++) {
		struct ipkvm_frame *b = get(s);
		size_t d = diff_bytes(a, b);
		assert_true(d > 0);	       /* the pointer and seq move every frame */
		assert_true(d * 50 < a->size); /* < 2 % */
		total += d;
		ipkvm_frame_unref(a);
		a = b;
	}
	assert_true(total > 0);
	ipkvm_frame_unref(a);
	s->ops->destroy(s);
}

static void test_testcard_changes(void **state)
{
	struct ipkvm_source *s = make(320, 240, 100, IPKVM_FMT_RGB24, "testcard");
	open_start(s);
	struct ipkvm_frame *a = get(s);
	for (int i = 0; i < 3; i++) {
		struct ipkvm_frame *b = get(s);
		assert_true(diff_bytes(a, b) > 0);
		ipkvm_frame_unref(a);
		a = b;
	}
	ipkvm_frame_unref(a);
	s->ops->destroy(s);
}

static void test_pacing(void **state)
{
	struct ipkvm_source *s = make(160, 120, 100, IPKVM_FMT_YUYV, "testcard");
	open_start(s);
	struct ipkvm_frame *f = get(s);
	uint64_t first = f->seq;
	int64_t t0 = now_us();
	ipkvm_frame_unref(f);
	int frames = 0;
	uint64_t seq = first;
	while (seq < first + 10) {
		f = get(s);
		seq = f->seq;
		frames++;
		ipkvm_frame_unref(f);
	}
	int64_t ms = (now_us() - t0) / 1000;
	/* Never faster than the rate: 10 periods of 10 ms take 90 ms at least. On a loaded
	 * machine frames come late; then seq skips ahead (it counts the periods elapsed, so a
	 * late frame is never followed by a second one for the same period) and fewer frames
	 * are delivered: what must hold is seq == periods elapsed. */
	assert_true(ms >= 85);
	assert_in_range(frames, 1, 10);
	assert_in_range((int64_t)(seq - first), ms / 10 - 1, ms / 10 + 1);
	s->ops->destroy(s);
}

static void test_overrun_skips(void **state)
{
	struct ipkvm_source *s = make(160, 120, 100, IPKVM_FMT_YUYV, "desktop");
	open_start(s);
	struct ipkvm_frame *f = get(s);
	uint64_t seq = f->seq;
	ipkvm_frame_unref(f);
	struct timespec nap = {0, 105 * 1000 * 1000};
	nanosleep(&nap, NULL); /* ~10 periods without reading */
	f = NULL;
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_true(f->seq >= seq + 10); /* one frame, skipping the missed ones */
	assert_true(f->seq <= seq + 30);
	ipkvm_source_done(s, f);
	/* Nothing stale left behind. */
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	s->ops->destroy(s);
}

static void test_seq_drawn(void **state)
{
	/* Top-left of a testcard frame holds the seq label: white text on black. */
	struct ipkvm_source *s = make(320, 240, 200, IPKVM_FMT_RGB24, "testcard");
	open_start(s);
	struct ipkvm_frame *f = get(s);
	int white = 0, black = 0;
	for (unsigned y = 0; y < IPKVM_FONT_H; y++)
		for (unsigned x = 0; x < 15 * IPKVM_FONT_W; x++) {
			const uint8_t *p = f->data + y * f->stride + x * 3;
			white += p[0] == 255 && p[1] == 255 && p[2] == 255;
			black += p[0] == 0 && p[1] == 0 && p[2] == 0;
		}
	assert_true(white > 20);
	assert_true(black > 1000);
	assert_int_equal(white + black, 16 * 15 * 8);
	ipkvm_frame_unref(f);
	s->ops->destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_defaults_signal),
	    cmocka_unit_test(test_lifecycle),
	    cmocka_unit_test(test_formats_scenes),
	    cmocka_unit_test(test_testcard_colours),
	    cmocka_unit_test(test_static_identical),
	    cmocka_unit_test(test_desktop_small_changes),
	    cmocka_unit_test(test_testcard_changes),
	    cmocka_unit_test(test_pacing),
	    cmocka_unit_test(test_overrun_skips),
	    cmocka_unit_test(test_seq_drawn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
