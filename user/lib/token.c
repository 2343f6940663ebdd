// SPDX-License-Identifier: GPL-2.0
/*
 * Trust_Token issue, decoding and verification with OpenSSL's X.509 code.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "codec.h"
#include "tpmsw.h"
#include "token.h"
#include "util.h"

#define TM_TOKEN_VERSION	1
#define TM_STR_MAX		256
#define TM_NAME_MAX		128	/* a CA's name in a reason */

struct tm_asn_ext_platform {
	ASN1_UTF8STRING *host;
	ASN1_OCTET_STRING *ek_name;
};

ASN1_SEQUENCE(TM_EXT_PLATFORM) = {
	ASN1_SIMPLE(struct tm_asn_ext_platform, host, ASN1_UTF8STRING),
	ASN1_SIMPLE(struct tm_asn_ext_platform, ek_name, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_ext_platform, TM_EXT_PLATFORM)

struct tm_asn_ext_baseline {
	ASN1_UTF8STRING *id;
	ASN1_INTEGER *version;
	ASN1_OCTET_STRING *sha256;
};

ASN1_SEQUENCE(TM_EXT_BASELINE) = {
	ASN1_SIMPLE(struct tm_asn_ext_baseline, id, ASN1_UTF8STRING),
	ASN1_SIMPLE(struct tm_asn_ext_baseline, version, ASN1_INTEGER),
	ASN1_SIMPLE(struct tm_asn_ext_baseline, sha256, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_ext_baseline, TM_EXT_BASELINE)

struct tm_asn_ext_pcrs {
	ASN1_INTEGER *bank;
	struct stack_st_ASN1_INTEGER *pcrs;	/* STACK_OF(ASN1_INTEGER) */
	ASN1_OCTET_STRING *pcr_digest;
	ASN1_OCTET_STRING *policy;
};

ASN1_SEQUENCE(TM_EXT_PCRS) = {
	ASN1_SIMPLE(struct tm_asn_ext_pcrs, bank, ASN1_INTEGER),
	ASN1_SEQUENCE_OF(struct tm_asn_ext_pcrs, pcrs, ASN1_INTEGER),
	ASN1_SIMPLE(struct tm_asn_ext_pcrs, pcr_digest, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_ext_pcrs, policy, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_ext_pcrs, TM_EXT_PCRS)

struct tm_asn_ext {
	ASN1_INTEGER *version;
	struct tm_asn_ext_platform *platform;
	struct tm_asn_ext_baseline *baseline;
	struct tm_asn_ext_pcrs *pcrs;
	ASN1_OCTET_STRING *mk;
	struct stack_st_ASN1_UTF8STRING *controls;	/* STACK_OF() */
};

ASN1_SEQUENCE(TM_EXT) = {
	ASN1_SIMPLE(struct tm_asn_ext, version, ASN1_INTEGER),
	ASN1_SIMPLE(struct tm_asn_ext, platform, TM_EXT_PLATFORM),
	ASN1_SIMPLE(struct tm_asn_ext, baseline, TM_EXT_BASELINE),
	ASN1_SIMPLE(struct tm_asn_ext, pcrs, TM_EXT_PCRS),
	ASN1_SIMPLE(struct tm_asn_ext, mk, ASN1_OCTET_STRING),
	ASN1_SEQUENCE_OF(struct tm_asn_ext, controls, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_ext, TM_EXT)

static int tm_nid_token = NID_undef;
static int tm_nid_ak_eku = NID_undef;

static int tm_obj_nid(const char *oid, const char *sn, const char *ln)
{
	int nid = OBJ_txt2nid(oid);

	if (nid == NID_undef)
		nid = OBJ_create(oid, sn, ln);
	return nid;
}

int tm_token_init(void)
{
	if (tm_nid_token != NID_undef)
		return 0;
	tm_nid_token = tm_obj_nid(TM_OID_TOKEN, "trustmigToken",
				  "trustmig Trust_Token");
	tm_nid_ak_eku = tm_obj_nid(TM_OID_AK_EKU, "trustmigAK",
				   "trustmig attestation key");
	if (tm_nid_token == NID_undef || tm_nid_ak_eku == NID_undef)
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot register OIDs");
	return 0;
}

static char *tm_strdup_checked(const char *s, int *err)
{
	char *d = NULL;

	if (!*err) {
		d = strdup(s);
		*err = !d;
	}
	return d;
}

int tm_token_info_set_baseline(struct tm_token_info *info,
			       const struct tm_baseline *b)
{
	unsigned int i;
	int err = 0;

	info->baseline_id = tm_strdup_checked(b->id, &err);
	info->baseline_version = b->version;
	memcpy(info->baseline_sha256, b->file_sha256, 32);
	info->bank = b->bank;
	info->npcrs = b->npcrs;
	memcpy(info->pcr, b->pcr, sizeof(info->pcr));
	info->sel = b->sel;
	info->pcr_digest = b->pcr_digest;
	info->policy = b->policy;
	info->controls = calloc(b->ncontrols, sizeof(char *));
	err = err || !info->controls;
	for (i = 0; !err && i < b->ncontrols; i++) {
		info->controls[i] = tm_strdup_checked(b->controls[i].id, &err);
		info->ncontrols += !err;
	}
	if (err)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	return 0;
}

void tm_token_info_free(struct tm_token_info *info)
{
	unsigned int i;

	for (i = 0; i < info->ncontrols; i++)
		free(info->controls[i]);
	free(info->controls);
	free(info->host);
	free(info->baseline_id);
	memset(info, 0, sizeof(*info));
}

static int tm_ext_build(const struct tm_token_info *i, unsigned char **der,
			int *len)
{
	const ASN1_ITEM *it = ASN1_ITEM_rptr(TM_EXT);
	ASN1_UTF8STRING *s;
	ASN1_INTEGER *n;
	unsigned int k;
	struct tm_asn_ext *e;
	int ret, err;

	e = (struct tm_asn_ext *)ASN1_item_new(it);
	if (!e)
		return tm_fail_ssl(TM_EXIT_ERROR, "out of memory");
	err = !ASN1_INTEGER_set(e->version, TM_TOKEN_VERSION) ||
	      !ASN1_STRING_set(e->platform->host, i->host, -1) ||
	      !ASN1_STRING_set(e->baseline->id, i->baseline_id, -1) ||
	      !ASN1_INTEGER_set(e->baseline->version, i->baseline_version) ||
	      !ASN1_INTEGER_set(e->pcrs->bank, i->bank);
	for (k = 0; !err && k < i->npcrs; k++) {
		n = ASN1_INTEGER_new();
		err = !n || !ASN1_INTEGER_set(n, i->pcr[k]) ||
		      !sk_ASN1_INTEGER_push(e->pcrs->pcrs, n);
		if (err)
			ASN1_INTEGER_free(n);
	}
	for (k = 0; !err && k < i->ncontrols; k++) {
		s = ASN1_UTF8STRING_new();
		err = !s || !ASN1_STRING_set(s, i->controls[k], -1) ||
		      !sk_ASN1_UTF8STRING_push(e->controls, s);
		if (err)
			ASN1_UTF8STRING_free(s);
	}
	ret = err ? tm_fail_ssl(TM_EXIT_ERROR, "out of memory") : 0;
	if (!ret)
		ret = tm_os_set(e->platform->ek_name, i->ek_name.name,
				i->ek_name.size);
	if (!ret)
		ret = tm_os_set(e->baseline->sha256, i->baseline_sha256, 32);
	if (!ret)
		ret = tm_os_set(e->pcrs->pcr_digest, i->pcr_digest.buffer,
				i->pcr_digest.size);
	if (!ret)
		ret = tm_os_set(e->pcrs->policy, i->policy.buffer,
				i->policy.size);
	if (!ret)
		ret = tm_os_put_public(e->mk, &i->mk);
	if (!ret) {
		*der = NULL;
		*len = ASN1_item_i2d((ASN1_VALUE *)e, der, it);
		if (*len <= 0)
			ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot encode extension");
	}
	ASN1_item_free((ASN1_VALUE *)e, it);
	return ret;
}

int tm_cert_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : tm_fail_ssl(TM_EXIT_ERROR, "cannot add extension %s",
				    OBJ_nid2sn(nid));
}

int tm_cert_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok;

	/* 127 random bits: positive, at most 16 octets (RFC 5280 4.1.2.2) */
	ok = bn && BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	return ok ? 0 : tm_fail_ssl(TM_EXIT_ERROR, "cannot set serial");
}

int tm_token_issue(const struct tm_token_issue *p, X509 **out)
{
	const struct tm_token_info *i = p->info;
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;
	unsigned char *der = NULL;
	X509_NAME *subj = NULL;
	X509 *x;
	int ret, len = 0;

	ret = tm_token_init();
	if (ret)
		return ret;
	x = X509_new();
	subj = X509_NAME_new();
	if (!x || !subj || !X509_set_version(x, X509_VERSION_3) ||
	    !X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_UTF8,
					(const unsigned char *)"trustmig platform",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8,
					(const unsigned char *)i->host,
					-1, -1, 0) ||
	    !X509_set_subject_name(x, subj) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(p->ca)) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), p->not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), p->not_after) ||
	    !X509_set_pubkey(x, p->ak)) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot build the token");
		goto out;
	}
	ret = tm_cert_serial(x);
	if (ret)
		goto out;
	ret = tm_cert_ext(p->ca, x, NID_basic_constraints, "critical,CA:FALSE");
	if (!ret)
		ret = tm_cert_ext(p->ca, x, NID_key_usage,
				  "critical,digitalSignature");
	if (!ret)
		ret = tm_cert_ext(p->ca, x, NID_ext_key_usage, TM_OID_AK_EKU);
	if (!ret)
		ret = tm_cert_ext(p->ca, x, NID_subject_key_identifier, "hash");
	if (!ret)
		ret = tm_cert_ext(p->ca, x, NID_authority_key_identifier,
				  "keyid:always");
	if (!ret)
		ret = tm_ext_build(i, &der, &len);
	if (ret)
		goto out;
	/* non-critical: see docs/ttp.md, "The Trust_Token" */
	os = ASN1_OCTET_STRING_new();
	if (os && ASN1_OCTET_STRING_set(os, der, len))
		ext = X509_EXTENSION_create_by_NID(NULL, tm_nid_token, 0, os);
	if (!ext || !X509_add_ext(x, ext, -1) ||
	    !X509_sign(x, p->ca_key, EVP_sha384())) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot sign the token");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	OPENSSL_free(der);
	X509_NAME_free(subj);
	X509_free(x);
	return ret;
}

