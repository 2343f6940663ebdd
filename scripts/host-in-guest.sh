#!/bin/bash
# host-in-guest.sh ROLE:SCENARIO: one of the two KVM hosts that
# scripts/twohost.sh boots, run inside its QEMU guest (Debian's kernel,
# the host root over 9p, its own swtpm as /dev/tpmrm0, one NIC on the
# link to the other host).  ROLE is a (192.0.2.1, the source first) or b
# (192.0.2.2).  SCENARIO is demo (one migration A -> B) or suite (the
# two-host tests; A drives them and writes TAP).
#
# A host reaches the operator's offline TTP and its peer only through
# files: it writes outbox/NAME in the results share, twohost.sh carries
# ttp.* to the TTP and peer.* to the other host's inbox/, and the TTP's
# answers into inbox/.  Only the migration itself (handshake and memory)
# crosses the network link.  Each host runs trustmig as installed: the
# tools' package and the module (updates/, depmod) in a writable overlay
# of its root (selftests/packages.sh), loaded with modprobe.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
build=${TRUSTMIG_BUILD:-$repo/build}
# shellcheck source=scripts/guest-setup.sh
. "$here/guest-setup.sh"
# shellcheck source=selftests/packages.sh
. "$repo/selftests/packages.sh"
# The packaged tools, run from the root they are installed in.
bin=$PKG_ROOT/usr/sbin

role=${1%%:*} scenario=${1#*:}
case $role in
a) me=192.0.2.1 peer=192.0.2.2 name=host-a peer_name=host-b ;;
b) me=192.0.2.2 peer=192.0.2.1 name=host-b peer_name=host-a ;;
*) echo "host-in-guest: bad role '$role'" >&2; exit 2 ;;
esac
res=/run/trustmig-results
box=$res/outbox inbox=$res/inbox
run=/run/trustmig
state=$run/state pol=$run/policies sessions=$run/sessions
hs_port=7468 vm_port=7469
export TRUSTMIG_TCTI=device:/dev/tpmrm0 TRUSTMIG_STATE=$state
mkdir -p "$box" "$inbox" "$state" "$pol" "$sessions" "$run/used"

step() { printf '\n### %s: %s\n' "$name" "$*"; }
say() { printf '%s: %s\n' "$name" "$*"; }
die() { printf '%s: FAILED: %s\n' "$name" "$*" >&2; exit 1; }
# What packages.sh reports with.
tap() { say "$*"; }
diag() { sed "s/^/$name: /"; }
check() { [ "$2" = "$3" ] || die "$1: got [$2], want [$3]"; say "$1"; }

# post NAME FILE: hand FILE to twohost.sh (written whole, then renamed)
post() {
	cp "$2" "$box/.$1.tmp"
	mv "$box/.$1.tmp" "$box/$1"
}

post_text() {
	printf '%s\n' "$2" >"$run/.post"
	post "$1" "$run/.post"
}

# await NAME [SEC]: wait for inbox/NAME
await() {
	local i

	for i in $(seq $((${2:-600} * 5))); do
		[ -e "$inbox/$1" ] && return 0
		sleep 0.2
	done
	die "nothing came for $1 in ${2:-600} s"
}

bring_up() {
	step "$(uname -r), $(nproc) vCPU, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB; KVM, TPM, network"
	guest_load_kvm || die "cannot load kvm_amd"
	guest_load_crypto >/dev/null
	modprobe tpm_tis
	modprobe virtio_net
	for _ in $(seq 50); do
		[ -c /dev/tpmrm0 ] && [ -e /sys/class/net/eth0 ] && break
		sleep 0.1
	done
	[ -c /dev/tpmrm0 ] || die "no /dev/tpmrm0"
	ip link set lo up
	ip link set eth0 up
	ip addr add "$me/24" dev eth0
	say "nested KVM ready, TPM 2.0 at /dev/tpmrm0, eth0 $me"
	# Installed as on a host: the tools' package, and the module where
	# make install puts it (a DKMS build per host would cost minutes).
	packages_install "$build/deb" "$res" "$repo/trustmig.ko" ||
		die "cannot install trustmig"
	# What trustmig-ima.service does at boot (no systemd here): IMA's
	# policy from the package, so that the kernel measures trustmig.ko
	# into PCR 10 before it loads it.
	mount -t securityfs securityfs /sys/kernel/security ||
		die "cannot mount securityfs"
	cat "$PKG_ROOT/usr/lib/trustmig/ima-policy" \
		>/sys/kernel/security/ima/policy || die "IMA refused the policy"
	pkg_in_root modprobe trustmig
	local ko entry
	ko=$(pkg_in_root modinfo -n trustmig)
	# IMA logs the path from the real root, not the package root's
	entry=$(awk -v ko="$ko" 'substr($5, length($5) - length(ko) + 1) == ko' \
		/sys/kernel/security/ima/ascii_runtime_measurements)
	[ -n "$entry" ] || die "IMA did not measure $ko"
	say "$ko loaded by modprobe, measured by IMA into PCR 10 ($(echo "$entry" | awk '{ print substr($4, 1, 23) }')...)"
}

