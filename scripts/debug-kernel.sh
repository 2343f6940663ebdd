#!/bin/bash
# debug-kernel.sh: build (once) and install the debug kernel the guest
# selftests also run on: Debian's linux-source (the version the product
# targets) configured as x86_64 defconfig + scripts/debug-kernel/debug.config
# (KASAN, KFENCE, lockdep, kmemleak, UBSAN, KCOV, fault injection; all
# the guest needs built in).  Prints "KVER KDIR" on stdout: the kernel
# release (its image goes to /boot/vmlinuz-KVER, its modules to
# /lib/modules/KVER, as a distribution kernel's would) and the build tree
# that external modules build against.
#
# The build lives outside the clone, in $TRUSTMIG_CACHE (default
# /var/cache/trustmig), keyed on the source package's version, the config
# fragment and the recipe below, so later runs on the machine reuse it.
# The build runs niced: make check runs the stock kernel's tests beside it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/debug-kernel/debug.config
cache=${TRUSTMIG_CACHE:-/var/cache/trustmig}/debug-kernel
log() { echo "debug-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

tarball=$("$here/ksrc.sh" --tarball)
srcpkg=$(basename "$tarball" .tar.xz)
srcver=$(dpkg-query -W -f='${Version}' "$srcpkg" 2>/dev/null) ||
	die "$srcpkg is not installed (run scripts/setup-deps.sh)"
# Bump when a change here changes what gets built.
recipe="defconfig + fragment; bzImage modules; recipe 1"
key=$( (cat "$fragment"; echo "$recipe") | sha256sum | cut -c1-16)
dir=$cache/$srcpkg-$srcver-$key
src=$cache/$srcpkg-$srcver/src
out=$dir/build

# One builder at a time per cache (CI and a developer may share one).
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

if [ ! -f "$dir/.done" ]; then
	start=$SECONDS
	if [ ! -f "$src/.done" ]; then
		log "extracting $tarball"
		rm -rf "$src" && mkdir -p "$src"
		tar -xJf "$tarball" -C "$src" --strip-components=1
		touch "$src/.done"
	fi
	rm -rf "$dir" && mkdir -p "$out"
	log "configuring in $out"
	make -s -C "$src" O="$out" defconfig >&2
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" \
		"$out/.config" "$fragment" >/dev/null
	make -s -C "$src" O="$out" olddefconfig >&2
	# A dependency olddefconfig could not meet drops an option silently.
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) grep -qxF "$line" "$out/.config" ||
			die "config: $line did not survive olddefconfig" ;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }; opt=${opt%% *}
			! grep -q "^$opt=[ym]" "$out/.config" ||
				die "config: $opt should be off" ;;
		esac
	done <"$fragment"
	log "building with $(nproc) jobs (log: $dir/build.log)"
	if ! nice -n 10 make -C "$src" O="$out" -j"$(nproc)" bzImage modules \
		>"$dir/build.log" 2>&1; then
		tail -n 30 "$dir/build.log" >&2
		die "build failed"
	fi
	make -s -C "$src" O="$out" INSTALL_MOD_PATH="$dir/root" \
		INSTALL_MOD_STRIP=1 modules_install >&2
	make -s -C "$src" O="$out" kernelrelease >"$dir/kver"
	cp "$out/arch/x86/boot/bzImage" "$dir/vmlinuz"
	touch "$dir/.done"
	log "built in $((SECONDS - start)) s"
fi

kver=$(cat "$dir/kver")
# Installed like a distribution kernel, so the guest harness (vm.sh,
# modprobe over the 9p root) treats it as any other.
if ! cmp -s "$dir/vmlinuz" "/boot/vmlinuz-$kver"; then
	cp "$dir/vmlinuz" "/boot/vmlinuz-$kver"
fi
mkdir -p "/lib/modules/$kver"
rsync -a --delete --exclude build --exclude source \
	"$dir/root/lib/modules/$kver/" "/lib/modules/$kver/"
echo "$kver $out"
