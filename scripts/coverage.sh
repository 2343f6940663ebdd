#!/bin/bash
# coverage.sh GCDA_DIR MODULE_DIR: line coverage of kmod/*.c from the gcov
# data a debug-kernel guest run left (run-in-guest.sh copies the
# module's .gcda files out of /sys/kernel/debug/gcov) and the .gcno files
# the GCOV_PROFILE=y build of trustmig.ko left in MODULE_DIR.  Prints one
# line per file, the uncovered lines (file:line), and a closing
# "coverage: N of M lines (P%)" line; exits 1 without data.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 GCDA_DIR MODULE_DIR" >&2; exit 2; }
gcda_dir=$1 mod=$2

mapfile -t gcdas < <(find "$gcda_dir" -name '*.gcda' -path '*/kmod/*' 2>/dev/null | sort)
[ ${#gcdas[@]} -gt 0 ] || { echo "coverage: no .gcda under $gcda_dir" >&2; exit 1; }
for f in "${gcdas[@]}"; do
	cp "$f" "$mod/kmod/"
done

# gcov's text form: "count:line:source", count "-" (no code), "#####" or
# "=====" (never run), or a number.  Only kmod/*.c's own lines count,
# not the kernel headers' inline functions gcov also annotates.
cd "$mod"
for c in kmod/*.c; do
	gcov -t -o kmod "$c" 2>/dev/null
done | awk '
/^ *-: *0:Source:/ {
	sub(/^.*Source:/, ""); file = $0
	mine = (file ~ /(^|\/)kmod\/[^\/]*\.c$/)
	sub(/^.*\/kmod\//, "kmod/", file)
	next
}
!mine { next }
{
	split($0, f, ":")
	count = f[1]; gsub(/ /, "", count)
	line = f[2] + 0
	if (count == "-" || line == 0 || seen[file, line]++) next
	total[file]++; all++
	if (count ~ /^(#####|=====)$/) { missed = missed sprintf("  %s:%d\n", file, line) }
	else { hit[file]++; allhit++ }
}
END {
	if (all == 0) { print "coverage: no lines" > "/dev/stderr"; exit 1 }
	for (file in total)
		printf "%-16s %4d of %4d lines (%.1f%%)\n", file, hit[file], total[file], 100 * hit[file] / total[file]
	if (missed != "") printf "uncovered:\n%s", missed
	printf "coverage: %d of %d lines (%.1f%%)\n", allhit, all, 100 * allhit / all
}'
