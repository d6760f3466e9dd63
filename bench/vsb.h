/*
 * vsb: the fake V4L2 capture device of bench/vs_ustreamer, shared by the frame producer
 * (vsb_producer, a process of its own) and the LD_PRELOAD shim (libvsb_shim.so) loaded into
 * the daemon under test.
 *
 * The producer owns a memfd: this header, then VSB_MAX_BUFS buffers of buf_stride bytes.
 * A daemon that opens the device path (VSB_DEVICE, default /dev/video-bench) through the
 * shim connects to the producer's unix socket (VSB_SOCKET) and receives the memfd and the
 * read end of a pipe; that pipe end is the "device" fd the daemon sees. The producer writes
 * one byte into the pipe per buffer it has filled, and DQBUF reads one, so the fd is
 * readable exactly while a filled buffer waits: poll, select and epoll work untouched. A
 * pipe's read end is never writable, as select expects of a capture device.
 *
 * Buffer states move USER -> QUEUED (QBUF) -> FILLING (producer) -> DONE -> USER (DQBUF),
 * always under the process-shared robust mutex `lock`; the pipe byte is written and read
 * under it too, so the number of bytes in the pipe equals the number of DONE buffers.
 *
 * Every DQBUF is logged (sequence, capture time, the time of the dequeue on
 * CLOCK_MONOTONIC and CLOCK_MONOTONIC_RAW) in a ring, so a daemon that does not pass the
 * buffer's capture time on (uStreamer 4.9 reports only when it dequeued a buffer) can have
 * its frames matched to their capture time and sequence afterwards.
 */
#ifndef VSB_H
#define VSB_H

#include <pthread.h>
#include <stdint.h>

#define VSB_MAGIC	0x56534231u /* "VSB1" */
#define VSB_MAX_BUFS	16
#define VSB_DQ_RING	8192
#define VSB_HDR_SIZE	(1u << 20) /* the buffers start here in the memfd */
#define VSB_DEFAULT_DEV "/dev/video-bench"

enum vsb_state {
	VSB_USER = 0, /* the application's (dequeued, or never queued) */
	VSB_QUEUED,   /* queued, waiting for a frame */
	VSB_FILLING,  /* the producer is writing a frame into it */
	VSB_DONE,     /* holds a frame, waiting for DQBUF */
};

struct vsb_buf {
	uint32_t state;
	uint32_t bytesused;
	uint32_t sequence;
	uint32_t pad;
	uint64_t order; /* queue order (QUEUED) or completion order (DONE) */
	int64_t ts_us;	/* CLOCK_MONOTONIC when the frame was complete */
};

struct vsb_dq {
	uint32_t sequence;
	uint32_t index;
	int64_t ts_us;	    /* the buffer's capture time (CLOCK_MONOTONIC) */
	int64_t dq_mono_us; /* when DQBUF returned it (CLOCK_MONOTONIC) */
	int64_t dq_raw_us;  /* the same moment on CLOCK_MONOTONIC_RAW */
};

struct vsb_shm {
	uint32_t magic;
	pthread_mutex_t lock; /* process-shared, robust */
	/* the device, set by the producer */
	uint32_t pixfmt; /* V4L2_PIX_FMT_YUYV, _UYVY or _MJPEG */
	uint32_t width, height, fps;
	uint32_t dv;	       /* an HDMI bridge's input (DV timings), else a UVC dongle's */
	uint32_t bytesperline; /* 0 for MJPEG */
	uint32_t sizeimage;    /* bytes one buffer can hold */
	uint32_t buf_stride;   /* bytes between buffers in the memfd (page multiple) */
	/* the stream, set by the shim */
	uint32_t nbufs;
	uint32_t streaming;
	uint64_t next_order;
	struct vsb_buf bufs[VSB_MAX_BUFS];
	/* counters: frames made, written into a buffer, dropped for want of one */
	uint64_t frames, filled, dropped;
	/* the dequeue log (dq_count entries so far, the last VSB_DQ_RING kept) */
	uint64_t dq_count;
	struct vsb_dq dq[VSB_DQ_RING];
};

#endif
