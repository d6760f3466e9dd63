/*
 * api_auth: the /api/auth/ endpoints (login, logout, check, own password and language) and
 * /api/users
 * (admin user management), on top of the auth service (auth/authsvc.h): these handlers
 * parse, authorise, call and format; the rules (throttle, TOTP, last admin, the audit log)
 * live in the service.
 *
 * The calls that hash a password answer later, from the worker: the request is parked until
 * then, and the connection may go away meanwhile (the call is then detached and only its
 * bookkeeping runs: a failed attempt still counts). A failed login answers the same bytes
 * whether or not the user exists.
 */
#define LOG_TAG "auth"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/prefs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "web/web.h"

static struct ipkvm_authsvc_caller caller_of(const struct ipkvm_http_req *req)
{
	return (struct ipkvm_authsvc_caller){
	    .auth = req->auth.kind == IPKVM_AUTH_NONE ? NULL : &req->auth,
	    .addr = req->addr,
	    .via = "api",
	};
}

/* The request goes away before its call is done: the call runs on without it. */
static void detach_call(struct ipkvm_http_req *req)
{
	ipkvm_authsvc_detach(req->job);
	req->job = NULL;
}

/* One call per request: a second would overwrite req->job, and the first would later
 * answer into a request that may be gone. Its answer is on the way: say nothing. */
static bool call_busy(struct ipkvm_http_req *req)
{
	if (!req->job)
		return false;
	LOG_ERROR("%s %s: a job is already under way for this request", req->addr, req->path);
	return true;
}

static void park(struct ipkvm_http_req *req, struct ipkvm_authsvc_call *call)
{
	if (!call)
		return; /* answered already */
	req->job = call;
	req->job_detach = detach_call;
}

/* Answers a service result that is not OK. */
static void reply_refusal(struct ipkvm_http_req *req, const struct ipkvm_authsvc_result *res)
{
	switch (res->status) {
	case IPKVM_AUTHSVC_OK:
		break;
	case IPKVM_AUTHSVC_DENIED:
		ipkvm_http_reply_error(req, 401, "bad_credentials", NULL, "%s", res->err);
		break;
	case IPKVM_AUTHSVC_TOTP_REQUIRED:
		ipkvm_http_reply_error(req, 401, "totp_required", NULL, "%s", res->err);
		break;
	case IPKVM_AUTHSVC_THROTTLED:
		ipkvm_http_header(req, "retry-after", "%d", res->retry_after);
		ipkvm_http_reply_error(req, 429, "throttled",
				       json_pack("{s:i}", "retry_after", res->retry_after), "%s",
				       res->err);
		break;
	case IPKVM_AUTHSVC_NOT_FOUND:
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "%s", res->err);
		break;
	case IPKVM_AUTHSVC_UNKNOWN_CALLER:
		ipkvm_http_reply_error(req, 401, "unauthorized", NULL, "log in first");
		break;
	case IPKVM_AUTHSVC_CONFLICT:
		ipkvm_http_reply_error(req, 409, "conflict", NULL, "%s", res->err);
		break;
	case IPKVM_AUTHSVC_FAILED:
		ipkvm_http_reply_error(req, 500, "internal", NULL, "%s", res->err);
		break;
	}
}

/* A call came back: the request may start another; a refusal is answered here. */
static bool came_back_ok(struct ipkvm_http_req *req, const struct ipkvm_authsvc_result *res)
{
	req->job = NULL;
	if (res->status == IPKVM_AUTHSVC_OK)
		return true;
	reply_refusal(req, res);
	return false;
}

/* Opens a session for user and puts its cookie on req. 0 or -errno. */
static int start_session(struct ipkvm_http_req *req, const char *user, int64_t *ends)
{
	char token[IPKVM_SESSION_TOKEN_LEN + 1], cookie[256];
	int r = ipkvm_authsvc_session_open(req->srv->svc->auth, user, token, NULL, ends);
	if (r < 0)
		return r;
	ipkvm_web_cookie(req->srv, token, cookie, sizeof(cookie));
	ipkvm_http_header(req, "set-cookie", "%s", cookie);
	explicit_bzero(token, sizeof(token));
	explicit_bzero(cookie, sizeof(cookie));
	return 0;
}

