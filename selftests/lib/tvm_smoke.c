// SPDX-License-Identifier: GPL-2.0
/*
 * tvm_smoke - self-check of libtvm against /dev/kvm.
 *
 * Runs the guest over an 8 MiB VM and checks that the dirty log reports
 * exactly the pages each pass wrote, and that the pages hold what the pass
 * wrote.  Prints TAP; exits 0 on success.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tvm.h"

#define SMOKE_MEM	(8UL << 20)
#define SMOKE_SEED	0x7472757374UL
#define SMOKE_TESTS 13

static int test_nr;
static int failures;

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++test_nr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

static void bail(const char *what, int err)
{
	printf("Bail out! %s: %s\n", what, strerror(-err));
	exit(1);
}

/* Does @bitmap hold exactly the pages first, first + stride, ... ? */
static bool bitmap_is_pass(struct tvm *vm, const unsigned long *bitmap,
			   __u32 first, __u32 npages, __u32 stride)
{
	__u64 page;
	bool want;

	for (page = 0; page < vm->npages; page++) {
		want = page >= first && page < (__u64)first + npages &&
		       (page - first) % stride == 0;
		if (tvm_test_bit(bitmap, page) != want) {
			printf("# page %llu: dirty %d, expected %d\n",
			       (unsigned long long)page,
			       tvm_test_bit(bitmap, page), want);
			return false;
		}
	}
	return true;
}

/* Do the pages of the last pass hold the pass's value at its offset? */
static bool pages_hold_pass(struct tvm *vm, __u32 first, __u32 npages,
			    __u32 stride)
{
	__u32 off = tvm_pass_offset(vm->generation);
	__u64 page;
	__u32 got;

	for (page = first; page < (__u64)first + npages; page += stride) {
		memcpy(&got, tvm_page(vm, page) + off, sizeof(got));
		if (got != tvm_pass_value(vm->generation, page)) {
			printf("# page %llu +%u: 0x%08x, want 0x%08x\n",
			       (unsigned long long)page, off, got,
			       tvm_pass_value(vm->generation, page));
			return false;
		}
	}
	return true;
}

static bool run_and_check(struct tvm *vm, unsigned long *bitmap,
			  __u32 first, __u32 npages, __u32 stride)
{
	__u64 expect = npages ? (npages - 1) / stride + 1 : 0;
	__u64 count;
	int ret;

	ret = tvm_run_pass(vm, first, npages, stride);
	if (ret) {
		printf("# tvm_run_pass: %s\n", strerror(-ret));
		return false;
	}
	ret = tvm_harvest(vm, bitmap);
	if (ret) {
		printf("# tvm_harvest: %s\n", strerror(-ret));
		return false;
	}
	count = tvm_bitmap_count(bitmap, vm->npages);
	printf("# gen %u: [%u, %u) stride %u: %llu dirty, want %llu\n",
	       vm->generation, first, first + npages, stride,
	       (unsigned long long)count, (unsigned long long)expect);
	return count == expect &&
	       bitmap_is_pass(vm, bitmap, first, npages, stride) &&
	       pages_hold_pass(vm, first, npages, stride);
}

int main(void)
{
	struct tvm vm, copy;
	unsigned long *bitmap;
	__u32 data;
	__u64 page;
	bool ok;
	int ret;

	printf("TAP version 13\n1..%d\n", SMOKE_TESTS);

	ret = tvm_create(&vm, SMOKE_MEM, true);
	if (ret)
		bail("tvm_create with vCPU", ret);
	tap(vm.npages == SMOKE_MEM / TVM_PAGE_SIZE && vm.vcpu_fd >= 0 &&
	    vm.run, "create %zu MiB VM with vCPU (%llu pages)",
	    vm.mem_size >> 20, (unsigned long long)vm.npages);

	bitmap = calloc(1, tvm_bitmap_bytes(vm.npages));
	if (!bitmap)
		bail("calloc", -ENOMEM);

	tvm_fill(&vm, SMOKE_SEED);
	ok = true;
	for (page = 1; page < vm.npages; page++) {
		__u8 *p = tvm_page(&vm, page);
		bool zero = !p[0] && !memcmp(p, p + 1, TVM_PAGE_SIZE - 1);

		if (zero != tvm_fill_is_zero(page))
			ok = false;
	}
	tap(ok, "fill: every 4th data page zero, the others not");

	ret = tvm_harvest(&vm, bitmap);
	tap(!ret && tvm_bitmap_count(bitmap, vm.npages) == 0,
	    "no dirty page before the guest ran (host writes not logged)");

	/*
	 * Under nested SVM, KVM dirties page 0 (the code) once on the
	 * vCPU's first entry; a warm-up pass absorbs that, so that every
	 * check below is exact.
	 */
	ret = tvm_run_pass(&vm, 1, 1, 1);
	if (!ret)
		ret = tvm_harvest(&vm, bitmap);
	tap(!ret && tvm_test_bit(bitmap, 1),
	    "warm-up pass: page 1 dirty (%llu pages in all)",
	    (unsigned long long)tvm_bitmap_count(bitmap, vm.npages));

	data = (__u32)(vm.npages - 1);
	tap(run_and_check(&vm, bitmap, 1, data, 1),
	    "pass 1 over all data pages: exactly pages 1..%u dirty, page 0 not",
	    data);

	tap(run_and_check(&vm, bitmap, 1, data, 3),
	    "pass 2 over every 3rd data page: exactly those dirty");

	ret = tvm_harvest(&vm, bitmap);
	tap(!ret && tvm_bitmap_count(bitmap, vm.npages) == 0,
	    "harvest without a pass: nothing dirty (re-protected)");

	tap(run_and_check(&vm, bitmap, 100, 10, 1),
	    "pass 3 over pages [100, 110): exactly those dirty");

	tap(run_and_check(&vm, bitmap, 2, data - 1, 64),
	    "pass 4 with stride 64 from page 2: exactly those dirty");

	ret = tvm_run_pass(&vm, 0, 1, 1);
	tap(ret == -EINVAL, "a pass over page 0 (code) is refused: %d", ret);

	ret = tvm_create(&copy, SMOKE_MEM, false);
	if (ret)
		bail("tvm_create without vCPU", ret);
	tap(copy.vcpu_fd == -1 && !copy.run && copy.npages == vm.npages,
	    "create VM without vCPU");

	memcpy(copy.mem, vm.mem, vm.mem_size);
	ret = tvm_harvest(&copy, bitmap);
	tap(!ret && !memcmp(copy.mem, vm.mem, vm.mem_size) &&
	    tvm_bitmap_count(bitmap, copy.npages) == 0,
	    "copy memory into it: identical, nothing dirty");

	ret = tvm_run_pass(&copy, 1, 1, 1);
	tap(ret == -EINVAL, "a pass on a VM without vCPU is refused: %d", ret);

	tvm_destroy(&copy);
	tvm_destroy(&vm);
	free(bitmap);

	if (test_nr != SMOKE_TESTS)
		printf("# ran %d tests, planned %d\n", test_nr, SMOKE_TESTS);
	printf("# %s\n", failures ? "FAIL" : "PASS");
	return failures || test_nr != SMOKE_TESTS;
}
