/*
 * rfb: the protocol engine of one RFB session (see rfb.h for its shape and why).
 *
 * Input: the client's bytes are appended to a small bounded buffer (RFB_IN_MAX, larger than
 * any message we accept) and parsed in place by a state machine: the handshake phases, then
 * the client messages. A step consumes one whole message or nothing, so any split of the
 * bytes gives the same result. ClientCutText alone is streamed: its text is collected up to
 * RFB_CUT_MAX and the rest read and thrown away.
 *
 * Output: a queue of segments, each either bytes the session owns or a reference to a shared
 * buffer (the pipeline's JPEG, an H.264 access unit) sent from where it is. Small messages
 * are appended to the last owned segment unless it is the one the transport may be sending
 * from, so a pointer peek() gave stays valid until consumed().
 *
 * Updates: the client's requests (or continuous updates) only set flags; an update is built
 * when the queue is empty, so a client that reads slowly gets the newest picture, never a
 * backlog. Tight JPEG and Open H.264 send the whole picture; Raw and ZRLE the 64x64 tiles
 * that changed since the frame this client last got. A change of picture size goes out as
 * its own update (DesktopSize or ExtendedDesktopSize) before the next picture.
 */
#define LOG_TAG "vnc"
#include "vnc/rfb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authsvc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/services.h"
#include "hid/hid.h"
#include "hid/keysym.h"
#include "hid/layout.h"
#include "hid/mouse.h"
#include "hid/paste.h"
#include "video/h264_stream.h"
#include "video/video.h"
#include "vnc/rfb_enc.h"
#include "vnc/vncauth.h"

#define RFB_HANDSHAKE_MS  10000 /* to authenticate and send ClientInit */
#define RFB_CLOSING_MS	  2000	/* for a failure reason to leave before tick() cuts */
#define RFB_IN_MAX	  8192	/* larger than any message but ClientCutText's text */
#define RFB_MAX_ENCODINGS 1024
#define RFB_CUT_MAX	  (1024 * 1024) /* bytes of cut text typed at most */
#define RFB_PLAIN_MAX	  256		/* VeNCrypt Plain: user name, password */
#define RFB_FENCE_MAX	  64
#define RFB_PLACEHOLDER_W 1024 /* ServerInit's size before the first picture */
#define RFB_PLACEHOLDER_H 768
#define RFB_MAX_RECTS	  64  /* changed-tile rectangles in one Raw/ZRLE update */
#define RFB_MAX_QKEYS	  32  /* keys held through QEMU extended key events */
#define RFB_MAX_SETDESK	  256 /* unanswered SetDesktopSize messages */
#define RFB_KEY_LOGS	  5   /* unknown keysyms logged per session */
#define RFB_PASTE_DELAY	  5   /* ms between strokes, as the REST API's default */
/* ExtendedDesktopSize's one screen. Not 0: libvncclient (Remmina's library) ignores a
 * screen whose id is 0, so it would never follow a size change. */
#define RFB_SCREEN_ID 1

#define SEC_NONE       1
#define SEC_VNCAUTH    2
#define SEC_VENCRYPT   19
#define VENC_TLSPLAIN  259
#define VENC_X509PLAIN 262

#define MSG_SET_PIXEL_FORMAT 0
#define MSG_SET_ENCODINGS    2
#define MSG_FBU_REQUEST	     3
#define MSG_KEY		     4
#define MSG_POINTER	     5
#define MSG_CUT_TEXT	     6
#define MSG_CONTINUOUS	     150 /* EnableContinuousUpdates; EndOfContinuousUpdates out */
#define MSG_FENCE	     248
#define MSG_SET_DESKTOP_SIZE 251
#define MSG_QEMU	     255

#define FENCE_KNOWN   0x7u /* BlockBefore, BlockAfter, SyncNext */
#define FENCE_REQUEST 0x80000000u

enum phase {
	PH_VERSION,
	PH_SECTYPE,	 /* 3.7+: the client's choice */
	PH_VNCAUTH,	 /* the 16-byte response */
	PH_VENC_VERSION, /* VeNCrypt: the client's version */
	PH_VENC_SUBTYPE, /* VeNCrypt: the chosen subtype */
	PH_TLS,		 /* the transport runs the TLS handshake */
	PH_PLAIN,	 /* VeNCrypt Plain: lengths, user name, password */
	PH_AUTH_WAIT,	 /* the auth service checks the password */
	PH_CLIENT_INIT,	 /* authenticated: ClientInit */
	PH_NORMAL,	 /* client messages */
};

enum mode { MODE_RAW, MODE_ZRLE, MODE_TIGHT, MODE_H264 };

struct seg {
	uint8_t *own;	       /* bytes the session owns, or NULL */
	struct ipkvm_buf *buf; /* a reference to shared bytes, or NULL */
	const uint8_t *data;
	size_t len, off, cap;
};

struct ipkvm_rfb_session {
	const struct ipkvm_rfb_env *env;
	enum ipkvm_rfb_kind kind;
	struct ipkvm_rfb_hooks hooks;
	char peer[80];
	int minor; /* 3, 7 or 8 */
	enum phase phase;
	bool closing, in_input;
	int64_t started_ms, closing_ms;

	uint8_t in[RFB_IN_MAX];
	size_t in_len;

	struct seg *q;
	size_t q_head, q_n, q_cap;

	/* security */
	uint8_t sectype;
	uint8_t challenge[IPKVM_VNCAUTH_CHALLENGE_LEN];
	struct ipkvm_authsvc_call *call;
	bool authenticated, own_session, view_only, told_view_only;
	bool tls_anonymous; /* the TLS under VeNCrypt used no certificate */
	struct ipkvm_auth auth;

	/* what the client said */
	struct ipkvm_rfb_pixfmt pf;
	enum mode order[4];
	size_t n_order;
	bool cursor, desktop_size, ext_desktop, last_rect, qemu_key, qemu_led, vmware_led;
	bool continuous_ok, fence_ok, continuous;
	int quality_level; /* -1: none asked */
	int jpeg_quality;  /* 0: the pipeline's own; else the extra quality registered */

	/* what it was sent, what it waits for */
	bool want_full, want_inc, need_full;
	bool cursor_sent, qemu_key_acked, told_continuous, told_fence;
	int leds_sent; /* -1: none yet */
	unsigned setdesk_replies;
	bool ext_reply; /* a non-incremental request owes an ExtendedDesktopSize */
	uint16_t fb_w, fb_h;
	uint64_t last_seq; /* of the last picture sent */
	bool any_sent;
	struct ipkvm_frame *last_raw; /* what a Raw/ZRLE client has */
	struct ipkvm_rfb_zrle *zrle;
	enum mode mode_now; /* of the last picture: a change needs a whole picture */
	bool watching;	    /* ipkvm_video_watch taken */
	bool h264_watching, h264_reset;
	struct ipkvm_h264_cursor h264;
	uint64_t h264_drops;
	bool logged_mjpeg, logged_big;

	/* input */
	struct ipkvm_keysym_kbd *kbd;
	const char *qkeys[RFB_MAX_QKEYS]; /* codes pressed by extended key events */
	size_t n_qkeys;
	int buttons; /* HID buttons held */
	int last_x, last_y;
	bool have_pos;
	uint8_t rfb_mask; /* the last PointerEvent's buttons */
	unsigned key_logs;
	bool logged_no_hid;

	/* ClientCutText being read */
	uint64_t cut_left; /* bytes of text still to come */
	uint8_t *cut;
	size_t cut_len, cut_cap, cut_total;
	bool cut_discard;
};

/* --- small helpers ------------------------------------------------------------------- */

