/*
 * hid: the daemon's keyboard and mouse, tying the pieces together: key codes (keymap) →
 * report models (keyboard.c) → the output (out_gadget.c). Main thread only.
 *
 * The loop drives it through two hooks, never by polling: fds_changed says which fds to
 * watch and for what (ipkvm_hid_pollfds(): readable where the device talks back, writable
 * only while reports wait), timer asks for ipkvm_hid_tick() at a time (reopen back-off,
 * CH9329 ACK timeouts, the jiggler, the keyboard resync after the output came online). A
 * report goes out at once from ipkvm_hid_key() when the device takes it; the rest is
 * written when the fd says it is writable.
 */
#ifndef IPKVM_HID_HID_H
#define IPKVM_HID_HID_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hid/keyboard.h"
#include "hid/output.h"

struct ipkvm_hid;

struct ipkvm_hid_config {
	const char *output; /* "gadget", "ch9329" or "virtual" (gadget protocol over open_fn) */
	const char *serial; /* ch9329: the serial port */
	unsigned baud;	    /* ch9329 */
	const char *keyboard, *mouse_abs, *mouse_rel, *consumer; /* gadget nodes; NULL = none */
	ipkvm_hid_open_fn open_fn; /* gadget/virtual: opens the nodes; NULL = open(2) */
	void *open_ctx;
	void (*changed)(void *ctx); /* online state or LEDs changed */
	/* The fds or events to watch may have changed: call ipkvm_hid_pollfds() again. */
	void (*fds_changed)(void *ctx);
	/* Call ipkvm_hid_tick() in delay_ms (>= 0), or no longer (-1). */
	void (*timer)(void *ctx, int64_t delay_ms);
	/* The output wrote everything it held (back-pressure: paste goes on). */
	void (*drained)(void *ctx);
	void *ctx;
};

struct ipkvm_hid *ipkvm_hid_create(const struct ipkvm_hid_config *cfg);
void ipkvm_hid_destroy(struct ipkvm_hid *h);

/* Presses (down) or releases a key by browser KeyboardEvent.code. Returns 0, -ENOENT for an
 * unknown code, -ENOTCONN when the output is offline, or the output's error. */
int ipkvm_hid_key(struct ipkvm_hid *h, const char *code, bool down);
/* The mice. buttons: IPKVM_HID_BTN_* mask, or -1 to keep the current buttons. Absolute x, y
 * are 0..32767 (-1 keeps the current position); wheel/pan and relative motion of any size
 * are split into reports, never clipped. Returns 0, -ENODEV when that mouse is not offered,
 * -ENOTCONN when offline, -EINVAL for out-of-range values. */
int ipkvm_hid_mouse_abs(struct ipkvm_hid *h, int x, int y, int buttons, int wheel, int pan);
int ipkvm_hid_mouse_rel(struct ipkvm_hid *h, int dx, int dy, int buttons, int wheel, int pan);
/* Releases every key and mouse button (sends the empty reports that differ from the last
 * ones sent). */
void ipkvm_hid_release_all(struct ipkvm_hid *h);
/* Jiggler: after interval_s seconds without input, a one-pixel move there and back (relative
 * mouse if offered, else absolute). 0 = off. Returns 0 or -EINVAL (negative). */
int ipkvm_hid_set_jiggler(struct ipkvm_hid *h, int interval_s);
/* Which mouse the operator's pointer drives: "absolute" (default; the pointer lands where
 * the operator points) or "relative" (for BIOSes and OSes that ignore absolute pointers).
 * Both devices always exist on the target; this is the shared setting consoles follow. */
int ipkvm_hid_set_mouse_mode(struct ipkvm_hid *h, const char *mode);
/* Whether that setting is "relative" (consoles that can drive either mouse follow it). */
bool ipkvm_hid_mouse_relative(struct ipkvm_hid *h);
/* The lock LEDs the target last reported (all off until it reports; the LED output report
 * only comes when the host changes them). Front ends read it after the changed hook. */
void ipkvm_hid_get_leds(struct ipkvm_hid *h, struct ipkvm_hid_leds *out);
/* Whether any key or mouse button is held. */
bool ipkvm_hid_any_pressed(struct ipkvm_hid *h);
/* Reports accepted but not yet written to the device (paste back-pressure). */
size_t ipkvm_hid_pending(struct ipkvm_hid *h);
/* The fds to watch and their events (POLLIN, POLLOUT), up to max (IPKVM_HID_OUT_MAX_FDS). */
size_t ipkvm_hid_pollfds(struct ipkvm_hid *h, struct pollfd *fds, size_t max);
/* fd is ready: POLLOUT writes what waits; POLLIN (or an error, a hang-up) reads. */
void ipkvm_hid_fd_ready(struct ipkvm_hid *h, int fd, short revents);
/* The timer asked for: reopen retries, backend timers, the jiggler, the resync. */
void ipkvm_hid_tick(struct ipkvm_hid *h);
/* {"output":"gadget"|"ch9329","online":bool,"reason":S,"leds":{num,caps,scroll,compose,kana},
 *  "pressed":[codes],"counters":{...}} */
json_t *ipkvm_hid_state(struct ipkvm_hid *h);

#endif
