/*
 * jpeg_m2m: see jpeg_m2m.h. The device half follows the H.264 M2M backend (h264_m2m.c):
 * MMAP buffers on both queues, the frame copied (or converted) into an OUTPUT buffer, one
 * CAPTURE buffer back per frame, both the single- and the multi-planar API (bcm2835-codec is
 * multi-planar, vim2m single-planar), one-plane formats only.
 *
 * What bcm2835-codec's encode_image does that matters here:
 * - S_FMT on the raw OUTPUT queue rounds the height up to a multiple of 16 (1080 -> 1088)
 *   and keeps the asked height as the crop, which is the JPEG's size; bytesperline is
 *   aligned (64 bytes for YUYV/UYVY, 32 for RGB). So a taller buffer is accepted, the
 *   frame's lines go at the top and the rest is left alone.
 * - The JPEG CAPTURE buffers are 4 MiB; the quality control is stored until the firmware
 *   component exists (REQBUFS) and applied then, so setting it before or after is the same.
 * - The OUTPUT formats are the firmware's: YUYV, UYVY, RGB24, BGR24 and planar YUV among
 *   them, as ENUM_FMT lists; nothing is assumed.
 */
#define LOG_TAG "jpeg"

#include "video/jpeg_m2m.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/videodev2.h>

#include "core/log.h"
#include "core/util.h"
#include "video/i420.h"
#include "video/jpeg.h"
#include "video/v4l2_io.h"
#include "video/v4l2_m2m.h"

#define N_OUT	       2
#define N_CAP	       2
#define MAX_FMTS       64
#define WAIT_MS	       500 /* a 1080p JPEG takes ~20 ms on a Pi 4: 500 is a stuck device */
#define RETRY_MIN_MS   1000
#define RETRY_MAX_MS   60000
#define STABLE_MS      30000 /* working this long since opened: the back-off starts over */
#define DEVICE_MAX_LEN 128

/* ======================================================================================
 * The device
 * ====================================================================================== */

struct ipkvm_jpeg_m2m {
	char device[DEVICE_MAX_LEN];
	char card[32];
	int fd;
	bool mplane;
	uint32_t out_type, cap_type, cap_fourcc;
	uint32_t out_fmts[MAX_FMTS];
	unsigned n_out_fmts;

	/* negotiated at the first frame */
	bool configured, streaming;
	enum ipkvm_pixfmt in_fmt;
	unsigned width, height;
	uint32_t out_fourcc;
	size_t out_bpl, out_sizeimage, cap_bpl;
	unsigned out_height; /* the OUTPUT buffer's lines (bcm2835: height rounded up to 16) */
	struct ipkvm_m2m_buf out[N_OUT], cap[N_CAP];
	unsigned n_out, n_cap;
	int quality; /* as set on the device; 0 = not yet */
	bool quality_warned;
	uint8_t *rgb; /* RGB24 of a frame whose lines the device wants wider; kept */
	size_t rgb_len;
};

static const char *fourcc_str(uint32_t f, char s[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)((f >> (8 * i)) & 0xff);
		s[i] = c >= 32 && c < 127 ? c : '?';
	}
	s[4] = 0;
	return s;
}

static bool listed(const uint32_t *list, unsigned n, uint32_t f)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i] == f)
			return true;
	return false;
}

