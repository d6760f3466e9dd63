/*
 * Unit tests for core/config: defaults, a full file, every error class with its exact
 * message and line number, command-line overrides, reloads without leaks (ASan), and that
 * data/ipkvm.ini documents every key with its real default and parses cleanly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/util.h"

static char tmpdir[64];

static int group_setup(void **state)
{
	ipkvm_strlcpy(tmpdir, "/tmp/test_config.XXXXXX", sizeof(tmpdir));
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	DIR *d = opendir(tmpdir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			char p[512];
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	return rmdir(tmpdir);
}

/* Writes text to tmpdir/name; returns the path in a static buffer. */
static const char *write_text(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	return path;
}

static size_t key_count(void)
{
	size_t n = 0;
	while (ipkvm_config_keys[n].name)
		n++;
	return n;
}

static const char *str_field(const struct ipkvm_config *cfg, const struct ipkvm_config_key *k)
{
	return *(char *const *)((const char *)cfg + k->offset);
}

static bool is_string(const struct ipkvm_config_key *k)
{
	return k->type == IPKVM_CFG_STRING || k->type == IPKVM_CFG_ADDRESS ||
	       k->type == IPKVM_CFG_PATH;
}

/* Asserts that every field of a equals the same field of b, through the table. */
static void assert_same_config(const struct ipkvm_config *a, const struct ipkvm_config *b)
{
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		if (is_string(k)) {
			const char *sa = str_field(a, k), *sb = str_field(b, k);
			if (!sa || !sb) {
				if (sa != sb)
					fail_msg("%s differs: %s vs %s", k->name, sa ? sa : "NULL",
						 sb ? sb : "NULL");
			} else {
				assert_string_equal(sa, sb);
			}
		} else if (k->type == IPKVM_CFG_SIZE) {
			assert_int_equal(*(const int64_t *)((const char *)a + k->offset),
					 *(const int64_t *)((const char *)b + k->offset));
		} else if (k->type == IPKVM_CFG_LOGLEVEL) {
			assert_int_equal(
			    *(const enum ipkvm_log_level *)((const char *)a + k->offset),
			    *(const enum ipkvm_log_level *)((const char *)b + k->offset));
		} else {
			assert_int_equal(*(const int *)((const char *)a + k->offset),
					 *(const int *)((const char *)b + k->offset));
		}
	}
}

static void test_table(void **state)
{
	size_t n = key_count();
	assert_int_equal(n, 98);
	for (size_t i = 0; i < n; i++) {
		const struct ipkvm_config_key *k = &ipkvm_config_keys[i];
		assert_non_null(k->section);
		assert_true(strlen(k->help) > 0);
		assert_true(k->offset < sizeof(struct ipkvm_config));
		if (k->type == IPKVM_CFG_PORT || k->type == IPKVM_CFG_INT ||
		    k->type == IPKVM_CFG_DURATION)
			assert_true(k->min <= k->max);
		if (k->type == IPKVM_CFG_PORT)
			assert_true(k->min >= 0 && k->max <= 65535);
		for (size_t j = 0; j < i; j++) {
			/* one key per field and per (section, name) */
			assert_int_not_equal(k->offset, ipkvm_config_keys[j].offset);
			assert_false(strcmp(k->section, ipkvm_config_keys[j].section) == 0 &&
				     strcmp(k->name, ipkvm_config_keys[j].name) == 0);
		}
	}
}

static void test_defaults(void **state)
{
	struct ipkvm_config cfg;
	ipkvm_config_init(&cfg);
	assert_string_equal(cfg.listen, "");
	assert_int_equal(cfg.port, 8443);
	assert_int_equal(cfg.http_port, 0);
	assert_null(cfg.tls_cert);
	assert_null(cfg.tls_key);
	assert_int_equal(cfg.tls_ciphers, IPKVM_TLS_CIPHERS_AUTO);
	assert_null(cfg.web_root);
	assert_string_equal(cfg.state_dir, "/var/lib/ipkvm");
	assert_int_equal(cfg.max_body, 65536);
	assert_int_equal(cfg.session_idle, 3600);
	assert_int_equal(cfg.session_lifetime, 86400);
	assert_int_equal(cfg.max_sessions, 256);
	assert_int_equal(cfg.login_max_failures, 5);
	assert_int_equal(cfg.login_backoff_max, 900);
	assert_int_equal(cfg.log_level, IPKVM_LOG_INFO);
	assert_int_equal(cfg.jpeg_strips, 0);
	assert_int_equal(cfg.vnc_enabled, 0);
	assert_string_equal(cfg.vnc_listen, "");
	assert_int_equal(cfg.vnc_port, 5900);
	assert_null(cfg.vnc_vncauth_password_file);
	assert_int_equal(cfg.vnc_layout, IPKVM_VNC_LAYOUT_AUTO);
	assert_int_equal(cfg.vnc_max_clients, 64);
	assert_string_equal(cfg.vnc_novnc_dir, "/usr/share/novnc");
	ipkvm_config_free(&cfg);
	assert_null(cfg.listen);
	assert_null(cfg.vnc_listen);
	assert_null(cfg.state_dir);
	ipkvm_config_free(&cfg); /* twice is harmless */
}

static const char full_file[] = "\xEF\xBB\xBF# every key, none at its default\n"
				"; comments may start with ';' too\n"
				"\n"
				"[server]\n"
				"listen = 192.0.2.7\n"
				"port = 9443   ; an inline comment\n"
				"http_port: 8080\n"
				"tls_cert = /etc/ipkvm/cert.pem\n"
				"tls_key=/etc/ipkvm/key.pem\n"
				"tls_ciphers = chacha20\n"
				"web_root = /srv/ipkvm/web\n"
				"state_dir = /srv/ipkvm/state\n"
				"max_body = 1048576\n"
				"\n"
				"   \n"
				"[auth]\n"
				"  session_idle = 90\n" /* indented first key: not a continuation */
				"session_lifetime = 7d\n"
				"max_sessions = 1000\n"
				"login_max_failures = 3\n"
				"login_backoff_max = 2h\n"
				"[jpeg]\n"
				"strips = 16\n"
				"[vnc]\n"
				"enabled = 1\n"
				"listen = ::1\n"
				"port = 5901\n"
				"vncauth_password_file = /etc/ipkvm/vnc.passwd\n"
				"layout = de\n"
				"max_clients = 1024\n"
				"[log]\n"
				"level = debug"; /* no newline at the end */