# The operator records the golden values on host A, booted in its
# approved configuration; the TTP certifies both hosts against them.
record_baseline() {
	step "recording the baseline (PCRs 0-7 as SeaBIOS measured the boot; the modules IMA measured)"
	"$bin/trustmig" baseline --id trustmig-demo-host --version 1 \
		--pcrs 0-7 --ima --control CM-2 --control CM-6 --control SI-7 \
		--description "trustmig demo KVM host: QEMU/SeaBIOS, Debian kernel, trustmig.ko" \
		--out "$run/baseline.json" >/dev/null
	post ttp.baseline "$run/baseline.json"
	say "baseline trustmig-demo-host v1 sent to the TTP"
}

enrol() {
	step "enrolment with the offline TTP"
	"$bin/trustmig" ek | sed -n 's/^EK name: //p' >"$run/ek.pin"
	[ -s "$run/ek.pin" ] || die "no EK name"
	post ttp.ekpin "$run/ek.pin"
	"$bin/trustmig" enrol-request --host-name "$name.example" \
		--out "$run/req" >/dev/null
	post ttp.req "$run/req"
	say "request sent (EK $(cut -c1-16 "$run/ek.pin")..., new AK); waiting for the TTP's challenge"
	await ttp.chal
	"$bin/trustmig" enrol-respond --challenge "$inbox/ttp.chal" \
		--out "$run/resp" 2>&1 | sed "s/^/$name: /"
	post ttp.resp "$run/resp"
	say "credential activated, migration key created under PolicyPCR, quote and certification sent"
	await token.pem
	await crl.pem
	"$bin/trustmig" enrol-install --token "$inbox/token.pem" \
		--ca "$inbox/ttp.pem" --crl "$inbox/crl.pem" >/dev/null
	"$bin/trustmig" check-key >/dev/null || die "check-key failed right after enrolment"
	say "Trust_Token installed; the TPM uses the migration key (check-key ok)"
}

start_trustmigd() {
	local lab=''

	[ ! -e "$inbox/baseline-lab.json" ] || lab=", \"$inbox/baseline-lab.json\""
	cat >"$pol/vm.json" <<-EOF
		{ "schema": "trustmig-policy/1", "id": "vm",
		  "anchors": [ "$inbox/ttp.pem" ],
		  "baselines": [ "$inbox/baseline.json"$lab ] }
	EOF
	# For a VM that must not land on the lab class of host (suite: B).
	cat >"$pol/no-lab.json" <<-EOF
		{ "schema": "trustmig-policy/1", "id": "no-lab",
		  "anchors": [ "$inbox/ttp.pem" ],
		  "baselines": [ "$inbox/baseline.json" ] }
	EOF
	"$bin/trustmigd" --listen "$me:$hs_port" --policy-dir "$pol" \
		--crl "$inbox/crl.pem" --session-dir "$sessions" --timeout 60 \
		2>"$run/trustmigd.log" &
	for _ in $(seq 100); do
		grep -q 'listening on' "$run/trustmigd.log" && break
		sleep 0.1
	done
	grep -q 'listening on' "$run/trustmigd.log" ||
		die "trustmigd did not start: $(cat "$run/trustmigd.log")"
	say "trustmigd listening on $me:$hs_port"
}

# vmm LOG ARGS...: trustmig-vm in the background, its output prefixed
vmm() {
	local log=$1

	shift
	"$PKG_ROOT/usr/bin/trustmig-vm" "$@" > >(tee "$log" | sed -u "s/^/$name: /") 2>&1 &
	vmm_pid=$!
}

# vmm_wait: its exit status into vmm_rc
vmm_wait() {
	vmm_rc=0
	wait "$vmm_pid" || vmm_rc=$?
}

# handshake POLICY FIFO: the source side of the attested key agreement
handshake() {
	"$bin/trustmig" handshake --peer "$peer:$hs_port" --peer-name "$peer_name.example" \
		--policy "$pol/$1.json" \
		--crl "$inbox/crl.pem" --timeout 60 --session-out "$2" \
		2> >(sed -u "s/^/$name: /" >&2)
}

