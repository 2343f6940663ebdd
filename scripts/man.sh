#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# man.sh build OUTDIR: every docs/man/NAME.SECTION.scd into OUTDIR/NAME.SECTION
# (roff, by scdoc).
#
# man.sh check OUTDIR BINDIR TAPFILE: the pages in OUTDIR against the tools
# in BINDIR, as TAP to TAPFILE and stdout; exits 1 if a check failed.
# * every page is built and man renders it without a warning;
# * a tool's page names every option its --help names and, for a tool with
#   commands, has a subsection per command naming every option of
#   "TOOL COMMAND --help";
# * trustmig.conf(5) has an entry for every key of the example file and of
#   the parser;
# * the bash completion (user/completion/trustmig) offers every command
#   and every option a help's synopsis offers, and no option the help
#   does not name;
# * the option check fails on a page that lacks an option.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
completion=$repo/user/completion/trustmig
tools=(trustmig trustmigd trustmig-ttp trustmig-vm)
n=0
failed=0

usage() {
	echo "usage: $0 build OUTDIR | check OUTDIR BINDIR TAPFILE" >&2
	exit 2
}

build() {
	local out=$1 src name

	mkdir -p "$out"
	for src in "$repo"/docs/man/*.scd; do
		name=$(basename "$src" .scd)
		# scdoc's errors name a line, not the file
		if ! scdoc <"$src" >"$out/$name"; then
			rm -f "$out/$name"
			echo "man: scdoc failed on $src" >&2
			exit 1
		fi
	done
}

# Page $1 as a reader sees it, without hyphenation, and with the line
# breaks groff makes after a hyphen undone: no option spans two lines.
render() {
	env -u MAN_KEEP_FORMATTING MANWIDTH=80 man --nh -E UTF-8 -l "$1" |
		awk '{ line = held == "" ? $0 : held substr($0, match($0, /[^ ]/)) }
		     line ~ /[^ ]-$/ { held = line; next }
		     { print line; held = "" }
		     END { if (held != "") print held }'
}

# The subsection "$2" of the rendered page $1: from its heading (indented
# three spaces) to the next heading of any level.
subsection() {
	awk -v name="$2" '/^ ? ? ?[^ ]/ { on = ($0 == "   " name) } on' "$1"
}

# Every option named in the text on stdin, once each: --long, and -word
# (openssl's in an example).
options() {
	{ grep -oE -- '(^|[^A-Za-z0-9_-])--?[A-Za-z][A-Za-z0-9_-]*' || :; } |
		sed 's/^[^-]*//' | sort -u
}

# The commands listed in a --help on stdin (two spaces in, under COMMANDS).
commands() {
	awk '/^COMMANDS$/ { on = 1; next } on && /^  [a-z]/ && !seen[$1]++ { print $1 }'
}

# A --help's synopsis on stdin: its SYNOPSIS section, else what comes
# before the first line indented four spaces (a command's description),
# else all of it (trustmig-vm's usage).
synopsis() {
	awk '/^SYNOPSIS$/ { syn = 1; next }
	     syn && /^$/ { exit }
	     syn { print; next }
	     /^    [^ ]/ { desc = 1 }
	     !desc { pre = pre $0 "\n" }
	     END { if (!syn) printf "%s", pre }'
}

# The options in file $1 (one a line) that file $2 does not name as words.
missing() {
	local opt

	while read -r opt; do
		grep -qE -- "(^|[^A-Za-z0-9_-])$opt(\$|[^A-Za-z0-9_-])" "$2" ||
			printf ' %s' "$opt"
	done <"$1"
}

