#!/bin/bash
# run-in-guest.sh [REPO]: the selftest run inside the test VM (vm.sh
# boots it chrooted into the host's root, as root). Loads KVM with nested
# SVM and the crypto modules, inserts trustmig.ko, runs every
# kselftest-harness binary, then checks dmesg and that the module unloads.
# Raw TAP goes to $RESULTS/guest.tap (and the console); exit 1 if any
# test line is "not ok".
#
# REPO defaults to the directory above this script (the guest sees the
# host's paths unchanged). Overrides, forwarded by vm.sh from the host:
#   TRUSTMIG_BUILD         build dir (default REPO/build)
#   TRUSTMIG_KO            module to test (default REPO/trustmig.ko)
#   TRUSTMIG_TESTS         dir of *_test binaries (default BUILD/selftests)
#   TRUSTMIG_TEST_TIMEOUT  seconds per binary (default: selftests/settings,
#                          kselftest's per-test timeout; TCG is slow)
#   TRUSTMIG_RESULTS       results dir (default /run/trustmig-results)
#   TRUSTMIG_HANDSHAKE=0   skip the handshake tests (make fuzz-kernel,
#                          make check-debug)
#   TRUSTMIG_TRINITY_SECONDS  run trinity this long after the binaries
#                          (default 0: not at all; make fuzz-kernel)
set -euo pipefail

repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TRUSTMIG_BUILD:-$repo/build}
ko=${TRUSTMIG_KO:-$repo/trustmig.ko}
tests=${TRUSTMIG_TESTS:-$build/selftests}
per_test_timeout=${TRUSTMIG_TEST_TIMEOUT:-$(sed -n 's/^timeout=//p' "$repo/selftests/settings")}
results=${TRUSTMIG_RESULTS:-/run/trustmig-results}
tap=$results/guest.tap

mkdir -p "$results"
: >"$tap"
# The test binaries get the same view (e.g. a test that reloads the
# module needs its path). A binary that unloads the module must load it
# again before it exits: the final rmmod check expects it loaded.
export TRUSTMIG_REPO=$repo TRUSTMIG_BUILD=$build TRUSTMIG_KO=$ko

# Record a TAP line (and any "# " diagnostics after it) in the TAP file
# and on the console.
tap() { printf '%s\n' "$@" | tee -a "$tap"; }
diag() { sed 's/^/# /' | tee -a "$tap"; }
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
taint_before=$(cat /proc/sys/kernel/tainted)
mark "insmod $ko"
modname=$(modinfo -F name "$ko" 2>/dev/null) || modname=
[ -n "$modname" ] || { modname=$(basename "$ko" .ko); modname=${modname//-/_}; }
if ins_err=$(insmod "$ko" 2>&1); then
	ko_loaded=1
	tap "ok - insmod $(basename "$ko")"
else
	ko_loaded=
	tap "not ok - insmod $(basename "$ko")"
	diag <<<"$ins_err"
fi

# --- selftest binaries -----------------------------------------------------
# Each prints its own TAP, kept raw. A binary's exit code says what its
# TAP cannot: 0 pass, 1 fail (KSFT_FAIL), 4 skip (KSFT_SKIP); anything
# else means it crashed or was killed and its TAP is cut short.
run_one() {
	local t=$1 name out rc nfail nres plan start
	name=$(basename "$t")
	out=$(mktemp)
	mark "run $name"
	echo "# ---- $name" | tee -a "$tap"
	start=$SECONDS
	set +e
	(cd "$(dirname "$t")" && exec timeout -k 10 "$per_test_timeout" "$t") \
		</dev/null 2>&1 | tee -a "$tap" "$out"
	rc=${PIPESTATUS[0]}
	set -e
	echo "# ---- $name: exit $rc after $((SECONDS - start))s" | tee -a "$tap"
	nfail=$(grep -cE '^(not ok|Bail out!)' "$out" || true)
	nres=$(grep -cE '^(not )?ok\b' "$out" || true)
	plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$out" | head -n1)
	rm -f "$out"
	case $rc in
	0 | 4) ;;
	1) [ "$nfail" -gt 0 ] ||
		tap "not ok - $name: exit 1 without a failing test line" ;;
	124 | 137) tap "not ok - $name: timeout after ${per_test_timeout}s (exit $rc)"; return ;;
	*)
		if [ "$rc" -gt 128 ]; then
			tap "not ok - $name: crashed (exit $rc, SIG$(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
		else
			tap "not ok - $name: crashed (exit $rc)"
		fi
		return
		;;
	esac
	# Short of its plan with no failure reported: it died quietly.
	if [ -n "$plan" ] && [ "$nres" -lt "$plan" ] && [ "$nfail" -eq 0 ]; then
		tap "not ok - $name: ran $nres of $plan planned tests"
	fi
}

if [ ! -d "$tests" ]; then
	tap "not ok - selftests: no directory $tests"
else
	mapfile -t bins < <(find "$tests" -maxdepth 1 -type f -name '*_test' -perm -u+x | LC_ALL=C sort)
	if [ ${#bins[@]} -eq 0 ]; then
		tap "not ok - selftests: no executable *_test in $tests"
	fi
	for t in "${bins[@]}"; do
		run_one "$t"
	done
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

if [ -n "$ko_loaded" ]; then
	# Judge the unload on its own: flags set earlier were reported above.
	taint_before=$(cat /proc/sys/kernel/tainted)
	mark "rmmod $modname"
	if rm_err=$(timeout 60 rmmod "$modname" 2>&1) && [ ! -d "/sys/module/$modname" ]; then
		tap "ok - rmmod $modname"
	else
		tap "not ok - rmmod $modname"
		diag <<<"${rm_err:-still in /sys/module}"
	fi
	check_dmesg " after rmmod" "rmmod $modname"
	check_taint " after rmmod"
fi

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
