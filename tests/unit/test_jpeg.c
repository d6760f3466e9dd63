/*
 * Unit tests for video/jpeg: the packed → planar split (exact bytes, strides, the
 * vectorised blocks and the scalar tails), YUV/RGB/BGR → RGB24 (exact BT.601 values, every
 * Y/U/V against the arithmetic, any segment of a line the same as the whole frame's),
 * encoding of every raw format at 4:2:2 and 4:2:0 checked by decoding with TurboJPEG
 * (size, subsampling, mean error against the source, limited → full range), the refusals,
 * MJPEG Huffman-table insertion (a TurboJPEG image with its DHT segments cut out gets the
 * same tables back and decodes to the same pixels; images with tables pass unchanged;
 * every truncation and some garbage are refused), the SOF size probe, the PNG writer
 * (exact bytes of a 3x2 image, CRCs and Adler-32 recomputed here bit by bit, stored blocks
 * parsed back), frame change detection, and strip-parallel encoding: the strip plan, and
 * strip-joined JPEGs of the pattern source's scenes (odd sizes, 4:2:2 and 4:2:0, 1 to 8
 * strips, a last strip shorter than the others) that are well-formed (markers in order,
 * one DRI, RST0..RST7 in turn) and decode to exactly the pixels of a single-piece encode.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "video/jpeg.h"
#include "video/source_pattern.h"

/* ---- helpers ---- */

static uint32_t seed = 12345;

static uint8_t rnd8(void)
{
	seed = seed * 1103515245u + 12345u;
	return (uint8_t)(seed >> 16);
}

static struct ipkvm_frame *frame_with(enum ipkvm_pixfmt fmt, unsigned w, unsigned h)
{
	struct ipkvm_frame *f = ipkvm_frame_new(fmt, w, h, 0);
	assert_non_null(f);
	return f;
}

/* Smooth colours with one hard-edged rectangle: something JPEG keeps well at q90 but that
 * shows a wrong channel order, plane or stride at once. */
static void pattern_rgb(unsigned x, unsigned y, unsigned w, unsigned h, uint8_t *rgb)
{
	bool rect = x >= w / 4 && x < w / 2 && y >= h / 4 && y < h / 2;
	rgb[0] = rect ? 200 : (uint8_t)(30 + x * 180 / w);
	rgb[1] = rect ? 60 : (uint8_t)(40 + y * 160 / h);
	rgb[2] = rect ? 40 : (uint8_t)(220 - (x + y) * 100 / (w + h));
}

static void pattern_yuv(unsigned x, unsigned y, unsigned w, unsigned h, uint8_t *yuv)
{
	bool rect = x >= w / 4 && x < w / 2 && y >= h / 4 && y < h / 2;
	yuv[0] = rect ? 180 : (uint8_t)(30 + x * 150 / w + y * 40 / h);
	yuv[1] = rect ? 90 : (uint8_t)(100 + y * 60 / h);
	yuv[2] = rect ? 200 : (uint8_t)(170 - x * 60 / w);
}

static void fill_pattern(struct ipkvm_frame *f)
{
	for (unsigned y = 0; y < f->height; y++) {
		uint8_t *d = f->data + y * f->stride;
		for (unsigned x = 0; x < f->width; x++) {
			uint8_t c[3];
			switch (f->format) {
			case IPKVM_FMT_RGB24:
				pattern_rgb(x, y, f->width, f->height, d + 3 * x);
				break;
			case IPKVM_FMT_BGR24:
				pattern_rgb(x, y, f->width, f->height, c);
				d[3 * x] = c[2];
				d[3 * x + 1] = c[1];
				d[3 * x + 2] = c[0];
				break;
			case IPKVM_FMT_YUYV:
			case IPKVM_FMT_UYVY: {
				/* the pair's chroma from its left pixel */
				pattern_yuv(x & ~1u, y, f->width, f->height, c);
				uint8_t yv[3];
				pattern_yuv(x, y, f->width, f->height, yv);
				bool uyvy = f->format == IPKVM_FMT_UYVY;
				uint8_t *p = d + 2 * x;
				p[uyvy] = yv[0];
				p[!uyvy] = (x & 1) ? c[2] : c[1];
				break;
			}
			case IPKVM_FMT_MJPEG:
				fail();
			}
		}
	}
}

static double mae(const uint8_t *a, const uint8_t *b, size_t n)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += abs((int)a[i] - (int)b[i]);
	return sum / (double)n;
}

/* Decodes a JPEG to RGB with TurboJPEG; returns the malloc'd pixels. */
static uint8_t *decode(const uint8_t *jpeg, size_t len, int *w, int *h, int *samp)
{
	tjhandle d = tjInitDecompress();
	assert_non_null(d);
	int cs;
	assert_int_equal(tjDecompressHeader3(d, jpeg, len, w, h, samp, &cs), 0);
	uint8_t *rgb = malloc((size_t)*w * *h * 3);
	assert_non_null(rgb);
	assert_int_equal(tjDecompress2(d, jpeg, len, rgb, *w, 0, *h, TJPF_RGB, 0), 0);
	tjDestroy(d);
	return rgb;
}

/* Encodes f and checks the decoded image against frame_to_rgb24(f). Returns the bytes. */
static size_t encode_check(struct ipkvm_jpeg *j, const struct ipkvm_frame *f, int q, bool s420,
			   double max_mae)
{
	struct ipkvm_buf *b = NULL;
	assert_int_equal(ipkvm_jpeg_encode(j, f, q, s420, &b), 0);
	assert_non_null(b);
	assert_true(b->len > 100);
	assert_int_equal(b->data[0], 0xFF);
	assert_int_equal(b->data[1], 0xD8);
	assert_int_equal(b->data[b->len - 2], 0xFF);
	assert_int_equal(b->data[b->len - 1], 0xD9);

	int w, h, samp;
	uint8_t *got = decode(b->data, b->len, &w, &h, &samp);
	assert_int_equal(w, f->width);
	assert_int_equal(h, f->height);
	assert_int_equal(samp, s420 ? TJSAMP_420 : TJSAMP_422);
	unsigned sw, sh;
	assert_int_equal(ipkvm_jpeg_size(b->data, b->len, &sw, &sh), 0);
	assert_int_equal(sw, f->width);
	assert_int_equal(sh, f->height);

	size_t n = (size_t)w * h * 3;
	uint8_t *want = malloc(n);
	assert_non_null(want);
	ipkvm_frame_to_rgb24(f, want);
	double e = mae(want, got, n);
	if (e >= max_mae)
		print_error("%s %ux%u q%d %s: mean abs error %.2f\n", ipkvm_pixfmt_name(f->format),
			    f->width, f->height, q, s420 ? "4:2:0" : "4:2:2", e);
	assert_true(e < max_mae);
	free(want);
	free(got);
	size_t len = b->len;
	ipkvm_buf_unref(b);
	return len;
}

/* ---- planar split ---- */

static void test_planar_yuyv_exact(void **state)
{
	/* 4x2, stride 10: two bytes of padding per line that must be ignored */
	const uint8_t src[20] = {0x10, 0x20, 0x11, 0x30, 0x12, 0x21, 0x13, 0x31, 0xEE, 0xEE,
				 0x40, 0x50, 0x41, 0x60, 0x42, 0x51, 0x43, 0x61, 0xEE, 0xEE};
	uint8_t y[8], u[4], v[4];
	ipkvm_yuyv_to_planar422(src, 10, 4, 2, false, y, u, v);
	const uint8_t ey[8] = {0x10, 0x11, 0x12, 0x13, 0x40, 0x41, 0x42, 0x43};
	const uint8_t eu[4] = {0x20, 0x21, 0x50, 0x51}, ev[4] = {0x30, 0x31, 0x60, 0x61};
	assert_memory_equal(y, ey, 8);
	assert_memory_equal(u, eu, 4);
	assert_memory_equal(v, ev, 4);
}

