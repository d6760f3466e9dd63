/*
 * paste: typing a text on the target's keyboard, one paste at a time, with back-pressure,
 * progress and cancel. A device rule, so it lives with the HID and not in a front end: every
 * front end (REST now; VNC's clipboard later) starts, follows and cancels the same paste.
 *
 * The text becomes strokes for a keyboard layout (layout.c). Each stroke is: press its
 * modifiers, press the key, release the key, release the modifiers; every step waits until
 * the output has written everything before it (a slow or stalled target slows typing down,
 * nothing is dropped), and strokes are delay_ms apart. Progress goes out as `hid_type`
 * events ({"id","state":"typing"|"done"|"failed"|"cancelled","typed","total"}), "typing" at
 * most every 250 ms.
 *
 * It never polls: time comes through the injected timer (call ipkvm_paste_tick() then), and
 * a step that waits for the output resumes from ipkvm_paste_drained(), which the owner calls
 * when the HID output has written everything it held (hid.h's drained hook). Main thread only.
 */
#ifndef IPKVM_HID_PASTE_H
#define IPKVM_HID_PASTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipkvm_hid;
struct ipkvm_events;
struct ipkvm_paste;

struct ipkvm_paste_config {
	struct ipkvm_hid *hid;	     /* must outlive the paste object */
	struct ipkvm_events *events; /* `hid_type` progress; NULL = none */
	void *ctx;
	/* Call ipkvm_paste_tick() in delay_ms (>= 0), or no longer (-1). */
	void (*timer)(void *ctx, int64_t delay_ms);
	int64_t (*now_ms)(void *ctx); /* NULL = ipkvm_mono_ms() */
};

struct ipkvm_paste *ipkvm_paste_create(const struct ipkvm_paste_config *cfg);
/* Cancels a paste under way (event "cancelled"), then frees. */
void ipkvm_paste_destroy(struct ipkvm_paste *p);

/* Starts typing text (UTF-8) in layout (NULL = "us"), strokes delay_ms (0..1000) apart.
 * Fills *id, *strokes and *untyped (a new JSON array of {"index","char"} the layout cannot
 * type; may be NULL). Returns 0, -ENOENT (unknown layout), -EINVAL (delay out of range),
 * -EBUSY (a paste is under way), -EILSEQ (not UTF-8) or -ENOMEM. An empty result is "done"
 * at once. */
int ipkvm_paste_start(struct ipkvm_paste *p, const char *text, const char *layout, int delay_ms,
		      uint64_t *id, size_t *strokes, json_t **untyped);
/* Cancels the paste under way and releases every key. -ENOENT when none; else 0 with what
 * it had done. */
int ipkvm_paste_cancel(struct ipkvm_paste *p, uint64_t *id, size_t *typed, size_t *total);
/* Whether a paste is under way. */
bool ipkvm_paste_busy(const struct ipkvm_paste *p);
/* The timer asked for. */
void ipkvm_paste_tick(struct ipkvm_paste *p);
/* The HID output wrote everything it held: a step waiting for it goes on. */
void ipkvm_paste_drained(struct ipkvm_paste *p);

#endif
