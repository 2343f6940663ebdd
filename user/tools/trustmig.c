// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig: the host's command-line tool. This part: enrolment with the
 * offline TTP, baseline recording and the migration key self-check.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "baseline.h"
#include "cli.h"
#include "config.h"
#include "enrol.h"
#include "handshake.h"
#include "host.h"
#include "ima.h"
#include "module.h"
#include "show.h"
#include "token.h"
#include "tpm.h"
#include "tpmsw.h"
#include "util.h"
#include "wire.h"

static const char manual[] =
"NAME\n"
"    trustmig - trustmig host tool: enrolment, baselines, migration handshake\n"
"\n"
"SYNOPSIS\n"
"    trustmig COMMAND [OPTIONS]\n"
"    trustmig --help | trustmig COMMAND --help | trustmig --version\n"
"\n"
"DESCRIPTION\n"
"    Runs on a KVM host that is to receive migrating VMs. It enrols the\n"
"    host's TPM with the trusted third party (TTP) through files carried\n"
"    to and from the offline TTP, installs the resulting Trust_Token, and\n"
"    checks that the TPM still lets the host use its migration key. On a\n"
"    source host, 'trustmig handshake' runs the attested key agreement with\n"
"    the destination's trustmigd and hands the VMM its session.\n"
"\n"
"    Enrolment, as an operator runs it (see docs/ttp.md):\n"
"      host$ trustmig enrol-request --out host1.req\n"
"      ttp$  trustmig-ttp challenge --request host1.req \\\n"
"                --baseline kvm-prod.json --ek-pin NAME --out host1.chal\n"
"      host$ trustmig enrol-respond --challenge host1.chal --out host1.resp\n"
"      ttp$  trustmig-ttp certify --response host1.resp --out host1.pem\n"
"      host$ trustmig enrol-install --token host1.pem --ca ttp.pem\n"
"\n"
"COMMON OPTIONS\n"
"    --tcti CONF    TPM access, a tpm2-tss TCTI string (default: $TRUSTMIG_TCTI,\n"
"                   else the configuration's tcti, else device:/dev/tpmrm0;\n"
"                   swtpm:host=127.0.0.1,port=2321 for a software TPM)\n"
"    --state DIR    host state directory (default: $TRUSTMIG_STATE, else\n"
"                   the configuration's state, else /var/lib/trustmig)\n"
"    --config FILE  the host's configuration file (default: $TRUSTMIG_CONFIG,\n"
"                   else /etc/trustmig/trustmig.conf if it exists; format in\n"
"                   docs/trustmig.conf.example). It holds the defaults of\n"
"                   --tcti, --state, --policy-dir, --timeout, --crl and the\n"
"                   TTP anchors; command-line options win over it.\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 error (I/O, TPM); 2 usage; 3 invalid baseline; 4 malformed\n"
"    input file; 5 invalid configuration file (config: or what it names);\n"
"    6 input file missing or unreadable (permission denied); 30-37 the\n"
"    token does not verify\n"
"    (30 chain, 31 expired, 32 not yet valid, 33 revoked, 34 CRL,\n"
"    35 extension, 36 baseline,\n"
"    37 not this host's keys); 40 the TPM refused the migration key (PCRs\n"
"    differ from the certified baseline); handshake: 14-16 the peer's quote\n"
"    (signature, transcript, PCRs), 21 IMA's list (malformed, a violation,\n"
"    a file the baseline does not list, no certified trustmig.ko measured),\n"
"    50 peer unreachable, timed out or gone,\n"
"    51 malformed message, 52 the peer refused, 53 bad or unknown policy,\n"
"    54 the peer's baseline is not in the policy, 55 key confirmation\n"
"    failed or the destination's RESULT is not authentic, 56 trustmig.ko\n"
"    not loaded (keys not installed), 57 trustmig.ko refused the keys,\n"
"    58 trustmig.ko speaks another netlink version than this tool,\n"
"    59 the destination is not the host expected (--peer-name), 60\n"
"    trustmig.ko holds no such session.\n"
"\n"
"COMMANDS\n";

static const char help_ek[] =
"  ek [--ek-type ecc|rsa] [--tcti CONF] [--config FILE]\n"
"    Print the TPM Name of the endorsement key (TCG default template) and\n"
"    whether the TPM holds an EK certificate. Without a certificate the TTP\n"
"    needs this Name, taken from the host out of band (e.g. at rack-in), to\n"
"    pin the EK (trustmig-ttp challenge --ek-pin).\n\n";

static const char help_request[] =
"  enrol-request --out FILE [--host-name NAME] [--ek-type ecc|rsa]\n"
"                [--state DIR] [--tcti CONF] [--config FILE]\n"
"    Start an enrolment: create a new attestation key (AK: ECC P-256,\n"
"    restricted ECDSA-SHA256 signing key under the storage root key) and\n"
"    write a request holding the host name (default: gethostname()), the\n"
"    EK public area, the EK certificate if the TPM has one, and the AK\n"
"    public area. The AK blobs go to DIR/enrol/, the EK public to\n"
"    DIR/ek.pub. Carry FILE to the TTP.\n\n";

static const char help_respond[] =
"  enrol-respond --challenge FILE --out FILE [--state DIR] [--tcti CONF]\n"
"                [--config FILE]\n"
"    Answer the TTP's challenge: recover its secret with\n"
"    TPM2_ActivateCredential (possible only if the AK lives in the TPM of\n"
"    that EK), create the migration key (ECC P-256 ECDH, fixedTPM,\n"
"    fixedParent, no userWithAuth, authPolicy = TPM2_PolicyPCR over the\n"
"    challenge baseline's PCR selection and values), quote the baseline's\n"
"    PCRs over the challenge nonce and certify the migration key with the\n"
"    AK (TPM2_Certify). Warns about PCRs that differ from the baseline.\n"
"    Carry FILE back to the TTP.\n\n";

static const char help_install[] =
"  enrol-install --token FILE [--ca FILE] [--crl FILE]... [--state DIR]\n"
"                [--config FILE]\n"
"    Verify the Trust_Token the TTP issued (chain to the TTP certificate\n"
"    --ca, else to an anchor of the configuration, through the intermediate\n"
"    CA certificates after the token in FILE, at most 3; validity;\n"
"    revocation when CRLs are given or configured, then every CA's up to\n"
"    the anchor) and that it certifies the AK and migration key of the\n"
"    enrolment in progress, then make them the host's current token and\n"
"    keys (DIR/token.pem, with the intermediates; DIR/ak.*, DIR/mk.*).\n\n";

static const char help_baseline[] =
"  baseline --id ID --version N --pcrs LIST --control ID [--control ID]...\n"
"           [--bank sha256] [--description TEXT] [--ima] --out FILE\n"
"           [--tcti CONF] [--config FILE]\n"
"    Record this TPM's current PCR values as a baseline file, e.g. on a\n"
"    reference host booted in its approved configuration. LIST is like\n"
"    0-7,14 (not 10, IMA's). --ima also records every file IMA measured\n"
"    (its list replayed to this TPM's PCR 10 first), trustmig.ko marked\n"
"    as the key module: a peer then accepts this host only if IMA\n"
"    measured one of these trustmig.ko builds and nothing unlisted.\n"
"    Review the file (add control statements) before the TTP uses it.\n\n";

static const char help_check[] =
"  check-key [--state DIR] [--tcti CONF] [--config FILE]\n"
"    Prove that the TPM lets this host use its certified migration key\n"
"    right now: TPM2_ECDH_ZGen under a TPM2_PolicyPCR session against a\n"
"    fresh ephemeral key, compared with the same ECDH in software. Fails\n"
"    with status 40 when the PCRs no longer hold the certified values.\n\n";

static const char help_status[] =
"  status [--json] [--state DIR] [--tcti CONF] [--config FILE]\n"
"    What an operator checks first, like 'wg show': the host's own\n"
"    Trust_Token (host, baseline and version, valid until, days left),\n"
"    each configured CRL's next update (a stale CRL is a warning: every\n"
"    token is refused until a newer one is installed), whether the\n"
"    migration key is usable now (as check-key), then every session\n"
"    trustmig.ko holds as a block (as 'session show'). Never a key.\n"
"    --json: one JSON object with \"host\", \"sessions\" and\n"
"    \"module_error\". Status 56 if trustmig.ko is not loaded (the host\n"
"    part is printed first).\n\n";