static void assert_full_values(const struct ipkvm_config *cfg)
{
	assert_string_equal(cfg->listen, "192.0.2.7");
	assert_int_equal(cfg->port, 9443);
	assert_int_equal(cfg->http_port, 8080);
	assert_string_equal(cfg->tls_cert, "/etc/ipkvm/cert.pem");
	assert_string_equal(cfg->tls_key, "/etc/ipkvm/key.pem");
	assert_int_equal(cfg->tls_ciphers, IPKVM_TLS_CIPHERS_CHACHA20);
	assert_string_equal(cfg->web_root, "/srv/ipkvm/web");
	assert_string_equal(cfg->state_dir, "/srv/ipkvm/state");
	assert_int_equal(cfg->max_body, 1048576);
	assert_int_equal(cfg->session_idle, 90);
	assert_int_equal(cfg->session_lifetime, 7 * 86400);
	assert_int_equal(cfg->max_sessions, 1000);
	assert_int_equal(cfg->login_max_failures, 3);
	assert_int_equal(cfg->login_backoff_max, 7200);
	assert_int_equal(cfg->jpeg_strips, 16);
	assert_int_equal(cfg->vnc_enabled, 1);
	assert_string_equal(cfg->vnc_listen, "::1");
	assert_int_equal(cfg->vnc_port, 5901);
	assert_string_equal(cfg->vnc_vncauth_password_file, "/etc/ipkvm/vnc.passwd");
	assert_int_equal(cfg->vnc_layout, IPKVM_VNC_LAYOUT_DE);
	assert_int_equal(cfg->vnc_max_clients, 1024);
	assert_int_equal(cfg->log_level, IPKVM_LOG_DEBUG);
}

static void test_full_file(void **state)
{
	struct ipkvm_config cfg;
	char err[256] = "untouched";
	ipkvm_config_init(&cfg);
	const char *path = write_text("full.ini", full_file);
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_string_equal(err, "untouched");
	assert_full_values(&cfg);
	ipkvm_config_free(&cfg);
}

static void test_crlf_file(void **state)
{
	struct ipkvm_config cfg;
	char err[256] = "";
	ipkvm_config_init(&cfg);
	const char *path = write_text("crlf.ini", "[server]\r\nlisten = ::1\r\nport = 10443\r\n");
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_string_equal(cfg.listen, "::1");
	assert_int_equal(cfg.port, 10443);
	path = write_text("crlf.ini", "[server]\r\nport = abc\r\n");
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s:2: [server] port: \"abc\" is not an integer (expected 1..65535)", path);
	assert_string_equal(err, want);
	ipkvm_config_free(&cfg);
}

/* Only comments and blank lines: nothing changes. */
static void test_comments_only(void **state)
{
	struct ipkvm_config cfg, def;
	char err[256] = "";
	ipkvm_config_init(&cfg);
	ipkvm_config_init(&def);
	const char *path =
	    write_text("comments.ini", "# hello\n\n; port = 1\n#port = 2\n\t\n[server]\n"
				       "# nothing here\n[auth]\n[log]\n");
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_same_config(&cfg, &def);
	path = write_text("empty.ini", "");
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_same_config(&cfg, &def);
	ipkvm_config_free(&cfg);
	ipkvm_config_free(&def);
}

struct bad_case {
	const char *text;
	const char *want; /* the error after "PATH" */
};

