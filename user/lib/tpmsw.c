// SPDX-License-Identifier: GPL-2.0
/*
 * TPM 2.0 structures checked and computed in software (OpenSSL + libtss2-mu).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "tpmsw.h"
#include "util.h"

static const struct {
	TPMI_ALG_HASH alg;
	const char *name;
	const char *md;
	size_t size;
} tm_hashes[] = {
	{ TPM2_ALG_SHA1, "sha1", "SHA1", 20 },
	{ TPM2_ALG_SHA256, "sha256", "SHA256", 32 },
	{ TPM2_ALG_SHA384, "sha384", "SHA384", 48 },
	{ TPM2_ALG_SHA512, "sha512", "SHA512", 64 },
};

static int tm_hash_index(TPMI_ALG_HASH alg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tm_hashes); i++)
		if (tm_hashes[i].alg == alg)
			return i;
	return -1;
}

size_t tm_hash_size(TPMI_ALG_HASH alg)
{
	int i = tm_hash_index(alg);

	return i < 0 ? 0 : tm_hashes[i].size;
}

const char *tm_hash_name(TPMI_ALG_HASH alg)
{
	int i = tm_hash_index(alg);

	return i < 0 ? NULL : tm_hashes[i].name;
}

static const char *tm_hash_md(TPMI_ALG_HASH alg)
{
	int i = tm_hash_index(alg);

	return i < 0 ? NULL : tm_hashes[i].md;
}

int tm_hash_from_name(const char *name, TPMI_ALG_HASH *alg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tm_hashes); i++) {
		if (!strcmp(tm_hashes[i].name, name)) {
			*alg = tm_hashes[i].alg;
			return 0;
		}
	}
	return tm_fail(TM_EXIT_INPUT, "unsupported hash algorithm \"%s\"",
		       name);
}

static int tm_digest(TPMI_ALG_HASH alg, const void *data, size_t len,
		     unsigned char *out)
{
	const char *md = tm_hash_md(alg);
	size_t n;

	if (!md)
		return tm_fail(TM_EXIT_INPUT, "unsupported hash algorithm 0x%x",
			       alg);
	if (!EVP_Q_digest(NULL, md, NULL, data, len, out, &n))
		return tm_fail_ssl(TM_EXIT_ERROR, "digest failed");
	return 0;
}

int tm_public_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *name)
{
	unsigned char buf[sizeof(TPMT_PUBLIC)];
	TPMI_ALG_HASH alg = pub->publicArea.nameAlg;
	size_t off = 0;
	TSS2_RC rc;

	if (!tm_hash_size(alg))
		return tm_fail(TM_EXIT_INPUT, "object has unsupported nameAlg");
	rc = Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, buf, sizeof(buf),
					 &off);
	if (rc)
		return tm_fail_tss(rc, "marshal public area");
	name->size = 2 + tm_hash_size(alg);
	name->name[0] = alg >> 8;
	name->name[1] = alg & 0xff;
	return tm_digest(alg, buf, off, name->name + 2);
}

int tm_public_equal(const TPM2B_PUBLIC *a, const TPM2B_PUBLIC *b)
{
	unsigned char ba[sizeof(TPMT_PUBLIC)], bb[sizeof(TPMT_PUBLIC)];
	size_t oa = 0, ob = 0;

	if (Tss2_MU_TPMT_PUBLIC_Marshal(&a->publicArea, ba, sizeof(ba), &oa) ||
	    Tss2_MU_TPMT_PUBLIC_Marshal(&b->publicArea, bb, sizeof(bb), &ob))
		return 0;
	return oa == ob && !memcmp(ba, bb, oa);
}

static const char *tm_curve_name(TPMI_ECC_CURVE curve, size_t *size)
{
	switch (curve) {
	case TPM2_ECC_NIST_P256:
		*size = 32;
		return "P-256";
	case TPM2_ECC_NIST_P384:
		*size = 48;
		return "P-384";
	default:
		return NULL;
	}
}

static int tm_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld,
			    EVP_PKEY **pkey)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int ret = TM_EXIT_ERROR;

	*pkey = NULL;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot build %s key", type);
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		ret = tm_fail_ssl(TM_EXIT_INPUT, "invalid %s public key", type);
		goto out;
	}
	ret = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return ret;
}

static int tm_ecc_to_pkey(const TPMT_PUBLIC *p, EVP_PKEY **pkey)
{
	const TPMS_ECC_POINT *q = &p->unique.ecc;
	unsigned char pt[1 + 2 * TPM2_MAX_ECC_KEY_BYTES];
	OSSL_PARAM_BLD *bld;
	const char *curve;
	size_t size;
	int ret;

	curve = tm_curve_name(p->parameters.eccDetail.curveID, &size);
	if (!curve)
		return tm_fail(TM_EXIT_INPUT, "unsupported ECC curve 0x%x",
			       p->parameters.eccDetail.curveID);
	if (q->x.size != size || q->y.size != size)
		return tm_fail(TM_EXIT_INPUT, "malformed ECC point");
	pt[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(pt + 1, q->x.buffer, size);
	memcpy(pt + 1 + size, q->y.buffer, size);
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     curve, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					      pt, 1 + 2 * size)) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot build EC key");
		goto out;
	}
	ret = tm_pkey_fromdata("EC", bld, pkey);
out:
	OSSL_PARAM_BLD_free(bld);
	return ret;
}

static int tm_rsa_to_pkey(const TPMT_PUBLIC *p, EVP_PKEY **pkey)
{
	unsigned long exp = p->parameters.rsaDetail.exponent;
	OSSL_PARAM_BLD *bld;
	BIGNUM *n, *e;
	int ret;

	n = BN_bin2bn(p->unique.rsa.buffer, p->unique.rsa.size, NULL);
	e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (!n || !e || !bld || !BN_set_word(e, exp ? exp : 65537) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot build RSA key");
		goto out;
	}
	ret = tm_pkey_fromdata("RSA", bld, pkey);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(e);
	BN_free(n);
	return ret;
}

int tm_public_to_pkey(const TPM2B_PUBLIC *pub, EVP_PKEY **pkey)
{
	switch (pub->publicArea.type) {
	case TPM2_ALG_ECC:
		return tm_ecc_to_pkey(&pub->publicArea, pkey);
	case TPM2_ALG_RSA:
		return tm_rsa_to_pkey(&pub->publicArea, pkey);
	default:
		return tm_fail(TM_EXIT_INPUT, "unsupported key type 0x%x",
			       pub->publicArea.type);
	}
}

/*
 * KDFa of TPM 2.0 Part 1 section 11.4.10.2 is NIST SP 800-108 counter mode
 * with HMAC, a 32-bit counter, Label || 0x00 || Context and a 32-bit L:
 * exactly OpenSSL's KBKDF with its defaults.
 */
