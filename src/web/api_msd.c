/*
 * api_msd: virtual media over HTTP — the image store (list, upload, download, delete) and
 * the drives the target sees (attach, eject). The rules (which image a drive holds, what is
 * in use, the gadget's replug after a type change) are the msd service's (msd/msd.h); the
 * handlers here parse, authorise, call it, audit and format.
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
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "core/worker.h"
#include "msd/msd.h"
#include "web/web.h"

#define UP_BUF	    (1u << 20)
#define UP_EVENT_MS 1000 /* `msd` progress events during an upload, at most this often */

static bool need_store(struct ipkvm_http_req *req)
{
	if (req->srv->svc->msd)
		return true;
	ipkvm_http_reply_error(req, 503, "no_msd", NULL, "virtual media is not available");
	return false;
}

void ipkvm_msd_fetch_poll(struct ipkvm_server *srv)
{
	struct ipkvm_fetch_status fs[8];
	size_t n;
	bool any = false;
	struct ipkvm_fetcher *fetcher = srv->svc->msd ? ipkvm_msd_fetcher(srv->svc->msd) : NULL;
	while (fetcher && (n = ipkvm_fetch_poll(fetcher, fs, IPKVM_ARRAY_SIZE(fs))) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (fs[i].state != IPKVM_FETCH_RUNNING) {
				LOG_INFO("download of %s %s%s%s", fs[i].name,
					 ipkvm_fetch_state_name(fs[i].state),
					 fs[i].message[0] ? ": " : "", fs[i].message);
				/* The record names who started the download, and who cancelled
				 * it; the audit log (admins only) gets the whole message. */
				json_t *extra = json_pack(
				    "{s:I, s:s, s:s, s:s}", "id", (json_int_t)fs[i].id, "image",
				    fs[i].name, "state", ipkvm_fetch_state_name(fs[i].state),
				    "error", fs[i].message);
				if (extra && fs[i].state == IPKVM_FETCH_CANCELLED)
					json_object_set_new(extra, "cancelled_by",
							    json_string(fs[i].cancelled_by));
				ipkvm_authsvc_audit(srv->svc->auth, "msd_fetch_end",
						    fs[i].owner[0] ? fs[i].owner : NULL, NULL,
						    fs[i].state == IPKVM_FETCH_DONE, extra);
			}
			/* Every event-socket client gets this: the reason, not the message. */
			ipkvm_events_publish(srv->svc->events, "msd_fetch",
					     ipkvm_fetch_status_json(&fs[i], false));
		}
		any = true;
	}
	if (any)
		ipkvm_msd_changed(srv->svc->msd);
}

void ipkvm_api_msd(struct ipkvm_http_req *req)
{
	if (ipkvm_http_method_ok(req, IPKVM_GET) && need_store(req))
		ipkvm_http_reply_ok(req, 200, ipkvm_msd_state_json(req->srv->svc->msd));
}

/* The image name of /api/msd/images/{name} (lws has decoded %XX already). */
static const char *image_name(struct ipkvm_http_req *req)
{
	const char *name = req->rest, *why = "";
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
	/* DELETE only: a PUT is streamed (ipkvm_msd_upload_ops) and never comes here. */
	if (!ipkvm_http_method_ok(req, IPKVM_DELETE) || !need_store(req))
		return;
	const char *name = image_name(req);
	if (!name)
		return;
	int r = ipkvm_msd_delete(req->srv->svc->msd, name); /* publishes `msd` when done */
	ipkvm_authsvc_audit(req->srv->svc->auth, "msd_delete", req->auth.user, req->addr, r == 0,
			    json_pack("{s:s}", "image", name));
	if (r < 0) {
		store_error(req, r, name,
			    r == -EBUSY ? "the image is attached to a drive: eject it first" : "");
		return;
	}
	ipkvm_http_reply_ok(req, 200, ipkvm_msd_state_json(req->srv->svc->msd));
}

/* ---- downloads ---- */

void ipkvm_api_msd_fetch(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {
	    {"url", IPKVM_JSON_STRING, true},
	    {"name", IPKVM_JSON_STRING, true},
	    {"sha256", IPKVM_JSON_STRING, false},
	    {"replace", IPKVM_JSON_BOOL, false},
	};
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_store(req))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	struct ipkvm_fetch_request fr = {.url = ipkvm_json_str(body, "url"),
					 .name = ipkvm_json_str(body, "name"),
					 .sha256 = ipkvm_json_str(body, "sha256"),
					 .replace = json_is_true(json_object_get(body, "replace")),
					 .owner = req->auth.user};
	uint64_t id = 0;
	char err[256] = "";
	int r =
	    ipkvm_fetch_start(ipkvm_msd_fetcher(req->srv->svc->msd), &fr, &id, err, sizeof(err));
	ipkvm_authsvc_audit(req->srv->svc->auth, "msd_fetch", req->auth.user, req->addr, r == 0,
			    json_pack("{s:s, s:s}", "image", fr.name, "error", err));
	if (r == -EAGAIN)
		ipkvm_http_reply_error(req, 429, "too_many", NULL, "%s", err);
	else if (r == -EACCES) /* a literal address of this machine's own network */
		ipkvm_http_reply_error(req, 400, "bad_request", NULL, "%s", err);
	else if (r < 0)
		store_error(req, r, fr.name, err);
	else
		ipkvm_http_reply_ok(req, 202,
				    json_pack("{s:I, s:s}", "id", (json_int_t)id, "name", fr.name));
	json_decref(body);
	if (r == 0)
		ipkvm_msd_changed(req->srv->svc->msd);
}

