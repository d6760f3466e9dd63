/*
 * Unit tests for vnc/rfb, the protocol engine of one RFB session, and vnc/vncauth.
 *
 * Sessions are driven byte by byte as a client would, with a real auth service on a
 * temporary state directory (hashing inline), a real HID whose gadget nodes are socketpairs
 * (the test reads the reports the target would get), a real paste engine, and for the
 * picture tests a real video pipeline on the pattern source. Every expectation is on exact
 * bytes: the handshakes of 3.3, 3.7 and 3.8, VeNCrypt's negotiation, failure reasons, the
 * answers to client messages, a Tight JPEG update whose JPEG is the pipeline's own buffer.
 * Every client message is also fed split at every byte and with wrong lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/audit.h"
#include "auth/authsvc.h"
#include "auth/totp.h"
#include "auth/users.h"
#include "core/util.h"
#include "daemon/services.h"
#include "hid/hid.h"
#include "hid/layout.h"
#include "hid/paste.h"
#include "video/video.h"
#include "vnc/rfb.h"
#include "vnc/rfb_enc.h"
#include "vnc/vncauth.h"

#define OP_PW	  "operator-password"
#define VIEW_PW	  "viewer-password"
#define TOTP_PW	  "totp-user-password"
#define VNC_PW	  "secret12" /* VncAuth: 8 characters count */
#define DESK_NAME "ipkvm-test"

struct fx {
	char dir[64];
	char admin_pw[64];
	struct ipkvm_authsvc *a;
	struct ipkvm_services svc;
	struct ipkvm_rfb_env env;
	struct ipkvm_rfb_vncauth_entry va[2];
	struct ipkvm_rfb_hooks hooks;
	int want_writes, start_tls_calls, start_tls_ret;
	bool start_tls_anonymous_ok; /* what the last start_tls was told */
	int64_t now;
	struct ipkvm_rfb_session *s;
	uint8_t *out;
	size_t out_len;
	/* HID */
	struct ipkvm_hid *hid;
	struct ipkvm_paste *paste;
	int host_kbd, host_abs, host_rel;
	int64_t paste_timer;
	/* video */
	struct ipkvm_video *video;
	int wake_fd;
};

#define OUT_MAX (16u << 20)

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int64_t clock_ms(void *ctx)
{
	return ((struct fx *)ctx)->now;
}

static void want_write(void *ctx)
{
	((struct fx *)ctx)->want_writes++;
}

static int start_tls(void *ctx, bool anonymous_ok)
{
	struct fx *f = ctx;
	f->start_tls_calls++;
	f->start_tls_anonymous_ok = anonymous_ok;
	return f->start_tls_ret;
}

static void on_done(void *ctx, const struct ipkvm_authsvc_result *res)
{
	*(enum ipkvm_authsvc_status *)ctx = res->status;
}

static int open_node(void *ctx, const char *path)
{
	struct fx *f = ctx;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (strcmp(path, "kbd") == 0)
		f->host_kbd = sv[1];
	else if (strcmp(path, "abs") == 0)
		f->host_abs = sv[1];
	else if (strcmp(path, "rel") == 0)
		f->host_rel = sv[1];
	else
		close(sv[1]);
	return sv[0];
}

static void paste_timer(void *ctx, int64_t delay_ms)
{
	((struct fx *)ctx)->paste_timer = delay_ms;
}

static void add_user(struct fx *f, const char *name, const char *pw, enum ipkvm_role role,
		     const char *totp)
{
	char path[128];
	struct ipkvm_users u;
	struct ipkvm_user nu = {.role = role};
	snprintf(path, sizeof(path), "%s/%s", f->dir, IPKVM_USERS_FILE);
	ipkvm_users_init(&u);
	assert_int_equal(ipkvm_users_load(&u, path, NULL, 0), 0);
	snprintf(nu.name, sizeof(nu.name), "%s", name);
	assert_int_equal(ipkvm_password_hash(pw, nu.hash, sizeof(nu.hash)), 0);
	if (totp)
		snprintf(nu.totp, sizeof(nu.totp), "%s", totp);
	assert_int_equal(ipkvm_users_add(&u, &nu), 0);
	assert_int_equal(ipkvm_users_save(&u, path), 0);
	ipkvm_users_free(&u);
	ipkvm_authsvc_refresh(f->a, true);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ipkvm-test-rfb-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	struct ipkvm_authsvc_config c = {.state_dir = f->dir,
					 .session_idle = 600,
					 .session_lifetime = 3600,
					 .max_sessions = 16,
					 .max_sessions_per_user = 8,
					 .login_max_failures = 3,
					 .login_backoff_max = 60};
	f->a = ipkvm_authsvc_create(&c);
	if (!f->a || ipkvm_authsvc_open(f->a) < 0)
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", f->dir, IPKVM_INITIAL_PASSWORD_FILE);
	FILE *fp = fopen(path, "r");
	if (!fp || !fgets(f->admin_pw, sizeof(f->admin_pw), fp))
		return -1;
	fclose(fp);
	f->admin_pw[strcspn(f->admin_pw, "\n")] = '\0';
	add_user(f, "op", OP_PW, IPKVM_ROLE_OPERATOR, NULL);
	add_user(f, "view", VIEW_PW, IPKVM_ROLE_VIEWER, NULL);

	f->host_kbd = f->host_abs = f->host_rel = -1;
	struct ipkvm_hid_config hc = {.output = "gadget",
				      .keyboard = "kbd",
				      .mouse_abs = "abs",
				      .mouse_rel = "rel",
				      .open_fn = open_node,
				      .open_ctx = f};
	f->hid = ipkvm_hid_create(&hc);
	if (!f->hid)
		return -1;
	struct ipkvm_paste_config pc = {.hid = f->hid, .ctx = f, .timer = paste_timer};
	f->paste = ipkvm_paste_create(&pc);
	if (!f->paste)
		return -1;

	f->svc.auth = f->a;
	f->svc.hid = f->hid;
	f->svc.paste = f->paste;
	f->now = 5000;
	snprintf(f->va[0].user, sizeof(f->va[0].user), "op");
	snprintf(f->va[0].password, sizeof(f->va[0].password), "%s", "other-pw");
	snprintf(f->va[1].user, sizeof(f->va[1].user), "op");
	snprintf(f->va[1].password, sizeof(f->va[1].password), "%s", VNC_PW);
	f->env = (struct ipkvm_rfb_env){.svc = &f->svc,
					.layout = ipkvm_layout_find("us"),
					.name = DESK_NAME,
					.tls = true,
					.now_ms = clock_ms,
					.clock_ctx = f};
	f->hooks =
	    (struct ipkvm_rfb_hooks){.ctx = f, .want_write = want_write, .start_tls = start_tls};
	f->out = malloc(OUT_MAX);
	f->wake_fd = -1;
	*state = f;
	return f->out ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ipkvm_rfb_session_free(f->s);
	ipkvm_paste_destroy(f->paste);
	ipkvm_hid_destroy(f->hid);
	if (f->video)
		ipkvm_video_destroy(f->video);
	if (f->wake_fd >= 0)
		close(f->wake_fd);
	ipkvm_authsvc_destroy(f->a);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	for (int fd = 0; fd < 3; fd++) {
		int h = fd == 0 ? f->host_kbd : fd == 1 ? f->host_abs : f->host_rel;
		if (h >= 0)
			close(h);
	}
	free(f->out);
	free(f);
	return 0;
}

/* --- driving a session ---------------------------------------------------------------- */

static void open_session(struct fx *f, enum ipkvm_rfb_kind kind, const struct ipkvm_auth *auth)
{
	ipkvm_rfb_session_free(f->s);
	f->out_len = 0;
	f->start_tls_calls = 0;
	f->s = ipkvm_rfb_session_new(&f->env, kind, auth, "192.0.2.7", &f->hooks);
	assert_non_null(f->s);
}

/* Takes everything the session has to send, a few bytes at a time (any split must do). */
static size_t drain(struct fx *f)
{
	size_t got = 0;
	const unsigned char *d;
	size_t n;
	while ((n = ipkvm_rfb_session_peek(f->s, &d)) > 0) {
		size_t take = n > 7 ? n - 3 : n; /* a partial write now and then */
		assert_true(f->out_len + take <= OUT_MAX);
		memcpy(f->out + f->out_len, d, take);
		f->out_len += take;
		got += take;
		ipkvm_rfb_session_consumed(f->s, take);
	}
	return got;
}

