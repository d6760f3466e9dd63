/*
 * usb/gadget: the configfs composite gadget (layout and semantics in gadget.h).
 *
 * Why it is shaped so:
 *   - The wanted gadget is first described as data (a "spec": an ordered list of directories,
 *     attribute files with their exact bytes, and symlinks). Building walks the list in order;
 *     "is the existing gadget identical?" walks the same list reading back. One description,
 *     so the builder and the comparison cannot disagree.
 *   - Every value is written in the format the kernel shows it back ("0x1d6b\n", "1\n", the
 *     string plus '\n'; the kernel strips one trailing newline on store), so reading back is a
 *     byte comparison and a test tree in a temp dir looks exactly like what the kernel shows.
 *     report_desc is binary and written as is, in one write() (configfs stores per write).
 *   - Teardown is not driven by the spec but by what is on disk (every config's links,
 *     every function, every extra LUN), so a gadget built by an older version or with another
 *     LUN count is still removed completely.
 *   - Real configfs vs a plain directory is told by statfs(); see gadget.h. There is no
 *     function-pointer seam: the two differences (the kernel pre-creates attributes and
 *     default groups; rmdir on configfs takes them with it) are handled by "create if absent"
 *     and a recursive rmdir in plain mode, so the tests run the same code as the board.
 */
#define LOG_TAG "gadget"
#include "core/log.h"

#include "usb/gadget.h"

#include "core/util.h"
#include "hid/keyboard.h"
#include "hid/mouse.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ATTR_MAX   65536 /* configfs/sysfs files claim 4096 bytes; report_desc fits easily */
#define LINE_MAX_  512	 /* one-line attributes we read back (UDC, strings, state) */
#define SPEC_MAX   160
#define NAME_MAX_  64 /* gadget and UDC names */
#define MS_FUNC	   "mass_storage.usb0"
#define CONFIG_DIR "configs/c.1"
/* configfs's statfs f_type (fs/configfs/mount.c); not exported in <linux/magic.h>. */
#define CONFIGFS_MAGIC 0x62656570

/* The HID functions, in creation and link order (so also /dev/hidgN and interface order). */
struct hid_fn {
	const char *name;
	const char *kind;
	unsigned subclass;
	unsigned protocol;
	unsigned report_length;
	const uint8_t *desc;
	const size_t *desc_len;
	bool out_endpoint; /* keyboard: LED output reports arrive on its OUT endpoint */
};

static const struct hid_fn hid_fns[] = {
    {"hid.usb0", "keyboard", 1, 1, IPKVM_HID_BOOT_REPORT_LEN, ipkvm_hid_desc_boot_keyboard,
     &ipkvm_hid_desc_boot_keyboard_len, true},
    /* An absolute pointer cannot be a boot device: subclass 0, and then protocol must be 0. */
    {"hid.usb1", "mouse_abs", 0, 0, IPKVM_HID_ABS_REPORT_LEN, ipkvm_hid_desc_abs_mouse,
     &ipkvm_hid_desc_abs_mouse_len, false},
    /* Its first 3 bytes are the boot mouse report, so BIOSes can use it: boot mouse 1/2. */
    {"hid.usb2", "mouse_rel", 1, 2, IPKVM_HID_REL_REPORT_LEN, ipkvm_hid_desc_rel_mouse,
     &ipkvm_hid_desc_rel_mouse_len, false},
    /* Longest report incl. its ID: consumer (3) > system (2). */
    {"hid.usb3", "consumer", 0, 0, IPKVM_HID_CONSUMER_REPORT_LEN, ipkvm_hid_desc_consumer_system,
     &ipkvm_hid_desc_consumer_system_len, false},
};

static bool hid_enabled(const struct ipkvm_gadget_config *cfg, size_t i)
{
	switch (i) {
	case 0:
		return cfg->keyboard;
	case 1:
		return cfg->mouse_abs;
	case 2:
		return cfg->mouse_rel;
	default:
		return cfg->consumer;
	}
}

void ipkvm_gadget_config_defaults(struct ipkvm_gadget_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->configfs_root = "/sys/kernel/config";
	cfg->udc_class_dir = "/sys/class/udc";
	cfg->name = "ipkvm";
	cfg->udc = "";
	/* Linux Foundation's ID for a multifunction composite gadget: no ID of our own needed. */
	cfg->vendor_id = 0x1d6b;
	cfg->product_id = 0x0104;
	cfg->bcd_device = 0x0100;
	cfg->bcd_usb = 0x0200;
	cfg->manufacturer = "ipkvm";
	cfg->product = "ipkvm composite device";
	cfg->serial = "";
	cfg->machine_id_path = "/etc/machine-id";
	cfg->msd_luns = 2;
	cfg->keyboard = true;
	cfg->mouse_abs = true;
	cfg->mouse_rel = true;
	cfg->consumer = true;
	cfg->remote_wakeup = true;
	/*
	 * 100 mA: the board has its own supply, and one unit load is what every port and
	 * unpowered hub can grant, so the host never refuses the configuration for power.
	 */
	cfg->max_power_ma = 100;
}

