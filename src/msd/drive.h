/*
 * msd/drive: the drives the target sees, each holding at most one image: attach an image as a
 * CD-ROM (always read-only) or as a flash disk (read-only or read-write), eject it, tell
 * whether an image is attached anywhere (the API refuses to delete or overwrite it: 409), and
 * report the state of every drive.
 *
 * Two backends behind one object:
 *   - gadget: the LUNs of the USB gadget's mass-storage function
 *     (<ms_dir>/lun.N/{cdrom,ro,file,forced_eject}, ms_dir = .../functions/mass_storage.usb0).
 *     The kernel refuses to change ro or cdrom while a file is attached, so attach requires an
 *     empty drive and writes cdrom, then ro, then file. Eject writes "" to file; when the host
 *     has locked the medium (PREVENT MEDIUM REMOVAL, the kernel answers EBUSY) it writes
 *     forced_eject (Linux 6.0+). State is read back from the kernel every time, so an eject
 *     done by the host (or an attachment left from before a daemon restart) is seen.
 *   - ops: two callbacks for the virtual target's media; state is kept here.
 *
 * Drives are numbered from 0. Main thread (but see ipkvm_drives_in_use); every call is short
 * (a few small file writes).
 */
#ifndef IPKVM_MSD_DRIVE_H
#define IPKVM_MSD_DRIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define IPKVM_DRIVES_MAX 16

/* The virtual target's side: 0 or -errno. path is absolute; rw is never true with cdrom. */
struct ipkvm_drive_ops {
	int (*attach)(void *ctx, unsigned lun, const char *path, bool cdrom, bool rw);
	int (*eject)(void *ctx, unsigned lun);
};

struct ipkvm_drives;

/* n drives (0..IPKVM_DRIVES_MAX). Nothing is opened or checked yet. NULL on bad n or ENOMEM. */
struct ipkvm_drives *ipkvm_drives_create_gadget(const char *ms_dir, unsigned n);
struct ipkvm_drives *ipkvm_drives_create_ops(const struct ipkvm_drive_ops *ops, void *ctx,
					     unsigned n);
void ipkvm_drives_destroy(struct ipkvm_drives *d);

/*
 * Test seam for the gadget backend: replaces the attribute write (default: open(O_WRONLY |
 * O_TRUNC), one write() of data, close). Returns 0 or -errno. fn NULL restores the default.
 */
typedef int (*ipkvm_drive_write_fn)(void *ctx, const char *path, const char *data, size_t len);
void ipkvm_drives_set_write_fn(struct ipkvm_drives *d, ipkvm_drive_write_fn fn, void *ctx);

unsigned ipkvm_drives_count(const struct ipkvm_drives *d);

/*
 * Attaches image_path (absolute) to drive n. Returns 0, -EINVAL (no drive n, path not absolute
 * or containing a newline), -EROFS (rw with cdrom), -EBUSY (an image is attached: eject
 * first), or -errno from the backend (gadget: the kernel's error opening the image, -ENOENT
 * when the LUN does not exist, i.e. the gadget is not up). err says what happened.
 */
int ipkvm_drives_attach(struct ipkvm_drives *d, unsigned n, const char *image_path, bool cdrom,
			bool rw, char *err, size_t errlen);

/*
 * Gadget: an attach that changed a drive's type (disk <-> CD-ROM) unplugs the gadget from its
 * controller, because the host reads drive types only when it enumerates the device; the
 * caller plugs it in again with ipkvm_drives_rebind() about a second later (an immediate
 * bind goes unnoticed by the host). rebind: 0, -EALREADY when nothing is pending, -errno.
 */
bool ipkvm_drives_rebind_pending(const struct ipkvm_drives *d);
int ipkvm_drives_rebind(struct ipkvm_drives *d);

/*
 * Ejects drive n; an empty drive is 0. -EINVAL (no drive n), -EBUSY (the target holds the
 * medium locked and the kernel has no forced_eject, or it did not take), -errno otherwise.
 */
int ipkvm_drives_eject(struct ipkvm_drives *d, unsigned n, char *err, size_t errlen);

/* Whether image_path (same path, or the same file by device and inode) is attached anywhere.
 * Gadget: read from the LUN files alone, so an attachment made before a daemon restart or by
 * hand counts, and any thread may call it (the store does, as its in_use callback, from
 * upload and download threads); ops: main thread. */
bool ipkvm_drives_in_use(const struct ipkvm_drives *d, const char *image_path);

/*
 * Gadget: makes store s refuse to delete or replace an image any LUN serves (-EBUSY), as read
 * from the LUN files at that moment (ipkvm_store_set_in_use with ipkvm_drives_in_use), so an
 * attachment the daemon did not make, or made before a restart that kept the gadget, is
 * protected like one it holds. d must outlive s's use of it. Ops: nothing (the API's holds
 * cover drives that live in this process).
 */
struct ipkvm_store;
void ipkvm_drives_guard_store(struct ipkvm_drives *d, struct ipkvm_store *s);

/*
 * [{"lun": 0, "image": "name.iso"|null, "path": "/abs/name.iso"|null, "cdrom": bool,
 *   "rw": bool}, ...] one entry per drive; an empty drive has cdrom and rw false. Gadget: rw
 *   is what the kernel granted (it falls back to read-only when it cannot open for writing);
 *   a missing LUN reads as empty. NULL only on ENOMEM.
 */
json_t *ipkvm_drives_state(const struct ipkvm_drives *d);

#endif
