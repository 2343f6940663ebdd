/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The workload guest (guest_workload.S): memory layout, ports and page
 * contents, shared by the guest (through cpp) and the host.
 *
 * Guest memory:
 *   page 0                       code
 *   page 1                       header (below) and, at its top, the stack
 *   pages 2 .. 2 + table - 1     integrity table: per data page a
 *                                generation (u32) and a checksum (u32)
 *   the rest                     data pages
 *
 * The guest first writes every data page once, then in a loop asks the
 * host (IN from TVM_WL_PORT_TICK) how many pages to write and writes that
 * many, round robin.  Writing a page bumps its generation, fills it with
 * a sequence derived from (page, generation), and stores the checksum of
 * what it wrote; a running total of writes lives both in the header and
 * in %ebp.  When the tick answers TVM_WL_VERIFY, the guest checks every
 * data page against its table entry (content and checksum), the sum of
 * all generations against the total in memory and in %ebp, and reports
 * with an OUT to TVM_WL_PORT_VERDICT: %eax bad pages, %ebx first bad data
 * page index (or ~0), %ecx pages checked, %edx TVM_WL_BAD_* flags.
 */
#ifndef TVM_WORKLOAD_H
#define TVM_WORKLOAD_H

#define TVM_WL_HDR_GPA		0x1000
#define TVM_WL_STACK_TOP	0x2000
#define TVM_WL_TABLE_PAGE	2

/* Header fields (byte offsets from TVM_WL_HDR_GPA), all u32. */
#define TVM_WL_H_MAGIC		0	/* TVM_WL_MAGIC, set by the host */
#define TVM_WL_H_FIRST		4	/* first data page, set by the host */
#define TVM_WL_H_NDATA		8	/* data pages, set by the host */
#define TVM_WL_H_TABLE		12	/* gpa of the table, set by the host */
#define TVM_WL_H_CURSOR		16	/* next data page to write */
#define TVM_WL_H_TOTAL		20	/* writes so far (mod 2^32) */
#define TVM_WL_H_BATCH		24	/* pages left in this batch */
#define TVM_WL_H_INDEX		28	/* verify: current data page */
#define TVM_WL_H_BAD		32	/* verify: bad pages */
#define TVM_WL_H_FIRSTBAD	36	/* verify: first bad page or ~0 */
#define TVM_WL_H_GENSUM		40	/* verify: sum of generations */
#define TVM_WL_H_PBAD		44	/* verify: this page differs */
#define TVM_WL_H_TICKS		48	/* ticks seen (progress) */

#define TVM_WL_MAGIC		0x47564d54	/* "TMVG" */

#define TVM_WL_PORT_TICK	0xb8
#define TVM_WL_PORT_VERDICT	0xb9

/* Tick answer that makes the guest verify all its pages. */
#define TVM_WL_VERIFY		0xffffffff

/* Verdict flags (%edx). */
#define TVM_WL_BAD_GENSUM	0x1	/* generations do not add up */
#define TVM_WL_BAD_TOTAL	0x2	/* header total != register total */

/* Page contents: x0 = seed(page, gen), x(n+1) = x(n) * A + C. */
#define TVM_WL_SEED_P		0x9e3779b1
#define TVM_WL_SEED_G		0x85ebca6b
#define TVM_WL_LCG_A		1664525
#define TVM_WL_LCG_C		1013904223
/* Checksum: sum = sum * 31 + word, over the page's 1024 words. */
#define TVM_WL_SUM_MULT		31

#ifndef __ASSEMBLER__
#include <linux/types.h>

struct tvm_wl_entry {
	__u32 gen;
	__u32 sum;
};

struct tvm_wl_verdict {
	__u32 bad;		/* data pages that failed the check */
	__u32 first_bad;	/* index of the first one, or ~0 */
	__u32 checked;		/* data pages checked */
	__u32 flags;		/* TVM_WL_BAD_* */
	__u32 total;		/* the guest's write counter (%ebp) */
};
#endif

#endif /* TVM_WORKLOAD_H */
