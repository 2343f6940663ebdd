// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmarks' instruction counting (bench/tmcount-plugin.c) checked
 * on things whose count is known, and one small measurement of sealing,
 * so that make check catches a plugin or a marker that stopped counting
 * right.  It skips when the guest runs without the plugin.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "tmc.h"
#include "tmig.h"

#define SLOT	0

/* Instructions per iteration of spin()'s loop. */
#define SPIN_INSNS	3

static void spin(unsigned long n)
{
	unsigned long acc = 0;

	tmc_settle();
	tmcount_open(SLOT);
	asm volatile("1:\n\t"
		     "add $1, %0\n\t"
		     "dec %1\n\t"
		     "jnz 1b"
		     : "+r" (acc), "+r" (n) : : "cc");
	tmcount_close(SLOT);
}

FIXTURE(count) {
	struct tmc t;
};

FIXTURE_SETUP(count)
{
	int err = tmc_open(&self->t);

	/* No plugin: each test skips (COUNT_NO_PLUGIN). */
	if (err != -ENOENT)
		ASSERT_EQ(0, err);
}

/*
 * 6.1's harness runs a test's body even after its FIXTURE_SETUP said
 * SKIP, so each body checks for the plugin itself.
 */
#define COUNT_NO_PLUGIN \
	"no counting plugin: boot with vm.sh --plugin and set " TMC_LOG_ENV

FIXTURE_TEARDOWN(count)
{
	tmc_close(&self->t);
}

/* The least count of @runs windows of spin(@n): interrupts only add. */
static __u64 spin_least(struct __test_metadata *_metadata, struct tmc *t,
			unsigned long n, int runs)
{
	__u64 least = ~0ULL;
	struct tmc_count c;

	while (runs--) {
		spin(n);
		if (tmc_read(t, SLOT, &c))
			return 0;
		if (c.insns < least)
			least = c.insns;
	}
	return least;
}

/*
 * The loop's instructions are all counted, and 2N iterations cost N more
 * than N: all but the loop's cost cancels.  An interrupt in every run
 * adds a few thousand; counting per block instead of per instruction, or
 * twice, or not at all, is far outside the bounds.
 */
TEST_F(count, loop_scales_with_iterations)
{
	const unsigned long n = 1000000;
	__u64 one, two;
	double per_iter;

	if (!self->t.f)
		SKIP(return, COUNT_NO_PLUGIN);

	one = spin_least(_metadata, &self->t, n, 3);
	two = spin_least(_metadata, &self->t, 2 * n, 3);
	per_iter = (double)(two - one) / n;
	TH_LOG("N=%lu: %llu, 2N: %llu instructions, %.4f per iteration",
	       n, one, two, per_iter);
	EXPECT_LE(SPIN_INSNS * n, one);
	EXPECT_GE(SPIN_INSNS * n * 1.05, one);
	EXPECT_LE(SPIN_INSNS * 0.97, per_iter);
	EXPECT_GE(SPIN_INSNS * 1.05, per_iter);
}

/* An empty window counts (almost) nothing: the markers are not counted. */
TEST_F(count, empty_window)
{
	struct tmc_count c;

	if (!self->t.f)
		SKIP(return, COUNT_NO_PLUGIN);

	tmc_settle();
	tmcount_open(SLOT);
	tmcount_close(SLOT);
	ASSERT_EQ(0, tmc_read(&self->t, SLOT, &c));
	EXPECT_GT(5, c.insns);
}

/*
 * A REP MOVSB is one instruction, however many bytes it moves; the least
 * of five runs, since an interrupt between two iterations adds its own
 * instructions (thousands, on a slow host).  Counted per iteration, it
 * would be at least @len.
 */
TEST_F(count, rep_string_counted_once)
{
	const size_t len = 65536;
	struct tmc_count c, least = { ~0ULL, ~0ULL };
	char *src, *dst, *s, *d;
	size_t n;
	int run;

	if (!self->t.f)
		SKIP(return, COUNT_NO_PLUGIN);

	src = malloc(len);
	dst = malloc(len);
	ASSERT_TRUE(src && dst);
	/* Both written (not zeroed: that may become a calloc) before. */
	memset(src, 1, len);
	memset(dst, 2, len);
	for (run = 0; run < 5; run++) {
		s = src;
		d = dst;
		n = len;
		tmc_settle();
		tmcount_open(SLOT);
		asm volatile("rep movsb" : "+D" (d), "+S" (s), "+c" (n)
			     : : "memory");
		tmcount_close(SLOT);
		ASSERT_EQ(0, tmc_read(&self->t, SLOT, &c));
		if (c.insns < least.insns)
			least = c;
	}
	TH_LOG("rep movsb of %zu bytes: %llu instructions, %llu executions",
	       len, least.insns, least.execs);
	EXPECT_GT(len / 4, least.insns);
	EXPECT_LE(len, least.execs - least.insns);
	EXPECT_EQ(0, memcmp(src, dst, len));
	free(src);
	free(dst);
}

/* Sealing 2N pages costs twice N, and a page costs a real amount. */
TEST_F(count, seal_scales_with_pages)
{
	const __u64 n = 16;
	struct tmig_stream st = { 0 };
	struct tmc_count c[2];
	struct tmig_pair p;
	struct tvm vm[2];
	struct tnl t;
	double ratio;
	int i;

	if (!self->t.f)
		SKIP(return, COUNT_NO_PLUGIN);

	ASSERT_EQ(0, tnl_open(&t));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, tvm_create(&vm[i], (n << i) * TVM_PAGE_SIZE,
					false));
		tvm_fill(&vm[i], i + 1);
		ASSERT_EQ(0, tmig_pair_new(&t, &p, 0));
		ASSERT_EQ(0, tmig_attach(&p.src, vm[i].vm_fd, p.src.ticket));
		/* Room for every record: one SEAL call per window. */
		ASSERT_EQ(0, tmig_seal(p.src.fd, &vm[i], TRUSTMIG_SEAL_HARVEST,
				       NULL, &st));
		tmig_pair_close(&t, &p);
		st.len = 0;
		ASSERT_EQ(0, tmig_pair_new(&t, &p, 0));
		ASSERT_EQ(0, tmig_attach(&p.src, vm[i].vm_fd, p.src.ticket));
		tmc_settle();
		tmcount_open(SLOT);
		ASSERT_EQ(0, tmig_seal(p.src.fd, &vm[i], TRUSTMIG_SEAL_HARVEST,
				       NULL, &st));
		tmcount_close(SLOT);
		ASSERT_EQ(0, tmc_read(&self->t, SLOT, &c[i]));
		tmig_pair_close(&t, &p);
		st.len = 0;
	}
	ratio = (double)c[1].insns / c[0].insns;
	TH_LOG("sealing %llu pages: %llu, %llu pages: %llu instructions (x%.3f), %llu per page",
	       (unsigned long long)n, c[0].insns, 2ULL * n,
	       c[1].insns, ratio, (c[1].insns - c[0].insns) / n);
	EXPECT_LE(1.7, ratio);
	EXPECT_GE(2.3, ratio);
	EXPECT_LT(1000, (c[1].insns - c[0].insns) / n);
	tmig_stream_free(&st);
	for (i = 0; i < 2; i++)
		tvm_destroy(&vm[i]);
	tnl_close(&t);
}

TEST_HARNESS_MAIN
