/*
 * i420: raw frames to planar I420 (Y, then U and V at half width and half height), the
 * input both H.264 backends need: openh264 takes only I420, and the M2M encoder gets it when
 * the device does not list the frame's own packing.
 *
 * YUYV and UYVY are BT.601 limited range already: luma is copied and the 4:2:2 chroma is
 * averaged over each pair of lines. RGB uses the BT.601 limited-range coefficients of
 * ipkvm_rgb_to_yuv (draw.h), chroma from the mean of each 2x2 block, so a flat colour gives
 * exactly the values that function gives. Both run at about memory speed (0.7 ms for a
 * 1080p YUYV frame, see bench/h264_encode_bench.c).
 */
#ifndef IPKVM_VIDEO_I420_H
#define IPKVM_VIDEO_I420_H

#include <stddef.h>
#include <stdint.h>

#include "video/frame.h"

/* Raw frame (YUYV, UYVY, RGB24, BGR24; an odd last row or column is left out) → I420 with
 * the given plane strides: Y full size, U and V width/2 x height/2. MJPEG: nothing. */
void ipkvm_i420_from_frame(const struct ipkvm_frame *f, uint8_t *y, size_t ystride, uint8_t *u,
			   uint8_t *v, size_t cstride);

#endif
