#!/usr/bin/env bash
# Installs the Debian packages ipkvm needs to build, run and test, asking apt only for what
# dpkg says is missing. Idempotent; works as root or through sudo.
#   scripts/deps.sh          build + run dependencies
#   scripts/deps.sh --test   also the test dependencies, and the tests' npm packages
#                            (tests/e2e/package-lock.json: playwright-core, typescript, acorn, @novnc/novnc)
set -euo pipefail

pkgs=(gcc make meson ninja-build pkg-config python3
      libwebsockets-dev libjansson-dev libinih-dev libcrypt-dev libssl-dev libturbojpeg0-dev
      libgpiod-dev libcurl4-openssl-dev libopenh264-dev zlib1g-dev)
if [ "${1:-}" = "--test" ]; then
	pkgs+=(libcmocka-dev python3 clang-format shellcheck systemd)
	# The fuzz harnesses (tests/fuzz, scripts/fuzz.sh): clang and its libFuzzer and
	# sanitizer runtimes (libclang_rt.fuzzer-*.a is in libclang-rt-14-dev).
	pkgs+=(clang libclang-rt-14-dev)
	# The browser tests (tests/e2e): node and npm for playwright-core, Debian's chromium.
	pkgs+=(nodejs chromium)
	# bench/vs_ustreamer runs Debian's uStreamer beside ipkvmd (a benchmark, not run by
	# ipkvm itself).
	pkgs+=(ustreamer)
	# The VNC server's real clients: libvncclient (a test client built in tests/, with the
	# GnuTLS and libjpeg headers libvncserver-dev brings), Debian's vncsnapshot, and Debian's
	# noVNC (served at /novnc/ in the browser tests); the openssl command writes vncsnapshot's
	# DES password file.
	pkgs+=(libvncserver-dev vncsnapshot novnc openssl)
	# A Japanese font, so the console in Japanese is drawn (and its screenshots readable).
	pkgs+=(fonts-ipafont-gothic)
	# npm comes with some node builds (NodeSource's conflicts with Debian's npm package).
	command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "deps: need root or sudo to install: ${missing[*]}" >&2
			exit 1
		fi
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The npm packages of the tests (playwright-core, typescript, acorn, noVNC), from tests/e2e's lockfile.
if [ "${1:-}" = "--test" ]; then
	bash "$(dirname "$0")/../tests/e2e/npm-install.sh"
fi
