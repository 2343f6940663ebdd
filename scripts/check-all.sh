#!/bin/bash
# check-all.sh: the test part of make check (style and sparse ran before
# it). Runs the formal model's lint (scripts/proof.sh --lint), the
# userspace tests, make install's test (scripts/install-test.sh), the
# guest selftests and the two-host tests on the
# stock kernel, each even when an earlier one fails; beside the guest
# tests, the guest selftests on the debug kernel (scripts/check-debug.sh,
# which builds that kernel on first use); then summarizes every TAP file
# in $BUILD/results; the exit status is the summary's.
#
# CHECK_DEBUG=0 leaves the debug kernel out (recorded as a skip).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
BUILD=${BUILD:-$repo/build}
results=$BUILD/results

mkdir -p "$results"
# One check at a time per results dir (see check.sh, which we tell that
# we hold the lock). Children get fd 7 closed, so no daemon they leave
# behind can keep the lock.
exec 7<"$results"
if ! flock -n 7; then
	echo "check-all: $results is in use by another check; waiting" >&2
	flock 7
fi
export CHECK_RESULTS_LOCKED=1
# Results of an earlier run must not count.
rm -f "$results"/*.tap

# run TARGET TAP: make TARGET; if it fails without leaving a failing test
# line in TAP (e.g. a build error), record the failure in make.tap.
run() {
	local target=$1 tapf=$results/$2 rc=0
	echo "== make $target"
	# BUILD on the command line: make's own default would ignore ours.
	SUMMARY=0 make -C "$repo" --no-print-directory "$target" BUILD="$BUILD" 7<&- || rc=$?
	if [ "$rc" -ne 0 ] && ! grep -qs '^not ok' "$tapf"; then
		echo "not ok - make $target: exit $rc (no failing test reported; see the output above)" \
			>>"$results/make.tap"
	fi
}

# Everything is built once, before anything runs beside anything else.
run all make.tap

# The host's own tests first (a minute): their daemons on loopback answer
# within timeouts that a loaded machine has been seen to miss.
run check-proof proof.tap
run check-user user.tap
run check-fuzz fuzz.tap
run check-install install.tap
run check-man man.tap
run check-systemd systemd.tap
run check-deb deb.tap

# Each guest mostly keeps one TCG thread busy: the debug kernel's run
# goes beside the rest on a second core (and its first-time kernel build
# on both).
debug_log=$results/check-debug.log
if [ "${CHECK_DEBUG:-1}" = 0 ]; then
	echo "ok - debug kernel # SKIP CHECK_DEBUG=0" >"$results/guest-debug.tap"
else
	echo "== scripts/check-debug.sh, in the background (log: $debug_log)"
	(
		rc=0
		SUMMARY=0 "$here/check-debug.sh" 7<&- || rc=$?
		if [ "$rc" -ne 0 ] && ! grep -qs '^not ok' "$results/guest-debug.tap"; then
			echo "not ok - check-debug: exit $rc (no failing test reported; see $debug_log)" \
				>>"$results/guest-debug.tap"
		fi
	) >"$debug_log" 2>&1 7<&- &
	debug_pid=$!
fi

run check-guest guest.tap
run check-twohost twohost.tap

if [ -n "${debug_pid:-}" ]; then
	echo "== waiting for the debug kernel's run"
	wait "$debug_pid" || true
	cat "$debug_log"
fi

echo "== stock kernel (guest, two hosts)"
"$here/summarize.sh" "$results/guest.tap" "$results/twohost.tap" | tail -n 1 || true
echo "== debug kernel (guest)"
"$here/summarize.sh" "$results/guest-debug.tap" | tail -n 1 || true
echo "== summary"
exec "$here/summarize.sh" "$results"/*.tap
