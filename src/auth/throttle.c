/*
 * throttle: see throttle.h. Entries are few in normal use; a flat array keeps it simple.
 */
#define LOG_TAG "throttle"
#include "auth/throttle.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define KEY_MAX 96

struct entry {
	char key[KEY_MAX];
	int failures;
	int inflight;
	int64_t last_ms, blocked_until_ms;
};

struct ipkvm_throttle {
	int max_failures, backoff_max_s;
	size_t max, n;
	struct entry *v;
};

struct ipkvm_throttle *ipkvm_throttle_create(int max_failures, int backoff_max_s,
					     size_t max_entries)
{
	struct ipkvm_throttle *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max = max_entries ? max_entries : 1;
	t->v = calloc(t->max, sizeof(*t->v));
	if (!t->v) {
		free(t);
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
	free(t->v);
	free(t);
}

static void forget_stale(struct ipkvm_throttle *t, int64_t now_ms)
{
	int64_t keep_ms = (int64_t)t->backoff_max_s * 2000;
	for (size_t i = 0; i < t->n;) {
		if (now_ms - t->v[i].last_ms > keep_ms && now_ms >= t->v[i].blocked_until_ms &&
		    !t->v[i].inflight)
			t->v[i] = t->v[--t->n];
		else
			i++;
	}
}

/* Keys are compared as stored: cut to KEY_MAX - 1 characters, so an over-long key (a user
 * name of any length can be tried) still finds its entry. */
static struct entry *find(struct ipkvm_throttle *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strncmp(t->v[i].key, key, KEY_MAX - 1) == 0)
			return &t->v[i];
	return NULL;
}

int ipkvm_throttle_check(struct ipkvm_throttle *t, const char *key, int64_t now_ms)
{
	struct entry *e = find(t, key);
	if (!e)
		return 0;
	if (now_ms < e->blocked_until_ms)
		return (int)((e->blocked_until_ms - now_ms + 999) / 1000);
	if (e->inflight && e->failures + e->inflight >= t->max_failures)
		return 1;
	return 0;
}

static struct entry *get(struct ipkvm_throttle *t, const char *key, int64_t now_ms)
{
	forget_stale(t, now_ms);
	struct entry *e = find(t, key);
	if (!e) {
		if (t->n == t->max) {
			/* Make room from the entries not backing off, so a flood of made-up
			 * names cannot push a blocked key out and reset its back-off; if all
			 * are blocked, the one whose block ends first goes. */
			size_t pick = 0;
			bool pick_blocked = true;
			for (size_t i = 0; i < t->n; i++) {
				bool blocked =
				    now_ms < t->v[i].blocked_until_ms || t->v[i].inflight;
				if (i == 0 || (pick_blocked && !blocked) ||
				    (blocked == pick_blocked &&
				     (blocked
					  ? t->v[i].blocked_until_ms < t->v[pick].blocked_until_ms
					  : t->v[i].last_ms < t->v[pick].last_ms))) {
					pick = i;
					pick_blocked = blocked;
				}
			}
			t->v[pick] = t->v[--t->n];
		}
		e = &t->v[t->n++];
		memset(e, 0, sizeof(*e));
		ipkvm_strlcpy(e->key, key, sizeof(e->key));
	}
	e->last_ms = now_ms;
	return e;
}

void ipkvm_throttle_begin(struct ipkvm_throttle *t, const char *key, int64_t now_ms)
{
	get(t, key, now_ms)->inflight++;
}

void ipkvm_throttle_end(struct ipkvm_throttle *t, const char *key)
{
	struct entry *e = find(t, key);
	if (e && e->inflight > 0)
		e->inflight--;
}

void ipkvm_throttle_fail(struct ipkvm_throttle *t, const char *key, int64_t now_ms)
{
	struct entry *e = get(t, key, now_ms);
	e->failures++;
	e->last_ms = now_ms;
	int over = e->failures - t->max_failures;
	if (over >= 0) {
		int64_t s = over >= 30 ? t->backoff_max_s : (int64_t)1 << over;
		if (s > t->backoff_max_s)
			s = t->backoff_max_s;
		e->blocked_until_ms = now_ms + s * 1000;
		if (over == 0)
			LOG_WARN("%s: %d failed logins, backing off", key, e->failures);
	}
}

void ipkvm_throttle_success(struct ipkvm_throttle *t, const char *key)
{
	struct entry *e = find(t, key);
	if (e)
		*e = t->v[--t->n];
}

size_t ipkvm_throttle_count(const struct ipkvm_throttle *t)
{
	return t->n;
}
