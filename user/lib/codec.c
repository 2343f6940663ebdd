// SPDX-License-Identifier: GPL-2.0
/*
 * DER/PEM containers and TPM structures in ASN.1 OCTET STRINGs.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "codec.h"
#include "util.h"

int tm_os_set(ASN1_OCTET_STRING *os, const void *data, size_t len)
{
	if (!ASN1_OCTET_STRING_set(os, data, len))
		return tm_fail_ssl(TM_EXIT_ERROR, "out of memory");
	return 0;
}

int tm_os_get(const ASN1_OCTET_STRING *os, void *data, size_t len)
{
	if (!os || (size_t)os->length != len)
		return tm_fail(TM_EXIT_INPUT, "field is not %zu bytes long",
			       len);
	memcpy(data, os->data, len);
	return 0;
}

/* The result of a libtss2-mu marshalling of @len bytes into @os. */
static int tm_os_marshalled(ASN1_OCTET_STRING *os, TSS2_RC rc,
			    const unsigned char *buf, size_t len,
			    const char *what)
{
	if (rc)
		return tm_fail(TM_EXIT_ERROR, "cannot marshal %s", what);
	return tm_os_set(os, buf, len);
}

/* Unmarshalling must have consumed the whole string. */
static int tm_os_unmarshalled(const ASN1_OCTET_STRING *os, TSS2_RC rc,
			      size_t off, const char *what)
{
	if (rc || off != (size_t)os->length)
		return tm_fail(TM_EXIT_INPUT, "malformed %s", what);
	return 0;
}

