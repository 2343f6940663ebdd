#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fuzz.sh: builds tests/fuzz (clang, ASan and UBSan, every report fatal)
# into $BUILD/user/fuzz, runs vmm_peer_test (fixed inputs), then each
# libFuzzer target for FUZZ_SECONDS (default 20) from its corpus there,
# seeded with a few well-formed sessions.  TAP on stdout and in $TAP;
# exits 1 if a test failed or a target crashed, naming the input that
# did it.
#
#   BUILD=build TAP=build/results/fuzz.tap FUZZ_SECONDS=600 \
#       tests/fuzz.sh [TARGET...]      (targets: hs_frames vmm_peer)
set -u

here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$(cd "$here/../.." && pwd)/build}
TAP=${TAP:-/dev/null}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
out=$BUILD/user/fuzz
if [ $# -eq 0 ]; then
	set -- hs_frames vmm_peer
fi

: >"$TAP"
tap() {
	echo "$*"
	echo "$*" >>"$TAP"
}

# seed TARGET NAME HEX: one input of TARGET's corpus.
seed() {
	mkdir -p "$out/corpus/$1"
	perl -e 'print pack("H*", $ARGV[0])' "$3" >"$out/corpus/$1/seed-$2"
}

mkdir -p "$out"
if ! make -C "$here/fuzz" BUILD="$BUILD" >"$out/build.log" 2>&1; then
	cat "$out/build.log" >&2
	tap "not ok - fuzz: the targets do not build (see $out/build.log)"
	exit 1
fi

# Handshake frames: version 3 (TM_WIRE_VERSION), type, be32 length, DER.
seed hs_frames alert 031500000008300602013a0c0178
zeros32=$(printf '%064d' 0)
seed hs_frames result "03040000002c302a30060201000c01780420$zeros32"
seed hs_frames m3 "03030000002c302a30060400040004000420$zeros32"
# M3 whose Attest carries an IMA list: the boot aggregate and trustmig.ko
python3 "$here/ima-list.py" "$out/seed.ima" "/m/trustmig.ko=$zeros32" >/dev/null
seed hs_frames m3ima "$(python3 - "$out/seed.ima" <<-'EOP'
	import sys
	def der(tag, body):
	    n = len(body)
	    size = bytes([n]) if n < 128 else bytes([0x82, n >> 8, n & 255])
	    return bytes([tag]) + size + body
	ima = open(sys.argv[1], "rb").read()
	attest = der(0x30, der(0x04, b"") + der(0x04, b"") + der(0x04, ima))
	m3 = der(0x30, attest + der(0x04, bytes(32)))
	print((bytes([3, 3]) + len(m3).to_bytes(4, "big") + m3).hex())
	EOP
)"
# M1 naming policy "vm", with an empty chain (the hello check refuses it)
seed hs_frames m1 "03010000006f306d0420${zeros32}0c02766d300030000441$(printf '04%0128d' 0)"
# trustmig-vm: frames separated by "TMVF", each its type and payload
# (fuzz/vmm_peer.c): HELLO (connection v3, 4 MiB, 1 vCPU, records v2,
# 2 streams), RECORDS, ABORT (EPROTO, "no"); and version 1 and 2 HELLOs.
sep=544d5646
hello=01544d564d00000003000000000040000000000001000000020000000200000000
seed vmm_peer hello "$hello"
seed vmm_peer hello_v1 01544d564d0000000100000000004000000000000100000000
seed vmm_peer hello_v2 01544d564d0000000200000000004000000000000100000002
seed vmm_peer abort "${hello}${sep}03deadbeef${sep}05000000476e6f"

failed=0
# The fixed inputs first; a sanitizer's report goes to a file, as the
# test keeps stderr for itself.
rm -f "$out"/vmm_peer_test.san.*
rc=0
ASAN_OPTIONS=log_path=$out/vmm_peer_test.san \
UBSAN_OPTIONS=log_path=$out/vmm_peer_test.san \
	"$out/vmm_peer_test" >"$out/vmm_peer_test.tap" || rc=$?
tee -a "$TAP" <"$out/vmm_peer_test.tap"
if [ "$rc" -ne 0 ]; then
	failed=1
	grep -q '^not ok' "$out/vmm_peer_test.tap" ||
		tap "not ok - vmm_peer_test: exit $rc (report: $(echo "$out"/vmm_peer_test.san.*))"
fi

for t in "$@"; do
	log=$out/$t.log
	rc=0
	# -close_fd_mask=2: the targets' own messages stay out of the log.
	"$out/$t" "$out/corpus/$t" -max_total_time="$FUZZ_SECONDS" \
		-max_len=65536 -timeout=10 -close_fd_mask=2 \
		-print_final_stats=1 -artifact_prefix="$out/$t-" \
		>"$log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	crash=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log" |
		head -n 1)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		tap "ok - fuzz $t: $runs runs, no crash"
	else
		failed=1
		tap "not ok - fuzz $t: exit $rc, input ${crash:-none saved} (log: $log)"
		grep -m 5 -E 'runtime error|ERROR: AddressSanitizer|SUMMARY' \
			"$log" | sed 's/^/# /'
	fi
done
exit "$failed"
