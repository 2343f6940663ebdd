#!/bin/bash
# run-in-guest.sh REPO: the benchmarks inside the benchmark guest (make
# bench boots it through bench/run.sh with the tmcount plugin and
# -icount): sealing against its floors (sealbench), then live migrations
# with trustmig.ko and with the copy-only build (migbench).  Results go to
# the results share as JSON; run.sh turns them into the table.  With
# TRUSTMIG_BENCH_PART=lanes (a second boot, several vCPUs, no -icount):
# lanebench alone, timed.
#
# Forwarded by vm.sh from the host (defaults in bench/run.sh):
#   TRUSTMIG_COUNT_LOG     the plugin's windows, as the guest sees them
#   TRUSTMIG_BENCH_PAGES   N for sealbench
#   TRUSTMIG_BENCH_RUNS    runs of every measurement
#   TRUSTMIG_BENCH_MEM     MiB of the migrated guest
#   TRUSTMIG_BENCH_RATES   dirty rates (pages/s of guest time), low high
set -euo pipefail

repo=$1
build=${TRUSTMIG_BUILD:-$repo/build}
bench=$build/bench
out=${TRUSTMIG_RESULTS:-/run/trustmig-results}
runs=${TRUSTMIG_BENCH_RUNS:-2}
read -r -a rates <<<"${TRUSTMIG_BENCH_RATES:-1000 10000}"

# shellcheck source=scripts/guest-setup.sh
. "$repo/scripts/guest-setup.sh"

step() { printf '\n### %s\n' "$*"; }

step "guest: $(uname -r), $(nproc) vCPU; $(cut -d' ' -f1 /proc/loadavg) load"
guest_load_kvm
echo "crypto: $(guest_load_crypto)"
# Background work only adds to windows: keep the guest quiet.
echo never >/sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || true
ip link set lo up
insmod "$repo/trustmig.ko"
if [ "${TRUSTMIG_BENCH_PART:-}" = lanes ]; then
	step "sealing and opening on 1 lane and on $(nproc), timed"
	"$bench/lanebench" -m "${TRUSTMIG_BENCH_MEM:-64}" -l "$(nproc)" \
		-r "${TRUSTMIG_BENCH_LANE_RUNS:-5}" -o "$out/lanes.json"
	step "done"
	exit 0
fi
insmod "$bench/kbuild/trustmig_bench.ko"

step "sealing: trustmig.ko against the raw AEAD transform"
"$bench/sealbench" -n "${TRUSTMIG_BENCH_PAGES:-256}" -r "$runs" \
	-o "$out/seal.json"

# migrations BUILD: every rate, $runs times, into mig-BUILD.jsonl
migrations() {
	local rate

	: >"$out/mig-$1.jsonl"
	for rate in "${rates[@]}"; do
		echo "$1, $rate pages/s:"
		"$bench/migbench" -v "$build/user/trustmig-vm" \
			-m "${TRUSTMIG_BENCH_MEM:-64}" -R "$rate" -r "$runs" |
			tee -a "$out/mig-$1.jsonl"
	done
}

step "live migrations through trustmig.ko (AES-256-GCM)"
migrations sealed
rmmod trustmig_bench trustmig

step "live migrations through the copy-only build"
copyonly=$bench/kbuild/copyonly/trustmig_copyonly.ko
# The build that sends pages in clear must refuse to load by default.
if insmod "$copyonly" 2>/dev/null; then
	echo "trustmig_copyonly loaded without bench_copy_only=1" >&2
	exit 1
fi
echo "trustmig_copyonly refused to load without bench_copy_only=1 (as it must)"
insmod "$copyonly" bench_copy_only=1
migrations copyonly
rmmod trustmig_copyonly

if dmesg | grep -qE 'WARNING:|BUG:|Oops|Call Trace'; then
	echo "kernel log has a splat:" >&2
	dmesg | tail -40 >&2
	exit 1
fi
step "done"
