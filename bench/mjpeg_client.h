/*
 * mjpeg_client: the benchmarks' multipart MJPEG stream client (video_bench, vs_ustreamer).
 *
 * Many connections live on one thread around epoll, so 64 clients cost 64 sockets, not 64
 * threads competing with the daemon for the cores. Each connection parses the stream
 * incrementally (a part may be split across reads anywhere): headers are gathered in a small
 * per-connection buffer and searched for their end; a JPEG body is skipped by its
 * Content-Length. Over plain HTTP the body is discarded in the kernel (recv with MSG_TRUNC,
 * no copy), so a part costs about three system calls whatever its size; over TLS the bytes
 * must be decrypted anyway.
 *
 * The part headers understood: Content-Length (required), X-Capture-Us and X-Sequence
 * (ipkvmd: capture time on CLOCK_MONOTONIC in µs, frame number), X-UStreamer-Grab-Time
 * (uStreamer with ?extra_headers=1: when it dequeued the buffer, CLOCK_MONOTONIC_RAW in s).
 */
#ifndef BENCH_MJPEG_CLIENT_H
#define BENCH_MJPEG_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	MJC_HDR_MAX = 2048,  /* longest response or part header accepted */
	MJC_HDR_READ = 1024, /* read size while in a header: little more than one part header */
	MJC_RBUF = 1 << 18,  /* TLS read buffer */
};

enum mjc_state { MJC_RESPONSE, MJC_PART_HEADER, MJC_BODY };

struct mjc_client {
	int fd;
	SSL *ssl;
	enum mjc_state state;
	bool want_write; /* TLS asked to write: EPOLLOUT is armed */
	size_t hlen, body_left, body_len;
	/* the current part's header fields */
	bool has_capture, has_seq, has_grab;
	int64_t capture_us;
	uint64_t seq;
	double grab_s;
	/* left to the user of the client (the callback's bookkeeping) */
	uint64_t last_seq;
	bool have_last;
	unsigned parts;
	char hdr[MJC_HDR_MAX];
};

/* Called when a part's last byte has arrived (now: CLOCK_MONOTONIC µs when the read
 * returned). 0, or -1 with err set (the service call then fails). */
typedef int (*mjc_part_fn)(struct mjc_client *c, int64_t now, void *arg, char *err, size_t errlen);

struct mjc_handler {
	mjc_part_fn on_part;
	void *arg;
	char err[256]; /* why mjc_service failed */
};

int64_t mjc_mono_us(void);

/* A blocking TCP connection to 127.0.0.1:port with send/receive timeouts, or -1 (errno). */
int mjc_connect_loopback(int port, int timeout_s);
/* GET path from 127.0.0.1:port over plain HTTP, with a bearer token (NULL: none): the body of
 * a 200 answer into body (NUL-terminated, cut to bodylen). 0, or -1 on any failure. */
int mjc_http_get(int port, const char *token, const char *path, char *body, size_t bodylen);
/* The number after "key": in a JSON text (the first such key), or -1 when missing. */
double mjc_json_num(const char *json, const char *key);

/* A blocking TLS connection on fd (closed on failure), or NULL. */
SSL *mjc_tls_on(SSL_CTX *ctx, int fd);

/* Closes without a close_notify (see mjpeg_client.c). */
void mjc_tls_close(SSL *ssl);

/* Connects (over TLS when ctx is set), sends request and makes the socket non-blocking.
 * 0, or -1 with err set. */
int mjc_open(struct mjc_client *c, int port, SSL_CTX *ctx, const char *request, char *err,
	     size_t errlen);

void mjc_close(struct mjc_client *c);

/* Reads what a readable connection has (ep: the epoll set it is in, for TLS's EPOLLOUT).
 * rbuf: MJC_RBUF bytes of scratch. 0, or -1 with h->err set. */
int mjc_service(int ep, struct mjc_client *c, struct mjc_handler *h, char *rbuf);

#endif
