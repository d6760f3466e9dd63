/*
 * jpeg_bench: figures for video/jpeg.c on one 1920x1080 YUYV "desktop-like" frame (flat
 * background and window colours, title bars, and lines of small glyph-like text, which is
 * what a KVM mostly shows and what makes JPEG work hardest), single thread:
 *   - packed YUYV → planar 4:2:2 conversion
 *   - ipkvm_jpeg_encode at q80, 4:2:2 and 4:2:0: ms per frame (median of 50 after a
 *     warm-up) and bytes per frame
 *   - the parts of an encode: TurboJPEG planar compression alone (planes already split and
 *     range-expanded) with the fast DCT (what jpeg.c uses) and with the accurate DCT, with
 *     PSNR of each, and the copy of the JPEG into the result buffer
 *   - frame_differs on two identical frames, with the data in cache and after evicting it,
 *     next to a word-wise XOR/OR comparison for reference
 *   - frame → RGB24 and RGB24 → PNG
 *   - strip-parallel encoding (q80 4:2:2 and 4:2:0, 1, 2 and 4 strips): one thread encoding
 *     every strip and joining them (the extra work of cutting), then a pool of worker threads
 *     (one per core we may run on, at most 4, as ipkvmd makes) that take the strips of each
 *     frame as video.c's workers do, the one finishing the last strip joining them: wall time
 *     per frame (median), CPU per frame (the process's CPU time over the frames), and the
 *     thread CPU time of the busiest worker's strips plus the join (median): what the wall
 *     time is when the cores are free, a figure other work on the machine disturbs less
 * One figure a line; the load average first (other work on the machine skews every figure).
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "core/buf.h"
#include "video/frame.h"
#include "video/jpeg.h"
#include "bench_util.h"

#define W	1920
#define H	1080
#define RUNS	50
#define WARMUP	5
#define EVICT_B (256u << 20) /* more than any last-level cache we run on */

static void die(const char *what)
{
	fprintf(stderr, "jpeg_bench: %s failed\n", what);
	exit(1);
}

/* ---- the test picture ---- */

static uint32_t rng = 0x12345678;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

struct rgb {
	uint8_t r, g, b;
};

/* Full-resolution Y, U, V planes painted first; packed to YUYV at the end. */
static uint8_t py[H][W], pu[H][W], pv[H][W];

static void put_px(int x, int y, struct rgb c)
{
	if (x < 0 || y < 0 || x >= W || y >= H)
		return;
	/* BT.601 limited range, forward */
	py[y][x] = (uint8_t)(16 + (65.481 * c.r + 128.553 * c.g + 24.966 * c.b) / 255 + 0.5);
	pu[y][x] = (uint8_t)(128 + (-37.797 * c.r - 74.203 * c.g + 112.0 * c.b) / 255 + 0.5);
	pv[y][x] = (uint8_t)(128 + (112.0 * c.r - 93.786 * c.g - 18.214 * c.b) / 255 + 0.5);
}

static void fill(int x0, int y0, int w, int h, struct rgb c)
{
	for (int y = y0; y < y0 + h; y++)
		for (int x = x0; x < x0 + w; x++)
			put_px(x, y, c);
}

/* 96 random 5x8 "glyphs": as dense and irregular as small text. */
static uint8_t glyphs[96][8];

static void text(int x0, int y0, int w, int h, struct rgb fg, int line_h)
{
	for (int y = y0 + 4; y + 8 <= y0 + h; y += line_h) {
		int len = (int)(rnd() % (unsigned)(w / 6)); /* ragged right edge */
		for (int i = 0; i < len; i++) {
			if (rnd() % 7 == 0)
				continue; /* a space */
			const uint8_t *g = glyphs[rnd() % 96];
			for (int gy = 0; gy < 8; gy++)
				for (int gx = 0; gx < 5; gx++)
					if (g[gy] >> gx & 1)
						put_px(x0 + 4 + i * 6 + gx, y + gy, fg);
		}
	}
}

