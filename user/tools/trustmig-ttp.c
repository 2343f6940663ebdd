// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig-ttp: the trusted third party's offline certification tool.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "baseline.h"
#include "cli.h"
#include "enrol.h"
#include "host.h"
#include "show.h"
#include "token.h"
#include "tpmsw.h"
#include "util.h"

#define TTP_DIR_DEFAULT	"/var/lib/trustmig-ttp"
#define TTP_DIR_ENV	"TRUSTMIG_TTP_DIR"
#define DAY		86400L

static const char manual[] =
"NAME\n"
"    trustmig-ttp - offline certification authority for trustmig hosts\n"
"\n"
"SYNOPSIS\n"
"    trustmig-ttp COMMAND [OPTIONS]\n"
"    trustmig-ttp --help | trustmig-ttp COMMAND --help | trustmig-ttp --version\n"
"\n"
"DESCRIPTION\n"
"    The trusted third party (TTP) of the Trust_Token scheme. It runs on an\n"
"    offline machine, never takes part in a migration, and talks to hosts\n"
"    only through files an operator carries (docs/ttp.md). It enrols a\n"
"    host's TPM by challenge and response: the host sends its endorsement\n"
"    key (EK) and a new attestation key (AK); the TTP encrypts a secret to\n"
"    the EK with TPM2_MakeCredential (computed in software: the TTP never\n"
"    touches the host's TPM) that only that TPM can recover, and only for\n"
"    that AK; the host returns the secret, a quote of its PCRs over the\n"
"    TTP's nonce and a TPM2_Certify of its PCR-policy-bound migration key.\n"
"    If every check passes against the chosen baseline, the TTP issues the\n"
"    host's Trust_Token: an X.509 v3 certificate for the AK, signed with the\n"
"    TTP's ECDSA P-384 key, with the trustmig extension (OID\n"
"    2.25.62776683548806466880690660492788620930.1) naming the baseline, the\n"
"    PCR policy digest, the migration key and the compliance controls.\n"
"\n"
"    Typical use:\n"
"      trustmig-ttp init --name 'ACME cloud TTP'\n"
"      trustmig-ttp challenge --request host1.req --baseline kvm-prod.json \\\n"
"          --ek-pin 000b... --out host1.chal\n"
"      trustmig-ttp certify --response host1.resp --out host1.pem\n"
"      trustmig-ttp revoke --token host1.pem --reason keyCompromise\n"
"      openssl verify -CAfile DIR/ttp.pem -crl_check -CRLfile DIR/crl.pem host1.pem\n"
"\n"
"    An intermediate TTP under a root that allows one:\n"
"      trustmig-ttp init --dir ROOT --name 'ACME root' --path-len 1\n"
"      trustmig-ttp init --dir DIR --name 'ACME TTP east' --csr east.csr\n"
"      trustmig-ttp certify-ca --dir ROOT --csr east.csr --out east.pem\n"
"      trustmig-ttp init --dir DIR --import-cert east.pem\n"
"\n"
"COMMON OPTIONS\n"
"    --dir DIR      the TTP's state directory (default: $TRUSTMIG_TTP_DIR,\n"
"                   else /var/lib/trustmig-ttp). Keep it on the offline\n"
"                   machine: DIR/ttp.key is the TTP's signing key.\n"
"\n"
"FILES\n"
"    DIR/ttp.key    the signing key (PKCS#8 PEM, mode 0600)\n"
"    DIR/ttp.pem    the TTP certificate: the trust anchor hosts configure,\n"
"                   unless the TTP is an intermediate (then: its root's)\n"
"    DIR/chain.pem  an intermediate's certificate and those above it, short\n"
"                   of the root: they go with every token it issues\n"
"    DIR/crl.pem    the current CRL: publish it to every host\n"
"    DIR/issued/SERIAL.pem     every token (and intermediate TTP) issued\n"
"    DIR/pending/ID.pem        open challenges (one use, then deleted)\n"
"\n"
"EXIT STATUS\n"
"    0  success             10 EK neither certified nor pinned\n"
"    1  error (I/O, crypto)  11 AK is not a restricted fixedTPM signing key\n"
"    2  usage               12 unknown, expired or already used challenge\n"
"    3  invalid baseline    13 credential activation proof wrong (the AK is\n"
"    4  malformed input        not in the TPM of that EK)\n"
"    6  input file missing or unreadable (e.g. permission denied)\n"
"    14 quote signature is not the AK's    15 quote not over the nonce\n"
"    16 quoted PCRs differ from the baseline\n"
"    17 key certification not by the AK    18 certification of another key\n"
"                                             or over another nonce\n"
"    19 migration key attributes unsafe    20 migration key policy is not\n"
"                                             PolicyPCR over the baseline\n"
"    30-36 (verify) chain, expired, not yet valid, revoked, CRL, extension,\n"
"          baseline\n"
"\n"
"COMMANDS\n";

static const char help_init[] =
"  init [--name CN] [--org O] [--days N] [--path-len N] [--crl-days N]\n"
"       [--dir DIR]\n"
"  init --csr FILE [--name CN] [--org O] [--dir DIR]\n"
"  init --import-cert FILE [--import-key FILE] [--crl-days N] [--dir DIR]\n"
"    Create the TTP: a new ECDSA P-384 key and a self-signed CA certificate\n"
"    (CN default \"trustmig TTP\", valid N days, default 3650), and an empty\n"
"    CRL (next update in --crl-days, default 30). --path-len N (0 to 3,\n"
"    default 0; for a new root only) lets N levels of intermediate TTPs\n"
"    stand below it (certify-ca); with 0 it issues tokens only.\n"
"    An intermediate TTP starts with --csr: a new key and a certificate\n"
"    request for it, written to FILE, for its parent's certify-ca; then\n"
"    --import-cert, without --import-key, takes what certify-ca wrote.\n"
"    Or adopt an existing CA certificate and its key (the certificate must\n"
"    be a CA allowed to sign certificates and CRLs). The file may go on\n"
"    with the CA certificates above it, each the issuer of the one before,\n"
"    short of the root. Unless it is self-signed, the TTP's certificate and\n"
"    those above it are kept as DIR/chain.pem and go with every token it\n"
"    issues: hosts then trust the root, and need its CRL too.\n\n";

static const char help_challenge[] =
"  challenge --request FILE --baseline FILE --out FILE\n"
"            (--ek-pin NAME | --ek-ca FILE) [--lifetime HOURS] [--dir DIR]\n"
"    Check a host's enrolment request and write the challenge for it. The EK\n"
"    is trusted if its certificate (in the request) chains to --ek-ca (the\n"
"    TPM manufacturers' CAs), or if its TPM Name equals --ek-pin (read on\n"
"    the host with 'trustmig ek' at rack-in). The AK must be a restricted,\n"
"    fixedTPM ECDSA P-256 key. The challenge carries a fresh nonce, a\n"
"    credential made for the AK with TPM2_MakeCredential to the EK, and the\n"
"    baseline file the host must bind its migration key to; it expires\n"
"    after --lifetime hours (default 24).\n\n";

