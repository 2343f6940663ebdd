#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# trustmig userspace tests: enrolment, Trust_Token issue, verification,
# revocation and the PCR binding of the migration key, against real swtpm
# TPMs (one per simulated host, started per test). No mocks: dishonest
# hosts are played by tm-forge with a real TPM.
#
#   BIN=build/user TAP=build/results/user.tap tests/run.sh [NAME-FILTER]
#
# Writes TAP to $TAP and stdout; exits non-zero if a test fails.

set -u

BIN=${BIN:?set BIN to the build directory of the tools}
TAP=${TAP:-/dev/null}
FILTER=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
BASELINES=$HERE/../../docs/baselines
TTP=$BIN/trustmig-ttp
HOST=$BIN/trustmig
FORGE=$BIN/tm-forge
WORK=$(mktemp -d /tmp/trustmig-user-tests.XXXXXX)

n=0
passed=0
failed=0
skipped=0

stop_tpms() {
	local pidf

	for pidf in "$1"/*-tpm/pid; do
		[ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null
	done
}

cleanup() {
	local d

	for d in "$WORK"/t*; do
		[ -d "$d" ] && stop_tpms "$d"
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

: >"$TAP"
tap() {
	echo "$*"
	echo "$*" >>"$TAP"
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

# --- fixtures ------------------------------------------------------------

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
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

# measure NAME: emulate a measured boot (PCR i += SHA-256("...i"))
measure() {
	local i d

	for i in 0 1 2 3 4 5 6 7; do
		d=$(printf 'trustmig test measurement %d' "$i" | sha256sum)
		must tpm2_pcrextend -T "$(tcti "$1")" "$i:sha256=${d%% *}"
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
		--ca ttp/ttp.pem --crl ttp/crl.pem
}

run() {
	local name=$1 fn=$2 dir rc

	[ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]] && return
	n=$((n + 1))
	dir=$WORK/t$n
	mkdir -p "$dir"
	(cd "$dir" && touch out.log err.log && "$fn") >"$dir/log" 2>&1
	rc=$?
	stop_tpms "$dir"
	if [ $rc -eq 0 ]; then
		tap "ok $n - $name"
		passed=$((passed + 1))
	else
		tap "not ok $n - $name"
		sed 's/^/# /' "$dir/log"
		failed=$((failed + 1))
	fi
}

skip() {
	n=$((n + 1))
	tap "ok $n - $1 # SKIP $2"
	skipped=$((skipped + 1))
}

# --- tests -----------------------------------------------------------------

t_help() {
	local c

	for c in init challenge certify revoke crl show baseline verify; do
		"$TTP" "$c" --help | grep -q "^  $c" || fail "trustmig-ttp $c --help"
	done
	for c in ek enrol-request enrol-respond enrol-install baseline check-key; do
		"$HOST" "$c" --help | grep -q "^  $c" || fail "trustmig $c --help"
	done
	"$TTP" --help | grep -q '^EXIT STATUS' || fail "trustmig-ttp --help"
	"$HOST" --help | grep -q '^SYNOPSIS' || fail "trustmig --help"
	refuse 2 "unknown command" "$TTP" frobnicate
	refuse 2 "required" "$TTP" certify --dir ttp
}

t_baselines() {
	must "$TTP" baseline "$BASELINES"/*.json
	grep -q "acme-kvm-uefi-sb version 7" out.log || fail "summary"
	printf '{"schema":"trustmig-baseline/1","id":"x","version":1,"pcr_bank":"sha256","pcrs":{"0":"00"},"controls":[{"id":"CM-2"}]}' >short.json
	refuse 3 "PCR 0 value" "$TTP" baseline short.json
	sed 's/"pcr_bank"/"pcr_bnak"/' "$BASELINES/swtpm-fresh.json" >typo.json
	refuse 3 'unknown key "pcr_bnak"' "$TTP" baseline typo.json
	sed 's/"version": 1/"version": "1"/' "$BASELINES/swtpm-fresh.json" >ver.json
	refuse 3 '"version" is not an integer' "$TTP" baseline ver.json
	sed 's/trustmig-baseline\/1/trustmig-baseline\/9/' "$BASELINES/swtpm-fresh.json" >schema.json
	refuse 3 "schema" "$TTP" baseline schema.json
	{ cat "$BASELINES/swtpm-fresh.json"; echo '{}'; } >trail.json
	refuse 3 "not valid JSON" "$TTP" baseline trail.json
	sed 's/"24"/"x"/; s/"7":/"24":/' "$BASELINES/swtpm-fresh.json" >idx.json
	refuse 3 "PCR index" "$TTP" baseline idx.json
}

t_record_baseline() {
	start_tpm h
	measure h
	must "$HOST" baseline --tcti "$(tcti h)" --id recorded --version 3 \
		--pcrs 0-3,4,5-7 --control CM-2 --control SI-7 --out rec.json
	must "$TTP" baseline rec.json
	# the recorded values are exactly the documented measured-boot ones
	want=$("$TTP" baseline "$BASELINES/swtpm-measured-boot.json" | sed -n 's/.*PolicyPCR digest //p')
	got=$(sed -n 's/.*PolicyPCR digest //p' out.log)
	[ -n "$got" ] && [ "$got" = "$want" ] || fail "policy $got != $want"
}

t_enrol_verify() {
	start_tpm h
	ttp_init
	enrol h "$BASELINES/swtpm-fresh.json"
	must openssl verify -CAfile ttp/ttp.pem -crl_check -CRLfile ttp/crl.pem h.pem
	grep -q "h.pem: OK" out.log || fail "openssl verify output"
	openssl x509 -in h.pem -noout -text >x509.txt || fail "openssl x509 -text"
	grep -q "2.25.62776683548806466880690660492788620930.1:" x509.txt ||
		fail "extension not printed by openssl x509 -text"
	grep -q "Subject: O = trustmig platform, CN = h.example" x509.txt ||
		fail "subject"
	must "$TTP" verify --token h.pem --ca ttp/ttp.pem --crl ttp/crl.pem \
		--baseline "$BASELINES/swtpm-fresh.json"
	must "$TTP" show --token h.pem
	grep -q "id: *swtpm-fresh" out.log || fail "show: baseline"
	grep -q "attributes: *fixedTPM fixedParent sensitiveDataOrigin noDA decrypt$" out.log ||
		fail "show: migration key attributes"
	[ -f h/token.pem ] && [ -f h/mk.priv ] && [ ! -f h/enrol/mk.priv ] ||
		fail "enrol-install did not install the keys"
	# the TTP's open challenge is used up
	refuse 12 "no open challenge" "$TTP" certify --dir ttp --response h.resp --out again.pem
}

t_zgen_binding() {
	start_tpm h
	ttp_init
	measure h
	enrol h "$BASELINES/swtpm-measured-boot.json"
	must "$HOST" check-key --tcti "$(tcti h)" --state h
	grep -q "migration key usable" out.log || fail "check-key output"
	extend_pcr h 4
	refuse 40 "PCRs no longer hold the certified baseline" \
		"$HOST" check-key --tcti "$(tcti h)" --state h
}

t_revoke() {
	start_tpm h
	ttp_init
	enrol h "$BASELINES/swtpm-fresh.json"
	must "$TTP" revoke --dir ttp --token h.pem --reason keyCompromise
	openssl verify -CAfile ttp/ttp.pem -crl_check -CRLfile ttp/crl.pem h.pem >ov.log 2>&1 &&
		fail "openssl verify accepted a revoked token"
	grep -q "certificate revoked" ov.log || fail "openssl: $(cat ov.log)"
	openssl crl -in ttp/crl.pem -noout -text | grep -q "Key Compromise" ||
		fail "CRL reason"
	refuse 33 "revoked" "$TTP" verify --token h.pem --ca ttp/ttp.pem --crl ttp/crl.pem
	refuse 2 "already revoked" "$TTP" revoke --dir ttp --token h.pem
	# without a CRL a verifier cannot know: CRL checking is the caller's
	must "$TTP" verify --token h.pem --ca ttp/ttp.pem
	# a token from another TTP
	must "$TTP" init --dir ttp2
	refuse 30 "unable to get local issuer" \
		"$TTP" verify --token h.pem --ca ttp2/ttp.pem
}

t_validity() {
	local now

	start_tpm h
	ttp_init
	enrol h "$BASELINES/swtpm-fresh.json"
	now=$(date +%s)
	must "$TTP" verify --token h.pem --ca ttp/ttp.pem --at "@$((now + 89 * 86400))"
	refuse 31 "certificate has expired" "$TTP" verify --token h.pem \
		--ca ttp/ttp.pem --at "@$((now + 91 * 86400))"
	refuse 32 "not yet valid" "$TTP" verify --token h.pem \
		--ca ttp/ttp.pem --at "@$((now - 86400))"
	# a CRL past its next update is no proof of non-revocation
	refuse 34 "CRL has expired" "$TTP" verify --token h.pem \
		--ca ttp/ttp.pem --crl ttp/crl.pem --at "@$((now + 31 * 86400))"
}

t_wrong_baseline() {
	start_tpm h
	ttp_init
	measure h
	enrol h "$BASELINES/swtpm-measured-boot.json"
	must "$TTP" verify --token h.pem --ca ttp/ttp.pem \
		--baseline "$BASELINES/swtpm-measured-boot.json"
	refuse 36 "certifies baseline swtpm-measured-boot version 2, not swtpm-fresh" \
		"$TTP" verify --token h.pem --ca ttp/ttp.pem \
		--baseline "$BASELINES/swtpm-fresh.json"
}

t_tampered() {
	start_tpm h
	ttp_init
	enrol h "$BASELINES/swtpm-fresh.json"
	openssl x509 -in h.pem -outform DER -out h.der || fail "der"
	# change the baseline id inside the signed extension
	perl -pi -e 's/swtpm-fresh/swtpm-frosh/' h.der
	cmp -s h.der <(openssl x509 -in h.pem -outform DER) && fail "no edit"
	openssl x509 -inform DER -in h.der -out bad.pem || fail "pem"
	openssl verify -CAfile ttp/ttp.pem bad.pem >/dev/null 2>&1 &&
		fail "openssl verify accepted an edited token"
	refuse 30 "signature failure" "$TTP" verify --token bad.pem --ca ttp/ttp.pem
}

t_pcr_changed() {
	start_tpm h
	ttp_init
	request h
	challenge h "$BASELINES/swtpm-fresh.json"
	extend_pcr h 7
	must "$HOST" enrol-respond --tcti "$(tcti h)" --state h \
		--challenge h.chal --out h.resp
	grep -q "PCR 7 differs from baseline" err.log || fail "no host warning"
	refuse 16 "quoted PCR values differ from baseline swtpm-fresh" \
		"$TTP" certify --dir ttp --response h.resp --out h.pem
	[ ! -f h.pem ] || fail "a token was written"
}

t_quote_nonce() {
	start_tpm h
	ttp_init
	request h
	challenge h "$BASELINES/swtpm-fresh.json"
	must "$FORGE" respond --tcti "$(tcti h)" --state h --challenge h.chal \
		--out h.resp --wrong-quote-nonce
	refuse 15 "quote is not over this challenge's nonce" \
		"$TTP" certify --dir ttp --response h.resp --out h.pem
}

t_mk_user_with_auth() {
	start_tpm h
	ttp_init
	request h
	challenge h "$BASELINES/swtpm-fresh.json"
	must "$FORGE" respond --tcti "$(tcti h)" --state h --challenge h.chal \
		--out h.resp --mk-user-with-auth
	refuse 19 "userWithAuth" \
		"$TTP" certify --dir ttp --response h.resp --out h.pem
}

t_mk_wrong_policy() {
	start_tpm h
	ttp_init
	request h
	challenge h "$BASELINES/swtpm-fresh.json"
	must "$FORGE" respond --tcti "$(tcti h)" --state h --challenge h.chal \
		--out h.resp --mk-wrong-policy
	refuse 20 "authPolicy is not PolicyPCR over the baseline" \
		"$TTP" certify --dir ttp --response h.resp --out h.pem
}

t_ak_other_tpm() {
	start_tpm a
	start_tpm b
	ttp_init
	request a
	request b
	# b claims to be a: a's EK, b's AK
	must "$FORGE" mix-request --ek-from a.req --ak-from b.req --out b.req
	cp a/ek.pub b/ek.pub
	must "$TTP" challenge --dir ttp --request b.req --ek-pin "$(pin_of a)" \
		--baseline "$BASELINES/swtpm-fresh.json" --out b.chal
	# b's TPM cannot activate a credential made for a's EK...
	"$HOST" enrol-respond --tcti "$(tcti b)" --state b --challenge b.chal \
		--out b.resp >/dev/null 2>err.log &&
		fail "enrol-respond succeeded on the wrong TPM"
	grep -q "EK is not the one" err.log || fail "$(cat err.log)"
	# ...and a guessed secret is refused
	must "$FORGE" respond --tcti "$(tcti b)" --state b --challenge b.chal \
		--out b.resp --wrong-credential
	refuse 13 "AK is not in that TPM" \
		"$TTP" certify --dir ttp --response b.resp --out b.pem
}

t_ek_pin() {
	start_tpm a
	start_tpm b
	ttp_init
	request a
	refuse 10 "is not the pinned EK" "$TTP" challenge --dir ttp \
		--request a.req --baseline "$BASELINES/swtpm-fresh.json" \
		--ek-pin "$(pin_of b)" --out a.chal
	refuse 10 "no EK certificate" "$TTP" challenge --dir ttp \
		--request a.req --baseline "$BASELINES/swtpm-fresh.json" \
		--ek-ca ttp/ttp.pem --out a.chal
}

t_rsa_ek() {
	start_tpm h
	ttp_init
	request h --ek-type rsa
	must "$TTP" challenge --dir ttp --request h.req --ek-pin "$(pin_of h rsa)" \
		--baseline "$BASELINES/swtpm-fresh.json" --out h.chal
	respond h
	certify h
	must "$TTP" verify --token h.pem --ca ttp/ttp.pem --crl ttp/crl.pem
}

t_import_ca() {
	start_tpm h
	must openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 \
		-nodes -keyout ca.key -out ca.pem -days 30 -subj "/CN=Existing CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
	must "$TTP" init --dir ttp --import-cert ca.pem --import-key ca.key
	request h
	challenge h "$BASELINES/swtpm-fresh.json"
	respond h
	certify h
	# the token may not outlive its issuer
	grep -q "validity cut" err.log || fail "token validity not cut to the CA's"
	must openssl verify -CAfile ca.pem -crl_check -CRLfile ttp/crl.pem h.pem
	refuse 4 "does not belong" "$TTP" init --dir ttp3 --import-cert h.pem \
		--import-key ca.key
}

# A TPM "manufactured" by swtpm_setup with an RSA EK certificate signed by a
# throw-away swtpm_localca CA (the stand-in for a TPM vendor's CA).
t_ek_cert() {
	mkdir -p h-tpm ca
	cat >localca.conf <<-EOC
		statedir = $PWD/ca
		signingkey = $PWD/ca/signkey.pem
		issuercert = $PWD/ca/issuercert.pem
		certserial = $PWD/ca/certserial
	EOC
	cat >setup.conf <<-EOC
		create_certs_tool = /usr/bin/swtpm_localca
		create_certs_tool_config = $PWD/localca.conf
		create_certs_tool_options = /etc/swtpm-localca.options
	EOC
	must swtpm_setup --tpm2 --tpmstate "$PWD/h-tpm" --create-ek-cert \
		--config "$PWD/setup.conf" --pcr-banks sha256
	start_tpm h
	cat ca/issuercert.pem ca/swtpm-localca-rootca-cert.pem >vendor-ca.pem
	ttp_init
	request h --ek-type rsa
	grep -q "EK certificate: present" out.log || fail "no EK certificate read"
	must "$TTP" challenge --dir ttp --request h.req --ek-ca vendor-ca.pem \
		--baseline "$BASELINES/swtpm-fresh.json" --out h.chal
	respond h
	certify h
	# an EK certificate from a CA the TTP does not trust
	refuse 10 "does not verify against" "$TTP" challenge --dir ttp \
		--request h.req --ek-ca ttp/ttp.pem \
		--baseline "$BASELINES/swtpm-fresh.json" --out h2.chal
}

missing=
for tool in swtpm swtpm_setup tpm2_pcrextend openssl; do
	command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	skip "userspace tests" "missing:$missing (run scripts/setup-deps.sh)"
	tap "1..$n"
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 0
fi

run "help and usage" t_help
run "baseline files parse; malformed ones are refused" t_baselines
run "baseline recorded after an emulated measured boot" t_record_baseline
run "enrolment + certify; openssl verify -crl_check accepts" t_enrol_verify
run "ECDH_ZGen works under PolicyPCR and fails after a PCR extend" t_zgen_binding
run "revoked token rejected by openssl verify -crl_check and verify" t_revoke
run "expired / not yet valid token and stale CRL detected" t_validity
run "token for another baseline rejected" t_wrong_baseline
run "edited token extension rejected" t_tampered
run "PCR extended before the quote: certify refused" t_pcr_changed
run "quote over a wrong nonce: certify refused" t_quote_nonce
run "migration key with userWithAuth: certify refused" t_mk_user_with_auth
run "migration key with a wrong policy: certify refused" t_mk_wrong_policy
run "AK from another TPM than the EK: certify refused" t_ak_other_tpm
run "EK neither pinned nor certified: challenge refused" t_ek_pin
run "enrolment with an RSA EK" t_rsa_ek
run "EK certificate verified against the TPM vendor CA" t_ek_cert
run "existing CA imported as the TTP" t_import_ca

tap "1..$n"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
