/*
 * target/hidhost: the virtual target's USB host side of HID (see hidhost.h for the contract).
 *
 * Why it is shaped so:
 *   - It is written as an independent reader of the report formats, not by reusing hid/
 *     code, so that the virtual target is a real check on the bytes the HID layer emits: the
 *     layout tables below are our own (from the US and JIS 109 keycaps), not hid/layout.c's.
 *   - The keyboard is tracked as "set of usages down" and events come from diffing the new
 *     report against it, which is what an OS driver does with boot reports (they carry state,
 *     not events). The diff order (modifiers, releases, presses) makes a report that presses
 *     Shift and a key at once type the shifted character, like a real host.
 *   - Characters come from key-down events only; Caps Lock affects letters only, Num Lock the
 *     keypad only, as on a PC.
 */
#define LOG_TAG "hidhost"
#include "core/log.h"

#include "target/hidhost.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KBD_LEN	     8
#define ABS_LEN	     7
#define REL_LEN	     5
#define CONSUMER_LEN 3
#define SYSTEM_LEN   2
#define ABS_MAX	     32767

#define U_CAPS	 0x39
#define U_SCROLL 0x47
#define U_NUM	 0x53
#define U_MODS	 0xE0 /* first modifier usage */

/* Modifier byte masks. */
#define M_SHIFT 0x22 /* LeftShift | RightShift */
#define M_CTRL	0x11
#define M_ALT	0x44
#define M_GUI	0x88

struct ipkvm_hidhost {
	struct ipkvm_hidhost_config cfg; /* settings (width/height/layout kept current here) */
	uint8_t mods;			 /* modifier byte as last applied */
	uint8_t keys[6];		 /* non-modifier usages down, 0 = empty slot */
	uint8_t leds;
	uint16_t consumer; /* consumer usage held, 0 = none */
	uint8_t system;	   /* system control bits held */
	int x, y;
	uint8_t buttons;
	long wheel, pan;
};

/* One key's meaning: unshifted and shifted character, 0 = none. */
struct keychar {
	char plain, shift;
};

/*
 * Keys that mean the same on both layouts: letters are handled in code (Caps Lock), the
 * keypad in code (Num Lock). Usages are HID Usage Tables keyboard page 0x07.
 */
static const struct keychar common_keys[0x68] = {
    [0x28] = {'\n', '\n'}, /* Enter */
    [0x2A] = {'\b', '\b'}, /* Backspace */
    [0x2B] = {'\t', '\t'}, /* Tab */
    [0x2C] = {' ', ' '},   /* Space */
    [0x36] = {',', '<'},   [0x37] = {'.', '>'}, [0x38] = {'/', '?'},
};

/* US (ANSI) keycaps for the punctuation and digit row. */
static const struct keychar us_keys[0x68] = {
    [0x1E] = {'1', '!'},  [0x1F] = {'2', '@'},	[0x20] = {'3', '#'},
    [0x21] = {'4', '$'},  [0x22] = {'5', '%'},	[0x23] = {'6', '^'},
    [0x24] = {'7', '&'},  [0x25] = {'8', '*'},	[0x26] = {'9', '('},
    [0x27] = {'0', ')'},  [0x2D] = {'-', '_'},	[0x2E] = {'=', '+'},
    [0x2F] = {'[', '{'},  [0x30] = {']', '}'},	[0x31] = {'\\', '|'},
    [0x32] = {'\\', '|'}, [0x33] = {';', ':'},	[0x34] = {'\'', '"'},
    [0x35] = {'`', '~'},  [0x64] = {'\\', '|'}, /* Non-US \ (ISO 102nd key): US Windows types \ | */
};

/*
 * JIS 109 keycaps. The HID usage is named after the US key in the same position: the US "="
 * key is JIS ^~, "[" is @`, "]" is [{, "\" and Non-US # (the key left of Enter) are ]}, "'"
 * is :*, "`" is Hankaku/Zenkaku (no character). Shift+0 types nothing on JIS.
 */
