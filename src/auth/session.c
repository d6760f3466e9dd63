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
	size_t max, n;
	uint64_t next_id;
	struct ipkvm_session *v;
};

struct ipkvm_sessions *ipkvm_sessions_create(int idle, int lifetime, size_t max)
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

struct ipkvm_session *ipkvm_sessions_start(struct ipkvm_sessions *ss, const char *user,
					   enum ipkvm_role role, const char *cred, int64_t now,
					   char *token_out)
{
	uint8_t raw[32];
	if (ipkvm_random_bytes(raw, sizeof(raw)) < 0)
		return NULL;
	ipkvm_sessions_expire(ss, now);
	if (ss->n == ss->max) {
		size_t lru = 0;
		for (size_t i = 1; i < ss->n; i++)
			if (ss->v[i].last_seen < ss->v[lru].last_seen)
				lru = i;
		LOG_INFO("session store full (%zu): ending the least recently used, of %s", ss->max,
			 ss->v[lru].user);
		remove_at(ss, lru);
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
