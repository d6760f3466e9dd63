/*
 * loop: the loop adapter, the one way anything reaches the daemon's event loop.
 *
 * The daemon has one main thread and one event loop (libwebsockets' own poll loop). Every
 * socket, timer and device fd lives on it. Modules below the front ends never see
 * libwebsockets: the composition root (daemon.c) gives each of them plain callbacks (a
 * timer, a wake) implemented here. What it offers:
 *   - fd watches: a callback when an fd is readable and/or writable, events changeable at
 *     any time (HID output asks for "writable" only while reports wait);
 *   - timers: one-shot or periodic, restartable, with a pending check;
 *   - wakes: a thread-safe trigger a producer thread (capture, encoder, worker, download)
 *     calls; the loop then calls that wake's consumer, and no other. Triggers coalesce:
 *     many triggers before the loop runs give one call.
 *
 * Who owns the libwebsockets context: this loop does. It creates the lws context (with
 * explicit vhosts, so creating it listens on nothing) and a private, non-listening vhost of
 * its own for watched fds and wakes. Front ends add their vhosts to the same context
 * (ipkvm_loop_lws()): the web front end its HTTPS and redirect vhosts, later VNC and IPMI
 * their sockets, so one poll() serves every socket of every front end and no front end owns
 * the loop the others run on. The loop is created first and destroyed last (in two steps:
 * shutdown closes every connection while the front ends still exist, destroy frees it).
 *
 * Everything here is main-thread only, except ipkvm_loop_wake() and ipkvm_loop_stop().
 */
#ifndef IPKVM_DAEMON_LOOP_H
#define IPKVM_DAEMON_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct lws_context;
struct ipkvm_loop;
struct ipkvm_loop_watch;
struct ipkvm_loop_timer;
struct ipkvm_loop_wake;

struct ipkvm_loop_config {
	/* Descriptors the daemon may hold at once: the open-files limit is raised to fit
	 * before the lws context sizes its fd table from it. 0 = leave the limit. */
	unsigned max_fds;
	/* Bytes of HTTP headers a request may carry (a context-wide lws setting). 0 = 8192. */
	unsigned max_http_header_data;
	/* Seconds lws waits for a connection's next step (handshake, headers) before
	 * closing it (context-wide). 0 = lws' default. */
	unsigned timeout_secs;
};

struct ipkvm_loop *ipkvm_loop_create(const struct ipkvm_loop_config *cfg);
/* Closes every connection and watched fd (their callbacks run, so the front ends must still
 * exist); timers and watches become inert, wakes are dropped. Idempotent. */
void ipkvm_loop_shutdown(struct ipkvm_loop *l);
/* Shuts down if needed and frees the loop and every watch, timer and wake left. */
void ipkvm_loop_destroy(struct ipkvm_loop *l);
/* The lws context front ends add their vhosts to. NULL after shutdown. */
struct lws_context *ipkvm_loop_lws(struct ipkvm_loop *l);

/* Serves until ipkvm_loop_stop(). Returns 0, or 1 when the loop failed. */
int ipkvm_loop_run(struct ipkvm_loop *l);
/* Makes ipkvm_loop_run() return after the current pass. Any thread. */
void ipkvm_loop_stop(struct ipkvm_loop *l);
/* How many times the loop woke up (one poll() that returned, and the pass that served it)
 * so far: the streams' per-pass byte budget, and the idle wake-up figure. */
uint64_t ipkvm_loop_passes(const struct ipkvm_loop *l);

/* ---- fd watches ---------------------------------------------------------------------- */

enum {
	IPKVM_LOOP_READ = 1 << 0,  /* readable, or an error or hang-up to read */
	IPKVM_LOOP_WRITE = 1 << 1, /* writable */
};

/* events: what is ready (IPKVM_LOOP_*). The fd is the caller's (the loop watches a copy of
 * it, so closing either never closes the other); the callback may change or end the
 * watch, and free it. When lws drops the copy on its own (a hang-up or an error), the
 * callback runs once more with IPKVM_LOOP_READ and the watch stays inert from then on: the
 * owner reads the error, unwatches and, if it reopens the device, watches the new fd. */
typedef void (*ipkvm_loop_fd_fn)(void *ctx, int fd, unsigned events);

/* Watches fd for events (IPKVM_LOOP_*). NULL on failure (logged). */
struct ipkvm_loop_watch *ipkvm_loop_watch(struct ipkvm_loop *l, int fd, unsigned events,
					  ipkvm_loop_fd_fn fn, void *ctx);
/* Changes the events watched for. */
void ipkvm_loop_watch_set(struct ipkvm_loop_watch *w, unsigned events);
/* Ends the watch and frees it (NULL is fine). The caller's fd stays open. */
void ipkvm_loop_unwatch(struct ipkvm_loop_watch *w);

/* ---- timers -------------------------------------------------------------------------- */

struct ipkvm_loop_timer *ipkvm_loop_timer_new(struct ipkvm_loop *l, void (*fn)(void *ctx),
					      void *ctx);
/* (Re)starts the timer: fn runs in delay_ms, then every period_ms (0 = once). */
void ipkvm_loop_timer_start(struct ipkvm_loop_timer *t, int64_t delay_ms, int64_t period_ms);
void ipkvm_loop_timer_stop(struct ipkvm_loop_timer *t);
/* The modules' timer(ctx, delay_ms) convention: a one-shot in delay_ms (>= 0), or stopped
 * (< 0). A NULL timer ignores it. */
void ipkvm_loop_timer_set(struct ipkvm_loop_timer *t, int64_t delay_ms);
bool ipkvm_loop_timer_pending(const struct ipkvm_loop_timer *t);
/* Stops and frees the timer (NULL is fine). */
void ipkvm_loop_timer_free(struct ipkvm_loop_timer *t);

/* ---- wakes --------------------------------------------------------------------------- */

/* A wake for one consumer: fn(ctx) runs on the loop after ipkvm_loop_wake(). */
struct ipkvm_loop_wake *ipkvm_loop_wake_new(struct ipkvm_loop *l, void (*fn)(void *ctx), void *ctx);
/* Any thread. wake is a struct ipkvm_loop_wake *: the signature fits the modules' wake(ctx)
 * callbacks, so a wake is handed to a module as (ipkvm_loop_wake, wake). */
void ipkvm_loop_wake(void *wake);
/* Frees the wake (NULL is fine). Its producers must have stopped. */
void ipkvm_loop_wake_free(struct ipkvm_loop_wake *w);

#endif
