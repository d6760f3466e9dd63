"""The hardware JPEG encoder's fallback ([jpeg] encoder = auto|software|v4l2): whatever
happens to the V4L2 device, the stream keeps delivering JPEGs and GET /api/streamer says
which encoder made them and why not the hardware one."""

import os
import re
import tempfile
import time

from harness import check, eq, expect_ok
from test_video import Stream, _auth_headers, jpeg_size

PATTERN = """
[video]
source = pattern
scene = testcard
width = 640
height = 360
fps = 15
"""


def _streamer(s, want_encoder, timeout=5):
    deadline = time.monotonic() + timeout
    st = expect_ok(s.get("/api/streamer"))
    while st["encoder"] != want_encoder and time.monotonic() < deadline:
        time.sleep(0.1)
        st = expect_ok(s.get("/api/streamer"))
    eq(st["encoder"], want_encoder, "encoder in GET /api/streamer (%r)" % st)
    return st


def _wait_log(d, text, timeout=5):
    deadline = time.monotonic() + timeout
    while text not in d.stderr():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _parts(d, s, n):
    st = Stream(d, _auth_headers(s))
    out = []
    try:
        while len(out) < n:
            headers, data = st.part()
            out.append((int(headers["x-sequence"]), data))
    finally:
        st.close()
    return out


def test_v4l2_without_the_device_streams_software_jpegs(t):
    dev = "/dev/ipkvm-no-such-jpeg-encoder"
    d = t.daemon(PATTERN + "[jpeg]\nencoder = v4l2\ndevice = %s\n" % dev)
    s = d.admin()
    st = _streamer(s, "software")
    check(st["encoder_reason"].startswith("no V4L2 JPEG encoder at %s: " % dev),
          "encoder_reason %r does not say the device is missing" % st["encoder_reason"])
    parts = _parts(d, s, 5)
    for _, data in parts:
        eq(jpeg_size(data), (640, 360), "a software JPEG's size")
    seqs = [p[0] for p in parts]
    check(all(b > a for a, b in zip(seqs, seqs[1:])), "sequence not increasing: %r" % seqs)
    # said loudly: an error in the log, naming the device
    check(_wait_log(d, "error jpeg   JPEG encoder: [jpeg] encoder = v4l2, but no V4L2 JPEG "
                    "encoder at " + dev),
          "no error in the log about the missing device")


def test_software_never_tries_the_device(t):
    d = t.daemon(PATTERN + "[jpeg]\nencoder = software\ndevice = /dev/ipkvm-no-such\n")
    s = d.admin()
    st = _streamer(s, "software")
    eq(st["encoder_reason"], "", "encoder_reason with encoder = software")
    eq(jpeg_size(_parts(d, s, 1)[0][1]), (640, 360), "JPEG size")


# --- a device that fails while streaming -----------------------------------------------------
# tests/tools/fake_m2m.so (LD_PRELOAD) puts a fake mem2mem JPEG encoder behind one path; its
# JPEGs carry a comment "ipkvm-fake-m2m frame=N q=Q", and a control file switches it between
# ok, fail (QBUF: ENODEV), stall (no buffer back) and gone.

FAKE_DEV = "/dev/ipkvm-fake-jpeg-encoder"


def _fake_env(t, ctl):
    shim = os.path.join(os.path.dirname(t.ipkvmd), "tests", "tools", "fake_m2m.so")
    check(os.path.exists(shim), "the fake device %s was not built" % shim)
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": shim, "IPKVM_FAKE_M2M_DEV": FAKE_DEV, "IPKVM_FAKE_M2M_CTL": ctl,
            # an ASan build wants its runtime first; the shim only forwards to it
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


def _set_mode(ctl, mode):
    with open(ctl + ".new", "w") as f:
        f.write(mode + "\n")
    os.replace(ctl + ".new", ctl)


def _device_quality(data):
    """Q of the fake device's comment, or None for a JPEG it did not make."""
    m = re.search(rb"ipkvm-fake-m2m frame=\d+ q=(\d+)", data[:200])
    return int(m.group(1)) if m else None


def _until(stream, pred, what, timeout=6):
    """Reads parts until pred(data) holds; returns the parts read (seq, time, data)."""
    deadline = time.monotonic() + timeout
    got = []
    while True:
        check(time.monotonic() < deadline, "no part %s within %d s" % (what, timeout))
        headers, data = stream.part()
        got.append((int(headers["x-sequence"]), time.monotonic(), data))
        eq(jpeg_size(data), (640, 360), "JPEG size")
        if pred(data):
            return got


def test_device_failing_mid_stream_falls_back_and_comes_back(t):
    ctl = os.path.join(tempfile.mkdtemp(prefix="ipkvm-m2m-"), "mode")
    _set_mode(ctl, "ok")
    d = t.daemon(PATTERN + "[jpeg]\nencoder = v4l2\ndevice = %s\n" % FAKE_DEV,
                 env=_fake_env(t, ctl))
    s = d.admin()
    st = _streamer(s, "v4l2")
    eq(st["encoder_reason"], "", "encoder_reason while the device works")
    stream = Stream(d, _auth_headers(s))
    parts = []
    try:
        # the device's JPEGs, at the configured quality; then a live quality change
        parts += _until(stream, lambda b: _device_quality(b) == 80, "from the device at q=80")
        expect_ok(s.post("/api/streamer/params", {"quality": 55}))
        parts += _until(stream, lambda b: _device_quality(b) == 55, "from the device at q=55")

        # unplugged: the very frame that failed is encoded in software, and so are the next
        _set_mode(ctl, "fail")
        parts += _until(stream, lambda b: _device_quality(b) is None, "from software")
        st = _streamer(s, "software")
        check("%s failed on a 640x360 yuyv frame: No such device" % FAKE_DEV
              in st["encoder_reason"], "encoder_reason %r" % st["encoder_reason"])
        sw = _until(stream, lambda b: _device_quality(b) is None, "from software again")
        parts += sw

        # back: tried again after the back-off (1 s, then 2 s while it still failed)
        _set_mode(ctl, "ok")
        parts += _until(stream, lambda b: _device_quality(b) == 55, "from the device again",
                        timeout=8)
        _streamer(s, "v4l2")

        # stalled: no buffer back within 500 ms, software takes over
        _set_mode(ctl, "stall")
        parts += _until(stream, lambda b: _device_quality(b) is None, "after a stall")
        st = _streamer(s, "software")
        check("Connection timed out" in st["encoder_reason"],
              "encoder_reason after a stall %r" % st["encoder_reason"])
        _set_mode(ctl, "ok")
        parts += _until(stream, lambda b: _device_quality(b) is not None, "after the stall",
                        timeout=8)
    finally:
        stream.close()
    seqs = [p[0] for p in parts]
    check(all(b > a for a, b in zip(seqs, seqs[1:])), "sequence not increasing: %r" % seqs)
    # the picture never stopped: no gap between parts longer than the stall and a frame
    gaps = [b[1] - a[1] for a, b in zip(parts, parts[1:])]
    check(max(gaps) < 1.5, "a gap of %.2f s in the stream" % max(gaps))
    check(_wait_log(d, "error jpeg   JPEG encoder: %s failed on a 640x360 yuyv frame: No such "
                    "device; encoding in software" % FAKE_DEV),
          "no error in the log about the failing device")
    check(_wait_log(d, "back from software"), "no log line about the device coming back")
