/*
 * ws_input: what a client sends on /api/ws: the binary input messages (key, absolute and
 * relative mouse, release all) and the JSON text messages (key, mouse, ping), through lws's
 * WebSocket parser into src/web/ws.c, src/web/api_hid.c and src/hid/ to the virtual
 * target's USB host (src/target/hidhost.c), which parses every report the output writes.
 *
 * Two event sockets stay open across inputs on the in-process server (fuzz_server.h): one
 * of an operator and one of a viewer (whose input must be refused). The input is a list of
 * messages, each: a header byte (bit 0: viewer's socket; bit 1: text, else binary; bits 2-3:
 * sent as 1-4 fragments; bit 4: 16-bit length), the length (1 or 2 bytes) and the payload.
 * The harness frames them as a browser does (masked, FIN on the last fragment), then sends a
 * ping on each socket it used and services the loop until the pong comes back, so all of an
 * input is handled before the next; a server that never answers aborts the run (a hang),
 * one that closes the socket (a message too large, a lagging client) is reconnected. Each
 * input starts with a "release all" message, so keys held by one input do not leak into
 * the next.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGES 64

struct ws {
	char role;
	struct fuzz_conn c;
	bool up;
	uint8_t rx[1 << 17];
	size_t rx_len;
};

static struct ws socks[2] = {{.role = 'O', .c = {-1, -1}}, {.role = 'V', .c = {-1, -1}}};
static unsigned long pings, reconnects, errors;

static void print_stats(void)
{
	fprintf(stderr, "ws_input: %lu inputs, %lu error events, %lu reconnects\n", pings, errors,
		reconnects);
}

static void hang(const char *what)
{
	fprintf(stderr, "ws_input: %s: the server hangs\n", what);
	abort();
}

static void down(struct ws *w)
{
	fuzz_conn_close(&w->c);
	w->up = false;
	w->rx_len = 0;
}

static bool connect_ws(struct ws *w)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "GET /api/ws HTTP/1.1\r\nHost: fuzz\r\nOrigin: http://fuzz\r\n"
			 "Authorization: Bearer %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n",
			 fuzz_token(w->role));
	w->rx_len = 0;
	if (fuzz_conn_open(&w->c) < 0 || fuzz_conn_write(&w->c, req, (size_t)n) < 0)
		return false;
	int64_t deadline = fuzz_now_ms() + 5000;
	for (;;) {
		fuzz_service(true);
		ssize_t r = fuzz_conn_read(&w->c, w->rx + w->rx_len, sizeof(w->rx) - 1 - w->rx_len);
		if (r < 0)
			hang("the upgrade was refused");
		w->rx_len += (size_t)r;
		w->rx[w->rx_len] = '\0';
		char *end = strstr((char *)w->rx, "\r\n\r\n");
		if (end) {
			if (strncmp((char *)w->rx, "HTTP/1.1 101", 12) != 0)
				hang("the upgrade was refused");
			size_t hlen = (size_t)(end + 4 - (char *)w->rx);
			memmove(w->rx, w->rx + hlen, w->rx_len - hlen);
			w->rx_len -= hlen;
			w->up = true;
			reconnects++;
			return true;
		}
		if (fuzz_now_ms() > deadline)
			hang("no answer to the upgrade");
	}
}

/* One client frame: masked, as browsers must send them. */
static void put_frame(uint8_t **o, int opcode, bool fin, const uint8_t *p, size_t n)
{
	static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
	uint8_t *q = *o;
	*q++ = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (n < 126) {
		*q++ = (uint8_t)(0x80 | n);
	} else {
		*q++ = 0x80 | 126;
		*q++ = (uint8_t)(n >> 8);
		*q++ = (uint8_t)n;
	}
	memcpy(q, mask, 4);
	q += 4;
	for (size_t i = 0; i < n; i++)
		*q++ = p[i] ^ mask[i & 3];
	*o = q;
}

