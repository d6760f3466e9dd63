/*
 * test_source_pattern: the synthetic source: config checks, frame geometry and formats,
 * sequence numbers, how much consecutive frames of each scene differ, and timerfd pacing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "video/source_pattern.h"

static struct ipkvm_source *make(unsigned w, unsigned h, unsigned fps, enum ipkvm_pixfmt fmt,
				 const char *scene)
{
	struct ipkvm_pattern_config c = {
	    .width = w, .height = h, .fps = fps, .format = fmt, .scene = scene};
	char err[128] = "";
	struct ipkvm_source *s = ipkvm_source_pattern_create(&c, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->start(s), 0);
	return s;
}

static void done(struct ipkvm_source *s)
{
	s->ops->stop(s);
	s->ops->close(s);
	s->ops->destroy(s);
}

/* Waits for and takes the next frame. */
static struct ipkvm_frame *next(struct ipkvm_source *s)
{
	for (int i = 0; i < 100; i++) {
		struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
		assert_true(poll(&p, 1, 1000) >= 0);
		struct ipkvm_frame *f = NULL;
		int r = s->ops->next(s, &f);
		if (r == 0)
			return f;
		assert_int_equal(r, -EAGAIN);
	}
	fail_msg("no frame");
	return NULL;
}

static void test_config_checks(void **state)
{
	char err[128];
	struct ipkvm_pattern_config c = {.width = 641, .height = 480, .fps = 30};
	assert_null(ipkvm_source_pattern_create(&c, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	c.width = 640;
	c.fps = 1000;
	assert_null(ipkvm_source_pattern_create(&c, err, sizeof(err)));
	c.fps = 30;
	c.scene = "beach";
	assert_null(ipkvm_source_pattern_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "beach"));
	c.scene = "static";
	c.format = IPKVM_FMT_MJPEG;
	assert_null(ipkvm_source_pattern_create(&c, err, sizeof(err)));
}

static void test_formats_and_seq(void **state)
{
	enum ipkvm_pixfmt fmts[] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY, IPKVM_FMT_RGB24,
				    IPKVM_FMT_BGR24};
	for (size_t i = 0; i < 4; i++) {
		struct ipkvm_source *s = make(320, 240, 100, fmts[i], "testcard");
		struct ipkvm_frame *a = next(s), *b = next(s);
		assert_int_equal(a->format, fmts[i]);
		assert_int_equal(a->width, 320);
		assert_int_equal(a->height, 240);
		assert_int_equal(a->stride, 320 * ipkvm_pixfmt_bpp(fmts[i]));
		assert_true(b->seq > a->seq);
		assert_true(b->ts_us > a->ts_us);
		assert_memory_not_equal(a->data, b->data, a->size); /* the clock moves */
		struct ipkvm_signal_info info;
		s->ops->signal(s, &info);
		assert_int_equal(info.state, IPKVM_SIGNAL_OK);
		assert_int_equal(info.width, 320);
		ipkvm_frame_unref(a);
		ipkvm_frame_unref(b);
		done(s);
	}
}

static size_t bytes_differing(const struct ipkvm_frame *a, const struct ipkvm_frame *b)
{
	size_t n = 0;
	for (size_t i = 0; i < a->size; i++)
		n += a->data[i] != b->data[i];
	return n;
}

static void test_scene_change_rates(void **state)
{
	struct ipkvm_source *s = make(640, 360, 100, IPKVM_FMT_YUYV, "static");
	struct ipkvm_frame *a = next(s), *b = next(s);
	assert_int_equal(bytes_differing(a, b), 0);
	ipkvm_frame_unref(a);
	ipkvm_frame_unref(b);
	done(s);

	s = make(1280, 720, 100, IPKVM_FMT_YUYV, "desktop");
	size_t changed_frames = 0;
	a = next(s);
	for (int i = 0; i < 20; i++) {
		b = next(s);
		size_t d = bytes_differing(a, b);
		assert_true(d < a->size / 50); /* under 2 % of the picture changes */
		changed_frames += d > 0;
		ipkvm_frame_unref(a);
		a = b;
	}
	assert_true(changed_frames >= 10); /* but it does keep changing (pointer, typing) */
	ipkvm_frame_unref(a);
	done(s);
}

static void test_pacing(void **state)
{
	struct ipkvm_source *s = make(160, 120, 100, IPKVM_FMT_RGB24, "testcard");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t first = 0, last = 0;
	for (int i = 0; i < 10; i++) {
		struct ipkvm_frame *f = next(s);
		if (i == 0)
			first = f->seq;
		last = f->seq;
		ipkvm_frame_unref(f);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ms >= 80 && ms < 400); /* ten frames at 100 fps: about 100 ms */
	assert_true(last - first >= 9);
	done(s);
}

int main(void)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_checks),
	    cmocka_unit_test(test_formats_and_seq),
	    cmocka_unit_test(test_scene_change_rates),
	    cmocka_unit_test(test_pacing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