static const struct keychar jp_keys[0x68] = {
    [0x1E] = {'1', '!'}, [0x1F] = {'2', '"'}, [0x20] = {'3', '#'},  [0x21] = {'4', '$'},
    [0x22] = {'5', '%'}, [0x23] = {'6', '&'}, [0x24] = {'7', '\''}, [0x25] = {'8', '('},
    [0x26] = {'9', ')'}, [0x27] = {'0', 0},   [0x2D] = {'-', '='},  [0x2E] = {'^', '~'},
    [0x2F] = {'@', '`'}, [0x30] = {'[', '{'}, [0x31] = {']', '}'},  [0x32] = {']', '}'},
    [0x33] = {';', '+'}, [0x34] = {':', '*'},
};

/* International1 (Ro, 0x87) and International3 (Yen, 0x89): JIS only. */
static const struct keychar jp_ro = {'\\', '_'};
static const struct keychar jp_yen = {'\\', '|'};

/* Keypad 0x54..0x63 and 0x67/0x85: operators always, digits/'.' only with Num Lock. */
static char keypad_char(uint8_t usage, bool numlock)
{
	static const char ops[] = {'/', '*', '-', '+', '\n'}; /* 0x54..0x58 */
	static const char digits[] = "1234567890.";	      /* 0x59..0x63 */

	if (usage >= 0x54 && usage <= 0x58)
		return ops[usage - 0x54];
	if (usage >= 0x59 && usage <= 0x63)
		return numlock ? digits[usage - 0x59] : 0;
	if (usage == 0x67)
		return '=';
	if (usage == 0x85)
		return ',';
	return 0;
}

static void leds_changed(struct ipkvm_hidhost *h, uint8_t leds)
{
	if (leds == h->leds)
		return;
	h->leds = leds;
	LOG_DEBUG("LED report 0x%02x", leds);
	if (h->cfg.on_leds)
		h->cfg.on_leds(leds, h->cfg.ctx);
}

/* The character a key-down types under the current modifiers/locks, 0 for none. */
static uint32_t key_char(const struct ipkvm_hidhost *h, uint8_t usage)
{
	bool shift = (h->mods & M_SHIFT) != 0;
	bool jp = h->cfg.layout == IPKVM_HIDHOST_LAYOUT_JP;
	const struct keychar *kc = NULL;

	if (h->mods & (M_CTRL | M_ALT | M_GUI))
		return 0;
	if (usage >= 0x04 && usage <= 0x1D) {
		/* Caps Lock flips the case of letters only; Shift+Caps gives lower case. */
		bool upper = shift != ((h->leds & IPKVM_HIDHOST_LED_CAPS) != 0);
		return (uint32_t)((upper ? 'A' : 'a') + (usage - 0x04));
	}
	if ((usage >= 0x54 && usage <= 0x63) || usage == 0x67 || usage == 0x85) {
		/* On a PC, Shift with Num Lock on gives the navigation meaning: no digit. */
		bool num = (h->leds & IPKVM_HIDHOST_LED_NUM) && !shift;
		return (uint8_t)keypad_char(usage, num);
	}
	if (usage < 0x68 && common_keys[usage].plain)
		kc = &common_keys[usage];
	else if (usage < 0x68)
		kc = jp ? &jp_keys[usage] : &us_keys[usage];
	else if (jp && usage == 0x87)
		kc = &jp_ro;
	else if (jp && usage == 0x89)
		kc = &jp_yen;
	if (!kc)
		return 0;
	return (uint8_t)(shift ? kc->shift : kc->plain);
}

static void key_event(struct ipkvm_hidhost *h, uint8_t usage, bool down)
{
	if (h->cfg.on_key)
		h->cfg.on_key(usage, down, h->cfg.ctx);
	if (!down || usage >= U_MODS)
		return;
	switch (usage) {
	case U_CAPS:
		leds_changed(h, h->leds ^ IPKVM_HIDHOST_LED_CAPS);
		return;
	case U_NUM:
		leds_changed(h, h->leds ^ IPKVM_HIDHOST_LED_NUM);
		return;
	case U_SCROLL:
		leds_changed(h, h->leds ^ IPKVM_HIDHOST_LED_SCROLL);
		return;
	default:
		break;
	}
	uint32_t c = key_char(h, usage);
	if (c && h->cfg.on_char)
		h->cfg.on_char(c, h->cfg.ctx);
}

static bool has_key(const uint8_t keys[6], uint8_t usage)
{
	for (int i = 0; i < 6; i++)
		if (keys[i] == usage)
			return true;
	return false;
}

