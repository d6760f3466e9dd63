/*
 * Unit tests for hid/mouse: exact absolute and relative report bytes, button masking, clamping
 * of single wheel steps, greedy splitting of large relative moves and wheels (sums equal the
 * input exactly, including extreme ints), the video-element-to-target mapping (corners,
 * centre, letterbox and pillarbox bars clamp to the edge, scaled-up video, bad input) and the
 * descriptor arrays.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "hid/mouse.h"

#define R5(a, b, c, d, e) ((const uint8_t[5]){(a), (b), (c), (d), (e)})

static void test_abs_report(void **state)
{
	uint8_t out[7];
	assert_int_equal(ipkvm_hid_abs_report(IPKVM_HID_BTN_LEFT, 0x1234, 0x7FFF, -1, 1, out), 7);
	assert_memory_equal(out, ((const uint8_t[7]){0x01, 0x34, 0x12, 0xFF, 0x7F, 0xFF, 0x01}), 7);
	assert_int_equal(ipkvm_hid_abs_report(0, 0, 0, 0, 0, out), 7);
	assert_memory_equal(out, ((const uint8_t[7]){0}), 7);
	/* All five buttons; bits 5..7 masked; x/y past 32767 and wheel past 127 clamped. */
	ipkvm_hid_abs_report(0xFF, 40000, 65535, 200, -200, out);
	assert_memory_equal(out, ((const uint8_t[7]){0x1F, 0xFF, 0x7F, 0xFF, 0x7F, 0x7F, 0x81}), 7);
	ipkvm_hid_abs_report(IPKVM_HID_BTN_RIGHT | IPKVM_HID_BTN_MIDDLE | IPKVM_HID_BTN_BACK |
				 IPKVM_HID_BTN_FORWARD,
			     16384, 1, 0, 0, out);
	assert_memory_equal(out, ((const uint8_t[7]){0x1E, 0x00, 0x40, 0x01, 0x00, 0, 0}), 7);
}

static void test_abs_wheel_split(void **state)
{
	uint8_t out[4][7];
	memset(out, 0xAA, sizeof(out));
	assert_int_equal(ipkvm_hid_abs_reports(0x01, 0x0102, 0x0304, 300, -5, out, 4), 3);
	assert_memory_equal(out[0], ((const uint8_t[7]){0x01, 0x02, 0x01, 0x04, 0x03, 127, 0xFB}),
			    7);
	assert_memory_equal(out[1], ((const uint8_t[7]){0x01, 0x02, 0x01, 0x04, 0x03, 127, 0}), 7);
	assert_memory_equal(out[2], ((const uint8_t[7]){0x01, 0x02, 0x01, 0x04, 0x03, 46, 0}), 7);
	assert_int_equal(out[3][0], 0xAA); /* untouched */
	/* No wheel: one plain position report. */
	assert_int_equal(ipkvm_hid_abs_reports(0, 10, 20, 0, 0, out, 4), 1);
	assert_memory_equal(out[0], ((const uint8_t[7]){0, 10, 0, 20, 0, 0, 0}), 7);
	/* Not enough room: nothing written. */
	memset(out, 0xAA, sizeof(out));
	assert_int_equal(ipkvm_hid_abs_reports(0, 10, 20, -600, 0, out, 4), 0);
	assert_int_equal(out[0][0], 0xAA);
}

static void test_rel_split_positive(void **state)
{
	uint8_t out[8][5];
	memset(out, 0xAA, sizeof(out));
	assert_int_equal(ipkvm_hid_rel_reports(300, 0, 0, 0, 0, out, 8), 3);
	assert_memory_equal(out[0], R5(0, 127, 0, 0, 0), 5);
	assert_memory_equal(out[1], R5(0, 127, 0, 0, 0), 5);
	assert_memory_equal(out[2], R5(0, 46, 0, 0, 0), 5);
	assert_int_equal(out[3][0], 0xAA);
}

static void test_rel_split_negative(void **state)
{
	uint8_t out[8][5];
	assert_int_equal(ipkvm_hid_rel_reports(-300, 0, 0, 0, IPKVM_HID_BTN_LEFT, out, 8), 3);
	assert_memory_equal(out[0], R5(0x01, 0x81, 0, 0, 0), 5); /* -127 */
	assert_memory_equal(out[1], R5(0x01, 0x81, 0, 0, 0), 5);
	assert_memory_equal(out[2], R5(0x01, 0xD2, 0, 0, 0), 5); /* -46 */
}