static void test_planar_uyvy_exact(void **state)
{
	const uint8_t src[16] = {0x20, 0x10, 0x30, 0x11, 0x21, 0x12, 0x31, 0x13,
				 0x50, 0x40, 0x60, 0x41, 0x51, 0x42, 0x61, 0x43};
	uint8_t y[8], u[4], v[4];
	ipkvm_yuyv_to_planar422(src, 8, 4, 2, true, y, u, v);
	const uint8_t ey[8] = {0x10, 0x11, 0x12, 0x13, 0x40, 0x41, 0x42, 0x43};
	const uint8_t eu[4] = {0x20, 0x21, 0x50, 0x51}, ev[4] = {0x30, 0x31, 0x60, 0x61};
	assert_memory_equal(y, ey, 8);
	assert_memory_equal(u, eu, 4);
	assert_memory_equal(v, ev, 4);
}

/* Widths that use the vectorised blocks (16 pairs) and the scalar tail, including an odd
 * one (the last pixel has luma only), against a plain reference. */
static void test_planar_wide_matches_reference(void **state)
{
	const unsigned widths[] = {2, 32, 34, 70, 71, 130};
	for (size_t t = 0; t < sizeof(widths) / sizeof(widths[0]); t++) {
		unsigned w = widths[t], h = 3;
		size_t stride = 2 * (size_t)w + 6, cw = w / 2;
		uint8_t src[3 * (2 * 130 + 6)];
		for (size_t i = 0; i < stride * h; i++)
			src[i] = rnd8();
		for (int uyvy = 0; uyvy <= 1; uyvy++) {
			uint8_t y[3 * 130 + 1], u[3 * 65], v[3 * 65];
			uint8_t ry[3 * 130 + 1], ru[3 * 65], rv[3 * 65];
			memset(y, 0xAA, sizeof(y));
			memset(ry, 0xAA, sizeof(ry));
			for (unsigned r = 0; r < h; r++) {
				const uint8_t *s = src + r * stride;
				for (unsigned x = 0; x < w; x++)
					ry[r * w + x] = s[2 * x + (unsigned)uyvy];
				for (unsigned i = 0; i < cw; i++) {
					ru[r * cw + i] = s[4 * i + (uyvy ? 0 : 1)];
					rv[r * cw + i] = s[4 * i + (uyvy ? 2 : 3)];
				}
			}
			ipkvm_yuyv_to_planar422(src, stride, w, h, uyvy, y, u, v);
			assert_memory_equal(y, ry, (size_t)w * h);
			assert_int_equal(y[w * h], 0xAA); /* nothing written past the plane */
			assert_memory_equal(u, ru, cw * h);
			assert_memory_equal(v, rv, cw * h);
		}
	}
}

/* ---- RGB ---- */

static void test_rgb_from_yuv_values(void **state)
{
	/* pairs: (235, 16) with neutral chroma; (81, 81) with U 90 V 240 (red); (126, 126)
	 * neutral (mid grey) */
	const uint8_t yuyv[12] = {235, 128, 16, 128, 81, 90, 81, 240, 126, 128, 126, 128};
	const uint8_t uyvy[12] = {128, 235, 128, 16, 90, 81, 240, 81, 128, 126, 128, 126};
	const uint8_t *srcs[2] = {yuyv, uyvy};
	const enum ipkvm_pixfmt fmts[2] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY};
	for (int k = 0; k < 2; k++) {
		struct ipkvm_frame *f = frame_with(fmts[k], 6, 1);
		memcpy(f->data, srcs[k], 12);
		uint8_t rgb[18];
		ipkvm_frame_to_rgb24(f, rgb);
		assert_int_equal(rgb[0], 255);
		assert_int_equal(rgb[1], 255);
		assert_int_equal(rgb[2], 255);
		assert_int_equal(rgb[3], 0);
		assert_int_equal(rgb[4], 0);
		assert_int_equal(rgb[5], 0);
		for (int p = 2; p < 4; p++) {
			assert_in_range(rgb[3 * p], 253, 255);
			assert_in_range(rgb[3 * p + 1], 0, 2);
			assert_in_range(rgb[3 * p + 2], 0, 2);
		}
		for (int i = 12; i < 18; i++)
			assert_int_equal(rgb[i], 128);
		ipkvm_frame_unref(f);
	}
}

static void test_rgb_from_yuv_clamps(void **state)
{
	/* out-of-range codes must clamp, not wrap: Y 255 with V 255 (R far above 255),
	 * Y 0 with U 0 (B far below 0) */
	struct ipkvm_frame *f = frame_with(IPKVM_FMT_YUYV, 4, 1);
	const uint8_t src[8] = {255, 128, 255, 255, 0, 0, 0, 128};
	memcpy(f->data, src, 8);
	uint8_t rgb[12];
	ipkvm_frame_to_rgb24(f, rgb);
	assert_int_equal(rgb[0], 255);
	assert_int_equal(rgb[1], 175); /* 239 * 1.164 - 127 * 0.813 = 175.0 */
	assert_int_equal(rgb[2], 255);
	assert_int_equal(rgb[6], 0);
	assert_int_equal(rgb[7], 32); /* -16 * 1.164 + 128 * 0.392 = 31.5 */
	assert_int_equal(rgb[8], 0);
	ipkvm_frame_unref(f);
}

static void test_rgb_from_rgb_and_bgr(void **state)
{
	/* 2x2 frames with padding after each line (stride 12), which must be skipped */
	struct ipkvm_frame *f = frame_with(IPKVM_FMT_RGB24, 4, 2);
	f->width = 2; /* keeps stride 12: 6 bytes of padding */
	const uint8_t px[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	memset(f->data, 0xEE, f->size);
	memcpy(f->data, px, 6);
	memcpy(f->data + f->stride, px + 6, 6);
	uint8_t rgb[12];
	ipkvm_frame_to_rgb24(f, rgb);
	assert_memory_equal(rgb, px, 12);

	f->format = IPKVM_FMT_BGR24;
	ipkvm_frame_to_rgb24(f, rgb);
	const uint8_t swapped[12] = {3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10};
	assert_memory_equal(rgb, swapped, 12);
	ipkvm_frame_unref(f);
}

/* Every Y, U, V (a 4096x4096 frame: 128 pixel pairs for each U, V, so every Y once) against
 * the Q16 arithmetic written out: the table-driven conversion gives the same bytes. */
static void test_rgb_from_yuv_exhaustive(void **state)
{
	(void)state;
	for (int uyvy = 0; uyvy < 2; uyvy++) {
		struct ipkvm_frame *f =
		    frame_with(uyvy ? IPKVM_FMT_UYVY : IPKVM_FMT_YUYV, 4096, 4096);
		unsigned yo = (unsigned)uyvy, co = 1 - yo;
		for (size_t pair = 0; pair < (size_t)65536 * 128; pair++) {
			uint8_t *g = f->data + pair * 4; /* packed: stride is 4096 * 2 */
			unsigned uv = (unsigned)(pair >> 7), p = pair & 127;
			g[yo] = (uint8_t)(2 * p);
			g[yo + 2] = (uint8_t)(2 * p + 1);
			g[co] = (uint8_t)(uv >> 8);
			g[co + 2] = (uint8_t)uv;
		}
		assert_int_equal(f->stride, 4096 * 2);
		uint8_t *rgb = malloc((size_t)4096 * 4096 * 3);
		assert_non_null(rgb);
		ipkvm_frame_to_rgb24(f, rgb);
		const uint8_t *q = rgb;
		for (int uv = 0; uv < 65536; uv++) {
			int du = (uv >> 8) - 128, dv = (uv & 255) - 128;
			for (int yv = 0; yv < 256; yv++, q += 3) {
				int64_t c = (int64_t)(yv - 16) * 76309 + 32768;
				int64_t v[3] = {c + 104597 * dv, c - 25675 * du - 53279 * dv,
						c + 132201 * du};
				for (int k = 0; k < 3; k++) {
					int64_t want = v[k] <= 0	  ? 0
						       : v[k] >> 16 > 255 ? 255
									  : v[k] >> 16;
					if (q[k] != want)
						fail_msg("Y %d U %d V %d channel %d: %u, want %lld",
							 yv, du + 128, dv + 128, k, q[k],
							 (long long)want);
				}
			}
		}
		free(rgb);
		ipkvm_frame_unref(f);
	}
}

/* A segment of a line (any start, any length, odd widths) is exactly that part of the
 * whole frame's conversion. */
static void test_rgb_row_segments(void **state)
{
	(void)state;
	const enum ipkvm_pixfmt fmts[] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY, IPKVM_FMT_RGB24,
					  IPKVM_FMT_BGR24};
	for (size_t k = 0; k < 4; k++)
		for (unsigned w = 13; w <= 14; w++) {
			struct ipkvm_frame *f = frame_with(fmts[k], w, 3);
			for (size_t i = 0; i < f->size; i++)
				f->data[i] = rnd8();
			uint8_t full[14 * 3 * 3], seg[14 * 3 + 3];
			ipkvm_frame_to_rgb24(f, full);
			for (unsigned y = 0; y < 3; y++)
				for (unsigned x = 0; x <= w; x++)
					for (unsigned n = 0; x + n <= w; n++) {
						memset(seg, 0xA5, sizeof(seg));
						ipkvm_frame_row_to_rgb24(f, x, y, n, seg);
						assert_memory_equal(seg, full + (y * w + x) * 3,
								    (size_t)n * 3);
						assert_int_equal(seg[n * 3], 0xA5);
					}
			ipkvm_frame_unref(f);
		}
}

