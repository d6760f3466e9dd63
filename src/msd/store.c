/*
 * store: images in one directory, written through upload sessions (see store.h for the
 * contract).
 *
 * Shape: one directory fd and one mutex. The mutex covers the session list, the hold table
 * and every step that decides what a name means (exists? being written? held?) together with
 * the rename or unlink that acts on it, so two threads can never both think they own a name.
 * The slow parts — writing the bytes and fsync of the file — run outside it.
 *
 * A session's partial file is ".NAME.part". Names never start with '.', so a partial file
 * can never be mistaken for (or collide with) an image, and the cleanup at open can remove
 * every ".*.part" without asking whose it was.
 */
#define LOG_TAG "store"

#include "msd/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

/* While writing, the kernel is asked to start writeback every WINDOW bytes and to drop the
 * window before the last one from the page cache once it is on disk. Without this an 8 GB
 * upload on a 1 GB Pi fills the cache with dirty pages, evicts everything else, and leaves
 * commit's fsync with hundreds of megabytes to flush while the event loop waits. */
#define WRITE_WINDOW (8 * 1024 * 1024)

struct ipkvm_store_session {
	struct ipkvm_store *store;
	struct ipkvm_store_session *next;
	char name[IPKVM_STORE_NAME_MAX + 1];
	char part[IPKVM_STORE_NAME_MAX + 8]; /* "." name ".part" */
	int fd;
	int flags;
	int error;	  /* first write error, sticky */
	int64_t bytes;	  /* written so far (under the store lock: the list reads it) */
	int64_t expected; /* -1 unknown */
	int64_t pending;  /* unknown size: bytes being written now, reserved against the quota */
	int64_t started;  /* epoch seconds */
	int64_t synced;	  /* offset up to which writeback was started */
};

struct hold {
	struct hold *next;
	unsigned count;
	char name[IPKVM_STORE_NAME_MAX + 1];
};

struct ipkvm_store {
	int dfd;
	char *dir; /* absolute */
	pthread_mutex_t lock;
	struct ipkvm_store_session *sessions;
	struct hold *holds;
	struct ipkvm_store_io io;
	int64_t quota; /* 0 = none */
	ipkvm_store_in_use_fn in_use;
	void *in_use_ctx;
};

static int real_fstatvfs(int fd, struct statvfs *st)
{
	return fstatvfs(fd, st);
}

static ssize_t real_write(int fd, const void *buf, size_t len)
{
	return write(fd, buf, len);
}

static const struct ipkvm_store_io real_io = {real_fstatvfs, real_write};

/* ---- names ---- */

/* Length of the UTF-8 sequence starting at p (at most left bytes) and its code point, or 0
 * when it is not a valid, shortest-form encoding of a Unicode scalar value. */
static size_t utf8_decode(const unsigned char *p, size_t left, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	} else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, c = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, c = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

int ipkvm_store_name_check(const char *name, size_t len, const char **why)
{
	const char *msg = NULL;
	const unsigned char *p = (const unsigned char *)name;
	if (!name || len == 0) {
		msg = "name must not be empty";
		goto out;
	}
	if (len > IPKVM_STORE_NAME_MAX) {
		msg = "name is longer than 249 bytes";
		goto out;
	}
	/* Also refuses "." and "..", and keeps the ".NAME.part" namespace ours. */
	if (p[0] == '.') {
		msg = "name must not start with '.'";
		goto out;
	}
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (n == 0) {
			msg = "name is not valid UTF-8";
			goto out;
		}
		if (cp == 0) {
			msg = "name must not contain NUL";
			goto out;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			msg = "name must not contain control characters";
			goto out;
		}
		if (cp == '/') {
			msg = "name must not contain '/'";
			goto out;
		}
		i += n;
	}
out:
	if (why)
		*why = msg ? msg : "";
	return msg ? -EINVAL : 0;
}

static int check_name(const char *name, char *err, size_t errlen)
{
	const char *why;
	if (!name)
		return -EINVAL;
	int r = ipkvm_store_name_check(name, strlen(name), &why);
	if (r < 0)
		ipkvm_errf(err, errlen, "invalid image name: %s", why);
	return r;
}

/* ---- open / close ---- */

