// SPDX-License-Identifier: GPL-2.0
/*
 * The host's TPM through tpm2-tss ESAPI.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tpm.h"
#include "tpmsw.h"
#include "util.h"

#define TM_EK_CERT_RSA	0x01c00002
#define TM_EK_CERT_ECC	0x01c0000a
#define TM_NV_CHUNK	512

/* PolicySecret(TPM_RH_ENDORSEMENT): the TCG EK templates' authPolicy. */
static const unsigned char tm_ek_policy[] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
	0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
	0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

static const TPM2B_SENSITIVE_CREATE tm_no_sensitive;
static const TPM2B_DATA tm_no_outside_info;
static const TPML_PCR_SELECTION tm_no_creation_pcrs;
static const TPMT_SIG_SCHEME tm_scheme_key = { .scheme = TPM2_ALG_NULL };

/* parameter encryption of sessions, as the TCG's EK and SRK templates */
static const TPMT_SYM_DEF tm_sym_aes = {
	.algorithm = TPM2_ALG_AES,
	.keyBits.aes = 128,
	.mode.aes = TPM2_ALG_CFB,
};

int tm_tpm_open(struct tm_tpm *t, const char *tcti)
{
	TSS2_RC rc;

	memset(t, 0, sizeof(*t));
	/* failures are reported once, by the caller, not logged by ESAPI */
	setenv("TSS2_LOG", "all+NONE", 0);
	if (!tcti)
		tcti = getenv(TM_TCTI_ENV);
	if (!tcti || !*tcti)
		tcti = TM_TCTI_DEFAULT;
	rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc)
		return tm_fail(TM_EXIT_ERROR, "cannot reach the TPM at \"%s\": %s",
			       tcti, Tss2_RC_Decode(rc));
	rc = Esys_Initialize(&t->ectx, t->tcti, NULL);
	if (rc) {
		Tss2_TctiLdr_Finalize(&t->tcti);
		return tm_fail_tss(rc, "ESAPI initialisation");
	}
	return 0;
}

void tm_tpm_close(struct tm_tpm *t)
{
	if (t->ectx)
		Esys_Finalize(&t->ectx);
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
}

void tm_tpm_flush(struct tm_tpm *t, ESYS_TR *h)
{
	if (*h == ESYS_TR_NONE)
		return;
	if (Esys_FlushContext(t->ectx, *h))
		Esys_TR_Close(t->ectx, h);
	*h = ESYS_TR_NONE;
}

static void tm_ecc_parms(TPMT_PUBLIC *p, TPMI_ALG_SYM_OBJECT sym)
{
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->parameters.eccDetail.symmetric.algorithm = sym;
	if (sym == TPM2_ALG_AES) {
		p->parameters.eccDetail.symmetric.keyBits.aes = 128;
		p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	}
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

static int tm_create_primary(struct tm_tpm *t, ESYS_TR hierarchy,
			     const TPM2B_PUBLIC *tpl, ESYS_TR *h,
			     TPM2B_PUBLIC *pub)
{
	TPM2B_PUBLIC *out = NULL;
	TSS2_RC rc;

	rc = Esys_CreatePrimary(t->ectx, hierarchy, ESYS_TR_PASSWORD,
				ESYS_TR_NONE, ESYS_TR_NONE, &tm_no_sensitive, tpl,
				&tm_no_outside_info, &tm_no_creation_pcrs, h, &out,
				NULL, NULL, NULL);
	if (rc)
		return tm_fail_tss(rc, "CreatePrimary");
	if (pub)
		*pub = *out;
	Esys_Free(out);
	return 0;
}

int tm_tpm_ek(struct tm_tpm *t, TPMI_ALG_PUBLIC type, ESYS_TR *ek,
	      TPM2B_PUBLIC *pub)
{
	TPM2B_PUBLIC tpl = { 0 };
	TPMT_PUBLIC *p = &tpl.publicArea;

	if (type == TPM2_ALG_ECC) {
		tm_ecc_parms(p, TPM2_ALG_AES);
		p->unique.ecc.x.size = 32;
		p->unique.ecc.y.size = 32;
	} else {
		p->type = TPM2_ALG_RSA;
		p->nameAlg = TPM2_ALG_SHA256;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
		p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
		p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = 2048;
		p->unique.rsa.size = 256;
	}
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_ADMINWITHPOLICY |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	p->authPolicy.size = sizeof(tm_ek_policy);
	memcpy(p->authPolicy.buffer, tm_ek_policy, sizeof(tm_ek_policy));
	return tm_create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tpl, ek, pub);
}

