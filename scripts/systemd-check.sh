#!/bin/bash
# systemd-check.sh TAP: the systemd units of trustmigd and of IMA's
# policy (user/systemd/) as systemd 252 sees them: systemd-analyze
# verify, the pages its Documentation= names, systemd-analyze security's
# exposure score, and (only where PID 1 is systemd) the unit started,
# reloaded and stopped for real.  TAP to TAP and stdout.
#
# BUILD (default build/) holds the tools, as for make: $BUILD/user/trustmigd
# is the daemon the unit is verified with, $BUILD/man the man pages.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tap=$1
: >"$tap"
BUILD=${BUILD:-$repo/build}
unit=$repo/user/systemd/trustmigd.service
ima_unit=$repo/user/systemd/trustmig-ima.service
daemon=$BUILD/user/trustmigd
mandir=$BUILD/man
# Just above the score the unit reaches (2.0: root, host network, netlink,
# CAP_NET_ADMIN, the TPM device; see the unit's comments): a change that
# weakens the sandbox fails here.
threshold=2.1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/trustmig-systemd.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

n=0
say() { echo "$*" | tee -a "$tap"; }
ok() { n=$((n + 1)); say "ok $n - systemd: $1"; }
fail() { n=$((n + 1)); say "not ok $n - systemd: $1"; }
skip() { n=$((n + 1)); say "ok $n - systemd: $1 # SKIP $2"; }
diag() { sed 's/^/# /' | tee -a "$tap"; }

if ! command -v systemd-analyze >/dev/null; then
	say "1..0 # SKIP no systemd-analyze (apt-get install systemd)"
	exit 0
fi

# verify: the unit with ExecStart= pointing at the daemon just built.
# verify insists that ExecStart's binary exists and nothing is installed
# on a build host; the copy differs from the unit in that path only, the
# same rewrite scripts/install.sh makes for PREFIX.  (Not --root=: in an
# empty root verify also misses sysinit.target, /bin/kill and the rest
# of the host's units, and says so.)  Any output at all fails.  The man
# pages are the next test's: docs/man may not be built.
# trustmig-ima.service, which the daemon's unit pulls in, is verified
# with it; its policy file is the tree's.
verify() {
	local copy=$tmp/verify/trustmigd.service
	local ima=$tmp/verify/trustmig-ima.service

	mkdir -p "$tmp/verify"
	sed "s|^ExecStart=/usr/sbin/|ExecStart=$(dirname "$daemon")/|" "$unit" >"$copy"
	sed "s|/usr/lib/trustmig/|$repo/user/ima/|" "$ima_unit" >"$ima"
	systemd-analyze verify "$@" "$copy" "$ima" >"$tmp/verify.out" 2>&1
}

# verified WHAT VERIFY-ARGS...: one test line, verify silent or not
verified() {
	local what=$1

	shift
	if [ ! -x "$daemon" ]; then
		fail "$what: no daemon at $daemon (make -C user BUILD=$BUILD)"
	elif verify "$@" && [ ! -s "$tmp/verify.out" ]; then
		ok "$what: systemd-analyze verify says nothing"
	else
		fail "$what: systemd-analyze verify complains"
		diag <"$tmp/verify.out"
	fi
}

verified "the units" --man=no

# Documentation=: every man page it names, from the pages built, which
# scripts/man.sh leaves as $BUILD/man/NAME.SECTION: man(1) wants them in
# manSECTION/ directories.
for f in "$mandir"/*.[1-8]; do
	[ -f "$f" ] || continue
	mkdir -p "$tmp/man/man${f##*.}"
	ln -s "$f" "$tmp/man/man${f##*.}/"
done
export MANPATH=$tmp/man
pages=$(sed -n 's/^Documentation=//p' "$unit" "$ima_unit" | tr ' ' '\n' | sort -u |
	sed -n 's/^man:\(.*\)(\([0-9]\))$/\2 \1/p')
missing=
while read -r sec page; do
	man -w "$sec" "$page" >/dev/null 2>&1 || missing="$missing $page($sec)"
done <<<"$pages"
if [ -z "$pages" ]; then
	fail "Documentation= names no man page"
elif [ -n "$missing" ]; then
	skip "Documentation= man pages" "not built in $mandir:$missing (make man)"
else
	verified "Documentation= man pages" --man=yes
fi

# ExecStart= is where make install PREFIX=/usr (the Debian package) puts
# the daemon; install.sh rewrites it for another PREFIX.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
if [ "$exec_start" = /usr/sbin/trustmigd ]; then
	ok "ExecStart=/usr/sbin/trustmigd"
else
	fail "ExecStart=$exec_start, not /usr/sbin/trustmigd"
fi

# The sandbox: systemd-analyze security on the unit file alone.
systemd-analyze security --offline=true "$unit" >"$tmp/security.out" 2>&1
score=$(sed -n 's/.*Overall exposure level for trustmigd.service: \([0-9.]*\) .*/\1/p' \
	"$tmp/security.out")
