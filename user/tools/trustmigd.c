// SPDX-License-Identifier: GPL-2.0
/*
 * trustmigd: the destination side of the migration handshake. Accepts
 * connections from trustmig handshake on source hosts, one handshake per
 * connection, in turn; installs the agreed keys in trustmig.ko and leaves
 * the session id and ticket for the destination VMM.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <systemd/sd-daemon.h>

#include "cli.h"
#include "config.h"
#include "handshake.h"
#include "host.h"
#include "ima.h"
#include "module.h"
#include "util.h"
#include "version.h"
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
"    one of that policy's TTP anchors, neither it nor a CA of its chain be\n"
"    revoked by a --crl (each needs its current CRL), and certify one of\n"
"    its baselines; its quote must match that baseline.\n"
"    If the policy lists \"sources\", the source's token must name one\n"
"    of those hosts; if the source names the destinations it expects,\n"
"    this host's token must name one of them. Either refusal is status\n"
"    59 here and 52 (its code 59) at the source.\n"
"    This host proves its own state with a quote by its AK and with\n"
"    TPM2_ECDH_ZGen by its PCR-bound migration key (both from --state).\n"
"    The agreed source->destination key is installed in trustmig.ko as a\n"
"    destination session and the VMM's line\n"
"      trustmig-session v1 role=dest id=ID stream=HEX8 ticket=HEX64\n"
"    is written to --session-dir/HEX8.session (mode 0600; the VMM finds\n"
"    it by the stream id of the records it receives) or, with --once, to\n"
"    stdout; --once serves one connection and exits with its status.\n"
"    Every read times out after SEC seconds (default 30). Up to 32 new\n"
"    connections wait side by side for their first message (M1), each at\n"
"    most SEC seconds; handshakes then run one at a time (the TPM is one\n"
"    resource), so a client that sends a byte and waits holds up no one.\n"
"\n"
"    At start, before it listens, it reads the configuration, its CRLs\n"
"    and anchors, and opens the TPM (--tcti) once: without a TPM there it\n"
"    exits 1 with one line naming the TCTI, e.g.\n"
"      trustmigd: cannot reach the TPM at \"device:/dev/tpmrm0\": ...\n"
"    rather than listen and refuse every handshake.\n"
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
"    --crl FILE          repeatable, one per TTP, an intermediate's root\n"
"                        too; required here or in FILE\n"
"    --listen HOST:PORT  default " TM_LISTEN_DEFAULT "; PORT a number 0-65535,\n"
"                        0 picks one; the address is logged as\n"
"                        'listening on ADDR'\n"
"    --policy-dir DIR    default " TM_POLICY_DIR_DEFAULT "\n"
"    --session-dir DIR   default " TM_SESSION_DIR_DEFAULT "\n"
"    --state DIR, --tcti CONF   as for trustmig (token, AK, migration key)\n"
"    --debug-fingerprint log a fingerprint of the keys (tests only)\n"
"    --version           this daemon's release and netlink version, the\n"
"                        wire formats it speaks, then the running\n"
"                        trustmig.ko's release and netlink version, or why\n"
"                        none runs (never loads it)\n"
"\n"
"SIGNALS AND SYSTEMD\n"
"    SIGHUP reloads: the configuration file is read again, with the CRL\n"
"    and anchor files it or --crl names, by the same code and with the\n"
"    same precedence as at start (the command line still wins). Policies\n"
"    are read from --policy-dir at every handshake anyway. A handshake in\n"
"    progress is not interrupted and finishes under the configuration it\n"
"    began with; the reload follows it, before the next handshake (a\n"
"    connection still waiting for its M1 has not begun one). If\n"
"    the new configuration is invalid, or names another TPM (--tcti)\n"
"    that cannot be reached, the daemon logs why and keeps serving with\n"
"    the previous one:\n"
"      <3>trustmigd[PID]: reload: REASON; keeping the previous configuration\n"
"    The listen address changes only with a restart.\n"
"\n"
"    Started by systemd with Type=notify ($NOTIFY_SOCKET set), it sends\n"
"    READY=1 and STATUS=listening on ADDR once its socket listens, and\n"
"    RELOADING=1, then READY=1, around a reload; without $NOTIFY_SOCKET\n"
"    it sends nothing. Its unit is trustmigd.service (in the source:\n"
"    user/systemd/); 'systemctl reload trustmigd' sends SIGHUP.\n"
"\n"
"LOGS\n"
"    stderr, one line per handshake with a syslog priority prefix, which\n"
"    the journal reads as the line's priority under systemd:\n"
"      <6>trustmigd[PID]: handshake peer=ADDR host=NAME policy=ID\n"
"          result=ok code=0 reason=\"keys agreed\" ms=N\n"
"    and at start, and after each reload with \"reload: \" before it:\n"
"      <6>trustmigd[PID]: configuration FILE: N TTP anchor file(s),\n"
"          N CRL(s), policies in DIR\n"
"    A connection dropped before its M1 arrived is a handshake line with\n"
"    host=- policy=- result=refused code=50 and the reason: \"timeout: the\n"
"    first message (M1) did not arrive whole within SEC s\", or \"dropped:\n"
"    32 connections were waiting ..., this one the longest\". A failed\n"
"    accept() never stops the daemon: a connection's own error is one\n"
"      <4>trustmigd[PID]: accept: REASON; that connection is lost, serving on\n"
"    and running out of descriptors or memory pauses accepting, retried\n"
"    every 100 ms, with one line until it works again:\n"
"      <4>trustmigd[PID]: accept: Too many open files; accepting again\n"
"          every 100 ms until it works\n"
"\n"
"EXIT STATUS\n"
"    As trustmig (see trustmig --help); the daemon itself exits 0 only on\n"
"    a signal, 1 if it cannot listen or reach its TPM at start, 2 on a\n"
"    usage error, 5 if the configuration file is invalid at start\n"
"    (FILE:LINE: reason), 6 if a file it reads at start is missing or\n"
"    unreadable (permission denied).\n";

/* What the command line set; the configuration file fills the rest. */
struct flags {
	const char *config, *listen, *tcti, *state, *policy_dir, *session_dir;
	char *crl[TM_CONFIG_LIST_MAX];
	unsigned int ncrls;
	unsigned long timeout;
};

