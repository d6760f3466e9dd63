/*
 * test_jpeg_m2m: the V4L2 mem2mem JPEG encoder (video/jpeg_m2m.c), the device layer and the
 * choice with its fallback. No encoder hardware exists where these run: a fake device
 * answers the V4L2 calls the way bcm2835-codec's encode_image does (multi-planar, the raw
 * height rounded up to 16, lines aligned to 64 bytes, a JPEG quality control) or, switched,
 * like vim2m (single-planar, RGB in, BGR out: a converter). It "encodes" each frame into
 * bytes that carry the frame's first pixels and a counter, so a test can tell exactly which
 * frame came out. Failures on demand: absent, not M2M, no JPEG, an ioctl error mid-stream,
 * a stall (no buffer back), output that is not a JPEG. The clock is the fake's too, so the
 * back-off is tested without sleeping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/videodev2.h>

#include "video/draw.h"
#include "video/frame.h"
#include "video/jpeg.h"
#include "video/jpeg_m2m.h"
#include "video/v4l2_io.h"

#define FAKE_FD	     91
#define FAKE_BUFS    6
#define FAKE_JPEG_SZ (1 << 16)
#define CAP_OFFSET   0x1000000
#define DEV	     "/dev/video31"

struct fake_buf {
	uint8_t *mem;
	size_t len;
	bool queued, mapped;
	uint32_t bytesused, flags;
};

static struct fake {
	/* behaviour */
	bool absent, not_m2m, no_jpeg, single_planar, converter, stall, garbage, bad_flag;
	int fail_qbuf_after; /* > 0: QBUF of OUTPUT fails with ENODEV from then on (count) */
	uint32_t out_fmts[8];
	unsigned n_out_fmts;
	bool no_quality_ctrl;
	/* state */
	int opens, closes, maps, unmaps, qbufs_out, reqbufs;
	uint32_t out_fourcc, cap_fourcc;
	unsigned width, height, out_h, bpl, cap_bpl;
	size_t sizeimage;
	struct fake_buf out[FAKE_BUFS], cap[FAKE_BUFS];
	unsigned n_out, n_cap;
	bool on_out, on_cap;
	int done_cap[FAKE_BUFS * 2], n_done_cap;
	int done_out[FAKE_BUFS], n_done_out;
	int quality, quality_sets;
	int frames;
	uint32_t last_used;
	int64_t now_ms;
	char calls[2048]; /* the ioctls in order, "QUERYCAP ENUM_FMT(out) ..." */
} fk;

static void fake_reset(void)
{
	for (unsigned i = 0; i < FAKE_BUFS; i++) {
		free(fk.out[i].mem);
		free(fk.cap[i].mem);
	}
	memset(&fk, 0, sizeof(fk));
	/* bcm2835-codec's encode_image lists these (and more) on its OUTPUT queue */
	fk.out_fmts[0] = V4L2_PIX_FMT_YUV420;
	fk.out_fmts[1] = V4L2_PIX_FMT_NV12;
	fk.out_fmts[2] = V4L2_PIX_FMT_YUYV;
	fk.out_fmts[3] = V4L2_PIX_FMT_UYVY;
	fk.out_fmts[4] = V4L2_PIX_FMT_RGB24;
	fk.out_fmts[5] = V4L2_PIX_FMT_BGR24;
	fk.n_out_fmts = 6;
	fk.now_ms = 100000;
}

static int set_errno(int e)
{
	errno = e;
	return -1;
}

static bool is_out(uint32_t t)
{
	return t == V4L2_BUF_TYPE_VIDEO_OUTPUT || t == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
}

static bool type_ok(uint32_t t)
{
	return fk.single_planar
		   ? (t == V4L2_BUF_TYPE_VIDEO_OUTPUT || t == V4L2_BUF_TYPE_VIDEO_CAPTURE)
		   : (t == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE ||
		      t == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE);
}

static unsigned bpp_of(uint32_t f)
{
	return f == V4L2_PIX_FMT_RGB24 || f == V4L2_PIX_FMT_BGR24 ? 3
	       : f == V4L2_PIX_FMT_YUYV || f == V4L2_PIX_FMT_UYVY ? 2
								  : 1;
}

/* What the fake's "JPEG" of a frame is: SOI, the frame number, 32 bytes of the input's
 * first line, 32 of its last line, the quality, EOI. */
static size_t fake_jpeg(uint8_t *d, const uint8_t *in, unsigned bpl, unsigned h, int n, int q)
{
	size_t k = 0;
	d[k++] = 0xff;
	d[k++] = 0xd8;
	d[k++] = (uint8_t)n;
	memcpy(d + k, in, 32);
	k += 32;
	memcpy(d + k, in + (size_t)bpl * (h - 1), 32);
	k += 32;
	d[k++] = (uint8_t)q;
	d[k++] = 0xff;
	d[k++] = 0xd9;
	return k;
}

