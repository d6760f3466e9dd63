/*
 * authsvc: the credential state of the daemon and the rules on it, for every front end
 * (see authsvc.h for the why).
 *
 * The users and tokens files are the truth: before each authentication their identity
 * (inode, size, times) is compared with what was loaded, and a change made by `ipkvmd user
 * ...` or through the service is picked up at once. A file that fails to parse keeps the
 * last good list in service rather than locking everyone out over a typo.
 *
 * The calls that hash run as worker jobs: run() on the worker thread touches only the
 * call's own copies (password, hash to check, new password), and done() on the main thread
 * applies the outcome to the state as it is then (a login whose user's hash changed while
 * it ran fails). Attempts that check a password count as attempts in flight for the
 * throttle from submission to done(), so parallel guesses cannot outrun the back-off.
 */
#define LOG_TAG "auth"
#include "auth/authsvc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/audit.h"
#include "auth/prefs.h"
#include "auth/throttle.h"
#include "auth/totp.h"
#include "core/log.h"
#include "core/util.h"
#include "core/worker.h"

#define MAX_WATCHERS 8

struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	bool exists;
};

struct totp_seen {
	char user[IPKVM_USER_NAME_MAX + 1];
	int64_t step;
};

struct ipkvm_authsvc {
	char state_dir[PATH_MAX], users_path[PATH_MAX], tokens_path[PATH_MAX], prefs_path[PATH_MAX];
	struct ipkvm_worker *worker;
	int session_lifetime;
	struct ipkvm_sessions *sessions;
	struct ipkvm_throttle *throttle;
	struct ipkvm_users users;
	struct file_id users_id;
	struct ipkvm_tokens tokens;
	struct file_id tokens_id;
	struct ipkvm_prefs prefs;
	struct file_id prefs_id;
	struct totp_seen *totp_seen; /* the last TOTP step each user logged in with */
	size_t n_totp_seen;
	struct {
		void (*fn)(void *ctx);
		void *ctx;
	} watchers[MAX_WATCHERS];
};

/* --- files ----------------------------------------------------------------------------- */

