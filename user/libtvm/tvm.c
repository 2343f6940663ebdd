// SPDX-License-Identifier: GPL-2.0
/*
 * tvm - a tiny KVM guest for trustmig's selftests and reference VMM.
 *
 * x86 only (the guest is 32-bit x86 code).  Uses only KVM APIs present in
 * Linux 6.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tvm.h"

/* Where KVM may put the real-mode TSS (three pages; as QEMU does). */
#define TVM_TSS_ADDR		0xfffbd000UL
/* Keep guest memory well below the TSS and identity map. */
#define TVM_MAX_MEM		(2UL << 30)

#define TVM_RFLAGS_FIXED	0x2UL
#define TVM_CR0_PE		0x1UL

#define TVM_SEL_CODE		0x08
#define TVM_SEL_DATA		0x10

/* Segment types (S=1): execute/read accessed, read/write accessed. */
#define TVM_SEG_TYPE_CODE	0xb
#define TVM_SEG_TYPE_DATA	0x3

/* Exit reasons known to Linux 6.1, for messages. */
#define TVM_NR_EXITS		(KVM_EXIT_NOTIFY + 1)

static const char * const tvm_exit_names[TVM_NR_EXITS] = {
	[KVM_EXIT_UNKNOWN] = "UNKNOWN",
	[KVM_EXIT_EXCEPTION] = "EXCEPTION",
	[KVM_EXIT_IO] = "IO",
	[KVM_EXIT_HYPERCALL] = "HYPERCALL",
	[KVM_EXIT_DEBUG] = "DEBUG",
	[KVM_EXIT_HLT] = "HLT",
	[KVM_EXIT_MMIO] = "MMIO",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	[KVM_EXIT_INTR] = "INTR",
	[KVM_EXIT_SET_TPR] = "SET_TPR",
	[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	[KVM_EXIT_NMI] = "NMI",
	[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	[KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
	[KVM_EXIT_HYPERV] = "HYPERV",
	[KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
	[KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
	[KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
	[KVM_EXIT_AP_RESET_HOLD] = "AP_RESET_HOLD",
	[KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
	[KVM_EXIT_XEN] = "XEN",
	[KVM_EXIT_NOTIFY] = "NOTIFY",
};

static const char *tvm_exit_name(__u32 reason)
{
	if (reason < TVM_NR_EXITS && tvm_exit_names[reason])
		return tvm_exit_names[reason];
	return "?";
}

size_t tvm_bitmap_bytes(__u64 npages)
{
	/* KVM copies the bitmap in whole 64-bit words. */
	return ((npages + 63) / 64) * 8;
}

__u64 tvm_bitmap_count(const unsigned long *bitmap, __u64 nbits)
{
	const unsigned int bits = 8 * sizeof(unsigned long);
	__u64 i, count = 0;

	for (i = 0; i < nbits / bits; i++)
		count += __builtin_popcountl(bitmap[i]);
	if (nbits % bits)
		count += __builtin_popcountl(bitmap[i] &
					     ((1UL << (nbits % bits)) - 1));
	return count;
}

static void tvm_flat_seg(struct kvm_segment *seg, __u16 selector,
			 __u8 type)
{
	memset(seg, 0, sizeof(*seg));
	seg->base = 0;
	seg->limit = 0xffffffff;
	seg->selector = selector;
	seg->type = type;
	seg->present = 1;
	seg->dpl = 0;
	seg->db = 1;		/* 32-bit */
	seg->s = 1;		/* code/data, not system */
	seg->l = 0;
	seg->g = 1;		/* limit in pages: 4 GiB */
}

/*
 * 32-bit flat protected mode without paging.  The reset state's TR, LDTR,
 * GDTR and IDTR are kept: nothing in the guest loads a selector or takes an
 * interrupt, and VMX/SVM entry accepts them as they are.
 */
static int tvm_setup_sregs(struct tvm *vm)
{
	struct kvm_sregs sregs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;

	tvm_flat_seg(&sregs.cs, TVM_SEL_CODE, TVM_SEG_TYPE_CODE);
	tvm_flat_seg(&sregs.ds, TVM_SEL_DATA, TVM_SEG_TYPE_DATA);
	sregs.es = sregs.ds;
	sregs.ss = sregs.ds;
	sregs.fs = sregs.ds;
	sregs.gs = sregs.ds;

	sregs.cr0 = TVM_CR0_PE;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;

	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	return 0;
}

static int tvm_create_vcpu(struct tvm *vm)
{
	int size, ret;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0UL);
	if (vm->vcpu_fd < 0) {
		ret = -errno;
		goto err;
	}

	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0) {
		ret = -errno;
		goto err_vcpu;
	}
	if ((size_t)size < sizeof(struct kvm_run)) {
		ret = -EINVAL;
		goto err_vcpu;
	}

	vm->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		ret = -errno;
		goto err_vcpu;
	}
	vm->run_size = size;

	ret = tvm_setup_sregs(vm);
	if (ret)
		goto err_run;
	return 0;

err_run:
	munmap(vm->run, vm->run_size);
	vm->run = NULL;
	vm->run_size = 0;
err_vcpu:
	close(vm->vcpu_fd);
err:
	vm->vcpu_fd = -1;
	return ret;
}

int tvm_create(struct tvm *vm, size_t mem_size, bool with_vcpu)
{
	if (!with_vcpu)
		return tvm_create_guest(vm, mem_size, NULL, 0, false);
	return tvm_create_guest(vm, mem_size, tvm_guest_start,
				tvm_guest_end - tvm_guest_start, true);
}

int tvm_create_guest(struct tvm *vm, size_t mem_size, const void *code,
		     size_t code_size, bool with_vcpu)
{
	struct kvm_userspace_memory_region region;
	struct kvm_enable_cap cap;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	vm->vcpu_fd = -1;

	if (mem_size % TVM_PAGE_SIZE || mem_size < 2 * TVM_PAGE_SIZE ||
	    mem_size > TVM_MAX_MEM)
		return -EINVAL;
	if (TVM_GUEST_GPA + code_size > TVM_PAGE_SIZE)
		return -E2BIG;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = -errno;
		goto err;
	}

	ret = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		ret = ret < 0 ? -errno : -EPROTO;
		goto err_kvm;
	}

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0UL);
	if (vm->vm_fd < 0) {
		ret = -errno;
		goto err_kvm;
	}

	/*
	 * Manual protect without INITIALLY_SET: turning on dirty logging
	 * write-protects the whole slot, KVM_GET_DIRTY_LOG only reads the
	 * bitmap and KVM_CLEAR_DIRTY_LOG re-protects what it clears.
	 * Must be enabled before the memslot is created.
	 */
	ret = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION,
		    KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (ret < 0) {
		ret = -errno;
		goto err_vm;
	}
	if (!(ret & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
		ret = -EOPNOTSUPP;
		goto err_vm;
	}
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
	cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		ret = -errno;
		goto err_vm;
	}

	/*
	 * VMX without unrestricted guest needs a TSS (and uses the default
	 * identity map at 0xfffbc000) to run a guest without paging; on SVM
	 * this is a no-op.  Both lie outside our memslot.
	 */
	if (with_vcpu && ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, TVM_TSS_ADDR) < 0) {
		ret = -errno;
		goto err_vm;
	}

	vm->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		ret = -errno;
		vm->mem = NULL;
		goto err_vm;
	}
	vm->mem_size = mem_size;
	vm->npages = mem_size / TVM_PAGE_SIZE;
	vm->slot = 0;

	if (code)
		memcpy(vm->mem + TVM_GUEST_GPA, code, code_size);

	memset(&region, 0, sizeof(region));
	region.slot = vm->slot;
	region.flags = KVM_MEM_LOG_DIRTY_PAGES;
	region.guest_phys_addr = 0;
	region.memory_size = mem_size;
	region.userspace_addr = (unsigned long)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		ret = -errno;
		goto err_mem;
	}

	if (with_vcpu) {
		ret = tvm_create_vcpu(vm);
		if (ret)
			goto err_mem;
	}
	return 0;

