/*
 * Unit tests for video/draw: the font table (glyph bytes, replacement box, every glyph
 * distinct), the exact BT.601 conversion, glyph pixels in RGB24/BGR24/YUYV/UYVY at scales 1
 * and 2 compared bit by bit with the table, rectangles (including 4:2:2 pairs at odd edges),
 * clipping at every edge with negative and huge coordinates, and text_size.
 * Frames for the clipping tests are built here with data of exactly stride * height bytes,
 * so ASan reports any write even one byte past the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "video/draw.h"

static const struct ipkvm_rgb WHITE = {255, 255, 255};
static const struct ipkvm_rgb BLACK = {0, 0, 0};
static const struct ipkvm_rgb RED = {255, 0, 0};
static const struct ipkvm_rgb FG = {10, 20, 30};

/* A frame whose data is exactly stride * height bytes (no rounding), filled with fill. */
static struct ipkvm_frame *exact_frame(enum ipkvm_pixfmt fmt, unsigned w, unsigned h, uint8_t fill)
{
	struct ipkvm_frame *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->format = fmt;
	f->width = w;
	f->height = h;
	f->stride = (size_t)w * ipkvm_pixfmt_bpp(fmt);
	f->size = f->capacity = f->stride * h;
	f->data = malloc(f->size);
	assert_non_null(f->data);
	memset(f->data, fill, f->size);
	return f;
}

static void free_exact(struct ipkvm_frame *f)
{
	free(f->data);
	free(f);
}

static int bit(const uint8_t *g, int col, int row)
{
	return (g[row] >> (7 - col)) & 1;
}

static void test_glyph_table(void **state)
{
	static const uint8_t A[16] = {0x00, 0x00, 0x00, 0x18, 0x24, 0x42, 0x42, 0x42,
				      0x7e, 0x42, 0x42, 0x42, 0x42, 0x00, 0x00, 0x00};
	assert_memory_equal(ipkvm_font_glyph('A'), A, 16);
	static const uint8_t zeros[16] = {0};
	assert_memory_equal(ipkvm_font_glyph(' '), zeros, 16);
	/* The replacement: a hollow box, rows 2..13. */
	const uint8_t *r = ipkvm_font_glyph(0);
	static const uint8_t box[16] = {0x00, 0x00, 0x7e, 0x42, 0x42, 0x42, 0x42, 0x42,
					0x42, 0x42, 0x42, 0x42, 0x42, 0x7e, 0x00, 0x00};
	assert_memory_equal(r, box, 16);
	assert_ptr_equal(ipkvm_font_glyph(31), r);
	assert_ptr_equal(ipkvm_font_glyph(127), r);
	assert_ptr_equal(ipkvm_font_glyph(200), r);
	assert_ptr_equal(ipkvm_font_glyph('\n'), r);
	/* Every printable glyph but space has ink, and no two are the same. */
	for (int c = 33; c <= 126; c++) {
		const uint8_t *g = ipkvm_font_glyph((unsigned char)c);
		assert_memory_not_equal(g, zeros, 16);
		assert_memory_not_equal(g, r, 16);
		for (int d = c + 1; d <= 126; d++)
			assert_memory_not_equal(g, ipkvm_font_glyph((unsigned char)d), 16);
	}
	/* Lower-case descenders reach below the baseline (row 12); capitals do not. */
	assert_int_not_equal(ipkvm_font_glyph('g')[14] | ipkvm_font_glyph('g')[15], 0);
	assert_int_not_equal(ipkvm_font_glyph('p')[14], 0);
	assert_int_equal(ipkvm_font_glyph('E')[13], 0);
	assert_int_equal(ipkvm_font_glyph('E')[12], 0x7e);
}

static void check_yuv(struct ipkvm_rgb c, int y, int u, int v)
{
	uint8_t Y, U, V;
	ipkvm_rgb_to_yuv(c, &Y, &U, &V);
	assert_int_equal(Y, y);
	assert_int_equal(U, u);
	assert_int_equal(V, v);
}

