/*
 * source_v4l2: video capture through V4L2 (single-planar capture, MMAP streaming).
 *
 * Two kinds of device:
 * - UVC HDMI dongles: a list of formats/sizes/rates; we pick the configured size and rate or
 *   the largest size that does >= 30 fps, preferring MJPEG when allowed, else YUYV.
 * - HDMI-to-CSI bridges (TC358743 and alike, the device reports V4L2_IN_CAP_DV_TIMINGS):
 *   we query the incoming DV timings (VIDIOC_QUERY_DV_TIMINGS), apply them
 *   (VIDIOC_S_DV_TIMINGS), set the format to match, subscribe to V4L2_EVENT_SOURCE_CHANGE
 *   and report "restart" from event() when the timings change. An EDID (a hex file or a
 *   bundled preset "1080p60" / "1080p50") is loaded with VIDIOC_S_EDID at open when set.
 * next() dequeues every ready buffer, requeues all but the newest and lends that one as a
 * borrowed frame (the driver's buffer, its line padding included), requeued by release():
 * the capture thread copies a picture only when it keeps it. A device that disappears
 * yields -ENODEV and the capture thread reopens it with back-off.
 * The signal info says which kind the device is (capture "usb" or "hdmi", once opened). A
 * UVC dongle streams even when it has no picture (target off, a refresh rate it cannot
 * take, a USB 1.1 port or too little bandwidth) and then simply sends no frame: 3 s after
 * start or after its last frame its signal reads no_signal, until the next frame.
 */
#ifndef IPKVM_VIDEO_SOURCE_V4L2_H
#define IPKVM_VIDEO_SOURCE_V4L2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "video/source.h"

struct ipkvm_v4l2_config {
	const char *device;	/* default "/dev/video0" */
	unsigned width, height; /* 0 = automatic */
	unsigned fps;		/* 0 = automatic (largest size at >= 30 fps) */
	bool allow_mjpeg;	/* default true: pass MJPEG through when the device offers it */
	const char *edid;	/* NULL/"" = leave the device's; "1080p60", "1080p50" or a path */
	unsigned buffers;	/* MMAP buffers, default 3 */
};

struct ipkvm_source *ipkvm_source_v4l2_create(const struct ipkvm_v4l2_config *cfg, char *err,
					      size_t errlen);

/* EDID helpers (edid.c). */
/* Parses hex text (whitespace, "0x" prefixes and '#' comments allowed) into bytes: the result
 * must be 128 or 256 bytes (one or two blocks) with a valid header and per-block checksums.
 * Returns the byte count, or -EINVAL with err saying what is wrong ("line 3: bad hex digit 'g'",
 * "block 0 checksum is 0x12, must be 0"). */
int ipkvm_edid_parse_hex(const char *text, uint8_t *out, size_t outlen, char *err, size_t errlen);
/* The bundled preset EDIDs: "1080p60", "1080p50". Returns the length (256) or -ENOENT. */
int ipkvm_edid_preset(const char *name, const uint8_t **data);

#endif
