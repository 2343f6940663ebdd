#!/bin/bash
# qemu-plugin-h.sh DIR: extract qemu-plugin.h, the TCG plugin API header,
# from the source package of the QEMU that is installed (Debian ships the
# header in no binary package) into DIR/qemu-plugin.h, then touch
# DIR/.stamp.  scripts/setup-deps.sh downloads the source into $QEMU_SRC.
set -euo pipefail

die() { echo "qemu-plugin-h: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DIR"
dest=$1
QEMU_SRC=${QEMU_SRC:-/usr/src/trustmig-qemu}

# The upstream version of the installed QEMU (1:7.2+dfsg-7+deb12u18 -> 7.2+dfsg):
# a plugin must be built against the API of the QEMU that loads it.
ver=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null) ||
	die "qemu-system-x86 is not installed (run scripts/setup-deps.sh)"
upstream=${ver#*:}
upstream=${upstream%-*}
tarball=$QEMU_SRC/qemu_$upstream.orig.tar.xz
[ -f "$tarball" ] ||
	die "$tarball missing: the source of QEMU $ver (run scripts/setup-deps.sh)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qemu-plugin-h.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The top directory's name (qemu-7.2.0) is not the package's version.
tar -xJf "$tarball" -C "$tmp" --wildcards --occurrence=1 '*/include/qemu/qemu-plugin.h'
shopt -s nullglob
found=("$tmp"/*/include/qemu/qemu-plugin.h)
[ ${#found[@]} -eq 1 ] || die "no include/qemu/qemu-plugin.h in $tarball"
mkdir -p "$dest"
cp "${found[0]}" "$dest/qemu-plugin.h"
touch "$dest/.stamp"
echo "qemu-plugin-h: $dest/qemu-plugin.h from $(basename "$tarball")"
