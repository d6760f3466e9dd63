/*
 * Unit tests for auth/session: token shape and storage (only its SHA-256 is kept), lookup of
 * good, wrong and malformed tokens, idle and absolute expiry at their exact second, touch,
 * end / end_user / expire counts, LRU eviction when the store is full, the per-user cap (a
 * user's own least recently used session goes) and fair eviction in a full store (one user's
 * logins never log out a user holding fewer sessions), ids never reused and
 * ipkvm_session_expires. Time is passed explicitly, so nothing sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/session.h"
#include "core/log.h"
#include "core/util.h"

#define T0     1700000000 /* an arbitrary start time (unix seconds) */
#define IDLE   100
#define LIFE   250
#define HASH_A "$y$j9T$aaaa$bbbb"

static struct ipkvm_session *start(struct ipkvm_sessions *ss, const char *user, int64_t now,
				   char *tok)
{
	struct ipkvm_session *s =
	    ipkvm_sessions_start(ss, user, IPKVM_ROLE_OPERATOR, HASH_A, now, tok);
	assert_non_null(s);
	return s;
}

static uint64_t id_of(struct ipkvm_sessions *ss, const char *tok, int64_t now)
{
	struct ipkvm_session *s = ipkvm_sessions_lookup(ss, tok, now, false);
	return s ? s->id : 0;
}

