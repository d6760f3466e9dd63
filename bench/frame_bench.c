/*
 * frame_bench: what the capture thread spends per 1920x1080 YUYV frame on the change check
 * and the copy (video/frame.c), the caches emptied before every run (a frame the driver just
 * wrote, like the newest picture kept, is not in the cache), single thread, median of 30:
 *   - a still picture, as before issue 17: copy the driver's buffer into a frame, then
 *     compare that with the last frame sent (ipkvm_frame_differs)
 *   - a still picture now: compare the driver's buffer with the newest picture kept
 *     (ipkvm_frame_compare), no copy; also with padded lines (stride > width * 2)
 *   - a changed picture, the first difference in the first line, the middle line or the
 *     last line: the copy + compare of before, a compare then a copy (two calls), and the
 *     one routine that compares until the first difference and copies from that block on
 *     (ipkvm_frame_compare with keep)
 * One figure a line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "video/frame.h"
#include "video/jpeg.h"
#include "bench_util.h"

#define W	1920
#define H	1080
#define RUNS	30
#define EVICT_B (256u << 20) /* more than any last-level cache we run on */

static uint8_t *evict_buf;

static void die(const char *what)
{
	fprintf(stderr, "frame_bench: %s failed\n", what);
	exit(1);
}

static void evict(int round)
{
	memset(evict_buf, round & 0xff, EVICT_B);
}

/* A lent frame over data, as the V4L2 source makes one of a driver buffer. */
static struct ipkvm_frame view_of(uint8_t *data, size_t stride)
{
	struct ipkvm_frame f;
	memset(&f, 0, sizeof(f));
	f.borrowed = true;
	f.format = IPKVM_FMT_YUYV;
	f.width = W;
	f.height = H;
	f.stride = stride;
	f.size = stride * (H - 1) + (size_t)W * 2;
	f.data = data;
	return f;
}

enum way { OLD_COPY_THEN_DIFFERS, COMPARE_THEN_KEEP, COMPARE_KEEP_ONE_ROUTINE };

/* ms per frame of one way of checking view against last (and keeping it when it differs). */
static double run(enum way way, const struct ipkvm_frame *view, const struct ipkvm_frame *last,
		  int expect)
{
	double t[RUNS];
	for (int i = 0; i < RUNS; i++) {
		evict(i);
		struct ipkvm_frame *k = NULL;
		int d;
		double t0 = bench_mono_ms();
		switch (way) {
		case OLD_COPY_THEN_DIFFERS:
			k = ipkvm_frame_keep(view);
			if (!k)
				die("keep");
			d = ipkvm_frame_differs(k, last);
			break;
		case COMPARE_THEN_KEEP:
			d = ipkvm_frame_compare(view, last, NULL);
			if (d == 1 && !(k = ipkvm_frame_keep(view)))
				die("keep");
			break;
		case COMPARE_KEEP_ONE_ROUTINE:
		default:
			d = ipkvm_frame_compare(view, last, &k);
			break;
		}
		t[i] = bench_mono_ms() - t0;
		if (d != expect)
			die("the compare");
		ipkvm_frame_unref(k);
	}
	return bench_median(t, RUNS);
}

int main(void)
{
	size_t row = (size_t)W * 2, padded = row + 128;
	uint8_t *buf = aligned_alloc(4096, padded * H), *pbuf = aligned_alloc(4096, padded * H);
	evict_buf = malloc(EVICT_B);
	struct ipkvm_frame *last = ipkvm_frame_new(IPKVM_FMT_YUYV, W, H, 0);
	if (!buf || !pbuf || !evict_buf || !last)
		die("allocation");
	for (size_t i = 0; i < row * H; i++)
		last->data[i] = (uint8_t)(i * 7 + (i >> 12));
	memcpy(buf, last->data, row * H);
	for (unsigned y = 0; y < H; y++)
		memcpy(pbuf + y * padded, last->data + y * row, row);
	evict(0);

	struct ipkvm_frame view = view_of(buf, row), pview = view_of(pbuf, padded);
	printf("still picture, copy then compare (before): %.3f ms\n",
	       run(OLD_COPY_THEN_DIFFERS, &view, last, 0));
	printf("still picture, compare in the driver's buffer: %.3f ms\n",
	       run(COMPARE_KEEP_ONE_ROUTINE, &view, last, 0));
	printf("still picture, compare in the driver's buffer, padded lines: %.3f ms\n",
	       run(COMPARE_KEEP_ONE_ROUTINE, &pview, last, 0));

	static const struct {
		const char *name;
		unsigned line;
	} at[] = {{"first line", 0}, {"middle line", H / 2}, {"last line", H - 1}};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		size_t off = (size_t)at[i].line * row + row / 2;
		buf[off] ^= 0x40;
		printf("changed in the %s: copy then compare (before) %.3f ms, compare then copy "
		       "%.3f ms, one routine %.3f ms\n",
		       at[i].name, run(OLD_COPY_THEN_DIFFERS, &view, last, 1),
		       run(COMPARE_THEN_KEEP, &view, last, 1),
		       run(COMPARE_KEEP_ONE_ROUTINE, &view, last, 1));
		buf[off] ^= 0x40;
	}
	ipkvm_frame_unref(last);
	ipkvm_frame_pool_drain();
	free(buf);
	free(pbuf);
	free(evict_buf);
	return 0;
}
