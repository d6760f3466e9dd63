/*
 * web.h: what the files of src/web/ share with each other (not a public interface).
 *
 * One lws protocol ("ipkvm") serves both HTTP and WebSocket connections: lws binds a
 * WebSocket upgrade without a subprotocol to the vhost's first protocol, so the per-
 * connection data (struct ipkvm_pss) carries both halves.
 */
#ifndef IPKVM_WEB_WEB_H
#define IPKVM_WEB_WEB_H

#include <libwebsockets.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/authsvc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/events.h"
#include "core/json.h"
#include "core/worker.h"
#include "daemon/services.h"
#include "tls/tls.h"
#include "video/h264_stream.h"
#include "web/rawwrite.h"

#define IPKVM_URL_MAX	   1024
#define IPKVM_ADDR_MAX	   64
#define IPKVM_COOKIE_NAME  "ipkvm_session"
#define IPKVM_WS_QUEUE	   64 /* messages a WebSocket client may lag behind before it is cut */
#define IPKVM_RESP_HEADERS 1024
/* HTTPS responses only: a browser that has seen it never tries plain HTTP for this host
 * again for a year. */
#define IPKVM_HSTS_HEADER "strict-transport-security: max-age=31536000\r\n"

enum ipkvm_method {
	IPKVM_GET = 1 << 0,
	IPKVM_POST = 1 << 1,
	IPKVM_PUT = 1 << 2,
	IPKVM_DELETE = 1 << 3,
	IPKVM_PATCH = 1 << 4,
	IPKVM_OPTIONS = 1 << 5,
	IPKVM_HEAD = 1 << 6,
};

struct ipkvm_server;
struct ipkvm_stream_client;
struct ipkvm_video;
struct ipkvm_hid;
struct ipkvm_atx;
struct ipkvm_gpio;
struct ipkvm_msd;
struct ipkvm_vtarget;
struct ipkvm_conns;

struct ipkvm_http_req {
	struct ipkvm_server *srv;
	struct lws *wsi;
	enum ipkvm_method method;
	char path[IPKVM_URL_MAX];
	const char *rest; /* in path: what follows a prefix route's path ("" for others) */
	char addr[IPKVM_ADDR_MAX];
	struct ipkvm_auth auth;
	/* request body */
	char *body;
	size_t body_len, content_length;
	size_t body_cap;    /* bytes allocated for body: grows as bytes arrive */
	bool body_expected; /* a body is being read into body */
	bool body_done;	    /* the body completed: the handler ran (lws may say so again) */
	bool body_refused;  /* answered early (413/415); the rest of the body is discarded */
	bool close_after;   /* end the connection after the response */
	/* response, written on the next WRITEABLE */
	int status;
	const char *content_type;
	char *resp;
	size_t resp_len;
	char headers[IPKVM_RESP_HEADERS]; /* extra "Name: value\r\n" lines */
	size_t headers_len;
	bool ready;
	void *job; /* worker job in flight (login, PNG snapshot); job_detach runs on close */
	void (*job_detach)(struct ipkvm_http_req *req);
	struct ipkvm_stream_client *stream; /* an MJPEG stream this request became */
	void *upload; /* a streamed request body's handler state (image upload) */
	const struct ipkvm_upload_ops *upload_ops;
	int64_t snapshot_since;	      /* waiting for a snapshot newer than this seq + 1 */
	int64_t snapshot_deadline_ms; /* 0 = not waiting */
	bool snapshot_png;	      /* waiting for a raw frame, for ?raw=1 */
	struct ipkvm_http_req *next_waiting;
};

struct ipkvm_ws_client {
	struct ipkvm_server *srv;
	struct lws *wsi;
	struct ipkvm_auth auth;
	int sub_id;
	struct ipkvm_buf *queue[IPKVM_WS_QUEUE];
	unsigned q_head, q_len;
	char *rx; /* a message being reassembled from fragments */
	size_t rx_len;
	bool cut;	    /* closing: lagged, or its session ended */
	bool sent_input;    /* released everything when it closes */
	int64_t last_rx_ms; /* last message from the client */
	bool rx_binary;	    /* the message being received is binary (input protocol) */
	struct ipkvm_ws_client *next;
};

