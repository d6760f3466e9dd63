#!/usr/bin/env bash
# Configures (once) and builds one build directory.
#   scripts/build.sh DIR            debug-optimised build
#   scripts/build.sh DIR asan       AddressSanitizer + UndefinedBehaviorSanitizer build
#   scripts/build.sh DIR release    optimised build for benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
kind=${2:-normal}
if [ ! -f "$dir/build.ninja" ]; then
	case "$kind" in
	asan) meson setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all >/dev/null ;;
	release) meson setup "$dir" --buildtype=release >/dev/null ;;
	*) meson setup "$dir" >/dev/null ;;
	esac
fi
ninja -C "$dir" >/dev/null || ninja -C "$dir"
