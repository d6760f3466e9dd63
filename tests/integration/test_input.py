"""Bad requests: each gets a clear 4xx with the contract's error code, and the daemon keeps
serving (the admin session still works after each one)."""

import re
import socket
import time

from harness import HOST, check, eq, expect_error, expect_ok


def _login_raw(s, body, ctype="application/json", method="POST", path="/api/auth/login"):
    hdrs = {"Content-Type": ctype} if ctype else {}
    return s.request(method, path, body=body, headers=hdrs)


def test_bad_input(t):
    d = t.daemon(config="""
        [server]
        max_body = 1024
        """)
    s = d.admin()

    def still_ok():
        eq(s.check_auth().get("user"), "admin", "session after a bad request")

    # not JSON: the message gives a position
    err = expect_error(_login_raw(s, b'{"user": "admin", "password": '), 400, "bad_json")
    check(re.search(r"line|column|\d+:\d+", err["message"], re.I),
          "bad_json message gives no line/column: %r" % err["message"])
    still_ok()
    expect_error(_login_raw(s, b""), 400, "bad_json")
    still_ok()
    expect_error(_login_raw(s, b'{"user":"admin","password":"x"} trailing'), 400, "bad_json")
    still_ok()
    # JSON but not an object
    for body in (b'["admin", "password"]', b'"admin"', b"42", b"null"):
        expect_error(_login_raw(s, body), 400, "bad_json")
        still_ok()
    # wrong type
    expect_error(s.post("/api/auth/login", {"user": 1, "password": "some-password"}), 400,
                 "bad_request", mentions="user")
    still_ok()
    expect_error(s.post("/api/auth/login", {"user": "admin", "password": ["x"]}), 400,
                 "bad_request", mentions="password")
    still_ok()
    # unknown field
    expect_error(s.post("/api/auth/login", {"user": "admin", "password": "some-password",
                                            "colour": "red"}), 400, "bad_request",
                 mentions="colour")
    still_ok()
    # missing field
    expect_error(s.post("/api/auth/login", {"user": "admin"}), 400, "bad_request",
                 mentions="password")
    still_ok()
    expect_error(s.post("/api/users", {"name": "zed", "role": "viewer"}), 400, "bad_request",
                 mentions="password")
    still_ok()
    # invalid UTF-8 inside a string
    expect_error(_login_raw(s, b'{"user":"adm\xff\xfein","password":"some-password"}'), 400,
                 "bad_json")
    still_ok()
    # an embedded NUL must not truncate the name into "ad"
    r = _login_raw(s, b'{"user":"admin\\u0000x","password":"some-password"}')
    check(r.status in (400, 401), "NUL in user name: %s" % r.describe())
    still_ok()
    # too large
    big = b'{"user":"admin","password":"' + b"p" * 1970 + b'"}'
    check(len(big) >= 2000, "test body size")
    expect_error(_login_raw(s, big), 413, "too_large")
    still_ok()
    # exactly at the limit is fine (and a wrong password)
    fit = b'{"user":"admin","password":"' + b"p" * (1024 - 30) + b'"}'
    eq(len(fit), 1024, "body size at the limit")
    expect_error(_login_raw(s, fit), 401, "bad_credentials")
    still_ok()
    # wrong media type
    expect_error(_login_raw(s, b'{"user":"admin","password":"x"}', ctype="text/plain"), 415,
                 "unsupported_media_type")
    still_ok()
    expect_error(_login_raw(s, b'user=admin&password=x',
                            ctype="application/x-www-form-urlencoded"), 415,
                 "unsupported_media_type")
    still_ok()
    # a charset parameter is still application/json
    r = _login_raw(s, ('{"user":"admin","password":"%s"}' % d.admin_password).encode(),
                   ctype="application/json; charset=utf-8")
    expect_ok(r)
    still_ok()
    # wrong method
    for method, path, allowed in [("PUT", "/api/auth/login", "POST"),
                                  ("GET", "/api/auth/login", "POST"),
                                  ("DELETE", "/api/auth/check", "GET"),
                                  ("PUT", "/api/info", "GET")]:
        body = b"{}" if method == "PUT" else None
        r = s.request(method, path, body=body,
                      headers={"Content-Type": "application/json"} if body else None)
        expect_error(r, 405, "method_not_allowed")
        allow = r.headers.get("Allow") or ""
        check(allowed in [x.strip() for x in allow.split(",")],
              "%s %s: Allow %r lacks %s" % (method, path, allow, allowed))
        still_ok()
    expect_error(s.get("/api/no/such/path"), 404, "not_found")
    still_ok()


