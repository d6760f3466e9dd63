/*
 * hid/mouse: absolute and relative mouse reports, video-to-target coordinate mapping and the
 * splitting of large relative moves (layouts in mouse.h).
 *
 * Why it is shaped so:
 *   - Pure functions of their arguments: the button state and the active mouse live in the
 *     HID service; these only turn numbers into bytes, so they are trivially testable.
 *   - Large moves are split greedily (127, 127, ..., rest) rather than evenly: every report but
 *     the last is a full step, the arithmetic is exact in integers and the sums equal the input
 *     by construction. Clipping instead would make the pointer drift from where the operator
 *     put it, which relative mice cannot recover from.
 *   - -128 is never produced: the descriptors declare -127..127, the boot mouse convention.
 *   - Counting is done in int64 so INT_MIN inputs cannot overflow.
 */
#define LOG_TAG "hid-mouse"
#include "core/log.h"

#include "hid/mouse.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Absolute mouse: 5 buttons + 3 padding bits, X and Y 0..32767, wheel, AC Pan. 7 bytes. */
const uint8_t ipkvm_hid_desc_abs_mouse[] = {
    0x05, 0x01,	      /* Usage Page (Generic Desktop) */
    0x09, 0x02,	      /* Usage (Mouse) */
    0xA1, 0x01,	      /* Collection (Application) */
    0x09, 0x01,	      /*   Usage (Pointer) */
    0xA1, 0x00,	      /*   Collection (Physical) */
    0x05, 0x09,	      /*     Usage Page (Button) */
    0x19, 0x01,	      /*     Usage Minimum (1) */
    0x29, 0x05,	      /*     Usage Maximum (5) */
    0x15, 0x00,	      /*     Logical Minimum (0) */
    0x25, 0x01,	      /*     Logical Maximum (1) */
    0x75, 0x01,	      /*     Report Size (1) */
    0x95, 0x05,	      /*     Report Count (5) */
    0x81, 0x02,	      /*     Input (Data,Var,Abs): byte 0 bits 0..4, buttons */
    0x75, 0x03,	      /*     Report Size (3) */
    0x95, 0x01,	      /*     Report Count (1) */
    0x81, 0x01,	      /*     Input (Const): byte 0 bits 5..7 */
    0x05, 0x01,	      /*     Usage Page (Generic Desktop) */
    0x09, 0x30,	      /*     Usage (X) */
    0x09, 0x31,	      /*     Usage (Y) */
    0x15, 0x00,	      /*     Logical Minimum (0) */
    0x26, 0xFF, 0x7F, /*     Logical Maximum (32767) */
    0x75, 0x10,	      /*     Report Size (16) */
    0x95, 0x02,	      /*     Report Count (2) */
    0x81, 0x02,	      /*     Input (Data,Var,Abs): bytes 1..4, X and Y LE */
    0x09, 0x38,	      /*     Usage (Wheel) */
    0x15, 0x81,	      /*     Logical Minimum (-127) */
    0x25, 0x7F,	      /*     Logical Maximum (127) */
    0x75, 0x08,	      /*     Report Size (8) */
    0x95, 0x01,	      /*     Report Count (1) */
    0x81, 0x06,	      /*     Input (Data,Var,Rel): byte 5, wheel */
    0x05, 0x0C,	      /*     Usage Page (Consumer) */
    0x0A, 0x38, 0x02, /*     Usage (AC Pan) */
    0x81, 0x06,	      /*     Input (Data,Var,Rel): byte 6, pan */
    0xC0,	      /*   End Collection */
    0xC0,	      /* End Collection */
};
const size_t ipkvm_hid_desc_abs_mouse_len = sizeof(ipkvm_hid_desc_abs_mouse);

/* Relative mouse: boot mouse bytes 0..2 (buttons, X, Y), then wheel and AC Pan. 5 bytes. */
const uint8_t ipkvm_hid_desc_rel_mouse[] = {
    0x05, 0x01,	      /* Usage Page (Generic Desktop) */
    0x09, 0x02,	      /* Usage (Mouse) */
    0xA1, 0x01,	      /* Collection (Application) */
    0x09, 0x01,	      /*   Usage (Pointer) */
    0xA1, 0x00,	      /*   Collection (Physical) */
    0x05, 0x09,	      /*     Usage Page (Button) */
    0x19, 0x01,	      /*     Usage Minimum (1) */
    0x29, 0x05,	      /*     Usage Maximum (5) */
    0x15, 0x00,	      /*     Logical Minimum (0) */
    0x25, 0x01,	      /*     Logical Maximum (1) */
    0x75, 0x01,	      /*     Report Size (1) */
    0x95, 0x05,	      /*     Report Count (5) */
    0x81, 0x02,	      /*     Input (Data,Var,Abs): byte 0 bits 0..4, buttons */
    0x75, 0x03,	      /*     Report Size (3) */
    0x95, 0x01,	      /*     Report Count (1) */
    0x81, 0x01,	      /*     Input (Const): byte 0 bits 5..7 */
    0x05, 0x01,	      /*     Usage Page (Generic Desktop) */
    0x09, 0x30,	      /*     Usage (X) */
    0x09, 0x31,	      /*     Usage (Y) */
    0x09, 0x38,	      /*     Usage (Wheel) */
    0x15, 0x81,	      /*     Logical Minimum (-127) */
    0x25, 0x7F,	      /*     Logical Maximum (127) */
    0x75, 0x08,	      /*     Report Size (8) */
    0x95, 0x03,	      /*     Report Count (3) */
    0x81, 0x06,	      /*     Input (Data,Var,Rel): bytes 1..3, dx, dy, wheel */
    0x05, 0x0C,	      /*     Usage Page (Consumer) */
    0x0A, 0x38, 0x02, /*     Usage (AC Pan) */
    0x95, 0x01,	      /*     Report Count (1) */
    0x81, 0x06,	      /*     Input (Data,Var,Rel): byte 4, pan */
    0xC0,	      /*   End Collection */
    0xC0,	      /* End Collection */
};
const size_t ipkvm_hid_desc_rel_mouse_len = sizeof(ipkvm_hid_desc_rel_mouse);

