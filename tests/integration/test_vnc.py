"""test_vnc: the VNC server (RFB) with real clients: Debian's libvncclient (the test client
tests/tools/vnc-client from the same build) and Debian's vncsnapshot.

The daemon runs the virtual target with [vnc] enabled on a port of its own. Each test proves
its point on what the client reports (the security type it used, the pictures it decoded, the
LED state it was sent, when the server closed) and on the target's side (GET /api/target
rows, the raw snapshot, the audit log).
"""
import json
import os
import shutil
import struct
import subprocess
import time

from harness import DaemonError, check, eq, expect_ok
from test_target import boot_console, power_on, tap, wait_for
from vnc_util import (RawRfb, VncBackground, compare, jpeg_to_ppm, read_ppm,
                      snapshot_jpeg, tempdir, vnc, vnc_daemon)

# XT set 1 scancodes (the QEMU Extended Key Event's "qnum") of the keys typed below.
QNUM = {"e": 0x12, "c": 0x2E, "h": 0x23, "o": 0x18, " ": 0x39, "x": 0x2D, "t": 0x14,
        "Return": 0x1C, "Caps_Lock": 0x3A, "a": 0x1E}
LED_CAPS = 4


def audit_records(d):
    with open(os.path.join(d.state_dir, "audit.log")) as f:
        return [json.loads(line) for line in f if line.strip()]