if [ -z "$score" ]; then
	fail "systemd-analyze security: no exposure level"
	diag <"$tmp/security.out"
elif awk -v s="$score" -v t="$threshold" 'BEGIN { exit !(s <= t) }'; then
	echo "exposure level $score (threshold $threshold)" | diag
	ok "systemd-analyze security: exposure $score <= $threshold"
else
	grep '^✗' "$tmp/security.out" | diag
	fail "systemd-analyze security: exposure $score > $threshold"
fi

# The unit run by the manager: Type=notify readiness, reload, stop. This
# needs systemd as PID 1 (sd_booted(3): /run/systemd/system), root, and a
# TPM at /dev/tpmrm0, which the unit binds to.
live_why=
if [ ! -d /run/systemd/system ]; then
	live_why="PID 1 is $(ps -o comm= -p 1 2>/dev/null || echo '?'), not systemd"
elif [ "$(id -u)" -ne 0 ]; then
	live_why="not root: cannot install a system unit"
elif [ ! -c /dev/tpmrm0 ]; then
	live_why="no TPM at /dev/tpmrm0"
elif [ ! -x "$daemon" ] || [ ! -x "$BUILD/user/trustmig-ttp" ]; then
	live_why="tools not built in $BUILD/user"
fi
# reloaded UNIT: its journal gets the reload line within 10 s
# (ExecReload= returns as soon as the signal is sent)
reloaded() {
	for _ in $(seq 100); do
		journalctl -b -q -o cat -u "$1" |
			grep -q '^trustmigd\[[0-9]*\]: reload: configuration ' &&
			return 0
		sleep 0.1
	done
	return 1
}

if [ -n "$live_why" ]; then
	skip "unit started, reloaded and stopped by systemd" "$live_why"
else
	# A copy under another name, on a free port, with a configuration
	# of its own in /run (the unit's /tmp is private); nothing else of
	# the unit changes.
	name=trustmigd-check-$$
	run=$(mktemp -d /run/trustmig-check.XXXXXX)
	"$BUILD/user/trustmig-ttp" init --dir "$run/ttp" >/dev/null 2>&1
	port=$((30000 + RANDOM % 20000))
	printf 'listen = 127.0.0.1:%s\ncrl = ttp/crl.pem\n' "$port" >"$run/trustmig.conf"
	sed "s|^ExecStart=/usr/sbin/trustmigd|ExecStart=$daemon --config $run/trustmig.conf|" \
		"$unit" >"/run/systemd/system/$name.service"
	systemctl daemon-reload
	if timeout 120 systemctl start "$name" &&
		[ "$(systemctl show -P StatusText "$name")" = "listening on 127.0.0.1:$port" ]; then
		ok "started: READY=1 and STATUS=listening on 127.0.0.1:$port"
	else
		fail "not started as Type=notify with its status"
		systemctl status --no-pager "$name" 2>&1 | diag
	fi
	if timeout 60 systemctl reload "$name" && reloaded "$name" &&
		[ "$(systemctl show -P ActiveState "$name")" = active ]; then
		ok "reloaded: active, its reload line in the journal"
	else
		fail "reload"
		journalctl -b -q --no-pager -u "$name" 2>&1 | tail -n 20 | diag
	fi
	systemctl stop "$name"
	rm -f "/run/systemd/system/$name.service"
	systemctl daemon-reload
	rm -rf "$run"
fi

say "1..$n"
! grep -q '^not ok' "$tap"
