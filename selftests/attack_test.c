// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks on the record stream and on attachment.  Each must be refused
 * with its documented errno and reason, leave the destination's memory
 * exactly as it was, fail the session for good, and announce it.
 * Some records are sealed with the session's key (lib/tforge.c): records
 * a source's module never seals, such as a commit with wrong counts or a
 * zero run out of bounds, which the destination must refuse on its own.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "tforge.h"
#include "tmig.h"

#define VM_SIZE		(4UL << 20)
#define MAX_RECS	2048

FIXTURE(atk) {
	struct tnl t;
	struct tmig_pair p;
	struct tvm a, b;
	struct tmig_stream st;
	size_t offs[MAX_RECS], n;
	size_t victim;		/* index of a full-page record */
	__u8 *before;		/* B's memory before the attack */
};

FIXTURE_SETUP(atk)
{
	unsigned long *bitmap;
	size_t i;

	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, tnl_subscribe(&self->t));
	ASSERT_EQ(0, tvm_create(&self->a, VM_SIZE, true));
	ASSERT_EQ(0, tvm_create(&self->b, VM_SIZE, false));
	tvm_fill(&self->a, 7);
	ASSERT_EQ(0, tmig_pair_new(&self->t, &self->p, 0));
	ASSERT_EQ(0, tmig_attach(&self->p.src, self->a.vm_fd,
				 self->p.src.ticket));
	ASSERT_EQ(0, tmig_attach(&self->p.dst, self->b.vm_fd,
				 self->p.dst.ticket));

	/* A whole, valid stream: one full round and a commit. */
	bitmap = calloc(1, tvm_bitmap_bytes(self->a.npages));
	ASSERT_NE(NULL, bitmap);
	ASSERT_EQ(0, tvm_harvest(&self->a, bitmap));
	free(bitmap);
	ASSERT_EQ(0, tmig_seal(self->p.src.fd, &self->a,
			       TRUSTMIG_SEAL_HARVEST, NULL,
			       &self->st));
	ASSERT_EQ(0, tmig_end_round(self->p.src.fd, &self->st));
	ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st));
	self->n = tmig_index(&self->st, self->offs, MAX_RECS);
	ASSERT_EQ(self->a.npages + 2, self->n);

	/* The victim: a full page in the middle, B's copy still zero. */
	for (i = self->n / 2; i < self->n; i++)
		if (((struct trustmig_rec_hdr *)(self->st.buf +
				self->offs[i]))->type == TRUSTMIG_REC_PAGE)
			break;
	ASSERT_LT(i, self->n - 2);
	self->victim = i;
	self->before = malloc(VM_SIZE);
	ASSERT_NE(NULL, self->before);
}

FIXTURE_TEARDOWN(atk)
{
	tmig_pair_close(&self->t, &self->p);
	tmig_stream_free(&self->st);
	free(self->before);
	tvm_destroy(&self->a);
	tvm_destroy(&self->b);
	tnl_close(&self->t);
}

static __u8 *rec(struct _test_data_atk *self, size_t i)
{
	return self->st.buf + self->offs[i];
}

/* Opens records [0, n) one call each; they must all be accepted. */
static int open_prefix(struct _test_data_atk *self, size_t n)
{
	struct trustmig_open o;
	int err;

	err = tmig_open(self->p.dst.fd, rec(self, 0),
			self->offs[n] - self->offs[0], 0, &o);
	if (!err && o.records != n)
		err = -EPROTO;
	if (!err)
		memcpy(self->before, self->b.mem, VM_SIZE);
	return err;
}

/*
 * Feeds @len bytes at @buf; asserts the refusal and everything that must
 * follow from it.
 */
