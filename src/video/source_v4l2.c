/*
 * source_v4l2: the V4L2 capture source (see source_v4l2.h for the two kinds of device).
 *
 * Shape:
 * - open() does everything that can fail for reasons the user must see (missing device,
 *   another program holding it, no HDMI signal, timings we cannot take) and records why in
 *   the signal info; the capture thread just retries open() with back-off, so the state
 *   moves from "no_signal" to "ok" on its own when the target is switched on.
 * - Buffers are mapped in open() and queued in start(), so start/stop pairs repeat cleanly
 *   (STREAMOFF hands every buffer back to us).
 * - next() drains every ready buffer, requeues all but the newest and lends that one as a
 *   borrowed frame (frame.h): the capture thread compares it with the last picture kept
 *   and copies it only when it keeps it, then hands it back with release(), which requeues
 *   it. So at most one buffer is away from the driver, for the length of a compare and
 *   maybe a copy; a slow encoder costs dropped frames, not latency.
 * - The fd is non-blocking; nothing here waits. The capture thread polls fd().
 * - Every system call goes through the ipkvm_v4l2_io table (v4l2_io.h) so the unit tests
 *   can answer them with a fake device; ioctls are retried on EINTR.
 */
#define LOG_TAG "v4l2"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "core/log.h"
#include "core/util.h"
#include "video/source_v4l2.h"
#include "video/v4l2_io.h"

#define EDID_MAX	 256
#define EDID_FILE_MAX	 (64 * 1024)
#define MAX_BUFFERS	 32
#define MAX_CANDIDATES	 512
#define MAX_DIM		 16384
#define UNSUPPORTED_HINT "set the target to 1080p60 or 1080p50"
#define DEFAULT_AUTO_FPS 30
/* A UVC dongle streams even when it has no picture to give, but then sends no frame: after
 * this long without one its signal is no_signal. */
#define UVC_SILENCE_MS	3000
#define UVC_SILENCE_WHY "the USB capture device sends no frames"

/* ---- state ---- */

struct mapped_buf {
	void *start;
	size_t length;
};

struct v4l2_src {
	struct ipkvm_source src;
	/* settings */
	char *device;
	unsigned cfg_width, cfg_height, cfg_fps, nbuffers;
	bool allow_mjpeg;
	uint8_t edid[EDID_MAX];
	size_t edid_len; /* 0: leave the device's EDID alone */
	/* device */
	int fd;
	bool dv; /* the input reports V4L2_IN_CAP_DV_TIMINGS */
	bool streaming;
	bool reqbufs; /* buffers were requested and must be released */
	struct mapped_buf *bufs;
	unsigned nbufs;
	struct ipkvm_frame view; /* the buffer lent by next(), see above */
	int lent;		 /* its index, -1 when none is lent */
	int release_err;	 /* a failed requeue in release(), returned by the next next() */
	/* negotiated */
	enum ipkvm_pixfmt format;
	unsigned width, height;
	size_t bytesperline;
	double fps;
	/* frame numbering across restarts: see frame_seq() */
	uint64_t seq_base, next_seq, cur_seq;
	uint32_t last_hw_seq;
	bool have_hw_seq;
	/* signal info: written here, read by whoever asks (guarded so any thread may) */
	pthread_mutex_t lock;
	struct ipkvm_signal_info sig;
	int64_t uvc_waiting_ms; /* UVC streaming: since when no frame came (0: not streaming) */
};

static struct v4l2_src *priv_of(struct ipkvm_source *s)
{
	return s->priv;
}

static void set_signal(struct v4l2_src *p, enum ipkvm_signal state, unsigned w, unsigned h,
		       double fps, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Records the state; logs only when the state or reason changes, so a device that stays
 * unplugged does not fill the log on every reopen. */
static void set_signal(struct v4l2_src *p, enum ipkvm_signal state, unsigned w, unsigned h,
		       double fps, const char *fmt, ...)
{
	char reason[sizeof(p->sig.reason)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&p->lock);
	bool changed = p->sig.state != state || strcmp(p->sig.reason, reason) != 0;
	p->sig.state = state;
	p->sig.width = w;
	p->sig.height = h;
	p->sig.fps = fps;
	memcpy(p->sig.reason, reason, sizeof(reason));
	pthread_mutex_unlock(&p->lock);

	if (!changed)
		return;
	if (state == IPKVM_SIGNAL_OK)
		LOG_DEBUG("%s: %s", p->device, ipkvm_signal_name(state)); /* open() said more */
	else
		LOG_WARN("%s: %s: %s", p->device, ipkvm_signal_name(state), reason);
}

/* Signal state for a failed ioctl: the errors that mean something to a person get their
 * own state, the rest are "error" with the call named. */
static int fail_ioctl(struct v4l2_src *p, const char *what, int r)
{
	switch (-r) {
	case EBUSY:
		set_signal(p, IPKVM_SIGNAL_BUSY, 0, 0, 0, "%s is in use by another program",
			   p->device);
		break;
	case ENODEV:
	case ENXIO:
		set_signal(p, IPKVM_SIGNAL_NO_DEVICE, 0, 0, 0, "capture device %s disappeared",
			   p->device);
		break;
	default:
		set_signal(p, IPKVM_SIGNAL_ERROR, 0, 0, 0, "%s failed on %s: %s", what, p->device,
			   strerror(-r));
		break;
	}
	return r;
}

/* "60", "59.94" */
static void format_rate(double fps, char *buf, size_t len)
{
	if (fabs(fps - round(fps)) < 0.005)
		snprintf(buf, len, "%.0f", fps);
	else
		snprintf(buf, len, "%.2f", fps);
}

static const char *fourcc_str(uint32_t f, char buf[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)((f >> (8 * i)) & 0xff);
		buf[i] = c >= ' ' && c <= '~' ? c : '?';
	}
	buf[4] = 0;
	return buf;
}

