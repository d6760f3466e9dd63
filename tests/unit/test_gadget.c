/*
 * Unit tests for usb/gadget against a plain temp directory standing in for configfs (and a
 * fake /sys/class/udc and /etc/machine-id). Covered: the exact tree after up (every dir,
 * attribute byte-exact incl. report_desc equal to the HID module's arrays, symlinks and
 * nothing else), up twice = same tree with attached media kept, a different LUN count or
 * function set rebuilds, rebinding from another UDC, down removes everything and is
 * idempotent, a foreign gadget on our UDC or with our name is refused with nothing of ours
 * created, no/unknown UDC, config validation, the serial derivation and the status JSON.
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
#include "hid/keyboard.h"
#include "hid/mouse.h"
#include "usb/gadget.h"

#define UDC_NAME "fe980000.usb"
#define SERIAL	 "ac636942c249ea6c" /* HMAC-SHA256("ipkvm-usb-serial", machine id)[0..8) */

struct fx {
	char tmp[64];
	char root[128];	  /* fake configfs root */
	char base[192];	  /* root/usb_gadget */
	char gadget[256]; /* base/ipkvm */
	char udcdir[128]; /* fake /sys/class/udc */
	char mid[128];	  /* fake /etc/machine-id */
	struct ipkvm_gadget_config cfg;
	char err[512];
};

