/*
 * draw: filling rectangles and drawing text with the built-in 8x16 bitmap font into raw
 * frames (YUYV, UYVY, RGB24, BGR24). Used for placeholder frames, the pattern source, and
 * later the virtual target's screen.
 *
 * Colours are given as RGB; for the YUV formats they are converted with BT.601 limited
 * range (what JPEG encoders and capture chips assume for YUYV). In 4:2:2 formats two
 * horizontal pixels share chroma: a shape whose left edge is at an odd x shares the chroma
 * of its neighbour (draw at even x for exact colours).
 */
#ifndef IPKVM_VIDEO_DRAW_H
#define IPKVM_VIDEO_DRAW_H

#include <stdint.h>

#include "video/frame.h"

#define IPKVM_FONT_W 8
#define IPKVM_FONT_H 16

struct ipkvm_rgb {
	uint8_t r, g, b;
};

/* The 16 bytes of glyph c (one byte per row, bit 7 = leftmost pixel), for c in 32..126;
 * other characters give the replacement glyph (a box). */
const uint8_t *ipkvm_font_glyph(unsigned char c);

/* BT.601 limited-range conversion: y 16..235, u/v 16..240. */
void ipkvm_rgb_to_yuv(struct ipkvm_rgb c, uint8_t *y, uint8_t *u, uint8_t *v);

/* Fills the rectangle, clipped to the frame. Raw formats only. */
void ipkvm_draw_rect(struct ipkvm_frame *f, int x, int y, int w, int h, struct ipkvm_rgb c);

/* Draws text (ASCII; '\n' starts a new line) at x, y with each font pixel scaled to
 * scale x scale pixels; bg NULL = transparent. Clipped. Returns the width drawn in pixels
 * of the longest line. */
int ipkvm_draw_text(struct ipkvm_frame *f, int x, int y, const char *text, int scale,
		    struct ipkvm_rgb fg, const struct ipkvm_rgb *bg);

/* Width and height in pixels that ipkvm_draw_text would cover. */
void ipkvm_text_size(const char *text, int scale, int *w, int *h);

/* The mouse pointer every synthetic screen draws (the pattern source's desktop, the virtual
 * target's screen), one row a string: 'X' outline (black), 'o' fill (white), '.' transparent;
 * the tip, the pointer's position, at the top-left. A classic arrow: the head's right edge a
 * straight 45-degree line down to its widest row, a one-pixel outline, a two-pixel stem. */
#define IPKVM_POINTER_W 12
#define IPKVM_POINTER_H 19
extern const char *const ipkvm_pointer_art[IPKVM_POINTER_H];

#endif
