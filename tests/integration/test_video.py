"""Video over HTTPS: the pattern source through the real pipeline (capture thread, JPEG
encoders, stream hub) to snapshot and MJPEG clients; live settings; slow clients; the
loopback-only plain-HTTP port; authentication on every video endpoint."""

import http.client
import os
import json
import socket
import ssl
import struct
import threading
import time

from harness import HOST, check, eq, expect_error, expect_ok, free_port

VIDEO = """
[video]
source = pattern
scene = testcard
fps = 30
"""


def jpeg_size(data):
    """(width, height) from a JPEG's SOF segment; asserts the JPEG is complete."""
    check(data[:2] == b"\xff\xd8", "not a JPEG (no SOI): %r" % data[:8])
    check(data[-2:] == b"\xff\xd9", "JPEG does not end with EOI")
    i = 2
    while i + 4 <= len(data):
        check(data[i] == 0xFF, "bad JPEG marker at %d" % i)
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        if marker == 0xDA:
            break
        i += 2 + length
    raise AssertionError("no SOF segment in the JPEG")


class Stream:
    """Reads an MJPEG stream part by part."""

    def __init__(self, d, headers, conn=None):
        self.conn = conn or http.client.HTTPSConnection(HOST, d.port, context=d.ssl_context(),
                                                        timeout=10)
        self.conn.request("GET", "/api/streamer/stream", headers=headers)
        self.resp = self.conn.getresponse()
        eq(self.resp.status, 200, "stream status")
        ctype = self.resp.getheader("Content-Type", "")
        check(ctype.startswith("multipart/x-mixed-replace") and "boundary=ipkvmframe" in ctype,
              "stream content type %r" % ctype)

    def part(self):
        fp = self.resp.fp
        line = fp.readline()
        while line in (b"\r\n", b"\n"):
            line = fp.readline()
        eq(line.strip(), b"--ipkvmframe", "boundary line")
        headers = {}
        while True:
            line = fp.readline()
            check(line, "stream ended inside a part header")
            if line in (b"\r\n", b"\n"):
                break
            k, v = line.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers["content-length"])
        data = fp.read(n)
        eq(len(data), n, "bytes of a part")
        return headers, data

    def close(self):
        self.conn.close()


def _auth_headers(s):
    return {"Cookie": "ipkvm_session=" + s.cookie}


def test_snapshot_is_a_1080p_jpeg(t):
    d = t.daemon(VIDEO)
    s = d.admin()
    r = s.get("/api/streamer/snapshot")
    eq(r.status, 200, "snapshot status")
    eq(r.headers.get("Content-Type"), "image/jpeg", "snapshot content type")
    eq(jpeg_size(r.body), (1920, 1080), "snapshot size")
    st = expect_ok(s.get("/api/streamer"))
    eq(st["source"], "pattern", "source")
    eq(st["signal"]["state"], "ok", "signal state")
    eq(st["signal"]["capture"], "pattern", "signal capture kind")
    eq((st["signal"]["width"], st["signal"]["height"]), (1920, 1080), "signal geometry")
    eq(st["format"], "yuyv", "captured format")


