/*
 * Unit tests for video/h264 (the front: settings, frame checks, backend choice) and its
 * software backend, video/h264_openh264; the V4L2 mem2mem backend has test_h264_m2m.c and
 * the colour conversion test_i420.c.
 *
 * openh264: what we encode is decoded again with openh264's decoder here, so the checks
 * are on real output: NAL types of each access unit (SPS 7, PPS 8, IDR 5 first; P 1
 * after), keyframes on force and every gop frames, decoded size equal to the input, PSNR
 * of the decoded picture against the source (a console-like text screen) >= 40 dB, a
 * lower bitrate set live giving smaller frames without a new IDR, a starved rate control
 * skipping P-frames (-EAGAIN) but never a forced IDR, a size change giving an IDR at the
 * new size, settings from another thread (clean under ASan and TSan), and the refusals
 * (bad config, MJPEG, odd or out-of-range sizes, short data, bad settings).
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

#include "h264_test_util.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
