/*
 * vnc: the VNC (RFB) front end: its TCP port and the sessions carried over another front
 * end's transport (the RFB gateway of daemon/services.h, for /api/vnc/ws), on the daemon's
 * loop. The protocol of each session is rfb.c's; this object owns what is around it:
 *
 *   - the listening socket ([vnc] listen and port; "" is one IPv6 socket that takes IPv4
 *     too), non-blocking, watched on the loop; every connection non-blocking, TCP_NODELAY,
 *     with one watch that asks for "writable" only while the session has bytes to send, so
 *     a client that stops reading never delays another;
 *   - TLS for VeNCrypt: once the session's queued bytes are out, a server handshake on the
 *     same socket, driven by the watch, with the daemon's certificate and cipher policy
 *     (tls/tls.h), reloaded on SIGHUP;
 *   - limits: [vnc] max_clients sessions (TCP and carried together), at most 8 connections
 *     per address (IPv6: per /64) that have not authenticated yet; refusals are logged at
 *     most every 10 s with a count;
 *   - deadlines: the engine's (10 s to authenticate, rechecks once a second), and 5 s for a
 *     client to take the last bytes of a session that ended (a failure reason) before it is
 *     cut;
 *   - the auth service's watcher (a logout or a user edit rechecks every session), the wakes
 *     for new images and new H.264 units (each session is kicked), one log line per
 *     connection opened and closed (peer, user, reason, bytes).
 *
 * The composition root makes it after the web front end (nothing is served before the
 * loop runs, so the gateway it then fills in exists before any client can reach it) and
 * ends it before the devices. Main thread only.
 */
#ifndef IPKVM_VNC_VNC_H
#define IPKVM_VNC_VNC_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/services.h"
#include "vnc/rfb.h"

struct ipkvm_vnc;

/* What the composition root decides for the sessions (the rest comes from svc->cfg). */
struct ipkvm_vnc_config {
	const struct ipkvm_layout *layout; /* keysyms and cut text are typed for this */
	const char *name;		   /* the desktop name (copied) */
	/* The VncAuth entries (copied); none = VncAuth refused. */
	const struct ipkvm_rfb_vncauth_entry *vncauth;
	size_t n_vncauth;
	/* The sessions' clock (handshake deadline, close grace); NULL = ipkvm_mono_ms(). */
	int64_t (*now_ms)(void *ctx);
	void *clock_ctx;
};

/* Loads the TLS pair, listens on [vnc] listen and port (port 0: any free port, see
 * ipkvm_vnc_port()) and watches the auth service. NULL after logging why. */
struct ipkvm_vnc *ipkvm_vnc_create(const struct ipkvm_services *svc,
				   const struct ipkvm_vnc_config *vc);
/* Before the devices go: stops listening, closes every connection of the VNC port and ends
 * every carried session (their carriers close them). Idempotent. */
void ipkvm_vnc_stop(struct ipkvm_vnc *v);
/* After the loop shut down (carried sessions left are freed). NULL is fine. */
void ipkvm_vnc_destroy(struct ipkvm_vnc *v);

/* Once a second: the sessions' deadlines and rechecks, the close grace, refusal counts. */
void ipkvm_vnc_tick(struct ipkvm_vnc *v);
/* SIGHUP: new connections get the certificate and key as they are now on disk. */
void ipkvm_vnc_reload_tls(struct ipkvm_vnc *v);
/* The producers' wakes (on the loop): a new image, new H.264 access units. */
void ipkvm_vnc_frames_ready(struct ipkvm_vnc *v);
void ipkvm_vnc_h264_ready(struct ipkvm_vnc *v);

/* The gateway the composition root puts in svc->rfb. Carried sessions: the server speaks
 * first, so sink->want_write is called from inside open(); a session the VNC side ends
 * (deadline, recheck, stop) gets sink->close, never from inside the carrier's own calls. */
const struct ipkvm_rfb_gateway *ipkvm_vnc_gateway(struct ipkvm_vnc *v);
/* What GET /api/info reports (the daemon puts it in svc->vnc_info); kept current. */
const struct ipkvm_vnc_info *ipkvm_vnc_info(const struct ipkvm_vnc *v);
/* The port listened on. */
int ipkvm_vnc_port(const struct ipkvm_vnc *v);

#endif