static int tm_dup_utf8(const ASN1_STRING *s, char **out)
{
	int len = ASN1_STRING_length(s);

	if (len <= 0 || len > TM_STR_MAX ||
	    memchr(ASN1_STRING_get0_data(s), '\0', len))
		return -1;
	*out = strndup((const char *)ASN1_STRING_get0_data(s), len);
	return *out ? 0 : -1;
}

static int tm_ext_pcrs(const struct tm_asn_ext_pcrs *p, struct tm_token_info *i)
{
	long bank, v, prev = -1;
	int k, n;

	bank = ASN1_INTEGER_get(p->bank);
	if (bank <= 0 || bank > 0xffff || !tm_hash_size(bank))
		return -1;
	i->bank = bank;
	n = sk_ASN1_INTEGER_num(p->pcrs);
	if (n <= 0 || n > TM_PCR_MAX)
		return -1;
	for (k = 0; k < n; k++) {
		v = ASN1_INTEGER_get(sk_ASN1_INTEGER_value(p->pcrs, k));
		if (v <= prev || v >= TM_PCR_MAX)
			return -1;
		i->pcr[k] = v;
		prev = v;
	}
	i->npcrs = n;
	tm_pcr_selection(i->bank, i->pcr, i->npcrs, &i->sel);
	if (p->pcr_digest->length != TPM2_SHA256_DIGEST_SIZE ||
	    p->policy->length != TPM2_SHA256_DIGEST_SIZE)
		return -1;
	i->pcr_digest.size = TPM2_SHA256_DIGEST_SIZE;
	memcpy(i->pcr_digest.buffer, p->pcr_digest->data,
	       TPM2_SHA256_DIGEST_SIZE);
	i->policy.size = TPM2_SHA256_DIGEST_SIZE;
	memcpy(i->policy.buffer, p->policy->data, TPM2_SHA256_DIGEST_SIZE);
	return 0;
}

