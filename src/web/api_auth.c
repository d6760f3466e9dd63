/*
 * api_auth: the /api/auth/ endpoints (login, logout, check, own password) and /api/users (admin
 * user management).
 *
 * Password hashing and verification run on the worker thread (see core/worker.h): a login
 * request is parked until its job comes back, and the connection may go away meanwhile (the
 * job is then detached and only its bookkeeping runs: a failed attempt still counts).
 * Every outcome is audited. A failed login answers the same bytes whether or not the user
 * exists, and unknown users are checked against a dummy hash so timing tells nothing.
 */
#define LOG_TAG "auth"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/audit.h"
#include "auth/totp.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "web/web.h"

enum job_kind { JOB_LOGIN, JOB_PASSWORD, JOB_USER_ADD, JOB_USER_SET };

struct ipkvm_web_job {
	struct ipkvm_job job;
	enum job_kind kind;
	struct ipkvm_server *srv;
	struct ipkvm_http_req *req; /* NULL once the connection is gone */
	char user[IPKVM_USER_NAME_MAX + 1];
	char addr[IPKVM_ADDR_MAX];
	struct ipkvm_auth caller;
	/* in */
	char *password; /* verify this against hash (when set) */
	char hash[IPKVM_HASH_MAX];
	bool user_exists;
	char *new_password; /* hash this into new_hash (when set) */
	char totp[16];
	bool has_totp;
	enum ipkvm_role role;
	bool set_role;
	/* out */
	bool verified;
	int hash_err;
	char new_hash[IPKVM_HASH_MAX];
};

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void job_run(struct ipkvm_job *j)
{
	struct ipkvm_web_job *wj = (struct ipkvm_web_job *)j;
	if (wj->password)
		wj->verified = ipkvm_password_verify(wj->password, wj->hash);
	if (wj->new_password)
		wj->hash_err =
		    ipkvm_password_hash(wj->new_password, wj->new_hash, sizeof(wj->new_hash));
}

static void job_done(struct ipkvm_job *j);

