"""Session lifetime: idle and absolute expiry, and revocation when a user's password or role
changes (by API or by the CLI editing the users file) or the user is deleted."""

import os
import time

from harness import (check, cookie_session, eq, expect_error, expect_ok, find_set_cookie,
                     pick)


def test_idle_expiry(t):
    d = t.daemon(config="""
        [auth]
        session_idle = 2s
        """)
    s = d.session()
    res = s.login("admin", d.admin_password)
    eq(res.get("idle_timeout"), 2, "login result.idle_timeout")
    # requests 0.6 s apart keep it alive well past the idle time (sliding window); the gaps
    # stay under 1 s so whole-second clocks in the daemon cannot make this flaky
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:
        s.check_auth()
        time.sleep(0.6)
    s.check_auth()
    time.sleep(3.2)
    expect_error(s.get("/api/auth/check"), 401, "unauthorized")
    # and it stays dead even after that request
    expect_error(s.get("/api/info"), 401, "unauthorized")
    s.login("admin", d.admin_password)


def test_duration_forms(t):
    d = t.daemon(config="""
        [auth]
        session_idle = 90
        session_lifetime = 7d
        """)
    s = d.session()
    res = s.login("admin", d.admin_password)
    eq(res.get("idle_timeout"), 90, "idle_timeout for session_idle = 90")
    eq(find_set_cookie(s.last_login)[2].get("max-age"), "604800",
       "Max-Age for session_lifetime = 7d")


def test_absolute_lifetime(t):
    d = t.daemon(config="""
        [auth]
        session_lifetime = 3s
        session_idle = 1h
        """)
    s = d.session()
    t0 = time.monotonic()
    now = time.time()
    res = s.login("admin", d.admin_password)
    check(abs(res.get("expires", 0) - (now + 3)) <= 2,
          "login result.expires should be now + 3: %r (now %d)" % (res.get("expires"), now))
    c = find_set_cookie(s.last_login)
    eq(c[2].get("max-age"), "3", "cookie Max-Age")
    t1 = time.monotonic()
    # alive checks are timed from before the login (upper bound of the session's age), the
    # dead check from after it (lower bound), with room for whole-second clocks either way
    for at in (0.0, 0.9, 1.8):
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        s.check_auth()
    time.sleep(max(0.0, t1 + 4.05 - time.monotonic()))
    expect_error(s.get("/api/auth/check"), 401, "unauthorized")


def test_revoke_on_cli_passwd(t):
    d = t.daemon()
    s = d.admin()
    old = s.cookie
    d.cli_ok("passwd", "admin", input="brand-new-pass-1\n")
    expect_error(cookie_session(d, old).get("/api/auth/check"), 401, "unauthorized")
    check(not os.path.exists(os.path.join(d.state_dir, "initial-admin-password")),
          "initial-admin-password still exists after `user passwd admin`")
    expect_error(d.session().try_login("admin", d.admin_password), 401, "bad_credentials")
    d.session().login("admin", "brand-new-pass-1")


def test_revoke_on_api_password_of_other_user(t):
    d = t.daemon()
    a = d.admin()
    expect_ok(a.post("/api/users", {"name": "bob", "password": "bob-password-1",
                                    "role": "operator"}), 201)
    b = d.session()
    b.login("bob", "bob-password-1")
    b2 = d.session()
    b2.login("bob", "bob-password-1")
    res = expect_ok(a.post("/api/users/bob", {"password": "bob-password-2"}))
    eq(pick(res, "name", "role"), {"name": "bob", "role": "operator"},
       "POST /api/users/bob result")
    expect_error(b.get("/api/auth/check"), 401, "unauthorized")
    expect_error(b2.get("/api/info"), 401, "unauthorized")
    a.check_auth()   # the admin's own session is untouched
    expect_error(d.session().try_login("bob", "bob-password-1"), 401, "bad_credentials")
    d.session().login("bob", "bob-password-2")