static int tm_ext_decode(const struct tm_asn_ext *e, struct tm_token_info *i)
{
	TPM2B_DIGEST policy;
	int k, n;

	if (ASN1_INTEGER_get(e->version) != TM_TOKEN_VERSION ||
	    tm_dup_utf8(e->platform->host, &i->host) ||
	    e->platform->ek_name->length < 2 ||
	    e->platform->ek_name->length > (int)sizeof(i->ek_name.name) ||
	    tm_dup_utf8(e->baseline->id, &i->baseline_id) ||
	    e->baseline->sha256->length != 32 ||
	    tm_ext_pcrs(e->pcrs, i))
		return tm_fail(TM_EXIT_TOKEN_EXT,
			       "malformed trustmig token extension");
	/* it is printed and logged wherever the token goes */
	if (tm_host_name_check(i->host, strlen(i->host), TM_EXIT_TOKEN_EXT,
			       "token"))
		return TM_EXIT_TOKEN_EXT;
	i->ek_name.size = e->platform->ek_name->length;
	memcpy(i->ek_name.name, e->platform->ek_name->data, i->ek_name.size);
	i->baseline_version = ASN1_INTEGER_get(e->baseline->version);
	memcpy(i->baseline_sha256, e->baseline->sha256->data, 32);
	if (tm_os_get_public(e->mk, &i->mk))
		return tm_fail(TM_EXIT_TOKEN_EXT,
			       "token extension has a malformed migration key");
	n = sk_ASN1_UTF8STRING_num(e->controls);
	i->controls = calloc(n > 0 ? n : 1, sizeof(char *));
	if (!i->controls)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	for (k = 0; k < n; k++) {
		if (tm_dup_utf8(sk_ASN1_UTF8STRING_value(e->controls, k),
				&i->controls[k]))
			return tm_fail(TM_EXIT_TOKEN_EXT,
				       "token extension has a malformed control");
		i->ncontrols++;
	}
	/* the policy must be PolicyPCR over the PCR digest it names */
	if (tm_policy_pcr(&i->sel, &i->pcr_digest, &policy) ||
	    policy.size != i->policy.size ||
	    memcmp(policy.buffer, i->policy.buffer, policy.size))
		return tm_fail(TM_EXIT_TOKEN_EXT,
			       "token policy digest is not PolicyPCR over its PCR digest");
	if (tm_check_mk_public(&i->mk, &i->policy))
		return tm_fail_prefix(TM_EXIT_TOKEN_EXT, "token migration key");
	return 0;
}

