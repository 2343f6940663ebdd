/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * trustmig_bench.ko (benchmark only, built by make bench, never
 * installed): the kernel's raw AEAD transform and a plain copy over pages
 * held in the kernel, the floors trustmig's sealing is measured against
 * (docs/benchmarks.md).  /dev/trustmig-bench, root only.
 */
#ifndef _TMBENCH_H
#define _TMBENCH_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define TMBENCH_DEV_NAME	"trustmig-bench"
#define TMBENCH_MAX_PAGES	8192

/* Copy @npages pages from @buf into kernel records (header zeroed). */
struct tmbench_load {
	__u64 buf;
	__u32 npages;
	__u32 pad;		/* must be 0 */
};

enum tmbench_op {
	TMBENCH_SEAL = 1,	/* AEAD-encrypt each record in place */
	TMBENCH_OPEN = 2,	/* AEAD-decrypt and verify the sealed ones */
	TMBENCH_COPY = 3,	/* copy each page into one other page */
	TMBENCH_ZERO_CHECK = 4,	/* trustmig_page_zero() of each page */
};

/*
 * Run @op over the first @npages records, each a 24-byte header
 * (associated data), @len bytes of payload (4096 or 0) and a 16-byte tag,
 * as trustmig's records; @cipher is an enum trustmig_cipher.
 */
struct tmbench_run {
	__u32 op;
	__u32 cipher;
	__u32 npages;
	__u32 len;
};

#define TMBENCH_IOC_MAGIC	0xb8
#define TMBENCH_LOAD		_IOW(TMBENCH_IOC_MAGIC, 1, struct tmbench_load)
#define TMBENCH_RUN		_IOW(TMBENCH_IOC_MAGIC, 2, struct tmbench_run)

#endif /* _TMBENCH_H */
