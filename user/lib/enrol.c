// SPDX-License-Identifier: GPL-2.0
/*
 * Enrolment exchange files: ASN.1 templates and their C views.
 *
 *   Request   ::= SEQUENCE { version INTEGER (1), hostName UTF8String,
 *                   ekPublic OCTET STRING, -- TPM2B_PUBLIC
 *                   ekCertificate [0] IMPLICIT OCTET STRING OPTIONAL,
 *                   akPublic OCTET STRING }
 *   Challenge ::= SEQUENCE { version INTEGER (1), id OCTET STRING (16),
 *                   nonce OCTET STRING (32),
 *                   credentialBlob OCTET STRING, -- TPM2B_ID_OBJECT
 *                   encryptedSecret OCTET STRING, -- TPM2B_ENCRYPTED_SECRET
 *                   baseline OCTET STRING, notAfter Time }
 *   Response  ::= SEQUENCE { version INTEGER (1), id OCTET STRING (16),
 *                   credential OCTET STRING, -- TPM2B_DIGEST
 *                   quote OCTET STRING, -- TPM2B_ATTEST
 *                   quoteSignature OCTET STRING, -- TPMT_SIGNATURE
 *                   migrationKey OCTET STRING, -- TPM2B_PUBLIC
 *                   certifyInfo OCTET STRING, -- TPM2B_ATTEST
 *                   certifySignature OCTET STRING } -- TPMT_SIGNATURE
 *   Pending   ::= SEQUENCE { ch Challenge, req Request,
 *                   credentialSha256 OCTET STRING (32) }
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/crypto.h>

#include "codec.h"
#include "enrol.h"
#include "util.h"

#define TM_ENROL_VERSION	1

struct tm_asn_request {
	ASN1_INTEGER *version;
	ASN1_UTF8STRING *host;
	ASN1_OCTET_STRING *ek;
	ASN1_OCTET_STRING *ek_cert;
	ASN1_OCTET_STRING *ak;
};

ASN1_SEQUENCE(TM_REQUEST) = {
	ASN1_SIMPLE(struct tm_asn_request, version, ASN1_INTEGER),
	ASN1_SIMPLE(struct tm_asn_request, host, ASN1_UTF8STRING),
	ASN1_SIMPLE(struct tm_asn_request, ek, ASN1_OCTET_STRING),
	ASN1_IMP_OPT(struct tm_asn_request, ek_cert, ASN1_OCTET_STRING, 0),
	ASN1_SIMPLE(struct tm_asn_request, ak, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_request, TM_REQUEST)

struct tm_asn_challenge {
	ASN1_INTEGER *version;
	ASN1_OCTET_STRING *id;
	ASN1_OCTET_STRING *nonce;
	ASN1_OCTET_STRING *blob;
	ASN1_OCTET_STRING *secret;
	ASN1_OCTET_STRING *baseline;
	ASN1_TIME *not_after;
};

ASN1_SEQUENCE(TM_CHALLENGE) = {
	ASN1_SIMPLE(struct tm_asn_challenge, version, ASN1_INTEGER),
	ASN1_SIMPLE(struct tm_asn_challenge, id, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_challenge, nonce, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_challenge, blob, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_challenge, secret, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_challenge, baseline, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_challenge, not_after, ASN1_TIME),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_challenge, TM_CHALLENGE)

struct tm_asn_response {
	ASN1_INTEGER *version;
	ASN1_OCTET_STRING *id;
	ASN1_OCTET_STRING *credential;
	ASN1_OCTET_STRING *quote;
	ASN1_OCTET_STRING *quote_sig;
	ASN1_OCTET_STRING *mk;
	ASN1_OCTET_STRING *certify;
	ASN1_OCTET_STRING *certify_sig;
};

ASN1_SEQUENCE(TM_RESPONSE) = {
	ASN1_SIMPLE(struct tm_asn_response, version, ASN1_INTEGER),
	ASN1_SIMPLE(struct tm_asn_response, id, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_response, credential, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_response, quote, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_response, quote_sig, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_response, mk, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_response, certify, ASN1_OCTET_STRING),
	ASN1_SIMPLE(struct tm_asn_response, certify_sig, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_response, TM_RESPONSE)

struct tm_asn_pending {
	struct tm_asn_challenge *ch;
	struct tm_asn_request *req;
	ASN1_OCTET_STRING *credential_sha256;
};

ASN1_SEQUENCE(TM_PENDING) = {
	ASN1_SIMPLE(struct tm_asn_pending, ch, TM_CHALLENGE),
	ASN1_SIMPLE(struct tm_asn_pending, req, TM_REQUEST),
	ASN1_SIMPLE(struct tm_asn_pending, credential_sha256, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END_name(struct tm_asn_pending, TM_PENDING)

static int tm_version_set(ASN1_INTEGER *v)
{
	if (!ASN1_INTEGER_set(v, TM_ENROL_VERSION))
		return tm_fail_ssl(TM_EXIT_ERROR, "out of memory");
	return 0;
}

static int tm_version_check(const ASN1_INTEGER *v)
{
	if (ASN1_INTEGER_get(v) != TM_ENROL_VERSION)
		return tm_fail(TM_EXIT_INPUT,
			       "unsupported enrolment file version");
	return 0;
}

/* A copy of @s as a C string without embedded NULs. */
static int tm_str_dup(const ASN1_STRING *s, size_t max, char **out)
{
	int len = ASN1_STRING_length(s);

	*out = NULL;
	if (len <= 0 || (size_t)len > max ||
	    memchr(ASN1_STRING_get0_data(s), '\0', len))
		return tm_fail(TM_EXIT_INPUT, "malformed host name");
	*out = strndup((const char *)ASN1_STRING_get0_data(s), len);
	if (!*out)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	return 0;
}