static const char help_certify[] =
"  certify --response FILE --out FILE [--days N] [--valid-from TIME]\n"
"          [--dir DIR]\n"
"    Check a host's response and issue its Trust_Token (valid N days,\n"
"    default 90, never beyond the TTP certificate, from TIME, default now;\n"
"    TIME is YYYY-MM-DDTHH:MM:SSZ or @SECONDS, e.g. to allow for clock skew\n"
"    or to issue test tokens that are already expired). Refuses, with a reason\n"
"    and a distinct exit status, unless: the challenge is open and fresh;\n"
"    the returned credential is the one made for the AK (so the AK is in\n"
"    the TPM of the EK); the quote is signed by the AK, over the challenge\n"
"    nonce, of the baseline's PCR selection, and its PCR digest equals the\n"
"    baseline's; the migration key is certified by the AK over the nonce;\n"
"    the key is ECC P-256 decrypt, fixedTPM, fixedParent,\n"
"    sensitiveDataOrigin, without userWithAuth, and its authPolicy is\n"
"    PolicyPCR over the baseline. The challenge is used up either way.\n\n";

static const char help_certify_ca[] =
"  certify-ca --csr FILE --out FILE [--days N] [--dir DIR]\n"
"    Certify an intermediate TTP: check the certificate request its\n"
"    'init --csr' wrote (signed by its key, an ECDSA P-384 key, with a\n"
"    common name, not this TTP's name) and write to --out its CA\n"
"    certificate (keyCertSign and cRLSign, one level of CAs fewer allowed\n"
"    below it than this TTP, none if this TTP sets no limit; valid N days,\n"
"    default 1825, never beyond this TTP's certificate), followed by\n"
"    DIR/chain.pem if this TTP has one: the file for 'init --import-cert'\n"
"    there. Refused (2) if this TTP's certificate allows no CA below it.\n"
"    The certificate is kept as DIR/issued/SERIAL.pem: revoke it as a\n"
"    token, and hosts refuse every token the intermediate issued.\n\n";

static const char help_revoke[] =
"  revoke (--serial HEX | --token FILE) [--reason REASON] [--crl-days N]\n"
"         [--dir DIR]\n"
"    Revoke an issued token (or intermediate TTP) and re-issue DIR/crl.pem.\n"
"    REASON is one of\n"
"    unspecified, keyCompromise, affiliationChanged, superseded,\n"
"    cessationOfOperation (default unspecified).\n\n";

static const char help_crl[] =
"  crl [--crl-days N] [--dir DIR]\n"
"    Re-issue DIR/crl.pem with a new next-update time (default in 30 days).\n"
"    Hosts reject tokens when their CRL has expired: re-issue and publish\n"
"    it before then.\n\n";

static const char help_show[] =
"  show --token FILE [--json]\n"
"    Print a Trust_Token human-readably: issuer, subject, validity, AK\n"
"    fingerprint, platform (host name, EK Name), baseline and PCR policy,\n"
"    migration key and compliance controls. Does not verify it. --json:\n"
"    the same fields as one JSON object (times in UTC ISO 8601, digests\n"
"    and names in hex).\n\n";

static const char help_baseline[] =
"  baseline FILE...\n"
"    Check baseline files as challenge does and print each one's id,\n"
"    version, PCR selection, controls and the TPM2_PolicyPCR digest that a\n"
"    migration key bound to it carries as authPolicy.\n\n";

static const char help_verify[] =
"  verify --token FILE --ca FILE [--ca FILE]... [--crl FILE]...\n"
"         [--baseline FILE] [--at TIME]\n"
"    Verify a token as a migration peer will: chain to one of the --ca\n"
"    certificates through the intermediate CA certificates after the token\n"
"    in FILE (at most 3), validity at TIME (default now; \"@SECONDS\" since\n"
"    the epoch or YYYY-MM-DDTHH:MM:SSZ), revocation against the --crl files\n"
"    (when given: of the token and of every CA up to the anchor, each CA's\n"
"    CRL among them), the trustmig AK key usage, the extension's\n"
"    consistency, and that it certifies --baseline (when given).\n\n";

enum { OPT_DIR = 0x100, OPT_NAME, OPT_ORG, OPT_DAYS, OPT_CRLDAYS,
	OPT_ICERT, OPT_IKEY, OPT_REQ, OPT_BASELINE, OPT_OUT, OPT_PIN,
	OPT_EKCA, OPT_LIFE, OPT_RESP, OPT_SERIAL, OPT_TOKEN, OPT_REASON,
	OPT_CA, OPT_CRL, OPT_AT, OPT_FROM, OPT_PATHLEN, OPT_CSR, OPT_JSON };

#define TM_OPT(name, val) { name, required_argument, NULL, val }

struct ttp {
	const char *dir;
	X509 *cert;
	EVP_PKEY *key;
	/* DIR/chain.pem: what goes with every certificate it issues */
	struct stack_st_X509 *chain;
	unsigned long crl_days;
};

static int ttp_path(const struct ttp *c, char *buf, size_t n,
		    const char *name)
{
	return tm_path(buf, n, c->dir, name);
}

static int ttp_dir_opt(struct ttp *c, int opt)
{
	if (opt == OPT_DIR) {
		c->dir = optarg;
		return 0;
	}
	if (opt == OPT_CRLDAYS)
		return tm_parse_ulong(optarg, 1, 3650, &c->crl_days) ? -1 : 0;
	return -1;
}

static int ttp_finish(struct ttp *c, const char *cmd, int argc, char **argv)
{
	if (optind != argc)
		return tm_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
	if (!c->dir)
		c->dir = getenv(TTP_DIR_ENV);
	if (!c->dir || !*c->dir)
		c->dir = TTP_DIR_DEFAULT;
	if (!c->crl_days)
		c->crl_days = 30;
	return 0;
}

static int ttp_key_load(struct ttp *c, const char *path)
{
	BIO *b;

	b = BIO_new_file(path, "r");
	c->key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!c->key)
		return tm_fail_ssl(TM_EXIT_INPUT, "cannot read a key from %s",
				   path);
	return 0;
}

/* The certificate of an intermediate TTP, then those above it. */
static int ttp_chain_load(struct ttp *c, const char *path)
{
	X509 *first;
	int ret;

	ret = tm_cert_chain_load(path, &first, &c->chain);
	if (!ret && !sk_X509_unshift(c->chain, first)) {
		X509_free(first);
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
	}
	return ret;
}

static int ttp_open(struct ttp *c)
{
	char path[4096];
	int ret;

	ret = ttp_path(c, path, sizeof(path), "ttp.pem");
	if (!ret)
		ret = tm_cert_load(path, &c->cert);
	if (!ret)
		ret = ttp_path(c, path, sizeof(path), "ttp.key");
	if (!ret)
		ret = ttp_key_load(c, path);
	if (!ret)
		ret = ttp_path(c, path, sizeof(path), "chain.pem");
	/* a root TTP has none: its certificate is the anchor */
	if (!ret && !access(path, F_OK))
		ret = ttp_chain_load(c, path);
	return ret;
}

static void ttp_close(struct ttp *c)
{
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
	sk_X509_pop_free(c->chain, X509_free);
}

