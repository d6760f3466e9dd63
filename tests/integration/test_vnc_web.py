"""test_vnc_web: VNC on the HTTPS port: /api/vnc/ws (RFB over a WebSocket, carried to the VNC
engine) and noVNC's files at /novnc/.

The RFB client here is a small one over the harness's WebSocket: the version and security
handshake (None is the one type offered on this path: the socket is authenticated already),
ServerInit, and a Raw update of the whole screen in 32-bit true colour compared pixel by pixel
with the raw snapshot, so megabytes cross the pipe in many WebSocket messages. Around it:
who may connect (a stranger is 401, a foreign Origin 403, a viewer's session is view-only),
the "binary" subprotocol, the end of a session closing the socket, a client that stops
reading being dropped, and 404 while VNC is off. /novnc/: login first (and back to the page
with its query), the types noVNC's ES modules need, and nothing outside the directory: no
dot files, no "..", no symbolic link (Debian's own vnc_auto.html is one).
"""
import os
import re
import shutil
import struct
import tempfile
import time

from harness import (OP_BINARY, WebSocket, WSClosed, check, eq, expect_error, expect_ok,
                     free_port, ws_refusal, ws_upgrade_raw)
from test_target import NO_AUTOBOOT, power_on, raw_frame, tap, target, wait_for, wait_frame


def vnc_config():
    """VNC on, its own port on 127.0.0.1 (tests run side by side)."""
    return "[vnc]\nenabled = 1\nlisten = 127.0.0.1\nport = %d\n" % free_port()

NOVNC = "/usr/share/novnc"


# --- an RFB client over the WebSocket ------------------------------------------------------

class Rfb:
    """The client side of RFB 3.8 over a WebSocket: a byte stream whatever the messages."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = b""
        self.messages = 0
        self.size = None

    def read(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            check(left > 0, "RFB: %d of %d bytes within %.0f s" % (len(self.buf), n, timeout))
            op, data = self.ws.recv_message(timeout=left)
            eq(op, OP_BINARY, "RFB travels in binary messages")
            check(0 < len(data) < 65536, "a message of %d bytes" % len(data))
            self.buf += data
            self.messages += 1
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data):
        self.ws.send_frame(OP_BINARY, data)

    def handshake(self):
        """Version, security (None), ClientInit; returns (width, height, name)."""
        eq(self.read(12), b"RFB 003.008\n", "the server's version")
        self.send(b"RFB 003.008\n")
        n = self.read(1)[0]
        types = list(self.read(n))
        eq(types, [1], "security types on the authenticated socket (None only)")
        self.send(b"\x01")
        eq(struct.unpack(">I", self.read(4))[0], 0, "SecurityResult")
        self.send(b"\x01")  # ClientInit: shared
        w, h = struct.unpack(">HH", self.read(4))
        check(w > 0 and h > 0, "ServerInit's size %dx%d" % (w, h))
        self.size = (w, h)
        self.read(16)  # the server's pixel format
        name = self.read(struct.unpack(">I", self.read(4))[0]).decode()
        return w, h, name

    def true_colour_raw(self):
        """32 bits a pixel, blue in the lowest byte (little-endian); Raw, and DesktopSize so
        the server may tell a new size (the picture's size may change at any time)."""
        pf = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
        self.send(b"\x00\x00\x00\x00" + pf)
        self.send(struct.pack(">BxHii", 2, 2, 0, -223))

    def request(self, x, y, w, h, incremental=False):
        self.send(struct.pack(">BBHHHH", 3, 1 if incremental else 0, x, y, w, h))

    def update(self, timeout=10.0):
        """The next FramebufferUpdate: a list of (x, y, w, h, encoding, bytes) of its Raw
        rectangles; a DesktopSize rectangle sets self.size."""
        deadline = time.monotonic() + timeout
        while True:
            kind = self.read(1, max(0.1, deadline - time.monotonic()))[0]
            if kind == 0:
                break
            if kind == 2:  # Bell
                continue
            if kind == 3:  # ServerCutText
                self.read(3)
                self.read(struct.unpack(">I", self.read(4))[0])
                continue
            raise AssertionError("unexpected server message type %d" % kind)
        self.read(1)
        rects = []
        for _ in range(struct.unpack(">H", self.read(2))[0]):
            x, y, w, h, enc = struct.unpack(">HHHHi", self.read(12))
            if enc == -223:
                self.size = (w, h)
                continue
            eq(enc, 0, "Raw rectangles only (asked for Raw and DesktopSize)")
            rects.append((x, y, w, h, enc, self.read(w * h * 4, timeout=30.0)))
        return rects

    def screen(self, size, timeout=15.0):
        """The whole screen in Raw rectangles once the server's size is size (it may tell a
        new one first): asks for it until an update covers it."""
        deadline = time.monotonic() + timeout
        while True:
            check(time.monotonic() < deadline, "no update of the whole %dx%d screen (size %r)"
                  % (size[0], size[1], self.size))
            self.request(0, 0, self.size[0], self.size[1])
            rects = self.update(timeout=max(0.1, deadline - time.monotonic()))
            if self.size == size and sum(r[2] * r[3] for r in rects) == size[0] * size[1]:
                return rects

    def key(self, keysym, down):
        self.send(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))