/* ---- encoding ---- */

static void test_encode_all_formats(void **state)
{
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	assert_non_null(j);
	const enum ipkvm_pixfmt fmts[] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY, IPKVM_FMT_RGB24,
					  IPKVM_FMT_BGR24};
	for (size_t k = 0; k < 4; k++) {
		struct ipkvm_frame *f = frame_with(fmts[k], 64, 48);
		fill_pattern(f);
		encode_check(j, f, 90, false, 6.0);
		encode_check(j, f, 90, true, 6.0);
		size_t lo = encode_check(j, f, 30, false, 12.0);
		size_t hi = encode_check(j, f, 95, false, 6.0);
		assert_true(lo < hi);
		ipkvm_frame_unref(f);
	}
	ipkvm_jpeg_destroy(j);
}

/* Odd heights (the last 4:2:0 line alone), odd RGB widths, padded strides, and one encoder
 * going through geometries larger and smaller (scratch growth). */
static void test_encode_geometries(void **state)
{
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	assert_non_null(j);

	struct ipkvm_frame *f = frame_with(IPKVM_FMT_YUYV, 64, 47);
	fill_pattern(f);
	encode_check(j, f, 90, true, 6.0);
	encode_check(j, f, 90, false, 6.0);
	ipkvm_frame_unref(f);

	f = frame_with(IPKVM_FMT_UYVY, 160, 96);
	fill_pattern(f);
	encode_check(j, f, 90, false, 6.0);
	ipkvm_frame_unref(f);

	f = frame_with(IPKVM_FMT_RGB24, 63, 47);
	fill_pattern(f);
	encode_check(j, f, 90, true, 6.0);
	ipkvm_frame_unref(f);

	/* stride 160 for 64 pixels of YUYV: padding holds noise that must not show */
	f = frame_with(IPKVM_FMT_YUYV, 80, 48);
	for (size_t i = 0; i < f->size; i++)
		f->data[i] = rnd8();
	f->width = 64;
	fill_pattern(f);
	encode_check(j, f, 90, false, 6.0);
	encode_check(j, f, 90, true, 6.0);
	ipkvm_frame_unref(f);

	f = frame_with(IPKVM_FMT_BGR24, 16, 8);
	fill_pattern(f);
	encode_check(j, f, 90, false, 8.0);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_destroy(j);
}

/* Limited-range input comes out full range: Y 16 is black, Y 235 white, not 16 and 235. */
static void test_encode_expands_range(void **state)
{
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	assert_non_null(j);
	const uint8_t levels[2] = {16, 235};
	for (int s420 = 0; s420 <= 1; s420++) {
		for (int k = 0; k < 2; k++) {
			struct ipkvm_frame *f = frame_with(IPKVM_FMT_YUYV, 32, 16);
			for (size_t i = 0; i < f->size; i += 2) {
				f->data[i] = levels[k];
				f->data[i + 1] = 128;
			}
			struct ipkvm_buf *b;
			assert_int_equal(ipkvm_jpeg_encode(j, f, 90, s420, &b), 0);
			int w, h, samp;
			uint8_t *rgb = decode(b->data, b->len, &w, &h, &samp);
			for (int i = 0; i < w * h * 3; i++) {
				if (k == 0)
					assert_in_range(rgb[i], 0, 1);
				else
					assert_in_range(rgb[i], 254, 255);
			}
			free(rgb);
			ipkvm_buf_unref(b);
			ipkvm_frame_unref(f);
		}
	}
	ipkvm_jpeg_destroy(j);
}

static void test_encode_rejects(void **state)
{
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	assert_non_null(j);
	struct ipkvm_buf *b = (struct ipkvm_buf *)&b; /* must be reset to NULL */

	struct ipkvm_frame *m = ipkvm_frame_new(IPKVM_FMT_MJPEG, 64, 48, 1000);
	assert_non_null(m);
	m->size = 1000;
	memset(m->data, 0, 1000);
	assert_int_equal(ipkvm_jpeg_encode(j, m, 80, false, &b), -EINVAL);
	assert_null(b);
	ipkvm_frame_unref(m);

	struct ipkvm_frame *f = frame_with(IPKVM_FMT_YUYV, 63, 48); /* odd width */
	fill_pattern(f);
	assert_int_equal(ipkvm_jpeg_encode(j, f, 80, false, &b), -EINVAL);
	assert_int_equal(ipkvm_jpeg_encode(j, f, 80, true, &b), -EINVAL);
	f->format = IPKVM_FMT_UYVY;
	assert_int_equal(ipkvm_jpeg_encode(j, f, 80, false, &b), -EINVAL);
	ipkvm_frame_unref(f);

	f = frame_with(IPKVM_FMT_YUYV, 64, 48);
	fill_pattern(f);
	assert_int_equal(ipkvm_jpeg_encode(j, f, 0, false, &b), -EINVAL);
	assert_int_equal(ipkvm_jpeg_encode(j, f, 101, false, &b), -EINVAL);
	f->stride = 100; /* shorter than a line */
	assert_int_equal(ipkvm_jpeg_encode(j, f, 80, false, &b), -EINVAL);
	f->stride = 128;
	f->size = 128 * 47; /* data shorter than the picture */
	assert_int_equal(ipkvm_jpeg_encode(j, f, 80, false, &b), -EINVAL);
	f->size = 128 * 48;
	f->height = 0;
	assert_int_equal(ipkvm_jpeg_encode(j, f, 80, false, &b), -EINVAL);
	assert_null(b);
	f->height = 48;
	assert_int_equal(ipkvm_jpeg_encode(j, f, 80, false, &b), 0); /* and still works */
	ipkvm_buf_unref(b);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_destroy(j);
	ipkvm_jpeg_destroy(NULL);
}

/* ---- MJPEG ---- */

/* A baseline JPEG from TurboJPEG (standard tables, 4:2:2), tjFree'd by the caller. */
static uint8_t *make_jpeg(unsigned w, unsigned h, size_t *len)
{
	struct ipkvm_frame *f = frame_with(IPKVM_FMT_RGB24, w, h);
	fill_pattern(f);
	tjhandle c = tjInitCompress();
	assert_non_null(c);
	unsigned char *jpeg = NULL;
	unsigned long n = 0;
	assert_int_equal(
	    tjCompress2(c, f->data, (int)w, 0, (int)h, TJPF_RGB, &jpeg, &n, TJSAMP_422, 85, 0), 0);
	tjDestroy(c);
	ipkvm_frame_unref(f);
	*len = n;
	return jpeg;
}

/* Walks marker segments to SOS: calls fn for each (offset of FF, marker, total bytes). */
static size_t walk(const uint8_t *d, size_t len,
		   void (*fn)(void *ctx, size_t at, uint8_t m, size_t n), void *ctx)
{
	size_t p = 2;
	for (;;) {
		assert_true(p + 4 <= len);
		assert_int_equal(d[p], 0xFF);
		uint8_t m = d[p + 1];
		size_t n = 2 + ((size_t)d[p + 2] << 8 | d[p + 3]);
		fn(ctx, p, m, n);
		if (m == 0xDA)
			return p;
		p += n;
	}
}

struct strip {
	const uint8_t *src;
	uint8_t *out;
	size_t len;
	int dht_seen;
};

