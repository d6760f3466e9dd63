/*
 * api_msd: virtual media over HTTP — the image store (list, upload, download, delete) and
 * the drives the target sees (attach, eject).
 *
 * Uploads stream: a PUT body is never held whole. Bytes collect in a 1 MiB buffer; a full
 * buffer goes to the disk worker thread (so a slow SD card or the kernel's dirty-page
 * throttling never stalls the event loop, where keys and frames move) while the other
 * buffer fills. When both are busy, the connection stops reading (lws rx flow control) until
 * the disk catches up, so memory stays at about 2 MiB per upload whatever the image size,
 * and TCP slows the client down. The end of the body becomes a last job that writes the rest
 * and commits (fsync, rename): only then is the image listed.
 */
#define LOG_TAG "api-msd"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/audit.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "core/worker.h"
#include "msd/store.h"
#include "web/web.h"

#define UP_BUF	    (1u << 20)
#define UP_EVENT_MS 1000 /* `msd` progress events during an upload, at most this often */
#define IMAGES_PATH "/api/msd/images/"

static bool need_store(struct ipkvm_http_req *req)
{
	if (req->srv->store)
		return true;
	ipkvm_http_reply_error(req, 503, "no_msd", NULL, "virtual media is not available");
	return false;
}

json_t *ipkvm_msd_state(struct ipkvm_server *srv)
{
	json_t *images = ipkvm_store_list_json(srv->store);
	int64_t free_b = 0, total = 0;
	ipkvm_store_space(srv->store, &free_b, &total);
	json_t *st = json_pack("{s:o, s:{s:I, s:I}}", "images", images ? images : json_array(),
			       "space", "free", (json_int_t)free_b, "total", (json_int_t)total);
	/* Mark the images a drive holds: they cannot be deleted or replaced. */
	json_t *img;
	size_t i;
	json_array_foreach(json_object_get(st, "images"), i, img)
	{
		const char *name = json_string_value(json_object_get(img, "name"));
		json_object_set_new(img, "attached",
				    json_boolean(name && ipkvm_store_held(srv->store, name)));
	}
	return st;
}

void ipkvm_msd_publish(struct ipkvm_server *srv)
{
	if (srv->store)
		ipkvm_events_publish(srv->events, "msd", ipkvm_msd_state(srv));
}

void ipkvm_api_msd(struct ipkvm_http_req *req)
{
	if (need_store(req))
		ipkvm_http_reply_ok(req, 200, ipkvm_msd_state(req->srv));
}

/* The image name of /api/msd/images/{name} (lws has decoded %XX already). */
static const char *image_name(struct ipkvm_http_req *req)
{
	const char *name = req->path + strlen(IMAGES_PATH), *why = "";
	if (ipkvm_store_name_check(name, strlen(name), &why) < 0) {
		ipkvm_http_reply_error(req, 400, "bad_name", NULL, "image name: %s", why);
		return NULL;
	}
	return name;
}

/* Maps a store error to an HTTP answer. */
static void store_error(struct ipkvm_http_req *req, int r, const char *what, const char *err)
{
	switch (r) {
	case -EINVAL:
		ipkvm_http_reply_error(req, 400, "bad_request", NULL, "%s: %s", what, err);
		break;
	case -ENOENT:
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "%s: no such image", what);
		break;
	case -EBUSY:
	case -EEXIST:
		ipkvm_http_reply_error(req, 409, "conflict", NULL, "%s: %s", what, err);
		break;
	case -ENOSPC:
	case -EDQUOT:
		ipkvm_http_reply_error(req, 507, "insufficient_storage", NULL, "%s: %s", what,
				       err[0] ? err : "the image store is full");
		break;
	case -EMSGSIZE:
	case -EFBIG:
		ipkvm_http_reply_error(req, 400, "bad_request", NULL, "%s: %s", what,
				       err[0] ? err : "more bytes than Content-Length said");
		break;
	default:
		ipkvm_http_reply_error(req, 500, "internal", NULL, "%s: %s", what,
				       err[0] ? err : strerror(-r));
	}
}