static const char help_session[] =
"  session list [--json]\n"
"  session show ID [--json]\n"
"  session del ID\n"
"  session flush\n"
"  session monitor [--json] [--count N]\n"
"    The sessions trustmig.ko holds, over its netlink family. list: one\n"
"    line each: id, role, peer host and address, policy, cipher, state\n"
"    (a failure's reason and errno by name), keyed, attached, stream,\n"
"    age, attach timeout and lifetime, records, bytes, pages, zero\n"
"    pages, rounds, failures. show: one session as a block. del: delete\n"
"    a session and erase its key (an attached VMM's next call fails with\n"
"    EPIPE). flush: delete every session. monitor: print each failure\n"
"    and completion as trustmig.ko reports it, until interrupted or N\n"
"    events; it says on stderr once it listens. --json: JSON instead\n"
"    (list: an array; show: an object; monitor: an object per line).\n"
"    trustmig.ko ends a session itself when no VMM attaches in time or\n"
"    its lifetime is over (trustmig.conf: attach-timeout,\n"
"    session-lifetime) and forgets finished ones after its gc_delay.\n"
"    Status 56 if trustmig.ko is not loaded, 60 if it holds no session\n"
"    ID.\n\n";

static const char help_config[] =
"  config [--config FILE] [--tcti CONF] [--state DIR] [--json]\n"
"    Check the configuration file and what it names, like sshd -t, and\n"
"    print the settings in effect (after options, environment and\n"
"    built-in defaults) in the file's own format, or with --json as one\n"
"    JSON object with the problems found. A file that does not parse is\n"
"    status 5 with FILE:LINE and the reason, and nothing printed. Then\n"
"    every anchor must hold CA certificates; every CRL must parse and be\n"
"    signed by an anchor (if the file names any); state and policy-dir\n"
"    must be directories, every ID.json in policy-dir policy ID, naming\n"
"    an anchor this host trusts; session-dir, if it exists, a writable\n"
"    directory. Each problem is one line on stderr:\n"
"      trustmig: FILE:LINE: [warning: ]KEY: REASON\n"
"    (no FILE:LINE for a setting the file did not make). A warning\n"
"    stands in the host's way but is no fault of the file: a CRL past\n"
"    its nextUpdate, no token.pem in state (not enrolled), no policy,\n"
"    no session-dir yet. If any problem is an error, a line counting\n"
"    them follows and the status is 5; warnings alone leave it 0.\n\n";

static const char help_handshake[] =
"  handshake --peer HOST:PORT (--policy FILE | --policy-id ID)\n"
"            [--peer-name NAME | --any-peer]\n"
"            [--crl FILE]... [--policy-dir DIR] [--session-out FILE]\n"
"            [--timeout SEC] [--debug-fingerprint] [--json] [--state DIR]\n"
"            [--tcti CONF] [--config FILE]\n"
"    The source side of a migration: run the attested key agreement with\n"
"    trustmigd on the destination (docs/protocol.md). The policy is FILE,\n"
"    or ID.json in --policy-dir (default: the configuration's policy-dir,\n"
"    else /etc/trustmig/policies). The destination must hold a Trust_Token\n"
"    from one of the policy's TTP anchors (and, if the configuration names\n"
"    anchors, one of those), not revoked by any CRL (--crl, repeatable,\n"
"    else the configuration's; every CA from the token's issuer up to the\n"
"    anchor needs its CRL), for one of the policy's baselines; its TPM\n"
"    must quote that baseline's PCR values over this handshake and use its\n"
"    PCR-bound migration key (TPM2_ECDH_ZGen).\n"
"    This host proves its own state the same way, its token going with the\n"
"    intermediate CA certificates after it in token.pem. The destination's\n"
"    token must also name the host expected, the first of: --peer-name\n"
"    NAME; HOST of --peer, if it is a name rather than an address and\n"
"    --any-peer is not given; the hosts of the policy's \"destinations\",\n"
"    which are then interchangeable. A name outside that list, if the\n"
"    policy has one, is refused before any connection (59). An address\n"
"    without --peer-name or a list is a usage error unless --any-peer or\n"
"    \"destinations\": \"any\" accepts any host the policy accepts. The\n"
"    first message names the hosts expected, covered by both quotes:\n"
"    another host refuses (52, its code 59), and a token of another host\n"
"    is refused here (59). Both ends then derive the session keys (HKDF\n"
"    over both ECDH secrets and the transcript), install them in\n"
"    trustmig.ko and forget them; the destination's RESULT is\n"
"    authenticated with a key of this handshake. On success one line for\n"
"    the VMM goes to FILE (default stdout):\n"
"      trustmig-session v1 role=source id=ID stream=HEX8 ticket=HEX64\n"
"    It holds the one-time ticket: FILE is created new, mode 0600, before\n"
"    the handshake starts (an existing file or an unusable path is refused\n"
"    before any connection) and removed if the handshake fails; an\n"
"    existing FIFO, which a VMM reads, is written once the line exists.\n"
"    Every read times out after SEC seconds (default 30). Any refusal\n"
"    prints its reason, logs one line and installs nothing; status 52\n"
"    means the destination refused (its reason follows), 56 that\n"
"    trustmig.ko is not loaded on one end (keys not installed).\n"
"    --debug-fingerprint prints a fingerprint of the keys (an independent\n"
"    HKDF output, not the keys) for tests. --json prints the outcome as one\n"
"    JSON object on stdout (result, code, reason, peer, host, policy, ms,\n"
"    and on success session_id, session_out and, if the session line would\n"
"    have gone to stdout, session_line, which holds the ticket).\n\n";

struct host_opts {
	const char *tcti;
	const char *state;
	const char *config;
	const char *ima_log;
	char staging[4096];
};

enum { OPT_TCTI = 0x100, OPT_STATE, OPT_CONFIG, OPT_OUT, OPT_HOST,
	OPT_EKTYPE, OPT_CHAL, OPT_TOKEN, OPT_CA, OPT_CRL, OPT_ID, OPT_VERSION,
	OPT_PCRS, OPT_BANK, OPT_CONTROL, OPT_DESC, OPT_PEER, OPT_PEER_NAME,
	OPT_ANY_PEER, OPT_POLICY, OPT_POLICY_ID, OPT_POLICY_DIR, OPT_TIMEOUT,
	OPT_DEBUG, OPT_JSON, OPT_COUNT, OPT_IMA };

#define TM_OPT(name, val) { name, required_argument, NULL, val }
#define TM_OPT_CONFIG	TM_OPT("config", OPT_CONFIG)

/* The host's configuration file, read once by host_finish(). */
static struct tm_config conf;

static int host_common(struct host_opts *o, int opt)
{
	if (opt == OPT_TCTI)
		o->tcti = optarg;
	else if (opt == OPT_STATE)
		o->state = optarg;
	else if (opt == OPT_CONFIG)
		o->config = optarg;
	else
		return -1;
	return 0;
}

static int host_finish(struct host_opts *o, const char *cmd, int argc,
		       char **argv)
{
	int ret;

	if (optind != argc)
		return tm_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
	ret = tm_config_load(o->config, &conf);
	if (ret)
		return ret;
	o->tcti = tm_setting(o->tcti, TM_TCTI_ENV, conf.tcti, NULL);
	o->state = tm_setting(o->state, TM_STATE_ENV, conf.state,
			      TM_STATE_DEFAULT);
	o->ima_log = tm_setting(NULL, TM_IMA_ENV, conf.ima_log, TM_IMA_LOG);
	return tm_path(o->staging, sizeof(o->staging), o->state, TM_STAGING);
}

static int parse_ek_type(const char *s, TPMI_ALG_PUBLIC *type)
{
	if (!strcmp(s, "ecc"))
		*type = TPM2_ALG_ECC;
	else if (!strcmp(s, "rsa"))
		*type = TPM2_ALG_RSA;
	else
		return -1;
	return 0;
}

static int mkdir_private(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST)
		return tm_fail(TM_EXIT_ERROR, "cannot create %s: %s", path,
			       strerror(errno));
	return 0;
}

static void print_ek_name(const TPM2B_PUBLIC *ek, size_t certlen)
{
	TPM2B_NAME name;
	char *hex;

	if (tm_public_name(ek, &name))
		return;
	hex = tm_hex(name.name, name.size);
	printf("EK name: %s\nEK certificate: %s\n", hex ? hex : "?",
	       certlen ? "present" : "none (the TTP must pin the EK name)");
	OPENSSL_free(hex);
}

static int cmd_ek(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("tcti", OPT_TCTI), TM_OPT("ek-type", OPT_EKTYPE),
		TM_OPT_CONFIG, { 0 }
	};
	TPMI_ALG_PUBLIC type = TPM2_ALG_ECC;
	struct host_opts o = { 0 };
	ESYS_TR ek = ESYS_TR_NONE;
	unsigned char *cert = NULL;
	struct tm_tpm t;
	TPM2B_PUBLIC pub;
	size_t certlen;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_EKTYPE && !parse_ek_type(optarg, &type))
			continue;
		if (host_common(&o, opt))
			return tm_usage(argv[0], "bad option");
	}
	ret = host_finish(&o, argv[0], argc, argv);
	if (!ret)
		ret = tm_tpm_open(&t, o.tcti);
	if (ret)
		return ret;
	ret = tm_tpm_ek(&t, type, &ek, &pub);
	tm_tpm_flush(&t, &ek);
	if (!ret)
		ret = tm_tpm_ek_cert(&t, type, &cert, &certlen);
	if (!ret)
		print_ek_name(&pub, certlen);
	free(cert);
	tm_tpm_close(&t);
	return ret;
}

