/*
 * config: reads the daemon's INI file with inih and applies command-line overrides.
 *
 * Every key lives once in ipkvm_config_keys[]: its section, name, type, field offset, range,
 * help line and default text. ipkvm_config_init() applies each default text through the same
 * parser the file and the command line use, so a default can never drift out of the range the
 * table allows, and every value, wherever it came from, gets the same error messages.
 *
 * Line numbers: Debian's inih 55 calls the handler without a line number and only returns the
 * number of the first failing line. We therefore feed inih through our own fgets-style reader
 * that counts the lines it hands over; inih counts reader calls the same way, so inside the
 * handler our count is the line being handled. The reader also lets us stop after the first
 * error (it returns NULL) and catch lines longer than inih's fixed buffer, which inih would
 * otherwise silently split into two "lines".
 */
#define LOG_TAG "config"

#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/util.h"

#define KEY(sec, nm, ty, field, lo, hi, dflt, hlp, dc)                                             \
	{                                                                                          \
		.section = (sec), .name = (nm), .type = (ty),                                      \
		.offset = offsetof(struct ipkvm_config, field), .min = (lo), .max = (hi),          \
		.def = (dflt), .help = (hlp), .doc = (dc)                                          \
	}

#define CHOICE(sec, nm, field, words, dflt, hlp, dc)                                               \
	{                                                                                          \
		.section = (sec), .name = (nm), .type = IPKVM_CFG_CHOICE,                          \
		.offset = offsetof(struct ipkvm_config, field), .def = (dflt), .help = (hlp),      \
		.names = (words), .doc = (dc)                                                      \
	}

/* A choice key's words, in the order of its enum (config.h). */
#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* One year, the longest session or idle time we accept. */
#define YEAR_S 31536000L

