// SPDX-License-Identifier: GPL-2.0
/*
 * The host's side of enrolment and its state directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "codec.h"
#include "host.h"
#include "tpmsw.h"
#include "util.h"

int tm_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		return tm_fail(TM_EXIT_USAGE, "path %s/%s is too long", dir,
			       name);
	return 0;
}

/* A TPM structure in a file, marshalled as tpm2-tools has it. */
static int tm_os_write(const char *path, ASN1_OCTET_STRING *os, int ret)
{
	if (!ret)
		ret = tm_write_file(path, os->data, os->length, 0600, 0);
	OPENSSL_cleanse(os->data, os->length);
	ASN1_OCTET_STRING_free(os);
	return ret;
}

static int tm_os_read(const char *path, ASN1_OCTET_STRING **os)
{
	unsigned char *buf;
	size_t len;
	int ret;

	*os = NULL;
	ret = tm_read_file(path, &buf, &len);
	if (ret)
		return ret;
	*os = ASN1_OCTET_STRING_new();
	ret = *os ? tm_os_set(*os, buf, len) :
		    tm_fail(TM_EXIT_ERROR, "out of memory");
	OPENSSL_cleanse(buf, len);
	free(buf);
	return ret;
}

int tm_public_save(const char *path, const TPM2B_PUBLIC *pub)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

	if (!os)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	return tm_os_write(path, os, tm_os_put_public(os, pub));
}

int tm_public_load(const char *path, TPM2B_PUBLIC *pub)
{
	ASN1_OCTET_STRING *os;
	int ret;

	ret = tm_os_read(path, &os);
	if (!ret)
		ret = tm_os_get_public(os, pub);
	ASN1_OCTET_STRING_free(os);
	return ret;
}

static int tm_private_save(const char *path, const TPM2B_PRIVATE *priv)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

	if (!os)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	return tm_os_write(path, os, tm_os_put_private(os, priv));
}

static int tm_private_load(const char *path, TPM2B_PRIVATE *priv)
{
	ASN1_OCTET_STRING *os;
	int ret;

	ret = tm_os_read(path, &os);
	if (!ret)
		ret = tm_os_get_private(os, priv);
	if (os)
		OPENSSL_cleanse(os->data, os->length);
	ASN1_OCTET_STRING_free(os);
	return ret;
}

static int tm_key_path(char *buf, size_t size, const char *dir,
		       const char *name, const char *ext)
{
	int n = snprintf(buf, size, "%s/%s.%s", dir, name, ext);

	if (n < 0 || (size_t)n >= size)
		return tm_fail(TM_EXIT_USAGE, "path %s/%s is too long", dir,
			       name);
	return 0;
}

int tm_key_save(const char *dir, const char *name, const TPM2B_PUBLIC *pub,
		const TPM2B_PRIVATE *priv)
{
	char path[4096];
	int ret;

	ret = tm_key_path(path, sizeof(path), dir, name, "priv");
	if (!ret)
		ret = tm_private_save(path, priv);
	if (!ret)
		ret = tm_key_path(path, sizeof(path), dir, name, "pub");
	if (!ret)
		ret = tm_public_save(path, pub);
	return ret;
}

int tm_key_load(struct tm_tpm *t, ESYS_TR parent, const char *dir,
		const char *name, TPM2B_PUBLIC *pub, ESYS_TR *h)
{
	TPM2B_PRIVATE priv = { 0 };
	char path[4096];
	int ret;

	ret = tm_key_path(path, sizeof(path), dir, name, "pub");
	if (!ret)
		ret = tm_public_load(path, pub);
	if (!ret)
		ret = tm_key_path(path, sizeof(path), dir, name, "priv");
	if (!ret)
		ret = tm_private_load(path, &priv);
	if (!ret)
		ret = tm_tpm_load(t, parent, pub, &priv, h);
	OPENSSL_cleanse(&priv, sizeof(priv));
	return ret;
}

int tm_enrol_activate(struct tm_tpm *t, const char *dir,
		      const struct tm_challenge *c, ESYS_TR ak,
		      TPM2B_DIGEST *cred)
{
	TPM2B_PUBLIC want, got;
	ESYS_TR ek = ESYS_TR_NONE;
	char path[4096];
	int ret;

	ret = tm_path(path, sizeof(path), dir, "ek.pub");
	if (!ret)
		ret = tm_public_load(path, &want);
	if (!ret)
		ret = tm_tpm_ek(t, want.publicArea.type, &ek, &got);
	if (ret)
		return ret;
	if (!tm_public_equal(&want, &got)) {
		ret = tm_fail(TM_EXIT_ERROR,
			      "this TPM's EK is not the one the enrolment request named");
		goto out;
	}
	ret = tm_tpm_activate(t, ak, ek, &c->blob, &c->secret, cred);
out:
	tm_tpm_flush(t, &ek);
	return ret;
}

int tm_enrol_attest(struct tm_tpm *t, ESYS_TR srk, ESYS_TR ak,
		    const TPM2B_PUBLIC *mk_tpl, const TPML_PCR_SELECTION *sel,
		    const TPM2B_DATA *quote_nonce,
		    const TPM2B_DATA *certify_nonce, struct tm_response *r,
		    TPM2B_PRIVATE *priv)
{
	ESYS_TR mk = ESYS_TR_NONE;
	int ret;

	ret = tm_tpm_create(t, srk, mk_tpl, &r->mk, priv);
	if (!ret)
		ret = tm_tpm_load(t, srk, &r->mk, priv, &mk);
	if (!ret)
		ret = tm_tpm_quote(t, ak, quote_nonce, sel, &r->quote,
				   &r->quote_sig);
	if (!ret)
		ret = tm_tpm_certify(t, mk, ak, certify_nonce, &r->certify,
				     &r->certify_sig);
	tm_tpm_flush(t, &mk);
	return ret;
}