def vnc_ws(s, **kw):
    return s.ws(path="/api/vnc/ws", **kw)


def vnc_session(t, extra=""):
    """A daemon with VNC on, the target in its firmware (1024x768), an admin session."""
    d = t.daemon(NO_AUTOBOOT + vnc_config() + extra)
    s = d.admin()
    power_on(s)
    wait_frame(s, "the firmware", lambda w, h, rows: (w, h) == (1024, 768))
    return d, s


def same_pixels(rects, frame, what):
    """Every 7th pixel of the Raw rectangles against the raw snapshot (RGB rows)."""
    fw, fh, rows = frame
    bad = 0
    checked = 0
    for x0, y0, w, h, _, data in rects:
        for y in range(0, h, 7):
            row = rows[y0 + y]
            for x in range(0, w, 7):
                o = (y * w + x) * 4
                b, g, r = data[o], data[o + 1], data[o + 2]
                px = (x0 + x) * 3
                R, G, B = row[px], row[px + 1], row[px + 2]
                checked += 1
                if max(abs(r - R), abs(g - G), abs(b - B)) > 2:
                    bad += 1
    check(checked > 1000, "%s: only %d pixels compared" % (what, checked))
    check(bad == 0, "%s: %d of %d pixels differ from the raw snapshot" % (what, bad, checked))


# --- VNC off: the default -----------------------------------------------------------------

def test_vnc_paths_are_404_while_vnc_is_off(t):
    d = t.daemon(NO_AUTOBOOT)
    s = d.admin()
    status, _, hdrs, body = ws_refusal(d, "/api/vnc/ws", headers={
        "Cookie": "ipkvm_session=" + s.cookie, "Origin": d.origin()})
    eq(status, 404, "upgrade of /api/vnc/ws with VNC off")
    check(b'"not_found"' in body and b"VNC is off" in body, "the error envelope: %r" % body)
    expect_error(s.get("/api/vnc/ws"), 404, "not_found", "VNC is off")
    expect_error(s.get("/novnc/vnc.html"), 404, "not_found", "VNC is off")
    expect_error(s.get("/novnc/"), 404, "not_found", "VNC is off")
    # A stranger learns nothing about which paths exist: 401 first, whatever the state.
    status, _, _, _ = ws_refusal(d, "/api/vnc/ws", headers={"Origin": d.origin()})
    eq(status, 401, "a stranger's upgrade")
    r = d.request("GET", "/novnc/vnc.html")
    eq(r.status, 401, "a stranger's noVNC page")


# --- /api/vnc/ws ------------------------------------------------------------------------------

