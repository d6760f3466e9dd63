/*
 * fetch: downloads an image from an http(s) URL into the store (POST /api/msd/fetch).
 *
 * Each download runs a libcurl easy handle on a thread of its own (at most cfg.max_active at
 * once, default 2: a fixed small number keeps memory and threads bounded, and a blocking easy
 * handle is far simpler to reason about than a multi handle shared with the event loop). The
 * bytes go through a store upload session, so the .part/fsync/rename rules and the free
 * space check are the store's: a failed, cancelled or killed download never leaves an image.
 *
 * The session is begun in ipkvm_fetch_start() on the caller's thread, so "that name is busy",
 * "that image exists" and a bad name or URL are answered at once, not as a later event.
 *
 * Checks, in the order a download meets them: the URL is http:// or https:// (redirects too,
 * at most cfg.max_redirects); unless cfg.allow_private, the address of every connection,
 * the first and each redirect's, is checked after the name is resolved and refused when it
 * is this machine's own network (ipkvm_fetch_address_check: loopback, link-local, private,
 * CGNAT, multicast, this machine's interfaces), so a URL cannot make the device probe or
 * talk to services only it can reach (a URL with such a literal address is refused at once);
 * TLS peers are verified (no switch to turn that off: a private mirror gets its CA through
 * cfg.ca_file); a Content-Length over the size limit is refused before a byte is written,
 * and a body without one is cut off when it passes the limit; an HTTP error status fails the
 * download; the connect and low-speed timeouts end a dead transfer; the SHA-256, when given,
 * is compared before the commit.
 *
 * Two texts say why a download failed: `reason`, a fixed phrase per kind of failure that
 * anyone watching may see (the `msd_fetch` event goes to every event-socket client, viewers
 * included), and `message`, the whole story with curl's own error text, which tells a
 * refused port from a filtered one and names addresses: only for the user who started the
 * download (the API shows it to them alone) and the log.
 *
 * Reporting never blocks the event loop: the fetch thread updates its status under a mutex
 * and calls wake(ctx) (the daemon's lws_cancel_service) when the state changes and at most
 * every cfg.progress_interval_ms for progress; the main thread then calls ipkvm_fetch_poll()
 * and publishes `msd` events. A finished download is reported once by poll and forgotten.
 */
#ifndef IPKVM_MSD_FETCH_H
#define IPKVM_MSD_FETCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msd/store.h"

struct ipkvm_fetch_config {
	int max_active;		  /* downloads at once, 1..16, default 2 */
	int connect_timeout_s;	  /* default 30 */
	int low_speed_bytes;	  /* fail when slower than this many bytes/s ... default 1024 */
	int low_speed_time_s;	  /* ... for this many seconds, default 60 */
	int max_redirects;	  /* default 5 */
	int64_t max_bytes;	  /* largest download, default 64 GiB; a request may ask less */
	int progress_interval_ms; /* default 500 */
	const char *ca_file;	  /* extra CA bundle (PEM) or NULL for the system's; copied */
	const char *user_agent;	  /* default "ipkvm"; copied */
	bool allow_private;	  /* connect to any address (see ipkvm_fetch_address_check) */
};

/* Fills cfg with the defaults above. */
void ipkvm_fetch_config_defaults(struct ipkvm_fetch_config *cfg);

struct ipkvm_fetch_request {
	const char *url;    /* http:// or https:// */
	const char *name;   /* image name in the store */
	const char *sha256; /* 64 hex digits (any case) or NULL */
	int64_t max_bytes;  /* 0 or > cfg.max_bytes: cfg.max_bytes */
	bool replace;	    /* replace an existing image of that name */
	const char *owner;  /* who asked (a user name, copied into the status) or NULL */
};

#define IPKVM_FETCH_USER_MAX 64

enum ipkvm_fetch_state {
	IPKVM_FETCH_RUNNING = 0,
	IPKVM_FETCH_DONE,
	IPKVM_FETCH_FAILED,
	IPKVM_FETCH_CANCELLED,
};

struct ipkvm_fetch_status {
	uint64_t id;
	char name[IPKVM_STORE_NAME_MAX + 1];
	enum ipkvm_fetch_state state;
	int64_t bytes;	   /* received so far */
	int64_t total;	   /* Content-Length, or -1 when the server did not say */
	int error;	   /* failed: -errno (see ipkvm_fetch_start for the values); else 0 */
	char message[256]; /* failed: the whole story, e.g. curl's "Failed to connect to ..."
			    * (for the owner and the log only); else "" */
	char reason[128];  /* failed: a fixed phrase for everyone, e.g. "the transfer failed",
			    * "HTTP 404"; else "" */
	char owner[IPKVM_FETCH_USER_MAX];	 /* the request's owner, "" = none */
	char cancelled_by[IPKVM_FETCH_USER_MAX]; /* who asked for the cancel, "" = nobody */
};

struct ipkvm_fetcher;

/* store must outlive the fetcher. wake(ctx) is called from fetch threads. NULL cfg: the
 * defaults. Returns NULL on a bad config (logged) or no memory. */
struct ipkvm_fetcher *ipkvm_fetch_create(const struct ipkvm_fetch_config *cfg,
					 struct ipkvm_store *store, void (*wake)(void *ctx),
					 void *ctx);
