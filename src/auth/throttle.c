/*
 * throttle: see throttle.h. Entries are few in normal use; flat arrays keep it simple.
 */
#define LOG_TAG "throttle"
#include "auth/throttle.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define KEY_MAX 96

#define ADDR_PREFIX "addr:"
#define USER_PREFIX "user:"

struct entry {
	char key[KEY_MAX];
	int failures;
	int inflight;
	int64_t last_ms, blocked_until_ms;
};

struct table {
	size_t max, n;
	struct entry *v;
};

struct ipkvm_throttle {
	int max_failures, backoff_max_s;
	struct table any;   /* addresses and names that are not users: evictable */
	struct table users; /* known users only: never evicted by the other table's traffic */
	bool (*known)(void *ctx, const char *name);
	void *known_ctx;
};

static int table_init(struct table *tb, size_t max)
{
	tb->max = max ? max : 1;
	tb->n = 0;
	tb->v = calloc(tb->max, sizeof(*tb->v));
	return tb->v ? 0 : -ENOMEM;
}

struct ipkvm_throttle *ipkvm_throttle_create(int max_failures, int backoff_max_s,
					     size_t max_entries)
{
	struct ipkvm_throttle *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	/* The users table has the same bound: more accounts than that failing within twice the
	 * longest back-off is not a deployment this device serves. */
	if (table_init(&t->any, max_entries) < 0 || table_init(&t->users, max_entries) < 0) {
		ipkvm_throttle_destroy(t);
		return NULL;
	}
	t->max_failures = max_failures;
	t->backoff_max_s = backoff_max_s;
	return t;
}

void ipkvm_throttle_destroy(struct ipkvm_throttle *t)
{
	if (!t)
		return;
	free(t->any.v);
	free(t->users.v);
	free(t);
}

void ipkvm_throttle_set_known_users(struct ipkvm_throttle *t,
				    bool (*known)(void *ctx, const char *name), void *ctx)
{
	t->known = known;
	t->known_ctx = ctx;
}

/* The key an attempt is counted under (see throttle.h): "addr:" + the client key of the
 * address (an IPv6 address's /64, a mapped IPv4 address's IPv4 form); names are kept as
 * they are. Returns key itself or buf. */
static const char *canonical(const char *key, char *buf, size_t len)
{
	if (strncmp(key, ADDR_PREFIX, strlen(ADDR_PREFIX)) != 0)
		return key;
	char client[IPKVM_CLIENT_KEY_MAX];
	ipkvm_client_key(key + strlen(ADDR_PREFIX), client, sizeof(client));
	snprintf(buf, len, "%s%s", ADDR_PREFIX, client);
	return buf;
}

static void forget_stale(struct ipkvm_throttle *t, struct table *tb, int64_t now_ms)
{
	int64_t keep_ms = (int64_t)t->backoff_max_s * 2000;
	for (size_t i = 0; i < tb->n;) {
		if (now_ms - tb->v[i].last_ms > keep_ms && now_ms >= tb->v[i].blocked_until_ms &&
		    !tb->v[i].inflight)
			tb->v[i] = tb->v[--tb->n];
		else
			i++;
	}
}

/* Keys are compared as stored: cut to KEY_MAX - 1 characters, so an over-long key (a user
 * name of any length can be tried) still finds its entry. */
static struct entry *table_find(struct table *tb, const char *key)
{
	for (size_t i = 0; i < tb->n; i++)
		if (strncmp(tb->v[i].key, key, KEY_MAX - 1) == 0)
			return &tb->v[i];
	return NULL;
}

/* The entry of a canonical key in whichever table holds it, or NULL. table_out, when not
 * NULL, gets that table. */
static struct entry *find(struct ipkvm_throttle *t, const char *key, struct table **table_out)
{
	struct entry *e = table_find(&t->users, key);
	struct table *tb = &t->users;
	if (!e) {
		e = table_find(&t->any, key);
		tb = &t->any;
	}
	if (table_out)
		*table_out = tb;
	return e;
}

