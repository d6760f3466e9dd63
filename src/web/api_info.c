/*
 * api_info: GET /api/info, what this device is and what it can do. Later modules fill in
 * their backends and features here as they arrive.
 */
#include "build_config.h"
#include "core/util.h"
#include "web/web.h"

void ipkvm_api_info(struct ipkvm_http_req *req)
{
	struct ipkvm_server *srv = req->srv;
	int64_t now = ipkvm_now();
	const char *video = srv->cfg->video_source ? srv->cfg->video_source : "none";
	const char *hid = srv->cfg->hid_output ? srv->cfg->hid_output : "none";
	json_t *backends = json_pack("{s:s, s:s, s:s, s:s}", "video", video, "hid", hid, "atx",
				     "none", "msd", "none");
	json_t *features = json_pack("[s, s, s, s]", "auth.totp", "auth.tokens", "users", "events");
	if (srv->video)
		json_array_append_new(features, json_string("streamer.mjpeg"));
	ipkvm_http_reply_ok(req, 200,
			    json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:{s:s, s:s}}", "version",
				      IPKVM_VERSION, "hostname", srv->hostname, "uptime",
				      (json_int_t)(now - srv->started), "started",
				      (json_int_t)srv->started, "backends", backends, "features",
				      features, "user", "name", req->auth.user, "role",
				      ipkvm_role_name(req->auth.role)));
}