static void fake_process(unsigned i)
{
	fk.out[i].queued = false;
	fk.done_out[fk.n_done_out++] = (int)i;
	if (fk.stall)
		return;
	for (unsigned c = 0; c < fk.n_cap; c++) {
		if (!fk.cap[c].queued)
			continue;
		struct fake_buf *cb = &fk.cap[c];
		if (fk.converter) { /* RGB24 in, BGR24 out, same size */
			for (unsigned y = 0; y < fk.height; y++) {
				const uint8_t *s = fk.out[i].mem + (size_t)fk.bpl * y;
				uint8_t *d = cb->mem + (size_t)fk.cap_bpl * y;
				for (unsigned x = 0; x < fk.width; x++) {
					d[3 * x] = s[3 * x + 2];
					d[3 * x + 1] = s[3 * x + 1];
					d[3 * x + 2] = s[3 * x];
				}
			}
			cb->bytesused = fk.cap_bpl * fk.height;
		} else if (fk.garbage) {
			memset(cb->mem, 0x42, 100);
			cb->bytesused = 100;
		} else {
			/* the last line of the frame proper, not of the rounded-up buffer */
			cb->bytesused = (uint32_t)fake_jpeg(cb->mem, fk.out[i].mem, fk.bpl,
							    fk.height, fk.frames, fk.quality);
		}
		cb->flags = fk.bad_flag ? V4L2_BUF_FLAG_ERROR : 0;
		cb->queued = false;
		fk.done_cap[fk.n_done_cap++] = (int)c;
		fk.frames++;
		return;
	}
	fail_msg("no CAPTURE buffer queued");
}