static const struct bad_case bad_cases[] = {
    /* sections and keys */
    {"[sever]\nport = 1\n", ":1: [sever] port: unknown section (did you mean [server]?)"},
    {"[audio]\ndevice = /dev/snd\n",
     ":1: [audio] device: unknown section (the sections are "
     "server, auth, vnc, video, jpeg, h264, hid, atx, msd, usb, target and log)"},
    {"[video]\nsource = webcam\n",
     ":2: [video] source: \"webcam\" is not one of: none, virtual, pattern, v4l2"},
    {"[server]\ntls_ciphers = aes\n",
     ":2: [server] tls_ciphers: \"aes\" is not one of: auto, aes-gcm, chacha20"},
    {"[jpeg]\nsubsampling = 444\n", ":2: [jpeg] subsampling: \"444\" is not one of: 422, 420"},
    {"[jpeg]\nencoder = hardware\n",
     ":2: [jpeg] encoder: \"hardware\" is not one of: auto, software, v4l2"},
    {"[jpeg]\ndevice =\n", ":2: [jpeg] device: empty value (an absolute path is required)"},
    {"[jpeg]\nstrips = 17\n", ":2: [jpeg] strips: 17 is out of range (expected 0..16)"},
    {"[jpeg]\nstrips = -1\n", ":2: [jpeg] strips: -1 is out of range (expected 0..16)"},
    {"[jpeg]\nstrips = auto\n", ":2: [jpeg] strips: \"auto\" is not an integer (expected 0..16)"},
    {"[video]\nsource =\n", ":2: [video] source: \"\" is not one of: none, virtual, pattern, v4l2"},
    {"[server]\nprot = 1\n", ":2: [server] prot: unknown key (did you mean port?)"},
    {"[server]\nPort = 1\n", ":2: [server] Port: unknown key (did you mean port?)"},
    {"[server]\npassword = hunter2\n", ":2: [server] password: unknown key"},
    {"[auth]\nport = 8443\n", ":2: [auth] port: unknown key (port belongs in [server])"},
    {"port = 8443\n", ":1: port: key before any [section] header (port belongs in [server])"},
    {"colour = red\n", ":1: colour: key before any [section] header"},
    {"[server]\nport = 1\n\nport = 2\n", ":4: [server] port: duplicate key (first set on line 2)"},
    {"[server]\nport = 1\n[auth]\nmax_sessions = 2\n[server]\nport = 1\n",
     ":6: [server] port: duplicate key (first set on line 2)"},
    /* integers and ports */
    {"[server]\nport =\n", ":2: [server] port: empty value (expected an integer in 1..65535)"},
    {"[server]\nport = https\n",
     ":2: [server] port: \"https\" is not an integer (expected 1..65535)"},
    {"[server]\nport = 80x\n", ":2: [server] port: \"80x\" is not an integer (expected 1..65535)"},
    {"[server]\nport = 0x50\n",
     ":2: [server] port: \"0x50\" is not an integer (expected 1..65535)"},
    {"[server]\nport = 8443 # https\n",
     ":2: [server] port: \"8443 # https\" is not an integer (expected 1..65535)"},
    {"[server]\nport = 70000\n", ":2: [server] port: 70000 is out of range (expected 1..65535)"},
    {"[server]\nport = 0\n", ":2: [server] port: 0 is out of range (expected 1..65535)"},
    {"[server]\nhttp_port = -1\n",
     ":2: [server] http_port: -1 is out of range (expected 0..65535)"},
    {"[server]\nmax_body = 1023\n",
     ":2: [server] max_body: 1023 is out of range (expected 1024..16777216)"},
    {"[server]\nmax_body = 99999999999999999999\n",
     ":2: [server] max_body: 99999999999999999999 is out of range (expected 1024..16777216)"},
    {"[auth]\nmax_sessions = 100001\n",
     ":2: [auth] max_sessions: 100001 is out of range (expected 1..100000)"},
    {"[auth]\nlogin_max_failures = five\n",
     ":2: [auth] login_max_failures: \"five\" is not an integer (expected 1..1000)"},
    /* durations */
    {"[auth]\nsession_idle =\n",
     ":2: [auth] session_idle: empty value (expected a duration in 1..31536000 seconds)"},
    {"[auth]\nsession_idle = 5w\n",
     ":2: [auth] session_idle: \"5w\" has an unknown unit (use s, m, h or d)"},
    {"[auth]\nsession_idle = 15min\n",
     ":2: [auth] session_idle: \"15min\" has an unknown unit (use s, m, h or d)"},
    {"[auth]\nsession_idle = soon\n",
     ":2: [auth] session_idle: \"soon\" is not a duration (examples: 90, 90s, 15m, 12h, 7d)"},
    {"[auth]\nsession_idle = 1.5h\n",
     ":2: [auth] session_idle: \"1.5h\" is not a duration (examples: 90, 90s, 15m, 12h, 7d)"},
    {"[auth]\nsession_idle = 0\n",
     ":2: [auth] session_idle: 0 is out of range (expected 1..31536000 seconds)"},
    {"[auth]\nsession_idle = -5m\n",
     ":2: [auth] session_idle: -5m is out of range (expected 1..31536000 seconds)"},
    {"[auth]\nlogin_backoff_max = 2d\n",
     ":2: [auth] login_backoff_max: 2d is out of range (expected 1..86400 seconds)"},
    {"[auth]\nsession_lifetime = 99999999999d\n",
     ":2: [auth] session_lifetime: 99999999999d is out of range (expected 1..31536000 seconds)"},
    /* addresses, paths, log level */
    {"[server]\nlisten = localhost\n", ":2: [server] listen: \"localhost\" is not an IPv4 or IPv6 "
				       "address (host names are not accepted)"},
    {"[server]\nlisten = [::1]\n", ":2: [server] listen: \"[::1]\" is not an IPv4 or IPv6 "
				   "address (host names are not accepted)"},
    {"[server]\nlisten = 10.0.0.256\n", ":2: [server] listen: \"10.0.0.256\" is not an IPv4 or "
					"IPv6 address (host names are not accepted)"},
    {"[server]\ntls_cert = cert.pem\n",
     ":2: [server] tls_cert: \"cert.pem\" is not an absolute path"},
    {"[vnc]\nnovnc_dir = novnc\n", ":2: [vnc] novnc_dir: \"novnc\" is not an absolute path"},
    {"[server]\nstate_dir =\n",
     ":2: [server] state_dir: empty value (an absolute path is required)"},
    {"[log]\nlevel = verbose\n",
     ":2: [log] level: \"verbose\" is not a log level (use error, warn, info or debug)"},
    {"[log]\nlevel =\n", ":2: [log] level: empty value (use error, warn, info or debug)"},
    /* [vnc] */
    {"[vnc]\nenabled = yes\n", ":2: [vnc] enabled: \"yes\" is not an integer (expected 0..1)"},
    {"[vnc]\nenabled = 2\n", ":2: [vnc] enabled: 2 is out of range (expected 0..1)"},
    {"[vnc]\nport = 0\n", ":2: [vnc] port: 0 is out of range (expected 1..65535)"},
    {"[vnc]\nport = 65536\n", ":2: [vnc] port: 65536 is out of range (expected 1..65535)"},
    {"[vnc]\nlisten = kvm.local\n", ":2: [vnc] listen: \"kvm.local\" is not an IPv4 or IPv6 "
				    "address (host names are not accepted)"},
    {"[vnc]\nvncauth_password_file = vnc.passwd\n",
     ":2: [vnc] vncauth_password_file: \"vnc.passwd\" is not an absolute path"},
    {"[vnc]\nlayout = dvorak\n",
     ":2: [vnc] layout: \"dvorak\" is not one of: auto, us, uk, de, fr, jp"},
    {"[vnc]\nlayout = US\n", ":2: [vnc] layout: \"US\" is not one of: auto, us, uk, de, fr, jp"},
    {"[vnc]\nmax_clients = 0\n", ":2: [vnc] max_clients: 0 is out of range (expected 1..1024)"},
    {"[vnc]\nmax_clients = 1025\n",
     ":2: [vnc] max_clients: 1025 is out of range (expected 1..1024)"},
    {"[vnc]\nmax_client = 8\n", ":2: [vnc] max_client: unknown key (did you mean max_clients?)"},
    {"[vcn]\nport = 5901\n", ":1: [vcn] port: unknown section (did you mean [vnc]?)"},
    /* lines inih itself rejects, and which error wins */
    {"[server]\nport 8443\n", ":2: syntax error"},
    {"[server\nport = 1\n", ":1: syntax error"},
    {"[server]\nbogus\nprot = 1\n", ":2: syntax error"},
    {"[server]\nprot = 1\nbogus\n", ":2: [server] prot: unknown key (did you mean port?)"},
    {"[server]\nport = x\nhttp_port = y\n",
     ":2: [server] port: \"x\" is not an integer (expected 1..65535)"},
    {"[server]\n= 5\n", ":2: syntax error (missing key name before '=')"},
    {"[server]\nlisten = ::\n  port = 8443\n",
     ":3: indented line would continue [server] listen from line 2; remove the indentation"},
    /* checks on the whole file: no line number */
    {"[server]\ntls_cert = /etc/ipkvm/cert.pem\n",
     ": [server] tls_cert and tls_key must be set together"},
    {"[server]\ntls_key = /etc/ipkvm/key.pem\n",
     ": [server] tls_cert and tls_key must be set together"},
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(bad_cases); i++) {
		struct ipkvm_config cfg;
		char err[512] = "", want[512];
		ipkvm_config_init(&cfg);
		const char *path = write_text("bad.ini", bad_cases[i].text);
		snprintf(want, sizeof(want), "%s%s", path, bad_cases[i].want);
		int r = ipkvm_config_load(&cfg, path, err, sizeof(err));
		if (r != -EINVAL || strcmp(err, want) != 0)
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err, want);
		/* an unknown key's value is never echoed */
		assert_null(strstr(err, "hunter2"));
		ipkvm_config_free(&cfg);
	}
}