int ipkvm_gadget_serial(const struct ipkvm_gadget_config *cfg, char *out, size_t len)
{
	if (cfg->serial && cfg->serial[0])
		return ipkvm_strlcpy(out, cfg->serial, len);
	char *mid = NULL;
	size_t mlen = 0;
	if (!cfg->machine_id_path || ipkvm_read_file(cfg->machine_id_path, 4096, &mid, &mlen) < 0) {
		LOG_WARN("no machine id: using the fixed serial %s", IPKVM_GADGET_SERIAL_DEFAULT);
		return ipkvm_strlcpy(out, IPKVM_GADGET_SERIAL_DEFAULT, len);
	}
	while (mlen > 0 && (mid[mlen - 1] == '\n' || mid[mlen - 1] == ' '))
		mid[--mlen] = '\0';
	int r;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (mlen == 0 ||
	    !HMAC(EVP_sha256(), IPKVM_GADGET_SERIAL_KEY, (int)strlen(IPKVM_GADGET_SERIAL_KEY),
		  (const uint8_t *)mid, mlen, md, &mdlen)) {
		r = ipkvm_strlcpy(out, IPKVM_GADGET_SERIAL_DEFAULT, len);
		goto out;
	}
	char hex[17];
	ipkvm_hex_encode(md, 8, hex);
	r = ipkvm_strlcpy(out, hex, len);
out:
	free(mid);
	return r;
}

int ipkvm_gadget_msd_dir(const struct ipkvm_gadget_config *cfg, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/usb_gadget/%s/functions/" MS_FUNC, cfg->configfs_root,
			 cfg->name);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/* ---- filesystem primitives ---------------------------------------------------------- */

struct gctx {
	const struct ipkvm_gadget_config *cfg;
	char base[PATH_MAX]; /* <root>/usb_gadget, absolute (symlink targets must be) */
	char dir[PATH_MAX];  /* base/<name> */
	bool kernel;	     /* base is on configfs */
	char serial[IPKVM_GADGET_STRING_MAX + 1];
};