static void test_rel_split_mixed(void **state)
{
	uint8_t out[8][5];
	/* dx=200, dy=-400: four reports, both axes greedy, buttons on each. */
	assert_int_equal(ipkvm_hid_rel_reports(200, -400, 0, 0, IPKVM_HID_BTN_RIGHT, out, 8), 4);
	assert_memory_equal(out[0], R5(0x02, 0x7F, 0x81, 0, 0), 5); /* 127, -127 */
	assert_memory_equal(out[1], R5(0x02, 0x49, 0x81, 0, 0), 5); /* 73, -127 */
	assert_memory_equal(out[2], R5(0x02, 0x00, 0x81, 0, 0), 5); /* 0, -127 */
	assert_memory_equal(out[3], R5(0x02, 0x00, 0xED, 0, 0), 5); /* 0, -19 */
	/* Small moves: one report, exact values. */
	assert_int_equal(ipkvm_hid_rel_reports(5, -3, 0, 0, 0, out, 8), 1);
	assert_memory_equal(out[0], R5(0, 0x05, 0xFD, 0, 0), 5);
	/* Boundaries: exactly 127 / -127 fit in one; 128 needs two (127 + 1). */
	assert_int_equal(ipkvm_hid_rel_reports(127, -127, 0, 0, 0, out, 8), 1);
	assert_memory_equal(out[0], R5(0, 0x7F, 0x81, 0, 0), 5);
	assert_int_equal(ipkvm_hid_rel_reports(128, -128, 0, 0, 0, out, 8), 2);
	assert_memory_equal(out[0], R5(0, 0x7F, 0x81, 0, 0), 5);
	assert_memory_equal(out[1], R5(0, 0x01, 0xFF, 0, 0), 5);
	/* No movement: one report carrying the buttons (a click); bits 5..7 masked. */
	assert_int_equal(ipkvm_hid_rel_reports(0, 0, 0, 0, 0xFF, out, 8), 1);
	assert_memory_equal(out[0], R5(0x1F, 0, 0, 0, 0), 5);
}

static void test_rel_wheel(void **state)
{
	uint8_t out[8][5];
	assert_int_equal(ipkvm_hid_rel_reports(0, 0, -5, 0, 0, out, 8), 1);
	assert_memory_equal(out[0], R5(0, 0, 0, 0xFB, 0), 5);
	assert_int_equal(ipkvm_hid_rel_reports(0, 0, 260, 0, 0, out, 8), 3);
	assert_memory_equal(out[0], R5(0, 0, 0, 127, 0), 5);
	assert_memory_equal(out[1], R5(0, 0, 0, 127, 0), 5);
	assert_memory_equal(out[2], R5(0, 0, 0, 6, 0), 5);
	/* Pan with a small move. */
	assert_int_equal(ipkvm_hid_rel_reports(10, 0, 0, -130, 0, out, 8), 2);
	assert_memory_equal(out[0], R5(0, 10, 0, 0, 0x81), 5);
	assert_memory_equal(out[1], R5(0, 0, 0, 0, 0xFD), 5);
}

static void test_rel_room(void **state)
{
	uint8_t out[3][5];
	memset(out, 0xAA, sizeof(out));
	/* 400 needs 4 reports: with room for 3 nothing is written (never a clipped move). */
	assert_int_equal(ipkvm_hid_rel_reports_needed(400, 0, 0, 0), 4);
	assert_int_equal(ipkvm_hid_rel_reports(400, 0, 0, 0, 0, out, 3), 0);
	assert_int_equal(out[0][0], 0xAA);
	assert_int_equal(ipkvm_hid_rel_reports(381, 0, 0, 0, 0, out, 3), 3);
	assert_memory_equal(out[2], R5(0, 127, 0, 0, 0), 5);
	assert_int_equal(ipkvm_hid_rel_reports(0, 0, 0, 0, 0, out, 0), 0);
	/* Extremes do not overflow. */
	assert_int_equal(ipkvm_hid_rel_reports_needed(INT_MIN, 0, 0, 0), 16909321);
	assert_int_equal(ipkvm_hid_rel_reports_needed(0, INT_MAX, 0, 0), 16909321);
	assert_int_equal(ipkvm_hid_rel_reports_needed(0, 0, 0, 0), 1);
}

