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
WORK=$(mktemp -d /tmp/trustmig-user-tests.XXXXXX)

n=0
passed=0
failed=0
skipped=0

. "$(dirname "$0")/lib.sh"

# The host's own configuration file must not leak into the tests.
export TRUSTMIG_CONFIG=$WORK/none.conf
: >"$TRUSTMIG_CONFIG"
# Nor a service manager's notification socket (a runner under systemd).
unset NOTIFY_SOCKET

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

run() {
	local name=$1 fn=$2 dir rc

	[ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]] && return
	n=$((n + 1))
	dir=$WORK/t$n
	mkdir -p "$dir"
	(cd "$dir" && touch out.log err.log && "$fn") >"$dir/log" 2>&1
	rc=$?
	stop_tpms "$dir"
	[ -f "$dir/d.pid" ] && kill "$(cat "$dir/d.pid")" 2>/dev/null
	# a proxy still waiting for connections the failed test never made
	[ -f "$dir/proxy.pids" ] && kill $(cat "$dir/proxy.pids") 2>/dev/null
	if [ $rc -eq 0 ]; then
		tap "ok $n - $name"
		passed=$((passed + 1))
	else
		tap "not ok $n - $name"
		sed 's/^/# /' "$dir/log" | tee -a "$TAP"
		failed=$((failed + 1))
	fi
	# a sub-step that cannot run on this host: SKIP, never "ok"
	[ -f "$dir/skip" ] && skip "$name: $(cat "$dir/skip.what")" \
		"$(cat "$dir/skip")"
}

skip() {
	n=$((n + 1))
	tap "ok $n - $1 # SKIP $2"
	skipped=$((skipped + 1))
}

# --- tests -----------------------------------------------------------------

t_help() {
	local c

	for c in init challenge certify certify-ca revoke crl show baseline \
		verify; do
		"$TTP" "$c" --help | grep -q "^  $c" || fail "trustmig-ttp $c --help"
	done
	for c in ek enrol-request enrol-respond enrol-install baseline check-key \
		handshake status config; do
		"$HOST" "$c" --help | grep -q "^  $c" || fail "trustmig $c --help"
	done
	"$TTP" --help | grep -q '^EXIT STATUS' || fail "trustmig-ttp --help"
	"$HOST" --help | grep -q '^SYNOPSIS' || fail "trustmig --help"
	"$BIN/trustmigd" --help | grep -q '^SYNOPSIS' || fail "trustmigd --help"
	refuse 2 "--crl is required" "$BIN/trustmigd"
	refuse 2 "--peer and one of --policy or --policy-id are required" \
		"$HOST" handshake
	refuse 2 "unknown command" "$TTP" frobnicate
	refuse 2 "required" "$TTP" certify --dir ttp
}

# define_of FILE NAME: N of "#define NAME N" in FILE of the source tree
define_of() {
	sed -n "s/^#define $2[[:space:]]*\([0-9]*\).*/\1/p" "$HERE/../../$1"
}

