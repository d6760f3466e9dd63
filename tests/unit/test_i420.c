/*
 * test_i420: raw frames to I420 (video/i420.c), exact values: YUYV and UYVY luma copied and
 * chroma averaged over line pairs (rounded up), RGB and BGR flat colours giving exactly
 * ipkvm_rgb_to_yuv's values, a 2x2 block's chroma that of its mean colour, an odd last row
 * and column left out, MJPEG left alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "video/draw.h"
#include "video/frame.h"
#include "video/i420.h"

static void test_i420_from_yuyv_uyvy(void **state)
{
	(void)state;
	/* 4x2: pairs (Y0 U Y1 V) */
	static const uint8_t yuyv[16] = {10, 100, 11, 200, 12, 101, 13, 201,
					 20, 110, 21, 210, 22, 112, 23, 212};
	for (int uyvy = 0; uyvy < 2; uyvy++) {
		struct ipkvm_frame *f =
		    ipkvm_frame_new(uyvy ? IPKVM_FMT_UYVY : IPKVM_FMT_YUYV, 4, 2, 0);
		assert_non_null(f);
		for (int i = 0; i < 16; i += 2) {
			f->data[i] = yuyv[i + uyvy];
			f->data[i + 1] = yuyv[i + 1 - uyvy];
		}
		uint8_t y[8], u[2], v[2];
		ipkvm_i420_from_frame(f, y, 4, u, v, 2);
		static const uint8_t ey[8] = {10, 11, 12, 13, 20, 21, 22, 23};
		assert_memory_equal(y, ey, 8);
		assert_int_equal(u[0], 105); /* (100 + 110 + 1) / 2 */
		assert_int_equal(u[1], 107); /* (101 + 112 + 1) / 2 rounds up */
		assert_int_equal(v[0], 205);
		assert_int_equal(v[1], 207);
		ipkvm_frame_unref(f);
	}
}

static void test_i420_from_rgb(void **state)
{
	(void)state;
	struct ipkvm_rgb colours[] = {{0, 0, 0},   {255, 255, 255}, {255, 0, 0},   {0, 255, 0},
				      {0, 0, 255}, {12, 200, 77},   {250, 3, 128}, {16, 16, 24}};
	for (size_t c = 0; c < sizeof(colours) / sizeof(colours[0]); c++) {
		for (int bgr = 0; bgr < 2; bgr++) {
			struct ipkvm_frame *f =
			    ipkvm_frame_new(bgr ? IPKVM_FMT_BGR24 : IPKVM_FMT_RGB24, 6, 4, 0);
			assert_non_null(f);
			ipkvm_draw_rect(f, 0, 0, 6, 4, colours[c]);
			uint8_t y[24], u[6], v[6], ey, eu, ev;
			ipkvm_rgb_to_yuv(colours[c], &ey, &eu, &ev);
			ipkvm_i420_from_frame(f, y, 6, u, v, 3);
			for (int i = 0; i < 24; i++)
				assert_int_equal(y[i], ey);
			for (int i = 0; i < 6; i++) {
				assert_int_equal(u[i], eu);
				assert_int_equal(v[i], ev);
			}
			ipkvm_frame_unref(f);
		}
	}
	/* Chroma of a 2x2 block is that of its mean colour: black and white columns. */
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_RGB24, 2, 2, 0);
	assert_non_null(f);
	ipkvm_draw_rect(f, 0, 0, 1, 2, (struct ipkvm_rgb){0, 0, 0});
	ipkvm_draw_rect(f, 1, 0, 1, 2, (struct ipkvm_rgb){255, 0, 0});
	uint8_t y[4], u, v, ey, eu, ev;
	ipkvm_i420_from_frame(f, y, 2, &u, &v, 1);
	assert_int_equal(y[0], 16);
	assert_int_equal(y[1], 82);
	ipkvm_rgb_to_yuv((struct ipkvm_rgb){128, 0, 0}, &ey, &eu, &ev);
	assert_true(abs(u - eu) <= 1 && abs(v - ev) <= 1);
	ipkvm_frame_unref(f);
}

/* An odd last row and column are left out; MJPEG is not converted at all. */
static void test_i420_odd_sizes_and_mjpeg(void **state)
{
	(void)state;
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_RGB24, 3, 3, 0);
	assert_non_null(f);
	ipkvm_draw_rect(f, 0, 0, 3, 3, (struct ipkvm_rgb){255, 255, 255});
	uint8_t y[9], u[4], v[4];
	memset(y, 7, sizeof(y));
	memset(u, 7, sizeof(u));
	memset(v, 7, sizeof(v));
	ipkvm_i420_from_frame(f, y, 3, u, v, 2);
	assert_int_equal(y[0], 235); /* white */
	assert_int_equal(y[1], 235);
	assert_int_equal(y[3], 235);
	assert_int_equal(y[4], 235);
	assert_int_equal(y[2], 7); /* column 2 and row 2: untouched */
	assert_int_equal(y[6], 7);
	assert_int_equal(u[0], 128);
	assert_int_equal(u[1], 7);
	ipkvm_frame_unref(f);

	f = ipkvm_frame_new(IPKVM_FMT_MJPEG, 4, 2, 64);
	assert_non_null(f);
	memset(y, 7, sizeof(y));
	ipkvm_i420_from_frame(f, y, 4, u, v, 2);
	for (int i = 0; i < 8; i++)
		assert_int_equal(y[i], 7);
	ipkvm_frame_unref(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_i420_from_yuyv_uyvy),
	    cmocka_unit_test(test_i420_from_rgb),
	    cmocka_unit_test(test_i420_odd_sizes_and_mjpeg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