static void window(int x, int y, int w, int h, struct rgb title, struct rgb body, struct rgb fg)
{
	fill(x - 1, y - 1, w + 2, h + 2, (struct rgb){60, 60, 60}); /* border */
	fill(x, y, w, 24, title);
	text(x + 4, y + 4, w / 3, 16, (struct rgb){255, 255, 255}, 16);
	fill(x, y + 24, w, h - 24, body);
	text(x, y + 28, w - 8, h - 32, fg, 13);
}

static struct ipkvm_frame *desktop_frame(void)
{
	for (int i = 0; i < 96; i++)
		for (int r = 0; r < 8; r++)
			glyphs[i][r] = (uint8_t)(rnd() & 0x1F);
	fill(0, 0, W, H, (struct rgb){32, 78, 128}); /* desktop */
	for (int i = 0; i < 8; i++)		     /* icons */
		fill(24, 24 + i * 90, 48, 48, (struct rgb){(uint8_t)(i * 30), 180, 90});
	window(120, 60, 1000, 700, (struct rgb){40, 90, 200}, (struct rgb){255, 255, 255},
	       (struct rgb){20, 20, 20}); /* editor */
	window(900, 300, 900, 600, (struct rgb){50, 50, 50}, (struct rgb){12, 12, 12},
	       (struct rgb){170, 230, 170}); /* terminal */
	window(300, 820, 500, 180, (struct rgb){120, 40, 40}, (struct rgb){236, 236, 236},
	       (struct rgb){0, 0, 120});		  /* dialog */
	fill(0, H - 40, W, 40, (struct rgb){28, 28, 28}); /* task bar */
	text(60, H - 32, 900, 24, (struct rgb){230, 230, 230}, 14);

	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, W, H, 0);
	if (!f)
		die("frame_new");
	for (int y = 0; y < H; y++) {
		uint8_t *d = f->data + (size_t)y * f->stride;
		for (int x = 0; x < W; x += 2, d += 4) {
			d[0] = py[y][x];
			d[1] = (uint8_t)((pu[y][x] + pu[y][x + 1] + 1) / 2);
			d[2] = py[y][x + 1];
			d[3] = (uint8_t)((pv[y][x] + pv[y][x + 1] + 1) / 2);
		}
	}
	return f;
}

/* ---- helpers ---- */

static double psnr_rgb(const uint8_t *a, const uint8_t *b, size_t n)
{
	double se = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		se += d * d;
	}
	return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 / (se / (double)n));
}

/* The alternative to memcmp the issue suggested: XOR 64-bit words, OR them together and
 * look at the accumulator once per 16 lines. */
static int __attribute__((noinline))
xor_or_differs(const uint8_t *a, const uint8_t *b, size_t row, size_t h)
{
	size_t words = row / 8;
	for (size_t r0 = 0; r0 < h; r0 += 16) {
		uint64_t acc = 0;
		for (size_t r = r0; r < r0 + 16 && r < h; r++) {
			const uint8_t *pa = a + r * row, *pb = b + r * row;
			for (size_t i = 0; i < words; i++) {
				uint64_t x, y;
				memcpy(&x, pa + 8 * i, 8);
				memcpy(&y, pb + 8 * i, 8);
				acc |= x ^ y;
			}
		}
		if (acc)
			return 1;
	}
	return 0;
}

/* Limited → full range as jpeg.c does before compressing (here exact, in floating point),
 * so the compress-only figures below see the same planes as the real encode. */
static void expand_range(uint8_t *p, size_t n, int lo, int hi)
{
	for (size_t i = 0; i < n; i++) {
		int c = p[i] < lo ? lo : p[i] > hi ? hi : p[i];
		p[i] = (uint8_t)((c - lo) * 255.0 / (hi - lo) + 0.5);
	}
}

static uint8_t *evict_buf;

static void evict(void)
{
	memset(evict_buf, (int)(rnd() & 0xFF), EVICT_B);
}

/* ---- strips ---- */

