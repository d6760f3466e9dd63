/*
 * h264: turning raw frames into H.264 access units for the browser's WebCodecs decoder.
 *
 * One interface, two backends behind a function table (h264_backend.h):
 * - "openh264": the software encoder (Cisco openh264, h264_openh264.c), set up for low
 *   latency on screen content: constrained baseline, no B-frames, no frame delay (one
 *   access unit out per frame in), one slice per frame, bitrate rate control with frame
 *   skipping allowed (a forced IDR is never skipped). Input is converted to I420 (i420.h).
 * - "v4l2-m2m": a V4L2 memory-to-memory hardware encoder (h264_m2m.c; Raspberry Pi 4:
 *   bcm2835-codec at /dev/video11), MMAP buffers on both queues, frames copied in.
 * "auto" takes the hardware encoder when the device opens and offers H.264, else openh264.
 *
 * Every access unit is Annex-B (00 00 00 01 start codes) and every IDR carries SPS and PPS,
 * so a client can start decoding at any keyframe.
 *
 * Threads: an encoder is used by one thread (encode, destroy); ipkvm_h264_set_params may be
 * called from any other thread at the same time: it stores the settings under a lock and
 * the next encode applies them (no re-initialisation, no lost reference frames).
 */
#ifndef IPKVM_VIDEO_H264_H
#define IPKVM_VIDEO_H264_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "video/frame.h"

#define IPKVM_H264_DEFAULT_M2M	   "/dev/video11"
#define IPKVM_H264_DEFAULT_BITRATE 2000
#define IPKVM_H264_DEFAULT_FPS	   60
#define IPKVM_H264_MAX_WIDTH	   4096
#define IPKVM_H264_MAX_HEIGHT	   2304

struct ipkvm_h264_config {
	const char *backend;	/* "auto" (hardware if present, else software), "software",
				   "v4l2"; NULL = "auto" */
	const char *m2m_device; /* V4L2 mem2mem encoder; NULL = IPKVM_H264_DEFAULT_M2M */
	int bitrate_kbps;	/* target, 100..50000; 0 = 2000 */
	int max_fps;		/* 1..120; 0 = 60 */
	int gop;		/* keyframe interval in frames, 0..600; 0 = only on demand */
};

struct ipkvm_h264;

/* Creates an encoder. NULL with a message in err (may be NULL) when the configuration is
 * invalid or the chosen backend cannot be used. The software encoder is initialised at the
 * first frame (its size is not known before). */
struct ipkvm_h264 *ipkvm_h264_create(const struct ipkvm_h264_config *cfg, char *err, size_t errlen);
void ipkvm_h264_destroy(struct ipkvm_h264 *e);

/* "openh264" or "v4l2-m2m". */
const char *ipkvm_h264_backend(const struct ipkvm_h264 *e);

/* Encodes one raw frame (YUYV, UYVY, RGB24, BGR24; even width and height from 16x16 up to
 * IPKVM_H264_MAX_WIDTH x IPKVM_H264_MAX_HEIGHT). A size change (for the hardware encoder also
 * a format change) re-initialises the encoder and yields an IDR. force_idr: a client joined or
 * asked for a keyframe. On success *out holds one access unit in Annex-B (one reference, the
 * caller's) and *keyframe says whether it is an IDR (then SPS and PPS precede it). Returns 0;
 * -EAGAIN when the encoder produced nothing for this frame (rate control skipped it; never for a
 * forced IDR or the first frame); -EINVAL for MJPEG, odd or out-of-range sizes; another -errno on
 * failure. */
int ipkvm_h264_encode(struct ipkvm_h264 *e, const struct ipkvm_frame *f, bool force_idr,
		      struct ipkvm_buf **out, bool *keyframe);

/* Live settings, applied at the next frame without a restart. Any thread. -EINVAL when out
 * of range (bitrate 100..50000 kbit/s, fps 1..120, gop 0..600); nothing changes then. */
int ipkvm_h264_set_params(struct ipkvm_h264 *e, int bitrate_kbps, int max_fps, int gop);

#endif
