#!/bin/bash
# run-in-guest.sh [REPO]: the selftest run inside the test VM (vm.sh
# boots it chrooted into the host's root, as root). Loads KVM with nested
# SVM and the crypto modules, then the trustmig.ko under test: by
# default trustmig's Debian packages are installed into a writable
# overlay of the root (selftests/packages.sh), DKMS builds the module and
# modprobe loads it, and the suite runs chrooted there, against the
# installed module and tools; with TRUSTMIG_KO, a build tree's module is
# loaded from its path and the build tree's tools are used.  The
# kselftests run through the kernel's runner (run_kselftest.sh, from the
# tree make -C selftests kselftest-install lays out), then the handshake
# tests, then dmesg, taint, unload (and the packages' removal) are
# checked.  Raw TAP goes to $RESULTS/guest.tap (and the console); exit 1
# if any test line is "not ok".
#
# REPO defaults to the directory above this script (the guest sees the
# host's paths unchanged). Overrides, forwarded by vm.sh from the host:
#   TRUSTMIG_BUILD         build dir (default REPO/build)
#   TRUSTMIG_KO            a build tree's module to test instead of the
#                          packages' (make check-debug, make fuzz-kernel)
#   TRUSTMIG_TESTS         which kselftests, by name (default: all)
#   TRUSTMIG_TEST_TIMEOUT  seconds per test (default: selftests/settings,
#                          kselftest's per-test timeout; TCG is slow)
#   TRUSTMIG_RESULTS       results dir (default /run/trustmig-results)
#   TRUSTMIG_HANDSHAKE=0   skip the handshake tests (make fuzz-kernel,
#                          make check-debug)
#   TRUSTMIG_TRINITY_SECONDS  run trinity this long after the binaries
#                          (default 0: not at all; make fuzz-kernel)
set -euo pipefail

repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TRUSTMIG_BUILD:-$repo/build}
ko=${TRUSTMIG_KO:-}
per_test_timeout=${TRUSTMIG_TEST_TIMEOUT:-$(sed -n 's/^timeout=//p' "$repo/selftests/settings")}
results=${TRUSTMIG_RESULTS:-/run/trustmig-results}
tap=$results/guest.tap

mkdir -p "$results"
: >"$tap"

# Record a TAP line (and any "# " diagnostics after it) in the TAP file
# and on the console.
tap() { printf '%s\n' "$@" | tee -a "$tap"; }
diag() { sed 's/^/# /' | tee -a "$tap"; }
check() {
	if [ "$2" = "$3" ]; then
		tap "ok - $1"
	else
		tap "not ok - $1: got [$2], want [$3]"
		return 1
	fi
}
mark() { echo "trustmig-selftest: $*" >/dev/kmsg; }

# shellcheck source=scripts/guest-setup.sh
. "$repo/scripts/guest-setup.sh"

# --- KVM with nested SVM -------------------------------------------------
mark "load kvm"
kvm_err=$(guest_load_kvm 2>&1) || true
nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null) || nested=absent
echo "# kvm_amd nested=$nested"
if [ -c /dev/kvm ] && [ "$nested" = 1 ]; then
	tap "ok - kvm: /dev/kvm present, kvm_amd nested=1"
else
	tap "not ok - kvm: /dev/kvm $([ -c /dev/kvm ] && echo present || echo missing), kvm_amd nested=$nested"
	[ -z "$kvm_err" ] || diag <<<"$kvm_err"
fi

# --- crypto --------------------------------------------------------------
mark "load crypto"
echo "# crypto modules: $(guest_load_crypto)"

# --- kmemleak (debug kernels) ----------------------------------------------
# What boot left unreferenced is not ours: forget it before the module
# loads, judge what is reported after it is gone.
kmemleak=/sys/kernel/debug/kmemleak
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
[ ! -w "$kmemleak" ] || echo clear >"$kmemleak"

