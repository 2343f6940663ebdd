// SPDX-License-Identifier: GPL-2.0
/*
 * The migration handshake: messages as DER (OpenSSL ASN.1 templates),
 * transcript, TPM quotes, ECDH, key confirmation and HKDF key schedule.
 *
 *   Hello1   ::= SEQUENCE { nonce OCTET STRING (32), policyId UTF8String,
 *                           destinations SEQUENCE OF UTF8String,
 *                           chain SEQUENCE OF Certificate,
 *                           ephemeral OCTET STRING (65) }     -- M1
 *   Hello2   ::= SEQUENCE { nonce OCTET STRING (32),
 *                           chain SEQUENCE OF Certificate,
 *                           ephemeral OCTET STRING (65) }
 *   Attest   ::= SEQUENCE { quote OCTET STRING,       -- TPM2B_ATTEST
 *                           signature OCTET STRING,   -- TPMT_SIGNATURE
 *                           imaList OCTET STRING }    -- user/lib/ima.h
 *   M2       ::= SEQUENCE { hello Hello2, attestation Attest,
 *                           confirm OCTET STRING (32) }
 *   M3       ::= SEQUENCE { attestation Attest,
 *                           confirm OCTET STRING (32) }
 *   Status   ::= SEQUENCE { code INTEGER, reason UTF8String } -- ALERT
 *   Result   ::= SEQUENCE { outcome Status,
 *                           mac OCTET STRING (32) }           -- RESULT
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "cli.h"
#include "codec.h"
#include "handshake.h"
#include "host.h"
#include "ima.h"
#include "token.h"
#include "tpmsw.h"
#include "util.h"
#include "wire.h"

#define TM_HS_NONCE	32
#define TM_HS_POINT	65		/* uncompressed P-256 point */
#define TM_HS_MAC	32
#define TM_HS_QDATA	33		/* message type || transcript hash */
#define TM_HS_CHAIN_MAX	(1 + TM_CHAIN_MAX)	/* token, intermediates */
#define TM_HS_REASON	200

struct tm_asn_hello {
	ASN1_OCTET_STRING *nonce;
	ASN1_UTF8STRING *policy;	/* M1 only */
	struct stack_st_ASN1_UTF8STRING *dests;	/* M1 only */
	struct stack_st_X509 *chain;
	ASN1_OCTET_STRING *eph;
};