# Every tool's --version: three lines, the same in all four but the tool's
# name and trustmig-vm's own connection
t_version() {
	local genl tool line out
	local want=() ko="trustmig.ko not loaded: *kernel $(uname -r)*"

	genl=$(define_of uapi/linux/trustmig.h TRUSTMIG_GENL_VERSION)
	want[2]="wire formats: sealed records v$(define_of uapi/linux/trustmig.h TRUSTMIG_WIRE_VERSION), handshake v$(define_of user/lib/wire.h TM_WIRE_VERSION)"
	[ -r /sys/module/trustmig/version ] &&
		ko="trustmig.ko $(cat /sys/module/trustmig/version) (netlink family trustmig v$genl)"
	for tool in trustmig trustmigd trustmig-ttp trustmig-vm; do
		want[1]="$tool $(cat "$HERE/../../VERSION") (netlink family trustmig v$genl)"
		[ "$tool" = trustmig-vm ] &&
			want[2]+=", trustmig-vm connection v$(define_of user/vmm/proto.h TMVM_VERSION)"
		must "$BIN/$tool" --version
		[ -s err.log ] && fail "$tool --version wrote to stderr: $(cat err.log)"
		mapfile -t out <out.log
		: >out.log
		[ ${#out[@]} -eq 3 ] || fail "$tool --version: ${out[*]}"
		for line in 1 2; do
			[ "${out[line - 1]}" = "${want[line]}" ] ||
				fail "$tool --version line $line: ${out[line - 1]}, not ${want[line]}"
		done
		# $ko: a pattern when the module is not loaded
		[[ ${out[2]} == $ko ]] || fail "$tool --version line 3: ${out[2]}"
	done
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

# refuse_line CODE LINE CMD...: CMD exits with CODE, and its stderr is
# exactly LINE
refuse_line() {
	local code=$1 line=$2

	shift 2
	refuse "$code" "" "$@"
	[ "$(cat err.log)" = "$line" ] || fail "stderr of $*: $(cat err.log)"
}

# locked CMD...: CMD as root without the capability to read any file,
# so that a file of mode 000 is unreadable to it as to anyone
locked() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --bounding-set=-dac_override,-dac_read_search -- "$@"
	else
		"$@"
	fi
}

# Inputs: a JSON key named twice (json-c keeps the last one silently),
# an empty file, a file that is no PEM, a file that cannot be read: each
# refused with its own status and a reason in words, not in a library's
# codes.
t_inputs() {
	ttp_init
	sed 's/"1": "0000/"\\u0030": "1111/' "$BASELINES/swtpm-fresh.json" >dup.json
	refuse_line 3 'trustmig-ttp: dup.json: baseline names the key "0" twice in one object (again at byte 382)' \
		"$TTP" baseline dup.json
	cat >pdup.json <<-EOP
		{ "schema": "trustmig-policy/1", "id": "vm", "id": "other",
		  "anchors": [ "ttp/ttp.pem" ], "baselines": [ "b.json" ] }
	EOP
	refuse_line 53 'trustmig: pdup.json: policy names the key "id" twice in one object (again at byte 45)' \
		"$HOST" handshake --peer 127.0.0.1:1 --policy pdup.json --crl ttp/crl.pem
	: >empty.json
	refuse_line 3 'trustmig-ttp: empty.json: baseline is not valid JSON (unexpected end of text at byte 0)' \
		"$TTP" baseline empty.json
	echo hello >notpem.pem
	refuse_line 4 'trustmig: cannot read a PEM CRL from notpem.pem: no PEM block of that kind ("-----BEGIN ..." line) in it' \
		"$HOST" handshake --peer 127.0.0.1:1 --policy pdup.json --crl notpem.pem
	cp ttp/crl.pem locked.pem
	cp "$BASELINES/swtpm-fresh.json" locked.json
	printf 'state = s\n' >locked.conf
	chmod 000 locked.pem locked.json locked.conf
	refuse_line 6 'trustmig: cannot read a PEM CRL from locked.pem: Permission denied' \
		locked "$HOST" handshake --peer 127.0.0.1:1 --policy pdup.json --crl locked.pem
	refuse_line 6 'trustmig-ttp: locked.json: cannot open locked.json: Permission denied' \
		locked "$TTP" baseline locked.json
	refuse_line 6 'trustmig: configuration: cannot open locked.conf: Permission denied' \
		locked "$HOST" config --config locked.conf
}

# A bad port or number, on the command line or in the configuration
# file, is refused naming the option or key and its range (getaddrinfo()
# took port 99999 as 34463)
t_option_values() {
	local range='is not HOST:PORT with PORT a number from'

	refuse_line 2 "trustmigd: --listen: \"127.0.0.1:99999\" $range 0 to 65535" \
		"$BIN/trustmigd" --listen 127.0.0.1:99999 --crl x.pem
	refuse_line 2 "trustmigd: --listen: \"127.0.0.1:http\" $range 0 to 65535" \
		"$BIN/trustmigd" --listen 127.0.0.1:http --crl x.pem
	refuse_line 2 "trustmigd: --timeout: \"0\" is not a number in [1, 3600] (try 'trustmigd --help')" \
		"$BIN/trustmigd" --timeout 0 --crl x.pem
	refuse_line 2 "trustmig: --peer: \"127.0.0.1:99999\" $range 1 to 65535" \
		"$HOST" handshake --peer 127.0.0.1:99999 --policy-id vm
	refuse_line 2 "trustmig: --peer: \"127.0.0.1:0\" $range 1 to 65535" \
		"$HOST" handshake --peer 127.0.0.1:0 --policy-id vm
	refuse_line 2 "trustmig: handshake: --timeout: \"4000\" is not a number in [1, 3600] (try 'trustmig handshake --help')" \
		"$HOST" handshake --peer 127.0.0.1:1 --policy-id vm --timeout 4000
	refuse_line 1 "trustmig-vm: --incoming: \"99999\" is not [HOST:]PORT with PORT a number from 0 to 65535" \
		"$BIN/trustmig-vm" --incoming 99999 --session-file s
	refuse_line 1 "trustmig-vm: --incoming: \"127.0.0.1:http\" is not [HOST:]PORT with PORT a number from 0 to 65535" \
		"$BIN/trustmig-vm" --incoming 127.0.0.1:http --session-file s
	refuse_line 1 "trustmig-vm: --migrate-to: \"127.0.0.1:0\" $range 1 to 65535" \
		"$BIN/trustmig-vm" --migrate-to 127.0.0.1:0 --session-file s
	refuse_line 1 "trustmig-vm: --migrate-to: \"7469\" $range 1 to 65535" \
		"$BIN/trustmig-vm" --migrate-to 7469 --session-file s
	refuse_line 1 "trustmig-vm: --streams: \"0\" is not a number in [1, 16]" \
		"$BIN/trustmig-vm" --streams 0 --migrate-to 127.0.0.1:1 --session-file s
	refuse_line 1 "trustmig-vm: --streams: \"17\" is not a number in [1, 16]" \
		"$BIN/trustmig-vm" --streams 17 --migrate-to 127.0.0.1:1 --session-file s
	# a good address passes on to the next check: a session line of its role
	: >s
	refuse_line 1 "trustmig-vm: session file s: empty: the handshake did not complete" \
		"$BIN/trustmig-vm" --incoming :0 --session-file s
	printf 'listen = 0.0.0.0:70000\n' >port.conf
	refuse_line 5 "trustmig: port.conf:1: listen: \"0.0.0.0:70000\" $range 0 to 65535" \
		"$HOST" config --config port.conf
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

# digests of files a test host's IMA measured
KO_SHA=$(printf 'trustmig.ko build' | sha256sum | cut -c1-64)
KVM_SHA=$(printf 'kvm.ko' | sha256sum | cut -c1-64)
EVIL_SHA=$(printf 'evil.ko' | sha256sum | cut -c1-64)
MODS=/usr/lib/modules/6.1.0-57-amd64
KO=$MODS/updates/dkms/trustmig.ko=$KO_SHA
KVM=$MODS/kernel/arch/x86/kvm/kvm.ko=$KVM_SHA
EVIL=$MODS/extra/evil.ko=$EVIL_SHA

t_record_baseline_ima() {
	start_tpm h
	ima_list h "$KVM" "$KO" "$KVM" "@11:/boot/x=$EVIL_SHA"
	must env TRUSTMIG_IMA_LOG=h.ima "$HOST" baseline --tcti "$(tcti h)" \
		--id ima --version 1 --pcrs 0-7 --control CM-2 --ima --out ima.json
	must "$TTP" baseline ima.json
	grep -q "controls CM-2, IMA: 2 files, 1 trustmig.ko$" out.log ||
		fail "ttp baseline: $(cat out.log)"
	# each file once, trustmig.ko the key module, PCR 11's entry not
	python3 - ima.json "$KO_SHA" "$KVM_SHA" <<-'EOP' || fail "$(cat ima.json)"
		import json, sys
		files = json.load(open(sys.argv[1]))["ima"]["files"]
		got = sorted((f["sha256"], f.get("key_module", False)) for f in files)
		assert got == sorted([(sys.argv[2], True), (sys.argv[3], False)]), files
	EOP
	refuse 2 "PCR 10 is IMA's: record its list with --ima instead" \
		"$HOST" baseline --tcti "$(tcti h)" --id x --version 1 \
		--pcrs 0-7,10 --control CM-2 --out x.json
	sed 's/"pcrs": {/"pcrs": { "10": "'"$KO_SHA"'",/' ima.json >pcr10.json
	refuse 3 "PCR 10 is IMA's: it changes with every file measured" \
		"$TTP" baseline pcr10.json
	# a list that is not the one PCR 10 holds, none, no trustmig.ko
	python3 "$HERE/ima-list.py" h.ima "$KO" >/dev/null
	refuse 21 "IMA's list h.ima does not replay to this TPM's PCR 10" \
		env TRUSTMIG_IMA_LOG=h.ima "$HOST" baseline --tcti "$(tcti h)" \
		--id x --version 1 --pcrs 0-7 --control CM-2 --ima --out x.json
	refuse 21 "no IMA list at none.ima (IMA off, or securityfs not mounted)" \
		env TRUSTMIG_IMA_LOG=none.ima "$HOST" baseline --tcti "$(tcti h)" \
		--id x --version 1 --pcrs 0-7 --control CM-2 --ima --out x.json
	start_tpm k
	ima_list k "$KVM"
	refuse 21 "IMA measured no trustmig.ko here: load IMA's policy (trustmig-ima.service) before the module" \
		env TRUSTMIG_IMA_LOG=k.ima "$HOST" baseline --tcti "$(tcti k)" \
		--id x --version 1 --pcrs 0-7 --control CM-2 --ima --out x.json
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

# respond_encrypted NAME: respond, with its TPM traffic traced
# (TSS2_LOG=tcti+debug, read by tm-tpmbus.py): the credential it activates
# (in NAME.resp, for the TTP) is in no TPM response, ActivateCredential
# returning it encrypted in a session salted to the EK; the migration
# key's Create runs in a salted, encrypting session too.
respond_encrypted() {
	local cred

	TSS2_LOG=tcti+debug respond "$1"
	mv err.log "$1.trace"
	# the Response's second OCTET STRING: TPM2B_DIGEST, size 0020 first
	cred=$(openssl asn1parse -in "$1.resp" |
		awk -F: '/OCTET STRING/ && ++k == 2 { print substr($NF, 5) }')
	[ ${#cred} -eq 64 ] || fail "no credential in $1.resp: $cred"
	"$HERE/tm-tpmbus.py" "$1.trace" ActivateCredential "$cred" ||
		fail "ActivateCredential"
	"$HERE/tm-tpmbus.py" "$1.trace" Create || fail "Create"
}

t_tpm_bus_enrol() {
	start_tpm h
	ttp_init
	request h
	challenge h "$BASELINES/swtpm-fresh.json"
	respond_encrypted h
	certify h
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

# The TPM's quote signature re-encoded: still valid ECDSA, but not the
# one encoding a signer sends, so the TTP (and every handshake peer, the
# same verifier) refuses it.
t_quote_sig_reencoded() {
	local how

	start_tpm h
	ttp_init
	request h
	for how in high-s padded; do
		challenge h "$BASELINES/swtpm-fresh.json"
		must "$FORGE" respond --tcti "$(tcti h)" --state h --challenge h.chal \
			--out h.resp --quote-sig-$how
		refuse 14 "attestation signature is not in canonical form" \
			"$TTP" certify --dir ttp --response h.resp --out h.pem
	done
}

# Host names become a token's CN and appear in every log line about the
# host: RFC 1123 only, at enrol-request and at the TTP; the name in the
# refusal is printed with '?' for what is not printable.
t_host_name() {
	local name why="is not an RFC 1123 name of at most 64 characters (letters, digits, '-' inside labels, dots between them)"

	start_tpm h
	ttp_init
	for name in "$(printf 'evil\nhandshake peer=1.2.3.4 result=ok')" \
		-lead.example trail-.example a..b "$(printf 'a%.0s' {1..65})"; do
		refuse 2 "^trustmig: --host-name (default: this host's name): host name \"$(printf '%s' "$name" | tr -c '[:print:]' '?' | cut -c1-64)$([ ${#name} -gt 64 ] && echo '\.\.\.')\" $why\$" \
			"$HOST" enrol-request --tcti "$(tcti h)" --state h \
			--host-name "$name" --out h.req
		[ "$(wc -l <err.log)" = 1 ] || fail "not one line: $(cat err.log)"
		[ ! -e h.req ] || fail "a request was written for [$name]"
	done
	request h
	must "$FORGE" rename-request --from h.req --out bad.req \
		--host-name "$(printf 'x\ny')"
	refuse 4 "enrolment request: host name \"x?y\" $why" \
		"$TTP" challenge --dir ttp --request bad.req \
		--baseline "$BASELINES/swtpm-fresh.json" --ek-pin "$(pin_of h)" \
		--out bad.chal
	must "$HOST" enrol-request --tcti "$(tcti h)" --state h \
		--host-name Host-1.rack-2.example --out ok.req
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
	respond_encrypted h
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

# csr NAME KEY-OPTION SUBJECT: a certificate request NAME.csr
csr() {
	must openssl req -new -newkey ec -pkeyopt "ec_paramgen_curve:$2" -nodes \
		-keyout "$1.key" -subj "$3" -out "$1.csr"
}

# An intermediate TTP certified by a root TTP: its tokens go with its
# certificate and verify against the root alone; the root refuses
# requests that are not a TTP's and certifies only if it may.
t_ttp_intermediate() {
	local pre="trustmig-ttp: "

	start_tpm h
	ttp_intermediate
	enrol h "$BASELINES/swtpm-fresh.json"
	[ "$(grep -c 'BEGIN CERTIFICATE' h.pem)" -eq 2 ] ||
		fail "the token goes without its issuer: $(cat h.pem)"
	cmp -s ttp.chain ttp/chain.pem && cmp -s h/token.pem h.pem ||
		fail "the chain was not kept"
	must openssl verify -x509_strict -crl_check_all -CAfile root/ttp.pem \
		-untrusted ttp/chain.pem -CRLfile root/crl.pem \
		-CRLfile ttp/crl.pem h.pem
	must "$TTP" verify --token h.pem --ca root/ttp.pem "${CRLS[@]}"
	openssl x509 -in h.pem -out alone.pem || fail "the token alone"
	refuse 30 "unable to get local issuer certificate" \
		"$TTP" verify --token alone.pem --ca root/ttp.pem
	# the root certifies only TTP keys of their own name
	refuse_line 2 "${pre}this TTP's certificate allows no CA below it (path length 0; see init --path-len)" \
		"$TTP" certify-ca --dir ttp --csr ttp.csr --out x.chain
	csr p256 P-256 "/CN=small"
	refuse_line 4 "${pre}p256.csr: the request's key is not ECDSA P-384, as a TTP's is" \
		"$TTP" certify-ca --dir root --csr p256.csr --out x.chain
	csr nocn P-384 "/O=trustmig"
	refuse_line 4 "${pre}nocn.csr: the request names no common name (CN)" \
		"$TTP" certify-ca --dir root --csr nocn.csr --out x.chain
	csr same P-384 "/CN=trustmig test root"
	refuse_line 4 "${pre}same.csr: the request bears this TTP's own name" \
		"$TTP" certify-ca --dir root --csr same.csr --out x.chain
	openssl req -in nocn.csr -outform DER -out nocn.der || fail "der"
	perl -pi -e 's/trustmig/trustmog/' nocn.der
	openssl req -inform DER -in nocn.der -out forged.csr || fail "pem"
	refuse_line 4 "${pre}forged.csr: the request's signature does not verify with its key" \
		"$TTP" certify-ca --dir root --csr forged.csr --out x.chain
	[ ! -e x.chain ] || fail "a refused request was certified"
	# what init --import-cert takes
	refuse_line 2 "${pre}init: --import-key goes with --import-cert (try 'trustmig-ttp init --help')" \
		"$TTP" init --dir x --import-key ttp/ttp.key
	refuse_line 2 "${pre}init: --path-len is for a new root, not with --csr or --import-cert (try 'trustmig-ttp init --help')" \
		"$TTP" init --dir x --csr x.csr --path-len 1
	[ ! -e x ] || fail "a refused init made x/"
	cat ttp/ttp.pem h.pem >bad.chain
	refuse_line 4 "${pre}bad.chain: certificate 2 is not the issuer of certificate 1" \
		"$TTP" init --dir x --import-cert bad.chain --import-key ttp/ttp.key
	refuse_line 6 "${pre}cannot read a key from y/ttp.key: No such file or directory" \
		"$TTP" init --dir y --import-cert ttp.chain
	# the root's CRL revokes the intermediate
	must "$TTP" revoke --dir root --token ttp/ttp.pem --crl-days 3650
	openssl verify -crl_check_all -CAfile root/ttp.pem -untrusted ttp/chain.pem \
		-CRLfile root/crl.pem -CRLfile ttp/crl.pem h.pem >ov.log 2>&1 &&
		fail "openssl verify accepted the token of a revoked TTP"
	grep -q "certificate revoked" ov.log || fail "openssl: $(cat ov.log)"
}

# Revocation covers the chain: every CA up to the anchor needs its current
# CRL, and the root's CRL withdraws an intermediate TTP with every token
# it issued.
t_chain_revocation() {
	local pre="trustmig-ttp: token rejected: " ttp='"CN=trustmig test TTP"'
	local root='"CN=trustmig test root"'
	local every="among those given (every CA up to the anchor needs its current CRL)"

	start_tpm h
	ttp_intermediate
	enrol h "$BASELINES/swtpm-fresh.json"
	must "$TTP" verify --token h.pem --ca root/ttp.pem "${CRLS[@]}"
	refuse_line 34 "${pre}no CRL of CA $ttp $every" \
		"$TTP" verify --token h.pem --ca root/ttp.pem --crl root/crl.pem
	refuse_line 34 "${pre}no CRL of CA $root $every" \
		"$TTP" verify --token h.pem --ca root/ttp.pem --crl ttp/crl.pem
	openssl x509 -in h.pem -out alone.pem || fail "the token alone"
	refuse_line 30 "${pre}unable to get local issuer certificate: $ttp is neither an anchor nor one of the intermediate CA certificates with the token" \
		"$TTP" verify --token alone.pem --ca root/ttp.pem "${CRLS[@]}"
	must "$TTP" revoke --dir root --token ttp/ttp.pem --crl-days 3650
	refuse_line 33 "${pre}its issuer $ttp is revoked (CRL of $root)" \
		"$TTP" verify --token h.pem --ca root/ttp.pem "${CRLS[@]}"
	refuse_line 33 "trustmig: token rejected: its issuer $ttp is revoked (CRL of $root)" \
		"$HOST" enrol-install --state h --token h.pem --ca root/ttp.pem \
		"${CRLS[@]}"
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

# --- migration handshake ---------------------------------------------------

# log_line FILE N RESULT CODE REASON: the N-th handshake line of FILE
# (waiting for it) has every field, with this result, code and reason
log_line() {
	local try line
	local re='^<[36]>trustmigd?\[[0-9]+\]: handshake peer=[^ ]+ host=[^ ]+ policy=[^ ]+ result='

	for try in $(seq 50); do
		line=$(grep 'handshake peer=' "$1" | sed -n "$2p")
		[ -n "$line" ] && break
		sleep 0.1
	done
	[[ "$line" =~ $re$3\ code=$4\ reason=\".*"$5".*\"\ ms=[0-9]+$ ]] ||
		fail "handshake line $2 of $1 is not result=$3 code=$4 \"$5\": $line"
}

# hs_done[_port PORT [ARGS]]: the handshake completes; the keys are
# installed unless trustmig.ko is not loaded, which becomes a SKIP of that
# sub-step. Sets HS_LOG to what both ends' log lines say.
hs_done() {
	hs_done_port "$DPORT"
}

hs_done_port() {
	local rc

	hs "$@" >>out.log 2>err.log
	rc=$?
	if [ $rc -eq 56 ] && [ ! -d /sys/module/trustmig ]; then
		grep -q "trustmig.ko not loaded: keys not installed" err.log ||
			fail "exit 56 without the reason: $(cat err.log)"
		echo "trustmig.ko not loaded: keys not installed" >skip
		echo "keys installed in trustmig.ko" >skip.what
		HS_LOG=(refused 56 "trustmig.ko not loaded")
	elif [ $rc -ne 0 ]; then
		fail "handshake failed ($rc): $(cat err.log)"
	else
		keys_match
		HS_LOG=(ok 0 "keys agreed")
	fi
	log_line err.log 1 "${HS_LOG[@]}"
}

# keys_match: with trustmig.ko loaded (in the test guest), the sessions
# both ends handed out must carry a VM from one to the other: proof that
# the kernel holds the same keys on both sides.
keys_match() {
	local src stream dst

	[ -n "${SESSION_CHECK:-}" ] || fail "keys installed but SESSION_CHECK unset"
	# the source's line: in out.log, or in $SRC_SESSION (--session-out)
	src=$(grep '^trustmig-session v1 role=source' "${SRC_SESSION:-out.log}" | tail -n 1)
	stream=$(sed -n 's/.* stream=\([0-9a-f]*\) .*/\1/p' <<<"$src")
	[ -n "$stream" ] || fail "no source session line: $(cat "${SRC_SESSION:-out.log}")"
	dst=$(cat "sess/$stream.session" 2>/dev/null) ||
		fail "no destination session file for stream $stream"
	"$SESSION_CHECK" "$src" "$dst" >>out.log 2>>err.log ||
		fail "installed keys do not carry a VM: $(tail -n 2 err.log)"
	# The module's own account of both sessions, keys never shown.
	"$HOST" session list >sessions.log 2>>err.log ||
		fail "trustmig session list failed"
	grep -Eq "role=source peer=d.example addr=127.0.0.1:[0-9]+ policy=vm cipher=aes-256-gcm state=complete keyed=1 attached=0 stream=$stream " sessions.log &&
		grep -Eq "role=dest peer=s.example addr=127.0.0.1:[0-9]+ policy=vm cipher=aes-256-gcm state=complete keyed=1 attached=0 stream=$stream " sessions.log ||
		fail "trustmig session list lacks the two sessions: $(cat sessions.log)"
}

# session_id ROLE STREAM: the id of that session in sessions.log
session_id() {
	sed -n "s/^session \([0-9]*\) role=$1 .* stream=$2 .*/\1/p" sessions.log
}

# t_hs_sessions: with trustmig.ko loaded (the test guest), what the
# operator sees of the sessions handshakes made, and what becomes of
# them: completed ones and ones no VMM attached to in time, and their
# files in the session directory.
t_hs_sessions() {
	local stream src dst stream2 src2 dst2 mon try

	hs_hosts
	if [ ! -d /sys/module/trustmig ]; then
		echo "trustmig.ko not loaded" >skip
		echo "trustmig session, attach timeout, session files" >skip.what
		return
	fi
	"$HOST" session monitor --json --count 4 >mon.json 2>mon.err &
	mon=$!
	for try in $(seq 50); do
		grep -q "monitoring trustmig.ko's events" mon.err && break
		sleep 0.1
	done
	start_d
	hs_done
	stream=$(sed -n 's/.* stream=\([0-9a-f]*\) .*/\1/p' out.log | tail -n 1)
	src=$(session_id source "$stream")
	dst=$(session_id dest "$stream")
	[ -n "$src" ] && [ -n "$dst" ] || fail "no ids: $(cat sessions.log)"
	must "$HOST" session show "$src"
	grep -q "^session $src: source to d.example (127.0.0.1:$DPORT)$" out.log &&
		grep -q "^  state:    complete$" out.log ||
		fail "session show: $(cat out.log)"
	"$HOST" session list --json >list.json 2>err.log || fail "$(cat err.log)"
	python3 - list.json "$src" "$dst" <<-'EOP' || fail "--json: $(cat list.json)"
		import json, sys
		s = {x["id"]: x for x in json.load(open(sys.argv[1]))}
		a, b = s[int(sys.argv[2])], s[int(sys.argv[3])]
		assert (a["role"], a["peer"], a["policy"], a["state"]) == \
		    ("source", "d.example", "vm", "complete"), a
		assert (b["role"], b["peer"], b["state"]) == ("dest", "s.example", "complete"), b
		assert a["pages"] > 0 and a["records"] == b["records"], (a, b)
	EOP
	# the VMM attached: trustmigd removes the file it left for it
	await_gone "sess/$stream.session" 100 ||
		fail "sess/$stream.session still there after 10 s"
	grep -q "removed sess/$stream.session: session $dst attached, failed or ended" d.log ||
		fail "no log line for the removed file: $(cat d.log)"

	# sessions no VMM attaches to: both ends end them after 1 s
	kill "$(cat d.pid)"
	echo "attach-timeout = 1" >short.conf
	TRUSTMIG_CONFIG=$PWD/short.conf start_d
	TRUSTMIG_CONFIG=$PWD/short.conf hs "$DPORT" --tcti "$(tcti s)" \
		--state s --policy pol/vm.json --crl ttp/crl.pem --timeout 5 \
		--peer-name d.example --json >hs.json 2>>err.log ||
		fail "second handshake: $(tail -n 2 err.log)"
	python3 - hs.json <<-'EOP' >out2.log || fail "--json: $(cat hs.json)"
		import json, sys
		j = json.load(open(sys.argv[1]))
		assert (j["result"], j["code"], j["host"], j["policy"], j["session_out"]) == \
		    ("ok", 0, "d.example", "vm", "-"), j
		assert j["session_line"].startswith("trustmig-session v1 role=source id=%d " %
						    j["session_id"]), j
		print(j["session_line"])
	EOP
	stream2=$(sed -n 's/.* stream=\([0-9a-f]*\) .*/\1/p' out2.log)
	for try in $(seq 100); do
		kill -0 "$mon" 2>/dev/null || break
		sleep 0.1
	done
	wait "$mon" || fail "monitor: $(cat mon.err)"
	"$HOST" session list >sessions.log 2>>err.log
	src2=$(session_id source "$stream2")
	dst2=$(session_id dest "$stream2")
	grep -Eq "^session $src2 role=source .* state=failed reason=attach-timeout error=ETIMEDOUT keyed=1 attached=0 .* attach-timeout=1s " sessions.log &&
		grep -Eq "^session $dst2 role=dest .* state=failed reason=attach-timeout error=ETIMEDOUT " sessions.log ||
		fail "not expired: $(cat sessions.log)"
	python3 - mon.json "$src" "$dst" "$src2" "$dst2" <<-'EOP' || fail "monitor: $(cat mon.json)"
		import json, sys
		ev = [json.loads(l) for l in open(sys.argv[1])]
		got = sorted((e["event"], e["id"], e.get("reason"), e.get("errno")) for e in ev)
		a, b, c, d = map(int, sys.argv[2:])
		want = sorted([("complete", a, None, None), ("complete", b, None, None),
			       ("failed", c, "attach-timeout", "ETIMEDOUT"),
			       ("failed", d, "attach-timeout", "ETIMEDOUT")])
		assert got == want, (got, want)
	EOP
	must "$HOST" session show "$dst2"
	grep -q "^  state:    failed: attach-timeout, no VMM attached in time (ETIMEDOUT: Connection timed out)$" out.log ||
		fail "session show of an expired session: $(cat out.log)"
	await_gone "sess/$stream2.session" 100 ||
		fail "sess/$stream2.session of an expired session still there"

	must "$HOST" session del "$src2"
	refuse 60 "^trustmig: trustmig.ko holds no session $src2$" \
		"$HOST" session show "$src2"
	refuse 60 "^trustmig: trustmig.ko holds no session $src2$" \
		"$HOST" session del "$src2"
	refuse 2 'session ID "x" is not a number from 1 to 4294967295' \
		"$HOST" session show x
	refuse 2 'unknown session command "frob"' "$HOST" session frob
	"$HOST" session flush >flush.log 2>err.log || fail "flush: $(cat err.log)"
	grep -Eq "^deleted [0-9]+ sessions?$" flush.log || fail "flush: $(cat flush.log)"
	"$HOST" session list >sessions.log 2>err.log || fail "$(cat err.log)"
	[ ! -s sessions.log ] || fail "sessions left after flush: $(cat sessions.log)"

	# trustmigd cannot hand its session over: it deletes it, the source
	# is told and installs nothing
	kill "$(cat d.pid)"
	mkdir sess2
	start_d --listen 127.0.0.1:0 --tcti "$(tcti d)" --state d \
		--policy-dir pol --crl ttp/crl.pem --session-dir sess2 --timeout 5
	rmdir sess2 && touch sess2
	refuse 52 "sess2/.*Not a directory" hs "$DPORT"
	"$HOST" session list >sessions.log 2>err.log || fail "$(cat err.log)"
	[ ! -s sessions.log ] ||
		fail "a session is left after a failed handover: $(cat sessions.log)"
}

fpr() {
	sed -n 's/.*debug: key fingerprint \([0-9a-f]*\) .*/\1/p' "$1" | tail -n 1
}

# t_hs_cost: one handshake through tm-proxy.py count and with both
# sides tracing their TPM commands: the protocol's shape (M1, M2, M3,
# RESULT; keys after one and a half round trips) and exactly the TPM
# commands docs/protocol.md section 10 lists.  HS_COST_OUT, if set, gets
# the figures as JSON (make bench, bench/run.sh).
t_hs_cost() {
	local frames src_cmds dst_cmds ms

	hs_hosts
	TSS2_LOG=tcti+debug start_d
	TSS2_LOG=tcti+debug hs_done_port "$(proxy count)"
	frames=$(cat frames.log)
	[ "$(awk '{ printf "%s:%s ", $1, $2 }' frames.log)" = "S>D:1 D>S:2 S>D:3 D>S:4 " ] ||
		fail "frames are not M1 M2 M3 RESULT: $frames"
	# The daemon's own start (before it listens) is no part of a handshake.
	sed -n '/listening on/,$p' d.log >d.trace
	src_cmds=$(tpm_sent err.log | sort | tr '\n' ' ')
	dst_cmds=$(tpm_sent d.trace | sort | tr '\n' ' ')
	[ "$src_cmds" = "CreatePrimary FlushContext FlushContext Load Quote " ] ||
		fail "source TPM commands: $src_cmds"
	[ "$dst_cmds" = "CreatePrimary ECDH_ZGen FlushContext FlushContext FlushContext FlushContext Load Load PolicyPCR Quote StartAuthSession " ] ||
		fail "destination TPM commands: $dst_cmds"
	ms=$(sed -n 's/.*handshake peer=.* ms=\([0-9]*\)$/\1/p' err.log)
	[ -n "$ms" ] || fail "no ms= in the source's log line: $(cat err.log)"
	[ -z "${HS_COST_OUT:-}" ] && return
	{
		printf '{ "source_ms": %s, "frames": [' "$ms"
		awk '{ printf "%s[\"%s\", %s, %s]", (NR > 1 ? ", " : ""), $1, $2, $3 }' frames.log
		printf '],\n  "source_tpm": "%s",\n  "destination_tpm": "%s" }\n' \
			"$(tpm_sent err.log | tr '\n' ' ')" "$(tpm_sent d.trace | tr '\n' ' ')"
	} >>"$HS_COST_OUT"
}

t_hs_ok() {
	local a b

	hs_hosts
	start_d
	hs_done
	a=$(fpr err.log)
	b=$(fpr d.log)
	[ -n "$a" ] && [ "$a" = "$b" ] || fail "fingerprints differ: $a / $b"
	grep -q "handshake peer=127.0.0.1:$DPORT host=d.example policy=vm" err.log ||
		fail "source log line: $(cat err.log)"
	grep -q "host=s.example policy=vm" d.log || fail "dest log: $(cat d.log)"
	log_line d.log 1 "${HS_LOG[@]}"
}

# --session-out: refused before any connection when it exists or cannot
# be made; removed when the handshake fails; new and 0600 (whatever the
# umask) when it succeeds, which needs trustmig.ko (the test guest).
t_hs_session_out() {
	local args

	hs_hosts
	start_d
	args=(--tcti "$(tcti s)" --state s --policy pol/vm.json
		--crl ttp/crl.pem --timeout 5 --peer-name d.example)
	echo old >exists.session
	refuse 1 "exists.session exists: the session file holds the ticket and is made new (mode 0600); remove it or name another" \
		hs "$DPORT" "${args[@]}" --session-out exists.session
	[ "$(cat exists.session)" = old ] || fail "the existing file changed"
	refuse 1 "cannot create nodir/s.session: No such file or directory" \
		hs "$DPORT" "${args[@]}" --session-out nodir/s.session
	grep -q "handshake peer" d.log && fail "trustmigd was contacted: $(cat d.log)"
	umask 022
	SRC_SESSION=new.session hs_done_port "$DPORT" "${args[@]}" --session-out new.session
	if [ -f skip ]; then
		[ ! -e new.session ] || fail "failed handshake left new.session"
	else
		[ "$(stat -c %a new.session)" = 600 ] ||
			fail "new.session has mode $(stat -c %a new.session)"
		grep -q "^trustmig-session v1 role=source " new.session ||
			fail "new.session: $(cat new.session)"
	fi
}

t_hs_fresh() {
	local a b

	hs_hosts
	start_d
	hs_done
	a=$(fpr err.log)
	hs_done
	b=$(fpr err.log)
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ] ||
		fail "two handshakes gave the same keys: $a / $b"
	[ "$(grep -c 'debug: key fingerprint' d.log)" -eq 2 ] ||
		fail "dest did not complete 2 handshakes: $(cat d.log)"
}

# hs_refused CODE PATTERN [PORT [ARGS]]: the source refuses with its log
# line, nothing is handed out
hs_refused() {
	local code=$1 pattern=$2

	shift 2
	[ $# -gt 0 ] || set -- "$DPORT"
	refuse "$code" "$pattern" hs "$@"
	log_line err.log 1 refused "$code" ""
	grep -q "trustmig-session" out.log && fail "a session was handed out"
	[ -z "$(ls sess)" ] || fail "a session file was written"
}

t_hs_baseline() {
	hs_hosts swtpm-measured-boot
	start_d
	hs_refused 54 "d.example is certified for baseline swtpm-measured-boot version 2, which policy vm does not accept"
	dest_refused 1 52 "the peer refused the handshake (its code 54)"
	# the same refusal for orchestration: one JSON object on stdout
	hs "$DPORT" --tcti "$(tcti s)" --state s --policy pol/vm.json \
		--crl ttp/crl.pem --timeout 5 --peer-name d.example --json \
		>hs.json 2>>err.log && fail "--json: accepted"
	python3 - hs.json "$DPORT" <<-'EOP' || fail "--json: $(cat hs.json)"
		import json, sys
		j = json.load(open(sys.argv[1]))
		# as in the log line: the host only once its token was accepted
		assert (j["result"], j["code"], j["host"], j["policy"]) == \
		    ("refused", 54, None, "vm"), j
		assert j["peer"] == "127.0.0.1:" + sys.argv[2], j
		assert "which policy vm does not accept" in j["reason"], j
		assert "session_line" not in j and "session_id" not in j, j
	EOP
}

# ima_hosts: hs_hosts under baseline swtpm-ima (swtpm-fresh whose "ima"
# lists trustmig.ko, the key module, and kvm.ko), policy vm its only one
ima_hosts() {
	python3 - "$BASELINES/swtpm-fresh.json" "$KO" "$KVM" >swtpm-ima.json <<-'EOP'
		import json, sys
		b = json.load(open(sys.argv[1]))
		b["id"], b["version"] = "swtpm-ima", 1
		files = [dict(zip(("path", "sha256"), a.rsplit("=", 1))) for a in sys.argv[2:]]
		files[0]["key_module"] = True
		b["ima"] = {"files": files}
		print(json.dumps(b, indent=2))
	EOP
	start_tpm s
	start_tpm d
	must "$TTP" init --dir ttp --crl-days 3650
	enrol s swtpm-ima.json
	enrol d swtpm-ima.json
	mkdir -p pol sess
	cat >pol/vm.json <<-EOP
		{ "schema": "trustmig-policy/1", "id": "vm",
		  "anchors": [ "../$ANCHOR" ], "baselines": [ "../swtpm-ima.json" ] }
	EOP
}

t_hs_ima() {
	ima_hosts
	ima_list s "$KVM" "$KO"
	ima_list d "$KO" "$KVM" "$KO" "@11:/boot/other=$EVIL_SHA"
	start_d
	hs_done
	log_line d.log 1 "${HS_LOG[@]}"
}

# a file the baseline does not list, on the destination or the source
t_hs_ima_unlisted() {
	ima_hosts
	ima_list s "$KO"
	ima_list d "$KO" "$EVIL"
	start_d
	hs_refused 21 "d.example loaded $MODS/extra/evil.ko (sha256 ${EVIL_SHA:0:16}...), which baseline swtpm-ima version 1 does not list"
	dest_refused 1 52 "the peer refused the handshake (its code 21)"
}

t_hs_ima_unlisted_source() {
	ima_hosts
	ima_list s "$KO" "$EVIL"
	ima_list d "$KO"
	start_d
	refuse 52 "the peer refused the handshake (its code 21): s.example loaded $MODS/extra/evil.ko" \
		hs "$DPORT"
	dest_refused 1 21 "s.example loaded $MODS/extra/evil.ko"
}

t_hs_ima_no_module() {
	ima_hosts
	ima_list s "$KO"
	ima_list d "$KVM"
	start_d
	hs_refused 21 "IMA on d.example never measured a trustmig.ko that baseline swtpm-ima version 1 certifies: its IMA policy was not loaded before the module"
}

# a list that is not the one the quoted PCR 10 holds; a cut list; a
# violation
t_hs_ima_forged() {
	ima_hosts
	ima_list s "$KO"
	ima_list d "$KO" "$EVIL"
	python3 "$HERE/ima-list.py" fake.ima "$KO" >/dev/null
	cp fake.ima d.ima
	start_d
	hs_refused 16 "the quoted PCR values differ from baseline swtpm-ima version 1, PCR 10 as its IMA list replays: the platform is not in the certified state"
	head -c -1 fake.ima >d.ima
	# the boot aggregate's entry is 101 bytes; the next one is cut
	refuse 21 "d.example: malformed IMA list: the entry at byte 101 overruns it" \
		hs "$DPORT"
}

t_hs_ima_violation() {
	ima_hosts
	ima_list s "$KO"
	ima_list d "$KO" "!$KVM"
	start_d
	hs_refused 21 "IMA on d.example logged a violation for $MODS/kernel/arch/x86/kvm/kvm.ko"
}

# without "ima" in the baseline the list is replayed to the quote, and
# its files are not checked
t_hs_ima_unchecked() {
	hs_hosts
	ima_list s "$EVIL"
	ima_list d "$EVIL"
	start_d
	hs_done
	python3 "$HERE/ima-list.py" s.ima "$KO" >/dev/null
	refuse 52 "its code 16" hs "$DPORT"
}

t_hs_pcr() {
	hs_hosts
	start_d
	extend_pcr d 3
	hs_refused 52 "its code 40.*the TPM refused the migration key"
	dest_refused 1 40 "the TPM refused the migration key"
}

t_hs_revoked() {
	hs_hosts
	must "$TTP" revoke --dir ttp --token d.pem --crl-days 3650
	start_d
	hs_refused 33 "peer token: token rejected: certificate revoked"
}

# d_token_from START: d re-enrols and gets a one-day token valid from
# START (seconds since the epoch); enrol-install refuses a token that is
# not valid now, so it is installed by hand, as if time had moved on
d_token_from() {
	hs_hosts
	request d
	challenge d "$BASELINES/swtpm-fresh.json"
	respond d
	must "$TTP" certify --dir ttp --response d.resp --out d.pem --days 1 \
		--valid-from "@$1"
	"$HOST" enrol-install --state d --token d.pem --ca ttp/ttp.pem \
		>/dev/null 2>&1 && fail "enrol-install accepted a token not valid now"
	cp d.pem d/token.pem && mv d/enrol/ak.* d/enrol/mk.* d/ ||
		fail "cannot install the token"
	start_d
}

t_hs_expired() {
	d_token_from $(($(date +%s) - 3 * 86400))
	hs_refused 31 "peer token: token rejected: certificate has expired"
}

t_hs_not_yet_valid() {
	d_token_from $(($(date +%s) + 2 * 86400))
	hs_refused 32 "peer token: token rejected: certificate is not yet valid"
}

# proxy MODE[,MODE]...: tm-proxy.py between s and d, one connection per
# MODE; prints its port
proxy() {
	# not the last proxy's port, read before the new one truncates it
	rm -f proxy.port
	"$HERE/tm-proxy.py" "$DPORT" "$1" >proxy.port &
	echo $! >>proxy.pids
	await_path -s proxy.port 100 || echo "FAIL: no proxy port after 10 s" >&2
	cat proxy.port
}

t_hs_tampered() {
	hs_hosts
	start_d
	hs_refused 55 "key confirmation of the destination failed" \
		"$(proxy m2:flip)"
}

t_hs_disconnect() {
	hs_hosts
	start_d
	hs_refused 50 "the peer closed the connection mid-handshake" \
		"$(proxy m2:drop)"
}


# send BYTES: raw bytes (printf format) to trustmigd, then close.  The
# daemon may refuse and reset the connection before the write is done:
# that is an answer, which its log line (checked after) tells.
send() {
	(exec 3<>"/dev/tcp/127.0.0.1/$DPORT" || exit 1
	 printf "$1" >&3 2>/dev/null
	 sleep 0.2
	 exit 0) || fail "cannot connect to trustmigd"
}

# dest_refused N CODE PATTERN: trustmigd's N-th log line refused with CODE
dest_refused() {
	log_line d.log "$1" refused "$2" "$3"
}

t_hs_garbage() {
	hs_hosts
	start_d
	send 'GET / HTTP/1.0\r\n\r\n'
	dest_refused 1 51 "protocol version 71, expected 3"
	send '\003\001\177\377\377\377'
	dest_refused 2 51 "exceeds the 1048576-byte limit"
	send '\003\001\000\000\000\003abc'
	dest_refused 3 51 "malformed M1 message"
	send '\003\003\000\000\000\000'
	dest_refused 4 51 "unexpected message type 3 (expected 1)"
	send '\003\001\000\000\000\377abc'
	dest_refused 5 50 "closed the connection mid-handshake"
	# a source of the previous protocol version: told so, not "malformed"
	send '\002\001\000\000\000\003abc'
	dest_refused 6 51 "protocol version 2, expected 3"
	# and it still serves an honest source
	hs_done
}

t_hs_unknown_ttp() {
	hs_hosts
	must "$TTP" init --dir ttp2
	sed -i 's|../ttp/ttp.pem|../ttp2/ttp.pem|' pol/vm.json
	start_d
	refuse 52 "its code 30.*peer token: token rejected: unable to get local issuer certificate" \
		hs "$DPORT"
	dest_refused 1 30 "unable to get local issuer"
}

t_hs_swap_eph() {
	hs_hosts
	start_d
	hs_refused 15 "d.example: the quote is not over this handshake's transcript" \
		"$(proxy m1:swap-eph)"
}

# t_hs_tpm_bus: D's TPM traffic holds Z_mk in no TPM response: with
# the generator as S's ephemeral key (tm-proxy.py m1:swap-eph, private
# key 1), ECDH_ZGen's output is D's migration key itself, so Z_mk is the
# x-coordinate of d/mk.pub (a TPM2B_PUBLIC ending in x and y, each a
# 2-byte size and 32 bytes).
t_hs_tpm_bus() {
	local mk

	hs_hosts
	TSS2_LOG=tcti+debug start_d
	hs_refused 15 "d.example: the quote is not over this handshake's transcript" \
		"$(proxy m1:swap-eph)"
	mk=$(od -An -tx1 -v d/mk.pub | tr -d ' \n')
	"$HERE/tm-tpmbus.py" d.log ECDH_ZGen "${mk: -132:64}" ||
		fail "ECDH_ZGen"
}

t_hs_replay() {
	local port

	hs_hosts
	start_d
	port=$(proxy relay,m2:replay)
	hs_done_port "$port"
	hs_refused 15 "d.example: the quote is not over this handshake's transcript" \
		"$port"
}

t_hs_checkquote() {
	local port

	hs_hosts
	start_d
	port=$(proxy record)
	hs_done_port "$port"
	openssl x509 -in d.pem -pubkey -noout >d-ak.pem || fail "AK public"
	must tpm2_checkquote -u d-ak.pem -m quote.msg -s quote.sig \
		-q "$(cat quote.qual)" -g sha256
	# and not over another transcript
	tpm2_checkquote -u d-ak.pem -m quote.msg -s quote.sig \
		-q "$(printf x | sha256sum | cut -c1-64)" -g sha256 \
		>/dev/null 2>&1 && fail "tpm2_checkquote accepted another nonce"
	return 0
}

# --- every message broken, in both directions ------------------------------

# own_line: what trustmigd logs for a handshake it completed itself
own_line() {
	if [ -d /sys/module/trustmig ]; then
		echo "ok|0|keys agreed"
	else
		echo "refused|56|trustmig.ko not loaded"
	fi
}

# faults STEP CASE...: one handshake through tm-proxy.py per CASE
# "FAULT|S-CODE|S-REASON|D-CODE|D-REASON" (D-CODE "-": trustmigd's own
# outcome), breaking message STEP; then an honest handshake. Every reason
# is exact, nothing hangs (hs is killed after 60 s), no control character
# from the peer reaches a log, and trustmigd survives.
faults() {
	local step=$1 modes= c i=0 port fault scode sreason dcode dreason run

	shift
	for c in "$@"; do
		modes+="$step:${c%%|*},"
	done
	port=$(proxy "${modes}relay")
	for c in "$@"; do
		IFS='|' read -r fault scode sreason dcode dreason <<<"$c"
		i=$((i + 1))
		echo "# $step:$fault"
		hs_refused "$scode" "$sreason" "$port"
		if [ "$dcode" = - ]; then
			IFS='|' read -r dcode run dreason <<<"$(own_line)"
			log_line d.log "$i" "$dcode" "$run" "$dreason"
		else
			dest_refused "$i" "$dcode" "$dreason"
		fi
		! LC_ALL=C grep -q '[[:cntrl:]]' err.log d.log ||
			fail "a control character reached a log"
		run=$(grep -o '??*' err.log | awk '{ print length }' | sort -n | tail -n 1)
		[ "${run:-0}" -lt 200 ] || fail "the peer's reason was not cut"
	done
	hs_done_port "$port"
	kill -0 "$(cat d.pid)" || fail "trustmigd died"
}

REFUSED="the peer refused the handshake"
CLOSED="the peer closed the connection mid-handshake"
TIMEOUT="timeout: the peer did not answer in time"
M1_TIMEOUT="timeout: the first message (M1) did not arrive whole within"
HTTP="protocol version 71, expected 3"
BIG="message of 2147483647 bytes exceeds the 1048576-byte limit"
BAD_ALERT="malformed status message"
ALERT99="$REFUSED (its code 99): ??????????"
# escaped in the log line's reason="...": the field ends where it should
ALERT_QUOTE="$REFUSED (its code 99): x\\\" forged=\\\"1\\\\"

t_hs_faults_m1() {
	local D_TIMEOUT=2

	hs_hosts
	start_d
	faults m1 \
		"garbage|52|(its code 51): $HTTP|51|$HTTP" \
		"oversized|52|(its code 51): $BIG|51|$BIG" \
		"type|52|unexpected message type 3 (expected 1)|51|unexpected message type 3 (expected 1)" \
		"malformed|52|(its code 51): malformed M1 message|51|malformed M1 message" \
		"bad-alert|52|(its code 51): $BAD_ALERT|51|$BAD_ALERT" \
		"alert|50|$CLOSED|52|$ALERT99" \
		"alert-quote|50|$CLOSED|52|$ALERT_QUOTE" \
		"truncated|50|$CLOSED|50|$CLOSED" \
		"silent|50|$CLOSED|50|$M1_TIMEOUT 2 s"
}

t_hs_faults_m2() {
	local S_TIMEOUT=2

	hs_hosts
	start_d
	faults m2 \
		"garbage|51|$HTTP|52|(its code 51): $HTTP" \
		"oversized|51|$BIG|52|(its code 51): $BIG" \
		"type|51|unexpected message type 3 (expected 2)|52|(its code 51): unexpected message type 3 (expected 2)" \
		"malformed|51|malformed M2 message|52|(its code 51): malformed M2 message" \
		"bad-alert|51|$BAD_ALERT|52|(its code 51): $BAD_ALERT" \
		"alert|52|$ALERT99|50|$CLOSED" \
		"truncated|50|$CLOSED|50|$CLOSED" \
		"silent|50|$TIMEOUT|50|$CLOSED"
}

t_hs_faults_m3() {
	local D_TIMEOUT=2

	hs_hosts
	start_d
	faults m3 \
		"garbage|52|(its code 51): $HTTP|51|$HTTP" \
		"oversized|52|(its code 51): $BIG|51|$BIG" \
		"type|52|(its code 51): unexpected message type 1 (expected 3)|51|unexpected message type 1 (expected 3)" \
		"malformed|52|(its code 51): malformed M3 message|51|malformed M3 message" \
		"bad-alert|52|(its code 51): $BAD_ALERT|51|$BAD_ALERT" \
		"alert|50|$CLOSED|52|$ALERT99" \
		"truncated|50|$CLOSED|50|$CLOSED" \
		"silent|50|$CLOSED|50|$TIMEOUT"
}

t_hs_faults_result() {
	local S_TIMEOUT=2 forged="the destination's RESULT is not authenticated by this handshake's keys"

	hs_hosts
	start_d
	faults result \
		"garbage|51|$HTTP|-" \
		"oversized|51|$BIG|-" \
		"type|51|unexpected message type 3 (expected 4)|-" \
		"malformed|51|malformed RESULT message|-" \
		"bad-alert|51|$BAD_ALERT|-" \
		"alert|52|$ALERT99|-" \
		"forge|55|$forged|-" \
		"replay|55|$forged|-" \
		"truncated|50|$CLOSED|-" \
		"silent|50|$TIMEOUT|-"
}

# edited PEM OUT: PEM with its baseline id edited inside the signed extension
edited() {
	openssl x509 -in "$1" -outform DER -out "$2.der" || fail "der"
	perl -pi -e 's/swtpm-fresh/swtpm-frosh/' "$2.der"
	cmp -s "$2.der" <(openssl x509 -in "$1" -outform DER) && fail "no edit"
	openssl x509 -inform DER -in "$2.der" -out "$2" || fail "pem"
}

t_hs_edited_token() {
	local port

	hs_hosts
	start_d
	edited d.pem d-edited.pem
	edited s.pem s-edited.pem
	port=$(proxy m2:token=d-edited.pem,m1:token=s-edited.pem)
	hs_refused 30 "peer token: token rejected: certificate signature failure" \
		"$port"
	dest_refused 1 52 "$REFUSED (its code 30)"
	hs_refused 52 "(its code 30): peer token: token rejected: certificate signature failure" \
		"$port"
	dest_refused 2 30 "peer token: token rejected: certificate signature failure"
}

# d's first token names AK1; d re-enrols (AK2, the token it now presents
# and the key it quotes with) and a man in the middle shows the old token
t_hs_other_ak() {
	hs_hosts
	cp d.pem d-ak1.pem
	enrol d "$BASELINES/swtpm-fresh.json"
	cmp -s d.pem d-ak1.pem && fail "re-enrolment gave the same token"
	must "$TTP" verify --token d-ak1.pem --ca ttp/ttp.pem --crl ttp/crl.pem
	start_d
	hs_refused 14 "d.example: attestation signature does not verify with the AK" \
		"$(proxy m2:token=d-ak1.pem)"
	dest_refused 1 52 "$REFUSED (its code 14)"
}

# --- an intermediate TTP under a root (docs/ttp.md) ------------------------

# Names as the reasons give them, on stderr and in the log lines
TTP_NAME='"CN=trustmig test TTP"'
ROOT_NAME='"CN=trustmig test root"'
TTP_LOGGED='\"CN=trustmig test TTP\"'
ROOT_LOGGED='\"CN=trustmig test root\"'

# Hosts certified by an intermediate TTP, each configured with the root as
# its only anchor and both CRLs: each hello carries the intermediate,
# which the peer builds the chain with, never as an anchor.
t_hs_intermediate() {
	local rejected="peer token: token rejected: unable to get local issuer certificate:"
	local nowhere="is neither an anchor nor one of the intermediate CA certificates with the token"
	local port

	ttp_intermediate
	hs_hosts
	conf d d "anchor = ../root/ttp.pem" "crl = ../root/crl.pem" \
		"crl = ../ttp/crl.pem"
	conf s s "anchor = ../root/ttp.pem" "crl = ../root/crl.pem" \
		"crl = ../ttp/crl.pem"
	start_d --config etc/d.conf
	hs_done_port "$DPORT" --config etc/s.conf --policy-id vm \
		--peer-name d.example
	log_line d.log 1 "${HS_LOG[@]}"
	# the token alone, either way; with another intermediate of the root
	openssl x509 -in s.pem -out s-alone.pem || fail "s's token alone"
	openssl x509 -in d.pem -out d-alone.pem || fail "d's token alone"
	must "$TTP" init --dir ttp2 --name "trustmig test TTP 2" --csr ttp2.csr
	must "$TTP" certify-ca --dir root --csr ttp2.csr --out ttp2.chain
	cat s-alone.pem ttp2.chain >s-wrong.pem
	port=$(proxy m1:token=s-alone.pem,m2:token=d-alone.pem,m1:token=s-wrong.pem)
	hs_refused 52 "(its code 30): $rejected $TTP_NAME $nowhere" "$port"
	dest_refused 2 30 "$rejected $TTP_LOGGED $nowhere"
	hs_refused 30 "$rejected $TTP_NAME $nowhere" "$port"
	dest_refused 3 52 "$REFUSED (its code 30)"
	hs_refused 52 "(its code 30): $rejected $TTP_NAME $nowhere" "$port"
	dest_refused 4 30 "$rejected $TTP_LOGGED $nowhere"
	# s's token from an impostor of the same names, with its self-signed
	# "root": a certificate sent is never an anchor
	must "$TTP" init --dir evil-root --name "trustmig test root" --path-len 1
	must "$TTP" init --dir evil-ttp --name "trustmig test TTP" --csr evil.csr
	must "$TTP" certify-ca --dir evil-root --csr evil.csr --out evil.chain
	must "$TTP" init --dir evil-ttp --import-cert evil.chain
	request s
	must "$TTP" challenge --dir evil-ttp --request s.req \
		--baseline "$BASELINES/swtpm-fresh.json" --ek-pin "$(pin_of s)" \
		--out s.chal
	respond s
	must "$TTP" certify --dir evil-ttp --response s.resp --out s-evil.pem
	cat s-evil.pem evil-root/ttp.pem >s-evil-root.pem
	hs_refused 52 "(its code 30): peer token: token rejected: self-signed certificate in certificate chain: CA $ROOT_NAME of its chain" \
		"$(proxy m1:token=s-evil-root.pem)"
	dest_refused 5 30 "self-signed certificate in certificate chain: CA $ROOT_LOGGED of its chain"
	# more certificates than a token and 3 intermediates
	cat s.pem ttp/chain.pem ttp/chain.pem ttp/chain.pem >s-long.pem
	hs_refused 52 "(its code 51): malformed hello: 5 certificates, not a token and at most 3 intermediate CA certificates" \
		"$(proxy m1:token=s-long.pem)"
	dest_refused 6 51 "malformed hello: 5 certificates"
	refuse_line 4 "trustmig-ttp: s-long.pem holds more than 3 certificates after the first (intermediate CAs)" \
		"$TTP" verify --token s-long.pem --ca root/ttp.pem
}

# Under an intermediate TTP each host needs the root's CRL and the
# intermediate's; the root revoking the intermediate refuses every token
# it issued, on either side.
t_hs_intermediate_crls() {
	local every="among those given (every CA up to the anchor needs its current CRL)"
	local revoked="peer token: token rejected: its issuer"

	ttp_intermediate
	hs_hosts
	start_d --listen 127.0.0.1:0 --tcti "$(tcti d)" --state d \
		--policy-dir pol --crl root/crl.pem --session-dir sess --timeout 5
	hs_refused 52 "(its code 34): peer token: token rejected: no CRL of CA $TTP_NAME $every"
	dest_refused 1 34 "peer token: token rejected: no CRL of CA $TTP_LOGGED $every"
	kill "$(cat d.pid)"
	start_d
	hs_refused 34 "peer token: token rejected: no CRL of CA $ROOT_NAME $every" \
		"$DPORT" --tcti "$(tcti s)" --state s --policy pol/vm.json \
		--crl ttp/crl.pem --timeout 5 --peer-name d.example
	dest_refused 1 52 "$REFUSED (its code 34)"
	# s reads the new CRL at once, d once reloaded
	must "$TTP" revoke --dir root --token ttp/ttp.pem --crl-days 3650
	hs_refused 33 "$revoked $TTP_NAME is revoked (CRL of $ROOT_NAME)"
	dest_refused 2 52 "$REFUSED (its code 33)"
	hup
	hs_refused 52 "(its code 33): $revoked $TTP_NAME is revoked (CRL of $ROOT_NAME)"
	dest_refused 3 33 "$revoked $TTP_LOGGED is revoked (CRL of $ROOT_LOGGED)"
}

# --- the destination the source expects (docs/protocol.md section 2) --------

# vm_policy [KEY-LINE]...: pol/vm.json as hs_hosts writes it, with the
# optional "destinations"/"sources" lines given
vm_policy() {
	local line extra=

	for line in "$@"; do
		extra+=", $line"
	done
	cat >pol/vm.json <<-EOP
		{ "schema": "trustmig-policy/1", "id": "vm",
		  "anchors": [ "../$ANCHOR" ],
		  "baselines": [ "$BASELINES/swtpm-fresh.json" ]$extra }
	EOP
}

# hs_c: a third host c, certified like d for swtpm-fresh under policy vm
hs_c() {
	start_tpm c
	enrol c "$BASELINES/swtpm-fresh.json"
}

# start_c: trustmigd for host c instead of d (same log and pid files)
start_c() {
	[ -f d.pid ] && kill "$(cat d.pid)" 2>/dev/null
	start_d --listen 127.0.0.1:0 --tcti "$(tcti c)" --state c \
		--policy-dir pol "${CRLS[@]}" --session-dir sess --timeout 5
}

# Every way of naming (or not) the destination is checked before any
# connection (port 1: nothing listens there, a connection would be 50).
t_hs_expect_options() {
	local i c names= base

	ttp_init
	mkdir -p pol
	base=(--peer 127.0.0.1:1 --policy pol/vm.json --crl ttp/crl.pem)
	vm_policy
	refuse 2 '--peer 127.0.0.1:1 names an address, not the destination'"'"'s host: name its certified host with --peer-name, list the hosts in policy vm'"'"'s "destinations", or take any host the policy accepts with --any-peer' \
		"$HOST" handshake "${base[@]}"
	refuse 2 '--peer \[::1\]:1 names an address' \
		"$HOST" handshake --peer '[::1]:1' --policy pol/vm.json --crl ttp/crl.pem
	refuse 2 '--peer 127.1:1 names an address' \
		"$HOST" handshake --peer 127.1:1 --policy pol/vm.json --crl ttp/crl.pem
	refuse 2 "--peer-name and --any-peer exclude each other" \
		"$HOST" handshake "${base[@]}" --peer-name d.example --any-peer
	refuse 2 '--peer-name: host name "d_example" is not an RFC 1123 name' \
		"$HOST" handshake "${base[@]}" --peer-name d_example
	refuse 2 '--peer: host name "my_host" is not an RFC 1123 name' \
		"$HOST" handshake --peer my_host:1 --policy pol/vm.json --crl ttp/crl.pem
	vm_policy '"destinations": [ "c.example", "d.example" ]'
	refuse 59 "--peer-name x.example is not among policy vm's destinations (c.example, d.example); --peer-name names the destination's certified host, --any-peer takes any of them" \
		"$HOST" handshake "${base[@]}" --peer-name x.example
	refuse 59 "--peer localhost is not among policy vm's destinations (c.example, d.example)" \
		"$HOST" handshake --peer localhost:1 --policy pol/vm.json --crl ttp/crl.pem
	# the policy's fields: "any", or 1-16 RFC 1123 names
	for i in $(seq 17); do
		names+="${names:+, }\"h$i.example\""
	done
	for c in '"destinations": []|"destinations" must list 1 to 16 host names' \
		"\"destinations\": [ $names ]|\"destinations\" must list 1 to 16 host names" \
		'"destinations": "all"|"destinations" is neither "any" nor an array of host names' \
		'"destinations": [ "host_b" ]|policy "destinations": host name "host_b" is not an RFC 1123 name' \
		'"sources": [ "a\u0000b.example" ]|policy "sources": host name "a?b.example" is not an RFC 1123 name' \
		'"sources": [ 1 ]|policy "sources" holds a non-string' \
		'"sources": {}|policy "sources" is not an array'; do
		vm_policy "${c%%|*}"
		refuse 53 "${c#*|}" "$HOST" handshake "${base[@]}" --any-peer
	done
}

t_hs_peer_name() {
	local base

	hs_hosts
	start_d
	base=(--tcti "$(tcti s)" --state s --policy pol/vm.json
		--crl ttp/crl.pem --timeout 5)
	hs_refused 52 "$REFUSED (its code 59): this host is d.example, not c.example, which the source expects" \
		"$DPORT" "${base[@]}" --peer-name c.example
	dest_refused 1 59 "this host is d.example, not c.example, which the source expects"
	# --peer by name: that name is expected
	refuse 52 "(its code 59): this host is d.example, not localhost, which the source expects" \
		timeout -k 5 60 "$HOST" handshake --peer "localhost:$DPORT" "${base[@]}"
	dest_refused 2 59 "this host is d.example, not localhost"
	[ -z "$(ls sess)" ] || fail "a session file was written"
	# names compare as DNS names do, ignoring case
	hs_done_port "$DPORT" "${base[@]}" --peer-name D.Example
	log_line d.log 3 "${HS_LOG[@]}"
	hs_done_port "$DPORT" "${base[@]}" --any-peer
	log_line d.log 4 "${HS_LOG[@]}"
}

# The source means d; an attacker on the path steers its connection to c,
# certified for the same baseline under the same policy.
t_hs_redirect() {
	local port

	hs_hosts
	hs_c
	start_c
	port=$(proxy relay,m1:dest=c.example)
	# c sees that it is not the destination the source chose
	hs_refused 52 "$REFUSED (its code 59): this host is c.example, not d.example, which the source expects" \
		"$port"
	dest_refused 1 59 "this host is c.example, not d.example, which the source expects"
	# the attacker makes M1 name c: the source refuses c's token itself
	hs_refused 59 "the destination is c.example, not d.example as expected (--peer-name)" \
		"$port"
	dest_refused 2 52 "$REFUSED (its code 59): the destination is c.example, not d.example"
}

t_hs_sources() {
	hs_hosts
	mkdir pol-d
	vm_policy
	start_d --listen 127.0.0.1:0 --tcti "$(tcti d)" --state d \
		--policy-dir pol-d --crl ttp/crl.pem --session-dir sess --timeout 5
	sed 's|"baselines"|"sources": [ "a.example", "b.example" ], &|' \
		pol/vm.json >pol-d/vm.json
	hs_refused 52 "$REFUSED (its code 59): the source s.example is not among policy vm's sources (a.example, b.example)"
	dest_refused 1 59 "the source s.example is not among policy vm's sources (a.example, b.example)"
	sed -i 's|"a.example"|"S.EXAMPLE"|' pol-d/vm.json
	hs_done
	log_line d.log 2 "${HS_LOG[@]}"
}

# A policy that lists its destinations makes them interchangeable when
# the source's operator names none (--peer by address).
t_hs_destinations() {
	local base

	hs_hosts
	hs_c
	vm_policy '"destinations": [ "c.example", "d.example" ]'
	base=(--tcti "$(tcti s)" --state s --policy pol/vm.json
		--crl ttp/crl.pem --timeout 5)
	start_d
	hs_done_port "$DPORT" "${base[@]}"
	log_line d.log 1 "${HS_LOG[@]}"
	start_c
	hs_done_port "$(proxy relay)" "${base[@]}"
	log_line d.log 1 "${HS_LOG[@]}"
	# a name narrows the list
	hs_refused 52 "$REFUSED (its code 59): this host is c.example, not d.example, which the source expects" \
		"$DPORT" "${base[@]}" --peer-name d.example
	hs_done_port "$DPORT" "${base[@]}" --peer-name c.example
	log_line d.log 3 "${HS_LOG[@]}"
	# "any": every host the policy accepts, said explicitly
	vm_policy '"destinations": "any"'
	hs_done_port "$DPORT" "${base[@]}"
	log_line d.log 4 "${HS_LOG[@]}"
}

# --- the host's configuration file -----------------------------------------

# conf NAME HOST [LINE]...: etc/NAME.conf for host HOST, paths relative to
# etc/ (as an operator's /etc/trustmig would hold them), then LINEs
conf() {
	local f=etc/$1.conf h=$2

	shift 2
	mkdir -p etc
	{
		echo "# trustmig on $h.example (test)"
		echo "tcti = $(tcti "$h")"
		echo "state = ../$h"
		echo "policy-dir = ../pol"
		echo "session-dir = ../sess"
		printf '  listen=127.0.0.1:0 \t\n\n'
		echo "timeout = 5"
		printf '%s\n' "$@"
	} >"$f"
}

t_config_hs() {
	hs_hosts
	conf d d "anchor = ../ttp/ttp.pem" "crl = ../ttp/crl.pem"
	conf s s "anchor = ../ttp/ttp.pem" "crl = ../ttp/crl.pem"
	start_d --config etc/d.conf
	grep -q "configuration etc/d.conf: 1 TTP anchor file(s), 1 CRL(s), policies in etc/../pol$" d.log ||
		fail "trustmigd did not report its configuration: $(cat d.log)"
	hs_done_port "$DPORT" --config etc/s.conf --policy-id vm \
		--peer-name d.example
	log_line d.log 1 "${HS_LOG[@]}"
	# $TRUSTMIG_CONFIG names the file when --config does not
	TRUSTMIG_CONFIG=etc/s.conf hs_done_port "$DPORT" --policy-id vm \
		--peer-name d.example
	log_line d.log 2 "${HS_LOG[@]}"
	# --crl on the command line replaces the file's crl lines
	conf s-nocrl s "crl = ../missing.pem"
	refuse 6 "cannot read a PEM CRL from etc/../missing.pem" \
		hs "$DPORT" --config etc/s-nocrl.conf --policy-id vm
	hs_done_port "$DPORT" --config etc/s-nocrl.conf --policy-id vm \
		--crl ttp/crl.pem --peer-name d.example
	log_line d.log 3 "${HS_LOG[@]}"
	conf s-none s
	refuse 2 "--crl is required (one per TTP), here or as \"crl = FILE\" in etc/s-none.conf" \
		hs "$DPORT" --config etc/s-none.conf --policy pol/vm.json
}

t_config_anchors() {
	hs_hosts
	must "$TTP" init --dir ttp2
	conf s s "anchor = ../ttp2/ttp.pem" "crl = ../ttp/crl.pem"
	conf d d "anchor = ../ttp2/ttp.pem" "anchor = ../ttp/ttp.pem" \
		"crl = ../ttp/crl.pem"
	# the source's own configuration does not trust the policy's TTP
	refuse 53 "policy vm names no TTP anchor this host trusts" \
		hs 1 --config etc/s.conf --policy-id vm
	# two anchors, one of them the policy's: accepted
	start_d --config etc/d.conf
	grep -q "configuration etc/d.conf: 2 TTP anchor file(s), 1 CRL(s)" d.log ||
		fail "trustmigd did not report its configuration: $(cat d.log)"
	hs_done
	log_line d.log 1 "${HS_LOG[@]}"
	# the destination trusts only another TTP
	kill "$(cat d.pid)"
	conf d d "anchor = ../ttp2/ttp.pem" "crl = ../ttp/crl.pem"
	start_d --config etc/d.conf
	hs_refused 52 "its code 53.*policy vm names no TTP anchor this host trusts"
	dest_refused 1 53 "policy vm names no TTP anchor this host trusts"
}

# conf_error PATTERN LINE...: a file of these LINEs is refused with PATTERN
conf_error() {
	local pattern=$1

	shift
	printf '%s\n' "$@" >etc/bad.conf
	refuse 5 "$pattern" "$HOST" check-key --config etc/bad.conf
}

# config_settings OUT ARGS...: trustmig config ARGS parses its file and
# prints the settings to OUT; the files they name need not exist on this
# machine (status 5, ending with the count of problems found)
config_settings() {
	local out=$1 rc

	shift
	"$HOST" config "$@" >"$out" 2>err.log
	rc=$?
	[ $rc -eq 0 ] || { [ $rc -eq 5 ] &&
		grep -q '^trustmig: configuration .*: [0-9]* error(s), [0-9]* warning(s)$' err.log; } ||
		fail "trustmig config $*: exit $rc: $(cat err.log)"
}

t_config_example() {
	local example=$HERE/../../docs/trustmig.conf.example

	config_settings example.out --config "$example"
	config_settings defaults.out
	# the example states the built-in defaults, and adds anchors and CRLs
	diff <(grep -v '^#\|^anchor\|^crl' example.out) <(grep -v '^#' defaults.out) ||
		fail "docs/trustmig.conf.example differs from the built-in defaults"
	[ "$(grep -c '^anchor = /etc/trustmig/anchors/' example.out)" -eq 2 ] &&
		[ "$(grep -c '^crl = /etc/trustmig/crl/' example.out)" -eq 2 ] ||
		fail "anchors and CRLs of the example: $(cat example.out)"
	# what config prints is a configuration file that means the same
	config_settings again.out --config example.out
	diff <(sed 1d example.out) <(sed 1d again.out) || fail "no round trip"
	config_settings flags.out --config "$example" --tcti mssim: --state /x
	grep -q '^tcti = mssim:$' flags.out && grep -q '^state = /x$' flags.out ||
		fail "options do not win over the file: $(cat flags.out)"
}

# t_status: what trustmig status says of the host: its token, its CRLs
# (a stale one warned), whether the key is usable; text and --json; and
# trustmig-ttp show --json of the same token.
t_status() {
	local want=0 rc

	[ -d /sys/module/trustmig ] || want=56
	hs_hosts
	# a CRL of the same TTP whose next update has passed
	mkdir ca && touch ca/index.txt && echo 01 >ca/crlnumber
	printf '[ca]\ndefault_ca = t\n[t]\ndatabase = ca/index.txt\ncrlnumber = ca/crlnumber\ndefault_md = sha256\n' >ca.cnf
	must openssl ca -config ca.cnf -gencrl -keyfile ttp/ttp.key \
		-cert ttp/ttp.pem -crl_lastupdate 20200101000000Z \
		-crl_nextupdate 20200102000000Z -out stale.pem
	conf d d "crl = ../ttp/crl.pem" "crl = ../stale.pem" "ima-log = ../d.ima"
	ima_list d "$KVM" "$KO"
	"$HOST" status --config etc/d.conf >status.txt 2>err.log
	rc=$?
	[ $rc -eq $want ] || fail "status exited $rc, not $want: $(cat err.log)"
	grep -q "^host: d.example$" status.txt &&
		grep -Eq "^  token:    baseline swtpm-fresh version [0-9]+, valid until 20[0-9-]+T[0-9:]+Z \((89|90) days left\)$" status.txt &&
		grep -Eq "^  crl:      .*/ttp/crl.pem: next update [0-9-]+ [0-9:]+ UTC$" status.txt &&
		grep -q "^  crl:      .*/stale.pem: next update 2020-01-02 00:00 UTC (WARNING: stale" status.txt &&
		grep -q "^  key:      usable now$" status.txt &&
		grep -q "^  module:   measured by IMA: $MODS/updates/dkms/trustmig.ko (sha256 ${KO_SHA:0:16}...)$" status.txt ||
		fail "status: $(cat status.txt)"
	"$HOST" status --config etc/d.conf --json >status.json 2>err.log
	[ $? -eq $want ] || fail "status --json: $(cat err.log)"
	"$TTP" show --token d.pem --json >show.json 2>err.log || fail "$(cat err.log)"
	python3 - status.json show.json $want "$KO_SHA" <<-'EOP' || fail "$(cat status.json show.json)"
		import json, sys
		st, show = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
		tok = st["host"]["token"]
		assert tok["host"] == "d.example" and tok["baseline"] == "swtpm-fresh", tok
		assert tok["days_left"] in (89, 90), tok
		assert {k: v for k, v in tok.items() if k != "days_left"} == show, (tok, show)
		crls = st["host"]["crls"]
		assert [c["stale"] for c in crls] == [False, True], crls
		assert st["host"]["migration_key"] == {"usable": True}, st
		assert (st["module_error"] is None) == (sys.argv[3] == "0"), st
		m = st["host"]["measured_module"]
		assert m["sha256"] == sys.argv[4] and m["path"].endswith("/trustmig.ko"), m
	EOP
	# the PCRs leave the baseline: the key is no longer usable
	extend_pcr d 3
	"$HOST" status --config etc/d.conf >status.txt 2>err.log
	grep -q "^  key:      NOT usable: .*TPM refused the migration key" status.txt ||
		fail "key after a PCR extend: $(cat status.txt)"
	# IMA never measured trustmig.ko; a list that does not parse
	rm d.ima
	"$HOST" status --config etc/d.conf >status.txt 2>err.log
	grep -q "^  module:   no trustmig.ko in IMA's list .*/d.ima (a peer whose baseline has \"ima\" refuses this host)$" status.txt ||
		fail "no list: $(cat status.txt)"
	printf 'x' >d.ima
	"$HOST" status --config etc/d.conf >status.txt 2>err.log
	grep -q "^  module:   malformed IMA list: the entry at byte 0 overruns it$" status.txt ||
		fail "bad list: $(cat status.txt)"
	refuse 2 "unknown session command" "$HOST" session nope
}

t_config_host() {
	start_tpm h
	ttp_init
	conf h h "anchor = ../ttp/ttp.pem" "crl = ../ttp/crl.pem"
	# enrolment from the file alone: TPM, state, anchors, CRL
	must "$HOST" enrol-request --config etc/h.conf --host-name h.example \
		--out h.req
	challenge h "$BASELINES/swtpm-fresh.json"
	must "$HOST" enrol-respond --config etc/h.conf --challenge h.chal \
		--out h.resp
	certify h
	conf h-noanchor h
	refuse 2 "--ca is required (or \"anchor = FILE\" in the configuration)" \
		"$HOST" enrol-install --config etc/h-noanchor.conf --token h.pem
	must "$HOST" enrol-install --config etc/h.conf --token h.pem
	must "$HOST" check-key --config etc/h.conf
	# the command line and the environment win over the file
	conf dead h "# no TPM here" >/dev/null
	sed -i 's/^tcti = .*/tcti = swtpm:host=127.0.0.1,port=1/' etc/dead.conf
	refuse 1 'cannot reach the TPM at "swtpm:host=127.0.0.1,port=1"\|TPM.*failed' \
		"$HOST" check-key --config etc/dead.conf
	must "$HOST" check-key --config etc/dead.conf --tcti "$(tcti h)"
	TRUSTMIG_TCTI=$(tcti h) must "$HOST" check-key --config etc/dead.conf
	TRUSTMIG_CONFIG=etc/dead.conf must "$HOST" check-key --tcti "$(tcti h)"
	# every error names the file and line
	conf_error 'etc/bad.conf:4: unknown key "frobnicate"' \
		"tcti = x" "" "# comment" "frobnicate = 1"
	conf_error 'etc/bad.conf:3: "state" is already set on line 1' \
		"state = a" "crl = b" "state = c"
	conf_error 'etc/bad.conf:2: expected "key = value", got "state /x"' \
		"" "state /x"
	conf_error 'etc/bad.conf:1: "timeout" is not a number of seconds from 1 to 3600' \
		"timeout = 0"
	conf_error 'etc/bad.conf:1: listen: "7468" is not HOST:PORT with PORT a number from 0 to 65535' "listen = 7468"
	conf_error 'etc/bad.conf:2: "crl" has no value' "" "crl ="
	conf_error 'etc/bad.conf:1: control character 0x01' "state = a$(printf '\001')b"
	conf_error 'etc/bad.conf:2: "tcti" is already set on line 1' \
		"tcti=a" "tcti = b"
	printf 'tcti = a\n\nstate = b\0c\n' >etc/nul.conf
	refuse 5 "etc/nul.conf:3: NUL byte" "$HOST" check-key --config etc/nul.conf
	printf '# %5000s\n' x >etc/long.conf
	refuse 5 "etc/long.conf:1: line longer than 4096 bytes" \
		"$HOST" check-key --config etc/long.conf
	printf 'tcti = a\r\nstate = b\r\n' >etc/crlf.conf
	config_settings crlf.out --config etc/crlf.conf
	grep -q '^state = etc/b$' crlf.out || fail "CRLF file: $(cat crlf.out)"
	refuse 6 "configuration: cannot open etc/nope.conf" \
		"$HOST" check-key --config etc/nope.conf
	TRUSTMIG_CONFIG=etc/bad.conf refuse 5 "etc/bad.conf:2:" \
		"$HOST" check-key
	refuse 5 "etc/bad.conf:2:" "$BIN/trustmigd" --config etc/bad.conf
}

# conf_with LINE...: etc/c.conf, etc/good.conf with each LINE "key =
# value" in place of that key's line
conf_with() {
	local line

	cp etc/good.conf etc/c.conf
	for line in "$@"; do
		grep -q "^${line%% =*} = " etc/c.conf || fail "no ${line%% =*} line"
		sed -i "s|^${line%% =*} = .*|$line|" etc/c.conf
	done
}

# check_conf CODE STDERR LINE...: trustmig config on conf_with LINE...
# exits CODE with exactly STDERR
check_conf() {
	local code=$1 want=$2

	shift 2
	conf_with "$@"
	if [ -z "$want" ]; then
		must "$HOST" config --config etc/c.conf
		[ -s err.log ] && fail "stderr: $(cat err.log)"
	else
		refuse_line "$code" "$want" "$HOST" config --config etc/c.conf
	fi
}

# trustmig config checks what the file names, like sshd -t: one line per
# problem, with FILE:LINE, the key and the cause; if one is an error, then
# their count and status 5; warnings alone leave the status 0
t_config_check() {
	local sum1="trustmig: configuration etc/c.conf: 1 error(s), 0 warning(s)"
	local anchors="trustmig: etc/c.conf:4: anchor: cannot load TTP certificates from"
	local rc

	ttp_init
	must "$TTP" init --dir ttp2 --name "another TTP"
	# a TTP of the same name as the host's, with another key
	must "$TTP" init --dir twin --name "trustmig test TTP"
	mkdir -p etc st pol sess
	: >st/token.pem
	printf '{ "schema": "trustmig-policy/1", "id": "%s", "anchors": [ "../ttp/ttp.pem" ], "baselines": [ "%s" ] }\n' \
		vm "$BASELINES/swtpm-fresh.json" >pol/vm.json
	printf '%s\n' "state = ../st" "policy-dir = ../pol" "session-dir = ../sess" \
		"anchor = ../ttp/ttp.pem" "crl = ../ttp/crl.pem" >etc/good.conf
	check_conf 0 ""
	# anchors: missing, not PEM, a CRL, a certificate that is no CA's
	check_conf 5 "$anchors etc/../missing.pem: No such file or directory
$sum1" "anchor = ../missing.pem"
	echo "not a certificate" >junk.pem
	check_conf 5 "$anchors etc/../junk.pem: no certificate or crl found (OpenSSL, x509 certificate routines)
$sum1" "anchor = ../junk.pem"
	check_conf 5 "trustmig: etc/c.conf:4: anchor: etc/../ttp/crl.pem holds no certificate
$sum1" "anchor = ../ttp/crl.pem"
	must openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout leaf.key -out leaf.pem -subj /CN=leaf -days 1 \
		-addext basicConstraints=critical,CA:FALSE
	check_conf 5 "trustmig: etc/c.conf:4: anchor: etc/../leaf.pem: \"CN=leaf\" is not a CA certificate (basicConstraints CA:TRUE)
$sum1" "anchor = ../leaf.pem"
	# CRLs: not PEM, another TTP's, signed by another key of the same name
	check_conf 5 "trustmig: etc/c.conf:5: crl: cannot read a PEM CRL from etc/../junk.pem: no PEM block of that kind (\"-----BEGIN ...\" line) in it
$sum1" "crl = ../junk.pem"
	check_conf 5 "trustmig: etc/c.conf:5: crl: etc/../ttp2/crl.pem is signed by none of the anchors (its issuer: \"CN=another TTP\")
$sum1" "crl = ../ttp2/crl.pem"
	check_conf 5 "trustmig: etc/c.conf:5: crl: etc/../twin/crl.pem is signed by none of the anchors (its issuer: \"CN=trustmig test TTP\")
$sum1" "crl = ../twin/crl.pem"
	# a CRL past its nextUpdate: the file is right, the TTP is late
	: >index.txt
	printf '[ca]\ndefault_ca = tm\n[tm]\ndatabase = index.txt\ndefault_md = sha384\n' >ca.cnf
	must openssl ca -batch -config ca.cnf -gencrl -keyfile ttp/ttp.key \
		-cert ttp/ttp.pem -crl_lastupdate 20200101000000Z \
		-crl_nextupdate 20200201000000Z -out stale.pem
	check_conf 0 "trustmig: etc/c.conf:5: warning: crl: etc/../stale.pem expired at its nextUpdate, 2020-02-01T00:00:00Z: every token of its TTP is refused until the TTP issues a new CRL (trustmig-ttp crl)" "crl = ../stale.pem"
	# directories
	check_conf 5 "trustmig: etc/c.conf:1: state: etc/../nowhere: No such file or directory
$sum1" "state = ../nowhere"
	check_conf 0 "trustmig: etc/c.conf:1: warning: state: etc/../sess holds no token.pem: this host is not enrolled (trustmig enrol-install)" "state = ../sess"
	check_conf 5 "trustmig: etc/c.conf:2: policy-dir: etc/../nowhere: No such file or directory
$sum1" "policy-dir = ../nowhere"
	check_conf 5 "trustmig: etc/c.conf:2: policy-dir: etc/../leaf.pem is not a directory
$sum1" "policy-dir = ../leaf.pem"
	check_conf 0 "trustmig: etc/c.conf:3: warning: session-dir: etc/../nowhere does not exist: trustmigd can hand no VMM its session until it does" "session-dir = ../nowhere"
	# policies: one that does not parse, one of a TTP this host does not trust
	mkdir pol2
	cp pol/vm.json pol2/
	printf '{ "schema": ' >pol2/broken.json
	sed 's/"vm"/"other"/; s|ttp/ttp.pem|ttp2/ttp.pem|' pol/vm.json >pol2/other.json
	check_conf 5 "trustmig: etc/c.conf:2: policy-dir: etc/../pol2/broken.json: policy is not valid JSON (unexpected end of text at byte 12)
trustmig: etc/c.conf:2: policy-dir: policy other names no TTP anchor this host trusts (\"anchor\" in its configuration)
trustmig: configuration etc/c.conf: 2 error(s), 0 warning(s)" "policy-dir = ../pol2"
	# a setting from the command line has no FILE:LINE
	refuse_line 5 "trustmig: state: nowhere: No such file or directory
${sum1/c.conf/good.conf}" "$HOST" config --config etc/good.conf --state nowhere
	# --json: the same settings and problems for a program
	conf_with "policy-dir = ../nowhere"
	"$HOST" config --config etc/c.conf --json >json.out 2>err.log
	rc=$?
	[ $rc -eq 5 ] && [ "$(cat err.log)" = "$sum1" ] ||
		fail "trustmig config --json: exit $rc: $(cat err.log)"
	python3 - json.out <<-'EOP' || fail "trustmig config --json: $(cat json.out)"
		import json, sys
		j = json.load(open(sys.argv[1]))
		assert j["file"] == "etc/c.conf", j
		assert j["settings"]["policy-dir"] == "etc/../nowhere", j
		assert j["settings"]["timeout"] == 30, j
		assert j["settings"]["crl"] == ["etc/../ttp/crl.pem"], j
		assert (j["errors"], j["warnings"]) == (1, 0), j
		assert j["problems"] == [{"severity": "error", "key": "policy-dir",
			"file": "etc/c.conf", "line": 2,
			"message": "etc/../nowhere: No such file or directory"}], j
	EOP
}

# The host's TPM as a quote oracle: enrol-respond quotes the nonce of any
# challenge with the staged AK, certified before enrol-install. Without a
# message type in the handshake's qualifying data, an attacker holding the
# new token would pass as that host (found by docs/proof/trustmig.spthy).
t_hs_enrol_oracle() {
	hs_hosts
	start_d
	request s
	challenge s "$BASELINES/swtpm-fresh.json"
	respond s
	certify s
	must "$TTP" init --dir evil
	must "$TTP" challenge --dir evil --request s.req \
		--baseline "$BASELINES/swtpm-fresh.json" --ek-pin "$(pin_of s)" \
		--out evil.chal
	"$HERE/tm-enrol-oracle.py" "$DPORT" vm s.pem d/mk.pub evil.chal \
		evil.resp -- "$HOST" enrol-respond --tcti "$(tcti s)" --state s \
		--challenge evil.chal --out evil.resp >>out.log 2>>err.log ||
		fail "attack script: $(tail -n 3 err.log)"
	grep -q '^reply type 21 ' out.log || fail "no ALERT: $(cat out.log)"
	dest_refused 1 15 "s.example: the quote is not over this handshake's transcript"
	[ -z "$(ls sess)" ] || fail "a session was handed out: $(ls sess)"
}

# --- trustmigd as a service: readiness, reload, no TPM ---------------------

# notify_listen: tm-notify.py plays systemd's notification socket,
# notify.sock; what it receives goes to notify.log
notify_listen() {
	"$HERE/tm-notify.py" "$PWD/notify.sock" notify.log &
	echo $! >>proxy.pids
	await_path -S notify.sock 50 || fail "tm-notify.py did not bind notify.sock"
}

# wait_for FILE PATTERN [N]: FILE gets its N-th (default first) line
# matching PATTERN within 10 s
wait_for() {
	local try n

	for try in $(seq 100); do
		n=$(grep -c -- "$2" "$1" 2>/dev/null)
		[ "${n:-0}" -ge "${3:-1}" ] && return
		sleep 0.1
	done
	fail "no line ${3:-1} \"$2\" in $1: $(cat "$1" 2>/dev/null)"
}

# hup [N]: SIGHUP to trustmigd, then wait for its N-th reload line
hup() {
	kill -HUP "$(cat d.pid)" || fail "trustmigd is gone"
	wait_for d.log "]: reload: " "${1:-1}"
}

# reload_refused N REASON: the N-th SIGHUP logs exactly that it keeps
# the previous configuration, for REASON
reload_refused() {
	hup "$1"
	grep -qxF "<3>trustmigd[$(cat d.pid)]: reload: $2; keeping the previous configuration" d.log ||
		fail "reload error line: $(grep reload: d.log)"
}

t_d_notify() {
	local pid

	hs_hosts
	notify_listen
	NOTIFY_SOCKET=$PWD/notify.sock start_d
	wait_for notify.log READY=1
	# the port took a connection the moment READY=1 arrived
	[ "$(cat notify.log)" = "READY=1 STATUS=listening on 127.0.0.1:$DPORT connect=ok" ] ||
		fail "notification: $(cat notify.log)"
	# that connection was the daemon's first (silent, closed) peer
	dest_refused 1 50 "the peer closed the connection mid-handshake"
	hs_done
	log_line d.log 2 "${HS_LOG[@]}"
	kill "$(cat d.pid)"
	# without $NOTIFY_SOCKET: no message, the daemon serves as ever
	start_d
	hs_done
	[ "$(wc -l <notify.log)" -eq 1 ] || fail "notified without NOTIFY_SOCKET"
	grep -q notify d.log && fail "d.log: $(cat d.log)"
	kill "$(cat d.pid)"
	# a socket nobody listens on: one warning, and it serves
	NOTIFY_SOCKET=$PWD/nobody.sock start_d
	pid=$(cat d.pid)
	wait_for d.log "warning: cannot notify"
	grep -qxF "<4>trustmigd[$pid]: warning: cannot notify systemd at \$NOTIFY_SOCKET: No such file or directory" d.log ||
		fail "warning: $(cat d.log)"
	[ "$(grep -c notify d.log)" -eq 1 ] || fail "$(cat d.log)"
	hs_done
}

# the source's token is revoked: trustmigd refuses it only after SIGHUP
t_d_reload_crl() {
	local pid

	hs_hosts
	cp ttp/crl.pem d-crl.pem
	notify_listen
	NOTIFY_SOCKET=$PWD/notify.sock start_d --listen 127.0.0.1:0 \
		--tcti "$(tcti d)" --state d --policy-dir pol --crl d-crl.pem \
		--session-dir sess --timeout 5
	pid=$(cat d.pid)
	# tm-notify.py connects first (line 1 of d.log), then the source
	wait_for notify.log READY=1
	hs_done
	must "$TTP" revoke --dir ttp --token s.pem --crl-days 3650
	cp ttp/crl.pem d-crl.pem
	# the CRL is read at start and on SIGHUP, not per handshake
	hs_done
	log_line d.log 3 "${HS_LOG[@]}"
	hup
	grep -qx "<6>trustmigd\[$pid\]: reload: configuration $TRUSTMIG_CONFIG: 0 TTP anchor file(s), 1 CRL(s), policies in pol" d.log ||
		fail "reload line: $(cat d.log)"
	wait_for notify.log READY=1 2
	diff notify.log - <<-EOF || fail "notifications: $(cat notify.log)"
		READY=1 STATUS=listening on 127.0.0.1:$DPORT connect=ok
		RELOADING=1 MONOTONIC_USEC=$(sed -n 2p notify.log | sed 's/.*MONOTONIC_USEC=\([0-9]*\) .*/\1/') STATUS=reloading
		READY=1 STATUS=listening on 127.0.0.1:$DPORT connect=ok
	EOF
	# the connection tm-notify.py made on each READY=1, then the refusal
	dest_refused 1 50 "the peer closed the connection mid-handshake"
	dest_refused 4 50 "the peer closed the connection mid-handshake"
	rm -f sess/*
	hs_refused 52 "its code 33.*peer token: token rejected: certificate revoked"
	dest_refused 5 33 "peer token: token rejected: certificate revoked"
}

# SIGHUP while a handshake waits for M3 (tm-proxy.py holds it 2 s): the
# handshake completes under the old CRL, the reload follows it
t_d_reload_busy() {
	local port hup_pid

	hs_hosts
	cp ttp/crl.pem d-crl.pem
	start_d --listen 127.0.0.1:0 --tcti "$(tcti d)" --state d \
		--policy-dir pol --crl d-crl.pem --session-dir sess --timeout 5
	must "$TTP" revoke --dir ttp --token s.pem --crl-days 3650
	port=$(proxy m3:delay=2,relay)
	(
		wait_for delayed m3
		cp ttp/crl.pem d-crl.pem
		kill -HUP "$(cat d.pid)"
	) >hup.log 2>&1 &
	hup_pid=$!
	hs_done_port "$port"
	wait $hup_pid || fail "SIGHUP during the handshake: $(cat hup.log)"
	wait_for d.log "]: reload: configuration "
	log_line d.log 1 "${HS_LOG[@]}"
	# the reload came after the handshake's line, not before
	[ "$(grep -o ']: \(handshake peer\|reload: configuration\)' d.log | tr '\n' ,)" = \
		"]: handshake peer,]: reload: configuration," ] ||
		fail "order: $(cat d.log)"
	rm -f sess/*
	hs_refused 52 "its code 33.*certificate revoked" "$port"
	dest_refused 2 33 "peer token: token rejected: certificate revoked"
}

# an invalid configuration on SIGHUP: one line why, the old one serves;
# then a valid one, the command line still winning over the file
t_d_reload_bad() {
	local pid good

	hs_hosts
	conf d d "anchor = ../ttp/ttp.pem" "crl = ../ttp/crl.pem"
	cp etc/d.conf good.conf
	start_d --config etc/d.conf --policy-dir pol
	pid=$(cat d.pid)
	good="<6>trustmigd[$pid]: reload: configuration etc/d.conf: 1 TTP anchor file(s), 1 CRL(s), policies in pol"
	echo "frobnicate = 1" >>etc/d.conf
	reload_refused 1 "etc/d.conf:$(wc -l <etc/d.conf): unknown key \"frobnicate\""
	hs_done
	log_line d.log 1 "${HS_LOG[@]}"
	sed 's|^crl = .*|crl = ../missing.pem|' good.conf >etc/d.conf
	reload_refused 2 "cannot read a PEM CRL from etc/../missing.pem: No such file or directory"
	sed 's|^tcti = .*|tcti = swtpm:host=127.0.0.1,port=1|' good.conf >etc/d.conf
	reload_refused 3 "cannot reach the TPM at \"swtpm:host=127.0.0.1,port=1\": tcti:IO failure"
	hs_done
	log_line d.log 2 "${HS_LOG[@]}"
	# valid again; --policy-dir on the command line wins over the file's
	sed 's|^policy-dir = .*|policy-dir = ../nowhere|' good.conf >etc/d.conf
	hup 4
	grep -qxF "$good" d.log || fail "reload line: $(grep reload: d.log)"
	[ "$(grep -c 'reload: ' d.log)" -eq 4 ] || fail "$(cat d.log)"
	hs_done
	log_line d.log 3 "${HS_LOG[@]}"
}

# idle N: N connections to trustmigd that send one byte each, then wait
# until the test ends
idle() {
	rm -f idle.ready
	python3 - "$DPORT" "$1" <<-'EOP' &
		import socket, sys, time
		up, n = int(sys.argv[1]), int(sys.argv[2])
		conns = [socket.create_connection(("127.0.0.1", up)) for _ in range(n)]
		for c in conns:
		    c.send(b"\x01")
		open("idle.ready", "w").close()
		time.sleep(120)
	EOP
	echo $! >>proxy.pids
	await_path -f idle.ready 100 || fail "idle connections not made"
}

# A client that sends one byte and waits holds up no one: a source that
# comes after it completes at once, and trustmigd drops the slow one at
# its read timeout, saying why. A full waiting list drops the connection
# that waited longest.
t_d_slow_client() {
	local D_TIMEOUT=5 S_TIMEOUT=10 pid t0 ms
	local re='^<3>trustmigd\[[0-9]+\]: handshake peer=127\.0\.0\.1:[0-9]+ host=- policy=- result=refused code=50 reason='

	hs_hosts
	start_d
	pid=$(cat d.pid)
	idle 1
	t0=$(date +%s%N)
	hs_done
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -lt 3000 ] || fail "the handshake took $ms ms behind a slow client"
	log_line d.log 1 "${HS_LOG[@]}"
	wait_for d.log "policy=- result=refused"
	grep -Eqx "$re\"timeout: the first message \(M1\) did not arrive whole within 5 s\" ms=[0-9]+" d.log ||
		fail "no drop line for the slow client: $(cat d.log)"
	idle 33
	wait_for d.log "reason=\"dropped: " 1
	grep -Eqx "$re\"dropped: 32 connections were waiting for their first message \(M1\), this one the longest\" ms=[0-9]+" d.log ||
		fail "no drop line for a full list: $(cat d.log)"
	hs_done
	kill -0 "$pid" || fail "trustmigd died"
}

# Out of descriptors, trustmigd logs it once, neither spins nor exits,
# and serves the connections that waited once it has descriptors again.
t_d_emfile() {
	local pid fd=0 c conns=() cpu

	hs_hosts
	start_d
	pid=$(cat d.pid)
	# the next descriptor is the lowest free one: forbid it
	while [ -e "/proc/$pid/fd/$fd" ]; do
		fd=$((fd + 1))
	done
	must prlimit --pid "$pid" --nofile="$fd:"
	for c in 1 2 3 4 5; do
		exec {c}<>"/dev/tcp/127.0.0.1/$DPORT" || fail "cannot connect"
		conns+=("$c")
	done
	wait_for d.log "accept: "
	cpu=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	sleep 1
	cpu=$(($(awk '{ print $14 + $15 }' "/proc/$pid/stat") - cpu))
	[ "$cpu" -lt 20 ] || fail "trustmigd spins: $cpu ticks in 1 s"
	[ "$(grep 'accept: ' d.log)" = "<4>trustmigd[$pid]: accept: Too many open files; accepting again every 100 ms until it works" ] ||
		fail "accept lines: $(grep 'accept: ' d.log)"
	kill -0 "$pid" || fail "trustmigd exited: $(tail -n 1 d.log)"
	must prlimit --pid "$pid" --nofile=1024:
	hs_done
	log_line d.log 1 "${HS_LOG[@]}"
	for c in "${conns[@]}"; do
		exec {c}>&-
	done
}

t_d_no_tpm() {
	local rc

	ttp_init
	timeout 10 "$BIN/trustmigd" --tcti device:/dev/nonexistent-tpm \
		--crl ttp/crl.pem --listen 127.0.0.1:0 >out.log 2>err.log
	rc=$?
	[ $rc -eq 1 ] || fail "exit $rc, not 1: $(cat err.log)"
	[ "$(cat err.log)" = 'trustmigd: cannot reach the TPM at "device:/dev/nonexistent-tpm": tcti:IO failure' ] ||
		fail "stderr: $(cat err.log)"
}

missing=
for tool in swtpm swtpm_setup tpm2_pcrextend tpm2_checkquote openssl python3; do
	command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	skip "userspace tests" "missing:$missing (run scripts/setup-deps.sh)"
	tap "1..$n"
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 0
fi

run "help and usage" t_help
run "--version: every tool's release, wire formats, netlink, module" t_version
run "baseline files parse; malformed ones are refused" t_baselines
run "inputs: duplicate JSON keys, empty, unreadable files; reasons in words" t_inputs
run "option values: ports 1-65535, numbers in range, named when bad" t_option_values
run "baseline recorded after an emulated measured boot" t_record_baseline
run "baseline --ima records what IMA measured, its list replayed first" t_record_baseline_ima
run "enrolment + certify; openssl verify -crl_check accepts" t_enrol_verify
run "ECDH_ZGen works under PolicyPCR and fails after a PCR extend" t_zgen_binding
run "TPM bus: the credential and the migration key's Create go encrypted" t_tpm_bus_enrol
run "revoked token rejected by openssl verify -crl_check and verify" t_revoke
run "expired / not yet valid token and stale CRL detected" t_validity
run "token for another baseline rejected" t_wrong_baseline
run "edited token extension rejected" t_tampered
run "PCR extended before the quote: certify refused" t_pcr_changed
run "quote over a wrong nonce: certify refused" t_quote_nonce
run "quote signature re-encoded (high s, padded r): certify refused" t_quote_sig_reencoded
run "host names: RFC 1123 only, printed safely" t_host_name
run "migration key with userWithAuth: certify refused" t_mk_user_with_auth
run "migration key with a wrong policy: certify refused" t_mk_wrong_policy
run "AK from another TPM than the EK: certify refused" t_ak_other_tpm
run "EK neither pinned nor certified: challenge refused" t_ek_pin
run "enrolment with an RSA EK; the credential crosses the TPM bus encrypted" t_rsa_ek
run "EK certificate verified against the TPM vendor CA" t_ek_cert
run "existing CA imported as the TTP" t_import_ca
run "intermediate TTP certified by a root; tokens go with its certificate" t_ttp_intermediate
run "revocation covers the chain: each CA's CRL; a revoked intermediate" t_chain_revocation
run "handshake: both ends derive the same keys" t_hs_ok
run "handshake: four frames, the TPM commands of protocol.md section 10" t_hs_cost
run "handshake: two handshakes give different keys" t_hs_fresh
run "handshake: the session file is new and 0600, made before the keys" t_hs_session_out
run "handshake: sessions of installed keys: list, show, monitor, expiry, files" t_hs_sessions
run "handshake: destination baseline not in the policy" t_hs_baseline
run "handshake: destination PCR extended after certification" t_hs_pcr
run "handshake: IMA measured the certified trustmig.ko; lists replayed" t_hs_ima
run "handshake: a module the baseline does not list (21)" t_hs_ima_unlisted
run "handshake: the source loaded a module its baseline does not list" t_hs_ima_unlisted_source
run "handshake: trustmig.ko loaded before IMA's policy (21)" t_hs_ima_no_module
run "handshake: an IMA list not the one PCR 10 holds (16); a cut list" t_hs_ima_forged
run "handshake: IMA logged a violation (21)" t_hs_ima_violation
run "handshake: no \"ima\" in the baseline: the list replayed, not checked" t_hs_ima_unchecked
run "handshake: destination token revoked" t_hs_revoked
run "handshake: destination token expired" t_hs_expired
run "handshake: destination token not yet valid" t_hs_not_yet_valid
run "handshake: tampered M2 refused" t_hs_tampered
run "handshake: destination disconnects mid-handshake" t_hs_disconnect
run "handshake: man in the middle replaces the source's ephemeral key" t_hs_swap_eph
run "handshake: ECDH_ZGen's Z_mk crosses the TPM bus only encrypted" t_hs_tpm_bus
run "handshake: a recorded M2 replayed into a new handshake" t_hs_replay
run "handshake: tpm2_checkquote accepts the destination's quote" t_hs_checkquote
run "handshake: an enrolment response replayed as the source's quote" t_hs_enrol_oracle
run "handshake: garbage, oversized, truncated frames; daemon survives" t_hs_garbage
run "handshake: source token from a TTP not in the policy" t_hs_unknown_ttp
run "handshake: every fault of M1 to the destination" t_hs_faults_m1
run "handshake: every fault of M2 to the source" t_hs_faults_m2
run "handshake: every fault of M3 to the destination" t_hs_faults_m3
run "handshake: every fault of RESULT to the source; forged RESULT" t_hs_faults_result
run "handshake: token with an edited extension, either side" t_hs_edited_token
run "handshake: destination quotes with another AK than its token's" t_hs_other_ak
run "handshake: intermediate TTP under a root; its chain sent, never an anchor" t_hs_intermediate
run "handshake: intermediate TTP: both CRLs needed; revoked by the root" t_hs_intermediate_crls
run "handshake: the destination expected: options and policy fields" t_hs_expect_options
run "handshake: a destination not the one named refuses (59); --any-peer" t_hs_peer_name
run "handshake: an on-path redirection to another certified host is refused" t_hs_redirect
run "handshake: the destination takes a VM only from the policy's sources" t_hs_sources
run "handshake: the policy's destinations are interchangeable; \"any\"" t_hs_destinations
run "configuration file: the example parses and states the defaults" t_config_example
run "configuration file: trustmigd and handshake from it alone" t_config_hs
run "configuration file: its anchors narrow the policy's TTPs" t_config_anchors
run "configuration file: enrolment; FILE:LINE errors; flags win" t_config_host
run "status: the host's token, CRLs (stale warned) and key; --json; ttp show --json" t_status
run "configuration file: trustmig config checks what it names; --json" t_config_check
run "trustmigd: READY=1 to \$NOTIFY_SOCKET once it listens, none without" t_d_notify
run "trustmigd: SIGHUP reloads the CRLs; a revoked source is refused" t_d_reload_crl
run "trustmigd: SIGHUP during a handshake: it completes, then the reload" t_d_reload_busy
run "trustmigd: SIGHUP with an invalid configuration keeps the old one" t_d_reload_bad
run "trustmigd: no TPM: exit 1 at start, naming the TCTI" t_d_no_tpm
run "trustmigd: a slow client holds up no handshake; it is dropped, logged" t_d_slow_client
run "trustmigd: out of descriptors: one line, no spin, serves again" t_d_emfile

tap "1..$n"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
