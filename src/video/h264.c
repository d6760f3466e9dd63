/*
 * h264: the encoder front (see h264.h) and its software backend, openh264.
 *
 * Shape:
 * - The front validates settings, keeps the pending ones under a small lock (set_params may
 *   come from the main thread while the encoder thread encodes) and hands each frame to the
 *   backend with the settings of the moment.
 * - openh264 is created with the encoder object but initialised at the first frame, and
 *   again when the size changes (a new size needs new SPS/PPS and an IDR anyway).
 * - Keyframe intervals (gop) are counted here rather than by openh264's intra period: we
 *   count produced access units, so "gop = N" means exactly one IDR every N frames sent,
 *   whatever rate control skipped, and a forced IDR restarts the count.
 * - The input is converted to I420 here: openh264 only takes I420, and our YUYV → I420 is
 *   a plain copy of the luma and a vertical average of the chroma (0.7 ms at 1080p, see
 *   bench/h264_encode_bench.c).
 */
#define LOG_TAG "h264"

#include "video/h264.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wels/codec_api.h>

#include "core/log.h"
#include "core/util.h"

#define MIN_DIM 16

struct ipkvm_h264 {
	const char *backend_name;
	struct ipkvm_h264_m2m *hw; /* NULL: openh264 */

	/* pending settings, written by set_params from any thread */
	pthread_mutex_t lock;
	int bitrate_kbps, max_fps, gop;

	/* openh264 state: the encoder thread only */
	ISVCEncoder *enc;
	bool ready; /* initialised for width x height */
	unsigned width, height;
	int cur_bitrate_kbps, cur_fps;
	uint8_t *i420;
	size_t i420_size;
	int64_t last_ts_ms;
	unsigned since_idr; /* access units since the last IDR */
};

/* ---- colour conversion ---- */

/* Packed 4:2:2 → I420. yo/uo/vo: byte offsets of Y0, U and V in a 4-byte pixel pair
 * (YUYV: 0, 1, 3; UYVY: 1, 0, 2); Y1 is yo + 2. Inlined with constants so each loop is
 * straight loads and stores. It runs at about memory speed already (0.7 ms for 1080p on
 * the benchmark machine: 4 MB read, 3 MB written); blocking it for gcc's loop vectoriser
 * measured no faster. */
static inline void packed422_to_i420(const uint8_t *src, size_t stride, unsigned width,
				     unsigned height, uint8_t *y, size_t ystride, uint8_t *u,
				     uint8_t *v, size_t cstride, unsigned yo, unsigned uo,
				     unsigned vo)
{
	unsigned pairs = width / 2;
	for (unsigned row = 0; row + 1 < height; row += 2) {
		const uint8_t *restrict s0 = src + (size_t)row * stride;
		const uint8_t *restrict s1 = s0 + stride;
		uint8_t *restrict y0 = y + (size_t)row * ystride;
		uint8_t *restrict y1 = y0 + ystride;
		uint8_t *restrict ur = u + (size_t)(row / 2) * cstride;
		uint8_t *restrict vr = v + (size_t)(row / 2) * cstride;
		for (unsigned i = 0; i < pairs; i++) {
			y0[2 * i] = s0[4 * i + yo];
			y0[2 * i + 1] = s0[4 * i + yo + 2];
			y1[2 * i] = s1[4 * i + yo];
			y1[2 * i + 1] = s1[4 * i + yo + 2];
			ur[i] = (uint8_t)((s0[4 * i + uo] + s1[4 * i + uo] + 1) >> 1);
			vr[i] = (uint8_t)((s0[4 * i + vo] + s1[4 * i + vo] + 1) >> 1);
		}
	}
}

