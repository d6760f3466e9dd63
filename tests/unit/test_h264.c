/*
 * Unit tests for video/h264 (the front: settings, frame checks, backend choice) with its two
 * backends, video/h264_openh264 and video/h264_m2m (the V4L2 mem2mem backend against a fake
 * encoder device); the colour conversion has its own, test_i420.c.
 *
 * openh264: what we encode is decoded again with openh264's decoder here, so the checks
 * are on real output: NAL types of each access unit (SPS 7, PPS 8, IDR 5 first; P 1
 * after), keyframes on force and every gop frames, decoded size equal to the input, PSNR
 * of the decoded picture against the source (a console-like text screen) >= 40 dB, a
 * lower bitrate set live giving smaller frames without a new IDR, a starved rate control
 * skipping P-frames (-EAGAIN) but never a forced IDR, a size change giving an IDR at the
 * new size, settings from another thread (clean under ASan and TSan), and the refusals
 * (bad config, MJPEG, odd or out-of-range sizes, short data, bad settings).
 *
 * m2m: no encoder hardware exists where these run; a small fake device answers the V4L2
 * calls (multi- or single-planar, formats to list, controls recorded, MMAP buffers, a
 * queue of finished buffers) and "encodes" each frame into canned Annex-B bytes. Covered:
 * the "not there" error and auto fallback, format negotiation (native YUYV, YUV420
 * fallback with conversion, RGB), the controls and their values, force-key-frame, the
 * buffer cycle (every buffer back in the driver's hands), a separate sequence header, SPS
 * put before IDRs that lack it, live settings, a stalled device.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/videodev2.h>
#include <wels/codec_api.h>

#include "video/draw.h"
#include "video/frame.h"
#include "video/h264.h"
#include "video/i420.h"
#include "video/v4l2_io.h"

/* ---- helpers ---- */

static uint32_t nal_mask(const struct ipkvm_buf *b)
{
	uint32_t mask = 0;
	const uint8_t *d = b->data;
	for (size_t i = 0; i + 3 < b->len; i++) {
		if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
			mask |= 1u << (d[i + 3] & 0x1f);
			i += 2;
		}
	}
	return mask;
}

#define NAL(t) (1u << (t))

static void assert_idr_au(const struct ipkvm_buf *b)
{
	uint32_t m = nal_mask(b);
	assert_true(m & NAL(7));
	assert_true(m & NAL(8));
	assert_true(m & NAL(5));
	assert_false(m & NAL(1));
	/* Annex-B with a 4-byte start code at the very front, SPS first. */
	assert_memory_equal(b->data, "\0\0\0\1", 4);
	assert_int_equal(b->data[4] & 0x1f, 7);
}

static void assert_p_au(const struct ipkvm_buf *b)
{
	uint32_t m = nal_mask(b);
	assert_true(m & NAL(1));
	assert_false(m & (NAL(5) | NAL(7) | NAL(8)));
}

/* A console: dark background, light text of n characters over a few lines. */
static void draw_console(struct ipkvm_frame *f, int n)
{
	static const char text[] = "root@target:~# ls -la /etc && cat /proc/cpuinfo | grep "
				   "model; dmesg | tail -20; uname -a; echo hello world";
	struct ipkvm_rgb bg = {16, 16, 24}, fg = {200, 200, 200};
	ipkvm_draw_rect(f, 0, 0, (int)f->width, (int)f->height, bg);
	char line[128];
	int cols = (int)f->width / IPKVM_FONT_W - 2;
	for (int row = 0; n > 0 && row < 8; row++) {
		int k = n < cols ? n : cols;
		if (k > (int)sizeof(line) - 1)
			k = (int)sizeof(line) - 1;
		for (int i = 0; i < k; i++)
			line[i] = text[(row * cols + i) % (sizeof(text) - 1)];
		line[k] = 0;
		ipkvm_draw_text(f, 8, 8 + row * IPKVM_FONT_H, line, 1, fg, NULL);
		n -= k;
	}
	ipkvm_draw_rect(f, (int)f->width - 100, 20, 80, 40, (struct ipkvm_rgb){30, 90, 200});
}

static struct ipkvm_frame *console(enum ipkvm_pixfmt fmt, unsigned w, unsigned h, int n)
{
	struct ipkvm_frame *f = ipkvm_frame_new(fmt, w, h, 0);
	assert_non_null(f);
	draw_console(f, n);
	return f;
}

/* The openh264 decoder, one access unit at a time. */
struct dec {
	ISVCDecoder *d;
	int width, height, frames;
	uint8_t *y, *u, *v; /* the last picture, packed planes */
};

static void dec_init(struct dec *d)
{
	memset(d, 0, sizeof(*d));
	assert_int_equal(WelsCreateDecoder(&d->d), 0);
	SDecodingParam p;
	memset(&p, 0, sizeof(p));
	p.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
	assert_int_equal((*d->d)->Initialize(d->d, &p), 0);
}

static void dec_free(struct dec *d)
{
	(*d->d)->Uninitialize(d->d);
	WelsDestroyDecoder(d->d);
	free(d->y);
	free(d->u);
	free(d->v);
}

static void copy_plane(uint8_t **dst, const uint8_t *src, int stride, int w, int h)
{
	free(*dst);
	*dst = malloc((size_t)w * (size_t)h);
	assert_non_null(*dst);
	for (int r = 0; r < h; r++)
		memcpy(*dst + (size_t)r * (size_t)w, src + (size_t)r * (size_t)stride, (size_t)w);
}

/* Decodes one access unit, which must give one picture. */
static void dec_au(struct dec *d, const struct ipkvm_buf *au)
{
	uint8_t *planes[3] = {0};
	SBufferInfo info;
	memset(&info, 0, sizeof(info));
	DECODING_STATE st =
	    (*d->d)->DecodeFrameNoDelay(d->d, au->data, (int)au->len, planes, &info);
	assert_int_equal(st, dsErrorFree);
	assert_int_equal(info.iBufferStatus, 1);
	int w = info.UsrData.sSystemBuffer.iWidth, h = info.UsrData.sSystemBuffer.iHeight;
	int ys = info.UsrData.sSystemBuffer.iStride[0], cs = info.UsrData.sSystemBuffer.iStride[1];
	copy_plane(&d->y, planes[0], ys, w, h);
	copy_plane(&d->u, planes[1], cs, w / 2, h / 2);
	copy_plane(&d->v, planes[2], cs, w / 2, h / 2);
	d->width = w;
	d->height = h;
	d->frames++;
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
	double se = 0;
	for (size_t i = 0; i < n; i++) {
		int diff = a[i] - b[i];
		se += diff * diff;
	}
	if (se == 0)
		return 99.0;
	return 10.0 * log10(255.0 * 255.0 * (double)n / se);
}

