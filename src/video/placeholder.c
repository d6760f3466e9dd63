/*
 * placeholder: the frame shown instead of video when there is none (see placeholder.h).
 *
 * Layout, all centred: a title in large text (scale 4, smaller when the frame is too narrow
 * for it), a thin accent bar in a colour per state, the source's reason line (scale 2,
 * word-wrapped to the frame width minus margins, at most a few lines) and a small "ipkvm" mark
 * in the bottom-right corner. It is rendered once per state change, so clarity wins over
 * speed; positions are rounded to even x so the YUYV colours are exact.
 */
#define LOG_TAG "placeholder"
#include "video/placeholder.h"

#include <string.h>

#include "core/log.h"
#include "video/draw.h"

#define DEFAULT_W	 1280
#define DEFAULT_H	 720
#define MAX_REASON_LINES 6

static const struct ipkvm_rgb BG = {16, 18, 22};
static const struct ipkvm_rgb TITLE = {236, 238, 242};
static const struct ipkvm_rgb REASON = {170, 176, 188};
static const struct ipkvm_rgb MARK = {84, 90, 102};

const char *ipkvm_placeholder_title(enum ipkvm_signal state)
{
	switch (state) {
	case IPKVM_SIGNAL_OK:
		return "NO VIDEO"; /* not meant to be rendered; something readable anyway */
	case IPKVM_SIGNAL_NO_DEVICE:
		return "NO CAPTURE DEVICE";
	case IPKVM_SIGNAL_NO_SIGNAL:
		return "NO SIGNAL";
	case IPKVM_SIGNAL_NO_SYNC:
		return "NO SYNC";
	case IPKVM_SIGNAL_UNSUPPORTED:
		return "UNSUPPORTED VIDEO MODE";
	case IPKVM_SIGNAL_BUSY:
		return "CAPTURE DEVICE BUSY";
	case IPKVM_SIGNAL_ERROR:
		break;
	}
	return "VIDEO ERROR";
}

/* Amber for "nothing there (yet)", red for faults. */
static struct ipkvm_rgb accent(enum ipkvm_signal state)
{
	switch (state) {
	case IPKVM_SIGNAL_NO_SIGNAL:
	case IPKVM_SIGNAL_NO_SYNC:
	case IPKVM_SIGNAL_OK:
		return (struct ipkvm_rgb){232, 168, 48};
	case IPKVM_SIGNAL_NO_DEVICE:
	case IPKVM_SIGNAL_BUSY:
		return (struct ipkvm_rgb){96, 150, 232};
	default:
		return (struct ipkvm_rgb){220, 72, 64};
	}
}

struct wrapped {
	int n;
	char line[MAX_REASON_LINES][sizeof(((struct ipkvm_signal_info *)0)->reason)];
};

/* Word-wraps text into lines of at most cols characters (words longer than a line are cut);
 * extra lines beyond MAX_REASON_LINES are dropped, the last kept one ending in "...". */
static void wrap(const char *text, int cols, struct wrapped *out)
{
	size_t cap = sizeof(out->line[0]) - 1;
	out->n = 0;
	if (cols < 1)
		cols = 1;
	if ((size_t)cols > cap)
		cols = (int)cap;
	const char *s = text;
	while (*s && out->n < MAX_REASON_LINES) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		size_t len = strcspn(s, "\n");
		size_t take = len;
		if (take > (size_t)cols) {
			/* Break at the last space that keeps the line within cols. */
			take = (size_t)cols;
			size_t sp = take;
			while (sp > 0 && s[sp] != ' ')
				sp--;
			if (sp > 0)
				take = sp;
		}
		while (take > 0 && s[take - 1] == ' ')
			take--;
		memcpy(out->line[out->n], s, take);
		out->line[out->n][take] = '\0';
		out->n++;
		s += take;
		if (*s == '\n')
			s++;
	}
	while (*s == ' ' || *s == '\n')
		s++;
	if (*s && out->n > 0) {
		char *last = out->line[out->n - 1];
		size_t l = strlen(last);
		if (l + 3 > (size_t)cols)
			l = (size_t)cols > 3 ? (size_t)cols - 3 : 0;
		memcpy(last + l, "...", 4);
	}
}

static int even(int v)
{
	return v & ~1;
}

struct ipkvm_frame *ipkvm_placeholder_render(const struct ipkvm_signal_info *info, unsigned width,
					     unsigned height)
{
	if (width == 0 || height == 0) {
		width = DEFAULT_W;
		height = DEFAULT_H;
	}
	if (width & 1)
		width++; /* YUYV needs whole pixel pairs */
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, width, height, 0);
	if (!f) {
		LOG_ERROR("no memory for a %ux%u placeholder", width, height);
		return NULL;
	}
	enum ipkvm_signal state = info ? info->state : IPKVM_SIGNAL_ERROR;
	const char *title = ipkvm_placeholder_title(state);
	const char *reason = info ? info->reason : "";
	int W = (int)width, H = (int)height;
	int margin = W / 16 > 8 ? W / 16 : 8;
	int avail = W - 2 * margin;

	ipkvm_draw_rect(f, 0, 0, W, H, BG);

	/* Title: scale 4, smaller if it would not fit. */
	int ts = 4, tw, th;
	for (;; ts--) {
		ipkvm_text_size(title, ts, &tw, &th);
		if (tw <= avail || ts == 1)
			break;
	}
	/* Reason: scale 2 (1 on small frames), wrapped to the available width. */
	int rs = W >= 640 ? 2 : 1;
	int cols = avail / (IPKVM_FONT_W * rs);
	struct wrapped lines;
	wrap(reason, cols, &lines);
	int line_h = IPKVM_FONT_H * rs + rs * 4;
	int gap = ts * 8; /* title to accent bar, accent bar to reason */
	int bar_h = ts > 1 ? ts : 2;
	int block = th + gap + bar_h + (lines.n ? gap + lines.n * line_h : 0);
	int y = (H - block) / 2;
	if (y < 0)
		y = 0;

	ipkvm_draw_text(f, even((W - tw) / 2), y, title, ts, TITLE, NULL);
	y += th + gap;
	int bar_w = tw / 3 > 16 ? even(tw / 3) : 16;
	ipkvm_draw_rect(f, even((W - bar_w) / 2), y, bar_w, bar_h, accent(state));
	y += bar_h + gap;
	for (int i = 0; i < lines.n; i++) {
		int lw, lh;
		ipkvm_text_size(lines.line[i], rs, &lw, &lh);
		ipkvm_draw_text(f, even((W - lw) / 2), y, lines.line[i], rs, REASON, NULL);
		y += line_h;
	}

	/* The mark, bottom-right, out of the way. */
	int mw, mh;
	ipkvm_text_size("ipkvm", 1, &mw, &mh);
	ipkvm_draw_text(f, even(W - mw - 12), H - mh - 8, "ipkvm", 1, MARK, NULL);
	return f;
}
