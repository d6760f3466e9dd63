#!/usr/bin/env bash
# The hardware bench VM: runs BUILD_DIR/ipkvmd on a stock Debian kernel under QEMU (TCG), whose
# real drivers stand in for the hardware (dummy_hcd: the USB gadget and the host that
# enumerates it; vivid: an HDMI capture device; vim2m, built out of tree by vim2m.sh: a
# mem2mem device in place of the board's JPEG encoder), and checks the host side of every path.
#
#   tests/bench-vm/run.sh BUILD_DIR
#
# Downloads (the kernel and busybox-static packages, ~110 MB) are cached outside the repo in
# $IPKVM_VM_CACHE (default ~/.cache/ipkvm-bench-vm); the initramfs, the console log and the
# result live in BUILD_DIR/bench-vm/. The VM mounts this machine's /usr read-only over 9p for
# python3 (the test driver, tests/bench-vm/driver.py, reuses tests/integration/harness.py).
# Prints one line per check and last "N passed, M failed"; exits non-zero on any failure, on
# a timeout ($IPKVM_VM_TIMEOUT seconds, default 300) and when a download is missing.
#
# Switches for checks not yet on by default (README.md):
#   IPKVM_VM_GPIO=1   ATX on gpio-sim lines: builds gpio-sim out of tree (gpio-sim.sh; ~170 MB
#                     more downloads, the module is cached per kernel version)
#   IPKVM_VM_KILL9=1  kill -9 of ipkvmd and a restart: gadget and drives come back consistent
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:?usage: tests/bench-vm/run.sh BUILD_DIR}
build=$(cd "$build" && pwd) || exit 1
cache=${IPKVM_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipkvm-bench-vm}
timeout_s=${IPKVM_VM_TIMEOUT:-300}
work=$build/bench-vm
vm_gpio=${IPKVM_VM_GPIO:-0}
vm_kill9=${IPKVM_VM_KILL9:-0}
t0=$(date +%s)

passed=0
failed=0
fatal() {   # a setup step failed: it counts as a failed check, and nothing else runs
	echo "FAIL bench-vm: $*"
	echo "$passed passed, $((failed + 1)) failed"
	exit 1
}
step() { echo "bench-vm: $*"; }

[ -x "$build/ipkvmd" ] || fatal "no $build/ipkvmd (build it first: scripts/build.sh $build)"

# --- host packages: what dpkg says is missing, through apt-get (sudo when not root) ---------
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
apt_updated=0
apt_update() {
	[ $apt_updated -eq 1 ] && return 0
	apt_updated=1
	"${sudo[@]}" apt-get update -qq >/dev/null 2>&1
}
missing=()
for p in qemu-system-x86 kmod cpio xz-utils python3; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	step "installing ${missing[*]}"
	apt_update
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null || fatal "could not install ${missing[*]} (no package registry?)"
fi
export PATH=$PATH:/usr/sbin:/sbin   # depmod, modprobe

