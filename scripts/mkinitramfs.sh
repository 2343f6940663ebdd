#!/bin/bash
# mkinitramfs.sh OUT: build the test VM's initramfs (gzip'd newc cpio).
# It holds only busybox, the virtio/9p modules and an /init that mounts
# the host's root filesystem read-only over 9p, chroots into it and runs
# the script named by tmvm.run= on the kernel command line. The
# host's own binaries, libraries and /lib/modules then serve as the
# guest's userland (as virtme does), so nothing else needs packaging.
set -euo pipefail

die() { echo "mkinitramfs: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUT"
out=$1
here=$(cd "$(dirname "$0")" && pwd)
KVER=${KVER:-$("$here/kver.sh")}
moddir=/lib/modules/$KVER
BUSYBOX=${BUSYBOX:-/bin/busybox}

[ -d "$moddir" ] || die "$moddir missing (run scripts/setup-deps.sh)"
# A dynamically linked busybox would need the host's libc inside the
# initramfs; insist on busybox-static's binary.
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (install busybox-static)"
if readelf -l "$BUSYBOX" | grep -q 'INTERP'; then
	die "$BUSYBOX is dynamically linked (install busybox-static)"
fi

# What /init loads, in this order, to reach the host root. Module
# dependencies are resolved with modprobe below, so the list only has to
# be complete enough to name the leaves (9p brings netfs and fscache
# where it needs them: the debug kernel has no fscache).
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	9pnet 9pnet_virtio 9p)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,host,etc,"lib/modules/$KVER"}

cp "$BUSYBOX" "$root/bin/busybox"
# Applet links at build time, so /init and the helper scripts can rely on
# absolute paths from their first line on.
for applet in $("$BUSYBOX" --list-full); do
	[ -e "$root/$applet" ] && continue
	mkdir -p "$root/$(dirname "$applet")"
	ln -s /bin/busybox "$root/$applet"
done

# Resolve each listed module (and anything it depends on) to a file, in
# load order, skipping duplicates and modules built into the kernel.
# Busybox insmod cannot read compressed modules: decompress here.
order=()
declare -A seen=()
for m in "${MODULES[@]}"; do
	deps=$(modprobe -S "$KVER" --show-depends "$m" 2>&1) ||
		die "module $m: not found for $KVER: $deps"
	while read -r kind path _; do
		case $kind in
		builtin) continue ;;
		insmod) ;;
		*) die "module $m: unexpected modprobe output: $kind $path" ;;
		esac
		name=$(basename "$path")
		name=${name%%.ko*}
		[ -z "${seen[$name]:-}" ] || continue
		seen[$name]=1
		dst=$root/lib/modules/$KVER/$name.ko
		case $path in
		*.ko) cp "$path" "$dst" ;;
		*.ko.xz) xz -dc "$path" >"$dst" ;;
		*.ko.zst) zstd -qdc "$path" >"$dst" ;;
		*.ko.gz) gzip -dc "$path" >"$dst" ;;
		*) die "module $m: unknown module file type: $path" ;;
		esac
		order+=("$name")
	done <<<"$deps"
done
printf '%s\n' "${order[@]}" >"$root/etc/modules"

# Called by the kernel (request_module, e.g. for "gcm(aes)") with the
# initramfs as its root, where no useful modules live: run the host's
# modprobe inside the host root instead.  A test that installs modules
# into a staging root (modprobe_test) has the kernel's requests resolved
# there.
cat >"$root/sbin/host-modprobe" <<'EOF'
#!/bin/sh
staged=/run/trustmig-modroot
if [ -d "/host$staged/lib/modules" ]; then
	exec /usr/sbin/chroot /host /sbin/modprobe -d "$staged" "$@"
fi
exec /usr/sbin/chroot /host /sbin/modprobe "$@"
EOF
chmod 755 "$root/sbin/host-modprobe"

cat >"$root/init" <<'EOF'
#!/bin/sh
# trustmig test VM init: mount the host root, chroot, run tmvm.run=,
# record its exit code in the results share, power off. Every failure
# prints a trustmig-init: line and powers off, so a broken boot costs
# seconds, not the harness timeout.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