static int fake_open(const char *path, int flags)
{
	(void)flags;
	if (fk.absent || strcmp(path, DEV) != 0)
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

static int fake_s_fmt(struct v4l2_format *f)
{
	if (!type_ok(f->type))
		return set_errno(EINVAL);
	bool mp = !fk.single_planar;
	uint32_t pf = mp ? f->fmt.pix_mp.pixelformat : f->fmt.pix.pixelformat;
	unsigned w = mp ? f->fmt.pix_mp.width : f->fmt.pix.width;
	unsigned h = mp ? f->fmt.pix_mp.height : f->fmt.pix.height;
	uint32_t bpl, size;
	if (is_out(f->type)) {
		bool ok = false;
		for (unsigned i = 0; i < fk.n_out_fmts; i++)
			ok |= fk.out_fmts[i] == pf;
		if (!ok)
			pf = fk.out_fmts[0];
		if (!fk.converter)
			h = (h + 15) & ~15u; /* bcm2835 encode_image: 16-line alignment */
		unsigned align = bpp_of(pf) == 2 ? 64 : 32;
		bpl = (w * bpp_of(pf) + align - 1) / align * align;
		size = pf == V4L2_PIX_FMT_YUV420 ? bpl * h * 3 / 2 : bpl * h;
		fk.out_fourcc = pf;
		fk.width = w;
		fk.height = mp ? f->fmt.pix_mp.height : f->fmt.pix.height;
		fk.out_h = h;
		fk.bpl = bpl;
		fk.sizeimage = size;
	} else {
		if (fk.converter) {
			pf = V4L2_PIX_FMT_BGR24;
			bpl = w * 3;
			size = bpl * h;
			fk.cap_bpl = bpl;
		} else {
			pf = V4L2_PIX_FMT_JPEG;
			bpl = 0;
			size = FAKE_JPEG_SZ;
		}
		fk.cap_fourcc = pf;
	}
	if (mp) {
		f->fmt.pix_mp.pixelformat = pf;
		f->fmt.pix_mp.height = h;
		f->fmt.pix_mp.num_planes = 1;
		f->fmt.pix_mp.plane_fmt[0].bytesperline = bpl;
		f->fmt.pix_mp.plane_fmt[0].sizeimage = size;
	} else {
		f->fmt.pix.pixelformat = pf;
		f->fmt.pix.height = h;
		f->fmt.pix.bytesperline = bpl;
		f->fmt.pix.sizeimage = size;
	}
	return 0;
}

static int fake_bufs(unsigned long req, struct v4l2_buffer *b)
{
	if (!type_ok(b->type))
		return set_errno(EINVAL);
	assert_int_equal(b->memory, V4L2_MEMORY_MMAP);
	if (!fk.single_planar) {
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
		if (!fk.single_planar) {
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
		if (!fk.single_planar) {
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
	if (out) {
		fk.qbufs_out++;
		if (fk.fail_qbuf_after && fk.qbufs_out >= fk.fail_qbuf_after)
			return set_errno(ENODEV);
		assert_true(fk.on_out && fk.on_cap);
		fk.last_used = !fk.single_planar ? b->m.planes[0].bytesused : b->bytesused;
	}
	fb->queued = true;
	fb->flags = 0;
	if (out)
		fake_process(b->index);
	return 0;
}

/* Records one ioctl, with the queue it is for. */
static void log_call(unsigned long req, void *arg)
{
	const char *name = req == VIDIOC_QUERYCAP    ? "QUERYCAP"
			   : req == VIDIOC_ENUM_FMT  ? "ENUM_FMT"
			   : req == VIDIOC_S_FMT     ? "S_FMT"
			   : req == VIDIOC_S_CTRL    ? "S_CTRL"
			   : req == VIDIOC_REQBUFS   ? "REQBUFS"
			   : req == VIDIOC_QUERYBUF  ? "QUERYBUF"
			   : req == VIDIOC_QBUF	     ? "QBUF"
			   : req == VIDIOC_DQBUF     ? "DQBUF"
			   : req == VIDIOC_STREAMON  ? "STREAMON"
			   : req == VIDIOC_STREAMOFF ? "STREAMOFF"
						     : "OTHER";
	uint32_t type = 0;
	bool typed = true;
	if (req == VIDIOC_ENUM_FMT)
		type = ((struct v4l2_fmtdesc *)arg)->type;
	else if (req == VIDIOC_S_FMT)
		type = ((struct v4l2_format *)arg)->type;
	else if (req == VIDIOC_REQBUFS)
		type = ((struct v4l2_requestbuffers *)arg)->type;
	else if (req == VIDIOC_QUERYBUF || req == VIDIOC_QBUF || req == VIDIOC_DQBUF)
		type = ((struct v4l2_buffer *)arg)->type;
	else if (req == VIDIOC_STREAMON || req == VIDIOC_STREAMOFF)
		type = (uint32_t) * (int *)arg;
	else
		typed = false;
	size_t n = strlen(fk.calls);
	if (n + 24 < sizeof(fk.calls))
		snprintf(fk.calls + n, sizeof(fk.calls) - n, "%s%s%s", n ? " " : "", name,
			 !typed		? ""
			 : is_out(type) ? "(out)"
					: "(cap)");
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	assert_int_equal(fd, FAKE_FD);
	log_call(req, arg);
	switch (req) {
	case VIDIOC_QUERYCAP: {
		struct v4l2_capability *c = arg;
		memset(c, 0, sizeof(*c));
		snprintf((char *)c->card, sizeof(c->card),
			 fk.converter ? "vim2m" : "bcm2835-codec-image_encode");
		c->device_caps =
		    V4L2_CAP_STREAMING | (fk.not_m2m	     ? V4L2_CAP_VIDEO_CAPTURE
					  : fk.single_planar ? V4L2_CAP_VIDEO_M2M
							     : V4L2_CAP_VIDEO_M2M_MPLANE);
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
		uint32_t caps[1] = {fk.converter ? V4L2_PIX_FMT_BGR24
				    : fk.no_jpeg ? V4L2_PIX_FMT_H264
						 : V4L2_PIX_FMT_JPEG};
		if (d->index >= 1)
			return set_errno(EINVAL);
		d->pixelformat = caps[0];
		return 0;
	}
	case VIDIOC_S_FMT:
		return fake_s_fmt(arg);
	case VIDIOC_S_CTRL: {
		struct v4l2_control *c = arg;
		if (c->id != V4L2_CID_JPEG_COMPRESSION_QUALITY || fk.no_quality_ctrl)
			return set_errno(EINVAL);
		assert_true(c->value >= 1 && c->value <= 100);
		fk.quality = c->value;
		fk.quality_sets++;
		return 0;
	}
	case VIDIOC_REQBUFS: {
		struct v4l2_requestbuffers *rb = arg;
		assert_int_equal(rb->memory, V4L2_MEMORY_MMAP);
		if (!type_ok(rb->type))
			return set_errno(EINVAL);
		fk.reqbufs++;
		bool out = is_out(rb->type);
		struct fake_buf *bufs = out ? fk.out : fk.cap;
		unsigned *n = out ? &fk.n_out : &fk.n_cap;
		if ((out ? fk.on_out : fk.on_cap) && rb->count)
			return set_errno(EBUSY);
		for (unsigned i = 0; i < *n; i++) {
			assert_false(bufs[i].mapped);
			free(bufs[i].mem);
			bufs[i] = (struct fake_buf){0};
		}
		/* bcm2835 raises the count to its minimum: give one more than asked */
		*n = rb->count ? rb->count + 1 : 0;
		if (*n > FAKE_BUFS)
			*n = FAKE_BUFS;
		for (unsigned i = 0; i < *n; i++) {
			bufs[i].len =
			    out ? fk.sizeimage
				: (fk.converter ? (size_t)fk.cap_bpl * fk.height : FAKE_JPEG_SZ);
			bufs[i].mem = calloc(1, bufs[i].len);
		}
		rb->count = *n;
		return 0;
	}
	case VIDIOC_QUERYBUF:
	case VIDIOC_QBUF:
	case VIDIOC_DQBUF:
		return fake_bufs(req, arg);
	case VIDIOC_STREAMON:
	case VIDIOC_STREAMOFF: {
		uint32_t t = (uint32_t) * (int *)arg;
		if (!type_ok(t))
			return set_errno(EINVAL);
		bool on = req == VIDIOC_STREAMON;
		struct fake_buf *bufs = is_out(t) ? fk.out : fk.cap;
		unsigned n = is_out(t) ? fk.n_out : fk.n_cap;
		*(is_out(t) ? &fk.on_out : &fk.on_cap) = on;
		if (!on) {
			*(is_out(t) ? &fk.n_done_out : &fk.n_done_cap) = 0;
			for (unsigned i = 0; i < n; i++)
				bufs[i].queued = false;
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
	assert_true(i < (cap ? fk.n_cap : fk.n_out));
	struct fake_buf *b = cap ? &fk.cap[i] : &fk.out[i];
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
	assert_int_equal(nfds, 1);
	assert_int_equal(fds[0].fd, FAKE_FD);
	fds[0].revents = 0;
	if ((fds[0].events & POLLIN) && fk.n_done_cap)
		fds[0].revents |= POLLIN;
	if ((fds[0].events & POLLOUT) && fk.n_done_out)
		fds[0].revents |= POLLOUT;
	if (!fds[0].revents)
		fk.now_ms += timeout_ms; /* nothing ready: the whole timeout passes */
	return fds[0].revents ? 1 : 0;
}

static int64_t fake_now(void)
{
	return fk.now_ms;
}

static const struct ipkvm_v4l2_io fake_io = {
    .open = fake_open,
    .close = fake_close,
    .ioctl = fake_ioctl,
    .mmap = fake_mmap,
    .munmap = fake_munmap,
    .poll = fake_poll,
    .mono_ms = fake_now,
};

static int setup(void **state)
{
	(void)state;
	fake_reset();
	ipkvm_v4l2_set_io(&fake_io);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ipkvm_v4l2_set_io(NULL);
	fake_reset();
	return 0;
}

/* A test picture: a gradient with the frame number in it, so every frame differs. */
static struct ipkvm_frame *picture(enum ipkvm_pixfmt fmt, unsigned w, unsigned h, int n)
{
	struct ipkvm_frame *f = ipkvm_frame_new(fmt, w, h, 0);
	assert_non_null(f);
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < f->stride; x++)
			f->data[f->stride * y + x] = (uint8_t)(x * 7 + y * 3 + n * 11);
	f->ts_us = 1000 * n;
	return f;
}

static void expect_jpeg(const struct ipkvm_buf *b, const struct ipkvm_frame *f, int n, int q)
{
	uint8_t want[128];
	/* the fake saw the frame's lines at the device's stride: rebuild that view */
	size_t row = (size_t)f->width * ipkvm_pixfmt_bpp(f->format);
	assert_true(row >= 32);
	size_t k = 0;
	want[k++] = 0xff;
	want[k++] = 0xd8;
	want[k++] = (uint8_t)n;
	memcpy(want + k, f->data, 32);
	k += 32;
	memcpy(want + k, f->data + f->stride * (f->height - 1), 32);
	k += 32;
	want[k++] = (uint8_t)q;
	want[k++] = 0xff;
	want[k++] = 0xd9;
	assert_non_null(b);
	assert_int_equal(b->len, k);
	assert_memory_equal(b->data, want, k);
}

/* ---- the device layer ---- */

static void test_open_errors(void **state)
{
	(void)state;
	char err[256];
	fk.absent = true;
	assert_null(ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_JPEG, err, sizeof(err)));
	assert_string_equal(err, "no V4L2 JPEG encoder at /dev/video31: No such file or directory");
	fk.absent = false;
	fk.not_m2m = true;
	assert_null(ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_JPEG, err, sizeof(err)));
	assert_non_null(strstr(err, "is not a mem2mem device"));
	fk.not_m2m = false;
	fk.no_jpeg = true;
	assert_null(ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_JPEG, err, sizeof(err)));
	assert_non_null(strstr(err, "does not produce JPEG"));
	assert_int_equal(fk.opens, 2);
	assert_int_equal(fk.closes, 2);
}

/* bcm2835-like: YUYV in natively, 1080 lines in an 1088-line buffer, 64-byte lines. */
static void test_encode_yuyv_bcm2835(void **state)
{
	(void)state;
	char err[256] = "";
	struct ipkvm_jpeg_m2m *m = ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_JPEG, err, sizeof(err));
	assert_non_null(m);
	assert_int_equal(fk.reqbufs, 0); /* buffers wait for the first frame */
	struct ipkvm_frame *f = picture(IPKVM_FMT_YUYV, 1000, 1080, 1);
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 80, &out), 0);
	assert_int_equal(fk.out_fourcc, V4L2_PIX_FMT_YUYV);
	assert_int_equal(fk.cap_fourcc, V4L2_PIX_FMT_JPEG);
	assert_int_equal(fk.width, 1000);
	assert_int_equal(fk.out_h, 1088);
	assert_int_equal(fk.bpl, 2048); /* 2000 rounded up to 64 */
	assert_int_equal(fk.quality, 80);
	assert_int_equal(fk.last_used, fk.sizeimage);
	expect_jpeg(out, f, 0, 80);
	/* every line at the device's stride */
	for (unsigned y = 0; y < 1080; y += 97)
		assert_memory_equal(fk.out[0].mem + (size_t)fk.bpl * y, f->data + f->stride * y,
				    2000);
	struct ipkvm_jpeg_m2m_info info;
	ipkvm_jpeg_m2m_info(m, &info);
	assert_true(info.mplane);
	assert_int_equal(info.out_fourcc, V4L2_PIX_FMT_YUYV);
	assert_int_equal(info.out_bpl, 2048);
	ipkvm_buf_unref(out);
	ipkvm_frame_unref(f);

	/* more frames: same buffers, quality only sent when it changes */
	int maps = fk.maps, sets = fk.quality_sets;
	for (int n = 2; n < 6; n++) {
		f = picture(IPKVM_FMT_YUYV, 1000, 1080, n);
		assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, n < 4 ? 80 : 55, &out), 0);
		expect_jpeg(out, f, n - 1, n < 4 ? 80 : 55);
		ipkvm_buf_unref(out);
		ipkvm_frame_unref(f);
	}
	assert_int_equal(fk.maps, maps);
	assert_int_equal(fk.quality_sets, sets + 1);
	/* every CAPTURE buffer in use is back with the driver, every OUTPUT one with us */
	assert_true(fk.cap[0].queued && fk.cap[1].queued);
	assert_int_equal(fk.n_done_out, 0);

	/* a size change: renegotiated */
	f = picture(IPKVM_FMT_YUYV, 640, 480, 9);
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 55, &out), 0);
	assert_int_equal(fk.width, 640);
	assert_int_equal(fk.out_h, 480);
	expect_jpeg(out, f, 5, 55);
	assert_int_equal(fk.quality, 55);
	ipkvm_buf_unref(out);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_m2m_close(m);
	assert_int_equal(fk.maps, fk.unmaps);
	assert_int_equal(fk.opens, fk.closes);
	assert_false(fk.on_out || fk.on_cap);
}

