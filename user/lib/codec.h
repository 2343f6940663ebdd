/* SPDX-License-Identifier: GPL-2.0 */
/*
 * DER/PEM containers through OpenSSL's ASN.1 templates, and TPM structures
 * (marshalled by libtss2-mu) carried in ASN.1 OCTET STRINGs.
 */
#ifndef TRUSTMIG_CODEC_H
#define TRUSTMIG_CODEC_H

#include <sys/types.h>

#include <openssl/asn1.h>
#include <tss2/tss2_tpm2_types.h>

/* Largest DER structure tm_item_load() accepts, in bytes. */
enum { TM_DER_MAX = 1 << 16 };

/* DER-encode @obj of type @it and write it PEM-armoured as @pem_name. */
int tm_item_save(const char *path, const char *pem_name,
		 const ASN1_ITEM *it, const void *obj, mode_t mode);
/* Read a PEM file of type @pem_name and decode it strictly (no trailer). */
int tm_item_load(const char *path, const char *pem_name, const ASN1_ITEM *it,
		 void **obj);

/* Copy exactly @len bytes out of @os (TM_EXIT_INPUT otherwise). */
int tm_os_get(const ASN1_OCTET_STRING *os, void *data, size_t len);
/* Set @os to a copy of @len bytes at @data. */
int tm_os_set(ASN1_OCTET_STRING *os, const void *data, size_t len);

int tm_os_put_public(ASN1_OCTET_STRING *os, const TPM2B_PUBLIC *v);
int tm_os_get_public(const ASN1_OCTET_STRING *os, TPM2B_PUBLIC *v);
int tm_os_put_private(ASN1_OCTET_STRING *os, const TPM2B_PRIVATE *v);
int tm_os_get_private(const ASN1_OCTET_STRING *os, TPM2B_PRIVATE *v);
int tm_os_put_id_object(ASN1_OCTET_STRING *os, const TPM2B_ID_OBJECT *v);
int tm_os_get_id_object(const ASN1_OCTET_STRING *os, TPM2B_ID_OBJECT *v);
int tm_os_put_enc_secret(ASN1_OCTET_STRING *os,
			 const TPM2B_ENCRYPTED_SECRET *v);
int tm_os_get_enc_secret(const ASN1_OCTET_STRING *os,
			 TPM2B_ENCRYPTED_SECRET *v);
int tm_os_put_attest(ASN1_OCTET_STRING *os, const TPM2B_ATTEST *v);
int tm_os_get_attest(const ASN1_OCTET_STRING *os, TPM2B_ATTEST *v);
int tm_os_put_signature(ASN1_OCTET_STRING *os, const TPMT_SIGNATURE *v);
int tm_os_get_signature(const ASN1_OCTET_STRING *os, TPMT_SIGNATURE *v);
int tm_os_put_digest(ASN1_OCTET_STRING *os, const TPM2B_DIGEST *v);
int tm_os_get_digest(const ASN1_OCTET_STRING *os, TPM2B_DIGEST *v);

#endif /* TRUSTMIG_CODEC_H */
