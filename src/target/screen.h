/*
 * target/screen: the virtual computer's display and the software running on it (a firmware
 * setup utility with a boot menu, then a text console with a tiny shell), as a pure model plus
 * a renderer into raw frames.
 *
 * Shape: no I/O, no clock, no threads. Time comes in as arguments (monotonic ms), the caller
 * arms a timer for ipkvm_screen_next_deadline() and calls ipkvm_screen_tick(). Input arrives
 * as the USB host decoded it (target/hidhost.h: key usages, typed characters, pointer pixels,
 * wheel steps). Power is owned by the caller (target/power.c): the screen only reports what
 * its software asked for (ipkvm_screen_take_action) and is told power on/off.
 *
 * After every change the model composes a grid of character cells (text, colour, mark,
 * cursor) for the current phase and compares it with the previous one: the generation counter
 * moves only when the picture would differ, so the caller re-renders only on change. The same
 * grid answers row_text() and feeds the renderer.
 *
 * Phases and modes:
 *   OFF       no signal: render gives -ENODATA, the caller shows its "no signal" picture.
 *   FIRMWARE  1024x768, 8x16 cells (128x48): tabs Main / Boot / Exit, autoboot countdown.
 *   CONSOLE   the configured mode (default 1920x1080), 16x32 cells (8x16 font at scale 2;
 *             scale 1 for modes below 1280x720); the last row is the status line.
 *
 * Not thread-safe: the caller locks.
 */
#ifndef IPKVM_TARGET_SCREEN_H
#define IPKVM_TARGET_SCREEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "video/frame.h"

#define IPKVM_SCREEN_FW_WIDTH	 1024
#define IPKVM_SCREEN_FW_HEIGHT	 768
#define IPKVM_SCREEN_MEDIA_MAX	 16  /* boot menu entries beyond the internal disk */
#define IPKVM_SCREEN_INPUT_MAX	 255 /* longest command line typed at the prompt */
#define IPKVM_SCREEN_SCROLLBACK	 256 /* lines kept above the visible console rows */
#define IPKVM_SCREEN_WHEEL_LINES 3   /* console lines per wheel step */

struct ipkvm_screen_config {
	int width, height;  /* console mode: even width 320..7680, height 200..4320 */
	int fps;	    /* mode rate 1..240 (reported, not used for timing) */
	int autoboot_ms;    /* firmware countdown before booting entry 0; 0 = none; max 600000 */
	const char *layout; /* "us" or "jp"; NULL = "us" */
};

/* One attached medium. error is "" when the label was read; otherwise why it was not. */
struct ipkvm_screen_media {
	char name[256];
	char label[33];
	char error[96];
};

enum ipkvm_screen_phase {
	IPKVM_SCREEN_OFF = 0,
	IPKVM_SCREEN_FIRMWARE,
	IPKVM_SCREEN_CONSOLE,
};

enum ipkvm_screen_action {
	IPKVM_SCREEN_ACT_NONE = 0,
	IPKVM_SCREEN_ACT_BOOTED,   /* the firmware handed over to an OS: power RUNNING */
	IPKVM_SCREEN_ACT_POWEROFF, /* "poweroff" typed, or "Power off" chosen in the firmware */
	IPKVM_SCREEN_ACT_REBOOT,   /* "reboot" typed, or Ctrl+Alt+Del */
};

/* Everything an API reports besides the rows' text. */
struct ipkvm_screen_state {
	enum ipkvm_screen_phase phase;
	int width, height, fps;	    /* current mode (OFF: the console mode) */
	int rows, cols;		    /* text grid (0 when OFF) */
	int cursor_row, cursor_col; /* console text cursor on screen, -1 when not shown */
	int pointer_x, pointer_y;
	uint8_t buttons, leds;
	char layout[8];
	int marks;	     /* marked console cells */
	int scrollback;	     /* console lines the view is scrolled back by */
	int fw_tab;	     /* firmware: 0 Main, 1 Boot, 2 Exit */
	int fw_selected;     /* firmware: selected boot entry (0 = internal disk) */
	int countdown_s;     /* firmware autoboot seconds shown, -1 when stopped/none */
	bool booted;	     /* in CONSOLE after a boot; then: */
	int boot_index;	     /* -1 internal disk, else the media index booted */
	char boot_name[256]; /* "Internal disk" or the medium's name */
};

struct ipkvm_screen;

/* Fills cfg with the defaults: 1920x1080 at 60, autoboot 3000 ms, layout "us". */
void ipkvm_screen_config_defaults(struct ipkvm_screen_config *cfg);

