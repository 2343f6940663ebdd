// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig-vm: pre-copy live migration through trustmig.ko.
 *
 * Source: attach the VM to the session with the ticket, seal rounds of
 * pages (round 0 all memory, then what KVM saw dirtied) until the rest
 * fits the downtime target or the round limit, pause, seal the last
 * pages, the VM and vCPU state and the commit, and destroy the VM only
 * once the destination confirmed it resumed.  Destination: open records
 * as they arrive, load the state and resume only after the commit
 * verified, then confirm.  Each stream, a lane of the session on a TCP
 * connection of its own, is sealed and opened by a thread of its own.
 * docs/vmm.md has the whole story.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "proto.h"
#include "tmcount.h"
#include "vmm.h"

#define REC_MAX		(sizeof(struct trustmig_rec_hdr) + \
			 TRUSTMIG_PAGE_SIZE + TRUSTMIG_TAG_LEN)
/* Records per SEAL call, and so per RECORDS frame. */
#define SEAL_BATCH	64
#define SEAL_BUF	(SEAL_BATCH * REC_MAX)
#define MIB		1048576.0
/* Shortest round we divide by. */
#define MIN_DT		0.000001

static int tm_open_attach(struct vmm *v, const struct mig_opts *o,
			  __u32 lanes)
{
	struct trustmig_attach a = {
		.session_id = o->session,
		.vm_fd = v->vm.vm_fd,
		.lanes = lanes,
	};
	int fd, err;

	fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "trustmig-vm: /dev/%s: %s (is trustmig.ko loaded?)\n",
			TRUSTMIG_DEV_NAME, strerror(-err));
		return err;
	}
	memcpy(a.ticket, o->ticket, sizeof(a.ticket));
	if (ioctl(fd, TRUSTMIG_ATTACH, &a)) {
		err = -errno;
		fprintf(stderr, "trustmig-vm: attaching the VM to session %u: %s\n",
			o->session, strerror(-err));
		close(fd);
		return err;
	}
	memset(a.ticket, 0, sizeof(a.ticket));
	return fd;
}

static const char *plural(unsigned int n)
{
	return n == 1 ? "" : "s";
}

/* ---- source ------------------------------------------------------------ */

struct src;

/* A stream: one lane of the session on a connection of its own. */
struct src_lane {
	struct src *s;
	__u32 lane;
	int sock;
	__u8 *buf;			/* sealed records on their way out */
	struct vmm_stats st;
	bool gone;			/* its connection failed */
	pthread_t thread;
};

struct src {
	struct vmm *v;
	const struct mig_opts *o;
	int tm;
	unsigned long *bitmap;
	__u32 nlanes;
	struct src_lane lane[TMVM_LANES_MAX];
	atomic_int err;			/* the first lane's failure */
	bool lost;			/* it was the lane's connection */
};

static void src_count(struct vmm_stats *st, const __u8 *p, size_t len)
{
	const struct trustmig_rec_hdr *h;
	size_t n;

	st->bytes += len;
	while (len >= sizeof(*h)) {
		h = (const void *)p;
		n = sizeof(*h) + ntohs(h->len) + TRUSTMIG_TAG_LEN;
		st->records++;
		if (h->type == TRUSTMIG_REC_PAGE)
			st->pages++;
		else if (h->type == TRUSTMIG_REC_STATE)
			st->states++;
		if (n > len)
			break;
		p += n;
		len -= n;
	}
}

/* Every lane's statistics added up. */
static void src_stats(const struct src *s, struct vmm_stats *st)
{
	const struct vmm_stats *l;
	__u32 i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < s->nlanes; i++) {
		l = &s->lane[i].st;
		st->records += l->records;
		st->bytes += l->bytes;
		st->pages += l->pages;
		st->zero_pages += l->zero_pages;
		st->states += l->states;
		st->frame_bytes += l->frame_bytes;
	}
}

/* RESUMED counts only with the destination's receipt, checked by the module. */
static bool src_receipt_ok(struct src *s, const void *rec, __u32 len)
{
	struct trustmig_confirm c = { .buf = (uintptr_t)rec, .buf_len = len };

	if (!ioctl(s->tm, TRUSTMIG_CONFIRM, &c))
		return true;
	fprintf(stderr,
		"trustmig-vm: a resume confirmation that is not the destination's receipt: ignored (%s)\n",
		strerror(errno));
	return false;
}

/*
 * What the destination said on connection 0, the only one it writes to,
 * if anything; 0 when it said nothing yet.
 */
