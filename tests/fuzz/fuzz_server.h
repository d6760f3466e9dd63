/*
 * fuzz_server: the in-process ipkvmd that the server harnesses (http_request, api_json,
 * ws_input) talk to.
 *
 * One real server object (ipkvm_server_create: users and tokens files, sessions, throttle,
 * the virtual target as HID output, ATX lines, drives and video source, the image store) is
 * made once per process in a temporary state directory (on /dev/shm when there is one, so
 * the fsyncs of the users file and the store cost nothing). Neither of its vhosts listens:
 * both are created with CONTEXT_PORT_NO_LISTEN_SERVER. Each client connection is a
 * socketpair whose one end is adopted into the plain-HTTP vhost (lws_adopt_socket_vhost),
 * so every byte goes through lws's HTTP and WebSocket parsers and then src/web/http.c's
 * routing, authentication and body handling exactly as on the loopback plain-HTTP port
 * (or into the redirect vhost of [server] http_port). Adopted sockets skip one thing an
 * accepted one meets: lws calls FILTER_NETWORK_CONNECTION only on accept, so the
 * per-address admission of src/web/conn.c is not fuzzed here.
 *
 * Credentials: three users (admin, oper, view: one per role) with one API token each, and
 * one admin session. fuzz_substitute() puts them into an input in place of the
 * placeholders $A $O $V (tokens) and $S (the session cookie's value).
 *
 * Between inputs fuzz_server_restore() puts back what an input may have changed and what
 * would otherwise pile up over millions of runs: the users and tokens files (an input may
 * delete a user or change a password), the admin session, a paste under way, downloads,
 * the audit log's size, images in the store.
 */
#ifndef IPKVM_FUZZ_SERVER_H
#define IPKVM_FUZZ_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ipkvm_server;

enum {
	FUZZ_SERVER_VIDEO = 1 << 0, /* the virtual target as video source (else none) */
};

/* Makes the server (once; later calls return the same one). Exits the process on failure:
 * a harness without its server would only report nonsense. */
struct ipkvm_server *fuzz_server_start(const char *harness, unsigned flags);
/* After each input. */
void fuzz_server_restore(void);

/* Services the event loop once: without waiting (block false), or until something happens
 * or the next timer is due (at most ~10 ms: the HID timer). */
void fuzz_service(bool block);

/* Credentials for the placeholders. */
const char *fuzz_token(char role); /* 'A' admin, 'O' operator, 'V' viewer */
const char *fuzz_session(void);

/* Copies in to a new malloc'd buffer (NUL-terminated, *out_len without the NUL) with the
 * placeholders replaced. */
char *fuzz_substitute(const uint8_t *in, size_t len, size_t *out_len);

/* A client connection. */
struct fuzz_conn {
	int fd;	    /* our end (non-blocking) */
	int lws_fd; /* the end lws serves; closed by lws */
};

/* 0, or -1 when lws refused the socket. */
int fuzz_conn_open(struct fuzz_conn *c);
/* The same on the plain-HTTP port that only redirects to HTTPS ([server] http_port). */
int fuzz_conn_open_redirect(struct fuzz_conn *c);
/* Writes all of data, servicing the loop while the socket is full. Returns 0, or -1 when
 * the server closed the connection first. */
int fuzz_conn_write(struct fuzz_conn *c, const void *data, size_t len);
/* Reads what is there without waiting into buf (cap bytes). Returns the count, 0 when
 * nothing is there, -1 at end of stream (the server closed). */
ssize_t fuzz_conn_read(struct fuzz_conn *c, void *buf, size_t cap);
/* Closes our end and services the loop until lws has closed its end as well (bounded), so
 * no connection outlives its input. */
void fuzz_conn_close(struct fuzz_conn *c);

/* Sends one complete HTTP request on c and waits (at most timeout_ms) for the complete
 * response (headers and a Content-Length body). Returns the status code; 0 when the
 * server closed the connection without answering (c is then closed); aborts the process
 * when no answer comes in time, which is a hang of the server. body/body_len (may be
 * NULL) receive a pointer into a static buffer. */
int fuzz_http_exchange(struct fuzz_conn *c, const void *req, size_t len, int timeout_ms,
		       const char **body, size_t *body_len);

/* With FUZZ_TRACE set in the environment: writes what went to the server (">") or came
 * back ("<") to stderr, for looking at what one input does. */
void fuzz_trace(char dir, const void *buf, size_t len);
/* Whether FUZZ_TRACE is set (the harnesses then say what each input did). */
bool fuzz_tracing(void);

/* Monotonic milliseconds. */
int64_t fuzz_now_ms(void);

#endif