/* The ioctl sequence of open, the first frame, the next one and close, as the V4L2 M2M
 * interface wants it: formats before buffers, CAPTURE buffers queued before streaming,
 * both queues on, one frame in and its buffer out, and at close streaming off before the
 * buffers are released. */
static void test_ioctl_sequence(void **state)
{
	(void)state;
	char err[256];
	struct ipkvm_jpeg_m2m *m = ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_JPEG, err, sizeof(err));
	assert_non_null(m);
	assert_string_equal(fk.calls, "QUERYCAP ENUM_FMT(cap) ENUM_FMT(cap) ENUM_FMT(out) "
				      "ENUM_FMT(out) ENUM_FMT(out) ENUM_FMT(out) ENUM_FMT(out) "
				      "ENUM_FMT(out) ENUM_FMT(out)");
	fk.calls[0] = 0;
	struct ipkvm_frame *f = picture(IPKVM_FMT_YUYV, 320, 240, 1);
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 80, &out), 0);
	ipkvm_buf_unref(out);
	/* REQBUFS gives one more than the 2 asked for (as bcm2835's minimum does): only 2 are
	 * mapped and used */
	assert_string_equal(fk.calls, "S_FMT(out) S_FMT(cap) S_CTRL REQBUFS(out) QUERYBUF(out) "
				      "QUERYBUF(out) REQBUFS(cap) QUERYBUF(cap) QUERYBUF(cap) "
				      "QBUF(cap) QBUF(cap) STREAMON(out) STREAMON(cap) DQBUF(out) "
				      "QBUF(out) DQBUF(cap) QBUF(cap) DQBUF(out) DQBUF(out)");
	fk.calls[0] = 0;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 80, &out), 0);
	ipkvm_buf_unref(out);
	assert_string_equal(fk.calls, "DQBUF(out) QBUF(out) DQBUF(cap) QBUF(cap) DQBUF(out) "
				      "DQBUF(out)");
	fk.calls[0] = 0;
	ipkvm_jpeg_m2m_close(m);
	assert_string_equal(fk.calls, "STREAMOFF(out) STREAMOFF(cap) REQBUFS(out) REQBUFS(cap)");
	ipkvm_frame_unref(f);
	assert_int_equal(fk.maps, 4);
	assert_int_equal(fk.unmaps, 4);
}

