/* Unit tests for src/web/routes.c: matching a path to its route and the rest that goes to the
 * handler, the rules every row of the table keeps, the WebSocket rows, and which characters a
 * request path may have. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "web/web.h"

static void test_exact_and_prefix_matches(void **state)
{
	const char *rest = "unset";
	const struct ipkvm_route *r = ipkvm_route_find("/api/info", &rest);
	assert_non_null(r);
	assert_ptr_equal(r->fn, ipkvm_api_info);
	assert_string_equal(rest, "");

	r = ipkvm_route_find("/api/users/alice", &rest);
	assert_non_null(r);
	assert_ptr_equal(r->fn, ipkvm_api_user);
	assert_string_equal(rest, "alice");

	/* The exact route and the prefix route of the same words are different rows. */
	assert_ptr_equal(ipkvm_route_find("/api/users", NULL)->fn, ipkvm_api_users);
	assert_ptr_equal(ipkvm_route_find("/api/msd/fetch", NULL)->fn, ipkvm_api_msd_fetch);
	r = ipkvm_route_find("/api/msd/fetch/12/cancel", &rest);
	assert_ptr_equal(r->fn, ipkvm_api_msd_fetch_cancel);
	assert_string_equal(rest, "12/cancel");
	r = ipkvm_route_find("/api/msd/drives/0/attach", &rest);
	assert_ptr_equal(r->fn, ipkvm_api_msd_drive);
	assert_string_equal(rest, "0/attach");

	/* rest points into the path given, so the handler reads the request's own copy. */
	const char *path = "/api/msd/images/a.iso";
	r = ipkvm_route_find(path, &rest);
	assert_ptr_equal(r->fn, ipkvm_api_msd_image);
	assert_ptr_equal(rest, path + strlen("/api/msd/images/"));
}

static void test_no_match(void **state)
{
	const char *rest = "unset";
	static const char *const paths[] = {
	    "/api/users/", /* a prefix alone: the rest is never empty */
	    "/api/msd/images/",	 "/api/info/", "/api/infox",  "/api/inf", "/api", "/api/",
	    "/api/no/such/path", "/API/info",  "/index.html", "",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (ipkvm_route_find(paths[i], &rest))
			fail_msg("'%s' matched a route", paths[i]);
		assert_null(rest);
	}
}

static bool ends_with_slash(const char *s)
{
	size_t n = strlen(s);
	return n && s[n - 1] == '/';
}

static void test_every_row_keeps_the_rules(void **state)
{
	size_t n = 0;
	const struct ipkvm_route *t = ipkvm_routes(&n);
	assert_true(n > 20);
	size_t publics = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ipkvm_route *r = &t[i];
		assert_non_null(r->path);
		if (strncmp(r->path, "/api/", 5) != 0)
			fail_msg("%s is not under /api/", r->path);
		if (!r->methods || (r->methods & ~0x7fu))
			fail_msg("%s: methods 0x%x", r->path, r->methods);
		/* A row does one thing: a handler or a WebSocket. */
		if (!r->fn == !r->ws)
			fail_msg("%s: needs exactly one of fn and ws", r->path);
		if (r->ws && (r->methods != IPKVM_GET || r->upload || r->public))
			fail_msg("%s: a WebSocket row is GET only, private, without upload",
				 r->path);
		if (r->upload && (!(r->methods & IPKVM_PUT) || !ends_with_slash(r->path)))
			fail_msg("%s: an upload is a PUT to a prefix route", r->path);
		if (r->name_rest && !ends_with_slash(r->path))
			fail_msg("%s: name_rest without a rest", r->path);
		/* Rows that change state need at least what reading needs. */
		if (r->write_role < r->read_role)
			fail_msg("%s: write role below read role", r->path);
		publics += r->public;
		/* No row is shadowed by an earlier one. */
		if (ipkvm_route_find(r->path, NULL) != r && !ends_with_slash(r->path))
			fail_msg("%s is matched by another row first", r->path);
		for (size_t k = 0; k < i; k++)
			if (strcmp(t[k].path, r->path) == 0)
				fail_msg("%s twice", r->path);
	}
	/* Only login answers strangers. */
	assert_int_equal(publics, 1);
	assert_true(ipkvm_route_find("/api/auth/login", NULL)->public);
}

static void test_websocket_rows(void **state)
{
	const struct ipkvm_route *ev = ipkvm_route_find("/api/ws", NULL);
	const struct ipkvm_route *h264 = ipkvm_route_find("/api/streamer/h264", NULL);
	const struct ipkvm_route *alias = ipkvm_route_find("/api/media/ws", NULL);
	assert_non_null(ev);
	assert_non_null(h264);
	assert_non_null(alias);
	assert_ptr_equal(ev->ws, &ipkvm_events_ws_ops);
	assert_ptr_equal(h264->ws, &ipkvm_h264ws_ops);
	assert_null(ev->fn);
	assert_null(h264->fn);
	/* The old name is the same endpoint, with the same rules. */
	assert_ptr_equal(alias->ws, h264->ws);
	assert_int_equal(alias->methods, h264->methods);
	assert_int_equal(alias->read_role, h264->read_role);
	assert_int_equal(alias->write_role, h264->write_role);
	/* RFB for noVNC: viewers may open it (their VNC session is view-only), it is off
	 * without a gateway, and it speaks the "binary" subprotocol noVNC may name. */
	const struct ipkvm_route *vnc = ipkvm_route_find("/api/vnc/ws", NULL);
	assert_non_null(vnc);
	assert_ptr_equal(vnc->ws, &ipkvm_vncws_ops);
	assert_int_equal(vnc->read_role, IPKVM_ROLE_VIEWER);
	assert_non_null(vnc->ws->available);
	assert_string_equal(vnc->ws->subprotocol, "binary");
	assert_null(ev->ws->subprotocol);
	assert_null(h264->ws->subprotocol);
	/* Every endpoint has all its callbacks. */
	size_t n = 0;
	const struct ipkvm_route *t = ipkvm_routes(&n);
	for (size_t i = 0; i < n; i++) {
		const struct ipkvm_ws_ops *o = t[i].ws;
		if (o && (!o->established || !o->receive || !o->writeable || !o->closed))
			fail_msg("%s: WebSocket callbacks missing", t[i].path);
	}
}