/* GET /api/msd/fetch/{id}: the whole status, for the user who started the download only
 * (the message may name addresses and say how a connection failed). Others get the same 404
 * as for a download that never was, so they cannot even tell it exists. */
static void fetch_status(struct ipkvm_http_req *req, uint64_t id)
{
	struct ipkvm_fetch_status st;
	if (ipkvm_fetch_get(ipkvm_msd_fetcher(req->srv->svc->msd), id, &st) < 0 ||
	    strcmp(st.owner, req->auth.user) != 0) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no download %llu of yours",
				       (unsigned long long)id);
		return;
	}
	ipkvm_http_reply_ok(req, 200, ipkvm_fetch_status_json(&st, true));
}

/* POST /api/msd/fetch/{id}/cancel: audited with the user who cancelled (the download's own
 * end record names them too, as cancelled_by). */
static void fetch_cancel(struct ipkvm_http_req *req, uint64_t id)
{
	struct ipkvm_server *srv = req->srv;
	struct ipkvm_fetcher *fetcher = ipkvm_msd_fetcher(srv->svc->msd);
	struct ipkvm_fetch_status st;
	bool known = ipkvm_fetch_get(fetcher, id, &st) == 0;
	int r = ipkvm_fetch_cancel(fetcher, id, req->auth.user);
	ipkvm_authsvc_audit(
	    srv->svc->auth, "msd_fetch_cancel", req->auth.user, req->addr, r == 0,
	    json_pack("{s:I, s:s?}", "id", (json_int_t)id, "image", known ? st.name : NULL));
	if (r < 0) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no download %llu is running",
				       (unsigned long long)id);
		return;
	}
	ipkvm_http_reply_ok(req, 200, NULL);
}

/* GET /api/msd/fetch/{id} and POST /api/msd/fetch/{id}/cancel (one prefix route: the path
 * says which method it serves). */
void ipkvm_api_msd_fetch_cancel(struct ipkvm_http_req *req)
{
	const char *p = req->rest; /* {id} or {id}/cancel */
	char *end;
	unsigned long long id = strtoull(p, &end, 10);
	if (!isdigit((unsigned char)*p) || (*end && strcmp(end, "/cancel") != 0)) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no such API path: %s",
				       req->path);
		return;
	}
	if (!ipkvm_http_method_ok(req, *end ? IPKVM_POST : IPKVM_GET) || !need_store(req))
		return;
	if (*end)
		fetch_cancel(req, id);
	else
		fetch_status(req, id);
}

/* ---- drives ---- */

static int drive_attach(struct ipkvm_http_req *req, unsigned n)
{
	static const struct ipkvm_json_field fields[] = {
	    {"image", IPKVM_JSON_STRING, true},
	    {"cdrom", IPKVM_JSON_BOOL, false},
	    {"rw", IPKVM_JSON_BOOL, false},
	};
	struct ipkvm_server *srv = req->srv;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return -EINVAL;
	const char *name = ipkvm_json_str(body, "image");
	json_t *cd = json_object_get(body, "cdrom");
	bool cdrom = cd ? json_is_true(cd) : true, rw = json_is_true(json_object_get(body, "rw"));
	char err[256] = "";
	int r = ipkvm_msd_attach(srv->svc->msd, n, name, cdrom, rw, err, sizeof(err));
	ipkvm_authsvc_audit(
	    srv->svc->auth, "msd_attach", req->auth.user, req->addr, r == 0,
	    json_pack("{s:i, s:s, s:b, s:b}", "drive", n, "image", name, "cdrom", cdrom, "rw", rw));
	if (r == -EROFS)
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "a CD-ROM is read-only: rw needs cdrom false");
	else if (r < 0)
		store_error(req, r, name, err);
	json_decref(body);
	return r;
}

static int drive_eject(struct ipkvm_http_req *req, unsigned n)
{
	struct ipkvm_server *srv = req->srv;
	char err[256] = "", image[IPKVM_STORE_NAME_MAX + 1];
	ipkvm_strlcpy(image, ipkvm_msd_drive_image(srv->svc->msd, n), sizeof(image));
	int r = ipkvm_msd_eject(srv->svc->msd, n, err, sizeof(err));
	ipkvm_authsvc_audit(srv->svc->auth, "msd_eject", req->auth.user, req->addr, r == 0,
			    json_pack("{s:i, s:s}", "drive", n, "image", image));
	if (r < 0)
		ipkvm_http_reply_error(req, r == -EBUSY ? 409 : 500,
				       r == -EBUSY ? "conflict" : "internal", NULL, "drive %u: %s",
				       n, err);
	return r;
}

