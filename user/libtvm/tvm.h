/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tvm - a tiny KVM guest for trustmig's selftests and reference VMM.
 *
 * One VM, one memslot (slot 0 at gpa 0) with dirty logging in manual-protect
 * mode, and optionally one vCPU in 32-bit flat protected mode without paging.
 *
 * Guest memory layout:
 *   page 0                 guest code (loaded at TVM_GUEST_GPA)
 *   pages 1 .. npages - 1  workload data
 *
 * A pass (tvm_run_pass()) makes the guest write one 32-bit word into every
 * stride-th page of a range; the word's value and its offset in the page
 * both depend on the pass's generation, see tvm_pass_value() and
 * tvm_pass_offset().  The guest reports the end of a pass with an OUT to
 * port TVM_PORT_DONE.
 *
 * All functions returning int return 0 or a negative errno.
 */
#ifndef TVM_H
#define TVM_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include <linux/kvm.h>

#define TVM_PAGE_SIZE		4096UL
#define TVM_PAGE_SHIFT		12

/* Where page 0's code is loaded; must match -Ttext in Makefile.inc. */
#define TVM_GUEST_GPA		0x0UL

/* The guest signals the end of a pass with "outl %eax, $TVM_PORT_DONE". */
#define TVM_PORT_DONE		0xb7

/* Multiplier the guest uses to derive a pass's value from its generation. */
#define TVM_GEN_MULT		0x9e3779b1U

struct tvm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;			/* -1 without a vCPU */
	struct kvm_run *run;		/* NULL without a vCPU */
	size_t run_size;
	__u8 *mem;			/* host mapping of guest memory */
	size_t mem_size;
	__u64 npages;
	__u32 slot;			/* (as_id << 16) | id, always 0 */
	__u32 generation;		/* of the last pass started */
};

/* The guest program (guest.S as a flat binary), from guest_blob.S. */
extern const __u8 tvm_guest_start[];
extern const __u8 tvm_guest_end[];

/* The workload guest of the reference VMM (tvm_workload.h). */
extern const __u8 tvm_workload_start[];
extern const __u8 tvm_workload_end[];

int tvm_create(struct tvm *vm, size_t mem_size, bool with_vcpu);
/*
 * Like tvm_create(), with @code_size bytes of @code (at most a page, or
 * none: @code NULL) loaded at TVM_GUEST_GPA.
 */
int tvm_create_guest(struct tvm *vm, size_t mem_size, const void *code,
		     size_t code_size, bool with_vcpu);
void tvm_destroy(struct tvm *vm);

/*
 * Adds memslot @slot (dirty logging on) of @size bytes of fresh anonymous
 * memory at @gpa, described in @region; returns the mapping, or NULL with
 * errno set.  The caller unmaps it (region->userspace_addr).
 */
void *tvm_add_slot(struct tvm *vm, __u32 slot, __u64 gpa, size_t size,
		   struct kvm_userspace_memory_region *region);

/*
 * Completes a pending IN/OUT (KVM_RUN with immediate_exit) so that the
 * vCPU's state can be saved or the vCPU left alone; runs no guest code.
 */
int tvm_complete_io(struct tvm *vm);
/* Prints the vCPU's last exit to stderr, prefixed by @what. */
void tvm_report_exit(struct tvm *vm, const char *what);

int tvm_run_pass(struct tvm *vm, __u32 first_page, __u32 npages,
		 __u32 stride);
int tvm_harvest(struct tvm *vm, unsigned long *bitmap);
void tvm_fill(struct tvm *vm, __u64 seed);

size_t tvm_bitmap_bytes(__u64 npages);
__u64 tvm_bitmap_count(const unsigned long *bitmap, __u64 nbits);

/* Byte offset in each page that the pass of generation @gen writes. */
static inline __u32 tvm_pass_offset(__u32 gen)
{
	return (gen * 4) & (TVM_PAGE_SIZE - 4);
}

/* The 32-bit word that the pass of generation @gen writes into @page. */
static inline __u32 tvm_pass_value(__u32 gen, __u32 page)
{
	return (gen * TVM_GEN_MULT + page) | 1;
}

/* tvm_fill() leaves data page @page all-zero (every 4th page). */
static inline bool tvm_fill_is_zero(__u64 page)
{
	return page % 4 == 0;
}

static inline __u8 *tvm_page(struct tvm *vm, __u64 page)
{
	return vm->mem + (page << TVM_PAGE_SHIFT);
}

static inline bool tvm_test_bit(const unsigned long *bitmap, __u64 nr)
{
	const unsigned int bits = 8 * sizeof(unsigned long);

	return (bitmap[nr / bits] >> (nr % bits)) & 1;
}

static inline void tvm_set_bit(unsigned long *bitmap, __u64 nr)
{
	const unsigned int bits = 8 * sizeof(unsigned long);

	bitmap[nr / bits] |= 1UL << (nr % bits);
}

#endif /* TVM_H */
