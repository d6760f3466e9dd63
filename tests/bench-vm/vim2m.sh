# vim2m.sh: sourced by run.sh. Builds the kernel's vim2m test driver (a V4L2 mem2mem format
# converter) for the exact kernel the VM boots and caches it outside the repo:
#
#   $cache/vim2m/KVER/vim2m-bench.ko   (+ build.log)
#
# Debian's amd64 kernels build neither vim2m nor the mem2mem framework it sits on
# (v4l2-mem2mem, CONFIG_V4L2_MEM2MEM_DEV: no amd64 driver needs it), so both files,
# drivers/media/test-drivers/vim2m.c and drivers/media/v4l2-core/v4l2-mem2mem.c, are taken
# out of Debian's linux-source package of the kernel's own version and linked into one
# module, vim2m-bench.ko, against the matching linux-headers package (both unpacked with
# dpkg-deb -x, not installed; the same packages gpio-sim.sh uses). One change to the
# sources: both files declare a module parameter `debug`, so v4l2-mem2mem's becomes
# `m2m_debug` (one module cannot have two parameters of one name). BTF is skipped
# (CONFIG_DEBUG_INFO_BTF_MODULES= : no pahole needed).
#
# Uses run.sh's download, fatal, step, apt_update and sudo. Sets vim2m_ko.

vim2m_module() {   # vim2m_module KDEB KVER
	local kdeb=$1 kver=$2 kv series mdir b
	mdir=$cache/vim2m/$kver
	vim2m_ko=$mdir/vim2m-bench.ko
	if [ -f "$vim2m_ko" ]; then
		step "vim2m module (cached) $vim2m_ko"
		return 0
	fi
	kv=$(dpkg-deb -f "$kdeb" Version) || fatal "vim2m: no Version in $kdeb"
	series=$(echo "$kver" | cut -d. -f1-2)
	step "vim2m: building the module for $kver (linux-source-$series $kv)"

	local hdeb deps pkgs=() p cc kbuild common
	hdeb=$(download "linux-headers-$kver" "$kv")
	[ -n "$hdeb" ] || fatal "vim2m: could not download linux-headers-$kver=$kv" \
		"(apt-get download failed: no registry?)"
	deps=$(dpkg-deb -f "$hdeb" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g')
	common=$(echo "$deps" | grep -m1 '^linux-headers-.*-common$')
	kbuild=$(echo "$deps" | grep -m1 '^linux-kbuild-')
	cc=$(echo "$deps" | grep -m1 '^gcc-[0-9]*$')
	[ -n "$common" ] && [ -n "$kbuild" ] && [ -n "$cc" ] ||
		fatal "vim2m: unexpected Depends of $hdeb: $(echo $deps)"
	for p in make "$cc"; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
			pkgs+=("$p")
	done
	if [ ${#pkgs[@]} -gt 0 ]; then
		step "installing ${pkgs[*]}"
		apt_update
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
			--no-install-recommends "${pkgs[@]}" >/dev/null ||
			fatal "vim2m: could not install ${pkgs[*]}"
	fi
	local cdeb kbdeb sdeb
	cdeb=$(download "$common" "$kv")
	kbdeb=$(download "$kbuild" "$kv")
	sdeb=$(download "linux-source-$series" "$kv")
	[ -n "$cdeb" ] || fatal "vim2m: could not download $common=$kv"
	[ -n "$kbdeb" ] || fatal "vim2m: could not download $kbuild=$kv"
	[ -n "$sdeb" ] || fatal "vim2m: could not download linux-source-$series=$kv"

	mkdir -p "$cache/vim2m" || fatal "vim2m: cannot create $cache/vim2m"
	b=$(mktemp -d "$cache/vim2m/build.XXXXXX") || fatal "vim2m: mktemp failed"
	local log=$b/build.log
	for p in "$hdeb" "$cdeb" "$kbdeb"; do
		dpkg-deb -x "$p" "$b/hdr" || fatal "vim2m: dpkg-deb -x $p failed"
	done
	local hd=$b/hdr/usr/src/linux-headers-$kver
	[ -f "$hd/Makefile" ] || fatal "vim2m: no $hd/Makefile in $hdeb"
	sed -i 's|^include /usr/src/|include ../|' "$hd/Makefile"

	mkdir -p "$b/src" "$b/mod"
	dpkg-deb --fsys-tarfile "$sdeb" |
		tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
		timeout 600 tar -xJ -C "$b/src" --wildcards '*/drivers/media/test-drivers/vim2m.c' \
			'*/drivers/media/v4l2-core/v4l2-mem2mem.c' ||
		fatal "vim2m: cannot take vim2m.c and v4l2-mem2mem.c out of $sdeb"
	cp "$b"/src/*/drivers/media/test-drivers/vim2m.c \
		"$b"/src/*/drivers/media/v4l2-core/v4l2-mem2mem.c "$b/mod/" ||
		fatal "vim2m: no vim2m.c or v4l2-mem2mem.c in $sdeb"
	grep -q '^module_param(debug, bool, 0644);' "$b/mod/v4l2-mem2mem.c" ||
		fatal "vim2m: v4l2-mem2mem.c of $kv has no 'module_param(debug, bool, 0644);'" \
			"(the one change this build makes): see $b/mod/v4l2-mem2mem.c"
	sed -i 's/^module_param(debug, bool, 0644);/module_param_named(m2m_debug, debug, bool, 0644);/' \
		"$b/mod/v4l2-mem2mem.c"
	printf 'obj-m := vim2m-bench.o\nvim2m-bench-y := vim2m.o v4l2-mem2mem.o\n' >"$b/mod/Kbuild"
	if ! timeout 600 make -C "$hd" M="$b/mod" CONFIG_DEBUG_INFO_BTF_MODULES= \
		-j"$(nproc)" modules >"$log" 2>&1; then
		fatal "vim2m: the module build failed (log $log): $(tail -n 5 "$log" | tr '\n' ' ')"
	fi
	local vm
	vm=$(modinfo -F vermagic "$b/mod/vim2m-bench.ko" 2>/dev/null)
	[ "${vm%% *}" = "$kver" ] ||
		fatal "vim2m: built module has vermagic '$vm', want $kver (log $log)"
	mkdir -p "$mdir"
	cp "$log" "$mdir/build.log"
	cp "$b/mod/vim2m-bench.ko" "$vim2m_ko.tmp.$$" && mv "$vim2m_ko.tmp.$$" "$vim2m_ko" ||
		fatal "vim2m: cannot store $vim2m_ko"
	rm -rf "$b"
	step "vim2m module built: $vim2m_ko"
}
