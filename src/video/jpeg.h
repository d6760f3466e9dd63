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

/*
 * Strip-parallel encoding. A frame is cut into horizontal strips whose heights are a
 * multiple of the MCU height (ipkvm_jpeg_strip_plan); each strip is encoded on its own
 * (ipkvm_jpeg_encode_rows, on any thread, each with its own encoder) as a complete small
 * JPEG, and ipkvm_jpeg_join makes one baseline JPEG of them: the first strip's headers with
 * the full height and a restart interval of one strip's MCUs (DRI), then each strip's
 * entropy-coded data, RST0..RST7 in turn between them, then EOI. A restart resets the DC
 * prediction and byte-aligns exactly as the start and end of an independent encode do, and
 * every strip uses the same (standard) quantisation and Huffman tables, so the joined image
 * decodes to exactly the pixels of a single-piece encode of the frame.
 */
#define IPKVM_JPEG_MAX_STRIPS 16

/* MCU height of the encoder's output: 16 for 4:2:0, 8 for 4:2:2. */
unsigned ipkvm_jpeg_mcu_height(bool subsample420);

/* Splits a height into at most want strips of rows each (a multiple of the MCU height; all
 * but the last the same, the last possibly shorter). Returns the number of strips (1 when
 * want <= 1, when the frame is too short for more, or when one strip would need a restart
 * interval above 65535 MCUs) and sets *rows. */
unsigned ipkvm_jpeg_strip_plan(unsigned width, unsigned height, bool subsample420, unsigned want,
			       unsigned *rows);

/* Encodes rows row0 .. row0+rows-1 of a raw frame as a JPEG of its own (same arguments and
 * errors as ipkvm_jpeg_encode; -EINVAL when the rows are outside the frame). */
int ipkvm_jpeg_encode_rows(struct ipkvm_jpeg *j, const struct ipkvm_frame *f, unsigned row0,
			   unsigned rows, int quality, bool subsample420, struct ipkvm_buf **out);

/* Joins n (1..IPKVM_JPEG_MAX_STRIPS) strip JPEGs made by ipkvm_jpeg_encode_rows from
 * consecutive rows of one frame, at one quality and subsampling, into one JPEG (a new
 * buffer). -EINVAL when the strips do not fit together: not our encoder's layout, headers
 * (tables, width, sampling) that differ, a restart interval or arithmetic coding already in
 * them, a strip height that is not a multiple of the MCU height (the last excepted). */
int ipkvm_jpeg_join(struct ipkvm_buf *const *strips, unsigned n, struct ipkvm_buf **out);

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
/* The same conversion for n pixels of line y from column x (x + n <= width; a raw frame:
 * an MJPEG frame gives black), rgb: n*3 bytes. The pixels are exactly those of
 * ipkvm_frame_to_rgb24 (a YUV pixel pair cut by x or x + n keeps its shared chroma), so the
 * VNC server's Raw/ZRLE rectangles show the colours of the raw snapshot. */
void ipkvm_frame_row_to_rgb24(const struct ipkvm_frame *f, unsigned x, unsigned y, unsigned n,
			      uint8_t *restrict rgb);

/* PNG of packed RGB24 pixels (8-bit truecolour, zlib "stored" blocks: no compression
 * library needed; for debugging snapshots, not for streaming). 0 or -errno. */
int ipkvm_png_encode_rgb24(const uint8_t *rgb, unsigned width, unsigned height,
			   struct ipkvm_buf **out);

/* True when a and b (same format and geometry) differ in any pixel. Costs at most a
 * compare of both frames (~0.2 ms at 1080p YUYV); stops at the first difference.
 * Frames of different format or geometry always differ. */
bool ipkvm_frame_differs(const struct ipkvm_frame *a, const struct ipkvm_frame *b);

#endif
