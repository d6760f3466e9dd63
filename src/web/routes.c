/*
 * routes: the API's route table and the rules for request paths.
 *
 * Every API path is one row here, and a row says all the router needs to know about it:
 * which methods it serves, the roles for reading (GET) and for writing (every other
 * method), whether strangers may call it, and its hooks: the handler, the streamed-upload
 * callbacks for a PUT body that is not buffered, or the WebSocket endpoint a GET upgrades
 * to. A front end that adds a path adds a row; http.c never names a path.
 *
 * A row whose path ends in '/' is a prefix: it matches longer paths only (never the prefix
 * alone), and the handler gets what follows it in req->rest, so no handler parses a prefix
 * again. A row marked name_rest takes a name there (an image name): any character but
 * '/' and control characters may follow, and the name's own rules are its module's
 * (ipkvm_store_name_check), checked by the handler. Every other path is plain ASCII.
 *
 * Outside /api/ the paths are the UI's files; the few a stranger may load (the login page
 * and what it needs) are listed here too, so every rule about who may reach which path is
 * in this file.
 */
#include <string.h>

#include "core/util.h"
#include "web/web.h"

static const struct ipkvm_route routes[] = {
    /* sessions and users */
    {.path = "/api/auth/login",
     .methods = IPKVM_POST,
     .public = true,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_VIEWER,
     .fn = ipkvm_api_login},
    {.path = "/api/auth/logout",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_VIEWER,
     .fn = ipkvm_api_logout},
    {.path = "/api/auth/check",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_VIEWER,
     .fn = ipkvm_api_check},
    {.path = "/api/auth/password",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_VIEWER,
     .fn = ipkvm_api_password},
    {.path = "/api/auth/language",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_VIEWER,
     .fn = ipkvm_api_language},
    {.path = "/api/users",
     .methods = IPKVM_GET | IPKVM_POST,
     .read_role = IPKVM_ROLE_ADMIN,
     .write_role = IPKVM_ROLE_ADMIN,
     .fn = ipkvm_api_users},
    {.path = "/api/users/",
     .methods = IPKVM_POST | IPKVM_DELETE,
     .read_role = IPKVM_ROLE_ADMIN,
     .write_role = IPKVM_ROLE_ADMIN,
     .fn = ipkvm_api_user},
    /* the device */
    {.path = "/api/info",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_info},
    {.path = "/api/ws",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_VIEWER,
     .ws = &ipkvm_events_ws_ops},
    /* video */
    {.path = "/api/streamer",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_streamer},
    {.path = "/api/streamer/params",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_streamer_params},
    {.path = "/api/streamer/stream",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_streamer_stream},
    {.path = "/api/streamer/snapshot",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_streamer_snapshot},
    {.path = "/api/streamer/h264",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_VIEWER,
     .ws = &ipkvm_h264ws_ops},
    /* The H.264 socket's first name, kept for the clients that use it (docs/api.md). */
    {.path = "/api/media/ws",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_VIEWER,
     .ws = &ipkvm_h264ws_ops},
    /* RFB (VNC) over a WebSocket, for noVNC: a byte pipe to the VNC front end. Viewers too:
     * their VNC session is view-only. 404 while VNC is off. */
    {.path = "/api/vnc/ws",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_VIEWER,
     .ws = &ipkvm_vncws_ops},
    /* keyboard and mouse */
    {.path = "/api/hid",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_hid},
    {.path = "/api/hid/key",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_hid_key},
    {.path = "/api/hid/release_all",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_hid_release_all},
    {.path = "/api/hid/mouse",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_hid_mouse},
    {.path = "/api/hid/shortcut",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_hid_shortcut},
    {.path = "/api/hid/jiggler",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_hid_jiggler},
    {.path = "/api/hid/mouse/mode",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_hid_mouse_mode},
    {.path = "/api/hid/type",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_hid_type},
    {.path = "/api/hid/type/cancel",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_hid_type_cancel},
    /* power */
    {.path = "/api/atx",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_atx},
    {.path = "/api/atx/power",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_atx_power},
    {.path = "/api/atx/click",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_atx_click},
    {.path = "/api/wol",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_wol},
    {.path = "/api/target",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_ADMIN,
     .write_role = IPKVM_ROLE_ADMIN,
     .fn = ipkvm_api_target},
    /* virtual media */
    {.path = "/api/msd",
     .methods = IPKVM_GET,
     .read_role = IPKVM_ROLE_VIEWER,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_msd},
    {.path = "/api/msd/images/",
     .name_rest = true,
     .methods = IPKVM_PUT | IPKVM_DELETE,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_msd_image,
     .upload = &ipkvm_msd_upload_ops},
    {.path = "/api/msd/fetch",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_msd_fetch},
    {.path = "/api/msd/fetch/",
     .methods = IPKVM_GET | IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_msd_fetch_cancel},
    {.path = "/api/msd/drives/",
     .methods = IPKVM_POST,
     .read_role = IPKVM_ROLE_OPERATOR,
     .write_role = IPKVM_ROLE_OPERATOR,
     .fn = ipkvm_api_msd_drive},
};

/* The files of the UI a stranger may load: the login page and what it loads (its script,
 * style, icon, the translation module and the message catalogs, below). */
static const char *const public_files[] = {
    "/login",	       "/assets/login.js",    "/assets/style.css", "/assets/favicon.svg",
    "/assets/i18n.js", "/i18n/languages.json"};

/* A message catalog: "/i18n/" + a name of [a-z0-9-] + ".json", nothing else there. */
static bool catalog_path(const char *path)
{
	static const char dir[] = "/i18n/", ext[] = ".json";
	size_t len = strlen(path), d = sizeof(dir) - 1, e = sizeof(ext) - 1;
	if (len <= d + e || strncmp(path, dir, d) != 0 || strcmp(path + len - e, ext) != 0)
		return false;
	for (const char *p = path + d; p < path + len - e; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

bool ipkvm_public_file(const char *path)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(public_files); i++)
		if (strcmp(path, public_files[i]) == 0)
			return true;
	return catalog_path(path);
}

const struct ipkvm_route *ipkvm_routes(size_t *n)
{
	*n = IPKVM_ARRAY_SIZE(routes);
	return routes;
}

static bool is_prefix(const struct ipkvm_route *r)
{
	size_t n = strlen(r->path);
	return n && r->path[n - 1] == '/';
}

const struct ipkvm_route *ipkvm_route_find(const char *path, const char **rest)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(routes); i++) {
		const struct ipkvm_route *r = &routes[i];
		size_t n = strlen(r->path);
		if (is_prefix(r) ? strncmp(path, r->path, n) == 0 && path[n]
				 : strcmp(path, r->path) == 0) {
			if (rest)
				*rest = path + n;
			return r;
		}
	}
	if (rest)
		*rest = NULL;
	return NULL;
}

static bool plain_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '/' || c == '.' || c == '_' || c == '-' || c == '~';
}

bool ipkvm_path_ok(const char *path)
{
	const char *rest = NULL;
	const struct ipkvm_route *r = ipkvm_route_find(path, &rest);
	if (!r || !r->name_rest)
		rest = NULL;
	for (const char *p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (rest && p >= rest) {
			if (c < 0x20 || c == 0x7f || c == '/')
				return false;
		} else if (!plain_char(*p)) {
			return false;
		}
	}
	return true;
}
