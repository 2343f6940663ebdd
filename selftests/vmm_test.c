// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig-vm, the reference VMM, end to end on one host: a running guest
 * migrates between two trustmig-vm processes over loopback TCP, through
 * trustmig.ko, while it writes, on one stream or several; and the
 * failures that must leave the
 * source VM alive: the destination dies during pre-copy, a byte flips on
 * the wire, the destination dies after the commit but before confirming.
 *
 * The test plays the attestation helper: it creates both sessions and
 * installs one random key over netlink, and hands each trustmig-vm its
 * session id and ticket.  A small in-test TCP proxy sits between the two
 * VMMs of a one-stream migration to kill the destination or flip a byte
 * at a chosen record.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "tlog.h"
#include "tmig.h"
#include "../user/vmm/proto.h"

#define VMM_EXIT_KEPT		2
#define VMM_EXIT_UNCONFIRMED	3
#define VMM_EXIT_REFUSED	5

enum proxy_mode {
	PROXY_KILL_AT_RECORD = 1,	/* kill the destination at record N */
	PROXY_FLIP_AT_RECORD,		/* flip a ciphertext byte of the
					 * first PAGE record from N on
					 */
	PROXY_KILL_AT_COMMIT,		/* kill it before the commit reaches
					 * it
					 */
	PROXY_FORGE_RESUMED,		/* flip a byte of the receipt in the
					 * RESUMED frame, byte N of the
					 * destination's replies
					 */
};

struct proxy {
	enum proxy_mode mode;
	unsigned long long at;
	int lfd, dst_port;
	pid_t victim;
	pthread_t thread;
	/* src -> dst stream parser */
	__u8 fhdr[sizeof(struct tmvm_frame)];
	unsigned int fhdr_got;
	__u32 ftype, fleft;
	__u8 rhdr[sizeof(struct trustmig_rec_hdr)];
	unsigned int rhdr_got;
	__u32 rleft;
	unsigned long long records;
	unsigned long long back;	/* bytes relayed dst -> src */
	bool flip_pending, flipped, killed;
};

static int listen_any(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (void *)&sa, sizeof(sa)) || listen(fd, 1) ||
	    getsockname(fd, (void *)&sa, &sl))
		return -1;
	*port = ntohs(sa.sin_port);
	return fd;
}

static int free_port(void)
{
	int port = 0, fd = listen_any(&port);

	if (fd >= 0)
		close(fd);
	return port;
}

/* A record header is complete: false if the destination must die now. */
static bool proxy_record(struct proxy *px)
{
	const struct trustmig_rec_hdr *h = (const void *)px->rhdr;
	unsigned long long idx = px->records++;

	px->rleft = ntohs(h->len) + TRUSTMIG_TAG_LEN;
	switch (px->mode) {
	case PROXY_KILL_AT_RECORD:
		return idx < px->at;
	case PROXY_KILL_AT_COMMIT:
		return h->type != TRUSTMIG_REC_COMMIT;
	case PROXY_FLIP_AT_RECORD:
		if (idx >= px->at && !px->flipped &&
		    h->type == TRUSTMIG_REC_PAGE)
			px->flip_pending = true;
		return true;
	case PROXY_FORGE_RESUMED:	/* acts on the way back */
		return true;
	}
	return true;
}

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

/*
 * Walks the frames and records in @buf[0..n); flips a byte if asked.
 * Returns how many bytes may be forwarded: less than @n when the
 * destination must die before the record that just began reaches it.
 */