static void test_rgb_to_yuv(void **state)
{
	check_yuv(WHITE, 235, 128, 128);
	check_yuv(BLACK, 16, 128, 128);
	check_yuv(RED, 82, 90, 240);
	check_yuv((struct ipkvm_rgb){0, 255, 0}, 144, 54, 34);
	check_yuv((struct ipkvm_rgb){0, 0, 255}, 41, 240, 110);
	check_yuv(FG, 32, 134, 123);
	check_yuv((struct ipkvm_rgb){191, 191, 0}, 161, 44, 141);
	/* Whole range stays within limited range. */
	for (int r = 0; r < 256; r += 15)
		for (int g = 0; g < 256; g += 15)
			for (int b = 0; b < 256; b += 15) {
				uint8_t Y, U, V;
				ipkvm_rgb_to_yuv(
				    (struct ipkvm_rgb){(uint8_t)r, (uint8_t)g, (uint8_t)b}, &Y, &U,
				    &V);
				assert_in_range(Y, 16, 235);
				assert_in_range(U, 16, 240);
				assert_in_range(V, 16, 240);
			}
}

/* Checks an RGB24/BGR24 frame filled with 0xEE after drawing glyph c at (x, y), scale s,
 * fg, bg (NULL = transparent): every pixel is exact. */
static void check_rgb_glyph(const struct ipkvm_frame *f, int x, int y, int s, unsigned char c,
			    struct ipkvm_rgb fg, const struct ipkvm_rgb *bg)
{
	const uint8_t *g = ipkvm_font_glyph(c);
	bool bgr = f->format == IPKVM_FMT_BGR24;
	for (int py = 0; py < (int)f->height; py++) {
		for (int px = 0; px < (int)f->width; px++) {
			const uint8_t *p = f->data + (size_t)py * f->stride + (size_t)px * 3;
			int gx = px - x, gy = py - y;
			uint8_t want[3] = {0xee, 0xee, 0xee};
			if (gx >= 0 && gx < 8 * s && gy >= 0 && gy < 16 * s) {
				const struct ipkvm_rgb *col = bit(g, gx / s, gy / s) ? &fg : bg;
				if (col) {
					want[0] = bgr ? col->b : col->r;
					want[1] = col->g;
					want[2] = bgr ? col->r : col->b;
				}
			}
			assert_memory_equal(p, want, 3);
		}
	}
}

static void test_text_rgb(void **state)
{
	struct ipkvm_frame *f = exact_frame(IPKVM_FMT_RGB24, 20, 24, 0xee);
	assert_int_equal(ipkvm_draw_text(f, 3, 2, "A", 1, FG, NULL), 8);
	check_rgb_glyph(f, 3, 2, 1, 'A', FG, NULL);
	free_exact(f);

	f = exact_frame(IPKVM_FMT_RGB24, 24, 36, 0xee);
	assert_int_equal(ipkvm_draw_text(f, 4, 1, "A", 2, FG, &BLACK), 16);
	check_rgb_glyph(f, 4, 1, 2, 'A', FG, &BLACK);
	free_exact(f);

	f = exact_frame(IPKVM_FMT_BGR24, 24, 36, 0xee);
	ipkvm_draw_text(f, 5, 3, "g", 2, RED, &FG);
	check_rgb_glyph(f, 5, 3, 2, 'g', RED, &FG);
	/* Spot check of the byte order: the top-left of the glyph box is background FG. */
	const uint8_t *p = f->data + (size_t)3 * f->stride + 5 * 3;
	assert_int_equal(p[0], 30);
	assert_int_equal(p[1], 20);
	assert_int_equal(p[2], 10);
	free_exact(f);
}

static void test_text_newline(void **state)
{
	struct ipkvm_frame *f = exact_frame(IPKVM_FMT_RGB24, 20, 40, 0xee);
	assert_int_equal(ipkvm_draw_text(f, 2, 4, "\x01\nA", 1, FG, NULL), 8);
	/* Line 1: the replacement box at (2, 4); line 2: 'A' at (2, 20). */
	struct ipkvm_frame *a = exact_frame(IPKVM_FMT_RGB24, 20, 40, 0xee);
	ipkvm_draw_text(a, 2, 4, "\x7f", 1, FG, NULL);
	ipkvm_draw_text(a, 2, 20, "A", 1, FG, NULL);
	assert_memory_equal(f->data, a->data, f->size);
	free_exact(a);
	free_exact(f);
}

/* 4:2:2: Y per pixel, chroma per pair. */
static void yuv_at(const struct ipkvm_frame *f, int x, int y, uint8_t *Y, uint8_t *U, uint8_t *V)
{
	const uint8_t *pair = f->data + (size_t)y * f->stride + (size_t)(x & ~1) * 2;
	if (f->format == IPKVM_FMT_YUYV) {
		*Y = pair[(x & 1) * 2];
		*U = pair[1];
		*V = pair[3];
	} else {
		*Y = pair[(x & 1) * 2 + 1];
		*U = pair[0];
		*V = pair[2];
	}
}