/* The session sent exactly these bytes since the last check. */
static void expect(struct fx *f, const void *bytes, size_t len)
{
	drain(f);
	if (f->out_len != len) {
		fprintf(stderr, "expected %zu bytes, got %zu:", len, f->out_len);
		for (size_t i = 0; i < f->out_len && i < 64; i++)
			fprintf(stderr, " %02x", f->out[i]);
		fprintf(stderr, "\n");
	}
	assert_int_equal(f->out_len, len);
	assert_memory_equal(f->out, bytes, len);
	f->out_len = 0;
}

static void expect_nothing(struct fx *f)
{
	expect(f, "", 0);
}

static int feed(struct fx *f, const void *data, size_t len)
{
	return ipkvm_rfb_session_input(f->s, data, len);
}

static void feed_ok(struct fx *f, const void *data, size_t len)
{
	assert_int_equal(feed(f, data, len), 0);
}

/* One byte at a time. */
static void feed_split(struct fx *f, const void *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		assert_int_equal(feed(f, (const uint8_t *)data + i, 1), 0);
}

static size_t be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

/* A length-prefixed reason, as the session sends it. */
static size_t reason(uint8_t *p, const char *text)
{
	size_t n = be32_put(p, (uint32_t)strlen(text));
	memcpy(p + n, text, strlen(text));
	return n + strlen(text);
}

/* A VeNCrypt Plain credentials message. */
static size_t plain(uint8_t *p, const char *user, const char *pw)
{
	size_t n = be32_put(p, (uint32_t)strlen(user));
	n += be32_put(p + n, (uint32_t)strlen(pw));
	memcpy(p + n, user, strlen(user));
	n += strlen(user);
	memcpy(p + n, pw, strlen(pw));
	return n + strlen(pw);
}

static const uint8_t server_init_1024[] = {0x04, 0x00, 0x03, 0x00, /* 1024 x 768 */
					   32,	 24,   0,    1,	   0,	255, 0,	  255, 0,
					   255,	 16,   8,    0,	   0,	0,   0, /* pixel format */
					   0,	 0,    0,    10,   'i', 'p', 'k', 'v', 'm',
					   '-',	 't',  'e',  's',  't'};

/* 3.8 up to the security types, VeNCrypt chosen and negotiated to the TLS start. */
static void vencrypt_to_tls(struct fx *f, bool split)
{
	expect(f, "RFB 003.008\n", 12);
	void (*in)(struct fx *, const void *, size_t) = split ? feed_split : feed_ok;
	in(f, "RFB 003.008\n", 12);
	expect(f, "\x01\x13", 2); /* one type: VeNCrypt */
	in(f, "\x13", 1);
	expect(f, "\x00\x02", 2); /* VeNCrypt 0.2 */
	in(f, "\x00\x02", 2);
	expect(f, "\x00\x02\x00\x00\x01\x06\x00\x00\x01\x03", 10); /* ok; X509Plain, TLSPlain */
	assert_int_equal(f->start_tls_calls, 0);
	in(f, "\x00\x00\x01\x03", 4); /* TLSPlain */
	expect(f, "\x01", 1);
	assert_int_equal(f->start_tls_calls, 1);
	ipkvm_rfb_session_tls_ready(f->s, false);
}

/* A whole VeNCrypt login of user, through ServerInit. */
static void login(struct fx *f, const char *user, const char *pw)
{
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, false);
	uint8_t m[600];
	feed_ok(f, m, plain(m, user, pw));
	expect(f, "\0\0\0\0", 4);
	assert_true(ipkvm_rfb_session_authenticated(f->s));
	assert_string_equal(ipkvm_rfb_session_user(f->s), user);
	feed_ok(f, "\x01", 1);
	expect(f, server_init_1024, sizeof(server_init_1024));
}

static int audited(const struct fx *f, const char *event, const char *with)
{
	char path[128], line[2048], want[64];
	snprintf(path, sizeof(path), "%s/%s", f->dir, IPKVM_AUDIT_FILE);
	snprintf(want, sizeof(want), "\"event\":\"%s\"", event);
	FILE *fp = fopen(path, "r");
	int n = 0;
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, want) && (!with || strstr(line, with));
	fclose(fp);
	return n;
}

/* --- vncauth ---------------------------------------------------------------------------- */

static void test_vncauth_vectors(void **state)
{
	(void)state;
	/* The classic DES vector (key 133457799BBCDFF1, 0123456789ABCDEF -> 85E813540F0AB405)
	 * with the key given as RFB does, each byte's bits reversed. */
	const char key[] = "\xc8\x2c\xea\x9e\xd9\x3d\xfb\x8f";
	const uint8_t ch[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
				0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	const uint8_t want[16] = {0x85, 0xe8, 0x13, 0x54, 0x0f, 0x0a, 0xb4, 0x05,
				  0x85, 0xe8, 0x13, 0x54, 0x0f, 0x0a, 0xb4, 0x05};
	uint8_t got[16];
	ipkvm_vncauth_response(key, ch, got);
	assert_memory_equal(got, want, 16);
	assert_true(ipkvm_vncauth_check(key, ch, want));
	/* "password" on a zero challenge (openssl enc -des-ecb -K 0E86CECEEEF64E26 -nopad). */
	const uint8_t zero[16] = {0};
	const uint8_t pw_want[16] = {0xff, 0x97, 0x50, 0x2e, 0x94, 0x22, 0xf0, 0x89,
				     0xff, 0x97, 0x50, 0x2e, 0x94, 0x22, 0xf0, 0x89};
	ipkvm_vncauth_response("password", zero, got);
	assert_memory_equal(got, pw_want, 16);
	/* Past 8 characters nothing counts; shorter is zero-padded. */
	ipkvm_vncauth_response("password-and-more", zero, got);
	assert_memory_equal(got, pw_want, 16);
	ipkvm_vncauth_response("passwor", zero, got);
	assert_memory_not_equal(got, pw_want, 16);
	uint8_t bad[16];
	memcpy(bad, pw_want, 16);
	bad[15] ^= 1;
	assert_false(ipkvm_vncauth_check("password", zero, bad));
	/* Challenges are random. */
	uint8_t c1[16], c2[16];
	assert_int_equal(ipkvm_vncauth_challenge(c1), 0);
	assert_int_equal(ipkvm_vncauth_challenge(c2), 0);
	assert_memory_not_equal(c1, c2, 16);
}

/* --- handshakes ------------------------------------------------------------------------- */

static void test_38_vencrypt_plain(void **state)
{
	struct fx *f = *state;
	login(f, "op", OP_PW);
	assert_int_equal(audited(f, "login", "\"via\":\"vnc\""), 1);
	assert_int_equal(ipkvm_authsvc_session_count(f->a), 1);
	assert_true(ipkvm_rfb_session_tick(f->s));
	/* Its auth session ends with it. */
	ipkvm_rfb_session_free(f->s);
	f->s = NULL;
	assert_int_equal(ipkvm_authsvc_session_count(f->a), 0);
}

static void test_38_split_at_every_byte(void **state)
{
	struct fx *f = *state;
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, true);
	uint8_t m[600];
	feed_split(f, m, plain(m, "op", OP_PW));
	expect(f, "\0\0\0\0", 4);
	feed_split(f, "\x01", 1);
	expect(f, server_init_1024, sizeof(server_init_1024));
}

static void test_37_vencrypt(void **state)
{
	struct fx *f = *state;
	open_session(f, IPKVM_RFB_TCP, NULL);
	expect(f, "RFB 003.008\n", 12);
	f->env.n_vncauth = 2;
	f->env.vncauth = f->va;
	feed_ok(f, "RFB 003.007\n", 12);
	expect(f, "\x02\x13\x02", 3); /* VeNCrypt, VncAuth */
	feed_ok(f, "\x13\x00\x02", 3);
	expect(f, "\x00\x02\x00\x02\x00\x00\x01\x06\x00\x00\x01\x03", 12);
	feed_ok(f, "\x00\x00\x01\x06", 4); /* X509Plain */
	expect(f, "\x01", 1);
	ipkvm_rfb_session_tls_ready(f->s, false);
	/* 3.7: a failure has no reason. */
	uint8_t m[600];
	assert_true(feed(f, m, plain(m, "op", "wrong-password")) < 0);
	expect(f, "\0\0\0\x01", 4);
	assert_true(ipkvm_rfb_session_closing(f->s));
	assert_false(ipkvm_rfb_session_authenticated(f->s));
}

