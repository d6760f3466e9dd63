/*
 * Unit tests for auth/authsvc, the auth service every front end asks, without any HTTP:
 * first start makes `admin` with the password in the initial-password file; login checks
 * the password (and TOTP, with replay refused), is throttled and audited, and answers the
 * same for unknown users; sessions open, authenticate, close (telling the watchers) and end
 * when the users file changes their user's password or role; API tokens act with their
 * user's current role; the user edits keep the last admin and refuse self-deletion; a call
 * detached while its hash runs on the worker still does its bookkeeping; a user's language
 * is kept in the preferences file, seen by a new service on the same state directory, and
 * goes when the user is deleted. Each test gets a
 * fresh temporary state directory; most hash inline (no worker), one uses a real worker.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/audit.h"
#include "auth/authsvc.h"
#include "auth/prefs.h"
#include "auth/tokens.h"
#include "auth/totp.h"
#include "auth/users.h"
#include "core/util.h"
#include "core/worker.h"

struct fx {
	char dir[64];
	char admin_pw[64];
	struct ipkvm_authsvc *a;
	struct ipkvm_authsvc_result res;
	int answers;
	int watched;
};

static void on_done(void *ctx, const struct ipkvm_authsvc_result *res)
{
	struct fx *f = ctx;
	f->res = *res;
	f->answers++;
}

static void on_change(void *ctx)
{
	((struct fx *)ctx)->watched++;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static struct ipkvm_authsvc *make(const char *dir, struct ipkvm_worker *worker)
{
	struct ipkvm_authsvc_config c = {
	    .state_dir = dir,
	    .session_idle = 600,
	    .session_lifetime = 3600,
	    .max_sessions = 16,
	    .max_sessions_per_user = 4,
	    .login_max_failures = 3,
	    .login_backoff_max = 60,
	    .worker = worker,
	};
	return ipkvm_authsvc_create(&c);
}

static void path_of(const struct fx *f, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", f->dir, name);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ipkvm-test-authsvc-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->a = make(f->dir, NULL);
	if (!f->a || ipkvm_authsvc_open(f->a) < 0)
		return -1;
	char path[128];
	path_of(f, IPKVM_INITIAL_PASSWORD_FILE, path, sizeof(path));
	FILE *fp = fopen(path, "r");
	if (!fp || !fgets(f->admin_pw, sizeof(f->admin_pw), fp))
		return -1;
	fclose(fp);
	f->admin_pw[strcspn(f->admin_pw, "\n")] = '\0';
	if (ipkvm_authsvc_watch(f->a, on_change, f) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ipkvm_authsvc_destroy(f->a);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static const struct ipkvm_authsvc_caller stranger = {.addr = "192.0.2.1", .via = "test"};

static enum ipkvm_authsvc_status login(struct fx *f, const char *user, const char *pw,
				       const char *code)
{
	int before = f->answers;
	assert_null(ipkvm_authsvc_login(f->a, &stranger, user, pw, code, on_done, f));
	assert_int_equal(f->answers, before + 1); /* inline: answered before returning */
	return f->res.status;
}

/* How many audit records of event the log holds. */
static int audited(const struct fx *f, const char *event)
{
	char path[128], line[2048], want[64];
	path_of(f, IPKVM_AUDIT_FILE, path, sizeof(path));
	snprintf(want, sizeof(want), "\"event\":\"%s\"", event);
	FILE *fp = fopen(path, "r");
	int n = 0;
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, want) != NULL;
	fclose(fp);
	return n;
}

/* Adds a user straight to the users file, as `ipkvmd user add` would. */
static void add_user_file(struct fx *f, const char *name, enum ipkvm_role role, const char *totp)
{
	char path[128];
	struct ipkvm_users u;
	struct ipkvm_user nu = {.role = role};
	path_of(f, IPKVM_USERS_FILE, path, sizeof(path));
	ipkvm_users_init(&u);
	assert_int_equal(ipkvm_users_load(&u, path, NULL, 0), 0);
	snprintf(nu.name, sizeof(nu.name), "%s", name);
	assert_int_equal(ipkvm_password_hash("password-of-user", nu.hash, sizeof(nu.hash)), 0);
	if (totp)
		snprintf(nu.totp, sizeof(nu.totp), "%s", totp);
	assert_int_equal(ipkvm_users_add(&u, &nu), 0);
	assert_int_equal(ipkvm_users_save(&u, path), 0);
	ipkvm_users_free(&u);
}

