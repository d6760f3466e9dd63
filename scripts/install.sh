#!/usr/bin/env bash
# Installs ipkvmd, its browser UI, data files, a default config and the systemd units.
# `make install` runs it; `make uninstall` runs scripts/uninstall.sh, which undoes it.
#
# Settings (environment; the Makefile passes its variables of the same names):
#   DESTDIR    staging root for packaging and tests (default: empty, the running system)
#   PREFIX     /usr/local (default) or /usr: where the binary and the shared files go
#   IPKVMD     the binary to install; default: build one in BUILD_DIR
#   BUILD_DIR  build-release (default): a release build configured for PREFIX
#
# What goes where (PREFIX=/usr/local):
#   /usr/local/bin/ipkvmd
#   /usr/local/share/ipkvm/web/...            the browser UI (the binary looks here)
#   /usr/local/share/ipkvm/ipkvm.ini          the reference config, every key documented
#   /usr/local/share/ipkvm/profiles/*.ini     hardware profiles (see docs/hardware.md)
#   /usr/local/lib/systemd/system/ipkvmd.service, ipkvm-gadget.service
#   /etc/udev/rules.d/70-ipkvm.rules          /dev/hidgN for the group ipkvm
#   /etc/ipkvm/ipkvm.ini                      default config, never overwritten once there
#
# Why /usr/local: Debian leaves /usr to its packages; software an administrator builds goes
# to /usr/local, and systemd reads units from /usr/local/lib/systemd/system (below
# /etc/systemd/system, so `systemctl edit` drop-ins and overrides still win). With
# PREFIX=/usr (for a package) units go to /usr/lib/systemd/system and the udev rule to
# /usr/lib/udev/rules.d. udev does not read /usr/local, so a local install puts its rule in
# /etc/udev/rules.d.
#
# The binary finds its UI through the prefix compiled into it (meson's --prefix), so the
# binary must be built for PREFIX: this script configures BUILD_DIR with it, and refuses an
# IPKVMD built for another prefix.
#
# On the running system (no DESTDIR) it must run as root: it also creates the system user
# ipkvm (in the groups video, gpio and dialout where they exist), the state directory
# /var/lib/ipkvm, and reloads systemd and udev. It enables no service: scripts/pi-setup.sh
# does, or `systemctl enable --now ipkvmd`.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
PREFIX=${PREFIX%/}
BUILD_DIR=${BUILD_DIR:-build-release}
IPKVMD=${IPKVMD:-}
SYSCONFDIR=/etc
STATE_DIR=/var/lib/ipkvm
USER_NAME=ipkvm

die() {
	echo "install: $*" >&2
	exit 1
}