static int tm_kdfa(TPMI_ALG_HASH alg, const unsigned char *key, size_t klen,
		   const char *label, const unsigned char *ctx, size_t clen,
		   unsigned char *out, size_t olen)
{
	OSSL_PARAM params[6], *p = params;
	EVP_KDF_CTX *kctx = NULL;
	EVP_KDF *kdf;
	int ret = 0;

	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)tm_hash_md(alg), 0);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)key, klen);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 (void *)label, strlen(label));
	p += 4;
	if (clen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
							 (void *)ctx, clen);
	*p = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
	if (kdf)
		kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx || EVP_KDF_derive(kctx, out, olen, params) <= 0)
		ret = tm_fail_ssl(TM_EXIT_ERROR, "KDFa failed");
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

/*
 * KDFe of TPM 2.0 Part 1 section 11.4.10.3 is the NIST SP 800-56A one-step
 * KDF H(counter || Z || OtherInfo) with OtherInfo = Use || PartyUInfo ||
 * PartyVInfo, Use being NUL-terminated: OpenSSL's SSKDF.
 */
static int tm_kdfe(TPMI_ALG_HASH alg, const unsigned char *z, size_t zlen,
		   const char *use, const unsigned char *u, size_t ulen,
		   const unsigned char *v, size_t vlen, unsigned char *out,
		   size_t olen)
{
	unsigned char info[16 + 2 * TPM2_MAX_ECC_KEY_BYTES];
	size_t n = strlen(use) + 1;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[4];
	EVP_KDF *kdf;
	int ret = 0;

	if (n > 16 || ulen > TPM2_MAX_ECC_KEY_BYTES ||
	    vlen > TPM2_MAX_ECC_KEY_BYTES)
		return tm_fail(TM_EXIT_ERROR, "KDFe input too long");
	memcpy(info, use, n);
	memcpy(info + n, u, ulen);
	memcpy(info + n + ulen, v, vlen);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)tm_hash_md(alg),
						     0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      (void *)z, zlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						      info, n + ulen + vlen);
	params[3] = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	if (kdf)
		kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx || EVP_KDF_derive(kctx, out, olen, params) <= 0)
		ret = tm_fail_ssl(TM_EXIT_ERROR, "KDFe failed");
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

