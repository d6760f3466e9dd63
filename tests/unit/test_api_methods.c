/* Unit tests for the route handlers' own method checks (src/web/api_*.c): the route table
 * in http.c refuses other methods first, but a handler reached another way (a body
 * completion delivered again, a route table mistake) must not do one method's work for
 * another. Each handler is called directly with a method it does not serve, against a
 * server with no devices, and must answer 405 method_not_allowed with the right Allow
 * header and touch nothing; with its own method it gets past the check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "web/web.h"

struct fixture {
	struct ipkvm_config cfg;
	struct ipkvm_services svc; /* no devices */
	struct ipkvm_server srv;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	ipkvm_config_init(&f->cfg);
	f->srv.cfg = &f->cfg;
	f->svc.cfg = &f->cfg;
	f->srv.svc = &f->svc;
	/* Where logout would write its audit line, were it to get that far. */
	char dir[] = "/tmp/ipkvm-test-methods-XXXXXX";
	assert_non_null(mkdtemp(dir));
	snprintf(f->srv.state_dir, sizeof(f->srv.state_dir), "%s", dir);
	/* An auth service with no users (never opened: no first admin). */
	struct ipkvm_authsvc_config ac = {.state_dir = dir, .max_sessions = 4};
	f->svc.auth = ipkvm_authsvc_create(&ac);
	assert_non_null(f->svc.auth);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/audit.log", f->srv.state_dir);
	unlink(path);
	rmdir(f->srv.state_dir);
	ipkvm_authsvc_destroy(f->svc.auth);
	ipkvm_config_free(&f->cfg);
	free(f);
	return 0;
}

/* Calls fn as `method path` by an admin's API token; returns the status, fills the response. */
static int call(struct fixture *f, void (*fn)(struct ipkvm_http_req *), enum ipkvm_method method,
		const char *path, char *headers, size_t hlen, char *body, size_t blen)
{
	struct ipkvm_http_req req = {.srv = &f->srv, .method = method};
	snprintf(req.path, sizeof(req.path), "%s", path);
	/* As the router would: the path's route is this handler's, and gives it the rest. */
	const struct ipkvm_route *route = ipkvm_route_find(req.path, &req.rest);
	assert_non_null(route);
	assert_ptr_equal(route->fn, fn);
	snprintf(req.addr, sizeof(req.addr), "127.0.0.1");
	req.auth.kind = IPKVM_AUTH_TOKEN; /* a session would need the session store */
	req.auth.role = IPKVM_ROLE_ADMIN;
	snprintf(req.auth.user, sizeof(req.auth.user), "admin");
	fn(&req);
	assert_true(req.ready); /* every handler answers at once here: no device, no body */
	snprintf(headers, hlen, "%.*s", (int)req.headers_len, req.headers);
	snprintf(body, blen, "%.*s", (int)req.resp_len, req.resp ? req.resp + LWS_PRE : "");
	free(req.resp);
	free(req.body);
	return req.status;
}