/* POST /api/msd/drives/{n}/attach and /api/msd/drives/{n}/eject */
void ipkvm_api_msd_drive(struct ipkvm_http_req *req)
{
	struct ipkvm_server *srv = req->srv;
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_store(req))
		return;
	unsigned count = ipkvm_msd_drive_count(srv->svc->msd);
	if (count == 0) {
		ipkvm_http_reply_error(req, 503, "no_drives", NULL,
				       "no drives to attach images to ([msd] drives)");
		return;
	}
	const char *p = req->rest; /* {n}/attach or {n}/eject */
	char *end;
	unsigned long n = strtoul(p, &end, 10);
	bool attach = strcmp(end, "/attach") == 0;
	if (end == p || (!attach && strcmp(end, "/eject") != 0)) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no such API path: %s",
				       req->path);
		return;
	}
	if (n >= count) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no drive %lu (there are %u)",
				       n, count);
		return;
	}
	/* The service publishes `msd` on success (its change callback). */
	int r = attach ? drive_attach(req, (unsigned)n) : drive_eject(req, (unsigned)n);
	if (r == 0)
		ipkvm_http_reply_ok(req, 200, ipkvm_msd_state_json(srv->svc->msd));
}

/* ---- streamed upload ---- */

struct upload;

struct upload_job {
	struct ipkvm_job job;
	struct upload *up;
	uint8_t *buf;
	size_t len, cap;
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
	size_t fill_len, fill_cap, spare_cap;
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
	up->spare_cap = j->cap;
	int r = j->r;
	bool commit = j->commit;
	char err[256];
	ipkvm_strlcpy(err, j->err, sizeof(err));
	free(j);

	if (commit) {
		ipkvm_authsvc_audit(up->srv->svc->auth, "msd_upload", req ? req->auth.user : NULL,
				    req ? req->addr : NULL, r == 0,
				    json_pack("{s:s}", "image", up->name));
		if (r == 0)
			LOG_INFO("image %s uploaded", up->name);
		if (req) {
			req->upload = NULL;
			if (up->paused) /* lws writes no answer to a connection it does not read */
				lws_rx_flow_control(req->wsi, 1);
			if (r < 0)
				store_error(req, r, up->name, err);
			else
				ipkvm_http_reply_ok(req, 201,
						    ipkvm_msd_state_json(up->srv->svc->msd));
		}
		ipkvm_msd_changed(up->srv->svc->msd);
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
		ipkvm_msd_changed(req->srv->svc->msd);
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
		ipkvm_msd_changed(up->srv->svc->msd);
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
	j->cap = up->fill_cap;
	j->commit = commit;
	up->fill = up->spare;
	up->fill_cap = up->spare_cap;
	up->spare = NULL;
	up->fill_len = 0;
	up->job = j;
	ipkvm_worker_submit(up->srv->svc->io_worker, &j->job);
}

static void upload_begin(struct ipkvm_http_req *req)
{
	if (!ipkvm_http_method_ok(req, IPKVM_PUT) || !need_store(req))
		return;
	const char *name = image_name(req);
	if (!name)
		return;
	/* The size is reserved whole up front, so it must be a size: a length past INT64_MAX
	 * would read as "unknown" (-1) to the store and skip the free-space and quota checks. */
	if ((uint64_t)req->content_length > (uint64_t)INT64_MAX) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "Content-Length %zu is not a size", req->content_length);
		return;
	}
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
	int r = ipkvm_store_begin(ipkvm_msd_store(req->srv->svc->msd), name,
				  (int64_t)req->content_length, IPKVM_STORE_REPLACE, &up->ss, err,
				  sizeof(err));
	if (r < 0) {
		ipkvm_authsvc_audit(req->srv->svc->auth, "msd_upload", req->auth.user, req->addr,
				    false, json_pack("{s:s, s:s}", "image", name, "error", err));
		store_error(req, r, name, err);
		upload_free(up);
		return;
	}
	up->srv = req->srv;
	up->req = req;
	up->fill_cap = up->spare_cap = UP_BUF;
	up->event_ms = ipkvm_mono_ms();
	ipkvm_strlcpy(up->name, name, sizeof(up->name));
	req->upload = up;
	LOG_INFO("%s uploads image %s (%zu bytes)", req->auth.user, name, req->content_length);
	ipkvm_msd_changed(req->srv->svc->msd);
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
	ipkvm_msd_changed(req->srv->svc->msd);
}

const struct ipkvm_upload_ops ipkvm_msd_upload_ops = {
    .begin = upload_begin,
    .chunk = upload_chunk,
    .end = upload_end,
    .abort = upload_abort,
};