int tm_pkey_to_point(EVP_PKEY *key, TPMS_ECC_POINT *pt)
{
	unsigned char buf[1 + 2 * TPM2_MAX_ECC_KEY_BYTES];
	size_t len, size;

	if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buf,
					     sizeof(buf), &len) ||
	    len < 3 || !(len & 1) || buf[0] != POINT_CONVERSION_UNCOMPRESSED)
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot export an EC point");
	size = (len - 1) / 2;
	pt->x.size = size;
	pt->y.size = size;
	memcpy(pt->x.buffer, buf + 1, size);
	memcpy(pt->y.buffer, buf + 1 + size, size);
	return 0;
}

int tm_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, unsigned char *z, size_t size)
{
	EVP_PKEY_CTX *ctx;
	size_t zlen = size;
	int ret = 0;

	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 ||
	    EVP_PKEY_derive_set_peer(ctx, peer) <= 0 ||
	    EVP_PKEY_derive(ctx, z, &zlen) <= 0 || zlen != size)
		ret = tm_fail_ssl(TM_EXIT_ERROR, "ECDH failed");
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* ECDH on the EK's curve; returns the seed and the ephemeral point. */
static int tm_seed_ecc(const TPM2B_PUBLIC *ek, EVP_PKEY *ekkey,
		       unsigned char *seed, size_t slen,
		       TPM2B_ENCRYPTED_SECRET *secret)
{
	const TPMS_ECC_POINT *q = &ek->publicArea.unique.ecc;
	unsigned char z[TPM2_MAX_ECC_KEY_BYTES];
	TPMS_ECC_POINT eph = { 0 };
	EVP_PKEY *key;
	size_t size = 0, off = 0;
	const char *curve;
	TSS2_RC rc;
	int ret;

	curve = tm_curve_name(ek->publicArea.parameters.eccDetail.curveID,
			      &size);
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	if (!key)
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot generate an EC key");
	ret = tm_ecdh(key, ekkey, z, size);
	if (!ret)
		ret = tm_pkey_to_point(key, &eph);
	if (!ret)
		ret = tm_kdfe(ek->publicArea.nameAlg, z, size, "IDENTITY",
			      eph.x.buffer, eph.x.size, q->x.buffer,
			      q->x.size, seed, slen);
	if (ret)
		goto out;
	rc = Tss2_MU_TPMS_ECC_POINT_Marshal(&eph, secret->secret,
					    sizeof(secret->secret), &off);
	if (rc) {
		ret = tm_fail_tss(rc, "marshal ECC point");
		goto out;
	}
	secret->size = off;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_free(key);
	return ret;
}

/* A random seed, RSA-OAEP encrypted to the EK with label "IDENTITY". */
static int tm_seed_rsa(const TPM2B_PUBLIC *ek, EVP_PKEY *ekkey,
		       unsigned char *seed, size_t slen,
		       TPM2B_ENCRYPTED_SECRET *secret)
{
	const char *md = tm_hash_md(ek->publicArea.nameAlg);
	EVP_PKEY_CTX *ctx;
	size_t olen = sizeof(secret->secret);
	char *label;
	int ret = 0;

	label = OPENSSL_strdup("IDENTITY");
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ekkey, NULL);
	if (!label || !ctx || RAND_bytes(seed, slen) != 1 ||
	    EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, md, NULL) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, md, NULL) <= 0 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, 9) <= 0) {
		OPENSSL_free(label);
		ret = tm_fail_ssl(TM_EXIT_ERROR, "RSA-OAEP setup failed");
		goto out;
	}
	if (EVP_PKEY_encrypt(ctx, secret->secret, &olen, seed, slen) <= 0) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "RSA-OAEP to the EK failed");
		goto out;
	}
	secret->size = olen;
