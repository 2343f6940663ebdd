/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host's side of enrolment and its state directory.
 *
 * The state directory (default /var/lib/trustmig) holds the host's keys as
 * TPM-wrapped blobs (NAME.pub / NAME.priv: marshalled TPM2B_PUBLIC and
 * TPM2B_PRIVATE, as tpm2-tools' -u/-r files), loadable only under this
 * TPM's storage root key:
 *   ek.pub                  the EK enrolment used (type and identity)
 *   enrol/ak.*, enrol/mk.*  keys of an enrolment in progress
 *   ak.*, mk.*, token.pem   the installed Trust_Token and its keys
 */
#ifndef TRUSTMIG_HOST_H
#define TRUSTMIG_HOST_H

#include "enrol.h"
#include "tpm.h"

#define TM_STATE_DEFAULT	"/var/lib/trustmig"
#define TM_STATE_ENV		"TRUSTMIG_STATE"
#define TM_STAGING		"enrol"

/* "@dir/@name" into @buf (TM_EXIT_USAGE if it does not fit). */
int tm_path(char *buf, size_t size, const char *dir, const char *name);

int tm_public_save(const char *path, const TPM2B_PUBLIC *pub);
int tm_public_load(const char *path, TPM2B_PUBLIC *pub);
int tm_key_save(const char *dir, const char *name, const TPM2B_PUBLIC *pub,
		const TPM2B_PRIVATE *priv);
/* Load @dir/@name.{pub,priv} under @parent. */
int tm_key_load(struct tm_tpm *t, ESYS_TR parent, const char *dir,
		const char *name, TPM2B_PUBLIC *pub, ESYS_TR *h);

/*
 * Recreate the EK recorded in @dir/ek.pub, check it is the same key, and
 * activate the challenge's credential with @ak.
 */
int tm_enrol_activate(struct tm_tpm *t, const char *dir,
		      const struct tm_challenge *c, ESYS_TR ak,
		      TPM2B_DIGEST *cred);
/*
 * Create a migration key from @mk_tpl under @srk, then quote @sel over
 * @quote_nonce and certify the key over @certify_nonce with @ak, filling
 * r->quote*, r->mk and r->certify*. The key's private blob goes to @priv.
 */
int tm_enrol_attest(struct tm_tpm *t, ESYS_TR srk, ESYS_TR ak,
		    const TPM2B_PUBLIC *mk_tpl, const TPML_PCR_SELECTION *sel,
		    const TPM2B_DATA *quote_nonce,
		    const TPM2B_DATA *certify_nonce, struct tm_response *r,
		    TPM2B_PRIVATE *priv);

#endif /* TRUSTMIG_HOST_H */
