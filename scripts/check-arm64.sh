#!/usr/bin/env bash
# `make check-arm64`: the arm64 proof on an x86 machine. Cross-compiles ipkvmd, the unit tests
# and the benchmarks for aarch64 with Debian's gcc-aarch64-linux-gnu against a private arm64
# sysroot under the build directory, runs the unit tests under qemu-aarch64 (qemu-user) and
# ends with one line `N passed, N failed` counting cmocka test cases.
#   scripts/check-arm64.sh [BUILD_DIR]      (default build-arm64)
#
# BUILD_DIR/apt      apt's private state: arm64 package lists and downloaded .debs
# BUILD_DIR/sysroot  the arm64 packages of cross/arm64-packages.txt and of scripts/deps.sh
#                    (lib*-dev) with their dependency closure, unpacked with dpkg-deb -x
# BUILD_DIR/meson    the meson cross build (cross/arm64.ini)
#
# The machine's dpkg architecture list is never changed and nothing arm64 is installed into
# the system: apt runs with APT::Architecture=arm64 and its own lists, cache and an empty
# dpkg status, and only downloads. A warm run (sysroot stamp matches) downloads nothing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
dir=${1:-build-arm64}
case "$dir" in /*) ;; *) dir=$root/$dir ;; esac
sysroot=$dir/sysroot
builddir=$dir/meson

fail() {
	echo "check-arm64: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# ---- 1. host tools, installed through apt when missing (as scripts/deps.sh does) ----
host_pkgs=(gcc-aarch64-linux-gnu qemu-user dpkg-dev meson ninja-build pkg-config python3)
missing=()
for p in "${host_pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 && sudo=(sudo)
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "check-arm64: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ] && [ ${#sudo[@]} -eq 0 ]; then
		fail "need root or sudo to install: ${missing[*]}"
	fi
	export DEBIAN_FRONTEND=noninteractive
	mkdir -p "$dir" || fail "cannot create $dir"
	if ! { "${sudo[@]}" apt-get update -qq &&
		"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
		>"$dir/host-install.log" 2>&1; then
		cat "$dir/host-install.log" >&2
		fail "cannot install ${missing[*]}"
	fi
fi

# ---- 2. the private arm64 sysroot ----
# The packages: cross/arm64-packages.txt plus every lib*-dev package scripts/deps.sh installs
# for the native build, so a library added there is in the sysroot too.
mapfile -t pkgs < <({
	sed -e 's/#.*//' cross/arm64-packages.txt
	grep -v '^[[:space:]]*#' scripts/deps.sh | grep -oE '\blib[a-z0-9.+-]*-dev\b'
} | tr -s '[:space:]' '\n' | sed '/^$/d' | sort -u)
[ ${#pkgs[@]} -gt 0 ] || fail "no packages listed"

# The stamp names what the sysroot was made from: the package list and this script.
want_stamp=$(printf '%s\n' "${pkgs[@]}"; sha256sum scripts/check-arm64.sh | cut -d' ' -f1)
stamp=$dir/sysroot.stamp
if [ -f "$stamp" ] && [ -d "$sysroot" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
	echo "== arm64 sysroot: up to date (${#pkgs[@]} packages requested)"
else
	echo "== arm64 sysroot: fetching ${pkgs[*]}"
	t0=$SECONDS
	mkdir -p "$dir/apt/lists/partial" "$dir/apt/state" "$dir/apt/log" || fail "cannot create $dir/apt"
	rm -rf "$dir/apt/cache"
	mkdir -p "$dir/apt/cache/archives/partial"
	: >"$dir/apt/state/status"
	apt_opts=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64
		-o Dir::State="$dir/apt/state" -o Dir::State::Lists="$dir/apt/lists"
		-o Dir::State::status="$dir/apt/state/status" -o Dir::Cache="$dir/apt/cache"
		-o Dir::Cache::archives="$dir/apt/cache/archives" -o Dir::Log="$dir/apt/log"
		-o Debug::NoLocking=true -o APT::Sandbox::User=root -o Acquire::Languages=none
		-o APT::Install-Recommends=false -o APT::Install-Suggests=false)
	# The machine's own sources (sources.list and sources.list.d, .list and deb822 .sources);
	# an entry limited to other architectures simply has no arm64 index.
	if ! apt-get "${apt_opts[@]}" update -qq >"$dir/apt/update.log" 2>&1; then
		cat "$dir/apt/update.log" >&2
		echo "check-arm64: apt-get update reported errors; trying with the lists it has" >&2
	fi
	# Download-only install against an empty status: apt resolves the whole arm64 dependency
	# closure (libc, the runtime libraries of libwebsockets, curl, ...) and verifies each .deb.
	if ! apt-get "${apt_opts[@]}" install -d -y -qq "${pkgs[@]}" >"$dir/apt/download.log" 2>&1; then
		cat "$dir/apt/download.log" >&2
		fail "cannot download the arm64 packages"
	fi
	debs=("$dir"/apt/cache/archives/*.deb)
	[ -f "${debs[0]}" ] || fail "apt downloaded no .deb"
	rm -rf "$sysroot.tmp" "$sysroot" "$stamp"
	mkdir -p "$sysroot.tmp"
	for d in "${debs[@]}"; do
		dpkg-deb -x "$d" "$sysroot.tmp" || fail "cannot unpack $d"
	done
	# Absolute symlinks (libfoo.so -> /lib/aarch64-linux-gnu/libfoo.so.1) point into the host:
	# make them relative so they resolve inside the sysroot, for the linker and for qemu -L.
	python3 - "$sysroot.tmp" <<'PY' || fail "cannot fix the sysroot's symlinks"
import os, sys
top = os.path.abspath(sys.argv[1])
for base, dirs, files in os.walk(top):
    for name in dirs + files:
        p = os.path.join(base, name)
        if os.path.islink(p):
            t = os.readlink(p)
            if t.startswith("/"):
                os.unlink(p)
                os.symlink(os.path.relpath(top + t, base), p)
PY
	mv "$sysroot.tmp" "$sysroot"
	printf '%s\n' "$want_stamp" >"$stamp"
	echo "   ${#debs[@]} packages unpacked in $((SECONDS - t0)) s ($(du -sh "$sysroot" | cut -f1))"
fi

# ---- 3. the meson cross build ----
# cross/arm64.ini takes the sysroot's path from a constant defined in a generated file.
printf "[constants]\nsysroot = '%s'\n" "$sysroot" >"$dir/sysroot.ini.new"
if ! cmp -s "$dir/sysroot.ini.new" "$dir/sysroot.ini"; then
	mv "$dir/sysroot.ini.new" "$dir/sysroot.ini"
else
	rm -f "$dir/sysroot.ini.new"
fi
echo "== arm64 build (aarch64-linux-gnu-gcc, $builddir)"
if [ ! -f "$builddir/build.ninja" ] || [ cross/arm64.ini -nt "$builddir/build.ninja" ] ||
	[ "$dir/sysroot.ini" -nt "$builddir/build.ninja" ] || [ "$stamp" -nt "$builddir/build.ninja" ]; then
	rm -rf "$builddir"
	if ! meson setup "$builddir" --cross-file "$dir/sysroot.ini" --cross-file cross/arm64.ini \
		-Dtests=enabled >"$dir/setup.log" 2>&1; then
		cat "$dir/setup.log"
		fail "meson setup failed (log: $dir/setup.log)"
	fi
fi
if ! ninja -C "$builddir" >"$dir/build.log" 2>&1; then
	cat "$dir/build.log"
	fail "arm64 build failed (log: $dir/build.log)"
fi
if command -v file >/dev/null 2>&1; then
	echo "   ipkvmd: $(file -b "$builddir/ipkvmd" | cut -d, -f1-2)"
fi

# ---- 4. the unit tests under qemu-aarch64 ----
echo "== arm64 unit tests (qemu-aarch64 -L $sysroot)"
# Emulation is slower than the native run: give each test more time than its 60 s.
meson test -C "$builddir" --print-errorlogs --timeout-multiplier 4 >"$dir/unit.log" 2>&1
awk '/^Summary of Failures/ { exit } /^ *[0-9]+\/[0-9]+ / && !seen[$0]++' "$dir/unit.log"
log=$builddir/meson-logs/testlog.json
if [ ! -f "$log" ]; then
	cat "$dir/unit.log"
	fail "meson test wrote no testlog.json"
fi
# A failing test binary is shown in full.
if grep -q '"result": "FAIL\|"result": "TIMEOUT\|"result": "ERROR' "$log"; then
	cat "$dir/unit.log"
fi
counted=$log
counts=$(python3 scripts/cmocka_counts.py "$counted") || fail "cannot count the test results"
passed=${counts% *}
failed=${counts#* }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
