# gpio-sim.sh: sourced by run.sh (IPKVM_VM_GPIO=1). Builds the kernel's GPIO simulator
# (gpio-sim with irq_sim, which Debian's kernels leave out) as one out-of-tree module for the
# exact kernel the VM boots, and caches it outside the repo:
#
#   $cache/gpio-sim/KVER/gpio-sim-bench.ko   (+ build.log)
#
# From Debian's packages of the kernel's own version: linux-source-X.Y (only
# drivers/gpio/gpio-sim.c and kernel/irq/irq_sim.c are taken out of its tarball),
# linux-headers-KVER with the -common and linux-kbuild packages it depends on (unpacked with
# dpkg-deb -x, not installed). Two things differ from an in-tree build:
#   - irq_sim.c calls irq_to_desc(), which the kernel does not export to modules:
#     `handle_simple_irq(irq_to_desc(irqnum))` becomes `generic_handle_irq(irqnum)` (the
#     only change to the kernel's sources; it runs the same flow handler through the
#     exported entry point);
#   - irq_sim.c has no MODULE_LICENSE (it is built-in code), so both files are linked into
#     one module, gpio-sim-bench.ko, and irq_sim's functions need no export across modules.
# BTF for the module is skipped (CONFIG_DEBUG_INFO_BTF_MODULES= : no pahole needed).
#
# Uses run.sh's download, fatal, step, apt_update and sudo. Sets gpio_sim_ko.

gpio_sim_module() {   # gpio_sim_module KDEB KVER
	local kdeb=$1 kver=$2 kv series mdir b
	mdir=$cache/gpio-sim/$kver
	gpio_sim_ko=$mdir/gpio-sim-bench.ko
	if [ -f "$gpio_sim_ko" ]; then
		step "gpio-sim module (cached) $gpio_sim_ko"
		return 0
	fi
	kv=$(dpkg-deb -f "$kdeb" Version) || fatal "gpio-sim: no Version in $kdeb"
	series=$(echo "$kver" | cut -d. -f1-2)   # 6.12.117+deb12-amd64 -> 6.12
	step "gpio-sim: building the module for $kver (linux-source-$series $kv)"

	# The headers package names the compiler the kernel was built with (gcc-12) and its
	# -common and kbuild packages.
	local hdeb deps pkgs=() p
	hdeb=$(download "linux-headers-$kver" "$kv")
	[ -n "$hdeb" ] || fatal "gpio-sim: could not download linux-headers-$kver=$kv" \
		"(apt-get download failed: no registry?)"
	deps=$(dpkg-deb -f "$hdeb" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g')
	local cc kbuild common
	common=$(echo "$deps" | grep -m1 '^linux-headers-.*-common$')
	kbuild=$(echo "$deps" | grep -m1 '^linux-kbuild-')
	cc=$(echo "$deps" | grep -m1 '^gcc-[0-9]*$')
	[ -n "$common" ] && [ -n "$kbuild" ] && [ -n "$cc" ] ||
		fatal "gpio-sim: unexpected Depends of $hdeb: $(echo $deps)"
	for p in make "$cc"; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
			pkgs+=("$p")
	done
	if [ ${#pkgs[@]} -gt 0 ]; then
		step "installing ${pkgs[*]}"
		apt_update
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
			--no-install-recommends "${pkgs[@]}" >/dev/null ||
			fatal "gpio-sim: could not install ${pkgs[*]}"
	fi
	local cdeb kbdeb sdeb
	cdeb=$(download "$common" "$kv")
	kbdeb=$(download "$kbuild" "$kv")
	sdeb=$(download "linux-source-$series" "$kv")
	[ -n "$cdeb" ] || fatal "gpio-sim: could not download $common=$kv"
	[ -n "$kbdeb" ] || fatal "gpio-sim: could not download $kbuild=$kv"
	[ -n "$sdeb" ] || fatal "gpio-sim: could not download linux-source-$series=$kv"

	mkdir -p "$cache/gpio-sim" || fatal "gpio-sim: cannot create $cache/gpio-sim"
	b=$(mktemp -d "$cache/gpio-sim/build.XXXXXX") || fatal "gpio-sim: mktemp failed"
	local log=$b/build.log
	for p in "$hdeb" "$cdeb" "$kbdeb"; do
		dpkg-deb -x "$p" "$b/hdr" || fatal "gpio-sim: dpkg-deb -x $p failed"
	done
	local hd=$b/hdr/usr/src/linux-headers-$kver
	[ -f "$hd/Makefile" ] || fatal "gpio-sim: no $hd/Makefile in $hdeb"
	# It includes /usr/src/linux-headers-...-common/Makefile by absolute path: point it at
	# the unpacked copy next to it.
	sed -i 's|^include /usr/src/|include ../|' "$hd/Makefile"

	# Two files out of the source tarball (it is xz: the whole ~150 MB is read once).
	mkdir -p "$b/src" "$b/mod"
	dpkg-deb --fsys-tarfile "$sdeb" |
		tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
		timeout 600 tar -xJ -C "$b/src" --wildcards '*/drivers/gpio/gpio-sim.c' \
			'*/kernel/irq/irq_sim.c' ||
		fatal "gpio-sim: cannot take gpio-sim.c and irq_sim.c out of $sdeb"
	cp "$b"/src/*/drivers/gpio/gpio-sim.c "$b"/src/*/kernel/irq/irq_sim.c "$b/mod/" ||
		fatal "gpio-sim: no gpio-sim.c or irq_sim.c in $sdeb"
	grep -q 'handle_simple_irq(irq_to_desc(irqnum));' "$b/mod/irq_sim.c" ||
		fatal "gpio-sim: irq_sim.c of $kv has no handle_simple_irq(irq_to_desc(irqnum))" \
			"(the one change this build makes): see $b/mod/irq_sim.c"
	sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' \
		"$b/mod/irq_sim.c"
	printf 'obj-m := gpio-sim-bench.o\ngpio-sim-bench-y := gpio-sim.o irq_sim.o\n' \
		>"$b/mod/Kbuild"
	if ! timeout 600 make -C "$hd" M="$b/mod" CONFIG_DEBUG_INFO_BTF_MODULES= \
		-j"$(nproc)" modules >"$log" 2>&1; then
		fatal "gpio-sim: the module build failed (log $log): $(tail -n 5 "$log" | tr '\n' ' ')"
	fi
	local vm
	vm=$(modinfo -F vermagic "$b/mod/gpio-sim-bench.ko" 2>/dev/null)
	[ "${vm%% *}" = "$kver" ] ||
		fatal "gpio-sim: built module has vermagic '$vm', want $kver (log $log)"
	mkdir -p "$mdir"
	cp "$log" "$mdir/build.log"
	cp "$b/mod/gpio-sim-bench.ko" "$gpio_sim_ko.tmp.$$" && mv "$gpio_sim_ko.tmp.$$" "$gpio_sim_ko" ||
		fatal "gpio-sim: cannot store $gpio_sim_ko"
	rm -rf "$b"
	step "gpio-sim module built: $gpio_sim_ko"
}