ASN1_SEQUENCE(TM_HELLO1) = {
	ASN1_SIMPLE(struct tm_asn_hello, nonce, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_hello, policy, ASN1_UTF8STRING),
	ASN1_SEQUENCE_OF(struct tm_asn_hello, dests, ASN1_UTF8STRING),
	ASN1_SEQUENCE_OF(struct tm_asn_hello, chain, X509),
	ASN1_SIMPLE(struct tm_asn_hello, eph, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_hello, TM_HELLO1)

ASN1_SEQUENCE(TM_HELLO2) = {
	ASN1_SIMPLE(struct tm_asn_hello, nonce, ASN1_OCTET_STRING),
	ASN1_SEQUENCE_OF(struct tm_asn_hello, chain, X509),
	ASN1_SIMPLE(struct tm_asn_hello, eph, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_hello, TM_HELLO2)

struct tm_asn_attest {
	ASN1_OCTET_STRING *quote;
	ASN1_OCTET_STRING *sig;
	ASN1_OCTET_STRING *ima;
};

ASN1_SEQUENCE(TM_ATTEST) = {
	ASN1_SIMPLE(struct tm_asn_attest, quote, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_attest, sig, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_attest, ima, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_attest, TM_ATTEST)

struct tm_asn_m2 {
	struct tm_asn_hello *hello;
	struct tm_asn_attest *attest;
	ASN1_OCTET_STRING *confirm;
};

ASN1_SEQUENCE(TM_M2) = {
	ASN1_SIMPLE(struct tm_asn_m2, hello, TM_HELLO2),
	ASN1_SIMPLE(struct tm_asn_m2, attest, TM_ATTEST),
	ASN1_SIMPLE(struct tm_asn_m2, confirm, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_m2, TM_M2)

struct tm_asn_m3 {
	struct tm_asn_attest *attest;
	ASN1_OCTET_STRING *confirm;
};

ASN1_SEQUENCE(TM_M3) = {
	ASN1_SIMPLE(struct tm_asn_m3, attest, TM_ATTEST),
	ASN1_SIMPLE(struct tm_asn_m3, confirm, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_m3, TM_M3)

struct tm_asn_status {
	ASN1_INTEGER *code;
	ASN1_UTF8STRING *reason;
};

ASN1_SEQUENCE(TM_STATUS) = {
	ASN1_SIMPLE(struct tm_asn_status, code, ASN1_INTEGER),
	ASN1_SIMPLE(struct tm_asn_status, reason, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_status, TM_STATUS)

struct tm_asn_result {
	struct tm_asn_status *outcome;
	ASN1_OCTET_STRING *mac;
};

ASN1_SEQUENCE(TM_RESULT) = {
	ASN1_SIMPLE(struct tm_asn_result, outcome, TM_STATUS),
	ASN1_SIMPLE(struct tm_asn_result, mac, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_result, TM_RESULT)

#define TM_NEW(type, it)	((type *)ASN1_item_new(ASN1_ITEM_rptr(it)))
#define TM_FREE(obj, it)	ASN1_item_free((ASN1_VALUE *)(obj), \
					       ASN1_ITEM_rptr(it))

/* This host's side: token, keys, ephemeral key and running transcript. */
struct tm_hs {
	int fd;
	const struct tm_hs_config *c;
	X509 *tok;
	struct stack_st_X509 *chain;	/* the intermediates after it */
	struct tm_token_info self;
	ESYS_TR ak, mk;
	EVP_PKEY *eph;
	/* the peer */
	X509 *peer_tok;
	struct tm_token_info peer;
	const struct tm_baseline *peer_bl;	/* in the policy */
	EVP_PKEY *peer_eph;
	/* transcript: the frames so far, as sent */
	unsigned char *th;
	size_t thlen;
	/* secrets: Z = ECDH(e_S, e_D) || ECDH(e_S, MK_D) */
	unsigned char z[64];
	unsigned char kconf_s[32], kconf_d[32];
};

/* --- transcript ------------------------------------------------------ */

static int tm_th_add(struct tm_hs *h, const void *p, size_t len)
{
	unsigned char *n = realloc(h->th, h->thlen + len);

	if (!n)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	memcpy(n + h->thlen, p, len);
	h->th = n;
	h->thlen += len;
	return 0;
}

static int tm_th_frame(struct tm_hs *h, unsigned char type,
		       const unsigned char *body, size_t len)
{
	unsigned char hdr[TM_WIRE_HDR] = {
		TM_WIRE_VERSION, type, len >> 24, len >> 16, len >> 8, len
	};
	int ret = tm_th_add(h, hdr, sizeof(hdr));

	return ret ? ret : tm_th_add(h, body, len);
}

/* SHA-256(transcript || @extra) */
static int tm_th_hash(const struct tm_hs *h, const void *extra, size_t elen,
		      unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, h->th, h->thlen) &&
	     EVP_DigestUpdate(ctx, extra, elen) &&
	     EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : tm_fail_ssl(TM_EXIT_ERROR, "SHA-256 failed");
}

/* --- DER ------------------------------------------------------------- */

static int tm_der(const void *obj, const ASN1_ITEM *it, unsigned char **der,
		  size_t *len)
{
	int n;

	*der = NULL;
	*len = 0;
	n = ASN1_item_i2d((const ASN1_VALUE *)obj, der, it);
	if (n <= 0)
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot encode a message");
	*len = n;
	return 0;
}

/* Strict DER: the whole buffer, and re-encoding gives the same bytes. */
static int tm_der_decode(const unsigned char *buf, size_t len,
			 const ASN1_ITEM *it,
			 const char *what, void **obj)
{
	const unsigned char *p = buf;
	unsigned char *re = NULL;
	size_t relen = 0;

	*obj = ASN1_item_d2i(NULL, &p, len, it);
	if (*obj && (size_t)(p - buf) == len &&
	    !tm_der(*obj, it, &re, &relen) && relen == len &&
	    !memcmp(re, buf, len)) {
		OPENSSL_free(re);
		return 0;
	}
	OPENSSL_free(re);
	ASN1_item_free(*obj, it);
	*obj = NULL;
	ERR_clear_error();
	return tm_fail(TM_EXIT_PROTOCOL, "malformed %s message", what);
}

/* --- messages on the wire -------------------------------------------- */

/* Fill @st with @code and @reason, and give its DER. */
static int tm_hs_status_der(struct tm_asn_status *st, int code,
			    const char *reason, unsigned char **der,
			    size_t *len)
{
	if (!ASN1_INTEGER_set(st->code, code) ||
	    !ASN1_STRING_set(st->reason, reason, -1))
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	return tm_der(st, ASN1_ITEM_rptr(TM_STATUS), der, len);
}

/* Best effort: tell the peer why we stop, and keep our own reason. */
static void tm_hs_alert(struct tm_hs *h, int code, const char *reason)
{
	struct tm_asn_status *st = TM_NEW(struct tm_asn_status, TM_STATUS);
	unsigned char *der = NULL;
	size_t len = 0;

	if (st && !tm_hs_status_der(st, code, reason, &der, &len))
		tm_wire_send(h->fd, TM_MSG_ALERT, der, len, h->c->timeout_ms);
	OPENSSL_free(der);
	TM_FREE(st, TM_STATUS);
}

static int tm_hs_refuse(struct tm_hs *h, int code)
{
	char reason[1024];

	snprintf(reason, sizeof(reason), "%s", tm_last_error());
	if (code != TM_EXIT_PEER && code != TM_EXIT_PEER_REFUSED)
		tm_hs_alert(h, code, reason);
	/* a failed send must not replace our reason */
	return tm_fail(code, "%s", reason);
}

static int tm_hs_status(const unsigned char *body, size_t len, long *code,
			char *reason, size_t size)
{
	struct tm_asn_status *st;
	int ret;

	ret = tm_der_decode(body, len, ASN1_ITEM_rptr(TM_STATUS), "status",
			    (void **)&st);
	if (ret)
		return ret;
	if (!ASN1_INTEGER_get_int64((int64_t *)code, st->code))
		*code = -1;
	tm_printable(st->reason->data, st->reason->length, reason,
		     size > TM_HS_REASON ? TM_HS_REASON : size, 0);
	ASN1_item_free((ASN1_VALUE *)st, ASN1_ITEM_rptr(TM_STATUS));
	return 0;
}

/* Receive message @want; an ALERT becomes TM_EXIT_PEER_REFUSED. */
static int tm_hs_recv(struct tm_hs *h, unsigned char want,
		      unsigned char **body, size_t *len)
{
	char reason[TM_HS_REASON];
	unsigned char type;
	long code;
	int ret;

	ret = tm_wire_recv(h->fd, &type, body, len, h->c->timeout_ms);
	if (ret)
		return ret;
	if (type == TM_MSG_ALERT && want != TM_MSG_ALERT) {
		ret = tm_hs_status(*body, *len, &code, reason, sizeof(reason));
		free(*body);
		*body = NULL;
		return ret ? ret : tm_fail(TM_EXIT_PEER_REFUSED,
					   "the peer refused the handshake (its code %ld): %s",
					   code, reason);
	}
	if (type != want) {
		free(*body);
		*body = NULL;
		return tm_fail(TM_EXIT_PROTOCOL,
			       "unexpected message type %u (expected %u)",
			       type, want);
	}
	return 0;
}

static int tm_hs_send(struct tm_hs *h, unsigned char type,
		      const unsigned char *der, size_t len)
{
	int ret = tm_wire_send(h->fd, type, der, len, h->c->timeout_ms);

	return ret ? ret : tm_th_frame(h, type, der, len);
}

/* --- keys ------------------------------------------------------------ */

static int tm_hkdf(const unsigned char salt[32], const unsigned char *ikm,
		   size_t ikmlen, const char *label, unsigned char *out,
		   size_t len)
{
	OSSL_PARAM p[5], *q = p;
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;
	int ok;

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						"SHA256", 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 (void *)salt, 32);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)ikm, ikmlen);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						 (void *)label, strlen(label));
	*q = OSSL_PARAM_construct_end();
	ok = kctx && EVP_KDF_derive(kctx, out, len, p) == 1;
	EVP_KDF_CTX_free(kctx);
	return ok ? 0 : tm_fail_ssl(TM_EXIT_ERROR, "HKDF failed");
}

/* Confirmation keys from Z, salted with H2 = SHA-256(M1 || Hello2). */
static int tm_hs_confirm_keys(struct tm_hs *h, const unsigned char h2[32])
{
	int ret;

	ret = tm_hkdf(h2, h->z, sizeof(h->z), "trustmig v1 confirm s2d",
		      h->kconf_s, sizeof(h->kconf_s));
	if (!ret)
		ret = tm_hkdf(h2, h->z, sizeof(h->z), "trustmig v1 confirm d2s",
			      h->kconf_d, sizeof(h->kconf_d));
	return ret;
}

static int tm_hmac(const unsigned char key[32], const unsigned char *data,
		   size_t len, unsigned char mac[TM_HS_MAC])
{
	size_t n = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, data, len,
		       mac, TM_HS_MAC, &n) || n != TM_HS_MAC)
		return tm_fail_ssl(TM_EXIT_ERROR, "HMAC failed");
	return 0;
}

