#!/bin/bash
# sparse.sh: build the module in the current directory (the repo root)
# with sparse forced on every file (C=2) and fail if sparse, or the
# compiler, reported anything about this repo's own files. Warnings inside
# kernel headers are not ours to fix and are ignored.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
KVER=${KVER:-$("$here/kver.sh")}
KDIR=${KDIR:-/usr/src/linux-headers-$KVER}
src=$PWD

command -v sparse >/dev/null || { echo "sparse: 'sparse' not installed (run scripts/setup-deps.sh)" >&2; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# C=2 re-checks files even when their objects are up to date, so a second
# run still reports everything.
rc=0
make -C "$KDIR" M="$src" C=2 modules >"$log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	cat "$log"
	echo "sparse: build failed (make exit $rc)"
	exit 1
fi

# Kbuild names out-of-tree files by absolute path ($src/kmod/x.c); accept
# repo-relative names too. Sparse prints the "expected/got" details of a
# type warning as further lines with the same file:line: prefix, and gcc
# adds "In function" / "note:" lines: keep every line about our files.
problems=$(awk -v src="$src/" '
	index($0, src) == 1 { print; next }
	/^(kmod|uapi|user|selftests)\/[^:]*:/ { print }
' "$log")

if [ -n "$problems" ]; then
	printf '%s\n' "$problems"
	echo "sparse: $(grep -cE ':[0-9]+:([0-9]+:)? *(warning|error):' <<<"$problems") warning(s)/error(s) in this repo's files"
	exit 1
fi
echo "sparse: clean"
