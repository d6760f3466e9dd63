/*
 * h264: the encoder front (see h264.h): settings, frame checks and the choice of backend;
 * the backends themselves sit behind the table in h264_backend.h.
 *
 * Shape:
 * - The front validates settings, keeps the pending ones under a small lock (set_params may
 *   come from the main thread while the encoder thread encodes) and hands each frame to the
 *   backend with the settings of the moment, so backends never lock.
 * - "auto" opens the hardware backend and falls back to openh264 when it cannot (the reason
 *   is logged); "v4l2" without the device is an error, "software" never tries it.
 */
#define LOG_TAG "h264"

#include "video/h264.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "video/h264_backend.h"

#define MIN_DIM 16

struct ipkvm_h264 {
	struct ipkvm_h264_backend *b;

	/* pending settings, written by set_params from any thread */
	pthread_mutex_t lock;
	int bitrate_kbps, max_fps, gop;
};

/* ---- settings ---- */

static int check_params(int bitrate_kbps, int max_fps, int gop)
{
	if (bitrate_kbps < 100 || bitrate_kbps > 50000 || max_fps < 1 || max_fps > 120 || gop < 0 ||
	    gop > 600)
		return -EINVAL;
	return 0;
}

int ipkvm_h264_set_params(struct ipkvm_h264 *e, int bitrate_kbps, int max_fps, int gop)
{
	if (check_params(bitrate_kbps, max_fps, gop) < 0)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	e->bitrate_kbps = bitrate_kbps;
	e->max_fps = max_fps;
	e->gop = gop;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

/* ---- the front ---- */

static bool valid_frame(const struct ipkvm_frame *f)
{
	if (!f || !f->data || ipkvm_pixfmt_bpp(f->format) == 0)
		return false;
	if (f->width < MIN_DIM || f->height < MIN_DIM || f->width > IPKVM_H264_MAX_WIDTH ||
	    f->height > IPKVM_H264_MAX_HEIGHT || (f->width & 1) || (f->height & 1))
		return false;
	size_t row = (size_t)f->width * ipkvm_pixfmt_bpp(f->format);
	return f->stride >= row && f->size >= f->stride * (f->height - 1) + row;
}

int ipkvm_h264_encode(struct ipkvm_h264 *e, const struct ipkvm_frame *f, bool force_idr,
		      struct ipkvm_buf **out, bool *keyframe)
{
	*out = NULL;
	*keyframe = false;
	if (!valid_frame(f))
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	int bitrate = e->bitrate_kbps, fps = e->max_fps, gop = e->gop;
	pthread_mutex_unlock(&e->lock);
	return e->b->ops->encode(e->b, f, force_idr, bitrate, fps, gop, out, keyframe);
}

const char *ipkvm_h264_backend(const struct ipkvm_h264 *e)
{
	return e->b->ops->name;
}

struct ipkvm_h264 *ipkvm_h264_create(const struct ipkvm_h264_config *cfg, char *err, size_t errlen)
{
	const char *backend = cfg->backend ? cfg->backend : "auto";
	const char *device =
	    cfg->m2m_device && *cfg->m2m_device ? cfg->m2m_device : IPKVM_H264_DEFAULT_M2M;
	int bitrate = cfg->bitrate_kbps ? cfg->bitrate_kbps : IPKVM_H264_DEFAULT_BITRATE;
	int fps = cfg->max_fps ? cfg->max_fps : IPKVM_H264_DEFAULT_FPS;
	bool want_hw = strcmp(backend, "v4l2") == 0, auto_hw = strcmp(backend, "auto") == 0;

	if (!want_hw && !auto_hw && strcmp(backend, "software") != 0) {
		ipkvm_errf(err, errlen,
			   "unknown H.264 backend \"%s\" (expected auto, software or v4l2)",
			   backend);
		return NULL;
	}
	if (check_params(bitrate, fps, cfg->gop) < 0) {
		ipkvm_errf(err, errlen,
			   "H.264 settings out of range: bitrate %d kbit/s (100..50000), "
			   "%d fps (1..120), gop %d (0..600)",
			   bitrate, fps, cfg->gop);
		return NULL;
	}
	struct ipkvm_h264 *e = calloc(1, sizeof(*e));
	if (!e) {
		ipkvm_errf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	e->bitrate_kbps = bitrate;
	e->max_fps = fps;
	e->gop = cfg->gop;
	struct ipkvm_h264_config c = *cfg;
	c.backend = backend;
	c.m2m_device = device;
	c.bitrate_kbps = bitrate;
	c.max_fps = fps;

	if (want_hw || auto_hw) {
		char why[256] = "";
		int r = ipkvm_h264_m2m_ops.open(&c, &e->b, why, sizeof(why));
		if (r == 0) {
			LOG_INFO("H.264 encoder: V4L2 mem2mem at %s", device);
			return e;
		}
		if (want_hw) {
			ipkvm_errf(err, errlen, "%s", why);
			goto fail;
		}
		LOG_INFO("H.264 encoder: openh264 (%s)", why);
	} else {
		LOG_INFO("H.264 encoder: openh264");
	}
	if (ipkvm_h264_openh264_ops.open(&c, &e->b, err, errlen) < 0)
		goto fail;
	return e;

fail:
	ipkvm_h264_destroy(e);
	return NULL;
}

void ipkvm_h264_destroy(struct ipkvm_h264 *e)
{
	if (!e)
		return;
	if (e->b)
		e->b->ops->close(e->b);
	pthread_mutex_destroy(&e->lock);
	free(e);
}
