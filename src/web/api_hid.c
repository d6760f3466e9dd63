/*
 * api_hid: keyboard and mouse input over the API; each handler parses, authorises, calls
 * hid/ (hid.h, paste.h) and formats the answer:
 *   GET  /api/hid               output state, target LEDs, pressed keys, counters
 *   POST /api/hid/key           {code, state: "press" | "release" | "tap"}
 *   POST /api/hid/release_all
 *   POST /api/hid/shortcut      {keys: "ControlLeft+AltLeft+Delete"}: pressed in order,
 *                               released in reverse
 *   POST /api/hid/mouse/mode    {mode: "absolute" | "relative"}: the mouse consoles drive
 *   POST /api/hid/jiggler       {interval: seconds without input before a 1-pixel move; 0 off}
 *   POST /api/hid/mouse         {x, y} absolute 0..32767 or {dx, dy} relative, with optional
 *                               buttons (mask: 1 left, 2 right, 4 middle, 8 back, 16
 *                               forward), wheel, pan
 *   POST /api/hid/type          {text, layout?, delay_ms?}: paste (hid/paste.c types it)
 *   POST /api/hid/type/cancel
 * and the `key` and `mouse` messages on /api/ws (same fields as the REST bodies), and the
 * compact binary input messages on /api/ws:
 *   0x01 state code-length code...        key (state 1 down, 0 up; code is ASCII, <= 32)
 *   0x02 buttons x:u16le y:u16le wheel:i8 pan:i8       absolute mouse (8 bytes)
 *   0x03 buttons dx:i16le dy:i16le wheel:i8 pan:i8     relative mouse (8 bytes)
 *   0x04                                               release everything
 * {"event":"key","data":{"code":S,"state":"press"|"release"}}. Viewers never send input (403 / an
 * error event). A WebSocket that pressed keys releases everything when it closes, so a dropped
 * browser never leaves a key held.
 */
#define LOG_TAG "hid"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "hid/hid.h"
#include "hid/paste.h"
#include "hid/layout.h"
#include "hid/mouse.h"
#include "web/web.h"

/* The largest move, wheel or pan one message may carry: hid.c splits it into at most 64
 * reports of 127. */
#define MOUSE_STEP_MAX 8128

static bool need_hid(struct ipkvm_http_req *req)
{
	if (req->srv->svc->hid)
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
	else if (r == -ENODEV || r == -EOPNOTSUPP)
		ipkvm_http_reply_error(
		    req, 409, "not_offered", NULL,
		    "the output offers no device for key '%.64s' (media and power "
		    "keys need [hid] consumer)",
		    code);
	else
		ipkvm_http_reply_error(req, 500, "internal", NULL, "cannot send: %s", strerror(-r));
}

void ipkvm_api_hid(struct ipkvm_http_req *req)
{
	if (ipkvm_http_method_ok(req, IPKVM_GET) && need_hid(req))
		ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->svc->hid));
}

void ipkvm_api_hid_key(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {
	    {"code", IPKVM_JSON_STRING, true},
	    {"state", IPKVM_JSON_STRING, true},
	};
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_hid(req))
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
	} else if ((r = ipkvm_hid_key(req->srv->svc->hid, code, tap || press)) < 0 ||
		   (tap && (r = ipkvm_hid_key(req->srv->svc->hid, code, false)) < 0)) {
		reply_key_error(req, r, code);
	} else {
		ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->svc->hid));
	}
	json_decref(body);
}

void ipkvm_api_hid_release_all(struct ipkvm_http_req *req)
{
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_hid(req))
		return;
	ipkvm_hid_release_all(req->srv->svc->hid);
	ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->svc->hid));
}