void ipkvm_api_msd_image(struct ipkvm_http_req *req)
{
	if (!need_store(req))
		return;
	const char *name = image_name(req);
	if (!name)
		return;
	/* DELETE (PUT is streamed: ipkvm_msd_upload_ops). */
	int r = ipkvm_store_delete(req->srv->store, name);
	ipkvm_audit(req->srv->state_dir, "msd_delete", req->auth.user, req->addr, r == 0,
		    json_pack("{s:s}", "image", name));
	if (r < 0) {
		store_error(req, r, name,
			    r == -EBUSY ? "the image is attached to a drive: eject it first" : "");
		return;
	}
	ipkvm_msd_publish(req->srv);
	ipkvm_http_reply_ok(req, 200, ipkvm_msd_state(req->srv));
}

/* ---- streamed upload ---- */

struct upload;

struct upload_job {
	struct ipkvm_job job;
	struct upload *up;
	uint8_t *buf;
	size_t len;
	bool commit; /* the last job: write, then commit */
	int r;
	char err[256];
};

struct upload {
	struct ipkvm_server *srv;
	struct ipkvm_http_req *req; /* NULL once the client is gone */
	struct ipkvm_store_session *ss;
	char name[IPKVM_STORE_NAME_MAX + 1];
	uint8_t *fill, *spare; /* spare is NULL while a job writes it */
	size_t fill_len, fill_cap;
	struct upload_job *job; /* in flight */
	bool paused;		/* rx flow control is off */
	bool ended;		/* the whole body arrived */
	int64_t event_ms;
};

static void upload_free(struct upload *up)
{
	if (up->ss)
		ipkvm_store_abort(up->ss);
	free(up->fill);
	free(up->spare);
	free(up);
}

static void job_run(struct ipkvm_job *job)
{
	struct upload_job *j = (struct upload_job *)job;
	j->r = j->len ? ipkvm_store_write(j->up->ss, j->buf, j->len) : 0;
	if (j->commit) {
		if (j->r == 0)
			j->r = ipkvm_store_commit(j->up->ss, j->err, sizeof(j->err));
		else
			ipkvm_store_abort(j->up->ss);
		j->up->ss = NULL; /* ended either way */
	}
}

static void submit(struct upload *up, bool commit);

/* Main thread: a write (or the commit) finished. */
static void job_done(struct ipkvm_job *job)
{
	struct upload_job *j = (struct upload_job *)job;
	struct upload *up = j->up;
	struct ipkvm_http_req *req = up->req;
	up->job = NULL;
	up->spare = j->buf; /* the written buffer is free again */
	int r = j->r;
	bool commit = j->commit;
	char err[256];
	ipkvm_strlcpy(err, j->err, sizeof(err));
	free(j);

	if (commit) {
		ipkvm_audit(up->srv->state_dir, "msd_upload", req ? req->auth.user : NULL,
			    req ? req->addr : NULL, r == 0, json_pack("{s:s}", "image", up->name));
		if (r == 0)
			LOG_INFO("image %s uploaded", up->name);
		if (req) {
			req->upload = NULL;
			if (up->paused) /* lws writes no answer to a connection it does not read */
				lws_rx_flow_control(req->wsi, 1);
			if (r < 0)
				store_error(req, r, up->name, err);
			else
				ipkvm_http_reply_ok(req, 201, ipkvm_msd_state(up->srv));
		}
		ipkvm_msd_publish(up->srv);
		upload_free(up);
		return;
	}
	if (!req) { /* the client went away while we wrote */
		upload_free(up);
		return;
	}
	if (r < 0) { /* disk full or failing mid-body: say so, ignore the rest, hang up */
		req->upload = NULL;
		req->body_refused = true;
		req->close_after = true;
		store_error(req, r, up->name, "");
		if (up->paused)
			lws_rx_flow_control(req->wsi, 1);
		upload_free(up);
		ipkvm_msd_publish(req->srv);
		return;
	}
	if (up->ended)
		submit(up, true);
	else if (up->fill_len >= UP_BUF)
		submit(up, false);
	if (up->paused && !up->job) {
		up->paused = false;
		lws_rx_flow_control(req->wsi, 1);
	}
	int64_t now = ipkvm_mono_ms();
	if (now - up->event_ms >= UP_EVENT_MS) {
		up->event_ms = now;
		ipkvm_msd_publish(up->srv);
	}
}