# --- the module under test -------------------------------------------------
# The tests see it as run-in-guest.sh does: the installed one (modprobe,
# tools on $PATH) in the packages' root, or the build tree's. A test that
# unloads the module must load it again before it exits: the final
# unload check expects it loaded.
taint_before=$(cat /proc/sys/kernel/tainted)
ko_loaded=
in_root=()
unload=()
if [ -z "$ko" ]; then
	mark "install the packages"
	# shellcheck source=selftests/packages.sh
	. "$repo/selftests/packages.sh"
	if packages_install "$build/deb" "$results"; then
		out=$(pkg_in_root modprobe trustmig 2>&1)
		check "modprobe trustmig${out:+: $out}" "$(pkg_loaded)" yes &&
			ko_loaded=1
		in_root=(chroot "$PKG_ROOT" env -u TRUSTMIG_BUILD -u TRUSTMIG_KO)
		unload=(modprobe -r trustmig)
	fi
else
	mark "insmod $ko"
	export TRUSTMIG_BUILD=$build TRUSTMIG_KO=$ko
	unload=(rmmod trustmig)
	if ins_err=$(insmod "$ko" 2>&1); then
		ko_loaded=1
		tap "ok - insmod $(basename "$ko")"
	else
		tap "not ok - insmod $(basename "$ko")"
		diag <<<"$ins_err"
	fi
fi

# --- the kselftests ---------------------------------------------------------
# The kernel's runner, from a copy of the installed tree in the tests'
# root (its settings file holds the per-test timeout). Its output nests
# each test's TAP behind "# " and ends each with the runner's verdict on
# the exit code (0 pass, 4 skip, else fail, TIMEOUT); kept here as the
# tests' own TAP plus the runner's failures, so each result counts once.
kst=/run/trustmig-kselftest
rm -rf "${PKG_ROOT:-}$kst"
cp -a "$build/kselftest" "${PKG_ROOT:-}$kst"
sed -i "s/^timeout=.*/timeout=$per_test_timeout/" "${PKG_ROOT:-}$kst/trustmig/settings"
selected=()
for t in ${TRUSTMIG_TESTS:-}; do
	selected+=(-t "trustmig:$t")
done
if [ -n "$ko_loaded" ]; then
	mark "kselftests"
	"${in_root[@]}" "$kst/run_kselftest.sh" "${selected[@]}" </dev/null 2>&1 |
		awk '/^(TAP version|1\.\.)/ { print "# kselftest: " $0; next }
			/^# selftests: / { print "# ---- " substr($0, 14); next }
			/^# / { print substr($0, 3); next }
			/^ok [0-9]+ selftests: / { print "# ---- runner: ok " substr($0, index($0, "selftests: ") + 11); next }
			/^not ok [0-9]+ selftests: / { print "not ok - kselftest " substr($0, index($0, "selftests: ") + 11); next }
			{ print }' | tee -a "$tap"
else
	tap "not ok - kselftests: no module under test loaded"
fi

# --- the Trust_Token handshake against the real module -------------------
# On the host these tests skip key installation (no module there); here
# the keys land in trustmig.ko and session_check proves both ends hold
# the same ones by carrying a VM across with them.  Only the two tests
# that install keys run here: under TCG each takes ~40 s, and the
# refusals install nothing (they run on the host).
if [ -n "$ko_loaded" ] && [ "${TRUSTMIG_HANDSHAKE:-1}" != 0 ]; then
	mark "handshake tests"
	ip link set lo up
	echo "# ---- user/tests/run.sh keys (trustmig.ko loaded)" | tee -a "$tap"
	BIN=$build/user TAP=$results/handshake.tap \
		SESSION_CHECK=$build/selftests/session_check \
		timeout -k 10 "$per_test_timeout" "$repo/user/tests/run.sh" keys \
		</dev/null >/dev/null 2>&1 || hs_rc=$?
	if [ "${hs_rc:-0}" -ge 124 ]; then
		tap "not ok - handshake tests: killed after ${per_test_timeout}s (exit $hs_rc)"
	fi
	if [ -s "$results/handshake.tap" ]; then
		cat "$results/handshake.tap" >>"$tap"
		cat "$results/handshake.tap"
	else
		tap "not ok - handshake tests: no TAP (see $results)"
	fi
