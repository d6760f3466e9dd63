/*
 * screen_bench: how long the virtual target takes to render a full console picture, the cost
 * paid on every visible change (a typed key re-renders the whole screen).
 *
 * The console is filled edge to edge with text (every cell a glyph, so no blank-cell shortcut
 * flatters the figure), a few cells are marked and the pointer sits mid-screen. Each format is
 * rendered 200 times into one reused frame (as the capture loop reuses pooled frames) after a
 * short warm-up; p50, p95 and max per render are printed in milliseconds.
 *
 *   screen_bench [WIDTHxHEIGHT]        default 1920x1080
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "target/screen.h"

#define RUNS   200
#define WARMUP 10

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void type(struct ipkvm_screen *s, const char *text)
{
	for (; *text; text++)
		ipkvm_screen_char(s, (unsigned char)*text, 0);
}

static int bench(const struct ipkvm_screen *s, enum ipkvm_pixfmt fmt, const char *name)
{
	static double t[RUNS];
	int w, h;
	ipkvm_screen_mode(s, &w, &h, NULL);
	struct ipkvm_frame *f = ipkvm_frame_new(fmt, (unsigned)w, (unsigned)h, 0);
	if (!f) {
		fprintf(stderr, "out of memory\n");
		return -1;
	}
	for (int i = 0; i < WARMUP; i++)
		ipkvm_screen_render(s, f);
	for (int i = 0; i < RUNS; i++) {
		double t0 = now_ms();
		if (ipkvm_screen_render(s, f) != 0) {
			fprintf(stderr, "render failed\n");
			ipkvm_frame_unref(f);
			return -1;
		}
		t[i] = now_ms() - t0;
	}
	ipkvm_frame_unref(f);
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	printf("render %dx%d %-5s  p50 %.3f ms  p95 %.3f ms  max %.3f ms  (%d runs)\n", w, h, name,
	       t[RUNS / 2], t[RUNS * 95 / 100], t[RUNS - 1], RUNS);
	return 0;
}

int main(int argc, char **argv)
{
	struct ipkvm_screen_config cfg;
	ipkvm_screen_config_defaults(&cfg);
	if (argc > 1 && sscanf(argv[1], "%dx%d", &cfg.width, &cfg.height) != 2) {
		fprintf(stderr, "usage: %s [WIDTHxHEIGHT]\n", argv[0]);
		return 2;
	}
	cfg.autoboot_ms = 0;
	struct ipkvm_screen *s = ipkvm_screen_create(&cfg);
	if (!s)
		return 1;
	ipkvm_screen_power(s, true, 0);
	ipkvm_screen_key(s, 0x29, true, 0, 0); /* Esc: boot the internal disk */
	int rows = ipkvm_screen_rows(s), cols = ipkvm_screen_cols(s);
	/* Each unknown command fills whole lines with glyphs (the error repeats the name). */
	char cmd[IPKVM_SCREEN_INPUT_MAX + 2];
	for (int i = 0; i < rows; i++) {
		int n = 0;
		for (; n < cols * 2 && n < IPKVM_SCREEN_INPUT_MAX; n++)
			cmd[n] = (char)('!' + (i + n) % 94);
		cmd[n++] = '\n';
		cmd[n] = '\0';
		type(s, cmd);
	}
	ipkvm_screen_set_leds(s, 0x03);
	for (int i = 0; i < 8; i++) {
		ipkvm_screen_pointer(s, 100 + i * 40, 200, 1);
		ipkvm_screen_pointer(s, 100 + i * 40, 200, 0);
	}
	ipkvm_screen_pointer(s, cfg.width / 2, cfg.height / 2, 0);

	int rc = 0;
	rc |= bench(s, IPKVM_FMT_YUYV, "yuyv");
	rc |= bench(s, IPKVM_FMT_UYVY, "uyvy");
	rc |= bench(s, IPKVM_FMT_RGB24, "rgb24");
	rc |= bench(s, IPKVM_FMT_BGR24, "bgr24");
	ipkvm_screen_destroy(s);
	ipkvm_frame_pool_drain();
	return rc ? 1 : 0;
}