static void put(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void putf(struct fx *f, const char *rel, const char *text)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", f->gadget, rel);
	put(p, text, strlen(text));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_gadget-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->root, sizeof(f->root), "%s/config", f->tmp);
	snprintf(f->base, sizeof(f->base), "%s/usb_gadget", f->root);
	snprintf(f->gadget, sizeof(f->gadget), "%s/ipkvm", f->base);
	snprintf(f->udcdir, sizeof(f->udcdir), "%s/udc", f->tmp);
	snprintf(f->mid, sizeof(f->mid), "%s/machine-id", f->tmp);
	assert_int_equal(ipkvm_mkdir_p(f->base, 0755), 0);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", f->udcdir, UDC_NAME);
	assert_int_equal(ipkvm_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/%s/state", f->udcdir, UDC_NAME);
	put(p, "configured\n", 11);
	put(f->mid, "0123456789abcdef0123456789abcdef\n", 33);
	ipkvm_gadget_config_defaults(&f->cfg);
	f->cfg.configfs_root = f->root;
	f->cfg.udc_class_dir = f->udcdir;
	f->cfg.machine_id_path = f->mid;
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
	nftw(f->tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static bool exists(const char *dir, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

static void assert_bytes(const char *dir, const char *rel, const void *data, size_t len)
{
	char p[PATH_MAX];
	char *buf = NULL;
	size_t n = 0;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	if (ipkvm_read_file(p, 1 << 16, &buf, &n) != 0)
		fail_msg("cannot read %s", rel);
	if (n != len || memcmp(buf, data, len) != 0)
		fail_msg("%s: got %zu bytes \"%.*s\", want %zu \"%.*s\"", rel, n, (int)n, buf, len,
			 (int)len, (const char *)data);
	free(buf);
}

static void assert_text(const char *dir, const char *rel, const char *text)
{
	assert_bytes(dir, rel, text, strlen(text));
}

static void assert_link(struct fx *f, const char *fn)
{
	char p[PATH_MAX], want[PATH_MAX + 64], got[PATH_MAX];
	snprintf(p, sizeof(p), "%s/configs/c.1/%s", f->gadget, fn);
	ssize_t n = readlink(p, got, sizeof(got) - 1);
	assert_true(n > 0);
	got[n] = '\0';
	/* Absolute targets: configfs resolves relative ones against the cwd, not the link. */
	char real[PATH_MAX];
	assert_non_null(realpath(f->gadget, real));
	snprintf(want, sizeof(want), "%s/functions/%s", real, fn);
	assert_string_equal(got, want);
}

/* Counts of what is in a tree (nftw has no context pointer). */
static int n_dirs, n_files, n_links;
static int count_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_D || flag == FTW_DP)
		n_dirs++;
	else if (flag == FTW_SL || flag == FTW_SLN)
		n_links++;
	else
		n_files++;
	return 0;
}

static void assert_counts(const char *dir, int dirs, int files, int links)
{
	n_dirs = n_files = n_links = 0;
	assert_int_equal(nftw(dir, count_cb, 16, FTW_PHYS), 0);
	assert_int_equal(n_dirs, dirs);
	assert_int_equal(n_files, files);
	assert_int_equal(n_links, links);
}

/* A sorted "type path content" listing of the tree, for before/after comparisons. */
static char *snap_lines[512];
static size_t snap_n;
static size_t snap_skip;
static int snap_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char line[8192];
	char *buf = NULL;
	size_t n = 0;
	if (flag == FTW_SL) {
		char t[PATH_MAX];
		ssize_t k = readlink(path, t, sizeof(t) - 1);
		t[k < 0 ? 0 : k] = '\0';
		snprintf(line, sizeof(line), "L %s -> %s", path + snap_skip, t);
	} else if (flag == FTW_F) {
		assert_int_equal(ipkvm_read_file(path, 1 << 16, &buf, &n), 0);
		char hex[2 * 256 + 1];
		ipkvm_hex_encode((const uint8_t *)buf, n > 256 ? 256 : n, hex);
		snprintf(line, sizeof(line), "F %s %s", path + snap_skip, hex);
		free(buf);
	} else {
		snprintf(line, sizeof(line), "D %s", path + snap_skip);
	}
	assert_true(snap_n < 512);
	snap_lines[snap_n++] = strdup(line);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *snapshot(const char *dir)
{
	snap_n = 0;
	snap_skip = strlen(dir);
	assert_int_equal(nftw(dir, snap_cb, 16, FTW_PHYS), 0);
	qsort(snap_lines, snap_n, sizeof(snap_lines[0]), cmp_str);
	size_t total = 1;
	for (size_t i = 0; i < snap_n; i++)
		total += strlen(snap_lines[i]) + 1;
	char *out = calloc(1, total);
	assert_non_null(out);
	for (size_t i = 0; i < snap_n; i++) {
		strcat(out, snap_lines[i]);
		strcat(out, "\n");
		free(snap_lines[i]);
	}
	return out;
}

static void test_up_exact_tree(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	const char *g = f->gadget;
	assert_text(g, "idVendor", "0x1d6b\n");
	assert_text(g, "idProduct", "0x0104\n");
	assert_text(g, "bcdDevice", "0x0100\n");
	assert_text(g, "bcdUSB", "0x0200\n");
	assert_text(g, "bDeviceClass", "0x00\n");
	assert_text(g, "bDeviceSubClass", "0x00\n");
	assert_text(g, "bDeviceProtocol", "0x00\n");
	assert_text(g, "UDC", UDC_NAME "\n");
	assert_text(g, "strings/0x409/serialnumber", SERIAL "\n");
	assert_text(g, "strings/0x409/manufacturer", "ipkvm\n");
	assert_text(g, "strings/0x409/product", "ipkvm composite device\n");
	assert_text(g, "configs/c.1/MaxPower", "100\n");
	assert_text(g, "configs/c.1/bmAttributes", "0xa0\n");
	assert_text(g, "configs/c.1/strings/0x409/configuration", "ipkvm\n");

	assert_text(g, "functions/hid.usb0/protocol", "1\n");
	assert_text(g, "functions/hid.usb0/subclass", "1\n");
	assert_text(g, "functions/hid.usb0/report_length", "8\n");
	assert_bytes(g, "functions/hid.usb0/report_desc", ipkvm_hid_desc_boot_keyboard,
		     ipkvm_hid_desc_boot_keyboard_len);
	assert_false(exists(g, "functions/hid.usb0/no_out_endpoint")); /* LEDs come in */

	assert_text(g, "functions/hid.usb1/protocol", "0\n");
	assert_text(g, "functions/hid.usb1/subclass", "0\n");
	assert_text(g, "functions/hid.usb1/report_length", "7\n");
	assert_bytes(g, "functions/hid.usb1/report_desc", ipkvm_hid_desc_abs_mouse,
		     ipkvm_hid_desc_abs_mouse_len);
	assert_text(g, "functions/hid.usb1/no_out_endpoint", "1\n");

	assert_text(g, "functions/hid.usb2/protocol", "2\n");
	assert_text(g, "functions/hid.usb2/subclass", "1\n");
	assert_text(g, "functions/hid.usb2/report_length", "5\n");
	assert_bytes(g, "functions/hid.usb2/report_desc", ipkvm_hid_desc_rel_mouse,
		     ipkvm_hid_desc_rel_mouse_len);
	assert_text(g, "functions/hid.usb2/no_out_endpoint", "1\n");

	assert_text(g, "functions/hid.usb3/protocol", "0\n");
	assert_text(g, "functions/hid.usb3/subclass", "0\n");
	assert_text(g, "functions/hid.usb3/report_length", "3\n");
	assert_bytes(g, "functions/hid.usb3/report_desc", ipkvm_hid_desc_consumer_system,
		     ipkvm_hid_desc_consumer_system_len);
	assert_text(g, "functions/hid.usb3/no_out_endpoint", "1\n");

	for (int l = 0; l < 2; l++) {
		char rel[128];
		static const char *const attrs[][2] = {
		    {"removable", "1\n"}, {"nofua", "1\n"}, {"cdrom", "0\n"},
		    {"ro", "0\n"},	  {"file", "\n"},
		};
		for (size_t i = 0; i < 5; i++) {
			snprintf(rel, sizeof(rel), "functions/mass_storage.usb0/lun.%d/%s", l,
				 attrs[i][0]);
			assert_text(g, rel, attrs[i][1]);
		}
	}
	assert_false(exists(g, "functions/mass_storage.usb0/lun.2"));
	assert_false(exists(g, "functions/mass_storage.usb0/stall")); /* kernel default */

	assert_link(f, "hid.usb0");
	assert_link(f, "hid.usb1");
	assert_link(f, "hid.usb2");
	assert_link(f, "hid.usb3");
	assert_link(f, "mass_storage.usb0");
	/*
	 * Nothing else: 15 dirs (gadget, functions, configs, strings, strings/0x409, c.1,
	 * c.1/strings, c.1/strings/0x409, 4 hid, mass_storage, 2 LUNs), 43 files (7 device
	 * attributes + UDC, 3 strings, MaxPower, bmAttributes, configuration, 4+5+5+5 HID,
	 * 2x5 LUN), 5 links.
	 */
	assert_counts(g, 15, 43, 5);
}

static void test_up_twice_same_tree_keeps_media(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	/* The drives module attaches an image; a second up must not detach it. */
	putf(f, "functions/mass_storage.usb0/lun.0/cdrom", "1\n");
	putf(f, "functions/mass_storage.usb0/lun.0/ro", "1\n");
	putf(f, "functions/mass_storage.usb0/lun.0/file", "/var/lib/ipkvm/msd/a.iso\n");
	char *before = snapshot(f->gadget);
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	char *after = snapshot(f->gadget);
	assert_string_equal(before, after);
	assert_text(f->gadget, "functions/mass_storage.usb0/lun.0/file",
		    "/var/lib/ipkvm/msd/a.iso\n");
	free(before);
	free(after);
}

static void test_up_rebuilds_on_difference(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	putf(f, "functions/mass_storage.usb0/lun.0/file", "/img\n");

	f->cfg.msd_luns = 3;
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_true(exists(f->gadget, "functions/mass_storage.usb0/lun.2/file"));
	assert_text(f->gadget, "functions/mass_storage.usb0/lun.0/file", "\n"); /* rebuilt */
	assert_counts(f->gadget, 16, 48, 5);

	f->cfg.msd_luns = 1;
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_false(exists(f->gadget, "functions/mass_storage.usb0/lun.1"));
	assert_counts(f->gadget, 14, 38, 5);

	/* No mass storage, no keyboard, no remote wakeup, another product string. */
	f->cfg.msd_luns = 0;
	f->cfg.keyboard = false;
	f->cfg.remote_wakeup = false;
	f->cfg.product = "other product";
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_false(exists(f->gadget, "functions/hid.usb0"));
	assert_false(exists(f->gadget, "functions/mass_storage.usb0"));
	assert_false(exists(f->gadget, "configs/c.1/hid.usb0"));
	assert_link(f, "hid.usb1");
	assert_text(f->gadget, "configs/c.1/bmAttributes", "0x80\n");
	assert_text(f->gadget, "strings/0x409/product", "other product\n");
	assert_text(f->gadget, "UDC", UDC_NAME "\n");
	assert_counts(f->gadget, 11, 14 + 15, 3);
}

static void test_up_rebinds_other_udc(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	putf(f, "UDC", "old.usb\n");
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_text(f->gadget, "UDC", UDC_NAME "\n");
	/* A configured UDC is used as named. */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/dummy_udc.0", f->udcdir);
	assert_int_equal(mkdir(p, 0755), 0);
	f->cfg.udc = "dummy_udc.0";
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_text(f->gadget, "UDC", "dummy_udc.0\n");
}

static void test_down_removes_everything(void **state)
{
	struct fx *f = *state;
	f->cfg.msd_luns = 4;
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(ipkvm_gadget_down(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_false(exists(f->base, "ipkvm"));
	assert_counts(f->base, 1, 0, 0); /* usb_gadget itself, empty */
	/* Absent gadget: still 0; no usb_gadget dir at all: 0 too. */
	assert_int_equal(ipkvm_gadget_down(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(rmdir(f->base), 0);
	assert_int_equal(ipkvm_gadget_down(&f->cfg, f->err, sizeof(f->err)), 0);
}

static void test_foreign_gadget_on_udc(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/other", f->base);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/other/UDC", f->base);
	put(p, UDC_NAME "\n", strlen(UDC_NAME) + 1);
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), -EBUSY);
	assert_non_null(strstr(f->err, "\"other\""));
	assert_non_null(strstr(f->err, UDC_NAME));
	assert_false(exists(f->base, "ipkvm"));
	/* Unbound foreign gadgets do not matter. */
	put(p, "\n", 1);
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_text(f->base, "other/UDC", "\n");
}

static void test_foreign_gadget_with_our_name(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/configs/c.1/strings/0x409", f->gadget);
	assert_int_equal(ipkvm_mkdir_p(p, 0755), 0);
	putf(f, "configs/c.1/strings/0x409/configuration", "someone else\n");
	char *before = snapshot(f->gadget);
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), -EEXIST);
	assert_non_null(strstr(f->err, "not ours"));
	assert_int_equal(ipkvm_gadget_down(&f->cfg, f->err, sizeof(f->err)), -EEXIST);
	char *after = snapshot(f->gadget);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_empty_shell_is_ours(void **state)
{
	struct fx *f = *state;
	assert_int_equal(mkdir(f->gadget, 0755), 0);
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_text(f->gadget, "configs/c.1/strings/0x409/configuration", "ipkvm\n");
}

static void test_no_udc(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s/state", f->udcdir, UDC_NAME);
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/%s", f->udcdir, UDC_NAME);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), -ENODEV);
	assert_non_null(strstr(f->err, "no USB device controller"));
	assert_non_null(strstr(f->err, "dtoverlay=dwc2"));
	assert_false(exists(f->base, "ipkvm"));
	/* No udc class dir at all: same. */
	assert_int_equal(rmdir(f->udcdir), 0);
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), -ENODEV);
	/* A configured UDC that does not exist. */
	f->cfg.udc = "nope.usb";
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), -ENODEV);
	assert_non_null(strstr(f->err, "\"nope.usb\" not found"));
	assert_false(exists(f->base, "ipkvm"));
}