def test_garbage_on_the_wire(t):
    d = t.daemon(config="""
        [server]
        max_body = 1024
        """)
    s = d.admin()

    def raw(data, wait=1.0):
        sock = d.tls_connect()
        try:
            sock.sendall(data)
            sock.settimeout(wait)
            out = b""
            end = time.monotonic() + wait
            while time.monotonic() < end:
                try:
                    chunk = sock.recv(65536)
                except (socket.timeout, TimeoutError, OSError):
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            sock.close()

    host = ("Host: %s:%d\r\n" % (HOST, d.port)).encode()
    for data in [b"\x00\x01\x02garbage\r\n\r\n",
                 b"GET / HTTP/9.9\r\n" + host + b"\r\n",
                 b"GET /api/info HTTP/1.1\r\n" + host + b"X: " + b"a" * 20000 + b"\r\n\r\n",
                 b"POST /api/auth/login HTTP/1.1\r\n" + host
                 + b"Content-Type: application/json\r\nContent-Length: -5\r\n\r\n{}",
                 b"POST /api/auth/login HTTP/1.1\r\n" + host
                 + b"Content-Type: application/json\r\nContent-Length: 99999999999999999999\r\n"
                 b"\r\n{}",
                 b"POST /api/auth/login HTTP/1.1\r\n" + host
                 + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user\""]:
        out = raw(data)
        check(not out.startswith(b"HTTP/1.1 200") and not out.startswith(b"HTTP/1.1 500"),
              "garbage %r got %r" % (data[:60], out[:200]))
        eq(s.check_auth().get("user"), "admin", "session after garbage %r" % data[:40])
    # a body sent in several small pieces is assembled
    body = ('{"user":"admin","password":"%s"}' % d.admin_password).encode()
    sock = d.tls_connect()
    try:
        sock.sendall(b"POST /api/auth/login HTTP/1.1\r\n" + host
                     + b"Content-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n")
        for i in range(0, len(body), 7):
            time.sleep(0.02)
            sock.sendall(body[i:i + 7])
        sock.settimeout(10)
        out = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and out.rstrip().endswith(b"}"):
                break
    finally:
        sock.close()
    check(out.startswith(b"HTTP/1.1 200"), "login in pieces: %r" % out[:300])


def test_chunked_body_refused(t):
    # Request bodies must come with a Content-Length: a chunked one is answered 411, not
    # taken for an empty body.
    import socket
    d = t.daemon()
    raw = (b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
           b"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n")
    s = d.tls_connect()
    try:
        s.sendall(raw)
        s.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    check(data.startswith(b"HTTP/1.1 411"), "chunked body answered %r" % data[:200])
    check(b"length_required" in data or b"content-length" in data.lower(),
          "411 without its explanation: %r" % data[:400])
    eq(d.session().try_login("admin", d.admin_password).status, 200,
       "login after the chunked request")


def test_refused_body_keeps_connection_usable(t):
    # A request refused before its body is read (here: 401, no session) has its body
    # drained, so the next request on the same keep-alive connection is read correctly.
    import http.client
    d = t.daemon()
    conn = http.client.HTTPSConnection(HOST, d.port, context=d.ssl_context(), timeout=5)
    try:
        body = b'{"name":"x","password":"long-enough-1","role":"viewer"}' + b" " * 3000
        conn.request("POST", "/api/users", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        eq(r.status, 401, "status of an unauthenticated POST with a body")
        check(b'"unauthorized"' in data, "401 body: %r" % data)
        conn.request("GET", "/login")
        r = conn.getresponse()
        data = r.read()
        eq(r.status, 200, "status of the next request on the same connection")
        check(b"<html" in data.lower(), "the login page did not come back: %r" % data[:200])
    finally:
        conn.close()
