/*
 * Unit tests for msd/drive. The gadget backend runs against a fake LUN tree in a temp dir
 * (lun.N/{cdrom,ro,file,forced_eject} pre-created, as the kernel would), with the write seam
 * playing the kernel: it records every write in order, refuses ro/cdrom changes while a file
 * is attached (and counts that as a violation: it must never happen), answers EBUSY to an
 * eject while the "host" holds the medium locked, and makes forced_eject detach the file.
 * Covered: write order and final contents, busy drive, eject (plain, forced, forced missing),
 * bad LUN, rw+cdrom, bad paths, in_use by path and by inode, host-side eject, state JSON
 * (incl. an attachment found at start), a missing LUN tree, the ops backend, and the store
 * refusing to change an image a LUN serves that this process never attached.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "msd/drive.h"
#include "msd/store.h"

struct fx {
	char tmp[64];
	char ms[128];  /* fake functions/mass_storage.usb0 */
	char iso[128]; /* an image file */
	char img[128]; /* another one */
	char lnk[128]; /* a symlink to iso */
	char log[2048];
	int violations;
	bool locked; /* the "host" prevents medium removal */
	struct ipkvm_drives *d;
	char err[512];
};

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void lun_put(struct fx *f, unsigned n, const char *attr, const char *text)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/lun.%u/%s", f->ms, n, attr);
	put(p, text);
}

static char *lun_get(struct fx *f, unsigned n, const char *attr)
{
	char p[PATH_MAX];
	char *buf = NULL;
	snprintf(p, sizeof(p), "%s/lun.%u/%s", f->ms, n, attr);
	assert_int_equal(ipkvm_read_file(p, 65536, &buf, NULL), 0);
	return buf;
}

static void assert_lun(struct fx *f, unsigned n, const char *attr, const char *want)
{
	char *got = lun_get(f, n, attr);
	assert_string_equal(got, want);
	free(got);
}

