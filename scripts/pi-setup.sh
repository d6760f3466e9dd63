#!/usr/bin/env bash
# pi-setup.sh: turns a Raspberry Pi 4 with Raspberry Pi OS (Debian 12, "bookworm") into an
# ipkvm, from a checkout of this repository:
#
#   sudo scripts/pi-setup.sh [--tc358743] [--ch9329] [--cma SIZE] [--profile NAME]
#                            [--no-install] [--dry-run] [--root DIR]
#
#   (default)     USB capture dongle + USB-C port in device mode (profile pi4-usb-dongle)
#   --tc358743    TC358743 HDMI-to-CSI bridge on the camera connector (profile pi4-tc358743)
#   --ch9329      no USB device mode: a CH9329 serial HID bridge (profile ch9329); no gadget
#   --cma SIZE    kernel CMA pool (cma=SIZE in cmdline.txt, e.g. 128M) for raw 1080p capture
#   --profile N   the profile copied to /etc/ipkvm/ipkvm.ini (a name in data/profiles/)
#   --no-install  do not install packages, build or run `make install` (already done)
#   --dry-run     print every change, make none
#   --root DIR    edit the files of the system mounted at DIR (an SD card, a test tree);
#                 then only files are edited: packages, users, the build and systemctl are
#                 for the running system (--root /) only
#
# What it does, every step idempotent (running it twice changes nothing the second time):
#   1. packages: scripts/deps.sh (what building needs; it pulls the run-time libraries), and
#      avahi-daemon (the board answers as HOSTNAME.local), v4l-utils and gpiod (diagnostics)
#   2. the group gpio and a udev rule for /dev/gpiochip*, where the OS has none (plain Debian)
#   3. `make install`: ipkvmd, units, udev rule, the system user ipkvm (groups video, gpio,
#      dialout), /etc/ipkvm/ipkvm.ini
#   4. /etc/ipkvm/ipkvm.ini from the profile, while it is missing or still the untouched
#      default (a config you edited is never replaced)
#   5. config.txt (/boot/firmware/config.txt, or /boot/config.txt on older images): one block
#      between "# BEGIN ipkvm" and "# END ipkvm", rewritten on every run from the options:
#        dtoverlay=dwc2,dr_mode=peripheral   the USB-C port as a USB device (not --ch9329)
#        dtoverlay=tc358743                  the HDMI-to-CSI bridge (--tc358743)
#        gpio=...                            ATX lines: LED inputs pulled up, buttons low
#      The first change keeps the original as config.txt.before-ipkvm.
#   6. cmdline.txt: cma=SIZE (--cma)
#   7. /etc/modules-load.d/ipkvm.conf: dwc2 and libcomposite (not --ch9329)
#   8. systemctl enable ipkvmd.service (and ipkvm-gadget.service unless --ch9329)
# Then reboot: the overlays take effect at boot.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)

root=/
dry=
tc358743=
ch9329=
cma=
profile=
install_step=1

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case "$1" in
	--root)
		[ $# -ge 2 ] || { echo "pi-setup: --root needs a directory" >&2; exit 2; }
		root=$2
		shift
		;;
	--root=*) root=${1#--root=} ;;
	--dry-run) dry=1 ;;
	--tc358743) tc358743=1 ;;
	--ch9329) ch9329=1 ;;
	--cma)
		[ $# -ge 2 ] || { echo "pi-setup: --cma needs a size such as 128M" >&2; exit 2; }
		cma=$2
		shift
		;;
	--cma=*) cma=${1#--cma=} ;;
	--profile)
		[ $# -ge 2 ] || { echo "pi-setup: --profile needs a name" >&2; exit 2; }
		profile=$2
		shift
		;;
	--profile=*) profile=${1#--profile=} ;;
	--no-install) install_step= ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "pi-setup: unknown option '$1' (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

die() {
	echo "pi-setup: $*" >&2
	exit 1
}
say() { echo "pi-setup: $*"; }

[ -d "$root" ] || die "--root $root is not a directory"
root=$(cd "$root" && pwd)
R=${root%/} # prefix for paths: "" for the running system
live=
[ "$root" = / ] && live=1
if [ -n "$live" ] && [ -z "$dry" ] && [ "$(id -u)" -ne 0 ]; then
	die "run it as root (sudo $0 ...), or with --dry-run to see what it would do"
fi
if [ -n "$cma" ] && ! [[ "$cma" =~ ^[1-9][0-9]*M$ ]]; then
	die "--cma takes a size in MiB such as 128M (got '$cma')"
fi
if [ -z "$profile" ]; then
	profile=pi4-usb-dongle
	[ -n "$tc358743" ] && profile=pi4-tc358743
	[ -n "$ch9329" ] && profile=ch9329
fi
profile_file=$src/data/profiles/$profile.ini
[ -f "$profile_file" ] || die "no profile '$profile' (see $src/data/profiles/)"

