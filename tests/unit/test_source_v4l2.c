/*
 * Unit tests for video/source_v4l2 against a fake V4L2 device: no capture hardware exists
 * where these run, so the source's system calls (v4l2_io.h) are answered by a small state
 * machine that behaves like the kernel interface as far as the source uses it: formats,
 * sizes and rates to enumerate, S_FMT that may answer something else, DV timings with the
 * errors a HDMI receiver gives, EDID, an MMAP buffer ring with a queue of filled buffers,
 * source-change events, and a device that can vanish and come back.
 *
 * Covered: UVC negotiation (MJPEG vs YUYV, automatic and configured size/rate, the driver
 * choosing another size), the DV path (timings applied, format, event, EDID; no signal,
 * no sync, unsupported timings with the measured mode), source change and restart, device
 * loss and return, draining to the newest frame with every buffer requeued, the newest lent
 * (the driver's buffer) and requeued on every path (release, next() without release, stop,
 * a failed requeue, a failed dequeue, short and corrupt buffers), padded lines kept packed,
 * exact MJPEG sizes, EINTR retries, busy devices and the create() checks; and through the
 * whole pipeline (ipkvm_video on the fake device): an unchanged frame is neither copied nor
 * encoded, a changed one is copied once and encoded, the raw snapshot's frame is the newest
 * picture, watched or not.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/v4l2-dv-timings.h>
#include <linux/videodev2.h>

#include "core/util.h"
#include "video/source_v4l2.h"
#include "video/v4l2_io.h"
#include "video/video.h"

/* ---- the fake device ---- */

#define FAKE_FD	   42
#define MAX_FMTS   4
#define MAX_SIZES  4
#define MAX_BUFS   8
#define BUF_STRIDE 0x100000 /* mmap offset spacing */
#define PAD_BYTE   0xee

struct fake_size {
	unsigned w, h;
	unsigned fps[4];
	unsigned nfps;
};

struct fake_format {
	uint32_t fourcc;
	struct fake_size sizes[MAX_SIZES];
	unsigned nsizes;
	bool stepwise; /* sizes 160x120..1920x1080 in steps of 8, rates 1..60 fps */
};

struct fake_buf {
	uint8_t *mem;
	size_t len;
	bool queued; /* owned by the driver, waiting to be filled */
	bool done;   /* filled, waiting in the done queue */
	bool mapped;
};

struct done_entry {
	unsigned index;
	uint32_t bytesused, sequence, flags;
	struct timeval ts;
};

static struct fake {
	/* what the device is */
	const char *path;
	bool present;
	int open_errno;
	uint32_t caps;
	bool dv;
	struct fake_format fmts[MAX_FMTS];
	unsigned nfmts;
	unsigned force_w, force_h; /* S_FMT answers this size instead */
	uint32_t force_fourcc;	   /* and this pixel format */
	uint32_t extra_bpl;	   /* line padding for raw formats */
	int query_errno;
	struct v4l2_dv_timings timings; /* what the receiver measures */
	int dqbuf_errno, reqbufs_errno, qbuf_errno;
	unsigned dqbuf_ok; /* with dqbuf_errno: this many DQBUFs succeed first */
	int efd;	/* the pipeline test: an eventfd at FAKE_FD, readable while frames wait */
	unsigned eintr; /* fail this many ioctls with EINTR first */
	unsigned max_bufs;
	/* what was done to it */
	int fds_open, opens;
	uint32_t cur_fourcc;
	unsigned cur_w, cur_h, cur_bpl, cur_sizeimage;
	struct v4l2_dv_timings applied;
	int s_dv_calls, s_fmt_calls;
	bool subscribed;
	uint8_t edid[256];
	unsigned edid_blocks;
	int s_edid_calls;
	struct v4l2_fract parm;
	int s_parm_calls;
	struct fake_buf bufs[MAX_BUFS];
	unsigned nbufs;
	bool streaming;
	struct done_entry done[MAX_BUFS];
	unsigned ndone;
	bool event_pending;
	uint32_t event_changes;
	int reqbufs0_calls;
	int64_t now_ms; /* the clock the source reads */
} fk;

static unsigned bpp_of(uint32_t fourcc)
{
	switch (fourcc) {
	case V4L2_PIX_FMT_YUYV:
	case V4L2_PIX_FMT_UYVY:
		return 2;
	case V4L2_PIX_FMT_RGB24:
	case V4L2_PIX_FMT_BGR24:
		return 3;
	}
	return 0;
}

static struct fake_format *find_fmt(uint32_t fourcc)
{
	for (unsigned i = 0; i < fk.nfmts; i++)
		if (fk.fmts[i].fourcc == fourcc)
			return &fk.fmts[i];
	return NULL;
}

static struct fake_size *find_size(struct fake_format *f, unsigned w, unsigned h)
{
	for (unsigned i = 0; f && i < f->nsizes; i++)
		if (f->sizes[i].w == w && f->sizes[i].h == h)
			return &f->sizes[i];
	return NULL;
}

static void free_bufs(void)
{
	for (unsigned i = 0; i < fk.nbufs; i++) {
		assert_false(fk.bufs[i].mapped); /* the source unmaps before releasing */
		free(fk.bufs[i].mem);
	}
	memset(fk.bufs, 0, sizeof(fk.bufs));
	fk.nbufs = 0;
	fk.ndone = 0;
	fk.streaming = false;
}

static int fake_err(int e)
{
	errno = e;
	return -1;
}

static int fake_open(const char *path, int flags)
{
	assert_string_equal(path, fk.path);
	assert_int_equal(flags & O_ACCMODE, O_RDWR);
	assert_true(flags & O_NONBLOCK);
	assert_int_equal(fk.fds_open, 0); /* never two opens at once */
	if (fk.open_errno)
		return fake_err(fk.open_errno);
	if (!fk.present)
		return fake_err(ENOENT);
	fk.fds_open++;
	fk.opens++;
	return FAKE_FD;
}

static int fake_close(int fd)
{
	assert_int_equal(fd, FAKE_FD);
	assert_int_equal(fk.fds_open, 1);
	fk.fds_open--;
	/* the kernel frees the buffers with the last reference */
	free_bufs();
	fk.subscribed = false;
	return 0;
}

static void *fake_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	assert_int_equal(fd, FAKE_FD);
	assert_true(flags & MAP_SHARED);
	assert_true(prot & PROT_READ);
	unsigned i = (unsigned)(off / BUF_STRIDE);
	if (off % BUF_STRIDE || i >= fk.nbufs || len != fk.bufs[i].len) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	fk.bufs[i].mapped = true;
	return fk.bufs[i].mem;
}

static int fake_munmap(void *addr, size_t len)
{
	for (unsigned i = 0; i < fk.nbufs; i++) {
		if (fk.bufs[i].mem == addr) {
			assert_int_equal(len, fk.bufs[i].len);
			assert_true(fk.bufs[i].mapped);
			fk.bufs[i].mapped = false;
			return 0;
		}
	}
	fail_msg("munmap of an unknown address");
	return -1;
}

static int fake_s_fmt(struct v4l2_format *f)
{
	if (fk.nbufs)
		return fake_err(EBUSY);
	fk.s_fmt_calls++;
	struct fake_format *ff = find_fmt(f->fmt.pix.pixelformat);
	if (!ff)
		ff = &fk.fmts[0];
	unsigned w = f->fmt.pix.width, h = f->fmt.pix.height;
	if (fk.dv) {
		w = fk.applied.bt.width; /* a bridge captures what the timings say */
		h = fk.applied.bt.height;
	} else if (ff->stepwise) {
		w = w < 160 ? 160 : w > 1920 ? 1920 : w & ~7u;
		h = h < 120 ? 120 : h > 1080 ? 1080 : h & ~7u;
	} else if (ff->nsizes == 0) {
		if (!w || !h) {
			w = 640;
			h = 480;
		}
	} else if (!find_size(ff, w, h)) {
		w = ff->sizes[0].w;
		h = ff->sizes[0].h;
	}
	if (fk.force_w) {
		w = fk.force_w;
		h = fk.force_h;
	}
	fk.cur_fourcc = fk.force_fourcc ? fk.force_fourcc : ff->fourcc;
	unsigned bpp = bpp_of(fk.cur_fourcc);
	if (fk.cur_fourcc == V4L2_PIX_FMT_RGB565)
		bpp = 2;
	fk.cur_w = w;
	fk.cur_h = h;
	fk.cur_bpl = bpp ? w * bpp + fk.extra_bpl : 0;
	fk.cur_sizeimage = bpp ? fk.cur_bpl * h : w * h / 2 + 4096;
	f->fmt.pix.pixelformat = fk.cur_fourcc;
	f->fmt.pix.width = w;
	f->fmt.pix.height = h;
	f->fmt.pix.bytesperline = fk.cur_bpl;
	f->fmt.pix.sizeimage = fk.cur_sizeimage;
	f->fmt.pix.field = V4L2_FIELD_NONE;
	return 0;
}

