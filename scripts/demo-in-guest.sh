#!/bin/bash
# demo-in-guest.sh REPO: the data-path demo, inside the QEMU guest that
# scripts/demo.sh boots (Debian's kernel, the host's root over 9p).
set -euo pipefail

repo=$1
build=${TRUSTMIG_BUILD:-$repo/build}
# shellcheck source=scripts/guest-setup.sh
. "$repo/scripts/guest-setup.sh"

step() { printf '\n### %s\n' "$*"; }

step "guest: $(uname -r), $(nproc) vCPU, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
guest_load_kvm
echo "kvm_amd nested=$(cat /sys/module/kvm_amd/parameters/nested), /dev/kvm ready"
echo "crypto: $(guest_load_crypto)"
insmod "$repo/trustmig.ko"
echo "trustmig.ko loaded: $(dmesg | grep -m1 'trustmig: loaded' | sed 's/^\[[^]]*\] //')"

step "data path: a live guest's memory through trustmig.ko"
"$build/selftests/datapath_demo"

step "unloading trustmig.ko"
rmmod trustmig
if dmesg | grep -qE 'WARNING:|BUG:|Oops|Call Trace'; then
	echo "kernel log has a splat:" >&2
	dmesg | tail -40 >&2
	exit 1
fi
echo "unloaded; kernel log clean"