int tm_token_info_get(X509 *tok, struct tm_token_info *info)
{
	const ASN1_ITEM *it = ASN1_ITEM_rptr(TM_EXT);
	const ASN1_OCTET_STRING *os;
	const unsigned char *p;
	ASN1_VALUE *e;
	int idx, ret;

	memset(info, 0, sizeof(*info));
	ret = tm_token_init();
	if (ret)
		return ret;
	idx = X509_get_ext_by_NID(tok, tm_nid_token, -1);
	if (idx < 0)
		return tm_fail(TM_EXIT_TOKEN_EXT,
			       "not a Trust_Token: no trustmig extension");
	if (X509_get_ext_by_NID(tok, tm_nid_token, idx) >= 0)
		return tm_fail(TM_EXIT_TOKEN_EXT,
			       "token has two trustmig extensions");
	os = X509_EXTENSION_get_data(X509_get_ext(tok, idx));
	p = os->data;
	e = ASN1_item_d2i(NULL, &p, os->length, it);
	if (!e || p != os->data + os->length) {
		ERR_clear_error();
		ASN1_item_free(e, it);
		return tm_fail(TM_EXIT_TOKEN_EXT,
			       "malformed trustmig token extension");
	}
	ret = tm_ext_decode((struct tm_asn_ext *)e, info);
	ASN1_item_free(e, it);
	if (ret)
		tm_token_info_free(info);
	return ret;
}

static int tm_verify_code(int err)
{
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return TM_EXIT_TOKEN_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TM_EXIT_TOKEN_NOT_YET_VALID;
	case X509_V_ERR_CERT_REVOKED:
		return TM_EXIT_TOKEN_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
	case X509_V_ERR_DIFFERENT_CRL_SCOPE:
		return TM_EXIT_TOKEN_CRL;
	default:
		return TM_EXIT_TOKEN_CHAIN;
	}
}