/* HMAC-SHA-256(@key, SHA-256(transcript || @extra)) */
static int tm_hs_mac(const struct tm_hs *h, const unsigned char key[32],
		     const unsigned char *extra, size_t elen,
		     unsigned char mac[TM_HS_MAC])
{
	unsigned char d[32];
	int ret;

	ret = tm_th_hash(h, extra, elen, d);
	return ret ? ret : tm_hmac(key, d, sizeof(d), mac);
}

static int tm_hs_check_mac(const struct tm_hs *h, const unsigned char key[32],
			   const unsigned char *extra, size_t elen,
			   const ASN1_OCTET_STRING *got, const char *who)
{
	unsigned char want[TM_HS_MAC];
	int ret;

	ret = tm_hs_mac(h, key, extra, elen, want);
	if (!ret && (got->length != TM_HS_MAC ||
		     CRYPTO_memcmp(got->data, want, TM_HS_MAC)))
		ret = tm_fail(TM_EXIT_CONFIRM,
			      "key confirmation of the %s failed: it did not derive the same keys over the same transcript (tampering or a man in the middle)",
			      who);
	OPENSSL_cleanse(want, sizeof(want));
	return ret;
}

/* Traffic keys, stream id and fingerprint, salted with H4 (all frames). */
static int tm_hs_traffic(struct tm_hs *h, struct tm_hs_keys *k)
{
	unsigned char h4[32], sid[4];
	int ret;

	ret = tm_th_hash(h, NULL, 0, h4);
	if (!ret)
		ret = tm_hkdf(h4, h->z, sizeof(h->z), "trustmig v1 s2d key",
			      k->s2d_key, sizeof(k->s2d_key));
	if (!ret)
		ret = tm_hkdf(h4, h->z, sizeof(h->z), "trustmig v1 s2d salt",
			      k->s2d_salt, sizeof(k->s2d_salt));
	if (!ret)
		ret = tm_hkdf(h4, h->z, sizeof(h->z), "trustmig v1 d2s key",
			      k->d2s_key, sizeof(k->d2s_key));
	if (!ret)
		ret = tm_hkdf(h4, h->z, sizeof(h->z), "trustmig v1 d2s salt",
			      k->d2s_salt, sizeof(k->d2s_salt));
	if (!ret)
		ret = tm_hkdf(h4, h->z, sizeof(h->z), "trustmig v1 stream id",
			      sid, sizeof(sid));
	if (!ret)
		ret = tm_hkdf(h4, h->z, sizeof(h->z), "trustmig v1 fingerprint",
			      k->fingerprint, sizeof(k->fingerprint));
	if (!ret)
		ret = tm_hkdf(h4, h->z, sizeof(h->z), "trustmig v1 result",
			      k->result_key, sizeof(k->result_key));
	k->stream = (__u32)sid[0] << 24 | sid[1] << 16 | sid[2] << 8 |
		    sid[3];
	snprintf(k->peer, sizeof(k->peer), "%s", h->peer.host);
	return ret;
}

/* --- identities ------------------------------------------------------ */

