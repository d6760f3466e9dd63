"""test_h264_ws: H.264 over the WebSocket /api/streamer/h264 (and its old name /api/media/ws)
from the virtual target, decoded here with openh264 (tests/tools/h264dec from the same build)
and compared with the raw frames."""
import json
import math
import os
import struct
import subprocess
import tempfile
import time

from harness import check, eq, expect_ok, ws_refusal
from test_target import NO_AUTOBOOT, boot_console, raw_frame, tap, target, wait_frame

H264 = NO_AUTOBOOT + "[h264]\nbackend = software\nbitrate = 3000\n"


def decoder(t):
    path = os.path.join(os.path.dirname(t.ipkvmd), "tests", "tools", "h264dec")
    check(os.path.exists(path), "the test decoder %s was not built" % path)
    return path


def parse(msg):
    """(flags, seq, capture_us, width, height, annexb) of one H.264 message."""
    check(len(msg) >= 24, "short H.264 message (%d bytes)" % len(msg))
    version, flags, _, seq, cap, w, h, _ = struct.unpack("<BBHIqHHI", msg[:24])
    eq(version, 1, "H.264 message version")
    return flags, seq, cap, w, h, msg[24:]


def nal_types(annexb):
    types, i = [], 0
    while True:
        i = annexb.find(b"\x00\x00\x01", i)
        if i < 0:
            return types
        types.append(annexb[i + 3] & 0x1F)
        i += 3


def recv_units(ws, n, timeout=10):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        check(left > 0, "only %d of %d access units arrived" % (len(out), n))
        op, data = ws.recv_message(timeout=left)
        if op != 2:
            continue
        u = parse(data)
        if u[0] & 2:  # keep-alive
            continue
        out.append(u)
    return out


def decode(t, units, i420=None):
    stream = b"".join(u[5] for u in units)
    args = [decoder(t)] + (["--i420", i420] if i420 else [])
    p = subprocess.run(args, input=stream, capture_output=True, timeout=60)
    eq(p.returncode, 0, "h264dec: %s" % p.stderr.decode()[-500:])
    return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]


