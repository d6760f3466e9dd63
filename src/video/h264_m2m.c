/*
 * h264_m2m: the hardware H.264 backend (see h264_backend.h) on a V4L2 memory-to-memory
 * encoder (Raspberry Pi 4: bcm2835-codec at /dev/video11; any stateful M2M encoder with the
 * same interface).
 *
 * Shape:
 * - open() only checks that the device is an M2M encoder with H.264 on its CAPTURE queue
 *   (so "auto" can fall back to openh264 at start); formats and buffers are negotiated at
 *   the first frame and again when the frame's size or format changes, since the OUTPUT
 *   (raw) format follows the frame: the frame's own packing when the device lists it
 *   (no conversion), else YUV420 converted by i420.c.
 * - Both the single- and the multi-planar API are handled (bcm2835-codec is multi-planar);
 *   only one-plane formats are used, so the difference is where sizes and offsets live.
 * - One frame in, one access unit out: QBUF the raw frame, poll for the CAPTURE buffer,
 *   copy it out and requeue at once. A CAPTURE buffer without any slice (drivers that send
 *   the sequence header on its own) is kept and put in front of the next picture; the last
 *   SPS/PPS seen is also put in front of any IDR that comes without them, so every
 *   keyframe is a place a client can start.
 * - Controls: bitrate, I-period (gop; 0 = the largest period, keyframes on demand only),
 *   constrained baseline, level from size x rate, sequence header repeated at every IDR,
 *   FORCE_KEY_FRAME for force_idr. A control the driver lacks is logged once, not fatal.
 * - Every system call goes through the V4L2 table (v4l2_io.h, shared with the capture
 *   source) so the unit tests can put a fake encoder behind it; ioctls are retried on EINTR.
 */
#define LOG_TAG "h264"

#include "video/h264_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "core/log.h"
#include "core/util.h"
#include "video/i420.h"
#include "video/v4l2_io.h"
#include "video/v4l2_m2m.h"

#define N_OUT	   2
#define N_CAP	   4
#define MAX_FMTS   32
#define WAIT_MS	   1000
#define HDR_MAX	   1024
#define PATH_MAX_L 256

/* ---- state ---- */

struct ipkvm_h264_m2m {
	struct ipkvm_h264_backend base; /* first: h264.c holds the backend by it */
	char device[PATH_MAX_L];
	int fd;
	bool mplane;
	uint32_t out_type, cap_type;
	uint32_t out_fmts[MAX_FMTS];
	unsigned n_out_fmts;

	/* negotiated at the first frame */
	bool configured, streaming;
	enum ipkvm_pixfmt in_fmt;
	unsigned width, height;
	uint32_t fourcc; /* OUTPUT pixel format */
	size_t bpl, sizeimage;
	struct ipkvm_m2m_buf out[N_OUT], cap[N_CAP];
	unsigned n_out, n_cap;
	int bitrate_kbps, fps, gop; /* as applied to the device */
	uint32_t warned;	    /* controls already reported missing (bit per kind) */
	bool waiting_logged;

	/* the sequence header: pending (sent alone, goes before the next picture) and the
	 * last one seen (put before IDRs that lack it) */
	uint8_t pending[HDR_MAX], seqhdr[HDR_MAX];
	size_t pending_len, seqhdr_len;
};

/* ---- Annex-B helpers ---- */

/* Finds the next NAL unit at or after *pos: its payload (after the start code) is
 * data[*start, *end). Returns false at the end. */
static bool next_nal(const uint8_t *d, size_t len, size_t *pos, size_t *start, size_t *end)
{
	size_t i = *pos;
	while (i + 3 <= len && !(d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1))
		i++;
	if (i + 3 > len)
		return false;
	*start = i + 3;
	size_t j = *start;
	while (j + 3 <= len && !(d[j] == 0 && d[j + 1] == 0 && (d[j + 2] == 1 || d[j + 2] == 0)))
		j++;
	*end = j + 3 <= len ? j : len;
	*pos = *end;
	return *start < len;
}