static int fake_reqbufs(struct v4l2_requestbuffers *rb)
{
	assert_int_equal(rb->type, V4L2_BUF_TYPE_VIDEO_CAPTURE);
	assert_int_equal(rb->memory, V4L2_MEMORY_MMAP);
	if (fk.reqbufs_errno)
		return fake_err(fk.reqbufs_errno);
	if (fk.streaming)
		return fake_err(EBUSY);
	if (rb->count == 0) {
		fk.reqbufs0_calls++;
		free_bufs();
		return 0;
	}
	if (fk.nbufs)
		return fake_err(EBUSY);
	unsigned n = rb->count < fk.max_bufs ? rb->count : fk.max_bufs;
	for (unsigned i = 0; i < n; i++) {
		fk.bufs[i].len = fk.cur_sizeimage;
		fk.bufs[i].mem = malloc(fk.cur_sizeimage);
		assert_non_null(fk.bufs[i].mem);
		memset(fk.bufs[i].mem, PAD_BYTE, fk.cur_sizeimage);
	}
	fk.nbufs = n;
	rb->count = n;
	return 0;
}

static int fake_dqbuf(struct v4l2_buffer *b)
{
	if (fk.dqbuf_errno && fk.dqbuf_ok == 0)
		return fake_err(fk.dqbuf_errno);
	if (fk.dqbuf_ok)
		fk.dqbuf_ok--;
	if (!fk.streaming)
		return fake_err(EINVAL);
	if (fk.ndone == 0) {
		uint64_t n;
		if (fk.efd > 0 && read(fk.efd, &n, sizeof(n)) < 0) /* nothing ready: not readable */
			n = 0;
		return fake_err(EAGAIN);
	}
	struct done_entry d = fk.done[0];
	memmove(fk.done, fk.done + 1, (fk.ndone - 1) * sizeof(fk.done[0]));
	fk.ndone--;
	fk.bufs[d.index].done = false;
	fk.bufs[d.index].queued = false;
	b->index = d.index;
	b->bytesused = d.bytesused;
	b->sequence = d.sequence;
	b->flags = d.flags;
	b->timestamp = d.ts;
	b->length = (uint32_t)fk.bufs[d.index].len;
	b->field = V4L2_FIELD_NONE;
	return 0;
}

static int fake_ioctl_locked(int fd, unsigned long req, void *arg);

/* The pipeline test runs the source on the capture thread while the test fills buffers. */
static pthread_mutex_t fk_lock = PTHREAD_MUTEX_INITIALIZER;

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	pthread_mutex_lock(&fk_lock);
	int r = fake_ioctl_locked(fd, req, arg);
	int e = errno;
	pthread_mutex_unlock(&fk_lock);
	errno = e;
	return r;
}

static int fake_ioctl_locked(int fd, unsigned long req, void *arg)
{
	if (fd != FAKE_FD || fk.fds_open != 1)
		return fake_err(EBADF);
	if (fk.eintr) {
		fk.eintr--;
		return fake_err(EINTR);
	}
	if (!fk.present)
		return fake_err(ENODEV);

	switch (req) {
	case VIDIOC_QUERYCAP: {
		struct v4l2_capability *c = arg;
		memset(c, 0, sizeof(*c));
		snprintf((char *)c->driver, sizeof(c->driver), "fake");
		snprintf((char *)c->card, sizeof(c->card), "Fake capture");
		c->capabilities = fk.caps | V4L2_CAP_DEVICE_CAPS;
		c->device_caps = fk.caps;
		return 0;
	}
	case VIDIOC_G_INPUT:
		*(int *)arg = 0;
		return 0;
	case VIDIOC_ENUMINPUT: {
		struct v4l2_input *in = arg;
		if (in->index != 0)
			return fake_err(EINVAL);
		snprintf((char *)in->name, sizeof(in->name), "HDMI");
		in->type = V4L2_INPUT_TYPE_CAMERA;
		in->capabilities = fk.dv ? V4L2_IN_CAP_DV_TIMINGS : 0;
		return 0;
	}
	case VIDIOC_G_EDID: {
		struct v4l2_edid *e = arg;
		if (!fk.dv)
			return fake_err(ENOTTY);
		if (fk.edid_blocks == 0)
			return fake_err(ENODATA);
		if (e->blocks > fk.edid_blocks)
			e->blocks = fk.edid_blocks;
		memcpy(e->edid, fk.edid, e->blocks * 128);
		return 0;
	}
	case VIDIOC_S_EDID: {
		struct v4l2_edid *e = arg;
		if (!fk.dv)
			return fake_err(ENOTTY);
		if (e->blocks > 2) {
			e->blocks = 2;
			return fake_err(E2BIG);
		}
		memcpy(fk.edid, e->edid, e->blocks * 128);
		fk.edid_blocks = e->blocks;
		fk.s_edid_calls++;
		return 0;
	}
	case VIDIOC_QUERY_DV_TIMINGS:
		if (!fk.dv)
			return fake_err(ENOTTY);
		/* like the kernel (INFO_FL_ALWAYS_COPY): the timings come back even on error */
		*(struct v4l2_dv_timings *)arg = fk.timings;
		return fk.query_errno ? fake_err(fk.query_errno) : 0;
	case VIDIOC_S_DV_TIMINGS:
		if (!fk.dv)
			return fake_err(ENOTTY);
		if (fk.nbufs)
			return fake_err(EBUSY);
		fk.applied = *(struct v4l2_dv_timings *)arg;
		fk.s_dv_calls++;
		return 0;
	case VIDIOC_ENUM_FMT: {
		struct v4l2_fmtdesc *d = arg;
		if (d->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || d->index >= fk.nfmts)
			return fake_err(EINVAL);
		d->pixelformat = fk.fmts[d->index].fourcc;
		d->flags =
		    fk.fmts[d->index].fourcc == V4L2_PIX_FMT_MJPEG ? V4L2_FMT_FLAG_COMPRESSED : 0;
		return 0;
	}
	case VIDIOC_ENUM_FRAMESIZES: {
		struct v4l2_frmsizeenum *fs = arg;
		struct fake_format *f = find_fmt(fs->pixel_format);
		if (f && f->stepwise && fs->index == 0) {
			fs->type = V4L2_FRMSIZE_TYPE_STEPWISE;
			fs->stepwise = (struct v4l2_frmsize_stepwise){160, 1920, 8, 120, 1080, 8};
			return 0;
		}
		if (fk.dv || !f || fs->index >= f->nsizes)
			return fake_err(EINVAL);
		fs->type = V4L2_FRMSIZE_TYPE_DISCRETE;
		fs->discrete.width = f->sizes[fs->index].w;
		fs->discrete.height = f->sizes[fs->index].h;
		return 0;
	}
	case VIDIOC_ENUM_FRAMEINTERVALS: {
		struct v4l2_frmivalenum *iv = arg;
		struct fake_format *f = find_fmt(iv->pixel_format);
		if (f && f->stepwise && iv->index == 0) {
			iv->type = V4L2_FRMIVAL_TYPE_CONTINUOUS;
			iv->stepwise.min = (struct v4l2_fract){1, 60};
			iv->stepwise.max = (struct v4l2_fract){1, 1};
			iv->stepwise.step = (struct v4l2_fract){1, 1};
			return 0;
		}
		struct fake_size *s = find_size(f, iv->width, iv->height);
		if (!s || iv->index >= s->nfps)
			return fake_err(EINVAL);
		iv->type = V4L2_FRMIVAL_TYPE_DISCRETE;
		iv->discrete.numerator = 1;
		iv->discrete.denominator = s->fps[iv->index];
		return 0;
	}
	case VIDIOC_G_FMT: {
		struct v4l2_format *f = arg;
		f->fmt.pix.pixelformat = fk.cur_fourcc;
		f->fmt.pix.width = fk.cur_w;
		f->fmt.pix.height = fk.cur_h;
		f->fmt.pix.bytesperline = fk.cur_bpl;
		f->fmt.pix.sizeimage = fk.cur_sizeimage;
		return 0;
	}
	case VIDIOC_S_FMT:
		return fake_s_fmt(arg);
	case VIDIOC_S_PARM: {
		struct v4l2_streamparm *p = arg;
		if (fk.dv)
			return fake_err(ENOTTY);
		fk.parm = p->parm.capture.timeperframe;
		fk.s_parm_calls++;
		p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
		return 0;
	}
	case VIDIOC_REQBUFS:
		return fake_reqbufs(arg);
	case VIDIOC_QUERYBUF: {
		struct v4l2_buffer *b = arg;
		if (b->index >= fk.nbufs)
			return fake_err(EINVAL);
		b->length = (uint32_t)fk.bufs[b->index].len;
		b->m.offset = b->index * BUF_STRIDE;
		return 0;
	}
	case VIDIOC_QBUF: {
		struct v4l2_buffer *b = arg;
		if (fk.qbuf_errno)
			return fake_err(fk.qbuf_errno);
		if (b->index >= fk.nbufs || fk.bufs[b->index].queued || fk.bufs[b->index].done ||
		    b->memory != V4L2_MEMORY_MMAP)
			return fake_err(EINVAL);
		fk.bufs[b->index].queued = true;
		return 0;
	}
	case VIDIOC_DQBUF:
		return fake_dqbuf(arg);
	case VIDIOC_STREAMON:
		if (fk.nbufs == 0)
			return fake_err(EINVAL);
		fk.streaming = true;
		return 0;
	case VIDIOC_STREAMOFF:
		/* every buffer comes back to the application */
		for (unsigned i = 0; i < fk.nbufs; i++)
			fk.bufs[i].queued = fk.bufs[i].done = false;
		fk.ndone = 0;
		fk.streaming = false;
		return 0;
	case VIDIOC_SUBSCRIBE_EVENT: {
		struct v4l2_event_subscription *sub = arg;
		if (!fk.dv || sub->type != V4L2_EVENT_SOURCE_CHANGE)
			return fake_err(EINVAL);
		fk.subscribed = true;
		return 0;
	}
	case VIDIOC_DQEVENT: {
		struct v4l2_event *ev = arg;
		if (!fk.subscribed || !fk.event_pending)
			return fake_err(ENOENT);
		memset(ev, 0, sizeof(*ev));
		ev->type = V4L2_EVENT_SOURCE_CHANGE;
		ev->u.src_change.changes = fk.event_changes;
		fk.event_pending = false;
		return 0;
	}
	}
	return fake_err(ENOTTY);
}