struct ipkvm_jpeg_m2m *ipkvm_jpeg_m2m_open(const char *device, uint32_t cap_fourcc, char *err,
					   size_t errlen)
{
	const char *what = cap_fourcc == V4L2_PIX_FMT_JPEG ? "JPEG encoder" : "mem2mem device";
	struct ipkvm_jpeg_m2m *m = calloc(1, sizeof(*m));
	if (!m) {
		ipkvm_errf(err, errlen, "out of memory");
		return NULL;
	}
	ipkvm_strlcpy(m->device, device, sizeof(m->device));
	m->cap_fourcc = cap_fourcc;
	m->fd = ipkvm_v4l2_sys()->open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (m->fd < 0) {
		int e = errno > 0 ? errno : EIO;
		ipkvm_errf(err, errlen, "no V4L2 %s at %s: %s", what, device, strerror(e));
		free(m);
		return NULL;
	}
	struct v4l2_capability cap;
	memset(&cap, 0, sizeof(cap));
	int r = ipkvm_v4l2_xioctl(m->fd, VIDIOC_QUERYCAP, &cap);
	if (r < 0) {
		ipkvm_errf(err, errlen, "no V4L2 %s at %s: not a V4L2 device (%s)", what, device,
			   strerror(-r));
		goto fail;
	}
	memcpy(m->card, cap.card, sizeof(m->card) - 1);
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
		ipkvm_errf(err, errlen, "no V4L2 %s at %s: %s is not a mem2mem device", what,
			   device, m->card);
		goto fail;
	}
	if (!(caps & V4L2_CAP_STREAMING)) {
		ipkvm_errf(err, errlen, "no V4L2 %s at %s: no streaming I/O", what, device);
		goto fail;
	}
	uint32_t capfmts[MAX_FMTS];
	unsigned ncap = 0;
	r = ipkvm_m2m_enum_formats(m->fd, m->cap_type, capfmts, MAX_FMTS, &ncap);
	if (r < 0 || !listed(capfmts, ncap, cap_fourcc)) {
		char s[5];
		ipkvm_errf(err, errlen, "no V4L2 %s at %s: %s does not produce %s", what, device,
			   m->card,
			   cap_fourcc == V4L2_PIX_FMT_JPEG ? "JPEG" : fourcc_str(cap_fourcc, s));
		goto fail;
	}
	r = ipkvm_m2m_enum_formats(m->fd, m->out_type, m->out_fmts, MAX_FMTS, &m->n_out_fmts);
	if (r < 0 || m->n_out_fmts == 0) {
		ipkvm_errf(err, errlen, "no V4L2 %s at %s: it lists no input formats", what,
			   device);
		goto fail;
	}
	LOG_DEBUG("%s: %s, %s API, %u input formats", device, m->card,
		  m->mplane ? "multi-planar" : "single-planar", m->n_out_fmts);
	return m;

fail:
	ipkvm_v4l2_sys()->close(m->fd);
	free(m);
	return NULL;
}

/* Stops streaming and releases the buffers (the device stays open). */
static void teardown(struct ipkvm_jpeg_m2m *m)
{
	ipkvm_m2m_release(m->fd, m->out_type, m->cap_type, &m->streaming, m->out, &m->n_out,
			  sizeof(m->out), m->cap, &m->n_cap, sizeof(m->cap));
	m->configured = false;
	m->quality = 0;
}

void ipkvm_jpeg_m2m_close(struct ipkvm_jpeg_m2m *m)
{
	if (!m)
		return;
	teardown(m);
	ipkvm_v4l2_sys()->close(m->fd);
	free(m->rgb);
	free(m);
}

