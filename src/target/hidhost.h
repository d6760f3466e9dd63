/*
 * target/hidhost: the virtual target's USB host view of HID, i.e. what an OS HID driver does
 * with the report bytes a keyboard and mice send it.
 *
 * Input: the exact report bytes the HID layer emits (formats in hid/keyboard.h, hid/mouse.h),
 * one report per call, tagged with the interface it arrived on:
 *   IPKVM_HIDHOST_KEYBOARD        boot keyboard, 8 bytes [mods, 0, k1..k6]
 *   IPKVM_HIDHOST_CONSUMER_SYSTEM consumer [0x01, lo, hi] or system [0x02, bits]
 *   IPKVM_HIDHOST_MOUSE_ABS       [buttons, x lo, x hi, y lo, y hi, wheel, pan]
 *   IPKVM_HIDHOST_MOUSE_REL       [buttons, dx, dy, wheel, pan]
 * Output: host events through callbacks (key down/up by keyboard usage, characters as a PC
 * with the configured layout would type them, consumer/system presses, pointer moves, wheel)
 * and the keyboard LED output report byte, sent back only when the lock state changes.
 *
 * Keyboard: successive boot reports are diffed. Modifier bits become usages 0xE0..0xE7. A key
 * array holding ErrorRollOver (0x01; also 0x02/0x03) is the phantom state: the key array is
 * ignored (previous keys stay down) while the modifier byte is still applied, as Linux does.
 * Event order within one report: modifier changes, then key releases, then key presses, so
 * a report that presses Shift and a letter together types the shifted letter.
 * Characters: us or jp layout (tables of our own, independent of hid/layout.c). Shift and Caps
 * Lock (letters only) select the shifted meaning; the keypad gives digits and '.' only with
 * Num Lock on and Shift up; Enter and keypad Enter give '\n', Backspace '\b', Tab '\t'. No
 * character is produced while Ctrl, Alt or GUI is held (those are shortcuts, not text).
 * Caps/Num/Scroll Lock toggle on their key-down.
 *
 * Pointer: a screen of W x H pixels. Absolute 0..32767 maps to 0..W-1 rounded to nearest
 * (x_px = (x * (W-1) + 16383) / 32767); values above 32767 are clamped. Relative moves add to
 * the position and clamp to the screen. Wheel/pan steps are summed into totals.
 *
 * Not thread-safe: one owner (the virtual target, on the main loop).
 */
#ifndef IPKVM_TARGET_HIDHOST_H
#define IPKVM_TARGET_HIDHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ipkvm_hidhost_kind {
	IPKVM_HIDHOST_KEYBOARD = 0,
	IPKVM_HIDHOST_CONSUMER_SYSTEM,
	IPKVM_HIDHOST_MOUSE_ABS,
	IPKVM_HIDHOST_MOUSE_REL,
};

enum ipkvm_hidhost_layout {
	IPKVM_HIDHOST_LAYOUT_US = 0,
	IPKVM_HIDHOST_LAYOUT_JP,
};

/* LED output report bits (host -> keyboard). */
#define IPKVM_HIDHOST_LED_NUM	 0x01
#define IPKVM_HIDHOST_LED_CAPS	 0x02
#define IPKVM_HIDHOST_LED_SCROLL 0x04

#define IPKVM_HIDHOST_SCREEN_MAX 32768 /* largest width/height accepted */

struct ipkvm_hidhost_config {
	int width, height;		  /* screen in pixels, 1..IPKVM_HIDHOST_SCREEN_MAX */
	enum ipkvm_hidhost_layout layout; /* keyboard layout of the target */
	uint8_t leds;			  /* initial lock state (LED bits); no callback for it */
	/* Callbacks, each may be NULL; all get ctx. */
	void (*on_key)(uint8_t usage, bool down, void *ctx);	   /* keyboard page 0x07 */
	void (*on_char)(uint32_t codepoint, void *ctx);		   /* typed character */
	void (*on_leds)(uint8_t leds, void *ctx);		   /* LED report, on change */
	void (*on_consumer)(uint16_t usage, bool down, void *ctx); /* consumer page 0x0C */
	void (*on_system)(uint8_t usage, bool down, void *ctx);	   /* desktop 0x81..0x83 */
	/* Position or buttons changed (after the report is applied). */
	void (*on_pointer)(int x, int y, uint8_t buttons, void *ctx);
	void (*on_wheel)(int wheel, int pan, void *ctx); /* non-zero steps of one report */
	void *ctx;
};

struct ipkvm_hidhost;

/* "us" / "jp" (case-sensitive). Returns 0 or -EINVAL. */
int ipkvm_hidhost_layout_parse(const char *name, enum ipkvm_hidhost_layout *out);
const char *ipkvm_hidhost_layout_name(enum ipkvm_hidhost_layout layout);

/* NULL on bad config (size out of range, unknown layout) or no memory (logged). The pointer
 * starts at the screen centre, nothing pressed. */
struct ipkvm_hidhost *ipkvm_hidhost_create(const struct ipkvm_hidhost_config *cfg);
void ipkvm_hidhost_destroy(struct ipkvm_hidhost *h);

/*
 * Applies one report. Returns 0, or -EINVAL for a NULL/wrong-length report, an unknown kind
 * or an unknown report ID on the consumer/system interface (state is then unchanged).
 */
int ipkvm_hidhost_report(struct ipkvm_hidhost *h, enum ipkvm_hidhost_kind kind,
			 const uint8_t *bytes, size_t len);

int ipkvm_hidhost_set_layout(struct ipkvm_hidhost *h, enum ipkvm_hidhost_layout layout);
/* New screen size (1..IPKVM_HIDHOST_SCREEN_MAX each, else -EINVAL); the pointer is clamped
 * into it. */
int ipkvm_hidhost_set_screen(struct ipkvm_hidhost *h, int width, int height);

void ipkvm_hidhost_pointer(const struct ipkvm_hidhost *h, int *x, int *y);
uint8_t ipkvm_hidhost_buttons(const struct ipkvm_hidhost *h);
uint8_t ipkvm_hidhost_leds(const struct ipkvm_hidhost *h);
uint8_t ipkvm_hidhost_modifiers(const struct ipkvm_hidhost *h);
/* Whether keyboard usage (0x04..0xE7) is held as the host sees it. */
bool ipkvm_hidhost_key_down(const struct ipkvm_hidhost *h, uint8_t usage);
/* Sums of all wheel / pan steps received (positive = up / right). */
void ipkvm_hidhost_wheel_total(const struct ipkvm_hidhost *h, long *wheel, long *pan);

#endif