/*
 * A certificate's name for a reason: one line, printable, bounded (a
 * peer's intermediates name themselves).
 */
static void tm_name(const X509_NAME *n, char *buf, size_t size)
{
	char *p = NULL;
	long len = 0;
	BIO *b;

	b = BIO_new(BIO_s_mem());
	if (b && X509_NAME_print_ex(b, n, 0,
				    XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ) >= 0)
		len = BIO_get_mem_data(b, &p);
	tm_printable(p, len, buf, size, 0);
	BIO_free(b);
}

/*
 * Why X509_verify_cert() refused, naming the CA at fault: the one whose
 * CRL is missing or bad, the revoked one, the issuer not found.
 */
static int tm_verify_error(X509_STORE_CTX *ctx)
{
	int err = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *x = X509_STORE_CTX_get_current_cert(ctx);
	const char *what = X509_verify_cert_error_string(err);
	char subject[TM_NAME_MAX], issuer[TM_NAME_MAX], whose[TM_NAME_MAX + 32];
	int code = tm_verify_code(err);

	if (!x)
		return tm_fail(code, "token rejected: %s", what);
	tm_name(X509_get_subject_name(x), subject, sizeof(subject));
	tm_name(X509_get_issuer_name(x), issuer, sizeof(issuer));
	snprintf(whose, sizeof(whose), depth == 1 ? "its issuer \"%s\"" :
		 "CA \"%s\" of its chain", subject);
	if (err == X509_V_ERR_UNABLE_TO_GET_CRL)
		return tm_fail(code,
			       "token rejected: no CRL of CA \"%s\" among those given (every CA up to the anchor needs its current CRL)",
			       issuer);
	if (code == TM_EXIT_TOKEN_CRL)
		return tm_fail(code, "token rejected: %s: the CRL of CA \"%s\"",
			       what, issuer);
	if (err == X509_V_ERR_CERT_REVOKED && depth)
		return tm_fail(code,
			       "token rejected: %s is revoked (CRL of \"%s\")",
			       whose, issuer);
	if (err == X509_V_ERR_CERT_REVOKED)
		return tm_fail(code,
			       "token rejected: certificate revoked (CRL of \"%s\")",
			       issuer);
	if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	    err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
		return tm_fail(code,
			       "token rejected: %s: \"%s\" is neither an anchor nor one of the intermediate CA certificates with the token",
			       what, issuer);
	return tm_fail(code, "token rejected: %s%s%s", what, depth ? ": " : "",
		       depth ? whose : "");
}

static int tm_has_ak_eku(X509 *tok)
{
	EXTENDED_KEY_USAGE *eku;
	int i, found = 0;

	eku = X509_get_ext_d2i(tok, NID_ext_key_usage, NULL, NULL);
	for (i = 0; eku && i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == tm_nid_ak_eku)
			found = 1;
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

int tm_token_check_baseline(const struct tm_token_info *i,
			    const struct tm_baseline *b)
{
	if (strcmp(i->baseline_id, b->id) || i->baseline_version != b->version)
		return tm_fail(TM_EXIT_TOKEN_BASELINE,
			       "token certifies baseline %s version %ld, not %s version %ld",
			       i->baseline_id, i->baseline_version, b->id,
			       b->version);
	if (!tm_pcr_selection_equal(&i->sel, &b->sel) ||
	    memcmp(i->pcr_digest.buffer, b->pcr_digest.buffer, 32) ||
	    memcmp(i->policy.buffer, b->policy.buffer, 32))
		return tm_fail(TM_EXIT_TOKEN_BASELINE,
			       "token PCR policy differs from baseline %s version %ld",
			       b->id, b->version);
	return 0;
}

int tm_token_verify(X509 *tok, const struct tm_verify *v,
		    struct tm_token_info *info)
{
	struct tm_token_info local;
	X509_STORE_CTX *ctx;
	int ret;

	ret = tm_token_init();
	if (ret)
		return ret;
	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	ctx = X509_STORE_CTX_new();
	if (!ctx || !X509_STORE_CTX_init(ctx, v->anchors, tok, v->untrusted)) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot set up verification");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	/* every CA up to the anchor: a revoked intermediate TTP too */
	if (v->crls) {
		X509_STORE_CTX_set0_crls(ctx, v->crls);
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK |
					 X509_V_FLAG_CRL_CHECK_ALL);
	}
	if (v->at)
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx),
					   v->at);
	if (X509_verify_cert(ctx) != 1) {
		ret = tm_verify_error(ctx);
		goto out;
	}
	if (X509_check_ca(tok) || !tm_has_ak_eku(tok)) {
		ret = tm_fail(TM_EXIT_TOKEN_EXT,
			      "certificate is not a Trust_Token AK certificate (CA or no trustmig AK key usage)");
		goto out;
	}
	ret = tm_token_info_get(tok, info);
	if (!ret && v->baseline)
		ret = tm_token_check_baseline(info, v->baseline);
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	if (ret || info == &local)
		tm_token_info_free(info);
	return ret;
}