/* Which table a new entry for key goes to. */
static struct table *table_for(struct ipkvm_throttle *t, const char *key)
{
	if (t->known && strncmp(key, USER_PREFIX, strlen(USER_PREFIX)) == 0 &&
	    t->known(t->known_ctx, key + strlen(USER_PREFIX)))
		return &t->users;
	return &t->any;
}

int ipkvm_throttle_check(struct ipkvm_throttle *t, const char *key, int64_t now_ms)
{
	char buf[KEY_MAX];
	struct entry *e = find(t, canonical(key, buf, sizeof(buf)), NULL);
	if (!e)
		return 0;
	if (now_ms < e->blocked_until_ms)
		return (int)((e->blocked_until_ms - now_ms + 999) / 1000);
	if (e->inflight && e->failures + e->inflight >= t->max_failures)
		return 1;
	return 0;
}

/* Makes room in a full table from the entries not backing off, so a flood of made-up keys
 * cannot push a blocked key out and reset its back-off; if all are blocked, the one whose
 * block ends first goes. */
static void evict_one(struct table *tb, int64_t now_ms)
{
	size_t pick = 0;
	bool pick_blocked = true;
	for (size_t i = 0; i < tb->n; i++) {
		bool blocked = now_ms < tb->v[i].blocked_until_ms || tb->v[i].inflight;
		if (i == 0 || (pick_blocked && !blocked) ||
		    (blocked == pick_blocked &&
		     (blocked ? tb->v[i].blocked_until_ms < tb->v[pick].blocked_until_ms
			      : tb->v[i].last_ms < tb->v[pick].last_ms))) {
			pick = i;
			pick_blocked = blocked;
		}
	}
	tb->v[pick] = tb->v[--tb->n];
}

/* The entry of a canonical key, made when missing. */
static struct entry *get(struct ipkvm_throttle *t, const char *key, int64_t now_ms)
{
	forget_stale(t, &t->users, now_ms);
	forget_stale(t, &t->any, now_ms);
	struct entry *e = find(t, key, NULL);
	if (!e) {
		struct table *tb = table_for(t, key);
		if (tb->n == tb->max)
			evict_one(tb, now_ms);
		e = &tb->v[tb->n++];
		memset(e, 0, sizeof(*e));
		ipkvm_strlcpy(e->key, key, sizeof(e->key));
	}
	e->last_ms = now_ms;
	return e;
}

void ipkvm_throttle_begin(struct ipkvm_throttle *t, const char *key, int64_t now_ms)
{
	char buf[KEY_MAX];
	get(t, canonical(key, buf, sizeof(buf)), now_ms)->inflight++;
}

void ipkvm_throttle_end(struct ipkvm_throttle *t, const char *key)
{
	char buf[KEY_MAX];
	struct entry *e = find(t, canonical(key, buf, sizeof(buf)), NULL);
	if (e && e->inflight > 0)
		e->inflight--;
}

void ipkvm_throttle_fail(struct ipkvm_throttle *t, const char *key, int64_t now_ms)
{
	char buf[KEY_MAX];
	const char *k = canonical(key, buf, sizeof(buf));
	struct entry *e = get(t, k, now_ms);
	e->failures++;
	e->last_ms = now_ms;
	int over = e->failures - t->max_failures;
	if (over >= 0) {
		int64_t s = over >= 30 ? t->backoff_max_s : (int64_t)1 << over;
		if (s > t->backoff_max_s)
			s = t->backoff_max_s;
		e->blocked_until_ms = now_ms + s * 1000;
		if (over == 0)
			LOG_WARN("%s: %d failed logins, backing off", k, e->failures);
	}
}

void ipkvm_throttle_success(struct ipkvm_throttle *t, const char *key)
{
	char buf[KEY_MAX];
	struct table *tb;
	struct entry *e = find(t, canonical(key, buf, sizeof(buf)), &tb);
	if (e)
		*e = tb->v[--tb->n];
}

size_t ipkvm_throttle_count(const struct ipkvm_throttle *t)
{
	return t->any.n + t->users.n;
}