def test_rfb_over_websocket_shows_the_screen(t):
    d, s = vnc_session(t)
    with vnc_ws(s) as ws:
        rfb = Rfb(ws)
        _, _, name = rfb.handshake()
        check(name, "a desktop name")
        rfb.true_colour_raw()
        rects = rfb.screen((1024, 768))
        # 3 MiB in messages of less than 64 KiB each.
        check(rfb.messages > 48, "%d messages for the whole screen" % rfb.messages)
        same_pixels(rects, raw_frame(s), "the firmware over VNC")


def test_who_may_connect(t):
    d, s = vnc_session(t)
    # A stranger, a foreign Origin, a subprotocol it does not speak.
    status, _, _, _ = ws_refusal(d, "/api/vnc/ws", headers={"Origin": d.origin()})
    eq(status, 401, "a stranger")
    cookie = "ipkvm_session=" + s.cookie
    status, _, _, body = ws_refusal(d, "/api/vnc/ws", headers={
        "Cookie": cookie, "Origin": "https://evil.example"})
    eq(status, 403, "a foreign Origin")
    check(b"bad_origin" in body, "bad_origin: %r" % body)
    status, _, _, body = ws_refusal(d, "/api/vnc/ws", headers={
        "Cookie": cookie, "Origin": d.origin(), "Sec-WebSocket-Protocol": "chat"})
    eq(status, 400, "an unknown subprotocol")
    # /api/ws speaks none: naming noVNC's is refused there.
    status, _, _, _ = ws_refusal(d, "/api/ws", headers={
        "Cookie": cookie, "Origin": d.origin(), "Sec-WebSocket-Protocol": "binary"})
    eq(status, 400, "a subprotocol on the event socket")
    # The "binary" subprotocol (older noVNC names it) is accepted and echoed.
    sock, status, _, hdrs, rest, _ = ws_upgrade_raw(d, "/api/vnc/ws", headers={
        "Cookie": cookie, "Origin": d.origin(), "Sec-WebSocket-Protocol": "base64, binary"})
    try:
        eq(status, 101, "upgrade with the binary subprotocol")
        eq(hdrs.get("sec-websocket-protocol"), "binary", "the subprotocol chosen")
        rfb = Rfb(WebSocket(sock, rest))
        rfb.handshake()
        rfb.true_colour_raw()
        check(rfb.screen((1024, 768)), "the screen over the binary subprotocol")
    finally:
        sock.close()
    # A plain GET of the path says it is a WebSocket.
    expect_error(s.get("/api/vnc/ws"), 426, "upgrade_required")


def test_viewer_session_is_view_only(t):
    d, s = vnc_session(t)
    d.add_user("vera", "viewer-pass-1", role="viewer")
    v = d.session()
    v.login("vera", "viewer-pass-1")
    with s.ws() as ev:
        tap(ev, "Escape")  # the firmware boots the internal disk: the console
        st = wait_for(s, "the console", lambda st: st["phase"] == "console")
        row = st["cursor"]["row"]
        prompt = st["rows"][row]
        with vnc_ws(v) as ws:
            rfb = Rfb(ws)
            rfb.handshake()
            rfb.true_colour_raw()
            for keysym in (0x78, 0xFF0D):  # "x", Return
                rfb.key(keysym, True)
                rfb.key(keysym, False)
            # An answer after the keys: the session handled them before it.
            deadline = time.monotonic() + 10
            while True:
                check(time.monotonic() < deadline, "no update for the viewer")
                rfb.request(0, 0, 16, 16)
                if rfb.update():  # pictures (a size change alone has none)
                    break
        # An operator's key does reach it (so the target was listening), after the viewer's.
        tap(ev, "KeyY")
        st = wait_for(s, "the operator's key", lambda st: st["rows"][st["cursor"]["row"]]
                      .endswith("y"))
        eq(prompt.rstrip(), "user@target:~$", "an empty prompt before")
        eq(st["rows"][st["cursor"]["row"]], "user@target:~$ y", "only the operator's key typed")
        eq(st["cursor"]["row"], row, "no Return from the viewer")
        check(not any("$ x" in r for r in st["rows"]), "the viewer's x typed: %r" % st["rows"])