static int pathf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static int mkdir_exist_ok(const char *path)
{
	struct stat st;
	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int write_line(const char *path, const char *value)
{
	char buf[LINE_MAX_];
	int n = snprintf(buf, sizeof(buf), "%s\n", value);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return ipkvm_write_attr(path, buf, (size_t)n, true); /* created in plain mode */
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

/*
 * rmdir of something we made. On configfs the kernel's attribute files and default groups go
 * with it (they cannot be unlinked anyway); in a plain directory we remove them first.
 */
static int rm_dir(const struct gctx *g, const char *path)
{
	if (g->kernel)
		return rmdir(path) < 0 ? -errno : 0;
	if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

static int not_dot(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

/* Sorted entries of dir (no dot files). Returns the count or -errno; *out freed by caller. */
static int scan(const char *dir, struct dirent ***out)
{
	int n = scandir(dir, out, not_dot, alphasort);
	return n < 0 ? -errno : n;
}

static void scan_free(struct dirent **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static bool is_type(const char *dir, const char *name, mode_t type)
{
	char p[PATH_MAX];
	struct stat st;
	if (pathf(p, sizeof(p), "%s/%s", dir, name) < 0 || lstat(p, &st) < 0)
		return false;
	return (st.st_mode & S_IFMT) == type;
}

/* Entries of dir of one type (S_IFDIR, S_IFLNK) whose name starts with prefix; 0 if absent. */
static int count_entries(const char *dir, mode_t type, const char *prefix)
{
	struct dirent **list = NULL;
	int n = scan(dir, &list);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return n;
	int c = 0;
	for (int i = 0; i < n; i++) {
		if (strncmp(list[i]->d_name, prefix, strlen(prefix)) == 0 &&
		    is_type(dir, list[i]->d_name, type))
			c++;
	}
	scan_free(list, n);
	return c;
}

/* ---- the spec: what our gadget looks like --------------------------------------------- */

enum ent_kind { ENT_DIR, ENT_FILE, ENT_LINK };
#define ENT_INIT 0x1 /* written at creation, not compared: the drives change it */
#define ENT_OPT	 0x2 /* an attribute older kernels lack: skipped on configfs when absent */

struct ent {
	enum ent_kind kind;
	unsigned flags;
	char rel[96];	/* path inside the gadget dir, "" = the gadget dir */
	char text[160]; /* FILE: text value; LINK: the function's name */
	const uint8_t *data;
	size_t len;
};

struct spec {
	size_t n;
	bool overflow;
	unsigned nfuncs;
	unsigned luns;
	struct ent e[SPEC_MAX];
};

static struct ent *spec_add(struct spec *s, enum ent_kind kind, unsigned flags, const char *fmt,
			    ...) __attribute__((format(printf, 4, 5)));
static struct ent *spec_add(struct spec *s, enum ent_kind kind, unsigned flags, const char *fmt,
			    ...)
{
	if (s->n >= SPEC_MAX) {
		s->overflow = true;
		return NULL;
	}
	struct ent *e = &s->e[s->n];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->flags = flags;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->rel, sizeof(e->rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(e->rel)) {
		s->overflow = true;
		return NULL;
	}
	s->n++;
	return e;
}

static void ent_vtext(struct spec *s, struct ent *e, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void ent_vtext(struct spec *s, struct ent *e, const char *fmt, va_list ap)
{
	if (!e)
		return;
	int n = vsnprintf(e->text, sizeof(e->text), fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(e->text))
		s->overflow = true;
	e->data = (const uint8_t *)e->text;
	e->len = strlen(e->text);
}

/* Sets an entry's text (a FILE's value, a LINK's function name). e may be NULL (overflow). */
static void ent_text(struct spec *s, struct ent *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ent_text(struct spec *s, struct ent *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ent_vtext(s, e, fmt, ap);
	va_end(ap);
}

/* A text attribute at a fixed path. */
static void spec_file(struct spec *s, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void spec_file(struct spec *s, const char *rel, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ent_vtext(s, spec_add(s, ENT_FILE, 0, "%s", rel), fmt, ap);
	va_end(ap);
}

static int spec_build(const struct gctx *g, struct spec *s)
{
	const struct ipkvm_gadget_config *cfg = g->cfg;
	struct ent *e;

	/* The gadget dir and the default groups the kernel makes with it. */
	spec_add(s, ENT_DIR, 0, "%s", "");
	spec_add(s, ENT_DIR, 0, "functions");
	spec_add(s, ENT_DIR, 0, "configs");
	spec_add(s, ENT_DIR, 0, "strings");
	spec_file(s, "idVendor", "0x%04x\n", cfg->vendor_id);
	spec_file(s, "idProduct", "0x%04x\n", cfg->product_id);
	spec_file(s, "bcdDevice", "0x%04x\n", cfg->bcd_device);
	spec_file(s, "bcdUSB", "0x%04x\n", cfg->bcd_usb);
	/* Class 0: each interface says what it is (no IAD function among ours). */
	spec_file(s, "bDeviceClass", "0x00\n");
	spec_file(s, "bDeviceSubClass", "0x00\n");
	spec_file(s, "bDeviceProtocol", "0x00\n");
	spec_add(s, ENT_DIR, 0, "strings/0x409");
	spec_file(s, "strings/0x409/serialnumber", "%s\n", g->serial);
	spec_file(s, "strings/0x409/manufacturer", "%s\n", cfg->manufacturer);
	spec_file(s, "strings/0x409/product", "%s\n", cfg->product);

	/* The configuration and its marker before any function: a half-built gadget is ours. */
	spec_add(s, ENT_DIR, 0, CONFIG_DIR);
	spec_add(s, ENT_DIR, 0, CONFIG_DIR "/strings");
	spec_add(s, ENT_DIR, 0, CONFIG_DIR "/strings/0x409");
	spec_file(s, CONFIG_DIR "/strings/0x409/configuration", "%s\n", IPKVM_GADGET_MARKER);
	spec_file(s, CONFIG_DIR "/MaxPower", "%u\n", cfg->max_power_ma);
	/* Bit 7 is reserved-one (bus powered); bit 5 remote wakeup. */
	spec_file(s, CONFIG_DIR "/bmAttributes", "0x%02x\n", cfg->remote_wakeup ? 0xa0 : 0x80);

	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(hid_fns); i++) {
		const struct hid_fn *f = &hid_fns[i];
		if (!hid_enabled(cfg, i))
			continue;
		s->nfuncs++;
		spec_add(s, ENT_DIR, 0, "functions/%s", f->name);
		e = spec_add(s, ENT_FILE, 0, "functions/%s/protocol", f->name);
		ent_text(s, e, "%u\n", f->protocol);
		e = spec_add(s, ENT_FILE, 0, "functions/%s/subclass", f->name);
		ent_text(s, e, "%u\n", f->subclass);
		e = spec_add(s, ENT_FILE, 0, "functions/%s/report_length", f->name);
		ent_text(s, e, "%u\n", f->report_length);
		e = spec_add(s, ENT_FILE, 0, "functions/%s/report_desc", f->name);
		if (e) {
			e->data = f->desc;
			e->len = *f->desc_len;
		}
		if (!f->out_endpoint) {
			e = spec_add(s, ENT_FILE, ENT_OPT, "functions/%s/no_out_endpoint", f->name);
			ent_text(s, e, "1\n");
		}
	}
	if (cfg->msd_luns > 0) {
		s->nfuncs++;
		s->luns = cfg->msd_luns;
		spec_add(s, ENT_DIR, 0, "functions/" MS_FUNC);
		/* stall: the kernel's default (on) is right for the UDCs we target. */
		for (unsigned l = 0; l < cfg->msd_luns; l++) {
			/* lun.0 is a default group on configfs; lun.1.. are made by mkdir. */
			spec_add(s, ENT_DIR, 0, "functions/" MS_FUNC "/lun.%u", l);
			/* removable before file: a non-removable LUN must have a file. */
			e = spec_add(s, ENT_FILE, 0, "functions/" MS_FUNC "/lun.%u/removable", l);
			ent_text(s, e, "1\n");
			e = spec_add(s, ENT_FILE, 0, "functions/" MS_FUNC "/lun.%u/nofua", l);
			ent_text(s, e, "1\n");
			e = spec_add(s, ENT_FILE, ENT_INIT, "functions/" MS_FUNC "/lun.%u/cdrom",
				     l);
			ent_text(s, e, "0\n");
			e = spec_add(s, ENT_FILE, ENT_INIT, "functions/" MS_FUNC "/lun.%u/ro", l);
			ent_text(s, e, "0\n");
			e = spec_add(s, ENT_FILE, ENT_INIT, "functions/" MS_FUNC "/lun.%u/file", l);
			ent_text(s, e, "\n");
		}
	}
	/* Link order = interface order on the host; keep it fixed. */
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(hid_fns); i++) {
		if (!hid_enabled(cfg, i))
			continue;
		e = spec_add(s, ENT_LINK, 0, CONFIG_DIR "/%s", hid_fns[i].name);
		ent_text(s, e, "%s", hid_fns[i].name);
	}
	if (cfg->msd_luns > 0) {
		e = spec_add(s, ENT_LINK, 0, CONFIG_DIR "/%s", MS_FUNC);
		ent_text(s, e, "%s", MS_FUNC);
	}
	return s->overflow ? -ENAMETOOLONG : 0;
}

static int ent_path(const struct gctx *g, const struct ent *e, char *out, size_t len)
{
	if (!e->rel[0])
		return ipkvm_strlcpy(out, g->dir, len);
	return pathf(out, len, "%s/%s", g->dir, e->rel);
}

static int spec_apply(const struct gctx *g, const struct spec *s, char *err, size_t errlen)
{
	char p[PATH_MAX], target[PATH_MAX];
	int r = 0;
	for (size_t i = 0; i < s->n && r == 0; i++) {
		const struct ent *e = &s->e[i];
		r = ent_path(g, e, p, sizeof(p));
		if (r < 0)
			break;
		switch (e->kind) {
		case ENT_DIR:
			r = mkdir_exist_ok(p);
			break;
		case ENT_FILE:
			if (g->kernel && (e->flags & ENT_OPT) && access(p, F_OK) < 0) {
				LOG_DEBUG("%s: not in this kernel, skipped", e->rel);
				break;
			}
			r = ipkvm_write_attr(p, e->data, e->len, true);
			break;
		case ENT_LINK:
			r = pathf(target, sizeof(target), "%s/functions/%s", g->dir, e->text);
			if (r == 0 && symlink(target, p) < 0)
				r = -errno;
			break;
		}
		if (r < 0)
			ipkvm_errf(err, errlen, "%s: %s", p, strerror(-r));
	}
	return r;
}

static bool link_matches(const char *path, const char *fn)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return false;
	buf[n] = '\0';
	const char *slash = strrchr(buf, '/');
	return strcmp(slash ? slash + 1 : buf, fn) == 0;
}

static bool file_matches(const char *path, const uint8_t *data, size_t len)
{
	char *buf = NULL;
	size_t n = 0;
	if (ipkvm_read_file(path, ATTR_MAX, &buf, &n) < 0)
		return false;
	bool same = n == len && memcmp(buf, data, len) == 0;
	free(buf);
	return same;
}

/* Whether the gadget on disk is exactly the spec (LUN media state aside). */
static bool spec_matches(const struct gctx *g, const struct spec *s)
{
	char p[PATH_MAX];
	struct stat st;
	const char *why = NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct ent *e = &s->e[i];
		why = e->rel;
		if (ent_path(g, e, p, sizeof(p)) < 0)
			return false;
		switch (e->kind) {
		case ENT_DIR:
			if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
				goto differs;
			break;
		case ENT_FILE:
			if (e->flags & ENT_INIT)
				break;
			if (g->kernel && (e->flags & ENT_OPT) && access(p, F_OK) < 0)
				break;
			if (!file_matches(p, e->data, e->len))
				goto differs;
			break;
		case ENT_LINK:
			if (!link_matches(p, e->text))
				goto differs;
			break;
		}
	}
	/* Every wanted entry exists; equal counts mean nothing else is there. */
	why = "the set of functions, configs, links or LUNs";
	if (pathf(p, sizeof(p), "%s/functions", g->dir) < 0 ||
	    count_entries(p, S_IFDIR, "") != (int)s->nfuncs)
		goto differs;
	if (pathf(p, sizeof(p), "%s/configs", g->dir) < 0 || count_entries(p, S_IFDIR, "") != 1)
		goto differs;
	if (pathf(p, sizeof(p), "%s/" CONFIG_DIR, g->dir) < 0 ||
	    count_entries(p, S_IFLNK, "") != (int)s->nfuncs)
		goto differs;
	if (s->luns > 0 && (pathf(p, sizeof(p), "%s/functions/" MS_FUNC, g->dir) < 0 ||
			    count_entries(p, S_IFDIR, "lun.") != (int)s->luns))
		goto differs;
	return true;
differs:
	LOG_INFO("the existing gadget differs (%s): rebuilding it", why);
	return false;
}

/* ---- teardown ------------------------------------------------------------------------- */

static void keep_first(int *first, int r, const char *path, char *err, size_t errlen)
{
	if (r >= 0 || *first < 0)
		return;
	*first = r;
	ipkvm_errf(err, errlen, "removing %s: %s", path, strerror(-r));
}

/* Applies fn to each entry of dir of one type (S_IFDIR, S_IFLNK) named prefix* except keep,
 * going on past failures. Returns the first error (err says it), 0 when dir is absent. */
static int for_entries(const struct gctx *g, const char *dir, mode_t type, const char *prefix,
		       const char *keep, int (*fn)(const struct gctx *g, const char *path),
		       char *err, size_t errlen)
{
	struct dirent **list = NULL;
	char p[PATH_MAX];
	int n = scan(dir, &list);
	if (n == -ENOENT)
		return 0;
	if (n < 0) {
		ipkvm_errf(err, errlen, "%s: %s", dir, strerror(-n));
		return n;
	}
	int first = 0;
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		if (strncmp(name, prefix, strlen(prefix)) != 0 ||
		    (keep && strcmp(name, keep) == 0) || !is_type(dir, name, type))
			continue;
		int r = pathf(p, sizeof(p), "%s/%s", dir, name);
		if (r == 0)
			r = fn(g, p);
		keep_first(&first, r, p, err, errlen);
	}
	scan_free(list, n);
	return first;
}

static int unlink_path(const struct gctx *g, const char *path)
{
	return unlink(path) < 0 ? -errno : 0;
}

static int unlink_links(const struct gctx *g, const char *dir, char *err, size_t errlen)
{
	return for_entries(g, dir, S_IFLNK, "", NULL, unlink_path, err, errlen);
}

/* Removes the subdirectories of dir named prefix* except keep (a kernel default group). */
static int rm_subdirs(const struct gctx *g, const char *dir, const char *prefix, const char *keep,
		      char *err, size_t errlen)
{
	return for_entries(g, dir, S_IFDIR, prefix, keep, rm_dir, err, errlen);
}

static int unbind(const struct gctx *g, char *err, size_t errlen)
{
	char p[PATH_MAX], cur[LINE_MAX_];
	int r = pathf(p, sizeof(p), "%s/UDC", g->dir);
	if (r == 0)
		r = ipkvm_read_attr(p, cur, sizeof(cur));
	if (r == -ENOENT)
		return 0; /* plain dir: never bound */
	if (r == 0 && cur[0])
		r = write_line(p, "");
	if (r < 0)
		ipkvm_errf(err, errlen, "unbinding %s: %s", p, strerror(-r));
	return r;
}

/*
 * The reverse of building, from what is on disk: unbind, remove every config's function links
 * and strings and the config, os_desc's links, the extra LUNs, the functions, the strings,
 * the gadget. Keeps going after an error (removing as much as possible); returns the first.
 */
static int teardown(const struct gctx *g, char *err, size_t errlen)
{
	char dir[PATH_MAX], sub[PATH_MAX];
	struct dirent **list = NULL;
	int first = unbind(g, err, errlen);
	if (first < 0)
		return first; /* links of a bound gadget: leave it alone */

	if (pathf(dir, sizeof(dir), "%s/configs", g->dir) < 0)
		return -ENAMETOOLONG;
	int n = scan(dir, &list);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		if (!is_type(dir, name, S_IFDIR))
			continue;
		if (pathf(sub, sizeof(sub), "%s/%s", dir, name) < 0)
			continue;
		keep_first(&first, unlink_links(g, sub, err, errlen), sub, err, errlen);
		char strs[PATH_MAX];
		if (pathf(strs, sizeof(strs), "%s/strings", sub) == 0)
			keep_first(&first, rm_subdirs(g, strs, "", NULL, err, errlen), strs, err,
				   errlen);
		keep_first(&first, rm_dir(g, sub), sub, err, errlen);
	}
	if (n >= 0)
		scan_free(list, n);

	if (pathf(sub, sizeof(sub), "%s/os_desc", g->dir) == 0)
		keep_first(&first, unlink_links(g, sub, err, errlen), sub, err, errlen);

	if (pathf(dir, sizeof(dir), "%s/functions", g->dir) < 0)
		return -ENAMETOOLONG;
	list = NULL;
	n = scan(dir, &list);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		if (!is_type(dir, name, S_IFDIR) || pathf(sub, sizeof(sub), "%s/%s", dir, name) < 0)
			continue;
		if (strncmp(name, "mass_storage.", 13) == 0)
			keep_first(&first, rm_subdirs(g, sub, "lun.", "lun.0", err, errlen), sub,
				   err, errlen);
		keep_first(&first, rm_dir(g, sub), sub, err, errlen);
	}
	if (n >= 0)
		scan_free(list, n);

	if (pathf(dir, sizeof(dir), "%s/strings", g->dir) == 0)
		keep_first(&first, rm_subdirs(g, dir, "", NULL, err, errlen), dir, err, errlen);
	keep_first(&first, rm_dir(g, g->dir), g->dir, err, errlen);
	if (first == 0)
		LOG_INFO("gadget %s removed", g->dir);
	return first;
}

/* ---- context, UDC choice, ownership ---------------------------------------------------- */

static int check_str(const char *what, const char *s, size_t max, bool empty_ok, char *err,
		     size_t errlen)
{
	if (!s || (!empty_ok && !s[0])) {
		ipkvm_errf(err, errlen, "%s is empty", what);
		return -EINVAL;
	}
	if (strlen(s) > max) {
		ipkvm_errf(err, errlen, "%s is longer than %zu bytes", what, max);
		return -EINVAL;
	}
	if (strchr(s, '\n')) {
		ipkvm_errf(err, errlen, "%s contains a newline", what);
		return -EINVAL;
	}
	return 0;
}

/* A name used as one path component. */
static int check_name(const char *what, const char *s, bool empty_ok, char *err, size_t errlen)
{
	int r = check_str(what, s, NAME_MAX_, empty_ok, err, errlen);
	if (r == 0 && (strchr(s, '/') || s[0] == '.')) {
		ipkvm_errf(err, errlen, "%s \"%s\" is not a valid name", what, s);
		r = -EINVAL;
	}
	return r;
}

static int check_config(const struct ipkvm_gadget_config *cfg, char *err, size_t errlen)
{
	int r = check_str("configfs root", cfg->configfs_root, PATH_MAX - 64, false, err, errlen);
	if (r == 0)
		r = check_str("UDC class dir", cfg->udc_class_dir, PATH_MAX - 64, false, err,
			      errlen);
	if (r == 0)
		r = check_name("gadget name", cfg->name, false, err, errlen);
	return r;
}

static int check_full_config(const struct ipkvm_gadget_config *cfg, char *err, size_t errlen)
{
	int r = check_name("udc", cfg->udc, true, err, errlen);
	if (r == 0)
		r = check_str("manufacturer", cfg->manufacturer, IPKVM_GADGET_STRING_MAX, false,
			      err, errlen);
	if (r == 0)
		r = check_str("product", cfg->product, IPKVM_GADGET_STRING_MAX, false, err, errlen);
	if (r == 0)
		r = check_str("serial", cfg->serial, IPKVM_GADGET_STRING_MAX, true, err, errlen);
	if (r < 0)
		return r;
	if (cfg->msd_luns > IPKVM_GADGET_MAX_LUNS) {
		ipkvm_errf(err, errlen, "msd_luns %u is out of range 0..%d", cfg->msd_luns,
			   IPKVM_GADGET_MAX_LUNS);
		return -EINVAL;
	}
	/* The kernel refuses bcdDevice/bcdUSB values that are not binary-coded decimal. */
	for (int i = 0; i < 4; i++) {
		if (((cfg->bcd_device >> (4 * i)) & 0xf) > 9 ||
		    ((cfg->bcd_usb >> (4 * i)) & 0xf) > 9) {
			ipkvm_errf(err, errlen, "bcd_device 0x%04x / bcd_usb 0x%04x: not BCD",
				   cfg->bcd_device, cfg->bcd_usb);
			return -EINVAL;
		}
	}
	if (cfg->max_power_ma > 500) {
		ipkvm_errf(err, errlen, "max_power %u mA is out of range 0..500",
			   cfg->max_power_ma);
		return -EINVAL;
	}
	if (!cfg->keyboard && !cfg->mouse_abs && !cfg->mouse_rel && !cfg->consumer &&
	    cfg->msd_luns == 0) {
		ipkvm_errf(err, errlen, "no USB function is enabled");
		return -EINVAL;
	}
	return 0;
}

/* Fills g; full = for building (every field checked, serial resolved). */
static int gctx_init(const struct ipkvm_gadget_config *cfg, struct gctx *g, bool full, char *err,
		     size_t errlen)
{
	memset(g, 0, sizeof(*g));
	g->cfg = cfg;
	int r = check_config(cfg, err, errlen);
	if (r == 0 && full)
		r = check_full_config(cfg, err, errlen);
	if (r < 0)
		return r;
	char root[PATH_MAX];
	if (!realpath(cfg->configfs_root, root)) {
		r = -errno;
		ipkvm_errf(err, errlen, "configfs root %s: %s", cfg->configfs_root, strerror(-r));
		return r;
	}
	struct stat st;
	struct statfs sfs;
	if (pathf(g->base, sizeof(g->base), "%s/usb_gadget", root) < 0 ||
	    pathf(g->dir, sizeof(g->dir), "%s/%s", g->base, cfg->name) < 0) {
		ipkvm_errf(err, errlen, "configfs root %s: path too long", root);
		return -ENAMETOOLONG;
	}
	if (stat(g->base, &st) < 0 || !S_ISDIR(st.st_mode)) {
		ipkvm_errf(err, errlen,
			   "%s not found: mount configfs (mount -t configfs none %s) and load "
			   "libcomposite (modprobe libcomposite)",
			   g->base, root);
		return -ENOENT;
	}
	g->kernel = statfs(g->base, &sfs) == 0 && sfs.f_type == CONFIGFS_MAGIC;
	if (full && ipkvm_gadget_serial(cfg, g->serial, sizeof(g->serial)) < 0) {
		ipkvm_errf(err, errlen, "serial is longer than %d bytes", IPKVM_GADGET_STRING_MAX);
		return -EINVAL;
	}
	return 0;
}

static int pick_udc(const struct gctx *g, char *out, size_t len, char *err, size_t errlen)
{
	const struct ipkvm_gadget_config *cfg = g->cfg;
	char p[PATH_MAX];
	struct stat st;
	if (cfg->udc && cfg->udc[0]) {
		if (pathf(p, sizeof(p), "%s/%s", cfg->udc_class_dir, cfg->udc) < 0 ||
		    lstat(p, &st) < 0) {
			ipkvm_errf(err, errlen, "USB device controller \"%s\" not found in %s",
				   cfg->udc, cfg->udc_class_dir);
			return -ENODEV;
		}
		return ipkvm_strlcpy(out, cfg->udc, len);
	}
	struct dirent **list = NULL;
	int n = scan(cfg->udc_class_dir, &list);
	if (n <= 0) {
		if (n == 0)
			scan_free(list, n);
		ipkvm_errf(err, errlen,
			   "no USB device controller in %s: the board's USB-C/OTG port must be in "
			   "device mode (Raspberry Pi: dtoverlay=dwc2,dr_mode=peripheral in "
			   "config.txt and the dwc2 module loaded)",
			   cfg->udc_class_dir);
		return -ENODEV;
	}
	int r = ipkvm_strlcpy(out, list[0]->d_name, len);
	scan_free(list, n);
	return r;
}

/* -EBUSY when another gadget is bound to udc. */
static int check_foreign_udc(const struct gctx *g, const char *udc, char *err, size_t errlen)
{
	struct dirent **list = NULL;
	char p[PATH_MAX], cur[LINE_MAX_];
	int n = scan(g->base, &list);
	if (n < 0) {
		ipkvm_errf(err, errlen, "%s: %s", g->base, strerror(-n));
		return n;
	}
	int r = 0;
	for (int i = 0; i < n && r == 0; i++) {
		const char *name = list[i]->d_name;
		if (strcmp(name, g->cfg->name) == 0 || !is_type(g->base, name, S_IFDIR))
			continue;
		if (pathf(p, sizeof(p), "%s/%s/UDC", g->base, name) < 0 ||
		    ipkvm_read_attr(p, cur, sizeof(cur)) < 0)
			continue;
		if (strcmp(cur, udc) == 0) {
			ipkvm_errf(err, errlen,
				   "USB device controller %s is in use by the gadget \"%s\" (not "
				   "ours): unbind it first (echo > %s)",
				   udc, name, p);
			r = -EBUSY;
		}
	}
	scan_free(list, n);
	return r;
}

enum presence { P_ABSENT, P_OURS, P_FOREIGN };

static int presence(const struct gctx *g, char *err, size_t errlen)
{
	char p[PATH_MAX], v[LINE_MAX_];
	struct stat st;
	if (lstat(g->dir, &st) < 0) {
		if (errno == ENOENT)
			return P_ABSENT;
		ipkvm_errf(err, errlen, "%s: %s", g->dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return P_FOREIGN;
	if (pathf(p, sizeof(p), "%s/" CONFIG_DIR "/strings/0x409/configuration", g->dir) == 0 &&
	    ipkvm_read_attr(p, v, sizeof(v)) == 0 && strcmp(v, IPKVM_GADGET_MARKER) == 0)
		return P_OURS;
	char c[PATH_MAX], f[PATH_MAX];
	if (pathf(c, sizeof(c), "%s/configs", g->dir) == 0 &&
	    pathf(f, sizeof(f), "%s/functions", g->dir) == 0 &&
	    count_entries(c, S_IFDIR, "") == 0 && count_entries(f, S_IFDIR, "") == 0)
		return P_OURS; /* an empty shell: we crashed right after mkdir */
	return P_FOREIGN;
}

/* 0 bound now, 1 was bound there already, or -errno. */
static int bind(const struct gctx *g, const char *udc, char *err, size_t errlen)
{
	char p[PATH_MAX], cur[LINE_MAX_];
	int r = pathf(p, sizeof(p), "%s/UDC", g->dir);
	if (r < 0)
		return r;
	r = ipkvm_read_attr(p, cur, sizeof(cur));
	if (r == -ENOENT) {
		cur[0] = '\0'; /* plain dir, fresh gadget */
		r = 0;
	}
	if (r == 0 && strcmp(cur, udc) == 0)
		return 1; /* already bound there */
	if (r == 0 && cur[0])
		r = write_line(p, "");
	if (r == 0)
		r = write_line(p, udc);
	if (r < 0)
		ipkvm_errf(err, errlen, "binding %s to %s: %s", g->cfg->name, udc, strerror(-r));
	return r;
}

/* ---- public ----------------------------------------------------------------------------- */

int ipkvm_gadget_up(const struct ipkvm_gadget_config *cfg, char *err, size_t errlen)
{
	struct gctx g;
	struct spec *s = NULL;
	char udc[NAME_MAX_ + 1];
	char msg[512] = "";
	bool built = false;

	int r = gctx_init(cfg, &g, true, msg, sizeof(msg));
	if (r == 0)
		r = pick_udc(&g, udc, sizeof(udc), msg, sizeof(msg));
	if (r == 0)
		r = check_foreign_udc(&g, udc, msg, sizeof(msg));
	if (r < 0)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		ipkvm_errf(msg, sizeof(msg), "out of memory");
		goto out;
	}
	r = spec_build(&g, s);
	if (r < 0) {
		ipkvm_errf(msg, sizeof(msg), "a gadget attribute value is too long");
		goto out;
	}
	r = presence(&g, msg, sizeof(msg));
	if (r < 0)
		goto out;
	if (r == P_FOREIGN) {
		ipkvm_errf(msg, sizeof(msg),
			   "%s exists and is not ours (its configuration string is not \"%s\"): "
			   "remove it or choose another gadget name",
			   g.dir, IPKVM_GADGET_MARKER);
		r = -EEXIST;
		goto out;
	}
	if (r == P_OURS && !spec_matches(&g, s)) {
		r = teardown(&g, msg, sizeof(msg));
		if (r < 0)
			goto out;
		r = P_ABSENT;
	}
	if (r == P_ABSENT) {
		built = true;
		r = spec_apply(&g, s, msg, sizeof(msg));
		if (r < 0)
			goto fail;
		LOG_INFO("gadget %s created (%u functions, %u LUNs)", g.dir, s->nfuncs, s->luns);
	}
	r = bind(&g, udc, msg, sizeof(msg));
	if (r < 0)
		goto fail;
	LOG_INFO("gadget %s %s %s", cfg->name, r == 1 ? "already bound to" : "bound to", udc);
	r = 0;
	goto out;
fail:
	if (built) {
		char e2[256];
		teardown(&g, e2, sizeof(e2)); /* best effort: msg keeps the first error */
	}
out:
	free(s);
	if (r < 0) {
		LOG_ERROR("up: %s", msg);
		ipkvm_errf(err, errlen, "%s", msg);
	}
	return r < 0 ? r : 0;
}

int ipkvm_gadget_down(const struct ipkvm_gadget_config *cfg, char *err, size_t errlen)
{
	struct gctx g;
	char msg[512] = "";
	int r = gctx_init(cfg, &g, false, msg, sizeof(msg));
	if (r == -ENOENT && msg[0] && g.base[0]) {
		r = 0; /* no usb_gadget dir at all: nothing of ours can exist */
		goto out;
	}
	if (r < 0)
		goto out;
	r = presence(&g, msg, sizeof(msg));
	if (r == P_ABSENT) {
		r = 0;
	} else if (r == P_FOREIGN) {
		ipkvm_errf(msg, sizeof(msg), "%s exists and is not ours: not touching it", g.dir);
		r = -EEXIST;
	} else if (r == P_OURS) {
		r = teardown(&g, msg, sizeof(msg));
	}
out:
	if (r < 0) {
		LOG_ERROR("down: %s", msg);
		ipkvm_errf(err, errlen, "%s", msg);
	}
	return r;
}

static const char *fn_kind(const char *name)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(hid_fns); i++) {
		if (strcmp(name, hid_fns[i].name) == 0)
			return hid_fns[i].kind;
	}
	return strcmp(name, MS_FUNC) == 0 ? "mass_storage" : "other";
}