static void test_start_and_lookup(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	assert_non_null(ss);
	char tok[IPKVM_SESSION_TOKEN_LEN + 1];
	memset(tok, 'X', sizeof(tok));
	struct ipkvm_session *s =
	    ipkvm_sessions_start(ss, "alice", IPKVM_ROLE_ADMIN, HASH_A, T0, tok);
	assert_non_null(s);
	assert_int_equal(strlen(tok), IPKVM_SESSION_TOKEN_LEN);
	assert_int_equal(IPKVM_SESSION_TOKEN_LEN, 43);
	for (size_t i = 0; i < IPKVM_SESSION_TOKEN_LEN; i++) {
		char c = tok[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_';
		assert_true(ok);
	}
	assert_true(s->id > 0);
	assert_string_equal(s->user, "alice");
	assert_int_equal(s->role, IPKVM_ROLE_ADMIN);
	assert_string_equal(s->cred, HASH_A);
	assert_int_equal(s->created, T0);
	assert_int_equal(s->last_seen, T0);
	/* The store keeps the SHA-256 of the token text, never the token. */
	uint8_t h[32];
	SHA256((const uint8_t *)tok, IPKVM_SESSION_TOKEN_LEN, h);
	assert_memory_equal(s->token_hash, h, 32);
	uint64_t id = s->id;
	assert_int_equal(ipkvm_sessions_count(ss), 1);

	struct ipkvm_session *f = ipkvm_sessions_lookup(ss, tok, T0 + 1, false);
	assert_non_null(f);
	assert_int_equal(f->id, id);
	assert_string_equal(f->user, "alice");
	assert_int_equal(f->last_seen, T0); /* touch = false */
	f = ipkvm_sessions_lookup(ss, tok, T0 + 5, true);
	assert_non_null(f);
	assert_int_equal(f->last_seen, T0 + 5);

	f = ipkvm_sessions_get(ss, id, T0 + 6);
	assert_non_null(f);
	assert_int_equal(f->id, id);
	assert_int_equal(f->last_seen, T0 + 5); /* get does not touch */
	assert_null(ipkvm_sessions_get(ss, id + 1, T0 + 6));
	assert_null(ipkvm_sessions_get(ss, 0, T0 + 6));
	ipkvm_sessions_destroy(ss);
}

static void test_wrong_tokens(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	char tok[IPKVM_SESSION_TOKEN_LEN + 1], bad[IPKVM_SESSION_TOKEN_LEN + 2];
	start(ss, "alice", T0, tok);

	/* Each single-character change is refused. */
	for (size_t i = 0; i < IPKVM_SESSION_TOKEN_LEN; i++) {
		memcpy(bad, tok, sizeof(tok));
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_null(ipkvm_sessions_lookup(ss, bad, T0, true));
	}
	/* Too short, too long, empty, NULL. */
	memcpy(bad, tok, sizeof(tok));
	bad[IPKVM_SESSION_TOKEN_LEN - 1] = '\0';
	assert_null(ipkvm_sessions_lookup(ss, bad, T0, true));
	memcpy(bad, tok, IPKVM_SESSION_TOKEN_LEN);
	bad[IPKVM_SESSION_TOKEN_LEN] = 'A';
	bad[IPKVM_SESSION_TOKEN_LEN + 1] = '\0';
	assert_null(ipkvm_sessions_lookup(ss, bad, T0, true));
	assert_null(ipkvm_sessions_lookup(ss, "", T0, true));
	assert_null(ipkvm_sessions_lookup(ss, NULL, T0, true));
	/* Wrong tokens end nothing. */
	assert_int_equal(ipkvm_sessions_count(ss), 1);
	assert_non_null(ipkvm_sessions_lookup(ss, tok, T0, false));
	ipkvm_sessions_destroy(ss);
}

static void test_idle_expiry_exact(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	char tok[IPKVM_SESSION_TOKEN_LEN + 1];
	start(ss, "alice", T0, tok);
	/* Unused: alive at last_seen + idle - 1, gone at last_seen + idle. */
	assert_non_null(ipkvm_sessions_lookup(ss, tok, T0 + IDLE - 1, false));
	assert_null(ipkvm_sessions_lookup(ss, tok, T0 + IDLE, false));
	/* The expired session was removed, not just hidden. */
	assert_int_equal(ipkvm_sessions_count(ss), 0);
	assert_null(ipkvm_sessions_lookup(ss, tok, T0 + 1, false));

	/* Touched: the idle timer restarts from the touch. */
	start(ss, "alice", T0, tok);
	assert_non_null(ipkvm_sessions_lookup(ss, tok, T0 + 60, true));
	assert_non_null(ipkvm_sessions_lookup(ss, tok, T0 + 60 + IDLE - 1, false));
	assert_null(ipkvm_sessions_lookup(ss, tok, T0 + 60 + IDLE, false));
	assert_int_equal(ipkvm_sessions_count(ss), 0);
	ipkvm_sessions_destroy(ss);
}

static void test_touch_false_does_not_extend(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	char tok[IPKVM_SESSION_TOKEN_LEN + 1];
	start(ss, "alice", T0, tok);
	for (int64_t t = T0 + 10; t < T0 + IDLE; t += 10) {
		struct ipkvm_session *s = ipkvm_sessions_lookup(ss, tok, t, false);
		assert_non_null(s);
		assert_int_equal(s->last_seen, T0);
	}
	assert_null(ipkvm_sessions_lookup(ss, tok, T0 + IDLE, false));
	ipkvm_sessions_destroy(ss);
}

static void test_absolute_lifetime(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	char tok[IPKVM_SESSION_TOKEN_LEN + 1];
	start(ss, "alice", T0, tok);
	/* Touched often, yet it ends LIFE seconds after login. */
	assert_non_null(ipkvm_sessions_lookup(ss, tok, T0 + 90, true));
	assert_non_null(ipkvm_sessions_lookup(ss, tok, T0 + 180, true));
	assert_non_null(ipkvm_sessions_lookup(ss, tok, T0 + LIFE - 1, true));
	assert_null(ipkvm_sessions_lookup(ss, tok, T0 + LIFE, true));
	assert_int_equal(ipkvm_sessions_count(ss), 0);

	/* get() applies the same rules. */
	struct ipkvm_session *s = start(ss, "bob", T0, tok);
	uint64_t id = s->id;
	assert_non_null(ipkvm_sessions_lookup(ss, tok, T0 + 90, true));
	assert_non_null(ipkvm_sessions_lookup(ss, tok, T0 + 180, true));
	assert_non_null(ipkvm_sessions_get(ss, id, T0 + LIFE - 1));
	assert_null(ipkvm_sessions_get(ss, id, T0 + LIFE));
	assert_int_equal(ipkvm_sessions_count(ss), 0);
	ipkvm_sessions_destroy(ss);
}

static void test_session_expires(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	char tok[IPKVM_SESSION_TOKEN_LEN + 1];
	struct ipkvm_session *s = start(ss, "alice", T0, tok);
	assert_int_equal(ipkvm_session_expires(ss, s), T0 + IDLE); /* idle end first */
	s = ipkvm_sessions_lookup(ss, tok, T0 + 90, true);
	assert_int_equal(ipkvm_session_expires(ss, s), T0 + 90 + IDLE);
	s = ipkvm_sessions_lookup(ss, tok, T0 + 150, true);
	assert_int_equal(ipkvm_session_expires(ss, s), T0 + LIFE); /* absolute end first */
	s = ipkvm_sessions_lookup(ss, tok, T0 + 200, false);
	assert_int_equal(ipkvm_session_expires(ss, s), T0 + LIFE);
	ipkvm_sessions_destroy(ss);

	/* idle longer than lifetime: always the absolute end. */
	ss = ipkvm_sessions_create(1000, 500, 10, 0);
	s = start(ss, "alice", T0, tok);
	assert_int_equal(ipkvm_session_expires(ss, s), T0 + 500);
	ipkvm_sessions_destroy(ss);
}

static void test_end(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	char t1[IPKVM_SESSION_TOKEN_LEN + 1], t2[IPKVM_SESSION_TOKEN_LEN + 1];
	uint64_t id1 = start(ss, "alice", T0, t1)->id;
	uint64_t id2 = start(ss, "alice", T0, t2)->id;
	assert_int_equal(ipkvm_sessions_count(ss), 2);
	ipkvm_sessions_end(ss, id1);
	assert_int_equal(ipkvm_sessions_count(ss), 1);
	assert_null(ipkvm_sessions_lookup(ss, t1, T0, false));
	assert_int_equal(id_of(ss, t2, T0), id2);
	ipkvm_sessions_end(ss, id1); /* already gone: no effect */
	ipkvm_sessions_end(ss, 9999);
	assert_int_equal(ipkvm_sessions_count(ss), 1);
	assert_int_equal(id_of(ss, t2, T0), id2);
	ipkvm_sessions_end(ss, id2);
	assert_int_equal(ipkvm_sessions_count(ss), 0);
	ipkvm_sessions_destroy(ss);
}

static void test_end_user(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	char ta[3][IPKVM_SESSION_TOKEN_LEN + 1], tb[IPKVM_SESSION_TOKEN_LEN + 1],
	    tc[IPKVM_SESSION_TOKEN_LEN + 1];
	/* Interleaved so removals move entries around the array. */
	start(ss, "alice", T0, ta[0]);
	uint64_t idb = start(ss, "bob", T0, tb)->id;
	start(ss, "alice", T0, ta[1]);
	uint64_t idc = start(ss, "alice2", T0, tc)->id;
	start(ss, "alice", T0, ta[2]);
	assert_int_equal(ipkvm_sessions_count(ss), 5);

	assert_int_equal(ipkvm_sessions_end_user(ss, "alice"), 3);
	assert_int_equal(ipkvm_sessions_count(ss), 2);
	for (int i = 0; i < 3; i++)
		assert_null(ipkvm_sessions_lookup(ss, ta[i], T0, false));
	assert_int_equal(id_of(ss, tb, T0), idb);
	assert_int_equal(id_of(ss, tc, T0), idc); /* exact name match, not a prefix */
	assert_int_equal(ipkvm_sessions_end_user(ss, "alice"), 0);
	assert_int_equal(ipkvm_sessions_end_user(ss, "nobody"), 0);
	assert_int_equal(ipkvm_sessions_end_user(ss, "bob"), 1);
	assert_int_equal(ipkvm_sessions_count(ss), 1);
	ipkvm_sessions_destroy(ss);
}

static void test_expire(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	char t[4][IPKVM_SESSION_TOKEN_LEN + 1];
	start(ss, "a", T0, t[0]);
	start(ss, "b", T0 + 10, t[1]);
	start(ss, "c", T0 + 20, t[2]);
	start(ss, "d", T0 + 30, t[3]);
	assert_int_equal(ipkvm_sessions_expire(ss, T0 + IDLE - 1), 0);
	assert_int_equal(ipkvm_sessions_count(ss), 4);
	/* At T0+110: a (idle end T0+100) and b (T0+110) are gone, c and d stay. */
	assert_int_equal(ipkvm_sessions_expire(ss, T0 + 110), 2);
	assert_int_equal(ipkvm_sessions_count(ss), 2);
	assert_non_null(ipkvm_sessions_lookup(ss, t[2], T0 + 110, false));
	assert_non_null(ipkvm_sessions_lookup(ss, t[3], T0 + 110, false));
	assert_int_equal(ipkvm_sessions_expire(ss, T0 + 110), 0);
	assert_int_equal(ipkvm_sessions_expire(ss, T0 + 1000), 2);
	assert_int_equal(ipkvm_sessions_count(ss), 0);
	ipkvm_sessions_destroy(ss);
}

static void test_lru_eviction(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 2, 0);
	char ta[IPKVM_SESSION_TOKEN_LEN + 1], tb[IPKVM_SESSION_TOKEN_LEN + 1],
	    tc[IPKVM_SESSION_TOKEN_LEN + 1];
	uint64_t ida = start(ss, "a", T0, ta)->id;
	uint64_t idb = start(ss, "b", T0 + 10, tb)->id;
	/* a is older but was used more recently than b. */
	assert_non_null(ipkvm_sessions_lookup(ss, ta, T0 + 20, true));
	uint64_t idc = start(ss, "c", T0 + 30, tc)->id;
	assert_int_equal(ipkvm_sessions_count(ss), 2);
	assert_null(ipkvm_sessions_lookup(ss, tb, T0 + 30, false));
	assert_int_equal(id_of(ss, ta, T0 + 30), ida);
	assert_int_equal(id_of(ss, tc, T0 + 30), idc);
	assert_null(ipkvm_sessions_get(ss, idb, T0 + 30));
	ipkvm_sessions_destroy(ss);

	/* Without touches the oldest login goes. */
	ss = ipkvm_sessions_create(IDLE, LIFE, 2, 0);
	start(ss, "a", T0, ta);
	start(ss, "b", T0 + 10, tb);
	start(ss, "c", T0 + 20, tc);
	assert_int_equal(ipkvm_sessions_count(ss), 2);
	assert_null(ipkvm_sessions_lookup(ss, ta, T0 + 20, false));
	assert_non_null(ipkvm_sessions_lookup(ss, tb, T0 + 20, false));
	assert_non_null(ipkvm_sessions_lookup(ss, tc, T0 + 20, false));
	ipkvm_sessions_destroy(ss);

	/* An expired session makes room before any live one is evicted. */
	ss = ipkvm_sessions_create(IDLE, LIFE, 2, 0);
	start(ss, "a", T0, ta);
	start(ss, "b", T0 + 50, tb);
	start(ss, "c", T0 + IDLE, tc); /* a has just expired */
	assert_int_equal(ipkvm_sessions_count(ss), 2);
	assert_non_null(ipkvm_sessions_lookup(ss, tb, T0 + IDLE, false));
	assert_non_null(ipkvm_sessions_lookup(ss, tc, T0 + IDLE, false));
	ipkvm_sessions_destroy(ss);
}