/* The in-memory reader (the config fuzzer's entry) gives what the file reader gives: the
 * same values, the same errors with the name in place of the path; an empty buffer is an
 * empty file, and a NUL byte ends its line as it would in a file. */
static void test_load_buffer(void **state)
{
	struct ipkvm_config cfg, def;
	char err[512] = "untouched", want[512];
	ipkvm_config_init(&cfg);
	ipkvm_config_init(&def);
	assert_int_equal(ipkvm_config_load_buffer(&cfg, full_file, strlen(full_file), "mem.ini",
						  err, sizeof(err)),
			 0);
	assert_string_equal(err, "untouched");
	assert_full_values(&cfg);
	ipkvm_config_free(&cfg);
	ipkvm_config_init(&cfg);
	assert_int_equal(ipkvm_config_load_buffer(&cfg, "", 0, "mem.ini", err, sizeof(err)), 0);
	assert_same_config(&cfg, &def);
	static const char nul[] = "[server]\nport = 9443\0garbage = 1\nhttp_port = 8080\n";
	assert_int_equal(
	    ipkvm_config_load_buffer(&cfg, nul, sizeof(nul) - 1, "mem.ini", err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 9443);
	assert_int_equal(cfg.http_port, 8080);
	ipkvm_config_free(&cfg);
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(bad_cases); i++) {
		ipkvm_config_init(&cfg);
		snprintf(want, sizeof(want), "mem.ini%s", bad_cases[i].want);
		int r = ipkvm_config_load_buffer(&cfg, bad_cases[i].text, strlen(bad_cases[i].text),
						 "mem.ini", err, sizeof(err));
		if (r != -EINVAL || strcmp(err, want) != 0)
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err, want);
		ipkvm_config_free(&cfg);
	}
	ipkvm_config_free(&def);
}

/* A failed value leaves the field as it was. */
static void test_error_keeps_value(void **state)
{
	struct ipkvm_config cfg;
	char err[256];
	ipkvm_config_init(&cfg);
	const char *path = write_text("partial.ini", "[server]\nport = 1234\nlisten = nowhere\n");
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_int_equal(cfg.port, 1234);
	assert_string_equal(cfg.listen, "");
	ipkvm_config_free(&cfg);
}

static void test_long_lines(void **state)
{
	struct ipkvm_config cfg;
	char err[512], want[512];
	char text[INI_MAX_LINE * 2];
	const int max = INI_MAX_LINE - 2; /* inih's buffer holds the text, '\n' and NUL */
	ipkvm_config_init(&cfg);

	/* exactly max characters: accepted */
	int n = snprintf(text, sizeof(text), "[server]\nstate_dir = /");
	int prefix = n - (int)strlen("[server]\n");
	memset(text + n, 'a', (size_t)(max - prefix));
	snprintf(text + n + max - prefix, sizeof(text) - (size_t)(n + max - prefix),
		 "\nport = 1\n");
	const char *path = write_text("long.ini", text);
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(strlen(cfg.state_dir), (size_t)(max - (int)strlen("state_dir = ")));
	assert_int_equal(cfg.port, 1);

	/* one more: rejected on its own line, not split into two */
	memset(text + n, 'a', (size_t)(max - prefix + 1));
	snprintf(text + n + max - prefix + 1, sizeof(text) - (size_t)(n + max - prefix + 1),
		 "\nport = 1\n");
	path = write_text("long.ini", text);
	snprintf(want, sizeof(want), "%s:2: line too long (at most %d characters)", path, max);
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	ipkvm_config_free(&cfg);
}

