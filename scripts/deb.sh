#!/bin/bash
# deb.sh OUT: make deb.  Builds trustmig_VERSION_amd64.deb (the tools) and
# trustmig-dkms_VERSION_all.deb (trustmig.ko's source for DKMS) with
# Debian's debhelper and dh-dkms, from a copy of the tree as git sees it
# (tracked and new files, no build output) in OUT/trustmig-VERSION; the
# packages land in OUT.  debian/changelog must name the release VERSION
# names.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=${1:?usage: deb.sh OUT}
version=$(cat "$repo/VERSION")
src=$out/trustmig-$version

changelog=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
if [ "$changelog" != "$version" ]; then
	echo "deb: debian/changelog is at $changelog, VERSION at $version: add a changelog entry (dch -v $version)" >&2
	exit 1
fi

rm -rf "$out"
mkdir -p "$src"
(cd "$repo" && git ls-files --cached --others --exclude-standard) |
	while read -r f; do
		# a tracked file deleted in the work tree is not in the package
		[ -e "$repo/$f" ] && printf '%s\n' "$f"
	done | tar -C "$repo" -T - -cf - | tar -C "$src" -xf -

(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
	tail -n 30 "$out/build.log" >&2
	echo "deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
	exit 1
}
ls "$out"/*.deb
