#!/usr/bin/env python3
"""seeds.py [DIR]: writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/ by
default), one directory per harness, a handful of small files each.

The seeds are checked in; this script says what each one is and makes them again after an
input format changes (the api_json route numbers follow ROUTES below, which must list the
routes in the order of the table in fuzz_api_json.c). A seed is a valid input that reaches
deep into its parser; the fuzzer mutates from there.
"""
import hashlib
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "corpus")

seeds = {}


def seed(harness, name, data):
    seeds.setdefault(harness, {})[name] = data.encode() if isinstance(data, str) else data


def crlf(text):
    return text.replace("\n", "\r\n")


# ---- http_request: raw requests; $A $O $V are API tokens (admin, operator, viewer), $S the
# admin session cookie's value (see fuzz_server.h).
seed("http_request", "info_token", crlf("GET /api/info HTTP/1.1\nHost: fuzz\nAuthorization: Bearer $A\n\n"))
seed("http_request", "index_cookie", crlf("GET / HTTP/1.1\nHost: fuzz\nCookie: ipkvm_session=$S\n\n"))
seed("http_request", "login_redirect", crlf("GET /api/../hid?x=%2e%00&y HTTP/1.1\nHost: fuzz\n\n"
                                            "HEAD /login?next=/x HTTP/1.1\nHost: fuzz\n\n"))
body = '{"user":"admin","password":"wrong password","totp":"123456"}'
seed("http_request", "login_post", crlf("POST /api/auth/login HTTP/1.1\nHost: fuzz\nOrigin: http://fuzz\n"
                                        "Content-Type: application/json\nContent-Length: %d\n\n" % len(body)) + body)
body = '{"code":"KeyA","state":"tap"}'
seed("http_request", "key_pipelined", crlf("POST /api/hid/key HTTP/1.1\nHost: fuzz\nOrigin: http://fuzz\n"
                                           "Authorization: Bearer $O\nContent-Type: application/json; charset=utf-8\n"
                                           "Content-Length: %d\n\n" % len(body)) + body +
     crlf("GET /api/hid HTTP/1.1\nHost: fuzz\nAuthorization: Bearer $V\n\n"))
seed("http_request", "upload", crlf("PUT /api/msd/images/t%C3%A9st.iso HTTP/1.1\nHost: fuzz\nOrigin: http://fuzz\n"
                                    "Authorization: Bearer $A\nContent-Length: 16\n\n") + "0123456789abcdef")
seed("http_request", "chunked", crlf("POST /api/users HTTP/1.1\nHost: fuzz\nCookie: ipkvm_session=$S\n"
                                     "Transfer-Encoding: chunked\nContent-Type: application/json\n\n2\n{}\n0\n\n"))
seed("http_request", "delete_user", crlf("DELETE /api/users/nobody HTTP/1.1\nHost: fuzz\nOrigin: http://fuzz\n"
                                         "Authorization: Bearer $A\nContent-Length: 0\n\n"))
# 0x01 first: the redirect port ([server] http_port).
seed("http_request", "redirect", "\x01" + crlf("GET /api/hid?a=%01b&c=d%20e&&x HTTP/1.1\nHost: [::1]:80\n\n"))
seed("http_request", "snapshot", crlf("GET /api/streamer/snapshot?raw=1 HTTP/1.1\nHost: fuzz\n"
                                      "Authorization: Bearer $V\nConnection: close\n\n"))


def ws_frame(opcode, payload, fin=True, mask=b"\x12\x34\x56\x78"):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


upgrade = crlf("GET /api/ws HTTP/1.1\nHost: fuzz\nOrigin: http://fuzz\nAuthorization: Bearer $O\n"
               "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
               "Sec-WebSocket-Version: 13\n\n").encode()
seed("http_request", "ws_upgrade", upgrade + ws_frame(2, b"\x01\x01\x04KeyA") + ws_frame(2, b"\x04") +
     ws_frame(1, b'{"event":"ping","data":{"n":1}}'))