static void test_open_errors(void **state)
{
	struct ipkvm_config cfg;
	char err[512], want[512];
	ipkvm_config_init(&cfg);

	char missing[128];
	snprintf(missing, sizeof(missing), "%s/missing.ini", tmpdir);
	assert_int_equal(ipkvm_config_load(&cfg, missing, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: no such file", missing);
	assert_string_equal(err, want);

	assert_int_equal(ipkvm_config_load(&cfg, tmpdir, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: cannot open: Is a directory", tmpdir);
	assert_string_equal(err, want);

	/* err is optional */
	assert_int_equal(ipkvm_config_load(&cfg, missing, NULL, 0), -ENOENT);
	ipkvm_config_free(&cfg);
}

static void test_permission_denied(void **state)
{
	if (geteuid() == 0)
		skip(); /* root reads anything */
	struct ipkvm_config cfg;
	char err[512], want[512];
	ipkvm_config_init(&cfg);
	const char *path = write_text("secret.ini", "[server]\nport = 1\n");
	assert_int_equal(chmod(path, 0), 0);
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want), "%s: cannot open: Permission denied", path);
	assert_string_equal(err, want);
	ipkvm_config_free(&cfg);
}

static void test_set(void **state)
{
	struct ipkvm_config cfg;
	char err[256] = "";
	ipkvm_config_init(&cfg);

	assert_int_equal(ipkvm_config_set(&cfg, "server", "port", "9000", err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 9000);
	assert_int_equal(ipkvm_config_set(&cfg, "server", "listen", "fe80::1", err, sizeof(err)),
			 0);
	assert_string_equal(cfg.listen, "fe80::1");
	assert_int_equal(ipkvm_config_set(&cfg, "server", "listen", "", err, sizeof(err)), 0);
	assert_string_equal(cfg.listen, "");
	/* [vnc] novnc_dir: empty serves no noVNC */
	assert_int_equal(ipkvm_config_set(&cfg, "vnc", "novnc_dir", "", err, sizeof(err)), 0);
	assert_null(cfg.vnc_novnc_dir);
	assert_int_equal(
	    ipkvm_config_set(&cfg, "server", "state_dir", "/tmp/state", err, sizeof(err)), 0);
	assert_string_equal(cfg.state_dir, "/tmp/state");
	assert_int_equal(ipkvm_config_set(&cfg, "server", "web_root", "/w", err, sizeof(err)), 0);
	assert_string_equal(cfg.web_root, "/w");
	assert_int_equal(ipkvm_config_set(&cfg, "server", "web_root", "", err, sizeof(err)), 0);
	assert_null(cfg.web_root);
	assert_int_equal(ipkvm_config_set(&cfg, "log", "level", "error", err, sizeof(err)), 0);
	assert_int_equal(cfg.log_level, IPKVM_LOG_ERROR);
	assert_int_equal(ipkvm_config_set(&cfg, "log", "level", "warn", err, sizeof(err)), 0);
	assert_int_equal(cfg.log_level, IPKVM_LOG_WARN);

	/* every duration form */
	static const struct {
		const char *text;
		int seconds;
	} durations[] = {{"90", 90},	 {"90s", 90}, {"15m", 900},	 {"12h", 43200},
			 {"7d", 604800}, {"+5", 5},   {"365d", 31536000}};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(durations); i++) {
		assert_int_equal(ipkvm_config_set(&cfg, "auth", "session_lifetime",
						  durations[i].text, err, sizeof(err)),
				 0);
		assert_int_equal(cfg.session_lifetime, durations[i].seconds);
	}
	assert_int_equal(
	    ipkvm_config_set(&cfg, "auth", "session_lifetime", "366d", err, sizeof(err)), -EINVAL);
	assert_string_equal(
	    err, "[auth] session_lifetime: 366d is out of range (expected 1..31536000 seconds)");
	assert_int_equal(cfg.session_lifetime, 31536000);

	/* every size form (64-bit field: over 4 GiB must survive) */
	static const struct {
		const char *text;
		int64_t bytes;
	} sizes[] = {{"0", 0},
		     {"1048576", 1048576},
		     {"4k", 4096},
		     {"512M", INT64_C(512) << 20},
		     {"64G", INT64_C(64) << 30},
		     {"2t", INT64_C(2) << 40},
		     {"1073741824G", INT64_C(1) << 60}};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(sizes); i++) {
		assert_int_equal(
		    ipkvm_config_set(&cfg, "msd", "max_size", sizes[i].text, err, sizeof(err)), 0);
		assert_int_equal(cfg.msd_max_size, sizes[i].bytes);
	}
	static const struct {
		const char *text, *err;
	} bad_sizes[] = {
	    {"", "[msd] max_size: empty value (expected a size such as 0, 1048576, 512M or 64G)"},
	    {"-1", "[msd] max_size: \"-1\" is not a size (examples: 0, 1048576, 512M, 64G; K M G T "
		   "are powers of 1024)"},
	    {"1.5G", "[msd] max_size: \"1.5G\" is not a size (examples: 0, 1048576, 512M, 64G; K M "
		     "G T are powers of 1024)"},
	    {"5GB", "[msd] max_size: \"5GB\" is not a size (examples: 0, 1048576, 512M, 64G; K M G "
		    "T are powers of 1024)"},
	    {"5P", "[msd] max_size: \"5P\" is not a size (examples: 0, 1048576, 512M, 64G; K M G T "
		   "are powers of 1024)"},
	    {"1073741825G", "[msd] max_size: 1073741825G is out of range (at most 1073741824G)"},
	    {"99999999999999999999999",
	     "[msd] max_size: 99999999999999999999999 is out of range (at most 1073741824G)"},
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(bad_sizes); i++) {
		assert_int_equal(
		    ipkvm_config_set(&cfg, "msd", "max_size", bad_sizes[i].text, err, sizeof(err)),
		    -EINVAL);
		assert_string_equal(err, bad_sizes[i].err);
		assert_int_equal(cfg.msd_max_size, INT64_C(1) << 60);
	}

	/* errors: "[section] key: message", value unchanged */
	assert_int_equal(ipkvm_config_set(&cfg, "server", "port", "x", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "[server] port: \"x\" is not an integer (expected 1..65535)");
	assert_int_equal(cfg.port, 9000);
	assert_int_equal(ipkvm_config_set(&cfg, "server", "state_dir", "rel", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "[server] state_dir: \"rel\" is not an absolute path");
	assert_string_equal(cfg.state_dir, "/tmp/state");
	assert_int_equal(ipkvm_config_set(&cfg, "server", "nope", "1", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "[server] nope: unknown key");
	assert_int_equal(ipkvm_config_set(&cfg, "sever", "port", "1", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "[sever] port: unknown section (did you mean [server]?)");
	assert_int_equal(ipkvm_config_set(&cfg, "server", "port", NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "[server] port: missing value");
	assert_int_equal(ipkvm_config_set(&cfg, "server", "port", "x", NULL, 0), -EINVAL);

	/* a short buffer gets a truncated, terminated message */
	char small[10];
	assert_int_equal(ipkvm_config_set(&cfg, "server", "port", "x", small, sizeof(small)),
			 -EINVAL);
	assert_string_equal(small, "[server] ");
	ipkvm_config_free(&cfg);
}

/* The file overrides what it names; overrides then apply on top. Loading over existing
 * strings must free them (ASan reports leaks at exit). */
static void test_reload_no_leaks(void **state)
{
	struct ipkvm_config cfg;
	char err[256];
	ipkvm_config_init(&cfg);
	const char *path = write_text("full.ini", full_file);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), 0);
		assert_full_values(&cfg);
	}
	path = write_text("some.ini", "[server]\nlisten = ::\nstate_dir = /x\nweb_root =\n");
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_string_equal(cfg.listen, "::");
	assert_string_equal(cfg.state_dir, "/x");
	assert_null(cfg.web_root);
	assert_string_equal(cfg.tls_cert, "/etc/ipkvm/cert.pem"); /* not named: kept */
	assert_int_equal(cfg.port, 9443);
	path = write_text("bad.ini", "[server]\nlisten = 10.1.1.1\ntls_key = /k\nport = no\n");
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_string_equal(cfg.listen, "10.1.1.1");
	assert_string_equal(cfg.tls_key, "/k");
	assert_int_equal(ipkvm_config_set(&cfg, "server", "listen", "127.0.0.1", err, sizeof(err)),
			 0);
	assert_string_equal(cfg.listen, "127.0.0.1");
	ipkvm_config_free(&cfg);
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		if (is_string(k))
			assert_null(str_field(&cfg, k));
	}
}

/* Path of data/ipkvm.ini from IPKVM_SOURCE_ROOT (the repo) or IPKVM_TEST_DATA (set by meson
 * to tests/unit/data, which need not exist, so we cut components off as text). */
static bool example_path(char *out, size_t len)
{
	const char *root = getenv("IPKVM_SOURCE_ROOT");
	if (root && *root) {
		snprintf(out, len, "%s/data/ipkvm.ini", root);
		return true;
	}
	const char *data = getenv("IPKVM_TEST_DATA");
	if (!data || !*data)
		return false;
	char dir[512];
	ipkvm_strlcpy(dir, data, sizeof(dir));
	for (int up = 0; up < 3; up++) { /* tests/unit/data -> the repo */
		size_t n = strlen(dir);
		while (n > 1 && dir[n - 1] == '/')
			dir[--n] = '\0';
		char *slash = strrchr(dir, '/');
		if (!slash)
			return false;
		*slash = '\0';
	}
	snprintf(out, len, "%s/data/ipkvm.ini", dir);
	return true;
}

static char *read_example(void)
{
	char path[600];
	char *text = NULL;
	if (!example_path(path, sizeof(path)))
		return NULL;
	assert_int_equal(ipkvm_read_file(path, 1 << 20, &text, NULL), 0);
	return text;
}

/* The example as shipped (everything commented out) parses to the defaults. */
static void test_example_as_is(void **state)
{
	char *text = read_example();
	if (!text)
		skip();
	struct ipkvm_config cfg, def;
	char err[512] = "";
	ipkvm_config_init(&cfg);
	ipkvm_config_init(&def);
	const char *path = write_text("example.ini", text);
	if (ipkvm_config_load(&cfg, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_same_config(&cfg, &def);
	ipkvm_config_free(&cfg);
	ipkvm_config_free(&def);
	free(text);
}

/* Uncommenting every "#key = default" line still parses, to exactly the defaults. */
static void test_example_uncommented(void **state)
{
	char *text = read_example();
	if (!text)
		skip();
	size_t len = strlen(text), out_len = 0, uncommented = 0;
	char *out = malloc(len + 1);
	assert_non_null(out);
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) + 1 : strlen(line);
		bool setting = false;
		if (line[0] == '#') {
			for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
				size_t kl = strlen(k->name);
				if (strncmp(line + 1, k->name, kl) == 0 &&
				    (line[1 + kl] == ' ' || line[1 + kl] == '='))
					setting = true;
			}
		}
		if (setting) {
			memcpy(out + out_len, line + 1, ll - 1);
			out_len += ll - 1;
			uncommented++;
		} else {
			memcpy(out + out_len, line, ll);
			out_len += ll;
		}
		line += ll;
	}
	out[out_len] = '\0';
	assert_int_equal(uncommented, key_count());

	struct ipkvm_config cfg, def;
	char err[512] = "";
	ipkvm_config_init(&def);
	/* start from values unlike the defaults, so each line must really set its key */
	ipkvm_config_init(&cfg);
	const char *path = write_text("changed.ini", full_file);
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), 0);
	path = write_text("uncommented.ini", out);
	if (ipkvm_config_load(&cfg, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_same_config(&cfg, &def);
	ipkvm_config_free(&cfg);
	ipkvm_config_free(&def);
	free(out);
	free(text);
}

/* Every key of the table is documented in its section as "#name = default". */
static void test_example_documents_every_key(void **state)
{
	char *text = read_example();
	if (!text)
		skip();
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		char header[64], line[256];
		snprintf(header, sizeof(header), "\n[%s]\n", k->section);
		if (k->def && *k->def)
			snprintf(line, sizeof(line), "\n#%s = %s\n", k->name, k->def);
		else
			snprintf(line, sizeof(line), "\n#%s =\n", k->name);
		const char *sec = strstr(text, header);
		if (!sec)
			fail_msg("no [%s] section", k->section);
		const char *next = strstr(sec + 1, "\n[");
		const char *at = strstr(sec, line);
		if (!at || (next && at > next))
			fail_msg("[%s] %s is not documented as \"%s\"", k->section, k->name,
				 line + 1);
	}
	free(text);
}

