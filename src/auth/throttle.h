/*
 * throttle: login back-off per key ("addr:127.0.0.1", "user:admin").
 *
 * After max_failures consecutive failures of a key, each further failure blocks that key
 * for 1 s, then 2, 4, 8 … up to backoff_max seconds. A blocked key is refused without a
 * password check (the caller answers 429 with Retry-After). Success resets the key.
 * The table is bounded (the oldest idle entry gives way) and entries are forgotten once
 * they have been quiet for twice the longest back-off, so memory stays flat under a
 * spray of source addresses or user names. Times are monotonic milliseconds from the caller.
 */
#ifndef IPKVM_AUTH_THROTTLE_H
#define IPKVM_AUTH_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

struct ipkvm_throttle;

struct ipkvm_throttle *ipkvm_throttle_create(int max_failures, int backoff_max_s,
					     size_t max_entries);
void ipkvm_throttle_destroy(struct ipkvm_throttle *t);

/* 0 when key may try now, else whole seconds to wait (>= 1). */
int ipkvm_throttle_check(struct ipkvm_throttle *t, const char *key, int64_t now_ms);
void ipkvm_throttle_fail(struct ipkvm_throttle *t, const char *key, int64_t now_ms);
/* An attempt of key is being checked (on the worker thread) and its outcome is not known:
 * until ipkvm_throttle_end() it counts as a possible failure, so attempts sent in parallel
 * cannot outrun the back-off (while failures + attempts in flight reach max_failures, check
 * answers 1 s). Call end() before fail() or success(). */
void ipkvm_throttle_begin(struct ipkvm_throttle *t, const char *key, int64_t now_ms);
void ipkvm_throttle_end(struct ipkvm_throttle *t, const char *key);
void ipkvm_throttle_success(struct ipkvm_throttle *t, const char *key);
size_t ipkvm_throttle_count(const struct ipkvm_throttle *t);

#endif