def test_revoke_on_cli_role_change(t):
    d = t.daemon()
    d.add_user("carol", "carol-password-1", role="operator")
    a = d.admin()
    c = d.session()
    res = c.login("carol", "carol-password-1")
    eq(res.get("role"), "operator", "carol's role")
    d.cli_ok("role", "carol", "viewer")
    expect_error(c.get("/api/auth/check"), 401, "unauthorized")
    a.check_auth()
    res = d.session().login("carol", "carol-password-1")
    eq(res.get("role"), "viewer", "carol's role after `user role carol viewer`")


def test_revoke_on_api_role_change_and_delete(t):
    d = t.daemon()
    a = d.admin()
    expect_ok(a.post("/api/users", {"name": "dave", "password": "dave-password-1",
                                    "role": "operator"}), 201)
    s = d.session()
    s.login("dave", "dave-password-1")
    eq(pick(expect_ok(a.post("/api/users/dave", {"role": "viewer"})), "name", "role"),
       {"name": "dave", "role": "viewer"}, "role change result")
    expect_error(s.get("/api/auth/check"), 401, "unauthorized")
    s.login("dave", "dave-password-1")
    eq(s.check_auth().get("role"), "viewer", "dave's role")
    eq(expect_ok(a.delete("/api/users/dave")), {}, "delete result")
    expect_error(s.get("/api/auth/check"), 401, "unauthorized")
    expect_error(d.session().try_login("dave", "dave-password-1"), 401, "bad_credentials")


def test_revoke_on_cli_delete(t):
    d = t.daemon()
    d.add_user("erin", "erin-password-1", role="viewer")
    s = d.session()
    s.login("erin", "erin-password-1")
    d.cli_ok("del", "erin")
    expect_error(s.get("/api/auth/check"), 401, "unauthorized")
    expect_error(d.session().try_login("erin", "erin-password-1"), 401, "bad_credentials")


def test_one_user_cannot_log_others_out(t):
    """Issue 14 item 6: logins of one user (a viewer) in a full session store end that
    user's own oldest sessions, never the sessions of users holding fewer (here the admin's,
    the least recently used of all)."""
    d = t.daemon(config="""
        [auth]
        max_sessions = 8
        """)
    d.add_user("viewer1", "viewer-password-1", role="viewer")
    d.add_user("op1", "operator-password-1", role="operator")
    a = d.admin()
    o = d.session()
    o.login("op1", "operator-password-1")
    first = d.session()
    first.login("viewer1", "viewer-password-1")
    time.sleep(1.1)   # use is counted in whole seconds: first is the viewer's oldest
    last = None
    for _ in range(12):
        last = d.session()
        last.login("viewer1", "viewer-password-1")
    eq(a.check_auth().get("user"), "admin", "admin's session after 13 viewer logins")
    eq(o.check_auth().get("user"), "op1", "op1's session after 13 viewer logins")
    eq(last.check_auth().get("user"), "viewer1", "the viewer's newest session")
    # the store is full: the viewer's own least recently used session gave way
    expect_error(first.get("/api/auth/check"), 401, "unauthorized")


def test_max_sessions_per_user(t):
    """[auth] max_sessions_per_user: a user's next login ends that user's least recently used
    session, however much room the store has; other users are untouched."""
    d = t.daemon(config="""
        [auth]
        max_sessions_per_user = 3
        """)
    d.add_user("viewer1", "viewer-password-1", role="viewer")
    a = d.admin()
    v = []
    for i in range(3):
        if i == 2:
            time.sleep(1.1)   # use is counted in whole seconds
        s = d.session()
        s.login("viewer1", "viewer-password-1")
        v.append(s)
    v[0].check_auth()   # v[0] is now used more recently than v[1], the least recently used
    s = d.session()
    s.login("viewer1", "viewer-password-1")
    v.append(s)
    expect_error(v[1].get("/api/auth/check"), 401, "unauthorized")
    for i in (0, 2, 3):
        eq(v[i].check_auth().get("user"), "viewer1", "viewer session %d" % i)
    eq(a.check_auth().get("user"), "admin", "admin's session")