/* The transport hears which subtype was chosen (only TLSPlain may be anonymous), and a
 * login's audit record says which TLS it came over. */
static void test_tls_subtype_and_anonymous_audit(void **state)
{
	struct fx *f = *state;
	/* X509Plain: never anonymous. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	feed_ok(f, "RFB 003.008\n\x13\x00\x02\x00\x00\x01\x06", 19);
	assert_int_equal(f->start_tls_calls, 1);
	assert_false(f->start_tls_anonymous_ok);
	ipkvm_rfb_session_tls_ready(f->s, false);
	uint8_t m[600];
	feed_ok(f, m, plain(m, "op", OP_PW));
	assert_true(ipkvm_rfb_session_authenticated(f->s));
	assert_int_equal(audited(f, "login", "\"tls\":\"certificate\""), 1);
	assert_int_equal(audited(f, "login", "\"tls\":\"anonymous\""), 0);
	/* TLSPlain: the transport may agree to anonymous TLS; here it did. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	feed_ok(f, "RFB 003.008\n\x13\x00\x02\x00\x00\x01\x03", 19);
	assert_int_equal(f->start_tls_calls, 1);
	assert_true(f->start_tls_anonymous_ok);
	ipkvm_rfb_session_tls_ready(f->s, true);
	feed_ok(f, m, plain(m, "op", OP_PW));
	assert_true(ipkvm_rfb_session_authenticated(f->s));
	assert_int_equal(audited(f, "login", "\"tls\":\"anonymous\""), 1);
	assert_int_equal(audited(f, "login", "\"tls\":\"certificate\""), 1);
}

static void test_33(void **state)
{
	struct fx *f = *state;
	/* Without VncAuth: 3.3 cannot have VeNCrypt (the server picks, from None and VncAuth). */
	open_session(f, IPKVM_RFB_TCP, NULL);
	expect(f, "RFB 003.008\n", 12);
	assert_true(feed(f, "RFB 003.003\n", 12) < 0);
	uint8_t want[128] = {0, 0, 0, 0};
	size_t n = 4 + reason(want + 4, "this server needs RFB 3.7 or newer (VeNCrypt)");
	expect(f, want, n);
	assert_true(ipkvm_rfb_session_closing(f->s));
	/* With VncAuth: the server picks it and sends the challenge. 3.5 counts as 3.3. */
	f->env.n_vncauth = 2;
	f->env.vncauth = f->va;
	open_session(f, IPKVM_RFB_TCP, NULL);
	expect(f, "RFB 003.008\n", 12);
	feed_ok(f, "RFB 003.005\n", 12);
	drain(f);
	assert_int_equal(f->out_len, 4 + 16);
	assert_memory_equal(f->out, "\0\0\0\x02", 4);
	uint8_t resp[16];
	ipkvm_vncauth_response(VNC_PW, f->out + 4, resp);
	f->out_len = 0;
	feed_split(f, resp, 16);
	expect(f, "\0\0\0\0", 4);
	assert_string_equal(ipkvm_rfb_session_user(f->s), "op");
	feed_ok(f, "\x00", 1);
	expect(f, server_init_1024, sizeof(server_init_1024));
	assert_int_equal(audited(f, "login", "\"method\":\"vncauth\""), 1);
}

static void test_versions_refused(void **state)
{
	struct fx *f = *state;
	uint8_t want[128];
	size_t n;
	/* A 3.x below 3.7 gets the 3.3 form (u32 0 + reason); newer ones the 3.7 form. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	assert_true(feed(f, "RFB 003.006\n", 12) < 0);
	memset(want, 0, 4);
	n = 4 + reason(want + 4, "RFB version 3.6 is not supported (3.3, 3.7, 3.8)");
	expect(f, want, n);
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	assert_true(feed(f, "RFB 004.001\n", 12) < 0);
	want[0] = 0;
	n = 1 + reason(want + 1, "RFB version 4.1 is not supported (3.3, 3.7, 3.8)");
	expect(f, want, n);
	/* Not RFB at all: closed without a word. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	assert_true(feed(f, "GET / HTTP/1.1\r\n", 16) < 0);
	expect_nothing(f);
	assert_true(ipkvm_rfb_session_closing(f->s));
	/* Apple's 3.889 is 3.8. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.889\n", 12);
	expect(f, "\x01\x13", 2);
	/* Nothing offered at all (no TLS, no VncAuth): zero types and a reason. */
	f->env.tls = false;
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	assert_true(feed(f, "RFB 003.008\n", 12) < 0);
	want[0] = 0;
	n = 1 + reason(want + 1, "no security type is configured");
	expect(f, want, n);
}

static void test_none_refused_on_tcp(void **state)
{
	struct fx *f = *state;
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.008\n", 12);
	expect(f, "\x01\x13", 2);
	assert_true(feed(f, "\x01", 1) < 0);
	uint8_t want[128] = {0, 0, 0, 1};
	size_t n = 4 + reason(want + 4, "security type 1 is not offered");
	expect(f, want, n);
	assert_false(ipkvm_rfb_session_authenticated(f->s));
	/* VncAuth is not offered without a password file either. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.008\n", 12);
	drain(f);
	f->out_len = 0;
	assert_true(feed(f, "\x02", 1) < 0);
	n = 4 + reason(want + 4, "security type 2 is not offered");
	expect(f, want, n);
}

static void test_wrong_password_and_throttle(void **state)
{
	struct fx *f = *state;
	uint8_t m[600], want[128] = {0, 0, 0, 1};
	size_t n = 4 + reason(want + 4, "wrong user name or password");
	for (int i = 0; i < 3; i++) {
		open_session(f, IPKVM_RFB_TCP, NULL);
		vencrypt_to_tls(f, false);
		assert_true(feed(f, m, plain(m, "op", "not-the-password")) < 0);
		expect(f, want, n);
		assert_true(ipkvm_rfb_session_closing(f->s));
	}
	assert_int_equal(audited(f, "login_failed", "\"via\":\"vnc\""), 3);
	/* Throttled now: even the right password is refused, with the wait. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, false);
	assert_true(feed(f, m, plain(m, "op", OP_PW)) < 0);
	drain(f);
	const char *prefix = "too many failed logins, retry in ";
	assert_true(f->out_len > 8 + strlen(prefix));
	assert_memory_equal(f->out, "\0\0\0\x01", 4);
	assert_memory_equal(f->out + 8, prefix, strlen(prefix));
	assert_memory_equal(f->out + f->out_len - 2, " s", 2);
	assert_false(ipkvm_rfb_session_authenticated(f->s));
}

static void test_totp_user_refused(void **state)
{
	struct fx *f = *state;
	char secret[64];
	assert_int_equal(ipkvm_totp_generate_secret(secret, sizeof(secret)), 0);
	add_user(f, "tot", TOTP_PW, IPKVM_ROLE_ADMIN, secret);
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, false);
	uint8_t m[600], want[128] = {0, 0, 0, 1};
	assert_true(feed(f, m, plain(m, "tot", TOTP_PW)) < 0);
	size_t n = 4 + reason(want + 4, "user has TOTP: use the web console or an API token");
	expect(f, want, n);
	assert_int_equal(audited(f, "login_failed", "totp required"), 1);
	/* Not a failure for the throttle (as on the web: the password was right). */
	for (int i = 0; i < 4; i++) {
		open_session(f, IPKVM_RFB_TCP, NULL);
		vencrypt_to_tls(f, false);
		assert_true(feed(f, m, plain(m, "tot", TOTP_PW)) < 0);
		expect(f, want, n);
	}
}

