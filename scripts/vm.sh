#!/bin/bash
# vm.sh: boot Debian's kernel under QEMU (TCG) with the host's root
# filesystem as the guest's userland, run one script in it, and exit with
# that script's exit code. See usage() for the options.
#
# The guest sees the host root read-only over 9p and DIR writable at
# /run/trustmig-results; the script's output lands in DIR/guest.log, the
# serial console in DIR/console.log, its exit code in DIR/exitcode.
# Host variables named TRUSTMIG_* are forwarded to the script.
set -euo pipefail

prog=vm
die() { echo "$prog: $*" >&2; exit 2; }

usage() {
	cat <<EOF
usage: $0 --run SCRIPT --out DIR [options]
  --run SCRIPT     absolute path (in the host root) of the script to run
  --out DIR        results directory, shared writable with the guest
  --arg X          one argument for SCRIPT (no whitespace)
  --mem MiB        guest memory (default $MEM)
  --smp N          guest CPUs (default $SMP; the host has few cores), each on
                   a host thread of its own (thread=multi)
  --timeout SEC    kill the guest after SEC seconds (default $TIMEOUT)
  --tpm STATEDIR   give the guest a TPM 2.0 (swtpm keeping its state in STATEDIR)
  --net listen:PORT|connect:PORT
                   virtio-net NIC joined to another guest over 127.0.0.1:PORT
  --mac MAC        MAC address of that NIC (default depends on listen/connect)
  --append STR     extra kernel command line
  --plugin SO[,ARG=VAL...]
                   load a TCG plugin (e.g. build/bench/tmcount.so,out=FILE);
                   the vCPUs then run on one host thread (thread=single)
  --icount SHIFT   guest time advances 2^SHIFT ns per instruction (-icount)
Environment: VERBOSE=1 shows the console live (default: when stdout is a tty),
KVER, BUILD, QEMU (default qemu-system-x86_64).
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
KVER=${KVER:-$("$here/kver.sh")}
BUILD=${BUILD:-$repo/build}
QEMU=${QEMU:-qemu-system-x86_64}

RUN='' OUT='' ARG='' HAS_ARG='' TPM='' NET='' MAC='' APPEND=''
MEM=1024 SMP=1 TIMEOUT=600
PLUGIN='' ICOUNT=''

# Options take their value as the next word or after '='. Adding an
# option means one case below plus, if it needs host-side setup, one
# setup_* function called before boot.
while [ $# -gt 0 ]; do
	opt=$1
	case $opt in
	--*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
	-h | --help) usage; exit 0 ;;
	--*) [ $# -ge 2 ] || die "$opt needs a value (see --help)" ;;
	*) die "unexpected argument '$opt' (see --help)" ;;
	esac
	val=$2
	case $opt in
	--run) RUN=$val ;;
	--out) OUT=$val ;;
	--arg) ARG=$val; HAS_ARG=1 ;;
	--mem) MEM=$val ;;
	--smp) SMP=$val ;;
	--timeout) TIMEOUT=$val ;;
	--tpm) TPM=$val ;;
	--net) NET=$val ;;
	--mac) MAC=$val ;;
	--append) APPEND=$val ;;
	--plugin) PLUGIN=$val ;;
	--icount) ICOUNT=$val ;;
	*) die "unknown option $opt (see --help)" ;;
	esac
	shift 2
done