/* ---- formats ---- */

/* Pixel formats we take, in order of preference (MJPEG only when allowed). */
static const struct {
	uint32_t fourcc;
	enum ipkvm_pixfmt fmt;
} known_formats[] = {
    {V4L2_PIX_FMT_MJPEG, IPKVM_FMT_MJPEG}, {V4L2_PIX_FMT_JPEG, IPKVM_FMT_MJPEG},
    {V4L2_PIX_FMT_YUYV, IPKVM_FMT_YUYV},   {V4L2_PIX_FMT_UYVY, IPKVM_FMT_UYVY},
    {V4L2_PIX_FMT_RGB24, IPKVM_FMT_RGB24}, {V4L2_PIX_FMT_BGR24, IPKVM_FMT_BGR24},
};

/* Preference rank of a fourcc (lower is better), or -1 when we cannot use it. */
static int format_rank(const struct v4l2_src *p, uint32_t fourcc)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(known_formats); i++) {
		if (known_formats[i].fourcc != fourcc)
			continue;
		if (known_formats[i].fmt == IPKVM_FMT_MJPEG && !p->allow_mjpeg)
			return -1;
		return (int)i;
	}
	return -1;
}

static int pixfmt_of(uint32_t fourcc, enum ipkvm_pixfmt *out)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(known_formats); i++) {
		if (known_formats[i].fourcc == fourcc) {
			*out = known_formats[i].fmt;
			return 0;
		}
	}
	return -EINVAL;
}

/* The usable fourccs the device lists, best first. Returns the count (0 when none). */
static unsigned list_formats(struct v4l2_src *p, uint32_t *out, unsigned max)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < 64 && n < max; i++) {
		struct v4l2_fmtdesc d = {.index = i, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
		if (ipkvm_v4l2_xioctl(p->fd, VIDIOC_ENUM_FMT, &d) < 0)
			break;
		if (d.flags & V4L2_FMT_FLAG_EMULATED)
			continue;
		if (format_rank(p, d.pixelformat) < 0)
			continue;
		out[n++] = d.pixelformat;
	}
	/* insertion sort by preference */
	for (unsigned i = 1; i < n; i++) {
		uint32_t f = out[i];
		unsigned j = i;
		while (j > 0 && format_rank(p, out[j - 1]) > format_rank(p, f)) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = f;
	}
	return n;
}

/*
 * Sets the format and adopts what the driver answers: drivers adjust sizes to what they can
 * do, so width/height/stride always come from the reply, never from the request.
 */
static int set_format(struct v4l2_src *p, uint32_t fourcc, unsigned w, unsigned h)
{
	struct v4l2_format f = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	f.fmt.pix.width = w;
	f.fmt.pix.height = h;
	f.fmt.pix.pixelformat = fourcc;
	f.fmt.pix.field = V4L2_FIELD_ANY;
	int r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_S_FMT, &f);
	if (r < 0)
		return fail_ioctl(p, "VIDIOC_S_FMT", r);

	char a[5], b[5];
	enum ipkvm_pixfmt pf;
	if (pixfmt_of(f.fmt.pix.pixelformat, &pf) < 0 ||
	    format_rank(p, f.fmt.pix.pixelformat) < 0) {
		set_signal(p, IPKVM_SIGNAL_UNSUPPORTED, f.fmt.pix.width, f.fmt.pix.height, 0,
			   "%s chose pixel format %s instead of %s", p->device,
			   fourcc_str(f.fmt.pix.pixelformat, a), fourcc_str(fourcc, b));
		return -EINVAL;
	}
	if (f.fmt.pix.width == 0 || f.fmt.pix.height == 0 || f.fmt.pix.width > MAX_DIM ||
	    f.fmt.pix.height > MAX_DIM) {
		set_signal(p, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0, "%s reports a %ux%u picture",
			   p->device, f.fmt.pix.width, f.fmt.pix.height);
		return -EINVAL;
	}
	if (f.fmt.pix.width != w || f.fmt.pix.height != h)
		LOG_INFO("%s: asked for %ux%u, the driver chose %ux%u", p->device, w, h,
			 f.fmt.pix.width, f.fmt.pix.height);
	p->format = pf;
	p->width = f.fmt.pix.width;
	p->height = f.fmt.pix.height;
	size_t row = (size_t)p->width * ipkvm_pixfmt_bpp(pf);
	p->bytesperline = pf == IPKVM_FMT_MJPEG ? 0 : f.fmt.pix.bytesperline;
	if (pf != IPKVM_FMT_MJPEG && p->bytesperline < row)
		p->bytesperline = row; /* 0 or nonsense: packed lines */
	return 0;
}

/* ---- EDID ---- */

/*
 * Loads the configured EDID unless the device already holds exactly it. Loading an EDID
 * makes bridges like the TC358743 pulse hot-plug, so the target re-reads it and the source
 * change that follows restarts us; setting it again on that reopen would loop forever.
 * Failure is not fatal: the device keeps its own EDID and may still capture.
 */
static int load_edid(struct v4l2_src *p)
{
	uint32_t blocks = (uint32_t)(p->edid_len / 128);
	uint8_t cur[EDID_MAX];
	struct v4l2_edid e = {.pad = 0, .start_block = 0, .blocks = blocks, .edid = cur};
	memset(cur, 0, sizeof(cur));
	int r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_G_EDID, &e);
	if (r == 0 && e.blocks == blocks && memcmp(cur, p->edid, p->edid_len) == 0) {
		LOG_DEBUG("%s: EDID already loaded", p->device);
		return 0;
	}
	if (r == -ENODEV)
		return fail_ioctl(p, "VIDIOC_G_EDID", r);

	e = (struct v4l2_edid){.pad = 0, .start_block = 0, .blocks = blocks, .edid = p->edid};
	r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_S_EDID, &e);
	if (r == -ENODEV)
		return fail_ioctl(p, "VIDIOC_S_EDID", r);
	if (r == -ENOTTY)
		LOG_WARN("%s does not take an EDID (not an HDMI bridge?)", p->device);
	else if (r == -E2BIG)
		LOG_WARN("%s takes at most %u EDID blocks, not %u", p->device, e.blocks, blocks);
	else if (r < 0)
		LOG_WARN("%s: VIDIOC_S_EDID: %s", p->device, strerror(-r));
	else
		LOG_INFO("%s: EDID loaded (%u blocks)", p->device, blocks);
	return 0;
}