static void login_done(void *ctx, const struct ipkvm_authsvc_result *res)
{
	struct ipkvm_http_req *req = ctx;
	int64_t ends;
	if (!came_back_ok(req, res))
		return;
	if (start_session(req, res->user, &ends) < 0) {
		ipkvm_http_reply_error(req, 500, "internal", NULL, "cannot start a session");
		return;
	}
	ipkvm_http_reply_ok(req, 200,
			    json_pack("{s:s, s:s, s:I, s:i}", "user", res->user, "role",
				      ipkvm_role_name(res->role), "expires", (json_int_t)ends,
				      "idle_timeout", req->srv->cfg->session_idle));
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
	if (!call_busy(req)) {
		struct ipkvm_authsvc_caller caller = caller_of(req);
		park(req,
		     ipkvm_authsvc_login(req->srv->svc->auth, &caller, ipkvm_json_str(body, "user"),
					 ipkvm_json_str(body, "password"),
					 ipkvm_json_str(body, "totp"), login_done, req));
	}
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
		ipkvm_authsvc_session_close(req->srv->svc->auth, req->auth.session_id);
	ipkvm_authsvc_audit(req->srv->svc->auth, "logout", req->auth.user, req->addr, true, NULL);
	LOG_INFO("logout from %s: %s", req->addr, req->auth.user);
	ipkvm_web_cookie(req->srv, NULL, cookie, sizeof(cookie));
	ipkvm_http_header(req, "set-cookie", "%s", cookie);
	ipkvm_http_reply_ok(req, 200, NULL);
}

void ipkvm_api_check(struct ipkvm_http_req *req)
{
	const struct ipkvm_auth *a = &req->auth;
	if (!ipkvm_http_method_ok(req, IPKVM_GET))
		return;
	const char *lang = ipkvm_authsvc_language(req->srv->svc->auth, a->user);
	ipkvm_http_reply_ok(req, 200,
			    json_pack("{s:s, s:s, s:s, s:I, s:o}", "user", a->user, "role",
				      ipkvm_role_name(a->role), "auth",
				      a->kind == IPKVM_AUTH_TOKEN ? "token" : "session", "expires",
				      (json_int_t)a->expires, "language",
				      lang ? json_string(lang) : json_null()));
}

/* --- own language ------------------------------------------------------------------ */

/* Whether the UI has a catalog for code: <web root>/i18n/<code>.json. */
static bool have_catalog(const struct ipkvm_server *srv, const char *code)
{
	char path[PATH_MAX];
	struct stat st;
	return snprintf(path, sizeof(path), "%s/i18n/%s.json", srv->web_root, code) <
		   (int)sizeof(path) &&
	       stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void ipkvm_api_language(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {
	    {"language", IPKVM_JSON_ANY, true},
	};
	if (!ipkvm_http_method_ok(req, IPKVM_POST))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	json_t *v = json_object_get(body, "language");
	const char *lang = json_is_string(v) ? json_string_value(v) : NULL;
	char err[512] = "";
	if (!json_is_null(v) && (!lang || !ipkvm_language_valid(lang))) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'language' must be null or a language tag such as "
				       "\"ja\" (a-z, 2 or 3 letters, then -subtags)");
		goto out;
	}
	if (lang && !have_catalog(req->srv, lang)) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'language': the console has no catalog for '%s'",
				       lang);
		goto out;
	}
	int r =
	    ipkvm_authsvc_set_language(req->srv->svc->auth, req->auth.user, lang, err, sizeof(err));
	if (r == -ENOENT)
		ipkvm_http_reply_error(req, 401, "unauthorized", NULL, "log in first");
	else if (r < 0)
		ipkvm_http_reply_error(req, 500, "internal", NULL, "%s", err);
	else
		ipkvm_http_reply_ok(
		    req, 200,
		    json_pack("{s:o}", "language", lang ? json_string(lang) : json_null()));
out:
	json_decref(body);
}

/* --- own password ------------------------------------------------------------------ */

static bool password_ok(struct ipkvm_http_req *req, const char *field, const char *pw)
{
	if (ipkvm_authsvc_password_ok(pw))
		return true;
	ipkvm_http_reply_error(req, 400, "bad_request", NULL,
			       "field '%s' must be %d to %d characters on one line", field,
			       IPKVM_PASSWORD_MIN, IPKVM_PASSWORD_MAX);
	return false;
}