static void strip_fn(void *ctx, size_t at, uint8_t m, size_t n)
{
	struct strip *s = ctx;
	if (m == 0xC4) {
		s->dht_seen++;
		return;
	}
	memcpy(s->out + s->len, s->src + at, n);
	s->len += n;
}

/* A copy of the JPEG without its DHT segments (malloc'd). */
static uint8_t *strip_dht(const uint8_t *d, size_t len, size_t *out_len, int *removed)
{
	struct strip s = {.src = d, .out = malloc(len)};
	assert_non_null(s.out);
	memcpy(s.out, d, 2);
	s.len = 2;
	size_t sos = walk(d, len, strip_fn, &s);
	size_t sos_len = 2 + ((size_t)d[sos + 2] << 8 | d[sos + 3]);
	/* the SOS segment was copied by strip_fn; now the entropy data to the end */
	memcpy(s.out + s.len, d + sos + sos_len, len - sos - sos_len);
	s.len += len - sos - sos_len;
	*out_len = s.len;
	*removed = s.dht_seen;
	return s.out;
}

/* Huffman tables of a JPEG by Tc/Th (index Tc * 2 + Th): Tc/Th, BITS, HUFFVAL bytes. */
struct tables {
	const uint8_t *d;
	uint8_t t[4][1 + 16 + 256];
	size_t n[4];
	size_t first_dht, first_sof;
	int segments;
};

static void tables_fn(void *ctx, size_t at, uint8_t m, size_t n)
{
	struct tables *t = ctx;
	if ((m == 0xC0 || m == 0xC1 || m == 0xC2) && !t->first_sof)
		t->first_sof = at;
	if (m != 0xC4)
		return;
	if (!t->segments++)
		t->first_dht = at;
	size_t p = at + 4, end = at + n;
	while (p < end) {
		uint8_t tcth = t->d[p];
		size_t count = 0;
		for (int i = 1; i <= 16; i++)
			count += t->d[p + i];
		int idx = (tcth >> 4) * 2 + (tcth & 15);
		assert_in_range(idx, 0, 3);
		assert_true(p + 17 + count <= end);
		memcpy(t->t[idx], t->d + p, 17 + count);
		t->n[idx] = 17 + count;
		p += 17 + count;
	}
	assert_int_equal(p, end);
}

static void get_tables(const uint8_t *d, size_t len, struct tables *t)
{
	memset(t, 0, sizeof(*t));
	t->d = d;
	walk(d, len, tables_fn, t);
}

static struct ipkvm_frame *mjpeg_frame(const uint8_t *d, size_t len, unsigned w, unsigned h)
{
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_MJPEG, w, h, len ? len : 1);
	assert_non_null(f);
	memcpy(f->data, d, len);
	f->size = len;
	return f;
}

static void test_mjpeg_inserts_standard_tables(void **state)
{
	size_t len, slen;
	int removed;
	uint8_t *jpeg = make_jpeg(64, 48, &len);
	uint8_t *stripped = strip_dht(jpeg, len, &slen, &removed);
	assert_true(removed >= 1);
	struct tables orig, none;
	get_tables(jpeg, len, &orig);
	get_tables(stripped, slen, &none);
	assert_int_equal(none.segments, 0);
	for (int i = 0; i < 4; i++)
		assert_true(orig.n[i] > 17); /* TurboJPEG wrote all four */

	struct ipkvm_frame *f = mjpeg_frame(stripped, slen, 64, 48);
	struct ipkvm_buf *b = NULL;
	assert_int_equal(ipkvm_jpeg_from_mjpeg(f, &b), 0);
	assert_non_null(b);
	/* one DHT segment of 2 + 418 bytes right before the SOF, everything else unchanged */
	assert_int_equal(b->len, slen + 420);
	struct tables got;
	get_tables(b->data, b->len, &got);
	assert_int_equal(got.segments, 1);
	assert_int_equal(got.first_dht + 420, got.first_sof);
	const uint8_t head[4] = {0xFF, 0xC4, 0x01, 0xA2};
	assert_memory_equal(b->data + got.first_dht, head, 4);
	assert_memory_equal(b->data, stripped, got.first_dht);
	assert_memory_equal(b->data + got.first_dht + 420, stripped + got.first_dht,
			    slen - got.first_dht);
	/* the same tables TurboJPEG wrote (it uses those of Annex K.3) */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(got.n[i], orig.n[i]);
		assert_memory_equal(got.t[i], orig.t[i], orig.n[i]);
	}
	/* and the same pixels */
	int w1, h1, w2, h2, s1, s2;
	uint8_t *a = decode(jpeg, len, &w1, &h1, &s1);
	uint8_t *c = decode(b->data, b->len, &w2, &h2, &s2);
	assert_int_equal(w1, w2);
	assert_int_equal(h1, h2);
	assert_memory_equal(a, c, (size_t)w1 * h1 * 3);

	free(a);
	free(c);
	ipkvm_buf_unref(b);
	ipkvm_frame_unref(f);
	free(stripped);
	tjFree(jpeg);
}

static void test_mjpeg_with_tables_passes_through(void **state)
{
	size_t len;
	uint8_t *jpeg = make_jpeg(64, 48, &len);
	struct ipkvm_frame *f = mjpeg_frame(jpeg, len, 64, 48);
	struct ipkvm_buf *b;
	assert_int_equal(ipkvm_jpeg_from_mjpeg(f, &b), 0);
	assert_int_equal(b->len, len);
	assert_memory_equal(b->data, jpeg, len);
	ipkvm_buf_unref(b);
	ipkvm_frame_unref(f);

	/* devices pad frames after EOI: accepted and kept as they are */
	uint8_t *padded = calloc(1, len + 100);
	assert_non_null(padded);
	memcpy(padded, jpeg, len);
	f = mjpeg_frame(padded, len + 100, 64, 48);
	assert_int_equal(ipkvm_jpeg_from_mjpeg(f, &b), 0);
	assert_int_equal(b->len, len + 100);
	assert_memory_equal(b->data, padded, len + 100);
	ipkvm_buf_unref(b);
	ipkvm_frame_unref(f);
	free(padded);
	tjFree(jpeg);
}

static int from_bytes(const uint8_t *d, size_t len)
{
	struct ipkvm_frame *f = mjpeg_frame(d, len, 64, 48);
	struct ipkvm_buf *b = (struct ipkvm_buf *)&b;
	int ret = ipkvm_jpeg_from_mjpeg(f, &b);
	if (ret == 0)
		ipkvm_buf_unref(b);
	else
		assert_null(b);
	ipkvm_frame_unref(f);
	return ret;
}

static void test_mjpeg_rejects_truncated_and_garbage(void **state)
{
	size_t len, slen;
	int removed;
	uint8_t *jpeg = make_jpeg(64, 48, &len);
	uint8_t *stripped = strip_dht(jpeg, len, &slen, &removed);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(from_bytes(jpeg, n), -EINVAL);
	for (size_t n = 0; n < slen; n++)
		assert_int_equal(from_bytes(stripped, n), -EINVAL);
	assert_int_equal(from_bytes(stripped, slen), 0);

	uint8_t junk[512];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = rnd8();
	assert_int_equal(from_bytes(junk, sizeof(junk)), -EINVAL);
	junk[0] = 0xFF;
	junk[1] = 0xD8;
	junk[2] = 0x12; /* not a marker */
	assert_int_equal(from_bytes(junk, sizeof(junk)), -EINVAL);

	const uint8_t soi_eoi[] = {0xFF, 0xD8, 0xFF, 0xD9};
	assert_int_equal(from_bytes(soi_eoi, sizeof(soi_eoi)), -EINVAL);
	const uint8_t long_seg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x40, 0x00, 'J', 'F', 0xFF, 0xD9};
	assert_int_equal(from_bytes(long_seg, sizeof(long_seg)), -EINVAL);
	const uint8_t short_len[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0xFF, 0xD9};
	assert_int_equal(from_bytes(short_len, sizeof(short_len)), -EINVAL);
	/* a scan with no frame header before it */
	const uint8_t no_sof[] = {0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01,
				  0x00, 0x00, 0x3F, 0x00, 0x12, 0x34, 0xFF, 0xD9};
	assert_int_equal(from_bytes(no_sof, sizeof(no_sof)), -EINVAL);

	/* not an MJPEG frame */
	struct ipkvm_frame *f = frame_with(IPKVM_FMT_YUYV, 64, 48);
	memset(f->data, 0, f->size);
	memcpy(f->data, jpeg, 64);
	struct ipkvm_buf *b;
	assert_int_equal(ipkvm_jpeg_from_mjpeg(f, &b), -EINVAL);
	ipkvm_frame_unref(f);
	free(stripped);
	tjFree(jpeg);
}