/* ---- HDMI bridges: DV timings ---- */

static double timings_fps(const struct v4l2_dv_timings *t)
{
	const struct v4l2_bt_timings *bt = &t->bt;
	double total = (double)V4L2_DV_BT_FRAME_WIDTH(bt) * (double)V4L2_DV_BT_FRAME_HEIGHT(bt);
	if (total <= 0 || bt->pixelclock == 0)
		return 0;
	double fps = (double)bt->pixelclock / total;
	/* as the kernel does: the clock stays nominal, the flag means x 1000/1001 */
	if ((bt->flags & V4L2_DV_FL_CAN_REDUCE_FPS) && (bt->flags & V4L2_DV_FL_REDUCED_FPS))
		fps = fps * 1000.0 / 1001.0;
	return fps;
}

static int setup_dv(struct v4l2_src *p)
{
	/* Subscribed before the query, so a mode change between the query and streaming is
	 * not missed. Without the event we would not notice the target changing modes;
	 * capture still works, so failing to subscribe is only a warning. */
	struct v4l2_event_subscription sub = {.type = V4L2_EVENT_SOURCE_CHANGE};
	int r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_SUBSCRIBE_EVENT, &sub);
	if (r == -ENODEV)
		return fail_ioctl(p, "VIDIOC_SUBSCRIBE_EVENT", r);
	if (r < 0)
		LOG_WARN("%s: cannot subscribe to source changes: %s", p->device, strerror(-r));

	struct v4l2_dv_timings t;
	memset(&t, 0, sizeof(t));
	r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_QUERY_DV_TIMINGS, &t);
	char rate[16];
	switch (-r) {
	case 0:
		break;
	case ENOLINK:
		set_signal(p, IPKVM_SIGNAL_NO_SIGNAL, 0, 0, 0,
			   "no signal on the HDMI input (target off or cable unplugged)");
		return r;
	case ENOLCK:
		set_signal(p, IPKVM_SIGNAL_NO_SYNC, 0, 0, 0,
			   "the HDMI receiver cannot lock to the signal");
		return r;
	case ERANGE:
		/* The kernel copies the measured timings back even on ERANGE. */
		if (t.type == V4L2_DV_BT_656_1120 && t.bt.width && t.bt.height) {
			double fps = timings_fps(&t);
			format_rate(fps, rate, sizeof(rate));
			set_signal(p, IPKVM_SIGNAL_UNSUPPORTED, t.bt.width, t.bt.height, fps,
				   "%ux%u%s@%s is not supported: " UNSUPPORTED_HINT, t.bt.width,
				   t.bt.height, t.bt.interlaced ? "i" : "", rate);
		} else {
			set_signal(
			    p, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0,
			    "the incoming video timings are not supported: " UNSUPPORTED_HINT);
		}
		return r;
	default:
		return fail_ioctl(p, "VIDIOC_QUERY_DV_TIMINGS", r);
	}

	double fps = timings_fps(&t);
	format_rate(fps, rate, sizeof(rate));
	if (t.type != V4L2_DV_BT_656_1120 || t.bt.width == 0 || t.bt.height == 0 ||
	    t.bt.width > MAX_DIM || t.bt.height > MAX_DIM) {
		set_signal(p, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0,
			   "the receiver reports timings ipkvm cannot read: " UNSUPPORTED_HINT);
		return -EINVAL;
	}
	if (t.bt.interlaced) {
		set_signal(p, IPKVM_SIGNAL_UNSUPPORTED, t.bt.width, t.bt.height, fps,
			   "%ux%ui@%s is interlaced, which is not supported: " UNSUPPORTED_HINT,
			   t.bt.width, t.bt.height, rate);
		return -EINVAL;
	}

	struct v4l2_dv_timings set = t;
	r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_S_DV_TIMINGS, &set);
	if (r < 0)
		return fail_ioctl(p, "VIDIOC_S_DV_TIMINGS", r);

	uint32_t fmts[16];
	unsigned n = list_formats(p, fmts, IPKVM_ARRAY_SIZE(fmts));
	if (n == 0) {
		/* Some bridge drivers list nothing; try what is set now. */
		struct v4l2_format f = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
		if (ipkvm_v4l2_xioctl(p->fd, VIDIOC_G_FMT, &f) == 0 &&
		    format_rank(p, f.fmt.pix.pixelformat) >= 0)
			fmts[n++] = f.fmt.pix.pixelformat;
	}
	if (n == 0) {
		set_signal(p, IPKVM_SIGNAL_UNSUPPORTED, t.bt.width, t.bt.height, fps,
			   "%s offers no pixel format ipkvm can use", p->device);
		return -EINVAL;
	}
	r = set_format(p, fmts[0], t.bt.width, t.bt.height);
	if (r < 0)
		return r;
	p->fps = fps;
	return 0;
}

/* ---- UVC: enumerate and pick ---- */

struct candidate {
	uint32_t fourcc;
	int rank;
	unsigned w, h;
	double max_fps;		/* best rate at this size; 0 = unknown */
	struct v4l2_fract best; /* the interval giving max_fps */
	double min_fps;		/* slowest rate (continuous/stepwise ranges) */
	bool continuous;	/* any rate in [min_fps, max_fps] */
	bool has_cfg_fps;	/* a discrete interval equals the configured rate */
};

