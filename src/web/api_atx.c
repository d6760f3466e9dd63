/*
 * api_atx: the front panel (/api/atx) and the virtual target's state (/api/target).
 *
 * Every ATX action is audited, refused or not: pressing a server's power button is the
 * most consequential thing this device does. One action at a time (409 while a button is
 * held), and a power action that depends on the power LED is refused when it is not wired
 * rather than guessed.
 */
#define LOG_TAG "api-atx"
#include <errno.h>
#include <string.h>

#include "atx/atx.h"
#include "atx/wol.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "target/virtual.h"
#include "web/web.h"

static bool need_atx(struct ipkvm_http_req *req)
{
	if (req->srv->svc->atx)
		return true;
	ipkvm_http_reply_error(req, 503, "no_atx", NULL,
			       "no power control is configured ([atx] driver)");
	return false;
}

void ipkvm_api_atx(struct ipkvm_http_req *req)
{
	if (ipkvm_http_method_ok(req, IPKVM_GET) && need_atx(req))
		ipkvm_http_reply_ok(req, 200, ipkvm_atx_state(req->srv->svc->atx));
}

/* Answers an action's outcome and audits it. */
static void act_reply(struct ipkvm_http_req *req, const char *event, const char *what, int r,
		      bool pressed)
{
	ipkvm_authsvc_audit(req->srv->svc->auth, event, req->auth.user, req->addr, r == 0,
			    json_pack("{s:s, s:b}", "action", what, "pressed", r == 0 && pressed));
	switch (r) {
	case 0: {
		json_t *st = ipkvm_atx_state(req->srv->svc->atx);
		json_object_set_new(st, "pressed", json_boolean(pressed));
		ipkvm_http_reply_ok(req, 200, st);
		return;
	}
	case -EINVAL:
		ipkvm_http_reply_error(req, 400, "bad_request", NULL, "unknown %s '%.32s'",
				       strcmp(event, "atx_power") == 0 ? "action" : "button", what);
		return;
	case -EBUSY:
		ipkvm_http_reply_error(req, 409, "conflict", NULL,
				       "another button press is still under way");
		return;
	case -ENOTSUP:
		ipkvm_http_reply_error(req, 409, "no_power_led", NULL,
				       "the power LED is not wired, so the power state is unknown: "
				       "use a click (POST /api/atx/click)");
		return;
	default:
		ipkvm_http_reply_error(req, 500, "internal", NULL, "the button line failed: %s",
				       strerror(-r));
	}
}

void ipkvm_api_atx_power(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {{"action", IPKVM_JSON_STRING, true}};
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_atx(req))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	const char *action = ipkvm_json_str(body, "action");
	bool pressed = false;
	int r = ipkvm_atx_power(req->srv->svc->atx, action, &pressed);
	act_reply(req, "atx_power", action, r, pressed);
	json_decref(body);
}

void ipkvm_api_atx_click(struct ipkvm_http_req *req)
{
	static const struct ipkvm_json_field fields[] = {{"button", IPKVM_JSON_STRING, true}};
	if (!ipkvm_http_method_ok(req, IPKVM_POST) || !need_atx(req))
		return;
	json_t *body = ipkvm_http_body_json(req, fields, IPKVM_ARRAY_SIZE(fields));
	if (!body)
		return;
	const char *button = ipkvm_json_str(body, "button");
	int r = ipkvm_atx_click(req->srv->svc->atx, button);
	act_reply(req, "atx_click", button, r, r == 0);
	json_decref(body);
}

void ipkvm_api_wol(struct ipkvm_http_req *req)
{
	const struct ipkvm_config *cfg = req->srv->cfg;
	uint8_t mac[6];
	if (!ipkvm_http_method_ok(req, IPKVM_POST))
		return;
	if (!cfg->atx_wol_mac || ipkvm_wol_parse_mac(cfg->atx_wol_mac, mac) < 0) {
		ipkvm_http_reply_error(req, 503, "no_wol", NULL,
				       "Wake-on-LAN is not configured ([atx] wol_mac)");
		return;
	}
	char err[160];
	int r = ipkvm_wol_send(mac, cfg->atx_wol_address, cfg->atx_wol_port, err, sizeof(err));
	ipkvm_authsvc_audit(req->srv->svc->auth, "wol", req->auth.user, req->addr, r == 0,
			    json_pack("{s:s}", "mac", cfg->atx_wol_mac));
	if (r < 0) {
		ipkvm_http_reply_error(req, 500, "internal", NULL, "Wake-on-LAN: %s", err);
		return;
	}
	ipkvm_http_reply_ok(req, 200,
			    json_pack("{s:s, s:s, s:i}", "mac", cfg->atx_wol_mac, "address",
				      cfg->atx_wol_address, "port", cfg->atx_wol_port));
}

void ipkvm_api_target(struct ipkvm_http_req *req)
{
	if (!ipkvm_http_method_ok(req, IPKVM_GET))
		return;
	if (!req->srv->svc->vtarget) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL,
				       "there is no virtual target (it runs when [video] source, "
				       "[hid] output or [atx] driver is virtual)");
		return;
	}
	ipkvm_http_reply_ok(req, 200, ipkvm_vtarget_state(req->srv->svc->vtarget));
}
