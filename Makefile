# SPDX-License-Identifier: GPL-2.0
#
# trustmig top-level build.
#
#   make              module, userspace tools, reference VMM, selftests
#   make check        style + sparse + userspace tests + selftests in QEMU
#   make demo         the README's main job
#   make style        checkpatch --no-tree --strict on every C file
#   make sparse       sparse over the module (C=2, all files)
#   make proof        Tamarin proofs of docs/proof (needs tamarin-prover)
#   make check-proof  the proofs' lint: model, script and README agree
#
# KVER/KDIR default to the kernel Debian's linux-image-amd64 pulls in.

KVER ?= $(shell scripts/kver.sh)
KDIR ?= /usr/src/linux-headers-$(KVER)
export KVER KDIR

BUILD := $(CURDIR)/build
KSRC := $(BUILD)/ksrc
export BUILD KSRC

C_FILES = $(shell git ls-files --cached --others --exclude-standard \
		'*.c' '*.h' 2>/dev/null || find kmod user uapi selftests -name '*.[ch]')

.PHONY: all module user vmm selftests ksrc style sparse check check-user \
	check-guest check-proof proof demo clean

all: module user vmm selftests

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

ksrc: $(KSRC)/.stamp

$(KSRC)/.stamp: scripts/ksrc.sh
	scripts/ksrc.sh $(KSRC)

user:
	$(MAKE) -C user

# trustmig-vm, the reference VMM (user/vmm, its own Makefile).
vmm:
	$(MAKE) -C user/vmm

selftests: ksrc
	$(MAKE) -C selftests

style: ksrc
	@scripts/style.sh $(C_FILES)

sparse:
	@scripts/sparse.sh

check-user: user
	$(MAKE) -C user check

check-guest: all
	scripts/check.sh

check-proof:
	@mkdir -p $(BUILD)/results
	scripts/proof.sh --lint $(BUILD)/results/proof.tap

proof:
	scripts/proof.sh

check: style sparse
	@scripts/check-all.sh

demo: all
	scripts/demo.sh

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C user clean
	$(MAKE) -C user/vmm clean
	$(MAKE) -C selftests clean
	rm -rf $(BUILD)