struct cand_list {
	struct candidate *v;
	unsigned n, cap;
};

static int cand_add(struct cand_list *l, const struct candidate *c)
{
	if (l->n >= MAX_CANDIDATES)
		return 0;
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 16;
		struct candidate *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *c;
	return 0;
}

static double fract_fps(struct v4l2_fract f)
{
	return f.numerator ? (double)f.denominator / (double)f.numerator : 0;
}

/* Fills the rate fields of c from VIDIOC_ENUM_FRAMEINTERVALS. */
static void probe_rates(struct v4l2_src *p, struct candidate *c)
{
	for (uint32_t i = 0; i < 64; i++) {
		struct v4l2_frmivalenum iv = {
		    .index = i, .pixel_format = c->fourcc, .width = c->w, .height = c->h};
		if (ipkvm_v4l2_xioctl(p->fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv) < 0)
			return;
		if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
			double fps = fract_fps(iv.discrete);
			if (fps > c->max_fps) {
				c->max_fps = fps;
				c->best = iv.discrete;
			}
			if (p->cfg_fps && fabs(fps - p->cfg_fps) < 0.5)
				c->has_cfg_fps = true;
			continue;
		}
		/* stepwise/continuous: one entry describes the range */
		c->continuous = true;
		c->max_fps = fract_fps(iv.stepwise.min);
		c->best = iv.stepwise.min;
		c->min_fps = fract_fps(iv.stepwise.max);
		return;
	}
}

static int add_size(struct v4l2_src *p, struct cand_list *l, uint32_t fourcc, unsigned w,
		    unsigned h)
{
	struct candidate c = {.fourcc = fourcc, .rank = format_rank(p, fourcc), .w = w, .h = h};
	probe_rates(p, &c);
	return cand_add(l, &c);
}

/* Lists every (format, size) the device offers with its rates. */
static int enumerate(struct v4l2_src *p, const uint32_t *fmts, unsigned nfmts, struct cand_list *l)
{
	struct v4l2_format cur = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	if (ipkvm_v4l2_xioctl(p->fd, VIDIOC_G_FMT, &cur) < 0)
		memset(&cur.fmt.pix, 0, sizeof(cur.fmt.pix));

	for (unsigned k = 0; k < nfmts; k++) {
		uint32_t i;
		int r = 0;
		for (i = 0; i < 256 && r == 0; i++) {
			struct v4l2_frmsizeenum fs = {.index = i, .pixel_format = fmts[k]};
			if (ipkvm_v4l2_xioctl(p->fd, VIDIOC_ENUM_FRAMESIZES, &fs) < 0)
				break;
			if (fs.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
				r = add_size(p, l, fmts[k], fs.discrete.width, fs.discrete.height);
				continue;
			}
			/* a range: the configured size when it fits, else the largest */
			const struct v4l2_frmsize_stepwise *sw = &fs.stepwise;
			unsigned w = sw->max_width, h = sw->max_height;
			if (p->cfg_width && p->cfg_width >= sw->min_width &&
			    p->cfg_width <= sw->max_width && p->cfg_height >= sw->min_height &&
			    p->cfg_height <= sw->max_height) {
				w = p->cfg_width;
				h = p->cfg_height;
			}
			r = add_size(p, l, fmts[k], w, h);
			i++;
			break;
		}
		if (r < 0)
			return r;
		if (i == 0) {
			/* no size list: offer the configured or the current size */
			unsigned w = p->cfg_width ? p->cfg_width : cur.fmt.pix.width;
			unsigned h = p->cfg_height ? p->cfg_height : cur.fmt.pix.height;
			if (w && h && (r = add_size(p, l, fmts[k], w, h)) < 0)
				return r;
		}
	}
	return 0;
}

/* Whether c can run at the configured rate (unknown rates are given the benefit of the
 * doubt: the driver adjusts S_PARM to what it can). */
static bool can_do_cfg_fps(const struct v4l2_src *p, const struct candidate *c)
{
	if (c->max_fps == 0 || c->has_cfg_fps)
		return true;
	if (c->continuous)
		return p->cfg_fps <= c->max_fps + 0.5 && p->cfg_fps + 0.5 >= c->min_fps;
	return false;
}

/*
 * The selection rule of source_v4l2.h:
 * - configured size: only that size, the best-ranked format that has it; among those the
 *   ones reaching the configured rate first (when none does, the size still wins and the
 *   driver picks the nearest rate); without a configured rate, the fastest.
 * - automatic size: the largest size that reaches the configured rate or 30 fps, the
 *   format preference deciding first (MJPEG, YUYV, UYVY, RGB24, BGR24).
 * A configured size the device does not offer falls back to the automatic choice; when
 * nothing qualifies, the fastest mode wins (a slow picture beats none).
 * use_rate = false drops the rate condition.
 */
static const struct candidate *pick(const struct v4l2_src *p, const struct cand_list *l,
				    bool use_size, bool use_rate)
{
	const struct candidate *best = NULL;
	for (unsigned i = 0; i < l->n; i++) {
		const struct candidate *c = &l->v[i];
		if (use_size && (c->w != p->cfg_width || c->h != p->cfg_height))
			continue;
		if (use_rate && p->cfg_fps && !can_do_cfg_fps(p, c))
			continue;
		if (use_rate && !use_size && !p->cfg_fps && c->max_fps &&
		    c->max_fps < DEFAULT_AUTO_FPS - 0.5)
			continue;
		if (!best || c->rank < best->rank) {
			best = c;
			continue;
		}
		if (c->rank > best->rank)
			continue;
		uint64_t ca = (uint64_t)c->w * c->h, ba = (uint64_t)best->w * best->h;
		if (ca > ba || (ca == ba && c->max_fps > best->max_fps))
			best = c;
	}
	return best;
}