static int src_check_peer(struct src *s, double timeout)
{
	__u8 msg[sizeof(struct tmvm_abort) + TMVM_WHY_MAX];
	struct src_lane *l = &s->lane[0];
	__u32 type, len = sizeof(msg);
	struct pollfd p = { .fd = l->sock, .events = POLLIN };
	int err;

	if (!timeout && poll(&p, 1, 0) <= 0)
		return 0;
	/* Once something is readable, a whole frame follows shortly. */
	err = net_recv_frame(l->sock, &type, msg, &len,
			     timeout ? timeout : s->o->timeout);
	if (err) {
		l->gone = true;
		return err;
	}
	if (type == TMVM_F_ABORT) {
		net_print_abort("destination", msg, len);
		l->gone = true;
		return -ECONNABORTED;
	}
	if (type == TMVM_F_RESUMED)
		return src_receipt_ok(s, msg, len) ? (int)type : -EBADMSG;
	if (type == TMVM_F_READY)
		return type;
	return -EPROTO;
}

/* Hands @bytes of sealed records in the lane's buffer to its socket. */
static int src_push(struct src_lane *l, size_t bytes)
{
	int err;

	src_count(&l->st, l->buf, bytes);
	l->st.frame_bytes += sizeof(struct tmvm_frame);
	err = net_send_frame(l->sock, TMVM_F_RECORDS, l->buf, bytes);
	if (err)
		l->gone = true;
	return err;
}

static int src_send(struct src_lane *l, size_t bytes)
{
	int err;

	if (!bytes)
		return 0;
	err = src_push(l, bytes);
	/* Lane 0 alone reads connection 0: the others leave it alone. */
	if (l->lane)
		return err;
	if (err) {
		/* Say why, if the destination left a reason. */
		src_check_peer(l->s, 0.5);
		return err;
	}
	err = src_check_peer(l->s, 0);
	return err > 0 ? -EPROTO : err;
}

/* Adds KVM's log to the slot's pending pages, every lane's at once. */
static int src_harvest(struct src *s)
{
	struct trustmig_seal sl = {
		.slot = s->v->vm.slot,
		.flags = TRUSTMIG_SEAL_HARVEST,
		.dirty_bitmap = (unsigned long)s->bitmap,
	};
	int err = tvm_harvest(&s->v->vm, s->bitmap);

	if (err) {
		fprintf(stderr, "trustmig-vm: dirty log: %s\n", strerror(-err));
		return err;
	}
	if (!ioctl(s->tm, TRUSTMIG_SEAL, &sl))
		return 0;
	err = -errno;
	fprintf(stderr, "trustmig-vm: TRUSTMIG_SEAL (harvest): %s\n",
		strerror(-err));
	return err;
}

/* Seals and sends the lane's pending pages of the slot. */
static int src_seal_lane(struct src_lane *l)
{
	struct src *s = l->s;
	struct trustmig_seal sl = {
		.slot = s->v->vm.slot,
		.out.lane = l->lane,
	};
	__u64 full;
	int err;

	do {
		/* Another lane failed: the migration is over. */
		if (atomic_load(&s->err))
			return -ECANCELED;
		sl.out.buf = (unsigned long)l->buf;
		sl.out.buf_len = SEAL_BUF;
		if (ioctl(s->tm, TRUSTMIG_SEAL, &sl)) {
			err = -errno;
			fprintf(stderr, "trustmig-vm: TRUSTMIG_SEAL, stream %u: %s\n",
				l->lane, strerror(-err));
			return err;
		}
		/* Full pages show in the headers, zero runs only in sl.pages. */
		full = l->st.pages;
		err = src_send(l, sl.out.bytes);
		l->st.zero_pages += sl.pages - (l->st.pages - full);
		if (err)
			return err;
	} while (sl.pages_left);
	return 0;
}

/* END_ROUND or COMMIT into the lane's buffer: the record's size, or -errno. */
static long src_seal_control(struct src_lane *l, unsigned long cmd,
			     const char *name)
{
	struct trustmig_out out = {
		.buf = (unsigned long)l->buf,
		.buf_len = SEAL_BUF,
		.lane = l->lane,
	};
	int err;

	if (ioctl(l->s->tm, cmd, &out)) {
		err = -errno;
		fprintf(stderr, "trustmig-vm: %s, stream %u: %s\n", name,
			l->lane, strerror(-err));
		return err;
	}
	return out.bytes;
}

static int src_end_round(struct src_lane *l)
{
	long bytes = src_seal_control(l, TRUSTMIG_END_ROUND,
				      "TRUSTMIG_END_ROUND");

	return bytes < 0 ? bytes : src_send(l, bytes);
}

/*
 * Seals the commit and hands it to the socket.  Once it is handed over
 * whole, the destination may verify it and resume: from then on only
 * its confirmation lets the source go (an ABORT or a closed connection
 * is no proof that it did not resume).
 */
