#!/usr/bin/env python3
"""bench/hid_bench: keyboard input figures through the real daemon (make bench).

A pty stands in for /dev/hidg0. Figures:
  - WebSocket binary key message sent -> its report read at the device: p50/p99/max (ms),
    over 2000 key events on loopback TLS (an upper bound of the daemon's own share);
  - paste of 1000 characters of mixed text with the jp and de layouts: characters decoded
    back from the written reports by this script's own decoder (independent of the
    daemon's layout tables), with the number lost and wrong, and the typing rate.
"""
import os
import pty
import select
import struct
import sys
import time
import tty

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402  (the integration tests' daemon and WebSocket client)

# (usage) -> (plain, shift, altgr) for the characters the texts below use; written from the
# published layouts, not from data/layouts.
LETTERS = {0x04 + i: chr(ord("a") + i) for i in range(26)}
JP = {u: (c, c.upper(), None) for u, c in LETTERS.items()}
JP.update({0x1E: ("1", "!", None), 0x1F: ("2", '"', None), 0x20: ("3", "#", None),
           0x21: ("4", "$", None), 0x22: ("5", "%", None), 0x23: ("6", "&", None),
           0x24: ("7", "'", None), 0x25: ("8", "(", None), 0x26: ("9", ")", None),
           0x27: ("0", None, None), 0x2D: ("-", "=", None), 0x2E: ("^", "~", None),
           0x2F: ("@", "`", None), 0x30: ("[", "{", None), 0x31: ("]", "}", None),
           0x33: (";", "+", None), 0x34: (":", "*", None), 0x36: (",", "<", None),
           0x37: (".", ">", None), 0x38: ("/", "?", None), 0x87: ("\\", "_", None),
           0x89: ("\\", "|", None), 0x2C: (" ", " ", None), 0x28: ("\n", "\n", None)})
DE = {u: (c, c.upper(), None) for u, c in LETTERS.items()}
DE[0x1C], DE[0x1D] = ("z", "Z", None), ("y", "Y", None)  # QWERTZ
DE[0x14] = ("q", "Q", "@")
DE[0x08] = ("e", "E", "\u20ac")
DE.update({0x1E: ("1", "!", None), 0x1F: ("2", '"', None), 0x20: ("3", "\u00a7", None),
           0x21: ("4", "$", None), 0x22: ("5", "%", None), 0x23: ("6", "&", None),
           0x24: ("7", "/", "{"), 0x25: ("8", "(", "["), 0x26: ("9", ")", "]"),
           0x27: ("0", "=", "}"), 0x2D: ("\u00df", "?", "\\"), 0x2F: ("\u00fc", "\u00dc", None),
           0x30: ("+", "*", "~"), 0x33: ("\u00f6", "\u00d6", None),
           0x34: ("\u00e4", "\u00c4", None), 0x31: ("#", "'", None), 0x36: (",", ";", None),
           0x37: (".", ":", None), 0x38: ("-", "_", None), 0x64: ("<", ">", "|"),
           0x2C: (" ", " ", None), 0x28: ("\n", "\n", None)})

TEXT = {
    "jp": "The quick brown fox \\_|@[]:;^~ jumps over 12 lazy dogs! {x} <y> (z) \"ok\" #5 $6 %7 &8 '9' =-+*/?.,\n",
    "de": "Zw\u00f6lf Boxk\u00e4mpfer jagen Viktor quer \u00fcber den gro\u00dfen Sylter Deich: "
          "1@2 \u20ac3 {4} [5] \\6 |7 ~8 <9> =0 ?!\n",
}


def decode(reports, table):
    text, held = [], set()
    for r in reports:
        mods, keys = r[0], {k for k in r[2:] if k}
        for k in r[2:]:
            if k and k not in held:
                plain, shift, altgr = table.get(k, (None, None, None))
                c = altgr if mods & 0x40 else shift if mods & 0x22 else plain
                text.append(c if c is not None else "\ufffd")
        held = keys
    return "".join(text)


class Hidg:
    def __init__(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def read_until_quiet(self, quiet=0.5, limit=120):
        data, end = b"", time.monotonic() + limit
        while time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], quiet)
            if not r:
                break
            data += os.read(self.master, 65536)
        return [data[i:i + 8] for i in range(0, len(data) - len(data) % 8, 8)]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * (len(v) - 1) + 0.5))]


def key_latencies(ws, g, taps, deadline=None):
    """Sends `taps` key presses and releases of K on the event socket ws, one at a time; each
    message's time from sent to its 8-byte report read at the pty g, in ms. Stops early at
    `deadline` (monotonic seconds) so a loaded daemon cannot stretch a bench without bound."""
    lat = []
    for i in range(taps):
        if deadline is not None and time.monotonic() > deadline:
            break
        for state in (1, 0):
            t0 = time.perf_counter()
            ws.send_frame(0x2, bytes([0x01, state, 4]) + b"KeyK")
            got = b""
            while len(got) < 8:
                if not select.select([g.master], [], [], 5)[0]:
                    raise AssertionError("no report at the device within 5 s")
                got += os.read(g.master, 8 - len(got))
            lat.append((time.perf_counter() - t0) * 1000)
    return lat


def main():
    ipkvmd = sys.argv[1] if len(sys.argv) > 1 else "build/ipkvmd"
    g = Hidg()
    d = harness.Daemon(os.path.abspath(ipkvmd), config_extra=(
        "[hid]\noutput = gadget\nkeyboard = %s\nmouse_abs =\nmouse_rel =\nconsumer =\n"
        "[log]\nlevel = error\n" % g.path))
    try:
        s = d.admin()
        with s.ws() as ws:
            lat = key_latencies(ws, g, 1000)
        print("WS key message -> report at the device: p50 %.3f ms, p99 %.3f ms, max %.3f ms "
              "(%d events, TLS on loopback)" % (pct(lat, 50), pct(lat, 99), max(lat), len(lat)))
        for layout, table in (("jp", JP), ("de", DE)):
            text = (TEXT[layout] * 20)[:1000]
            t0 = time.monotonic()
            res = harness.expect_ok(s.post("/api/hid/type", {"text": text, "layout": layout,
                                                              "delay_ms": 0}))
            reports = g.read_until_quiet()
            secs = time.monotonic() - t0
            typed = decode(reports, table)
            lost = max(0, len(text) - len(typed))
            wrong = sum(1 for a, b in zip(text, typed) if a != b) + max(0, len(typed) - len(text))
            print("paste %s: %d characters, %d untyped, %d typed back, %d lost, %d wrong, "
                  "%.0f characters/s" % (layout, len(text), len(res["untyped"]), len(typed),
                                         lost, wrong, len(typed) / secs))
    finally:
        d.stop()
        d.cleanup()
        os.close(g.master)
        os.close(g.slave)


if __name__ == "__main__":
    main()