/* The sum of every axis over the reports equals the input, for many mixed inputs. */
static void test_rel_sums(void **state)
{
	static uint8_t out[64][5];
	static const int vals[] = {0,	1,   -1,   126,	 127,	128, -128,
				   254, 255, -381, 1000, -2500, 4321};
	size_t nv = sizeof(vals) / sizeof(vals[0]);
	for (size_t a = 0; a < nv; a++) {
		for (size_t b = 0; b < nv; b++) {
			int dx = vals[a], dy = vals[b], wh = vals[(a + b) % nv],
			    pan = -vals[(a * 3 + b) % nv];
			size_t n = ipkvm_hid_rel_reports(dx, dy, wh, pan, 0x03, out, 64);
			assert_int_equal(n, ipkvm_hid_rel_reports_needed(dx, dy, wh, pan));
			long s[4] = {0, 0, 0, 0};
			for (size_t i = 0; i < n; i++) {
				assert_int_equal(out[i][0], 0x03);
				for (int k = 0; k < 4; k++) {
					int8_t v = (int8_t)out[i][1 + k];
					assert_int_not_equal(v, -128);
					s[k] += v;
				}
			}
			assert_int_equal(s[0], dx);
			assert_int_equal(s[1], dy);
			assert_int_equal(s[2], wh);
			assert_int_equal(s[3], pan);
		}
	}
}

static void expect_map(double px, double py, double ew, double eh, int vw, int vh, int wx, int wy)
{
	uint16_t x = 0xFFFF, y = 0xFFFF;
	assert_int_equal(ipkvm_hid_abs_from_video(px, py, ew, eh, vw, vh, &x, &y), 0);
	assert_int_equal(x, wx);
	assert_int_equal(y, wy);
}

static void test_abs_corners(void **state)
{
	/* Element the same shape as the video: no bars. */
	expect_map(0, 0, 1920, 1080, 1920, 1080, 0, 0);
	expect_map(1919, 1079, 1920, 1080, 1920, 1080, 32767, 32767);
	expect_map(1919, 0, 1920, 1080, 1920, 1080, 32767, 0);
	expect_map(0, 1079, 1920, 1080, 1920, 1080, 0, 32767);
	expect_map(0, 0, 1000, 1000, 800, 800, 0, 0);
	expect_map(999, 999, 1000, 1000, 800, 800, 32767, 32767);
	/* Scaled up (video smaller than element), same aspect. */
	expect_map(3839, 2159, 3840, 2160, 1280, 720, 32767, 32767);
	/* Outside the element clamps too. */
	expect_map(-50, 5000, 1920, 1080, 1920, 1080, 0, 32767);
}

static void test_abs_letterbox(void **state)
{
	uint16_t x, y;
	/* 1000x1000 element, 1920x1080 video: picture 1000x562.5 from y = 218.75. */
	expect_map(500, 0, 1000, 1000, 1920, 1080, 16400, 0);	       /* top bar */
	expect_map(500, 100, 1000, 1000, 1920, 1080, 16400, 0);	       /* top bar */
	expect_map(500, 218, 1000, 1000, 1920, 1080, 16400, 0);	       /* just above the picture */
	expect_map(0, 218.75, 1000, 1000, 1920, 1080, 0, 0);	       /* picture's first pixel */
	expect_map(999, 780.25, 1000, 1000, 1920, 1080, 32767, 32767); /* its last pixel */
	expect_map(999, 900, 1000, 1000, 1920, 1080, 32767, 32767);    /* bottom bar */
	expect_map(999, 999, 1000, 1000, 1920, 1080, 32767, 32767);
	/* Centre of the element is the centre of the picture. */
	assert_int_equal(ipkvm_hid_abs_from_video(499.5, 499.5, 1000, 1000, 1920, 1080, &x, &y), 0);
	assert_true(x >= 16383 && x <= 16385);
	assert_true(y >= 16383 && y <= 16385);
	/* Integer centre (500, 500): still within a pixel's worth. */
	assert_int_equal(ipkvm_hid_abs_from_video(500, 500, 1000, 1000, 1920, 1080, &x, &y), 0);
	assert_int_equal(x, 16400);
	assert_int_equal(y, 16413); /* (500 - 218.75) / 561.5 * 32767 */
}

