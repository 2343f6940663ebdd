// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig-vm: the reference VMM of trustmig.  Runs a small KVM guest that
 * keeps writing its memory and checks it itself, and live-migrates it
 * through trustmig.ko.  Usage in docs/vmm.md and --help.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "proto.h"
#include "version.h"
#include "vmm.h"

static void print_usage(FILE *f)
{
	fprintf(f,
		"usage: trustmig-vm [--mem MiB] [--rate PAGES_PER_SEC] [--run-for SEC]\n"
		"       trustmig-vm --migrate-to HOST:PORT SESSION\n"
		"                   [--mem MiB] [--rate N] [--delay SEC] [--downtime-ms MS]\n"
		"                   [--max-rounds N] [--timeout SEC] [--confirm-timeout SEC] [--linger SEC]\n"
		"                   [--streams N] [--json]\n"
		"       trustmig-vm --incoming [HOST:]PORT SESSION\n"
		"                   [--mem MiB] [--rate N] [--timeout SEC] [--linger SEC]\n"
		"                   [--migrate-to HOST:PORT --onward-session-file PATH]\n"
		"       trustmig-vm --help | --version\n"
		"Runs a guest that writes --rate pages per second into --mem MiB of\n"
		"memory (default 16 MiB, 500 pages/s) and keeps an integrity record.\n"
		"--migrate-to: live-migrate it through the trustmig session ID (source)\n"
		"--incoming:   receive it into session ID and resume it (destination);\n"
		"              with --migrate-to, then migrate it on through the\n"
		"              source session in --onward-session-file\n"
		"SESSION: --session-file PATH, the line 'trustmig handshake' (source)\n"
		"or trustmigd (destination) wrote; a source reads it once its guest\n"
		"runs, so PATH may be a FIFO the handshake writes (closed empty: no\n"
		"migration, the VM keeps running). Or --session ID with --ticket HEX,\n"
		"--ticket-file PATH or --ticket-fd N (64 hex digits; prefer a file\n"
		"or fd: the command line is public).\n"
		"--version:    print this VMM's release and netlink version, the wire\n"
		"              formats it speaks (its connection's among them), then\n"
		"              the running trustmig.ko's release and netlink version,\n"
		"              or why none runs (never loads the module)\n"
		"--streams N:  source: TCP connections, each a lane of the session\n"
		"              sealed by a thread of its own, 1 to 16 (default: the\n"
		"              online CPUs, at most 8); the destination takes the\n"
		"              source's number\n"
		"--json:       the source's summary also as one JSON object on stdout\n"
		"              (total_s, downtime_ms, rounds, live_rounds, pages,\n"
		"              full_pages, zero_pages, state_records, records,\n"
		"              wire_bytes, overhead_bytes, overhead_pct, streams)\n"
		"--linger SEC: after a failed migration (source) or after resuming\n"
		"              (destination), run SEC seconds, let the guest check its\n"
		"              pages and exit (0 = keep running); --run-for likewise.\n"
		"PORT: a number from 1 (--incoming: 0, any free one) to 65535.\n"
		"Exit: 0 ok, 1 usage or setup, 2 migration failed (VM kept), 3 unconfirmed and\n"
		"resumed here, 4 guest found corruption, 5 destination resumed nothing.\n");
}

static void print_versions(void)
{
	char own[64];

	snprintf(own, sizeof(own), "trustmig-vm connection v%d", TMVM_VERSION);
	tm_print_versions(stdout, "trustmig-vm", own);
}

