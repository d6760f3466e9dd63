/*
 * Unit tests for msd/store: the name table, an upload's path from .part to listed image
 * (commit, abort, size mismatch, write errors), the cleanup of crash leftovers at open, free
 * space checked before a byte is written, symlinks neither followed nor listed, one session
 * per name, replace and hold semantics (and the in_use callback that stands for the LUNs),
 * the quota, and the JSON listing.
 *
 * Every test works in its own mkdtemp directory. A full disk and a small file system cannot
 * be made here (no loop devices, no root), so they come through the store's io seam: a fake
 * fstatvfs and a write that fails with ENOSPC after a budget. After each test the directory
 * listing is compared exactly, so a stray .part file fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "msd/store.h"

struct fixture {
	char root[64]; /* mkdtemp: holds the store and an "outside" file */
	char dir[128]; /* root/images */
	char outside[128];
	struct ipkvm_store *s;
};

/* ---- io seam ---- */

static int64_t fake_free = -1;	  /* bytes fstatvfs reports; -1 = real call */
static int64_t write_budget = -1; /* bytes before ENOSPC; -1 = unlimited */
static int write_chunk;		  /* >0: short writes of at most this many bytes */
static int eintr_once;

static int fake_fstatvfs(int fd, struct statvfs *st)
{
	if (fake_free < 0)
		return fstatvfs(fd, st);
	memset(st, 0, sizeof(*st));
	st->f_frsize = 4096;
	st->f_bsize = 4096;
	st->f_bavail = (fsblkcnt_t)(fake_free / 4096);
	st->f_bfree = st->f_bavail;
	st->f_blocks = 1000000;
	return 0;
}

static ssize_t fake_write(int fd, const void *buf, size_t len)
{
	if (eintr_once) {
		eintr_once = 0;
		errno = EINTR;
		return -1;
	}
	if (write_chunk > 0 && len > (size_t)write_chunk)
		len = (size_t)write_chunk;
	if (write_budget >= 0) {
		if (write_budget == 0) {
			errno = ENOSPC;
			return -1;
		}
		if (len > (size_t)write_budget)
			len = (size_t)write_budget;
		write_budget -= (int64_t)len;
	}
	return write(fd, buf, len);
}

static const struct ipkvm_store_io fake_io = {fake_fstatvfs, fake_write};

/* ---- helpers ---- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->root, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/images", f->root);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->root);
	FILE *o = fopen(f->outside, "w");
	assert_non_null(o);
	fputs("secret", o);
	fclose(o);
	fake_free = -1;
	write_budget = -1;
	write_chunk = 0;
	eintr_once = 0;
	*state = f;
	return 0;
}

static void open_store(struct fixture *f)
{
	char err[256];
	assert_int_equal(ipkvm_store_open(f->dir, &f->s, err, sizeof(err)), 0);
	ipkvm_store_set_io(f->s, &fake_io);
}

static void rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char sub[512];
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ipkvm_store_destroy(f->s);
	rm_rf(f->root);
	free(f);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The store directory's entries, sorted, joined with ','. */
static const char *dir_entries(struct fixture *f)
{
	static char out[2048];
	char *names[64];
	size_t n = 0;
	DIR *d = opendir(f->dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		assert_true(n < 64);
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, names[i]);
		free(names[i]);
	}
	return out;
}

/* The listing as "name:size:c|p" joined with ','. */
static const char *listing(struct fixture *f)
{
	static char out[2048];
	struct ipkvm_store_image *v;
	size_t n;
	assert_int_equal(ipkvm_store_list(f->s, &v, &n), 0);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char one[300];
		snprintf(one, sizeof(one), "%s%s:%lld:%c", i ? "," : "", v[i].name,
			 (long long)v[i].size, v[i].complete ? 'c' : 'p');
		strcat(out, one);
	}
	free(v);
	return out;
}

static void put_image(struct fixture *f, const char *name, size_t size)
{
	struct ipkvm_store_session *ss;
	char err[256], buf[1000];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(ipkvm_store_begin(f->s, name, (int64_t)size, 0, &ss, err, sizeof(err)), 0);
	while (size > 0) {
		size_t n = size < sizeof(buf) ? size : sizeof(buf);
		assert_int_equal(ipkvm_store_write(ss, buf, n), 0);
		size -= n;
	}
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
}