#define TOK(name) char name[IPKVM_SESSION_TOKEN_LEN + 1]

static bool alive(struct ipkvm_sessions *ss, const char *tok, int64_t now)
{
	return ipkvm_sessions_lookup(ss, tok, now, false) != NULL;
}

/* How many live sessions user holds. */
struct count_ctx {
	const char *user;
	size_t n;
};

static void count_fn(void *ctx, struct ipkvm_session *s)
{
	struct count_ctx *c = ctx;
	c->n += strcmp(s->user, c->user) == 0;
}

static size_t held(struct ipkvm_sessions *ss, const char *user)
{
	struct count_ctx c = {user, 0};
	ipkvm_sessions_foreach(ss, count_fn, &c);
	return c.n;
}

/* A user at the per-user cap loses their own least recently used session, however much
 * room the store has; other users are untouched. */
static void test_per_user_cap(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 3);
	TOK(a1);
	TOK(a2);
	TOK(a3);
	TOK(a4);
	TOK(a5);
	TOK(b1);
	start(ss, "bob", T0, b1); /* the oldest session of all */
	start(ss, "alice", T0 + 1, a1);
	start(ss, "alice", T0 + 2, a2);
	start(ss, "alice", T0 + 3, a3);
	/* a1 is used again: a2 is now alice's least recently used. */
	assert_non_null(ipkvm_sessions_lookup(ss, a1, T0 + 4, true));
	start(ss, "alice", T0 + 5, a4);
	assert_int_equal(held(ss, "alice"), 3);
	assert_int_equal(ipkvm_sessions_count(ss), 4);
	assert_false(alive(ss, a2, T0 + 5));
	assert_true(alive(ss, a1, T0 + 5));
	assert_true(alive(ss, a3, T0 + 5));
	assert_true(alive(ss, a4, T0 + 5));
	assert_true(alive(ss, b1, T0 + 5));
	start(ss, "alice", T0 + 6, a5); /* a3 goes next */
	assert_false(alive(ss, a3, T0 + 6));
	assert_true(alive(ss, b1, T0 + 6));
	assert_int_equal(held(ss, "alice"), 3);
	ipkvm_sessions_destroy(ss);

	/* A cap above the store's size is the store's size. */
	ss = ipkvm_sessions_create(IDLE, LIFE, 2, 100);
	start(ss, "alice", T0, a1);
	start(ss, "alice", T0 + 1, a2);
	start(ss, "alice", T0 + 2, a3);
	assert_int_equal(ipkvm_sessions_count(ss), 2);
	assert_false(alive(ss, a1, T0 + 2));
	ipkvm_sessions_destroy(ss);
}

