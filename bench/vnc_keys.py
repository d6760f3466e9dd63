#!/usr/bin/env python3
"""bench/vnc_keys: key -> pixel on the virtual target, over VNC and over the web console.

    python3 bench/vnc_keys.py PATH/TO/ipkvmd [KEYS]

One daemon, the virtual target booted to its 1920x1080 console, KEYS keys ('a' and
Backspace in turn, each changing the screen) typed one at a time, 20 ms apart:
  - web console: the key as the console sends it (binary WebSocket message) -> the first
    MJPEG part captured after it, received (bench/target_bench.py's method);
  - VNC: a KeyEvent (keysym) from the libvncclient test client (tests/tools/vnc-client,
    VeNCrypt X509Plain, Tight JPEG) -> the first framebuffer update that changed its
    framebuffer: when the JPEG arrived (comparable with the MJPEG figure) and when it was
    decoded into the framebuffer (what a viewer would show); once with no JPEG quality level
    (the pipeline's own JPEG, as MJPEG gets) and once with level 8 (TigerVNC's default: an
    extra quality, encoded after each frame's main image).
The two paths run one after the other on the same daemon, so the machine's state is the same.
"""
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from target_bench import Stream, pct  # noqa: E402


def boot(d, s, ws):
    harness.expect_ok(s.post("/api/atx/click", {"button": "power"}))
    deadline = time.monotonic() + 5
    while harness.expect_ok(s.get("/api/target"))["phase"] != "firmware":
        harness.check(time.monotonic() < deadline, "the target did not power on")
        time.sleep(0.05)
    ws.send_frame(0x2, bytes([0x01, 1, 6]) + b"Escape")
    ws.send_frame(0x2, bytes([0x01, 0, 6]) + b"Escape")
    while harness.expect_ok(s.get("/api/target"))["phase"] != "console":
        harness.check(time.monotonic() < deadline, "the target did not boot")
        time.sleep(0.05)


def web_keys(d, s, ws, keys):
    stream = Stream(d, "ipkvm_session=" + s.cookie)
    last_seq = stream.part()[0]
    key_ms = []
    for i in range(keys):
        code = b"KeyA" if i % 2 == 0 else b"Backspace"
        t0 = time.monotonic()
        ws.send_frame(0x2, bytes([0x01, 1, len(code)]) + code)
        while True:
            seq, cap, n, now = stream.part()
            if seq > last_seq and cap / 1e6 >= t0:
                break
            harness.check(time.monotonic() - t0 < 2, "no image of key %d in 2 s" % i)
        last_seq = seq
        key_ms.append((now - t0) * 1000)
        ws.send_frame(0x2, bytes([0x01, 0, len(code)]) + code)
        time.sleep(0.02)
    stream.sock.close()
    return key_ms


def vnc_keys(d, build_dir, keys, quality):
    client = os.path.join(build_dir, "tests", "tools", "vnc-client")
    env = dict(os.environ, VNC_PASSWORD=d.admin_password)
    p = subprocess.run([client, "--security", "x509plain", "--ca", d.cert_path, "--encodings",
                        "tight", "--quality", str(quality), "127.0.0.1", str(d.vnc_port), "updates:1",
                        "hold:300", "keylat:%d" % keys], capture_output=True, text=True,
                       env=env, timeout=60 + keys)
    res = json.loads(p.stdout.strip().splitlines()[-1])
    harness.check(res["ok"], "vnc-client: %s %s" % (res.get("error"), res.get("log")))
    return res["keylat"]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: vnc_keys.py IPKVMD [KEYS]")
    ipkvmd = os.path.abspath(sys.argv[1])
    keys = int(sys.argv[2]) if len(sys.argv) == 3 else 200
    port = harness.free_port()
    d = harness.Daemon(ipkvmd, "[target]\nautoboot = 0\n[log]\nlevel = warn\n"
                       "[vnc]\nenabled = 1\nlisten = 127.0.0.1\nport = %d\n" % port)
    d.vnc_port = port
    try:
        s = d.admin()
        with s.ws() as ws:
            boot(d, s, ws)
            time.sleep(0.3)
            web = web_keys(d, s, ws, keys)
        # Tight quality level 8 (TigerVNC's default; JPEG quality 92, an extra quality the
        # pipeline encodes after each frame's main image) and no level (the pipeline's own
        # JPEG, as the MJPEG stream).
        vnc8 = vnc_keys(d, os.path.dirname(ipkvmd), keys, 8)
        vnc = vnc_keys(d, os.path.dirname(ipkvmd), keys, -1)
        print("virtual target, 1920x1080 console, %d keys one at a time, 20 ms apart, over "
              "loopback TLS; load average %s" % (keys, " ".join(
                  "%.2f" % x for x in os.getloadavg())))
        print("  web console (WebSocket key -> MJPEG part received): p50 %.1f ms  p95 %.1f ms"
              "  max %.1f ms" % (statistics.median(web), pct(web, 95), max(web)))
        for label, r in (("no quality level", vnc), ("quality level 8", vnc8)):
            print("  VNC, %s (KeyEvent -> Tight JPEG received): p50 %.1f ms  p95 %.1f ms"
                  "  max %.1f ms" % (label, r["recv_p50"], r["recv_p95"], r["recv_max"]))
            print("  VNC, %s (KeyEvent -> framebuffer decoded): p50 %.1f ms  p95 %.1f ms"
                  "  max %.1f ms" % (label, r["shown_p50"], r["shown_p95"], r["shown_max"]))
    except Exception:
        sys.stderr.write(harness.tail(d.stderr(), 15) + "\n")
        raise
    finally:
        d.teardown()
        d.cleanup()


if __name__ == "__main__":
    main()
