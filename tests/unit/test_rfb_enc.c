/*
 * Unit tests for vnc/rfb_enc: the exact bytes of the update and rectangle headers and of
 * every pseudo-encoding rectangle, Tight's compact length at each boundary, PIXEL_FORMAT
 * parse/write round trips and refusals, changed tiles on crafted frames (none, one, merged
 * in a row, clipped at the edges, the cap's bounding box), Raw pixels of every source format
 * in several client pixel formats (packed here independently from the snapshot's RGB), the
 * ZRLE subencoding each kind of tile gets (inflated and read back byte for byte), the solid
 * tiles found in the source bytes and their near misses, deflate's level following the
 * content, and the CPIXEL in each byte layout.
 * Then the real-client check: a fake server on 127.0.0.1 does the RFB 3.8 handshake with
 * libvncclient (the client library of LibVNCServer, as Debian ships it) and sends rectangles
 * made here; libvncclient decodes them into its framebuffer, which must hold the source
 * frame's colours: exactly for Raw and ZRLE (every source format, odd sizes, sub-rectangles,
 * several client pixel formats), closely for a Tight JPEG made by TurboJPEG (up to Tight's
 * 2048 pixels wide), and the pseudo-encodings take effect there (LastRect, DesktopSize, the
 * empty cursor, the QEMU key-event acknowledgement).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "video/jpeg.h"
#include "vnc/rfb_enc.h"

#include <rfb/rfbclient.h>

/* ---- helpers ---- */

static void expect_bytes(const struct ipkvm_rfb_out *o, const uint8_t *want, size_t n)
{
	assert_int_equal(o->len, n);
	assert_memory_equal(o->data, want, n);
}

static uint32_t hash3(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t h = a * 0x9E3779B1u ^ b * 0x85EBCA77u ^ c * 0xC2B2AE3Du;
	h ^= h >> 15;
	h *= 0x2C1B3C6Du;
	h ^= h >> 12;
	return h;
}

/* The test picture, channel c (Y/U/V or R/G/B) of pixel x, y: flat blocks (solid tiles),
 * two-colour "text" (palette tiles), a band of horizontal runs, and noise (raw tiles). */
static uint8_t val(unsigned x, unsigned y, unsigned c, unsigned w, unsigned seed)
{
	if (y < 9)
		return (uint8_t)((x / 7) * 13 + c * 50 + seed);
	switch (x * 3 / w) {
	case 0:
		return (uint8_t)(((x / 40 + y / 48) * 37 + c * 91 + seed) & 255);
	case 1:
		return hash3(x / 3, y / 5, seed) & 1 ? (uint8_t)(200 + c) : (uint8_t)(30 + c * 20);
	default:
		return (uint8_t)hash3(x, y * 3 + c, seed);
	}
}

static struct ipkvm_frame *make_frame(enum ipkvm_pixfmt fmt, unsigned w, unsigned h, unsigned seed)
{
	struct ipkvm_frame *f = ipkvm_frame_new(fmt, w, h, 0);
	assert_non_null(f);
	for (unsigned y = 0; y < h; y++) {
		uint8_t *d = f->data + y * f->stride;
		for (unsigned x = 0; x < w; x++) {
			switch (fmt) {
			case IPKVM_FMT_YUYV:
			case IPKVM_FMT_UYVY: {
				unsigned yo = fmt == IPKVM_FMT_UYVY, co = 1 - yo, p = x & ~1u;
				uint8_t *g = d + p * 2;
				g[yo + (x & 1) * 2] = val(x, y, 0, w, seed);
				if (!(x & 1))
					g[co] = val(p, y, 1, w, seed);
				if (!(x & 1) && x + 1 < w)
					g[co + 2] = val(p, y, 2, w, seed);
				break;
			}
			case IPKVM_FMT_RGB24:
			case IPKVM_FMT_BGR24:
				for (unsigned c = 0; c < 3; c++)
					d[x * 3 + (fmt == IPKVM_FMT_RGB24 ? c : 2 - c)] =
					    val(x, y, c, w, seed);
				break;
			case IPKVM_FMT_MJPEG:
				break;
			}
		}
	}
	return f;
}

static uint8_t *rgb_of(const struct ipkvm_frame *f)
{
	uint8_t *rgb = malloc((size_t)f->width * f->height * 3);
	assert_non_null(rgb);
	ipkvm_frame_to_rgb24(f, rgb);
	return rgb;
}

/* The client's pixel value of an RGB colour, computed here on its own. */
static uint32_t pixel_of(const struct ipkvm_rfb_pixfmt *pf, const uint8_t *rgb)
{
	uint32_t r = (rgb[0] * pf->red_max + 127u) / 255u;
	uint32_t g = (rgb[1] * pf->green_max + 127u) / 255u;
	uint32_t b = (rgb[2] * pf->blue_max + 127u) / 255u;
	return r << pf->red_shift | g << pf->green_shift | b << pf->blue_shift;
}

static void expect_pf(const struct ipkvm_rfb_pixfmt *a, const struct ipkvm_rfb_pixfmt *b)
{
	assert_int_equal(a->bpp, b->bpp);
	assert_int_equal(a->depth, b->depth);
	assert_int_equal(a->big_endian, b->big_endian);
	assert_int_equal(a->true_colour, b->true_colour);
	assert_int_equal(a->red_max, b->red_max);
	assert_int_equal(a->green_max, b->green_max);
	assert_int_equal(a->blue_max, b->blue_max);
	assert_int_equal(a->red_shift, b->red_shift);
	assert_int_equal(a->green_shift, b->green_shift);
	assert_int_equal(a->blue_shift, b->blue_shift);
}

