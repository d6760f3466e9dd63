/*
 * source: where pictures come from, behind one interface: a V4L2 capture device
 * (source_v4l2.c), the synthetic pattern (source_pattern.c), and the virtual target's
 * screen (target/source_virtual.c: the target depends on video, never the reverse, so its
 * source is made by the composition root and handed to video in ipkvm_video_config.src).
 *
 * All calls but create/destroy happen on the source's capture thread (see video.c), which
 * runs: open → start → loop { poll(fd) → next() → compare, keep what changed → release /
 * event() } → stop → close, reopening with back-off when open/start/next fail. The V4L2
 * source and the pattern's static scene lend their frames (no copy of a picture that did not
 * change); the other scenes and the virtual target make a new frame per picture.
 * Creating a source only records its settings; nothing touches a device before open().
 */
#ifndef IPKVM_VIDEO_SOURCE_H
#define IPKVM_VIDEO_SOURCE_H

#include "video/frame.h"

enum ipkvm_signal {
	IPKVM_SIGNAL_OK = 0,	  /* frames are coming */
	IPKVM_SIGNAL_NO_DEVICE,	  /* the capture device is missing (unplugged) */
	IPKVM_SIGNAL_NO_SIGNAL,	  /* device present, nothing connected or target off */
	IPKVM_SIGNAL_NO_SYNC,	  /* something is connected but the receiver cannot lock */
	IPKVM_SIGNAL_UNSUPPORTED, /* timings or format we cannot capture */
	IPKVM_SIGNAL_BUSY,	  /* another program holds the device */
	IPKVM_SIGNAL_ERROR,	  /* anything else; reason says what */
};

/* What kind of capture the picture comes through, so advice can fit the hardware. */
enum ipkvm_capture {
	IPKVM_CAPTURE_UNKNOWN = 0, /* a V4L2 device never opened yet */
	IPKVM_CAPTURE_HDMI,	   /* a V4L2 DV-timings bridge (TC358743 and the like) */
	IPKVM_CAPTURE_USB,	   /* a UVC USB capture dongle */
	IPKVM_CAPTURE_VIRTUAL,	   /* the built-in virtual target's screen */
	IPKVM_CAPTURE_PATTERN,	   /* the synthetic pattern */
};

struct ipkvm_signal_info {
	enum ipkvm_signal state;
	enum ipkvm_capture capture;
	unsigned width, height; /* current or measured timings, 0 when unknown */
	double fps;		/* nominal rate, 0 when unknown */
	char reason[192];	/* one line for people, e.g. "1920x1080@75 is not supported:
				 * set the target to 1080p60 or 1080p50" */
};

/* "ok", "no_device", "no_signal", "no_sync", "unsupported", "busy", "error". */
const char *ipkvm_signal_name(enum ipkvm_signal s);
/* "hdmi", "usb", "virtual", "pattern"; NULL for IPKVM_CAPTURE_UNKNOWN. */
const char *ipkvm_capture_name(enum ipkvm_capture c);

struct ipkvm_source;

struct ipkvm_source_ops {
	const char *name; /* "v4l2", "pattern" */
	/* Opens the device and negotiates format and timings. 0 or -errno; on failure the
	 * signal info says why. */
	int (*open)(struct ipkvm_source *s);
	/* Starts streaming. 0 or -errno. */
	int (*start)(struct ipkvm_source *s);
	/* The fd the capture thread polls: POLLIN means a frame may be ready, POLLPRI an
	 * event (V4L2 source change). */
	int (*fd)(struct ipkvm_source *s);
	/* Takes the newest complete frame, dropping older ones: 0 with *out holding it, -EAGAIN
	 * when there is none yet, or another -errno when the device failed (the thread then
	 * stops, closes and reopens it). The frame is either owned (one reference for the
	 * caller) or borrowed (frame.h: a view of the source's buffer, e.g. a V4L2 driver
	 * buffer), so the caller can compare a picture before deciding to copy it. A borrowed
	 * frame must be handed back with release() before the next call of next() or stop();
	 * the caller keeps what it needs with ipkvm_frame_keep/ipkvm_frame_compare. */
	int (*next)(struct ipkvm_source *s, struct ipkvm_frame **out);
	/* Hands back a borrowed frame from next() (the V4L2 source queues the buffer to the
	 * driver again; a failure there comes back from the next call of next()). NULL for a
	 * source that never lends. ipkvm_source_done() picks release or unref. */
	void (*release)(struct ipkvm_source *s, struct ipkvm_frame *f);
	/* Handles what POLLPRI announced. Returns 0, 1 when the source must be restarted
	 * (stop, close, open, start: new timings), or -errno. May be NULL. */
	int (*event)(struct ipkvm_source *s);
	void (*stop)(struct ipkvm_source *s);
	void (*close)(struct ipkvm_source *s);
	/* Fills the current signal state. */
	void (*signal)(struct ipkvm_source *s, struct ipkvm_signal_info *out);
	void (*destroy)(struct ipkvm_source *s);
};

struct ipkvm_source {
	const struct ipkvm_source_ops *ops;
	void *priv;
};

/* Done with a frame from next(): a borrowed one goes back to the source, an owned one loses
 * the caller's reference. */
static inline void ipkvm_source_done(struct ipkvm_source *s, struct ipkvm_frame *f)
{
	if (f && f->borrowed)
		s->ops->release(s, f);
	else
		ipkvm_frame_unref(f);
}

#endif
