/*
 * frame: one captured or rendered picture, reference-counted so the capture thread, the
 * encoder workers and the snapshot path can share it without copies.
 *
 * Raw frames (YUYV, UYVY, RGB24, BGR24) are packed, one plane, `stride` bytes per line.
 * MJPEG frames hold one JPEG image as the device sent it (`size` bytes).
 * `ts_us` is the capture time on CLOCK_MONOTONIC in microseconds (from the V4L2 buffer
 * timestamp, or when a synthetic frame was finished); `seq` increases by one per frame a
 * source delivers (gaps mean dropped frames).
 *
 * A source may also lend a frame: a view of its own buffer (a V4L2 driver buffer), marked
 * `borrowed`, valid only until it is handed back (source.h, release). A borrowed frame is
 * never reference-counted or pooled and may have line padding (stride > width * bpp); whoever
 * wants to keep the picture makes an owned frame of it with ipkvm_frame_keep or
 * ipkvm_frame_compare, which copy it (packed) only then.
 */
#ifndef IPKVM_VIDEO_FRAME_H
#define IPKVM_VIDEO_FRAME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ipkvm_pixfmt {
	IPKVM_FMT_YUYV = 0,
	IPKVM_FMT_UYVY,
	IPKVM_FMT_RGB24,
	IPKVM_FMT_BGR24,
	IPKVM_FMT_MJPEG,
};

struct ipkvm_frame {
	atomic_int refs;
	enum ipkvm_pixfmt format;
	unsigned width, height;
	size_t stride;	 /* bytes per line; 0 for MJPEG */
	size_t size;	 /* bytes of data in use */
	size_t capacity; /* bytes allocated at data */
	uint64_t seq;
	int64_t ts_us;
	uint8_t *data; /* 64-byte aligned (a borrowed frame's: as the source has it) */
	bool borrowed; /* a view lent by a source, see above */
};

/* "yuyv", "uyvy", "rgb24", "bgr24", "mjpeg". */
const char *ipkvm_pixfmt_name(enum ipkvm_pixfmt f);
int ipkvm_pixfmt_parse(const char *s, enum ipkvm_pixfmt *out);
/* Bytes per pixel of a packed raw format (2 or 3); 0 for MJPEG. */
unsigned ipkvm_pixfmt_bpp(enum ipkvm_pixfmt f);

/* A raw frame of width x height with stride = width * bpp (data uninitialised), or for
 * MJPEG a frame with capacity bytes. One reference; NULL when out of memory. */
struct ipkvm_frame *ipkvm_frame_new(enum ipkvm_pixfmt format, unsigned width, unsigned height,
				    size_t capacity);
struct ipkvm_frame *ipkvm_frame_ref(struct ipkvm_frame *f);
/* Drops a reference; the last one puts the frame in a small pool of free frames that
 * ipkvm_frame_new reuses (no page faults for the next frame of the same size). */
void ipkvm_frame_unref(struct ipkvm_frame *f);
/* Frees the pooled frames: at shutdown, and when the picture has been still for a while. */
void ipkvm_frame_pool_drain(void);

/* A frame with f's picture that stays valid: f itself with a reference taken when f is
 * owned; for a borrowed f a packed copy (from the pool) with its seq and ts_us. NULL when out
 * of memory or when a raw f has a stride below width * bpp. */
struct ipkvm_frame *ipkvm_frame_keep(const struct ipkvm_frame *f);

/* Compares f with ref (owned or borrowed; NULL differs from everything) and, when they differ
 * and keep is not NULL, sets *keep to ipkvm_frame_keep(f) in the same routine: the compare
 * stops at the first difference and the copy starts with the block it was found in, while
 * that block is still in the cache. Frames of different format or geometry differ; MJPEG
 * frames compare size, then bytes. Returns 1 (differ), 0 (same: *keep NULL), -ENOMEM, or
 * -EINVAL for a raw frame whose stride is below width * bpp. */
int ipkvm_frame_compare(const struct ipkvm_frame *f, const struct ipkvm_frame *ref,
			struct ipkvm_frame **keep);

/* How many times a borrowed frame's picture was copied into an owned frame, since start
 * (tests and benchmarks: a still screen must not add any). */
uint64_t ipkvm_frame_copies(void);

#endif
