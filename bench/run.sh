#!/bin/bash
# run.sh: make bench.  Boots the test kernel under QEMU with tmcount (the
# instruction-counting plugin) and -icount, runs bench/run-in-guest.sh in
# it (sealing against its floors, live migrations sealed and copy-only),
# runs the handshake against swtpm on this host, then prints one table
# and writes bench/results.json (bench/report.py).  docs/benchmarks.md
# explains the figures.
#
# Environment (defaults): TRUSTMIG_BENCH_PAGES (256) pages N of the
# sealing runs, TRUSTMIG_BENCH_RUNS (2) runs of every measurement,
# TRUSTMIG_BENCH_MEM (64) MiB of the migrated guest, TRUSTMIG_BENCH_RATES
# ("1000 10000") its low and high dirty rates in pages per second of
# guest time, BUILD.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
BUILD=${BUILD:-$repo/build}
out=$BUILD/bench-results
export TRUSTMIG_BUILD=$BUILD
export TRUSTMIG_BENCH_PAGES=${TRUSTMIG_BENCH_PAGES:-256}
export TRUSTMIG_BENCH_RUNS=${TRUSTMIG_BENCH_RUNS:-2}
export TRUSTMIG_BENCH_MEM=${TRUSTMIG_BENCH_MEM:-64}
export TRUSTMIG_BENCH_RATES=${TRUSTMIG_BENCH_RATES:-1000 10000}
# The results share as the guest sees it (vm.sh mounts it there).
export TRUSTMIG_COUNT_LOG=/run/trustmig-results/count.log

# Guest time advances 1 ns per instruction (-icount shift=0): timer
# interrupts, dirty rates and timeouts follow the instructions executed,
# not how fast this host emulates them, so runs repeat.
echo "bench: booting the benchmark guest (tmcount, -icount shift=0)" >&2
"$repo/scripts/vm.sh" --run "$here/run-in-guest.sh" --arg "$repo" \
	--out "$out" --mem 1024 --timeout 7200 --icount 0 \
	--plugin "$BUILD/bench/tmcount.so,out=$out/count.log"
cat "$out/guest.log"

# Parallel speed is a matter of time, not instructions: lanes are timed
# in a guest of 2 vCPUs on 2 host threads, without -icount or plugin.
echo "bench: booting the lanes guest (2 vCPUs, multi-threaded TCG)" >&2
TRUSTMIG_BENCH_PART=lanes "$repo/scripts/vm.sh" --run "$here/run-in-guest.sh" \
	--arg "$repo" --out "$out/lanes" --mem 1024 --smp 2 --timeout 3600
cat "$out/lanes/guest.log"

echo "bench: handshake against swtpm on this host, $TRUSTMIG_BENCH_RUNS runs" >&2
: >"$out/handshake.jsonl"
for _ in $(seq "$TRUSTMIG_BENCH_RUNS"); do
	HS_COST_OUT=$out/handshake.jsonl BIN=$BUILD/user TAP=/dev/null \
		"$repo/user/tests/run.sh" "the TPM commands of protocol.md" >"$out/handshake.log" ||
		{ cat "$out/handshake.log" >&2; exit 1; }
done

commit=$(git -C "$repo" rev-parse --short HEAD)
git -C "$repo" diff --quiet HEAD -- kmod uapi user bench selftests || commit=$commit-dirty
python3 "$here/report.py" "$out" "$repo/bench/results.json" "$commit"