out:
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

static int tm_check_ek_sym(const TPMT_PUBLIC *p)
{
	const TPMT_SYM_DEF_OBJECT *sym;

	if (p->type == TPM2_ALG_ECC)
		sym = &p->parameters.eccDetail.symmetric;
	else if (p->type == TPM2_ALG_RSA)
		sym = &p->parameters.rsaDetail.symmetric;
	else
		return tm_fail(TM_EXIT_INPUT, "EK is neither RSA nor ECC");
	if (sym->algorithm != TPM2_ALG_AES || sym->keyBits.aes != 128 ||
	    sym->mode.aes != TPM2_ALG_CFB || !tm_hash_size(p->nameAlg))
		return tm_fail(TM_EXIT_INPUT,
			       "EK is not an AES-128-CFB storage key");
	return 0;
}

int tm_make_credential(const TPM2B_PUBLIC *ek, const TPM2B_NAME *name,
		       const TPM2B_DIGEST *credential, TPM2B_ID_OBJECT *blob,
		       TPM2B_ENCRYPTED_SECRET *secret)
{
	static const unsigned char iv[16];
	unsigned char seed[TPM2_SHA512_DIGEST_SIZE];
	unsigned char symkey[16], hmackey[TPM2_SHA512_DIGEST_SIZE];
	unsigned char plain[sizeof(TPM2B_DIGEST)];
	unsigned char mac_in[sizeof(TPM2B_DIGEST) + sizeof(TPMU_NAME)];
	TPMI_ALG_HASH alg = ek->publicArea.nameAlg;
	TPM2B_DIGEST outer = { 0 };
	EVP_CIPHER_CTX *cctx = NULL;
	EVP_PKEY *ekkey = NULL;
	size_t hlen, plen = 0, off = 0, n;
	int ret, outl, finl;
	TSS2_RC rc;

	ret = tm_check_ek_sym(&ek->publicArea);
	if (ret)
		return ret;
	hlen = tm_hash_size(alg);
	ret = tm_public_to_pkey(ek, &ekkey);
	if (ret)
		return ret;
	if (ek->publicArea.type == TPM2_ALG_ECC)
		ret = tm_seed_ecc(ek, ekkey, seed, hlen, secret);
	else
		ret = tm_seed_rsa(ek, ekkey, seed, hlen, secret);
	if (ret)
		goto out;

	ret = tm_kdfa(alg, seed, hlen, "STORAGE", name->name, name->size,
		      symkey, sizeof(symkey));
	if (ret)
		goto out;
	rc = Tss2_MU_TPM2B_DIGEST_Marshal(credential, plain, sizeof(plain),
					  &plen);
	if (rc) {
		ret = tm_fail_tss(rc, "marshal credential");
		goto out;
	}
	cctx = EVP_CIPHER_CTX_new();
	if (!cctx ||
	    !EVP_EncryptInit_ex2(cctx, EVP_aes_128_cfb128(), symkey, iv, NULL) ||
	    !EVP_EncryptUpdate(cctx, mac_in, &outl, plain, plen) ||
	    !EVP_EncryptFinal_ex(cctx, mac_in + outl, &finl)) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "credential encryption failed");
		goto out;
	}
	plen = outl + finl;

	/* outerHMAC = HMAC(KDFa(seed, "INTEGRITY"), encIdentity || name) */
	ret = tm_kdfa(alg, seed, hlen, "INTEGRITY", NULL, 0, hmackey, hlen);
	if (ret)
		goto out;
	memcpy(mac_in + plen, name->name, name->size);
	if (!EVP_Q_mac(NULL, "HMAC", NULL, tm_hash_md(alg), NULL, hmackey,
		       hlen, mac_in, plen + name->size, outer.buffer,
		       sizeof(outer.buffer), &n)) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "credential HMAC failed");
		goto out;
	}
	outer.size = n;
	rc = Tss2_MU_TPM2B_DIGEST_Marshal(&outer, blob->credential,
					  sizeof(blob->credential), &off);
	if (rc || off + plen > sizeof(blob->credential)) {
		ret = tm_fail(TM_EXIT_ERROR, "credential blob too large");
		goto out;
	}
	memcpy(blob->credential + off, mac_in, plen);
	blob->size = off + plen;
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(symkey, sizeof(symkey));
	OPENSSL_cleanse(hmackey, sizeof(hmackey));
	OPENSSL_cleanse(plain, sizeof(plain));
	EVP_CIPHER_CTX_free(cctx);
	EVP_PKEY_free(ekkey);
	return ret;
}