static void test_plain_bounds(void **state)
{
	struct fx *f = *state;
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, false);
	uint8_t m[8], want[128] = {0, 0, 0, 1};
	be32_put(m, 257);
	be32_put(m + 4, 8);
	assert_true(feed(f, m, 8) < 0);
	size_t n = 4 + reason(want + 4, "user name or password too long");
	expect(f, want, n);
	/* A NUL inside the user name. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, false);
	uint8_t p[64];
	size_t len = plain(p, "op\x01x", OP_PW);
	p[8 + 2] = 0;
	assert_true(feed(f, p, len) < 0);
	n = 4 + reason(want + 4, "a NUL byte in the user name or password");
	expect(f, want, n);
}

static void test_vencrypt_refusals(void **state)
{
	struct fx *f = *state;
	/* VeNCrypt 0.1 */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.008\n\x13", 13);
	expect(f, "\x01\x13\x00\x02", 4);
	assert_true(feed(f, "\x00\x01", 2) < 0);
	expect(f, "\x01", 1);
	/* A subtype not offered (TLSNone). */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.008\n\x13\x00\x02", 15);
	drain(f);
	f->out_len = 0;
	assert_true(feed(f, "\x00\x00\x01\x01", 4) < 0);
	expect(f, "\x00", 1);
	assert_int_equal(f->start_tls_calls, 0);
	/* Bytes after the subtype, before the TLS handshake. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.008\n\x13\x00\x02", 15);
	drain(f);
	assert_true(feed(f, "\x00\x00\x01\x03\x16", 5) < 0);
	assert_int_equal(f->start_tls_calls, 0);
	/* Input while the TLS handshake runs. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	feed_ok(f, "RFB 003.008\n\x13\x00\x02\x00\x00\x01\x03", 19);
	assert_int_equal(f->start_tls_calls, 1);
	assert_true(feed(f, "\x16", 1) < 0);
	/* The transport cannot start TLS. */
	f->start_tls_ret = -EIO;
	open_session(f, IPKVM_RFB_TCP, NULL);
	assert_true(feed(f, "RFB 003.008\n\x13\x00\x02\x00\x00\x01\x03", 19) < 0);
}

static void test_vncauth_session(void **state)
{
	struct fx *f = *state;
	f->env.n_vncauth = 2;
	f->env.vncauth = f->va;
	/* Wrong response. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.008\n\x02", 13);
	drain(f);
	assert_int_equal(f->out_len, 2 + 1 + 16);
	assert_memory_equal(f->out, "\x02\x13\x02", 3);
	uint8_t resp[16];
	ipkvm_vncauth_response("wrongpw", f->out + 3, resp);
	f->out_len = 0;
	assert_true(feed(f, resp, 16) < 0);
	uint8_t want[64] = {0, 0, 0, 1};
	size_t n = 4 + reason(want + 4, "wrong password");
	expect(f, want, n);
	assert_int_equal(audited(f, "login_failed", "\"method\":\"vncauth\""), 1);
	/* Right (the second entry), 3.8: its user, its role. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.008\n\x02", 13);
	drain(f);
	ipkvm_vncauth_response(VNC_PW, f->out + 3, resp);
	f->out_len = 0;
	feed_ok(f, resp, 16);
	expect(f, "\0\0\0\0", 4);
	assert_string_equal(ipkvm_rfb_session_user(f->s), "op");
	/* An entry whose user is gone: refused. */
	snprintf(f->va[1].user, sizeof(f->va[1].user), "ghost");
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.008\n\x02", 13);
	drain(f);
	ipkvm_vncauth_response(VNC_PW, f->out + 3, resp);
	f->out_len = 0;
	assert_true(feed(f, resp, 16) < 0);
	expect(f, want, n);
	/* Two failures more and the address backs off. */
	for (int i = 0; i < 2; i++) {
		open_session(f, IPKVM_RFB_TCP, NULL);
		feed_ok(f, "RFB 003.008\n\x02", 13);
		memset(resp, 0, sizeof(resp));
		assert_true(feed(f, resp, 16) < 0);
	}
	snprintf(f->va[1].user, sizeof(f->va[1].user), "op");
	open_session(f, IPKVM_RFB_TCP, NULL);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.008\n\x02", 13);
	drain(f);
	ipkvm_vncauth_response(VNC_PW, f->out + 3, resp);
	f->out_len = 0;
	assert_true(feed(f, resp, 16) < 0);
	drain(f);
	assert_memory_equal(f->out + 8, "too many failed logins", 22);
	assert_int_equal(audited(f, "login_throttled", "\"via\":\"vnc\""), 1);
}

static void test_preauth_none(void **state)
{
	struct fx *f = *state;
	struct ipkvm_auth auth;
	char token[IPKVM_SESSION_TOKEN_LEN + 1];
	assert_int_equal(ipkvm_authsvc_session_open(f->a, "view", token, &auth, NULL), 0);
	open_session(f, IPKVM_RFB_PREAUTH, &auth);
	expect(f, "RFB 003.008\n", 12);
	feed_ok(f, "RFB 003.008\n", 12);
	expect(f, "\x01\x01", 2);
	feed_ok(f, "\x01", 1);
	expect(f, "\0\0\0\0", 4);
	feed_ok(f, "\x01", 1);
	expect(f, server_init_1024, sizeof(server_init_1024));
	assert_string_equal(ipkvm_rfb_session_user(f->s), "view");
	/* 3.7: None has no SecurityResult. */
	open_session(f, IPKVM_RFB_PREAUTH, &auth);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.007\n\x01\x01", 14);
	uint8_t want37[2 + sizeof(server_init_1024)] = {0x01, 0x01};
	memcpy(want37 + 2, server_init_1024, sizeof(server_init_1024));
	expect(f, want37, sizeof(want37));
	/* 3.3: the server picks None. */
	open_session(f, IPKVM_RFB_PREAUTH, &auth);
	drain(f);
	f->out_len = 0;
	feed_ok(f, "RFB 003.003\n\x01", 13);
	uint8_t want[4 + sizeof(server_init_1024)] = {0, 0, 0, 1};
	memcpy(want + 4, server_init_1024, sizeof(server_init_1024));
	expect(f, want, sizeof(want));
	/* The session ended (logout): refused, and a running one ends. */
	ipkvm_authsvc_session_close(f->a, auth.session_id);
	assert_false(ipkvm_rfb_session_recheck(f->s));
	assert_true(ipkvm_rfb_session_closing(f->s));
	open_session(f, IPKVM_RFB_PREAUTH, &auth);
	drain(f);
	f->out_len = 0;
	assert_true(feed(f, "RFB 003.008\n\x01", 13) < 0);
	uint8_t fail[64] = {0x01, 0x01, 0, 0, 0, 1};
	size_t n = 6 + reason(fail + 6, "the session has ended");
	expect(f, fail, n);
}

/* A carried session acts as its identity from the start: a logout while the client is still
 * in the handshake ends it (the auth watcher's recheck and the tick both). */
static void test_preauth_logout_during_handshake(void **state)
{
	struct fx *f = *state;
	struct ipkvm_auth auth;
	char token[IPKVM_SESSION_TOKEN_LEN + 1];
	assert_int_equal(ipkvm_authsvc_session_open(f->a, "op", token, &auth, NULL), 0);
	open_session(f, IPKVM_RFB_PREAUTH, &auth);
	feed_ok(f, "RFB 003.008\n", 12);
	assert_false(ipkvm_rfb_session_authenticated(f->s));
	assert_true(ipkvm_rfb_session_recheck(f->s));
	assert_true(ipkvm_rfb_session_tick(f->s));
	ipkvm_authsvc_session_close(f->a, auth.session_id);
	assert_false(ipkvm_rfb_session_recheck(f->s));
	assert_true(ipkvm_rfb_session_closing(f->s));
	/* The tick sees it too (a session the watcher missed). */
	assert_int_equal(ipkvm_authsvc_session_open(f->a, "op", token, &auth, NULL), 0);
	open_session(f, IPKVM_RFB_PREAUTH, &auth);
	ipkvm_authsvc_session_close(f->a, auth.session_id);
	assert_false(ipkvm_rfb_session_tick(f->s));
	assert_true(ipkvm_rfb_session_closing(f->s));
}

static void test_handshake_deadline(void **state)
{
	struct fx *f = *state;
	open_session(f, IPKVM_RFB_TCP, NULL);
	feed_ok(f, "RFB 003.008\n", 12);
	f->now += 9999;
	assert_true(ipkvm_rfb_session_tick(f->s));
	f->now += 1;
	assert_false(ipkvm_rfb_session_tick(f->s));
	assert_true(ipkvm_rfb_session_closing(f->s));
	/* Authenticated without ClientInit is not done either. */
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, false);
	uint8_t m[600];
	feed_ok(f, m, plain(m, "op", OP_PW));
	f->now += 10000;
	assert_false(ipkvm_rfb_session_tick(f->s));
	/* Done in time: no deadline after. */
	login(f, "op", OP_PW);
	f->now += 60000;
	assert_true(ipkvm_rfb_session_tick(f->s));
}

