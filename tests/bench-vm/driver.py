"""driver: the checks of the hardware bench VM, run inside the VM by init as PID 1's child.

The VM runs a stock Debian kernel with dummy_hcd (a USB device controller wired to a USB host
controller in the same machine) and vivid (a V4L2 capture device with an HDMI input), so
ipkvmd's gadget, HID, mass-storage and V4L2 code meets the real kernel, and each check reads
the *host side* of the path from sysfs and device nodes, as a target PC would see it.

The daemon runs and is talked to with tests/integration/harness.py (HTTPS on loopback).
Each check prints "vmcheck: PASS NAME" or "vmcheck: FAIL NAME: reason"; the exit status is
0 only when every check passed.
"""

import fcntl
import glob
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

IPKVMD = "/ipkvm/ipkvmd"
WEB_ROOT = "/ipkvm/web"
PRODUCT = "ipkvm composite device"
MANUFACTURER = "ipkvm"

# Under TCG everything is ~10x slower than on the host: give the harness more time.
harness.Daemon.wait_ready.__defaults__ = (120.0,)
harness.Daemon.request.__defaults__ = (None, None, 60.0, None)
harness.Session.request.__defaults__ = (None, None, 60.0)
harness.Daemon.stop.__defaults__ = (signal.SIGTERM, 20.0)

results = {"passed": 0, "failed": 0}


def say(kind, text):
    sys.stdout.write("vmcheck: %s %s\n" % (kind, text.replace("\n", " | ")))
    sys.stdout.flush()


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout("check timed out")


signal.signal(signal.SIGALRM, _alarm)


def check(name, fn, *args, limit=90, xfail=None):
    """Runs fn(*args) as the check NAME, bounded by limit seconds; returns its value, or None
    when it failed. xfail: the known ipkvmd bug that makes it fail (a failure is then printed
    as XFAIL and not counted; a pass says to drop the mark)."""
    t0 = time.monotonic()
    signal.alarm(limit)
    try:
        v = fn(*args)
    except Exception as e:
        signal.alarm(0)
        msg = str(e).strip() or type(e).__name__
        if xfail:
            say("XFAIL", "%s: %s [known: %s]" % (name, msg[:1500], xfail))
            return None
        say("FAIL", "%s: %s" % (name, msg[:1500]))
        for line in traceback.format_exc().splitlines()[-6:]:
            print("  " + line)
        results["failed"] += 1
        return None
    signal.alarm(0)
    say("PASS", "%s (%.1f s)%s" % (name, time.monotonic() - t0,
                                   " -- passes now: drop its xfail mark" if xfail else ""))
    results["passed"] += 1
    return v if v is not None else True


def info(text):
    say("INFO", text)


def wait_for(what, fn, timeout, interval=0.2):
    """Polls fn() until it returns something true; returns it, or raises naming `what` and the
    last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except Exception as e:  # noqa: BLE001 (polling: the last error is reported)
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %.0f s (last: %r)" % (what, timeout, last))
        time.sleep(interval)


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def run(*argv, timeout=60):
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    rep = harness.sanitizer_excerpt(p.stderr)
    if rep:
        raise AssertionError("%s from `%s`:\n%s" % (harness.sanitizer_headline(rep),
                                                     " ".join(argv), rep))
    return p.returncode, p.stdout, p.stderr


def api(sess, method, path, body=None, status=200, **kw):
    r = sess.request(method, path, body=body, **kw)
    if r.status != status:
        raise AssertionError("%s %s: %d %s" % (method, path, r.status, r.body[:400]))
    return json.loads(r.body)["result"] if r.body[:1] == b"{" else r


# --- USB: the host side of the gadget, from sysfs ----------------------------------------------

USB_DEVICES = "/sys/bus/usb/devices"


def host_device():
    """The sysfs name (e.g. "1-1") of the USB device whose product is ours, or None."""
    for d in sorted(os.listdir(USB_DEVICES)):
        if ":" in d:
            continue
        if read(os.path.join(USB_DEVICES, d, "product")) == PRODUCT:
            return d
    return None


def interfaces(dev):
    """{number: (class, subclass, protocol)} of the device's interfaces (configuration 1)."""
    out = {}
    for p in glob.glob(os.path.join(USB_DEVICES, dev + ":1.*")):
        n = int(p.rsplit(".", 1)[1])
        out[n] = tuple(read(os.path.join(p, a)) for a in
                       ("bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol"))
    return out


def event_nodes(dev, iface):
    """The /dev/input/eventN nodes the host made for one HID interface."""
    nodes = glob.glob(os.path.join(USB_DEVICES, "%s:1.%d" % (dev, iface),
                                   "*", "input", "input*", "event*"))
    return sorted("/dev/input/" + os.path.basename(n) for n in nodes)


def block_nodes(dev, prefix):
    """/dev/srN or /dev/sdX nodes whose SCSI device hangs off our USB device."""
    out = []
    for b in sorted(glob.glob("/sys/block/%s*" % prefix)):
        if "/%s:1." % dev in os.path.realpath(os.path.join(b, "device")):
            out.append("/dev/" + os.path.basename(b))
    return out


# --- evdev ---------------------------------------------------------------------------------------

EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_MSC, EV_LED = 0, 1, 2, 3, 4, 0x11
EVENT = struct.Struct("llHHi")


class EventDev:
    def __init__(self, path, write=False):
        self.path = path
        self.fd = os.open(path, (os.O_RDWR if write else os.O_RDONLY) | os.O_NONBLOCK)

    def close(self):
        os.close(self.fd)

    def drain(self):
        try:
            while os.read(self.fd, EVENT.size * 64):
                pass
        except BlockingIOError:
            pass

    def events(self, want, timeout=10.0):
        """Reads events (EV_SYN, EV_MSC and autorepeats left out) until `want` of them came or timeout;
        returns the list of (type, code, value)."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            data = os.read(self.fd, EVENT.size * 64)
            for i in range(0, len(data) - EVENT.size + 1, EVENT.size):
                _, _, t, c, v = EVENT.unpack_from(data, i)
                # Value 2 is the input core's soft autorepeat (a key held 250 ms, easy under
                # TCG), made by the host, not sent by the device.
                if t not in (EV_SYN, EV_MSC) and not (t == EV_KEY and v == 2):
                    got.append((t, c, v))
        return got

    def write(self, t, c, v):
        os.write(self.fd, EVENT.pack(0, 0, t, c, v) + EVENT.pack(0, 0, EV_SYN, 0, 0))


# --- V4L2 controls (vivid's test controls) -------------------------------------------------------

def _iowr(nr, size):
    return (3 << 30) | (size << 16) | (ord("V") << 8) | nr


VIDIOC_G_CTRL = _iowr(27, 8)
VIDIOC_S_CTRL = _iowr(28, 8)
VIDIOC_QUERYCTRL = _iowr(36, 68)
VIDIOC_QUERYMENU = _iowr(37, 44)
VIDIOC_G_EDID = _iowr(40, 40)
VIDIOC_S_EDID = _iowr(41, 40)
NEXT_CTRL = 0x80000000


def edid_io(path, write=None):
    """VIDIOC_G_EDID (up to 4 blocks) or, with write=bytes, VIDIOC_S_EDID on pad 0."""
    import ctypes
    buf = ctypes.create_string_buffer(write if write is not None else bytes(512), 512)
    blocks = len(write) // 128 if write is not None else 4
    arg = bytearray(struct.pack("III5IQ", 0, 0, blocks, 0, 0, 0, 0, 0,
                                ctypes.addressof(buf)))
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.ioctl(fd, VIDIOC_S_EDID if write is not None else VIDIOC_G_EDID, arg)
    finally:
        os.close(fd)
    n = struct.unpack_from("III", arg)[2]
    return buf.raw[:n * 128]


def edid_fix_checksums(e):
    e = bytearray(e)
    for b in range(0, len(e), 128):
        e[b + 127] = (-sum(e[b:b + 127])) & 0xFF
    return bytes(e)


class V4l2Ctrls:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR)
        self.ctrls = {}
        cid = NEXT_CTRL
        while True:
            buf = bytearray(struct.pack("II32siiiiIII", cid, 0, b"", 0, 0, 0, 0, 0, 0, 0))
            try:
                fcntl.ioctl(self.fd, VIDIOC_QUERYCTRL, buf)
            except OSError:
                break
            cid, typ, name, mn, mx, _, _, _, _, _ = struct.unpack("II32siiiiIII", buf)
            self.ctrls[name.split(b"\0")[0].decode().lower()] = (cid, typ, mn, mx)
            cid |= NEXT_CTRL

    def close(self):
        os.close(self.fd)

    def menu(self, name):
        cid, _, mn, mx = self.ctrls[name.lower()]
        items = {}
        for i in range(mn, mx + 1):
            buf = bytearray(struct.pack("<II32sI", cid, i, b"", 0))
            try:
                fcntl.ioctl(self.fd, VIDIOC_QUERYMENU, buf)
            except OSError:
                continue
            items[buf[8:40].split(b"\0")[0].decode()] = i
        return items

    def set(self, name, value):
        cid = self.ctrls[name.lower()][0]
        fcntl.ioctl(self.fd, VIDIOC_S_CTRL, bytearray(struct.pack("Ii", cid, value)))


def jpeg_size(data):
    """(width, height) from a JPEG's SOFn marker."""
    if data[:2] != b"\xff\xd8":
        raise AssertionError("not a JPEG: %r" % data[:16])
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise AssertionError("bad JPEG marker at %d" % i)
        m = data[i + 1]
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            i += 2
            continue
        seglen = struct.unpack(">H", data[i + 2:i + 4])[0]
        if m in (0xC0, 0xC1, 0xC2, 0xC3):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + seglen
    raise AssertionError("no SOF marker in the JPEG")


