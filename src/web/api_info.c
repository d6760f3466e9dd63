/*
 * api_info: GET /api/info, what this device is and what it can do. Later modules fill in
 * their backends and features here as they arrive.
 */
#include "build_config.h"
#include <openssl/ssl.h>
#include <string.h>

#include "core/config.h"
#include "core/util.h"
#include "video/h264_stream.h"
#include "video/video.h"
#include "web/web.h"

void ipkvm_api_info(struct ipkvm_http_req *req)
{
	if (!ipkvm_http_method_ok(req, IPKVM_GET))
		return;
	struct ipkvm_server *srv = req->srv;
	int64_t now = ipkvm_now();
	const struct ipkvm_config *cfg = srv->cfg;
	const char *video = ipkvm_config_choice_name("video", "source", cfg->video_source);
	const char *hid = ipkvm_config_choice_name("hid", "output", cfg->hid_output);
	/* atx and msd: what "auto" became, resolved once with the config (the daemon built
	 * the devices from the same fields). msd: what images are attached to ("gadget",
	 * "virtual"), "store" when images can only be kept, "none" without a store. */
	const char *atx =
	    !srv->svc->atx ? "none" : ipkvm_config_choice_name("atx", "driver", cfg->resolved.atx);
	const char *msd = !srv->svc->msd ? "none"
			  : cfg->resolved.msd == IPKVM_MSD_DRIVES_NONE
			      ? "store"
			      : ipkvm_config_choice_name("msd", "drives", cfg->resolved.msd);
	/* h264: [h264] backend auto depends on the hardware; the encoder resolved it once, when
	 * it opened, and says what it took ("openh264", "v4l2-m2m"); "none" without H.264. */
	struct ipkvm_h264_stats hs = {.backend = "none"};
	struct ipkvm_h264_stream *h264 = srv->svc->video ? ipkvm_video_h264(srv->svc->video) : NULL;
	if (h264)
		ipkvm_h264_stream_stats(h264, &hs);
	json_t *backends =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "video", video, "hid", hid, "atx", atx,
		      "msd", msd, "h264", hs.backend, "target", srv->svc->vtarget != NULL);
	json_t *features = json_pack("[s, s, s, s]", "auth.totp", "auth.tokens", "users", "events");
	if (srv->svc->video)
		json_array_append_new(features, json_string("streamer.mjpeg"));
	if (h264)
		json_array_append_new(features, json_string("streamer.h264"));
	if (cfg->atx_wol_mac)
		json_array_append_new(features, json_string("wol"));
	/* tls: this connection's protocol and cipher (null over the plain-HTTP port), and
	 * what the server prefers. */
	SSL *ssl = req->wsi ? lws_get_ssl(req->wsi) : NULL;
	json_t *tls = ssl ? json_pack("{s:s, s:s, s:s}", "version", SSL_get_version(ssl), "cipher",
				      SSL_get_cipher_name(ssl), "preferred",
				      srv->tls_chacha ? "chacha20" : "aes-gcm")
			  : json_null();
	/* vnc: the VNC front end's figures, through the services (web never includes vnc). */
	const struct ipkvm_vnc_info *vi = srv->svc->vnc_info;
	json_t *vnc =
	    vi ? json_pack("{s:b, s:i, s:I, s:b}", "enabled", 1, "port", vi->port, "clients",
			   (json_int_t)vi->clients, "anonymous_tls", vi->anonymous_tls)
	       : json_pack("{s:b, s:n, s:i, s:b}", "enabled", 0, "port", "clients", 0,
			   "anonymous_tls", 0);
	ipkvm_http_reply_ok(req, 200,
			    json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:{s:s, s:s}}",
				      "version", IPKVM_VERSION, "hostname", srv->hostname, "uptime",
				      (json_int_t)(now - srv->started), "started",
				      (json_int_t)srv->started, "backends", backends, "features",
				      features, "tls", tls, "vnc", vnc, "user", "name",
				      req->auth.user, "role", ipkvm_role_name(req->auth.role)));
}
