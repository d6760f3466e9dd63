#!/usr/bin/env bash
# The browser tests: playwright-core drives Debian's chromium (headless) against ipkvmd
# daemons on 127.0.0.1 in the demo configuration (the built-in virtual target).
#   tests/e2e/run.sh BUILD_DIR [--only REGEXP]
# Installs the npm packages from the committed lockfile when node_modules is missing or
# stale, saves screenshots to BUILD_DIR/e2e-artifacts/, and ends with one line
# `N passed, M failed` (exit status non-zero when a test failed).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:?usage: tests/e2e/run.sh BUILD_DIR [--only REGEXP]}
shift
build=$(cd "$build" && pwd) || { echo "0 passed, 1 failed"; exit 1; }

fail() {
	echo "e2e: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

command -v node >/dev/null || fail "node is missing (scripts/deps.sh --test installs it)"
command -v npm >/dev/null || fail "npm is missing (scripts/deps.sh --test installs it)"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || fail "chromium is missing (scripts/deps.sh --test installs it)"
[ -x "$build/ipkvmd" ] || fail "$build/ipkvmd is not built"

bash "$here/npm-install.sh" || fail "npm ci failed"

cd "$here" && exec node runner.mjs --ipkvmd "$build/ipkvmd" --repo "$repo" \
	--artifacts "$build/e2e-artifacts" "$@"