int tm_tpm_ek_cert(struct tm_tpm *t, TPMI_ALG_PUBLIC type,
		   unsigned char **der, size_t *len)
{
	TPM2_HANDLE index = type == TPM2_ALG_ECC ? TM_EK_CERT_ECC :
			    TM_EK_CERT_RSA;
	TPM2B_MAX_NV_BUFFER *chunk = NULL;
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPM2B_NV_PUBLIC *nvpub = NULL;
	ESYS_TR nv = ESYS_TR_NONE;
	unsigned char *buf = NULL;
	size_t size, off;
	UINT16 n;
	TSS2_RC rc;
	int ret, found;

	*der = NULL;
	*len = 0;
	rc = Esys_GetCapability(t->ectx, ESYS_TR_NONE, ESYS_TR_NONE,
				ESYS_TR_NONE, TPM2_CAP_HANDLES, index, 1, NULL,
				&cap);
	if (rc)
		return tm_fail_tss(rc, "GetCapability(NV indices)");
	found = cap->data.handles.count && cap->data.handles.handle[0] == index;
	Esys_Free(cap);
	if (!found)
		return 0;	/* no EK certificate provisioned */
	rc = Esys_TR_FromTPMPublic(t->ectx, index, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, &nv);
	if (rc)
		return tm_fail_tss(rc, "reading the EK certificate index");
	rc = Esys_NV_ReadPublic(t->ectx, nv, ESYS_TR_NONE, ESYS_TR_NONE,
				ESYS_TR_NONE, &nvpub, NULL);
	if (rc) {
		ret = tm_fail_tss(rc, "NV_ReadPublic of the EK certificate");
		goto out;
	}
	size = nvpub->nvPublic.dataSize;
	buf = malloc(size ? size : 1);
	if (!buf) {
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
		goto out;
	}
	for (off = 0; off < size; off += n) {
		n = size - off > TM_NV_CHUNK ? TM_NV_CHUNK : size - off;
		rc = Esys_NV_Read(t->ectx, nv, nv, ESYS_TR_PASSWORD,
				  ESYS_TR_NONE, ESYS_TR_NONE, n, off, &chunk);
		if (rc) {
			ret = tm_fail_tss(rc, "NV_Read of the EK certificate");
			goto out;
		}
		if (chunk->size != n) {
			ret = tm_fail(TM_EXIT_ERROR,
				      "short NV_Read of the EK certificate");
			goto out;
		}
		memcpy(buf + off, chunk->buffer, n);
		Esys_Free(chunk);
		chunk = NULL;
	}
	*der = buf;
	*len = size;
	buf = NULL;
	ret = 0;
out:
	Esys_Free(chunk);
	Esys_Free(nvpub);
	free(buf);
	Esys_TR_Close(t->ectx, &nv);
	return ret;
}

int tm_tpm_srk(struct tm_tpm *t, ESYS_TR *srk)
{
	TPM2B_PUBLIC tpl = { 0 };
	TPMT_PUBLIC *p = &tpl.publicArea;

	tm_ecc_parms(p, TPM2_ALG_AES);
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	p->unique.ecc.x.size = 32;
	p->unique.ecc.y.size = 32;
	return tm_create_primary(t, ESYS_TR_RH_OWNER, &tpl, srk, NULL);
}

void tm_ak_template(TPM2B_PUBLIC *tpl)
{
	TPMT_PUBLIC *p = &tpl->publicArea;

	memset(tpl, 0, sizeof(*tpl));
	tm_ecc_parms(p, TPM2_ALG_NULL);
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
}

void tm_mk_template(TPM2B_PUBLIC *tpl, const TPM2B_DIGEST *policy)
{
	TPMT_PUBLIC *p = &tpl->publicArea;

	memset(tpl, 0, sizeof(*tpl));
	tm_ecc_parms(p, TPM2_ALG_NULL);
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_NODA | TPMA_OBJECT_DECRYPT;
	p->authPolicy = *policy;
}

/*
 * A session of @type whose salt crosses the bus encrypted to @salt_key
 * (ESYS_TR_NONE: no salt), so that only this process and the TPM know its
 * key: the parameters @attrs encrypts (TPMA_SESSION_DECRYPT the command's
 * first, TPMA_SESSION_ENCRYPT the response's first) cross in AES-128-CFB
 * under it.
 */
static int tm_start_session(struct tm_tpm *t, TPM2_SE type, ESYS_TR salt_key,
			    TPMA_SESSION attrs, ESYS_TR *s)
{
	TSS2_RC rc;

	rc = Esys_StartAuthSession(t->ectx, salt_key, ESYS_TR_NONE,
				   ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   NULL, type, &tm_sym_aes, TPM2_ALG_SHA256,
				   s);
	if (rc)
		return tm_fail_tss(rc, "StartAuthSession");
	rc = Esys_TRSess_SetAttributes(t->ectx, *s, attrs, attrs);
	if (rc) {
		tm_tpm_flush(t, s);
		return tm_fail_tss(rc, "setting the session's attributes");
	}
	return 0;
}