/* PSNR of the decoder's last picture (all three planes) against frame f. */
static double psnr_vs(const struct dec *d, const struct ipkvm_frame *f)
{
	size_t w = f->width, h = f->height, ys = w * h, cs = (w / 2) * (h / 2);
	uint8_t *ref = malloc(ys + 2 * cs);
	assert_non_null(ref);
	ipkvm_i420_from_frame(f, ref, w, ref + ys, ref + ys + cs, w / 2);
	uint8_t *got = malloc(ys + 2 * cs);
	assert_non_null(got);
	memcpy(got, d->y, ys);
	memcpy(got + ys, d->u, cs);
	memcpy(got + ys + cs, d->v, cs);
	double p = psnr(ref, got, ys + 2 * cs);
	free(ref);
	free(got);
	return p;
}

static struct ipkvm_h264 *sw(int bitrate, int gop)
{
	struct ipkvm_h264_config cfg = {
	    .backend = "software", .bitrate_kbps = bitrate, .max_fps = 60, .gop = gop};
	char err[256] = "";
	struct ipkvm_h264 *e = ipkvm_h264_create(&cfg, err, sizeof(err));
	assert_non_null(e);
	assert_string_equal(ipkvm_h264_backend(e), "openh264");
	return e;
}

static int encode(struct ipkvm_h264 *e, const struct ipkvm_frame *f, bool force,
		  struct ipkvm_buf **au, bool *key)
{
	return ipkvm_h264_encode(e, f, force, au, key);
}

/* ---- openh264 ---- */

/* Types one character per frame; IDR first, P after, decoded size and PSNR. */
static void typing_sequence(unsigned w, unsigned h, int nframes, enum ipkvm_pixfmt fmt)
{
	struct ipkvm_h264 *e = sw(2000, 0);
	struct dec d;
	dec_init(&d);
	double worst = 99;
	for (int i = 0; i < nframes; i++) {
		struct ipkvm_frame *f = console(fmt, w, h, 20 + i);
		f->ts_us = 1000000 + (int64_t)i * 16667;
		struct ipkvm_buf *au = NULL;
		bool key = false;
		assert_int_equal(encode(e, f, false, &au, &key), 0);
		assert_non_null(au);
		if (i == 0) {
			assert_true(key);
			assert_idr_au(au);
		} else {
			assert_false(key);
			assert_p_au(au);
		}
		dec_au(&d, au);
		assert_int_equal(d.width, (int)w);
		assert_int_equal(d.height, (int)h);
		double p = psnr_vs(&d, f);
		if (p < worst)
			worst = p;
		ipkvm_buf_unref(au);
		ipkvm_frame_unref(f);
	}
	assert_int_equal(d.frames, nframes);
	print_message("%ux%u %s: %d frames, worst PSNR %.2f dB\n", w, h, ipkvm_pixfmt_name(fmt),
		      nframes, worst);
	assert_true(worst >= 40.0);
	dec_free(&d);
	ipkvm_h264_destroy(e);
}

static void test_typing_640x360(void **state)
{
	(void)state;
	typing_sequence(640, 360, 12, IPKVM_FMT_YUYV);
}

static void test_typing_1080p(void **state)
{
	(void)state;
	typing_sequence(1920, 1080, 6, IPKVM_FMT_YUYV);
}

static void test_typing_other_formats(void **state)
{
	(void)state;
	typing_sequence(320, 240, 4, IPKVM_FMT_UYVY);
	typing_sequence(320, 240, 4, IPKVM_FMT_RGB24);
	typing_sequence(320, 240, 4, IPKVM_FMT_BGR24);
}

static void test_force_idr(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = sw(2000, 0);
	struct dec d;
	dec_init(&d);
	for (int i = 0; i < 8; i++) {
		struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 640, 360, 10 + i);
		struct ipkvm_buf *au = NULL;
		bool key = false;
		assert_int_equal(encode(e, f, i == 5, &au, &key), 0);
		assert_int_equal(key, i == 0 || i == 5);
		if (key)
			assert_idr_au(au);
		else
			assert_p_au(au);
		dec_au(&d, au);
		ipkvm_buf_unref(au);
		ipkvm_frame_unref(f);
	}
	assert_int_equal(d.frames, 8);
	dec_free(&d);
	ipkvm_h264_destroy(e);
}

/* A fresh decoder can start at a forced IDR in the middle of a stream. */
static void test_join_at_keyframe(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = sw(2000, 0);
	struct dec d;
	dec_init(&d);
	for (int i = 0; i < 6; i++) {
		struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 640, 360, 30 + i);
		struct ipkvm_buf *au = NULL;
		bool key = false;
		assert_int_equal(encode(e, f, i == 3, &au, &key), 0);
		if (i >= 3) {
			dec_au(&d, au);
			assert_true(psnr_vs(&d, f) >= 40.0);
		}
		ipkvm_buf_unref(au);
		ipkvm_frame_unref(f);
	}
	assert_int_equal(d.frames, 3);
	dec_free(&d);
	ipkvm_h264_destroy(e);
}

static void test_gop(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = sw(2000, 4);
	for (int i = 0; i < 13; i++) {
		struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 320, 240, 5 + i);
		struct ipkvm_buf *au = NULL;
		bool key = false;
		assert_int_equal(encode(e, f, false, &au, &key), 0);
		assert_int_equal(key, i % 4 == 0);
		ipkvm_buf_unref(au);
		ipkvm_frame_unref(f);
	}
	/* Live: gop 0 stops the periodic keyframes; 3 starts them counting again. */
	assert_int_equal(ipkvm_h264_set_params(e, 2000, 60, 0), 0);
	for (int i = 0; i < 10; i++) {
		struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 320, 240, 40 + i);
		struct ipkvm_buf *au = NULL;
		bool key = true;
		assert_int_equal(encode(e, f, false, &au, &key), 0);
		assert_false(key);
		ipkvm_buf_unref(au);
		ipkvm_frame_unref(f);
	}
	ipkvm_h264_destroy(e);
}

/* Noise that moves every frame: rate control has to spend what it is given. */
static void draw_noise(struct ipkvm_frame *f, unsigned frame)
{
	uint32_t s = 2463534242u;
	for (unsigned y = 0; y < f->height; y++) {
		for (size_t x = 0; x < f->stride; x++) {
			s ^= s << 13;
			s ^= s >> 17;
			s ^= s << 5;
			f->data[y * f->stride + x] = (uint8_t)(16 + ((s + frame * 7 + x) % 200));
		}
	}
}