static void test_no_configfs(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rmdir(f->base), 0);
	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "modprobe libcomposite"));
}

static void test_config_validation(void **state)
{
	struct fx *f = *state;
	struct ipkvm_gadget_config c = f->cfg;
	c.msd_luns = 9;
	assert_int_equal(ipkvm_gadget_up(&c, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "msd_luns"));
	c = f->cfg;
	c.product = "two\nlines";
	assert_int_equal(ipkvm_gadget_up(&c, f->err, sizeof(f->err)), -EINVAL);
	c = f->cfg;
	c.name = "../evil";
	assert_int_equal(ipkvm_gadget_up(&c, f->err, sizeof(f->err)), -EINVAL);
	c = f->cfg;
	c.udc = "a/b";
	assert_int_equal(ipkvm_gadget_up(&c, f->err, sizeof(f->err)), -EINVAL);
	c = f->cfg;
	c.bcd_device = 0x010a;
	assert_int_equal(ipkvm_gadget_up(&c, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "not BCD"));
	c = f->cfg;
	c.max_power_ma = 900;
	assert_int_equal(ipkvm_gadget_up(&c, f->err, sizeof(f->err)), -EINVAL);
	c = f->cfg;
	c.keyboard = c.mouse_abs = c.mouse_rel = c.consumer = false;
	c.msd_luns = 0;
	assert_int_equal(ipkvm_gadget_up(&c, f->err, sizeof(f->err)), -EINVAL);
	char longs[200];
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	c = f->cfg;
	c.manufacturer = longs;
	assert_int_equal(ipkvm_gadget_up(&c, f->err, sizeof(f->err)), -EINVAL);
	assert_false(exists(f->base, "ipkvm"));
}