static bool is_part_name(const char *n)
{
	size_t len = strlen(n);
	return len > 6 && n[0] == '.' && strcmp(n + len - 5, ".part") == 0;
}

/* Removes the ".NAME.part" files of sessions that died with a previous daemon. */
static void remove_leftovers(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_part_name(de->d_name))
			continue;
		/* flags 0: a directory of that name fails with EISDIR and stays. */
		if (unlinkat(dfd, de->d_name, 0) == 0)
			LOG_WARN("removed leftover partial file %s", de->d_name);
	}
	closedir(d);
}

int ipkvm_store_open(const char *dir, struct ipkvm_store **out, char *err, size_t errlen)
{
	int r;
	struct ipkvm_store *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->dfd = -1;
	s->io = real_io;
	pthread_mutex_init(&s->lock, NULL);
	r = ipkvm_mkdir_p(dir, 0750);
	if (r < 0) {
		ipkvm_errf(err, errlen, "cannot create %s: %s", dir, strerror(-r));
		goto err;
	}
	s->dir = realpath(dir, NULL);
	if (!s->dir) {
		r = -errno;
		ipkvm_errf(err, errlen, "cannot resolve %s: %s", dir, strerror(-r));
		goto err;
	}
	s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		r = -errno;
		ipkvm_errf(err, errlen, "cannot open %s: %s", s->dir, strerror(-r));
		goto err;
	}
	remove_leftovers(s->dfd);
	*out = s;
	return 0;
err:
	ipkvm_store_destroy(s);
	return r;
}

static void free_session(struct ipkvm_store_session *ss)
{
	if (ss->fd >= 0)
		close(ss->fd);
	free(ss);
}

/* Unlinks ss from the list; store lock held. */
static void unlist_locked(struct ipkvm_store_session *ss)
{
	for (struct ipkvm_store_session **pp = &ss->store->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == ss) {
			*pp = ss->next;
			return;
		}
	}
}