[ -n "$RUN" ] || die "--run SCRIPT is required"
[ -n "$OUT" ] || die "--out DIR is required"
# The guest reads tmvm.run/arg as whitespace-separated words of the
# kernel command line; quotes would reach it literally.
case $RUN in /*) ;; *) die "--run needs an absolute path: $RUN" ;; esac
[ -x "$RUN" ] || die "--run $RUN: not an executable file"
# The guest mounts fresh filesystems over these, hiding the host's files;
# only this checkout is shared again at its own path (see REPO below).
REPO=$(cd "$(dirname "$0")/.." && pwd)
case $RUN in
"$REPO"/*) ;;
/tmp/* | /run/* | /proc/* | /sys/* | /dev/*)
	die "--run $RUN: the guest has its own /tmp, /run, /proc, /sys, /dev; put the script elsewhere (e.g. /var/tmp)" ;;
esac
case $REPO in *[[:space:]\"\']*) die "whitespace or quotes in '$REPO'" ;; esac
for v in "$RUN" "$ARG"; do
	case $v in *[[:space:]\"\']*) die "whitespace or quotes in '$v'" ;; esac
done
for n in "$MEM" "$SMP" "$TIMEOUT" ${ICOUNT:+"$ICOUNT"}; do
	case $n in '' | *[!0-9]*) die "not a positive number: '$n'" ;; esac
done

kernel=/boot/vmlinuz-$KVER
[ -r "$kernel" ] || die "$kernel missing (run scripts/setup-deps.sh)"
command -v "$QEMU" >/dev/null || die "$QEMU not installed"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Two VMs writing one results dir interleave their files: hold a lock on
# the directory for the whole run (children get fd 8 closed).
exec 8<"$OUT"
if ! flock -n 8; then
	echo "$prog: $OUT is in use by another vm.sh; waiting" >&2
	flock 8
fi
# Stale results from an earlier boot must never be mistaken for ours, so
# the dir is emptied; the marker keeps us from emptying a dir we did not
# make.
if [ -n "$(ls -A "$OUT")" ] && [ ! -e "$OUT/.trustmig-vm" ]; then
	die "refusing to empty $OUT: not a vm.sh results dir (no .trustmig-vm)"
fi
find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
touch "$OUT/.trustmig-vm"

QEMU_ARGS=(
	-accel tcg -cpu max -m "$MEM" -smp "$SMP"
	-nographic -no-reboot -vga none
	# No default user-mode NIC: guest traffic stays on links we create.
	-nic none
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$OUT,mount_tag=results,security_model=none"
	# A checkout under /tmp or /run (CI may clone there) would be hidden
	# by the guest's own tmpfs: the guest mounts it again at its path.
	-virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap"
)
# On exit, stop what we started and what is still ours: QEMU until it has
# been waited for, swtpm only while that pid is still a swtpm (its pid
# may be reused once it has gone away on its own).
qpid='' swtpm_pid=''
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	[ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
	if [ -n "$swtpm_pid" ] && [ "$(cat "/proc/$swtpm_pid/comm" 2>/dev/null)" = swtpm ]; then
		kill "$swtpm_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT

# (Re)build the initramfs when missing or older than its inputs. A lock,
# since two guests of a two-host test may start together.
setup_initramfs() {
	initrd=$BUILD/vm/initramfs-$KVER.cpio.gz
	mkdir -p "$BUILD/vm"
	exec 9>"$BUILD/vm/.lock"
	flock 9
	local dep
	for dep in "$here/mkinitramfs.sh" /bin/busybox "/lib/modules/$KVER/modules.dep"; do
		if [ ! -f "$initrd" ] || [ "$dep" -nt "$initrd" ]; then
			KVER=$KVER "$here/mkinitramfs.sh" "$initrd" >&2 8<&-
			break
		fi
	done
	flock -u 9
	exec 9>&-
	QEMU_ARGS+=(-kernel "$kernel" -initrd "$initrd")
}

# One swtpm per boot; it exits by itself when QEMU disconnects. The state
# dir must be absolute (a relative one with --daemon leaves the TPM in
# failure mode).
setup_tpm() {
	[ -n "$TPM" ] || return 0
	command -v swtpm >/dev/null || die "swtpm not installed"
	mkdir -p "$TPM"
	TPM=$(cd "$TPM" && pwd)
	local sock=$TPM/sock pidf=$TPM/swtpm.pid
	# sun_path holds 107 bytes plus the NUL.
	[ ${#sock} -le 107 ] || die "--tpm path too long for a unix socket: $sock"
	rm -f "$sock" "$pidf"
	swtpm socket --tpmstate "dir=$TPM" --ctrl "type=unixio,path=$sock" \
		--tpm2 --daemon --pid "file=$pidf" --log "file=$TPM/swtpm.log" 8<&-
	for _ in $(seq 50); do
		[ -S "$sock" ] && [ -s "$pidf" ] && break
		sleep 0.1
	done
	[ -S "$sock" ] || die "swtpm did not create $sock (see $TPM/swtpm.log)"
	# Should QEMU never connect, swtpm would linger: cleanup stops it.
	swtpm_pid=$(cat "$pidf")
	QEMU_ARGS+=(-chardev "socket,id=chrtpm,path=$sock"
		-tpmdev "emulator,id=tpm0,chardev=chrtpm"
		-device "tpm-tis,tpmdev=tpm0")
}

# Two guests share an L2 link over loopback: start the listening one
# first. The guest script configures addresses (192.0.2.0/24).
setup_net() {
	[ -n "$NET" ] || { [ -z "$MAC" ] || die "--mac needs --net"; return 0; }
	local mode=${NET%%:*} port=${NET#*:}
	case $port in '' | *[!0-9]*) die "--net $NET: bad port" ;; esac
	case $mode in
	listen) MAC=${MAC:-52:54:00:00:00:01} ;;
	connect) MAC=${MAC:-52:54:00:00:00:02} ;;
	*) die "--net wants listen:PORT or connect:PORT, not $NET" ;;
	esac
	QEMU_ARGS+=(-netdev "socket,id=n0,$mode=127.0.0.1:$port"
		-device "virtio-net-pci,netdev=n0,mac=$MAC")
}

# A plugin's plain counters need the vCPUs on one thread; icount
# makes guest time a function of the instructions executed.
setup_tcg() {
	# Otherwise every vCPU on a host thread of its own, stated.
	if [ -z "$PLUGIN" ] && [ -z "$ICOUNT" ]; then
		QEMU_ARGS[1]=tcg,thread=multi
		return 0
	fi
	[ -z "$PLUGIN" ] || [ -r "${PLUGIN%%,*}" ] || die "--plugin ${PLUGIN%%,*}: no such file"
	# QEMU_ARGS begins with "-accel tcg".
	QEMU_ARGS[1]=tcg,thread=single
	[ -z "$PLUGIN" ] || QEMU_ARGS+=(-plugin "$PLUGIN")
	[ -z "$ICOUNT" ] || QEMU_ARGS+=(-icount "shift=$ICOUNT")
}

setup_initramfs
setup_tpm
setup_net
setup_tcg

# Forward TRUSTMIG_* variables, single-quoted for the guest's sh.
while read -r name; do
	val=${!name}
	printf "export %s='%s'\n" "$name" "${val//\'/\'\\\'\'}"
done < <(compgen -e | grep '^TRUSTMIG_' || true) >"$OUT/guest.env"

# log_buf_len: room for a whole test run, so that a splat early on is
# still in dmesg when run-in-guest.sh scans it at the end.
# watchdog_thresh=60 (soft lockups at 120 s): under TCG a vCPU running a
# nested guest can go 20 s without a host-side reschedule on a loaded
# machine; that is emulation speed, not a lockup, and must not read as a
# kernel splat. Hard and soft lockups longer than that still do.
# Our words are tmvm.*: the kernel hands trustmig.* ones to trustmig.ko
# as module parameters at every load.
cmdline="console=ttyS0 panic=-1 quiet loglevel=4 log_buf_len=8M watchdog_thresh=60 tmvm.run=$RUN tmvm.repo=$REPO"
[ -z "$HAS_ARG" ] || cmdline+=" tmvm.arg=$ARG"
[ -z "$APPEND" ] || cmdline+=" $APPEND"
QEMU_ARGS+=(-append "$cmdline")

console=$OUT/console.log
live=${VERBOSE:-}
[ -n "$live" ] || { [ -t 1 ] && live=1; } || live=0
echo "$prog: booting $KVER: $RUN${HAS_ARG:+ $ARG} (console: $console, timeout ${TIMEOUT}s)" >&2

# The console minus the firmware's terminal escapes (reset, clear screen,
# no line wrap), so showing it leaves the terminal usable.
unescape() { sed -u 's/\x1b\[[?0-9;]*[A-Za-z]//g; s/\x1bc//g'; }

start=$SECONDS
# QEMU runs in the background so that an interrupt can stop it by pid;
# timeout's SIGKILL follow-up covers a QEMU that ignores SIGTERM.
timeout -k 10 "$TIMEOUT" "$QEMU" "${QEMU_ARGS[@]}" </dev/null >"$console" 2>&1 8<&- &
qpid=$!
trap 'echo "$prog: interrupted" >&2; exit 130' INT TERM
if [ "$live" = 1 ]; then
	tail -n +1 -f --pid="$qpid" "$console" 8<&- | unescape &
	tpid=$!
fi
qrc=0
wait "$qpid" || qrc=$?
qpid=''
[ -z "${tpid:-}" ] || wait "$tpid" || true
trap - INT TERM
elapsed=$((SECONDS - start))

if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	[ "$live" = 1 ] || tail -n 30 "$console" | unescape >&2
	echo "$prog: TIMEOUT: guest still running after ${TIMEOUT}s, killed (console: $console)" >&2
	exit 124
fi
rc=$(cat "$OUT/exitcode" 2>/dev/null) || rc=
case $rc in
'' | *[!0-9]*)
	[ "$live" = 1 ] || tail -n 30 "$console" | unescape >&2
	echo "$prog: guest wrote no exit code (qemu exit $qrc after ${elapsed}s; kernel panic or init failure? see $console)" >&2
	exit 125
	;;
esac
echo "$prog: guest exited $rc after ${elapsed}s" >&2
exit "$rc"