static struct ipkvm_web_job *job_new(struct ipkvm_http_req *req, enum job_kind kind)
{
	/* One job per request: a second would overwrite req->job, and the first would later
	 * answer into a request that may be gone. Its answer is on the way: say nothing. */
	if (req->job) {
		LOG_ERROR("%s %s: a job is already under way for this request", req->addr,
			  req->path);
		return NULL;
	}
	struct ipkvm_web_job *wj = calloc(1, sizeof(*wj));
	if (!wj) {
		ipkvm_http_reply_error(req, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	wj->job.run = job_run;
	wj->job.done = job_done;
	wj->kind = kind;
	wj->srv = req->srv;
	wj->req = req;
	wj->caller = req->auth;
	ipkvm_strlcpy(wj->addr, req->addr, sizeof(wj->addr));
	return wj;
}

static void throttle_keys(const char *addr, const char *user, char *ka, char *ku, size_t len)
{
	snprintf(ka, len, "addr:%s", addr);
	snprintf(ku, len, "user:%s", user);
}

/* The request goes away before its job is done: the job runs on without it. */
static void detach_job(struct ipkvm_http_req *req)
{
	((struct ipkvm_web_job *)req->job)->req = NULL;
	req->job = NULL;
}

/* Login and own-password jobs check a password: they count as attempts in flight. */
static bool checks_password(const struct ipkvm_web_job *wj)
{
	return wj->kind == JOB_LOGIN || wj->kind == JOB_PASSWORD;
}

static void job_submit(struct ipkvm_web_job *wj)
{
	if (checks_password(wj)) {
		char ka[128], ku[128];
		throttle_keys(wj->addr, wj->user, ka, ku, sizeof(ka));
		ipkvm_throttle_begin(wj->srv->throttle, ka, ipkvm_mono_ms());
		ipkvm_throttle_begin(wj->srv->throttle, ku, ipkvm_mono_ms());
	}
	wj->req->job = wj;
	wj->req->job_detach = detach_job;
	ipkvm_worker_submit(wj->srv->worker, &wj->job);
}

/* Answers 429 and returns true when the address or the user is backing off. */
static bool throttled(struct ipkvm_http_req *req, const char *user)
{
	char ka[128], ku[128];
	throttle_keys(req->addr, user, ka, ku, sizeof(ka));
	int64_t now = ipkvm_mono_ms();
	int wa = ipkvm_throttle_check(req->srv->throttle, ka, now);
	int wu = ipkvm_throttle_check(req->srv->throttle, ku, now);
	int wait = wa > wu ? wa : wu;
	if (!wait)
		return false;
	ipkvm_audit(req->srv->state_dir, "login_throttled", user, req->addr, false,
		    json_pack("{s:i}", "retry_after", wait));
	ipkvm_http_header(req, "retry-after", "%d", wait);
	ipkvm_http_reply_error(req, 429, "throttled", json_pack("{s:i}", "retry_after", wait),
			       "too many failed attempts: try again in %d s", wait);
	return true;
}

static void count_failure(struct ipkvm_web_job *wj, const char *event, const char *why)
{
	char ka[128], ku[128];
	throttle_keys(wj->addr, wj->user, ka, ku, sizeof(ka));
	int64_t now = ipkvm_mono_ms();
	ipkvm_throttle_fail(wj->srv->throttle, ka, now);
	ipkvm_throttle_fail(wj->srv->throttle, ku, now);
	ipkvm_audit(wj->srv->state_dir, event, wj->user, wj->addr, false,
		    json_pack("{s:s}", "reason", why));
	LOG_INFO("%s from %s: %s (%s)", event, wj->addr, wj->user, why);
	if (wj->req)
		ipkvm_http_reply_error(wj->req, 401, "bad_credentials", NULL,
				       "wrong user name, password or code");
}

static json_t *session_result(struct ipkvm_server *srv, const char *user, enum ipkvm_role role,
			      const struct ipkvm_session *s)
{
	return json_pack("{s:s, s:s, s:I, s:i}", "user", user, "role", ipkvm_role_name(role),
			 "expires", (json_int_t)(s->created + srv->cfg->session_lifetime),
			 "idle_timeout", srv->cfg->session_idle);
}

/* Starts a session for user and puts its cookie on req. */
static const struct ipkvm_session *start_session(struct ipkvm_http_req *req,
						 const struct ipkvm_user *u)
{
	char token[IPKVM_SESSION_TOKEN_LEN + 1], cookie[256];
	struct ipkvm_session *s =
	    ipkvm_sessions_start(req->srv->sessions, u->name, u->role, u->hash, ipkvm_now(), token);
	if (!s)
		return NULL;
	ipkvm_web_cookie(req->srv, token, cookie, sizeof(cookie));
	ipkvm_http_header(req, "set-cookie", "%s", cookie);
	explicit_bzero(token, sizeof(token));
	return s;
}

static void login_done(struct ipkvm_web_job *wj)
{
	struct ipkvm_server *srv = wj->srv;
	const struct ipkvm_user *u = ipkvm_users_find(&srv->users, wj->user);
	/* The hash must still be the one checked: a password change while the job ran wins. */
	if (!wj->user_exists || !u || strcmp(u->hash, wj->hash) != 0) {
		count_failure(wj, "login_failed", "unknown user");
		return;
	}
	if (!wj->verified) {
		count_failure(wj, "login_failed", "wrong password");
		return;
	}
	if (u->totp[0]) {
		if (!wj->has_totp) {
			/* The password was right: not counted as a failure, and the code is the
			 * only thing missing. */
			if (wj->req)
				ipkvm_http_reply_error(
				    wj->req, 401, "totp_required", NULL,
				    "enter the code from your authenticator app");
			return;
		}
		int64_t *last = ipkvm_web_totp_last(srv, u->name);
		if (!last || ipkvm_totp_verify(u->totp, wj->totp, ipkvm_now(), last) != 0) {
			count_failure(wj, "login_failed", "wrong code");
			return;
		}
	}
	char ka[128], ku[128];
	throttle_keys(wj->addr, wj->user, ka, ku, sizeof(ka));
	ipkvm_throttle_success(srv->throttle, ka);
	ipkvm_throttle_success(srv->throttle, ku);
	ipkvm_audit(srv->state_dir, "login", u->name, wj->addr, true,
		    json_pack("{s:b}", "totp", u->totp[0] != 0));
	LOG_INFO("login from %s: %s (%s)", wj->addr, u->name, ipkvm_role_name(u->role));
	if (!wj->req)
		return;
	const struct ipkvm_session *s = start_session(wj->req, u);
	if (!s) {
		ipkvm_http_reply_error(wj->req, 500, "internal", NULL, "cannot start a session");
		return;
	}
	ipkvm_http_reply_ok(wj->req, 200, session_result(srv, u->name, u->role, s));
}

void ipkvm_api_login(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {
	    {"user", IPKVM_JSON_STRING, true},
	    {"password", IPKVM_JSON_STRING, true},
	    {"totp", IPKVM_JSON_STRING, false},
	};
	if (!ipkvm_http_method_ok(req, IPKVM_POST))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	const char *user = ipkvm_json_str(body, "user");
	const char *totp = ipkvm_json_str(body, "totp");
	struct ipkvm_web_job *wj = NULL;
	if (throttled(req, user))
		goto out;
	if (!(wj = job_new(req, JOB_LOGIN)))
		goto out;
	/* Names too long for a user are simply unknown users, with the same answer. */
	ipkvm_strlcpy(wj->user, user, sizeof(wj->user));
	const struct ipkvm_user *u =
	    strlen(user) <= IPKVM_USER_NAME_MAX ? ipkvm_users_find(&req->srv->users, user) : NULL;
	wj->user_exists = u != NULL;
	ipkvm_strlcpy(wj->hash, u ? u->hash : ipkvm_password_dummy_hash(), sizeof(wj->hash));
	wj->password = strdup(ipkvm_json_str(body, "password"));
	if (totp && totp[0]) {
		wj->has_totp = true;
		ipkvm_strlcpy(wj->totp, totp, sizeof(wj->totp));
	}
	if (!wj->password) {
		free(wj);
		ipkvm_http_reply_error(req, 500, "internal", NULL, "out of memory");
		goto out;
	}
	job_submit(wj);
out:; /* a declaration may not follow a label in C17 (clang refuses it) */
	/* The password lives in the parsed body too. */
	json_t *pw = json_object_get(body, "password");
	if (pw && json_string_length(pw))
		explicit_bzero((char *)json_string_value(pw), json_string_length(pw));
	json_decref(body);
}

void ipkvm_api_logout(struct ipkvm_http_req *req)
{
	char cookie[256];
	if (!ipkvm_http_method_ok(req, IPKVM_POST))
		return;
	if (req->auth.kind == IPKVM_AUTH_SESSION)
		ipkvm_sessions_end(req->srv->sessions, req->auth.session_id);
	ipkvm_audit(req->srv->state_dir, "logout", req->auth.user, req->addr, true, NULL);
	LOG_INFO("logout from %s: %s", req->addr, req->auth.user);
	ipkvm_web_cookie(req->srv, NULL, cookie, sizeof(cookie));
	ipkvm_http_header(req, "set-cookie", "%s", cookie);
	ipkvm_http_reply_ok(req, 200, NULL);
	ipkvm_ws_sweep(req->srv);
}

void ipkvm_api_check(struct ipkvm_http_req *req)
{
	const struct ipkvm_auth *a = &req->auth;
	if (!ipkvm_http_method_ok(req, IPKVM_GET))
		return;
	ipkvm_http_reply_ok(req, 200,
			    json_pack("{s:s, s:s, s:s, s:I}", "user", a->user, "role",
				      ipkvm_role_name(a->role), "auth",
				      a->kind == IPKVM_AUTH_TOKEN ? "token" : "session", "expires",
				      (json_int_t)a->expires));
}

/* --- own password ------------------------------------------------------------------ */

struct set_ctx {
	const char *user;
	const char *expect_hash; /* refuse when the hash changed meanwhile (NULL: don't care) */
	const char *new_hash;	 /* NULL: keep */
	bool set_role;
	enum ipkvm_role role;
	int status; /* HTTP status for a refusal */
};

static size_t count_admins(const struct ipkvm_users *u)
{
	size_t n = 0;
	for (size_t i = 0; i < u->n; i++)
		n += u->v[i].role == IPKVM_ROLE_ADMIN;
	return n;
}

static int edit_set(struct ipkvm_users *u, void *vctx, char *err, size_t errlen)
{
	struct set_ctx *c = vctx;
	struct ipkvm_user *user = ipkvm_users_find(u, c->user);
	if (!user) {
		c->status = 404;
		snprintf(err, errlen, "no user %s", c->user);
		return -ENOENT;
	}
	if (c->expect_hash && strcmp(user->hash, c->expect_hash) != 0) {
		c->status = 409;
		snprintf(err, errlen, "the password was changed meanwhile");
		return -EAGAIN;
	}
	if (c->set_role && user->role == IPKVM_ROLE_ADMIN && c->role != IPKVM_ROLE_ADMIN &&
	    count_admins(u) == 1) {
		c->status = 409;
		snprintf(err, errlen, "%s is the last admin", c->user);
		return -EBUSY;
	}
	if (c->new_hash)
		ipkvm_strlcpy(user->hash, c->new_hash, sizeof(user->hash));
	if (c->set_role)
		user->role = c->role;
	return 0;
}

static void forget_initial_password(struct ipkvm_server *srv, const char *user)
{
	char path[PATH_MAX];
	if (strcmp(user, "admin") != 0)
		return;
	if (ipkvm_path_join(path, sizeof(path), srv->state_dir, IPKVM_INITIAL_PASSWORD_FILE) == 0 &&
	    unlink(path) == 0)
		LOG_INFO("removed %s: the admin password has changed", path);
}

static bool password_ok(struct ipkvm_http_req *req, const char *field, const char *pw)
{
	size_t n = strlen(pw);
	if (n < IPKVM_PASSWORD_MIN || n > IPKVM_PASSWORD_MAX || strpbrk(pw, "\r\n")) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field '%s' must be %d to %d characters on one line", field,
				       IPKVM_PASSWORD_MIN, IPKVM_PASSWORD_MAX);
		return false;
	}
	return true;
}