const struct ipkvm_config_key ipkvm_config_keys[] = {
    KEY("server", "listen", IPKVM_CFG_ADDRESS, listen, 0, 0, "",
	"IPv4 or IPv6 address to listen on; empty = every address",
	"Address to listen on: an IPv4 or IPv6 address such as 192.168.1.10 or ::1 (not "
	"a host name). Empty means every address, IPv6 and IPv4."),
    KEY("server", "port", IPKVM_CFG_PORT, port, 1, 65535, "8443", "HTTPS port",
	"HTTPS port for the web UI and API, 1..65535."),
    KEY("server", "http_port", IPKVM_CFG_PORT, http_port, 0, 65535, "0",
	"plain-HTTP port that redirects to HTTPS; 0 = off",
	"Plain-HTTP port that only redirects browsers to HTTPS, 0..65535; 0 turns it "
	"off."),
    KEY("server", "tls_cert", IPKVM_CFG_PATH, tls_cert, 0, 0, NULL,
	"PEM certificate chain; empty = self-signed one in <state_dir>/tls/",
	"TLS certificate chain (PEM) and its private key (PEM). Set both or neither. "
	"Empty means a self-signed certificate is generated once and kept in "
	"<state_dir>/tls/."),
    KEY("server", "tls_key", IPKVM_CFG_PATH, tls_key, 0, 0, NULL,
	"PEM private key for tls_cert; empty = generated with the certificate", NULL),
    CHOICE("server", "tls_ciphers", tls_ciphers, WORDS("auto", "aes-gcm", "chacha20"), "auto",
	   "cipher the server prefers: auto (AES-GCM when the CPU has AES instructions, else "
	   "ChaCha20-Poly1305), aes-gcm or chacha20",
	   "The cipher the server prefers for HTTPS: auto, aes-gcm or chacha20. auto takes "
	   "AES-GCM when the CPU has AES instructions and ChaCha20-Poly1305 when it has not "
	   "(a Raspberry Pi 4 has none, and there ChaCha20 encrypts the video several times "
	   "faster than AES in software). Either way a client that lacks AES instructions itself "
	   "and asks for "
	   "ChaCha20 first gets it, and the other cipher stays allowed."),
    KEY("server", "web_root", IPKVM_CFG_PATH, web_root, 0, 0, NULL,
	"directory of the browser UI; empty = the installed one",
	"Directory holding the browser UI. Empty means the one installed with ipkvmd."),
    KEY("server", "state_dir", IPKVM_CFG_PATH, state_dir, 1, 0, IPKVM_DEFAULT_STATE_DIR,
	"directory for users, tokens, audit log and generated TLS files",
	"Directory for users, API tokens, the audit log and generated TLS files. Must "
	"not be empty."),
    KEY("server", "max_body", IPKVM_CFG_INT, max_body, 1024, 16777216, "65536",
	"largest accepted API request body, bytes",
	"Largest API request body accepted, in bytes, 1024..16777216 (16 MiB)."),
    KEY("server", "plain_port", IPKVM_CFG_PORT, plain_port, 0, 65535, "0",
	"plain-HTTP port with the same routes and logins, for a TLS proxy on this machine or "
	"benchmarks; 0 = off",
	"A second, plain-HTTP port that serves the same pages, API and streams, with "
	"the same logins (use an API token: browsers do not send the session cookie "
	"over plain HTTP). It exists for a TLS-terminating proxy on this machine (such "
	"as `tailscale serve`) and for benchmarks, so it may only listen on a loopback "
	"address. 0 turns it off."),
    KEY("server", "max_connections", IPKVM_CFG_INT, max_connections, 16, 65536, "1024",
	"connections kept at once; when full, the oldest unauthenticated one is closed to make "
	"room (the open-files limit is raised to fit)",
	"Connections kept at once, 16..65536. When the table is full, the oldest "
	"connection that has not authenticated a request is closed to make room, so a "
	"flood of strangers never keeps a logged-in operator out. ipkvmd raises its "
	"open-files limit to fit (the systemd unit's LimitNOFILE= allows 1024 "
	"connections plus the daemon's own files)."),
    KEY("server", "max_connections_per_address", IPKVM_CFG_INT, max_connections_per_address, 1,
	65536, "64", "connections from one client address (IPv6: one /64) at once",
	"Connections from one client address at once (IPv6: one /64), 1..65536."),
    KEY("server", "max_unauth_per_address", IPKVM_CFG_INT, max_unauth_per_address, 1, 65536, "16",
	"connections from one client address (IPv6: one /64) that have not yet "
	"authenticated a request",
	"Of those, connections that have not yet authenticated a request (a browser on "
	"the login page opens about four), 1..65536. More are closed as soon as they "
	"connect."),
    KEY("server", "request_timeout", IPKVM_CFG_DURATION, request_timeout, 1, 3600, "10s",
	"time a client has to send a request's headers and body before the connection is "
	"closed (uploads by logged-in users excepted), and the idle limit of a connection "
	"that has not authenticated",
	"Time a client has to send a whole request, headers and body (duration, "
	"1s..1h). A connection that has not authenticated is also closed after this "
	"long idle. Uploads by logged-in users are not bound by it."),
    KEY("server", "plain_listen", IPKVM_CFG_ADDRESS, plain_listen, 0, 0, "127.0.0.1",
	"address of the plain-HTTP port; must be a loopback address",
	"Address of the plain-HTTP port: 127.0.0.1, ::1 or another loopback address."),
    KEY("auth", "session_idle", IPKVM_CFG_DURATION, session_idle, 1, YEAR_S, "1h",
	"a session ends after this long without a request",
	"A session ends after this long without a request (duration, 1s..365d)."),
    KEY("auth", "session_lifetime", IPKVM_CFG_DURATION, session_lifetime, 1, YEAR_S, "24h",
	"a session ends this long after login, however busy",
	"A session ends this long after login, however busy it is (duration, 1s..365d)."),
    KEY("auth", "max_sessions", IPKVM_CFG_INT, max_sessions, 1, 100000, "256",
	"sessions kept at once; when full, the least recently used one of the users holding "
	"the most sessions ends",
	"Sessions kept at once, 1..100000. When full, a login ends the least recently "
	"used session of the users holding the most sessions, so one user's logins "
	"never log out someone holding fewer."),
    KEY("auth", "max_sessions_per_user", IPKVM_CFG_INT, max_sessions_per_user, 1, 100000, "16",
	"sessions of one user kept at once; a further login ends that user's least recently "
	"used one",
	"Sessions of one user kept at once, 1..100000. A further login by that user "
	"ends their own least recently used session."),
    KEY("auth", "login_max_failures", IPKVM_CFG_INT, login_max_failures, 1, 1000, "5",
	"consecutive failed logins before back-off starts",
	"Consecutive failed logins (per user name and per client address) before "
	"back-off starts, 1..1000."),
    KEY("auth", "login_backoff_max", IPKVM_CFG_DURATION, login_backoff_max, 1, 86400, "15m",
	"longest wait imposed after repeated failed logins",
	"Longest wait imposed after repeated failed logins: once back-off starts, each "
	"further failure blocks for 1 s, then 2, 4, 8 ... up to this (duration, "
	"1s..1d)."),
    KEY("vnc", "enabled", IPKVM_CFG_INT, vnc_enabled, 0, 1, "0",
	"1 = serve VNC (RFB) clients on [vnc] port",
	"The VNC server: any VNC client (TigerVNC, Remmina, macOS Screen Sharing...) "
	"sees the target's screen and types on it, with the same users and roles as "
	"the web console. 1 turns it on. Clients log in over TLS with the daemon's "
	"certificate (VeNCrypt X509Plain or TLSPlain: an ipkvm user name and "
	"password); see the README."),
    KEY("vnc", "listen", IPKVM_CFG_ADDRESS, vnc_listen, 0, 0, "",
	"IPv4 or IPv6 address the VNC port listens on; empty = every address",
	"Address and port the VNC server listens on, as [server] listen: an IPv4 or "
	"IPv6 address, empty for every address (IPv6 and IPv4)."),
    KEY("vnc", "port", IPKVM_CFG_PORT, vnc_port, 1, 65535, "5900", "VNC port", NULL),
    KEY("vnc", "vncauth_password_file", IPKVM_CFG_PATH, vnc_vncauth_password_file, 0, 0, NULL,
	"file of user:password lines for plain VncAuth (weak: 8 characters, DES); empty = "
	"VncAuth refused",
	"Plain VncAuth, for old clients without TLS: a file of `user:password` lines "
	"(absolute path), each naming an existing ipkvm user whose role the client then "
	"has. VncAuth is weak: only the first 8 characters of a password count, the "
	"challenge is DES, no user name is sent and nothing is encrypted afterwards; use "
	"it only on a network you trust. The file must not be readable by group or "
	"others (chmod 600), or ipkvmd refuses to start. Empty (the default) refuses "
	"VncAuth."),
    CHOICE("vnc", "layout", vnc_layout, WORDS("auto", "us", "uk", "de", "fr", "jp"), "auto",
	   "keyboard layout of the target, for keys VNC clients send as symbols: auto (the "
	   "virtual target's [target] layout, else us), us, uk, de, fr or jp",
	   "The target's keyboard layout, which VNC clients' key symbols (and pasted "
	   "text) are typed for: auto (the virtual target's [target] layout when it runs, "
	   "else us), us, uk, de, fr or jp."),
    KEY("vnc", "max_clients", IPKVM_CFG_INT, vnc_max_clients, 1, 1024, "64",
	"VNC sessions at once (VNC port and /api/vnc/ws together)",
	"VNC sessions at once, on the VNC port and over /api/vnc/ws together, 1..1024. "
	"Of these, at most 8 from one address (IPv6: one /64) may be still logging in."),
    KEY("vnc", "anonymous_tls", IPKVM_CFG_INT, vnc_anonymous_tls, 0, 1, "0",
	"1 = VeNCrypt TLSPlain may use anonymous TLS (weak: a man in the middle reads the "
	"password)",
	"1 lets VNC clients that choose VeNCrypt TLSPlain log in over anonymous TLS (no "
	"certificate), as clients built on libvncclient (Remmina) and TigerVNC's TLSPlain do; "
	"clients that can check the certificate still get it, and X509Plain is never "
	"anonymous. Anonymous TLS protects the password from eavesdroppers but not from an "
	"active man in the middle, who can read it: use X509Plain where the client can. "
	"Each login over anonymous TLS is logged as a warning and audited with "
	"\"tls\": \"anonymous\". 0 (the default) refuses anonymous TLS."),
    KEY("vnc", "novnc_dir", IPKVM_CFG_PATH, vnc_novnc_dir, 0, 0, "/usr/share/novnc",
	"noVNC's files (Debian's novnc package), served to logged-in users at /novnc/ while VNC is "
	"enabled; empty = not served",
	"noVNC's files (Debian's novnc package), served to logged-in users at /novnc/ while VNC "
	"is enabled, so a browser can use VNC over the HTTPS port: "
	"https://HOST:8443/novnc/vnc.html?path=api/vnc/ws&autoconnect=1. Empty serves nothing."),
    CHOICE("video", "source", video_source, WORDS("none", "virtual", "pattern", "v4l2"), "virtual",
	   "where pictures come from: virtual (the built-in virtual target), v4l2 (capture "
	   "device), pattern (synthetic) or none",
	   "Where pictures come from: virtual (the built-in virtual target, see [target]), "
	   "v4l2 (an HDMI capture device), pattern (a synthetic picture for benchmarks and "
	   "tests) or none."),
    KEY("video", "device", IPKVM_CFG_PATH, video_device, 1, 0, "/dev/video0", "V4L2 capture device",
	"The V4L2 capture device."),
    KEY("video", "width", IPKVM_CFG_INT, video_width, 0, 8192, "0",
	"capture width; 0 = automatic (pattern: 1920)",
	"Capture size in pixels. 0 means automatic: for a USB capture dongle, the "
	"largest size that runs at 30 frames per second or more; for an HDMI-to-CSI "
	"bridge, whatever the target sends; for the pattern, 1920x1080."),
    KEY("video", "height", IPKVM_CFG_INT, video_height, 0, 8192, "0",
	"capture height; 0 = automatic (pattern: 1080)", NULL),
    KEY("video", "fps", IPKVM_CFG_INT, video_fps, 0, 240, "0",
	"capture rate; 0 = automatic (V4L2: largest size at 30 fps or more; pattern: 60)",
	"Capture rate in frames per second, 0 to 240. 0 means automatic (the pattern "
	"runs at 60)."),
    CHOICE("video", "format", video_format, WORDS("yuyv", "uyvy", "rgb24", "bgr24"), "yuyv",
	   "pixel format of the pattern source",
	   "Pixel format of the pattern source: yuyv, uyvy, rgb24 or bgr24."),
    CHOICE("video", "scene", video_scene, WORDS("testcard", "desktop", "static"), "testcard",
	   "picture of the pattern source",
	   "Picture of the pattern source: testcard (colour bars, a moving box and a "
	   "clock), desktop (a desktop with text being typed and a moving pointer) or "
	   "static (never changes)."),
    KEY("video", "edid", IPKVM_CFG_STRING, video_edid, 0, 0, NULL,
	"EDID to load into an HDMI receiver: 1080p60, 1080p50 or a hex file; empty = keep",
	"EDID to load into an HDMI receiver chip (TC358743 and alike) when capture "
	"starts: 1080p60, 1080p50 (for capture chips that only lock at 50 Hz), or the "
	"absolute path of a file holding the EDID as hex. Empty keeps the device's own "
	"EDID."),
    KEY("video", "buffers", IPKVM_CFG_INT, video_buffers, 2, 32, "3", "V4L2 capture buffers",
	"Capture buffers shared with the driver, 2 to 32. Each holds one frame (4 MB at "
	"1080p); three are enough, since ipkvm hands each one back within a compare (and a copy "
	"when the picture changed)."),
    KEY("video", "mjpeg", IPKVM_CFG_INT, video_mjpeg, 0, 1, "1",
	"1 = take MJPEG from a device that offers it and pass it through; 0 = raw formats only",
	"1: when the device offers MJPEG, take it and pass the JPEGs through without "
	"re-encoding (missing Huffman tables are added). 0: use raw formats only."),
    KEY("jpeg", "quality", IPKVM_CFG_INT, jpeg_quality, 1, 100, "80",
	"JPEG quality (changeable live from the API)",
	"JPEG quality, 1 to 100. Changeable while running (POST /api/streamer/params)."),
    KEY("jpeg", "max_fps", IPKVM_CFG_INT, jpeg_max_fps, 1, 240, "60",
	"most frames per second encoded (changeable live from the API)",
	"Most frames per second to encode, 1 to 240. Changeable while running. "
	"Unchanged frames are never encoded, whatever this says."),
    KEY("jpeg", "workers", IPKVM_CFG_INT, jpeg_workers, 0, 4, "0",
	"JPEG encoder threads; 0 = one per core, at most 4",
	"JPEG encoder threads, 0 to 4. 0 means one per processor core, at most 4."),
    KEY("jpeg", "strips", IPKVM_CFG_INT, jpeg_strips, 0, 16, "0",
	"horizontal strips a frame is cut into, encoded at once; 0 = one per worker",
	"Horizontal strips each frame is cut into, 0 to 16. The workers encode a frame's strips "
	"at the same time and join them into one JPEG (with restart markers), so a frame is "
	"ready sooner the more cores there are. 0 means one strip per worker (one on a "
	"single-core machine); 1 encodes each frame whole."),
    CHOICE("jpeg", "subsampling", jpeg_subsampling, WORDS("422", "420"), "422",
	   "chroma subsampling of encoded JPEGs: 422 (sharper colour edges) or 420 (smaller)",
	   "Chroma subsampling of the JPEGs: 422 keeps colour edges sharper (and matches "
	   "what capture devices deliver), 420 makes smaller images."),
    CHOICE("jpeg", "encoder", jpeg_encoder, WORDS("auto", "software", "v4l2"), "auto",
	   "JPEG encoder: auto (the board's V4L2 hardware encoder when present, else "
	   "software), software (libturbojpeg) or v4l2 (the hardware one; software while it "
	   "is missing or failing)",
	   "JPEG encoder: auto uses the board's V4L2 hardware JPEG encoder when it opens (a "
	   "Raspberry Pi 4's /dev/video31), else software (libturbojpeg, in the workers); "
	   "software never tries the device; v4l2 wants it and logs an error when it cannot "
	   "have it. With auto and v4l2, a device that is missing or fails while streaming "
	   "leaves the frames to software and is tried again later (after 1 s, doubling up "
	   "to 60 s): the picture never stops. GET /api/streamer says which one encodes. "
	   "subsampling applies to the software encoder; the hardware one keeps its own."),
    KEY("jpeg", "device", IPKVM_CFG_PATH, jpeg_device, 1, 0, "/dev/video31",
	"V4L2 memory-to-memory JPEG encoder (Raspberry Pi: /dev/video31)",
	"The V4L2 memory-to-memory JPEG encoder."),
    CHOICE("h264", "backend", h264_backend, WORDS("none", "auto", "software", "v4l2"), "auto",
	   "H.264 encoder: auto (the V4L2 hardware encoder when present, else openh264), "
	   "software (openh264), v4l2 (hardware only) or none (MJPEG only)",
	   "H.264 to the browser (/api/streamer/h264, decoded with WebCodecs): auto uses the "
	   "V4L2 hardware encoder when the board has one (a Raspberry Pi 4's "
	   "/dev/video11), else openh264; software forces openh264, v4l2 the hardware one; "
	   "none leaves MJPEG only."),
    KEY("h264", "device", IPKVM_CFG_PATH, h264_device, 1, 0, "/dev/video11",
	"V4L2 memory-to-memory H.264 encoder (Raspberry Pi: /dev/video11)",
	"The V4L2 memory-to-memory H.264 encoder."),
    KEY("h264", "bitrate", IPKVM_CFG_INT, h264_bitrate, 100, 50000, "2000",
	"H.264 target bitrate, kbit/s (changeable live)",
	"Target bitrate in kbit/s (100 to 50000), most frames per second (1 to 120), "
	"and frames between keyframes (0: only when a client joins or asks). All "
	"changeable while running."),
    KEY("h264", "fps", IPKVM_CFG_INT, h264_fps, 1, 120, "60",
	"most H.264 frames per second (changeable live)", NULL),
    KEY("h264", "gop", IPKVM_CFG_INT, h264_gop, 0, 600, "0",
	"frames between keyframes; 0 = only when a client joins or asks (changeable live)", NULL),
    CHOICE("hid", "output", hid_output, WORDS("none", "virtual", "gadget", "ch9329"), "virtual",
	   "where keyboard and mouse reports go: virtual (the built-in virtual target), gadget "
	   "(/dev/hidgN of a USB gadget), ch9329 (serial HID bridge) or none",
	   "Where keyboard and mouse reports go: virtual (the built-in virtual target, see "
	   "[target]), gadget (the /dev/hidgN nodes of a USB gadget presenting a keyboard, "
	   "two mice and media keys to the target), ch9329 (a CH9329 serial-to-USB HID "
	   "bridge, for boards without USB device mode) or none."),
    KEY("hid", "serial", IPKVM_CFG_PATH, hid_serial, 1, 0, "/dev/ttyUSB0",
	"serial port of the CH9329 bridge",
	"The CH9329's serial port and baud rate (1200 to 115200; the chip ships at "
	"9600)."),
    KEY("hid", "baud", IPKVM_CFG_INT, hid_baud, 1200, 115200, "9600",
	"baud rate of the CH9329 (its factory setting is 9600)", NULL),
    KEY("hid", "keyboard", IPKVM_CFG_PATH, hid_keyboard, 0, 0, "/dev/hidg0",
	"gadget node of the boot keyboard (LED reports are read from it); empty = none",
	"Gadget nodes, one per HID function; empty means that function is not offered. "
	"LED reports (Caps Lock and the others) are read back from the keyboard node."),
    KEY("hid", "mouse_abs", IPKVM_CFG_PATH, hid_mouse_abs, 0, 0, "/dev/hidg1",
	"gadget node of the absolute mouse; empty = none", NULL),
    KEY("hid", "mouse_rel", IPKVM_CFG_PATH, hid_mouse_rel, 0, 0, "/dev/hidg2",
	"gadget node of the relative mouse; empty = none", NULL),
    KEY("hid", "consumer", IPKVM_CFG_PATH, hid_consumer, 0, 0, "/dev/hidg3",
	"gadget node of the consumer (media) and system (power) keys; empty = none", NULL),
    KEY("hid", "release_after", IPKVM_CFG_DURATION, hid_release_after, 1, 3600, "10s",
	"a browser that holds keys but sends nothing for this long gets them all released",
	"Stuck-key guard: when the browser that holds keys or mouse buttons sends "
	"nothing for this long (a frozen tab, a dead network), every key and button is "
	"released. Closing the page or its connection releases them at once."),
    KEY("hid", "jiggler", IPKVM_CFG_DURATION, hid_jiggler, 0, 86400, "0",
	"move the mouse by one pixel and back after this long without input (keeps the "
	"target awake); 0 = off; changeable live",
	"Jiggler: after this long without any input, move the mouse one pixel and back, "
	"so the target's screen saver and sleep timers stay quiet. 0 turns it off. "
	"Changeable while running (POST /api/hid/jiggler)."),
    CHOICE("atx", "driver", atx_driver, WORDS("auto", "none", "virtual", "gpio"), "auto",
	   "power and reset buttons, power and HDD LEDs: gpio (wired to GPIO lines), virtual (the "
	   "virtual target's), none, or auto (virtual when the virtual target runs, else none)",
	   "The target's front panel (power and reset buttons, power and HDD LEDs): gpio "
	   "(wired to this board's GPIO lines, see docs/hardware.md), virtual (the virtual "
	   "target's lines), none, or auto: virtual when the virtual target runs (as the "
	   "video source or the HID output), else none."),
    KEY("atx", "chip", IPKVM_CFG_STRING, atx_chip, 0, 0, "gpiochip0",
	"gpio: the GPIO chip (name, /dev path, label or number)",
	"gpio: the GPIO chip, as a name (gpiochip0), a /dev path, a label or a number."),
    KEY("atx", "power_button", IPKVM_CFG_STRING, atx_power_button, 0, 0, "23",
	"gpio: power button output, a line offset or name; empty = not wired",
	"gpio: the lines, each a line offset on the chip or a line name; empty means "
	"not wired. The defaults are the Raspberry Pi header pins GPIO23 (power "
	"button), GPIO27 (reset button), GPIO24 (power LED) and GPIO22 (HDD LED). "
	"Without the power LED, \"on\" and \"off\" cannot know the machine's state and "
	"are refused; the raw clicks still work."),
    KEY("atx", "reset_button", IPKVM_CFG_STRING, atx_reset_button, 0, 0, "27",
	"gpio: reset button output, a line offset or name; empty = not wired", NULL),
    KEY("atx", "power_led", IPKVM_CFG_STRING, atx_power_led, 0, 0, "24",
	"gpio: power LED input, a line offset or name; empty = not wired", NULL),
    KEY("atx", "hdd_led", IPKVM_CFG_STRING, atx_hdd_led, 0, 0, "22",
	"gpio: HDD LED input, a line offset or name; empty = not wired", NULL),
    KEY("atx", "buttons_active_low", IPKVM_CFG_INT, atx_buttons_active_low, 0, 1, "0",
	"gpio: 1 = the button outputs are active low",
	"gpio: 1 where a line is active low (an optocoupler input that reads low while "
	"the LED is lit, a transistor stage that presses on low)."),
    KEY("atx", "power_led_active_low", IPKVM_CFG_INT, atx_power_led_active_low, 0, 1, "0",
	"gpio: 1 = the power LED input reads low while the LED is lit", NULL),
    KEY("atx", "hdd_led_active_low", IPKVM_CFG_INT, atx_hdd_led_active_low, 0, 1, "0",
	"gpio: 1 = the HDD LED input reads low while the LED is lit", NULL),
    KEY("atx", "wol_mac", IPKVM_CFG_STRING, atx_wol_mac, 0, 0, NULL,
	"Wake-on-LAN: the target's MAC address (aa:bb:cc:dd:ee:ff); empty = off",
	"Wake-on-LAN (POST /api/wol): the target's MAC address (empty turns it off), "
	"and where the magic packet goes (an IPv4 broadcast address and UDP port)."),
    KEY("atx", "wol_address", IPKVM_CFG_STRING, atx_wol_address, 0, 0, "255.255.255.255",
	"Wake-on-LAN: IPv4 address the magic packet goes to (a broadcast address)", NULL),
    KEY("atx", "wol_port", IPKVM_CFG_PORT, atx_wol_port, 1, 65535, "9",
	"Wake-on-LAN: UDP port of the magic packet", NULL),
    KEY("atx", "click_ms", IPKVM_CFG_INT, atx_click_ms, 1, 10000, "200",
	"how long a button press lasts, ms",
	"How long a button press lasts, in milliseconds (1 to 10000)."),
    KEY("atx", "long_click_ms", IPKVM_CFG_INT, atx_long_click_ms, 5001, 60000, "5500",
	"how long the power button is held to force the machine off, ms (boards need > 5 s)",
	"How long the power button is held to force the machine off, in milliseconds "
	"(5001 to 60000: ATX boards cut power after a 4 to 5 second press)."),
    KEY("msd", "dir", IPKVM_CFG_PATH, msd_dir, 0, 0, NULL,
	"directory of the image store; empty = images/ in the state directory",
	"Virtual media: the directory of the image store (uploaded and downloaded disk "
	"and CD images). Empty means images/ in the state directory."),
    CHOICE("msd", "drives", msd_drives, WORDS("auto", "none", "gadget", "virtual"), "auto",
	   "what images are attached to: gadget (the USB gadget's mass-storage LUNs), virtual "
	   "(the virtual target's drives), none, or auto (gadget with [usb] setup = 1 and "
	   "luns > 0, else virtual when the virtual target runs, else none)",
	   "What images are attached to: gadget (the USB gadget's mass-storage LUNs, seen "
	   "by the target as USB drives), virtual (the virtual target's drives), none, or "
	   "auto: gadget when [usb] setup = 1 and [usb] luns is not 0, else virtual when the "
	   "virtual target runs, else none (images can then only be kept)."),
    KEY("msd", "max_download", IPKVM_CFG_INT, msd_max_download_gib, 1, 1024, "64",
	"largest image POST /api/msd/fetch downloads, GiB",
	"The largest image POST /api/msd/fetch downloads, in GiB (1 to 1024)."),
    KEY("msd", "max_size", IPKVM_CFG_SIZE, msd_max_size, 0, 0, "0",
	"the image store's quota: bytes its images and the uploads and downloads in progress "
	"may take together (K, M, G, T suffixes); 0 = only the disk's free space limits it",
	"The image store's quota: the bytes its images and the uploads and downloads in "
	"progress may take together (an upload or a download announces its size and has "
	"it reserved up front), so the store cannot fill the SD card. A number of bytes "
	"or one with K, M, G or T (powers of 1024), e.g. 32G. 0 means no quota: only "
	"the disk's free space limits the store."),
    KEY("msd", "fetch_allow_private", IPKVM_CFG_INT, msd_fetch_allow_private, 0, 1, "0",
	"1 = POST /api/msd/fetch may download from loopback, link-local, private (RFC 1918, "
	"ULA, CGNAT) and this machine's own addresses, e.g. a mirror on the home network",
	"1 lets POST /api/msd/fetch download from this machine's own network: loopback, "
	"link-local (169.254.0.0/16, fe80::/10), private (10/8, 172.16/12, 192.168/16, "
	"fc00::/7), CGNAT (100.64/10), multicast and the addresses of this machine's "
	"interfaces, e.g. a mirror on the home network. 0 refuses every such address, "
	"checked after the name is resolved and again for each redirect, so a URL "
	"cannot make the device probe its own network."),
    KEY("usb", "setup", IPKVM_CFG_INT, usb_setup, 0, 1, "0",
	"1 = create and bind the USB gadget when ipkvmd starts (as `ipkvmd gadget up`)",
	"The USB gadget through which this board is the target's keyboard, mice and "
	"drives (Linux configfs; a Raspberry Pi 4 needs dtoverlay=dwc2 and the dwc2 "
	"module, see docs/hardware.md). 1 creates and binds it when ipkvmd starts, as "
	"`ipkvmd gadget up` does (both need root); 0 leaves that to you."),
    KEY("usb", "configfs", IPKVM_CFG_PATH, usb_configfs, 1, 0, "/sys/kernel/config",
	"where configfs is mounted",
	"Where configfs is mounted, and the list of USB device controllers."),
    KEY("usb", "udc_dir", IPKVM_CFG_PATH, usb_udc_dir, 1, 0, "/sys/class/udc",
	"the list of USB device controllers", NULL),
    KEY("usb", "name", IPKVM_CFG_STRING, usb_name, 0, 0, "ipkvm",
	"the gadget's directory name under usb_gadget/",
	"The gadget's directory name, and the controller to bind to (empty: the first "
	"one)."),
    KEY("usb", "udc", IPKVM_CFG_STRING, usb_udc, 0, 0, NULL,
	"the USB device controller to bind to; empty = the first one", NULL),
    KEY("usb", "manufacturer", IPKVM_CFG_STRING, usb_manufacturer, 0, 0, "ipkvm",
	"USB manufacturer string the target sees",
	"What the target sees: manufacturer and product strings, and the serial number "
	"(empty: derived from /etc/machine-id, stable for this board without revealing "
	"the id)."),
    KEY("usb", "product", IPKVM_CFG_STRING, usb_product, 0, 0, "ipkvm composite device",
	"USB product string the target sees", NULL),
    KEY("usb", "serial", IPKVM_CFG_STRING, usb_serial, 0, 0, NULL,
	"USB serial number; empty = derived from /etc/machine-id (stable, not revealing it)", NULL),
    KEY("usb", "luns", IPKVM_CFG_INT, usb_luns, 0, 8, "2",
	"mass-storage drives (LUNs) the gadget offers; 0 = none",
	"Mass-storage drives (LUNs) offered, 0 to 8; 0 offers none."),
    KEY("usb", "remote_wakeup", IPKVM_CFG_INT, usb_remote_wakeup, 0, 1, "1",
	"1 = the keyboard may wake a sleeping target (when its controller allows)",
	"1: the keyboard may wake a sleeping target (when its USB controller allows "
	"it)."),
    KEY("usb", "max_power", IPKVM_CFG_INT, usb_max_power, 0, 500, "100",
	"current the gadget says it draws from the target, mA",
	"The current the gadget says it draws from the target, in mA."),
    CHOICE("target", "layout", target_layout, WORDS("us", "jp"), "us",
	   "keyboard layout of the virtual target (what its OS makes of the keys)",
	   "Its keyboard layout (what its OS makes of the key presses): us or jp."),
    KEY("target", "width", IPKVM_CFG_INT, target_width, 640, 4096, "1920",
	"the virtual target's screen width once booted (its firmware runs at 1024x768)",
	"Its screen once booted, in pixels (640x480 to 4096x2160); the firmware runs at "
	"1024x768."),
    KEY("target", "height", IPKVM_CFG_INT, target_height, 480, 2160, "1080",
	"the virtual target's screen height once booted", NULL),
    KEY("target", "fps", IPKVM_CFG_INT, target_fps, 1, 240, "60",
	"the virtual target's refresh rate: it sends at most this many frames a second",
	"Its refresh rate: it sends a new frame when the picture changed, at most this "
	"often."),
    CHOICE("target", "format", target_format, WORDS("yuyv", "uyvy", "rgb24", "bgr24"), "yuyv",
	   "pixel format of the virtual target's frames (what a capture card would give)",
	   "Pixel format of its frames, as a capture card would deliver them: yuyv, uyvy, "
	   "rgb24 or bgr24."),
    KEY("target", "autoboot", IPKVM_CFG_DURATION, target_autoboot, 0, 600, "3s",
	"the virtual firmware's countdown before it boots the internal disk; 0 = wait",
	"The firmware's countdown before it boots the internal disk (any key stops it); "
	"0 waits for a choice."),
    KEY("target", "media", IPKVM_CFG_STRING, target_media, 0, 0, NULL,
	"image files attached to the virtual target as drives, comma-separated absolute paths "
	"(its boot menu lists them with their ISO 9660 labels)",
	"Image files attached as drives, comma-separated absolute paths. Its boot menu "
	"lists each with its ISO 9660 volume label; choosing one boots it."),
    KEY("log", "level", IPKVM_CFG_LOGLEVEL, log_level, 0, 0, "info", "error, warn, info or debug",
	"Messages logged: error, warn, info or debug (each includes the ones before "
	"it)."),
    {.name = NULL},
};

