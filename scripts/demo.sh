#!/usr/bin/env bash
# Runs ipkvmd on the demo configuration, with its state under the build directory, and says
# where to point a browser and how to log in. Ctrl+C stops it.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
state="$PWD/$build/demo-state"
port=$(sed -n 's/^port *= *\([0-9]*\).*/\1/p' data/demo.ini | head -n1)
port=${port:-8443}
mkdir -p "$state/media"

# The virtual target gets a small ISO image attached, so its boot menu has a medium to boot.
iso="$state/media/ipkvm-demo-live.iso"
[ -f "$iso" ] || python3 scripts/mkiso.py "IPKVM DEMO LIVE" "$iso" || exit 1
config="$state/demo.ini"
{ cat data/demo.ini; printf '\n[target]\nmedia = %s\n' "$iso"; } >"$config"

"$build/ipkvmd" --config "$config" --state-dir "$state" --web-root "$PWD/web" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' INT TERM
# Wait until it serves (it makes the admin and the certificate on its first start).
for _ in $(seq 1 100); do
	kill -0 "$pid" 2>/dev/null || { wait "$pid"; echo "ipkvmd did not start (see above)" >&2; exit 1; }
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
echo
echo "  ipkvm demo: open https://localhost:$port/"
echo "  (the certificate is self-signed: accept the browser's warning once)"
if [ -f "$state/initial-admin-password" ]; then
	echo "  user: admin    password: $(cat "$state/initial-admin-password")"
else
	echo "  user: admin    password: the one you set"
	echo "  (forgot it? $build/ipkvmd --state-dir $state user passwd admin)"
fi
echo "  the built-in virtual computer starts powered off: choose Power > Power on in the console"
echo "  stop with Ctrl+C"
echo
wait "$pid"
