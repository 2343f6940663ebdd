#!/bin/bash
# proof.sh [--lint [TAP]]: the Tamarin proofs of docs/proof/trustmig.spthy
# (certification and handshake) and docs/proof/records.spthy (the record
# layer of wire format v2).
#
# Without arguments: tamarin-prover --prove=LEMMA on the theory that
# holds LEMMA (lemma names are unique across the two) for every lemma
# (expected verified) and on each necessity variant (-D=FLAG: the theory
# without one check) for the lemmas listed below (expected falsified),
# and prints the tables of docs/proof/README.md. Exits 1 on
# any other verdict, a timeout included. Never builds Tamarin: without
# tamarin-prover on PATH it runs the lint and says SKIP.
#
# Runs that look for a trace (exists-trace lemmas, variants) add
# -D=SMALL_WORLD, and a variant's also -D=ATTACK_WORLD (the world of its
# attack: only the hosts, compromise and sides the attack uses):
# restrictions that only remove traces, so a trace found with them is a
# trace of the model without them. Proofs of all-traces lemmas never get
# them: there they would prove a smaller claim.
#
# --lint: no prover; checks that the model, this script and the README
# name the same lemmas and flags (so none can silently drift) and that
# no #ifdef of either theory nests, as TAP
# (to the file TAP if given) for make check.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
model=$repo/docs/proof/trustmig.spthy
records=$repo/docs/proof/records.spthy
models=("$model" "$records")
readme=$repo/docs/proof/README.md
work=${BUILD:-$repo/build}/proof

# flag|code that the flag removes|lemmas falsified|the attack Tamarin finds
variants=(
"NO_TOKEN_CHAIN|tm_token_verify: X509_verify_cert against the policy's anchors|ttp_only_certifies|the attacker sends the destination a token no TTP issued (in the trace it names the destination host's own AK and the policy's baseline, under any signature): the check passes it"
"NO_VALIDITY|tm_token_verify: notAfter|expired_token_never_accepted|the destination host's own token expires; the attacker sends it to that host in M1 as the source's token, and the check passes it"
"NO_REVOCATION|tm_token_verify: X509_V_FLAG_CRL_CHECK|revoked_token_never_accepted|the TTP revokes the destination host's token; the attacker sends it to that host in M1 as the source's token, and the check passes it"
"NO_BASELINE_POLICY|tm_policy_check|trusted_state_source|the TTP certified the source's host with a baseline the policy does not name; the attacker, in control of that host (its software is not trusted), opens a handshake with its token and has its TPM quote those PCRs over H3: the quote matches the token and the destination accepts"
"NO_QUOTE_SIG|tm_quote_verify -> tm_attest_verify: the AK's signature|trusted_state_source|the attacker opens a handshake as the source with a certified host's token (in the trace, the destination's own) and sends in M3 an unsigned quote of the certified PCRs over H3 (at the source the same check is redundant: c_D needs Z_mk, which only the destination's TPM in the certified state computes)"
"NO_PCR_DIGEST|tm_quote_verify: PCR selection and digest = the token's baseline|trusted_state_source|the source's host, certified for the policy's baseline, runs other software; the attacker, in control of it, opens a handshake with its token and has its TPM quote the real PCRs over H3: the destination accepts them (at the source, ECDH_ZGen under PolicyPCR already pins the destination's PCRs)"
"NO_QUOTE_QDATA|tm_quote_verify: extraData = message type, then transcript hash|trusted_state_source|the attacker opens a handshake as the source with the destination host's own token and sends back in M3 the destination's own M2 quote (that AK, the certified PCRs, extraData for M2 over H2): with extraData unchecked it passes"
"NO_ZGEN_POLICY|the TPM: ECDH_ZGen under PolicyPCR (tm_tpm_ecdh_zgen; no userWithAuth, tm_check_mk_public)|trusted_state_destination|the attacker, in control of the destination's host in another state (in the trace, never booted), has its TPM compute ECDH_ZGen with the migration key; with the AK revealed after certification it forges the quote over H2 and c_D, and the source accepts (in the trace the destination's token is the source host's own)"
"NO_CONFIRM_AT_S|tm_hs_src_m2 -> tm_hs_check_mac: c_D|trusted_state_destination|with the destination's AK revealed after certification, the attacker forges its quote over H2 and sends any c_D: the source accepts a destination that never answered, whose TPM may be in any state (the keys stay secret: Z_mk; in the trace the destination's token is the source host's own)"
"NO_CONFIRM_AT_D|tm_hs_dst_m3 -> tm_hs_check_mac: c_S|agreement_destination_to_source|the attacker changes c_S in M3: the destination accepts and derives other traffic keys than the source, so no source ran with the keys it accepted (in the trace one host is both source and destination)"
"UNTAGGED_QDATA|tm_hs_qdata: the message type before the transcript hash (the code before the model found the attack)|trusted_state_source|the attacker opens a handshake as the source with the destination host's own token and has that host answer a forged enrolment challenge (the TTP's encrypted credential, nonce H3): its staged, already certified AK quotes the certified PCRs over H3, and the destination accepts that quote in M3"
"NO_PEER_NAME_AT_S|tm_hs_src_expected: the destination's token names a host of M1's destinations|intended_destination|the attacker steers the source to a host certified under the same policy that M1 does not name (in the trace, the source's own host answers M1 as destination, and M1's destinations are neither that host, nor a list holding it, nor any): without the check the source accepts it"
"NO_RESULT_MAC|tm_hs_result_recv: RESULT's MAC under K_r|result_authentic|once the source has accepted, the attacker sends it a RESULT saying 0 under a MAC not made with K_r: the source installs its keys, and no destination installed the same keys"
"NO_COMMIT_COUNT|v2 COMMIT: each lane's count = the records the destination opened in that lane (records.spthy)|committed_stream_is_sealed_stream|the source seals a record in lane 1 and commits; the attacker withholds that record: lane 0's seq still fits, the destination opens the COMMIT and commits a stream without it (truncation of a lane)"
"NO_LANE_IN_NONCE|v2 nonce = (lane, seq): the lane in the nonce (records.spthy)|nonce_used_once|the source seals seq 0 in lane 0 and seq 0 in lane 1: one nonce twice under one key (with AES-GCM this gives away the authentication key)"
)