/* The reported defect: one user (a viewer too) logging in again and again in a full store
 * must not log the others out. With a store of 4 and no tighter per-user cap, the fifth
 * and every later login of v ends one of v's own sessions. */
static void test_full_store_one_user_cannot_evict_others(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 4, 0);
	TOK(admin);
	TOK(op);
	TOK(v);
	TOK(first_v);
	start(ss, "admin", T0, admin); /* the least recently used of all */
	start(ss, "op", T0 + 1, op);
	start(ss, "viewer", T0 + 2, first_v);
	for (int i = 0; i < 300; i++)
		start(ss, "viewer", T0 + 3 + i / 10, v);
	assert_int_equal(ipkvm_sessions_count(ss), 4);
	assert_true(alive(ss, admin, T0 + 33));
	assert_true(alive(ss, op, T0 + 33));
	assert_true(alive(ss, v, T0 + 33));
	assert_false(alive(ss, first_v, T0 + 33));
	assert_int_equal(held(ss, "viewer"), 2);
	ipkvm_sessions_destroy(ss);
}

/* In a full store a login ends the least recently used session of the users holding the
 * most, the one logging in included and preferred when tied; every user holding one, the
 * least recently used of them goes. */
static void test_full_store_busiest_user_gives_way(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 6, 16);
	TOK(a1);
	TOK(a2);
	TOK(a3);
	TOK(a4);
	TOK(b1);
	TOK(b2);
	TOK(c1);
	TOK(c2);
	TOK(c3);
	TOK(b3);
	start(ss, "bob", T0, b1); /* the least recently used of all, but bob holds fewer */
	start(ss, "alice", T0 + 1, a1);
	start(ss, "alice", T0 + 2, a2);
	start(ss, "alice", T0 + 3, a3);
	start(ss, "alice", T0 + 4, a4);
	start(ss, "bob", T0 + 5, b2);
	/* carol (0) logs in: alice (4) gives her least recently used, a1. */
	start(ss, "carol", T0 + 6, c1);
	assert_false(alive(ss, a1, T0 + 6));
	assert_true(alive(ss, b1, T0 + 6));
	/* carol (1) again: alice (3) still holds the most. */
	start(ss, "carol", T0 + 7, c2);
	assert_false(alive(ss, a2, T0 + 7));
	assert_int_equal(held(ss, "alice"), 2);
	assert_int_equal(held(ss, "bob"), 2);
	assert_int_equal(held(ss, "carol"), 2);
	/* All tied at 2: carol gives way herself, not bob's older b1. */
	start(ss, "carol", T0 + 8, c3);
	assert_false(alive(ss, c1, T0 + 8));
	assert_true(alive(ss, b1, T0 + 8));
	assert_true(alive(ss, c2, T0 + 8));
	/* And so does bob. */
	start(ss, "bob", T0 + 9, b3);
	assert_false(alive(ss, b1, T0 + 9));
	assert_true(alive(ss, b2, T0 + 9));
	assert_int_equal(held(ss, "alice"), 2);
	assert_true(alive(ss, a3, T0 + 9));
	assert_true(alive(ss, a4, T0 + 9));
	ipkvm_sessions_destroy(ss);

	/* One session each and the store full: the newcomer takes the least recently used. */
	ss = ipkvm_sessions_create(IDLE, LIFE, 3, 16);
	start(ss, "a", T0, a1);
	start(ss, "b", T0 + 1, b1);
	start(ss, "c", T0 + 2, c1);
	assert_non_null(ipkvm_sessions_lookup(ss, a1, T0 + 3, true));
	start(ss, "d", T0 + 4, a2);
	assert_false(alive(ss, b1, T0 + 4));
	assert_true(alive(ss, a1, T0 + 4));
	assert_true(alive(ss, c1, T0 + 4));
	assert_true(alive(ss, a2, T0 + 4));
	ipkvm_sessions_destroy(ss);
}