void ipkvm_store_destroy(struct ipkvm_store *s)
{
	if (!s)
		return;
	while (s->sessions) {
		struct ipkvm_store_session *ss = s->sessions;
		s->sessions = ss->next;
		LOG_WARN("aborting the upload of %s at shutdown", ss->name);
		unlinkat(s->dfd, ss->part, 0);
		free_session(ss);
	}
	while (s->holds) {
		struct hold *h = s->holds;
		s->holds = h->next;
		free(h);
	}
	if (s->dfd >= 0)
		close(s->dfd);
	free(s->dir);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *ipkvm_store_dir(const struct ipkvm_store *s)
{
	return s->dir;
}

void ipkvm_store_set_io(struct ipkvm_store *s, const struct ipkvm_store_io *io)
{
	s->io = io ? *io : real_io;
}

void ipkvm_store_set_quota(struct ipkvm_store *s, int64_t max_bytes)
{
	pthread_mutex_lock(&s->lock);
	s->quota = max_bytes > 0 ? max_bytes : 0;
	pthread_mutex_unlock(&s->lock);
}

void ipkvm_store_set_in_use(struct ipkvm_store *s, ipkvm_store_in_use_fn fn, void *ctx)
{
	pthread_mutex_lock(&s->lock);
	s->in_use = fn;
	s->in_use_ctx = fn ? ctx : NULL;
	pthread_mutex_unlock(&s->lock);
}

/* ---- lookups ---- */

static struct ipkvm_store_session *find_session_locked(struct ipkvm_store *s, const char *name)
{
	for (struct ipkvm_store_session *ss = s->sessions; ss; ss = ss->next)
		if (strcmp(ss->name, name) == 0)
			return ss;
	return NULL;
}

static struct hold *find_hold_locked(struct ipkvm_store *s, const char *name)
{
	for (struct hold *h = s->holds; h; h = h->next)
		if (strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

/* Whether image name must not change (be deleted or replaced): a drive holds it through us,
 * or the in_use callback says a drive serves it (a LUN the kernel still has it on, whoever
 * put it there: an attachment from before a restart of the daemon is not in the holds).
 * Store lock held. */
static bool busy_locked(struct ipkvm_store *s, const char *name)
{
	char path[PATH_MAX];
	if (find_hold_locked(s, name))
		return true;
	if (!s->in_use || ipkvm_path_join(path, sizeof(path), s->dir, name) < 0)
		return false;
	return s->in_use(s->in_use_ctx, path);
}

/* fstatat without following; a symlink or anything but a regular file is -ENOENT, so it is
 * never listed, opened, attached or deleted. */
static int stat_image(struct ipkvm_store *s, const char *name, struct stat *st)
{
	if (fstatat(s->dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return S_ISREG(st->st_mode) ? 0 : -ENOENT;
}

static void fill_image(struct ipkvm_store_image *im, const char *name, const struct stat *st)
{
	memset(im, 0, sizeof(*im));
	ipkvm_strlcpy(im->name, name, sizeof(im->name));
	im->size = st->st_size;
	im->mtime = st->st_mtim.tv_sec;
	im->expected = st->st_size;
	im->complete = true;
}

int ipkvm_store_stat(struct ipkvm_store *s, const char *name, struct ipkvm_store_image *out)
{
	struct stat st;
	int r = check_name(name, NULL, 0);
	if (r < 0)
		return r;
	r = stat_image(s, name, &st);
	if (r < 0)
		return r;
	fill_image(out, name, &st);
	return 0;
}

int ipkvm_store_path(struct ipkvm_store *s, const char *name, char *out, size_t len)
{
	struct stat st;
	int r = check_name(name, NULL, 0);
	if (r < 0)
		return r;
	r = stat_image(s, name, &st);
	if (r < 0)
		return r;
	return ipkvm_path_join(out, len, s->dir, name);
}

int ipkvm_store_open_image(struct ipkvm_store *s, const char *name, int flags)
{
	struct stat st;
	int r = check_name(name, NULL, 0);
	if (r < 0)
		return r;
	/* O_NONBLOCK: a FIFO planted under an image name must not hang the caller; it is
	 * refused just below, and the flag means nothing for a regular file. */
	int fd = openat(s->dfd, name,
			(flags & O_ACCMODE) | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -ENOENT : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

int ipkvm_store_delete(struct ipkvm_store *s, const char *name)
{
	struct stat st;
	int r = check_name(name, NULL, 0);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	r = stat_image(s, name, &st);
	if (r < 0)
		goto out;
	if (busy_locked(s, name)) {
		r = -EBUSY;
		goto out;
	}
	if (unlinkat(s->dfd, name, 0) < 0) {
		r = -errno;
		goto out;
	}
	fsync(s->dfd);
	LOG_INFO("deleted image %s", name);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- list ---- */

static int image_cmp(const void *a, const void *b)
{
	const struct ipkvm_store_image *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return (int)y->complete - (int)x->complete;
}

static int push_image(struct ipkvm_store_image **v, size_t *n, size_t *cap,
		      const struct ipkvm_store_image *im)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct ipkvm_store_image *nv = realloc(*v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = *im;
	return 0;
}

int ipkvm_store_list(struct ipkvm_store *s, struct ipkvm_store_image **out, size_t *n)
{
	struct ipkvm_store_image *v = NULL, im;
	size_t cnt = 0, cap = 0;
	int r = 0;
	DIR *d = NULL;
	*out = NULL;
	*n = 0;
	/* Under the lock, so a commit cannot move a name between the directory scan and the
	 * session list (listed twice or not at all). */
	pthread_mutex_lock(&s->lock);
	int fd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		/* Names the API could not address (dot files, partial files, invalid UTF-8
		 * copied in by hand) are not images. */
		if (ipkvm_store_name_check(de->d_name, strlen(de->d_name), NULL) < 0)
			continue;
		if (stat_image(s, de->d_name, &st) < 0)
			continue;
		fill_image(&im, de->d_name, &st);
		r = push_image(&v, &cnt, &cap, &im);
		if (r < 0)
			goto out;
	}
	for (struct ipkvm_store_session *ss = s->sessions; ss; ss = ss->next) {
		memset(&im, 0, sizeof(im));
		ipkvm_strlcpy(im.name, ss->name, sizeof(im.name));
		im.size = ss->bytes;
		im.mtime = ss->started;
		im.expected = ss->expected;
		im.complete = false;
		r = push_image(&v, &cnt, &cap, &im);
		if (r < 0)
			goto out;
	}
out:
	pthread_mutex_unlock(&s->lock);
	if (d)
		closedir(d);
	if (r < 0) {
		free(v);
		return r;
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), image_cmp);
	*out = v;
	*n = cnt;
	return 0;
}

json_t *ipkvm_store_list_json(struct ipkvm_store *s)
{
	struct ipkvm_store_image *v;
	size_t n;
	if (ipkvm_store_list(s, &v, &n) < 0)
		return NULL;
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		json_t *o = json_pack("{s:s, s:I, s:I, s:b}", "name", v[i].name, "size",
				      (json_int_t)v[i].size, "mtime", (json_int_t)v[i].mtime,
				      "complete", v[i].complete);
		if (o && !v[i].complete)
			json_object_set_new(o, "expected",
					    v[i].expected >= 0 ? json_integer(v[i].expected)
							       : json_null());
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(v);
	return arr;
}

/* ---- space ---- */

int ipkvm_store_space(struct ipkvm_store *s, int64_t *free_bytes, int64_t *total_bytes)
{
	struct statvfs st;
	if (s->io.fstatvfs(s->dfd, &st) < 0)
		return errno ? -errno : -EIO;
	*free_bytes = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
	*total_bytes = (int64_t)st.f_blocks * (int64_t)st.f_frsize;
	return 0;
}

/* Free space for a new size: what the file system has, less what live sessions announced
 * they still have to write (two 5 GB uploads with 6 GB free must not both start). Store lock
 * held; self is not counted. */
static int check_space_locked(struct ipkvm_store *s, const struct ipkvm_store_session *self,
			      int64_t need, char *err, size_t errlen)
{
	int64_t avail = 0, total = 0;
	int r = ipkvm_store_space(s, &avail, &total);
	if (r < 0) {
		ipkvm_errf(err, errlen, "cannot read the free space: %s", strerror(-r));
		return r;
	}
	for (struct ipkvm_store_session *ss = s->sessions; ss; ss = ss->next)
		if (ss != self && ss->expected > ss->bytes)
			avail -= ss->expected - ss->bytes;
	if (avail < 0)
		avail = 0;
	if (need > avail) {
		ipkvm_errf(err, errlen, "not enough free space: %lld bytes needed, %lld free",
			   (long long)need, (long long)avail);
		return -ENOSPC;
	}
	return 0;
}

/* ---- quota ---- */

/* What a live session counts against the quota: its announced size, or (none announced)
 * what it wrote plus the chunk it is writing now. */
static int64_t reserved(const struct ipkvm_store_session *ss)
{
	return ss->expected >= 0 ? ss->expected : ss->bytes + ss->pending;
}

/* Bytes counted against the quota, without self's reservation: every regular file in the
 * directory but partial files (the images, and whatever else was copied in by hand: it takes
 * the same space), plus what each live session reserved. Store lock held. */
static int usage_locked(struct ipkvm_store *s, const struct ipkvm_store_session *self,
			int64_t *used)
{
	int64_t sum = 0;
	int fd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		/* Partial files are counted through their sessions (a leftover of a dead one is
		 * removed at open). */
		if (is_part_name(de->d_name) ||
		    fstatat(s->dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		sum += st.st_size;
	}
	closedir(d);
	for (struct ipkvm_store_session *ss = s->sessions; ss; ss = ss->next)
		if (ss != self)
			sum += reserved(ss);
	*used = sum;
	return 0;
}

/* Whether self may take need bytes in all (its whole size, not what is left of it) within
 * the quota. Store lock held. 0, -ENOSPC (err says so) or -errno. */
static int check_quota_locked(struct ipkvm_store *s, const struct ipkvm_store_session *self,
			      int64_t need, char *err, size_t errlen)
{
	int64_t used = 0;
	if (!s->quota)
		return 0;
	int r = usage_locked(s, self, &used);
	if (r < 0) {
		ipkvm_errf(err, errlen, "cannot add up the store's size: %s", strerror(-r));
		return r;
	}
	int64_t left = used < s->quota ? s->quota - used : 0;
	/* Over the quota already (lowered, or files copied in by hand): not even 0 bytes. */
	if (need > left || used > s->quota) {
		ipkvm_errf(err, errlen,
			   "not enough space in the image store's quota of %lld bytes ([msd] "
			   "max_size): %lld bytes needed, %lld free",
			   (long long)s->quota, (long long)need, (long long)left);
		return -ENOSPC;
	}
	return 0;
}

int ipkvm_store_usage(struct ipkvm_store *s, int64_t *quota, int64_t *used)
{
	pthread_mutex_lock(&s->lock);
	int r = usage_locked(s, NULL, used);
	*quota = s->quota;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- holds ---- */

int ipkvm_store_hold(struct ipkvm_store *s, const char *name)
{
	struct stat st;
	int r = check_name(name, NULL, 0);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	if (find_session_locked(s, name)) {
		r = -EBUSY;
		goto out;
	}
	r = stat_image(s, name, &st);
	if (r < 0)
		goto out;
	struct hold *h = find_hold_locked(s, name);
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h) {
			r = -ENOMEM;
			goto out;
		}
		ipkvm_strlcpy(h->name, name, sizeof(h->name));
		h->next = s->holds;
		s->holds = h;
	}
	h->count++;
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

void ipkvm_store_release(struct ipkvm_store *s, const char *name)
{
	if (!name)
		return;
	pthread_mutex_lock(&s->lock);
	for (struct hold **pp = &s->holds; *pp; pp = &(*pp)->next) {
		struct hold *h = *pp;
		if (strcmp(h->name, name) != 0)
			continue;
		if (--h->count == 0) {
			*pp = h->next;
			free(h);
		}
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

bool ipkvm_store_held(struct ipkvm_store *s, const char *name)
{
	if (!name)
		return false;
	pthread_mutex_lock(&s->lock);
	bool held = busy_locked(s, name);
	pthread_mutex_unlock(&s->lock);
	return held;
}

/* ---- sessions ---- */

static int open_part_locked(struct ipkvm_store *s, const char *part)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = openat(s->dfd, part, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
				0640);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
		/* No live session owns this name (checked under the same lock), so the file
		 * is a leftover that appeared after open: it is ours to remove. */
		if (unlinkat(s->dfd, part, 0) < 0)
			return -errno;
	}
	return -EEXIST;
}

int ipkvm_store_begin(struct ipkvm_store *s, const char *name, int64_t expected_size, int flags,
		      struct ipkvm_store_session **out, char *err, size_t errlen)
{
	struct stat st;
	struct ipkvm_store_session *ss = NULL;
	*out = NULL;
	ipkvm_errf(err, errlen, "%s", "");
	int r = check_name(name, err, errlen);
	if (r < 0)
		return r;
	if (expected_size < -1) {
		ipkvm_errf(err, errlen, "invalid size %lld", (long long)expected_size);
		return -EINVAL;
	}
	ss = calloc(1, sizeof(*ss));
	if (!ss) {
		ipkvm_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ss->store = s;
	ss->fd = -1;
	ss->flags = flags;
	ss->expected = expected_size;
	ss->started = ipkvm_now();
	ipkvm_strlcpy(ss->name, name, sizeof(ss->name));
	snprintf(ss->part, sizeof(ss->part), ".%s.part", name);

	pthread_mutex_lock(&s->lock);
	if (find_session_locked(s, name)) {
		r = -EBUSY;
		ipkvm_errf(err, errlen, "%s is already being uploaded or downloaded", name);
		goto err;
	}
	if (fstatat(s->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!(flags & IPKVM_STORE_REPLACE) || !S_ISREG(st.st_mode)) {
			r = -EEXIST;
			ipkvm_errf(err, errlen, "image %s already exists", name);
			goto err;
		}
		if (busy_locked(s, name)) {
			r = -EBUSY;
			ipkvm_errf(err, errlen, "image %s is attached to a drive", name);
			goto err;
		}
	} else if (errno != ENOENT) {
		r = -errno;
		ipkvm_errf(err, errlen, "cannot check %s: %s", name, strerror(-r));
		goto err;
	}
	if (expected_size >= 0) {
		r = check_space_locked(s, NULL, expected_size, err, errlen);
		if (r < 0)
			goto err;
	}
	/* An unknown size reserves nothing yet, but a store already over its quota (it was
	 * lowered, or files were copied in by hand) takes nothing new. */
	r = check_quota_locked(s, NULL, expected_size >= 0 ? expected_size : 0, err, errlen);
	if (r < 0)
		goto err;
	ss->fd = open_part_locked(s, ss->part);
	if (ss->fd < 0) {
		r = ss->fd;
		ipkvm_errf(err, errlen, "cannot create %s: %s", ss->part, strerror(-r));
		goto err;
	}
	/* openat() applied the umask; the mode is part of the store's contract. */
	fchmod(ss->fd, 0640);
	ss->next = s->sessions;
	s->sessions = ss;
	pthread_mutex_unlock(&s->lock);
	LOG_DEBUG("writing %s (%lld bytes announced)", name, (long long)expected_size);
	*out = ss;
	return 0;
err:
	pthread_mutex_unlock(&s->lock);
	free_session(ss);
	return r;
}

int ipkvm_store_expect(struct ipkvm_store_session *ss, int64_t expected_size, char *err,
		       size_t errlen)
{
	struct ipkvm_store *s = ss->store;
	int r = 0;
	pthread_mutex_lock(&s->lock);
	if (expected_size < 0 || (ss->expected >= 0 && ss->expected != expected_size)) {
		r = -EINVAL;
		ipkvm_errf(err, errlen, "invalid size %lld", (long long)expected_size);
	} else if (ss->bytes > expected_size) {
		r = -EFBIG;
		ipkvm_errf(err, errlen, "%lld bytes already written, more than %lld",
			   (long long)ss->bytes, (long long)expected_size);
	} else if (ss->expected < 0) {
		r = check_space_locked(s, ss, expected_size - ss->bytes, err, errlen);
		if (r == 0)
			r = check_quota_locked(s, ss, expected_size, err, errlen);
		if (r == 0)
			ss->expected = expected_size;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Starts writeback of the window just completed and waits for (then drops from the cache)
 * the one before it; see WRITE_WINDOW. Hints only: errors surface at commit's fsync. */
static void pace_writeback(struct ipkvm_store_session *ss, int64_t end)
{
	while (end - ss->synced >= WRITE_WINDOW) {
		off_t start = ss->synced;
		sync_file_range(ss->fd, start, WRITE_WINDOW, SYNC_FILE_RANGE_WRITE);
		if (start >= WRITE_WINDOW) {
			off_t prev = start - WRITE_WINDOW;
			sync_file_range(ss->fd, prev, WRITE_WINDOW,
					SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					    SYNC_FILE_RANGE_WAIT_AFTER);
			posix_fadvise(ss->fd, prev, WRITE_WINDOW, POSIX_FADV_DONTNEED);
		}
		ss->synced += WRITE_WINDOW;
	}
}

int ipkvm_store_write(struct ipkvm_store_session *ss, const void *data, size_t len)
{
	struct ipkvm_store *s = ss->store;
	const unsigned char *p = data;
	size_t done = 0;
	int r = 0;
	if (ss->error)
		return ss->error;
	/* Only this session's thread changes bytes, so reading it unlocked is fine here. */
	if (ss->expected >= 0 && (uint64_t)len > (uint64_t)(ss->expected - ss->bytes)) {
		r = -EFBIG;
		goto out;
	}
	/* A known size was reserved whole at begin or expect; an unknown one reserves each
	 * chunk before writing it, so two of them cannot both take the last free bytes. */
	if (ss->expected < 0 && len > 0) {
		pthread_mutex_lock(&s->lock);
		r = (uint64_t)len > (uint64_t)(INT64_MAX - ss->bytes)
			? -ENOSPC
			: check_quota_locked(s, ss, ss->bytes + (int64_t)len, NULL, 0);
		if (r == 0)
			ss->pending = (int64_t)len;
		pthread_mutex_unlock(&s->lock);
		if (r < 0)
			goto out;
	}
	while (done < len) {
		ssize_t w = s->io.write(ss->fd, p + done, len - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (w == 0) { /* not expected from a regular file; do not spin */
			r = -EIO;
			break;
		}
		done += (size_t)w;
	}
out:
	pthread_mutex_lock(&s->lock);
	ss->bytes += (int64_t)done;
	ss->pending = 0;
	if (r < 0)
		ss->error = r;
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		LOG_WARN("writing %s failed: %s", ss->name, strerror(-r));
	else
		pace_writeback(ss, ss->bytes);
	return r;
}

int64_t ipkvm_store_session_bytes(const struct ipkvm_store_session *ss)
{
	return ss->bytes;
}

const char *ipkvm_store_session_name(const struct ipkvm_store_session *ss)
{
	return ss->name;
}

/* Moves the finished .part onto its name; store lock held. */
static int rename_locked(struct ipkvm_store_session *ss, char *err, size_t errlen)
{
	struct ipkvm_store *s = ss->store;
	if (ss->flags & IPKVM_STORE_REPLACE) {
		if (busy_locked(s, ss->name)) {
			ipkvm_errf(err, errlen, "image %s is attached to a drive", ss->name);
			return -EBUSY;
		}
		if (renameat(s->dfd, ss->part, s->dfd, ss->name) < 0)
			goto err;
		return 0;
	}
	/* RENAME_NOREPLACE makes "did not exist" and "now exists" one step. File systems
	 * without it (EINVAL) get a check first: under our lock, only a hand-made file can
	 * slip in between. */
	if (renameat2(s->dfd, ss->part, s->dfd, ss->name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOSYS) {
		struct stat st;
		if (fstatat(s->dfd, ss->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			errno = EEXIST;
			goto err;
		}
		if (renameat(s->dfd, ss->part, s->dfd, ss->name) == 0)
			return 0;
	}
err:
	if (errno == EEXIST) {
		ipkvm_errf(err, errlen, "image %s already exists", ss->name);
		return -EEXIST;
	}
	int r = -errno;
	ipkvm_errf(err, errlen, "cannot rename %s: %s", ss->part, strerror(-r));
	return r;
}

int ipkvm_store_commit(struct ipkvm_store_session *ss, char *err, size_t errlen)
{
	struct ipkvm_store *s = ss->store;
	int r;
	ipkvm_errf(err, errlen, "%s", "");
	if (ss->error) {
		r = ss->error;
		ipkvm_errf(err, errlen, "writing %s failed: %s", ss->name, strerror(-r));
		goto fail;
	}
	if (ss->expected >= 0 && ss->bytes != ss->expected) {
		r = -EMSGSIZE;
		ipkvm_errf(err, errlen, "size mismatch: expected %lld bytes, got %lld",
			   (long long)ss->expected, (long long)ss->bytes);
		goto fail;
	}
	/* The data is durable before the name points at it, or a power cut right after the
	 * rename could leave a listed image full of holes. */
	r = fsync(ss->fd) < 0 ? -errno : 0;
	if (close(ss->fd) < 0 && r == 0)
		r = -errno;
	ss->fd = -1;
	if (r < 0) {
		ipkvm_errf(err, errlen, "cannot write %s to disk: %s", ss->name, strerror(-r));
		goto fail;
	}
	pthread_mutex_lock(&s->lock);
	r = rename_locked(ss, err, errlen);
	if (r < 0) {
		unlinkat(s->dfd, ss->part, 0);
		unlist_locked(ss);
		pthread_mutex_unlock(&s->lock);
		goto out;
	}
	unlist_locked(ss);
	pthread_mutex_unlock(&s->lock);
	/* The rename itself is durable only once the directory is. The image is already
	 * visible, so a failure here is logged, not reported as a lost upload. */
	if (fsync(s->dfd) < 0)
		LOG_WARN("fsync of %s: %s", s->dir, strerror(errno));
	LOG_INFO("stored image %s (%lld bytes)", ss->name, (long long)ss->bytes);
	goto out;
fail:
	pthread_mutex_lock(&s->lock);
	/* Unlinked under the lock: once the name is free, a new session may create the
	 * same .part and must not lose it to us. */
	unlinkat(s->dfd, ss->part, 0);
	unlist_locked(ss);
	pthread_mutex_unlock(&s->lock);
out:
	if (r < 0)
		LOG_WARN("upload of %s failed: %s", ss->name, err && err[0] ? err : strerror(-r));
	free_session(ss);
	return r;
}

void ipkvm_store_abort(struct ipkvm_store_session *ss)
{
	if (!ss)
		return;
	struct ipkvm_store *s = ss->store;
	pthread_mutex_lock(&s->lock);
	unlinkat(s->dfd, ss->part, 0);
	unlist_locked(ss);
	pthread_mutex_unlock(&s->lock);
	LOG_INFO("upload of %s aborted after %lld bytes", ss->name, (long long)ss->bytes);
	free_session(ss);
}
