/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IMA's measurement list.  With "measure func=MODULE_CHECK" in IMA's
 * policy the kernel measures every module file before it loads it,
 * trustmig.ko included, extends PCR 10 with each entry and logs it.
 * PCR 10 depends on the order of every measurement since boot, so it is
 * never a baseline value: the handshake quotes it next to the baseline's
 * PCRs and sends the list, the peer replays the list to the quoted
 * value and checks each entry against the baseline's "ima" section
 * (docs/protocol.md, "Measured module").
 */
#ifndef TRUSTMIG_IMA_H
#define TRUSTMIG_IMA_H

#include <stddef.h>

#include <tss2/tss2_tpm2_types.h>

#include "baseline.h"

#define TM_IMA_PCR	10	/* CONFIG_IMA_MEASURE_PCR_IDX, Debian's */
#define TM_IMA_LOG	"/sys/kernel/security/ima/binary_runtime_measurements"
#define TM_IMA_ENV	"TRUSTMIG_IMA_LOG"	/* then "ima-log" in the file */
/* what a handshake message carries; a MODULE_CHECK list is ~20 KiB */
#define TM_IMA_LOG_MAX	(512u << 10)

struct tm_ima_entry {
	const char *path;		/* as logged: untrusted text */
	size_t path_len;
	unsigned char sha256[32];	/* the file's digest */
	int violation;			/* IMA could not measure it */
};

typedef int (*tm_ima_fn)(const struct tm_ima_entry *e, void *arg);

/* @e measured a file named trustmig.ko: the module that holds the keys. */
int tm_ima_is_key_module(const struct tm_ima_entry *e);
/*
 * This host's list from @path (binary_runtime_measurements); no file
 * (no securityfs, no IMA) is the empty list.
 */
int tm_ima_read(const char *path, unsigned char **log, size_t *len);
/*
 * Replay @log into the @bank value of PCR 10 (@pcr, from zero), calling
 * @fn (may be NULL) for each file measured into it after the boot
 * aggregate; TM_EXIT_MEASURED if the list is malformed, or what @fn
 * returned.
 */
int tm_ima_replay(const unsigned char *log, size_t len, TPMI_ALG_HASH bank,
		  TPM2B_DIGEST *pcr, tm_ima_fn fn, void *arg);
/*
 * Every file in @log is one baseline @b lists, and one of them is a
 * trustmig.ko it certifies; TM_EXIT_MEASURED naming @host if not.
 */
int tm_ima_check(const struct tm_baseline *b, const unsigned char *log,
		 size_t len, const char *host);

#endif /* TRUSTMIG_IMA_H */