/* PEM of an object through a PEM_write_bio_* function, written atomically */
static int write_pem(const char *path, mode_t mode, int excl,
		     int (*put)(BIO *b, const void *obj), const void *obj)
{
	BIO *b;
	char *data;
	long len;
	int ret;

	b = BIO_new(BIO_s_mem());
	if (!b || !put(b, obj)) {
		BIO_free(b);
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot encode %s", path);
	}
	len = BIO_get_mem_data(b, &data);
	ret = tm_write_file(path, data, len, mode, excl);
	OPENSSL_cleanse(data, len);	/* the TTP key goes through here */
	BIO_free(b);
	return ret;
}

static int put_cert(BIO *b, const void *x)
{
	return PEM_write_bio_X509(b, (X509 *)x);
}

static int put_chain(BIO *b, const void *sk)
{
	const struct stack_st_X509 *chain = sk;
	int i;

	for (i = 0; i < sk_X509_num(chain); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(chain, i)))
			return 0;
	return 1;
}

static int put_req(BIO *b, const void *x)
{
	return PEM_write_bio_X509_REQ(b, (X509_REQ *)x);
}

static int put_crl(BIO *b, const void *x)
{
	return PEM_write_bio_X509_CRL(b, (X509_CRL *)x);
}

static int put_key(BIO *b, const void *k)
{
	return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)k, NULL, NULL, 0, NULL,
					NULL);
}

static int serial_hex(const ASN1_INTEGER *serial, char *buf, size_t n)
{
	BIGNUM *bn;
	char *hex;
	int ret = 0;

	bn = ASN1_INTEGER_to_BN(serial, NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	if (!hex || strlen(hex) >= n)
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot format serial");
	else
		strcpy(buf, hex);
	OPENSSL_free(hex);
	BN_free(bn);
	return ret;
}

/* Re-sign DIR/crl.pem (new if absent), first adding @revoke if given. */
static int ttp_crl_issue(const struct ttp *c, const ASN1_INTEGER *revoke,
			 int reason)
{
	ASN1_TIME *now = NULL, *next = NULL;
	ASN1_ENUMERATED *why = NULL;
	ASN1_INTEGER *num = NULL;
	X509_REVOKED *rev = NULL, *found;
	X509_CRL *crl = NULL;
	char path[4096];
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;
	X509_EXTENSION *aki;
	int ret;

	ret = ttp_path(c, path, sizeof(path), "crl.pem");
	if (ret)
		return ret;
	if (!access(path, F_OK)) {
		ret = tm_crl_load(path, &crl);
		if (ret)
			return ret;
	} else {
		crl = X509_CRL_new();
		X509V3_set_ctx(&ctx, c->cert, NULL, NULL, crl, 0);
		aki = crl ? X509V3_EXT_conf_nid(NULL, &ctx,
						NID_authority_key_identifier,
						"keyid:always") : NULL;
		if (!aki || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
		    !X509_CRL_set_issuer_name(crl,
					      X509_get_subject_name(c->cert)) ||
		    !X509_CRL_add_ext(crl, aki, -1)) {
			X509_EXTENSION_free(aki);
			ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot create a CRL");
			goto out;
		}
		X509_EXTENSION_free(aki);
	}
	now = X509_time_adj_ex(NULL, 0, 0, NULL);
	next = X509_time_adj_ex(NULL, c->crl_days, 0, NULL);
	if (revoke && X509_CRL_get0_by_serial(crl, &found,
					      (ASN1_INTEGER *)revoke) == 1) {
		ret = tm_fail(TM_EXIT_USAGE, "that token is already revoked");
		goto out;
	}
	if (revoke) {
		rev = X509_REVOKED_new();
		why = ASN1_ENUMERATED_new();
		if (!rev || !why || !ASN1_ENUMERATED_set(why, reason) ||
		    !X509_REVOKED_set_serialNumber(rev,
						   (ASN1_INTEGER *)revoke) ||
		    !X509_REVOKED_set_revocationDate(rev, now) ||
		    !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, why, 0, 0) ||
		    !X509_CRL_add0_revoked(crl, rev)) {
			X509_REVOKED_free(rev);
			ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot add to the CRL");
			goto out;
		}
	}
	/* cRLNumber: one more than the previous CRL's */
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	bn = num ? ASN1_INTEGER_to_BN(num, NULL) : BN_new();
	if (!num)
		num = ASN1_INTEGER_new();
	if (!now || !next || !bn || !num || !BN_add_word(bn, 1) ||
	    !BN_to_ASN1_INTEGER(bn, num) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0,
				   X509V3_ADD_REPLACE) ||
	    !X509_CRL_set1_lastUpdate(crl, now) ||
	    !X509_CRL_set1_nextUpdate(crl, next) || !X509_CRL_sort(crl) ||
	    !X509_CRL_sign(crl, c->key, EVP_sha384())) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot sign the CRL");
		goto out;
	}
	ret = write_pem(path, 0644, 0, put_crl, crl);
out:
	BN_free(bn);
	ASN1_INTEGER_free(num);
	ASN1_ENUMERATED_free(why);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	X509_CRL_free(crl);
	return ret;
}

static int ttp_key_save(const struct ttp *c)
{
	char path[4096];
	int ret;

	ret = ttp_path(c, path, sizeof(path), "ttp.key");
	if (!ret)
		ret = write_pem(path, 0600, 1, put_key, c->key);
	return ret;
}

static int ttp_keygen(struct ttp *c)
{
	c->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (!c->key)
		return tm_fail_ssl(TM_EXIT_ERROR, "cannot create the TTP key");
	return 0;
}

/* O=@org (if given), CN=@cn */
static int ttp_name(const char *cn, const char *org, X509_NAME **name)
{
	*name = X509_NAME_new();
	if (*name &&
	    (!org || X509_NAME_add_entry_by_txt(*name, "O", MBSTRING_UTF8,
						(const unsigned char *)org,
						-1, -1, 0)) &&
	    X509_NAME_add_entry_by_txt(*name, "CN", MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1, 0))
		return 0;
	X509_NAME_free(*name);
	*name = NULL;
	return tm_fail_ssl(TM_EXIT_USAGE, "--name or --org cannot name a TTP");
}

/*
 * A TTP certificate for @key named @name, valid from @from to @until,
 * signed with @ikey by @issuer or, if NULL, by itself: a CA allowing
 * @pathlen levels of CAs below it.
 */
