// SPDX-License-Identifier: GPL-2.0
/*
 * tm-forge: builds the dishonest enrolment files the tests feed to the TTP,
 * with the same library and a real TPM, so that every refusal is exercised
 * end to end. Never installed; tests only.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

#include "baseline.h"
#include "cli.h"
#include "enrol.h"
#include "host.h"
#include "tpm.h"
#include "tpmsw.h"
#include "util.h"

static const char manual[] =
"tm-forge - forge dishonest trustmig enrolment files (tests only)\n\n";

static const char help_mix[] =
"  mix-request --ek-from REQ --ak-from REQ --out FILE\n"
"    A request naming the EK of one host and the AK of another.\n\n";

static const char help_rename[] =
"  rename-request --from REQ --host-name NAME --out FILE\n"
"    The request REQ with any host name, unchecked (newlines included).\n\n";

static const char help_respond[] =
"  respond --state DIR --challenge FILE --out FILE [--tcti CONF]\n"
"          [--wrong-credential] [--wrong-quote-nonce] [--mk-user-with-auth]\n"
"          [--mk-wrong-policy] [--quote-sig-high-s] [--quote-sig-padded]\n"
"    Answer a challenge like 'trustmig enrol-respond', but cheating as\n"
"    asked: a guessed credential instead of ActivateCredential, a quote\n"
"    over another nonce, a migration key usable with its authValue, or one\n"
"    bound to other PCR values; or the TPM's quote signature re-encoded,\n"
"    still valid ECDSA: s replaced by n - s, or r with a leading zero.\n\n";

enum { OPT_EK = 0x100, OPT_AK, OPT_OUT, OPT_STATE, OPT_CHAL, OPT_TCTI,
	OPT_WRONG_CRED, OPT_WRONG_NONCE, OPT_UWA, OPT_WRONG_POLICY,
	OPT_HIGH_S, OPT_PADDED, OPT_FROM, OPT_HOST };

static int cmd_mix(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ek-from", required_argument, NULL, OPT_EK },
		{ "ak-from", required_argument, NULL, OPT_AK },
		{ "out", required_argument, NULL, OPT_OUT }, { 0 }
	};
	const char *ekp = NULL, *akp = NULL, *out = NULL;
	struct tm_request a, b;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_EK)
			ekp = optarg;
		else if (opt == OPT_AK)
			akp = optarg;
		else if (opt == OPT_OUT)
			out = optarg;
		else
			return tm_usage(argv[0], "bad option");
	}
	if (!ekp || !akp || !out)
		return tm_usage(argv[0], "missing option");
	ret = tm_request_load(ekp, &a);
	if (ret)
		return ret;
	ret = tm_request_load(akp, &b);
	if (!ret) {
		a.ak = b.ak;
		ret = tm_request_save(out, &a);
		tm_request_free(&b);
	}
	tm_request_free(&a);
	return ret;
}

static int cmd_rename(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "host-name", required_argument, NULL, OPT_HOST },
		{ "out", required_argument, NULL, OPT_OUT }, { 0 }
	};
	const char *from = NULL, *host = NULL, *out = NULL;
	struct tm_request r;
	char *own;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_FROM)
			from = optarg;
		else if (opt == OPT_HOST)
			host = optarg;
		else if (opt == OPT_OUT)
			out = optarg;
		else
			return tm_usage(argv[0], "bad option");
	}
	if (!from || !host || !out)
		return tm_usage(argv[0], "missing option");
	ret = tm_request_load(from, &r);
	if (ret)
		return ret;
	own = r.host;
	r.host = (char *)host;
	ret = tm_request_save(out, &r);
	r.host = own;
	tm_request_free(&r);
	return ret;
}

struct cheat {
	int wrong_cred, wrong_nonce, uwa, wrong_policy, high_s, padded;
};

/* The same signature, encoded otherwise: (r, n - s), or r with a 0 byte. */
static int reencode(TPMS_SIGNATURE_ECDSA *e, const struct cheat *x)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
	int ret = 0;

	if (!g || !s)
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
	if (!ret && x->high_s &&
	    (!BN_sub(s, EC_GROUP_get0_order(g), s) ||
	     BN_bn2binpad(s, e->signatureS.buffer, e->signatureS.size) < 0))
		ret = tm_fail(TM_EXIT_ERROR, "cannot negate s");
	if (!ret && x->padded) {
		memmove(e->signatureR.buffer + 1, e->signatureR.buffer,
			e->signatureR.size);
		e->signatureR.buffer[0] = 0;
		e->signatureR.size++;
	}
	BN_free(s);
	EC_GROUP_free(g);
	return ret;
}