/*
 * Nothing secret crosses today (the TPM generates the key, and wraps its
 * private part), but the salted HMAC session also authenticates the
 * response, which a password session does not.
 */
int tm_tpm_create(struct tm_tpm *t, ESYS_TR parent, const TPM2B_PUBLIC *tpl,
		  TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv)
{
	TPM2B_PRIVATE *opriv = NULL;
	TPM2B_PUBLIC *opub = NULL;
	ESYS_TR s = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret;

	ret = tm_start_session(t, TPM2_SE_HMAC, parent,
			       TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT, &s);
	if (ret)
		return ret;
	rc = Esys_Create(t->ectx, parent, s, ESYS_TR_NONE, ESYS_TR_NONE,
			 &tm_no_sensitive, tpl, &tm_no_outside_info,
			 &tm_no_creation_pcrs, &opriv, &opub, NULL, NULL, NULL);
	tm_tpm_flush(t, &s);
	if (rc)
		return tm_fail_tss(rc, "Create");
	*pub = *opub;
	*priv = *opriv;
	Esys_Free(opub);
	Esys_Free(opriv);
	return 0;
}

int tm_tpm_load(struct tm_tpm *t, ESYS_TR parent, const TPM2B_PUBLIC *pub,
		const TPM2B_PRIVATE *priv, ESYS_TR *h)
{
	TSS2_RC rc;

	rc = Esys_Load(t->ectx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE,
		       ESYS_TR_NONE, priv, pub, h);
	if (rc)
		return tm_fail_tss(rc, "Load");
	return 0;
}

int tm_tpm_activate(struct tm_tpm *t, ESYS_TR ak, ESYS_TR ek,
		    const TPM2B_ID_OBJECT *blob,
		    const TPM2B_ENCRYPTED_SECRET *secret, TPM2B_DIGEST *cred)
{
	ESYS_TR s = ESYS_TR_NONE;
	TPM2B_DIGEST *out = NULL;
	TSS2_RC rc;
	int ret;

	/* salted to the EK, which the caller checked: certInfo, encrypted */
	ret = tm_start_session(t, TPM2_SE_POLICY, ek, TPMA_SESSION_ENCRYPT, &s);
	if (ret)
		return ret;
	rc = Esys_PolicySecret(t->ectx, ESYS_TR_RH_ENDORSEMENT, s,
			       ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			       NULL, NULL, NULL, 0, NULL, NULL);
	if (rc) {
		ret = tm_fail_tss(rc, "PolicySecret(endorsement)");
		goto out;
	}
	rc = Esys_ActivateCredential(t->ectx, ak, ek, ESYS_TR_PASSWORD, s,
				     ESYS_TR_NONE, blob, secret, &out);
	if (rc) {
		ret = tm_fail_tss(rc, "ActivateCredential");
		goto out;
	}
	*cred = *out;
	OPENSSL_cleanse(out, sizeof(*out));
	Esys_Free(out);
out:
	tm_tpm_flush(t, &s);
	return ret;
}

/* Hand over ESAPI's results and free them. */
/* The TPM's attestation and signature, the signature in canonical form. */
static int tm_take_attest(TPM2B_ATTEST *in, TPMT_SIGNATURE *isig,
			  TPM2B_ATTEST *attest, TPMT_SIGNATURE *sig)
{
	*attest = *in;
	*sig = *isig;
	Esys_Free(in);
	Esys_Free(isig);
	if (sig->sigAlg != TPM2_ALG_ECDSA)
		return tm_fail(TM_EXIT_ERROR,
			       "the AK signed with algorithm 0x%x, not ECDSA",
			       sig->sigAlg);
	return tm_ecdsa_canonicalize(&sig->signature.ecdsa);
}

int tm_tpm_quote(struct tm_tpm *t, ESYS_TR ak, const TPM2B_DATA *nonce,
		 const TPML_PCR_SELECTION *sel, TPM2B_ATTEST *attest,
		 TPMT_SIGNATURE *sig)
{
	TPMT_SIGNATURE *osig = NULL;
	TPM2B_ATTEST *out = NULL;
	TSS2_RC rc;

	rc = Esys_Quote(t->ectx, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			ESYS_TR_NONE, nonce, &tm_scheme_key, sel, &out, &osig);
	if (rc)
		return tm_fail_tss(rc, "Quote");
	return tm_take_attest(out, osig, attest, sig);
}

int tm_tpm_certify(struct tm_tpm *t, ESYS_TR obj, ESYS_TR ak,
		   const TPM2B_DATA *nonce, TPM2B_ATTEST *attest,
		   TPMT_SIGNATURE *sig)
{
	TPMT_SIGNATURE *osig = NULL;
	TPM2B_ATTEST *out = NULL;
	TSS2_RC rc;

	rc = Esys_Certify(t->ectx, obj, ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD,
			  ESYS_TR_NONE, nonce, &tm_scheme_key, &out, &osig);
	if (rc)
		return tm_fail_tss(rc, "Certify");
	return tm_take_attest(out, osig, attest, sig);
}

