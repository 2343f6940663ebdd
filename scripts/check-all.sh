#!/bin/bash
# check-all.sh: the test part of make check (style and sparse ran before
# it). Runs the formal model's lint (scripts/proof.sh --lint), the
# userspace tests and the guest selftests, each even when an earlier one
# fails, then summarizes every TAP file in $BUILD/results; the exit status
# is the summary's.
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

run check-proof proof.tap
run check-user user.tap
run check-guest guest.tap
run check-twohost twohost.tap

echo "== summary"
exec "$here/summarize.sh" "$results"/*.tap
