"""The hardware JPEG encoder's fallback ([jpeg] encoder = auto|software|v4l2): whatever
happens to the V4L2 device, the stream keeps delivering JPEGs and GET /api/streamer says
which encoder made them and why not the hardware one."""

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