# next_session: the path of the next session trustmigd handed out
next_session() {
	local f i

	for i in $(seq 600); do
		for f in "$sessions"/*.session; do
			[ -e "$f" ] || continue
			mv "$f" "$run/used/"
			echo "$run/used/${f##*/}"
			return 0
		done
		sleep 0.2
	done
	die "no session from trustmigd in 120 s"
}

setup() {
	bring_up
	[ "$role" = a ] && record_baseline
	enrol
	start_trustmigd
	# Neither host migrates before the other's trustmigd listens.
	post_text peer.ready "$name"
	await peer.ready
}

# --- the demo -----------------------------------------------------------

demo_a() {
	local fifo=$run/session.fifo

	step "starting a VM (16 MiB guest that writes 300 pages/s and checks itself)"
	mkfifo "$fifo"
	vmm "$run/vmm.log" --mem 16 --rate 300 --migrate-to "$peer:$vm_port" \
		--session-file "$fifo" --delay 2 --linger 3 --timeout 60 --streams 2
	post_text peer.cmd.1 receive
	step "attested handshake with host B (Trust_Tokens, quotes, TPM2_ECDH_ZGen)"
	handshake vm "$fifo" || die "handshake refused (exit $?)"
	step "live migration to host B over trustmig.ko's sealed records, on 2 streams"
	vmm_wait
	[ "$vmm_rc" -eq 0 ] || die "trustmig-vm exit $vmm_rc"
	await peer.result.1
	say "host B reports: trustmig-vm --incoming $(cat "$inbox/peer.result.1")"
	post_text peer.cmd.2 finish
}

# --- the two-host tests (host A drives; TAP in the results share) --------

tapf=$res/twohost.tap
ntap=0 ncmd=0

# tap NAME FN: run test FN, one TAP line
tap() {
	ntap=$((ntap + 1))
	step "test $ntap: $1"
	if "$2"; then
		echo "ok $ntap - twohost: $1" >>"$tapf"
		say "PASS: $1"
	else
		echo "not ok $ntap - twohost: $1" >>"$tapf"
		say "FAIL: $1"
	fi
}

bad() {
	say "check failed: $*"
	return 1
}

# ask CMD: have host B do CMD; ask_result waits for its answer
ask() {
	ncmd=$((ncmd + 1))
	post_text "peer.cmd.$ncmd" "$1"
}

ask_result() {
	await "peer.result.$ncmd" 300
	peer_result=$(cat "$inbox/peer.result.$ncmd")
	say "host B: $peer_result"
}

# source_vm: a VM that writes 300 pages/s and takes its session from a
# FIFO; the handshake's outcome goes there through hand_over
source_vm() {
	rm -f "$run/session.fifo"
	mkfifo "$run/session.fifo"
	vmm "$run/vmm.log" --mem 16 --rate 300 --migrate-to "$peer:$vm_port" \
		--session-file "$run/session.fifo" --linger 3 --timeout 10 "$@"
}

# hand_over POLICY: handshake; its session line (or nothing, when refused)
# goes to the VMM; sets hs_rc and leaves the log in $run/hs.err
hand_over() {
	hs_rc=0
	# the session file is made new: the last test's goes first
	rm -f "$run/session"
	handshake "$1" "$run/session" 2>"$run/hs.err" || hs_rc=$?
	sed "s/^/$name: /" "$run/hs.err"
	if [ "$hs_rc" -eq 0 ]; then
		cat "$run/session" >"$run/session.fifo"
	else
		: >"$run/session.fifo"
	fi
}

# kept_running: the source VMM kept its VM, which went on writing and
# then found every page intact
kept_running() {
	local w

	[ "$vmm_rc" -eq 2 ] || bad "source trustmig-vm exit $vmm_rc, not 2 (VM kept)" || return
	w=$(sed -n 's/.*VM continued: writes \([0-9]*\) -> \([0-9]*\)$/\1 \2/p' "$run/vmm.log")
	[ -n "$w" ] && [ "${w#* }" -gt "${w% *}" ] ||
		bad "the workload did not progress after the failure: '$w'" || return
	grep -q 'guest verdict: all [0-9]* pages intact' "$run/vmm.log" ||
		bad "no intact verdict from the source VM"
}

