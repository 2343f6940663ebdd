/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TPM 2.0 structures checked and computed in software with OpenSSL and
 * libtss2-mu: object names, public areas as EVP_PKEYs, TPM2_MakeCredential,
 * PCR and PolicyPCR digests, and verification of signed attestations.
 * Nothing here talks to a TPM; the TTP and the verifying side of the
 * handshake use it.
 */
#ifndef TRUSTMIG_TPMSW_H
#define TRUSTMIG_TPMSW_H

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

/* Digest size of a TPM hash algorithm, 0 if unsupported. */
size_t tm_hash_size(TPMI_ALG_HASH alg);
/* "sha256" etc., NULL if unsupported. */
const char *tm_hash_name(TPMI_ALG_HASH alg);
int tm_hash_from_name(const char *name, TPMI_ALG_HASH *alg);

/* Name of an object: nameAlg || H_nameAlg(marshalled TPMT_PUBLIC). */
int tm_public_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *name);
/* An ECC (NIST P-256/P-384) or RSA public area as an OpenSSL key. */
int tm_public_to_pkey(const TPM2B_PUBLIC *pub, EVP_PKEY **pkey);
/* The public point of an EC key in TPM form. */
int tm_pkey_to_point(EVP_PKEY *key, TPMS_ECC_POINT *pt);
/* The x-coordinate of ECDH(@priv, @peer), exactly @size bytes. */
int tm_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, unsigned char *z, size_t size);
/* True if the two public areas marshal to the same bytes. */
int tm_public_equal(const TPM2B_PUBLIC *a, const TPM2B_PUBLIC *b);

/*
 * TPM2_MakeCredential in software (TPM 2.0 Part 1, section 24 and annex
 * B.10/C.6): protect @credential for the TPM holding @ek so that only an
 * ActivateCredential with the object named @name loaded in that same TPM
 * can recover it. Supports ECC (ECDH + KDFe) and RSA (OAEP) EKs with an
 * AES-128-CFB symmetric definition, i.e. the TCG EK templates.
 */
int tm_make_credential(const TPM2B_PUBLIC *ek, const TPM2B_NAME *name,
		       const TPM2B_DIGEST *credential, TPM2B_ID_OBJECT *blob,
		       TPM2B_ENCRYPTED_SECRET *secret);

/*
 * SHA-256 over the concatenation of @values (the PCR values of one bank, in
 * selection order): the pcrDigest of TPMS_QUOTE_INFO for a SHA-256 signing
 * scheme and of TPM2_PolicyPCR in a SHA-256 session.
 */
int tm_pcr_digest(const TPM2B_DIGEST *values, unsigned int n,
		  TPM2B_DIGEST *digest);
/* SHA-256 policy digest of a fresh session after TPM2_PolicyPCR. */
int tm_policy_pcr(const TPML_PCR_SELECTION *sel,
		  const TPM2B_DIGEST *pcr_digest, TPM2B_DIGEST *policy);
/* True if the selections marshal to the same bytes. */
int tm_pcr_selection_equal(const TPML_PCR_SELECTION *a,
			   const TPML_PCR_SELECTION *b);

/*
 * Put the TPM's ECDSA signature @e in the one form verifiers accept:
 * 32-byte r and s, s <= n/2 (the other of s and n - s verifies as well).
 */
int tm_ecdsa_canonicalize(TPMS_SIGNATURE_ECDSA *e);

/*
 * Verify that @sig is @signer's signature over the attestation structure
 * @attest (ECDSA-SHA256 in canonical form), and unmarshal it; checks that it
 * is TPM-generated (magic) and of type @type. Returns @code on any failure.
 */
int tm_attest_verify(const TPM2B_ATTEST *attest, const TPMT_SIGNATURE *sig,
		     EVP_PKEY *signer, TPM2_ST type, int code,
		     TPMS_ATTEST *out);

/*
 * Verify a quote: signed by @signer (TM_EXIT_QUOTE_SIG), over @nonce
 * (TM_EXIT_QUOTE_NONCE; @nonce_what names it in the reason), of exactly
 * the PCR selection and PCR digest of @state ("baseline ID version N",
 * for the reason; TM_EXIT_QUOTE_PCRS).
 */
int tm_quote_verify(const TPM2B_ATTEST *attest, const TPMT_SIGNATURE *sig,
		    EVP_PKEY *signer, const unsigned char *nonce,
		    size_t nonce_len, const char *nonce_what,
		    const TPML_PCR_SELECTION *sel,
		    const TPM2B_DIGEST *pcr_digest, const char *state);

/*
 * Policy checks shared by the TTP and the token verifier. The AK must be a
 * restricted signing key that never leaves its TPM. The migration key must
 * be an ECC P-256 decryption key that never leaves its TPM, whose user role
 * needs a policy session (no userWithAuth), with authPolicy @policy.
 * Return TM_EXIT_AK_ATTRS / TM_EXIT_MK_ATTRS / TM_EXIT_MK_POLICY.
 */
int tm_check_ak_public(const TPM2B_PUBLIC *ak);
int tm_check_mk_public(const TPM2B_PUBLIC *mk, const TPM2B_DIGEST *policy);

#endif /* TRUSTMIG_TPMSW_H */