# config.txt: /boot/firmware on Raspberry Pi OS 12, /boot on older images. Looked for before
# anything is changed, so a wrong --root or a non-Pi system stops here.
bootdir=
for b in /boot/firmware /boot; do
	if [ -f "$R$b/config.txt" ]; then
		bootdir=$b
		break
	fi
done
if [ -z "$bootdir" ] && { [ -z "$ch9329" ] || [ -n "$tc358743" ] || [ -n "$cma" ]; }; then
	die "no config.txt in $R/boot/firmware or $R/boot: is this Raspberry Pi OS?"
fi

# --- helpers ---------------------------------------------------------------------------------

tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT

# run CMD...: runs a command on the running system; prints it instead under --dry-run, and
# skips it under --root DIR.
run() {
	if [ -z "$live" ]; then
		say "skipped (not the running system): $*"
	elif [ -n "$dry" ]; then
		say "would run: $*"
	else
		say "running: $*"
		"$@"
	fi
}

# put PATH NEWFILE MODE [backup]: makes PATH (under the root) hold NEWFILE's bytes.
put() {
	local path=$R$1 new=$2 mode=$3 backup=${4:-}
	if [ -f "$path" ] && cmp -s "$path" "$new"; then
		say "unchanged: $path"
		return 0
	fi
	if [ -n "$dry" ]; then
		say "would write $path:"
		if [ -f "$path" ]; then
			diff -u "$path" "$new" | sed -e '1,2d' -e 's/^/    /' || true
		elif [ "$(wc -l <"$new")" -le 12 ]; then
			sed 's/^/    +/' "$new"
		else
			sed -e 's/^/    +/' -e '6q' "$new"
			echo "    ... ($(wc -l <"$new") lines)"
		fi
		return 0
	fi
	mkdir -p "$(dirname "$path")"
	if [ -n "$backup" ] && [ -f "$path" ] && [ ! -e "$path.before-ipkvm" ]; then
		cp -p "$path" "$path.before-ipkvm"
		say "kept the original as $path.before-ipkvm"
	fi
	# Same directory, then rename. An existing file keeps its mode; /boot/firmware is FAT,
	# where chmod may be refused, so only new files get MODE.
	cat "$new" >"$path.ipkvm-tmp"
	if [ -e "$path" ]; then
		chmod --reference="$path" "$path.ipkvm-tmp" 2>/dev/null || true
	else
		chmod "$mode" "$path.ipkvm-tmp"
	fi
	mv "$path.ipkvm-tmp" "$path"
	say "wrote $path"
}

# drop PATH: removes a file this script made before (e.g. after switching to --ch9329).
drop() {
	local path=$R$1
	[ -e "$path" ] || return 0
	if [ -n "$dry" ]; then
		say "would remove $path"
	else
		rm -f "$path"
		say "removed $path"
	fi
}

# --- 1-3: packages, gpio group, build and install ----------------------------------------------