static void test_ids_never_reused(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 3, 0);
	char tok[IPKVM_SESSION_TOKEN_LEN + 1];
	uint64_t prev = 0;
	for (int i = 0; i < 50; i++) {
		/* Mix ends, evictions and user-wide ends. */
		struct ipkvm_session *s = start(ss, i % 2 ? "a" : "b", T0 + i, tok);
		assert_true(s->id > prev);
		prev = s->id;
		if (i % 5 == 0)
			ipkvm_sessions_end(ss, s->id);
		if (i % 7 == 0)
			ipkvm_sessions_end_user(ss, "a");
	}
	assert_true(ipkvm_sessions_count(ss) <= 3);
	ipkvm_sessions_destroy(ss);
}

static void test_tokens_differ(void **state)
{
	enum { N = 64 };
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, N, 0);
	static char toks[N][IPKVM_SESSION_TOKEN_LEN + 1];
	for (int i = 0; i < N; i++)
		start(ss, "a", T0, toks[i]);
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			assert_string_not_equal(toks[i], toks[j]);
	/* Each token finds its own session. */
	uint64_t seen[N];
	for (int i = 0; i < N; i++) {
		seen[i] = id_of(ss, toks[i], T0);
		assert_true(seen[i] > 0);
		for (int j = 0; j < i; j++)
			assert_true(seen[j] != seen[i]);
	}
	ipkvm_sessions_destroy(ss);
}