static int64_t fake_mono_ms(void)
{
	return fk.now_ms;
}

static const struct ipkvm_v4l2_io fake_io = {
    .open = fake_open,
    .close = fake_close,
    .ioctl = fake_ioctl,
    .mmap = fake_mmap,
    .munmap = fake_munmap,
    .mono_ms = fake_mono_ms,
};

/* The driver fills a queued buffer. fill(): the picture bytes; raw lines get PAD_BYTE in
 * their padding. Returns the buffer index. */
static unsigned produce(uint32_t bytesused, uint32_t seq, uint8_t seed, uint32_t flags,
			struct timeval ts)
{
	assert_true(fk.streaming);
	for (unsigned i = 0; i < fk.nbufs; i++) {
		struct fake_buf *b = &fk.bufs[i];
		if (!b->queued || b->done)
			continue;
		memset(b->mem, PAD_BYTE, b->len);
		unsigned bpp = bpp_of(fk.cur_fourcc);
		if (bpp) {
			for (unsigned y = 0; y < fk.cur_h; y++)
				for (unsigned x = 0; x < fk.cur_w * bpp; x++)
					b->mem[(size_t)y * fk.cur_bpl + x] =
					    (uint8_t)(seed + y * 7 + x * 3);
		} else {
			for (uint32_t k = 0; k < bytesused && k < b->len; k++)
				b->mem[k] = (uint8_t)(seed + k * 13);
		}
		b->done = true;
		fk.done[fk.ndone++] = (struct done_entry){
		    .index = i, .bytesused = bytesused, .sequence = seq, .flags = flags, .ts = ts};
		uint64_t one = 1;
		if (fk.efd > 0 && write(fk.efd, &one, sizeof(one)) != sizeof(one))
			fail_msg("eventfd write");
		return i;
	}
	fail_msg("no queued buffer to fill");
	return 0;
}

static const struct timeval ts0 = {1000, 250};

static unsigned produce_simple(uint32_t seq, uint8_t seed)
{
	uint32_t used = bpp_of(fk.cur_fourcc) ? fk.cur_sizeimage : 1000;
	return produce(used, seq, seed, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
}

static unsigned queued_count(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < fk.nbufs; i++)
		n += fk.bufs[i].queued && !fk.bufs[i].done;
	return n;
}

static void set_size(struct fake_format *f, unsigned w, unsigned h, unsigned nfps,
		     const unsigned *fps)
{
	struct fake_size *s = &f->sizes[f->nsizes++];
	s->w = w;
	s->h = h;
	s->nfps = nfps;
	memcpy(s->fps, fps, nfps * sizeof(unsigned));
}

/* A UVC dongle: MJPEG 1920x1080@30, YUYV 1920x1080@5 and 1280x720@10/30. */
static void fake_uvc(void)
{
	static const unsigned r30[] = {30}, r5[] = {5}, r10_30[] = {10, 30};
	fk.nfmts = 2;
	fk.fmts[0].fourcc = V4L2_PIX_FMT_MJPEG;
	set_size(&fk.fmts[0], 1920, 1080, 1, r30);
	fk.fmts[1].fourcc = V4L2_PIX_FMT_YUYV;
	set_size(&fk.fmts[1], 1920, 1080, 1, r5);
	set_size(&fk.fmts[1], 1280, 720, 2, r10_30);
}

/* A small YUYV-only device, for byte checks. */
static void fake_small_yuyv(unsigned w, unsigned h)
{
	static const unsigned r30[] = {30};
	fk.nfmts = 1;
	fk.fmts[0].fourcc = V4L2_PIX_FMT_YUYV;
	set_size(&fk.fmts[0], w, h, 1, r30);
}

/* A TC358743-like bridge offering UYVY and RGB24, with the given timings. */
static void fake_bridge(const struct v4l2_dv_timings *t)
{
	fk.dv = true;
	fk.nfmts = 2;
	fk.fmts[0].fourcc = V4L2_PIX_FMT_RGB24;
	fk.fmts[1].fourcc = V4L2_PIX_FMT_UYVY;
	fk.timings = *t;
}

/* the kernel's own CEA-861 timing tables (they leave trailing fields to zero-init) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct v4l2_dv_timings t1080p60 = V4L2_DV_BT_CEA_1920X1080P60;
static const struct v4l2_dv_timings t720p60 = V4L2_DV_BT_CEA_1280X720P60;
#pragma GCC diagnostic pop

static int setup(void **state)
{
	memset(&fk, 0, sizeof(fk));
	fk.path = "/dev/video0";
	fk.present = true;
	fk.caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
	fk.max_bufs = MAX_BUFS;
	fk.now_ms = 5000000;
	ipkvm_v4l2_set_io(&fake_io);
	return 0;
}

static int teardown(void **state)
{
	ipkvm_v4l2_set_io(NULL);
	assert_int_equal(fk.fds_open, 0); /* every test closes what it opened */
	free_bufs();
	return 0;
}

static struct ipkvm_source *create(const struct ipkvm_v4l2_config *cfg)
{
	char err[256] = "";
	struct ipkvm_source *s = ipkvm_source_v4l2_create(cfg, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(err, "");
	assert_string_equal(s->ops->name, "v4l2");
	return s;
}

static void expect_signal(struct ipkvm_source *s, enum ipkvm_signal state, unsigned w, unsigned h,
			  double fps, const char *reason)
{
	struct ipkvm_signal_info si;
	memset(&si, 0xff, sizeof(si));
	s->ops->signal(s, &si);
	assert_string_equal(ipkvm_signal_name(si.state), ipkvm_signal_name(state));
	assert_int_equal(si.width, w);
	assert_int_equal(si.height, h);
	assert_true(si.fps > fps - 0.01 && si.fps < fps + 0.01);
	assert_string_equal(si.reason, reason);
}

/* start, produce one frame, take it */
static struct ipkvm_frame *one_frame(struct ipkvm_source *s, uint32_t seq)
{
	struct ipkvm_frame *f = NULL;
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	assert_null(f);
	produce_simple(seq, 1);
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_non_null(f);
	return f;
}

static void shut(struct ipkvm_source *s)
{
	s->ops->stop(s);
	s->ops->close(s);
	assert_int_equal(fk.fds_open, 0);
	assert_int_equal(fk.nbufs, 0);
	s->ops->destroy(s);
}

/* ---- (a) UVC negotiation ---- */

static void test_uvc_prefers_mjpeg(void **state)
{
	fake_uvc();
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = true};
	struct ipkvm_source *s = create(&cfg);
	expect_signal(s, IPKVM_SIGNAL_ERROR, 0, 0, 0, "/dev/video0 is not open yet");
	assert_int_equal(fk.opens, 0); /* create touches nothing */

	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->fd(s), FAKE_FD);
	assert_int_equal(fk.cur_fourcc, V4L2_PIX_FMT_MJPEG);
	assert_int_equal(fk.cur_w, 1920);
	assert_int_equal(fk.cur_h, 1080);
	assert_int_equal(fk.s_parm_calls, 1);
	assert_int_equal(fk.parm.numerator, 1);
	assert_int_equal(fk.parm.denominator, 30);
	assert_int_equal(fk.nbufs, 3); /* default buffer count */
	for (unsigned i = 0; i < fk.nbufs; i++)
		assert_true(fk.bufs[i].mapped);
	assert_int_equal(fk.s_dv_calls, 0);
	assert_false(fk.subscribed);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 30, "");

	assert_int_equal(s->ops->start(s), 0);
	assert_true(fk.streaming);
	assert_int_equal(queued_count(), 3);
	struct ipkvm_frame *f = one_frame(s, 0);
	assert_int_equal(f->format, IPKVM_FMT_MJPEG);
	assert_int_equal(f->width, 1920);
	assert_int_equal(f->height, 1080);
	assert_int_equal(f->size, 1000);
	assert_int_equal(f->stride, 0);
	ipkvm_source_done(s, f);
	shut(s);
}

