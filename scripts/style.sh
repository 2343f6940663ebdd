#!/bin/bash
# style.sh FILES...: kernel coding style (checkpatch --strict) on every C
# source and header given. Prints each problem; exits 1 if any file has
# an ERROR, WARNING or CHECK.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
KSRC=${KSRC:-$repo/build/ksrc}
checkpatch=$KSRC/scripts/checkpatch.pl

# checkpatch is not in the headers package; fetch it on first use so the
# script also works outside make.
if [ ! -f "$KSRC/.stamp" ]; then
	"$repo/scripts/ksrc.sh" "$KSRC"
fi

# --no-tree: we are not inside a kernel tree (checkpatch then skips the
#   checks that need one, e.g. looking up compat strings in the DT docs).
# --strict: also report CHECK-level issues, as the subsystem maintainers
#   we model ourselves on do.
# --show-types: print the type (e.g. SPACING) so a problem is searchable.
# --quiet: no per-file "has no obvious style problems" chatter.
# Nothing is ignored: every check checkpatch runs on -f files applies to
# out-of-tree code too (SPDX tags included). If a type ever has to be
# ignored, add it here with the reason next to it.
IGNORE=()
opts=(--no-tree --strict --show-types --quiet)
if [ ${#IGNORE[@]} -gt 0 ]; then
	opts+=(--ignore "$(IFS=,; echo "${IGNORE[*]}")")
fi

total=0
bad=0
for f in "$@"; do
	case $f in
	*.c | *.h) ;;
	*) continue ;;
	esac
	total=$((total + 1))
	if [ ! -f "$f" ]; then
		echo "style: $f: no such file" >&2
		bad=$((bad + 1))
		continue
	fi
	# checkpatch exits non-zero for ERROR/WARNING (and CHECK under
	# --strict); any output at all also counts, so nothing slips by.
	# user/ calls tpm2-tss and OpenSSL, whose names (publicArea,
	# X509_getm_notAfter, ...) are CamelCase and not ours to rename.
	extra=()
	case $f in
	user/*) extra=(--ignore CAMELCASE) ;;
	esac
	rc=0
	out=$(perl "$checkpatch" "${opts[@]}" "${extra[@]}" -f "$f" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		bad=$((bad + 1))
		printf '%s\n\n' "$out"
	fi
done

if [ "$total" -eq 0 ]; then
	echo "style: warning: no .c/.h files given" >&2
fi
if [ "$bad" -gt 0 ]; then
	echo "style: $bad of $total files with problems"
	exit 1
fi
echo "style: $total files clean"
