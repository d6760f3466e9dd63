"""harness: the fixtures of the ipkvmd integration tests (Python 3 standard library only).

Every test runs real `ipkvmd` processes on 127.0.0.1 and talks to them the way a browser or a
script would: HTTPS verified against the certificate the daemon generated (so the certificate
itself is under test), cookies parsed from Set-Cookie by hand, WebSocket framing done by hand
over the TLS socket. Nothing here knows the daemon's internals; it only knows the contract in
docs/api.md.

Shape:
  Fixture      one per test; starts daemons, runs the binary, and at teardown checks that no
               daemon crashed or printed sanitizer reports (AddressSanitizer, UBSan
               "runtime error:", LeakSanitizer), then stops them.
  Daemon       one ipkvmd process with its own temp state dir, config file and port.
  Session      an HTTPS client that keeps cookies; returns Resp objects.
  WebSocket    an RFC 6455 client over TLS.
Every network operation has a timeout, so a hung daemon fails a test instead of the suite.
"""

import atexit
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import textwrap
import threading
import time

HOST = "127.0.0.1"
REQUEST_TIMEOUT = 10.0  # seconds for one HTTP exchange (daemons may run under ASan)
READY_TIMEOUT = 10.0    # seconds from spawn until TLS connect works
CLI_TIMEOUT = 20.0      # seconds for one `ipkvmd user ...` run
STOP_TIMEOUT = 5.0      # seconds a daemon gets to exit after SIGTERM

SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "ThreadSanitizer")

# ---------------------------------------------------------------------------------------------
# process bookkeeping: every daemon ever started is killed when the runner exits, whatever
# happened (atexit), and ports handed out are never handed out twice in one run.

_live = set()
_live_lock = threading.Lock()
_ports_used = set()
_shutting_down = False


def _kill_all():
    global _shutting_down
    with _live_lock:
        _shutting_down = True   # from now on start() kills what it spawns
        procs = list(_live)
    for p in procs:
        try:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        except Exception:
            pass


atexit.register(_kill_all)


def shutting_down():
    return _shutting_down