static void expect_refused(struct __test_metadata *_metadata,
			   struct _test_data_atk *self, const __u8 *buf,
			   size_t len, __u32 flags, int err, __u8 reason)
{
	struct tnl_session s;
	struct trustmig_open o;
	struct tnl_event ev;

	EXPECT_EQ(-err, tmig_open(self->p.dst.fd, buf, len, flags, &o));
	/* Not one byte of guest memory changed. */
	EXPECT_EQ(0, memcmp(self->before, self->b.mem, VM_SIZE));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, s.state);
	EXPECT_EQ(reason, s.reason);
	EXPECT_EQ(err, s.err);
	ASSERT_EQ(0, tnl_event(&self->t, self->p.dst.id, &ev, 2000));
	EXPECT_EQ(TRUSTMIG_CMD_EVENT_FAILED, ev.cmd);
	EXPECT_EQ(reason, ev.reason);
	EXPECT_EQ(err, ev.err);
	/* Failed for good: the genuine record is refused too. */
	EXPECT_EQ(-EPIPE, tmig_open(self->p.dst.fd, rec(self, self->victim),
				    tmig_record_size(rec(self, self->victim)),
				    0, &o));
	EXPECT_EQ(0, memcmp(self->before, self->b.mem, VM_SIZE));
}

static void flip_victim(struct __test_metadata *_metadata,
			struct _test_data_atk *self, size_t byte, int err,
			__u8 reason)
{
	__u8 *r = rec(self, self->victim);

	ASSERT_EQ(0, open_prefix(self, self->victim));
	r[byte] ^= 0x10;
	expect_refused(_metadata, self, r, tmig_record_size(r), 0, err,
		       reason);
}

TEST_F(atk, flip_header_bit)
{
	/* A bit of the gfn: still inside the slot, so only the tag tells. */
	flip_victim(_metadata, self,
		    offsetof(struct trustmig_rec_hdr, gfn_lo) + 3, EBADMSG,
		    TRUSTMIG_REASON_AUTH);
}

TEST_F(atk, flip_ciphertext_bit)
{
	flip_victim(_metadata, self, sizeof(struct trustmig_rec_hdr) + 1000,
		    EBADMSG, TRUSTMIG_REASON_AUTH);
}

TEST_F(atk, flip_tag_bit)
{
	flip_victim(_metadata, self,
		    sizeof(struct trustmig_rec_hdr) + TRUSTMIG_PAGE_SIZE + 5,
		    EBADMSG, TRUSTMIG_REASON_AUTH);
}

TEST_F(atk, flip_version)
{
	flip_victim(_metadata, self, 0, EPROTO, TRUSTMIG_REASON_VERSION);
}

TEST_F(atk, replay_earlier_record)
{
	size_t i = self->victim - 3;

	ASSERT_EQ(0, open_prefix(self, self->victim));
	expect_refused(_metadata, self, rec(self, i),
		       tmig_record_size(rec(self, i)), 0, EPROTO,
		       TRUSTMIG_REASON_SEQUENCE);
}

TEST_F(atk, swap_two_records)
{
	size_t i = self->victim + 1;

	ASSERT_EQ(0, open_prefix(self, self->victim));
	expect_refused(_metadata, self, rec(self, i),
		       tmig_record_size(rec(self, i)), 0, EPROTO,
		       TRUSTMIG_REASON_SEQUENCE);
}

TEST_F(atk, drop_one_record)
{
	size_t i = self->victim + 1;

	ASSERT_EQ(0, open_prefix(self, self->victim));
	/* The victim never arrives; the rest of the stream does. */
	expect_refused(_metadata, self, rec(self, i),
		       self->st.len - self->offs[i], 0, EPROTO,
		       TRUSTMIG_REASON_SEQUENCE);
}

TEST_F(atk, truncated_before_commit)
{
	size_t last = self->n - 1;

	ASSERT_EQ(0, open_prefix(self, last));
	/* The peer hangs up half-way through the commit record. */
	expect_refused(_metadata, self, rec(self, last), 30,
		       TRUSTMIG_OPEN_EOF, ENODATA, TRUSTMIG_REASON_TRUNCATED);
}

