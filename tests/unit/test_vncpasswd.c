/*
 * Unit tests for vnc/vncpasswd, the [vnc] vncauth_password_file: entries of existing users
 * (the first 8 characters of each password kept, the rest dropped and never compared),
 * comments and blank lines, and every refusal with its message: a line without a colon, a bad
 * or unknown user name, an empty password, two passwords the same in their first 8
 * characters, too many entries, an empty file; and the file itself: group- or
 * other-accessible modes are refused ("chmod 600"), as are a directory and a missing file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/authsvc.h"
#include "core/log.h"
#include "core/util.h"
#include "vnc/vncpasswd.h"

struct fx {
	char dir[64];
	struct ipkvm_authsvc *a;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int add_bob(struct ipkvm_users *u, void *ctx, char *err, size_t errlen)
{
	struct ipkvm_user bob = {.name = "bob", .hash = "$y$unused", .role = IPKVM_ROLE_VIEWER};
	return ipkvm_users_add(u, &bob);
}

/* An auth service whose users are admin (first start) and bob. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ipkvm-test-vncpasswd-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	struct ipkvm_authsvc_config c = {.state_dir = f->dir,
					 .session_idle = 600,
					 .session_lifetime = 3600,
					 .max_sessions = 16,
					 .max_sessions_per_user = 4,
					 .login_max_failures = 3,
					 .login_backoff_max = 60};
	char err[256];
	f->a = ipkvm_authsvc_create(&c);
	if (!f->a || ipkvm_authsvc_open(f->a) < 0 ||
	    ipkvm_authsvc_edit_users(f->a, add_bob, NULL, err, sizeof(err)) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ipkvm_authsvc_destroy(f->a);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Parses text (copied: the parser cuts it up) against the fixture's users. */
static int parse(struct fx *f, const char *text, struct ipkvm_rfb_vncauth_entry **e, size_t *n,
		 char *err, size_t errlen)
{
	size_t len = strlen(text);
	char *buf = malloc(len + 1);
	assert_non_null(buf);
	memcpy(buf, text, len + 1);
	int r = ipkvm_vncpasswd_parse(buf, len, "vnc.passwd", f->a, e, n, err, errlen);
	free(buf);
	return r;
}

static void test_entries(void **state)
{
	struct fx *f = *state;
	struct ipkvm_rfb_vncauth_entry *e;
	size_t n;
	char err[512] = "";
	assert_int_equal(parse(f,
			       "# VNC passwords\n"
			       "\n"
			       "admin:secret\r\n"
			       "bob:a:b c\n"
			       "   \n"
			       "admin:0123456789abc\n",
			       &e, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].user, "admin");
	assert_string_equal(e[0].password, "secret");
	/* Everything after the first colon, spaces and colons included. */
	assert_string_equal(e[1].user, "bob");
	assert_string_equal(e[1].password, "a:b c");
	/* Only 8 characters count in VncAuth: the rest is not kept. */
	assert_string_equal(e[2].user, "admin");
	assert_string_equal(e[2].password, "01234567");
	assert_int_equal(e[2].password[8], '\0');
	ipkvm_vncpasswd_free(e, n);

	/* Without an auth service the names are not checked. */
	char text[] = "ghost:boo\n";
	assert_int_equal(
	    ipkvm_vncpasswd_parse(text, strlen(text), "x", NULL, &e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].user, "ghost");
	ipkvm_vncpasswd_free(e, n);
}

