/*
 * buf: immutable, reference-counted byte buffers with headroom in front of the data.
 *
 * One encoded thing (an event message now, a JPEG or an H.264 access unit later) is made
 * once and shared by every client that sends it: each client holds a reference until its
 * socket has taken the bytes. The headroom lets libwebsockets write its frame header in
 * front of the payload without a copy (LWS_PRE bytes).
 * Reference counts are atomic, so a buffer made on an encoder thread can be released on the
 * main thread.
 */
#ifndef IPKVM_CORE_BUF_H
#define IPKVM_CORE_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define IPKVM_BUF_HEADROOM 32

struct ipkvm_buf {
	atomic_int refs;
	size_t len;    /* bytes of data */
	uint8_t *data; /* IPKVM_BUF_HEADROOM writable bytes precede it */
	_Alignas(16) uint8_t mem[];
};

/* A buffer of len bytes (uninitialised) with one reference, or NULL (no memory, or a len
 * too large to allocate). */
struct ipkvm_buf *ipkvm_buf_new(size_t len);
/* A buffer holding a copy of data. */
struct ipkvm_buf *ipkvm_buf_copy(const void *data, size_t len);
struct ipkvm_buf *ipkvm_buf_ref(struct ipkvm_buf *b);
void ipkvm_buf_unref(struct ipkvm_buf *b);

#endif
