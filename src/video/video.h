/*
 * video: the picture path from a source to the clients, as the design draws it:
 *
 *   capture thread ──► change check ──► encoder workers (JPEG) ──► latest image ──► clients
 *   (source, signal    (skip unchanged   (min(cores, 4), each      (refcounted, one      (main
 *    state, placeholders) and over-rate)   with its own TurboJPEG)   per frame, shared)    thread)
 *
 * - The capture thread owns the source: it opens it (reopening with back-off when it fails
 *   or disappears), takes the newest frame when the source's fd is readable, and keeps the
 *   signal state. While the state is not OK it publishes a placeholder image saying why.
 * - A frame goes to the encoders only when someone watches (a stream client, or a snapshot
 *   waiting), when it differs from the last frame sent to them (or a change is still owed
 *   after a max_fps skip), and no faster than max_fps. The encoders take the newest frame
 *   from a one-slot mailbox: when they fall behind, older frames are replaced, never queued.
 * - A raw frame is cut into horizontal strips (config strips; by default one per worker) that
 *   idle workers encode at the same time; the worker finishing the last strip joins them into
 *   one JPEG (jpeg.h, restart markers). MJPEG frames are one piece (passed through).
 * - A finished image is published at once, unless a newer one was already published (images
 *   never go backwards). Publishing wakes the main thread through the wake callback.
 * - Extra qualities: clients that want JPEG at another quality than the configured one (VNC
 *   Tight clients choose their own) say so with ipkvm_video_want_quality. The two most
 *   wanted other qualities are made too, from the same raw frame as the main image (same seq
 *   and times), by the same workers and strips, after the main image's pieces, and each is
 *   published only after the frame's main image. ipkvm_video_latest_quality gives the
 *   newest image at the nearest quality made. MJPEG pass-through makes none.
 * Frame sequence numbers are the pipeline's own (monotonic across device reopens).
 */
#ifndef IPKVM_VIDEO_VIDEO_H
#define IPKVM_VIDEO_VIDEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "video/frame.h"
#include "video/h264.h"
#include "video/jpeg_m2m.h"
#include "video/source.h"
#include "video/source_pattern.h"
#include "video/source_v4l2.h"

struct ipkvm_h264_stream;

struct ipkvm_video_config {
	/* Where pictures come from: a source made by the caller (the composition root makes the
	 * virtual target's; tests make fakes), which video owns from create on, failed or not;
	 * or NULL, and video makes one by name from source and the settings below. */
	struct ipkvm_source *src;
	const char *source; /* with src NULL: "pattern" or "v4l2" */
	struct ipkvm_pattern_config pattern;
	struct ipkvm_v4l2_config v4l2;
	int quality;	   /* 1..100 */
	int max_fps;	   /* 1..240 */
	unsigned workers;  /* 0 = min(cores we may run on, 4) */
	unsigned strips;   /* JPEG strips a frame; 0 = the workers (1 on 1 core) */
	bool subsample420; /* JPEG chroma 4:2:0 instead of 4:2:2 */
	struct ipkvm_jpeg_hw_config jpeg_hw; /* the hardware JPEG encoder; zeroed = software */
	struct ipkvm_h264_config h264;	     /* backend NULL or "none": no H.264 */
	/* The clock, monotonic µs; NULL = CLOCK_MONOTONIC (tests drive their own). The max_fps
	 * interval, image times and the rate window read it; the capture thread reads it again
	 * whenever it wakes, so a test that moves its clock calls ipkvm_video_kick. */
	int64_t (*now_us)(void *ctx);
	void *clock_ctx;
	/* Called from the H.264 thread when new access units are out, with create's ctx, so
	 * that the main loop wakes only the H.264 clients (the images' wake wakes only the MJPEG
	 * streams); NULL = the images' wake. */
	void (*h264_wake)(void *ctx);
};

/* The MJPEG boundary. Each image is published as one ready-to-send multipart part:
 *   "\r\n--ipkvmframe\r\nContent-Type: image/jpeg\r\nContent-Length: N\r\n"
 *   "X-Sequence: S\r\nX-Timestamp: <unix s.µs of capture>\r\nX-Capture-Us: <monotonic µs>\r\n\r\n"
 *   followed by the JPEG. The leading CRLF ends the previous part (before the first part it
 *   is an empty preamble), so every client gets the same bytes: one buffer, one write each. */
#define IPKVM_MJPEG_BOUNDARY "ipkvmframe"

