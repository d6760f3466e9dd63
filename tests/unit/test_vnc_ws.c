/*
 * Unit tests for the pipe of web/vnc_ws.c: an RFB session's output (a fake gateway handing
 * out a byte stream in pieces of every size class) written as WebSocket binary messages into
 * a socket pair whose buffers are a few KB, so nearly every write meets a full socket.
 * The reader parses the frames and checks:
 *   - the payloads, joined, are the stream byte for byte, over a plain socket and over TLS;
 *   - every frame is a final, unmasked binary frame of at most 64 KiB - 1;
 *   - small pieces are gathered (fewer messages than pieces), long ones go whole;
 *   - bytes are consumed only when the socket took them (gathered ones: when copied), and a
 *     consumed byte is never read again (the fake scribbles over what was consumed);
 *   - the budget ends a pass, a session that ends mid-message gets the message finished and
 *     nothing more, a broken connection is -1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/cert.h"
#include "web/web.h"

/* --- a fake session: one byte stream, handed out in pieces -------------------------- */

struct fake {
	uint8_t *data;	     /* the stream; consumed bytes are overwritten */
	const uint8_t *orig; /* a copy to compare with */
	size_t len;
	const size_t *pieces; /* peek() gives at most this much of each piece in turn */
	size_t n_pieces;
	size_t piece, piece_off; /* where peek() is */
	size_t consumed;
	unsigned peeks;
};

static struct fake fake;

static size_t fake_peek(struct ipkvm_rfb_conn *c, const unsigned char **data)
{
	(void)c;
	fake.peeks++;
	if (fake.consumed == fake.len)
		return 0;
	size_t piece = fake.pieces[fake.piece % fake.n_pieces] - fake.piece_off;
	if (piece > fake.len - fake.consumed)
		piece = fake.len - fake.consumed;
	*data = fake.data + fake.consumed;
	return piece;
}

static void fake_consumed(struct ipkvm_rfb_conn *c, size_t n)
{
	(void)c;
	const unsigned char *d;
	size_t avail = fake_peek(NULL, &d);
	assert_true(n > 0 && n <= avail);
	memset(fake.data + fake.consumed, 0xAA, n); /* a consumed byte is gone */
	fake.consumed += n;
	fake.piece_off += n;
	if (fake.piece_off == fake.pieces[fake.piece % fake.n_pieces]) {
		fake.piece++;
		fake.piece_off = 0;
	}
}

static const struct ipkvm_rfb_gateway fake_gw = {
    .peek = fake_peek,
    .consumed = fake_consumed,
};

static uint8_t *pattern(size_t n)
{
	uint8_t *b = malloc(n);
	assert_non_null(b);
	uint32_t x = 777;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(x >> 16);
	}
	return b;
}

static void fake_start(size_t len, const size_t *pieces, size_t n_pieces)
{
	free(fake.data);
	free((void *)fake.orig);
	memset(&fake, 0, sizeof(fake));
	fake.data = pattern(len);
	fake.orig = pattern(len);
	fake.len = len;
	fake.pieces = pieces;
	fake.n_pieces = n_pieces;
}

/* --- the reader: WebSocket frames -------------------------------------------------- */

struct reader {
	uint8_t *raw; /* bytes received, not yet parsed */
	size_t raw_len, raw_cap;
	uint8_t *out; /* payloads joined */
	size_t out_len;
	unsigned frames;
	size_t max_frame;
};

static void reader_add(struct reader *r, const uint8_t *b, size_t n)
{
	if (r->raw_len + n > r->raw_cap) {
		r->raw_cap = (r->raw_len + n) * 2;
		r->raw = realloc(r->raw, r->raw_cap);
		assert_non_null(r->raw);
	}
	memcpy(r->raw + r->raw_len, b, n);
	r->raw_len += n;
	/* Whole frames out of what came. */
	for (;;) {
		if (r->raw_len < 2)
			return;
		assert_int_equal(r->raw[0], 0x82);     /* FIN, binary */
		assert_int_equal(r->raw[1] & 0x80, 0); /* a server never masks */
		size_t h = 2, len = r->raw[1] & 0x7f;
		assert_true(len != 127); /* never more than 64 KiB - 1 */
		if (len == 126) {
			if (r->raw_len < 4)
				return;
			len = (size_t)r->raw[2] << 8 | r->raw[3];
			h = 4;
			assert_true(len >= 126); /* the shortest header for the length */
		}
		if (r->raw_len < h + len)
			return;
		assert_true(len > 0);
		memcpy(r->out + r->out_len, r->raw + h, len);
		r->out_len += len;
		r->frames++;
		if (len > r->max_frame)
			r->max_frame = len;
		memmove(r->raw, r->raw + h + len, r->raw_len - h - len);
		r->raw_len -= h + len;
	}
}

/* --- transports ---------------------------------------------------------------------- */

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

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct tls {
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;
};