/* Applies a mouse body ({x,y} or {dx,dy}, buttons, wheel, pan). 0 or -errno with err. */
static int mouse_apply(struct ipkvm_hid *hid, const json_t *body, char *err, size_t errlen)
{
	static const struct ipkvm_json_field fields[] = {
	    {"x", IPKVM_JSON_INTEGER, false},	    {"y", IPKVM_JSON_INTEGER, false},
	    {"dx", IPKVM_JSON_INTEGER, false},	    {"dy", IPKVM_JSON_INTEGER, false},
	    {"buttons", IPKVM_JSON_INTEGER, false}, {"wheel", IPKVM_JSON_INTEGER, false},
	    {"pan", IPKVM_JSON_INTEGER, false},
	};
	/* Plain comparisons of the JSON integers (64-bit) before anything narrows them to int:
	 * no negation (llabs(LLONG_MIN) overflows) and no cast comes first. */
	static const struct {
		const char *name;
		json_int_t min, max;
	} ranges[] = {
	    {"x", 0, IPKVM_HID_ABS_MAX},
	    {"y", 0, IPKVM_HID_ABS_MAX},
	    {"dx", -MOUSE_STEP_MAX, MOUSE_STEP_MAX},
	    {"dy", -MOUSE_STEP_MAX, MOUSE_STEP_MAX},
	    {"buttons", 0, IPKVM_HID_BTN_MASK},
	    {"wheel", -MOUSE_STEP_MAX, MOUSE_STEP_MAX},
	    {"pan", -MOUSE_STEP_MAX, MOUSE_STEP_MAX},
	};
	if (ipkvm_json_check(body, fields, IPKVM_ARRAY_SIZE(fields), err, errlen) < 0)
		return -EINVAL;
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(ranges); i++) {
		json_t *v = json_object_get(body, ranges[i].name);
		if (v && (json_integer_value(v) < ranges[i].min ||
			  json_integer_value(v) > ranges[i].max)) {
			snprintf(err, errlen, "field '%s' must be %lld to %lld", ranges[i].name,
				 (long long)ranges[i].min, (long long)ranges[i].max);
			return -EINVAL;
		}
	}
	json_t *x = json_object_get(body, "x"), *y = json_object_get(body, "y");
	json_t *dx = json_object_get(body, "dx"), *dy = json_object_get(body, "dy");
	json_int_t b = json_object_get(body, "buttons")
			   ? json_integer_value(json_object_get(body, "buttons"))
			   : -1;
	json_int_t wheel = json_integer_value(json_object_get(body, "wheel"));
	json_int_t pan = json_integer_value(json_object_get(body, "pan"));
	bool absolute = x || y, relative = dx || dy;
	if (absolute && relative) {
		snprintf(err, errlen, "give x/y (absolute) or dx/dy (relative), not both");
		return -EINVAL;
	}
	int r = relative
		    ? ipkvm_hid_mouse_rel(hid, (int)json_integer_value(dx),
					  (int)json_integer_value(dy), (int)b, (int)wheel, (int)pan)
		    : ipkvm_hid_mouse_abs(hid, x ? (int)json_integer_value(x) : -1,
					  y ? (int)json_integer_value(y) : -1, (int)b, (int)wheel,
					  (int)pan);
	if (r == -ENODEV)
		snprintf(err, errlen, "no %s mouse is configured",
			 relative ? "relative" : "absolute");
	else if (r == -ENOTCONN)
		snprintf(err, errlen, "the target's USB mouse is not connected");
	else if (r < 0)
		snprintf(err, errlen, "cannot send: %s", strerror(-r));
	return r;
}

void ipkvm_api_hid_mouse(struct ipkvm_http_req *req)
{
	char err[256];
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_hid(req))
		return;
	json_t *body =
	    ipkvm_json_parse_object(req->body ? req->body : "", req->body_len, err, sizeof(err));
	if (!body) {
		ipkvm_http_reply_error(req, 400, "bad_json", NULL, "%s", err);
		return;
	}
	int r = mouse_apply(req->srv->svc->hid, body, err, sizeof(err));
	if (r == 0)
		ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->svc->hid));
	else if (r == -EINVAL)
		ipkvm_http_reply_error(req, 400, "bad_request", NULL, "%s", err);
	else
		ipkvm_http_reply_error(req, 503, "hid_offline", NULL, "%s", err);
	json_decref(body);
}