/*
 * Everything the configuration decides, built whole by load() at start
 * and again on SIGHUP; the strings point into conf or the command line.
 */
struct settings {
	struct tm_config conf;
	struct tm_hs_config c;
	const char *tcti;
	const char *session_dir;
	const char *listen;
};

/*
 * Connections wait for their first message (M1) side by side, up to
 * WAITING_MAX, each for the read timeout; the handshake proper (policy,
 * token checks, TPM, M2, M3) then runs one at a time. A client that
 * sends a byte and waits holds a place in the list, never the TPM or the
 * handshakes of others; when the list is full the connection that waited
 * longest goes. Handshakes stay one at a time, rather than concurrent
 * with a cap, because the TPM is one serial resource (without a
 * resource manager, /dev/tpm0 opens once) and because a SIGHUP must come
 * between two handshakes, never inside one (see run()): a connection
 * still waiting for its M1 has not begun its handshake.
 */
#define WAITING_MAX	32
/* Out of descriptors or memory: how long accept() rests before a retry. */
#define ACCEPT_PAUSE_MS	100
/* How often spent session files are looked for (sweep_sessions()). */
#define SWEEP_MS	2000

struct waiting {
	int fd;
	long long start;	/* tm_now_ms() at accept() */
	char peer[TM_ADDR_MAX];
};

struct daemon {
	struct settings s;
	const struct flags *f;
	char *listen;		/* the address asked for at start */
	char bound[TM_ADDR_MAX];
	int once;
	int debug;
	struct waiting w[WAITING_MAX];	/* oldest first */
	unsigned int nwaiting;
	long long paused_until;		/* no accept() before, tm_now_ms() */
	long long sweep_at;		/* next sweep_sessions(), tm_now_ms() */
	int pause_logged;		/* since the last accept() that worked */
};