/* Each choice key parses into its enum: the words are the enum's names, in order. */
static void test_choices(void **state)
{
	struct ipkvm_config cfg;
	char err[256];
	ipkvm_config_init(&cfg);
	assert_int_equal(cfg.video_source, IPKVM_VIDEO_SRC_VIRTUAL);
	assert_int_equal(cfg.hid_output, IPKVM_HID_OUTPUT_VIRTUAL);
	assert_int_equal(cfg.h264_backend, IPKVM_H264_BACKEND_AUTO);
	assert_int_equal(cfg.atx_driver, IPKVM_ATX_DRIVER_AUTO);
	assert_int_equal(cfg.msd_drives, IPKVM_MSD_DRIVES_AUTO);
	assert_int_equal(cfg.jpeg_subsampling, IPKVM_SUBSAMPLING_422);
	assert_int_equal(cfg.jpeg_encoder, IPKVM_CFG_JPEG_ENCODER_AUTO);
	assert_string_equal(cfg.jpeg_device, "/dev/video31");
	assert_int_equal(cfg.video_scene, IPKVM_SCENE_TESTCARD);
	assert_int_equal(cfg.video_format, IPKVM_CFG_PIXFMT_YUYV);
	assert_int_equal(cfg.target_layout, IPKVM_TARGET_LAYOUT_US);
	assert_int_equal(cfg.vnc_layout, IPKVM_VNC_LAYOUT_AUTO);
	static const struct {
		const char *section, *key, *word;
		size_t offset;
		int value;
	} cases[] = {
	    {"video", "source", "none", offsetof(struct ipkvm_config, video_source),
	     IPKVM_VIDEO_SRC_NONE},
	    {"video", "source", "pattern", offsetof(struct ipkvm_config, video_source),
	     IPKVM_VIDEO_SRC_PATTERN},
	    {"video", "source", "v4l2", offsetof(struct ipkvm_config, video_source),
	     IPKVM_VIDEO_SRC_V4L2},
	    {"video", "format", "bgr24", offsetof(struct ipkvm_config, video_format),
	     IPKVM_CFG_PIXFMT_BGR24},
	    {"video", "scene", "static", offsetof(struct ipkvm_config, video_scene),
	     IPKVM_SCENE_STATIC},
	    {"vnc", "layout", "us", offsetof(struct ipkvm_config, vnc_layout), IPKVM_VNC_LAYOUT_US},
	    {"vnc", "layout", "uk", offsetof(struct ipkvm_config, vnc_layout), IPKVM_VNC_LAYOUT_UK},
	    {"vnc", "layout", "de", offsetof(struct ipkvm_config, vnc_layout), IPKVM_VNC_LAYOUT_DE},
	    {"vnc", "layout", "fr", offsetof(struct ipkvm_config, vnc_layout), IPKVM_VNC_LAYOUT_FR},
	    {"vnc", "layout", "jp", offsetof(struct ipkvm_config, vnc_layout), IPKVM_VNC_LAYOUT_JP},
	    {"vnc", "layout", "auto", offsetof(struct ipkvm_config, vnc_layout),
	     IPKVM_VNC_LAYOUT_AUTO},
	    {"jpeg", "subsampling", "420", offsetof(struct ipkvm_config, jpeg_subsampling),
	     IPKVM_SUBSAMPLING_420},
	    {"jpeg", "encoder", "software", offsetof(struct ipkvm_config, jpeg_encoder),
	     IPKVM_CFG_JPEG_ENCODER_SOFTWARE},
	    {"jpeg", "encoder", "v4l2", offsetof(struct ipkvm_config, jpeg_encoder),
	     IPKVM_CFG_JPEG_ENCODER_V4L2},
	    {"jpeg", "encoder", "auto", offsetof(struct ipkvm_config, jpeg_encoder),
	     IPKVM_CFG_JPEG_ENCODER_AUTO},
	    {"h264", "backend", "none", offsetof(struct ipkvm_config, h264_backend),
	     IPKVM_H264_BACKEND_NONE},
	    {"h264", "backend", "v4l2", offsetof(struct ipkvm_config, h264_backend),
	     IPKVM_H264_BACKEND_V4L2},
	    {"hid", "output", "ch9329", offsetof(struct ipkvm_config, hid_output),
	     IPKVM_HID_OUTPUT_CH9329},
	    {"hid", "output", "gadget", offsetof(struct ipkvm_config, hid_output),
	     IPKVM_HID_OUTPUT_GADGET},
	    {"atx", "driver", "gpio", offsetof(struct ipkvm_config, atx_driver),
	     IPKVM_ATX_DRIVER_GPIO},
	    {"msd", "drives", "gadget", offsetof(struct ipkvm_config, msd_drives),
	     IPKVM_MSD_DRIVES_GADGET},
	    {"msd", "drives", "none", offsetof(struct ipkvm_config, msd_drives),
	     IPKVM_MSD_DRIVES_NONE},
	    {"target", "layout", "jp", offsetof(struct ipkvm_config, target_layout),
	     IPKVM_TARGET_LAYOUT_JP},
	    {"target", "format", "uyvy", offsetof(struct ipkvm_config, target_format),
	     IPKVM_CFG_PIXFMT_UYVY},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ipkvm_config_set(&cfg, cases[i].section, cases[i].key,
						  cases[i].word, err, sizeof(err)),
				 0);
		assert_int_equal(*(int *)((char *)&cfg + cases[i].offset), cases[i].value);
		assert_string_equal(
		    ipkvm_config_choice_name(cases[i].section, cases[i].key, cases[i].value),
		    cases[i].word);
	}
	/* A bad word leaves the value and says what is allowed. */
	assert_int_equal(ipkvm_config_set(&cfg, "msd", "drives", "usb", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "[msd] drives: \"usb\" is not one of: auto, none, gadget, virtual");
	assert_int_equal(cfg.msd_drives, IPKVM_MSD_DRIVES_NONE);
	assert_int_equal(ipkvm_config_set(&cfg, "msd", "drives", "", err, sizeof(err)), -EINVAL);
	/* Names of values that do not exist, or of keys that are not choices. */
	assert_null(ipkvm_config_choice_name("msd", "drives", 4));
	assert_null(ipkvm_config_choice_name("msd", "drives", -1));
	assert_null(ipkvm_config_choice_name("server", "port", 0));
	assert_null(ipkvm_config_choice_name("msd", "nothing", 0));
	/* Every word of every choice key names a value, and parses back to it. */
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		if (k->type != IPKVM_CFG_CHOICE)
			continue;
		assert_non_null(k->names);
		for (int i = 0; k->names[i]; i++) {
			assert_string_equal(ipkvm_config_choice_name(k->section, k->name, i),
					    k->names[i]);
			assert_int_equal(ipkvm_config_set(&cfg, k->section, k->name, k->names[i],
							  err, sizeof(err)),
					 0);
			assert_int_equal(*(int *)((char *)&cfg + k->offset), i);
		}
	}
	ipkvm_config_free(&cfg);
}