static int src_commit(struct src *s)
{
	long bytes = src_seal_control(&s->lane[0], TRUSTMIG_COMMIT,
				      "TRUSTMIG_COMMIT");

	return bytes < 0 ? bytes : src_push(&s->lane[0], bytes);
}

static int src_state(struct src *s, const void *data, size_t len)
{
	struct trustmig_seal_state ss = {
		.data = (unsigned long)data,
		.len = len,
		.out.buf = (unsigned long)s->lane[0].buf,
		.out.buf_len = SEAL_BUF,
	};
	int err;

	if (ioctl(s->tm, TRUSTMIG_SEAL_STATE, &ss)) {
		err = -errno;
		fprintf(stderr, "trustmig-vm: TRUSTMIG_SEAL_STATE: %s\n",
			strerror(-err));
		return err;
	}
	return src_send(&s->lane[0], ss.out.bytes);
}

/* The first lane to fail stops the others: no socket blocks them. */
static void src_fail(struct src_lane *l, int err)
{
	struct src *s = l->s;
	int none = 0;
	__u32 i;

	if (!atomic_compare_exchange_strong(&s->err, &none, err))
		return;
	s->lost = l->gone;
	for (i = 1; i < s->nlanes; i++)
		shutdown(s->lane[i].sock, SHUT_RDWR);
}

/* A lane's share of a round: its pages, then its ROUND_END. */
static void *src_lane_round(void *arg)
{
	struct src_lane *l = arg;
	int err = src_seal_lane(l);

	if (!err)
		err = src_end_round(l);
	if (err)
		src_fail(l, err);
	return NULL;
}

/*
 * One round: harvest KVM's log, then every lane seals its pages and ends
 * the round, lanes 1.. in threads of their own and lane 0 here.
 */
static int src_round(struct src *s, __u64 *dirty)
{
	__u32 i, n;
	int err = src_harvest(s);

	if (err)
		return err;
	*dirty = tvm_bitmap_count(s->bitmap, s->v->vm.npages);
	for (n = 1; n < s->nlanes; n++) {
		err = pthread_create(&s->lane[n].thread, NULL, src_lane_round,
				     &s->lane[n]);
		if (err) {
			src_fail(&s->lane[0], -err);
			break;
		}
	}
	src_lane_round(&s->lane[0]);
	for (i = 1; i < n; i++)
		pthread_join(s->lane[i].thread, NULL);
	/* A stream broke: the destination may have said why. */
	if (s->lost && !s->lane[0].gone)
		src_check_peer(s, 0.5);
	return atomic_load(&s->err);
}