static const struct candidate *pick_fastest(const struct cand_list *l)
{
	const struct candidate *best = NULL;
	for (unsigned i = 0; i < l->n; i++) {
		const struct candidate *c = &l->v[i];
		if (!best || c->max_fps > best->max_fps ||
		    (c->max_fps == best->max_fps &&
		     (c->rank < best->rank ||
		      (c->rank == best->rank &&
		       (uint64_t)c->w * c->h > (uint64_t)best->w * best->h))))
			best = c;
	}
	return best;
}

/* Asks for the rate; the reply says what the driver made of it. */
static void set_rate(struct v4l2_src *p, const struct candidate *c)
{
	struct v4l2_streamparm parm = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	if (p->cfg_fps) {
		parm.parm.capture.timeperframe.numerator = 1;
		parm.parm.capture.timeperframe.denominator = p->cfg_fps;
	} else if (c->max_fps > 0) {
		parm.parm.capture.timeperframe = c->best;
	} else {
		p->fps = 0;
		return;
	}
	double asked = fract_fps(parm.parm.capture.timeperframe);
	int r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_S_PARM, &parm);
	if (r < 0) {
		LOG_DEBUG("%s: VIDIOC_S_PARM: %s", p->device, strerror(-r));
		p->fps = c->max_fps;
		return;
	}
	double got = fract_fps(parm.parm.capture.timeperframe);
	p->fps = got > 0 ? got : asked;
}

static int setup_uvc(struct v4l2_src *p)
{
	struct cand_list l = {0};
	uint32_t fmts[16];
	unsigned nfmts = list_formats(p, fmts, IPKVM_ARRAY_SIZE(fmts));
	int r;
	if (nfmts == 0) {
		set_signal(p, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0,
			   "%s offers no pixel format ipkvm can use (MJPEG, YUYV, UYVY, RGB24, "
			   "BGR24)",
			   p->device);
		r = -EINVAL;
		goto out;
	}
	r = enumerate(p, fmts, nfmts, &l);
	if (r < 0) {
		set_signal(p, IPKVM_SIGNAL_ERROR, 0, 0, 0, "out of memory");
		goto out;
	}

	const struct candidate *c = NULL;
	if (p->cfg_width) {
		c = pick(p, &l, true, true);
		if (!c && p->cfg_fps) {
			c = pick(p, &l, true, false);
			if (c)
				LOG_WARN("%s does not list %ux%u at %u fps; asking for it anyway",
					 p->device, p->cfg_width, p->cfg_height, p->cfg_fps);
		}
		if (!c)
			LOG_WARN("%s does not offer %ux%u; choosing a size automatically",
				 p->device, p->cfg_width, p->cfg_height);
	}
	if (!c)
		c = pick(p, &l, false, true);
	if (!c)
		c = pick_fastest(&l);
	if (!c) {
		/* formats but no sizes at all: let the driver choose */
		struct candidate any = {.fourcc = fmts[0],
					.w = p->cfg_width ? p->cfg_width : 1920,
					.h = p->cfg_height ? p->cfg_height : 1080};
		r = set_format(p, any.fourcc, any.w, any.h);
		if (r == 0)
			set_rate(p, &any);
		goto out;
	}

	char fcc[5], rate[16];
	format_rate(c->max_fps, rate, sizeof(rate));
	LOG_DEBUG("%s: picked %s %ux%u (up to %s fps)", p->device, fourcc_str(c->fourcc, fcc), c->w,
		  c->h, rate);
	r = set_format(p, c->fourcc, c->w, c->h);
	if (r < 0)
		goto out;
	set_rate(p, c);
out:
	free(l.v);
	return r;
}

/* ---- buffers ---- */

static void release_buffers(struct v4l2_src *p)
{
	p->lent = -1; /* after STREAMOFF (or on a lost device) no buffer is ours to requeue */
	for (unsigned i = 0; i < p->nbufs; i++)
		ipkvm_v4l2_sys()->munmap(p->bufs[i].start, p->bufs[i].length);
	free(p->bufs);
	p->bufs = NULL;
	p->nbufs = 0;
	if (p->reqbufs) {
		struct v4l2_requestbuffers rb = {
		    .count = 0, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
		int r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_REQBUFS, &rb);
		if (r < 0 && r != -ENODEV)
			LOG_DEBUG("%s: releasing buffers: %s", p->device, strerror(-r));
		p->reqbufs = false;
	}
}

static int setup_buffers(struct v4l2_src *p)
{
	struct v4l2_requestbuffers rb = {
	    .count = p->nbuffers, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
	int r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_REQBUFS, &rb);
	if (r < 0)
		return fail_ioctl(p, "VIDIOC_REQBUFS", r);
	p->reqbufs = true;
	if (rb.count == 0 || rb.count > MAX_BUFFERS) {
		set_signal(p, IPKVM_SIGNAL_ERROR, 0, 0, 0, "%s granted %u buffers", p->device,
			   rb.count);
		return -ENOMEM;
	}
	p->bufs = calloc(rb.count, sizeof(*p->bufs));
	if (!p->bufs) {
		set_signal(p, IPKVM_SIGNAL_ERROR, 0, 0, 0, "out of memory");
		return -ENOMEM;
	}
	/* a raw picture must fit in a buffer at the stride the driver gave */
	size_t need = 0;
	if (p->format != IPKVM_FMT_MJPEG)
		need = p->bytesperline * (p->height - 1) +
		       (size_t)p->width * ipkvm_pixfmt_bpp(p->format);
	for (unsigned i = 0; i < rb.count; i++) {
		struct v4l2_buffer b = {
		    .index = i, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
		r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_QUERYBUF, &b);
		if (r < 0)
			return fail_ioctl(p, "VIDIOC_QUERYBUF", r);
		if (b.length < need) {
			set_signal(p, IPKVM_SIGNAL_ERROR, 0, 0, 0,
				   "%s buffers hold %u bytes, a picture needs %zu", p->device,
				   b.length, need);
			return -EINVAL;
		}
		void *m = ipkvm_v4l2_sys()->mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED,
						 p->fd, (off_t)b.m.offset);
		if (m == MAP_FAILED) {
			r = errno > 0 ? -errno : -ENOMEM;
			return fail_ioctl(p, "mmap", r);
		}
		p->bufs[i].start = m;
		p->bufs[i].length = b.length;
		p->nbufs++;
	}
	return 0;
}

