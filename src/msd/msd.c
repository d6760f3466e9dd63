/*
 * msd/msd: the virtual media service (see msd.h): store + downloader + drives, and the
 * rules between them.
 *
 * Why it is shaped so:
 *   - One object a front end receives, instead of three it must combine correctly: the hold
 *     an attach takes on the store and the release an eject gives back, the name each drive
 *     holds, and the rebind after a type change all lived in the HTTP handlers; a second
 *     front end would have had to copy them.
 *   - The name each drive holds is kept here, in memory, next to the store's holds: the
 *     gadget's LUN files name resolved paths, not store names, and an eject must release
 *     exactly the hold its attach took, even when the host ejected the medium by itself.
 *   - Time comes in through cb.timer (as in atx), so the rebind is tested without a loop and
 *     without sleeping.
 */
#define LOG_TAG "msd"
#include "core/log.h"

#include "msd/msd.h"

#include "core/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ipkvm_msd {
	struct ipkvm_store *store;
	struct ipkvm_fetcher *fetcher;
	struct ipkvm_drives *drives;
	struct ipkvm_msd_cb cb;
	bool timer_set;
	char image[IPKVM_DRIVES_MAX][IPKVM_STORE_NAME_MAX + 1]; /* per drive, "" = none */
};

static void fetch_wake(void *ctx)
{
	struct ipkvm_msd *m = ctx;
	if (m->cb.wake)
		m->cb.wake(m->cb.ctx);
}

