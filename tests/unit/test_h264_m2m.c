/*
 * test_h264_m2m: the V4L2 mem2mem H.264 backend (video/h264_m2m.c), through the encoder
 * front with backend "v4l2" or "auto". No encoder hardware exists where these run; a small
 * fake device answers the V4L2 calls (multi- or single-planar, formats to list, controls
 * recorded, MMAP buffers, a queue of finished buffers) and "encodes" each frame into canned
 * Annex-B bytes. Covered: the "not there" error and auto fallback, format negotiation
 * (native YUYV, YUV420 fallback with conversion, RGB), the controls and their values,
 * force-key-frame, the buffer cycle (every buffer back in the driver's hands), a separate
 * sequence header, SPS put before IDRs that lack it, live settings, a stalled device.
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