static size_t proxy_parse(struct proxy *px, __u8 *buf, size_t n)
{
	const struct tmvm_frame *f = (const void *)px->fhdr;
	const size_t hlen = sizeof(px->rhdr);
	size_t i = 0, take;

	while (i < n) {
		if (px->fhdr_got < sizeof(px->fhdr)) {
			px->fhdr[px->fhdr_got++] = buf[i++];
			if (px->fhdr_got == sizeof(px->fhdr)) {
				px->ftype = ntohl(f->type);
				px->fleft = ntohl(f->len);
				if (!px->fleft)
					px->fhdr_got = 0;
			}
			continue;
		}
		if (px->ftype != TMVM_F_RECORDS) {
			take = min3(n - i, px->fleft, px->fleft);
		} else if (px->rhdr_got < hlen) {
			px->rhdr[px->rhdr_got++] = buf[i];
			take = 1;
			if (px->rhdr_got == hlen && !proxy_record(px))
				return i + 1 >= hlen ? i + 1 - hlen : 0;
		} else {
			take = min3(n - i, px->fleft, px->rleft);
			if (px->flip_pending) {
				buf[i] ^= 0x20;
				px->flip_pending = false;
				px->flipped = true;
			}
			px->rleft -= take;
			if (!px->rleft)
				px->rhdr_got = 0;
		}
		i += take;
		px->fleft -= take;
		if (!px->fleft)
			px->fhdr_got = 0;
	}
	return n;
}

