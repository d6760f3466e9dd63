/*
 * rfb_enc_bench: what the VNC server spends on one full 1920x1080 frame for a client without
 * JPEG (vnc/rfb_enc.c), single thread, median of RUNS:
 *   - Raw of the whole frame from YUYV (the capture's format) and RGB24, in the server's
 *     pixel format (32 bpp rgb888 little-endian: the fast path) and in 16 bpp 565 (tables)
 *   - ZRLE of the whole frame, the stream kept from run to run as on one connection, for the
 *     pattern source's "desktop" scene (flat areas, windows, text), its "testcard" (bars,
 *     gradients, a clock) and noise (every tile raw: the worst case), with the bytes sent
 *   - ipkvm_rfb_changed_rects between two desktop frames a few typed characters apart
 * Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), steadier than the wall clock on
 * a busy machine. One figure a line.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "video/frame.h"
#include "video/source.h"
#include "video/source_pattern.h"
#include "vnc/rfb_enc.h"
#include "bench_util.h"

#define W    1920
#define H    1080
#define RUNS 15

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "rfb_enc_bench: %s failed\n", what);
	exit(1);
}

/* Frames number skip and skip + 1 + gap of a pattern scene, as owned frames. */
static void pattern_frames(const char *scene, enum ipkvm_pixfmt fmt, unsigned skip, unsigned gap,
			   struct ipkvm_frame **a, struct ipkvm_frame **b)
{
	struct ipkvm_pattern_config cfg = {
	    .width = W, .height = H, .fps = 240, .format = fmt, .scene = scene};
	char err[128];
	struct ipkvm_source *s = ipkvm_source_pattern_create(&cfg, err, sizeof(err));
	if (!s)
		die(err);
	if (s->ops->open(s) || s->ops->start(s))
		die("pattern start");
	*a = *b = NULL;
	for (unsigned n = 0; !*b;) {
		struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
		if (poll(&p, 1, 5000) != 1)
			die("pattern poll");
		struct ipkvm_frame *f = NULL;
		int r = s->ops->next(s, &f);
		if (r == -EAGAIN)
			continue;
		if (r < 0 || !f)
			die("pattern next");
		if (n == skip)
			*a = ipkvm_frame_keep(f);
		else if (n == skip + 1 + gap)
			*b = ipkvm_frame_keep(f);
		n++;
		ipkvm_source_done(s, f);
	}
	if (!*a || !*b)
		die("frame keep");
	s->ops->stop(s);
	s->ops->close(s);
	s->ops->destroy(s);
}

static const struct ipkvm_rfb_pixfmt pf_565 = {16, 16, false, true, 31, 63, 31, 11, 5, 0};

static void bench_raw(const char *name, const struct ipkvm_frame *f,
		      const struct ipkvm_rfb_pixfmt *pf)
{
	struct ipkvm_rfb_out o = {0};
	struct ipkvm_rfb_rect all = {0, 0, W, H};
	double t[RUNS];
	for (int i = 0; i < RUNS; i++) {
		o.len = 0;
		double t0 = now_ms();
		if (ipkvm_rfb_put_raw(&o, f, &all, pf))
			die("put_raw");
		t[i] = now_ms() - t0;
	}
	printf("raw   %-28s %7.2f ms  %8.0f KB\n", name, bench_median(t, RUNS), o.len / 1024.0);
	ipkvm_rfb_out_free(&o);
}

static void bench_zrle(const char *name, const struct ipkvm_frame *f,
		       const struct ipkvm_rfb_pixfmt *pf)
{
	struct ipkvm_rfb_out o = {0};
	struct ipkvm_rfb_rect all = {0, 0, W, H};
	struct ipkvm_rfb_zrle *z = ipkvm_rfb_zrle_new();
	if (!z)
		die("zrle_new");
	double t[RUNS];
	for (int i = 0; i < RUNS; i++) {
		o.len = 0;
		double t0 = now_ms();
		if (ipkvm_rfb_put_zrle(z, &o, f, &all, pf))
			die("put_zrle");
		t[i] = now_ms() - t0;
	}
	printf("zrle  %-28s %7.2f ms  %8.0f KB\n", name, bench_median(t, RUNS), o.len / 1024.0);
	ipkvm_rfb_zrle_free(z);
	ipkvm_rfb_out_free(&o);
}

int main(void)
{
	struct ipkvm_frame *desk, *desk2, *card, *card2, *desk_rgb, *desk_rgb2;
	pattern_frames("desktop", IPKVM_FMT_YUYV, 3, 40, &desk, &desk2);
	pattern_frames("testcard", IPKVM_FMT_YUYV, 3, 0, &card, &card2);
	pattern_frames("desktop", IPKVM_FMT_RGB24, 3, 0, &desk_rgb, &desk_rgb2);
	struct ipkvm_frame *noise = ipkvm_frame_new(IPKVM_FMT_YUYV, W, H, 0);
	if (!noise)
		die("frame_new");
	uint32_t seed = 1;
	for (size_t i = 0; i < noise->size; i++) {
		seed = seed * 1103515245u + 12345u;
		noise->data[i] = (uint8_t)(seed >> 16);
	}

	printf("1920x1080, median of %d, one thread, CPU time\n", RUNS);
	bench_raw("desktop yuyv -> rgb888 le", desk, &ipkvm_rfb_pixfmt_server);
	bench_raw("desktop rgb24 -> rgb888 le", desk_rgb, &ipkvm_rfb_pixfmt_server);
	bench_raw("desktop yuyv -> 565", desk, &pf_565);
	bench_zrle("desktop yuyv -> rgb888 le", desk, &ipkvm_rfb_pixfmt_server);
	bench_zrle("desktop yuyv -> 565", desk, &pf_565);
	bench_zrle("testcard yuyv -> rgb888 le", card, &ipkvm_rfb_pixfmt_server);
	bench_zrle("noise yuyv -> rgb888 le", noise, &ipkvm_rfb_pixfmt_server);

	struct ipkvm_rfb_rect rects[64];
	double t[RUNS];
	size_t n = 0;
	for (int i = 0; i < RUNS; i++) {
		double t0 = now_ms();
		n = ipkvm_rfb_changed_rects(desk, desk2, rects, 64);
		t[i] = now_ms() - t0;
	}
	unsigned long px = 0;
	for (size_t i = 0; i < n; i++)
		px += (unsigned long)rects[i].w * rects[i].h;
	printf("changed rects desktop, typing         %7.2f ms  %zu rects, %.1f%% of the frame\n",
	       bench_median(t, RUNS), n, 100.0 * (double)px / (W * H));
	for (int i = 0; i < RUNS; i++) {
		double t0 = now_ms();
		n = ipkvm_rfb_changed_rects(desk, desk, rects, 64);
		t[i] = now_ms() - t0;
	}
	printf("changed rects desktop, still          %7.2f ms  %zu rects\n", bench_median(t, RUNS),
	       n);

	ipkvm_frame_unref(desk);
	ipkvm_frame_unref(desk2);
	ipkvm_frame_unref(card);
	ipkvm_frame_unref(card2);
	ipkvm_frame_unref(desk_rgb);
	ipkvm_frame_unref(desk_rgb2);
	ipkvm_frame_unref(noise);
	return 0;
}