static void test_jpeg_size(void **state)
{
	const unsigned dims[3][2] = {{64, 48}, {63, 47}, {1, 300}};
	for (int k = 0; k < 3; k++) {
		size_t len, slen;
		int removed;
		uint8_t *jpeg = make_jpeg(dims[k][0], dims[k][1], &len);
		unsigned w = 0, h = 0;
		assert_int_equal(ipkvm_jpeg_size(jpeg, len, &w, &h), 0);
		assert_int_equal(w, dims[k][0]);
		assert_int_equal(h, dims[k][1]);
		uint8_t *stripped = strip_dht(jpeg, len, &slen, &removed);
		assert_int_equal(ipkvm_jpeg_size(stripped, slen, &w, &h), 0);
		assert_int_equal(w, dims[k][0]);
		assert_int_equal(h, dims[k][1]);

		/* cut inside the SOF segment: refused; cut right after it: enough */
		struct tables t;
		get_tables(jpeg, len, &t);
		size_t sof_end =
		    t.first_sof + 2 + ((size_t)jpeg[t.first_sof + 2] << 8 | jpeg[t.first_sof + 3]);
		assert_int_equal(ipkvm_jpeg_size(jpeg, sof_end - 1, &w, &h), -EINVAL);
		w = h = 0;
		assert_int_equal(ipkvm_jpeg_size(jpeg, sof_end, &w, &h), 0);
		assert_int_equal(w, dims[k][0]);
		free(stripped);
		tjFree(jpeg);
	}
	unsigned w, h;
	const uint8_t junk[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05};
	assert_int_equal(ipkvm_jpeg_size(junk, sizeof(junk), &w, &h), -EINVAL);
	assert_int_equal(ipkvm_jpeg_size(NULL, 0, &w, &h), -EINVAL);
	/* SOF0 with height 0 (DNL) */
	const uint8_t zero_h[] = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00,
				  0x00, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00};
	assert_int_equal(ipkvm_jpeg_size(zero_h, sizeof(zero_h), &w, &h), -EINVAL);
	/* a progressive SOF2 is read as well */
	const uint8_t sof2[] = {0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x0B, 0x08, 0x01,
				0x02, 0x03, 0x04, 0x01, 0x01, 0x11, 0x00};
	assert_int_equal(ipkvm_jpeg_size(sof2, sizeof(sof2), &w, &h), 0);
	assert_int_equal(w, 0x0304);
	assert_int_equal(h, 0x0102);
}

static void test_mjpeg_to_rgb24(void **state)
{
	size_t len;
	uint8_t *jpeg = make_jpeg(64, 48, &len);
	int w, h, s;
	uint8_t *want = decode(jpeg, len, &w, &h, &s);
	struct ipkvm_frame *f = mjpeg_frame(jpeg, len, 64, 48);
	uint8_t *rgb = malloc(64 * 48 * 3);
	assert_non_null(rgb);
	ipkvm_frame_to_rgb24(f, rgb);
	assert_memory_equal(rgb, want, 64 * 48 * 3);
	/* a frame whose size does not match its JPEG: black rather than garbage */
	f->width = 32;
	f->height = 24;
	memset(rgb, 0x55, 32 * 24 * 3);
	ipkvm_frame_to_rgb24(f, rgb);
	for (int i = 0; i < 32 * 24 * 3; i++)
		assert_int_equal(rgb[i], 0);
	free(rgb);
	free(want);
	ipkvm_frame_unref(f);
	tjFree(jpeg);
}

/* ---- PNG ---- */

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return ~c;
}

static uint32_t adler32_simple(const uint8_t *p, size_t n)
{
	uint32_t a = 1, b = 0;
	for (size_t i = 0; i < n; i++) {
		a = (a + p[i]) % 65521;
		b = (b + a) % 65521;
	}
	return b << 16 | a;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_png_exact_3x2(void **state)
{
	const uint8_t px[18] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252, 0, 0, 0, 255, 128, 64};
	struct ipkvm_buf *b = NULL;
	assert_int_equal(ipkvm_png_encode_rgb24(px, 3, 2, &b), 0);
	assert_int_equal(b->len, 8 + 25 + (12 + 31) + 12);
	const uint8_t *p = b->data;

	const uint8_t sig[8] = {0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A};
	assert_memory_equal(p, sig, 8);
	const uint8_t ihdr[21] = {0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0,
				  3, 0, 0, 0,  2,   8,	 2,   0,   0, 0};
	assert_memory_equal(p + 8, ihdr, 21);
	assert_int_equal(be32(p + 29), crc32_bitwise(p + 12, 17));

	const uint8_t *idat = p + 33;
	assert_int_equal(be32(idat), 31);
	assert_memory_equal(idat + 4, "IDAT", 4);
	/* zlib header, one final stored block of 20 bytes, the two filtered lines */
	const uint8_t z[27] = {0x78, 0x01, 0x01, 20, 0,	  0xEB, 0xFF, 0, 1, 2, 3,   4,	 5, 6,
			       7,    8,	   9,	 0,  250, 251,	252,  0, 0, 0, 255, 128, 64};
	assert_memory_equal(idat + 8, z, 27);
	assert_int_equal((0x78 * 256 + 0x01) % 31, 0);
	assert_int_equal(be32(idat + 8 + 27), adler32_simple(z + 7, 20));
	assert_int_equal(be32(idat + 8 + 31), crc32_bitwise(idat + 4, 4 + 31));

	const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
	assert_memory_equal(p + 33 + 43, iend, 12);
	ipkvm_buf_unref(b);
}

/* A picture over 64 KiB of raw data: several stored blocks, parsed back here. */
static void test_png_multiblock_roundtrip(void **state)
{
	const unsigned w = 200, h = 120;
	uint8_t *px = malloc(w * h * 3);
	assert_non_null(px);
	for (size_t i = 0; i < (size_t)w * h * 3; i++)
		px[i] = rnd8();
	struct ipkvm_buf *b;
	assert_int_equal(ipkvm_png_encode_rgb24(px, w, h, &b), 0);

	/* walk the chunks, checking every CRC and collecting the IDAT data */
	size_t p = 8, zlen = 0;
	uint8_t *zs = malloc(b->len);
	assert_non_null(zs);
	int chunks = 0;
	bool iend = false;
	while (p < b->len) {
		assert_true(p + 12 <= b->len);
		uint32_t n = be32(b->data + p);
		assert_true(p + 12 + n <= b->len);
		assert_int_equal(be32(b->data + p + 8 + n), crc32_bitwise(b->data + p + 4, 4 + n));
		if (memcmp(b->data + p + 4, "IDAT", 4) == 0) {
			memcpy(zs + zlen, b->data + p + 8, n);
			zlen += n;
		}
		iend = memcmp(b->data + p + 4, "IEND", 4) == 0;
		chunks++;
		p += 12 + n;
	}
	assert_int_equal(p, b->len);
	assert_true(iend);
	assert_int_equal(chunks, 3);
	assert_int_equal(be32(b->data + 16), w);
	assert_int_equal(be32(b->data + 20), h);

	/* inflate the stored blocks */
	size_t raw_len = (size_t)h * (1 + 3 * w);
	uint8_t *raw = malloc(raw_len);
	assert_non_null(raw);
	assert_int_equal((zs[0] * 256 + zs[1]) % 31, 0);
	assert_int_equal(zs[0] & 15, 8);
	size_t q = 2, got = 0;
	int blocks = 0;
	for (;;) {
		uint8_t hdr = zs[q];
		assert_int_equal(hdr & 6, 0); /* BTYPE 00 */
		unsigned len = zs[q + 1] | zs[q + 2] << 8, nlen = zs[q + 3] | zs[q + 4] << 8;
		assert_int_equal(len ^ nlen, 0xFFFF);
		assert_true(got + len <= raw_len);
		memcpy(raw + got, zs + q + 5, len);
		got += len;
		q += 5 + len;
		blocks++;
		if (hdr & 1)
			break;
	}
	assert_int_equal(blocks, 2);
	assert_int_equal(got, raw_len);
	assert_int_equal(q + 4, zlen);
	assert_int_equal(be32(zs + q), adler32_simple(raw, raw_len));
	for (unsigned r = 0; r < h; r++) {
		assert_int_equal(raw[r * (1 + 3 * w)], 0);
		assert_memory_equal(raw + r * (1 + 3 * w) + 1, px + r * 3 * w, 3 * w);
	}
	free(raw);
	free(zs);
	ipkvm_buf_unref(b);

	assert_int_equal(ipkvm_png_encode_rgb24(px, 0, 5, &b), -EINVAL);
	assert_int_equal(ipkvm_png_encode_rgb24(px, 5, 0, &b), -EINVAL);
	assert_null(b);
	free(px);
}