# the trace-finding flags: not variants, never in an all-traces proof
small_world=SMALL_WORLD
attack_world=ATTACK_WORLD

# lemmas [THEORY]: the lemmas of THEORY, or of both theories in order
lemmas() {
	local m

	for m in "${@:-${models[@]}}"; do
		sed -n 's/^lemma \([A-Za-z0-9_]*\).*/\1/p' "$m"
	done
}

# theory_of LEMMA: the theory file that holds LEMMA
theory_of() {
	local m

	for m in "$model" "$records"; do
		if grep -q "^lemma $1\b" "$m"; then
			echo "$m"
			return
		fi
	done
}

# the lemmas whose formula starts with exists-trace
exists_trace_lemmas() {
	awk '/^lemma / { l = $2; sub(/[^A-Za-z0-9_].*/, "", l); next }
	     l != "" && /^[ \t]*exists-trace/ { print l }
	     { l = "" }' "${models[@]}"
}

field() {
	cut -d'|' -f"$2" <<<"$1"
}

# --- lint ---------------------------------------------------------------

lint() {
	local tap=${1:-/dev/null} n=0 bad=0 v flag l names

	: >"$tap"
	check() {
		n=$((n + 1))
		if [ -z "$2" ]; then
			echo "ok $n - proof lint: $1" | tee -a "$tap"
		else
			echo "not ok $n - proof lint: $1: $2" | tee -a "$tap"
			bad=1
		fi
	}
	names=$(lemmas)
	local nolemma="" noreadme="" noflag="" noscript="" nottable="" badrow=""
	local nosmall="" nested="" dup m
	for v in "${variants[@]}"; do
		flag=$(field "$v" 1)
		[ "$(tr -cd '|' <<<"$v")" = "|||" ] || badrow="$badrow $flag"
		grep -q "^#ifdef \(not \)\?$flag\$" "${models[@]}" ||
			noflag="$noflag $flag"
		grep -q "^| \`$flag\` |" "$readme" || nottable="$nottable $flag"
		for l in $(field "$v" 3); do
			grep -qx "$l" <<<"$names" || nolemma="$nolemma $l"
		done
	done
	for flag in $(sed -n 's/^#ifdef //p' "${models[@]}" | grep -o '[A-Z][A-Z_]*' | sort -u); do
		[ "$flag" != "$small_world" ] && [ "$flag" != "$attack_world" ] ||
			continue
		# a here-string, not a pipe: under pipefail, grep -q closing the
		# pipe early would fail printf (SIGPIPE) and the check with it
		grep -q "^$flag|" <<<"$(printf '%s\n' "${variants[@]}")" ||
			noscript="$noscript $flag"
	done
	for l in $names; do
		grep -q "^| \`$l\` |" "$readme" || noreadme="$noreadme $l"
	done
	check "every variant of proof.sh has its four fields" \
		"${badrow:+bad:$badrow}"
	check "every variant flag of proof.sh is an #ifdef of a theory" \
		"${noflag:+missing:$noflag}"
	check "every #ifdef flag of the theories is a variant of proof.sh" \
		"${noscript:+missing:$noscript}"
	check "every variant flag is in the README's variants table" \
		"${nottable:+missing:$nottable}"
	check "every lemma a variant breaks is a lemma of a theory" \
		"${nolemma:+unknown:$nolemma}"
	check "every lemma of the theories is in the README's lemma table" \
		"${noreadme:+missing:$noreadme}"
	dup=$(lemmas | sort | uniq -d | tr '\n' ' ')
	check "no lemma name is in both theories" "${dup:+twice: $dup}"
	# Tamarin skips a false #ifdef up to the next #endif: none may nest
	for m in "${models[@]}"; do
		nested="$nested$(awk -v f="${m##*/}" '
			/^#ifdef/ { if (open) printf " %s:%d", f, FNR; open = 1 }
			/^#endif/ { open = 0 }' "$m")"
	done
	check "no #ifdef of the theories is inside another" \
		"${nested:+nested at$nested}"
	for flag in $small_world $attack_world; do
		grep -q "^#ifdef $flag\$" "$model" || nosmall="$nosmall $flag"
	done
	[ -z "$(exists_trace_lemmas)" ] && nosmall="$nosmall exists-trace"
	check "the main model has the trace-finding blocks; exists-trace lemmas" \
		"${nosmall:+missing:$nosmall}"
	echo "1..$n" | tee -a "$tap"
	return $bad
}

if [ "${1:-}" = --lint ]; then
	lint "${2:-}"
	exit
fi
if ! command -v tamarin-prover >/dev/null; then
	lint
	echo "SKIP: tamarin-prover not installed (not packaged in Debian 12; see docs/proof/README.md)"
	exit 0
fi

# --- proofs -------------------------------------------------------------

# One tamarin-prover run per (model, lemma), so that a lemma the prover
# cannot settle within PROOF_TIMEOUT seconds costs only its own verdict.
# Main model: every lemma, expected verified. A variant: the lemmas it is
# expected to falsify (its other lemmas are not run). PROOF_ONLY="main:LEMMA
# FLAG:LEMMA ..." runs a subset; PROOF_JOBS runs in parallel (each run
# wants a core and about 4 GiB). The derivation checks (a wellformedness
# heuristic, not part of a proof) time out on this model and are off.
timeout_s=${PROOF_TIMEOUT:-900}
jobs=${PROOF_JOBS:-1}
# Verdicts are kept per model content: PROOF_ONLY runs add up, but never
# with verdicts of another version of the model.
work=$work/$(cat "${models[@]}" | sha256sum | cut -c1-12)
mkdir -p "$work"

tasks() {
	local v l
	for l in $(lemmas); do
		echo "main:$l"
	done
	for v in "${variants[@]}"; do
		for l in $(field "$v" 3); do
			echo "$(field "$v" 1):$l"
		done
	done
}

# defines MODEL:LEMMA: the -D options of that run, on one line: a
# variant's flag, SMALL_WORLD and ATTACK_WORLD; SMALL_WORLD alone for an
# exists-trace lemma of the main model
defines() {
	local name=${1%%:*} l=${1#*:}

	if [ "$name" != main ]; then
		echo "-D=$name -D=$small_world -D=$attack_world"
	elif grep -qx "$l" <<<"$exists"; then
		echo "-D=$small_world"
	else
		echo
	fi
}

# prove MODEL:LEMMA: "verified N" / "falsified N" / "incomplete N" /
# "timeout" into $work/MODEL.LEMMA.res, seconds into ….time
prove() {
	local name=${1%%:*} l=${1#*:} start out rc=0 res define=()

	out=$work/$name.$l
	read -ra define <<<"$(defines "$1")"
	start=$(date +%s)
	timeout "$timeout_s" tamarin-prover --derivcheck-timeout=0 \
		--prove="$l" "${define[@]}" "$(theory_of "$l")" +RTS -N1 -RTS \
		>"$out.out" 2>"$out.err" || rc=$?
	echo $(($(date +%s) - start)) >"$out.time"
	if [ "$rc" = 124 ]; then
		res=timeout
	else
		res=$(sed -n "s/^  $l ([a-z-]*): \(verified\|falsified\|analysis incomplete\).* (\([0-9]*\) steps)\$/\1 \2/p" \
			"$out.out" | sed 's/^analysis incomplete/incomplete/')
	fi
	echo "${res:-error}" >"$out.res"
}

# verdict MODEL LEMMA: the recorded verdict, or "not run"
verdict() {
	cat "$work/$1.$2.res" 2>/dev/null || echo "not run"
}

version=$(tamarin-prover --version 2>/dev/null | head -n 1)
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$repo" status --porcelain -- docs/proof scripts/proof.sh 2>/dev/null)" ] ||
	commit="$commit+changes"

# Tamarin's wellformedness checks, on each theory as each run loads it: a
# warning there (an unbound variable, a sort mismatch) voids the proofs.
wellformed() {
	local out theory=$1

	shift
	out=$(tamarin-prover --derivcheck-timeout=0 "$@" "$theory" 2>&1) &&
		grep -q "All wellformedness checks were successful" <<<"$out"
}
exists=$(exists_trace_lemmas)
mapfile -t loads < <(tasks | while read -r t; do
	echo "$(theory_of "${t#*:}") $(defines "$t")"; done | sort -u)
for load in "${loads[@]}"; do
	read -ra define <<<"$load"
	if ! wellformed "${define[@]}"; then
		echo "${load}: Tamarin's wellformedness checks fail" >&2
		exit 1
	fi
done

export -f defines prove theory_of
export work model records timeout_s small_world attack_world exists
tasks | { if [ -n "${PROOF_ONLY:-}" ]; then grep -xF -f <(tr ' ' '\n' <<<"$PROOF_ONLY") || true; else cat; fi; } |
	xargs -r -P "$jobs" -I{} bash -c 'prove "$1"' _ {}

fails=0 notrun=0
row() {
	local name=$1 l=$2 want=$3 got

	got=$(verdict "$name" "$l")
	if [ "$got" = "not run" ]; then
		notrun=$((notrun + 1))
		echo "| \`$l\` | not run | |"
		return
	fi
	[ "${got%% *}" = "$want" ] || fails=$((fails + 1))
	echo "| \`$l\` | $got | $(cat "$work/$name.$l.time") |"
}

echo
echo "Results of scripts/proof.sh on commit $commit with $version (timeout ${timeout_s} s per lemma)."
echo
echo "Main model (trustmig.spthy), every lemma expected verified (exists-trace lemmas: a trace found, with -D=$small_world):"
echo
echo "| lemma | result (steps) | s |"
echo "|---|---|---|"
for l in $(lemmas "$model"); do
	row main "$l" verified
done
echo
echo "Record layer (records.spthy), every lemma expected verified (exists-trace lemmas: a trace found):"
echo
echo "| lemma | result (steps) | s |"
echo "|---|---|---|"
for l in $(lemmas "$records"); do
	row main "$l" verified
done
echo
echo "Variants (\`-D=FLAG -D=$small_world -D=$attack_world\`), expected falsified:"
echo
echo "| flag | lemma | result (steps) | s |"
echo "|---|---|---|---|"
for v in "${variants[@]}"; do
	flag=$(field "$v" 1)
	for l in $(field "$v" 3); do
		echo -n "| \`$flag\` "
		row "$flag" "$l" falsified
	done
done
echo
if [ "$fails" -ne 0 ]; then
	echo "$fails verdicts other than expected, $notrun runs not made"
	exit 1
fi
if [ "$notrun" -ne 0 ]; then
	echo "every verdict made is as expected; $notrun runs not made (PROOF_ONLY)"
else
	echo "all verdicts as expected"
fi
