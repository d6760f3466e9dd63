/*
 * h264_backend: what an H.264 encoder backend implements, a function table like source.h's
 * for sources. The front (h264.c) checks frames and settings, keeps the live settings and
 * picks a backend; each backend is one file that knows only its encoder:
 *   h264_openh264.c  software (Cisco openh264)
 *   h264_m2m.c       V4L2 memory-to-memory hardware (Raspberry Pi 4: bcm2835-codec)
 * A new backend (another hardware API) is one more file and one more choice in h264.c.
 *
 * Backends are used by one thread (open, encode, close); the front hands every encode the
 * settings of the moment, so a backend never locks.
 */
#ifndef IPKVM_VIDEO_H264_BACKEND_H
#define IPKVM_VIDEO_H264_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "video/frame.h"
#include "video/h264.h"

struct ipkvm_h264_backend;

struct ipkvm_h264_backend_ops {
	const char *name; /* "openh264", "v4l2-m2m": what ipkvm_h264_backend() reports */
	/* Makes the encoder for cfg (defaults filled in by the front; m2m_device set). 0 with
	 * *out set, or -errno with err saying why (the front may then try another backend). */
	int (*open)(const struct ipkvm_h264_config *cfg, struct ipkvm_h264_backend **out, char *err,
		    size_t errlen);
	/* ipkvm_h264_encode's contract for a frame the front has checked, with the settings
	 * (already validated) to apply before it. */
	int (*encode)(struct ipkvm_h264_backend *b, const struct ipkvm_frame *f, bool force_idr,
		      int bitrate_kbps, int max_fps, int gop, struct ipkvm_buf **out,
		      bool *keyframe);
	void (*close)(struct ipkvm_h264_backend *b);
};

/* The first member of every backend's state. */
struct ipkvm_h264_backend {
	const struct ipkvm_h264_backend_ops *ops;
};

extern const struct ipkvm_h264_backend_ops ipkvm_h264_openh264_ops;
extern const struct ipkvm_h264_backend_ops ipkvm_h264_m2m_ops;

#endif
