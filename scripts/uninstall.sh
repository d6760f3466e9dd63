#!/usr/bin/env bash
# Removes what scripts/install.sh installed (`make uninstall`). Takes the same DESTDIR and
# PREFIX. The config (/etc/ipkvm) and the state directory (/var/lib/ipkvm: users, tokens,
# TLS files, audit log, disk images) stay unless PURGE=1; PURGE=1 on the running system also
# deletes the system user ipkvm.
#
# Not undone: what scripts/pi-setup.sh changed in config.txt, cmdline.txt and
# /etc/modules-load.d/ipkvm.conf (the USB port stays in device mode; remove the
# "# BEGIN ipkvm" ... "# END ipkvm" block and that file by hand), and installed packages.
set -euo pipefail

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
PREFIX=${PREFIX%/}
PURGE=${PURGE:-}
SYSCONFDIR=/etc
STATE_DIR=/var/lib/ipkvm
USER_NAME=ipkvm

die() {
	echo "uninstall: $*" >&2
	exit 1
}

case "$PREFIX" in
/*) ;;
*) die "PREFIX must be an absolute path (got '$PREFIX')" ;;
esac
if [ -n "$DESTDIR" ]; then
	[ -d "$DESTDIR" ] || die "DESTDIR $DESTDIR does not exist"
	DESTDIR=$(cd "$DESTDIR" && pwd)
	[ "$DESTDIR" != / ] || DESTDIR=
fi
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
	die "uninstalling from this system needs root (sudo make uninstall), or set DESTDIR=DIR"
fi
case "$PURGE" in
"" | 0 | 1) ;;
*) die "PURGE must be 1 or empty (got '$PURGE')" ;;
esac

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
	unitdir=/etc/systemd/system
	udevdir=/etc/udev/rules.d
	;;
esac

d=$DESTDIR
systemd_running=
if [ -z "$d" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	systemd_running=1
fi

if [ -n "$systemd_running" ]; then
	# ipkvmd first (it holds the gadget's nodes), then the gadget.
	for unit in ipkvmd.service ipkvm-gadget.service; do
		if [ -e "$unitdir/$unit" ]; then
			systemctl disable --now "$unit" || true
		fi
	done
fi

removed=0
rm_file() {
	if [ -e "$d$1" ] || [ -L "$d$1" ]; then
		rm -f "$d$1"
		echo "  removed $d$1"
		removed=$((removed + 1))
	fi
}
rm_tree() {
	if [ -e "$d$1" ]; then
		rm -rf "$d$1"
		echo "  removed $d$1/"
		removed=$((removed + 1))
	fi
}

rm_file "$PREFIX/bin/ipkvmd"
rm_tree "$datadir"
rm_file "$unitdir/ipkvmd.service"
rm_file "$unitdir/ipkvm-gadget.service"
rm_file "$udevdir/70-ipkvm.rules"

if [ "$PURGE" = 1 ]; then
	rm_tree "$SYSCONFDIR/ipkvm"
	rm_tree "$STATE_DIR"
else
	for keep in "$SYSCONFDIR/ipkvm" "$STATE_DIR"; do
		if [ -e "$d$keep" ]; then
			echo "  kept $d$keep/ (PURGE=1 removes it)"
		fi
	done
fi

if [ -z "$d" ]; then
	if [ -n "$systemd_running" ]; then
		systemctl daemon-reload
	fi
	if command -v udevadm >/dev/null && [ -S /run/udev/control ]; then
		udevadm control --reload || true
	fi
	if [ "$PURGE" = 1 ] && id -u "$USER_NAME" >/dev/null 2>&1; then
		userdel "$USER_NAME" && echo "  deleted the user $USER_NAME"
	fi
fi
echo "uninstall: removed $removed entries"