# The words the completion offers for the command line "$@", the last word
# being completed, one a line.
complete_line() {
	bash -c '
		compopt() { :; }	# a readline builtin: not in bash -c
		completion=$1
		shift
		source "$completion"
		fn=$(complete -p "$1" | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' complete "$completion" "$@"
}

say() {
	echo "$*" | tee -a "$tap"
}

# result DESCRIPTION PROBLEM: a TAP line, ok if there is no problem.
result() {
	n=$((n + 1))
	if [ -z "$2" ]; then
		say "ok $n - man: $1"
	else
		say "not ok $n - man: $1: $2"
		failed=1
	fi
}

# The options the completion offers for "$@" and the options of the
# --help in file $1 do not match: what is missing from the synopsis, and
# what is offered but not named at all (--help is always offered).
offer_problems() {
	local help=$1 miss extra

	shift
	synopsis <"$help" | options >"$tmp/syn"
	complete_line "$@" >"$tmp/offered"
	miss=$(missing "$tmp/syn" "$tmp/offered")
	extra=$(missing "$tmp/offered" "$help" | sed -E 's/ --help( |$)/\1/')
	echo "${miss:+not offered:$miss}${miss:+${extra:+; }}${extra:+not in --help:$extra}"
}

check() {
	local out=$1 bin=$2 src page name tool cmd warn miss what

	tap=$3
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/trustmig-man.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	: >"$tap"

	for src in "$repo"/docs/man/*.scd; do
		name=$(basename "$src" .scd)
		page=$out/$name
		if [ ! -f "$page" ]; then
			result "$name renders without warnings" "not built"
			: >"$tmp/$name.txt"
			continue
		fi
		warn=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null) ||
			warn=${warn:-"man exited $?"}
		result "$name renders without warnings" "${warn:+warnings}"
		[ -z "$warn" ] || say "# ${warn//$'\n'/$'\n'# }"
		render "$page" >"$tmp/$name.txt"
	done

	for tool in "${tools[@]}"; do
		# the page a tool has, built or not (then it names nothing)
		page=$(cd "$repo/docs/man" && echo "$tool".[18].scd)
		page=${page%.scd}
		[ -f "$tmp/$page.txt" ] || : >"$tmp/$page.txt"
		if ! "$bin/$tool" --help >"$tmp/$tool.help"; then
			result "$tool --help runs" "no $bin/$tool, or it failed"
			continue
		fi
		options <"$tmp/$tool.help" >"$tmp/opts"
		miss=$(missing "$tmp/opts" "$tmp/$page.txt")
		result "$page names every option of '$tool --help'" \
			"${miss:+missing:$miss}"
		result "the completion offers the options of '$tool --help' and no other" \
			"$(offer_problems "$tmp/$tool.help" "$tool" -)"

		commands <"$tmp/$tool.help" >"$tmp/commands"
		[ -s "$tmp/commands" ] || continue
		complete_line "$tool" "" >"$tmp/offered"
		miss=$(missing "$tmp/commands" "$tmp/offered")
		result "the completion offers every command of '$tool --help'" \
			"${miss:+not offered:$miss}"
		while read -r cmd; do
			"$bin/$tool" "$cmd" --help >"$tmp/help"
			options <"$tmp/help" >"$tmp/opts"
			subsection "$tmp/$page.txt" "$cmd" >"$tmp/section"
			if [ -s "$tmp/section" ]; then
				miss=$(missing "$tmp/opts" "$tmp/section")
			else
				miss=" no subsection $cmd"
			fi
			result "$page section $cmd names every option of '$tool $cmd --help'" \
				"${miss:+missing:$miss}"
			result "the completion offers the options of '$tool $cmd --help' and no other" \
				"$(offer_problems "$tmp/help" "$tool" "$cmd" -)"
		done <"$tmp/commands"
	done

	{
		sed -n 's/^\([a-z-]*\) = .*/\1/p' "$repo/docs/trustmig.conf.example"
		sed -n 's/.*TM_\(KEY\|LIST\)("\([a-z-]*\)".*/\2/p' "$repo/user/lib/config.c"
	} | sort -u >"$tmp/keys"
	miss=""
	while read -r name; do
		grep -q "^       $name = " "$tmp/trustmig.conf.5.txt" ||
			miss="$miss $name"
	done <"$tmp/keys"
	result "trustmig.conf.5 has an entry for every key of trustmig.conf.example and config.c" \
		"${miss:+missing:$miss}"

	mkdir "$tmp/files" "$tmp/files/dir"
	: >"$tmp/files/file"
	what=$(cd "$tmp/files" && complete_line trustmig enrol-install --token "" | sort | tr '\n' ' ')
	result "the completion offers file names after --token" \
		"$([ "$what" = "dir file " ] || echo "offered: $what")"
	what=$(cd "$tmp/files" && complete_line trustmigd --policy-dir "" | tr '\n' ' ')
	result "the completion offers only directories after --policy-dir" \
		"$([ "$what" = "dir " ] || echo "offered: $what")"

	# The option check itself: a page without --linger must fail it.
	sed 's/--linger//g' "$repo/docs/man/trustmig-vm.1.scd" | scdoc >"$tmp/trustmig-vm.1"
	render "$tmp/trustmig-vm.1" >"$tmp/selftest.txt"
	echo --linger >"$tmp/opts"
	miss=$(missing "$tmp/opts" "$tmp/selftest.txt")
	result "the option check finds --linger missing from a trustmig-vm.1 without it" \
		"$([ "$miss" = " --linger" ] || echo "it found: [$miss]")"

	say "1..$n"
	return "$failed"
}

case ${1:-} in
build)
	[ $# -eq 2 ] || usage
	build "$2"
	;;
check)
	[ $# -eq 4 ] || usage
	check "$2" "$3" "$4"
	;;
*) usage ;;
esac