say() { echo "trustmig-init: $*"; }
die() {
	say "FATAL: $*"
	sync
	poweroff -f
	sleep 5
	exit 1	# init exiting panics, and panic=-1 ends QEMU too
}
must() { "$@" || die "failed: $*"; }

must mount -t proc proc /proc
must mount -t sysfs sysfs /sys
must mount -t devtmpfs devtmpfs /dev

kver=$(uname -r)
while read -r m; do
	if [ -d "/sys/module/$m" ]; then
		continue	# built in, or pulled in already
	fi
	insmod "/lib/modules/$kver/$m.ko" || die "insmod $m failed"
done </etc/modules

# trustmig.* parameters have a dot, so the kernel keeps them out of our
# argv and environment: read them from /proc/cmdline. Values cannot hold
# spaces (vm.sh refuses them). set -f: no globbing of the words.
run='' arg='' has_arg='' repo=''
set -f
# shellcheck disable=SC2013  # words are what we want
for w in $(cat /proc/cmdline); do
	case $w in
	tmvm.run=*) run=${w#tmvm.run=} ;;
	tmvm.arg=*) arg=${w#tmvm.arg=}; has_arg=1 ;;
	tmvm.repo=*) repo=${w#tmvm.repo=} ;;
	esac
done
set +f
[ -n "$run" ] || die "no tmvm.run= on the kernel command line"

must mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /host
must mount -t proc proc /host/proc
must mount -t sysfs sysfs /host/sys
must mount -t devtmpfs devtmpfs /host/dev
must mount -t tmpfs -o mode=1777 tmpfs /host/tmp
must mount -t tmpfs -o mode=755 tmpfs /host/run
must mount -t debugfs debugfs /host/sys/kernel/debug
# devtmpfs lacks the links udev would add; bash's <(...) needs /dev/fd.
ln -sf /proc/self/fd /host/dev/fd
ln -sf /proc/self/fd/0 /host/dev/stdin
ln -sf /proc/self/fd/1 /host/dev/stdout
ln -sf /proc/self/fd/2 /host/dev/stderr
# Nice to have for programs that want a pty or POSIX shm; not fatal.
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts || say "warning: no devpts"
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm || say "warning: no /dev/shm"
# The checkout, if the tmpfs mounts above hid it (a clone under /tmp).
case $repo in
/tmp/* | /run/*)
	must mkdir -p "/host$repo"
	must mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 repo "/host$repo"
	;;
esac
res=/host/run/trustmig-results
must mkdir -p "$res"
must mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results "$res"
echo /sbin/host-modprobe >/proc/sys/kernel/modprobe || say "warning: cannot set kernel.modprobe"

[ -x "/host$run" ] || die "tmvm.run=$run: not an executable in the host root"

# vm.sh forwards the host's TRUSTMIG_* variables in this file.
if [ -f "$res/guest.env" ]; then
	# shellcheck disable=SC1091  # written by vm.sh at boot
	. "$res/guest.env" || die "cannot read guest.env"
fi

set -- "$run"
[ -z "$has_arg" ] || set -- "$run" "$arg"
uptime() { cut -d' ' -f1 /proc/uptime; }
say "running $* (uptime $(uptime)s)"
cd /host || die "cd /host"
# Output to the console and guest.log through a fifo rather than a pipe,
# so that a daemon the script leaves behind holding its stdout cannot keep
# us waiting for an EOF: once the script has exited, tee gets a few
# seconds to drain, then it is stopped.
must mkfifo /tmp/out
tee "$res/guest.log" </tmp/out &
teepid=$!
HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	chroot /host "$@" </dev/null >/tmp/out 2>&1
rc=$?
for _ in 1 2 3; do
	kill -0 "$teepid" 2>/dev/null || break
	sleep 1
done
kill "$teepid" 2>/dev/null
say "$run exited $rc (uptime $(uptime)s)"
echo "$rc" >"$res/exitcode" || die "cannot write $res/exitcode"
sync
umount "$res" 2>/dev/null
poweroff -f
EOF
chmod 755 "$root/init"

mkdir -p "$(dirname "$out")"
# Stable order and no owner/timestamp noise; write to a temp name so a
# reader never sees a half-written image.
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0) | gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: $out (${#order[@]} modules: ${order[*]})"