static void test_abs_pillarbox(void **state)
{
	/* 1000x500 element, 640x480 video: picture 666.67 wide from x = 166.67. */
	expect_map(100, 249.5, 1000, 500, 640, 480, 0, 16384);
	expect_map(900, 249.5, 1000, 500, 640, 480, 32767, 16384);
	expect_map(900, 0, 1000, 500, 640, 480, 32767, 0);
	expect_map(499.5, 499, 1000, 500, 640, 480, 16384, 32767);
}

static void test_abs_invalid(void **state)
{
	uint16_t x = 7, y = 7;
	assert_int_equal(ipkvm_hid_abs_from_video(0, 0, 0, 100, 640, 480, &x, &y), -EINVAL);
	assert_int_equal(ipkvm_hid_abs_from_video(0, 0, 100, -1, 640, 480, &x, &y), -EINVAL);
	assert_int_equal(ipkvm_hid_abs_from_video(0, 0, 100, 100, 0, 480, &x, &y), -EINVAL);
	assert_int_equal(ipkvm_hid_abs_from_video(0, 0, 100, 100, 640, -5, &x, &y), -EINVAL);
	assert_int_equal(ipkvm_hid_abs_from_video(NAN, 0, 100, 100, 640, 480, &x, &y), -EINVAL);
	assert_int_equal(ipkvm_hid_abs_from_video(0, INFINITY, 100, 100, 640, 480, &x, &y),
			 -EINVAL);
	assert_int_equal(ipkvm_hid_abs_from_video(0, 0, NAN, 100, 640, 480, &x, &y), -EINVAL);
	assert_int_equal(x, 7);
	assert_int_equal(y, 7);
	/* A one-pixel picture has one position. */
	expect_map(0.5, 0.5, 1, 1, 1, 1, 0, 0);
}

static void test_descriptors(void **state)
{
	static const uint8_t mouse_head[] = {0x05, 0x01, 0x09, 0x02, 0xA1, 0x01};
	assert_int_equal(ipkvm_hid_desc_abs_mouse_len, 70);
	assert_memory_equal(ipkvm_hid_desc_abs_mouse, mouse_head, sizeof(mouse_head));
	assert_int_equal(ipkvm_hid_desc_abs_mouse[68], 0xC0);
	assert_int_equal(ipkvm_hid_desc_abs_mouse[69], 0xC0);
	assert_int_equal(ipkvm_hid_desc_rel_mouse_len, 61);
	assert_memory_equal(ipkvm_hid_desc_rel_mouse, mouse_head, sizeof(mouse_head));
	assert_int_equal(ipkvm_hid_desc_rel_mouse[60], 0xC0);
	/* The absolute range 0..32767 is declared as Logical Maximum (0x7FFF). */
	assert_non_null(memmem(ipkvm_hid_desc_abs_mouse, ipkvm_hid_desc_abs_mouse_len,
			       (const uint8_t[]){0x26, 0xFF, 0x7F}, 3));
	/* Relative axes declared -127..127. */
	assert_non_null(memmem(ipkvm_hid_desc_rel_mouse, ipkvm_hid_desc_rel_mouse_len,
			       (const uint8_t[]){0x15, 0x81, 0x25, 0x7F}, 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_abs_report),	       cmocka_unit_test(test_abs_wheel_split),
	    cmocka_unit_test(test_rel_split_positive), cmocka_unit_test(test_rel_split_negative),
	    cmocka_unit_test(test_rel_split_mixed),    cmocka_unit_test(test_rel_wheel),
	    cmocka_unit_test(test_rel_room),	       cmocka_unit_test(test_rel_sums),
	    cmocka_unit_test(test_abs_corners),	       cmocka_unit_test(test_abs_letterbox),
	    cmocka_unit_test(test_abs_pillarbox),      cmocka_unit_test(test_abs_invalid),
	    cmocka_unit_test(test_descriptors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