# --- ISO 9660 ------------------------------------------------------------------------------------

def make_iso(label, sectors=32):
    """A small valid ISO 9660 image: primary volume descriptor, terminator, root directory."""
    img = bytearray(2048 * sectors)

    def both16(buf, off, v):
        struct.pack_into("<H", buf, off, v)
        struct.pack_into(">H", buf, off + 2, v)

    def both32(buf, off, v):
        struct.pack_into("<I", buf, off, v)
        struct.pack_into(">I", buf, off + 4, v)

    def dirrec(extent, name):
        r = bytearray(34)
        r[0] = 34
        both32(r, 2, extent)
        both32(r, 10, 2048)
        r[25] = 2
        both16(r, 28, 1)
        r[32] = 1
        r[33] = name
        return r

    pvd = bytearray(2048)
    pvd[0] = 1
    pvd[1:6] = b"CD001"
    pvd[6] = 1
    pvd[8:40] = b"LINUX".ljust(32)
    pvd[40:72] = label.encode().ljust(32)
    both32(pvd, 80, sectors)
    both16(pvd, 120, 1)
    both16(pvd, 124, 1)
    both16(pvd, 128, 2048)
    pvd[156:190] = dirrec(18, 0)
    pvd[881] = 1
    img[16 * 2048:17 * 2048] = pvd
    img[17 * 2048:17 * 2048 + 7] = b"\xffCD001\x01"
    img[18 * 2048:18 * 2048 + 34] = dirrec(18, 0)
    img[18 * 2048 + 34:18 * 2048 + 68] = dirrec(18, 1)
    return bytes(img)


# --- the checks ----------------------------------------------------------------------------------

USB_CFG = """\
[usb]
configfs = /sys/kernel/config
udc_dir = /sys/class/udc
luns = 2
"""


def write_cfg(text):
    path = "/tmp/gadget.ini"
    with open(path, "w") as f:
        f.write(text)
    return path


def c_gadget_up():
    udcs = os.listdir("/sys/class/udc")
    info("UDCs: %s" % udcs)
    cfg = write_cfg(USB_CFG)
    rc, out, err = run(IPKVMD, "--config", cfg, "gadget", "up")
    if rc != 0:
        raise AssertionError("gadget up exited %d: %s %s" % (rc, out, err))


def c_gadget_status():
    def status():
        rc, out, err = run(IPKVMD, "--config", "/tmp/gadget.ini", "gadget", "status")
        if rc != 0:
            raise AssertionError("gadget status exited %d: %s" % (rc, err))
        st = json.loads(out)
        return st if st.get("udc_state") == "configured" else None
    st = wait_for("udc_state configured", status, 30, 0.5)
    for k, v in (("exists", True), ("ours", True), ("bound", True), ("luns", 2)):
        if st.get(k) != v:
            raise AssertionError("status %s = %r, want %r: %s" % (k, st.get(k), v, st))
    if not str(st.get("udc", "")).startswith("dummy_udc"):
        raise AssertionError("udc %r" % st.get("udc"))


def c_enumerated():
    dev = wait_for("a host-side USB device with product %r" % PRODUCT, host_device, 30)
    man = read(os.path.join(USB_DEVICES, dev, "manufacturer"))
    if man != MANUFACTURER:
        raise AssertionError("manufacturer %r" % man)
    ifs = wait_for("5 interfaces", lambda: (lambda i: i if len(i) >= 5 else None)(
        interfaces(dev)), 20)
    classes = sorted(c for c, _, _ in ifs.values())
    if classes != ["03", "03", "03", "03", "08"]:
        raise AssertionError("interface classes %s, want 4 HID + 1 mass storage: %s"
                             % (classes, ifs))
    if ifs[0] != ("03", "01", "01"):
        raise AssertionError("interface 0 is %s, want a boot keyboard (03/01/01)" % (ifs[0],))
    disks = wait_for("a host-side SCSI device for each of the 2 LUNs", lambda: (
        lambda n: n if len(n) == 2 else None)(lun_nodes(dev, 0) + lun_nodes(dev, 1)), 30)
    serial = read(os.path.join(USB_DEVICES, dev, "serial"))
    info("host side: %s %r %r serial %r interfaces %s LUNs %s" % (dev, man, PRODUCT, serial,
                                                                   ifs, disks))
    DEVNUM[0] = read(os.path.join(USB_DEVICES, dev, "devnum"))
    return dev


DEVNUM = [None]


def c_gadget_kept(dev):
    """ipkvmd with [usb] setup = 1 finds our identical gadget and keeps it: no re-enumeration
    (the host-side device number would change)."""
    now = read(os.path.join(USB_DEVICES, dev, "devnum"))
    if now != DEVNUM[0]:
        raise AssertionError("host-side devnum %s -> %s: the gadget was rebuilt or rebound"
                             % (DEVNUM[0], now))


DAEMON_CFG = """\
[video]
source = none
[hid]
output = gadget
[msd]
drives = gadget
[atx]
driver = none
[usb]
setup = 1
configfs = /sys/kernel/config
udc_dir = /sys/class/udc
luns = 2
[log]
level = debug
"""


def c_daemon(cfg):
    d = harness.Daemon(IPKVMD, cfg, web_root=WEB_ROOT)
    s = d.admin()
    return d, s


def c_hid_online(s):
    st = wait_for("hid online", lambda: (lambda r: r if r.get("online") else None)(
        api(s, "GET", "/api/hid")), 20)
    if st.get("output") != "gadget":
        raise AssertionError("output %r" % st.get("output"))


def c_key_tap(s, dev):
    node = wait_for("keyboard event node", lambda: event_nodes(dev, 0), 20)[0]
    ev = EventDev(node)
    try:
        ev.drain()
        api(s, "POST", "/api/hid/key", {"code": "KeyA", "state": "tap"})
        got = ev.events(2)
        want = [(EV_KEY, 30, 1), (EV_KEY, 30, 0)]
        if got != want:
            raise AssertionError("%s: got %s, want %s" % (node, got, want))
        ev.drain()
        # Not Ctrl+Alt+Delete: the VM's own console keyboard would reboot the VM.
        api(s, "POST", "/api/hid/shortcut", {"keys": "ControlLeft+AltLeft+KeyT"})
        got = ev.events(6)
        want = [(EV_KEY, 29, 1), (EV_KEY, 56, 1), (EV_KEY, 20, 1),
                (EV_KEY, 20, 0), (EV_KEY, 56, 0), (EV_KEY, 29, 0)]
        if got != want:
            raise AssertionError("shortcut on %s: got %s, want %s" % (node, got, want))
    finally:
        ev.close()