static int write_all(int fd, const __u8 *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

static void *proxy_main(void *arg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static __thread __u8 buf[65536];
	struct proxy *px = arg;
	struct pollfd p[2];
	int src, dst = -1;
	size_t fwd;
	ssize_t n;

	src = accept(px->lfd, NULL, NULL);
	if (src < 0)
		return NULL;
	sa.sin_port = htons(px->dst_port);
	dst = socket(AF_INET, SOCK_STREAM, 0);
	if (dst < 0 || connect(dst, (void *)&sa, sizeof(sa)))
		goto out;
	p[0] = (struct pollfd){ .fd = src, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = dst, .events = POLLIN };
	for (;;) {
		if (poll(p, 2, 120000) <= 0)
			break;
		if (p[1].revents) {
			n = recv(dst, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
			if (px->mode == PROXY_FORGE_RESUMED &&
			    px->at >= px->back && px->at < px->back + n) {
				buf[px->at - px->back] ^= 0x40;
				px->flipped = true;
			}
			px->back += n;
			if (write_all(src, buf, n))
				break;
		}
		if (p[0].revents) {
			n = recv(src, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
			fwd = proxy_parse(px, buf, n);
			if (fwd && write_all(dst, buf, fwd))
				break;
			if (fwd < (size_t)n) {
				kill(px->victim, SIGKILL);
				px->killed = true;
				break;
			}
		}
	}
out:
	if (dst >= 0)
		close(dst);
	close(src);
	return NULL;
}

/* The test VM's init leaves the loopback interface down. */
static int lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			err = -errno;
	}
	close(fd);
	return err;
}

static void hex(const __u8 *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

FIXTURE(vmm) {
	struct tnl t;
	struct tmig_pair p;
	char dir[64], bin[512], src_log[96], dst_log[96], ticket_file[96];
	char src_ticket[2 * TRUSTMIG_TICKET_LEN + 1];
	pid_t src, dst;
	int dst_port;
	struct proxy px;
	bool proxy_on;
};

FIXTURE_SETUP(vmm)
{
	char dst_ticket[2 * TRUSTMIG_TICKET_LEN + 1];
	FILE *f;

	tmig_tool("trustmig-vm", self->bin, sizeof(self->bin));
	ASSERT_EQ(0, lo_up());
	strcpy(self->dir, "/tmp/vmm_test.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->src_log, sizeof(self->src_log), "%s/src.log", self->dir);
	snprintf(self->dst_log, sizeof(self->dst_log), "%s/dst.log", self->dir);
	snprintf(self->ticket_file, sizeof(self->ticket_file), "%s/ticket",
		 self->dir);

	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, tmig_pair_new(&self->t, &self->p, 0));
	/* The VMMs open /dev/trustmig themselves. */
	close(self->p.src.fd);
	close(self->p.dst.fd);
	self->p.src.fd = -1;
	self->p.dst.fd = -1;
	hex(self->p.src.ticket, TRUSTMIG_TICKET_LEN, self->src_ticket);
	hex(self->p.dst.ticket, TRUSTMIG_TICKET_LEN, dst_ticket);
	f = fopen(self->ticket_file, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "%s\n", dst_ticket);
	fclose(f);
	self->src = -1;
	self->dst = -1;
	self->dst_port = free_port();
	ASSERT_NE(0, self->dst_port);
}

static void dump(struct __test_metadata *_metadata, const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		TH_LOG("%s: %s", strrchr(path, '/') + 1, strtok(line, "\n"));
	fclose(f);
}

FIXTURE_TEARDOWN(vmm)
{
	char cmd[128];

	if (self->src > 0) {
		kill(self->src, SIGKILL);
		waitpid(self->src, NULL, 0);
	}
	if (self->dst > 0) {
		kill(self->dst, SIGKILL);
		waitpid(self->dst, NULL, 0);
	}
	if (self->proxy_on) {
		/* Wakes a proxy still waiting in accept(). */
		shutdown(self->px.lfd, SHUT_RDWR);
		pthread_join(self->px.thread, NULL);
		close(self->px.lfd);
	}
	/* What the user would have seen, pass or fail. */
	dump(_metadata, self->dst_log);
	dump(_metadata, self->src_log);
	tmig_pair_close(&self->t, &self->p);
	tnl_close(&self->t);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

static pid_t spawn(const char *bin, const char *log,
		   const char *const args[])
{
	char *argv[32] = { (char *)bin };
	pid_t pid;
	int i, fd;

	for (i = 0; args[i] && i < 30; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	pid = fork();
	if (pid)
		return pid;
	/* Never outlive the test, even if the harness kills it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (fd < 0)
		_exit(127);
	dup2(fd, 1);
	dup2(fd, 2);
	execvp(bin, argv);
	_exit(127);
}

/* Exit status of @pid, -ETIMEDOUT if it runs past @timeout seconds. */
static int wait_for(pid_t *pid, double timeout, int *status)
{
	double end = tlog_now() + timeout;
	pid_t r;

	for (;;) {
		r = waitpid(*pid, status, WNOHANG);
		if (r == *pid) {
			*pid = -1;
			return 0;
		}
		if (r < 0)
			return -errno;
		if (tlog_now() > end)
			return -ETIMEDOUT;
		usleep(50000);
	}
}

/* "VM continued: writes A -> B": B - A, or -1. */
static long long progress(const char *path)
{
	unsigned int a, b;
	char line[512];
	long long d = -1;
	FILE *f = fopen(path, "r");
	char *p;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "VM continued: writes ");
		if (p && sscanf(p, "VM continued: writes %u -> %u", &a, &b) == 2)
			d = (long long)b - a;
	}
	fclose(f);
	return d;
}

static void start_dst(struct _test_data_vmm *self, int port)
{
	char listen[32], session[16];
	const char *const args[] = { "--incoming", listen, "--session", session,
			 "--ticket-file", self->ticket_file, "--linger", "1",
			 "--timeout", "60", NULL };

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(session, sizeof(session), "%u", self->p.dst.id);
	self->dst = spawn(self->bin, self->dst_log, args);
}

/* The default, the CPUs, would vary with the test VM: always say it. */
static void start_src(struct _test_data_vmm *self, int port, const char *mem,
		      const char *rate, const char *rounds, const char *confirm,
		      const char *streams)
{
	char to[32], session[16];
	const char *const args[] = { "--mem", mem, "--rate", rate,
			 "--migrate-to", to, "--session", session,
			 "--ticket", self->src_ticket, "--linger", "2",
			 "--downtime-ms", "300", "--max-rounds", rounds,
			 "--confirm-timeout", confirm, "--streams", streams,
			 "--json", NULL };

	snprintf(to, sizeof(to), "127.0.0.1:%d", port);
	snprintf(session, sizeof(session), "%u", self->p.src.id);
	self->src = spawn(self->bin, self->src_log, args);
}

/* Destination behind the proxy; returns the port the source dials. */
static int start_proxy(struct _test_data_vmm *self, enum proxy_mode mode,
		       unsigned long long at)
{
	int port = 0;

	memset(&self->px, 0, sizeof(self->px));
	self->px.mode = mode;
	self->px.at = at;
	self->px.dst_port = self->dst_port;
	self->px.victim = self->dst;
	self->px.lfd = listen_any(&port);
	if (self->px.lfd < 0)
		return -1;
	/* The destination must listen before the proxy dials it. */
	if (!tlog_wait(self->dst_log, "waiting for the source", 30))
		return -1;
	if (pthread_create(&self->px.thread, NULL, proxy_main, &self->px))
		return -1;
	self->proxy_on = true;
	return port;
}

static __u8 session_state(struct _test_data_vmm *self, __u32 id, __u8 *reason)
{
	struct tnl_session s = { 0 };

	if (tnl_get(&self->t, id, &s))
		return 0;
	if (reason)
		*reason = s.reason;
	return s.state;
}

struct summary {
	unsigned long long pages, records;	/* sent, every stream's */
	double overhead_pct;
	unsigned int streams;
};

/*
 * The source's --json summary line in @path; false if there is none or
 * it does not parse.
 */
static bool json_summary(const char *path, struct summary *sum)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(path, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line,
			       "{\"role\":\"source\",\"total_s\":%*f,\"downtime_ms\":%*f,\"rounds\":%*u,\"live_rounds\":%*u,\"pages\":%llu,\"full_pages\":%*u,\"zero_pages\":%*u,\"state_records\":%*u,\"records\":%llu,\"wire_bytes\":%*f,\"overhead_bytes\":%*f,\"overhead_pct\":%lf,\"streams\":%u}",
			       &sum->pages, &sum->records, &sum->overhead_pct,
			       &sum->streams) == 4;
	if (f)
		fclose(f);
	return found;
}

/* "commit verified: N records" in the destination's log: N, or 0. */
static unsigned long long verified_records(const char *path)
{
	unsigned long long n = 0;
	char line[512];
	FILE *f = fopen(path, "r");
	char *p;

	while (f && fgets(line, sizeof(line), f)) {
		p = strstr(line, "commit verified: ");
		if (p)
			sscanf(p, "commit verified: %llu records", &n);
	}
	if (f)
		fclose(f);
	return n;
}

static void migrate_ok(struct __test_metadata *_metadata,
		       struct _test_data_vmm *self, const char *rate,
		       const char *rounds, unsigned int streams)
{
	struct tnl_session src = { 0 }, dst = { 0 };
	struct summary sum = { 0 };
	char n[16];
	int st;

	snprintf(n, sizeof(n), "%u", streams);
	start_dst(self, self->dst_port);
	ASSERT_TRUE(tlog_wait(self->dst_log, "waiting for the source", 30));
	start_src(self, self->dst_port, "16", rate, rounds, "60", n);

	ASSERT_EQ(0, wait_for(&self->src, 300, &st));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		TH_LOG("source status 0x%x", st);
	}
	ASSERT_EQ(0, wait_for(&self->dst, 60, &st));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		TH_LOG("destination status 0x%x", st);
	}
	EXPECT_TRUE(tlog_has(self->dst_log, "commit verified"));
	EXPECT_TRUE(tlog_has(self->dst_log, "guest verdict: all"));
	EXPECT_TRUE(tlog_has(self->src_log, "destination confirmed resume"));
	EXPECT_TRUE(tlog_has(self->src_log, "summary: total"));
	/* 16 MiB: every page once at least; under 2 % on the wire */
	ASSERT_TRUE(json_summary(self->src_log, &sum));
	EXPECT_LE(4096, sum.pages);
	EXPECT_GT(2.0, sum.overhead_pct);
	EXPECT_EQ(streams, sum.streams);
	/* Every stream arrived whole: both VMMs and both modules agree. */
	EXPECT_EQ(sum.records, verified_records(self->dst_log));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.src.id, &src));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
	EXPECT_EQ(TRUSTMIG_STATE_COMPLETE, src.state);
	EXPECT_EQ(TRUSTMIG_STATE_COMPLETE, dst.state);
	/* The modules count the receipt too, sealed or verified. */
	EXPECT_EQ(sum.records + 1, src.records);
	EXPECT_EQ(src.records, dst.records);
	EXPECT_EQ(sum.pages, src.pages);
	EXPECT_EQ(src.pages, dst.pages);
}