elif [ -n "$ko_loaded" ]; then
	tap "ok - handshake tests # SKIP TRUSTMIG_HANDSHAKE=0"
fi

# --- trinity ---------------------------------------------------------------
# Random system calls from outside: an unprivileged user in group kvm (so
# KVM, and trustmig's hooks in it, are in reach), in a scratch dir on the
# guest's tmpfs (the host's root is read-only here).  Passing means the
# kernel survived it: the log, taint and leak checks below judge.  Trinity
# stops at the first taint it sees; only the ones that mean a kernel bug
# count (the checks below use the same): others are set by design, e.g.
# fanotify's permission events taint with AUX ("may lead to deadlock").
trinity_secs=${TRUSTMIG_TRINITY_SECONDS:-0}
if [ "$trinity_secs" -gt 0 ]; then
	if ! command -v trinity >/dev/null; then
		tap "not ok - trinity: not installed (scripts/setup-deps.sh installs it)"
	else
		mark "trinity"
		scratch=$(mktemp -d /tmp/trinity.XXXXXX)
		chmod 1777 "$scratch"
		chgrp kvm /dev/kvm && chmod 660 /dev/kvm
		# Trinity takes one victim path: /dev/kvm's node is put in it
		# (a link it would not follow), so its KVM ioctls reach the
		# dirty-tracking hooks.
		mknod -m 660 "$scratch/kvm" c "$(stat -c '%t' /dev/kvm | xargs printf '%d')" \
			"$(stat -c '%T' /dev/kvm | xargs printf '%d')"
		chgrp kvm "$scratch/kvm"
		echo "# ---- trinity for ${trinity_secs}s as nobody:kvm" | tee -a "$tap"
		set +e
		(cd "$scratch" && exec timeout -k 30 "$trinity_secs" \
			setpriv --reuid=nobody --regid=nogroup \
			--groups="$(getent group kvm | cut -d: -f3)" \
			trinity -q -l off -C 2 -T BAD_PAGE,DIE,WARN,MACHINE_CHECK \
			-P PF_NETLINK -V "$scratch") </dev/null >"$results/trinity.log" 2>&1
		trc=$?
		set -e
		tail -n 5 "$results/trinity.log" | diag
		if [ "$trc" -eq 124 ] || [ "$trc" -eq 0 ]; then
			tap "ok - trinity: ${trinity_secs}s of random system calls, kernel alive"
		else
			tap "not ok - trinity: exit $trc before its ${trinity_secs}s (see $results/trinity.log)"
		fi
	fi
fi

# --- kernel log and taint ----------------------------------------------------
# Signatures of kernel splats: warnings, BUGs, oopses, sanitizers,
# refcount/lockdep/RCU reports, hung tasks, memory corruption.  Lockdep's
# and KASAN's reports start with WARNING:/BUG:; the bare words also occur
# in a debug kernel's boot banner ("RCU lockdep checking is enabled").
SPLAT='WARNING:|BUG:|kernel BUG|Oops|Call Trace|KASAN|UBSAN|KFENCE|refcount_t:|possible (recursive|circular) locking|inconsistent lock state|suspicious RCU usage|general protection fault|list_(add|del) corruption|stack-protector|blocked for more than|rcu_(sched|preempt) detected stall|soft lockup|hard LOCKUP|Kernel panic|double free|scheduling while atomic|sleeping function called from invalid context'

