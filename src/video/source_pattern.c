/*
 * source_pattern: the synthetic source (see source_pattern.h).
 *
 * Pacing comes from a periodic CLOCK_MONOTONIC timerfd, which is also the fd the capture
 * thread polls, so this source behaves like a device: POLLIN when a frame is due. next()
 * reads the number of expirations and advances seq by it, so when the consumer falls behind
 * frames are skipped (seq shows the gap), never rendered late.
 *
 * Every frame is a new ipkvm_frame (earlier ones may still be with encoders or clients), but
 * rendering is cheap: a private "cache" frame holds everything that does not move, each frame
 * starts as a memcpy of it and only the moving parts are drawn on top (clock, box, pointer,
 * cursor, seq). The desktop's terminal text is persistent state, so new characters are drawn
 * into the cache itself (and the terminal scrolls there), never re-rendered per frame.
 * The static scene is the cache itself: its frames are lent (borrowed views of the cache,
 * frame.h), as a capture device lends its buffers, so a still picture costs a compare and
 * no copy.
 *
 * Animation is driven by the frame count (seq / fps seconds), so it is smooth and repeatable
 * whatever the timing; only the testcard clock shows wall-clock time, so that a picture in
 * the browser can be compared with a real clock to see the end-to-end latency.
 *
 * Lifecycle: create (checks and copies the config) → open (timerfd, cache) → start (arms the
 * timer) → next... → stop (disarms) → close (frees fd and cache) → destroy. next() outside
 * start..stop returns -EAGAIN, as does a next() with no expiration pending. seq keeps
 * counting across stop/start, so it never repeats within one source.
 */
#define LOG_TAG "pattern"
#include "video/source_pattern.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "video/draw.h"

#define DEF_W	 1920
#define DEF_H	 1080
#define DEF_FPS	 60
#define TYPE_MS	 100 /* one character typed per TYPE_MS */
#define BLINK_MS 500

enum scene {
	SCENE_TESTCARD,
	SCENE_DESKTOP,
	SCENE_STATIC,
};

static const char *const scene_names[] = {"testcard", "desktop", "static"};

/* The desktop's terminal: text area in pixels and the cursor, in cells. */
struct term {
	int x, y;	/* top-left of the text area (x even) */
	int cols, rows; /* cells */
	int cx, cy;	/* cursor cell */
	size_t pos;	/* next character of the script */
	uint64_t typed; /* characters typed since the cache was built (plus the start offset) */
};

struct pattern {
	struct ipkvm_source src;
	unsigned width, height, fps;
	enum ipkvm_pixfmt format;
	enum scene scene;
	int tfd;
	bool started;
	uint64_t seq;		   /* timer expirations so far = seq of the last frame */
	struct ipkvm_frame *cache; /* the still parts; only lent (static scene), never handed out */
	struct ipkvm_frame view;   /* the static scene's lent frame */
	struct term term;
	int seq_scale;
	/* testcard geometry */
	int band_y, band_h, clock_y, clock_scale;
};

/* What the terminal "types", cycled forever. */
static const char script[] =
    "$ echo \"hello from the ipkvm test pattern\"\n"
    "hello from the ipkvm test pattern\n"
    "$ cat notes.txt\n"
    "This screen is synthetic: ipkvm draws it itself, so the whole video path can be "
    "tested without a capture device. Characters appear at about ten per second, the "
    "pointer wanders around, and the number in the top-left corner is the frame's sequence "
    "number, so a picture in the browser can be matched with the frame that produced it. "
    "Everything else stays still, like a real console session, which keeps the encoders "
    "and the network mostly idle.\n"
    "$ uptime\n"
    " 10:24:07 up 3 days,  4:05,  1 user,  load average: 0.08, 0.03, 0.01\n"
    "$ ls\n"
    "Documents  Downloads  Music  Pictures  ipkvm.ini  notes.txt\n"
    "$ sleep 2; date +%T\n"
    "10:24:31\n"
    "$ \n";

static const struct ipkvm_rgb C_BLACK = {0, 0, 0};
static const struct ipkvm_rgb C_WHITE = {255, 255, 255};
static const struct ipkvm_rgb C_TERM_BG = {20, 22, 26};
static const struct ipkvm_rgb C_TERM_FG = {204, 220, 204};

