/*
 * rawwrite: shared bytes straight to a socket or a TLS session (see rawwrite.h).
 *
 * Plain sockets: one send() with MSG_DONTWAIT, whatever it takes. TLS: lws 4.1 sets its
 * server sessions to SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER without partial writes, so an
 * SSL_write() either sends all it was given or says "want write" having sent part of it
 * (kept inside OpenSSL); it must then be called again with the same length and bytes. The
 * bytes are encrypted from the shared buffer into OpenSSL's own record buffer (one record
 * at a time), never copied anywhere first.
 */
#define LOG_TAG "rawwrite"
#include "web/rawwrite.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"

bool ipkvm_raw_ready(struct lws *wsi)
{
	return !lws_partial_buffered(wsi);
}

static ssize_t tls_write(SSL *ssl, struct ipkvm_rawwrite *rw, const uint8_t *buf, size_t avail,
			 size_t want)
{
	size_t done = 0;
	while (done < want || rw->tls_retry) {
		size_t piece = rw->tls_retry;
		if (!piece) {
			piece = want - done;
			if (piece > IPKVM_RAW_TLS_PIECE)
				piece = IPKVM_RAW_TLS_PIECE;
		}
		if (piece > avail - done)
			return -1; /* the caller moved on from a write it had to repeat */
		ERR_clear_error();
		int n = SSL_write(ssl, buf + done, (int)piece);
		if (n > 0) {
			rw->tls_retry = 0;
			done += (size_t)n;
			continue;
		}
		int e = SSL_get_error(ssl, n);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			rw->tls_retry = piece;
			break;
		}
		LOG_DEBUG("SSL_write: error %d (%s)", e, strerror(errno));
		ERR_clear_error();
		return -1;
	}
	return (ssize_t)done;
}

ssize_t ipkvm_raw_send(int fd, SSL *ssl, struct ipkvm_rawwrite *rw, const uint8_t *buf,
		       size_t avail, size_t want)
{
	if (want > avail)
		want = avail;
	if (ssl)
		return tls_write(ssl, rw, buf, avail, want);
	if (!want)
		return 0;
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t n = send(fd, buf, want, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		LOG_DEBUG("send: %s", strerror(errno));
		return -1;
	}
}

ssize_t ipkvm_raw_write(struct lws *wsi, struct ipkvm_rawwrite *rw, const uint8_t *buf,
			size_t avail, size_t want)
{
	SSL *ssl = lws_is_ssl(wsi) ? lws_get_ssl(wsi) : NULL;
	return ipkvm_raw_send(ssl ? -1 : lws_get_socket_fd(wsi), ssl, rw, buf, avail, want);
}

size_t ipkvm_ws_binary_header(uint8_t *end, size_t hdr_max, uint64_t len)
{
	uint8_t h[10];
	size_t n;
	h[0] = 0x82; /* FIN, binary */
	if (len < 126) {
		h[1] = (uint8_t)len;
		n = 2;
	} else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		n = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (n > hdr_max)
		return 0;
	memcpy(end - n, h, n);
	return n;
}