/* A device without the frame's packing: RGB24 converted here; one without a quality
 * control still encodes. */
static void test_encode_converted(void **state)
{
	(void)state;
	fk.out_fmts[0] = V4L2_PIX_FMT_NV12;
	fk.out_fmts[1] = V4L2_PIX_FMT_RGB24;
	fk.n_out_fmts = 2;
	fk.no_quality_ctrl = true;
	char err[256];
	struct ipkvm_jpeg_m2m *m = ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_JPEG, err, sizeof(err));
	assert_non_null(m);
	struct ipkvm_frame *f = picture(IPKVM_FMT_UYVY, 320, 240, 3);
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 70, &out), 0);
	assert_int_equal(fk.out_fourcc, V4L2_PIX_FMT_RGB24);
	uint8_t *rgb = malloc(320 * 3 * 240);
	assert_non_null(rgb);
	ipkvm_frame_to_rgb24(f, rgb);
	for (unsigned y = 0; y < 240; y++)
		assert_memory_equal(fk.out[0].mem + (size_t)fk.bpl * y, rgb + 960 * y, 960);
	free(rgb);
	assert_non_null(out);
	assert_int_equal(out->data[0], 0xff);
	assert_int_equal(out->data[1], 0xd8);
	ipkvm_buf_unref(out);
	/* lines the device wants wider than the picture's (330 * 3 = 990 -> 992 bytes) */
	for (int n = 0; n < 2; n++) {
		struct ipkvm_frame *g = picture(IPKVM_FMT_YUYV, 330, 200, 5 + n);
		assert_int_equal(ipkvm_jpeg_m2m_encode(m, g, 70, &out), 0);
		assert_int_equal(fk.bpl, 992);
		rgb = malloc(990 * 200);
		assert_non_null(rgb);
		ipkvm_frame_to_rgb24(g, rgb);
		for (unsigned y = 0; y < 200; y++)
			assert_memory_equal(fk.out[0].mem + (size_t)992 * y, rgb + 990 * y, 990);
		free(rgb);
		ipkvm_buf_unref(out);
		ipkvm_frame_unref(g);
	}
	/* nothing it can take (the list is read at open) */
	ipkvm_jpeg_m2m_close(m);
	fk.n_out_fmts = 1;
	m = ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_JPEG, err, sizeof(err));
	assert_non_null(m);
	ipkvm_frame_unref(f);
	f = picture(IPKVM_FMT_BGR24, 320, 240, 4);
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 70, &out), -ENOTSUP);
	assert_null(out);
	/* MJPEG is never for the device */
	struct ipkvm_frame *mj = ipkvm_frame_new(IPKVM_FMT_MJPEG, 320, 240, 100);
	mj->size = 100;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, mj, 70, &out), -EINVAL);
	ipkvm_frame_unref(mj);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_m2m_close(m);
	assert_int_equal(fk.maps, fk.unmaps);
}

