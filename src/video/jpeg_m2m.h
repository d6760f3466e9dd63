/*
 * jpeg_m2m: the board's hardware JPEG encoder, a V4L2 memory-to-memory device (Raspberry
 * Pi 4: bcm2835-codec's encode_image at /dev/video31), and the choice between it and the
 * software encoder (jpeg.h) with fallback.
 *
 * Two layers:
 * - The device ("m2m"): opens an M2M device, negotiates formats with it and runs one frame
 *   at a time through it. The OUTPUT queue takes the raw frame in its own packing when the
 *   device lists it (no conversion), else RGB24 or YUV420 converted here; the CAPTURE queue
 *   gives the format asked for at open. That is V4L2_PIX_FMT_JPEG in the product; a raw
 *   format turns the device into a converter (the bench VM drives the kernel's vim2m test
 *   device that way, which has no JPEG).
 * - The choice ("hw"): `[jpeg] encoder = auto|software|v4l2`. It wants JPEG from the device
 *   (the one place that expectation is checked: a device without JPEG on its CAPTURE queue
 *   is refused, and every image must start with a JPEG SOI marker). When the device is
 *   missing at start or fails mid-stream (an ioctl error, no buffer back in time, not a
 *   JPEG), the frame goes to software, the device is closed and tried again later with
 *   back-off (1 s doubling to 60 s). "auto" says so in the log; "v4l2" says it loudly, as an
 *   error. Either way the picture never stops.
 *
 * Every system call goes through the V4L2 table (v4l2_io.h) so unit tests put a fake device
 * behind it; the retry clock is the table's too.
 */
#ifndef IPKVM_VIDEO_JPEG_M2M_H
#define IPKVM_VIDEO_JPEG_M2M_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "video/frame.h"

#define IPKVM_JPEG_M2M_DEFAULT_DEVICE "/dev/video31"

/* ---- the device ---- */

struct ipkvm_jpeg_m2m;

/* Opens device and checks it is a streaming M2M device with cap_fourcc (a V4L2 pixel
 * format, e.g. V4L2_PIX_FMT_JPEG) on its CAPTURE queue. Formats and buffers are set up at
 * the first frame. NULL with err set ("no V4L2 JPEG encoder at /dev/video31: ..."). */
struct ipkvm_jpeg_m2m *ipkvm_jpeg_m2m_open(const char *device, uint32_t cap_fourcc, char *err,
					   size_t errlen);
void ipkvm_jpeg_m2m_close(struct ipkvm_jpeg_m2m *m);

/* Runs raw frame f (YUYV, UYVY, RGB24, BGR24) through the device; quality (1..100) goes to
 * V4L2_CID_JPEG_COMPRESSION_QUALITY when the CAPTURE format is JPEG. On success *out holds
 * the CAPTURE buffer's bytes (one reference, the caller's). -EINVAL for MJPEG or a bad
 * frame, -ENOTSUP when the device takes none of the formats this can feed it, -ERANGE when
 * it refuses the frame's size, -ETIMEDOUT when no buffer came back in time, another -errno
 * from a failed ioctl. After an error the device is stopped; the next frame sets it up
 * again. */
int ipkvm_jpeg_m2m_encode(struct ipkvm_jpeg_m2m *m, const struct ipkvm_frame *f, int quality,
			  struct ipkvm_buf **out);

/* The negotiated formats (0 before the first frame), and the CAPTURE side's line length
 * and size (for a raw CAPTURE format). */
struct ipkvm_jpeg_m2m_info {
	uint32_t out_fourcc, cap_fourcc;
	unsigned width, height;
	size_t out_bpl, cap_bpl;
	bool mplane;
	char card[32];
};
void ipkvm_jpeg_m2m_info(const struct ipkvm_jpeg_m2m *m, struct ipkvm_jpeg_m2m_info *out);

/* ---- the choice ---- */

enum ipkvm_jpeg_encoder_mode {
	IPKVM_JPEG_ENCODER_SOFTWARE, /* 0: a zeroed config never touches a device */
	IPKVM_JPEG_ENCODER_AUTO,
	IPKVM_JPEG_ENCODER_V4L2,
};

struct ipkvm_jpeg_hw_config {
	enum ipkvm_jpeg_encoder_mode mode;
	const char *device; /* NULL or "" = IPKVM_JPEG_M2M_DEFAULT_DEVICE */
	/* 0 = JPEG (the product). A raw V4L2 format makes the device a converter whose output
	 * is then encoded in software (tests and the bench VM only; not a config key). */
	uint32_t cap_fourcc;
};

struct ipkvm_jpeg_hw;

/* Makes the choice and, unless software, opens the device at once (logged). Never fails
 * for a missing device; NULL only when out of memory. */
struct ipkvm_jpeg_hw *ipkvm_jpeg_hw_create(const struct ipkvm_jpeg_hw_config *cfg);
void ipkvm_jpeg_hw_destroy(struct ipkvm_jpeg_hw *h);

/* Encodes raw frame f on the device: 0 with a JPEG in *out. -ENODEV when this frame is for
 * the software encoder (mode software, device missing or backing off, or it failed on this
 * very frame: then it is closed and retried later). Any thread; the device is used by one
 * caller at a time (others wait for it). subsample420 applies only to the software encode
 * of a raw CAPTURE format. */
int ipkvm_jpeg_hw_encode(struct ipkvm_jpeg_hw *h, const struct ipkvm_frame *f, int quality,
			 bool subsample420, struct ipkvm_buf **out);

/* Whether the device is in use ("v4l2") or not ("software"), and why not (empty when in
 * use or when software was chosen). */
struct ipkvm_jpeg_hw_status {
	bool v4l2;
	char device[128];
	char reason[192];
};
void ipkvm_jpeg_hw_status(struct ipkvm_jpeg_hw *h, struct ipkvm_jpeg_hw_status *out);

#endif