# ---- api_json: route byte (index into fuzz_api_json.c's table; +50: operator, +75: viewer),
# then for named routes the name and a newline, then the body.
ROUTES = ["POST /api/auth/login", "POST /api/auth/logout", "POST /api/auth/password", "POST /api/users",
          "POST /api/users/", "DELETE /api/users/", "POST /api/streamer/params", "POST /api/hid/key",
          "POST /api/hid/release_all", "POST /api/hid/mouse", "POST /api/hid/shortcut",
          "POST /api/hid/jiggler", "POST /api/hid/mouse/mode", "POST /api/hid/type",
          "POST /api/hid/type/cancel", "POST /api/atx/power", "POST /api/atx/click",
          "PUT /api/msd/images/", "DELETE /api/msd/images/", "POST /api/msd/fetch",
          "POST /api/msd/fetch/ cancel", "POST /api/msd/drives/ attach", "POST /api/msd/drives/ eject",
          "POST /api/wol", "POST /api/auth/language"]


def api(name, route, body, path_name=None):
    data = bytes([ROUTES.index(route)])
    if path_name is not None:
        data += path_name.encode() + b"\n"
    seed("api_json", name, data + (body.encode() if isinstance(body, str) else body))


api("login", "POST /api/auth/login", '{"user":"admin","password":"fuzz-password-1"}')
api("language", "POST /api/auth/language", '{"language":"ja"}')
api("password", "POST /api/auth/password", '{"old_password":"fuzz-password-1","new_password":"another-one-2"}')
api("user_add", "POST /api/users", '{"name":"new.user","password":"a-long-password","role":"operator"}')
api("user_set", "POST /api/users/", '{"role":"viewer","password":"x"}', "oper")
api("user_del", "DELETE /api/users/", "", "view")
api("streamer", "POST /api/streamer/params", '{"quality":55,"max_fps":12,"h264_bitrate":100}')
api("key", "POST /api/hid/key", '{"code":"ShiftLeft","state":"press"}')
api("mouse_abs", "POST /api/hid/mouse", '{"x":16384,"y":0,"buttons":1,"wheel":-3}')
api("mouse_rel", "POST /api/hid/mouse", '{"dx":-9000,"dy":300,"pan":2}')
api("shortcut", "POST /api/hid/shortcut", '{"keys":"ControlLeft+AltLeft+Delete"}')
api("jiggler", "POST /api/hid/jiggler", '{"interval":60}')
api("mouse_mode", "POST /api/hid/mouse/mode", '{"mode":"relative"}')
api("type", "POST /api/hid/type", '{"text":"Gr\\u00fc\\u00dfe\\r\\n\\t@\\u20ac","layout":"de","delay_ms":0}')
api("power", "POST /api/atx/power", '{"action":"on"}')
api("click", "POST /api/atx/click", '{"button":"reset"}')
api("upload", "PUT /api/msd/images/", b"\x00" * 32 + b"CD001", "disk.img")
api("fetch", "POST /api/msd/fetch", '{"url":"http://192.0.2.1/a.iso","name":"a.iso","sha256":"' + "0" * 64 +
    '","replace":true}')
api("attach", "POST /api/msd/drives/ attach", '{"image":"disk.img","cdrom":false,"rw":true}', "1")

# ---- ws_input: messages [header][len][payload]; header bit0 viewer socket, bit1 text,
# bits 2-3 fragments - 1, bit 4 a 16-bit length.


def msg(payload, text=False, viewer=False, frags=1):
    payload = payload.encode() if isinstance(payload, str) else payload
    h = (1 if viewer else 0) | (2 if text else 0) | ((frags - 1) << 2)
    if len(payload) > 255:
        return bytes([h | 0x10]) + struct.pack("<H", len(payload)) + payload
    return bytes([h, len(payload)]) + payload


seed("ws_input", "binary_keys", msg(b"\x01\x01\x09ShiftLeft") + msg(b"\x01\x01\x04KeyA") +
     msg(b"\x01\x00\x04KeyA") + msg(b"\x01\x00\x09ShiftLeft"))
seed("ws_input", "binary_mice", msg(b"\x02\x01" + struct.pack("<HHbb", 32767, 0, -1, 1)) +
     msg(b"\x03\x04" + struct.pack("<hhbb", -32768, 200, 0, 0)) + msg(b"\x04"))
seed("ws_input", "json_key", msg('{"event":"key","data":{"code":"AltRight","state":"press"}}', text=True) +
     msg('{"event":"key","data":{"code":"AltRight","state":"release"}}', text=True, frags=3))
seed("ws_input", "json_mouse", msg('{"event":"mouse","data":{"x":100,"y":32767,"buttons":3,"wheel":1}}',
                                   text=True) +
     msg('{"event":"mouse","data":{"dx":-5000,"dy":1,"pan":-2}}', text=True, frags=2))
