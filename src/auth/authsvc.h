/*
 * authsvc: the one authority every front end asks (web now; VNC, Redfish and IPMI next),
 * so that each input path goes through the same users, sessions, tokens, roles, throttle and
 * audit log, and none of them has to speak HTTP to get there.
 *
 * It owns the credential state of the daemon: the users, tokens and preferences files of the state
 * directory (reloaded whenever their identity on disk changes, so an edit by `ipkvmd user
 * ...` is seen at the next request; sessions whose user was deleted or whose password hash
 * or role changed end there and then), the login sessions, the login throttle and the TOTP
 * replay memory. Front ends hand it what they parsed (a user name, a password, a cookie
 * value, a bearer token, the peer's address) and map its answers onto their protocol.
 *
 * Password hashing is slow on purpose (yescrypt), so the calls that check or set a password
 * run their hash on the worker thread and answer through a completion callback on the main
 * thread. The caller may go away meanwhile: it detaches the call, and the bookkeeping still
 * runs (a failed attempt still counts, a changed password is still written). Calls refused
 * before any hashing (throttled, unknown user for an edit) answer through the same callback
 * before they return, so a front end has one place that maps outcomes.
 *
 * Everything here runs on the main thread; times come from the clock of core/util.h.
 */
#ifndef IPKVM_AUTH_AUTHSVC_H
#define IPKVM_AUTH_AUTHSVC_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/session.h"
#include "auth/tokens.h"
#include "auth/users.h"

struct ipkvm_worker;

/* Who a request, a socket or a connection acts as. */
enum ipkvm_auth_kind { IPKVM_AUTH_NONE, IPKVM_AUTH_SESSION, IPKVM_AUTH_TOKEN };

struct ipkvm_auth {
	enum ipkvm_auth_kind kind;
	char user[IPKVM_USER_NAME_MAX + 1];
	enum ipkvm_role role;
	uint64_t session_id;		       /* kind == SESSION */
	char token_id[IPKVM_TOKEN_ID_LEN + 1]; /* kind == TOKEN */
	int64_t expires;		       /* unix s; 0 = does not expire */
};

/* The role check every front end makes: whether auth may do what needs role `need`
 * (viewer < operator < admin; an unauthenticated caller may do nothing). */
static inline bool ipkvm_auth_allows(const struct ipkvm_auth *auth, enum ipkvm_role need)
{
	return auth->kind != IPKVM_AUTH_NONE && auth->role >= need;
}

struct ipkvm_authsvc_config {
	const char *state_dir;		    /* holds users, tokens, the audit log */
	int session_idle, session_lifetime; /* seconds */
	size_t max_sessions, max_sessions_per_user;
	int login_max_failures, login_backoff_max; /* see throttle.h */
	/* Where password hashes run; NULL runs them inline (tests, tools). It must outlive
	 * the service's calls: destroy the worker (which finishes them) before the service. */
	struct ipkvm_worker *worker;
};

struct ipkvm_authsvc;

struct ipkvm_authsvc *ipkvm_authsvc_create(const struct ipkvm_authsvc_config *cfg);
void ipkvm_authsvc_destroy(struct ipkvm_authsvc *a);

/* Startup: creates the state directory, removes temp files an interrupted write left,
 * loads the users, and on the very first start creates `admin` with a random password
 * (written to the log and to a root-only file until the admin changes it). Returns 0 or
 * -errno (logged). */
int ipkvm_authsvc_open(struct ipkvm_authsvc *a);

const char *ipkvm_authsvc_state_dir(const struct ipkvm_authsvc *a);

/* Reloads the users and tokens files when they changed on disk (always when force, as on
 * SIGHUP) and ends the sessions whose user was deleted or whose password or role changed.
 * Front ends call it once per request before authenticating. */
void ipkvm_authsvc_refresh(struct ipkvm_authsvc *a, bool force);
/* Once a second: removes expired sessions. */
void ipkvm_authsvc_tick(struct ipkvm_authsvc *a);

/* --- authentication ------------------------------------------------------------------ */

/* A session token (the cookie's value). touch: counts as activity. 0 (out filled) or
 * -EACCES. */
int ipkvm_authsvc_session_auth(struct ipkvm_authsvc *a, const char *token, bool touch,
			       struct ipkvm_auth *out);
