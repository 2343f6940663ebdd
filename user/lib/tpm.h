/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host's TPM through tpm2-tss ESAPI: endorsement key, storage root key,
 * attestation key, PCR-policy-bound migration key, credential activation,
 * quotes, key certification and ECDH_ZGen under PolicyPCR.
 *
 * Every object and session these functions create is flushed before they
 * return, except the handles they hand out, which the caller flushes with
 * tm_tpm_flush(): there may be no resource manager (swtpm, tests).
 *
 * The commands whose parameters are secret, or could be, run in sessions
 * salted to a key the TPM holds, with parameter encryption: nothing
 * secret crosses the bus to a discrete TPM in clear (docs/protocol.md
 * section 3, "On the TPM's bus").
 */
#ifndef TRUSTMIG_TPM_H
#define TRUSTMIG_TPM_H

#include <tss2/tss2_esys.h>

#define TM_TCTI_DEFAULT	"device:/dev/tpmrm0"
#define TM_TCTI_ENV	"TRUSTMIG_TCTI"

struct tm_tpm {
	ESYS_CONTEXT *ectx;
	TSS2_TCTI_CONTEXT *tcti;
};

/* @tcti NULL: $TRUSTMIG_TCTI, else TM_TCTI_DEFAULT. */
int tm_tpm_open(struct tm_tpm *t, const char *tcti);
void tm_tpm_close(struct tm_tpm *t);
/* Flush a transient object or session, if any, and forget the handle. */
void tm_tpm_flush(struct tm_tpm *t, ESYS_TR *h);

/* Endorsement key from the TCG default template (RSA 2048 or ECC P-256). */
int tm_tpm_ek(struct tm_tpm *t, TPMI_ALG_PUBLIC type, ESYS_TR *ek,
	      TPM2B_PUBLIC *pub);
/* DER EK certificate from its TCG NV index; *len is 0 if none. */
int tm_tpm_ek_cert(struct tm_tpm *t, TPMI_ALG_PUBLIC type,
		   unsigned char **der, size_t *len);
/* ECC P-256 storage root key from the TCG provisioning template. */
int tm_tpm_srk(struct tm_tpm *t, ESYS_TR *srk);

/* Restricted ECDSA-SHA256 P-256 signing key template (the AK). */
void tm_ak_template(TPM2B_PUBLIC *tpl);
/*
 * Migration key template: ECC P-256 decrypt (ECDH), fixedTPM, fixedParent,
 * sensitiveDataOrigin, no userWithAuth, authPolicy @policy.
 */
void tm_mk_template(TPM2B_PUBLIC *tpl, const TPM2B_DIGEST *policy);

/* In an HMAC session salted to @parent: inSensitive, outPrivate encrypted. */
int tm_tpm_create(struct tm_tpm *t, ESYS_TR parent, const TPM2B_PUBLIC *tpl,
		  TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv);
int tm_tpm_load(struct tm_tpm *t, ESYS_TR parent, const TPM2B_PUBLIC *pub,
		const TPM2B_PRIVATE *priv, ESYS_TR *h);

/*
 * TPM2_ActivateCredential with @ak under the EK's PolicySecret, in a session
 * salted to @ek: @cred crosses the bus encrypted.
 */
int tm_tpm_activate(struct tm_tpm *t, ESYS_TR ak, ESYS_TR ek,
		    const TPM2B_ID_OBJECT *blob,
		    const TPM2B_ENCRYPTED_SECRET *secret, TPM2B_DIGEST *cred);
int tm_tpm_quote(struct tm_tpm *t, ESYS_TR ak, const TPM2B_DATA *nonce,
		 const TPML_PCR_SELECTION *sel, TPM2B_ATTEST *attest,
		 TPMT_SIGNATURE *sig);
int tm_tpm_certify(struct tm_tpm *t, ESYS_TR obj, ESYS_TR ak,
		   const TPM2B_DATA *nonce, TPM2B_ATTEST *attest,
		   TPMT_SIGNATURE *sig);
/* Policy digest of TPM2_PolicyPCR(@sel, @pcr_digest) from a trial session. */
int tm_tpm_policy_pcr(struct tm_tpm *t, const TPML_PCR_SELECTION *sel,
		      const TPM2B_DIGEST *pcr_digest, TPM2B_DIGEST *policy);
/*
 * TPM2_ECDH_ZGen with the migration key under a PolicyPCR session over the
 * PCRs' current values, salted to @mk: @z crosses the bus encrypted.
 * Returns TM_EXIT_KEY_POLICY when the TPM refuses because the PCRs no
 * longer hold the values the key is bound to.
 */
int tm_tpm_ecdh_zgen(struct tm_tpm *t, ESYS_TR mk,
		     const TPML_PCR_SELECTION *sel, const TPM2B_ECC_POINT *in,
		     TPM2B_ECC_POINT *z);
/* Current values of the PCRs of a one-bank selection, ascending. */
int tm_tpm_pcr_read(struct tm_tpm *t, const TPML_PCR_SELECTION *sel,
		    TPM2B_DIGEST *values, unsigned int max, unsigned int *n);

#endif /* TRUSTMIG_TPM_H */
