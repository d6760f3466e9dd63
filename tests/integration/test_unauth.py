"""Without a session: everything but the login page and its assets answers 401; security
headers are on every response."""

import re

from harness import check, eq, expect_error, expect_ok, cookie_session, ws_refusal

# the contract's exact tag, or the same with a ?next= parameter (still a redirect to /login)
REFRESH = re.compile(r'<meta\s+http-equiv="refresh"\s+content="0;\s*url=/login(\?[^"]*)?"', re.I)


def test_api_requires_auth(t):
    d = t.daemon()
    s = d.session()
    for method, path in [("GET", "/api/info"), ("GET", "/api/auth/check"),
                         ("POST", "/api/auth/logout"), ("GET", "/api/users"),
                         ("POST", "/api/users"), ("DELETE", "/api/users/admin"),
                         ("GET", "/api/streamer/stream"), ("GET", "/api/no/such/path"),
                         ("GET", "/api/ws")]:
        body = {} if method == "POST" else None
        r = s.request(method, path, body=body)
        expect_error(r, 401, "unauthorized")
        check(not r.headers.get_all("Set-Cookie"), "401 sets a cookie:\n" + r.describe())
    # a made-up or malformed cookie is no better than none
    for value in ["A" * 43, "x", "../../etc/passwd", ""]:
        r = cookie_session(d, value).get("/api/auth/check")
        expect_error(r, 401, "unauthorized")
    r = s.request("GET", "/api/auth/check", headers={"Authorization": "Bearer ipk_" + "A" * 43})
    expect_error(r, 401, "unauthorized")
    r = s.request("GET", "/api/auth/check", headers={"Authorization": "Basic YWRtaW46eA=="})
    expect_error(r, 401, "unauthorized")


def test_pages_redirect_to_login(t):
    d = t.daemon()
    for path in ["/", "/index.html", "/some/page"]:
        r = d.request("GET", path)
        eq(r.status, 401, "GET %s status (%s)" % (path, r.describe()))
        ctype = r.headers.get("Content-Type") or ""
        check(ctype.lower().startswith("text/html"), "GET %s Content-Type %r" % (path, ctype))
        check(REFRESH.search(r.body.decode("utf-8", "replace")),
              "GET %s: no <meta http-equiv=\"refresh\" content=\"0;url=/login\">:\n%s"
              % (path, r.describe()))


def test_websocket_requires_auth(t):
    d = t.daemon()
    status, line, hdrs, body = ws_refusal(d, headers={"Origin": d.origin()})
    eq(status, 401, "upgrade without cookie: " + line)
    status, line, hdrs, body = ws_refusal(d, headers={"Origin": d.origin(),
                                                      "Cookie": "ipkvm_session=" + "B" * 43})
    eq(status, 401, "upgrade with a made-up cookie: " + line)


def test_public_paths(t):
    d = t.daemon()
    r = d.request("GET", "/login")
    eq(r.status, 200, "GET /login (%s)" % r.describe())
    check((r.headers.get("Content-Type") or "").lower().startswith("text/html"),
          "GET /login Content-Type %r" % r.headers.get("Content-Type"))
    check(b"<" in r.body and len(r.body) > 50, "GET /login body looks empty: %r" % r.body[:200])
    r = d.request("GET", "/assets/login.js")
    eq(r.status, 200, "GET /assets/login.js (%s)" % r.describe())
    check("javascript" in (r.headers.get("Content-Type") or "").lower(),
          "GET /assets/login.js Content-Type %r" % r.headers.get("Content-Type"))
    check(len(r.body) > 0, "login.js is empty")
    r = d.request("GET", "/assets/style.css")
    eq(r.status, 200, "GET /assets/style.css (%s)" % r.describe())
    check((r.headers.get("Content-Type") or "").lower().startswith("text/css"),
          "GET /assets/style.css Content-Type %r" % r.headers.get("Content-Type"))
    r = d.request("GET", "/assets/favicon.svg")
    eq(r.status, 200, "GET /assets/favicon.svg (%s)" % r.describe())
    check((r.headers.get("Content-Type") or "").lower().startswith("image/svg+xml"),
          "GET /assets/favicon.svg Content-Type %r" % r.headers.get("Content-Type"))
    # other assets are not public
    for path in ("/assets/api.js", "/assets/console.js", "/index.html"):
        r = d.request("GET", path)
        eq(r.status, 401, "GET %s without a session (%s)" % (path, r.describe()))
        check(b"function" not in r.body, "GET %s without a session leaks the file" % path)
    # after login they are served
    s = d.admin()
    r = s.get("/")
    eq(r.status, 200, "GET / after login (%s)" % r.describe())
    check((r.headers.get("Content-Type") or "").lower().startswith("text/html"),
          "GET / Content-Type %r" % r.headers.get("Content-Type"))
    r = s.get("/assets/api.js")
    eq(r.status, 200, "GET /assets/api.js after login (%s)" % r.describe())
    check("javascript" in (r.headers.get("Content-Type") or "").lower(),
          "GET /assets/api.js Content-Type %r" % r.headers.get("Content-Type"))
    r = s.get("/assets/no-such-file.js")
    eq(r.status, 404, "GET /assets/no-such-file.js after login (%s)" % r.describe())


def test_no_path_traversal(t):
    d = t.daemon()
    s = d.admin()
    paths = ["/assets/../../../../etc/passwd", "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
             "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd", "/../../../../etc/passwd",
             "/assets/login.js/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"]
    for who in (d.session(), s):
        for p in paths:
            r = who.get(p)
            check(r.status != 200 or b"root:" not in r.body,
                  "path traversal served a file outside the web root:\n" + r.describe())
            check(r.status != 500, "path traversal gave 500:\n" + r.describe())
    s.check_auth()


def _security_headers(r, api):
    what = "%s %s" % (r.method, r.path)
    eq((r.headers.get("X-Content-Type-Options") or "").lower(), "nosniff",
       what + " X-Content-Type-Options")
    eq((r.headers.get("X-Frame-Options") or "").upper(), "DENY", what + " X-Frame-Options")
    eq((r.headers.get("Referrer-Policy") or "").lower(), "no-referrer", what + " Referrer-Policy")
    csp = r.headers.get("Content-Security-Policy") or ""
    check("frame-ancestors 'none'" in csp, "%s CSP lacks frame-ancestors 'none': %r" % (what, csp))
    check("default-src 'self'" in csp, "%s CSP lacks default-src 'self': %r" % (what, csp))
    if api:
        cc = r.headers.get("Cache-Control") or ""
        check("no-store" in cc.lower(), "%s Cache-Control %r lacks no-store" % (what, cc))


def test_security_headers(t):
    d = t.daemon()
    anon = d.session()
    _security_headers(anon.get("/api/info"), True)                 # 401 API
    r = anon.try_login("admin", "wrong-password")
    _security_headers(r, True)                                     # 401 login
    _security_headers(anon.get("/"), False)                        # 401 page
    _security_headers(anon.get("/login"), False)                   # 200 page
    _security_headers(anon.get("/assets/style.css"), False)        # 200 asset
    s = d.admin()
    _security_headers(s.last_login, True)                          # 200 login
    r = s.get("/api/auth/check")
    expect_ok(r)
    _security_headers(r, True)                                     # 200 API
    r = s.get("/api/no/such/path")
    expect_error(r, 404, "not_found")
    _security_headers(r, True)                                     # 404 API
