/*
 * store: the directory of disk and CD images the mass-storage drives present (STATE/images).
 *
 * Everything goes through one directory fd: images are opened, renamed and unlinked with
 * openat/renameat/unlinkat relative to it, with O_NOFOLLOW and a regular-file check, and every
 * name passes ipkvm_store_name_check() first. So a name can never reach outside the store,
 * and a symlink planted in it is neither followed nor listed.
 *
 * Images arrive through an upload session (the web server streams a PUT body into it chunk by
 * chunk; the fetcher streams a download into it): the bytes go to ".NAME.part", and only
 * commit — byte count checked, fsync, rename, fsync of the directory — makes NAME appear. An
 * interrupted transfer, a full disk or a killed daemon therefore never leaves a partial file
 * listed as an image; leftover .part files are removed when the store is opened. Nothing is
 * ever buffered whole: a session holds one fd and a byte count.
 *
 * Attached images: the API holds an image (ipkvm_store_hold) while it has a drive use it.
 * A held image cannot be deleted or replaced (-EBUSY), and an image being written cannot be
 * held, all decided under the store's lock, so no check-then-act race with a commit that
 * runs on a fetch thread. Holds live in memory only, so the store also asks an in_use
 * callback (ipkvm_store_set_in_use: the gadget's LUN files) before it deletes or replaces an
 * image: an image the kernel still serves after a daemon restart, or one attached by hand,
 * is just as busy.
 *
 * Quota (ipkvm_store_set_quota, [msd] max_size): the images plus what live sessions reserved
 * (an announced size in whole, up front; an unknown size chunk by chunk as it is written)
 * must stay within it; a session that would pass it fails with -ENOSPC like a full disk.
 *
 * Threads: every function may be called from any thread (one mutex). A session is used by
 * one thread at a time: begun on the main thread, written and ended on the fetch thread is
 * fine. Only commit's fsync and the writes happen outside the lock.
 */
#ifndef IPKVM_MSD_STORE_H
#define IPKVM_MSD_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>

/* Longest image name in bytes: NAME_MAX (255) less the 6 bytes of ".NAME.part", so the
 * partial file of every valid name fits in a directory entry. */
#define IPKVM_STORE_NAME_MAX 249

struct ipkvm_store;
struct ipkvm_store_session;

struct ipkvm_store_image {
	char name[IPKVM_STORE_NAME_MAX + 1];
	int64_t size;	  /* bytes (so far, for an incomplete one) */
	int64_t mtime;	  /* seconds since the epoch (session start for an incomplete one) */
	int64_t expected; /* incomplete: the announced size or -1; complete: == size */
	bool complete;
};

/* Checks that name (len bytes; it need not be NUL-terminated) is a valid image name: valid
 * UTF-8 (no overlong forms, surrogates or code points over U+10FFFF), 1..IPKVM_STORE_NAME_MAX
 * bytes, no '/', no NUL, no control character (C0, DEL, C1), not starting with '.' (which
 * also refuses "." and ".."). Returns 0 or -EINVAL with *why (may be NULL) set to a static
 * message such as "name must not start with '.'". */
int ipkvm_store_name_check(const char *name, size_t len, const char **why);

/* Opens (creating with mode 0750 when missing) the store directory dir, and removes the
 * ".NAME.part" files a crash left there. Returns 0 or -errno with err saying what failed. */
int ipkvm_store_open(const char *dir, struct ipkvm_store **out, char *err, size_t errlen);
/* Aborts the sessions still alive (their .part files are removed; their pointers are invalid
 * afterwards: end the web server and the fetcher first) and closes the store. NULL is fine. */
void ipkvm_store_destroy(struct ipkvm_store *s);

/* The store directory's absolute path (resolved at open). */
const char *ipkvm_store_dir(const struct ipkvm_store *s);

/* Complete images and live sessions, sorted by name (bytes, strcmp), a complete image before
 * a session writing the same name (a replacement in progress shows both). *out is malloc'd
 * (free() it; NULL when *n is 0). Returns 0 or -errno. */
int ipkvm_store_list(struct ipkvm_store *s, struct ipkvm_store_image **out, size_t *n);
/* The same as a JSON array: [{"name":S,"size":N,"mtime":N,"complete":B}], incomplete
 * entries also carry "expected":N|null. NULL on error. */
json_t *ipkvm_store_list_json(struct ipkvm_store *s);

/* One complete image. 0, -EINVAL (bad name), -ENOENT (missing, or not a regular file). */
int ipkvm_store_stat(struct ipkvm_store *s, const char *name, struct ipkvm_store_image *out);
/* The absolute path of a complete image, for the gadget's LUN "file". 0, -EINVAL, -ENOENT,
 * -ENAMETOOLONG. */
int ipkvm_store_path(struct ipkvm_store *s, const char *name, char *out, size_t len);
/* Opens a complete image (O_RDONLY or O_RDWR; O_NOFOLLOW|O_CLOEXEC are added): a fd or
 * -errno (-ENOENT also for a symlink or a non-regular file). */