static void password_done(void *ctx, const struct ipkvm_authsvc_result *res)
{
	struct ipkvm_http_req *req = ctx;
	if (!came_back_ok(req, res))
		return;
	/* Every session of the user ended with the old hash; the caller keeps working. */
	if (req->auth.kind == IPKVM_AUTH_SESSION &&
	    ipkvm_authsvc_user(req->srv->svc->auth, res->user) &&
	    start_session(req, res->user, NULL) < 0) {
		ipkvm_http_reply_error(req, 500, "internal", NULL, "cannot start a session");
		return;
	}
	ipkvm_http_reply_ok(req, 200, NULL);
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
	if (password_ok(req, "new_password", ipkvm_json_str(body, "new_password")) &&
	    !call_busy(req)) {
		struct ipkvm_authsvc_caller caller = caller_of(req);
		park(req, ipkvm_authsvc_change_password(
			      req->srv->svc->auth, &caller, ipkvm_json_str(body, "old_password"),
			      ipkvm_json_str(body, "new_password"), password_done, req));
	}
	json_decref(body);
}

/* --- /api/users ------------------------------------------------------------------- */

static json_t *user_json(const struct ipkvm_user *u)
{
	return json_pack("{s:s, s:s, s:b}", "name", u->name, "role", ipkvm_role_name(u->role),
			 "totp", u->totp[0] != 0);
}

static bool parse_role(struct ipkvm_http_req *req, const char *s, enum ipkvm_role *role)
{
	if (ipkvm_role_parse(s, role) == 0)
		return true;
	ipkvm_http_reply_error(req, 400, "bad_request", NULL,
			       "field 'role' must be admin, operator or viewer");
	return false;
}

static void user_add_done(void *ctx, const struct ipkvm_authsvc_result *res)
{
	struct ipkvm_http_req *req = ctx;
	if (!came_back_ok(req, res))
		return;
	ipkvm_http_reply_ok(
	    req, 201,
	    json_pack("{s:s, s:s}", "name", res->user, "role", ipkvm_role_name(res->role)));
}

void ipkvm_api_users(struct ipkvm_http_req *req)
{
	struct ipkvm_server *srv = req->srv;
	if (!ipkvm_http_method_ok(req, IPKVM_GET | IPKVM_POST))
		return;
	if (req->method == IPKVM_GET) {
		const struct ipkvm_users *users = ipkvm_authsvc_users(srv->svc->auth);
		json_t *list = json_array();
		for (size_t i = 0; i < users->n; i++)
			json_array_append_new(list, user_json(&users->v[i]));
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
	if (!ipkvm_user_name_valid(name)) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'name' must be 1 to 32 of a-z 0-9 . _ - starting "
				       "with a letter or digit");
		goto out;
	}
	if (!parse_role(req, ipkvm_json_str(body, "role"), &role) ||
	    !password_ok(req, "password", ipkvm_json_str(body, "password")) || call_busy(req))
		goto out;
	struct ipkvm_authsvc_caller caller = caller_of(req);
	park(req,
	     ipkvm_authsvc_user_add(srv->svc->auth, &caller, name, ipkvm_json_str(body, "password"),
				    role, user_add_done, req));
out:
	json_decref(body);
}

static void user_set_done(void *ctx, const struct ipkvm_authsvc_result *res)
{
	struct ipkvm_http_req *req = ctx;
	if (!came_back_ok(req, res))
		return;
	const struct ipkvm_user *u = ipkvm_authsvc_user(req->srv->svc->auth, res->user);
	ipkvm_http_reply_ok(
	    req, 200,
	    u ? json_pack("{s:s, s:s}", "name", u->name, "role", ipkvm_role_name(u->role)) : NULL);
}

void ipkvm_api_user(struct ipkvm_http_req *req)
{
	struct ipkvm_server *srv = req->srv;
	const char *name = req->rest; /* /api/users/{name} */
	if (!ipkvm_http_method_ok(req, IPKVM_POST | IPKVM_DELETE))
		return;
	if (!ipkvm_user_name_valid(name) || !ipkvm_authsvc_user(srv->svc->auth, name)) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no user %s", name);
		return;
	}
	struct ipkvm_authsvc_caller caller = caller_of(req);
	if (req->method == IPKVM_DELETE) {
		struct ipkvm_authsvc_result res;
		ipkvm_authsvc_user_del(srv->svc->auth, &caller, name, &res);
		if (res.status != IPKVM_AUTHSVC_OK)
			reply_refusal(req, &res);
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
	enum ipkvm_role role = IPKVM_ROLE_VIEWER;
	if (!pw && !role_s) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "give 'password', 'role' or both");
		goto out;
	}
	if ((role_s && !parse_role(req, role_s, &role)) ||
	    (pw && !password_ok(req, "password", pw)) || call_busy(req))
		goto out;
	park(req, ipkvm_authsvc_user_set(srv->svc->auth, &caller, name, pw, role_s != NULL, role,
					 user_set_done, req));
out:
	json_decref(body);
}