static int ttp_ca_cert(X509 *issuer, EVP_PKEY *ikey, const X509_NAME *name,
		       EVP_PKEY *key, long pathlen, time_t from, time_t until,
		       X509 **out)
{
	X509 *x = X509_new();
	char bc[64];
	int ret;

	if (!x)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	if (!issuer)
		issuer = x;
	snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%ld", pathlen);
	ret = tm_cert_serial(x);
	if (!ret && (!X509_set_version(x, X509_VERSION_3) ||
		     !X509_set_subject_name(x, name) ||
		     !X509_set_issuer_name(x, X509_get_subject_name(issuer)) ||
		     !ASN1_TIME_set(X509_getm_notBefore(x), from) ||
		     !ASN1_TIME_set(X509_getm_notAfter(x), until) ||
		     !X509_set_pubkey(x, key)))
		ret = tm_fail_ssl(TM_EXIT_ERROR,
				  "cannot create a TTP certificate");
	if (!ret)
		ret = tm_cert_ext(issuer, x, NID_basic_constraints, bc);
	if (!ret)
		ret = tm_cert_ext(issuer, x, NID_key_usage,
				  "critical,keyCertSign,cRLSign");
	if (!ret)
		ret = tm_cert_ext(issuer, x, NID_subject_key_identifier,
				  "hash");
	if (!ret)
		ret = tm_cert_ext(issuer, x, NID_authority_key_identifier,
				  "keyid:always");
	if (!ret && !X509_sign(x, ikey, EVP_sha384()))
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot sign a TTP certificate");
	if (ret)
		X509_free(x);
	else
		*out = x;
	return ret;
}

static int ttp_self_sign(struct ttp *c, const char *cn, const char *org,
			 unsigned long days, unsigned long pathlen)
{
	time_t now = time(NULL);
	X509_NAME *name = NULL;
	int ret;

	ret = ttp_keygen(c);
	if (!ret)
		ret = ttp_name(cn, org, &name);
	if (!ret)
		ret = ttp_ca_cert(NULL, c->key, name, c->key, pathlen, now,
				  now + days * DAY, &c->cert);
	X509_NAME_free(name);
	return ret;
}

/* An intermediate TTP's key, and the request its parent certifies. */
static int ttp_request(struct ttp *c, const char *cn, const char *org,
		       const char *out)
{
	X509_NAME *name = NULL;
	X509_REQ *req;
	int ret;

	req = X509_REQ_new();
	ret = req ? ttp_keygen(c) : tm_fail(TM_EXIT_ERROR, "out of memory");
	if (!ret)
		ret = ttp_name(cn, org, &name);
	if (!ret && (!X509_REQ_set_subject_name(req, name) ||
		     !X509_REQ_set_pubkey(req, c->key) ||
		     !X509_REQ_sign(req, c->key, EVP_sha384())))
		ret = tm_fail_ssl(TM_EXIT_ERROR,
				  "cannot sign the certificate request");
	if (!ret)
		ret = ttp_key_save(c);
	if (!ret)
		ret = write_pem(out, 0644, 0, put_req, req);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return ret;
}

/*
 * An existing CA, and the CA certificates above it in its file, each the
 * issuer of the one before: an intermediate's go with what it issues.
 */
static int ttp_import(struct ttp *c, const char *certpath, const char *keypath)
{
	uint32_t need = KU_KEY_CERT_SIGN | KU_CRL_SIGN;
	int i, n, ret;
	X509 *x;

	ret = tm_cert_chain_load(certpath, &c->cert, &c->chain);
	if (!ret)
		ret = ttp_key_load(c, keypath);
	if (ret)
		return ret;
	if (X509_check_private_key(c->cert, c->key) != 1)
		return tm_fail_ssl(TM_EXIT_INPUT,
				   "the key does not belong to the certificate");
	if (X509_check_ca(c->cert) != 1 ||
	    ((X509_get_extension_flags(c->cert) & EXFLAG_KUSAGE) &&
	     (X509_get_key_usage(c->cert) & need) != need))
		return tm_fail(TM_EXIT_INPUT,
			       "the certificate is not a CA allowed to sign certificates and CRLs");
	n = sk_X509_num(c->chain);
	for (i = 0; i < n; i++) {
		x = i ? sk_X509_value(c->chain, i - 1) : c->cert;
		if (X509_check_issued(sk_X509_value(c->chain, i), x) !=
		    X509_V_OK)
			return tm_fail(TM_EXIT_INPUT,
				       "%s: certificate %d is not the issuer of certificate %d",
				       certpath, i + 2, i + 1);
	}
	if (X509_self_signed(c->cert, 0) == 1) {
		/* a root: the anchor itself */
		sk_X509_pop_free(c->chain, X509_free);
		c->chain = NULL;
		return 0;
	}
	if (n == TM_CHAIN_MAX)
		return tm_fail(TM_EXIT_INPUT,
			       "%s: a token goes with at most %d intermediate CA certificates, this TTP's own included",
			       certpath, TM_CHAIN_MAX);
	if (!X509_up_ref(c->cert))
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	if (!sk_X509_unshift(c->chain, c->cert)) {
		X509_free(c->cert);
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	}
	return 0;
}

static int mkdir_ttp(const char *dir, const char *sub)
{
	char path[4096];
	int ret;

	ret = tm_path(path, sizeof(path), dir, sub);
	if (!ret && mkdir(path, 0700) && errno != EEXIST)
		ret = tm_fail(TM_EXIT_ERROR, "cannot create %s: %s", path,
			      strerror(errno));
	return ret;
}

/* Its certificate, the certificates above it if any, its first CRL. */
static int ttp_init_files(struct ttp *c)
{
	char path[4096];
	int ret;

	ret = ttp_path(c, path, sizeof(path), "ttp.pem");
	if (!ret)
		ret = write_pem(path, 0644, 1, put_cert, c->cert);
	if (!ret && c->chain)
		ret = ttp_path(c, path, sizeof(path), "chain.pem");
	if (!ret && c->chain)
		ret = write_pem(path, 0644, 1, put_chain, c->chain);
	if (!ret)
		ret = ttp_crl_issue(c, NULL, 0);
	return ret;
}

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("dir", OPT_DIR), TM_OPT("name", OPT_NAME),
		TM_OPT("org", OPT_ORG), TM_OPT("days", OPT_DAYS),
		TM_OPT("path-len", OPT_PATHLEN), TM_OPT("csr", OPT_CSR),
		TM_OPT("crl-days", OPT_CRLDAYS),
		TM_OPT("import-cert", OPT_ICERT),
		TM_OPT("import-key", OPT_IKEY), { 0 }
	};
	const char *cn = "trustmig TTP", *org = NULL, *icert = NULL;
	const char *ikey = NULL, *csr = NULL;
	unsigned long days = 3650, pathlen = 0;
	struct ttp c = { 0 };
	char key[4096];
	int opt, ret, root = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_NAME)
			cn = optarg;
		else if (opt == OPT_ORG)
			org = optarg;
		else if (opt == OPT_ICERT)
			icert = optarg;
		else if (opt == OPT_IKEY)
			ikey = optarg;
		else if (opt == OPT_CSR)
			csr = optarg;
		else if (opt == OPT_DAYS && !tm_parse_ulong(optarg, 1, 36500,
							    &days))
			continue;
		else if (opt == OPT_PATHLEN &&
			 !tm_parse_ulong(optarg, 0, TM_CHAIN_MAX, &pathlen))
			root = 1;
		else if (ttp_dir_opt(&c, opt))
			return tm_usage(argv[0], "bad option");
	}
	ret = ttp_finish(&c, argv[0], argc, argv);
	if (ret)
		return ret;
	if (ikey && !icert)
		return tm_usage(argv[0], "--import-key goes with --import-cert");
	if (csr && icert)
		return tm_usage(argv[0],
				"--csr and --import-cert exclude each other");
	/* a certified TTP's path length is its parent's choice */
	if (root && (csr || icert))
		return tm_usage(argv[0],
				"--path-len is for a new root, not with --csr or --import-cert");
	if (mkdir(c.dir, 0700) && errno != EEXIST)
		return tm_fail(TM_EXIT_ERROR, "cannot create %s: %s", c.dir,
			       strerror(errno));
	ret = mkdir_ttp(c.dir, "issued");
	if (!ret)
		ret = mkdir_ttp(c.dir, "pending");
	if (!ret && csr) {
		ret = ttp_request(&c, cn, org, csr);
		if (!ret)
			printf("TTP key in %s; have its parent certify %s (certify-ca)\n",
			       c.dir, csr);
		goto out;
	}
	/* without --import-key, the key init --csr made */
	if (!ret && icert && !ikey)
		ret = ttp_path(&c, key, sizeof(key), "ttp.key");
	if (!ret && icert)
		ret = ttp_import(&c, icert, ikey ? ikey : key);
	else if (!ret)
		ret = ttp_self_sign(&c, cn, org, days, pathlen);
	if (!ret && (!icert || ikey))
		ret = ttp_key_save(&c);
	if (!ret)
		ret = ttp_init_files(&c);
	if (!ret && !c.chain)
		printf("TTP initialised in %s: trust anchor %s/ttp.pem, CRL %s/crl.pem\n",
		       c.dir, c.dir, c.dir);
	else if (!ret)
		printf("intermediate TTP initialised in %s: CRL %s/crl.pem, chain %s/chain.pem\n",
		       c.dir, c.dir, c.dir);
