#!/usr/bin/env python3
"""bench/h264_bench: H.264 through the real pipeline to loopback WebSocket clients that decode
with openh264 (tests/tools/h264dec --stream), on this machine (make bench).

Scenes:
  typing   the pattern source's desktop scene at 1920x1080, 60 fps: text being typed and a
           pointer moving (a change every frame);
  scrolling  the virtual target's console with a line added every frame it can take (the
           whole screen scrolls);
  static   the virtual target's console, nothing happening.
Figures: capture -> decoded in the client p50/p95 (ms, wall clocks of one machine), access
units per second, kbit/s, daemon CPU %, the encoder's last encode time; and one encoder for
16 clients (daemon CPU with 1 client vs 16).
"""
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_target import boot_console  # noqa: E402
from target_bench import cpu_seconds, pct  # noqa: E402

SECONDS = 8


class Decoder:
    """h264dec --stream: length-prefixed access units in, one JSON line per frame out."""

    def __init__(self, tool):
        self.p = subprocess.Popen([tool, "--stream"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, bufsize=0)

    def decode(self, au):
        self.p.stdin.write(struct.pack("<I", len(au)) + au)
        line = self.p.stdout.readline()
        return json.loads(line) if line.strip() else None

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


def measure(d, s, tool, seconds, driver=None, decode=True, settle=0.0):
    """Receives for `seconds`; returns figures."""
    ws = s.ws(path="/api/streamer/h264")
    dec = Decoder(tool) if decode else None
    lat, rx, sizes, keys, n = [], [], [], 0, 0
    cpu0 = cpu_seconds(d.proc.pid)
    t0 = time.monotonic()
    last_drive = 0.0
    try:
        while time.monotonic() - t0 < seconds:
            if driver and time.monotonic() - last_drive > 1 / 60:
                driver()
                last_drive = time.monotonic()
            try:
                op, msg = ws.recv_message(timeout=0.02 if driver else 1.0)
            except (TimeoutError, AssertionError):
                continue
            if op != 2 or len(msg) < 24 or msg[1] & 2:
                continue
            cap = struct.unpack("<q", msg[8:16])[0] / 1e6
            got = time.time()
            if dec:
                frame = dec.decode(msg[24:])
                harness.check(frame is not None, "the decoder made no frame")
            if time.monotonic() - t0 < settle:
                continue  # the joining keyframe (an old picture): not the steady state
            if dec:
                lat.append((time.time() - cap) * 1000)
                rx.append((got - cap) * 1000)
            n += 1
            keys += msg[1] & 1
            sizes.append(len(msg) - 24)
    finally:
        ws.close_socket()
        if dec:
            dec.close()
    span = time.monotonic() - t0 - settle
    cpu = (cpu_seconds(d.proc.pid) - cpu0) / span * 100
    h = harness.expect_ok(s.get("/api/streamer"))["h264"]
    return {"units": n, "keys": keys, "fps": n / span, "kbps": sum(sizes) * 8 / span / 1000,
            "lat50": statistics.median(lat) if lat else None,
            "lat95": pct(lat, 95) if lat else None,
            "rx50": statistics.median(rx) if rx else None, "cpu": cpu, "encode_ms": h["encode_ms"],
            "backend": h["backend"]}


def show(name, f):
    lat = ("capture -> decoded p50 %.1f ms p95 %.1f ms (received p50 %.1f ms)"
           % (f["lat50"], f["lat95"], f["rx50"]) if f["lat50"] is not None else "")
    print("  %-9s %5.1f AU/s  %8.1f kbit/s  %s  daemon CPU %4.1f %%  last encode %.1f ms"
          % (name, f["fps"], f["kbps"], lat, f["cpu"], f["encode_ms"]))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: h264_bench.py IPKVMD")
    ipkvmd = sys.argv[1]
    tool = os.path.join(os.path.dirname(os.path.abspath(ipkvmd)), "tests", "tools", "h264dec")
    print("H.264, 1920x1080, %d s per scene, loopback TLS, client decoding with openh264:"
          % SECONDS)
    d = harness.Daemon(ipkvmd, "[video]\nsource = pattern\nscene = desktop\nfps = 60\n"
                       "[h264]\nbackend = software\n[log]\nlevel = warn\n")
    try:
        s = d.admin()
        show("typing", measure(d, s, tool, SECONDS))
        # One encoder for many: CPU with 16 clients (not decoding) against 1.
        one = measure(d, s, tool, 4, decode=False)
        socks = [s.ws(path="/api/streamer/h264") for _ in range(15)]
        many = measure(d, s, tool, 4, decode=False)
        for w in socks:
            w.close_socket()
        print("  16 clients: daemon CPU %.1f %% (1 client: %.1f %%), %.1f AU/s each"
              % (many["cpu"], one["cpu"], many["fps"]))
    finally:
        d.teardown()
        d.cleanup()
    d = harness.Daemon(ipkvmd, "[target]\nautoboot = 0\n[h264]\nbackend = software\n"
                       "[log]\nlevel = warn\n")
    try:
        s = d.admin()
        with s.ws() as ev:
            boot_console(s, ev)
        # Keys through the API (an event socket nobody reads would be cut for lagging).

        def enter():
            harness.expect_ok(s.post("/api/hid/key", {"code": "Enter", "state": "tap"}))
        show("scrolling", measure(d, s, tool, SECONDS, driver=enter))
        time.sleep(1)
        show("static", measure(d, s, tool, SECONDS, settle=1.0))
    finally:
        d.teardown()
        d.cleanup()


if __name__ == "__main__":
    main()
