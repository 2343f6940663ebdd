#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# deb_test: on a host where trustmig's Debian packages are installed
# (run-in-guest.sh installs them in the stock kernel's test guest), they
# are whole: DKMS built the module for the running kernel and it is the
# one loaded, the tools are of the same release, every packaged file is
# as shipped and the configuration is a conffile; without the module
# the tools name what the kernel lacks.  TAP on stdout; exit 0 pass, 1
# fail, 4 skip (kselftest's codes).
set -uo pipefail

kver=$(uname -r)
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
fail() { n=$((n + 1)); failed=1; echo "not ok $n $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2], want [$3]"; fi; }

echo "TAP version 13"
for p in trustmig trustmig-dkms; do
	if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
		echo "1..0 # SKIP package $p is not installed here"
		exit 4
	fi
done
version=$(dpkg-query -W -f='${Version}' trustmig)
ko=$(modinfo -n trustmig 2>&1)

check "DKMS installed it for $kver" \
	"$(dkms status -m trustmig -v "$version" -k "$kver" 2>&1)" \
	"trustmig/$version, $kver, $(uname -m): installed"
check "modprobe finds DKMS's module" "$ko" "/lib/modules/$kver/updates/dkms/trustmig.ko"
check "the module is release $version" "$(modinfo -F version trustmig 2>&1)" "$version"
# srcversion hashes the sources, the same for any build of them; the
# build ID (the loaded note, past its 16-byte header) is this build's.
check "the module loaded is DKMS's build (build ID)" \
	"$(od -An -tx1 -v -j16 /sys/module/trustmig/notes/.note.gnu.build-id 2>&1 | tr -d ' \n')" \
	"$(readelf -n "$ko" 2>&1 | sed -n 's/.*Build ID: //p')"
check "the tools are release $version" "$(trustmig --version 2>&1 | head -n 1)" \
	"trustmig $version (netlink family trustmig v$(sed -n 's/^#define TRUSTMIG_GENL_VERSION[[:space:]]*\([0-9]*\).*/\1/p' /usr/include/linux/trustmig.h))"
check "every packaged file is as shipped (dpkg --verify)" \
	"$(dpkg --verify trustmig trustmig-dkms 2>&1)" ""
check "the configuration is a conffile" \
	"$(dpkg-query -W -f='${Conffiles}' trustmig | awk '{ print $1 }')" \
	/etc/trustmig/trustmig.conf
for f in /lib/systemd/system/trustmigd.service /lib/systemd/system/trustmig-ima.service \
	/usr/lib/trustmig/ima-policy /usr/share/man/man8/trustmig.8.gz \
	/usr/share/bash-completion/completions/trustmig /usr/sbin/trustmigd; do
	check "installed: $f" "$(dpkg -S "$f" 2>&1 | cut -d: -f1)" trustmig
done

# A kernel that loads no trustmig.ko: the tools say what it lacks.  In
# this root only, the module leaves the index, then the headers go, then
# KVM leaves the kernel's config; each comes back, and the module is
# loaded again as the suite expects.
missing() {
	check "$1: trustmig session list" "$(trustmig session list 2>&1; echo "exit $?")" \
		"trustmig: trustmig.ko not loaded: keys not installed (no generic netlink family \"trustmig\"): none is installed for kernel $kver$2
exit 56"
}
kdir=/lib/modules/$kver
config=/boot/config-$kver
if modprobe -r trustmig && mv "$ko" /tmp/trustmig.ko && depmod "$kver"; then
	missing "no module" ": install trustmig-dkms, or make install"
	mv "$kdir/build" /tmp/headers
	missing "no module, no headers" \
		", which has no headers for DKMS to build it: apt-get install linux-headers-$kver"
	mv /tmp/headers "$kdir/build"
	cp "$config" /tmp/config
	grep -v '^CONFIG_KVM=' /tmp/config >"$config"
	missing "no module, a kernel without KVM" \
		", which is built without KVM (CONFIG_KVM), which trustmig.ko hooks"
	cp /tmp/config "$config"
	mv /tmp/trustmig.ko "$ko"
	depmod "$kver"
fi
check "the module loads again" "$(modprobe trustmig 2>&1; cat /sys/module/trustmig/version)" "$version"

echo "1..$n"
exit "$failed"