static void test_set_params_bitrate(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = sw(8000, 0);
	size_t bytes[2] = {0, 0};
	int counted[2] = {0, 0};
	for (int phase = 0; phase < 2; phase++) {
		if (phase == 1)
			assert_int_equal(ipkvm_h264_set_params(e, 400, 30, 0), 0);
		for (int i = 0; i < 40; i++) {
			struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 320, 240, 0);
			assert_non_null(f);
			draw_noise(f, (unsigned)(phase * 40 + i));
			f->ts_us = (int64_t)(phase * 40 + i) * 33333;
			struct ipkvm_buf *au = NULL;
			bool key = false;
			int r = encode(e, f, false, &au, &key);
			assert_true(r == 0 || r == -EAGAIN);
			if (r == 0) {
				/* no re-initialisation: the only IDR is the very first frame */
				assert_int_equal(key, phase == 0 && i == 0);
				if (i >= 10) { /* let rate control settle */
					bytes[phase] += au->len;
					counted[phase]++;
				}
				ipkvm_buf_unref(au);
			}
			ipkvm_frame_unref(f);
		}
	}
	/* Frames over 30 fps timing: per-frame budget 8000/30 vs 400/30 kbit. */
	assert_true(counted[0] > 0);
	double before = (double)bytes[0] / 30.0; /* per input frame, skips count as 0 */
	double after = (double)bytes[1] / 30.0;
	print_message("bytes/frame at 8000 kbit/s: %.0f, at 400 kbit/s: %.0f (%d encoded)\n",
		      before, after, counted[1]);
	assert_true(after * 4 < before);
	ipkvm_h264_destroy(e);
}

/* A starved rate control skips frames, but never a forced IDR. */
static void test_forced_idr_not_skipped(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = sw(100, 0);
	int skipped = 0, forced = 0;
	for (int i = 0; i < 40; i++) {
		struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 640, 360, 0);
		assert_non_null(f);
		draw_noise(f, (unsigned)i);
		f->ts_us = (int64_t)i * 16667;
		struct ipkvm_buf *au = NULL;
		bool key = false;
		bool force = i > 0 && i % 5 == 0;
		int r = encode(e, f, force, &au, &key);
		if (force || i == 0) {
			assert_int_equal(r, 0);
			assert_true(key);
			assert_idr_au(au);
			forced++;
		} else if (r == -EAGAIN) {
			assert_null(au);
			skipped++;
		} else {
			assert_int_equal(r, 0);
		}
		ipkvm_buf_unref(au);
		ipkvm_frame_unref(f);
	}
	print_message("100 kbit/s noise: %d of 32 P-frames skipped, %d IDRs\n", skipped, forced);
	assert_true(skipped > 0); /* the starvation is real */
	ipkvm_h264_destroy(e);
}

static void test_size_change(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = sw(2000, 0);
	struct dec d;
	dec_init(&d);
	unsigned sizes[3][2] = {{640, 360}, {320, 240}, {1280, 720}};
	for (int s = 0; s < 3; s++) {
		for (int i = 0; i < 3; i++) {
			struct ipkvm_frame *f =
			    console(IPKVM_FMT_YUYV, sizes[s][0], sizes[s][1], 10 + i);
			struct ipkvm_buf *au = NULL;
			bool key = false;
			assert_int_equal(encode(e, f, false, &au, &key), 0);
			assert_int_equal(key, i == 0);
			dec_au(&d, au);
			assert_int_equal(d.width, (int)sizes[s][0]);
			assert_int_equal(d.height, (int)sizes[s][1]);
			assert_true(psnr_vs(&d, f) >= 40.0);
			ipkvm_buf_unref(au);
			ipkvm_frame_unref(f);
		}
	}
	assert_int_equal(d.frames, 9);
	dec_free(&d);
	ipkvm_h264_destroy(e);
}

/* The same picture again: openh264 may skip it or send a tiny P-frame, never an IDR. */
static void test_static_screen_is_cheap(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = sw(2000, 0);
	struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 1280, 720, 50);
	size_t last = 0;
	for (int i = 0; i < 10; i++) {
		struct ipkvm_buf *au = NULL;
		bool key = false;
		f->ts_us = (int64_t)i * 16667;
		int r = encode(e, f, false, &au, &key);
		assert_true(r == 0 || r == -EAGAIN);
		if (r == 0) {
			assert_int_equal(key, i == 0);
			last = au->len;
			ipkvm_buf_unref(au);
		}
	}
	assert_true(last < 100);
	ipkvm_frame_unref(f);
	ipkvm_h264_destroy(e);
}

static void test_bad_config(void **state)
{
	(void)state;
	char err[256];
	struct ipkvm_h264_config cfg = {.backend = "quantum"};
	err[0] = 0;
	assert_null(ipkvm_h264_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "quantum"));

	int bad[][3] = {{99, 60, 0},   {50001, 60, 0},	{2000, 121, 0},
			{2000, -1, 0}, {2000, 60, 601}, {2000, 60, -1}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = (struct ipkvm_h264_config){.backend = "software",
						 .bitrate_kbps = bad[i][0],
						 .max_fps = bad[i][1],
						 .gop = bad[i][2]};
		err[0] = 0;
		assert_null(ipkvm_h264_create(&cfg, err, sizeof(err)));
		assert_non_null(strstr(err, "out of range"));
	}
	/* NULL err is fine */
	assert_null(ipkvm_h264_create(&cfg, NULL, 0));

	/* defaults */
	cfg = (struct ipkvm_h264_config){.backend = "software"};
	struct ipkvm_h264 *e = ipkvm_h264_create(&cfg, err, sizeof(err));
	assert_non_null(e);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ipkvm_h264_set_params(e, bad[i][0], bad[i][1], bad[i][2]),
				 -EINVAL);
	assert_int_equal(ipkvm_h264_set_params(e, 100, 1, 600), 0);
	assert_int_equal(ipkvm_h264_set_params(e, 50000, 120, 0), 0);
	/* the extremes are taken by openh264 too (at init and live) */
	for (int i = 0; i < 3; i++) {
		struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 320, 240, i);
		struct ipkvm_buf *au = NULL;
		bool key = false;
		assert_int_equal(ipkvm_h264_encode(e, f, false, &au, &key), 0);
		ipkvm_buf_unref(au);
		ipkvm_frame_unref(f);
		assert_int_equal(ipkvm_h264_set_params(e, 100, 1, 600), 0);
	}
	ipkvm_h264_destroy(e);
	ipkvm_h264_destroy(NULL);
}

