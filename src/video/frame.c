/*
 * frame: see frame.h. Data is allocated 64-byte aligned (cache lines, SIMD loads in the
 * converters) in the same block as the header, so a frame is one allocation.
 *
 * Freed frames go to a small pool and are handed out again: a 1080p frame is 4 MB, and a
 * fresh allocation per frame means an mmap, 1000 page faults with zeroing and an munmap,
 * 60 times a second; that was a third of the capture thread's time on a still screen.
 */
#include "video/frame.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 3 /* free frames kept; a 1080p YUYV frame is 4 MB */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ipkvm_frame *pool[POOL_MAX];
static size_t pool_n;

/* Bytes of the allocation behind a frame of this capacity. */
static size_t alloc_size(size_t capacity)
{
	size_t head = (sizeof(struct ipkvm_frame) + 63) & ~(size_t)63;
	return (head + capacity + 63) & ~(size_t)63;
}

/* A pooled frame whose allocation fits capacity without wasting more than half; NULL if
 * none. */
static struct ipkvm_frame *pool_take(size_t capacity)
{
	struct ipkvm_frame *f = NULL;
	pthread_mutex_lock(&pool_lock);
	for (size_t i = 0; i < pool_n; i++) {
		size_t have = pool[i]->capacity;
		if (have >= capacity && have / 2 <= capacity) {
			f = pool[i];
			pool[i] = pool[--pool_n];
			break;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	return f;
}

void ipkvm_frame_pool_drain(void)
{
	pthread_mutex_lock(&pool_lock);
	while (pool_n)
		free(pool[--pool_n]);
	pthread_mutex_unlock(&pool_lock);
}

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
	struct ipkvm_frame *f = pool_take(capacity);
	if (f)
		capacity = f->capacity; /* the reused allocation may be a little larger */
	else if (!(f = aligned_alloc(64, alloc_size(capacity))))
		return NULL;
	memset(f, 0, sizeof(*f));
	atomic_init(&f->refs, 1);
	f->format = format;
	f->width = width;
	f->height = height;
	f->stride = stride;
	f->size = format == IPKVM_FMT_MJPEG ? 0 : stride * height;
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
	if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_lock(&pool_lock);
	if (pool_n < POOL_MAX) {
		pool[pool_n++] = f;
		f = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	free(f);
}
