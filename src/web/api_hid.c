/*
 * api_hid: keyboard input over the API (the first slice of issue 4; mice, paste and the
 * binary WebSocket protocol come next).
 *   GET  /api/hid               output state, target LEDs, pressed keys, counters
 *   POST /api/hid/key           {code, state: "press" | "release" | "tap"}
 *   POST /api/hid/release_all
 * and the `key` message on /api/ws: {"event":"key","data":{"code":S,"state":"press"|"release"}}.
 * Viewers never send input (403 / an error event). A WebSocket that pressed keys releases
 * everything when it closes, so a dropped browser never leaves a key held.
 */
#define LOG_TAG "hid"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "hid/hid.h"
#include "web/web.h"

static bool need_hid(struct ipkvm_http_req *req)
{
	if (req->srv->hid)
		return true;
	ipkvm_http_reply_error(req, 503, "no_hid", NULL,
			       "no keyboard/mouse output is configured ([hid] output)");
	return false;
}

static void reply_key_error(struct ipkvm_http_req *req, int r, const char *code)
{
	if (r == -ENOENT)
		ipkvm_http_reply_error(req, 400, "bad_request", NULL, "unknown key code '%.64s'",
				       code);
	else if (r == -ENOTCONN)
		ipkvm_http_reply_error(req, 503, "hid_offline", NULL,
				       "the target's USB keyboard is not connected");
	else
		ipkvm_http_reply_error(req, 500, "internal", NULL, "cannot send: %s", strerror(-r));
}

void ipkvm_api_hid(struct ipkvm_http_req *req)
{
	if (need_hid(req))
		ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->hid));
}

void ipkvm_api_hid_key(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {
	    {"code", IPKVM_JSON_STRING, true},
	    {"state", IPKVM_JSON_STRING, true},
	};
	if (!need_hid(req))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	const char *code = ipkvm_json_str(body, "code"), *state = ipkvm_json_str(body, "state");
	bool tap = strcmp(state, "tap") == 0, press = strcmp(state, "press") == 0;
	int r;
	if (!tap && !press && strcmp(state, "release") != 0) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'state' must be press, release or tap");
	} else if ((r = ipkvm_hid_key(req->srv->hid, code, tap || press)) < 0 ||
		   (tap && (r = ipkvm_hid_key(req->srv->hid, code, false)) < 0)) {
		reply_key_error(req, r, code);
	} else {
		ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->hid));
	}
	json_decref(body);
}

void ipkvm_api_hid_release_all(struct ipkvm_http_req *req)
{
	if (!need_hid(req))
		return;
	ipkvm_hid_release_all(req->srv->hid);
	ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->hid));
}

int ipkvm_ws_key(struct ipkvm_server *srv, const struct ipkvm_auth *auth, json_t *data, char *err,
		 size_t errlen)
{
	static const struct ipkvm_json_field fields[] = {
	    {"code", IPKVM_JSON_STRING, true},
	    {"state", IPKVM_JSON_STRING, true},
	};
	if (auth->role < IPKVM_ROLE_OPERATOR) {
		snprintf(err, errlen, "the %s role may not send input",
			 ipkvm_role_name(auth->role));
		return -EPERM;
	}
	if (!srv->hid) {
		snprintf(err, errlen, "no keyboard/mouse output is configured");
		return -ENODEV;
	}
	if (!data || ipkvm_json_check(data, fields, IPKVM_ARRAY_SIZE(fields), err, errlen) < 0) {
		if (!data)
			snprintf(err, errlen, "missing field 'data'");
		return -EINVAL;
	}
	const char *code = ipkvm_json_str(data, "code"), *state = ipkvm_json_str(data, "state");
	bool press = strcmp(state, "press") == 0;
	if (!press && strcmp(state, "release") != 0) {
		snprintf(err, errlen, "field 'state' must be press or release");
		return -EINVAL;
	}
	int r = ipkvm_hid_key(srv->hid, code, press);
	if (r == -ENOENT)
		snprintf(err, errlen, "unknown key code '%.64s'", code);
	else if (r < 0)
		snprintf(err, errlen, "cannot send: %s", strerror(-r));
	return r;
}
