#!/bin/sh
# Print the ABI name (e.g. 6.1.0-56-amd64) of the kernel that Debian's
# linux-image-amd64 metapackage currently pulls in. Never hard-code it.
set -e
dep=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null) || {
	echo "kver: linux-image-amd64 is not installed (run scripts/setup-deps.sh)" >&2
	exit 1
}
v=$(printf '%s\n' "$dep" | tr ',' '\n' | sed -n 's/^ *linux-image-\([^ ]*\).*/\1/p' | head -n1)
[ -n "$v" ] || { echo "kver: cannot parse '$dep'" >&2; exit 1; }
printf '%s\n' "$v"
