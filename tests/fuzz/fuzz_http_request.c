/*
 * http_request: raw bytes as a client sends them to ipkvmd: request line, path, query,
 * headers, bodies, pipelined requests, WebSocket upgrades and whatever follows them.
 *
 * Each input is one connection to the in-process server (fuzz_server.h): lws parses it and
 * src/web/http.c routes it (path check, authentication before routing, static files, the
 * route table, roles, Origin, body limits, the handlers). $A $O $V become the API tokens of
 * an admin, an operator and a viewer and $S the admin session's cookie value, so the
 * fuzzer gets past authentication with a dictionary word instead of guessing 47 random
 * characters. An input whose first byte is 0x01 goes (without that byte) to the redirect
 * port of [server] http_port instead (Host and query rebuilt into a Location).
 *
 * The input is written and the loop serviced until the server has been idle for a few
 * passes; then our side is shut for writing (the server sees the end of the stream, which
 * also cuts off an unfinished request or body), and after a few more idle passes we hang
 * up. So one input is one connection, and what lives on is only what the server keeps on
 * purpose (sessions, throttle counters, images, a connection lingering before its close),
 * which fuzz_server_restore() bounds. A server that never stops answering (a loop) is a
 * timeout.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fuzz_server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_server_start("http_request", FUZZ_SERVER_VIDEO);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len;
	bool redirect = size && data[0] == 0x01;
	char *req = fuzz_substitute(data + redirect, size - redirect, &len);
	struct fuzz_conn c;
	if ((redirect ? fuzz_conn_open_redirect(&c) : fuzz_conn_open(&c)) < 0) {
		free(req);
		return 0;
	}
	bool closed = fuzz_conn_write(&c, req, len) < 0, shut = false;
	free(req);
	char sink[16384];
	/* After 3 passes without anything new from the server, end our stream; after 3 more,
	 * hang up (a server that stopped reading, e.g. lingering before it closes, never sees
	 * the end of the stream). 20000 passes bound an input that keeps the server busy. */
	int pass = 0;
	for (int idle = 0; !closed && pass < 20000; pass++) {
		fuzz_service(false);
		ssize_t n = fuzz_conn_read(&c, sink, sizeof(sink));
		if (n < 0)
			break;
		idle = n > 0 ? 0 : idle + 1;
		if (idle >= 3 && shut)
			break;
		if (idle >= 3) {
			shutdown(c.fd, SHUT_WR);
			shut = true;
			idle = 0;
		}
	}
	if (fuzz_tracing())
		fprintf(stderr, "server idle or closed after %d passes\n", pass);
	fuzz_conn_close(&c);
	fuzz_server_restore();
	return 0;
}