/* Hands the fill buffer to the disk worker and fills the spare one meanwhile. */
static void submit(struct upload *up, bool commit)
{
	struct upload_job *j = calloc(1, sizeof(*j));
	if (!j) {
		LOG_ERROR("out of memory");
		return; /* retried at the next chunk or completion */
	}
	j->job.run = job_run;
	j->job.done = job_done;
	j->up = up;
	j->buf = up->fill;
	j->len = up->fill_len;
	j->commit = commit;
	up->fill = up->spare;
	up->spare = NULL;
	up->fill_len = 0;
	up->job = j;
	ipkvm_worker_submit(up->srv->io_worker, &j->job);
}

static void upload_begin(struct ipkvm_http_req *req)
{
	if (!need_store(req))
		return;
	const char *name = image_name(req);
	if (!name)
		return;
	struct upload *up = calloc(1, sizeof(*up));
	if (up) {
		up->fill = malloc(UP_BUF);
		up->spare = malloc(UP_BUF);
	}
	if (!up || !up->fill || !up->spare) {
		if (up)
			upload_free(up);
		ipkvm_http_reply_error(req, 500, "internal", NULL, "out of memory");
		return;
	}
	char err[256] = "";
	int r = ipkvm_store_begin(req->srv->store, name, (int64_t)req->content_length,
				  IPKVM_STORE_REPLACE, &up->ss, err, sizeof(err));
	if (r < 0) {
		ipkvm_audit(req->srv->state_dir, "msd_upload", req->auth.user, req->addr, false,
			    json_pack("{s:s, s:s}", "image", name, "error", err));
		store_error(req, r, name, err);
		upload_free(up);
		return;
	}
	up->srv = req->srv;
	up->req = req;
	up->fill_cap = UP_BUF;
	up->event_ms = ipkvm_mono_ms();
	ipkvm_strlcpy(up->name, name, sizeof(up->name));
	req->upload = up;
	LOG_INFO("%s uploads image %s (%zu bytes)", req->auth.user, name, req->content_length);
	ipkvm_msd_publish(req->srv);
}

static int upload_chunk(struct ipkvm_http_req *req, const void *data, size_t len)
{
	struct upload *up = req->upload;
	if (up->fill_len + len > up->fill_cap) {
		/* lws may still hand over what it had read when reading was paused: grow. */
		size_t cap = up->fill_len + len;
		uint8_t *grown = realloc(up->fill, cap);
		if (!grown)
			return -1;
		up->fill = grown;
		up->fill_cap = cap;
	}
	memcpy(up->fill + up->fill_len, data, len);
	up->fill_len += len;
	if (up->fill_len < UP_BUF)
		return 0;
	if (!up->job)
		submit(up, false);
	if (up->job && up->fill_len >= UP_BUF && !up->paused) {
		up->paused = true; /* both buffers busy: let TCP hold the client back */
		lws_rx_flow_control(req->wsi, 0);
	}
	return 0;
}

static void upload_end(struct ipkvm_http_req *req)
{
	struct upload *up = req->upload;
	up->ended = true;
	if (!up->job)
		submit(up, true);
	/* else job_done submits the commit. The reply comes from the commit's job_done. */
}

static void upload_abort(struct ipkvm_http_req *req)
{
	struct upload *up = req->upload;
	req->upload = NULL;
	up->req = NULL;
	if (up->ended && up->job)
		return; /* the body is complete: the commit goes on and frees */
	if (up->job)
		return; /* job_done sees the client gone and frees */
	LOG_INFO("upload of %s cut off after %lld bytes", up->name,
		 (long long)(up->ss ? ipkvm_store_session_bytes(up->ss) : 0));
	upload_free(up);
	ipkvm_msd_publish(req->srv);
}

const struct ipkvm_upload_ops ipkvm_msd_upload_ops = {
    .begin = upload_begin,
    .chunk = upload_chunk,
    .end = upload_end,
    .abort = upload_abort,
};