err_mem:
	munmap(vm->mem, vm->mem_size);
	vm->mem = NULL;
	vm->mem_size = 0;
	vm->npages = 0;
err_vm:
	close(vm->vm_fd);
	vm->vm_fd = -1;
err_kvm:
	close(vm->kvm_fd);
	vm->kvm_fd = -1;
err:
	return ret;
}

void *tvm_add_slot(struct tvm *vm, __u32 slot, __u64 gpa, size_t size,
		   struct kvm_userspace_memory_region *region)
{
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int err;

	if (mem == MAP_FAILED)
		return NULL;
	*region = (struct kvm_userspace_memory_region) {
		.slot = slot,
		.flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (unsigned long)mem,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, region)) {
		err = errno;
		munmap(mem, size);
		errno = err;
		return NULL;
	}
	return mem;
}

void tvm_destroy(struct tvm *vm)
{
	if (vm->run) {
		munmap(vm->run, vm->run_size);
		vm->run = NULL;
		vm->run_size = 0;
	}
	if (vm->vcpu_fd >= 0) {
		close(vm->vcpu_fd);
		vm->vcpu_fd = -1;
	}
	if (vm->vm_fd >= 0) {
		close(vm->vm_fd);
		vm->vm_fd = -1;
	}
	if (vm->mem) {
		munmap(vm->mem, vm->mem_size);
		vm->mem = NULL;
		vm->mem_size = 0;
		vm->npages = 0;
	}
	if (vm->kvm_fd >= 0) {
		close(vm->kvm_fd);
		vm->kvm_fd = -1;
	}
}