static int tm_hs_self_load(struct tm_hs *h, int need_mk)
{
	ESYS_TR srk = ESYS_TR_NONE;
	TPM2B_PUBLIC pub;
	char path[4096];
	int ret;

	ret = tm_path(path, sizeof(path), h->c->state, "token.pem");
	if (!ret)
		ret = tm_cert_chain_load(path, &h->tok, &h->chain);
	if (!ret)
		ret = tm_token_info_get(h->tok, &h->self);
	if (!ret)
		ret = tm_tpm_srk(h->c->tpm, &srk);
	if (!ret)
		ret = tm_key_load(h->c->tpm, srk, h->c->state, "ak", &pub,
				  &h->ak);
	if (!ret)
		ret = tm_token_match_keys(h->tok, &h->self, &pub, &h->self.mk);
	if (!ret && need_mk)
		ret = tm_key_load(h->c->tpm, srk, h->c->state, "mk", &pub,
				  &h->mk);
	if (!ret && need_mk && !tm_public_equal(&pub, &h->self.mk))
		ret = tm_fail(TM_EXIT_TOKEN_MISMATCH,
			      "the installed token certifies another migration key");
	tm_tpm_flush(h->c->tpm, &srk);
	if (!ret) {
		h->eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (!h->eph)
			ret = tm_fail_ssl(TM_EXIT_ERROR,
					  "cannot generate an ephemeral key");
	}
	return ret;
}

static int tm_hs_push(struct stack_st_X509 *chain, X509 *x)
{
	if (!X509_up_ref(x))
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	if (!sk_X509_push(chain, x)) {
		X509_free(x);
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	}
	return 0;
}

/*
 * Our hello: random nonce, our token and the intermediate CAs between it
 * and the anchor, our ephemeral public key.
 */
static int tm_hs_hello(struct tm_hs *h, struct tm_asn_hello *m)
{
	unsigned char nonce[TM_HS_NONCE], pt[TM_HS_POINT];
	size_t n = 0;
	int i, ret;

	if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    !EVP_PKEY_get_octet_string_param(h->eph, OSSL_PKEY_PARAM_PUB_KEY,
					     pt, sizeof(pt), &n) ||
	    n != sizeof(pt))
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot make a hello");
	ret = tm_hs_push(m->chain, h->tok);
	for (i = 0; !ret && i < sk_X509_num(h->chain); i++)
		ret = tm_hs_push(m->chain, sk_X509_value(h->chain, i));
	if (ret)
		return ret;
	if (tm_os_set(m->nonce, nonce, sizeof(nonce)) ||
	    tm_os_set(m->eph, pt, sizeof(pt)))
		return TM_EXIT_ERROR;
	return 0;
}

/* A hello's fields have the sizes they must, before any is used. */
static int tm_hs_hello_check(const struct tm_asn_hello *m)
{
	int n = sk_X509_num(m->chain);

	if (n < 1 || n > TM_HS_CHAIN_MAX)
		return tm_fail(TM_EXIT_PROTOCOL,
			       "malformed hello: %d certificates, not a token and at most %d intermediate CA certificates",
			       n, TM_CHAIN_MAX);
	if (m->nonce->length != TM_HS_NONCE || m->eph->length != TM_HS_POINT ||
	    m->eph->data[0] != POINT_CONVERSION_UNCOMPRESSED)
		return tm_fail(TM_EXIT_PROTOCOL,
			       "malformed hello (nonce or ephemeral key)");
	return 0;
}

/*
 * The peer's hello: its token verified against the policy's anchors, CRLs
 * and baselines through the intermediates it sent, which are never
 * anchors; its ephemeral key a valid P-256 point.
 */
static int tm_hs_peer(struct tm_hs *h, const struct tm_asn_hello *m,
		      const struct tm_policy *pol)
{
	struct tm_verify v = { .anchors = pol->anchors, .crls = h->c->crls };
	struct stack_st_X509 *rest = NULL;
	TPM2B_PUBLIC pub = { 0 };
	int ret;

	ret = tm_hs_hello_check(m);
	if (ret)
		return ret;
	h->peer_tok = sk_X509_value(m->chain, 0);
	X509_up_ref(h->peer_tok);
	rest = sk_X509_dup(m->chain);
	if (!rest)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	sk_X509_shift(rest);
	v.untrusted = rest;
	ret = tm_token_verify(h->peer_tok, &v, &h->peer);
	sk_X509_free(rest);
	if (ret)
		return tm_fail_prefix(ret, "peer token");
	ret = tm_policy_check(pol, &h->peer, &h->peer_bl);
	if (ret)
		return ret;
	/* the ephemeral point as a TPM public area: on-curve check */
	pub.publicArea.type = TPM2_ALG_ECC;
	pub.publicArea.nameAlg = TPM2_ALG_SHA256;
	pub.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	pub.publicArea.unique.ecc.x.size = 32;
	pub.publicArea.unique.ecc.y.size = 32;
	memcpy(pub.publicArea.unique.ecc.x.buffer, m->eph->data + 1, 32);
	memcpy(pub.publicArea.unique.ecc.y.buffer, m->eph->data + 33, 32);
	ret = tm_public_to_pkey(&pub, &h->peer_eph);
	if (ret)
		return tm_fail(TM_EXIT_PROTOCOL,
			       "the peer's ephemeral key is not a P-256 point");
	return 0;
}

/*
 * A quote's qualifying data: the type of the message that carries it, then
 * the transcript hash. 33 bytes, so that no enrolment challenge, whose
 * nonce is exactly 32 bytes, can make enrol-respond quote a handshake
 * transcript with an AK certified but not yet installed (such a quote
 * would let anyone impersonate the host as a source).
 */
static void tm_hs_qdata(unsigned char type, const unsigned char th[32],
			unsigned char qd[TM_HS_QDATA])
{
	qd[0] = type;
	memcpy(qd + 1, th, 32);
}