static int clamp_step(int v)
{
	if (v > IPKVM_HID_REL_MAX)
		return IPKVM_HID_REL_MAX;
	if (v < -IPKVM_HID_REL_MAX)
		return -IPKVM_HID_REL_MAX;
	return v;
}

int ipkvm_hid_abs_report(uint8_t buttons, uint16_t x, uint16_t y, int wheel, int pan,
			 uint8_t out[IPKVM_HID_ABS_REPORT_LEN])
{
	if (x > IPKVM_HID_ABS_MAX)
		x = IPKVM_HID_ABS_MAX;
	if (y > IPKVM_HID_ABS_MAX)
		y = IPKVM_HID_ABS_MAX;
	out[0] = buttons & IPKVM_HID_BTN_MASK;
	out[1] = (uint8_t)(x & 0xFF);
	out[2] = (uint8_t)(x >> 8);
	out[3] = (uint8_t)(y & 0xFF);
	out[4] = (uint8_t)(y >> 8);
	out[5] = (uint8_t)(int8_t)clamp_step(wheel);
	out[6] = (uint8_t)(int8_t)clamp_step(pan);
	return IPKVM_HID_ABS_REPORT_LEN;
}

/* Reports needed to move v in steps of at most 127: ceil(|v| / 127). */
static size_t steps_for(int v)
{
	int64_t a = v < 0 ? -(int64_t)v : (int64_t)v;
	return (size_t)((a + IPKVM_HID_REL_MAX - 1) / IPKVM_HID_REL_MAX);
}

/* Takes the next greedy step out of *rest (an int64 so that -INT_MIN is representable). */
static int take_step(int64_t *rest)
{
	int64_t s = *rest;
	if (s > IPKVM_HID_REL_MAX)
		s = IPKVM_HID_REL_MAX;
	else if (s < -IPKVM_HID_REL_MAX)
		s = -IPKVM_HID_REL_MAX;
	*rest -= s;
	return (int)s;
}

size_t ipkvm_hid_rel_reports_needed(int dx, int dy, int wheel, int pan)
{
	size_t n = 1, s;

	if ((s = steps_for(dx)) > n)
		n = s;
	if ((s = steps_for(dy)) > n)
		n = s;
	if ((s = steps_for(wheel)) > n)
		n = s;
	if ((s = steps_for(pan)) > n)
		n = s;
	return n;
}

size_t ipkvm_hid_rel_reports(int dx, int dy, int wheel, int pan, uint8_t buttons,
			     uint8_t out[][IPKVM_HID_REL_REPORT_LEN], size_t max)
{
	size_t n = ipkvm_hid_rel_reports_needed(dx, dy, wheel, pan);
	int64_t rx = dx, ry = dy, rw = wheel, rp = pan;

	if (n > max) {
		LOG_DEBUG("relative move (%d,%d,%d,%d) needs %zu reports, room for %zu", dx, dy,
			  wheel, pan, n, max);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		out[i][0] = buttons & IPKVM_HID_BTN_MASK;
		out[i][1] = (uint8_t)(int8_t)take_step(&rx);
		out[i][2] = (uint8_t)(int8_t)take_step(&ry);
		out[i][3] = (uint8_t)(int8_t)take_step(&rw);
		out[i][4] = (uint8_t)(int8_t)take_step(&rp);
	}
	return n;
}

size_t ipkvm_hid_abs_reports(uint8_t buttons, uint16_t x, uint16_t y, int wheel, int pan,
			     uint8_t out[][IPKVM_HID_ABS_REPORT_LEN], size_t max)
{
	size_t n = ipkvm_hid_rel_reports_needed(0, 0, wheel, pan);
	int64_t rw = wheel, rp = pan;

	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int w = take_step(&rw);
		int p = take_step(&rp);
		ipkvm_hid_abs_report(buttons, x, y, w, p, out[i]);
	}
	return n;
}

/* Maps coordinate c on an axis where the picture spans [off, off + len) to 0..32767. */
static uint16_t map_axis(double c, double off, double len)
{
	double span = len - 1.0; /* first pixel -> 0, last pixel -> 32767 */
	double u;

	if (span <= 0.0)
		return 0; /* a picture one pixel (or less) wide: only one position exists */
	u = (c - off) / span;
	if (u < 0.0)
		u = 0.0;
	else if (u > 1.0)
		u = 1.0;
	return (uint16_t)lround(u * IPKVM_HID_ABS_MAX);
}

int ipkvm_hid_abs_from_video(double px, double py, double elem_w, double elem_h, int video_w,
			     int video_h, uint16_t *x, uint16_t *y)
{
	double scale, disp_w, disp_h;

	if (!isfinite(px) || !isfinite(py) || !isfinite(elem_w) || !isfinite(elem_h) ||
	    elem_w <= 0.0 || elem_h <= 0.0 || video_w <= 0 || video_h <= 0)
		return -EINVAL;
	/* object-fit: contain: the largest scale at which the whole picture fits, centred. */
	scale = fmin(elem_w / video_w, elem_h / video_h);
	disp_w = video_w * scale;
	disp_h = video_h * scale;
	*x = map_axis(px, (elem_w - disp_w) / 2.0, disp_w);
	*y = map_axis(py, (elem_h - disp_h) / 2.0, disp_h);
	return 0;
}
