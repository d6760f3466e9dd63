/*
 * api_json: every request body through the real handlers, against the virtual target's
 * devices (HID output, ATX lines, drives, video) of the in-process server (fuzz_server.h).
 *
 * Input: the first byte picks a route and method from the table below (every route of
 * src/web/http.c that takes a body or acts on a path name) and the caller's role; a route
 * with a name in its path (/api/users/{name}, /api/msd/images/{name}, ...) takes that name
 * from the input up to the first newline (percent-encoded into the path as a client would;
 * lws decodes it); the rest is the body. The harness sends one complete, authenticated
 * request (API token of the role, a valid Origin, application/json, an exact
 * Content-Length) on a kept-alive connection and waits for the whole response: so every
 * input reaches its handler, and a response that never comes (a hang) or a second response
 * to one request aborts the run.
 *
 * Nothing slow or outside: downloads go to a proxy that refuses (fuzz_server.c), a paste is
 * stopped and downloads cancelled after each input, the users and tokens files are put
 * back when an input changed them, logins and password changes cost one yescrypt each on
 * the worker thread (login back-off soon answers 429 without hashing).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	const char *method, *path;
	bool named;	    /* the path goes on with a name from the input */
	const char *suffix; /* after the name */
} routes[] = {
    {"POST", "/api/auth/login", false, NULL},
    {"POST", "/api/auth/logout", false, NULL},
    {"POST", "/api/auth/password", false, NULL},
    {"POST", "/api/users", false, NULL},
    {"POST", "/api/users/", true, ""},
    {"DELETE", "/api/users/", true, ""},
    {"POST", "/api/streamer/params", false, NULL},
    {"POST", "/api/hid/key", false, NULL},
    {"POST", "/api/hid/release_all", false, NULL},
    {"POST", "/api/hid/mouse", false, NULL},
    {"POST", "/api/hid/shortcut", false, NULL},
    {"POST", "/api/hid/jiggler", false, NULL},
    {"POST", "/api/hid/mouse/mode", false, NULL},
    {"POST", "/api/hid/type", false, NULL},
    {"POST", "/api/hid/type/cancel", false, NULL},
    {"POST", "/api/atx/power", false, NULL},
    {"POST", "/api/atx/click", false, NULL},
    {"PUT", "/api/msd/images/", true, ""},
    {"DELETE", "/api/msd/images/", true, ""},
    {"POST", "/api/msd/fetch", false, NULL},
    {"POST", "/api/msd/fetch/", true, "/cancel"},
    {"POST", "/api/msd/drives/", true, "/attach"},
    {"POST", "/api/msd/drives/", true, "/eject"},
    {"POST", "/api/wol", false, NULL},
    {"POST", "/api/auth/language", false, NULL},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static struct fuzz_conn conn = {.fd = -1, .lws_fd = -1};
static unsigned long statuses[6]; /* 1xx..5xx, [0] = no answer */

static void print_stats(void)
{
	fprintf(stderr, "api_json: answers 2xx %lu, 3xx %lu, 4xx %lu, 5xx %lu, none %lu\n",
		statuses[2], statuses[3], statuses[4], statuses[5], statuses[0]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_server_start("api_json", FUZZ_SERVER_VIDEO);
	atexit(print_stats);
	return 0;
}

/* Appends name to out percent-encoded (bytes outside the unreserved set). */
static size_t encode(char *out, const uint8_t *name, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = name[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned pick = data[0];
	const uint8_t *body = data + 1;
	size_t blen = size - 1;
	/* Mostly admin: the role only decides 403s, the bodies are what is fuzzed here. */
	char role = "AAOV"[(pick / NROUTES) % 4];
	unsigned r = pick % NROUTES;

	char path[1024];
	size_t plen = (size_t)snprintf(path, sizeof(path), "%s", routes[r].path);
	if (routes[r].named) {
		const uint8_t *nl = memchr(body, '\n', blen);
		size_t n = nl ? (size_t)(nl - body) : blen;
		n = n > 250 ? 250 : n;
		plen += encode(path + plen, body, n);
		plen += (size_t)snprintf(path + plen, sizeof(path) - plen, "%s", routes[r].suffix);
		blen -= nl ? (size_t)(nl - body) + 1 : blen;
		body += nl ? (size_t)(nl - body) + 1 : 0;
	}

	char head[2048];
	int hlen = snprintf(head, sizeof(head),
			    "%s %s HTTP/1.1\r\nHost: fuzz\r\nOrigin: http://fuzz\r\n"
			    "Authorization: Bearer %s\r\nContent-Type: %s\r\n"
			    "Content-Length: %zu\r\n\r\n",
			    routes[r].method, path, fuzz_token(role),
			    strcmp(routes[r].method, "PUT") == 0 ? "application/octet-stream"
								 : "application/json",
			    blen);
	char *req = malloc((size_t)hlen + blen);
	memcpy(req, head, (size_t)hlen);
	memcpy(req + hlen, body, blen);

	char probe;
	if (conn.fd >= 0 && fuzz_conn_read(&conn, &probe, 1) != 0)
		fuzz_conn_close(&conn); /* the server ended it (or said something unasked) */
	if (conn.fd < 0 && fuzz_conn_open(&conn) < 0) {
		free(req);
		return 0;
	}
	int status = fuzz_http_exchange(&conn, req, (size_t)hlen + blen, 8000, NULL, NULL);
	statuses[status >= 100 && status < 600 ? status / 100 : 0]++;
	free(req);
	fuzz_server_restore();
	return 0;
}
