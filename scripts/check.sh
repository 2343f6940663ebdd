#!/bin/bash
# check.sh: run the selftests in the test VM (make check-guest builds the
# module and the tests first; this script builds nothing). Leaves the TAP
# in $BUILD/results/guest.tap and the VM's files in $BUILD/results/guest/.
# A guest that never reported an exit code (panic, hang, broken init) is
# written into the TAP as a failure, so it cannot pass unnoticed.
#
# Environment: TRUSTMIG_VM_TIMEOUT (default: room for boot and every test
# binary to use its whole TRUSTMIG_TEST_TIMEOUT), TRUSTMIG_VM_MEM,
# TRUSTMIG_VM_SMP, TRUSTMIG_VM_APPEND (extra kernel command line),
# TRUSTMIG_VM_PLUGIN=0 (no tmcount: count_test then skips);
# TRUSTMIG_* variables reach run-in-guest.sh (see there). KVER picks the
# kernel (vm.sh). CHECK_NAME names the TAP and the results dir (default
# guest; check-debug.sh uses guest-debug).
# SUMMARY=0 skips the closing summary (check-all.sh prints its own).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
BUILD=${BUILD:-$repo/build}
results=$BUILD/results
name=${CHECK_NAME:-guest}
out=$results/$name
tap=$results/$name.tap

mkdir -p "$results"
# Several people may run checks in one tree: hold the results dir for the
# whole run so no other check wipes or rewrites it under us (check-all.sh
# already holds it when it calls us). Children get fd 7 closed, so no
# daemon they leave behind can keep the lock.
if [ -z "${CHECK_RESULTS_LOCKED:-}" ]; then
	exec 7<"$results"
	if ! flock -n 7; then
		echo "check: $results is in use by another check; waiting" >&2
		flock 7
	fi
fi
rm -f "$tap"

# run-in-guest.sh finds the build dir through this (vm.sh forwards it).
export TRUSTMIG_BUILD=$BUILD
# version_test's module of the next netlink version, for the same kernel.
export TRUSTMIG_NEXT_KO=${TRUSTMIG_NEXT_KO:-$BUILD/selftests/modules/trustmig_next.ko}
# The guest runs under tmcount, the benchmarks' plugin, so that
# count_test checks it; the test reads its windows at this guest path.
plugin=()
if [ "${TRUSTMIG_VM_PLUGIN:-1}" != 0 ]; then
	export TRUSTMIG_COUNT_LOG=/run/trustmig-results/count.log
	plugin=(--plugin "$BUILD/bench/tmcount.so,out=$out/count.log")
fi

# The VM's deadline must not cut the per-binary timeouts short, or a hung
# test would cost us the dmesg and rmmod checks that follow it.
# Per binary: kselftest's settings file, unless the caller says otherwise.
nbins=$(if [ -n "${TRUSTMIG_TESTS:-}" ]; then wc -w <<<"$TRUSTMIG_TESTS"; else wc -l <"$BUILD/kselftest/kselftest-list.txt"; fi)
export TRUSTMIG_TEST_TIMEOUT=${TRUSTMIG_TEST_TIMEOUT:-$(sed -n 's/^timeout=//p' "$repo/selftests/settings")}
vm_timeout=${TRUSTMIG_VM_TIMEOUT:-$((300 + nbins * TRUSTMIG_TEST_TIMEOUT))}

vmrc=0
"$here/vm.sh" --run "$repo/selftests/run-in-guest.sh" --out "$out" --arg "$repo" \
	--timeout "$vm_timeout" --mem "${TRUSTMIG_VM_MEM:-1024}" \
	--smp "${TRUSTMIG_VM_SMP:-1}" ${TRUSTMIG_VM_APPEND:+--append "$TRUSTMIG_VM_APPEND"} \
	"${plugin[@]}" 7<&- || vmrc=$?

if [ -f "$out/guest.tap" ]; then
	cp "$out/guest.tap" "$tap"
else
	: >"$tap"
fi
guestrc=$(cat "$out/exitcode" 2>/dev/null) || guestrc=
if [ -z "$guestrc" ]; then
	case $vmrc in
	124) why="timed out" ;;
	*) why="no exit code (vm.sh exit $vmrc: kernel panic or init failure?)" ;;
	esac
	echo "not ok - guest boot: $why; see $out/console.log" >>"$tap"
elif [ "$guestrc" -ne 0 ] && ! grep -q '^not ok' "$tap"; then
	echo "not ok - guest: run-in-guest.sh exited $guestrc without a failing test line; see $out/guest.log" >>"$tap"
fi

if [ "${SUMMARY:-1}" = 0 ]; then
	# Still fail make check-guest when the guest did.
	if grep -q '^not ok' "$tap"; then exit 1; fi
	exit 0
fi
echo "== $name selftests"
exec "$here/summarize.sh" "$tap"