static void test_user_changes_end_session(void **state)
{
	struct fx *f = *state;
	login(f, "op", OP_PW);
	assert_true(ipkvm_rfb_session_recheck(f->s));
	/* Demoted: the auth session ends, and with it this one. */
	enum ipkvm_authsvc_status st = IPKVM_AUTHSVC_FAILED;
	struct ipkvm_auth admin = {.kind = IPKVM_AUTH_SESSION, .role = IPKVM_ROLE_ADMIN};
	snprintf(admin.user, sizeof(admin.user), "admin");
	struct ipkvm_authsvc_caller by = {.auth = &admin, .addr = "", .via = "test"};
	ipkvm_authsvc_user_set(f->a, &by, "op", NULL, true, IPKVM_ROLE_VIEWER, on_done, &st);
	assert_int_equal(st, IPKVM_AUTHSVC_OK);
	assert_false(ipkvm_rfb_session_tick(f->s));
	assert_true(ipkvm_rfb_session_closing(f->s));
}

/* --- client messages -------------------------------------------------------------------- */

/* Every client message we take, back to back. */
static size_t all_messages(uint8_t *m)
{
	size_t n = 0;
	/* SetPixelFormat: 16 bpp 565 */
	const uint8_t spf[20] = {0, 0, 0, 0, 16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0};
	memcpy(m + n, spf, 20);
	n += 20;
	/* SetEncodings: Tight, ZRLE, Raw, quality 6, Fence, ContinuousUpdates, unknown 1234 */
	const uint8_t se[4 + 7 * 4] = {2,    0,	   0,	 7,    0,    0,	   0,	 7,
				       0,    0,	   0,	 16,   0,    0,	   0,	 0,
				       0xff, 0xff, 0xff, 0xe6, 0xff, 0xff, 0xfe, 0xc8,
				       0xff, 0xff, 0xfe, 0xc7, 0,    0,	   0x04, 0xd2};
	memcpy(m + n, se, sizeof(se));
	n += sizeof(se);
	const uint8_t fbur[10] = {3, 1, 0, 0, 0, 0, 4, 0, 3, 0};
	memcpy(m + n, fbur, 10);
	n += 10;
	const uint8_t key[8] = {4, 1, 0, 0, 0, 0, 0, 'a'};
	memcpy(m + n, key, 8);
	n += 8;
	const uint8_t keyup[8] = {4, 0, 0, 0, 0, 0, 0, 'a'};
	memcpy(m + n, keyup, 8);
	n += 8;
	const uint8_t ptr[6] = {5, 1, 0, 10, 0, 20};
	memcpy(m + n, ptr, 6);
	n += 6;
	const uint8_t ptrup[6] = {5, 0, 0, 10, 0, 20};
	memcpy(m + n, ptrup, 6);
	n += 6;
	const uint8_t cut[8 + 2] = {6, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'};
	memcpy(m + n, cut, sizeof(cut));
	n += sizeof(cut);
	const uint8_t cont[10] = {150, 0, 0, 0, 0, 0, 4, 0, 3, 0};
	memcpy(m + n, cont, 10);
	n += 10;
	const uint8_t fence[9 + 3] = {248, 0, 0, 0, 0x80, 0, 0, 0x0f, 3, 'a', 'b', 'c'};
	memcpy(m + n, fence, sizeof(fence));
	n += sizeof(fence);
	const uint8_t sds[8 + 16] = {251, 0, 4, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0};
	memcpy(m + n, sds, sizeof(sds));
	n += sizeof(sds);
	const uint8_t qkey[12] = {255, 0, 0, 1, 0, 0, 0, 'b', 0, 0, 0, 0x30};
	memcpy(m + n, qkey, 12);
	n += 12;
	const uint8_t qkeyup[12] = {255, 0, 0, 0, 0, 0, 0, 'b', 0, 0, 0, 0x30};
	memcpy(m + n, qkeyup, 12);
	n += 12;
	return n;
}

/* What the session answers to all_messages() (no video: no picture). */
static const uint8_t all_answers[] = {
    150,					      /* EndOfContinuousUpdates: supported */
    248, 0, 0, 0, 0x80, 0, 0, 0,    0,		      /* ServerFence (request) */
    150,					      /* EnableContinuousUpdates off */
    248, 0, 0, 0, 0,	0, 0, 0x07, 3, 'a', 'b', 'c', /* the fence answered */
};

/* Reads every report waiting on a host end; returns how many. */
static int reports(int fd, uint8_t last[16])
{
	int n = 0;
	uint8_t r[16];
	ssize_t len;
	while ((len = read(fd, r, sizeof(r))) > 0) {
		if (last)
			memcpy(last, r, (size_t)len);
		n++;
	}
	return n;
}

static void test_messages_whole_and_split(void **state)
{
	struct fx *f = *state;
	uint8_t m[512];
	size_t n = all_messages(m);
	login(f, "op", OP_PW);
	feed_ok(f, m, n);
	expect(f, all_answers, sizeof(all_answers));
	assert_false(ipkvm_rfb_session_closing(f->s));
	int keys = reports(f->host_kbd, NULL), ptr = reports(f->host_abs, NULL);
	assert_true(keys >= 4); /* a, b down and up; cut text typing starts */
	assert_true(ptr >= 2);
	/* The same, one byte at a time: the same answer. */
	login(f, "op", OP_PW);
	feed_split(f, m, n);
	/* Fence and ContinuousUpdates were told once per session: this session tells again. */
	expect(f, all_answers, sizeof(all_answers));
	assert_false(ipkvm_rfb_session_closing(f->s));
	/* Told once: a second SetEncodings with them says nothing more. */
	const uint8_t se[4 + 8] = {2, 0, 0, 2, 0xff, 0xff, 0xfe, 0xc8, 0xff, 0xff, 0xfe, 0xc7};
	feed_ok(f, se, sizeof(se));
	expect_nothing(f);
	/* A truncated message waits for the rest. */
	for (size_t i = 1; i < 8; i++) {
		const uint8_t key[8] = {4, 1, 0, 0, 0, 0, 0, 'c'};
		feed_ok(f, key, i);
		feed_ok(f, key + i, 8 - i);
	}
	assert_false(ipkvm_rfb_session_closing(f->s));
}

static void bad_message(struct fx *f, const void *m, size_t len)
{
	login(f, "op", OP_PW);
	assert_true(feed(f, m, len) < 0);
	assert_true(ipkvm_rfb_session_closing(f->s));
	expect_nothing(f);
	assert_false(ipkvm_rfb_session_tick(f->s) && false);
}

static void test_bad_messages(void **state)
{
	struct fx *f = *state;
	/* SetEncodings with more than 1024 */
	bad_message(f, "\x02\x00\x04\x01", 4);
	/* A fence payload over 64 */
	bad_message(f, "\xf8\x00\x00\x00\x80\x00\x00\x00\x41", 9);
	/* unknown types, an unknown QEMU subtype, xvp */
	bad_message(f, "\x07", 1);
	bad_message(f, "\xff\x01", 2);
	bad_message(f, "\xfa\x00\x01\x02", 4);
	/* pixel formats we do not serve: 24 bpp, a colour map */
	bad_message(
	    f, "\x00\x00\x00\x00\x18\x18\x00\x01\x00\xff\x00\xff\x00\xff\x10\x08\x00\x00\x00\x00",
	    20);
	bad_message(
	    f, "\x00\x00\x00\x00\x08\x08\x00\x00\x00\x07\x00\x07\x00\x03\x00\x03\x06\x00\x00\x00",
	    20);
	/* After the end, input is refused. */
	assert_true(feed(f, "\x03\x01\0\0\0\0\0\x10\0\x10", 10) < 0);
	/* The largest SetEncodings we take is fine. */
	login(f, "op", OP_PW);
	uint8_t *big = calloc(1, 4 + 4 * 1024);
	assert_non_null(big);
	big[0] = 2;
	big[2] = 0x04;
	big[3] = 0x00;
	feed_ok(f, big, 4 + 4 * 1024);
	free(big);
	assert_false(ipkvm_rfb_session_closing(f->s));
}

static void test_view_only(void **state)
{
	struct fx *f = *state;
	login(f, "view", VIEW_PW);
	reports(f->host_kbd, NULL);
	reports(f->host_abs, NULL);
	uint8_t m[512];
	size_t n = all_messages(m);
	feed_ok(f, m, n);
	expect(f, all_answers, sizeof(all_answers));
	assert_int_equal(reports(f->host_kbd, NULL), 0);
	assert_int_equal(reports(f->host_abs, NULL), 0);
	assert_false(ipkvm_paste_busy(f->paste));
	assert_false(ipkvm_rfb_session_closing(f->s));
}

static void test_keys_and_pointer(void **state)
{
	struct fx *f = *state;
	login(f, "op", OP_PW);
	uint8_t r[16];
	/* 'A' (keysym 0x41) needs Shift on a us target: Shift + KeyA (usage 4). */
	feed_ok(f, "\x04\x01\x00\x00\x00\x00\x00\x41", 8);
	assert_true(reports(f->host_kbd, r) >= 1);
	assert_int_equal(r[0], 0x02); /* left shift */
	assert_int_equal(r[2], 0x04);
	/* QEMU extended key: XT 0x1e is KeyA, pressed as is. */
	feed_ok(f, "\xff\x00\x00\x01\x00\x00\x00\x61\x00\x00\x00\x1e", 12);
	reports(f->host_kbd, r);
	/* Pointer to the bottom right of 1024x768: 32767, 32767, left button. */
	feed_ok(f, "\x05\x01\x03\xff\x02\xff", 6);
	assert_true(reports(f->host_abs, r) >= 1);
	assert_int_equal(r[0], 0x01);
	assert_int_equal(r[1] | r[2] << 8, 32767);
	assert_int_equal(r[3] | r[4] << 8, 32767);
	/* The middle, wheel up (button 4 pressed: one step). */
	feed_ok(f, "\x05\x09\x01\xff\x01\x7f", 6);
	assert_true(reports(f->host_abs, r) >= 1);
	assert_int_equal(r[1] | r[2] << 8, 511 * 32767 / 1023);
	assert_int_equal((int8_t)r[5], 1);
	/* Relative mode: deltas. */
	assert_int_equal(ipkvm_hid_set_mouse_mode(f->hid, "relative"), 0);
	feed_ok(f, "\x05\x01\x02\x09\x01\x7c", 6); /* +10, -3 */
	assert_true(reports(f->host_rel, r) >= 1);
	assert_int_equal((int8_t)r[1], 10);
	assert_int_equal((int8_t)r[2], -3);
	/* Going away releases what it holds: the keys and the button. */
	reports(f->host_kbd, NULL);
	ipkvm_rfb_session_free(f->s);
	f->s = NULL;
	assert_true(reports(f->host_kbd, r) >= 1);
	assert_memory_equal(r, "\0\0\0\0\0\0\0\0", 8);
	assert_true(reports(f->host_rel, r) >= 1);
	assert_int_equal(r[0], 0);
	assert_false(ipkvm_hid_any_pressed(f->hid));
}

static void test_cut_text(void **state)
{
	struct fx *f = *state;
	login(f, "op", OP_PW);
	/* Over 1 MiB: read to the end, in pieces, and not typed. */
	size_t len = (1u << 20) + 10;
	uint8_t hdr[8] = {6, 0, 0, 0};
	be32_put(hdr + 4, (uint32_t)len);
	feed_ok(f, hdr, 8);
	uint8_t *text = malloc(len + 8);
	assert_non_null(text);
	memset(text, 'x', len);
	for (size_t off = 0; off < len; off += 65536)
		feed_ok(f, text + off, len - off < 65536 ? len - off : 65536);
	assert_false(ipkvm_paste_busy(f->paste));
	/* The next message is read as one: the text's end was found. */
	feed_ok(f, "\x96\x00\0\0\0\0\0\0\0\0", 10);
	expect(f, "\x96", 1);
	/* Exactly 1 MiB is typed (the paste engine takes it). */
	be32_put(hdr + 4, 1u << 20);
	memcpy(text, hdr, 8);
	memset(text + 8, 'y', 1u << 20);
	feed_ok(f, text, 8 + (1u << 20));
	assert_true(ipkvm_paste_busy(f->paste));
	/* Latin-1 while one is under way: busy, not typed, no harm. */
	feed_ok(f, "\x06\0\0\0\0\0\0\x02\xe9\x0a", 10);
	assert_false(ipkvm_rfb_session_closing(f->s));
	uint64_t id;
	size_t typed, total;
	assert_int_equal(ipkvm_paste_cancel(f->paste, &id, &typed, &total), 0);
	assert_int_equal(total, 1u << 20); /* a stroke per 'y' */
	free(text);
}

static void test_set_desktop_size_prohibited(void **state)
{
	struct fx *f = *state;
	login(f, "op", OP_PW);
	/* ExtendedDesktopSize listed; a SetDesktopSize; an incremental request. */
	feed_ok(f, "\x02\x00\x00\x01\xff\xff\xfe\xcc", 8);
	const uint8_t sds[8 + 16] = {251, 0, 3, 0, 2, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3, 0, 2, 0};
	feed_ok(f, sds, sizeof(sds));
	expect_nothing(f); /* no request yet */
	feed_ok(f, "\x03\x01\x00\x00\x00\x00\x04\x00\x03\x00", 10);
	const uint8_t want[] = {0,    0,    0,	  1, /* FramebufferUpdate, 1 rectangle */
				0,    1,    0,	  1, /* x = 1 (this client), y = 1 (prohibited) */
				0x04, 0x00, 0x03, 0x00,		    /* the size as it is */
				0xff, 0xff, 0xfe, 0xcc,		    /* ExtendedDesktopSize */
				1,    0,    0,	  0,		    /* one screen */
				0,    0,    0,	  1,	0, 0, 0, 0, /* id 1 */
				0x04, 0x00, 0x03, 0x00, 0, 0, 0, 0};
	expect(f, want, sizeof(want));
}

static void test_leds_and_acks(void **state)
{
	struct fx *f = *state;
	login(f, "op", OP_PW);
	/* QEMU LED State, QEMU Extended Key Event, Cursor: each once, in the first update. */
	const uint8_t se[4 + 12] = {2,	  0,	0,    3,    0xff, 0xff, 0xfe, 0xfb,
				    0xff, 0xff, 0xfe, 0xfe, 0xff, 0xff, 0xff, 0x11};
	feed_ok(f, se, sizeof(se));
	feed_ok(f, "\x03\x01\x00\x00\x00\x00\x04\x00\x03\x00", 10);
	drain(f);
	/* header + cursor (12 + a transparent 1x1: 4 pixel bytes, 1 mask byte) + key ack (12)
	 * + LED (12 + 1) */
	assert_int_equal(f->out_len, 4 + 17 + 12 + 13);
	assert_memory_equal(f->out, "\x00\x00\x00\x03", 4);
	assert_memory_equal(f->out + 4 + 8, "\xff\xff\xff\x11", 4);
	assert_memory_equal(f->out + 4 + 12 + 4, "\x00", 1); /* the mask: nothing shown */
	assert_memory_equal(f->out + 21 + 8, "\xff\xff\xfe\xfe", 4);
	assert_memory_equal(f->out + 33 + 8, "\xff\xff\xfe\xfb", 4);
	assert_int_equal(f->out[45], 0); /* all off */
	f->out_len = 0;
	/* Nothing changed: the next request waits. */
	feed_ok(f, "\x03\x01\x00\x00\x00\x00\x04\x00\x03\x00", 10);
	ipkvm_rfb_session_kick(f->s);
	expect_nothing(f);
}

/* --- pictures --------------------------------------------------------------------------- */

static void on_frame(void *ctx)
{
	struct fx *f = ctx;
	uint64_t one = 1;
	ssize_t r = write(f->wake_fd, &one, sizeof(one));
	(void)r;
}

static void start_video(struct fx *f)
{
	f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(f->wake_fd >= 0);
	char err[256];
	struct ipkvm_video_config vc = {
	    .source = "pattern",
	    .pattern = {.width = 320, .height = 240, .fps = 30, .scene = "static"},
	    .quality = 80,
	    .max_fps = 30,
	    .workers = 1};
	f->video = ipkvm_video_create(&vc, on_frame, f, err, sizeof(err));
	assert_non_null(f->video);
	assert_int_equal(ipkvm_video_start(f->video), 0);
	f->svc.video = f->video;
}

/* Waits (at most 5 s) until the pipeline has an image. */
static void wait_image(struct fx *f, struct ipkvm_video_image *img)
{
	for (int i = 0; i < 50; i++) {
		if (ipkvm_video_latest(f->video, img) && !img->placeholder)
			return;
		struct pollfd p = {.fd = f->wake_fd, .events = POLLIN};
		poll(&p, 1, 100);
		uint64_t v;
		ssize_t r = read(f->wake_fd, &v, sizeof(v));
		(void)r;
	}
	fail_msg("no image from the pipeline");
}

/* The next update is img as Tight JPEG: exact header bytes, and the JPEG sent from the
 * pipeline's buffer itself (not a copy). */
static void expect_tight(struct fx *f, const struct ipkvm_video_image *img)
{
	const unsigned char *d;
	size_t n = ipkvm_rfb_session_peek(f->s, &d);
	size_t jlen = img->part->len - img->jpeg_offset;
	uint8_t want[32] = {0,	 0, 0, 1, /* FramebufferUpdate, one rectangle */
			    0,	 0, 0, 0, 0x01, 0x40, 0x00, 0xf0, /* 0, 0, 320 x 240 */
			    0,	 0, 0, 7,			  /* Tight */
			    0x90};				  /* JPEG */
	size_t wn = 17;
	/* Tight's compact length: 7 bits a byte, low first, the high bit says "more". */
	want[wn++] = (uint8_t)((jlen & 0x7f) | (jlen > 0x7f ? 0x80 : 0));
	if (jlen > 0x7f)
		want[wn++] = (uint8_t)(((jlen >> 7) & 0x7f) | (jlen > 0x3fff ? 0x80 : 0));
	if (jlen > 0x3fff)
		want[wn++] = (uint8_t)(jlen >> 14);
	assert_int_equal(n, wn);
	assert_memory_equal(d, want, wn);
	ipkvm_rfb_session_consumed(f->s, n);
	n = ipkvm_rfb_session_peek(f->s, &d);
	assert_int_equal(n, jlen);
	assert_ptr_equal(d, img->part->data + img->jpeg_offset);
	ipkvm_rfb_session_consumed(f->s, n);
	assert_int_equal(ipkvm_rfb_session_peek(f->s, &d), 0);
}

static void test_tight_jpeg_update(void **state)
{
	struct fx *f = *state;
	start_video(f);
	/* A viewer watching keeps the pipeline encoding. */
	ipkvm_video_watch(f->video, 1);
	struct ipkvm_video_image img;
	wait_image(f, &img);
	ipkvm_video_image_release(&img);
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, false);
	uint8_t m[600];
	feed_ok(f, m, plain(m, "op", OP_PW));
	expect(f, "\0\0\0\0", 4);
	feed_ok(f, "\x01", 1);
	drain(f);
	assert_memory_equal(f->out, "\x01\x40\x00\xf0", 4); /* 320 x 240 from the start */
	f->out_len = 0;
	/* Tight, then Raw, no quality level: the pipeline's own JPEG. */
	const uint8_t se[4 + 8] = {2, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0};
	feed_ok(f, se, sizeof(se));
	feed_ok(f, "\x03\x00\x00\x00\x00\x00\x01\x40\x00\xf0", 10);
	assert_true(ipkvm_video_latest(f->video, &img));
	expect_tight(f, &img);
	ipkvm_video_image_release(&img);
	/* Quality level 0 (JPEG quality 15): an image the pipeline makes at that quality. */
	const uint8_t se0[4 + 12] = {2, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xe0};
	feed_ok(f, se0, sizeof(se0));
	for (int i = 0; i < 50; i++) {
		if (ipkvm_video_latest_quality(f->video, 15, &img) && img.quality == 15)
			break;
		ipkvm_video_image_release(&img);
		memset(&img, 0, sizeof(img));
		struct pollfd p = {.fd = f->wake_fd, .events = POLLIN};
		poll(&p, 1, 100);
		uint64_t v;
		ssize_t r = read(f->wake_fd, &v, sizeof(v));
		(void)r;
	}
	assert_int_equal(img.quality, 15);
	feed_ok(f, "\x03\x00\x00\x00\x00\x00\x01\x40\x00\xf0", 10);
	expect_tight(f, &img);
	ipkvm_video_image_release(&img);
	const unsigned char *d;
	/* An incremental request on a still screen: nothing until the picture changes. */
	feed_ok(f, "\x03\x01\x00\x00\x00\x00\x01\x40\x00\xf0", 10);
	ipkvm_rfb_session_kick(f->s);
	assert_int_equal(ipkvm_rfb_session_peek(f->s, &d), 0);
	/* Raw first now: the whole frame in the client's format (32 bpp: 320*240*4). */
	const uint8_t raw[4 + 4] = {2, 0, 0, 1, 0, 0, 0, 0};
	feed_ok(f, raw, sizeof(raw));
	ipkvm_rfb_session_kick(f->s);
	drain(f);
	assert_int_equal(f->out_len, 4 + 12 + 320 * 240 * 4);
	assert_memory_equal(f->out,
			    "\x00\x00\x00\x01\x00\x00\x00\x00\x01\x40\x00\xf0\x00\x00\x00\x00", 16);
	ipkvm_video_watch(f->video, -1);
}

