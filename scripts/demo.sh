#!/bin/bash
# demo.sh: make demo.  Boots Debian's kernel in QEMU and runs the
# data-path demo in it (scripts/demo-in-guest.sh).  The end-to-end
# migration between two attested hosts will take its place.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
BUILD=${BUILD:-$repo/build}
export TRUSTMIG_BUILD=$BUILD

echo "trustmig demo: booting Debian's $(scripts/kver.sh 2>/dev/null || true) kernel under QEMU (TCG, nested KVM)..."
rc=0
"$here/vm.sh" --run "$here/demo-in-guest.sh" --arg "$repo" \
	--out "$BUILD/demo" --timeout 900 --mem 1024 || rc=$?
# The guest's own output, without the kernel's console noise.
cat "$BUILD/demo/guest.log" 2>/dev/null || true
if [ "$rc" -ne 0 ]; then
	echo "demo: FAILED (exit $rc); console log: $BUILD/demo/console.log" >&2
	exit "$rc"
fi
echo
echo "demo: done"