/* Cancels every running download (their .part files removed) and joins the threads; their
 * final states are not reported, though wake may still be called until this returns. NULL
 * is fine. */
void ipkvm_fetch_destroy(struct ipkvm_fetcher *f);

/* Starts a download. Returns 0 with *id set, or with err saying why:
 *   -EINVAL  bad URL (not http/https, unparsable), bad sha256, bad name
 *   -EBUSY   that name is being uploaded or downloaded, or (replace) attached to a drive
 *   -EEXIST  the image exists and replace is false
 *   -EAGAIN  cfg.max_active downloads are running
 *   -ENOMEM, or the store's error creating the partial file.
 * A download that fails later reports state "failed" with error:
 *   -EFBIG (over the size limit), -ENOSPC/-EDQUOT (disk full), -EBADMSG (sha256 mismatch),
 *   -EPROTO (HTTP error status: message "HTTP 404"), -EPROTONOSUPPORT (redirect to another
 *   scheme), -ELOOP (too many redirects), -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH (name or
 *   host not found), -EPERM (TLS verification), -EMSGSIZE (fewer bytes than
 *   Content-Length), -EACCES (every address of the host, or of a redirect's, is refused by
 *   the address check), -EIO (other transfer errors), or the store's commit error.
 * -EACCES is also answered at once for a URL whose host is a literal refused address.
 * Main thread (start, poll, list and destroy are not safe against each other; cancel is). */
int ipkvm_fetch_start(struct ipkvm_fetcher *f, const struct ipkvm_fetch_request *req, uint64_t *id,
		      char *err, size_t errlen);
/* Asks download id to stop: it ends as "cancelled" with its .part removed (reported by a
 * later poll), with cancelled_by set to by (may be NULL). 0, or -ENOENT when no download of
 * that id is running. */
int ipkvm_fetch_cancel(struct ipkvm_fetcher *f, uint64_t id, const char *by);

/* Main thread: copies into out (up to max) the status of each download that changed since
 * the last poll, oldest first; finished ones are reported once and then forgotten (their
 * threads joined). Those that did not fit stay for the next call. Returns the count. */
size_t ipkvm_fetch_poll(struct ipkvm_fetcher *f, struct ipkvm_fetch_status *out, size_t max);
/* The current status of every download not yet forgotten (for a client that just
 * connected), oldest first, without consuming changes. Returns the count. */
size_t ipkvm_fetch_list(struct ipkvm_fetcher *f, struct ipkvm_fetch_status *out, size_t max);
/* The status of download id: running, or one of the last IPKVM_FETCH_RECENT that ended
 * (kept after poll forgot them, so their owner can still read the whole message).
 * 0 or -ENOENT. Main thread. */
#define IPKVM_FETCH_RECENT 16
int ipkvm_fetch_get(struct ipkvm_fetcher *f, uint64_t id, struct ipkvm_fetch_status *out);

/* "running", "done", "failed", "cancelled". */
const char *ipkvm_fetch_state_name(enum ipkvm_fetch_state state);
/* The kind of failure of a download's error (-errno) as a word for programs: "http" (the
 * server answered an error status), "too_large", "no_space", "sha256", "bad_redirect",
 * "redirects", "private" (the address is this machine's own network), "tls", "short",
 * "attached", "exists", "memory", "transfer" (anything else). One per reason phrase. */
const char *ipkvm_fetch_error_code(int error);
/* {"id":N,"name":S,"state":S,"bytes":N,"total":N|null} plus "error":S (the reason) and
 * "error_code":S (ipkvm_fetch_error_code) when failed. detail (for the owner only) adds "detail":S
 * (the message) when failed and "cancelled_by":S when cancelled. NULL on no memory. */
json_t *ipkvm_fetch_status_json(const struct ipkvm_fetch_status *st, bool detail);

/* The address check of a connection (sa of salen bytes, AF_INET or AF_INET6): 0 when a
 * download may connect to it, -EACCES when it is this machine's own network, with why
 * (may be NULL) saying so, e.g. "127.0.0.1 is a loopback address": unspecified (0.0.0.0/8,
 * ::), loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16), shared/CGNAT
 * (100.64/10), link-local (169.254/16, fe80::/10), multicast (224/4, ff00::/8), reserved
 * and broadcast (240/4), unique local (fc00::/7), site-local (fec0::/10), such an IPv4
 * address embedded in IPv6 (::ffff:0:0/96 mapped, ::/96 compatible, 64:ff9b::/96 NAT64),
 * or an address of one of this machine's interfaces (getifaddrs, read each time).
 * Any thread. */
struct sockaddr;
int ipkvm_fetch_address_check(const struct sockaddr *sa, unsigned salen, char *why, size_t whylen);
/* Tests only: replaces the address check of f's downloads (NULL: the one above); nothing
 * with cfg.allow_private, which checks nothing. Call it while no download runs. */
typedef int (*ipkvm_fetch_address_fn)(const struct sockaddr *sa, unsigned salen, char *why,
				      size_t whylen);
void ipkvm_fetch_set_address_check(struct ipkvm_fetcher *f, ipkvm_fetch_address_fn fn);

#endif
