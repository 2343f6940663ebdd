#!/bin/bash
# install.sh install|uninstall: what make install and make uninstall do.
# From make: DESTDIR (staging root, e.g. a package's), PREFIX, SYSCONFDIR,
# KVER and KDIR (the kernel the module is for), BUILD (the tools).
#
# install puts trustmig.ko in /lib/modules/KVER/updates (the kernel's
# modules_install), the tools in PREFIX/sbin and PREFIX/bin, the uapi
# header in PREFIX/include/linux, and SYSCONFDIR/trustmig/trustmig.conf
# from docs/trustmig.conf.example unless that file exists.  uninstall
# removes exactly those, the configuration only while it is unchanged.
# depmod runs only without DESTDIR: a package's scripts run their own.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
: "${PREFIX:?}" "${SYSCONFDIR:?}" "${KVER:?}" "${KDIR:?}" "${BUILD:?}"
DESTDIR=${DESTDIR:-}

moddir=$DESTDIR/lib/modules/$KVER/updates
conf=$DESTDIR$SYSCONFDIR/trustmig/trustmig.conf
example=$repo/docs/trustmig.conf.example
# Installed file, its source, its mode.
files=(
	"$DESTDIR$PREFIX/sbin/trustmig $BUILD/user/trustmig 0755"
	"$DESTDIR$PREFIX/sbin/trustmigd $BUILD/user/trustmigd 0755"
	"$DESTDIR$PREFIX/sbin/trustmig-ttp $BUILD/user/trustmig-ttp 0755"
	"$DESTDIR$PREFIX/bin/trustmig-vm $BUILD/user/trustmig-vm 0755"
	"$DESTDIR$PREFIX/include/linux/trustmig.h $repo/uapi/linux/trustmig.h 0644"
)

depmod_live() {
	if [ -z "$DESTDIR" ]; then
		depmod -a "$KVER"
	fi
}

case ${1:-} in
install)
	sign=()
	if [ ! -f "$KDIR/certs/signing_key.pem" ]; then
		# Debian's headers carry no signing key: modules_install would
		# try and fail.  Secure Boot hosts sign with DKMS and a MOK.
		sign=(CONFIG_MODULE_SIG_ALL=)
		echo "install: trustmig.ko unsigned (no $KDIR/certs/signing_key.pem)"
	fi
	make -s -C "$KDIR" M="$repo" INSTALL_MOD_PATH="$DESTDIR" \
		INSTALL_MOD_DIR=updates "${sign[@]}" modules_install
	for f in "${files[@]}"; do
		read -r dst src mode <<<"$f"
		install -D -m "$mode" "$src" "$dst"
	done
	if [ -e "$conf" ]; then
		echo "install: kept $conf (it exists)"
	else
		install -D -m 0644 "$example" "$conf"
	fi
	depmod_live
	;;
uninstall)
	rm -f "$moddir/trustmig.ko"
	rmdir --ignore-fail-on-non-empty "$moddir" 2>/dev/null || true
	for f in "${files[@]}"; do
		read -r dst _ <<<"$f"
		rm -f "$dst"
	done
	if [ -e "$conf" ] && ! cmp -s "$example" "$conf"; then
		echo "uninstall: kept $conf (changed since install)"
	else
		rm -f "$conf"
		rmdir --ignore-fail-on-non-empty "$(dirname "$conf")" 2>/dev/null || true
	fi
	depmod_live
	;;
*)
	echo "usage: $0 install|uninstall" >&2
	exit 2
	;;
esac
