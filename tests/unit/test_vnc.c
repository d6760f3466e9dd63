/*
 * Unit tests for vnc/vnc, the VNC front end, with the real protocol engine (rfb.c) on a real
 * loop, over real sockets on 127.0.0.1: the loop runs on a thread of its own, the test's
 * clients are plain blocking sockets (every read bounded by a receive timeout) on the main
 * thread, and everything the front end does runs on the loop's thread (ticks and looks at
 * its figures go through a wake and are waited for). The sessions' clock is the test's.
 *
 *   - the server speaks first: "RFB 003.008\n" before the client sends anything;
 *   - [vnc] max_clients: one more connection is closed at once, without a byte; a place
 *     freed is taken again;
 *   - at most 8 connections per address that have not authenticated: the 9th from
 *     127.0.0.1 is closed, one from 127.0.0.2 is served;
 *   - a client that never finishes the handshake is still served at 9 s and cut at 10 s;
 *   - a client that authenticated (VeNCrypt X509Plain: TLS, then user and password), asks
 *     for many full updates and never reads, does not delay another client's whole
 *     handshake, TLS included, nor its first update; the stalled one's data waits in its
 *     socket;
 *   - the TLS the port speaks: TLS 1.2 or newer with the daemon's certificate, never an
 *     anonymous suite (a client offering only those fails its handshake); a reload (SIGHUP)
 *     gives new connections the pair on disk, and keeps the served one over a broken pair;
 *   - [vnc] anonymous_tls: TLSPlain's handshake also takes anonymous suites (TLS 1.2), a
 *     client that offers certificate suites still gets the certificate, X509Plain never;
 *   - the gateway: carried sessions are offered None, count against max_clients, end when
 *     their login ends (the carrier is told) and when the front end stops.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/authsvc.h"
#include "core/config.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/loop.h"
#include "daemon/services.h"
#include "hid/layout.h"
#include "tls/cert.h"
#include "video/frame.h"
#include "video/video.h"
#include "vnc/vnc.h"

struct fx {
	char dir[64];
	struct ipkvm_config cfg;
	struct ipkvm_services svc;
	struct ipkvm_loop *loop;
	struct ipkvm_vnc *vnc;
	struct ipkvm_loop_wake *job_wake, *frames_wake;
	struct ipkvm_loop_timer *watchdog;
	pthread_t thread;
	sem_t job_done;
	void (*job)(struct fx *f); /* what the loop's thread runs next */
	_Atomic int64_t clock_ms;
	bool threaded;	/* the loop runs on its own thread */
	size_t clients; /* copied by the "clients" job */
	char admin_pw[64];
};

static int64_t fake_now(void *ctx)
{
	struct fx *f = ctx;
	return atomic_load(&f->clock_ms);
}

static void run_job(void *ctx)
{
	struct fx *f = ctx;
	f->job(f);
	sem_post(&f->job_done);
}

/* Runs fn on the loop's thread and waits for it. */
static void on_loop(struct fx *f, void (*fn)(struct fx *f))
{
	f->job = fn;
	ipkvm_loop_wake(f->job_wake);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	assert_int_equal(sem_timedwait(&f->job_done, &ts), 0);
}

static void job_tick(struct fx *f)
{
	ipkvm_vnc_tick(f->vnc);
}

static void job_reload(struct fx *f)
{
	ipkvm_vnc_reload_tls(f->vnc);
}

static void job_clients(struct fx *f)
{
	f->clients = ipkvm_vnc_info(f->vnc)->clients;
}

static size_t clients(struct fx *f)
{
	on_loop(f, job_clients);
	return f->clients;
}

/* Waits (bounded) until the front end has n sessions: it sees a client's close on its next
 * pass. */
static void wait_clients(struct fx *f, size_t n)
{
	for (int i = 0; i < 2000 && clients(f) != n; i++)
		usleep(1000);
	assert_int_equal(clients(f), n);
}

