"""The daemon as a process: command line, config errors, signals, the plain-HTTP redirect
listener, the audit log, and the Origin check of state-changing requests."""

import http.client
import json
import os
import re
import signal
import stat
import time

from harness import HOST, check, eq, expect_error, expect_ok, free_port, tail


def test_version_and_help(t):
    rc, out, err = t.run("--version", timeout=5)
    eq(rc, 0, "`ipkvmd --version` exit status (stderr %r)" % err)
    check(re.search(r"\b\d+\.\d+\.\d+\b", out), "`ipkvmd --version` prints no version: %r"
          % out)
    rc, out, err = t.run("--help", timeout=5)
    eq(rc, 0, "`ipkvmd --help` exit status (stderr %r)" % err)
    check("--config" in out, "`ipkvmd --help` does not mention --config:\n" + out)
    rc, out, err = t.run("--no-such-option", timeout=5)
    check(rc != 0, "`ipkvmd --no-such-option` exited 0")


def _start_fails(t, config, expect_in_stderr):
    d = t.daemon(config=config, start=False)
    t0 = time.monotonic()
    rc, out, err = t.run(*d.command()[1:], timeout=5)
    check(rc != 0, "ipkvmd started with a bad config:\n%s" % config)
    check(time.monotonic() - t0 < 5, "took too long to fail")
    for s in expect_in_stderr(d):
        check(s in err, "stderr should contain %r:\n%s" % (s, tail(err)))
    return err


def test_config_errors(t):
    _start_fails(t, "[server]\nmax_body = 2048\nbogus_key = 1\n",
                 lambda d: [d.config_path, ":3", "bogus_key"])
    _start_fails(t, "[auth]\nsession_idle = 1h\n\nsession_lifetime = banana\n",
                 lambda d: [d.config_path, ":4", "session_lifetime"])
    err = _start_fails(t, "[nosuchsection]\nkey = 1\n",
                       lambda d: [d.config_path, "nosuchsection"])
    check(re.search(r":[12]:", err), "no line number (1 or 2) in:\n" + tail(err))
    _start_fails(t, "[auth]\nsession_idle = 0s\n",
                 lambda d: [d.config_path, ":2", "session_idle"])
    _start_fails(t, "[server]\nmax_body = 2048\nmax_body = 4096\n",
                 lambda d: [d.config_path, ":3", "max_body"])


def test_sigterm(t):
    d = t.daemon()
    s = d.admin()
    ws = s.ws()
    ws.recv_event("hello")
    idle = d.tls_connect()     # an idle TLS connection must not hold up the exit
    t0 = time.monotonic()
    rc = d.stop(signal.SIGTERM, timeout=5)
    idle.close()
    ws.close_socket()
    check(rc is not None, "ipkvmd did not exit within 5 s of SIGTERM")
    eq(rc, 0, "exit status after SIGTERM (stderr:\n%s)" % tail(d.stderr()))
    check(time.monotonic() - t0 < 5, "exit took too long")


def test_sighup(t):
    d = t.daemon()
    d.admin()
    d.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    d.add_user("hupuser", "hup-password-1", role="operator")
    d.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    check(d.alive(), "ipkvmd died on SIGHUP (status %s)" % d.proc.poll())
    res = d.session().login("hupuser", "hup-password-1")
    eq(res.get("role"), "operator", "role of the user added by the CLI")
    r = d.request("GET", "/login")
    eq(r.status, 200, "GET /login after SIGHUP")
    expect_ok(d.admin().get("/api/info"))


