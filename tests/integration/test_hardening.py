"""The request layer against hostile clients (issue 14): a body completes once whatever
follows it, Content-Length is strict, headers that cannot be checked are refused, slow or
numerous unauthenticated connections are bounded in time and number, and HTTPS answers carry
HSTS. Everything is sent as raw bytes over TLS, the way an attacker would."""

import json
import os
import select
import socket
import ssl
import time

from harness import HOST, check, eq, expect_error, expect_ok
from test_hid import FakeHidg, _daemon as hid_daemon


def raw_exchange(d, data, timeout=3.0, source=None, sock=None):
    """Sends data on a new TLS connection (or sock) and reads until the daemon closes it or
    nothing more comes for `timeout` seconds. Returns (bytes read, closed by the daemon)."""
    s = sock or d.tls_connect(source=source)
    try:
        s.sendall(data)
        return read_until_quiet(s, timeout)
    finally:
        if sock is None:
            s.close()


def read_until_quiet(s, timeout):
    """Reads until the peer closes or nothing comes for `timeout` seconds. Waits with
    select() and reads only what is there: a TLS read that times out halfway through a
    record loses the record's start (Python's ssl), and the stream after it."""
    out = b""
    s.settimeout(10)
    while True:
        if not s.pending():
            r, _, _ = select.select([s], [], [], timeout)
            if not r:
                return out, False
        try:
            chunk = s.recv(65536)
        except ssl.SSLWantReadError:
            continue
        except (ConnectionError, OSError):
            return out, True
        if not chunk:
            return out, True
        out += chunk


def read_for(s, seconds):
    """Everything that arrives within `seconds` (a stream never goes quiet). Returns
    (bytes, closed by the daemon)."""
    out, end = b"", time.monotonic() + seconds
    while time.monotonic() < end:
        chunk, closed = read_until_quiet(s, max(0.05, min(0.5, end - time.monotonic())))
        out += chunk
        if closed:
            return out, True
    return out, False


def statuses(data):
    """The status codes of every HTTP response in data, in order."""
    return [int(line.split(b" ")[1]) for line in data.split(b"\r\n")
            if line[:8] in (b"HTTP/1.1", b"HTTP/1.0")]