/* ---- ops ---- */

/* Whether a UVC device that streams is waited on for frames (start to stop). */
static void uvc_waiting(struct v4l2_src *p, bool on)
{
	pthread_mutex_lock(&p->lock);
	p->uvc_waiting_ms = on && !p->dv ? ipkvm_v4l2_mono_ms() : 0;
	if (on && !p->dv && p->uvc_waiting_ms == 0)
		p->uvc_waiting_ms = 1; /* 0 means off */
	pthread_mutex_unlock(&p->lock);
}

static void close_device(struct v4l2_src *p)
{
	uvc_waiting(p, false);
	if (p->fd < 0)
		return;
	if (p->streaming) {
		int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		ipkvm_v4l2_xioctl(p->fd, VIDIOC_STREAMOFF, &type);
		p->streaming = false;
	}
	release_buffers(p);
	ipkvm_v4l2_sys()->close(p->fd);
	p->fd = -1;
}

static int v4l2_open(struct ipkvm_source *s)
{
	struct v4l2_src *p = priv_of(s);
	int r;
	close_device(p);

	int fd;
	do {
		fd = ipkvm_v4l2_sys()->open(p->device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		r = errno > 0 ? -errno : -EIO;
		switch (-r) {
		case ENOENT:
		case ENODEV:
		case ENXIO:
			set_signal(p, IPKVM_SIGNAL_NO_DEVICE, 0, 0, 0, "no capture device at %s",
				   p->device);
			break;
		case EBUSY:
			set_signal(p, IPKVM_SIGNAL_BUSY, 0, 0, 0, "%s is in use by another program",
				   p->device);
			break;
		case EACCES:
		case EPERM:
			set_signal(p, IPKVM_SIGNAL_ERROR, 0, 0, 0,
				   "no permission to open %s (is ipkvm in the video group?)",
				   p->device);
			break;
		default:
			set_signal(p, IPKVM_SIGNAL_ERROR, 0, 0, 0, "cannot open %s: %s", p->device,
				   strerror(-r));
			break;
		}
		return r;
	}
	p->fd = fd;

	struct v4l2_capability cap;
	memset(&cap, 0, sizeof(cap));
	r = ipkvm_v4l2_xioctl(fd, VIDIOC_QUERYCAP, &cap);
	if (r < 0) {
		if (r == -ENOTTY)
			set_signal(p, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0, "%s is not a V4L2 device",
				   p->device);
		else
			fail_ioctl(p, "VIDIOC_QUERYCAP", r);
		goto fail;
	}
	uint32_t caps =
	    cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
	if (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING)) {
		set_signal(p, IPKVM_SIGNAL_UNSUPPORTED, 0, 0, 0,
			   "%s (%.32s) is not a streaming video capture device", p->device,
			   (const char *)cap.card);
		r = -ENOTSUP;
		goto fail;
	}

	/* Which kind of device: the current input says whether it carries DV timings. */
	int input = 0;
	if (ipkvm_v4l2_xioctl(fd, VIDIOC_G_INPUT, &input) < 0)
		input = 0;
	struct v4l2_input in = {.index = (uint32_t)input};
	p->dv = ipkvm_v4l2_xioctl(fd, VIDIOC_ENUMINPUT, &in) == 0 &&
		(in.capabilities & V4L2_IN_CAP_DV_TIMINGS);
	pthread_mutex_lock(&p->lock);
	p->sig.capture = p->dv ? IPKVM_CAPTURE_HDMI : IPKVM_CAPTURE_USB;
	pthread_mutex_unlock(&p->lock);

	if (p->edid_len && (r = load_edid(p)) < 0)
		goto fail;
	r = p->dv ? setup_dv(p) : setup_uvc(p);
	if (r < 0)
		goto fail;
	r = setup_buffers(p);
	if (r < 0)
		goto fail;

	char rate[16];
	format_rate(p->fps, rate, sizeof(rate));
	LOG_INFO("%s (%.32s): %ux%u %s at %s fps, %u buffers%s", p->device, (const char *)cap.card,
		 p->width, p->height, ipkvm_pixfmt_name(p->format), rate, p->nbufs,
		 p->dv ? ", DV timings" : "");
	set_signal(p, IPKVM_SIGNAL_OK, p->width, p->height, p->fps, "%s", "");
	return 0;
fail:
	close_device(p);
	return r;
}

static int queue_buffer(struct v4l2_src *p, uint32_t index)
{
	struct v4l2_buffer b = {
	    .index = index, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
	return ipkvm_v4l2_xioctl(p->fd, VIDIOC_QBUF, &b);
}

static int v4l2_start(struct ipkvm_source *s)
{
	struct v4l2_src *p = priv_of(s);
	if (p->fd < 0)
		return -EBADF;
	if (p->streaming)
		return 0;
	int r;
	for (unsigned i = 0; i < p->nbufs; i++) {
		r = queue_buffer(p, i);
		if (r < 0)
			return fail_ioctl(p, "VIDIOC_QBUF", r);
	}
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_STREAMON, &type);
	if (r < 0)
		return fail_ioctl(p, "VIDIOC_STREAMON", r);
	p->streaming = true;
	p->seq_base = p->next_seq;
	p->have_hw_seq = false;
	uvc_waiting(p, true);
	return 0;
}

