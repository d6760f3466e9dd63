/*
 * rfb: the protocol engine of one RFB (VNC) session, transport-agnostic.
 *
 * The VNC front end (vnc.c) owns sockets, TLS and deadlines; the web front end carries RFB
 * over a WebSocket through the gateway of daemon/services.h. Both feed the client's bytes to
 * a session here and send what it queues, so the protocol (version and security handshake,
 * the client messages, the choice of what to send and when) exists once, and the fuzz
 * harness drives exactly what the network reaches.
 *
 * Shape:
 *   - input(): the client's bytes, any split; partial messages are kept (bounded: a message
 *     larger than the engine accepts ends the session, except ClientCutText, whose text past
 *     the limit is read and thrown away with a log line, never typed in part).
 *   - Output is pulled: peek()/consumed() over a queue of segments that are either the
 *     session's own small buffers or references to shared images (the pipeline's JPEG, an
 *     H.264 access unit), sent from where they are, never copied per client. A framebuffer
 *     update is built only when the client wants one and the previous one has left: a slow
 *     client gets the newest picture, never a backlog.
 *   - kick(): something the client may want changed (a new image, new H.264 units, the
 *     lock LEDs, the screen size); the loop calls it on its wakes.
 *   - Security on the VNC port: VeNCrypt (X509Plain, TLSPlain: TLS with the daemon's
 *     certificate, then the ipkvm user name and password, checked by the auth service with
 *     its throttle, TOTP rules and audit; TLSPlain may be anonymous TLS where the transport
 *     allows it, [vnc] anonymous_tls) and, only when configured, VncAuth. Carried
 *     sessions (IPKVM_RFB_PREAUTH) come authenticated and are offered None.
 * Main thread only.
 */
#ifndef IPKVM_VNC_RFB_H
#define IPKVM_VNC_RFB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/authsvc.h"

struct ipkvm_services;
struct ipkvm_layout;
struct ipkvm_rfb_session;

/* A VncAuth password file entry: the password (at most 8 bytes count) and the ipkvm user
 * whose role and rechecks the session takes. */
struct ipkvm_rfb_vncauth_entry {
	char user[IPKVM_USER_NAME_MAX + 1];
	char password[9];
};

/* What every session of one front end shares; owned by vnc.c, outlives its sessions. */
struct ipkvm_rfb_env {
	const struct ipkvm_services *svc;  /* video, hid, paste, auth, events; NULL devices ok */
	const struct ipkvm_layout *layout; /* the target's keyboard layout (keysyms, cut text) */
	const char *name;		   /* the desktop name in ServerInit */
	bool tls;			   /* VeNCrypt offered (a TLS context exists) */
	const struct ipkvm_rfb_vncauth_entry *vncauth; /* VncAuth offered when n_vncauth > 0 */
	size_t n_vncauth;
	int64_t (*now_ms)(void *ctx); /* NULL = ipkvm_mono_ms() */
	void *clock_ctx;
};

enum ipkvm_rfb_kind {
	IPKVM_RFB_TCP,	   /* the VNC port: VeNCrypt, VncAuth when configured; never None */
	IPKVM_RFB_PREAUTH, /* carried by an authenticated transport: None, with that identity */
};

/* The transport's side, per session. */
struct ipkvm_rfb_hooks {
	void *ctx;
	/* Output waits: ask for a writable callback (peek/consumed then). */
	void (*want_write)(void *ctx);
	/* VeNCrypt: once the bytes queued so far have been sent, run a server-side TLS
	 * handshake on the connection; call ipkvm_rfb_session_tls_ready() when it is done (any
	 * input before that is a protocol error). anonymous_ok: the client chose TLSPlain,
	 * whose clients may have no way to check a certificate, so the transport may also agree
	 * to anonymous TLS where it is configured to (X509Plain: false, never anonymous). 0 or
	 * -errno. NULL on carried sessions. */
	int (*start_tls)(void *ctx, bool anonymous_ok);
};

/* A new session from peer (an address, for logs, throttle and audit). kind PREAUTH needs
 * auth (copied); TCP ignores it. NULL when out of memory. The server speaks first: its
 * version string is queued at once (want_write is called). */
struct ipkvm_rfb_session *ipkvm_rfb_session_new(const struct ipkvm_rfb_env *env,
						enum ipkvm_rfb_kind kind,
						const struct ipkvm_auth *auth, const char *peer,
						const struct ipkvm_rfb_hooks *hooks);
/* Releases what the session holds: keys and buttons it pressed, images, an auth call in
 * flight (detached), its auth session. Closing that auth session tells the auth service's
 * watchers (which may recheck other sessions): call it once s is out of the transport's
 * lists. */
void ipkvm_rfb_session_free(struct ipkvm_rfb_session *s);

/* The client's bytes. 0; or < 0 when the session is over: send what peek() still gives
 * (a failure reason, for instance), then close. */
int ipkvm_rfb_session_input(struct ipkvm_rfb_session *s, const void *data, size_t len);
/* The next bytes to send (count, 0 when none; *data valid until consumed()/free()). */
size_t ipkvm_rfb_session_peek(struct ipkvm_rfb_session *s, const unsigned char **data);
void ipkvm_rfb_session_consumed(struct ipkvm_rfb_session *s, size_t n);
/* The session is over: close once peek() gives 0. */
bool ipkvm_rfb_session_closing(const struct ipkvm_rfb_session *s);

/* The TLS handshake start_tls asked for is done: VeNCrypt goes on inside it. anonymous: the
 * handshake used no certificate (the login's log line warns, its audit record says so). */
void ipkvm_rfb_session_tls_ready(struct ipkvm_rfb_session *s, bool anonymous);
/* Something changed that the client may want (new image or H.264 units, LEDs, size). */
void ipkvm_rfb_session_kick(struct ipkvm_rfb_session *s);
/* Once a second: the handshake deadline (10 s to authenticate) and the auth recheck (the
 * user deleted, demoted or their password changed, the session expired). false: close now. */
bool ipkvm_rfb_session_tick(struct ipkvm_rfb_session *s);
/* The auth recheck alone (the auth service's watcher). false: close now. */
bool ipkvm_rfb_session_recheck(struct ipkvm_rfb_session *s);

/* Who the session acts as ("" before authentication), for logs and the connection list. */
const char *ipkvm_rfb_session_user(const struct ipkvm_rfb_session *s);
bool ipkvm_rfb_session_authenticated(const struct ipkvm_rfb_session *s);

#endif
