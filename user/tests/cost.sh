#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What the Trust_Token scheme costs against swtpm, split into certification
# (once per host and platform state: enrolment and the TTP's checks) and
# migration (every handshake): wall time of each step and the TPM commands
# each side sends.
#
#   BIN=build/user tests/cost.sh [RUNS]        (make -C user cost)
#
# RUNS (default 20) handshakes and RUNS / 4 enrolments are timed.
#
# TPM commands are counted where they leave the process, at the TCTI
# (tpm2-tss debug log, "Sending command with TPM_CC"), in a run of their
# own; wall times come from runs without that logging. Times are this
# machine's, loaded or not: figures for the documentation, asserted
# nowhere. Prints Markdown.

set -u

BIN=${BIN:?set BIN to the build directory of the tools}
N=${1:-20}
NENROL=$(((N + 3) / 4))
WORK=$(mktemp -d /tmp/trustmig-cost.XXXXXX)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

. "$(dirname "$0")/lib.sh"

cleanup() {
	[ -f "$WORK/d.pid" ] && kill "$(cat "$WORK/d.pid")" 2>/dev/null
	stop_tpms "$WORK"
	rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1
touch out.log err.log

# tpm_cmds LOG: "N: Name xK, ..." for the commands a TCTI debug log shows
tpm_cmds() {
	local k name total=0 list=

	while read -r k name; do
		total=$((total + k))
		list+="${list:+, }$name"
		[ "$k" -gt 1 ] && list+=" x$k"
	done < <(tpm_sent "$1" | sort | uniq -c | sort -k1,1nr -k2)
	echo "$total${list:+: $list}"
}

# ms CMD...: run CMD (it must succeed); print its wall time in ms
ms() {
	local t0 t1

	t0=$(date +%s%N)
	"$@" >>out.log 2>>err.log || fail "$* failed: $(tail -n 3 err.log)"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

# counted LOG CMD...: run CMD with the TCTI debug log in LOG
counted() {
	local log=$1

	shift
	TSS2_LOG=tcti+debug "$@" >>out.log 2>"$log" ||
		fail "$* failed: $(grep -v '^debug\|^[0-9a-f]*:' "$log" | tail -n 3)"
}

# median: of the numbers on stdin, with min and max
median() {
	sort -n | awk '{ v[NR] = $1 } END {
		printf "%d (min %d, max %d)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

row() {
	local line

	line=$(printf ' %s |' "$@")
	echo "|$line"
}

start_tpm s
start_tpm d
must "$TTP" init --dir ttp --crl-days 3650 --name "cost TTP"

# --- certification: enrolments of d, NENROL timed, one counted -------------

bl=$BASELINES/swtpm-fresh.json
pin=$(pin_of d)
# certify_step time|count STEP CMD...
certify_step() {
	local run=$1 what=$2

	shift 2
	if [ "$run" = count ]; then
		counted "$what.tpm" "$@"
		tpm_cmds "$what.tpm" >"$what.cmds"
	else
		ms "$@" >>"$what.ms"
	fi
}

for run in $(yes time | head -n "$NENROL") count; do
	certify_step $run "enrol-request" "$HOST" enrol-request \
		--tcti "$(tcti d)" --state d --host-name d.example --out d.req
	certify_step $run "challenge" "$TTP" challenge --dir ttp \
		--request d.req --baseline "$bl" --ek-pin "$pin" --out d.chal
	certify_step $run "enrol-respond" "$HOST" enrol-respond \
		--tcti "$(tcti d)" --state d --challenge d.chal --out d.resp
	certify_step $run "certify" "$TTP" certify --dir ttp \
		--response d.resp --out d.pem
	certify_step $run "enrol-install" "$HOST" enrol-install \
		--state d --token d.pem --ca ttp/ttp.pem --crl ttp/crl.pem
	certify_step $run "check-key" "$HOST" check-key \
		--tcti "$(tcti d)" --state d
done
enrol s "$bl"

echo "Measured $(date -u +%Y-%m-%d) on $(nproc) CPU(s), load average $LOAD at the start."
echo
echo "## Certification (once per host and platform state)"
echo
echo "Host d enrolled $NENROL times against \`docs/baselines/swtpm-fresh.json\`, swtpm over TCP."
echo
row step "runs on" "wall ms, median" "TPM commands"
row --- --- --- ---
total=0
for step in enrol-request challenge enrol-respond certify enrol-install check-key; do
	case $step in
	challenge | certify) where="TTP (offline)" ;;
	*) where=host ;;
	esac
	row "$step" "$where" "$(median <"$step.ms")" "$(cat "$step.cmds")"
	[ $step = check-key ] ||
		total=$((total + $(median <"$step.ms" | cut -d' ' -f1)))
done
row "enrolment (all but check-key)" "" "$total" \
	"$(cat enrol-request.tpm enrol-respond.tpm >enrol.tpm; tpm_cmds enrol.tpm | cut -d: -f1) on the host"
echo

# --- migration: N timed handshakes, then one counted -----------------------

mkdir -p pol sess
cat >pol/vm.json <<EOP
{ "schema": "trustmig-policy/1", "id": "vm", "anchors": [ "../ttp/ttp.pem" ],
  "baselines": [ "$bl" ] }
EOP

# one_hs: a handshake; 0 or, where trustmig.ko is not loaded, 56 (after
# the whole protocol: only the key installation is missing)
one_hs() {
	"$HOST" handshake --tcti "$(tcti s)" --state s --policy pol/vm.json \
		--crl ttp/crl.pem --peer "127.0.0.1:$DPORT" --peer-name d.example \
		"$@"
	case $? in
	0 | 56) return 0 ;;
	*) return 1 ;;
	esac
}

start_d
for i in $(seq "$N"); do
	ms one_hs >>hs.ms
done
kill "$(cat d.pid)"
wait "$(cat d.pid)" 2>/dev/null
rm d.pid
grep -q "result=refused code=56\|result=ok" d.log || fail "$(cat d.log)"
sed -n 's/.* ms=\([0-9]*\)$/\1/p' d.log >d.ms
sed -n 's/.*trustmig\[.* ms=\([0-9]*\)$/\1/p' err.log >s.ms
[ "$(wc -l <s.ms)" -eq "$N" ] && [ "$(wc -l <d.ms)" -eq "$N" ] ||
	fail "expected $N log lines per side"

# the counted handshake: trustmigd logs TPM commands to its stderr
TSS2_LOG=tcti+debug start_d
counted s.tpm one_hs
kill "$(cat d.pid)"
wait "$(cat d.pid)" 2>/dev/null
sed -n '/listening on/,$p' d.log >d.tpm

echo "## Migration (every handshake, $N runs)"
echo
echo "Loopback TCP, one swtpm per side, trustmig.ko $(
	[ -d /sys/module/trustmig ] && echo loaded ||
	echo 'not loaded (the key installation, a netlink round trip per side, is not included)')."
echo
row "" "wall ms, median" "TPM commands"
row --- --- ---
row "source: \`trustmig handshake\` process" "$(median <hs.ms)" "$(tpm_cmds s.tpm)"
row "source: handshake (its log's \`ms=\`)" "$(median <s.ms)" "(the same)"
row "destination: handshake (its log's \`ms=\`)" "$(median <d.ms)" "$(tpm_cmds d.tpm)"
