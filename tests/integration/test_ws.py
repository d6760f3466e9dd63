"""The event WebSocket /api/ws: hello, ping/pong, errors, Origin checks, roles."""

import time

from harness import (OP_PING, OP_PONG, OP_TEXT, WSRefused, check, eq, expect_error, expect_ok,
                     ws_refusal)


def _hello(ws, user, role):
    m = ws.recv_json(5)
    eq(m.get("event"), "hello", "first WebSocket message event (%r)" % m)
    h = m.get("data") or {}
    eq(h.get("user"), user, "hello.user")
    eq(h.get("role"), role, "hello.role")
    check(isinstance(h.get("version"), str) and h["version"], "hello.version: %r" % h)
    st = h.get("server_time")
    check(isinstance(st, int) and abs(st - time.time() * 1000) < 10000,
          "hello.server_time should be ms since the epoch: %r" % st)
    return h


def _answer(ws, timeout=5.0):
    """The next answer to what this client sent (a pong or an error event). State events
    (streamer, hid, ...) go to every client whenever the state changes, so one may come first:
    those are skipped, nothing else."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        check(left > 0, "no answer within %.1f s; saw %r" % (timeout, seen))
        m = ws.recv_json(left)
        if isinstance(m, dict) and m.get("event") in ("pong", "error"):
            return m
        seen.append(m)


def test_ws_hello_ping_errors(t):
    d = t.daemon()
    s = d.admin()
    with s.ws(origin=d.origin()) as ws:
        _hello(ws, "admin", "admin")
        ws.send_json({"event": "ping", "data": {"n": 1}})
        m = _answer(ws)
        eq(m.get("event"), "pong", "answer to ping (%r)" % m)
        p = m.get("data") or {}
        eq(p.get("n"), 1, "pong.n")
        check(isinstance(p.get("server_time"), int) and
              abs(p["server_time"] - time.time() * 1000) < 10000,
              "pong.server_time: %r" % p)
        ws.send_json({"event": "ping", "data": {"s": "x", "list": [1, 2], "n": 2}})
        p = ws.recv_event("pong")
        eq((p.get("s"), p.get("list"), p.get("n")), ("x", [1, 2], 2), "pong echoes the fields")
        # malformed messages: an error event each, and the socket stays usable
        for bad, code in [("this is not json", "bad_json"), ("[1,2,3]", None),
                          ('{"event": 5, "data": {}}', "bad_request"),
                          ('{"data": {}}', "bad_request")]:
            ws.send_text(bad)
            m = _answer(ws)
            eq(m.get("event"), "error", "answer to %r (%r)" % (bad, m))
            e = m.get("data") or {}
            if code:
                eq(e.get("code"), code, "error.code for %r" % bad)
            else:
                check(e.get("code") in ("bad_json", "bad_request"), "error.code for %r: %r"
                      % (bad, e))
            check(isinstance(e.get("message"), str) and e["message"],
                  "error.message for %r: %r" % (bad, e))
            ws.send_json({"event": "ping", "data": {"n": 3}})
            eq(ws.recv_event("pong").get("n"), 3, "pong after an error")
        # protocol-level ping gets a pong with the same payload
        ws.send_frame(OP_PING, b"hi")
        deadline = time.monotonic() + 5
        while not ws.pongs and time.monotonic() < deadline:
            fin, op, payload = ws.recv_frame(max(0.1, deadline - time.monotonic()))
            if op == OP_PONG:
                ws.pongs.append(payload)
        eq(ws.pongs[:1], [b"hi"], "pong frame payload")
        # a message in two fragments
        ws.send_frame(OP_TEXT, b'{"event":"ping",', fin=False)
        ws.send_frame(0x0, b'"data":{"n":4}}', fin=True)
        eq(ws.recv_event("pong").get("n"), 4, "pong to a fragmented ping")
        # a clean close is answered
        ws.send_close(1000)
        code = ws.wait_closed(5)
        check(code in (1000, None), "close code %r" % code)
    s.check_auth()


def test_ws_origin(t):
    d = t.daemon()
    s = d.admin()
    hdr = {"Cookie": "ipkvm_session=" + s.cookie}
    for origin in ["https://evil.example", "http://127.0.0.1:%d" % d.port,
                   "https://127.0.0.1:%d" % (d.port + 1), "https://127.0.0.1", "null"]:
        status, line, hdrs, body = ws_refusal(d, headers=dict(hdr, Origin=origin))
        eq(status, 403, "upgrade with Origin %s: %s %r" % (origin, line, body[:200]))
    # no Origin at all (non-browser clients) is fine
    with s.ws(origin=None) as ws:
        _hello(ws, "admin", "admin")
    # several sockets of one session at once
    w1, w2 = s.ws(), s.ws()
    try:
        _hello(w1, "admin", "admin")
        _hello(w2, "admin", "admin")
        w2.send_json({"event": "ping", "data": {"n": 2}})
        w1.send_json({"event": "ping", "data": {"n": 1}})
        eq(w1.recv_event("pong").get("n"), 1, "pong on socket 1")
        eq(w2.recv_event("pong").get("n"), 2, "pong on socket 2")
    finally:
        w1.close_socket()
        w2.close_socket()
    s.check_auth()


def test_ws_viewer_and_token(t):
    d = t.daemon()
    d.add_user("viewer1", "viewer-password-1", role="viewer")
    v = d.session()
    v.login("viewer1", "viewer-password-1")
    with v.ws() as ws:
        _hello(ws, "viewer1", "viewer")
        ws.send_json({"event": "ping", "data": {"n": 7}})
        eq(ws.recv_event("pong").get("n"), 7, "viewer pong")
    token = d.cli_ok("token", "admin", "--label", "ws").split("\n")[0]
    with d.session(token=token).ws(origin=None) as ws:
        _hello(ws, "admin", "admin")


def test_ws_closed_on_revocation(t):
    d = t.daemon()
    d.add_user("viewer1", "viewer-password-1", role="viewer")
    v = d.session()
    v.login("viewer1", "viewer-password-1")
    a = d.admin()
    ws = v.ws()
    try:
        _hello(ws, "viewer1", "viewer")
        expect_ok(a.post("/api/users/viewer1", {"password": "viewer-password-2"}))
        ws.wait_closed(5)
    finally:
        ws.close_socket()
    try:
        v.ws()
        raise AssertionError("upgrade with a revoked session succeeded")
    except WSRefused as e:
        eq(e.status, 401, "upgrade with a revoked session")


def test_ws_paths_without_upgrade(t):
    """Every WebSocket path answers a plain GET the same way: 426 upgrade_required, with the
    same error shape; other methods are 405 like on any route."""
    d = t.daemon()
    s = d.admin()
    shapes = {}
    for path in ["/api/ws", "/api/streamer/h264", "/api/media/ws"]:
        r = s.get(path)
        err = expect_error(r, 426, "upgrade_required")
        shapes[path] = tuple(sorted(r.json.keys())), tuple(sorted(err.keys()))
        r = s.post(path, {})
        expect_error(r, 405, "method_not_allowed")
        eq(r.headers.get("Allow"), "GET", "Allow of %s" % path)
    eq(len(set(shapes.values())), 1, "one error shape for every WebSocket path: %r" % shapes)