def c_chords(s, dev):
    node = event_nodes(dev, 0)[0]
    ev = EventDev(node)
    try:
        # 7 keys within the boot report: 3 modifiers (bits) and 4 keys (slots).
        ev.drain()
        api(s, "POST", "/api/hid/shortcut",
            {"keys": "ControlLeft+ShiftLeft+AltLeft+KeyQ+KeyW+KeyE+KeyR"})
        codes = [29, 42, 56, 16, 17, 18, 19]
        want = [(EV_KEY, c, 1) for c in codes] + [(EV_KEY, c, 0) for c in reversed(codes)]
        got = ev.events(14)
        if got != want:
            raise AssertionError("7-key chord: got %s, want %s" % (got, want))
        # 7 non-modifier keys: the 7th makes the phantom state (ErrorRollOver in every slot),
        # which the host ignores: it sees 6 keys down and never the 7th.
        ev.drain()
        api(s, "POST", "/api/hid/shortcut", {"keys": "KeyA+KeyS+KeyD+KeyF+KeyG+KeyH+KeyJ"})
        codes = [30, 31, 32, 33, 34, 35]
        want = [(EV_KEY, c, 1) for c in codes] + [(EV_KEY, c, 0) for c in reversed(codes)]
        got = ev.events(12) + ev.events(1, timeout=1.0)
        if got != want:
            raise AssertionError("7 keys (phantom state): got %s, want %s" % (got, want))
    finally:
        ev.close()


def c_ws_keys(s, dev):
    """Keys through the event socket: the JSON key event and the binary input protocol; the
    host's Caps Lock LED comes back as a `hid` event."""
    node = event_nodes(dev, 0)[0]
    ev = EventDev(node, write=True)
    ws = s.ws(timeout=60)
    try:
        ws.recv_event("hello", timeout=30)
        ev.drain()
        ws.send_json({"event": "key", "data": {"code": "KeyB", "state": "press"}})
        ws.send_json({"event": "key", "data": {"code": "KeyB", "state": "release"}})
        code = b"KeyC"
        ws.send_frame(0x2, bytes([1, 1, len(code)]) + code)
        ws.send_frame(0x2, bytes([1, 0, len(code)]) + code)
        got = ev.events(4)
        want = [(EV_KEY, 48, 1), (EV_KEY, 48, 0), (EV_KEY, 46, 1), (EV_KEY, 46, 0)]
        if got != want:
            raise AssertionError("got %s, want %s" % (got, want))
        ev.write(EV_LED, 1, 1)
        deadline = time.monotonic() + 15
        while True:
            e = ws.recv_event("hid", timeout=max(0.1, deadline - time.monotonic()))
            if e["leds"]["caps"] is True:
                break
        ev.write(EV_LED, 1, 0)
    finally:
        ws.close_socket()
        ev.close()


def c_paste_jp(s, dev):
    node = event_nodes(dev, 0)[0]
    ev = EventDev(node)
    try:
        ev.drain()
        r = api(s, "POST", "/api/hid/type", {"text": "\\_|@[]", "layout": "jp"})
        if r.get("untyped"):
            raise AssertionError("untyped: %s" % r["untyped"])
        RO, YEN, SHIFT = 89, 124, 42
        want = [RO, SHIFT, RO, SHIFT, YEN, 26, 27, 43]
        got = ev.events(2 * len(want), timeout=20)
        presses = [c for t, c, v in got if t == EV_KEY and v == 1]
        if presses != want:
            raise AssertionError("presses %s, want %s (all events %s)" % (presses, want, got))
        down = set()
        for t, c, v in got:
            (down.add if v else down.discard)(c)
        if down:
            raise AssertionError("still held after the paste: %s" % sorted(down))
    finally:
        ev.close()


def c_caps_led(s, dev):
    node = event_nodes(dev, 0)[0]
    ev = EventDev(node, write=True)
    try:
        ev.write(EV_LED, 1, 1)  # LED_CAPSL on
        wait_for("leds.caps true in GET /api/hid",
                 lambda: api(s, "GET", "/api/hid")["leds"]["caps"] is True, 15)
        ev.write(EV_LED, 1, 0)
        wait_for("leds.caps false in GET /api/hid",
                 lambda: api(s, "GET", "/api/hid")["leds"]["caps"] is False, 15)
    finally:
        ev.close()


def c_mouse(s, dev):
    rel = EventDev(wait_for("relative mouse node", lambda: event_nodes(dev, 2), 20)[0])
    absm = EventDev(wait_for("absolute mouse node", lambda: event_nodes(dev, 1), 20)[0])
    try:
        rel.drain()
        absm.drain()
        api(s, "POST", "/api/hid/mouse", {"dx": 10, "dy": -5})
        got = rel.events(2)
        if sorted(got) != [(EV_REL, 0, 10), (EV_REL, 1, -5)]:
            raise AssertionError("relative: got %s on %s" % (got, rel.path))
        api(s, "POST", "/api/hid/mouse", {"x": 16384, "y": 8192})
        got = absm.events(2)
        if sorted(got) != [(EV_ABS, 0, 16384), (EV_ABS, 1, 8192)]:
            raise AssertionError("absolute: got %s on %s" % (got, absm.path))
    finally:
        rel.close()
        absm.close()


def c_msd_cd(s, dev):
    label = "IPKVM BENCH"
    # f_mass_storage refuses a CD-ROM image under 300 sectors of 2048 bytes (-ETOOSMALL).
    iso = make_iso(label, sectors=320)
    r = s.request("PUT", "/api/msd/images/bench.iso", body=iso,
                  headers={"Content-Type": "application/octet-stream"})
    if r.status != 201:
        raise AssertionError("upload: %d %s" % (r.status, r.body[:300]))
    api(s, "POST", "/api/msd/drives/0/attach", {"image": "bench.iso", "cdrom": True})

    def label_read():
        # After the attach the gadget is unplugged and plugged in again (the drive type
        # changed): wait for the CD-ROM node of the new enumeration.
        for node in lun_nodes(dev, 0):
            if not os.path.basename(node).startswith("sr"):
                continue
            try:
                fd = os.open(node, os.O_RDONLY)
            except OSError:
                continue
            try:
                return node, os.pread(fd, 32, 32768 + 40)
            finally:
                os.close(fd)
        return None
    try:
        node, got = wait_for("drive 0 readable on the host side", label_read, 30, 0.5)
    except AssertionError as e:
        raise AssertionError("%s; host block devices: %s" % (e, block_report()))
    if got.decode("ascii", "replace").rstrip() != label:
        raise AssertionError("%s volume label %r, want %r" % (node, got, label))
    info("%s reads the ISO's label %r" % (node, label))
    return node


def c_msd_cd_type(node):
    """The host must see a CD-ROM (SCSI type 5, /dev/srN) once an image is attached as one."""
    typ = read("/sys/block/%s/device/type" % os.path.basename(node))
    if not os.path.basename(node).startswith("sr") or typ != "5":
        raise AssertionError("drive 0 attached as CD-ROM shows on the host as %s, SCSI type %s "
                             "(the host read the LUN's type when it enumerated the gadget; "
                             "ipkvmd sets cdrom=1 later without re-enumerating)" % (node, typ))


def c_msd_small_cd(s):
    """The kernel refuses CD-ROM images under 300 sectors; ipkvmd says so before trying."""
    r = s.request("PUT", "/api/msd/images/small.iso", body=make_iso("SMALL", sectors=32),
                  headers={"Content-Type": "application/octet-stream"})
    if r.status != 201:
        raise AssertionError("upload: %d %s" % (r.status, r.body[:300]))
    r = s.request("POST", "/api/msd/drives/1/attach", body={"image": "small.iso", "cdrom": True})
    if r.status != 400 or b"600 KiB" not in r.body:
        raise AssertionError("attach of a 64 KiB ISO as CD: %d %s" % (r.status, r.body[:300]))
    api(s, "DELETE", "/api/msd/images/small.iso")


