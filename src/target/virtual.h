/*
 * target/virtual: the built-in virtual computer that ipkvmd drives when no hardware is
 * configured (and in `make demo`). It closes the loop the product is about: operator input
 * → HID reports → the target reacts → its screen changes → capture → encode → the operator.
 *
 * It is put together from parts that each play one piece of a real PC:
 *   - hidhost.c: the USB host's HID driver, fed the exact report bytes of the HID output.
 *     The reports arrive over one SOCK_SEQPACKET socketpair per gadget interface; the HID
 *     layer's gadget backend writes to the other end as it writes to /dev/hidgN (the open
 *     hook ipkvm_vtarget_hid_open stands in for open(2)), and the keyboard LED output report
 *     goes back the same way, so the daemon's LED path runs end to end.
 *   - power.c: the board's power logic on the ATX button lines (struct ipkvm_atx_lines from
 *     ipkvm_vtarget_atx_lines), with power and HDD LED lines.
 *   - screen.c: the firmware and the OS console it runs, rendered into frames that
 *     source_virtual.c delivers through the video source interface.
 *   - iso9660.c: the volume labels of the attached media for the boot menu.
 *
 * Threads: everything runs on the main loop except rendering, which the capture thread
 * does through ipkvm_vtarget_render(); one mutex guards the screen between the two. The
 * capture thread learns of changes from an eventfd (ipkvm_vtarget_video_fd).
 */
#ifndef IPKVM_TARGET_VIRTUAL_H
#define IPKVM_TARGET_VIRTUAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atx/atx.h"
#include "video/frame.h"
#include "video/source.h"

struct ipkvm_vtarget_config {
	int width, height, fps;	  /* the OS console's mode; the firmware runs at 1024x768 */
	enum ipkvm_pixfmt format; /* frames: YUYV, UYVY, RGB24 or BGR24 */
	const char *layout;	  /* the target's keyboard layout: "us" or "jp" */
	int autoboot_ms;	  /* firmware countdown; 0 = waits for a choice */
	const char *const *media; /* image files attached as drives (boot menu) */
	size_t n_media;
	/* Main-loop hooks (each may be NULL), all get ctx. */
	void *ctx;
	void (*changed)(void *ctx);		    /* power, phase or mode changed */
	void (*leds)(void *ctx);		    /* the power/HDD LED lines changed */
	void (*timer)(void *ctx, int64_t delay_ms); /* call ipkvm_vtarget_tick then; -1 = none */
	int64_t (*now_ms)(void *ctx);		    /* NULL = ipkvm_mono_ms() */
};

struct ipkvm_vtarget;

/* NULL with err set on a bad config (mode, layout, format) or a system error. A medium
 * whose label cannot be read is still attached and shown with the reason. */
struct ipkvm_vtarget *ipkvm_vtarget_create(const struct ipkvm_vtarget_config *cfg, char *err,
					   size_t errlen);
void ipkvm_vtarget_destroy(struct ipkvm_vtarget *vt);

/* HID: the open hook for the gadget backend (ipkvm_hid_open_fn; ctx = vt). Paths:
 * IPKVM_VTARGET_HID_KEYBOARD etc. Returns a new fd (the daemon's end) or -ENOENT. */
#define IPKVM_VTARGET_HID_KEYBOARD  "virtual:keyboard"
#define IPKVM_VTARGET_HID_MOUSE_ABS "virtual:mouse-abs"
#define IPKVM_VTARGET_HID_MOUSE_REL "virtual:mouse-rel"
#define IPKVM_VTARGET_HID_CONSUMER  "virtual:consumer"
int ipkvm_vtarget_hid_open(void *vt, const char *path);
/* The target's ends, for the main loop to watch for reading (IPKVM_VTARGET_HID_FDS). */
#define IPKVM_VTARGET_HID_FDS 4
void ipkvm_vtarget_hid_fds(const struct ipkvm_vtarget *vt, int fds[IPKVM_VTARGET_HID_FDS]);
/* Reads and applies every report waiting on fd. */
void ipkvm_vtarget_hid_readable(struct ipkvm_vtarget *vt, int fd);

/* Drives: the target's USB mass-storage LUNs 0..IPKVM_VTARGET_DRIVES-1, which the boot menu
 * lists after the configured images (ctx = vt: the drive module's ops signature). attach:
 * 0, -EINVAL (bad LUN, or a read-write CD), -EBUSY (the LUN holds an image: eject first).
 * An image whose label cannot be read is attached all the same and shown with the reason. */
#define IPKVM_VTARGET_DRIVES 4
int ipkvm_vtarget_attach(void *vt, unsigned lun, const char *path, bool cdrom, bool rw);
int ipkvm_vtarget_eject(void *vt, unsigned lun);

/* ATX: the board's lines (buttons in, LEDs out). Valid as long as vt. */
const struct ipkvm_atx_lines *ipkvm_vtarget_atx_lines(struct ipkvm_vtarget *vt);

/* Runs what is due (power timers, firmware countdown). */
void ipkvm_vtarget_tick(struct ipkvm_vtarget *vt);

/* Video (capture thread): readable when the picture may have changed. */
int ipkvm_vtarget_video_fd(const struct ipkvm_vtarget *vt);
/* Renders the picture into a new frame when it changed since *gen (updated), waiting for
 * the next frame boundary of the mode's rate first. 0 with *out, -EAGAIN unchanged,
 * -ENODATA powered off (no signal), -ENOMEM. */
int ipkvm_vtarget_render(struct ipkvm_vtarget *vt, uint64_t *gen, struct ipkvm_frame **out);
/* The signal a capture card would see: ok at the current mode, or no_signal when off. */
void ipkvm_vtarget_signal(struct ipkvm_vtarget *vt, struct ipkvm_signal_info *out);

/* The state for GET /api/target (see docs/api.md). */
json_t *ipkvm_vtarget_state(struct ipkvm_vtarget *vt);

/* A video source showing this target's screen (source_virtual.c). The composition root
 * makes it and gives it to video (ipkvm_video_config.src), so video never knows the target. */
struct ipkvm_source *ipkvm_source_virtual_create(struct ipkvm_vtarget *vt);

#endif