/* ---- tests ---- */

static void test_names(void **state)
{
	(void)state;
	char long249[250], long250[251], long256[257];
	memset(long249, 'a', 249);
	long249[249] = '\0';
	memset(long250, 'a', 250);
	long250[250] = '\0';
	memset(long256, 'a', 256);
	long256[256] = '\0';
	static const char nul_inside[] = "a\0b.iso";
	const struct {
		const char *name;
		size_t len; /* 0: strlen */
		int ret;
		const char *why;
	} cases[] = {
	    {"debian-12.iso", 0, 0, ""},
	    {"ubuntu-24.04 日本語.iso", 0, 0, ""},
	    {"a", 0, 0, ""},
	    {"emoji-😀.img", 0, 0, ""},
	    {"x..y", 0, 0, ""},
	    {long249, 0, 0, ""},
	    {"", 0, -EINVAL, "name must not be empty"},
	    {".", 0, -EINVAL, "name must not start with '.'"},
	    {"..", 0, -EINVAL, "name must not start with '.'"},
	    {"../x", 0, -EINVAL, "name must not start with '.'"},
	    {".hidden", 0, -EINVAL, "name must not start with '.'"},
	    {".x.iso.part", 0, -EINVAL, "name must not start with '.'"},
	    {"a/b", 0, -EINVAL, "name must not contain '/'"},
	    {"x/../../etc/passwd", 0, -EINVAL, "name must not contain '/'"},
	    {"/etc/passwd", 0, -EINVAL, "name must not contain '/'"},
	    {long250, 0, -EINVAL, "name is longer than 249 bytes"},
	    {long256, 0, -EINVAL, "name is longer than 249 bytes"},
	    {"bad\xff.iso", 0, -EINVAL, "name is not valid UTF-8"},
	    {"trunc\xe6\x97", 0, -EINVAL, "name is not valid UTF-8"},
	    {"overlong\xc0\xaf", 0, -EINVAL, "name is not valid UTF-8"},
	    {"surrogate\xed\xa0\x80", 0, -EINVAL, "name is not valid UTF-8"},
	    {"toobig\xf4\x90\x80\x80", 0, -EINVAL, "name is not valid UTF-8"},
	    {"tab\there", 0, -EINVAL, "name must not contain control characters"},
	    {"nl\n", 0, -EINVAL, "name must not contain control characters"},
	    {"del\x7f", 0, -EINVAL, "name must not contain control characters"},
	    {"c1\xc2\x85", 0, -EINVAL, "name must not contain control characters"},
	    {nul_inside, sizeof(nul_inside) - 1, -EINVAL, "name must not contain NUL"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].name);
		int r = ipkvm_store_name_check(cases[i].name, len, &why);
		if (r != cases[i].ret || strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: got %d '%s', want %d '%s'", i, r, why, cases[i].ret,
				 cases[i].why);
	}
	assert_int_equal(ipkvm_store_name_check(NULL, 0, NULL), -EINVAL);
}