int tm_tpm_policy_pcr(struct tm_tpm *t, const TPML_PCR_SELECTION *sel,
		      const TPM2B_DIGEST *pcr_digest, TPM2B_DIGEST *policy)
{
	TPM2B_DIGEST *out = NULL;
	ESYS_TR s = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret;

	ret = tm_start_session(t, TPM2_SE_TRIAL, ESYS_TR_NONE, 0, &s);
	if (ret)
		return ret;
	rc = Esys_PolicyPCR(t->ectx, s, ESYS_TR_NONE, ESYS_TR_NONE,
			    ESYS_TR_NONE, pcr_digest, sel);
	if (!rc)
		rc = Esys_PolicyGetDigest(t->ectx, s, ESYS_TR_NONE,
					  ESYS_TR_NONE, ESYS_TR_NONE, &out);
	if (rc) {
		ret = tm_fail_tss(rc, "PolicyPCR (trial)");
		goto out;
	}
	*policy = *out;
	Esys_Free(out);
out:
	tm_tpm_flush(t, &s);
	return ret;
}

static int tm_is_policy_fail(TSS2_RC rc)
{
	/* format-one response code, session/handle/parameter number masked */
	return (rc & TPM2_RC_FMT1) &&
	       (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_POLICY_FAIL;
}

int tm_tpm_ecdh_zgen(struct tm_tpm *t, ESYS_TR mk,
		     const TPML_PCR_SELECTION *sel, const TPM2B_ECC_POINT *in,
		     TPM2B_ECC_POINT *z)
{
	static const TPM2B_DIGEST current = { 0 };
	TPM2B_ECC_POINT *out = NULL;
	ESYS_TR s = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret;

	/*
	 * Salted to the migration key, whose public this process loaded from
	 * its state (the token's): outPoint, Z, returns encrypted.
	 */
	ret = tm_start_session(t, TPM2_SE_POLICY, mk, TPMA_SESSION_ENCRYPT, &s);
	if (ret)
		return ret;
	rc = Esys_PolicyPCR(t->ectx, s, ESYS_TR_NONE, ESYS_TR_NONE,
			    ESYS_TR_NONE, &current, sel);
	if (rc) {
		ret = tm_fail_tss(rc, "PolicyPCR");
		goto out;
	}
	rc = Esys_ECDH_ZGen(t->ectx, mk, s, ESYS_TR_NONE, ESYS_TR_NONE, in,
			    &out);
	if (tm_is_policy_fail(rc)) {
		ret = tm_fail(TM_EXIT_KEY_POLICY,
			      "the TPM refused the migration key: its PCRs no longer hold the certified baseline values (%s)",
			      Tss2_RC_Decode(rc));
		goto out;
	}
	if (rc) {
		ret = tm_fail_tss(rc, "ECDH_ZGen");
		goto out;
	}
	*z = *out;
	OPENSSL_cleanse(out, sizeof(*out));
	Esys_Free(out);
out:
	tm_tpm_flush(t, &s);
	return ret;
}

int tm_tpm_pcr_read(struct tm_tpm *t, const TPML_PCR_SELECTION *sel,
		    TPM2B_DIGEST *values, unsigned int max, unsigned int *n)
{
	TPML_PCR_SELECTION want = *sel, *got = NULL;
	TPMS_PCR_SELECTION *w = &want.pcrSelections[0], *g;
	TPML_DIGEST *vals = NULL;
	unsigned int i, k = 0;
	TSS2_RC rc;
	int more;

	if (sel->count != 1)
		return tm_fail(TM_EXIT_ERROR, "PCR read needs one bank");
	do {
		rc = Esys_PCR_Read(t->ectx, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, &want, NULL, &got, &vals);
		if (rc)
			return tm_fail_tss(rc, "PCR_Read");
		g = &got->pcrSelections[0];
		if (got->count != 1 || !vals->count || k + vals->count > max) {
			Esys_Free(got);
			Esys_Free(vals);
			return tm_fail(TM_EXIT_ERROR,
				       "the TPM does not have the requested PCR bank");
		}
		for (i = 0; i < vals->count; i++)
			values[k++] = vals->digests[i];
		more = 0;
		for (i = 0; i < w->sizeofSelect; i++) {
			w->pcrSelect[i] &= ~g->pcrSelect[i];
			more |= w->pcrSelect[i];
		}
		Esys_Free(got);
		Esys_Free(vals);
	} while (more);
	*n = k;
	return 0;
}