static void wire_pixel(const struct ipkvm_rfb_pixfmt *pf, uint32_t v, uint8_t *out)
{
	unsigned n = pf->bpp / 8;
	for (unsigned i = 0; i < n; i++)
		out[pf->big_endian ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

static const struct ipkvm_rfb_pixfmt pf_565le = {16, 16, false, true, 31, 63, 31, 11, 5, 0};
static const struct ipkvm_rfb_pixfmt pf_565be = {16, 16, true, true, 31, 63, 31, 11, 5, 0};
static const struct ipkvm_rfb_pixfmt pf_332 = {8, 8, false, true, 7, 7, 3, 0, 3, 6};
static const struct ipkvm_rfb_pixfmt pf_bgr_be = {32, 24, true, true, 255, 255, 255, 0, 8, 16};
static const struct ipkvm_rfb_pixfmt pf_hi_le = {32, 24, false, true, 255, 255, 255, 24, 16, 8};
static const struct ipkvm_rfb_pixfmt pf_hi_be = {32, 24, true, true, 255, 255, 255, 8, 16, 24};
static const struct ipkvm_rfb_pixfmt pf_spread = {32, 24, false, true, 255, 255, 255, 24, 8, 0};
static const struct ipkvm_rfb_pixfmt pf_rgb_be = {32, 24, true, true, 255, 255, 255, 16, 8, 0};
static const struct ipkvm_rfb_pixfmt pf_mid_le = {32, 16, false, true, 31, 63, 31, 19, 13, 8};
static const struct ipkvm_rfb_pixfmt pf_mid_be = {32, 16, true, true, 31, 63, 31, 19, 13, 8};
static const struct ipkvm_rfb_pixfmt pf_101010 = {32, 30, false, true, 1023, 1023, 1023, 20, 10, 0};

/* ---- headers and pseudo-encodings ---- */

static void test_update_and_rect_headers(void **state)
{
	(void)state;
	struct ipkvm_rfb_out o = {0};
	assert_int_equal(ipkvm_rfb_put_update_header(&o, 0x1234), 0);
	assert_int_equal(
	    ipkvm_rfb_put_rect_header(&o, &(struct ipkvm_rfb_rect){1, 0x203, 0x405, 0xfffe}, -239),
	    0);
	static const uint8_t want[] = {0, 0, 0x12, 0x34, 0,    1,    2,	   3,
				       4, 5, 0xff, 0xfe, 0xff, 0xff, 0xff, 0x11};
	expect_bytes(&o, want, sizeof(want));
	ipkvm_rfb_out_free(&o);
	assert_null(o.data);
	assert_int_equal(o.len, 0);
}

static void test_pseudo_rects(void **state)
{
	(void)state;
	struct ipkvm_rfb_out o = {0};

	assert_int_equal(ipkvm_rfb_put_desktop_size(&o, 1920, 1080), 0);
	static const uint8_t ds[] = {0, 0, 0, 0, 0x07, 0x80, 0x04, 0x38, 0xff, 0xff, 0xff, 0x21};
	expect_bytes(&o, ds, sizeof(ds));
	o.len = 0;

	assert_int_equal(ipkvm_rfb_put_ext_desktop_size(&o, 1, 3, 1366, 768, 0xa1b2c3d4), 0);
	static const uint8_t eds[] = {0,    1, 0,    3,	   0x05, 0x56, 0x03, 0x00, 0xff, 0xff, 0xfe,
				      0xcc, 1, 0,    0,	   0,	 0xa1, 0xb2, 0xc3, 0xd4, 0,    0,
				      0,    0, 0x05, 0x56, 0x03, 0x00, 0,    0,	   0,	 0};
	expect_bytes(&o, eds, sizeof(eds));
	o.len = 0;

	assert_int_equal(
	    ipkvm_rfb_put_led_state(&o, false, IPKVM_RFB_LED_CAPS | IPKVM_RFB_LED_SCROLL | 0x80),
	    0);
	static const uint8_t qled[] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xfe, 0xfb, 0x05};
	expect_bytes(&o, qled, sizeof(qled));
	o.len = 0;

	assert_int_equal(ipkvm_rfb_put_led_state(&o, true, IPKVM_RFB_LED_NUM), 0);
	static const uint8_t vled[] = {0, 0, 0, 0, 0, 0, 0, 0, 0x57, 0x4d, 0x56, 0x68, 0, 0, 0, 2};
	expect_bytes(&o, vled, sizeof(vled));
	o.len = 0;

	assert_int_equal(ipkvm_rfb_put_empty_cursor(&o, &ipkvm_rfb_pixfmt_server), 0);
	static const uint8_t cur32[] = {0,    0,    0,	  0, 0, 1, 0, 1, 0xff,
					0xff, 0xff, 0x11, 0, 0, 0, 0, 0};
	expect_bytes(&o, cur32, sizeof(cur32));
	o.len = 0;
	assert_int_equal(ipkvm_rfb_put_empty_cursor(&o, &pf_565be), 0);
	static const uint8_t cur16[] = {0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0x11, 0, 0, 0};
	expect_bytes(&o, cur16, sizeof(cur16));
	o.len = 0;
	struct ipkvm_rfb_pixfmt cmap = pf_332;
	cmap.true_colour = false;
	assert_int_equal(ipkvm_rfb_put_empty_cursor(&o, &cmap), -EINVAL);
	assert_int_equal(o.len, 0);

	assert_int_equal(ipkvm_rfb_put_last_rect(&o), 0);
	assert_int_equal(ipkvm_rfb_put_qemu_key_ack(&o), 0);
	static const uint8_t lr_qk[] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x20,
					0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xfe, 0xfe};
	expect_bytes(&o, lr_qk, sizeof(lr_qk));
	o.len = 0;

	assert_int_equal(
	    ipkvm_rfb_put_h264(&o, &(struct ipkvm_rfb_rect){0, 0, 1920, 1080}, 0x12345, 1), 0);
	static const uint8_t h264[] = {0, 0,  0, 0,    0x07, 0x80, 0x04, 0x38, 0, 0,
				       0, 50, 0, 0x01, 0x23, 0x45, 0,	 0,    0, 1};
	expect_bytes(&o, h264, sizeof(h264));
	if (SIZE_MAX > UINT32_MAX)
		assert_int_equal(ipkvm_rfb_put_h264(&o, &(struct ipkvm_rfb_rect){0, 0, 1, 1},
						    (size_t)UINT32_MAX + 1, 0),
				 -E2BIG);
	assert_int_equal(o.len, sizeof(h264));
	ipkvm_rfb_out_free(&o);
}

static void tight_len(size_t len, const uint8_t *want, size_t n)
{
	struct ipkvm_rfb_out o = {0};
	assert_int_equal(
	    ipkvm_rfb_put_tight_jpeg(&o, &(struct ipkvm_rfb_rect){8, 16, 640, 480}, len), 0);
	assert_int_equal(o.len, 13 + n);
	static const uint8_t hdr[] = {0, 8, 0, 16, 0x02, 0x80, 0x01, 0xe0, 0, 0, 0, 7, 0x90};
	assert_memory_equal(o.data, hdr, sizeof(hdr));
	assert_memory_equal(o.data + 13, want, n);
	ipkvm_rfb_out_free(&o);
}

static void test_tight_compact_length(void **state)
{
	(void)state;
	tight_len(0, (const uint8_t[]){0x00}, 1);
	tight_len(127, (const uint8_t[]){0x7f}, 1);
	tight_len(128, (const uint8_t[]){0x80, 0x01}, 2);
	tight_len(10000, (const uint8_t[]){0x90, 0x4e}, 2); /* rfbproto's example */
	tight_len(16383, (const uint8_t[]){0xff, 0x7f}, 2);
	tight_len(16384, (const uint8_t[]){0x80, 0x80, 0x01}, 3);
	tight_len(4194303, (const uint8_t[]){0xff, 0xff, 0xff}, 3);

	struct ipkvm_rfb_out o = {0};
	assert_int_equal(ipkvm_rfb_put_last_rect(&o), 0);
	assert_int_equal(
	    ipkvm_rfb_put_tight_jpeg(&o, &(struct ipkvm_rfb_rect){0, 0, 1, 1}, 4194304), -E2BIG);
	assert_int_equal(
	    ipkvm_rfb_put_tight_jpeg(&o, &(struct ipkvm_rfb_rect){0, 0, 1, 1}, SIZE_MAX), -E2BIG);
	/* rfbproto's width limit for Tight: 2048 goes, 2049 does not */
	assert_int_equal(
	    ipkvm_rfb_put_tight_jpeg(&o, &(struct ipkvm_rfb_rect){0, 0, 2049, 16}, 1000), -E2BIG);
	assert_int_equal(o.len, 12);
	assert_int_equal(
	    ipkvm_rfb_put_tight_jpeg(&o, &(struct ipkvm_rfb_rect){0, 0, 2048, 16}, 1000), 0);
	assert_int_equal(o.len, 12 + 12 + 3);
	ipkvm_rfb_out_free(&o);
}

/* ---- pixel formats ---- */

static void test_pixfmt_server_bytes(void **state)
{
	(void)state;
	uint8_t b[16];
	memset(b, 0xee, sizeof(b));
	ipkvm_rfb_pixfmt_write(&ipkvm_rfb_pixfmt_server, b);
	static const uint8_t want[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0};
	assert_memory_equal(b, want, 16);
	struct ipkvm_rfb_pixfmt pf;
	assert_int_equal(ipkvm_rfb_pixfmt_parse(b, &pf), 0);
	expect_pf(&pf, &ipkvm_rfb_pixfmt_server);
}

static void test_pixfmt_round_trips(void **state)
{
	(void)state;
	const struct ipkvm_rfb_pixfmt *all[] = {&pf_565le,  &pf_565be,	&pf_332,
						&pf_bgr_be, &pf_hi_le,	&pf_hi_be,
						&pf_spread, &pf_rgb_be, &pf_101010};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		uint8_t b[16];
		struct ipkvm_rfb_pixfmt pf;
		memset(&pf, 0, sizeof(pf));
		ipkvm_rfb_pixfmt_write(all[i], b);
		assert_int_equal(b[0], all[i]->bpp);
		assert_int_equal(b[2], all[i]->big_endian);
		assert_int_equal(b[4] << 8 | b[5], all[i]->red_max);
		assert_int_equal(b[12], all[i]->blue_shift);
		assert_int_equal(ipkvm_rfb_pixfmt_parse(b, &pf), 0);
		expect_pf(&pf, all[i]);
	}
	/* any non-zero flag is true */
	uint8_t b[16] = {16, 16, 0x80, 7, 0, 31, 0, 63, 0, 31, 11, 5, 0, 1, 2, 3};
	struct ipkvm_rfb_pixfmt pf;
	assert_int_equal(ipkvm_rfb_pixfmt_parse(b, &pf), 0);
	expect_pf(&pf, &pf_565be);
}

