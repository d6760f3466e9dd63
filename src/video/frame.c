/*
 * frame: see frame.h. Data is allocated 64-byte aligned (cache lines, SIMD loads in the
 * converters) in the same block as the header, so a frame is one allocation.
 */
#include "video/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"yuyv", "uyvy", "rgb24", "bgr24", "mjpeg"};

const char *ipkvm_pixfmt_name(enum ipkvm_pixfmt f)
{
	return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "?";
}

int ipkvm_pixfmt_parse(const char *s, enum ipkvm_pixfmt *out)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum ipkvm_pixfmt)i;
			return 0;
		}
	}
	return -EINVAL;
}

unsigned ipkvm_pixfmt_bpp(enum ipkvm_pixfmt f)
{
	switch (f) {
	case IPKVM_FMT_YUYV:
	case IPKVM_FMT_UYVY:
		return 2;
	case IPKVM_FMT_RGB24:
	case IPKVM_FMT_BGR24:
		return 3;
	case IPKVM_FMT_MJPEG:
		break;
	}
	return 0;
}

struct ipkvm_frame *ipkvm_frame_new(enum ipkvm_pixfmt format, unsigned width, unsigned height,
				    size_t capacity)
{
	size_t stride = (size_t)width * ipkvm_pixfmt_bpp(format);
	if (format != IPKVM_FMT_MJPEG) {
		if (width == 0 || height == 0 || width > 16384 || height > 16384)
			return NULL;
		capacity = stride * height;
	}
	size_t head = (sizeof(struct ipkvm_frame) + 63) & ~(size_t)63;
	struct ipkvm_frame *f = aligned_alloc(64, (head + capacity + 63) & ~(size_t)63);
	if (!f)
		return NULL;
	memset(f, 0, sizeof(*f));
	atomic_init(&f->refs, 1);
	f->format = format;
	f->width = width;
	f->height = height;
	f->stride = stride;
	f->size = format == IPKVM_FMT_MJPEG ? 0 : capacity;
	f->capacity = capacity;
	f->data = (uint8_t *)f + head;
	return f;
}

struct ipkvm_frame *ipkvm_frame_ref(struct ipkvm_frame *f)
{
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	return f;
}

void ipkvm_frame_unref(struct ipkvm_frame *f)
{
	if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
		free(f);
}
