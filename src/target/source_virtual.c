/*
 * source_virtual: the virtual target's screen as a video source, so its pictures take the
 * same path as a capture card's (change check, encoders, streams, snapshots).
 *
 * Unlike HDMI capture it sends a frame only when the picture changed (the target renders on
 * change, at most at its mode's rate); the pipeline answers snapshot requests and held-back
 * changes from the last frame. The source's fd is the target's change eventfd.
 *
 * It lives with the target, not in video/: the target builds on video (frames, drawing, this
 * interface), so video must not know the target. The composition root makes this source and
 * hands it to video (ipkvm_video_config.src).
 */
#define LOG_TAG "vsource"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "target/virtual.h"

struct vsource {
	struct ipkvm_source base;
	struct ipkvm_vtarget *vt;
	uint64_t gen; /* screen generation of the last frame delivered, UINT64_MAX = none */
};

static int vs_open(struct ipkvm_source *s)
{
	struct vsource *v = (struct vsource *)s;
	v->gen = UINT64_MAX; /* a fresh start delivers the picture as it is */
	return 0;
}

static int vs_start(struct ipkvm_source *s)
{
	(void)s;
	return 0;
}

static int vs_fd(struct ipkvm_source *s)
{
	return ipkvm_vtarget_video_fd(((struct vsource *)s)->vt);
}

static int vs_next(struct ipkvm_source *s, struct ipkvm_frame **out)
{
	struct vsource *v = (struct vsource *)s;
	int r = ipkvm_vtarget_render(v->vt, &v->gen, out);
	if (r == -ENODATA) { /* powered off: the next power-on shows its first picture */
		v->gen = UINT64_MAX;
		return -EAGAIN;
	}
	return r;
}

static void vs_stop(struct ipkvm_source *s)
{
	(void)s;
}

static void vs_close(struct ipkvm_source *s)
{
	(void)s;
}

static void vs_signal(struct ipkvm_source *s, struct ipkvm_signal_info *out)
{
	ipkvm_vtarget_signal(((struct vsource *)s)->vt, out);
	out->capture = IPKVM_CAPTURE_VIRTUAL;
}

static void vs_destroy(struct ipkvm_source *s)
{
	free(s);
}

static const struct ipkvm_source_ops vs_ops = {
    .name = "virtual",
    .open = vs_open,
    .start = vs_start,
    .fd = vs_fd,
    .next = vs_next,
    .event = NULL,
    .stop = vs_stop,
    .close = vs_close,
    .signal = vs_signal,
    .destroy = vs_destroy,
};

struct ipkvm_source *ipkvm_source_virtual_create(struct ipkvm_vtarget *vt)
{
	struct vsource *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->base.ops = &vs_ops;
	v->base.priv = v;
	v->vt = vt;
	return &v->base;
}