static int v4l2_fd(struct ipkvm_source *s)
{
	return priv_of(s)->fd;
}

/*
 * Frame numbers keep rising across restarts (frame.h: gaps mean drops): the driver's
 * 32-bit counter starts at 0 on every STREAMON, so each stream is offset by where the last
 * one ended, and differences are taken modulo 2^32. A driver that leaves sequence at 0
 * still gets increasing numbers.
 */
static uint64_t frame_seq(struct v4l2_src *p, uint32_t hw)
{
	if (!p->have_hw_seq) {
		p->cur_seq = p->seq_base + hw;
	} else {
		uint32_t d = hw - p->last_hw_seq;
		p->cur_seq += d == 0 || d > UINT32_MAX / 2 ? 1 : d;
	}
	p->last_hw_seq = hw;
	p->have_hw_seq = true;
	p->next_seq = p->cur_seq + 1;
	return p->cur_seq;
}

/* Points the view at buffer b: -EAGAIN for an empty or short buffer (dropped). */
static int lend(struct v4l2_src *p, const struct v4l2_buffer *b)
{
	const struct mapped_buf *m = &p->bufs[b->index];
	size_t used = b->bytesused < m->length ? b->bytesused : m->length;
	struct ipkvm_frame *f = &p->view;
	if (used == 0)
		return -EAGAIN;
	memset(f, 0, sizeof(*f));
	f->borrowed = true;
	f->format = p->format;
	f->width = p->width;
	f->height = p->height;
	f->data = m->start;
	f->capacity = m->length;
	if (p->format == IPKVM_FMT_MJPEG) {
		f->size = used;
	} else {
		size_t row = (size_t)p->width * ipkvm_pixfmt_bpp(p->format);
		size_t need = p->bytesperline * (p->height - 1) + row;
		if (used < need) {
			LOG_DEBUG("%s: short buffer (%zu of %zu bytes) dropped", p->device, used,
				  need);
			return -EAGAIN;
		}
		f->stride = p->bytesperline; /* the driver's line padding stays: frame.h */
		f->size = need;
	}
	if ((b->flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC &&
	    (b->timestamp.tv_sec || b->timestamp.tv_usec))
		f->ts_us = (int64_t)b->timestamp.tv_sec * 1000000 + b->timestamp.tv_usec;
	else
		f->ts_us = ipkvm_mono_us();
	f->seq = frame_seq(p, b->sequence);
	return 0;
}

/* Requeues the lent buffer, if any: 0 or the failure (recorded in the signal info). */
static int take_back(struct v4l2_src *p)
{
	if (p->lent < 0)
		return 0;
	int r = queue_buffer(p, (uint32_t)p->lent);
	p->lent = -1;
	return r < 0 ? fail_ioctl(p, "VIDIOC_QBUF", r) : 0;
}

static void v4l2_release(struct ipkvm_source *s, struct ipkvm_frame *f)
{
	struct v4l2_src *p = priv_of(s);
	if (f != &p->view || p->lent < 0)
		return; /* not ours, or the stream stopped since (every buffer came back) */
	int r = take_back(p);
	if (r < 0 && !p->release_err)
		p->release_err = r;
}

static int v4l2_next(struct ipkvm_source *s, struct ipkvm_frame **out)
{
	struct v4l2_src *p = priv_of(s);
	*out = NULL;
	if (p->fd < 0 || !p->streaming)
		return -EBADF;
	/* A frame not handed back is taken back now: only one is ever lent. */
	int r = take_back(p);
	if (r == 0 && p->release_err)
		r = p->release_err;
	p->release_err = 0;
	if (r < 0)
		return r;

	struct v4l2_buffer newest;
	memset(&newest, 0, sizeof(newest));
	bool have = false;
	/* Bounded: a device refilling as fast as we drain must not keep us here. */
	for (unsigned n = 0; n < 2 * p->nbufs + 2; n++) {
		struct v4l2_buffer b = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					.memory = V4L2_MEMORY_MMAP};
		r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_DQBUF, &b);
		if (r == -EAGAIN) {
			r = 0;
			break;
		}
		if (r < 0)
			break;
		if (b.index >= p->nbufs) {
			r = -EIO;
			break;
		}
		if (b.flags & V4L2_BUF_FLAG_ERROR) {
			/* corrupt picture: straight back to the driver */
			r = queue_buffer(p, b.index);
			if (r < 0)
				break;
			continue;
		}
		if (have && (r = queue_buffer(p, newest.index)) < 0) {
			have = false;
			queue_buffer(p, b.index);
			break;
		}
		newest = b;
		have = true;
	}
	if (r < 0) {
		if (have)
			queue_buffer(p, newest.index);
		if (r == -ENODEV || r == -ENXIO)
			set_signal(p, IPKVM_SIGNAL_NO_DEVICE, 0, 0, 0,
				   "capture device %s disappeared", p->device);
		else
			set_signal(p, IPKVM_SIGNAL_ERROR, p->width, p->height, 0,
				   "capture from %s failed: %s", p->device, strerror(-r));
		return r;
	}
	if (!have)
		return -EAGAIN;

	int lr = lend(p, &newest);
	if (lr < 0) {
		r = queue_buffer(p, newest.index);
		return r < 0 ? fail_ioctl(p, "VIDIOC_QBUF", r) : lr;
	}
	p->lent = (int)newest.index;
	uvc_waiting(p, true); /* a frame came: wait afresh */
	*out = &p->view;
	return 0;
}