struct ipkvm_msd *ipkvm_msd_create(const struct ipkvm_msd_config *cfg, char *err, size_t errlen)
{
	char why[256] = "";
	struct ipkvm_msd *m = calloc(1, sizeof(*m));
	if (!m) {
		ipkvm_drives_destroy(cfg->drives);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->drives = cfg->drives;
	m->cb = cfg->cb;
	int r = ipkvm_store_open(cfg->dir, &m->store, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", cfg->dir, why);
		goto err;
	}
	ipkvm_store_set_quota(m->store, cfg->quota);
	if (cfg->fetch) {
		m->fetcher = ipkvm_fetch_create(cfg->fetch, m->store, fetch_wake, m);
		if (!m->fetcher) {
			snprintf(err, errlen, "cannot start the downloader");
			goto err;
		}
	}
	/* The LUN files, not our memory, say what the target is served: an image attached
	 * before a restart that kept the gadget must not be deleted or replaced either. */
	if (m->drives)
		ipkvm_drives_guard_store(m->drives, m->store);
	return m;
err:
	ipkvm_msd_destroy(m);
	return NULL;
}

void ipkvm_msd_stop_downloads(struct ipkvm_msd *m)
{
	if (!m)
		return;
	ipkvm_fetch_destroy(m->fetcher);
	m->fetcher = NULL;
}

void ipkvm_msd_destroy(struct ipkvm_msd *m)
{
	if (!m)
		return;
	ipkvm_msd_stop_downloads(m);
	if (m->timer_set && m->cb.timer)
		m->cb.timer(m->cb.ctx, -1);
	if (m->drives && ipkvm_drives_rebind_pending(m->drives))
		ipkvm_drives_rebind(m->drives); /* never leave the target unplugged */
	ipkvm_drives_destroy(m->drives);
	ipkvm_store_destroy(m->store);
	free(m);
}

struct ipkvm_store *ipkvm_msd_store(struct ipkvm_msd *m)
{
	return m->store;
}

struct ipkvm_fetcher *ipkvm_msd_fetcher(struct ipkvm_msd *m)
{
	return m->fetcher;
}

unsigned ipkvm_msd_drive_count(const struct ipkvm_msd *m)
{
	return m->drives ? ipkvm_drives_count(m->drives) : 0;
}

const char *ipkvm_msd_drive_image(const struct ipkvm_msd *m, unsigned n)
{
	return n < ipkvm_msd_drive_count(m) ? m->image[n] : "";
}

static void changed(struct ipkvm_msd *m)
{
	if (m->cb.changed)
		m->cb.changed(m->cb.ctx);
}

void ipkvm_msd_changed(struct ipkvm_msd *m)
{
	changed(m);
}

/* No drives, or no drive n: -ENODEV or -ENXIO with err; else 0. */
static int check_drive(const struct ipkvm_msd *m, unsigned n, char *err, size_t errlen)
{
	unsigned count = ipkvm_msd_drive_count(m);
	if (count == 0) {
		snprintf(err, errlen, "no drives to attach images to ([msd] drives)");
		return -ENODEV;
	}
	if (n >= count) {
		snprintf(err, errlen, "no drive %u (there are %u)", n, count);
		return -ENXIO;
	}
	return 0;
}

int ipkvm_msd_attach(struct ipkvm_msd *m, unsigned n, const char *name, bool cdrom, bool rw,
		     char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (errlen)
		err[0] = '\0';
	int r = check_drive(m, n, err, errlen);
	if (r < 0)
		return r;
	r = ipkvm_store_path(m->store, name, path, sizeof(path));
	if (r < 0)
		return r;
	if (m->image[n][0]) {
		snprintf(err, errlen, "drive %u holds %s: eject it first", n, m->image[n]);
		return -EBUSY;
	}
	r = ipkvm_store_hold(m->store, name);
	if (r == -EBUSY)
		snprintf(err, errlen, "%s is still being written", name);
	if (r < 0)
		return r;
	r = ipkvm_drives_attach(m->drives, n, path, cdrom, rw, err, errlen);
	if (r < 0)
		ipkvm_store_release(m->store, name);
	else
		ipkvm_strlcpy(m->image[n], name, sizeof(m->image[n]));
	/* A type change unplugged the gadget (even when the attach then failed): plug it in
	 * again a moment later, when the host has seen it go. */
	if (ipkvm_drives_rebind_pending(m->drives) && m->cb.timer) {
		m->timer_set = true;
		m->cb.timer(m->cb.ctx, IPKVM_MSD_REBIND_MS);
	}
	if (r == 0)
		changed(m);
	return r;
}

int ipkvm_msd_eject(struct ipkvm_msd *m, unsigned n, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	int r = check_drive(m, n, err, errlen);
	if (r == 0)
		r = ipkvm_drives_eject(m->drives, n, err, errlen);
	if (r < 0)
		return r;
	if (m->image[n][0]) {
		ipkvm_store_release(m->store, m->image[n]);
		m->image[n][0] = '\0';
	}
	changed(m);
	return 0;
}

int ipkvm_msd_delete(struct ipkvm_msd *m, const char *name)
{
	int r = ipkvm_store_delete(m->store, name);
	if (r == 0)
		changed(m);
	return r;
}

bool ipkvm_msd_in_use(struct ipkvm_msd *m, const char *name)
{
	return ipkvm_store_held(m->store, name);
}

void ipkvm_msd_timer_fired(struct ipkvm_msd *m)
{
	m->timer_set = false;
	if (m->drives && ipkvm_drives_rebind_pending(m->drives))
		ipkvm_drives_rebind(m->drives);
}

json_t *ipkvm_msd_state_json(struct ipkvm_msd *m)
{
	json_t *images = ipkvm_store_list_json(m->store);
	int64_t free_b = 0, total = 0, quota = 0, used = 0;
	ipkvm_store_space(m->store, &free_b, &total);
	/* With a quota ([msd] max_size), free is what may still be stored: the smaller of the
	 * disk's free space and what the quota leaves. */
	if (ipkvm_store_usage(m->store, &quota, &used) == 0 && quota > 0) {
		int64_t left = used < quota ? quota - used : 0;
		if (left < free_b)
			free_b = left;
	}
	json_t *st =
	    json_pack("{s:o, s:{s:I, s:I, s:o, s:I}}", "images", images ? images : json_array(),
		      "space", "free", (json_int_t)free_b, "total", (json_int_t)total, "quota",
		      quota > 0 ? json_integer(quota) : json_null(), "used", (json_int_t)used);
	if (!st)
		return NULL;
	/* Mark the images in use: they cannot be deleted or replaced. */
	json_t *img;
	size_t i;
	json_array_foreach(json_object_get(st, "images"), i, img)
	{
		const char *name = json_string_value(json_object_get(img, "name"));
		json_object_set_new(img, "attached",
				    json_boolean(name && ipkvm_store_held(m->store, name)));
	}
	json_t *drives = m->drives ? ipkvm_drives_state(m->drives) : NULL;
	json_object_set_new(st, "drives", drives ? drives : json_array());
	json_t *fetches = json_array();
	struct ipkvm_fetch_status fs[8];
	size_t n = m->fetcher ? ipkvm_fetch_list(m->fetcher, fs, IPKVM_ARRAY_SIZE(fs)) : 0;
	for (i = 0; i < n; i++)
		json_array_append_new(fetches, ipkvm_fetch_status_json(&fs[i], false));
	json_object_set_new(st, "fetches", fetches);
	return st;
}
