// SPDX-License-Identifier: GPL-2.0
/*
 * trustmigd: the destination side of the migration handshake. Accepts
 * connections from trustmig handshake on source hosts, one handshake per
 * connection, in turn; installs the agreed keys in trustmig.ko and leaves
 * the session id and ticket for the destination VMM.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "config.h"
#include "handshake.h"
#include "host.h"
#include "util.h"
#include "wire.h"

static const char manual[] =
"NAME\n"
"    trustmigd - trustmig destination daemon: attested migration handshake\n"
"\n"
"SYNOPSIS\n"
"    trustmigd [--config FILE] [--crl FILE]... [--listen HOST:PORT]\n"
"              [--policy-dir DIR] [--session-dir DIR | --once]\n"
"              [--state DIR] [--tcti CONF] [--timeout SEC]\n"
"              [--debug-fingerprint]\n"
"    trustmigd --help | --version\n"
"\n"
"DESCRIPTION\n"
"    Runs on a host that receives migrating VMs. For each connection from\n"
"    a source ('trustmig handshake', docs/protocol.md) it runs one\n"
"    handshake: the source names a migration policy, which must exist as\n"
"    DIR/ID.json in --policy-dir; the source's Trust_Token must chain to\n"
"    one of that policy's TTP anchors, not be revoked by any --crl, and\n"
"    certify one of its baselines; its quote must match that baseline.\n"
"    This host proves its own state with a quote by its AK and with\n"
"    TPM2_ECDH_ZGen by its PCR-bound migration key (both from --state).\n"
"    The agreed source->destination key is installed in trustmig.ko as a\n"
"    destination session and the VMM's line\n"
"      trustmig-session v1 role=dest id=ID stream=HEX8 ticket=HEX64\n"
"    is written to --session-dir/HEX8.session (mode 0600; the VMM finds\n"
"    it by the stream id of the records it receives) or, with --once, to\n"
"    stdout; --once serves one connection and exits with its status.\n"
"    Handshakes are served one at a time (the TPM is one resource); every\n"
"    read times out after SEC seconds (default 30).\n"
"\n"
"    Every option but --config, --once and --debug-fingerprint can be set\n"
"    in the configuration file (key = value, the option's name without\n"
"    '--'; docs/trustmig.conf.example); an option on the command line\n"
"    wins, and --crl given there replaces the file's crl list. The file's\n"
"    'anchor' lines name the TTPs this host trusts at all: a source's\n"
"    token must chain to an anchor in both that list and the policy.\n"
"\n"
"OPTIONS\n"
"    --config FILE       default $" TM_CONFIG_ENV ", else " TM_CONFIG_DEFAULT "\n"
"                        (built-in defaults if that file does not exist)\n"
"    --crl FILE          repeatable, one per TTP; required here or in FILE\n"
"    --listen HOST:PORT  default " TM_LISTEN_DEFAULT "; port 0 picks one; the\n"
"                        address is logged as 'listening on ADDR'\n"
"    --policy-dir DIR    default " TM_POLICY_DIR_DEFAULT "\n"
"    --session-dir DIR   default " TM_SESSION_DIR_DEFAULT "\n"
"    --state DIR, --tcti CONF   as for trustmig (token, AK, migration key)\n"
"    --debug-fingerprint log a fingerprint of the keys (tests only)\n"
"    --version           this daemon's release and netlink version, then\n"
"                        the running trustmig.ko's (never loads it)\n"
"\n"
"LOGS\n"
"    stderr, one line per handshake with a syslog priority prefix:\n"
"      <6>trustmigd[PID]: handshake peer=ADDR host=NAME policy=ID\n"
"          result=ok code=0 reason=\"keys agreed\" ms=N\n"
"\n"
"EXIT STATUS\n"
"    As trustmig (see trustmig --help); the daemon itself exits 0 only on\n"
"    a signal, 1 if it cannot listen, 2 on a usage error, 5 if the\n"
"    configuration file is invalid (FILE:LINE: reason).\n";

struct daemon {
	struct tm_hs_config c;
	const char *tcti;
	const char *session_dir;
	int once;
	int debug;
};

/* Hand the VMM its session: stdout (--once) or DIR/STREAM.session. */
static int emit_session(const struct daemon *d, const struct tm_session *s)
{
	char path[4096], name[32];
	char *line = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	if (d->once)
		return tm_session_print(stdout, s);
	f = open_memstream(&line, &len);
	if (!f)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	ret = tm_session_print(f, s);
	fclose(f);
	snprintf(name, sizeof(name), "%08x.session", s->stream);
	if (!ret)
		ret = tm_path(path, sizeof(path), d->session_dir, name);
	if (!ret)
		ret = tm_write_file(path, line, len, 0600, 0);
	OPENSSL_cleanse(line, len);
	free(line);
	return ret;
}

static int serve(const struct daemon *d, int fd)
{
	long long start = tm_now_ms();
	struct tm_hs_config c = d->c;
	struct tm_hs_keys k = { 0 };
	char peer[TM_ADDR_MAX];
	struct tm_session s;
	struct tm_tpm t;
	int ret, sent;

	tm_wire_peer(fd, peer, sizeof(peer));
	ret = tm_tpm_open(&t, d->tcti);
	if (ret)
		goto log;
	c.tpm = &t;
	ret = tm_hs_dest(fd, &c, &k);
	tm_tpm_close(&t);
	if (ret)
		goto log;
	if (d->debug)
		tm_hs_print_fingerprint(&k);
	ret = tm_hs_install(&k, TRUSTMIG_ROLE_DEST, &s);
	if (!ret)
		ret = emit_session(d, &s);
	OPENSSL_cleanse(&s, sizeof(s));
	sent = tm_hs_result_send(fd, &c, &k, ret);
	if (!ret)
		ret = sent;
log:
	tm_hs_keys_wipe(&k);
	tm_hs_log(peer, &k, ret, start);
	return ret;
}