static void test_upload_commit_listed(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss;
	char err[256];
	open_store(f);
	assert_string_equal(listing(f), "");
	assert_int_equal(ipkvm_store_begin(f->s, "disk.img", 3000, 0, &ss, err, sizeof(err)), 0);
	assert_string_equal(ipkvm_store_session_name(ss), "disk.img");
	assert_string_equal(dir_entries(f), ".disk.img.part");
	char buf[1000];
	memset(buf, 7, sizeof(buf));
	assert_int_equal(ipkvm_store_write(ss, buf, 1000), 0);
	assert_int_equal(ipkvm_store_write(ss, buf, 1000), 0);
	/* In progress: listed as incomplete with its bytes so far. */
	assert_string_equal(listing(f), "disk.img:2000:p");
	assert_int_equal(ipkvm_store_session_bytes(ss), 2000);
	assert_int_equal(ipkvm_store_write(ss, buf, 1000), 0);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(listing(f), "disk.img:3000:c");
	assert_string_equal(dir_entries(f), "disk.img");

	struct ipkvm_store_image im;
	assert_int_equal(ipkvm_store_stat(f->s, "disk.img", &im), 0);
	assert_int_equal(im.size, 3000);
	assert_true(im.complete);
	assert_int_equal(ipkvm_store_stat(f->s, "nope.img", &im), -ENOENT);
	assert_int_equal(ipkvm_store_stat(f->s, "../disk.img", &im), -EINVAL);

	char path[512], want[512];
	assert_int_equal(ipkvm_store_path(f->s, "disk.img", path, sizeof(path)), 0);
	char *real = realpath(f->dir, NULL);
	snprintf(want, sizeof(want), "%s/disk.img", real);
	free(real);
	assert_string_equal(path, want);
	assert_int_equal(ipkvm_store_path(f->s, "disk.img", path, 10), -ENAMETOOLONG);

	int fd = ipkvm_store_open_image(f->s, "disk.img", O_RDONLY);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 3000);
	assert_int_equal(st.st_mode & 0777, 0640);
	close(fd);

	/* Unknown size: whatever arrives is the image. */
	assert_int_equal(ipkvm_store_begin(f->s, "b.iso", -1, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, buf, 10), 0);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
	assert_string_equal(listing(f), "b.iso:10:c,disk.img:3000:c");

	assert_int_equal(ipkvm_store_delete(f->s, "disk.img"), 0);
	assert_int_equal(ipkvm_store_delete(f->s, "disk.img"), -ENOENT);
	assert_int_equal(ipkvm_store_delete(f->s, "a/b"), -EINVAL);
	assert_string_equal(dir_entries(f), "b.iso");
}

static void test_short_writes_and_eintr(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss;
	char err[256], buf[10000];
	open_store(f);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 31);
	write_chunk = 333;
	eintr_once = 1;
	assert_int_equal(ipkvm_store_begin(f->s, "s.img", -1, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, buf, sizeof(buf)), 0);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
	int fd = ipkvm_store_open_image(f->s, "s.img", O_RDONLY);
	assert_true(fd >= 0);
	char back[sizeof(buf) + 1];
	assert_int_equal(read(fd, back, sizeof(back)), sizeof(buf));
	close(fd);
	assert_memory_equal(back, buf, sizeof(buf));
}

/* Past the 8 MiB writeback windows: the pacing hints must not disturb the data. */
static void test_large_upload(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss;
	char err[256];
	enum { CHUNK = 1024 * 1024, CHUNKS = 20 };
	unsigned char *buf = malloc(CHUNK), *back = malloc(CHUNK);
	assert_non_null(buf);
	assert_non_null(back);
	open_store(f);
	assert_int_equal(ipkvm_store_begin(f->s, "large.img", (int64_t)CHUNK * CHUNKS + 1, 0, &ss,
					   err, sizeof(err)),
			 0);
	for (int c = 0; c < CHUNKS; c++) {
		memset(buf, c, CHUNK);
		assert_int_equal(ipkvm_store_write(ss, buf, CHUNK), 0);
	}
	assert_int_equal(ipkvm_store_write(ss, "!", 1), 0);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
	int fd = ipkvm_store_open_image(f->s, "large.img", O_RDONLY);
	assert_true(fd >= 0);
	for (int c = 0; c < CHUNKS; c++) {
		memset(buf, c, CHUNK);
		assert_int_equal(pread(fd, back, CHUNK, (off_t)c * CHUNK), CHUNK);
		assert_memory_equal(back, buf, CHUNK);
	}
	assert_int_equal(pread(fd, back, 2, (off_t)CHUNK * CHUNKS), 1);
	assert_int_equal(back[0], '!');
	close(fd);
	free(buf);
	free(back);
	assert_string_equal(listing(f), "large.img:20971521:c");
}