#define NKEYS (IPKVM_ARRAY_SIZE(ipkvm_config_keys) - 1)

/* Room for one "what is wrong" message; values are bounded by inih's line length. */
#define MSG_MAX 512

/* State of one ipkvm_config_load(). */
struct load_ctx {
	struct ipkvm_config *cfg;
	FILE *f;
	int line;	  /* lines handed to inih so far = the line inih is working on */
	bool indented;	  /* that line starts with white space */
	int section_line; /* line of the last [section] header */
	int err_line;	  /* line of the first error we found; 0 = none yet */
	int rc;		  /* -EINVAL or -ENOMEM once err_line is set */
	int read_errno;	  /* errno of a failed read, 0 = none */
	size_t last_key;  /* index of the key handled last, NKEYS = none */
	int seen[NKEYS];  /* line where each key was set in this file, 0 = not yet */
	char msg[MSG_MAX];
};

/* A parsed value before it is stored: strings are malloc'd (or NULL). */
union value {
	long num;
	int64_t size; /* IPKVM_CFG_SIZE: long is 32 bits on armhf */
	char *str;
	enum ipkvm_log_level level;
	int choice; /* IPKVM_CFG_CHOICE: the index of the word */
};

static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));

/* snprintf that tolerates a NULL or empty buffer (err is optional for callers). */
static void fmt(char *buf, size_t len, const char *f, ...)
{
	if (!buf || len == 0)
		return;
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
}