static int cmd_request(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("tcti", OPT_TCTI), TM_OPT("state", OPT_STATE),
		TM_OPT("out", OPT_OUT), TM_OPT("host-name", OPT_HOST),
		TM_OPT("ek-type", OPT_EKTYPE), TM_OPT_CONFIG, { 0 }
	};
	TPMI_ALG_PUBLIC type = TPM2_ALG_ECC;
	struct tm_request req = { 0 };
	struct host_opts o = { 0 };
	ESYS_TR ek = ESYS_TR_NONE, srk = ESYS_TR_NONE;
	char host[TM_HOST_MAX + 1] = "", path[4096];
	const char *out = NULL;
	TPM2B_PUBLIC aktpl;
	TPM2B_PRIVATE akpriv;
	struct tm_tpm t;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_OUT)
			out = optarg;
		else if (opt == OPT_HOST)
			snprintf(host, sizeof(host), "%s", optarg);
		else if (opt == OPT_EKTYPE && !parse_ek_type(optarg, &type))
			continue;
		else if (host_common(&o, opt))
			return tm_usage(argv[0], "bad option");
	}
	ret = host_finish(&o, argv[0], argc, argv);
	if (ret)
		return ret;
	if (!out)
		return tm_usage(argv[0], "--out is required");
	if (!host[0] && gethostname(host, sizeof(host) - 1))
		return tm_fail(TM_EXIT_ERROR, "cannot get the host name");
	ret = tm_host_name_check(host, strlen(host), TM_EXIT_USAGE,
				 "--host-name (default: this host's name)");
	if (ret)
		return ret;
	req.host = host;
	ret = mkdir_private(o.state);
	if (!ret)
		ret = mkdir_private(o.staging);
	if (!ret)
		ret = tm_tpm_open(&t, o.tcti);
	if (ret)
		return ret;
	ret = tm_tpm_ek(&t, type, &ek, &req.ek);
	tm_tpm_flush(&t, &ek);
	if (!ret)
		ret = tm_tpm_ek_cert(&t, type, &req.ek_cert, &req.ek_cert_len);
	if (!ret)
		ret = tm_tpm_srk(&t, &srk);
	tm_ak_template(&aktpl);
	if (!ret)
		ret = tm_tpm_create(&t, srk, &aktpl, &req.ak, &akpriv);
	tm_tpm_flush(&t, &srk);
	if (!ret)
		ret = tm_key_save(o.staging, "ak", &req.ak, &akpriv);
	if (!ret)
		ret = tm_path(path, sizeof(path), o.state, "ek.pub");
	if (!ret)
		ret = tm_public_save(path, &req.ek);
	if (!ret)
		ret = tm_request_save(out, &req);
	if (!ret) {
		printf("enrolment request for %s written to %s\n", host, out);
		print_ek_name(&req.ek, req.ek_cert_len);
	}
	OPENSSL_cleanse(&akpriv, sizeof(akpriv));
	free(req.ek_cert);
	tm_tpm_close(&t);
	return ret;
}

/* Warn, before the TTP refuses, about PCRs that differ from the baseline. */
static void warn_pcrs(struct tm_tpm *t, const struct tm_baseline *b)
{
	TPM2B_DIGEST cur[TM_PCR_MAX];
	unsigned int i, n;

	if (tm_tpm_pcr_read(t, &b->sel, cur, TM_PCR_MAX, &n) || n != b->npcrs)
		return;
	for (i = 0; i < n; i++)
		if (cur[i].size != b->value[i].size ||
		    memcmp(cur[i].buffer, b->value[i].buffer, cur[i].size))
			fprintf(stderr,
				"%s: warning: PCR %u differs from baseline %s; the TTP will refuse this host\n",
				tm_prog, b->pcr[i], b->id);
}

static int respond(struct tm_tpm *t, const struct host_opts *o,
		   const struct tm_challenge *c, const struct tm_baseline *b,
		   struct tm_response *r)
{
	ESYS_TR srk = ESYS_TR_NONE, ak = ESYS_TR_NONE;
	TPM2B_PUBLIC akpub, mktpl;
	TPM2B_PRIVATE mkpriv = { 0 };
	TPM2B_DIGEST policy;
	int ret;

	memcpy(r->id, c->id, sizeof(r->id));
	ret = tm_tpm_srk(t, &srk);
	if (!ret)
		ret = tm_key_load(t, srk, o->staging, "ak", &akpub, &ak);
	if (!ret)
		ret = tm_enrol_activate(t, o->state, c, ak, &r->credential);
	/* the TPM's own PolicyPCR computation must agree with the TTP's */
	if (!ret)
		ret = tm_tpm_policy_pcr(t, &b->sel, &b->pcr_digest, &policy);
	if (!ret && (policy.size != b->policy.size ||
		     memcmp(policy.buffer, b->policy.buffer, policy.size)))
		ret = tm_fail(TM_EXIT_ERROR,
			      "TPM and software disagree on the PolicyPCR digest");
	tm_mk_template(&mktpl, &policy);
	if (!ret)
		ret = tm_enrol_attest(t, srk, ak, &mktpl, &b->sel, &c->nonce,
				      &c->nonce, r, &mkpriv);
	if (!ret)
		ret = tm_key_save(o->staging, "mk", &r->mk, &mkpriv);
	OPENSSL_cleanse(&mkpriv, sizeof(mkpriv));
	tm_tpm_flush(t, &ak);
	tm_tpm_flush(t, &srk);
	return ret;
}

static int cmd_respond(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("tcti", OPT_TCTI), TM_OPT("state", OPT_STATE),
		TM_OPT("out", OPT_OUT), TM_OPT("challenge", OPT_CHAL),
		TM_OPT_CONFIG, { 0 }
	};
	struct tm_challenge c = { 0 };
	struct tm_response r = { 0 };
	struct host_opts o = { 0 };
	const char *out = NULL, *in = NULL;
	struct tm_baseline b;
	struct tm_tpm t;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_OUT)
			out = optarg;
		else if (opt == OPT_CHAL)
			in = optarg;
		else if (host_common(&o, opt))
			return tm_usage(argv[0], "bad option");
	}
	ret = host_finish(&o, argv[0], argc, argv);
	if (ret)
		return ret;
	if (!out || !in)
		return tm_usage(argv[0], "--challenge and --out are required");
	ret = tm_challenge_load(in, &c);
	if (ret)
		return ret;
	if (c.not_after < time(NULL)) {
		ret = tm_fail(TM_EXIT_INPUT,
			      "the challenge has expired; ask the TTP for a new one");
		goto free_ch;
	}
	ret = tm_baseline_parse(c.baseline, c.baseline_len, &b);
	if (ret)
		goto free_ch;
	ret = tm_tpm_open(&t, o.tcti);
	if (ret)
		goto free_bl;
	warn_pcrs(&t, &b);
	ret = respond(&t, &o, &c, &b, &r);
	if (!ret)
		ret = tm_response_save(out, &r);
	if (!ret)
		printf("enrolment response for baseline %s version %ld written to %s\n",
		       b.id, b.version, out);
	OPENSSL_cleanse(&r, sizeof(r));
	tm_tpm_close(&t);
free_bl:
	tm_baseline_free(&b);
free_ch:
	tm_challenge_free(&c);
	return ret;
}

static int install_files(const struct host_opts *o, const char *token)
{
	static const char *const files[] = {
		"ak.pub", "ak.priv", "mk.pub", "mk.priv"
	};
	char from[4096], to[4096];
	unsigned char *pem;
	size_t i, len;
	int ret;

	ret = tm_read_file(token, &pem, &len);
	if (ret)
		return ret;
	ret = tm_path(to, sizeof(to), o->state, "token.pem");
	if (!ret)
		ret = tm_write_file(to, pem, len, 0644, 0);
	free(pem);
	for (i = 0; !ret && i < ARRAY_SIZE(files); i++) {
		ret = tm_path(from, sizeof(from), o->staging, files[i]);
		if (!ret)
			ret = tm_path(to, sizeof(to), o->state, files[i]);
		if (!ret && rename(from, to))
			ret = tm_fail(TM_EXIT_ERROR, "cannot install %s: %s",
				      to, strerror(errno));
	}
	return ret;
}

/* The TTP anchors enrol-install verifies against: --ca, else the file's. */
static int install_anchors(const char *cmd, const char *ca, X509_STORE **st)
{
	int ret;

	if (!ca) {
		ret = tm_config_anchors(&conf, st);
		if (!ret && !*st)
			ret = tm_usage(cmd,
				       "--ca is required (or \"anchor = FILE\" in the configuration)");
		return ret;
	}
	*st = X509_STORE_new();
	if (!*st)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	return tm_anchors_load(*st, ca);
}

