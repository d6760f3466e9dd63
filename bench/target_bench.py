#!/usr/bin/env python3
"""bench/target_bench: the whole loop through the virtual target (make bench).

operator key (WebSocket binary message) -> HID report -> the virtual target's USB host ->
its console -> render -> capture -> JPEG -> MJPEG part read by this client. Figures, over
400 keys typed one at a time on loopback TLS:
  - key sent -> the JPEG showing it received: p50 / p95 / max (ms);
  - of which the picture's capture time -> received (render done to client): p50 / p95;
  - JPEG size of a typing frame; daemon CPU time per key.
Each key changes the screen (a character, then a backspace), so every key must produce
exactly one new image.
"""
import os
import re
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402

KEYS = 400


class Stream:
    """An MJPEG stream client: yields (seq, capture_us, jpeg_len, received_monotonic)."""

    def __init__(self, d, cookie):
        self.sock = d.tls_connect()
        self.sock.sendall(("GET /api/streamer/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Cookie: %s\r\n\r\n" % cookie).encode())
        self.buf = b""
        self._read_until(b"\r\n\r\n")
        end = self.buf.index(b"\r\n\r\n")
        harness.check(self.buf.startswith(b"HTTP/1.1 200"), "stream: %r" % self.buf[:end])
        self.buf = self.buf[end + 4:]

    def _more(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise AssertionError("stream closed")
        self.buf += chunk

    def _read_until(self, marker):
        while marker not in self.buf:
            self._more()

    def part(self):
        while True:
            start = self.buf.find(b"--ipkvmframe\r\n")
            if start >= 0 and self.buf.find(b"\r\n\r\n", start) >= 0:
                break
            self._more()
        head_end = self.buf.index(b"\r\n\r\n", start) + 4
        head = self.buf[start:head_end].decode()
        n = int(re.search(r"Content-Length: (\d+)", head).group(1))
        while len(self.buf) < head_end + n:
            self._more()
        now = time.monotonic()
        self.buf = self.buf[head_end + n:]
        seq = int(re.search(r"X-Sequence: (\d+)", head).group(1))
        cap = int(re.search(r"X-Capture-Us: (\d+)", head).group(1))
        return seq, cap, n, now


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: target_bench.py IPKVMD")
    d = harness.Daemon(sys.argv[1], "[target]\nautoboot = 0\n[log]\nlevel = warn\n")
    try:
        s = d.admin()
        with s.ws() as ws:
            harness.expect_ok(s.post("/api/atx/click", {"button": "power"}))
            time.sleep(0.5)
            ws.send_frame(0x2, bytes([0x01, 1, 6]) + b"Escape")
            ws.send_frame(0x2, bytes([0x01, 0, 6]) + b"Escape")
            deadline = time.monotonic() + 5
            while harness.expect_ok(s.get("/api/target"))["phase"] != "console":
                harness.check(time.monotonic() < deadline, "the target did not boot")
                time.sleep(0.05)
            time.sleep(0.3)
            stream = Stream(d, "ipkvm_session=" + s.cookie)
            last_seq = stream.part()[0]
            key_ms, cap_ms, sizes = [], [], []
            cpu0 = cpu_seconds(d.proc.pid)
            for i in range(KEYS):
                code = b"KeyA" if i % 2 == 0 else b"Backspace"
                t0 = time.monotonic()
                ws.send_frame(0x2, bytes([0x01, 1, len(code)]) + code)
                while True:
                    seq, cap, n, now = stream.part()
                    # The first image of a key's change is the first one captured after
                    # the key was sent (a new watcher's first image may come late).
                    if seq > last_seq and cap / 1e6 >= t0:
                        break
                    harness.check(time.monotonic() - t0 < 2, "no image of key %d in 2 s" % i)
                last_seq = seq
                key_ms.append((now - t0) * 1000)
                cap_ms.append(now * 1000 - cap / 1000)
                sizes.append(n)
                ws.send_frame(0x2, bytes([0x01, 0, len(code)]) + code)
                time.sleep(0.02)  # a fast typist: 50 keys a second at most
            cpu = cpu_seconds(d.proc.pid) - cpu0
        print("virtual target, 1920x1080 console, %d keys one at a time over loopback TLS:" % KEYS)
        print("  key sent -> JPEG showing it received: p50 %.1f ms  p95 %.1f ms  max %.1f ms"
              % (statistics.median(key_ms), pct(key_ms, 95), max(key_ms)))
        print("  picture finished -> received:        p50 %.1f ms  p95 %.1f ms"
              % (statistics.median(cap_ms), pct(cap_ms, 95)))
        print("  JPEG per typing frame: %.0f KB; daemon CPU per key: %.2f ms"
              % (statistics.median(sizes) / 1024, cpu * 1000 / KEYS))
    except Exception:
        sys.stderr.write(harness.tail(d.stderr(), 15) + "\n")
        raise
    finally:
        d.teardown()
        d.cleanup()


if __name__ == "__main__":
    main()