static bool is_string_type(enum ipkvm_config_type t)
{
	return t == IPKVM_CFG_STRING || t == IPKVM_CFG_ADDRESS || t == IPKVM_CFG_PATH;
}

static const struct ipkvm_config_key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(ipkvm_config_keys[i].section, section) == 0 &&
		    strcmp(ipkvm_config_keys[i].name, name) == 0)
			return &ipkvm_config_keys[i];
	}
	return NULL;
}

static bool section_exists(const char *section)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(ipkvm_config_keys[i].section, section) == 0)
			return true;
	}
	return false;
}

/* Edit distance counting a swap of neighbours as one edit ("prot" is one edit from "port"),
 * for "did you mean" hints. Names of 32 bytes or more are never close to ours, so they get
 * a large distance instead of bigger buffers. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[32][32];
	if (la >= IPKVM_ARRAY_SIZE(d) || lb >= IPKVM_ARRAY_SIZE(d))
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* A typo is at most two edits and less than half the word ("ab" is not a typo of "port"). */
static bool is_near(const char *typed, const char *known)
{
	size_t d = edit_distance(typed, known);
	return d <= 2 && d * 2 < strlen(known);
}

/* "unknown section ..." with a hint: the nearest section, or the list of all of them. */
static void unknown_section_msg(const char *section, char *msg, size_t len)
{
	const char *seen[NKEYS];
	size_t n = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		const char *s = ipkvm_config_keys[i].section;
		bool dup = false;
		for (size_t j = 0; j < n; j++)
			dup = dup || strcmp(seen[j], s) == 0;
		if (!dup)
			seen[n++] = s;
	}
	for (size_t j = 0; j < n; j++) {
		if (is_near(section, seen[j])) {
			fmt(msg, len, "unknown section (did you mean [%s]?)", seen[j]);
			return;
		}
	}
	/* "the sections are a, b and c" */
	size_t off = 0;
	fmt(msg, len, "unknown section (the sections are ");
	for (size_t j = 0; j < n; j++) {
		off = strlen(msg);
		const char *sep = j == 0 ? "" : (j + 1 == n ? " and " : ", ");
		fmt(msg + off, len - off, "%s%s", sep, seen[j]);
	}
	off = strlen(msg);
	fmt(msg + off, len - off, ")");
}