/* Errors mid-stream: an ioctl error, a stall (timeout), an error-flagged buffer. Each
 * leaves the device stopped with every buffer unmapped; the next frame starts over. */
static void test_encode_failures(void **state)
{
	(void)state;
	char err[256];
	struct ipkvm_jpeg_m2m *m = ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_JPEG, err, sizeof(err));
	assert_non_null(m);
	struct ipkvm_frame *f = picture(IPKVM_FMT_YUYV, 320, 240, 1);
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 80, &out), 0);
	ipkvm_buf_unref(out);

	fk.fail_qbuf_after = fk.qbufs_out + 1;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 80, &out), -ENODEV);
	assert_null(out);
	assert_false(fk.on_out || fk.on_cap);
	assert_int_equal(fk.maps, fk.unmaps);
	fk.fail_qbuf_after = 0;

	fk.stall = true;
	int64_t t0 = fk.now_ms;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 80, &out), -ETIMEDOUT);
	assert_true(fk.now_ms - t0 >= 500); /* it waited its whole timeout */
	assert_null(out);
	assert_int_equal(fk.maps, fk.unmaps);
	fk.stall = false;

	fk.bad_flag = true;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 80, &out), -EIO);
	assert_null(out);
	fk.bad_flag = false;

	int frames = fk.frames;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 80, &out), 0);
	expect_jpeg(out, f, frames, 80);
	ipkvm_buf_unref(out);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_m2m_close(m);
	assert_int_equal(fk.maps, fk.unmaps);
	assert_int_equal(fk.opens, fk.closes);
}

