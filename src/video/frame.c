/*
 * frame: see frame.h. Data is allocated 64-byte aligned (cache lines, SIMD loads in the
 * converters) in the same block as the header, so a frame is one allocation.
 *
 * Freed frames go to a small pool and are handed out again: a 1080p frame is 4 MB, and a
 * fresh allocation per frame means an mmap, 1000 page faults with zeroing and an munmap,
 * 60 times a second; that was a third of the capture thread's time on a still screen.
 * Large frames are mapped and unmapped by us rather than by malloc: glibc raises its mmap
 * threshold after the first free of a mapped block, and later 4 MB blocks then come from
 * an arena that keeps the memory after free. Unmapped, a frame that leaves the pool is
 * given back at once, so the pool's size is the memory kept, and the capture thread
 * empties it when the picture has been still for a while (ipkvm_frame_pool_drain).
 */
#include "video/frame.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Free frames kept: one for the next change while another is still being encoded; a 1080p
 * YUYV frame is 4 MB. */
#define POOL_MAX 2
#define MAP_MIN	 (256 * 1024) /* allocations from this size on are our own mappings */
/* Compare block of ipkvm_frame_compare: small enough to be in the cache when the copy
 * starts with it, large enough that memcmp runs at full speed. */
#define CMP_BLOCK (64 * 1024)

static atomic_uint_fast64_t copies;

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

static struct ipkvm_frame *frame_alloc(size_t capacity)
{
	size_t n = alloc_size(capacity);
	if (n < MAP_MIN)
		return aligned_alloc(64, n);
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p; /* page-aligned, so 64-byte aligned */
}

static void frame_free(struct ipkvm_frame *f)
{
	size_t n = alloc_size(f->capacity);
	if (n < MAP_MIN)
		free(f);
	else
		munmap(f, n);
}

void ipkvm_frame_pool_drain(void)
{
	pthread_mutex_lock(&pool_lock);
	while (pool_n)
		frame_free(pool[--pool_n]);
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
	else if (!(f = frame_alloc(capacity)))
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
	if (!f || f->borrowed || /* a lent view: the source hands it back, see frame.h */
	    atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_lock(&pool_lock);
	if (pool_n < POOL_MAX) {
		pool[pool_n++] = f;
		f = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (f)
		frame_free(f);
}

/* ---- keeping borrowed pictures ---- */

uint64_t ipkvm_frame_copies(void)
{
	return atomic_load_explicit(&copies, memory_order_relaxed);
}

static size_t row_bytes(const struct ipkvm_frame *f)
{
	return (size_t)f->width * ipkvm_pixfmt_bpp(f->format);
}

/* Bytes of f's picture, packed. */
static size_t packed_bytes(const struct ipkvm_frame *f)
{
	return f->format == IPKVM_FMT_MJPEG ? f->size : row_bytes(f) * f->height;
}

/* Whether f's lines follow each other with no padding (MJPEG: always). */
static bool packed(const struct ipkvm_frame *f)
{
	return f->format == IPKVM_FMT_MJPEG || f->stride == row_bytes(f);
}

/* Copies bytes [from, to) of f's packed picture to the same place in dst (packed). For a
 * padded f, from and to are multiples of the line length. */
static void copy_range(struct ipkvm_frame *dst, const struct ipkvm_frame *f, size_t from, size_t to)
{
	if (packed(f)) {
		memcpy(dst->data + from, f->data + from, to - from);
		return;
	}
	size_t row = row_bytes(f);
	for (size_t y = from / row; y < to / row; y++)
		memcpy(dst->data + y * row, f->data + y * f->stride, row);
}

/* An owned frame of borrowed f, with bytes [at, end) copied first (they may be in the cache),
 * then [0, at). NULL when out of memory or f is malformed. */
static struct ipkvm_frame *copy_of(const struct ipkvm_frame *f, size_t at)
{
	if (f->format != IPKVM_FMT_MJPEG && (f->stride < row_bytes(f) || !f->data))
		return NULL;
	size_t total = packed_bytes(f);
	struct ipkvm_frame *k = ipkvm_frame_new(f->format, f->width, f->height, total);
	if (!k)
		return NULL;
	copy_range(k, f, at, total);
	copy_range(k, f, 0, at);
	k->size = total;
	k->seq = f->seq;
	k->ts_us = f->ts_us;
	atomic_fetch_add_explicit(&copies, 1, memory_order_relaxed);
	return k;
}

struct ipkvm_frame *ipkvm_frame_keep(const struct ipkvm_frame *f)
{
	if (!f->borrowed)
		return ipkvm_frame_ref((struct ipkvm_frame *)f);
	return copy_of(f, 0);
}

/* Where the pictures of a and b (same format and geometry) first differ, rounded down to the
 * start of its compare block (a line for padded frames), or SIZE_MAX when they are the same.
 * memcmp stops at the first difference and glibc's is vectorised: at memory speed. */
static size_t first_difference(const struct ipkvm_frame *a, const struct ipkvm_frame *b)
{
	if (a->format == IPKVM_FMT_MJPEG || b->format == IPKVM_FMT_MJPEG) {
		if (a->size != b->size)
			return 0;
		for (size_t at = 0; at < a->size; at += CMP_BLOCK) {
			size_t n = a->size - at < CMP_BLOCK ? a->size - at : CMP_BLOCK;
			if (memcmp(a->data + at, b->data + at, n) != 0)
				return at;
		}
		return SIZE_MAX;
	}
	size_t row = row_bytes(a);
	if (packed(a) && packed(b)) {
		size_t total = row * a->height;
		for (size_t at = 0; at < total; at += CMP_BLOCK) {
			size_t n = total - at < CMP_BLOCK ? total - at : CMP_BLOCK;
			if (memcmp(a->data + at, b->data + at, n) != 0)
				return at;
		}
		return SIZE_MAX;
	}
	for (size_t y = 0; y < a->height; y++)
		if (memcmp(a->data + y * a->stride, b->data + y * b->stride, row) != 0)
			return y * row;
	return SIZE_MAX;
}

int ipkvm_frame_compare(const struct ipkvm_frame *f, const struct ipkvm_frame *ref,
			struct ipkvm_frame **keep)
{
	if (keep)
		*keep = NULL;
	size_t at = 0;
	if (f == ref)
		return 0;
	if (ref && f->format == ref->format && f->width == ref->width && f->height == ref->height) {
		if (f->format != IPKVM_FMT_MJPEG &&
		    (f->stride < row_bytes(f) || ref->stride < row_bytes(ref)))
			return -EINVAL;
		at = first_difference(f, ref);
		if (at == SIZE_MAX)
			return 0;
	}
	if (!keep)
		return 1;
	*keep = f->borrowed ? copy_of(f, at) : ipkvm_frame_ref((struct ipkvm_frame *)f);
	return *keep ? 1 : -ENOMEM;
}