out:
	ttp_close(&c);
	return ret;
}

/*
 * The EK is the one the operator pinned, or carries a certificate from a
 * TPM manufacturer CA in @ekca and that certificate is for this EK.
 */
static int check_ek(const struct tm_request *req, const char *pin,
		    const char *ekca)
{
	const unsigned char *p = req->ek_cert;
	X509_STORE_CTX *ctx = NULL;
	X509_STORE *st = NULL;
	EVP_PKEY *ekkey = NULL;
	TPM2B_NAME name;
	X509 *cert = NULL;
	char *hex;
	int ret, err;

	ret = tm_public_name(&req->ek, &name);
	if (ret)
		return ret;
	if (pin) {
		hex = tm_hex(name.name, name.size);
		ret = hex && !strcasecmp(hex, pin) ? 0 :
		      tm_fail(TM_EXIT_EK_UNTRUSTED,
			      "EK name %s is not the pinned EK %s",
			      hex ? hex : "?", pin);
		OPENSSL_free(hex);
		return ret;
	}
	if (!req->ek_cert)
		return tm_fail(TM_EXIT_EK_UNTRUSTED,
			       "the request has no EK certificate and no --ek-pin was given");
	cert = d2i_X509(NULL, &p, req->ek_cert_len);
	st = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (!cert || !st || !ctx) {
		ret = tm_fail_ssl(TM_EXIT_EK_UNTRUSTED,
				  "the EK certificate is malformed");
		goto out;
	}
	ret = tm_anchors_load(st, ekca);
	if (ret)
		goto out;
	/* EK certificates carry TCG extensions OpenSSL does not know */
	if (!X509_STORE_CTX_init(ctx, st, cert, NULL)) {
		ret = tm_fail_ssl(TM_EXIT_ERROR, "cannot verify");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_IGNORE_CRITICAL);
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		ret = tm_fail(TM_EXIT_EK_UNTRUSTED,
			      "the EK certificate does not verify against %s: %s",
			      ekca, X509_verify_cert_error_string(err));
		goto out;
	}
	ret = tm_public_to_pkey(&req->ek, &ekkey);
	if (!ret && EVP_PKEY_eq(X509_get0_pubkey(cert), ekkey) != 1)
		ret = tm_fail(TM_EXIT_EK_UNTRUSTED,
			      "the EK certificate is for another key");
out:
	ERR_clear_error();
	EVP_PKEY_free(ekkey);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(cert);
	return ret;
}

static int pending_path(const struct ttp *c, const unsigned char *id,
			char *buf, size_t n)
{
	char name[64], *hex;
	int ret;

	hex = tm_hex(id, TM_CHALLENGE_ID_LEN);
	if (!hex)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	snprintf(name, sizeof(name), "pending/%s.pem", hex);
	OPENSSL_free(hex);
	ret = ttp_path(c, buf, n, name);
	return ret;
}

static int make_challenge(struct tm_pending *p, unsigned long hours)
{
	TPM2B_DIGEST cred = { .size = 32 };
	TPM2B_NAME akname;
	int ret;

	p->ch.nonce.size = TM_NONCE_LEN;
	if (RAND_bytes(p->ch.id, sizeof(p->ch.id)) != 1 ||
	    RAND_bytes(p->ch.nonce.buffer, TM_NONCE_LEN) != 1 ||
	    RAND_bytes(cred.buffer, cred.size) != 1)
		return tm_fail_ssl(TM_EXIT_ERROR, "no randomness");
	p->ch.not_after = time(NULL) + hours * 3600;
	ret = tm_public_name(&p->req.ak, &akname);
	if (!ret)
		ret = tm_make_credential(&p->req.ek, &akname, &cred,
					 &p->ch.blob, &p->ch.secret);
	if (!ret && !EVP_Q_digest(NULL, "SHA256", NULL, cred.buffer,
				  cred.size, p->credential_sha256, NULL))
		ret = tm_fail_ssl(TM_EXIT_ERROR, "SHA-256 failed");
	OPENSSL_cleanse(&cred, sizeof(cred));
	return ret;
}

static int cmd_challenge(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("dir", OPT_DIR), TM_OPT("request", OPT_REQ),
		TM_OPT("baseline", OPT_BASELINE), TM_OPT("out", OPT_OUT),
		TM_OPT("ek-pin", OPT_PIN), TM_OPT("ek-ca", OPT_EKCA),
		TM_OPT("lifetime", OPT_LIFE), { 0 }
	};
	const char *reqpath = NULL, *blpath = NULL, *out = NULL;
	const char *pin = NULL, *ekca = NULL;
	struct tm_pending p = { 0 };
	unsigned long hours = 24;
	struct tm_baseline b;
	struct ttp c = { 0 };
	char path[4096];
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_REQ)
			reqpath = optarg;
		else if (opt == OPT_BASELINE)
			blpath = optarg;
		else if (opt == OPT_OUT)
			out = optarg;
		else if (opt == OPT_PIN)
			pin = optarg;
		else if (opt == OPT_EKCA)
			ekca = optarg;
		else if (opt == OPT_LIFE && !tm_parse_ulong(optarg, 1, 24 * 90,
							    &hours))
			continue;
		else if (ttp_dir_opt(&c, opt))
			return tm_usage(argv[0], "bad option");
	}
	ret = ttp_finish(&c, argv[0], argc, argv);
	if (ret)
		return ret;
	if (!reqpath || !blpath || !out || !pin == !ekca)
		return tm_usage(argv[0],
				"--request, --baseline, --out and one of --ek-pin, --ek-ca are required");
	ret = tm_request_load(reqpath, &p.req);
	if (ret)
		return ret;
	ret = tm_read_file(blpath, &p.ch.baseline, &p.ch.baseline_len);
	if (ret)
		goto out;
	ret = tm_baseline_parse(p.ch.baseline, p.ch.baseline_len, &b);
	if (ret)
		goto out;
	ret = check_ek(&p.req, pin, ekca);
	if (!ret)
		ret = tm_check_ak_public(&p.req.ak);
	if (!ret)
		ret = make_challenge(&p, hours);
	if (!ret)
		ret = pending_path(&c, p.ch.id, path, sizeof(path));
	if (!ret)
		ret = tm_pending_save(path, &p);
	if (!ret)
		ret = tm_challenge_save(out, &p.ch);
	if (!ret)
		printf("challenge for %s (baseline %s version %ld) written to %s (%lu h)\n",
		       p.req.host, b.id, b.version, out, hours);
	tm_baseline_free(&b);
