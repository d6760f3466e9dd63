/*
 * target/screen: the virtual computer's picture and the software behind it (see screen.h).
 *
 * Model: every input changes plain state (firmware tab/selection/countdown, or the console's
 * line ring, input line and marks); refresh() then composes the whole screen as a grid of
 * 16-bit cells (character, colour index, inverse, cursor) into a scratch grid and compares it
 * with the grid shown last. Only a real difference (or a pointer move) bumps the generation,
 * which makes "re-render only on change" exact without per-operation bookkeeping; a grid is at
 * most a few thousand cells, so composing one per input event costs microseconds.
 *
 * Console text lives in a ring of physical (already wrapped) lines with absolute line numbers,
 * so scrollback, the view offset and the input line's position are plain arithmetic. Wrapping
 * is deferred as on a VT100: a line that is exactly full keeps the cursor on its last column
 * until the next character arrives, so output that fills a line does not leave a blank one.
 *
 * Renderer: one pass over the frame, each font row rendered once per text row and copied for
 * the vertical scale. In the 4:2:2 formats the cells start at even x and are an even number of
 * pixels wide, so a cell writes whole Y-U-Y-V pairs from a 4-entry table per colour (left and
 * right pixel each fg or bg); at scale 2 each font pixel is exactly one pair, so glyph colours
 * are exact in YUV too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_TAG "screen"
#include "core/log.h"
#include "core/util.h"
#include "target/screen.h"
#include "video/draw.h"

/* Colour pairs; the cell stores the index. */
enum attr {
	A_FW_BODY = 0,
	A_FW_TITLE,
	A_FW_TAB,
	A_FW_TAB_SEL,
	A_FW_HEAD,
	A_FW_SEL,
	A_FW_ERR,
	A_FW_NOTE,
	A_FW_HELP,
	A_CON_TEXT,
	A_CON_PROMPT,
	A_CON_STATUS,
	A_CON_LIT,
	A_COUNT,
};

static const struct {
	struct ipkvm_rgb fg, bg;
} palette[A_COUNT] = {
    [A_FW_BODY] = {{190, 196, 208}, {22, 38, 92}},
    [A_FW_TITLE] = {{22, 38, 92}, {176, 182, 194}},
    [A_FW_TAB] = {{190, 196, 208}, {34, 58, 124}},
    [A_FW_TAB_SEL] = {{255, 255, 255}, {60, 110, 190}},
    [A_FW_HEAD] = {{240, 214, 120}, {22, 38, 92}},
    [A_FW_SEL] = {{22, 38, 92}, {200, 206, 218}},
    [A_FW_ERR] = {{255, 128, 112}, {22, 38, 92}},
    [A_FW_NOTE] = {{150, 204, 255}, {22, 38, 92}},
    [A_FW_HELP] = {{22, 38, 92}, {176, 182, 194}},
    [A_CON_TEXT] = {{200, 205, 210}, {12, 16, 24}},
    [A_CON_PROMPT] = {{122, 200, 140}, {12, 16, 24}},
    [A_CON_STATUS] = {{12, 16, 24}, {200, 205, 210}},
    [A_CON_LIT] = {{12, 16, 24}, {122, 200, 140}},
};

/* Cell layout: character in bits 0-7, colour index 8-11, flags above. */
#define CELL(c, a)   ((uint16_t)((uint8_t)(c) | ((unsigned)(a) << 8)))
#define CELL_CHAR(v) ((unsigned char)((v)&0xff))
#define CELL_ATTR(v) (((v) >> 8) & 0x0f)
#define CELL_INV     0x1000 /* marked: fg and bg swapped */
#define CELL_CURSOR  0x2000 /* text cursor: an underline in the last two font rows */

/* Firmware screen layout (128 x 48 cells). */
#define FW_COLS	     (IPKVM_SCREEN_FW_WIDTH / IPKVM_FONT_W)
#define FW_ROWS	     (IPKVM_SCREEN_FW_HEIGHT / IPKVM_FONT_H)
#define FW_TAB_ROW   1
#define FW_TAB_COL0  2 /* tab i occupies columns FW_TAB_COL0 + 8i .. +5 */
#define FW_TAB_STEP  8
#define FW_ENTRY_ROW 5 /* first boot/exit entry */
#define FW_MSG_ROW   44
#define FW_COUNT_ROW 45
#define FW_HELP_ROW  47
#define FW_TABS	     3
#define FW_FPS	     60

#define DISK_NAME   "Internal disk"
#define PROMPT	    "user@target:~$ "
#define ACTION_QMAX 4

struct ipkvm_screen {
	struct ipkvm_screen_config cfg; /* cfg.layout is not kept; see layout */
	char layout[8];
	int con_scale, con_cols, con_rows, con_x0, con_y0;

	enum ipkvm_screen_phase phase;
	struct ipkvm_screen_media media[IPKVM_SCREEN_MEDIA_MAX];
	size_t nmedia;
	uint8_t leds;
	int px, py;
	uint8_t buttons;

	/* What is shown: grid (rows x cols of the phase), and what it was composed from. */
	uint64_t gen;
	uint16_t *grid, *scratch;
	enum ipkvm_screen_phase shown_phase;
	int shown_px, shown_py;

	struct {
		enum ipkvm_screen_action act;
		int index;
	} q[ACTION_QMAX];
	int qn;

	/* Firmware. */
	int tab, sel, exit_sel;
	bool counting;
	int64_t boot_at;
	int shown_n; /* whole seconds shown by the countdown */
	char msg[400];

	/* Console: a ring of cap lines of con_cols cells, absolute numbering. */
	uint16_t *lines;
	int cap;
	int64_t first, total, cur_line; /* first = oldest line kept after "clear" */
	int cur_col;			/* 0..cols (cols = wrap pending) */
	int64_t prompt_line;
	int prompt_col;
	char input[IPKVM_SCREEN_INPUT_MAX + 1];
	int input_len;
	int scroll;
	bool halted;
	uint8_t *marks; /* (con_rows - 1) x con_cols */
	int nmarks;
	bool booted;
	int boot_index;
	char boot_name[256];
};