/* A server and a client session over a small socket pair, handshake done. */
static void tls_pair(int sv[2], struct tls *t)
{
	strcpy(tmpdir, "/tmp/ipkvm-vncws-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	char dir[128], cert[160], key[160];
	snprintf(dir, sizeof(dir), "%s/tls", tmpdir);
	assert_int_equal(ipkvm_cert_ensure(dir, "127.0.0.1"), 0);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	t->sctx = SSL_CTX_new(TLS_server_method());
	t->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(t->sctx);
	assert_non_null(t->cctx);
	assert_int_equal(SSL_CTX_use_certificate_chain_file(t->sctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(t->sctx, key, SSL_FILETYPE_PEM), 1);
	small_pair(sv);
	t->s = SSL_new(t->sctx);
	t->c = SSL_new(t->cctx);
	/* What lws 4.1 sets on its server sessions. */
	SSL_set_mode(t->s, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_set_fd(t->s, sv[0]);
	SSL_set_fd(t->c, sv[1]);
	SSL_set_accept_state(t->s);
	SSL_set_connect_state(t->c);
	int ds = 0, dc = 0;
	for (int i = 0; i < 10000 && !(ds && dc); i++) {
		if (!ds) {
			int r = SSL_do_handshake(t->s);
			ds = r == 1;
			if (!ds) {
				int e = SSL_get_error(t->s, r);
				assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
			}
		}
		if (!dc) {
			int r = SSL_do_handshake(t->c);
			dc = r == 1;
			if (!dc) {
				int e = SSL_get_error(t->c, r);
				assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
			}
		}
	}
	assert_true(ds && dc);
}

static void tls_free(int sv[2], struct tls *t)
{
	SSL_free(t->s);
	SSL_free(t->c);
	SSL_CTX_free(t->sctx);
	SSL_CTX_free(t->cctx);
	close(sv[0]);
	close(sv[1]);
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Reads what is there now (a little at a time) into r. */
static void read_some(int fd, SSL *ssl, struct reader *r)
{
	uint8_t b[3000];
	if (ssl) {
		int n = SSL_read(ssl, b, sizeof(b));
		if (n > 0)
			reader_add(r, b, (size_t)n);
		else
			assert_int_equal(SSL_get_error(ssl, n), SSL_ERROR_WANT_READ);
		return;
	}
	ssize_t n = recv(fd, b, sizeof(b), 0);
	if (n > 0)
		reader_add(r, b, (size_t)n);
	else
		assert_true(n < 0 && errno == EAGAIN);
}

/* The whole stream through the pipe, the reader draining a little between passes. */
static void pump_all(int wfd, SSL *wssl, int rfd, SSL *rssl, size_t budget, struct reader *r)
{
	struct ipkvm_rfb_pipe p = {.gw = &fake_gw, .conn = (struct ipkvm_rfb_conn *)&fake};
	size_t sent = 0;
	unsigned full = 0, passes = 0;
	bool idle = false;
	r->out = malloc(fake.len);
	assert_non_null(r->out);
	while (!idle || r->out_len < fake.len) {
		if (!idle) {
			size_t wrote = 0;
			int res = ipkvm_rfb_pipe_write(&p, wfd, wssl, budget, &wrote);
			assert_true(res == 0 || res == 1);
			assert_true(wrote <= budget + IPKVM_RAW_TLS_PIECE + 16);
			sent += wrote;
			passes++;
			full += res == 0 && ipkvm_rfb_pipe_busy(&p);
			idle = res == 1;
			/* Consumed bytes went out, or wait gathered in the pipe's buffer. */
			assert_true(fake.consumed <= sent + IPKVM_RFB_PIPE_COPY);
			if (idle)
				assert_false(ipkvm_rfb_pipe_busy(&p));
		}
		read_some(rfd, rssl, r);
	}
	assert_int_equal(fake.consumed, fake.len);
	assert_int_equal(r->out_len, fake.len);
	assert_memory_equal(r->out, fake.orig, fake.len);
	assert_int_equal(r->raw_len, 0);
	assert_true(full > 10); /* the socket really was full in the middle of messages */
	assert_true(passes > 1);
}

/* Pieces of every class: tiny, just under and at the gather limit, long, over a frame. */
static const size_t mixed[] = {1, 12, 3, 4095, 4096, 5000, 70000, 200, 65535, 65536, 131072, 7};

static void test_plain_stream(void **state)
{
	(void)state;
	int sv[2];
	small_pair(sv);
	fake_start(1u << 20, mixed, sizeof(mixed) / sizeof(mixed[0]));
	struct reader r = {0};
	pump_all(sv[0], NULL, sv[1], NULL, 100000, &r);
	assert_int_equal(r.max_frame, IPKVM_RFB_PIPE_BODY);
	free(r.out);
	free(r.raw);
	close(sv[0]);
	close(sv[1]);
}

static void test_tls_stream(void **state)
{
	(void)state;
	int sv[2];
	struct tls t;
	tls_pair(sv, &t);
	fake_start(1u << 20, mixed, sizeof(mixed) / sizeof(mixed[0]));
	struct reader r = {0};
	pump_all(sv[0], t.s, sv[1], t.c, 50000, &r);
	free(r.out);
	free(r.raw);
	tls_free(sv, &t);
}

/* Many small pieces become few messages, each at most the gather buffer. */
static void test_small_pieces_are_gathered(void **state)
{
	(void)state;
	static const size_t tiny[] = {5, 20, 1, 300, 17};
	int sv[2];
	small_pair(sv);
	fake_start(200000, tiny, sizeof(tiny) / sizeof(tiny[0]));
	struct reader r = {0};
	pump_all(sv[0], NULL, sv[1], NULL, 1u << 20, &r);
	size_t pieces = 200000 / ((5 + 20 + 1 + 300 + 17) / 5);
	assert_true(r.frames * 10 < pieces);
	assert_int_equal(r.max_frame, IPKVM_RFB_PIPE_COPY);
	free(r.out);
	free(r.raw);
	close(sv[0]);
	close(sv[1]);
}

/* The budget ends a pass while more waits: 0, with no message half written when the socket
 * took everything. */
static void test_budget_ends_a_pass(void **state)
{
	(void)state;
	static const size_t big[] = {65535};
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	int large = 1 << 20;
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &large, sizeof(large)), 0);
	fake_start(300000, big, 1);
	struct ipkvm_rfb_pipe p = {.gw = &fake_gw, .conn = (struct ipkvm_rfb_conn *)&fake};
	size_t wrote = 0;
	assert_int_equal(ipkvm_rfb_pipe_write(&p, sv[0], NULL, 100000, &wrote), 0);
	assert_false(ipkvm_rfb_pipe_busy(&p));
	assert_int_equal(wrote, 2 * (65535 + 4)); /* two whole messages, then the budget */
	assert_int_equal(fake.consumed, 2 * 65535);
	close(sv[0]);
	close(sv[1]);
}

/* The session ends (conn NULL) with a message half written: the message is finished from the
 * session's buffer, nothing is consumed or peeked after, and then the pipe is idle. */
static void test_session_end_finishes_the_message(void **state)
{
	(void)state;
	static const size_t big[] = {65535};
	int sv[2];
	small_pair(sv);
	fake_start(200000, big, 1);
	struct ipkvm_rfb_pipe p = {.gw = &fake_gw, .conn = (struct ipkvm_rfb_conn *)&fake};
	size_t wrote = 0;
	assert_int_equal(ipkvm_rfb_pipe_write(&p, sv[0], NULL, 1u << 20, &wrote), 0);
	assert_true(ipkvm_rfb_pipe_busy(&p));
	assert_int_equal(fake.consumed, 0); /* not before the socket took it */
	p.conn = NULL;
	unsigned peeks = fake.peeks;
	struct reader r = {.out = malloc(200000)};
	assert_non_null(r.out);
	int res;
	do {
		read_some(sv[1], NULL, &r);
		res = ipkvm_rfb_pipe_write(&p, sv[0], NULL, 1u << 20, &wrote);
		assert_true(res >= 0);
	} while (res == 0);
	for (int i = 0; i < 100; i++)
		read_some(sv[1], NULL, &r);
	assert_int_equal(fake.peeks, peeks);
	assert_int_equal(fake.consumed, 0);
	assert_int_equal(r.frames, 1);
	assert_int_equal(r.out_len, 65535);
	assert_memory_equal(r.out, fake.orig, 65535);
	free(r.out);
	free(r.raw);
	close(sv[0]);
	close(sv[1]);
}

static void test_broken_connection(void **state)
{
	(void)state;
	int sv[2];
	small_pair(sv);
	fake_start(100000, mixed, sizeof(mixed) / sizeof(mixed[0]));
	close(sv[1]);
	struct ipkvm_rfb_pipe p = {.gw = &fake_gw, .conn = (struct ipkvm_rfb_conn *)&fake};
	size_t wrote = 0;
	assert_int_equal(ipkvm_rfb_pipe_write(&p, sv[0], NULL, 1u << 20, &wrote), -1);
	close(sv[0]);
	/* Nothing to send: idle at once, without touching the socket. */
	fake_start(0, mixed, 1);
	struct ipkvm_rfb_pipe q = {.gw = &fake_gw, .conn = (struct ipkvm_rfb_conn *)&fake};
	assert_int_equal(ipkvm_rfb_pipe_write(&q, -1, NULL, 1u << 20, &wrote), 1);
	assert_int_equal(wrote, 0);
	free(fake.data);
	free((void *)fake.orig);
	memset(&fake, 0, sizeof(fake));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_stream),
	    cmocka_unit_test(test_tls_stream),
	    cmocka_unit_test(test_small_pieces_are_gathered),
	    cmocka_unit_test(test_budget_ends_a_pass),
	    cmocka_unit_test(test_session_end_finishes_the_message),
	    cmocka_unit_test(test_broken_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
