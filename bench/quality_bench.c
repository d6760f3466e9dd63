/*
 * quality_bench: what the extra JPEG qualities cost (video.c: clients that want another
 * quality than the configured one, as VNC Tight clients do, get at most two more qualities,
 * encoded from the same frames by the same workers). It runs the pipeline in this process on
 * the pattern source's desktop scene (1920x1080 YUYV at 60 fps, text being typed and a
 * pointer moving: every frame changes, most of the screen stays), one watcher, quality 80,
 * and for 0, 1 and 2 extra qualities (60, then 60 and 30) measures over a window:
 *   - main images per second and JPEG images made per second at every quality (the
 *     pipeline's encode counter: the figure /api/streamer reports as encodes_per_s);
 *   - the process's CPU (% of one core, and ms per main image; the pattern's rendering and
 *     the change check are in it, the same in every run, so the differences are the extras);
 *   - the main image's latency from capture (median and 95th percentile: extras must not
 *     delay it) and each extra's delay after its frame's main image;
 *   - the mean JPEG size at each quality.
 * In process rather than through the daemon: no client of the daemon wants another quality
 * until the VNC front end is there, and the figure wanted is the pipeline's own cost.
 *
 *   quality_bench [--seconds N] [--fps N] [--workers N] [--strips N]
 * --fps: the scene's rate and max_fps (default 60); at a lower rate every extra is made even
 * on a machine busy with other work, so the CPU per frame shows what each extra costs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "video/video.h"
#include "bench_util.h"

#define MAX_SAMPLES 8192
#define WARMUP_S    2

static const int extra_q[IPKVM_VIDEO_MAX_EXTRAS] = {60, 30};

struct series {
	uint64_t last_seq;
	double ms[MAX_SAMPLES];
	size_t n;
	uint64_t images, bytes;
};

static struct {
	pthread_mutex_t lock;
	struct ipkvm_video *v;
	bool measuring;
	int nextras;
	struct series main, extra[IPKVM_VIDEO_MAX_EXTRAS];
	int64_t main_encoded_us[64]; /* when the main image of seq % 64 was done */
	uint64_t main_seq[64];
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* An image seen (a wake may cover more than one: only the newest is seen). ms < 0: no
 * delay figure for it. */
static void note(struct series *s, const struct ipkvm_video_image *img, double ms)
{
	s->last_seq = img->seq;
	if (!st.measuring)
		return;
	s->images++;
	s->bytes += img->part->len - img->jpeg_offset;
	if (ms >= 0 && s->n < MAX_SAMPLES)
		s->ms[s->n++] = ms;
}

/* Called from the encoder workers at every image published, of any quality. */
static void on_wake(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&st.lock);
	struct ipkvm_video_image img;
	if (st.v && ipkvm_video_latest(st.v, &img)) {
		if (img.seq > st.main.last_seq) {
			note(&st.main, &img, (double)(img.encoded_us - img.ts_us) / 1e3);
			st.main_seq[img.seq % 64] = img.seq;
			st.main_encoded_us[img.seq % 64] = img.encoded_us;
		}
		ipkvm_video_image_release(&img);
	}
	for (int k = 0; st.v && k < st.nextras; k++) {
		if (!ipkvm_video_latest_quality(st.v, extra_q[k], &img))
			continue;
		if (img.quality == extra_q[k] && img.seq > st.extra[k].last_seq)
			note(&st.extra[k], &img,
			     st.main_seq[img.seq % 64] == img.seq
				 ? (double)(img.encoded_us - st.main_encoded_us[img.seq % 64]) / 1e3
				 : -1);
		ipkvm_video_image_release(&img);
	}
	pthread_mutex_unlock(&st.lock);
}

