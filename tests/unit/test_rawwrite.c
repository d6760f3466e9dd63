/*
 * Unit tests for web/rawwrite: writes from one buffer into a socket pair whose buffers are
 * a few KB, so nearly every write meets a full socket in the middle; the reader drains a
 * little between writes, and what it gets must be the buffer, byte for byte.
 *   - plain: short sends happen, the caller's offset carries on, nothing lost or doubled;
 *   - TLS (OpenSSL on both ends, the server session set up as lws 4.1 sets its own): writes
 *     that hit "want write" are repeated with the same piece, and the decrypted bytes are
 *     the buffer; a write goes over the caller's budget by at most one piece (a piece that
 *     must be repeated is repeated whole);
 *   - the WebSocket frame header for every length class.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/cert.h"
#include "web/rawwrite.h"

#define TOTAL (1u << 20)

static uint8_t *pattern(size_t n)
{
	uint8_t *b = malloc(n);
	assert_non_null(b);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(x >> 16);
	}
	return b;
}

/* A connected pair with small kernel buffers, both ends non-blocking. */
static void small_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	int small = 4096;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
				 0);
		assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)),
				 0);
	}
}

static void test_plain_short_writes_resume(void **state)
{
	(void)state;
	int sv[2];
	small_pair(sv);
	uint8_t *src = pattern(TOTAL), *dst = malloc(TOTAL);
	assert_non_null(dst);
	struct ipkvm_rawwrite rw = {0};
	size_t off = 0, got = 0;
	unsigned short_writes = 0, full = 0;
	while (got < TOTAL) {
		if (off < TOTAL) {
			size_t want = TOTAL - off < 100000 ? TOTAL - off : 100000;
			ssize_t n = ipkvm_raw_send(sv[0], NULL, &rw, src + off, TOTAL - off, want);
			assert_true(n >= 0);
			if ((size_t)n < want)
				short_writes++;
			if (n == 0)
				full++;
			off += (size_t)n;
		}
		ssize_t r = recv(sv[1], dst + got, 3000, 0);
		if (r > 0)
			got += (size_t)r;
		else
			assert_true(r < 0 && errno == EAGAIN);
	}
	assert_int_equal(off, TOTAL);
	assert_memory_equal(src, dst, TOTAL);
	assert_true(short_writes > 10); /* the socket really was full in the middle */
	assert_true(full > 0);
	/* A broken connection is an error, not "try later". */
	close(sv[1]);
	assert_int_equal(ipkvm_raw_send(sv[0], NULL, &rw, src, 10, 10), -1);
	close(sv[0]);
	free(src);
	free(dst);
}

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A server and a client session over a small socket pair, handshake done. */
static void tls_pair(int sv[2], SSL_CTX **sctx, SSL_CTX **cctx, SSL **s, SSL **c)
{
	strcpy(tmpdir, "/tmp/ipkvm-rawwrite-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	char tls[128], cert[160], key[160];
	snprintf(tls, sizeof(tls), "%s/tls", tmpdir);
	assert_int_equal(ipkvm_cert_ensure(tls, "127.0.0.1"), 0);
	snprintf(cert, sizeof(cert), "%s/cert.pem", tls);
	snprintf(key, sizeof(key), "%s/key.pem", tls);
	*sctx = SSL_CTX_new(TLS_server_method());
	*cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(*sctx);
	assert_non_null(*cctx);
	assert_int_equal(SSL_CTX_use_certificate_chain_file(*sctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(*sctx, key, SSL_FILETYPE_PEM), 1);
	small_pair(sv);
	*s = SSL_new(*sctx);
	*c = SSL_new(*cctx);
	/* What lws 4.1 sets on its server sessions (openssl-server.c). */
	SSL_set_mode(*s, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_set_fd(*s, sv[0]);
	SSL_set_fd(*c, sv[1]);
	SSL_set_accept_state(*s);
	SSL_set_connect_state(*c);
	int ds = 0, dc = 0;
	for (int i = 0; i < 10000 && !(ds && dc); i++) {
		if (!ds) {
			int r = SSL_do_handshake(*s);
			ds = r == 1;
			if (!ds) {
				int e = SSL_get_error(*s, r);
				assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
			}
		}
		if (!dc) {
			int r = SSL_do_handshake(*c);
			dc = r == 1;
			if (!dc) {
				int e = SSL_get_error(*c, r);
				assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
			}
		}
	}
	assert_true(ds && dc);
}

static void test_tls_want_write_is_repeated(void **state)
{
	(void)state;
	int sv[2];
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;
	tls_pair(sv, &sctx, &cctx, &s, &c);
	uint8_t *src = pattern(TOTAL), *dst = malloc(TOTAL);
	assert_non_null(dst);
	struct ipkvm_rawwrite rw = {0};
	size_t off = 0, got = 0;
	unsigned retries = 0;
	size_t budgets[] = {70000, 5000, 200000, 1};
	unsigned round = 0;
	while (got < TOTAL) {
		if (off < TOTAL) {
			size_t want = budgets[round++ % 4];
			bool retry = rw.tls_retry != 0;
			size_t must = rw.tls_retry;
			ssize_t n = ipkvm_raw_send(-1, s, &rw, src + off, TOTAL - off, want);
			assert_true(n >= 0);
			if (retry) {
				retries++;
				/* The repeated piece went out whole or not at all. */
				assert_true(n == 0 || (size_t)n >= must);
			}
			assert_true((size_t)n <= want + IPKVM_RAW_TLS_PIECE);
			off += (size_t)n;
		}
		int r = SSL_read(c, dst + got, 5000);
		if (r > 0) {
			got += (size_t)r;
		} else {
			int e = SSL_get_error(c, r);
			assert_true(e == SSL_ERROR_WANT_READ);
		}
	}
	assert_int_equal(off, TOTAL);
	assert_int_equal(rw.tls_retry, 0);
	assert_memory_equal(src, dst, TOTAL);
	assert_true(retries > 10); /* "want write" really happened, and was repeated */
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(src);
	free(dst);
}

static void test_ws_header(void **state)
{
	(void)state;
	uint8_t buf[16];
	uint8_t *end = buf + sizeof(buf);
	assert_int_equal(ipkvm_ws_binary_header(end, 10, 0), 2);
	assert_memory_equal(end - 2, "\x82\x00", 2);
	assert_int_equal(ipkvm_ws_binary_header(end, 10, 125), 2);
	assert_memory_equal(end - 2, "\x82\x7d", 2);
	assert_int_equal(ipkvm_ws_binary_header(end, 10, 126), 4);
	assert_memory_equal(end - 4, "\x82\x7e\x00\x7e", 4);
	assert_int_equal(ipkvm_ws_binary_header(end, 10, 65535), 4);
	assert_memory_equal(end - 4, "\x82\x7e\xff\xff", 4);
	assert_int_equal(ipkvm_ws_binary_header(end, 10, 65536), 10);
	assert_memory_equal(end - 10, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_int_equal(ipkvm_ws_binary_header(end, 10, 0x0102030405ull), 10);
	assert_memory_equal(end - 10, "\x82\x7f\x00\x00\x00\x01\x02\x03\x04\x05", 10);
	assert_int_equal(ipkvm_ws_binary_header(end, 3, 70000), 0); /* no room */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_short_writes_resume),
	    cmocka_unit_test(test_tls_want_write_is_repeated),
	    cmocka_unit_test(test_ws_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
