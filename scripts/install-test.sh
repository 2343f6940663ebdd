#!/bin/bash
# install-test.sh TAP: make install / make uninstall into a staging root
# (DESTDIR), as a package build does: the exact file list and modes, a
# second install that keeps an operator's configuration, an uninstall
# that removes everything but a changed configuration.  TAP to TAP.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tap=$1
: >"$tap"
root=$(mktemp -d "${TMPDIR:-/tmp}/trustmig-install.XXXXXX")
trap 'rm -rf "$root"' EXIT
KVER=${KVER:-$("$here/kver.sh")}
log=$root.log

ok() { echo "ok - install: $1" | tee -a "$tap"; }
fail() { echo "not ok - install: $1" | tee -a "$tap"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2], want [$3]"; fi; }

# make install/uninstall into $root (PREFIX=/usr as a package has it).
mk() {
	make -C "$repo" --no-print-directory "$1" DESTDIR="$root" PREFIX=/usr \
		${BUILD:+BUILD="$BUILD"} \
		KVER="$KVER" >"$log" 2>&1
}

# Every file under $root with its mode, one per line, sorted.
tree() {
	(cd "$root" && find . -type f -printf '%m %P\n' | LC_ALL=C sort | tr '\n' ';')
}

want="644 etc/trustmig/trustmig.conf;644 lib/modules/$KVER/updates/trustmig.ko;644 lib/systemd/system/trustmig-ima.service;644 lib/systemd/system/trustmigd.service;644 usr/include/linux/trustmig.h;644 usr/lib/trustmig/ima-policy;644 usr/share/bash-completion/completions/trustmig;644 usr/share/man/man1/trustmig-vm.1;644 usr/share/man/man5/trustmig.conf.5;644 usr/share/man/man8/trustmig-ttp.8;644 usr/share/man/man8/trustmig.8;644 usr/share/man/man8/trustmigd.8;755 usr/bin/trustmig-vm;755 usr/sbin/trustmig;755 usr/sbin/trustmig-ttp;755 usr/sbin/trustmigd;"
conf=$root/etc/trustmig/trustmig.conf

if mk install; then ok "make install DESTDIR=... PREFIX=/usr"; else fail "make install: $(tail -n 3 "$log")"; fi
check "installed files and modes" "$(tree)" "$want"
check "the configuration is the example" \
	"$(cmp -s "$conf" "$repo/docs/trustmig.conf.example" && echo same)" same
check "the completion serves every tool by a link" \
	"$(cd "$root/usr/share/bash-completion/completions" && find . -type l -printf '%P>%l\n' | LC_ALL=C sort | tr '\n' ' ')" \
	"trustmig-ttp>trustmig trustmig-vm>trustmig trustmigd>trustmig "
check "the unit starts the installed daemon" \
	"$(grep '^ExecStart=' "$root/lib/systemd/system/trustmigd.service")" "ExecStart=/usr/sbin/trustmigd"
check "the module is this build's" \
	"$(cmp -s "$root/lib/modules/$KVER/updates/trustmig.ko" "$repo/trustmig.ko" && echo same)" same

echo "tcti = swtpm:host=127.0.0.1,port=2321  # the operator's" >>"$conf"
edited=$(sha256sum <"$conf")
if mk install; then ok "make install again"; else fail "make install again: $(tail -n 3 "$log")"; fi
check "a second install says it kept the configuration" \
	"$(grep -c "install: kept $conf (it exists)" "$log")" 1
check "a second install keeps the operator's configuration" "$(sha256sum <"$conf")" "$edited"
check "a second install changes no file list" "$(tree)" "$want"

if mk uninstall; then ok "make uninstall"; else fail "make uninstall: $(tail -n 3 "$log")"; fi
check "uninstall leaves only the changed configuration" "$(tree)" "644 etc/trustmig/trustmig.conf;"
check "and no link" "$(cd "$root" && find . -type l)" ""
check "uninstall says why it kept it" \
	"$(grep -c "uninstall: kept $conf (changed since install)" "$log")" 1

rm -f "$conf"
mk install && mk uninstall
check "install then uninstall leaves no file" "$(tree)" ""
check "and no directory of trustmig's" \
	"$(cd "$root" && find . -path './etc/trustmig' -o -path "./lib/modules/$KVER/updates" | head -n 1)" ""
rm -f "$log"
! grep -q '^not ok' "$tap"
