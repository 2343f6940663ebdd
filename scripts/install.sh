#!/bin/bash
# install.sh install|install-tools|install-dkms|uninstall: make install,
# the two halves Debian's packages are made of, and make uninstall.
# From make: DESTDIR (staging root, e.g. a package's), PREFIX, SYSCONFDIR,
# KVER and KDIR (the kernel the module is for), BUILD (the tools and the
# man pages).
#
# install-tools puts the tools in PREFIX/sbin and PREFIX/bin, the uapi
# header in PREFIX/include/linux, the man pages, the bash completion, the
# systemd units, IMA's policy for trustmig-ima.service, and SYSCONFDIR/trustmig/trustmig.conf from
# docs/trustmig.conf.example unless that file exists.  install-dkms puts
# the module's source and dkms.conf in /usr/src/trustmig-VERSION, as DKMS
# wants it.  install is install-tools plus trustmig.ko in
# /lib/modules/KVER/updates (the kernel's modules_install).  uninstall
# removes exactly what install put there, the configuration only while it
# is unchanged.  depmod runs only without DESTDIR: a package's scripts
# run their own.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
: "${PREFIX:?}" "${SYSCONFDIR:?}" "${KVER:?}" "${KDIR:?}" "${BUILD:?}"
DESTDIR=${DESTDIR:-}
version=$(cat "$repo/VERSION")

moddir=$DESTDIR/lib/modules/$KVER/updates
conf=$DESTDIR$SYSCONFDIR/trustmig/trustmig.conf
example=$repo/docs/trustmig.conf.example
srcdir=$DESTDIR/usr/src/trustmig-$version
# Debian keeps packaged units in /lib; systemd also reads PREFIX/lib.
if [ "$PREFIX" = /usr ]; then
	unitdir=$DESTDIR/lib/systemd/system
else
	unitdir=$DESTDIR$PREFIX/lib/systemd/system
fi
completions=$DESTDIR$PREFIX/share/bash-completion/completions

# Installed file, its source, its mode.
files=(
	"$DESTDIR$PREFIX/sbin/trustmig $BUILD/user/trustmig 0755"
	"$DESTDIR$PREFIX/sbin/trustmigd $BUILD/user/trustmigd 0755"
	"$DESTDIR$PREFIX/sbin/trustmig-ttp $BUILD/user/trustmig-ttp 0755"
	"$DESTDIR$PREFIX/bin/trustmig-vm $BUILD/user/trustmig-vm 0755"
	"$DESTDIR$PREFIX/include/linux/trustmig.h $repo/uapi/linux/trustmig.h 0644"
	"$completions/trustmig $repo/user/completion/trustmig 0644"
	"$DESTDIR$PREFIX/lib/trustmig/ima-policy $repo/user/ima/ima-policy 0644"
)
for page in "$BUILD"/man/*.[158]; do
	files+=("$DESTDIR$PREFIX/share/man/man${page##*.}/${page##*/} $page 0644")
done
units=(trustmigd.service trustmig-ima.service)
# bash-completion loads a completion by the command's name: one file
# serves the four tools through links.
links=(trustmigd trustmig-ttp trustmig-vm)

depmod_live() {
	if [ -z "$DESTDIR" ]; then
		depmod -a "$KVER"
	fi
}

install_tools() {
	local f dst src mode l u

	for f in "${files[@]}"; do
		read -r dst src mode <<<"$f"
		install -D -m "$mode" "$src" "$dst"
	done
	for l in "${links[@]}"; do
		ln -sfn trustmig "$completions/$l"
	done
	install -d "$unitdir"
	for u in "${units[@]}"; do
		sed "s|/usr/sbin/|$PREFIX/sbin/|; s|/usr/lib/trustmig/|$PREFIX/lib/trustmig/|" \
			"$repo/user/systemd/$u" >"$unitdir/$u"
		chmod 0644 "$unitdir/$u"
	done
	if [ -e "$conf" ]; then
		echo "install: kept $conf (it exists)"
	else
		install -D -m 0644 "$example" "$conf"
	fi
}

# What Kbuild needs to build trustmig.ko, nothing else.
install_dkms() {
	local f

	rm -rf "$srcdir"
	install -d "$srcdir"
	for f in Kbuild VERSION kmod/*.[ch] uapi/linux/trustmig.h; do
		install -D -m 0644 "$repo/$f" "$srcdir/$f"
	done
	sed "s/#MODULE_VERSION#/$version/" "$repo/dkms.conf" >"$srcdir/dkms.conf"
	chmod 0644 "$srcdir/dkms.conf"
}

# Remove trustmig's own directory once nothing else is in it.
rmdir_empty() {
	rmdir --ignore-fail-on-non-empty "$1" 2>/dev/null || true
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
	install_tools
	depmod_live
	;;
install-tools)
	install_tools
	;;
install-dkms)
	install_dkms
	;;
uninstall)
	rm -f "$moddir/trustmig.ko"
	rmdir_empty "$moddir"
	for f in "${files[@]}"; do
		read -r dst _ <<<"$f"
		rm -f "$dst"
	done
	for l in "${links[@]}"; do
		rm -f "$completions/$l"
	done
	for u in "${units[@]}"; do
		rm -f "$unitdir/$u"
	done
	rmdir_empty "$DESTDIR$PREFIX/lib/trustmig"
	if [ -e "$conf" ] && ! cmp -s "$example" "$conf"; then
		echo "uninstall: kept $conf (changed since install)"
	else
		rm -f "$conf"
		rmdir_empty "$(dirname "$conf")"
	fi
	depmod_live
	;;
*)
	echo "usage: $0 install|install-tools|install-dkms|uninstall" >&2
	exit 2
	;;
esac
