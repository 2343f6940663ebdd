// SPDX-License-Identifier: GPL-2.0
/*
 * One session, several lanes: sealed and opened from a thread per lane
 * at once while the guest writes, the destination must end byte-identical
 * to the source.  And a seeded adversary on the wire (TRUSTMIG_SEED, else
 * the time; printed) drops, duplicates, swaps, moves or relabels records,
 * cuts a lane short or leaves one out, delivering the lanes concurrently
 * in random chunks: the commit must verify exactly when nothing was
 * touched, and then B must equal A.  TRUSTMIG_ADVERSARY_RUNS (default
 * 18) sessions, each fault in turn.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "tmig.h"

#define VM_SIZE		(8UL << 20)	/* 4 stripes of 2 MiB */
#define LANES_MAX	4
#define RECS_MAX	32768
#define COMMIT_REC_LEN(self) (sizeof(struct trustmig_rec_hdr) + \
			      TRUSTMIG_COMMIT_LEN((self)->lanes) + \
			      TRUSTMIG_TAG_LEN)

FIXTURE(lanes) {
	struct tnl t;
	struct tmig_pair p;
	struct tvm a, b;
	__u32 lanes;
	struct tmig_stream st[LANES_MAX];
	size_t opened[LANES_MAX];
	unsigned long *bitmap;
};

FIXTURE_VARIANT(lanes) {
	__u32 lanes;
};

FIXTURE_VARIANT_ADD(lanes, two) {
	.lanes = 2,
};

FIXTURE_VARIANT_ADD(lanes, four) {
	.lanes = 4,
};

/* A fresh pair of sessions with @self->lanes lanes, B zeroed. */
static int lanes_pair(struct _test_data_lanes *self)
{
	int err;

	memset(self->b.mem, 0, VM_SIZE);
	err = tmig_pair_new(&self->t, &self->p, TRUSTMIG_CIPHER_AES256GCM);
	if (!err)
		err = tmig_attach_lanes(&self->p.src, self->a.vm_fd,
					self->p.src.ticket, self->lanes);
	if (!err)
		err = tmig_attach_lanes(&self->p.dst, self->b.vm_fd,
					self->p.dst.ticket, self->lanes);
	return err;
}

static void lanes_pair_end(struct _test_data_lanes *self)
{
	__u32 i;

	tmig_pair_close(&self->t, &self->p);
	for (i = 0; i < LANES_MAX; i++) {
		tmig_stream_free(&self->st[i]);
		self->opened[i] = 0;
	}
}

FIXTURE_SETUP(lanes)
{
	self->lanes = variant->lanes;
	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, tvm_create(&self->a, VM_SIZE, true));
	ASSERT_EQ(0, tvm_create(&self->b, VM_SIZE, false));
	tvm_fill(&self->a, 11);
	self->bitmap = calloc(1, tvm_bitmap_bytes(self->a.npages));
	ASSERT_NE(NULL, self->bitmap);
	ASSERT_EQ(0, lanes_pair(self));
}

FIXTURE_TEARDOWN(lanes)
{
	lanes_pair_end(self);
	free(self->bitmap);
	tvm_destroy(&self->a);
	tvm_destroy(&self->b);
	tnl_close(&self->t);
}

/* What one lane's thread does, and its result. */
struct lane_job {
	struct _test_data_lanes *self;
	__u32 lane;
	const __u8 *buf;	/* deliver: bytes to open */
	size_t len;
	unsigned int seed;	/* deliver: random chunk sizes */
	__u32 flags;
	__u32 result;
	int err;
};

/* The lane's pending pages, sealed, and its round ended. */
static void *lane_seal(void *arg)
{
	struct lane_job *j = arg;
	struct _test_data_lanes *self = j->self;

	j->err = tmig_seal_lane(self->p.src.fd, self->a.slot, j->lane, 0,
				NULL, &self->st[j->lane]);
	if (!j->err)
		j->err = tmig_end_round_lane(self->p.src.fd, j->lane,
					     &self->st[j->lane]);
	return NULL;
}

/*
 * Opens @len bytes at @buf on the lane in chunks of random size (whole
 * records or not), each call resending what the last one left.
 */