static void refuse(const uint8_t b[16])
{
	struct ipkvm_rfb_pixfmt pf = pf_332;
	assert_int_equal(ipkvm_rfb_pixfmt_parse(b, &pf), -EINVAL);
	expect_pf(&pf, &pf_332); /* untouched */
}

static void test_pixfmt_refusals(void **state)
{
	(void)state;
	refuse((const uint8_t[16]){24, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0}); /* bpp */
	refuse((const uint8_t[16]){4, 4, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2});	     /* bpp */
	refuse((const uint8_t[16]){8, 8, 0, 0, 0, 7, 0, 7, 0, 3, 0, 3, 6});	     /* map */
	refuse((const uint8_t[16]){32, 24, 0, 1, 0, 254, 0, 255, 0, 255, 16, 8, 0}); /* max */
	refuse((const uint8_t[16]){32, 24, 0, 1, 0, 255, 0, 0, 0, 255, 16, 8, 0});   /* 0 */
	refuse((const uint8_t[16]){16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 12, 5, 0});    /* fit */
	refuse((const uint8_t[16]){8, 8, 0, 1, 0, 7, 0, 7, 0, 7, 0, 3, 6});	     /* fit */
	refuse((const uint8_t[16]){32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 25, 8, 0}); /* fit */
	refuse((const uint8_t[16]){32, 32, 0, 1, 0xff, 0xff, 0, 255, 0, 255, 17, 8, 0});
	refuse((const uint8_t[16]){16, 16, 0, 1, 0xff, 0xff, 0, 255, 0, 255, 1, 8, 0});
	refuse((const uint8_t[16]){32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 255, 8, 0});
}

/* ---- changed tiles ---- */

static void poke(struct ipkvm_frame *f, unsigned x, unsigned y)
{
	f->data[y * f->stride + x * ipkvm_pixfmt_bpp(f->format)] ^= 0x5a;
}

static void expect_rect(const struct ipkvm_rfb_rect *r, unsigned x, unsigned y, unsigned w,
			unsigned h)
{
	assert_int_equal(r->x, x);
	assert_int_equal(r->y, y);
	assert_int_equal(r->w, w);
	assert_int_equal(r->h, h);
}

static void test_changed_rects(void **state)
{
	(void)state;
	struct ipkvm_rfb_rect out[8];
	struct ipkvm_frame *a = make_frame(IPKVM_FMT_YUYV, 200, 130, 1);
	struct ipkvm_frame *b = make_frame(IPKVM_FMT_YUYV, 200, 130, 1);

	assert_int_equal(ipkvm_rfb_changed_rects(NULL, b, out, 8), 1);
	expect_rect(&out[0], 0, 0, 200, 130);
	assert_int_equal(ipkvm_rfb_changed_rects(a, b, out, 8), 0);
	assert_int_equal(ipkvm_rfb_changed_rects(a, b, out, 0), 0);

	poke(b, 70, 3); /* tile (1, 0) */
	assert_int_equal(ipkvm_rfb_changed_rects(a, b, out, 8), 1);
	expect_rect(&out[0], 64, 0, 64, 64);

	poke(b, 63, 63); /* tile (0, 0): merged with (1, 0) */
	assert_int_equal(ipkvm_rfb_changed_rects(a, b, out, 8), 1);
	expect_rect(&out[0], 0, 0, 128, 64);

	poke(b, 199, 129); /* the clipped corner tile (3, 2) */
	poke(b, 130, 64);  /* tile (2, 1) */
	poke(b, 0, 127);   /* tile (0, 1) */
	assert_int_equal(ipkvm_rfb_changed_rects(a, b, out, 8), 4);
	expect_rect(&out[0], 0, 0, 128, 64);
	expect_rect(&out[1], 0, 64, 64, 64);
	expect_rect(&out[2], 128, 64, 64, 64);
	expect_rect(&out[3], 192, 128, 8, 2);

	/* capped: the last rectangle is the bounding box of the rest */
	assert_int_equal(ipkvm_rfb_changed_rects(a, b, out, 2), 2);
	expect_rect(&out[0], 0, 0, 128, 64);
	expect_rect(&out[1], 0, 64, 200, 66);
	assert_int_equal(ipkvm_rfb_changed_rects(a, b, out, 1), 1);
	expect_rect(&out[0], 0, 0, 200, 130);

	/* another geometry or format: everything */
	struct ipkvm_frame *c = make_frame(IPKVM_FMT_UYVY, 200, 130, 1);
	assert_int_equal(ipkvm_rfb_changed_rects(c, b, out, 8), 1);
	expect_rect(&out[0], 0, 0, 200, 130);
	struct ipkvm_frame *d = make_frame(IPKVM_FMT_RGB24, 67, 33, 1);
	struct ipkvm_frame *e = make_frame(IPKVM_FMT_RGB24, 67, 33, 1);
	assert_int_equal(ipkvm_rfb_changed_rects(d, b, out, 8), 1);
	expect_rect(&out[0], 0, 0, 200, 130);
	/* the last pixel of a narrow frame: one partial tile */
	poke(e, 66, 32);
	assert_int_equal(ipkvm_rfb_changed_rects(d, e, out, 8), 1);
	expect_rect(&out[0], 64, 0, 3, 33);
	/* a frame with line padding compares its pixels, not the padding */
	struct ipkvm_frame *p = ipkvm_frame_new(IPKVM_FMT_RGB24, 67, 66, 0);
	assert_non_null(p);
	struct ipkvm_frame padded = *d;
	padded.stride = 67 * 3 * 2;
	padded.data = p->data;
	for (unsigned y = 0; y < 33; y++) {
		memcpy(padded.data + y * padded.stride, d->data + y * d->stride, 67 * 3);
		memset(padded.data + y * padded.stride + 67 * 3, y, 67 * 3);
	}
	assert_int_equal(ipkvm_rfb_changed_rects(&padded, d, out, 8), 0);
	poke(&padded, 5, 40 - 33);
	assert_int_equal(ipkvm_rfb_changed_rects(d, &padded, out, 8), 1);
	expect_rect(&out[0], 0, 0, 64, 33);

	ipkvm_frame_unref(p);
	ipkvm_frame_unref(a);
	ipkvm_frame_unref(b);
	ipkvm_frame_unref(c);
	ipkvm_frame_unref(d);
	ipkvm_frame_unref(e);
}

/* ---- Raw ---- */

static void check_raw(const struct ipkvm_frame *f, const struct ipkvm_rfb_rect *r,
		      const struct ipkvm_rfb_pixfmt *pf)
{
	struct ipkvm_rfb_out o = {0};
	uint8_t *rgb = rgb_of(f);
	assert_int_equal(ipkvm_rfb_put_update_header(&o, 1), 0);
	assert_int_equal(ipkvm_rfb_put_raw(&o, f, r, pf), 0);
	size_t bytes = pf->bpp / 8;
	assert_int_equal(o.len, 4 + 12 + (size_t)r->w * r->h * bytes);
	const uint8_t *p = o.data + 4;
	assert_int_equal(p[0] << 8 | p[1], r->x);
	assert_int_equal(p[6] << 8 | p[7], r->h);
	assert_int_equal(p[11], 0);
	p += 12;
	for (unsigned y = r->y; y < (unsigned)r->y + r->h; y++)
		for (unsigned x = r->x; x < (unsigned)r->x + r->w; x++, p += bytes) {
			uint8_t want[4];
			wire_pixel(pf, pixel_of(pf, rgb + ((size_t)y * f->width + x) * 3), want);
			assert_memory_equal(p, want, bytes);
		}
	free(rgb);
	ipkvm_rfb_out_free(&o);
}