out:
	tm_pending_free(&p);
	return ret;
}

static int same(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && !CRYPTO_memcmp(a, b, alen);
}

/* Every check of the response against the open challenge @p. */
static int check_response(const struct tm_pending *p,
			  const struct tm_response *r,
			  const struct tm_baseline *b)
{
	char state[128];
	unsigned char h[32];
	TPMS_ATTEST cert;
	EVP_PKEY *ak = NULL;
	TPM2B_NAME mkname;
	int ret;

	if (!EVP_Q_digest(NULL, "SHA256", NULL, r->credential.buffer,
			  r->credential.size, h, NULL))
		return tm_fail_ssl(TM_EXIT_ERROR, "SHA-256 failed");
	if (!same(h, 32, p->credential_sha256, 32))
		return tm_fail(TM_EXIT_ACTIVATION,
			       "credential activation failed: the returned secret is not the one made for this AK and EK (the AK is not in that TPM)");
	ret = tm_public_to_pkey(&p->req.ak, &ak);
	if (ret)
		return ret;
	snprintf(state, sizeof(state), "baseline %s version %ld", b->id,
		 b->version);
	ret = tm_quote_verify(&r->quote, &r->quote_sig, ak,
			      p->ch.nonce.buffer, p->ch.nonce.size,
			      "this challenge's nonce", &b->sel, &b->pcr_digest,
			      state);
	if (ret)
		goto out;
	ret = tm_attest_verify(&r->certify, &r->certify_sig, ak,
			       TPM2_ST_ATTEST_CERTIFY, TM_EXIT_CERTIFY_SIG,
			       &cert);
	if (!ret)
		ret = tm_public_name(&r->mk, &mkname);
	if (ret)
		goto out;
	if (!same(cert.extraData.buffer, cert.extraData.size,
		  p->ch.nonce.buffer, p->ch.nonce.size) ||
	    !same(cert.attested.certify.name.name,
		  cert.attested.certify.name.size, mkname.name,
		  mkname.size)) {
		ret = tm_fail(TM_EXIT_CERTIFY_NAME,
			      "the key certification is not of this migration key over this challenge's nonce");
		goto out;
	}
	ret = tm_check_mk_public(&r->mk, &b->policy);
out:
	EVP_PKEY_free(ak);
	return ret;
}

/* @from + @days, cut to the end of this TTP's certificate */
static int ttp_until(const struct ttp *c, time_t from, unsigned long days,
		     const char *what, time_t *until)
{
	struct tm tm;
	time_t end;

	if (!ASN1_TIME_to_tm(X509_get0_notAfter(c->cert), &tm))
		return tm_fail(TM_EXIT_ERROR, "bad TTP certificate expiry");
	end = timegm(&tm);
	*until = from + days * DAY;
	if (*until > end) {
		*until = end;
		fprintf(stderr, "%s: note: %s validity cut to the TTP certificate's\n",
			tm_prog, what);
	}
	return 0;
}

/*
 * Keep @x as DIR/issued/SERIAL.pem, where revoke finds it, and write it
 * to @out followed by this TTP's chain: what its holder shows.
 */
static int ttp_deliver(const struct ttp *c, X509 *x, const char *out,
		       char *serial, size_t n)
{
	struct stack_st_X509 *all;
	char name[128], path[4096];
	int ret;

	ret = serial_hex(X509_get0_serialNumber(x), serial, n);
	if (!ret) {
		snprintf(name, sizeof(name), "issued/%s.pem", serial);
		ret = ttp_path(c, path, sizeof(path), name);
	}
	if (!ret)
		ret = write_pem(path, 0644, 1, put_cert, x);
	if (ret)
		return ret;
	all = c->chain ? sk_X509_dup(c->chain) : sk_X509_new_null();
	if (!all || !sk_X509_unshift(all, x))
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
	else
		ret = write_pem(out, 0644, 0, put_chain, all);
	sk_X509_free(all);
	return ret;
}

static int issue(const struct ttp *c, const struct tm_pending *p,
		 const struct tm_response *r, const struct tm_baseline *b,
		 unsigned long days, time_t from, const char *out)
{
	struct tm_token_info info = { 0 };
	struct tm_token_issue is = { 0 };
	char serial[80];
	X509 *tok = NULL;
	int ret;

	info.host = p->req.host;
	info.mk = r->mk;
	ret = tm_public_name(&p->req.ek, &info.ek_name);
	if (!ret)
		ret = tm_token_info_set_baseline(&info, b);
	if (!ret)
		ret = tm_public_to_pkey(&p->req.ak, &is.ak);
	is.ca = c->cert;
	is.ca_key = c->key;
	is.info = &info;
	is.not_before = from ? from : time(NULL);
	if (!ret)
		ret = ttp_until(c, is.not_before, days, "token",
				&is.not_after);
	if (!ret)
		ret = tm_token_issue(&is, &tok);
	if (!ret)
		ret = ttp_deliver(c, tok, out, serial, sizeof(serial));
	if (!ret)
		printf("Trust_Token %s issued to %s for baseline %s version %ld: %s\n",
		       serial, info.host, b->id, b->version, out);
	info.host = NULL;	/* borrowed */
	tm_token_info_free(&info);
	EVP_PKEY_free(is.ak);
	X509_free(tok);
	return ret;
}