TEST_F_TIMEOUT(vmm, live_migration_guest_verifies, 360)
{
	migrate_ok(_metadata, self, "300", "8", 1);
}

/* Writes faster than pre-copy converges: the round limit ends it. */
TEST_F_TIMEOUT(vmm, live_migration_heavy_writer, 360)
{
	migrate_ok(_metadata, self, "3000", "4", 1);
	EXPECT_TRUE(tlog_has(self->src_log, "round 2:"));
}

/* Lanes sealed and opened by a thread each, on connections of their own. */
TEST_F_TIMEOUT(vmm, live_migration_two_streams, 360)
{
	migrate_ok(_metadata, self, "300", "8", 2);
}

/* 16 MiB is 8 stripes of 2 MiB: two for each stream. */
TEST_F_TIMEOUT(vmm, live_migration_four_streams, 360)
{
	migrate_ok(_metadata, self, "300", "8", 4);
}

/* The source after a failed migration: kept, running, intact. */
static void expect_kept(struct __test_metadata *_metadata,
			struct _test_data_vmm *self, int code)
{
	int st;

	ASSERT_EQ(0, wait_for(&self->src, 90, &st));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == code) {
		TH_LOG("source status 0x%x, expected exit %d", st, code);
	}
	EXPECT_LT(0, progress(self->src_log));
	EXPECT_TRUE(tlog_has(self->src_log, "guest verdict: all"));
	EXPECT_FALSE(tlog_has(self->src_log, "destroying the VM"));
}