static void test_bad_frames(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = sw(2000, 0);
	struct ipkvm_buf *au = (struct ipkvm_buf *)1;
	bool key = true;

	struct ipkvm_frame *m = ipkvm_frame_new(IPKVM_FMT_MJPEG, 640, 360, 1000);
	assert_non_null(m);
	m->size = 1000;
	assert_int_equal(encode(e, m, false, &au, &key), -EINVAL);
	assert_null(au);
	assert_false(key);
	ipkvm_frame_unref(m);

	unsigned sizes[][2] = {{641, 360}, {640, 361}, {8, 8}, {4098, 1080}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct ipkvm_frame *f =
		    ipkvm_frame_new(IPKVM_FMT_YUYV, sizes[i][0], sizes[i][1], 0);
		assert_non_null(f);
		memset(f->data, 0x80, f->size);
		assert_int_equal(encode(e, f, false, &au, &key), -EINVAL);
		ipkvm_frame_unref(f);
	}
	/* A frame whose data is shorter than its geometry says. */
	struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 64, 64, 1);
	f->size -= 1;
	assert_int_equal(encode(e, f, false, &au, &key), -EINVAL);
	ipkvm_frame_unref(f);
	ipkvm_h264_destroy(e);
}

/* Settings from another thread while this one encodes (run under TSan too). */

struct setter {
	struct ipkvm_h264 *e;
	atomic_bool stop;
};

static void *setter_main(void *arg)
{
	struct setter *s = arg;
	int i = 0;
	while (!atomic_load(&s->stop)) {
		ipkvm_h264_set_params(s->e, 500 + (i % 10) * 100, 30 + i % 30, i % 5);
		i++;
	}
	return NULL;
}

static void test_set_params_threaded(void **state)
{
	(void)state;
	struct setter s = {.e = sw(2000, 0)};
	atomic_init(&s.stop, false);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, setter_main, &s), 0);
	for (int i = 0; i < 30; i++) {
		struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 320, 240, i);
		struct ipkvm_buf *au = NULL;
		bool key = false;
		int r = encode(s.e, f, false, &au, &key);
		assert_true(r == 0 || r == -EAGAIN);
		ipkvm_buf_unref(au);
		ipkvm_frame_unref(f);
	}
	atomic_store(&s.stop, true);
	pthread_join(t, NULL);
	ipkvm_h264_destroy(s.e);
}

/* ---- the fake V4L2 mem2mem encoder ---- */

#define FAKE_FD	     77
#define FAKE_BUFS    8
#define FAKE_CAP_LEN 4096
#define FAKE_PAD     64 /* bytesperline = width * bpp + FAKE_PAD */
#define CAP_OFFSET   0x1000000
#define MAX_CTRLS    32

static const uint8_t canned_sps[] = {0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01};
static const uint8_t canned_pps[] = {0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80};

struct fake_buf {
	uint8_t *mem;
	size_t len;
	bool queued, mapped;
	uint32_t bytesused, flags;
};

struct fake_ctrl {
	uint32_t id;
	int value;
	int count;
};

static struct fake {
	/* behaviour */
	bool absent, not_m2m, no_h264, mplane, separate_header, no_repeat, stall;
	uint32_t out_fmts[4];
	unsigned n_out_fmts;
	/* state */
	int opens, closes, maps, unmaps;
	uint32_t out_fourcc, cap_fourcc;
	unsigned width, height, bpl;
	size_t sizeimage;
	struct fake_buf out[FAKE_BUFS], cap[FAKE_BUFS];
	unsigned n_out, n_cap;
	bool on_out, on_cap;
	int done_cap[FAKE_BUFS * 2], n_done_cap;
	int done_out[FAKE_BUFS], n_done_out;
	struct fake_ctrl ctrls[MAX_CTRLS];
	unsigned n_ctrls;
	bool key_pending, header_sent;
	int frames, fps_num, fps_den;
	uint8_t first_in[64]; /* the first bytes of the last frame queued */
	uint32_t last_used;
} fk;

static void fake_reset(void)
{
	for (unsigned i = 0; i < FAKE_BUFS; i++) {
		free(fk.out[i].mem);
		free(fk.cap[i].mem);
	}
	memset(&fk, 0, sizeof(fk));
	fk.mplane = true;
	fk.out_fmts[0] = V4L2_PIX_FMT_YUV420;
	fk.out_fmts[1] = V4L2_PIX_FMT_YUYV;
	fk.out_fmts[2] = V4L2_PIX_FMT_RGB24;
	fk.n_out_fmts = 3;
}

static int fake_ctrl_value(uint32_t id, int *count)
{
	for (unsigned i = 0; i < fk.n_ctrls; i++) {
		if (fk.ctrls[i].id == id) {
			if (count)
				*count = fk.ctrls[i].count;
			return fk.ctrls[i].value;
		}
	}
	if (count)
		*count = 0;
	return INT_MIN;
}

static int set_errno(int e)
{
	errno = e;
	return -1;
}

static bool is_out(uint32_t type)
{
	return type == V4L2_BUF_TYPE_VIDEO_OUTPUT || type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
}

static bool type_ok(uint32_t type)
{
	return fk.mplane
		   ? (type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE ||
		      type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE)
		   : (type == V4L2_BUF_TYPE_VIDEO_OUTPUT || type == V4L2_BUF_TYPE_VIDEO_CAPTURE);
}

static void put(uint8_t *dst, size_t *n, const uint8_t *src, size_t len)
{
	memcpy(dst + *n, src, len);
	*n += len;
}

/* Takes a queued CAPTURE buffer and fills it with d. */
static void fake_emit(const uint8_t *d, size_t len, bool key)
{
	for (unsigned i = 0; i < fk.n_cap; i++) {
		if (!fk.cap[i].queued)
			continue;
		memcpy(fk.cap[i].mem, d, len);
		fk.cap[i].bytesused = (uint32_t)len;
		fk.cap[i].flags = key ? V4L2_BUF_FLAG_KEYFRAME : V4L2_BUF_FLAG_PFRAME;
		fk.cap[i].queued = false;
		fk.done_cap[fk.n_done_cap++] = (int)i;
		return;
	}
	fail_msg("no CAPTURE buffer queued");
}