static void test_refused(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *text;
		int r;
		const char *err;
	} cases[] = {
	    {"admin secret\n", -EINVAL, "vnc.passwd:1: expected user:password"},
	    {"# only\n\n", -EINVAL, "vnc.passwd: no user:password entry"},
	    {"", -EINVAL, "vnc.passwd: no user:password entry"},
	    {"admin:x\nBad Name:pw\n", -EINVAL,
	     "vnc.passwd:2: \"Bad Name\" is not a valid user name"},
	    {"carol:pw\n", -ENOENT,
	     "vnc.passwd:1: no ipkvm user \"carol\" (each entry names an existing user, whose "
	     "role the VNC client gets; add one with `ipkvmd user add`)"},
	    {"admin:\n", -EINVAL, "vnc.passwd:1: empty password for admin"},
	    {"admin:12345678\nbob:12345678-and-more\n", -EINVAL,
	     "vnc.passwd:2: bob's password is the same as admin's in its first 8 characters "
	     "(VncAuth sends no user name: the password alone must tell who connects)"},
	    {"admin:pw\nadmin:pw\n", -EINVAL,
	     "vnc.passwd:2: admin's password is the same as admin's in its first 8 characters "
	     "(VncAuth sends no user name: the password alone must tell who connects)"},
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(cases); i++) {
		struct ipkvm_rfb_vncauth_entry *e = (void *)1;
		size_t n = 99;
		char err[512] = "";
		assert_int_equal(parse(f, cases[i].text, &e, &n, err, sizeof(err)), cases[i].r);
		assert_string_equal(err, cases[i].err);
		assert_null(e);
		assert_int_equal(n, 0);
	}
}

static void test_too_many(void **state)
{
	struct fx *f = *state;
	char text[IPKVM_VNCPASSWD_MAX * 24 + 64] = "";
	for (int i = 0; i <= IPKVM_VNCPASSWD_MAX; i++) {
		size_t o = strlen(text);
		snprintf(text + o, sizeof(text) - o, "bob:pw%d\n", i);
	}
	struct ipkvm_rfb_vncauth_entry *e;
	size_t n;
	char err[512] = "", want[128];
	assert_int_equal(parse(f, text, &e, &n, err, sizeof(err)), -E2BIG);
	snprintf(want, sizeof(want), "vnc.passwd:%d: more than %d entries", IPKVM_VNCPASSWD_MAX + 1,
		 IPKVM_VNCPASSWD_MAX);
	assert_string_equal(err, want);
	/* One fewer fits. */
	text[strlen(text) - 1] = '\0';
	strrchr(text, '\n')[1] = '\0';
	assert_int_equal(parse(f, text, &e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, IPKVM_VNCPASSWD_MAX);
	ipkvm_vncpasswd_free(e, n);
}

static void test_file_mode(void **state)
{
	struct fx *f = *state;
	char path[128], err[512] = "", want[512];
	struct ipkvm_rfb_vncauth_entry *e;
	size_t n;
	snprintf(path, sizeof(path), "%s/vnc.passwd", f->dir);
	assert_int_equal(ipkvm_write_file_atomic(path, "bob:viewonly\n", 13, 0600), 0);
	assert_int_equal(ipkvm_vncpasswd_load(path, f->a, &e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].user, "bob");
	assert_string_equal(e[0].password, "viewonly");
	ipkvm_vncpasswd_free(e, n);
	/* 0400 is fine too: only the owner. */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(ipkvm_vncpasswd_load(path, f->a, &e, &n, err, sizeof(err)), 0);
	ipkvm_vncpasswd_free(e, n);

	static const mode_t bad[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(bad); i++) {
		assert_int_equal(chmod(path, bad[i]), 0);
		e = (void *)1;
		assert_int_equal(ipkvm_vncpasswd_load(path, f->a, &e, &n, err, sizeof(err)),
				 -EPERM);
		snprintf(want, sizeof(want),
			 "%s holds passwords in the clear but group or others may access it "
			 "(mode %03o): chmod 600 it",
			 path, (unsigned)bad[i]);
		assert_string_equal(err, want);
		assert_null(e);
		assert_int_equal(n, 0);
	}

	assert_int_equal(ipkvm_vncpasswd_load(f->dir, f->a, &e, &n, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a regular file", f->dir);
	assert_string_equal(err, want);
	snprintf(path, sizeof(path), "%s/missing", f->dir);
	assert_int_equal(ipkvm_vncpasswd_load(path, f->a, &e, &n, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
}

int main(void)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_mode, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