def test_logout_closes_the_socket(t):
    d, s = vnc_session(t)
    with vnc_ws(s) as ws:
        rfb = Rfb(ws)
        rfb.handshake()
        expect_ok(s.post("/api/auth/logout"))
        deadline = time.monotonic() + 5
        try:
            while time.monotonic() < deadline:
                ws.recv_message(timeout=deadline - time.monotonic())
        except WSClosed:
            pass
        eq(ws.close_code, 4001, "close code after logout")


def test_text_message_ends_the_session(t):
    d, s = vnc_session(t)
    with vnc_ws(s) as ws:
        Rfb(ws).handshake()
        ws.send_text("RFB in a text message")
        try:
            while True:
                ws.recv_message(timeout=5)
        except WSClosed:
            pass
        eq(ws.close_code, 1003, "close code for a text message")
    check(d.alive(), "the daemon lives on")


def test_client_that_stops_reading_is_dropped(t):
    d, s = vnc_session(t)
    with vnc_ws(s) as ws:
        rfb = Rfb(ws)
        w, h, _ = rfb.handshake()
        rfb.true_colour_raw()
        # Full-screen Raw updates (3 MiB each), asked for and never read.
        for _ in range(16):
            rfb.request(0, 0, w, h)
        deadline = time.monotonic() + 40
        while "none of its output taken" not in d.stderr():
            check(time.monotonic() < deadline, "the stalled client was not dropped in 40 s")
            time.sleep(0.2)
        # What the kernel still holds arrives, then the end: no close frame is possible in
        # the middle of a message.
        got = 0
        try:
            while True:
                op, data = ws.recv_message(timeout=10)
                got += len(data)
        except (WSClosed, AssertionError):
            pass
        check(ws.closed, "the connection ended (%d bytes read before)" % got)
    # Others are served meanwhile and after.
    expect_ok(s.get("/api/info"))


test_client_that_stops_reading_is_dropped.timeout = 90


# --- /novnc/ ----------------------------------------------------------------------------------

def test_novnc_files_need_a_login_and_come_back_with_the_query(t):
    d, s = vnc_session(t)
    r = d.request("GET", "/novnc/vnc.html?path=api/vnc/ws&autoconnect=1")
    eq(r.status, 401, "a stranger")
    body = r.body.decode()
    m = re.search(r'url=/login\?next=([^"]*)"', body)
    check(m, "the login redirect: %r" % body)
    eq(m.group(1), "/novnc/vnc.html%3Fpath%3Dapi/vnc/ws%26autoconnect%3D1", "next")
    check(d.request("GET", "/novnc/app/ui.js").status == 401, "a stranger's script")


def test_novnc_from_debian(t):
    if not os.path.isfile(os.path.join(NOVNC, "vnc.html")):
        raise AssertionError("Debian's novnc is not installed (scripts/deps.sh --test)")
    d, s = vnc_session(t)
    cases = [("/novnc/vnc.html", "text/html"),
             ("/novnc/app/ui.js", "text/javascript"),
             ("/novnc/core/rfb.js", "text/javascript"),
             ("/novnc/app/styles/base.css", "text/css"),
             ("/novnc/app/images/connect.svg", "image/svg+xml"),
             ("/novnc/app/images/icons/novnc-16x16.png", "image/png"),
             ("/novnc/app/locale/de.json", "application/json")]
    for path, ctype in cases:
        r = s.get(path)
        eq(r.status, 200, path)
        check((r.header("Content-Type") or "").startswith(ctype),
              "%s: type %r, want %s" % (path, r.header("Content-Type"), ctype))
        with open(os.path.join(NOVNC, path[len("/novnc/"):]), "rb") as f:
            eq(r.body, f.read(), "%s: the file's bytes" % path)
        eq(r.header("X-Content-Type-Options"), "nosniff", path)
        check("default-src 'self'" in (r.header("Content-Security-Policy") or ""), path)
    # noVNC 1.3's page takes `path` (its ui.js builds the socket's URL from the page's own
    # host and port plus this path).
    with open(os.path.join(NOVNC, "app", "ui.js")) as f:
        check("UI.getSetting('path')" in f.read(), "noVNC's ui.js reads the path setting")
    r = s.get("/novnc/")
    eq(r.status, 302, "/novnc/ leads to the page")
    eq(r.header("Location"), "/novnc/vnc.html?path=api/vnc/ws&autoconnect=1", "Location")
    eq(s.get("/novnc").status, 302, "/novnc too")
    r = s.request("HEAD", "/novnc/core/rfb.js")
    eq(r.status, 200, "HEAD")
    eq(int(r.header("Content-Length")), os.path.getsize(os.path.join(NOVNC, "core/rfb.js")),
       "HEAD's length")
    expect_error(s.post("/novnc/vnc.html", {}), 405, "method_not_allowed")
    # Debian ships vnc_auto.html as a link to vnc.html: no link is followed.
    check(os.path.islink(os.path.join(NOVNC, "vnc_auto.html")), "Debian's link is there")
    expect_error(s.get("/novnc/vnc_auto.html"), 404, "not_found")
    expect_error(s.get("/novnc/no/such.js"), 404, "not_found")