int tm_pcr_digest(const TPM2B_DIGEST *values, unsigned int n,
		  TPM2B_DIGEST *digest)
{
	EVP_MD_CTX *ctx;
	unsigned int i, len;
	int ok;

	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, values[i].buffer, values[i].size);
	ok = ok && EVP_DigestFinal_ex(ctx, digest->buffer, &len);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return tm_fail_ssl(TM_EXIT_ERROR, "PCR digest failed");
	digest->size = len;
	return 0;
}

int tm_policy_pcr(const TPML_PCR_SELECTION *sel,
		  const TPM2B_DIGEST *pcr_digest, TPM2B_DIGEST *policy)
{
	unsigned char buf[TPM2_SHA256_DIGEST_SIZE + 4 + sizeof(TPML_PCR_SELECTION) +
		    TPM2_SHA256_DIGEST_SIZE];
	size_t off = TPM2_SHA256_DIGEST_SIZE;
	TSS2_RC rc;

	/* policyDigest' = H(policyDigest || TPM_CC_PolicyPCR || pcrs || d) */
	memset(buf, 0, off);
	rc = Tss2_MU_UINT32_Marshal(TPM2_CC_PolicyPCR, buf, sizeof(buf), &off);
	if (!rc)
		rc = Tss2_MU_TPML_PCR_SELECTION_Marshal(sel, buf, sizeof(buf),
							&off);
	if (rc)
		return tm_fail_tss(rc, "marshal PCR selection");
	if (pcr_digest->size != TPM2_SHA256_DIGEST_SIZE)
		return tm_fail(TM_EXIT_INPUT, "PCR digest is not SHA-256");
	memcpy(buf + off, pcr_digest->buffer, pcr_digest->size);
	off += pcr_digest->size;
	policy->size = TPM2_SHA256_DIGEST_SIZE;
	return tm_digest(TPM2_ALG_SHA256, buf, off, policy->buffer);
}

int tm_pcr_selection_equal(const TPML_PCR_SELECTION *a,
			   const TPML_PCR_SELECTION *b)
{
	unsigned char ba[sizeof(*a)], bb[sizeof(*b)];
	size_t oa = 0, ob = 0;

	if (Tss2_MU_TPML_PCR_SELECTION_Marshal(a, ba, sizeof(ba), &oa) ||
	    Tss2_MU_TPML_PCR_SELECTION_Marshal(b, bb, sizeof(bb), &ob))
		return 0;
	return oa == ob && !memcmp(ba, bb, oa);
}

/*
 * One signature, one encoding.  ECDSA accepts (r, n - s) as well as
 * (r, s), and a TPM2B scalar takes any number of leading zero bytes, while
 * the handshake hashes a signature's bytes into its transcript: anyone
 * could re-encode a signature seen on the wire into another one that
 * verifies.  Signers send 32-byte r and s with s <= n/2 (P-256, the one
 * curve of AKs: tm_check_ak_public), verifiers accept nothing else.
 */
#define TM_P256_BYTES	32

struct tm_ecdsa_nums {
	BIGNUM *r, *s, *n, *half_n;
};

static void tm_ecdsa_nums_free(struct tm_ecdsa_nums *x)
{
	BN_free(x->r);
	BN_free(x->s);
	BN_free(x->n);
	BN_free(x->half_n);
}

static int tm_ecdsa_nums(const TPMS_SIGNATURE_ECDSA *e,
			 struct tm_ecdsa_nums *x)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);

	x->r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
	x->s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
	x->n = g ? BN_dup(EC_GROUP_get0_order(g)) : NULL;
	x->half_n = BN_new();
	EC_GROUP_free(g);
	if (!x->r || !x->s || !x->n || !x->half_n ||
	    !BN_rshift1(x->half_n, x->n)) {
		tm_ecdsa_nums_free(x);
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot read signature");
	}
	return 0;
}