t_there_and_back() {
	local s1 s2 back

	source_vm --delay 1
	ask receive-and-return
	hand_over vm
	[ "$hs_rc" -eq 0 ] || bad "handshake exit $hs_rc" || return
	s1=$(cat "$run/session")
	vmm_wait
	[ "$vmm_rc" -eq 0 ] || bad "source trustmig-vm exit $vmm_rc" || return
	grep -q 'destination confirmed resume; destroying the VM here' "$run/vmm.log" ||
		bad "source did not hand over" || return
	# The same VM comes back through a session of its own.
	back=$(next_session)
	s2=$(cat "$back")
	vmm "$run/vmm-back.log" --incoming "$me:$vm_port" --session-file "$back" \
		--linger 2 --timeout 60
	vmm_wait
	ask_result
	[ "$peer_result" = "exit 0" ] || bad "host B's trustmig-vm: $peer_result" || return
	[ "$vmm_rc" -eq 0 ] || bad "receiving it back: exit $vmm_rc" || return
	grep -q 'guest verdict: all [0-9]* pages intact' "$run/vmm-back.log" ||
		bad "no intact verdict after the return" || return
	# Fresh keys, streams and tickets for the second migration.
	[ "${s1#* stream=}" != "${s2#* stream=}" ] || bad "same stream/ticket twice" || return
	[ "${s1##* ticket=}" != "${s2##* ticket=}" ] || bad "ticket reused" || return
	"$bin/trustmig" session list >"$run/status" || bad "trustmig session list failed" || return
	sed "s/^/$name: /" "$run/status"
	[ "$(grep -c 'state=complete keyed=1' "$run/status")" -eq 2 ] ||
		bad "expected two completed sessions on host A"
}

t_policy_refused() {
	source_vm
	ask expect-no-session
	hand_over no-lab
	[ "$hs_rc" -eq 54 ] || bad "handshake exit $hs_rc, not 54" || return
	grep -q 'host-b.example is certified for baseline trustmig-demo-host-lab version 1, which policy no-lab does not accept' "$run/hs.err" ||
		bad "the refusal does not name the policy: $(cat "$run/hs.err")" || return
	vmm_wait
	grep -q 'migration not started' "$run/vmm.log" || bad "VMM did not say so" || return
	! grep -q 'migrating' "$run/vmm.log" || bad "the VMM started migrating" || return
	kept_running || return
	ask_result
	[ "$peer_result" = ok ] || bad "host B: $peer_result"
}

# The cut comes half a second into pre-copy of 64 MiB (seconds of
# round 0). Should a slow host B cut only after the commit went out, the
# source applies the split-brain rule; then this test plays the operator
# who learnt that B resumed nothing, and resumes the VM on A.
t_link_cut() {
	source_vm --mem 64
	ask receive-and-cut-link
	hand_over vm
	[ "$hs_rc" -eq 0 ] || bad "handshake exit $hs_rc" || return
	for _ in $(seq 1200); do
		kill -0 "$vmm_pid" 2>/dev/null || break
		if grep -q 'NOT destroyed' "$run/vmm.log"; then
			say "the cut came after the commit: split-brain rule"
			ask_result
			[ "$peer_result" = "exit 5" ] ||
				bad "host B resumed or failed otherwise: $peer_result" || return
			kill -USR1 "$vmm_pid"
			break
		fi
		sleep 0.5
	done
	vmm_wait
	if [ "$vmm_rc" -eq 3 ]; then
		vmm_rc=2	# resumed by the operator: the VM was kept
	else
		grep -q 'migration failed: .*the VM keeps running here' "$run/vmm.log" ||
			bad "the source did not report the failure" || return
		ask_result
		[ "$peer_result" = "exit 5" ] ||
			bad "host B resumed or failed otherwise: $peer_result" || return
	fi
	kept_running
}

# A module loaded after certification, which IMA measures and host A's
# baseline does not list: refused by the source (21), B's TPM state
# otherwise unchanged.
t_unlisted_module() {
	ask load-module
	ask_result
	[ "$peer_result" = "dummy loaded" ] || bad "host B: $peer_result" || return
	source_vm
	ask expect-no-session
	hand_over vm
	[ "$hs_rc" -eq 21 ] || bad "handshake exit $hs_rc, not 21" || return
	grep -q "host-b.example loaded /.*/dummy.ko (sha256 [0-9a-f]*...), which baseline trustmig-demo-host-lab version 1 does not list" "$run/hs.err" ||
		bad "the refusal does not name the module: $(cat "$run/hs.err")" || return
	vmm_wait
	! grep -q 'migrating' "$run/vmm.log" || bad "the VMM started migrating" || return
	kept_running || return
	ask_result
	[ "$peer_result" = ok ] || bad "host B: $peer_result"
}