void tvm_report_exit(struct tvm *vm, const char *what)
{
	struct kvm_run *run = vm->run;
	struct kvm_regs regs;

	fprintf(stderr, "tvm: %s: exit reason %u (KVM_EXIT_%s)",
		what, run->exit_reason, tvm_exit_name(run->exit_reason));

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		fprintf(stderr, ": %s port 0x%x size %u count %u",
			run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			run->io.port, run->io.size, run->io.count);
		break;
	case KVM_EXIT_MMIO:
		fprintf(stderr, ": %s gpa 0x%llx len %u",
			run->mmio.is_write ? "write" : "read",
			(unsigned long long)run->mmio.phys_addr,
			run->mmio.len);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		fprintf(stderr, ": hardware entry failure reason 0x%llx",
			(unsigned long long)
			run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		fprintf(stderr, ": suberror %u", run->internal.suberror);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		fprintf(stderr, ": type %u", run->system_event.type);
		break;
	default:
		break;
	}

	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) == 0)
		fprintf(stderr, " (rip 0x%llx)", (unsigned long long)regs.rip);
	fputc('\n', stderr);
}

/*
 * An OUT is only complete once KVM_RUN is entered again; do that with
 * immediate_exit so the vCPU's state is consistent (RIP past the OUT) when
 * tvm_run_pass() returns, without running any further guest code.
 */
int tvm_complete_io(struct tvm *vm)
{
	int ret;

	vm->run->immediate_exit = 1;
	ret = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	vm->run->immediate_exit = 0;
	if (ret == 0) {
		tvm_report_exit(vm, "completing the OUT");
		return -EIO;
	}
	if (errno != EINTR) {
		ret = -errno;
		perror("tvm: KVM_RUN (immediate_exit)");
		return ret;
	}
	return 0;
}

int tvm_run_pass(struct tvm *vm, __u32 first_page, __u32 npages,
		 __u32 stride)
{
	struct kvm_run *run = vm->run;
	struct kvm_regs regs;
	__u64 written;
	__u32 end, got;
	int ret;

	if (!run || !stride || !first_page ||
	    (__u64)first_page + npages > vm->npages)
		return -EINVAL;

	vm->generation++;
	written = npages ? (npages - 1) / stride + 1 : 0;
	end = (__u32)(first_page + written * stride);

	memset(&regs, 0, sizeof(regs));
	regs.rip = TVM_GUEST_GPA;
	regs.rflags = TVM_RFLAGS_FIXED;
	regs.rbx = first_page;
	regs.rcx = npages;
	regs.rsi = stride;
	regs.rdi = vm->generation;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;

	for (;;) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;	/* a signal; keep going */
			ret = -errno;
			perror("tvm: KVM_RUN");
			return ret;
		}

		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.port == TVM_PORT_DONE &&
		    run->io.direction == KVM_EXIT_IO_OUT &&
		    run->io.size == 4 && run->io.count == 1)
			break;

		tvm_report_exit(vm, "unexpected exit during a pass");
		return -EIO;
	}

	memcpy(&got, (__u8 *)run + run->io.data_offset, sizeof(got));
	if (got != end) {
		fprintf(stderr,
			"tvm: guest ended the pass at page %u, expected %u\n",
			got, end);
		return -EIO;
	}

	return tvm_complete_io(vm);
}

int tvm_harvest(struct tvm *vm, unsigned long *bitmap)
{
	struct kvm_clear_dirty_log clear;
	struct kvm_dirty_log log;

	memset(&log, 0, sizeof(log));
	log.slot = vm->slot;
	log.dirty_bitmap = bitmap;
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return -errno;

	/*
	 * Clear (and write-protect again) exactly the pages just reported.
	 * first_page and num_pages must be 64-aligned unless the range ends
	 * at the end of the slot, which it does here.
	 */
	memset(&clear, 0, sizeof(clear));
	clear.slot = vm->slot;
	clear.first_page = 0;
	clear.num_pages = vm->npages;
	clear.dirty_bitmap = bitmap;
	if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
		return -errno;
	return 0;
}

/* splitmix64: small, fast, and good enough for test data. */
static __u64 tvm_splitmix64(__u64 *state)
{
	__u64 z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void tvm_fill(struct tvm *vm, __u64 seed)
{
	__u64 page, i, state, v;
	__u8 *p;

	for (page = 1; page < vm->npages; page++) {
		p = tvm_page(vm, page);
		if (tvm_fill_is_zero(page)) {
			memset(p, 0, TVM_PAGE_SIZE);
			continue;
		}
		state = seed ^ (page * 0xd6e8feb86659fd93ULL);
		for (i = 0; i < TVM_PAGE_SIZE; i += sizeof(v)) {
			v = tvm_splitmix64(&state);
			memcpy(p + i, &v, sizeof(v));
		}
	}
}