/*
 * Quote our token's PCRs and PCR 10 over (@type, @th) into an Attest, with
 * the IMA list that PCR 10 replays to. A module loaded between reading the
 * list and quoting grows the list: read it again and quote again.
 */
static int tm_hs_quote(struct tm_hs *h, unsigned char type,
		       const unsigned char th[32], struct tm_asn_attest *a)
{
	TPM2B_DATA qd = { .size = TM_HS_QDATA };
	unsigned char *log = NULL, *after = NULL;
	size_t len = 0, alen = 0;
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
	TPML_PCR_SELECTION sel = h->self.sel;
	unsigned int try;
	int ret;

	tm_pcr_select(&sel, TM_IMA_PCR);
	tm_hs_qdata(type, th, qd.buffer);
	ret = tm_ima_read(h->c->ima_log, &log, &len);
	for (try = 0; !ret && try < 3; try++) {
		ret = tm_tpm_quote(h->c->tpm, h->ak, &qd, &sel, &attest, &sig);
		if (!ret)
			ret = tm_ima_read(h->c->ima_log, &after, &alen);
		if (ret || (alen == len && !memcmp(after, log, len)))
			break;
		free(log);
		log = after;
		len = alen;
		after = NULL;
	}
	if (!ret && try == 3)
		ret = tm_fail(TM_EXIT_MEASURED,
			      "IMA's list kept growing while this host quoted PCR %d",
			      TM_IMA_PCR);
	if (!ret)
		ret = tm_os_put_attest(a->quote, &attest);
	if (!ret)
		ret = tm_os_put_signature(a->sig, &sig);
	if (!ret)
		ret = tm_os_set(a->ima, log, len) ? TM_EXIT_ERROR : 0;
	free(log);
	free(after);
	return ret;
}

/*
 * The peer's quote: by the AK of its token, over (@type, @th), of its
 * baseline's PCR values and the PCR 10 its IMA list replays to; then the
 * list's files, if the baseline has an "ima" section.
 */
static int tm_hs_check_quote(struct tm_hs *h, const struct tm_asn_attest *a,
			     unsigned char type, const unsigned char th[32])
{
	const struct tm_baseline *b = h->peer_bl;
	unsigned char qd[TM_HS_QDATA];
	TPML_PCR_SELECTION sel;
	TPM2B_DIGEST ima, digest;
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
	char what[160];
	int ret;

	ret = tm_os_get_attest(a->quote, &attest);
	if (!ret)
		ret = tm_os_get_signature(a->sig, &sig);
	if (ret)
		return tm_fail_prefix(TM_EXIT_PROTOCOL, "malformed quote");
	ret = tm_ima_replay(a->ima->data, a->ima->length, b->bank, &ima,
			    NULL, NULL);
	if (!ret)
		ret = tm_baseline_quote(b, &ima, &sel, &digest);
	if (ret)
		return tm_fail_prefix(ret, h->peer.host);
	tm_hs_qdata(type, th, qd);
	snprintf(what, sizeof(what),
		 "baseline %s version %ld, PCR %d as its IMA list replays",
		 b->id, b->version, TM_IMA_PCR);
	ret = tm_quote_verify(&attest, &sig, X509_get0_pubkey(h->peer_tok),
			      qd, sizeof(qd), "this handshake's transcript",
			      &sel, &digest, what);
	if (ret)
		return tm_fail_prefix(ret, h->peer.host);
	/* its reasons name the host */
	return b->has_ima ? tm_ima_check(b, a->ima->data, a->ima->length,
					 h->peer.host) : 0;
}

static void tm_hs_free(struct tm_hs *h)
{
	OPENSSL_cleanse(h->z, sizeof(h->z));
	OPENSSL_cleanse(h->kconf_s, sizeof(h->kconf_s));
	OPENSSL_cleanse(h->kconf_d, sizeof(h->kconf_d));
	tm_tpm_flush(h->c->tpm, &h->ak);
	tm_tpm_flush(h->c->tpm, &h->mk);
	EVP_PKEY_free(h->eph);
	EVP_PKEY_free(h->peer_eph);
	X509_free(h->tok);
	sk_X509_pop_free(h->chain, X509_free);
	X509_free(h->peer_tok);
	tm_token_info_free(&h->self);
	tm_token_info_free(&h->peer);
	free(h->th);
}

static void tm_hs_init(struct tm_hs *h, int fd, const struct tm_hs_config *c)
{
	memset(h, 0, sizeof(*h));
	h->fd = fd;
	h->c = c;
	h->ak = ESYS_TR_NONE;
	h->mk = ESYS_TR_NONE;
}

/* --- source ---------------------------------------------------------- */

static int tm_hs_add_dest(struct tm_asn_hello *m1, const char *name)
{
	ASN1_UTF8STRING *s = ASN1_UTF8STRING_new();

	if (s && ASN1_STRING_set(s, name, -1) &&
	    sk_ASN1_UTF8STRING_push(m1->dests, s))
		return 0;
	ASN1_UTF8STRING_free(s);
	return tm_fail(TM_EXIT_ERROR, "out of memory");
}

static int tm_hs_m1(struct tm_hs *h)
{
	struct tm_asn_hello *m1 = TM_NEW(struct tm_asn_hello, TM_HELLO1);
	unsigned char *der = NULL;
	unsigned int i;
	size_t len = 0;
	int ret;

	if (!m1)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	ret = tm_hs_hello(h, m1);
	if (!ret && !ASN1_STRING_set(m1->policy, h->c->policy->id, -1))
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
	for (i = 0; !ret && i < h->c->expect->n; i++)
		ret = tm_hs_add_dest(m1, h->c->expect->name[i]);
	if (!ret)
		ret = tm_der(m1, ASN1_ITEM_rptr(TM_HELLO1), &der, &len);
	if (!ret)
		ret = tm_hs_send(h, TM_MSG_M1, der, len);
	OPENSSL_free(der);
	TM_FREE(m1, TM_HELLO1);
	return ret;
}

