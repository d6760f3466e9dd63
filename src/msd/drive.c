/*
 * msd/drive: drives backed by the gadget's mass-storage LUNs or by callbacks (see drive.h).
 *
 * Why it is shaped so:
 *   - The kernel is the truth for gadget LUNs: the host can eject a medium by itself (SCSI
 *     START STOP UNIT), and a daemon restart finds images still attached to a reused gadget.
 *     So state and in_use read the lun.N files each time instead of trusting memory. Memory
 *     only keeps the path as we gave it (the kernel shows the resolved path) to report the
 *     image under the name the store knows, while the kernel says the same file is attached.
 *   - Attach refuses a busy drive instead of ejecting on its own: swapping media under a
 *     running OS is an operator decision, and the kernel would refuse ro/cdrom changes anyway.
 *   - in_use compares files by device and inode as well as by path, so a symlinked state dir
 *     or a path spelled differently cannot get an attached image deleted.
 *   - The write seam is the only indirection: the tests use it to see the order of writes and
 *     to play the kernel's EBUSY for a locked medium.
 */
#define LOG_TAG "drive"
#include "core/log.h"

#include "msd/drive.h"

#include "core/util.h"
#include "msd/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATTR_MAX 65536 /* configfs files claim 4096 bytes */

struct drive {
	char *path; /* as attached by us; NULL = nothing attached by us */
	bool cdrom;
	bool rw;
};

struct ipkvm_drives {
	bool gadget;
	char *ms_dir;
	struct ipkvm_drive_ops ops;
	void *ops_ctx;
	ipkvm_drive_write_fn write;
	void *write_ctx;
	unsigned n;
	struct drive *d;
	char rebind_udc[256]; /* unbound for a type change: bind to this again, "" = nothing */
};

/* What a LUN holds, as the kernel says. */
struct lun_state {
	bool attached;
	bool cdrom;
	bool rw;
	char path[PATH_MAX];
};

static int default_write(void *ctx, const char *path, const char *data, size_t len)
{
	/* Not created: the kernel makes the attributes; a missing one means no such LUN. */
	return ipkvm_write_attr(path, data, len, false);
}

static struct ipkvm_drives *drives_new(unsigned n)
{
	if (n > IPKVM_DRIVES_MAX)
		return NULL;
	struct ipkvm_drives *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->n = n;
	d->d = calloc(n ? n : 1, sizeof(*d->d));
	if (!d->d) {
		free(d);
		return NULL;
	}
	d->write = default_write;
	return d;
}

struct ipkvm_drives *ipkvm_drives_create_gadget(const char *ms_dir, unsigned n)
{
	if (!ms_dir || !ms_dir[0])
		return NULL;
	struct ipkvm_drives *d = drives_new(n);
	if (!d)
		return NULL;
	d->gadget = true;
	d->ms_dir = strdup(ms_dir);
	if (!d->ms_dir) {
		ipkvm_drives_destroy(d);
		return NULL;
	}
	return d;
}

struct ipkvm_drives *ipkvm_drives_create_ops(const struct ipkvm_drive_ops *ops, void *ctx,
					     unsigned n)
{
	if (!ops || !ops->attach || !ops->eject)
		return NULL;
	struct ipkvm_drives *d = drives_new(n);
	if (!d)
		return NULL;
	d->ops = *ops;
	d->ops_ctx = ctx;
	return d;
}

void ipkvm_drives_destroy(struct ipkvm_drives *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->n; i++)
		free(d->d[i].path);
	free(d->d);
	free(d->ms_dir);
	free(d);
}

void ipkvm_drives_set_write_fn(struct ipkvm_drives *d, ipkvm_drive_write_fn fn, void *ctx)
{
	d->write = fn ? fn : default_write;
	d->write_ctx = fn ? ctx : NULL;
}

unsigned ipkvm_drives_count(const struct ipkvm_drives *d)
{
	return d->n;
}

/* ---- gadget LUN files ------------------------------------------------------------------ */

static int lun_path(const struct ipkvm_drives *d, unsigned n, const char *attr, char *out,
		    size_t len)
{
	int k = snprintf(out, len, "%s/lun.%u/%s", d->ms_dir, n, attr);
	return (k < 0 || (size_t)k >= len) ? -ENAMETOOLONG : 0;
}