static void test_raw_pixels(void **state)
{
	(void)state;
	const enum ipkvm_pixfmt fmts[] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY, IPKVM_FMT_RGB24,
					  IPKVM_FMT_BGR24};
	const struct ipkvm_rfb_pixfmt *pfs[] = {&ipkvm_rfb_pixfmt_server,
						&pf_565le,
						&pf_565be,
						&pf_332,
						&pf_bgr_be,
						&pf_hi_be,
						&pf_101010};
	for (size_t i = 0; i < 4; i++) {
		struct ipkvm_frame *f = make_frame(fmts[i], 301, 67, (unsigned)i);
		for (size_t j = 0; j < sizeof(pfs) / sizeof(pfs[0]); j++) {
			check_raw(f, &(struct ipkvm_rfb_rect){0, 0, 301, 67}, pfs[j]);
			check_raw(f, &(struct ipkvm_rfb_rect){1, 5, 299, 3}, pfs[j]);
			check_raw(f, &(struct ipkvm_rfb_rect){300, 66, 1, 1}, pfs[j]);
		}
		ipkvm_frame_unref(f);
	}
}

static void test_raw_known_colours(void **state)
{
	(void)state;
	/* limited-range white, black, and the snapshot's red; little-endian 0x00RRGGBB */
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 6, 1, 0);
	assert_non_null(f);
	static const uint8_t yuyv[] = {235, 128, 235, 128, 16, 128, 16, 128, 81, 90, 81, 240};
	memcpy(f->data, yuyv, sizeof(yuyv));
	struct ipkvm_rfb_out o = {0};
	assert_int_equal(ipkvm_rfb_put_raw(&o, f, &(struct ipkvm_rfb_rect){0, 0, 6, 1},
					   &ipkvm_rfb_pixfmt_server),
			 0);
	assert_int_equal(o.len, 12 + 24);
	static const uint8_t want[16] = {255, 255, 255, 0, 255, 255, 255, 0};
	assert_memory_equal(o.data + 12, want, 16);
	/* red: R high, G and B low */
	assert_true(o.data[12 + 16 + 2] >= 250 && o.data[12 + 16 + 1] <= 5 &&
		    o.data[12 + 16 + 0] <= 5);
	ipkvm_rfb_out_free(&o);
	ipkvm_frame_unref(f);
}

static void test_raw_refusals(void **state)
{
	(void)state;
	struct ipkvm_rfb_out o = {0};
	struct ipkvm_frame *f = make_frame(IPKVM_FMT_RGB24, 67, 33, 0);
	struct ipkvm_frame *m = ipkvm_frame_new(IPKVM_FMT_MJPEG, 67, 33, 100);
	assert_non_null(m);
	struct ipkvm_rfb_zrle *z = ipkvm_rfb_zrle_new();
	assert_non_null(z);
	assert_int_equal(ipkvm_rfb_put_last_rect(&o), 0);
	const struct ipkvm_rfb_rect bad[] = {
	    {0, 0, 68, 1}, {0, 33, 1, 1}, {66, 0, 2, 1}, {65535, 65535, 2, 2}};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(ipkvm_rfb_put_raw(&o, f, &bad[i], &ipkvm_rfb_pixfmt_server),
				 -EINVAL);
		assert_int_equal(ipkvm_rfb_put_zrle(z, &o, f, &bad[i], &ipkvm_rfb_pixfmt_server),
				 -EINVAL);
	}
	const struct ipkvm_rfb_rect all = {0, 0, 67, 33};
	assert_int_equal(ipkvm_rfb_put_raw(&o, m, &all, &ipkvm_rfb_pixfmt_server), -EINVAL);
	assert_int_equal(ipkvm_rfb_put_zrle(z, &o, m, &all, &ipkvm_rfb_pixfmt_server), -EINVAL);
	struct ipkvm_rfb_pixfmt cmap = ipkvm_rfb_pixfmt_server;
	cmap.true_colour = false;
	assert_int_equal(ipkvm_rfb_put_raw(&o, f, &all, &cmap), -EINVAL);
	assert_int_equal(ipkvm_rfb_put_zrle(z, &o, f, &all, &cmap), -EINVAL);
	assert_int_equal(o.len, 12);
	/* an empty rectangle is just its header */
	assert_int_equal(ipkvm_rfb_put_raw(&o, f, &(struct ipkvm_rfb_rect){67, 33, 0, 0},
					   &ipkvm_rfb_pixfmt_server),
			 0);
	assert_int_equal(o.len, 24);
	ipkvm_rfb_zrle_free(z);
	ipkvm_frame_unref(f);
	ipkvm_frame_unref(m);
	ipkvm_rfb_out_free(&o);
}

/* ---- ZRLE, read back ---- */

struct unz {
	z_stream zs;
	uint8_t buf[1 << 20];
	size_t len;
};

