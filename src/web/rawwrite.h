/*
 * rawwrite: writes a connection's bytes straight from a shared buffer (an MJPEG part, an
 * H.264 message) to its socket, or through its TLS session, as much as the socket takes now.
 *
 * lws_write() copies whatever the socket did not take into a buffer of the connection and
 * drains it a few KB per writable pass; with one shared 100-400 KB picture and many clients
 * that is a copy of each picture per client. Here the caller keeps a reference to the
 * buffer and an offset, and comes back on the next writable pass for the rest.
 *
 * Rules for the caller (lws must never see its stream of bytes disturbed):
 *   - write only when lws has nothing of its own waiting on the connection
 *     (ipkvm_raw_ready()), and let lws write nothing on it (headers, frames, alerts) until
 *     what was started here is complete;
 *   - after a short write, ask for the next writable pass (lws_callback_on_writable());
 *   - over TLS, a write that did not go through must be repeated with the same bytes: the
 *     buffer stays where it is and the caller passes the same offset again (the state
 *     below remembers the length).
 */
#ifndef IPKVM_WEB_RAWWRITE_H
#define IPKVM_WEB_RAWWRITE_H

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A TLS write is made in pieces of at most this many bytes, so the bytes that went out are
 * known piece by piece (OpenSSL reports a piece only once all of it is sent). */
#define IPKVM_RAW_TLS_PIECE (64u << 10)

struct ipkvm_rawwrite {
	size_t tls_retry; /* a TLS write of this length must be repeated (0: none) */
};

/* Whether raw bytes may go out on wsi now: lws holds nothing unsent for it. */
bool ipkvm_raw_ready(struct lws *wsi);

/* Writes up to want bytes of buf (avail bytes are there: a TLS write that must be repeated
 * may need more than want, never more than avail). Returns the bytes the connection took
 * (0: none now, wait for writable), or -1 when the connection is broken. */
ssize_t ipkvm_raw_write(struct lws *wsi, struct ipkvm_rawwrite *rw, const uint8_t *buf,
			size_t avail, size_t want);

/* The same on a plain socket (ssl NULL) or a TLS session over fd (fd unused): what
 * ipkvm_raw_write() does once it has them from lws. */
ssize_t ipkvm_raw_send(int fd, SSL *ssl, struct ipkvm_rawwrite *rw, const uint8_t *buf,
		       size_t avail, size_t want);

/* The header of an unmasked, final WebSocket binary frame of len payload bytes, written to
 * the hdr_max bytes that end at end (the payload follows them). Returns its length (2, 4 or
 * 10), or 0 when hdr_max is too small. */
size_t ipkvm_ws_binary_header(uint8_t *end, size_t hdr_max, uint64_t len);

#endif