/* "Encodes" the frame in OUTPUT buffer i. */
static void fake_encode(unsigned i)
{
	memcpy(fk.first_in, fk.out[i].mem, sizeof(fk.first_in));
	fk.out[i].queued = false;
	fk.done_out[fk.n_done_out++] = (int)i;
	if (fk.stall)
		return;
	bool key = fk.frames == 0 || fk.key_pending;
	fk.key_pending = false;
	uint8_t au[64];
	size_t n = 0;
	if (key && fk.separate_header && !fk.header_sent) {
		put(au, &n, canned_sps, sizeof(canned_sps));
		put(au, &n, canned_pps, sizeof(canned_pps));
		fake_emit(au, n, false);
		fk.header_sent = true;
		n = 0;
	} else if (key && !(fk.no_repeat && fk.frames > 0)) {
		put(au, &n, canned_sps, sizeof(canned_sps));
		put(au, &n, canned_pps, sizeof(canned_pps));
	}
	uint8_t pic[] = {0, 0, 0, 1, key ? 0x65 : 0x41, 0x88, 0x84, (uint8_t)fk.frames};
	put(au, &n, pic, sizeof(pic));
	fake_emit(au, n, key);
	fk.frames++;
}

static int fake_open(const char *path, int flags)
{
	(void)flags;
	if (fk.absent || strcmp(path, "/dev/video11") != 0)
		return set_errno(ENOENT);
	fk.opens++;
	return FAKE_FD;
}

static int fake_close(int fd)
{
	assert_int_equal(fd, FAKE_FD);
	fk.closes++;
	return 0;
}

static int fake_fmt(struct v4l2_format *f, bool set)
{
	if (!type_ok(f->type))
		return set_errno(EINVAL);
	bool out = is_out(f->type);
	uint32_t pf = fk.mplane ? f->fmt.pix_mp.pixelformat : f->fmt.pix.pixelformat;
	unsigned w = fk.mplane ? f->fmt.pix_mp.width : f->fmt.pix.width;
	unsigned h = fk.mplane ? f->fmt.pix_mp.height : f->fmt.pix.height;
	if (!set)
		return 0;
	uint32_t bpl = 0, size = FAKE_CAP_LEN;
	if (out) {
		bool listed = false;
		for (unsigned i = 0; i < fk.n_out_fmts; i++)
			listed |= fk.out_fmts[i] == pf;
		if (!listed)
			pf = fk.out_fmts[0]; /* as drivers do: something it has */
		unsigned bpp = pf == V4L2_PIX_FMT_YUYV ? 2 : pf == V4L2_PIX_FMT_RGB24 ? 3 : 1;
		bpl = w * bpp + FAKE_PAD;
		size = pf == V4L2_PIX_FMT_YUV420 ? bpl * h * 3 / 2 : bpl * h;
		fk.out_fourcc = pf;
		fk.width = w;
		fk.height = h;
		fk.bpl = bpl;
		fk.sizeimage = size;
	} else {
		if (pf != V4L2_PIX_FMT_H264)
			pf = V4L2_PIX_FMT_H264;
		fk.cap_fourcc = pf;
	}
	if (fk.mplane) {
		f->fmt.pix_mp.pixelformat = pf;
		f->fmt.pix_mp.num_planes = 1;
		f->fmt.pix_mp.plane_fmt[0].bytesperline = bpl;
		f->fmt.pix_mp.plane_fmt[0].sizeimage = size;
	} else {
		f->fmt.pix.pixelformat = pf;
		f->fmt.pix.bytesperline = bpl;
		f->fmt.pix.sizeimage = size;
	}
	return 0;
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	assert_int_equal(fd, FAKE_FD);
	switch (req) {
	case VIDIOC_QUERYCAP: {
		struct v4l2_capability *c = arg;
		memset(c, 0, sizeof(*c));
		snprintf((char *)c->card, sizeof(c->card), "fake-codec");
		c->device_caps = V4L2_CAP_STREAMING | (fk.not_m2m  ? V4L2_CAP_VIDEO_CAPTURE
						       : fk.mplane ? V4L2_CAP_VIDEO_M2M_MPLANE
								   : V4L2_CAP_VIDEO_M2M);
		c->capabilities = c->device_caps | V4L2_CAP_DEVICE_CAPS;
		return 0;
	}
	case VIDIOC_ENUM_FMT: {
		struct v4l2_fmtdesc *d = arg;
		if (!type_ok(d->type))
			return set_errno(EINVAL);
		if (is_out(d->type)) {
			if (d->index >= fk.n_out_fmts)
				return set_errno(EINVAL);
			d->pixelformat = fk.out_fmts[d->index];
			return 0;
		}
		uint32_t caps[2] = {V4L2_PIX_FMT_MJPEG, V4L2_PIX_FMT_H264};
		unsigned n = fk.no_h264 ? 1 : 2;
		if (d->index >= n)
			return set_errno(EINVAL);
		d->pixelformat = caps[d->index];
		return 0;
	}
	case VIDIOC_S_FMT:
		return fake_fmt(arg, true);
	case VIDIOC_S_PARM: {
		struct v4l2_streamparm *p = arg;
		assert_true(is_out(p->type));
		fk.fps_num = (int)p->parm.output.timeperframe.numerator;
		fk.fps_den = (int)p->parm.output.timeperframe.denominator;
		return 0;
	}
	case VIDIOC_S_CTRL: {
		struct v4l2_control *c = arg;
		if (c->id == V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME)
			fk.key_pending = true;
		for (unsigned i = 0; i < fk.n_ctrls; i++) {
			if (fk.ctrls[i].id == c->id) {
				fk.ctrls[i].value = c->value;
				fk.ctrls[i].count++;
				return 0;
			}
		}
		assert_true(fk.n_ctrls < MAX_CTRLS);
		fk.ctrls[fk.n_ctrls++] = (struct fake_ctrl){c->id, c->value, 1};
		return 0;
	}
	case VIDIOC_REQBUFS: {
		struct v4l2_requestbuffers *rb = arg;
		assert_int_equal(rb->memory, V4L2_MEMORY_MMAP);
		if (!type_ok(rb->type))
			return set_errno(EINVAL);
		bool out = is_out(rb->type);
		struct fake_buf *bufs = out ? fk.out : fk.cap;
		unsigned *n = out ? &fk.n_out : &fk.n_cap;
		if ((out ? fk.on_out : fk.on_cap) && rb->count)
			return set_errno(EBUSY);
		for (unsigned i = 0; i < *n; i++) {
			assert_false(bufs[i].mapped); /* unmapped before release */
			free(bufs[i].mem);
			bufs[i] = (struct fake_buf){0};
		}
		*n = rb->count > FAKE_BUFS ? FAKE_BUFS : rb->count;
		for (unsigned i = 0; i < *n; i++) {
			bufs[i].len = out ? fk.sizeimage : FAKE_CAP_LEN;
			bufs[i].mem = calloc(1, bufs[i].len);
		}
		rb->count = *n;
		return 0;
	}
	case VIDIOC_QUERYBUF:
	case VIDIOC_QBUF:
	case VIDIOC_DQBUF: {
		struct v4l2_buffer *b = arg;
		if (!type_ok(b->type))
			return set_errno(EINVAL);
		assert_int_equal(b->memory, V4L2_MEMORY_MMAP);
		if (fk.mplane) {
			assert_non_null(b->m.planes);
			assert_int_equal(b->length, 1);
		}
		bool out = is_out(b->type);
		struct fake_buf *bufs = out ? fk.out : fk.cap;
		unsigned n = out ? fk.n_out : fk.n_cap;
		if (req == VIDIOC_DQBUF) {
			int *q = out ? fk.done_out : fk.done_cap;
			int *nq = out ? &fk.n_done_out : &fk.n_done_cap;
			if (*nq == 0)
				return set_errno(EAGAIN);
			unsigned i = (unsigned)q[0];
			memmove(q, q + 1, (size_t)(*nq - 1) * sizeof(int));
			(*nq)--;
			b->index = i;
			b->flags = bufs[i].flags;
			if (fk.mplane) {
				b->m.planes[0].bytesused = bufs[i].bytesused;
				b->m.planes[0].data_offset = 0;
			} else {
				b->bytesused = bufs[i].bytesused;
			}
			return 0;
		}
		if (b->index >= n)
			return set_errno(EINVAL);
		struct fake_buf *fb = &bufs[b->index];
		if (req == VIDIOC_QUERYBUF) {
			uint32_t off = (out ? 0 : CAP_OFFSET) + b->index * 0x100000;
			if (fk.mplane) {
				b->m.planes[0].length = (uint32_t)fb->len;
				b->m.planes[0].m.mem_offset = off;
			} else {
				b->length = (uint32_t)fb->len;
				b->m.offset = off;
			}
			return 0;
		}
		/* QBUF */
		if (fb->queued)
			return set_errno(EINVAL);
		fb->queued = true;
		fb->flags = 0;
		if (out) {
			fk.last_used = fk.mplane ? b->m.planes[0].bytesused : b->bytesused;
			assert_true(fk.on_out && fk.on_cap);
			fake_encode(b->index);
		}
		return 0;
	}
	case VIDIOC_STREAMON:
	case VIDIOC_STREAMOFF: {
		uint32_t t = (uint32_t) * (int *)arg;
		if (!type_ok(t))
			return set_errno(EINVAL);
		bool on = req == VIDIOC_STREAMON;
		if (is_out(t)) {
			fk.on_out = on;
			if (!on) {
				fk.n_done_out = 0;
				for (unsigned i = 0; i < fk.n_out; i++)
					fk.out[i].queued = false;
			}
		} else {
			fk.on_cap = on;
			if (!on) {
				fk.n_done_cap = 0;
				for (unsigned i = 0; i < fk.n_cap; i++)
					fk.cap[i].queued = false;
			}
		}
		return 0;
	}
	default:
		return set_errno(ENOTTY);
	}
}