/* A message as 1..4 fragments. */
static void put_message(uint8_t **o, bool text, unsigned frags, const uint8_t *p, size_t n)
{
	size_t step = n / frags, off = 0;
	for (unsigned i = 0; i < frags; i++) {
		size_t len = i + 1 == frags ? n - off : step;
		put_frame(o, i == 0 ? (text ? 1 : 2) : 0, i + 1 == frags, p + off, len);
		off += len;
	}
}

/* Reads the server's frames until the pong carrying mark; false when the socket closed. */
static bool wait_pong(struct ws *w, const char *mark)
{
	int64_t deadline = fuzz_now_ms() + 8000;
	for (;;) {
		/* Whole frames in rx: the server's are never masked. */
		size_t off = 0;
		while (w->rx_len - off >= 2) {
			const uint8_t *f = w->rx + off;
			size_t hl = 2, len = f[1] & 0x7f;
			if (len == 126) {
				if (w->rx_len - off < 4)
					break;
				len = (size_t)f[2] << 8 | f[3];
				hl = 4;
			} else if (len == 127) {
				if (w->rx_len - off < 10)
					break;
				len = 0;
				for (int i = 2; i < 10; i++)
					len = len << 8 | f[i];
				hl = 10;
			}
			if (w->rx_len - off < hl + len)
				break;
			int opcode = f[0] & 0x0f;
			if (opcode == 8) /* close */
				return false;
			if (opcode == 1) {
				const char *t = (const char *)f + hl;
				if (memmem(t, len, "\"event\":\"error\"", 15))
					errors++;
				if (memmem(t, len, mark, strlen(mark))) {
					memmove(w->rx, f + hl + len, w->rx_len - off - hl - len);
					w->rx_len -= off + hl + len;
					return true;
				}
			}
			off += hl + len;
		}
		memmove(w->rx, w->rx + off, w->rx_len - off);
		w->rx_len -= off;
		fuzz_service(true);
		ssize_t r = fuzz_conn_read(&w->c, w->rx + w->rx_len, sizeof(w->rx) - w->rx_len);
		if (r < 0)
			return false;
		w->rx_len += (size_t)r;
		if (w->rx_len == sizeof(w->rx))
			w->rx_len = 0; /* a flood of events: only the pong matters */
		if (fuzz_now_ms() > deadline)
			hang("no pong");
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_server_start("ws_input", 0);
	atexit(print_stats);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Each message grows by at most 4 frame headers of 8 bytes. */
	size_t cap = size + 64 * (MAX_MESSAGES + 4) + 256;
	uint8_t *out[2] = {malloc(cap), malloc(cap)}, *o[2] = {out[0], out[1]};
	static const uint8_t release = 0x04;
	put_message(&o[0], false, 1, &release, 1);
	const uint8_t *p = data, *end = data + size;
	for (int m = 0; m < MAX_MESSAGES && p < end; m++) {
		uint8_t h = *p++;
		size_t len = 0;
		if (h & 0x10) {
			if (end - p < 2)
				break;
			len = (size_t)p[0] | (size_t)p[1] << 8;
			p += 2;
		} else if (p < end) {
			len = *p++;
		}
		if (len > (size_t)(end - p))
			len = (size_t)(end - p);
		put_message(&o[h & 1], h & 2, ((h >> 2) & 3) + 1, p, len);
		p += len;
	}
	pings++;
	char mark[64], ping[128];
	snprintf(mark, sizeof(mark), "\"fuzz\":%lu", pings);
	int n = snprintf(ping, sizeof(ping), "{\"event\":\"ping\",\"data\":{\"fuzz\":%lu}}", pings);
	for (int i = 0; i < 2; i++) {
		struct ws *w = &socks[i];
		if (o[i] == out[i])
			continue; /* nothing for this socket */
		put_message(&o[i], true, 1, (const uint8_t *)ping, (size_t)n);
		if (!w->up && !connect_ws(w))
			hang("cannot connect");
		if (fuzz_conn_write(&w->c, out[i], (size_t)(o[i] - out[i])) < 0 ||
		    !wait_pong(w, mark))
			down(w);
	}
	free(out[0]);
	free(out[1]);
	fuzz_server_restore();
	return 0;
}