void ipkvm_api_hid_shortcut(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {{"keys", IPKVM_JSON_STRING, true}};
	char keys[256], *codes[8];
	size_t n = 0;
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_hid(req))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	if (ipkvm_strlcpy(keys, ipkvm_json_str(body, "keys"), sizeof(keys)) < 0) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL, "field 'keys' is too long");
		goto out;
	}
	for (char *save = NULL, *k = strtok_r(keys, "+", &save); k;
	     k = strtok_r(NULL, "+", &save)) {
		if (n == IPKVM_ARRAY_SIZE(codes)) {
			ipkvm_http_reply_error(req, 400, "bad_request", NULL,
					       "at most %zu keys in a shortcut", n);
			goto out;
		}
		codes[n++] = k;
	}
	if (!n) {
		ipkvm_http_reply_error(
		    req, 400, "bad_request", NULL,
		    "field 'keys' names no key (e.g. ControlLeft+AltLeft+Delete)");
		goto out;
	}
	int r = 0;
	size_t pressed = 0;
	while (pressed < n && (r = ipkvm_hid_key(req->srv->svc->hid, codes[pressed], true)) == 0)
		pressed++;
	const char *failed = r < 0 ? codes[pressed] : NULL; /* that one is not held */
	while (pressed > 0)
		ipkvm_hid_key(req->srv->svc->hid, codes[--pressed], false);
	if (failed) {
		reply_key_error(req, r, failed);
		goto out;
	}
	ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->svc->hid));
out:
	json_decref(body);
}

void ipkvm_api_hid_mouse_mode(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {{"mode", IPKVM_JSON_STRING, true}};
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_hid(req))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	if (ipkvm_hid_set_mouse_mode(req->srv->svc->hid, ipkvm_json_str(body, "mode")) < 0) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'mode' must be absolute or relative");
	} else {
		ipkvm_events_publish(req->srv->svc->events, "hid",
				     ipkvm_hid_state(req->srv->svc->hid));
		ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->svc->hid));
	}
	json_decref(body);
}

void ipkvm_api_hid_jiggler(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {{"interval", IPKVM_JSON_INTEGER, true}};
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_hid(req))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	json_int_t v = json_integer_value(json_object_get(body, "interval"));
	if (v < 0 || v > 86400 || ipkvm_hid_set_jiggler(req->srv->svc->hid, (int)v) < 0)
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'interval' must be 0 (off) to 86400 seconds");
	else
		ipkvm_http_reply_ok(req, 200, ipkvm_hid_state(req->srv->svc->hid));
	json_decref(body);
}

/* WebSocket input needs an operator and an output. 0 or -errno with err. */
static int ws_input_allowed(struct ipkvm_server *srv, const struct ipkvm_auth *auth, char *err,
			    size_t errlen)
{
	if (!ipkvm_auth_allows(auth, IPKVM_ROLE_OPERATOR)) {
		snprintf(err, errlen, "the %s role may not send input",
			 ipkvm_role_name(auth->role));
		return -EPERM;
	}
	if (!srv->svc->hid) {
		snprintf(err, errlen, "no keyboard/mouse output is configured");
		return -ENODEV;
	}
	return 0;
}

int ipkvm_ws_binary_input(struct ipkvm_server *srv, const struct ipkvm_auth *auth, const uint8_t *d,
			  size_t len, char *err, size_t errlen)
{
	int allowed = ws_input_allowed(srv, auth, err, errlen);
	if (allowed < 0)
		return allowed;
	int r = -EINVAL;
	if (len >= 3 && d[0] == 0x01 && d[1] <= 1 && d[2] >= 1 && d[2] <= 32 && len == 3u + d[2]) {
		char code[33];
		memcpy(code, d + 3, d[2]);
		code[d[2]] = '\0';
		r = ipkvm_hid_key(srv->svc->hid, code, d[1] == 1);
		if (r == -ENOENT)
			snprintf(err, errlen, "unknown key code '%s'", code);
	} else if (len == 8 && (d[0] == 0x02 || d[0] == 0x03) && d[1] <= 31) {
		int a = d[2] | d[3] << 8, b = d[4] | d[5] << 8;
		int wheel = (int8_t)d[6], pan = (int8_t)d[7];
		/* i16 and i8 fields cannot overflow an int; a relative move beyond what one
		 * message may carry is refused by the HID module (-EINVAL). */
		if (d[0] == 0x02)
			r = a > IPKVM_HID_ABS_MAX || b > IPKVM_HID_ABS_MAX
				? -EINVAL
				: ipkvm_hid_mouse_abs(srv->svc->hid, a, b, d[1], wheel, pan);
		else
			r = ipkvm_hid_mouse_rel(srv->svc->hid, (int16_t)a, (int16_t)b, d[1], wheel,
						pan);
		if (r == -EINVAL && d[0] == 0x02)
			snprintf(err, errlen, "absolute coordinates must be 0 to %d",
				 IPKVM_HID_ABS_MAX);
		else if (r == -EINVAL)
			snprintf(err, errlen, "dx and dy must be %d to %d", -MOUSE_STEP_MAX,
				 MOUSE_STEP_MAX);
	} else if (len == 1 && d[0] == 0x04) {
		ipkvm_hid_release_all(srv->svc->hid);
		r = 0;
	} else {
		snprintf(err, errlen, "malformed input message (type 0x%02x, %zu bytes)",
			 len ? d[0] : 0, len);
		return -EINVAL;
	}
	if (r < 0 && r != -ENOENT && r != -EINVAL)
		snprintf(err, errlen, "cannot send: %s", strerror(-r));
	return r;
}