/* cfg NULL = defaults. NULL on bad config or no memory (logged). Starts OFF. */
struct ipkvm_screen *ipkvm_screen_create(const struct ipkvm_screen_config *cfg);
void ipkvm_screen_destroy(struct ipkvm_screen *s);

/* on: (re)starts the machine (power on, reset, reboot): FIRMWARE on the Main tab, entry 0
 * selected, countdown from now_ms, console and marks reset. off: OFF (no-op when already OFF).
 * Both drop actions not yet taken: call it after taking them. */
void ipkvm_screen_power(struct ipkvm_screen *s, bool on, int64_t now_ms);

/* Replaces the attached media list (copied). Returns 0, -EINVAL (m NULL with n > 0) or
 * -E2BIG (more than IPKVM_SCREEN_MEDIA_MAX: the first ones are kept). The firmware selection
 * is clamped to the new list. */
int ipkvm_screen_set_media(struct ipkvm_screen *s, const struct ipkvm_screen_media *m, size_t n);
/* Lock LEDs: bit0 Num, bit1 Caps, bit2 Scroll (as IPKVM_HIDHOST_LED_*). */
void ipkvm_screen_set_leds(struct ipkvm_screen *s, uint8_t leds);
/* "us" or "jp". Returns 0 or -EINVAL (unchanged). */
int ipkvm_screen_set_layout(struct ipkvm_screen *s, const char *layout);

/* Input as target/hidhost decodes it. Keys (page 0x07) drive the firmware; characters
 * (0x20..0x7e, '\n', '\b'; '\t' and others ignored) drive the console. Pointer in pixels of
 * the current mode (clamped), buttons 1 left, 2 right, 4 middle; wheel + = up. */
void ipkvm_screen_key(struct ipkvm_screen *s, uint8_t usage, bool down, uint8_t mods,
		      int64_t now_ms);
void ipkvm_screen_char(struct ipkvm_screen *s, uint32_t cp, int64_t now_ms);
void ipkvm_screen_pointer(struct ipkvm_screen *s, int x, int y, uint8_t buttons);
void ipkvm_screen_wheel(struct ipkvm_screen *s, int wheel, int pan);

/* Absolute ms of the next change that happens by itself (the countdown's next second or the
 * autoboot), -1 when none. tick() applies what is due at now_ms. */
int64_t ipkvm_screen_next_deadline(const struct ipkvm_screen *s);
void ipkvm_screen_tick(struct ipkvm_screen *s, int64_t now_ms);

/* The oldest request of the software not yet taken (a small queue), cleared by taking it;
 * IPKVM_SCREEN_ACT_NONE when none. For BOOTED, *media_index (may be NULL) gets the booted
 * entry: -1 internal disk, else the media index; -1 for the other actions. */
enum ipkvm_screen_action ipkvm_screen_take_action(struct ipkvm_screen *s, int *media_index);

/* Bumped on every visible change, never on a no-op. */
uint64_t ipkvm_screen_generation(const struct ipkvm_screen *s);
enum ipkvm_screen_phase ipkvm_screen_phase(const struct ipkvm_screen *s);
/* The current phase's mode; OFF gives the console mode. Pointers may be NULL. */
void ipkvm_screen_mode(const struct ipkvm_screen *s, int *w, int *h, int *fps);
/* Cell size in pixels and the text grid's top-left corner in the current mode. */
void ipkvm_screen_cell(const struct ipkvm_screen *s, int *cw, int *ch, int *x0, int *y0);
int ipkvm_screen_rows(const struct ipkvm_screen *s); /* 0 when OFF */
int ipkvm_screen_cols(const struct ipkvm_screen *s); /* 0 when OFF */
/* Text of screen row r as shown now (the console's last row is the status line), trailing
 * spaces removed. Returns 0, -ENODATA when OFF, -EINVAL for a bad row or len 0, -ENOSPC when
 * truncated (buf still NUL-terminated). */
int ipkvm_screen_row_text(const struct ipkvm_screen *s, int r, char *buf, size_t len);
/* Console text cursor on screen; -1, -1 when not shown (OFF, firmware, scrolled back,
 * halted). */
void ipkvm_screen_cursor(const struct ipkvm_screen *s, int *row, int *col);
void ipkvm_screen_state(const struct ipkvm_screen *s, struct ipkvm_screen_state *out);

/* Renders the whole picture into f (YUYV, UYVY, RGB24 or BGR24; f->width x f->height must be
 * the current mode and the buffer big enough, else -EINVAL); -ENODATA when OFF. Sets
 * f->size; leaves seq and ts_us to the caller. */
int ipkvm_screen_render(const struct ipkvm_screen *s, struct ipkvm_frame *f);

#endif