TEST_F(atk, record_of_another_stream)
{
	size_t offs[MAX_RECS], n;
	struct tmig_pair q;
	struct tmig_stream other = { 0 };
	struct tvm c;

	ASSERT_EQ(0, tvm_create(&c, VM_SIZE, false));
	tvm_fill(&c, 99);
	ASSERT_EQ(0, tmig_pair_new(&self->t, &q, 0));
	ASSERT_EQ(0, tmig_attach(&q.src, c.vm_fd, q.src.ticket));
	ASSERT_EQ(0, tmig_seal(q.src.fd, &c, TRUSTMIG_SEAL_HARVEST, NULL, &other));
	n = tmig_index(&other, offs, MAX_RECS);
	ASSERT_LT(self->victim, n);
	ASSERT_EQ(0, open_prefix(self, self->victim));
	/*
	 * Same lane, sequence and round in its stream, under another key:
	 * the key alone tells the sessions apart.
	 */
	expect_refused(_metadata, self, other.buf + offs[self->victim],
		       tmig_record_size(other.buf + offs[self->victim]),
		       0, EBADMSG, TRUSTMIG_REASON_AUTH);
	tmig_stream_free(&other);
	tmig_pair_close(&self->t, &q);
	tvm_destroy(&c);
}

/* The stream ends where the commit should begin. */
TEST_F(atk, commit_never_arrives)
{
	ASSERT_EQ(0, open_prefix(self, self->n - 1));
	expect_refused(_metadata, self, rec(self, self->n - 1), 0,
		       TRUSTMIG_OPEN_EOF, ENODATA, TRUSTMIG_REASON_TRUNCATED);
}

/* The kernel log since @fd was opened has a line containing @needle. */
static bool kmsg_has(int fd, const char *needle)
{
	char line[1024];
	ssize_t n;

	while ((n = read(fd, line, sizeof(line) - 1)) > 0 || errno == EPIPE) {
		if (n <= 0)
			continue;
		line[n] = '\0';
		if (strstr(line, needle))
			return true;
	}
	return false;
}

/* A record of version 1, as a trustmig.ko of the last release seals. */
TEST_F(atk, v1_record_refused_naming_both_versions)
{
	int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	char want[80];

	ASSERT_LE(0, kmsg);
	ASSERT_LE(0, lseek(kmsg, 0, SEEK_END));
	ASSERT_EQ(0, open_prefix(self, self->victim));
	rec(self, self->victim)[0] = 1;
	expect_refused(_metadata, self, rec(self, self->victim),
		       tmig_record_size(rec(self, self->victim)), 0, EPROTO,
		       TRUSTMIG_REASON_VERSION);
	snprintf(want, sizeof(want),
		 "session %u: record of wire format v1, this module speaks v%d",
		 self->p.dst.id, TRUSTMIG_WIRE_VERSION);
	EXPECT_TRUE(kmsg_has(kmsg, want));
	close(kmsg);
}

/*
 * A call opens one lane: a record naming another is refused before its
 * tag is checked (lanes_test.c moves one to the lane it names).
 */
TEST_F(atk, record_of_another_lane_than_the_call)
{
	struct trustmig_rec_hdr *h = (void *)rec(self, 0);

	ASSERT_EQ(0, open_prefix(self, 0));
	h->lane = htobe32(1);
	expect_refused(_metadata, self, rec(self, 0),
		       tmig_record_size(rec(self, 0)), 0, EPROTO,
		       TRUSTMIG_REASON_LANE);
}

TEST_F(atk, lane_out_of_range)
{
	struct trustmig_rec_hdr *h = (void *)rec(self, 0);

	ASSERT_EQ(0, open_prefix(self, 0));
	h->lane = htobe32(TRUSTMIG_LANES_MAX);
	expect_refused(_metadata, self, rec(self, 0),
		       tmig_record_size(rec(self, 0)), 0, EPROTO,
		       TRUSTMIG_REASON_LANE);
}

#define FORGED_MAX	(sizeof(struct trustmig_rec_hdr) + \
			 TRUSTMIG_COMMIT_LEN(2) + TRUSTMIG_TAG_LEN)

/*
 * A commit sealed with the session's key in place of the genuine one:
 * @lanes in its lane count, @entries entries (lane 1's all zero), lane
 * 0's records and pages off by @drecords and @dpages.  Only the true
 * counts may complete.
 */