static int tm_os_dup(const ASN1_OCTET_STRING *os, unsigned char **out,
		     size_t *len)
{
	*out = malloc(os->length ? os->length : 1);
	if (!*out)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	memcpy(*out, os->data, os->length);
	*len = os->length;
	return 0;
}

static int tm_req_to_asn(const struct tm_request *r, struct tm_asn_request *a)
{
	int ret;

	ret = tm_version_set(a->version);
	if (!ret && !ASN1_STRING_set(a->host, r->host, -1))
		ret = tm_fail_ssl(TM_EXIT_ERROR, "out of memory");
	if (!ret)
		ret = tm_os_put_public(a->ek, &r->ek);
	if (!ret)
		ret = tm_os_put_public(a->ak, &r->ak);
	if (!ret && r->ek_cert) {
		a->ek_cert = ASN1_OCTET_STRING_new();
		ret = a->ek_cert ? tm_os_set(a->ek_cert, r->ek_cert,
					     r->ek_cert_len) :
				   tm_fail(TM_EXIT_ERROR, "out of memory");
	}
	return ret;
}

static int tm_req_from_asn(const struct tm_asn_request *a, struct tm_request *r)
{
	int ret;

	memset(r, 0, sizeof(*r));
	ret = tm_version_check(a->version);
	if (!ret)
		ret = tm_str_dup(a->host, TM_HOST_MAX, &r->host);
	if (!ret)
		ret = tm_host_name_check(r->host, strlen(r->host), TM_EXIT_INPUT,
					 "enrolment request");
	if (!ret)
		ret = tm_os_get_public(a->ek, &r->ek);
	if (!ret)
		ret = tm_os_get_public(a->ak, &r->ak);
	if (!ret && a->ek_cert)
		ret = tm_os_dup(a->ek_cert, &r->ek_cert, &r->ek_cert_len);
	if (ret)
		tm_request_free(r);
	return ret;
}

static int tm_ch_to_asn(const struct tm_challenge *c, struct tm_asn_challenge *a)
{
	int ret;

	ret = tm_version_set(a->version);
	if (!ret)
		ret = tm_os_set(a->id, c->id, sizeof(c->id));
	if (!ret)
		ret = tm_os_set(a->nonce, c->nonce.buffer, c->nonce.size);
	if (!ret)
		ret = tm_os_put_id_object(a->blob, &c->blob);
	if (!ret)
		ret = tm_os_put_enc_secret(a->secret, &c->secret);
	if (!ret)
		ret = tm_os_set(a->baseline, c->baseline, c->baseline_len);
	if (!ret && !ASN1_TIME_set(a->not_after, c->not_after))
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot set time");
	return ret;
}