TEST_F_TIMEOUT(vmm, destination_killed_during_precopy, 120)
{
	int port;

	start_dst(self, self->dst_port);
	port = start_proxy(self, PROXY_KILL_AT_RECORD, 300);
	ASSERT_LT(0, port);
	start_src(self, port, "8", "300", "8", "60", "1");

	expect_kept(_metadata, self, VMM_EXIT_KEPT);
	EXPECT_TRUE(self->px.killed);
	EXPECT_TRUE(tlog_has(self->src_log, "migration failed"));
	EXPECT_TRUE(tlog_has(self->src_log, "keeps running here"));
	/* Never committed: the source session failed when it detached. */
	EXPECT_EQ(TRUSTMIG_STATE_FAILED,
		  session_state(self, self->p.src.id, NULL));
	EXPECT_NE(TRUSTMIG_STATE_COMPLETE,
		  session_state(self, self->p.dst.id, NULL));
}

/*
 * Several streams, the destination killed once they are up: every lane
 * of the source fails, none is left blocked, the VM is kept.
 */
TEST_F_TIMEOUT(vmm, destination_killed_with_two_streams, 120)
{
	start_dst(self, self->dst_port);
	ASSERT_TRUE(tlog_wait(self->dst_log, "waiting for the source", 30));
	/* A writer pre-copy does not catch up with: it is still going. */
	start_src(self, self->dst_port, "16", "3000", "30", "60", "2");
	ASSERT_TRUE(tlog_wait(self->src_log, "migrating", 60));
	kill(self->dst, SIGKILL);

	expect_kept(_metadata, self, VMM_EXIT_KEPT);
	EXPECT_TRUE(tlog_has(self->src_log, "migration failed"));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED,
		  session_state(self, self->p.src.id, NULL));
}

TEST_F_TIMEOUT(vmm, flipped_byte_refused, 120)
{
	__u8 reason = 0;
	int port, st;

	start_dst(self, self->dst_port);
	port = start_proxy(self, PROXY_FLIP_AT_RECORD, 50);
	ASSERT_LT(0, port);
	start_src(self, port, "8", "300", "8", "60", "1");

	ASSERT_EQ(0, wait_for(&self->dst, 90, &st));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == VMM_EXIT_REFUSED) {
		TH_LOG("destination status 0x%x", st);
	}
	EXPECT_TRUE(self->px.flipped);
	EXPECT_TRUE(tlog_has(self->dst_log, "EBADMSG"));
	EXPECT_TRUE(tlog_has(self->dst_log, "resumed nothing"));
	EXPECT_FALSE(tlog_has(self->dst_log, "guest verdict"));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED,
		  session_state(self, self->p.dst.id, &reason));
	EXPECT_EQ(TRUSTMIG_REASON_AUTH, reason);

	expect_kept(_metadata, self, VMM_EXIT_KEPT);
	EXPECT_EQ(TRUSTMIG_STATE_FAILED,
		  session_state(self, self->p.src.id, NULL));
}

