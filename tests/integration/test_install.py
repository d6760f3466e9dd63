"""test_install: `make install` and `make uninstall` into a temp DESTDIR (the exact tree, the
kept config, what uninstall leaves), the systemd units (their keys always, and
`systemd-analyze verify` where it runs), the hardware profiles (each loaded by the binary
under test), the config keys named in docs/hardware.md and docs/remote-access.md (each must
be a key of the daemon), and scripts/pi-setup.sh against a fake root (dry run, edits,
idempotence).

Nothing here needs root or touches the running system: installs go to a DESTDIR and
pi-setup.sh always gets --root TMP. Every subprocess is bounded in time.

Docs convention (what the docs test greps): a setting is written `[section] key` in
backticks, and ```ini blocks hold `[section]` headers and `key = value` lines."""
import configparser
import os
import re
import shutil
import stat
import subprocess
import tempfile

from harness import check, eq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CMD_TIMEOUT = 90.0

UNIT_DIR = "usr/local/lib/systemd/system"
DATA_DIR = "usr/local/share/ipkvm"


def run(argv, cwd=ROOT, env=None, timeout=CMD_TIMEOUT, input=None):
    e = dict(os.environ)
    e.pop("DESTDIR", None)
    e.pop("PREFIX", None)
    e.pop("IPKVMD", None)
    e.pop("PURGE", None)
    if env:
        e.update(env)
    try:
        p = subprocess.run(argv, cwd=cwd, env=e, capture_output=True, text=True,
                           timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError("`%s` did not exit within %.0f s" % (" ".join(argv), timeout))
    return p.returncode, p.stdout, p.stderr


def run_ok(argv, **kw):
    rc, out, err = run(argv, **kw)
    if rc != 0:
        raise AssertionError("`%s` exited %d\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(argv), rc, out, err))
    return out + err


def make(target, destdir, *args):
    return ["make", "--no-print-directory", "-s", "-C", ROOT, target, "DESTDIR=" + destdir] \
        + list(args)


def tree(top):
    """Every file and symlink under top, as sorted relative paths."""
    out = []
    for d, dirs, files in os.walk(top):
        for f in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            out.append(os.path.relpath(os.path.join(d, f), top))
    return sorted(out)


def snapshot(top):
    snap = {}
    for rel in tree(top):
        with open(os.path.join(top, rel), "rb") as f:
            snap[rel] = f.read()
    return snap


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def source_files(sub):
    return sorted(os.path.relpath(os.path.join(d, f), ROOT)
                  for d, _, files in os.walk(os.path.join(ROOT, sub)) for f in files)


def profiles():
    d = os.path.join(ROOT, "data", "profiles")
    return sorted(f for f in os.listdir(d) if f.endswith(".ini"))


def expected_tree(prefix="usr/local", unitdir=UNIT_DIR, udevdir="etc/udev/rules.d"):
    data = prefix + "/share/ipkvm"
    files = ["etc/ipkvm/ipkvm.ini", udevdir + "/70-ipkvm.rules", prefix + "/bin/ipkvmd",
             unitdir + "/ipkvm-gadget.service", unitdir + "/ipkvmd.service",
             data + "/ipkvm.ini"]
    files += [data + "/profiles/" + p for p in profiles()]
    files += [data + "/" + w for w in source_files("web")]
    return sorted(files)


# --- the daemon's keys ---------------------------------------------------------------------


def documented_keys():
    """{(section, key): default text} from data/ipkvm.ini's commented `#key = value` lines
    (a unit test proves them equal to the parser's table)."""
    keys, section = {}, None
    for line in read(os.path.join(ROOT, "data", "ipkvm.ini")).split("\n"):
        m = re.match(r"^\[([a-z0-9_]+)\]\s*$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^#([a-z][a-z0-9_]*) =(?: (.*))?$", line)
        if m and section:
            keys[(section, m.group(1))] = m.group(2) or ""
    return keys


def table_keys():
    """(section, key) pairs of ipkvm_config_keys[] in src/core/config.c."""
    src = read(os.path.join(ROOT, "src", "core", "config.c"))
    return set(re.findall(r'\b(?:KEY|CHOICE)\(\s*"([a-z0-9_]+)",\s*"([a-z0-9_]+)"', src))


def keys():
    doc = documented_keys()
    tab = table_keys()
    check(len(doc) > 50, "data/ipkvm.ini lists %d keys: the parser found too few" % len(doc))
    eq(set(doc), tab, "keys in data/ipkvm.ini vs ipkvm_config_keys[] in src/core/config.c")
    return doc


def load_config(t, path):
    """Runs the binary under test on a config (strict parser), with an empty state dir.
    Returns (rc, stderr)."""
    state = tempfile.mkdtemp(prefix="ipkvm-cfg-")
    try:
        rc, out, err = t.run("--config", path, "--state-dir", state, "user", "list")
        eq(os.listdir(state), [], "loading a config wrote nothing into the state dir")
        return rc, err
    finally:
        shutil.rmtree(state, ignore_errors=True)


# --- make install / uninstall --------------------------------------------------------------


def test_install_tree(t):
    dest = tempfile.mkdtemp(prefix="ipkvm-destdir-")
    try:
        out = run_ok(make("install", dest, "IPKVMD=" + t.ipkvmd))
        eq(tree(dest), expected_tree(), "installed files")
        check("installed the default /etc/ipkvm/ipkvm.ini" in out, "says so: %s" % out)
        b = os.path.join(dest, "usr/local/bin/ipkvmd")
        eq(read(b, "rb"), read(t.ipkvmd, "rb"), "the binary is the one given")
        eq(stat.S_IMODE(os.stat(b).st_mode), 0o755, "binary mode")
        for rel in expected_tree():
            if rel.endswith("/ipkvmd"):
                continue
            eq(stat.S_IMODE(os.stat(os.path.join(dest, rel)).st_mode), 0o644, "mode of " + rel)
        for w in source_files("web"):
            eq(read(os.path.join(dest, DATA_DIR, w), "rb"), read(os.path.join(ROOT, w), "rb"),
               "installed " + w)
        for p in profiles():
            eq(read(os.path.join(dest, DATA_DIR, "profiles", p)),
               read(os.path.join(ROOT, "data", "profiles", p)), "installed profile " + p)
        ref = read(os.path.join(ROOT, "data", "ipkvm.ini"))
        eq(read(os.path.join(dest, "etc/ipkvm/ipkvm.ini")), ref, "default config")
        eq(read(os.path.join(dest, DATA_DIR, "ipkvm.ini")), ref, "reference config")
        # PREFIX=/usr/local: the units are the source files as they are.
        for u in ("ipkvmd.service", "ipkvm-gadget.service"):
            eq(read(os.path.join(dest, UNIT_DIR, u)), read(os.path.join(ROOT, "systemd", u)),
               "installed " + u)
        rules = read(os.path.join(dest, "etc/udev/rules.d/70-ipkvm.rules"))
        check(re.search(r'^KERNEL=="hidg\[0-9\]\*", GROUP="ipkvm", MODE="0660"$', rules, re.M),
              "udev rule for the hidg nodes: %r" % rules)
        # The binary looks for its UI where the install put it, and for the config where
        # the units point.
        check(b"\0/usr/local/share/ipkvm/web\0" in read(t.ipkvmd, "rb"),
              "the binary's compiled-in web root is /usr/local/share/ipkvm/web")
        rc, hlp, _ = t.run("--help")
        check(rc == 0 and "/etc/ipkvm/ipkvm.ini" in hlp, "default config path in --help")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


test_install_tree.timeout = 150


def test_install_keeps_config_and_uninstall_keeps_data(t):
    dest = tempfile.mkdtemp(prefix="ipkvm-destdir-")
    try:
        run_ok(make("install", dest, "IPKVMD=" + t.ipkvmd))
        conf = os.path.join(dest, "etc/ipkvm/ipkvm.ini")
        mine = "[server]\nport = 9443\n"
        with open(conf, "w") as f:
            f.write(mine)
        # a stale web file of an older version goes away on the next install
        stale = os.path.join(dest, DATA_DIR, "web", "assets", "old-version.js")
        with open(stale, "w") as f:
            f.write("//")
        out = run_ok(make("install", dest, "IPKVMD=" + t.ipkvmd))
        eq(read(conf), mine, "a changed /etc/ipkvm/ipkvm.ini survives a second install")
        check("kept /etc/ipkvm/ipkvm.ini" in out, "the second install says it kept it: " + out)
        eq(tree(dest), expected_tree(), "tree after the second install")

        # The daemon's state, as a running board would have it.
        state = os.path.join(dest, "var/lib/ipkvm")
        os.makedirs(os.path.join(state, "images"))
        with open(os.path.join(state, "users.json"), "w") as f:
            f.write("{}")
        run_ok(make("uninstall", dest))
        eq(tree(dest), ["etc/ipkvm/ipkvm.ini", "var/lib/ipkvm/users.json"],
           "uninstall leaves only the config and the state")
        eq(read(conf), mine, "config untouched by uninstall")
        check(os.path.isdir(os.path.join(state, "images")), "state dir untouched")
        out = run_ok(make("uninstall", dest))
        check("removed 0 entries" in out, "uninstall twice is harmless: " + out)
        run_ok(make("uninstall", dest, "PURGE=1"))
        eq(tree(dest), [], "PURGE=1 removes the config and the state too")
        check(not os.path.exists(os.path.join(dest, "etc/ipkvm")), "no /etc/ipkvm")
        check(not os.path.exists(state), "no /var/lib/ipkvm")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


test_install_keeps_config_and_uninstall_keeps_data.timeout = 150


def test_install_prefix_usr_and_wrong_binary(t):
    dest = tempfile.mkdtemp(prefix="ipkvm-destdir-")
    tmp = tempfile.mkdtemp(prefix="ipkvm-fakebin-")
    try:
        # The binary under test was built for /usr/local: PREFIX=/usr must refuse it, and
        # install nothing (its UI would not be found).
        rc, out, err = run(make("install", dest, "IPKVMD=" + t.ipkvmd, "PREFIX=/usr"))
        check(rc != 0 and "built for another prefix" in err, "refused: rc %d %r" % (rc, err))
        eq(tree(dest), [], "nothing installed")
        # A stand-in for a binary built with meson setup --prefix=/usr: runs, and holds the
        # web root string. The layout for a package: units and udev rule under /usr/lib.
        fake = os.path.join(tmp, "ipkvmd")
        with open(fake, "wb") as f:
            f.write(b"#!/bin/sh\nexit 0\n# \0/usr/share/ipkvm/web\0\n")
        os.chmod(fake, 0o755)
        run_ok(make("install", dest, "IPKVMD=" + fake, "PREFIX=/usr"))
        eq(tree(dest), expected_tree("usr", "usr/lib/systemd/system", "usr/lib/udev/rules.d"),
           "PREFIX=/usr tree")
        for u in ("ipkvmd.service", "ipkvm-gadget.service"):
            text = read(os.path.join(dest, "usr/lib/systemd/system", u))
            code = "\n".join(x for x in text.split("\n") if not x.startswith("#"))
            check("/usr/local" not in code, "%s: no /usr/local left" % u)
            check("ExecStart=/usr/bin/ipkvmd --config /etc/ipkvm/ipkvm.ini" in text,
                  "%s runs /usr/bin/ipkvmd" % u)
        run_ok(make("uninstall", dest, "PREFIX=/usr"))
        eq(tree(dest), ["etc/ipkvm/ipkvm.ini"], "PREFIX=/usr uninstall")
    finally:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


test_install_prefix_usr_and_wrong_binary.timeout = 150


# --- systemd units -------------------------------------------------------------------------


def parse_unit(path):
    """{section: {key: [values]}}; continuation lines are not used in our units."""
    units, section = {}, None
    for line in read(path).split("\n"):
        s = line.strip()
        if not s or s.startswith("#") or s.startswith(";"):
            continue
        check(not line.endswith("\\"), "%s: no continuation lines" % path)
        m = re.match(r"^\[(\w+)\]$", s)
        if m:
            section = units.setdefault(m.group(1), {})
            continue
        check(section is not None and "=" in s, "%s: bad line %r" % (path, line))
        k, v = s.split("=", 1)
        section.setdefault(k, []).append(v)
    return units


def one(sec, key):
    v = sec.get(key)
    check(v is not None and len(v) == 1, "exactly one %s= (got %r)" % (key, v))
    return v[0]


def test_units_keys_and_verify(t):
    d = parse_unit(os.path.join(ROOT, "systemd", "ipkvmd.service"))
    s = d["Service"]
    want = {
        "Type": "simple", "User": "ipkvm", "Group": "ipkvm",
        "ExecStart": "/usr/local/bin/ipkvmd --config /etc/ipkvm/ipkvm.ini",
        "Restart": "on-failure", "StandardError": "journal", "StateDirectory": "ipkvm",
        "StateDirectoryMode": "0700", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes", "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes", "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "", "AmbientCapabilities": "", "DevicePolicy": "closed",
        "RestrictSUIDSGID": "yes", "RestrictRealtime": "yes",
    }
    for k, v in want.items():
        eq(one(s, k), v, "ipkvmd.service %s=" % k)
    eq(set(one(s, "RestrictAddressFamilies").split()),
       {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}, "address families")
    allow = set(s.get("DeviceAllow", []))
    for dev in ("char-video4linux rw", "char-gpiochip rw", "char-hidg rw", "char-ttyUSB rw",
                "char-ttyACM rw"):
        check(dev in allow, "DeviceAllow=%s (have %r)" % (dev, sorted(allow)))
    eq(s.get("ReadWritePaths"), ["-/sys/kernel/config"], "configfs writable (LUN files)")
    check("User" not in s or s["User"] != ["root"], "not root")
    check("ipkvm-gadget.service" in one(d["Unit"], "After").split(), "after the gadget")
    eq(one(d["Install"], "WantedBy"), "multi-user.target", "ipkvmd WantedBy")

    g = parse_unit(os.path.join(ROOT, "systemd", "ipkvm-gadget.service"))
    gs = g["Service"]
    eq(one(gs, "Type"), "oneshot", "gadget Type=")
    eq(one(gs, "RemainAfterExit"), "yes", "gadget RemainAfterExit=")
    eq(one(gs, "ExecStart"), "/usr/local/bin/ipkvmd --config /etc/ipkvm/ipkvm.ini gadget up",
       "gadget ExecStart=")
    eq(one(gs, "ExecStop"), "/usr/local/bin/ipkvmd --config /etc/ipkvm/ipkvm.ini gadget down",
       "gadget ExecStop=")
    check("User" not in gs, "the gadget oneshot runs as root (configfs)")
    post = one(gs, "ExecStartPost")
    for attr in ("file", "ro", "cdrom", "forced_eject"):
        check("lun.*/%s" % attr in post, "ExecStartPost chowns lun.*/%s" % attr)
    check("chown ipkvm:ipkvm" in post and "usb_gadget/ipkvm/functions/mass_storage.usb0" in post,
          "ExecStartPost hands the LUN files to ipkvm: %r" % post)
    eq(one(g["Unit"], "Before"), "ipkvmd.service", "gadget Before=")
    eq(one(g["Unit"], "ConditionPathExists"), "/sys/kernel/config/usb_gadget",
       "gadget ConditionPathExists=")

    # systemd-analyze verify, where it runs: on copies whose ExecStart points at the binary
    # under test (verify checks that the command exists). A trivial unit first tells
    # "cannot run here" from "our units are wrong".
    sa = shutil.which("systemd-analyze")
    if not sa:
        return
    tmp = tempfile.mkdtemp(prefix="ipkvm-units-")
    try:
        probe = os.path.join(tmp, "ipkvm-probe.service")
        with open(probe, "w") as f:
            f.write("[Service]\nType=oneshot\nExecStart=%s --version\n" % t.ipkvmd)
        rc, out, err = run([sa, "verify", probe], timeout=60)
        if rc != 0 or (out + err).strip():
            return  # systemd-analyze cannot verify anything on this machine
        os.remove(probe)
        paths = []
        for u in ("ipkvmd.service", "ipkvm-gadget.service"):
            p = os.path.join(tmp, u)
            with open(p, "w") as f:
                f.write(read(os.path.join(ROOT, "systemd", u))
                        .replace("/usr/local/bin/ipkvmd", t.ipkvmd))
            paths.append(p)
        rc, out, err = run([sa, "verify"] + paths, timeout=60)
        eq((rc, (out + err).strip()), (0, ""), "systemd-analyze verify (status, output)")
        # and it does complain about a key it does not know (the check has teeth)
        with open(paths[0], "a") as f:
            f.write("ProtectKernalTunables=yes\n")
        rc, out, err = run([sa, "verify", paths[0]], timeout=60)
        check("ProtectKernalTunables" in out + err, "verify reports a misspelt key: %r"
              % (out + err))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


test_units_keys_and_verify.timeout = 150


# --- hardware profiles ---------------------------------------------------------------------


def read_ini(path):
    cp = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"),
                                   inline_comment_prefixes=None, strict=True,
                                   empty_lines_in_values=False)
    cp.optionxform = str
    cp.read(path)
    return cp


def test_profiles_are_accepted_by_the_daemon(t):
    table = keys()
    names = profiles()
    eq(names, ["ch9329.ini", "pi4-tc358743.ini", "pi4-usb-dongle.ini"], "profiles")
    for name in names:
        path = os.path.join(ROOT, "data", "profiles", name)
        rc, err = load_config(t, path)
        eq((rc, err), (0, ""), "%s loads cleanly (status, stderr)" % name)
        # Commented-out alternatives must be real keys too, for when they are uncommented.
        section = None
        for n, line in enumerate(read(path).split("\n"), 1):
            m = re.match(r"^\[([a-z0-9_]+)\]$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^#?([a-z][a-z0-9_]*) = ", line)
            if m and section:
                check((section, m.group(1)) in table,
                      "%s:%d: [%s] %s is not a config key" % (name, n, section, m.group(1)))
    # The check has teeth: a misspelt key is refused with its line.
    tmp = tempfile.mkdtemp(prefix="ipkvm-prof-")
    try:
        bad = os.path.join(tmp, "bad.ini")
        with open(bad, "w") as f:
            f.write(read(os.path.join(ROOT, "data", "profiles", "pi4-usb-dongle.ini"))
                    .replace("mjpeg = 1", "mjepg = 1"))
        rc, err = load_config(t, bad)
        check(rc == 2 and "unknown key" in err and "mjepg" in err,
              "a misspelt key is refused: rc %d %r" % (rc, err))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    dongle = read_ini(os.path.join(ROOT, "data", "profiles", "pi4-usb-dongle.ini"))
    eq((dongle["video"]["source"], dongle["video"]["device"], dongle["video"]["mjpeg"]),
       ("v4l2", "/dev/video0", "1"), "dongle: UVC MJPEG passthrough")
    eq((dongle["hid"]["output"], dongle["msd"]["drives"], dongle["atx"]["driver"]),
       ("gadget", "gadget", "gpio"), "dongle: gadget HID and drives, GPIO ATX")
    eq(tuple(dongle["atx"][k] for k in ("power_button", "reset_button", "power_led", "hdd_led",
                                         "buttons_active_low", "power_led_active_low",
                                         "hdd_led_active_low")),
       ("23", "27", "24", "22", "0", "1", "1"), "dongle: the documented ATX pins")
    tc = read_ini(os.path.join(ROOT, "data", "profiles", "pi4-tc358743.ini"))
    eq((tc["video"]["source"], tc["video"]["edid"], tc["hid"]["output"]),
       ("v4l2", "1080p50", "gadget"), "tc358743: V4L2, the 1080p50 EDID (2 CSI-2 lanes)")
    eq((tc["h264"]["backend"], tc["h264"]["device"]), ("auto", "/dev/video11"),
       "tc358743: H.264 from the hardware encoder")
    ch = read_ini(os.path.join(ROOT, "data", "profiles", "ch9329.ini"))
    eq((ch["hid"]["output"], ch["hid"]["serial"], ch["hid"]["baud"], ch["msd"]["drives"]),
       ("ch9329", "/dev/ttyUSB0", "9600", "none"), "ch9329: serial HID, no drives")
    # Units and profiles agree: the gadget is made by the root oneshot, not the daemon.
    for p in (dongle, tc, ch):
        eq(p["usb"]["setup"], "0", "[usb] setup = 0 (ipkvm-gadget.service makes the gadget)")


# --- docs ----------------------------------------------------------------------------------


DOC_KEY = re.compile(r"`\[([a-z0-9_]+)\] ([a-z0-9_]+)")


def doc_keys(path):
    """(section, key, line) for every `[section] key` and every key line of an ini block."""
    found = []
    in_ini, section = False, None
    for n, line in enumerate(read(path).split("\n"), 1):
        if line.startswith("```"):
            in_ini = line.strip() == "```ini"
            section = None
            continue
        if in_ini:
            m = re.match(r"^\[([a-z0-9_]+)\]\s*$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^#?\s*([a-z][a-z0-9_]*)\s*=", line)
            if m and not line.startswith("# "):
                check(section is not None, "%s:%d: key before any [section]" % (path, n))
                found.append((section, m.group(1), n))
            continue
        for m in DOC_KEY.finditer(line):
            found.append((m.group(1), m.group(2), n))
    return found


def test_docs_name_real_config_keys(t):
    table = keys()
    seen = set()
    minimum = {"hardware.md": 15, "remote-access.md": 4}
    for doc, least in minimum.items():
        path = os.path.join(ROOT, "docs", doc)
        check(os.path.isfile(path), "docs/%s exists" % doc)
        found = doc_keys(path)
        bad = ["docs/%s:%d: [%s] %s" % (doc, n, s, k) for s, k, n in found
               if (s, k) not in table]
        eq(bad, [], "documented keys that ipkvmd does not know")
        distinct = {(s, k) for s, k, _ in found}
        check(len(distinct) >= least, "docs/%s names %d keys (at least %d expected)"
              % (doc, len(distinct), least))
        seen |= distinct
    for need in [("server", "listen"), ("server", "tls_cert"), ("server", "tls_key"),
                 ("atx", "power_button"), ("atx", "reset_button"), ("atx", "power_led"),
                 ("atx", "hdd_led"), ("video", "edid"), ("hid", "output"), ("usb", "setup")]:
        check(need in seen, "the docs explain `[%s] %s`" % need)
    # And from the binary itself: a config setting every documented key to its default loads.
    tmp = tempfile.mkdtemp(prefix="ipkvm-dockeys-")
    try:
        by_section = {}
        for s, k in sorted(seen):
            by_section.setdefault(s, []).append("%s = %s" % (k, table[(s, k)]))
        path = os.path.join(tmp, "docs.ini")
        with open(path, "w") as f:
            for s, lines in by_section.items():
                f.write("[%s]\n%s\n" % (s, "\n".join(lines)))
        rc, err = load_config(t, path)
        eq((rc, err), (0, ""), "the daemon takes every key the docs name (status, stderr)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- scripts/pi-setup.sh -------------------------------------------------------------------


PI_OS_CONFIG = """\
# For more options and information see
# http://rptl.io/configtxt
dtparam=audio=on
camera_auto_detect=1
display_auto_detect=1
auto_initramfs=1
dtoverlay=vc4-kms-v3d
max_framebuffers=2
arm_64bit=1

[cm4]
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host

[all]

"""
CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=abcd-02 rootfstype=ext4 rootwait\n"


def fake_root(boot="boot/firmware"):
    root = tempfile.mkdtemp(prefix="ipkvm-piroot-")
    os.makedirs(os.path.join(root, boot))
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(root, boot, "config.txt"), "w") as f:
        f.write(PI_OS_CONFIG)
    with open(os.path.join(root, boot, "cmdline.txt"), "w") as f:
        f.write(CMDLINE)
    with open(os.path.join(root, "etc", "hostname"), "w") as f:
        f.write("ipkvm\n")
    return root


def pi_setup(root, *args):
    return run_ok(["bash", os.path.join(ROOT, "scripts", "pi-setup.sh"), "--root", root]
                  + list(args), timeout=60)


def block(*lines):
    return ("# BEGIN ipkvm: written by ipkvm's scripts/pi-setup.sh, replaced when it runs "
            "again\n[all]\n" + "".join(l + "\n" for l in lines) + "# END ipkvm\n")


DWC2 = ("# The USB-C port as a USB device: the target sees ipkvm's keyboard, mice and drives.",
        "dtoverlay=dwc2,dr_mode=peripheral")
TC = ("# TC358743 HDMI-to-CSI bridge on the camera connector (not auto-detected).",
      "camera_auto_detect=0", "dtoverlay=tc358743")
GPIO = ("# ATX lines from boot on: LED inputs (GPIO24, GPIO22) pulled up for the",
        "# optocouplers, button outputs (GPIO23, GPIO27) driven low (not pressed).",
        "gpio=22,24=ip,pu", "gpio=23,27=op,dl")


def test_pi_setup_dry_run_edits_and_idempotence(t):
    root = fake_root()
    try:
        fw = os.path.join(root, "boot/firmware")
        before = snapshot(root)
        out = pi_setup(root, "--dry-run", "--tc358743", "--cma", "128M")
        eq(snapshot(root), before, "--dry-run changes nothing")
        for want in ("would write %s/config.txt" % fw, "+dtoverlay=dwc2,dr_mode=peripheral",
                     "+dtoverlay=tc358743", "+console=serial0,115200 console=tty1 "
                     "root=PARTUUID=abcd-02 rootfstype=ext4 rootwait cma=128M",
                     "would write %s/etc/modules-load.d/ipkvm.conf" % root,
                     "would write %s/etc/ipkvm/ipkvm.ini" % root,
                     "skipped (not the running system): make -C %s install" % ROOT,
                     "skipped (not the running system): systemctl enable ipkvmd.service",
                     "dry run: nothing was changed"):
            check(want in out, "dry run output mentions %r:\n%s" % (want, out))

        out = pi_setup(root, "--tc358743", "--cma", "128M")
        cfg = read(os.path.join(fw, "config.txt"))
        eq(cfg, PI_OS_CONFIG.rstrip("\n") + "\n\n" + block(*(DWC2 + TC + GPIO)),
           "config.txt: the original, then the ipkvm block")
        eq(read(os.path.join(fw, "config.txt.before-ipkvm")), PI_OS_CONFIG, "backup")
        eq(read(os.path.join(fw, "cmdline.txt")), CMDLINE.rstrip("\n") + " cma=128M\n",
           "cmdline.txt")
        eq(read(os.path.join(root, "etc/modules-load.d/ipkvm.conf")).split("\n")[1:],
           ["dwc2", "libcomposite", ""], "modules-load.d")
        eq(read(os.path.join(root, "etc/ipkvm/ipkvm.ini")),
           read(os.path.join(ROOT, "data/profiles/pi4-tc358743.ini")), "profile as config")
        check("ipkvm.local:8443" in out, "says where to go: " + out)

        # idempotent: a second run changes no byte
        after = snapshot(root)
        out = pi_setup(root, "--tc358743", "--cma", "128M")
        eq(snapshot(root), after, "a second run changes nothing")
        check(out.count("unchanged:") == 4, "it says so: " + out)

        # other options rewrite the block, never duplicate it; cma= is replaced, not added
        pi_setup(root, "--cma", "256M")
        cfg = read(os.path.join(fw, "config.txt"))
        eq(cfg, PI_OS_CONFIG.rstrip("\n") + "\n\n" + block(*(DWC2 + GPIO)), "dongle block")
        eq(cfg.count("dr_mode=peripheral"), 1, "one dwc2 line")
        check("dtoverlay=dwc2,dr_mode=host" in cfg, "the [cm5] line is the user's, kept")
        eq(read(os.path.join(fw, "cmdline.txt")), CMDLINE.rstrip("\n") + " cma=256M\n",
           "cma replaced")
        eq(read(os.path.join(root, "etc/ipkvm/ipkvm.ini")),
           read(os.path.join(ROOT, "data/profiles/pi4-usb-dongle.ini")),
           "an untouched profile is switched")
        eq(read(os.path.join(fw, "config.txt.before-ipkvm")), PI_OS_CONFIG,
           "the backup is the first original")

        # a config the user edited is never replaced
        conf = os.path.join(root, "etc/ipkvm/ipkvm.ini")
        with open(conf, "a") as f:
            f.write("\n[jpeg]\nquality = 70\n")
        mine = read(conf)
        out = pi_setup(root, "--tc358743")
        eq(read(conf), mine, "edited config kept")
        check("kept %s" % conf in out, "says it kept it: " + out)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_pi_setup_old_boot_layout_and_ch9329(t):
    root = fake_root(boot="boot")
    try:
        with open(os.path.join(root, "boot/config.txt"), "a") as f:
            f.write("[all]\ndtoverlay=dwc2\n")
        os.makedirs(os.path.join(root, "etc/modules-load.d"))
        with open(os.path.join(root, "etc/modules-load.d/ipkvm.conf"), "w") as f:
            f.write("dwc2\nlibcomposite\n")
        out = pi_setup(root, "--ch9329", "--no-install")
        cfg = read(os.path.join(root, "boot/config.txt"))
        check(cfg.endswith("\n\n" + block()), "ch9329: an empty block (no gadget, no ATX):\n"
              + cfg)
        check("has its own \"dtoverlay=dwc2\"" in out, "the user's own dwc2 line is pointed "
              "out: " + out)
        check(not os.path.exists(os.path.join(root, "etc/modules-load.d/ipkvm.conf")),
              "no dwc2/libcomposite modules for --ch9329")
        eq(read(os.path.join(root, "etc/ipkvm/ipkvm.ini")),
           read(os.path.join(ROOT, "data/profiles/ch9329.ini")), "ch9329 profile")
        check("make -C" not in out and "deps.sh" not in out, "--no-install: " + out)
        check("systemctl disable ipkvm-gadget.service" in out, "gadget unit disabled: " + out)
        # No config.txt (not a Raspberry Pi OS root): refused before anything is written.
        empty = tempfile.mkdtemp(prefix="ipkvm-piroot-")
        try:
            rc, _, err = run(["bash", os.path.join(ROOT, "scripts", "pi-setup.sh"), "--root",
                              empty, "--no-install"], timeout=30)
            check(rc != 0 and "no config.txt" in err, "no config.txt: refused: %r" % err)
            eq(tree(empty), [], "nothing written without a config.txt")
        finally:
            shutil.rmtree(empty, ignore_errors=True)
        rc, _, err = run(["bash", os.path.join(ROOT, "scripts", "pi-setup.sh"), "--root", root,
                          "--cma", "lots"], timeout=30)
        check(rc != 0 and "--cma" in err, "bad --cma refused: %r" % err)
        rc, _, err = run(["bash", os.path.join(ROOT, "scripts", "pi-setup.sh"), "--root", root,
                          "--profile", "nope"], timeout=30)
        check(rc != 0 and "no profile" in err, "unknown profile refused: %r" % err)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_scripts_pass_shellcheck(t):
    scripts = [os.path.join(ROOT, "scripts", s)
               for s in ("install.sh", "uninstall.sh", "pi-setup.sh")]
    for s in scripts:
        run_ok(["bash", "-n", s], timeout=30)
    sc = shutil.which("shellcheck")
    if sc:
        run_ok([sc] + scripts, timeout=60)