/* ---- small helpers ---------------------------------------------------------------------- */

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static bool layout_ok(const char *l)
{
	return l && (!strcmp(l, "us") || !strcmp(l, "jp"));
}

static int cur_w(const struct ipkvm_screen *s)
{
	return s->phase == IPKVM_SCREEN_FIRMWARE ? IPKVM_SCREEN_FW_WIDTH : s->cfg.width;
}

static int cur_h(const struct ipkvm_screen *s)
{
	return s->phase == IPKVM_SCREEN_FIRMWARE ? IPKVM_SCREEN_FW_HEIGHT : s->cfg.height;
}

static int grid_rows(const struct ipkvm_screen *s)
{
	switch (s->phase) {
	case IPKVM_SCREEN_FIRMWARE:
		return FW_ROWS;
	case IPKVM_SCREEN_CONSOLE:
		return s->con_rows;
	default:
		return 0;
	}
}

static int grid_cols(const struct ipkvm_screen *s)
{
	switch (s->phase) {
	case IPKVM_SCREEN_FIRMWARE:
		return FW_COLS;
	case IPKVM_SCREEN_CONSOLE:
		return s->con_cols;
	default:
		return 0;
	}
}

static void push_action(struct ipkvm_screen *s, enum ipkvm_screen_action a, int index)
{
	if (s->qn == ACTION_QMAX) {
		LOG_WARN("action queue full, dropping action %d", (int)a);
		return;
	}
	s->q[s->qn].act = a;
	s->q[s->qn].index = index;
	s->qn++;
}

/* Writes text at (row, col) of a grid cols wide, clipped at the row's end. Bytes outside
 * printable ASCII become '?' so row_text() stays ASCII. Returns the column after the text. */
static int put_text(uint16_t *g, int cols, int row, int col, const char *text, int attr)
{
	for (; *text && col < cols; text++, col++) {
		unsigned char c = (unsigned char)*text;
		g[row * cols + col] = CELL(c >= 0x20 && c <= 0x7e ? c : '?', attr);
	}
	return col;
}

static void fill_cells(uint16_t *g, int cols, int row, int col0, int col1, int attr)
{
	for (int c = col0; c < col1 && c < cols; c++)
		g[row * cols + c] = CELL(' ', attr);
}

/* ---- firmware --------------------------------------------------------------------------- */

static void entry_text(const struct ipkvm_screen *s, int entry, char *buf, size_t len)
{
	if (entry == 0) {
		snprintf(buf, len, DISK_NAME);
		return;
	}
	const struct ipkvm_screen_media *m = &s->media[entry - 1];
	if (m->error[0])
		snprintf(buf, len, "%s  (unreadable: %s)", m->name, m->error);
	else if (m->label[0])
		snprintf(buf, len, "%s  [%s]", m->name, m->label);
	else
		snprintf(buf, len, "%s", m->name);
}

/* One selectable line of the Boot or Exit page: marker, text, highlight when selected. */
static void fw_entry(uint16_t *g, int row, const char *text, bool selected)
{
	int attr = selected ? A_FW_SEL : A_FW_BODY;
	fill_cells(g, FW_COLS, row, 2, FW_COLS - 2, attr);
	char fit[FW_COLS - 5]; /* keeps a two-cell right margin */
	snprintf(fit, sizeof(fit), "%s", text);
	put_text(g, FW_COLS, row, 2, selected ? "> " : "  ", attr);
	put_text(g, FW_COLS, row, 4, fit, attr);
}

static void compose_fw(const struct ipkvm_screen *s, uint16_t *g)
{
	static const char *const tabs[FW_TABS] = {"Main", "Boot", "Exit"};
	static const char title[] = "ipkvm Virtual Firmware Setup";
	char line[512];

	for (int i = 0; i < FW_ROWS * FW_COLS; i++)
		g[i] = CELL(' ', A_FW_BODY);
	fill_cells(g, FW_COLS, 0, 0, FW_COLS, A_FW_TITLE);
	put_text(g, FW_COLS, 0, (FW_COLS - (int)strlen(title)) / 2, title, A_FW_TITLE);

	fill_cells(g, FW_COLS, FW_TAB_ROW, 0, FW_COLS, A_FW_TAB);
	for (int i = 0; i < FW_TABS; i++) {
		bool sel = i == s->tab;
		snprintf(line, sizeof(line), sel ? "[%s]" : " %s ", tabs[i]);
		put_text(g, FW_COLS, FW_TAB_ROW, FW_TAB_COL0 + i * FW_TAB_STEP, line,
			 sel ? A_FW_TAB_SEL : A_FW_TAB);
	}

	if (s->tab == 0) {
		put_text(g, FW_COLS, 3, 2, "System Information", A_FW_HEAD);
		put_text(g, FW_COLS, 5, 2, "Firmware: ipkvm Virtual Firmware 1.0", A_FW_BODY);
		put_text(g, FW_COLS, 6, 2, "Processor: ipkvm virtual CPU", A_FW_BODY);
		put_text(g, FW_COLS, 7, 2, "Memory: 4096 MB", A_FW_BODY);
		snprintf(line, sizeof(line), "Keyboard layout: %s", s->layout);
		put_text(g, FW_COLS, 8, 2, line, A_FW_BODY);
		snprintf(line, sizeof(line), "Display: %dx%d @ %d Hz", s->cfg.width, s->cfg.height,
			 s->cfg.fps);
		put_text(g, FW_COLS, 9, 2, line, A_FW_BODY);
		snprintf(line, sizeof(line), "Boot media: %zu attached", s->nmedia);
		put_text(g, FW_COLS, 10, 2, line, A_FW_BODY);
	} else if (s->tab == 1) {
		put_text(g, FW_COLS, 3, 2, "Boot Menu", A_FW_HEAD);
		for (int e = 0; e <= (int)s->nmedia; e++) {
			entry_text(s, e, line, sizeof(line));
			fw_entry(g, FW_ENTRY_ROW + e, line, e == s->sel);
		}
	} else {
		put_text(g, FW_COLS, 3, 2, "Exit", A_FW_HEAD);
		fw_entry(g, FW_ENTRY_ROW, "Continue boot", s->exit_sel == 0);
		fw_entry(g, FW_ENTRY_ROW + 1, "Power off", s->exit_sel == 1);
	}

	if (s->msg[0])
		put_text(g, FW_COLS, FW_MSG_ROW, 2, s->msg, A_FW_ERR);
	if (s->counting) {
		snprintf(line, sizeof(line),
			 "Booting " DISK_NAME " in %d s - press any key to stop", s->shown_n);
		put_text(g, FW_COLS, FW_COUNT_ROW, 2, line, A_FW_NOTE);
	}
	fill_cells(g, FW_COLS, FW_HELP_ROW, 0, FW_COLS, A_FW_HELP);
	put_text(g, FW_COLS, FW_HELP_ROW, 2,
		 "<-/-> page  Up/Down select  Enter choose  Esc continue", A_FW_HELP);
}

