/*
 * buf: see buf.h. The data pointer is aligned to 16 bytes after the headroom so that
 * SIMD code working on frames later can rely on it.
 */
#include "core/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ipkvm_buf *ipkvm_buf_new(size_t len)
{
	if (len > SIZE_MAX - sizeof(struct ipkvm_buf) - IPKVM_BUF_HEADROOM - 1)
		return NULL;
	/* malloc aligns to 16 on our targets; mem is aligned to 16 inside the struct and the
	 * headroom is a multiple of 16, so data is too. */
	struct ipkvm_buf *b = malloc(sizeof(*b) + IPKVM_BUF_HEADROOM + len + 1);
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->len = len;
	b->data = b->mem + IPKVM_BUF_HEADROOM;
	b->data[len] = 0; /* text payloads can be used as C strings */
	return b;
}

struct ipkvm_buf *ipkvm_buf_copy(const void *data, size_t len)
{
	struct ipkvm_buf *b = ipkvm_buf_new(len);
	if (b && len)
		memcpy(b->data, data, len);
	return b;
}

struct ipkvm_buf *ipkvm_buf_ref(struct ipkvm_buf *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

void ipkvm_buf_unref(struct ipkvm_buf *b)
{
	if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		free(b);
}