case "$PREFIX" in
/*) ;;
*) die "PREFIX must be an absolute path (got '$PREFIX')" ;;
esac
if [ -n "$DESTDIR" ]; then
	mkdir -p "$DESTDIR"
	DESTDIR=$(cd "$DESTDIR" && pwd)
	[ "$DESTDIR" != / ] || DESTDIR=
fi
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
	die "installing on this system needs root (sudo make install), or set DESTDIR=DIR"
fi

datadir=$PREFIX/share/ipkvm
case "$PREFIX" in
/usr)
	unitdir=/usr/lib/systemd/system
	udevdir=/usr/lib/udev/rules.d
	;;
/usr/local)
	unitdir=/usr/local/lib/systemd/system
	udevdir=/etc/udev/rules.d
	;;
*)
	# systemd does not look under other prefixes: the admin's unit directory then.
	unitdir=/etc/systemd/system
	udevdir=/etc/udev/rules.d
	;;
esac

# --- the binary ------------------------------------------------------------------------------

# The prefix a meson build directory is configured with.
build_prefix() {
	python3 - "$1/meson-info/intro-buildoptions.json" <<'PY'
import json, sys
for o in json.load(open(sys.argv[1])):
    if o["name"] == "prefix":
        print(o["value"])
PY
}

# Build as the user who called sudo, so the build tree does not end up owned by root.
as_user=()
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] &&
	[ "$(stat -c %U "$src")" = "$SUDO_USER" ]; then
	as_user=(sudo -u "$SUDO_USER" --)
fi

if [ -z "$IPKVMD" ]; then
	bash scripts/deps.sh
	if [ ! -f "$BUILD_DIR/build.ninja" ]; then
		echo "install: configuring $BUILD_DIR (release, prefix $PREFIX)"
		"${as_user[@]}" meson setup "$BUILD_DIR" --buildtype=release --prefix="$PREFIX" >/dev/null
	elif [ "$(build_prefix "$BUILD_DIR")" != "$PREFIX" ]; then
		echo "install: reconfiguring $BUILD_DIR for prefix $PREFIX"
		"${as_user[@]}" meson configure "$BUILD_DIR" -Dprefix="$PREFIX" >/dev/null
	fi
	"${as_user[@]}" bash scripts/build.sh "$BUILD_DIR" release
	IPKVMD=$BUILD_DIR/ipkvmd
fi
[ -x "$IPKVMD" ] || die "$IPKVMD is not an executable"
"$IPKVMD" --version >/dev/null || die "$IPKVMD does not run"
# The UI path compiled into the binary (IPKVM_INSTALLED_WEB_ROOT) must be where we put web/.
# A whole NUL-terminated string, so /local does not match inside /usr/local.
if ! python3 -c 'import sys; sys.exit(b"\0" + sys.argv[2].encode() + b"\0" not in open(sys.argv[1], "rb").read())' \
	"$IPKVMD" "$datadir/web"; then
	die "$IPKVMD was built for another prefix (it does not look for its UI in $datadir/web):" \
		"configure it with meson setup --prefix=$PREFIX, or leave IPKVMD unset"
fi

# --- files -----------------------------------------------------------------------------------

d=$DESTDIR
installed=()
put() { # mode source target
	install -D -m "$1" "$2" "$d$3"
	installed+=("$3")
}

put 0755 "$IPKVMD" "$PREFIX/bin/ipkvmd"

# web/: replaced as a whole, so files removed from the source tree do not linger.
rm -rf "$d$datadir/web"
while IFS= read -r -d '' f; do
	put 0644 "$f" "$datadir/$f"
done < <(find web -type f -print0 | sort -z)

put 0644 data/ipkvm.ini "$datadir/ipkvm.ini"
rm -rf "$d$datadir/profiles"
for f in data/profiles/*.ini; do
	put 0644 "$f" "$datadir/profiles/$(basename "$f")"
done

# Units, with the paths of this install.
for unit in ipkvmd.service ipkvm-gadget.service; do
	mkdir -p "$d$unitdir"
	sed -e "s|/usr/local/bin/ipkvmd|$PREFIX/bin/ipkvmd|g" "systemd/$unit" >"$d$unitdir/$unit.tmp"
	chmod 0644 "$d$unitdir/$unit.tmp"
	mv "$d$unitdir/$unit.tmp" "$d$unitdir/$unit"
	installed+=("$unitdir/$unit")
done

# The gadget's HID nodes, for the unprivileged daemon. KERNEL only (their subsystem is
# "hidg" on current kernels, but the node name is what matters).
mkdir -p "$d$udevdir"
cat >"$d$udevdir/70-ipkvm.rules" <<'EOF'
# ipkvm (installed by scripts/install.sh): the USB gadget's HID nodes belong to the group
# ipkvm, so ipkvmd.service can write keyboard and mouse reports without root.
KERNEL=="hidg[0-9]*", GROUP="ipkvm", MODE="0660"
EOF
chmod 0644 "$d$udevdir/70-ipkvm.rules"
installed+=("$udevdir/70-ipkvm.rules")

# The config: a default once, never overwritten.
conf=$SYSCONFDIR/ipkvm/ipkvm.ini
if [ -e "$d$conf" ]; then
	kept="kept $conf (the reference with every key is $datadir/ipkvm.ini)"
else
	install -D -m 0644 data/ipkvm.ini "$d$conf"
	kept="installed the default $conf"
fi

nweb=0
for f in "${installed[@]}"; do
	case "$f" in
	"$datadir"/web/*) nweb=$((nweb + 1)) ;;
	*) echo "  $d$f" ;;
	esac
done
echo "  $d$datadir/web/ ($nweb files)"
echo "install: $kept"

# --- the running system ----------------------------------------------------------------------

if [ -n "$DESTDIR" ]; then
	exit 0
fi

if ! id -u "$USER_NAME" >/dev/null 2>&1; then
	nologin=/usr/sbin/nologin
	[ -x "$nologin" ] || nologin=/bin/false
	useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
		--shell "$nologin" --comment "ipkvm daemon" "$USER_NAME"
	echo "install: created the system user $USER_NAME"
fi
for g in video gpio dialout; do
	if getent group "$g" >/dev/null && ! id -nG "$USER_NAME" | tr ' ' '\n' | grep -qx "$g"; then
		usermod -a -G "$g" "$USER_NAME"
		echo "install: added $USER_NAME to the group $g"
	fi
done
# The state directory, so `sudo -u ipkvm ipkvmd user ...` works before the first start
# (systemd's StateDirectory= would make it at the first start).
if [ ! -d "$STATE_DIR" ]; then
	install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$STATE_DIR"
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	systemctl daemon-reload
fi
if command -v udevadm >/dev/null && [ -S /run/udev/control ]; then
	udevadm control --reload || true
fi
echo "install: done. Start it with: systemctl enable --now ipkvmd"
echo "  (on a Raspberry Pi, scripts/pi-setup.sh does the whole setup; see docs/hardware.md)"