/*
 * S: the destination's token, verified, is of a host the source expects:
 * another host certified under the same policy (an attacker on the path
 * steered the connection there) is refused before its keys are used.
 */
static int tm_hs_src_expected(struct tm_hs *h)
{
	const struct tm_hosts *want = h->c->expect;
	char names[512];

	if (!want->n || tm_hosts_has(want, h->peer.host))
		return 0;
	tm_hosts_print(want, names, sizeof(names));
	/* a token's host name is RFC 1123 (tm_token_info_get()) */
	return tm_fail(TM_EXIT_PEER_NAME,
		       "the destination is %s, not %s%s as expected (%s)",
		       h->peer.host, want->n > 1 ? "one of " : "", names,
		       h->c->expect_from);
}

/* S: check M2, then Z = ECDH(e_S, e_D) || ECDH(e_S, MK_D). */
static int tm_hs_src_m2(struct tm_hs *h, const struct tm_asn_m2 *m2)
{
	unsigned char *hello = NULL, *att = NULL, h2[32];
	size_t hlen = 0, alen = 0;
	EVP_PKEY *mk = NULL;
	int ret;

	ret = tm_hs_peer(h, m2->hello, h->c->policy);
	if (!ret)
		ret = tm_hs_src_expected(h);
	if (!ret)
		ret = tm_der(m2->hello, ASN1_ITEM_rptr(TM_HELLO2), &hello,
			     &hlen);
	if (!ret)
		ret = tm_th_hash(h, hello, hlen, h2);
	if (!ret)
		ret = tm_hs_check_quote(h, m2->attest, TM_MSG_M2, h2);
	if (!ret)
		ret = tm_public_to_pkey(&h->peer.mk, &mk);
	if (!ret)
		ret = tm_ecdh(h->eph, h->peer_eph, h->z, 32);
	if (!ret)
		ret = tm_ecdh(h->eph, mk, h->z + 32, 32);
	if (!ret)
		ret = tm_hs_confirm_keys(h, h2);
	if (!ret)
		ret = tm_th_add(h, hello, hlen);
	if (!ret)
		ret = tm_der(m2->attest, ASN1_ITEM_rptr(TM_ATTEST), &att,
			     &alen);
	if (!ret)
		ret = tm_hs_check_mac(h, h->kconf_d, att, alen, m2->confirm,
				      "destination");
	EVP_PKEY_free(mk);
	OPENSSL_free(hello);
	OPENSSL_free(att);
	return ret;
}

static int tm_hs_m3(struct tm_hs *h)
{
	struct tm_asn_m3 *m3 = TM_NEW(struct tm_asn_m3, TM_M3);
	unsigned char *der = NULL, *att = NULL, h3[32], mac[TM_HS_MAC];
	size_t len = 0, alen = 0;
	int ret;

	if (!m3)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	ret = tm_th_hash(h, NULL, 0, h3);
	if (!ret)
		ret = tm_hs_quote(h, TM_MSG_M3, h3, m3->attest);
	if (!ret)
		ret = tm_der(m3->attest, ASN1_ITEM_rptr(TM_ATTEST), &att, &alen);
	if (!ret)
		ret = tm_hs_mac(h, h->kconf_s, att, alen, mac);
	if (!ret)
		ret = tm_os_set(m3->confirm, mac, sizeof(mac));
	if (!ret)
		ret = tm_der(m3, ASN1_ITEM_rptr(TM_M3), &der, &len);
	if (!ret)
		ret = tm_hs_send(h, TM_MSG_M3, der, len);
	OPENSSL_free(der);
	OPENSSL_free(att);
	TM_FREE(m3, TM_M3);
	return ret;
}

int tm_hs_source(int fd, const struct tm_hs_config *c, struct tm_hs_keys *k)
{
	struct tm_asn_m2 *m2 = NULL;
	unsigned char *body = NULL;
	size_t len, mark;
	struct tm_hs h;
	int ret;

	tm_hs_init(&h, fd, c);
	snprintf(k->policy, sizeof(k->policy), "%s", c->policy->id);
	ret = tm_hs_self_load(&h, 0);
	if (!ret)
		ret = tm_hs_m1(&h);
	mark = h.thlen;
	if (!ret)
		ret = tm_hs_recv(&h, TM_MSG_M2, &body, &len);
	if (!ret)
		ret = tm_der_decode(body, len, ASN1_ITEM_rptr(TM_M2), "M2",
				    (void **)&m2);
	if (!ret)
		ret = tm_hs_src_m2(&h, m2);
	/* then M2 as received replaces its parts in the transcript */
	if (!ret) {
		h.thlen = mark;
		ret = tm_th_frame(&h, TM_MSG_M2, body, len);
	}
	if (!ret)
		ret = tm_hs_m3(&h);
	if (!ret)
		ret = tm_hs_traffic(&h, k);
	if (ret)
		ret = tm_hs_refuse(&h, ret);
	TM_FREE(m2, TM_M2);
	free(body);
	tm_hs_free(&h);
	return ret;
}

/* --- destination ----------------------------------------------------- */

/*
 * D: this host is one of the destinations M1 names, if it names any: a
 * source steered here instead of the host its operator chose stops now.
 */
