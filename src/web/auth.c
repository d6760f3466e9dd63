/*
 * auth (web): who is asking. A request carries either the session cookie or an API token
 * (Authorization: Bearer). The users and tokens files are the truth: before each
 * authentication their identity (inode, size, times) is compared with what was loaded, and
 * a change made by `ipkvmd user ...` or by the API is picked up at once; sessions whose user
 * was deleted, or whose password hash or role changed, end there and then.
 */
#define LOG_TAG "auth"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "web/web.h"

static struct ipkvm_file_id file_id(const char *path)
{
	struct ipkvm_file_id id = {0};
	struct stat st;
	if (stat(path, &st) == 0) {
		id.exists = true;
		id.dev = st.st_dev;
		id.ino = st.st_ino;
		id.size = st.st_size;
		id.mtime = st.st_mtim;
		id.ctime = st.st_ctim;
	}
	return id;
}

static bool same_file(const struct ipkvm_file_id *a, const struct ipkvm_file_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

struct revoke_ctx {
	struct ipkvm_server *srv;
	char (*users)[IPKVM_USER_NAME_MAX + 1];
	size_t n;
};

static void collect_stale(void *ctx, struct ipkvm_session *s)
{
	struct revoke_ctx *rc = ctx;
	struct ipkvm_user *u = ipkvm_users_find(&rc->srv->users, s->user);
	if (u && strcmp(u->hash, s->cred) == 0 && u->role == s->role)
		return;
	for (size_t i = 0; i < rc->n; i++)
		if (strcmp(rc->users[i], s->user) == 0)
			return;
	char(*grown)[IPKVM_USER_NAME_MAX + 1] = realloc(rc->users, (rc->n + 1) * sizeof(*grown));
	if (!grown)
		return;
	rc->users = grown;
	memcpy(rc->users[rc->n++], s->user, sizeof(*grown));
}

void ipkvm_web_refresh_credentials(struct ipkvm_server *srv)
{
	char err[512];
	struct ipkvm_file_id id = file_id(srv->users_path);
	if (!same_file(&id, &srv->users_id)) {
		struct ipkvm_users fresh;
		ipkvm_users_init(&fresh);
		int r = ipkvm_users_load(&fresh, srv->users_path, err, sizeof(err));
		if (r == 0 || r == -ENOENT) {
			ipkvm_users_free(&srv->users);
			srv->users = fresh;
			srv->users_id = id;
			LOG_INFO("loaded %zu user(s) from %s", srv->users.n, srv->users_path);
		} else {
			/* Keep serving with the last good list rather than locking everyone out
			 * over a typo; say so once per change of the file. */
			ipkvm_users_free(&fresh);
			srv->users_id = id;
			LOG_ERROR("%s (keeping the previous users)", err);
		}
		struct revoke_ctx rc = {.srv = srv};
		ipkvm_sessions_foreach(srv->sessions, collect_stale, &rc);
		for (size_t i = 0; i < rc.n; i++) {
			size_t ended = ipkvm_sessions_end_user(srv->sessions, rc.users[i]);
			LOG_INFO("%s: credentials changed, ended %zu session(s)", rc.users[i],
				 ended);
		}
		free(rc.users);
	}
	id = file_id(srv->tokens_path);
	if (!same_file(&id, &srv->tokens_id)) {
		struct ipkvm_tokens fresh;
		ipkvm_tokens_init(&fresh);
		int r = ipkvm_tokens_load(&fresh, srv->tokens_path, err, sizeof(err));
		if (r == 0 || r == -ENOENT) {
			ipkvm_tokens_free(&srv->tokens);
			srv->tokens = fresh;
		} else {
			ipkvm_tokens_free(&fresh);
			LOG_ERROR("%s (keeping the previous tokens)", err);
		}
		srv->tokens_id = id;
	}
}

static int auth_session(struct ipkvm_server *srv, const char *cookie, struct ipkvm_auth *out,
			bool touch)
{
	int64_t now = ipkvm_now();
	struct ipkvm_session *s = ipkvm_sessions_lookup(srv->sessions, cookie, now, touch);
	if (!s)
		return -EACCES;
	memset(out, 0, sizeof(*out));
	out->kind = IPKVM_AUTH_SESSION;
	memcpy(out->user, s->user, sizeof(out->user));
	out->role = s->role;
	out->session_id = s->id;
	out->expires = ipkvm_session_expires(srv->sessions, s);
	return 0;
}

static int auth_token(struct ipkvm_server *srv, const char *token, struct ipkvm_auth *out)
{
	const struct ipkvm_token *t = ipkvm_tokens_match(&srv->tokens, token, ipkvm_now());
	const struct ipkvm_user *u = t ? ipkvm_users_find(&srv->users, t->user) : NULL;
	if (!u)
		return -EACCES;
	memset(out, 0, sizeof(*out));
	out->kind = IPKVM_AUTH_TOKEN;
	memcpy(out->user, u->name, sizeof(out->user));
	out->role = u->role;
	memcpy(out->token_id, t->id, sizeof(out->token_id));
	out->expires = t->expires;
	return 0;
}

int ipkvm_web_authenticate(struct ipkvm_server *srv, struct lws *wsi, struct ipkvm_auth *out,
			   bool touch)
{
	char value[512];
	memset(out, 0, sizeof(*out));

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
		/* A request that names a token stands or falls by it; no cookie fallback, also
		 * not when the header is too long to be a token of ours. */
		if (lws_hdr_copy(wsi, value, sizeof(value), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
		    strncasecmp(value, "Bearer ", 7) != 0)
			return -EACCES;
		const char *tok = value + 7;
		while (*tok == ' ')
			tok++;
		return auth_token(srv, tok, out);
	}
	size_t len = sizeof(value);
	if (lws_http_cookie_get(wsi, IPKVM_COOKIE_NAME, value, &len) == 0)
		return auth_session(srv, value, out, touch);
	return -EACCES;
}

bool ipkvm_web_auth_valid(struct ipkvm_server *srv, struct ipkvm_auth *auth, bool touch)
{
	ipkvm_web_refresh_credentials(srv);
	if (auth->kind == IPKVM_AUTH_SESSION) {
		struct ipkvm_session *s =
		    ipkvm_sessions_get(srv->sessions, auth->session_id, ipkvm_now());
		if (!s)
			return false;
		if (touch)
			s->last_seen = ipkvm_now();
		auth->expires = ipkvm_session_expires(srv->sessions, s);
		return true;
	}
	if (auth->kind == IPKVM_AUTH_TOKEN) {
		const struct ipkvm_user *u = ipkvm_users_find(&srv->users, auth->user);
		if (!u || u->role != auth->role)
			return false;
		int64_t now = ipkvm_now();
		for (size_t i = 0; i < srv->tokens.n; i++) {
			const struct ipkvm_token *t = &srv->tokens.v[i];
			if (strcmp(t->id, auth->token_id) == 0)
				return t->expires == 0 || now < t->expires;
		}
		return false;
	}
	return false;
}

int ipkvm_web_check_origin(struct lws *wsi)
{
	char origin[300], host[256], want[300];
	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return 0; /* not a browser, or a same-origin GET: nothing to check */
	/* An Origin (or Host) too long to compare is refused, never taken as absent. */
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0 ||
	    lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		return -EPERM;
	/* The plain-HTTP port (loopback only) is a legitimate origin of its own. */
	snprintf(want, sizeof(want), "%s://%s", lws_is_ssl(wsi) ? "https" : "http", host);
	return strcasecmp(origin, want) == 0 ? 0 : -EPERM;
}

void ipkvm_web_cookie(const struct ipkvm_server *srv, const char *token, char *out, size_t len)
{
	snprintf(out, len, "%s=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Strict",
		 IPKVM_COOKIE_NAME, token ? token : "", token ? srv->cfg->session_lifetime : 0);
}

int64_t *ipkvm_web_totp_last(struct ipkvm_server *srv, const char *user)
{
	for (size_t i = 0; i < srv->n_totp_seen; i++)
		if (strcmp(srv->totp_seen[i].user, user) == 0)
			return &srv->totp_seen[i].step;
	struct ipkvm_totp_seen *grown =
	    realloc(srv->totp_seen, (srv->n_totp_seen + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	srv->totp_seen = grown;
	struct ipkvm_totp_seen *t = &grown[srv->n_totp_seen++];
	ipkvm_strlcpy(t->user, user, sizeof(t->user));
	t->step = 0;
	return &t->step;
}

int ipkvm_web_edit_users(struct ipkvm_server *srv,
			 int (*fn)(struct ipkvm_users *u, void *ctx, char *err, size_t errlen),
			 void *ctx, char *err, size_t errlen)
{
	int lock = ipkvm_users_lock(srv->state_dir);
	if (lock < 0) {
		snprintf(err, errlen, "cannot lock the users file: %s", strerror(-lock));
		return lock;
	}
	struct ipkvm_users u;
	ipkvm_users_init(&u);
	int r = ipkvm_users_load(&u, srv->users_path, err, errlen);
	if (r == 0 || r == -ENOENT)
		r = fn(&u, ctx, err, errlen);
	if (r >= 0) {
		r = ipkvm_users_save(&u, srv->users_path);
		if (r < 0)
			snprintf(err, errlen, "cannot write %s: %s", srv->users_path, strerror(-r));
	}
	ipkvm_users_free(&u);
	close(lock);
	ipkvm_web_refresh_credentials(srv);
	return r;
}
