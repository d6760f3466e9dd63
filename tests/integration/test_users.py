"""Roles and user management: what viewers and operators may not do, the admin users API,
and the `ipkvmd user` CLI as seen by the daemon."""

import fcntl
import os
import re
import threading
import time

from harness import check, eq, expect_error, expect_ok, pick


def test_viewer(t):
    d = t.daemon()
    out = d.add_user("viewer1", "viewer-password-1", role="viewer")
    rc, out, err = d.run_cli("list")
    eq(rc, 0, "`user list` exit status (%s)" % err)
    check(re.search(r"^\s*viewer1\b.*\bviewer\b", out, re.M),
          "`user list` does not show viewer1 as viewer:\n" + out)
    s = d.session()
    res = s.login("viewer1", "viewer-password-1")
    eq((res.get("user"), res.get("role")), ("viewer1", "viewer"), "login result")
    info = expect_ok(s.get("/api/info"))
    eq(info.get("user"), {"name": "viewer1", "role": "viewer"}, "info.user")
    expect_error(s.get("/api/users"), 403, "forbidden")
    expect_error(s.post("/api/users", {"name": "x1", "password": "x-password-1",
                                       "role": "admin"}), 403, "forbidden")
    expect_error(s.post("/api/users/viewer1", {"role": "admin"}), 403, "forbidden")
    expect_error(s.delete("/api/users/admin"), 403, "forbidden")
    # the admin still exists and nothing changed
    a = d.admin()
    names = {u["name"]: u["role"] for u in expect_ok(a.get("/api/users"))["users"]}
    eq(names, {"admin": "admin", "viewer1": "viewer"}, "users after the viewer's attempts")
    # a viewer may change its own password
    expect_ok(s.post("/api/auth/password", {"old_password": "viewer-password-1",
                                            "new_password": "viewer-password-2"}))
    eq(s.check_auth().get("role"), "viewer", "viewer after its password change")


def test_operator(t):
    d = t.daemon()
    d.add_user("op1", "operator-password-1", role="operator")
    s = d.session()
    eq(s.login("op1", "operator-password-1").get("role"), "operator", "login role")
    expect_ok(s.get("/api/info"))
    expect_error(s.get("/api/users"), 403, "forbidden")
    expect_error(s.post("/api/users", {"name": "x1", "password": "x-password-1",
                                       "role": "viewer"}), 403, "forbidden")
    expect_error(s.post("/api/users/op1", {"role": "admin"}), 403, "forbidden")
    expect_error(s.delete("/api/users/admin"), 403, "forbidden")
    eq(s.check_auth().get("role"), "operator", "operator role unchanged")


def test_users_api(t):
    d = t.daemon()
    a = d.admin()
    lst = expect_ok(a.get("/api/users"))["users"]
    eq(lst, [{"name": "admin", "role": "admin", "totp": False}], "initial user list")
    r = a.post("/api/users", {"name": "alice", "password": "alice-password-1",
                              "role": "operator"})
    eq(pick(expect_ok(r, 201), "name", "role"), {"name": "alice", "role": "operator"},
       "create result")
    r = a.post("/api/users", {"name": "alice", "password": "other-password-1", "role": "viewer"})
    expect_error(r, 409, "conflict")
    lst = expect_ok(a.get("/api/users"))["users"]
    check({"name": "alice", "role": "operator", "totp": False} in lst,
          "alice not listed: %r" % lst)
    eq(len(lst), 2, "number of users")
    # the duplicate did not overwrite alice's password
    al = d.session()
    eq(al.login("alice", "alice-password-1").get("role"), "operator", "alice's role")
    eq(pick(expect_ok(a.post("/api/users/alice", {"role": "viewer"})), "name", "role"),
       {"name": "alice", "role": "viewer"}, "role change result")
    res = d.session().login("alice", "alice-password-1")
    eq(res.get("role"), "viewer", "alice's role after the change")
    # bad input
    for body, field in [({"name": "Bad Name!", "password": "good-password-1", "role": "viewer"},
                         "name"),
                        ({"name": "", "password": "good-password-1", "role": "viewer"}, "name"),
                        ({"name": "x" * 33, "password": "good-password-1", "role": "viewer"},
                         "name"),
                        ({"name": "frank", "password": "short", "role": "viewer"}, "password"),
                        ({"name": "frank", "password": "good-password-1", "role": "root"},
                         "role")]:
        expect_error(a.post("/api/users", body), 400, "bad_request", mentions=field)
    expect_error(a.post("/api/users/alice", {"role": "superuser"}), 400, "bad_request",
                 mentions="role")
    expect_error(a.post("/api/users/alice", {"password": "short"}), 400, "bad_request",
                 mentions="password")
    expect_error(a.post("/api/users/nosuch", {"role": "viewer"}), 404, "not_found")
    # yourself / the last admin
    expect_error(a.delete("/api/users/admin"), 409, "conflict")
    expect_error(a.post("/api/users/admin", {"role": "viewer"}), 409, "conflict")
    eq(a.check_auth().get("role"), "admin", "admin's role after the refused demotion")
    # delete
    eq(expect_ok(a.delete("/api/users/alice")), {}, "delete result")
    expect_error(a.delete("/api/users/alice"), 404, "not_found")
    eq(expect_ok(a.get("/api/users"))["users"],
       [{"name": "admin", "role": "admin", "totp": False}], "user list after delete")
    expect_error(d.session().try_login("alice", "alice-password-1"), 401, "bad_credentials")
    # the CLI sees what the API did
    rc, out, err = d.run_cli("list")
    eq(rc, 0, "`user list` exit status")
    check("alice" not in out and "admin" in out, "`user list` after API changes:\n" + out)


