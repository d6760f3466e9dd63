/*
 * placeholder: the picture sent instead of video when there is none, saying why:
 * a dark frame with a title ("NO SIGNAL", "NO CAPTURE DEVICE", "NO SYNC",
 * "UNSUPPORTED VIDEO MODE", "CAPTURE DEVICE BUSY", "VIDEO ERROR") and the reason line from the
 * source, centred. Rendered once per state change (the caller keeps it), so cheap.
 */
#ifndef IPKVM_VIDEO_PLACEHOLDER_H
#define IPKVM_VIDEO_PLACEHOLDER_H

#include "video/frame.h"
#include "video/source.h"

/* A YUYV frame of width x height (even width; 0 → 1280x720) for info (state must not be
 * OK). NULL when out of memory. seq and ts_us are left 0 for the caller. */
struct ipkvm_frame *ipkvm_placeholder_render(const struct ipkvm_signal_info *info, unsigned width,
					     unsigned height);

/* The title for a state, e.g. "NO SIGNAL". */
const char *ipkvm_placeholder_title(enum ipkvm_signal state);

#endif
