#!/bin/bash
# ksrc.sh DIR: extract the few kernel-source files the build needs
# (checkpatch; kselftest's harness headers, lib.mk and runner) from
# Debian's linux-source tarball into DIR, keeping their relative paths,
# then touch DIR/.stamp. The headers package ships none of them.
# ksrc.sh --tarball: print that tarball's path (scripts/debug-kernel.sh).
set -euo pipefail

die() { echo "ksrc: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DIR | --tarball"
dest=$1

# Paths relative to the top of the kernel tree. kselftest_harness.h only
# includes kselftest.h from the selftests dir (checked below, so a newer
# source that adds an include fails loudly instead of at compile time).
FILES=(
	scripts/checkpatch.pl
	scripts/spelling.txt
	scripts/const_structs.checkpatch
	tools/testing/selftests/kselftest.h
	tools/testing/selftests/kselftest_harness.h
	tools/testing/selftests/lib.mk
	tools/testing/selftests/run_kselftest.sh
	tools/testing/selftests/kselftest/runner.sh
	tools/testing/selftests/kselftest/prefix.pl
)

# The tarball's name and its top directory follow the source package
# (linux-source-6.1 today); ask dpkg which one the linux-source metapackage
# pulls in rather than hard-coding a version.
pkg=$(dpkg-query -W -f='${Depends}' linux-source 2>/dev/null |
	tr ',' '\n' | sed -n 's/^ *\(linux-source-[^ ]*\).*/\1/p' | head -n1) || true
if [ -n "$pkg" ] && [ -f "/usr/src/$pkg.tar.xz" ]; then
	tarball=/usr/src/$pkg.tar.xz
else
	# No metapackage: accept exactly one linux-source tarball.
	shopt -s nullglob
	found=(/usr/src/linux-source-*.tar.xz)
	shopt -u nullglob
	[ ${#found[@]} -eq 1 ] ||
		die "expected one /usr/src/linux-source-*.tar.xz, found ${#found[@]} (run scripts/setup-deps.sh)"
	tarball=${found[0]}
fi
top=$(basename "$tarball" .tar.xz)
if [ "$dest" = --tarball ]; then
	echo "$tarball"
	exit 0
fi

# Extract into a scratch dir next to DEST and rename at the end, so an
# interrupted run never leaves a DEST that looks complete.
mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$dest.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"	# mktemp -d makes it 0700

members=()
for f in "${FILES[@]}"; do
	members+=("$top/$f")
done
# One pass over the 140 MB tarball; --occurrence lets tar stop reading as
# soon as every member has been found.
echo "ksrc: extracting ${#FILES[@]} files from $tarball"
tar -xJf "$tarball" -C "$tmp" --strip-components=1 --occurrence=1 "${members[@]}"

for f in "${FILES[@]}"; do
	[ -f "$tmp/$f" ] || die "$f missing from $tarball"
done
# Every quoted include of the harness headers must have come along.
st=$tmp/tools/testing/selftests
while read -r inc; do
	[ -f "$st/$inc" ] || die "selftests header $inc is included but not extracted; add it to FILES"
done < <(sed -n 's/^#include "\(.*\)"/\1/p' "$st"/kselftest*.h)

rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
touch "$dest/.stamp"
echo "ksrc: $dest ready ($top)"