def luma_psnr(i420_path, w, h, frame_index, png):
    """PSNR of the decoded frame's Y plane against the raw frame's luma (BT.601 limited)."""
    size = w * h * 3 // 2
    with open(i420_path, "rb") as f:
        f.seek(frame_index * size)
        y = f.read(w * h)
    pw, ph, rows = png
    eq((pw, ph), (w, h), "snapshot size")
    se = 0
    for r in range(0, h, 4):  # every 4th row: enough, and fast in Python
        row = rows[r]
        yr = y[r * w:(r + 1) * w]
        for c in range(0, w, 2):
            R, G, B = row[c * 3], row[c * 3 + 1], row[c * 3 + 2]
            ref = 16 + (65.481 * R + 128.553 * G + 24.966 * B) / 255
            d = yr[c] - ref
            se += d * d
    n = (h // 4) * (w // 2)
    mse = se / n
    return 99.0 if mse == 0 else 10 * math.log10(255 * 255 / mse)


def test_keyframe_first_then_decodable_p_frames(t):
    d = t.daemon(H264)
    s = d.admin()
    with s.ws() as ev:
        boot_console(s, ev)
        wait_frame(s, "the console", lambda w, h, rows: (w, h) == (1920, 1080))
        with s.ws(path="/api/streamer/h264") as media:
            first = recv_units(media, 1)
            flags, seq, cap, w, h, au = first[0]
            check(flags & 1, "the first access unit is a keyframe")
            eq((w, h), (1920, 1080), "the console's size")
            types = nal_types(au)
            check(7 in types and 8 in types and 5 in types, "SPS, PPS, IDR: %r" % types)
            check(abs(cap / 1e6 - time.time()) < 10, "capture time is wall-clock µs")
            for code in ["KeyE", "KeyC", "KeyH", "KeyO"]:
                tap(ev, code)
                time.sleep(0.05)
            # Changes that come faster than the encoder merge (newest wins): at least one
            # access unit, then quiet once the picture stopped changing.
            more = recv_units(media, 1)
            while True:
                try:
                    more += recv_units(media, 1, timeout=1.0)
                except (AssertionError, TimeoutError):
                    break
            check(1 <= len(more) <= 4, "%d access units for 4 keys" % len(more))
            eq([u[1] for u in more], [seq + 1 + i for i in range(len(more))], "sequence numbers")
            check(all(not (u[0] & 1) for u in more), "P-frames follow: %r"
                  % [u[0] for u in more])
            check(all(1 in nal_types(u[5]) for u in more), "non-IDR slices")
            # Wait for the picture to settle, then compare the last decoded frame with it.
            time.sleep(0.3)
            st = target(s)
            check(st["rows"][st["cursor"]["row"]].endswith("$ echo"), "typed: %r"
                  % st["rows"][st["cursor"]["row"]])
            raw = raw_frame(s)
            units = first + more
            tmp = tempfile.mkdtemp(prefix="ipkvm-h264-")
            try:
                i420 = os.path.join(tmp, "frames.i420")
                frames = decode(t, units, i420)
                eq(len(frames), len(units), "every access unit decodes to a frame")
                check(all((f["width"], f["height"]) == (1920, 1080) for f in frames),
                      "decoded size")
                psnr = luma_psnr(i420, 1920, 1080, len(frames) - 1, raw)
                check(psnr >= 35, "decoded picture vs raw frame: PSNR %.1f dB" % psnr)
            finally:
                for fn in os.listdir(tmp):
                    os.unlink(os.path.join(tmp, fn))
                os.rmdir(tmp)
            # A client asks for a keyframe (decoder error): the next unit is one.
            media.send_json({"event": "keyframe"})
            u = recv_units(media, 1)[0]
            check(u[0] & 1, "a keyframe on request")
            # A still screen sends only keep-alives.
            deadline = time.monotonic() + 2.5
            alive = 0
            while time.monotonic() < deadline:
                try:
                    op, data = media.recv_message(timeout=deadline - time.monotonic())
                except (TimeoutError, AssertionError):
                    break
                if op == 2:
                    check(parse(data)[0] & 2, "only keep-alives on a still screen")
                    alive += 1
            check(alive >= 1, "a keep-alive within 2.5 s")
        status = expect_ok(s.get("/api/streamer"))["h264"]
        eq(status["backend"], "openh264", "backend")
        # every unit this client got was counted: the first keyframe, the P-frames (merged
        # when keys come faster than the encoder) and the requested keyframe
        check(status["frames"] >= len(units) + 1 and status["keyframes"] >= 2,
              "counters for %d units received: %r" % (len(units) + 1, status))


def test_h264_socket_auth_and_live_settings(t):
    d = t.daemon(H264)
    for path in ["/api/streamer/h264", "/api/media/ws"]:
        status, _, _, _ = ws_refusal(d, path=path)
        eq(status, 401, "no session, no video on %s" % path)
    s = d.admin()
    st = expect_ok(s.post("/api/streamer/params", {"h264_bitrate": 800, "h264_gop": 30}))
    eq((st["h264"]["bitrate"], st["h264"]["gop"]), (800, 30), "applied live")
    r = s.post("/api/streamer/params", {"h264_bitrate": 5})
    eq(r.status, 400, "out of range")
    d.add_user("viewer", "viewer-pass-1", role="viewer")
    v = d.session()
    v.login("viewer", "viewer-pass-1")
    with s.ws() as ev:
        boot_console(s, ev)
        # the socket's old name is the same socket
        for path in ["/api/streamer/h264", "/api/media/ws"]:
            with v.ws(path=path) as media:
                u = recv_units(media, 1)[0]
                check(u[0] & 1, "viewers watch too, from a keyframe (%s)" % path)
    d2 = t.daemon("[h264]\nbackend = none\n")
    s2 = d2.admin()
    eq(expect_ok(s2.get("/api/streamer"))["h264"], None, "H.264 off")
