#!/bin/bash
# twohost.sh SCENARIO: two KVM hosts on this machine, as QEMU guests
# booting Debian's kernel, each with its own swtpm TPM (fresh state) and
# linked by a QEMU socket network over loopback; this script is the
# operator's workstation with the offline TTP.  Each host runs
# scripts/host-in-guest.sh ROLE:SCENARIO; SCENARIO demo is make demo's
# migration, suite the two-host tests of make check (TAP from host A in
# $BUILD/twohost-suite/a/twohost.tap).
#
# The TTP never touches the network: host and TTP exchange files through
# each guest's results share (outbox/ -> here -> inbox/), as an operator
# would carry them.  Files for the other host (peer.*) go the same way,
# so that the two scripts can take turns.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
BUILD=${BUILD:-$repo/build}
scenario=${1:-demo}
case $scenario in demo | suite) ;; *) echo "usage: $0 demo|suite" >&2; exit 2 ;; esac
W=$BUILD/twohost-$scenario
ttp=$W/ttp
TTP=$BUILD/user/trustmig-ttp
export TRUSTMIG_BUILD=$BUILD

say() { printf '\n### TTP: %s\n' "$*"; }

pids=() tails=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	local p

	for p in "${pids[@]}" "${tails[@]}"; do
		kill "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT

# Below the ephemeral range, and not bound by anything at all (QEMU's
# listen fails on a port some client socket holds).
free_port() {
	local p

	for _ in $(seq 50); do
		p=$((10000 + RANDOM % 20000))
		[ -z "$(ss -Htan "( sport = :$p or dport = :$p )")" ] && { echo "$p"; return; }
	done
	echo "twohost: no free port" >&2
	exit 1
}

# put HOST NAME FILE: into HOST's inbox, whole or not at all
put() {
	cp "$3" "$W/$1/inbox/.$2.tmp"
	mv "$W/$1/inbox/.$2.tmp" "$W/$1/inbox/$2"
}

other() { [ "$1" = a ] && echo b || echo a; }

# The TTP's part, for host H: challenge its request against the
# baseline (pinning the EK name read from the host), then certify its
# response.  Runs when the files it needs have arrived.
ttp_step() {
	local h=$1 o=$W/$1/outbox

	if [ -e "$o/ttp.baseline" ] && [ ! -e "$ttp/baseline.json" ]; then
		"$TTP" baseline "$o/ttp.baseline" | sed 's/^/  /'
		cp "$o/ttp.baseline" "$ttp/baseline.json"
		say "baseline from host $h reviewed and accepted"
		# The suite certifies B for a second class of host (same
		# values, its own id), so that a VM's policy can leave B out.
		if [ "$scenario" = suite ]; then
			sed 's/"id": "trustmig-demo-host"/"id": "trustmig-demo-host-lab"/' \
				"$ttp/baseline.json" >"$ttp/baseline-lab.json"
			grep -q trustmig-demo-host-lab "$ttp/baseline-lab.json"
		fi
	fi
	local bl=$ttp/baseline.json
	[ "$scenario:$h" != suite:b ] || bl=$ttp/baseline-lab.json
	if [ -e "$o/ttp.req" ] && [ -e "$o/ttp.ekpin" ] && [ -e "$bl" ] &&
		[ ! -e "$ttp/$h.chal" ]; then
		"$TTP" challenge --dir "$ttp" --request "$o/ttp.req" \
			--baseline "$bl" --ek-pin "$(cat "$o/ttp.ekpin")" \
			--out "$ttp/$h.chal" >/dev/null
		put "$h" ttp.chal "$ttp/$h.chal"
		say "challenge for host $h (MakeCredential to its EK, fresh nonce)"
	fi
	if [ -e "$o/ttp.resp" ] && [ ! -e "$ttp/$h.pem" ]; then
		# Valid from an hour ago, as public CAs backdate: a guest's
		# clock can lag this machine's on a loaded host, and a token
		# not yet valid there fails its installation.
		"$TTP" certify --dir "$ttp" --response "$o/ttp.resp" \
			--valid-from "@$(($(date +%s) - 3600))" \
			--out "$ttp/$h.pem" | sed 's/^/  /'
		put "$h" ttp.pem "$ttp/ttp.pem"
		put "$h" baseline.json "$ttp/baseline.json"
		[ ! -e "$ttp/baseline-lab.json" ] ||
			put "$h" baseline-lab.json "$ttp/baseline-lab.json"
		put "$h" crl.pem "$ttp/crl.pem"
		put "$h" token.pem "$ttp/$h.pem"
		say "host $h certified: Trust_Token $(openssl x509 -in "$ttp/$h.pem" -noout -serial -enddate | tr '\n' ' ')"
	fi
}