/* Inflates the data of the ZRLE rectangle at o->data + at (after its 12-byte header). */
static void unz_rect(struct unz *u, const struct ipkvm_rfb_out *o, size_t at)
{
	const uint8_t *p = o->data + at;
	assert_int_equal(p[8] << 24 | p[9] << 16 | p[10] << 8 | p[11], IPKVM_RFB_ENC_ZRLE);
	uint32_t n = (uint32_t)p[12] << 24 | p[13] << 16 | p[14] << 8 | p[15];
	assert_int_equal(at + 16 + n, o->len);
	u->zs.next_in = (Bytef *)p + 16;
	u->zs.avail_in = n;
	u->zs.next_out = u->buf;
	u->zs.avail_out = sizeof(u->buf);
	assert_int_equal(inflate(&u->zs, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(u->zs.avail_in, 0);
	u->len = sizeof(u->buf) - u->zs.avail_out;
}

static struct ipkvm_frame *rgb_frame(unsigned w, unsigned h)
{
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_RGB24, w, h, 0);
	assert_non_null(f);
	return f;
}

static void set_px(struct ipkvm_frame *f, unsigned x, unsigned y, uint32_t rgb)
{
	uint8_t *p = f->data + y * f->stride + x * 3;
	p[0] = (uint8_t)(rgb >> 16);
	p[1] = (uint8_t)(rgb >> 8);
	p[2] = (uint8_t)rgb;
}

static void zrle_one(struct ipkvm_rfb_zrle *z, struct unz *u, const struct ipkvm_frame *f,
		     const struct ipkvm_rfb_pixfmt *pf)
{
	struct ipkvm_rfb_out o = {0};
	assert_int_equal(ipkvm_rfb_put_zrle(z, &o, f,
					    &(struct ipkvm_rfb_rect){0, 0, (uint16_t)f->width,
								     (uint16_t)f->height},
					    pf),
			 0);
	unz_rect(u, &o, 0);
	ipkvm_rfb_out_free(&o);
}

static void test_zrle_subencodings(void **state)
{
	(void)state;
	struct unz *u = calloc(1, sizeof(*u));
	assert_non_null(u);
	assert_int_equal(inflateInit(&u->zs), Z_OK);
	struct ipkvm_rfb_zrle *z = ipkvm_rfb_zrle_new();
	assert_non_null(z);
	const struct ipkvm_rfb_pixfmt *pf = &ipkvm_rfb_pixfmt_server;
	struct ipkvm_frame *f = rgb_frame(64, 64);

	/* solid: CPIXEL is the three low bytes, little-endian */
	for (unsigned y = 0; y < 64; y++)
		for (unsigned x = 0; x < 64; x++)
			set_px(f, x, y, 0x0a141e);
	zrle_one(z, u, f, pf);
	assert_int_equal(u->len, 4);
	assert_memory_equal(u->buf, ((const uint8_t[]){1, 0x1e, 0x14, 0x0a}), 4);

	/* two colours, alternating: packed palette, 1 bit per pixel */
	for (unsigned y = 0; y < 64; y++)
		for (unsigned x = 0; x < 64; x++)
			set_px(f, x, y, (x + y) & 1 ? 0xffffff : 0x000080);
	zrle_one(z, u, f, pf);
	assert_int_equal(u->len, 1 + 6 + 8 * 64);
	assert_memory_equal(u->buf, ((const uint8_t[]){2, 0x80, 0, 0, 0xff, 0xff, 0xff, 0x55}), 8);
	assert_int_equal(u->buf[7 + 8], 0xaa); /* the second row starts with the other one */

	/* five colours in stripes 1 pixel wide: packed palette, 4 bits per pixel */
	for (unsigned y = 0; y < 64; y++)
		for (unsigned x = 0; x < 64; x++)
			set_px(f, x, y, 0x010101u * (x % 5));
	zrle_one(z, u, f, pf);
	assert_int_equal(u->len, 1 + 15 + 32 * 64);
	assert_int_equal(u->buf[0], 5);
	assert_memory_equal(u->buf + 16, ((const uint8_t[]){0x01, 0x23, 0x40, 0x12}), 4);

	/* two halves: plain RLE, two runs of 2048 (12 bytes each; palette RLE: 3 + 10) */
	for (unsigned y = 0; y < 64; y++)
		for (unsigned x = 0; x < 64; x++)
			set_px(f, x, y, y < 32 ? 0x102030 : 0x405060);
	zrle_one(z, u, f, pf);
	static const uint8_t plain[] = {128, 0x30, 0x20, 0x10, 255,  255,  255,	 255, 255,
					255, 255,  255,	 7,    0x60, 0x50, 0x40, 255, 255,
					255, 255,  255,	 255,  255,  255,  7};
	assert_int_equal(u->len, sizeof(plain));
	assert_memory_equal(u->buf, plain, sizeof(plain));

	/* two colours in runs of 32 and 64 (the halves of a line join the next line's):
	 * palette RLE, 2 bytes a run against plain RLE's 4 and packed palette's 518 */
	for (unsigned y = 0; y < 64; y++)
		for (unsigned x = 0; x < 64; x++)
			set_px(f, x, y, (x / 32 + y) & 1 ? 0x405060 : 0x102030);
	zrle_one(z, u, f, pf);
	assert_int_equal(u->len, 1 + 6 + 65 * 2);
	assert_memory_equal(u->buf,
			    ((const uint8_t[]){130, 0x30, 0x20, 0x10, 0x60, 0x50, 0x40, 0x80, 31,
					       0x81, 63, 0x80, 63}),
			    13);
	assert_memory_equal(u->buf + u->len - 4, ((const uint8_t[]){0x81, 63, 0x80, 31}), 4);

	/* 64 colours, a row each: plain RLE (4 bytes a row) beats palette RLE (5) */
	for (unsigned y = 0; y < 64; y++)
		for (unsigned x = 0; x < 64; x++)
			set_px(f, x, y, 0x030201u * y);
	zrle_one(z, u, f, pf);
	assert_int_equal(u->len, 1 + 64 * 4);
	assert_memory_equal(u->buf, ((const uint8_t[]){128, 0, 0, 0, 63, 0x01, 0x02, 0x03, 63}), 9);

	/* noise: raw */
	for (unsigned y = 0; y < 64; y++)
		for (unsigned x = 0; x < 64; x++)
			set_px(f, x, y, hash3(x, y, 7) & 0xffffff);
	zrle_one(z, u, f, pf);
	assert_int_equal(u->len, 1 + 64 * 64 * 3);
	assert_int_equal(u->buf[0], 0);
	uint32_t first = hash3(0, 0, 7);
	assert_memory_equal(
	    u->buf + 1,
	    ((const uint8_t[]){(uint8_t)first, (uint8_t)(first >> 8), (uint8_t)(first >> 16)}), 3);

	/* a 3x2 rectangle: tiles are clipped; rows of packed pixels padded */
	struct ipkvm_frame *g = rgb_frame(3, 2);
	static const uint32_t c[6] = {1, 2, 1, 2, 2, 1};
	for (unsigned i = 0; i < 6; i++)
		set_px(g, i % 3, i / 3, c[i]);
	zrle_one(z, u, g, pf);
	assert_int_equal(u->len, 1 + 6 + 2);
	assert_memory_equal(u->buf, ((const uint8_t[]){2, 1, 0, 0, 2, 0, 0, 0x40, 0xc0}), 9);

	ipkvm_frame_unref(g);
	ipkvm_frame_unref(f);
	ipkvm_rfb_zrle_free(z);
	inflateEnd(&u->zs);
	free(u);
}

static void fill_yuyv(struct ipkvm_frame *f, const uint8_t g[4])
{
	for (unsigned y = 0; y < f->height; y++)
		for (unsigned x = 0; x < f->width; x += 2)
			memcpy(f->data + y * f->stride + x * 2, g, x + 1 < f->width ? 4 : 2);
}

/* The server's CPIXEL (B, G, R) of pixel x, y of f as the snapshot converts it. */
static void cpixel_at(const struct ipkvm_frame *f, unsigned x, unsigned y, uint8_t out[3])
{
	uint8_t *rgb = rgb_of(f);
	const uint8_t *p = rgb + ((size_t)y * f->width + x) * 3;
	out[0] = p[2], out[1] = p[1], out[2] = p[0];
	free(rgb);
}

/* Tiles whose source bytes are one pixel go out solid without a conversion; near misses
 * (two lumas in a pair, the half pair ending an odd line, one odd pixel) do not. */
static void test_zrle_uniform_source(void **state)
{
	(void)state;
	struct unz *u = calloc(1, sizeof(*u));
	assert_non_null(u);
	assert_int_equal(inflateInit(&u->zs), Z_OK);
	struct ipkvm_rfb_zrle *z = ipkvm_rfb_zrle_new();
	assert_non_null(z);
	const struct ipkvm_rfb_pixfmt *pf = &ipkvm_rfb_pixfmt_server;
	uint8_t a[3], b[3];

	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 128, 2, 0);
	assert_non_null(f);
	fill_yuyv(f, (const uint8_t[]){100, 90, 100, 200});
	cpixel_at(f, 0, 0, a);
	zrle_one(z, u, f, pf);
	assert_int_equal(u->len, 8);
	assert_memory_equal(u->buf, ((const uint8_t[]){1, a[0], a[1], a[2], 1, a[0], a[1], a[2]}),
			    8);
	/* a tile starting and ending inside pairs */
	struct ipkvm_rfb_out o = {0};
	assert_int_equal(ipkvm_rfb_put_zrle(z, &o, f, &(struct ipkvm_rfb_rect){1, 0, 63, 2}, pf),
			 0);
	unz_rect(u, &o, 0);
	assert_memory_equal(u->buf, ((const uint8_t[]){1, a[0], a[1], a[2]}), 4);
	assert_int_equal(u->len, 4);
	ipkvm_rfb_out_free(&o);

	/* the same 4 bytes everywhere, but two lumas: two colours */
	fill_yuyv(f, (const uint8_t[]){100, 90, 110, 200});
	cpixel_at(f, 0, 0, a);
	cpixel_at(f, 1, 0, b);
	zrle_one(z, u, f, pf);
	assert_int_equal(u->len, 2 * (1 + 6 + 8 * 2));
	assert_memory_equal(u->buf,
			    ((const uint8_t[]){2, a[0], a[1], a[2], b[0], b[1], b[2], 0x55}), 8);
	ipkvm_frame_unref(f);

	/* an odd width: the last pixel has no V of its own, so another colour */
	f = ipkvm_frame_new(IPKVM_FMT_UYVY, 67, 2, 0);
	assert_non_null(f);
	for (unsigned y = 0; y < 2; y++)
		for (unsigned x = 0; x < 67; x += 2)
			memcpy(f->data + y * f->stride + x * 2,
			       (const uint8_t[]){90, 100, 200, 100}, x + 1 < 67 ? 4 : 2);
	cpixel_at(f, 0, 0, a);
	cpixel_at(f, 66, 0, b);
	assert_memory_not_equal(a, b, 3);
	zrle_one(z, u, f, pf);
	assert_int_equal(u->len, 4 + 1 + 6 + 2);
	assert_memory_equal(u->buf,
			    ((const uint8_t[]){1, a[0], a[1], a[2], 2, a[0], a[1], a[2], b[0], b[1],
					       b[2], 0x20, 0x20}),
			    13);
	ipkvm_frame_unref(f);

	/* RGB24: one pixel off in the last place */
	f = rgb_frame(64, 3);
	for (unsigned y = 0; y < 3; y++)
		for (unsigned x = 0; x < 64; x++)
			set_px(f, x, y, y == 2 && x == 63 ? 0x010203 : 0x102030);
	zrle_one(z, u, f, pf);
	assert_int_equal(u->buf[0], 128); /* plain RLE: two runs */
	set_px(f, 63, 2, 0x102030);
	zrle_one(z, u, f, pf);
	assert_memory_equal(u->buf, ((const uint8_t[]){1, 0x30, 0x20, 0x10}), 4);
	assert_int_equal(u->len, 4);
	ipkvm_frame_unref(f);

	ipkvm_rfb_zrle_free(z);
	inflateEnd(&u->zs);
	free(u);
}

