# SPDX-License-Identifier: GPL-2.0
#
# Fixtures shared by the userspace tests (run.sh) and the cost measurement
# (cost.sh): swtpm hosts, the TTP, enrolment, trustmigd and the source.
# Every function runs in the current directory, a scratch directory of
# its own; assertions exit the (sub)shell on failure.
#
# The caller sets BIN (the tools) and sources this file.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASELINES=$HERE/../../docs/baselines
TTP=$BIN/trustmig-ttp
HOST=$BIN/trustmig
FORGE=$BIN/tm-forge

# TPM command names from the TSS headers: 0x00000131 -> CreatePrimary
declare -A CC
while read -r name code; do
	CC[$((code))]=${name#TPM2_CC_}
done < <(sed -n 's/^#define \(TPM2_CC_[A-Za-z_0-9]*\) *((TPM2_CC) \(0x[0-9a-fA-F]*\)).*/\1 \2/p' \
	/usr/include/tss2/tss2_tpm2_types.h | grep -v '_FIRST \|_LAST ')

# tpm_sent LOG: the TPM commands a TCTI debug log (TSS2_LOG=tcti+debug)
# shows, one name per line, in order
tpm_sent() {
	local code

	sed -n 's/.*Sending command with TPM_CC \(0x[0-9a-f]*\) .*/\1/p' "$1" |
		while read -r code; do
			echo "${CC[$((code))]:-$code}"
		done
}

stop_tpms() {
	local pidf pid

	for pidf in "$1"/*-tpm/pid; do
		# swtpm removes its pid file as it exits
		pid=$(cat "$pidf" 2>/dev/null) && kill "$pid" 2>/dev/null
	done
}

# --- assertions: each exits the test's subshell on failure ---------------

fail() {
	echo "FAIL: $*"
	exit 1
}

# must CMD...: CMD succeeds
must() {
	"$@" >>out.log 2>err.log || fail "exit $? from: $* ($(tail -n 3 err.log))"
}

# refuse CODE PATTERN CMD...: CMD exits with CODE and says PATTERN on stderr
refuse() {
	local code=$1 pattern=$2 rc

	shift 2
	"$@" >>out.log 2>err.log
	rc=$?
	[ "$rc" -eq "$code" ] ||
		fail "expected exit $code, got $rc from: $* ($(tail -n 3 err.log))"
	grep -q -- "$pattern" err.log ||
		fail "stderr of $* lacks \"$pattern\": $(cat err.log)"
	echo "refused as expected ($code): $(cat err.log)"
}

# await_gone PATH TENTHS: 0 once PATH no longer exists, polled every 0.1 s
await_gone() {
	local try

	for try in $(seq "$2"); do
		[ -e "$1" ] || return 0
		sleep 0.1
	done
	return 1
}

# --- fixtures ------------------------------------------------------------

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# await_path TEST PATH TENTHS: 0 once "test TEST PATH" holds, polled
# every 0.1 s; 1 if it did not within TENTHS polls
await_path() {
	local try

	for try in $(seq "$3"); do
		test "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}

# start_tpm NAME: a fresh swtpm for host NAME; sets TCTI_NAME
start_tpm() {
	local name=$1 dir=$PWD/$1-tpm port try

	mkdir -p "$dir"
	for try in $(seq 20); do
		port=$((20000 + (RANDOM % 20000) * 2))
		port_busy "$port" || port_busy $((port + 1)) || {
			swtpm socket --tpmstate dir="$dir" --tpm2 \
				--server type=tcp,port=$port,bindaddr=127.0.0.1 \
				--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
				--flags not-need-init,startup-clear \
				--pid file="$dir/pid" --daemon 2>>"$dir/err" &&
				break
		}
		port=
	done
	[ -n "$port" ] || fail "cannot start swtpm: $(cat "$dir/err")"
	for try in $(seq 50); do
		port_busy "$port" && break
		sleep 0.1
	done
	printf -v "TCTI_$name" 'swtpm:host=127.0.0.1,port=%s' "$port"
}

tcti() {
	local v="TCTI_$1"

	echo "${!v}"
}

ttp_init() {
	must "$TTP" init --dir ttp --name "trustmig test TTP"
}

# The anchor hosts trust and the CRLs they check: the test TTP's own,
# unless ttp_intermediate made it an intermediate CA
ANCHOR=ttp/ttp.pem
CRLS=(--crl ttp/crl.pem)

# ttp_intermediate: the test TTP ttp/ as an intermediate CA, certified by
# the root TTP root/, which hosts trust alone, with both CRLs
ttp_intermediate() {
	must "$TTP" init --dir root --name "trustmig test root" --path-len 1 \
		--crl-days 3650
	must "$TTP" init --dir ttp --name "trustmig test TTP" --csr ttp.csr
	must "$TTP" certify-ca --dir root --csr ttp.csr --out ttp.chain
	must "$TTP" init --dir ttp --import-cert ttp.chain --crl-days 3650
	ANCHOR=root/ttp.pem
	CRLS=(--crl root/crl.pem --crl ttp/crl.pem)
}

# measure NAME: emulate a measured boot (PCR i += SHA-256("...i"))
measure() {
	local i d

	for i in 0 1 2 3 4 5 6 7; do
		d=$(printf 'trustmig test measurement %d' "$i" | sha256sum)
		must tpm2_pcrextend -T "$(tcti "$1")" "$i:sha256=${d%% *}"
	done
}

# ima_list NAME ENTRY...: NAME's IMA list (NAME.ima, read through
# $TRUSTMIG_IMA_LOG) and its swtpm's PCR 10 as a kernel that measured
# those files would leave them (ima-list.py: the ENTRY forms)
ima_list() {
	local v values

	values=$(python3 "$HERE/ima-list.py" "$1.ima" "${@:2}") ||
		fail "ima-list.py $*"
	for v in $values; do
		must tpm2_pcrextend -T "$(tcti "$1")" "10:sha256=$v"
	done
}

extend_pcr() {
	must tpm2_pcrextend -T "$(tcti "$1")" \
		"$2:sha256=$(printf 'rogue %s' "$2" | sha256sum | cut -c1-64)"
}

# pin_of NAME [ek-type]: the EK Name an operator reads at rack-in
pin_of() {
	"$HOST" ek --tcti "$(tcti "$1")" --ek-type "${2:-ecc}" |
		sed -n 's/^EK name: //p'
}

# request NAME: host NAME asks to enrol -> NAME.req
request() {
	must "$HOST" enrol-request --tcti "$(tcti "$1")" --state "$1" \
		--host-name "$1.example" --out "$1.req" "${@:2}"
}

# challenge NAME BASELINE: the TTP challenges NAME's request -> NAME.chal
challenge() {
	must "$TTP" challenge --dir ttp --request "$1.req" --baseline "$2" \
		--ek-pin "$(pin_of "$1")" --out "$1.chal"
}

respond() {
	must "$HOST" enrol-respond --tcti "$(tcti "$1")" --state "$1" \
		--challenge "$1.chal" --out "$1.resp"
}

certify() {
	must "$TTP" certify --dir ttp --response "$1.resp" --out "$1.pem"
}

# enrol NAME BASELINE: the whole honest enrolment -> NAME.pem installed
enrol() {
	request "$1"
	challenge "$1" "$2"
	respond "$1"
	certify "$1"
	must "$HOST" enrol-install --state "$1" --token "$1.pem" \
		--ca "$ANCHOR" "${CRLS[@]}"
}

# --- migration handshake ---------------------------------------------------

# hs_hosts [D-BASELINE]: TTP (unless there is one), source s
# (swtpm-fresh), destination d (enrolled for D-BASELINE, default
# swtpm-fresh), policy "vm" accepting swtpm-fresh only
hs_hosts() {
	local bl=${1:-swtpm-fresh}

	start_tpm s
	start_tpm d
	[ -d ttp ] || must "$TTP" init --dir ttp --crl-days 3650
	[ "$bl" = swtpm-measured-boot ] && measure d
	enrol s "$BASELINES/swtpm-fresh.json"
	enrol d "$BASELINES/$bl.json"
	mkdir -p pol sess
	cat >pol/vm.json <<-EOP
		{ "schema": "trustmig-policy/1", "id": "vm",
		  "anchors": [ "../$ANCHOR" ],
		  "baselines": [ "$BASELINES/swtpm-fresh.json" ] }
	EOP
}

# start_d [ARGS]: trustmigd for host d on a free loopback port (read
# timeout $D_TIMEOUT, default 5 s), or with ARGS instead of the usual
# options; sets DPORT
start_d() {
	local try

	if [ $# -eq 0 ]; then
		set -- --listen 127.0.0.1:0 --tcti "$(tcti d)" --state d \
			--policy-dir pol "${CRLS[@]}" --session-dir sess \
			--timeout "${D_TIMEOUT:-5}"
	fi
	# emptied here: the redirection below happens in the child, maybe
	# after the loop has read the last daemon's port
	: >d.log
	TRUSTMIG_IMA_LOG=d.ima "$BIN/trustmigd" "$@" --debug-fingerprint 2>d.log &
	echo $! >d.pid
	for try in $(seq 50); do
		DPORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' d.log)
		[ -n "$DPORT" ] && return
		sleep 0.1
	done
	fail "trustmigd did not start: $(cat d.log)"
}

# hs PORT [ARGS]: the source's side against 127.0.0.1:PORT (read timeout
# $S_TIMEOUT, default 5 s), expecting d.example, with the usual options or
# ARGS; a hang is killed and fails the caller's assertion
hs() {
	local port=$1

	shift
	if [ $# -eq 0 ]; then
		set -- --tcti "$(tcti s)" --state s --policy pol/vm.json \
			"${CRLS[@]}" --timeout "${S_TIMEOUT:-5}" \
			--peer-name d.example
	fi
	TRUSTMIG_IMA_LOG=s.ima timeout -k 5 60 "$HOST" handshake \
		--peer "127.0.0.1:$port" "$@" \
		--debug-fingerprint
}