/* Sets key = value or fails the test. */
static void set(struct ipkvm_config *cfg, const char *section, const char *key, const char *value)
{
	char err[256];
	if (ipkvm_config_set(cfg, section, key, value, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

/* The "auto" settings resolve in one place, and follow the settings they depend on. */
static void test_resolved(void **state)
{
	struct ipkvm_config cfg;
	ipkvm_config_init(&cfg);
	/* The defaults: everything on the virtual target. */
	assert_true(cfg.resolved.target);
	assert_int_equal(cfg.resolved.atx, IPKVM_ATX_DRIVER_VIRTUAL);
	assert_int_equal(cfg.resolved.msd, IPKVM_MSD_DRIVES_VIRTUAL);
	/* The gadget, when it is made and has LUNs. */
	set(&cfg, "usb", "setup", "1");
	assert_int_equal(cfg.resolved.msd, IPKVM_MSD_DRIVES_GADGET);
	/* [usb] setup = 1 with no LUNs: the drives are the virtual target's, not the gadget's
	 * (the daemon and /api/info used to answer this one differently). */
	set(&cfg, "usb", "luns", "0");
	assert_int_equal(cfg.resolved.msd, IPKVM_MSD_DRIVES_VIRTUAL);
	set(&cfg, "usb", "luns", "2");
	assert_int_equal(cfg.resolved.msd, IPKVM_MSD_DRIVES_GADGET);
	set(&cfg, "usb", "setup", "0");
	/* Real hardware: no virtual target, so atx and msd auto are none. */
	set(&cfg, "video", "source", "v4l2");
	set(&cfg, "hid", "output", "gadget");
	assert_false(cfg.resolved.target);
	assert_int_equal(cfg.resolved.atx, IPKVM_ATX_DRIVER_NONE);
	assert_int_equal(cfg.resolved.msd, IPKVM_MSD_DRIVES_NONE);
	/* [atx] driver = virtual alone makes the target run, and its drives with it. */
	set(&cfg, "atx", "driver", "virtual");
	assert_true(cfg.resolved.target);
	assert_int_equal(cfg.resolved.msd, IPKVM_MSD_DRIVES_VIRTUAL);
	/* What is not auto stays as it is said. */
	set(&cfg, "atx", "driver", "gpio");
	set(&cfg, "msd", "drives", "gadget");
	assert_false(cfg.resolved.target);
	assert_int_equal(cfg.resolved.atx, IPKVM_ATX_DRIVER_GPIO);
	assert_int_equal(cfg.resolved.msd, IPKVM_MSD_DRIVES_GADGET);
	set(&cfg, "msd", "drives", "none");
	set(&cfg, "usb", "setup", "1");
	assert_int_equal(cfg.resolved.msd, IPKVM_MSD_DRIVES_NONE);
	/* A file sets the same fields: resolved after a load too. */
	char err[256];
	const char *path = write_text("resolve.ini", "[msd]\ndrives = auto\n[usb]\nluns = 1\n");
	assert_int_equal(ipkvm_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.resolved.msd, IPKVM_MSD_DRIVES_GADGET);
	ipkvm_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_crlf_file),
	    cmocka_unit_test(test_comments_only),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_load_buffer),
	    cmocka_unit_test(test_error_keeps_value),
	    cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_permission_denied),
	    cmocka_unit_test(test_set),
	    cmocka_unit_test(test_reload_no_leaks),
	    cmocka_unit_test(test_choices),
	    cmocka_unit_test(test_resolved),
	    cmocka_unit_test(test_example_as_is),
	    cmocka_unit_test(test_example_uncommented),
	    cmocka_unit_test(test_example_documents_every_key),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