/* Tiles that are mostly raw go through deflate stored, the others compressed, on one
 * stream that changes level as the content does. */
static void test_zrle_levels(void **state)
{
	(void)state;
	struct unz *u = calloc(1, sizeof(*u));
	assert_non_null(u);
	assert_int_equal(inflateInit(&u->zs), Z_OK);
	struct ipkvm_rfb_zrle *z = ipkvm_rfb_zrle_new();
	assert_non_null(z);
	struct ipkvm_frame *f = rgb_frame(256, 128);
	for (unsigned y = 0; y < 128; y++)
		for (unsigned x = 0; x < 256; x++)
			set_px(f, x, y, y < 64 ? hash3(x, y, 9) & 0xffffff : 0x203040);
	const struct ipkvm_rfb_rect noise = {0, 0, 256, 64}, flat = {0, 64, 256, 64};
	const size_t raw_tiles = 4 * (1 + 64 * 64 * 3);
	for (int round = 0; round < 2; round++) {
		struct ipkvm_rfb_out o = {0};
		assert_int_equal(ipkvm_rfb_put_zrle(z, &o, f, &noise, &ipkvm_rfb_pixfmt_server), 0);
		assert_true(o.len - 16 <= raw_tiles + 64); /* stored: a few bytes over */
		assert_true(o.len - 16 >= raw_tiles);
		unz_rect(u, &o, 0);
		assert_int_equal(u->len, raw_tiles);
		assert_int_equal(u->buf[0], 0);
		assert_int_equal(u->buf[raw_tiles - 12289], 0);
		o.len = 0;
		assert_int_equal(ipkvm_rfb_put_zrle(z, &o, f, &flat, &ipkvm_rfb_pixfmt_server), 0);
		assert_true(o.len - 16 < 64); /* compressed again */
		unz_rect(u, &o, 0);
		assert_int_equal(u->len, 16);
		for (int t = 0; t < 4; t++)
			assert_memory_equal(u->buf + 4 * t,
					    ((const uint8_t[]){1, 0x40, 0x30, 0x20}), 4);
		ipkvm_rfb_out_free(&o);
	}
	ipkvm_frame_unref(f);
	ipkvm_rfb_zrle_free(z);
	inflateEnd(&u->zs);
	free(u);
}

/* The CPIXEL of a solid tile of colour 0x112233 in each layout rfbproto allows. */
static void test_zrle_cpixel(void **state)
{
	(void)state;
	struct unz *u = calloc(1, sizeof(*u));
	assert_non_null(u);
	assert_int_equal(inflateInit(&u->zs), Z_OK);
	struct ipkvm_rfb_zrle *z = ipkvm_rfb_zrle_new();
	assert_non_null(z);
	struct ipkvm_frame *f = rgb_frame(5, 3);
	for (unsigned y = 0; y < 3; y++)
		for (unsigned x = 0; x < 5; x++)
			set_px(f, x, y, 0x112233);
	const struct {
		const struct ipkvm_rfb_pixfmt *pf;
		uint8_t len, bytes[4];
	} cases[] = {
	    {&ipkvm_rfb_pixfmt_server, 3, {0x33, 0x22, 0x11}}, /* low 3 of LE */
	    {&pf_rgb_be, 3, {0x11, 0x22, 0x33}},	       /* low 3 of BE */
	    {&pf_hi_le, 3, {0x33, 0x22, 0x11}},		       /* high 3 of LE */
	    {&pf_hi_be, 3, {0x33, 0x22, 0x11}},		       /* high 3 of BE */
	    {&pf_bgr_be, 3, {0x33, 0x22, 0x11}},	       /* low 3 of BE */
	    {&pf_spread, 4, {0x33, 0x22, 0, 0x11}},	       /* neither: whole pixel */
	    {&pf_mid_le, 3, {0x00, 0x06, 0x11}},	       /* both: the first three */
	    {&pf_mid_be, 3, {0x00, 0x11, 0x06}},
	    {&pf_565be, 2, {0x11, 0x06}},
	    {&pf_332, 1, {0x48}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		zrle_one(z, u, f, cases[i].pf);
		assert_int_equal(u->len, 1u + cases[i].len);
		assert_int_equal(u->buf[0], 1);
		assert_memory_equal(u->buf + 1, cases[i].bytes, cases[i].len);
	}
	ipkvm_frame_unref(f);
	ipkvm_rfb_zrle_free(z);
	inflateEnd(&u->zs);
	free(u);
}

/* ---- libvncclient ---- */

struct fake {
	int lfd, fd;
	unsigned w, h;
	pthread_t thread;
	/* set by the server thread once it has read the client's SetPixelFormat */
	struct ipkvm_rfb_pixfmt pf;
	/* makes the updates to send, in the client's pixel format */
	int (*build)(struct fake *s, struct ipkvm_rfb_out *o);
	void *ctx;
	int err;
};

static int read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 30000) != 1)
			return -ETIMEDOUT;
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			return r ? -errno : -EPIPE;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t r = write(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The server side: RFB 3.8, security None, ServerInit, then the client's SetPixelFormat,
 * SetEncodings and first FramebufferUpdateRequest are read, the updates sent; then it reads
 * until the client closes. */
static void *fake_run(void *arg)
{
	struct fake *s = arg;
	uint8_t b[64];
	int rc;
	s->fd = accept(s->lfd, NULL, NULL);
	if (s->fd < 0) {
		s->err = -errno;
		return NULL;
	}
	if ((rc = write_all(s->fd, "RFB 003.008\n", 12)) || (rc = read_all(s->fd, b, 12)))
		goto out;
	if (memcmp(b, "RFB 003.008\n", 12)) {
		rc = -EPROTO;
		goto out;
	}
	if ((rc = write_all(s->fd, "\x01\x01", 2)) || (rc = read_all(s->fd, b, 1)))
		goto out;
	if (b[0] != 1) {
		rc = -EPROTO;
		goto out;
	}
	if ((rc = write_all(s->fd, "\0\0\0\0", 4)) || (rc = read_all(s->fd, b, 1)))
		goto out;
	uint8_t init[24 + 4] = {(uint8_t)(s->w >> 8), (uint8_t)s->w, (uint8_t)(s->h >> 8),
				(uint8_t)s->h};
	ipkvm_rfb_pixfmt_write(&ipkvm_rfb_pixfmt_server, init + 4);
	init[23] = 4;
	memcpy(init + 24, "test", 4);
	if ((rc = write_all(s->fd, init, sizeof(init))))
		goto out;
	s->pf = ipkvm_rfb_pixfmt_server;
	for (;;) {
		if ((rc = read_all(s->fd, b, 1)))
			goto out;
		if (b[0] == 0) { /* SetPixelFormat */
			if ((rc = read_all(s->fd, b + 1, 19)))
				goto out;
			if ((rc = ipkvm_rfb_pixfmt_parse(b + 4, &s->pf)))
				goto out;
		} else if (b[0] == 2) { /* SetEncodings */
			if ((rc = read_all(s->fd, b + 1, 3)))
				goto out;
			for (unsigned n = (unsigned)(b[2] << 8 | b[3]); n; n--)
				if ((rc = read_all(s->fd, b + 4, 4)))
					goto out;
		} else if (b[0] == 3) { /* FramebufferUpdateRequest */
			if ((rc = read_all(s->fd, b + 1, 9)))
				goto out;
			break;
		} else {
			rc = -EPROTO;
			goto out;
		}
	}
	struct ipkvm_rfb_out o = {0};
	rc = s->build(s, &o);
	if (!rc)
		rc = write_all(s->fd, o.data, o.len);
	ipkvm_rfb_out_free(&o);
	if (rc)
		goto out;
	shutdown(s->fd, SHUT_WR);
	while (read(s->fd, b, sizeof(b)) > 0)
		;
out:
	s->err = rc;
	close(s->fd);
	return NULL;
}

static int cursor_w = -1, cursor_h = -1;
static bool cursor_clear;

static void got_cursor(rfbClient *c, int xhot, int yhot, int w, int h, int bpp)
{
	(void)xhot, (void)yhot, (void)bpp;
	cursor_w = w;
	cursor_h = h;
	cursor_clear = c->rcMask && c->rcMask[0] == 0;
}

static void quiet(const char *format, ...)
{
	(void)format;
}

/* Starts a fake server for a w x h desktop and connects libvncclient to it with client
 * pixel format pf. */
static rfbClient *connect_client(struct fake *s, unsigned w, unsigned h,
				 const struct ipkvm_rfb_pixfmt *pf)
{
	rfbClientLog = quiet;
	s->w = w;
	s->h = h;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 1), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, fake_run, s), 0);

	rfbClient *c = rfbGetClient(8, 3, 4);
	assert_non_null(c);
	c->format.bitsPerPixel = pf->bpp;
	c->format.depth = pf->depth;
	c->format.bigEndian = pf->big_endian;
	c->format.trueColour = 1;
	c->format.redMax = pf->red_max;
	c->format.greenMax = pf->green_max;
	c->format.blueMax = pf->blue_max;
	c->format.redShift = pf->red_shift;
	c->format.greenShift = pf->green_shift;
	c->format.blueShift = pf->blue_shift;
	c->appData.encodingsString = "tight zrle raw";
	c->appData.qualityLevel = 9;
	c->GotCursorShape = got_cursor;
	free(c->serverHost);
	c->serverHost = strdup("127.0.0.1");
	c->serverPort = ntohs(a.sin_port);
	assert_true(rfbInitClient(c, NULL, NULL));
	assert_int_equal(c->width, (int)w);
	assert_int_equal(c->height, (int)h);
	return c;
}