static double pct(struct series *s, double p)
{
	if (!s->n)
		return 0;
	qsort(s->ms, s->n, sizeof(double), bench_cmp_double);
	return s->ms[(size_t)(p * (double)(s->n - 1))];
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run(int nextras, int seconds, unsigned fps, unsigned workers, unsigned strips)
{
	struct ipkvm_video_config cfg = {
	    .source = "pattern",
	    .pattern = {.width = 1920, .height = 1080, .fps = fps, .scene = "desktop"},
	    .quality = 80,
	    .max_fps = (int)fps,
	    .workers = workers,
	    .strips = strips,
	};
	char err[256];
	struct ipkvm_video *v = ipkvm_video_create(&cfg, on_wake, NULL, err, sizeof(err));
	if (!v) {
		fprintf(stderr, "quality_bench: %s\n", err);
		return 1;
	}
	pthread_mutex_lock(&st.lock);
	memset(&st.main, 0, sizeof(st.main));
	memset(st.extra, 0, sizeof(st.extra));
	memset(st.main_seq, 0, sizeof(st.main_seq));
	st.v = v;
	st.nextras = nextras;
	st.measuring = false;
	pthread_mutex_unlock(&st.lock);
	if (ipkvm_video_start(v) < 0) {
		fprintf(stderr, "quality_bench: cannot start the pipeline\n");
		ipkvm_video_destroy(v);
		return 1;
	}
	ipkvm_video_watch(v, 1);
	for (int k = 0; k < nextras; k++)
		ipkvm_video_want_quality(v, extra_q[k], 1);
	sleep(WARMUP_S);

	struct ipkvm_video_status s0, s1;
	pthread_mutex_lock(&st.lock);
	st.measuring = true;
	ipkvm_video_status(v, &s0);
	double c0 = cpu_s(), t0 = mono_s();
	pthread_mutex_unlock(&st.lock);
	sleep((unsigned)seconds);
	pthread_mutex_lock(&st.lock);
	st.measuring = false;
	ipkvm_video_status(v, &s1);
	double c1 = cpu_s(), t1 = mono_s();
	pthread_mutex_unlock(&st.lock);

	double span = t1 - t0, cpu = c1 - c0;
	double main_per_s = (double)st.main.images / span;
	double encodes_per_s = (double)(s1.encodes - s0.encodes) / span;
	printf("%d extra qualit%s (%s): %.1f main images/s, %.1f JPEG images/s in all (%.2f a "
	       "frame), dropped %llu\n",
	       nextras, nextras == 1 ? "y" : "ies",
	       nextras == 0   ? "q80 only"
	       : nextras == 1 ? "q80 + q60"
			      : "q80 + q60 + q30",
	       main_per_s, encodes_per_s, main_per_s > 0 ? encodes_per_s / main_per_s : 0,
	       (unsigned long long)(s1.dropped - s0.dropped));
	printf("  CPU %.0f%% of a core, %.2f ms per main image\n", 100 * cpu / span,
	       st.main.images ? 1e3 * cpu / (double)st.main.images : 0);
	printf("  main image (q80): %.0f KB, %.1f ms after capture (p95 %.1f)\n",
	       st.main.images ? (double)st.main.bytes / (double)st.main.images / 1024 : 0,
	       pct(&st.main, 0.5), pct(&st.main, 0.95));
	for (int k = 0; k < nextras; k++) {
		struct series *x = &st.extra[k];
		printf("  q%d: %.0f KB, %.1f images/s, %.1f ms after its main image (p95 %.1f)\n",
		       extra_q[k], x->images ? (double)x->bytes / (double)x->images / 1024 : 0,
		       (double)x->images / span, pct(x, 0.5), pct(x, 0.95));
	}
	fflush(stdout);
	pthread_mutex_lock(&st.lock);
	st.v = NULL;
	pthread_mutex_unlock(&st.lock);
	ipkvm_video_destroy(v);
	return 0;
}

static int int_arg(const char *name, const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi) {
		fprintf(stderr, "quality_bench: %s wants %ld to %ld\n", name, lo, hi);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int seconds = 5;
	unsigned fps = 60, workers = 0, strips = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = int_arg(argv[i], argv[i + 1], 1, 600);
			i++;
		} else if (strcmp(argv[i], "--fps") == 0 && i + 1 < argc) {
			fps = (unsigned)int_arg(argv[i], argv[i + 1], 1, 120);
			i++;
		} else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
			workers = (unsigned)int_arg(argv[i], argv[i + 1], 0, 4);
			i++;
		} else if (strcmp(argv[i], "--strips") == 0 && i + 1 < argc) {
			strips = (unsigned)int_arg(argv[i], argv[i + 1], 0, 16);
			i++;
		} else {
			fprintf(stderr,
				"usage: quality_bench [--seconds N] [--fps N] [--workers N] "
				"[--strips N]\n");
			return 2;
		}
	}
	double load[3] = {0};
	if (getloadavg(load, 3) > 0)
		printf("load average %.2f %.2f %.2f (other work skews every figure)\n", load[0],
		       load[1], load[2]);
	printf("1920x1080 YUYV desktop scene (typing) at %u fps, max_fps %u, %d s a run\n", fps,
	       fps, seconds);
	for (int n = 0; n <= IPKVM_VIDEO_MAX_EXTRAS; n++)
		if (run(n, seconds, fps, workers, strips) != 0)
			return 1;
	return 0;
}