/* The fake kernel behind the write seam. */
static int fake_write(void *ctx, const char *path, const char *data, size_t len)
{
	struct fx *f = ctx;
	const char *attr = strrchr(path, '/') + 1;
	char dir[PATH_MAX], filep[PATH_MAX + 8];
	if (strcmp(attr, "UDC") == 0) { /* the gadget's bind file: record and write */
		size_t used = strlen(f->log);
		snprintf(f->log + used, sizeof(f->log) - used, "UDC=%.*s;",
			 (int)(len && data[len - 1] == '\n' ? len - 1 : len), data);
		int fd = open(path, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, data, len), (ssize_t)len);
		close(fd);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)(attr - 1 - path), path);
	const char *lun = strrchr(dir, '/') + 1;
	char entry[PATH_MAX + 64];
	snprintf(entry, sizeof(entry), "%s/%s=%.*s;", lun, attr,
		 (int)(len && data[len - 1] == '\n' ? len - 1 : len), data);
	size_t used = strlen(f->log);
	snprintf(f->log + used, sizeof(f->log) - used, "%s", entry);

	snprintf(filep, sizeof(filep), "%s/file", dir);
	char *cur = NULL;
	assert_int_equal(ipkvm_read_file(filep, 65536, &cur, NULL), 0);
	bool open_ = strcmp(cur, "\n") != 0 && cur[0] != '\0';
	free(cur);
	if ((strcmp(attr, "ro") == 0 || strcmp(attr, "cdrom") == 0) && open_) {
		f->violations++;
		return -EBUSY;
	}
	if (strcmp(attr, "file") == 0 && open_ && f->locked)
		return -EBUSY;
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -errno;
	if (strcmp(attr, "forced_eject") == 0) {
		close(fd);
		put(filep, "\n");
		return 0;
	}
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_drive-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->ms, sizeof(f->ms), "%s/g/functions/mass_storage.usb0", f->tmp);
	snprintf(f->iso, sizeof(f->iso), "%s/debian.iso", f->tmp);
	snprintf(f->img, sizeof(f->img), "%s/disk.img", f->tmp);
	snprintf(f->lnk, sizeof(f->lnk), "%s/link.iso", f->tmp);
	put(f->iso, "ISO");
	assert_int_equal(truncate(f->iso, 300 * 2048), 0); /* the kernel's smallest CD-ROM */
	put(f->img, "IMG");
	assert_int_equal(symlink(f->iso, f->lnk), 0);
	for (unsigned n = 0; n < 2; n++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/lun.%u", f->ms, n);
		assert_int_equal(ipkvm_mkdir_p(p, 0755), 0);
		/* What the kernel shows for a fresh removable LUN (forced_eject is write-only). */
		lun_put(f, n, "cdrom", "0\n");
		lun_put(f, n, "ro", "0\n");
		lun_put(f, n, "file", "\n");
		lun_put(f, n, "forced_eject", "");
	}
	f->d = ipkvm_drives_create_gadget(f->ms, 2);
	assert_non_null(f->d);
	ipkvm_drives_set_write_fn(f->d, fake_write, f);
	*state = f;
	return 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ipkvm_drives_destroy(f->d);
	nftw(f->tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void test_attach_order_and_contents(void **state)
{
	struct fx *f = *state;
	char want[1024];
	assert_int_equal(ipkvm_drives_attach(f->d, 1, f->iso, true, false, f->err, sizeof(f->err)),
			 0);
	snprintf(want, sizeof(want), "lun.1/cdrom=1;lun.1/ro=1;lun.1/file=%s;", f->iso);
	assert_string_equal(f->log, want);
	assert_lun(f, 1, "cdrom", "1\n");
	assert_lun(f, 1, "ro", "1\n");
	char filew[256];
	snprintf(filew, sizeof(filew), "%s\n", f->iso);
	assert_lun(f, 1, "file", filew);

	f->log[0] = '\0';
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->img, false, true, f->err, sizeof(f->err)),
			 0);
	snprintf(want, sizeof(want), "lun.0/cdrom=0;lun.0/ro=0;lun.0/file=%s;", f->img);
	assert_string_equal(f->log, want);

	/* Read-only flash. */
	assert_int_equal(ipkvm_drives_eject(f->d, 0, f->err, sizeof(f->err)), 0);
	f->log[0] = '\0';
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->img, false, false, f->err, sizeof(f->err)),
			 0);
	snprintf(want, sizeof(want), "lun.0/cdrom=0;lun.0/ro=1;lun.0/file=%s;", f->img);
	assert_string_equal(f->log, want);
	assert_int_equal(f->violations, 0);
}

static void test_attach_busy_drive(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->iso, true, false, f->err, sizeof(f->err)),
			 0);
	f->log[0] = '\0';
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->img, false, true, f->err, sizeof(f->err)),
			 -EBUSY);
	assert_non_null(strstr(f->err, "eject it first"));
	assert_string_equal(f->log, ""); /* nothing written: ro/cdrom never touched */
	assert_int_equal(f->violations, 0);
}

static void test_eject(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->iso, true, false, f->err, sizeof(f->err)),
			 0);
	f->log[0] = '\0';
	assert_int_equal(ipkvm_drives_eject(f->d, 0, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->log, "lun.0/file=;");
	assert_lun(f, 0, "file", "\n");
	/* Empty drive: nothing to do. */
	f->log[0] = '\0';
	assert_int_equal(ipkvm_drives_eject(f->d, 0, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->log, "");
	/* Then attach with another mode: ro/cdrom written after the eject, no violation. */
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->img, false, true, f->err, sizeof(f->err)),
			 0);
	assert_lun(f, 0, "cdrom", "0\n");
	assert_lun(f, 0, "ro", "0\n");
	assert_int_equal(f->violations, 0);
}

static void test_forced_eject(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_drives_attach(f->d, 1, f->iso, true, false, f->err, sizeof(f->err)),
			 0);
	f->locked = true;
	f->log[0] = '\0';
	assert_int_equal(ipkvm_drives_eject(f->d, 1, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->log, "lun.1/file=;lun.1/forced_eject=1;");
	assert_lun(f, 1, "file", "\n");
	assert_false(ipkvm_drives_in_use(f->d, f->iso));
}