static void test_upload_hook(void **state)
{
	const struct ipkvm_route *r = ipkvm_route_find("/api/msd/images/x.iso", NULL);
	assert_ptr_equal(r->upload, &ipkvm_msd_upload_ops);
	assert_true(r->name_rest);
	size_t n = 0, uploads = 0;
	const struct ipkvm_route *t = ipkvm_routes(&n);
	for (size_t i = 0; i < n; i++)
		uploads += t[i].upload != NULL;
	assert_int_equal(uploads, 1);
}

static void test_public_files(void **state)
{
	assert_true(ipkvm_public_file("/login"));
	assert_true(ipkvm_public_file("/assets/login.js"));
	assert_true(ipkvm_public_file("/assets/style.css"));
	assert_true(ipkvm_public_file("/assets/favicon.svg"));
	assert_false(ipkvm_public_file("/"));
	assert_false(ipkvm_public_file("/index.html"));
	assert_false(ipkvm_public_file("/login.html"));
	assert_false(ipkvm_public_file("/assets/app.js"));
	assert_false(ipkvm_public_file("/login/"));
	assert_false(ipkvm_public_file("/api/auth/login"));
	/* the translation module and the catalogs the login page loads */
	assert_true(ipkvm_public_file("/assets/i18n.js"));
	assert_true(ipkvm_public_file("/i18n/languages.json"));
	assert_true(ipkvm_public_file("/i18n/ja.json"));
	assert_true(ipkvm_public_file("/i18n/en.json"));
	assert_true(ipkvm_public_file("/i18n/zh-hant.json"));
	assert_false(ipkvm_public_file("/i18n/.json"));
	assert_false(ipkvm_public_file("/i18n/"));
	assert_false(ipkvm_public_file("/i18n/ja.js"));
	assert_false(ipkvm_public_file("/i18n/ja.json.bak"));
	assert_false(ipkvm_public_file("/i18n/pt_BR.json"));
	assert_false(ipkvm_public_file("/i18n/JA.json"));
	assert_false(ipkvm_public_file("/i18n/x/ja.json"));
	assert_false(ipkvm_public_file("/i18n/../index.json"));
	assert_false(ipkvm_public_file("/i18n/ja.json/"));
	assert_false(ipkvm_public_file("/assets/i18n/ja.json"));
	assert_false(ipkvm_public_file("/i18nja.json"));
}

static void test_novnc_paths(void **state)
{
	assert_true(ipkvm_novnc_path("/novnc"));
	assert_true(ipkvm_novnc_path("/novnc/"));
	assert_true(ipkvm_novnc_path("/novnc/vnc.html"));
	assert_true(ipkvm_novnc_path("/novnc/app/ui.js"));
	assert_false(ipkvm_novnc_path("/novncx"));
	assert_false(ipkvm_novnc_path("/novnc.html"));
	assert_false(ipkvm_novnc_path("/assets/novnc/vnc.html"));
	assert_false(ipkvm_novnc_path("/api/vnc/ws"));
	/* never a file a stranger may load */
	assert_false(ipkvm_public_file("/novnc/vnc.html"));
}

static void test_path_characters(void **state)
{
	static const struct {
		const char *path;
		bool ok;
	} cases[] = {
	    {"/", true},
	    {"/index.html", true},
	    {"/assets/app.js", true},
	    {"/api/users/al-ice_1.x~", true},
	    {"/api/info", true},
	    {"/a b", false},
	    {"/caf\xc3\xa9", false}, /* UTF-8 only where a name goes */
	    {"/api/users/caf\xc3\xa9", false},
	    {"/a%20b", false},
	    {"/a?b", false},
	    {"/a\"b", false},
	    {"/a<b", false},
	    {"/a\tb", false},
	    {"/a\x7f", false},
	    /* an image name: any UTF-8 but '/' and control characters */
	    {"/api/msd/images/ubuntu 24.04 \xe6\x97\xa5\xe6\x9c\xac.iso", true},
	    {"/api/msd/images/a\"<>?%#.iso", true},
	    {"/api/msd/images/.hidden", true}, /* the store refuses it, with its own reason */
	    {"/api/msd/images/a/b", false},
	    {"/api/msd/images/a\x01"
	     "b",
	     false},
	    {"/api/msd/images/a\nb", false},
	    {"/api/msd/images/a\x7f", false},
	    /* the prefix itself stays plain */
	    {"/api/msd/images", true},
	    {"/api/msd/image\xc3\xa9/x", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (ipkvm_path_ok(cases[i].path) != cases[i].ok)
			fail_msg("'%s': expected %s", cases[i].path,
				 cases[i].ok ? "ok" : "refused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_and_prefix_matches),
	    cmocka_unit_test(test_no_match),
	    cmocka_unit_test(test_every_row_keeps_the_rules),
	    cmocka_unit_test(test_websocket_rows),
	    cmocka_unit_test(test_upload_hook),
	    cmocka_unit_test(test_public_files),
	    cmocka_unit_test(test_novnc_paths),
	    cmocka_unit_test(test_path_characters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