static int even(int v)
{
	return v & ~1;
}

/* Milliseconds of animation time at frame seq. */
static uint64_t anim_ms(const struct pattern *p, uint64_t seq)
{
	return seq * 1000 / p->fps;
}

static void draw_seq(const struct pattern *p, struct ipkvm_frame *f)
{
	char buf[32];
	/* Fixed width so the box does not change size as the number grows. */
	snprintf(buf, sizeof(buf), " seq %-10llu ", (unsigned long long)f->seq);
	ipkvm_draw_text(f, 0, 0, buf, p->seq_scale, C_WHITE, &C_BLACK);
}

/* ---- testcard / static ---------------------------------------------------------------- */

static void build_testcard(struct pattern *p, struct ipkvm_frame *c)
{
	static const struct ipkvm_rgb bars[7] = {
	    {191, 191, 191}, {191, 191, 0}, {0, 191, 191}, {0, 191, 0},
	    {191, 0, 191},   {191, 0, 0},   {0, 0, 191},
	};
	int W = (int)p->width, H = (int)p->height;
	int bars_h = H * 60 / 100, ramp_h = H / 10;
	p->band_y = bars_h + ramp_h;
	p->band_h = even(H / 10) > 2 ? even(H / 10) : 2;
	p->clock_y = p->band_y + p->band_h;
	for (int i = 0; i < 7; i++) {
		int x0 = even(i * W / 7), x1 = even((i + 1) * W / 7);
		if (i == 6)
			x1 = W;
		ipkvm_draw_rect(c, x0, 0, x1 - x0, bars_h, bars[i]);
	}
	for (int i = 0; i < 8; i++) {
		int x0 = even(i * W / 8), x1 = i == 7 ? W : even((i + 1) * W / 8);
		uint8_t v = (uint8_t)(i * 255 / 7);
		ipkvm_draw_rect(c, x0, bars_h, x1 - x0, ramp_h, (struct ipkvm_rgb){v, v, v});
	}
	ipkvm_draw_rect(c, 0, p->band_y, W, p->band_h, (struct ipkvm_rgb){8, 8, 8});
	ipkvm_draw_rect(c, 0, p->clock_y, W, H - p->clock_y, (struct ipkvm_rgb){28, 28, 32});

	int s = W / 320;
	p->clock_scale = s < 1 ? 1 : s > 6 ? 6 : s;
	while (p->clock_scale > 1 && IPKVM_FONT_H * p->clock_scale > H - p->clock_y)
		p->clock_scale--;

	char label[96];
	snprintf(label, sizeof(label), "ipkvm %s %ux%u@%u %s", scene_names[p->scene], p->width,
		 p->height, p->fps, ipkvm_pixfmt_name(p->format));
	int ls = W >= 1280 ? 2 : 1, lw, lh;
	ipkvm_text_size(label, ls, &lw, &lh);
	ipkvm_draw_text(c, even(W - lw - 8 * ls), H - lh - 4 * ls, label, ls,
			(struct ipkvm_rgb){150, 150, 160}, NULL);
}

