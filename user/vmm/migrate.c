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
 * verified, then confirm.  docs/vmm.md has the whole story.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>

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

static int tm_open_attach(struct vmm *v, const struct mig_opts *o)
{
	struct trustmig_attach a = {
		.session_id = o->session,
		.vm_fd = v->vm.vm_fd,
		.lanes = 1,
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

/* ---- source ------------------------------------------------------------ */

struct src {
	struct vmm *v;
	const struct mig_opts *o;
	int sock, tm;
	__u8 *buf;
	unsigned long *bitmap;
	struct vmm_stats st;
	bool peer_gone;
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

/* What the destination said, if anything; 0 when it said nothing yet. */
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

static int src_check_peer(struct src *s, double timeout)
{
	__u8 msg[sizeof(struct tmvm_abort) + TMVM_WHY_MAX];
	__u32 type, len = sizeof(msg);
	struct pollfd p = { .fd = s->sock, .events = POLLIN };
	int err;

	if (!timeout && poll(&p, 1, 0) <= 0)
		return 0;
	/* Once something is readable, a whole frame follows shortly. */
	err = net_recv_frame(s->sock, &type, msg, &len,
			     timeout ? timeout : s->o->timeout);
	if (err) {
		s->peer_gone = true;
		return err;
	}
	if (type == TMVM_F_ABORT) {
		net_print_abort("destination", msg, len);
		s->peer_gone = true;
		return -ECONNABORTED;
	}
	if (type == TMVM_F_RESUMED)
		return src_receipt_ok(s, msg, len) ? (int)type : -EBADMSG;
	if (type == TMVM_F_READY)
		return type;
	return -EPROTO;
}

/* Hands @bytes of sealed records in s->buf to the socket. */
static int src_push(struct src *s, size_t bytes)
{
	int err;

	src_count(&s->st, s->buf, bytes);
	s->st.frame_bytes += sizeof(struct tmvm_frame);
	err = net_send_frame(s->sock, TMVM_F_RECORDS, s->buf, bytes);
	if (err)
		s->peer_gone = true;
	return err;
}

static int src_send(struct src *s, size_t bytes)
{
	int err;

	if (!bytes)
		return 0;
	err = src_push(s, bytes);
	if (err) {
		/* Say why, if the destination left a reason. */
		src_check_peer(s, 0.5);
		return err;
	}
	err = src_check_peer(s, 0);
	return err > 0 ? -EPROTO : err;
}

static int src_seal_slot(struct src *s, const unsigned long *bitmap)
{
	struct trustmig_seal sl = {
		.slot = s->v->vm.slot,
		.flags = TRUSTMIG_SEAL_HARVEST,
		.dirty_bitmap = (unsigned long)bitmap,
	};
	__u64 full;
	int err;

	do {
		sl.out.buf = (unsigned long)s->buf;
		sl.out.buf_len = SEAL_BUF;
		if (ioctl(s->tm, TRUSTMIG_SEAL, &sl)) {
			err = -errno;
			fprintf(stderr, "trustmig-vm: TRUSTMIG_SEAL: %s\n",
				strerror(-err));
			return err;
		}
		/* Full pages show in the headers, zero runs only in sl.pages. */
		full = s->st.pages;
		err = src_send(s, sl.out.bytes);
		s->st.zero_pages += sl.pages - (s->st.pages - full);
		if (err)
			return err;
		sl.flags = 0;
		sl.dirty_bitmap = 0;
	} while (sl.pages_left);
	return 0;
}

/* END_ROUND or COMMIT into s->buf: the record's size, or -errno. */
static long src_seal_control(struct src *s, unsigned long cmd,
			     const char *name)
{
	struct trustmig_out out = {
		.buf = (unsigned long)s->buf,
		.buf_len = SEAL_BUF,
	};
	int err;

	if (ioctl(s->tm, cmd, &out)) {
		err = -errno;
		fprintf(stderr, "trustmig-vm: %s: %s\n", name, strerror(-err));
		return err;
	}
	return out.bytes;
}

static int src_end_round(struct src *s)
{
	long bytes = src_seal_control(s, TRUSTMIG_END_ROUND,
				      "TRUSTMIG_END_ROUND");

	return bytes < 0 ? bytes : src_send(s, bytes);
}

/*
 * Seals the commit and hands it to the socket.  Once it is handed over
 * whole, the destination may verify it and resume: from then on only
 * its confirmation lets the source go (an ABORT or a closed connection
 * is no proof that it did not resume).
 */
static int src_commit(struct src *s)
{
	long bytes = src_seal_control(s, TRUSTMIG_COMMIT, "TRUSTMIG_COMMIT");

	return bytes < 0 ? bytes : src_push(s, bytes);
}

static int src_state(struct src *s, const void *data, size_t len)
{
	struct trustmig_seal_state ss = {
		.data = (unsigned long)data,
		.len = len,
		.out.buf = (unsigned long)s->buf,
		.out.buf_len = SEAL_BUF,
	};
	int err;

	if (ioctl(s->tm, TRUSTMIG_SEAL_STATE, &ss)) {
		err = -errno;
		fprintf(stderr, "trustmig-vm: TRUSTMIG_SEAL_STATE: %s\n",
			strerror(-err));
		return err;
	}
	return src_send(s, ss.out.bytes);
}

/* One round: harvest KVM's log, seal the slot, end the round. */
static int src_round(struct src *s, __u64 *dirty)
{
	int err = tvm_harvest(&s->v->vm, s->bitmap);

	if (err) {
		fprintf(stderr, "trustmig-vm: dirty log: %s\n", strerror(-err));
		return err;
	}
	*dirty = tvm_bitmap_count(s->bitmap, s->v->vm.npages);
	err = src_seal_slot(s, s->bitmap);
	if (!err)
		err = src_end_round(s);
	return err;
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
	unsigned int round;
	int err;

	for (round = 0;; round++) {
		t = vmm_now();
		pages = s->st.pages + s->st.zero_pages;
		bytes = s->st.bytes;
		err = src_round(s, &dirty);
		if (err)
			return err;
		dt = vmm_now() - t;
		pages = s->st.pages + s->st.zero_pages - pages;
		bytes = s->st.bytes - bytes;
		if (dt < MIN_DT)
			dt = MIN_DT;
		bw = bytes / dt;
		next = src_peek_dirty(s);
		rate = next / dt;
		est = next * (double)REC_MAX / bw;
		fprintf(stderr,
			"trustmig-vm: round %u: %llu pages, %.2f MiB in %.2f s (%.1f MiB/s); dirty rate %.0f pages/s; %llu dirty, est. downtime %.0f ms\n",
			round, (unsigned long long)pages, bytes / MIB, dt,
			bw / MIB, rate, (unsigned long long)next, est * 1e3);
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
	"\"overhead_bytes\":%.0f,\"overhead_pct\":%.3f}\n"

static void src_summary(struct src *s, double total, double downtime,
			unsigned int rounds, int json)
{
	const struct vmm_stats *st = &s->st;
	double data = st->pages * (double)TRUSTMIG_PAGE_SIZE;
	double wire = st->bytes + st->frame_bytes;

	/* numbers only: nothing in it needs escaping */
	if (json)
		printf(SUMMARY_JSON,
		       total, downtime * 1e3, rounds + 1, rounds,
		       (unsigned long long)(st->pages + st->zero_pages),
		       (unsigned long long)st->pages,
		       (unsigned long long)st->zero_pages,
		       (unsigned long long)st->states,
		       (unsigned long long)st->records, wire, wire - data,
		       data ? (wire - data) * 100 / data : 0);

	fprintf(stderr,
		"trustmig-vm: summary: total %.2f s, downtime %.0f ms, %u rounds (%u live + final)\n",
		total, downtime * 1e3, rounds + 1, rounds);
	fprintf(stderr,
		"trustmig-vm: summary: %llu pages sent (%llu full, %llu zero), %llu state records, %llu records, %.2f MiB on the wire (%.0f bytes)\n",
		(unsigned long long)(st->pages + st->zero_pages),
		(unsigned long long)st->pages,
		(unsigned long long)st->zero_pages,
		(unsigned long long)st->states,
		(unsigned long long)st->records, wire / MIB, wire);
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
		if (s->sock >= 0) {
			len = sizeof(msg);
			/* A late confirmation still counts. */
			if (!net_recv_frame(s->sock, &type, msg, &len, 0.5)) {
				if (type == TMVM_F_RESUMED &&
				    src_receipt_ok(s, msg, len)) {
					ret = SRC_CONFIRMED;
					break;
				}
			} else {
				close(s->sock);
				s->sock = -1;
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

int mig_source(struct vmm *v, const char *dest, const struct mig_opts *o)
{
	struct src s = { .v = v, .o = o, .sock = -1, .tm = -1 };
	struct tmvm_hello hello = {
		.magic = htonl(TMVM_MAGIC),
		.version = htonl(TMVM_VERSION),
		.vcpus = htonl(1),
		.wire = htonl(TRUSTMIG_WIRE_VERSION),
	};
	double t0, t_pause = 0, t_done;
	bool paused = false;
	unsigned int rounds = 0;
	__u8 state[TRUSTMIG_STATE_MAX];
	size_t slen;
	__u64 dirty;
	int err, ret;

	s.buf = malloc(SEAL_BUF);
	s.bitmap = calloc(1, tvm_bitmap_bytes(v->vm.npages));
	if (!s.buf || !s.bitmap) {
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
	s.tm = tm_open_attach(v, o);
	if (s.tm < 0) {
		err = s.tm;
		goto failed;
	}
	s.sock = net_connect(dest, o->timeout);
	if (s.sock < 0) {
		err = s.sock;
		fprintf(stderr, "trustmig-vm: connecting to %s: %s\n", dest,
			strerror(-err));
		goto failed;
	}
	hello.mem_bytes = htobe64(v->vm.mem_size);
	err = net_send_frame(s.sock, TMVM_F_HELLO, &hello, sizeof(hello));
	if (!err)
		err = src_check_peer(&s, o->timeout);
	if (err != TMVM_F_READY) {
		err = err < 0 ? err : -EPROTO;
		fprintf(stderr, "trustmig-vm: destination not ready: %s\n",
			strerror(-err));
		goto failed;
	}
	fprintf(stderr,
		"trustmig-vm: migrating %zu MiB to %s (session %u), guest at %u writes\n",
		v->vm.mem_size >> 20, dest, o->session, vmm_writes(v));

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
	if (s.sock >= 0 && !s.peer_gone)
		net_send_abort(s.sock, err, "source gave up");
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
	if (s.sock >= 0)
		close(s.sock);
	free(s.buf);
	free(s.bitmap);
	return ret;
}

/* ---- destination ------------------------------------------------------- */

#define DST_MAX_STATES	8
#define RX_CAP		(TMVM_FRAME_MAX + 4 * REC_MAX)

struct dst {
	struct vmm *v;
	int sock, tm;
	__u8 *rx;
	size_t rx_len;
	__u8 *state[DST_MAX_STATES];
	__u32 state_len[DST_MAX_STATES];
	unsigned int nstates;
	__u64 records, bytes;
	bool refused;
};

/* Opens what arrived; 1 once the commit verified, 0 for more, -errno. */
static int dst_open(struct dst *d, __u32 flags)
{
	struct trustmig_open op;
	size_t off = 0;
	int err;

	for (;;) {
		memset(&op, 0, sizeof(op));
		op.buf = (unsigned long)(d->rx + off);
		op.buf_len = d->rx_len - off;
		op.flags = flags;
		if (d->nstates < DST_MAX_STATES) {
			op.state_buf = (unsigned long)d->state[d->nstates];
			op.state_len = TRUSTMIG_STATE_MAX;
		}
		if (ioctl(d->tm, TRUSTMIG_OPEN, &op)) {
			err = -errno;
			d->refused = true;
			if (flags & TRUSTMIG_OPEN_EOF)
				fprintf(stderr,
					"trustmig-vm: stream ended after %llu records, before a verified commit\n",
					(unsigned long long)d->records);
			else
				fprintf(stderr,
					"trustmig-vm: destination refused record %llu: %s (%s)\n",
					(unsigned long long)(d->records +
							     op.records),
					strerror(-err),
					strerrorname_np(-err) ?: "?");
			return err;
		}
		off += op.consumed;
		d->records += op.records;
		d->bytes += op.consumed;
		if (op.result & TRUSTMIG_OPEN_STATE)
			d->state_len[d->nstates++] = op.state_len;
		if (op.result & TRUSTMIG_OPEN_COMPLETE)
			return 1;
		if (!(op.result & TRUSTMIG_OPEN_STATE))
			break;
	}
	/* Keep the partial record for the next frame. */
	memmove(d->rx, d->rx + off, d->rx_len - off);
	d->rx_len -= off;
	return 0;
}

static int dst_receive(struct dst *d, const struct mig_opts *o)
{
	int err;

	for (;;) {
		err = net_recv_records(d->sock, d->rx, &d->rx_len, RX_CAP,
				       o->timeout);
		if (err)
			return err;
		err = dst_open(d, 0);
		if (err)
			return err;
	}
}

int mig_dest(const char *listen_spec, size_t mem_size, double rate,
	     const struct mig_opts *o, struct vmm *v)
{
	struct dst d = { .v = v, .sock = -1, .tm = -1 };
	__u8 receipt[TRUSTMIG_RESUMED_REC_LEN];
	struct trustmig_out receipt_out = { 0 };
	char why[TMVM_WHY_MAX];
	int lfd, port, err, ret = TMVM_EXIT_REFUSED;
	unsigned int i;
	__u64 mem;

	lfd = net_listen(listen_spec, &port);
	if (lfd < 0) {
		fprintf(stderr, "trustmig-vm: listening on %s: %s\n",
			listen_spec, strerror(-lfd));
		return TMVM_EXIT_SETUP;
	}
	fprintf(stderr, "trustmig-vm: waiting for the source on port %d\n",
		port);
	d.sock = net_accept(lfd, -1);
	close(lfd);
	if (d.sock < 0) {
		fprintf(stderr, "trustmig-vm: accept: %s\n",
			strerror(-d.sock));
		return TMVM_EXIT_SETUP;
	}
	err = net_recv_hello(d.sock, &mem, o->timeout, why, sizeof(why));
	if (err == -EPROTONOSUPPORT) {
		net_send_abort(d.sock, err, why);
		fprintf(stderr, "trustmig-vm: refused: %s\n", why);
		goto out;
	}
	if (err) {
		fprintf(stderr, "trustmig-vm: bad hello: %s\n", strerror(-err));
		goto out;
	}
	if (mem_size && mem != mem_size) {
		err = -EINVAL;
		net_send_abort(d.sock, err, "memory size differs");
		fprintf(stderr, "trustmig-vm: source VM has %llu MiB, not %zu\n",
			(unsigned long long)mem >> 20, mem_size >> 20);
		goto out;
	}
	err = vmm_create(v, mem, false);
	if (err) {
		net_send_abort(d.sock, err, "cannot create the VM");
		fprintf(stderr, "trustmig-vm: creating the VM: %s\n",
			strerror(-err));
		goto out;
	}
	v->rate = rate;
	d.tm = tm_open_attach(v, o);
	if (d.tm < 0) {
		err = d.tm;
		net_send_abort(d.sock, err, "attach refused");
		goto out_vm;
	}
	d.rx = malloc(RX_CAP);
	for (i = 0; i < DST_MAX_STATES; i++)
		d.state[i] = malloc(TRUSTMIG_STATE_MAX);
	if (!d.rx || !d.state[DST_MAX_STATES - 1]) {
		err = -ENOMEM;
		goto out_vm;
	}
	err = net_send_frame(d.sock, TMVM_F_READY, NULL, 0);
	if (err)
		goto out_vm;
	fprintf(stderr,
		"trustmig-vm: incoming %llu MiB VM, session %u: receiving\n",
		(unsigned long long)mem >> 20, o->session);

	err = dst_receive(&d, o);
	if (err == 1)
		goto complete;
	if (d.refused)
		net_send_abort(d.sock, err, "destination refused the stream");
	else if (dst_open(&d, TRUSTMIG_OPEN_EOF) == 1)
		goto complete;	/* cannot happen: no commit came */
	fprintf(stderr,
		"trustmig-vm: no verified commit (%s): resumed nothing, VM discarded\n",
		strerror(-err));
	goto out_vm;

complete:
	fprintf(stderr,
		"trustmig-vm: commit verified: %llu records, %.2f MiB; loading %u state records\n",
		(unsigned long long)d.records, d.bytes / MIB, d.nstates);
	for (i = 0; i < d.nstates; i++) {
		err = vmm_load_state(v, d.state[i], d.state_len[i]);
		if (err) {
			net_send_abort(d.sock, err, "state refused");
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
		err = net_send_frame(d.sock, TMVM_F_RESUMED, receipt,
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
	if (d.tm >= 0)
		close(d.tm);
	if (d.sock >= 0)
		close(d.sock);
	free(d.rx);
	for (i = 0; i < DST_MAX_STATES; i++)
		free(d.state[i]);
	return ret;
}
