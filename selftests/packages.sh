# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Sourced by run-in-guest.sh: trustmig's Debian packages installed into a
# writable overlay of the test guest's read-only root, as on a host (DKMS
# builds trustmig.ko for the running kernel), and removed again.  The
# suite then runs chrooted in that root, against that module and those
# tools.  The overlay is where the guest's modprobe helper for the
# kernel resolves requests (scripts/mkinitramfs.sh), so the kernel's own
# requests (the netlink alias, the device node) find DKMS's module.
# Needs the caller's tap, diag and check functions.

PKG_ROOT=/run/trustmig-modroot
PKG_SCRATCH=/run/trustmig-deb

pkg_in_root() { chroot "$PKG_ROOT" "$@"; }
pkg_loaded() { [ -d /sys/module/trustmig ] && echo yes || echo no; }

# packages_install DEBDIR RESULTS [KO]: 0 when the root holds trustmig's
# packages, their module built by DKMS; with KO, the tools' package only
# and KO where make install puts a module (updates/, then depmod).
# RESULTS is bound into the root.  Loading the module is the caller's.
packages_install() {
	local debs=$1 results=$2 ko=${3:-} kver tools_deb dkms_deb version out rc start

	kver=$(uname -r)
	tools_deb=$(ls "$debs"/trustmig_*_amd64.deb 2>/dev/null)
	dkms_deb=$(ls "$debs"/trustmig-dkms_*_all.deb 2>/dev/null)
	if [ -z "$tools_deb" ] || [ -z "$dkms_deb" ]; then
		tap "not ok - packages: none in $debs (make deb)"
		return 1
	fi
	version=${tools_deb##*/trustmig_}
	version=${version%%_*}

	# The guest's root, writable in memory: dpkg and DKMS write there
	# only.  The suite's results go to the host through the same dir.
	mkdir -p "$PKG_SCRATCH" "$PKG_ROOT"
	if ! { mount -t tmpfs tmpfs "$PKG_SCRATCH" &&
		mkdir "$PKG_SCRATCH/upper" "$PKG_SCRATCH/work" &&
		mount -t overlay overlay \
			-o "lowerdir=/,upperdir=$PKG_SCRATCH/upper,workdir=$PKG_SCRATCH/work" "$PKG_ROOT" &&
		mount -t proc proc "$PKG_ROOT/proc" &&
		mount -t sysfs sysfs "$PKG_ROOT/sys" &&
		mount -t debugfs debugfs "$PKG_ROOT/sys/kernel/debug" &&
		mount --bind /dev "$PKG_ROOT/dev" &&
		mount --bind /dev/pts "$PKG_ROOT/dev/pts" &&
		mount -t tmpfs -o mode=1777 tmpfs "$PKG_ROOT/tmp" &&
		mkdir -p "$PKG_ROOT$results" &&
		mount --bind "$results" "$PKG_ROOT$results"; }; then
		tap "not ok - packages: no overlay of the root to install into"
		return 1
	fi
	if [ -n "$ko" ]; then
		dkms_deb=
		mkdir -p "$PKG_ROOT/lib/modules/$kver/updates"
		cp "$ko" "$PKG_ROOT/lib/modules/$kver/updates/" &&
			pkg_in_root depmod "$kver"
		check "$(basename "$ko") installed in updates/, depmod" "$?" 0 || return 1
	fi
	cp "$tools_deb" ${dkms_deb:+"$dkms_deb"} "$PKG_ROOT/tmp/"

	# man-db's index is not ours to test, and rebuilding it under TCG
	# takes minutes (Debian's own CI images turn it off the same way).
	echo "man-db man-db/auto-update boolean false" | pkg_in_root debconf-set-selections

	start=$SECONDS
	out=$(pkg_in_root env DEBIAN_FRONTEND=noninteractive \
		dpkg -i ${dkms_deb:+"/tmp/${dkms_deb##*/}"} "/tmp/${tools_deb##*/}" 2>&1)
	rc=$?
	[ -z "$dkms_deb" ] ||
		diag <<<"dpkg -i, with DKMS's build of the module: $((SECONDS - start)) s"
	[ "$rc" -eq 0 ] || tail -n 20 <<<"$out" | diag
	check "dpkg -i ${dkms_deb:+trustmig-dkms }trustmig" "$rc" 0 || return 1
	[ -n "$ko" ] ||
		check "DKMS built and installed it for $kver" \
			"$(pkg_in_root dkms status -m trustmig -v "$version" -k "$kver" 2>&1)" \
			"trustmig/$version, $kver, $(uname -m): installed"
}

# packages_remove RESULTS: dpkg -r takes module, unit and tools and keeps
# the operator's configuration; --purge takes that too.  Unmounts the
# root.
packages_remove() {
	local results=$1 kver out rc m

	kver=$(uname -r)
	echo "# the operator's" >>"$PKG_ROOT/etc/trustmig/trustmig.conf"
	out=$(pkg_in_root dpkg -r trustmig trustmig-dkms 2>&1)
	rc=$?
	[ "$rc" -eq 0 ] || tail -n 20 <<<"$out" | diag
	check "dpkg -r trustmig trustmig-dkms" "$rc" 0
	check "dpkg -r: no module left" "$(ls "$PKG_ROOT/lib/modules/$kver/updates/dkms/" 2>/dev/null)" ""
	check "dpkg -r: no unit left" "$(ls "$PKG_ROOT/lib/systemd/system/trustmigd.service" 2>/dev/null)" ""
	check "dpkg -r: no tool left" "$(ls "$PKG_ROOT/usr/sbin/trustmig"* 2>/dev/null)" ""
	check "dpkg -r: the configuration stays (a conffile)" \
		"$(tail -n 1 "$PKG_ROOT/etc/trustmig/trustmig.conf" 2>&1)" "# the operator's"
	pkg_in_root dpkg --purge trustmig >/dev/null 2>&1
	check "dpkg --purge removes it" "$(ls -d "$PKG_ROOT/etc/trustmig" 2>/dev/null)" ""

	for m in "$results" tmp dev/pts dev sys/kernel/debug sys proc; do
		umount -l "$PKG_ROOT/${m#/}" 2>/dev/null
	done
	umount -l "$PKG_ROOT" 2>/dev/null
	umount -l "$PKG_SCRATCH" 2>/dev/null
	rmdir "$PKG_ROOT" "$PKG_SCRATCH" 2>/dev/null
}