static int64_t now_ms(const struct ipkvm_rfb_session *s)
{
	return s->env->now_ms ? s->env->now_ms(s->env->clock_ctx) : ipkvm_mono_ms();
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static struct ipkvm_video *video(const struct ipkvm_rfb_session *s)
{
	return s->env->svc ? s->env->svc->video : NULL;
}

static struct ipkvm_hid *hid(const struct ipkvm_rfb_session *s)
{
	return s->env->svc ? s->env->svc->hid : NULL;
}

static struct ipkvm_authsvc *authsvc(const struct ipkvm_rfb_session *s)
{
	return s->env->svc ? s->env->svc->auth : NULL;
}

static struct ipkvm_h264_stream *h264_stream(const struct ipkvm_rfb_session *s)
{
	struct ipkvm_video *v = video(s);
	return v ? ipkvm_video_h264(v) : NULL;
}

/* --- output queue -------------------------------------------------------------------- */

static bool q_empty(const struct ipkvm_rfb_session *s)
{
	return s->q_head == s->q_n;
}

static struct seg *q_push(struct ipkvm_rfb_session *s)
{
	if (s->q_head == s->q_n)
		s->q_head = s->q_n = 0;
	if (s->q_n == s->q_cap) {
		size_t cap = s->q_cap ? s->q_cap * 2 : 8;
		struct seg *grown = realloc(s->q, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		s->q = grown;
		s->q_cap = cap;
	}
	struct seg *g = &s->q[s->q_n++];
	memset(g, 0, sizeof(*g));
	return g;
}

static void seg_free(struct seg *g)
{
	free(g->own);
	if (g->buf)
		ipkvm_buf_unref(g->buf);
	memset(g, 0, sizeof(*g));
}

static void wake_writer(struct ipkvm_rfb_session *s)
{
	if (s->hooks.want_write)
		s->hooks.want_write(s->hooks.ctx);
}

/* The session ends for good: nothing more is parsed or built; what is queued still goes. */
static void set_closing(struct ipkvm_rfb_session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	s->closing_ms = now_ms(s);
	wake_writer(s);
}

/* Appends bytes the session owns (copied). 0 or -ENOMEM (the session then ends). */
static int q_bytes(struct ipkvm_rfb_session *s, const void *data, size_t len)
{
	if (!len)
		return 0;
	/* The last segment grows when the transport cannot be sending from it (not the head). */
	if (s->q_n - s->q_head >= 2 && s->q[s->q_n - 1].own) {
		struct seg *t = &s->q[s->q_n - 1];
		if (t->len + len > t->cap) {
			size_t cap = (t->len + len) * 2;
			uint8_t *grown = realloc(t->own, cap);
			if (!grown)
				goto nomem;
			t->own = grown;
			t->data = grown;
			t->cap = cap;
		}
		memcpy(t->own + t->len, data, len);
		t->len += len;
		wake_writer(s);
		return 0;
	}
	struct seg *g = q_push(s);
	if (!g)
		goto nomem;
	g->own = malloc(len < 256 ? 256 : len);
	if (!g->own) {
		s->q_n--;
		goto nomem;
	}
	memcpy(g->own, data, len);
	g->data = g->own;
	g->len = len;
	g->cap = len < 256 ? 256 : len;
	wake_writer(s);
	return 0;
nomem:
	LOG_ERROR("%s: out of memory", s->peer);
	set_closing(s);
	return -ENOMEM;
}

/* Appends a built buffer, taking its memory. */
static int q_out(struct ipkvm_rfb_session *s, struct ipkvm_rfb_out *o)
{
	if (!o->len) {
		ipkvm_rfb_out_free(o);
		return 0;
	}
	struct seg *g = q_push(s);
	if (!g) {
		ipkvm_rfb_out_free(o);
		LOG_ERROR("%s: out of memory", s->peer);
		set_closing(s);
		return -ENOMEM;
	}
	g->own = o->data;
	g->data = o->data;
	g->len = o->len;
	g->cap = o->cap;
	memset(o, 0, sizeof(*o));
	wake_writer(s);
	return 0;
}

/* Appends len shared bytes at data inside b (a reference is taken). */
static int q_shared(struct ipkvm_rfb_session *s, struct ipkvm_buf *b, const uint8_t *data,
		    size_t len)
{
	if (!len)
		return 0;
	struct seg *g = q_push(s);
	if (!g) {
		LOG_ERROR("%s: out of memory", s->peer);
		set_closing(s);
		return -ENOMEM;
	}
	g->buf = ipkvm_buf_ref(b);
	g->data = data;
	g->len = len;
	wake_writer(s);
	return 0;
}

static int q_u8(struct ipkvm_rfb_session *s, uint8_t v)
{
	return q_bytes(s, &v, 1);
}

static int q_u32(struct ipkvm_rfb_session *s, uint32_t v)
{
	uint8_t b[4];
	put32(b, v);
	return q_bytes(s, b, 4);
}

/* A length-prefixed string (failure reasons, the desktop name). */
static int q_string(struct ipkvm_rfb_session *s, const char *str)
{
	size_t len = strlen(str);
	int r = q_u32(s, (uint32_t)len);
	return r < 0 ? r : q_bytes(s, str, len);
}

/* --- handshake ----------------------------------------------------------------------- */

/* SecurityResult "failed" (with the reason from 3.8 on), then the end. */
static void security_fail(struct ipkvm_rfb_session *s, const char *reason)
{
	LOG_INFO("%s: authentication failed: %s", s->peer, reason);
	/* Before 3.8, None has no SecurityResult and no failure has a reason: just the end. */
	if (s->minor >= 8 || s->sectype != SEC_NONE)
		q_u32(s, 1);
	if (s->minor >= 8)
		q_string(s, reason);
	set_closing(s);
}

/* Security is done: SecurityResult OK where the version and type have one. */
static void security_ok(struct ipkvm_rfb_session *s)
{
	s->authenticated = true;
	s->view_only = !ipkvm_auth_allows(&s->auth, IPKVM_ROLE_OPERATOR);
	if (s->minor >= 8 || s->sectype != SEC_NONE)
		q_u32(s, 0);
	s->phase = PH_CLIENT_INIT;
}

/* The security types offered, most wanted first. */
static size_t sec_types(const struct ipkvm_rfb_session *s, uint8_t out[2])
{
	size_t n = 0;
	if (s->kind == IPKVM_RFB_PREAUTH) {
		out[n++] = SEC_NONE;
		return n;
	}
	if (s->env->tls)
		out[n++] = SEC_VENCRYPT;
	if (s->env->n_vncauth > 0)
		out[n++] = SEC_VNCAUTH;
	return n;
}

static void start_vncauth(struct ipkvm_rfb_session *s)
{
	if (ipkvm_vncauth_challenge(s->challenge) < 0) {
		LOG_ERROR("%s: no random bytes for the VncAuth challenge", s->peer);
		set_closing(s);
		return;
	}
	q_bytes(s, s->challenge, sizeof(s->challenge));
	s->phase = PH_VNCAUTH;
}

/* The client chose a security type (3.3: the server did). */
static void choose_security(struct ipkvm_rfb_session *s, uint8_t type)
{
	uint8_t offered[2];
	size_t n = sec_types(s, offered);
	s->sectype = type;
	if (!memchr(offered, type, n)) {
		char reason[64];
		snprintf(reason, sizeof(reason), "security type %u is not offered", type);
		security_fail(s, reason);
		return;
	}
	switch (type) {
	case SEC_NONE:
		if (!authsvc(s) || !ipkvm_authsvc_recheck(authsvc(s), &s->auth, false)) {
			security_fail(s, "the session has ended");
			return;
		}
		security_ok(s);
		break;
	case SEC_VNCAUTH:
		start_vncauth(s);
		break;
	case SEC_VENCRYPT: {
		static const uint8_t version[2] = {0, 2};
		q_bytes(s, version, 2);
		s->phase = PH_VENC_VERSION;
		break;
	}
	}
}

static void version_fail(struct ipkvm_rfb_session *s, bool old_format, const char *reason)
{
	LOG_INFO("%s: %s", s->peer, reason);
	if (old_format)
		q_u32(s, 0);
	else
		q_u8(s, 0);
	q_string(s, reason);
	set_closing(s);
}

static size_t step_version(struct ipkvm_rfb_session *s, const uint8_t *p, size_t n)
{
	if (n < 12)
		return 0;
	unsigned major = 0, minor = 0;
	bool well_formed = memcmp(p, "RFB ", 4) == 0 && p[7] == '.' && p[11] == '\n';
	for (size_t i = 4; well_formed && i < 11; i++) {
		if (i == 7)
			continue;
		if (p[i] < '0' || p[i] > '9')
			well_formed = false;
		else if (i < 7)
			major = major * 10 + (p[i] - '0');
		else
			minor = minor * 10 + (p[i] - '0');
	}
	if (!well_formed) {
		LOG_INFO("%s: not an RFB client (bad ProtocolVersion)", s->peer);
		set_closing(s);
		return 12;
	}
	if (major == 3 && (minor == 3 || minor == 5))
		s->minor = 3; /* 3.5 was a misreport of 3.3 (rfbproto) */
	else if (major == 3 && minor == 7)
		s->minor = 7;
	else if (major == 3 && (minor == 8 || minor == 889))
		s->minor = 8; /* 3.889: Apple's 3.8 */
	else {
		char reason[80];
		snprintf(reason, sizeof(reason),
			 "RFB version %u.%u is not supported (3.3, 3.7, 3.8)", major, minor);
		version_fail(s, major == 3 && minor < 7, reason);
		return 12;
	}
	uint8_t types[2];
	size_t nt = sec_types(s, types);
	if (s->minor == 3) {
		/* The server chooses: 3.3 knows only None and VncAuth. */
		if (s->kind == IPKVM_RFB_PREAUTH || s->env->n_vncauth > 0) {
			uint8_t t = s->kind == IPKVM_RFB_PREAUTH ? SEC_NONE : SEC_VNCAUTH;
			q_u32(s, t);
			choose_security(s, t);
		} else {
			version_fail(s, true, "this server needs RFB 3.7 or newer (VeNCrypt)");
		}
		return 12;
	}
	if (!nt) {
		version_fail(s, false, "no security type is configured");
		return 12;
	}
	uint8_t msg[3] = {(uint8_t)nt, types[0], nt > 1 ? types[1] : 0};
	q_bytes(s, msg, 1 + nt);
	s->phase = PH_SECTYPE;
	return 12;
}

static size_t step_vencrypt_version(struct ipkvm_rfb_session *s, const uint8_t *p, size_t n)
{
	if (n < 2)
		return 0;
	if (p[0] != 0 || p[1] != 2) {
		LOG_INFO("%s: VeNCrypt %u.%u is not supported (0.2)", s->peer, p[0], p[1]);
		q_u8(s, 1);
		set_closing(s);
		return 2;
	}
	/* ack 0, then two subtypes: X509Plain, TLSPlain (both with the daemon's certificate) */
	uint8_t out[1 + 1 + 8];
	out[0] = 0;
	out[1] = 2;
	put32(out + 2, VENC_X509PLAIN);
	put32(out + 6, VENC_TLSPLAIN);
	q_bytes(s, out, sizeof(out));
	s->phase = PH_VENC_SUBTYPE;
	return 2;
}

static size_t step_vencrypt_subtype(struct ipkvm_rfb_session *s, const uint8_t *p, size_t n)
{
	if (n < 4)
		return 0;
	uint32_t sub = be32(p);
	if (sub != VENC_X509PLAIN && sub != VENC_TLSPLAIN) {
		LOG_INFO("%s: VeNCrypt subtype %u is not offered", s->peer, sub);
		q_u8(s, 0);
		set_closing(s);
		return 4;
	}
	if (n > 4 || !s->hooks.start_tls) {
		/* Bytes before the TLS handshake, or a transport without TLS. */
		LOG_INFO("%s: VeNCrypt: %s", s->peer,
			 n > 4 ? "data before the TLS handshake" : "no TLS on this transport");
		set_closing(s);
		return 4;
	}
	q_u8(s, 1);
	s->phase = PH_TLS;
	int r = s->hooks.start_tls(s->hooks.ctx, sub == VENC_TLSPLAIN);
	if (r < 0) {
		LOG_WARN("%s: cannot start TLS: %s", s->peer, strerror(-r));
		set_closing(s);
	}
	return 4;
}

static void process(struct ipkvm_rfb_session *s);
static void try_update(struct ipkvm_rfb_session *s);

static void login_done(void *ctx, const struct ipkvm_authsvc_result *res)
{
	struct ipkvm_rfb_session *s = ctx;
	s->call = NULL;
	char reason[96];
	switch (res->status) {
	case IPKVM_AUTHSVC_OK: {
		char token[IPKVM_SESSION_TOKEN_LEN + 1];
		int r = ipkvm_authsvc_session_open(authsvc(s), res->user, token, &s->auth, NULL);
		explicit_bzero(token, sizeof(token));
		if (r < 0) {
			security_fail(s, "cannot open a session");
			break;
		}
		s->own_session = true;
		if (s->tls_anonymous)
			LOG_WARN("%s: %s logged in (%s) over anonymous TLS ([vnc] anonymous_tls): "
				 "the password was hidden from eavesdroppers, not from a man in "
				 "the middle",
				 s->peer, s->auth.user, ipkvm_role_name(s->auth.role));
		else
			LOG_INFO("%s: %s logged in (%s)", s->peer, s->auth.user,
				 ipkvm_role_name(s->auth.role));
		security_ok(s);
		break;
	}
	case IPKVM_AUTHSVC_TOTP_REQUIRED:
		/* The password was right, and RFB has no place for a code. The web counts this
		 * as no failure; it is audited here so the refusal is on record. */
		ipkvm_authsvc_audit(
		    authsvc(s), "login_failed", res->user, s->peer, false,
		    json_pack("{s:s, s:s}", "reason", "totp required", "via", "vnc"));
		security_fail(s, "user has TOTP: use the web console or an API token");
		break;
	case IPKVM_AUTHSVC_THROTTLED:
		snprintf(reason, sizeof(reason), "too many failed logins, retry in %d s",
			 res->retry_after);
		security_fail(s, reason);
		break;
	case IPKVM_AUTHSVC_DENIED:
	case IPKVM_AUTHSVC_NOT_FOUND:
		security_fail(s, "wrong user name or password");
		break;
	default:
		security_fail(s, "the login failed on the server");
		break;
	}
	if (!s->in_input) {
		process(s);
		try_update(s);
	}
}

static size_t step_plain(struct ipkvm_rfb_session *s, const uint8_t *p, size_t n)
{
	if (n < 8)
		return 0;
	uint32_t ulen = be32(p), plen = be32(p + 4);
	if (ulen > RFB_PLAIN_MAX || plen > RFB_PLAIN_MAX) {
		security_fail(s, "user name or password too long");
		return n;
	}
	if (n < 8 + (size_t)ulen + plen)
		return 0;
	char user[RFB_PLAIN_MAX + 1], pw[RFB_PLAIN_MAX + 1];
	memcpy(user, p + 8, ulen);
	user[ulen] = '\0';
	memcpy(pw, p + 8 + ulen, plen);
	pw[plen] = '\0';
	size_t used = 8 + (size_t)ulen + plen;
	if (strlen(user) != ulen || strlen(pw) != plen) {
		explicit_bzero(pw, sizeof(pw));
		security_fail(s, "a NUL byte in the user name or password");
		return used;
	}
	s->phase = PH_AUTH_WAIT;
	/* As every web request does: the users file as it is now (`ipkvmd user` edits it). */
	ipkvm_authsvc_refresh(authsvc(s), false);
	struct ipkvm_authsvc_caller caller = {.auth = NULL,
					      .addr = s->peer,
					      .via = "vnc",
					      .tls =
						  s->tls_anonymous ? "anonymous" : "certificate"};
	struct ipkvm_authsvc_call *c =
	    ipkvm_authsvc_login(authsvc(s), &caller, user, pw, NULL, login_done, s);
	explicit_bzero(pw, sizeof(pw));
	/* A login answered before it returned (throttled, no worker) returns NULL. */
	if (s->phase == PH_AUTH_WAIT)
		s->call = c;
	return used;
}

static size_t step_vncauth(struct ipkvm_rfb_session *s, const uint8_t *p, size_t n)
{
	if (n < IPKVM_VNCAUTH_CHALLENGE_LEN)
		return 0;
	struct ipkvm_authsvc *a = authsvc(s);
	int wait = ipkvm_authsvc_addr_throttle(a, s->peer, "vnc");
	if (wait) {
		char reason[96];
		snprintf(reason, sizeof(reason), "too many failed logins, retry in %d s", wait);
		security_fail(s, reason);
		return IPKVM_VNCAUTH_CHALLENGE_LEN;
	}
	/* Every entry is checked, whichever matches, so the time says nothing about which. */
	size_t match = SIZE_MAX;
	for (size_t i = 0; i < s->env->n_vncauth; i++) {
		bool ok = ipkvm_vncauth_check(s->env->vncauth[i].password, s->challenge, p);
		size_t mask = (size_t)0 - (size_t)(ok && match == SIZE_MAX);
		match = (match & ~mask) | (i & mask);
	}
	const char *user = match != SIZE_MAX ? s->env->vncauth[match].user : "";
	ipkvm_authsvc_refresh(a, false);
	const struct ipkvm_user *u = match != SIZE_MAX ? ipkvm_authsvc_user(a, user) : NULL;
	char token[IPKVM_SESSION_TOKEN_LEN + 1];
	if (!u || ipkvm_authsvc_session_open(a, u->name, token, &s->auth, NULL) < 0) {
		ipkvm_authsvc_addr_attempt(a, s->peer, false);
		ipkvm_authsvc_audit(a, "login_failed", user, s->peer, false,
				    json_pack("{s:s, s:s, s:s}", "reason",
					      match == SIZE_MAX ? "wrong password" : "unknown user",
					      "via", "vnc", "method", "vncauth"));
		security_fail(s, "wrong password");
		return IPKVM_VNCAUTH_CHALLENGE_LEN;
	}
	explicit_bzero(token, sizeof(token));
	s->own_session = true;
	ipkvm_authsvc_addr_attempt(a, s->peer, true);
	ipkvm_authsvc_audit(a, "login", s->auth.user, s->peer, true,
			    json_pack("{s:s, s:s}", "via", "vnc", "method", "vncauth"));
	LOG_INFO("%s: %s logged in with VncAuth (%s)", s->peer, s->auth.user,
		 ipkvm_role_name(s->auth.role));
	security_ok(s);
	return IPKVM_VNCAUTH_CHALLENGE_LEN;
}

/* The picture's size now: the latest raw frame, else the latest image; false when none. */
static bool picture_size(struct ipkvm_rfb_session *s, unsigned *w, unsigned *h)
{
	struct ipkvm_video *v = video(s);
	if (!v)
		return false;
	/* The captured frame first: the newest JPEG is only as new as the last time someone
	 * watched (the encoders rest without watchers), so after the target changed mode it
	 * can still have the old size, and a client that cannot follow a size change (RFB
	 * 3.3's vncsnapshot) would be cut at its first picture. */
	struct ipkvm_frame *f = ipkvm_video_latest_raw(v);
	if (f) {
		*w = f->width;
		*h = f->height;
		ipkvm_frame_unref(f);
		return true;
	}
	struct ipkvm_video_image img;
	if (ipkvm_video_latest(v, &img)) {
		*w = img.width;
		*h = img.height;
		ipkvm_video_image_release(&img);
		return true;
	}
	return false;
}

static size_t step_client_init(struct ipkvm_rfb_session *s, const uint8_t *p, size_t n)
{
	(void)p;
	if (n < 1)
		return 0;
	/* The shared flag is ignored: every session shares the target. */
	unsigned w = RFB_PLACEHOLDER_W, h = RFB_PLACEHOLDER_H;
	if (!picture_size(s, &w, &h) || w > UINT16_MAX || h > UINT16_MAX) {
		w = RFB_PLACEHOLDER_W;
		h = RFB_PLACEHOLDER_H;
	}
	s->fb_w = (uint16_t)w;
	s->fb_h = (uint16_t)h;
	uint8_t msg[4 + 16];
	msg[0] = (uint8_t)(w >> 8);
	msg[1] = (uint8_t)w;
	msg[2] = (uint8_t)(h >> 8);
	msg[3] = (uint8_t)h;
	ipkvm_rfb_pixfmt_write(&ipkvm_rfb_pixfmt_server, msg + 4);
	q_bytes(s, msg, sizeof(msg));
	q_string(s, s->env->name ? s->env->name : "ipkvm");
	s->phase = PH_NORMAL;
	if (video(s)) {
		ipkvm_video_watch(video(s), 1);
		s->watching = true;
	}
	if (s->view_only)
		LOG_INFO("%s: %s is a viewer: view-only session", s->peer, s->auth.user);
	return 1;
}

/* --- client messages ----------------------------------------------------------------- */

static void protocol_error(struct ipkvm_rfb_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void protocol_error(struct ipkvm_rfb_session *s, const char *fmt, ...)
{
	char what[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	LOG_INFO("%s: protocol error: %s: closing", s->peer, what);
	set_closing(s);
}

/* The JPEG quality of Tight's quality levels 0..9, as common VNC servers map them. */
static const int rfb_level_quality[10] = {15, 29, 41, 42, 62, 77, 79, 86, 92, 100};

static void set_jpeg_quality(struct ipkvm_rfb_session *s, int q)
{
	struct ipkvm_video *v = video(s);
	if (!v || q == s->jpeg_quality)
		return;
	if (s->jpeg_quality)
		ipkvm_video_want_quality(v, s->jpeg_quality, -1);
	s->jpeg_quality = q;
	if (q)
		ipkvm_video_want_quality(v, q, 1);
}

static void h264_watch(struct ipkvm_rfb_session *s, bool on)
{
	struct ipkvm_h264_stream *st = h264_stream(s);
	if (!st || on == s->h264_watching)
		return;
	ipkvm_h264_stream_watch(st, on ? 1 : -1);
	s->h264_watching = on;
	if (on) {
		ipkvm_h264_cursor_reset(st, &s->h264);
		s->h264_drops = s->h264.drops;
		s->h264_reset = true;
	}
}

static bool order_has(const struct ipkvm_rfb_session *s, enum mode m)
{
	for (size_t i = 0; i < s->n_order; i++)
		if (s->order[i] == m)
			return true;
	return false;
}

/* The encoding of the next picture: the client's first that fits its pixel format. */
static enum mode pick_mode(const struct ipkvm_rfb_session *s)
{
	for (size_t i = 0; i < s->n_order; i++) {
		switch (s->order[i]) {
		case MODE_TIGHT:
			/* Tight JPEG needs a true-colour format of 16 bits or more. */
			if (s->pf.bpp >= 16)
				return MODE_TIGHT;
			break;
		case MODE_H264:
			if (h264_stream(s) && s->pf.bpp >= 16)
				return MODE_H264;
			break;
		default:
			return s->order[i];
		}
	}
	return MODE_RAW;
}

static void set_encodings(struct ipkvm_rfb_session *s, const uint8_t *p, size_t count)
{
	s->n_order = 0;
	s->cursor = s->desktop_size = s->ext_desktop = s->last_rect = false;
	s->qemu_key = s->qemu_led = s->vmware_led = false;
	s->continuous_ok = s->fence_ok = false;
	s->quality_level = -1;
	for (size_t i = 0; i < count; i++) {
		int32_t e = (int32_t)be32(p + 4 * i);
		enum mode m;
		switch (e) {
		case IPKVM_RFB_ENC_RAW:
			m = MODE_RAW;
			goto add;
		case IPKVM_RFB_ENC_ZRLE:
			m = MODE_ZRLE;
			goto add;
		case IPKVM_RFB_ENC_TIGHT:
			m = MODE_TIGHT;
			goto add;
		case IPKVM_RFB_ENC_H264:
			m = MODE_H264;
		add:
			if (!order_has(s, m))
				s->order[s->n_order++] = m;
			break;
		case IPKVM_RFB_ENC_CURSOR:
			s->cursor = true;
			break;
		case IPKVM_RFB_ENC_DESKTOP_SIZE:
			s->desktop_size = true;
			break;
		case IPKVM_RFB_ENC_EXT_DESKTOP:
			s->ext_desktop = true;
			break;
		case IPKVM_RFB_ENC_LAST_RECT:
			s->last_rect = true;
			break;
		case IPKVM_RFB_ENC_QEMU_KEY:
			s->qemu_key = true;
			break;
		case IPKVM_RFB_ENC_QEMU_LED:
			s->qemu_led = true;
			break;
		case IPKVM_RFB_ENC_VMWARE_LED:
			s->vmware_led = true;
			break;
		case IPKVM_RFB_ENC_CONTINUOUS:
			s->continuous_ok = true;
			break;
		case IPKVM_RFB_ENC_FENCE:
			s->fence_ok = true;
			break;
		default:
			if (e >= IPKVM_RFB_ENC_QUALITY_0 && e <= IPKVM_RFB_ENC_QUALITY_9 &&
			    s->quality_level < 0)
				s->quality_level = e - IPKVM_RFB_ENC_QUALITY_0;
			break; /* unknown encodings are ignored (rfbproto) */
		}
	}
	if (s->continuous_ok && !s->told_continuous) {
		/* "supported": EndOfContinuousUpdates the first time it is listed. */
		q_u8(s, MSG_CONTINUOUS);
		s->told_continuous = true;
	}
	if (s->fence_ok && !s->told_fence) {
		uint8_t fence[9] = {MSG_FENCE, 0, 0, 0, 0, 0, 0, 0, 0};
		put32(fence + 4, FENCE_REQUEST);
		q_bytes(s, fence, sizeof(fence));
		s->told_fence = true;
	}
	/* The JPEG quality: the pipeline's own unless the client's level maps elsewhere. */
	int q = 0;
	struct ipkvm_video *v = video(s);
	if (v && s->quality_level >= 0) {
		struct ipkvm_video_status st;
		ipkvm_video_status(v, &st);
		q = rfb_level_quality[s->quality_level];
		if (q == st.quality)
			q = 0;
	}
	set_jpeg_quality(s, q);
	h264_watch(s, pick_mode(s) == MODE_H264);
}

static void key_apply(struct ipkvm_rfb_session *s, const struct ipkvm_key_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ipkvm_hid_key(hid(s), a[i].code, a[i].down);
}

/* Input from a viewer, or with no HID: ignored, said once. */
static bool input_allowed(struct ipkvm_rfb_session *s)
{
	if (s->view_only) {
		if (!s->told_view_only)
			LOG_INFO("%s: %s: view-only: input ignored", s->peer, s->auth.user);
		s->told_view_only = true;
		return false;
	}
	if (!hid(s)) {
		if (!s->logged_no_hid)
			LOG_INFO("%s: no HID output configured: input ignored", s->peer);
		s->logged_no_hid = true;
		return false;
	}
	return true;
}

static bool kbd_ready(struct ipkvm_rfb_session *s)
{
	if (!s->kbd) {
		const struct ipkvm_layout *l =
		    s->env->layout ? s->env->layout : ipkvm_layout_find("us");
		s->kbd = ipkvm_keysym_kbd_new(l);
		if (!s->kbd) {
			LOG_ERROR("%s: out of memory", s->peer);
			return false;
		}
	}
	struct ipkvm_hid_leds leds;
	ipkvm_hid_get_leds(hid(s), &leds);
	ipkvm_keysym_set_caps_lock(s->kbd, leds.caps);
	return true;
}

static void keysym_event(struct ipkvm_rfb_session *s, uint32_t keysym, bool down)
{
	if (!kbd_ready(s))
		return;
	struct ipkvm_key_action act[IPKVM_KEYSYM_MAX_ACTIONS];
	int n = ipkvm_keysym_event(s->kbd, keysym, down, act, IPKVM_ARRAY_SIZE(act));
	if (n < 0) {
		if (s->key_logs++ >= RFB_KEY_LOGS)
			return;
		if (n == -ENOBUFS)
			LOG_INFO("%s: keysym 0x%x: not pressed, %d keys are held already", s->peer,
				 keysym, IPKVM_KEYSYM_MAX_HELD);
		else if (n == -ENOSPC)
			LOG_WARN("%s: keysym 0x%x: more key actions than the engine's array holds",
				 s->peer, keysym);
		else
			LOG_INFO("%s: keysym 0x%x: no key for it on the target's layout", s->peer,
				 keysym);
		return;
	}
	key_apply(s, act, (size_t)n);
}

static void qnum_event(struct ipkvm_rfb_session *s, uint32_t keysym, uint32_t qnum, bool down)
{
	if (qnum == 0xb7)
		qnum = 0x54; /* Print Screen's synonym (rfbproto) */
	const struct ipkvm_key *k = ipkvm_key_by_qnum(qnum);
	if (!k) {
		/* Not in the key table: the keysym may still say what was meant. */
		if (keysym)
			keysym_event(s, keysym, down);
		else if (s->key_logs++ < RFB_KEY_LOGS)
			LOG_INFO("%s: XT scancode 0x%x: no such key", s->peer, qnum);
		return;
	}
	size_t i = 0;
	while (i < s->n_qkeys && s->qkeys[i] != k->code)
		i++;
	if (down) {
		if (i == s->n_qkeys) {
			if (s->n_qkeys == RFB_MAX_QKEYS)
				return; /* more keys held than any keyboard has */
			s->qkeys[s->n_qkeys++] = k->code;
		}
		ipkvm_hid_key(hid(s), k->code, true);
	} else if (i < s->n_qkeys) {
		s->qkeys[i] = s->qkeys[--s->n_qkeys];
		ipkvm_hid_key(hid(s), k->code, false);
	}
}

/* RFB buttons 1-3 and 8 held; 4-7 are wheel steps (each press one step). */
static int hid_buttons(uint8_t mask)
{
	int b = 0;
	if (mask & 0x01)
		b |= IPKVM_HID_BTN_LEFT;
	if (mask & 0x02)
		b |= IPKVM_HID_BTN_MIDDLE;
	if (mask & 0x04)
		b |= IPKVM_HID_BTN_RIGHT;
	if (mask & 0x80)
		b |= IPKVM_HID_BTN_BACK;
	return b;
}

static void pointer_event(struct ipkvm_rfb_session *s, uint8_t mask, uint16_t x, uint16_t y)
{
	int buttons = hid_buttons(mask);
	uint8_t pressed = (uint8_t)(mask & ~s->rfb_mask);
	int wheel = ((pressed & 0x08) ? 1 : 0) - ((pressed & 0x10) ? 1 : 0);
	int pan = ((pressed & 0x40) ? 1 : 0) - ((pressed & 0x20) ? 1 : 0);
	struct ipkvm_hid *h = hid(s);
	int r;
	if (ipkvm_hid_mouse_relative(h)) {
		int dx = s->have_pos ? (int)x - s->last_x : 0;
		int dy = s->have_pos ? (int)y - s->last_y : 0;
		r = ipkvm_hid_mouse_rel(h, dx, dy, buttons, wheel, pan);
	} else {
		unsigned w = s->fb_w > 1 ? s->fb_w - 1u : 1u, hh = s->fb_h > 1 ? s->fb_h - 1u : 1u;
		unsigned cx = x > w ? w : x, cy = y > hh ? hh : y;
		r = ipkvm_hid_mouse_abs(h, (int)(cx * (unsigned)IPKVM_HID_ABS_MAX / w),
					(int)(cy * (unsigned)IPKVM_HID_ABS_MAX / hh), buttons,
					wheel, pan);
	}
	(void)r; /* an offline output drops pointer moves; the next one says where it is */
	s->last_x = x;
	s->last_y = y;
	s->have_pos = true;
	s->buttons = buttons;
	s->rfb_mask = mask;
}

/* The whole cut text is in: Latin-1 to UTF-8, typed by the paste engine. */
static void cut_done(struct ipkvm_rfb_session *s)
{
	if (s->cut_discard) {
		if (s->cut_total > RFB_CUT_MAX)
			LOG_INFO("%s: cut text of %zu bytes is over the limit (%d): not typed",
				 s->peer, s->cut_total, RFB_CUT_MAX);
		goto out;
	}
	struct ipkvm_paste *paste = s->env->svc ? s->env->svc->paste : NULL;
	if (!paste) {
		LOG_INFO("%s: cut text of %zu characters not typed: no keyboard", s->peer,
			 s->cut_len);
		goto out;
	}
	char *utf8 = malloc(2 * s->cut_len + 1);
	if (!utf8) {
		LOG_ERROR("%s: out of memory for cut text", s->peer);
		goto out;
	}
	size_t o = 0, nul = 0;
	for (size_t i = 0; i < s->cut_len; i++) {
		uint8_t c = s->cut[i];
		if (c == 0) {
			nul++; /* a C string cannot hold it: counted below */
		} else if (c < 0x80) {
			utf8[o++] = (char)c;
		} else {
			utf8[o++] = (char)(0xC0 | c >> 6);
			utf8[o++] = (char)(0x80 | (c & 0x3F));
		}
	}
	utf8[o] = '\0';
	const char *layout = s->env->layout ? ipkvm_layout_name(s->env->layout) : NULL;
	uint64_t id = 0;
	size_t strokes = 0;
	json_t *untyped = NULL;
	int r = ipkvm_paste_start(paste, utf8, layout, RFB_PASTE_DELAY, &id, &strokes, &untyped);
	free(utf8);
	if (r == -EBUSY)
		LOG_INFO("%s: cut text of %zu characters not typed: a paste is under way", s->peer,
			 s->cut_len);
	else if (r < 0)
		LOG_WARN("%s: cut text of %zu characters not typed: %s", s->peer, s->cut_len,
			 strerror(-r));
	else
		LOG_INFO("%s: typing cut text: %zu characters, %zu strokes (paste %llu)", s->peer,
			 s->cut_len, strokes, (unsigned long long)id);
	size_t nu = untyped ? json_array_size(untyped) : 0;
	if (nu || nul)
		LOG_INFO("%s: cut text: %zu characters the target's layout cannot type, %zu NUL "
			 "bytes: left out",
			 s->peer, nu, nul);
	json_decref(untyped);
out:
	free(s->cut);
	s->cut = NULL;
	s->cut_len = s->cut_cap = s->cut_total = 0;
	s->cut_discard = false;
}

/* Text of a ClientCutText: up to RFB_CUT_MAX kept, the rest read and dropped. */
static size_t step_cut_text(struct ipkvm_rfb_session *s, const uint8_t *p, size_t n)
{
	size_t take = n < s->cut_left ? n : (size_t)s->cut_left;
	if (!take)
		return 0;
	if (!s->cut_discard) {
		size_t need = s->cut_len + take;
		if (need > s->cut_cap) {
			size_t cap = s->cut_cap ? s->cut_cap * 2 : 4096;
			while (cap < need)
				cap *= 2;
			if (cap > RFB_CUT_MAX)
				cap = RFB_CUT_MAX;
			uint8_t *grown = realloc(s->cut, cap);
			if (!grown) {
				LOG_ERROR("%s: out of memory for cut text", s->peer);
				s->cut_discard = true;
			} else {
				s->cut = grown;
				s->cut_cap = cap;
			}
		}
		if (!s->cut_discard) {
			memcpy(s->cut + s->cut_len, p, take);
			s->cut_len += take;
		}
	}
	s->cut_left -= take;
	if (!s->cut_left)
		cut_done(s);
	return take;
}

static void fence(struct ipkvm_rfb_session *s, uint32_t flags, const uint8_t *payload, uint8_t len)
{
	if (!(flags & FENCE_REQUEST))
		return; /* the answer to ours */
	/* Messages are handled in order as they arrive, and the answer is queued after
	 * everything sent before: every known flag holds as asked. Unknown bits and Request
	 * are cleared (rfbproto). */
	uint8_t msg[9 + RFB_FENCE_MAX] = {MSG_FENCE};
	put32(msg + 4, flags & FENCE_KNOWN);
	msg[8] = len;
	memcpy(msg + 9, payload, len);
	q_bytes(s, msg, 9 + (size_t)len);
}

static size_t step_normal(struct ipkvm_rfb_session *s, const uint8_t *p, size_t n)
{
	if (s->cut_left)
		return step_cut_text(s, p, n);
	if (n < 1)
		return 0;
	switch (p[0]) {
	case MSG_SET_PIXEL_FORMAT: {
		if (n < 20)
			return 0;
		struct ipkvm_rfb_pixfmt pf;
		if (ipkvm_rfb_pixfmt_parse(p + 4, &pf) < 0) {
			LOG_INFO("%s: pixel format %u bpp, depth %u, %s: not supported: closing",
				 s->peer, p[4], p[5], p[7] ? "true colour" : "colour map");
			set_closing(s);
			return 20;
		}
		s->pf = pf;
		h264_watch(s, pick_mode(s) == MODE_H264);
		return 20;
	}
	case MSG_SET_ENCODINGS: {
		if (n < 4)
			return 0;
		size_t count = be16(p + 2);
		if (count > RFB_MAX_ENCODINGS) {
			protocol_error(s, "SetEncodings with %u encodings", (unsigned)count);
			return n;
		}
		if (n < 4 + 4 * count)
			return 0;
		set_encodings(s, p + 4, count);
		return 4 + 4 * count;
	}
	case MSG_FBU_REQUEST:
		if (n < 10)
			return 0;
		if (!p[1]) {
			s->want_full = true;
			if (s->ext_desktop)
				s->ext_reply = true;
		} else if (!s->continuous) {
			s->want_inc = true; /* ignored while continuous updates run (rfbproto) */
		}
		return 10;
	case MSG_KEY:
		if (n < 8)
			return 0;
		if (input_allowed(s))
			keysym_event(s, be32(p + 4), p[1] != 0);
		return 8;
	case MSG_POINTER:
		if (n < 6)
			return 0;
		if (input_allowed(s))
			pointer_event(s, p[1], be16(p + 2), be16(p + 4));
		return 6;
	case MSG_CUT_TEXT: {
		if (n < 8)
			return 0;
		uint32_t len = be32(p + 4);
		s->cut_left = len;
		s->cut_total = len;
		s->cut_len = 0;
		s->cut_discard = len > RFB_CUT_MAX || !input_allowed(s);
		if (!len)
			cut_done(s);
		return 8;
	}
	case MSG_CONTINUOUS:
		if (n < 10)
			return 0;
		if (p[1]) {
			s->continuous = true; /* the area is ignored: the picture goes whole */
		} else {
			s->continuous = false;
			q_u8(s, MSG_CONTINUOUS); /* EndOfContinuousUpdates, at once */
		}
		return 10;
	case MSG_FENCE: {
		if (n < 9)
			return 0;
		uint8_t len = p[8];
		if (len > RFB_FENCE_MAX) {
			protocol_error(s, "fence payload of %u bytes", len);
			return n;
		}
		if (n < 9 + (size_t)len)
			return 0;
		fence(s, be32(p + 4), p + 9, len);
		return 9 + (size_t)len;
	}
	case MSG_SET_DESKTOP_SIZE: {
		if (n < 8)
			return 0;
		size_t len = 8 + 16 * (size_t)p[6];
		if (n < len)
			return 0;
		/* The target's resolution is the target's: always "prohibited". */
		if (s->setdesk_replies >= RFB_MAX_SETDESK) {
			protocol_error(s, "%u SetDesktopSize messages unanswered", RFB_MAX_SETDESK);
			return len;
		}
		s->setdesk_replies++;
		return len;
	}
	case MSG_QEMU:
		if (n < 2)
			return 0;
		if (p[1] != 0) {
			protocol_error(s, "QEMU client message subtype %u", p[1]);
			return n;
		}
		if (n < 12)
			return 0;
		if (input_allowed(s))
			qnum_event(s, be32(p + 4), be32(p + 8), be16(p + 2) != 0);
		return 12;
	default:
		protocol_error(s, "unknown message type %u", p[0]);
		return n;
	}
}

static size_t step(struct ipkvm_rfb_session *s, const uint8_t *p, size_t n)
{
	switch (s->phase) {
	case PH_VERSION:
		return step_version(s, p, n);
	case PH_SECTYPE:
		if (n < 1)
			return 0;
		choose_security(s, p[0]);
		return 1;
	case PH_VNCAUTH:
		return step_vncauth(s, p, n);
	case PH_VENC_VERSION:
		return step_vencrypt_version(s, p, n);
	case PH_VENC_SUBTYPE:
		return step_vencrypt_subtype(s, p, n);
	case PH_PLAIN:
		return step_plain(s, p, n);
	case PH_CLIENT_INIT:
		return step_client_init(s, p, n);
	case PH_NORMAL:
		return step_normal(s, p, n);
	case PH_TLS:
	case PH_AUTH_WAIT:
		return 0; /* nothing is read meanwhile */
	}
	return 0;
}

static void process(struct ipkvm_rfb_session *s)
{
	size_t pos = 0;
	while (!s->closing && pos < s->in_len) {
		size_t used = step(s, s->in + pos, s->in_len - pos);
		if (!used)
			break;
		pos += used;
	}
	if (s->closing)
		pos = s->in_len; /* nothing more is read */
	memmove(s->in, s->in + pos, s->in_len - pos);
	s->in_len -= pos;
}

/* --- updates ------------------------------------------------------------------------- */

/* The lock LEDs in RFB's order (scroll 0, num 1, caps 2). */
static unsigned current_leds(struct ipkvm_rfb_session *s)
{
	if (!hid(s))
		return 0;
	struct ipkvm_hid_leds l;
	ipkvm_hid_get_leds(hid(s), &l);
	return (l.scroll ? IPKVM_RFB_LED_SCROLL : 0) | (l.num ? IPKVM_RFB_LED_NUM : 0) |
	       (l.caps ? IPKVM_RFB_LED_CAPS : 0);
}

struct pseudo {
	bool cursor, qemu_key, led, ext_reply;
	unsigned leds, setdesk;
};

static unsigned pseudo_pending(struct ipkvm_rfb_session *s, struct pseudo *ps, bool full)
{
	memset(ps, 0, sizeof(*ps));
	ps->cursor = s->cursor && !s->cursor_sent;
	ps->qemu_key = s->qemu_key && !s->qemu_key_acked;
	if (s->qemu_led || s->vmware_led) {
		ps->leds = current_leds(s);
		ps->led = s->leds_sent != (int)ps->leds;
	}
	ps->setdesk = s->ext_desktop ? s->setdesk_replies : 0;
	ps->ext_reply = full && s->ext_reply;
	return ps->cursor + ps->qemu_key + ps->led + ps->setdesk + ps->ext_reply;
}

static int put_pseudo(struct ipkvm_rfb_session *s, struct ipkvm_rfb_out *o, const struct pseudo *ps)
{
	int r = 0;
	if (ps->cursor)
		r = r ? r : ipkvm_rfb_put_empty_cursor(o, &s->pf);
	if (ps->qemu_key)
		r = r ? r : ipkvm_rfb_put_qemu_key_ack(o);
	if (ps->led)
		r = r ? r : ipkvm_rfb_put_led_state(o, !s->qemu_led, ps->leds);
	for (unsigned i = 0; i < ps->setdesk && !r; i++)
		r = ipkvm_rfb_put_ext_desktop_size(o, 1, 1, s->fb_w, s->fb_h, RFB_SCREEN_ID);
	if (ps->ext_reply)
		r = r ? r
		      : ipkvm_rfb_put_ext_desktop_size(o, 0, 0, s->fb_w, s->fb_h, RFB_SCREEN_ID);
	return r;
}

static void pseudo_sent(struct ipkvm_rfb_session *s, const struct pseudo *ps)
{
	if (ps->cursor)
		s->cursor_sent = true;
	if (ps->qemu_key)
		s->qemu_key_acked = true;
	if (ps->led)
		s->leds_sent = (int)ps->leds;
	s->setdesk_replies -= ps->setdesk;
	if (ps->ext_reply)
		s->ext_reply = false;
}

/* Starts an update of nrects rectangles with the pending pseudo rectangles. */
static int begin_update(struct ipkvm_rfb_session *s, struct ipkvm_rfb_out *o,
			const struct pseudo *ps, unsigned npseudo, unsigned nrects)
{
	int r = ipkvm_rfb_put_update_header(o, (uint16_t)(npseudo + nrects));
	return r ? r : put_pseudo(s, o, ps);
}

/* Queues the update built in o (r: 0, or how building it failed), then len bytes of the
 * shared buffer b from data (b NULL: none). False when it failed: the session ends. */
static bool queue_update(struct ipkvm_rfb_session *s, struct ipkvm_rfb_out *o, int r,
			 const struct pseudo *ps, struct ipkvm_buf *b, const uint8_t *data,
			 size_t len)
{
	if (r < 0) {
		ipkvm_rfb_out_free(o);
		LOG_ERROR("%s: cannot build an update: %s", s->peer, strerror(-r));
		set_closing(s);
		return false;
	}
	pseudo_sent(s, ps);
	if (q_out(s, o) == 0 && b)
		q_shared(s, b, data, len);
	return true;
}

/* The picture is w x h but the client's framebuffer is not: an update of its own says so
 * (DesktopSize's rules: no picture in it, the size rectangle last). true when handled. */
static bool resize(struct ipkvm_rfb_session *s, unsigned w, unsigned h)
{
	if (w == s->fb_w && h == s->fb_h)
		return false;
	if (w > UINT16_MAX || h > UINT16_MAX || !w || !h)
		return true; /* nothing RFB can show: wait for another picture */
	if (!s->ext_desktop && !s->desktop_size) {
		LOG_INFO("%s: the picture is now %ux%u and the client cannot follow a size change: "
			 "closing",
			 s->peer, w, h);
		set_closing(s);
		return true;
	}
	s->fb_w = (uint16_t)w;
	s->fb_h = (uint16_t)h;
	struct pseudo ps;
	unsigned np = pseudo_pending(s, &ps, false);
	struct ipkvm_rfb_out o = {0};
	int r = begin_update(s, &o, &ps, np, 1);
	if (!r)
		r = s->ext_desktop
			? ipkvm_rfb_put_ext_desktop_size(&o, 0, 0, s->fb_w, s->fb_h, RFB_SCREEN_ID)
			: ipkvm_rfb_put_desktop_size(&o, s->fb_w, s->fb_h);
	if (!queue_update(s, &o, r, &ps, NULL, NULL, 0))
		return true;
	if (s->ext_desktop)
		s->ext_reply = false; /* the size rectangle tells the same */
	/* The client discards its picture: the next one goes whole. This update answered
	 * its request. */
	s->need_full = true;
	s->want_inc = s->want_full = false;
	s->h264_reset = true;
	return true;
}

/* Only pseudo rectangles (LEDs, acknowledgements) when no picture goes. */
static void pseudo_update(struct ipkvm_rfb_session *s, bool full)
{
	struct pseudo ps;
	unsigned np = pseudo_pending(s, &ps, full);
	if (!np)
		return;
	struct ipkvm_rfb_out o = {0};
	int r = begin_update(s, &o, &ps, np, 0);
	if (r < 0) {
		ipkvm_rfb_out_free(&o);
		set_closing(s);
		return;
	}
	pseudo_sent(s, &ps);
	q_out(s, &o);
	s->want_inc = false;
}

/* Raw or ZRLE of frame f: the changed tiles, or all of it. true when an update went. */
static bool send_raw(struct ipkvm_rfb_session *s, struct ipkvm_frame *f, enum mode m, bool full)
{
	if (f->format == IPKVM_FMT_MJPEG) {
		if (!s->logged_mjpeg)
			LOG_INFO(
			    "%s: the source gives MJPEG frames: no Raw or ZRLE picture for this "
			    "client (it lists no Tight)",
			    s->peer);
		s->logged_mjpeg = true;
		return false;
	}
	struct ipkvm_rfb_rect rects[RFB_MAX_RECTS];
	size_t n;
	const struct ipkvm_frame *base = s->last_raw;
	if (full || !base || base->width != f->width || base->height != f->height ||
	    base->format != f->format) {
		rects[0] = (struct ipkvm_rfb_rect){0, 0, (uint16_t)f->width, (uint16_t)f->height};
		n = 1;
	} else if (base == f) {
		return false;
	} else {
		n = ipkvm_rfb_changed_rects(base, f, rects, RFB_MAX_RECTS);
		if (!n) {
			ipkvm_frame_unref(s->last_raw);
			s->last_raw = ipkvm_frame_ref(f);
			return false;
		}
	}
	if (m == MODE_ZRLE && !s->zrle && !(s->zrle = ipkvm_rfb_zrle_new())) {
		set_closing(s);
		return false;
	}
	struct pseudo ps;
	unsigned np = pseudo_pending(s, &ps, s->want_full);
	struct ipkvm_rfb_out o = {0};
	int r = begin_update(s, &o, &ps, np, (unsigned)n);
	for (size_t i = 0; i < n && !r; i++)
		r = m == MODE_ZRLE ? ipkvm_rfb_put_zrle(s->zrle, &o, f, &rects[i], &s->pf)
				   : ipkvm_rfb_put_raw(&o, f, &rects[i], &s->pf);
	if (r < 0) {
		ipkvm_rfb_out_free(&o);
		LOG_ERROR("%s: cannot encode a picture: %s", s->peer, strerror(-r));
		set_closing(s);
		return false;
	}
	pseudo_sent(s, &ps);
	q_out(s, &o);
	if (s->last_raw)
		ipkvm_frame_unref(s->last_raw);
	s->last_raw = ipkvm_frame_ref(f);
	s->last_seq = f->seq;
	return true;
}

/* The newest image at the session's quality; false when there is none yet, or when it is of
 * another size than a newer captured frame: it was made before the target changed mode, or
 * before anyone watched (the encoders rest then, and ipkvm_video_watch() asks for the picture
 * as it is now), so sending it would resize the client twice. The right one is on its way
 * (its wake kicks the session). */
static bool latest_image(struct ipkvm_rfb_session *s, struct ipkvm_video_image *img)
{
	struct ipkvm_video *v = video(s);
	bool ok = s->jpeg_quality ? ipkvm_video_latest_quality(v, s->jpeg_quality, img)
				  : ipkvm_video_latest(v, img);
	if (!ok)
		return false;
	struct ipkvm_frame *f = ipkvm_video_latest_raw(v);
	bool stale = f && f->seq > img->seq && (f->width != img->width || f->height != img->height);
	if (f)
		ipkvm_frame_unref(f);
	if (stale)
		ipkvm_video_image_release(img);
	return !stale;
}

/* Tight JPEG of the newest image (the JPEG sent from the shared buffer). */
static bool send_tight(struct ipkvm_rfb_session *s, bool full)
{
	struct ipkvm_video_image img;
	if (!latest_image(s, &img))
		return false;
	bool sent = false;
	if (resize(s, img.width, img.height)) {
		sent = true;
		goto out;
	}
	/* Never an image older than what the client has; the same one only when asked. */
	if (s->any_sent && (full ? img.seq < s->last_seq : img.seq <= s->last_seq))
		goto out;
	struct ipkvm_rfb_rect rect = {0, 0, (uint16_t)img.width, (uint16_t)img.height};
	size_t jpeg_len = img.part->len - img.jpeg_offset;
	struct pseudo ps;
	unsigned np = pseudo_pending(s, &ps, s->want_full);
	struct ipkvm_rfb_out o = {0};
	int r = begin_update(s, &o, &ps, np, 1);
	if (!r)
		r = ipkvm_rfb_put_tight_jpeg(&o, &rect, jpeg_len);
	if (r == -E2BIG) {
		/* Wider or larger than Tight takes: this picture goes as ZRLE when the client
		 * listed it, else Raw; an incremental request gets the tiles that changed since
		 * the last such picture (last_raw; a JPEG in between dropped it). */
		enum mode m = order_has(s, MODE_ZRLE) ? MODE_ZRLE : MODE_RAW;
		ipkvm_rfb_out_free(&o);
		if (!s->logged_big)
			LOG_INFO(
			    "%s: a %ux%u JPEG of %zu bytes is more than Tight takes (2048 wide, "
			    "4 MiB): sent as %s",
			    s->peer, img.width, img.height, jpeg_len,
			    m == MODE_ZRLE ? "ZRLE" : "Raw");
		s->logged_big = true;
		struct ipkvm_frame *f = ipkvm_video_latest_raw(video(s));
		if (f && f->width == img.width && f->height == img.height)
			sent = send_raw(s, f, m, full);
		if (f)
			ipkvm_frame_unref(f);
		if (sent)
			s->last_seq = img.seq;
		goto out;
	}
	if (!queue_update(s, &o, r, &ps, img.part, img.part->data + img.jpeg_offset, jpeg_len))
		goto out;
	s->last_seq = img.seq;
	/* The client has this JPEG now, not the frame a fallback sent before it. */
	if (s->last_raw) {
		ipkvm_frame_unref(s->last_raw);
		s->last_raw = NULL;
	}
	sent = true;
out:
	ipkvm_video_image_release(&img);
	return sent;
}

/* Open H.264: the next access unit this client has not had, from the shared ring. */
static bool send_h264(struct ipkvm_rfb_session *s, bool full)
{
	struct ipkvm_h264_stream *st = h264_stream(s);
	if (full && !s->h264_reset) {
		ipkvm_h264_cursor_reset(st, &s->h264); /* a whole picture: a fresh keyframe */
		s->h264_drops = s->h264.drops;
		s->h264_reset = true;
	}
	struct ipkvm_h264_au au;
	for (;;) {
		if (!ipkvm_h264_cursor_next(st, &s->h264, &au))
			return false;
		if (au.msg->len > au.annexb_offset && !(au.msg->data[1] & IPKVM_H264_FLAG_ALIVE))
			break;
		ipkvm_buf_unref(au.msg); /* keep-alives are the web socket's */
	}
	if (s->h264.drops != s->h264_drops) {
		s->h264_drops = s->h264.drops;
		s->h264_reset = true; /* skipped to a keyframe */
	}
	unsigned w = au.width, h = au.height;
	bool sent = false;
	if (resize(s, w, h)) {
		/* The unit after the resize must start a new context: a keyframe. */
		ipkvm_h264_cursor_reset(st, &s->h264);
		s->h264_drops = s->h264.drops;
		sent = true;
		goto out;
	}
	struct ipkvm_rfb_rect rect = {0, 0, (uint16_t)w, (uint16_t)h};
	size_t len = au.msg->len - au.annexb_offset;
	struct pseudo ps;
	unsigned np = pseudo_pending(s, &ps, s->want_full);
	struct ipkvm_rfb_out o = {0};
	int r = begin_update(s, &o, &ps, np, 1);
	if (!r)
		r = ipkvm_rfb_put_h264(&o, &rect, len, s->h264_reset ? 1 : 0);
	if (!queue_update(s, &o, r, &ps, au.msg, au.msg->data + au.annexb_offset, len))
		goto out;
	s->h264_reset = false;
	s->last_seq = au.seq;
	sent = true;
out:
	ipkvm_buf_unref(au.msg);
	return sent;
}

static void try_update(struct ipkvm_rfb_session *s)
{
	if (s->phase != PH_NORMAL || s->closing || !q_empty(s))
		return;
	if (!s->want_full && !s->want_inc && !s->continuous)
		return;
	bool full = s->want_full || s->need_full;
	struct ipkvm_video *v = video(s);
	bool sent = false;
	enum mode m = pick_mode(s);
	if (v) {
		if (m != s->mode_now) {
			s->mode_now = m;
			full = true; /* what the client has is not what the new encoding knows */
			s->need_full = true;
		}
		unsigned before_w = s->fb_w, before_h = s->fb_h;
		switch (m) {
		case MODE_TIGHT:
			sent = send_tight(s, full);
			break;
		case MODE_H264:
			sent = send_h264(s, full);
			break;
		case MODE_RAW:
		case MODE_ZRLE: {
			struct ipkvm_frame *f = ipkvm_video_latest_raw(v);
			if (f) {
				sent = resize(s, f->width, f->height) || send_raw(s, f, m, full);
				ipkvm_frame_unref(f);
			}
			break;
		}
		}
		bool resized = before_w != s->fb_w || before_h != s->fb_h;
		if (sent && !resized && !s->closing) {
			s->any_sent = true;
			s->want_full = s->need_full = s->want_inc = false;
			return;
		}
		if (sent)
			return;
	}
	if (!s->closing)
		pseudo_update(s, s->want_full);
}

/* --- the interface ------------------------------------------------------------------- */

struct ipkvm_rfb_session *ipkvm_rfb_session_new(const struct ipkvm_rfb_env *env,
						enum ipkvm_rfb_kind kind,
						const struct ipkvm_auth *auth, const char *peer,
						const struct ipkvm_rfb_hooks *hooks)
{
	struct ipkvm_rfb_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->env = env;
	s->kind = kind;
	if (hooks)
		s->hooks = *hooks;
	ipkvm_strlcpy(s->peer, peer ? peer : "", sizeof(s->peer));
	if (kind == IPKVM_RFB_PREAUTH && auth)
		s->auth = *auth;
	s->started_ms = now_ms(s);
	s->pf = ipkvm_rfb_pixfmt_server;
	s->quality_level = -1;
	s->leds_sent = -1;
	s->mode_now = MODE_RAW;
	static const char version[12] = "RFB 003.008\n";
	if (q_bytes(s, version, sizeof(version)) < 0) {
		ipkvm_rfb_session_free(s);
		return NULL;
	}
	return s;
}

/* Lets go of every key and button this session holds. */
static void release_input(struct ipkvm_rfb_session *s)
{
	struct ipkvm_hid *h = hid(s);
	if (!h)
		return;
	if (s->kbd) {
		struct ipkvm_key_action act[64];
		size_t n = ipkvm_keysym_release_all(s->kbd, act, IPKVM_ARRAY_SIZE(act));
		key_apply(s, act, n);
	}
	for (size_t i = 0; i < s->n_qkeys; i++)
		ipkvm_hid_key(h, s->qkeys[i], false);
	s->n_qkeys = 0;
	if (s->buttons & IPKVM_HID_BTN_MASK) {
		if (ipkvm_hid_mouse_relative(h))
			ipkvm_hid_mouse_rel(h, 0, 0, 0, 0, 0);
		else
			ipkvm_hid_mouse_abs(h, -1, -1, 0, 0, 0);
	}
	s->buttons = 0;
}

void ipkvm_rfb_session_free(struct ipkvm_rfb_session *s)
{
	if (!s)
		return;
	s->closing = true;
	if (s->call)
		ipkvm_authsvc_detach(s->call);
	release_input(s);
	ipkvm_keysym_kbd_free(s->kbd);
	set_jpeg_quality(s, 0);
	h264_watch(s, false);
	if (s->watching)
		ipkvm_video_watch(video(s), -1);
	if (s->last_raw)
		ipkvm_frame_unref(s->last_raw);
	ipkvm_rfb_zrle_free(s->zrle);
	for (size_t i = s->q_head; i < s->q_n; i++)
		seg_free(&s->q[i]);
	free(s->q);
	free(s->cut);
	/* Last: closing the auth session tells the auth watchers, which may look at sessions. */
	if (s->own_session && authsvc(s))
		ipkvm_authsvc_session_close(authsvc(s), s->auth.session_id);
	explicit_bzero(&s->auth, sizeof(s->auth));
	free(s);
}

int ipkvm_rfb_session_input(struct ipkvm_rfb_session *s, const void *data, size_t len)
{
	if (s->closing)
		return -EPIPE;
	if (s->phase == PH_TLS) {
		LOG_INFO("%s: data before the TLS handshake ended: closing", s->peer);
		set_closing(s);
		return -EPROTO;
	}
	const uint8_t *p = data;
	s->in_input = true;
	while (len && !s->closing) {
		if (s->phase == PH_TLS) {
			LOG_INFO("%s: data before the TLS handshake: closing", s->peer);
			set_closing(s);
			break;
		}
		size_t room = sizeof(s->in) - s->in_len;
		if (!room) {
			protocol_error(s, "%u bytes that are no message", (unsigned)s->in_len);
			break;
		}
		size_t n = len < room ? len : room;
		memcpy(s->in + s->in_len, p, n);
		s->in_len += n;
		p += n;
		len -= n;
		process(s);
	}
	s->in_input = false;
	try_update(s);
	return s->closing ? -EPROTO : 0;
}

size_t ipkvm_rfb_session_peek(struct ipkvm_rfb_session *s, const unsigned char **data)
{
	if (q_empty(s)) {
		*data = NULL;
		return 0;
	}
	const struct seg *g = &s->q[s->q_head];
	*data = g->data + g->off;
	return g->len - g->off;
}

void ipkvm_rfb_session_consumed(struct ipkvm_rfb_session *s, size_t n)
{
	while (n && !q_empty(s)) {
		struct seg *g = &s->q[s->q_head];
		size_t left = g->len - g->off;
		size_t take = n < left ? n : left;
		g->off += take;
		n -= take;
		if (g->off == g->len) {
			seg_free(g);
			s->q_head++;
		}
	}
	if (q_empty(s)) {
		s->q_head = s->q_n = 0;
		try_update(s);
	}
}

bool ipkvm_rfb_session_closing(const struct ipkvm_rfb_session *s)
{
	return s->closing;
}

void ipkvm_rfb_session_tls_ready(struct ipkvm_rfb_session *s, bool anonymous)
{
	if (s->phase != PH_TLS || s->closing)
		return;
	s->tls_anonymous = anonymous;
	s->phase = PH_PLAIN;
}

void ipkvm_rfb_session_kick(struct ipkvm_rfb_session *s)
{
	try_update(s);
}

/* The session acts as someone: after a login, and a carried one from the start (its
 * identity came with it, so a logout during the handshake ends it as it would later). */
static bool has_identity(const struct ipkvm_rfb_session *s)
{
	return s->authenticated || s->kind == IPKVM_RFB_PREAUTH;
}

bool ipkvm_rfb_session_recheck(struct ipkvm_rfb_session *s)
{
	if (s->closing)
		return false;
	if (!has_identity(s))
		return true;
	if (!ipkvm_authsvc_recheck(authsvc(s), &s->auth, false)) {
		LOG_INFO("%s: the session of %s ended (logged out, user changed or expired)",
			 s->peer, s->auth.user);
		set_closing(s);
		return false;
	}
	s->view_only = !ipkvm_auth_allows(&s->auth, IPKVM_ROLE_OPERATOR);
	return true;
}

bool ipkvm_rfb_session_tick(struct ipkvm_rfb_session *s)
{
	int64_t now = now_ms(s);
	if (s->closing)
		return now - s->closing_ms < RFB_CLOSING_MS;
	if (s->phase != PH_NORMAL && now - s->started_ms >= RFB_HANDSHAKE_MS) {
		LOG_INFO("%s: no complete handshake in %d s: closing", s->peer,
			 RFB_HANDSHAKE_MS / 1000);
		set_closing(s);
		return false;
	}
	if (has_identity(s)) {
		/* Touched: a connected viewer is activity (the absolute lifetime still ends it). */
		if (!ipkvm_authsvc_recheck(authsvc(s), &s->auth, true)) {
			LOG_INFO(
			    "%s: the session of %s ended (logged out, user changed or expired)",
			    s->peer, s->auth.user);
			set_closing(s);
			return false;
		}
		s->view_only = !ipkvm_auth_allows(&s->auth, IPKVM_ROLE_OPERATOR);
	}
	try_update(s);
	return true;
}

const char *ipkvm_rfb_session_user(const struct ipkvm_rfb_session *s)
{
	return s->authenticated ? s->auth.user : "";
}

bool ipkvm_rfb_session_authenticated(const struct ipkvm_rfb_session *s)
{
	return s->authenticated;
}