static void finish(struct fake *s, rfbClient *c)
{
	/* what rfbClientCleanup leaves to the application: the framebuffer of the default
	 * allocator, the last cursor shape */
	free(c->frameBuffer);
	free(c->rcSource);
	free(c->rcMask);
	rfbClientCleanup(c);
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->lfd);
	assert_int_equal(s->err, 0);
}

static int stage;

static uint32_t fb_pixel(rfbClient *c, unsigned x, unsigned y)
{
	unsigned n = c->format.bitsPerPixel / 8;
	const uint8_t *p = c->frameBuffer + ((size_t)y * c->width + x) * n;
	uint32_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[c->format.bigEndian ? i : n - 1 - i];
	return v;
}

/* The client's framebuffer over r against the frame's snapshot colours: exact when tol is
 * 0, else the mean absolute difference per channel at most tol (8-bit channels). */
static void expect_fb(rfbClient *c, const struct ipkvm_frame *f, const struct ipkvm_rfb_rect *r,
		      const struct ipkvm_rfb_pixfmt *pf, unsigned tol)
{
	uint8_t *rgb = rgb_of(f);
	uint64_t diff = 0;
	for (unsigned y = r->y; y < (unsigned)r->y + r->h; y++)
		for (unsigned x = r->x; x < (unsigned)r->x + r->w; x++) {
			const uint8_t *s = rgb + ((size_t)y * f->width + x) * 3;
			/* bits outside the colours are the client's business (libvncclient's
			 * 3-byte ZRLE pixels leave junk there) */
			uint32_t got =
			    fb_pixel(c, x, y) & pixel_of(pf, (const uint8_t[]){255, 255, 255});
			if (!tol) {
				if (got != pixel_of(pf, s))
					fail_msg("pixel %u,%u: got %08x, want %08x (bpp %u be %d "
						 "shifts %u %u %u, update %d)",
						 x, y, got, pixel_of(pf, s), pf->bpp,
						 pf->big_endian, pf->red_shift, pf->green_shift,
						 pf->blue_shift, stage);
				continue;
			}
			int gr = (int)(got >> pf->red_shift & 255);
			int gg = (int)(got >> pf->green_shift & 255);
			int gb = (int)(got >> pf->blue_shift & 255);
			diff += (uint64_t)(abs(gr - s[0]) + abs(gg - s[1]) + abs(gb - s[2]));
		}
	if (tol) {
		uint64_t mean = diff / ((uint64_t)r->w * r->h * 3);
		if (mean > tol)
			fail_msg("JPEG mean difference %llu > %u", (unsigned long long)mean, tol);
	}
	free(rgb);
}

struct rr_ctx {
	const struct ipkvm_frame *f, *g;
	struct ipkvm_rfb_rect sub, flat;
};

/* Update 1: Raw of frame f whole. Update 2: ZRLE of frame g whole. Update 3: ZRLE of a
 * sub-rectangle of f (mostly noise: stored by deflate), ZRLE of its flat part (compressed:
 * the stream's level changes back) and Raw of a corner, then LastRect. One zlib stream. */
#define TRY(x)                                                                                     \
	do {                                                                                       \
		if ((rc = (x)))                                                                    \
			goto out;                                                                  \
	} while (0)

static int build_raw_zrle(struct fake *s, struct ipkvm_rfb_out *o)
{
	struct rr_ctx *x = s->ctx;
	struct ipkvm_rfb_rect all = {0, 0, (uint16_t)s->w, (uint16_t)s->h};
	struct ipkvm_rfb_rect corner = {(uint16_t)(s->w - 5), (uint16_t)(s->h - 3), 5, 3};
	struct ipkvm_rfb_zrle *z = ipkvm_rfb_zrle_new();
	int rc = -ENOMEM;
	if (!z)
		return rc;
	TRY(ipkvm_rfb_put_update_header(o, 1));
	TRY(ipkvm_rfb_put_raw(o, x->f, &all, &s->pf));
	TRY(ipkvm_rfb_put_update_header(o, 1));
	TRY(ipkvm_rfb_put_zrle(z, o, x->g, &all, &s->pf));
	TRY(ipkvm_rfb_put_update_header(o, 0xffff));
	TRY(ipkvm_rfb_put_zrle(z, o, x->f, &x->sub, &s->pf));
	TRY(ipkvm_rfb_put_zrle(z, o, x->f, &x->flat, &s->pf));
	TRY(ipkvm_rfb_put_raw(o, x->f, &corner, &s->pf));
	TRY(ipkvm_rfb_put_last_rect(o));
out:
	ipkvm_rfb_zrle_free(z);
	return rc;
}

/* libvncclient reads a 3-byte CPIXEL as the host's 32-bit word at its place and shifts it:
 * right for the first three bytes of the pixel (and for the last three of a little-endian
 * one) on a little-endian host, but for the last three bytes of a big-endian pixel it lands
 * a byte off there ("HandleZRLE24Down" wants a big-endian host). For that layout only the
 * stream's framing is checked: the Raw rectangle after the ZRLE ones must still land. */