static int tm_ch_from_asn(const struct tm_asn_challenge *a, struct tm_challenge *c)
{
	struct tm tm;
	int ret;

	memset(c, 0, sizeof(*c));
	ret = tm_version_check(a->version);
	if (!ret)
		ret = tm_os_get(a->id, c->id, sizeof(c->id));
	if (!ret)
		ret = tm_os_get(a->nonce, c->nonce.buffer, TM_NONCE_LEN);
	c->nonce.size = TM_NONCE_LEN;
	if (!ret)
		ret = tm_os_get_id_object(a->blob, &c->blob);
	if (!ret)
		ret = tm_os_get_enc_secret(a->secret, &c->secret);
	if (!ret)
		ret = tm_os_dup(a->baseline, &c->baseline, &c->baseline_len);
	if (!ret && !ASN1_TIME_to_tm(a->not_after, &tm))
		ret = tm_fail(TM_EXIT_INPUT, "malformed challenge expiry");
	if (!ret)
		c->not_after = timegm(&tm);
	if (ret)
		tm_challenge_free(c);
	return ret;
}

int tm_request_save(const char *path, const struct tm_request *r)
{
	struct tm_asn_request *a;
	int ret;

	a = (struct tm_asn_request *)ASN1_item_new(ASN1_ITEM_rptr(TM_REQUEST));
	if (!a)
		return tm_fail_ssl(TM_EXIT_ERROR, "out of memory");
	ret = tm_req_to_asn(r, a);
	if (!ret)
		ret = tm_item_save(path, TM_PEM_REQUEST,
				   ASN1_ITEM_rptr(TM_REQUEST), a, 0644);
	ASN1_item_free((ASN1_VALUE *)a, ASN1_ITEM_rptr(TM_REQUEST));
	return ret;
}

int tm_request_load(const char *path, struct tm_request *r)
{
	void *a;
	int ret;

	ret = tm_item_load(path, TM_PEM_REQUEST, ASN1_ITEM_rptr(TM_REQUEST),
			   &a);
	if (ret)
		return ret;
	ret = tm_req_from_asn(a, r);
	ASN1_item_free(a, ASN1_ITEM_rptr(TM_REQUEST));
	return ret;
}

void tm_request_free(struct tm_request *r)
{
	free(r->host);
	free(r->ek_cert);
	memset(r, 0, sizeof(*r));
}

int tm_challenge_save(const char *path, const struct tm_challenge *c)
{
	struct tm_asn_challenge *a;
	int ret;

	a = (struct tm_asn_challenge *)ASN1_item_new(ASN1_ITEM_rptr(TM_CHALLENGE));
	if (!a)
		return tm_fail_ssl(TM_EXIT_ERROR, "out of memory");
	ret = tm_ch_to_asn(c, a);
	if (!ret)
		ret = tm_item_save(path, TM_PEM_CHALLENGE,
				   ASN1_ITEM_rptr(TM_CHALLENGE), a, 0644);
	ASN1_item_free((ASN1_VALUE *)a, ASN1_ITEM_rptr(TM_CHALLENGE));
	return ret;
}

int tm_challenge_load(const char *path, struct tm_challenge *c)
{
	void *a;
	int ret;

	ret = tm_item_load(path, TM_PEM_CHALLENGE,
			   ASN1_ITEM_rptr(TM_CHALLENGE), &a);
	if (ret)
		return ret;
	ret = tm_ch_from_asn(a, c);
	ASN1_item_free(a, ASN1_ITEM_rptr(TM_CHALLENGE));
	return ret;
}

void tm_challenge_free(struct tm_challenge *c)
{
	free(c->baseline);
	memset(c, 0, sizeof(*c));
}