/* Which NAL types the data holds, as a bit mask (bit n: type n). */
static uint32_t nal_types(const uint8_t *d, size_t len)
{
	uint32_t mask = 0;
	size_t pos = 0, s, e;
	while (next_nal(d, len, &pos, &s, &e))
		mask |= 1u << (d[s] & 0x1f);
	return mask;
}

#define VCL_MASK ((1u << 1) | (1u << 5))

/* Keeps the SPS and PPS units of d (with 4-byte start codes) as the sequence header. */
static void keep_seqhdr(struct ipkvm_h264_m2m *m, const uint8_t *d, size_t len)
{
	size_t pos = 0, s, e, n = 0;
	uint8_t tmp[HDR_MAX];
	while (next_nal(d, len, &pos, &s, &e)) {
		unsigned t = d[s] & 0x1f;
		if (t != 7 && t != 8)
			continue;
		if (n + 4 + (e - s) > sizeof(tmp))
			return; /* absurdly large: keep the old one */
		memcpy(tmp + n, "\0\0\0\1", 4);
		memcpy(tmp + n + 4, d + s, e - s);
		n += 4 + (e - s);
	}
	if (n) {
		memcpy(m->seqhdr, tmp, n);
		m->seqhdr_len = n;
	}
}

/* ---- device setup ---- */

/* Opens the device and checks it is an M2M encoder with H.264 on its capture side; the
 * formats and buffers are set up at the first frame. 0 or -errno with err set
 * ("no V4L2 H.264 encoder at /dev/video11: ..."). */