/* A client of the H.264 WebSocket (/api/streamer/h264). */
struct ipkvm_h264_client {
	struct ipkvm_server *srv;
	struct lws *wsi;
	struct ipkvm_auth auth;
	struct ipkvm_h264_cursor cursor; /* its place in the shared ring */
	/* The message being written (NULL between messages): the shared access unit with the
	 * WebSocket frame header in its headroom, out_len bytes from out_start. */
	struct ipkvm_buf *out;
	const uint8_t *out_start;
	size_t out_len, out_off;
	struct ipkvm_rawwrite rw;
	int64_t last_tx_ms;
	bool alive_due, cut;
	bool rx_paused; /* reads held back until the message in flight is complete */
	struct ipkvm_h264_client *next_client;
};

/*
 * The WebSocket messages of one RFB byte stream (vnc_ws.c), written straight to the socket:
 * pieces of the session's output shorter than IPKVM_RFB_PIPE_COPY are gathered into one
 * message here (copied once, they are small), a longer one goes as a message of its own from
 * the session's buffer (its frame header written first from here), at most
 * IPKVM_RFB_PIPE_BODY bytes.
 */
#define IPKVM_RFB_PIPE_HDR  10
#define IPKVM_RFB_PIPE_COPY 4096
#define IPKVM_RFB_PIPE_BODY 65535
struct ipkvm_rfb_pipe {
	const struct ipkvm_rfb_gateway *gw;
	/* The session; NULL once nothing more may be taken from it (it ended, or the socket
	 * is being closed): the message in flight is finished, no other begins. */
	struct ipkvm_rfb_conn *conn;
	uint8_t buf[IPKVM_RFB_PIPE_HDR + IPKVM_RFB_PIPE_COPY];
	const uint8_t *run; /* in buf: the frame header, then the gathered bytes */
	size_t run_len, run_off;
	const uint8_t *body; /* then this many bytes from the session's buffer (0: none) */
	size_t body_len, body_off;
	struct ipkvm_rawwrite rw;
};

/* A client of /api/vnc/ws: RFB over a WebSocket, carried to the VNC engine (services.h). */
struct ipkvm_vnc_client {
	struct ipkvm_server *srv;
	struct lws *wsi;
	struct ipkvm_auth auth;
	struct ipkvm_rfb_sink sink;  /* handed to the gateway; lives as long as the socket */
	struct ipkvm_rfb_conn *conn; /* the session, until close_conn */
	struct ipkvm_rfb_pipe pipe;
	bool ended;	/* the session closed itself: no more input or peek */
	bool stopping;	/* closing at the next message boundary (after draining, if drain) */
	bool drain;	/* send what the session still has before closing */
	bool rx_paused; /* reads held back until the message in flight is complete */
	bool rx_text;	/* the message being received is text (not RFB) */
	uint16_t close_code;
	const char *close_why;
	int64_t waiting_ms; /* output waits and the socket took nothing since (0: none waits) */
	struct ipkvm_vnc_client *next;
};

/* A WebSocket endpoint (a route's .ws): client is its member of struct ipkvm_pss's union. */
struct ipkvm_ws_ops {
	int (*established)(void *client, struct ipkvm_server *srv, struct lws *wsi,
			   const struct ipkvm_auth *auth);
	int (*receive)(void *client, const void *in, size_t len);
	int (*writeable)(void *client);
	void (*closed)(void *client);
	/* Optional: whether the endpoint is on in this configuration; when not, its path is
	 * answered 404 with *why (the upgrade is refused the same way). */
	bool (*available)(const struct ipkvm_server *srv, const char **why);
	/* The WebSocket subprotocol it speaks when a client names one (NULL: none). An upgrade
	 * that lists subprotocols without this one is refused. */
	const char *subprotocol;
};

struct ipkvm_pss {
	const struct ipkvm_ws_ops *ws; /* the WebSocket this connection became; NULL: HTTP */
	struct ipkvm_auth ws_auth;     /* who upgraded, kept until the socket is established */
	struct ipkvm_http_req req;
	union {
		struct ipkvm_ws_client events;
		struct ipkvm_h264_client h264;
		struct ipkvm_vnc_client vnc;
	} client;
};

/* The web front end: HTTP's own state. The devices and the auth service it uses come from
 * the composition root (svc); none of them is made, owned or freed here. */