static void *lane_deliver(void *arg)
{
	struct lane_job *j = arg;
	struct trustmig_open o;
	size_t done = 0, end;

	while (done < j->len && !j->err) {
		end = j->len;
		if (j->seed)
			end = done + 1 + rand_r(&j->seed) % 20000;
		if (end >= j->len)
			end = j->len;
		j->err = tmig_open_lane(j->self->p.dst.fd, j->lane,
					j->buf + done, end - done,
					end == j->len ? j->flags : 0, &o);
		done += o.consumed;
		j->result |= o.result;
		/* A chunk of less than a record: the next one brings more. */
		if (!o.consumed && end == j->len)
			break;
	}
	return NULL;
}

/*
 * Runs @fn in a thread of its own for every job, one per lane and
 * @extra more (their lane set by the caller); the first error.
 */
static int lanes_run_jobs(struct _test_data_lanes *self, void *(*fn)(void *),
			  struct lane_job *jobs, __u32 extra)
{
	pthread_t threads[LANES_MAX + 1];
	__u32 i, n = self->lanes + extra;
	int err = 0;

	for (i = 0; i < n; i++) {
		jobs[i].self = self;
		if (i < self->lanes)
			jobs[i].lane = i;
		if (pthread_create(&threads[i], NULL, fn, &jobs[i]))
			return -EAGAIN;
	}
	for (i = 0; i < n; i++) {
		pthread_join(threads[i], NULL);
		if (!err)
			err = jobs[i].err;
	}
	return err;
}

static int lanes_run(struct _test_data_lanes *self, void *(*fn)(void *),
		     struct lane_job *jobs)
{
	return lanes_run_jobs(self, fn, jobs, 0);
}

/* One pre-copy round: harvest, then every lane sealed at once. */
static int lanes_round(struct _test_data_lanes *self, bool first)
{
	struct lane_job jobs[LANES_MAX] = { 0 };
	__u64 left;
	int err;

	err = tvm_harvest(&self->a, self->bitmap);
	if (!err)
		err = tmig_harvest(self->p.src.fd, self->a.slot,
				   first ? NULL : self->bitmap, &left);
	return err ?: lanes_run(self, lane_seal, jobs);
}

/* Everything sealed since the last delivery, every lane at once. */
static int lanes_deliver(struct _test_data_lanes *self)
{
	struct lane_job jobs[LANES_MAX] = { 0 };
	__u32 i;
	int err;

	for (i = 0; i < self->lanes; i++) {
		jobs[i].buf = self->st[i].buf + self->opened[i];
		jobs[i].len = self->st[i].len - self->opened[i];
	}
	err = lanes_run(self, lane_deliver, jobs);
	for (i = 0; i < self->lanes; i++)
		self->opened[i] = self->st[i].len;
	return err;
}

/* Every record of lane @lane names it and carries only its pages. */
static void lanes_check_owner(struct __test_metadata *_metadata,
			      struct _test_data_lanes *self, __u32 lane)
{
	static size_t offs[RECS_MAX];
	const struct trustmig_rec_hdr *h;
	size_t n, i, pages = 0;
	__u64 gfn;

	n = tmig_index(&self->st[lane], offs, RECS_MAX);
	ASSERT_LT(n, RECS_MAX);
	for (i = 0; i < n; i++) {
		h = (const void *)(self->st[lane].buf + offs[i]);
		ASSERT_EQ(lane, be32toh(h->lane));
		if (h->type != TRUSTMIG_REC_PAGE &&
		    h->type != TRUSTMIG_REC_ZERO_RUN)
			continue;
		gfn = (__u64)h->gfn_hi << 32 | be32toh(h->gfn_lo);
		ASSERT_EQ(lane, TRUSTMIG_LANE_OF(gfn, self->lanes));
		pages++;
	}
	/* Every lane owns stripes of the VM: it carried some. */
	EXPECT_LT(0, pages);
}

/*
 * Four rounds while the guest writes, the last one paused, each lane
 * sealed and opened by a thread of its own; then the commit.
 */