static int cmd_install(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("state", OPT_STATE), TM_OPT("token", OPT_TOKEN),
		TM_OPT("ca", OPT_CA), TM_OPT("crl", OPT_CRL), TM_OPT_CONFIG,
		{ 0 }
	};
	char *crl[TM_CONFIG_LIST_MAX];
	struct tm_verify v = { 0 };
	struct tm_token_info info;
	struct host_opts o = { 0 };
	const char *token = NULL, *ca = NULL;
	unsigned int ncrls = 0;
	TPM2B_PUBLIC ak, mk;
	char path[4096];
	X509 *tok = NULL;
	int opt, ret = 0;

	while (!ret && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_TOKEN)
			token = optarg;
		else if (opt == OPT_CA)
			ca = optarg;
		else if (opt == OPT_CRL)
			ret = tm_config_list_add(crl, &ncrls, "--crl", optarg);
		else if (host_common(&o, opt))
			return tm_usage(argv[0], "bad option");
	}
	if (!ret)
		ret = host_finish(&o, argv[0], argc, argv);
	if (ret)
		return ret;
	if (!token)
		return tm_usage(argv[0], "--token is required");
	ret = install_anchors(argv[0], ca, &v.anchors);
	/* no CRL given or configured: no revocation check */
	if (!ret && (ncrls || conf.ncrls))
		ret = tm_config_crls(&conf, crl, ncrls, &v.crls);
	/* the intermediate CAs, if any, stay with it in token.pem */
	if (!ret)
		ret = tm_cert_chain_load(token, &tok, &v.untrusted);
	if (!ret)
		ret = tm_token_verify(tok, &v, &info);
	if (ret)
		goto out;
	ret = tm_path(path, sizeof(path), o.staging, "ak.pub");
	if (!ret)
		ret = tm_public_load(path, &ak);
	if (!ret)
		ret = tm_path(path, sizeof(path), o.staging, "mk.pub");
	if (!ret)
		ret = tm_public_load(path, &mk);
	if (!ret)
		ret = tm_token_match_keys(tok, &info, &ak, &mk);
	if (!ret)
		ret = install_files(&o, token);
	if (!ret)
		printf("Trust_Token for %s (baseline %s version %ld) installed in %s\n",
		       info.host, info.baseline_id, info.baseline_version,
		       o.state);
	tm_token_info_free(&info);
out:
	X509_free(tok);
	sk_X509_pop_free(v.untrusted, X509_free);
	sk_X509_CRL_pop_free(v.crls, X509_CRL_free);
	X509_STORE_free(v.anchors);
	return ret;
}

/* "0-7,14" -> ascending PCR indices */
static int parse_pcr_list(const char *s, unsigned int *pcr, unsigned int *n)
{
	unsigned long lo, hi, i;
	unsigned int mask = 0;
	char *end;

	while (*s) {
		lo = strtoul(s, &end, 10);
		hi = lo;
		if (end == s)
			return -1;
		if (*end == '-') {
			s = end + 1;
			hi = strtoul(s, &end, 10);
			if (end == s)
				return -1;
		}
		if (lo > hi || hi >= TM_PCR_MAX)
			return -1;
		for (i = lo; i <= hi; i++)
			mask |= 1u << i;
		if (*end && *end != ',')
			return -1;
		s = *end ? end + 1 : end;
	}
	for (*n = 0, i = 0; i < TM_PCR_MAX; i++)
		if (mask & (1u << i))
			pcr[(*n)++] = i;
	return *n ? 0 : -1;
}

/* Add @e to the baseline's "ima" files, once per digest. */
static int ima_record_file(const struct tm_ima_entry *e, void *arg)
{
	struct tm_baseline *b = arg;
	char path[4096];

	tm_printable(e->path, e->path_len, path, sizeof(path), 0);
	if (e->violation)
		return tm_fail(TM_EXIT_MEASURED,
			       "IMA logged a violation for %s (a file written while measured): this is no reference state",
			       path);
	if (tm_baseline_ima_file(b, e->sha256))
		return 0;
	if (b->nima == TM_IMA_FILES_MAX)
		return tm_fail(TM_EXIT_MEASURED,
			       "IMA measured more than %d files here",
			       TM_IMA_FILES_MAX);
	b->ima[b->nima].path = strdup(path);
	if (!b->ima[b->nima].path)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	memcpy(b->ima[b->nima].sha256, e->sha256, 32);
	b->ima[b->nima].key_module = tm_ima_is_key_module(e);
	b->nima++;
	return 0;
}

/* The files of this host's IMA list, which must replay to its PCR 10. */
static int record_ima(struct tm_tpm *t, const char *log_path,
		      struct tm_baseline *b)
{
	unsigned int pcr = TM_IMA_PCR, n;
	TPM2B_DIGEST replayed, now;
	TPML_PCR_SELECTION sel;
	unsigned char *log;
	size_t len;
	int ret;

	ret = tm_ima_read(log_path, &log, &len);
	if (!ret && !len)
		ret = tm_fail(TM_EXIT_MEASURED,
			      "no IMA list at %s (IMA off, or securityfs not mounted)",
			      log_path);
	if (!ret)
		ret = tm_ima_replay(log, len, b->bank, &replayed, NULL, NULL);
	tm_pcr_selection(b->bank, &pcr, 1, &sel);
	if (!ret)
		ret = tm_tpm_pcr_read(t, &sel, &now, 1, &n);
	if (!ret && (n != 1 || now.size != replayed.size ||
		     memcmp(now.buffer, replayed.buffer, now.size)))
		ret = tm_fail(TM_EXIT_MEASURED,
			      "IMA's list %s does not replay to this TPM's PCR %d: it is not this boot's list",
			      log_path, TM_IMA_PCR);
	if (!ret) {
		b->ima = calloc(TM_IMA_FILES_MAX, sizeof(*b->ima));
		b->has_ima = 1;
		ret = b->ima ? tm_ima_replay(log, len, b->bank, &replayed,
					     ima_record_file, b) :
			       tm_fail(TM_EXIT_ERROR, "out of memory");
	}
	if (!ret && !tm_baseline_key_modules(b))
		ret = tm_fail(TM_EXIT_MEASURED,
			      "IMA measured no trustmig.ko here: load IMA's policy (trustmig-ima.service) before the module");
	free(log);
	return ret;
}

static int cmd_baseline(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("tcti", OPT_TCTI), TM_OPT("out", OPT_OUT),
		TM_OPT("id", OPT_ID), TM_OPT("version", OPT_VERSION),
		TM_OPT("pcrs", OPT_PCRS), TM_OPT("bank", OPT_BANK),
		TM_OPT("control", OPT_CONTROL),
		TM_OPT("description", OPT_DESC), TM_OPT_CONFIG,
		{ "ima", no_argument, NULL, OPT_IMA }, { 0 }
	};
	struct tm_control controls[TM_CONTROLS_MAX];
	struct tm_baseline b = { .bank = TPM2_ALG_SHA256 }, check;
	struct host_opts o = { 0 };
	const char *out = NULL;
	unsigned long ver = 0;
	struct tm_tpm t;
	char *json = NULL;
	unsigned int i, n;
	int opt, ret, ima = 0;

	b.controls = controls;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_OUT) {
			out = optarg;
		} else if (opt == OPT_ID) {
			b.id = optarg;
		} else if (opt == OPT_DESC) {
			b.description = optarg;
		} else if (opt == OPT_VERSION) {
			if (tm_parse_ulong(optarg, 1, INT32_MAX, &ver))
				return tm_usage(argv[0], "bad --version");
		} else if (opt == OPT_PCRS) {
			if (parse_pcr_list(optarg, b.pcr, &b.npcrs))
				return tm_usage(argv[0], "bad --pcrs list");
		} else if (opt == OPT_BANK) {
			if (tm_hash_from_name(optarg, &b.bank))
				return tm_usage(argv[0], "bad --bank");
		} else if (opt == OPT_CONTROL) {
			if (b.ncontrols == TM_CONTROLS_MAX)
				return tm_usage(argv[0], "too many controls");
			controls[b.ncontrols].id = optarg;
			controls[b.ncontrols++].statement = NULL;
		} else if (opt == OPT_IMA) {
			ima = 1;
		} else if (host_common(&o, opt)) {
			return tm_usage(argv[0], "bad option");
		}
	}
	ret = host_finish(&o, argv[0], argc, argv);
	if (ret)
		return ret;
	if (!out || !b.id || !ver || !b.npcrs || !b.ncontrols)
		return tm_usage(argv[0],
				"--out, --id, --version, --pcrs and --control are required");
	for (i = 0; i < b.npcrs; i++)
		if (b.pcr[i] == TM_IMA_PCR)
			return tm_usage(argv[0],
					"PCR %d is IMA's: record its list with --ima instead",
					TM_IMA_PCR);
	b.version = ver;
	ret = tm_tpm_open(&t, o.tcti);
	if (ret)
		return ret;
	tm_pcr_selection(b.bank, b.pcr, b.npcrs, &b.sel);
	ret = tm_tpm_pcr_read(&t, &b.sel, b.value, TM_PCR_MAX, &n);
	if (!ret && ima)
		ret = record_ima(&t, o.ima_log, &b);
	tm_tpm_close(&t);
	if (!ret && n != b.npcrs)
		ret = tm_fail(TM_EXIT_ERROR, "the TPM returned %u of %u PCRs",
			      n, b.npcrs);
	if (!ret) {
		json = tm_baseline_to_json(&b);
		ret = json ? 0 : TM_EXIT_ERROR;
	}
	/* what we write must be what the TTP will read */
	if (!ret)
		ret = tm_baseline_parse((unsigned char *)json, strlen(json),
					&check);
	if (!ret) {
		tm_baseline_free(&check);
		ret = tm_write_file(out, json, strlen(json), 0644, 0);
	}
	free(json);
	for (i = 0; i < b.nima; i++)
		free(b.ima[i].path);
	free(b.ima);
	return ret;
}