static void test_serial(void **state)
{
	struct fx *f = *state;
	char s[64];
	assert_int_equal(ipkvm_gadget_serial(&f->cfg, s, sizeof(s)), 0);
	assert_string_equal(s, SERIAL);
	f->cfg.serial = "KVM-42";
	assert_int_equal(ipkvm_gadget_serial(&f->cfg, s, sizeof(s)), 0);
	assert_string_equal(s, "KVM-42");
	f->cfg.serial = "";
	f->cfg.machine_id_path = "/nonexistent/machine-id";
	assert_int_equal(ipkvm_gadget_serial(&f->cfg, s, sizeof(s)), 0);
	assert_string_equal(s, IPKVM_GADGET_SERIAL_DEFAULT);
	assert_int_equal(ipkvm_gadget_serial(&f->cfg, s, 4), -ENAMETOOLONG);
}

static void test_msd_dir(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], want[PATH_MAX];
	assert_int_equal(ipkvm_gadget_msd_dir(&f->cfg, p, sizeof(p)), 0);
	snprintf(want, sizeof(want), "%s/functions/mass_storage.usb0", f->gadget);
	assert_string_equal(p, want);
	assert_int_equal(ipkvm_gadget_msd_dir(&f->cfg, p, 10), -ENAMETOOLONG);
	struct ipkvm_gadget_config c;
	ipkvm_gadget_config_defaults(&c);
	assert_int_equal(ipkvm_gadget_msd_dir(&c, p, sizeof(p)), 0);
	assert_string_equal(p, "/sys/kernel/config/usb_gadget/ipkvm/functions/mass_storage.usb0");
}