TEST_F_TIMEOUT(lanes, concurrent_live_precopy_identical, 300)
{
	struct tmig_writer w = { .vm = &self->a };
	struct tnl_session src, dst;
	struct trustmig_open o;
	pthread_t thread;
	int round;
	__u32 i;

	ASSERT_EQ(0, pthread_create(&thread, NULL, tmig_guest_writes, &w));
	for (round = 0; round < 4; round++) {
		while (w.passes < round * 2 && !w.err)
			usleep(1000);
		ASSERT_EQ(0, lanes_round(self, !round));
		ASSERT_EQ(0, lanes_deliver(self));
	}
	atomic_store(&w.stop, true);
	pthread_join(thread, NULL);
	ASSERT_EQ(0, w.err);
	ASSERT_EQ(0, lanes_round(self, false));
	ASSERT_EQ(0, lanes_deliver(self));
	/* Every lane's thread is done: the commit, on lane 0. */
	ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st[0]));
	ASSERT_EQ(0, tmig_open(self->p.dst.fd,
			       self->st[0].buf + self->opened[0],
			       self->st[0].len - self->opened[0],
			       TRUSTMIG_OPEN_EOF, &o));
	ASSERT_EQ(TRUSTMIG_OPEN_COMPLETE, o.result);
	TH_LOG("%u lanes, %d guest passes", self->lanes, w.passes);
	ASSERT_LT(3, w.passes);
	EXPECT_EQ(0, memcmp(self->a.mem, self->b.mem, VM_SIZE));
	for (i = 0; i < self->lanes; i++)
		lanes_check_owner(_metadata, self, i);

	ASSERT_EQ(0, tnl_get(&self->t, self->p.src.id, &src));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
	EXPECT_EQ(TRUSTMIG_STATE_COMPLETE, src.state);
	EXPECT_EQ(TRUSTMIG_STATE_COMPLETE, dst.state);
	EXPECT_EQ(src.records, dst.records);
	EXPECT_EQ(src.bytes, dst.bytes);
	EXPECT_EQ(src.pages, dst.pages);
	EXPECT_EQ(src.zero_pages, dst.zero_pages);
	EXPECT_EQ(5, src.rounds);
	EXPECT_EQ(5, dst.rounds);
	EXPECT_LE(self->a.npages, src.pages);
}

/* A destination that agreed to fewer lanes never commits the stream. */
TEST_F(lanes, lane_count_mismatch_refused)
{
	struct tnl_session dst;
	struct trustmig_open o;
	int err = 0;
	__u32 i;

	tmig_pair_close(&self->t, &self->p);
	ASSERT_EQ(0, tmig_pair_new(&self->t, &self->p, 0));
	ASSERT_EQ(0, tmig_attach_lanes(&self->p.src, self->a.vm_fd,
				       self->p.src.ticket, self->lanes));
	ASSERT_EQ(0, tmig_attach_lanes(&self->p.dst, self->b.vm_fd,
				       self->p.dst.ticket, self->lanes - 1));
	ASSERT_EQ(0, lanes_round(self, true));
	ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st[0]));
	/* The lane it does not have: refused, the session unharmed. */
	EXPECT_EQ(-EINVAL, tmig_open_lane(self->p.dst.fd, self->lanes - 1,
					  self->st[self->lanes - 1].buf,
					  self->st[self->lanes - 1].len, 0,
					  &o));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
	EXPECT_EQ(TRUSTMIG_STATE_ACTIVE, dst.state);
	/*
	 * The others, lane 0 and its commit last: a page its stripe gives
	 * another lane here, or else the commit's lane count, fails it.
	 */
	for (i = self->lanes - 1; i-- > 0 && !err;)
		err = tmig_open_lane(self->p.dst.fd, i, self->st[i].buf,
				     self->st[i].len, i ? 0 : TRUSTMIG_OPEN_EOF,
				     &o);
	EXPECT_TRUE(err == -EPROTO || err == -EBADMSG);
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, dst.state);
	EXPECT_TRUE(dst.reason == TRUSTMIG_REASON_LANE ||
		    dst.reason == TRUSTMIG_REASON_COMMIT);
	TH_LOG("refused: reason %u", dst.reason);
}

/*
 * The lane is in the nonce and the associated data: lane 1's round end,
 * relabelled lane 0 at lane 0's next sequence number, passes every header
 * check and still fails authentication.
 */
