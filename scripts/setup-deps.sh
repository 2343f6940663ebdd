#!/bin/bash
# Install every Debian package trustmig's build, tests and demo need.
# Idempotent: packages already installed are left alone.
set -euo pipefail

PKGS=(
	build-essential make gcc pkg-config cpio gzip xz-utils kmod perl git
	linux-headers-amd64 linux-image-amd64 linux-source
	sparse
	qemu-system-x86 busybox-static
	swtpm swtpm-tools tpm2-tools libtss2-dev libjson-c-dev
	libnl-3-dev libnl-genl-3-dev libssl-dev openssl
	iproute2 python3
)

if [ "$(id -u)" -ne 0 ]; then
	echo "setup-deps: must run as root (apt-get install)" >&2
	exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "setup-deps: all packages present"
	exit 0
fi

echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