int tm_ecdsa_canonicalize(TPMS_SIGNATURE_ECDSA *e)
{
	struct tm_ecdsa_nums x;
	int ret;

	ret = tm_ecdsa_nums(e, &x);
	if (ret)
		return ret;
	if (BN_cmp(x.s, x.half_n) > 0 && !BN_sub(x.s, x.n, x.s))
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot normalise signature");
	if (!ret &&
	    (BN_bn2binpad(x.r, e->signatureR.buffer, TM_P256_BYTES) < 0 ||
	     BN_bn2binpad(x.s, e->signatureS.buffer, TM_P256_BYTES) < 0))
		ret = tm_fail(TM_EXIT_ERROR, "signature scalar too long for P-256");
	e->signatureR.size = TM_P256_BYTES;
	e->signatureS.size = TM_P256_BYTES;
	tm_ecdsa_nums_free(&x);
	return ret;
}

static int tm_ecdsa_canonical(const TPMS_SIGNATURE_ECDSA *e, int code)
{
	struct tm_ecdsa_nums x;
	int ret;

	if (e->signatureR.size != TM_P256_BYTES ||
	    e->signatureS.size != TM_P256_BYTES)
		return tm_fail(code,
			       "attestation signature is not in canonical form: r and s must be %d bytes, not %u and %u",
			       TM_P256_BYTES, e->signatureR.size,
			       e->signatureS.size);
	ret = tm_ecdsa_nums(e, &x);
	if (ret)
		return ret;
	if (BN_is_zero(x.r) || BN_is_zero(x.s) || BN_cmp(x.r, x.n) >= 0 ||
	    BN_cmp(x.s, x.half_n) > 0)
		ret = tm_fail(code,
			      "attestation signature is not in canonical form: 0 < r < n and 0 < s <= n/2 required");
	tm_ecdsa_nums_free(&x);
	return ret;
}

static int tm_ecdsa_der(const TPMS_SIGNATURE_ECDSA *e, unsigned char **der,
			int *len)
{
	ECDSA_SIG *sig;
	BIGNUM *r, *s;

	r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
	s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
	sig = ECDSA_SIG_new();
	if (!r || !s || !sig || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot convert signature");
	}
	*der = NULL;
	*len = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	if (*len <= 0)
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot encode signature");
	return 0;
}

int tm_attest_verify(const TPM2B_ATTEST *attest, const TPMT_SIGNATURE *sig,
		     EVP_PKEY *signer, TPM2_ST type, int code,
		     TPMS_ATTEST *out)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *der = NULL;
	size_t off = 0;
	int ret, len = 0;

	if (sig->sigAlg != TPM2_ALG_ECDSA ||
	    sig->signature.ecdsa.hash != TPM2_ALG_SHA256)
		return tm_fail(code, "attestation is not signed with ECDSA-SHA256");
	ret = tm_ecdsa_canonical(&sig->signature.ecdsa, code);
	if (!ret)
		ret = tm_ecdsa_der(&sig->signature.ecdsa, &der, &len);
	if (ret)
		return ret;
	ctx = EVP_MD_CTX_new();
	if (!ctx ||
	    EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, signer,
				    NULL) != 1 ||
	    EVP_DigestVerify(ctx, der, len, attest->attestationData,
			     attest->size) != 1) {
		ret = tm_fail_ssl(code,
				  "attestation signature does not verify with the AK");
		goto out;
	}
	memset(out, 0, sizeof(*out));
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(attest->attestationData,
					  attest->size, &off, out) ||
	    off != attest->size) {
		ret = tm_fail(TM_EXIT_INPUT, "malformed attestation structure");
		goto out;
	}
	if (out->magic != TPM2_GENERATED_VALUE || out->type != type) {
		ret = tm_fail(code, "attestation is not a TPM-generated %s",
			      type == TPM2_ST_ATTEST_QUOTE ? "quote" :
			      "certification");
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ret;
}

#define TM_KEY_FIXED	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
			 TPMA_OBJECT_SENSITIVEDATAORIGIN)