TEST_F(lanes, relabelled_round_end_fails_authentication)
{
	static size_t offs[RECS_MAX];
	struct trustmig_rec_hdr *h;
	struct tnl_session dst;
	struct trustmig_open o;
	size_t n0, n1;
	__u8 *forged;

	ASSERT_EQ(0, lanes_round(self, true));
	n1 = tmig_index(&self->st[1], offs, RECS_MAX);
	h = (void *)(self->st[1].buf + offs[n1 - 1]);
	ASSERT_EQ(TRUSTMIG_REC_ROUND_END, h->type);
	n0 = tmig_index(&self->st[0], offs, RECS_MAX);
	/* Lane 0 up to its own round end. */
	ASSERT_EQ(0, tmig_open(self->p.dst.fd, self->st[0].buf,
			       offs[n0 - 1], 0, &o));
	ASSERT_EQ(n0 - 1, o.records);
	forged = malloc(tmig_record_size((void *)h));
	ASSERT_NE(NULL, forged);
	memcpy(forged, h, tmig_record_size((void *)h));
	h = (void *)forged;
	h->lane = htobe32(0);
	h->seq = htobe64(n0 - 1);
	EXPECT_EQ(-EBADMSG, tmig_open(self->p.dst.fd, forged,
				      tmig_record_size(forged), 0, &o));
	free(forged);
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, dst.state);
	EXPECT_EQ(TRUSTMIG_REASON_AUTH, dst.reason);
}

/* The source refuses a lane it was not given, and a lane 1 commit. */
TEST_F(lanes, source_lane_bounds)
{
	struct trustmig_seal s = { .slot = self->a.slot };
	struct trustmig_out out = { .lane = 1 };
	__u8 buf[8192];

	s.out.buf = (unsigned long)buf;
	s.out.buf_len = sizeof(buf);
	s.out.lane = self->lanes;
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s));
	EXPECT_EQ(EINVAL, errno);
	s.out.lane = TRUSTMIG_LANES_MAX;
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s));
	EXPECT_EQ(EINVAL, errno);
	out.buf = (unsigned long)buf;
	out.buf_len = sizeof(buf);
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_COMMIT, &out));
	EXPECT_EQ(EINVAL, errno);
}

enum fault {
	FAULT_NONE,
	FAULT_DROP,		/* one record left out */
	FAULT_DUPLICATE,	/* one record sent twice */
	FAULT_SWAP,		/* two neighbours swapped */
	FAULT_MOVE,		/* a record sent on another lane, as it is */
	FAULT_RELABEL,		/* ... with that lane in its header */
	FAULT_DROP_LANE,	/* a lane other than 0 never sent */
	FAULT_CUT_LANE,		/* a lane's last records never sent */
	FAULT_TWICE_AT_ONCE,	/* a lane sent whole twice, opened by two
				 * threads at the same time
				 */
	FAULT_MAX,
};

static const char *const fault_names[] = {
	"none", "drop", "duplicate", "swap", "move", "relabel", "drop lane",
	"cut lane", "lane twice at once",
};

/* The wire as the adversary rewrites it, one buffer per lane. */
struct wire {
	__u8 *buf[LANES_MAX];
	size_t len[LANES_MAX];
};

static void wire_put(struct wire *w, __u32 lane, const __u8 *rec, size_t len)
{
	memcpy(w->buf[lane] + w->len[lane], rec, len);
	w->len[lane] += len;
}

/*
 * Copies the lanes' records (the commit excluded: it goes last) into @w
 * with @fault applied at a random place.  Returns whether it changed
 * anything.
 */
static bool wire_tamper(struct _test_data_lanes *self, struct wire *w,
			enum fault fault, unsigned int *seed)
{
	static size_t offs[LANES_MAX][RECS_MAX];
	size_t n[LANES_MAX], i, at, size;
	__u32 lane, to, k;
	struct trustmig_rec_hdr *h;
	bool changed = false;
	const __u8 *r;

	for (k = 0; k < self->lanes; k++) {
		n[k] = tmig_index(&self->st[k], offs[k], RECS_MAX);
		w->buf[k] = malloc(self->st[k].len * 2 + 65536);
		w->len[k] = 0;
	}
	n[0]--;				/* the commit */
	lane = fault == FAULT_DROP_LANE ? 1 + rand_r(seed) %
		(self->lanes - 1) : rand_r(seed) % self->lanes;
	to = (lane + 1 + rand_r(seed) % (self->lanes - 1)) % self->lanes;
	at = rand_r(seed) % (n[lane] - 1);
	for (k = 0; k < self->lanes; k++) {
		for (i = 0; i < n[k]; i++) {
			r = self->st[k].buf + offs[k][i];
			size = tmig_record_size(r);
			if (k != lane || i != at) {
				wire_put(w, k, r, size);
				continue;
			}
			changed = true;
			switch (fault) {
			case FAULT_NONE:
			case FAULT_TWICE_AT_ONCE:
				changed = fault != FAULT_NONE;
				wire_put(w, k, r, size);
				break;
			case FAULT_DROP:
				break;
			case FAULT_DUPLICATE:
				wire_put(w, k, r, size);
				wire_put(w, k, r, size);
				break;
			case FAULT_SWAP:
				wire_put(w, k, self->st[k].buf +
					 offs[k][i + 1],
					 tmig_record_size(self->st[k].buf +
							  offs[k][i + 1]));
				wire_put(w, k, r, size);
				i++;
				break;
			case FAULT_MOVE:
			case FAULT_RELABEL:
				wire_put(w, to, r, size);
				if (fault == FAULT_RELABEL) {
					h = (void *)(w->buf[to] + w->len[to] -
						     size);
					h->lane = htobe32(to);
				}
				break;
			case FAULT_DROP_LANE:
				w->len[k] = 0;
				i = n[k];
				break;
			case FAULT_CUT_LANE:
				i = n[k];
				break;
			case FAULT_MAX:
				break;
			}
		}
	}
	return changed;
}