#define MAX_POOL 4

/* A small pool shaped like video.c's: workers take the strips of the current frame one at a
 * time; the one that finishes the last strip joins them and tells the main thread. */
struct pool {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	const struct ipkvm_frame *f;
	bool s420, stop;
	unsigned n, rows, next, finished;
	uint64_t gen, done_gen;
	struct ipkvm_buf *pieces[IPKVM_JPEG_MAX_STRIPS];
	struct ipkvm_buf *out;
	/* thread CPU time of each strip's encode and of the join, ms: the longest strip plus
	 * the join is the frame's wall time on cores nobody else uses */
	double strip_cpu[IPKVM_JPEG_MAX_STRIPS], join_cpu;
	unsigned strip_worker[IPKVM_JPEG_MAX_STRIPS], next_id;
};

static double thread_cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void encode_strip(struct ipkvm_jpeg *j, const struct ipkvm_frame *f, bool s420, unsigned n,
			 unsigned rows, unsigned i, struct ipkvm_buf **out)
{
	unsigned r0 = i * rows, h = i == n - 1 ? f->height - r0 : rows;
	int r = n == 1 ? ipkvm_jpeg_encode(j, f, 80, s420, out)
		       : ipkvm_jpeg_encode_rows(j, f, r0, h, 80, s420, out);
	if (r != 0)
		die("strip encode");
}

static struct ipkvm_buf *join_strips(struct ipkvm_buf **pieces, unsigned n)
{
	struct ipkvm_buf *out = NULL;
	if (n == 1) {
		out = pieces[0];
	} else {
		if (ipkvm_jpeg_join(pieces, n, &out) != 0)
			die("join");
		for (unsigned i = 0; i < n; i++)
			ipkvm_buf_unref(pieces[i]);
	}
	for (unsigned i = 0; i < n; i++)
		pieces[i] = NULL;
	return out;
}

