#!/usr/bin/env bash
# Runs every benchmark against the given (release) build directory; each prints its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
echo "== bench/http_bench (foundation: TLS, auth, event loop)"
"$dir/bench/http_bench" "$dir/ipkvmd"