struct ipkvm_server {
	const struct ipkvm_config *cfg;
	const struct ipkvm_services *svc;
	char state_dir[PATH_MAX];
	char web_root[PATH_MAX];
	struct ipkvm_tls_files tls_files; /* the HTTPS certificate and key (tls/tls.h) */
	char hostname[256];
	struct lws_context *ctx; /* the loop's (ipkvm_loop_lws()) */
	struct lws_vhost *vhost, *redirect_vhost, *plain_vhost;
	void *ssl_ctx;	 /* the HTTPS vhost's SSL_CTX, for certificate reload on SIGHUP */
	bool tls_chacha; /* ChaCha20-Poly1305 preferred over AES-GCM ([server] tls_ciphers) */
	int64_t started;
	struct ipkvm_conns *conns; /* connection limits and request deadlines (conn.c) */
	struct ipkvm_ws_client *ws_clients;
	struct ipkvm_h264_client *h264_clients;
	struct ipkvm_vnc_client *vnc_clients;
	struct ipkvm_stream_client *streams;
	uint64_t stream_pass;	  /* the loop pass the counts below are of */
	size_t stream_pass_bytes; /* MJPEG written in it */
	/* Streams held back in this pass and in the last one, and the oldest turn (the pass
	 * it last wrote in) among them. */
	unsigned streams_held, streams_held_last;
	uint64_t held_oldest, held_oldest_last;
	struct ipkvm_http_req *snapshot_waiters;
	char streamer_last[512]; /* the last `streamer` event sent, to send only changes */
};

/* A request body streamed to its handler (PUT of an image) instead of buffered. */
struct ipkvm_upload_ops {
	/* Headers in and authorized: set req->upload, or reply (the body is then refused). */
	void (*begin)(struct ipkvm_http_req *req);
	/* A piece of the body. 0, or -1 to drop the connection. */
	int (*chunk)(struct ipkvm_http_req *req, const void *data, size_t len);
	/* The whole body is in: finish and reply (now or later); req->upload is cleared. */
	void (*end)(struct ipkvm_http_req *req);
	/* The connection ended before end(): discard; req->upload is cleared. */
	void (*abort)(struct ipkvm_http_req *req);
};

/* One API path (routes.c says how rows are read). */
struct ipkvm_route {
	const char *path; /* ending in '/': a prefix, the rest going to the handler */
	bool name_rest;	  /* the rest is a name (any UTF-8 but '/' and control characters) */
	bool public;	  /* callable without a session (login) */
	unsigned methods; /* enum ipkvm_method mask; others are 405 */
	enum ipkvm_role read_role;  /* GET */
	enum ipkvm_role write_role; /* every other method: viewers never change state */
	void (*fn)(struct ipkvm_http_req *req);
	const struct ipkvm_upload_ops *upload; /* a PUT body streamed to these, not buffered */
	const struct ipkvm_ws_ops *ws;	       /* a WebSocket: a GET without Upgrade is 426 */
};

/* routes.c */
/* The route of an API path, or NULL; *rest (may be NULL) points into path after the
 * route's path ("" for an exact route). */
const struct ipkvm_route *ipkvm_route_find(const char *path, const char **rest);
/* Whether a path outside /api/ is a UI file strangers may load (the login page's). */
bool ipkvm_public_file(const char *path);
/* The whole table (for tests and documentation checks). */
const struct ipkvm_route *ipkvm_routes(size_t *n);
/* Whether a request path has only the characters paths may have: plain ASCII, and in the
 * rest of a name_rest route any byte but '/' and control characters. */
bool ipkvm_path_ok(const char *path);

