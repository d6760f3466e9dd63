/*
 * rfb: the RFB protocol engine (src/vnc/rfb.c), fed arbitrary client bytes as the network
 * would give them, with no devices at all (no video, HID or paste: what a daemon with only
 * a VNC port would have).
 *
 * Input: the first byte picks the session and the split: bit 0 a VNC-port session (the
 * handshake, VeNCrypt and VncAuth, the auth service's throttle; the TLS handshake "happens"
 * whenever the engine asks for it) or a carried, authenticated one (None, then every client
 * message); bits 1-7 the size of the pieces the rest arrives in. Output is taken as a
 * transport would take it after each piece, a tick runs at the end, then the session is
 * freed. Checked on every run: after input() fails the session says it is closing, peek()
 * never gives more than what is queued, and nothing leaks (LeakSanitizer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/authsvc.h"
#include "core/log.h"
#include "daemon/services.h"
#include "hid/layout.h"
#include "vnc/rfb.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static struct ipkvm_authsvc *auth;
static struct ipkvm_services svc;
static struct ipkvm_rfb_env env;
static struct ipkvm_rfb_vncauth_entry vncauth = {.user = "admin", .password = "fuzzfuzz"};
static struct ipkvm_auth carried;
static int64_t now = 1000000;
static int tls_asked;

static int64_t clock_ms(void *ctx)
{
	(void)ctx;
	return now;
}

static int start_tls(void *ctx, bool anonymous_ok)
{
	(void)ctx;
	/* Both ends of tls_ready: TLSPlain as if anonymous TLS was agreed to. */
	tls_asked = anonymous_ok ? 2 : 1;
	return 0;
}

static void want_write(void *ctx)
{
	(void)ctx;
}

static void fail(const char *what)
{
	fprintf(stderr, "rfb harness: %s\n", what);
	abort();
}

static void cleanup(void)
{
	ipkvm_authsvc_destroy(auth);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "rfb harness: cannot remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	snprintf(dir, sizeof(dir), "%s/ipkvm-fuzz-rfb-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir))
		fail("mkdtemp");
	struct ipkvm_authsvc_config c = {.state_dir = dir,
					 .session_idle = 86400,
					 .session_lifetime = 86400,
					 .max_sessions = 16,
					 .max_sessions_per_user = 16,
					 .login_max_failures = 3,
					 .login_backoff_max = 60};
	auth = ipkvm_authsvc_create(&c);
	if (!auth || ipkvm_authsvc_open(auth) < 0)
		fail("auth service");
	char token[IPKVM_SESSION_TOKEN_LEN + 1];
	if (ipkvm_authsvc_session_open(auth, "admin", token, &carried, NULL) < 0)
		fail("session");
	svc.auth = auth;
	env = (struct ipkvm_rfb_env){.svc = &svc,
				     .layout = ipkvm_layout_find("us"),
				     .name = "fuzz",
				     .tls = true,
				     .vncauth = &vncauth,
				     .n_vncauth = 1,
				     .now_ms = clock_ms};
	atexit(cleanup);
	return 0;
}

static void take_output(struct ipkvm_rfb_session *s)
{
	const unsigned char *d;
	size_t n;
	for (int i = 0; i < 1024 && (n = ipkvm_rfb_session_peek(s, &d)) > 0; i++) {
		volatile unsigned char sink = d[0] ^ d[n - 1]; /* the bytes are readable */
		(void)sink;
		ipkvm_rfb_session_consumed(s, n > 5 ? n - 3 : n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool tcp = data[0] & 1;
	size_t piece = (size_t)(data[0] >> 1) + 1;
	data++;
	size--;
	struct ipkvm_rfb_hooks hooks = {.want_write = want_write,
					.start_tls = tcp ? start_tls : NULL};
	struct ipkvm_rfb_session *s =
	    ipkvm_rfb_session_new(&env, tcp ? IPKVM_RFB_TCP : IPKVM_RFB_PREAUTH,
				  tcp ? NULL : &carried, "198.51.100.9", &hooks);
	if (!s)
		return 0;
	tls_asked = 0;
	take_output(s);
	for (size_t off = 0; off < size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;
		int r = ipkvm_rfb_session_input(s, data + off, n);
		if (r < 0 && !ipkvm_rfb_session_closing(s))
			fail("input failed but the session is not closing");
		take_output(s);
		if (r < 0)
			break;
		if (tls_asked) {
			ipkvm_rfb_session_tls_ready(s, tls_asked == 2);
			tls_asked = 0;
		}
	}
	ipkvm_rfb_session_kick(s);
	take_output(s);
	now += 1000;
	(void)ipkvm_rfb_session_tick(s);
	take_output(s);
	ipkvm_rfb_session_free(s);
	return 0;
}
