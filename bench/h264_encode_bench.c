/*
 * h264_encode_bench: what the H.264 encoder (video/h264.c) costs and sends for a KVM's
 * typical picture, measured without the network.
 *
 *   h264_encode_bench [--frames N] [--bitrate KBPS] [--backend B] [--out FILE]
 *
 * Scenes at 1920x1080 YUYV, timed as 60 fps (capture timestamps 16.7 ms apart, encoded as
 * fast as the machine goes):
 * - typing: a dark console where every frame adds one character (N frames, default 600);
 * - static: the last picture offered 120 more times (what an idle screen costs).
 * Printed: YUYV → I420 conversion ms p50; encode ms p50/p95 for P-frames and IDRs; bytes
 * per frame and kbit/s at 60 fps; PSNR (Y, U and V together) of every decoded picture
 * against the source, min and mean (decoded here with openh264's decoder); static bytes
 * per frame after settling. --out writes the typing stream (Annex-B) for tests/tools/h264dec.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wels/codec_api.h>

#include "core/log.h"
#include "video/draw.h"
#include "video/frame.h"
#include "video/h264.h"
#include "video/i420.h"

#define W	 1920
#define H	 1080
#define FPS	 60
#define STATIC_N 120

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of the whole process (every encoder thread): on a loaded machine wall time
 * measures the neighbours too; both are printed. */
static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

struct decoder {
	ISVCDecoder *d;
	uint8_t *ref; /* the source as I420 */
};

/* Decodes au; returns the PSNR of the picture against f, or -1 when none came out. */
static double decode_psnr(struct decoder *dc, const struct ipkvm_buf *au,
			  const struct ipkvm_frame *f)
{
	uint8_t *p[3] = {NULL, NULL, NULL};
	SBufferInfo info;
	memset(&info, 0, sizeof(info));
	if ((*dc->d)->DecodeFrameNoDelay(dc->d, au->data, (int)au->len, p, &info) != dsErrorFree ||
	    info.iBufferStatus != 1)
		return -1;
	size_t w = f->width, h = f->height, cw = w / 2, ch = h / 2;
	uint8_t *y = dc->ref, *u = y + w * h, *v = u + cw * ch;
	ipkvm_i420_from_frame(f, y, w, u, v, cw);
	int ys = info.UsrData.sSystemBuffer.iStride[0], cs = info.UsrData.sSystemBuffer.iStride[1];
	double se = 0;
	for (size_t r = 0; r < h; r++)
		for (size_t c = 0; c < w; c++) {
			int d = p[0][r * (size_t)ys + c] - y[r * w + c];
			se += d * d;
		}
	for (size_t r = 0; r < ch; r++)
		for (size_t c = 0; c < cw; c++) {
			int du = p[1][r * (size_t)cs + c] - u[r * cw + c];
			int dv = p[2][r * (size_t)cs + c] - v[r * cw + c];
			se += du * du + dv * dv;
		}
	if (se == 0)
		return 99;
	return 10 * log10(255.0 * 255.0 * (double)(w * h + 2 * cw * ch) / se);
}