static int zgen_check(struct tm_tpm *t, ESYS_TR mk, const TPM2B_PUBLIC *mkpub,
		      const TPML_PCR_SELECTION *sel)
{
	unsigned char z[32];
	TPM2B_ECC_POINT in = { 0 }, out = { 0 };
	EVP_PKEY *eph, *peer = NULL;
	int ret;

	eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!eph)
		return tm_fail(TM_EXIT_ERROR, "cannot generate an EC key");
	ret = tm_pkey_to_point(eph, &in.point);
	if (!ret)
		ret = tm_tpm_ecdh_zgen(t, mk, sel, &in, &out);
	if (!ret)
		ret = tm_public_to_pkey(mkpub, &peer);
	if (!ret)
		ret = tm_ecdh(eph, peer, z, sizeof(z));
	if (!ret && (out.point.x.size != sizeof(z) ||
		     CRYPTO_memcmp(out.point.x.buffer, z, sizeof(z))))
		ret = tm_fail(TM_EXIT_ERROR,
			      "TPM2_ECDH_ZGen result differs from software ECDH");
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(&out, sizeof(out));
	EVP_PKEY_free(peer);
	EVP_PKEY_free(eph);
	return ret;
}

/* The host's installed token, and what it certifies. */
static int host_token(const struct host_opts *o, X509 **tok,
		      struct tm_token_info *info)
{
	char path[4096];
	int ret;

	*tok = NULL;
	ret = tm_path(path, sizeof(path), o->state, "token.pem");
	if (!ret)
		ret = tm_cert_load(path, tok);
	if (!ret)
		ret = tm_token_info_get(*tok, info);
	if (ret) {
		X509_free(*tok);
		*tok = NULL;
	}
	return ret;
}

/*
 * Can the migration key be used now: is it the one @info (the installed
 * token) certifies, and do the PCRs hold the certified baseline (a ZGen
 * under its policy)?
 */
static int key_check(const struct host_opts *o,
		     const struct tm_token_info *info)
{
	ESYS_TR srk = ESYS_TR_NONE, mk = ESYS_TR_NONE;
	TPM2B_PUBLIC mkpub;
	struct tm_tpm t;
	int ret;

	ret = tm_tpm_open(&t, o->tcti);
	if (ret)
		return ret;
	ret = tm_tpm_srk(&t, &srk);
	if (!ret)
		ret = tm_key_load(&t, srk, o->state, "mk", &mkpub, &mk);
	tm_tpm_flush(&t, &srk);
	if (!ret && !tm_public_equal(&mkpub, &info->mk))
		ret = tm_fail(TM_EXIT_TOKEN_MISMATCH,
			      "the installed token certifies another migration key");
	if (!ret)
		ret = zgen_check(&t, mk, &mkpub, &info->sel);
	tm_tpm_flush(&t, &mk);
	tm_tpm_close(&t);
	return ret;
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("tcti", OPT_TCTI), TM_OPT("state", OPT_STATE),
		TM_OPT_CONFIG, { 0 }
	};
	struct tm_token_info info = { 0 };
	struct host_opts o = { 0 };
	X509 *tok = NULL;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (host_common(&o, opt))
			return tm_usage(argv[0], "bad option");
	ret = host_finish(&o, argv[0], argc, argv);
	if (!ret)
		ret = host_token(&o, &tok, &info);
	if (!ret)
		ret = key_check(&o, &info);
	if (!ret)
		printf("migration key usable: PCRs hold baseline %s version %ld\n",
		       info.baseline_id, info.baseline_version);
	X509_free(tok);
	tm_token_info_free(&info);
	return ret;
}

/*
 * --session-out: the line holds the one-time ticket.  A path names a new
 * file, mode 0600, made before the handshake so that a path it cannot
 * use fails it before any key exists, and removed if the handshake
 * fails; an existing FIFO (a VMM reading it) is opened once there is a
 * line.  Sets @fd to the new file, or -1 (stdout, FIFO).
 */
static int session_out_create(const char *out, int *fd)
{
	struct stat st;

	*fd = -1;
	if (!strcmp(out, "-"))
		return 0;
	*fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (*fd >= 0)
		return 0;
	if (errno != EEXIST)
		return tm_fail(TM_EXIT_ERROR, "cannot create %s: %s", out,
			       strerror(errno));
	if (!stat(out, &st) && S_ISFIFO(st.st_mode))
		return 0;
	return tm_fail(TM_EXIT_ERROR,
		       "%s exists: the session file holds the ticket and is made new (mode 0600); remove it or name another",
		       out);
}

/* Write the line to stdout, the new file @fd (closed here) or the FIFO. */
static int session_out_write(const char *out, int fd,
			     const struct tm_session *s)
{
	FILE *f = stdout;
	int ret;

	if (strcmp(out, "-")) {
		if (fd < 0)
			fd = open(out, O_WRONLY | O_CLOEXEC);
		f = fd < 0 ? NULL : fdopen(fd, "w");
		if (!f) {
			ret = tm_fail(TM_EXIT_ERROR, "cannot open %s: %s", out,
				      strerror(errno));
			if (fd >= 0)
				close(fd);
			return ret;
		}
	}
	ret = tm_session_print(f, s);
	if (f != stdout && fclose(f) && !ret)
		ret = tm_fail(TM_EXIT_ERROR, "cannot write %s: %s", out,
			      strerror(errno));
	return ret;
}

/* The session line as a string, for --json: it holds the ticket. */
static struct json_object *session_line_json(const struct tm_session *s)
{
	struct json_object *j;
	size_t len;
	char *line = tm_session_line(s, &len);

	if (!line)
		return NULL;
	j = json_object_new_string_len(line, strcspn(line, "\n"));
	OPENSSL_cleanse(line, len);
	free(line);
	return j;
}

/*
 * --json: the outcome the log line gives, and whatever @j holds of the
 * session, as one object on stdout; frees @j.
 */
static void handshake_json(struct json_object *j, const char *peer, int code,
			   long long start)
{
	const char *reason = code ? tm_last_error() : "keys agreed";

	json_object_object_add(j, "result",
			       json_object_new_string(code ? "refused" : "ok"));
	json_object_object_add(j, "code", json_object_new_int(code));
	json_object_object_add(j, "reason", json_object_new_string(reason));
	json_object_object_add(j, "peer", peer ?
			       json_object_new_string(peer) : NULL);
	json_object_object_add(j, "ms",
			       json_object_new_int64(tm_now_ms() - start));
	tm_show_json(stdout, j);
}

/*
 * With @j (--json), the peer's host, the policy and the session go into
 * @j, and the session line too ("session_line") if it would have gone to
 * stdout.
 */