/* An API token. It acts with its user's current role. 0 (out filled) or -EACCES. */
int ipkvm_authsvc_token_auth(struct ipkvm_authsvc *a, const char *token, struct ipkvm_auth *out);
/* Whether an earlier authentication still holds (session alive, token valid, role the
 * same); refreshes the credentials first. touch: counts as activity (updates expires). */
bool ipkvm_authsvc_recheck(struct ipkvm_authsvc *a, struct ipkvm_auth *auth, bool touch);
/* The same for a client that only watches: every role may watch, so a token follows its
 * user's current role instead of ending on a change (a session still ends on any change of
 * its user). */
bool ipkvm_authsvc_recheck_viewer(struct ipkvm_authsvc *a, struct ipkvm_auth *auth);

/* --- sessions -------------------------------------------------------------------------- */

/* Opens a session for user (as it is now): its token (IPKVM_SESSION_TOKEN_LEN chars + NUL)
 * goes to token_out and exists nowhere else. out (may be NULL) describes it; *ends (may be
 * NULL) is when it ends at the latest (login + lifetime). 0, -ENOENT or -ENOMEM. */
int ipkvm_authsvc_session_open(struct ipkvm_authsvc *a, const char *user, char *token_out,
			       struct ipkvm_auth *out, int64_t *ends);
/* Ends a session (logout) and tells the watchers. */
void ipkvm_authsvc_session_close(struct ipkvm_authsvc *a, uint64_t id);
size_t ipkvm_authsvc_session_count(const struct ipkvm_authsvc *a);

/* Watchers are told after sessions or credentials may have ended (logout, an edit of the
 * users), so they can cut the connections that no longer hold (each rechecks its own).
 * Not called from ipkvm_authsvc_refresh(), which rechecks themselves call. */
int ipkvm_authsvc_watch(struct ipkvm_authsvc *a, void (*fn)(void *ctx), void *ctx);
void ipkvm_authsvc_unwatch(struct ipkvm_authsvc *a, void (*fn)(void *ctx), void *ctx);

/* --- users ----------------------------------------------------------------------------- */

const struct ipkvm_users *ipkvm_authsvc_users(const struct ipkvm_authsvc *a);
const struct ipkvm_user *ipkvm_authsvc_user(const struct ipkvm_authsvc *a, const char *name);
/* Whether pw is acceptable as a new password (length, one line). */
bool ipkvm_authsvc_password_ok(const char *pw);
/* Rewrites the users file under its lock: fn edits the freshly loaded list. Returns 0,
 * fn's negative result, or -errno with err set. The service's copy is reloaded and the
 * watchers told afterwards. */
int ipkvm_authsvc_edit_users(struct ipkvm_authsvc *a,
			     int (*fn)(struct ipkvm_users *u, void *ctx, char *err, size_t errlen),
			     void *ctx, char *err, size_t errlen);

/* --- preferences ---------------------------------------------------------------------- */

/* The console language user chose (a tag such as "ja"), or NULL when none. */
const char *ipkvm_authsvc_language(const struct ipkvm_authsvc *a, const char *user);
/* Remembers user's language (NULL forgets it) in the preferences file of the state
 * directory (auth/prefs.h), under the users lock. The language must pass
 * ipkvm_language_valid(); whether a catalog exists is the front end's to check. Returns 0,
 * -ENOENT (no such user), -EINVAL (bad language) or -errno, with err set. */
int ipkvm_authsvc_set_language(struct ipkvm_authsvc *a, const char *user, const char *language,
			       char *err, size_t errlen);

/* --- calls that check or set a password ------------------------------------------------- */

enum ipkvm_authsvc_status {
	IPKVM_AUTHSVC_OK,
	IPKVM_AUTHSVC_DENIED,	      /* wrong user name, password or code (counted) */
	IPKVM_AUTHSVC_TOTP_REQUIRED,  /* the password was right; the code is missing */
	IPKVM_AUTHSVC_THROTTLED,      /* backing off: retry_after */
	IPKVM_AUTHSVC_NOT_FOUND,      /* no such user */
	IPKVM_AUTHSVC_UNKNOWN_CALLER, /* the caller's own user is gone: authenticate again */
	IPKVM_AUTHSVC_CONFLICT,	      /* exists, last admin, yourself, changed meanwhile */
	IPKVM_AUTHSVC_FAILED,	      /* internal: no memory, cannot hash or write */
};