int tm_os_put_public(ASN1_OCTET_STRING *os, const TPM2B_PUBLIC *v)
{
	unsigned char buf[sizeof(*v)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(v, buf, sizeof(buf), &off);
	return tm_os_marshalled(os, rc, buf, off, "TPM2B_PUBLIC");
}

int tm_os_get_public(const ASN1_OCTET_STRING *os, TPM2B_PUBLIC *v)
{
	size_t off = 0;
	TSS2_RC rc;

	memset(v, 0, sizeof(*v));
	rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(os->data, os->length, &off, v);
	return tm_os_unmarshalled(os, rc, off, "TPM2B_PUBLIC");
}

int tm_os_put_private(ASN1_OCTET_STRING *os, const TPM2B_PRIVATE *v)
{
	unsigned char buf[sizeof(*v)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPM2B_PRIVATE_Marshal(v, buf, sizeof(buf), &off);
	return tm_os_marshalled(os, rc, buf, off, "TPM2B_PRIVATE");
}

int tm_os_get_private(const ASN1_OCTET_STRING *os, TPM2B_PRIVATE *v)
{
	size_t off = 0;
	TSS2_RC rc;

	memset(v, 0, sizeof(*v));
	rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(os->data, os->length, &off, v);
	return tm_os_unmarshalled(os, rc, off, "TPM2B_PRIVATE");
}

int tm_os_put_id_object(ASN1_OCTET_STRING *os, const TPM2B_ID_OBJECT *v)
{
	unsigned char buf[sizeof(*v)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPM2B_ID_OBJECT_Marshal(v, buf, sizeof(buf), &off);
	return tm_os_marshalled(os, rc, buf, off, "TPM2B_ID_OBJECT");
}

int tm_os_get_id_object(const ASN1_OCTET_STRING *os, TPM2B_ID_OBJECT *v)
{
	size_t off = 0;
	TSS2_RC rc;

	memset(v, 0, sizeof(*v));
	rc = Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(os->data, os->length, &off, v);
	return tm_os_unmarshalled(os, rc, off, "TPM2B_ID_OBJECT");
}

int tm_os_put_enc_secret(ASN1_OCTET_STRING *os, const TPM2B_ENCRYPTED_SECRET *v)
{
	unsigned char buf[sizeof(*v)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(v, buf, sizeof(buf), &off);
	return tm_os_marshalled(os, rc, buf, off, "TPM2B_ENCRYPTED_SECRET");
}

int tm_os_get_enc_secret(const ASN1_OCTET_STRING *os, TPM2B_ENCRYPTED_SECRET *v)
{
	size_t off = 0;
	TSS2_RC rc;

	memset(v, 0, sizeof(*v));
	rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(os->data, os->length, &off, v);
	return tm_os_unmarshalled(os, rc, off, "TPM2B_ENCRYPTED_SECRET");
}

int tm_os_put_attest(ASN1_OCTET_STRING *os, const TPM2B_ATTEST *v)
{
	unsigned char buf[sizeof(*v)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPM2B_ATTEST_Marshal(v, buf, sizeof(buf), &off);
	return tm_os_marshalled(os, rc, buf, off, "TPM2B_ATTEST");
}

int tm_os_get_attest(const ASN1_OCTET_STRING *os, TPM2B_ATTEST *v)
{
	size_t off = 0;
	TSS2_RC rc;

	memset(v, 0, sizeof(*v));
	rc = Tss2_MU_TPM2B_ATTEST_Unmarshal(os->data, os->length, &off, v);
	return tm_os_unmarshalled(os, rc, off, "TPM2B_ATTEST");
}

int tm_os_put_signature(ASN1_OCTET_STRING *os, const TPMT_SIGNATURE *v)
{
	unsigned char buf[sizeof(*v)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPMT_SIGNATURE_Marshal(v, buf, sizeof(buf), &off);
	return tm_os_marshalled(os, rc, buf, off, "TPMT_SIGNATURE");
}

int tm_os_get_signature(const ASN1_OCTET_STRING *os, TPMT_SIGNATURE *v)
{
	size_t off = 0;
	TSS2_RC rc;

	memset(v, 0, sizeof(*v));
	rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(os->data, os->length, &off, v);
	return tm_os_unmarshalled(os, rc, off, "TPMT_SIGNATURE");
}

int tm_os_put_digest(ASN1_OCTET_STRING *os, const TPM2B_DIGEST *v)
{
	unsigned char buf[sizeof(*v)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPM2B_DIGEST_Marshal(v, buf, sizeof(buf), &off);
	return tm_os_marshalled(os, rc, buf, off, "TPM2B_DIGEST");
}

int tm_os_get_digest(const ASN1_OCTET_STRING *os, TPM2B_DIGEST *v)
{
	size_t off = 0;
	TSS2_RC rc;

	memset(v, 0, sizeof(*v));
	rc = Tss2_MU_TPM2B_DIGEST_Unmarshal(os->data, os->length, &off, v);
	return tm_os_unmarshalled(os, rc, off, "TPM2B_DIGEST");
}

int tm_item_save(const char *path, const char *pem_name, const ASN1_ITEM *it,
		 const void *obj, mode_t mode)
{
	unsigned char *der = NULL;
	BIO *bio = NULL;
	char *pem;
	long plen;
	int len, ret;

	len = ASN1_item_i2d((const ASN1_VALUE *)obj, &der, it);
	bio = BIO_new(BIO_s_mem());
	if (len <= 0 || !bio ||
	    PEM_write_bio(bio, pem_name, "", der, len) <= 0) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot encode %s", pem_name);
		goto out;
	}
	plen = BIO_get_mem_data(bio, &pem);
	ret = tm_write_file(path, pem, plen, mode, 0);
out:
	BIO_free(bio);
	OPENSSL_free(der);
	return ret;
}

int tm_item_load(const char *path, const char *pem_name, const ASN1_ITEM *it,
		 void **obj)
{
	unsigned char *buf = NULL, *der = NULL;
	char *name = NULL, *header = NULL;
	const unsigned char *p;
	BIO *bio = NULL;
	long dlen;
	size_t len;
	int ret;

	*obj = NULL;
	ret = tm_read_file(path, &buf, &len);
	if (ret)
		return ret;
	bio = BIO_new_mem_buf(buf, len);
	if (!bio || !PEM_read_bio(bio, &name, &header, &der, &dlen)) {
		ret = tm_fail_ssl(TM_EXIT_INPUT, "%s is not a PEM file", path);
		goto out;
	}
	if (dlen > TM_DER_MAX) {
		ret = tm_fail(TM_EXIT_INPUT, "%s is too large", path);
		goto out;
	}
	if (strcmp(name, pem_name)) {
		ret = tm_fail(TM_EXIT_INPUT, "%s holds a %s, not a %s", path,
			      name, pem_name);
		goto out;
	}
	p = der;
	*obj = ASN1_item_d2i(NULL, &p, dlen, it);
	if (!*obj || p != der + dlen) {
		ASN1_item_free(*obj, it);
		*obj = NULL;
		ret = tm_fail_ssl(TM_EXIT_INPUT, "%s: malformed %s", path,
				  pem_name);
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	free(buf);
	return ret;
}