static void test_text_yuv(void **state)
{
	enum ipkvm_pixfmt fmts[2] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY};
	for (int k = 0; k < 2; k++) {
		for (int s = 1; s <= 2; s++) {
			struct ipkvm_frame *f = exact_frame(fmts[k], 24, 40, 0x55);
			ipkvm_draw_text(f, 2, 3, "A", s, WHITE, &BLACK);
			const uint8_t *g = ipkvm_font_glyph('A');
			for (int py = 0; py < 40; py++) {
				for (int px = 0; px < 24; px++) {
					uint8_t Y, U, V;
					yuv_at(f, px, py, &Y, &U, &V);
					int gx = px - 2, gy = py - 3;
					if (gx >= 0 && gx < 8 * s && gy >= 0 && gy < 16 * s) {
						int on = bit(g, gx / s, gy / s);
						assert_int_equal(Y, on ? 235 : 16);
						assert_int_equal(U, 128);
						assert_int_equal(V, 128);
					} else {
						assert_int_equal(Y, 0x55);
						/* chroma untouched outside (glyph at even x) */
						assert_int_equal(U, 0x55);
						assert_int_equal(V, 0x55);
					}
				}
			}
			free_exact(f);
		}
	}
}

static void test_rect_rgb(void **state)
{
	struct ipkvm_frame *f = exact_frame(IPKVM_FMT_RGB24, 10, 8, 0xee);
	ipkvm_draw_rect(f, 3, 2, 4, 5, RED);
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 10; x++) {
			const uint8_t *p = f->data + (size_t)y * f->stride + (size_t)x * 3;
			bool in = x >= 3 && x < 7 && y >= 2 && y < 7;
			uint8_t want[3] = {0xee, 0xee, 0xee};
			if (in) {
				want[0] = 255;
				want[1] = 0;
				want[2] = 0;
			}
			assert_memory_equal(p, want, 3);
		}
	/* Empty and negative sizes draw nothing. */
	struct ipkvm_frame *g = exact_frame(IPKVM_FMT_RGB24, 10, 8, 0xee);
	ipkvm_draw_rect(g, 1, 1, 0, 5, RED);
	ipkvm_draw_rect(g, 1, 1, 5, 0, RED);
	ipkvm_draw_rect(g, 1, 1, -5, 5, RED);
	ipkvm_draw_rect(g, 10, 0, 5, 5, RED);
	ipkvm_draw_rect(g, 0, 8, 5, 5, RED);
	for (size_t i = 0; i < g->size; i++)
		assert_int_equal(g->data[i], 0xee);
	free_exact(g);
	free_exact(f);
}

static void test_rect_yuv_pairs(void **state)
{
	enum ipkvm_pixfmt fmts[2] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY};
	for (int k = 0; k < 2; k++) {
		/* Pixels 3..6 (odd left edge, even right edge) on rows 1..3, over a background
		 * where every byte differs, so a neighbour's Y copied from another row shows. */
		struct ipkvm_frame *f = exact_frame(fmts[k], 10, 5, 0);
		for (size_t i = 0; i < f->size; i++)
			f->data[i] = (uint8_t)(i * 13 + 7);
		struct ipkvm_frame *o = exact_frame(fmts[k], 10, 5, 0);
		memcpy(o->data, f->data, f->size);
		ipkvm_draw_rect(f, 3, 1, 4, 3, RED);
		for (int y = 0; y < 5; y++)
			for (int x = 0; x < 10; x++) {
				uint8_t Y, U, V, oY, oU, oV;
				yuv_at(f, x, y, &Y, &U, &V);
				yuv_at(o, x, y, &oY, &oU, &oV);
				bool in = x >= 3 && x <= 6 && y >= 1 && y <= 3;
				bool pair_in = (x | 1) >= 3 && (x & ~1) <= 6 && y >= 1 && y <= 3;
				assert_int_equal(Y, in ? 82 : oY);
				assert_int_equal(U, pair_in ? 90 : oU);
				assert_int_equal(V, pair_in ? 240 : oV);
			}
		free_exact(o);
		free_exact(f);
		/* One pixel wide at odd and even x. */
		f = exact_frame(fmts[k], 6, 3, 0x40);
		ipkvm_draw_rect(f, 1, 0, 1, 3, WHITE);
		ipkvm_draw_rect(f, 4, 0, 1, 3, BLACK);
		for (int y = 0; y < 3; y++) {
			uint8_t Y, U, V;
			yuv_at(f, 0, y, &Y, &U, &V);
			assert_int_equal(Y, 0x40);
			assert_int_equal(U, 128);
			yuv_at(f, 1, y, &Y, &U, &V);
			assert_int_equal(Y, 235);
			yuv_at(f, 4, y, &Y, &U, &V);
			assert_int_equal(Y, 16);
			yuv_at(f, 5, y, &Y, &U, &V);
			assert_int_equal(Y, 0x40);
			assert_int_equal(V, 128);
			yuv_at(f, 2, y, &Y, &U, &V);
			assert_int_equal(Y, 0x40);
			assert_int_equal(U, 0x40);
		}
		free_exact(f);
	}
}

