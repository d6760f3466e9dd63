/*
 * v4l2_m2m: the mem2mem plumbing the hardware encoders share (h264_m2m.c, jpeg_m2m.c):
 * formats, MMAP buffers on the OUTPUT and CAPTURE queues, single- or multi-planar API, all
 * through the v4l2_io table so the unit tests' fake devices stand behind it.
 */
#ifndef IPKVM_VIDEO_V4L2_M2M_H
#define IPKVM_VIDEO_V4L2_M2M_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/videodev2.h>

/* One mapped buffer of a queue. */
struct ipkvm_m2m_buf {
	void *start;
	size_t length;
	bool queued;
};

/* The pixel formats a queue lists (VIDIOC_ENUM_FMT), at most max. 0 or -errno. */
int ipkvm_m2m_enum_formats(int fd, uint32_t type, uint32_t *list, unsigned max, unsigned *n);

/* A v4l2_buffer of index i on queue type (plane: storage for the one plane). */
void ipkvm_m2m_buf_init(bool mplane, struct v4l2_buffer *b, struct v4l2_plane *plane, uint32_t type,
			unsigned i);

/* VIDIOC_S_FMT of w x h in fourcc. The driver must keep the width and the format and may
 * round the height up by at most extra_h lines (0: exact); -ERANGE otherwise. bpl, sizeimage
 * and got_h (may be NULL) get what it chose. 0 or -errno. */
int ipkvm_m2m_set_format(int fd, bool mplane, uint32_t type, uint32_t fourcc, unsigned w,
			 unsigned h, unsigned extra_h, size_t *bpl, size_t *sizeimage,
			 unsigned *got_h);

/* Asks for want MMAP buffers of queue type and maps them into bufs; *n is how many are used
 * (the driver may give more than asked: only the first want are). 0 or -errno. */
int ipkvm_m2m_map(int fd, bool mplane, uint32_t type, struct ipkvm_m2m_buf *bufs, unsigned want,
		  unsigned *n);

/* Queues CAPTURE buffer i of bufs (empty, for the device to fill). 0 or -errno. */
int ipkvm_m2m_queue_cap(int fd, bool mplane, uint32_t type, struct ipkvm_m2m_buf *bufs, unsigned i);

/* Streaming off (when *streaming), every buffer unmapped and given back to the driver. */
void ipkvm_m2m_release(int fd, uint32_t out_type, uint32_t cap_type, bool *streaming,
		       struct ipkvm_m2m_buf *out, unsigned *n_out, size_t out_size,
		       struct ipkvm_m2m_buf *cap, unsigned *n_cap, size_t cap_size);

/* An OUTPUT buffer the device has given back (dequeuing every finished one), waiting up to
 * wait_ms twice for one. Its index, or -ETIMEDOUT. */
int ipkvm_m2m_free_out(int fd, bool mplane, uint32_t out_type, struct ipkvm_m2m_buf *out,
		       unsigned n_out, int wait_ms);

/* Dequeues every OUTPUT buffer the device has finished with. */
void ipkvm_m2m_reclaim_out(int fd, bool mplane, uint32_t out_type, struct ipkvm_m2m_buf *out,
			   unsigned n_out);

#endif