/* Logs in with a video that has no picture yet, starts it, and waits for the first image. */
static void login_before_picture(struct fx *f, const uint8_t *encodings, size_t len)
{
	f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(f->wake_fd >= 0);
	char err[256];
	struct ipkvm_video_config vc = {
	    .source = "pattern",
	    .pattern = {.width = 320, .height = 240, .fps = 30, .scene = "static"},
	    .quality = 80,
	    .max_fps = 30,
	    .workers = 1};
	f->video = ipkvm_video_create(&vc, on_frame, f, err, sizeof(err));
	assert_non_null(f->video);
	f->svc.video = f->video;
	login(f, "op", OP_PW); /* ServerInit says 1024x768: no picture yet */
	feed_ok(f, encodings, len);
	feed_ok(f, "\x03\x00\x00\x00\x00\x00\x04\x00\x03\x00", 10);
	assert_int_equal(ipkvm_video_start(f->video), 0);
	struct ipkvm_video_image img;
	wait_image(f, &img);
	ipkvm_video_image_release(&img);
}

static void test_size_change_then_picture(void **state)
{
	struct fx *f = *state;
	/* Tight, DesktopSize */
	const uint8_t se[4 + 8] = {2, 0, 0, 2, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0x21};
	login_before_picture(f, se, sizeof(se));
	expect_nothing(f); /* the request waits for a picture */
	ipkvm_rfb_session_kick(f->s);
	/* The size alone, in its own update. */
	const uint8_t want[] = {0,    0,    0,	  1,	0,    0,    0,	  0,
				0x01, 0x40, 0x00, 0xf0, 0xff, 0xff, 0xff, 0x21};
	expect(f, want, sizeof(want));
	/* The client's next request, even incremental, gets the whole picture. */
	feed_ok(f, "\x03\x01\x00\x00\x00\x00\x01\x40\x00\xf0", 10);
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(f->video, &img));
	expect_tight(f, &img);
	ipkvm_video_image_release(&img);
}

