/*
 * h264_stream: the H.264 stage of the video pipeline — one encoder thread fed with changed
 * frames by the capture thread, and a ring of the access units it made, shared by every
 * client of the H.264 WebSocket (16 clients cost one encode).
 *
 *   capture thread --offer(frame)--> one-slot mailbox (newest wins) --> encoder thread
 *        --> access unit (a ready WebSocket message) --> ring of the last IPKVM_H264_RING
 *        --> main thread: each client sends the next one it has not had
 *
 * Keyframes are made on demand: when a client joins or asks (a decoder error), and when a
 * client fell behind and had its frames dropped up to the next keyframe; with gop > 0 also
 * every gop frames. A keyframe wanted on a still screen needs a frame: needs_frame() tells
 * the capture thread to offer the last one.
 *
 * The encoder paces itself to max_fps: it waits for the next slot, then encodes the newest
 * frame in the mailbox, so changes that came faster are merged, never queued or lost.
 *
 * Message format (binary WebSocket message, little-endian), IPKVM_H264_HEADER bytes then the
 * access unit in Annex-B (SPS and PPS before every IDR):
 *   u8 version (1), u8 flags (bit 0 keyframe, bit 1 keep-alive: no payload), u16 0,
 *   u32 sequence (low bits), i64 capture time in unix microseconds,
 *   u16 width, u16 height, u32 0.
 */
#ifndef IPKVM_VIDEO_H264_STREAM_H
#define IPKVM_VIDEO_H264_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "video/frame.h"
#include "video/h264.h"

#define IPKVM_H264_HEADER     24
#define IPKVM_H264_RING	      128
#define IPKVM_H264_FLAG_KEY   0x01
#define IPKVM_H264_FLAG_ALIVE 0x02

/* One access unit. msg is the H.264 WebSocket's ready message (the header above, then the
 * Annex-B bytes); another carrier (the VNC Open H.264 encoding) sends the Annex-B bytes,
 * msg->data + annexb_offset up to msg->len: start codes, and SPS and PPS before the IDR
 * slice of a keyframe. The buffer is shared and read-only: its headroom belongs to the
 * H.264 WebSocket, which writes each client's frame header there (src/web/h264_ws.c), so
 * another carrier sends its own header from a buffer of its own. */
struct ipkvm_h264_au {
	struct ipkvm_buf *msg; /* header + Annex-B (one reference) */
	size_t annexb_offset;  /* where the Annex-B bytes start: IPKVM_H264_HEADER */
	uint64_t seq;
	unsigned width, height; /* of the picture it codes */
	bool key;
};

struct ipkvm_h264_stats {
	char backend[16];
	int bitrate_kbps, max_fps, gop, watchers;
	double fps;	      /* access units over the last second */
	uint64_t bytes_per_s; /* over the last second */
	uint64_t frames, keyframes, skipped;
	double encode_ms; /* of the last access unit */
};

struct ipkvm_h264_stream;

/* Creates the encoder (backend per cfg) and starts its thread; wake(ctx) is called from it
 * when an access unit is published. NULL with err set. */
struct ipkvm_h264_stream *ipkvm_h264_stream_create(const struct ipkvm_h264_config *cfg,
						   void (*wake)(void *ctx), void *ctx, char *err,
						   size_t errlen);
void ipkvm_h264_stream_destroy(struct ipkvm_h264_stream *s);

/* Capture thread. */
bool ipkvm_h264_stream_wanted(struct ipkvm_h264_stream *s);	 /* someone watches */
bool ipkvm_h264_stream_needs_frame(struct ipkvm_h264_stream *s); /* a keyframe waits */
void ipkvm_h264_stream_offer(struct ipkvm_h264_stream *s, struct ipkvm_frame *f); /* ref taken */

/* Main thread (any thread, in fact: under the stream's lock). */
void ipkvm_h264_stream_watch(struct ipkvm_h264_stream *s, int delta);
void ipkvm_h264_stream_keyframe(struct ipkvm_h264_stream *s);
/* The newest access unit's sequence (0: none yet) and the newest keyframe's (0: none). */
uint64_t ipkvm_h264_stream_newest(struct ipkvm_h264_stream *s, uint64_t *newest_key);
/* Access unit seq (a reference in out->msg), false when it is not in the ring. */
bool ipkvm_h264_stream_get(struct ipkvm_h264_stream *s, uint64_t seq, struct ipkvm_h264_au *out);
/* A client's place in the ring. A client never queues: it takes the next access unit it has
 * not had; one that fell IPKVM_H264_LAG units behind, or whose next unit left the ring,
 * skips to a keyframe made from then on (asked for at once). */
#define IPKVM_H264_LAG 30 /* half a second at 60 fps */
struct ipkvm_h264_cursor {
	uint64_t next;	  /* next access unit; 0 = waiting for a keyframe */
	uint64_t key_min; /* ... made at or after this sequence */
	uint64_t sent, drops;
};
/* Starts (or restarts, after a decoder error) at a fresh keyframe: asks the encoder for one. */
void ipkvm_h264_cursor_reset(struct ipkvm_h264_stream *s, struct ipkvm_h264_cursor *c);
/* The access unit to send now (true, a reference in out->msg; the cursor moves on), or
 * false when there is nothing yet. */
bool ipkvm_h264_cursor_next(struct ipkvm_h264_stream *s, struct ipkvm_h264_cursor *c,
			    struct ipkvm_h264_au *out);
/* Whether more is waiting after what cursor_next gave. */
bool ipkvm_h264_cursor_pending(struct ipkvm_h264_stream *s, const struct ipkvm_h264_cursor *c);

/* Live settings (see ipkvm_h264_set_params). */
int ipkvm_h264_stream_set(struct ipkvm_h264_stream *s, int bitrate_kbps, int max_fps, int gop);
void ipkvm_h264_stream_stats(struct ipkvm_h264_stream *s, struct ipkvm_h264_stats *out);
/* A keep-alive message (header only), one reference. */
struct ipkvm_buf *ipkvm_h264_keepalive(void);

#endif
