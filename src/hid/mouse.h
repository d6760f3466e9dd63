/*
 * hid/mouse: exact USB HID report bytes for the absolute and the relative mouse, the mapping
 * from a point in the browser's video element to absolute target coordinates, and the
 * splitting of large relative motion into several reports.
 *
 * Pure functions, no I/O. Both mice exist at once on the target (BIOSes often ignore absolute
 * pointers); which one the operator drives is a live setting above this module.
 *
 * Buttons (both mice, 5 bits): bit0 left, bit1 right, bit2 middle, bit3 back (button 4),
 * bit4 forward (button 5); bits 5..7 are always sent as 0.
 * Wheel: positive = scroll up (away from the user); pan: positive = right. (Browser
 * WheelEvent.deltaY is positive downwards: the input layer negates it.)
 *
 * Absolute report (7 bytes, no report ID):
 *   [0] buttons  [1..2] X  [3..4] Y (16-bit little endian, 0..32767, 0 = left/top edge,
 *   32767 = right/bottom edge)  [5] wheel (int8, -127..127)  [6] pan (int8, -127..127).
 * Relative report (5 bytes, no report ID; the first 3 bytes are the boot mouse report):
 *   [0] buttons  [1] dx  [2] dy (int8, -127..127, +x right, +y down)  [3] wheel  [4] pan.
 * -128 is never sent (the descriptors declare -127..127).
 */
#ifndef IPKVM_HID_MOUSE_H
#define IPKVM_HID_MOUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPKVM_HID_BTN_LEFT    0x01
#define IPKVM_HID_BTN_RIGHT   0x02
#define IPKVM_HID_BTN_MIDDLE  0x04
#define IPKVM_HID_BTN_BACK    0x08
#define IPKVM_HID_BTN_FORWARD 0x10
#define IPKVM_HID_BTN_MASK    0x1F

#define IPKVM_HID_ABS_MAX	 32767
#define IPKVM_HID_REL_MAX	 127
#define IPKVM_HID_ABS_REPORT_LEN 7
#define IPKVM_HID_REL_REPORT_LEN 5

/*
 * Absolute report for (x, y) already in 0..32767 (larger values are clamped to 32767), with one
 * wheel/pan step each in -127..127 (clamped; use ipkvm_hid_abs_reports() to split larger
 * scrolls). Returns IPKVM_HID_ABS_REPORT_LEN.
 */
int ipkvm_hid_abs_report(uint8_t buttons, uint16_t x, uint16_t y, int wheel, int pan,
			 uint8_t out[IPKVM_HID_ABS_REPORT_LEN]);

/*
 * Absolute reports at (x, y) carrying a wheel/pan movement of any size: split into reports of
 * at most 127 per axis (greedy: 300 -> 127, 127, 46), every report at the same position with
 * the same buttons, so the sums equal the input exactly. No movement gives one report.
 * Returns the number of reports written, or 0 (nothing written) if more than max are needed.
 */
size_t ipkvm_hid_abs_reports(uint8_t buttons, uint16_t x, uint16_t y, int wheel, int pan,
			     uint8_t out[][IPKVM_HID_ABS_REPORT_LEN], size_t max);

/*
 * Relative reports for a movement of any size: dx, dy, wheel and pan are each split greedily
 * into steps of at most 127 in magnitude (300 -> 127, 127, 46; -300 -> -127, -127, -46), all
 * axes advancing together, so the sum of each axis over the reports equals the input exactly
 * (never clipped). Each report carries the same buttons. A zero movement gives one report
 * (a button change). Returns the number of reports written, or 0 (nothing written) when more
 * than max would be needed; ipkvm_hid_rel_reports_needed() tells how many that is.
 */
size_t ipkvm_hid_rel_reports(int dx, int dy, int wheel, int pan, uint8_t buttons,
			     uint8_t out[][IPKVM_HID_REL_REPORT_LEN], size_t max);
size_t ipkvm_hid_rel_reports_needed(int dx, int dy, int wheel, int pan);

/*
 * Maps a point in the browser's <video> element to absolute target coordinates.
 * (px, py): CSS pixels from the element's top-left corner (MouseEvent.offsetX/Y; fractions
 * allowed); elem_w x elem_h: the element's size; video_w x video_h: the video's intrinsic size
 * (videoWidth/videoHeight), shown with object-fit: contain (scaled to fit, centred, bars on
 * two sides). Within the picture, its first pixel maps to 0 and its last pixel to 32767,
 * linearly: for an unletterboxed element (0, 0) -> (0, 0), (w-1, h-1) -> (32767, 32767) and the
 * centre ((w-1)/2, (h-1)/2) -> (16384, 16384) (+-1). Points in the bars or outside the element
 * clamp to the nearest edge.
 * Returns 0, or -EINVAL for non-positive/non-finite sizes or a non-finite point.
 */
int ipkvm_hid_abs_from_video(double px, double py, double elem_w, double elem_h, int video_w,
			     int video_h, uint16_t *x, uint16_t *y);

/*
 * Report descriptors for the gadget's mouse functions.
 * ipkvm_hid_desc_abs_mouse: the absolute report above.
 * ipkvm_hid_desc_rel_mouse: the relative report above (boot mouse compatible, for an interface
 * of subclass 1 protocol 2).
 */
extern const uint8_t ipkvm_hid_desc_abs_mouse[];
extern const size_t ipkvm_hid_desc_abs_mouse_len;
extern const uint8_t ipkvm_hid_desc_rel_mouse[];
extern const size_t ipkvm_hid_desc_rel_mouse_len;

#endif
