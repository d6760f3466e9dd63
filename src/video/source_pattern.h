/*
 * source_pattern: a synthetic video source for tests, benchmarks and the demo, delivering
 * frames at a fixed rate from a timerfd.
 *   scene "testcard": colour bars, a moving box and a clock (every frame changes)
 *   scene "desktop":  a desktop-like screen with a text window where characters are "typed"
 *                     at ~10 per second and a pointer that moves; most of the screen stays
 *                     the same between frames, like a real console session
 *   scene "static":   one picture that never changes (for idle-CPU measurements)
 * Every frame carries its sequence number also drawn into the top-left corner as text, so a
 * picture can be matched to its frame by eye.
 */
#ifndef IPKVM_VIDEO_SOURCE_PATTERN_H
#define IPKVM_VIDEO_SOURCE_PATTERN_H

#include "video/source.h"

struct ipkvm_pattern_config {
	unsigned width, height;	  /* even width; default 1920x1080 */
	unsigned fps;		  /* 1..240, default 60 */
	enum ipkvm_pixfmt format; /* IPKVM_FMT_YUYV (default), UYVY, RGB24 or BGR24 */
	const char *scene;	  /* "testcard" (default), "desktop", "static" */
};

/* NULL with err set on bad settings. The config is copied. */
struct ipkvm_source *ipkvm_source_pattern_create(const struct ipkvm_pattern_config *cfg, char *err,
						 size_t errlen);

#endif