int ipkvm_store_open_image(struct ipkvm_store *s, const char *name, int flags);
/* Deletes an image: 0, -EINVAL, -ENOENT, -EBUSY (held by a drive, or in use). */
int ipkvm_store_delete(struct ipkvm_store *s, const char *name);

/* Free bytes (for an unprivileged writer: f_bavail) and total bytes of the store's file
 * system. Returns 0 or -errno. */
int ipkvm_store_space(struct ipkvm_store *s, int64_t *free_bytes, int64_t *total_bytes);

/* A drive uses the image (counted: two LUNs may hold one image). 0, -EINVAL, -ENOENT (no
 * complete image), -EBUSY (a session is writing that name), -ENOMEM. */
int ipkvm_store_hold(struct ipkvm_store *s, const char *name);
void ipkvm_store_release(struct ipkvm_store *s, const char *name);
/* Whether the image may not be deleted or replaced now: held, or in use by the callback. */
bool ipkvm_store_held(struct ipkvm_store *s, const char *name);

/* Whether something outside the store serves the image at path (absolute: the store's
 * directory and the name). Called under the store's lock from whichever thread deletes,
 * replaces or commits, so it must be thread-safe, quick, and must not call the store. */
typedef bool (*ipkvm_store_in_use_fn)(void *ctx, const char *path);
/* Sets (fn NULL: removes) the in_use callback. */
void ipkvm_store_set_in_use(struct ipkvm_store *s, ipkvm_store_in_use_fn fn, void *ctx);

/* Sets the quota in bytes (0 or less: none, the default). A lower quota than the store
 * already uses refuses new sessions; nothing is removed. */
void ipkvm_store_set_quota(struct ipkvm_store *s, int64_t max_bytes);
/* The quota (0 = none) and the bytes counted against it: every regular file in the
 * directory but partial files, plus each live session's reservation. 0 or -errno. */
int ipkvm_store_usage(struct ipkvm_store *s, int64_t *quota, int64_t *used);

/* ipkvm_store_begin flags. */
#define IPKVM_STORE_REPLACE 0x1 /* an existing image of that name is replaced at commit */

/* Starts writing image name. expected_size is the announced size or -1 when unknown; when
 * known, the free space (less what other live sessions still announced they will write) must
 * hold it, and so must the quota. Returns 0 with *out set, or -EINVAL (bad name or size),
 * -EEXIST (the image exists and flags lacks IPKVM_STORE_REPLACE), -EBUSY (another session
 * writes that name, or the image is held by a drive or in use), -ENOSPC (err says "not
 * enough free space: N bytes needed, M free", or the same about the quota), or another
 * -errno. err (may be NULL) always says why. */
int ipkvm_store_begin(struct ipkvm_store *s, const char *name, int64_t expected_size, int flags,
		      struct ipkvm_store_session **out, char *err, size_t errlen);
/* Announces the size later (a download learns it from Content-Length): the same free-space
 * and quota checks. 0, -EINVAL (already announced differently), -EFBIG (more already
 * written), -ENOSPC. */
int ipkvm_store_expect(struct ipkvm_store_session *ss, int64_t expected_size, char *err,
		       size_t errlen);
/* Writes all len bytes (short writes and EINTR handled). Returns 0, -EFBIG (more than the
 * announced size), -ENOSPC / -EDQUOT (disk full, or past the quota when no size was
 * announced: HTTP 507), or another -errno. After an error
 * the session is failed: later writes and commit return the same error; abort it. */
int ipkvm_store_write(struct ipkvm_store_session *ss, const void *data, size_t len);
/* Bytes written so far. */
int64_t ipkvm_store_session_bytes(const struct ipkvm_store_session *ss);
const char *ipkvm_store_session_name(const struct ipkvm_store_session *ss);
/* Ends the session either way (ss is freed): on success NAME is the new image, durable. On
 * failure the .part is removed and nothing is listed: -EMSGSIZE (byte count differs from
 * the announced size), -EEXIST (an image appeared meanwhile and REPLACE was not given),
 * -EBUSY (the image to replace got held by a drive), the write error, or the fsync/rename
 * error. err (may be NULL) says why. */
int ipkvm_store_commit(struct ipkvm_store_session *ss, char *err, size_t errlen);
/* Ends the session discarding what was written (.part removed, ss freed). NULL is fine. */
void ipkvm_store_abort(struct ipkvm_store_session *ss);

/* The system calls the store makes where the tests need a failure they cannot provoke (a
 * full disk, a small file system). Same contracts as the calls (-1 with errno). */
struct ipkvm_store_io {
	int (*fstatvfs)(int fd, struct statvfs *st);
	ssize_t (*write)(int fd, const void *buf, size_t len);
};
/* Replaces the calls of this store (tests only); NULL restores the real ones. Call it while
 * no session is live. */
void ipkvm_store_set_io(struct ipkvm_store *s, const struct ipkvm_store_io *io);

#endif
