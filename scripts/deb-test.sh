#!/bin/bash
# deb-test.sh TAP: make check-deb.  Builds both Debian packages (make deb),
# runs lintian on them (no error, no warning: what remains is overridden
# in debian/*.lintian-overrides with its reason), checks what each holds,
# then lets DKMS build trustmig.ko from the -dkms package for the kernel
# at KVER, in private DKMS trees (nothing on this host changes): signed
# with a MOK as on a Secure Boot host, for the right kernel, of this
# release.  A kernel without KVM and one without headers are refused
# with DKMS's message, and make's own build says what is missing.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tap=$1
: >"$tap"
KVER=${KVER:-$("$here/kver.sh")}
BUILD=${BUILD:-$repo/build}
version=$(cat "$repo/VERSION")
out=$BUILD/deb
work=$(mktemp -d "${TMPDIR:-/tmp}/trustmig-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

ok() { echo "ok - deb: $1" | tee -a "$tap"; }
fail() { echo "not ok - deb: $1" | tee -a "$tap"; }
diag() { sed 's/^/# /' | tee -a "$tap"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2], want [$3]"; fi; }
# has WHAT OUTPUT PATTERN: OUTPUT matches the extended regex PATTERN
has() { if grep -qE -- "$3" <<<"$2"; then ok "$1"; else fail "$1: no [$3] in: $(tail -n 3 <<<"$2" | tr '\n' ' ')"; fi; }

tools=$out/trustmig_${version}_amd64.deb
dkms_deb=$out/trustmig-dkms_${version}_all.deb

if "$here/deb.sh" "$out" >"$work/deb.log" 2>&1; then
	ok "make deb"
else
	fail "make deb: $(tail -n 5 "$work/deb.log" | tr '\n' ' ')"
fi
check "make deb built both packages (and the tools' debug symbols)" \
	"$(cd "$out" && ls -- *.deb 2>/dev/null | tr '\n' ' ')" \
	"trustmig-dbgsym_${version}_amd64.deb trustmig-dkms_${version}_all.deb trustmig_${version}_amd64.deb "

for deb in "$out"/*.deb; do
	name=${deb##*/}
	lintian --fail-on error,warning --display-info "$deb" >"$work/lintian" 2>&1
	rc=$?
	diag <"$work/lintian"
	check "lintian $name: no error, no warning" "$rc" 0
done

contents=$(dpkg-deb -c "$tools" 2>&1 | awk '{ print $6 }' | LC_ALL=C sort | tr '\n' ' ')
for f in ./usr/sbin/trustmig ./usr/sbin/trustmigd ./usr/sbin/trustmig-ttp \
	./usr/bin/trustmig-vm ./lib/systemd/system/trustmigd.service \
	./lib/systemd/system/trustmig-ima.service ./usr/lib/trustmig/ima-policy \
	./etc/trustmig/trustmig.conf ./usr/include/linux/trustmig.h \
	./usr/share/bash-completion/completions/trustmig \
	./usr/share/man/man8/trustmig.8.gz ./usr/share/man/man8/trustmigd.8.gz \
	./usr/share/man/man8/trustmig-ttp.8.gz ./usr/share/man/man1/trustmig-vm.1.gz \
	./usr/share/man/man5/trustmig.conf.5.gz; do
	has "trustmig holds ${f#.}" "$contents" " ${f//./\\.} "
done
check "trustmig holds nothing of the module's source (trustmig-dkms does)" \
	"$(grep -o ' \./usr/src/[^ ]*' <<<" $contents")" ""
check "the configuration is a conffile (dpkg -r keeps it)" \
	"$(dpkg-deb --ctrl-tarfile "$tools" | tar -xOf - ./conffiles 2>/dev/null)" \
	/etc/trustmig/trustmig.conf
has "trustmig-dkms depends on dkms and kernel headers" \
	"$(dpkg-deb -f "$dkms_deb" Depends)" "dkms.*linux-headers-amd64 \| linux-headers"
dpkg-deb -x "$dkms_deb" "$work/root"
src=$work/root/usr/src/trustmig-$version
check "dkms.conf names this release" \
	"$(sed -n 's/^PACKAGE_VERSION=//p' "$src/dkms.conf")" "\"$version\""

# DKMS in trees of its own: its add and build touch only $work (its
# install would run depmod on this host).
# The signing key is generated there, as DKMS does on a host's first
# build (/var/lib/dkms/mok.*, which the operator enrols with mokutil).
export mok_signing_key=$work/mok.key mok_certificate=$work/mok.pub
dk() {
	dkms "$@" -m trustmig -v "$version" --sourcetree "$work/root/usr/src" \
		--dkmstree "$work/dkms"
}
mkdir -p "$work/dkms"
if dk add >"$work/add.log" 2>&1; then
	ok "dkms add"
else
	fail "dkms add: $(tail -n 3 "$work/add.log" | tr '\n' ' ')"
fi
start=$(date +%s)
if dk build -k "$KVER" >"$work/build.log" 2>&1; then
	ok "dkms build for $KVER"
else
	fail "dkms build for $KVER: $(tail -n 5 "$work/build.log" | tr '\n' ' ')"
fi
echo "dkms build took $(($(date +%s) - start)) s" | diag
ko=$work/dkms/trustmig/$version/$KVER/$(uname -m)/module/trustmig.ko
check "the module is for $KVER" "$(modinfo -F vermagic "$ko" 2>&1 | cut -d' ' -f1)" "$KVER"
check "the module is release $version" "$(modinfo -F version "$ko" 2>&1)" "$version"
check "DKMS signed it with its MOK" "$(modinfo -F signer "$ko" 2>&1)" \
	"$(openssl x509 -inform DER -in "$mok_certificate" -noout -subject -nameopt multiline 2>&1 |
		sed -n 's/^ *commonName *= //p')"

# A kernel without KVM: the headers at KVER with CONFIG_KVM unset.
nokvm=$work/headers-nokvm
cp -as "$(readlink -f "/lib/modules/$KVER/build")" "$nokvm"
for f in .config include/config/auto.conf; do
	rm "$nokvm/$f"
	grep -v '^CONFIG_KVM=' "$(readlink -f "/lib/modules/$KVER/build")/$f" >"$nokvm/$f"
done
rm -rf "$work/dkms/trustmig/$version/$KVER"
dk build -k "$KVER" --kernelsourcedir "$nokvm" >"$work/nokvm.log" 2>&1
rc=$?
check "dkms skips a kernel without KVM (status 77)" "$rc" 77
has "and says its BUILD_EXCLUSIVE does not match" "$(cat "$work/nokvm.log")" \
	"BUILD_EXCLUSIVE directive which does not match this kernel"
out_nokvm=$(make -C "$nokvm" M="$src" modules 2>&1)
has "make says the kernel lacks KVM" "$out_nokvm" \
	"trustmig: kernel $KVER is built without KVM \(CONFIG_KVM\), which trustmig.ko hooks"

# A kernel without headers (KDIR from its default: make check exports
# the harness kernel's).
dk build -k 0.0.0-noheaders >"$work/nohdr.log" 2>&1
has "dkms refuses a kernel without headers" "$(cat "$work/nohdr.log")" \
	"Your kernel headers for kernel 0.0.0-noheaders cannot be found"
has "make says which headers to install" \
	"$(env -u KDIR make -C "$repo" --no-print-directory module KVER=0.0.0-noheaders 2>&1)" \
	"trustmig: no headers for kernel 0.0.0-noheaders in /lib/modules/0.0.0-noheaders/build: apt-get install linux-headers-0.0.0-noheaders"

! grep -q '^not ok' "$tap"