static const struct {
	const char *name;
	void (*fn)(struct ipkvm_http_req *);
	const char *path;
	enum ipkvm_method wrong; /* a method the handler does not serve */
	enum ipkvm_method right; /* one it does */
	const char *allow;	 /* the Allow header it must send */
} handlers[] = {
    {"info", ipkvm_api_info, "/api/info", IPKVM_DELETE, IPKVM_GET, "GET"},
    {"login", ipkvm_api_login, "/api/auth/login", IPKVM_GET, IPKVM_POST, "POST"},
    {"logout", ipkvm_api_logout, "/api/auth/logout", IPKVM_DELETE, IPKVM_POST, "POST"},
    {"check", ipkvm_api_check, "/api/auth/check", IPKVM_POST, IPKVM_GET, "GET"},
    {"password", ipkvm_api_password, "/api/auth/password", IPKVM_GET, IPKVM_POST, "POST"},
    {"users", ipkvm_api_users, "/api/users", IPKVM_DELETE, IPKVM_GET, "GET, POST"},
    {"user", ipkvm_api_user, "/api/users/nobody", IPKVM_GET, IPKVM_DELETE, "POST, DELETE"},
    {"streamer", ipkvm_api_streamer, "/api/streamer", IPKVM_POST, IPKVM_GET, "GET"},
    {"streamer_params", ipkvm_api_streamer_params, "/api/streamer/params", IPKVM_GET, IPKVM_POST,
     "POST"},
    {"streamer_stream", ipkvm_api_streamer_stream, "/api/streamer/stream", IPKVM_POST, IPKVM_GET,
     "GET"},
    {"streamer_snapshot", ipkvm_api_streamer_snapshot, "/api/streamer/snapshot", IPKVM_DELETE,
     IPKVM_GET, "GET"},
    {"hid", ipkvm_api_hid, "/api/hid", IPKVM_POST, IPKVM_GET, "GET"},
    {"hid_key", ipkvm_api_hid_key, "/api/hid/key", IPKVM_GET, IPKVM_POST, "POST"},
    {"hid_release_all", ipkvm_api_hid_release_all, "/api/hid/release_all", IPKVM_PUT, IPKVM_POST,
     "POST"},
    {"hid_mouse", ipkvm_api_hid_mouse, "/api/hid/mouse", IPKVM_GET, IPKVM_POST, "POST"},
    {"hid_shortcut", ipkvm_api_hid_shortcut, "/api/hid/shortcut", IPKVM_GET, IPKVM_POST, "POST"},
    {"hid_jiggler", ipkvm_api_hid_jiggler, "/api/hid/jiggler", IPKVM_DELETE, IPKVM_POST, "POST"},
    {"hid_mouse_mode", ipkvm_api_hid_mouse_mode, "/api/hid/mouse/mode", IPKVM_GET, IPKVM_POST,
     "POST"},
    {"hid_type", ipkvm_api_hid_type, "/api/hid/type", IPKVM_GET, IPKVM_POST, "POST"},
    {"hid_type_cancel", ipkvm_api_hid_type_cancel, "/api/hid/type/cancel", IPKVM_GET, IPKVM_POST,
     "POST"},
    {"atx", ipkvm_api_atx, "/api/atx", IPKVM_POST, IPKVM_GET, "GET"},
    {"atx_power", ipkvm_api_atx_power, "/api/atx/power", IPKVM_GET, IPKVM_POST, "POST"},
    {"atx_click", ipkvm_api_atx_click, "/api/atx/click", IPKVM_GET, IPKVM_POST, "POST"},
    {"wol", ipkvm_api_wol, "/api/wol", IPKVM_GET, IPKVM_POST, "POST"},
    {"target", ipkvm_api_target, "/api/target", IPKVM_DELETE, IPKVM_GET, "GET"},
    {"msd", ipkvm_api_msd, "/api/msd", IPKVM_POST, IPKVM_GET, "GET"},
    /* The case that deleted an image: the route's handler run for a finished PUT upload. */
    {"msd_image", ipkvm_api_msd_image, "/api/msd/images/a.iso", IPKVM_PUT, IPKVM_DELETE, "DELETE"},
    {"msd_fetch", ipkvm_api_msd_fetch, "/api/msd/fetch", IPKVM_GET, IPKVM_POST, "POST"},
    {"msd_fetch_status", ipkvm_api_msd_fetch_cancel, "/api/msd/fetch/1", IPKVM_POST, IPKVM_GET,
     "GET"},
    {"msd_fetch_cancel", ipkvm_api_msd_fetch_cancel, "/api/msd/fetch/1/cancel", IPKVM_GET,
     IPKVM_POST, "POST"},
    {"msd_drive", ipkvm_api_msd_drive, "/api/msd/drives/0/eject", IPKVM_DELETE, IPKVM_POST, "POST"},
};

static void test_wrong_method_is_405_with_allow(void **state)
{
	struct fixture *f = *state;
	char headers[IPKVM_RESP_HEADERS + 1], body[1024], want[64];
	size_t bad = 0; /* every handler is tried, and every one that fails is named */
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		int status = call(f, handlers[i].fn, handlers[i].wrong, handlers[i].path, headers,
				  sizeof(headers), body, sizeof(body));
		snprintf(want, sizeof(want), "allow: %s\r\n", handlers[i].allow);
		if (status != 405 || !strstr(headers, want) ||
		    !strstr(body, "\"code\":\"method_not_allowed\"")) {
			print_message("%s with a method it does not serve: %d, headers '%s', %s\n",
				      handlers[i].name, status, headers, body);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	/* Nothing was done on the way: logout wrote no audit line. */
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/audit.log", f->srv.state_dir);
	assert_int_not_equal(access(path, F_OK), 0);
}

static void test_head_and_unknown_methods_are_refused(void **state)
{
	struct fixture *f = *state;
	char headers[IPKVM_RESP_HEADERS + 1], body[1024];
	/* The route table serves no HEAD on the API; the handlers agree. */
	assert_int_equal(call(f, ipkvm_api_info, IPKVM_HEAD, "/api/info", headers, sizeof(headers),
			      body, sizeof(body)),
			 405);
	assert_int_equal(call(f, ipkvm_api_check, 0, "/api/auth/check", headers, sizeof(headers),
			      body, sizeof(body)),
			 405);
	assert_non_null(strstr(headers, "allow: GET\r\n"));
}

static void test_right_method_gets_past_the_check(void **state)
{
	struct fixture *f = *state;
	char headers[IPKVM_RESP_HEADERS + 1], body[1024];
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		int status = call(f, handlers[i].fn, handlers[i].right, handlers[i].path, headers,
				  sizeof(headers), body, sizeof(body));
		if (status == 405)
			fail_msg("%s refused its own method: %s", handlers[i].name, body);
		assert_null(strstr(headers, "allow: "));
	}
	/* Exact answers of two of them, past the check, with no devices. */
	assert_int_equal(call(f, ipkvm_api_check, IPKVM_GET, "/api/auth/check", headers,
			      sizeof(headers), body, sizeof(body)),
			 200);
	assert_non_null(strstr(body, "\"user\":\"admin\""));
	assert_int_equal(call(f, ipkvm_api_hid, IPKVM_GET, "/api/hid", headers, sizeof(headers),
			      body, sizeof(body)),
			 503);
	assert_non_null(strstr(body, "\"code\":\"no_hid\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_wrong_method_is_405_with_allow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_head_and_unknown_methods_are_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_right_method_gets_past_the_check, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