/* "unknown key" plus, when we can tell, what was probably meant. The value is never echoed:
 * an unknown key may well be someone's "password = ...". */
static void unknown_key_msg(const char *section, const char *name, char *msg, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct ipkvm_config_key *k = &ipkvm_config_keys[i];
		if (strcmp(k->section, section) == 0 && is_near(name, k->name)) {
			fmt(msg, len, "unknown key (did you mean %s?)", k->name);
			return;
		}
	}
	for (size_t i = 0; i < NKEYS; i++) {
		const struct ipkvm_config_key *k = &ipkvm_config_keys[i];
		if (strcmp(k->name, name) == 0) {
			fmt(msg, len, "unknown key (%s belongs in [%s])", name, k->section);
			return;
		}
	}
	fmt(msg, len, "unknown key");
}

/* Decimal integer with an optional sign and no surrounding white space. Returns 0 with *rest
 * at the first unparsed character, -EINVAL when there are no digits, -ERANGE on overflow
 * (*rest is still set). */
static int parse_long(const char *s, long *out, const char **rest)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	char *end;
	errno = 0;
	*out = strtol(s, &end, 10);
	*rest = end;
	return errno == ERANGE ? -ERANGE : 0;
}

static int parse_int(const struct ipkvm_config_key *k, const char *s, long *out, char *msg,
		     size_t len)
{
	const char *rest = s;
	if (*s == '\0') {
		fmt(msg, len, "empty value (expected an integer in %ld..%ld)", k->min, k->max);
		return -EINVAL;
	}
	int r = parse_long(s, out, &rest);
	if (r == -EINVAL || *rest != '\0') {
		fmt(msg, len, "\"%s\" is not an integer (expected %ld..%ld)", s, k->min, k->max);
		return -EINVAL;
	}
	if (r == -ERANGE || *out < k->min || *out > k->max) {
		fmt(msg, len, "%s is out of range (expected %ld..%ld)", s, k->min, k->max);
		return -EINVAL;
	}
	return 0;
}