static int m2m_open(const struct ipkvm_h264_config *cfg, struct ipkvm_h264_backend **out, char *err,
		    size_t errlen)
{
	const char *device = cfg->m2m_device;
	*out = NULL;
	struct ipkvm_h264_m2m *m = calloc(1, sizeof(*m));
	if (!m) {
		ipkvm_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->base.ops = &ipkvm_h264_m2m_ops;
	int r;
	ipkvm_strlcpy(m->device, device, sizeof(m->device));
	m->fd = ipkvm_v4l2_sys()->open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (m->fd < 0) {
		r = errno > 0 ? -errno : -EIO;
		ipkvm_errf(err, errlen, "no V4L2 H.264 encoder at %s: %s", device, strerror(-r));
		free(m);
		return r;
	}

	struct v4l2_capability cap;
	memset(&cap, 0, sizeof(cap));
	r = ipkvm_v4l2_xioctl(m->fd, VIDIOC_QUERYCAP, &cap);
	if (r < 0) {
		ipkvm_errf(err, errlen, "no V4L2 H.264 encoder at %s: not a V4L2 device (%s)",
			   device, strerror(-r));
		goto fail;
	}
	uint32_t caps =
	    cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
	if (caps & V4L2_CAP_VIDEO_M2M_MPLANE) {
		m->mplane = true;
		m->out_type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
		m->cap_type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	} else if (caps & V4L2_CAP_VIDEO_M2M) {
		m->out_type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
		m->cap_type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	} else {
		r = -ENODEV;
		ipkvm_errf(err, errlen, "no V4L2 H.264 encoder at %s: %s is not a mem2mem device",
			   device, (const char *)cap.card);
		goto fail;
	}
	if (!(caps & V4L2_CAP_STREAMING)) {
		r = -ENODEV;
		ipkvm_errf(err, errlen, "no V4L2 H.264 encoder at %s: no streaming I/O", device);
		goto fail;
	}

	uint32_t capfmts[MAX_FMTS];
	unsigned ncap = 0;
	bool h264 = false;
	r = ipkvm_m2m_enum_formats(m->fd, m->cap_type, capfmts, MAX_FMTS, &ncap);
	for (unsigned i = 0; r == 0 && i < ncap; i++)
		h264 |= capfmts[i] == V4L2_PIX_FMT_H264;
	if (!h264) {
		r = r < 0 ? r : -ENODEV;
		ipkvm_errf(err, errlen, "no V4L2 H.264 encoder at %s: %s does not produce H.264",
			   device, (const char *)cap.card);
		goto fail;
	}
	r = ipkvm_m2m_enum_formats(m->fd, m->out_type, m->out_fmts, MAX_FMTS, &m->n_out_fmts);
	if (r < 0 || m->n_out_fmts == 0) {
		r = r < 0 ? r : -ENODEV;
		ipkvm_errf(err, errlen, "no V4L2 H.264 encoder at %s: no input formats", device);
		goto fail;
	}
	LOG_DEBUG("%s: %s, %s API, %u input formats", device, (const char *)cap.card,
		  m->mplane ? "multi-planar" : "single-planar", m->n_out_fmts);
	*out = &m->base;
	return 0;

fail:
	ipkvm_v4l2_sys()->close(m->fd);
	free(m);
	return r;
}

/* Releases the buffers and stops streaming (the device stays open). */
static void teardown(struct ipkvm_h264_m2m *m)
{
	ipkvm_m2m_release(m->fd, m->out_type, m->cap_type, &m->streaming, m->out, &m->n_out,
			  sizeof(m->out), m->cap, &m->n_cap, sizeof(m->cap));
	m->configured = false;
	m->pending_len = 0;
}

static void m2m_close(struct ipkvm_h264_backend *b)
{
	struct ipkvm_h264_m2m *m = (struct ipkvm_h264_m2m *)b;
	if (!m)
		return;
	teardown(m);
	ipkvm_v4l2_sys()->close(m->fd);
	free(m);
}

/* Sets one control; a driver without it is reported once per kind (bit), not fatal. */
static int set_ctrl(struct ipkvm_h264_m2m *m, uint32_t id, int value, const char *what,
		    unsigned bit)
{
	struct v4l2_control c = {.id = id, .value = value};
	int r = ipkvm_v4l2_xioctl(m->fd, VIDIOC_S_CTRL, &c);
	if (r < 0 && !(m->warned & (1u << bit))) {
		m->warned |= 1u << bit;
		LOG_WARN("%s: cannot set %s to %d: %s", m->device, what, value, strerror(-r));
	}
	return r;
}

static void set_rate(struct ipkvm_h264_m2m *m, int fps)
{
	struct v4l2_streamparm parm = {.type = m->out_type};
	parm.parm.output.timeperframe.numerator = 1;
	parm.parm.output.timeperframe.denominator = (uint32_t)fps;
	if (ipkvm_v4l2_xioctl(m->fd, VIDIOC_S_PARM, &parm) < 0 && !(m->warned & (1u << 8))) {
		m->warned |= 1u << 8;
		LOG_DEBUG("%s: cannot set the frame rate", m->device);
	}
	m->fps = fps;
}

static void set_bitrate(struct ipkvm_h264_m2m *m, int kbps)
{
	set_ctrl(m, V4L2_CID_MPEG_VIDEO_BITRATE, kbps * 1000, "the bitrate", 0);
	m->bitrate_kbps = kbps;
}

static void set_gop(struct ipkvm_h264_m2m *m, int gop)
{
	/* 0 = keyframes on demand only: the longest period the control takes. */
	set_ctrl(m, V4L2_CID_MPEG_VIDEO_H264_I_PERIOD, gop > 0 ? gop : INT_MAX, "the I-period", 1);
	m->gop = gop;
}

static int h264_level(unsigned w, unsigned h, int fps)
{
	/* Macroblocks per second against the limits of H.264 Table A-1. */
	long mbps = (long)((w + 15) / 16) * ((h + 15) / 16) * fps;
	if (mbps <= 245760)
		return V4L2_MPEG_VIDEO_H264_LEVEL_4_0;
	if (mbps <= 522240)
		return V4L2_MPEG_VIDEO_H264_LEVEL_4_2;
	return V4L2_MPEG_VIDEO_H264_LEVEL_5_1;
}

static uint32_t native_fourcc(enum ipkvm_pixfmt f)
{
	switch (f) {
	case IPKVM_FMT_YUYV:
		return V4L2_PIX_FMT_YUYV;
	case IPKVM_FMT_UYVY:
		return V4L2_PIX_FMT_UYVY;
	case IPKVM_FMT_RGB24:
		return V4L2_PIX_FMT_RGB24;
	case IPKVM_FMT_BGR24:
		return V4L2_PIX_FMT_BGR24;
	case IPKVM_FMT_MJPEG:
		break;
	}
	return 0;
}

static bool offers(const struct ipkvm_h264_m2m *m, uint32_t fourcc)
{
	for (unsigned i = 0; i < m->n_out_fmts; i++)
		if (m->out_fmts[i] == fourcc)
			return true;
	return false;
}

static int set_format(struct ipkvm_h264_m2m *m, uint32_t type, uint32_t fourcc, unsigned w,
		      unsigned h, size_t *bpl, size_t *sizeimage)
{
	return ipkvm_m2m_set_format(m->fd, m->mplane, type, fourcc, w, h, 0, bpl, sizeimage, NULL);
}

/* A v4l2_buffer for index i of type (planes: storage for the one plane). */
static void buf_init(const struct ipkvm_h264_m2m *m, struct v4l2_buffer *b,
		     struct v4l2_plane *plane, uint32_t type, unsigned i)
{
	ipkvm_m2m_buf_init(m->mplane, b, plane, type, i);
}

/* Formats, controls and buffers for frames like f; streaming on. */
static int configure(struct ipkvm_h264_m2m *m, const struct ipkvm_frame *f, int bitrate_kbps,
		     int fps, int gop)
{
	teardown(m);
	uint32_t fourcc = native_fourcc(f->format);
	if (!offers(m, fourcc))
		fourcc = offers(m, V4L2_PIX_FMT_YUV420) ? V4L2_PIX_FMT_YUV420 : 0;
	if (!fourcc) {
		LOG_ERROR("%s takes neither %s nor YUV420 input", m->device,
			  ipkvm_pixfmt_name(f->format));
		return -ENOTSUP;
	}
	const char *step = "the input format";
	int r = set_format(m, m->out_type, fourcc, f->width, f->height, &m->bpl, &m->sizeimage);
	if (r < 0)
		goto fail;
	size_t minbpl = fourcc == V4L2_PIX_FMT_YUV420
			    ? f->width
			    : (size_t)f->width * ipkvm_pixfmt_bpp(f->format);
	if (m->bpl < minbpl)
		m->bpl = minbpl;
	step = "the H.264 format";
	r = set_format(m, m->cap_type, V4L2_PIX_FMT_H264, f->width, f->height, NULL, NULL);
	if (r < 0)
		goto fail;

	set_rate(m, fps);
	set_bitrate(m, bitrate_kbps);
	set_gop(m, gop);
	set_ctrl(m, V4L2_CID_MPEG_VIDEO_H264_PROFILE,
		 V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE, "the profile", 2);
	set_ctrl(m, V4L2_CID_MPEG_VIDEO_H264_LEVEL, h264_level(f->width, f->height, fps),
		 "the level", 3);
	set_ctrl(m, V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER, 1, "repeat-sequence-header", 4);

	step = "the buffers";
	r = ipkvm_m2m_map(m->fd, m->mplane, m->out_type, m->out, N_OUT, &m->n_out);
	if (r == 0)
		r = ipkvm_m2m_map(m->fd, m->mplane, m->cap_type, m->cap, N_CAP, &m->n_cap);
	for (unsigned i = 0; r == 0 && i < m->n_out; i++)
		if (m->out[i].length < m->sizeimage)
			r = -ENOSPC;
	for (unsigned i = 0; r == 0 && i < m->n_cap; i++)
		r = ipkvm_m2m_queue_cap(m->fd, m->mplane, m->cap_type, m->cap, i);
	if (r < 0)
		goto fail;
	step = "streaming";
	int t = (int)m->out_type;
	r = ipkvm_v4l2_xioctl(m->fd, VIDIOC_STREAMON, &t);
	if (r == 0) {
		t = (int)m->cap_type;
		r = ipkvm_v4l2_xioctl(m->fd, VIDIOC_STREAMON, &t);
	}
	m->streaming = true; /* even half on: teardown turns both off */
	if (r < 0)
		goto fail;
	m->configured = true;
	m->in_fmt = f->format;
	m->width = f->width;
	m->height = f->height;
	m->fourcc = fourcc;
	char fcc[5] = {(char)(fourcc & 0xff), (char)((fourcc >> 8) & 0xff),
		       (char)((fourcc >> 16) & 0xff), (char)(fourcc >> 24), 0};
	LOG_INFO("%s: encoding %ux%u from %s, %d kbit/s, %d fps", m->device, f->width, f->height,
		 fcc, bitrate_kbps, fps);
	return 0;

fail:
	LOG_ERROR("%s: cannot set up %s for %ux%u %s: %s", m->device, step, f->width, f->height,
		  ipkvm_pixfmt_name(f->format), strerror(-r));
	teardown(m);
	return r;
}

/* ---- the frame cycle ---- */

/* Takes back every OUTPUT buffer the device is done with. */

/* Copies (or converts) the frame into OUTPUT buffer i and queues it. */
static int queue_frame(struct ipkvm_h264_m2m *m, unsigned i, const struct ipkvm_frame *f)
{
	uint8_t *dst = m->out[i].start;
	size_t used;
	if (m->fourcc == V4L2_PIX_FMT_YUV420) {
		/* One plane: Y (bpl per line), then U and V at half the stride. */
		size_t ysz = m->bpl * f->height, csz = m->bpl / 2 * (f->height / 2);
		if (ysz + 2 * csz > m->out[i].length)
			return -ENOSPC;
		ipkvm_i420_from_frame(f, dst, m->bpl, dst + ysz, dst + ysz + csz, m->bpl / 2);
		used = ysz + 2 * csz;
	} else {
		size_t row = (size_t)f->width * ipkvm_pixfmt_bpp(f->format);
		if (m->bpl * f->height > m->out[i].length)
			return -ENOSPC;
		if (m->bpl == f->stride) {
			memcpy(dst, f->data, m->bpl * (f->height - 1) + row);
		} else {
			for (unsigned y = 0; y < f->height; y++)
				memcpy(dst + m->bpl * y, f->data + f->stride * y, row);
		}
		used = m->bpl * f->height;
	}
	if (m->sizeimage > used && m->sizeimage <= m->out[i].length)
		used = m->sizeimage;

	struct v4l2_buffer b;
	struct v4l2_plane p;
	buf_init(m, &b, &p, m->out_type, i);
	b.field = V4L2_FIELD_NONE;
	b.timestamp.tv_sec = f->ts_us / 1000000;
	b.timestamp.tv_usec = f->ts_us % 1000000;
	if (m->mplane) {
		p.bytesused = (uint32_t)used;
		p.length = (uint32_t)m->out[i].length;
	} else {
		b.bytesused = (uint32_t)used;
		b.length = (uint32_t)m->out[i].length;
	}
	int r = ipkvm_v4l2_xioctl(m->fd, VIDIOC_QBUF, &b);
	if (r == 0)
		m->out[i].queued = true;
	return r;
}

/* The access unit from CAPTURE data d: pending header and, for an IDR without one, the
 * last SPS/PPS in front. */
static int make_au(struct ipkvm_h264_m2m *m, const uint8_t *d, size_t len, bool flag_key,
		   struct ipkvm_buf **out, bool *keyframe)
{
	uint32_t types = nal_types(d, len);
	bool key = flag_key || (types & (1u << 5));
	if (types & (1u << 7))
		keep_seqhdr(m, d, len);
	const uint8_t *pre = NULL;
	size_t prelen = 0;
	if (!(types & (1u << 7))) {
		if (m->pending_len) {
			pre = m->pending;
			prelen = m->pending_len;
		} else if (key) {
			pre = m->seqhdr;
			prelen = m->seqhdr_len;
		}
	}
	struct ipkvm_buf *b = ipkvm_buf_new(prelen + len);
	if (!b)
		return -ENOMEM;
	if (prelen)
		memcpy(b->data, pre, prelen);
	memcpy(b->data + prelen, d, len);
	m->pending_len = 0;
	*out = b;
	*keyframe = key;
	return 0;
}

/* Waits for the access unit of the frame just queued. */
static int take_au(struct ipkvm_h264_m2m *m, struct ipkvm_buf **out, bool *keyframe)
{
	int64_t deadline = ipkvm_mono_ms() + WAIT_MS;
	for (;;) {
		struct v4l2_buffer b;
		struct v4l2_plane p;
		buf_init(m, &b, &p, m->cap_type, 0);
		int r = ipkvm_v4l2_xioctl(m->fd, VIDIOC_DQBUF, &b);
		if (r == -EAGAIN) {
			int64_t left = deadline - ipkvm_mono_ms();
			struct pollfd pfd = {.fd = m->fd, .events = POLLIN};
			if (left <= 0 || ipkvm_v4l2_sys()->poll(&pfd, 1, (int)left) == 0)
				return -ETIMEDOUT;
			if (pfd.revents & POLLERR)
				return -EIO;
			continue;
		}
		if (r < 0)
			return r;
		if (b.index >= m->n_cap)
			return -EIO;
		m->cap[b.index].queued = false;
		size_t off = m->mplane ? p.data_offset : 0;
		size_t used = m->mplane ? p.bytesused : b.bytesused;
		if (used > m->cap[b.index].length || off > used)
			used = off = 0;
		const uint8_t *d = (const uint8_t *)m->cap[b.index].start + off;
		size_t len = used - off;
		bool flag_key = b.flags & V4L2_BUF_FLAG_KEYFRAME;
		bool error = b.flags & V4L2_BUF_FLAG_ERROR;
		uint32_t types = len ? nal_types(d, len) : 0;

		r = 0;
		if (!error && len && !(types & VCL_MASK)) {
			/* The sequence header on its own: it goes before the next picture. */
			keep_seqhdr(m, d, len);
			if (len <= sizeof(m->pending)) {
				memcpy(m->pending, d, len);
				m->pending_len = len;
			}
		} else if (!error && len) {
			r = make_au(m, d, len, flag_key, out, keyframe);
			if (r == 0)
				r = 1;
		}
		int q = ipkvm_m2m_queue_cap(m->fd, m->mplane, m->cap_type, m->cap, b.index);
		if (r == 1 && q < 0) {
			ipkvm_buf_unref(*out);
			*out = NULL;
		}
		if (r < 0 || q < 0)
			return r < 0 ? r : q;
		if (r == 1)
			return 0;
	}
}

static int m2m_encode(struct ipkvm_h264_backend *b, const struct ipkvm_frame *f, bool force_idr,
		      int bitrate_kbps, int max_fps, int gop, struct ipkvm_buf **out,
		      bool *keyframe)
{
	struct ipkvm_h264_m2m *m = (struct ipkvm_h264_m2m *)b;
	*out = NULL;
	*keyframe = false;
	int r;
	if (!m->configured || f->format != m->in_fmt || f->width != m->width ||
	    f->height != m->height) {
		r = configure(m, f, bitrate_kbps, max_fps, gop);
		if (r < 0)
			return r;
		force_idr = true;
	} else {
		if (bitrate_kbps != m->bitrate_kbps)
			set_bitrate(m, bitrate_kbps);
		if (gop != m->gop)
			set_gop(m, gop);
		if (max_fps != m->fps)
			set_rate(m, max_fps);
	}
	if (force_idr)
		set_ctrl(m, V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, 1, "force-key-frame", 5);

	int i = ipkvm_m2m_free_out(m->fd, m->mplane, m->out_type, m->out, m->n_out, WAIT_MS);
	if (i < 0) {
		r = i;
		goto stuck;
	}
	r = queue_frame(m, (unsigned)i, f);
	if (r < 0)
		return r;
	r = take_au(m, out, keyframe);
	ipkvm_m2m_reclaim_out(m->fd, m->mplane, m->out_type, m->out, m->n_out);
	if (r == -ETIMEDOUT)
		goto stuck;
	if (r == 0)
		m->waiting_logged = false;
	return r;

stuck:
	/* The device kept the frame: start over at the next one (fresh buffers, an IDR). */
	if (!m->waiting_logged)
		LOG_WARN("%s: no access unit within %d ms; restarting the encoder", m->device,
			 WAIT_MS);
	m->waiting_logged = true;
	teardown(m);
	return -ETIMEDOUT;
}

const struct ipkvm_h264_backend_ops ipkvm_h264_m2m_ops = {
    .name = "v4l2-m2m",
    .open = m2m_open,
    .encode = m2m_encode,
    .close = m2m_close,
};
