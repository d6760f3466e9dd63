"""test_gadget: the USB gadget from the command line and at daemon start, against a configfs
and UDC list played by temp directories (the kernel-backed run is the bench VM's), and the
drives on its mass-storage LUNs through the HTTP API."""
import json
import os
import shutil
import tempfile
import time

from harness import check, eq, expect_error, expect_ok


def fake_sys(tmp):
    configfs = os.path.join(tmp, "config")
    os.makedirs(os.path.join(configfs, "usb_gadget"))
    udc = os.path.join(tmp, "udc")
    os.makedirs(os.path.join(udc, "fe980000.usb"))
    with open(os.path.join(udc, "fe980000.usb", "state"), "w") as f:
        f.write("configured\n")
    return configfs, udc


def usb_config(configfs, udc, extra=""):
    return "[usb]\nconfigfs = %s\nudc_dir = %s\nluns = 2\n%s" % (configfs, udc, extra)


def test_gadget_cli_up_status_down(t):
    tmp = tempfile.mkdtemp(prefix="ipkvm-gadget-")
    try:
        configfs, udc = fake_sys(tmp)
        d = t.daemon(usb_config(configfs, udc), start=False)
        rc, out, err = t.run("--config", d.config_path, "gadget", "up")
        eq(rc, 0, "gadget up: %s" % err)
        g = os.path.join(configfs, "usb_gadget", "ipkvm")
        with open(os.path.join(g, "UDC")) as f:
            eq(f.read().strip(), "fe980000.usb", "bound to the UDC")
        funcs = sorted(os.listdir(os.path.join(g, "functions")))
        eq(funcs, ["hid.usb0", "hid.usb1", "hid.usb2", "hid.usb3", "mass_storage.usb0"],
           "functions")
        rc, out, err = t.run("--config", d.config_path, "gadget", "status")
        eq(rc, 0, "gadget status: %s" % err)
        st = json.loads(out)
        eq((st["exists"], st["ours"], st["bound"], st["udc"], st["udc_state"], st["luns"]),
           (True, True, True, "fe980000.usb", "configured", 2), "status")
        rc, out, err = t.run("--config", d.config_path, "gadget", "up")
        eq(rc, 0, "up again is fine (idempotent): %s" % err)
        rc, out, err = t.run("--config", d.config_path, "gadget", "down")
        eq(rc, 0, "gadget down: %s" % err)
        eq(os.listdir(os.path.join(configfs, "usb_gadget")), [], "removed")
        # A foreign gadget bound to our UDC is a clear error; nothing of ours is made.
        other = os.path.join(configfs, "usb_gadget", "other")
        os.makedirs(os.path.join(other, "configs", "c.1", "strings", "0x409"))
        with open(os.path.join(other, "UDC"), "w") as f:
            f.write("fe980000.usb\n")
        rc, out, err = t.run("--config", d.config_path, "gadget", "up")
        check(rc != 0 and "other" in err, "foreign gadget refused: rc %d %r" % (rc, err))
        eq(sorted(os.listdir(os.path.join(configfs, "usb_gadget"))), ["other"], "untouched")
        rc, out, err = t.run("--config", d.config_path, "gadget", "sideways")
        eq(rc, 2, "usage")
    finally:
        shutil.rmtree(tmp)


def test_daemon_sets_up_the_gadget_and_attaches_to_luns(t):
    tmp = tempfile.mkdtemp(prefix="ipkvm-gadget-")
    try:
        configfs, udc = fake_sys(tmp)
        d = t.daemon(usb_config(configfs, udc, "setup = 1\n"))
        s = d.admin()
        g = os.path.join(configfs, "usb_gadget", "ipkvm")
        check(os.path.isdir(g), "the daemon made the gadget")
        st = expect_ok(s.get("/api/msd"))
        eq([x["lun"] for x in st["drives"]], [0, 1], "the gadget's LUNs")
        iso = b"\0" * (320 * 2048)  # the kernel refuses CD images under 300 sectors
        r = s.request("PUT", "/api/msd/images/inst.iso", body=iso,
                      headers={"Content-Type": "application/octet-stream"})
        eq(r.status, 201, "upload")
        lun = os.path.join(g, "functions", "mass_storage.usb0", "lun.1")
        # A plain directory does not take the kernel's forced_eject: play the kernel's files.
        expect_ok(s.post("/api/msd/drives/1/attach", {"image": "inst.iso", "cdrom": True}))
        with open(os.path.join(lun, "file")) as f:
            eq(f.read().strip(), os.path.join(d.state_dir, "images", "inst.iso"), "LUN file")
        with open(os.path.join(lun, "cdrom")) as f:
            eq(f.read().strip(), "1", "LUN is a CD-ROM")
        with open(os.path.join(lun, "ro")) as f:
            eq(f.read().strip(), "1", "and read-only")
        expect_error(s.delete("/api/msd/images/inst.iso"), 409, "conflict")
        # The type changed (disk -> CD-ROM): the gadget was unplugged, and is plugged in
        # again a second later so the host looks at the drive anew.
        with open(os.path.join(g, "UDC")) as f:
            eq(f.read().strip(), "", "unplugged for the type change")
        deadline = time.monotonic() + 5
        while True:
            with open(os.path.join(g, "UDC")) as f:
                if f.read().strip() == "fe980000.usb":
                    break
            check(time.monotonic() < deadline, "the gadget was not plugged in again")
            time.sleep(0.1)
        small = s.request("PUT", "/api/msd/images/small.iso", body=b"\0" * 40960,
                          headers={"Content-Type": "application/octet-stream"})
        eq(small.status, 201, "upload")
        r = s.post("/api/msd/drives/0/attach", {"image": "small.iso", "cdrom": True})
        eq(r.status, 400, "a CD image under 600 KiB is refused: %r" % r.body[:200])
        check("600 KiB" in r.body.decode(), "says why")
        expect_ok(s.post("/api/msd/drives/1/eject"))
        with open(os.path.join(lun, "file")) as f:
            eq(f.read().strip(), "", "ejected")
        expect_ok(s.delete("/api/msd/images/inst.iso"))
    finally:
        shutil.rmtree(tmp)


