"""TLS: only 1.2 and 1.3; the generated certificate is ECDSA P-256 with the right SANs and
verifies for 127.0.0.1 and localhost."""

import os
import socket
import ssl
import stat
import struct
import time
import warnings

from harness import HOST, check, eq

OID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")      # 1.2.840.10045.2.1
OID_PRIME256V1 = bytes.fromhex("06082a8648ce3d030107")       # 1.2.840.10045.3.1.7
OID_ECDSA_SHA256 = bytes.fromhex("06082a8648ce3d040302")     # 1.2.840.10045.4.3.2


def _client_hello(version):
    """A minimal TLS ClientHello offering at most `version` (0x0302 = TLS 1.1, 0x0303 = 1.2)
    with ECDHE-ECDSA/RSA suites, so the answer shows what the server accepts whatever the
    local OpenSSL allows."""
    suites = [0xC02B, 0xC02C, 0xC02F, 0xC030, 0xC009, 0xC00A, 0xC013, 0xC014, 0x002F, 0x0035,
              0x00FF]
    cs = b"".join(struct.pack("!H", c) for c in suites)
    groups = struct.pack("!HHH", 23, 29, 24)
    sigs = struct.pack("!HHHHH", 0x0403, 0x0804, 0x0401, 0x0503, 0x0203)
    ext = struct.pack("!HHH", 10, len(groups) + 2, len(groups)) + groups
    ext += struct.pack("!HHBB", 11, 2, 1, 0)
    ext += struct.pack("!HHH", 13, len(sigs) + 2, len(sigs)) + sigs
    body = (struct.pack("!H", version) + os.urandom(32) + b"\x00" + struct.pack("!H", len(cs))
            + cs + b"\x01\x00" + struct.pack("!H", len(ext)) + ext)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def _probe(d, version):
    """Sends a raw ClientHello; returns ('hello', server_version) when the server answers with
    a ServerHello, ('alert', description) or ('closed', None) when it refuses."""
    with socket.create_connection((HOST, d.port), timeout=5) as s:
        s.sendall(_client_hello(version))
        buf = b""
        deadline = time.monotonic() + 5
        while len(buf) < 11:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = s.recv(4096)
            except (ConnectionResetError, socket.timeout, TimeoutError):
                chunk = b""
            if not chunk:
                break
            buf += chunk
        if len(buf) >= 7 and buf[0] == 0x15:
            return "alert", buf[6]
        if len(buf) >= 11 and buf[0] == 0x16 and buf[5] == 0x02:
            return "hello", struct.unpack("!H", buf[9:11])[0]
        if not buf:
            return "closed", None
        raise AssertionError("unexpected answer to ClientHello: %r" % buf[:40])