static void test_clipping(void **state)
{
	enum ipkvm_pixfmt fmts[4] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY, IPKVM_FMT_RGB24,
				     IPKVM_FMT_BGR24};
	for (int k = 0; k < 4; k++) {
		struct ipkvm_frame *f = exact_frame(fmts[k], 18, 13, 0x11);
		/* Text hanging over every edge, at odd and negative positions, big scales. */
		ipkvm_draw_text(f, -5, -7, "Wg@", 1, WHITE, &BLACK);
		ipkvm_draw_text(f, 13, 9, "Wg@", 1, WHITE, &BLACK);
		ipkvm_draw_text(f, -3, 5, "#\n#\n#", 3, RED, &FG);
		ipkvm_draw_text(f, 17, -20, "Q", 5, RED, NULL);
		ipkvm_draw_text(f, INT_MAX - 3, INT_MAX - 3, "xyz", 7, RED, &FG);
		ipkvm_draw_text(f, INT_MIN, INT_MIN, "xyz\nxyz", INT_MAX, RED, &FG);
		ipkvm_draw_text(f, INT_MIN + 5, 0, "a long line that is far off", 1, RED, &FG);
		ipkvm_draw_rect(f, -10, -10, 15, 15, RED);
		ipkvm_draw_rect(f, 15, 10, 100, 100, RED);
		ipkvm_draw_rect(f, INT_MAX, INT_MAX, INT_MAX, INT_MAX, RED);
		ipkvm_draw_rect(f, INT_MIN, INT_MIN, INT_MAX, INT_MAX, RED);
		free_exact(f);
	}
	/* A rectangle covering everything from far outside fills the frame exactly. */
	struct ipkvm_frame *f = exact_frame(IPKVM_FMT_RGB24, 7, 5, 0x11);
	ipkvm_draw_rect(f, -1000, -1000, INT_MAX, INT_MAX, FG);
	for (size_t i = 0; i < f->size; i += 3) {
		assert_int_equal(f->data[i], 10);
		assert_int_equal(f->data[i + 1], 20);
		assert_int_equal(f->data[i + 2], 30);
	}
	free_exact(f);
	/* Clipped glyph pixels are the glyph's: 'A' at (-3, -5) in a 6x8 frame. */
	f = exact_frame(IPKVM_FMT_RGB24, 6, 8, 0xee);
	ipkvm_draw_text(f, -3, -5, "A", 1, FG, NULL);
	check_rgb_glyph(f, -3, -5, 1, 'A', FG, NULL);
	free_exact(f);
}

static void test_not_raw(void **state)
{
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_MJPEG, 0, 0, 64);
	assert_non_null(f);
	memset(f->data, 0x33, 64);
	ipkvm_draw_rect(f, 0, 0, 10, 10, RED);
	assert_int_equal(ipkvm_draw_text(f, 0, 0, "abc", 1, RED, NULL), 24);
	for (int i = 0; i < 64; i++)
		assert_int_equal(f->data[i], 0x33);
	ipkvm_frame_unref(f);
	ipkvm_draw_rect(NULL, 0, 0, 1, 1, RED);
	assert_int_equal(ipkvm_draw_text(NULL, 0, 0, "ab", 2, RED, NULL), 32);
}