static void draw_testcard(const struct pattern *p, struct ipkvm_frame *f)
{
	int W = (int)p->width;
	/* The box bounces across the band, one way per 2 s. */
	int bs = p->band_h, span = W - bs > 0 ? W - bs : 0;
	uint64_t ms = anim_ms(p, f->seq) % 4000;
	int x = (int)((ms < 2000 ? ms : 4000 - ms) * (uint64_t)span / 2000);
	ipkvm_draw_rect(f, even(x), p->band_y, bs, bs, C_WHITE);

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	char clk[32];
	snprintf(clk, sizeof(clk), "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts.tv_nsec / 1000000);
	int cw, ch;
	ipkvm_text_size(clk, p->clock_scale, &cw, &ch);
	int cy = p->clock_y + ((int)p->height - p->clock_y - ch) / 2;
	ipkvm_draw_text(f, even(((int)p->width - cw) / 2), cy, clk, p->clock_scale, C_WHITE, NULL);
	draw_seq(p, f);
}

/* ---- desktop ---------------------------------------------------------------------------- */

static void draw_window(struct ipkvm_frame *c, int x, int y, int w, int h, const char *title,
			struct ipkvm_rgb body)
{
	int bar = IPKVM_FONT_H + 8;
	ipkvm_draw_rect(c, x - 2, y - 2, w + 4, h + 4, (struct ipkvm_rgb){10, 12, 16}); /* border */
	ipkvm_draw_rect(c, x, y, w, bar, (struct ipkvm_rgb){58, 62, 72});
	ipkvm_draw_text(c, x + 10, y + 4, title, 1, (struct ipkvm_rgb){220, 222, 228}, NULL);
	/* three buttons on the right */
	static const struct ipkvm_rgb btn[3] = {{110, 114, 124}, {110, 114, 124}, {214, 88, 72}};
	for (int i = 0; i < 3; i++)
		ipkvm_draw_rect(c, x + w - 24 * (3 - i) + 6, y + 6, 12, 12, btn[i]);
	ipkvm_draw_rect(c, x, y + bar, w, h - bar, body);
}

static void build_desktop(struct pattern *p, struct ipkvm_frame *c)
{
	int W = (int)p->width, H = (int)p->height;
	/* Wallpaper: a vertical gradient (drawn once, so the per-row cost does not matter). */
	for (int y = 0; y < H; y++) {
		int t = H > 1 ? y * 256 / (H - 1) : 0;
		struct ipkvm_rgb col = {(uint8_t)(30 - t * 16 / 256), (uint8_t)(70 - t * 36 / 256),
					(uint8_t)(110 - t * 50 / 256)};
		ipkvm_draw_rect(c, 0, y, W, 1, col);
	}
	/* Top panel with a title and a few tray icons. */
	int panel = IPKVM_FONT_H + 8;
	ipkvm_draw_rect(c, 0, 0, W, panel, (struct ipkvm_rgb){24, 26, 30});
	const char *name = "ipkvm test desktop";
	int nw, nh;
	ipkvm_text_size(name, 1, &nw, &nh);
	ipkvm_draw_text(c, even((W - nw) / 2), 4, name, 1, (struct ipkvm_rgb){200, 204, 212}, NULL);
	for (int i = 0; i < 3; i++)
		ipkvm_draw_rect(c, W - 24 * (i + 1), 6, 12, 12, (struct ipkvm_rgb){120, 160, 200});
	/* Dock at the bottom. */
	int dock_w = even(W / 3), dock_h = 40;
	ipkvm_draw_rect(c, even((W - dock_w) / 2), H - dock_h - 6, dock_w, dock_h,
			(struct ipkvm_rgb){36, 40, 48});
	static const struct ipkvm_rgb icon[5] = {
	    {220, 120, 60}, {80, 170, 90}, {70, 130, 220}, {200, 190, 80}, {160, 90, 190}};
	for (int i = 0; i < 5; i++)
		ipkvm_draw_rect(c, even((W - dock_w) / 2) + 12 + i * 40, H - dock_h, 28, 28,
				icon[i]);

	/* A file-manager-like window behind the terminal. */
	int fx = even(W * 6 / 100), fy = H * 12 / 100, fw = even(W * 34 / 100), fh = H * 52 / 100;
	draw_window(c, fx, fy, fw, fh, "Files", (struct ipkvm_rgb){236, 236, 238});
	ipkvm_draw_rect(c, fx, fy + 24, even(fw / 4), fh - 24, (struct ipkvm_rgb){218, 220, 226});
	static const char *const files[] = {"Documents", "Downloads", "Music",
					    "Pictures",	 "ipkvm.ini", "notes.txt"};
	for (int i = 0; i < 6; i++) {
		int ry = fy + 36 + i * 24, rx = fx + even(fw / 4) + 12;
		ipkvm_draw_rect(c, rx, ry, 16, 16,
				i < 4 ? (struct ipkvm_rgb){96, 150, 220}
				      : (struct ipkvm_rgb){180, 184, 190});
		ipkvm_draw_text(c, rx + 24, ry, files[i], 1, (struct ipkvm_rgb){40, 42, 48}, NULL);
	}

	/* The terminal. */
	int tx = even(W * 32 / 100), ty = H * 24 / 100, tw = even(W * 62 / 100), th = H * 64 / 100;
	draw_window(c, tx, ty, tw, th, "Terminal - user@target: ~", C_TERM_BG);
	struct term *t = &p->term;
	t->x = tx + 8;
	t->y = ty + 24 + 6;
	t->cols = (tw - 16) / IPKVM_FONT_W;
	t->rows = (th - 24 - 12) / IPKVM_FONT_H;
	if (t->cols < 1)
		t->cols = 1;
	if (t->rows < 1)
		t->rows = 1;
	t->cx = t->cy = 0;
	t->pos = 0;
	/* Start typing from now: a rebuilt cache must not replay everything since creation. */
	t->typed = anim_ms(p, p->seq) / TYPE_MS;
}

static void term_newline(struct pattern *p, struct ipkvm_frame *c)
{
	struct term *t = &p->term;
	t->cx = 0;
	if (++t->cy < t->rows)
		return;
	/* Scroll the text area up by one line inside the cache. */
	unsigned bpp = ipkvm_pixfmt_bpp(c->format);
	long long x0 = t->x, x1 = (long long)t->x + (long long)t->cols * IPKVM_FONT_W;
	if (x1 > (long long)c->width)
		x1 = c->width;
	int last = t->y + (t->rows - 1) * IPKVM_FONT_H;
	if (x0 < x1) {
		for (int y = t->y; y < last && y + IPKVM_FONT_H < (int)c->height; y++) {
			if (y < 0)
				continue;
			uint8_t *dst = c->data + (size_t)y * c->stride + (size_t)x0 * bpp;
			memcpy(dst, dst + IPKVM_FONT_H * c->stride, (size_t)(x1 - x0) * bpp);
		}
	}
	ipkvm_draw_rect(c, t->x, last, t->cols * IPKVM_FONT_W, IPKVM_FONT_H, C_TERM_BG);
	t->cy = t->rows - 1;
}

/* Length of the word starting at script[pos] (up to a space or newline, wrapping around). */
static int word_len(size_t pos)
{
	int n = 0;
	for (;;) {
		char ch = script[(pos + (size_t)n) % (sizeof(script) - 1)];
		if (ch == ' ' || ch == '\n' || n > 200)
			return n;
		n++;
	}
}

static void term_type(struct pattern *p, struct ipkvm_frame *c)
{
	struct term *t = &p->term;
	size_t len = sizeof(script) - 1;
	char ch = script[t->pos];
	t->pos = (t->pos + 1) % len;
	if (ch == '\n') {
		term_newline(p, c);
		return;
	}
	/* Word wrap: a space before a word that no longer fits becomes the line break. */
	if (ch == ' ' && t->cx > 0 && t->cx + 1 + word_len(t->pos) > t->cols) {
		term_newline(p, c);
		return;
	}
	if (t->cx >= t->cols)
		term_newline(p, c);
	char s[2] = {ch, 0};
	ipkvm_draw_text(c, t->x + t->cx * IPKVM_FONT_W, t->y + t->cy * IPKVM_FONT_H, s, 1,
			C_TERM_FG, &C_TERM_BG);
	t->cx++;
}

static void draw_pointer(struct ipkvm_frame *f, int x, int y)
{
	for (int r = 0; r < IPKVM_POINTER_H; r++) {
		const char *row = ipkvm_pointer_art[r];
		for (int i = 0; row[i];) {
			int j = i;
			while (row[j] == row[i])
				j++;
			if (row[i] != '.')
				ipkvm_draw_rect(f, x + i, y + r, j - i, 1,
						row[i] == 'X' ? C_BLACK : C_WHITE);
			i = j;
		}
	}
}

static void draw_desktop(struct pattern *p, struct ipkvm_frame *f)
{
	struct term *t = &p->term;
	uint64_t ms = anim_ms(p, f->seq);

	/* Type what is due into the cache (bounded: after a long stall, skip ahead). */
	uint64_t due = ms / TYPE_MS, cap = (uint64_t)t->cols * (uint64_t)t->rows;
	if (due > t->typed + cap)
		t->typed = due - cap;
	for (; t->typed < due; t->typed++)
		term_type(p, p->cache);
	memcpy(f->data, p->cache->data, f->size);

	/* Blinking block cursor. */
	if ((ms / BLINK_MS) % 2 == 0) {
		int cx = t->cx < t->cols ? t->cx : t->cols - 1;
		ipkvm_draw_rect(f, t->x + cx * IPKVM_FONT_W, t->y + t->cy * IPKVM_FONT_H,
				IPKVM_FONT_W, IPKVM_FONT_H, C_TERM_FG);
	}
	/* The pointer follows a slow Lissajous path. */
	double s = (double)ms / 1000.0;
	int px = (int)(p->width * (0.5 + 0.38 * sin(s * 0.7)));
	int py = (int)(p->height * (0.5 + 0.36 * sin(s * 1.1 + 0.6)));
	draw_pointer(f, px, py);
	draw_seq(p, f);
}

/* ---- source ops ------------------------------------------------------------------------- */

static int pattern_open(struct ipkvm_source *s)
{
	struct pattern *p = s->priv;
	int ret = 0;
	if (p->tfd >= 0)
		return 0;
	p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p->tfd < 0) {
		ret = -errno;
		LOG_ERROR("timerfd_create: %s", strerror(-ret));
		goto out;
	}
	p->cache = ipkvm_frame_new(p->format, p->width, p->height, 0);
	if (!p->cache) {
		ret = -ENOMEM;
		goto out;
	}
	if (p->scene == SCENE_DESKTOP)
		build_desktop(p, p->cache);
	else
		build_testcard(p, p->cache);
	LOG_DEBUG("opened %s %ux%u@%u %s", scene_names[p->scene], p->width, p->height, p->fps,
		  ipkvm_pixfmt_name(p->format));
out:
	if (ret < 0 && p->tfd >= 0) {
		close(p->tfd);
		p->tfd = -1;
	}
	return ret;
}