def lun_nodes(dev, lun):
    """Host-side /dev/srN and /dev/sdX of one LUN of our mass-storage interface."""
    out = []
    for b in sorted(glob.glob("/sys/block/s[dr]*")):
        real = os.path.realpath(os.path.join(b, "device"))
        if "/%s:1." % dev in real and real.rsplit(":", 1)[1] == str(lun):
            out.append("/dev/" + os.path.basename(b))
    return out


def block_report():
    out = {}
    for b in sorted(glob.glob("/sys/block/s[dr]*")):
        name = os.path.basename(b)
        ent = {"size": read(b + "/size"), "type": read(b + "/device/type"),
               "dev": os.path.realpath(b + "/device").split("/")[-1]}
        try:
            fd = os.open("/dev/" + name, os.O_RDONLY)
            try:
                ent["at32808"] = os.pread(fd, 32, 32768 + 40)
            finally:
                os.close(fd)
        except OSError as e:
            ent["error"] = e.strerror
        ent["size_after_open"] = read(b + "/size")
        out[name] = ent
    return out


def c_msd_eject(s, node):
    # The host holds the drive open, so it has locked the medium (PREVENT MEDIUM REMOVAL):
    # the plain eject gets EBUSY and ipkvmd must use forced_eject.
    held = os.open(node, os.O_RDONLY)
    try:
        api(s, "POST", "/api/msd/drives/0/eject")
    finally:
        os.close(held)
    st = api(s, "GET", "/api/msd")
    if st["drives"][0]["image"] is not None:
        raise AssertionError("drive 0 still holds %r" % st["drives"][0]["image"])

    def gone():
        try:
            fd = os.open(node, os.O_RDONLY)
        except OSError as e:
            return "open: %s" % e.strerror
        try:
            os.pread(fd, 2048, 32768)
            return None
        except OSError as e:
            return "read: %s" % e.strerror
        finally:
            os.close(fd)
    info("after eject, %s: %s" % (node, wait_for("the medium gone", gone, 20, 0.5)))


def c_msd_flash(s, dev):
    img = bytes(1024 * 1024)
    r = s.request("PUT", "/api/msd/images/flash.img", body=img,
                  headers={"Content-Type": "application/octet-stream"})
    if r.status != 201:
        raise AssertionError("upload: %d %s" % (r.status, r.body[:300]))
    api(s, "POST", "/api/msd/drives/1/attach", {"image": "flash.img", "cdrom": False,
                                                  "rw": True})
    msd = api(s, "GET", "/api/msd")
    path = msd["drives"][1]["path"]

    def sized_disk():
        for node in block_nodes(dev, "sd"):
            try:  # an open makes sd notice the new medium (udev would do it on a full system)
                os.close(os.open(node, os.O_RDONLY))
            except OSError:
                pass
            size = read("/sys/block/%s/size" % os.path.basename(node), "0")
            if int(size) * 512 == len(img):
                return node
        return None
    try:
        node = wait_for("a host-side /dev/sdX of 1 MiB", sized_disk, 30, 0.5)
    except AssertionError as e:
        raise AssertionError("%s; block devices: %s" % (e, {
            os.path.basename(b): (read(b + "/size"), os.path.realpath(b + "/device"))
            for b in glob.glob("/sys/block/s[dr]*")}))
    fd = os.open(node, os.O_RDWR | os.O_SYNC)
    try:
        os.pwrite(fd, b"written by the host side", 4096)
        os.fsync(fd)
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        f.seek(4096)
        got = f.read(24)
    if got != b"written by the host side":
        raise AssertionError("%s: the image holds %r at 4096 after the host wrote" % (path, got))
    api(s, "POST", "/api/msd/drives/1/eject")
    info("%s wrote through to %s" % (node, path))


VIDEO_CFG = """\
[video]
source = v4l2
device = /dev/video0
edid = 1080p60
[hid]
output = none
[msd]
drives = none
[atx]
driver = none
[log]
level = debug
"""


def streamer(s):
    return api(s, "GET", "/api/streamer")


def c_vivid_setup():
    if not os.path.exists("/dev/video0"):
        raise AssertionError("no /dev/video0 (vivid)")
    c = V4l2Ctrls("/dev/video0")
    modes = c.menu("DV Timings Signal Mode")
    timings = c.menu("DV Timings")
    info("vivid: %d DV timings presets; signal modes %s" % (len(timings), sorted(modes)))
    # A marked copy of vivid's own EDID, so that ipkvmd's [video] edid = 1080p60 shows.
    own = edid_io("/dev/video0")
    marked = bytearray(own)
    marked[12:16] = b"\x42\x45\x4e\x43"
    edid_io("/dev/video0", edid_fix_checksums(marked))
    c.set("DV Timings", timings["1920x1080p60"])
    c.set("DV Timings Signal Mode", modes["Selected DV Timings"])
    return c, modes, timings


def c_video_live(s, want_w, want_h):
    def live():
        st = streamer(s)
        sig = st["signal"]
        return st if (sig["state"], sig["width"], sig["height"]) == ("ok", want_w, want_h) \
            else None
    st = wait_for("signal ok at %dx%d" % (want_w, want_h), live, 40, 0.5)
    r = s.request("GET", "/api/streamer/snapshot")
    if r.status != 200:
        raise AssertionError("snapshot: %d %s" % (r.status, r.body[:200]))
    w, h = jpeg_size(r.body)
    if (w, h) != (want_w, want_h):
        raise AssertionError("snapshot is %dx%d, want %dx%d" % (w, h, want_w, want_h))
    info("streamer: %s" % json.dumps({k: st[k] for k in ("signal", "format", "capture_fps")}))