static void test_uvc_yuyv_without_mjpeg(void **state)
{
	fake_uvc();
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = false, .buffers = 3};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	/* YUYV 1080p only does 5 fps: the largest size at >= 30 fps is 720p */
	assert_int_equal(fk.cur_fourcc, V4L2_PIX_FMT_YUYV);
	assert_int_equal(fk.cur_w, 1280);
	assert_int_equal(fk.cur_h, 720);
	assert_int_equal(fk.parm.numerator, 1);
	assert_int_equal(fk.parm.denominator, 30);
	assert_int_equal(fk.nbufs, 3);
	expect_signal(s, IPKVM_SIGNAL_OK, 1280, 720, 30, "");

	assert_int_equal(s->ops->start(s), 0);
	struct ipkvm_frame *f = one_frame(s, 0);
	assert_int_equal(f->format, IPKVM_FMT_YUYV);
	assert_int_equal(f->width, 1280);
	assert_int_equal(f->height, 720);
	assert_int_equal(f->stride, 2560);
	assert_int_equal(f->size, 2560 * 720);
	ipkvm_source_done(s, f);
	shut(s);
}

static void test_uvc_configured_size(void **state)
{
	fake_uvc();
	/* 720p is not offered as MJPEG: the configured size wins over the format */
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = true, .width = 1280, .height = 720};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_fourcc, V4L2_PIX_FMT_YUYV);
	assert_int_equal(fk.cur_w, 1280);
	assert_int_equal(fk.cur_h, 720);
	assert_int_equal(fk.parm.denominator, 30); /* the fastest at that size */
	shut(s);

	/* a configured size is honoured even when slow */
	fk.s_parm_calls = 0;
	cfg = (struct ipkvm_v4l2_config){.allow_mjpeg = false, .width = 1920, .height = 1080};
	s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_fourcc, V4L2_PIX_FMT_YUYV);
	assert_int_equal(fk.cur_w, 1920);
	assert_int_equal(fk.parm.denominator, 5);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 5, "");
	shut(s);

	/* configured size and rate */
	cfg = (struct ipkvm_v4l2_config){.width = 1280, .height = 720, .fps = 10};
	s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_w, 1280);
	assert_int_equal(fk.parm.numerator, 1);
	assert_int_equal(fk.parm.denominator, 10);
	expect_signal(s, IPKVM_SIGNAL_OK, 1280, 720, 10, "");
	shut(s);

	/* configured size and a rate not listed for it: the size wins, the rate is asked */
	cfg = (struct ipkvm_v4l2_config){.width = 1920, .height = 1080, .fps = 30};
	s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_fourcc, V4L2_PIX_FMT_YUYV);
	assert_int_equal(fk.cur_w, 1920);
	assert_int_equal(fk.cur_h, 1080);
	assert_int_equal(fk.parm.denominator, 30);
	shut(s);

	/* a size the device does not offer: automatic choice instead */
	cfg = (struct ipkvm_v4l2_config){.allow_mjpeg = true, .width = 800, .height = 600};
	s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_fourcc, V4L2_PIX_FMT_MJPEG);
	assert_int_equal(fk.cur_w, 1920);
	shut(s);

	/* a configured rate only: the largest size reaching it */
	cfg = (struct ipkvm_v4l2_config){.allow_mjpeg = false, .fps = 5};
	s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_w, 1920);
	assert_int_equal(fk.parm.denominator, 5);
	shut(s);
}

static void test_uvc_driver_answers_other_size(void **state)
{
	fake_uvc();
	fk.force_w = 1024;
	fk.force_h = 768;
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = false};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	expect_signal(s, IPKVM_SIGNAL_OK, 1024, 768, 30, "");
	assert_int_equal(s->ops->start(s), 0);
	struct ipkvm_frame *f = one_frame(s, 0);
	assert_int_equal(f->width, 1024);
	assert_int_equal(f->height, 768);
	assert_int_equal(f->stride, 2048);
	assert_int_equal(f->size, 2048 * 768);
	/* pixel bytes are the driver's, line for line */
	assert_int_equal(f->data[0], 1);
	assert_int_equal(f->data[2047], (uint8_t)(1 + 2047 * 3));
	assert_int_equal(f->data[2048 * 767 + 5], (uint8_t)(1 + 767 * 7 + 5 * 3));
	ipkvm_source_done(s, f);
	shut(s);
}

static void test_uvc_driver_answers_other_format(void **state)
{
	/* asked for YUYV, the driver says UYVY: usable, so frames are UYVY */
	fake_small_yuyv(64, 8);
	fk.force_fourcc = V4L2_PIX_FMT_UYVY;
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->start(s), 0);
	struct ipkvm_frame *f = one_frame(s, 0);
	assert_int_equal(f->format, IPKVM_FMT_UYVY);
	assert_int_equal(f->stride, 128);
	ipkvm_source_done(s, f);
	s->ops->stop(s);
	s->ops->close(s);

	/* the driver says RGB565, which we cannot use */
	fk.force_fourcc = V4L2_PIX_FMT_RGB565;
	assert_int_equal(s->ops->open(s), -EINVAL);
	assert_int_equal(fk.fds_open, 0);
	expect_signal(s, IPKVM_SIGNAL_UNSUPPORTED, 64, 8, 0,
		      "/dev/video0 chose pixel format RGBP instead of YUYV");
	s->ops->destroy(s);
}

static void test_uvc_stepwise_sizes(void **state)
{
	fk.nfmts = 1;
	fk.fmts[0].fourcc = V4L2_PIX_FMT_YUYV;
	fk.fmts[0].stepwise = true;
	/* automatic: the largest size, the fastest rate */
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_w, 1920);
	assert_int_equal(fk.cur_h, 1080);
	assert_int_equal(fk.parm.numerator, 1);
	assert_int_equal(fk.parm.denominator, 60);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 60, "");
	shut(s);

	/* configured size and rate inside the ranges */
	cfg = (struct ipkvm_v4l2_config){.width = 1280, .height = 720, .fps = 25};
	s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_w, 1280);
	assert_int_equal(fk.cur_h, 720);
	assert_int_equal(fk.parm.denominator, 25);
	shut(s);
}

static void test_uvc_no_size_list(void **state)
{
	/* a driver that cannot enumerate sizes: its current size is used */
	fk.nfmts = 1;
	fk.fmts[0].fourcc = V4L2_PIX_FMT_UYVY;
	fk.cur_fourcc = V4L2_PIX_FMT_UYVY;
	fk.cur_w = 720;
	fk.cur_h = 576;
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_w, 720);
	assert_int_equal(fk.cur_h, 576);
	assert_int_equal(fk.s_parm_calls, 0); /* no rate known, none asked */
	expect_signal(s, IPKVM_SIGNAL_OK, 720, 576, 0, "");
	assert_int_equal(s->ops->start(s), 0);
	struct ipkvm_frame *f = one_frame(s, 0);
	assert_int_equal(f->format, IPKVM_FMT_UYVY);
	assert_int_equal(f->width, 720);
	ipkvm_source_done(s, f);
	shut(s);
}

static void test_unusable_formats(void **state)
{
	fk.nfmts = 1;
	fk.fmts[0].fourcc = V4L2_PIX_FMT_RGB565;
	set_size(&fk.fmts[0], 640, 480, 1, (const unsigned[]){30});
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = true};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), -EINVAL);
	assert_int_equal(fk.fds_open, 0);
	expect_signal(s, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0,
		      "/dev/video0 offers no pixel format ipkvm can use (MJPEG, YUYV, UYVY, "
		      "RGB24, BGR24)");
	s->ops->destroy(s);

	/* MJPEG only, MJPEG not allowed */
	memset(fk.fmts, 0, sizeof(fk.fmts));
	fk.fmts[0].fourcc = V4L2_PIX_FMT_MJPEG;
	set_size(&fk.fmts[0], 640, 480, 1, (const unsigned[]){30});
	cfg.allow_mjpeg = false;
	s = create(&cfg);
	assert_int_equal(s->ops->open(s), -EINVAL);
	expect_signal(s, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0,
		      "/dev/video0 offers no pixel format ipkvm can use (MJPEG, YUYV, UYVY, "
		      "RGB24, BGR24)");
	s->ops->destroy(s);
}