int tm_token_match_keys(X509 *tok, const struct tm_token_info *info,
			const TPM2B_PUBLIC *ak, const TPM2B_PUBLIC *mk)
{
	EVP_PKEY *akkey = NULL;
	int ret;

	ret = tm_public_to_pkey(ak, &akkey);
	if (ret)
		return ret;
	if (EVP_PKEY_eq(X509_get0_pubkey(tok), akkey) != 1)
		ret = tm_fail(TM_EXIT_TOKEN_MISMATCH,
			      "token certifies another attestation key");
	else if (!tm_public_equal(&info->mk, mk))
		ret = tm_fail(TM_EXIT_TOKEN_MISMATCH,
			      "token certifies another migration key");
	EVP_PKEY_free(akkey);
	ERR_clear_error();
	return ret;
}

static void tm_print_hex(FILE *f, const char *label, const unsigned char *b,
			 size_t n)
{
	char *hex = tm_hex(b, n);

	fprintf(f, "  %-20s %s\n", label, hex ? hex : "?");
	OPENSSL_free(hex);
}

static void tm_print_attrs(FILE *f, TPMA_OBJECT a)
{
	static const struct {
		TPMA_OBJECT bit;
		const char *name;
	} bits[] = {
		{ TPMA_OBJECT_FIXEDTPM, "fixedTPM" },
		{ TPMA_OBJECT_FIXEDPARENT, "fixedParent" },
		{ TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin" },
		{ TPMA_OBJECT_USERWITHAUTH, "userWithAuth" },
		{ TPMA_OBJECT_ADMINWITHPOLICY, "adminWithPolicy" },
		{ TPMA_OBJECT_NODA, "noDA" },
		{ TPMA_OBJECT_RESTRICTED, "restricted" },
		{ TPMA_OBJECT_DECRYPT, "decrypt" },
		{ TPMA_OBJECT_SIGN_ENCRYPT, "sign" },
	};
	size_t k;

	fprintf(f, "  %-20s", "attributes:");
	for (k = 0; k < ARRAY_SIZE(bits); k++)
		if (a & bits[k].bit)
			fprintf(f, " %s", bits[k].name);
	fputc('\n', f);
}

void tm_token_print(FILE *f, X509 *tok, const struct tm_token_info *i)
{
	unsigned char fp[EVP_MAX_MD_SIZE];
	unsigned int k, fplen = 0;
	TPM2B_NAME mkname = { 0 };
	BIO *b;

	b = BIO_new_fp(f, BIO_NOCLOSE);
	if (!b)
		return;
	fprintf(f, "Trust_Token\n  %-20s ", "serial:");
	i2a_ASN1_INTEGER(b, X509_get0_serialNumber(tok));
	BIO_printf(b, "\n  %-20s ", "issuer:");
	X509_NAME_print_ex(b, X509_get_issuer_name(tok), 0, XN_FLAG_ONELINE);
	BIO_printf(b, "\n  %-20s ", "subject:");
	X509_NAME_print_ex(b, X509_get_subject_name(tok), 0, XN_FLAG_ONELINE);
	BIO_printf(b, "\n  %-20s ", "not before:");
	ASN1_TIME_print(b, X509_get0_notBefore(tok));
	BIO_printf(b, "\n  %-20s ", "not after:");
	ASN1_TIME_print(b, X509_get0_notAfter(tok));
	BIO_printf(b, "\n");
	(void)BIO_flush(b);
	BIO_free(b);
	X509_pubkey_digest(tok, EVP_sha256(), fp, &fplen);
	tm_print_hex(f, "AK key SHA-256:", fp, fplen);
	fprintf(f, "Platform\n  %-20s %s\n", "host name:", i->host);
	tm_print_hex(f, "EK name:", i->ek_name.name, i->ek_name.size);
	fprintf(f, "Baseline\n  %-20s %s\n  %-20s %ld\n", "id:",
		i->baseline_id, "version:", i->baseline_version);
	tm_print_hex(f, "file SHA-256:", i->baseline_sha256, 32);
	fprintf(f, "  %-20s %s\n  %-20s", "PCR bank:", tm_hash_name(i->bank),
		"PCRs:");
	for (k = 0; k < i->npcrs; k++)
		fprintf(f, "%s%u", k ? "," : " ", i->pcr[k]);
	fputc('\n', f);
	tm_print_hex(f, "PCR digest:", i->pcr_digest.buffer,
		     i->pcr_digest.size);
	tm_print_hex(f, "PolicyPCR digest:", i->policy.buffer,
		     i->policy.size);
	fprintf(f, "Migration key\n  %-20s ECC NIST P-256, ECDH\n", "type:");
	tm_print_attrs(f, i->mk.publicArea.objectAttributes);
	if (!tm_public_name(&i->mk, &mkname))
		tm_print_hex(f, "TPM name:", mkname.name, mkname.size);
	fprintf(f, "Compliance controls\n ");
	for (k = 0; k < i->ncontrols; k++)
		fprintf(f, " %s", i->controls[k]);
	fputc('\n', f);
}

/* @buf as a lower-case hex JSON string; NULL if out of memory. */
static struct json_object *tm_json_hex(const unsigned char *buf, size_t len)
{
	char *hex = tm_hex(buf, len);
	struct json_object *j = hex ? json_object_new_string(hex) : NULL;

	OPENSSL_free(hex);
	return j;
}

/* The one-line form of a name, as tm_token_print() shows it. */
static struct json_object *tm_json_name(const X509_NAME *name)
{
	struct json_object *j = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *text;
	long len;

	if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_ONELINE) >= 0) {
		len = BIO_get_mem_data(b, &text);
		j = json_object_new_string_len(text, len);
	}
	BIO_free(b);
	return j;
}