static int handshake(const struct tm_hs_config *c, const char *peer,
		     const char *out, int debug, struct json_object *j)
{
	struct tm_session s = {
		.attach_timeout = conf.attach_timeout,
		.lifetime = conf.lifetime,
		.peer_addr = peer,
	};
	long long start = tm_now_ms();
	struct tm_hs_keys k = { 0 };
	int fd, out_fd, ret;

	snprintf(k.policy, sizeof(k.policy), "%s", c->policy->id);
	ret = session_out_create(out, &out_fd);
	if (ret)
		goto log;
	ret = tm_wire_connect(peer, c->timeout_ms, &fd);
	if (!ret) {
		ret = tm_hs_source(fd, c, &k);
		if (!ret && debug)
			tm_hs_print_fingerprint(&k);
		if (!ret)
			ret = tm_hs_result_recv(fd, c, &k);
		close(fd);
	}
	if (!ret)
		ret = tm_hs_install(&k, TRUSTMIG_ROLE_SOURCE, &s);
	if (!ret) {
		if (j && !strcmp(out, "-"))
			json_object_object_add(j, "session_line",
					       session_line_json(&s));
		else
			ret = session_out_write(out, out_fd, &s);
		if (j) {
			json_object_object_add(j, "session_id",
					       json_object_new_int64(s.id));
			json_object_object_add(j, "session_out",
					       json_object_new_string(out));
		}
		/* no VMM can have the ticket: no key waits for one */
		if (ret)
			tm_module_delete(s.id);
		OPENSSL_cleanse(&s, sizeof(s));
	} else if (out_fd >= 0) {
		close(out_fd);
	}
	/* no session line: no file that looks like one */
	if (ret && out_fd >= 0)
		unlink(out);
log:
	tm_hs_keys_wipe(&k);
	tm_hs_log(peer, &k, ret, start);
	if (j) {
		json_object_object_add(j, "host", k.peer[0] ?
				       json_object_new_string(k.peer) : NULL);
		json_object_object_add(j, "policy",
				       json_object_new_string(k.policy));
	}
	return ret;
}

struct hs_flags {
	const char *peer, *peer_name, *policy, *policy_id, *policy_dir, *out;
	char *crl[TM_CONFIG_LIST_MAX];
	unsigned int ncrls;
	unsigned long timeout;
	int any_peer;
	int debug;
	int json;
};

/* The VM's policy, narrowed to the TTPs the configuration trusts. */
static int handshake_policy(const struct hs_flags *f, struct tm_policy *pol)
{
	X509_STORE *trusted;
	int ret;

	if (f->policy)
		ret = tm_policy_load(f->policy, pol);
	else
		ret = tm_policy_find(tm_setting(f->policy_dir, NULL,
						conf.policy_dir,
						TM_POLICY_DIR_DEFAULT),
				     f->policy_id, pol);
	if (ret)
		return ret;
	ret = tm_config_anchors(&conf, &trusted);
	if (!ret)
		ret = tm_policy_restrict(pol, trusted);
	X509_STORE_free(trusted);
	if (ret)
		tm_policy_free(pol);
	return ret;
}

/*
 * The destinations this handshake accepts into @c (docs/protocol.md
 * section 2), the first of: --peer-name; the HOST of --peer if it is a
 * name, unless --any-peer; the policy's "destinations" (with --any-peer
 * and no list there: any host the policy accepts). A name, which @named
 * holds, must be one of the policy's destinations if it lists them. An
 * address and no list is a usage error: never any host unless said so.
 */
static int handshake_expect(const struct hs_flags *f,
			    const struct tm_policy *pol,
			    struct tm_hosts *named, struct tm_hs_config *c)
{
	const struct tm_hosts *allowed = &pol->destinations;
	const char *name = f->peer_name;
	char host[TM_ADDR_MAX], names[512];
	int ret;

	c->expect_from = "--peer-name";
	if (!name && !f->any_peer && tm_wire_host_name(f->peer, host)) {
		name = host;
		c->expect_from = "--peer";
	}
	if (name) {
		c->expect = named;
		ret = tm_hosts_add(named, name, strlen(name), TM_EXIT_USAGE,
				   c->expect_from);
		if (ret || !allowed->n || tm_hosts_has(allowed, name))
			return ret;
		tm_hosts_print(allowed, names, sizeof(names));
		return tm_fail(TM_EXIT_PEER_NAME,
			       "%s %s is not among policy %s's destinations (%s); --peer-name names the destination's certified host, --any-peer takes any of them",
			       c->expect_from, name, pol->id, names);
	}
	c->expect = allowed;
	c->expect_from = "the policy's destinations";
	if (allowed->n || allowed->any || f->any_peer)
		return 0;
	return tm_fail(TM_EXIT_USAGE,
		       "--peer %s names an address, not the destination's host: name its certified host with --peer-name, list the hosts in policy %s's \"destinations\", or take any host the policy accepts with --any-peer",
		       f->peer, pol->id);
}

static int cmd_handshake(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("tcti", OPT_TCTI), TM_OPT("state", OPT_STATE),
		TM_OPT("peer", OPT_PEER), TM_OPT("peer-name", OPT_PEER_NAME),
		{ "any-peer", no_argument, NULL, OPT_ANY_PEER },
		TM_OPT("policy", OPT_POLICY),
		TM_OPT("policy-id", OPT_POLICY_ID),
		TM_OPT("policy-dir", OPT_POLICY_DIR),
		TM_OPT("crl", OPT_CRL), TM_OPT("timeout", OPT_TIMEOUT),
		TM_OPT("session-out", OPT_OUT), TM_OPT_CONFIG,
		{ "debug-fingerprint", no_argument, NULL, OPT_DEBUG },
		{ "json", no_argument, NULL, OPT_JSON }, { 0 }
	};
	struct json_object *j = json_object_new_object();
	struct tm_hs_config c = { 0 };
	struct hs_flags f = { .out = "-" };
	long long start = tm_now_ms();
	struct tm_hosts named = { 0 };
	struct host_opts o = { 0 };
	struct tm_policy pol;
	int opt, ret = 0;
	unsigned long secs;
	struct tm_tpm t;

	while (!ret && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_PEER)
			ret = tm_wire_addr_check(f.peer = optarg, 0, "--peer");
		else if (opt == OPT_PEER_NAME)
			f.peer_name = optarg;
		else if (opt == OPT_ANY_PEER)
			f.any_peer = 1;
		else if (opt == OPT_POLICY)
			f.policy = optarg;
		else if (opt == OPT_POLICY_ID)
			f.policy_id = optarg;
		else if (opt == OPT_POLICY_DIR)
			f.policy_dir = optarg;
		else if (opt == OPT_OUT)
			f.out = optarg;
		else if (opt == OPT_DEBUG)
			f.debug = 1;
		else if (opt == OPT_JSON)
			f.json = 1;
		else if (opt == OPT_CRL)
			ret = tm_config_list_add(f.crl, &f.ncrls, "--crl", optarg);
		else if (opt == OPT_TIMEOUT)
			ret = tm_opt_ulong(argv[0], "timeout", optarg, 1, 3600,
					   &f.timeout);
		else if (host_common(&o, opt))
			ret = tm_usage(argv[0], "bad option");
	}
	if (!ret)
		ret = host_finish(&o, argv[0], argc, argv);
	if (!ret && (!f.peer || !f.policy == !f.policy_id))
		ret = tm_usage(argv[0],
			       "--peer and one of --policy or --policy-id are required");
	if (!ret && f.peer_name && f.any_peer)
		ret = tm_usage(argv[0], "--peer-name and --any-peer exclude each other");
	if (!ret)
		ret = tm_config_crls(&conf, f.crl, f.ncrls, &c.crls);
	if (!ret)
		ret = handshake_policy(&f, &pol);
	if (ret)
		goto out;
	ret = handshake_expect(&f, &pol, &named, &c);
	if (ret)
		goto policy;
	secs = f.timeout ? f.timeout : conf.timeout;
	c.timeout_ms = (secs ? secs : TM_TIMEOUT_DEFAULT) * 1000;
	ret = tm_tpm_open(&t, o.tcti);
	if (!ret) {
		c.tpm = &t;
		c.state = o.state;
		c.ima_log = o.ima_log;
		c.policy = &pol;
		ret = handshake(&c, f.peer, f.out, f.debug, f.json ? j : NULL);
		tm_tpm_close(&t);
	}
policy:
	tm_hosts_free(&named);
	tm_policy_free(&pol);
out:
	sk_X509_CRL_pop_free(c.crls, X509_CRL_free);
	if (f.json)
		handshake_json(j, f.peer, ret, start);
	else
		json_object_put(j);
	return ret;
}

/* The settings in effect, as trustmig config prints them. */
struct settings {
	const char *tcti, *state, *policy_dir, *session_dir, *listen;
	unsigned long timeout;
};

/* In the file's own format: a configuration file that means the same. */
static void config_text(const struct settings *s)
{
	unsigned int i;

	printf("# %s\n", conf.file ? conf.file :
	       "no configuration file: built-in defaults");
	printf("tcti = %s\nstate = %s\npolicy-dir = %s\nsession-dir = %s\n",
	       s->tcti, s->state, s->policy_dir, s->session_dir);
	printf("listen = %s\ntimeout = %lu\n", s->listen, s->timeout);
	/* unset: trustmig.ko's max_attach_timeout and max_lifetime apply */
	if (conf.attach_timeout)
		printf("attach-timeout = %lu\n", conf.attach_timeout);
	if (conf.lifetime)
		printf("session-lifetime = %lu\n", conf.lifetime);
	for (i = 0; i < conf.nanchors; i++)
		printf("anchor = %s\n", conf.anchor[i]);
	for (i = 0; i < conf.ncrls; i++)
		printf("crl = %s\n", conf.crl[i]);
}