# check_dmesg LABEL [MARKER]: TAP line for the kernel log, all of it or
# only what follows the last MARKER line.
check_dmesg() {
	local label=$1 marker=${2:-} log hits
	log=$(dmesg)
	if [ -n "$marker" ]; then
		log=$(awk -v m="trustmig-selftest: $marker" 'index($0, m) { buf = ""; next } { buf = buf $0 "\n" } END { printf "%s", buf }' <<<"$log")
	fi
	# Fault injection's reports (faultinject_test) and the allocation
	# warnings they cause carry a stack by design: not splats.
	log=$(awk '/FAULT_INJECTION: forcing a failure|page allocation failure:|vmalloc error:/ { skip = 1 }
		!skip { print } skip && /<\/TASK>/ { skip = 0 }' <<<"$log")
	hits=$(grep -nE "$SPLAT" <<<"$log" || true)
	if [ -z "$hits" ]; then
		tap "ok - dmesg$label: no WARN/BUG/Oops/Call Trace/KASAN/refcount/lockdep splat"
	else
		tap "not ok - dmesg$label: $(wc -l <<<"$hits") splat line(s)"
		# From the first hit on, enough to see the backtrace.
		sed -n "${hits%%:*},+40p" <<<"$log" | diag
	fi
}

# Taint flags that only a kernel problem sets: B bad page, D died (oops),
# W warning, L soft lockup, M machine check. O/E (our unsigned
# out-of-tree module) are expected.
check_taint() {
	local label=$1 now bad
	now=$(cat /proc/sys/kernel/tainted)
	bad=$(((now & ~taint_before) & (32 | 128 | 512 | 16384 | 16)))
	if [ "$bad" -eq 0 ]; then
		tap "ok - taint$label: no new B/D/W/L/M flags (tainted=$now)"
	else
		tap "not ok - taint$label: kernel newly tainted (tainted=$now, was $taint_before)"
	fi
}

check_dmesg ""
check_taint ""
# The kernel hands trustmig.* words of its command line to the module.
unknown=$(dmesg | grep "trustmig: unknown parameter" || true)
if [ -z "$unknown" ]; then
	tap "ok - trustmig.ko was given no parameter it does not know"
else
	tap "not ok - trustmig.ko was given parameters it does not know"
	diag <<<"$unknown"
fi

if [ -n "$ko_loaded" ]; then
	# Judge the unload on its own: flags set earlier were reported above.
	taint_before=$(cat /proc/sys/kernel/tainted)
	mark "unload trustmig"
	if rm_err=$(timeout 60 "${in_root[@]}" "${unload[@]}" 2>&1) &&
		[ ! -d /sys/module/trustmig ]; then
		tap "ok - ${unload[*]}"
	else
		tap "not ok - ${unload[*]}"
		diag <<<"${rm_err:-still in /sys/module}"
	fi
	check_dmesg " after unload" "unload trustmig"
	check_taint " after unload"
fi
# Its checks are TAP lines; none may end the run.
[ -z "${PKG_ROOT:-}" ] || packages_remove "$results" || true

# Objects younger than kmemleak's minimum age (5 s) are not reported
# yet: scan, wait past it, scan again.
if [ -w "$kmemleak" ]; then
	echo scan >"$kmemleak"
	sleep 6
	echo scan >"$kmemleak"
	leaks=$(cat "$kmemleak")
	if [ -z "$leaks" ]; then
		tap "ok - kmemleak: no leak reported"
	else
		tap "not ok - kmemleak: $(grep -c '^unreferenced object' <<<"$leaks") leak(s)"
		head -n 80 <<<"$leaks" | diag
	fi
fi

# Line coverage: a debug kernel has gcov, and check-debug.sh builds the
# module with GCOV_PROFILE=y; its counters outlive rmmod.  The host
# side (scripts/coverage.sh) turns them into lines.
gcov=/sys/kernel/debug/gcov
if [ -d "$gcov" ]; then
	rm -rf "$results/gcov"
	mkdir -p "$results/gcov"
	(cd "$gcov" && find . -name '*.gcda' -exec cp --parents {} "$results/gcov/" \;)
fi

# The whole kernel log, for whoever debugs a failure on the host.
dmesg >"$results/dmesg.txt" 2>&1 || true

nfail=$(grep -c '^not ok' "$tap" || true)
echo "# run-in-guest: $nfail failing test line(s)"
[ "$nfail" -eq 0 ]