/* Answers 500 when the worker could not hash the new password. */
static bool hash_failed(struct ipkvm_web_job *wj)
{
	if (wj->hash_err >= 0)
		return false;
	if (wj->req)
		ipkvm_http_reply_error(wj->req, 500, "internal", NULL, "cannot hash: %s",
				       strerror(-wj->hash_err));
	return true;
}

/* Answers a refused users-file edit: 404 and 409 as the edit said, else 500. */
static void reply_edit_error(struct ipkvm_http_req *req, int status, const char *err)
{
	const char *code = status == 404 ? "not_found" : status == 409 ? "conflict" : "internal";
	ipkvm_http_reply_error(req, status ? status : 500, code, NULL, "%s", err);
}

static void password_done(struct ipkvm_web_job *wj)
{
	struct ipkvm_server *srv = wj->srv;
	char err[256];
	if (!wj->verified) {
		count_failure(wj, "password_failed", "wrong old password");
		return;
	}
	if (hash_failed(wj))
		return;
	struct set_ctx c = {.user = wj->user, .expect_hash = wj->hash, .new_hash = wj->new_hash};
	int r = ipkvm_web_edit_users(srv, edit_set, &c, err, sizeof(err));
	ipkvm_audit(srv->state_dir, "user_passwd", wj->user, wj->addr, r == 0,
		    json_pack("{s:s, s:s}", "via", "api", "by", wj->caller.user));
	if (r < 0) {
		if (wj->req)
			reply_edit_error(wj->req, c.status, err);
		return;
	}
	forget_initial_password(srv, wj->user);
	ipkvm_ws_sweep(srv);
	if (!wj->req)
		return;
	/* Every session of the user ended with the old hash; the caller keeps working. */
	const struct ipkvm_user *u = ipkvm_users_find(&srv->users, wj->user);
	if (u && wj->caller.kind == IPKVM_AUTH_SESSION && !start_session(wj->req, u)) {
		ipkvm_http_reply_error(wj->req, 500, "internal", NULL, "cannot start a session");
		return;
	}
	ipkvm_http_reply_ok(wj->req, 200, NULL);
}