/* "FILE:LINE: [warning: ]KEY: what", FILE:LINE if the file set KEY */
static void config_problems(const struct tm_config_report *r)
{
	const struct tm_config_problem *p;
	char where[4200];

	for (p = r->p; p < r->p + r->n; p++) {
		where[0] = '\0';
		if (p->line)
			snprintf(where, sizeof(where), "%s:%u: ", conf.file,
				 p->line);
		fprintf(stderr, "%s: %s%s%s: %s\n", tm_prog, where,
			p->warning ? "warning: " : "", p->key, p->msg);
	}
}

static json_object *json_strings(char *const *v, unsigned int n)
{
	json_object *a = json_object_new_array();
	unsigned int i;

	for (i = 0; a && i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/* The settings and the problems as one JSON object (docs/operations.md). */
static int config_json(const struct settings *s,
		       const struct tm_config_report *r)
{
	json_object *root = json_object_new_object();
	json_object *set = json_object_new_object();
	json_object *probs = json_object_new_array();
	const struct tm_config_problem *p;
	const char *text = NULL;
	json_object *o;

	if (!root || !set || !probs) {
		json_object_put(set);
		json_object_put(probs);
		goto out;
	}
	json_object_object_add(root, "file", conf.file ?
			       json_object_new_string(conf.file) : NULL);
	json_object_object_add(set, "tcti", json_object_new_string(s->tcti));
	json_object_object_add(set, "state", json_object_new_string(s->state));
	json_object_object_add(set, "policy-dir",
			       json_object_new_string(s->policy_dir));
	json_object_object_add(set, "session-dir",
			       json_object_new_string(s->session_dir));
	json_object_object_add(set, "listen",
			       json_object_new_string(s->listen));
	json_object_object_add(set, "timeout",
			       json_object_new_uint64(s->timeout));
	/* null: trustmig.ko's max_attach_timeout and max_lifetime apply */
	json_object_object_add(set, "attach-timeout", conf.attach_timeout ?
			       json_object_new_uint64(conf.attach_timeout) :
			       NULL);
	json_object_object_add(set, "session-lifetime", conf.lifetime ?
			       json_object_new_uint64(conf.lifetime) : NULL);
	json_object_object_add(set, "anchor",
			       json_strings(conf.anchor, conf.nanchors));
	json_object_object_add(set, "crl", json_strings(conf.crl, conf.ncrls));
	json_object_object_add(root, "settings", set);
	json_object_object_add(root, "problems", probs);
	for (p = r->p; p < r->p + r->n; p++) {
		o = json_object_new_object();
		if (!o)
			goto out;
		json_object_object_add(o, "severity",
				       json_object_new_string(p->warning ?
							      "warning" :
							      "error"));
		json_object_object_add(o, "key", json_object_new_string(p->key));
		if (p->line) {
			json_object_object_add(o, "file",
					       json_object_new_string(conf.file));
			json_object_object_add(o, "line",
					       json_object_new_int(p->line));
		}
		json_object_object_add(o, "message",
				       json_object_new_string(p->msg));
		json_object_array_add(probs, o);
	}
	json_object_object_add(root, "errors", json_object_new_int(r->errors));
	json_object_object_add(root, "warnings",
			       json_object_new_int(r->n - r->errors));
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_SPACED |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text)
		puts(text);
out:
	json_object_put(root);
	return text ? 0 : tm_fail(TM_EXIT_ERROR, "out of memory");
}

static int cmd_config(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("tcti", OPT_TCTI), TM_OPT("state", OPT_STATE),
		TM_OPT_CONFIG, { "json", no_argument, NULL, OPT_JSON }, { 0 }
	};
	struct tm_config_report r;
	struct host_opts o = { 0 };
	struct settings s;
	int opt, ret, json = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_JSON)
			json = 1;
		else if (host_common(&o, opt))
			return tm_usage(argv[0], "bad option");
	}
	ret = host_finish(&o, argv[0], argc, argv);
	if (ret)
		return ret;
	s = (struct settings) {
		.tcti = tm_setting(o.tcti, NULL, NULL, TM_TCTI_DEFAULT),
		.state = o.state,
		.policy_dir = tm_setting(NULL, NULL, conf.policy_dir,
					 TM_POLICY_DIR_DEFAULT),
		.session_dir = tm_setting(NULL, NULL, conf.session_dir,
					  TM_SESSION_DIR_DEFAULT),
		.listen = tm_setting(NULL, NULL, conf.listen, TM_LISTEN_DEFAULT),
		.timeout = conf.timeout ? conf.timeout : TM_TIMEOUT_DEFAULT,
	};
	ret = tm_config_check(&conf, s.state, s.policy_dir, s.session_dir, &r);
	if (ret)
		return ret;
	if (json) {
		ret = config_json(&s, &r);
	} else {
		config_text(&s);
		config_problems(&r);
	}
	if (!ret && r.errors)
		ret = tm_fail(TM_EXIT_CONFIG,
			      "configuration %s: %u error(s), %u warning(s)",
			      conf.file ? conf.file : "(built-in defaults)",
			      r.errors, r.n - r.errors);
	tm_config_report_free(&r);
	return ret;
}

/* Whole days from now to @when (negative: past); 0 if unreadable. */
static int days_left(const ASN1_TIME *when)
{
	int days = 0, secs = 0;

	if (when)
		ASN1_TIME_diff(&days, &secs, NULL, when);
	return days;
}

/*
 * The host's own token into @host as status shows it, with the days it has
 * left; returns whether the migration key it certifies is usable now. The
 * token is read once for both.
 */
static struct json_object *status_token(const struct host_opts *o,
					struct json_object *host)
{
	struct json_object *j = NULL, *key = json_object_new_object();
	struct tm_token_info info = { 0 };
	X509 *tok;
	int ret;

	ret = host_token(o, &tok, &info);
	if (!ret)
		j = tm_token_json(tok, &info);
	if (j)
		json_object_object_add(j, "days_left",
				       json_object_new_int(days_left(X509_get0_notAfter(tok))));
	json_object_object_add(host, "token", j);
	if (ret)
		json_object_object_add(host, "token_error",
				       json_object_new_string(tm_last_error()));
	else
		ret = key_check(o, &info);
	json_object_object_add(key, "usable", json_object_new_boolean(!ret));
	if (ret)
		json_object_object_add(key, "reason",
				       json_object_new_string(tm_last_error()));
	X509_free(tok);
	tm_token_info_free(&info);
	return key;
}

/* Each configured CRL's nextUpdate: a stale CRL refuses every token. */
static struct json_object *status_crls(void)
{
	struct json_object *all = json_object_new_array();
	const ASN1_TIME *next;
	X509_CRL *crl;
	unsigned int i;
	char when[64];
	int stale;

	for (i = 0; i < conf.ncrls; i++) {
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "path",
				       json_object_new_string(conf.crl[i]));
		if (tm_crl_load(conf.crl[i], &crl)) {
			json_object_object_add(c, "error",
					       json_object_new_string(tm_last_error()));
		} else {
			next = X509_CRL_get0_nextUpdate(crl);
			stale = !next || X509_cmp_current_time(next) <= 0;
			/* "2026-12-04 16:15 UTC" */
			if (tm_time_text(next, "%Y-%m-%d %H:%M UTC", when,
					 sizeof(when)))
				strcpy(when, "?");
			json_object_object_add(c, "next_update",
					       json_object_new_string(when));
			json_object_object_add(c, "stale",
					       json_object_new_boolean(stale));
			X509_CRL_free(crl);
		}
		json_object_array_add(all, c);
	}
	return all;
}

/* The last trustmig.ko IMA measured: the one loaded now, if any is. */
static int status_key_module(const struct tm_ima_entry *e, void *arg)
{
	struct json_object *m = arg;
	char path[4096], *hex;

	if (!tm_ima_is_key_module(e))
		return 0;
	tm_printable(e->path, e->path_len, path, sizeof(path), 0);
	hex = tm_hex(e->sha256, 32);
	json_object_object_add(m, "path", json_object_new_string(path));
	json_object_object_add(m, "sha256",
			       hex ? json_object_new_string(hex) : NULL);
	OPENSSL_free(hex);
	return 0;
}

/* What IMA says of trustmig.ko on this host (docs/operations.md). */
static struct json_object *status_ima(const struct host_opts *o)
{
	struct json_object *m = json_object_new_object();
	unsigned char *log;
	TPM2B_DIGEST pcr;
	size_t len;
	int ret;