static void forged_commit(struct __test_metadata *_metadata,
			  struct _test_data_atk *self, __u32 lanes,
			  __u32 entries, int drecords, int dpages)
{
	size_t last = self->n - 1, len = TRUSTMIG_COMMIT_LEN(entries);
	__u8 r[FORGED_MAX] = { 0 };
	struct trustmig_commit *c = (void *)(r + sizeof(struct trustmig_rec_hdr));
	struct trustmig_open o;

	tforge_hdr(r, TRUSTMIG_REC_COMMIT, 0, 0, 1, len, last);
	c->rounds = htobe64(1);
	c->lanes = htobe32(lanes);
	c->lane[0].records = htobe64(last + drecords);
	c->lane[0].pages = htobe64(self->a.npages + dpages);
	ASSERT_NE(0, tforge_seal(&self->p, 0, r));
	ASSERT_EQ(0, open_prefix(self, last));
	if (lanes == 1 && entries == 1 && !drecords && !dpages) {
		ASSERT_EQ(0, tmig_open(self->p.dst.fd, r, tmig_record_size(r),
				       TRUSTMIG_OPEN_EOF, &o));
		EXPECT_EQ(TRUSTMIG_OPEN_COMPLETE, o.result);
		EXPECT_EQ(0, memcmp(self->a.mem, self->b.mem, VM_SIZE));
		return;
	}
	expect_refused(_metadata, self, r, tmig_record_size(r), 0, EBADMSG,
		       TRUSTMIG_REASON_COMMIT);
}

/* The forger's control: with the true counts its commit completes. */
TEST_F(atk, forged_commit_with_true_counts_completes)
{
	forged_commit(_metadata, self, 1, 1, 0, 0);
}

TEST_F(atk, commit_lane_count_short)
{
	forged_commit(_metadata, self, 0, 1, 0, 0);
}

/* A second lane that never ended a round (nor carried a record). */
TEST_F(atk, commit_lane_count_long)
{
	forged_commit(_metadata, self, 2, 2, 0, 0);
}

TEST_F(atk, commit_lane_count_disagrees_with_length)
{
	forged_commit(_metadata, self, 2, 1, 0, 0);
}

TEST_F(atk, commit_lane_records_short)
{
	forged_commit(_metadata, self, 1, 1, -1, 0);
}

TEST_F(atk, commit_lane_records_long)
{
	forged_commit(_metadata, self, 1, 1, 1, 0);
}

TEST_F(atk, commit_lane_pages_short)
{
	forged_commit(_metadata, self, 1, 1, 0, -1);
}

TEST_F(atk, commit_lane_pages_long)
{
	forged_commit(_metadata, self, 1, 1, 0, 1);
}

/*
 * A zero run sealed with the key, next in the stream after a prefix
 * opened into B (filled first, so that a page cleared shows): @pages
 * from @gfn.  Returns B's memory as it must stay, in self->before.
 */
static void forged_zero_run(struct __test_metadata *_metadata,
			    struct _test_data_atk *self, __u64 gfn,
			    __u32 pages, __u8 *r)
{
	struct trustmig_zero_run *zr = (void *)(r + sizeof(struct trustmig_rec_hdr));

	tvm_fill(&self->b, 11);
	ASSERT_EQ(0, open_prefix(self, self->victim));
	tforge_hdr(r, TRUSTMIG_REC_ZERO_RUN, gfn, 0, 0, sizeof(*zr),
		   self->victim);
	zr->pages = htobe32(pages);
	ASSERT_EQ(TRUSTMIG_ZERO_RUN_REC_LEN, tforge_seal(&self->p, 0, r));
}

/* The forger's control: a run inside the slot clears its pages only. */
TEST_F(atk, zero_run_clears_exactly_its_pages)
{
	__u64 last = self->b.npages - 3;
	__u8 r[FORGED_MAX] = { 0 };
	struct trustmig_open o;

	forged_zero_run(_metadata, self, last, 3, r);
	ASSERT_EQ(0, tmig_open(self->p.dst.fd, r, tmig_record_size(r), 0, &o));
	EXPECT_EQ(1, o.records);
	memset(self->before + last * TVM_PAGE_SIZE, 0, 3 * TVM_PAGE_SIZE);
	EXPECT_EQ(0, memcmp(self->before, self->b.mem, VM_SIZE));
}

