#!/bin/bash
# Install every Debian package trustmig's build, tests and demo need.
# Idempotent: packages already installed are left alone.
set -euo pipefail

PKGS=(
	build-essential make gcc pkg-config cpio gzip xz-utils kmod perl git
	linux-headers-amd64 linux-image-amd64 linux-source
	sparse
	# make -C user fuzz: clang with libFuzzer and the sanitizers' runtimes
	clang libclang-rt-dev
	qemu-system-x86 busybox-static
	swtpm swtpm-tools tpm2-tools libtss2-dev libjson-c-dev
	libnl-3-dev libnl-genl-3-dev libssl-dev openssl
	iproute2 python3
	libglib2.0-dev dpkg-dev
	# the debug kernel (scripts/debug-kernel.sh)
	flex bison bc libelf-dev rsync
	# make fuzz-kernel: trinity; the fault-injection test: objdump
	trinity binutils
	# trustmigd's readiness notification; man pages and their check
	libsystemd-dev scdoc man-db groff-base
	# make deb and its checks
	debhelper dh-dkms dkms lintian
)

# QEMU's plugin API header (qemu-plugin.h) is in no binary package: the
# benchmarks' plugin is built against the one in the source package of
# the QEMU installed (scripts/qemu-plugin-h.sh extracts it).
QEMU_SRC=${QEMU_SRC:-/usr/src/trustmig-qemu}
SRC_LIST=/etc/apt/sources.list.d/trustmig-src.sources

if [ "$(id -u)" -ne 0 ]; then
	echo "setup-deps: must run as root (apt-get install)" >&2
	exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

export DEBIAN_FRONTEND=noninteractive
updated=
if [ "${#missing[@]}" -eq 0 ]; then
	echo "setup-deps: all packages present"
else
	echo "setup-deps: installing ${missing[*]}"
	apt-get update
	updated=1
	apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The QEMU source package, once per QEMU version (every Debian revision
# of one upstream version shares the .orig tarball).  apt needs deb-src
# entries for that; Debian's default sources have none.
qemu_ver=$(dpkg-query -W -f='${Version}' qemu-system-x86)
qemu_up=${qemu_ver#*:}
qemu_up=${qemu_up%-*}
if [ ! -f "$QEMU_SRC/qemu_$qemu_up.orig.tar.xz" ]; then
	if ! apt-get source --print-uris qemu >/dev/null 2>&1; then
		# shellcheck disable=SC1091
		codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
		echo "setup-deps: adding deb-src entries for $codename in $SRC_LIST"
		cat >"$SRC_LIST" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
		updated=
	fi
	[ -n "$updated" ] || apt-get update
	mkdir -p "$QEMU_SRC"
	echo "setup-deps: downloading the qemu source package into $QEMU_SRC"
	(cd "$QEMU_SRC" && apt-get source --download-only qemu)
	[ -f "$QEMU_SRC/qemu_$qemu_up.orig.tar.xz" ] ||
		{ echo "setup-deps: no qemu_$qemu_up.orig.tar.xz in $QEMU_SRC (QEMU $qemu_ver installed)" >&2; exit 1; }
fi
