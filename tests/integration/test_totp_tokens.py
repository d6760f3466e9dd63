"""Second factor (TOTP, RFC 6238) and API tokens (Authorization: Bearer)."""

import base64
import re
import time

from harness import check, eq, expect_error, expect_ok, find_set_cookie, totp


def _rfc6238_selfcheck():
    # RFC 6238 appendix B, SHA-1, T = 59 -> 94287082 (8 digits); guards the test's own maths
    key = base64.b32encode(b"12345678901234567890").decode()
    eq(totp(key, t=59, digits=8), "94287082", "RFC 6238 vector at T=59")
    eq(totp(key, t=1111111109, digits=8), "07081804", "RFC 6238 vector at T=1111111109")


def test_totp(t):
    _rfc6238_selfcheck()
    d = t.daemon()
    rc, out, err = d.run_cli("totp", "admin")
    eq(rc, 0, "`user totp admin` exit status (stderr %r)" % err)
    lines = out.rstrip("\n").split("\n")
    eq(len(lines), 2, "`user totp` output lines (%r)" % out)
    m = re.fullmatch(r"secret: ([A-Z2-7]+=*)", lines[0])
    check(m, "first line is not 'secret: BASE32': %r" % lines[0])
    secret = m.group(1)
    check(len(secret.rstrip("=")) >= 26, "TOTP secret shorter than 128 bits: %r" % secret)
    check(lines[1].startswith("uri: otpauth://totp/") and "secret=" + secret.rstrip("=")
          in lines[1], "second line is not the otpauth uri with the secret: %r" % lines[1])
    a = d.session()
    r = a.try_login("admin", d.admin_password)
    expect_error(r, 401, "totp_required")
    check(find_set_cookie(r) is None, "totp_required set a cookie")
    # a code that is none of the ones around now
    now = time.time()
    near = {totp(secret, t=now + k * 30) for k in range(-3, 4)}
    wrong = "%06d" % ((int(totp(secret, t=now)) + 500000) % 1000000)
    while wrong in near:
        wrong = "%06d" % ((int(wrong) + 1) % 1000000)
    expect_error(a.try_login("admin", d.admin_password, totp=wrong), 401, "bad_credentials")
    if 30 - time.time() % 30 < 2:       # not at the very end of a step: no window needed
        time.sleep(30 - time.time() % 30 + 0.1)
    code = totp(secret)
    res = a.login("admin", d.admin_password, totp=code)
    eq(res.get("user"), "admin", "login with TOTP")
    a.check_auth()
    # the same code again is a replay
    expect_error(d.session().try_login("admin", d.admin_password, totp=code), 401,
                 "bad_credentials")
    users = expect_ok(a.get("/api/users"))["users"]
    eq(users, [{"name": "admin", "role": "admin", "totp": True}], "users list with TOTP on")
    # switching it off again
    rc, out, err = d.run_cli("totp", "admin", "--disable")
    eq(rc, 0, "`user totp admin --disable` exit status (stderr %r)" % err)
    d.session().login("admin", d.admin_password)


def test_api_token(t):
    d = t.daemon()
    rc, out, err = d.run_cli("token", "admin", "--label", "ci")
    eq(rc, 0, "`user token` exit status (stderr %r)" % err)
    lines = out.rstrip("\n").split("\n")
    token = lines[0]
    check(re.fullmatch(r"ipk_[A-Za-z0-9_-]{43}", token),
          "first line of `user token` is not an ipk_ token of 47 chars: %r" % token)
    check(len(lines) >= 2 and re.fullmatch(r"id: [0-9a-f]{12}", lines[1]),
          "second line of `user token` is not 'id: <12 hex>': %r" % out)
    tid = lines[1][4:]
    rc, out, err = d.run_cli("tokens")
    eq(rc, 0, "`user tokens` exit status")
    check(tid in out and "ci" in out and "admin" in out,
          "`user tokens` does not list the token:\n" + out)
    check(token not in out, "`user tokens` prints the secret token")
    tokens_file = open(d.state_dir + "/tokens").read()
    check(token not in tokens_file and token[4:] not in tokens_file,
          "the tokens file holds the token in clear")
    s = d.session(token=token)
    r = s.get("/api/auth/check")
    res = expect_ok(r)
    eq((res.get("user"), res.get("role"), res.get("auth")), ("admin", "admin", "token"),
       "check with a bearer token")
    check(find_set_cookie(r) is None, "a bearer request got a session cookie")
    eq(expect_ok(s.get("/api/info")).get("user"), {"name": "admin", "role": "admin"},
       "info.user with a token")
    # wrong tokens
    for bad in [token[:-1] + ("A" if token[-1] != "A" else "B"), token[:-1], "ipk_",
                token + "x", token[4:]]:
        expect_error(d.session(token=bad).get("/api/auth/check"), 401, "unauthorized")
    expect_error(d.request("GET", "/api/auth/check", headers={"Authorization": "bearer"}), 401,
                 "unauthorized")
    # revoke
    rc, out, err = d.run_cli("revoke", tid)
    eq(rc, 0, "`user revoke` exit status (stderr %r)" % err)
    expect_error(s.get("/api/auth/check"), 401, "unauthorized")
    rc, out, err = d.run_cli("revoke", tid)
    check(rc != 0, "revoking an unknown token id succeeded")


def test_token_follows_user(t):
    d = t.daemon()
    d.add_user("robot", "robot-password-1", role="operator")
    token = d.cli_ok("token", "robot", "--label", "x").split("\n")[0]
    s = d.session(token=token)
    eq(s.check_auth().get("role"), "operator", "token role")
    d.cli_ok("role", "robot", "viewer")
    eq(s.check_auth().get("role"), "viewer", "a token acts with its user's current role")
    a = d.admin()
    expect_ok(a.delete("/api/users/robot"))
    expect_error(s.get("/api/auth/check"), 401, "unauthorized")