def _handshake(d, minv, maxv, seclevel0=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(d.cert_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = minv
        ctx.maximum_version = maxv
    if seclevel0:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    s = d.tls_connect(context=ctx)
    v = s.version()
    s.close()
    return v


def test_tls_versions(t):
    d = t.daemon()
    eq(_handshake(d, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2), "TLSv1.2", "TLS 1.2")
    eq(_handshake(d, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3), "TLSv1.3", "TLS 1.3")
    # the raw probe first proves it can get a ServerHello at all ...
    kind, v = _probe(d, 0x0303)
    check(kind == "hello" and v == 0x0303,
          "raw TLS 1.2 ClientHello: expected ServerHello 0x0303, got %s %r" % (kind, v))
    # ... then that the server refuses 1.1 and 1.0 (the local OpenSSL plays no part)
    for ver in (0x0302, 0x0301):
        kind, v = _probe(d, ver)
        check(kind != "hello", "server accepted a ClientHello of version 0x%04x (ServerHello"
              " version 0x%04x)" % (ver, v or 0))
    # and through Python's ssl as well
    for maxv in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
        try:
            v = _handshake(d, ssl.TLSVersion.TLSv1, maxv, seclevel0=True)
        except (ssl.SSLError, OSError):
            continue
        raise AssertionError("handshake with maximum %s succeeded (%s)" % (maxv, v))
    # still serving
    eq(_handshake(d, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3), "TLSv1.3", "default")


def test_certificate(t):
    d = t.daemon()
    s = d.tls_connect(server_hostname=HOST)        # check_hostname against the IP SAN
    der = s.getpeercert(binary_form=True)
    cert = s.getpeercert()
    s.close()
    check(OID_EC_PUBLIC_KEY in der, "certificate key is not an EC key (no id-ecPublicKey OID)")
    check(OID_PRIME256V1 in der, "certificate key is not on P-256 (no prime256v1 OID)")
    check(OID_ECDSA_SHA256 in der, "certificate is not signed with ecdsa-with-SHA256")
    san = [(k, v.strip()) for k, v in cert.get("subjectAltName", ())]
    for want in [("DNS", "localhost"), ("IP Address", "127.0.0.1"),
                 ("DNS", socket.gethostname())]:
        check(want in san, "SAN lacks %r: %r" % (want, san))
    check(("IP Address", "0:0:0:0:0:0:0:1") in san or ("IP Address", "::1") in san,
          "SAN lacks IP ::1: %r" % (san,))
    now = time.time()
    nb = ssl.cert_time_to_seconds(cert["notBefore"])
    na = ssl.cert_time_to_seconds(cert["notAfter"])
    check(nb <= now + 120, "notBefore is in the future: %s" % cert["notBefore"])
    check(na > now + 300 * 86400, "notAfter is less than 300 days away: %s" % cert["notAfter"])
    # the name "localhost" verifies too, a foreign one does not
    s = d.tls_connect(server_hostname="localhost")
    s.close()
    try:
        s = d.tls_connect(server_hostname="evil.example")
        s.close()
        raise AssertionError("certificate verified for evil.example")
    except ssl.SSLCertVerificationError:
        pass
    # files
    key = os.path.join(d.state_dir, "tls", "key.pem")
    eq(stat.S_IMODE(os.stat(key).st_mode), 0o600, "mode of tls/key.pem")
    with open(key) as f:
        check("PRIVATE KEY" in f.read(), "tls/key.pem is not a PEM private key")
    with open(d.cert_path) as f:
        check("BEGIN CERTIFICATE" in f.read(), "tls/cert.pem is not a PEM certificate")


def test_certificate_kept_across_restart(t):
    d = t.daemon()
    s = d.tls_connect()
    der1 = s.getpeercert(binary_form=True)
    s.close()
    eq(d.stop(), 0, "exit status after SIGTERM")
    d.start()
    s = d.tls_connect()
    der2 = s.getpeercert(binary_form=True)
    s.close()
    check(der1 == der2, "the certificate changed across a restart")


def test_listens_only_on_listen_address(t):
    # --listen 127.0.0.1 must not also bind every address (dual-stack "*"): other loopback
    # addresses and ::1 stand in for the machine's other interfaces.
    d = t.daemon()
    for family, addr in [(socket.AF_INET, "127.0.0.2"), (socket.AF_INET6, "::1")]:
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue            # no IPv6 here
        s.settimeout(3)
        try:
            s.connect((addr, d.port))
        except OSError:
            continue            # refused (or unreachable): not listening there
        finally:
            s.close()
        raise AssertionError("ipkvmd started with --listen 127.0.0.1 accepts connections on"
                             " %s port %d" % (addr, d.port))


def _cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_close_notify_right_after_handshake_costs_nothing(t):
    # A client that says close_notify and goes away at once must not leave the daemon
    # writing to a dead socket in a loop (one such client a second would burn a core).
    d = t.daemon()
    for _ in range(3):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(socket.create_connection((HOST, d.port), timeout=5),
                            server_hostname=HOST)
        # Non-blocking: unwrap() sends close_notify and gives up at once instead of
        # waiting for the server's, and the socket is closed right after.
        s.setblocking(False)
        try:
            s.unwrap()
        except (ssl.SSLError, OSError):
            pass
        s.close()
    time.sleep(0.3)
    before = _cpu_ticks(d.proc.pid)
    time.sleep(2.0)
    used = _cpu_ticks(d.proc.pid) - before
    check(used < 40, "the idle daemon used %d%% of a core after clients closed with "
          "close_notify" % (used // 2))
    eq(d.session().try_login("admin", d.admin_password).status, 200, "login afterwards")


# --- the preferred cipher ([server] tls_ciphers) --------------------------------------------

def _cpu_has_aes():
    """What /proc/cpuinfo says: x86's "aes" flag or the Armv8 "aes" feature."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features") and "aes" in value.split():
                return True
    return False


def _info_over(d, session, maxv, ciphers=None):
    """GET /api/info on a connection limited to TLS maxv (and TLS 1.2 ciphers, in the client's
    order); returns (the client's view of the cipher, the info's tls object)."""
    import http.client
    import json
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(d.cert_path)
    ctx.maximum_version = maxv
    if ciphers:
        ctx.set_ciphers(ciphers)
    conn = http.client.HTTPSConnection(HOST, d.port, context=ctx, timeout=10)
    try:
        conn.request("GET", "/api/info", headers={"Cookie": "ipkvm_session=" + session.cookie})
        r = conn.getresponse()
        body = json.loads(r.read())
        eq(r.status, 200, "GET /api/info")
        return conn.sock.cipher()[0], body["result"]["tls"]
    finally:
        conn.close()


def test_cipher_follows_the_cpu(t):
    """auto prefers AES-GCM with AES instructions and ChaCha20-Poly1305 without; /api/info
    reports the connection's cipher exactly as the client negotiated it."""
    d = t.daemon()
    s = d.admin()
    aes = _cpu_has_aes()
    want13 = "TLS_AES_128_GCM_SHA256" if aes else "TLS_CHACHA20_POLY1305_SHA256"
    want12 = "ECDHE-ECDSA-AES128-GCM-SHA256" if aes else "ECDHE-ECDSA-CHACHA20-POLY1305"
    client, tls = _info_over(d, s, ssl.TLSVersion.TLSv1_3)
    eq(client, want13, "TLS 1.3 cipher (this CPU has%s AES instructions)" % ("" if aes else " no"))
    eq(tls, {"version": "TLSv1.3", "cipher": want13,
             "preferred": "aes-gcm" if aes else "chacha20"}, "/api/info tls")
    client, tls = _info_over(d, s, ssl.TLSVersion.TLSv1_2)
    eq((client, tls["version"], tls["cipher"]), (want12, "TLSv1.2", want12), "TLS 1.2 cipher")


def test_cipher_chacha20_forced(t):
    """tls_ciphers = chacha20 (what auto picks on a board without AES instructions): the server's
    order wins over a client that lists AES first."""
    d = t.daemon("[server]\ntls_ciphers = chacha20\n")
    s = d.admin()
    client, tls = _info_over(d, s, ssl.TLSVersion.TLSv1_3)
    eq(client, "TLS_CHACHA20_POLY1305_SHA256", "TLS 1.3 cipher with tls_ciphers = chacha20")
    eq(tls, {"version": "TLSv1.3", "cipher": "TLS_CHACHA20_POLY1305_SHA256",
             "preferred": "chacha20"}, "/api/info tls")
    client, tls = _info_over(d, s, ssl.TLSVersion.TLSv1_2,
                             "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305")
    eq((client, tls["cipher"]), ("ECDHE-ECDSA-CHACHA20-POLY1305",) * 2, "TLS 1.2, AES first")


def test_cipher_aes_gcm_serves_chacha_clients(t):
    """tls_ciphers = aes-gcm: AES-GCM for a client that offers both in any order, unless it
    lists ChaCha20 first (it lacks AES instructions itself); a client without ChaCha20 still
    gets AES."""
    d = t.daemon("[server]\ntls_ciphers = aes-gcm\n")
    s = d.admin()
    client, tls = _info_over(d, s, ssl.TLSVersion.TLSv1_3)
    eq((client, tls["preferred"]), ("TLS_AES_128_GCM_SHA256", "aes-gcm"), "TLS 1.3 cipher")
    client, _ = _info_over(d, s, ssl.TLSVersion.TLSv1_2,
                           "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256")
    eq(client, "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS 1.2, a client that lists ChaCha20 first")
    client, _ = _info_over(d, s, ssl.TLSVersion.TLSv1_2,
                           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305")
    eq(client, "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS 1.2, a client that lists AES first")


def test_info_tls_is_null_over_plain_http(t):
    import http.client
    import json
    from harness import free_port
    port = free_port()
    d = t.daemon("[server]\nplain_port = %d\n" % port)
    rc, out, err = d.run_cli("token", "admin", "--label", "plain")
    eq(rc, 0, "`user token` exit status (stderr %r)" % err)
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", "/api/info",
                     headers={"Authorization": "Bearer " + out.split("\n")[0]})
        r = conn.getresponse()
        body = json.loads(r.read())
        eq(r.status, 200, "GET /api/info over the plain port")
        check("tls" in body["result"] and body["result"]["tls"] is None,
              "tls is not null over plain HTTP: %r" % body["result"].get("tls"))
    finally:
        conn.close()