static void test_ext_desktop_size_and_continuous(void **state)
{
	struct fx *f = *state;
	/* Tight, ExtendedDesktopSize, DesktopSize, ContinuousUpdates */
	const uint8_t se[4 + 16] = {2,	  0,	0,    4,    0,	  0,	0,    7,    0xff, 0xff,
				    0xfe, 0xcc, 0xff, 0xff, 0xff, 0x21, 0xff, 0xff, 0xfe, 0xc7};
	uint8_t se3[4 + 12];
	memcpy(se3, se, sizeof(se3));
	se3[3] = 3; /* the same without ContinuousUpdates */
	login_before_picture(f, se3, sizeof(se3));
	/* The non-incremental request is answered with the screen layout at once (ServerInit's
	 * 1024x768 then); once that has left, the picture's size, ExtendedDesktopSize winning
	 * over DesktopSize: a server change, ok, one screen of 320x240. */
	const uint8_t want[] = {0,    0,    0,	  1,	0,    0,    0, 0, 0x04, 0x00,
				0x03, 0x00, 0xff, 0xff, 0xfe, 0xcc, 1, 0, 0,	0,
				0,    0,    0,	  1,	0,    0,    0, 0, 0x04, 0x00,
				0x03, 0x00, 0,	  0,	0,    0, /* the layout as it was */
				0,    0,    0,	  1,	0,    0,    0, 0, 0x01, 0x40,
				0x00, 0xf0, 0xff, 0xff, 0xfe, 0xcc, 1, 0, 0,	0,
				0,    0,    0,	  1,	0,    0,    0, 0, 0x01, 0x40,
				0x00, 0xf0, 0,	  0,	0,    0}; /* the new size; screen id 1 */
	expect(f, want, sizeof(want));
	/* ContinuousUpdates listed: EndOfContinuousUpdates says it is supported. */
	feed_ok(f, se, sizeof(se));
	expect(f, "\x96", 1);
	/* Enabled: the picture comes without a request. */
	feed_ok(f, "\x96\x01\x00\x00\x00\x00\x01\x40\x00\xf0", 10);
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(f->video, &img));
	expect_tight(f, &img);
	ipkvm_video_image_release(&img);
	/* Incremental requests are ignored while it runs; disabling answers at once. */
	feed_ok(f, "\x03\x01\x00\x00\x00\x00\x01\x40\x00\xf0", 10);
	ipkvm_rfb_session_kick(f->s);
	expect_nothing(f);
	feed_ok(f, "\x96\x00\x00\x00\x00\x00\x01\x40\x00\xf0", 10);
	expect(f, "\x96", 1);
}