static int cmd_certify(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("dir", OPT_DIR), TM_OPT("response", OPT_RESP),
		TM_OPT("out", OPT_OUT), TM_OPT("days", OPT_DAYS),
		TM_OPT("valid-from", OPT_FROM), { 0 }
	};
	const char *resp = NULL, *out = NULL;
	time_t from = 0;
	struct tm_response r;
	struct tm_pending p;
	struct tm_baseline b;
	unsigned long days = 90;
	struct ttp c = { 0 };
	char path[4096];
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_RESP)
			resp = optarg;
		else if (opt == OPT_OUT)
			out = optarg;
		else if (opt == OPT_DAYS && !tm_parse_ulong(optarg, 1, 3650,
							    &days))
			continue;
		else if (opt == OPT_FROM && !tm_parse_time(optarg, &from))
			continue;
		else if (ttp_dir_opt(&c, opt))
			return tm_usage(argv[0], "bad option");
	}
	ret = ttp_finish(&c, argv[0], argc, argv);
	if (ret)
		return ret;
	if (!resp || !out)
		return tm_usage(argv[0], "--response and --out are required");
	ret = ttp_open(&c);
	if (!ret)
		ret = tm_response_load(resp, &r);
	if (!ret)
		ret = pending_path(&c, r.id, path, sizeof(path));
	if (ret)
		goto close;
	if (access(path, F_OK)) {
		ret = tm_fail(TM_EXIT_CHALLENGE,
			      "the response answers no open challenge (unknown, or already used)");
		goto close;
	}
	ret = tm_pending_load(path, &p);
	if (ret)
		goto close;
	/* a challenge is answered once, whatever the outcome */
	if (unlink(path)) {
		ret = tm_fail(TM_EXIT_ERROR, "cannot remove %s: %s", path,
			      strerror(errno));
		goto free_p;
	}
	if (p.ch.not_after < time(NULL)) {
		ret = tm_fail(TM_EXIT_CHALLENGE, "the challenge has expired");
		goto free_p;
	}
	ret = tm_baseline_parse(p.ch.baseline, p.ch.baseline_len, &b);
	if (ret)
		goto free_p;
	ret = check_response(&p, &r, &b);
	if (!ret)
		ret = issue(&c, &p, &r, &b, days, from, out);
	tm_baseline_free(&b);
free_p:
	tm_pending_free(&p);
close:
	OPENSSL_cleanse(&r, sizeof(r));
	ttp_close(&c);
	return ret;
}

static int csr_load(const char *path, X509_REQ **req)
{
	BIO *b;

	b = BIO_new_file(path, "r");
	*req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!*req)
		return tm_fail_ssl(TM_EXIT_INPUT,
				   "cannot read a PEM certificate request from %s",
				   path);
	return 0;
}

/* Signed by the key it is for, a TTP's key, under a name of its own. */
static int check_csr(const struct ttp *c, X509_REQ *req, const char *path)
{
	EVP_PKEY *key = X509_REQ_get0_pubkey(req);
	X509_NAME *name = X509_REQ_get_subject_name(req);
	char group[32];
	int ok;

	ok = key && X509_REQ_verify(req, key) == 1;
	ERR_clear_error();
	if (!ok)
		return tm_fail(TM_EXIT_INPUT,
			       "%s: the request's signature does not verify with its key",
			       path);
	if (!EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) ||
	    strcmp(group, "secp384r1"))
		return tm_fail(TM_EXIT_INPUT,
			       "%s: the request's key is not ECDSA P-384, as a TTP's is",
			       path);
	if (X509_NAME_get_index_by_NID(name, NID_commonName, -1) < 0)
		return tm_fail(TM_EXIT_INPUT,
			       "%s: the request names no common name (CN)",
			       path);
	if (!X509_NAME_cmp(name, X509_get_subject_name(c->cert)))
		return tm_fail(TM_EXIT_INPUT,
			       "%s: the request bears this TTP's own name", path);
	return 0;
}

static int cmd_certify_ca(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("dir", OPT_DIR), TM_OPT("csr", OPT_CSR),
		TM_OPT("out", OPT_OUT), TM_OPT("days", OPT_DAYS), { 0 }
	};
	const char *csr = NULL, *out = NULL;
	unsigned long days = 1825;
	time_t now = time(NULL), until;
	X509_REQ *req = NULL;
	struct ttp c = { 0 };
	char serial[80];
	X509 *x = NULL;
	long pathlen = 0;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_CSR)
			csr = optarg;
		else if (opt == OPT_OUT)
			out = optarg;
		else if (opt == OPT_DAYS && !tm_parse_ulong(optarg, 1, 36500,
							    &days))
			continue;
		else if (ttp_dir_opt(&c, opt))
			return tm_usage(argv[0], "bad option");
	}
	ret = ttp_finish(&c, argv[0], argc, argv);
	if (ret)
		return ret;
	if (!csr || !out)
		return tm_usage(argv[0], "--csr and --out are required");
	ret = ttp_open(&c);
	if (!ret)
		pathlen = X509_get_pathlen(c.cert);
	if (!ret && !pathlen)
		ret = tm_fail(TM_EXIT_USAGE,
			      "this TTP's certificate allows no CA below it (path length 0; see init --path-len)");
	if (!ret)
		ret = csr_load(csr, &req);
	if (!ret)
		ret = check_csr(&c, req, csr);
	if (!ret)
		ret = ttp_until(&c, now, days, "the intermediate's", &until);
	/* one level fewer below it; none under a TTP that sets no limit */
	if (!ret)
		ret = ttp_ca_cert(c.cert, c.key, X509_REQ_get_subject_name(req),
				  X509_REQ_get0_pubkey(req),
				  pathlen > 0 ? pathlen - 1 : 0, now, until, &x);
	if (!ret)
		ret = ttp_deliver(&c, x, out, serial, sizeof(serial));
	if (!ret)
		printf("intermediate TTP certificate %s issued: %s\n", serial,
		       out);
	X509_free(x);
	X509_REQ_free(req);
	ttp_close(&c);
	return ret;
}

static const struct {
	const char *name;
	int code;
} reasons[] = {
	{ "unspecified", CRL_REASON_UNSPECIFIED },
	{ "keyCompromise", CRL_REASON_KEY_COMPROMISE },
	{ "affiliationChanged", CRL_REASON_AFFILIATION_CHANGED },
	{ "superseded", CRL_REASON_SUPERSEDED },
	{ "cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION },
};

static int cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("dir", OPT_DIR), TM_OPT("serial", OPT_SERIAL),
		TM_OPT("token", OPT_TOKEN), TM_OPT("reason", OPT_REASON),
		TM_OPT("crl-days", OPT_CRLDAYS), { 0 }
	};
	const char *serial = NULL, *token = NULL;
	ASN1_INTEGER *sn = NULL;
	char hex[80], name[128], path[4096];
	struct ttp c = { 0 };
	BIGNUM *bn = NULL;
	X509 *tok = NULL;
	int opt, ret, reason = -1;
	size_t i;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_SERIAL) {
			serial = optarg;
		} else if (opt == OPT_TOKEN) {
			token = optarg;
		} else if (opt == OPT_REASON) {
			for (i = 0; i < ARRAY_SIZE(reasons); i++)
				if (!strcmp(optarg, reasons[i].name))
					reason = reasons[i].code;
			if (reason < 0)
				return tm_usage(argv[0], "unknown reason");
		} else if (ttp_dir_opt(&c, opt)) {
			return tm_usage(argv[0], "bad option");
		}
	}
	ret = ttp_finish(&c, argv[0], argc, argv);
	if (ret)
		return ret;
	if (!serial == !token)
		return tm_usage(argv[0], "give one of --serial, --token");
	ret = ttp_open(&c);
	if (!ret && token) {
		ret = tm_cert_load(token, &tok);
		if (!ret)
			ret = serial_hex(X509_get0_serialNumber(tok), hex,
					 sizeof(hex));
	} else if (!ret) {
		if (strlen(serial) > 40 ||
		    (size_t)BN_hex2bn(&bn, serial) != strlen(serial))
			ret = tm_usage(argv[0], "--serial is not hexadecimal");
		if (!ret)
			sn = BN_to_ASN1_INTEGER(bn, NULL);
		if (!ret)
			ret = sn ? serial_hex(sn, hex, sizeof(hex)) :
				   tm_fail(TM_EXIT_ERROR, "out of memory");
	}
	if (ret)
		goto out;
	snprintf(name, sizeof(name), "issued/%s.pem", hex);
	ret = ttp_path(&c, path, sizeof(path), name);
	if (!ret && access(path, F_OK))
		ret = tm_fail(TM_EXIT_USAGE, "this TTP issued no token %s", hex);
	if (!ret)
		ret = ttp_crl_issue(&c, tok ? X509_get0_serialNumber(tok) : sn,
				    reason < 0 ? CRL_REASON_UNSPECIFIED : reason);
	if (!ret)
		printf("token %s revoked; publish %s/crl.pem\n", hex, c.dir);
