#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# deb_test: the Debian packages (make deb, in $TRUSTMIG_BUILD/deb)
# installed with dpkg in a writable overlay of the guest's read-only root,
# as on a host: DKMS builds trustmig.ko for the running kernel, modprobe
# loads that module, a tool resolving the netlink family loads it too, and
# dpkg -r removes module and unit but keeps the configuration (purge
# removes it).  The overlay is mounted where the guest's modprobe helper
# for the kernel resolves requests (see selftests/modprobe_test.c).  Ends
# with $TRUSTMIG_KO loaded again, as the suite expects.  TAP on stdout;
# exit 0 pass, 1 fail, 4 skip (kselftest's codes).
set -uo pipefail

root=/run/trustmig-modroot
scratch=/run/trustmig-deb
kver=$(uname -r)
debs=${TRUSTMIG_BUILD:-}/deb
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
fail() { n=$((n + 1)); failed=1; echo "not ok $n $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2], want [$3]"; fi; }
in_root() { chroot "$root" "$@"; }
loaded() { [ -d /sys/module/trustmig ] && echo yes || echo no; }

cleanup() {
	local m

	for m in dev/pts dev sys proc; do
		umount -l "$root/$m" 2>/dev/null
	done
	umount -l "$root" 2>/dev/null
	umount -l "$scratch" 2>/dev/null
	rmdir "$root" "$scratch" 2>/dev/null
	[ "$(loaded)" = yes ] || insmod "${TRUSTMIG_KO:?}"
}

# A TAP stream of its own, as a kselftest binary's (the plan trails).
echo "TAP version 13"
tools_deb=$(ls "$debs"/trustmig_*_amd64.deb 2>/dev/null)
dkms_deb=$(ls "$debs"/trustmig-dkms_*_all.deb 2>/dev/null)
if [ -z "$tools_deb" ] || [ -z "$dkms_deb" ]; then
	echo "1..0 # SKIP no packages in $debs (make deb)"
	exit 4
fi
if [ ! -e "/lib/modules/$kver/build/Makefile" ]; then
	echo "1..0 # SKIP no headers for the running kernel $kver: DKMS cannot build for it"
	exit 4
fi
version=${tools_deb##*/trustmig_}
version=${version%%_*}
dkms_ko=$root/lib/modules/$kver/updates/dkms/trustmig.ko
trap cleanup EXIT

# The guest's root, writable in memory: dpkg and DKMS write there only.
mkdir -p "$scratch" "$root"
mount -t tmpfs tmpfs "$scratch" && mkdir "$scratch/upper" "$scratch/work" &&
	mount -t overlay overlay \
		-o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$root" &&
	mount -t proc proc "$root/proc" && mount -t sysfs sysfs "$root/sys" &&
	mount --bind /dev "$root/dev" && mount --bind /dev/pts "$root/dev/pts"
check "an overlay of the root to install into" "$?" 0
cp "$tools_deb" "$dkms_deb" "$root/tmp/"

# man-db's index is not ours to test, and rebuilding it under TCG takes
# minutes (Debian's own CI images turn it off the same way).
echo "man-db man-db/auto-update boolean false" | in_root debconf-set-selections

start=$SECONDS
out=$(in_root env DEBIAN_FRONTEND=noninteractive dpkg -i \
	"/tmp/${dkms_deb##*/}" "/tmp/${tools_deb##*/}" 2>&1)
rc=$?
echo "# dpkg -i, with DKMS's build of the module: $((SECONDS - start)) s"
[ "$rc" -eq 0 ] || sed 's/^/# /' <<<"$out" | tail -n 20
check "dpkg -i trustmig-dkms trustmig" "$rc" 0
check "DKMS built and installed it for $kver" \
	"$(in_root dkms status -m trustmig -v "$version" -k "$kver" 2>&1)" \
	"trustmig/$version, $kver, $(uname -m): installed"
check "the module is release $version" "$(modinfo -F version "$dkms_ko" 2>&1)" "$version"
want=$(modinfo -F srcversion "$dkms_ko" 2>/dev/null)

# modprobe, in the installed root, loads DKMS's module.
rmmod trustmig
out=$(in_root modprobe trustmig 2>&1)
check "modprobe trustmig${out:+: $out}" "$(loaded)" yes
check "the module loaded is DKMS's" "$(cat /sys/module/trustmig/srcversion 2>&1)" "$want"
out=$(in_root modprobe -r trustmig 2>&1)
check "modprobe -r trustmig${out:+: $out}" "$(loaded)" no

# The installed tool resolves the family: the kernel loads the module.
out=$(in_root trustmig status 2>&1)
check "trustmig status${out:+ ($out)} loads it" "$(loaded)" yes
check "through the alias, DKMS's module" "$(cat /sys/module/trustmig/srcversion 2>&1)" "$want"
in_root modprobe -r trustmig

# An operator's change to the configuration survives dpkg -r.
echo "# the operator's" >>"$root/etc/trustmig/trustmig.conf"
out=$(in_root dpkg -r trustmig trustmig-dkms 2>&1)
rc=$?
[ "$rc" -eq 0 ] || sed 's/^/# /' <<<"$out" | tail -n 20
check "dpkg -r trustmig trustmig-dkms" "$rc" 0
check "no module left" "$(ls "$root/lib/modules/$kver/updates/dkms/" 2>/dev/null)" ""
check "no unit left" "$(ls "$root/lib/systemd/system/trustmigd.service" 2>/dev/null)" ""
check "no tool left" "$(ls "$root/usr/sbin/trustmig"* 2>/dev/null)" ""
check "the configuration stays (a conffile)" \
	"$(tail -n 1 "$root/etc/trustmig/trustmig.conf" 2>&1)" "# the operator's"
in_root dpkg --purge trustmig >/dev/null 2>&1
check "dpkg --purge removes it" "$(ls -d "$root/etc/trustmig" 2>/dev/null)" ""

echo "1..$n"
exit "$failed"