def test_http_redirect(t):
    hp = free_port()
    d = t.daemon(config="[server]\nhttp_port = %d\n" % hp)
    deadline = time.monotonic() + 5
    while True:
        c = http.client.HTTPConnection(HOST, hp, timeout=5)
        try:
            c.request("GET", "/some/path?x=1")
            r = c.getresponse()
            body = r.read()
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise AssertionError("nothing listens on the http_port %d" % hp)
            time.sleep(0.1)
        finally:
            c.close()
    eq(r.status, 301, "plain HTTP status (body %r)" % body[:200])
    eq(r.getheader("Location"), "https://%s:%d/some/path?x=1" % (HOST, d.port),
       "redirect Location")
    c = http.client.HTTPConnection(HOST, hp, timeout=5)
    try:
        c.request("POST", "/api/auth/login", body=b"{}",
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
    finally:
        c.close()
    eq(r.status, 301, "plain HTTP POST status")
    eq(r.getheader("Location"), "https://%s:%d/api/auth/login" % (HOST, d.port),
       "redirect Location for a POST")
    # nothing but the redirect: no cookie, no API on plain HTTP
    check(not r.getheader("Set-Cookie"), "plain HTTP set a cookie")
    d.admin().check_auth()


def test_audit_log(t):
    d = t.daemon()
    s = d.session()
    expect_error(s.try_login("admin", "wrong-password"), 401, "bad_credentials")
    expect_error(s.try_login("ghost", "wrong-password"), 401, "bad_credentials")
    s.login("admin", d.admin_password)
    expect_ok(s.post("/api/auth/logout"))
    d.add_user("auditee", "auditee-password-1", role="viewer")
    path = os.path.join(d.state_dir, "audit.log")
    check(os.path.exists(path), "no audit.log")
    eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, "mode of audit.log")
    with open(path) as f:
        text = f.read()
    check(d.admin_password not in text, "audit.log contains the admin password")
    check("wrong-password" not in text, "audit.log contains a tried password")
    recs = []
    for i, line in enumerate(text.splitlines()):
        try:
            rec = json.loads(line)
        except ValueError:
            raise AssertionError("audit.log line %d is not JSON: %r" % (i + 1, line))
        check(isinstance(rec, dict), "audit.log line %d is not an object" % (i + 1))
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", str(rec.get("ts"))),
              "audit.log line %d: ts is not ISO-8601 UTC: %r" % (i + 1, rec.get("ts")))
        check(isinstance(rec.get("ok"), bool), "audit.log line %d: ok is not a bool" % (i + 1))
        recs.append(rec)

    def find(event, user, ok):
        for r in recs:
            if r.get("event") == event and r.get("user") == user:
                eq(r.get("ok"), ok, "%s record ok" % event)
                return r
        raise AssertionError("no %s record for %s in audit.log:\n%s" % (event, user, text))

    for event, user, ok in [("login_failed", "admin", False), ("login_failed", "ghost", False),
                            ("login", "admin", True), ("logout", "admin", True)]:
        r = find(event, user, ok)
        eq(r.get("addr"), "127.0.0.1", "%s record addr" % event)
    find("user_add", "auditee", True)
    # the other events of the contract, from the CLI and the API
    d.cli_ok("passwd", "auditee", input="auditee-password-2\n")
    d.cli_ok("role", "auditee", "operator")
    d.cli_ok("totp", "auditee")
    tid = d.cli_ok("token", "auditee", "--label", "a").split("\n")[1][4:]
    d.cli_ok("revoke", tid)
    a = d.admin()
    expect_ok(a.post("/api/users", {"name": "apiuser", "password": "api-password-1",
                                    "role": "viewer"}), 201)
    expect_ok(a.post("/api/users/apiuser", {"role": "operator"}))
    expect_ok(a.post("/api/users/apiuser", {"password": "api-password-2"}))
    expect_ok(a.delete("/api/users/apiuser"))
    d.cli_ok("del", "auditee")
    with open(path) as f:
        recs = [json.loads(line) for line in f.read().splitlines()]
    for event, user in [("user_passwd", "auditee"), ("user_role", "auditee"),
                        ("user_totp", "auditee"), ("token_add", "auditee"),
                        ("token_revoke", "auditee"), ("user_del", "auditee"),
                        ("user_add", "apiuser"), ("user_role", "apiuser"),
                        ("user_passwd", "apiuser"), ("user_del", "apiuser")]:
        find(event, user, True)
    api = [r for r in recs if r.get("user") == "apiuser"]
    check(all(r.get("addr") == "127.0.0.1" for r in api),
          "audit records of API user changes lack addr 127.0.0.1: %r" % api)
    events = [r["event"] for r in recs if r.get("user") == "admin"]
    check(events.index("login_failed") < events.index("login") < events.index("logout"),
          "audit records out of order: %r" % events)


def test_state_changing_origin(t):
    d = t.daemon()
    s = d.admin()
    r = s.post("/api/auth/logout", {}, headers={"Origin": "https://evil.example"})
    expect_error(r, 403, "bad_origin")
    s.check_auth()       # the foreign request did not log us out
    r = s.post("/api/users", {"name": "csrf", "password": "csrf-password-1", "role": "admin"},
               headers={"Origin": "https://evil.example"})
    expect_error(r, 403, "bad_origin")
    expect_error(d.session().try_login("csrf", "csrf-password-1"), 401, "bad_credentials")
    # the daemon's own origin is fine
    r = s.post("/api/auth/logout", {}, headers={"Origin": d.origin()})
    expect_ok(r)


def test_listen_address_not_on_this_machine(t):
    # 192.0.2.0/24 is reserved for documentation: never an address of this machine.
    d = t.daemon(start=False)
    argv = [a if a != "127.0.0.1" else "192.0.2.7" for a in d.command()[1:]]
    rc, out, err = t.run(*argv, timeout=5)
    check(rc != 0, "ipkvmd started listening on an address it does not have")
    check("192.0.2.7" in err and "no interface" in err, "says why:\n%s" % tail(err))


def _main_thread_sleeps(pid):
    """Times the daemon's main thread went to sleep in poll() (and woke up again): its
    voluntary context switches."""
    with open("/proc/%d/task/%d/status" % (pid, pid)) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc")


def test_idle_daemon_wakes_at_most_once_a_second(t):
    """No polling timers on the main thread: with no client, the loop sleeps until its
    one-second housekeeping (docs/performance.md has the figure). The default config drives
    the virtual target (video, HID and ATX all on), powered off."""
    d = t.daemon()
    time.sleep(2)  # the readiness probe's connection is gone
    before = _main_thread_sleeps(d.proc.pid)
    window = 10.0
    time.sleep(window)
    wakes = _main_thread_sleeps(d.proc.pid) - before
    check(wakes <= window + 2, "%d wake-ups in %.0f s with no client" % (wakes, window))