static void *fake_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	(void)addr;
	(void)prot;
	(void)flags;
	assert_int_equal(fd, FAKE_FD);
	bool cap = off >= CAP_OFFSET;
	unsigned i = (unsigned)((off - (cap ? CAP_OFFSET : 0)) / 0x100000);
	struct fake_buf *b = cap ? &fk.cap[i] : &fk.out[i];
	assert_true(i < (cap ? fk.n_cap : fk.n_out));
	assert_int_equal(len, b->len);
	b->mapped = true;
	fk.maps++;
	return b->mem;
}

static int fake_munmap(void *addr, size_t len)
{
	for (unsigned i = 0; i < FAKE_BUFS; i++) {
		struct fake_buf *bs[2] = {&fk.out[i], &fk.cap[i]};
		for (int k = 0; k < 2; k++) {
			if (bs[k]->mem == addr && bs[k]->mapped) {
				assert_int_equal(len, bs[k]->len);
				bs[k]->mapped = false;
				fk.unmaps++;
				return 0;
			}
		}
	}
	fail_msg("munmap of an unknown address");
	return -1;
}

static int fake_poll(struct pollfd *fds, unsigned long nfds, int timeout_ms)
{
	(void)timeout_ms;
	assert_int_equal(nfds, 1);
	assert_int_equal(fds[0].fd, FAKE_FD);
	fds[0].revents = 0;
	if ((fds[0].events & POLLIN) && fk.n_done_cap)
		fds[0].revents |= POLLIN;
	if ((fds[0].events & POLLOUT) && fk.n_done_out)
		fds[0].revents |= POLLOUT;
	return fds[0].revents ? 1 : 0; /* nothing ready: a timeout, at once */
}

static const struct ipkvm_v4l2_io fake_io = {
    .open = fake_open,
    .close = fake_close,
    .ioctl = fake_ioctl,
    .mmap = fake_mmap,
    .munmap = fake_munmap,
    .poll = fake_poll,
};

static int m2m_setup(void **state)
{
	(void)state;
	fake_reset();
	ipkvm_v4l2_set_io(&fake_io);
	return 0;
}

static int m2m_teardown(void **state)
{
	(void)state;
	ipkvm_v4l2_set_io(NULL);
	fake_reset();
	return 0;
}

static struct ipkvm_h264 *hw(const char *backend, int bitrate, int fps, int gop)
{
	struct ipkvm_h264_config cfg = {
	    .backend = backend, .bitrate_kbps = bitrate, .max_fps = fps, .gop = gop};
	char err[256] = "";
	struct ipkvm_h264 *e = ipkvm_h264_create(&cfg, err, sizeof(err));
	assert_non_null(e);
	return e;
}

/* Encodes a console frame through the fake; checks the result. */
static void hw_frame(struct ipkvm_h264 *e, enum ipkvm_pixfmt fmt, unsigned w, unsigned h,
		     bool force, bool want_key, int n)
{
	struct ipkvm_frame *f = console(fmt, w, h, n);
	struct ipkvm_buf *au = NULL;
	bool key = !want_key;
	assert_int_equal(ipkvm_h264_encode(e, f, force, &au, &key), 0);
	assert_non_null(au);
	assert_int_equal(key, want_key);
	if (want_key)
		assert_idr_au(au);
	else
		assert_p_au(au);
	/* the picture is the fake's, numbered by frame */
	assert_int_equal(au->data[au->len - 1], (uint8_t)(fk.frames - 1));
	ipkvm_buf_unref(au);
	ipkvm_frame_unref(f);
}