/* The pattern source's images wake the sessions, as the daemon's video wake does. */
static void frames_ready(void *ctx)
{
	struct fx *f = ctx;
	ipkvm_vnc_frames_ready(f->vnc);
}

static void video_wake(void *ctx)
{
	struct fx *f = ctx;
	ipkvm_loop_wake(f->frames_wake);
}

static void watchdog(void *ctx)
{
	struct fx *f = ctx;
	fprintf(stderr, "test_vnc: watchdog: the loop ran too long\n");
	ipkvm_loop_stop(f->loop);
}

static void *loop_thread(void *arg)
{
	struct fx *f = arg;
	ipkvm_loop_run(f->loop);
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int start(void **state, int max_clients, bool video, bool threaded, bool anonymous_tls)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ipkvm-test-vnc-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	ipkvm_config_init(&f->cfg);
	if (ipkvm_config_set(&f->cfg, "server", "state_dir", f->dir, err, sizeof(err)) < 0 ||
	    ipkvm_config_set(&f->cfg, "vnc", "listen", "127.0.0.1", err, sizeof(err)) < 0)
		return -1;
	f->cfg.vnc_port = 0; /* any free port (the table allows 1..65535 in files) */
	f->cfg.vnc_max_clients = max_clients;
	f->cfg.vnc_anonymous_tls = anonymous_tls;
	struct ipkvm_authsvc_config ac = {.state_dir = f->dir,
					  .session_idle = 600,
					  .session_lifetime = 3600,
					  .max_sessions = 64,
					  .max_sessions_per_user = 64,
					  .login_max_failures = 100,
					  .login_backoff_max = 60};
	f->loop = ipkvm_loop_create(NULL);
	f->svc.cfg = &f->cfg;
	f->svc.loop = f->loop;
	f->svc.events = ipkvm_events_create();
	f->svc.auth = ipkvm_authsvc_create(&ac);
	if (!f->loop || !f->svc.events || !f->svc.auth || ipkvm_authsvc_open(f->svc.auth) < 0)
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", f->dir, IPKVM_INITIAL_PASSWORD_FILE);
	FILE *fp = fopen(path, "r");
	if (!fp || !fgets(f->admin_pw, sizeof(f->admin_pw), fp))
		return -1;
	fclose(fp);
	f->admin_pw[strcspn(f->admin_pw, "\n")] = '\0';
	atomic_store(&f->clock_ms, 1000000);
	f->frames_wake = ipkvm_loop_wake_new(f->loop, frames_ready, f);
	if (video) {
		/* A still 1024x768 screen: a Raw update of it is 3 MiB at 32 bits a pixel. */
		struct ipkvm_video_config vc = {
		    .source = "pattern",
		    .pattern = {.width = 1024, .height = 768, .fps = 30, .scene = "static"},
		    .quality = 80,
		    .max_fps = 30,
		    .workers = 1};
		ipkvm_pixfmt_parse("yuyv", &vc.pattern.format);
		f->svc.video = ipkvm_video_create(&vc, video_wake, f, err, sizeof(err));
		if (!f->svc.video || ipkvm_video_start(f->svc.video) < 0)
			return -1;
	}
	struct ipkvm_vnc_config vc = {.layout = ipkvm_layout_find("us"),
				      .name = "ipkvm (test)",
				      .now_ms = fake_now,
				      .clock_ctx = f};
	f->vnc = ipkvm_vnc_create(&f->svc, &vc);
	f->job_wake = ipkvm_loop_wake_new(f->loop, run_job, f);
	f->watchdog = ipkvm_loop_timer_new(f->loop, watchdog, f);
	if (!f->vnc || !f->job_wake || !f->watchdog || sem_init(&f->job_done, 0, 0) < 0)
		return -1;
	assert_true(ipkvm_vnc_port(f->vnc) > 0);
	assert_int_equal(ipkvm_vnc_info(f->vnc)->port, ipkvm_vnc_port(f->vnc));
	ipkvm_loop_timer_start(f->watchdog, 60000, 0);
	f->threaded = threaded;
	if (threaded && pthread_create(&f->thread, NULL, loop_thread, f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return start(state, 64, false, true, false);
}

static int setup_anonymous(void **state)
{
	return start(state, 64, false, true, true);
}

static int setup_three(void **state)
{
	return start(state, 3, false, true, false);
}

static int setup_video(void **state)
{
	return start(state, 64, true, true, false);
}

/* The loop not running: the test calls the front end itself, on this thread. */
static int setup_unthreaded(void **state)
{
	return start(state, 3, false, false, false);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->threaded) {
		ipkvm_loop_stop(f->loop);
		pthread_join(f->thread, NULL);
	}
	ipkvm_video_destroy(f->svc.video);
	f->svc.video = NULL;
	ipkvm_vnc_stop(f->vnc);
	ipkvm_loop_shutdown(f->loop);
	ipkvm_vnc_destroy(f->vnc);
	ipkvm_authsvc_destroy(f->svc.auth);
	ipkvm_events_destroy(f->svc.events);
	ipkvm_loop_destroy(f->loop);
	ipkvm_config_free(&f->cfg);
	sem_destroy(&f->job_done);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- a plain client ------------------------------------------------------------------ */

/* A connection to the VNC port from src (NULL: the kernel's choice), every read bounded. */
static int connect_from(struct fx *f, const char *src)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (src) {
		assert_int_equal(inet_pton(AF_INET, src, &a.sin_addr), 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	a.sin_port = htons((uint16_t)ipkvm_vnc_port(f->vnc));
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Reads exactly n bytes (true), or false at the end of the stream or the timeout. */
static bool read_n(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = recv(fd, (char *)buf + got, n - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	return true;
}

static void expect_version(int fd)
{
	char v[13] = "";
	assert_true(read_n(fd, v, 12));
	assert_string_equal(v, "RFB 003.008\n");
}

/* The server closed the connection (within the receive timeout), after at most max bytes. */
static void expect_closed(int fd, size_t max)
{
	char buf[4096];
	size_t total = 0;
	for (;;) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == ECONNRESET)
			break;
		assert_true(k >= 0); /* not the timeout */
		if (k == 0)
			break;
		total += (size_t)k;
	}
	assert_true(total <= max);
}

static void send_all(int fd, const void *d, size_t n)
{
	assert_int_equal(send(fd, d, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Version exchange and the security types: VeNCrypt (19) is offered, None (1) never. */
static void handshake_to_types(int fd)
{
	uint8_t n, types[16];
	expect_version(fd);
	send_all(fd, "RFB 003.008\n", 12);
	assert_true(read_n(fd, &n, 1));
	assert_true(n >= 1 && n <= sizeof(types));
	assert_true(read_n(fd, types, n));
	bool vencrypt = false;
	for (int i = 0; i < n; i++) {
		vencrypt |= types[i] == 19;
		assert_int_not_equal(types[i], 1);
	}
	assert_true(vencrypt);
}

/* VeNCrypt up to the TLS handshake: version 0.2, subtype (X509Plain 262, TLSPlain 259)
 * accepted. */
static void put32(uint8_t *p, uint32_t v);

static void vencrypt_subtype_to_tls(int fd, uint32_t subtype)
{
	uint8_t b[64];
	handshake_to_types(fd);
	send_all(fd, "\x13", 1);
	assert_true(read_n(fd, b, 2));
	assert_int_equal(b[0], 0);
	assert_int_equal(b[1], 2);
	send_all(fd, "\x00\x02", 2);
	assert_true(read_n(fd, b, 2));
	assert_int_equal(b[0], 0); /* version accepted */
	uint8_t n = b[1];
	assert_true(n >= 1 && n <= 8);
	assert_true(read_n(fd, b, 4u * n));
	bool x509plain = false;
	for (int i = 0; i < n; i++)
		x509plain |=
		    (b[4 * i] << 24 | b[4 * i + 1] << 16 | b[4 * i + 2] << 8 | b[4 * i + 3]) == 262;
	assert_true(x509plain);
	put32(b, subtype);
	send_all(fd, b, 4);
	assert_true(read_n(fd, b, 1));
	assert_int_equal(b[0], 1);
}

static void vencrypt_to_tls(int fd)
{
	vencrypt_subtype_to_tls(fd, 262);
}

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(ctx);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static bool ssl_read_n(SSL *ssl, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		int k = SSL_read(ssl, (char *)buf + got, (int)(n - got));
		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	return true;
}

static void ssl_send(SSL *ssl, const void *d, size_t n)
{
	assert_int_equal(SSL_write(ssl, d, (int)n), (int)n);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A client logged in as admin over X509Plain up to ServerInit; the framebuffer's size. */
static SSL *login(struct fx *f, int fd, SSL_CTX *ctx, unsigned *w, unsigned *h)
{
	vencrypt_to_tls(fd);
	SSL *ssl = SSL_new(ctx);
	assert_non_null(ssl);
	SSL_set_fd(ssl, fd);
	assert_int_equal(SSL_connect(ssl), 1);
	uint8_t b[256];
	size_t ul = strlen("admin"), pl = strlen(f->admin_pw);
	put32(b, (uint32_t)ul);
	put32(b + 4, (uint32_t)pl);
	memcpy(b + 8, "admin", ul);
	memcpy(b + 8 + ul, f->admin_pw, pl);
	ssl_send(ssl, b, 8 + ul + pl);
	assert_true(ssl_read_n(ssl, b, 4));
	assert_memory_equal(b, "\0\0\0\0", 4); /* SecurityResult OK */
	ssl_send(ssl, "\x01", 1);	       /* ClientInit, shared */
	assert_true(ssl_read_n(ssl, b, 24));   /* ServerInit without the name */
	*w = (unsigned)(b[0] << 8 | b[1]);
	*h = (unsigned)(b[2] << 8 | b[3]);
	uint32_t nl = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
	assert_true(nl < sizeof(b));
	assert_true(ssl_read_n(ssl, b, nl));
	assert_memory_equal(b, "ipkvm (test)", nl);
	/* SetEncodings: Raw only. */
	ssl_send(ssl, "\x02\x00\x00\x01\x00\x00\x00\x00", 8);
	return ssl;
}

/* FramebufferUpdateRequest for the whole screen. */
static void request_update(SSL *ssl, bool incremental, unsigned w, unsigned h)
{
	uint8_t m[10] = {3,	     incremental,	0,	   0, 0, 0, (uint8_t)(w >> 8),
			 (uint8_t)w, (uint8_t)(h >> 8), (uint8_t)h};
	ssl_send(ssl, m, sizeof(m));
}

/* ---- the tests ------------------------------------------------------------------------ */

static void test_server_speaks_first(void **state)
{
	struct fx *f = *state;
	int fd = connect_from(f, NULL);
	expect_version(fd); /* nothing sent by the client */
	assert_int_equal(clients(f), 1);
	close(fd);
	wait_clients(f, 0);
}

static void test_max_clients(void **state)
{
	struct fx *f = *state;
	int fd[3];
	for (int i = 0; i < 3; i++) {
		fd[i] = connect_from(f, NULL);
		expect_version(fd[i]);
	}
	assert_int_equal(clients(f), 3);
	int over = connect_from(f, NULL);
	expect_closed(over, 0);
	close(over);
	assert_int_equal(clients(f), 3);
	/* A place freed is taken again. */
	close(fd[0]);
	wait_clients(f, 2);
	fd[0] = connect_from(f, NULL);
	expect_version(fd[0]);
	assert_int_equal(clients(f), 3);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
}

static void test_unauthenticated_per_address(void **state)
{
	struct fx *f = *state;
	int fd[8];
	for (int i = 0; i < 8; i++) {
		fd[i] = connect_from(f, "127.0.0.1");
		expect_version(fd[i]);
	}
	int ninth = connect_from(f, "127.0.0.1");
	expect_closed(ninth, 0);
	close(ninth);
	/* Another address is not held back by the first one's. */
	int other = connect_from(f, "127.0.0.2");
	expect_version(other);
	assert_int_equal(clients(f), 9);
	close(other);
	for (int i = 0; i < 8; i++)
		close(fd[i]);
	wait_clients(f, 0);
}

static void test_handshake_deadline(void **state)
{
	struct fx *f = *state;
	int fd = connect_from(f, NULL);
	handshake_to_types(fd);
	/* 9 s later the session still answers. */
	atomic_fetch_add(&f->clock_ms, 9000);
	on_loop(f, job_tick);
	uint8_t b[2];
	send_all(fd, "\x13", 1);
	assert_true(read_n(fd, b, 2));
	assert_int_equal(b[0], 0);
	assert_int_equal(b[1], 2);
	/* 10 s after it connected it is cut (whatever it last said). */
	atomic_fetch_add(&f->clock_ms, 1000);
	on_loop(f, job_tick);
	expect_closed(fd, 256);
	close(fd);
	wait_clients(f, 0);
}

static void test_stalled_client_delays_nobody(void **state)
{
	struct fx *f = *state;
	SSL_CTX *ctx = client_ctx();
	unsigned w, h;
	/* The first picture first (bounded), so both clients get the real screen. */
	struct ipkvm_frame *first = NULL;
	for (int i = 0; i < 5000 && !(first = ipkvm_video_latest_raw(f->svc.video)); i++)
		usleep(1000);
	assert_non_null(first);
	ipkvm_frame_unref(first);
	/* The stalled one: logged in, asks for the whole screen again and again, never reads. */
	int a = connect_from(f, NULL);
	SSL *sa = login(f, a, ctx, &w, &h);
	assert_int_equal(w, 1024);
	assert_int_equal(h, 768);
	for (int i = 0; i < 64; i++)
		request_update(sa, false, w, h);

	/* The other one, from its first byte to its first update. */
	int64_t t0 = ipkvm_mono_ms();
	int b = connect_from(f, NULL);
	unsigned bw, bh;
	SSL *sb = login(f, b, ctx, &bw, &bh);
	request_update(sb, false, bw, bh);
	uint8_t hdr[4], rect[12];
	assert_true(ssl_read_n(sb, hdr, 4));
	assert_int_equal(hdr[0], 0); /* FramebufferUpdate */
	assert_true((hdr[2] << 8 | hdr[3]) >= 1);
	assert_true(ssl_read_n(sb, rect, 12));
	/* About 0.2 s here (the password hash is most of it); the bound leaves room for an
	 * emulated arm64 run. A write that waited for the stalled client would never end. */
	int64_t took = ipkvm_mono_ms() - t0;
	assert_true(took < 4000);

	/* Meanwhile the stalled one's updates fill its socket, unread (a whole update is
	 * 3 MiB: the rest waits on the server). */
	int queued = 0;
	assert_int_equal(ioctl(a, FIONREAD, &queued), 0);
	assert_true(queued > 64 * 1024);
	assert_int_equal(clients(f), 2);

	SSL_free(sb);
	SSL_free(sa);
	close(b);
	close(a);
	SSL_CTX_free(ctx);
	wait_clients(f, 0);
}

static void test_tls_policy(void **state)
{
	struct fx *f = *state;
	/* A client that offers only anonymous suites gets no handshake. */
	int fd = connect_from(f, NULL);
	vencrypt_to_tls(fd);
	SSL_CTX *anon = client_ctx();
	SSL_CTX_set_max_proto_version(anon, TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_set_cipher_list(anon, "aNULL:@SECLEVEL=0"), 1);
	SSL *ssl = SSL_new(anon);
	SSL_set_fd(ssl, fd);
	assert_true(SSL_connect(ssl) != 1);
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(anon);
	close(fd);

	/* TLS 1.1 is refused. */
	fd = connect_from(f, NULL);
	vencrypt_to_tls(fd);
	SSL_CTX *old = client_ctx();
	SSL_CTX_set_min_proto_version(old, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
	SSL_CTX_set_cipher_list(old, "ALL:@SECLEVEL=0");
	ssl = SSL_new(old);
	SSL_set_fd(ssl, fd);
	assert_true(SSL_connect(ssl) != 1);
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(old);
	close(fd);

	/* A plain client: TLS 1.3 or 1.2, with the certificate of <state_dir>/tls. */
	fd = connect_from(f, NULL);
	vencrypt_to_tls(fd);
	SSL_CTX *ctx = client_ctx();
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	assert_int_equal(SSL_connect(ssl), 1);
	assert_true(SSL_version(ssl) >= TLS1_2_VERSION);
	X509 *peer = SSL_get1_peer_certificate(ssl);
	assert_non_null(peer);
	char path[128];
	snprintf(path, sizeof(path), "%s/tls/cert.pem", f->dir);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	X509 *mine = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(mine);
	assert_int_equal(X509_cmp(peer, mine), 0);
	X509_free(mine);
	X509_free(peer);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	wait_clients(f, 0);
}

/* A TLS client after VeNCrypt with subtype; ciphers: its TLS 1.2 list; max_version: 0 (TLS
 * 1.3 offered too, as GnuTLS's anonymous clients do) or the newest it offers. NULL when the
 * handshake failed. */
static SSL *tls_client(struct fx *f, SSL_CTX *ctx, uint32_t subtype, const char *ciphers,
		       int max_version)
{
	int fd = connect_from(f, NULL);
	vencrypt_subtype_to_tls(fd, subtype);
	assert_int_equal(SSL_CTX_set_cipher_list(ctx, ciphers), 1);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	assert_int_equal(SSL_set_max_proto_version(ssl, max_version), 1);
	if (SSL_connect(ssl) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

static void tls_client_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);
	SSL_free(ssl);
	close(fd);
}

/* [vnc] anonymous_tls = 1: only TLSPlain's handshake takes anonymous suites (held to TLS
 * 1.2), a client that offers certificate suites too still gets the certificate, and
 * X509Plain never goes anonymous. */
static void test_anonymous_tls(void **state)
{
	struct fx *f = *state;
	SSL_CTX *ctx = client_ctx();
	/* X509Plain, a TLS 1.2 client with anonymous suites only: no handshake. */
	assert_null(tls_client(f, ctx, 262, "aNULL:@SECLEVEL=0", TLS1_2_VERSION));
	/* X509Plain, the same client offering TLS 1.3 too: TLS 1.3, with the certificate. */
	SSL *ssl = tls_client(f, ctx, 262, "aNULL:@SECLEVEL=0", 0);
	assert_non_null(ssl);
	assert_int_equal(SSL_version(ssl), TLS1_3_VERSION);
	X509 *peer = SSL_get1_peer_certificate(ssl);
	assert_non_null(peer);
	X509_free(peer);
	tls_client_close(ssl);
	/* TLSPlain, the same client: held to TLS 1.2, anonymous, no certificate. */
	ssl = tls_client(f, ctx, 259, "aNULL:@SECLEVEL=0", 0);
	assert_non_null(ssl);
	assert_int_equal(SSL_version(ssl), TLS1_2_VERSION);
	assert_int_equal(SSL_CIPHER_get_auth_nid(SSL_get_current_cipher(ssl)), NID_auth_null);
	peer = SSL_get1_peer_certificate(ssl);
	assert_null(peer);
	tls_client_close(ssl);
	/* TLSPlain, a client that offers both (1.2 only, anonymous suites listed first): the
	 * server's order gives it the certificate. */
	ssl = tls_client(f, ctx, 259, "aNULL:ECDHE:@SECLEVEL=0", TLS1_2_VERSION);
	assert_non_null(ssl);
	assert_int_not_equal(SSL_CIPHER_get_auth_nid(SSL_get_current_cipher(ssl)), NID_auth_null);
	peer = SSL_get1_peer_certificate(ssl);
	assert_non_null(peer);
	X509_free(peer);
	tls_client_close(ssl);
	/* The same client offering TLS 1.3 too: TLS 1.3 with the certificate. */
	ssl = tls_client(f, ctx, 259, "aNULL:ECDHE:@SECLEVEL=0", 0);
	assert_non_null(ssl);
	assert_int_equal(SSL_version(ssl), TLS1_3_VERSION);
	peer = SSL_get1_peer_certificate(ssl);
	assert_non_null(peer);
	X509_free(peer);
	tls_client_close(ssl);
	SSL_CTX_free(ctx);
	wait_clients(f, 0);
}

/* The certificate a client is shown after the VeNCrypt handshake. */
static X509 *served_cert(struct fx *f)
{
	int fd = connect_from(f, NULL);
	vencrypt_to_tls(fd);
	SSL_CTX *ctx = client_ctx();
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	assert_int_equal(SSL_connect(ssl), 1);
	X509 *x = SSL_get1_peer_certificate(ssl);
	assert_non_null(x);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return x;
}

static X509 *cert_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

/* SIGHUP: new connections get the pair on disk now; a broken pair changes nothing. */
static void test_tls_reload(void **state)
{
	struct fx *f = *state;
	char cert[128], key[128], other[128], path[160];
	snprintf(cert, sizeof(cert), "%s/tls/cert.pem", f->dir);
	snprintf(key, sizeof(key), "%s/tls/key.pem", f->dir);
	X509 *old = cert_file(cert), *seen = served_cert(f);
	assert_int_equal(X509_cmp(seen, old), 0);
	X509_free(seen);

	snprintf(other, sizeof(other), "%s/other", f->dir);
	assert_int_equal(ipkvm_cert_ensure(other, "127.0.0.1"), 0);
	snprintf(path, sizeof(path), "%s/cert.pem", other);
	assert_int_equal(rename(path, cert), 0);
	snprintf(path, sizeof(path), "%s/key.pem", other);
	assert_int_equal(rename(path, key), 0);
	on_loop(f, job_reload);
	X509 *fresh = cert_file(cert);
	assert_int_not_equal(X509_cmp(fresh, old), 0);
	seen = served_cert(f);
	assert_int_equal(X509_cmp(seen, fresh), 0);
	X509_free(seen);

	/* A key that is not the certificate's: the served pair stays. */
	assert_int_equal(ipkvm_write_file_atomic(key, "not a key\n", 10, 0600), 0);
	on_loop(f, job_reload);
	seen = served_cert(f);
	assert_int_equal(X509_cmp(seen, fresh), 0);
	X509_free(seen);
	X509_free(fresh);
	X509_free(old);
	wait_clients(f, 0);
}

/* The gateway's carrier: counts its calls; a close request closes the session at once. */
struct carrier {
	const struct ipkvm_rfb_gateway *gw;
	struct ipkvm_rfb_conn *conn;
	int wants, closes;
};

static void carrier_want_write(void *ctx)
{
	struct carrier *k = ctx;
	k->wants++;
}

static void carrier_close(void *ctx)
{
	struct carrier *k = ctx;
	k->closes++;
	k->gw->close_conn(k->conn);
	k->conn = NULL;
}

static void test_gateway(void **state)
{
	struct fx *f = *state;
	const struct ipkvm_rfb_gateway *gw = ipkvm_vnc_gateway(f->vnc);
	struct ipkvm_auth auth;
	char token[IPKVM_SESSION_TOKEN_LEN + 1];
	assert_int_equal(ipkvm_authsvc_session_open(f->svc.auth, "admin", token, &auth, NULL), 0);
	struct carrier k[4];
	struct ipkvm_rfb_sink sinks[4];
	for (int i = 0; i < 4; i++) {
		k[i] = (struct carrier){.gw = gw};
		sinks[i] = (struct ipkvm_rfb_sink){
		    .ctx = &k[i], .want_write = carrier_want_write, .close = carrier_close};
	}
	/* The server speaks first, also here: want_write from inside open. */
	k[0].conn = gw->open(gw->ctx, &auth, "192.0.2.9", &sinks[0]);
	assert_non_null(k[0].conn);
	assert_true(k[0].wants >= 1);
	const unsigned char *d;
	size_t n = gw->peek(k[0].conn, &d);
	assert_int_equal(n, 12);
	assert_memory_equal(d, "RFB 003.008\n", 12);
	gw->consumed(k[0].conn, n);
	assert_int_equal(gw->peek(k[0].conn, &d), 0);
	/* Carried sessions are offered None only. */
	assert_int_equal(gw->input(k[0].conn, "RFB 003.008\n", 12), 0);
	n = gw->peek(k[0].conn, &d);
	assert_int_equal(n, 2);
	assert_memory_equal(d, "\x01\x01", 2);
	gw->consumed(k[0].conn, n);
	/* None, SecurityResult OK; ClientInit, ServerInit. */
	assert_int_equal(gw->input(k[0].conn, "\x01", 1), 0);
	n = gw->peek(k[0].conn, &d);
	assert_int_equal(n, 4);
	assert_memory_equal(d, "\0\0\0\0", 4);
	gw->consumed(k[0].conn, n);
	assert_int_equal(gw->input(k[0].conn, "\x01", 1), 0);
	while ((n = gw->peek(k[0].conn, &d)) > 0)
		gw->consumed(k[0].conn, n);
	assert_int_equal(ipkvm_vnc_info(f->vnc)->clients, 1);

	/* They count against [vnc] max_clients (3 here). */
	k[1].conn = gw->open(gw->ctx, &auth, "192.0.2.9", &sinks[1]);
	k[2].conn = gw->open(gw->ctx, &auth, "192.0.2.10", &sinks[2]);
	assert_non_null(k[1].conn);
	assert_non_null(k[2].conn);
	assert_null(gw->open(gw->ctx, &auth, "192.0.2.11", &sinks[3]));
	assert_int_equal(ipkvm_vnc_info(f->vnc)->clients, 3);

	/* The carrier goes away: the session is freed. */
	gw->close_conn(k[2].conn);
	k[2].conn = NULL;
	assert_int_equal(ipkvm_vnc_info(f->vnc)->clients, 2);
	assert_int_equal(k[2].closes, 0);

	/* A protocol error: input says so, the carrier closes. */
	assert_true(gw->input(k[1].conn, "RFB 009.999\n", 12) < 0);
	gw->close_conn(k[1].conn);
	k[1].conn = NULL;

	/* The user logs out: the auth watcher rechecks, the carrier is told to close. */
	ipkvm_authsvc_session_close(f->svc.auth, auth.session_id);
	assert_int_equal(k[0].closes, 1);
	assert_null(k[0].conn);
	assert_int_equal(ipkvm_vnc_info(f->vnc)->clients, 0);

	/* Stopping ends the carried sessions left, and opens no more. */
	assert_int_equal(ipkvm_authsvc_session_open(f->svc.auth, "admin", token, &auth, NULL), 0);
	k[3].conn = gw->open(gw->ctx, &auth, "192.0.2.12", &sinks[3]);
	assert_non_null(k[3].conn);
	ipkvm_vnc_stop(f->vnc);
	assert_int_equal(k[3].closes, 1);
	assert_int_equal(ipkvm_vnc_info(f->vnc)->clients, 0);
	assert_null(gw->open(gw->ctx, &auth, "192.0.2.12", &sinks[3]));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_server_speaks_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_clients, setup_three, teardown),
	    cmocka_unit_test_setup_teardown(test_unauthenticated_per_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handshake_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stalled_client_delays_nobody, setup_video,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_tls_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_anonymous_tls, setup_anonymous, teardown),
	    cmocka_unit_test_setup_teardown(test_gateway, setup_unthreaded, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