/* ---- console: the line ring --------------------------------------------------------------- */

static uint16_t *line_at(const struct ipkvm_screen *s, int64_t abs)
{
	return s->lines + (size_t)(abs % s->cap) * (size_t)s->con_cols;
}

static void clear_line(struct ipkvm_screen *s, int64_t abs)
{
	uint16_t *l = line_at(s, abs);
	for (int c = 0; c < s->con_cols; c++)
		l[c] = CELL(' ', A_CON_TEXT);
}

static void new_line(struct ipkvm_screen *s)
{
	s->cur_line++;
	s->total = s->cur_line + 1;
	s->cur_col = 0;
	clear_line(s, s->cur_line);
}

static void put_ch(struct ipkvm_screen *s, char c, int attr)
{
	if (s->cur_col >= s->con_cols)
		new_line(s); /* the deferred wrap */
	line_at(s, s->cur_line)[s->cur_col++] = CELL(c, attr);
}

static void print(struct ipkvm_screen *s, const char *text, int attr)
{
	for (; *text; text++)
		put_ch(s, *text, attr);
}

static void print_line(struct ipkvm_screen *s, const char *text)
{
	print(s, text, A_CON_TEXT);
	new_line(s);
}

static int text_rows(const struct ipkvm_screen *s)
{
	return s->con_rows - 1;
}

static int64_t oldest_line(const struct ipkvm_screen *s)
{
	int64_t o = s->total - s->cap;
	return o > s->first ? o : s->first;
}

/* The first line shown when the view is at the bottom. */
static int64_t bottom_top(const struct ipkvm_screen *s)
{
	int64_t t = s->total - text_rows(s), o = oldest_line(s);
	return t > o ? t : o;
}

static void prompt(struct ipkvm_screen *s)
{
	print(s, PROMPT, A_CON_PROMPT);
	s->prompt_line = s->cur_line;
	s->prompt_col = s->cur_col;
	s->input_len = 0;
}

/* An empty screen whose only line is the current one. */
static void console_clear(struct ipkvm_screen *s)
{
	s->cur_line = s->total; /* a fresh line number: older lines become unreachable */
	s->first = s->cur_line;
	s->total = s->cur_line + 1;
	s->cur_col = 0;
	s->scroll = 0;
	clear_line(s, s->cur_line);
}

static void clear_marks(struct ipkvm_screen *s)
{
	memset(s->marks, 0, (size_t)text_rows(s) * (size_t)s->con_cols);
	s->nmarks = 0;
}

static void console_start(struct ipkvm_screen *s, int entry)
{
	char line[400];
	s->first = s->total = s->cur_line = 0;
	s->cur_col = 0;
	clear_line(s, 0);
	s->scroll = 0;
	s->halted = false;
	clear_marks(s);
	if (entry == 0) {
		print_line(s, "ipkvm virtual OS 1.0 (tty1)");
	} else {
		const struct ipkvm_screen_media *m = &s->media[entry - 1];
		if (m->label[0])
			snprintf(line, sizeof(line), "Live system from %s: %s", m->name, m->label);
		else
			snprintf(line, sizeof(line), "Live system from %s", m->name);
		print_line(s, line);
	}
	new_line(s);
	prompt(s);
}

static void compose_con(const struct ipkvm_screen *s, uint16_t *g)
{
	int cols = s->con_cols, trows = text_rows(s);
	int64_t top = bottom_top(s) - s->scroll;
	char line[600];

	for (int r = 0; r < trows; r++) {
		uint16_t *row = g + (size_t)r * cols;
		if (top + r < s->total)
			memcpy(row, line_at(s, top + r), (size_t)cols * sizeof(*row));
		else
			for (int c = 0; c < cols; c++)
				row[c] = CELL(' ', A_CON_TEXT);
		for (int c = 0; c < cols; c++)
			if (s->marks[r * cols + c])
				row[c] |= CELL_INV;
	}
	if (!s->halted && s->scroll == 0) {
		int r = (int)(s->cur_line - top);
		int c = s->cur_col < cols ? s->cur_col : cols - 1;
		if (r >= 0 && r < trows)
			g[r * cols + c] |= CELL_CURSOR;
	}

	/* Status line: LEDs (lit ones upper case on green), layout, mode, pointer, boot source. */
	int sr = trows;
	fill_cells(g, cols, sr, 0, cols, A_CON_STATUS);
	static const char *const names[3][2] = {
	    {"[num]", "[NUM]"}, {"[caps]", "[CAPS]"}, {"[scroll]", "[SCROLL]"}};
	int col = 1;
	for (int i = 0; i < 3; i++) {
		bool lit = s->leds & (1u << i);
		col = put_text(g, cols, sr, col, names[i][lit], lit ? A_CON_LIT : A_CON_STATUS);
		col++;
	}
	int n = snprintf(line, sizeof(line), " %s  %dx%d@%d  pointer %d,%d  from %s", s->layout,
			 s->cfg.width, s->cfg.height, s->cfg.fps, s->px, s->py, s->boot_name);
	if (s->scroll && n > 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, "  scrollback %d", s->scroll);
	put_text(g, cols, sr, col, line, A_CON_STATUS);
}