static int run(struct daemon *d, const char *listen_addr)
{
	char bound[TM_ADDR_MAX];
	int lfd, fd, ret;

	ret = tm_wire_listen(listen_addr, &lfd, bound, sizeof(bound));
	if (ret)
		return ret;
	fprintf(stderr, "<6>%s[%ld]: listening on %s\n", tm_prog,
		(long)getpid(), bound);
	if (tm_module_probe())
		fprintf(stderr,
			"<4>%s[%ld]: warning: %s; handshakes will be refused at key installation\n",
			tm_prog, (long)getpid(), tm_last_error());
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0) {
			ret = tm_fail(TM_EXIT_ERROR, "accept: %s",
				      strerror(errno));
			break;
		}
		ret = serve(d, fd);
		close(fd);
		if (d->once)
			break;
	}
	close(lfd);
	return ret;
}

enum { OPT_LISTEN = 0x100, OPT_TCTI, OPT_STATE, OPT_POLDIR, OPT_SESSDIR,
	OPT_CRL, OPT_TIMEOUT, OPT_ONCE, OPT_DEBUG, OPT_CONFIG, OPT_HELP,
	OPT_VERSION };

/* What the command line set; the configuration file fills the rest. */
struct flags {
	const char *config, *listen, *tcti, *state, *policy_dir, *session_dir;
	char *crl[TM_CONFIG_LIST_MAX];
	unsigned int ncrls;
	unsigned long timeout;
};

static int configure(struct daemon *d, const struct flags *f,
		     const struct tm_config *conf, const char **listen_addr)
{
	unsigned long secs = f->timeout ? f->timeout : conf->timeout;
	int ret;

	d->tcti = tm_setting(f->tcti, TM_TCTI_ENV, conf->tcti, NULL);
	d->c.state = tm_setting(f->state, TM_STATE_ENV, conf->state,
				TM_STATE_DEFAULT);
	d->c.policy_dir = tm_setting(f->policy_dir, NULL, conf->policy_dir,
				     TM_POLICY_DIR_DEFAULT);
	d->session_dir = tm_setting(f->session_dir, NULL, conf->session_dir,
				    TM_SESSION_DIR_DEFAULT);
	*listen_addr = tm_setting(f->listen, NULL, conf->listen,
				  TM_LISTEN_DEFAULT);
	d->c.timeout_ms = (secs ? secs : TM_TIMEOUT_DEFAULT) * 1000;
	ret = tm_config_crls(conf, f->crl, f->ncrls, &d->c.crls);
	if (!ret)
		ret = tm_config_anchors(conf, &d->c.trusted);
	if (!ret)
		fprintf(stderr,
			"<6>%s[%ld]: configuration %s: %u TTP anchor file(s), %d CRL(s), policies in %s\n",
			tm_prog, (long)getpid(),
			conf->file ? conf->file : "(none, built-in defaults)",
			conf->nanchors, sk_X509_CRL_num(d->c.crls),
			d->c.policy_dir);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "tcti", required_argument, NULL, OPT_TCTI },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "policy-dir", required_argument, NULL, OPT_POLDIR },
		{ "session-dir", required_argument, NULL, OPT_SESSDIR },
		{ "crl", required_argument, NULL, OPT_CRL },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "debug-fingerprint", no_argument, NULL, OPT_DEBUG },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 }
	};
	struct tm_config conf = { 0 };
	struct daemon d = { 0 };
	struct flags f = { 0 };
	const char *listen_addr;
	int opt, ret = 0;

	tm_prog = "trustmigd";
	signal(SIGPIPE, SIG_IGN);
	while (!ret && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(manual, stdout);
			return 0;
		} else if (opt == OPT_VERSION) {
			tm_module_print_versions(stdout, tm_prog);
			return 0;
		} else if (opt == OPT_LISTEN) {
			f.listen = optarg;
		} else if (opt == OPT_TCTI) {
			f.tcti = optarg;
		} else if (opt == OPT_STATE) {
			f.state = optarg;
		} else if (opt == OPT_POLDIR) {
			f.policy_dir = optarg;
		} else if (opt == OPT_SESSDIR) {
			f.session_dir = optarg;
		} else if (opt == OPT_CONFIG) {
			f.config = optarg;
		} else if (opt == OPT_CRL) {
			ret = tm_config_list_add(f.crl, &f.ncrls, "--crl",
						 optarg);
		} else if (opt == OPT_ONCE) {
			d.once = 1;
		} else if (opt == OPT_DEBUG) {
			d.debug = 1;
		} else if (opt != OPT_TIMEOUT ||
			   tm_parse_ulong(optarg, 1, 3600, &f.timeout)) {
			ret = tm_fail(TM_EXIT_USAGE, "bad option; try '%s --help'",
				      tm_prog);
		}
	}
	if (!ret && optind != argc)
		ret = tm_fail(TM_EXIT_USAGE, "unexpected argument \"%s\"",
			      argv[optind]);
	if (!ret)
		ret = tm_config_load(f.config, &conf);
	if (!ret)
		ret = configure(&d, &f, &conf, &listen_addr);
	if (!ret)
		ret = run(&d, listen_addr);
	sk_X509_CRL_pop_free(d.c.crls, X509_CRL_free);
	X509_STORE_free(d.c.trusted);
	tm_config_free(&conf);
	return tm_report(tm_prog, ret);
}
