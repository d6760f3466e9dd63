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
                     ws_refusal, ws_upgrade_raw)
from test_target import NO_AUTOBOOT, power_on, raw_frame, tap, target, wait_for, wait_frame

VNC = "[vnc]\nenabled = 1\n"
NOVNC = "/usr/share/novnc"


# --- an RFB client over the WebSocket ------------------------------------------------------

class Rfb:
    """The client side of RFB 3.8 over a WebSocket: a byte stream whatever the messages."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = b""
        self.messages = 0

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
        self.read(16)  # the server's pixel format
        name = self.read(struct.unpack(">I", self.read(4))[0]).decode()
        return w, h, name

    def true_colour_raw(self):
        """32 bits a pixel, blue in the lowest byte (little-endian); Raw only."""
        pf = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
        self.send(b"\x00\x00\x00\x00" + pf)
        self.send(struct.pack(">BxHi", 2, 1, 0))

    def request(self, x, y, w, h, incremental=False):
        self.send(struct.pack(">BBHHHH", 3, 1 if incremental else 0, x, y, w, h))

    def update(self, timeout=10.0):
        """The next FramebufferUpdate: a list of (x, y, w, h, encoding, bytes) (Raw only)."""
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
            eq(enc, 0, "Raw rectangles only (asked for Raw alone)")
            rects.append((x, y, w, h, enc, self.read(w * h * 4, timeout=30.0)))
        return rects

    def key(self, keysym, down):
        self.send(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))


def vnc_ws(s, **kw):
    return s.ws(path="/api/vnc/ws", **kw)


def vnc_session(t, extra=""):
    """A daemon with VNC on, the target in its firmware (1024x768), an admin session."""
    d = t.daemon(NO_AUTOBOOT + VNC + extra)
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