static void keyboard_report(struct ipkvm_hidhost *h, const uint8_t *r)
{
	uint8_t keys[6] = {0};
	bool phantom = false;
	int n = 0;

	/* Byte 1 is reserved. Bytes 2..7: usages; 0x01..0x03 are error codes (phantom). */
	for (int i = 2; i < KBD_LEN; i++) {
		if (r[i] >= 0x01 && r[i] <= 0x03)
			phantom = true;
		/* Usages >= 0xE0 in the array are not keys of a boot report: skip them; a
		 * repeated usage counts once. */
		else if (r[i] && r[i] < U_MODS && !has_key(keys, r[i]))
			keys[n++] = r[i];
	}

	/* 1. Modifiers (applied even in the phantom state, as a real host does). */
	uint8_t changed = h->mods ^ r[0];
	for (int b = 0; b < 8; b++) {
		if (!(changed & (1u << b)))
			continue;
		bool down = (r[0] >> b) & 1;
		h->mods = (uint8_t)(h->mods ^ (1u << b));
		key_event(h, (uint8_t)(U_MODS + b), down);
	}
	if (phantom) {
		LOG_DEBUG("phantom keyboard report: key array ignored");
		return;
	}
	/* 2. Releases, in the order they were held. */
	for (int i = 0; i < 6; i++) {
		uint8_t u = h->keys[i];
		if (u && !has_key(keys, u)) {
			h->keys[i] = 0;
			key_event(h, u, false);
		}
	}
	/* 3. Presses, in report (press) order. State is updated before each event so a
	 * callback querying key_down sees it. */
	uint8_t old[6];
	memcpy(old, h->keys, sizeof(old));
	memcpy(h->keys, keys, sizeof(keys));
	for (int i = 0; i < n; i++)
		if (!has_key(old, keys[i]))
			key_event(h, keys[i], true);
}

static int consumer_system_report(struct ipkvm_hidhost *h, const uint8_t *r, size_t len)
{
	if (len == CONSUMER_LEN && r[0] == 0x01) {
		uint16_t u = (uint16_t)(r[1] | (r[2] << 8));
		if (u == h->consumer)
			return 0;
		uint16_t old = h->consumer;
		h->consumer = u;
		if (h->cfg.on_consumer && old)
			h->cfg.on_consumer(old, false, h->cfg.ctx);
		if (h->cfg.on_consumer && u)
			h->cfg.on_consumer(u, true, h->cfg.ctx);
		return 0;
	}
	if (len == SYSTEM_LEN && r[0] == 0x02) {
		uint8_t bits = r[1] & 0x07; /* bits 3..7 are padding */
		uint8_t changed = h->system ^ bits;
		h->system = bits;
		for (int b = 0; b < 3; b++)
			if ((changed & (1u << b)) && h->cfg.on_system)
				h->cfg.on_system((uint8_t)(0x81 + b), (bits >> b) & 1, h->cfg.ctx);
		return 0;
	}
	return -EINVAL;
}

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* 0..32767 -> 0..size-1, rounded to nearest. */
static int abs_to_px(unsigned v, int size)
{
	if (v > ABS_MAX)
		v = ABS_MAX;
	return (int)(((long long)v * (size - 1) + ABS_MAX / 2) / ABS_MAX);
}

static void pointer_report(struct ipkvm_hidhost *h, uint8_t buttons, int x, int y, int8_t wheel,
			   int8_t pan)
{
	bool moved = x != h->x || y != h->y || buttons != h->buttons;

	h->x = x;
	h->y = y;
	h->buttons = buttons;
	if (moved && h->cfg.on_pointer)
		h->cfg.on_pointer(x, y, buttons, h->cfg.ctx);
	if (wheel || pan) {
		h->wheel += wheel;
		h->pan += pan;
		if (h->cfg.on_wheel)
			h->cfg.on_wheel(wheel, pan, h->cfg.ctx);
	}
}