def free_port():
    """A TCP port free on 127.0.0.1 right now (bind :0 and close), never the same twice."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        with _live_lock:
            if port not in _ports_used:
                _ports_used.add(port)
                return port
    raise RuntimeError("no free port found")


def sanitizer_excerpt(text, limit=4000):
    """The first sanitizer report in text (from its "=====" banner or its line on), or None."""
    hits = [i for i in (text.find(m) for m in SANITIZER_MARKERS) if i >= 0]
    if not hits:
        return None
    i = min(hits)
    start = text.rfind("\n", 0, i) + 1
    banner = text.rfind("=================", 0, start)
    if banner >= 0 and start - banner < 200:
        start = text.rfind("\n", 0, banner) + 1
    return text[start:start + limit]


def sanitizer_headline(report):
    m = re.search(r"ERROR: (\w+Sanitizer: [^\n]*)|(runtime error: [^\n]*)", report)
    return (m.group(1) or m.group(2)).strip() if m else "sanitizer report"


def tail(text, lines=25):
    parts = text.rstrip("\n").split("\n")
    return "\n".join(parts[-lines:])


def describe_status(rc):
    if rc is not None and rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit status %s" % rc


class DaemonError(AssertionError):
    pass


# ---------------------------------------------------------------------------------------------
# assertions with messages that show what the server said

def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, actual))


def pick(obj, *keys):
    """The named fields of a JSON object (extra fields the contract does not list are not
    an error), for comparing with eq()."""
    check(isinstance(obj, dict), "expected a JSON object, got %r" % (obj,))
    return {k: obj.get(k) for k in keys}


class Resp:
    """One HTTP response. Unpacks as (status, headers, data) where data is the parsed JSON
    when the body is JSON, else the body bytes. headers is an http.client.HTTPMessage
    (case-insensitive .get() and .get_all())."""

    def __init__(self, method, path, status, reason, headers, body):
        self.method, self.path = method, path
        self.status, self.reason, self.headers, self.body = status, reason, headers, body
        self.json = None
        ctype = (headers.get("Content-Type") or "").lower()
        if body and ("json" in ctype or body[:1] in (b"{", b"[")):
            try:
                self.json = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.json = None

    def __iter__(self):
        return iter((self.status, self.headers, self.json if self.json is not None else self.body))

    def header(self, name):
        return self.headers.get(name)

    def describe(self):
        body = self.body[:600]
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        hdrs = "; ".join("%s: %s" % kv for kv in self.headers.items())
        return "%s %s -> %d %s\n  headers: %s\n  body: %r" % (
            self.method, self.path, self.status, self.reason, hdrs, body)


def expect_ok(resp, status=200):
    """Asserts a success envelope with this status; returns result."""
    if resp.status != status:
        raise AssertionError("expected HTTP %d, got:\n%s" % (status, resp.describe()))
    ctype = resp.headers.get("Content-Type") or ""
    check(ctype.lower().startswith("application/json"),
          "expected Content-Type application/json, got %r:\n%s" % (ctype, resp.describe()))
    j = resp.json
    check(isinstance(j, dict) and j.get("ok") is True and isinstance(j.get("result"), dict),
          "expected {\"ok\":true,\"result\":{...}}:\n%s" % resp.describe())
    return j["result"]


def expect_error(resp, status, code, mentions=None):
    """Asserts an error envelope {"ok":false,"error":{"code","message"}}; returns error."""
    if resp.status != status:
        raise AssertionError("expected HTTP %d (%s), got:\n%s" % (status, code, resp.describe()))
    ctype = resp.headers.get("Content-Type") or ""
    check(ctype.lower().startswith("application/json"),
          "expected Content-Type application/json, got %r:\n%s" % (ctype, resp.describe()))
    j = resp.json
    check(isinstance(j, dict) and j.get("ok") is False and isinstance(j.get("error"), dict),
          "expected {\"ok\":false,\"error\":{...}}:\n%s" % resp.describe())
    err = j["error"]
    check(err.get("code") == code,
          "expected error code %r, got %r:\n%s" % (code, err.get("code"), resp.describe()))
    check(isinstance(err.get("message"), str) and err["message"],
          "error.message missing or empty:\n%s" % resp.describe())
    if mentions is not None:
        check(mentions in err["message"],
              "error.message should name %r:\n%s" % (mentions, resp.describe()))
    return err


# ---------------------------------------------------------------------------------------------
# cookies

def parse_set_cookie(value):
    """'n=v; Path=/; HttpOnly' -> (name, value, {'path': '/', 'httponly': True}); attribute
    names lowercased, values kept."""
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if not p:
            continue
        k, sep, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if sep else True
    return name.strip(), val.strip(), attrs


def find_set_cookie(resp, name="ipkvm_session"):
    """The parsed Set-Cookie for name in resp, or None."""
    for v in resp.headers.get_all("Set-Cookie") or []:
        n, val, attrs = parse_set_cookie(v)
        if n == name:
            return n, val, attrs
    return None


# ---------------------------------------------------------------------------------------------
# the daemon

class Daemon:
    """One ipkvmd with its own temp dir:
         TMP/ipkvm.ini   the config (config_extra, dedented)
         TMP/state/      --state-dir
         TMP/stderr.log, TMP/stdout.log
    start() spawns it and waits until a TLS handshake works; admin_password is read from
    state/initial-admin-password."""

    def __init__(self, ipkvmd, config_extra="", env=None, args=(), web_root=None, start=True,
                 owner=None):
        self.ipkvmd = ipkvmd
        self.tmp = tempfile.mkdtemp(prefix="ipkvm-it-")
        self.state_dir = os.path.join(self.tmp, "state")
        os.mkdir(self.state_dir, 0o700)
        self.config_path = os.path.join(self.tmp, "ipkvm.ini")
        with open(self.config_path, "w") as f:
            f.write(textwrap.dedent(config_extra).lstrip("\n"))
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        if env:
            self.env.update(env)
        self.args = list(args)
        if web_root:
            self.args += ["--web-root", web_root]
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.proc = None
        self.stopped = False   # the test stopped it on purpose (no "still alive" check)
        self.aborted = False   # the watchdog killed it
        self.problems = []     # sanitizer output of CLI runs etc., reported at teardown
        self.admin_password = None
        self._ctx = None
        self.owner = owner
        if start:
            self.start()

    # --- process -------------------------------------------------------------------------

    def command(self):
        return [self.ipkvmd, "--config", self.config_path, "--state-dir", self.state_dir,
                "--listen", HOST, "--port", str(self.port)] + self.args

    def start(self):
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=self.env, start_new_session=True)
        finally:
            out.close()
            err.close()
        with _live_lock:
            _live.add(self.proc)
            late = _shutting_down
        if late:
            self.kill()
            raise DaemonError("the runner is shutting down")
        self.stopped = False
        self.wait_ready()
        pw = os.path.join(self.state_dir, "initial-admin-password")
        if os.path.exists(pw):
            with open(pw) as f:
                self.admin_password = f.read().rstrip("\n")
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise DaemonError("ipkvmd exited (%s) before it served TLS on port %d;"
                                  " stderr:\n%s" % (describe_status(rc), self.port,
                                                    tail(self.stderr())))
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as s:
                    with ctx.wrap_socket(s, server_hostname=HOST):
                        return
            except (OSError, ssl.SSLError) as e:
                last = e
            time.sleep(0.05)
        raise DaemonError("ipkvmd did not accept TLS on port %d within %.0f s (last error: %r);"
                          " stderr:\n%s" % (self.port, timeout, last, tail(self.stderr())))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits; returns the exit status, or None when it did not exit in time
        (it is then killed). Marks the daemon as stopped on purpose."""
        self.stopped = True
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def teardown(self):
        """Stops the daemon and returns a list of problem strings (empty when all is well)."""
        problems = list(self.problems)
        if self.proc is None:
            return problems
        if self.aborted:
            pass
        elif not self.stopped:
            rc = self.proc.poll()
            if rc is not None:
                problems.append("daemon on port %d died during the test (%s)"
                                % (self.port, describe_status(rc)))
            else:
                rc = self.stop(signal.SIGTERM)
                if rc is None:
                    problems.append("daemon on port %d did not exit within %.0f s of SIGTERM"
                                    % (self.port, STOP_TIMEOUT))
                elif rc < 0 and -rc != signal.SIGTERM:
                    problems.append("daemon on port %d was killed by signal %d while stopping"
                                    % (self.port, -rc))
        self.kill()
        with _live_lock:
            _live.discard(self.proc)
        rep = sanitizer_excerpt(self.stderr())
        if rep:
            problems.append("%s in daemon stderr (%s):\n%s"
                            % (sanitizer_headline(rep), self.stderr_path, rep))
        elif problems:
            problems.append("daemon stderr tail (%s):\n%s" % (self.stderr_path,
                                                            tail(self.stderr())))
        return problems

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- CLI -------------------------------------------------------------------------------

    def run_cli(self, *args, input=None, timeout=CLI_TIMEOUT):
        """Runs `ipkvmd --state-dir DIR user ARGS...`; returns (rc, stdout, stderr)."""
        argv = [self.ipkvmd, "--state-dir", self.state_dir, "user"] + list(args)
        try:
            p = subprocess.run(argv, input=input, capture_output=True, text=True,
                               timeout=timeout, env=self.env,
                               stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s timed out after %.0f s" % (" ".join(argv), timeout))
        rep = sanitizer_excerpt(p.stderr)
        if rep:
            self.problems.append("%s from `ipkvmd user %s`:\n%s"
                                 % (sanitizer_headline(rep), " ".join(argv[4:]), rep))
        return p.returncode, p.stdout, p.stderr

    def cli_ok(self, *args, input=None):
        rc, out, err = self.run_cli(*args, input=input)
        if rc != 0:
            raise AssertionError("`ipkvmd user %s` exited %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), rc, out, err))
        return out

    def add_user(self, name, password, role="viewer"):
        return self.cli_ok("add", name, "--role", role, input=password + "\n")

    # --- network -------------------------------------------------------------------------

    @property
    def cert_path(self):
        return os.path.join(self.state_dir, "tls", "cert.pem")

    def ssl_context(self):
        """Verifies the peer against the generated certificate, hostname checks on."""
        if self._ctx is None:
            ctx = ssl.create_default_context(cafile=self.cert_path)
            ctx.check_hostname = True
            self._ctx = ctx
        return self._ctx

    def origin(self):
        return "https://%s:%d" % (HOST, self.port)

    def tls_connect(self, server_hostname=HOST, context=None, timeout=REQUEST_TIMEOUT,
                    source=None):
        sock = socket.create_connection((HOST, self.port), timeout=timeout,
                                        source_address=(source, 0) if source else None)
        try:
            return (context or self.ssl_context()).wrap_socket(sock,
                                                               server_hostname=server_hostname)
        except BaseException:
            sock.close()
            raise

    def request(self, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT,
                source=None):
        """One HTTPS request on a fresh connection. body: dict/list (sent as JSON with
        Content-Type application/json unless headers set one), str or bytes."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPSConnection(HOST, self.port, context=self.ssl_context(),
                                           timeout=timeout,
                                           source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return Resp(method, path, r.status, r.reason, r.msg, data)
        except (OSError, http.client.HTTPException) as e:
            raise AssertionError("%s %s on port %d failed: %r (daemon %s)" % (
                method, path, self.port, e, "alive" if self.alive() else "NOT running"))
        finally:
            conn.close()

    def session(self, source=None, token=None):
        return Session(self, source=source, token=token)

    def admin(self):
        """A Session logged in as admin with the initial password."""
        s = self.session()
        s.login("admin", self.admin_password)
        return s


class Session:
    """An HTTPS client for one daemon that keeps cookies (set from Set-Cookie, removed by
    Max-Age=0 or an empty value) and optionally sends a bearer token."""

    def __init__(self, daemon, source=None, token=None):
        self.d = daemon
        self.source = source
        self.token = token
        self.cookies = {}
        self.last_login = None

    @property
    def cookie(self):
        return self.cookies.get("ipkvm_session")

    def request(self, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT):
        hdrs = dict(headers or {})
        if self.cookies and "Cookie" not in hdrs:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if self.token and "Authorization" not in hdrs:
            hdrs["Authorization"] = "Bearer " + self.token
        r = self.d.request(method, path, body=body, headers=hdrs, timeout=timeout,
                           source=self.source)
        for v in r.headers.get_all("Set-Cookie") or []:
            name, val, attrs = parse_set_cookie(v)
            if val == "" or str(attrs.get("max-age", "1")) == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = val
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body if body is not None else {}, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def try_login(self, user, password, totp=None):
        body = {"user": user, "password": password}
        if totp is not None:
            body["totp"] = totp
        r = self.request("POST", "/api/auth/login", body=body)
        self.last_login = r
        return r

    def login(self, user, password, totp=None):
        """Logs in, asserting 200; returns the result object."""
        r = self.try_login(user, password, totp)
        res = expect_ok(r, 200)
        check(self.cookie, "login answered 200 without an ipkvm_session cookie:\n" + r.describe())
        return res

    def check_auth(self):
        """GET /api/auth/check; asserts 200 and returns the result."""
        return expect_ok(self.get("/api/auth/check"), 200)

    def ws(self, path="/api/ws", origin=True, **kw):
        hdrs = {}
        if self.cookies:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        if origin is True:
            hdrs["Origin"] = self.d.origin()
        elif origin:
            hdrs["Origin"] = origin
        return WebSocket.connect(self.d, path, headers=hdrs, **kw)


def cookie_session(daemon, value):
    """A Session that presents an existing ipkvm_session cookie value."""
    s = Session(daemon)
    if value:
        s.cookies["ipkvm_session"] = value
    return s


# ---------------------------------------------------------------------------------------------
# WebSocket (RFC 6455) over TLS

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WSRefused(AssertionError):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status, status_line, headers, body):
        self.status, self.status_line, self.headers, self.body = status, status_line, headers, body
        super().__init__("WebSocket upgrade refused: %s\n  headers: %r\n  body: %r"
                         % (status_line, headers, body[:400]))

    @property
    def json(self):
        try:
            return json.loads(self.body.decode())
        except Exception:
            return None


class WSClosed(AssertionError):
    pass


def ws_upgrade_raw(daemon, path="/api/ws", headers=None, timeout=REQUEST_TIMEOUT, key=None):
    """Sends an upgrade request; returns (sock, status, status_line, headers{lower: value},
    rest, key). rest is the body (non-101, read up to Content-Length or EOF) or the bytes
    that followed the 101 head."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path,
             "Host: %s:%d" % (HOST, daemon.port),
             "Upgrade: websocket",
             "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key,
             "Sec-WebSocket-Version: 13"]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    sock = daemon.tls_connect(timeout=timeout)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\r\n\r\n" not in buf:
            if len(buf) > 65536:
                raise AssertionError("upgrade response head larger than 64 KiB")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no upgrade response within %.0f s" % timeout)
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLError, ConnectionError) as e:
                raise AssertionError("connection failed during upgrade: %r (got %r)" % (e, buf))
            if not chunk:
                raise AssertionError("server closed the connection during upgrade (got %r)"
                                     % buf)
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        hl = head.decode("latin-1").split("\r\n")
        status_line = hl[0]
        m = re.match(r"HTTP/1\.[01] (\d{3})", status_line)
        check(m, "bad status line %r" % status_line)
        status = int(m.group(1))
        hdrs = {}
        for line in hl[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            hdrs[k] = (hdrs[k] + ", " + v.strip()) if k in hdrs else v.strip()
        if status != 101:
            n = hdrs.get("content-length")
            try:
                while True:
                    if n is not None and len(rest) >= int(n):
                        rest = rest[:int(n)]
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    sock.settimeout(min(left, 2.0))
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
            except (OSError, ssl.SSLError):
                pass
        return sock, status, status_line, hdrs, rest, key
    except BaseException:
        sock.close()
        raise


def ws_refusal(daemon, path="/api/ws", headers=None, timeout=REQUEST_TIMEOUT):
    """Performs an upgrade that should be refused; returns (status, status_line, headers,
    body). Fails when the server switches protocols."""
    sock, status, status_line, hdrs, rest, _ = ws_upgrade_raw(daemon, path, headers, timeout)
    sock.close()
    if status == 101:
        raise AssertionError("upgrade of %s with headers %r was accepted (101), expected a refusal"
                             % (path, headers))
    return status, status_line, hdrs, rest


class WebSocket:
    def __init__(self, sock, buf=b""):
        self.sock = sock
        self.buf = buf
        self.closed = False
        self.close_code = None
        self.pongs = []

    @classmethod
    def connect(cls, daemon, path="/api/ws", headers=None, timeout=REQUEST_TIMEOUT):
        sock, status, status_line, hdrs, rest, key = ws_upgrade_raw(daemon, path, headers,
                                                                     timeout)
        if status != 101:
            sock.close()
            raise WSRefused(status, status_line, hdrs, rest)
        try:
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            eq(hdrs.get("upgrade", "").lower(), "websocket", "101 Upgrade header")
            check("upgrade" in hdrs.get("connection", "").lower(),
                  "101 Connection header lacks 'upgrade': %r" % hdrs.get("connection"))
            eq(hdrs.get("sec-websocket-accept"), accept, "Sec-WebSocket-Accept")
            check("sec-websocket-protocol" not in hdrs,
                  "server chose a subprotocol we did not offer: %r"
                  % hdrs.get("sec-websocket-protocol"))
        except BaseException:
            sock.close()
            raise
        return cls(sock, rest)

    def close_socket(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close_socket()

    # --- sending ---------------------------------------------------------------------------

    def send_frame(self, opcode, payload=b"", fin=True):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.settimeout(REQUEST_TIMEOUT)
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self.send_frame(OP_TEXT, text)

    def send_json(self, obj):
        self.send_frame(OP_TEXT, json.dumps(obj))

    def send_close(self, code=1000):
        self.send_frame(OP_CLOSE, struct.pack("!H", code))

    # --- receiving -------------------------------------------------------------------------

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("WebSocket: no data within the timeout")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                raise TimeoutError("WebSocket: no data within the timeout")
            except (ssl.SSLError, ConnectionError) as e:
                self.closed = True
                raise WSClosed("WebSocket: connection ended: %r" % e)
            if not chunk:
                self.closed = True
                raise WSClosed("WebSocket: connection closed by the server (EOF)")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=5.0):
        """One raw frame: (fin, opcode, payload). Checks the server did not mask it."""
        deadline = time.monotonic() + timeout
        b0, b1 = self._fill(2, deadline)
        check(not (b1 & 0x80), "server frame is masked (RFC 6455 5.1 forbids it)")
        check(not (b0 & 0x70), "server frame has RSV bits set: 0x%02x" % b0)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._fill(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._fill(8, deadline))[0]
        check(n < (64 << 20), "server frame claims %d bytes" % n)
        return bool(b0 & 0x80), b0 & 0x0F, self._fill(n, deadline)

    def recv_message(self, timeout=5.0):
        """The next data message as (opcode, bytes); answers pings, records pongs; on a close
        frame answers it and raises WSClosed."""
        deadline = time.monotonic() + timeout
        parts, op0 = [], None
        while True:
            fin, op, payload = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                self.pongs.append(payload)
                continue
            if op == OP_CLOSE:
                self.closed = True
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                try:
                    self.send_frame(OP_CLOSE, payload[:2])
                except OSError:
                    pass
                raise WSClosed("WebSocket closed by the server (code %s, reason %r)"
                               % (self.close_code, payload[2:]))
            if op0 is None:
                check(op in (OP_TEXT, OP_BINARY), "unexpected opcode 0x%x" % op)
                op0 = op
            else:
                check(op == OP_CONT, "expected a continuation frame, got opcode 0x%x" % op)
            parts.append(payload)
            if fin:
                return op0, b"".join(parts)

    def recv_json(self, timeout=5.0):
        op, data = self.recv_message(timeout)
        eq(op, OP_TEXT, "WebSocket message opcode")
        try:
            return json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise AssertionError("WebSocket text message is not JSON: %r" % data[:300])

    def recv_event(self, name, timeout=5.0):
        """Skips messages until an event called name arrives; returns its data."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r event within %.1f s; saw %r" % (name, timeout, seen))
            try:
                m = self.recv_json(left)
            except TimeoutError:
                raise AssertionError("no %r event within %.1f s; saw %r" % (name, timeout, seen))
            if isinstance(m, dict) and m.get("event") == name:
                check(isinstance(m.get("data"), dict), "event %r without a data object: %r"
                      % (name, m))
                return m["data"]
            seen.append(m)

    def wait_closed(self, timeout=5.0):
        """Reads until the server closes (close frame or EOF); returns the close code (None
        for a bare EOF). Fails after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("server did not close the WebSocket within %.1f s" % timeout)
            try:
                self.recv_message(left)
            except WSClosed:
                return self.close_code
            except TimeoutError:
                raise AssertionError("server did not close the WebSocket within %.1f s" % timeout)


# ---------------------------------------------------------------------------------------------
# TOTP (RFC 6238 / RFC 4226)

def b32decode(secret):
    s = secret.strip().replace(" ", "").upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def totp(secret_b32, t=None, step=30, digits=6, counter=None):
    key = b32decode(secret_b32) if isinstance(secret_b32, str) else secret_b32
    if counter is None:
        counter = int((time.time() if t is None else t) // step)
    h = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    o = h[-1] & 0x0F
    code = (struct.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return "%0*d" % (digits, code)


# ---------------------------------------------------------------------------------------------
# the per-test fixture

class Fixture:
    """Passed to each test function as `t`. t.daemon(...) starts a daemon owned by the test;
    t.run(...) runs the binary once. teardown() returns the problems found."""

    def __init__(self, ipkvmd, name, web_root=None):
        self.ipkvmd = ipkvmd
        self.name = name
        self.web_root = web_root
        self.daemons = []
        self.problems = []
        self.aborted = False

    def daemon(self, config="", env=None, args=(), start=True):
        d = Daemon(self.ipkvmd, config_extra=config, env=env, args=args,
                   web_root=self.web_root, start=False, owner=self)
        self.daemons.append(d)
        if self.aborted:
            raise AssertionError("test aborted by the watchdog")
        if start:
            d.start()
        return d

    def run(self, *args, input=None, timeout=10.0, env=None):
        """Runs `ipkvmd ARGS...`; returns (rc, stdout, stderr). Fails on timeout."""
        e = dict(os.environ)
        if env:
            e.update(env)
        argv = [self.ipkvmd] + list(args)
        try:
            p = subprocess.run(argv, input=input, capture_output=True, text=True,
                               timeout=timeout, env=e, stdin=None if input is not None
                               else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise AssertionError("`%s` did not exit within %.0f s" % (" ".join(argv), timeout))
        rep = sanitizer_excerpt(p.stderr)
        if rep:
            self.problems.append("%s from `%s`:\n%s" % (sanitizer_headline(rep),
                                                        " ".join(argv), rep))
        return p.returncode, p.stdout, p.stderr

    def abort(self):
        """Watchdog: kill every daemon so blocked socket calls end."""
        self.aborted = True
        for d in self.daemons:
            d.aborted = True
            d.kill()

    def teardown(self):
        problems = list(self.problems)
        for d in self.daemons:
            try:
                problems += d.teardown()
            except Exception as e:  # never let teardown leave a daemon behind
                d.kill()
                problems.append("teardown of daemon on port %d failed: %r" % (d.port, e))
        return problems

    def cleanup(self):
        for d in self.daemons:
            d.cleanup()