# --- downloads, cached: the kernel image package and busybox-static --------------------------
mkdir -p "$cache/debs" || fatal "cannot create the cache $cache"
download() {   # download NAME [VERSION]: the .deb of package NAME into $cache/debs (once)
	local name=$1 ver=${2:-} f pat
	pat="${name}_*.deb"
	[ -n "$ver" ] && pat="${name}_${ver//:/%3a}_*.deb"
	f=$(ls "$cache/debs/"$pat 2>/dev/null | head -n1)
	if [ -z "$f" ]; then
		local tmp
		tmp=$(mktemp -d "$cache/dl.XXXXXX")
		if ! (cd "$tmp" && apt-get download "$name${ver:+=$ver}" >/dev/null 2>&1); then
			apt_update
			(cd "$tmp" && apt-get download "$name${ver:+=$ver}" >/dev/null 2>&1)
		fi
		mv "$tmp"/*.deb "$cache/debs/" 2>/dev/null
		rm -rf "$tmp"
		f=$(ls "$cache/debs/"$pat 2>/dev/null | head -n1)
	fi
	echo "$f"
}
kpkg=$(cat "$cache/kernel-package" 2>/dev/null)
if [ -z "$kpkg" ]; then
	# The versioned image package behind the meta package: 6.12 (bookworm-security) if
	# offered, else the default 6.1.
	for meta in linux-image-6.12-amd64 linux-image-amd64; do
		kpkg=$(apt-cache depends "$meta" 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
		if [ -z "$kpkg" ]; then
			apt_update
			kpkg=$(apt-cache depends "$meta" 2>/dev/null |
				awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
		fi
		[ -n "$kpkg" ] && break
	done
	[ -n "$kpkg" ] || fatal "no Debian kernel package found (linux-image-6.12-amd64," \
		"linux-image-amd64): is the Debian package registry reachable?"
	echo "$kpkg" >"$cache/kernel-package"
fi
step "kernel package $kpkg, cache $cache"
kdeb=$(download "$kpkg")
[ -n "$kdeb" ] || fatal "could not download $kpkg (apt-get download failed: no registry?)"
bdeb=$(download busybox-static)
[ -n "$bdeb" ] || fatal "could not download busybox-static (apt-get download failed)"

# --- extract once: vmlinuz, modules (depmod'ed), busybox -------------------------------------
kx=$cache/$(basename "$kdeb" .deb)
if [ ! -f "$kx/.done" ]; then
	step "extracting $(basename "$kdeb")"
	rm -rf "$kx"
	mkdir -p "$kx"
	dpkg-deb -x "$kdeb" "$kx" || fatal "dpkg-deb -x $kdeb failed"
	touch "$kx/.done"
fi
kver=$(ls "$kx/lib/modules" 2>/dev/null | head -n1)
if [ -z "$kver" ] || [ ! -f "$kx/boot/vmlinuz-$kver" ]; then
	fatal "no kernel in $kdeb"
fi
[ -f "$kx/lib/modules/$kver/modules.dep" ] || depmod -b "$kx" "$kver" ||
	fatal "depmod -b $kx $kver failed"
bx=$cache/$(basename "$bdeb" .deb)
if [ ! -x "$bx/bin/busybox" ]; then
	rm -rf "$bx"
	dpkg-deb -x "$bdeb" "$bx" || fatal "dpkg-deb -x $bdeb failed"
fi
[ -x "$bx/bin/busybox" ] || fatal "no busybox in $bdeb"
gpio_sim_ko=
if [ "$vm_gpio" = 1 ]; then
	. "$here/gpio-sim.sh"
	gpio_sim_module "$kdeb" "$kver"
fi
# vim2m (a mem2mem converter) for the hardware JPEG encoder's plumbing: built out of tree too
. "$here/vim2m.sh"
vim2m_module "$kdeb" "$kver"

# --- the initramfs ---------------------------------------------------------------------------
root=$work/root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,usr,etc/bench,modules,bench,ipkvm} || exit 1
cp "$bx/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$here/init" "$root/init"
chmod 755 "$root/init"

# Modules with what they need, in load order; vivid gets its bench parameters.
modlist=(dummy_hcd configfs libcomposite usb_f_hid usb_f_mass_storage usbhid hid_generic evdev
         usb_storage sd_mod sr_mod vivid videobuf2_vmalloc videobuf2_v4l2 9p 9pnet_virtio)
declare -A seen=()
: >"$root/etc/bench/modules"
for m in "${modlist[@]}"; do
	deps=$(modprobe -S "$kver" -d "$kx" --show-depends "$m" 2>&1) ||
		fatal "modprobe --show-depends $m: $deps"
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		name=$(basename "$path")
		name=${name%.xz}
		name=${name%.zst}
		name=${name%.ko}
		[ -n "${seen[$name]:-}" ] && continue
		seen[$name]=1
		case "$path" in
		*.xz) xz -dc "$path" >"$root/modules/$name.ko" ;;
		*.zst) zstd -qdc "$path" >"$root/modules/$name.ko" ;;
		*) cp "$path" "$root/modules/$name.ko" ;;
		esac || fatal "cannot unpack $path"
		args=
		[ "$name" = vivid ] && args="n_devs=1 node_types=0x1 num_inputs=1 input_types=0x3"
		echo "$name $args" >>"$root/etc/bench/modules"
	done <<<"$deps"
done
# after videodev, mc and videobuf2, which it needs
cp "$vim2m_ko" "$root/modules/vim2m_bench.ko" || fatal "cannot copy $vim2m_ko"
echo "vim2m_bench" >>"$root/etc/bench/modules"
if [ -n "$gpio_sim_ko" ]; then   # after configfs, which it needs
	cp "$gpio_sim_ko" "$root/modules/gpio_sim_bench.ko" || fatal "cannot copy $gpio_sim_ko"
	echo "gpio_sim_bench" >>"$root/etc/bench/modules"
fi

# ipkvmd, m2m-probe (tests/tools) and their shared libraries (as ldd resolves them here), the
# web UI, the test driver.
[ -x "$build/tests/tools/m2m-probe" ] || fatal "no $build/tests/tools/m2m-probe (build it)"
cp "$build/ipkvmd" "$root/ipkvm/ipkvmd"
cp "$build/tests/tools/m2m-probe" "$root/ipkvm/m2m-probe"
cp -r "$repo/web" "$root/ipkvm/web"
while read -r lib; do
	[ -e "$root$lib" ] && continue
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib" || fatal "cannot copy $lib"
done < <(ldd "$build/ipkvmd" "$build/tests/tools/m2m-probe" |
	awk '/=> \// {print $3} /^[ \t]*\/[^ ]+ \(/ {print $1}' | sort -u)
cp "$here/driver.py" "$repo/tests/integration/harness.py" "$root/bench/"
printf '%s\n' "0123456789abcdef0123456789abcdef" >"$root/etc/machine-id"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initramfs.cpio" ||
	fatal "cpio failed"
step "initramfs $(du -m "$work/initramfs.cpio" | cut -f1) MB, kernel $kver"

# --- boot -----------------------------------------------------------------------------------
log=$work/console.log
: >"$log"
t1=$(date +%s)
step "booting (TCG, timeout ${timeout_s} s), console in $log"
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
	-nodefaults -display none -monitor none -no-reboot \
	-serial "file:$log" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-virtfs local,path=/usr,mount_tag=hostusr,security_model=none,readonly=on \
	-kernel "$kx/boot/vmlinuz-$kver" -initrd "$work/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet loglevel=4 BENCH_TIMEOUT=$((timeout_s - 60)) BENCH_GPIO=$vm_gpio BENCH_KILL9=$vm_kill9" \
	</dev/null >"$work/qemu.log" 2>&1
qrc=$?
t2=$(date +%s)

# --- results --------------------------------------------------------------------------------
tr -d '\r' <"$log" >"$log.txt"
while IFS= read -r line; do
	case "$line" in
	"vmcheck: PASS "*) echo "ok   ${line#vmcheck: PASS }"; passed=$((passed + 1)) ;;
	"vmcheck: FAIL "*) echo "FAIL ${line#vmcheck: FAIL }"; failed=$((failed + 1)) ;;
	"vmcheck: XFAIL "*) echo "xfail ${line#vmcheck: XFAIL }" ;;
	"vmcheck: INFO "*) echo "     ${line#vmcheck: INFO }" ;;
	esac
done < <(grep -a '^vmcheck: ' "$log.txt")
if ! grep -aq '^vmcheck: end rc=' "$log.txt"; then
	case $qrc in
	124 | 137) echo "FAIL bench-vm: the VM did not finish within $timeout_s s" ;;
	*) echo "FAIL bench-vm: the VM stopped before the end (qemu exit $qrc: $(tail -n 3 "$work/qemu.log" | tr '\n' ' '))" ;;
	esac
	echo "---- console tail ($log) ----"
	tail -n 40 "$log.txt"
	failed=$((failed + 1))
elif [ $qrc -ne 1 ] && [ $failed -eq 0 ]; then
	echo "FAIL bench-vm: the VM reported failure (qemu exit $qrc)"
	failed=$((failed + 1))
fi
[ $passed -eq 0 ] && [ $failed -eq 0 ] && failed=1
echo "bench-vm: boot+checks $((t2 - t1)) s, total $((t2 - t0)) s"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
