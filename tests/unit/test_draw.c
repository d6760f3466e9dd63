/*
 * test_draw: the font table and drawing into raw frames, checked pixel by pixel against
 * the glyph bits and the BT.601 formulas of draw.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "video/draw.h"

static const struct ipkvm_rgb WHITE = {255, 255, 255}, BLACK = {0, 0, 0}, RED = {255, 0, 0};

static void test_colour_conversion(void **state)
{
	uint8_t y, u, v;
	ipkvm_rgb_to_yuv(WHITE, &y, &u, &v);
	assert_int_equal(y, 235);
	assert_int_equal(u, 128);
	assert_int_equal(v, 128);
	ipkvm_rgb_to_yuv(BLACK, &y, &u, &v);
	assert_int_equal(y, 16);
	assert_int_equal(u, 128);
	assert_int_equal(v, 128);
	ipkvm_rgb_to_yuv(RED, &y, &u, &v);
	assert_int_equal(y, 82);
	assert_int_equal(u, 90);
	assert_int_equal(v, 240);
}

static void test_font_table(void **state)
{
	/* Space is empty; every visible glyph has ink; unknown characters get the box. */
	const uint8_t *sp = ipkvm_font_glyph(' ');
	for (int r = 0; r < IPKVM_FONT_H; r++)
		assert_int_equal(sp[r], 0);
	for (unsigned c = 33; c <= 126; c++) {
		const uint8_t *g = ipkvm_font_glyph((unsigned char)c);
		int ink = 0;
		for (int r = 0; r < IPKVM_FONT_H; r++)
			ink |= g[r];
		assert_true(ink != 0);
	}
	assert_ptr_equal(ipkvm_font_glyph(200), ipkvm_font_glyph(1));
	assert_memory_not_equal(ipkvm_font_glyph('A'), ipkvm_font_glyph('B'), IPKVM_FONT_H);
}

/* Every pixel of a glyph drawn at (x0, y0) with scale s into an RGB24 frame is fg where the
 * glyph bit is set and the background colour elsewhere. */
static void check_glyph_rgb(const struct ipkvm_frame *f, unsigned char c, int x0, int y0, int s,
			    struct ipkvm_rgb fg, struct ipkvm_rgb bg)
{
	const uint8_t *g = ipkvm_font_glyph(c);
	for (int y = 0; y < IPKVM_FONT_H * s; y++) {
		for (int x = 0; x < IPKVM_FONT_W * s; x++) {
			bool on = g[y / s] & (0x80 >> (x / s));
			const uint8_t *p =
			    f->data + (size_t)(y0 + y) * f->stride + (size_t)(x0 + x) * 3;
			struct ipkvm_rgb want = on ? fg : bg;
			assert_int_equal(p[0], want.r);
			assert_int_equal(p[1], want.g);
			assert_int_equal(p[2], want.b);
		}
	}
}

static void test_glyph_pixels_rgb(void **state)
{
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_RGB24, 40, 40, 0);
	assert_non_null(f);
	ipkvm_draw_rect(f, 0, 0, 40, 40, BLACK);
	int w = ipkvm_draw_text(f, 2, 3, "A", 1, RED, NULL);
	assert_int_equal(w, IPKVM_FONT_W);
	check_glyph_rgb(f, 'A', 2, 3, 1, RED, BLACK);
	ipkvm_draw_rect(f, 0, 0, 40, 40, BLACK);
	ipkvm_draw_text(f, 4, 4, "g", 2, WHITE, &RED); /* with a background colour */
	check_glyph_rgb(f, 'g', 4, 4, 2, WHITE, RED);
	ipkvm_frame_unref(f);
}

static void test_glyph_pixels_yuyv_and_bgr(void **state)
{
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 16, 16, 0);
	ipkvm_draw_rect(f, 0, 0, 16, 16, BLACK);
	ipkvm_draw_text(f, 0, 0, "H", 1, WHITE, NULL);
	const uint8_t *g = ipkvm_font_glyph('H');
	for (int y = 0; y < 16; y++) {
		for (int x = 0; x < 8; x++) {
			uint8_t luma = f->data[(size_t)y * f->stride + (size_t)x * 2];
			assert_int_equal(luma, (g[y] & (0x80 >> x)) ? 235 : 16);
		}
	}
	ipkvm_frame_unref(f);

	f = ipkvm_frame_new(IPKVM_FMT_BGR24, 4, 2, 0);
	ipkvm_draw_rect(f, 0, 0, 4, 2, RED);
	assert_int_equal(f->data[0], 0);   /* B */
	assert_int_equal(f->data[2], 255); /* R */
	ipkvm_frame_unref(f);

	f = ipkvm_frame_new(IPKVM_FMT_UYVY, 4, 2, 0);
	ipkvm_draw_rect(f, 0, 0, 4, 2, RED);
	assert_int_equal(f->data[0], 90);  /* U */
	assert_int_equal(f->data[1], 82);  /* Y0 */
	assert_int_equal(f->data[2], 240); /* V */
	ipkvm_frame_unref(f);
}

static void test_clipping(void **state)
{
	/* Shapes partly or wholly outside the frame touch only pixels inside it (ASan checks
	 * nothing is written outside). */
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_RGB24, 10, 10, 0);
	ipkvm_draw_rect(f, 0, 0, 10, 10, BLACK);
	ipkvm_draw_rect(f, -5, -5, 7, 7, WHITE); /* covers (0,0)..(1,1) */
	assert_int_equal(f->data[0], 255);
	assert_int_equal(f->data[(1 * 10 + 1) * 3], 255);
	assert_int_equal(f->data[(2 * 10 + 2) * 3], 0);
	ipkvm_draw_rect(f, 8, 8, 100, 100, RED);
	assert_int_equal(f->data[(9 * 10 + 9) * 3], 255);
	assert_int_equal(f->data[(9 * 10 + 9) * 3 + 1], 0);
	ipkvm_draw_text(f, -3, -7, "Wrap\nme", 3, WHITE, &BLACK);
	ipkvm_draw_text(f, 9, 9, "xyz", 4, WHITE, NULL);
	ipkvm_draw_rect(f, 50, 50, 3, 3, WHITE); /* entirely outside */
	ipkvm_frame_unref(f);
}

static void test_text_size(void **state)
{
	int w, h;
	ipkvm_text_size("abc", 1, &w, &h);
	assert_int_equal(w, 3 * IPKVM_FONT_W);
	assert_int_equal(h, IPKVM_FONT_H);
	ipkvm_text_size("abcd\nx", 2, &w, &h);
	assert_int_equal(w, 4 * IPKVM_FONT_W * 2);
	assert_int_equal(h, 2 * IPKVM_FONT_H * 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_colour_conversion),
	    cmocka_unit_test(test_font_table),
	    cmocka_unit_test(test_glyph_pixels_rgb),
	    cmocka_unit_test(test_glyph_pixels_yuyv_and_bgr),
	    cmocka_unit_test(test_clipping),
	    cmocka_unit_test(test_text_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