struct visit {
	int n;
	char users[8][IPKVM_USER_NAME_MAX + 1];
};

static void visit_fn(void *ctx, struct ipkvm_session *s)
{
	struct visit *v = ctx;
	assert_true(v->n < 8);
	snprintf(v->users[v->n++], sizeof(v->users[0]), "%s", s->user);
}

static void test_foreach(void **state)
{
	struct ipkvm_sessions *ss = ipkvm_sessions_create(IDLE, LIFE, 10, 0);
	char tok[IPKVM_SESSION_TOKEN_LEN + 1];
	start(ss, "a", T0, tok);
	start(ss, "b", T0, tok);
	start(ss, "c", T0, tok);
	struct visit v = {0};
	ipkvm_sessions_foreach(ss, visit_fn, &v);
	assert_int_equal(v.n, 3);
	int mask = 0;
	for (int i = 0; i < 3; i++)
		mask |= 1 << (v.users[i][0] - 'a');
	assert_int_equal(mask, 7);
	ipkvm_sessions_destroy(ss);
	ipkvm_sessions_destroy(NULL);
}

int main(void)
{
	ipkvm_log_set_level(IPKVM_LOG_WARN); /* eviction notices would drown the report */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_and_lookup),
	    cmocka_unit_test(test_wrong_tokens),
	    cmocka_unit_test(test_idle_expiry_exact),
	    cmocka_unit_test(test_touch_false_does_not_extend),
	    cmocka_unit_test(test_absolute_lifetime),
	    cmocka_unit_test(test_session_expires),
	    cmocka_unit_test(test_end),
	    cmocka_unit_test(test_end_user),
	    cmocka_unit_test(test_expire),
	    cmocka_unit_test(test_lru_eviction),
	    cmocka_unit_test(test_per_user_cap),
	    cmocka_unit_test(test_full_store_one_user_cannot_evict_others),
	    cmocka_unit_test(test_full_store_busiest_user_gives_way),
	    cmocka_unit_test(test_ids_never_reused),
	    cmocka_unit_test(test_tokens_differ),
	    cmocka_unit_test(test_foreach),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
