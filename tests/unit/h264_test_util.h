/*
 * h264_test_util: what the H.264 unit tests share (test_h264.c for the front and openh264,
 * test_h264_m2m.c for the V4L2 mem2mem backend): NAL unit checks on access units and a
 * console-like test picture. Include after cmocka.h.
 */
#ifndef IPKVM_TESTS_H264_TEST_UTIL_H
#define IPKVM_TESTS_H264_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "video/draw.h"
#include "video/frame.h"

static inline uint32_t nal_mask(const struct ipkvm_buf *b)
{
	uint32_t mask = 0;
	const uint8_t *d = b->data;
	for (size_t i = 0; i + 3 < b->len; i++) {
		if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
			mask |= 1u << (d[i + 3] & 0x1f);
			i += 2;
		}
	}
	return mask;
}

#define NAL(t) (1u << (t))

static inline void assert_idr_au(const struct ipkvm_buf *b)
{
	uint32_t m = nal_mask(b);
	assert_true(m & NAL(7));
	assert_true(m & NAL(8));
	assert_true(m & NAL(5));
	assert_false(m & NAL(1));
	/* Annex-B with a 4-byte start code at the very front, SPS first. */
	assert_memory_equal(b->data, "\0\0\0\1", 4);
	assert_int_equal(b->data[4] & 0x1f, 7);
}

static inline void assert_p_au(const struct ipkvm_buf *b)
{
	uint32_t m = nal_mask(b);
	assert_true(m & NAL(1));
	assert_false(m & (NAL(5) | NAL(7) | NAL(8)));
}

/* A console: dark background, light text of n characters over a few lines. */
static inline void draw_console(struct ipkvm_frame *f, int n)
{
	static const char text[] = "root@target:~# ls -la /etc && cat /proc/cpuinfo | grep "
				   "model; dmesg | tail -20; uname -a; echo hello world";
	struct ipkvm_rgb bg = {16, 16, 24}, fg = {200, 200, 200};
	ipkvm_draw_rect(f, 0, 0, (int)f->width, (int)f->height, bg);
	char line[128];
	int cols = (int)f->width / IPKVM_FONT_W - 2;
	for (int row = 0; n > 0 && row < 8; row++) {
		int k = n < cols ? n : cols;
		if (k > (int)sizeof(line) - 1)
			k = (int)sizeof(line) - 1;
		for (int i = 0; i < k; i++)
			line[i] = text[(row * cols + i) % (sizeof(text) - 1)];
		line[k] = 0;
		ipkvm_draw_text(f, 8, 8 + row * IPKVM_FONT_H, line, 1, fg, NULL);
		n -= k;
	}
	ipkvm_draw_rect(f, (int)f->width - 100, 20, 80, 40, (struct ipkvm_rgb){30, 90, 200});
}

static inline struct ipkvm_frame *console(enum ipkvm_pixfmt fmt, unsigned w, unsigned h, int n)
{
	struct ipkvm_frame *f = ipkvm_frame_new(fmt, w, h, 0);
	assert_non_null(f);
	draw_console(f, n);
	return f;
}

#endif