static void test_first_start_makes_admin(void **state)
{
	struct fx *f = *state;
	const struct ipkvm_user *u = ipkvm_authsvc_user(f->a, "admin");
	assert_non_null(u);
	assert_int_equal(u->role, IPKVM_ROLE_ADMIN);
	assert_int_equal(ipkvm_authsvc_users(f->a)->n, 1);
	assert_int_equal(audited(f, "user_add"), 1);
	assert_string_equal(ipkvm_authsvc_state_dir(f->a), f->dir);
	/* A second start finds the user and makes no other. */
	struct ipkvm_authsvc *again = make(f->dir, NULL);
	assert_non_null(again);
	assert_int_equal(ipkvm_authsvc_open(again), 0);
	assert_int_equal(ipkvm_authsvc_users(again)->n, 1);
	assert_int_equal(audited(f, "user_add"), 1);
	ipkvm_authsvc_destroy(again);
}

static void test_login_and_session(void **state)
{
	struct fx *f = *state;
	char token[IPKVM_SESSION_TOKEN_LEN + 1];
	struct ipkvm_auth auth, again;
	int64_t ends = 0;

	assert_int_equal(login(f, "admin", f->admin_pw, NULL), IPKVM_AUTHSVC_OK);
	assert_string_equal(f->res.user, "admin");
	assert_int_equal(f->res.role, IPKVM_ROLE_ADMIN);
	assert_false(f->res.totp);
	assert_int_equal(audited(f, "login"), 1);

	assert_int_equal(ipkvm_authsvc_session_open(f->a, "admin", token, &auth, &ends), 0);
	assert_int_equal(strlen(token), IPKVM_SESSION_TOKEN_LEN);
	assert_int_equal(auth.kind, IPKVM_AUTH_SESSION);
	assert_true(ends >= ipkvm_now() + 3600 - 2 && ends <= ipkvm_now() + 3600);
	assert_true(auth.expires <= ends);
	assert_int_equal(ipkvm_authsvc_session_count(f->a), 1);

	assert_int_equal(ipkvm_authsvc_session_auth(f->a, token, true, &again), 0);
	assert_int_equal(again.session_id, auth.session_id);
	assert_string_equal(again.user, "admin");
	assert_true(ipkvm_authsvc_recheck(f->a, &again, true));
	assert_int_equal(ipkvm_authsvc_session_auth(f->a, "not-a-token", true, &again), -EACCES);
	assert_int_equal(again.kind, IPKVM_AUTH_NONE);
	assert_int_equal(ipkvm_authsvc_session_open(f->a, "nobody", token, NULL, NULL), -ENOENT);

	int watched = f->watched;
	ipkvm_authsvc_session_close(f->a, auth.session_id);
	assert_int_equal(f->watched, watched + 1);
	assert_false(ipkvm_authsvc_recheck(f->a, &auth, false));
	assert_int_equal(ipkvm_authsvc_session_count(f->a), 0);
	ipkvm_authsvc_tick(f->a);
}

