#!/bin/bash
# check-debug.sh: the guest selftests again, on the debug kernel
# (scripts/debug-kernel.sh: KASAN, KFENCE, lockdep, kmemleak, UBSAN, KCOV,
# fault injection), with trustmig.ko built against that kernel (and gcov,
# for line coverage) and any warning turned into a panic.  TAP in
# $BUILD/results/guest-debug.tap, ending with the line coverage of
# kmod/*.c (scripts/coverage.sh; report in guest-debug/coverage.txt).
# Builds the debug kernel on first use (cached outside the clone).
# SUMMARY=0 skips the closing summary (check-all.sh prints its own).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
BUILD=${BUILD:-$repo/build}
# shellcheck source=scripts/debug-env.sh
. "$here/debug-env.sh"

# Instruction counts mean nothing on a kernel this noisy: no tmcount.
# Everything runs several times slower: longer per-binary timeouts, no
# handshake tests (5 minutes of TPM work here; their kernel side, key
# install and a migration, is what the selftests do on this kernel too),
# and lanes_test's adversary tries each fault once (the stock kernel's
# run has the spread; this one has lockdep and KASAN watching).
rc=0
KVER=$kver TRUSTMIG_KO=$mod/trustmig.ko TRUSTMIG_NEXT_KO=$next_ko CHECK_NAME=guest-debug \
	TRUSTMIG_VM_APPEND=$debug_append TRUSTMIG_VM_PLUGIN=0 TRUSTMIG_HANDSHAKE=0 \
	TRUSTMIG_ADVERSARY_RUNS=9 SUMMARY=0 "$here/check.sh" || rc=$?
coverage "the suite" guest-debug || rc=1

[ "${SUMMARY:-1}" = 0 ] && exit "$rc"
echo "== guest-debug selftests"
exec "$here/summarize.sh" "$BUILD/results/guest-debug.tap"