/*
 * Seeded runs: a stream of three rounds with guest writes in between
 * (pages of several versions), the adversary's fault, the lanes opened
 * concurrently in random chunks, then the commit.  The commit verifies
 * exactly when nothing was changed, and then B equals A.
 */
TEST_F_TIMEOUT(lanes, adversary_on_the_wire, 600)
{
	const char *env = getenv("TRUSTMIG_SEED");
	const char *nruns = getenv("TRUSTMIG_ADVERSARY_RUNS");
	unsigned int seed = env ? strtoul(env, NULL, 0) : time(NULL);
	unsigned int runs = nruns ? strtoul(nruns, NULL, 0) : 2 * FAULT_MAX;
	unsigned int run;
	struct lane_job jobs[LANES_MAX + 1];
	struct tnl_session dst;
	struct trustmig_open o;
	enum fault fault;
	struct wire w;
	bool changed;
	int round, err;
	__u32 k, twice;

	TH_LOG("seed %u (TRUSTMIG_SEED=%u repeats this run)", seed, seed);
	for (run = 0; run < runs; run++) {
		fault = run % FAULT_MAX;
		if (run) {
			lanes_pair_end(self);
			ASSERT_EQ(0, lanes_pair(self));
		}
		for (round = 0; round < 3; round++) {
			ASSERT_EQ(0, lanes_round(self, !round));
			ASSERT_EQ(0, tvm_run_pass(&self->a, 1 + round,
						  self->a.npages - 1 - round,
						  2 + round));
		}
		ASSERT_EQ(0, lanes_round(self, false));
		ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st[0]));

		changed = wire_tamper(self, &w, fault, &seed);
		memset(jobs, 0, sizeof(jobs));
		for (k = 0; k < self->lanes; k++) {
			jobs[k].buf = w.buf[k];
			jobs[k].len = w.len[k];
			jobs[k].seed = rand_r(&seed) | 1;
			jobs[k].flags = k ? TRUSTMIG_OPEN_EOF : 0;
		}
		/* The same lane's bytes once more, by one more thread. */
		twice = rand_r(&seed) % self->lanes;
		jobs[k] = jobs[twice];
		jobs[k].lane = twice;
		jobs[k].seed = rand_r(&seed) | 1;
		err = lanes_run_jobs(self, lane_deliver, jobs,
				     fault == FAULT_TWICE_AT_ONCE);
		/* Then the commit, once every lane's thread is done. */
		if (!err)
			err = tmig_open(self->p.dst.fd, self->st[0].buf +
					self->st[0].len - COMMIT_REC_LEN(self),
					COMMIT_REC_LEN(self), TRUSTMIG_OPEN_EOF,
					&o);
		for (k = 0; k < self->lanes; k++)
			free(w.buf[k]);
		ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
		TH_LOG("run %u: %s, %s: open %d, state %u, reason %u", run,
		       fault_names[fault], changed ? "changed" : "unchanged",
		       err, dst.state, dst.reason);
		if (!changed) {
			ASSERT_EQ(0, err);
			ASSERT_EQ(TRUSTMIG_STATE_COMPLETE, dst.state);
			ASSERT_EQ(0, memcmp(self->a.mem, self->b.mem,
					    VM_SIZE));
		} else {
			ASSERT_NE(0, err);
			ASSERT_EQ(TRUSTMIG_STATE_FAILED, dst.state);
		}
	}
}

TEST_HARNESS_MAIN
