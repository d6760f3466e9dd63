/*
 * jpeg: turning frames into JPEG images with libturbojpeg, and the small image helpers the
 * stream needs.
 *
 * An encoder is owned by one worker thread and reused for every frame: the TurboJPEG handle
 * and the planar scratch buffers are made once (no per-frame allocation but the output).
 * YUYV and UYVY are split into planar 4:2:2 (Y, U, V planes) and compressed with the
 * planar API, which skips TurboJPEG's own colour conversion; RGB24/BGR24 go through the
 * packed-pixel API. Subsampling of the output: 4:2:2 for YUV input (no chroma loss beyond
 * the source's), configurable 4:2:0 to save bytes.
 */
#ifndef IPKVM_VIDEO_JPEG_H
#define IPKVM_VIDEO_JPEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "video/frame.h"

struct ipkvm_jpeg;

struct ipkvm_jpeg *ipkvm_jpeg_create(void);
void ipkvm_jpeg_destroy(struct ipkvm_jpeg *j);

/* Encodes a raw frame at quality 1..100 (subsample420: 4:2:0 instead of 4:2:2) into a new
 * buffer holding exactly the JPEG bytes. Returns 0 or -errno (-EINVAL: MJPEG or bad
 * geometry). */
int ipkvm_jpeg_encode(struct ipkvm_jpeg *j, const struct ipkvm_frame *f, int quality,
		      bool subsample420, struct ipkvm_buf **out);

/* MJPEG pass-through: a buffer with the device's JPEG, with the standard Huffman tables
 * (ITU T.81 Annex K.3) inserted before the first SOF/SOS when the image has no DHT segment
 * (many UVC devices omit them; browsers need them). -EINVAL when the data is not a JPEG
 * (no SOI, truncated segments). */
int ipkvm_jpeg_from_mjpeg(const struct ipkvm_frame *f, struct ipkvm_buf **out);

/* Reads width and height from a JPEG's SOF segment without decoding. 0 or -EINVAL. */
int ipkvm_jpeg_size(const uint8_t *data, size_t len, unsigned *width, unsigned *height);

/* Packed YUYV/UYVY → planar 4:2:2 (y: width*height, u and v: width/2*height). */
void ipkvm_yuyv_to_planar422(const uint8_t *src, size_t stride, unsigned width, unsigned height,
			     bool uyvy, uint8_t *y, uint8_t *u, uint8_t *v);

/* Any raw frame → packed RGB24 (BT.601 limited range for YUV input), rgb: width*3*height. */
void ipkvm_frame_to_rgb24(const struct ipkvm_frame *f, uint8_t *rgb);

/* PNG of packed RGB24 pixels (8-bit truecolour, zlib "stored" blocks: no compression
 * library needed; for debugging snapshots, not for streaming). 0 or -errno. */
int ipkvm_png_encode_rgb24(const uint8_t *rgb, unsigned width, unsigned height,
			   struct ipkvm_buf **out);

/* True when a and b (same format and geometry) differ in any pixel. Costs at most a
 * compare of both frames (~0.2 ms at 1080p YUYV); stops at the first difference.
 * Frames of different format or geometry always differ. */
bool ipkvm_frame_differs(const struct ipkvm_frame *a, const struct ipkvm_frame *b);

#endif