static struct file_id file_id(const char *path)
{
	struct file_id id = {0};
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

static bool same_file(const struct file_id *a, const struct file_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

struct revoke_ctx {
	struct ipkvm_authsvc *a;
	char (*users)[IPKVM_USER_NAME_MAX + 1];
	size_t n;
};

/* Collects the users whose sessions no longer match the users file. */
static void collect_stale(void *ctx, struct ipkvm_session *s)
{
	struct revoke_ctx *rc = ctx;
	struct ipkvm_user *u = ipkvm_users_find(&rc->a->users, s->user);
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

static void reload_users(struct ipkvm_authsvc *a, const struct file_id *id)
{
	char err[512];
	struct ipkvm_users fresh;
	ipkvm_users_init(&fresh);
	int r = ipkvm_users_load(&fresh, a->users_path, err, sizeof(err));
	if (r == 0 || r == -ENOENT) {
		ipkvm_users_free(&a->users);
		a->users = fresh;
		LOG_INFO("loaded %zu user(s) from %s", a->users.n, a->users_path);
	} else {
		/* Say so once per change of the file. */
		ipkvm_users_free(&fresh);
		LOG_ERROR("%s (keeping the previous users)", err);
	}
	a->users_id = *id;
	struct revoke_ctx rc = {.a = a};
	ipkvm_sessions_foreach(a->sessions, collect_stale, &rc);
	for (size_t i = 0; i < rc.n; i++) {
		size_t ended = ipkvm_sessions_end_user(a->sessions, rc.users[i]);
		LOG_INFO("%s: credentials changed, ended %zu session(s)", rc.users[i], ended);
	}
	free(rc.users);
}

static void reload_tokens(struct ipkvm_authsvc *a, const struct file_id *id)
{
	char err[512];
	struct ipkvm_tokens fresh;
	ipkvm_tokens_init(&fresh);
	int r = ipkvm_tokens_load(&fresh, a->tokens_path, err, sizeof(err));
	if (r == 0 || r == -ENOENT) {
		ipkvm_tokens_free(&a->tokens);
		a->tokens = fresh;
	} else {
		ipkvm_tokens_free(&fresh);
		LOG_ERROR("%s (keeping the previous tokens)", err);
	}
	a->tokens_id = *id;
}

static void reload_prefs(struct ipkvm_authsvc *a, const struct file_id *id)
{
	char err[512];
	struct ipkvm_prefs fresh;
	ipkvm_prefs_init(&fresh);
	int r = ipkvm_prefs_load(&fresh, a->prefs_path, err, sizeof(err));
	if (r == 0 || r == -ENOENT) {
		ipkvm_prefs_free(&a->prefs);
		a->prefs = fresh;
	} else {
		ipkvm_prefs_free(&fresh);
		LOG_ERROR("%s (keeping the previous preferences)", err);
	}
	a->prefs_id = *id;
}

void ipkvm_authsvc_refresh(struct ipkvm_authsvc *a, bool force)
{
	if (force) {
		memset(&a->users_id, 0, sizeof(a->users_id));
		memset(&a->tokens_id, 0, sizeof(a->tokens_id));
		memset(&a->prefs_id, 0, sizeof(a->prefs_id));
	}
	struct file_id id = file_id(a->users_path);
	if (!same_file(&id, &a->users_id))
		reload_users(a, &id);
	id = file_id(a->tokens_path);
	if (!same_file(&id, &a->tokens_id))
		reload_tokens(a, &id);
	id = file_id(a->prefs_path);
	if (!same_file(&id, &a->prefs_id))
		reload_prefs(a, &id);
}

static void tell_watchers(struct ipkvm_authsvc *a)
{
	for (size_t i = 0; i < MAX_WATCHERS; i++)
		if (a->watchers[i].fn)
			a->watchers[i].fn(a->watchers[i].ctx);
}

int ipkvm_authsvc_edit_users(struct ipkvm_authsvc *a,
			     int (*fn)(struct ipkvm_users *u, void *ctx, char *err, size_t errlen),
			     void *ctx, char *err, size_t errlen)
{
	int lock = ipkvm_users_lock(a->state_dir);
	if (lock < 0) {
		snprintf(err, errlen, "cannot lock the users file: %s", strerror(-lock));
		return lock;
	}
	struct ipkvm_users u;
	ipkvm_users_init(&u);
	int r = ipkvm_users_load(&u, a->users_path, err, errlen);
	if (r == 0 || r == -ENOENT)
		r = fn(&u, ctx, err, errlen);
	if (r >= 0) {
		r = ipkvm_users_save(&u, a->users_path);
		if (r < 0)
			snprintf(err, errlen, "cannot write %s: %s", a->users_path, strerror(-r));
	}
	ipkvm_users_free(&u);
	close(lock);
	ipkvm_authsvc_refresh(a, false);
	tell_watchers(a);
	return r;
}

/* --- life ------------------------------------------------------------------------------ */

/* For the throttle: real accounts get back-off entries that others' traffic cannot evict. */
static bool user_known(void *ctx, const char *name)
{
	struct ipkvm_authsvc *a = ctx;
	return ipkvm_users_find(&a->users, name) != NULL;
}

struct ipkvm_authsvc *ipkvm_authsvc_create(const struct ipkvm_authsvc_config *cfg)
{
	struct ipkvm_authsvc *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	ipkvm_users_init(&a->users);
	ipkvm_tokens_init(&a->tokens);
	ipkvm_prefs_init(&a->prefs);
	a->worker = cfg->worker;
	a->session_lifetime = cfg->session_lifetime;
	if (ipkvm_strlcpy(a->state_dir, cfg->state_dir, sizeof(a->state_dir)) < 0 ||
	    ipkvm_path_join(a->users_path, sizeof(a->users_path), a->state_dir, IPKVM_USERS_FILE) <
		0 ||
	    ipkvm_path_join(a->tokens_path, sizeof(a->tokens_path), a->state_dir,
			    IPKVM_TOKENS_FILE) < 0 ||
	    ipkvm_path_join(a->prefs_path, sizeof(a->prefs_path), a->state_dir, IPKVM_PREFS_FILE) <
		0) {
		LOG_ERROR("state directory path too long: %s", cfg->state_dir);
		goto err;
	}
	a->sessions = ipkvm_sessions_create(cfg->session_idle, cfg->session_lifetime,
					    cfg->max_sessions, cfg->max_sessions_per_user);
	a->throttle = ipkvm_throttle_create(cfg->login_max_failures, cfg->login_backoff_max, 4096);
	if (!a->sessions || !a->throttle)
		goto err;
	ipkvm_throttle_set_known_users(a->throttle, user_known, a);
	return a;
err:
	ipkvm_authsvc_destroy(a);
	return NULL;
}

void ipkvm_authsvc_destroy(struct ipkvm_authsvc *a)
{
	if (!a)
		return;
	ipkvm_sessions_destroy(a->sessions);
	ipkvm_throttle_destroy(a->throttle);
	ipkvm_users_free(&a->users);
	ipkvm_tokens_free(&a->tokens);
	ipkvm_prefs_free(&a->prefs);
	free(a->totp_seen);
	free(a);
}

const char *ipkvm_authsvc_state_dir(const struct ipkvm_authsvc *a)
{
	return a->state_dir;
}

/* First start: no user yet, so make `admin` with a random password, said once in the log
 * and kept in a root-only file until the admin changes it. */
static int first_admin(struct ipkvm_authsvc *a)
{
	struct ipkvm_user admin = {.role = IPKVM_ROLE_ADMIN};
	char password[32], path[PATH_MAX + 64], line[40];
	int r = ipkvm_password_generate(password, sizeof(password));
	if (r == 0)
		r = ipkvm_password_hash(password, admin.hash, sizeof(admin.hash));
	strcpy(admin.name, "admin");
	if (r == 0)
		r = ipkvm_users_add(&a->users, &admin);
	if (r == 0)
		r = ipkvm_users_save(&a->users, a->users_path);
	snprintf(path, sizeof(path), "%s/%s", a->state_dir, IPKVM_INITIAL_PASSWORD_FILE);
	int n = snprintf(line, sizeof(line), "%s\n", password);
	if (r == 0)
		r = ipkvm_write_file_atomic(path, line, (size_t)n, 0600);
	if (r < 0) {
		LOG_ERROR("cannot create the first admin in %s: %s", a->state_dir, strerror(-r));
		goto out;
	}
	LOG_WARN("first start: created user 'admin' with password %s (also in %s; it is removed "
		 "when the admin's password is changed)",
		 password, path);
	ipkvm_audit(a->state_dir, "user_add", "admin", NULL, true,
		    json_pack("{s:s, s:s}", "via", "first-start", "role", "admin"));
out:
	explicit_bzero(password, sizeof(password));
	explicit_bzero(line, sizeof(line));
	return r;
}

int ipkvm_authsvc_open(struct ipkvm_authsvc *a)
{
	char err[512];
	int r = ipkvm_mkdir_p(a->state_dir, 0700);
	if (r < 0) {
		LOG_ERROR("cannot create the state directory %s: %s", a->state_dir, strerror(-r));
		return r;
	}
	int lock = ipkvm_users_lock(a->state_dir);
	if (lock < 0) {
		LOG_ERROR("cannot lock the users file in %s: %s", a->state_dir, strerror(-lock));
		return lock;
	}
	ipkvm_users_remove_leftovers(a->state_dir);
	r = ipkvm_users_load(&a->users, a->users_path, err, sizeof(err));
	if (r < 0 && r != -ENOENT)
		LOG_ERROR("%s", err);
	else if (a->users.n == 0)
		r = first_admin(a);
	else
		r = 0;
	close(lock);
	if (r < 0)
		return r;
	struct stat st;
	if (stat(a->users_path, &st) == 0 && (st.st_mode & 077))
		LOG_WARN("%s is readable by others (mode %03o): chmod 600 it", a->users_path,
			 st.st_mode & 0777);
	ipkvm_authsvc_refresh(a, false);
	return 0;
}

void ipkvm_authsvc_tick(struct ipkvm_authsvc *a)
{
	ipkvm_sessions_expire(a->sessions, ipkvm_now());
}

int ipkvm_authsvc_watch(struct ipkvm_authsvc *a, void (*fn)(void *ctx), void *ctx)
{
	for (size_t i = 0; i < MAX_WATCHERS; i++) {
		if (!a->watchers[i].fn) {
			a->watchers[i].fn = fn;
			a->watchers[i].ctx = ctx;
			return 0;
		}
	}
	return -ENOSPC;
}

void ipkvm_authsvc_unwatch(struct ipkvm_authsvc *a, void (*fn)(void *ctx), void *ctx)
{
	for (size_t i = 0; i < MAX_WATCHERS; i++) {
		if (a->watchers[i].fn == fn && a->watchers[i].ctx == ctx)
			a->watchers[i].fn = NULL;
	}
}

int ipkvm_authsvc_audit(struct ipkvm_authsvc *a, const char *event, const char *user,
			const char *addr, bool ok, json_t *extra)
{
	return ipkvm_audit(a->state_dir, event, user, addr, ok, extra);
}

/* --- authentication -------------------------------------------------------------------- */

int ipkvm_authsvc_session_auth(struct ipkvm_authsvc *a, const char *token, bool touch,
			       struct ipkvm_auth *out)
{
	memset(out, 0, sizeof(*out));
	struct ipkvm_session *s = ipkvm_sessions_lookup(a->sessions, token, ipkvm_now(), touch);
	if (!s)
		return -EACCES;
	out->kind = IPKVM_AUTH_SESSION;
	memcpy(out->user, s->user, sizeof(out->user));
	out->role = s->role;
	out->session_id = s->id;
	out->expires = ipkvm_session_expires(a->sessions, s);
	return 0;
}

int ipkvm_authsvc_token_auth(struct ipkvm_authsvc *a, const char *token, struct ipkvm_auth *out)
{
	memset(out, 0, sizeof(*out));
	const struct ipkvm_token *t = ipkvm_tokens_match(&a->tokens, token, ipkvm_now());
	const struct ipkvm_user *u = t ? ipkvm_users_find(&a->users, t->user) : NULL;
	if (!u)
		return -EACCES;
	out->kind = IPKVM_AUTH_TOKEN;
	memcpy(out->user, u->name, sizeof(out->user));
	out->role = u->role;
	memcpy(out->token_id, t->id, sizeof(out->token_id));
	out->expires = t->expires;
	return 0;
}

bool ipkvm_authsvc_recheck(struct ipkvm_authsvc *a, struct ipkvm_auth *auth, bool touch)
{
	ipkvm_authsvc_refresh(a, false);
	if (auth->kind == IPKVM_AUTH_SESSION) {
		struct ipkvm_session *s =
		    ipkvm_sessions_get(a->sessions, auth->session_id, ipkvm_now());
		if (!s)
			return false;
		if (touch)
			s->last_seen = ipkvm_now();
		auth->expires = ipkvm_session_expires(a->sessions, s);
		return true;
	}
	if (auth->kind == IPKVM_AUTH_TOKEN) {
		const struct ipkvm_user *u = ipkvm_users_find(&a->users, auth->user);
		if (!u || u->role != auth->role)
			return false;
		int64_t now = ipkvm_now();
		for (size_t i = 0; i < a->tokens.n; i++) {
			const struct ipkvm_token *t = &a->tokens.v[i];
			if (strcmp(t->id, auth->token_id) == 0)
				return t->expires == 0 || now < t->expires;
		}
		return false;
	}
	return false;
}

bool ipkvm_authsvc_recheck_viewer(struct ipkvm_authsvc *a, struct ipkvm_auth *auth)
{
	ipkvm_authsvc_refresh(a, false);
	if (auth->kind == IPKVM_AUTH_TOKEN) {
		const struct ipkvm_user *u = ipkvm_users_find(&a->users, auth->user);
		if (u)
			auth->role = u->role;
	}
	return ipkvm_authsvc_recheck(a, auth, false);
}

/* --- sessions -------------------------------------------------------------------------- */

int ipkvm_authsvc_session_open(struct ipkvm_authsvc *a, const char *user, char *token_out,
			       struct ipkvm_auth *out, int64_t *ends)
{
	const struct ipkvm_user *u = ipkvm_users_find(&a->users, user);
	if (!u)
		return -ENOENT;
	struct ipkvm_session *s =
	    ipkvm_sessions_start(a->sessions, u->name, u->role, u->hash, ipkvm_now(), token_out);
	if (!s)
		return -ENOMEM;
	if (out) {
		memset(out, 0, sizeof(*out));
		out->kind = IPKVM_AUTH_SESSION;
		memcpy(out->user, s->user, sizeof(out->user));
		out->role = s->role;
		out->session_id = s->id;
		out->expires = ipkvm_session_expires(a->sessions, s);
	}
	if (ends)
		*ends = s->created + a->session_lifetime;
	return 0;
}

void ipkvm_authsvc_session_close(struct ipkvm_authsvc *a, uint64_t id)
{
	ipkvm_sessions_end(a->sessions, id);
	tell_watchers(a);
}

size_t ipkvm_authsvc_session_count(const struct ipkvm_authsvc *a)
{
	return ipkvm_sessions_count(a->sessions);
}

/* --- users ----------------------------------------------------------------------------- */

const struct ipkvm_users *ipkvm_authsvc_users(const struct ipkvm_authsvc *a)
{
	return &a->users;
}

const struct ipkvm_user *ipkvm_authsvc_user(const struct ipkvm_authsvc *a, const char *name)
{
	return ipkvm_users_find(&a->users, name);
}

const char *ipkvm_authsvc_language(const struct ipkvm_authsvc *a, const char *user)
{
	return ipkvm_users_find(&a->users, user) ? ipkvm_prefs_language(&a->prefs, user) : NULL;
}

int ipkvm_authsvc_set_language(struct ipkvm_authsvc *a, const char *user, const char *language,
			       char *err, size_t errlen)
{
	if (language && !ipkvm_language_valid(language)) {
		ipkvm_errf(err, errlen, "not a language tag");
		return -EINVAL;
	}
	int lock = ipkvm_users_lock(a->state_dir);
	if (lock < 0) {
		ipkvm_errf(err, errlen, "cannot lock the users file: %s", strerror(-lock));
		return lock;
	}
	/* The user as the file says now, not as last loaded: a user deleted meanwhile gets
	 * no line. */
	ipkvm_authsvc_refresh(a, false);
	struct ipkvm_prefs p;
	ipkvm_prefs_init(&p);
	int r = -ENOENT;
	if (!ipkvm_users_find(&a->users, user)) {
		ipkvm_errf(err, errlen, "no user %s", user);
		goto out;
	}
	r = ipkvm_prefs_load(&p, a->prefs_path, err, errlen);
	if (r == 0 || r == -ENOENT)
		r = ipkvm_prefs_set_language(&p, user, language);
	else
		r = -EIO; /* a file that does not parse is not overwritten; err says where */
	if (r == 0) {
		r = ipkvm_prefs_save(&p, a->prefs_path);
		if (r < 0)
			ipkvm_errf(err, errlen, "cannot write %s: %s", a->prefs_path, strerror(-r));
	} else if (r == -ENOMEM) {
		ipkvm_errf(err, errlen, "out of memory");
	}
out:
	ipkvm_prefs_free(&p);
	close(lock);
	ipkvm_authsvc_refresh(a, false);
	return r;
}

bool ipkvm_authsvc_password_ok(const char *pw)
{
	size_t n = strlen(pw);
	return n >= IPKVM_PASSWORD_MIN && n <= IPKVM_PASSWORD_MAX && !strpbrk(pw, "\r\n");
}

/* Remembers a used TOTP step per user (replay protection); returns a pointer to it. */
static int64_t *totp_last(struct ipkvm_authsvc *a, const char *user)
{
	for (size_t i = 0; i < a->n_totp_seen; i++)
		if (strcmp(a->totp_seen[i].user, user) == 0)
			return &a->totp_seen[i].step;
	struct totp_seen *grown = realloc(a->totp_seen, (a->n_totp_seen + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	a->totp_seen = grown;
	struct totp_seen *t = &grown[a->n_totp_seen++];
	ipkvm_strlcpy(t->user, user, sizeof(t->user));
	t->step = 0;
	return &t->step;
}

static void forget_initial_password(struct ipkvm_authsvc *a, const char *user)
{
	char path[PATH_MAX];
	if (strcmp(user, "admin") != 0)
		return;
	if (ipkvm_path_join(path, sizeof(path), a->state_dir, IPKVM_INITIAL_PASSWORD_FILE) == 0 &&
	    unlink(path) == 0)
		LOG_INFO("removed %s: the admin password has changed", path);
}

struct set_ctx {
	const char *user;
	const char *expect_hash; /* refuse when the hash changed meanwhile (NULL: don't care) */
	const char *new_hash;	 /* NULL: keep */
	bool set_role;
	enum ipkvm_role role;
	enum ipkvm_authsvc_status status; /* of a refusal */
};

static int edit_set(struct ipkvm_users *u, void *vctx, char *err, size_t errlen)
{
	struct set_ctx *c = vctx;
	struct ipkvm_user *user = ipkvm_users_find(u, c->user);
	if (!user) {
		c->status = IPKVM_AUTHSVC_NOT_FOUND;
		snprintf(err, errlen, "no user %s", c->user);
		return -ENOENT;
	}
	if (c->expect_hash && strcmp(user->hash, c->expect_hash) != 0) {
		c->status = IPKVM_AUTHSVC_CONFLICT;
		snprintf(err, errlen, "the password was changed meanwhile");
		return -EAGAIN;
	}
	if (c->set_role && user->role == IPKVM_ROLE_ADMIN && c->role != IPKVM_ROLE_ADMIN &&
	    ipkvm_users_count_admins(u) == 1) {
		c->status = IPKVM_AUTHSVC_CONFLICT;
		snprintf(err, errlen, "%s is the last admin", c->user);
		return -EBUSY;
	}
	if (c->new_hash)
		ipkvm_strlcpy(user->hash, c->new_hash, sizeof(user->hash));
	if (c->set_role)
		user->role = c->role;
	return 0;
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

struct del_ctx {
	struct ipkvm_authsvc *a;
	const char *user;
	enum ipkvm_authsvc_status status;
	size_t tokens;
};

static int edit_del(struct ipkvm_users *u, void *vctx, char *err, size_t errlen)
{
	struct del_ctx *c = vctx;
	const struct ipkvm_user *user = ipkvm_users_find(u, c->user);
	if (!user) {
		c->status = IPKVM_AUTHSVC_NOT_FOUND;
		snprintf(err, errlen, "no user %s", c->user);
		return -ENOENT;
	}
	if (user->role == IPKVM_ROLE_ADMIN && ipkvm_users_count_admins(u) == 1) {
		c->status = IPKVM_AUTHSVC_CONFLICT;
		snprintf(err, errlen, "%s is the last admin", c->user);
		return -EBUSY;
	}
	/* The user's API tokens go with it (the users lock covers the tokens file too). */
	struct ipkvm_tokens t;
	ipkvm_tokens_init(&t);
	int r = ipkvm_tokens_load(&t, c->a->tokens_path, err, errlen);
	if (r == 0) {
		c->tokens = ipkvm_tokens_del_user(&t, c->user);
		if (c->tokens)
			r = ipkvm_tokens_save(&t, c->a->tokens_path);
	} else if (r == -ENOENT) {
		r = 0;
	}
	ipkvm_tokens_free(&t);
	if (r < 0) {
		snprintf(err, errlen, "cannot update the tokens file: %s", strerror(-r));
		return r;
	}
	/* And its preferences (a new user of the same name starts afresh). */
	char why[512];
	r = ipkvm_prefs_drop_user(c->a->prefs_path, c->user, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "cannot update the preferences file: %s", why);
		return r;
	}
	return ipkvm_users_del(u, c->user);
}

static const char *by_of(const struct ipkvm_authsvc_caller *caller)
{
	return caller->auth ? caller->auth->user : "";
}

static const char *addr_of(const struct ipkvm_authsvc_caller *caller)
{
	return caller->addr ? caller->addr : "";
}

static const char *via_of(const struct ipkvm_authsvc_caller *caller)
{
	return caller->via ? caller->via : "api";
}

void ipkvm_authsvc_user_del(struct ipkvm_authsvc *a, const struct ipkvm_authsvc_caller *caller,
			    const char *name, struct ipkvm_authsvc_result *res)
{
	memset(res, 0, sizeof(*res));
	ipkvm_strlcpy(res->user, name, sizeof(res->user));
	if (strcmp(name, by_of(caller)) == 0) {
		res->status = IPKVM_AUTHSVC_CONFLICT;
		snprintf(res->err, sizeof(res->err), "you cannot delete yourself");
		return;
	}
	struct del_ctx c = {.a = a, .user = name, .status = IPKVM_AUTHSVC_FAILED};
	int r = ipkvm_authsvc_edit_users(a, edit_del, &c, res->err, sizeof(res->err));
	if (r == 0)
		forget_initial_password(a, name);
	ipkvm_audit(a->state_dir, "user_del", name, caller->addr, r == 0,
		    json_pack("{s:s, s:s, s:I}", "via", via_of(caller), "by", by_of(caller),
			      "tokens", (json_int_t)c.tokens));
	res->status = r == 0 ? IPKVM_AUTHSVC_OK : c.status;
}

/* --- calls with a hash on the worker ------------------------------------------------------ */

enum call_kind { CALL_LOGIN, CALL_PASSWORD, CALL_USER_ADD, CALL_USER_SET };

struct ipkvm_authsvc_call {
	struct ipkvm_job job;
	enum call_kind kind;
	struct ipkvm_authsvc *a;
	ipkvm_authsvc_done_fn done; /* NULL once detached */
	void *ctx;
	char user[IPKVM_USER_NAME_MAX + 1];
	char addr[64];
	char by[IPKVM_USER_NAME_MAX + 1];
	char via[16];
	char tls[16]; /* a login's TLS for its audit record, "" = none said */
	/* in */
	char *password; /* verify this against hash (when set) */
	char hash[IPKVM_HASH_MAX];
	bool user_exists;
	char *new_password; /* hash this into new_hash (when set) */
	char code[16];
	bool has_code;
	enum ipkvm_role role;
	bool set_role;
	/* out */
	bool verified;
	int hash_err;
	char new_hash[IPKVM_HASH_MAX];
	struct ipkvm_authsvc_result res;
};

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void call_free(struct ipkvm_authsvc_call *c)
{
	free_secret(c->password);
	free_secret(c->new_password);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/* Answers a call that never reached the worker. */
static void answer_now(ipkvm_authsvc_done_fn done, void *ctx, const char *user,
		       enum ipkvm_authsvc_status status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void answer_now(ipkvm_authsvc_done_fn done, void *ctx, const char *user,
		       enum ipkvm_authsvc_status status, const char *fmt, ...)
{
	struct ipkvm_authsvc_result res = {.status = status};
	va_list ap;
	ipkvm_strlcpy(res.user, user, sizeof(res.user));
	va_start(ap, fmt);
	vsnprintf(res.err, sizeof(res.err), fmt, ap);
	va_end(ap);
	done(ctx, &res);
}

static void call_run(struct ipkvm_job *j)
{
	struct ipkvm_authsvc_call *c = (struct ipkvm_authsvc_call *)j;
	if (c->password)
		c->verified = ipkvm_password_verify(c->password, c->hash);
	if (c->new_password)
		c->hash_err =
		    ipkvm_password_hash(c->new_password, c->new_hash, sizeof(c->new_hash));
}

static void call_done(struct ipkvm_job *j);

static struct ipkvm_authsvc_call *call_new(struct ipkvm_authsvc *a, enum call_kind kind,
					   const struct ipkvm_authsvc_caller *caller,
					   const char *user, ipkvm_authsvc_done_fn done, void *ctx)
{
	struct ipkvm_authsvc_call *c = calloc(1, sizeof(*c));
	if (!c) {
		answer_now(done, ctx, user, IPKVM_AUTHSVC_FAILED, "out of memory");
		return NULL;
	}
	c->job.run = call_run;
	c->job.done = call_done;
	c->kind = kind;
	c->a = a;
	c->done = done;
	c->ctx = ctx;
	/* Names too long for a user are simply unknown users, with the same answer. */
	ipkvm_strlcpy(c->user, user, sizeof(c->user));
	ipkvm_strlcpy(c->addr, addr_of(caller), sizeof(c->addr));
	ipkvm_strlcpy(c->by, by_of(caller), sizeof(c->by));
	ipkvm_strlcpy(c->via, via_of(caller), sizeof(c->via));
	ipkvm_strlcpy(c->tls, caller->tls ? caller->tls : "", sizeof(c->tls));
	ipkvm_strlcpy(c->res.user, c->user, sizeof(c->res.user));
	return c;
}

static void throttle_keys(const char *addr, const char *user, char *ka, char *ku, size_t len)
{
	snprintf(ka, len, "addr:%s", addr);
	snprintf(ku, len, "user:%s", user);
}

/* Login and own-password calls check a password: they count as attempts in flight. */
static bool checks_password(const struct ipkvm_authsvc_call *c)
{
	return c->kind == CALL_LOGIN || c->kind == CALL_PASSWORD;
}

static struct ipkvm_authsvc_call *call_submit(struct ipkvm_authsvc_call *c);

/* Copies the secrets the worker needs (either may be NULL) and submits c; answers FAILED
 * when out of memory. */
static struct ipkvm_authsvc_call *call_start(struct ipkvm_authsvc_call *c, const char *password,
					     const char *new_password)
{
	c->password = password ? strdup(password) : NULL;
	c->new_password = new_password ? strdup(new_password) : NULL;
	if ((password && !c->password) || (new_password && !c->new_password)) {
		ipkvm_authsvc_done_fn done = c->done;
		void *ctx = c->ctx;
		char user[IPKVM_USER_NAME_MAX + 1];
		memcpy(user, c->user, sizeof(user));
		call_free(c);
		answer_now(done, ctx, user, IPKVM_AUTHSVC_FAILED, "out of memory");
		return NULL;
	}
	return call_submit(c);
}

static struct ipkvm_authsvc_call *call_submit(struct ipkvm_authsvc_call *c)
{
	if (checks_password(c)) {
		char ka[128], ku[128];
		throttle_keys(c->addr, c->user, ka, ku, sizeof(ka));
		ipkvm_throttle_begin(c->a->throttle, ka, ipkvm_mono_ms());
		ipkvm_throttle_begin(c->a->throttle, ku, ipkvm_mono_ms());
	}
	if (!c->a->worker) {
		call_run(&c->job);
		call_done(&c->job);
		return NULL;
	}
	ipkvm_worker_submit(c->a->worker, &c->job);
	return c;
}

/* Answers THROTTLED (audited) and returns true when the address or the user backs off. */
static bool throttled(struct ipkvm_authsvc *a, const char *addr, const char *user,
		      ipkvm_authsvc_done_fn done, void *ctx)
{
	char ka[128], ku[128];
	throttle_keys(addr, user, ka, ku, sizeof(ka));
	int64_t now = ipkvm_mono_ms();
	int wa = ipkvm_throttle_check(a->throttle, ka, now);
	int wu = ipkvm_throttle_check(a->throttle, ku, now);
	int wait = wa > wu ? wa : wu;
	if (!wait)
		return false;
	ipkvm_audit(a->state_dir, "login_throttled", user, addr, false,
		    json_pack("{s:i}", "retry_after", wait));
	struct ipkvm_authsvc_result res = {.status = IPKVM_AUTHSVC_THROTTLED, .retry_after = wait};
	ipkvm_strlcpy(res.user, user, sizeof(res.user));
	snprintf(res.err, sizeof(res.err), "too many failed attempts: try again in %d s", wait);
	done(ctx, &res);
	return true;
}

static void count_failure(struct ipkvm_authsvc_call *c, const char *event, const char *why)
{
	char ka[128], ku[128];
	throttle_keys(c->addr, c->user, ka, ku, sizeof(ka));
	int64_t now = ipkvm_mono_ms();
	ipkvm_throttle_fail(c->a->throttle, ka, now);
	ipkvm_throttle_fail(c->a->throttle, ku, now);
	ipkvm_audit(c->a->state_dir, event, c->user, c->addr, false,
		    json_pack("{s:s, s:s}", "reason", why, "via", c->via));
	LOG_INFO("%s from %s: %s (%s)", event, c->addr, c->user, why);
	c->res.status = IPKVM_AUTHSVC_DENIED;
	snprintf(c->res.err, sizeof(c->res.err), "wrong user name, password or code");
}

/* Sets a FAILED result when the worker could not hash the new password. */
static bool hash_failed(struct ipkvm_authsvc_call *c)
{
	if (c->hash_err >= 0)
		return false;
	c->res.status = IPKVM_AUTHSVC_FAILED;
	snprintf(c->res.err, sizeof(c->res.err), "cannot hash: %s", strerror(-c->hash_err));
	return true;
}

static void set_ok(struct ipkvm_authsvc_call *c)
{
	const struct ipkvm_user *u = ipkvm_users_find(&c->a->users, c->user);
	c->res.status = IPKVM_AUTHSVC_OK;
	c->res.role = u ? u->role : c->role;
}

static void login_done(struct ipkvm_authsvc_call *c)
{
	struct ipkvm_authsvc *a = c->a;
	const struct ipkvm_user *u = ipkvm_users_find(&a->users, c->user);
	/* The hash must still be the one checked: a password change while the job ran wins. */
	if (!c->user_exists || !u || strcmp(u->hash, c->hash) != 0) {
		count_failure(c, "login_failed", "unknown user");
		return;
	}
	if (!c->verified) {
		count_failure(c, "login_failed", "wrong password");
		return;
	}
	if (u->totp[0]) {
		if (!c->has_code) {
			/* The password was right: not counted as a failure, and the code is the
			 * only thing missing. */
			c->res.status = IPKVM_AUTHSVC_TOTP_REQUIRED;
			snprintf(c->res.err, sizeof(c->res.err),
				 "enter the code from your authenticator app");
			return;
		}
		int64_t *last = totp_last(a, u->name);
		if (!last || ipkvm_totp_verify(u->totp, c->code, ipkvm_now(), last) != 0) {
			count_failure(c, "login_failed", "wrong code");
			return;
		}
	}
	char ka[128], ku[128];
	throttle_keys(c->addr, c->user, ka, ku, sizeof(ka));
	ipkvm_throttle_success(a->throttle, ka);
	ipkvm_throttle_success(a->throttle, ku);
	json_t *extra = json_pack("{s:b, s:s}", "totp", u->totp[0] != 0, "via", c->via);
	if (extra && c->tls[0])
		json_object_set_new(extra, "tls", json_string(c->tls));
	ipkvm_audit(a->state_dir, "login", u->name, c->addr, true, extra);
	LOG_INFO("login from %s: %s (%s)", c->addr, u->name, ipkvm_role_name(u->role));
	c->res.status = IPKVM_AUTHSVC_OK;
	c->res.role = u->role;
	c->res.totp = u->totp[0] != 0;
}

static void password_done(struct ipkvm_authsvc_call *c)
{
	struct ipkvm_authsvc *a = c->a;
	if (!c->verified) {
		count_failure(c, "password_failed", "wrong old password");
		return;
	}
	if (hash_failed(c))
		return;
	struct set_ctx s = {.user = c->user,
			    .expect_hash = c->hash,
			    .new_hash = c->new_hash,
			    .status = IPKVM_AUTHSVC_FAILED};
	int r = ipkvm_authsvc_edit_users(a, edit_set, &s, c->res.err, sizeof(c->res.err));
	ipkvm_audit(a->state_dir, "user_passwd", c->user, c->addr, r == 0,
		    json_pack("{s:s, s:s}", "via", c->via, "by", c->by));
	if (r < 0) {
		c->res.status = s.status;
		return;
	}
	forget_initial_password(a, c->user);
	set_ok(c);
}

static void user_add_done(struct ipkvm_authsvc_call *c)
{
	struct ipkvm_authsvc *a = c->a;
	if (hash_failed(c))
		return;
	struct ipkvm_user nu = {.role = c->role};
	ipkvm_strlcpy(nu.name, c->user, sizeof(nu.name));
	ipkvm_strlcpy(nu.hash, c->new_hash, sizeof(nu.hash));
	int r = ipkvm_authsvc_edit_users(a, edit_add, &nu, c->res.err, sizeof(c->res.err));
	ipkvm_audit(a->state_dir, "user_add", c->user, c->addr, r == 0,
		    json_pack("{s:s, s:s, s:s}", "via", c->via, "by", c->by, "role",
			      ipkvm_role_name(c->role)));
	explicit_bzero(&nu, sizeof(nu));
	if (r < 0) {
		c->res.status = r == -EEXIST ? IPKVM_AUTHSVC_CONFLICT : IPKVM_AUTHSVC_FAILED;
		return;
	}
	set_ok(c);
}

/* Applies a user_set (after the hash, when there is a password). */
static void user_set_apply(struct ipkvm_authsvc *a, const char *addr, const char *via,
			   const char *by, struct set_ctx *s, struct ipkvm_authsvc_result *res)
{
	int r = ipkvm_authsvc_edit_users(a, edit_set, s, res->err, sizeof(res->err));
	if (s->new_hash)
		ipkvm_audit(a->state_dir, "user_passwd", s->user, addr, r == 0,
			    json_pack("{s:s, s:s}", "via", via, "by", by));
	if (s->set_role)
		ipkvm_audit(a->state_dir, "user_role", s->user, addr, r == 0,
			    json_pack("{s:s, s:s, s:s}", "via", via, "by", by, "role",
				      ipkvm_role_name(s->role)));
	if (r < 0) {
		res->status = s->status;
		return;
	}
	if (s->new_hash)
		forget_initial_password(a, s->user);
	const struct ipkvm_user *u = ipkvm_users_find(&a->users, s->user);
	res->status = IPKVM_AUTHSVC_OK;
	res->role = u ? u->role : s->role;
}

static void user_set_done(struct ipkvm_authsvc_call *c)
{
	if (hash_failed(c))
		return;
	struct set_ctx s = {.user = c->user,
			    .new_hash = c->new_hash,
			    .set_role = c->set_role,
			    .role = c->role,
			    .status = IPKVM_AUTHSVC_FAILED};
	user_set_apply(c->a, c->addr, c->via, c->by, &s, &c->res);
}

static void call_done(struct ipkvm_job *j)
{
	struct ipkvm_authsvc_call *c = (struct ipkvm_authsvc_call *)j;
	if (checks_password(c)) {
		char ka[128], ku[128];
		throttle_keys(c->addr, c->user, ka, ku, sizeof(ka));
		ipkvm_throttle_end(c->a->throttle, ka);
		ipkvm_throttle_end(c->a->throttle, ku);
	}
	c->res.status = IPKVM_AUTHSVC_FAILED;
	switch (c->kind) {
	case CALL_LOGIN:
		login_done(c);
		break;
	case CALL_PASSWORD:
		password_done(c);
		break;
	case CALL_USER_ADD:
		user_add_done(c);
		break;
	case CALL_USER_SET:
		user_set_done(c);
		break;
	}
	if (c->done)
		c->done(c->ctx, &c->res);
	call_free(c);
}

void ipkvm_authsvc_detach(struct ipkvm_authsvc_call *call)
{
	if (call)
		call->done = NULL;
}

struct ipkvm_authsvc_call *ipkvm_authsvc_login(struct ipkvm_authsvc *a,
					       const struct ipkvm_authsvc_caller *caller,
					       const char *user, const char *password,
					       const char *code, ipkvm_authsvc_done_fn done,
					       void *ctx)
{
	const char *addr = addr_of(caller);
	if (throttled(a, addr, user, done, ctx))
		return NULL;
	struct ipkvm_authsvc_call *c = call_new(a, CALL_LOGIN, caller, user, done, ctx);
	if (!c)
		return NULL;
	const struct ipkvm_user *u =
	    strlen(user) <= IPKVM_USER_NAME_MAX ? ipkvm_users_find(&a->users, user) : NULL;
	c->user_exists = u != NULL;
	ipkvm_strlcpy(c->hash, u ? u->hash : ipkvm_password_dummy_hash(), sizeof(c->hash));
	if (code && code[0]) {
		c->has_code = true;
		ipkvm_strlcpy(c->code, code, sizeof(c->code));
	}
	return call_start(c, password, NULL);
}

int ipkvm_authsvc_addr_throttle(struct ipkvm_authsvc *a, const char *addr, const char *via)
{
	char key[128];
	snprintf(key, sizeof(key), "addr:%s", addr);
	int wait = ipkvm_throttle_check(a->throttle, key, ipkvm_mono_ms());
	if (wait)
		ipkvm_audit(a->state_dir, "login_throttled", "", addr, false,
			    json_pack("{s:i, s:s}", "retry_after", wait, "via", via));
	return wait;
}

void ipkvm_authsvc_addr_attempt(struct ipkvm_authsvc *a, const char *addr, bool ok)
{
	char key[128];
	snprintf(key, sizeof(key), "addr:%s", addr);
	if (ok)
		ipkvm_throttle_success(a->throttle, key);
	else
		ipkvm_throttle_fail(a->throttle, key, ipkvm_mono_ms());
}

struct ipkvm_authsvc_call *ipkvm_authsvc_change_password(struct ipkvm_authsvc *a,
							 const struct ipkvm_authsvc_caller *caller,
							 const char *old_password,
							 const char *new_password,
							 ipkvm_authsvc_done_fn done, void *ctx)
{
	const char *me = by_of(caller);
	if (throttled(a, addr_of(caller), me, done, ctx))
		return NULL;
	const struct ipkvm_user *u = ipkvm_users_find(&a->users, me);
	if (!u) {
		answer_now(done, ctx, me, IPKVM_AUTHSVC_UNKNOWN_CALLER, "no user %s", me);
		return NULL;
	}
	struct ipkvm_authsvc_call *c = call_new(a, CALL_PASSWORD, caller, u->name, done, ctx);
	if (!c)
		return NULL;
	ipkvm_strlcpy(c->hash, u->hash, sizeof(c->hash));
	c->user_exists = true;
	return call_start(c, old_password, new_password);
}

struct ipkvm_authsvc_call *ipkvm_authsvc_user_add(struct ipkvm_authsvc *a,
						  const struct ipkvm_authsvc_caller *caller,
						  const char *name, const char *password,
						  enum ipkvm_role role, ipkvm_authsvc_done_fn done,
						  void *ctx)
{
	if (ipkvm_users_find(&a->users, name)) {
		answer_now(done, ctx, name, IPKVM_AUTHSVC_CONFLICT, "user %s exists", name);
		return NULL;
	}
	struct ipkvm_authsvc_call *c = call_new(a, CALL_USER_ADD, caller, name, done, ctx);
	if (!c)
		return NULL;
	c->role = role;
	return call_start(c, NULL, password);
}

struct ipkvm_authsvc_call *ipkvm_authsvc_user_set(struct ipkvm_authsvc *a,
						  const struct ipkvm_authsvc_caller *caller,
						  const char *name, const char *password,
						  bool set_role, enum ipkvm_role role,
						  ipkvm_authsvc_done_fn done, void *ctx)
{
	if (!password) {
		/* Nothing to hash: apply now. */
		struct ipkvm_authsvc_result res = {0};
		struct set_ctx s = {.user = name,
				    .set_role = set_role,
				    .role = role,
				    .status = IPKVM_AUTHSVC_FAILED};
		ipkvm_strlcpy(res.user, name, sizeof(res.user));
		user_set_apply(a, addr_of(caller), via_of(caller), by_of(caller), &s, &res);
		done(ctx, &res);
		return NULL;
	}
	struct ipkvm_authsvc_call *c = call_new(a, CALL_USER_SET, caller, name, done, ctx);
	if (!c)
		return NULL;
	c->set_role = set_role;
	c->role = role;
	return call_start(c, NULL, password);
}