/* Reads one attribute without its trailing newline. */
static int lun_read(const struct ipkvm_drives *d, unsigned n, const char *attr, char *out,
		    size_t len)
{
	char p[PATH_MAX];
	int r = lun_path(d, n, attr, p, sizeof(p));
	return r < 0 ? r : ipkvm_read_attr(p, out, len);
}

static int lun_write(const struct ipkvm_drives *d, unsigned n, const char *attr, const char *value)
{
	char p[PATH_MAX], buf[PATH_MAX + 2];
	int r = lun_path(d, n, attr, p, sizeof(p));
	if (r < 0)
		return r;
	/* The kernel strips one trailing newline; "\n" alone means "no file". */
	int k = snprintf(buf, sizeof(buf), "%s\n", value);
	if (k < 0 || (size_t)k >= sizeof(buf))
		return -ENAMETOOLONG;
	return d->write(d->write_ctx, p, buf, (size_t)k);
}

static int lun_state(const struct ipkvm_drives *d, unsigned n, struct lun_state *st)
{
	char v[16];
	memset(st, 0, sizeof(*st));
	int r = lun_read(d, n, "file", st->path, sizeof(st->path));
	if (r < 0)
		return r;
	st->attached = st->path[0] != '\0';
	if (!st->attached)
		return 0; /* an empty drive has no mode worth showing (same as the ops backend) */
	st->cdrom = lun_read(d, n, "cdrom", v, sizeof(v)) == 0 && strcmp(v, "1") == 0;
	st->rw = lun_read(d, n, "ro", v, sizeof(v)) == 0 && strcmp(v, "0") == 0;
	return 0;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	if (strcmp(a, b) == 0)
		return true;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The path to show for drive n: ours while the kernel has the same file, else the kernel's. */
static const char *shown_path(const struct ipkvm_drives *d, unsigned n, const struct lun_state *st)
{
	const char *mine = d->d[n].path;
	if (!st->attached)
		return NULL;
	return (mine && same_file(mine, st->path)) ? mine : st->path;
}

static void forget(struct ipkvm_drives *d, unsigned n)
{
	free(d->d[n].path);
	d->d[n] = (struct drive){0};
}

/* The host learns a drive's type (disk or CD-ROM) only when it enumerates the gadget:
 * after changing cdrom, the gadget is unbound (<gadget>/UDC, two levels above the
 * mass-storage function) and, a moment later, bound again (ipkvm_drives_rebind) so the
 * host enumerates it anew. Found on the real kernel in the bench VM: the drive otherwise
 * stays a disk, and a bind right after the unbind goes unnoticed by the host. The target
 * sees a short unplug of every function; the HID output reopens by itself. A tree without
 * a UDC file (not bound, or a test's) is left alone. */
static int udc_path(const struct ipkvm_drives *d, char *out, size_t len)
{
	int k = snprintf(out, len, "%s/../../UDC", d->ms_dir);
	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

static void unbind(struct ipkvm_drives *d)
{
	char path[PATH_MAX], *udc = NULL;
	size_t len = 0;
	if (udc_path(d, path, sizeof(path)) < 0 || ipkvm_read_file(path, ATTR_MAX, &udc, &len) < 0)
		return;
	while (len && (udc[len - 1] == '\n' || udc[len - 1] == ' '))
		udc[--len] = '\0';
	if (len && len < sizeof(d->rebind_udc)) {
		int r = d->write(d->write_ctx, path, "\n", 1);
		if (r == 0) {
			LOG_INFO("a drive changed its type: unplugging the gadget from %s", udc);
			ipkvm_strlcpy(d->rebind_udc, udc, sizeof(d->rebind_udc));
		} else {
			LOG_ERROR("unbinding the gadget from %s: %s", udc, strerror(-r));
		}
	}
	free(udc);
}

bool ipkvm_drives_rebind_pending(const struct ipkvm_drives *d)
{
	return d->rebind_udc[0] != '\0';
}

int ipkvm_drives_rebind(struct ipkvm_drives *d)
{
	if (!d->rebind_udc[0])
		return -EALREADY;
	char path[PATH_MAX], line[272];
	int k = snprintf(line, sizeof(line), "%s\n", d->rebind_udc);
	int r = udc_path(d, path, sizeof(path));
	if (r == 0)
		r = d->write(d->write_ctx, path, line, (size_t)k);
	if (r < 0)
		LOG_ERROR("binding the gadget to %s again: %s", d->rebind_udc, strerror(-r));
	else
		LOG_INFO("gadget plugged in again on %s", d->rebind_udc);
	d->rebind_udc[0] = '\0';
	return r;
}

/* The kernel refuses a CD-ROM image under 300 sectors of 2048 bytes ("file too small"). */
#define CD_MIN_BYTES (300 * 2048)

static int gadget_attach(struct ipkvm_drives *d, unsigned n, const char *path, bool cdrom, bool rw,
			 char *err, size_t errlen)
{
	struct stat sb;
	if (cdrom && stat(path, &sb) == 0 && sb.st_size < CD_MIN_BYTES) {
		ipkvm_errf(err, errlen,
			   "%s is %lld bytes: a CD-ROM image must be at least 600 KiB (300 "
			   "sectors); attach it as a flash disk",
			   path, (long long)sb.st_size);
		return -EMSGSIZE;
	}
	struct lun_state st;
	int r = lun_state(d, n, &st);
	if (r < 0) {
		ipkvm_errf(err, errlen, "drive %u: reading %s/lun.%u/file: %s%s", n, d->ms_dir, n,
			   strerror(-r), r == -ENOENT ? " (is the USB gadget up?)" : "");
		return r;
	}
	if (st.attached) {
		ipkvm_errf(err, errlen, "drive %u already has %s attached: eject it first", n,
			   shown_path(d, n, &st));
		return -EBUSY;
	}
	forget(d, n); /* the host ejected what we had attached */
	char was[8] = "";
	lun_read(d, n, "cdrom", was, sizeof(was));
	bool type_changed = strcmp(was, cdrom ? "1" : "0") != 0;
	/* cdrom and ro only while no file is attached (checked just above). */
	const char *attr = "cdrom";
	r = lun_write(d, n, attr, cdrom ? "1" : "0");
	if (r == 0) {
		attr = "ro";
		r = lun_write(d, n, attr, rw ? "0" : "1");
	}
	if (r == 0) {
		attr = "file";
		r = lun_write(d, n, attr, path);
	}
	/* The kernel falls back to read-only when it cannot open the image for writing. */
	char ro[8];
	if (r == 0 && rw && lun_read(d, n, "ro", ro, sizeof(ro)) == 0 && strcmp(ro, "1") == 0)
		LOG_WARN("drive %u: %s could not be opened for writing: attached read-only", n,
			 path);
	if (r < 0) {
		if (strcmp(attr, "file") == 0)
			ipkvm_errf(err, errlen, "drive %u: cannot attach %s: %s", n, path,
				   strerror(-r));
		else
			ipkvm_errf(err, errlen, "drive %u: writing %s: %s", n, attr, strerror(-r));
	} else if (type_changed) {
		unbind(d);
	}
	return r;
}

static int gadget_eject(struct ipkvm_drives *d, unsigned n, char *err, size_t errlen)
{
	struct lun_state st;
	int r = lun_state(d, n, &st);
	if (r < 0) {
		ipkvm_errf(err, errlen, "drive %u: reading %s/lun.%u/file: %s", n, d->ms_dir, n,
			   strerror(-r));
		return r;
	}
	if (!st.attached)
		return 0;
	r = lun_write(d, n, "file", "");
	if (r == -EBUSY) {
		/* The host prevents medium removal: pull it out anyway (Linux 6.0+). */
		LOG_WARN("drive %u: the target holds the medium locked: forcing the eject", n);
		r = lun_write(d, n, "forced_eject", "1");
		if (r == -ENOENT || r == -EACCES) {
			ipkvm_errf(
			    err, errlen,
			    "drive %u: the target holds the drive locked, and this kernel "
			    "has no forced_eject (Linux 6.0+): eject it from the target's OS",
			    n);
			return -EBUSY;
		}
		if (r == 0 && lun_state(d, n, &st) == 0 && st.attached) {
			ipkvm_errf(err, errlen, "drive %u: still attached after forced_eject", n);
			return -EBUSY;
		}
	}
	if (r < 0)
		ipkvm_errf(err, errlen, "drive %u: eject: %s", n, strerror(-r));
	return r;
}

/* ---- public --------------------------------------------------------------------------- */

int ipkvm_drives_attach(struct ipkvm_drives *d, unsigned n, const char *image_path, bool cdrom,
			bool rw, char *err, size_t errlen)
{
	int r;
	ipkvm_errf(err, errlen, "%s", "");
	if (n >= d->n) {
		ipkvm_errf(err, errlen, "no drive %u (there are %u)", n, d->n);
		return -EINVAL;
	}
	if (!image_path || image_path[0] != '/' || strchr(image_path, '\n')) {
		ipkvm_errf(err, errlen, "the image path must be absolute, without newlines");
		return -EINVAL;
	}
	if (cdrom && rw) {
		ipkvm_errf(err, errlen, "a CD-ROM is read-only: attach it with rw false");
		return -EROFS;
	}
	char *copy = strdup(image_path);
	if (!copy) {
		ipkvm_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (d->gadget) {
		r = gadget_attach(d, n, image_path, cdrom, rw, err, errlen);
	} else if (d->d[n].path) {
		ipkvm_errf(err, errlen, "drive %u already has %s attached: eject it first", n,
			   d->d[n].path);
		r = -EBUSY;
	} else {
		r = d->ops.attach(d->ops_ctx, n, image_path, cdrom, rw);
		if (r < 0)
			ipkvm_errf(err, errlen, "drive %u: cannot attach %s: %s", n, image_path,
				   strerror(-r));
	}
	if (r < 0) {
		free(copy);
		return r;
	}
	forget(d, n);
	d->d[n] = (struct drive){.path = copy, .cdrom = cdrom, .rw = rw};
	LOG_INFO("drive %u: attached %s as %s (%s)", n, image_path, cdrom ? "CD-ROM" : "flash",
		 rw ? "read-write" : "read-only");
	return 0;
}

int ipkvm_drives_eject(struct ipkvm_drives *d, unsigned n, char *err, size_t errlen)
{
	int r = 0;
	ipkvm_errf(err, errlen, "%s", "");
	if (n >= d->n) {
		ipkvm_errf(err, errlen, "no drive %u (there are %u)", n, d->n);
		return -EINVAL;
	}
	if (d->gadget) {
		r = gadget_eject(d, n, err, errlen);
	} else if (d->d[n].path) {
		r = d->ops.eject(d->ops_ctx, n);
		if (r < 0)
			ipkvm_errf(err, errlen, "drive %u: eject: %s", n, strerror(-r));
	}
	if (r < 0)
		return r;
	if (d->d[n].path)
		LOG_INFO("drive %u: ejected %s", n, d->d[n].path);
	forget(d, n);
	return 0;
}

bool ipkvm_drives_in_use(const struct ipkvm_drives *d, const char *image_path)
{
	struct lun_state st;
	if (!image_path)
		return false;
	for (unsigned i = 0; i < d->n; i++) {
		if (!d->gadget) {
			if (d->d[i].path && same_file(d->d[i].path, image_path))
				return true;
			continue;
		}
		/* Only the kernel's files, never d->d[] (the main thread changes it): the store
		 * asks from upload and download threads. The kernel's file is what counts
		 * anyway, whoever wrote it. */
		if (lun_read(d, i, "file", st.path, sizeof(st.path)) < 0 || !st.path[0])
			continue;
		if (same_file(st.path, image_path))
			return true;
	}
	return false;
}

static bool store_in_use(void *ctx, const char *path)
{
	return ipkvm_drives_in_use(ctx, path);
}

void ipkvm_drives_guard_store(struct ipkvm_drives *d, struct ipkvm_store *s)
{
	/* The ops backend's drives live in this process and are only attached through the API,
	 * which holds the image in the store: nothing to add (and its memory is the main
	 * thread's, which the store's threads must not read). */
	if (d->gadget)
		ipkvm_store_set_in_use(s, store_in_use, d);
}

json_t *ipkvm_drives_state(const struct ipkvm_drives *d)
{
	json_t *arr = json_array();
	struct lun_state st;
	for (unsigned i = 0; arr && i < d->n; i++) {
		const char *path = NULL;
		bool cdrom, rw;
		if (d->gadget) {
			if (lun_state(d, i, &st) < 0)
				memset(&st, 0, sizeof(st)); /* no such LUN: empty */
			path = shown_path(d, i, &st);
			cdrom = st.cdrom;
			rw = st.rw;
		} else {
			path = d->d[i].path;
			cdrom = d->d[i].cdrom;
			rw = d->d[i].rw;
		}
		const char *slash = path ? strrchr(path, '/') : NULL;
		json_t *o =
		    json_pack("{s:I, s:s?, s:s?, s:b, s:b}", "lun", (json_int_t)i, "image",
			      slash ? slash + 1 : path, "path", path, "cdrom", cdrom, "rw", rw);
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}