def test_backends_msd_says_where_images_go(t):
    """/api/info reports the drives the daemon made, from the one place "auto" is resolved:
    with the gadget made but offering no LUNs ([usb] setup = 1, luns = 0), images go to the
    virtual target's drives, and /api/info must not say "gadget" (it once did)."""
    tmp = tempfile.mkdtemp(prefix="ipkvm-gadget-")
    try:
        configfs, udc = fake_sys(tmp)
        d = t.daemon("[usb]\nconfigfs = %s\nudc_dir = %s\nsetup = 1\nluns = 0\n" % (configfs, udc))
        s = d.admin()
        info = expect_ok(s.get("/api/info"))
        st = expect_ok(s.get("/api/msd"))
        eq(len(st["drives"]), 4, "the virtual target's four drives")
        eq(info["backends"]["msd"], "virtual", "backends.msd")
        r = s.request("PUT", "/api/msd/images/disk.img", body=b"\0" * 4096,
                      headers={"Content-Type": "application/octet-stream"})
        eq(r.status, 201, "upload")
        expect_ok(s.post("/api/msd/drives/3/attach", {"image": "disk.img", "cdrom": False}))
        check(not os.path.exists(os.path.join(configfs, "usb_gadget", "ipkvm", "functions",
                                              "mass_storage.usb0")), "no LUNs on the gadget")
        d.stop()
        # With LUNs, the same setting means the gadget's drives, and /api/info says so.
        configfs, udc = fake_sys(os.path.join(tmp, "second"))
        d = t.daemon(usb_config(configfs, udc, "setup = 1\n"))
        s = d.admin()
        eq(expect_ok(s.get("/api/info"))["backends"]["msd"], "gadget", "backends.msd")
        eq(len(expect_ok(s.get("/api/msd"))["drives"]), 2, "the gadget's two LUNs")
    finally:
        shutil.rmtree(tmp)


def test_an_image_a_lun_serves_stays_after_a_restart(t):
    """A restart keeps the gadget, and with it the image on the LUN: the new daemon never
    attached it (no hold in its memory), yet it must neither delete nor replace it while the
    kernel serves it to the target."""
    tmp = tempfile.mkdtemp(prefix="ipkvm-gadget-")
    try:
        configfs, udc = fake_sys(tmp)
        d = t.daemon(usb_config(configfs, udc, "setup = 1\n"))
        s = d.admin()
        disk = b"\x33" * (64 * 1024)
        r = s.request("PUT", "/api/msd/images/disk.img", body=disk,
                      headers={"Content-Type": "application/octet-stream"})
        eq(r.status, 201, "upload")
        expect_ok(s.post("/api/msd/drives/0/attach", {"image": "disk.img", "cdrom": False}))
        d.stop()
        d.start()
        lun = os.path.join(configfs, "usb_gadget", "ipkvm", "functions", "mass_storage.usb0",
                           "lun.0", "file")
        path = os.path.join(d.state_dir, "images", "disk.img")
        with open(lun) as f:
            eq(f.read().strip(), path, "the restart kept the gadget and the LUN's image")
        s = d.admin()
        r = s.delete("/api/msd/images/disk.img")
        expect_error(r, 409, "conflict")
        r = s.request("PUT", "/api/msd/images/disk.img", body=b"\0" * 1024,
                      headers={"Content-Type": "application/octet-stream"})
        eq(r.status, 409, "not replaced either: %r" % r.body[:200])
        st = expect_ok(s.get("/api/msd"))
        eq((st["drives"][0]["image"], st["images"][0]["attached"]), ("disk.img", True),
           "shown attached after the restart")
        with open(path, "rb") as f:
            eq(f.read() == disk, True, "the served bytes are untouched")
        expect_ok(s.post("/api/msd/drives/0/eject"))
        expect_ok(s.delete("/api/msd/images/disk.img"))
        check(not os.path.exists(path), "deleted once ejected")
    finally:
        shutil.rmtree(tmp)
