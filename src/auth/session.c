/*
 * session: see session.h. Sessions are few (max is a few hundred), so they live in one
 * array and lookups scan it with a constant-time compare of token hashes; no index whose
 * timing could leak how much of a token matched.
 */
#define LOG_TAG "session"
#include "auth/session.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

struct ipkvm_sessions {
	int idle, lifetime;
	size_t max, per_user, n;
	uint64_t next_id;
	struct ipkvm_session *v;
};

struct ipkvm_sessions *ipkvm_sessions_create(int idle, int lifetime, size_t max, size_t per_user)
{
	struct ipkvm_sessions *ss = calloc(1, sizeof(*ss));
	if (!ss)
		return NULL;
	ss->v = calloc(max ? max : 1, sizeof(*ss->v));
	if (!ss->v) {
		free(ss);
		return NULL;
	}
	ss->idle = idle;
	ss->lifetime = lifetime;
	ss->max = max ? max : 1;
	ss->per_user = per_user && per_user < ss->max ? per_user : ss->max;
	ss->next_id = 1;
	return ss;
}

void ipkvm_sessions_destroy(struct ipkvm_sessions *ss)
{
	if (!ss)
		return;
	explicit_bzero(ss->v, ss->max * sizeof(*ss->v));
	free(ss->v);
	free(ss);
}

static void remove_at(struct ipkvm_sessions *ss, size_t i)
{
	ss->v[i] = ss->v[--ss->n];
	memset(&ss->v[ss->n], 0, sizeof(ss->v[0]));
}

static bool expired(const struct ipkvm_sessions *ss, const struct ipkvm_session *s, int64_t now)
{
	return now >= s->last_seen + ss->idle || now >= s->created + ss->lifetime;
}

int64_t ipkvm_session_expires(const struct ipkvm_sessions *ss, const struct ipkvm_session *s)
{
	int64_t idle_end = s->last_seen + ss->idle, abs_end = s->created + ss->lifetime;
	return idle_end < abs_end ? idle_end : abs_end;
}

/* Whether a was used less recently than b. Use is counted in whole seconds, so among equals
 * the older login (smaller id) counts as less recently used: the choice never depends on
 * where sessions happen to sit in the array. */
static bool used_before(const struct ipkvm_session *a, const struct ipkvm_session *b)
{
	return a->last_seen != b->last_seen ? a->last_seen < b->last_seen : a->id < b->id;
}

/* A session in the order make_room() reads them: grouped by user, least recently used
 * first. */
struct by_user {
	const struct ipkvm_session *s;
	size_t i;
};

static int by_user_cmp(const void *a, const void *b)
{
	const struct by_user *x = a, *y = b;
	int c = strcmp(x->s->user, y->s->user);
	if (c)
		return c;
	return used_before(x->s, y->s) ? -1 : used_before(y->s, x->s);
}

/* The store is full and user holds fewer than per_user: ends the least recently used
 * session of the users holding the most sessions, user's own when user is one of them (see
 * session.h). Sorting keeps this O(n log n) for the largest stores the config allows; it
 * runs only when the store is full. Returns 0 or -ENOMEM. */
static int make_room(struct ipkvm_sessions *ss, const char *user)
{
	struct by_user *v = malloc(ss->n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < ss->n; i++)
		v[i] = (struct by_user){&ss->v[i], i};
	qsort(v, ss->n, sizeof(*v), by_user_cmp);
	size_t most = 0, pick = 0;
	bool pick_mine = false;
	for (size_t g = 0, end; g < ss->n; g = end) {
		for (end = g + 1; end < ss->n && strcmp(v[end].s->user, v[g].s->user) == 0; end++)
			;
		size_t count = end - g;
		bool mine = strcmp(v[g].s->user, user) == 0;
		/* v[g] is the group's least recently used session. */
		if (count > most ||
		    (count == most && !pick_mine && (mine || used_before(v[g].s, &ss->v[pick])))) {
			most = count;
			pick = v[g].i;
			pick_mine = mine;
		}
	}
	free(v);
	LOG_INFO("session store full (%zu): ending the least recently used session of %s (%zu "
		 "sessions) for a login of %s",
		 ss->max, ss->v[pick].user, most, user);
	remove_at(ss, pick);
	return 0;
}

