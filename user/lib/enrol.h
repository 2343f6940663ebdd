/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The files a host and the offline TTP exchange during enrolment
 * (docs/ttp.md): request (host -> TTP), challenge (TTP -> host) and
 * response (host -> TTP), each a DER SEQUENCE in a PEM armour, plus the
 * TTP's private record of an open challenge.
 */
#ifndef TRUSTMIG_ENROL_H
#define TRUSTMIG_ENROL_H

#include <time.h>

#include <tss2/tss2_tpm2_types.h>

#define TM_PEM_REQUEST		"TRUSTMIG ENROLMENT REQUEST"
#define TM_PEM_CHALLENGE	"TRUSTMIG ENROLMENT CHALLENGE"
#define TM_PEM_RESPONSE		"TRUSTMIG ENROLMENT RESPONSE"
#define TM_PEM_PENDING		"TRUSTMIG PENDING CHALLENGE"

#define TM_CHALLENGE_ID_LEN	16
#define TM_NONCE_LEN		32
#define TM_HOST_MAX		253

struct tm_request {
	char *host;			/* host name, for the token subject */
	TPM2B_PUBLIC ek;
	unsigned char *ek_cert;		/* DER, may be NULL */
	size_t ek_cert_len;
	TPM2B_PUBLIC ak;
};

struct tm_challenge {
	unsigned char id[TM_CHALLENGE_ID_LEN];
	TPM2B_DATA nonce;		/* quote and certify qualifying data */
	TPM2B_ID_OBJECT blob;		/* MakeCredential for the AK */
	TPM2B_ENCRYPTED_SECRET secret;
	unsigned char *baseline;	/* the baseline file, verbatim */
	size_t baseline_len;
	time_t not_after;		/* challenge expiry */
};

struct tm_response {
	unsigned char id[TM_CHALLENGE_ID_LEN];
	TPM2B_DIGEST credential;	/* from ActivateCredential */
	TPM2B_ATTEST quote;
	TPMT_SIGNATURE quote_sig;
	TPM2B_PUBLIC mk;		/* the migration key */
	TPM2B_ATTEST certify;		/* TPM2_Certify(mk) by the AK */
	TPMT_SIGNATURE certify_sig;
};

/* What the TTP keeps between "challenge" and "certify". */
struct tm_pending {
	struct tm_challenge ch;
	struct tm_request req;
	unsigned char credential_sha256[32];
};

int tm_request_save(const char *path, const struct tm_request *r);
int tm_request_load(const char *path, struct tm_request *r);
void tm_request_free(struct tm_request *r);

int tm_challenge_save(const char *path, const struct tm_challenge *c);
int tm_challenge_load(const char *path, struct tm_challenge *c);
void tm_challenge_free(struct tm_challenge *c);

int tm_response_save(const char *path, const struct tm_response *r);
int tm_response_load(const char *path, struct tm_response *r);

/* Written with mode 0600: it holds the challenge's hashed credential. */
int tm_pending_save(const char *path, const struct tm_pending *p);
int tm_pending_load(const char *path, struct tm_pending *p);
void tm_pending_free(struct tm_pending *p);

#endif /* TRUSTMIG_ENROL_H */