void ipkvm_api_password(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {
	    {"old_password", IPKVM_JSON_STRING, true},
	    {"new_password", IPKVM_JSON_STRING, true},
	};
	if (!ipkvm_http_method_ok(req, IPKVM_POST))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	const struct ipkvm_user *u = ipkvm_users_find(&req->srv->users, req->auth.user);
	struct ipkvm_web_job *wj;
	if (!password_ok(req, "new_password", ipkvm_json_str(body, "new_password")) ||
	    throttled(req, req->auth.user))
		goto out;
	if (!u) {
		ipkvm_http_reply_error(req, 401, "unauthorized", NULL, "log in first");
		goto out;
	}
	if (!(wj = job_new(req, JOB_PASSWORD)))
		goto out;
	ipkvm_strlcpy(wj->user, u->name, sizeof(wj->user));
	ipkvm_strlcpy(wj->hash, u->hash, sizeof(wj->hash));
	wj->user_exists = true;
	wj->password = strdup(ipkvm_json_str(body, "old_password"));
	wj->new_password = strdup(ipkvm_json_str(body, "new_password"));
	if (!wj->password || !wj->new_password) {
		free_secret(wj->password);
		free_secret(wj->new_password);
		free(wj);
		ipkvm_http_reply_error(req, 500, "internal", NULL, "out of memory");
		goto out;
	}
	job_submit(wj);
out:
	json_decref(body);
}

