"""vnc_util: what the VNC integration tests share (test_vnc.py, test_vnc_badinput.py).

- start a daemon with the VNC front end on a port of its own (vnc_daemon);
- run the libvncclient test client, tests/tools/vnc-client from the same build (vnc, and
  VncBackground for a client that stays connected while the test acts);
- speak RFB by hand over a raw socket up to an authenticated session (RawRfb): the bad-input
  tests need to send what no real client sends; VeNCrypt X509Plain with Python's ssl module,
  the server's certificate verified against the daemon's own cert.pem;
- read the binary PPMs the client saves and compare pictures with a JPEG tolerance.
Everything here is bounded in time and uses 127.0.0.1 only.
"""
import json
import os
import socket
import ssl
import struct
import subprocess
import tempfile
import time

from harness import HOST, check, eq, free_port

CLIENT_TIMEOUT = 10.0  # seconds for one wait inside vnc-client (it runs under no sanitizer)

# The target stays in its firmware until told (the tests decide when it boots).
NO_AUTOBOOT = "[target]\nautoboot = 0\n"


def vnc_daemon(t, extra="", vnc_extra="", start=True, target=NO_AUTOBOOT):
    """A daemon with [vnc] enabled on a free port of 127.0.0.1 (d.vnc_port)."""
    port = free_port()
    config = "%s%s\n[vnc]\nenabled = 1\nlisten = %s\nport = %d\n%s\n" % (
        target, extra, HOST, port, vnc_extra)
    d = t.daemon(config, start=start)
    d.vnc_port = port
    return d


def client_path(t):
    path = os.path.join(os.path.dirname(t.ipkvmd), "tests", "tools", "vnc-client")
    check(os.access(path, os.X_OK), "%s is not built (libvncclient missing?)" % path)
    return path


def client_argv(t, d, actions, security="x509plain", user="admin", encodings="tight",
                quality=8, timeout=CLIENT_TIMEOUT, extra=()):
    argv = [client_path(t), "--security", security, "--user", user, "--encodings", encodings,
            "--quality", str(quality), "--timeout", str(timeout)]
    if security == "x509plain":
        argv += ["--ca", d.cert_path]
    return argv + list(extra) + [HOST, str(d.vnc_port)] + list(actions)


def client_env(d, password):
    env = dict(os.environ)
    env["VNC_PASSWORD"] = d.admin_password if password is None else password
    return env


def parse_result(out, argv):
    lines = [line for line in out.splitlines() if line.startswith("{")]
    check(lines, "vnc-client printed no JSON (%s):\n%s" % (" ".join(argv[-4:]), out[-2000:]))
    res = json.loads(lines[-1])
    check("ok" in res, "vnc-client's last line is not its result: %r" % lines[-1])
    return res


def vnc(t, d, *actions, password=None, expect_ok=True, **kw):
    """Runs vnc-client to the end; returns its JSON result (asserting ok unless told)."""
    argv = client_argv(t, d, actions, **kw)
    bound = kw.get("timeout", CLIENT_TIMEOUT) * (len(actions) + 2) + 10
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=bound,
                           env=client_env(d, password), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError("vnc-client did not finish within %.0f s" % bound)
    res = parse_result(p.stdout, argv)
    if expect_ok:
        check(res["ok"] and p.returncode == 0, "vnc-client failed (exit %d): %s\nlog: %s"
              % (p.returncode, res.get("error"), res.get("log")))
    return res