/* Hand the VMM its session: stdout (--once) or DIR/STREAM.session. */
static int emit_session(const struct daemon *d, const struct tm_session *s)
{
	char path[4096], name[32];
	char *line;
	size_t len;
	int ret;

	if (d->once)
		return tm_session_print(stdout, s);
	line = tm_session_line(s, &len);
	if (!line)
		return TM_EXIT_ERROR;
	snprintf(name, sizeof(name), "%08x.session", s->stream);
	ret = tm_path(path, sizeof(path), d->s.session_dir, name);
	if (!ret)
		ret = tm_write_file(path, line, len, 0600, 0);
	OPENSSL_cleanse(line, len);
	free(line);
	return ret;
}

static int serve(const struct daemon *d, const struct waiting *w)
{
	struct tm_session s = {
		.attach_timeout = d->s.conf.attach_timeout,
		.lifetime = d->s.conf.lifetime,
		.peer_addr = w->peer,
	};
	struct tm_hs_config c = d->s.c;
	struct tm_hs_keys k = { 0 };
	struct tm_tpm t;
	int fd = w->fd, ret, sent;

	ret = tm_tpm_open(&t, d->s.tcti);
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
	if (!ret) {
		ret = emit_session(d, &s);
		/* the source hears of it in RESULT and installs nothing */
		if (ret)
			tm_module_delete(s.id);
	}
	OPENSSL_cleanse(&s, sizeof(s));
	sent = tm_hs_result_send(fd, &c, &k, ret);
	if (!ret)
		ret = sent;
log:
	tm_hs_keys_wipe(&k);
	tm_hs_log(w->peer, &k, ret, w->start);
	return ret;
}

static void settings_free(struct settings *s)
{
	sk_X509_CRL_pop_free(s->c.crls, X509_CRL_free);
	X509_STORE_free(s->c.trusted);
	tm_config_free(&s->conf);
	memset(s, 0, sizeof(*s));
}

/* The TPM at @tcti answers: its TCTI and ESAPI initialise. */
static int tpm_probe(const char *tcti)
{
	struct tm_tpm t;
	int ret;

	ret = tm_tpm_open(&t, tcti);
	if (!ret)
		tm_tpm_close(&t);
	return ret;
}

/*
 * Build @s from the configuration file and @f, the command line, which
 * wins: at start (@old NULL) and on SIGHUP alike. The TPM is opened once
 * when its TCTI is new, so that a daemon without its TPM stops at start;
 * a reload that keeps the TCTI does not depend on the TPM (a new CRL
 * must not wait for it). On failure @s is empty and the reason recorded.
 */
static int load(const struct flags *f, const struct settings *old,
		struct settings *s)
{
	unsigned long secs;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = tm_config_load(f->config, &s->conf);
	if (ret)
		return ret;
	secs = f->timeout ? f->timeout : s->conf.timeout;
	s->tcti = tm_setting(f->tcti, TM_TCTI_ENV, s->conf.tcti,
			     TM_TCTI_DEFAULT);
	s->c.state = tm_setting(f->state, TM_STATE_ENV, s->conf.state,
				TM_STATE_DEFAULT);
	s->c.ima_log = tm_setting(NULL, TM_IMA_ENV, s->conf.ima_log,
				  TM_IMA_LOG);
	s->c.policy_dir = tm_setting(f->policy_dir, NULL, s->conf.policy_dir,
				     TM_POLICY_DIR_DEFAULT);
	s->session_dir = tm_setting(f->session_dir, NULL, s->conf.session_dir,
				    TM_SESSION_DIR_DEFAULT);
	s->listen = tm_setting(f->listen, NULL, s->conf.listen,
			       TM_LISTEN_DEFAULT);
	s->c.timeout_ms = (secs ? secs : TM_TIMEOUT_DEFAULT) * 1000;
	ret = tm_config_crls(&s->conf, f->crl, f->ncrls, &s->c.crls);
	if (!ret)
		ret = tm_config_anchors(&s->conf, &s->c.trusted);
	if (!ret && (!old || strcmp(s->tcti, old->tcti)))
		ret = tpm_probe(s->tcti);
	if (ret) {
		settings_free(s);
		return ret;
	}
	fprintf(stderr,
		"<6>%s[%ld]: %sconfiguration %s: %u TTP anchor file(s), %d CRL(s), policies in %s\n",
		tm_prog, (long)getpid(), old ? "reload: " : "",
		s->conf.file ? s->conf.file : "(none, built-in defaults)",
		s->conf.nanchors, sk_X509_CRL_num(s->c.crls),
		s->c.policy_dir);
	return 0;
}

