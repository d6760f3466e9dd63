/*
 * session: the in-memory store of login sessions.
 *
 * A session is named by a 256-bit random token (base64url, 43 characters) that lives only in
 * the client's cookie: the store keeps its SHA-256, so a memory disclosure does not hand out
 * live sessions. Each session remembers the user's password hash and role at login (its
 * credential); the auth service ends it when the users file no longer matches. Sessions end
 * after `idle` seconds without use or `lifetime` seconds after login. The store is bounded,
 * per user and in all, so that no user's logins can log the others out:
 *  - a user who already holds `per_user` sessions loses their own least recently used one;
 *  - when the store is full, the session that gives way is the least recently used one of
 *    the users holding the most sessions, and the user logging in counts among them (and
 *    is picked first) when tied. So a login only ends another user's session when that user
 *    holds more sessions than the one logging in, and leaves them at least as many as the
 *    one logging in held before.
 * A user with a single session keeps it unless every user holds only one and the store is
 * full (max distinct users at once), where the least recently used of them gives way.
 * Time is passed in by the caller (unix seconds), so tests drive it without sleeping.
 */
#ifndef IPKVM_AUTH_SESSION_H
#define IPKVM_AUTH_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/users.h"

#define IPKVM_SESSION_TOKEN_LEN 43

struct ipkvm_session {
	uint64_t id; /* > 0, never reused within a process */
	uint8_t token_hash[32];
	char user[IPKVM_USER_NAME_MAX + 1];
	enum ipkvm_role role;
	char cred[IPKVM_HASH_MAX]; /* the user's password hash at login */
	int64_t created, last_seen;
};

struct ipkvm_sessions;

/* max: sessions at once; per_user: sessions of one user at once (0 = max). */
struct ipkvm_sessions *ipkvm_sessions_create(int idle, int lifetime, size_t max, size_t per_user);
void ipkvm_sessions_destroy(struct ipkvm_sessions *ss);

/* Starts a session; writes its token (IPKVM_SESSION_TOKEN_LEN chars + NUL) to token_out.
 * Returns the new session or NULL (no randomness, or no memory to choose which session
 * gives way in a full store). Session pointers stay valid only until
 * the next call that may end a session (start, lookup, get, end*, expire): keep ids. */
struct ipkvm_session *ipkvm_sessions_start(struct ipkvm_sessions *ss, const char *user,
					   enum ipkvm_role role, const char *cred, int64_t now,
					   char *token_out);

/* The live session for token, or NULL (unknown, malformed or expired; an expired one is
 * removed). touch = true counts this as use (idle timer restarts). */
struct ipkvm_session *ipkvm_sessions_lookup(struct ipkvm_sessions *ss, const char *token,
					    int64_t now, bool touch);
/* The live session with this id, or NULL. */
struct ipkvm_session *ipkvm_sessions_get(struct ipkvm_sessions *ss, uint64_t id, int64_t now);
/* When the session will end if unused from now on (min of idle and absolute expiry). */
int64_t ipkvm_session_expires(const struct ipkvm_sessions *ss, const struct ipkvm_session *s);

void ipkvm_sessions_end(struct ipkvm_sessions *ss, uint64_t id);
/* Ends every session of user; returns how many. */
size_t ipkvm_sessions_end_user(struct ipkvm_sessions *ss, const char *user);
/* Removes expired sessions; returns how many. */
size_t ipkvm_sessions_expire(struct ipkvm_sessions *ss, int64_t now);
size_t ipkvm_sessions_count(const struct ipkvm_sessions *ss);
/* Calls fn for each live session (fn must not end sessions). */
void ipkvm_sessions_foreach(struct ipkvm_sessions *ss,
			    void (*fn)(void *ctx, struct ipkvm_session *s), void *ctx);

#endif
