#!/bin/bash
# check-debug.sh: the guest selftests again, on the debug kernel
# (scripts/debug-kernel.sh: KASAN, KFENCE, lockdep, kmemleak, UBSAN, KCOV,
# fault injection), with trustmig.ko built against that kernel and any
# warning turned into a panic.  TAP in $BUILD/results/guest-debug.tap.
# Builds the debug kernel on first use (cached outside the clone).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
BUILD=${BUILD:-$repo/build}

read -r kver kdir < <("$here/debug-kernel.sh")

# Kbuild writes objects next to the sources: build a copy, so the stock
# trustmig.ko in the checkout stays what it is.
mod=$BUILD/debug/module
mkdir -p "$mod"
rsync -a --delete --exclude '*.o' --exclude '*.ko' --exclude '*.mod*' \
	--exclude '.*.cmd' --exclude modules.order --exclude Module.symvers \
	"$repo/Kbuild" "$repo/kmod" "$repo/uapi" "$mod/"
make -s -C "$kdir" M="$mod" modules

# Instruction counts mean nothing on a kernel this noisy: no tmcount.
# Everything runs several times slower: longer per-binary timeouts.
# no5lvl: with -cpu max's LA57, an interrupt early in boot has been seen
# to trip KASAN (wild-memory-access in the IRQ path, before trustmig).
KVER=$kver TRUSTMIG_KO=$mod/trustmig.ko CHECK_NAME=guest-debug \
	TRUSTMIG_VM_APPEND="panic_on_warn=1 kasan.fault=panic no5lvl" \
	TRUSTMIG_VM_PLUGIN=0 TRUSTMIG_TEST_TIMEOUT=${TRUSTMIG_TEST_TIMEOUT:-900} \
	exec "$here/check.sh"