/* [{"name","kind","dev"}] of the functions dir, sorted by name. */
static json_t *status_functions(const struct gctx *g)
{
	char dir[PATH_MAX], p[PATH_MAX], v[LINE_MAX_], dev[64];
	struct dirent **list = NULL;
	json_t *arr = json_array();
	if (!arr || pathf(dir, sizeof(dir), "%s/functions", g->dir) < 0)
		return arr;
	int n = scan(dir, &list);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		if (!is_type(dir, name, S_IFDIR))
			continue;
		/* f_hid shows its char device as "major:minor"; the node is /dev/hidg<minor>. */
		const char *devp = NULL;
		const char *colon;
		if (strncmp(name, "hid.", 4) == 0 &&
		    pathf(p, sizeof(p), "%s/%s/dev", dir, name) == 0 &&
		    ipkvm_read_attr(p, v, sizeof(v)) == 0 && (colon = strchr(v, ':')) &&
		    pathf(dev, sizeof(dev), "/dev/hidg%s", colon + 1) == 0)
			devp = dev;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s?}", "name", name, "kind",
						     fn_kind(name), "dev", devp));
	}
	if (n >= 0)
		scan_free(list, n);
	return arr;
}

static json_t *status_udcs(const struct ipkvm_gadget_config *cfg)
{
	struct dirent **list = NULL;
	json_t *arr = json_array();
	int n = scan(cfg->udc_class_dir, &list);
	for (int i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_string(list[i]->d_name));
	if (n >= 0)
		scan_free(list, n);
	return arr;
}