/* http.c */
int ipkvm_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len);
int ipkvm_redirect_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			    size_t len);
void ipkvm_http_header(struct ipkvm_http_req *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Queues a response (body copied). */
void ipkvm_http_reply(struct ipkvm_http_req *req, int status, const char *content_type,
		      const void *body, size_t len);
/* 2xx with the {"ok":true,"result":...} envelope; result stolen (NULL → {}). */
void ipkvm_http_reply_ok(struct ipkvm_http_req *req, int status, json_t *result);
/* 4xx/5xx with the error envelope; extra (stolen, may be NULL) is merged into "error". */
void ipkvm_http_reply_error(struct ipkvm_http_req *req, int status, const char *code, json_t *extra,
			    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Serves a file (opened by lws from path) with the UI's headers, its type from the name
 * type_name ends with. -1 to hang up, 0, or 1 when the transaction is already over (req may
 * be freed). For GET and HEAD only (others answered 405). */
int ipkvm_http_serve_file(struct ipkvm_http_req *req, const char *path, const char *type_name);
/* The client's address as people write it (an IPv4 client of the dual-stack socket shows
 * as 127.0.0.1, not ::ffff:127.0.0.1). */
void ipkvm_web_peer_addr(struct lws *wsi, char *out, size_t len);
/* Parses and checks the JSON request body; on failure replies 400 and returns NULL. */
json_t *ipkvm_http_body_json(struct ipkvm_http_req *req, const struct ipkvm_json_field *fields,
			     size_t nfields);
/* Whether req's method is one of allowed (a mask of enum ipkvm_method); when not, replies
 * 405 method_not_allowed with an Allow header and returns false. Every handler checks it. */
bool ipkvm_http_method_ok(struct ipkvm_http_req *req, unsigned allowed);

/* auth.c: the HTTP side of authentication (auth/authsvc.h holds the rest). */
/* Authenticates a request from its cookie or bearer token. touch: counts as activity.
 * Callers refresh the credentials first (once per request). Returns 0 (out filled) or
 * -EACCES. */
int ipkvm_web_authenticate(struct ipkvm_server *srv, struct lws *wsi, struct ipkvm_auth *out,
			   bool touch);
/* 0 when the request has no Origin or its Origin is https://<Host> (http:// on the plain
 * port); -EPERM otherwise. */
int ipkvm_web_check_origin(struct lws *wsi);
/* Set-Cookie value for a new session token, or for clearing the cookie (token NULL). */
void ipkvm_web_cookie(const struct ipkvm_server *srv, const char *token, char *out, size_t len);

/* api_auth.c and api_info.c: route handlers. */
void ipkvm_api_login(struct ipkvm_http_req *req);
void ipkvm_api_logout(struct ipkvm_http_req *req);
void ipkvm_api_check(struct ipkvm_http_req *req);
void ipkvm_api_password(struct ipkvm_http_req *req);
void ipkvm_api_language(struct ipkvm_http_req *req);
void ipkvm_api_users(struct ipkvm_http_req *req);
void ipkvm_api_user(struct ipkvm_http_req *req); /* /api/users/{name} */
void ipkvm_api_info(struct ipkvm_http_req *req);

/* api_streamer.c */
void ipkvm_api_streamer(struct ipkvm_http_req *req);	      /* GET /api/streamer */
void ipkvm_api_streamer_params(struct ipkvm_http_req *req);   /* POST .../params */
void ipkvm_api_streamer_stream(struct ipkvm_http_req *req);   /* GET .../stream */
void ipkvm_api_streamer_snapshot(struct ipkvm_http_req *req); /* GET .../snapshot */
/* WRITEABLE on a stream request. Returns what the lws callback should return. */
int ipkvm_stream_writeable(struct ipkvm_http_req *req);
/* A request that was streaming or waiting for a snapshot goes away. */
void ipkvm_stream_detach(struct ipkvm_http_req *req);
/* A new image may be out (the main loop was woken): wake the clients that want it. */
void ipkvm_stream_wake(struct ipkvm_server *srv);
/* Once a second: keep-alive resends, snapshot timeouts, the `streamer` event. */
void ipkvm_stream_tick(struct ipkvm_server *srv);
/* The status object of GET /api/streamer and the `streamer` event. */
json_t *ipkvm_streamer_status(struct ipkvm_server *srv);

/* api_hid.c */
void ipkvm_api_hid(struct ipkvm_http_req *req);
void ipkvm_api_hid_key(struct ipkvm_http_req *req);
void ipkvm_api_hid_release_all(struct ipkvm_http_req *req);
void ipkvm_api_hid_mouse(struct ipkvm_http_req *req);
void ipkvm_api_hid_shortcut(struct ipkvm_http_req *req);
void ipkvm_api_hid_jiggler(struct ipkvm_http_req *req);
void ipkvm_api_hid_mouse_mode(struct ipkvm_http_req *req);
void ipkvm_api_hid_type(struct ipkvm_http_req *req);
void ipkvm_api_hid_type_cancel(struct ipkvm_http_req *req);
/* A binary input message (see docs/api.md). 0 or -errno with err for the error event. */
int ipkvm_ws_binary_input(struct ipkvm_server *srv, const struct ipkvm_auth *auth,
			  const uint8_t *data, size_t len, char *err, size_t errlen);
int ipkvm_ws_mouse(struct ipkvm_server *srv, const struct ipkvm_auth *auth, json_t *data, char *err,
		   size_t errlen);
/* A `key` message from a WebSocket client. 0 or -errno with err for the error event. */
int ipkvm_ws_key(struct ipkvm_server *srv, const struct ipkvm_auth *auth, json_t *data, char *err,
		 size_t errlen);

/* api_atx.c */
void ipkvm_api_atx(struct ipkvm_http_req *req);
void ipkvm_api_atx_power(struct ipkvm_http_req *req);
void ipkvm_api_atx_click(struct ipkvm_http_req *req);
void ipkvm_api_wol(struct ipkvm_http_req *req);
void ipkvm_api_target(struct ipkvm_http_req *req);

/* api_msd.c */
extern const struct ipkvm_upload_ops ipkvm_msd_upload_ops; /* PUT /api/msd/images/{name} */
void ipkvm_api_msd(struct ipkvm_http_req *req);
void ipkvm_api_msd_image(struct ipkvm_http_req *req);
void ipkvm_api_msd_fetch(struct ipkvm_http_req *req);
void ipkvm_api_msd_fetch_cancel(struct ipkvm_http_req *req);
void ipkvm_api_msd_drive(struct ipkvm_http_req *req);
/* Collects download progress (the loop was woken) and publishes it. */
void ipkvm_msd_fetch_poll(struct ipkvm_server *srv);

/* h264_ws.c: the H.264 WebSocket, /api/streamer/h264 (alias /api/media/ws) */
extern const struct ipkvm_ws_ops ipkvm_h264ws_ops;
/* New access units may be out: wake the clients. */
void ipkvm_h264ws_wake(struct ipkvm_server *srv);
/* Once a second: keep-alives, ended sessions. */
void ipkvm_h264ws_tick(struct ipkvm_server *srv);
/* The `h264` object of the streamer state (null when H.264 is off). */
json_t *ipkvm_h264ws_status(struct ipkvm_server *srv);

/* vnc_ws.c: /api/vnc/ws, RFB over a WebSocket to the VNC engine (daemon/services.h) */
extern const struct ipkvm_ws_ops ipkvm_vncws_ops;
/* Closes the sockets whose session or token ended (each second, and when the auth service
 * says credentials changed). */
void ipkvm_vncws_sweep(struct ipkvm_server *srv);
/* Once a second: the sweep, and drops clients that took nothing of their output for too
 * long. */
void ipkvm_vncws_tick(struct ipkvm_server *srv);
/* Writes what the socket (fd, or ssl over it) takes of p's messages, at most about budget
 * bytes (wrote: how many went). 1: everything is out and the session has nothing more;
 * 0: more to send (call again when writable); -1: the connection is broken. */
int ipkvm_rfb_pipe_write(struct ipkvm_rfb_pipe *p, int fd, SSL *ssl, size_t budget, size_t *wrote);
/* Whether a message is half written (nothing else may go on the connection meanwhile). */
bool ipkvm_rfb_pipe_busy(const struct ipkvm_rfb_pipe *p);

/* novnc.c: noVNC's files at /novnc/ ([vnc] novnc_dir), for logged-in users while VNC is on */
/* Whether path is under /novnc (the page itself, or a file of it). */
bool ipkvm_novnc_path(const char *path);
/* Answers a request for path under /novnc (authenticated): as ipkvm_http_serve_file. */
int ipkvm_novnc_serve(struct ipkvm_http_req *req);

/* ws.c: /api/ws, the event socket */
extern const struct ipkvm_ws_ops ipkvm_events_ws_ops;
/* Closes the WebSockets whose session or token ended (called each second). */
void ipkvm_ws_sweep(struct ipkvm_server *srv);

#endif