out:
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_free(tok);
	ttp_close(&c);
	return ret;
}

static int cmd_crl(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("dir", OPT_DIR), TM_OPT("crl-days", OPT_CRLDAYS), { 0 }
	};
	struct ttp c = { 0 };
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (ttp_dir_opt(&c, opt))
			return tm_usage(argv[0], "bad option");
	ret = ttp_finish(&c, argv[0], argc, argv);
	if (!ret)
		ret = ttp_open(&c);
	if (!ret)
		ret = ttp_crl_issue(&c, NULL, 0);
	if (!ret)
		printf("CRL re-issued: %s/crl.pem, valid %lu days\n", c.dir,
		       c.crl_days);
	ttp_close(&c);
	return ret;
}

static int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("token", OPT_TOKEN),
		{ "json", no_argument, NULL, OPT_JSON }, { 0 }
	};
	struct tm_token_info info;
	const char *token = NULL;
	X509 *tok = NULL;
	int opt, ret, json = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_JSON)
			json = 1;
		else if (opt == OPT_TOKEN)
			token = optarg;
		else
			return tm_usage(argv[0], "bad option");
	}
	if (!token || optind != argc)
		return tm_usage(argv[0], "--token FILE is required");
	ret = tm_cert_load(token, &tok);
	if (!ret)
		ret = tm_token_info_get(tok, &info);
	if (!ret) {
		if (json)
			ret = tm_show_json(stdout, tm_token_json(tok, &info));
		else
			tm_token_print(stdout, tok, &info);
		tm_token_info_free(&info);
	}
	X509_free(tok);
	return ret;
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("token", OPT_TOKEN), TM_OPT("ca", OPT_CA),
		TM_OPT("crl", OPT_CRL), TM_OPT("baseline", OPT_BASELINE),
		TM_OPT("at", OPT_AT), { 0 }
	};
	struct tm_baseline b = { 0 };
	struct tm_verify v = { 0 };
	struct tm_token_info info;
	const char *token = NULL;
	X509_CRL *crl = NULL;
	X509 *tok = NULL;
	int opt, ret = 0, nca = 0;

	v.anchors = X509_STORE_new();
	v.crls = sk_X509_CRL_new_null();
	if (!v.anchors || !v.crls) {
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
		goto out;
	}
	while (!ret && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_TOKEN) {
			token = optarg;
		} else if (opt == OPT_CA) {
			ret = tm_anchors_load(v.anchors, optarg);
			nca++;
		} else if (opt == OPT_CRL) {
			ret = tm_crl_load(optarg, &crl);
			if (!ret && !sk_X509_CRL_push(v.crls, crl))
				ret = tm_fail(TM_EXIT_ERROR, "out of memory");
			if (!ret)
				crl = NULL;
		} else if (opt == OPT_BASELINE && !v.baseline) {
			ret = tm_baseline_load(optarg, &b);
			v.baseline = ret ? NULL : &b;
		} else if (opt != OPT_AT || tm_parse_time(optarg, &v.at)) {
			ret = tm_usage(argv[0], "bad option");
		}
	}
	if (!ret && (!token || !nca || optind != argc))
		ret = tm_usage(argv[0], "--token and --ca are required");
	if (ret)
		goto out;
	if (!sk_X509_CRL_num(v.crls)) {
		sk_X509_CRL_free(v.crls);
		v.crls = NULL;
	}
	ret = tm_cert_chain_load(token, &tok, &v.untrusted);
	if (!ret)
		ret = tm_token_verify(tok, &v, &info);
	if (!ret) {
		printf("%s: OK: Trust_Token of %s, baseline %s version %ld%s\n",
		       token, info.host, info.baseline_id,
		       info.baseline_version,
		       v.crls ? ", not revoked" : " (revocation not checked)");
		tm_token_info_free(&info);
	}
out:
	X509_free(tok);
	sk_X509_pop_free(v.untrusted, X509_free);
	X509_CRL_free(crl);
	sk_X509_CRL_pop_free(v.crls, X509_CRL_free);
	X509_STORE_free(v.anchors);
	tm_baseline_free(&b);
	return ret;
}

static int cmd_baseline(int argc, char **argv)
{
	struct tm_baseline b;
	char *hex, why[512];
	unsigned int k;
	int i, ret;

	if (argc < 2)
		return tm_usage(argv[0], "name at least one baseline file");
	for (i = 1; i < argc; i++) {
		ret = tm_baseline_load(argv[i], &b);
		if (ret) {
			snprintf(why, sizeof(why), "%s", tm_last_error());
			return tm_fail(ret, "%s: %s", argv[i], why);
		}
		printf("%s: baseline %s version %ld, %s PCRs", argv[i], b.id,
		       b.version, tm_hash_name(b.bank));
		for (k = 0; k < b.npcrs; k++)
			printf("%s%u", k ? "," : " ", b.pcr[k]);
		printf(", controls");
		for (k = 0; k < b.ncontrols; k++)
			printf(" %s", b.controls[k].id);
		if (b.has_ima)
			printf(", IMA: %u files, %u trustmig.ko", b.nima,
			       tm_baseline_key_modules(&b));
		hex = tm_hex(b.policy.buffer, b.policy.size);
		printf("\n  PolicyPCR digest %s\n", hex ? hex : "?");
		OPENSSL_free(hex);
		tm_baseline_free(&b);
	}
	return 0;
}

static const struct tm_cmd cmds[] = {
	{ "init", cmd_init, help_init },
	{ "challenge", cmd_challenge, help_challenge },
	{ "certify", cmd_certify, help_certify },
	{ "certify-ca", cmd_certify_ca, help_certify_ca },
	{ "revoke", cmd_revoke, help_revoke },
	{ "crl", cmd_crl, help_crl },
	{ "show", cmd_show, help_show },
	{ "baseline", cmd_baseline, help_baseline },
	{ "verify", cmd_verify, help_verify },
	TM_CMD_VERSION,
	{ NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	return tm_cli_main(argc, argv, manual, cmds);
}