def test_novnc_stays_in_its_directory(t):
    tmp = tempfile.mkdtemp(prefix="ipkvm-novnc-")
    try:
        root = os.path.join(tmp, "novnc")
        os.makedirs(os.path.join(root, "app"))
        with open(os.path.join(root, "vnc.html"), "wb") as f:
            f.write(b"<!doctype html><title>page</title>\n")
        with open(os.path.join(root, "app", "x.js"), "wb") as f:
            f.write(b"export const x = 1;\n")
        with open(os.path.join(root, ".secret.js"), "wb") as f:
            f.write(b"dot file\n")
        with open(os.path.join(tmp, "outside.txt"), "wb") as f:
            f.write(b"a file outside the directory\n")
        os.symlink(os.path.join(tmp, "outside.txt"), os.path.join(root, "out.html"))
        os.symlink("app", os.path.join(root, "lnk"))
        os.symlink(tmp, os.path.join(root, "up"))
        os.mkfifo(os.path.join(root, "fifo.js"))
        d, s = vnc_session(t, "novnc_dir = %s\n" % root)
        r = s.get("/novnc/vnc.html")
        eq((r.status, r.body), (200, b"<!doctype html><title>page</title>\n"), "vnc.html")
        r = s.get("/novnc/app/x.js")
        eq(r.status, 200, "app/x.js")
        check(r.header("Content-Type").startswith("text/javascript"), "ES module type")
        for bad in ["/novnc/out.html", "/novnc/lnk/x.js", "/novnc/up/outside.txt",
                    "/novnc/.secret.js", "/novnc/app/.x.js", "/novnc/fifo.js", "/novnc/app",
                    "/novnc/app/"]:
            r = s.get(bad)
            eq(r.status, 404, bad)
            check(b"a file outside" not in r.body and b"dot file" not in r.body, bad)
        # ".." however spelled never leaves the directory.
        for bad in ["/novnc/app/%2e%2e/%2e%2e/outside.txt", "/novnc/../outside.txt",
                    "/novnc/app/..%2f..%2foutside.txt"]:
            r = s.get(bad)
            check(r.status != 200 or b"a file outside" not in r.body,
                  "%s escaped the directory: %d %r" % (bad, r.status, r.body[:80]))
        check(d.alive(), "the daemon lives on")
    finally:
        shutil.rmtree(tmp)


def test_novnc_dir_empty_or_missing(t):
    d, s = vnc_session(t, "novnc_dir =\n")
    expect_error(s.get("/novnc/vnc.html"), 404, "not_found", "novnc_dir is empty")
    d, s = vnc_session(t, "novnc_dir = /nonexistent/novnc\n")
    expect_error(s.get("/novnc/vnc.html"), 404, "not_found", "/nonexistent/novnc")
    # The socket itself does not depend on noVNC being there.
    with vnc_ws(s) as ws:
        Rfb(ws).handshake()
