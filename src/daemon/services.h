/*
 * services: what the composition root (daemon.c) hands to a front end: the device
 * objects and shared services it may use, and nothing of the daemon's own state.
 *
 * A front end (web, VNC; Redfish, IPMI next) gets a const pointer to this at creation
 * and keeps it for its lifetime; the daemon creates every object here before any front end
 * and destroys them after every front end. A NULL device means the config has none (no video
 * source, no HID output, no power control, no virtual media): a front end answers
 * accordingly, it never creates one itself. This header only declares: a front end includes
 * the headers of the devices it drives.
 */
#ifndef IPKVM_DAEMON_SERVICES_H
#define IPKVM_DAEMON_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

struct ipkvm_config;
struct ipkvm_loop;
struct ipkvm_worker;
struct ipkvm_events;
struct ipkvm_video;
struct ipkvm_hid;
struct ipkvm_paste;
struct ipkvm_atx;
struct ipkvm_gpio;
struct ipkvm_vtarget;
struct ipkvm_msd;
struct ipkvm_authsvc;
struct ipkvm_auth;
struct ipkvm_rfb_conn;

/*
 * RFB sessions carried by another front end: the web front end's /api/vnc/ws (RFB over a
 * WebSocket on the HTTPS port, for noVNC). The carrying front end has already authenticated
 * the client (session cookie or API token, as for every endpoint); the VNC front end runs the
 * protocol (no RFB password then: the security type offered is None, on that path only) with
 * that identity, its role and its rechecks. The VNC front end fills the gateway in when
 * [vnc] enabled; it is NULL otherwise. Main thread only.
 *
 * Bytes flow as a plain stream in both directions (WebSocket message boundaries mean
 * nothing to RFB). Output is pulled: the session calls sink->want_write when it has bytes,
 * the carrier calls peek (a pointer into a buffer the session keeps valid until consumed)
 * and consumed(n) for what its socket took, as often as its socket is writable.
 */
struct ipkvm_rfb_sink {
	void *ctx;
	/* The session has bytes to send: ask the socket for a writable callback. */
	void (*want_write)(void *ctx);
	/* The session ended (protocol error, user revoked or demoted, server shutting down):
	 * close the transport. The carrier then calls close_conn (never input/peek again). */
	void (*close)(void *ctx);
};

struct ipkvm_rfb_gateway {
	void *ctx;
	/* A new session for auth (copied; rechecked like every VNC client) from peer (an address
	 * for the logs and audit). NULL when refused (too many clients, out of memory). */
	struct ipkvm_rfb_conn *(*open)(void *ctx, const struct ipkvm_auth *auth, const char *peer,
				       const struct ipkvm_rfb_sink *sink);
	/* Bytes from the client. 0, or < 0 when the session must end (the carrier closes). */
	int (*input)(struct ipkvm_rfb_conn *c, const void *data, size_t len);
	/* The next bytes to send: their count (0 when nothing waits), *data into the session's
	 * buffer, valid until consumed() or close_conn(). */
	size_t (*peek)(struct ipkvm_rfb_conn *c, const unsigned char **data);
	void (*consumed)(struct ipkvm_rfb_conn *c, size_t n);
	/* The transport is gone (either side closed): frees the session. */
	void (*close_conn)(struct ipkvm_rfb_conn *c);
};

/* The VNC front end's figures for GET /api/info, kept current by it (main thread). */
struct ipkvm_vnc_info {
	int port;	    /* the VNC port listened on */
	size_t clients;	    /* sessions now: the VNC port's and carried ones */
	bool anonymous_tls; /* [vnc] anonymous_tls: TLSPlain may be anonymous TLS */
};

struct ipkvm_services {
	const struct ipkvm_config *cfg;
	/* The event loop: fd watches, timers, wakes (daemon/loop.h); its lws context is where
	 * a front end adds its listeners. */
	struct ipkvm_loop *loop;
	struct ipkvm_worker *worker;	/* short jobs off the loop (password hashing, PNG) */
	struct ipkvm_worker *io_worker; /* disk writes that may take long (image uploads) */
	struct ipkvm_events *events;	/* state-change events every client may follow */
	struct ipkvm_authsvc *auth;	/* users, sessions, tokens, throttle, audit */
	struct ipkvm_video *video;	/* capture, JPEG and H.264; NULL = none */
	struct ipkvm_hid *hid;		/* keyboard and mice; NULL = none */
	struct ipkvm_paste *paste;	/* typing a text on hid; NULL without hid */
	struct ipkvm_atx *atx;		/* power and reset buttons, LEDs; NULL = none */
	struct ipkvm_gpio *gpio;	/* atx's GPIO lines ([atx] driver = gpio), or NULL */
	struct ipkvm_vtarget *vtarget;	/* the built-in virtual target, or NULL */
	struct ipkvm_msd *msd;		/* virtual media: image store, downloads, drives */
	/* RFB over another front end's transport; NULL unless [vnc] enabled (filled in by the
	 * composition root once the VNC front end exists, before any client connects). */
	const struct ipkvm_rfb_gateway *rfb;
	/* The VNC front end's figures; NULL unless [vnc] enabled (filled in with rfb). */
	const struct ipkvm_vnc_info *vnc_info;
};

#endif