/* One encoded picture, shared by every client (hold references, never copy). */
struct ipkvm_video_image {
	struct ipkvm_buf *part; /* multipart header + JPEG, see above */
	size_t jpeg_offset;	/* the JPEG is part->data + jpeg_offset ... part->len */
	uint64_t seq;		/* pipeline frame number */
	int64_t ts_us;		/* capture time, CLOCK_MONOTONIC µs */
	int64_t encoded_us;	/* when the encoder finished */
	unsigned width, height;
	/* The JPEG quality it was made at (1..100); 0 for a frame passed through from an MJPEG
	 * device, whose quality is the device's and unknown (the configured one is not it). */
	int quality;
	bool placeholder;
};

/* At most this many qualities besides the configured one are made at a time. */
#define IPKVM_VIDEO_MAX_EXTRAS 2

struct ipkvm_video_status {
	char source[16];
	struct ipkvm_signal_info signal;
	enum ipkvm_pixfmt format;	 /* of the captured frames */
	double capture_fps, encoded_fps; /* over the last second */
	uint64_t bytes_per_s;		 /* JPEG bytes published over the last second */
	uint64_t dropped;		 /* frames replaced in the mailbox before encoding */
	int quality, max_fps, watchers;
	unsigned workers;
	unsigned strips;		  /* a raw frame is cut into for software (1: whole) */
	uint64_t seq;			  /* of the latest image */
	struct ipkvm_jpeg_hw_status jpeg; /* which JPEG encoder, and why not the hardware one */
	/* The extra qualities being made (nextras of them, highest first), and JPEG images
	 * made from frames at every quality: per second over the last second, and in all.
	 * A frame passed through from an MJPEG device and a placeholder count as one image. */
	unsigned nextras;
	int extras[IPKVM_VIDEO_MAX_EXTRAS];
	double encodes_per_s;
	uint64_t encodes;
};

struct ipkvm_video;

/* Checks the settings and makes the source (nothing is opened yet). wake is called from
 * the encoder workers whenever a new image is published (cfg->h264_wake for H.264). NULL
 * with err set on bad settings. */
struct ipkvm_video *ipkvm_video_create(const struct ipkvm_video_config *cfg,
				       void (*wake)(void *ctx), void *ctx, char *err,
				       size_t errlen);
/* Starts the capture thread and the encoders. 0 or -errno. */
int ipkvm_video_start(struct ipkvm_video *v);
/* Stops and joins every thread, then frees. */
void ipkvm_video_destroy(struct ipkvm_video *v);

/* The newest image (references taken; release with ipkvm_video_image_release). False when
 * there is none yet. Any thread. */
bool ipkvm_video_latest(struct ipkvm_video *v, struct ipkvm_video_image *out);
void ipkvm_video_image_release(struct ipkvm_video_image *img);
/* The newest image at the quality nearest to quality (1..100) among the configured one and
 * the extra ones being made that have an image yet (ties: the higher quality); the main
 * image when no extra is nearer. An extra image more than a second older than the main one
 * (the workers were too busy for extras) is passed over for the main one. Like
 * ipkvm_video_latest otherwise. */
bool ipkvm_video_latest_quality(struct ipkvm_video *v, int quality, struct ipkvm_video_image *out);
/* A client starts (+1) or stops (-1) wanting images at quality 1..100 (main thread, or any).
 * Counted per quality; the IPKVM_VIDEO_MAX_EXTRAS most wanted qualities other than the
 * configured one are made (ties: those already made stay, then the higher quality), from
 * the next frame on, and only while frames are encoded at all (ipkvm_video_watch). A newly
 * made quality gets an image of the current picture at once when someone watches. Out of
 * range qualities are ignored. */
void ipkvm_video_want_quality(struct ipkvm_video *v, int quality, int delta);
/* The newest captured raw frame (a reference), or NULL. */
struct ipkvm_frame *ipkvm_video_latest_raw(struct ipkvm_video *v);

/* Stream clients come and go: encoding runs only while watchers > 0 or an image was
 * requested. */
void ipkvm_video_watch(struct ipkvm_video *v, int delta);
/* Asks for an image of the current picture even with no watchers (snapshots). */
void ipkvm_video_request_image(struct ipkvm_video *v);

/* Live settings, applied from the next frame. -EINVAL when out of range. */
int ipkvm_video_set_params(struct ipkvm_video *v, int quality, int max_fps);
void ipkvm_video_status(struct ipkvm_video *v, struct ipkvm_video_status *out);

/* Wakes the capture thread (a keyframe is wanted on a still screen: it offers the last
 * frame). */
void ipkvm_video_kick(struct ipkvm_video *v);
/* The H.264 stage (clients, keyframes, settings), or NULL when off. */
struct ipkvm_h264_stream *ipkvm_video_h264(struct ipkvm_video *v);

/* Tests only: true when no frame waits for an encoder or is being encoded (every frame
 * handed to the encoders so far has been published or dropped). */
bool ipkvm_video_test_encoders_idle(struct ipkvm_video *v);

#endif
