"""The daemon's part of the translated console: each user's language kept on the device
(GET /api/auth/check, POST /api/auth/language, the preferences file of the state directory),
and the translation module and catalogs the login page loads before anyone is logged in.
Each test serves a small web root of its own with two catalogs (en, ja)."""

import json
import os
import stat

from harness import check, eq, expect_error, expect_ok


def web_root(d):
    """A web root in the daemon's temp dir: a login page, the i18n module, two catalogs."""
    root = os.path.join(d.tmp, "web")
    files = {
        "login.html": "<!doctype html><title>login</title><p>log in</p>\n",
        "index.html": "<!doctype html><title>console</title>\n",
        "assets/i18n.js": "// @ts-check\nexport function t(key) { return key; }\n",
        "i18n/languages.json": json.dumps({"en": "English", "ja": "日本語"}, ensure_ascii=False),
        "i18n/en.json": json.dumps({"login": {"title": "Log in"}}),
        "i18n/ja.json": json.dumps({"login": {"title": "ログイン"}}, ensure_ascii=False),
        "i18n/notes.txt": "not a catalog\n",
        "i18n/old/ja.json": "{}",
    }
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return root


def start(t):
    d = t.daemon(start=False)
    d.args += ["--web-root", web_root(d)]
    d.start()
    return d


def prefs_text(d):
    path = os.path.join(d.state_dir, "preferences")
    if not os.path.exists(path):
        return None
    eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, "mode of the preferences file")
    with open(path) as f:
        return f.read()


def test_language_is_kept_per_user(t):
    d = start(t)
    d.add_user("viewer1", "viewer-password-1", role="viewer")
    v = d.session()
    v.login("viewer1", "viewer-password-1")
    eq(v.check_auth().get("language", "absent"), None, "language before any choice")
    # a viewer may choose; the answer and the check say it
    res = expect_ok(v.post("/api/auth/language", {"language": "ja"}))
    eq(res, {"language": "ja"}, "result of POST /api/auth/language")
    eq(v.check_auth().get("language"), "ja", "check after choosing ja")
    eq(prefs_text(d), "viewer1:ja\n", "preferences file")
    # other users are not touched
    a = d.admin()
    eq(a.check_auth().get("language", "absent"), None, "the admin's language")
    expect_ok(a.post("/api/auth/language", {"language": "en"}))
    eq(a.check_auth().get("language"), "en", "the admin's language after choosing")
    eq(v.check_auth().get("language"), "ja", "viewer1's language after the admin chose")
    # an API token acts for its user
    token = d.cli_ok("token", "viewer1", "--label", "i18n").split("\n")[0].strip()
    tk = d.session(token=token)
    eq(tk.check_auth().get("language"), "ja", "language seen through a token")
    eq(expect_ok(tk.post("/api/auth/language", {"language": "en"})), {"language": "en"},
       "a token sets its user's language")
    eq(v.check_auth().get("language"), "en", "the session sees the token's choice")

    # refusals: bad tags, codes without a catalog, wrong types, a sloppy body
    for body, field in (({"language": "JA"}, "'language'"), ({"language": "../ja"}, "'language'"),
                        ({"language": "ja.json"}, "'language'"), ({"language": "de"}, "'language'"),
                        ({"language": "ja-JP"}, "'language'"), ({"language": ""}, "'language'"),
                        ({"language": 5}, "'language'"), ({"language": ["ja"]}, "'language'"),
                        ({"language": "notes"}, "'language'"),
                        ({"language": "x" * 40}, "'language'"), ({}, "'language'"),
                        ({"language": "ja", "x": 1}, "'x'"), ({"lang": "ja"}, "lang")):
        r = v.post("/api/auth/language", body)
        expect_error(r, 400, "bad_request", mentions=field)
    eq(v.check_auth().get("language"), "en", "language after the refusals")
    # null clears
    eq(expect_ok(v.post("/api/auth/language", {"language": None})), {"language": None},
       "result of clearing")
    eq(v.check_auth().get("language", "absent"), None, "language after clearing")
    eq(prefs_text(d), "admin:en\n", "preferences file after clearing")
    # strangers may not
    expect_error(d.session().post("/api/auth/language", {"language": "ja"}), 401,
                 "unauthorized")
    r = v.get("/api/auth/language")
    eq(r.status, 405, "GET /api/auth/language (%s)" % r.describe())


def test_language_survives_restart_and_goes_with_its_user(t):
    d = start(t)
    d.add_user("alice", "alice-password-1", role="operator")
    d.add_user("bob", "bob-password-1", role="viewer")
    s = d.session()
    s.login("alice", "alice-password-1")
    expect_ok(s.post("/api/auth/language", {"language": "ja"}))
    b = d.session()
    b.login("bob", "bob-password-1")
    expect_ok(b.post("/api/auth/language", {"language": "en"}))
    eq(prefs_text(d), "alice:ja\nbob:en\n", "preferences file")

    eq(d.stop(), 0, "exit status of the first daemon")
    d.start()
    s = d.session()
    s.login("alice", "alice-password-1")
    eq(s.check_auth().get("language"), "ja", "alice's language after a restart")

    # deleting a user through the API removes its line
    a = d.admin()
    expect_ok(a.delete("/api/users/alice"))
    eq(prefs_text(d), "bob:en\n", "preferences file after deleting alice")
    # a new user of the same name starts without a language
    expect_ok(a.post("/api/users", {"name": "alice", "password": "alice-password-2",
                                    "role": "viewer"}), 201)
    s = d.session()
    s.login("alice", "alice-password-2")
    eq(s.check_auth().get("language", "absent"), None, "the new alice's language")
    # and through the CLI too
    d.cli_ok("del", "bob")
    eq(prefs_text(d), "", "preferences file after `ipkvmd user del bob`")


def test_login_page_files_are_public(t):
    d = start(t)
    for path, ctype, needle in (("/assets/i18n.js", "text/javascript", b"export function t"),
                                ("/i18n/languages.json", "application/json; charset=utf-8",
                                 "日本語".encode()),
                                ("/i18n/ja.json", "application/json; charset=utf-8",
                                 "ログイン".encode()),
                                ("/i18n/en.json", "application/json; charset=utf-8",
                                 b"Log in")):
        r = d.request("GET", path)
        eq(r.status, 200, "GET %s without a session (%s)" % (path, r.describe()))
        got = (r.headers.get("Content-Type") or "").lower()
        check(got.startswith(ctype), "GET %s Content-Type %r, expected %r" % (path, got, ctype))
        check(needle in r.body, "GET %s body %r lacks %r" % (path, r.body[:200], needle))
    # a catalog that does not exist is a 404, not a login page
    r = d.request("GET", "/i18n/de.json")
    eq(r.status, 404, "GET /i18n/de.json (%s)" % r.describe())
    # nothing else under /i18n/ is public
    for path in ("/i18n/notes.txt", "/i18n/old/ja.json", "/i18n/", "/i18n/JA.json"):
        r = d.request("GET", path)
        eq(r.status, 401, "GET %s without a session (%s)" % (path, r.describe()))
        check(b"catalog" not in r.body and b"{}" not in r.body,
              "GET %s without a session leaks the file" % path)
    # after login they are served as any file of the UI
    s = d.admin()
    r = s.get("/i18n/notes.txt")
    eq(r.status, 200, "GET /i18n/notes.txt after login (%s)" % r.describe())
    r = s.get("/i18n/ja.json")
    eq(r.status, 200, "GET /i18n/ja.json after login (%s)" % r.describe())
    eq(json.loads(r.body.decode()), {"login": {"title": "ログイン"}}, "the ja catalog")
