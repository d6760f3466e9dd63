/*
 * throttle: login back-off per key ("addr:127.0.0.1", "user:admin").
 *
 * After max_failures consecutive failures of a key, each further failure blocks that key
 * for 1 s, then 2, 4, 8 … up to backoff_max seconds. A blocked key is refused without a
 * password check (the caller answers 429 with Retry-After). Success resets the key.
 * Entries are forgotten once they have been quiet for twice the longest back-off.
 * Times are monotonic milliseconds from the caller.
 *
 * Two bounded tables, so memory stays flat under a spray of source addresses or user names
 * and yet that spray cannot reset anyone's back-off:
 *  - known users ("user:NAME" where the known-users callback says NAME exists) have a table
 *    of their own. Only failures for real accounts can take a slot, and their number is set
 *    by the administrator, not by an attacker, so traffic from others never evicts them.
 *  - everything else (addresses, names that are not users) shares the other table, where the
 *    least recently used entry that is not backing off gives way when it is full. Evicting
 *    an address lets only that address (or /64) start over, which an attacker who owns many
 *    addresses can do anyway; evicting an unknown name protects no account.
 * Unknown names are still throttled like real ones (429 after max_failures), so the answer
 * does not tell which names exist; only after a spray of thousands of other keys between two
 * attempts can an unknown name's count differ from a real one's.
 * "addr:" keys are aggregated: an IPv6 address counts for its /64 (one subscriber usually
 * holds a whole /64, so cycling through it gains nothing); an IPv4-mapped IPv6 address is
 * its IPv4 address, and IPv4 addresses count one by one.
 */
#ifndef IPKVM_AUTH_THROTTLE_H
#define IPKVM_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipkvm_throttle;

struct ipkvm_throttle *ipkvm_throttle_create(int max_failures, int backoff_max_s,
					     size_t max_entries);
void ipkvm_throttle_destroy(struct ipkvm_throttle *t);
/* Tells the throttle which "user:NAME" keys name real accounts (see above); known(ctx, NAME)
 * is called on the caller's thread when a user key gets an entry. Without it, every key
 * shares the one evictable table. */
void ipkvm_throttle_set_known_users(struct ipkvm_throttle *t,
				    bool (*known)(void *ctx, const char *name), void *ctx);

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
/* Entries in both tables. */
size_t ipkvm_throttle_count(const struct ipkvm_throttle *t);

#endif