TEST_F(atk, zero_run_past_the_memslot)
{
	__u8 r[FORGED_MAX] = { 0 };

	forged_zero_run(_metadata, self, self->b.npages - 2, 3, r);
	expect_refused(_metadata, self, r, TRUSTMIG_ZERO_RUN_REC_LEN, 0,
		       ERANGE, TRUSTMIG_REASON_GFN);
}

TEST_F(atk, zero_run_of_no_page)
{
	__u8 r[FORGED_MAX] = { 0 };

	forged_zero_run(_metadata, self, 5, 0, r);
	expect_refused(_metadata, self, r, TRUSTMIG_ZERO_RUN_REC_LEN, 0,
		       ERANGE, TRUSTMIG_REASON_GFN);
}

/*
 * B gets a second memslot @gap bytes above its first; a run from the
 * first's last page into the second's first is refused, and neither
 * slot changes.
 */
static void zero_run_into_next_slot(struct __test_metadata *_metadata,
				    struct _test_data_atk *self, size_t gap)
{
	struct kvm_userspace_memory_region region;
	__u8 r[FORGED_MAX] = { 0 };
	__u8 *mem;
	size_t i;

	mem = tvm_add_slot(&self->b, 1, VM_SIZE + gap, 1UL << 20, &region);
	ASSERT_NE(NULL, mem);
	memset(mem, 0xa5, 1UL << 20);
	forged_zero_run(_metadata, self, self->b.npages - 1,
			2 + gap / TVM_PAGE_SIZE, r);
	expect_refused(_metadata, self, r, TRUSTMIG_ZERO_RUN_REC_LEN, 0,
		       ERANGE, TRUSTMIG_REASON_GFN);
	for (i = 0; i < 1UL << 20 && mem[i] == 0xa5; i++)
		;
	EXPECT_EQ(1UL << 20, i);
	munmap(mem, 1UL << 20);
}

TEST_F(atk, zero_run_across_adjacent_memslots)
{
	zero_run_into_next_slot(_metadata, self, 0);
}

TEST_F(atk, zero_run_over_a_gap)
{
	zero_run_into_next_slot(_metadata, self, 1UL << 20);
}

/* A genuine, authenticated record for a page B does not have. */
TEST_F(atk, gfn_outside_memslot)
{
	struct tmig_pair q;
	struct tmig_stream big_st = { 0 };
	struct tvm big;
	size_t i, offs[MAX_RECS * 2];
	size_t n;

	ASSERT_EQ(0, tvm_create(&big, 2 * VM_SIZE, false));
	tvm_fill(&big, 5);
	ASSERT_EQ(0, tmig_pair_new(&self->t, &q, 0));
	ASSERT_EQ(0, tmig_attach(&q.src, big.vm_fd, q.src.ticket));
	ASSERT_EQ(0, tmig_attach(&q.dst, self->b.vm_fd, q.dst.ticket));
	ASSERT_EQ(0, tmig_seal(q.src.fd, &big, TRUSTMIG_SEAL_HARVEST, NULL, &big_st));
	n = tmig_index(&big_st, offs, MAX_RECS * 2);
	ASSERT_EQ(big.npages, n);
	/* Everything inside B's memslot opens... */
	i = self->b.npages;
	{
		struct trustmig_open o;

		ASSERT_EQ(0, tmig_open(q.dst.fd, big_st.buf, offs[i], 0, &o));
		ASSERT_EQ(i, o.records);
	}
	memcpy(self->before, self->b.mem, VM_SIZE);
	/* ...the first page beyond it is refused. */
	{
		struct tnl_session s;
		struct trustmig_open o;
		struct tnl_event ev;

		EXPECT_EQ(-ERANGE, tmig_open(q.dst.fd, big_st.buf + offs[i],
					     big_st.len - offs[i], 0, &o));
		EXPECT_EQ(0, memcmp(self->before, self->b.mem, VM_SIZE));
		ASSERT_EQ(0, tnl_get(&self->t, q.dst.id, &s));
		EXPECT_EQ(TRUSTMIG_STATE_FAILED, s.state);
		EXPECT_EQ(TRUSTMIG_REASON_GFN, s.reason);
		ASSERT_EQ(0, tnl_event(&self->t, q.dst.id, &ev, 2000));
		EXPECT_EQ(TRUSTMIG_CMD_EVENT_FAILED, ev.cmd);
		EXPECT_EQ(TRUSTMIG_REASON_GFN, ev.reason);
	}
	tmig_stream_free(&big_st);
	tmig_pair_close(&self->t, &q);
	tvm_destroy(&big);
}