static void *pool_main(void *arg)
{
	struct pool *p = arg;
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	if (!j)
		die("ipkvm_jpeg_create");
	pthread_mutex_lock(&p->lock);
	unsigned id = p->next_id++;
	while (!p->stop) {
		if (p->next >= p->n) {
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		unsigned i = p->next++;
		pthread_mutex_unlock(&p->lock);
		struct ipkvm_buf *b = NULL;
		double c0 = thread_cpu_ms();
		encode_strip(j, p->f, p->s420, p->n, p->rows, i, &b);
		double c1 = thread_cpu_ms();
		pthread_mutex_lock(&p->lock);
		p->pieces[i] = b;
		p->strip_cpu[i] = c1 - c0;
		p->strip_worker[i] = id;
		if (++p->finished < p->n)
			continue;
		pthread_mutex_unlock(&p->lock);
		struct ipkvm_buf *out = join_strips(p->pieces, p->n);
		double c2 = thread_cpu_ms();
		pthread_mutex_lock(&p->lock);
		p->join_cpu = c2 - c1;
		p->out = out;
		p->done_gen = p->gen;
		pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	ipkvm_jpeg_destroy(j);
	return NULL;
}

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void bench_strips(const struct ipkvm_frame *f, struct ipkvm_jpeg *j)
{
	double t[RUNS];
	static const unsigned counts[] = {1, 2, 4};
	cpu_set_t cpus; /* the cores we may run on (taskset), as ipkvmd counts them */
	long cores = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus)
								    : sysconf(_SC_NPROCESSORS_ONLN);
	unsigned nw = cores < 1 ? 1 : cores > MAX_POOL ? MAX_POOL : (unsigned)cores;

	for (int s420 = 0; s420 <= 1; s420++) {
		const char *name = s420 ? "4:2:0" : "4:2:2";
		for (size_t c = 0; c < 3; c++) {
			unsigned rows, n = ipkvm_jpeg_strip_plan(W, H, s420, counts[c], &rows);
			size_t len = 0;
			for (int i = -WARMUP; i < RUNS; i++) {
				struct ipkvm_buf *pieces[IPKVM_JPEG_MAX_STRIPS];
				double t0 = bench_mono_ms();
				for (unsigned k = 0; k < n; k++)
					encode_strip(j, f, s420, n, rows, k, &pieces[k]);
				struct ipkvm_buf *out = join_strips(pieces, n);
				if (i >= 0)
					t[i] = bench_mono_ms() - t0;
				len = out->len;
				ipkvm_buf_unref(out);
			}
			printf("strips q80 %s, %u strip(s) of %u rows, one thread: %.3f ms/frame, "
			       "%zu bytes\n",
			       name, n, rows, bench_median(t, RUNS), len);
		}
	}

	/* the join alone: 2 strips of 4:2:2 */
	{
		unsigned rows, n = ipkvm_jpeg_strip_plan(W, H, false, 2, &rows);
		struct ipkvm_buf *pieces[IPKVM_JPEG_MAX_STRIPS];
		for (unsigned k = 0; k < n; k++)
			encode_strip(j, f, false, n, rows, k, &pieces[k]);
		for (int i = -WARMUP; i < RUNS; i++) {
			struct ipkvm_buf *out = NULL;
			double t0 = bench_mono_ms();
			if (ipkvm_jpeg_join(pieces, n, &out) != 0)
				die("join");
			if (i >= 0)
				t[i] = bench_mono_ms() - t0;
			ipkvm_buf_unref(out);
		}
		printf("join of %u strips (q80 4:2:2) into one JPEG: %.3f ms\n", n,
		       bench_median(t, RUNS));
		for (unsigned k = 0; k < n; k++)
			ipkvm_buf_unref(pieces[k]);
	}

	struct pool p = {.f = f};
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.work, NULL);
	pthread_cond_init(&p.done, NULL);
	pthread_t th[MAX_POOL];
	for (unsigned i = 0; i < nw; i++)
		if (pthread_create(&th[i], NULL, pool_main, &p) != 0)
			die("pthread_create");
	for (int s420 = 0; s420 <= 1; s420++) {
		const char *name = s420 ? "4:2:0" : "4:2:2";
		for (size_t c = 0; c < 3; c++) {
			unsigned rows, n = ipkvm_jpeg_strip_plan(W, H, s420, counts[c], &rows);
			double cpu = 0, crit[RUNS];
			for (int i = -WARMUP; i < RUNS; i++) {
				double c0 = cpu_ms(), t0 = bench_mono_ms();
				pthread_mutex_lock(&p.lock);
				p.s420 = s420;
				p.n = n;
				p.rows = rows;
				p.next = p.finished = 0;
				uint64_t gen = ++p.gen;
				pthread_cond_broadcast(&p.work);
				while (p.done_gen != gen)
					pthread_cond_wait(&p.done, &p.lock);
				struct ipkvm_buf *out = p.out;
				p.out = NULL;
				pthread_mutex_unlock(&p.lock);
				if (i >= 0) {
					t[i] = bench_mono_ms() - t0;
					cpu += cpu_ms() - c0;
					/* the busiest worker's strips, then the join */
					double per[MAX_POOL] = {0}, longest = 0;
					for (unsigned k = 0; k < n; k++)
						per[p.strip_worker[k]] += p.strip_cpu[k];
					for (unsigned k = 0; k < nw; k++)
						if (per[k] > longest)
							longest = per[k];
					crit[i] = longest + p.join_cpu;
				}
				ipkvm_buf_unref(out);
			}
			printf("strips q80 %s, %u strip(s), %u worker threads: %.3f ms/frame wall, "
			       "%.3f ms CPU/frame, busiest worker + join %.3f ms (thread CPU)\n",
			       name, n, nw, bench_median(t, RUNS), cpu / RUNS,
			       bench_median(crit, RUNS));
		}
	}
	pthread_mutex_lock(&p.lock);
	p.stop = true;
	pthread_cond_broadcast(&p.work);
	pthread_mutex_unlock(&p.lock);
	for (unsigned i = 0; i < nw; i++)
		pthread_join(th[i], NULL);
}