static void test_abort_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss;
	char err[256];
	open_store(f);
	assert_int_equal(ipkvm_store_begin(f->s, "a.iso", 100, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "hello", 5), 0);
	ipkvm_store_abort(ss);
	assert_string_equal(listing(f), "");
	assert_string_equal(dir_entries(f), "");
	ipkvm_store_abort(NULL);
	/* The name is free again. */
	assert_int_equal(ipkvm_store_begin(f->s, "a.iso", 0, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
	assert_string_equal(listing(f), "a.iso:0:c");
}

static void test_leftovers_removed_at_open(void **state)
{
	struct fixture *f = *state;
	char p[256];
	assert_int_equal(mkdir(f->dir, 0750), 0);
	const char *files[] = {".crashed.iso.part", "kept.iso", ".keep-me"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, files[i]);
		int fd = open(p, O_CREAT | O_WRONLY, 0640);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "abc", 3), 3);
		close(fd);
	}
	/* A directory named like a partial file is not ours to remove recursively. */
	snprintf(p, sizeof(p), "%s/.dir.part", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	open_store(f);
	assert_string_equal(dir_entries(f), ".dir.part,.keep-me,kept.iso");
	assert_string_equal(listing(f), "kept.iso:3:c");

	/* A .part appearing later (a session of another store object, say) is never listed,
	 * and a stale one does not stop a new session of that name. */
	snprintf(p, sizeof(p), "%s/.late.iso.part", f->dir);
	int fd = open(p, O_CREAT | O_WRONLY, 0640);
	close(fd);
	assert_string_equal(listing(f), "kept.iso:3:c");
	struct ipkvm_store_session *ss;
	char err[256];
	assert_int_equal(ipkvm_store_begin(f->s, "late.iso", 2, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "ok", 2), 0);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
	assert_string_equal(listing(f), "kept.iso:3:c,late.iso:2:c");
}

static void test_size_mismatch(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss;
	char err[256];
	open_store(f);
	assert_int_equal(ipkvm_store_begin(f->s, "m.iso", 10, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "12345", 5), 0);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), -EMSGSIZE);
	assert_string_equal(err, "size mismatch: expected 10 bytes, got 5");
	assert_string_equal(listing(f), "");
	assert_string_equal(dir_entries(f), "");

	/* More than announced: refused without writing, and the session stays failed. */
	assert_int_equal(ipkvm_store_begin(f->s, "m.iso", 4, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "123", 3), 0);
	assert_int_equal(ipkvm_store_write(ss, "45", 2), -EFBIG);
	assert_int_equal(ipkvm_store_write(ss, "4", 1), -EFBIG);
	assert_int_equal(ipkvm_store_session_bytes(ss), 3);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), -EFBIG);
	assert_string_equal(err, "writing m.iso failed: File too large");
	assert_string_equal(dir_entries(f), "");
}