static int parse_duration(const struct ipkvm_config_key *k, const char *s, long *out, char *msg,
			  size_t len)
{
	const char *rest = s;
	long n, mult = 1;
	if (*s == '\0') {
		fmt(msg, len, "empty value (expected a duration in %ld..%ld seconds)", k->min,
		    k->max);
		return -EINVAL;
	}
	int r = parse_long(s, &n, &rest);
	if (r == -EINVAL) {
		fmt(msg, len, "\"%s\" is not a duration (examples: 90, 90s, 15m, 12h, 7d)", s);
		return -EINVAL;
	}
	if (*rest != '\0') {
		static const char units[] = "smhd";
		static const long mults[] = {1, 60, 3600, 86400};
		const char *u = rest[1] == '\0' ? strchr(units, rest[0]) : NULL;
		if (u) {
			mult = mults[u - units];
		} else {
			/* "5w" is a unit we do not know; "1.5h" or "15 m" is not a duration. */
			bool letters = true;
			for (const char *p = rest; *p; p++)
				letters = letters && isalpha((unsigned char)*p);
			if (letters)
				fmt(msg, len, "\"%s\" has an unknown unit (use s, m, h or d)", s);
			else
				fmt(msg, len,
				    "\"%s\" is not a duration (examples: 90, 90s, 15m, 12h, 7d)",
				    s);
			return -EINVAL;
		}
	}
	/* Check before multiplying so "99999999999d" cannot overflow. */
	if (r == -ERANGE || n < k->min || n > k->max / mult) {
		fmt(msg, len, "%s is out of range (expected %ld..%ld seconds)", s, k->min, k->max);
		return -EINVAL;
	}
	*out = n * mult;
	return 0;
}

/* Largest size value: 1 EiB, far over any disk, and small enough that the store's sums of
 * sizes cannot overflow int64_t. */
#define SIZE_MAX_BYTES (INT64_C(1) << 60)

/* A byte count: digits, optionally one of K, M, G, T (either case; powers of 1024). */
static int parse_size(const char *s, int64_t *out, char *msg, size_t len)
{
	static const char units[] = "kmgt";
	const char *p = s;
	uint64_t n = 0;
	int shift = 0;
	if (*s == '\0') {
		fmt(msg, len, "empty value (expected a size such as 0, 1048576, 512M or 64G)");
		return -EINVAL;
	}
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > (uint64_t)SIZE_MAX_BYTES)
			goto range;
	}
	if (p == s)
		goto bad;
	if (*p) {
		const char *u = strchr(units, tolower((unsigned char)*p));
		if (!u || p[1] != '\0')
			goto bad;
		shift = 10 * (int)(u - units + 1);
	}
	/* Checked before shifting, so "99999999999T" cannot overflow. */
	if (n > ((uint64_t)SIZE_MAX_BYTES >> shift))
		goto range;
	*out = (int64_t)(n << shift);
	return 0;