int main(void)
{
	double t[RUNS];
	struct ipkvm_frame *f = desktop_frame();
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	size_t cw = W / 2;
	uint8_t *y = malloc((size_t)W * H), *u = malloc(cw * H), *v = malloc(cw * H);
	uint8_t *rgb = malloc((size_t)W * H * 3), *dec = malloc((size_t)W * H * 3);
	evict_buf = malloc(EVICT_B);
	if (!j || !y || !u || !v || !rgb || !dec || !evict_buf)
		die("allocation");
	double load[3] = {0};
	if (getloadavg(load, 3) < 0)
		load[0] = load[1] = load[2] = -1;
	printf("load average: %.2f %.2f %.2f, %ld cores\n", load[0], load[1], load[2],
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("frame: %dx%d YUYV desktop-like, single thread, median of %d after %d warm-up\n", W,
	       H, RUNS, WARMUP);

	/* planar conversion */
	for (int i = -WARMUP; i < RUNS; i++) {
		double t0 = bench_mono_ms();
		ipkvm_yuyv_to_planar422(f->data, f->stride, W, H, false, y, u, v);
		if (i >= 0)
			t[i] = bench_mono_ms() - t0;
	}
	printf("YUYV -> planar 4:2:2 (in cache): %.3f ms\n", bench_median(t, RUNS));
	for (int i = 0; i < RUNS; i++) {
		evict();
		double t0 = bench_mono_ms();
		ipkvm_yuyv_to_planar422(f->data, f->stride, W, H, false, y, u, v);
		t[i] = bench_mono_ms() - t0;
	}
	printf("YUYV -> planar 4:2:2 (source not in cache): %.3f ms\n", bench_median(t, RUNS));

	/* the public encode, both subsamplings */
	ipkvm_frame_to_rgb24(f, rgb);
	for (int s420 = 0; s420 <= 1; s420++) {
		struct ipkvm_buf *b = NULL;
		for (int i = -WARMUP; i < RUNS; i++) {
			ipkvm_buf_unref(b);
			double t0 = bench_mono_ms();
			if (ipkvm_jpeg_encode(j, f, 80, s420, &b) != 0)
				die("encode");
			if (i >= 0)
				t[i] = bench_mono_ms() - t0;
		}
		const char *name = s420 ? "4:2:0" : "4:2:2";
		printf("encode q80 %s: %.3f ms/frame\n", name, bench_median(t, RUNS));
		printf("encode q80 %s: %zu bytes/frame\n", name, b->len);
		tjhandle d = tjInitDecompress();
		if (!d || tjDecompress2(d, b->data, b->len, dec, W, 0, H, TJPF_RGB, 0) != 0)
			die("decompress");
		tjDestroy(d);
		printf("encode q80 %s: PSNR %.2f dB (RGB, vs the source)\n", name,
		       psnr_rgb(rgb, dec, (size_t)W * H * 3));
		if (!s420) {
			for (int i = 0; i < RUNS; i++) {
				double t0 = bench_mono_ms();
				struct ipkvm_buf *c = ipkvm_buf_copy(b->data, b->len);
				t[i] = bench_mono_ms() - t0;
				ipkvm_buf_unref(c);
			}
			printf("copy of the JPEG into its result buffer: %.3f ms\n",
			       bench_median(t, RUNS));
		}
		ipkvm_buf_unref(b);
	}

	/* TurboJPEG alone, fast vs accurate DCT */
	tjhandle tj = tjInitCompress();
	unsigned long cap = tjBufSize(W, H, TJSAMP_422);
	unsigned char *jb = tjAlloc((int)cap);
	if (!tj || !jb)
		die("tjInitCompress");
	ipkvm_yuyv_to_planar422(f->data, f->stride, W, H, false, y, u, v);
	expand_range(y, (size_t)W * H, 16, 235);
	expand_range(u, cw * H, 16, 240);
	expand_range(v, cw * H, 16, 240);
	const unsigned char *planes[3] = {y, u, v};
	int strides[3] = {W, W / 2, W / 2};
	const int dct_flags[2] = {TJFLAG_FASTDCT, TJFLAG_ACCURATEDCT};
	for (int k = 0; k < 2; k++) {
		unsigned long len = cap;
		for (int i = -WARMUP; i < RUNS; i++) {
			double t0 = bench_mono_ms();
			if (tjCompressFromYUVPlanes(tj, planes, W, strides, H, TJSAMP_422, &jb,
						    &len, 80, TJFLAG_NOREALLOC | dct_flags[k]))
				die("tjCompressFromYUVPlanes");
			if (i >= 0)
				t[i] = bench_mono_ms() - t0;
		}
		tjhandle d = tjInitDecompress();
		if (!d || tjDecompress2(d, jb, len, dec, W, 0, H, TJPF_RGB, 0) != 0)
			die("decompress");
		tjDestroy(d);
		printf("TurboJPEG planar compress only, q80 4:2:2, %s DCT: %.3f ms, %lu bytes, "
		       "PSNR %.2f dB\n",
		       k ? "accurate" : "fast (as jpeg.c)", bench_median(t, RUNS), len,
		       psnr_rgb(rgb, dec, (size_t)W * H * 3));
	}
	tjFree(jb);
	tjDestroy(tj);

	/* change detection on two identical frames */
	struct ipkvm_frame *g = ipkvm_frame_new(IPKVM_FMT_YUYV, W, H, 0);
	if (!g)
		die("frame_new");
	memcpy(g->data, f->data, f->size);
	for (int i = -WARMUP; i < RUNS; i++) {
		double t0 = bench_mono_ms();
		if (ipkvm_frame_differs(f, g))
			die("frame_differs");
		if (i >= 0)
			t[i] = bench_mono_ms() - t0;
	}
	printf("frame_differs, identical frames (in cache): %.3f ms\n", bench_median(t, RUNS));
	for (int i = 0; i < RUNS; i++) {
		evict();
		double t0 = bench_mono_ms();
		if (ipkvm_frame_differs(f, g))
			die("frame_differs");
		t[i] = bench_mono_ms() - t0;
	}
	printf("frame_differs, identical frames (not in cache): %.3f ms\n", bench_median(t, RUNS));
	for (int i = -WARMUP; i < RUNS; i++) {
		double t0 = bench_mono_ms();
		if (xor_or_differs(f->data, g->data, f->stride, H))
			die("xor_or_differs");
		if (i >= 0)
			t[i] = bench_mono_ms() - t0;
	}
	printf("64-bit XOR/OR compare, identical frames (in cache, for reference): %.3f ms\n",
	       bench_median(t, RUNS));

	/* RGB and PNG */
	for (int i = -WARMUP; i < RUNS; i++) {
		double t0 = bench_mono_ms();
		ipkvm_frame_to_rgb24(f, rgb);
		if (i >= 0)
			t[i] = bench_mono_ms() - t0;
	}
	printf("YUYV frame -> RGB24: %.3f ms\n", bench_median(t, RUNS));
	size_t png_len = 0;
	for (int i = -WARMUP; i < RUNS; i++) {
		struct ipkvm_buf *b;
		double t0 = bench_mono_ms();
		if (ipkvm_png_encode_rgb24(rgb, W, H, &b) != 0)
			die("png");
		if (i >= 0)
			t[i] = bench_mono_ms() - t0;
		png_len = b->len;
		ipkvm_buf_unref(b);
	}
	printf("RGB24 -> PNG (stored): %.3f ms, %zu bytes\n", bench_median(t, RUNS), png_len);

	bench_strips(f, j);

	ipkvm_frame_unref(g);
	ipkvm_frame_unref(f);
	ipkvm_jpeg_destroy(j);
	free(y);
	free(u);
	free(v);
	free(rgb);
	free(dec);
	free(evict_buf);
	return 0;
}