static void test_forced_eject_missing(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_drives_attach(f->d, 1, f->iso, true, false, f->err, sizeof(f->err)),
			 0);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/lun.1/forced_eject", f->ms);
	assert_int_equal(unlink(p), 0); /* a kernel before 6.0 */
	f->locked = true;
	assert_int_equal(ipkvm_drives_eject(f->d, 1, f->err, sizeof(f->err)), -EBUSY);
	assert_non_null(strstr(f->err, "the target holds the drive locked"));
	assert_true(ipkvm_drives_in_use(f->d, f->iso));
	/* Once the host lets go, a plain eject works. */
	f->locked = false;
	assert_int_equal(ipkvm_drives_eject(f->d, 1, f->err, sizeof(f->err)), 0);
	assert_false(ipkvm_drives_in_use(f->d, f->iso));
}

static void test_bad_arguments(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_drives_count(f->d), 2);
	assert_int_equal(ipkvm_drives_attach(f->d, 2, f->iso, true, false, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_non_null(strstr(f->err, "no drive 2"));
	assert_int_equal(ipkvm_drives_eject(f->d, 7, f->err, sizeof(f->err)), -EINVAL);
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->iso, true, true, f->err, sizeof(f->err)),
			 -EROFS);
	assert_int_equal(
	    ipkvm_drives_attach(f->d, 0, "rel/a.iso", false, false, f->err, sizeof(f->err)),
	    -EINVAL);
	assert_int_equal(
	    ipkvm_drives_attach(f->d, 0, "/a\nb.iso", false, false, f->err, sizeof(f->err)),
	    -EINVAL);
	assert_int_equal(ipkvm_drives_attach(f->d, 0, NULL, false, false, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_string_equal(f->log, "");
	assert_null(ipkvm_drives_create_gadget(f->ms, IPKVM_DRIVES_MAX + 1));
	assert_null(ipkvm_drives_create_gadget("", 1));
}

static void test_in_use(void **state)
{
	struct fx *f = *state;
	assert_false(ipkvm_drives_in_use(f->d, f->iso));
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->iso, true, false, f->err, sizeof(f->err)),
			 0);
	assert_true(ipkvm_drives_in_use(f->d, f->iso));
	assert_true(ipkvm_drives_in_use(f->d, f->lnk)); /* same file by inode */
	assert_false(ipkvm_drives_in_use(f->d, f->img));
	assert_false(ipkvm_drives_in_use(f->d, "/nonexistent.iso"));
	/* The host ejects the medium itself: no longer in use, and the drive is free. */
	lun_put(f, 0, "file", "\n");
	assert_false(ipkvm_drives_in_use(f->d, f->iso));
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->img, false, true, f->err, sizeof(f->err)),
			 0);
	assert_true(ipkvm_drives_in_use(f->d, f->img));
}

