/*
 * msd/msd: virtual media as one service. It holds the image store, the downloader and the
 * drives the target sees, and keeps the rules that tie them together, so that every front
 * end (the HTTP API now; VNC, Redfish, IPMI next) attaches, ejects and lists the same way:
 *
 *   - which image each drive holds, by its name in the store; a drive holds one image at a
 *     time (attach to a busy drive is refused: eject first);
 *   - a held image is "in use": the store refuses to delete or replace it (-EBUSY), and so
 *     it does for an image a gadget LUN serves that this process never attached (an
 *     attachment kept across a daemon restart, or made by hand);
 *   - an attach that changed a gadget drive's type unplugs the gadget; the service plugs it
 *     in again REBIND_MS later on its timer, and never leaves it unplugged when destroyed;
 *   - the state every client sees (images with their "attached" mark, space and quota,
 *     drives, downloads) is built here, once.
 *
 * The service owns the store, the fetcher and the drives. The composition root makes the
 * drives (it knows whether they are the gadget's LUNs or the virtual target's) and hands
 * them over; the store and the fetcher are made here from plain settings.
 *
 * Time and wake-ups are injected like atx's: cb.timer(ctx, delay_ms) asks for one call of
 * ipkvm_msd_timer_fired() after delay_ms (a new request replaces the old; < 0 cancels),
 * cb.changed(ctx) says the state changed (the web front end publishes the `msd` event), and
 * cb.wake(ctx), called from download threads, asks the main thread to collect download
 * progress (ipkvm_fetch_poll on ipkvm_msd_fetcher()). Everything else: main thread.
 */
#ifndef IPKVM_MSD_MSD_H
#define IPKVM_MSD_MSD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msd/drive.h"
#include "msd/fetch.h"
#include "msd/store.h"

/* How long the gadget stays unplugged after a drive changed its type: long enough for the
 * host to see the disconnect (hubs debounce port changes for 100 ms and more). */
#define IPKVM_MSD_REBIND_MS 1000

struct ipkvm_msd_cb {
	void *ctx;
	void (*timer)(void *ctx, int64_t delay_ms); /* may be NULL: no rebind timer */
	void (*changed)(void *ctx);		    /* may be NULL */
	void (*wake)(void *ctx);		    /* from download threads; may be NULL */
};

struct ipkvm_msd_config {
	const char *dir; /* the image store's directory (created when missing) */
	int64_t quota;	 /* bytes images and transfers may take together; 0 = none */
	/* The downloader's settings; NULL = no downloads (ipkvm_msd_fetcher() is NULL). */
	const struct ipkvm_fetch_config *fetch;
	/* Taken over, also when create fails; NULL = images can only be kept, not attached. */
	struct ipkvm_drives *drives;
	struct ipkvm_msd_cb cb;
};

struct ipkvm_msd;

/* Opens the store, starts the downloader, takes the drives. NULL with err on failure. */
struct ipkvm_msd *ipkvm_msd_create(const struct ipkvm_msd_config *cfg, char *err, size_t errlen);
/* Ends the downloads and joins their threads (after this, cb.wake is never called again);
 * ipkvm_msd_fetcher() is NULL afterwards. Destroy does it too; the daemon calls it before
 * the loop goes, because download threads wake the loop. */
void ipkvm_msd_stop_downloads(struct ipkvm_msd *m);
/* Cancels the timer, plugs the gadget in again if a rebind was pending, and frees the
 * drives, the downloader and the store. NULL is fine. */
void ipkvm_msd_destroy(struct ipkvm_msd *m);

struct ipkvm_store *ipkvm_msd_store(struct ipkvm_msd *m);
struct ipkvm_fetcher *ipkvm_msd_fetcher(struct ipkvm_msd *m); /* NULL: no downloads */
/* Drives images can be attached to: 0 when there are none. */
unsigned ipkvm_msd_drive_count(const struct ipkvm_msd *m);
/* The name of the image drive n holds as far as this service attached it, "" for none (also
 * for no drive n). */
const char *ipkvm_msd_drive_image(const struct ipkvm_msd *m, unsigned n);

/*
 * Attaches image `name` of the store to drive n (a CD-ROM is read-only: rw needs cdrom
 * false). Returns 0, or -errno with err set (may be "" when the code says all):
 *   -ENODEV no drives; -ENXIO no drive n; -EINVAL, -ENOENT (bad or missing image);
 *   -EBUSY the drive holds an image, or the image is still being written; -EROFS rw with
 *   cdrom; or the drive's own error (ipkvm_drives_attach). cb.changed on success.
 */
int ipkvm_msd_attach(struct ipkvm_msd *m, unsigned n, const char *name, bool cdrom, bool rw,
		     char *err, size_t errlen);
/* Ejects drive n (an empty one is fine) and lets go of its image. 0, -ENODEV, -ENXIO,
 * -EBUSY (the host holds the medium locked), -errno; cb.changed on success. */
int ipkvm_msd_eject(struct ipkvm_msd *m, unsigned n, char *err, size_t errlen);
/* Deletes an image of the store: 0, -EINVAL, -ENOENT, -EBUSY (in use: attached to a drive,
 * or being written). cb.changed on success. */
int ipkvm_msd_delete(struct ipkvm_msd *m, const char *name);
/* Whether an image may not be deleted or replaced now (held by a drive or served by a LUN). */
bool ipkvm_msd_in_use(struct ipkvm_msd *m, const char *name);

/* The timer asked for by cb.timer is due: plugs the gadget in again after a type change. */
void ipkvm_msd_timer_fired(struct ipkvm_msd *m);
/* The state changed through a path outside the service (an upload's progress, a download's
 * report): calls cb.changed. */
void ipkvm_msd_changed(struct ipkvm_msd *m);

/*
 * {"images":[{"name","size","mtime","complete","attached",...}],
 *  "space":{"free","total","quota"|null,"used"}, "drives":[...], "fetches":[...]}:
 * GET /api/msd and the `msd` event. With a quota, free is the smaller of the disk's free
 * space and what the quota leaves. NULL only on ENOMEM.
 */
json_t *ipkvm_msd_state_json(struct ipkvm_msd *m);

#endif
