/*
 * Unit tests for msd/msd, the virtual media service: which image each drive holds, the holds
 * an attach takes on the store and an eject gives back (so an attached image is in use and
 * cannot be deleted), the errors of a busy drive, a missing drive, a missing image or one
 * still being written, the rebind timer after a type change (a fake gadget tree in a temp
 * dir, as in test_drive.c: lun.N files and the gadget's UDC file; the timer is a recorded
 * callback, fired by hand), the change callback, the state JSON, and a failing creation.
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
#include "msd/msd.h"

struct fx {
	char tmp[64];
	char dir[128]; /* the image store */
	char ms[128];  /* fake functions/mass_storage.usb0 */
	char udc[128]; /* the fake gadget's UDC file */
	int changed;
	int timers;	     /* timer requests */
	int64_t timer_delay; /* the last one */
	char ops_log[512];   /* the virtual target's side (ops backend) */
	struct ipkvm_msd *m;
	char err[512];
};

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static char *get(const char *path)
{
	char *buf = NULL;
	assert_int_equal(ipkvm_read_file(path, 65536, &buf, NULL), 0);
	return buf;
}

static void on_changed(void *ctx)
{
	((struct fx *)ctx)->changed++;
}

static void on_timer(void *ctx, int64_t delay_ms)
{
	struct fx *f = ctx;
	f->timers++;
	f->timer_delay = delay_ms;
}

static int ops_attach(void *ctx, unsigned lun, const char *path, bool cdrom, bool rw)
{
	struct fx *f = ctx;
	char e[256];
	snprintf(e, sizeof(e), "attach %u %s;", lun, strrchr(path, '/') + 1);
	strncat(f->ops_log, e, sizeof(f->ops_log) - strlen(f->ops_log) - 1);
	return 0;
}

static int ops_eject(void *ctx, unsigned lun)
{
	struct fx *f = ctx;
	char e[64];
	snprintf(e, sizeof(e), "eject %u;", lun);
	strncat(f->ops_log, e, sizeof(f->ops_log) - strlen(f->ops_log) - 1);
	return 0;
}

/* Makes the service on drives (taken over) with the recording callbacks. */
static void make(struct fx *f, struct ipkvm_drives *d)
{
	struct ipkvm_msd_config c = {
	    .dir = f->dir, .drives = d, .cb = {.ctx = f, .timer = on_timer, .changed = on_changed}};
	f->m = ipkvm_msd_create(&c, f->err, sizeof(f->err));
	assert_non_null(f->m);
}

static struct ipkvm_drives *ops_drives(struct fx *f, unsigned n)
{
	static const struct ipkvm_drive_ops ops = {ops_attach, ops_eject};
	struct ipkvm_drives *d = ipkvm_drives_create_ops(&ops, f, n);
	assert_non_null(d);
	return d;
}

