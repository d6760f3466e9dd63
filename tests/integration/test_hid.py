"""Keyboard input through the real daemon to a USB gadget node, with a pty standing in for
/dev/hidg0: exact boot reports, tap and release, the target's LED report read back, release
of held keys when the WebSocket that pressed them closes, and viewers refused."""

import os
import pty
import select
import time
import tty

from harness import check, eq, expect_error, expect_ok


class FakeHidg:
    """The host side of a gadget node: reads the reports the daemon writes, writes LED
    reports back. The daemon gets the pty's slave path."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # no line discipline between report bytes
        self.path = os.ttyname(self.slave)

    def reports(self, n, size=8, timeout=3.0):
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < size * n and time.monotonic() < deadline:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if r:
                data += os.read(self.master, 4096)
        eq(len(data), size * n, "bytes of %d reports of %d (got %r)" % (n, size, data))
        return [data[i:i + size] for i in range(0, len(data), size)]

    def resync(self):
        """The empty report a starting daemon sends, so that the host drops keys a previous
        daemon (killed with them down) left held."""
        eq(self.reports(1), [bytes(8)], "the starting daemon's empty keyboard report")

    def quiet(self, seconds=0.3):
        r, _, _ = select.select([self.master], [], [], seconds)
        return not r

    def close(self):
        os.close(self.master)
        os.close(self.slave)


def _daemon(t, hidg):
    d = t.daemon("[hid]\noutput = gadget\nkeyboard = %s\nmouse_abs =\nmouse_rel =\n"
                 "consumer =\n" % hidg.path)
    hidg.resync()
    return d


def test_key_reports_are_exact(t):
    g = FakeHidg()
    try:
        d = _daemon(t, g)
        s = d.admin()
        st = expect_ok(s.get("/api/hid"))
        eq(st["online"], True, "output online")
        expect_ok(s.post("/api/hid/key", {"code": "ShiftLeft", "state": "press"}))
        expect_ok(s.post("/api/hid/key", {"code": "KeyA", "state": "tap"}))
        res = expect_ok(s.post("/api/hid/key", {"code": "ShiftLeft", "state": "release"}))
        eq(res["pressed"], [], "pressed keys after release")
        eq(g.reports(4), [bytes([0x02, 0, 0, 0, 0, 0, 0, 0]),
                          bytes([0x02, 0, 0x04, 0, 0, 0, 0, 0]),
                          bytes([0x02, 0, 0, 0, 0, 0, 0, 0]),
                          bytes(8)], "reports of Shift+A")
        expect_ok(s.post("/api/hid/key", {"code": "IntlYen", "state": "press"}))
        eq(g.reports(1), [bytes([0, 0, 0x89, 0, 0, 0, 0, 0])], "JIS Yen key report")
        expect_ok(s.post("/api/hid/release_all"))
        eq(g.reports(1), [bytes(8)], "release_all report")
        expect_error(s.post("/api/hid/key", {"code": "NoSuchKey", "state": "tap"}), 400,
                     "bad_request", "NoSuchKey")
        expect_error(s.post("/api/hid/key", {"code": "KeyA", "state": "hold"}), 400,
                     "bad_request", "state")
        # No consumer node configured: a media key is refused, not silently dropped.
        expect_error(s.post("/api/hid/key", {"code": "AudioVolumeUp", "state": "tap"}), 409,
                     "not_offered", "AudioVolumeUp")
        eq(expect_ok(s.get("/api/hid"))["pressed"], [], "a refused key is not held")
        check(g.quiet(), "refused requests still wrote reports")
    finally:
        g.close()


def test_led_report_is_read_back(t):
    g = FakeHidg()
    try:
        d = _daemon(t, g)
        s = d.admin()
        eq(expect_ok(s.get("/api/hid"))["leds"]["caps"], False, "caps before")
        with s.ws() as ws:
            os.write(g.master, bytes([0x02]))  # the host turned Caps Lock on
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                msg = ws.recv_json(timeout=3)
                if msg.get("event") == "hid":
                    eq(msg["data"]["leds"]["caps"], True, "caps in the hid event")
                    break
            else:
                raise AssertionError("no hid event after the LED report")
        leds = expect_ok(s.get("/api/hid"))["leds"]
        eq((leds["num"], leds["caps"], leds["scroll"]), (False, True, False), "LEDs")
    finally:
        g.close()


def test_closing_the_socket_releases_held_keys(t):
    g = FakeHidg()
    try:
        d = _daemon(t, g)
        s = d.admin()
        with s.ws() as ws:
            ws.send_json({"event": "key", "data": {"code": "KeyQ", "state": "press"}})
            eq(g.reports(1), [bytes([0, 0, 0x14, 0, 0, 0, 0, 0])], "Q pressed")
        eq(g.reports(1), [bytes(8)], "release after the socket closed")
    finally:
        g.close()


def test_viewer_cannot_type(t):
    g = FakeHidg()
    try:
        d = _daemon(t, g)
        d.add_user("watcher", "watcher-password", role="viewer")
        v = d.session()
        v.login("watcher", "watcher-password")
        eq(expect_ok(v.get("/api/hid"))["online"], True, "viewer may read the state")
        expect_error(v.post("/api/hid/key", {"code": "KeyA", "state": "tap"}), 403, "forbidden")
        expect_error(v.post("/api/hid/release_all"), 403, "forbidden")
        with v.ws() as ws:
            ws.send_json({"event": "key", "data": {"code": "KeyA", "state": "press"}})
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                msg = ws.recv_json(timeout=3)
                if msg.get("event") == "error":
                    eq(msg["data"]["code"], "forbidden", "error code for viewer input")
                    break
            else:
                raise AssertionError("no error event for viewer input")
        check(g.quiet(), "viewer input reached the target")
    finally:
        g.close()


def test_no_hid_output_answers_503(t):
    d = t.daemon("[hid]\noutput = none\n")
    s = d.admin()
    expect_error(s.get("/api/hid"), 503, "no_hid")
    expect_error(s.post("/api/hid/key", {"code": "KeyA", "state": "tap"}), 503, "no_hid")


def test_shortcut_and_mice(t):
    kb, ab, rel = FakeHidg(), FakeHidg(), FakeHidg()
    try:
        d = t.daemon("[hid]\noutput = gadget\nkeyboard = %s\nmouse_abs = %s\nmouse_rel = %s\n"
                     "consumer =\n" % (kb.path, ab.path, rel.path))
        kb.resync()
        s = d.admin()
        expect_ok(s.post("/api/hid/shortcut", {"keys": "ControlLeft+AltLeft+Delete"}))
        eq(kb.reports(6), [bytes([0x01, 0, 0, 0, 0, 0, 0, 0]),
                           bytes([0x05, 0, 0, 0, 0, 0, 0, 0]),
                           bytes([0x05, 0, 0x4C, 0, 0, 0, 0, 0]),
                           bytes([0x05, 0, 0, 0, 0, 0, 0, 0]),
                           bytes([0x01, 0, 0, 0, 0, 0, 0, 0]),
                           bytes(8)], "Ctrl+Alt+Del, pressed in order, released in reverse")
        expect_error(s.post("/api/hid/shortcut", {"keys": "ControlLeft+Nope"}), 400,
                     "bad_request", "Nope")
        eq(kb.reports(2), [bytes([0x01, 0, 0, 0, 0, 0, 0, 0]), bytes(8)],
           "a refused shortcut leaves nothing held")
        # Absolute: x, y little-endian, then wheel and pan.
        expect_ok(s.post("/api/hid/mouse", {"x": 16384, "y": 32767, "buttons": 1}))
        eq(ab.reports(1, 7), [bytes([0x01, 0x00, 0x40, 0xFF, 0x7F, 0, 0])], "absolute report")
        # Relative: 300 px split into 127 + 127 + 46, never clipped.
        expect_ok(s.post("/api/hid/mouse", {"dx": 300, "dy": -1, "buttons": 0}))
        eq(rel.reports(3, 5), [bytes([0, 127, 0xFF, 0, 0]), bytes([0, 127, 0, 0, 0]),
                               bytes([0, 46, 0, 0, 0])], "relative reports")
        st = expect_ok(s.post("/api/hid/mouse", {"wheel": -2}))
        eq(st["mouse"], {"x": 16384, "y": 32767, "buttons": 0}, "mouse state")
        eq(ab.reports(1, 7), [bytes([0x00, 0x00, 0x40, 0xFF, 0x7F, 0xFE, 0])], "wheel report")
        expect_error(s.post("/api/hid/mouse", {"x": 1, "dx": 1}), 400, "bad_request")
        expect_error(s.post("/api/hid/mouse", {"x": 40000}), 400, "bad_request", "x")
        # A held button is let go by release_all.
        expect_ok(s.post("/api/hid/mouse", {"buttons": 2}))
        ab.reports(1, 7)
        expect_ok(s.post("/api/hid/release_all"))
        eq(ab.reports(1, 7), [bytes([0x00, 0x00, 0x40, 0xFF, 0x7F, 0, 0])],
           "buttons released")
    finally:
        for g in (kb, ab, rel):
            g.close()


def _key_downs(reports):
    """(modifiers, usage) for every key that goes down in a stream of boot reports."""
    downs, held = [], set()
    for r in reports:
        keys = {k for k in r[2:] if k}
        for k in r[2:]:
            if k and k not in held:
                downs.append((r[0], k))
        held = keys
    return downs


def test_paste_jis_text(t):
    g = FakeHidg()
    try:
        d = _daemon(t, g)
        s = d.admin()
        with s.ws() as ws:
            res = expect_ok(s.post("/api/hid/type",
                                   {"text": "\\_|@[]", "layout": "jp", "delay_ms": 0}))
            eq(res["untyped"], [], "untyped characters")
            eq(res["strokes"], 6, "strokes")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                msg = ws.recv_json(timeout=5)
                if msg.get("event") == "hid_type" and msg["data"]["state"] == "done":
                    eq(msg["data"]["typed"], 6, "typed when done")
                    break
            else:
                raise AssertionError("no hid_type done event")
        data = b""
        while not g.quiet(0.2):
            data += os.read(g.master, 4096)
        eq(len(data) % 8, 0, "whole reports")
        reports = [data[i:i + 8] for i in range(0, len(data), 8)]
        eq(reports[-1], bytes(8), "everything released at the end")
        eq(_key_downs(reports), [(0x00, 0x87), (0x02, 0x87), (0x02, 0x89), (0x00, 0x2F),
                                 (0x00, 0x30), (0x00, 0x31)],
           "JIS keys for \\\\ _ | @ [ ]")
    finally:
        g.close()


def test_paste_reports_untyped_and_refuses_bad_input(t):
    g = FakeHidg()
    try:
        d = _daemon(t, g)
        s = d.admin()
        with s.ws() as ws:
            res = expect_ok(s.post("/api/hid/type", {"text": "a\u20acb", "layout": "us"}))
            eq(res["untyped"], [{"index": 1, "char": "\u20ac"}], "untyped euro sign on us")
            eq(res["strokes"], 2, "strokes typed around it")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                msg = ws.recv_json(timeout=5)
                if msg.get("event") == "hid_type" and msg["data"]["state"] == "done":
                    break
            else:
                raise AssertionError("the short paste did not finish")
        expect_error(s.post("/api/hid/type", {"text": "x", "layout": "klingon"}), 400,
                     "bad_request", "klingon")
        expect_error(s.post("/api/hid/type", {"text": "x", "delay_ms": 5000}), 400,
                     "bad_request", "delay_ms")
        long = expect_ok(s.post("/api/hid/type", {"text": "a" * 200, "delay_ms": 20}))
        eq(long["strokes"], 200, "strokes of the long text")
        expect_error(s.post("/api/hid/type", {"text": "b"}), 409, "conflict")
        res = expect_ok(s.post("/api/hid/type/cancel"))
        check(res["typed"] < 200, "cancel came after the whole text: %r" % res)
        expect_error(s.post("/api/hid/type/cancel"), 409, "conflict")
    finally:
        g.close()


def test_quiet_browser_gets_keys_released(t):
    g = FakeHidg()
    try:
        d = t.daemon("[hid]\noutput = gadget\nkeyboard = %s\nmouse_abs =\nmouse_rel =\n"
                     "consumer =\nrelease_after = 1s\n" % g.path)
        g.resync()
        s = d.admin()
        with s.ws() as ws:
            ws.send_json({"event": "key", "data": {"code": "KeyW", "state": "press"}})
            eq(g.reports(1), [bytes([0, 0, 0x1A, 0, 0, 0, 0, 0])], "W pressed")
            # The socket stays open but says nothing: within a few seconds the key is let go.
            eq(g.reports(1, timeout=4.0), [bytes(8)], "release after the quiet period")
            check(ws.sock is not None, "the socket was closed")
    finally:
        g.close()


def _ch_frame(cmd, data, addr=0):
    body = bytes([0x57, 0xAB, addr, cmd, len(data)]) + bytes(data)
    return body + bytes([sum(body) & 0xFF])


def test_ch9329_serial_bridge(t):
    # A pty plays the CH9329: the daemon sends its frames and waits for each ACK.
    g = FakeHidg()
    try:
        d = t.daemon("[hid]\noutput = ch9329\nserial = %s\nbaud = 115200\n" % g.path)
        # A starting daemon first sends an empty keyboard report (keys left held by a
        # previous one are let go): acknowledged like any frame.
        empty = _ch_frame(0x02, [0] * 8)
        eq(b"".join(g.reports(1, len(empty))), empty, "the starting daemon's empty report")
        os.write(g.master, _ch_frame(0x82, [0x00]))
        s = d.admin()
        eq(expect_ok(s.get("/api/hid"))["output"], "ch9329", "output kind")
        expect_ok(s.post("/api/hid/key", {"code": "KeyA", "state": "tap"}))
        press = _ch_frame(0x02, [0, 0, 0x04, 0, 0, 0, 0, 0])
        eq(press.hex(), "57ab000208000004000000000010", "keyboard frame of A")
        eq(b"".join(g.reports(1, len(press))), press, "first frame: A down")
        # One command in flight: nothing more until the ACK (the chip's 100 ms ACK timeout
        # would resend the same frame, not send the next).
        check(g.quiet(0.05), "a second frame came before the ACK of the first")
        os.write(g.master, _ch_frame(0x82, [0x00]))
        eq(b"".join(g.reports(1, len(press))), _ch_frame(0x02, [0] * 8), "A up after the ACK")
        os.write(g.master, _ch_frame(0x82, [0x00]))
        st = expect_ok(s.get("/api/hid"))
        eq(st["online"], True, "online after ACKs")
    finally:
        g.close()


def test_stalled_target_loses_nothing(t):
    # The target stops taking reports (the pty's output is suspended, as a host that stops
    # polling the keyboard would): the daemon queues them in order without blocking anyone,
    # and when the target resumes every report arrives, in order.
    import termios
    g = FakeHidg()
    try:
        d = _daemon(t, g)
        s = d.admin()
        termios.tcflow(g.slave, termios.TCOOFF)
        letters = "abcdefghijklmnopqrstuvwxyz" * 2
        t0 = time.monotonic()
        for ch in letters:
            expect_ok(s.post("/api/hid/key", {"code": "Key" + ch.upper(), "state": "tap"}))
        eq(s.get("/api/auth/check").status, 200, "the daemon answers while the target stalls")
        check(time.monotonic() - t0 < 10, "requests were slowed down by the stalled target")
        queued = expect_ok(s.get("/api/hid"))["counters"]["queued"]
        check(queued > 0, "nothing had to wait: the stall was not simulated")
        termios.tcflow(g.slave, termios.TCOON)
        got = g.reports(2 * len(letters), timeout=5.0)
        want = []
        for ch in letters:
            want += [bytes([0, 0, 0x04 + ord(ch) - ord("a"), 0, 0, 0, 0, 0]), bytes(8)]
        eq(got, want, "every report after the stall, in order")
    finally:
        g.close()


def test_jiggler(t):
    kb, rel = FakeHidg(), FakeHidg()
    try:
        d = t.daemon("[hid]\noutput = gadget\nkeyboard = %s\nmouse_abs =\nmouse_rel = %s\n"
                     "consumer =\n" % (kb.path, rel.path))
        s = d.admin()
        check(rel.quiet(1.3), "the jiggler moved while off")
        st = expect_ok(s.post("/api/hid/jiggler", {"interval": 1}))
        eq(st["jiggler"]["interval"], 1, "jiggler interval")
        # One pixel right and back, after a second without input.
        eq(rel.reports(2, 5, timeout=3.0), [bytes([0, 1, 0, 0, 0]), bytes([0, 0xFF, 0, 0, 0])],
           "jiggle reports")
        check(expect_ok(s.get("/api/hid"))["jiggler"]["jiggles"] >= 1, "jiggles counted")
        expect_ok(s.post("/api/hid/jiggler", {"interval": 0}))
        time.sleep(0.1)
        while not rel.quiet(0.1):
            os.read(rel.master, 4096)
        check(rel.quiet(1.5), "the jiggler moved after it was turned off")
        expect_error(s.post("/api/hid/jiggler", {"interval": -1}), 400, "bad_request")
        eq(expect_ok(s.get("/api/hid"))["mouse_mode"], "absolute", "default mouse mode")
        eq(expect_ok(s.post("/api/hid/mouse/mode", {"mode": "relative"}))["mouse_mode"],
           "relative", "mouse mode after the change")
        expect_error(s.post("/api/hid/mouse/mode", {"mode": "sideways"}), 400, "bad_request")
    finally:
        kb.close()
        rel.close()


def test_binary_input_protocol(t):
    import struct as st
    kb, ab, rel = FakeHidg(), FakeHidg(), FakeHidg()
    try:
        d = t.daemon("[hid]\noutput = gadget\nkeyboard = %s\nmouse_abs = %s\nmouse_rel = %s\n"
                     "consumer =\n" % (kb.path, ab.path, rel.path))
        kb.resync()
        s = d.admin()
        with s.ws() as ws:
            ws.send_frame(0x2, bytes([0x01, 1, 4]) + b"KeyZ")
            ws.send_frame(0x2, bytes([0x01, 0, 4]) + b"KeyZ")
            eq(kb.reports(2), [bytes([0, 0, 0x1D, 0, 0, 0, 0, 0]), bytes(8)], "Z via binary")
            ws.send_frame(0x2, st.pack("<BBHHbb", 0x02, 1, 100, 200, -1, 0))
            eq(ab.reports(1, 7), [bytes([1, 100, 0, 200, 0, 0xFF, 0])], "absolute via binary")
            ws.send_frame(0x2, st.pack("<BBhhbb", 0x03, 0, -200, 5, 0, 0))
            eq(rel.reports(2, 5), [bytes([0, 0x81, 5, 0, 0]), bytes([0, 0xB7, 0, 0, 0])],
               "relative via binary (-200 split into -127 and -73)")
            ws.send_frame(0x2, st.pack("<BBHHbb", 0x02, 2, 100, 200, 0, 0))
            eq(ab.reports(1, 7), [bytes([2, 100, 0, 200, 0, 0, 0])], "right button down")
            ws.send_frame(0x2, bytes([0x04]))
            eq(ab.reports(1, 7), [bytes([0, 100, 0, 200, 0, 0, 0])], "release via binary")
            ws.send_frame(0x2, bytes([0x09, 1, 2]))
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                msg = ws.recv_json(timeout=3)
                if msg.get("event") == "error":
                    eq(msg["data"]["code"], "bad_request", "malformed binary message")
                    break
            else:
                raise AssertionError("no error event for a malformed binary message")
    finally:
        for g in (kb, ab, rel):
            g.close()


def test_mouse_ranges_hold_at_the_integer_limits(t):
    # llabs(LLONG_MIN) is undefined (and stays negative in practice), so the range check
    # once let {"dx": -9223372036854775808} through as a move of 0. Every field is compared
    # as the 64-bit integer it arrived as, on the REST, JSON WebSocket and binary paths.
    import struct as st
    kb, ab, rel = FakeHidg(), FakeHidg(), FakeHidg()
    lo, hi = -9223372036854775808, 9223372036854775807
    try:
        d = t.daemon("[hid]\noutput = gadget\nkeyboard = %s\nmouse_abs = %s\nmouse_rel = %s\n"
                     "consumer =\n" % (kb.path, ab.path, rel.path))
        kb.resync()
        s = d.admin()
        for field in ("dx", "dy", "wheel", "pan", "x", "y", "buttons"):
            for v in (lo, hi):
                r = s.request("POST", "/api/hid/mouse",
                              body='{"%s": %d}' % (field, v),
                              headers={"Content-Type": "application/json"})
                expect_error(r, 400, "bad_request", "'%s'" % field)
        expect_error(s.post("/api/hid/mouse", {"dx": -8129}), 400, "bad_request", "'dx'")
        expect_error(s.post("/api/hid/mouse", {"wheel": 8129}), 400, "bad_request", "'wheel'")
        check(rel.quiet() and ab.quiet(), "a refused move reached the target")
        # The limits themselves pass: 8128 = 64 reports of 127.
        expect_ok(s.post("/api/hid/mouse", {"dx": -8128}))
        eq(len(rel.reports(64, 5)), 64, "reports of a -8128 move")
        with s.ws() as ws:
            ws.send_text('{"event":"mouse","data":{"dx":%d}}' % lo)
            err = ws.recv_event("error", timeout=3)
            eq(err["code"], "bad_request", "WebSocket mouse at LLONG_MIN")
            check("'dx'" in err["message"], "the error does not name dx: %r" % err)
            # Binary relative moves are i16: in range for an int, but beyond one message's
            # 64 reports; the error names the fields (not the absolute coordinates).
            ws.send_frame(0x2, st.pack("<BBhhbb", 0x03, 0, -32768, 0, 0, 0))
            err = ws.recv_event("error", timeout=3)
            eq(err["code"], "bad_request", "binary move of -32768")
            check("dx" in err["message"], "the error does not name dx: %r" % err)
        check(rel.quiet(), "a refused WebSocket move reached the target")
    finally:
        for g in (kb, ab, rel):
            g.close()