int tm_response_save(const char *path, const struct tm_response *r)
{
	struct tm_asn_response *a;
	int ret;

	a = (struct tm_asn_response *)ASN1_item_new(ASN1_ITEM_rptr(TM_RESPONSE));
	if (!a)
		return tm_fail_ssl(TM_EXIT_ERROR, "out of memory");
	ret = tm_version_set(a->version);
	if (!ret)
		ret = tm_os_set(a->id, r->id, sizeof(r->id));
	if (!ret)
		ret = tm_os_put_digest(a->credential, &r->credential);
	if (!ret)
		ret = tm_os_put_attest(a->quote, &r->quote);
	if (!ret)
		ret = tm_os_put_signature(a->quote_sig, &r->quote_sig);
	if (!ret)
		ret = tm_os_put_public(a->mk, &r->mk);
	if (!ret)
		ret = tm_os_put_attest(a->certify, &r->certify);
	if (!ret)
		ret = tm_os_put_signature(a->certify_sig, &r->certify_sig);
	if (!ret)
		ret = tm_item_save(path, TM_PEM_RESPONSE,
				   ASN1_ITEM_rptr(TM_RESPONSE), a, 0644);
	ASN1_item_free((ASN1_VALUE *)a, ASN1_ITEM_rptr(TM_RESPONSE));
	return ret;
}

int tm_response_load(const char *path, struct tm_response *r)
{
	struct tm_asn_response *a;
	void *obj;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = tm_item_load(path, TM_PEM_RESPONSE, ASN1_ITEM_rptr(TM_RESPONSE),
			   &obj);
	if (ret)
		return ret;
	a = obj;
	ret = tm_version_check(a->version);
	if (!ret)
		ret = tm_os_get(a->id, r->id, sizeof(r->id));
	if (!ret)
		ret = tm_os_get_digest(a->credential, &r->credential);
	if (!ret)
		ret = tm_os_get_attest(a->quote, &r->quote);
	if (!ret)
		ret = tm_os_get_signature(a->quote_sig, &r->quote_sig);
	if (!ret)
		ret = tm_os_get_public(a->mk, &r->mk);
	if (!ret)
		ret = tm_os_get_attest(a->certify, &r->certify);
	if (!ret)
		ret = tm_os_get_signature(a->certify_sig, &r->certify_sig);
	ASN1_item_free(obj, ASN1_ITEM_rptr(TM_RESPONSE));
	return ret;
}

int tm_pending_save(const char *path, const struct tm_pending *p)
{
	struct tm_asn_pending *a;
	int ret;

	a = (struct tm_asn_pending *)ASN1_item_new(ASN1_ITEM_rptr(TM_PENDING));
	if (!a)
		return tm_fail_ssl(TM_EXIT_ERROR, "out of memory");
	ret = tm_ch_to_asn(&p->ch, a->ch);
	if (!ret)
		ret = tm_req_to_asn(&p->req, a->req);
	if (!ret)
		ret = tm_os_set(a->credential_sha256, p->credential_sha256,
				sizeof(p->credential_sha256));
	if (!ret)
		ret = tm_item_save(path, TM_PEM_PENDING,
				   ASN1_ITEM_rptr(TM_PENDING), a, 0600);
	ASN1_item_free((ASN1_VALUE *)a, ASN1_ITEM_rptr(TM_PENDING));
	return ret;
}

int tm_pending_load(const char *path, struct tm_pending *p)
{
	struct tm_asn_pending *a;
	void *obj;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = tm_item_load(path, TM_PEM_PENDING, ASN1_ITEM_rptr(TM_PENDING),
			   &obj);
	if (ret)
		return ret;
	a = obj;
	ret = tm_ch_from_asn(a->ch, &p->ch);
	if (!ret)
		ret = tm_req_from_asn(a->req, &p->req);
	if (!ret)
		ret = tm_os_get(a->credential_sha256, p->credential_sha256,
				sizeof(p->credential_sha256));
	ASN1_item_free(obj, ASN1_ITEM_rptr(TM_PENDING));
	if (ret)
		tm_pending_free(p);
	return ret;
}

void tm_pending_free(struct tm_pending *p)
{
	tm_challenge_free(&p->ch);
	tm_request_free(&p->req);
	OPENSSL_cleanse(p, sizeof(*p));
}