def firmware_blue(pic):
    """Asserts the picture is the firmware's blue screen (an R/B swap or a grey picture
    fails): the middle row's pixels are mostly the body colour (22, 38, 92)."""
    w, h, pix = pic
    row = pix[(h // 2) * w * 3:(h // 2 + 1) * w * 3]
    blue = sum(1 for x in range(0, w * 3, 3)
               if row[x + 2] > 70 and row[x + 2] > row[x] + 40 and row[x] < 50)
    check(blue > w // 2, "the firmware's blue body fills the middle row (%d of %d pixels)"
          % (blue, w))


def firmware_on_screen(s):
    """Powers the target on and waits until the pipeline's picture is the firmware's setup
    screen (still, coloured, 1024x768), not the no-signal placeholder before it."""
    power_on(s)
    deadline = time.monotonic() + 10
    while True:
        r = s.get("/api/streamer/snapshot?raw=1")
        eq(r.status, 200, "raw snapshot")
        if struct.unpack(">II", r.body[16:24]) == (1024, 768):
            return
        check(time.monotonic() < deadline, "the firmware's picture within 10 s")
        time.sleep(0.05)


def test_tls_types_and_tight_jpeg_match_the_snapshot(t):
    d = vnc_daemon(t)
    s = d.admin()
    firmware_on_screen(s)
    with tempdir() as tmp:
        # X509Plain: the daemon's certificate verified against its own cert.pem.
        path = os.path.join(tmp, "x509plain.ppm")
        res = vnc(t, d, "jpegs:1", "save:" + path, security="x509plain")
        eq((res["security"], res["security_type"], res["vencrypt_subtype"]),
           ("x509plain", 19, 262), "the security type used")
        eq(res["offered"], [19], "VeNCrypt only (no VncAuth file; never None)")
        eq(res["vencrypt_offered"], [262, 259], "X509Plain listed first, then TLSPlain")
        eq((res["width"], res["height"]), (1024, 768), "the firmware's size")
        check(res["jpeg_rects"] >= 1, "Tight JPEG rectangles: %r" % res)
        check(res["desktop"], "a desktop name")
        check(res["qemu_ext_key"], "the server acknowledged QEMU Extended Key Events")
        shot = read_ppm(path)
        firmware_blue(shot)
        # The screen is still: the picture the client decoded is the snapshot's.
        snap = jpeg_to_ppm(t, snapshot_jpeg(s), tmp)
        compare(shot, snap, "the X509Plain client's framebuffer vs the snapshot")
    # libvncclient's TLSPlain is anonymous TLS, which the server refuses by default.
    res = vnc(t, d, "updates:1", security="tlsplain", expect_ok=False)
    check(not res["ok"] and res["width"] == 0 and
          any("TLS handshake failed" in line for line in res["log"]),
          "anonymous TLS refused: %r" % res)
    # TLSPlain with the certificate (a client that verifies it): logged in, a picture.
    with RawRfb(d) as c:
        c.version()
        eq(c.security_types(), [19], "security types")
        c.vencrypt(259)
        c.plain("admin", d.admin_password)
        c.security_result()
        w, h, _, name = c.init()
        eq((w, h), (1024, 768), "ServerInit's size over TLSPlain")
        c.width, c.height = w, h
        c.set_encodings([7, -26])
        c.update_request()
        rects = c.read_update(timeout=10)
        check(any(r[4] == 7 and (r[2], r[3]) == (1024, 768) for r in rects),
              "a whole-screen Tight JPEG over TLSPlain: %r" % rects)


def test_anonymous_tls_for_tlsplain_when_allowed(t):
    """[vnc] anonymous_tls = 1: libvncclient's TLSPlain (anonymous TLS) logs in and gets the
    screen, warned and audited as anonymous; X509Plain on the same daemon still uses the
    certificate."""
    d = vnc_daemon(t, vnc_extra="anonymous_tls = 1")
    s = d.admin()
    eq(expect_ok(s.get("/api/info"))["vnc"]["anonymous_tls"], True,
       "/api/info says anonymous TLS is allowed")
    firmware_on_screen(s)
    with tempdir() as tmp:
        path = os.path.join(tmp, "tlsplain.ppm")
        res = vnc(t, d, "jpegs:1", "save:" + path, security="tlsplain")
        eq((res["security"], res["security_type"], res["vencrypt_subtype"]),
           ("tlsplain", 19, 259), "the security type used")
        eq((res["width"], res["height"]), (1024, 768), "the firmware's size")
        check(res["jpeg_rects"] >= 1, "Tight JPEG rectangles: %r" % res)
        shot = read_ppm(path)
        firmware_blue(shot)
        snap = jpeg_to_ppm(t, snapshot_jpeg(s), tmp)
        compare(shot, snap, "the anonymous TLSPlain client's framebuffer vs the snapshot")
        # X509Plain on the same daemon: the certificate, checked by the client.
        res = vnc(t, d, "updates:1", security="x509plain")
        eq(res["security"], "x509plain", "X509Plain still works")
    logins = [a for a in audit_records(d) if a.get("event") == "login" and
              a.get("via") == "vnc"]
    eq([a.get("tls") for a in logins], ["anonymous", "certificate"],
       "the audit says which TLS each VNC login came over")
    check("logged in (admin) over anonymous TLS" in d.stderr(),
          "the anonymous login is warned about in the log")


def https_throttled(d):
    """An HTTPS login of admin with the right password: asserts 429; its Retry-After."""
    r = d.session().try_login("admin", d.admin_password)
    eq(r.status, 429, "an HTTPS login from the same address is throttled too")
    return int(r.headers.get("Retry-After"))


def test_wrong_password_throttled_and_audited(t):
    d = vnc_daemon(t)
    for i in range(5):
        res = vnc(t, d, "updates:1", password="wrong-password-%d" % i, expect_ok=False)
        check(not res["ok"] and res["auth_failed"], "attempt %d refused: %r" % (i, res))
        eq(res["reason"], "wrong user name or password", "the failure reason")
        eq(res["width"], 0, "no ServerInit after a refusal")
    # The throttle is the web logins' own: the right password is refused over HTTPS now.
    # Two more failures once each window has passed double it to 4 s, so that the check
    # below falls inside it even on a slow (sanitizer) build.
    for _ in range(2):
        time.sleep(https_throttled(d) + 0.3)
        res = vnc(t, d, "updates:1", password="wrong-again", expect_ok=False)
        check(res["auth_failed"], "a failure after the window: %r" % res)
    t0 = time.monotonic()
    res = vnc(t, d, "updates:1", expect_ok=False)
    check(time.monotonic() - t0 < 4, "the attempt took longer than the window")
    check(not res["ok"] and res["auth_failed"], "the right password is throttled: %r" % res)
    check(res["reason"].startswith("too many failed logins, retry in"),
          "the reason says why: %r" % res["reason"])
    https_throttled(d)
    failed = [a for a in audit_records(d) if a.get("event") == "login_failed"]
    eq(len(failed), 7, "seven failed logins audited (a throttled one is no check)")
    for a in failed:
        eq((a.get("user"), a.get("ok"), a.get("via"), a.get("addr")),
           ("admin", False, "vnc", "127.0.0.1"), "audit record %r" % a)


def test_totp_user_refused(t):
    d = vnc_daemon(t)
    rc, out, err = d.run_cli("totp", "admin")
    eq(rc, 0, "user totp: %s" % err)
    res = vnc(t, d, "updates:1", expect_ok=False)
    check(not res["ok"] and res["auth_failed"], "a TOTP user cannot log in over VNC: %r" % res)
    check(res["reason"] and "TOTP" in res["reason"].upper().replace("ONE-TIME", "TOTP"),
          "the reason says why: %r" % res["reason"])
    # On record (RFB has no place for a code, so the refusal is audited), via VNC.
    recs = [a for a in audit_records(d) if a.get("event") == "login_failed"]
    eq([(a.get("user"), a.get("reason"), a.get("via")) for a in recs],
       [("admin", "totp required", "vnc")], "the audit records of the refusal")


def test_none_never_offered(t):
    d = vnc_daemon(t)
    with RawRfb(d) as c:
        eq(c.version(), b"RFB 003.008\n", "the server speaks 3.8")
        types = c.security_types()
        eq(types, [19], "VeNCrypt only (no VncAuth file, never None)")
    # A 3.3 client cannot do VeNCrypt: the server refuses it rather than offer None.
    with RawRfb(d) as c:
        c.version(b"RFB 003.003\n")
        sec = c.recv_exact(4)
        eq(sec, b"\x00\x00\x00\x00", "3.3: connection failed (security type 0)")
    res = vnc(t, d, "updates:1", security="none", expect_ok=False)
    check(not res["ok"] and res["width"] == 0, "libvncclient cannot get None: %r" % res)
    res = vnc(t, d, "updates:1", security="vncauth", expect_ok=False)
    check(not res["ok"] and res["width"] == 0, "nor VncAuth without its file: %r" % res)


def vncauth_file(d, mode, line):
    path = os.path.join(d.tmp, "vncauth")
    with open(path, "w") as f:
        f.write(line)
    os.chmod(path, mode)
    return path


def test_vncauth_with_a_private_password_file(t):
    d = vnc_daemon(t, start=False)
    path = vncauth_file(d, 0o600, "admin:vncpass1\n")
    with open(d.config_path, "a") as f:
        f.write("vncauth_password_file = %s\n" % path)
    d.start()
    res = vnc(t, d, "updates:1", security="vncauth", password="vncpass1")
    eq((res["security"], res["security_type"]), ("vncauth", 2), "VncAuth used")
    check(2 in res["offered"] and 19 in res["offered"], "both offered: %r" % res["offered"])
    res = vnc(t, d, "updates:1", security="vncauth", password="vncpass2", expect_ok=False)
    check(not res["ok"] and res["auth_failed"], "a wrong VncAuth password: %r" % res)
    # A world-readable password file stops the daemon from starting.
    d2 = vnc_daemon(t, start=False)
    path2 = vncauth_file(d2, 0o644, "admin:vncpass1\n")
    with open(d2.config_path, "a") as f:
        f.write("vncauth_password_file = %s\n" % path2)
    try:
        d2.start()
    except DaemonError as e:
        check("vncauth" in str(e) or path2 in str(e), "the error names the file: %s" % e)
    else:
        raise AssertionError("ipkvmd started with a 0644 VncAuth password file")
    d2.stopped = True


def test_keysyms_and_extended_keys_type_on_the_target(t):
    d = vnc_daemon(t)
    s = d.admin()
    with s.ws() as ws:
        st = boot_console(s, ws)
    row = st["cursor"]["row"]
    # Keysyms: the server maps them through the target's layout.
    vnc(t, d, "updates:1", "type:echo vnc", "key:Return", "updates:1")
    wait_for(s, "echo vnc and its output",
             lambda st: st["rows"][row].endswith("$ echo vnc") and st["rows"][row + 1] == "vnc")
    row += 2
    # Extended key events: keys by position (qnum), the same table as the web console.
    acts = ["ext:%d" % QNUM[c] for c in "echo ext"] + ["ext:%d" % QNUM["Return"]]
    vnc(t, d, "updates:1", *acts, "updates:1")
    wait_for(s, "echo ext and its output",
             lambda st: st["rows"][row].endswith("$ echo ext") and st["rows"][row + 1] == "ext")
    # Caps Lock by position: the target's LED comes back to the client.
    res = vnc(t, d, "updates:1", "ext:%d" % QNUM["Caps_Lock"], "led:%d" % LED_CAPS,
              "ext:%d" % QNUM["a"], "key:Caps_Lock", "led:0")
    eq(res["led"], 0, "QEMU LED State after the second Caps Lock (on, then off again)")
    st = wait_for(s, "the capital A", lambda st: st["rows"][st["cursor"]["row"]].endswith("$ A"))
    eq(expect_ok(s.get("/api/hid"))["leds"]["caps"], False, "Caps Lock off again")


def test_viewer_is_view_only(t):
    d = vnc_daemon(t)
    d.add_user("watcher", "watcher-password-1", role="viewer")
    s = d.admin()
    with s.ws() as ws:
        st = boot_console(s, ws)
        row = st["cursor"]["row"]
        res = vnc(t, d, "jpegs:1", "type:echo no", "key:Return", "pointer:100,100,1",
                  "pointer:100,100,0", "cut:echo paste", user="watcher",
                  password="watcher-password-1")
        check(res["jpeg_rects"] >= 1, "a viewer sees the screen")
        deadline = time.monotonic() + 5
        while "view-only" not in d.stderr():
            check(time.monotonic() < deadline, "the log says the session is view-only:\n"
                  + d.stderr()[-2000:])
            time.sleep(0.05)
        # The viewer's input reached the server before it logged; nothing of it was typed:
        # what the admin types now is alone on the prompt row.
        tap(ws, "KeyZ")
        st = wait_for(s, "the admin's z", lambda st: st["rows"][row].endswith("z"))
        check(st["rows"][row].endswith("$ z"), "only the admin's key: %r" % st["rows"][row])
        eq(st["pointer"]["buttons"], 0, "no click from the viewer")


def test_session_ends_when_the_user_changes(t):
    d = vnc_daemon(t)
    a = d.admin()
    changes = [("deleted", lambda name: a.delete("/api/users/" + name)),
               ("password changed",
                lambda name: a.post("/api/users/" + name, {"password": "another-password-9"})),
               ("demoted", lambda name: a.post("/api/users/" + name, {"role": "viewer"}))]
    for i, (what, change) in enumerate(changes):
        name = "user%d" % i
        d.add_user(name, "user-password-%d" % i, role="operator")
        bg = VncBackground(t, d, "updates:1", "mark", "closed", user=name,
                           password="user-password-%d" % i, timeout=5)
        try:
            bg.wait_mark()
            expect_ok(change(name))
            res = bg.result()
        finally:
            bg.kill()
        check(res["ok"] and res["closed_by_server"], "%s: the server closed: %r" % (what, res))
        check(res["close_ms"] is not None and res["close_ms"] <= 2000,
              "%s: closed %s ms after the change" % (what, res["close_ms"]))


def test_desktop_size_follows_the_target(t):
    d = vnc_daemon(t)
    s = d.admin()
    with s.ws() as ws:
        power_on(s)
        wait_for(s, "the firmware mode", lambda st: st["mode"]["width"] == 1024)
        bg = VncBackground(t, d, "size:1024x768", "mark", "size:1920x1080", "updates:1")
        try:
            m = bg.wait_mark()
            eq((m["width"], m["height"]), (1024, 768), "the firmware's size at connect")
            tap(ws, "Escape")  # boots the console at 1920x1080
            res = bg.result()
        finally:
            bg.kill()
    check(res["ok"], "the client followed the resize: %r" % res)
    eq(res["sizes"][-1], "1920x1080", "the last framebuffer size")
    check("1024x768" in res["sizes"], "sizes %r" % res["sizes"])


def test_cut_text_is_typed_on_the_target(t):
    d = vnc_daemon(t)
    s = d.admin()
    with s.ws() as ws:
        st = boot_console(s, ws)
    row = st["cursor"]["row"]
    vnc(t, d, "updates:1", "cut:echo Cut-Text_42!", "updates:1")
    st = wait_for(s, "the pasted text",
                  lambda st: st["rows"][row].endswith("$ echo Cut-Text_42!"), timeout=10)


def vncpasswd_file(path, password):
    """A VNC password file (vncpasswd's format: the password DES-encrypted with the fixed
    key every VNC viewer uses), made with the openssl command (legacy provider: DES)."""
    key = bytes([23, 82, 107, 6, 35, 78, 88, 7])
    key = bytes(int("{:08b}".format(b)[::-1], 2) for b in key)  # VNC's DES bit order
    p = subprocess.run(["openssl", "enc", "-des-ecb", "-provider", "legacy", "-provider",
                        "default", "-K", key.hex(), "-nopad"],
                       input=password.encode().ljust(8, b"\0")[:8], capture_output=True,
                       timeout=10)
    eq(p.returncode, 0, "openssl des-ecb: %r" % p.stderr)
    with open(path, "wb") as f:
        f.write(p.stdout)
    os.chmod(path, 0o600)


def test_vncsnapshot_matches_the_snapshot(t):
    check(shutil.which("vncsnapshot"), "vncsnapshot is installed (scripts/deps.sh --test)")
    d = vnc_daemon(t, start=False)
    path = vncauth_file(d, 0o600, "admin:snap-pw1\n")
    with open(d.config_path, "a") as f:
        f.write("vncauth_password_file = %s\n" % path)
    d.start()
    s = d.admin()
    firmware_on_screen(s)
    with tempdir() as tmp:
        pw = os.path.join(tmp, "passwd")
        vncpasswd_file(pw, "snap-pw1")
        out = os.path.join(tmp, "shot.jpg")
        # vncsnapshot speaks RFB 3.3 and VncAuth; display N is port 5900 + N.
        p = subprocess.run(["vncsnapshot", "-quiet", "-passwd", pw, "-quality", "100",
                            "127.0.0.1:%d" % (d.vnc_port - 5900), out], capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
        eq(p.returncode, 0, "vncsnapshot: %s %s" % (p.stdout, p.stderr))
        with open(out, "rb") as f:
            shot = jpeg_to_ppm(t, f.read(), tmp)
        snap = jpeg_to_ppm(t, snapshot_jpeg(s), tmp)
        firmware_blue(shot)
        compare(shot, snap, "vncsnapshot's picture vs the snapshot")


def test_open_h264_stream_decodes(t):
    d = vnc_daemon(t)
    s = d.admin()
    firmware_on_screen(s)
    h264dec = os.path.join(os.path.dirname(t.ipkvmd), "tests", "tools", "h264dec")
    with tempdir() as tmp:
        out = os.path.join(tmp, "stream.h264")
        # libvncclient cannot decode Open H.264: the client lists it first, keeps the
        # access units, and openh264 (h264dec) decodes them here.
        res = vnc(t, d, "h264:1", encodings="h264", extra=("--h264-out", out))
        check(res["h264_rects"] >= 1 and res["h264_bytes"] > 0, "Open H.264 rectangles: %r"
              % {k: res[k] for k in ("h264_rects", "h264_bytes", "jpeg_rects", "updates")})
        eq(res["jpeg_rects"], 0, "no Tight JPEG once Open H.264 is chosen")
        p = subprocess.run([h264dec, out], capture_output=True, text=True, timeout=30)
        eq(p.returncode, 0, "h264dec: %s %s" % (p.stdout[-300:], p.stderr[-300:]))
        pics = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        check(pics, "the stream holds a picture")
        eq((pics[0]["width"], pics[0]["height"]), (1024, 768), "the decoded picture's size")