static int set_timer(struct pattern *p, bool on)
{
	struct itimerspec its = {0};
	if (on) {
		long ns = 1000000000L / (long)p->fps;
		its.it_interval.tv_sec = ns / 1000000000L;
		its.it_interval.tv_nsec = ns % 1000000000L;
		its.it_value = its.it_interval; /* first frame one period after start */
	}
	if (timerfd_settime(p->tfd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

static int pattern_start(struct ipkvm_source *s)
{
	struct pattern *p = s->priv;
	if (p->tfd < 0)
		return -EBADF;
	int ret = set_timer(p, true);
	if (ret < 0) {
		LOG_ERROR("timerfd_settime: %s", strerror(-ret));
		return ret;
	}
	p->started = true;
	return 0;
}

static int pattern_fd(struct ipkvm_source *s)
{
	struct pattern *p = s->priv;
	return p->tfd;
}

static int pattern_next(struct ipkvm_source *s, struct ipkvm_frame **out)
{
	struct pattern *p = s->priv;
	uint64_t n = 0;
	*out = NULL;
	if (!p->started)
		return -EAGAIN;
	ssize_t r = read(p->tfd, &n, sizeof(n));
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	if (r != (ssize_t)sizeof(n) || n == 0)
		return -EAGAIN;
	/* Overruns: jump ahead by all expirations; only the newest frame is rendered. */
	p->seq += n;
	if (p->scene == SCENE_STATIC) {
		p->view = *p->cache;
		atomic_init(&p->view.refs, 0);
		p->view.borrowed = true;
		p->view.seq = p->seq;
		p->view.ts_us = ipkvm_mono_us();
		*out = &p->view;
		return 0;
	}
	struct ipkvm_frame *f = ipkvm_frame_new(p->format, p->width, p->height, 0);
	if (!f)
		return -ENOMEM;
	f->seq = p->seq;
	switch (p->scene) {
	case SCENE_DESKTOP:
		draw_desktop(p, f); /* copies the cache itself, after typing into it */
		break;
	case SCENE_TESTCARD:
		memcpy(f->data, p->cache->data, f->size);
		draw_testcard(p, f);
		break;
	case SCENE_STATIC: /* lent above */
		break;
	}
	f->ts_us = ipkvm_mono_us();
	*out = f;
	return 0;
}

static void pattern_release(struct ipkvm_source *s, struct ipkvm_frame *f)
{
	(void)s; /* the cache changes only at open */
	(void)f;
}

static void pattern_stop(struct ipkvm_source *s)
{
	struct pattern *p = s->priv;
	if (p->started && p->tfd >= 0)
		set_timer(p, false); /* disarming also clears pending expirations */
	p->started = false;
}

static void pattern_close(struct ipkvm_source *s)
{
	struct pattern *p = s->priv;
	pattern_stop(s);
	if (p->tfd >= 0)
		close(p->tfd);
	p->tfd = -1;
	ipkvm_frame_unref(p->cache);
	p->cache = NULL;
}

static void pattern_signal(struct ipkvm_source *s, struct ipkvm_signal_info *out)
{
	struct pattern *p = s->priv;
	memset(out, 0, sizeof(*out));
	out->state = IPKVM_SIGNAL_OK;
	out->capture = IPKVM_CAPTURE_PATTERN;
	out->width = p->width;
	out->height = p->height;
	out->fps = p->fps;
	snprintf(out->reason, sizeof(out->reason), "synthetic pattern \"%s\" %ux%u@%u %s",
		 scene_names[p->scene], p->width, p->height, p->fps, ipkvm_pixfmt_name(p->format));
}

static void pattern_destroy(struct ipkvm_source *s)
{
	if (!s)
		return;
	pattern_close(s);
	free(s->priv);
}

static const struct ipkvm_source_ops pattern_ops = {
    .name = "pattern",
    .open = pattern_open,
    .start = pattern_start,
    .fd = pattern_fd,
    .next = pattern_next,
    .release = pattern_release,
    .event = NULL,
    .stop = pattern_stop,
    .close = pattern_close,
    .signal = pattern_signal,
    .destroy = pattern_destroy,
};

struct ipkvm_source *ipkvm_source_pattern_create(const struct ipkvm_pattern_config *cfg, char *err,
						 size_t errlen)
{
	struct ipkvm_pattern_config c = {0};
	if (cfg)
		c = *cfg;
	if (err && errlen)
		err[0] = '\0';
	unsigned w = c.width ? c.width : DEF_W, h = c.height ? c.height : DEF_H;
	unsigned fps = c.fps ? c.fps : DEF_FPS;
	const char *scene = c.scene && *c.scene ? c.scene : "testcard";
	int sc = -1;

	if (w < 16 || w > 8192) {
		ipkvm_errf(err, errlen, "pattern width %u is out of range (16..8192)", w);
		return NULL;
	}
	if (w % 2) {
		ipkvm_errf(err, errlen, "pattern width %u must be even", w);
		return NULL;
	}
	if (h < 16 || h > 8192) {
		ipkvm_errf(err, errlen, "pattern height %u is out of range (16..8192)", h);
		return NULL;
	}
	if (fps > 240) {
		ipkvm_errf(err, errlen, "pattern fps %u is out of range (1..240)", fps);
		return NULL;
	}
	if (c.format != IPKVM_FMT_YUYV && c.format != IPKVM_FMT_UYVY &&
	    c.format != IPKVM_FMT_RGB24 && c.format != IPKVM_FMT_BGR24) {
		ipkvm_errf(err, errlen,
			   "pattern format %u is not supported (yuyv, uyvy, rgb24 or bgr24)",
			   (unsigned)c.format);
		return NULL;
	}
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(scene_names); i++)
		if (strcmp(scene, scene_names[i]) == 0)
			sc = (int)i;
	if (sc < 0) {
		if (err && errlen)
			snprintf(err, errlen,
				 "unknown pattern scene \"%.64s\" (testcard, desktop or static)",
				 scene);
		return NULL;
	}

	struct pattern *p = calloc(1, sizeof(*p));
	if (!p) {
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->src.ops = &pattern_ops;
	p->src.priv = p;
	p->width = w;
	p->height = h;
	p->fps = fps;
	p->format = c.format;
	p->scene = (enum scene)sc;
	p->tfd = -1;
	p->seq_scale = w >= 1280 ? 2 : 1;
	tzset(); /* localtime_r() for the clock does not load the zone itself */
	return &p->src;
}
