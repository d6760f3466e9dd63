"""test_target: the built-in virtual target, end to end over HTTPS and the WebSocket.

The daemon runs the default configuration: video, HID and ATX all on the virtual target.
Every test drives it the way an operator would (ATX button, WebSocket key and mouse events,
the paste API) and checks both what the target says it shows (GET /api/target) and the
pixels that came out of the video pipeline (raw PNG snapshots).
"""
import os
import shutil
import struct
import tempfile
import time
import zlib

from harness import check, eq, expect_error, expect_ok

# The firmware waits for a choice, so tests decide when it boots.
NO_AUTOBOOT = "[target]\nautoboot = 0\n"


def target(s):
    return expect_ok(s.get("/api/target"))


def wait_for(s, what, cond, timeout=5.0):
    """Polls GET /api/target until cond(state) holds; returns that state."""
    deadline = time.monotonic() + timeout
    st = target(s)
    while not cond(st):
        if time.monotonic() > deadline:
            raise AssertionError("target never reached %s; state: %r" % (what, st))
        time.sleep(0.05)
        st = target(s)
    return st


def png_pixels(body):
    """(width, height, rows) of the daemon's PNG (stored deflate, filter 0, RGB)."""
    check(body[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %r" % body[:16])
    w, h = struct.unpack(">II", body[16:24])
    idat, i = b"", 8
    while i < len(body):
        n, kind = struct.unpack(">I4s", body[i:i + 8])
        if kind == b"IDAT":
            idat += body[i + 8:i + 8 + n]
        i += 12 + n
    raw = zlib.decompress(idat)
    stride = 1 + w * 3
    eq(len(raw), h * stride, "inflated PNG size")
    return w, h, [raw[r * stride + 1:(r + 1) * stride] for r in range(h)]


def raw_frame(s):
    r = s.get("/api/streamer/snapshot?raw=1")
    eq(r.status, 200, "raw snapshot: %r" % r.body[:200])
    return png_pixels(r.body)


def wait_frame(s, what, cond, timeout=5.0):
    """Polls raw snapshots until cond(w, h, rows) holds (the render follows the state by up
    to a frame interval); returns the frame."""
    deadline = time.monotonic() + timeout
    while True:
        f = raw_frame(s)
        if cond(*f):
            return f
        if time.monotonic() > deadline:
            raise AssertionError("no frame showing %s within %.1f s (last %dx%d)"
                                 % (what, timeout, f[0], f[1]))
        time.sleep(0.05)


def key(ws, code, state):
    ws.send_json({"event": "key", "data": {"code": code, "state": state}})


def tap(ws, code, shift=False):
    if shift:
        key(ws, "ShiftLeft", "press")
    key(ws, code, "press")
    key(ws, code, "release")
    if shift:
        key(ws, "ShiftLeft", "release")


def power_on(s):
    """A short press of the power button line (through ATX), then the firmware."""
    st = expect_ok(s.post("/api/atx/click", {"button": "power"}))
    eq(st["busy"], True, "the button is held for click_ms")
    return wait_for(s, "the firmware", lambda t: t["phase"] == "firmware")


def boot_console(s, ws):
    power_on(s)
    tap(ws, "Escape")  # "continue boot": the internal disk
    return wait_for(s, "the console", lambda t: t["phase"] == "console")


def prompt_row(st):
    return st["cursor"]["row"]


def test_power_on_by_line_then_firmware_then_console(t):
    d = t.daemon(NO_AUTOBOOT)
    s = d.admin()
    st = target(s)
    eq((st["power"], st["phase"], st["rows"]), ("off", "off", []), "starts powered off")
    sig = expect_ok(s.get("/api/streamer"))["signal"]
    eq((sig["state"], sig["capture"]), ("no_signal", "virtual"), "no signal while off")
    atx = expect_ok(s.get("/api/atx"))
    eq((atx["driver"], atx["leds"]["power"]), ("virtual", False), "ATX sees the LED off")
    with s.ws() as ws:
        st = power_on(s)
        eq((st["power"], st["mode"]["width"], st["mode"]["height"]), ("booting", 1024, 768),
           "the firmware runs at 1024x768")
        check(any("Virtual Firmware Setup" in r for r in st["rows"]), "firmware title: %r"
              % st["rows"][:3])
        ev = ws.recv_event("atx")
        while not ev["leds"]["power"]:
            ev = ws.recv_event("atx")
        eq(ev["leds"]["power"], True, "the atx event reports the power LED on")
        w, h, _ = wait_frame(s, "the firmware mode", lambda w, h, rows: (w, h) == (1024, 768))
        signal = expect_ok(s.get("/api/streamer"))["signal"]
        eq((signal["state"], signal["width"]), ("ok", 1024), "signal follows the mode")
        tap(ws, "Escape")
        st = wait_for(s, "the console", lambda t: t["phase"] == "console")
        eq((st["power"], st["booted"]), ("running", "disk"), "booted the internal disk")
        eq((st["mode"]["width"], st["mode"]["height"]), (1920, 1080), "the OS runs at 1080p")
        check(any(r.startswith("user@target:~$") for r in st["rows"]), "a prompt: %r"
              % st["rows"][:6])
        wait_frame(s, "the console mode", lambda w, h, rows: (w, h) == (1920, 1080))


def test_typing_hello_world_reaches_screen_and_pixels(t):
    d = t.daemon(NO_AUTOBOOT)
    s = d.admin()
    with s.ws() as ws:
        st = boot_console(s, ws)
        row = prompt_row(st)
        cell_h, y0 = st["cell"]["h"], st["cell"]["y0"]
        before = wait_frame(s, "the console", lambda w, h, rows: (w, h) == (1920, 1080))
        jpeg_before = s.get("/api/streamer/snapshot").body
        for code, shift in [("KeyH", True), ("KeyE", False), ("KeyL", False), ("KeyL", False),
                            ("KeyO", False), ("Comma", False), ("Space", False),
                            ("KeyW", True), ("KeyO", False), ("KeyR", False), ("KeyL", False),
                            ("KeyD", False), ("Digit1", True)]:
            tap(ws, code, shift)
        st = wait_for(s, "the typed text",
                      lambda t: t["rows"][row].endswith("$ Hello, World!"))
        eq(st["cursor"]["row"], row, "still on the prompt row")
        top, bottom = y0 + row * cell_h, y0 + (row + 1) * cell_h

        def typed(w, h, rows):
            return any(rows[y] != before[2][y] for y in range(top, bottom))
        after = wait_frame(s, "the typed text", typed)
        changed = [y for y in range(after[1]) if after[2][y] != before[2][y]]
        check(changed and min(changed) >= top and max(changed) < bottom,
              "pixels changed only in the prompt row %d..%d, got rows %d..%d"
              % (top, bottom, min(changed), max(changed)))
        jpeg_after = s.get("/api/streamer/snapshot").body
        check(jpeg_after[:2] == b"\xff\xd8" and jpeg_after != jpeg_before,
              "the JPEG snapshot changed with the typing")
        tap(ws, "Enter")  # the shell runs it: there is no command "Hello,"
        st = wait_for(s, "the shell's answer",
                      lambda t: t["rows"][row + 1] == "Hello,: command not found")
        eq(st["cursor"]["row"], row + 2, "a new prompt below the output")


def test_absolute_mouse_lands_on_the_pixel(t):
    d = t.daemon(NO_AUTOBOOT)
    s = d.admin()
    with s.ws() as ws:
        st = boot_console(s, ws)
        w, h = st["mode"]["width"], st["mode"]["height"]
        before = wait_frame(s, "the console", lambda fw, fh, rows: (fw, fh) == (w, h))
        x, y = round(0.25 * 32767), round(0.75 * 32767)
        ws.send_frame(0x2, struct.pack("<BBHHbb", 0x02, 0, x, y, 0, 0))
        ex, ey = (x * (w - 1) + 16383) // 32767, (y * (h - 1) + 16383) // 32767
        st = wait_for(s, "the pointer move", lambda t: t["pointer"]["x"] != w // 2 - 1)
        eq((st["pointer"]["x"], st["pointer"]["y"]), (ex, ey), "pointer position")
        eq((ex, ey), (480, 809), "0.25, 0.75 of 1920x1080")

        # In the pixels: the sprite's top-left changed pixel is its tip (YUYV shares chroma
        # between pixel pairs, hence 1 px of slack).
        def moved(fw, fh, rows):
            return rows[ey][ex * 3:ex * 3 + 3] != before[2][ey][ex * 3:ex * 3 + 3]
        after = wait_frame(s, "the pointer", moved)
        xs, ys = [], []
        for yy in range(ey - 40, ey + 40):
            a, b = after[2][yy], before[2][yy]
            for xx in range(ex - 40, ex + 40):
                if a[xx * 3:xx * 3 + 3] != b[xx * 3:xx * 3 + 3]:
                    xs.append(xx)
                    ys.append(yy)
        check(xs, "no changed pixels around (%d, %d)" % (ex, ey))
        check(abs(min(xs) - ex) <= 1 and abs(min(ys) - ey) <= 1,
              "pointer tip at (%d, %d), expected (%d, %d)" % (min(xs), min(ys), ex, ey))
        tip = after[2][ey][ex * 3:ex * 3 + 3]
        check(max(tip) < 40, "the tip pixel is the dark outline, got %r" % (tip,))
        # A click marks the cell under the pointer: visible in the state and the pixels.
        ws.send_frame(0x2, struct.pack("<BBHHbb", 0x02, 1, x, y, 0, 0))
        ws.send_frame(0x2, struct.pack("<BBHHbb", 0x02, 0, x, y, 0, 0))
        wait_for(s, "the button release", lambda t: t["pointer"]["buttons"] == 0)
        # Relative moves go through the other mouse and move the same pointer.
        ws.send_frame(0x2, struct.pack("<BBhhbb", 0x03, 0, 100, -50, 0, 0))
        st = wait_for(s, "the relative move", lambda t: t["pointer"]["x"] == ex + 100)
        eq(st["pointer"]["y"], ey - 50, "relative y")


def test_caps_lock_led_round_trip(t):
    d = t.daemon(NO_AUTOBOOT)
    s = d.admin()
    with s.ws() as ws:
        boot_console(s, ws)
        eq(expect_ok(s.get("/api/hid"))["leds"]["caps"], False, "Caps Lock starts off")
        tap(ws, "CapsLock")
        ev = ws.recv_event("hid")
        while not ev["leds"]["caps"]:
            ev = ws.recv_event("hid")
        eq(ev["leds"]["caps"], True, "the hid event carries the target's LED report")
        st = target(s)
        eq(st["leds"]["caps"], True, "the target's own Caps Lock state")
        check("[CAPS]" in st["rows"][-1], "status line shows it: %r" % st["rows"][-1])
        tap(ws, "KeyA")
        st = wait_for(s, "the capital A", lambda t: t["rows"][t["cursor"]["row"]].endswith("$ A"))
        tap(ws, "CapsLock")
        ev = ws.recv_event("hid")
        while ev["leds"]["caps"]:
            ev = ws.recv_event("hid")
        eq(expect_ok(s.get("/api/hid"))["leds"]["caps"], False, "and off again")


def test_jis_paste_on_a_jp_target(t):
    d = t.daemon(NO_AUTOBOOT + "layout = jp\n")
    s = d.admin()
    with s.ws() as ws:
        st = boot_console(s, ws)
        eq(st["layout"], "jp", "the target's layout")
        row = prompt_row(st)
        text = "\\_|@[]"
        r = expect_ok(s.post("/api/hid/type", {"text": text, "layout": "jp"}))
        eq(r["untyped"], [], "every character is typeable on jp")
        st = wait_for(s, "the pasted text", lambda t: t["rows"][row].endswith("$ " + text))
        # The same text typed for a US keyboard comes out wrong on the JIS target: the
        # layouts really differ in the bytes.
        tap(ws, "Enter")
        st = wait_for(s, "a new prompt", lambda t: t["cursor"]["row"] > row)
        row = prompt_row(st)
        expect_ok(s.post("/api/hid/type", {"text": "@", "layout": "us"}))
        st = wait_for(s, "the mistyped text", lambda t: t["rows"][row].endswith("$ \""))


def iso_image(label):
    """A tiny ISO 9660 image: system area, primary volume descriptor, set terminator."""
    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[40:72] = label.encode().ljust(32)
    term = bytearray(2048)
    term[0:7] = b"\xffCD001\x01"
    return bytes(16 * 2048) + bytes(pvd) + bytes(term)


def test_boot_menu_lists_media_and_boots_one(t):
    tmp = tempfile.mkdtemp(prefix="ipkvm-media-")
    try:
        boot_menu(t, tmp)
    finally:
        shutil.rmtree(tmp)


def boot_menu(t, tmp):
    iso = os.path.join(tmp, "debian-12.iso")
    with open(iso, "wb") as f:
        f.write(iso_image("DEBIAN 12 AMD64"))
    junk = os.path.join(tmp, "junk.img")
    with open(junk, "wb") as f:
        f.write(b"not an image" * 100)
    d = t.daemon(NO_AUTOBOOT + "media = %s, %s\n" % (iso, junk))
    s = d.admin()
    st = target(s)
    eq(st["media"], [{"name": "debian-12.iso", "label": "DEBIAN 12 AMD64", "error": None,
                      "lun": None, "cdrom": True},
                     {"name": "junk.img", "label": None, "error": st["media"][1]["error"],
                      "lun": None, "cdrom": True}], "attached media")
    check(st["media"][1]["error"], "the unreadable image says why")
    with s.ws() as ws:
        power_on(s)
        tap(ws, "ArrowRight")  # the Boot page
        st = wait_for(s, "the boot menu",
                      lambda t: any("debian-12.iso" in r for r in t["rows"]))
        check(any("DEBIAN 12 AMD64" in r for r in st["rows"]), "label in the menu: %r"
              % [r for r in st["rows"] if r.strip()])
        check(any("junk.img" in r and "unreadable" in r for r in st["rows"]),
              "the unreadable image is listed with its reason")
        tap(ws, "ArrowDown")
        tap(ws, "Enter")
        st = wait_for(s, "the live system", lambda t: t["phase"] == "console")
        eq(st["booted"], "debian-12.iso", "booted the medium")
        check(any("DEBIAN 12 AMD64" in r for r in st["rows"]), "the label on screen: %r"
              % st["rows"][:4])


def test_power_off_reset_and_busy(t):
    d = t.daemon(NO_AUTOBOOT + "[atx]\nlong_click_ms = 5100\n")
    s = d.admin()
    with s.ws() as ws:
        boot_console(s, ws)
        # One action at a time.
        expect_ok(s.post("/api/atx/click", {"button": "reset"}))
        expect_error(s.post("/api/atx/power", {"action": "off"}), 409, "conflict")
        st = wait_for(s, "the reset", lambda t: t["phase"] == "firmware")
        eq(st["power"], "booting", "reset restarts into the firmware")
        wait_for(s, "the button release", lambda t: not expect_ok(s.get("/api/atx"))["busy"])
        tap(ws, "Escape")
        wait_for(s, "the console", lambda t: t["phase"] == "console")
        # "on" while on does nothing; "off" is a short press the OS answers by shutting down.
        r = expect_ok(s.post("/api/atx/power", {"action": "on"}))
        eq(r["pressed"], False, "already on: no press")
        r = expect_ok(s.post("/api/atx/power", {"action": "off"}))
        eq(r["pressed"], True, "off presses the button")
        st = wait_for(s, "the shutdown", lambda t: t["power"] == "off")
        eq((st["phase"], st["rows"]), ("off", []), "the screen is dark")
        deadline = time.monotonic() + 5
        while expect_ok(s.get("/api/streamer"))["signal"]["state"] != "no_signal":
            check(time.monotonic() < deadline, "the signal goes away")
            time.sleep(0.05)
        expect_error(s.post("/api/atx/power", {"action": "sideways"}), 400, "bad_request")
        expect_error(s.post("/api/atx/click", {"button": "eject"}), 400, "bad_request")
        # Forced off: hold past 5 s while on.
        wait_for(s, "idle", lambda t: not expect_ok(s.get("/api/atx"))["busy"])
        power_on(s)
        wait_for(s, "idle", lambda t: not expect_ok(s.get("/api/atx"))["busy"])
        r = expect_ok(s.post("/api/atx/power", {"action": "off_hard"}))
        eq(r["pressed"], True, "off_hard holds the button")
        st = wait_for(s, "the forced power-off", lambda t: t["power"] == "off", timeout=8)
    with open(os.path.join(d.state_dir, "audit.log")) as f:
        audit = f.read()
    check('"event":"atx_power"' in audit and '"action":"off_hard"' in audit,
          "ATX actions are audited: %r" % audit[-400:])


def test_target_api_roles_and_absence(t):
    d = t.daemon()
    d.add_user("op", "operator-pass-1", role="operator")
    d.add_user("viewer", "viewer-pass-1", role="viewer")
    op = d.session()
    op.login("op", "operator-pass-1")
    expect_error(op.get("/api/target"), 403, "forbidden")
    viewer = d.session()
    viewer.login("viewer", "viewer-pass-1")
    eq(expect_ok(viewer.get("/api/atx"))["driver"], "virtual", "viewers see the panel")
    expect_error(viewer.post("/api/atx/click", {"button": "power"}), 403, "forbidden")
    d2 = t.daemon("[video]\nsource = none\n[hid]\noutput = none\n")
    s2 = d2.admin()
    expect_error(s2.get("/api/target"), 404, "not_found")
    expect_error(s2.get("/api/atx"), 503, "no_atx")
