#!/usr/bin/env bash
# Runs ipkvmd in the foreground on the demo configuration, with its state under the build
# directory, and says where to point a browser and how to log in.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
state="$PWD/$build/demo-state"
mkdir -p "$state"
port=$(sed -n 's/^port *= *\([0-9]*\).*/\1/p' data/demo.ini | head -n1)
if [ ! -f "$state/users" ]; then
	# First run: let the daemon make the admin, then show the password it chose.
	"$build/ipkvmd" --config data/demo.ini --state-dir "$state" --web-root "$PWD/web" &
	pid=$!
	for _ in $(seq 1 50); do [ -f "$state/initial-admin-password" ] && break; sleep 0.1; done
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
fi
echo
echo "  ipkvm demo: open https://localhost:${port:-8443}/"
echo "  (the certificate is self-signed: accept the browser's warning once)"
if [ -f "$state/initial-admin-password" ]; then
	echo "  user: admin    password: $(cat "$state/initial-admin-password")"
else
	echo "  user: admin    password: the one you set"
	echo "  (forgot it? $build/ipkvmd --state-dir $state user passwd admin)"
fi
echo "  stop with Ctrl+C"
echo
exec "$build/ipkvmd" --config data/demo.ini --state-dir "$state" --web-root "$PWD/web"