static int tm_hs_dst_addressed(struct tm_hs *h, const struct tm_asn_hello *m1)
{
	struct tm_hosts want = { 0 };
	ASN1_UTF8STRING *name;
	char names[512];
	int i, ret = 0;

	for (i = 0; !ret && i < sk_ASN1_UTF8STRING_num(m1->dests); i++) {
		name = sk_ASN1_UTF8STRING_value(m1->dests, i);
		ret = tm_hosts_add(&want, (const char *)name->data,
				   name->length, TM_EXIT_PROTOCOL,
				   "M1's destinations");
	}
	if (!ret && want.n && !tm_hosts_has(&want, h->self.host)) {
		tm_hosts_print(&want, names, sizeof(names));
		ret = tm_fail(TM_EXIT_PEER_NAME,
			      "this host is %s, not %s%s, which the source expects",
			      h->self.host, want.n > 1 ? "one of " : "",
			      names);
	}
	tm_hosts_free(&want);
	return ret;
}

/* D: Z = ECDH(e_D, e_S) || ECDH_ZGen(MK_D, e_S), then M2. */
static int tm_hs_m2(struct tm_hs *h, const struct tm_asn_hello *m1)
{
	struct tm_asn_m2 *m2 = TM_NEW(struct tm_asn_m2, TM_M2);
	unsigned char *hello = NULL, *att = NULL, *der = NULL;
	unsigned char h2[32], mac[TM_HS_MAC];
	TPM2B_ECC_POINT in = { 0 }, z = { 0 };
	size_t hlen = 0, alen = 0, len = 0, mark = h->thlen;
	int ret;

	if (!m2)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	in.point.x.size = 32;
	in.point.y.size = 32;
	memcpy(in.point.x.buffer, m1->eph->data + 1, 32);
	memcpy(in.point.y.buffer, m1->eph->data + 33, 32);
	ret = tm_hs_hello(h, m2->hello);
	if (!ret)
		ret = tm_tpm_ecdh_zgen(h->c->tpm, h->mk, &h->self.sel, &in, &z);
	if (!ret && z.point.x.size != 32)
		ret = tm_fail(TM_EXIT_ERROR, "ECDH_ZGen returned a bad point");
	if (!ret) {
		memcpy(h->z + 32, z.point.x.buffer, 32);
		ret = tm_ecdh(h->eph, h->peer_eph, h->z, 32);
	}
	OPENSSL_cleanse(&z, sizeof(z));
	if (!ret)
		ret = tm_der(m2->hello, ASN1_ITEM_rptr(TM_HELLO2), &hello,
			     &hlen);
	if (!ret)
		ret = tm_th_hash(h, hello, hlen, h2);
	if (!ret)
		ret = tm_hs_quote(h, TM_MSG_M2, h2, m2->attest);
	if (!ret)
		ret = tm_hs_confirm_keys(h, h2);
	if (!ret)
		ret = tm_th_add(h, hello, hlen);
	if (!ret)
		ret = tm_der(m2->attest, ASN1_ITEM_rptr(TM_ATTEST), &att, &alen);
	if (!ret)
		ret = tm_hs_mac(h, h->kconf_d, att, alen, mac);
	if (!ret)
		ret = tm_os_set(m2->confirm, mac, sizeof(mac));
	if (!ret)
		ret = tm_der(m2, ASN1_ITEM_rptr(TM_M2), &der, &len);
	if (!ret) {
		h->thlen = mark;
		ret = tm_hs_send(h, TM_MSG_M2, der, len);
	}
	OPENSSL_free(hello);
	OPENSSL_free(att);
	OPENSSL_free(der);
	TM_FREE(m2, TM_M2);
	return ret;
}

static int tm_hs_dst_m3(struct tm_hs *h, const unsigned char *body,
			size_t len)
{
	struct tm_asn_m3 *m3 = NULL;
	unsigned char *att = NULL, h3[32];
	size_t alen = 0;
	int ret;

	ret = tm_der_decode(body, len, ASN1_ITEM_rptr(TM_M3), "M3",
			    (void **)&m3);
	if (!ret)
		ret = tm_th_hash(h, NULL, 0, h3);
	if (!ret)
		ret = tm_hs_check_quote(h, m3->attest, TM_MSG_M3, h3);
	if (!ret)
		ret = tm_der(m3->attest, ASN1_ITEM_rptr(TM_ATTEST), &att, &alen);
	if (!ret)
		ret = tm_hs_check_mac(h, h->kconf_s, att, alen, m3->confirm,
				      "source");
	if (!ret)
		ret = tm_th_frame(h, TM_MSG_M3, body, len);
	OPENSSL_free(att);
	TM_FREE(m3, TM_M3);
	return ret;
}

int tm_hs_dest(int fd, const struct tm_hs_config *c, struct tm_hs_keys *k)
{
	struct tm_asn_hello *m1 = NULL;
	struct tm_policy pol = { 0 };
	unsigned char *body = NULL;
	char id[TM_POLICY_ID_MAX + 1];
	struct tm_hs h;
	size_t len;
	int ret;

	tm_hs_init(&h, fd, c);
	ret = tm_hs_recv(&h, TM_MSG_M1, &body, &len);
	if (!ret)
		ret = tm_der_decode(body, len, ASN1_ITEM_rptr(TM_HELLO1), "M1",
				    (void **)&m1);
	if (!ret)
		ret = tm_th_frame(&h, TM_MSG_M1, body, len);
	if (!ret && m1->policy->length > TM_POLICY_ID_MAX)
		ret = tm_fail(TM_EXIT_POLICY, "policy id too long");
	if (!ret) {
		tm_printable(m1->policy->data, m1->policy->length, id,
			     sizeof(id), 0);
		/* the log line's policy= field is unquoted: no space there */
		if (tm_policy_id_valid(id))
			snprintf(k->policy, sizeof(k->policy), "%s", id);
		ret = tm_policy_find(c->policy_dir, id, &pol);
	}
	if (!ret)
		ret = tm_policy_restrict(&pol, c->trusted);
	if (!ret)
		ret = tm_hs_peer(&h, m1, &pol);
	if (!ret)
		ret = tm_policy_check_source(&pol, h.peer.host);
	if (!ret)
		ret = tm_hs_self_load(&h, 1);
	if (!ret)
		ret = tm_hs_dst_addressed(&h, m1);
	if (!ret)
		ret = tm_hs_m2(&h, m1);
	free(body);
	body = NULL;
	if (!ret)
		ret = tm_hs_recv(&h, TM_MSG_M3, &body, &len);
	if (!ret)
		ret = tm_hs_dst_m3(&h, body, len);
	if (!ret)
		ret = tm_hs_traffic(&h, k);
	if (ret)
		ret = tm_hs_refuse(&h, ret);
	TM_FREE(m1, TM_HELLO1);
	free(body);
	tm_policy_free(&pol);
	tm_hs_free(&h);
	return ret;
}