static bool libvncclient_zrle_ok(const struct ipkvm_rfb_pixfmt *pf)
{
	uint32_t all = pixel_of(pf, (const uint8_t[]){255, 255, 255});
	return !(pf->bpp == 32 && pf->big_endian && !(all >> 24) && (all & 0xff));
}

static void raw_zrle_case(enum ipkvm_pixfmt fmt, unsigned w, unsigned h,
			  const struct ipkvm_rfb_pixfmt *pf)
{
	bool zrle_ok = libvncclient_zrle_ok(pf);
	struct ipkvm_frame *f = make_frame(fmt, w, h, 3);
	struct ipkvm_frame *g = make_frame(fmt, w, h, 4);
	struct rr_ctx x = {f,
			   g,
			   {(uint16_t)(w / 3 + 1), 3, (uint16_t)(w / 2), (uint16_t)(h - 5)},
			   {0, 9, (uint16_t)(w / 3), (uint16_t)(h - 9)}};
	struct fake s = {.build = build_raw_zrle, .ctx = &x};
	rfbClient *c = connect_client(&s, w, h, pf);
	struct ipkvm_rfb_rect all = {0, 0, (uint16_t)w, (uint16_t)h};

	stage = 1;
	assert_true(HandleRFBServerMessage(c));
	expect_fb(c, f, &all, pf, 0);
	stage = 2;
	assert_true(HandleRFBServerMessage(c));
	if (zrle_ok)
		expect_fb(c, g, &all, pf, 0);
	stage = 3;
	assert_true(HandleRFBServerMessage(c));
	if (zrle_ok) {
		expect_fb(c, f, &x.sub, pf, 0);
		expect_fb(c, f, &x.flat, pf, 0);
	}
	expect_fb(c, f, &(struct ipkvm_rfb_rect){(uint16_t)(w - 5), (uint16_t)(h - 3), 5, 3}, pf,
		  0);
	/* what none touched is still g */
	if (zrle_ok)
		expect_fb(c, g, &(struct ipkvm_rfb_rect){0, 0, x.sub.x, 9}, pf, 0);
	finish(&s, c);
	ipkvm_frame_unref(f);
	ipkvm_frame_unref(g);
}

static void test_libvncclient_raw_zrle_formats(void **state)
{
	(void)state;
	const enum ipkvm_pixfmt fmts[] = {IPKVM_FMT_YUYV, IPKVM_FMT_UYVY, IPKVM_FMT_RGB24,
					  IPKVM_FMT_BGR24};
	for (size_t i = 0; i < 4; i++) {
		raw_zrle_case(fmts[i], 1366, 768, &ipkvm_rfb_pixfmt_server);
		raw_zrle_case(fmts[i], 67, 33, &ipkvm_rfb_pixfmt_server);
	}
}

static void test_libvncclient_raw_zrle_pixfmts(void **state)
{
	(void)state;
	const struct ipkvm_rfb_pixfmt *pfs[] = {&pf_565le,  &pf_565be,	&pf_332,    &pf_bgr_be,
						&pf_hi_le,  &pf_hi_be,	&pf_spread, &pf_rgb_be,
						&pf_mid_le, &pf_mid_be, &pf_101010};
	for (size_t i = 0; i < sizeof(pfs) / sizeof(pfs[0]); i++)
		raw_zrle_case(i & 1 ? IPKVM_FMT_UYVY : IPKVM_FMT_YUYV, 131, 70, pfs[i]);
}

struct jpeg_ctx {
	struct ipkvm_buf *jpeg;
};

static int build_jpeg(struct fake *s, struct ipkvm_rfb_out *o)
{
	struct jpeg_ctx *x = s->ctx;
	struct ipkvm_rfb_rect all = {0, 0, (uint16_t)s->w, (uint16_t)s->h};
	int rc;
	TRY(ipkvm_rfb_put_update_header(o, 3));
	TRY(ipkvm_rfb_put_tight_jpeg(o, &all, x->jpeg->len));
	TRY(ipkvm_rfb_out_reserve(o, x->jpeg->len));
	memcpy(o->data + o->len, x->jpeg->data, x->jpeg->len);
	o->len += x->jpeg->len;
	TRY(ipkvm_rfb_put_empty_cursor(o, &s->pf));
	TRY(ipkvm_rfb_put_qemu_key_ack(o));
	/* then a resize, alone in its update */
	TRY(ipkvm_rfb_put_update_header(o, 1));
	TRY(ipkvm_rfb_put_desktop_size(o, 320, 200));
out:
	return rc;
}

static void jpeg_case(enum ipkvm_pixfmt fmt, unsigned w, unsigned h,
		      const struct ipkvm_rfb_pixfmt *pf)
{
	struct ipkvm_frame *f = ipkvm_frame_new(fmt, w, h, 0);
	assert_non_null(f);
	/* a smooth picture: what JPEG keeps close */
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w * ipkvm_pixfmt_bpp(fmt); x++)
			f->data[y * f->stride + x] =
			    (uint8_t)(60 + x / ipkvm_pixfmt_bpp(fmt) * 97 / w + y * 50 / h +
				      x % ipkvm_pixfmt_bpp(fmt) * 30);
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	assert_non_null(j);
	struct jpeg_ctx x = {0};
	assert_int_equal(ipkvm_jpeg_encode(j, f, 95, false, &x.jpeg), 0);
	struct fake s = {.build = build_jpeg, .ctx = &x};
	cursor_w = cursor_h = -1;
	cursor_clear = false;
	rfbClient *c = connect_client(&s, w, h, pf);
	assert_false(SupportsClient2Server(c, rfbQemuEvent));
	assert_true(HandleRFBServerMessage(c));
	expect_fb(c, f, &(struct ipkvm_rfb_rect){0, 0, (uint16_t)w, (uint16_t)h}, pf, 3);
	assert_int_equal(cursor_w, 1);
	assert_int_equal(cursor_h, 1);
	assert_true(cursor_clear);
	assert_true(SupportsClient2Server(c, rfbQemuEvent));
	assert_true(HandleRFBServerMessage(c));
	assert_int_equal(c->width, 320);
	assert_int_equal(c->height, 200);
	finish(&s, c);
	ipkvm_buf_unref(x.jpeg);
	ipkvm_jpeg_destroy(j);
	ipkvm_frame_unref(f);
}

static void test_libvncclient_tight_jpeg(void **state)
{
	(void)state;
	jpeg_case(IPKVM_FMT_YUYV, 640, 360, &ipkvm_rfb_pixfmt_server);
	jpeg_case(IPKVM_FMT_RGB24, 67, 33, &pf_bgr_be);
	/* as wide as Tight goes */
	jpeg_case(IPKVM_FMT_UYVY, 2048, 48, &ipkvm_rfb_pixfmt_server);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_update_and_rect_headers),
	    cmocka_unit_test(test_pseudo_rects),
	    cmocka_unit_test(test_tight_compact_length),
	    cmocka_unit_test(test_pixfmt_server_bytes),
	    cmocka_unit_test(test_pixfmt_round_trips),
	    cmocka_unit_test(test_pixfmt_refusals),
	    cmocka_unit_test(test_changed_rects),
	    cmocka_unit_test(test_raw_pixels),
	    cmocka_unit_test(test_raw_known_colours),
	    cmocka_unit_test(test_raw_refusals),
	    cmocka_unit_test(test_zrle_subencodings),
	    cmocka_unit_test(test_zrle_uniform_source),
	    cmocka_unit_test(test_zrle_levels),
	    cmocka_unit_test(test_zrle_cpixel),
	    cmocka_unit_test(test_libvncclient_raw_zrle_formats),
	    cmocka_unit_test(test_libvncclient_raw_zrle_pixfmts),
	    cmocka_unit_test(test_libvncclient_tight_jpeg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