relay_peer() {
	local h=$1 f

	for f in "$W/$h/outbox"/peer.*; do
		[ -e "$f" ] || continue
		mv "$f" "$W/$(other "$h")/inbox/"
	done
}

rm -rf "$W"
mkdir -p "$ttp"
"$TTP" init --dir "$ttp" --name "trustmig demo TTP" >/dev/null
say "initialised offline: $(openssl x509 -in "$ttp/ttp.pem" -noout -subject)"

port=$(free_port)
# B listens, so it starts first; each host gets its own swtpm state.
for h in b a; do
	if [ "$h" = b ]; then net=listen:$port; else net=connect:$port; fi
	mkdir -p "$W/$h"
	VERBOSE=0 "$here/vm.sh" --run "$here/host-in-guest.sh" --arg "$h:$scenario" \
		--out "$W/$h" --tpm "$W/$h-tpm" --net "$net" --mem 768 \
		--timeout "${TRUSTMIG_TWOHOST_TIMEOUT:-1200}" >"$W/$h.vm.log" 2>&1 &
	pids+=($!)
	# vm.sh empties its results dir before boot: only then make the boxes.
	for _ in $(seq 100); do
		[ -e "$W/$h/.trustmig-vm" ] && break
		sleep 0.1
	done
	mkdir -p "$W/$h/inbox" "$W/$h/outbox"
	touch "$W/$h/guest.log"
	tail -n +1 -F "$W/$h/guest.log" 2>/dev/null | sed -u "s/^/[$h] /" &
	tails+=($!)
	sleep 1
done

# Serve both hosts until both guests are gone.
while kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; do
	for h in a b; do
		ttp_step "$h"
		relay_peer "$h"
	done
	sleep 0.2
done
rc_b=0 rc_a=0
wait "${pids[0]}" || rc_b=$?
wait "${pids[1]}" || rc_a=$?
sleep 0.5
echo
for h in a b; do
	rc=rc_$h
	echo "twohost: host $h: $(tail -n 1 "$W/$h.vm.log")"
	[ "${!rc}" -eq 0 ] || echo "twohost: host $h failed (exit ${!rc}); console: $W/$h/console.log" >&2
done
if [ "$scenario" = demo ]; then
	echo
	echo "=== result"
	grep -h 'summary:' "$W/a/guest.log" | sed 's/^host-a: trustmig-vm: /host A: /' || true
	grep -h 'guest verdict' "$W/b/guest.log" | sed "s/^host-b: trustmig-vm: /host B: the VM's own check after the migration: /" || true
	echo "hosts shut down: A exit $rc_a, B exit $rc_b"
	exit $((rc_a || rc_b))
fi

# The suite's TAP, with a failure for a host that crashed or gave up.
tap=$BUILD/results/twohost.tap
mkdir -p "$BUILD/results"
cp "$W/a/twohost.tap" "$tap" 2>/dev/null || : >"$tap"
for h in a b; do
	rc=rc_$h
	[ "${!rc}" -eq 0 ] ||
		echo "not ok - twohost: host $h exit ${!rc} (see $W/$h/guest.log)" >>"$tap"
done
grep -q '^1\.\.' "$tap" || echo "not ok - twohost: host A did not finish its tests" >>"$tap"
[ "${SUMMARY:-1}" = 0 ] || "$here/summarize.sh" "$tap"
! grep -q '^not ok' "$tap"
