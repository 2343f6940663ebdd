#!/bin/bash
# fuzz-kernel.sh: make fuzz-kernel.  On the debug kernel (as check-debug.sh
# builds it), with trustmig.ko loaded: selftests/fuzz_test for SECONDS
# (default 3600), then trinity for TRINITY_SECONDS (default 600) as an
# unprivileged user in group kvm; then the suite's kernel-log, taint,
# rmmod and kmemleak checks, and the line coverage of kmod/*.c by the
# fuzzer alone.  SEED replays a run (it prints its seed), THREADS sets
# the fuzzer's threads.  TAP in $BUILD/results/fuzz-kernel.tap.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
BUILD=${BUILD:-$repo/build}
secs=${SECONDS_TO_FUZZ:-3600}
trinity_secs=${TRINITY_SECONDS:-600}
# shellcheck source=scripts/debug-env.sh
. "$here/debug-env.sh"

# The fuzzer alone, of the kselftests.
[ -z "${SEED:-}" ] || export TRUSTMIG_FUZZ_SEED=$SEED
[ -z "${THREADS:-}" ] || export TRUSTMIG_FUZZ_THREADS=$THREADS
KVER=$kver TRUSTMIG_KO=$mod/trustmig.ko CHECK_NAME=fuzz-kernel \
	TRUSTMIG_VM_APPEND=$debug_append TRUSTMIG_VM_PLUGIN=0 \
	TRUSTMIG_TESTS=fuzz_test TRUSTMIG_HANDSHAKE=0 \
	TRUSTMIG_FUZZ_SECONDS=$secs TRUSTMIG_TRINITY_SECONDS=$trinity_secs \
	TRUSTMIG_TEST_TIMEOUT=$((secs + 600)) \
	TRUSTMIG_VM_TIMEOUT=$((secs + trinity_secs + 1500)) \
	SUMMARY=0 "$here/check.sh" || true
# Failures are in the TAP: the summary's exit status is the script's.
coverage "the fuzzer" fuzz-kernel || true

echo "== fuzz-kernel"
exec "$here/summarize.sh" "$BUILD/results/fuzz-kernel.tap"
