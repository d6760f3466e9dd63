"""test_atx: front-panel control beyond the virtual target's lines: Wake-on-LAN over real
UDP on 127.0.0.1, the GPIO driver's start-up errors, and `atx` events."""
import os
import socket
import time

from harness import check, eq, expect_error, expect_ok, tail
from test_daemon import _start_fails


def test_wol_sends_the_magic_packet(t):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    port = rx.getsockname()[1]
    try:
        d = t.daemon("[atx]\nwol_mac = 52:54:00:12:34:56\nwol_address = 127.0.0.1\n"
                     "wol_port = %d\n" % port)
        s = d.admin()
        r = expect_ok(s.post("/api/wol", {}))
        eq(r, {"mac": "52:54:00:12:34:56", "address": "127.0.0.1", "port": port}, "answer")
        pkt, _ = rx.recvfrom(512)
        eq(pkt, b"\xff" * 6 + bytes.fromhex("525400123456") * 16, "magic packet bytes")
        d.add_user("viewer", "viewer-pass-1", role="viewer")
        v = d.session()
        v.login("viewer", "viewer-pass-1")
        expect_error(v.post("/api/wol", {}), 403, "forbidden")
        with open(os.path.join(d.state_dir, "audit.log")) as f:
            audit = f.read()
        check('"event":"wol"' in audit, "Wake-on-LAN is audited: %r" % audit[-300:])
    finally:
        rx.close()


def test_wol_unconfigured_and_bad_mac(t):
    d = t.daemon()
    expect_error(d.admin().post("/api/wol", {}), 503, "no_wol")
    _start_fails(t, "[atx]\nwol_mac = 52:54:00:12:34\n", lambda d: ["wol_mac", "52:54:00:12:34"])


def test_gpio_driver_errors_are_clear(t):
    _start_fails(t, "[atx]\ndriver = gpio\nchip = gpiochip77\n",
                 lambda d: ["[atx] gpio", "gpiochip77", "no such GPIO chip"])
    _start_fails(t, "[atx]\ndriver = gpio\npower_button =\nreset_button =\n",
                 lambda d: ["neither the power nor the reset button line is set"])


def test_atx_events_follow_the_leds(t):
    d = t.daemon("[target]\nautoboot = 0\n")
    s = d.admin()
    with s.ws() as ws:
        expect_ok(s.post("/api/atx/click", {"button": "power"}))
        seen = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ev = ws.recv_event("atx")
            seen.append((ev["busy"], ev["leds"]["power"]))
            if not ev["busy"] and ev["leds"]["power"]:
                break
        check((True, False) in seen or (True, True) in seen, "a busy event: %r" % seen)
        eq(seen[-1], (False, True), "released, power LED lit: %r" % seen)
        # The HDD LED blinks while the firmware boots; events are at most every 100 ms.
        times = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.2:
            try:
                ws.recv_event("atx", timeout=0.5)
                times.append(time.monotonic())
            except AssertionError:
                break
        check(len(times) >= 3, "HDD LED blink events: %d" % len(times))
        gaps = [b - a for a, b in zip(times, times[1:])]
        check(min(gaps) > 0.08, "events closer than 100 ms: %r" % gaps)