class VncBackground:
    """vnc-client running while the test acts; its actions should include "mark"."""

    def __init__(self, t, d, *actions, password=None, **kw):
        self.argv = client_argv(t, d, actions, **kw)
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=client_env(d, password),
                                     stdin=subprocess.DEVNULL)
        self.out = ""

    def wait_mark(self, timeout=CLIENT_TIMEOUT + 5):
        """Blocks until the client printed its mark line; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            check(left > 0, "vnc-client printed no mark within %.0f s" % timeout)
            line = self._readline(left)
            if line is None:
                res = parse_result(self.out, self.argv) if "{" in self.out else None
                raise AssertionError("vnc-client ended before its mark: %r" % (res,))
            if '"event":"mark"' in line:
                return json.loads(line)

    def _readline(self, timeout):
        import select
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            raise AssertionError("vnc-client said nothing within %.1f s" % timeout)
        line = self.proc.stdout.readline()
        if not line:
            return None
        self.out += line
        return line

    def result(self, timeout=CLIENT_TIMEOUT + 10):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError("vnc-client did not finish within %.0f s" % timeout)
        self.out += out
        return parse_result(self.out, self.argv)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


# ---------------------------------------------------------------------------------------------
# pictures

def read_ppm(path):
    """(width, height, bytes RGB) of a binary PPM."""
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(maxsplit=4)
    eq(parts[0], b"P6", "PPM magic of %s" % path)
    w, h, maxval = int(parts[1]), int(parts[2]), int(parts[3])
    eq(maxval, 255, "PPM maxval")
    pix = parts[4]
    eq(len(pix), w * h * 3, "PPM pixel bytes of %s" % path)
    return w, h, pix


def jpeg_to_ppm(t, jpeg, tmpdir):
    """Decodes a JPEG with vnc-client --jpeg-to-ppm (libjpeg); returns read_ppm()."""
    src, dst = os.path.join(tmpdir, "in.jpg"), os.path.join(tmpdir, "out.ppm")
    with open(src, "wb") as f:
        f.write(jpeg)
    p = subprocess.run([client_path(t), "--jpeg-to-ppm", src, dst], capture_output=True,
                       text=True, timeout=30)
    eq(p.returncode, 0, "decoding the JPEG: %s" % p.stderr)
    return read_ppm(dst)


def compare(a, b, what, mean_max=3.0, near=40, near_share=0.99):
    """Asserts two (w, h, rgb) pictures are the same within a JPEG tolerance: mean absolute
    difference per channel at most mean_max, and near_share of the samples within near."""
    eq((a[0], a[1]), (b[0], b[1]), "%s: size" % what)
    pa, pb = a[2], b[2]
    n = len(pa)
    # Sampled every 7th byte (a prime stride: every channel and column gets its share).
    idx = range(0, n, 7)
    diffs = [abs(pa[i] - pb[i]) for i in idx]
    mean = sum(diffs) / len(diffs)
    far = sum(1 for x in diffs if x > near) / len(diffs)
    check(mean <= mean_max and far <= 1 - near_share,
          "%s: mean difference %.2f (max %.2f), %.3f%% of samples off by more than %d"
          % (what, mean, mean_max, 100 * far, near))
    return mean


def snapshot_jpeg(s):
    r = s.get("/api/streamer/snapshot")
    eq(r.status, 200, "snapshot")
    check(r.body[:2] == b"\xff\xd8", "the snapshot is a JPEG")
    return r.body


def tempdir():
    return tempfile.TemporaryDirectory(prefix="ipkvm-vnc-")


# ---------------------------------------------------------------------------------------------
# RFB by hand

SEC_NONE, SEC_VNCAUTH, SEC_VENCRYPT = 1, 2, 19
VENCRYPT_TLSPLAIN, VENCRYPT_X509PLAIN = 259, 262


class RfbClosed(AssertionError):
    pass


class RawRfb:
    """An RFB connection driven byte by byte."""

    def __init__(self, d, timeout=5.0):
        self.d = d
        self.sock = socket.create_connection((HOST, d.vnc_port), timeout=timeout)
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Sends all of data; RfbClosed when the server has closed the connection."""
        self.sock.settimeout(self.timeout)
        try:
            self.sock.sendall(data)
        except (ConnectionError, ssl.SSLError) as e:
            raise RfbClosed("RFB: the connection ended while sending (%r)" % e)

    def recv_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        buf = b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("RFB: %d of %d bytes within the timeout" % (len(buf), n))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            except (socket.timeout, TimeoutError):
                raise TimeoutError("RFB: %d of %d bytes within the timeout" % (len(buf), n))
            except (ConnectionError, ssl.SSLError) as e:
                raise RfbClosed("RFB: the connection ended (%r) after %d of %d bytes"
                                % (e, len(buf), n))
            if not chunk:
                raise RfbClosed("RFB: the server closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return buf

    def wait_closed(self, timeout):
        """Reads and discards until the server closes; returns the seconds it took. Fails
        after timeout."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the server kept the connection open for %.1f s"
                                     % timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except (socket.timeout, TimeoutError):
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                return time.monotonic() - t0
            if not chunk:
                return time.monotonic() - t0

    # --- handshake ---------------------------------------------------------------------

    def version(self, answer=b"RFB 003.008\n"):
        v = self.recv_exact(12)
        check(v.startswith(b"RFB 003.") and v.endswith(b"\n"), "server version %r" % v)
        self.send(answer)
        return v

    def security_types(self):
        n = self.recv_exact(1)[0]
        if n == 0:
            ln = struct.unpack(">I", self.recv_exact(4))[0]
            raise AssertionError("the server refused: %r" % self.recv_exact(ln))
        return list(self.recv_exact(n))

    def vencrypt(self, subtype=VENCRYPT_X509PLAIN):
        """Chooses VeNCrypt and subtype, then TLS (X509Plain: the daemon's certificate is
        verified); returns the VeNCrypt subtypes the server listed."""
        self.send(bytes([SEC_VENCRYPT]))
        eq(self.recv_exact(2), b"\x00\x02", "VeNCrypt version")
        self.send(b"\x00\x02")
        eq(self.recv_exact(1), b"\x00", "VeNCrypt version accepted")
        n = self.recv_exact(1)[0]
        subs = list(struct.unpack(">%dI" % n, self.recv_exact(4 * n)))
        check(subtype in subs, "VeNCrypt subtype %d offered: %r" % (subtype, subs))
        self.send(struct.pack(">I", subtype))
        eq(self.recv_exact(1), b"\x01", "VeNCrypt subtype accepted")
        ctx = ssl.create_default_context(cafile=self.d.cert_path)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=HOST)
        return subs

    def plain(self, user, password):
        u, p = user.encode(), password.encode()
        self.send(struct.pack(">II", len(u), len(p)) + u + p)

    def security_result(self):
        """0 for OK; otherwise raises with the server's reason."""
        r = struct.unpack(">I", self.recv_exact(4))[0]
        if r != 0:
            ln = struct.unpack(">I", self.recv_exact(4))[0]
            raise AssertionError("authentication failed (%d): %r" % (r, self.recv_exact(ln)))
        return r

    def init(self, shared=True):
        """ClientInit; returns (width, height, pixel format bytes, name)."""
        self.send(bytes([1 if shared else 0]))
        w, h = struct.unpack(">HH", self.recv_exact(4))
        pf = self.recv_exact(16)
        ln = struct.unpack(">I", self.recv_exact(4))[0]
        check(ln < 4096, "desktop name of %d bytes" % ln)
        return w, h, pf, self.recv_exact(ln)

    def login(self, password, user="admin"):
        self.version()
        types = self.security_types()
        check(SEC_VENCRYPT in types, "VeNCrypt offered: %r" % types)
        self.vencrypt()
        self.plain(user, password)
        self.security_result()
        self.width, self.height, self.pf, self.name = self.init()
        return self

    # --- messages ------------------------------------------------------------------------

    def set_encodings(self, encs):
        self.send(struct.pack(">BxH", 2, len(encs)) + b"".join(struct.pack(">i", e)
                                                               for e in encs))

    def update_request(self, incremental=False, x=0, y=0, w=None, h=None):
        self.send(struct.pack(">BBHHHH", 3, 1 if incremental else 0, x, y,
                              self.width if w is None else w, self.height if h is None else h))

    def read_update(self, timeout=None):
        """Reads server messages until a FramebufferUpdate; returns its rectangles as
        (x, y, w, h, encoding). Understands Raw (32 bpp), Tight JPEG, and the pseudo-
        encodings that carry data."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = max(0.1, deadline - time.monotonic())
            t = self.recv_exact(1, left)[0]
            if t == 0:
                break
            if t == 2:  # Bell
                continue
            if t == 3:  # ServerCutText
                self.recv_exact(3)
                ln = struct.unpack(">I", self.recv_exact(4))[0]
                self.recv_exact(ln & 0x7FFFFFFF)
                continue
            if t == 150:  # EndOfContinuousUpdates
                continue
            if t == 248:  # Fence
                self.recv_exact(3 + 4)
                self.recv_exact(self.recv_exact(1)[0])
                continue
            raise AssertionError("unexpected server message type %d" % t)
        self.recv_exact(1)
        n = struct.unpack(">H", self.recv_exact(2))[0]
        rects = []
        i = 0
        while n == 0xFFFF or i < n:
            x, y, w, h, enc = struct.unpack(">HHHHi", self.recv_exact(12))
            i += 1
            rects.append((x, y, w, h, enc))
            if enc == -224:  # LastRect
                break
            self._skip_rect(w, h, enc)
        return rects

    def _skip_rect(self, w, h, enc):
        if enc == 0:
            self.recv_exact(w * h * 4)
        elif enc == 7:
            ctrl = self.recv_exact(1)[0]
            check(ctrl >> 4 == 9, "Tight rectangle that is not JPEG (control 0x%02x)" % ctrl)
            ln, shift = 0, 0
            for _ in range(3):
                b = self.recv_exact(1)[0]
                ln |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            check(self.recv_exact(ln)[:2] == b"\xff\xd8", "Tight JPEG data is a JPEG")
        elif enc == -308:
            screens = self.recv_exact(4)[0]
            self.recv_exact(16 * screens)
        elif enc == -261:
            self.recv_exact(1)
        elif enc == 0x574D5668:
            self.recv_exact(4)
        elif enc == -239:
            self.recv_exact(w * h * 4 + (w + 7) // 8 * h)
        elif enc in (-223, -258, -224):
            pass
        else:
            raise AssertionError("rectangle of encoding %d not understood here" % enc)


def server_still_serves(t, d):
    """A fresh VNC login gets a picture, and an HTTPS request is answered."""
    res = vnc(t, d, "jpegs:1")
    check(res["jpeg_rects"] >= 1, "a fresh VNC session gets a Tight JPEG picture: %r" % res)
    r = d.request("GET", "/api/auth/check")
    check(r.status in (200, 401), "HTTPS still answers: %d" % r.status)
    check(d.alive(), "the daemon is running")
