/*
 * api_info: GET /api/info, what this device is and what it can do. Later modules fill in
 * their backends and features here as they arrive.
 */
#include "build_config.h"
#include <string.h>

#include "core/util.h"
#include "video/video.h"
#include "web/web.h"

void ipkvm_api_info(struct ipkvm_http_req *req)
{
	if (!ipkvm_http_method_ok(req, IPKVM_GET))
		return;
	struct ipkvm_server *srv = req->srv;
	int64_t now = ipkvm_now();
	const char *video = srv->cfg->video_source ? srv->cfg->video_source : "none";
	const char *hid = srv->cfg->hid_output ? srv->cfg->hid_output : "none";
	const char *atx = !srv->svc->atx ? "none" : srv->svc->gpio ? "gpio" : "virtual";
	/* msd: what images are attached to ("gadget", "virtual"), "store" when images can
	 * only be kept, "none" without a store. */
	const char *msd = !srv->svc->store    ? "none"
			  : !srv->svc->drives ? "store"
			  : strcmp(srv->cfg->msd_drives, "gadget") == 0 ||
				  (strcmp(srv->cfg->msd_drives, "auto") == 0 && srv->cfg->usb_setup)
			      ? "gadget"
			      : "virtual";
	json_t *backends = json_pack("{s:s, s:s, s:s, s:s, s:b}", "video", video, "hid", hid, "atx",
				     atx, "msd", msd, "target", srv->svc->vtarget != NULL);
	json_t *features = json_pack("[s, s, s, s]", "auth.totp", "auth.tokens", "users", "events");
	if (srv->svc->video)
		json_array_append_new(features, json_string("streamer.mjpeg"));
	if (srv->svc->video && ipkvm_video_h264(srv->svc->video))
		json_array_append_new(features, json_string("streamer.h264"));
	if (srv->cfg->atx_wol_mac)
		json_array_append_new(features, json_string("wol"));
	ipkvm_http_reply_ok(req, 200,
			    json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:{s:s, s:s}}", "version",
				      IPKVM_VERSION, "hostname", srv->hostname, "uptime",
				      (json_int_t)(now - srv->started), "started",
				      (json_int_t)srv->started, "backends", backends, "features",
				      features, "user", "name", req->auth.user, "role",
				      ipkvm_role_name(req->auth.role)));
}