int ipkvm_gadget_status(const struct ipkvm_gadget_config *cfg, json_t **out, char *err,
			size_t errlen)
{
	struct gctx g;
	char msg[512] = "", p[PATH_MAX], udc[LINE_MAX_] = "", state[LINE_MAX_];
	const char *statep = NULL;
	bool exists = false, ours = false;
	int luns = 0;
	json_t *functions = NULL;
	*out = NULL;

	int pr = P_ABSENT;
	int r = gctx_init(cfg, &g, false, msg, sizeof(msg));
	if (r == -ENOENT && g.base[0]) {
		r = 0; /* no usb_gadget dir: report "exists": false */
	} else if (r == 0) {
		pr = presence(&g, msg, sizeof(msg));
		r = pr < 0 ? pr : 0;
	}
	if (r < 0)
		goto out;
	exists = pr != P_ABSENT;
	ours = pr == P_OURS;
	if (exists) {
		if (pathf(p, sizeof(p), "%s/UDC", g.dir) < 0 ||
		    ipkvm_read_attr(p, udc, sizeof(udc)) < 0)
			udc[0] = '\0';
		if (udc[0] && pathf(p, sizeof(p), "%s/%s/state", cfg->udc_class_dir, udc) == 0 &&
		    ipkvm_read_attr(p, state, sizeof(state)) == 0)
			statep = state;
		functions = status_functions(&g);
		if (pathf(p, sizeof(p), "%s/functions/" MS_FUNC, g.dir) == 0)
			luns = count_entries(p, S_IFDIR, "lun.");
	} else {
		functions = json_array();
	}
	*out = json_pack("{s:s, s:b, s:b, s:b, s:s?, s:s?, s:o, s:i, s:o}", "name", cfg->name,
			 "exists", exists, "ours", ours, "bound", udc[0] != '\0', "udc",
			 udc[0] ? udc : NULL, "udc_state", statep, "functions", functions, "luns",
			 luns < 0 ? 0 : luns, "udcs", status_udcs(cfg));
	functions = NULL;
	if (!*out) {
		r = -ENOMEM;
		ipkvm_errf(msg, sizeof(msg), "out of memory");
	} else {
		r = 0;
	}
out:
	json_decref(functions);
	if (r < 0)
		ipkvm_errf(err, errlen, "%s", msg);
	return r;
}