/* ---- change detection ---- */

static void test_frame_differs(void **state)
{
	struct ipkvm_frame *a = frame_with(IPKVM_FMT_YUYV, 64, 48);
	struct ipkvm_frame *b = frame_with(IPKVM_FMT_YUYV, 64, 48);
	fill_pattern(a);
	memcpy(b->data, a->data, a->size);
	assert_false(ipkvm_frame_differs(a, b));
	assert_false(ipkvm_frame_differs(a, a));
	b->data[b->size - 1] ^= 1; /* the last pixel */
	assert_true(ipkvm_frame_differs(a, b));
	b->data[b->size - 1] ^= 1;
	b->data[0] ^= 0x80; /* the first */
	assert_true(ipkvm_frame_differs(a, b));
	b->data[0] ^= 0x80;

	b->format = IPKVM_FMT_UYVY; /* same bytes, other format */
	assert_true(ipkvm_frame_differs(a, b));
	b->format = IPKVM_FMT_YUYV;
	b->width = 32; /* same bytes, other geometry */
	b->height = 96;
	b->stride = 64;
	assert_true(ipkvm_frame_differs(a, b));
	ipkvm_frame_unref(b);

	/* padded lines: padding may differ, pixels decide */
	struct ipkvm_frame *c = frame_with(IPKVM_FMT_YUYV, 80, 48);
	memset(c->data, 0x77, c->size);
	c->width = 64;
	for (unsigned r = 0; r < 48; r++)
		memcpy(c->data + r * c->stride, a->data + r * a->stride, a->stride);
	assert_false(ipkvm_frame_differs(a, c));
	c->data[47 * c->stride + 127] ^= 1; /* last byte of the last pixel */
	assert_true(ipkvm_frame_differs(a, c));
	assert_true(ipkvm_frame_differs(c, a));
	ipkvm_frame_unref(c);
	ipkvm_frame_unref(a);

	/* MJPEG: the bytes in use */
	const uint8_t j1[] = {0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9};
	struct ipkvm_frame *m1 = mjpeg_frame(j1, sizeof(j1), 64, 48);
	struct ipkvm_frame *m2 = mjpeg_frame(j1, sizeof(j1), 64, 48);
	assert_false(ipkvm_frame_differs(m1, m2));
	m2->data[3] = 9;
	assert_true(ipkvm_frame_differs(m1, m2));
	m2->data[3] = 2;
	m2->size--;
	assert_true(ipkvm_frame_differs(m1, m2));
	ipkvm_frame_unref(m1);
	ipkvm_frame_unref(m2);
}

/* ---- strips ---- */

static void test_strip_plan(void **state)
{
	unsigned rows = 0;
	/* 1080 rows of 4:2:2 (8-row MCUs, 135 of them): 68 + 67 MCU rows */
	assert_int_equal(ipkvm_jpeg_strip_plan(1920, 1080, false, 2, &rows), 2);
	assert_int_equal(rows, 544);
	/* 4:2:0 (16-row MCUs, 68 of them): 34 + 34, the last 1080 - 544 = 536 rows */
	assert_int_equal(ipkvm_jpeg_strip_plan(1920, 1080, true, 2, &rows), 2);
	assert_int_equal(rows, 544);
	assert_int_equal(ipkvm_jpeg_strip_plan(1920, 1080, false, 4, &rows), 4);
	assert_int_equal(rows, 272);
	/* 768 rows: 96 MCU rows in 8 strips of 12, 5 strips of 20 (the last 16) */
	assert_int_equal(ipkvm_jpeg_strip_plan(1366, 768, false, 8, &rows), 8);
	assert_int_equal(rows, 96);
	assert_int_equal(ipkvm_jpeg_strip_plan(1366, 768, false, 5, &rows), 5);
	assert_int_equal(rows, 160);
	/* a ceiling can leave fewer strips than asked: 5 MCU rows in 4 is 2 + 2 + 1 */
	assert_int_equal(ipkvm_jpeg_strip_plan(64, 40, false, 4, &rows), 3);
	assert_int_equal(rows, 16);
	/* never more strips than MCU rows, nor more than the maximum */
	assert_int_equal(ipkvm_jpeg_strip_plan(64, 24, true, 8, &rows), 2);
	assert_int_equal(rows, 16);
	assert_int_equal(ipkvm_jpeg_strip_plan(64, 4096, false, 100, &rows), IPKVM_JPEG_MAX_STRIPS);
	assert_int_equal(rows, 256);
	/* one piece: asked for none or one, one MCU row, or an interval over 65535 MCUs */
	rows = 0;
	assert_int_equal(ipkvm_jpeg_strip_plan(1920, 1080, false, 1, &rows), 1);
	assert_int_equal(rows, 1080);
	assert_int_equal(ipkvm_jpeg_strip_plan(1920, 1080, false, 0, &rows), 1);
	assert_int_equal(ipkvm_jpeg_strip_plan(64, 8, false, 4, &rows), 1);
	assert_int_equal(rows, 8);
	assert_int_equal(ipkvm_jpeg_strip_plan(65520, 1080, false, 2, &rows), 1);
	assert_int_equal(rows, 1080);
}

/*
 * Checks the layout of a joined JPEG of n strips of rows (the last possibly fewer) for a
 * width x height frame: SOI, headers with one DRI (the MCUs of one strip) before SOS and a
 * SOF0 of the full size, then entropy-coded data in which the only markers are RST0..RST7
 * in turn, n - 1 of them, and EOI as the last two bytes. One strip: no DRI and no RSTn.
 */
static void check_layout(const struct ipkvm_buf *b, unsigned width, unsigned height, bool s420,
			 unsigned n, unsigned rows)
{
	const uint8_t *d = b->data;
	size_t len = b->len;
	assert_true(len > 4);
	assert_int_equal(d[0], 0xFF);
	assert_int_equal(d[1], 0xD8);
	size_t p = 2;
	int dri = -1;
	bool sof = false;
	for (;;) {
		assert_true(p + 4 <= len);
		assert_int_equal(d[p], 0xFF);
		uint8_t m = d[p + 1];
		size_t seglen = (size_t)d[p + 2] << 8 | d[p + 3];
		assert_true(p + 2 + seglen <= len);
		if (m == 0xC0) {
			assert_false(sof);
			sof = true;
			assert_int_equal((unsigned)d[p + 5] << 8 | d[p + 6], height);
			assert_int_equal((unsigned)d[p + 7] << 8 | d[p + 8], width);
		} else if (m == 0xDD) {
			assert_int_equal(dri, -1);
			assert_int_equal(seglen, 4);
			dri = d[p + 4] << 8 | d[p + 5];
		} else if (m == 0xDA) {
			assert_true(sof);
			p += 2 + seglen;
			break;
		} else {
			/* APP0 (JFIF), DQT, DHT: nothing else in our encoder's headers */
			assert_true(m == 0xE0 || m == 0xDB || m == 0xC4);
		}
		p += 2 + seglen;
	}
	if (n == 1) {
		assert_int_equal(dri, -1);
	} else {
		unsigned mcu_h = s420 ? 16 : 8;
		assert_int_equal(rows % mcu_h, 0);
		assert_int_equal(dri, (int)((width + 15) / 16 * (rows / mcu_h)));
	}
	unsigned rst = 0;
	for (; p + 1 < len - 2; p++) {
		if (d[p] != 0xFF)
			continue;
		uint8_t m = d[p + 1];
		if (m == 0x00) {
			p++;
			continue;
		}
		if (m < 0xD0 || m > 0xD7)
			fail_msg("marker FF %02X inside the scan at %zu", m, p);
		assert_int_equal(m, 0xD0 + rst % 8);
		rst++;
		p++;
	}
	assert_int_equal(rst, n - 1);
	assert_int_equal(d[len - 2], 0xFF);
	assert_int_equal(d[len - 1], 0xD9);
}