seed("ws_input", "viewer", msg(b"\x01\x01\x04KeyB", viewer=True) +
     msg('{"event":"ping","data":{"t":[1,2,{"x":null}]}}', text=True, viewer=True))
seed("ws_input", "long_fragmented", msg('{"event":"ping","data":{"pad":"' + "x" * 600 + '"}}', text=True, frags=4))

# ---- config: every documented key at its default (data/ipkvm.ini uncommented), and a few
# small files that stop at an error.
ini = open(os.path.join(ROOT, "..", "..", "data", "ipkvm.ini")).read()
full = []
for line in ini.splitlines():
    if line.startswith("["):
        full.append(line)
    m = re.match(r"#([a-z_0-9]+ =.*)$", line)
    if m:
        full.append(m.group(1))
seed("config", "defaults", "\n".join(full) + "\n")
seed("config", "small", "[server]\nlisten = ::1\nport = 8443 ; inline comment\n[auth]\nsession_idle = 15m\n"
     "[msd]\nmax_size = 512M\n[log]\nlevel = debug\n")
seed("config", "errors", "[sever]\nprot = 1\n")
seed("config", "indented", "[video]\nsource = pattern\n  scene = desktop\n")

# ---- users_file and tokens_file
h = "$y$j9T$F5Jx5fExrKuJdljLfSqdk1$mBMb2X5bSBrOxNS3Tq/X2QDa0zRR1yLNs1e8ZFt7vZ3"
seed("users_file", "three", "# users\nadmin:%s:admin\r\noper:%s:operator:JBSWY3DPEHPK3PXP\n\nview:%s:viewer\n"
     % (h, h, h))
seed("users_file", "bad_role", "a:%s:root\n" % h)
seed("users_file", "totp", "x.y-z_1:$6$salt$hash:viewer:GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")


def token_line(user, created, expires, label):
    sha = hashlib.sha256((user + label).encode()).hexdigest()
    return "%s:%s:%s:%d:%d:%s\n" % (sha[:12], sha, user, created, expires, label)


seed("tokens_file", "two", "# tokens\n" + token_line("admin", 1700000000, 0, "backup script") +
     token_line("oper", 1700000000, 1900000000, "").replace("\n", "\r\n"))
seed("tokens_file", "bad_id", "000000000000:" + "1" * 64 + ":admin:1:0:x\n")

# ---- prefs_file
seed("prefs_file", "three", "# preferences\nadmin:ja\r\noper:pt-BR\n\nview:zh-Hant-TW\n")
seed("prefs_file", "bad", "admin:JA\nx:en:us\n")

# ---- iso9660: first byte (bit 7 clear: the rest starts at sector 16; low bits: label
# buffer size), then the volume descriptor set.
SECTOR = 2048


def desc(type_, ident=b"", version=1):
    d = bytearray(SECTOR)
    d[0:7] = bytes([type_]) + b"CD001" + bytes([version])
    d[40:72] = ident.ljust(32)
    return bytes(d)


term = desc(255)
seed("iso9660", "primary", bytes([33]) + desc(1, b"IPKVM_TEST") + term)
seed("iso9660", "boot_joliet", bytes([20]) + desc(0) + desc(2, b"J") + desc(1, b"lower-case.label  ") + term)

# ---- edid: the 1080p60 preset as the hex text people paste, and a C array of it.
edid_c = open(os.path.join(ROOT, "..", "..", "src", "video", "edid.c")).read()
block = edid_c[edid_c.index("edid_1080p60[256] = {") + len("edid_1080p60[256] = {"):]
block = re.sub(r"/\*.*?\*/", "", block[:block.index("};")], flags=re.S)
# Rebuilt from the C initialiser: designated [128] and [255] fill the gaps with zeros.
data = bytearray(256)
pos = 0
for m in re.finditer(r"\[(\d+)\]\s*=|0x([0-9a-fA-F]{2})|'(.)'", block):
    if m.group(1):
        pos = int(m.group(1))
    else:
        data[pos] = int(m.group(2), 16) if m.group(2) else ord(m.group(3))
        pos += 1