static char *state_str(struct ipkvm_drives *d)
{
	json_t *j = ipkvm_drives_state(d);
	assert_non_null(j);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

static void test_state_json(void **state)
{
	struct fx *f = *state;
	char *s = state_str(f->d);
	assert_string_equal(
	    s, "[{\"cdrom\":false,\"image\":null,\"lun\":0,\"path\":null,\"rw\":false},"
	       "{\"cdrom\":false,\"image\":null,\"lun\":1,\"path\":null,\"rw\":false}]");
	free(s);
	/* Attached through a symlink: reported under our path while the kernel has that file
	 * (a kernel shows the resolved path; the fake shows what was written). */
	assert_int_equal(ipkvm_drives_attach(f->d, 1, f->lnk, true, false, f->err, sizeof(f->err)),
			 0);
	char want[1024];
	s = state_str(f->d);
	snprintf(want, sizeof(want),
		 "[{\"cdrom\":false,\"image\":null,\"lun\":0,\"path\":null,\"rw\":false},"
		 "{\"cdrom\":true,\"image\":\"link.iso\",\"lun\":1,\"path\":\"%s\",\"rw\":false}]",
		 f->lnk);
	assert_string_equal(s, want);
	free(s);
	/* The kernel's resolved path, as a real kernel would show it: still our name. */
	char kp[256];
	snprintf(kp, sizeof(kp), "%s\n", f->iso);
	lun_put(f, 1, "file", kp);
	s = state_str(f->d);
	assert_string_equal(s, want);
	free(s);
}

static void test_state_found_at_start(void **state)
{
	struct fx *f = *state;
	char kp[256];
	snprintf(kp, sizeof(kp), "%s\n", f->img);
	lun_put(f, 0, "file", kp);
	lun_put(f, 0, "ro", "0\n");
	struct ipkvm_drives *d = ipkvm_drives_create_gadget(f->ms, 2);
	assert_non_null(d);
	char *s = state_str(d);
	char want[1024];
	snprintf(want, sizeof(want),
		 "[{\"cdrom\":false,\"image\":\"disk.img\",\"lun\":0,\"path\":\"%s\",\"rw\":true},"
		 "{\"cdrom\":false,\"image\":null,\"lun\":1,\"path\":null,\"rw\":false}]",
		 f->img);
	assert_string_equal(s, want);
	free(s);
	assert_true(ipkvm_drives_in_use(d, f->img));
	ipkvm_drives_destroy(d);
}

static void test_gadget_not_up(void **state)
{
	struct fx *f = *state;
	char p[256];
	snprintf(p, sizeof(p), "%s/nope", f->tmp);
	struct ipkvm_drives *d = ipkvm_drives_create_gadget(p, 1);
	assert_non_null(d);
	assert_int_equal(ipkvm_drives_attach(d, 0, f->iso, true, false, f->err, sizeof(f->err)),
			 -ENOENT);
	assert_non_null(strstr(f->err, "is the USB gadget up?"));
	assert_int_equal(ipkvm_drives_eject(d, 0, f->err, sizeof(f->err)), -ENOENT);
	assert_false(ipkvm_drives_in_use(d, f->iso));
	char *s = state_str(d);
	assert_string_equal(
	    s, "[{\"cdrom\":false,\"image\":null,\"lun\":0,\"path\":null,\"rw\":false}]");
	free(s);
	ipkvm_drives_destroy(d);
}

static void test_default_write(void **state)
{
	/* Without the seam: real writes into the pre-created attribute files. */
	struct fx *f = *state;
	ipkvm_drives_set_write_fn(f->d, NULL, NULL);
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->iso, true, false, f->err, sizeof(f->err)),
			 0);
	char filew[256];
	snprintf(filew, sizeof(filew), "%s\n", f->iso);
	assert_lun(f, 0, "file", filew);
	assert_lun(f, 0, "cdrom", "1\n");
	assert_lun(f, 0, "ro", "1\n");
	assert_int_equal(ipkvm_drives_eject(f->d, 0, f->err, sizeof(f->err)), 0);
	assert_lun(f, 0, "file", "\n");
}

/* ---- ops backend ---- */

struct ops_rec {
	char log[512];
	int fail;
};

static int ops_attach(void *ctx, unsigned lun, const char *path, bool cdrom, bool rw)
{
	struct ops_rec *o = ctx;
	if (o->fail)
		return o->fail;
	char e[256];
	snprintf(e, sizeof(e), "attach %u %s %d %d;", lun, strrchr(path, '/') + 1, cdrom, rw);
	strncat(o->log, e, sizeof(o->log) - strlen(o->log) - 1);
	return 0;
}

static int ops_eject(void *ctx, unsigned lun)
{
	struct ops_rec *o = ctx;
	char e[64];
	snprintf(e, sizeof(e), "eject %u;", lun);
	strncat(o->log, e, sizeof(o->log) - strlen(o->log) - 1);
	return 0;
}