static void test_zrle_whole_then_nothing_on_a_still_screen(void **state)
{
	struct fx *f = *state;
	start_video(f);
	ipkvm_video_watch(f->video, 1);
	struct ipkvm_video_image img;
	wait_image(f, &img);
	ipkvm_video_image_release(&img);
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, false);
	uint8_t m[600];
	feed_ok(f, m, plain(m, "op", OP_PW));
	feed_ok(f, "\x01", 1);
	drain(f);
	assert_memory_equal(f->out + 4, "\x01\x40\x00\xf0", 4); /* after SecurityResult */
	f->out_len = 0;
	/* ZRLE only (Tight not listed): the whole frame as one ZRLE rectangle. */
	feed_ok(f, "\x02\x00\x00\x01\x00\x00\x00\x10", 8);
	feed_ok(f, "\x03\x00\x00\x00\x00\x00\x01\x40\x00\xf0", 10);
	drain(f);
	assert_true(f->out_len > 20);
	assert_memory_equal(f->out,
			    "\x00\x00\x00\x01\x00\x00\x00\x00\x01\x40\x00\xf0\x00\x00\x00\x10", 16);
	uint32_t zlen = (uint32_t)f->out[16] << 24 | (uint32_t)f->out[17] << 16 |
			(uint32_t)f->out[18] << 8 | f->out[19];
	assert_int_equal(f->out_len, 20 + zlen);
	f->out_len = 0;
	/* A still screen: an incremental request waits. */
	feed_ok(f, "\x03\x01\x00\x00\x00\x00\x01\x40\x00\xf0", 10);
	ipkvm_rfb_session_kick(f->s);
	expect_nothing(f);
	ipkvm_video_watch(f->video, -1);
}

/* A session logged in as op, past ServerInit (whatever its size), with these encodings. */
static void login_any_size(struct fx *f, const void *encodings, size_t len)
{
	open_session(f, IPKVM_RFB_TCP, NULL);
	vencrypt_to_tls(f, false);
	uint8_t m[600];
	feed_ok(f, m, plain(m, "op", OP_PW));
	feed_ok(f, "\x01", 1);
	drain(f);
	f->out_len = 0;
	feed_ok(f, encodings, len);
}

/* The first rectangle header of the update in f->out: x, y, w, h, encoding. */
static void first_rect(const struct fx *f, unsigned r[5])
{
	assert_true(f->out_len >= 16);
	assert_int_equal(f->out[0], 0);
	for (int i = 0; i < 4; i++)
		r[i] = (unsigned)f->out[4 + 2 * i] << 8 | f->out[5 + 2 * i];
	r[4] = (unsigned)f->out[12] << 24 | (unsigned)f->out[13] << 16 | (unsigned)f->out[14] << 8 |
	       f->out[15];
}

/* A picture wider than Tight's 2048 pixels: ZRLE when the client listed it (else Raw), the
 * whole frame for a full request, and only the changed tiles for an incremental one. */
static void test_too_wide_for_tight(void **state)
{
	struct fx *f = *state;
	f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(f->wake_fd >= 0);
	char err[256];
	struct ipkvm_video_config vc = {
	    .source = "pattern",
	    .pattern = {.width = 2112, .height = 240, .fps = 30, .scene = "desktop"},
	    .quality = 80,
	    .max_fps = 30,
	    .workers = 1};
	f->video = ipkvm_video_create(&vc, on_frame, f, err, sizeof(err));
	assert_non_null(f->video);
	assert_int_equal(ipkvm_video_start(f->video), 0);
	f->svc.video = f->video;
	ipkvm_video_watch(f->video, 1);
	struct ipkvm_video_image img;
	wait_image(f, &img);
	assert_int_equal(img.width, 2112);
	ipkvm_video_image_release(&img);
	static const uint8_t full[] = {3, 0, 0, 0, 0, 0, 0x08, 0x40, 0x00, 0xf0};
	static const uint8_t inc[] = {3, 1, 0, 0, 0, 0, 0x08, 0x40, 0x00, 0xf0};
	unsigned r[5];

	/* Tight and ZRLE listed: the whole frame as ZRLE. */
	login_any_size(f, "\x02\x00\x00\x02\x00\x00\x00\x07\x00\x00\x00\x10", 12);
	feed_ok(f, full, sizeof(full));
	drain(f);
	first_rect(f, r);
	assert_int_equal(r[0], 0);
	assert_int_equal(r[1], 0);
	assert_int_equal(r[2], 2112);
	assert_int_equal(r[3], 240);
	assert_int_equal(r[4], 16);
	/* Incremental: once the desktop's typing changed the screen, only its tiles. */
	f->out_len = 0;
	feed_ok(f, inc, sizeof(inc));
	for (int i = 0; i < 50 && !f->out_len; i++) {
		struct pollfd p = {.fd = f->wake_fd, .events = POLLIN};
		poll(&p, 1, 100);
		uint64_t v;
		ssize_t n = read(f->wake_fd, &v, sizeof(v));
		(void)n;
		ipkvm_rfb_session_kick(f->s);
		drain(f);
	}
	first_rect(f, r);
	assert_int_equal(r[4], 16);
	assert_true((uint64_t)r[2] * r[3] < 2112u * 240u / 2);

	/* Tight only: the whole frame as Raw, 4 bytes a pixel. */
	login_any_size(f, "\x02\x00\x00\x01\x00\x00\x00\x07", 8);
	feed_ok(f, full, sizeof(full));
	drain(f);
	first_rect(f, r);
	assert_int_equal(r[2], 2112);
	assert_int_equal(r[3], 240);
	assert_int_equal(r[4], 0);
	assert_true(f->out_len >= 16 + 2112u * 240u * 4u);
	ipkvm_video_watch(f->video, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vncauth_vectors),
	    cmocka_unit_test_setup_teardown(test_38_vencrypt_plain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_38_split_at_every_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_37_vencrypt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_subtype_and_anonymous_audit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_33, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_versions_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_none_refused_on_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_password_and_throttle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_totp_user_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plain_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vencrypt_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vncauth_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_preauth_none, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_preauth_logout_during_handshake, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handshake_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_changes_end_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_messages_whole_and_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_messages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_view_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_and_pointer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cut_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_desktop_size_prohibited, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leds_and_acks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tight_jpeg_update, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_change_then_picture, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ext_desktop_size_and_continuous, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_wide_for_tight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zrle_whole_then_nothing_on_a_still_screen, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