assert sum(data[:128]) % 256 == 0 and sum(data[128:]) % 256 == 0
lines = [" ".join("%02x" % b for b in data[i:i + 16]) for i in range(0, 256, 16)]
seed("edid", "edid_decode", bytes([6]) + ("# edid-decode style\n" + "\n".join(lines) + "\n").encode())
seed("edid", "c_array", bytes([3]) + (",".join("0x%02X" % b for b in data[:128])).encode())
seed("edid", "preset_name", bytes([6]) + b"1080p50")

# ---- ch9329: first byte the chip address, then operations (see fuzz_ch9329.c).
key_down = bytes([0, 0, 8]) + bytes([0x02, 0, 0x04, 0, 0, 0, 0, 0])
ack = bytes([2, 0x00, 0x03])           # ACK, status 0, split after 3 bytes
nack = bytes([2 | 8, 0xE5, 0x07])      # error answer
abs_mouse = bytes([0, 1, 7]) + bytes([1]) + struct.pack("<HHbb", 32767, 100, -1, 0)
later = bytes([3 | (31 << 3)])         # ~1 s passes
seed("ch9329", "ack_flow", b"\x00" + key_down + ack + abs_mouse + nack + later + later + later)
chip_garbage = bytes([1 | (12 << 3)]) + bytes([0x57, 0x57, 0xAB, 0x00, 0x82, 0x01, 0x00, 0x85, 0xAB, 0xFF, 0x57, 0xAB])
seed("ch9329", "garbage_gone", b"\x05" + key_down + chip_garbage + bytes([5]) + key_down + ack)

# ---- layout: first byte sizes the smaller arrays, then the text.
seed("layout", "ascii", b"\x03Hello, World! 0123 ~`!@#$%^&*()_+{}|:\"<>?\r\n\tend")
seed("layout", "european", b"\x05" + "Grüße ÄÖÜ ß € é è ê ç œ æ å ñ ^ ´ ` ¨ ~ £ § µ".encode())
seed("layout", "japanese", b"\x07" + "¥ ＼ カナ 日本語 ｱ ﾞ 😀".encode())
seed("layout", "keycode", b"\x00ControlLeft")

# ---- rfb: first byte bit 0 a VNC-port session (else a carried one), bits 1-7 the piece size
# - 1; then what a client sends (see fuzz_rfb.c).
def rfb_plain(user, pw):
    return struct.pack(">II", len(user), len(pw)) + user + pw


rfb_msgs = (bytes([0, 0, 0, 0, 16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0])
            + b"\x02\x00\x00\x09" + struct.pack(">9i", 7, 16, 0, -26, -312, -313, -258, -261, -239)
            + b"\x03\x00\x00\x00\x00\x00\x04\x00\x03\x00"
            + b"\x04\x01\x00\x00\x00\x00\x00\x61" + b"\x05\x01\x00\x0a\x00\x14"
            + b"\x06\x00\x00\x00\x00\x00\x00\x03hi\xe9"
            + b"\x96\x01\x00\x00\x00\x00\x04\x00\x03\x00"
            + b"\xf8\x00\x00\x00\x80\x00\x00\x07\x02ab"
            + b"\xfb\x00\x04\x00\x03\x00\x01\x00" + bytes(8) + b"\x04\x00\x03\x00" + bytes(4)
            + b"\xff\x00\x00\x01\x00\x00\x00\x61\x00\x00\x00\x1e")
seed("rfb", "vencrypt_plain", b"\xff" + b"RFB 003.008\n\x13\x00\x02\x00\x00\x01\x03"
     + rfb_plain(b"admin", b"not the password"))
seed("rfb", "vncauth_37", b"\x0f" + b"RFB 003.007\n\x02" + bytes(range(16)))
seed("rfb", "vncauth_33", b"\x01" + b"RFB 003.003\n" + bytes(16))
seed("rfb", "carried_38_messages", b"\xfe" + b"RFB 003.008\n\x01\x01" + rfb_msgs)
seed("rfb", "carried_33_split", b"\x04" + b"RFB 003.003\n\x00" + rfb_msgs)
seed("rfb", "carried_cut_text", b"\xfe" + b"RFB 003.008\n\x01\x01" + b"\x06\x00\x00\x00\x00\x00\x10\x00"
     + b"x" * 4096 + b"\x03\x00\x00\x00\x00\x00\x00\x10\x00\x10")

for harness, files in seeds.items():
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
print("wrote", sum(len(f) for f in seeds.values()), "seeds for", len(seeds), "harnesses into", OUT)