if [ -n "$install_step" ]; then
	run bash "$src/scripts/deps.sh"
	extra=()
	for p in avahi-daemon v4l-utils gpiod; do
		if [ -z "$live" ] || [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
			extra+=("$p")
		fi
	done
	if [ ${#extra[@]} -gt 0 ]; then
		run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${extra[@]}"
	fi
fi

# Raspberry Pi OS has the group gpio and a udev rule giving it /dev/gpiochip*; plain Debian
# has neither.
if [ -z "$live" ] || ! getent group gpio >/dev/null; then
	run groupadd --system gpio
	rule=$tmpdir/gpio.rules
	cat >"$rule" <<'EOF'
# ipkvm (scripts/pi-setup.sh): GPIO chips for the group gpio, as Raspberry Pi OS does.
SUBSYSTEM=="gpio", KERNEL=="gpiochip[0-9]*", GROUP="gpio", MODE="0660"
EOF
	if [ -n "$live" ]; then
		put /etc/udev/rules.d/60-ipkvm-gpio.rules "$rule" 0644
	else
		say "skipped (not the running system): /etc/udev/rules.d/60-ipkvm-gpio.rules, if the" \
			"system has no group gpio"
	fi
fi

if [ -n "$install_step" ]; then
	# install.sh creates the user ipkvm (groups video, gpio, dialout) and the state directory.
	run make -C "$src" install
fi

# --- 4: the config -----------------------------------------------------------------------------

# Replaced only while it is missing or an untouched copy of the default or of a profile (so
# running again with other hardware options switches the profile).
conf=/etc/ipkvm/ipkvm.ini
untouched=
if [ ! -e "$R$conf" ]; then
	untouched=1
else
	for f in "$src/data/ipkvm.ini" "$src"/data/profiles/*.ini; do
		if cmp -s "$R$conf" "$f"; then
			untouched=1
		fi
	done
fi
if [ -n "$untouched" ]; then
	put "$conf" "$profile_file" 0644
else
	say "kept $R$conf: it has your changes (the profile is $profile_file)"
fi

# --- 5, 6: config.txt and cmdline.txt ----------------------------------------------------------

block=$tmpdir/block
{
	echo "# BEGIN ipkvm: written by ipkvm's scripts/pi-setup.sh, replaced when it runs again"
	echo "[all]"
	if [ -z "$ch9329" ]; then
		echo "# The USB-C port as a USB device: the target sees ipkvm's keyboard, mice and drives."
		echo "dtoverlay=dwc2,dr_mode=peripheral"
	fi
	if [ -n "$tc358743" ]; then
		echo "# TC358743 HDMI-to-CSI bridge on the camera connector (not auto-detected)."
		echo "camera_auto_detect=0"
		echo "dtoverlay=tc358743"
	fi
	if grep -q '^driver = gpio' "$profile_file"; then
		echo "# ATX lines from boot on: LED inputs (GPIO24, GPIO22) pulled up for the"
		echo "# optocouplers, button outputs (GPIO23, GPIO27) driven low (not pressed)."
		echo "gpio=22,24=ip,pu"
		echo "gpio=23,27=op,dl"
	fi
	echo "# END ipkvm"
} >"$block"

if [ -z "$bootdir" ]; then
	say "no config.txt under $R/boot: nothing to change there for --ch9329"
else
	cfg=$R$bootdir/config.txt
	new=$tmpdir/config.txt
	# Everything but our old block, trailing blank lines dropped, then the block.
	awk '
		/^# BEGIN ipkvm/ { skip = 1; next }
		skip && /^# END ipkvm/ { skip = 0; next }
		skip { next }
		{ lines[++n] = $0 }
		END {
			while (n > 0 && lines[n] ~ /^[ \t]*$/) n--
			for (i = 1; i <= n; i++) print lines[i]
		}' "$cfg" >"$new"
	[ -s "$new" ] && echo >>"$new"
	cat "$block" >>"$new"
	put "$bootdir/config.txt" "$new" 0644 backup
	# Lines of the user's own that fight ours: reported, never edited.
	# Only where they apply to a Pi 4 B: no section yet, [all] or [pi4].
	awk '/^# BEGIN ipkvm/ { skip = 1 } /^# END ipkvm/ { skip = 0; next } skip { next }
		/^[ \t]*\[/ { sec = $1; next }
		(sec == "" || sec == "[all]" || sec == "[pi4]") && /^[ \t]*(dtoverlay=dwc2|otg_mode=1)/ {
			printf "pi-setup: note: %s line %d has its own \"%s\":", FILENAME, NR, $0
			print " check that it does not fight the ipkvm block"
		}' "$cfg"

	if [ -n "$cma" ]; then
		cmdline=$R$bootdir/cmdline.txt
		[ -f "$cmdline" ] || die "no $cmdline"
		newc=$tmpdir/cmdline.txt
		# One line: replace a cma= word or append one.
		awk -v want="cma=$cma" '
			NR == 1 {
				n = split($0, w, /[ \t]+/); out = ""; found = 0
				for (i = 1; i <= n; i++) {
					if (w[i] == "") continue
					if (w[i] ~ /^cma=/) { if (found) continue; w[i] = want; found = 1 }
					out = out (out == "" ? "" : " ") w[i]
				}
				if (!found) out = out (out == "" ? "" : " ") want
				print out
				next
			}
			{ print }' "$cmdline" >"$newc"
		put "$bootdir/cmdline.txt" "$newc" 0644 backup
	fi
fi

# --- 7: kernel modules -------------------------------------------------------------------------

if [ -z "$ch9329" ]; then
	mods=$tmpdir/modules
	printf '%s\n' "# ipkvm (scripts/pi-setup.sh): USB device controller and the configfs gadget" \
		dwc2 libcomposite >"$mods"
	put /etc/modules-load.d/ipkvm.conf "$mods" 0644
else
	drop /etc/modules-load.d/ipkvm.conf
fi

# --- 8: services -------------------------------------------------------------------------------

run systemctl enable ipkvmd.service
if [ -z "$ch9329" ]; then
	run systemctl enable ipkvm-gadget.service
else
	run systemctl disable ipkvm-gadget.service
fi

host=$(cat "$R/etc/hostname" 2>/dev/null || true)
host=${host:-raspberrypi}
port=$(awk -F' *= *' '/^\[/{s=$0} s=="[server]" && $1=="port" {print $2}' "$R$conf" 2>/dev/null || true)
port=${port:-8443}
echo
if [ -n "$dry" ]; then
	echo "pi-setup: dry run: nothing was changed."
else
	echo "pi-setup: done. Next:"
	echo "  1. reboot (sudo reboot): the overlays and modules take effect at boot"
	echo "  2. open https://$host.local:$port/ (or the board's address from your router's list)"
	echo "     and accept the self-signed certificate once"
	echo "  3. log in as admin with the password from: sudo journalctl -u ipkvmd | grep 'first start'"
	echo "     (or: sudo cat /var/lib/ipkvm/initial-admin-password)"
	echo "  Wiring, cabling and troubleshooting: docs/hardware.md; remote access: docs/remote-access.md"
fi