bad:
	fmt(msg, len,
	    "\"%s\" is not a size (examples: 0, 1048576, 512M, 64G; K M G T are powers "
	    "of 1024)",
	    s);
	return -EINVAL;
range:
	fmt(msg, len, "%s is out of range (at most 1073741824G)", s);
	return -EINVAL;
}

/* Parses text for key k into *out. On error returns -EINVAL (or -ENOMEM) and puts what is
 * wrong into msg, without the "[section] key: " prefix. */
static int parse_value(const struct ipkvm_config_key *k, const char *s, union value *out, char *msg,
		       size_t len)
{
	switch (k->type) {
	case IPKVM_CFG_PORT:
	case IPKVM_CFG_INT:
		return parse_int(k, s, &out->num, msg, len);
	case IPKVM_CFG_DURATION:
		return parse_duration(k, s, &out->num, msg, len);
	case IPKVM_CFG_SIZE:
		return parse_size(s, &out->size, msg, len);
	case IPKVM_CFG_LOGLEVEL:
		if (*s == '\0') {
			fmt(msg, len, "empty value (use error, warn, info or debug)");
			return -EINVAL;
		}
		if (ipkvm_log_level_parse(s, &out->level) < 0) {
			fmt(msg, len, "\"%s\" is not a log level (use error, warn, info or debug)",
			    s);
			return -EINVAL;
		}
		return 0;
	case IPKVM_CFG_ADDRESS:
		/* "" means every address, so it stays "" rather than NULL. */
		if (*s != '\0') {
			unsigned char buf[sizeof(struct in6_addr)];
			if (inet_pton(AF_INET, s, buf) != 1 && inet_pton(AF_INET6, s, buf) != 1) {
				fmt(msg, len,
				    "\"%s\" is not an IPv4 or IPv6 address (host names are not "
				    "accepted)",
				    s);
				return -EINVAL;
			}
		}
		break;
	case IPKVM_CFG_PATH:
		if (*s == '\0' && k->min > 0) {
			fmt(msg, len, "empty value (an absolute path is required)");
			return -EINVAL;
		}
		if (*s != '\0' && *s != '/') {
			fmt(msg, len, "\"%s\" is not an absolute path", s);
			return -EINVAL;
		}
		break;
	case IPKVM_CFG_STRING:
		break;
	case IPKVM_CFG_CHOICE: {
		for (int i = 0; k->names[i]; i++) {
			if (strcmp(k->names[i], s) == 0) {
				out->choice = i;
				return 0;
			}
		}
		char list[160] = "";
		for (int i = 0; k->names[i]; i++) {
			size_t o = strlen(list);
			snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", k->names[i]);
		}
		fmt(msg, len, "\"%s\" is not one of: %s", s, list);
		return -EINVAL;
	}
	default:
		fmt(msg, len, "key has an unknown type %d", (int)k->type);
		return -EINVAL;
	}
	/* String types: empty means unset (NULL), except ADDRESS where "" is a value. */
	out->str = NULL;
	if (*s == '\0' && k->type != IPKVM_CFG_ADDRESS)
		return 0;
	out->str = strdup(s);
	if (!out->str) {
		fmt(msg, len, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* Moves a parsed value into its field; a replaced string is freed. */
static void store_value(struct ipkvm_config *cfg, const struct ipkvm_config_key *k, union value *v)
{
	void *field = (char *)cfg + k->offset;
	if (is_string_type(k->type)) {
		char **p = field;
		free(*p);
		*p = v->str;
		v->str = NULL;
	} else if (k->type == IPKVM_CFG_LOGLEVEL) {
		*(enum ipkvm_log_level *)field = v->level;
	} else if (k->type == IPKVM_CFG_SIZE) {
		*(int64_t *)field = v->size;
	} else if (k->type == IPKVM_CFG_CHOICE) {
		/* Every choice field is an enum of small non-negative values (config.h). */
		*(int *)field = v->choice;
	} else {
		/* Ranges in the table keep every number within int. */
		*(int *)field = (int)v->num;
	}
}

/* The "auto" rules that depend on the config alone (config.h says them): the one place both
 * the daemon and /api/info read them from. */
static void resolve(struct ipkvm_config *cfg)
{
	struct ipkvm_config_resolved *r = &cfg->resolved;
	r->target = cfg->video_source == IPKVM_VIDEO_SRC_VIRTUAL ||
		    cfg->hid_output == IPKVM_HID_OUTPUT_VIRTUAL ||
		    cfg->atx_driver == IPKVM_ATX_DRIVER_VIRTUAL;
	r->atx = cfg->atx_driver;
	if (r->atx == IPKVM_ATX_DRIVER_AUTO)
		r->atx = r->target ? IPKVM_ATX_DRIVER_VIRTUAL : IPKVM_ATX_DRIVER_NONE;
	r->msd = cfg->msd_drives;
	if (r->msd == IPKVM_MSD_DRIVES_AUTO)
		r->msd = cfg->usb_setup && cfg->usb_luns > 0 ? IPKVM_MSD_DRIVES_GADGET
			 : r->target			     ? IPKVM_MSD_DRIVES_VIRTUAL
							     : IPKVM_MSD_DRIVES_NONE;
}

const char *ipkvm_config_choice_name(const char *section, const char *name, int value)
{
	const struct ipkvm_config_key *k = find_key(section, name);
	if (!k || k->type != IPKVM_CFG_CHOICE || value < 0)
		return NULL;
	for (int i = 0; k->names[i]; i++) {
		if (i == value)
			return k->names[i];
	}
	return NULL;
}

/* Looks the key up, parses and stores it. msg gets "[section] key: what is wrong". */
static int set_key(struct ipkvm_config *cfg, const char *section, const char *name,
		   const char *value, char *msg, size_t len)
{
	char what[MSG_MAX];
	union value v = {0};
	int r = -EINVAL;
	const struct ipkvm_config_key *k = find_key(section, name);
	if (!k) {
		if (section_exists(section))
			unknown_key_msg(section, name, what, sizeof(what));
		else
			unknown_section_msg(section, what, sizeof(what));
		goto out;
	}
	if (!value) {
		fmt(what, sizeof(what), "missing value");
		goto out;
	}
	r = parse_value(k, value, &v, what, sizeof(what));
	if (r == 0) {
		store_value(cfg, k, &v);
		resolve(cfg);
	}
out:
	if (r < 0)
		fmt(msg, len, "[%s] %s: %s", section, name, what);
	return r;
}

void ipkvm_config_init(struct ipkvm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		const struct ipkvm_config_key *k = &ipkvm_config_keys[i];
		char msg[MSG_MAX];
		/* A NULL default leaves the zeroed field: NULL string or 0. */
		if (!k->def)
			continue;
		if (set_key(cfg, k->section, k->name, k->def, msg, sizeof(msg)) < 0) {
			/* Only a broken table or an allocation failure at start-up gets here;
			 * neither leaves anything sensible to run with. */
			LOG_ERROR("default for %s", msg);
			abort();
		}
	}
}

void ipkvm_config_free(struct ipkvm_config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct ipkvm_config_key *k = &ipkvm_config_keys[i];
		if (is_string_type(k->type)) {
			char **p = (char **)((char *)cfg + k->offset);
			free(*p);
			*p = NULL;
		}
	}
}

int ipkvm_config_set(struct ipkvm_config *cfg, const char *section, const char *name,
		     const char *value, char *err, size_t errlen)
{
	return set_key(cfg, section, name, value, err, errlen);
}

/* Records the first error of a load; later ones are ignored (first error wins). */
static int load_fail(struct load_ctx *ctx, int rc)
{
	if (ctx->err_line == 0) {
		ctx->err_line = ctx->line;
		ctx->rc = rc;
	}
	return 0;
}

/* fgets-style reader for inih; see the top of the file for why we count lines here. */
static char *load_read(char *buf, int size, void *stream)
{
	struct load_ctx *ctx = stream;
	if (ctx->err_line)
		return NULL; /* stop at the first error */
	errno = 0;
	if (!fgets(buf, size, ctx->f)) {
		if (ferror(ctx->f))
			ctx->read_errno = errno ? errno : EIO;
		return NULL;
	}
	ctx->line++;
	size_t n = strlen(buf);
	if (size > 2 && n == (size_t)size - 1 && buf[n - 1] != '\n') {
		int c = getc(ctx->f);
		/* A full buffer right at the end of the file is a whole last line. */
		if (c != EOF) {
			fmt(ctx->msg, sizeof(ctx->msg), "line too long (at most %d characters)",
			    size - 2);
			load_fail(ctx, -EINVAL);
			return NULL;
		}
	}
	ctx->indented = buf[0] == ' ' || buf[0] == '\t';
	const char *p = buf + strspn(buf, " \t");
	if (*p == '[')
		ctx->section_line = ctx->line;
	return buf;
}

static int load_handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	const struct ipkvm_config_key *k = find_key(section, name);
	size_t idx = k ? (size_t)(k - ipkvm_config_keys) : NKEYS;

	if (ctx->err_line)
		return 0;
	if (*name == '\0') {
		fmt(ctx->msg, sizeof(ctx->msg), "syntax error (missing key name before '=')");
		return load_fail(ctx, -EINVAL);
	}
	if (*section == '\0') {
		/* No key lives outside a section, so k is NULL; look for the name anywhere. */
		for (size_t i = 0; !k && i < NKEYS; i++) {
			if (strcmp(ipkvm_config_keys[i].name, name) == 0)
				k = &ipkvm_config_keys[i];
		}
		if (k)
			fmt(ctx->msg, sizeof(ctx->msg),
			    "%s: key before any [section] header (%s belongs in [%s])", name, name,
			    k->section);
		else
			fmt(ctx->msg, sizeof(ctx->msg), "%s: key before any [section] header",
			    name);
		return load_fail(ctx, -EINVAL);
	}
#if INI_ALLOW_MULTILINE
	/* inih reads an indented line after a key as more of that key's value (Python
	 * configparser style) and calls us again with the previous name. Nobody means that in
	 * this file; they indented a key. Say so instead of "duplicate key". */
	if (k && ctx->indented && idx == ctx->last_key) {
		fmt(ctx->msg, sizeof(ctx->msg),
		    "indented line would continue [%s] %s from line %d; remove the indentation",
		    section, name, ctx->seen[idx]);
		return load_fail(ctx, -EINVAL);
	}
#endif
	if (k && ctx->seen[idx]) {
		fmt(ctx->msg, sizeof(ctx->msg), "[%s] %s: duplicate key (first set on line %d)",
		    section, name, ctx->seen[idx]);
		return load_fail(ctx, -EINVAL);
	}
	int r = set_key(ctx->cfg, section, name, value, ctx->msg, sizeof(ctx->msg));
	if (r < 0) {
		bool known = false;
		for (size_t i = 0; i < NKEYS && !known; i++)
			known = strcmp(ipkvm_config_keys[i].section, section) == 0;
		/* An unknown section is the header's fault, not its first key's. */
		if (!known && ctx->section_line && ctx->err_line == 0) {
			ctx->err_line = ctx->section_line;
			ctx->rc = r;
			return 0;
		}
		return load_fail(ctx, r);
	}
	ctx->seen[idx] = ctx->line;
	ctx->last_key = idx;
	return 1;
}

