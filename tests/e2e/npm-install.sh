#!/usr/bin/env bash
# Installs tests/e2e's npm packages (playwright-core for the browser tests, typescript for
# the web UI's type check, acorn for the i18n lint of tests/tools/i18n_check.mjs, noVNC's
# library for the VNC browser test's Open H.264 client) from the
# committed lockfile, when node_modules is missing or was
# installed from another lockfile. Used by scripts/deps.sh --test, tests/e2e/run.sh and
# scripts/check.sh; prints nothing when there is nothing to do.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v npm >/dev/null || { echo "npm-install: npm is missing (scripts/deps.sh --test installs it)" >&2; exit 1; }
# node_modules is current when it was installed from this very lockfile.
stamp="$here/node_modules/.ipkvm-lock.sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ -d "$here/node_modules/playwright-core" ] && [ -d "$here/node_modules/typescript" ] &&
	[ -d "$here/node_modules/acorn" ] && [ -d "$here/node_modules/@novnc/novnc" ] &&
	[ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	exit 0
fi
echo "npm-install: npm ci in tests/e2e" >&2
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2
echo "$want" >"$stamp"