/*
 * Tell systemd (Type=notify) how we are, if it started us: only with
 * $NOTIFY_SOCKET set. A failure is logged and otherwise ignored.
 */
static __printf(1, 2) void notify(const char *fmt, ...)
{
	char msg[TM_ADDR_MAX + 512];
	va_list ap;
	int rc;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rc = sd_notify(0, msg);
	if (rc < 0)
		fprintf(stderr,
			"<4>%s[%ld]: warning: cannot notify systemd at $NOTIFY_SOCKET: %s\n",
			tm_prog, (long)getpid(), strerror(-rc));
}

/*
 * SIGHUP: a new configuration, or the old one and one line saying why
 * not. Runs between handshakes only (see run()).
 */
static void on_sighup(struct daemon *d)
{
	struct settings s;

	/* MONOTONIC_USEC: what systemd >= 253 wants with RELOADING=1 */
	notify("RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=reloading",
	       tm_now_ms() * 1000);
	if (load(d->f, &d->s, &s)) {
		fprintf(stderr,
			"<3>%s[%ld]: reload: %s; keeping the previous configuration\n",
			tm_prog, (long)getpid(), tm_last_error());
		notify("READY=1\nSTATUS=listening on %s; reload failed",
		       d->bound);
		return;
	}
	if (strcmp(s.listen, d->listen))
		fprintf(stderr,
			"<4>%s[%ld]: reload: listen = %s takes a restart; still listening on %s\n",
			tm_prog, (long)getpid(), s.listen, d->bound);
	settings_free(&d->s);
	d->s = s;
	notify("READY=1\nSTATUS=listening on %s", d->bound);
}

/* Log why waiting connection @i goes (the recorded reason), close it. */
static int waiting_drop(struct daemon *d, unsigned int i, int code)
{
	struct tm_hs_keys none = { 0 };

	tm_hs_log(d->w[i].peer, &none, code, d->w[i].start);
	close(d->w[i].fd);
	d->nwaiting--;
	memmove(&d->w[i], &d->w[i + 1], (d->nwaiting - i) * sizeof(d->w[0]));
	return code;
}

/*
 * Accept one connection into the waiting list. accept(2) hands over a
 * connection's pending network error (and a firewall's EPERM) as its
 * own: that connection is lost, the next one is served. Running out of
 * descriptors or memory passes as connections close, but a retry at
 * once would find the same queued connection and spin: accepting rests
 * for ACCEPT_PAUSE_MS at a time, with one log line until it works again.
 * Only a broken listening socket stops the daemon.
 */
static int take(struct daemon *d, int lfd)
{
	struct waiting *w;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		d->pause_logged = 0;
		if (d->nwaiting == WAITING_MAX) {
			tm_fail(TM_EXIT_PEER,
				"dropped: %d connections were waiting for their first message (M1), this one the longest",
				WAITING_MAX);
			waiting_drop(d, 0, TM_EXIT_PEER);
		}
		w = &d->w[d->nwaiting++];
		w->fd = fd;
		w->start = tm_now_ms();
		tm_wire_peer(fd, w->peer, sizeof(w->peer));
		return 0;
	}
	switch (errno) {
	case EINTR:
	case EAGAIN:
		return 0;
	case EBADF:
	case EFAULT:
	case EINVAL:
	case ENOTSOCK:
		return tm_fail(TM_EXIT_ERROR, "accept: %s", strerror(errno));
	case ECONNABORTED:
	case ECONNRESET:
	case EPROTO:
	case EPERM:
	case ETIMEDOUT:
	case ENETDOWN:
	case ENETUNREACH:
	case ENONET:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ENOPROTOOPT:
	case EOPNOTSUPP:
		fprintf(stderr,
			"<4>%s[%ld]: accept: %s; that connection is lost, serving on\n",
			tm_prog, (long)getpid(), strerror(errno));
		return 0;
	}
	if (!d->pause_logged)
		fprintf(stderr,
			"<4>%s[%ld]: accept: %s; accepting again every %d ms until it works\n",
			tm_prog, (long)getpid(), strerror(errno),
			ACCEPT_PAUSE_MS);
	d->pause_logged = 1;
	d->paused_until = tm_now_ms() + ACCEPT_PAUSE_MS;
	return 0;
}

