/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Trust_Token: an X.509 v3 certificate for a host's attestation key,
 * issued by the TTP, with a non-critical trustmig extension binding the
 * platform (EK name, host name), the certified baseline and its PCR policy,
 * the migration key's TPM public area and the compliance controls.
 *
 *   OID arc 2.25.62776683548806466880690660492788620930 (from UUID
 *   2f3a5976-93cd-4ef8-bef7-0680020fde82):
 *     .1  id-trustmig-token: the extension below
 *     .2  id-kp-trustmigAK: extended key usage of Trust_Token AKs
 *
 *   TrustmigToken ::= SEQUENCE {
 *       version       INTEGER (1),
 *       platform      SEQUENCE { hostName UTF8String,
 *                                ekName OCTET STRING },  -- TPM Name
 *       baseline      SEQUENCE { id UTF8String, version INTEGER,
 *                                fileSha256 OCTET STRING },
 *       pcrPolicy     SEQUENCE { pcrBank INTEGER,        -- TPM_ALG_ID
 *                                pcrs SEQUENCE OF INTEGER,
 *                                pcrDigest OCTET STRING, -- SHA-256
 *                                policyDigest OCTET STRING },
 *       migrationKey  OCTET STRING,                      -- TPM2B_PUBLIC
 *       controls      SEQUENCE OF UTF8String }
 */
#ifndef TRUSTMIG_TOKEN_H
#define TRUSTMIG_TOKEN_H

#include <stdio.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "baseline.h"

#define TM_OID_ARC	"2.25.62776683548806466880690660492788620930"
#define TM_OID_TOKEN	TM_OID_ARC ".1"
#define TM_OID_AK_EKU	TM_OID_ARC ".2"

/*
 * The intermediate CA certificates that may go with a token, between it
 * and the anchor: in its file after it, and in a handshake's hello.
 */
#define TM_CHAIN_MAX	3

struct tm_token_info {
	char *host;
	TPM2B_NAME ek_name;
	char *baseline_id;
	long baseline_version;
	unsigned char baseline_sha256[32];
	TPMI_ALG_HASH bank;
	unsigned int npcrs;
	unsigned int pcr[TM_PCR_MAX];
	TPML_PCR_SELECTION sel;		/* derived from bank and pcr[] */
	TPM2B_DIGEST pcr_digest;
	TPM2B_DIGEST policy;
	TPM2B_PUBLIC mk;
	unsigned int ncontrols;
	char **controls;
};

struct tm_token_issue {
	X509 *ca;
	EVP_PKEY *ca_key;
	EVP_PKEY *ak;
	const struct tm_token_info *info;
	time_t not_before;
	time_t not_after;
};

struct tm_verify {
	X509_STORE *anchors;		/* trusted TTP certificates */
	/* STACK_OF(X509): intermediates, may be NULL */
	struct stack_st_X509 *untrusted;
	/* STACK_OF(X509_CRL): NULL for no revocation check */
	struct stack_st_X509_CRL *crls;
	time_t at;			/* 0: now */
	const struct tm_baseline *baseline;	/* NULL: any baseline */
};

/* Register the trustmig OIDs with OpenSSL (idempotent). */
int tm_token_init(void);

/* Baseline part of @info from @b (copies id and control labels). */
int tm_token_info_set_baseline(struct tm_token_info *info,
			       const struct tm_baseline *b);
void tm_token_info_free(struct tm_token_info *info);

int tm_token_issue(const struct tm_token_issue *p, X509 **out);
/* Decode and sanity-check the extension; TM_EXIT_TOKEN_EXT if bad. */
int tm_token_info_get(X509 *tok, struct tm_token_info *info);
/*
 * Verify chain, validity at v->at, revocation, the AK key usage, the
 * extension and (optionally) that it certifies v->baseline. On success
 * @info (may be NULL) holds the decoded extension.
 */
int tm_token_verify(X509 *tok, const struct tm_verify *v,
		    struct tm_token_info *info);
/* The token certifies baseline @b (TM_EXIT_TOKEN_BASELINE if not). */
int tm_token_check_baseline(const struct tm_token_info *i,
			    const struct tm_baseline *b);
/* The token certifies exactly this AK and migration key. */
int tm_token_match_keys(X509 *tok, const struct tm_token_info *info,
			const TPM2B_PUBLIC *ak, const TPM2B_PUBLIC *mk);
void tm_token_print(FILE *f, X509 *tok, const struct tm_token_info *info);

/* "2027-12-01T00:00:00Z" */
#define TM_TIME_ISO	"%Y-%m-%dT%H:%M:%SZ"
/* @when (UTC) by strftime(@fmt) into @buf; -1 if it does not convert. */
int tm_time_text(const ASN1_TIME *when, const char *fmt, char *buf,
		 size_t len);
/*
 * The fields tm_token_print() shows, as JSON (times as UTC ISO 8601,
 * digests and names in hex); NULL if out of memory.
 */
struct json_object *tm_token_json(X509 *tok, const struct tm_token_info *info);

/* 127 random bits, the serial number of every certificate we issue. */
int tm_cert_serial(X509 *x);
/* Add extension @nid, in openssl.cnf syntax, to @x issued by @issuer. */
int tm_cert_ext(X509 *issuer, X509 *x, int nid, const char *value);

/* The first certificate of a PEM file. */
int tm_cert_load(const char *path, X509 **cert);
/*
 * The first certificate of a PEM file and, in a new @rest, the 0 to
 * TM_CHAIN_MAX certificates after it (a token and its chain).
 */
int tm_cert_chain_load(const char *path, X509 **cert,
		       struct stack_st_X509 **rest);
/* Add every certificate of a PEM file to @st. */
int tm_anchors_load(X509_STORE *st, const char *path);
int tm_crl_load(const char *path, X509_CRL **crl);

#endif /* TRUSTMIG_TOKEN_H */
