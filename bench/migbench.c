// SPDX-License-Identifier: GPL-2.0
/*
 * migbench: live migrations of trustmig-vm's guest between two
 * trustmig-vm processes in this guest, over loopback, counted by tmcount:
 * the instructions of the whole migration (both ends, all of this guest)
 * and of its downtime, from the windows trustmig-vm marks
 * (TMCOUNT_SLOT_MIGRATION, TMCOUNT_SLOT_DOWNTIME), and the migration's
 * own summary (rounds, pages, bytes).  It plays the attestation helper:
 * two sessions keyed alike over netlink, their tickets to the VMMs.
 * Works with trustmig.ko and with the copy-only build alike.
 *
 *   migbench -v TRUSTMIG_VM -m MiB -R RATE [-r RUNS] [-p PORT]
 *
 * RATE is the guest's dirty rate in pages per second (trustmig-vm --rate).
 *
 * Prints one JSON object per migration on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "tlog.h"
#include "tmc.h"
#include "tmig.h"

extern char **environ;

struct summary {
	double seconds, downtime_ms;
	unsigned int rounds;
	unsigned long long pages, full, zero, states, records;
	double wire_bytes;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "migbench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void hex(const __u8 *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Runs @argv with stdout and stderr to @log. */
static pid_t start(char *const argv[], const char *log)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		die(argv[0], err);
	return pid;
}

static void finish(pid_t pid, const char *who, const char *log)
{
	char cmd[600];
	int st;

	if (waitpid(pid, &st, 0) != pid)
		die("waitpid", errno);
	if (WIFEXITED(st) && !WEXITSTATUS(st))
		return;
	fprintf(stderr, "migbench: %s failed (status 0x%x); its log:\n", who, st);
	snprintf(cmd, sizeof(cmd), "cat %s >&2", log);
	if (system(cmd))
		fprintf(stderr, "migbench: cannot show %s\n", log);
	exit(1);
}

static int parse_summary(const char *path, struct summary *s)
{
	char line[512], *p;
	int got = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "summary: total ");
		if (p && sscanf(p, "summary: total %lf s, downtime %lf ms, %u rounds",
				&s->seconds, &s->downtime_ms, &s->rounds) == 3)
			got |= 1;
		p = strstr(line, " pages sent (");
		if (p && sscanf(strstr(line, "summary: ") + 9,
				"%llu pages sent (%llu full, %llu zero), %llu state records, %llu records, %*f MiB on the wire (%lf bytes)",
				&s->pages, &s->full, &s->zero, &s->states,
				&s->records, &s->wire_bytes) == 6)
			got |= 2;
	}
	fclose(f);
	return got == 3 ? 0 : -EPROTO;
}

struct run {
	const char *vm, *mem, *rate;
	char addr[32];
	char src_log[128], dst_log[128], ticket_file[128];
	char src_id[16], dst_id[16];
	char src_ticket[2 * TRUSTMIG_TICKET_LEN + 1];
};

/* Two sessions keyed alike; the destination's ticket in a file. */
static void sessions(struct tnl *t, struct tmig_pair *p, struct run *r)
{
	char dst_ticket[2 * TRUSTMIG_TICKET_LEN + 1];
	FILE *f;
	int err = tmig_pair_new(t, p, TRUSTMIG_CIPHER_AES256GCM);

	if (err)
		die("sessions", err);
	/* The VMMs open /dev/trustmig themselves. */
	close(p->src.fd);
	close(p->dst.fd);
	p->src.fd = -1;
	p->dst.fd = -1;
	hex(p->src.ticket, TRUSTMIG_TICKET_LEN, r->src_ticket);
	hex(p->dst.ticket, TRUSTMIG_TICKET_LEN, dst_ticket);
	snprintf(r->src_id, sizeof(r->src_id), "%u", p->src.id);
	snprintf(r->dst_id, sizeof(r->dst_id), "%u", p->dst.id);
	f = fopen(r->ticket_file, "w");
	if (!f || fprintf(f, "%s\n", dst_ticket) < 0 || fclose(f))
		die(r->ticket_file, errno);
}