static void test_login_failures_are_alike_and_throttled(void **state)
{
	struct fx *f = *state;
	assert_int_equal(login(f, "admin", "wrong-password", NULL), IPKVM_AUTHSVC_DENIED);
	char wrong_pw[sizeof(f->res.err)];
	snprintf(wrong_pw, sizeof(wrong_pw), "%s", f->res.err);
	/* Unknown users, even names too long to be users, get the same answer. */
	assert_int_equal(login(f, "nobody", "wrong-password", NULL), IPKVM_AUTHSVC_DENIED);
	assert_string_equal(f->res.err, wrong_pw);
	assert_int_equal(login(f, "a-name-much-longer-than-thirty-two-characters", "x", NULL),
			 IPKVM_AUTHSVC_DENIED);
	assert_int_equal(audited(f, "login_failed"), 3);

	/* Three failures of this address: the next attempt backs off, audited, unchecked. */
	assert_int_equal(login(f, "admin", f->admin_pw, NULL), IPKVM_AUTHSVC_THROTTLED);
	assert_true(f->res.retry_after >= 1);
	assert_int_equal(audited(f, "login_throttled"), 1);
	assert_int_equal(audited(f, "login"), 0);

	/* Another address may still log in as the user, which failed only once. */
	const struct ipkvm_authsvc_caller other = {.addr = "192.0.2.2"};
	assert_null(ipkvm_authsvc_login(f->a, &other, "admin", f->admin_pw, "", on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_OK);
}

static void totp_code(const char *secret, int64_t now, char *out, size_t len)
{
	uint8_t key[64];
	int n = ipkvm_base32_decode(secret, key, sizeof(key));
	assert_true(n > 0);
	snprintf(out, len, "%06u",
		 ipkvm_hotp(key, (size_t)n, (uint64_t)(now / IPKVM_TOTP_STEP), IPKVM_TOTP_DIGITS));
}

static void test_totp(void **state)
{
	struct fx *f = *state;
	char secret[40], code[16];
	assert_int_equal(ipkvm_totp_generate_secret(secret, sizeof(secret)), 0);
	add_user_file(f, "alice", IPKVM_ROLE_OPERATOR, secret);
	ipkvm_authsvc_refresh(f->a, false);

	assert_int_equal(login(f, "alice", "password-of-user", NULL), IPKVM_AUTHSVC_TOTP_REQUIRED);
	assert_int_equal(audited(f, "login_failed"), 0); /* not a failure */
	assert_int_equal(login(f, "alice", "password-of-user", "000000x"), IPKVM_AUTHSVC_DENIED);
	totp_code(secret, ipkvm_now(), code, sizeof(code));
	assert_int_equal(login(f, "alice", "password-of-user", code), IPKVM_AUTHSVC_OK);
	assert_true(f->res.totp);
	assert_int_equal(f->res.role, IPKVM_ROLE_OPERATOR);
	/* The same code again is a replay. */
	assert_int_equal(login(f, "alice", "password-of-user", code), IPKVM_AUTHSVC_DENIED);
}

static void test_file_changes_end_sessions(void **state)
{
	struct fx *f = *state;
	char token[IPKVM_SESSION_TOKEN_LEN + 1], path[128];
	struct ipkvm_auth bob, admin;
	add_user_file(f, "bob", IPKVM_ROLE_VIEWER, NULL);
	ipkvm_authsvc_refresh(f->a, false);
	assert_non_null(ipkvm_authsvc_user(f->a, "bob"));
	assert_int_equal(ipkvm_authsvc_session_open(f->a, "bob", token, &bob, NULL), 0);
	assert_int_equal(ipkvm_authsvc_session_open(f->a, "admin", token, &admin, NULL), 0);

	/* bob's role changes on disk (the CLI): his session ends, the admin's does not. */
	struct ipkvm_users u;
	ipkvm_users_init(&u);
	path_of(f, IPKVM_USERS_FILE, path, sizeof(path));
	assert_int_equal(ipkvm_users_load(&u, path, NULL, 0), 0);
	ipkvm_users_find(&u, "bob")->role = IPKVM_ROLE_OPERATOR;
	assert_int_equal(ipkvm_users_save(&u, path), 0);
	assert_false(ipkvm_authsvc_recheck(f->a, &bob, false));
	assert_true(ipkvm_authsvc_recheck(f->a, &admin, false));
	assert_int_equal(ipkvm_authsvc_user(f->a, "bob")->role, IPKVM_ROLE_OPERATOR);

	/* A file that does not parse keeps the last good users in service. */
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is not a users file\n", fp);
	fclose(fp);
	ipkvm_authsvc_refresh(f->a, false);
	assert_non_null(ipkvm_authsvc_user(f->a, "bob"));
	assert_true(ipkvm_authsvc_recheck(f->a, &admin, false));
	/* Written back, and forced (SIGHUP): the same users. */
	assert_int_equal(ipkvm_users_save(&u, path), 0);
	ipkvm_authsvc_refresh(f->a, true);
	assert_int_equal(ipkvm_authsvc_users(f->a)->n, 2);
	ipkvm_users_free(&u);
}

static void test_tokens(void **state)
{
	struct fx *f = *state;
	char path[128], token[IPKVM_TOKEN_LEN + 1];
	struct ipkvm_tokens t;
	struct ipkvm_auth auth;
	add_user_file(f, "carol", IPKVM_ROLE_OPERATOR, NULL);
	ipkvm_tokens_init(&t);
	assert_int_equal(
	    ipkvm_tokens_create(&t, "carol", ipkvm_now(), 0, "ci", token, sizeof(token)), 0);
	path_of(f, IPKVM_TOKENS_FILE, path, sizeof(path));
	assert_int_equal(ipkvm_tokens_save(&t, path), 0);
	ipkvm_tokens_free(&t);
	ipkvm_authsvc_refresh(f->a, false);

	assert_int_equal(ipkvm_authsvc_token_auth(f->a, token, &auth), 0);
	assert_int_equal(auth.kind, IPKVM_AUTH_TOKEN);
	assert_string_equal(auth.user, "carol");
	assert_int_equal(auth.role, IPKVM_ROLE_OPERATOR);
	assert_int_equal(auth.expires, 0);
	assert_true(ipkvm_auth_allows(&auth, IPKVM_ROLE_OPERATOR));
	assert_false(ipkvm_auth_allows(&auth, IPKVM_ROLE_ADMIN));
	assert_int_equal(ipkvm_authsvc_token_auth(f->a, "ipk_nope", &auth), -EACCES);
	assert_false(ipkvm_auth_allows(&auth, IPKVM_ROLE_VIEWER));
	assert_int_equal(ipkvm_authsvc_token_auth(f->a, token, &auth), 0);

	/* The role changes: input stops (recheck), watching follows the new role. */
	struct ipkvm_auth watcher = auth;
	struct ipkvm_authsvc_caller admin = {.auth = NULL, .addr = "", .via = "test"};
	struct ipkvm_auth admin_auth = {.kind = IPKVM_AUTH_SESSION, .role = IPKVM_ROLE_ADMIN};
	snprintf(admin_auth.user, sizeof(admin_auth.user), "admin");
	admin.auth = &admin_auth;
	assert_null(ipkvm_authsvc_user_set(f->a, &admin, "carol", NULL, true, IPKVM_ROLE_VIEWER,
					   on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_OK);
	assert_false(ipkvm_authsvc_recheck(f->a, &auth, false));
	assert_true(ipkvm_authsvc_recheck_viewer(f->a, &watcher));
	assert_int_equal(watcher.role, IPKVM_ROLE_VIEWER);

	/* Deleting the user takes its tokens along. */
	struct ipkvm_authsvc_result res;
	ipkvm_authsvc_user_del(f->a, &admin, "carol", &res);
	assert_int_equal(res.status, IPKVM_AUTHSVC_OK);
	assert_false(ipkvm_authsvc_recheck_viewer(f->a, &watcher));
	assert_int_equal(ipkvm_authsvc_token_auth(f->a, token, &auth), -EACCES);
	ipkvm_tokens_init(&t);
	assert_int_equal(ipkvm_tokens_load(&t, path, NULL, 0), 0);
	assert_int_equal(t.n, 0);
	ipkvm_tokens_free(&t);
}

static void test_change_password(void **state)
{
	struct fx *f = *state;
	char token[IPKVM_SESSION_TOKEN_LEN + 1], path[128];
	struct ipkvm_auth me;
	assert_int_equal(ipkvm_authsvc_session_open(f->a, "admin", token, &me, NULL), 0);
	struct ipkvm_authsvc_caller caller = {.auth = &me, .addr = "192.0.2.9", .via = "test"};

	assert_null(ipkvm_authsvc_change_password(f->a, &caller, "wrong-password", "new-password-1",
						  on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_DENIED);
	assert_int_equal(audited(f, "password_failed"), 1);
	assert_true(ipkvm_authsvc_recheck(f->a, &me, false));

	int watched = f->watched;
	assert_null(ipkvm_authsvc_change_password(f->a, &caller, f->admin_pw, "new-password-1",
						  on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_OK);
	assert_true(f->watched > watched);
	assert_int_equal(audited(f, "user_passwd"), 1);
	/* The sessions with the old hash ended; the initial password is forgotten. */
	assert_false(ipkvm_authsvc_recheck(f->a, &me, false));
	path_of(f, IPKVM_INITIAL_PASSWORD_FILE, path, sizeof(path));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(login(f, "admin", f->admin_pw, NULL), IPKVM_AUTHSVC_DENIED);
	assert_int_equal(login(f, "admin", "new-password-1", NULL), IPKVM_AUTHSVC_OK);

	/* A caller whose user is gone. */
	struct ipkvm_auth ghost = {.kind = IPKVM_AUTH_SESSION};
	snprintf(ghost.user, sizeof(ghost.user), "ghost");
	caller.auth = &ghost;
	assert_null(
	    ipkvm_authsvc_change_password(f->a, &caller, "x", "new-password-2", on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_UNKNOWN_CALLER);

	assert_true(ipkvm_authsvc_password_ok("eight ch"));
	assert_false(ipkvm_authsvc_password_ok("seven c"));
	assert_false(ipkvm_authsvc_password_ok("two\nlines here"));
}

static void test_user_edits(void **state)
{
	struct fx *f = *state;
	struct ipkvm_auth admin_auth = {.kind = IPKVM_AUTH_TOKEN, .role = IPKVM_ROLE_ADMIN};
	snprintf(admin_auth.user, sizeof(admin_auth.user), "admin");
	struct ipkvm_authsvc_caller admin = {.auth = &admin_auth, .addr = "::1", .via = "test"};
	struct ipkvm_authsvc_result res;

	assert_null(ipkvm_authsvc_user_add(f->a, &admin, "dave", "password-of-dave",
					   IPKVM_ROLE_ADMIN, on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_OK);
	assert_int_equal(f->res.role, IPKVM_ROLE_ADMIN);
	assert_non_null(ipkvm_authsvc_user(f->a, "dave"));
	assert_null(ipkvm_authsvc_user_add(f->a, &admin, "dave", "password-of-dave",
					   IPKVM_ROLE_VIEWER, on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_CONFLICT);
	assert_int_equal(login(f, "dave", "password-of-dave", NULL), IPKVM_AUTHSVC_OK);

	/* Two admins: one may step down; then the other is the last admin. */
	assert_null(ipkvm_authsvc_user_set(f->a, &admin, "dave", "another-password", true,
					   IPKVM_ROLE_OPERATOR, on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_OK);
	assert_int_equal(f->res.role, IPKVM_ROLE_OPERATOR);
	assert_int_equal(audited(f, "user_role"), 1);
	assert_int_equal(login(f, "dave", "another-password", NULL), IPKVM_AUTHSVC_OK);
	assert_null(ipkvm_authsvc_user_set(f->a, &admin, "admin", NULL, true, IPKVM_ROLE_VIEWER,
					   on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_CONFLICT);
	assert_int_equal(ipkvm_authsvc_user(f->a, "admin")->role, IPKVM_ROLE_ADMIN);
	assert_null(ipkvm_authsvc_user_set(f->a, &admin, "nobody", NULL, true, IPKVM_ROLE_VIEWER,
					   on_done, f));
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_NOT_FOUND);

	ipkvm_authsvc_user_del(f->a, &admin, "admin", &res);
	assert_int_equal(res.status, IPKVM_AUTHSVC_CONFLICT); /* yourself */
	struct ipkvm_auth dave_auth = admin_auth;
	snprintf(dave_auth.user, sizeof(dave_auth.user), "dave");
	struct ipkvm_authsvc_caller dave = {.auth = &dave_auth, .addr = "::1"};
	ipkvm_authsvc_user_del(f->a, &dave, "admin", &res);
	assert_int_equal(res.status, IPKVM_AUTHSVC_CONFLICT); /* the last admin */
	ipkvm_authsvc_user_del(f->a, &admin, "dave", &res);
	assert_int_equal(res.status, IPKVM_AUTHSVC_OK);
	assert_null(ipkvm_authsvc_user(f->a, "dave"));
	ipkvm_authsvc_user_del(f->a, &admin, "dave", &res);
	assert_int_equal(res.status, IPKVM_AUTHSVC_NOT_FOUND);
	assert_int_equal(audited(f, "user_del"), 3); /* every edit tried, not the refusal */
}

/* Custom edits run under the lock on a fresh copy, and their refusals come back. */
static int edit_refuse(struct ipkvm_users *u, void *ctx, char *err, size_t errlen)
{
	snprintf(err, errlen, "refused with %zu user(s)", u->n);
	return -EPERM;
}

static void test_edit_users(void **state)
{
	struct fx *f = *state;
	char err[128];
	assert_int_equal(ipkvm_authsvc_edit_users(f->a, edit_refuse, NULL, err, sizeof(err)),
			 -EPERM);
	assert_string_equal(err, "refused with 1 user(s)");
	assert_int_equal(ipkvm_authsvc_users(f->a)->n, 1);
	ipkvm_authsvc_unwatch(f->a, on_change, f);
	int watched = f->watched;
	ipkvm_authsvc_edit_users(f->a, edit_refuse, NULL, err, sizeof(err));
	assert_int_equal(f->watched, watched);
	assert_int_equal(ipkvm_authsvc_audit(f->a, "custom", "admin", "", true, NULL), 0);
	assert_int_equal(audited(f, "custom"), 1);
}

/* --- with a worker --------------------------------------------------------------------- */

static int wake_pipe[2];

static void wake(void *ctx)
{
	char c = 1;
	(void)!write(wake_pipe[1], &c, 1);
}

/* Drains the worker until its next wake-up. */
static void drain_once(struct ipkvm_worker *w)
{
	struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};
	char buf[16];
	assert_int_equal(poll(&p, 1, 10000), 1);
	(void)!read(wake_pipe[0], buf, sizeof(buf));
	ipkvm_worker_drain(w);
}

static void test_worker_and_detach(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pipe(wake_pipe), 0);
	struct ipkvm_worker *w = ipkvm_worker_create(wake, NULL);
	assert_non_null(w);
	struct ipkvm_authsvc *a = make(f->dir, w);
	assert_non_null(a);
	assert_int_equal(ipkvm_authsvc_open(a), 0);
	struct ipkvm_authsvc *old = f->a;
	f->a = a;

	int answers = f->answers;
	struct ipkvm_authsvc_call *call =
	    ipkvm_authsvc_login(a, &stranger, "admin", f->admin_pw, NULL, on_done, f);
	assert_non_null(call);
	assert_int_equal(f->answers, answers); /* not yet */
	while (f->answers == answers)
		drain_once(w);
	assert_int_equal(f->res.status, IPKVM_AUTHSVC_OK);

	/* Detached: no answer, but the failure is counted and audited. */
	answers = f->answers;
	call = ipkvm_authsvc_login(a, &stranger, "admin", "wrong-password", NULL, on_done, f);
	assert_non_null(call);
	ipkvm_authsvc_detach(call);
	while (audited(f, "login_failed") == 0)
		drain_once(w);
	assert_int_equal(f->answers, answers);

	/* A call in flight at shutdown finishes in the worker's destroy. */
	call = ipkvm_authsvc_login(a, &stranger, "admin", f->admin_pw, NULL, on_done, f);
	assert_non_null(call);
	ipkvm_worker_destroy(w);
	assert_int_equal(f->answers, answers + 1);
	f->a = old;
	ipkvm_authsvc_destroy(a);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
}

static void test_open_fails_on_a_bad_state_dir(void **state)
{
	struct ipkvm_authsvc_config c = {.state_dir = "/proc/version/x", .max_sessions = 1};
	struct ipkvm_authsvc *a = ipkvm_authsvc_create(&c);
	assert_non_null(a);
	assert_true(ipkvm_authsvc_open(a) < 0);
	ipkvm_authsvc_destroy(a);
	char longdir[PATH_MAX + 8];
	memset(longdir, 'x', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	c.state_dir = longdir;
	assert_null(ipkvm_authsvc_create(&c));
}

static char *read_prefs(const struct fx *f)
{
	char path[128], *text = NULL;
	path_of(f, IPKVM_PREFS_FILE, path, sizeof(path));
	if (ipkvm_read_file(path, 4096, &text, NULL) < 0)
		return NULL;
	return text;
}

static void test_language(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	assert_null(ipkvm_authsvc_language(f->a, "admin"));
	assert_int_equal(ipkvm_authsvc_set_language(f->a, "admin", "ja", err, sizeof(err)), 0);
	assert_string_equal(ipkvm_authsvc_language(f->a, "admin"), "ja");
	add_user_file(f, "carol", IPKVM_ROLE_VIEWER, NULL);
	assert_int_equal(ipkvm_authsvc_set_language(f->a, "carol", "en", err, sizeof(err)), 0);
	assert_int_equal(ipkvm_authsvc_set_language(f->a, "carol", "pt-BR", err, sizeof(err)), 0);
	char *text = read_prefs(f);
	assert_non_null(text);
	assert_string_equal(text, "admin:ja\ncarol:pt-BR\n");
	free(text);
	char path[128];
	struct stat st;
	path_of(f, IPKVM_PREFS_FILE, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* refused: a bad tag, a user that does not exist */
	assert_int_equal(ipkvm_authsvc_set_language(f->a, "carol", "../x", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(ipkvm_authsvc_set_language(f->a, "nobody", "ja", err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "no user nobody");
	assert_null(ipkvm_authsvc_language(f->a, "nobody"));
	assert_string_equal(ipkvm_authsvc_language(f->a, "carol"), "pt-BR");

	/* a new service on the same directory (a restart) knows them */
	struct ipkvm_authsvc *b = make(f->dir, NULL);
	assert_non_null(b);
	assert_int_equal(ipkvm_authsvc_open(b), 0);
	assert_string_equal(ipkvm_authsvc_language(b, "admin"), "ja");
	assert_string_equal(ipkvm_authsvc_language(b, "carol"), "pt-BR");
	/* a change by one is seen by the other at its next refresh */
	assert_int_equal(ipkvm_authsvc_set_language(b, "admin", NULL, err, sizeof(err)), 0);
	assert_null(ipkvm_authsvc_language(b, "admin"));
	ipkvm_authsvc_refresh(f->a, false);
	assert_null(ipkvm_authsvc_language(f->a, "admin"));
	ipkvm_authsvc_destroy(b);

	/* a deleted user's language goes with it; a new user of the name starts afresh */
	struct ipkvm_auth admin_auth = {.kind = IPKVM_AUTH_TOKEN, .role = IPKVM_ROLE_ADMIN};
	snprintf(admin_auth.user, sizeof(admin_auth.user), "admin");
	struct ipkvm_authsvc_caller admin = {.auth = &admin_auth, .addr = "::1", .via = "test"};
	struct ipkvm_authsvc_result res;
	ipkvm_authsvc_user_del(f->a, &admin, "carol", &res);
	assert_int_equal(res.status, IPKVM_AUTHSVC_OK);
	text = read_prefs(f);
	assert_non_null(text);
	assert_string_equal(text, "");
	free(text);
	add_user_file(f, "carol", IPKVM_ROLE_VIEWER, NULL);
	ipkvm_authsvc_refresh(f->a, false);
	assert_null(ipkvm_authsvc_language(f->a, "carol"));

	/* a preferences file that does not parse: kept, not overwritten, the last good
	 * choices stay in service */
	assert_int_equal(ipkvm_authsvc_set_language(f->a, "carol", "ja", err, sizeof(err)), 0);
	assert_int_equal(ipkvm_write_file_atomic(path, "carol:ja\nbroken\n", 17, 0600), 0);
	ipkvm_authsvc_refresh(f->a, false);
	assert_string_equal(ipkvm_authsvc_language(f->a, "carol"), "ja");
	assert_int_equal(ipkvm_authsvc_set_language(f->a, "carol", "en", err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, ":2: expected name:language"));
	text = read_prefs(f);
	assert_string_equal(text, "carol:ja\nbroken\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_first_start_makes_admin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_and_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_failures_are_alike_and_throttled, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_totp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_changes_end_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_change_password, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_edits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_edit_users, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_and_detach, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_language, setup, teardown),
	    cmocka_unit_test(test_open_fails_on_a_bad_state_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