int tm_time_text(const ASN1_TIME *when, const char *fmt, char *buf,
		 size_t len)
{
	struct tm tm;

	if (!when || !ASN1_TIME_to_tm(when, &tm) ||
	    !strftime(buf, len, fmt, &tm))
		return -1;
	return 0;
}

static struct json_object *tm_json_time(const ASN1_TIME *when)
{
	char buf[32];

	if (tm_time_text(when, TM_TIME_ISO, buf, sizeof(buf)))
		return NULL;
	return json_object_new_string(buf);
}

struct json_object *tm_token_json(X509 *tok, const struct tm_token_info *i)
{
	struct json_object *j = json_object_new_object();
	struct json_object *pcrs = json_object_new_array();
	struct json_object *controls = json_object_new_array();
	unsigned char fp[EVP_MAX_MD_SIZE];
	TPM2B_NAME mkname = { 0 };
	unsigned int k, fplen = 0;
	BIGNUM *serial;
	char *hex;

	if (!j || !pcrs || !controls) {
		json_object_put(j);
		json_object_put(pcrs);
		json_object_put(controls);
		return NULL;
	}
	serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(tok), NULL);
	hex = serial ? BN_bn2hex(serial) : NULL;
	json_object_object_add(j, "serial",
			       hex ? json_object_new_string(hex) : NULL);
	OPENSSL_free(hex);
	BN_free(serial);
	json_object_object_add(j, "issuer",
			       tm_json_name(X509_get_issuer_name(tok)));
	json_object_object_add(j, "subject",
			       tm_json_name(X509_get_subject_name(tok)));
	json_object_object_add(j, "not_before",
			       tm_json_time(X509_get0_notBefore(tok)));
	json_object_object_add(j, "not_after",
			       tm_json_time(X509_get0_notAfter(tok)));
	X509_pubkey_digest(tok, EVP_sha256(), fp, &fplen);
	json_object_object_add(j, "ak_sha256", tm_json_hex(fp, fplen));
	json_object_object_add(j, "host", json_object_new_string(i->host));
	json_object_object_add(j, "ek_name",
			       tm_json_hex(i->ek_name.name, i->ek_name.size));
	json_object_object_add(j, "baseline",
			       json_object_new_string(i->baseline_id));
	json_object_object_add(j, "baseline_version",
			       json_object_new_int64(i->baseline_version));
	json_object_object_add(j, "baseline_sha256",
			       tm_json_hex(i->baseline_sha256, 32));
	json_object_object_add(j, "pcr_bank",
			       json_object_new_string(tm_hash_name(i->bank)));
	for (k = 0; k < i->npcrs; k++)
		json_object_array_add(pcrs, json_object_new_int(i->pcr[k]));
	json_object_object_add(j, "pcrs", pcrs);
	json_object_object_add(j, "pcr_digest",
			       tm_json_hex(i->pcr_digest.buffer,
					   i->pcr_digest.size));
	json_object_object_add(j, "policy_digest",
			       tm_json_hex(i->policy.buffer, i->policy.size));
	json_object_object_add(j, "migration_key_name",
			       tm_public_name(&i->mk, &mkname) ? NULL :
			       tm_json_hex(mkname.name, mkname.size));
	for (k = 0; k < i->ncontrols; k++)
		json_object_array_add(controls,
				      json_object_new_string(i->controls[k]));
	json_object_object_add(j, "controls", controls);
	return j;
}