struct ipkvm_authsvc_result {
	enum ipkvm_authsvc_status status;
	char user[IPKVM_USER_NAME_MAX + 1]; /* the user it was about */
	enum ipkvm_role role;		    /* OK: the user's role now */
	bool totp;			    /* login OK: a code was checked */
	int retry_after;		    /* THROTTLED: seconds */
	char err[256];			    /* not OK: what went wrong, for the caller */
};

/* The caller of an operation: who (for the audit log's "by") and from where. */
struct ipkvm_authsvc_caller {
	const struct ipkvm_auth *auth; /* NULL for a login */
	const char *addr;	       /* the peer's address, may be "" */
	const char *via;	       /* the front end, for the audit log ("api") */
	const char *tls; /* a login: the TLS it came over, for its audit record ("certificate",
			  * "anonymous"); NULL: not recorded */
};

/* Called once on the main thread with the outcome, unless the call was detached. */
typedef void (*ipkvm_authsvc_done_fn)(void *ctx, const struct ipkvm_authsvc_result *res);

struct ipkvm_authsvc_call;

/* Checks user's password and, when the user has TOTP, code (may be NULL or ""), throttled
 * per address and per user; audited. On OK the front end opens a session if it wants one.
 * Unknown users cost the same time and get the same answer as wrong passwords. The calls
 * below return the call in flight (for ipkvm_authsvc_detach) or NULL when done already
 * (done was called before the return). */
struct ipkvm_authsvc_call *ipkvm_authsvc_login(struct ipkvm_authsvc *a,
					       const struct ipkvm_authsvc_caller *caller,
					       const char *user, const char *password,
					       const char *code, ipkvm_authsvc_done_fn done,
					       void *ctx);
/* A credential the front end checks itself and that names no user (VNC's VncAuth password):
 * the same per-address login throttle. addr_throttle: 0 when addr may try now, else seconds
 * to wait (that refusal is audited as login_throttled, with via). addr_attempt: the outcome
 * (a failure counts for addr's back-off, a success resets it); the front end audits it. */
int ipkvm_authsvc_addr_throttle(struct ipkvm_authsvc *a, const char *addr, const char *via);
void ipkvm_authsvc_addr_attempt(struct ipkvm_authsvc *a, const char *addr, bool ok);
/* The caller's own password: old checked (throttled, audited like a login), new set. The
 * caller's sessions end (the hash changed): a front end with a session opens a new one. */
struct ipkvm_authsvc_call *ipkvm_authsvc_change_password(struct ipkvm_authsvc *a,
							 const struct ipkvm_authsvc_caller *caller,
							 const char *old_password,
							 const char *new_password,
							 ipkvm_authsvc_done_fn done, void *ctx);
/* An admin adds a user (name and password already checked for form). */
struct ipkvm_authsvc_call *ipkvm_authsvc_user_add(struct ipkvm_authsvc *a,
						  const struct ipkvm_authsvc_caller *caller,
						  const char *name, const char *password,
						  enum ipkvm_role role, ipkvm_authsvc_done_fn done,
						  void *ctx);
/* An admin sets a user's password (NULL: keep) and/or role (set_role). The last admin
 * keeps the admin role. */
struct ipkvm_authsvc_call *ipkvm_authsvc_user_set(struct ipkvm_authsvc *a,
						  const struct ipkvm_authsvc_caller *caller,
						  const char *name, const char *password,
						  bool set_role, enum ipkvm_role role,
						  ipkvm_authsvc_done_fn done, void *ctx);
/* An admin deletes a user and its API tokens (never themselves, never the last admin).
 * Synchronous: the outcome goes to *res. */
void ipkvm_authsvc_user_del(struct ipkvm_authsvc *a, const struct ipkvm_authsvc_caller *caller,
			    const char *name, struct ipkvm_authsvc_result *res);
/* The caller goes away: done will not be called; the call's bookkeeping still runs. */
void ipkvm_authsvc_detach(struct ipkvm_authsvc_call *call);

/* --- audit ------------------------------------------------------------------------------ */

/* Appends a record to the audit log of the state directory (see audit.h); extra stolen. */
int ipkvm_authsvc_audit(struct ipkvm_authsvc *a, const char *event, const char *user,
			const char *addr, bool ok, json_t *extra);

#endif