t_pcr_changed() {
	ask extend-pcr
	ask_result
	source_vm
	hand_over vm
	[ "$hs_rc" -eq 52 ] || bad "handshake exit $hs_rc, not 52" || return
	grep -q 'the TPM refused the migration key' "$run/hs.err" ||
		bad "the refusal does not name the reason: $(cat "$run/hs.err")" || return
	vmm_wait
	! grep -q 'migrating' "$run/vmm.log" || bad "the VMM started migrating" || return
	kept_running
}

suite_a() {
	: >"$tapf"
	tap "a VM migrates A to B while writing, and back with fresh keys; the guest verifies each time" t_there_and_back
	tap "B's baseline is not in the VM's policy: refused, no page sent, the VM runs on" t_policy_refused
	tap "link cut during pre-copy: the source VM runs on, B resumes nothing" t_link_cut
	tap "B loads a module its baseline does not list: refused (21), the VM runs on" t_unlisted_module
	tap "B's PCRs changed after certification: refused, no page sent, the VM runs on" t_pcr_changed
	ask finish
	echo "1..$ntap" >>"$tapf"
}

# --- host B: does what A asks, in order ----------------------------------

# b_receive N [trustmig-vm options]: sets vmm_rc
b_receive() {
	local f

	f=$(next_session)
	say "trustmigd handed out $(sed 's/ticket=.*/ticket=.../' "$f")"
	vmm "$run/vmm-$1.log" --incoming "$me:$vm_port" --session-file "$f" \
		--linger 2 --timeout 10 "${@:2}"
}

# Receive, then send the VM straight back through a new handshake.
b_return() {
	rm -f "$run/onward.fifo"
	mkfifo "$run/onward.fifo"
	b_receive "$1" --migrate-to "$peer:$vm_port" \
		--onward-session-file "$run/onward.fifo" --delay 1
	if handshake vm "$run/onward"; then
		cat "$run/onward" >"$run/onward.fifo"
	else
		: >"$run/onward.fifo"
	fi
	vmm_wait
}

# The link goes down one second into pre-copy: no FIN, no RST, silence.
b_cut_link() {
	local i

	b_receive "$1"
	for i in $(seq 300); do
		grep -q 'receiving' "$run/vmm-$1.log" && break
		sleep 0.1
	done
	sleep 0.5
	ip link set eth0 down
	say "link down"
	vmm_wait
	ip link set eth0 up
	ip addr replace "$me/24" dev eth0
	say "link up again"
}

# After a refusal on the source's side: no session here, and trustmigd
# logged the handshake as not agreed.
b_no_session() {
	local line

	for _ in $(seq 300); do
		line=$(grep 'handshake peer=' "$run/trustmigd.log" | tail -n 1 || true)
		[ "$line" != "${last_hs:-}" ] && break
		sleep 0.2
	done
	say "trustmigd: $line"
	if [ "$line" = "${last_hs:-}" ] || [[ "$line" == *result=ok* ]] ||
		[ -n "$(ls "$sessions")" ]; then
		result="bad: $line"
	else
		result=ok
	fi
}

serve_b() {
	local i=1 cmd result

	while :; do
		await "peer.cmd.$i" 3600
		cmd=$(cat "$inbox/peer.cmd.$i")
		step "host A asks: $cmd"
		last_hs=$(grep 'handshake peer=' "$run/trustmigd.log" | tail -n 1 || true)
		case $cmd in
		finish) return 0 ;;
		receive | receive-and-return | receive-and-cut-link)
			case $cmd in
			receive)
				b_receive "$i"
				vmm_wait
				;;
			receive-and-return) b_return "$i" ;;
			receive-and-cut-link) b_cut_link "$i" ;;
			esac
			result="exit $vmm_rc"
			;;
		expect-no-session) b_no_session ;;
		load-module)
			# IMA measures it into PCR 10: the next quote shows it
			modprobe dummy && result="dummy loaded" ||
				result="modprobe dummy failed"
			;;
		extend-pcr)
			tpm2_pcrextend -T "$TRUSTMIG_TCTI" \
				"7:sha256=$(echo 'unapproved change' | sha256sum | cut -c1-64)"
			result="PCR 7 extended"
			;;
		*) die "unknown command from host A: $cmd" ;;
		esac
		post_text "peer.result.$i" "$result"
		i=$((i + 1))
	done
}

setup
case $role:$scenario in
a:demo) demo_a ;;
a:suite) suite_a ;;
b:*) serve_b ;;
*) die "unknown scenario $scenario" ;;
esac
step "done"
