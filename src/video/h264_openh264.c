/*
 * h264_openh264: the software H.264 backend (see h264_backend.h), on Cisco openh264.
 *
 * Shape:
 * - Set up for low latency on screen content: camera real-time usage with scene-change
 *   detection off (the screen-content usage emits an IDR for nearly every frame of a
 *   console), constrained baseline, no B-frames, no frame delay (one access unit out per
 *   frame in), one slice per frame, bitrate rate control with frame skipping allowed (a
 *   forced IDR is never skipped).
 * - The encoder is created at open but initialised at the first frame, and again when the
 *   size changes (a new size needs new SPS/PPS and an IDR anyway).
 * - Keyframe intervals (gop) are counted here rather than by openh264's intra period: we
 *   count produced access units, so "gop = N" means exactly one IDR every N frames sent,
 *   whatever rate control skipped, and a forced IDR restarts the count.
 * - openh264 only takes I420: frames are converted by i420.c (0.7 ms at 1080p, see
 *   bench/h264_encode_bench.c).
 */
#define LOG_TAG "h264"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wels/codec_api.h>

#include "core/log.h"
#include "core/util.h"
#include "video/h264_backend.h"
#include "video/i420.h"

struct oh {
	struct ipkvm_h264_backend base;
	ISVCEncoder *enc;
	bool ready; /* initialised for width x height */
	unsigned width, height;
	int cur_bitrate_kbps, cur_fps;
	uint8_t *i420;
	size_t i420_size;
	int64_t last_ts_ms;
	unsigned since_idr; /* access units since the last IDR */
};

static void wels_trace(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	/* Only errors reach us (trace level below); they end in a newline already. */
	size_t n = strlen(msg);
	LOG_WARN("openh264: %.*s", (int)(n && msg[n - 1] == '\n' ? n - 1 : n), msg);
}

static void oh_close(struct ipkvm_h264_backend *b);

/* Creates the encoder; it is initialised at the first frame (its size is not known
 * before). */
static int oh_open(const struct ipkvm_h264_config *cfg, struct ipkvm_h264_backend **out, char *err,
		   size_t errlen)
{
	(void)cfg; /* the settings come with every frame */
	*out = NULL;
	struct oh *e = calloc(1, sizeof(*e));
	if (!e) {
		ipkvm_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->base.ops = &ipkvm_h264_openh264_ops;
	if (WelsCreateSVCEncoder(&e->enc) != 0 || !e->enc) {
		e->enc = NULL;
		ipkvm_errf(err, errlen, "cannot create the openh264 encoder");
		oh_close(&e->base);
		return -ENOMEM;
	}
	int level = WELS_LOG_ERROR;
	WelsTraceCallback cb = wels_trace;
	(*e->enc)->SetOption(e->enc, ENCODER_OPTION_TRACE_LEVEL, &level);
	(*e->enc)->SetOption(e->enc, ENCODER_OPTION_TRACE_CALLBACK, &cb);
	*out = &e->base;
	return 0;
}

static void oh_uninit(struct oh *e)
{
	if (e->ready)
		(*e->enc)->Uninitialize(e->enc);
	e->ready = false;
}

/* Initialises openh264 for w x h with the current settings. */
static int oh_init(struct oh *e, unsigned w, unsigned h, int bitrate_kbps, int fps)
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
static void oh_apply(struct oh *e, int bitrate_kbps, int fps)
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

static int oh_encode_once(struct oh *e, SSourcePicture *pic, bool idr, SFrameBSInfo *info)
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

static int oh_encode(struct ipkvm_h264_backend *b, const struct ipkvm_frame *f, bool force_idr,
		     int bitrate_kbps, int fps, int gop, struct ipkvm_buf **out, bool *keyframe)
{
	struct oh *e = (struct oh *)b;
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
	ipkvm_i420_from_frame(f, y, w, u, v, w / 2);

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

static void oh_close(struct ipkvm_h264_backend *b)
{
	struct oh *e = (struct oh *)b;
	if (!e)
		return;
	if (e->enc) {
		oh_uninit(e);
		WelsDestroySVCEncoder(e->enc);
	}
	free(e->i420);
	free(e);
}

const struct ipkvm_h264_backend_ops ipkvm_h264_openh264_ops = {
    .name = "openh264",
    .open = oh_open,
    .encode = oh_encode,
    .close = oh_close,
};