static int forge(struct tm_tpm *t, const char *state,
		 const struct tm_challenge *c, const struct tm_baseline *b,
		 const struct cheat *x, struct tm_response *r)
{
	ESYS_TR srk = ESYS_TR_NONE, ak = ESYS_TR_NONE;
	TPM2B_DIGEST policy = b->policy, other = { .size = 32 };
	TPM2B_DATA qnonce = c->nonce;
	TPM2B_PUBLIC akpub, tpl;
	TPM2B_PRIVATE priv = { 0 };
	char staging[4096];
	int ret;

	memcpy(r->id, c->id, sizeof(r->id));
	ret = tm_path(staging, sizeof(staging), state, TM_STAGING);
	if (!ret)
		ret = tm_tpm_srk(t, &srk);
	if (!ret)
		ret = tm_key_load(t, srk, staging, "ak", &akpub, &ak);
	r->credential.size = 32;
	if (!ret && (RAND_bytes(r->credential.buffer, 32) != 1 ||
		     RAND_bytes(qnonce.buffer, qnonce.size) != 1))
		ret = tm_fail(TM_EXIT_ERROR, "no randomness");
	if (!ret && !x->wrong_cred)
		ret = tm_enrol_activate(t, state, c, ak, &r->credential);
	if (!x->wrong_nonce)
		qnonce = c->nonce;
	if (!ret && x->wrong_policy)
		ret = tm_policy_pcr(&b->sel, &other, &policy);
	tm_mk_template(&tpl, &policy);
	if (x->uwa)
		tpl.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
	if (!ret)
		ret = tm_enrol_attest(t, srk, ak, &tpl, &b->sel, &qnonce,
				      &c->nonce, r, &priv);
	if (!ret && (x->high_s || x->padded))
		ret = reencode(&r->quote_sig.signature.ecdsa, x);
	OPENSSL_cleanse(&priv, sizeof(priv));
	tm_tpm_flush(t, &ak);
	tm_tpm_flush(t, &srk);
	return ret;
}

static int cmd_respond(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, OPT_STATE },
		{ "challenge", required_argument, NULL, OPT_CHAL },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "tcti", required_argument, NULL, OPT_TCTI },
		{ "wrong-credential", no_argument, NULL, OPT_WRONG_CRED },
		{ "wrong-quote-nonce", no_argument, NULL, OPT_WRONG_NONCE },
		{ "mk-user-with-auth", no_argument, NULL, OPT_UWA },
		{ "mk-wrong-policy", no_argument, NULL, OPT_WRONG_POLICY },
		{ "quote-sig-high-s", no_argument, NULL, OPT_HIGH_S },
		{ "quote-sig-padded", no_argument, NULL, OPT_PADDED },
		{ 0 }
	};
	const char *state = NULL, *chal = NULL, *out = NULL, *tcti = NULL;
	struct tm_response r = { 0 };
	struct cheat x = { 0 };
	struct tm_challenge c;
	struct tm_baseline b;
	struct tm_tpm t;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_STATE)
			state = optarg;
		else if (opt == OPT_CHAL)
			chal = optarg;
		else if (opt == OPT_OUT)
			out = optarg;
		else if (opt == OPT_TCTI)
			tcti = optarg;
		else if (opt == OPT_WRONG_CRED)
			x.wrong_cred = 1;
		else if (opt == OPT_WRONG_NONCE)
			x.wrong_nonce = 1;
		else if (opt == OPT_UWA)
			x.uwa = 1;
		else if (opt == OPT_WRONG_POLICY)
			x.wrong_policy = 1;
		else if (opt == OPT_HIGH_S)
			x.high_s = 1;
		else if (opt == OPT_PADDED)
			x.padded = 1;
		else
			return tm_usage(argv[0], "bad option");
	}
	if (!state || !chal || !out)
		return tm_usage(argv[0], "missing option");
	ret = tm_challenge_load(chal, &c);
	if (ret)
		return ret;
	ret = tm_baseline_parse(c.baseline, c.baseline_len, &b);
	if (!ret) {
		ret = tm_tpm_open(&t, tcti);
		if (!ret)
			ret = forge(&t, state, &c, &b, &x, &r);
		if (!ret)
			ret = tm_response_save(out, &r);
		tm_tpm_close(&t);
		tm_baseline_free(&b);
	}
	tm_challenge_free(&c);
	return ret;
}

static const struct tm_cmd cmds[] = {
	{ "mix-request", cmd_mix, help_mix },
	{ "rename-request", cmd_rename, help_rename },
	{ "respond", cmd_respond, help_respond },
	{ NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	return tm_cli_main(argc, argv, manual, cmds);
}