/* --- /api/users ------------------------------------------------------------------- */

static json_t *user_json(const struct ipkvm_user *u)
{
	return json_pack("{s:s, s:s, s:b}", "name", u->name, "role", ipkvm_role_name(u->role),
			 "totp", u->totp[0] != 0);
}

static int edit_add(struct ipkvm_users *u, void *vctx, char *err, size_t errlen)
{
	const struct ipkvm_user *nu = vctx;
	int r = ipkvm_users_add(u, nu);
	if (r == -EEXIST)
		snprintf(err, errlen, "user %s exists", nu->name);
	else if (r < 0)
		snprintf(err, errlen, "cannot add %s: %s", nu->name, strerror(-r));
	return r;
}

static void user_add_done(struct ipkvm_web_job *wj)
{
	struct ipkvm_server *srv = wj->srv;
	char err[256];
	if (hash_failed(wj))
		return;
	struct ipkvm_user nu = {.role = wj->role};
	ipkvm_strlcpy(nu.name, wj->user, sizeof(nu.name));
	ipkvm_strlcpy(nu.hash, wj->new_hash, sizeof(nu.hash));
	int r = ipkvm_web_edit_users(srv, edit_add, &nu, err, sizeof(err));
	ipkvm_audit(srv->state_dir, "user_add", wj->user, wj->addr, r == 0,
		    json_pack("{s:s, s:s, s:s}", "via", "api", "by", wj->caller.user, "role",
			      ipkvm_role_name(wj->role)));
	if (!wj->req)
		return;
	if (r < 0) {
		ipkvm_http_reply_error(wj->req, r == -EEXIST ? 409 : 500,
				       r == -EEXIST ? "conflict" : "internal", NULL, "%s", err);
		return;
	}
	ipkvm_http_reply_ok(
	    wj->req, 201,
	    json_pack("{s:s, s:s}", "name", nu.name, "role", ipkvm_role_name(nu.role)));
}

static bool parse_role(struct ipkvm_http_req *req, const char *s, enum ipkvm_role *role)
{
	if (ipkvm_role_parse(s, role) == 0)
		return true;
	ipkvm_http_reply_error(req, 400, "bad_request", NULL,
			       "field 'role' must be admin, operator or viewer");
	return false;
}

