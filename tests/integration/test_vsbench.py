"""The fake V4L2 capture device of bench/vs_ustreamer (bench/vsb_producer and the LD_PRELOAD
shim bench/libvsb_shim.so): the unmodified daemon opens it as a V4L2 source and its frames
come through, with the device's sequence numbers and buffer timestamps, and its pixels."""

import os
import struct
import subprocess
import tempfile
import time
import zlib

from harness import check, eq, expect_ok
from test_video import Stream, _auth_headers, jpeg_size

DEVICE = "/dev/video-bench"


def _bench_paths(t):
    bench = os.path.join(os.path.dirname(t.ipkvmd), "bench")
    producer = os.path.join(bench, "vsb_producer")
    shim = os.path.join(bench, "libvsb_shim.so")
    check(os.access(producer, os.X_OK), "%s is not built" % producer)
    check(os.path.exists(shim), "%s is not built" % shim)
    return producer, shim


def _png_pixels(body):
    """(width, height, RGB rows) of the daemon's raw snapshot (8-bit RGB, filter 0 rows)."""
    check(body[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature")
    w, h = struct.unpack(">II", body[16:24])
    idat, i = b"", 8
    while i < len(body):
        n, kind = struct.unpack(">I4s", body[i:i + 8])
        if kind == b"IDAT":
            idat += body[i + 8:i + 8 + n]
        i += 12 + n
    return w, h, zlib.decompress(idat)


def _pixel(w, pixels, x, y):
    row = y * (1 + w * 3) + 1
    return tuple(pixels[row + x * 3:row + x * 3 + 3])


def _near(got, want, tol=14):
    return all(abs(a - b) <= tol for a, b in zip(got, want))


def test_daemon_streams_from_the_fake_v4l2_device(t):
    _stream_from_fake_device(t, "yuyv", "usb")


def test_daemon_streams_from_the_fake_hdmi_bridge(t):
    # The same device as an HDMI-to-CSI bridge: DV timings, UYVY, the daemon's other path.
    _stream_from_fake_device(t, "uyvy", "hdmi")


def _stream_from_fake_device(t, fmt, kind):
    producer, shim = _bench_paths(t)
    tmp = tempfile.mkdtemp(prefix="ipkvm-it-vsb-")
    sock = os.path.join(tmp, "dev.sock")
    shm_path = "/dev/shm/ipkvm-it-vsb-%d-%s" % (os.getpid(), kind)
    proc = subprocess.Popen([producer, "--socket", sock, "--shm", shm_path, "--format", fmt,
                             "--input", kind, "--scene", "desktop"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        line = proc.stdout.readline().decode()
        check(line.startswith("ready "), "the producer said %r; stderr: %r" %
              (line, proc.stderr.read(2000) if proc.poll() is not None else b""))
        offs = dict(kv.split("=") for kv in line.split()[1:])
        env = {"LD_PRELOAD": shim, "VSB_SOCKET": sock, "VSB_DEVICE": DEVICE}
        # An ASan build's runtime must come first in the library list, unless told otherwise;
        # the shim is built without sanitizers, so the order does not matter to it.
        env["ASAN_OPTIONS"] = ":".join(
            o for o in (os.environ.get("ASAN_OPTIONS", ""), "verify_asan_link_order=0") if o)
        d = t.daemon("[video]\nsource = v4l2\ndevice = %s\nwidth = 1920\nheight = 1080\n"
                     "fps = 60\n" % DEVICE, env=env)
        s = d.admin()
        deadline = time.monotonic() + 10
        st = expect_ok(s.get("/api/streamer"))
        while st["signal"]["state"] != "ok" and time.monotonic() < deadline:
            time.sleep(0.1)
            st = expect_ok(s.get("/api/streamer"))
        eq(st["signal"]["state"], "ok", "signal state on the fake device (%r)" % st["signal"])
        eq(st["signal"]["capture"], kind, "capture kind of the fake device")
        eq((st["signal"]["width"], st["signal"]["height"]), (1920, 1080), "signal geometry")
        eq(st["format"], fmt, "captured format")

        stream = Stream(d, _auth_headers(s))
        parts = []
        try:
            while len(parts) < 6:
                headers, data = stream.part()
                eq(jpeg_size(data), (1920, 1080), "part size")
                parts.append((int(headers["x-sequence"]), int(headers["x-capture-us"])))
        finally:
            stream.close()

        # Every part's capture time is a buffer timestamp the shim handed out, in the
        # device's order (X-Sequence is the daemon's own count of pictures).
        with open(shm_path, "rb") as f:
            head = f.read(int(offs["dq"]) + 8192 * int(offs["dq_size"]))
        n = struct.unpack_from("<Q", head, int(offs["dq_count"]))[0]
        check(n >= len(parts), "only %d dequeues logged" % n)
        by_ts = {}
        for k in range(max(0, n - 8192), n):
            seq, _idx, ts = struct.unpack_from("<IIq", head, int(offs["dq"]) +
                                               (k % 8192) * int(offs["dq_size"]))
            by_ts[ts] = seq
        for seq, cap in parts:
            check(cap in by_ts, "X-Capture-Us %d is no buffer timestamp of the device" % cap)
        for (s0, c0), (s1, c1) in zip(parts, parts[1:]):
            check(s1 > s0, "X-Sequence not increasing: %r" % parts)
            check(by_ts[c1] > by_ts[c0], "device sequence not increasing: %r" %
                  [by_ts[c] for _, c in parts])

        # The pixels are the desktop scene's: the wallpaper right of the terminal, the
        # file manager's body, the terminal's background (a frame from the device, converted
        # back to RGB: a few levels of rounding allowed). Three points each, two of which
        # must match: the scene's pointer may cover one.
        r = s.get("/api/streamer/snapshot?raw=1")
        eq(r.status, 200, "raw snapshot status")
        w, h, pixels = _png_pixels(r.body)
        eq((w, h), (1920, 1080), "raw snapshot size")
        for points, want, what in (([(1880, 500), (1880, 540), (1880, 580)], (22, 52, 85),
                                    "wallpaper"),
                                   ([(350, 500), (400, 560), (450, 620)], (236, 236, 238),
                                    "file manager body"),
                                   ([(1400, 900), (1500, 860), (1600, 900)], (20, 22, 26),
                                    "terminal background")):
            got = [_pixel(w, pixels, x, y) for x, y in points]
            check(sum(_near(g, want) for g in got) >= 2,
                  "the %s at %r is %r, not about %r" % (what, points, got, want))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for p in (shm_path, sock):
            try:
                os.unlink(p)
            except OSError:
                pass
        try:
            os.rmdir(tmp)
        except OSError:
            pass