static void test_ops_backend(void **state)
{
	struct fx *f = *state;
	struct ops_rec rec = {0};
	const struct ipkvm_drive_ops ops = {ops_attach, ops_eject};
	struct ipkvm_drives *d = ipkvm_drives_create_ops(&ops, &rec, 2);
	assert_non_null(d);
	assert_int_equal(ipkvm_drives_eject(d, 0, f->err, sizeof(f->err)), 0); /* empty: no call */
	assert_int_equal(ipkvm_drives_attach(d, 1, f->iso, true, false, f->err, sizeof(f->err)), 0);
	assert_int_equal(ipkvm_drives_attach(d, 1, f->img, false, true, f->err, sizeof(f->err)),
			 -EBUSY);
	assert_int_equal(ipkvm_drives_attach(d, 0, f->img, true, true, f->err, sizeof(f->err)),
			 -EROFS);
	assert_true(ipkvm_drives_in_use(d, f->iso));
	assert_true(ipkvm_drives_in_use(d, f->lnk));
	assert_false(ipkvm_drives_in_use(d, f->img));
	char *s = state_str(d);
	char want[1024];
	snprintf(
	    want, sizeof(want),
	    "[{\"cdrom\":false,\"image\":null,\"lun\":0,\"path\":null,\"rw\":false},"
	    "{\"cdrom\":true,\"image\":\"debian.iso\",\"lun\":1,\"path\":\"%s\",\"rw\":false}]",
	    f->iso);
	assert_string_equal(s, want);
	free(s);
	rec.fail = -EIO;
	assert_int_equal(ipkvm_drives_attach(d, 0, f->img, false, true, f->err, sizeof(f->err)),
			 -EIO);
	assert_false(ipkvm_drives_in_use(d, f->img));
	rec.fail = 0;
	assert_int_equal(ipkvm_drives_eject(d, 1, f->err, sizeof(f->err)), 0);
	assert_false(ipkvm_drives_in_use(d, f->iso));
	assert_string_equal(rec.log, "attach 1 debian.iso 1 0;eject 1;");
	s = state_str(d);
	assert_string_equal(
	    s, "[{\"cdrom\":false,\"image\":null,\"lun\":0,\"path\":null,\"rw\":false},"
	       "{\"cdrom\":false,\"image\":null,\"lun\":1,\"path\":null,\"rw\":false}]");
	free(s);
	ipkvm_drives_destroy(d);
	const struct ipkvm_drive_ops bad = {ops_attach, NULL};
	assert_null(ipkvm_drives_create_ops(&bad, &rec, 1));
}

/* After a restart that kept the gadget, the LUN still serves an image the new daemon never
 * attached (no hold): with the drives guarding the store, it is neither deleted nor replaced,
 * by an upload or a download's commit, until the LUN lets go of it. */
static void test_guard_store(void **state)
{
	struct fx *f = *state;
	struct ipkvm_store *s;
	struct ipkvm_store_session *ss;
	char dir[PATH_MAX], path[PATH_MAX + 8], err[256];
	snprintf(dir, sizeof(dir), "%s/images", f->tmp);
	assert_int_equal(ipkvm_store_open(dir, &s, err, sizeof(err)), 0);
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "other.img" : "served.iso";
		assert_int_equal(ipkvm_store_begin(s, name, 3, 0, &ss, err, sizeof(err)), 0);
		assert_int_equal(ipkvm_store_write(ss, "abc", 3), 0);
		assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), 0);
	}
	/* What the kernel shows: the resolved path of the file it has open. */
	assert_int_equal(ipkvm_store_path(s, "served.iso", path, sizeof(path)), 0);
	strcat(path, "\n");
	lun_put(f, 1, "file", path);

	struct ipkvm_drives *d = ipkvm_drives_create_gadget(f->ms, 2); /* the new daemon's */
	assert_non_null(d);
	ipkvm_drives_guard_store(d, s);
	assert_true(ipkvm_store_held(s, "served.iso"));
	assert_false(ipkvm_store_held(s, "other.img"));
	assert_int_equal(ipkvm_store_delete(s, "served.iso"), -EBUSY);
	assert_int_equal(
	    ipkvm_store_begin(s, "served.iso", 3, IPKVM_STORE_REPLACE, &ss, err, sizeof(err)),
	    -EBUSY);
	assert_string_equal(err, "image served.iso is attached to a drive");
	/* A replacement that began while the drive was empty cannot land once it is not. */
	lun_put(f, 1, "file", "\n");
	assert_int_equal(
	    ipkvm_store_begin(s, "served.iso", 3, IPKVM_STORE_REPLACE, &ss, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_store_write(ss, "xyz", 3), 0);
	lun_put(f, 1, "file", path);
	assert_int_equal(ipkvm_store_commit(ss, err, sizeof(err)), -EBUSY);
	assert_int_equal(ipkvm_store_delete(s, "other.img"), 0);

	/* The host ejected it: free to go. */
	lun_put(f, 1, "file", "\n");
	assert_false(ipkvm_store_held(s, "served.iso"));
	assert_int_equal(ipkvm_store_delete(s, "served.iso"), 0);
	ipkvm_store_destroy(s);
	ipkvm_drives_destroy(d);

	/* The ops backend adds no callback (its attachments go through holds). */
	struct ops_rec rec = {0};
	const struct ipkvm_drive_ops ops = {ops_attach, ops_eject};
	assert_int_equal(ipkvm_store_open(dir, &s, err, sizeof(err)), 0);
	d = ipkvm_drives_create_ops(&ops, &rec, 1);
	assert_non_null(d);
	ipkvm_drives_guard_store(d, s);
	assert_false(ipkvm_store_held(s, "served.iso"));
	ipkvm_drives_destroy(d);
	ipkvm_store_destroy(s);
}