/* One line naming the option and the range, as the other tools say it. */
static bool addr_ok(const char *hostport, unsigned int flags, const char *opt)
{
	char why[256];

	if (!tm_addr_check(hostport, flags, opt, why, sizeof(why)))
		return true;
	fprintf(stderr, "trustmig-vm: %s\n", why);
	return false;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_ticket(const char *hex, __u8 *out)
{
	size_t i, n = strcspn(hex, " \t\r\n");
	int hi, lo;

	if (n != 2 * TRUSTMIG_TICKET_LEN)
		return -EINVAL;
	for (i = 0; i < TRUSTMIG_TICKET_LEN; i++) {
		hi = hexval(hex[2 * i]);
		lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = hi << 4 | lo;
	}
	return 0;
}

/* Reads what the helper hands over (a file, pipe or FIFO) up to EOF. */
static int read_handover(const char *path, int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;
	int err = 0;

	if (path) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	while (got < cap - 1) {
		n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = -errno;
		if (n <= 0)
			break;
		got += n;
	}
	buf[got] = '\0';
	if (path)
		close(fd);
	return err ? err : got ? 0 : -ENODATA;
}

static int read_ticket(const char *path, int fd, __u8 *out)
{
	char buf[2 * TRUSTMIG_TICKET_LEN + 8];
	int err = read_handover(path, fd, buf, sizeof(buf));

	if (!err)
		err = parse_ticket(buf, out);
	memset(buf, 0, sizeof(buf));
	return err;
}

/*
 * The line trustmig handshake (source) and trustmigd (destination) write:
 *   trustmig-session v1 role=source|dest id=ID stream=HEX8 ticket=HEX64
 * Only a line of this VMM's role is taken, so a destination's session can
 * never be attached by a source and vice versa.
 */
#define SESSION_LINE_FORMAT \
	"trustmig-session v1 role=%7s id=%u stream=%*8[0-9a-f] ticket=%64[0-9a-f]%n"

static int read_session(const char *path, const char *role,
			struct mig_opts *o)
{
	char buf[256], got_role[8], ticket[2 * TRUSTMIG_TICKET_LEN + 1];
	int err = read_handover(path, -1, buf, sizeof(buf)), end = 0;

	if (!err &&
	    (sscanf(buf, SESSION_LINE_FORMAT, got_role, &o->session, ticket,
		    &end) != 3 ||
	     !end || (buf[end] && buf[end] != '\n')))
		err = -EBADMSG;
	if (!err && strcmp(got_role, role))
		err = -EACCES;
	if (!err)
		err = parse_ticket(ticket, o->ticket);
	memset(buf, 0, sizeof(buf));
	memset(ticket, 0, sizeof(ticket));
	return err;
}

static const char *session_error(int err)
{
	switch (err) {
	case -ENODATA:
		return "empty: the handshake did not complete";
	case -EBADMSG:
	case -EINVAL:
		return "not a trustmig-session v1 line";
	case -EACCES:
		return "a session of the other role";
	default:
		return strerror(-err);
	}
}

static void sleep_or_forever(struct vmm *v, double sec)
{
	double end = vmm_now() + sec;

	while (!sec || vmm_now() < end) {
		usleep(100000);
		if (v->stop)
			break;
	}
}

/* Runs on for @linger seconds, then has the guest check itself. */
static int run_and_verify(struct vmm *v, double linger, int code)
{
	struct tvm_wl_verdict vd;
	__u32 before = vmm_writes(v);
	int err, ret;

	fprintf(stderr, "trustmig-vm: VM running, guest at %u writes\n",
		before);
	sleep_or_forever(v, linger);
	fprintf(stderr, "trustmig-vm: VM continued: writes %u -> %u\n",
		before, vmm_writes(v));
	err = vmm_verify(v, &vd);
	if (err) {
		fprintf(stderr, "trustmig-vm: no verdict from the guest: %s\n",
			strerror(-err));
		return TMVM_EXIT_VCPU;
	}
	ret = vmm_report_verdict(&vd);
	return ret == TMVM_EXIT_OK ? code : ret;
}

/*
 * The source side, for a VM started here or one that just arrived: the VM
 * runs while the attestation helper works (a FIFO blocks here until the
 * handshake ends; closed empty means refused, and the VM stays), then
 * pre-copy.  Whatever fails, a VM that was not handed over runs on.
 */
static int migrate(struct vmm *v, const char *dest, const char *session_file,
		   struct mig_opts *o, double delay, double linger)
{
	int err, ret;

	if (delay)
		sleep_or_forever(v, delay);
	err = session_file ? read_session(session_file, "source", o) : 0;
	if (err) {
		fprintf(stderr,
			"trustmig-vm: no session from %s (%s): migration not started, the VM keeps running\n",
			session_file, session_error(err));
		ret = TMVM_EXIT_KEPT;
	} else {
		ret = mig_source(v, dest, o);
	}
	memset(o->ticket, 0, sizeof(o->ticket));
	if (ret == TMVM_EXIT_KEPT || ret == TMVM_EXIT_UNCONFIRMED)
		ret = run_and_verify(v, linger, ret);
	vmm_destroy(v);
	return ret;
}

enum {
	OPT_MEM = 256, OPT_RATE, OPT_MIGRATE_TO, OPT_INCOMING, OPT_SESSION,
	OPT_TICKET, OPT_TICKET_FILE, OPT_TICKET_FD, OPT_DOWNTIME, OPT_MAX_ROUNDS,
	OPT_TIMEOUT, OPT_CONFIRM_TIMEOUT, OPT_LINGER, OPT_RUN_FOR, OPT_DELAY,
	OPT_SESSION_FILE, OPT_ONWARD_SESSION_FILE, OPT_VERSION, OPT_JSON,
	OPT_STREAMS,
};

static const struct option options[] = {
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "migrate-to", required_argument, NULL, OPT_MIGRATE_TO },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "session", required_argument, NULL, OPT_SESSION },
	{ "ticket", required_argument, NULL, OPT_TICKET },
	{ "ticket-file", required_argument, NULL, OPT_TICKET_FILE },
	{ "ticket-fd", required_argument, NULL, OPT_TICKET_FD },
	{ "session-file", required_argument, NULL, OPT_SESSION_FILE },
	{ "onward-session-file", required_argument, NULL,
	  OPT_ONWARD_SESSION_FILE },
	{ "downtime-ms", required_argument, NULL, OPT_DOWNTIME },
	{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "confirm-timeout", required_argument, NULL, OPT_CONFIRM_TIMEOUT },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "run-for", required_argument, NULL, OPT_RUN_FOR },
	{ "delay", required_argument, NULL, OPT_DELAY },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "streams", required_argument, NULL, OPT_STREAMS },
	{ NULL, 0, NULL, 0 },
};

