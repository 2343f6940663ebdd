#!/bin/bash
# summarize.sh TAPFILES...: count the test results in TAP files as 6.1's
# kselftest.h / kselftest_harness.h print them, plus the synthetic lines
# our scripts add ("ok - ...", "not ok - ..."). Lists failures and skip
# reasons, ends with exactly one line "N passed, N failed[, N skipped]",
# and exits 1 if anything failed or nothing ran at all.
#
# Counted (only lines starting in column 0; the harness puts diagnostics,
# "#  RUN", "#  OK", "# Totals" and TH_LOG output behind "#", and nested
# TAP is indented):
#   ok N desc                 passed
#   ok N # XFAIL desc         passed (an expected failure)
#   ok N # SKIP reason        skipped (the harness prints no test name
#                             here: it is taken from the "#  RUN" line)
#   1..0 # SKIP reason        skipped (a whole binary, ksft_exit_skip)
#   not ok N desc             failed (also "not ok N # error ...")
#   Bail out! reason          failed (ksft_exit_fail_msg)
# A TAP stream (from a "TAP version" line, or around a plan) that reports
# fewer results than its plan and no failure counts as one failure: the
# binary died without saying so. The plan may lead ("1..N" first, as
# kselftest prints it) or trail (after the results, as TAP also allows).
# Numbered results are matched against the plan when there are any, so
# our unnumbered synthetic lines ("ok - dmesg: ...") never are.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 TAPFILES..." >&2; exit 2; }
for f in "$@"; do
	[ -r "$f" ] || { echo "summarize: cannot read $f" >&2; exit 2; }
done

awk '
function counted() { return nnum > 0 ? nnum : nres }
function endblock() {
	if (plan > 0 && counted() < plan && !bfail) {
		failed++
		fails = fails sprintf("FAIL %s: only %d of %d planned tests reported (%s)\n",
				      FILENAME_prev, counted(), plan, planline)
	}
	plan = -1; nres = 0; nnum = 0; bfail = 0
}
function result() { nres++; if ($0 ~ /^(not )?ok [0-9]/) nnum++ }
FNR == 1 { if (NR > 1) endblock(); FILENAME_prev = FILENAME; runname = ""; plan = -1 }
{ sub(/\r$/, "") }
/^TAP version/ { endblock(); next }
/^1\.\.[0-9]+/ {
	n = substr($0, 4) + 0
	if (plan < 0 && counted() > 0) {
		# Trailing plan: it closes the results before it.
		plan = n; planline = $0
		endblock()
		next
	}
	endblock()
	plan = n; planline = $0
	if (plan == 0 && $0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) {
		skipped++
		r = $0; sub(/^[^#]*#[ \t]*[Ss][Kk][Ii][Pp][ \t]*/, "", r)
		skips = skips sprintf("SKIP %s: all tests: %s\n", FILENAME, r)
	}
	next
}
/^#  RUN / { runname = $3; next }
/^Bail out!/ {
	failed++; bfail = 1
	fails = fails sprintf("FAIL %s: %s\n", FILENAME, $0)
	next
}
/^not ok($|[ \t])/ {
	failed++; result(); bfail = 1
	fails = fails sprintf("FAIL %s: %s%s\n", FILENAME, $0,
			      (runname != "" && $0 ~ /^not ok [0-9]+ # error/) ? " (" runname ")" : "")
	next
}
/^ok($|[ \t])/ {
	result()
	if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]([ \t]|$)/) {
		skipped++
		desc = $0; sub(/^ok[ \t]*[0-9]*[ \t]*(-[ \t]*)?/, "", desc); sub(/[ \t]*#.*/, "", desc)
		r = $0; sub(/^[^#]*#[ \t]*[Ss][Kk][Ii][Pp][ \t]*/, "", r)
		if (desc == "") desc = (runname != "") ? runname : "?"
		skips = skips sprintf("SKIP %s: %s: %s\n", FILENAME, desc, r)
	} else {
		passed++
	}
	next
}
END {
	if (NR > 0) endblock()
	printf "%s%s", skips, fails
	line = sprintf("%d passed, %d failed", passed, failed)
	if (skipped > 0) line = line sprintf(", %d skipped", skipped)
	print line
	if (failed > 0) exit 1
	if (passed + skipped == 0) {
		print "summarize: no test ran at all" > "/dev/stderr"
		exit 1
	}
}
' "$@"