/* A converter (vim2m-like, single-planar): a raw CAPTURE format is negotiated and its
 * bytes come out as they are. */
static void test_converter_raw_capture(void **state)
{
	(void)state;
	fk.converter = true;
	fk.single_planar = true;
	fk.out_fmts[0] = V4L2_PIX_FMT_RGB565;
	fk.out_fmts[1] = V4L2_PIX_FMT_RGB24;
	fk.out_fmts[2] = V4L2_PIX_FMT_BGR24;
	fk.n_out_fmts = 3;
	char err[256];
	/* as a JPEG encoder it is refused */
	assert_null(ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_JPEG, err, sizeof(err)));
	assert_non_null(strstr(err, "vim2m does not produce JPEG"));
	struct ipkvm_jpeg_m2m *m = ipkvm_jpeg_m2m_open(DEV, V4L2_PIX_FMT_BGR24, err, sizeof(err));
	assert_non_null(m);
	struct ipkvm_frame *f = picture(IPKVM_FMT_RGB24, 64, 48, 2);
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_m2m_encode(m, f, 80, &out), 0);
	assert_int_equal(fk.out_fourcc, V4L2_PIX_FMT_RGB24);
	assert_int_equal(fk.cap_fourcc, V4L2_PIX_FMT_BGR24);
	assert_int_equal(fk.quality_sets, 0); /* no quality for a raw format */
	assert_int_equal(out->len, 64 * 3 * 48);
	for (size_t i = 0; i < out->len; i += 3) {
		assert_int_equal(out->data[i], f->data[i + 2]);
		assert_int_equal(out->data[i + 2], f->data[i]);
	}
	ipkvm_buf_unref(out);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_m2m_close(m);
	assert_int_equal(fk.maps, fk.unmaps);
}

/* ---- the choice ---- */

static void status(struct ipkvm_jpeg_hw *h, bool v4l2, const char *reason_part)
{
	struct ipkvm_jpeg_hw_status st;
	ipkvm_jpeg_hw_status(h, &st);
	assert_int_equal(st.v4l2, v4l2);
	assert_string_equal(st.device, DEV);
	if (reason_part) {
		if (!strstr(st.reason, reason_part))
			fail_msg("reason \"%s\" lacks \"%s\"", st.reason, reason_part);
	} else {
		assert_string_equal(st.reason, "");
	}
}

static void test_hw_software(void **state)
{
	(void)state;
	struct ipkvm_jpeg_hw_config cfg = {.mode = IPKVM_JPEG_ENCODER_SOFTWARE};
	struct ipkvm_jpeg_hw *h = ipkvm_jpeg_hw_create(&cfg);
	assert_non_null(h);
	struct ipkvm_frame *f = picture(IPKVM_FMT_YUYV, 320, 240, 1);
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), -ENODEV);
	assert_null(out);
	status(h, false, NULL);
	assert_int_equal(fk.opens, 0); /* never even tried */
	ipkvm_frame_unref(f);
	ipkvm_jpeg_hw_destroy(h);
}

/* v4l2 (or auto) without the device: software with the reason; tried again with back-off;
 * used as soon as it appears. */
static void test_hw_missing_then_back(void **state)
{
	(void)state;
	fk.absent = true;
	struct ipkvm_jpeg_hw_config cfg = {.mode = IPKVM_JPEG_ENCODER_V4L2, .device = NULL};
	struct ipkvm_jpeg_hw *h = ipkvm_jpeg_hw_create(&cfg);
	assert_non_null(h);
	status(h, false, "no V4L2 JPEG encoder at /dev/video31: No such file or directory");
	struct ipkvm_frame *f = picture(IPKVM_FMT_YUYV, 320, 240, 1);
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), -ENODEV);
	fk.absent = false;
	/* not before the back-off (1 s) is over */
	fk.now_ms += 900;
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), -ENODEV);
	assert_int_equal(fk.opens, 0);
	fk.now_ms += 200;
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), 0);
	assert_int_equal(fk.opens, 1);
	expect_jpeg(out, f, 0, 80);
	status(h, true, NULL);
	ipkvm_buf_unref(out);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_hw_destroy(h);
	assert_int_equal(fk.opens, fk.closes);
	assert_int_equal(fk.maps, fk.unmaps);
}

