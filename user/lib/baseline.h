/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Baselines: versioned JSON files naming the PCR values a certified platform
 * must hold and the compliance controls they stand for (docs/ttp.md).
 */
#ifndef TRUSTMIG_BASELINE_H
#define TRUSTMIG_BASELINE_H

#include <tss2/tss2_tpm2_types.h>

#define TM_BASELINE_SCHEMA	"trustmig-baseline/1"
#define TM_PCR_MAX		24
#define TM_CONTROLS_MAX		64

struct tm_control {
	char *id;		/* e.g. "CM-2", "SI-7(1)" */
	char *statement;	/* optional: how the baseline meets it */
};

/* A file IMA may have measured on a certified host (user/lib/ima.h). */
struct tm_ima_file {
	char *path;		/* where the reference host measured it */
	unsigned char sha256[32];
	int key_module;		/* a trustmig.ko build: holds the keys */
};

#define TM_IMA_FILES_MAX	4096

struct tm_baseline {
	char *id;
	long version;
	char *description;
	TPMI_ALG_HASH bank;
	unsigned int npcrs;
	unsigned int pcr[TM_PCR_MAX];		/* ascending */
	TPM2B_DIGEST value[TM_PCR_MAX];		/* value[i] of pcr[i] */
	unsigned int ncontrols;
	struct tm_control *controls;
	/* "ima": without it, the peer's IMA list is replayed, not checked */
	int has_ima;
	unsigned int nima;
	struct tm_ima_file *ima;
	/* derived */
	unsigned char file_sha256[32];		/* of the file's bytes */
	TPML_PCR_SELECTION sel;
	TPM2B_DIGEST pcr_digest;		/* SHA-256 of the values */
	TPM2B_DIGEST policy;			/* PolicyPCR(sel, pcr_digest) */
};

/* Parse and validate a baseline; returns 0 or TM_EXIT_BASELINE. */
int tm_baseline_parse(const unsigned char *buf, size_t len,
		      struct tm_baseline *b);
int tm_baseline_load(const char *path, struct tm_baseline *b);
void tm_baseline_free(struct tm_baseline *b);

/*
 * The selection and digest a handshake quote covers: the baseline's PCRs
 * and PCR 10 (IMA's) at @ima_pcr.
 */
int tm_baseline_quote(const struct tm_baseline *b,
		      const TPM2B_DIGEST *ima_pcr, TPML_PCR_SELECTION *sel,
		      TPM2B_DIGEST *digest);
/* Compute sel, pcr_digest and policy from bank, pcr[] and value[]. */
int tm_baseline_derive(struct tm_baseline *b);
/* Serialise as a baseline file (pretty JSON); caller frees. */
char *tm_baseline_to_json(const struct tm_baseline *b);

/* The "ima" file of digest @sha256, or NULL if @b lists none. */
const struct tm_ima_file *tm_baseline_ima_file(const struct tm_baseline *b,
					       const unsigned char sha256[32]);
/* How many of @b's "ima" files are trustmig.ko builds (key modules). */
unsigned int tm_baseline_key_modules(const struct tm_baseline *b);

/* Add PCR @pcr to the first bank of @sel. */
void tm_pcr_select(TPML_PCR_SELECTION *sel, unsigned int pcr);
/* A one-bank PCR selection of @n ascending PCR indices. */
void tm_pcr_selection(TPMI_ALG_HASH bank, const unsigned int *pcr,
		      unsigned int n, TPML_PCR_SELECTION *sel);

/* json-c helpers shared with other JSON files (policies) */
struct json_object;
/* Strict RFC 8259 parse of the whole buffer; @code if invalid. */
int tm_json_parse(const unsigned char *buf, size_t len, const char *what,
		  int code, struct json_object **root);
/* @code if @obj has a key not in the NULL-terminated @allowed. */
int tm_json_check_keys(struct json_object *obj, const char *const *allowed,
		       const char *where, int code);

#endif /* TRUSTMIG_BASELINE_H */