static void test_m2m_absent(void **state)
{
	(void)state;
	char err[256] = "";
	struct ipkvm_h264_config cfg = {.backend = "v4l2"};
	fk.absent = true;
	assert_null(ipkvm_h264_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "no V4L2 H.264 encoder at /dev/video11"));
	/* auto: openh264, and the device was never opened */
	cfg.backend = "auto";
	struct ipkvm_h264 *e = ipkvm_h264_create(&cfg, err, sizeof(err));
	assert_non_null(e);
	assert_string_equal(ipkvm_h264_backend(e), "openh264");
	ipkvm_h264_destroy(e);
	/* NULL backend is auto */
	cfg.backend = NULL;
	e = ipkvm_h264_create(&cfg, err, sizeof(err));
	assert_non_null(e);
	assert_string_equal(ipkvm_h264_backend(e), "openh264");
	ipkvm_h264_destroy(e);
	assert_int_equal(fk.opens, 0);
}

static void test_m2m_not_an_encoder(void **state)
{
	(void)state;
	char err[256] = "";
	struct ipkvm_h264_config cfg = {.backend = "v4l2"};
	fk.not_m2m = true;
	assert_null(ipkvm_h264_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "no V4L2 H.264 encoder at /dev/video11"));
	assert_non_null(strstr(err, "not a mem2mem device"));
	fk.not_m2m = false;
	fk.no_h264 = true;
	assert_null(ipkvm_h264_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "does not produce H.264"));
	assert_int_equal(fk.opens, fk.closes);
	/* auto falls back */
	cfg.backend = "auto";
	struct ipkvm_h264 *e = ipkvm_h264_create(&cfg, err, sizeof(err));
	assert_non_null(e);
	assert_string_equal(ipkvm_h264_backend(e), "openh264");
	ipkvm_h264_destroy(e);
	assert_int_equal(fk.opens, fk.closes);
}

static void check_controls(int bitrate_kbps, int gop)
{
	assert_int_equal(fake_ctrl_value(V4L2_CID_MPEG_VIDEO_BITRATE, NULL), bitrate_kbps * 1000);
	assert_int_equal(fake_ctrl_value(V4L2_CID_MPEG_VIDEO_H264_I_PERIOD, NULL),
			 gop ? gop : INT_MAX);
	assert_int_equal(fake_ctrl_value(V4L2_CID_MPEG_VIDEO_H264_PROFILE, NULL),
			 V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE);
	assert_int_equal(fake_ctrl_value(V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER, NULL), 1);
}

/* Multi-planar (as bcm2835-codec), YUYV in natively: negotiation, controls, the cycle. */
static void test_m2m_cycle_mplane_yuyv(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = hw("auto", 3000, 50, 0);
	assert_string_equal(ipkvm_h264_backend(e), "v4l2-m2m");
	assert_int_equal(fk.opens, 1);
	assert_int_equal(fk.n_out, 0); /* buffers wait for the first frame */

	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, false, true, 1);
	assert_int_equal(fk.out_fourcc, V4L2_PIX_FMT_YUYV);
	assert_int_equal(fk.cap_fourcc, V4L2_PIX_FMT_H264);
	assert_int_equal(fk.width, 640);
	assert_int_equal(fk.height, 360);
	assert_true(fk.on_out && fk.on_cap);
	check_controls(3000, 0);
	assert_int_equal(fake_ctrl_value(V4L2_CID_MPEG_VIDEO_H264_LEVEL, NULL),
			 V4L2_MPEG_VIDEO_H264_LEVEL_4_0);
	assert_int_equal(fk.fps_num, 1);
	assert_int_equal(fk.fps_den, 50);
	/* the frame's bytes, row by row into the driver's wider lines */
	struct ipkvm_frame *ref = console(IPKVM_FMT_YUYV, 640, 360, 1);
	assert_memory_equal(fk.first_in, ref->data, sizeof(fk.first_in));
	assert_memory_equal(fk.out[0].mem + fk.bpl, ref->data + ref->stride, 640 * 2);
	assert_int_equal(fk.last_used, fk.sizeimage);
	ipkvm_frame_unref(ref);

	for (int i = 2; i < 10; i++)
		hw_frame(e, IPKVM_FMT_YUYV, 640, 360, false, false, i);
	/* every CAPTURE buffer back with the driver, every OUTPUT buffer back with us */
	for (unsigned i = 0; i < fk.n_cap; i++)
		assert_true(fk.cap[i].queued);
	assert_int_equal(fk.n_done_out, 0);
	assert_int_equal(fk.frames, 9);

	/* force-key-frame */
	int count = 0;
	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, true, true, 10);
	fake_ctrl_value(V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, &count);
	assert_int_equal(count, 2); /* once at the start, once now */
	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, false, false, 11);

	/* live settings: controls changed, no renegotiation */
	int maps = fk.maps;
	assert_int_equal(ipkvm_h264_set_params(e, 800, 30, 120), 0);
	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, false, false, 12);
	check_controls(800, 120);
	assert_int_equal(fk.fps_den, 30);
	assert_int_equal(fk.maps, maps);

	ipkvm_h264_destroy(e);
	assert_int_equal(fk.maps, fk.unmaps);
	assert_int_equal(fk.opens, fk.closes);
	assert_false(fk.on_out || fk.on_cap);
}

/* A size change renegotiates and starts with an IDR; RGB goes in natively. */
static void test_m2m_size_and_format_change(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = hw("v4l2", 2000, 60, 30);
	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, false, true, 1);
	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, false, false, 2);
	hw_frame(e, IPKVM_FMT_YUYV, 1920, 1080, false, true, 3);
	assert_int_equal(fk.width, 1920);
	assert_int_equal(fake_ctrl_value(V4L2_CID_MPEG_VIDEO_H264_LEVEL, NULL),
			 V4L2_MPEG_VIDEO_H264_LEVEL_4_2);
	check_controls(2000, 30);
	hw_frame(e, IPKVM_FMT_YUYV, 1920, 1080, false, false, 4);
	hw_frame(e, IPKVM_FMT_RGB24, 320, 240, false, true, 5);
	assert_int_equal(fk.out_fourcc, V4L2_PIX_FMT_RGB24);
	hw_frame(e, IPKVM_FMT_RGB24, 320, 240, false, false, 6);
	ipkvm_h264_destroy(e);
	assert_int_equal(fk.maps, fk.unmaps);
	assert_int_equal(fk.opens, fk.closes);
}