def test_cli_generate_and_errors(t):
    d = t.daemon()
    rc, out, err = d.run_cli("add", "gen1", "--role", "operator", "--generate")
    eq(rc, 0, "`user add --generate` exit status (stderr %r)" % err)
    m = re.search(r"^password: (\S+)$", out, re.M)
    check(m, "`user add --generate` printed no 'password: ...' line:\n" + out)
    res = d.session().login("gen1", m.group(1))
    eq(res.get("role"), "operator", "generated user's role")
    rc, out, err = d.run_cli("add", "gen1", "--role", "viewer", input="some-password-1\n")
    eq(rc, 1, "`user add` of an existing user: exit status")
    rc, out, err = d.run_cli("add", "Bad Name", input="some-password-1\n")
    check(rc != 0, "`user add 'Bad Name'` succeeded")
    rc, out, err = d.run_cli("add", "shorty", input="short\n")
    check(rc != 0, "`user add` with a 5-char password succeeded")
    rc, out, err = d.run_cli("role", "gen1", "emperor")
    check(rc != 0, "`user role gen1 emperor` succeeded")
    rc, out, err = d.run_cli("frobnicate")
    eq(rc, 2, "`user frobnicate` exit status (usage)")
    expect_error(d.session().try_login("shorty", "short"), 401, "bad_credentials")


def _put(d, name, text="x"):
    with open(os.path.join(d.state_dir, name), "w") as f:
        f.write(text)


def _exists(d, name):
    return os.path.lexists(os.path.join(d.state_dir, name))


def test_interrupted_write_leftovers_removed(t):
    """Issue 14 item 13: temp files of the users, tokens and initial-password files that a
    writer killed mid-write left behind are removed at start and by the next write, under
    the users lock (never while another writer holds it)."""
    d = t.daemon()
    d.stop()
    left = ["users.tmp-0123456789ab", "tokens.tmp-abcdef012345",
            "initial-admin-password.tmp-00ff00ff00ff"]
    kept = ["users.tmp-notes", "users.bak", "tokens.tmp-ABCDEF012345"]
    for name in left + kept:
        _put(d, name, "secret\n")
    d.start()
    for name in left:
        check(not _exists(d, name), "%s survived a restart" % name)
    for name in kept:
        check(_exists(d, name), "%s (not a temp file of ours) was removed" % name)
    a = d.admin()

    # left while the daemon runs (a killed `ipkvmd user ...`): the next write removes it
    _put(d, "users.tmp-111111111111")
    expect_ok(a.post("/api/users", {"name": "eve", "password": "eve-password-1",
                                    "role": "viewer"}), 201)
    check(not _exists(d, "users.tmp-111111111111"),
          "users.tmp-111111111111 survived a write of the users file")
    _put(d, "tokens.tmp-222222222222")
    d.cli_ok("token", "eve", "--label", "x")
    check(not _exists(d, "tokens.tmp-222222222222"),
          "tokens.tmp-222222222222 survived a write of the tokens file")

    # a writer that holds the users lock keeps its temp file: the daemon waits for the lock
    d.stop()
    users = os.path.join(d.state_dir, "users")
    busy = users + ".tmp-333333333333"
    with open(users) as f:
        content = f.read()
    started = []
    with open(os.path.join(d.state_dir, ".users.lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        with open(busy, "w") as f:
            f.write(content)
        th = threading.Thread(target=lambda: started.append(d.start() and True))
        th.start()
        time.sleep(1.0)
        check(os.path.exists(busy), "the daemon removed a temp file while its writer held "
              "the users lock")
        os.rename(busy, users)   # the writer finishes
        fcntl.flock(lk, fcntl.LOCK_UN)
    th.join(15)
    check(started == [True], "the daemon did not start once the lock was released")
    d.admin().check_auth()