	json_object_object_add(m, "list", json_object_new_string(o->ima_log));
	ret = tm_ima_read(o->ima_log, &log, &len);
	if (!ret)
		ret = tm_ima_replay(log, len, TPM2_ALG_SHA256, &pcr,
				    status_key_module, m);
	if (ret)
		json_object_object_add(m, "error",
				       json_object_new_string(tm_last_error()));
	free(log);
	return m;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ?
		json_object_get_string(v) : NULL;
}

#define CRL_STALE \
	" (WARNING: stale, every token is refused until the TTP's next CRL is installed)"

#define NO_KEY_MODULE \
	"  module:   no trustmig.ko in IMA's list %s (a peer whose baseline has \"ima\" refuses this host)\n"

static void status_host_text(struct json_object *host)
{
	struct json_object *tok, *crls, *key, *ima, *v;
	size_t i;

	json_object_object_get_ex(host, "token", &tok);
	json_object_object_get_ex(host, "crls", &crls);
	json_object_object_get_ex(host, "migration_key", &key);
	json_object_object_get_ex(host, "measured_module", &ima);
	if (tok) {
		json_object_object_get_ex(tok, "days_left", &v);
		printf("host: %s\n"
		       "  token:    baseline %s version %s, valid until %s (%d days left)\n",
		       jstr(tok, "host"), jstr(tok, "baseline"),
		       jstr(tok, "baseline_version"), jstr(tok, "not_after"),
		       json_object_get_int(v));
	} else {
		printf("host: no Trust_Token\n  token:    %s\n",
		       jstr(host, "token_error"));
	}
	for (i = 0; i < json_object_array_length(crls); i++) {
		struct json_object *c = json_object_array_get_idx(crls, i);

		if (jstr(c, "error")) {
			printf("  crl:      %s: %s\n", jstr(c, "path"),
			       jstr(c, "error"));
			continue;
		}
		json_object_object_get_ex(c, "stale", &v);
		printf("  crl:      %s: next update %s%s\n", jstr(c, "path"),
		       jstr(c, "next_update"),
		       json_object_get_boolean(v) ? CRL_STALE : "");
	}
	json_object_object_get_ex(key, "usable", &v);
	if (json_object_get_boolean(v))
		printf("  key:      usable now\n");
	else
		printf("  key:      NOT usable: %s\n", jstr(key, "reason"));
	if (jstr(ima, "error"))
		printf("  module:   %s\n", jstr(ima, "error"));
	else if (jstr(ima, "path"))
		printf("  module:   measured by IMA: %s (sha256 %.16s...)\n",
		       jstr(ima, "path"), jstr(ima, "sha256"));
	else
		printf(NO_KEY_MODULE, jstr(ima, "list"));
}

struct session_out {
	int json;
	struct json_object *all;	/* --json: the sessions so far */
	unsigned int n;
	int block;			/* status, show: a block each */
};

static int session_print(const struct tm_session_info *s, void *arg)
{
	struct session_out *out = arg;

	if (out->json) {
		json_object_array_add(out->all, tm_show_session_json(s));
	} else if (out->block) {
		if (out->n)
			putchar('\n');
		tm_show_session_block(stdout, s);
	} else {
		tm_show_session_line(stdout, s);
	}
	out->n++;
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		TM_OPT("tcti", OPT_TCTI), TM_OPT("state", OPT_STATE),
		{ "json", no_argument, NULL, OPT_JSON }, TM_OPT_CONFIG, { 0 }
	};
	struct session_out out = { .block = 1 };
	struct json_object *host, *key, *j;
	struct host_opts o = { 0 };
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_JSON)
			out.json = 1;
		else if (host_common(&o, opt))
			return tm_usage(argv[0], "bad option");
	}
	ret = host_finish(&o, argv[0], argc, argv);
	if (ret)
		return ret;
	host = json_object_new_object();
	key = status_token(&o, host);
	json_object_object_add(host, "crls", status_crls());
	json_object_object_add(host, "migration_key", key);
	json_object_object_add(host, "measured_module", status_ima(&o));
	out.all = json_object_new_array();
	ret = tm_module_sessions(0, session_print, &out);
	if (!out.json) {
		status_host_text(host);
		json_object_put(host);
		json_object_put(out.all);
		if (!ret && !out.n)
			printf("\nno sessions\n");
		return ret;
	}
	j = json_object_new_object();
	json_object_object_add(j, "host", host);
	json_object_object_add(j, "sessions", out.all);
	json_object_object_add(j, "module_error", ret ?
			       json_object_new_string(tm_last_error()) : NULL);
	tm_show_json(stdout, j);
	return ret;
}

static int session_parse_id(const char *cmd, char **argv, int argc,
			    __u32 *id)
{
	unsigned long v;

	if (optind + 1 != argc)
		return tm_usage(cmd, "one session ID expected");
	if (tm_parse_ulong(argv[optind], 1, UINT32_MAX, &v))
		return tm_usage(cmd, "session ID \"%.32s\" is not a number from 1 to %u",
				argv[optind], UINT32_MAX);
	*id = v;
	return 0;
}

/* One session of the walk; one that went meanwhile is no error. */
static int session_delete(const struct tm_session_info *s, void *arg)
{
	unsigned int *deleted = arg;
	int ret = tm_module_delete(s->id);

	if (ret == TM_EXIT_NO_SESSION)
		return 0;
	*deleted += !ret;
	return ret;
}

/* Deletes every session as the dump lists it. */
static int session_flush(void)
{
	unsigned int deleted = 0;
	int ret = tm_module_sessions(0, session_delete, &deleted);

	if (!ret)
		printf("deleted %u session%s\n", deleted,
		       deleted == 1 ? "" : "s");
	return ret;
}

struct monitor {
	int json;
	unsigned long left;	/* events still to print; 0: no limit */
};

static int monitor_event(const struct tm_session_event *ev, void *arg)
{
	struct monitor *m = arg;
	int ret = 0;

	if (m->json)
		ret = tm_show_json(stdout, tm_show_event_json(ev));
	else
		tm_show_event_line(stdout, ev);
	if (ret)
		return ret;
	return m->left && !--m->left ? -1 : 0;
}

static void monitor_ready(void)
{
	fprintf(stderr, "%s: monitoring trustmig.ko's events\n", tm_prog);
}

static int cmd_session(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		TM_OPT("count", OPT_COUNT), { 0 }
	};
	struct session_out out = { 0 };
	struct monitor m = { 0 };
	const char *sub;
	int opt, ret;
	__u32 id = 0;

	if (argc < 2)
		return tm_usage(argv[0], "list, show, del, flush or monitor expected");
	sub = argv[1];
	argv[1] = argv[0];
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_JSON)
			out.json = 1;
		else if (opt != OPT_COUNT ||
			 tm_opt_ulong(argv[0], "count", optarg, 1, ULONG_MAX,
				      &m.left))
			return tm_usage(argv[0], "bad option");
	}
	if (!strcmp(sub, "monitor")) {
		m.json = out.json;
		if (optind != argc)
			return tm_usage(argv[0], "monitor takes no argument");
		return tm_module_monitor(monitor_event, &m, monitor_ready);
	}
	if (m.left)
		return tm_usage(argv[0], "--count is for monitor");
	if (!strcmp(sub, "list") || !strcmp(sub, "flush")) {
		if (optind != argc)
			return tm_usage(argv[0], "%s takes no argument", sub);
	} else if (strcmp(sub, "show") && strcmp(sub, "del")) {
		return tm_usage(argv[0],
				"unknown session command \"%.32s\": list, show, del, flush or monitor",
				sub);
	} else {
		ret = session_parse_id(argv[0], argv, argc, &id);
		if (ret)
			return ret;
	}
	if ((!strcmp(sub, "del") || !strcmp(sub, "flush")) && out.json)
		return tm_usage(argv[0], "--json is for list, show and monitor");
	if (!strcmp(sub, "del"))
		return tm_module_delete(id);
	if (!strcmp(sub, "flush"))
		return session_flush();
	out.block = !!id;
	out.all = json_object_new_array();
	ret = tm_module_sessions(id, session_print, &out);
	if (!ret && out.json)
		ret = tm_show_json(stdout, json_object_get(id ?
			json_object_array_get_idx(out.all, 0) : out.all));
	json_object_put(out.all);
	return ret;
}

static const struct tm_cmd cmds[] = {
	{ "ek", cmd_ek, help_ek },
	{ "enrol-request", cmd_request, help_request },
	{ "enrol-respond", cmd_respond, help_respond },
	{ "enrol-install", cmd_install, help_install },
	{ "baseline", cmd_baseline, help_baseline },
	{ "check-key", cmd_check, help_check },
	{ "handshake", cmd_handshake, help_handshake },
	{ "status", cmd_status, help_status },
	{ "session", cmd_session, help_session },
	{ "config", cmd_config, help_config },
	TM_CMD_VERSION,
	{ NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	int ret = tm_cli_main(argc, argv, manual, cmds);

	tm_config_free(&conf);
	return ret;
}