static inline uint8_t luma(int r, int g, int b)
{
	/* ipkvm_rgb_to_yuv's coefficients (draw.c). */
	return (uint8_t)(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
}

/* Packed RGB24 (ri/bi: offsets of red and blue, 0/2 or 2/0) → I420. Chroma comes from the
 * sums of each 2x2 block with the same coefficients scaled by 4, so a flat colour gives
 * exactly ipkvm_rgb_to_yuv's values; the +4*(128 << 8) keeps the sums non-negative before
 * the shift, as draw.c does. */
static inline void rgb_to_i420(const uint8_t *src, size_t stride, unsigned width, unsigned height,
			       uint8_t *y, size_t ystride, uint8_t *u, uint8_t *v, size_t cstride,
			       unsigned ri, unsigned bi)
{
	for (unsigned row = 0; row + 1 < height; row += 2) {
		const uint8_t *restrict s0 = src + (size_t)row * stride;
		const uint8_t *restrict s1 = s0 + stride;
		uint8_t *restrict y0 = y + (size_t)row * ystride;
		uint8_t *restrict y1 = y0 + ystride;
		uint8_t *restrict ur = u + (size_t)(row / 2) * cstride;
		uint8_t *restrict vr = v + (size_t)(row / 2) * cstride;
		/* Luma per pixel, then chroma per 2x2 block: two simple loops instead of one
		 * with both, so each is a straight run of independent iterations. */
		for (unsigned x = 0; x < width; x++) {
			y0[x] = luma(s0[3 * x + ri], s0[3 * x + 1], s0[3 * x + bi]);
			y1[x] = luma(s1[3 * x + ri], s1[3 * x + 1], s1[3 * x + bi]);
		}
		for (unsigned i = 0; i < width / 2; i++) {
			const uint8_t *a = s0 + 6 * i, *b = s1 + 6 * i;
			int rs = a[ri] + a[3 + ri] + b[ri] + b[3 + ri];
			int gs = a[1] + a[4] + b[1] + b[4];
			int bs = a[bi] + a[3 + bi] + b[bi] + b[3 + bi];
			ur[i] =
			    (uint8_t)((-38 * rs - 74 * gs + 112 * bs + 4 * 128 + 4 * (128 << 8)) >>
				      10);
			vr[i] =
			    (uint8_t)((112 * rs - 94 * gs - 18 * bs + 4 * 128 + 4 * (128 << 8)) >>
				      10);
		}
	}
}

void ipkvm_h264_to_i420(const struct ipkvm_frame *f, uint8_t *y, size_t ystride, uint8_t *u,
			uint8_t *v, size_t cstride)
{
	unsigned w = f->width & ~1u, h = f->height & ~1u;
	switch (f->format) {
	case IPKVM_FMT_YUYV:
		packed422_to_i420(f->data, f->stride, w, h, y, ystride, u, v, cstride, 0, 1, 3);
		break;
	case IPKVM_FMT_UYVY:
		packed422_to_i420(f->data, f->stride, w, h, y, ystride, u, v, cstride, 1, 0, 2);
		break;
	case IPKVM_FMT_RGB24:
		rgb_to_i420(f->data, f->stride, w, h, y, ystride, u, v, cstride, 0, 2);
		break;
	case IPKVM_FMT_BGR24:
		rgb_to_i420(f->data, f->stride, w, h, y, ystride, u, v, cstride, 2, 0);
		break;
	case IPKVM_FMT_MJPEG:
		break;
	}
}

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

/* ---- openh264 ---- */

static void wels_trace(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	/* Only errors reach us (trace level below); they end in a newline already. */
	size_t n = strlen(msg);
	LOG_WARN("openh264: %.*s", (int)(n && msg[n - 1] == '\n' ? n - 1 : n), msg);
}

static int oh_create(struct ipkvm_h264 *e, char *err, size_t errlen)
{
	if (WelsCreateSVCEncoder(&e->enc) != 0 || !e->enc) {
		e->enc = NULL;
		ipkvm_errf(err, errlen, "cannot create the openh264 encoder");
		return -ENOMEM;
	}
	int level = WELS_LOG_ERROR;
	WelsTraceCallback cb = wels_trace;
	(*e->enc)->SetOption(e->enc, ENCODER_OPTION_TRACE_LEVEL, &level);
	(*e->enc)->SetOption(e->enc, ENCODER_OPTION_TRACE_CALLBACK, &cb);
	return 0;
}

static void oh_uninit(struct ipkvm_h264 *e)
{
	if (e->ready)
		(*e->enc)->Uninitialize(e->enc);
	e->ready = false;
}

/* Initialises openh264 for w x h with the current settings. */
static int oh_init(struct ipkvm_h264 *e, unsigned w, unsigned h, int bitrate_kbps, int fps)
{
	SEncParamExt p;
	oh_uninit(e);
	memset(&p, 0, sizeof(p));
	(*e->enc)->GetDefaultParams(e->enc, &p);
	/* Camera usage: the screen-content usage turns on scene-change detection that calls
	 * nearly every console frame a scene change (an IDR each). */
	p.iUsageType = CAMERA_VIDEO_REAL_TIME;
	p.iPicWidth = (int)w;
	p.iPicHeight = (int)h;
	p.iTargetBitrate = bitrate_kbps * 1000;
	p.iMaxBitrate = UNSPECIFIED_BIT_RATE;
	p.iRCMode = RC_BITRATE_MODE;
	p.fMaxFrameRate = (float)fps;
	p.iTemporalLayerNum = 1; /* no hierarchical P, no frame delay */
	p.iSpatialLayerNum = 1;
	p.iComplexityMode = LOW_COMPLEXITY;
	p.uiIntraPeriod = 0; /* keyframes: counted by us (see the top) */
	p.iNumRefFrame = 1;
	p.eSpsPpsIdStrategy = CONSTANT_ID; /* the same SPS/PPS ids at every IDR */
	p.bPrefixNalAddingCtrl = false;
	p.bEnableSSEI = false;
	p.bSimulcastAVC = false;
	p.iPaddingFlag = 0;
	p.iEntropyCodingModeFlag = 0; /* CAVLC: baseline */
	p.bEnableFrameSkip = true;
	/* One thread: openh264 threads work per slice, and with one slice per frame a second
	 * thread measured no faster (two slices on two threads: ~10% less wall time per
	 * P-frame at 1080p, slower IDRs, 2x the bytes, and both cores busy on a 2-core box). */
	p.iMultipleThreadIdc = 1;
	p.bUseLoadBalancing = false;
	p.iLoopFilterDisableIdc = 0;
	p.bEnableDenoise = false; /* screen content is noise-free; denoising blurs text */
	/* Background detection would make unchanged frames nearly free (16 bytes instead of
	 * ~190 at 1080p) but costs ~1.5-2 ms of CPU per 1080p frame; the pipeline only encodes
	 * frames that changed, so the time matters more (bench/h264_encode_bench.c). */
	p.bEnableBackgroundDetection = false;
	p.bEnableAdaptiveQuant = false;
	p.bEnableFrameCroppingFlag = true; /* 1080 is not a multiple of 16 */
	p.bEnableSceneChangeDetect = false;
	p.bEnableLongTermReference = false;

	SSpatialLayerConfig *l = &p.sSpatialLayers[0];
	l->iVideoWidth = (int)w;
	l->iVideoHeight = (int)h;
	l->fFrameRate = (float)fps;
	l->iSpatialBitrate = bitrate_kbps * 1000;
	l->iMaxSpatialBitrate = UNSPECIFIED_BIT_RATE;
	l->uiProfileIdc = PRO_BASELINE;
	l->uiLevelIdc = LEVEL_UNKNOWN; /* openh264 picks one from size and rate */
	l->sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;
	l->sSliceArgument.uiSliceNum = 1;
	/* Tell the decoder what the samples mean: BT.601 matrix, limited range (what our
	 * YUYV and the RGB conversion produce); browsers otherwise guess BT.709 for HD. */
	l->bVideoSignalTypePresent = true;
	l->uiVideoFormat = 5; /* unspecified */
	l->bFullRange = false;
	l->bColorDescriptionPresent = true;
	l->uiColorPrimaries = CP_BT709;
	l->uiTransferCharacteristics = TRC_BT709;
	l->uiColorMatrix = CM_SMPTE170M;

	int r = (*e->enc)->InitializeExt(e->enc, &p);
	if (r != 0) {
		LOG_ERROR("openh264 cannot start at %ux%u (error %d)", w, h, r);
		return -EINVAL;
	}
	int fmt = videoFormatI420;
	(*e->enc)->SetOption(e->enc, ENCODER_OPTION_DATAFORMAT, &fmt);

	size_t need = (size_t)w * h + 2 * ((size_t)w / 2 * (h / 2));
	if (need > e->i420_size) {
		uint8_t *n = realloc(e->i420, need);
		if (!n) {
			(*e->enc)->Uninitialize(e->enc);
			return -ENOMEM;
		}
		e->i420 = n;
		e->i420_size = need;
	}
	e->ready = true;
	e->width = w;
	e->height = h;
	e->cur_bitrate_kbps = bitrate_kbps;
	e->cur_fps = fps;
	e->since_idr = 0;
	LOG_DEBUG("openh264 at %ux%u, %d kbit/s, %d fps", w, h, bitrate_kbps, fps);
	return 0;
}

/* Applies live bitrate and frame rate to a running openh264. */
static void oh_apply(struct ipkvm_h264 *e, int bitrate_kbps, int fps)
{
	if (bitrate_kbps != e->cur_bitrate_kbps) {
		SBitrateInfo bi = {.iLayer = SPATIAL_LAYER_ALL, .iBitrate = bitrate_kbps * 1000};
		int r = (*e->enc)->SetOption(e->enc, ENCODER_OPTION_BITRATE, &bi);
		if (r != 0)
			LOG_WARN("openh264 refused bitrate %d kbit/s (error %d)", bitrate_kbps, r);
		else
			e->cur_bitrate_kbps = bitrate_kbps;
	}
	if (fps != e->cur_fps) {
		float rate = (float)fps;
		int r = (*e->enc)->SetOption(e->enc, ENCODER_OPTION_FRAME_RATE, &rate);
		if (r != 0)
			LOG_WARN("openh264 refused %d fps (error %d)", fps, r);
		else
			e->cur_fps = fps;
	}
}

/* Concatenates the NAL units of every layer (openh264 writes them with 4-byte start
 * codes already) into one buffer. */
static int collect_au(const SFrameBSInfo *info, struct ipkvm_buf **out)
{
	size_t total = 0;
	for (int i = 0; i < info->iLayerNum; i++) {
		const SLayerBSInfo *l = &info->sLayerInfo[i];
		for (int n = 0; n < l->iNalCount; n++)
			total += (size_t)l->pNalLengthInByte[n];
	}
	if (total == 0)
		return -EAGAIN;
	struct ipkvm_buf *b = ipkvm_buf_new(total);
	if (!b)
		return -ENOMEM;
	size_t off = 0;
	for (int i = 0; i < info->iLayerNum; i++) {
		const SLayerBSInfo *l = &info->sLayerInfo[i];
		size_t len = 0;
		for (int n = 0; n < l->iNalCount; n++)
			len += (size_t)l->pNalLengthInByte[n];
		memcpy(b->data + off, l->pBsBuf, len);
		off += len;
	}
	*out = b;
	return 0;
}

static int oh_encode_once(struct ipkvm_h264 *e, SSourcePicture *pic, bool idr, SFrameBSInfo *info)
{
	if (idr)
		(*e->enc)->ForceIntraFrame(e->enc, true);
	memset(info, 0, sizeof(*info));
	int r = (*e->enc)->EncodeFrame(e->enc, pic, info);
	if (r != 0) {
		LOG_WARN("openh264 failed to encode a frame (error %d)", r);
		return -EIO;
	}
	return 0;
}

static int oh_encode(struct ipkvm_h264 *e, const struct ipkvm_frame *f, bool force_idr,
		     int bitrate_kbps, int fps, int gop, struct ipkvm_buf **out, bool *keyframe)
{
	int r;
	if (!e->ready || f->width != e->width || f->height != e->height) {
		r = oh_init(e, f->width, f->height, bitrate_kbps, fps);
		if (r < 0)
			return r;
		force_idr = true; /* openh264 would anyway; it keeps our count right */
	} else {
		oh_apply(e, bitrate_kbps, fps);
	}
	if (gop > 0 && e->since_idr >= (unsigned)gop)
		force_idr = true;

	unsigned w = e->width, h = e->height;
	uint8_t *y = e->i420, *u = y + (size_t)w * h, *v = u + (size_t)(w / 2) * (h / 2);
	ipkvm_h264_to_i420(f, y, w, u, v, w / 2);

	/* openh264 wants increasing millisecond timestamps; capture times can repeat (the
	 * same frame offered again for a keyframe) or be absent in tests. */
	int64_t ts = f->ts_us / 1000;
	if (ts <= e->last_ts_ms)
		ts = e->last_ts_ms + 1;
	e->last_ts_ms = ts;

	SSourcePicture pic;
	memset(&pic, 0, sizeof(pic));
	pic.iColorFormat = videoFormatI420;
	pic.iPicWidth = (int)w;
	pic.iPicHeight = (int)h;
	pic.iStride[0] = (int)w;
	pic.iStride[1] = pic.iStride[2] = (int)(w / 2);
	pic.pData[0] = y;
	pic.pData[1] = u;
	pic.pData[2] = v;
	pic.uiTimeStamp = ts;

	SFrameBSInfo info;
	r = oh_encode_once(e, &pic, force_idr, &info);
	if (r < 0)
		return r;
	if (info.eFrameType == videoFrameTypeSkip && force_idr) {
		/* Rate control may skip even a forced IDR when its buffer is full; a keyframe
		 * someone waits for must come out, so encode it once more with skipping off. */
		bool off = false, on = true;
		LOG_DEBUG("rate control skipped a forced IDR; encoding it again");
		(*e->enc)->SetOption(e->enc, ENCODER_OPTION_RC_FRAME_SKIP, &off);
		r = oh_encode_once(e, &pic, true, &info);
		(*e->enc)->SetOption(e->enc, ENCODER_OPTION_RC_FRAME_SKIP, &on);
		if (r < 0)
			return r;
	}
	if (info.eFrameType == videoFrameTypeSkip)
		return -EAGAIN;
	if (info.eFrameType == videoFrameTypeInvalid)
		return -EIO;
	r = collect_au(&info, out);
	if (r < 0)
		return r;
	*keyframe = info.eFrameType == videoFrameTypeIDR;
	e->since_idr = *keyframe ? 1 : e->since_idr + 1;
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
	if (e->hw)
		return ipkvm_h264_m2m_encode(e->hw, f, force_idr, bitrate, fps, gop, out, keyframe);
	return oh_encode(e, f, force_idr, bitrate, fps, gop, out, keyframe);
}

const char *ipkvm_h264_backend(const struct ipkvm_h264 *e)
{
	return e->backend_name;
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

	if (want_hw || auto_hw) {
		char why[256] = "";
		int r = ipkvm_h264_m2m_open(device, &e->hw, why, sizeof(why));
		if (r == 0) {
			e->backend_name = "v4l2-m2m";
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
	if (oh_create(e, err, errlen) < 0)
		goto fail;
	e->backend_name = "openh264";
	return e;

fail:
	ipkvm_h264_destroy(e);
	return NULL;
}

void ipkvm_h264_destroy(struct ipkvm_h264 *e)
{
	if (!e)
		return;
	if (e->hw)
		ipkvm_h264_m2m_close(e->hw);
	if (e->enc) {
		oh_uninit(e);
		WelsDestroySVCEncoder(e->enc);
	}
	free(e->i420);
	pthread_mutex_destroy(&e->lock);
	free(e);
}