/* f cut into n strips as the plan says, each encoded alone, then joined. Returns the strips
 * made (0 when the plan made a different count) and the rows of each in *rows. */
static struct ipkvm_buf *encode_strips(struct ipkvm_jpeg *const *enc, const struct ipkvm_frame *f,
				       int q, bool s420, unsigned want, unsigned *n, unsigned *rows)
{
	*n = ipkvm_jpeg_strip_plan(f->width, f->height, s420, want, rows);
	struct ipkvm_buf *pieces[IPKVM_JPEG_MAX_STRIPS] = {0};
	for (unsigned i = 0; i < *n; i++) {
		unsigned r0 = i * *rows;
		unsigned h = i == *n - 1 ? f->height - r0 : *rows;
		/* encoders taken in turn, as the workers would */
		assert_int_equal(ipkvm_jpeg_encode_rows(enc[i % 3], f, r0, h, q, s420, &pieces[i]),
				 0);
	}
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_join(pieces, *n, &out), 0);
	for (unsigned i = 0; i < *n; i++)
		ipkvm_buf_unref(pieces[i]);
	return out;
}

/* Decodes with the given TurboJPEG flags (0: fancy upsampling, as browsers do). */
static uint8_t *decode_flags(const struct ipkvm_buf *b, int flags, int w, int h)
{
	tjhandle d = tjInitDecompress();
	assert_non_null(d);
	uint8_t *rgb = malloc((size_t)w * h * 3);
	assert_non_null(rgb);
	/* a warning (a corrupt restart sequence, say) fails too */
	if (tjDecompress2(d, b->data, b->len, rgb, w, 0, h, TJPF_RGB, flags) != 0)
		fail_msg("decode: %s", tjGetErrorStr2(d));
	tjDestroy(d);
	return rgb;
}

/* The joined JPEG of every strip count 1..8 decodes to the single-piece encode's pixels
 * (fancy and plain upsampling both) and is well-formed. Returns how many of the strip
 * counts had a last strip shorter than the others. */
static unsigned check_frame_strips(struct ipkvm_jpeg *const *enc, const struct ipkvm_frame *f,
				   bool s420, bool all_counts)
{
	unsigned shorter = 0;
	int w = (int)f->width, h = (int)f->height;
	struct ipkvm_buf *whole = NULL;
	assert_int_equal(ipkvm_jpeg_encode(enc[0], f, 80, s420, &whole), 0);
	uint8_t *want = decode_flags(whole, 0, w, h);
	uint8_t *want_fast = decode_flags(whole, TJFLAG_FASTUPSAMPLE, w, h);
	for (unsigned k = 1; k <= 8; k++) {
		unsigned n, rows;
		struct ipkvm_buf *b = encode_strips(enc, f, 80, s420, k, &n, &rows);
		if (n == 1) /* one strip is the single-piece encode, byte for byte */
			assert_memory_equal(b->data, whole->data, whole->len);
		else if (all_counts) /* big frames have MCU rows enough for 8 strips */
			assert_int_equal(n, k);
		if (n > 1 && f->height - (n - 1) * rows < rows)
			shorter++;
		check_layout(b, f->width, f->height, s420, n, rows);
		uint8_t *got = decode_flags(b, 0, w, h);
		if (memcmp(got, want, (size_t)w * h * 3) != 0)
			fail_msg(
			    "%ux%u %s in %u strips: pixels differ from the single-piece encode",
			    f->width, f->height, s420 ? "4:2:0" : "4:2:2", n);
		free(got);
		got = decode_flags(b, TJFLAG_FASTUPSAMPLE, w, h);
		assert_memory_equal(got, want_fast, (size_t)w * h * 3);
		free(got);
		ipkvm_buf_unref(b);
	}
	free(want);
	free(want_fast);
	ipkvm_buf_unref(whole);
	return shorter;
}

static struct ipkvm_frame *pattern_frame(const char *scene, unsigned w, unsigned h, unsigned skip)
{
	char err[128] = "";
	struct ipkvm_pattern_config pc = {
	    .width = w, .height = h, .fps = 120, .format = IPKVM_FMT_YUYV, .scene = scene};
	struct ipkvm_source *s = ipkvm_source_pattern_create(&pc, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->start(s), 0);
	struct ipkvm_frame *f = NULL;
	for (unsigned got = 0; got <= skip;) {
		struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
		assert_int_equal(poll(&p, 1, 2000), 1);
		struct ipkvm_frame *g = NULL;
		int r = s->ops->next(s, &g);
		if (r == -EAGAIN)
			continue;
		assert_int_equal(r, 0);
		ipkvm_frame_unref(f);
		f = ipkvm_frame_keep(g); /* the static scene lends its own buffer */
		assert_non_null(f);
		ipkvm_source_done(s, g);
		got++;
	}
	s->ops->stop(s);
	s->ops->close(s);
	s->ops->destroy(s);
	return f;
}

static void test_strips_decode_identically(void **state)
{
	struct ipkvm_jpeg *enc[3];
	for (int i = 0; i < 3; i++)
		assert_non_null(enc[i] = ipkvm_jpeg_create());
	static const struct {
		const char *scene;
		unsigned w, h, skip;
	} cases[] = {
	    {"testcard", 1366, 768, 0}, {"desktop", 1280, 1024, 30}, {"static", 1920, 1080, 0},
	    {"desktop", 1920, 1080, 5}, {"testcard", 1280, 1024, 3}, {"desktop", 1366, 767, 12},
	};
	unsigned shorter = 0;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct ipkvm_frame *f =
		    pattern_frame(cases[c].scene, cases[c].w, cases[c].h, cases[c].skip);
		assert_int_equal(f->width, cases[c].w);
		assert_int_equal(f->height, cases[c].h);
		shorter += check_frame_strips(enc, f, false, true);
		shorter += check_frame_strips(enc, f, true, true);
		ipkvm_frame_unref(f);
	}
	assert_true(shorter >= 10); /* the short last strip was exercised, many times */
	for (int i = 0; i < 3; i++)
		ipkvm_jpeg_destroy(enc[i]);
}

/* The other raw formats and tiny, odd sizes: RGB (TurboJPEG's own colour conversion and
 * downsampling), UYVY, a padded stride, an odd width of RGB, an odd height. */
static void test_strips_other_formats(void **state)
{
	struct ipkvm_jpeg *enc[3];
	for (int i = 0; i < 3; i++)
		assert_non_null(enc[i] = ipkvm_jpeg_create());
	static const struct {
		enum ipkvm_pixfmt fmt;
		unsigned w, h;
	} cases[] = {
	    {IPKVM_FMT_RGB24, 63, 135},
	    {IPKVM_FMT_BGR24, 130, 129},
	    {IPKVM_FMT_UYVY, 66, 130},
	    {IPKVM_FMT_YUYV, 200, 137},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct ipkvm_frame *f = frame_with(cases[c].fmt, cases[c].w, cases[c].h);
		fill_pattern(f);
		for (size_t i = 0; i < f->size; i += 7) /* detail, so the AC codes matter */
			f->data[i] ^= rnd8() & 0x1F;
		check_frame_strips(enc, f, false, false);
		check_frame_strips(enc, f, true, false);
		ipkvm_frame_unref(f);
	}
	/* a padded stride: 64 pixels of YUYV in lines of 160 bytes of noise */
	struct ipkvm_frame *f = frame_with(IPKVM_FMT_YUYV, 80, 96);
	for (size_t i = 0; i < f->size; i++)
		f->data[i] = rnd8();
	f->width = 64;
	check_frame_strips(enc, f, false, false);
	check_frame_strips(enc, f, true, false);
	ipkvm_frame_unref(f);
	for (int i = 0; i < 3; i++)
		ipkvm_jpeg_destroy(enc[i]);
}

