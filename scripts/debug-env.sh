# shellcheck shell=bash
# debug-env.sh: sourced by check-debug.sh and fuzz-kernel.sh (which set
# here, repo and BUILD).  Builds or reuses the debug kernel
# (debug-kernel.sh) and builds trustmig.ko against it, with gcov (line
# coverage) and debug info (addr2line), and the selftests' modules; sets
# kver, mod (the module's build dir), next_ko (version_test's module) and
# debug_append (the guest's extra command line).

read -r kver kdir < <("$here/debug-kernel.sh")

# Kbuild writes objects next to the sources: build a copy, so the stock
# trustmig.ko in the checkout stays what it is.
mod=$BUILD/debug/module
mkdir -p "$mod"
rsync -a --delete --exclude '*.o' --exclude '*.ko' --exclude '*.mod*' \
	--exclude '.*.cmd' --exclude '*.gcno' --exclude '*.gcda' \
	--exclude modules.order --exclude Module.symvers \
	"$repo/Kbuild" "$repo/VERSION" "$repo/kmod" "$repo/uapi" "$mod/"
make -s -C "$kdir" M="$mod" GCOV_PROFILE=y KCFLAGS=-g modules
# The selftests' own modules, for this kernel too.
make -s -C "$repo/selftests" modules KDIR="$kdir" MODOUT="$BUILD/debug/selftests-modules"

# shellcheck disable=SC2034
next_ko=$BUILD/debug/selftests-modules/trustmig_next.ko

# Any warning is a panic.  no5lvl: with -cpu max's LA57, an interrupt
# early in boot has been seen to trip KASAN (wild-memory-access in the
# IRQ path, before trustmig).  nokaslr: KCOV reports PCs minus the
# kernel's KASLR offset; without one they are the module's addresses.
# pci=noacpi: this slow a kernel runs QEMU's PCI _PRT method into ACPI's
# 30 s loop timeout three times per boot; the BIOS's table routes IRQs.
# shellcheck disable=SC2034
debug_append="panic_on_warn=1 kasan.fault=panic no5lvl nokaslr pci=noacpi"

# coverage LABEL NAME: the TAP line for line coverage of kmod/*.c from
# the gcov data of results/NAME (report in results/NAME/coverage.txt).
coverage() {
	local label=$1 name=$2 results=$BUILD/results report
	report=$results/$name/coverage.txt
	if "$here/coverage.sh" "$results/$name/gcov" "$mod" >"$report"; then
		echo "ok - line coverage of kmod/*.c by $label: $(tail -n 1 "$report") (lines missed: $report)" \
			>>"$results/$name.tap"
	else
		echo "not ok - line coverage of kmod/*.c by $label: no gcov data (see $report)" \
			>>"$results/$name.tap"
		return 1
	fi
}
