#!/usr/bin/env bash
# Runs every benchmark against the given (release) build directory; each prints its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
echo "== bench/http_bench (foundation: TLS, auth, event loop)"
"$dir/bench/http_bench" "$dir/ipkvmd"
echo
echo "== bench/jpeg_bench (1080p JPEG encode, conversion, change detection)"
"$dir/bench/jpeg_bench"
echo
echo "== bench/rfb_enc_bench (VNC: 1080p Raw and ZRLE rectangles, changed tiles)"
"$dir/bench/rfb_enc_bench"
echo
echo "== bench/video_bench (1080p60 pipeline to N clients)"
"$dir/bench/video_bench" "$dir/ipkvmd"
echo
echo "== bench/quality_bench (extra JPEG qualities for VNC clients: encodes and CPU a frame)"
"$dir/bench/quality_bench"
"$dir/bench/quality_bench" --fps 20
echo
echo "== bench/vs_ustreamer (Debian's ustreamer vs ipkvmd on one fake V4L2 device, side by side)"
missing=0
if [ -x /usr/bin/ustreamer ]; then
	"$dir/bench/vs_ustreamer" "$dir"
else
	echo "not run: it needs Debian's ustreamer package (scripts/deps.sh --test installs it)" >&2
	missing=1
fi
echo
echo "== bench/screen_bench (the virtual target's screen: full 1080p render)"
"$dir/bench/screen_bench"
echo
echo "== bench/target_bench.py (key -> virtual target -> picture, end to end)"
python3 bench/target_bench.py "$dir/ipkvmd"
echo
echo "== bench/hid_bench.py (keyboard input latency, paste accuracy)"
python3 bench/hid_bench.py "$dir/ipkvmd"
echo
echo "== bench/vnc_bench (32 VNC clients, libvncclient Tight JPEG, and 32 MJPEG clients on the typing scene)"
"$dir/bench/vnc_bench" "$dir/ipkvmd"
echo
echo "== bench/vnc_keys.py (key -> pixel on the virtual target: VNC vs the web console)"
python3 bench/vnc_keys.py "$dir/ipkvmd"
echo
echo "== bench/load.py (operator latency under 200 MJPEG viewers and 200 slow-body attackers)"
python3 bench/load.py "$dir/ipkvmd"
echo
echo "== bench/console_start.mjs (the web console: page built, first picture; en/ja, 0/40 ms RTT)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	echo "not run: it needs node, npm and chromium (scripts/deps.sh --test installs them)" >&2
	exit 1
fi
bash tests/e2e/npm-install.sh
node bench/console_start.mjs "$dir/ipkvmd" web
echo
echo "== bench/h264_glass.mjs (H.264 capture -> decoded in Chromium with WebCodecs, typing and 60 fps scenes)"
node bench/h264_glass.mjs "$dir/ipkvmd" web
exit "$missing"
