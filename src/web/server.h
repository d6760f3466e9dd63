/*
 * server: the web front end: the HTTPS vhost (API, static UI, WebSockets), the optional
 * plain-HTTP redirect vhost and the loopback plain-HTTP vhost, added to the daemon's loop.
 * Who may do what it asks the auth service (services.h).
 *
 * The composition root (daemon/) creates it last, with the device services it may use, and
 * calls it back: once a second (tick), on SIGHUP (reload), and when a producer thread woke
 * the loop for it (frames, H.264 access units, download progress).
 */
#ifndef IPKVM_WEB_SERVER_H
#define IPKVM_WEB_SERVER_H

#include "daemon/services.h"

struct ipkvm_server;

/* Prepares what HTTP needs in the state dir (the TLS certificate), then listens on the loop of svc.
 * Returns NULL after logging why. svc (and svc->cfg) must outlive the server. */
struct ipkvm_server *ipkvm_server_create(const struct ipkvm_services *svc);
/* Once a second: connection deadlines, keep-alives, the `streamer` event. */
void ipkvm_server_tick(struct ipkvm_server *srv);
/* SIGHUP (after the auth service re-read its files): cuts the event sockets whose
 * credentials ended and re-reads the TLS files. */
void ipkvm_server_reload(struct ipkvm_server *srv);
/* A new picture may be out: wakes the MJPEG streams and snapshot waiters. */
void ipkvm_server_frames_ready(struct ipkvm_server *srv);
/* New H.264 access units may be out: wakes the H.264 clients. */
void ipkvm_server_h264_ready(struct ipkvm_server *srv);
/* Image downloads progressed: publishes their state. */
void ipkvm_server_fetch_progress(struct ipkvm_server *srv);
/* Before the loop shuts down: ends the front end's timers. */
void ipkvm_server_stop(struct ipkvm_server *srv);
/* After the loop shut down (its connections are closed). */
void ipkvm_server_destroy(struct ipkvm_server *srv);

#endif