int tm_quote_verify(const TPM2B_ATTEST *attest, const TPMT_SIGNATURE *sig,
		    EVP_PKEY *signer, const unsigned char *nonce,
		    size_t nonce_len, const char *nonce_what,
		    const TPML_PCR_SELECTION *sel,
		    const TPM2B_DIGEST *pcr_digest, const char *state)
{
	const TPMS_QUOTE_INFO *qi;
	TPMS_ATTEST q;
	int ret;

	ret = tm_attest_verify(attest, sig, signer, TPM2_ST_ATTEST_QUOTE,
			       TM_EXIT_QUOTE_SIG, &q);
	if (ret)
		return ret;
	qi = &q.attested.quote;
	if (q.extraData.size != nonce_len ||
	    CRYPTO_memcmp(q.extraData.buffer, nonce, nonce_len))
		return tm_fail(TM_EXIT_QUOTE_NONCE,
			       "the quote is not over %s (stale or replayed)",
			       nonce_what);
	if (!tm_pcr_selection_equal(&qi->pcrSelect, sel))
		return tm_fail(TM_EXIT_QUOTE_PCRS,
			       "the quote covers other PCRs than %s", state);
	if (qi->pcrDigest.size != pcr_digest->size ||
	    CRYPTO_memcmp(qi->pcrDigest.buffer, pcr_digest->buffer,
			  pcr_digest->size))
		return tm_fail(TM_EXIT_QUOTE_PCRS,
			       "the quoted PCR values differ from %s: the platform is not in the certified state",
			       state);
	return 0;
}

static int tm_is_p256(const TPMT_PUBLIC *p)
{
	return p->type == TPM2_ALG_ECC && p->nameAlg == TPM2_ALG_SHA256 &&
	       p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256;
}

int tm_check_ak_public(const TPM2B_PUBLIC *ak)
{
	const TPMT_PUBLIC *p = &ak->publicArea;
	TPMA_OBJECT need = TM_KEY_FIXED | TPMA_OBJECT_RESTRICTED |
			   TPMA_OBJECT_SIGN_ENCRYPT;

	if (!tm_is_p256(p) ||
	    p->parameters.eccDetail.scheme.scheme != TPM2_ALG_ECDSA ||
	    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg !=
	    TPM2_ALG_SHA256)
		return tm_fail(TM_EXIT_AK_ATTRS,
			       "AK is not an ECC P-256 ECDSA-SHA256 key");
	if ((p->objectAttributes & need) != need ||
	    (p->objectAttributes & TPMA_OBJECT_DECRYPT))
		return tm_fail(TM_EXIT_AK_ATTRS,
			       "AK attributes 0x%08x are not fixedTPM|fixedParent|sensitiveDataOrigin|restricted|sign",
			       p->objectAttributes);
	return 0;
}

int tm_check_mk_public(const TPM2B_PUBLIC *mk, const TPM2B_DIGEST *policy)
{
	const TPMT_PUBLIC *p = &mk->publicArea;
	TPMA_OBJECT need = TM_KEY_FIXED | TPMA_OBJECT_DECRYPT;
	TPMA_OBJECT deny = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED |
			   TPMA_OBJECT_SIGN_ENCRYPT;
	const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;

	if (!tm_is_p256(p) || e->kdf.scheme != TPM2_ALG_NULL ||
	    (e->scheme.scheme != TPM2_ALG_NULL &&
	     e->scheme.scheme != TPM2_ALG_ECDH))
		return tm_fail(TM_EXIT_MK_ATTRS,
			       "migration key is not an ECC P-256 ECDH key with SHA-256 name");
	if ((p->objectAttributes & need) != need)
		return tm_fail(TM_EXIT_MK_ATTRS,
			       "migration key attributes 0x%08x lack fixedTPM|fixedParent|sensitiveDataOrigin|decrypt",
			       p->objectAttributes);
	if (p->objectAttributes & deny)
		return tm_fail(TM_EXIT_MK_ATTRS,
			       "migration key attributes 0x%08x allow %s",
			       p->objectAttributes,
			       p->objectAttributes & TPMA_OBJECT_USERWITHAUTH ?
			       "use with its authValue (userWithAuth)" :
			       "signing or restricted use");
	if (p->authPolicy.size != policy->size ||
	    CRYPTO_memcmp(p->authPolicy.buffer, policy->buffer, policy->size))
		return tm_fail(TM_EXIT_MK_POLICY,
			       "migration key authPolicy is not PolicyPCR over the baseline");
	return 0;
}