int ipkvm_hidhost_report(struct ipkvm_hidhost *h, enum ipkvm_hidhost_kind kind, const uint8_t *r,
			 size_t len)
{
	if (!h || !r)
		return -EINVAL;
	switch (kind) {
	case IPKVM_HIDHOST_KEYBOARD:
		if (len != KBD_LEN)
			return -EINVAL;
		keyboard_report(h, r);
		return 0;
	case IPKVM_HIDHOST_CONSUMER_SYSTEM:
		return consumer_system_report(h, r, len);
	case IPKVM_HIDHOST_MOUSE_ABS:
		if (len != ABS_LEN)
			return -EINVAL;
		/* Buttons: 5 bits declared, the rest is padding. */
		pointer_report(h, r[0] & 0x1F,
			       abs_to_px((unsigned)(r[1] | (r[2] << 8)), h->cfg.width),
			       abs_to_px((unsigned)(r[3] | (r[4] << 8)), h->cfg.height),
			       (int8_t)r[5], (int8_t)r[6]);
		return 0;
	case IPKVM_HIDHOST_MOUSE_REL:
		if (len != REL_LEN)
			return -EINVAL;
		pointer_report(h, r[0] & 0x1F, clamp(h->x + (int8_t)r[1], 0, h->cfg.width - 1),
			       clamp(h->y + (int8_t)r[2], 0, h->cfg.height - 1), (int8_t)r[3],
			       (int8_t)r[4]);
		return 0;
	default:
		return -EINVAL;
	}
}

int ipkvm_hidhost_layout_parse(const char *name, enum ipkvm_hidhost_layout *out)
{
	if (name && !strcmp(name, "us"))
		*out = IPKVM_HIDHOST_LAYOUT_US;
	else if (name && !strcmp(name, "jp"))
		*out = IPKVM_HIDHOST_LAYOUT_JP;
	else
		return -EINVAL;
	return 0;
}

const char *ipkvm_hidhost_layout_name(enum ipkvm_hidhost_layout layout)
{
	return layout == IPKVM_HIDHOST_LAYOUT_JP ? "jp" : "us";
}

static bool size_ok(int w, int hgt)
{
	return w >= 1 && w <= IPKVM_HIDHOST_SCREEN_MAX && hgt >= 1 &&
	       hgt <= IPKVM_HIDHOST_SCREEN_MAX;
}

static bool layout_ok(enum ipkvm_hidhost_layout layout)
{
	return layout == IPKVM_HIDHOST_LAYOUT_US || layout == IPKVM_HIDHOST_LAYOUT_JP;
}

struct ipkvm_hidhost *ipkvm_hidhost_create(const struct ipkvm_hidhost_config *cfg)
{
	struct ipkvm_hidhost *h = NULL;

	if (!cfg || !size_ok(cfg->width, cfg->height) || !layout_ok(cfg->layout)) {
		LOG_ERROR("bad config (screen size or layout)");
		goto out;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		LOG_ERROR("out of memory");
		goto out;
	}
	h->cfg = *cfg;
	h->leds = cfg->leds & 0x07;
	h->x = (cfg->width - 1) / 2;
	h->y = (cfg->height - 1) / 2;
out:
	return h;
}

void ipkvm_hidhost_destroy(struct ipkvm_hidhost *h)
{
	free(h);
}

int ipkvm_hidhost_set_layout(struct ipkvm_hidhost *h, enum ipkvm_hidhost_layout layout)
{
	if (!layout_ok(layout))
		return -EINVAL;
	h->cfg.layout = layout;
	return 0;
}

int ipkvm_hidhost_set_screen(struct ipkvm_hidhost *h, int width, int height)
{
	if (!size_ok(width, height))
		return -EINVAL;
	h->cfg.width = width;
	h->cfg.height = height;
	h->x = clamp(h->x, 0, width - 1);
	h->y = clamp(h->y, 0, height - 1);
	return 0;
}

void ipkvm_hidhost_pointer(const struct ipkvm_hidhost *h, int *x, int *y)
{
	*x = h->x;
	*y = h->y;
}

uint8_t ipkvm_hidhost_buttons(const struct ipkvm_hidhost *h)
{
	return h->buttons;
}

uint8_t ipkvm_hidhost_leds(const struct ipkvm_hidhost *h)
{
	return h->leds;
}

uint8_t ipkvm_hidhost_modifiers(const struct ipkvm_hidhost *h)
{
	return h->mods;
}

bool ipkvm_hidhost_key_down(const struct ipkvm_hidhost *h, uint8_t usage)
{
	if (usage >= U_MODS)
		return (h->mods >> (usage - U_MODS)) & 1;
	return usage && has_key(h->keys, usage);
}

void ipkvm_hidhost_wheel_total(const struct ipkvm_hidhost *h, long *wheel, long *pan)
{
	*wheel = h->wheel;
	*pan = h->pan;
}