/* Single-planar device that takes only YUV420: the frame is converted into its buffer. */
static void test_m2m_yuv420_single_planar(void **state)
{
	(void)state;
	fk.mplane = false;
	fk.out_fmts[0] = V4L2_PIX_FMT_NV12;
	fk.out_fmts[1] = V4L2_PIX_FMT_YUV420;
	fk.n_out_fmts = 2;
	struct ipkvm_h264 *e = hw("v4l2", 2000, 60, 0);
	hw_frame(e, IPKVM_FMT_UYVY, 320, 240, false, true, 7);
	assert_int_equal(fk.out_fourcc, V4L2_PIX_FMT_YUV420);
	struct ipkvm_frame *ref = console(IPKVM_FMT_UYVY, 320, 240, 7);
	size_t w = 320, h = 240, bpl = fk.bpl;
	uint8_t *i420 = malloc(w * h * 3 / 2);
	assert_non_null(i420);
	ipkvm_i420_from_frame(ref, i420, w, i420 + w * h, i420 + w * h + w * h / 4, w / 2);
	const uint8_t *mem = fk.out[0].mem;
	for (size_t y = 0; y < h; y++)
		assert_memory_equal(mem + y * bpl, i420 + y * w, w);
	for (size_t y = 0; y < h / 2; y++) {
		assert_memory_equal(mem + bpl * h + y * (bpl / 2), i420 + w * h + y * (w / 2),
				    w / 2);
		assert_memory_equal(mem + bpl * h + (bpl / 2) * (h / 2) + y * (bpl / 2),
				    i420 + w * h + w * h / 4 + y * (w / 2), w / 2);
	}
	free(i420);
	ipkvm_frame_unref(ref);
	hw_frame(e, IPKVM_FMT_UYVY, 320, 240, false, false, 8);
	hw_frame(e, IPKVM_FMT_UYVY, 320, 240, true, true, 9);
	ipkvm_h264_destroy(e);
	assert_int_equal(fk.maps, fk.unmaps);
}

/* The header arrives alone first; later IDRs come without it: both get SPS+PPS. */
static void test_m2m_sequence_header(void **state)
{
	(void)state;
	fk.separate_header = true;
	fk.no_repeat = true;
	struct ipkvm_h264 *e = hw("v4l2", 2000, 60, 0);
	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, false, true, 1);
	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, false, false, 2);
	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, true, true, 3);
	hw_frame(e, IPKVM_FMT_YUYV, 640, 360, false, false, 4);

	struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 640, 360, 5);
	struct ipkvm_buf *au = NULL;
	bool key = false;
	assert_int_equal(ipkvm_h264_encode(e, f, true, &au, &key), 0);
	size_t hl = sizeof(canned_sps) + sizeof(canned_pps);
	assert_true(au->len > hl);
	assert_memory_equal(au->data, canned_sps, sizeof(canned_sps));
	assert_memory_equal(au->data + sizeof(canned_sps), canned_pps, sizeof(canned_pps));
	assert_int_equal(au->data[hl + 4], 0x65);
	ipkvm_buf_unref(au);
	ipkvm_frame_unref(f);
	ipkvm_h264_destroy(e);
}

/* A device that keeps the frame: -ETIMEDOUT, and the next frame starts over. */
static void test_m2m_stall(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = hw("v4l2", 2000, 60, 0);
	hw_frame(e, IPKVM_FMT_YUYV, 320, 240, false, true, 1);
	fk.stall = true;
	struct ipkvm_frame *f = console(IPKVM_FMT_YUYV, 320, 240, 2);
	struct ipkvm_buf *au = NULL;
	bool key = false;
	assert_int_equal(ipkvm_h264_encode(e, f, false, &au, &key), -ETIMEDOUT);
	assert_null(au);
	assert_false(fk.on_out || fk.on_cap);
	assert_int_equal(fk.maps, fk.unmaps);
	fk.stall = false;
	ipkvm_frame_unref(f);
	hw_frame(e, IPKVM_FMT_YUYV, 320, 240, false, true, 3);
	ipkvm_h264_destroy(e);
	assert_int_equal(fk.maps, fk.unmaps);
}

static void test_m2m_bad_frames(void **state)
{
	(void)state;
	struct ipkvm_h264 *e = hw("v4l2", 2000, 60, 0);
	struct ipkvm_frame *m = ipkvm_frame_new(IPKVM_FMT_MJPEG, 640, 360, 100);
	assert_non_null(m);
	m->size = 100;
	struct ipkvm_buf *au = NULL;
	bool key = false;
	assert_int_equal(ipkvm_h264_encode(e, m, false, &au, &key), -EINVAL);
	ipkvm_frame_unref(m);
	/* BGR24 is not offered and neither is YUV420 here */
	fk.n_out_fmts = 2; /* YUV420, YUYV: BGR converts */
	hw_frame(e, IPKVM_FMT_BGR24, 320, 240, false, true, 1);
	assert_int_equal(fk.out_fourcc, V4L2_PIX_FMT_YUV420);
	ipkvm_h264_destroy(e);

	fk.out_fmts[0] = V4L2_PIX_FMT_NV12;
	fk.n_out_fmts = 1;
	e = hw("v4l2", 2000, 60, 0);
	struct ipkvm_frame *f = console(IPKVM_FMT_BGR24, 320, 240, 1);
	assert_int_equal(ipkvm_h264_encode(e, f, false, &au, &key), -ENOTSUP);
	ipkvm_frame_unref(f);
	ipkvm_h264_destroy(e);
	assert_int_equal(fk.maps, fk.unmaps);
	assert_int_equal(fk.opens, fk.closes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_typing_640x360),
	    cmocka_unit_test(test_typing_1080p),
	    cmocka_unit_test(test_typing_other_formats),
	    cmocka_unit_test(test_force_idr),
	    cmocka_unit_test(test_join_at_keyframe),
	    cmocka_unit_test(test_gop),
	    cmocka_unit_test(test_set_params_bitrate),
	    cmocka_unit_test(test_forced_idr_not_skipped),
	    cmocka_unit_test(test_size_change),
	    cmocka_unit_test(test_static_screen_is_cheap),
	    cmocka_unit_test(test_bad_config),
	    cmocka_unit_test(test_bad_frames),
	    cmocka_unit_test(test_set_params_threaded),
	    cmocka_unit_test_setup_teardown(test_m2m_absent, m2m_setup, m2m_teardown),
	    cmocka_unit_test_setup_teardown(test_m2m_not_an_encoder, m2m_setup, m2m_teardown),
	    cmocka_unit_test_setup_teardown(test_m2m_cycle_mplane_yuyv, m2m_setup, m2m_teardown),
	    cmocka_unit_test_setup_teardown(test_m2m_size_and_format_change, m2m_setup,
					    m2m_teardown),
	    cmocka_unit_test_setup_teardown(test_m2m_yuv420_single_planar, m2m_setup, m2m_teardown),
	    cmocka_unit_test_setup_teardown(test_m2m_sequence_header, m2m_setup, m2m_teardown),
	    cmocka_unit_test_setup_teardown(test_m2m_stall, m2m_setup, m2m_teardown),
	    cmocka_unit_test_setup_teardown(test_m2m_bad_frames, m2m_setup, m2m_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