def _raw_snapshot_pixels(s):
    """GET /api/streamer/snapshot?raw=1: checks it is a 1920x1080 PNG and returns its
    inflated rows (a filter byte, then RGB, per row)."""
    r = s.get("/api/streamer/snapshot?raw=1")
    eq(r.status, 200, "raw snapshot status: %r" % r.body[:200])
    eq(r.headers.get("Content-Type"), "image/png", "raw snapshot content type")
    check(r.body[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature")
    w, h = struct.unpack(">II", r.body[16:24])
    eq((w, h), (1920, 1080), "PNG size")
    # The pixels: concatenate the IDAT chunks and inflate them (Python's zlib reads the
    # daemon's stored blocks).
    import zlib
    idat, i = b"", 8
    while i < len(r.body):
        n, kind = struct.unpack(">I4s", r.body[i:i + 8])
        if kind == b"IDAT":
            idat += r.body[i + 8:i + 8 + n]
        i += 12 + n
    pixels = zlib.decompress(idat)
    eq(len(pixels), h * (1 + w * 3), "inflated PNG size")
    return pixels


def _blue_bar(pixels):
    """The test card's last colour bar (blue) at (1880, 300)."""
    row = 300 * (1 + 1920 * 3) + 1
    red, green, blue = pixels[row + 1880 * 3:row + 1880 * 3 + 3]
    check(blue > 150 and red < 40 and green < 40,
          "pixel (1880, 300) of the test card is %r, not the blue bar" % ((red, green, blue),))


def test_raw_snapshot_is_a_png(t):
    d = t.daemon(VIDEO)
    s = d.admin()
    _blue_bar(_raw_snapshot_pixels(s))


def test_raw_snapshot_of_a_lent_still_picture(t):
    # The static scene lends its picture to the capture thread, which keeps a copy only
    # when it changes: the raw snapshot is that kept copy, the same picture every time.
    d = t.daemon(VIDEO.replace("scene = testcard", "scene = static"))
    s = d.admin()
    first = _raw_snapshot_pixels(s)
    _blue_bar(first)
    time.sleep(0.5)  # frames go on arriving, equal: nothing new is kept
    check(_raw_snapshot_pixels(s) == first, "the still picture's raw snapshot changed")


def test_mjpeg_parts_are_jpegs_in_order(t):
    d = t.daemon(VIDEO)
    s = d.admin()
    st = Stream(d, _auth_headers(s))
    seqs = []
    try:
        end = time.monotonic() + 2.5   # more than one rate window of the status
        while time.monotonic() < end or len(seqs) < 12:
            headers, data = st.part()
            eq(jpeg_size(data), (1920, 1080), "part size")
            seqs.append(int(headers["x-sequence"]))
            check(float(headers["x-timestamp"]) > 1e9, "X-Timestamp %r" % headers["x-timestamp"])
        info = expect_ok(s.get("/api/streamer"))
    finally:
        st.close()
    check(all(b > a for a, b in zip(seqs, seqs[1:])), "sequence not increasing: %r" % seqs)
    check(info["encoded_fps"] > 10, "encoded fps %r while streaming" % info["encoded_fps"])
    eq(info["clients"], 1, "clients while streaming")
    # no client wants another quality: one JPEG a frame, nothing else encoded. Every image
    # published was encoded; an encode whose frame a newer image overtook (two workers
    # finishing out of order on a busy machine) is encoded but never published, so the
    # encodes lie between the images published and the frames captured, over one window.
    eq(info["extra_qualities"], [], "extra qualities with only an MJPEG client")
    check(info["encoded_fps"] - 1 <= info["encodes_per_s"] <= info["capture_fps"] + 1,
          "encodes/s %r against encoded fps %r and capture fps %r"
          % (info["encodes_per_s"], info["encoded_fps"], info["capture_fps"]))
    check(info["encodes"] >= len(seqs), "encodes %r after %d parts" % (info["encodes"], len(seqs)))


def _rate(d, headers, seconds):
    st = Stream(d, headers)
    n = 0
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            st.part()
            n += 1
    finally:
        st.close()
    return n / seconds


def test_stalled_client_does_not_slow_others(t):
    d = t.daemon(VIDEO)
    s = d.admin()
    hdr = _auth_headers(s)
    alone = _rate(d, hdr, 2.0)
    # A client that never reads: its socket buffers fill, and it must cost the others
    # nothing.
    stalled = socket.create_connection((HOST, d.port))
    ctx = d.ssl_context()
    stalled = ctx.wrap_socket(stalled, server_hostname=HOST)
    stalled.sendall(("GET /api/streamer/stream HTTP/1.1\r\nHost: %s:%d\r\nCookie: "
                     "ipkvm_session=%s\r\n\r\n" % (HOST, d.port, s.cookie)).encode())
    time.sleep(1.5)  # let it fall behind
    try:
        with_stalled = _rate(d, hdr, 2.0)
    finally:
        stalled.close()
    check(alone > 10, "a lone client got only %.1f fps" % alone)
    check(with_stalled >= 0.8 * alone,
          "a stalled client lowered another's rate from %.1f to %.1f fps" % (alone, with_stalled))


def test_live_quality_change(t):
    d = t.daemon(VIDEO)
    s = d.admin()
    st = Stream(d, _auth_headers(s))
    try:
        before = [len(st.part()[1]) for _ in range(8)][2:]
        r = s.post("/api/streamer/params", {"quality": 5})
        eq(expect_ok(r)["quality"], 5, "quality after the change")
        # Parts already encoded may still come; after a few, all are at the new quality.
        for _ in range(6):
            st.part()
        after = [len(st.part()[1]) for _ in range(6)]
    finally:
        st.close()
    check(max(after) < min(before) * 0.8,
          "quality 5 parts (%r) are not clearly smaller than quality 80 ones (%r)"
          % (after, before))
    expect_error(s.post("/api/streamer/params", {"quality": 0}), 400, "bad_request", "quality")
    expect_error(s.post("/api/streamer/params", {"max_fps": 1000}), 400, "bad_request",
                 "max_fps")
    expect_error(s.post("/api/streamer/params", {"speed": 1}), 400, "bad_request", "speed")


def test_video_endpoints_need_auth_and_roles(t):
    d = t.daemon(VIDEO)
    anon = d.session()
    for path in ("/api/streamer", "/api/streamer/stream", "/api/streamer/snapshot",
                 "/api/streamer/snapshot?raw=1"):
        expect_error(anon.get(path), 401, "unauthorized")
    expect_error(anon.post("/api/streamer/params", {"quality": 50}), 401, "unauthorized")
    d.add_user("watcher", "watcher-password", role="viewer")
    v = d.session()
    v.login("watcher", "watcher-password")
    eq(v.get("/api/streamer/snapshot").status, 200, "viewer snapshot status")
    expect_error(v.post("/api/streamer/params", {"quality": 50}), 403, "forbidden")


def test_no_source_answers_503(t):
    d = t.daemon("[video]\nsource = none\n")
    s = d.admin()
    expect_error(s.get("/api/streamer/snapshot"), 503, "no_video")
    expect_error(s.get("/api/streamer/stream"), 503, "no_video")
    st = expect_ok(s.get("/api/streamer"))
    eq(st["source"], "none", "source without video")
    eq(st["signal"], {"state": "no_device", "reason": "no video source is configured",
                      "capture": None}, "signal without video")


def test_plain_http_port_is_loopback_and_authenticated(t):
    port = free_port()
    d = t.daemon(VIDEO + "\n[server]\nplain_port = %d\n" % port)
    token = d.cli_ok("token", "admin", "--label", "bench").splitlines()[0].strip()
    c = http.client.HTTPConnection(HOST, port, timeout=10)
    c.request("GET", "/api/streamer/snapshot")
    r = c.getresponse()
    r.read()
    eq(r.status, 401, "plain port without auth")
    c.request("GET", "/api/streamer/snapshot", headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read()
    eq(r.status, 200, "plain port snapshot with a token")
    eq(jpeg_size(body), (1920, 1080), "plain port snapshot size")
    c.close()
    st = Stream(d, {"Authorization": "Bearer " + token},
                conn=http.client.HTTPConnection(HOST, port, timeout=10))
    try:
        eq(jpeg_size(st.part()[1]), (1920, 1080), "plain port stream part")
    finally:
        st.close()
    # Anything but loopback is refused at start.
    bad = t.daemon(VIDEO + "\n[server]\nplain_port = %d\nplain_listen = 0.0.0.0\n"
                   % free_port(), start=False)
    rc, out, err = t.run("--config", bad.config_path, "--state-dir", bad.state_dir,
                         "--listen", HOST, "--port", str(bad.port), timeout=10)
    check(rc != 0, "a non-loopback plain_listen was accepted")
    check("loopback" in err, "the refusal does not say why: %s" % err[-400:])


def test_streamer_event_on_the_socket(t):
    d = t.daemon(VIDEO)
    s = d.admin()
    with s.ws() as ws:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            msg = ws.recv_json(timeout=3)
            if msg.get("event") == "streamer":
                eq(msg["data"]["source"], "pattern", "streamer event source")
                eq(msg["data"]["signal"]["state"], "ok", "streamer event signal")
                eq(msg["data"]["signal"]["capture"], "pattern", "streamer event capture kind")
                break
        else:
            raise AssertionError("no streamer event within 5 s")


def test_missing_device_gives_placeholder_and_state(t):
    # A V4L2 source whose device does not exist: the daemon keeps running, says why in the
    # API, and streams a placeholder picture instead of video.
    d = t.daemon("[video]\nsource = v4l2\ndevice = /dev/ipkvm-no-such-video\n")
    s = d.admin()
    deadline = time.monotonic() + 5
    st = expect_ok(s.get("/api/streamer"))
    while st["signal"]["state"] != "no_device" and time.monotonic() < deadline:
        time.sleep(0.1)
        st = expect_ok(s.get("/api/streamer"))
    eq(st["signal"]["state"], "no_device", "signal state without a device")
    # never opened: which kind of device it is, is not known
    check("capture" in st["signal"] and st["signal"]["capture"] is None,
          "capture kind of a device never opened: %r" % st["signal"])
    check("/dev/ipkvm-no-such-video" in st["signal"]["reason"],
          "the reason does not name the device: %r" % st["signal"]["reason"])
    r = s.get("/api/streamer/snapshot")
    eq(r.status, 200, "snapshot status without a device")
    eq(jpeg_size(r.body), (1280, 720), "placeholder size")
    stream = Stream(d, _auth_headers(s))
    try:
        headers, data = stream.part()
        eq(jpeg_size(data), (1280, 720), "placeholder part size")
    finally:
        stream.close()
    check(d.alive(), "the daemon died without its capture device")


# --- access ends, the stream ends ------------------------------------------------------------
# A small, slow picture keeps these cheap; the stream still sends a part at least once a
# second (a still picture is sent again), so "no more bytes" is a real end, not a pause.
SMALL_VIDEO = """
[video]
source = pattern
scene = testcard
width = 640
height = 360
fps = 10
"""

STREAM_END = b"\r\n--ipkvmframe--\r\n"


def _open_raw_stream(d, headers):
    """GET /api/streamer/stream on a raw TLS socket; returns (sock, bytes after the response
    headers) once the first part has begun."""
    sock = d.tls_connect(timeout=5)
    lines = "".join("%s: %s\r\n" % kv for kv in headers.items())
    sock.sendall(("GET /api/streamer/stream HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n"
                  % (HOST, d.port, lines)).encode())
    buf = b""
    deadline = time.monotonic() + 5
    while b"\r\n\r\n" not in buf or b"--ipkvmframe\r\n" not in buf.split(b"\r\n\r\n", 1)[1]:
        check(time.monotonic() < deadline, "no stream part within 5 s: %r" % buf[:300])
        chunk = sock.recv(65536)
        check(chunk, "the stream closed before its first part: %r" % buf[:300])
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    check(head.startswith(b"HTTP/1.1 200"), "stream answer: %r" % head[:200])
    return sock, rest


def _read_for(sock, seconds):
    """Reads until EOF or until `seconds` pass; returns (data, eof, seconds taken)."""
    start = time.monotonic()
    data = b""
    while True:
        left = start + seconds - time.monotonic()
        if left <= 0:
            return data, False, time.monotonic() - start
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        if not chunk:
            return data, True, time.monotonic() - start
        data += chunk


def _check_stream_ends(sock, what):
    data, eof, took = _read_for(sock, 3.0)
    check(eof, "the stream went on for 3 s after %s (%d bytes since)" % (what, len(data)))
    check(data.endswith(STREAM_END),
          "the stream did not end with the closing boundary after %s: ...%r"
          % (what, data[-40:]))
    return took


def test_stream_ends_when_its_user_is_deleted(t):
    d = t.daemon(SMALL_VIDEO)
    a = d.admin()
    expect_ok(a.post("/api/users", {"name": "watcher", "password": "watcher-password",
                                    "role": "viewer"}), 201)
    v = d.session()
    v.login("watcher", "watcher-password")
    sock, _ = _open_raw_stream(d, _auth_headers(v))
    try:
        expect_ok(a.delete("/api/users/watcher"))
        _check_stream_ends(sock, "DELETE /api/users/watcher")
    finally:
        sock.close()
    eq(expect_ok(a.get("/api/streamer"))["clients"], 0, "stream clients after the end")
    # The admin's own stream is not touched by someone else's end.
    sock, _ = _open_raw_stream(d, _auth_headers(a))
    try:
        data, eof, _ = _read_for(sock, 1.5)
        check(not eof and b"--ipkvmframe\r\n" in data, "the admin's stream stopped")
    finally:
        sock.close()


def test_stream_ends_at_logout(t):
    d = t.daemon(SMALL_VIDEO)
    d.add_user("watcher", "watcher-password", role="viewer")
    v = d.session()
    v.login("watcher", "watcher-password")
    cookie = v.cookie
    sock, _ = _open_raw_stream(d, _auth_headers(v))
    try:
        # The same session logs out from another connection (another tab).
        expect_ok(v.post("/api/auth/logout"))
        _check_stream_ends(sock, "the session's logout")
    finally:
        sock.close()
    # The ended session cannot open a new one either.
    r = d.request("GET", "/api/streamer/stream", headers={"Cookie": "ipkvm_session=" + cookie})
    expect_error(r, 401, "unauthorized")


def test_token_stream_ends_when_the_token_is_revoked(t):
    d = t.daemon(SMALL_VIDEO)
    d.add_user("robot", "robot-password-1", role="operator")
    out = d.cli_ok("token", "robot", "--label", "wall").split("\n")
    token, tid = out[0], out[1][len("id: "):]
    sock, _ = _open_raw_stream(d, {"Authorization": "Bearer " + token})
    try:
        # Watching needs only the viewer role: a role change alone does not end it.
        a = d.admin()
        expect_ok(a.post("/api/users/robot", {"role": "viewer"}))
        data, eof, _ = _read_for(sock, 2.2)
        check(not eof, "a role change (operator to viewer) ended a token's stream")
        check(b"--ipkvmframe\r\n" in data, "no part after the role change")
        d.cli_ok("revoke", tid)
        _check_stream_ends(sock, "`ipkvmd user revoke`")
    finally:
        sock.close()


def test_stalled_stream_of_a_deleted_user_is_dropped(t):
    # A client that stopped reading never becomes writable again, so it cannot be told the
    # stream ended: the daemon drops the connection instead.
    d = t.daemon(VIDEO)
    a = d.admin()
    d.add_user("watcher", "watcher-password", role="viewer")
    v = d.session()
    v.login("watcher", "watcher-password")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    raw.settimeout(5)
    raw.connect((HOST, d.port))
    stalled = d.ssl_context().wrap_socket(raw, server_hostname=HOST)
    try:
        stalled.sendall(("GET /api/streamer/stream HTTP/1.1\r\nHost: %s:%d\r\nCookie: "
                         "ipkvm_session=%s\r\n\r\n" % (HOST, d.port, v.cookie)).encode())
        time.sleep(1.5)  # 1080p at 30 fps: the socket buffers fill, lws holds the rest
        eq(expect_ok(a.get("/api/streamer"))["clients"], 1, "stream clients while stalled")
        expect_ok(a.delete("/api/users/watcher"))
        deadline = time.monotonic() + 4  # the 1 s check, then 2 s of grace
        clients = 1
        while clients and time.monotonic() < deadline:
            time.sleep(0.2)
            clients = expect_ok(a.get("/api/streamer"))["clients"]
        eq(clients, 0, "stream clients 4 s after the stalled watcher was deleted")
    finally:
        stalled.close()


def _main_thread_ticks(d):
    """CPU ticks (user + system) the daemon's main thread used so far."""
    with open("/proc/%d/task/%d/stat" % (d.proc.pid, d.proc.pid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_stream_ends_when_its_client_sends_or_closes(t):
    """A client that sends anything after its stream request, or closes its side, ends the
    stream at once. lws 4.1 neither reads nor stops polling a connection whose response is
    under way: before, one stray byte (or the FIN) kept the loop's poll() returning at once,
    the main thread spinning at a full core for as long as the stream lasted."""
    d = t.daemon(SMALL_VIDEO.replace("testcard", "static"))
    a = d.admin()
    for how in ("one stray byte", "a half-close"):
        sock, _ = _open_raw_stream(d, _auth_headers(a))
        try:
            _read_for(sock, 0.3)
            before = _main_thread_ticks(d)
            if how == "one stray byte":
                sock.sendall(b"X")
            else:
                socket.socket.shutdown(sock, socket.SHUT_WR)   # a FIN, no close_notify
            data, eof, took = _read_for(sock, 3.0)
            used = _main_thread_ticks(d) - before
            check(eof, "the stream went on for 3 s after %s (%d bytes since)"
                  % (how, len(data)))
            check(used < 0.5 * took * os.sysconf("SC_CLK_TCK") + 5,
                  "the main thread used %d ticks in the %.2f s after %s" % (used, took, how))
        finally:
            sock.close()
    deadline = time.monotonic() + 3
    while expect_ok(a.get("/api/streamer"))["clients"] and time.monotonic() < deadline:
        time.sleep(0.1)
    eq(expect_ok(a.get("/api/streamer"))["clients"], 0, "stream clients after both ended")
    # the loop is quiet again: a second of nothing costs the main thread next to nothing
    before = _main_thread_ticks(d)
    time.sleep(1)
    check(_main_thread_ticks(d) - before < 30, "the main thread is busy with no client")