def request_bytes(d, method, path, body=b"", headers=(), cookie=None, origin=True):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (HOST, d.port)]
    if cookie:
        lines.append("Cookie: ipkvm_session=" + cookie)
    if origin:
        lines.append("Origin: " + d.origin())
    lines += list(headers)
    if body is not None and not any(h.lower().startswith("content-length") for h in headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def daemon_cpu_s(d):
    """CPU seconds (user + system) the daemon has used so far."""
    with open("/proc/%d/stat" % d.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def audit_records(d):
    path = os.path.join(d.state_dir, "audit.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# --- a body completes once (items 1 and 2) --------------------------------------------------

def audit_settled(d, events, expected, timeout=10.0):
    """The audit records of these events once `expected` of them are in (password hashing
    runs on the worker and takes long on a loaded machine), and half a second later, so that
    an extra one would be seen too."""
    deadline = time.monotonic() + timeout
    while True:
        got = [r for r in audit_records(d) if r.get("event") in events]
        if len(got) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    return [r for r in audit_records(d) if r.get("event") in events]


def test_login_with_bytes_after_the_body_runs_once(t):
    """Bytes after a login's body made lws repeat the body's completion: each repeat ran the
    handler again, and the extra hash jobs wrote into the freed request (use after free,
    ASan at teardown). Now the login runs once; lws repeats the completion on every pass
    without polling, so the connection ends there, its answer lost while the hash runs."""
    d = t.daemon()
    body = json.dumps({"user": "admin", "password": "not-the-password"}).encode()
    for i in range(3):
        data, closed = raw_exchange(d, request_bytes(
            d, "POST", "/api/auth/login", body + b"\r\n",
            headers=["Content-Type: application/json", "Content-Length: %d" % len(body)]),
            timeout=2.0)
        check(statuses(data) in ([], [401]), "login %d: at most one 401: %r" % (i, data[:300]))
        check(closed, "login %d: the connection ended" % i)
    attempts = audit_settled(d, ("login", "login_failed"), 3)
    eq(len(attempts), 3, "one checked password per request (%r)" % attempts)
    # the right password sent the same way makes at most one session, and the daemon is
    # still fine for everyone else
    body = json.dumps({"user": "admin", "password": d.admin_password}).encode()
    data, _ = raw_exchange(d, request_bytes(
        d, "POST", "/api/auth/login", body + b"\r\n\r\n",
        headers=["Content-Type: application/json", "Content-Length: %d" % len(body)]))
    check(data.lower().count(b"set-cookie: ipkvm_session=") <= 1, "one session cookie at most")
    logins = audit_settled(d, ("login",), 1)
    eq(len(logins), 1, "one audited login (%r)" % logins)
    expect_ok(d.admin().get("/api/info"))


def test_key_tap_with_a_trailing_crlf_is_sent_once(t):
    g = FakeHidg()
    try:
        d = hid_daemon(t, g)
        s = d.admin()
        body = json.dumps({"code": "KeyA", "state": "tap"}).encode()
        data, _ = raw_exchange(d, request_bytes(
            d, "POST", "/api/hid/key", body + b"\r\n",
            headers=["Content-Type: application/json", "Content-Length: %d" % len(body)],
            cookie=s.cookie), timeout=1.0)
        eq(statuses(data)[:1], [200], "tap answered (%r)" % data[:300])
        eq(g.reports(2), [bytes([0, 0, 0x04, 0, 0, 0, 0, 0]), bytes(8)], "one press, one release")
        check(g.quiet(0.5), "no second tap")
    finally:
        g.close()


# --- Content-Length (item 7) ---------------------------------------------------------------

def test_content_length_is_strict(t):
    d = t.daemon()
    s = d.admin()
    bad = [["Content-Length: -1"], ["Content-Length: 18446744073709551615"],
           ["Content-Length: 9223372036854775808"], ["Content-Length: +3"],
           ["Content-Length: 3 3"], ["Content-Length: 0x10"], ["Content-Length: 3", "Content-Length: 3"],
           ["Content-Length: "]]
    for headers in bad:
        data, _ = raw_exchange(d, request_bytes(
            d, "PUT", "/api/msd/images/cl.img", None,
            headers=["Content-Type: application/octet-stream"] + headers, cookie=s.cookie)
            + b"abc", timeout=2.0)
        eq(statuses(data)[:1], [400], "%r refused with 400 (%r)" % (headers, data[:300]))
    names = [i["name"] for i in expect_ok(s.get("/api/msd"))["images"]]
    check("cl.img" not in names, "no image was made: %r" % names)
    # the largest value the rule allows still gets the up-front 507 of the store
    data, _ = raw_exchange(d, request_bytes(
        d, "PUT", "/api/msd/images/cl.img", None,
        headers=["Content-Type: application/octet-stream",
                 "Content-Length: 9223372036854775807"], cookie=s.cookie), timeout=2.0)
    eq(statuses(data)[:1], [507], "INT64_MAX is a size, too big for the store (%r)" % data[:300])


# --- headers that cannot be checked are refused (items 8 and 9) -----------------------------

def test_long_origin_is_refused(t):
    d = t.daemon()
    s = d.admin()
    long_origin = "https://" + "a" * 400 + ".example"
    for origin in [long_origin, d.origin() + "/" + "b" * 600]:
        r = s.post("/api/hid/release_all", headers={"Origin": origin})
        expect_error(r, 403, "bad_origin")
    sock = d.tls_connect()
    try:
        data, _ = raw_exchange(d, (
            "GET /api/ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Cookie: ipkvm_session=%s\r\nOrigin: %s\r\n\r\n"
            % (HOST, d.port, s.cookie, long_origin)).encode(), sock=sock, timeout=2.0)
    finally:
        sock.close()
    eq(statuses(data)[:1], [403], "WebSocket upgrade with a long Origin (%r)" % data[:300])


def test_long_authorization_is_refused_not_ignored(t):
    d = t.daemon()
    s = d.admin()
    expect_ok(s.get("/api/auth/check"))
    for value in ["Bearer " + "A" * 600, "x" * 2000]:
        r = s.get("/api/auth/check", headers={"Authorization": value})
        expect_error(r, 401, "unauthorized")


# --- HSTS (item 14) -------------------------------------------------------------------------

def test_https_answers_carry_hsts(t):
    d = t.daemon("[server]\nplain_port = 0\n")
    s = d.admin()
    for r in [s.get("/api/info"), s.get("/"), d.request("GET", "/login"),
              d.request("GET", "/api/info")]:
        hsts = r.headers.get("Strict-Transport-Security") or ""
        check(hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 31536000,
              "%s %s: HSTS header %r" % (r.method, r.path, hsts))
    stream = d.tls_connect()
    try:
        stream.sendall(request_bytes(d, "GET", "/api/streamer/stream", None, cookie=s.cookie,
                                     origin=False))
        head, _ = read_for(stream, 1.0)
        check(b"\r\nstrict-transport-security: max-age=31536000\r\n" in head.lower(),
              "the MJPEG stream's header has HSTS: %r" % head[:400])
    finally:
        stream.close()


def test_plain_port_has_no_hsts(t):
    import http.client
    from harness import free_port
    port = free_port()
    d = t.daemon("[server]\nplain_port = %d\n" % port)
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", "/login")
        r = conn.getresponse()
        r.read()
        eq(r.status, 200, "GET /login on the plain port")
        eq(r.getheader("Strict-Transport-Security"), None, "no HSTS over plain HTTP")
    finally:
        conn.close()


# --- slow and numerous unauthenticated clients (item 4) --------------------------------------

def trickle_until_closed(sock, piece, limit=8.0):
    """Sends piece every half second until the daemon closes the connection; returns the
    seconds that took (limit when it never did)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            sock.sendall(piece)
        except OSError:
            break
        _, closed = read_until_quiet(sock, 0.5)
        if closed:
            break
    return time.monotonic() - start


def test_slow_login_body_is_cut_at_the_deadline(t):
    d = t.daemon("[server]\nrequest_timeout = 2s\n")
    sock = d.tls_connect()
    try:
        sock.sendall(request_bytes(d, "POST", "/api/auth/login", None,
                                   headers=["Content-Type: application/json",
                                            "Content-Length: 65536"]) + b"{")
        took = trickle_until_closed(sock, b" ")
        check(took < 4.5, "a body trickled byte by byte: closed after %.1f s (deadline 2 s)"
              % took)
    finally:
        sock.close()
    # the same for headers that never end (slowloris)
    sock = d.tls_connect()
    try:
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n")
        took = trickle_until_closed(sock, b"X-a: b\r\n")
        check(took < 4.5, "endless headers: closed after %.1f s (deadline 2 s)" % took)
    finally:
        sock.close()
    expect_ok(d.admin().get("/api/info"))


def test_unauthenticated_body_is_closed_not_drained(t):
    d = t.daemon()
    sock = d.tls_connect()
    try:
        sock.sendall(request_bytes(d, "PUT", "/api/msd/images/x.iso", None,
                                   headers=["Content-Length: 16000000"]))
        data, closed = read_until_quiet(sock, 3.0)
        eq(statuses(data), [401], "401 before the body (%r)" % data[:200])
        check(closed, "the connection is closed after the 401, not kept to drain 16 MB")
    finally:
        sock.close()
    # a small one too: a client without a session gets nothing read from it
    sock = d.tls_connect()
    try:
        sock.sendall(request_bytes(d, "POST", "/api/hid/release_all", None,
                                   headers=["Content-Type: application/json",
                                            "Content-Length: 100"]))
        data, closed = read_until_quiet(sock, 3.0)
        eq(statuses(data), [401], "401 (%r)" % data[:200])
        check(closed, "closed after the 401")
    finally:
        sock.close()


def test_body_memory_grows_with_the_bytes(t):
    """A login that announces a big body and sends two bytes must not cost the announced
    size: 40 of them announcing 16 MiB each (max_body allows it) leave the daemon's address
    space where it was, instead of 640 MiB larger."""
    d = t.daemon("[server]\nmax_body = 16777216\n")
    head = request_bytes(d, "POST", "/api/auth/login", None,
                         headers=["Content-Type: application/json",
                                  "Content-Length: 16777216"])

    def vm_kib():
        with open("/proc/%d/status" % d.proc.pid) as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1])
    socks = []
    try:
        for i in range(5):  # lws's and TLS's own allocations for a connection
            socks.append(d.tls_connect(source="127.0.3.%d" % (i + 1)))
            socks[-1].sendall(head + b"{}")
        time.sleep(0.3)
        before = vm_kib()
        for i in range(40):
            s = d.tls_connect(source="127.0.4.%d" % (i + 1))
            s.sendall(head + b"{}")
            socks.append(s)
        time.sleep(0.5)
        grown = vm_kib() - before
        check(grown < 100 * 1024, "address space grew by %d KiB for 40 slow logins" % grown)
    finally:
        for s in socks:
            s.close()


def test_connections_per_address_are_capped(t):
    d = t.daemon("[server]\nmax_connections_per_address = 4\nmax_unauth_per_address = 3\n")
    admin = d.admin()
    # three unauthenticated connections hold their place; the fourth is turned away
    held = [d.tls_connect(source="127.0.5.1") for _ in range(3)]
    try:
        refused = False
        try:
            extra = d.tls_connect(source="127.0.5.1", timeout=3)
            data, closed = raw_exchange(d, b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n",
                                        sock=extra, timeout=2)
            refused = closed and not data
            extra.close()
        except (OSError, ConnectionError):
            refused = True
        check(refused, "a 4th unauthenticated connection from one address is refused")
        # another address is not affected
        r = d.request("GET", "/login", source="127.0.5.2")
        eq(r.status, 200, "GET /login from another address")
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    eq(d.request("GET", "/login", source="127.0.5.1").status, 200,
       "the address gets in again once its connections closed")
    expect_ok(admin.get("/api/info"))
    lines = [l for l in d.stderr().splitlines() if "127.0.5.1" in l]
    check(len(lines) <= 3, "refusals are not logged once each: %r" % lines[:10])


def test_authenticated_connections_are_not_evicted_by_a_crowd(t):
    """With the connection table full of unauthenticated connections from many addresses,
    a new client still gets in (the oldest unauthenticated connection makes room), and
    logged-in clients keep theirs."""
    d = t.daemon("[server]\nmax_connections = 40\n")
    s = d.admin()
    stream = d.tls_connect()
    stream.sendall(request_bytes(d, "GET", "/api/streamer/stream", None, cookie=s.cookie,
                                 origin=False))
    head, _ = read_for(stream, 1.0)
    eq(statuses(head)[:1], [200], "the stream started")
    crowd = []
    try:
        for i in range(60):
            try:
                crowd.append(d.tls_connect(source="127.0.6.%d" % (i + 1), timeout=3))
            except OSError:
                pass
        time.sleep(0.3)
        expect_ok(d.admin().get("/api/info"))
        more, closed = read_for(stream, 3.0)
        check(not closed and len(more) > 0, "the logged-in stream goes on")
    finally:
        for c in crowd:
            c.close()
        stream.close()


def test_out_of_descriptors_neither_spins_nor_floods_the_log(t):
    """With a hard open-files limit of 200, 300 connections from as many addresses: the
    daemon serves what fits (its connection limit follows the descriptor limit), refuses or
    evicts the rest, stays idle and writes a few log lines, and the operator still logs in."""
    d = t.daemon(start=False)
    plain = d.command
    d.command = lambda: ["prlimit", "--nofile=200:200", "--"] + plain()
    d.start()

    def cpu_s():
        return daemon_cpu_s(d)
    socks = []
    try:
        for i in range(300):
            try:
                socks.append(d.tls_connect(source="127.0.7.%d" % (i % 250 + 1)
                                           if i < 250 else "127.0.8.%d" % (i - 249),
                                           timeout=2))
            except OSError:
                pass
        before = cpu_s()
        time.sleep(2.0)
        spent = cpu_s() - before
        check(spent < 0.5, "the daemon used %.2f s of CPU in 2 s with its table full" % spent)
        expect_ok(d.admin().get("/api/info"))
    finally:
        for s in socks:
            s.close()
    size = os.path.getsize(d.stderr_path)
    check(size < 20000, "the log grew to %d bytes" % size)


def test_mjpeg_stream_outlives_the_request_timeout_of_lws(t):
    """lws gives a request 20 s to complete; a stream is a request that never does."""
    d = t.daemon()
    s = d.admin()
    stream = d.tls_connect()
    try:
        stream.sendall(request_bytes(d, "GET", "/api/streamer/stream", None, cookie=s.cookie,
                                     origin=False))
        data, closed = read_for(stream, 23.0)
        check(not closed, "the stream ended after %d bytes" % len(data))
        late, closed = read_for(stream, 2.0)
        check(not closed and late.count(b"--ipkvmframe") >= 1,
              "pictures still come after 23 s (%d bytes)" % len(late))
    finally:
        stream.close()


def test_pipelined_requests_of_a_stranger_neither_spin_nor_stall(t):
    """lws 4.1 spins for good on a request with a body pipelined behind an answered one
    (found by the http_request fuzzer): a client without a session gets one request per
    connection, and the daemon stays idle and answers others."""
    d = t.daemon()

    def cpu_s():
        return daemon_cpu_s(d)
    body = b'POST /api/auth/login HTTP/1.1\r\nContent-Type: application/json\r\n' \
           b'Content-Length: 2\r\n\r\n{}'
    for data in [b"GET /api/info HTTP/1.1\r\n\r\nGET /api/info HTTP/1.1\r\n"
                 b"Content-Length: 2\r\n\r\n",
                 b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}" * 2,
                 body * 2, b"GET /login HTTP/1.1\r\n\r\n" + body]:
        before = cpu_s()
        out, closed = raw_exchange(d, data, timeout=2.0)
        eq(len(statuses(out)), 1, "one answer to %r: %r" % (data[:40], out[:200]))
        check(closed, "the connection ends after a stranger's answer")
        check(b"\r\nconnection: close\r\n" in out.lower() or out.startswith(b"HTTP/1.1 200"),
              "the answer says connection: close: %r" % out[:400])
        time.sleep(0.5)
        spent = cpu_s() - before
        check(spent < 0.5, "the daemon used %.2f s of CPU after %r" % (spent, data[:40]))
        eq(d.request("GET", "/login", timeout=3).status, 200, "others are still served")


def test_head_of_a_static_file(t):
    """HEAD of a page: lws ends the transaction itself and frees the request's data, which
    the daemon read afterwards (use after free, found by the http_request fuzzer)."""
    d = t.daemon()
    s = d.admin()
    for cookie in [None, s.cookie]:
        out, _ = raw_exchange(d, request_bytes(d, "HEAD", "/login", None, cookie=cookie,
                                               origin=False), timeout=1.5)
        eq(statuses(out), [200], "HEAD /login (%r)" % out[:200])
    eq(d.request("GET", "/login").status, 200, "still serving")


def test_logged_in_pipelining_and_trailing_bytes_do_not_spin(t):
    """With a session, a request pipelined behind another, or bytes after a body, made lws
    4.1 repeat BODY_COMPLETION on every pass for as long as the connection lived (a core
    at 100 %): such a connection is answered and then ends."""
    d = t.daemon()
    s = d.admin()

    def cpu_s():
        return daemon_cpu_s(d)
    tap = json.dumps({"code": "KeyA", "state": "tap"}).encode()
    cases = [
        request_bytes(d, "GET", "/api/info", None, cookie=s.cookie, origin=False)
        + request_bytes(d, "GET", "/api/info", None, headers=["Content-Length: 2"],
                        cookie=s.cookie, origin=False),
        request_bytes(d, "POST", "/api/hid/release_all", b"{}\r\n",
                      headers=["Content-Type: application/json", "Content-Length: 2"],
                      cookie=s.cookie),
        request_bytes(d, "POST", "/api/hid/key", tap,
                      headers=["Content-Type: application/json"], cookie=s.cookie) * 2,
    ]
    for data in cases:
        sock = d.tls_connect()
        try:
            before = cpu_s()
            sock.sendall(data)
            out, _ = read_for(sock, 1.5)
            spent = cpu_s() - before
            check(statuses(out)[:1] == [200], "answered: %r" % out[:200])
            check(spent < 0.5, "the daemon used %.2f s of CPU in 1.5 s after %r"
                  % (spent, data[:60]))
        finally:
            sock.close()
    expect_ok(s.get("/api/info"))