/*
 * A migration whose destination the proxy kills at the commit: the
 * source is left committed, unconfirmed, its VM paused.
 */
static bool source_left_unconfirmed(struct _test_data_vmm *self)
{
	int port;

	start_dst(self, self->dst_port);
	port = start_proxy(self, PROXY_KILL_AT_COMMIT, 0);
	if (port <= 0)
		return false;
	start_src(self, port, "8", "300", "3", "3", "1");
	/* a bound, not a speed: a debug kernel on a loaded host is slow */
	return tlog_wait(self->src_log, "NOT destroyed", 240);
}

TEST_F_TIMEOUT(vmm, destination_killed_after_commit, 360)
{
	int st;

	ASSERT_TRUE(source_left_unconfirmed(self));
	EXPECT_TRUE(self->px.killed);
	/* The commit was sealed: the source session is complete... */
	EXPECT_EQ(TRUSTMIG_STATE_COMPLETE,
		  session_state(self, self->p.src.id, NULL));
	/* ...but the destination never verified it. */
	EXPECT_NE(TRUSTMIG_STATE_COMPLETE,
		  session_state(self, self->p.dst.id, NULL));
	/* It waits for the operator, VM paused, even when asked to go. */
	kill(self->src, SIGTERM);
	sleep(2);
	ASSERT_EQ(-ETIMEDOUT, wait_for(&self->src, 0, &st));
	EXPECT_TRUE(tlog_has(self->src_log, "refusing to exit"));

	/* The operator knows the destination is dead: resume here. */
	kill(self->src, SIGUSR1);
	expect_kept(_metadata, self, VMM_EXIT_UNCONFIRMED);
}

/*
 * Once the operator has decided, the resumed VM is an ordinary one again:
 * SIGTERM, refused while undecided, stops it.
 */
TEST_F_TIMEOUT(vmm, resumed_after_unconfirmed_commit_stops_on_sigterm, 360)
{
	int st;

	ASSERT_TRUE(source_left_unconfirmed(self));
	kill(self->src, SIGUSR1);
	ASSERT_TRUE(tlog_wait(self->src_log, "resuming the VM here", 30));
	kill(self->src, SIGTERM);
	ASSERT_EQ(0, wait_for(&self->src, 30, &st));
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM) {
		TH_LOG("source status 0x%x, expected killed by SIGTERM", st);
	}
}

/* A forged confirmation must not make the source let its VM go. */
TEST_F_TIMEOUT(vmm, forged_resume_confirmation, 150)
{
	/* READY frame, RESUMED frame header, then into the sealed receipt. */
	const unsigned long long in_receipt = 2 * sizeof(struct tmvm_frame) + 30;
	int port, st;

	start_dst(self, self->dst_port);
	port = start_proxy(self, PROXY_FORGE_RESUMED, in_receipt);
	ASSERT_LT(0, port);
	start_src(self, port, "8", "300", "3", "3", "1");

	ASSERT_TRUE(tlog_wait(self->src_log, "NOT destroyed", 90));
	EXPECT_TRUE(self->px.flipped);
	EXPECT_TRUE(tlog_has(self->src_log, "not the destination's receipt"));
	/* The destination did resume and sealed its receipt. */
	EXPECT_TRUE(tlog_has(self->dst_log, "sealed receipt sent"));
	EXPECT_EQ(TRUSTMIG_STATE_COMPLETE,
		  session_state(self, self->p.dst.id, NULL));
	/* The source waits, paused, for the operator... */
	sleep(1);
	ASSERT_EQ(-ETIMEDOUT, wait_for(&self->src, 0, &st));
	/* ...who knows the destination runs it: release this copy. */
	kill(self->src, SIGUSR2);
	ASSERT_EQ(0, wait_for(&self->src, 30, &st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

TEST_HARNESS_MAIN