/* --- after the handshake --------------------------------------------- */

int tm_hs_result_send(int fd, const struct tm_hs_config *c,
		      const struct tm_hs_keys *k, int code)
{
	struct tm_asn_result *r = TM_NEW(struct tm_asn_result, TM_RESULT);
	unsigned char *st = NULL, *der = NULL, mac[TM_HS_MAC];
	size_t slen = 0, len = 0;
	char reason[1024];
	int ret;

	snprintf(reason, sizeof(reason), "%s",
		 code ? tm_last_error() : "keys installed");
	if (!r)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	ret = tm_hs_status_der(r->outcome, code, reason, &st, &slen);
	if (!ret)
		ret = tm_hmac(k->result_key, st, slen, mac);
	if (!ret)
		ret = tm_os_set(r->mac, mac, sizeof(mac));
	if (!ret)
		ret = tm_der(r, ASN1_ITEM_rptr(TM_RESULT), &der, &len);
	if (!ret)
		ret = tm_wire_send(fd, TM_MSG_RESULT, der, len, c->timeout_ms);
	OPENSSL_free(st);
	OPENSSL_free(der);
	TM_FREE(r, TM_RESULT);
	/* our own failure, if any, stays the reason */
	if (code)
		tm_fail(code, "%s", reason);
	return ret;
}

int tm_hs_result_recv(int fd, const struct tm_hs_config *c,
		      const struct tm_hs_keys *k)
{
	unsigned char *body, *st = NULL, mac[TM_HS_MAC];
	struct tm_asn_result *r = NULL;
	char reason[TM_HS_REASON];
	size_t len, slen = 0;
	struct tm_hs h;
	long code;
	int ret;

	tm_hs_init(&h, fd, c);
	ret = tm_hs_recv(&h, TM_MSG_RESULT, &body, &len);
	if (ret)
		return ret;
	ret = tm_der_decode(body, len, ASN1_ITEM_rptr(TM_RESULT), "RESULT",
			    (void **)&r);
	free(body);
	if (!ret)
		ret = tm_der(r->outcome, ASN1_ITEM_rptr(TM_STATUS), &st, &slen);
	if (!ret)
		ret = tm_hmac(k->result_key, st, slen, mac);
	if (!ret && (r->mac->length != TM_HS_MAC ||
		     CRYPTO_memcmp(r->mac->data, mac, TM_HS_MAC)))
		ret = tm_fail(TM_EXIT_CONFIRM,
			      "the destination's RESULT is not authenticated by this handshake's keys (forged or replayed)");
	if (!ret)
		ret = tm_hs_status(st, slen, &code, reason, sizeof(reason));
	if (!ret && code)
		ret = tm_fail(code == TM_EXIT_NO_MODULE ? TM_EXIT_NO_MODULE :
			      TM_EXIT_PEER_REFUSED,
			      "destination did not install its keys: %s",
			      reason);
	OPENSSL_free(st);
	TM_FREE(r, TM_RESULT);
	return ret;
}

void tm_hs_keys_wipe(struct tm_hs_keys *k)
{
	/* everything up to the names the log line shows */
	OPENSSL_cleanse(k, offsetof(struct tm_hs_keys, peer));
}

int tm_hs_install(struct tm_hs_keys *k, __u8 role, struct tm_session *s)
{
	int ret;

	s->role = role;
	s->stream = k->stream;
	s->peer_name = k->peer;
	s->policy_id = k->policy;
	ret = tm_module_install(s, k->s2d_key, k->s2d_salt);
	/* the traffic keys; the RESULT key still has to authenticate */
	OPENSSL_cleanse(k, offsetof(struct tm_hs_keys, result_key));
	return ret;
}

void tm_hs_log(const char *peer, const struct tm_hs_keys *k, int code,
	       long long start_ms)
{
	const char *reason = code ? tm_last_error() : "keys agreed";
	char quoted[2048];

	tm_printable(reason, strlen(reason), quoted, sizeof(quoted), 1);
	fprintf(stderr,
		"<%d>%s[%ld]: handshake peer=%s host=%s policy=%s result=%s code=%d reason=\"%s\" ms=%lld\n",
		code ? 3 : 6, tm_prog, (long)getpid(), peer,
		k->peer[0] ? k->peer : "-", k->policy[0] ? k->policy : "-",
		code ? "refused" : "ok", code, quoted, tm_now_ms() - start_ms);
}

void tm_hs_print_fingerprint(const struct tm_hs_keys *k)
{
	char *hex = tm_hex(k->fingerprint, sizeof(k->fingerprint));

	fprintf(stderr, "%s: debug: key fingerprint %s stream %08x\n", tm_prog,
		hex ? hex : "?", k->stream);
	OPENSSL_free(hex);
}