void ipkvm_api_users(struct ipkvm_http_req *req)
{
	struct ipkvm_server *srv = req->srv;
	if (!ipkvm_http_method_ok(req, IPKVM_GET | IPKVM_POST))
		return;
	if (req->method == IPKVM_GET) {
		json_t *list = json_array();
		for (size_t i = 0; i < srv->users.n; i++)
			json_array_append_new(list, user_json(&srv->users.v[i]));
		ipkvm_http_reply_ok(req, 200, json_pack("{s:o}", "users", list));
		return;
	}
	static const struct ipkvm_json_field fields[] = {
	    {"name", IPKVM_JSON_STRING, true},
	    {"password", IPKVM_JSON_STRING, true},
	    {"role", IPKVM_JSON_STRING, true},
	};
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	const char *name = ipkvm_json_str(body, "name");
	enum ipkvm_role role;
	struct ipkvm_web_job *wj;
	if (!ipkvm_user_name_valid(name)) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'name' must be 1 to 32 of a-z 0-9 . _ - starting "
				       "with a letter or digit");
		goto out;
	}
	if (!parse_role(req, ipkvm_json_str(body, "role"), &role) ||
	    !password_ok(req, "password", ipkvm_json_str(body, "password")))
		goto out;
	if (ipkvm_users_find(&srv->users, name)) {
		ipkvm_http_reply_error(req, 409, "conflict", NULL, "user %s exists", name);
		goto out;
	}
	if (!(wj = job_new(req, JOB_USER_ADD)))
		goto out;
	ipkvm_strlcpy(wj->user, name, sizeof(wj->user));
	wj->role = role;
	wj->new_password = strdup(ipkvm_json_str(body, "password"));
	if (!wj->new_password) {
		free(wj);
		ipkvm_http_reply_error(req, 500, "internal", NULL, "out of memory");
		goto out;
	}
	job_submit(wj);
out:
	json_decref(body);
}

static void user_set_finish(struct ipkvm_server *srv, struct ipkvm_http_req *req, const char *addr,
			    const struct ipkvm_auth *caller, struct set_ctx *c)
{
	char err[256];
	int r = ipkvm_web_edit_users(srv, edit_set, c, err, sizeof(err));
	if (c->new_hash)
		ipkvm_audit(srv->state_dir, "user_passwd", c->user, addr, r == 0,
			    json_pack("{s:s, s:s}", "via", "api", "by", caller->user));
	if (c->set_role)
		ipkvm_audit(srv->state_dir, "user_role", c->user, addr, r == 0,
			    json_pack("{s:s, s:s, s:s}", "via", "api", "by", caller->user, "role",
				      ipkvm_role_name(c->role)));
	if (r == 0 && c->new_hash)
		forget_initial_password(srv, c->user);
	ipkvm_ws_sweep(srv);
	if (!req)
		return;
	if (r < 0) {
		reply_edit_error(req, c->status, err);
		return;
	}
	const struct ipkvm_user *u = ipkvm_users_find(&srv->users, c->user);
	ipkvm_http_reply_ok(
	    req, 200,
	    u ? json_pack("{s:s, s:s}", "name", u->name, "role", ipkvm_role_name(u->role)) : NULL);
}

static void user_set_done(struct ipkvm_web_job *wj)
{
	if (hash_failed(wj))
		return;
	struct set_ctx c = {
	    .user = wj->user, .new_hash = wj->new_hash, .set_role = wj->set_role, .role = wj->role};
	user_set_finish(wj->srv, wj->req, wj->addr, &wj->caller, &c);
}

struct del_ctx {
	struct ipkvm_server *srv;
	const char *user;
	int status;
	size_t tokens;
};

static int edit_del(struct ipkvm_users *u, void *vctx, char *err, size_t errlen)
{
	struct del_ctx *c = vctx;
	const struct ipkvm_user *user = ipkvm_users_find(u, c->user);
	if (!user) {
		c->status = 404;
		snprintf(err, errlen, "no user %s", c->user);
		return -ENOENT;
	}
	if (user->role == IPKVM_ROLE_ADMIN && count_admins(u) == 1) {
		c->status = 409;
		snprintf(err, errlen, "%s is the last admin", c->user);
		return -EBUSY;
	}
	/* The user's API tokens go with it (the users lock covers the tokens file too). */
	struct ipkvm_tokens t;
	ipkvm_tokens_init(&t);
	int r = ipkvm_tokens_load(&t, c->srv->tokens_path, err, errlen);
	if (r == 0) {
		c->tokens = ipkvm_tokens_del_user(&t, c->user);
		if (c->tokens)
			r = ipkvm_tokens_save(&t, c->srv->tokens_path);
	} else if (r == -ENOENT) {
		r = 0;
	}
	ipkvm_tokens_free(&t);
	if (r < 0) {
		snprintf(err, errlen, "cannot update the tokens file: %s", strerror(-r));
		return r;
	}
	return ipkvm_users_del(u, c->user);
}