/* ---- (b) DV timings ---- */

static void test_dv_1080p60_with_edid(void **state)
{
	fake_bridge(&t1080p60);
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = true, .edid = "1080p60"};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);

	const uint8_t *preset;
	assert_int_equal(ipkvm_edid_preset("1080p60", &preset), 256);
	assert_int_equal(fk.s_edid_calls, 1);
	assert_int_equal(fk.edid_blocks, 2);
	assert_memory_equal(fk.edid, preset, 256);

	assert_int_equal(fk.s_dv_calls, 1);
	assert_int_equal(fk.applied.type, V4L2_DV_BT_656_1120);
	assert_memory_equal(&fk.applied.bt, &t1080p60.bt, sizeof(t1080p60.bt));
	assert_int_equal(fk.cur_fourcc, V4L2_PIX_FMT_UYVY); /* preferred over RGB24 */
	assert_int_equal(fk.cur_w, 1920);
	assert_int_equal(fk.cur_h, 1080);
	assert_true(fk.subscribed);
	assert_int_equal(fk.s_parm_calls, 0);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 60, "");

	assert_int_equal(s->ops->start(s), 0);
	struct ipkvm_frame *f = one_frame(s, 0);
	assert_int_equal(f->format, IPKVM_FMT_UYVY);
	assert_int_equal(f->width, 1920);
	assert_int_equal(f->height, 1080);
	ipkvm_source_done(s, f);
	s->ops->stop(s);
	s->ops->close(s);

	/* reopening does not load the same EDID again (that would pulse hot-plug, cause a
	 * source change and loop) */
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.s_edid_calls, 1);
	assert_int_equal(fk.s_dv_calls, 2);
	shut(s);
}

static void test_dv_no_edid_configured(void **state)
{
	fake_bridge(&t1080p60);
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.s_edid_calls, 0);
	assert_int_equal(fk.edid_blocks, 0);
	shut(s);
}

static void test_dv_no_signal(void **state)
{
	fake_bridge(&t1080p60);
	memset(&fk.timings, 0, sizeof(fk.timings));
	fk.query_errno = ENOLINK;
	struct ipkvm_v4l2_config cfg = {.edid = "1080p50"};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), -ENOLINK);
	assert_int_equal(fk.fds_open, 0);
	assert_int_equal(fk.s_dv_calls, 0);
	expect_signal(s, IPKVM_SIGNAL_NO_SIGNAL, 0, 0, 0,
		      "no signal on the HDMI input (target off or cable unplugged)");
	/* the EDID still went in: the target needs it before it sends anything */
	const uint8_t *preset;
	ipkvm_edid_preset("1080p50", &preset);
	assert_memory_equal(fk.edid, preset, 256);

	fk.query_errno = ENOLCK;
	assert_int_equal(s->ops->open(s), -ENOLCK);
	expect_signal(s, IPKVM_SIGNAL_NO_SYNC, 0, 0, 0,
		      "the HDMI receiver cannot lock to the signal");

	/* the target comes up */
	fk.query_errno = 0;
	fk.timings = t1080p60;
	assert_int_equal(s->ops->open(s), 0);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 60, "");
	shut(s);
}

static void test_dv_unsupported_timings(void **state)
{
	/* 1920x1080 with the CEA blanking (2200 x 1125) at 75 Hz */
	struct v4l2_dv_timings t = t1080p60;
	t.bt.pixelclock = 2200ULL * 1125 * 75;
	fake_bridge(&t);
	fk.query_errno = ERANGE;
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), -ERANGE);
	assert_int_equal(fk.fds_open, 0);
	expect_signal(s, IPKVM_SIGNAL_UNSUPPORTED, 1920, 1080, 75,
		      "1920x1080@75 is not supported: set the target to 1080p60 or 1080p50");

	/* a fractional rate keeps its decimals */
	fk.timings.bt.flags |= V4L2_DV_FL_REDUCED_FPS;
	assert_int_equal(s->ops->open(s), -ERANGE);
	expect_signal(s, IPKVM_SIGNAL_UNSUPPORTED, 1920, 1080, 74.925,
		      "1920x1080@74.93 is not supported: set the target to 1080p60 or 1080p50");

	/* nothing measured */
	memset(&fk.timings, 0, sizeof(fk.timings));
	assert_int_equal(s->ops->open(s), -ERANGE);
	expect_signal(s, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0,
		      "the incoming video timings are not supported: set the target to 1080p60 "
		      "or 1080p50");

	/* interlaced timings are refused before they are applied */
	fk.query_errno = 0;
	fk.timings = t1080p60;
	fk.timings.bt.interlaced = 1;
	fk.timings.bt.il_vsync = 5;
	assert_int_equal(s->ops->open(s), -EINVAL);
	assert_int_equal(fk.s_dv_calls, 0);
	expect_signal(s, IPKVM_SIGNAL_UNSUPPORTED, 1920, 1080, 148500000.0 / (2200 * 1130),
		      "1920x1080i@59.73 is interlaced, which is not supported: set the target to "
		      "1080p60 or 1080p50");
	assert_int_equal(fk.fds_open, 0);
	s->ops->destroy(s);
}

/* ---- (c) source change ---- */

static void test_source_change_restart(void **state)
{
	fake_bridge(&t1080p60);
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->start(s), 0);
	struct ipkvm_frame *f = one_frame(s, 0);
	assert_int_equal(f->width, 1920);
	assert_int_equal(f->seq, 0);
	ipkvm_source_done(s, f);
	f = one_frame(s, 1);
	assert_int_equal(f->seq, 1);
	ipkvm_source_done(s, f);

	/* no event pending */
	assert_int_equal(s->ops->event(s), 0);
	/* a change that is not a resolution change */
	fk.event_pending = true;
	fk.event_changes = 0;
	assert_int_equal(s->ops->event(s), 0);
	/* the target switches to 720p */
	fk.event_pending = true;
	fk.event_changes = V4L2_EVENT_SRC_CH_RESOLUTION;
	fk.timings = t720p60;
	assert_int_equal(s->ops->event(s), 1);
	assert_false(fk.event_pending);
	assert_int_equal(s->ops->event(s), 0);

	/* restart as the capture thread does */
	s->ops->stop(s);
	s->ops->close(s);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.s_dv_calls, 2);
	assert_memory_equal(&fk.applied.bt, &t720p60.bt, sizeof(t720p60.bt));
	expect_signal(s, IPKVM_SIGNAL_OK, 1280, 720, 60, "");
	assert_int_equal(s->ops->start(s), 0);
	/* the driver counts from 0 again; frame numbers keep rising */
	f = one_frame(s, 0);
	assert_int_equal(f->width, 1280);
	assert_int_equal(f->height, 720);
	assert_int_equal(f->stride, 2560);
	assert_int_equal(f->seq, 2);
	ipkvm_source_done(s, f);
	f = one_frame(s, 3); /* two dropped by the driver: a gap */
	assert_int_equal(f->seq, 5);
	ipkvm_source_done(s, f);
	shut(s);
}

/* ---- (d) device loss and return ---- */

static void test_device_loss_and_return(void **state)
{
	fake_uvc();
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = true};
	struct ipkvm_source *s = create(&cfg);

	/* nothing plugged in */
	fk.present = false;
	assert_int_equal(s->ops->open(s), -ENOENT);
	expect_signal(s, IPKVM_SIGNAL_NO_DEVICE, 0, 0, 0, "no capture device at /dev/video0");
	assert_int_equal(s->ops->fd(s), -1);

	fk.present = true;
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->start(s), 0);
	struct ipkvm_frame *f = one_frame(s, 0);
	ipkvm_source_done(s, f);

	/* unplugged while streaming */
	fk.present = false;
	assert_int_equal(s->ops->next(s, &f), -ENODEV);
	assert_null(f);
	expect_signal(s, IPKVM_SIGNAL_NO_DEVICE, 0, 0, 0, "capture device /dev/video0 disappeared");
	s->ops->stop(s);
	s->ops->close(s);
	assert_int_equal(fk.fds_open, 0);
	assert_int_equal(s->ops->fd(s), -1);

	assert_int_equal(s->ops->open(s), -ENOENT);
	expect_signal(s, IPKVM_SIGNAL_NO_DEVICE, 0, 0, 0, "no capture device at /dev/video0");

	/* plugged back in */
	fk.present = true;
	assert_int_equal(s->ops->open(s), 0);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 30, "");
	assert_int_equal(s->ops->start(s), 0);
	f = one_frame(s, 0);
	assert_int_equal(f->format, IPKVM_FMT_MJPEG);
	assert_int_equal(f->seq, 1);
	ipkvm_source_done(s, f);

	/* an I/O error is passed on too */
	fk.dqbuf_errno = EIO;
	assert_int_equal(s->ops->next(s, &f), -EIO);
	expect_signal(s, IPKVM_SIGNAL_ERROR, 1920, 1080, 0,
		      "capture from /dev/video0 failed: Input/output error");
	fk.dqbuf_errno = 0;
	shut(s);
}