int ipkvm_ws_mouse(struct ipkvm_server *srv, const struct ipkvm_auth *auth, json_t *data, char *err,
		   size_t errlen)
{
	int allowed = ws_input_allowed(srv, auth, err, errlen);
	if (allowed < 0)
		return allowed;
	if (!data) {
		snprintf(err, errlen, "missing field 'data'");
		return -EINVAL;
	}
	return mouse_apply(srv->svc->hid, data, err, errlen);
}

int ipkvm_ws_key(struct ipkvm_server *srv, const struct ipkvm_auth *auth, json_t *data, char *err,
		 size_t errlen)
{
	static const struct ipkvm_json_field fields[] = {
	    {"code", IPKVM_JSON_STRING, true},
	    {"state", IPKVM_JSON_STRING, true},
	};
	int allowed = ws_input_allowed(srv, auth, err, errlen);
	if (allowed < 0)
		return allowed;
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
	int r = ipkvm_hid_key(srv->svc->hid, code, press);
	if (r == -ENOENT)
		snprintf(err, errlen, "unknown key code '%.64s'", code);
	else if (r < 0)
		snprintf(err, errlen, "cannot send: %s", strerror(-r));
	return r;
}

/* --- paste: POST /api/hid/type, /api/hid/type/cancel -------------------------------- */

/* The paste itself (strokes, back-pressure, progress events) is hid/paste.c's. */
void ipkvm_api_hid_type(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {
	    {"text", IPKVM_JSON_STRING, true},
	    {"layout", IPKVM_JSON_STRING, false},
	    {"delay_ms", IPKVM_JSON_INTEGER, false},
	};
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_hid(req))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	const char *lname = ipkvm_json_str(body, "layout");
	json_t *dj = json_object_get(body, "delay_ms");
	json_int_t delay = dj ? json_integer_value(dj) : 5;
	uint64_t id = 0;
	size_t n = 0;
	json_t *untyped = NULL;
	int r = ipkvm_paste_start(req->srv->svc->paste, ipkvm_json_str(body, "text"), lname,
				  delay < 0	 ? -1
				  : delay > 1000 ? 1001
						 : (int)delay,
				  &id, &n, &untyped);
	switch (r) {
	case 0:
		ipkvm_http_reply_ok(req, 200,
				    json_pack("{s:I, s:I, s:o}", "id", (json_int_t)id, "strokes",
					      (json_int_t)n, "untyped", untyped));
		break;
	case -ENOENT:
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "unknown layout '%.32s' (us, uk, de, fr, jp)", lname);
		break;
	case -EINVAL:
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'delay_ms' must be 0 to 1000");
		break;
	case -EBUSY:
		ipkvm_http_reply_error(req, 409, "conflict", NULL,
				       "already typing (cancel with POST /api/hid/type/cancel)");
		break;
	case -EILSEQ:
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "field 'text' is not valid UTF-8");
		break;
	default:
		ipkvm_http_reply_error(req, 500, "internal", NULL, "cannot prepare the text");
		break;
	}
	json_decref(body);
}

void ipkvm_api_hid_type_cancel(struct ipkvm_http_req *req)
{
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_hid(req))
		return;
	uint64_t id;
	size_t typed, total;
	if (ipkvm_paste_cancel(req->srv->svc->paste, &id, &typed, &total) < 0) {
		ipkvm_http_reply_error(req, 409, "conflict", NULL, "nothing is being typed");
		return;
	}
	ipkvm_http_reply_ok(req, 200,
			    json_pack("{s:I, s:I, s:I}", "id", (json_int_t)id, "typed",
				      (json_int_t)typed, "total", (json_int_t)total));
}