static void test_text_size(void **state)
{
	int w = -1, h = -1;
	ipkvm_text_size("abc", 1, &w, &h);
	assert_int_equal(w, 24);
	assert_int_equal(h, 16);
	ipkvm_text_size("ab\ncdef", 2, &w, &h);
	assert_int_equal(w, 64);
	assert_int_equal(h, 64);
	ipkvm_text_size("", 3, &w, &h);
	assert_int_equal(w, 0);
	assert_int_equal(h, 0);
	ipkvm_text_size(NULL, 3, &w, &h);
	assert_int_equal(w, 0);
	assert_int_equal(h, 0);
	ipkvm_text_size("x\n", 1, &w, &h); /* a trailing newline adds no line */
	assert_int_equal(w, 8);
	assert_int_equal(h, 16);
	ipkvm_text_size("\n\nx", 1, &w, &h);
	assert_int_equal(w, 8);
	assert_int_equal(h, 48);
	ipkvm_text_size("abcd", 0, &w, &h); /* scale < 1 counts as 1 */
	assert_int_equal(w, 32);
	assert_int_equal(h, 16);
	ipkvm_text_size("abcd", INT_MAX, &w, &h); /* saturates */
	assert_int_equal(w, INT_MAX);
	assert_int_equal(h, INT_MAX);
	ipkvm_text_size("abc", 1, NULL, &h);
	assert_int_equal(h, 16);
	/* draw_text returns the same width. */
	struct ipkvm_frame *f = exact_frame(IPKVM_FMT_RGB24, 4, 4, 0);
	assert_int_equal(ipkvm_draw_text(f, 0, 0, "ab\ncdefg\nh", 3, RED, NULL), 5 * 8 * 3);
	free_exact(f);
}

/* The pointer bitmap, one for the pattern source and the virtual target. (There were two
 * copies and they differed: the pattern's head ended a row early, its base stuck out one
 * pixel, and its outline was doubled where the stem meets the head.) */
static char art(int r, int c)
{
	if (r < 0 || r >= IPKVM_POINTER_H || c < 0 || c >= IPKVM_POINTER_W)
		return '.';
	return ipkvm_pointer_art[r][c];
}

static void test_pointer_art(void **state)
{
	(void)state;
	for (int r = 0; r < IPKVM_POINTER_H; r++) {
		assert_int_equal(strlen(ipkvm_pointer_art[r]), IPKVM_POINTER_W);
		assert_int_equal(strspn(ipkvm_pointer_art[r], "Xo."), IPKVM_POINTER_W);
	}
	assert_int_equal(art(0, 0), 'X'); /* the tip is the position, drawn */
	/* The head's right edge: a straight 45-degree outline down to the widest row, fill
	 * right inside it, nothing beyond. */
	for (int r = 0; r < IPKVM_POINTER_W; r++) {
		assert_int_equal(art(r, r), 'X');
		if (r >= 2)
			assert_int_equal(art(r, r - 1), 'o');
		for (int c = r + 1; c < IPKVM_POINTER_W; c++)
			assert_int_equal(art(r, c), '.');
	}
	int fill = 0;
	for (int r = 0; r < IPKVM_POINTER_H; r++) {
		for (int c = 0; c < IPKVM_POINTER_W; c++) {
			char a = art(r, c);
			if (a == 'o') { /* the fill is closed in: never next to transparent */
				fill++;
				assert_int_not_equal(art(r - 1, c), '.');
				assert_int_not_equal(art(r + 1, c), '.');
				assert_int_not_equal(art(r, c - 1), '.');
				assert_int_not_equal(art(r, c + 1), '.');
			} else if (a == 'X' && !(r == 0 && c == 0) && c != 0) {
				/* a one-pixel outline: every outline pixel but the tip and the left
				 * edge borders the fill */
				bool touches = false;
				for (int dr = -1; dr <= 1; dr++)
					for (int dc = -1; dc <= 1; dc++)
						touches |= art(r + dr, c + dc) == 'o';
				assert_true(touches);
			}
		}
	}
	assert_true(fill > 60);
	/* The stem below the head: two pixels of fill on every row that has fill. */
	for (int r = IPKVM_POINTER_W + 1; r < IPKVM_POINTER_H; r++) {
		const char *row = ipkvm_pointer_art[r];
		const char *o = strchr(row, 'o');
		if (!o)
			continue;
		const char *stem = strstr(row + 1, "XooX");
		assert_non_null(stem);
		assert_null(strchr(stem + 3, 'o'));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_glyph_table),	   cmocka_unit_test(test_rgb_to_yuv),
	    cmocka_unit_test(test_text_rgb),	   cmocka_unit_test(test_text_newline),
	    cmocka_unit_test(test_text_yuv),	   cmocka_unit_test(test_rect_rgb),
	    cmocka_unit_test(test_rect_yuv_pairs), cmocka_unit_test(test_clipping),
	    cmocka_unit_test(test_not_raw),	   cmocka_unit_test(test_pointer_art),
	    cmocka_unit_test(test_text_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
