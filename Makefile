# SPDX-License-Identifier: GPL-2.0
#
# trustmig top-level build.
#
#   make              module, userspace tools, reference VMM, selftests
#   make check        style + sparse + userspace tests + selftests in QEMU
#   make check-debug  the guest selftests on the debug kernel (KASAN,
#                     lockdep, kmemleak, ...; scripts/debug-kernel.sh)
#   make check-fuzz   the handshake's and trustmig-vm's frame decoders under
#                     libFuzzer with ASan and UBSan (FUZZ_SECONDS=N each)
#   make fuzz-kernel  fuzz_test (SECONDS=N, default 3600; SEED=S replays)
#                     then trinity on the debug kernel
#   make demo         the README's main job: a live migration between
#                     two attested hosts (scripts/twohost.sh)
#   make style        checkpatch --no-tree --strict on every C file
#   make sparse       sparse over the module (C=2, all files)
#   make install      module (/lib/modules/KVER/updates), tools, uapi
#                     header, /etc/trustmig/trustmig.conf if absent;
#                     DESTDIR, PREFIX (default /usr/local), SYSCONFDIR
#                     (with man pages, bash completion, systemd unit)
#   make uninstall    removes exactly that (a changed config stays)
#   make deb          trustmig_VERSION_amd64.deb (tools) and
#                     trustmig-dkms_VERSION_all.deb (module source, DKMS)
#                     in build/deb, checked by lintian
#   make bench        benchmarks in instruction counts (docs/benchmarks.md)
#   make proof        Tamarin proofs of docs/proof (needs tamarin-prover)
#   make check-proof  the proofs' lint: model, script and README agree
#
# KVER/KDIR: the module is built for the running kernel, the one modprobe
# loads it into.  The QEMU harness's targets build it for the kernel
# their guests boot, the one Debian's linux-image-amd64 pulls in.

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
export KVER KDIR

HARNESS_TARGETS := check sparse check-guest check-debug check-twohost \
	check-install check-deb fuzz-kernel demo bench
$(HARNESS_TARGETS): KVER = $(shell scripts/kver.sh)

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
export DESTDIR PREFIX SYSCONFDIR

BUILD := $(CURDIR)/build
KSRC := $(BUILD)/ksrc
export BUILD KSRC

C_FILES = $(shell git ls-files --cached --others --exclude-standard \
		'*.c' '*.h' 2>/dev/null || find kmod user uapi selftests -name '*.[ch]')

.PHONY: all module user vmm selftests ksrc plugin style sparse check \
	check-user check-fuzz check-guest check-debug check-twohost check-proof proof \
	fuzz-kernel check-install check-deb check-man check-systemd install install-tools install-dkms \
	uninstall deb man \
	demo bench clean

all: module user vmm man selftests plugin

module:
	@test -e $(KDIR)/Makefile || { echo "trustmig: no headers for kernel $(KVER) in $(KDIR): apt-get install linux-headers-$(KVER), or make KVER=... for another kernel" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# Man pages from docs/man/*.scd, in $(BUILD)/man.
man:
	scripts/man.sh build $(BUILD)/man

ksrc: $(KSRC)/.stamp

$(KSRC)/.stamp: scripts/ksrc.sh
	scripts/ksrc.sh $(KSRC)

user:
	$(MAKE) -C user

# trustmig-vm, the reference VMM (user/vmm, its own Makefile).
vmm:
	$(MAKE) -C user/vmm

# The kselftests, laid out for run_kselftest.sh in $(BUILD)/kselftest
# (the QEMU harness runs them from there), and their test-only modules.
selftests: ksrc
	$(MAKE) -C selftests kselftest-install INSTALL_PATH=$(BUILD)/kselftest
	$(MAKE) -C selftests modules

# tmcount, the instruction-counting QEMU plugin; make check-guest loads it.
plugin:
	$(MAKE) -C bench plugin

style: ksrc
	@scripts/style.sh $(C_FILES)

sparse:
	@scripts/sparse.sh

check-user: user vmm
	$(MAKE) -C user check

# The frame decoders under libFuzzer, ASan and UBSan (user/tests/fuzz.sh):
# FUZZ_SECONDS per target, default 20; TAP in $(BUILD)/results/fuzz.tap.
check-fuzz:
	$(MAKE) -C user fuzz

# The stock kernel's suite runs on the installed packages.
check-guest: all deb
	scripts/check.sh

# The same selftests on the debug kernel, trustmig.ko built against it.
check-debug: all
	scripts/check-debug.sh

fuzz-kernel: all
	SECONDS_TO_FUZZ=$(or $(SECONDS),3600) scripts/fuzz-kernel.sh

# Two attested hosts (QEMU guests with their own swtpm) migrating a VM.
check-twohost: all deb
	scripts/twohost.sh suite

# make install and uninstall into a staging root, checked file by file.
check-install: module user vmm man
	@mkdir -p $(BUILD)/results
	scripts/install-test.sh $(BUILD)/results/install.tap

check-proof:
	@mkdir -p $(BUILD)/results
	scripts/proof.sh --lint $(BUILD)/results/proof.tap

proof:
	scripts/proof.sh

check: style sparse
	@scripts/check-all.sh

install: module user vmm man
	scripts/install.sh install

# The halves of make install that the Debian packages hold.
install-tools: user vmm man
	scripts/install.sh install-tools

install-dkms:
	scripts/install.sh install-dkms

deb:
	scripts/deb.sh $(BUILD)/deb

# The man pages render cleanly and name every option; the completion too.
check-man: user vmm man
	@mkdir -p $(BUILD)/results
	scripts/man.sh check $(BUILD)/man $(BUILD)/user $(BUILD)/results/man.tap

# trustmigd.service: systemd-analyze verify and its security exposure.
check-systemd: user man
	@mkdir -p $(BUILD)/results
	scripts/systemd-check.sh $(BUILD)/results/systemd.tap

# The packages built, linted, and DKMS's build of the module checked.
check-deb:
	@mkdir -p $(BUILD)/results
	scripts/deb-test.sh $(BUILD)/results/deb.tap

uninstall:
	scripts/install.sh uninstall

demo: all deb
	scripts/twohost.sh demo

bench: all
	$(MAKE) -C bench
	bench/run.sh

clean:
	if test -e $(KDIR)/Makefile; then $(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	$(MAKE) -C user clean
	$(MAKE) -C user/vmm clean
	$(MAKE) -C bench clean
	rm -rf $(BUILD)