/* A complete image of size bytes in the store. */
static void image(struct fx *f, const char *name, size_t size)
{
	struct ipkvm_store_session *ss;
	char *buf = calloc(1, size);
	assert_non_null(buf);
	struct ipkvm_store *s = ipkvm_msd_store(f->m);
	assert_int_equal(ipkvm_store_begin(s, name, (int64_t)size, 0, &ss, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(ipkvm_store_write(ss, buf, size), 0);
	assert_int_equal(ipkvm_store_commit(ss, f->err, sizeof(f->err)), 0);
	free(buf);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_msd-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->dir, sizeof(f->dir), "%s/images", f->tmp);
	snprintf(f->ms, sizeof(f->ms), "%s/g/functions/mass_storage.usb0", f->tmp);
	snprintf(f->udc, sizeof(f->udc), "%s/g/UDC", f->tmp);
	for (unsigned n = 0; n < 2; n++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/lun.%u", f->ms, n);
		assert_int_equal(ipkvm_mkdir_p(p, 0755), 0);
		const char *attrs[] = {"cdrom", "ro", "file", "forced_eject"};
		const char *vals[] = {"0\n", "0\n", "\n", ""};
		for (int i = 0; i < 4; i++) {
			char a[PATH_MAX + 16];
			snprintf(a, sizeof(a), "%s/%s", p, attrs[i]);
			put(a, vals[i]);
		}
	}
	put(f->udc, "dummy_udc.0\n");
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
	ipkvm_msd_destroy(f->m);
	nftw(f->tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Attach holds the image (in use: no delete), eject lets it go; each says it changed. */
static void test_attach_eject(void **state)
{
	struct fx *f = *state;
	make(f, ops_drives(f, 2));
	image(f, "a.iso", 4096);
	assert_int_equal(ipkvm_msd_drive_count(f->m), 2);
	assert_string_equal(ipkvm_msd_drive_image(f->m, 1), "");
	assert_int_equal(ipkvm_msd_attach(f->m, 1, "a.iso", true, false, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(f->changed, 1);
	assert_string_equal(ipkvm_msd_drive_image(f->m, 1), "a.iso");
	assert_string_equal(ipkvm_msd_drive_image(f->m, 7), ""); /* no such drive */
	assert_true(ipkvm_msd_in_use(f->m, "a.iso"));
	assert_int_equal(ipkvm_msd_delete(f->m, "a.iso"), -EBUSY);
	/* Two drives may hold one image: the hold is counted. */
	assert_int_equal(ipkvm_msd_attach(f->m, 0, "a.iso", false, false, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(ipkvm_msd_eject(f->m, 1, f->err, sizeof(f->err)), 0);
	assert_true(ipkvm_msd_in_use(f->m, "a.iso"));
	assert_int_equal(ipkvm_msd_eject(f->m, 0, f->err, sizeof(f->err)), 0);
	assert_false(ipkvm_msd_in_use(f->m, "a.iso"));
	assert_string_equal(ipkvm_msd_drive_image(f->m, 1), "");
	assert_int_equal(f->changed, 4);
	/* An empty drive ejects fine (nothing to release). */
	assert_int_equal(ipkvm_msd_eject(f->m, 1, f->err, sizeof(f->err)), 0);
	assert_int_equal(ipkvm_msd_delete(f->m, "a.iso"), 0);
	assert_int_equal(f->changed, 6);
	assert_int_equal(ipkvm_msd_delete(f->m, "a.iso"), -ENOENT);
	assert_int_equal(f->changed, 6);
	assert_string_equal(f->ops_log, "attach 1 a.iso;attach 0 a.iso;eject 1;eject 0;");
	assert_int_equal(f->timers, 0); /* the virtual target never unplugs */
}

static void test_attach_errors(void **state)
{
	struct fx *f = *state;
	make(f, ops_drives(f, 2));
	image(f, "a.iso", 4096);
	image(f, "b.img", 4096);
	assert_int_equal(ipkvm_msd_attach(f->m, 2, "a.iso", true, false, f->err, sizeof(f->err)),
			 -ENXIO);
	assert_string_equal(f->err, "no drive 2 (there are 2)");
	assert_int_equal(ipkvm_msd_eject(f->m, 5, f->err, sizeof(f->err)), -ENXIO);
	assert_int_equal(ipkvm_msd_attach(f->m, 0, "none.iso", true, false, f->err, sizeof(f->err)),
			 -ENOENT);
	assert_int_equal(ipkvm_msd_attach(f->m, 0, "../x", true, false, f->err, sizeof(f->err)),
			 -EINVAL);
	/* rw with a CD-ROM: refused, and the hold it took is given back. */
	assert_int_equal(ipkvm_msd_attach(f->m, 0, "a.iso", true, true, f->err, sizeof(f->err)),
			 -EROFS);
	assert_false(ipkvm_msd_in_use(f->m, "a.iso"));
	assert_string_equal(ipkvm_msd_drive_image(f->m, 0), "");
	/* A busy drive: eject first. */
	assert_int_equal(ipkvm_msd_attach(f->m, 0, "a.iso", true, false, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(ipkvm_msd_attach(f->m, 0, "b.img", false, true, f->err, sizeof(f->err)),
			 -EBUSY);
	assert_string_equal(f->err, "drive 0 holds a.iso: eject it first");
	assert_false(ipkvm_msd_in_use(f->m, "b.img"));
	/* An image being written (a replacement in progress) cannot be attached. */
	struct ipkvm_store_session *ss;
	assert_int_equal(
	    ipkvm_store_begin(ipkvm_msd_store(f->m), "c.img", 10, 0, &ss, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(ipkvm_msd_attach(f->m, 1, "c.img", false, false, f->err, sizeof(f->err)),
			 -ENOENT); /* not complete yet */
	assert_int_equal(ipkvm_store_begin(ipkvm_msd_store(f->m), "b.img", 10, IPKVM_STORE_REPLACE,
					   &ss, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(ipkvm_msd_attach(f->m, 1, "b.img", false, false, f->err, sizeof(f->err)),
			 -EBUSY);
	assert_string_equal(f->err, "b.img is still being written");
	assert_int_equal(f->changed, 1); /* only the one attach that worked */
}

/* Without drives, images can only be kept. */
static void test_no_drives(void **state)
{
	struct fx *f = *state;
	make(f, NULL);
	image(f, "a.iso", 4096);
	assert_int_equal(ipkvm_msd_drive_count(f->m), 0);
	assert_string_equal(ipkvm_msd_drive_image(f->m, 0), "");
	assert_int_equal(ipkvm_msd_attach(f->m, 0, "a.iso", true, false, f->err, sizeof(f->err)),
			 -ENODEV);
	assert_string_equal(f->err, "no drives to attach images to ([msd] drives)");
	assert_int_equal(ipkvm_msd_eject(f->m, 0, f->err, sizeof(f->err)), -ENODEV);
	assert_null(ipkvm_msd_fetcher(f->m)); /* no fetch settings: no downloads */
	json_t *st = ipkvm_msd_state_json(f->m);
	assert_non_null(st);
	assert_int_equal(json_array_size(json_object_get(st, "drives")), 0);
	assert_int_equal(json_array_size(json_object_get(st, "images")), 1);
	json_decref(st);
}

/* A gadget drive that changes its type unplugs the gadget; the service asks for its timer
 * and plugs it in again when the timer fires. */
static void test_rebind_timer(void **state)
{
	struct fx *f = *state;
	struct ipkvm_drives *d = ipkvm_drives_create_gadget(f->ms, 2);
	assert_non_null(d);
	make(f, d);
	image(f, "cd.iso", 300 * 2048);
	image(f, "disk.img", 4096);
	assert_int_equal(ipkvm_msd_attach(f->m, 0, "cd.iso", true, false, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(f->timers, 1);
	assert_int_equal(f->timer_delay, IPKVM_MSD_REBIND_MS);
	char *udc = get(f->udc);
	assert_string_equal(udc, "\n"); /* unplugged */
	free(udc);
	ipkvm_msd_timer_fired(f->m);
	udc = get(f->udc);
	assert_string_equal(udc, "dummy_udc.0\n"); /* plugged in again */
	free(udc);
	ipkvm_msd_timer_fired(f->m); /* a late second call does nothing */
	/* The same type again: no unplug, no timer. */
	assert_int_equal(ipkvm_msd_eject(f->m, 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(ipkvm_msd_attach(f->m, 0, "cd.iso", true, false, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(f->timers, 1);
	/* A type change left pending when the service goes: it cancels its timer and plugs the
	 * gadget in at once. */
	assert_int_equal(ipkvm_msd_eject(f->m, 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    ipkvm_msd_attach(f->m, 0, "disk.img", false, false, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->timers, 2);
	udc = get(f->udc);
	assert_string_equal(udc, "\n");
	free(udc);
	ipkvm_msd_destroy(f->m);
	f->m = NULL;
	assert_int_equal(f->timers, 3);
	assert_int_equal(f->timer_delay, -1);
	udc = get(f->udc);
	assert_string_equal(udc, "dummy_udc.0\n");
	free(udc);
}

/* An image a LUN serves that this service never attached (kept across a restart) is in use
 * too: the service guards its store with the drives. */
static void test_lun_guard(void **state)
{
	struct fx *f = *state;
	struct ipkvm_drives *d = ipkvm_drives_create_gadget(f->ms, 2);
	assert_non_null(d);
	make(f, d);
	image(f, "kept.img", 4096);
	char path[PATH_MAX], lun[PATH_MAX + 16];
	assert_int_equal(ipkvm_store_path(ipkvm_msd_store(f->m), "kept.img", path, sizeof(path)),
			 0);
	strcat(path, "\n");
	snprintf(lun, sizeof(lun), "%s/lun.0/file", f->ms);
	put(lun, path);
	assert_true(ipkvm_msd_in_use(f->m, "kept.img"));
	assert_int_equal(ipkvm_msd_delete(f->m, "kept.img"), -EBUSY);
	assert_string_equal(ipkvm_msd_drive_image(f->m, 0), ""); /* not ours to release */
	put(lun, "\n");
	assert_int_equal(ipkvm_msd_delete(f->m, "kept.img"), 0);
}

static void test_state_json(void **state)
{
	struct fx *f = *state;
	make(f, ops_drives(f, 2));
	image(f, "a.iso", 4096);
	image(f, "b.img", 2048);
	assert_int_equal(ipkvm_msd_attach(f->m, 1, "b.img", false, true, f->err, sizeof(f->err)),
			 0);
	json_t *st = ipkvm_msd_state_json(f->m);
	assert_non_null(st);
	json_t *images = json_object_get(st, "images");
	assert_int_equal(json_array_size(images), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(images, 0), "name")),
			    "a.iso");
	assert_true(json_is_false(json_object_get(json_array_get(images, 0), "attached")));
	assert_true(json_is_true(json_object_get(json_array_get(images, 1), "attached")));
	json_t *drives = json_object_get(st, "drives");
	assert_int_equal(json_array_size(drives), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(drives, 1), "image")),
			    "b.img");
	assert_true(json_is_true(json_object_get(json_array_get(drives, 1), "rw")));
	assert_int_equal(json_array_size(json_object_get(st, "fetches")), 0);
	json_t *space = json_object_get(st, "space");
	assert_true(json_is_null(json_object_get(space, "quota")));
	assert_true(json_integer_value(json_object_get(space, "total")) > 0);
	json_decref(st);
}

/* With a quota, free is what the quota leaves when that is less than the disk's. */
static void test_state_quota(void **state)
{
	struct fx *f = *state;
	struct ipkvm_fetch_config fc;
	ipkvm_fetch_config_defaults(&fc);
	struct ipkvm_msd_config c = {.dir = f->dir, .quota = 10000, .fetch = &fc};
	f->m = ipkvm_msd_create(&c, f->err, sizeof(f->err));
	assert_non_null(f->m);
	assert_non_null(ipkvm_msd_fetcher(f->m));
	image(f, "a.img", 4000);
	json_t *st = ipkvm_msd_state_json(f->m);
	json_t *space = json_object_get(st, "space");
	assert_int_equal(json_integer_value(json_object_get(space, "quota")), 10000);
	assert_int_equal(json_integer_value(json_object_get(space, "used")), 4000);
	assert_int_equal(json_integer_value(json_object_get(space, "free")), 6000);
	json_decref(st);
	ipkvm_msd_changed(f->m); /* no callbacks set: nothing to call */
	ipkvm_msd_stop_downloads(f->m);
	assert_null(ipkvm_msd_fetcher(f->m));
	ipkvm_msd_stop_downloads(f->m);
}

/* A store that cannot be opened: NULL with a reason, and the drives handed over are freed
 * (the leak checker of the sanitizer build sees to it). */
static void test_create_fails(void **state)
{
	struct fx *f = *state;
	char file[PATH_MAX];
	snprintf(file, sizeof(file), "%s/plain-file", f->tmp);
	put(file, "x");
	struct ipkvm_msd_config c = {.dir = file, .drives = ops_drives(f, 1)};
	assert_null(ipkvm_msd_create(&c, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, file));
	ipkvm_msd_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_attach_eject, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attach_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_drives, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rebind_timer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lun_guard, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_quota, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_fails, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
