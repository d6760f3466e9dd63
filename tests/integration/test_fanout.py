"""test_fanout: the stream fan-out writes each client's bytes straight from the shared picture,
as much as its socket takes, and goes on where it stopped. A client that stops reading holds
only its own socket: the others keep getting every picture. A client whose socket takes a
part in pieces gets exactly the bytes of the part (MJPEG over HTTP and HTTPS, H.264 messages
over the WebSocket), whatever the pieces."""

import http.client
import os
import re
import socket
import ssl
import struct
import threading
import time

from harness import HOST, WebSocket, check, eq, expect_ok, free_port

# Small and changing every frame (the test card's clock and counter move), so 32 Python TLS
# readers keep up on two cores, even under ASan.
FPS = 30
SMALL = """
[video]
source = pattern
scene = testcard
width = 640
height = 360
fps = %d
""" % FPS

# Parts larger than what a slow client's socket takes at once: they go out in pieces.
LARGE = """
[video]
source = pattern
scene = testcard
fps = 30

[jpeg]
quality = 100
"""

SEQ_RE = re.compile(rb"X-Sequence: (\d+)\r\n", re.I)
LEN_RE = re.compile(rb"Content-Length: (\d+)\r\n", re.I)


class PartParser:
    """Splits the bytes of a multipart/x-mixed-replace body into (seq, jpeg) parts, checking
    the framing byte for byte: every part is CRLF, the boundary line, its headers, an empty
    line and exactly Content-Length bytes of JPEG."""

    def __init__(self):
        self.buf = b""
        self.parts = []

    def feed(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n", 2)
            if end < 0:
                check(len(self.buf) < 4096, "no end of part headers in %r" % self.buf[:200])
                return
            head = self.buf[:end + 2]
            check(head.startswith(b"\r\n--ipkvmframe\r\nContent-Type: image/jpeg\r\n"),
                  "a part does not start with CRLF and the boundary: %r" % head[:80])
            n = int(LEN_RE.search(head).group(1))
            seq = int(SEQ_RE.search(head).group(1))
            if len(self.buf) < end + 4 + n:
                return
            jpeg = self.buf[end + 4:end + 4 + n]
            check(jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9",
                  "part %d is not one whole JPEG" % seq)
            self.parts.append((seq, jpeg))
            self.buf = self.buf[end + 4 + n:]


def _stream_request(auth):
    return ("GET /api/streamer/stream HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (HOST, auth)).encode()


def _read_head(sock):
    """Reads the response head; returns the bytes after it."""
    buf = b""
    deadline = time.monotonic() + 10
    while b"\r\n\r\n" not in buf:
        check(time.monotonic() < deadline, "no stream response head: %r" % buf[:200])
        chunk = sock.recv(4096)
        check(chunk, "the stream closed before its head: %r" % buf[:200])
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    check(head.startswith(b"HTTP/1.1 200"), "stream answer: %r" % head[:200])
    return rest


def _raw_socket(port, rcvbuf=None):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # Before connect: a small window, and small segments, which keep the daemon's
        # send buffer for this connection small too (the kernel sizes it from the segment
        # size), so its writes meet a full socket in the middle of a part.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    raw.settimeout(10)
    raw.connect((HOST, port))
    return raw


def _open_stream(d, auth, tls=True, port=None, rcvbuf=None):
    sock = _raw_socket(port or d.port, rcvbuf)
    if tls:
        sock = d.ssl_context().wrap_socket(sock, server_hostname=HOST)
    sock.sendall(_stream_request(auth))
    return sock, _read_head(sock)


class Reader(threading.Thread):
    """Reads a stream as fast as it comes and keeps (arrival time, seq) of every part."""

    def __init__(self, sock, rest):
        super().__init__(daemon=True)
        self.sock, self.rest = sock, rest
        self.seqs = []
        self.error = None
        self.stop = False

    def run(self):
        buf = self.rest
        need = None  # bytes of the current part's JPEG still to skip
        try:
            while not self.stop:
                if need is not None:
                    if len(buf) >= need:
                        buf, need = buf[need:], None
                        continue
                    need -= len(buf)
                    buf = b""
                else:
                    end = buf.find(b"\r\n\r\n", 2)
                    if end >= 0:
                        head = buf[:end]
                        check(head.startswith(b"\r\n--ipkvmframe\r\n"),
                              "bad part head %r" % head[:60])
                        self.seqs.append((time.monotonic(),
                                          int(SEQ_RE.search(head + b"\r\n").group(1))))
                        need = int(LEN_RE.search(head + b"\r\n").group(1))
                        buf = buf[end + 4:]
                        continue
                chunk = self.sock.recv(262144)
                check(chunk, "the stream closed")
                buf += chunk
        except BaseException as e:  # reported by the test
            if not self.stop:
                self.error = e


def _send_queue(daemon_port, peer_port):
    """Bytes the kernel holds unsent on the daemon's socket to a local client port (from
    /proc/net/tcp), or None when there is no such connection."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if (int(local.split(":")[1], 16) == daemon_port
                    and int(remote.split(":")[1], 16) == peer_port):
                return int(queues.split(":")[0], 16)
    return None


def _wait_stalled(daemon_port, peer_port, timeout=20.0):
    """Waits until the daemon's socket to the client is full: its send queue (which the
    kernel lets grow to a few MB on loopback) stops growing. Returns its size."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        q = _send_queue(daemon_port, peer_port)
        check(q is not None, "the stalled client's connection is gone")
        if q != last:
            last, since = q, time.monotonic()
        elif q > 0 and time.monotonic() - since >= 1.0:
            return q
        time.sleep(0.1)
    raise AssertionError("the stalled client's socket still takes bytes after %.0f s (send "
                         "queue %s)" % (timeout, last))


def test_stalled_https_client_never_delays_31_others(t):
    d = t.daemon(SMALL)
    s = d.admin()
    auth = "Cookie: ipkvm_session=%s\r\n" % s.cookie
    # The stalled client: a small receive window, and it never reads after its request.
    stalled = d.ssl_context().wrap_socket(_raw_socket(d.port, 4096), server_hostname=HOST)
    stalled.sendall(_stream_request(auth))
    stalled_port = stalled.getsockname()[1]
    readers = []
    try:
        # Its socket full: from now on every write to it would have to wait.
        held = _wait_stalled(d.port, stalled_port)
        for _ in range(31):
            readers.append(Reader(*_open_stream(d, auth)))
        for r in readers:
            r.start()
        time.sleep(2.0)  # everybody streaming, the stalled client's buffers full
        t0 = time.monotonic()
        time.sleep(5.0)
        t1 = time.monotonic()
        st = expect_ok(s.get("/api/streamer"))
        eq(st["clients"], 32, "stream clients (31 readers and the stalled one)")
        # Still there, still not reading (the kernel may let its queue grow a little).
        check(_send_queue(d.port, stalled_port) >= held,
              "the stalled client's connection lost bytes it never read")
    finally:
        for r in readers:
            r.stop = True
        for r in readers:
            r.sock.close()
        stalled.close()
    for i, r in enumerate(readers):
        check(r.error is None, "reader %d failed: %r" % (i, r.error))
    window = [[q for (at, q) in r.seqs if t0 <= at <= t1] for r in readers]
    for i, w in enumerate(window):
        check(len(w) > 10, "reader %d got %d parts in 5 s" % (i, len(w)))
        bad = [(a, b) for a, b in zip(w, w[1:]) if b <= a]
        check(not bad, "reader %d: sequence numbers out of order or repeated: %r" % (i, bad[:5]))
    # The window in the source's frame numbers: what every reader was there for.
    lo = max(w[0] for w in window)
    hi = min(w[-1] for w in window)
    span = hi - lo + 1
    check(span >= 3 * FPS, "the readers' common window is only %d frames" % span)
    published = set()
    for w in window:
        published.update(q for q in w if lo <= q <= hi)
    worst_rate, worst_missed = 1.0, 0
    for i, w in enumerate(window):
        got = {q for q in w if lo <= q <= hi}
        rate = len(got) / span  # of the source's frame rate
        missed = len(published - got)
        worst_rate = min(worst_rate, rate)
        worst_missed = max(worst_missed, missed)
        # 80 %: room for a loaded machine and ASan; the stalled client's share was all of it
        # before the fan-out wrote from the shared buffer.
        check(rate >= 0.8,
              "reader %d got %d of the %d frames %d..%d (%.0f %% of %d fps); %d published "
              "pictures it missed" % (i, len(got), span, lo, hi, 100 * rate, FPS, missed))
    print("31 readers next to a stalled one: the worst got %.0f %% of the source's frames and "
           "missed %d of %d published pictures" % (100 * worst_rate, worst_missed,
                                                   len(published)))


def _slow_read(sock, seconds, parser, piece=2048, pause=0.002, stall_every=0.7, stall=0.4):
    """Reads in small pieces with pauses, and stops reading now and then, so the daemon meets a
    full socket in the middle of its parts."""
    start = time.monotonic()
    next_stall = start + stall_every
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if now >= next_stall:
            time.sleep(stall)
            next_stall = time.monotonic() + stall_every
        sock.settimeout(5)
        chunk = sock.recv(piece)
        check(chunk, "the stream closed")
        parser.feed(chunk)
        time.sleep(pause)


def _parts_match(slow, fast, what):
    """Every part the slow reader got is byte for byte the part a fast reader got for the same
    frame, and in order."""
    ref = dict(fast.parts)
    seqs = [q for q, _ in slow.parts]
    check(len(seqs) >= 3, "%s: only %d whole parts arrived" % (what, len(seqs)))
    check(all(b > a for a, b in zip(seqs, seqs[1:])), "%s: parts out of order: %r" % (what, seqs))
    compared = 0
    for q, jpeg in slow.parts:
        if q in ref:
            eq(len(jpeg), len(ref[q]), "%s: length of part %d" % (what, q))
            check(jpeg == ref[q], "%s: part %d differs from the same part on another "
                                   "connection" % (what, q))
            compared += 1
    check(compared >= 3, "%s: only %d parts could be compared" % (what, compared))
    return compared


def _check_pieces(t, d, auth, tls, port=None):
    what = "HTTPS" if tls else "HTTP"
    fast_sock, fast_rest = _open_stream(d, auth, tls, port)
    slow_sock, slow_rest = _open_stream(d, auth, tls, port, rcvbuf=4096)
    fast, slow = PartParser(), PartParser()
    fast.feed(fast_rest)
    slow.feed(slow_rest)
    stop = threading.Event()
    err = []

    def read_fast():
        try:
            while not stop.is_set():
                chunk = fast_sock.recv(262144)
                check(chunk, "the fast stream closed")
                fast.feed(chunk)
        except BaseException as e:
            if not stop.is_set():
                err.append(e)

    th = threading.Thread(target=read_fast, daemon=True)
    th.start()
    try:
        _slow_read(slow_sock, 4.0, slow)
        time.sleep(0.3)  # the fast reader has every part the slow one finished
    finally:
        stop.set()
        fast_sock.close()
        slow_sock.close()
        th.join(5)
    check(not err, "%s fast reader: %r" % (what, err[:1]))
    n = _parts_match(slow, fast, what)
    print("%s: %d parts read in small pieces matched byte for byte" % (what, n))


def test_parts_written_in_pieces_arrive_whole_https(t):
    d = t.daemon(LARGE)
    s = d.admin()
    _check_pieces(t, d, "Cookie: ipkvm_session=%s\r\n" % s.cookie, tls=True)


def test_parts_written_in_pieces_arrive_whole_http(t):
    port = free_port()
    d = t.daemon(LARGE + "\n[server]\nplain_port = %d\n" % port)
    token = d.cli_ok("token", "admin", "--label", "fanout").splitlines()[0].strip()
    _check_pieces(t, d, "Authorization: Bearer %s\r\n" % token, tls=False, port=port)


# --- H.264 --------------------------------------------------------------------------------

H264 = LARGE + "\n[h264]\nbackend = software\nbitrate = 8000\ngop = 30\n"


def _h264_socket(d, cookie, rcvbuf=None):
    sock = d.ssl_context().wrap_socket(_raw_socket(d.port, rcvbuf), server_hostname=HOST)
    sock.sendall(("GET /api/streamer/h264 HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\nCookie: ipkvm_session=%s\r\n\r\n"
                  % (HOST, d.port, cookie)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        check(chunk, "the H.264 socket closed during the upgrade")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    check(head.startswith(b"HTTP/1.1 101"), "H.264 upgrade: %r" % head[:200])
    return WebSocket(sock, rest)


def test_h264_messages_written_in_pieces_arrive_whole(t):
    d = t.daemon(H264)
    s = d.admin()
    fast = _h264_socket(d, s.cookie)
    slow = _h264_socket(d, s.cookie, rcvbuf=4096)
    got_fast, got_slow = {}, []
    stop = threading.Event()
    err = []

    def read_fast():
        try:
            while not stop.is_set():
                op, data = fast.recv_message(timeout=5)
                if op == 2 and len(data) > 24:
                    got_fast[struct.unpack("<I", data[4:8])[0]] = data
        except BaseException as e:
            if not stop.is_set():
                err.append(e)

    th = threading.Thread(target=read_fast, daemon=True)
    th.start()
    try:
        start = time.monotonic()
        next_stall = start + 0.7
        pings = 0
        while time.monotonic() - start < 5.0:
            if time.monotonic() >= next_stall:
                # Stop reading, and ask for pongs while the daemon is likely in the middle
                # of a message: they must come between messages, never inside one.
                slow.send_frame(0x9, b"p%d" % pings)
                pings += 1
                time.sleep(0.5)
                next_stall = time.monotonic() + 0.7
            op, data = slow.recv_message(timeout=5)
            eq(op, 2, "H.264 message opcode")
            check(len(data) >= 24 and data[0] == 1, "a broken H.264 message: %r" % data[:32])
            got_slow.append(data)
            time.sleep(0.002)
        time.sleep(0.3)
    finally:
        stop.set()
        fast.sock.close()
        slow.sock.close()
        th.join(5)
    check(not err, "fast H.264 reader: %r" % err[:1])
    units = [(struct.unpack("<I", m[4:8])[0], m) for m in got_slow if not m[1] & 2]
    seqs = [q for q, _ in units]
    check(len(units) >= 10, "only %d access units arrived at the slow reader" % len(units))
    check(all(b > a for a, b in zip(seqs, seqs[1:])), "access units out of order: %r" % seqs)
    compared = 0
    for q, m in units:
        if q in got_fast:
            check(m == got_fast[q], "access unit %d differs between the two sockets" % q)
            compared += 1
    check(compared >= 10, "only %d access units could be compared" % compared)
    check(slow.pongs, "no pong came back for %d pings" % pings)
    print("H.264: %d access units read in small pieces matched byte for byte, %d pongs"
           % (compared, len(slow.pongs)))


# --- a client that leaves a still screen ----------------------------------------------------

STILL = """
[video]
source = pattern
scene = static
width = 640
height = 360
fps = 30
"""


def _main_thread_cpu(pid):
    """CPU seconds the daemon's main thread has used (utime + stime)."""
    with open("/proc/%d/task/%d/stat" % (pid, pid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_client_leaving_a_still_screen_costs_nothing(t):
    # lws 4.1 kept polling a stream's socket for input it never reads: after the client
    # left, poll() returned at once for it until the next write (the once-a-second resend of
    # a still picture) found it closed: a spinning main thread for up to a second.
    port = free_port()
    d = t.daemon(STILL + "\n[server]\nplain_port = %d\n" % port)
    token = d.cli_ok("token", "admin", "--label", "fanout").splitlines()[0].strip()
    auth = "Authorization: Bearer %s\r\n" % token
    for tls in (False, True):
        what = "HTTPS" if tls else "HTTP"
        sock, rest = _open_stream(d, auth, tls, None if tls else port)
        parser = PartParser()
        parser.feed(rest)
        while len(parser.parts) < 2:  # the picture, then its first resend
            chunk = sock.recv(65536)
            check(chunk, "%s: the stream closed" % what)
            parser.feed(chunk)
        eq(parser.parts[0][1], parser.parts[1][1], "%s: the resent still picture" % what)
        before = _main_thread_cpu(d.proc.pid)
        sock.close()  # right after a resend: the next one is a second away
        time.sleep(0.8)
        used = _main_thread_cpu(d.proc.pid) - before
        check(used < 0.3, "%s: the main thread used %.2f s of CPU in the 0.8 s after a client "
                          "left a still screen (it spins)" % (what, used))
        st = expect_ok(d.admin().get("/api/streamer"))
        check(st["clients"] <= 1, "%s: %d stream clients after the client left"
              % (what, st["clients"]))


def test_stalled_h264_client_of_a_deleted_user_is_dropped(t):
    # The H.264 socket closes only between messages; a client that stopped reading in the
    # middle of one never gets there, so the daemon drops it instead.
    # Every access unit a keyframe, at the highest bitrate: messages larger than what the
    # socket takes once it is full.
    d = t.daemon(LARGE + "\n[h264]\nbackend = software\nbitrate = 50000\ngop = 1\n")
    a = d.admin()
    d.add_user("watcher", "watcher-password", role="viewer")
    v = d.session()
    v.login("watcher", "watcher-password")
    ws = _h264_socket(d, v.cookie, rcvbuf=4096)
    try:
        _wait_stalled(d.port, ws.sock.getsockname()[1])  # never read: the socket is full
        eq(expect_ok(a.get("/api/streamer"))["h264"]["clients"], 1, "H.264 clients while stalled")
        expect_ok(a.delete("/api/users/watcher"))
        deadline = time.monotonic() + 5  # the 1 s check, then 2 s of grace
        clients = 1
        while clients and time.monotonic() < deadline:
            time.sleep(0.2)
            clients = expect_ok(a.get("/api/streamer"))["h264"]["clients"]
        eq(clients, 0, "H.264 clients 5 s after the stalled watcher was deleted")
    finally:
        ws.sock.close()