/* Does a keyed session, its ticket unspent, still wait for its VMM? */
static int session_waits(const struct tm_session_info *s, void *arg)
{
	*(int *)arg = s->state == TRUSTMIG_STATE_KEYED;
	return 0;
}

/*
 * Removes the session files whose ticket is of no more use: the VMM
 * attached, or trustmig.ko failed (an attach timeout, say) or forgot the
 * session. Files are only ever read once; left alone, they pile up.
 */
static void sweep_sessions(const struct daemon *d)
{
	char path[4096], line[256];
	struct dirent *e;
	int waits, ret;
	unsigned int id;
	DIR *dir;
	FILE *f;

	dir = opendir(d->s.session_dir);
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		if (strlen(e->d_name) != 16 || strcmp(e->d_name + 8, ".session") ||
		    tm_path(path, sizeof(path), d->s.session_dir, e->d_name))
			continue;
		f = fopen(path, "r");
		if (!f)
			continue;
		ret = fgets(line, sizeof(line), f) &&
		      sscanf(line, "trustmig-session v1 role=%*s id=%u", &id) == 1;
		OPENSSL_cleanse(line, sizeof(line));
		fclose(f);
		if (!ret)
			continue;
		/* trustmig.ko not loaded: cannot tell, keep it */
		waits = 1;
		if (tm_module_sessions(id, session_waits, &waits) ==
		    TM_EXIT_NO_SESSION)
			waits = 0;
		if (!waits && !unlink(path))
			fprintf(stderr,
				"<6>%s[%ld]: removed %s: session %u attached, failed or ended\n",
				tm_prog, (long)getpid(), path, id);
	}
	closedir(dir);
}

/* Milliseconds until the next waiting deadline or pause end; -1: none. */
static int next_event(const struct daemon *d, long long now)
{
	long long at = d->once ? -1 : d->sweep_at;

	if (d->nwaiting && (at < 0 || d->w[0].start + d->s.c.timeout_ms < at))
		at = d->w[0].start + d->s.c.timeout_ms;
	if (d->paused_until > now && (at < 0 || d->paused_until < at))
		at = d->paused_until;
	if (at < 0)
		return -1;
	return at > now ? (int)(at - now) : 0;
}

/*
 * The poll loop: SIGHUP, the listening socket and the waiting
 * connections. SIGHUP is blocked for the whole life of the daemon
 * (main()) and only read from @sfd, a signalfd, here: a SIGHUP during a
 * handshake interrupts no call of it (TPM, netlink, socket, files) and
 * waits, pending, until the handshake is over; it is taken first, before
 * the next handshake begins. Each round serves at most one handshake.
 */