/* ---- refresh: compose, compare, bump ---------------------------------------------------- */

static void refresh(struct ipkvm_screen *s)
{
	size_t n = (size_t)grid_rows(s) * (size_t)grid_cols(s);
	if (s->phase == IPKVM_SCREEN_FIRMWARE)
		compose_fw(s, s->scratch);
	else if (s->phase == IPKVM_SCREEN_CONSOLE)
		compose_con(s, s->scratch);
	bool changed = s->phase != s->shown_phase;
	if (s->phase != IPKVM_SCREEN_OFF)
		changed = changed || s->px != s->shown_px || s->py != s->shown_py ||
			  memcmp(s->grid, s->scratch, n * sizeof(*s->grid)) != 0;
	if (!changed)
		return;
	uint16_t *t = s->grid;
	s->grid = s->scratch;
	s->scratch = t;
	s->shown_phase = s->phase;
	s->shown_px = s->px;
	s->shown_py = s->py;
	s->gen++;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

void ipkvm_screen_config_defaults(struct ipkvm_screen_config *cfg)
{
	cfg->width = 1920;
	cfg->height = 1080;
	cfg->fps = 60;
	cfg->autoboot_ms = 3000;
	cfg->layout = "us";
}

struct ipkvm_screen *ipkvm_screen_create(const struct ipkvm_screen_config *cfg)
{
	struct ipkvm_screen_config def;
	if (!cfg) {
		ipkvm_screen_config_defaults(&def);
		cfg = &def;
	}
	const char *layout = cfg->layout ? cfg->layout : "us";
	if (cfg->width < 320 || cfg->width > 7680 || (cfg->width & 1) || cfg->height < 200 ||
	    cfg->height > 4320 || cfg->fps < 1 || cfg->fps > 240 || cfg->autoboot_ms < 0 ||
	    cfg->autoboot_ms > 600000 || !layout_ok(layout)) {
		LOG_ERROR("bad config: %dx%d@%d autoboot %d ms layout %s", cfg->width, cfg->height,
			  cfg->fps, cfg->autoboot_ms, layout);
		return NULL;
	}
	struct ipkvm_screen *s = calloc(1, sizeof(*s));
	if (!s)
		goto err;
	s->cfg = *cfg;
	s->cfg.layout = NULL;
	ipkvm_strlcpy(s->layout, layout, sizeof(s->layout));
	/* Scale 2 (16x32 cells) is what a 1080p console looks like; small modes keep 8x16 so
	 * they still get a usable number of columns. */
	s->con_scale = cfg->width >= 1280 && cfg->height >= 720 ? 2 : 1;
	int cw = IPKVM_FONT_W * s->con_scale, ch = IPKVM_FONT_H * s->con_scale;
	s->con_cols = cfg->width / cw;
	s->con_rows = cfg->height / ch;
	s->con_x0 = ((cfg->width - s->con_cols * cw) / 2) & ~1; /* even: whole 4:2:2 pairs */
	s->con_y0 = (cfg->height - s->con_rows * ch) / 2;
	s->cap = s->con_rows - 1 + IPKVM_SCREEN_SCROLLBACK;

	size_t fw = (size_t)FW_ROWS * FW_COLS, con = (size_t)s->con_rows * (size_t)s->con_cols;
	size_t gn = fw > con ? fw : con;
	s->grid = calloc(gn, sizeof(*s->grid));
	s->scratch = calloc(gn, sizeof(*s->scratch));
	s->lines = calloc((size_t)s->cap * (size_t)s->con_cols, sizeof(*s->lines));
	s->marks = calloc(con, 1);
	if (!s->grid || !s->scratch || !s->lines || !s->marks)
		goto err;
	s->phase = s->shown_phase = IPKVM_SCREEN_OFF;
	s->boot_index = -1;
	return s;
err:
	LOG_ERROR("out of memory");
	ipkvm_screen_destroy(s);
	return NULL;
}

void ipkvm_screen_destroy(struct ipkvm_screen *s)
{
	if (!s)
		return;
	free(s->grid);
	free(s->scratch);
	free(s->lines);
	free(s->marks);
	free(s);
}

static void clamp_pointer(struct ipkvm_screen *s)
{
	s->px = clampi(s->px, 0, cur_w(s) - 1);
	s->py = clampi(s->py, 0, cur_h(s) - 1);
}

void ipkvm_screen_power(struct ipkvm_screen *s, bool on, int64_t now_ms)
{
	s->qn = 0;
	if (!on) {
		s->phase = IPKVM_SCREEN_OFF;
		s->booted = false;
		refresh(s);
		return;
	}
	s->phase = IPKVM_SCREEN_FIRMWARE;
	s->tab = s->sel = s->exit_sel = 0;
	s->msg[0] = '\0';
	s->counting = s->cfg.autoboot_ms > 0;
	s->boot_at = now_ms + s->cfg.autoboot_ms;
	s->shown_n = (s->cfg.autoboot_ms + 999) / 1000;
	s->booted = false;
	s->boot_index = -1;
	s->boot_name[0] = '\0';
	clamp_pointer(s);
	refresh(s);
}

/* Boots menu entry e (0 = internal disk): CONSOLE at once, or an error line for a medium
 * whose label could not be read (the firmware cannot find a boot record on it either). */
static void boot(struct ipkvm_screen *s, int e)
{
	if (e > 0 && s->media[e - 1].error[0]) {
		snprintf(s->msg, sizeof(s->msg), "cannot boot %s: %s", s->media[e - 1].name,
			 s->media[e - 1].error);
		s->counting = false;
		return;
	}
	s->phase = IPKVM_SCREEN_CONSOLE;
	s->counting = false;
	s->booted = true;
	s->boot_index = e - 1;
	ipkvm_strlcpy(s->boot_name, e ? s->media[e - 1].name : DISK_NAME, sizeof(s->boot_name));
	push_action(s, IPKVM_SCREEN_ACT_BOOTED, e - 1);
	console_start(s, e);
	clamp_pointer(s);
}

int ipkvm_screen_set_media(struct ipkvm_screen *s, const struct ipkvm_screen_media *m, size_t n)
{
	if (n && !m)
		return -EINVAL;
	int ret = 0;
	if (n > IPKVM_SCREEN_MEDIA_MAX) {
		n = IPKVM_SCREEN_MEDIA_MAX;
		ret = -E2BIG;
	}
	for (size_t i = 0; i < n; i++) {
		/* Copied field by field so unterminated input cannot run off the end. */
		memcpy(s->media[i].name, m[i].name, sizeof(m[i].name));
		s->media[i].name[sizeof(m[i].name) - 1] = '\0';
		memcpy(s->media[i].label, m[i].label, sizeof(m[i].label));
		s->media[i].label[sizeof(m[i].label) - 1] = '\0';
		memcpy(s->media[i].error, m[i].error, sizeof(m[i].error));
		s->media[i].error[sizeof(m[i].error) - 1] = '\0';
	}
	s->nmedia = n;
	if (s->sel > (int)n)
		s->sel = (int)n;
	refresh(s);
	return ret;
}

void ipkvm_screen_set_leds(struct ipkvm_screen *s, uint8_t leds)
{
	s->leds = leds & 0x07;
	refresh(s);
}

int ipkvm_screen_set_layout(struct ipkvm_screen *s, const char *layout)
{
	if (!layout_ok(layout))
		return -EINVAL;
	ipkvm_strlcpy(s->layout, layout, sizeof(s->layout));
	refresh(s);
	return 0;
}

/* ---- input -------------------------------------------------------------------------------- */

#define KEY_ENTER    0x28
#define KEY_ESC	     0x29
#define KEY_DELETE   0x4c
#define KEY_RIGHT    0x4f
#define KEY_LEFT     0x50
#define KEY_DOWN     0x51
#define KEY_UP	     0x52
#define KEY_KP_ENTER 0x58
#define MODS_CTRL    0x11 /* left or right Ctrl in the boot report's modifier byte */
#define MODS_ALT     0x44

static void halt(struct ipkvm_screen *s, enum ipkvm_screen_action a)
{
	print_line(s, a == IPKVM_SCREEN_ACT_POWEROFF ? "Powering off..." : "Rebooting...");
	s->halted = true;
	s->scroll = 0;
	push_action(s, a, -1);
}

static void fw_key(struct ipkvm_screen *s, uint8_t usage)
{
	/* Any key stops the countdown and clears an old error line, then acts. */
	s->counting = false;
	s->msg[0] = '\0';
	switch (usage) {
	case KEY_LEFT:
		s->tab = (s->tab + FW_TABS - 1) % FW_TABS;
		break;
	case KEY_RIGHT:
		s->tab = (s->tab + 1) % FW_TABS;
		break;
	case KEY_UP:
	case KEY_DOWN: {
		int d = usage == KEY_UP ? -1 : 1;
		if (s->tab == 1)
			s->sel = clampi(s->sel + d, 0, (int)s->nmedia);
		else if (s->tab == 2)
			s->exit_sel = clampi(s->exit_sel + d, 0, 1);
		break;
	}
	case KEY_ENTER:
	case KEY_KP_ENTER:
		if (s->tab == 1)
			boot(s, s->sel);
		else if (s->tab == 2 && s->exit_sel == 0)
			boot(s, 0);
		else if (s->tab == 2)
			push_action(s, IPKVM_SCREEN_ACT_POWEROFF, -1);
		break;
	case KEY_ESC:
		boot(s, 0);
		break;
	default:
		break;
	}
}

void ipkvm_screen_key(struct ipkvm_screen *s, uint8_t usage, bool down, uint8_t mods,
		      int64_t now_ms)
{
	(void)now_ms;
	if (!down || s->phase == IPKVM_SCREEN_OFF)
		return;
	/* Ctrl+Alt+Del: the classic warm reboot, in the firmware and the console alike. */
	if (usage == KEY_DELETE && (mods & MODS_CTRL) && (mods & MODS_ALT)) {
		if (s->phase == IPKVM_SCREEN_CONSOLE && !s->halted)
			halt(s, IPKVM_SCREEN_ACT_REBOOT);
		else if (s->phase == IPKVM_SCREEN_FIRMWARE)
			push_action(s, IPKVM_SCREEN_ACT_REBOOT, -1);
		refresh(s);
		return;
	}
	if (s->phase == IPKVM_SCREEN_FIRMWARE) {
		fw_key(s, usage);
		refresh(s);
	}
	/* In the console, text arrives through ipkvm_screen_char(). */
}

/* Runs the command line in s->input (the cursor is already on a fresh line). */
static void run(struct ipkvm_screen *s)
{
	char *words[IPKVM_SCREEN_INPUT_MAX / 2 + 1];
	int n = 0;
	char buf[IPKVM_SCREEN_INPUT_MAX + 1], out[IPKVM_SCREEN_INPUT_MAX + 1];
	memcpy(buf, s->input, (size_t)s->input_len);
	buf[s->input_len] = '\0';
	for (char *p = strtok(buf, " "); p && n < (int)IPKVM_ARRAY_SIZE(words);
	     p = strtok(NULL, " "))
		words[n++] = p;
	if (n == 0) {
		prompt(s);
		return;
	}
	if (!strcmp(words[0], "echo")) {
		/* Unquoted words joined by one space, as a shell does. */
		out[0] = '\0';
		for (int i = 1; i < n; i++) {
			if (i > 1)
				strcat(out, " ");
			strcat(out, words[i]);
		}
		print_line(s, out);
	} else if (!strcmp(words[0], "clear")) {
		console_clear(s);
	} else if (!strcmp(words[0], "help")) {
		print_line(s, "Commands:");
		print_line(s, "  echo TEXT   print TEXT");
		print_line(s, "  clear       clear the screen");
		print_line(s, "  help        show this list");
		print_line(s, "  poweroff    power the machine off");
		print_line(s, "  reboot      restart the machine");
	} else if (!strcmp(words[0], "poweroff")) {
		halt(s, IPKVM_SCREEN_ACT_POWEROFF);
		return;
	} else if (!strcmp(words[0], "reboot")) {
		halt(s, IPKVM_SCREEN_ACT_REBOOT);
		return;
	} else {
		print(s, words[0], A_CON_TEXT);
		print_line(s, ": command not found");
	}
	prompt(s);
}

static void backspace(struct ipkvm_screen *s)
{
	s->input_len--;
	int64_t off = (int64_t)s->prompt_col + s->input_len;
	int64_t l = s->prompt_line + off / s->con_cols;
	int c = (int)(off % s->con_cols);
	line_at(s, l)[c] = CELL(' ', A_CON_TEXT);
	/* Back to where typing had put the cursor: a character deleted from column 0 of a
	 * wrapped line leaves the previous line full with its wrap pending again. */
	if (c == 0 && l > s->prompt_line) {
		s->cur_line = l - 1;
		s->cur_col = s->con_cols;
	} else {
		s->cur_line = l;
		s->cur_col = c;
	}
	s->total = s->cur_line + 1; /* the input is the last thing on screen */
}

void ipkvm_screen_char(struct ipkvm_screen *s, uint32_t cp, int64_t now_ms)
{
	(void)now_ms;
	if (s->phase != IPKVM_SCREEN_CONSOLE || s->halted)
		return;
	if (cp == '\n') {
		new_line(s);
		run(s);
	} else if (cp == '\b') {
		if (s->input_len > 0)
			backspace(s);
	} else if (cp >= 0x20 && cp <= 0x7e) {
		if (s->input_len >= IPKVM_SCREEN_INPUT_MAX)
			return; /* the line is full: ignored, as a shell with a bell would */
		s->input[s->input_len++] = (char)cp;
		put_ch(s, (char)cp, A_CON_TEXT);
	} else {
		return; /* '\t' (no completion here) and anything else */
	}
	s->scroll = 0; /* typing jumps back to the bottom */
	refresh(s);
}

static void fw_click(struct ipkvm_screen *s)
{
	int row = s->py / IPKVM_FONT_H, col = s->px / IPKVM_FONT_W;
	s->counting = false;
	if (row == FW_TAB_ROW) {
		int t = (col - FW_TAB_COL0) / FW_TAB_STEP;
		if (col >= FW_TAB_COL0 && t < FW_TABS && (col - FW_TAB_COL0) % FW_TAB_STEP < 6)
			s->tab = t;
		return;
	}
	int e = row - FW_ENTRY_ROW;
	if (s->tab == 1 && e >= 0 && e <= (int)s->nmedia)
		s->sel = e;
	else if (s->tab == 2 && e >= 0 && e <= 1)
		s->exit_sel = e;
}

static void con_click(struct ipkvm_screen *s, uint8_t pressed)
{
	if (pressed & 2)
		clear_marks(s);
	if (!(pressed & 1))
		return;
	int cw = IPKVM_FONT_W * s->con_scale, ch = IPKVM_FONT_H * s->con_scale;
	int dx = s->px - s->con_x0, dy = s->py - s->con_y0;
	if (dx < 0 || dy < 0 || dx / cw >= s->con_cols || dy / ch >= text_rows(s))
		return; /* the margins and the status line cannot be marked */
	uint8_t *m = &s->marks[(dy / ch) * s->con_cols + dx / cw];
	*m = !*m;
	s->nmarks += *m ? 1 : -1;
}

void ipkvm_screen_pointer(struct ipkvm_screen *s, int x, int y, uint8_t buttons)
{
	uint8_t pressed = buttons & ~s->buttons;
	s->px = x;
	s->py = y;
	s->buttons = buttons;
	clamp_pointer(s);
	if (pressed && s->phase == IPKVM_SCREEN_FIRMWARE && (pressed & 1))
		fw_click(s);
	else if (pressed && s->phase == IPKVM_SCREEN_CONSOLE)
		con_click(s, pressed);
	refresh(s);
}

void ipkvm_screen_wheel(struct ipkvm_screen *s, int wheel, int pan)
{
	(void)pan;
	if (s->phase != IPKVM_SCREEN_CONSOLE || wheel == 0)
		return;
	int64_t max = bottom_top(s) - oldest_line(s);
	int64_t v = (int64_t)s->scroll + (int64_t)wheel * IPKVM_SCREEN_WHEEL_LINES;
	s->scroll = (int)(v < 0 ? 0 : v > max ? max : v);
	refresh(s);
}

/* ---- time ----------------------------------------------------------------------------------- */

int64_t ipkvm_screen_next_deadline(const struct ipkvm_screen *s)
{
	if (s->phase != IPKVM_SCREEN_FIRMWARE || !s->counting)
		return -1;
	/* The number shown drops from N to N-1 when N-1 whole seconds remain. */
	return s->boot_at - (int64_t)(s->shown_n > 1 ? s->shown_n - 1 : 0) * 1000;
}

void ipkvm_screen_tick(struct ipkvm_screen *s, int64_t now_ms)
{
	if (s->phase != IPKVM_SCREEN_FIRMWARE || !s->counting)
		return;
	if (now_ms >= s->boot_at)
		boot(s, 0);
	else
		s->shown_n = (int)((s->boot_at - now_ms + 999) / 1000);
	refresh(s);
}

/* ---- queries -------------------------------------------------------------------------------- */

enum ipkvm_screen_action ipkvm_screen_take_action(struct ipkvm_screen *s, int *media_index)
{
	enum ipkvm_screen_action a = IPKVM_SCREEN_ACT_NONE;
	int idx = -1;
	if (s->qn) {
		a = s->q[0].act;
		idx = s->q[0].index;
		memmove(&s->q[0], &s->q[1], sizeof(s->q[0]) * (size_t)(s->qn - 1));
		s->qn--;
	}
	if (media_index)
		*media_index = idx;
	return a;
}

uint64_t ipkvm_screen_generation(const struct ipkvm_screen *s)
{
	return s->gen;
}

enum ipkvm_screen_phase ipkvm_screen_phase(const struct ipkvm_screen *s)
{
	return s->phase;
}

void ipkvm_screen_mode(const struct ipkvm_screen *s, int *w, int *h, int *fps)
{
	if (w)
		*w = cur_w(s);
	if (h)
		*h = cur_h(s);
	if (fps)
		*fps = s->phase == IPKVM_SCREEN_FIRMWARE ? FW_FPS : s->cfg.fps;
}

void ipkvm_screen_cell(const struct ipkvm_screen *s, int *cw, int *ch, int *x0, int *y0)
{
	bool fw = s->phase == IPKVM_SCREEN_FIRMWARE;
	int scale = fw ? 1 : s->con_scale;
	if (cw)
		*cw = IPKVM_FONT_W * scale;
	if (ch)
		*ch = IPKVM_FONT_H * scale;
	if (x0)
		*x0 = fw ? 0 : s->con_x0;
	if (y0)
		*y0 = fw ? 0 : s->con_y0;
}

int ipkvm_screen_rows(const struct ipkvm_screen *s)
{
	return grid_rows(s);
}

int ipkvm_screen_cols(const struct ipkvm_screen *s)
{
	return grid_cols(s);
}

int ipkvm_screen_row_text(const struct ipkvm_screen *s, int r, char *buf, size_t len)
{
	if (!buf || len == 0)
		return -EINVAL;
	buf[0] = '\0';
	if (s->phase == IPKVM_SCREEN_OFF)
		return -ENODATA;
	int rows = grid_rows(s), cols = grid_cols(s);
	if (r < 0 || r >= rows)
		return -EINVAL;
	const uint16_t *row = s->grid + (size_t)r * cols;
	int n = cols;
	while (n > 0 && CELL_CHAR(row[n - 1]) == ' ')
		n--;
	int ret = 0;
	if ((size_t)n >= len) {
		n = (int)len - 1;
		ret = -ENOSPC;
	}
	for (int c = 0; c < n; c++)
		buf[c] = (char)CELL_CHAR(row[c]);
	buf[n] = '\0';
	return ret;
}

void ipkvm_screen_cursor(const struct ipkvm_screen *s, int *row, int *col)
{
	int rr = -1, cc = -1;
	if (s->phase == IPKVM_SCREEN_CONSOLE) {
		int n = text_rows(s) * s->con_cols;
		for (int i = 0; i < n; i++)
			if (s->grid[i] & CELL_CURSOR) {
				rr = i / s->con_cols;
				cc = i % s->con_cols;
				break;
			}
	}
	if (row)
		*row = rr;
	if (col)
		*col = cc;
}

void ipkvm_screen_state(const struct ipkvm_screen *s, struct ipkvm_screen_state *out)
{
	memset(out, 0, sizeof(*out));
	out->phase = s->phase;
	ipkvm_screen_mode(s, &out->width, &out->height, &out->fps);
	out->rows = grid_rows(s);
	out->cols = grid_cols(s);
	ipkvm_screen_cursor(s, &out->cursor_row, &out->cursor_col);
	out->pointer_x = s->px;
	out->pointer_y = s->py;
	out->buttons = s->buttons;
	out->leds = s->leds;
	ipkvm_strlcpy(out->layout, s->layout, sizeof(out->layout));
	out->marks = s->phase == IPKVM_SCREEN_CONSOLE ? s->nmarks : 0;
	out->scrollback = s->phase == IPKVM_SCREEN_CONSOLE ? s->scroll : 0;
	out->fw_tab = s->tab;
	out->fw_selected = s->sel;
	out->countdown_s = s->phase == IPKVM_SCREEN_FIRMWARE && s->counting ? s->shown_n : -1;
	out->booted = s->phase == IPKVM_SCREEN_CONSOLE && s->booted;
	out->boot_index = out->booted ? s->boot_index : -1;
	if (out->booted)
		ipkvm_strlcpy(out->boot_name, s->boot_name, sizeof(out->boot_name));
}

/* ---- rendering ------------------------------------------------------------------------------ */

/* What to write for one colour pair in the frame's format. For 4:2:2: pair[k] is a Y-U-Y-V
 * (or U-Y-V-Y) quad with the left pixel fg when k & 2 and the right one when k & 1; a mixed
 * pair gets the mean chroma of both colours. For RGB: fg and bg in memory order. */
struct pen {
	uint8_t pair[4][4];
	uint8_t fg[3], bg[3];
};

struct painter {
	enum ipkvm_pixfmt fmt;
	unsigned bpp;
	int w, scale, cw, x0, cols;
	struct pen pens[A_COUNT][2]; /* [attr][inverse] */
};

static void rgb_bytes(enum ipkvm_pixfmt fmt, struct ipkvm_rgb c, uint8_t out[3])
{
	out[0] = fmt == IPKVM_FMT_BGR24 ? c.b : c.r;
	out[1] = c.g;
	out[2] = fmt == IPKVM_FMT_BGR24 ? c.r : c.b;
}

static void pen_init(struct pen *p, enum ipkvm_pixfmt fmt, struct ipkvm_rgb fg, struct ipkvm_rgb bg)
{
	uint8_t y[2], u[2], v[2]; /* [0] bg, [1] fg */
	ipkvm_rgb_to_yuv(bg, &y[0], &u[0], &v[0]);
	ipkvm_rgb_to_yuv(fg, &y[1], &u[1], &v[1]);
	for (int k = 0; k < 4; k++) {
		int l = (k >> 1) & 1, r = k & 1;
		uint8_t cu = l == r ? u[l] : (uint8_t)((u[0] + u[1] + 1) / 2);
		uint8_t cv = l == r ? v[l] : (uint8_t)((v[0] + v[1] + 1) / 2);
		uint8_t *q = p->pair[k];
		if (fmt == IPKVM_FMT_UYVY) {
			q[0] = cu;
			q[1] = y[l];
			q[2] = cv;
			q[3] = y[r];
		} else {
			q[0] = y[l];
			q[1] = cu;
			q[2] = y[r];
			q[3] = cv;
		}
	}
	rgb_bytes(fmt, fg, p->fg);
	rgb_bytes(fmt, bg, p->bg);
}

/* Fills pixels [x, x + n) of a line with the pen's background (x, n even in 4:2:2). */
static void fill_span(const struct painter *pt, uint8_t *line, int x, int n, const struct pen *p)
{
	if (n <= 0)
		return;
	uint8_t *o = line + (size_t)x * pt->bpp;
	if (pt->bpp == 2) {
		for (int i = 0; i < n; i += 2, o += 4)
			memcpy(o, p->pair[0], 4);
	} else {
		for (int i = 0; i < n; i++, o += 3)
			memcpy(o, p->bg, 3);
	}
}

/* One pixel line of a text row: font row fr of every cell, plus the margins. */
static void paint_line(const struct painter *pt, uint8_t *line, const uint16_t *cells, int fr)
{
	const struct pen *band = &pt->pens[CELL_ATTR(cells[0])][0];
	fill_span(pt, line, 0, pt->x0, band);
	uint8_t *o = line + (size_t)pt->x0 * pt->bpp;
	for (int c = 0; c < pt->cols; c++) {
		uint16_t v = cells[c];
		const struct pen *p = &pt->pens[CELL_ATTR(v)][(v & CELL_INV) ? 1 : 0];
		unsigned bits = ipkvm_font_glyph(CELL_CHAR(v))[fr];
		if ((v & CELL_CURSOR) && fr >= IPKVM_FONT_H - 2)
			bits = 0xff;
		if (pt->bpp == 2 && pt->scale == 1) {
			for (int i = 6; i >= 0; i -= 2, o += 4)
				memcpy(o, p->pair[(bits >> i) & 3], 4);
		} else if (pt->bpp == 2) {
			for (int i = 7; i >= 0; i--, o += 4)
				memcpy(o, p->pair[((bits >> i) & 1) * 3], 4);
		} else {
			for (int i = 7; i >= 0; i--) {
				const uint8_t *src = ((bits >> i) & 1) ? p->fg : p->bg;
				for (int k = 0; k < pt->scale; k++, o += 3)
					memcpy(o, src, 3);
			}
		}
	}
	int xe = pt->x0 + pt->cols * pt->cw;
	fill_span(pt, line, xe, pt->w - xe, band);
}

/* One pixel of the pointer (any x: in 4:2:2 the pair's chroma becomes this colour's). */
static void put_px(const struct painter *pt, uint8_t *line, int x, const struct pen *p)
{
	if (pt->bpp == 3) {
		memcpy(line + (size_t)x * 3, p->fg, 3);
		return;
	}
	uint8_t *q = line + (size_t)(x & ~1) * 2;
	int yi = pt->fmt == IPKVM_FMT_UYVY ? 1 : 0, ci = 1 - yi;
	q[yi + (x & 1) * 2] = p->pair[3][yi];
	q[ci] = p->pair[3][ci];
	q[ci + 2] = p->pair[3][ci + 2];
}

static void paint_pointer(const struct ipkvm_screen *s, const struct painter *pt,
			  struct ipkvm_frame *f, int w, int h)
{
	static const struct ipkvm_rgb black = {0, 0, 0}, white = {255, 255, 255};
	struct pen pb, pw;
	pen_init(&pb, pt->fmt, black, black);
	pen_init(&pw, pt->fmt, white, white);
	for (int sy = 0; sy < IPKVM_POINTER_H * pt->scale; sy++) {
		int y = s->py + sy;
		if (y >= h)
			break;
		uint8_t *line = f->data + (size_t)y * f->stride;
		const char *art = ipkvm_pointer_art[sy / pt->scale];
		for (int sx = 0; sx < IPKVM_POINTER_W * pt->scale; sx++) {
			int x = s->px + sx;
			char a = art[sx / pt->scale];
			if (x >= w)
				break;
			if (a != '.')
				put_px(pt, line, x, a == 'X' ? &pb : &pw);
		}
	}
}

int ipkvm_screen_render(const struct ipkvm_screen *s, struct ipkvm_frame *f)
{
	if (s->phase == IPKVM_SCREEN_OFF)
		return -ENODATA;
	int w = cur_w(s), h = cur_h(s);
	if (!f || !f->data)
		return -EINVAL;
	unsigned bpp = ipkvm_pixfmt_bpp(f->format);
	if (bpp == 0 || f->width != (unsigned)w || f->height != (unsigned)h ||
	    f->stride < (size_t)w * bpp || f->capacity < f->stride * (size_t)h)
		return -EINVAL;

	struct painter pt = {.fmt = f->format, .bpp = bpp, .w = w};
	int rows = grid_rows(s), ch, y0, bg;
	ipkvm_screen_cell(s, &pt.cw, &ch, &pt.x0, &y0);
	pt.scale = pt.cw / IPKVM_FONT_W;
	pt.cols = grid_cols(s);
	bg = s->phase == IPKVM_SCREEN_FIRMWARE ? A_FW_BODY : A_CON_TEXT;
	for (int a = 0; a < A_COUNT; a++) {
		pen_init(&pt.pens[a][0], pt.fmt, palette[a].fg, palette[a].bg);
		pen_init(&pt.pens[a][1], pt.fmt, palette[a].bg, palette[a].fg);
	}

	size_t lb = (size_t)w * bpp;
	for (int r = 0; r < rows; r++) {
		const uint16_t *cells = s->grid + (size_t)r * pt.cols;
		for (int fr = 0; fr < IPKVM_FONT_H; fr++) {
			int y = y0 + r * ch + fr * pt.scale;
			uint8_t *line = f->data + (size_t)y * f->stride;
			paint_line(&pt, line, cells, fr);
			for (int k = 1; k < pt.scale; k++)
				memcpy(line + (size_t)k * f->stride, line, lb);
		}
	}
	/* The margins above and below the grid. */
	for (int y = 0; y < h; y++) {
		if (y == y0)
			y = y0 + rows * ch;
		if (y >= h)
			break;
		fill_span(&pt, f->data + (size_t)y * f->stride, 0, w, &pt.pens[bg][0]);
	}
	paint_pointer(s, &pt, f, w, h);
	f->size = f->stride * (size_t)h;
	return 0;
}