/* Strips that do not belong together are refused, and so are rows outside the frame. */
static void test_strips_rejects(void **state)
{
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	assert_non_null(j);
	struct ipkvm_frame *f = frame_with(IPKVM_FMT_YUYV, 64, 64);
	fill_pattern(f);
	struct ipkvm_buf *a = NULL, *b = NULL, *c = NULL, *out = (struct ipkvm_buf *)1;

	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 0, 0, 80, false, &a), -EINVAL);
	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 64, 8, 80, false, &a), -EINVAL);
	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 60, 8, 80, false, &a), -EINVAL);
	assert_null(a);

	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 0, 16, 80, false, &a), 0);
	/* a different quality: other DQT tables */
	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 16, 16, 70, false, &b), 0);
	struct ipkvm_buf *two[2] = {a, b};
	assert_int_equal(ipkvm_jpeg_join(two, 2, &out), -EINVAL);
	assert_null(out);
	ipkvm_buf_unref(b);
	/* a different subsampling */
	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 16, 16, 80, true, &b), 0);
	two[1] = b;
	assert_int_equal(ipkvm_jpeg_join(two, 2, &out), -EINVAL);
	ipkvm_buf_unref(b);
	/* a first strip not a multiple of the MCU height */
	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 0, 12, 80, false, &b), 0);
	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 12, 12, 80, false, &c), 0);
	struct ipkvm_buf *odd[2] = {b, c};
	assert_int_equal(ipkvm_jpeg_join(odd, 2, &out), -EINVAL);
	ipkvm_buf_unref(b);
	ipkvm_buf_unref(c);
	/* a middle strip of another height, a last strip taller than the first */
	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 16, 8, 80, false, &b), 0);
	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 24, 16, 80, false, &c), 0);
	struct ipkvm_buf *three[3] = {a, b, a};
	assert_int_equal(ipkvm_jpeg_join(three, 3, &out), -EINVAL);
	struct ipkvm_buf *tall[2] = {b, c};
	assert_int_equal(ipkvm_jpeg_join(tall, 2, &out), -EINVAL);
	/* a strip of another width (other MCUs a row) */
	struct ipkvm_frame *g = frame_with(IPKVM_FMT_YUYV, 48, 16);
	fill_pattern(g);
	ipkvm_buf_unref(c);
	assert_int_equal(ipkvm_jpeg_encode_rows(j, g, 0, 16, 80, false, &c), 0);
	struct ipkvm_buf *wide[2] = {a, c};
	assert_int_equal(ipkvm_jpeg_join(wide, 2, &out), -EINVAL);
	/* no strips, too many, a missing one, and bytes that are not a strip */
	assert_int_equal(ipkvm_jpeg_join(two, 0, &out), -EINVAL);
	assert_int_equal(ipkvm_jpeg_join(two, IPKVM_JPEG_MAX_STRIPS + 1, &out), -EINVAL);
	struct ipkvm_buf *missing[2] = {a, NULL};
	assert_int_equal(ipkvm_jpeg_join(missing, 2, &out), -EINVAL);
	struct ipkvm_buf *cut = ipkvm_buf_copy(a->data, a->len - 1); /* no EOI */
	struct ipkvm_buf *with_cut[2] = {a, cut};
	assert_int_equal(ipkvm_jpeg_join(with_cut, 2, &out), -EINVAL);
	ipkvm_buf_unref(cut);
	/* a strip that already has a restart interval */
	struct ipkvm_buf *d = ipkvm_buf_new(a->len + 6);
	size_t sos = 0;
	for (size_t p = 2; p + 1 < a->len; p++)
		if (a->data[p] == 0xFF && a->data[p + 1] == 0xDA) {
			sos = p;
			break;
		}
	assert_true(sos > 0);
	memcpy(d->data, a->data, sos);
	memcpy(d->data + sos, (const uint8_t[]){0xFF, 0xDD, 0, 4, 0, 8}, 6);
	memcpy(d->data + sos + 6, a->data + sos, a->len - sos);
	struct ipkvm_buf *with_dri[2] = {d, a};
	assert_int_equal(ipkvm_jpeg_join(with_dri, 2, &out), -EINVAL);
	assert_null(out);
	/* and the good pair joins */
	ipkvm_buf_unref(b);
	assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 16, 16, 80, false, &b), 0);
	two[1] = b;
	assert_int_equal(ipkvm_jpeg_join(two, 2, &out), 0);
	check_layout(out, 64, 32, false, 2, 16);
	ipkvm_buf_unref(out);

	ipkvm_buf_unref(d);
	ipkvm_buf_unref(a);
	ipkvm_buf_unref(b);
	ipkvm_buf_unref(c);
	ipkvm_frame_unref(g);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_destroy(j);
}

/* TurboJPEG reads TJ_OPTIMIZE, TJ_RESTART, TJ_ARITHMETIC and TJ_PROGRESSIVE from the
 * environment: strips made so (their own Huffman tables, their own restart markers, another
 * coding) do not join, and the join says so instead of making a broken image. */
static void test_strips_refused_under_turbojpeg_env(void **state)
{
	static const char *const vars[] = {"TJ_OPTIMIZE", "TJ_RESTART", "TJ_ARITHMETIC",
					   "TJ_PROGRESSIVE"};
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	assert_non_null(j);
	struct ipkvm_frame *f = frame_with(IPKVM_FMT_YUYV, 64, 32);
	fill_pattern(f);
	for (size_t i = 0; i < f->size; i += 3)
		f->data[i] ^= rnd8() & 0x3F; /* the two halves need other Huffman codes */
	for (size_t k = 0; k < sizeof(vars) / sizeof(vars[0]); k++) {
		assert_int_equal(setenv(vars[k], "1", 1), 0);
		struct ipkvm_buf *two[2] = {NULL, NULL}, *out = NULL;
		assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 0, 16, 80, false, &two[0]), 0);
		assert_int_equal(ipkvm_jpeg_encode_rows(j, f, 16, 16, 80, false, &two[1]), 0);
		if (ipkvm_jpeg_join(two, 2, &out) != -EINVAL)
			fail_msg("strips made with %s=1 were joined", vars[k]);
		assert_null(out);
		ipkvm_buf_unref(two[0]);
		ipkvm_buf_unref(two[1]);
		unsetenv(vars[k]);
	}
	ipkvm_frame_unref(f);
	ipkvm_jpeg_destroy(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_planar_yuyv_exact),
	    cmocka_unit_test(test_planar_uyvy_exact),
	    cmocka_unit_test(test_planar_wide_matches_reference),
	    cmocka_unit_test(test_rgb_from_yuv_values),
	    cmocka_unit_test(test_rgb_from_yuv_clamps),
	    cmocka_unit_test(test_rgb_from_rgb_and_bgr),
	    cmocka_unit_test(test_rgb_from_yuv_exhaustive),
	    cmocka_unit_test(test_rgb_row_segments),
	    cmocka_unit_test(test_encode_all_formats),
	    cmocka_unit_test(test_encode_geometries),
	    cmocka_unit_test(test_encode_expands_range),
	    cmocka_unit_test(test_encode_rejects),
	    cmocka_unit_test(test_mjpeg_inserts_standard_tables),
	    cmocka_unit_test(test_mjpeg_with_tables_passes_through),
	    cmocka_unit_test(test_mjpeg_rejects_truncated_and_garbage),
	    cmocka_unit_test(test_jpeg_size),
	    cmocka_unit_test(test_mjpeg_to_rgb24),
	    cmocka_unit_test(test_png_exact_3x2),
	    cmocka_unit_test(test_png_multiblock_roundtrip),
	    cmocka_unit_test(test_frame_differs),
	    cmocka_unit_test(test_strip_plan),
	    cmocka_unit_test(test_strips_decode_identically),
	    cmocka_unit_test(test_strips_other_formats),
	    cmocka_unit_test(test_strips_rejects),
	    cmocka_unit_test(test_strips_refused_under_turbojpeg_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