static pid_t start_dst(struct run *r)
{
	char *const argv[] = { (char *)r->vm, "--incoming", r->addr,
		"--session", r->dst_id, "--ticket-file", r->ticket_file,
		"--linger", "1", "--timeout", "3600", NULL };
	pid_t pid = start(argv, r->dst_log);

	tlog_wait(r->dst_log, "waiting for the source", 60);
	return pid;
}

static pid_t start_src(struct run *r)
{
	char *const argv[] = { (char *)r->vm, "--mem", (char *)r->mem,
		"--rate", (char *)r->rate, "--migrate-to", r->addr,
		"--session", r->src_id, "--ticket", r->src_ticket,
		"--timeout", "3600", "--confirm-timeout", "3600", NULL };

	return start(argv, r->src_log);
}

static void migrate(struct run *r, struct tnl *t, struct tmc *c)
{
	struct tmc_count total, down;
	struct tmig_pair p;
	struct summary s;
	pid_t src, dst;
	int err;

	sessions(t, &p, r);
	dst = start_dst(r);
	src = start_src(r);
	finish(src, "source", r->src_log);
	finish(dst, "destination", r->dst_log);
	if (!tlog_has(r->dst_log, "guest verdict: all"))
		die("the destination's guest did not verify", EIO);
	/* The destination closes the downtime before the source the rest. */
	err = tmc_read(c, TMCOUNT_SLOT_DOWNTIME, &down);
	if (!err)
		err = tmc_read(c, TMCOUNT_SLOT_MIGRATION, &total);
	if (err)
		die("the migration's windows", err);
	err = parse_summary(r->src_log, &s);
	if (err)
		die("the source's summary", err);
	tmig_pair_close(t, &p);

	printf("{ \"mem_mib\": %s, \"rate\": %s, ", r->mem, r->rate);
	printf("\"insns\": %llu, \"execs\": %llu, ", total.insns, total.execs);
	printf("\"downtime_insns\": %llu, \"downtime_execs\": %llu, ",
	       down.insns, down.execs);
	printf("\"rounds\": %u, \"pages\": %llu, \"full_pages\": %llu, ",
	       s.rounds, s.pages, s.full);
	printf("\"zero_pages\": %llu, \"records\": %llu, ", s.zero,
	       s.records);
	printf("\"wire_bytes\": %.0f, \"guest_seconds\": %.3f, ",
	       s.wire_bytes, s.seconds);
	printf("\"guest_downtime_ms\": %.1f }\n", s.downtime_ms);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/migbench.XXXXXX";
	struct run r = { .mem = "64" };
	int opt, runs = 2, port = 47100, i, err;
	struct tmc c;
	struct tnl t;

	while ((opt = getopt(argc, argv, "v:m:R:r:p:")) != -1) {
		switch (opt) {
		case 'v':
			r.vm = optarg;
			break;
		case 'm':
			r.mem = optarg;
			break;
		case 'R':
			r.rate = optarg;
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'p':
			port = atoi(optarg);
			break;
		default:
			r.vm = NULL;
		}
	}
	if (!r.vm || !r.rate || runs < 1) {
		fprintf(stderr, "usage: %s -v TRUSTMIG_VM -m MiB -R RATE [-r RUNS] [-p PORT]\n",
			argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	snprintf(r.src_log, sizeof(r.src_log), "%s/src.log", dir);
	snprintf(r.dst_log, sizeof(r.dst_log), "%s/dst.log", dir);
	snprintf(r.ticket_file, sizeof(r.ticket_file), "%s/ticket", dir);
	err = tmc_open(&c);
	if (err)
		die("no counting plugin ($" TMC_LOG_ENV ")", err);
	err = tnl_open(&t);
	if (err)
		die("netlink family trustmig (is a trustmig module loaded?)", err);
	for (i = 0; i < runs; i++) {
		snprintf(r.addr, sizeof(r.addr), "127.0.0.1:%d", port + i);
		migrate(&r, &t, &c);
	}
	tnl_close(&t);
	tmc_close(&c);
	return 0;
}