/* A stream per online CPU, up to 8: more rarely pays (docs/vmm.md). */
static __u32 default_streams(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 8 ? 8 : n;
}

int main(int argc, char **argv)
{
	struct mig_opts o = {
		.downtime = 0.3,
		.max_rounds = 30,
		.timeout = 30,
		.confirm_timeout = 30,
		.streams = default_streams(),
	};
	const char *dest = NULL, *incoming = NULL, *session_file = NULL;
	const char *onward_file = NULL;
	double rate = 500, linger = 0, run_for = 0, delay = 0;
	bool have_session = false, have_ticket = false;
	unsigned long mem = 0, n;
	struct vmm v;
	sigset_t ops;
	int c, err, ret;
	char *end;

	setvbuf(stderr, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	/* Operator commands, only taken when a handover is unconfirmed. */
	sigemptyset(&ops);
	sigaddset(&ops, SIGUSR1);
	sigaddset(&ops, SIGUSR2);
	sigprocmask(SIG_BLOCK, &ops, NULL);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_MEM:
			mem = strtoul(optarg, &end, 0);
			if (*end || !mem || mem > 2048)
				goto bad;
			break;
		case OPT_RATE:
			rate = strtod(optarg, &end);
			if (*end || rate < 0)
				goto bad;
			break;
		case OPT_MIGRATE_TO:
			dest = optarg;
			if (!addr_ok(dest, 0, "--migrate-to"))
				return TMVM_EXIT_SETUP;
			break;
		case OPT_INCOMING:
			incoming = optarg;
			if (!addr_ok(incoming, TM_ADDR_LISTEN | TM_ADDR_ANY_HOST,
				     "--incoming"))
				return TMVM_EXIT_SETUP;
			break;
		case OPT_SESSION:
			o.session = strtoul(optarg, &end, 0);
			if (*end)
				goto bad;
			have_session = true;
			break;
		case OPT_TICKET:
			if (parse_ticket(optarg, o.ticket))
				goto bad;
			have_ticket = true;
			break;
		case OPT_TICKET_FILE:
			err = read_ticket(optarg, -1, o.ticket);
			if (err) {
				fprintf(stderr, "trustmig-vm: %s: %s\n", optarg,
					strerror(-err));
				return TMVM_EXIT_SETUP;
			}
			have_ticket = true;
			break;
		case OPT_TICKET_FD:
			c = strtol(optarg, &end, 0);
			if (*end || c < 0 || read_ticket(NULL, c, o.ticket))
				goto bad;
			close(c);
			have_ticket = true;
			break;
		case OPT_SESSION_FILE:
			session_file = optarg;
			break;
		case OPT_ONWARD_SESSION_FILE:
			onward_file = optarg;
			break;
		case OPT_DOWNTIME:
			o.downtime = strtod(optarg, &end) / 1e3;
			if (*end || o.downtime < 0)
				goto bad;
			break;
		case OPT_MAX_ROUNDS:
			o.max_rounds = strtoul(optarg, &end, 0);
			if (*end || o.max_rounds < 1)
				goto bad;
			break;
		case OPT_TIMEOUT:
			o.timeout = strtod(optarg, &end);
			if (*end || o.timeout <= 0)
				goto bad;
			break;
		case OPT_CONFIRM_TIMEOUT:
			o.confirm_timeout = strtod(optarg, &end);
			if (*end || o.confirm_timeout <= 0)
				goto bad;
			break;
		case OPT_LINGER:
			linger = strtod(optarg, &end);
			if (*end || linger < 0)
				goto bad;
			break;
		case OPT_RUN_FOR:
			run_for = strtod(optarg, &end);
			if (*end || run_for < 0)
				goto bad;
			break;
		case OPT_DELAY:
			delay = strtod(optarg, &end);
			if (*end || delay < 0)
				goto bad;
			break;
		case 'h':
			print_usage(stdout);
			return 0;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_STREAMS:
			if (tm_ulong_in(optarg, 1, TMVM_LANES_MAX, &n)) {
				fprintf(stderr,
					"trustmig-vm: --streams: \"%s\" is not a number in [1, %d]\n",
					optarg, TMVM_LANES_MAX);
				return TMVM_EXIT_SETUP;
			}
			o.streams = n;
			break;
		case OPT_VERSION:
			print_versions();
			return 0;
		default:
			goto bad;
		}
	}
	if (session_file && (have_session || have_ticket))
		goto bad;
	if (session_file) {
		have_session = true;
		have_ticket = true;
	}
	/* Receive, then migrate on: the onward session comes later. */
	if (dest && incoming && !onward_file)
		goto bad;
	if (onward_file && !(dest && incoming))
		goto bad;
	if (optind != argc ||
	    ((dest || incoming) && (!have_session || !have_ticket)))
		goto bad;

	if (incoming) {
		err = session_file ? read_session(session_file, "dest", &o) : 0;
		if (err) {
			fprintf(stderr, "trustmig-vm: session file %s: %s\n",
				session_file, session_error(err));
			return TMVM_EXIT_SETUP;
		}
		ret = mig_dest(incoming, mem << 20, rate, &o, &v);
		memset(o.ticket, 0, sizeof(o.ticket));
		if (ret != TMVM_EXIT_OK)
			return ret;
		ret = run_and_verify(&v, 0.001, TMVM_EXIT_OK);
		if (ret == TMVM_EXIT_OK && dest)
			return migrate(&v, dest, onward_file, &o, delay, linger);
		if (ret == TMVM_EXIT_OK)
			sleep_or_forever(&v, linger);
		vmm_destroy(&v);
		return ret;
	}

	err = vmm_create(&v, (mem ? mem : 16) << 20, true);
	if (err) {
		fprintf(stderr, "trustmig-vm: creating the VM: %s\n",
			strerror(-err));
		vmm_destroy(&v);
		return TMVM_EXIT_SETUP;
	}
	v.rate = rate;
	err = vmm_start(&v);
	if (!err)
		err = vmm_wait_started(&v, 120);
	if (err) {
		fprintf(stderr, "trustmig-vm: starting the guest: %s\n",
			strerror(-err));
		vmm_destroy(&v);
		return TMVM_EXIT_VCPU;
	}
	fprintf(stderr,
		"trustmig-vm: guest running: %lu MiB, %llu data pages, %.0f pages/s\n",
		(mem ? mem : 16), (unsigned long long)
		*(__u32 *)(v.vm.mem + TVM_WL_HDR_GPA + TVM_WL_H_NDATA), rate);

	if (!dest) {
		ret = run_and_verify(&v, run_for, TMVM_EXIT_OK);
		vmm_destroy(&v);
		return ret;
	}
	return migrate(&v, dest, session_file, &o, delay, linger);

bad:
	print_usage(stderr);
	return TMVM_EXIT_SETUP;
}