struct ipkvm_session *ipkvm_sessions_start(struct ipkvm_sessions *ss, const char *user,
					   enum ipkvm_role role, const char *cred, int64_t now,
					   char *token_out)
{
	uint8_t raw[32];
	if (ipkvm_random_bytes(raw, sizeof(raw)) < 0)
		return NULL;
	ipkvm_sessions_expire(ss, now);
	size_t mine = 0, lru = 0;
	for (size_t i = 0; i < ss->n; i++) {
		if (strcmp(ss->v[i].user, user) != 0)
			continue;
		if (!mine++ || used_before(&ss->v[i], &ss->v[lru]))
			lru = i;
	}
	if (mine >= ss->per_user) {
		LOG_INFO("%s holds %zu sessions (the most per user): ending their least recently "
			 "used",
			 user, mine);
		remove_at(ss, lru);
	} else if (ss->n == ss->max && make_room(ss, user) < 0) {
		explicit_bzero(raw, sizeof(raw));
		return NULL;
	}
	struct ipkvm_session *s = &ss->v[ss->n++];
	memset(s, 0, sizeof(*s));
	s->id = ss->next_id++;
	ipkvm_strlcpy(s->user, user, sizeof(s->user));
	ipkvm_strlcpy(s->cred, cred, sizeof(s->cred));
	s->role = role;
	s->created = s->last_seen = now;
	ipkvm_base64url_encode(raw, sizeof(raw), token_out);
	SHA256((const uint8_t *)token_out, IPKVM_SESSION_TOKEN_LEN, s->token_hash);
	explicit_bzero(raw, sizeof(raw));
	return s;
}

struct ipkvm_session *ipkvm_sessions_lookup(struct ipkvm_sessions *ss, const char *token,
					    int64_t now, bool touch)
{
	if (!token || strlen(token) != IPKVM_SESSION_TOKEN_LEN)
		return NULL;
	uint8_t h[32];
	SHA256((const uint8_t *)token, IPKVM_SESSION_TOKEN_LEN, h);
	for (size_t i = 0; i < ss->n; i++) {
		if (!ipkvm_memeq_ct(ss->v[i].token_hash, h, sizeof(h)))
			continue;
		if (expired(ss, &ss->v[i], now)) {
			remove_at(ss, i);
			return NULL;
		}
		if (touch)
			ss->v[i].last_seen = now;
		return &ss->v[i];
	}
	return NULL;
}

struct ipkvm_session *ipkvm_sessions_get(struct ipkvm_sessions *ss, uint64_t id, int64_t now)
{
	for (size_t i = 0; i < ss->n; i++) {
		if (ss->v[i].id != id)
			continue;
		if (expired(ss, &ss->v[i], now)) {
			remove_at(ss, i);
			return NULL;
		}
		return &ss->v[i];
	}
	return NULL;
}

void ipkvm_sessions_end(struct ipkvm_sessions *ss, uint64_t id)
{
	for (size_t i = 0; i < ss->n; i++) {
		if (ss->v[i].id == id) {
			remove_at(ss, i);
			return;
		}
	}
}

size_t ipkvm_sessions_end_user(struct ipkvm_sessions *ss, const char *user)
{
	size_t ended = 0;
	for (size_t i = 0; i < ss->n;) {
		if (strcmp(ss->v[i].user, user) == 0) {
			remove_at(ss, i);
			ended++;
		} else {
			i++;
		}
	}
	return ended;
}

size_t ipkvm_sessions_expire(struct ipkvm_sessions *ss, int64_t now)
{
	size_t ended = 0;
	for (size_t i = 0; i < ss->n;) {
		if (expired(ss, &ss->v[i], now)) {
			remove_at(ss, i);
			ended++;
		} else {
			i++;
		}
	}
	return ended;
}

size_t ipkvm_sessions_count(const struct ipkvm_sessions *ss)
{
	return ss->n;
}

void ipkvm_sessions_foreach(struct ipkvm_sessions *ss,
			    void (*fn)(void *ctx, struct ipkvm_session *s), void *ctx)
{
	for (size_t i = 0; i < ss->n; i++)
		fn(ctx, &ss->v[i]);
}