static enum ipkvm_capture capture_of(struct ipkvm_source *s)
{
	struct ipkvm_signal_info si;
	memset(&si, 0xff, sizeof(si));
	s->ops->signal(s, &si);
	return si.capture;
}

/* A UVC dongle that streams but sends nothing is no_signal after 3 s, ok at its next frame;
 * it says it is a USB device, once opened. */
static void test_uvc_sends_no_frames(void **state)
{
	fake_uvc();
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = true};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(capture_of(s), IPKVM_CAPTURE_UNKNOWN);
	assert_null(ipkvm_capture_name(capture_of(s)));
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(capture_of(s), IPKVM_CAPTURE_USB);
	assert_string_equal(ipkvm_capture_name(capture_of(s)), "usb");
	/* opened but not started: nothing is expected yet */
	fk.now_ms += 10000;
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 30, "");

	assert_int_equal(s->ops->start(s), 0);
	struct ipkvm_frame *f = NULL;
	fk.now_ms += 2999;
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 30, "");
	fk.now_ms += 1;
	expect_signal(s, IPKVM_SIGNAL_NO_SIGNAL, 0, 0, 0, "the USB capture device sends no frames");
	assert_int_equal(capture_of(s), IPKVM_CAPTURE_USB);
	/* an empty buffer is no frame */
	produce(0, 0, 1, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	expect_signal(s, IPKVM_SIGNAL_NO_SIGNAL, 0, 0, 0, "the USB capture device sends no frames");

	/* a frame: ok at once, and the wait starts afresh */
	produce_simple(1, 2);
	assert_int_equal(s->ops->next(s, &f), 0);
	ipkvm_source_done(s, f);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 30, "");
	fk.now_ms += 2000;
	produce_simple(2, 3);
	assert_int_equal(s->ops->next(s, &f), 0);
	ipkvm_source_done(s, f);
	fk.now_ms += 2999;
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 30, "");
	fk.now_ms += 1;
	expect_signal(s, IPKVM_SIGNAL_NO_SIGNAL, 0, 0, 0, "the USB capture device sends no frames");

	/* stopped: no longer waited on; a restart waits afresh */
	s->ops->stop(s);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 30, "");
	assert_int_equal(s->ops->start(s), 0);
	fk.now_ms += 1000;
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 30, "");
	fk.now_ms += 5000;
	expect_signal(s, IPKVM_SIGNAL_NO_SIGNAL, 0, 0, 0, "the USB capture device sends no frames");
	s->ops->stop(s);
	s->ops->close(s);
	/* the kind is remembered while the device is away */
	fk.present = false;
	assert_int_equal(s->ops->open(s), -ENOENT);
	expect_signal(s, IPKVM_SIGNAL_NO_DEVICE, 0, 0, 0, "no capture device at /dev/video0");
	assert_int_equal(capture_of(s), IPKVM_CAPTURE_USB);
	fk.present = true;
	shut(s);
}

/* A DV-timings bridge is hdmi, and its silence is not judged by the clock (its receiver
 * says when there is no signal). */
static void test_dv_capture_kind(void **state)
{
	fake_bridge(&t1080p60);
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(capture_of(s), IPKVM_CAPTURE_HDMI);
	assert_string_equal(ipkvm_capture_name(capture_of(s)), "hdmi");
	assert_int_equal(s->ops->start(s), 0);
	fk.now_ms += 60000;
	struct ipkvm_frame *f = NULL;
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	expect_signal(s, IPKVM_SIGNAL_OK, 1920, 1080, 60, "");
	shut(s);
}

static void test_open_errors(void **state)
{
	fake_uvc();
	struct ipkvm_v4l2_config cfg = {.device = "/dev/video7"};
	fk.path = "/dev/video7";
	struct ipkvm_source *s = create(&cfg);

	fk.open_errno = EBUSY;
	assert_int_equal(s->ops->open(s), -EBUSY);
	expect_signal(s, IPKVM_SIGNAL_BUSY, 0, 0, 0, "/dev/video7 is in use by another program");
	fk.open_errno = EACCES;
	assert_int_equal(s->ops->open(s), -EACCES);
	expect_signal(s, IPKVM_SIGNAL_ERROR, 0, 0, 0,
		      "no permission to open /dev/video7 (is ipkvm in the video group?)");
	fk.open_errno = 0;

	/* another program is streaming: buffers cannot be had */
	fk.reqbufs_errno = EBUSY;
	assert_int_equal(s->ops->open(s), -EBUSY);
	assert_int_equal(fk.fds_open, 0);
	expect_signal(s, IPKVM_SIGNAL_BUSY, 0, 0, 0, "/dev/video7 is in use by another program");
	fk.reqbufs_errno = 0;

	/* not a capture device (a UVC metadata node, say) */
	fk.caps = V4L2_CAP_META_CAPTURE | V4L2_CAP_STREAMING;
	assert_int_equal(s->ops->open(s), -ENOTSUP);
	assert_int_equal(fk.fds_open, 0);
	expect_signal(s, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0,
		      "/dev/video7 (Fake capture) is not a streaming video capture device");
	fk.caps = V4L2_CAP_VIDEO_CAPTURE; /* no streaming I/O */
	assert_int_equal(s->ops->open(s), -ENOTSUP);
	fk.caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;

	/* interrupted system calls are retried */
	fk.eintr = 3;
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.eintr, 0);
	expect_signal(s, IPKVM_SIGNAL_OK, 1280, 720, 30, "");
	/* open twice: the first is closed, not leaked */
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.fds_open, 1);
	shut(s);
}

/* ---- (e) newest-frame draining ---- */

static void test_drain_keeps_newest(void **state)
{
	fake_uvc();
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = true, .buffers = 4};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->start(s), 0);

	struct timeval t1 = {2000, 100}, t2 = {2000, 200}, t3 = {2000, 300};
	produce(500, 5, 10, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, t1);
	produce(600, 6, 20, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, t2);
	unsigned last = produce(700, 7, 30, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, t3);
	uint8_t expect[700];
	memcpy(expect, fk.bufs[last].mem, sizeof(expect));
	assert_int_equal(queued_count(), 1);

	struct ipkvm_frame *f = NULL;
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(f->seq, 7);
	assert_int_equal(f->size, 700);
	assert_memory_equal(f->data, expect, 700);
	assert_int_equal(f->ts_us, 2000 * 1000000LL + 300);
	ipkvm_source_done(s, f);
	/* every buffer is back with the driver */
	assert_int_equal(queued_count(), 4);
	assert_int_equal(fk.ndone, 0);
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	assert_null(f);

	/* a buffer flagged as corrupt is skipped: the older good one is delivered */
	produce(800, 8, 40, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, t1);
	produce(900, 9, 50, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | V4L2_BUF_FLAG_ERROR, t2);
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(f->seq, 8);
	assert_int_equal(f->size, 800);
	ipkvm_source_done(s, f);
	assert_int_equal(queued_count(), 4);

	/* an empty buffer is no frame */
	produce(0, 10, 0, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, t1);
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	assert_null(f);
	assert_int_equal(queued_count(), 4);

	/* no monotonic timestamp from the driver: now */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t before = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	produce(100, 11, 0, V4L2_BUF_FLAG_TIMESTAMP_UNKNOWN, t1);
	assert_int_equal(s->ops->next(s, &f), 0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t after = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	assert_true(f->ts_us >= before && f->ts_us <= after);
	assert_int_equal(f->seq, 11);
	ipkvm_source_done(s, f);

	/* stop and start again without closing: buffers are queued afresh */
	s->ops->stop(s);
	assert_false(fk.streaming);
	assert_int_equal(queued_count(), 0);
	assert_int_equal(s->ops->start(s), 0);
	assert_int_equal(queued_count(), 4);
	f = one_frame(s, 0);
	assert_int_equal(f->seq, 12);
	ipkvm_source_done(s, f);
	shut(s);
}

/* ---- (f) stride ---- */