/* Up to TM_CHAIN_MAX certificates of @b into @rest, then its end. */
static int tm_cert_rest(BIO *b, const char *path, struct stack_st_X509 *rest)
{
	unsigned long e;
	X509 *x;

	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (sk_X509_num(rest) == TM_CHAIN_MAX) {
			X509_free(x);
			return tm_fail(TM_EXIT_INPUT,
				       "%s holds more than %d certificates after the first (intermediate CAs)",
				       path, TM_CHAIN_MAX);
		}
		if (!sk_X509_push(rest, x)) {
			X509_free(x);
			return tm_fail(TM_EXIT_ERROR, "out of memory");
		}
	}
	/* no more PEM certificate blocks, or one that is broken */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		return tm_fail_ssl(TM_EXIT_INPUT,
				   "cannot read certificate %d of %s",
				   sk_X509_num(rest) + 2, path);
	ERR_clear_error();
	return 0;
}

int tm_cert_chain_load(const char *path, X509 **cert,
		       struct stack_st_X509 **rest)
{
	int ret = 0;
	BIO *b;

	if (rest)
		*rest = NULL;
	b = BIO_new_file(path, "r");
	*cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	if (!*cert) {
		BIO_free(b);
		return tm_fail_ssl(TM_EXIT_INPUT,
				   "cannot read a PEM certificate from %s",
				   path);
	}
	if (rest) {
		*rest = sk_X509_new_null();
		ret = *rest ? tm_cert_rest(b, path, *rest) :
			      tm_fail(TM_EXIT_ERROR, "out of memory");
	}
	BIO_free(b);
	if (ret) {
		X509_free(*cert);
		*cert = NULL;
		sk_X509_pop_free(*rest, X509_free);
		*rest = NULL;
	}
	return ret;
}

int tm_cert_load(const char *path, X509 **cert)
{
	return tm_cert_chain_load(path, cert, NULL);
}

int tm_anchors_load(X509_STORE *st, const char *path)
{
	if (X509_STORE_load_file(st, path) != 1)
		return tm_fail_ssl(TM_EXIT_INPUT,
				   "cannot load TTP certificates from %s", path);
	return 0;
}

int tm_crl_load(const char *path, X509_CRL **crl)
{
	BIO *b;

	b = BIO_new_file(path, "r");
	*crl = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!*crl)
		return tm_fail_ssl(TM_EXIT_INPUT, "cannot read a PEM CRL from %s",
				   path);
	return 0;
}