def c_edid():
    e = edid_io("/dev/video0")
    if len(e) < 128 or e[:8] != b"\x00\xff\xff\xff\xff\xff\xff\x00":
        raise AssertionError("no EDID on vivid's input: %r" % e[:16])
    if e[12:16] == b"BENC":
        raise AssertionError("vivid still holds the EDID set before ipkvmd started")
    for b in range(0, len(e), 128):
        if sum(e[b:b + 128]) & 0xFF:
            raise AssertionError("EDID block %d: bad checksum" % (b // 128))
    clock = struct.unpack_from("<H", e, 54)[0] * 10  # kHz
    w = e[56] | (e[58] & 0xF0) << 4
    h = e[59] | (e[61] & 0xF0) << 4
    if (clock, w, h) != (148500, 1920, 1080):
        raise AssertionError("first detailed timing %d kHz %dx%d, want 148500 kHz 1920x1080"
                             % (clock, w, h))
    info("EDID on vivid: %d blocks, preferred 1920x1080 at 148.5 MHz" % (len(e) // 128))


def c_video_no_signal(s, ctrls, modes):
    ctrls.set("DV Timings Signal Mode", modes["No Signal"])
    wait_for("signal no_signal", lambda: streamer(s)["signal"]["state"] == "no_signal", 30, 0.5)
    r = s.request("GET", "/api/streamer/snapshot")
    if r.status != 200:
        raise AssertionError("placeholder snapshot: %d %s" % (r.status, r.body[:200]))
    jpeg_size(r.body)


# --- the hardware JPEG encoder's M2M plumbing on vim2m ----------------------------------------
# vim2m (built out of tree by vim2m.sh) is a mem2mem format converter, not a JPEG encoder:
# m2m-probe drives ipkvmd's plumbing (video/jpeg_m2m.c) through it with a raw CAPTURE format,
# and ipkvmd itself, asked for a JPEG encoder there, must refuse it and encode in software.

M2M_PROBE = "/ipkvm/m2m-probe"


def vim2m_node():
    for n in sorted(glob.glob("/sys/class/video4linux/video*")):
        if read(os.path.join(n, "name")) == "vim2m":
            return "/dev/" + os.path.basename(n)
    return None


def vim2m_pdev():
    devs = [os.path.basename(p) for p in glob.glob("/sys/bus/platform/drivers/vim2m/vim2m*")]
    if not devs:
        raise AssertionError("no vim2m platform device bound to its driver")
    return devs[0]


def c_vim2m_convert(node):
    rc, out, err = run(M2M_PROBE, node, "8", timeout=120)
    if rc != 0:
        raise AssertionError("m2m-probe exited %d: %s %s" % (rc, out[-500:], err[-800:]))
    got = json.loads(out.strip().splitlines()[-1])
    want = {"card": "vim2m", "mplane": False, "yuyv_in_as": "RGB3", "rgb24_in_as": "RGB3",
            "out": "BGR3", "bytes": 320 * 240 * 3, "ok": 16, "failed": 0}
    for k, v in want.items():
        if got.get(k) != v:
            raise AssertionError("m2m-probe %s = %r, want %r: %s" % (k, got.get(k), v, got))
    info("vim2m through jpeg_m2m: %s" % json.dumps(got))


def c_vim2m_unbind_mid_stream(node):
    """The hardware choice (mode v4l2) on vim2m: unbinding the driver mid-stream sends the
    frames to software at once (none lost); after the rebind it is used again."""
    p = subprocess.Popen([M2M_PROBE, node, "--hw", "18"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    pdev = vim2m_pdev()
    time.sleep(4)
    write("/sys/bus/platform/drivers/vim2m/unbind", pdev)
    time.sleep(4)
    write("/sys/bus/platform/drivers/vim2m/bind", pdev)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("m2m-probe --hw did not end")
    if vim2m_node() != node:
        raise AssertionError("vim2m came back as %r, not %s" % (vim2m_node(), node))
    lines = [ln.split(" ", 4) for ln in out.splitlines() if ln.startswith("frame ")]
    kinds = [ln[2] for ln in lines]
    # phases: v4l2 ..., software ..., v4l2 ...
    phases = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    summary = json.loads(out.strip().splitlines()[-1])
    reasons = sorted({ln[4] for ln in lines if len(ln) > 4 and ln[2] == "software"})
    info("m2m-probe --hw: %s, phases %s, reasons %s" % (json.dumps(summary), phases,
                                                        reasons[:3]))
    if p.returncode != 0 or summary.get("lost") != 0:
        raise AssertionError("frames lost: %s %s" % (summary, err[-800:]))
    if phases != ["v4l2", "software", "v4l2"]:
        raise AssertionError("encoder phases %s, want v4l2, software, v4l2" % phases)
    if not any("failed on a 320x240 yuyv frame" in r for r in reasons):
        raise AssertionError("no mid-stream failure reason among %s" % reasons)


VIM2M_DAEMON_CFG = """\
[video]
source = pattern
scene = testcard
width = 320
height = 240
fps = 10
[jpeg]
encoder = v4l2
device = %s
[hid]
output = none
[msd]
drives = none
[atx]
driver = none
[log]
level = debug
"""


def wait_reason(s, text, timeout):
    """Asks for a picture on every poll: the device is tried again only when a frame is to be
    encoded, and nothing is encoded while nobody watches."""
    def got():
        snapshot_320(s)
        st = streamer(s)
        return st if st["encoder"] == "software" and text in st["encoder_reason"] else None
    return wait_for("encoder software, reason with %r" % text, got, timeout, 0.5)


def snapshot_320(s):
    r = s.request("GET", "/api/streamer/snapshot")
    if r.status != 200:
        raise AssertionError("snapshot: %d %s" % (r.status, r.body[:200]))
    if jpeg_size(r.body) != (320, 240):
        raise AssertionError("snapshot is %dx%d" % jpeg_size(r.body))


def c_vim2m_daemon(node):
    """ipkvmd with [jpeg] encoder = v4l2 on vim2m: not a JPEG encoder, so software JPEGs
    and the reason; with the module unloaded (the node gone) the reason follows."""
    d = harness.Daemon(IPKVMD, VIM2M_DAEMON_CFG % node, web_root=WEB_ROOT)
    try:
        s = d.admin()
        st = wait_reason(s, "no V4L2 JPEG encoder at %s: vim2m does not produce JPEG" % node,
                         30)
        snapshot_320(s)
        info("encoder %s: %s" % (st["encoder"], st["encoder_reason"]))
        rc, out, err = run("rmmod", "vim2m_bench")
        if rc != 0:
            raise AssertionError("rmmod vim2m_bench: %s" % err)
        st = wait_reason(s, "no V4L2 JPEG encoder at %s: No such file or directory" % node, 40)
        snapshot_320(s)
        info("after rmmod: %s" % st["encoder_reason"])
    finally:
        problems = d.teardown()
        run("insmod", "/modules/vim2m_bench.ko")
    if problems:
        raise AssertionError("daemon teardown: %s" % " ".join(problems))


def vim2m_checks():
    node = check("vim2m loaded: a mem2mem node", lambda: wait_for("a vim2m node", vim2m_node, 10))
    if not node:
        return
    check("vim2m: ipkvmd's M2M plumbing converts frames (formats, buffers, bytes)",
          c_vim2m_convert, node)
    check("vim2m unbound mid-stream: software at once, the device again after the rebind",
          c_vim2m_unbind_mid_stream, node, limit=120)
    check("ipkvmd, [jpeg] encoder = v4l2 on vim2m and after rmmod: software JPEGs, reason",
          c_vim2m_daemon, node, limit=150)


# --- kill -9 of ipkvmd and a restart (BENCH_KILL9=1) ---------------------------------------------

def lun_files():
    """{lun: {"file", "cdrom", "ro"}} as the kernel holds them in our gadget's mass-storage
    function."""
    dirs = glob.glob("/sys/kernel/config/usb_gadget/*/functions/mass_storage.*")
    if len(dirs) != 1:
        raise AssertionError("mass-storage functions in configfs: %s" % dirs)
    out = {}
    for p in sorted(glob.glob(dirs[0] + "/lun.*")):
        n = int(p.rsplit(".", 1)[1])
        out[n] = {"file": read(p + "/file"), "cdrom": read(p + "/cdrom"), "ro": read(p + "/ro")}
    return out


def drives_match_luns(drives, luns):
    """Raises unless every drive of GET /api/msd says what the kernel's LUN files hold."""
    if sorted(luns) != [dr["lun"] for dr in drives]:
        raise AssertionError("drives %s, LUNs %s" % ([dr["lun"] for dr in drives], sorted(luns)))
    for dr in drives:
        lf = luns[dr["lun"]]
        if not lf["file"]:
            want = (None, None)
            got = (dr["image"], dr["path"])
        else:
            want = (os.path.realpath(lf["file"]), lf["cdrom"] == "1", lf["ro"] == "0",
                    os.path.basename(lf["file"]))
            got = (os.path.realpath(dr["path"] or ""), dr["cdrom"], dr["rw"], dr["image"])
        if got != want:
            raise AssertionError("drive %d: API %s, kernel %s" % (dr["lun"], dr, lf))


def sr_label(dev, lun):
    for node in lun_nodes(dev, lun):
        if not os.path.basename(node).startswith("sr"):
            continue
        try:
            fd = os.open(node, os.O_RDONLY)
        except OSError:
            continue
        try:
            return node, os.pread(fd, 32, 32768 + 40).decode("ascii", "replace").rstrip()
        except OSError:
            return None
        finally:
            os.close(fd)
    return None


def sized_disk(dev, lun, size):
    for node in lun_nodes(dev, lun):
        if not os.path.basename(node).startswith("sd"):
            continue
        try:
            os.close(os.open(node, os.O_RDONLY))
        except OSError:
            pass
        if int(read("/sys/block/%s/size" % os.path.basename(node), "0")) * 512 == size:
            return node
    return None


def host_write(node, path, off, data):
    """Writes data at off on the host-side block device; checks it reached the image file."""
    fd = os.open(node, os.O_RDWR | os.O_SYNC)
    try:
        os.pwrite(fd, data, off)
        os.fsync(fd)
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        f.seek(off)
        got = f.read(len(data))
    if got != data:
        raise AssertionError("%s: the image holds %r at %d after the host wrote %r"
                             % (path, got, off, data))


FLASH_SIZE = 1024 * 1024


def c_kill9_attach(s, dev):
    """Two drives attached for the restart: the ISO as CD on drive 0, a flash image read-write
    on drive 1, both seen by the host."""
    have = {i["name"] for i in api(s, "GET", "/api/msd")["images"]}
    for name, body in (("bench.iso", make_iso("IPKVM BENCH", sectors=320)),
                       ("flash.img", bytes(FLASH_SIZE))):
        if name not in have:
            r = s.request("PUT", "/api/msd/images/" + name, body=body,
                          headers={"Content-Type": "application/octet-stream"})
            if r.status != 201:
                raise AssertionError("upload %s: %d %s" % (name, r.status, r.body[:300]))
    api(s, "POST", "/api/msd/drives/0/attach", {"image": "bench.iso", "cdrom": True})
    api(s, "POST", "/api/msd/drives/1/attach", {"image": "flash.img", "cdrom": False,
                                                  "rw": True})
    dev = wait_for("host device", host_device, 20)
    node0, label = wait_for("drive 0 readable as CD on the host", lambda: sr_label(dev, 0),
                            30, 0.5)
    if label != "IPKVM BENCH":
        raise AssertionError("%s label %r" % (node0, label))
    node1 = wait_for("drive 1 as a 1 MiB disk on the host",
                     lambda: sized_disk(dev, 1, FLASH_SIZE), 30, 0.5)
    msd = api(s, "GET", "/api/msd")
    drives_match_luns(msd["drives"], lun_files())
    before = {"dev": dev, "devnum": read(os.path.join(USB_DEVICES, dev, "devnum")),
              "drives": msd["drives"], "luns": lun_files(), "nodes": (node0, node1)}
    info("before kill -9: host %s devnum %s, %s and %s; drives %s"
         % (dev, before["devnum"], node0, node1,
            [(x["image"], x["cdrom"], x["rw"]) for x in msd["drives"]]))
    return before


def c_kill9_gadget_stays(d, before):
    """SIGKILL: nothing of ipkvmd runs, the gadget stays bound and the host keeps the
    drives (the kernel holds the LUN files, not the daemon)."""
    os.kill(d.proc.pid, signal.SIGKILL)
    rc = d.proc.wait(timeout=10)
    if rc != -signal.SIGKILL:
        raise AssertionError("ipkvmd exit status %r after SIGKILL" % rc)
    rc, out, err = run(IPKVMD, "--config", "/tmp/gadget.ini", "gadget", "status")
    st = json.loads(out) if rc == 0 else {}
    if not (st.get("bound") and st.get("udc_state") == "configured"):
        raise AssertionError("gadget status after kill -9: rc %d %s %s" % (rc, out, err))
    if lun_files() != before["luns"]:
        raise AssertionError("LUN files %s, before %s" % (lun_files(), before["luns"]))
    now = read(os.path.join(USB_DEVICES, before["dev"], "devnum"))
    if now != before["devnum"]:
        raise AssertionError("host-side devnum %s -> %s" % (before["devnum"], now))


def c_kill9_restart(d, before):
    """The restarted daemon (same config and state) keeps the gadget as it is (no replug),
    and GET /api/msd shows the drives the kernel holds."""
    d.start()
    s = d.admin()
    msd = api(s, "GET", "/api/msd")
    luns = lun_files()
    drives_match_luns(msd["drives"], luns)
    if luns != before["luns"]:
        raise AssertionError("LUN files %s, before the kill %s" % (luns, before["luns"]))
    strip = [{k: x[k] for k in ("lun", "image", "cdrom", "rw")} for x in msd["drives"]]
    want = [{k: x[k] for k in ("lun", "image", "cdrom", "rw")} for x in before["drives"]]
    if strip != want:
        raise AssertionError("drives %s, before the kill %s" % (strip, want))
    dev = wait_for("host device", host_device, 20)
    now = read(os.path.join(USB_DEVICES, dev, "devnum"))
    if (dev, now) != (before["dev"], before["devnum"]):
        raise AssertionError("host device %s devnum %s, before %s devnum %s: the restart "
                             "re-enumerated the gadget" % (dev, now, before["dev"],
                                                          before["devnum"]))
    return s, msd


def c_kill9_host_side(s, dev, before, msd):
    """After the restart the host still reads the CD and writes through to the flash image;
    typing still arrives."""
    node0, label = wait_for("drive 0 readable", lambda: sr_label(dev, 0), 20, 0.5)
    if label != "IPKVM BENCH":
        raise AssertionError("%s label %r" % (node0, label))
    node1 = wait_for("drive 1 a 1 MiB disk", lambda: sized_disk(dev, 1, FLASH_SIZE), 20, 0.5)
    host_write(node1, msd["drives"][1]["path"], 8192, b"after kill -9")
    wait_for("hid online", lambda: api(s, "GET", "/api/hid").get("online"), 20)
    c_key_tap(s, dev)


def c_kill9_eject(s):
    """The restarted daemon ejects drives attached by its predecessor."""
    for n in (0, 1):
        api(s, "POST", "/api/msd/drives/%d/eject" % n)
    luns = lun_files()
    if luns[0]["file"] or luns[1]["file"]:
        raise AssertionError("LUN files after eject: %s" % luns)
    drives_match_luns(api(s, "GET", "/api/msd")["drives"], luns)


def c_kill9_hold_key(s, ev):
    ev.drain()
    api(s, "POST", "/api/hid/key", {"code": "ShiftLeft", "state": "press"})
    got = ev.events(1)
    if got != [(EV_KEY, 42, 1)]:
        raise AssertionError("ShiftLeft press: got %s" % got)


def c_kill9_key_released(ev):
    """A key held when ipkvmd was killed must not stay held on the target: the restarted
    daemon's first keyboard report (all keys up) has to reach the host without any input."""
    got = ev.events(1, timeout=10)
    if got != [(EV_KEY, 42, 0)]:
        raise AssertionError("ShiftLeft was held when ipkvmd was killed; 10 s after the "
                             "restart the host saw %s, want its release (42, 0): the key "
                             "stays held on the target until the next keystroke" % got)


def c_kill9_unbound(d, before):
    """kill -9 between the unbind and the bind of a replug (as a CD attach does) leaves the
    gadget unbound: the restart binds it again and the drives are as the kernel held them."""
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait(timeout=10)
    udc = glob.glob("/sys/kernel/config/usb_gadget/*/UDC")
    if len(udc) != 1:
        raise AssertionError("gadgets: %s" % udc)
    write(udc[0], "\n")
    wait_for("the host device gone", lambda: host_device() is None, 20)
    d.start()
    s = d.admin()
    dev = wait_for("the host enumerates the gadget again", host_device, 30)
    rc, out, err = run(IPKVMD, "--config", "/tmp/gadget.ini", "gadget", "status")
    st = json.loads(out) if rc == 0 else {}
    if not st.get("bound"):
        raise AssertionError("gadget status after the restart: rc %d %s %s" % (rc, out, err))
    luns = lun_files()
    if luns != before["luns"]:
        raise AssertionError("LUN files %s, before %s" % (luns, before["luns"]))
    drives_match_luns(api(s, "GET", "/api/msd")["drives"], luns)
    node0, label = wait_for("drive 0 readable as CD", lambda: sr_label(dev, 0), 30, 0.5)
    if label != "IPKVM BENCH":
        raise AssertionError("%s label %r" % (node0, label))
    wait_for("drive 1 a 1 MiB disk", lambda: sized_disk(dev, 1, FLASH_SIZE), 30, 0.5)
    wait_for("hid online", lambda: api(s, "GET", "/api/hid").get("online"), 20)
    c_key_tap(s, dev)
    return s


def kill9_checks(d, s, dev):
    """Returns the session of the restarted daemon (or None)."""
    before = check("kill -9 setup: CD on drive 0, flash rw on drive 1, host sees both",
                   c_kill9_attach, s, dev)
    if not before:
        return None
    ev = EventDev(wait_for("keyboard event node", lambda: event_nodes(before["dev"], 0), 20)[0])
    try:
        held = check("kill -9 setup: ShiftLeft held on the host", c_kill9_hold_key, s, ev)
        if not check("kill -9: gadget stays bound, host keeps the drives, LUN files unchanged",
                     c_kill9_gadget_stays, d, before):
            return None
        r = check("restart after kill -9: gadget kept (no replug), GET /api/msd = LUN files",
                  c_kill9_restart, d, before)
        if held and r:
            check("restart after kill -9 releases the key held on the host",
                  c_kill9_key_released, ev)
    finally:
        ev.close()
    if not r:
        return None
    s, msd = r
    check("after the restart the host reads the CD, writes the flash image, gets keys",
          c_kill9_host_side, s, before["dev"], before, msd)
    s2 = check("kill -9 with the gadget left unbound: restart binds it, drives kept",
               c_kill9_unbound, d, before)
    if s2:
        s = s2
    check("the restarted daemon ejects both drives", c_kill9_eject, s)
    return s


# --- ATX on gpio-sim lines (BENCH_GPIO=1) --------------------------------------------------------

GPIO_SIM = "/sys/kernel/config/gpio-sim"
ATX_LINES = ("ATX_PWR_BTN", "ATX_RST_BTN", "ATX_PWR_LED", "ATX_HDD_LED")
PWR_BTN, RST_BTN, PWR_LED, HDD_LED = range(4)
CLICK_MS = 1000


def write(path, value):
    with open(path, "w") as f:
        f.write(value)


class GpioSim:
    """A gpio-sim chip made through configfs: one bank of named lines. The sim side of a line
    is sysfs sim_gpioN: `value` reads what a consumer drives on an output (or the pull on an
    input), `pull` (pull-up/pull-down) is what the outside world does to an input."""

    def __init__(self, name, lines):
        self.dir = os.path.join(GPIO_SIM, name)
        bank = os.path.join(self.dir, "bank0")
        os.mkdir(self.dir)
        os.mkdir(bank)
        write(bank + "/label", name)
        write(bank + "/num_lines", str(len(lines)))
        for i, n in enumerate(lines):
            os.mkdir("%s/line%d" % (bank, i))
            write("%s/line%d/name" % (bank, i), n)
        write(self.dir + "/live", "1")
        self.dev = read(self.dir + "/dev_name")
        self.chip = read(bank + "/chip_name")
        self.sysfs = "/sys/devices/platform/%s/%s" % (self.dev, self.chip)
        if not os.path.isdir(self.sysfs):
            raise AssertionError("live, but no %s" % self.sysfs)

    def path(self, line, attr):
        return "%s/sim_gpio%d/%s" % (self.sysfs, line, attr)

    def value(self, line):
        return int(read(self.path(line, "value")))

    def pull(self, line, up):
        write(self.path(line, "pull"), "pull-up" if up else "pull-down")


class LineSampler:
    """Samples sim_gpioN/value of some lines in a thread as fast as it can and keeps each
    line's changes as (monotonic time, value)."""

    def __init__(self, sim, lines):
        import threading
        self.fds = {n: os.open(sim.path(n, "value"), os.O_RDONLY) for n in lines}
        self.changes = {n: [(time.monotonic(), self._read(n))] for n in lines}
        self.samples = 0
        self.max_gap = 0.0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self, n):
        return int(os.pread(self.fds[n], 8, 0).strip() or b"-1")

    def _run(self):
        last_t = time.monotonic()
        while not self.stopping:
            for n, fd in self.fds.items():
                v = self._read(n)
                if v != self.changes[n][-1][1]:
                    self.changes[n].append((time.monotonic(), v))
            t = time.monotonic()
            self.max_gap = max(self.max_gap, t - last_t)
            last_t = t
            self.samples += 1

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        for fd in self.fds.values():
            os.close(fd)

    def pulses(self, n):
        """[(start, width in ms)] of the high pulses seen on line n; a pulse still high at the
        end has width None."""
        out = []
        ch = self.changes[n]
        for i, (t, v) in enumerate(ch):
            if v == 1 and (i == 0 or ch[i - 1][1] != 1):
                end = ch[i + 1][0] if i + 1 < len(ch) else None
                out.append((t, None if end is None else (end - t) * 1000.0))
        return out

    def describe(self):
        return "%d samples, largest gap %.1f ms" % (self.samples, self.max_gap * 1000.0)


def expect_pulse(sampler, line, ms, what, settle):
    """Waits for the press on `line` to end, then checks there was exactly one high pulse of
    about `ms` on it; returns its width."""
    wait_for("%s released" % what,
             lambda: sampler.changes[line][-1][1] == 0 and len(sampler.changes[line]) >= 3,
             (ms + settle) / 1000.0 + 10, 0.05)
    p = sampler.pulses(line)
    if len(p) != 1 or p[0][1] is None:
        raise AssertionError("%s: pulses %s, want one of %d ms (%s)"
                             % (what, p, ms, sampler.describe()))
    width = p[0][1]
    slack = sampler.max_gap * 1000.0 + 5
    # Under TCG the daemon's timer may fire late, never early.
    if not ms - slack <= width <= ms + settle:
        raise AssertionError("%s: high for %.0f ms, want %d ms (-%.0f/+%d) (%s)"
                             % (what, width, ms, slack, settle, sampler.describe()))
    return width


ATX_CFG = """\
[video]
source = none
[hid]
output = none
[msd]
drives = none
[atx]
driver = gpio
chip = %s
power_button = ATX_PWR_BTN
reset_button = ATX_RST_BTN
power_led = ATX_PWR_LED
hdd_led = ATX_HDD_LED
click_ms = %d
[log]
level = debug
"""


def c_gpio_sim():
    if not os.path.isdir(GPIO_SIM):
        raise AssertionError("no %s: gpio-sim is not loaded (see the insmod lines)" % GPIO_SIM)
    sim = GpioSim("ipkvm-bench-atx", ATX_LINES)
    if not os.path.exists("/dev/" + sim.chip):
        raise AssertionError("no /dev/%s" % sim.chip)
    vals = [sim.value(i) for i in range(len(ATX_LINES))]
    info("gpio-sim: %s %s (%s), lines %s, values %s" % (sim.dev, sim.chip, sim.sysfs,
                                                        list(ATX_LINES), vals))
    return sim


def atx_state(s):
    return api(s, "GET", "/api/atx")


def c_atx_state(s, sim):
    st = atx_state(s)
    if st.get("driver") != "gpio":
        raise AssertionError("driver %r: %s" % (st.get("driver"), st))
    if st.get("wired") != {"power_led": True, "hdd_led": True}:
        raise AssertionError("wired %r" % st.get("wired"))
    if st.get("leds") != {"power": False, "hdd": False} or st.get("busy") is not False:
        raise AssertionError("state %s, want both LEDs off and not busy" % st)
    if st.get("config", {}).get("click_ms") != CLICK_MS:
        raise AssertionError("config %r" % st.get("config"))
    vals = [sim.value(i) for i in (PWR_BTN, RST_BTN)]
    if vals != [0, 0]:
        raise AssertionError("button lines read %s from the sim side, want released [0, 0]"
                             % vals)


def c_atx_click(s, sim, button, line, other):
    smp = LineSampler(sim, (line, other))
    try:
        time.sleep(0.05)
        r = api(s, "POST", "/api/atx/click", {"button": button})
        # While the button is held: busy, and every other press is refused.
        st = atx_state(s)
        busy = (st.get("busy"), st.get("action"))
        r2 = s.request("POST", "/api/atx/click", body={"button": "power"})
        r3 = s.request("POST", "/api/atx/power", body={"action": "on"})
        width = expect_pulse(smp, line, CLICK_MS, "%s button line" % button, 1500)
    finally:
        smp.stop()
    if busy != (True, "click " + button):
        raise AssertionError("during the press GET /api/atx said busy=%r action=%r (response "
                             "to the click: %s)" % (busy + (r,)))
    for what, rr in (("click", r2), ("power on", r3)):
        if rr.status != 409 or b"conflict" not in rr.body:
            raise AssertionError("%s while busy: %d %s, want 409 conflict"
                                 % (what, rr.status, rr.body[:200]))
    if smp.pulses(other):
        raise AssertionError("the other button line moved too: %s" % smp.changes[other])
    if atx_state(s)["busy"]:
        raise AssertionError("still busy after the line was released")
    info("click %s: line %s high for %.0f ms (click_ms %d; %s)"
         % (button, ATX_LINES[line], width, CLICK_MS, smp.describe()))


def c_atx_leds(s, sim):
    ws = s.ws(timeout=60)
    try:
        ws.recv_event("hello", timeout=30)
        for line, key in ((PWR_LED, "power"), (HDD_LED, "hdd")):
            for on in (True, False):
                sim.pull(line, on)
                deadline = time.monotonic() + 15
                while True:
                    e = ws.recv_event("atx", timeout=max(0.1, deadline - time.monotonic()))
                    if e["leds"][key] is on:
                        break
                st = atx_state(s)
                if st["leds"][key] is not on:
                    raise AssertionError("%s LED pulled %s: GET /api/atx leds %s"
                                         % (key, "up" if on else "down", st["leds"]))
    finally:
        ws.close_socket()


def c_atx_power_on(s, sim):
    sim.pull(PWR_LED, False)
    wait_for("leds.power false", lambda: atx_state(s)["leds"]["power"] is False, 10)
    smp = LineSampler(sim, (PWR_BTN, RST_BTN))
    try:
        time.sleep(0.05)
        r = api(s, "POST", "/api/atx/power", {"action": "on"})
        if r.get("pressed") is not True:
            raise AssertionError("power on with the LED off: %s, want pressed" % r)
        width = expect_pulse(smp, PWR_BTN, CLICK_MS, "power button line", 1500)
        # The "machine" comes on: now "on" is a no-op and does not touch the line.
        sim.pull(PWR_LED, True)
        wait_for("leds.power true", lambda: atx_state(s)["leds"]["power"] is True, 10)
        r = api(s, "POST", "/api/atx/power", {"action": "on"})
        if r.get("pressed") is not False:
            raise AssertionError("power on with the LED on: %s, want pressed false" % r)
        time.sleep(CLICK_MS / 1000.0 + 0.3)
        if len(smp.pulses(PWR_BTN)) != 1 or smp.pulses(RST_BTN):
            raise AssertionError("lines moved: power %s reset %s" % (smp.changes[PWR_BTN],
                                                                     smp.changes[RST_BTN]))
    finally:
        smp.stop()
    info("power on: line high for %.0f ms; with the LED on: not pressed" % width)


def c_atx_kill9(d, sim):
    """kill -9 in the middle of a long press: the kernel frees the line request, gpio-sim
    gives the line its pull (released); a restarted ipkvmd gets every line again."""
    smp = LineSampler(sim, (PWR_BTN,))
    try:
        s = d.admin()
        api(s, "POST", "/api/atx/click", {"button": "power_long"})
        wait_for("power line high", lambda: smp.changes[PWR_BTN][-1][1] == 1, 5, 0.05)
        os.kill(d.proc.pid, signal.SIGKILL)
        rc = d.proc.wait(timeout=10)
        if rc != -signal.SIGKILL:
            raise AssertionError("ipkvmd exit status %r after SIGKILL" % rc)
        wait_for("power line released by the kernel", lambda: sim.value(PWR_BTN) == 0, 5, 0.05)
    finally:
        smp.stop()
    d.start()
    s = d.admin()
    st = atx_state(s)
    if st["busy"] or st["leds"]["power"] is not True:
        raise AssertionError("after the restart: %s (want not busy, power LED on)" % st)
    smp = LineSampler(sim, (PWR_BTN, RST_BTN))
    try:
        api(s, "POST", "/api/atx/click", {"button": "reset"})
        expect_pulse(smp, RST_BTN, CLICK_MS, "reset button line after the restart", 1500)
    finally:
        smp.stop()
    return s


def atx_checks():
    sim = check("gpio-sim chip with 4 named lines goes live", c_gpio_sim)
    if not sim:
        return
    ds = check("ipkvmd starts with atx=gpio on the gpio-sim chip", c_daemon,
               ATX_CFG % (sim.chip, CLICK_MS))
    if not ds:
        return
    d, s = ds
    check("GET /api/atx: driver gpio, both LEDs wired and off, buttons released", c_atx_state,
          s, sim)
    check("click power: power line high for click_ms, busy 409 meanwhile", c_atx_click, s, sim,
          "power", PWR_BTN, RST_BTN)
    check("click reset: reset line high for click_ms", c_atx_click, s, sim, "reset", RST_BTN,
          PWR_BTN)
    check("LED lines pulled from the sim side: GET /api/atx and atx events follow", c_atx_leds,
          s, sim)
    check("power on: pulses power only while the power LED is off", c_atx_power_on, s, sim)
    check("kill -9 during a long press: line released, restart gets the lines", c_atx_kill9,
          d, sim)
    problems = d.teardown()
    if problems:
        say("FAIL", "daemon (atx) teardown: %s" % " ".join(problems)[:1500])
        results["failed"] += 1
    if any(sim.value(i) for i in (PWR_BTN, RST_BTN)):
        say("FAIL", "a button line is high after ipkvmd stopped")
        results["failed"] += 1


def main():
    dev = None
    d = s = None
    check("gadget up", c_gadget_up)
    check("gadget status configured", c_gadget_status)
    dev = check("host enumerates keyboard, mice and mass storage", c_enumerated)
    ds = check("ipkvmd starts with hid=gadget, msd=gadget, usb setup=1", c_daemon, DAEMON_CFG)
    if ds:
        d, s = ds
        if not dev:
            dev = host_device()
    if s and dev:
        dev = wait_for("host device after daemon start", host_device, 20)
        if DEVNUM[0]:
            check("setup = 1 keeps the gadget made by `gadget up` (no replug)", c_gadget_kept,
                  dev)
        check("hid online", c_hid_online, s)
        check("key tap and shortcut arrive as EV_KEY", c_key_tap, s, dev)
        check("keys through /api/ws (JSON and binary), LED as a hid event", c_ws_keys, s, dev)
        check("7-key chords: exact events, phantom state ignored by the host", c_chords, s, dev)
        check("jp paste of \\_|@[] arrives as JIS keys", c_paste_jp, s, dev)
        check("Caps Lock LED from the host in GET /api/hid", c_caps_led, s, dev)
        check("mouse moves arrive as EV_REL and EV_ABS", c_mouse, s, dev)
        node = check("ISO uploaded, attached as CD, host reads its label", c_msd_cd, s, dev)
        if node:
            check("the host sees drive 0 as a CD-ROM (/dev/srN, SCSI type 5)", c_msd_cd_type,
                  node)
            check("eject while the host holds the drive (forced_eject)", c_msd_eject, s, node)
        check("a CD image under 300 sectors is refused with a clear 400", c_msd_small_cd, s)
        check("flash image read-write: a host write reaches the image", c_msd_flash, s, dev)
        if os.environ.get("BENCH_KILL9") == "1":
            kill9_checks(d, s, dev)
    if d:
        problems = d.teardown()
        if problems:
            say("FAIL", "daemon (gadget) teardown: %s" % " ".join(problems)[:1500])
            results["failed"] += 1
    vv = check("vivid: HDMI input set to 1920x1080p60", c_vivid_setup)
    if vv:
        ctrls, modes, timings = vv
        ds = check("ipkvmd starts with video=v4l2 on vivid", c_daemon, VIDEO_CFG)
        if ds:
            d, s = ds
            check("video 1920x1080 live, snapshot JPEG 1920x1080", c_video_live, s, 1920, 1080)
            check("EDID preset 1080p60 loaded into vivid's HDMI input", c_edid)
            if "1280x720p60" in timings:
                ctrls.set("DV Timings", timings["1280x720p60"])
                check("timings change followed: 1280x720", c_video_live, s, 1280, 720)
            check("no signal -> no_signal and placeholder", c_video_no_signal, s, ctrls, modes)
            ctrls.set("DV Timings Signal Mode", modes["Selected DV Timings"])
            check("signal back -> live again", c_video_live, s, 1280, 720)
            problems = d.teardown()
            if problems:
                say("FAIL", "daemon (video) teardown: %s" % " ".join(problems)[:1500])
                results["failed"] += 1
    vim2m_checks()
    if os.environ.get("BENCH_GPIO") == "1":
        atx_checks()
    # Into the console log (the host shows only the vmcheck lines): what ipkvmd and the
    # kernel said.
    print("---- ipkvmd stderr ----")
    for p in sorted(glob.glob("/tmp/ipkvm-it-*/stderr.log")):
        print("== " + p)
        print(harness.tail(read(p, ""), 200))
    print("---- dmesg ----")
    print(harness.tail(run("dmesg")[1], 400))
    print("vmcheck: INFO %d passed, %d failed in the VM" % (results["passed"],
                                                          results["failed"]))
    return 0 if results["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