static int v4l2_event(struct ipkvm_source *s)
{
	struct v4l2_src *p = priv_of(s);
	if (p->fd < 0)
		return -EBADF;
	int restart = 0;
	for (int n = 0; n < 32; n++) {
		struct v4l2_event ev;
		memset(&ev, 0, sizeof(ev));
		int r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_DQEVENT, &ev);
		if (r == -ENOENT || r == -EAGAIN)
			break; /* no more events */
		if (r < 0) {
			if (r == -ENODEV || r == -ENXIO)
				set_signal(p, IPKVM_SIGNAL_NO_DEVICE, 0, 0, 0,
					   "capture device %s disappeared", p->device);
			return r;
		}
		if (ev.type == V4L2_EVENT_SOURCE_CHANGE &&
		    (ev.u.src_change.changes & V4L2_EVENT_SRC_CH_RESOLUTION)) {
			LOG_INFO("%s: the input timings changed", p->device);
			restart = 1;
		}
	}
	return restart;
}

static void v4l2_stop(struct ipkvm_source *s)
{
	struct v4l2_src *p = priv_of(s);
	if (p->fd < 0 || !p->streaming)
		return;
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	int r = ipkvm_v4l2_xioctl(p->fd, VIDIOC_STREAMOFF, &type);
	if (r < 0 && r != -ENODEV)
		LOG_DEBUG("%s: VIDIOC_STREAMOFF: %s", p->device, strerror(-r));
	p->streaming = false;
	p->lent = -1; /* STREAMOFF gave every buffer back */
	uvc_waiting(p, false);
}

static void v4l2_close(struct ipkvm_source *s)
{
	close_device(priv_of(s));
}

static void v4l2_signal(struct ipkvm_source *s, struct ipkvm_signal_info *out)
{
	struct v4l2_src *p = priv_of(s);
	pthread_mutex_lock(&p->lock);
	*out = p->sig;
	int64_t since = p->uvc_waiting_ms;
	pthread_mutex_unlock(&p->lock);
	/* Streaming, the device said yes to everything, and yet nothing comes: the dongle has
	 * no picture to give (target off, a rate it cannot take, a USB 1.1 port or too little
	 * bandwidth). The next frame makes it ok again. */
	if (since && out->state == IPKVM_SIGNAL_OK &&
	    ipkvm_v4l2_mono_ms() - since >= UVC_SILENCE_MS) {
		out->state = IPKVM_SIGNAL_NO_SIGNAL;
		out->width = out->height = 0;
		out->fps = 0;
		ipkvm_strlcpy(out->reason, UVC_SILENCE_WHY, sizeof(out->reason));
	}
}

static void v4l2_destroy(struct ipkvm_source *s)
{
	if (!s)
		return;
	struct v4l2_src *p = priv_of(s);
	close_device(p);
	pthread_mutex_destroy(&p->lock);
	free(p->device);
	free(p);
}

static const struct ipkvm_source_ops v4l2_ops = {
    .name = "v4l2",
    .open = v4l2_open,
    .start = v4l2_start,
    .fd = v4l2_fd,
    .next = v4l2_next,
    .release = v4l2_release,
    .event = v4l2_event,
    .stop = v4l2_stop,
    .close = v4l2_close,
    .signal = v4l2_signal,
    .destroy = v4l2_destroy,
};

/* The EDID setting: a preset name, or a path to a hex file (a path has a '/', so a
 * mistyped preset is reported as such instead of as a missing file). */
static int load_edid_setting(struct v4l2_src *p, const char *edid, char *err, size_t errlen)
{
	const uint8_t *preset;
	int n = ipkvm_edid_preset(edid, &preset);
	if (n > 0) {
		memcpy(p->edid, preset, (size_t)n);
		p->edid_len = (size_t)n;
		return 0;
	}
	if (!strchr(edid, '/')) {
		snprintf(err, errlen, "unknown EDID preset '%s' (use 1080p60, 1080p50 or a path)",
			 edid);
		return -EINVAL;
	}
	char *text = NULL;
	int r = ipkvm_read_file(edid, EDID_FILE_MAX, &text, NULL);
	if (r < 0) {
		snprintf(err, errlen, "cannot read EDID file %s: %s", edid, strerror(-r));
		return r;
	}
	char why[128];
	n = ipkvm_edid_parse_hex(text, p->edid, sizeof(p->edid), why, sizeof(why));
	free(text);
	if (n < 0) {
		snprintf(err, errlen, "EDID file %s: %s", edid, why);
		return n;
	}
	p->edid_len = (size_t)n;
	return 0;
}

struct ipkvm_source *ipkvm_source_v4l2_create(const struct ipkvm_v4l2_config *cfg, char *err,
					      size_t errlen)
{
	char dummy[8];
	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = 0;
	if (!!cfg->width != !!cfg->height) {
		snprintf(err, errlen, "set both video width and height, or neither");
		return NULL;
	}
	if (cfg->width > MAX_DIM || cfg->height > MAX_DIM || cfg->fps > 1000 ||
	    cfg->buffers > MAX_BUFFERS) {
		snprintf(err, errlen, "video size, rate or buffer count out of range");
		return NULL;
	}
	struct v4l2_src *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->fd = -1;
	p->lent = -1;
	p->device = strdup(cfg->device && *cfg->device ? cfg->device : "/dev/video0");
	if (!p->device) {
		snprintf(err, errlen, "out of memory");
		free(p);
		return NULL;
	}
	p->cfg_width = cfg->width;
	p->cfg_height = cfg->height;
	p->cfg_fps = cfg->fps;
	p->allow_mjpeg = cfg->allow_mjpeg;
	/* two buffers are the least that lets the driver fill one while we copy the other */
	p->nbuffers = cfg->buffers ? (cfg->buffers < 2 ? 2 : cfg->buffers) : 3;
	if (cfg->edid && *cfg->edid && load_edid_setting(p, cfg->edid, err, errlen) < 0) {
		free(p->device);
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->sig.state = IPKVM_SIGNAL_ERROR;
	snprintf(p->sig.reason, sizeof(p->sig.reason), "%s is not open yet", p->device);
	p->src.ops = &v4l2_ops;
	p->src.priv = p;
	return &p->src;
}