static void test_raw_stride_lent_kept_packed(void **state)
{
	fake_small_yuyv(64, 8);
	fk.extra_bpl = 32; /* bytesperline 160 for 128 bytes of pixels */
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.cur_bpl, 160);
	assert_int_equal(s->ops->start(s), 0);
	unsigned idx = produce(160 * 8, 0, 9, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	uint8_t src[160 * 8];
	memcpy(src, fk.bufs[idx].mem, sizeof(src));
	assert_int_equal(src[128], PAD_BYTE); /* the padding is there in the driver's buffer */

	/* The frame is lent: the driver's buffer itself, padding and all, away from the
	 * driver until it is handed back. */
	struct ipkvm_frame *f = NULL;
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_true(f->borrowed);
	assert_ptr_equal(f->data, fk.bufs[idx].mem);
	assert_int_equal(f->format, IPKVM_FMT_YUYV);
	assert_int_equal(f->width, 64);
	assert_int_equal(f->height, 8);
	assert_int_equal(f->stride, 160);
	assert_int_equal(queued_count(), fk.nbufs - 1);
	/* What is kept of it is packed (frame.h). */
	uint64_t copies = ipkvm_frame_copies();
	struct ipkvm_frame *k = ipkvm_frame_keep(f);
	assert_int_equal(ipkvm_frame_copies(), copies + 1);
	assert_false(k->borrowed);
	assert_int_equal(k->stride, 128);
	assert_int_equal(k->size, 128 * 8);
	assert_int_equal(k->seq, f->seq);
	assert_int_equal(k->ts_us, f->ts_us);
	for (unsigned y = 0; y < 8; y++) {
		assert_memory_equal(k->data + y * 128, src + y * 160, 128);
		for (unsigned x = 0; x < 128; x++)
			assert_int_equal(k->data[y * 128 + x], (uint8_t)(9 + y * 7 + x * 3));
	}
	ipkvm_source_done(s, f);
	assert_int_equal(queued_count(), fk.nbufs);
	/* The same picture again: compared from the driver's buffer, not copied. */
	produce(160 * 8, 1, 9, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	assert_int_equal(s->ops->next(s, &f), 0);
	struct ipkvm_frame *k2 = (struct ipkvm_frame *)1;
	assert_int_equal(ipkvm_frame_compare(f, k, &k2), 0);
	assert_null(k2);
	assert_int_equal(ipkvm_frame_copies(), copies + 1);
	ipkvm_source_done(s, f);
	/* One pixel differs, in the last line: copied once, packed, with that pixel. */
	idx = produce(160 * 8, 2, 9, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	fk.bufs[idx].mem[7 * 160 + 127] ^= 0x55;
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(ipkvm_frame_compare(f, k, &k2), 1);
	assert_int_equal(ipkvm_frame_copies(), copies + 2);
	assert_int_equal(k2->stride, 128);
	for (unsigned y = 0; y < 8; y++)
		assert_memory_equal(k2->data + y * 128, fk.bufs[idx].mem + y * 160, 128);
	assert_int_equal(k2->data[7 * 128 + 127], (uint8_t)((9 + 7 * 7 + 127 * 3) ^ 0x55));
	ipkvm_source_done(s, f);
	ipkvm_frame_unref(k2);
	ipkvm_frame_unref(k);

	/* a short buffer (fewer bytes than the picture needs) is dropped */
	produce(160 * 7, 1, 9, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	assert_null(f);
	assert_int_equal(queued_count(), fk.nbufs);
	shut(s);
}

static void test_raw_packed_lines(void **state)
{
	fake_small_yuyv(64, 8);
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->start(s), 0);
	unsigned idx = produce(128 * 8, 0, 3, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	uint8_t src[128 * 8];
	memcpy(src, fk.bufs[idx].mem, sizeof(src));
	struct ipkvm_frame *f = NULL;
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(f->stride, 128);
	assert_memory_equal(f->data, src, sizeof(src));
	ipkvm_source_done(s, f);
	shut(s);
}

/* ---- (g) MJPEG sizes ---- */

static void test_mjpeg_bytesused_exact(void **state)
{
	fake_uvc();
	struct ipkvm_v4l2_config cfg = {.allow_mjpeg = true, .buffers = 2};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.nbufs, 2);
	assert_int_equal(s->ops->start(s), 0);
	unsigned idx = produce(1234, 0, 77, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	assert_true(fk.bufs[idx].len > 1234);
	uint8_t src[1234];
	memcpy(src, fk.bufs[idx].mem, sizeof(src));
	struct ipkvm_frame *f = NULL;
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(f->size, 1234);
	assert_true(f->capacity >= 1234);
	assert_memory_equal(f->data, src, 1234);
	/* kept: exactly the device's bytes */
	struct ipkvm_frame *k = ipkvm_frame_keep(f);
	assert_false(k->borrowed);
	assert_int_equal(k->format, IPKVM_FMT_MJPEG);
	assert_int_equal(k->size, 1234);
	assert_memory_equal(k->data, src, 1234);
	ipkvm_source_done(s, f);

	/* MJPEG compares by size, then bytes, in the driver's buffer: the same JPEG is not
	 * copied; one byte more, or one byte changed, is */
	uint64_t copies = ipkvm_frame_copies();
	struct ipkvm_frame *k2 = NULL;
	produce(1234, 1, 77, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(ipkvm_frame_compare(f, k, &k2), 0);
	assert_null(k2);
	assert_int_equal(ipkvm_frame_copies(), copies);
	ipkvm_source_done(s, f);
	produce(1235, 2, 77, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(ipkvm_frame_compare(f, k, NULL), 1);
	ipkvm_source_done(s, f);
	idx = produce(1234, 3, 77, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	fk.bufs[idx].mem[1000] ^= 1;
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(ipkvm_frame_compare(f, k, &k2), 1);
	assert_int_equal(ipkvm_frame_copies(), copies + 1);
	assert_int_equal(k2->size, 1234);
	assert_memory_equal(k2->data, fk.bufs[idx].mem, 1234);
	ipkvm_source_done(s, f);
	ipkvm_frame_unref(k2);
	ipkvm_frame_unref(k);

	/* bytesused larger than the buffer is clamped to it */
	idx = produce((uint32_t)fk.bufs[0].len + 100, 1, 5, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(f->size, fk.bufs[idx].len);
	ipkvm_source_done(s, f);
	shut(s);
}

/* ---- (h) lending: the buffer goes back to the driver on every path ---- */

/* Buffers with the application: neither queued for filling nor waiting in the done queue. */
static unsigned away_count(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < fk.nbufs; i++)
		n += !fk.bufs[i].queued && !fk.bufs[i].done;
	return n;
}

static void test_lent_buffer_requeued(void **state)
{
	fake_small_yuyv(64, 8);
	struct ipkvm_v4l2_config cfg = {0};
	struct ipkvm_source *s = create(&cfg);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->start(s), 0);
	assert_int_equal(fk.nbufs, 3);

	/* lent until handed back */
	unsigned a = produce_simple(0, 1);
	struct ipkvm_frame *f = NULL;
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_ptr_equal(f->data, fk.bufs[a].mem);
	assert_int_equal(away_count(), 1);
	assert_false(fk.bufs[a].queued);
	ipkvm_source_done(s, f);
	assert_int_equal(away_count(), 0);

	/* next() without a release takes the lent buffer back first: one away at most */
	a = produce_simple(1, 2);
	assert_int_equal(s->ops->next(s, &f), 0);
	unsigned b = produce_simple(2, 3);
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_ptr_equal(f->data, fk.bufs[b].mem);
	assert_true(fk.bufs[a].queued);
	assert_int_equal(away_count(), 1);
	ipkvm_source_done(s, f);
	assert_int_equal(away_count(), 0);
	/* and with nothing new, next() still takes it back */
	produce_simple(3, 4);
	assert_int_equal(s->ops->next(s, &f), 0);
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	assert_null(f);
	assert_int_equal(away_count(), 0);

	/* stopped while lent: STREAMOFF gave every buffer back; a late release queues nothing */
	produce_simple(4, 5);
	assert_int_equal(s->ops->next(s, &f), 0);
	s->ops->stop(s);
	assert_int_equal(queued_count(), 0);
	ipkvm_source_done(s, f);
	assert_int_equal(queued_count(), 0);
	assert_int_equal(s->ops->start(s), 0); /* QBUF of every buffer: none was queued twice */
	assert_int_equal(queued_count(), 3);

	/* the requeue fails: the next next() says so (the capture thread then reopens) */
	produce_simple(5, 6);
	assert_int_equal(s->ops->next(s, &f), 0);
	fk.qbuf_errno = EIO;
	ipkvm_source_done(s, f);
	fk.qbuf_errno = 0;
	assert_int_equal(s->ops->next(s, &f), -EIO);
	assert_null(f);
	expect_signal(s, IPKVM_SIGNAL_ERROR, 0, 0, 0,
		      "VIDIOC_QBUF failed on /dev/video0: Input/output error");
	s->ops->stop(s);
	s->ops->close(s);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(s->ops->start(s), 0);
	assert_int_equal(queued_count(), 3);

	/* DQBUF fails while a newer frame is held: the held buffer goes back */
	produce_simple(0, 7);
	produce_simple(1, 8);
	fk.dqbuf_ok = 1;
	fk.dqbuf_errno = EIO;
	assert_int_equal(s->ops->next(s, &f), -EIO);
	assert_null(f);
	fk.dqbuf_errno = 0;
	assert_int_equal(away_count(), 0);
	assert_int_equal(fk.ndone, 1);
	assert_int_equal(s->ops->next(s, &f), 0); /* the one still waiting */
	ipkvm_source_done(s, f);

	/* a short buffer and a corrupt one go straight back */
	produce(100, 2, 1, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ts0);
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	assert_int_equal(away_count(), 0);
	produce_simple(3, 1);
	fk.done[fk.ndone - 1].flags |= V4L2_BUF_FLAG_ERROR;
	assert_int_equal(s->ops->next(s, &f), -EAGAIN);
	assert_int_equal(away_count(), 0);
	shut(s);
}

/* ---- (i) through the pipeline: copies only of pictures that changed ---- */

static void produce_locked(uint32_t seq, uint8_t seed)
{
	pthread_mutex_lock(&fk_lock);
	produce(fk.cur_sizeimage, seq, seed, V4L2_BUF_FLAG_TIMESTAMP_UNKNOWN, ts0);
	pthread_mutex_unlock(&fk_lock);
}

/* Waits (bounded) until the capture thread has taken every filled buffer and handed it
 * back: the frame it took has been dealt with. */
static void wait_all_back(void)
{
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&fk_lock);
		bool back = fk.streaming && fk.ndone == 0 && away_count() == 0;
		pthread_mutex_unlock(&fk_lock);
		if (back)
			return;
		usleep(1000);
	}
	fail_msg("the capture thread did not take the frame or hand its buffer back");
}

/* Waits (bounded) for an image newer than after; returns its seq. */
static uint64_t wait_image(struct ipkvm_video *v, uint64_t after)
{
	for (int i = 0; i < 5000; i++) {
		struct ipkvm_video_image img;
		if (ipkvm_video_latest(v, &img)) {
			uint64_t seq = img.seq;
			bool real = !img.placeholder;
			ipkvm_video_image_release(&img);
			if (real && seq > after && ipkvm_video_test_encoders_idle(v))
				return seq;
		}
		usleep(1000);
	}
	fail_msg("no image after %llu", (unsigned long long)after);
	return 0;
}

static uint64_t latest_seq(struct ipkvm_video *v)
{
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(v, &img));
	uint64_t seq = img.seq;
	ipkvm_video_image_release(&img);
	return seq;
}

/* The newest raw frame (the PNG snapshot's) holds the picture of seed, packed. */
static void expect_raw(struct ipkvm_video *v, uint8_t seed)
{
	struct ipkvm_frame *raw = ipkvm_video_latest_raw(v);
	assert_non_null(raw);
	assert_false(raw->borrowed);
	assert_int_equal(raw->stride, 128);
	for (unsigned y = 0; y < 8; y++)
		for (unsigned x = 0; x < 128; x++)
			assert_int_equal(raw->data[y * 128 + x], (uint8_t)(seed + y * 7 + x * 3));
	ipkvm_frame_unref(raw);
}

static void test_pipeline_copies_changes_only(void **state)
{
	fake_small_yuyv(64, 8);
	fk.extra_bpl = 32; /* padded lines in the driver's buffers */
	fk.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(fk.efd > 0);
	assert_int_equal(dup2(fk.efd, FAKE_FD), FAKE_FD); /* the fd the capture thread polls */
	struct ipkvm_v4l2_config vcfg = {0};
	struct ipkvm_video_config cfg = {
	    .src = create(&vcfg), .quality = 80, .max_fps = 240, .workers = 1};
	char err[256];
	struct ipkvm_video *v = ipkvm_video_create(&cfg, NULL, NULL, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	wait_all_back(); /* streaming */

	uint64_t copies = ipkvm_frame_copies();
	produce_locked(0, 9);
	uint64_t seq = wait_image(v, 0);
	assert_int_equal(ipkvm_frame_copies(), copies + 1);
	expect_raw(v, 9);

	/* The same picture, again and again: compared in the driver's buffer, never copied,
	 * never encoded; every buffer goes back. */
	for (uint32_t i = 1; i <= 5; i++) {
		produce_locked(i, 9);
		wait_all_back();
	}
	assert_true(ipkvm_video_test_encoders_idle(v));
	assert_int_equal(latest_seq(v), seq);
	assert_int_equal(ipkvm_frame_copies(), copies + 1);
	expect_raw(v, 9);

	/* A new picture: copied once and encoded. */
	produce_locked(6, 10);
	uint64_t seq2 = wait_image(v, seq);
	assert_int_equal(ipkvm_frame_copies(), copies + 2);
	expect_raw(v, 10);
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(v, &img));
	assert_int_equal(img.width, 64);
	assert_int_equal(img.height, 8);
	assert_int_equal(img.part->data[img.jpeg_offset], 0xff); /* SOI */
	assert_int_equal(img.part->data[img.jpeg_offset + 1], 0xd8);
	ipkvm_video_image_release(&img);

	/* An image asked for on a still screen: sent from the kept picture, no copy. */
	ipkvm_video_request_image(v);
	produce_locked(7, 10);
	uint64_t seq3 = wait_image(v, seq2);
	assert_int_equal(ipkvm_frame_copies(), copies + 2);

	/* Nobody watching: a change is still kept for the raw snapshot, nothing encoded. */
	ipkvm_video_watch(v, -1);
	produce_locked(8, 11);
	wait_all_back();
	expect_raw(v, 11);
	assert_int_equal(ipkvm_frame_copies(), copies + 3);
	assert_true(ipkvm_video_test_encoders_idle(v));
	assert_int_equal(latest_seq(v), seq3);

	ipkvm_video_destroy(v);
	assert_int_equal(fk.fds_open, 0);
	close(FAKE_FD);
	close(fk.efd);
	fk.efd = 0;
}

/* ---- create() ---- */

static void test_create_checks(void **state)
{
	char err[256];
	struct ipkvm_v4l2_config cfg = {.width = 1280};
	assert_null(ipkvm_source_v4l2_create(&cfg, err, sizeof(err)));
	assert_string_equal(err, "set both video width and height, or neither");

	cfg = (struct ipkvm_v4l2_config){.edid = "1080p30"};
	assert_null(ipkvm_source_v4l2_create(&cfg, err, sizeof(err)));
	assert_string_equal(err, "unknown EDID preset '1080p30' (use 1080p60, 1080p50 or a path)");

	cfg = (struct ipkvm_v4l2_config){.edid = "/nonexistent/edid.hex"};
	assert_null(ipkvm_source_v4l2_create(&cfg, err, sizeof(err)));
	assert_string_equal(err, "cannot read EDID file /nonexistent/edid.hex: No such file or "
				 "directory");

	/* an EDID file: bad, then good (the 1080p50 preset written as hex) */
	char dir[] = "/tmp/test_source_v4l2.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/edid.hex", dir);
	const char *bad = "00 ff ff ff\nff ff ff 0g\n";
	assert_int_equal(ipkvm_write_file_atomic(path, bad, strlen(bad), 0600), 0);
	cfg = (struct ipkvm_v4l2_config){.edid = path};
	assert_null(ipkvm_source_v4l2_create(&cfg, err, sizeof(err)));
	char want[256];
	snprintf(want, sizeof(want), "EDID file %s: line 2: bad hex digit 'g'", path);
	assert_string_equal(err, want);

	const uint8_t *preset;
	ipkvm_edid_preset("1080p50", &preset);
	char hex[256 * 3 + 1];
	for (int i = 0; i < 256; i++)
		snprintf(hex + i * 3, 4, "%02x%c", preset[i], i % 16 == 15 ? '\n' : ' ');
	assert_int_equal(ipkvm_write_file_atomic(path, hex, strlen(hex), 0600), 0);
	struct ipkvm_source *s = create(&cfg);
	fake_bridge(&t1080p60);
	assert_int_equal(s->ops->open(s), 0);
	assert_int_equal(fk.s_edid_calls, 1);
	assert_memory_equal(fk.edid, preset, 256);
	shut(s);
	unlink(path);
	rmdir(dir);

	/* NULL err is allowed; destroy(NULL) is harmless */
	cfg = (struct ipkvm_v4l2_config){.height = 5};
	assert_null(ipkvm_source_v4l2_create(&cfg, NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_uvc_prefers_mjpeg, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uvc_yuyv_without_mjpeg, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uvc_configured_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uvc_driver_answers_other_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uvc_driver_answers_other_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uvc_stepwise_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uvc_no_size_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unusable_formats, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dv_1080p60_with_edid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dv_no_edid_configured, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dv_no_signal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dv_unsupported_timings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_source_change_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_loss_and_return, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uvc_sends_no_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dv_capture_kind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain_keeps_newest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_raw_stride_lent_kept_packed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_raw_packed_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mjpeg_bytesused_exact, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lent_buffer_requeued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipeline_copies_changes_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_checks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