/* Pages KVM saw written since the last harvest (does not re-protect). */
static __u64 src_peek_dirty(struct src *s)
{
	struct kvm_dirty_log log = {
		.slot = s->v->vm.slot,
		.dirty_bitmap = s->bitmap,
	};

	if (ioctl(s->v->vm.vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return s->v->vm.npages;
	return tvm_bitmap_count(s->bitmap, s->v->vm.npages);
}

static int src_precopy(struct src *s, unsigned int *rounds)
{
	const struct mig_opts *o = s->o;
	double t, dt, bw, est, rate;
	__u64 dirty, next, pages, bytes;
	struct vmm_stats st;
	unsigned int round;
	int err;

	for (round = 0;; round++) {
		t = vmm_now();
		src_stats(s, &st);
		pages = st.pages + st.zero_pages;
		bytes = st.bytes;
		err = src_round(s, &dirty);
		if (err)
			return err;
		dt = vmm_now() - t;
		src_stats(s, &st);
		pages = st.pages + st.zero_pages - pages;
		bytes = st.bytes - bytes;
		if (dt < MIN_DT)
			dt = MIN_DT;
		bw = bytes / dt;
		next = src_peek_dirty(s);
		rate = next / dt;
		est = next * (double)REC_MAX / bw;
		fprintf(stderr,
			"trustmig-vm: round %u: %llu pages, %.2f MiB in %.2f s on %u stream%s (%.1f MiB/s); dirty rate %.0f pages/s; %llu dirty, est. downtime %.0f ms\n",
			round, (unsigned long long)pages, bytes / MIB, dt,
			s->nlanes, plural(s->nlanes), bw / MIB, rate,
			(unsigned long long)next, est * 1e3);
		if (est <= o->downtime || round + 2 >= o->max_rounds)
			break;
	}
	*rounds = round + 1;
	return 0;
}

#define SUMMARY_JSON \
	"{\"role\":\"source\",\"total_s\":%.3f,\"downtime_ms\":%.1f,\"rounds\":%u," \
	"\"live_rounds\":%u,\"pages\":%llu,\"full_pages\":%llu,\"zero_pages\":%llu," \
	"\"state_records\":%llu,\"records\":%llu,\"wire_bytes\":%.0f," \
	"\"overhead_bytes\":%.0f,\"overhead_pct\":%.3f,\"streams\":%u}\n"

static void src_summary(struct src *s, double total, double downtime,
			unsigned int rounds, int json)
{
	struct vmm_stats st;
	double data, wire;

	src_stats(s, &st);
	data = st.pages * (double)TRUSTMIG_PAGE_SIZE;
	wire = st.bytes + st.frame_bytes;
	/* numbers only: nothing in it needs escaping */
	if (json)
		printf(SUMMARY_JSON,
		       total, downtime * 1e3, rounds + 1, rounds,
		       (unsigned long long)(st.pages + st.zero_pages),
		       (unsigned long long)st.pages,
		       (unsigned long long)st.zero_pages,
		       (unsigned long long)st.states,
		       (unsigned long long)st.records, wire, wire - data,
		       data ? (wire - data) * 100 / data : 0, s->nlanes);

	fprintf(stderr,
		"trustmig-vm: summary: total %.2f s, downtime %.0f ms, %u rounds (%u live + final), %u stream%s\n",
		total, downtime * 1e3, rounds + 1, rounds, s->nlanes,
		plural(s->nlanes));
	fprintf(stderr,
		"trustmig-vm: summary: %llu pages sent (%llu full, %llu zero), %llu state records, %llu records, %.2f MiB on the wire (%.0f bytes)\n",
		(unsigned long long)(st.pages + st.zero_pages),
		(unsigned long long)st.pages,
		(unsigned long long)st.zero_pages,
		(unsigned long long)st.states,
		(unsigned long long)st.records, wire / MIB, wire);
	fprintf(stderr,
		"trustmig-vm: summary: wire overhead %.0f bytes over %.2f MiB of full pages (%.2f%%: headers, tags, zero/state/control records, framing)\n",
		wire - data, data / MIB, data ? (wire - data) * 100 / data : 0);
}

/* Outcomes of waiting for the operator, besides TMVM_EXIT_UNCONFIRMED. */
#define SRC_CONFIRMED	(-1)
#define SRC_RELEASED	(-2)

/*
 * The commit went out and nobody confirmed: the destination may run the
 * VM, or may never have seen the commit.  Keep ours paused and alive
 * until the operator decides (docs/architecture.md, split brain).
 */
static int src_unconfirmed(struct src *s, int why)
{
	__u8 msg[TRUSTMIG_RESUMED_REC_LEN + 64];
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 500000000 };
	int *sock = &s->lane[0].sock;
	__u32 type, len;
	sigset_t set, old;
	int sig, ret = 0;

	fprintf(stderr,
		"trustmig-vm: commit sent but the destination did not confirm resume (%s)\n",
		strerror(-why));
	fprintf(stderr,
		"trustmig-vm: split brain rule: the VM stays PAUSED here and is NOT destroyed (pid %d)\n",
		getpid());
	fprintf(stderr,
		"trustmig-vm: operator: if the destination VM is not running, kill -USR1 %d resumes it here; if it runs, kill -USR2 %d releases this copy\n",
		getpid(), getpid());

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	/* Commands sent before this state meant nothing: drop them. */
	ts.tv_nsec = 0;
	while (sigtimedwait(&set, NULL, &ts) > 0)
		;
	ts.tv_nsec = 500000000;
	while (!ret) {
		if (*sock >= 0) {
			len = sizeof(msg);
			/* A late confirmation still counts. */
			if (!net_recv_frame(*sock, &type, msg, &len, 0.5)) {
				if (type == TMVM_F_RESUMED &&
				    src_receipt_ok(s, msg, len)) {
					ret = SRC_CONFIRMED;
					break;
				}
			} else {
				close(*sock);
				*sock = -1;
			}
		}
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGUSR1) {
			fprintf(stderr,
				"trustmig-vm: operator: resuming the VM here\n");
			vmm_resume(s->v);
			ret = TMVM_EXIT_UNCONFIRMED;
		} else if (sig == SIGUSR2) {
			fprintf(stderr,
				"trustmig-vm: operator: releasing this copy\n");
			ret = SRC_RELEASED;
		} else if (sig == SIGINT || sig == SIGTERM) {
			fprintf(stderr,
				"trustmig-vm: refusing to exit on signal %d: this may be the only copy of the VM (USR1 resume, USR2 release)\n",
				sig);
		}
	}
	/* Decided: the resumed VM stops on SIGTERM again. */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/*
 * Connection 0 and its HELLO, the other streams each with its LANE frame,
 * then the destination's READY: 0 or -errno.
 */
static int src_connect(struct src *s, const char *dest)
{
	const struct mig_opts *o = s->o;
	struct tmvm_hello hello = {
		.magic = htonl(TMVM_MAGIC),
		.version = htonl(TMVM_VERSION),
		.mem_bytes = htobe64(s->v->vm.mem_size),
		.vcpus = htonl(1),
		.wire = htonl(TRUSTMIG_WIRE_VERSION),
		.lanes = htonl(s->nlanes),
	};
	struct tmvm_lane lm = { .magic = htonl(TMVM_MAGIC) };
	struct src_lane *l = &s->lane[0];
	int err, said;
	__u32 i;

	l->sock = net_connect(dest, o->timeout, o->timeout);
	if (l->sock < 0) {
		fprintf(stderr, "trustmig-vm: connecting to %s: %s\n", dest,
			strerror(-l->sock));
		return l->sock;
	}
	err = net_send_frame(l->sock, TMVM_F_HELLO, &hello, sizeof(hello));
	/* The destination listens until they all connected: no retries. */
	for (i = 1; i < s->nlanes && !err; i++) {
		l = &s->lane[i];
		l->sock = net_connect(dest, o->timeout, 0);
		if (l->sock < 0) {
			err = l->sock;
			fprintf(stderr,
				"trustmig-vm: connecting stream %u to %s: %s\n",
				i, dest, strerror(-err));
			break;
		}
		lm.lane = htonl(i);
		err = net_send_frame(l->sock, TMVM_F_LANE, &lm, sizeof(lm));
	}
	/* Failed, the destination may have said why already. */
	said = src_check_peer(s, err ? 0.5 : o->timeout);
	if (!err && said != TMVM_F_READY)
		err = said < 0 ? said : -EPROTO;
	if (err)
		fprintf(stderr, "trustmig-vm: destination not ready: %s\n",
			strerror(-err));
	return err;
}

/* The source's end of streams 1..: the destination opens their last bytes. */
static void src_close_lanes(struct src *s)
{
	struct src_lane *l;
	__u32 i;

	for (i = 1; i < s->nlanes; i++) {
		l = &s->lane[i];
		if (l->sock < 0)
			continue;
		shutdown(l->sock, SHUT_RDWR);
		close(l->sock);
		l->sock = -1;
	}
}

int mig_source(struct vmm *v, const char *dest, const struct mig_opts *o)
{
	struct src s = { .v = v, .o = o, .tm = -1, .nlanes = o->streams };
	double t0, t_pause = 0, t_done;
	bool paused = false;
	unsigned int rounds = 0;
	__u8 state[TRUSTMIG_STATE_MAX];
	size_t slen;
	__u64 dirty;
	int err = 0, ret;
	__u32 i;

	for (i = 0; i < s.nlanes; i++) {
		s.lane[i] = (struct src_lane){
			.s = &s, .lane = i, .sock = -1, .buf = malloc(SEAL_BUF),
		};
		if (!s.lane[i].buf)
			err = -ENOMEM;
	}
	s.bitmap = calloc(1, tvm_bitmap_bytes(v->vm.npages));
	if (err || !s.bitmap) {
		err = -ENOMEM;
		goto failed;
	}
	err = vmm_wait_started(v, 120);
	if (err) {
		fprintf(stderr, "trustmig-vm: the guest never started: %s\n",
			strerror(-err));
		goto failed;
	}
	t0 = vmm_now();
	/* Benchmark windows (user/include/tmcount.h): no-ops unless counted. */
	tmcount_open(TMCOUNT_SLOT_MIGRATION);
	s.tm = tm_open_attach(v, o, s.nlanes);
	if (s.tm < 0) {
		err = s.tm;
		goto failed;
	}
	err = src_connect(&s, dest);
	if (err)
		goto failed;
	fprintf(stderr,
		"trustmig-vm: migrating %zu MiB to %s (session %u, %u stream%s), guest at %u writes\n",
		v->vm.mem_size >> 20, dest, o->session, s.nlanes,
		plural(s.nlanes), vmm_writes(v));

	err = src_precopy(&s, &rounds);
	if (err)
		goto failed;

	/* Stop-and-copy. */
	err = vmm_pause(v);
	if (err)
		goto failed;
	paused = true;
	t_pause = vmm_now();
	tmcount_open(TMCOUNT_SLOT_DOWNTIME);
	err = src_round(&s, &dirty);
	/* Their end lets the destination take the commit on lane 0. */
	src_close_lanes(&s);
	if (!err)
		err = vmm_save_vm(v, state, sizeof(state), &slen);
	if (!err)
		err = src_state(&s, state, slen);
	if (!err)
		err = vmm_save_vcpu(v, state, sizeof(state), &slen);
	if (!err)
		err = src_state(&s, state, slen);
	if (err)
		goto failed;
	fprintf(stderr,
		"trustmig-vm: final round: vCPU paused at %u writes, %llu dirty pages, state sealed\n",
		vmm_writes(v), (unsigned long long)dirty);
	err = src_commit(&s);
	if (err)
		goto failed;
	fprintf(stderr, "trustmig-vm: commit sent; waiting for the destination to resume\n");

	err = src_check_peer(&s, o->confirm_timeout);
	if (err != TMVM_F_RESUMED) {
		ret = src_unconfirmed(&s, err < 0 ? err : -EPROTO);
		if (ret == SRC_RELEASED) {
			vmm_destroy(v);
			ret = TMVM_EXIT_OK;
			goto out;
		}
		if (ret != SRC_CONFIRMED)
			goto out;
	}
	t_done = vmm_now();
	tmcount_close(TMCOUNT_SLOT_MIGRATION);
	fprintf(stderr,
		"trustmig-vm: destination confirmed resume; destroying the VM here\n");
	vmm_destroy(v);
	src_summary(&s, t_done - t0, t_done - t_pause, rounds, o->json);
	ret = TMVM_EXIT_OK;
	goto out;

failed:
	fprintf(stderr,
		"trustmig-vm: migration failed: %s; the VM keeps running here\n",
		strerror(-err));
	if (s.lane[0].sock >= 0 && !s.lane[0].gone)
		net_send_abort(s.lane[0].sock, err, "source gave up");
	/* Detach: the source session fails and can never commit. */
	if (s.tm >= 0) {
		close(s.tm);
		s.tm = -1;
	}
	if (paused)
		vmm_resume(v);
	ret = TMVM_EXIT_KEPT;
out:
	if (s.tm >= 0)
		close(s.tm);
	src_close_lanes(&s);
	if (s.lane[0].sock >= 0)
		close(s.lane[0].sock);
	for (i = 0; i < s.nlanes; i++)
		free(s.lane[i].buf);
	free(s.bitmap);
	return ret;
}

/* ---- destination ------------------------------------------------------- */

#define DST_MAX_STATES	8
#define RX_CAP		(TMVM_FRAME_MAX + 4 * REC_MAX)

struct dst;

/* A stream: one lane's connection and what arrived on it. */
struct dst_lane {
	struct dst *d;
	__u32 lane;
	int sock;
	__u8 *rx;
	size_t rx_len;
	__u64 records, bytes;
	bool refused;			/* the module refused its records */
	bool running;			/* its thread, not joined yet */
	pthread_t thread;
};

struct dst {
	struct vmm *v;
	const struct mig_opts *o;
	int tm;
	__u32 nlanes;
	struct dst_lane lane[TMVM_LANES_MAX];
	__u8 *state[DST_MAX_STATES];
	__u32 state_len[DST_MAX_STATES];
	unsigned int nstates;
	atomic_int err;			/* the first lane's failure */
};

/* The first failure wakes every receiver; connection 0 can still ABORT. */
static void dst_fail(struct dst *d, int err)
{
	int none = 0;
	__u32 i;

	if (!atomic_compare_exchange_strong(&d->err, &none, err))
		return;
	shutdown(d->lane[0].sock, SHUT_RD);
	for (i = 1; i < d->nlanes; i++)
		shutdown(d->lane[i].sock, SHUT_RDWR);
}

/* Waits for the threads of lanes 1..; the first failure, or 0. */
static int dst_join(struct dst *d)
{
	__u32 i;

	for (i = 1; i < d->nlanes; i++) {
		if (!d->lane[i].running)
			continue;
		pthread_join(d->lane[i].thread, NULL);
		d->lane[i].running = false;
	}
	return atomic_load(&d->err);
}

/* Records and bytes opened on every lane (joined: their counts are final). */
static void dst_total(const struct dst *d, __u64 *records, __u64 *bytes)
{
	__u32 i;

	*records = 0;
	*bytes = 0;
	for (i = 0; i < d->nlanes; i++) {
		*records += d->lane[i].records;
		*bytes += d->lane[i].bytes;
	}
}

/* Opens what arrived on @l; 1 once the commit verified, 0 for more, -errno. */
static int dst_open(struct dst_lane *l, __u32 flags)
{
	struct dst *d = l->d;
	struct trustmig_open op;
	size_t off = 0;
	int err;

	for (;;) {
		memset(&op, 0, sizeof(op));
		op.buf = (unsigned long)(l->rx + off);
		op.buf_len = l->rx_len - off;
		op.flags = flags;
		op.lane = l->lane;
		/* STATE records travel on lane 0 only. */
		if (!l->lane && d->nstates < DST_MAX_STATES) {
			op.state_buf = (unsigned long)d->state[d->nstates];
			op.state_len = TRUSTMIG_STATE_MAX;
		}
		if (ioctl(d->tm, TRUSTMIG_OPEN, &op)) {
			err = -errno;
			l->refused = true;
			if (flags & TRUSTMIG_OPEN_EOF)
				fprintf(stderr,
					"trustmig-vm: stream %u ended after %llu records, %s\n",
					l->lane,
					(unsigned long long)l->records,
					l->lane ? "inside a record" :
					"before a verified commit");
			else
				fprintf(stderr,
					"trustmig-vm: destination refused record %llu of stream %u: %s (%s)\n",
					(unsigned long long)(l->records +
							     op.records),
					l->lane, strerror(-err),
					strerrorname_np(-err) ?: "?");
			return err;
		}
		off += op.consumed;
		l->records += op.records;
		l->bytes += op.consumed;
		if (op.result & TRUSTMIG_OPEN_STATE) {
			d->state_len[d->nstates++] = op.state_len;
			/* The commit follows: the other lanes must be whole. */
			err = d->nstates == 1 ? dst_join(d) : 0;
			if (err)
				return err;
		}
		if (op.result & TRUSTMIG_OPEN_COMPLETE)
			return 1;
		if (!(op.result & TRUSTMIG_OPEN_STATE))
			break;
	}
	/* Keep the partial record for the next frame. */
	memmove(l->rx, l->rx + off, l->rx_len - off);
	l->rx_len -= off;
	return 0;
}

/* Receives and opens @l until it fails, ends or (lane 0) commits. */
static int dst_receive(struct dst_lane *l)
{
	int err;

	do {
		err = net_recv_records(l->sock, l->rx, &l->rx_len, RX_CAP,
				       l->d->o->timeout);
		if (!err)
			err = dst_open(l, 0);
	} while (!err);
	return err;
}

/* Lanes 1..: the source closes them after its last round. */
static void *dst_lane_main(void *arg)
{
	struct dst_lane *l = arg;
	int err = dst_receive(l);

	if (err == -ECONNRESET && !atomic_load(&l->d->err))
		err = dst_open(l, TRUSTMIG_OPEN_EOF);
	if (err)
		dst_fail(l->d, err);
	return NULL;
}

/* Lanes 1..: accepted on @lfd, then received by a thread each. */
static int dst_start_lanes(struct dst *d, int lfd)
{
	int fds[TMVM_LANES_MAX], err;
	char why[TMVM_WHY_MAX];
	struct dst_lane *l;
	__u32 i;

	err = net_accept_lanes(lfd, fds, d->nlanes, d->o->timeout, why,
			       sizeof(why));
	if (err) {
		net_send_abort(d->lane[0].sock, err, why);
		fprintf(stderr, "trustmig-vm: refused: %s\n", why);
		return err;
	}
	for (i = 1; i < d->nlanes; i++)
		d->lane[i].sock = fds[i];
	for (i = 1; i < d->nlanes; i++) {
		l = &d->lane[i];
		err = -pthread_create(&l->thread, NULL, dst_lane_main, l);
		if (err) {
			fprintf(stderr, "trustmig-vm: starting stream %u: %s\n",
				i, strerror(-err));
			return err;
		}
		l->running = true;
	}
	return 0;
}

int mig_dest(const char *listen_spec, size_t mem_size, double rate,
	     const struct mig_opts *o, struct vmm *v)
{
	/* One stream until the HELLO says how many. */
	struct dst d = { .v = v, .o = o, .tm = -1, .nlanes = 1 };
	__u8 receipt[TRUSTMIG_RESUMED_REC_LEN];
	struct trustmig_out receipt_out = { 0 };
	char why[TMVM_WHY_MAX];
	int lfd, port, err, ret = TMVM_EXIT_REFUSED;
	__u64 mem, records, bytes;
	bool refused = false;
	unsigned int i;

	for (i = 0; i < TMVM_LANES_MAX; i++)
		d.lane[i] = (struct dst_lane){ .d = &d, .lane = i, .sock = -1 };
	lfd = net_listen(listen_spec, &port);
	if (lfd < 0) {
		fprintf(stderr, "trustmig-vm: listening on %s: %s\n",
			listen_spec, strerror(-lfd));
		return TMVM_EXIT_SETUP;
	}
	fprintf(stderr, "trustmig-vm: waiting for the source on port %d\n",
		port);
	d.lane[0].sock = net_accept(lfd, -1);
	if (d.lane[0].sock < 0) {
		fprintf(stderr, "trustmig-vm: accept: %s\n",
			strerror(-d.lane[0].sock));
		close(lfd);
		return TMVM_EXIT_SETUP;
	}
	err = net_recv_hello(d.lane[0].sock, &mem, &d.nlanes, o->timeout, why,
			     sizeof(why));
	if (*why) {
		net_send_abort(d.lane[0].sock, err, why);
		fprintf(stderr, "trustmig-vm: refused: %s\n", why);
		goto out;
	}
	if (err) {
		fprintf(stderr, "trustmig-vm: bad hello: %s\n", strerror(-err));
		goto out;
	}
	if (mem_size && mem != mem_size) {
		err = -EINVAL;
		net_send_abort(d.lane[0].sock, err, "memory size differs");
		fprintf(stderr, "trustmig-vm: source VM has %llu MiB, not %zu\n",
			(unsigned long long)mem >> 20, mem_size >> 20);
		goto out;
	}
	err = vmm_create(v, mem, false);
	if (err) {
		net_send_abort(d.lane[0].sock, err, "cannot create the VM");
		fprintf(stderr, "trustmig-vm: creating the VM: %s\n",
			strerror(-err));
		goto out;
	}
	v->rate = rate;
	d.tm = tm_open_attach(v, o, d.nlanes);
	if (d.tm < 0) {
		err = d.tm;
		net_send_abort(d.lane[0].sock, err, "attach refused");
		goto out_vm;
	}
	for (i = 0; i < d.nlanes; i++) {
		d.lane[i].rx = malloc(RX_CAP);
		if (!d.lane[i].rx)
			err = -ENOMEM;
	}
	for (i = 0; i < DST_MAX_STATES; i++) {
		d.state[i] = malloc(TRUSTMIG_STATE_MAX);
		if (!d.state[i])
			err = -ENOMEM;
	}
	if (err)
		goto out_vm;
	err = dst_start_lanes(&d, lfd);
	/* Every stream connected (or never will): no one else may. */
	close(lfd);
	lfd = -1;
	if (!err)
		err = net_send_frame(d.lane[0].sock, TMVM_F_READY, NULL, 0);
	if (err) {
		dst_fail(&d, err);
		dst_join(&d);
		goto out_vm;
	}
	fprintf(stderr,
		"trustmig-vm: incoming %llu MiB VM, session %u, %u stream%s: receiving\n",
		(unsigned long long)mem >> 20, o->session, d.nlanes,
		plural(d.nlanes));

	err = dst_receive(&d.lane[0]);
	if (err == 1)
		goto complete;
	dst_fail(&d, err);
	err = dst_join(&d);
	for (i = 0; i < d.nlanes; i++)
		refused |= d.lane[i].refused;
	if (refused)
		net_send_abort(d.lane[0].sock, err,
			       "destination refused the stream");
	else if (dst_open(&d.lane[0], TRUSTMIG_OPEN_EOF) == 1)
		goto complete;	/* cannot happen: no commit came */
	fprintf(stderr,
		"trustmig-vm: no verified commit (%s): resumed nothing, VM discarded\n",
		strerror(-err));
	goto out_vm;

complete:
	dst_total(&d, &records, &bytes);
	fprintf(stderr,
		"trustmig-vm: commit verified: %llu records, %.2f MiB; loading %u state records\n",
		(unsigned long long)records, bytes / MIB, d.nstates);
	for (i = 0; i < d.nstates; i++) {
		err = vmm_load_state(v, d.state[i], d.state_len[i]);
		if (err) {
			net_send_abort(d.lane[0].sock, err, "state refused");
			goto out_vm;
		}
	}
	err = vmm_start(v);
	if (err)
		goto out_vm;
	tmcount_close(TMCOUNT_SLOT_DOWNTIME);
	/* The source lets its copy go only for this sealed receipt. */
	receipt_out.buf = (uintptr_t)receipt;
	receipt_out.buf_len = sizeof(receipt);
	err = ioctl(d.tm, TRUSTMIG_RESUMED, &receipt_out) ? -errno : 0;
	if (!err)
		err = net_send_frame(d.lane[0].sock, TMVM_F_RESUMED, receipt,
				     receipt_out.bytes);
	fprintf(stderr, "trustmig-vm: resumed; sealed receipt %s\n",
		err ? strerror(-err) : "sent");
	ret = TMVM_EXIT_OK;
	goto out;

out_vm:
	/* Not resumed: the half-received VM goes away. */
	if (d.tm >= 0) {
		close(d.tm);
		d.tm = -1;
	}
	vmm_destroy(v);
out:
	/* A commit with no STATE before it leaves lane threads to stop. */
	for (i = 1; i < d.nlanes; i++)
		if (d.lane[i].running)
			shutdown(d.lane[i].sock, SHUT_RDWR);
	dst_join(&d);
	if (d.tm >= 0)
		close(d.tm);
	if (lfd >= 0)
		close(lfd);
	for (i = 0; i < d.nlanes; i++) {
		if (d.lane[i].sock >= 0)
			close(d.lane[i].sock);
		free(d.lane[i].rx);
	}
	for (i = 0; i < DST_MAX_STATES; i++)
		free(d.state[i]);
	return ret;
}