/* auto with a device that fails mid-stream: that frame to software, the reason in the
 * status, retries at 1 s then 2 s (doubling) while it keeps failing, back when it works. */
static void test_hw_fails_mid_stream(void **state)
{
	(void)state;
	struct ipkvm_jpeg_hw_config cfg = {.mode = IPKVM_JPEG_ENCODER_AUTO, .device = DEV};
	struct ipkvm_jpeg_hw *h = ipkvm_jpeg_hw_create(&cfg);
	status(h, true, NULL);
	struct ipkvm_frame *f = picture(IPKVM_FMT_YUYV, 320, 240, 1);
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), 0);
	ipkvm_buf_unref(out);

	fk.stall = true; /* a timeout waiting for the buffer */
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), -ENODEV);
	assert_null(out);
	status(h, false, "/dev/video31 failed on a 320x240 yuyv frame: Connection timed out");
	assert_int_equal(fk.opens, fk.closes); /* closed */
	fk.stall = false;
	fk.fail_qbuf_after = 1; /* from now on every QBUF fails: an unplugged device */
	fk.qbufs_out = 0;
	fk.now_ms += 1000;
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), -ENODEV); /* tried, failed */
	assert_int_equal(fk.opens, 2);
	status(h, false, "No such device");
	fk.now_ms += 1500; /* the next try waits 2 s */
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), -ENODEV);
	assert_int_equal(fk.opens, 2);
	fk.fail_qbuf_after = 0;
	fk.now_ms += 600;
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), 0);
	assert_int_equal(fk.opens, 3);
	status(h, true, NULL);
	assert_int_equal(out->data[0], 0xff);
	ipkvm_buf_unref(out);

	/* output that is not a JPEG is a failure too */
	fk.garbage = true;
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 80, false, &out), -ENODEV);
	status(h, false, "its output is not a JPEG");
	fk.garbage = false;
	/* MJPEG frames never go to the device */
	ipkvm_frame_unref(f);
	ipkvm_jpeg_hw_destroy(h);
	assert_int_equal(fk.opens, fk.closes);
	assert_int_equal(fk.maps, fk.unmaps);
}

/* A converter behind the choice: its raw output is encoded in software, giving exactly the
 * JPEG of the converted picture. */
static void test_hw_converter(void **state)
{
	(void)state;
	fk.converter = true;
	fk.single_planar = true;
	fk.out_fmts[0] = V4L2_PIX_FMT_RGB24;
	fk.n_out_fmts = 1;
	struct ipkvm_jpeg_hw_config cfg = {
	    .mode = IPKVM_JPEG_ENCODER_V4L2, .device = DEV, .cap_fourcc = V4L2_PIX_FMT_BGR24};
	struct ipkvm_jpeg_hw *h = ipkvm_jpeg_hw_create(&cfg);
	status(h, true, NULL);
	struct ipkvm_frame *f = picture(IPKVM_FMT_RGB24, 64, 48, 5);
	struct ipkvm_buf *out = NULL;
	assert_int_equal(ipkvm_jpeg_hw_encode(h, f, 75, true, &out), 0);
	/* the same picture as BGR24, encoded by the software encoder */
	struct ipkvm_frame *bgr = ipkvm_frame_new(IPKVM_FMT_BGR24, 64, 48, 0);
	for (size_t i = 0; i < (size_t)64 * 48 * 3; i += 3) {
		bgr->data[i] = f->data[i + 2];
		bgr->data[i + 1] = f->data[i + 1];
		bgr->data[i + 2] = f->data[i];
	}
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	struct ipkvm_buf *want = NULL;
	assert_int_equal(ipkvm_jpeg_encode(j, bgr, 75, true, &want), 0);
	assert_int_equal(out->len, want->len);
	assert_memory_equal(out->data, want->data, want->len);
	ipkvm_buf_unref(want);
	ipkvm_buf_unref(out);
	ipkvm_jpeg_destroy(j);
	ipkvm_frame_unref(bgr);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_hw_destroy(h);
	assert_int_equal(fk.maps, fk.unmaps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_encode_yuyv_bcm2835, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ioctl_sequence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_encode_converted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_encode_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_converter_raw_capture, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hw_software, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hw_missing_then_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hw_fails_mid_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hw_converter, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