static void test_no_space_up_front(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss = NULL, *ss2 = NULL;
	char err[256];
	open_store(f);
	/* Real file system: nobody has 2^62 bytes free. */
	assert_int_equal(
	    ipkvm_store_begin(f->s, "huge.iso", INT64_C(1) << 62, 0, &ss, err, sizeof(err)),
	    -ENOSPC);
	assert_null(ss);
	assert_non_null(strstr(err, "not enough free space: 4611686018427387904 bytes needed, "));
	assert_string_equal(dir_entries(f), "");

	fake_free = 1000 * 4096;
	int64_t fr, total;
	assert_int_equal(ipkvm_store_space(f->s, &fr, &total), 0);
	assert_int_equal(fr, 4096000);
	assert_int_equal(total, 4096000000);
	assert_int_equal(ipkvm_store_begin(f->s, "a.iso", 4096001, 0, &ss, err, sizeof(err)),
			 -ENOSPC);
	assert_string_equal(err, "not enough free space: 4096001 bytes needed, 4096000 free");
	/* What a live session announced is reserved for it. */
	assert_int_equal(ipkvm_store_begin(f->s, "a.iso", 3000000, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_begin(f->s, "b.iso", 2000000, 0, &ss2, err, sizeof(err)),
			 -ENOSPC);
	assert_string_equal(err, "not enough free space: 2000000 bytes needed, 1096000 free");
	assert_int_equal(ipkvm_store_begin(f->s, "b.iso", -1, 0, &ss2, err, sizeof(err)), 0);
	/* A size learnt later goes through the same check. */
	assert_int_equal(ipkvm_store_expect(ss2, 2000000, err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "not enough free space: 2000000 bytes needed, 1096000 free");
	assert_int_equal(ipkvm_store_expect(ss2, 1000, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_expect(ss2, 1000, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_expect(ss2, 999, err, sizeof(err)), -EINVAL);
	ipkvm_store_abort(ss);
	ipkvm_store_abort(ss2);
	assert_string_equal(dir_entries(f), "");
	assert_int_equal(ipkvm_store_begin(f->s, "x", -2, 0, &ss, err, sizeof(err)), -EINVAL);
}

static void test_disk_full_while_writing(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss;
	char err[256], buf[4096];
	memset(buf, 1, sizeof(buf));
	open_store(f);
	write_budget = 10000;
	assert_int_equal(ipkvm_store_begin(f->s, "full.iso", -1, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, buf, sizeof(buf)), 0);
	assert_int_equal(ipkvm_store_write(ss, buf, sizeof(buf)), 0);
	assert_int_equal(ipkvm_store_write(ss, buf, sizeof(buf)), -ENOSPC);
	assert_int_equal(ipkvm_store_session_bytes(ss), 10000);
	assert_int_equal(ipkvm_store_write(ss, buf, 1), -ENOSPC);
	assert_string_equal(listing(f), "full.iso:10000:p");
	ipkvm_store_abort(ss);
	assert_string_equal(listing(f), "");
	assert_string_equal(dir_entries(f), "");

	/* Committing a failed session fails the same way and leaves nothing. */
	write_budget = 0;
	assert_int_equal(ipkvm_store_begin(f->s, "full.iso", -1, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, buf, 10), -ENOSPC);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "writing full.iso failed: No space left on device");
	assert_string_equal(dir_entries(f), "");
}

static void test_symlinks_not_followed(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss;
	char err[256], p[256], buf[64];
	open_store(f);
	snprintf(p, sizeof(p), "%s/evil.iso", f->dir);
	assert_int_equal(symlink(f->outside, p), 0);
	snprintf(p, sizeof(p), "%s/subdir", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	struct ipkvm_store_image im;

	assert_string_equal(listing(f), "");
	assert_int_equal(ipkvm_store_stat(f->s, "evil.iso", &im), -ENOENT);
	assert_int_equal(ipkvm_store_open_image(f->s, "evil.iso", O_RDONLY), -ENOENT);
	assert_int_equal(ipkvm_store_open_image(f->s, "subdir", O_RDONLY), -ENOENT);
	assert_int_equal(ipkvm_store_path(f->s, "evil.iso", p, sizeof(p)), -ENOENT);
	assert_int_equal(ipkvm_store_hold(f->s, "evil.iso"), -ENOENT);
	assert_int_equal(ipkvm_store_delete(f->s, "evil.iso"), -ENOENT);
	assert_int_equal(ipkvm_store_delete(f->s, "subdir"), -ENOENT);
	assert_int_equal(
	    ipkvm_store_begin(f->s, "evil.iso", -1, IPKVM_STORE_REPLACE, &ss, err, sizeof(err)),
	    -EEXIST);

	/* A symlink planted where a partial file goes: replaced, its target untouched. */
	snprintf(p, sizeof(p), "%s/.new.iso.part", f->dir);
	assert_int_equal(symlink(f->outside, p), 0);
	assert_int_equal(ipkvm_store_begin(f->s, "new.iso", 4, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "data", 4), 0);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
	assert_string_equal(listing(f), "new.iso:4:c");

	FILE *o = fopen(f->outside, "r");
	assert_non_null(o);
	assert_non_null(fgets(buf, sizeof(buf), o));
	fclose(o);
	assert_string_equal(buf, "secret");
	assert_string_equal(dir_entries(f), "evil.iso,new.iso,subdir");
}

static void test_one_session_per_name(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *a, *b = NULL, *c;
	char err[256];
	open_store(f);
	assert_int_equal(ipkvm_store_begin(f->s, "same.iso", -1, 0, &a, err, sizeof(err)), 0);
	assert_int_equal(
	    ipkvm_store_begin(f->s, "same.iso", -1, IPKVM_STORE_REPLACE, &b, err, sizeof(err)),
	    -EBUSY);
	assert_null(b);
	assert_string_equal(err, "same.iso is already being uploaded or downloaded");
	assert_int_equal(ipkvm_store_begin(f->s, "other.iso", -1, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(a, "aa", 2), 0);
	assert_int_equal(ipkvm_store_write(c, "c", 1), 0);
	assert_string_equal(listing(f), "other.iso:1:p,same.iso:2:p");
	assert_int_equal(ipkvm_store_commit(a, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_commit(c, err, sizeof(err)), 0);
	assert_string_equal(listing(f), "other.iso:1:c,same.iso:2:c");
}

static void test_replace_and_hold(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss;
	char err[256];
	open_store(f);
	put_image(f, "r.iso", 100);
	assert_int_equal(ipkvm_store_begin(f->s, "r.iso", 5, 0, &ss, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "image r.iso already exists");

	/* PUT replaces: both show while the new one is written. */
	assert_int_equal(
	    ipkvm_store_begin(f->s, "r.iso", 5, IPKVM_STORE_REPLACE, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "12345", 5), 0);
	assert_string_equal(listing(f), "r.iso:100:c,r.iso:5:p");
	/* An image being written cannot be attached. */
	assert_int_equal(ipkvm_store_hold(f->s, "r.iso"), -EBUSY);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
	assert_string_equal(listing(f), "r.iso:5:c");

	/* Attached: neither deleted nor replaced, counted per drive. */
	assert_int_equal(ipkvm_store_hold(f->s, "r.iso"), 0);
	assert_int_equal(ipkvm_store_hold(f->s, "r.iso"), 0);
	assert_true(ipkvm_store_held(f->s, "r.iso"));
	assert_int_equal(ipkvm_store_delete(f->s, "r.iso"), -EBUSY);
	assert_int_equal(
	    ipkvm_store_begin(f->s, "r.iso", 5, IPKVM_STORE_REPLACE, &ss, err, sizeof(err)),
	    -EBUSY);
	assert_string_equal(err, "image r.iso is attached to a drive");
	ipkvm_store_release(f->s, "r.iso");
	assert_int_equal(ipkvm_store_delete(f->s, "r.iso"), -EBUSY);
	ipkvm_store_release(f->s, "r.iso");
	assert_false(ipkvm_store_held(f->s, "r.iso"));

	/* A name that appeared while a non-replacing session wrote it is not overwritten. */
	assert_int_equal(ipkvm_store_begin(f->s, "n.iso", 1, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "z", 1), 0);
	char p[256];
	snprintf(p, sizeof(p), "%s/n.iso", f->dir);
	int fd = open(p, O_CREAT | O_WRONLY, 0640);
	close(fd);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "image n.iso already exists");
	assert_string_equal(dir_entries(f), "n.iso,r.iso");

	assert_int_equal(ipkvm_store_delete(f->s, "r.iso"), 0);
	assert_int_equal(ipkvm_store_hold(f->s, "r.iso"), -ENOENT);
}

/* [msd] max_size: images plus what live sessions reserved stay within the quota. */
static void test_quota(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *a, *b, *u;
	char err[256], p[256];
	int64_t quota, used;
	open_store(f);
	ipkvm_store_set_quota(f->s, 10000);
	assert_int_equal(ipkvm_store_usage(f->s, &quota, &used), 0);
	assert_int_equal(quota, 10000);
	assert_int_equal(used, 0);

	/* Over the quota up front: refused before a byte, nothing created. */
	assert_int_equal(ipkvm_store_begin(f->s, "big.iso", 10001, 0, &a, err, sizeof(err)),
			 -ENOSPC);
	assert_string_equal(err, "not enough space in the image store's quota of 10000 bytes "
				 "([msd] max_size): 10001 bytes needed, 10000 free");
	assert_string_equal(dir_entries(f), "");

	/* An announced size is reserved whole: a second session sees it taken. */
	assert_int_equal(ipkvm_store_begin(f->s, "a.iso", 6000, 0, &a, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_usage(f->s, &quota, &used), 0);
	assert_int_equal(used, 6000);
	assert_int_equal(ipkvm_store_begin(f->s, "b.iso", 5000, 0, &b, err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "not enough space in the image store's quota of 10000 bytes "
				 "([msd] max_size): 5000 bytes needed, 4000 free");
	assert_int_equal(ipkvm_store_begin(f->s, "b.iso", 4000, 0, &b, err, sizeof(err)), 0);
	ipkvm_store_abort(b);
	char buf[1000];
	memset(buf, 'q', sizeof(buf));
	for (int i = 0; i < 6; i++)
		assert_int_equal(ipkvm_store_write(a, buf, sizeof(buf)), 0);
	assert_int_equal(ipkvm_store_commit(a, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_usage(f->s, &quota, &used), 0);
	assert_int_equal(used, 6000);

	/* A file copied in by hand takes space too; a partial file is counted by its session
	 * only (a leftover one not at all). */
	snprintf(p, sizeof(p), "%s/hand.img", f->dir);
	FILE *h = fopen(p, "w");
	assert_non_null(h);
	assert_int_equal(fwrite(buf, 1, 1000, h), 1000);
	fclose(h);
	assert_int_equal(ipkvm_store_usage(f->s, &quota, &used), 0);
	assert_int_equal(used, 7000);

	/* An unknown size (a download without Content-Length) is checked as it is written. */
	assert_int_equal(ipkvm_store_begin(f->s, "u.iso", -1, 0, &u, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ipkvm_store_write(u, buf, sizeof(buf)), 0);
	assert_int_equal(ipkvm_store_usage(f->s, &quota, &used), 0);
	assert_int_equal(used, 10000);
	assert_int_equal(ipkvm_store_write(u, buf, 1), -ENOSPC);
	assert_int_equal(ipkvm_store_session_bytes(u), 3000);
	assert_int_equal(ipkvm_store_write(u, buf, 1), -ENOSPC); /* sticky */
	assert_int_equal(ipkvm_store_commit(u, err, sizeof(err)), -ENOSPC);
	assert_string_equal(dir_entries(f), "a.iso,hand.img");

	/* A size announced later (Content-Length of a download) is checked then. */
	assert_int_equal(ipkvm_store_begin(f->s, "e.iso", -1, 0, &u, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(u, buf, 500), 0);
	assert_int_equal(ipkvm_store_expect(u, 3001, err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "not enough space in the image store's quota of 10000 bytes "
				 "([msd] max_size): 3001 bytes needed, 3000 free");
	assert_int_equal(ipkvm_store_expect(u, 3000, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(u, buf, 1000), 0);
	ipkvm_store_abort(u);

	/* Replacing counts the old image until the new one takes its place. */
	assert_int_equal(
	    ipkvm_store_begin(f->s, "a.iso", 3001, IPKVM_STORE_REPLACE, &u, err, sizeof(err)),
	    -ENOSPC);

	/* A lowered quota under what is stored refuses new sessions, even of unknown size. */
	ipkvm_store_set_quota(f->s, 5000);
	assert_int_equal(ipkvm_store_begin(f->s, "x.iso", -1, 0, &u, err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "not enough space in the image store's quota of 5000 bytes "
				 "([msd] max_size): 0 bytes needed, 0 free");
	/* No quota: only the disk limits. */
	ipkvm_store_set_quota(f->s, 0);
	assert_int_equal(ipkvm_store_usage(f->s, &quota, &used), 0);
	assert_int_equal(quota, 0);
	assert_int_equal(ipkvm_store_begin(f->s, "x.iso", 20000, 0, &u, err, sizeof(err)), 0);
	ipkvm_store_abort(u);
	assert_string_equal(dir_entries(f), "a.iso,hand.img");
}

/* The in_use callback: what a drive serves outside the holds is just as busy. */
static const char *in_use_path;
static int in_use_calls;

static bool fake_in_use(void *ctx, const char *path)
{
	assert_ptr_equal(ctx, &in_use_calls);
	in_use_calls++;
	return in_use_path && strcmp(path, in_use_path) == 0;
}

static void test_in_use_callback(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss, *late;
	char err[256], served[300];
	open_store(f);
	put_image(f, "served.iso", 100);
	put_image(f, "free.iso", 100);
	snprintf(served, sizeof(served), "%s/served.iso", ipkvm_store_dir(f->s));
	ipkvm_store_set_in_use(f->s, fake_in_use, &in_use_calls);
	in_use_path = served;

	assert_true(ipkvm_store_held(f->s, "served.iso"));
	assert_false(ipkvm_store_held(f->s, "free.iso"));
	assert_int_equal(ipkvm_store_delete(f->s, "served.iso"), -EBUSY);
	assert_int_equal(
	    ipkvm_store_begin(f->s, "served.iso", 5, IPKVM_STORE_REPLACE, &ss, err, sizeof(err)),
	    -EBUSY);
	assert_string_equal(err, "image served.iso is attached to a drive");
	/* A replacement begun before the drive took the image is refused at commit. */
	in_use_path = NULL;
	assert_int_equal(
	    ipkvm_store_begin(f->s, "served.iso", 1, IPKVM_STORE_REPLACE, &late, err, sizeof(err)),
	    0);
	assert_int_equal(ipkvm_store_write(late, "z", 1), 0);
	in_use_path = served;
	assert_int_equal(ipkvm_store_commit(late, err, sizeof(err)), -EBUSY);
	assert_string_equal(err, "image served.iso is attached to a drive");
	assert_string_equal(listing(f), "free.iso:100:c,served.iso:100:c");
	assert_int_equal(ipkvm_store_delete(f->s, "free.iso"), 0);
	assert_true(in_use_calls >= 5);

	/* The drive let go: the image may change again; no callback, no check. */
	in_use_path = NULL;
	assert_int_equal(ipkvm_store_delete(f->s, "served.iso"), 0);
	ipkvm_store_set_in_use(f->s, NULL, NULL);
	assert_string_equal(dir_entries(f), "");
}

static void test_list_json(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss, *ss2;
	char err[256], p[256];
	open_store(f);
	put_image(f, "b.img", 1234);
	snprintf(p, sizeof(p), "%s/b.img", f->dir);
	struct timespec ts[2] = {{1700000000, 0}, {1700000000, 0}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	assert_int_equal(ipkvm_store_begin(f->s, "a.iso", 10, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "abc", 3), 0);
	assert_int_equal(ipkvm_store_begin(f->s, "c.iso", -1, 0, &ss2, err, sizeof(err)), 0);
	json_t *j = ipkvm_store_list_json(f->s);
	assert_non_null(j);
	/* mtime of a session is its start: replace it by 0 for an exact comparison. */
	json_object_set_new(json_array_get(j, 0), "mtime", json_integer(0));
	json_object_set_new(json_array_get(j, 2), "mtime", json_integer(0));
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    s, "[{\"complete\":false,\"expected\":10,\"mtime\":0,\"name\":\"a.iso\",\"size\":3},"
	       "{\"complete\":true,\"mtime\":1700000000,\"name\":\"b.img\",\"size\":1234},"
	       "{\"complete\":false,\"expected\":null,\"mtime\":0,\"name\":\"c.iso\","
	       "\"size\":0}]");
	free(s);
	json_decref(j);
	ipkvm_store_abort(ss);
	ipkvm_store_abort(ss2);
}

static void test_destroy_aborts_sessions(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store_session *ss;
	char err[256];
	open_store(f);
	put_image(f, "keep.iso", 3);
	assert_int_equal(ipkvm_store_begin(f->s, "live.iso", -1, 0, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "abc", 3), 0);
	assert_int_equal(ipkvm_store_hold(f->s, "keep.iso"), 0);
	assert_string_equal(dir_entries(f), ".live.iso.part,keep.iso");
	ipkvm_store_destroy(f->s);
	f->s = NULL;
	assert_string_equal(dir_entries(f), "keep.iso");
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct ipkvm_store *s = NULL;
	char err[256], p[256];
	snprintf(p, sizeof(p), "%s/file", f->outside);
	assert_int_equal(ipkvm_store_open(p, &s, err, sizeof(err)), -ENOTDIR);
	assert_null(s);
	char want[300];
	snprintf(want, sizeof(want), "cannot create %s: Not a directory", p);
	assert_string_equal(err, want);
}

int main(void)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test_setup_teardown(test_upload_commit_listed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_writes_and_eintr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_upload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leftovers_removed_at_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_space_up_front, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_full_while_writing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks_not_followed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_session_per_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_and_hold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_use_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_destroy_aborts_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