static void expect_ticket_failure(struct __test_metadata *_metadata,
				  struct _test_data_atk *self, __u32 id)
{
	struct tnl_session s;
	struct tnl_event ev;

	ASSERT_EQ(0, tnl_get(&self->t, id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, s.state);
	EXPECT_EQ(TRUSTMIG_REASON_TICKET, s.reason);
	ASSERT_EQ(0, tnl_event(&self->t, id, &ev, 2000));
	EXPECT_EQ(TRUSTMIG_CMD_EVENT_FAILED, ev.cmd);
	EXPECT_EQ(TRUSTMIG_REASON_TICKET, ev.reason);
	EXPECT_EQ(EACCES, ev.err);
}

TEST_F(atk, wrong_ticket)
{
	struct tmig_pair q;
	struct tvm c;
	__u8 bad[TRUSTMIG_TICKET_LEN];

	ASSERT_EQ(0, tvm_create(&c, VM_SIZE, false));
	ASSERT_EQ(0, tmig_pair_new(&self->t, &q, 0));
	memcpy(bad, q.dst.ticket, sizeof(bad));
	bad[17] ^= 1;
	EXPECT_EQ(-EACCES, tmig_attach(&q.dst, c.vm_fd, bad));
	expect_ticket_failure(_metadata, self, q.dst.id);
	/* The right ticket is no good any more either. */
	EXPECT_EQ(-EPIPE, tmig_attach(&q.dst, c.vm_fd, q.dst.ticket));
	tmig_pair_close(&self->t, &q);
	tvm_destroy(&c);
}

TEST_F(atk, reused_ticket)
{
	struct tmig_end thief = { .id = self->p.dst.id };
	struct tnl_session s;
	struct tvm c;

	ASSERT_EQ(0, tvm_create(&c, VM_SIZE, false));
	thief.fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR);
	ASSERT_LE(0, thief.fd);
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &s));
	ASSERT_EQ(1, s.attached);
	EXPECT_EQ(-EACCES, tmig_attach(&thief, c.vm_fd, self->p.dst.ticket));
	expect_ticket_failure(_metadata, self, self->p.dst.id);
	close(thief.fd);
	tvm_destroy(&c);
}

TEST_F(atk, attach_twice_and_not_a_vm)
{
	struct tmig_pair q;

	ASSERT_EQ(0, tmig_pair_new(&self->t, &q, 0));
	/* A file already attached cannot be re-attached. */
	EXPECT_EQ(-EBUSY, tmig_attach(&self->p.dst, self->b.vm_fd,
				      q.dst.ticket));
	/* Something that is not a KVM VM, and no fd at all. */
	EXPECT_EQ(-EINVAL, tmig_attach(&q.dst, q.src.fd, q.dst.ticket));
	EXPECT_EQ(-EBADF, tmig_attach(&q.dst, 999, q.dst.ticket));
	EXPECT_EQ(-ENOENT, tmig_attach(&(struct tmig_end){ .fd = q.dst.fd,
				       .id = 0x7ffffff0 }, self->b.vm_fd,
				       q.dst.ticket));
	/* None of those burnt the ticket. */
	EXPECT_EQ(0, tmig_attach(&q.dst, self->b.vm_fd, q.dst.ticket));
	tmig_pair_close(&self->t, &q);
}

TEST_HARNESS_MAIN