void ipkvm_jpeg_m2m_info(const struct ipkvm_jpeg_m2m *m, struct ipkvm_jpeg_m2m_info *out)
{
	memset(out, 0, sizeof(*out));
	if (m->configured) {
		out->out_fourcc = m->out_fourcc;
		out->cap_fourcc = m->cap_fourcc;
		out->width = m->width;
		out->height = m->height;
		out->out_bpl = m->out_bpl;
		out->cap_bpl = m->cap_bpl;
	}
	out->mplane = m->mplane;
	ipkvm_strlcpy(out->card, m->card, sizeof(out->card));
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

/* The OUTPUT format for frames of format f: its own packing, else one we convert to. */
static uint32_t pick_out_fourcc(const struct ipkvm_jpeg_m2m *m, enum ipkvm_pixfmt f)
{
	static const uint32_t converted[] = {V4L2_PIX_FMT_RGB24, V4L2_PIX_FMT_YUV420};
	uint32_t n = native_fourcc(f);
	if (n && listed(m->out_fmts, m->n_out_fmts, n))
		return n;
	for (size_t i = 0; i < sizeof(converted) / sizeof(converted[0]); i++)
		if (listed(m->out_fmts, m->n_out_fmts, converted[i]))
			return converted[i];
	return 0;
}

/* Bytes per pixel of the packed OUTPUT formats; 1 (the luma plane) for YUV420. */
static unsigned fourcc_bpp(uint32_t f)
{
	switch (f) {
	case V4L2_PIX_FMT_YUYV:
	case V4L2_PIX_FMT_UYVY:
	case V4L2_PIX_FMT_YVYU:
	case V4L2_PIX_FMT_VYUY:
	case V4L2_PIX_FMT_RGB565:
	case V4L2_PIX_FMT_RGB565X:
		return 2;
	case V4L2_PIX_FMT_RGB24:
	case V4L2_PIX_FMT_BGR24:
		return 3;
	case V4L2_PIX_FMT_BGR32:
	case V4L2_PIX_FMT_RGB32:
		return 4;
	default:
		return 1;
	}
}

/* S_FMT for one queue. The device may round the height up (never down) and widen the
 * lines; anything else it changes is a refusal (-ERANGE). */
static int set_format(struct ipkvm_jpeg_m2m *m, uint32_t type, uint32_t fourcc, unsigned w,
		      unsigned h, size_t *bpl, size_t *sizeimage, unsigned *got_h)
{
	return ipkvm_m2m_set_format(m->fd, m->mplane, type, fourcc, w, h, 15, bpl, sizeimage,
				    got_h);
}

static void buf_init(const struct ipkvm_jpeg_m2m *m, struct v4l2_buffer *b,
		     struct v4l2_plane *plane, uint32_t type, unsigned i)
{
	ipkvm_m2m_buf_init(m->mplane, b, plane, type, i);
}

static void set_quality(struct ipkvm_jpeg_m2m *m, int quality)
{
	if (m->cap_fourcc != V4L2_PIX_FMT_JPEG || quality == m->quality)
		return;
	struct v4l2_control c = {.id = V4L2_CID_JPEG_COMPRESSION_QUALITY, .value = quality};
	int r = ipkvm_v4l2_xioctl(m->fd, VIDIOC_S_CTRL, &c);
	if (r < 0 && !m->quality_warned) {
		m->quality_warned = true;
		LOG_WARN("%s: cannot set the JPEG quality to %d: %s", m->device, quality,
			 strerror(-r));
	}
	m->quality = quality;
}

/* Formats, quality and buffers for frames like f; streaming on. */
static int configure(struct ipkvm_jpeg_m2m *m, const struct ipkvm_frame *f, int quality)
{
	teardown(m);
	char a[5], b[5];
	uint32_t fourcc = pick_out_fourcc(m, f->format);
	if (!fourcc) {
		LOG_ERROR("%s takes neither %s nor RGB24 nor YUV420 input", m->device,
			  ipkvm_pixfmt_name(f->format));
		return -ENOTSUP;
	}
	const char *step = "the input format";
	size_t cap_size = 0;
	int r = set_format(m, m->out_type, fourcc, f->width, f->height, &m->out_bpl,
			   &m->out_sizeimage, &m->out_height);
	if (r < 0)
		goto fail;
	size_t minbpl = (size_t)f->width * fourcc_bpp(fourcc);
	if (m->out_bpl < minbpl)
		m->out_bpl = minbpl;
	step = "the output format";
	unsigned cap_h = 0;
	r = set_format(m, m->cap_type, m->cap_fourcc, f->width, f->height, &m->cap_bpl, &cap_size,
		       &cap_h);
	if (r == 0 && m->cap_fourcc != V4L2_PIX_FMT_JPEG && cap_h != f->height)
		r = -ERANGE; /* a raw result must be the frame's size */
	if (r < 0)
		goto fail;
	set_quality(m, quality);

	step = "the buffers";
	r = ipkvm_m2m_map(m->fd, m->mplane, m->out_type, m->out, N_OUT, &m->n_out);
	if (r == 0)
		r = ipkvm_m2m_map(m->fd, m->mplane, m->cap_type, m->cap, N_CAP, &m->n_cap);
	size_t need = fourcc == V4L2_PIX_FMT_YUV420 ? m->out_bpl * m->out_height * 3 / 2
						    : m->out_bpl * m->out_height;
	for (unsigned i = 0; r == 0 && i < m->n_out; i++)
		if (m->out[i].length < need)
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
	m->out_fourcc = fourcc;
	LOG_INFO("%s: %ux%u %s in as %s, %s out", m->device, f->width, f->height,
		 ipkvm_pixfmt_name(f->format), fourcc_str(fourcc, a), fourcc_str(m->cap_fourcc, b));
	return 0;

fail:
	LOG_WARN("%s: cannot set up %s for %ux%u %s: %s", m->device, step, f->width, f->height,
		 ipkvm_pixfmt_name(f->format), strerror(-r));
	teardown(m);
	return r;
}

/* Copies (or converts) f into OUTPUT buffer i and queues it. */
static int queue_frame(struct ipkvm_jpeg_m2m *m, unsigned i, const struct ipkvm_frame *f)
{
	uint8_t *dst = m->out[i].start;
	size_t bpl = m->out_bpl, used;
	if (m->out_fourcc == V4L2_PIX_FMT_YUV420) {
		/* One plane: Y (bpl per line, out_height lines), then U and V at half. */
		size_t ysz = bpl * m->out_height, csz = bpl / 2 * (m->out_height / 2);
		ipkvm_i420_from_frame(f, dst, bpl, dst + ysz, dst + ysz + csz, bpl / 2);
		used = ysz + 2 * csz;
	} else if (m->out_fourcc == native_fourcc(f->format)) {
		size_t row = (size_t)f->width * ipkvm_pixfmt_bpp(f->format);
		if (bpl == f->stride) {
			memcpy(dst, f->data, bpl * (f->height - 1) + row);
		} else {
			for (unsigned y = 0; y < f->height; y++)
				memcpy(dst + bpl * y, f->data + f->stride * y, row);
		}
		used = bpl * m->out_height;
	} else { /* RGB24 */
		size_t row = (size_t)f->width * 3;
		if (bpl == row) {
			ipkvm_frame_to_rgb24(f, dst);
		} else {
			if (m->rgb_len < row * f->height) {
				free(m->rgb);
				m->rgb_len = 0;
				m->rgb = malloc(row * f->height);
				if (!m->rgb)
					return -ENOMEM;
				m->rgb_len = row * f->height;
			}
			ipkvm_frame_to_rgb24(f, m->rgb);
			for (unsigned y = 0; y < f->height; y++)
				memcpy(dst + bpl * y, m->rgb + row * y, row);
		}
		used = bpl * m->out_height;
	}
	if (m->out_sizeimage > used && m->out_sizeimage <= m->out[i].length)
		used = m->out_sizeimage;
	if (used > m->out[i].length)
		used = m->out[i].length;

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

/* Takes back every OUTPUT buffer the device is done with. */

/* Waits for the CAPTURE buffer of the frame just queued; copies it out and requeues it. */
static int take_cap(struct ipkvm_jpeg_m2m *m, struct ipkvm_buf **out)
{
	int64_t deadline = ipkvm_v4l2_mono_ms() + WAIT_MS;
	for (;;) {
		struct v4l2_buffer b;
		struct v4l2_plane p;
		buf_init(m, &b, &p, m->cap_type, 0);
		int r = ipkvm_v4l2_xioctl(m->fd, VIDIOC_DQBUF, &b);
		if (r == -EAGAIN) {
			int64_t left = deadline - ipkvm_v4l2_mono_ms();
			struct pollfd pfd = {.fd = m->fd, .events = POLLIN};
			if (left <= 0)
				return -ETIMEDOUT;
			int n = ipkvm_v4l2_sys()->poll(&pfd, 1, (int)left);
			if (n == 0)
				return -ETIMEDOUT;
			if (n < 0)
				return errno > 0 && errno != EINTR ? -errno : -EINTR;
			if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
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
		bool bad = (b.flags & V4L2_BUF_FLAG_ERROR) || used == off;
		if (!bad) {
			*out = ipkvm_buf_copy((const uint8_t *)m->cap[b.index].start + off,
					      used - off);
			if (!*out)
				r = -ENOMEM;
		}
		int q = ipkvm_m2m_queue_cap(m->fd, m->mplane, m->cap_type, m->cap, b.index);
		if (r < 0 || q < 0 || bad) {
			ipkvm_buf_unref(*out);
			*out = NULL;
			return r < 0 ? r : q < 0 ? q : -EIO;
		}
		return 0;
	}
}

int ipkvm_jpeg_m2m_encode(struct ipkvm_jpeg_m2m *m, const struct ipkvm_frame *f, int quality,
			  struct ipkvm_buf **out)
{
	*out = NULL;
	if (!f || !f->data || f->format == IPKVM_FMT_MJPEG || f->width < 16 || f->height < 16 ||
	    f->stride < (size_t)f->width * ipkvm_pixfmt_bpp(f->format) ||
	    f->size < f->stride * (f->height - 1) + (size_t)f->width * ipkvm_pixfmt_bpp(f->format))
		return -EINVAL;
	int r;
	if (!m->configured || f->format != m->in_fmt || f->width != m->width ||
	    f->height != m->height) {
		r = configure(m, f, quality);
		if (r < 0)
			return r;
	} else {
		set_quality(m, quality);
	}
	int i = ipkvm_m2m_free_out(m->fd, m->mplane, m->out_type, m->out, m->n_out, WAIT_MS);
	if (i < 0) {
		r = i;
		goto fail;
	}
	r = queue_frame(m, (unsigned)i, f);
	if (r < 0)
		goto fail;
	r = take_cap(m, out);
	ipkvm_m2m_reclaim_out(m->fd, m->mplane, m->out_type, m->out, m->n_out);
	if (r < 0)
		goto fail;
	return 0;

fail:
	/* Start over at the next frame: fresh buffers, nothing of this one left queued. */
	teardown(m);
	return r;
}

/* ======================================================================================
 * The choice
 * ====================================================================================== */

struct ipkvm_jpeg_hw {
	enum ipkvm_jpeg_encoder_mode mode;
	char device[DEVICE_MAX_LEN];
	uint32_t cap_fourcc;

	pthread_mutex_t dev_lock; /* the device: one frame at a time */
	struct ipkvm_jpeg_m2m *m; /* NULL while software encodes */
	struct ipkvm_jpeg *soft;  /* for a raw CAPTURE format */
	int64_t opened_ms, retry_ms;
	int backoff_ms;
	bool ever_worked;

	pthread_mutex_t st_lock; /* the status, read by the API at any time */
	bool in_use;
	char reason[192];
};

static void set_status(struct ipkvm_jpeg_hw *h, bool in_use, const char *reason)
{
	pthread_mutex_lock(&h->st_lock);
	h->in_use = in_use;
	ipkvm_strlcpy(h->reason, reason ? reason : "", sizeof(h->reason));
	pthread_mutex_unlock(&h->st_lock);
}

/* Tries the device (dev_lock held). true when it is open. */
static bool try_open(struct ipkvm_jpeg_hw *h, bool first)
{
	char why[160] = "";
	h->m = ipkvm_jpeg_m2m_open(h->device, h->cap_fourcc, why, sizeof(why));
	int64_t now = ipkvm_v4l2_mono_ms();
	if (h->m) {
		h->opened_ms = now;
		LOG_INFO("JPEG encoder: V4L2 mem2mem at %s (%s)%s", h->device, h->m->card,
			 first ? "" : ", back from software");
		set_status(h, true, NULL);
		return true;
	}
	char reason[192];
	if (first) {
		h->backoff_ms = RETRY_MIN_MS;
		if (h->mode == IPKVM_JPEG_ENCODER_V4L2)
			LOG_ERROR(
			    "JPEG encoder: [jpeg] encoder = v4l2, but %s; encoding in software "
			    "and trying the device again",
			    why);
		else
			LOG_INFO("JPEG encoder: software (%s)", why);
		ipkvm_strlcpy(reason, why, sizeof(reason));
	} else {
		LOG_DEBUG("JPEG encoder: still software: %s", why);
		snprintf(reason, sizeof(reason), "%s", why);
	}
	set_status(h, false, reason);
	h->retry_ms = now + h->backoff_ms;
	h->backoff_ms = h->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : h->backoff_ms * 2;
	return false;
}

struct ipkvm_jpeg_hw *ipkvm_jpeg_hw_create(const struct ipkvm_jpeg_hw_config *cfg)
{
	struct ipkvm_jpeg_hw *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->mode = cfg->mode;
	ipkvm_strlcpy(h->device,
		      cfg->device && *cfg->device ? cfg->device : IPKVM_JPEG_M2M_DEFAULT_DEVICE,
		      sizeof(h->device));
	h->cap_fourcc = cfg->cap_fourcc ? cfg->cap_fourcc : V4L2_PIX_FMT_JPEG;
	h->backoff_ms = RETRY_MIN_MS;
	pthread_mutex_init(&h->dev_lock, NULL);
	pthread_mutex_init(&h->st_lock, NULL);
	if (h->cap_fourcc != V4L2_PIX_FMT_JPEG) {
		h->soft = ipkvm_jpeg_create();
		if (!h->soft) {
			ipkvm_jpeg_hw_destroy(h);
			return NULL;
		}
	}
	if (h->mode == IPKVM_JPEG_ENCODER_SOFTWARE) {
		LOG_INFO("JPEG encoder: software");
		return h;
	}
	pthread_mutex_lock(&h->dev_lock);
	try_open(h, true);
	pthread_mutex_unlock(&h->dev_lock);
	return h;
}

void ipkvm_jpeg_hw_destroy(struct ipkvm_jpeg_hw *h)
{
	if (!h)
		return;
	ipkvm_jpeg_m2m_close(h->m);
	if (h->soft)
		ipkvm_jpeg_destroy(h->soft);
	pthread_mutex_destroy(&h->dev_lock);
	pthread_mutex_destroy(&h->st_lock);
	free(h);
}

/* The device's bytes as a JPEG: checked (JPEG), or encoded in software (a raw format). */
static int finish(struct ipkvm_jpeg_hw *h, const struct ipkvm_frame *f, int quality,
		  bool subsample420, struct ipkvm_buf **out)
{
	struct ipkvm_buf *b = *out;
	*out = NULL;
	if (h->cap_fourcc == V4L2_PIX_FMT_JPEG) {
		/* The one place the product's expectation is checked: a JPEG, SOI first. */
		if (b->len < 4 || b->data[0] != 0xff || b->data[1] != 0xd8) {
			ipkvm_buf_unref(b);
			return -EBADMSG;
		}
		*out = b;
		return 0;
	}
	/* A converter: its output as a frame of the same size (RGB24/BGR24/YUYV/UYVY). */
	enum ipkvm_pixfmt pf;
	switch (h->cap_fourcc) {
	case V4L2_PIX_FMT_RGB24:
		pf = IPKVM_FMT_RGB24;
		break;
	case V4L2_PIX_FMT_BGR24:
		pf = IPKVM_FMT_BGR24;
		break;
	case V4L2_PIX_FMT_YUYV:
		pf = IPKVM_FMT_YUYV;
		break;
	case V4L2_PIX_FMT_UYVY:
		pf = IPKVM_FMT_UYVY;
		break;
	default:
		ipkvm_buf_unref(b);
		return -ENOTSUP;
	}
	size_t row = (size_t)f->width * ipkvm_pixfmt_bpp(pf);
	size_t bpl = h->m->cap_bpl >= row ? h->m->cap_bpl : row;
	if (b->len < bpl * (f->height - 1) + row) {
		ipkvm_buf_unref(b);
		return -EBADMSG;
	}
	struct ipkvm_frame conv = {.format = pf,
				   .width = f->width,
				   .height = f->height,
				   .stride = bpl,
				   .size = b->len,
				   .capacity = b->len,
				   .ts_us = f->ts_us,
				   .data = b->data};
	int r = ipkvm_jpeg_encode(h->soft, &conv, quality, subsample420, out);
	ipkvm_buf_unref(b);
	return r;
}

int ipkvm_jpeg_hw_encode(struct ipkvm_jpeg_hw *h, const struct ipkvm_frame *f, int quality,
			 bool subsample420, struct ipkvm_buf **out)
{
	*out = NULL;
	if (!h || h->mode == IPKVM_JPEG_ENCODER_SOFTWARE || f->format == IPKVM_FMT_MJPEG)
		return -ENODEV;
	pthread_mutex_lock(&h->dev_lock);
	if (!h->m && (ipkvm_v4l2_mono_ms() < h->retry_ms || !try_open(h, false))) {
		pthread_mutex_unlock(&h->dev_lock);
		return -ENODEV;
	}
	int r = ipkvm_jpeg_m2m_encode(h->m, f, quality, out);
	if (r == 0)
		r = finish(h, f, quality, subsample420, out);
	int64_t now = ipkvm_v4l2_mono_ms();
	if (r == 0) {
		if (!h->ever_worked || now - h->opened_ms >= STABLE_MS)
			h->backoff_ms = RETRY_MIN_MS;
		h->ever_worked = true;
		pthread_mutex_unlock(&h->dev_lock);
		return 0;
	}
	/* Failed on this frame: software takes it, the device is tried again later. */
	char reason[192];
	snprintf(reason, sizeof(reason), "%s failed on a %ux%u %s frame: %s", h->device, f->width,
		 f->height, ipkvm_pixfmt_name(f->format),
		 r == -EBADMSG ? "its output is not a JPEG" : strerror(-r));
	if (h->mode == IPKVM_JPEG_ENCODER_V4L2)
		LOG_ERROR("JPEG encoder: %s; encoding in software, trying the device again in %d s",
			  reason, h->backoff_ms / 1000);
	else
		LOG_WARN("JPEG encoder: %s; encoding in software, trying the device again in %d s",
			 reason, h->backoff_ms / 1000);
	ipkvm_jpeg_m2m_close(h->m);
	h->m = NULL;
	h->retry_ms = now + h->backoff_ms;
	h->backoff_ms = h->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : h->backoff_ms * 2;
	set_status(h, false, reason);
	pthread_mutex_unlock(&h->dev_lock);
	return -ENODEV;
}

void ipkvm_jpeg_hw_status(struct ipkvm_jpeg_hw *h, struct ipkvm_jpeg_hw_status *out)
{
	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	ipkvm_strlcpy(out->device, h->device, sizeof(out->device));
	pthread_mutex_lock(&h->st_lock);
	out->v4l2 = h->in_use;
	ipkvm_strlcpy(out->reason, h->reason, sizeof(out->reason));
	pthread_mutex_unlock(&h->st_lock);
}