int main(int argc, char **argv)
{
	int frames = 600, bitrate = 2000;
	const char *backend = "software", *outpath = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc)
			frames = atoi(argv[++i]);
		else if (strcmp(argv[i], "--bitrate") == 0 && i + 1 < argc)
			bitrate = atoi(argv[++i]);
		else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
			backend = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			outpath = argv[++i];
		else {
			fprintf(stderr, "usage: h264_encode_bench [--frames N] [--bitrate KBPS] "
					"[--backend B] [--out FILE]\n");
			return 2;
		}
	}
	if (frames < 2)
		frames = 2;
	ipkvm_log_set_level(IPKVM_LOG_WARN);

	struct ipkvm_h264_config cfg = {
	    .backend = backend, .bitrate_kbps = bitrate, .max_fps = FPS, .gop = 0};
	char err[256] = "";
	struct ipkvm_h264 *e = ipkvm_h264_create(&cfg, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "h264_encode_bench: %s\n", err);
		return 1;
	}
	FILE *out = outpath ? fopen(outpath, "wb") : NULL;
	if (outpath && !out) {
		perror(outpath);
		return 1;
	}
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, W, H, 0);
	struct decoder dc = {.ref = malloc((size_t)W * H * 3 / 2)};
	SDecodingParam dp;
	memset(&dp, 0, sizeof(dp));
	dp.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
	if (!f || !dc.ref || WelsCreateDecoder(&dc.d) != 0 || (*dc.d)->Initialize(dc.d, &dp) != 0) {
		fprintf(stderr, "h264_encode_bench: out of memory\n");
		return 1;
	}

	/* The conversion alone. */
	struct ipkvm_rgb bg = {16, 16, 24}, fg = {200, 200, 200};
	ipkvm_draw_rect(f, 0, 0, W, H, bg);
	ipkvm_draw_text(f, 8, 8, "ipkvm login: root", 1, fg, NULL);
	double conv[50], conv_cpu[50];
	for (int i = 0; i < 50; i++) {
		double t0 = now_ms(), c0 = cpu_ms();
		ipkvm_i420_from_frame(f, dc.ref, W, dc.ref + W * H, dc.ref + W * H + W * H / 4,
				      W / 2);
		conv[i] = now_ms() - t0;
		conv_cpu[i] = cpu_ms() - c0;
	}
	printf("convert YUYV->I420 1080p: wall p50 %.2f ms, CPU p50 %.2f ms\n", pct(conv, 50, 0.5),
	       pct(conv_cpu, 50, 0.5));

	struct ipkvm_frame *rgb = ipkvm_frame_new(IPKVM_FMT_RGB24, W, H, 0);
	if (rgb) {
		ipkvm_draw_rect(rgb, 0, 0, W, H, bg);
		for (int i = 0; i < 50; i++) {
			double c0 = cpu_ms();
			ipkvm_i420_from_frame(rgb, dc.ref, W, dc.ref + W * H,
					      dc.ref + W * H + W * H / 4, W / 2);
			conv_cpu[i] = cpu_ms() - c0;
		}
		printf("convert RGB24->I420 1080p: CPU p50 %.2f ms\n", pct(conv_cpu, 50, 0.5));
		ipkvm_frame_unref(rgb);
	}

	static const char text[] = "root@target:~# tail -f /var/log/syslog | grep -i usb; "
				   "dmesg --level=err,warn; systemctl status ipkvm.service ";
	double *p_ms = calloc((size_t)frames, sizeof(double));
	double *i_ms = calloc((size_t)frames, sizeof(double));
	double *p_cpu = calloc((size_t)frames, sizeof(double));
	double *i_cpu = calloc((size_t)frames, sizeof(double));
	size_t np = 0, ni = 0, bytes = 0, encoded = 0, skipped = 0, idr_bytes = 0;
	double psnr_min = 99, psnr_sum = 0;
	int cols = W / IPKVM_FONT_W - 4;
	for (int i = 0; i < frames; i++) {
		/* one more character, at the next cell (wrapping over 60 lines) */
		char ch[2] = {text[i % (sizeof(text) - 1)], 0};
		int col = i % cols, row = (i / cols) % 60;
		ipkvm_draw_text(f, 16 + col * IPKVM_FONT_W, 32 + row * IPKVM_FONT_H, ch, 1, fg,
				&bg);
		f->ts_us = 1000000 + (int64_t)i * 1000000 / FPS;
		struct ipkvm_buf *au = NULL;
		bool key = false;
		double t0 = now_ms(), c0 = cpu_ms();
		int r = ipkvm_h264_encode(e, f, false, &au, &key);
		double dt = now_ms() - t0, dc_ms = cpu_ms() - c0;
		if (r == -EAGAIN) {
			skipped++;
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "encode failed: %s\n", strerror(-r));
			return 1;
		}
		if (key) {
			i_cpu[ni] = dc_ms;
			i_ms[ni++] = dt;
			idr_bytes += au->len;
		} else {
			p_cpu[np] = dc_ms;
			p_ms[np++] = dt;
		}
		bytes += au->len;
		encoded++;
		if (out)
			fwrite(au->data, 1, au->len, out);
		double ps = decode_psnr(&dc, au, f);
		if (ps < 0) {
			fprintf(stderr, "decoding frame %d failed\n", i);
			return 1;
		}
		psnr_sum += ps;
		if (ps < psnr_min)
			psnr_min = ps;
		ipkvm_buf_unref(au);
	}
	if (out)
		fclose(out);
	double secs = (double)frames / FPS;
	printf("typing 1080p, %d frames at %d fps, target %d kbit/s (%s):\n", frames, FPS, bitrate,
	       ipkvm_h264_backend(e));
	printf("  encode P:   wall p50 %.2f ms, p95 %.2f ms; CPU p50 %.2f ms, p95 %.2f ms "
	       "(%zu frames)\n",
	       pct(p_ms, np, 0.5), pct(p_ms, np, 0.95), pct(p_cpu, np, 0.5), pct(p_cpu, np, 0.95),
	       np);
	printf("  encode IDR: wall p50 %.2f ms, CPU p50 %.2f ms (%zu frames, %zu bytes each on "
	       "average)\n",
	       pct(i_ms, ni, 0.5), pct(i_cpu, ni, 0.5), ni, ni ? idr_bytes / ni : 0);
	printf("  %zu access units, %zu skipped, %.0f bytes/frame, %.0f kbit/s "
	       "(%.0f kbit/s without the first IDR)\n",
	       encoded, skipped, (double)bytes / (double)frames, (double)bytes * 8 / secs / 1000,
	       (double)(bytes - idr_bytes) * 8 / secs / 1000);
	printf("  PSNR: min %.2f dB, mean %.2f dB\n", psnr_min,
	       encoded ? psnr_sum / (double)encoded : 0);

	/* Static: the same picture again and again. */
	size_t sbytes = 0, sframes = 0;
	for (int i = 0; i < STATIC_N; i++) {
		f->ts_us = 1000000 + (int64_t)(frames + i) * 1000000 / FPS;
		struct ipkvm_buf *au = NULL;
		bool key = false;
		int r = ipkvm_h264_encode(e, f, false, &au, &key);
		if (r == 0) {
			if (i >= STATIC_N / 2) {
				sbytes += au->len;
				sframes++;
			}
			ipkvm_buf_unref(au);
		}
	}
	printf("static 1080p: %.1f bytes/frame after settling (%zu access units in the last %d "
	       "frames) = %.1f kbit/s at %d fps if every frame were sent\n",
	       (double)sbytes / (STATIC_N / 2), sframes, STATIC_N / 2,
	       (double)sbytes * 8 / (STATIC_N / 2.0 / FPS) / 1000, FPS);

	free(p_ms);
	free(i_ms);
	free(p_cpu);
	free(i_cpu);
	free(dc.ref);
	(*dc.d)->Uninitialize(dc.d);
	WelsDestroyDecoder(dc.d);
	ipkvm_frame_unref(f);
	ipkvm_frame_pool_drain();
	ipkvm_h264_destroy(e);
	return 0;
}