/* The kernel refuses CD-ROM images under 300 sectors: said clearly, before any write. */
static void test_small_cd_refused(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->img, true, false, f->err, sizeof(f->err)),
			 -EMSGSIZE);
	assert_non_null(strstr(f->err, "600 KiB"));
	assert_string_equal(f->log, "");
	/* As a flash disk it is fine. */
	assert_int_equal(ipkvm_drives_attach(f->d, 0, f->img, false, false, f->err, sizeof(f->err)),
			 0);
}

/* The host reads a drive's type only when it enumerates the gadget: a type change unbinds
 * and binds it again; attaching the same type does not. */
static void test_type_change_replugs(void **state)
{
	struct fx *f = *state;
	char udc[PATH_MAX];
	snprintf(udc, sizeof(udc), "%s/g/UDC", f->tmp);
	put(udc, "dummy_udc.0\n");
	assert_int_equal(ipkvm_drives_attach(f->d, 1, f->iso, true, false, f->err, sizeof(f->err)),
			 0);
	char want[PATH_MAX * 2];
	snprintf(want, sizeof(want), "lun.1/cdrom=1;lun.1/ro=1;lun.1/file=%s;UDC=;", f->iso);
	assert_string_equal(f->log, want); /* unplugged... */
	assert_true(ipkvm_drives_rebind_pending(f->d));
	assert_int_equal(ipkvm_drives_rebind(f->d), 0); /* ...and plugged in again */
	assert_false(ipkvm_drives_rebind_pending(f->d));
	assert_int_equal(ipkvm_drives_rebind(f->d), -EALREADY);
	snprintf(want, sizeof(want), "lun.1/cdrom=1;lun.1/ro=1;lun.1/file=%s;UDC=;UDC=dummy_udc.0;",
		 f->iso);
	assert_string_equal(f->log, want);
	char *cur = NULL;
	assert_int_equal(ipkvm_read_file(udc, 256, &cur, NULL), 0);
	assert_string_equal(cur, "dummy_udc.0\n");
	free(cur);
	assert_int_equal(ipkvm_drives_eject(f->d, 1, f->err, sizeof(f->err)), 0);
	f->log[0] = '\0';
	assert_int_equal(ipkvm_drives_attach(f->d, 1, f->lnk, true, false, f->err, sizeof(f->err)),
			 0);
	snprintf(want, sizeof(want), "lun.1/cdrom=1;lun.1/ro=1;lun.1/file=%s;", f->lnk);
	assert_string_equal(f->log, want); /* still a CD-ROM: no replug */
	assert_false(ipkvm_drives_rebind_pending(f->d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_attach_order_and_contents, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attach_busy_drive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eject, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forced_eject, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forced_eject_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_found_at_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gadget_not_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ops_backend, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guard_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_cd_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_type_change_replugs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