static int run(struct daemon *d, int sfd)
{
	struct pollfd p[2 + WAITING_MAX];
	struct signalfd_siginfo si;
	struct waiting w;
	unsigned int i;
	long long now;
	int lfd, ret, done;

	ret = tm_wire_listen(d->s.listen, &lfd, d->bound, sizeof(d->bound));
	if (ret)
		return ret;
	/* a connection gone before accept() must not block the loop */
	if (fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK)) {
		close(lfd);
		return tm_fail(TM_EXIT_ERROR, "fcntl: %s", strerror(errno));
	}
	fprintf(stderr, "<6>%s[%ld]: listening on %s\n", tm_prog,
		(long)getpid(), d->bound);
	if (tm_module_probe())
		fprintf(stderr,
			"<4>%s[%ld]: warning: %s; handshakes will be refused at key installation\n",
			tm_prog, (long)getpid(), tm_last_error());
	notify("READY=1\nSTATUS=listening on %s", d->bound);
	for (ret = 0, done = 0; !done;) {
		now = tm_now_ms();
		p[0] = (struct pollfd){ .fd = now < d->paused_until ? -1 : lfd,
					.events = POLLIN };
		p[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (i = 0; i < d->nwaiting; i++)
			p[2 + i] = (struct pollfd){ .fd = d->w[i].fd,
						    .events = POLLIN | POLLRDHUP };
		if (poll(p, 2 + d->nwaiting, next_event(d, now)) < 0) {
			if (errno == EINTR)
				continue;
			ret = tm_fail(TM_EXIT_ERROR, "poll: %s",
				      strerror(errno));
			break;
		}
		if (p[1].revents) {
			/* pending SIGHUPs are one signal: one read takes it */
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				on_sighup(d);
			continue;
		}
		for (i = 0; i < d->nwaiting; i++)
			if (p[2 + i].revents &&
			    tm_wire_first_frame(d->w[i].fd, p[2 + i].revents &
						(POLLRDHUP | POLLHUP | POLLERR)))
				break;
		if (i < d->nwaiting) {
			w = d->w[i];
			d->nwaiting--;
			memmove(&d->w[i], &d->w[i + 1],
				(d->nwaiting - i) * sizeof(d->w[0]));
			ret = serve(d, &w);
			close(w.fd);
			done = d->once;
			continue;
		}
		/* the oldest first: they time out first */
		now = tm_now_ms();
		if (!d->once && now >= d->sweep_at) {
			sweep_sessions(d);
			d->sweep_at = now + SWEEP_MS;
		}
		while (!done && d->nwaiting &&
		       now - d->w[0].start >= d->s.c.timeout_ms) {
			tm_fail(TM_EXIT_PEER,
				"timeout: the first message (M1) did not arrive whole within %d s",
				d->s.c.timeout_ms / 1000);
			ret = waiting_drop(d, 0, TM_EXIT_PEER);
			done = d->once;
		}
		if (!done && p[0].revents) {
			ret = take(d, lfd);
			done = ret != 0;
		}
	}
	while (d->nwaiting)
		close(d->w[--d->nwaiting].fd);
	close(lfd);
	return ret;
}

enum { OPT_LISTEN = 0x100, OPT_TCTI, OPT_STATE, OPT_POLDIR, OPT_SESSDIR,
	OPT_CRL, OPT_TIMEOUT, OPT_ONCE, OPT_DEBUG, OPT_CONFIG, OPT_HELP,
	OPT_VERSION };

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
	struct daemon d = { 0 };
	struct flags f = { 0 };
	int opt, sfd = -1, ret = 0;
	sigset_t hup;

	tm_prog = "trustmigd";
	signal(SIGPIPE, SIG_IGN);
	/* from the start: a SIGHUP while starting reloads once it listens */
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_BLOCK, &hup, NULL);
	d.f = &f;
	while (!ret && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(manual, stdout);
			return 0;
		} else if (opt == OPT_VERSION) {
			tm_print_versions(stdout, tm_prog, NULL);
			return 0;
		} else if (opt == OPT_LISTEN) {
			f.listen = optarg;
			ret = tm_wire_addr_check(optarg, 1, "--listen");
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
		} else if (opt == OPT_TIMEOUT) {
			ret = tm_opt_ulong(NULL, "timeout", optarg, 1, 3600,
					   &f.timeout);
		} else {
			ret = tm_fail(TM_EXIT_USAGE, "bad option; try '%s --help'",
				      tm_prog);
		}
	}
	if (!ret && optind != argc)
		ret = tm_fail(TM_EXIT_USAGE, "unexpected argument \"%s\"",
			      argv[optind]);
	if (!ret)
		ret = load(&f, NULL, &d.s);
	if (!ret) {
		d.listen = strdup(d.s.listen);
		sfd = signalfd(-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC);
		if (!d.listen || sfd < 0)
			ret = tm_fail(TM_EXIT_ERROR, "cannot set up: %s",
				      strerror(errno));
	}
	if (!ret)
		ret = run(&d, sfd);
	if (sfd >= 0)
		close(sfd);
	free(d.listen);
	settings_free(&d.s);
	return tm_report(tm_prog, ret);
}