/* Reads the INI text of f over cfg; name is the path err names. Both the file loader and
 * ipkvm_config_load_buffer() (the config fuzzer's entry) come through here. */
static int load_stream(struct ipkvm_config *cfg, FILE *f, const char *path, char *err,
		       size_t errlen)
{
	int r;
	/* On the heap: seen[] and msg make it too big to want on the stack. */
	struct load_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		fmt(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	ctx->cfg = cfg;
	ctx->f = f;
	ctx->last_key = NKEYS;

	int bad = ini_parse_stream(load_read, ctx, load_handler, ctx);
	if (bad > 0 && (ctx->err_line == 0 || bad < ctx->err_line)) {
		/* inih rejected the line itself (no '=', no ']') before we saw any error. */
		r = -EINVAL;
		fmt(err, errlen, "%s:%d: syntax error", path, bad);
	} else if (ctx->err_line) {
		r = ctx->rc;
		fmt(err, errlen, "%s:%d: %s", path, ctx->err_line, ctx->msg);
	} else if (ctx->read_errno) {
		r = -ctx->read_errno;
		fmt(err, errlen, "%s: read error: %s", path, strerror(ctx->read_errno));
	} else if (bad < 0) {
		/* Only -2 (allocation) is possible from ini_parse_stream. */
		r = -ENOMEM;
		fmt(err, errlen, "%s: out of memory", path);
	} else if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		/* Checked on the result, so a key set by an earlier file also counts. */
		r = -EINVAL;
		fmt(err, errlen, "%s: [server] tls_cert and tls_key must be set together", path);
	} else {
		r = 0;
		LOG_DEBUG("loaded %s", path);
	}
	free(ctx);
	return r;
}

int ipkvm_config_load(struct ipkvm_config *cfg, const char *path, char *err, size_t errlen)
{
	struct stat st;
	int r;
	FILE *f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (r == -ENOENT)
			fmt(err, errlen, "%s: no such file", path);
		else
			fmt(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	/* fopen() happily opens a directory; reading it would then fail with EISDIR. */
	if (fstat(fileno(f), &st) < 0)
		r = -errno;
	else
		r = S_ISDIR(st.st_mode) ? -EISDIR : 0;
	if (r < 0)
		fmt(err, errlen, "%s: cannot open: %s", path, strerror(-r));
	else
		r = load_stream(cfg, f, path, err, errlen);
	fclose(f);
	return r;
}

int ipkvm_config_load_buffer(struct ipkvm_config *cfg, const char *text, size_t len,
			     const char *name, char *err, size_t errlen)
{
	/* fmemopen() refuses a zero-length buffer; /dev/null is the same empty stream. */
	FILE *f = len ? fmemopen((void *)text, len, "r") : fopen("/dev/null", "re");
	if (!f) {
		int r = -errno;
		fmt(err, errlen, "%s: cannot open: %s", name, strerror(-r));
		return r;
	}
	int r = load_stream(cfg, f, name, err, errlen);
	fclose(f);
	return r;
}