static char *status_str(struct fx *f)
{
	json_t *j = NULL;
	assert_int_equal(ipkvm_gadget_status(&f->cfg, &j, f->err, sizeof(f->err)), 0);
	assert_non_null(j);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

static void test_status(void **state)
{
	struct fx *f = *state;
	char *s = status_str(f);
	assert_string_equal(s, "{\"bound\":false,\"exists\":false,\"functions\":[],\"luns\":0,"
			       "\"name\":\"ipkvm\",\"ours\":false,\"udc\":null,\"udc_state\":null,"
			       "\"udcs\":[\"" UDC_NAME "\"]}");
	free(s);

	assert_int_equal(ipkvm_gadget_up(&f->cfg, f->err, sizeof(f->err)), 0);
	putf(f, "functions/hid.usb0/dev", "236:0\n"); /* what f_hid shows on a real kernel */
	putf(f, "functions/hid.usb3/dev", "236:3\n");
	s = status_str(f);
	assert_string_equal(
	    s, "{\"bound\":true,\"exists\":true,\"functions\":["
	       "{\"dev\":\"/dev/hidg0\",\"kind\":\"keyboard\",\"name\":\"hid.usb0\"},"
	       "{\"dev\":null,\"kind\":\"mouse_abs\",\"name\":\"hid.usb1\"},"
	       "{\"dev\":null,\"kind\":\"mouse_rel\",\"name\":\"hid.usb2\"},"
	       "{\"dev\":\"/dev/hidg3\",\"kind\":\"consumer\",\"name\":\"hid.usb3\"},"
	       "{\"dev\":null,\"kind\":\"mass_storage\",\"name\":\"mass_storage.usb0\"}],"
	       "\"luns\":2,\"name\":\"ipkvm\",\"ours\":true,\"udc\":\"" UDC_NAME "\","
	       "\"udc_state\":\"configured\",\"udcs\":[\"" UDC_NAME "\"]}");
	free(s);

	/* Unbound: no state; the udc_state file is only read for the bound UDC. */
	putf(f, "UDC", "\n");
	s = status_str(f);
	assert_non_null(strstr(s, "\"bound\":false"));
	assert_non_null(strstr(s, "\"udc\":null,\"udc_state\":null"));
	free(s);

	/* Without configfs at all. */
	assert_int_equal(ipkvm_gadget_down(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(rmdir(f->base), 0);
	s = status_str(f);
	assert_non_null(strstr(s, "\"exists\":false"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_up_exact_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_up_twice_same_tree_keeps_media, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_up_rebuilds_on_difference, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_up_rebinds_other_udc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_down_removes_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_gadget_on_udc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_gadget_with_our_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_shell_is_ours, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_udc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_configfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_serial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msd_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
