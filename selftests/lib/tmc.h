/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tmc: measured windows from inside the test guest.  Marks windows for
 * tmcount (user/include/tmcount.h) and reads their counts back from the
 * file the plugin writes, which vm.sh --plugin puts in the results share
 * and names in $TRUSTMIG_COUNT_LOG (the path as the guest sees it).
 */
#ifndef _TMC_H
#define _TMC_H

#include <stdio.h>
#include <linux/types.h>

#include "tmcount.h"

#define TMC_LOG_ENV	"TRUSTMIG_COUNT_LOG"

struct tmc_count {
	__u64 insns;		/* a REP string instruction counted once */
	__u64 execs;		/* every REP iteration counted */
};

struct tmc {
	FILE *f;
};

/* -ENOENT when no plugin counts (the variable is unset). */
int tmc_open(struct tmc *t);
void tmc_close(struct tmc *t);
/*
 * The next window the plugin closed, which must be of @slot; -EPROTO if
 * the plugin logged an error or another slot, -ETIMEDOUT if none came.
 */
int tmc_read(struct tmc *t, unsigned int slot, struct tmc_count *c);

/*
 * tmcount counts every instruction the vCPU runs in a window, other
 * processes' too: before one opens, the test's output must have been
 * read and passed on (the kselftest runner's prefixer reads it a byte
 * at a time).  Waits until its pipe is empty, then a little longer.
 */
void tmc_settle(void);

#endif /* _TMC_H */
