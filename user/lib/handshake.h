/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The migration handshake (docs/protocol.md): a mutual, fresh,
 * TPM-attested key agreement with forward secrecy between the source
 * (trustmig handshake) and the destination (trustmigd).
 *
 *   M1  S->D  nonce_S, policy id, the destinations S accepts,
 *             token chain S, ephemeral e_S
 *   M2  D->S  hello { nonce_D, token chain D, ephemeral e_D },
 *             quote_D(H2), confirm_D
 *   M3  S->D  quote_S(H3), confirm_S
 *   RESULT D->S  whether D installed its keys, MACed with a key of
 *                this handshake
 *
 * Z = ECDH(e_S, e_D) || ECDH_ZGen(MK_D, e_S): D's TPM takes part only
 * while its PCRs hold the certified values; the ephemeral half gives
 * forward secrecy. Keys: HKDF-SHA-256 over Z salted with transcript
 * hashes. Any failure sends the peer an ALERT and returns its TM_EXIT_*.
 */
#ifndef TRUSTMIG_HANDSHAKE_H
#define TRUSTMIG_HANDSHAKE_H

#include <openssl/x509.h>

#include "enrol.h"
#include "module.h"
#include "policy.h"
#include "tpm.h"

#define TM_HS_FPR_LEN		16

enum tm_msg_type {
	TM_MSG_M1 = 1,
	TM_MSG_M2 = 2,
	TM_MSG_M3 = 3,
	TM_MSG_RESULT = 4,
	TM_MSG_ALERT = 21,
};

struct tm_hs_config {
	struct tm_tpm *tpm;
	const char *state;		/* token.pem, ak.*, mk.* */
	const char *ima_log;		/* this host's IMA list */
	/* STACK_OF(X509_CRL) checked for the peer's token */
	struct stack_st_X509_CRL *crls;
	int timeout_ms;			/* per message */
	const struct tm_policy *policy;	/* source: the VM's policy */
	/*
	 * source: the host names the destination's token may bear (none:
	 * any the policy accepts), and who said so, for the refusal
	 */
	const struct tm_hosts *expect;
	const char *expect_from;
	const char *policy_dir;		/* destination: policies by id */
	/* destination: the TTPs this host trusts (NULL: the policy's) */
	X509_STORE *trusted;
};

struct tm_hs_keys {
	__u32 stream;
	unsigned char s2d_key[TRUSTMIG_KEY_LEN];
	unsigned char s2d_salt[TRUSTMIG_SALT_LEN];
	unsigned char d2s_key[TRUSTMIG_KEY_LEN];
	unsigned char d2s_salt[TRUSTMIG_SALT_LEN];
	/* HKDF output of its own: shows that both ends agree, not the keys */
	unsigned char fingerprint[TM_HS_FPR_LEN];
	/* authenticates RESULT; tm_hs_install() keeps it for that */
	unsigned char result_key[32];
	/* not secret; tm_hs_keys_wipe() keeps them */
	char peer[TM_HOST_MAX + 1];	/* host name in peer token */
	char policy[TM_POLICY_ID_MAX + 1];
};

int tm_hs_source(int fd, const struct tm_hs_config *c, struct tm_hs_keys *k);
int tm_hs_dest(int fd, const struct tm_hs_config *c, struct tm_hs_keys *k);
/*
 * D: tell S the outcome of the key installation (0 or a TM_EXIT_*),
 * authenticated with @k's RESULT key.
 */
int tm_hs_result_send(int fd, const struct tm_hs_config *c,
		      const struct tm_hs_keys *k, int code);
/*
 * S: D's outcome; TM_EXIT_CONFIRM if it is not authenticated by @k's
 * RESULT key, else TM_EXIT_PEER_REFUSED (with D's reason) unless 0.
 */
int tm_hs_result_recv(int fd, const struct tm_hs_config *c,
		      const struct tm_hs_keys *k);
void tm_hs_keys_wipe(struct tm_hs_keys *k);

/*
 * Install the source->destination key, salt and stream id in trustmig.ko
 * as a session of @role, labelled with @k's peer and policy, with the
 * deadlines and address the caller set in @s; fills the rest of @s and
 * wipes @k's traffic keys whatever the outcome (tm_hs_keys_wipe() wipes
 * the rest).
 */
int tm_hs_install(struct tm_hs_keys *k, __u8 role, struct tm_session *s);
/*
 * One syslog-style line per handshake on stderr ("<3>prog[pid]: ..."
 * priority prefix, as journald reads it): peer, policy, result, reason
 * and duration since @start_ms.
 */
void tm_hs_log(const char *peer, const struct tm_hs_keys *k, int code,
	       long long start_ms);
/* In debug mode: the key fingerprint line the tests compare. */
void tm_hs_print_fingerprint(const struct tm_hs_keys *k);

#endif /* TRUSTMIG_HANDSHAKE_H */