void ipkvm_api_user(struct ipkvm_http_req *req)
{
	struct ipkvm_server *srv = req->srv;
	const char *name = req->rest; /* /api/users/{name} */
	char err[256];
	if (!ipkvm_http_method_ok(req, IPKVM_POST | IPKVM_DELETE))
		return;
	if (!ipkvm_user_name_valid(name) || !ipkvm_users_find(&srv->users, name)) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no user %s", name);
		return;
	}
	if (req->method == IPKVM_DELETE) {
		if (strcmp(name, req->auth.user) == 0) {
			ipkvm_http_reply_error(req, 409, "conflict", NULL,
					       "you cannot delete yourself");
			return;
		}
		struct del_ctx c = {.srv = srv, .user = name};
		int r = ipkvm_web_edit_users(srv, edit_del, &c, err, sizeof(err));
		if (r == 0)
			forget_initial_password(srv, name);
		ipkvm_audit(srv->state_dir, "user_del", name, req->addr, r == 0,
			    json_pack("{s:s, s:s, s:I}", "via", "api", "by", req->auth.user,
				      "tokens", (json_int_t)c.tokens));
		ipkvm_ws_sweep(srv);
		if (r < 0)
			reply_edit_error(req, c.status, err);
		else
			ipkvm_http_reply_ok(req, 200, NULL);
		return;
	}
	static const struct ipkvm_json_field fields[] = {
	    {"password", IPKVM_JSON_STRING, false},
	    {"role", IPKVM_JSON_STRING, false},
	};
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	const char *pw = ipkvm_json_str(body, "password");
	const char *role_s = ipkvm_json_str(body, "role");
	struct set_ctx c = {.user = name};
	if (!pw && !role_s) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "give 'password', 'role' or both");
		goto out;
	}
	if (role_s && !parse_role(req, role_s, &c.role))
		goto out;
	c.set_role = role_s != NULL;
	if (pw && !password_ok(req, "password", pw))
		goto out;
	if (!pw) {
		user_set_finish(srv, req, req->addr, &req->auth, &c);
		goto out;
	}
	struct ipkvm_web_job *wj = job_new(req, JOB_USER_SET);
	if (!wj)
		goto out;
	ipkvm_strlcpy(wj->user, name, sizeof(wj->user));
	wj->set_role = c.set_role;
	wj->role = c.role;
	wj->new_password = strdup(pw);
	if (!wj->new_password) {
		free(wj);
		ipkvm_http_reply_error(req, 500, "internal", NULL, "out of memory");
		goto out;
	}
	job_submit(wj);
out:
	json_decref(body);
}

static void job_done(struct ipkvm_job *j)
{
	struct ipkvm_web_job *wj = (struct ipkvm_web_job *)j;
	if (wj->req)
		wj->req->job = NULL;
	if (checks_password(wj)) {
		char ka[128], ku[128];
		throttle_keys(wj->addr, wj->user, ka, ku, sizeof(ka));
		ipkvm_throttle_end(wj->srv->throttle, ka);
		ipkvm_throttle_end(wj->srv->throttle, ku);
	}
	switch (wj->kind) {
	case JOB_LOGIN:
		login_done(wj);
		break;
	case JOB_PASSWORD:
		password_done(wj);
		break;
	case JOB_USER_ADD:
		user_add_done(wj);
		break;
	case JOB_USER_SET:
		user_set_done(wj);
		break;
	}
	free_secret(wj->password);
	free_secret(wj->new_password);
	explicit_bzero(wj, sizeof(*wj));
	free(wj);
}
