// SPDX-License-Identifier: GPL-2.0
/*
 * Pages of a running nested KVM guest, sealed from VM A over several
 * pre-copy rounds and opened into VM B: B must end byte-identical to A.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "tmig.h"

#define VM_SIZE		(8UL << 20)

FIXTURE(dp) {
	struct tnl t;
	struct tmig_pair p;
	struct tvm a, b;
	struct tmig_stream st;
	unsigned long *bitmap;
	size_t opened;		/* bytes of st already opened into B */
};

FIXTURE_VARIANT(dp) {
	__u8 cipher;
};

FIXTURE_VARIANT_ADD(dp, aes256gcm) {
	.cipher = TRUSTMIG_CIPHER_AES256GCM,
};

FIXTURE_VARIANT_ADD(dp, chacha20poly1305) {
	.cipher = TRUSTMIG_CIPHER_CHACHA20POLY1305,
};

FIXTURE_SETUP(dp)
{
	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, tnl_subscribe(&self->t));
	ASSERT_EQ(0, tvm_create(&self->a, VM_SIZE, true));
	ASSERT_EQ(0, tvm_create(&self->b, VM_SIZE, false));
	tvm_fill(&self->a, 42);
	self->bitmap = calloc(1, tvm_bitmap_bytes(self->a.npages));
	ASSERT_NE(NULL, self->bitmap);
	ASSERT_EQ(0, tmig_pair_new(&self->t, &self->p, variant->cipher));
	ASSERT_EQ(0, tmig_attach(&self->p.src, self->a.vm_fd,
				 self->p.src.ticket));
	ASSERT_EQ(0, tmig_attach(&self->p.dst, self->b.vm_fd,
				 self->p.dst.ticket));
}

FIXTURE_TEARDOWN(dp)
{
	tmig_pair_close(&self->t, &self->p);
	tmig_stream_free(&self->st);
	free(self->bitmap);
	tvm_destroy(&self->a);
	tvm_destroy(&self->b);
	tnl_close(&self->t);
}

/* Opens what the source produced since the last call, as the network would. */
static int dp_deliver(struct _test_data_dp *self, __u32 flags, __u32 *result)
{
	struct trustmig_open o;
	int err;

	err = tmig_open(self->p.dst.fd, self->st.buf + self->opened,
			self->st.len - self->opened, flags, &o);
	if (err)
		return err;
	self->opened += o.consumed;
	*result = o.result;
	return 0;
}

/* One pre-copy round: harvest, seal, end the round, deliver. */
static int dp_round(struct _test_data_dp *self, const unsigned long *bitmap)
{
	__u32 result;
	int err;

	err = tmig_seal(self->p.src.fd, &self->a, TRUSTMIG_SEAL_HARVEST, bitmap,
			&self->st);
	if (!err)
		err = tmig_end_round(self->p.src.fd, &self->st);
	if (!err)
		err = dp_deliver(self, 0, &result);
	return err;
}

static void dp_migrate(struct __test_metadata *_metadata,
		       struct _test_data_dp *self, bool vmm_forgets)
{
	struct tmig_writer w = { .vm = &self->a };
	struct tnl_session src, dst;
	struct tnl_event ev;
	__u64 forgotten = 0, i;
	pthread_t thread;
	__u32 result = 0;
	int round;

	/* Round 0: every page, while the guest writes. */
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, pthread_create(&thread, NULL, tmig_guest_writes, &w));
	ASSERT_EQ(0, dp_round(self, NULL));
	for (round = 1; round <= 3; round++) {
		while (w.passes < round * 2 && !w.err)
			usleep(1000);
		ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
		if (vmm_forgets) {
			/* Drop every other dirty page from what we pass on. */
			for (i = 0; i < self->a.npages; i += 2) {
				forgotten += tvm_test_bit(self->bitmap, i);
				self->bitmap[i / 64] &= ~(1UL << (i % 64));
			}
		}
		ASSERT_EQ(0, dp_round(self, self->bitmap));
	}
	/* Stop-and-copy: pause the guest, the last round, the commit. */
	atomic_store(&w.stop, true);
	pthread_join(thread, NULL);
	ASSERT_EQ(0, w.err);
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	if (vmm_forgets)
		memset(self->bitmap, 0, tvm_bitmap_bytes(self->a.npages));
	ASSERT_EQ(0, dp_round(self, self->bitmap));
	ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st));
	ASSERT_EQ(0, dp_deliver(self, TRUSTMIG_OPEN_EOF, &result));
	ASSERT_EQ(TRUSTMIG_OPEN_COMPLETE, result);
	ASSERT_EQ(self->st.len, self->opened);

	TH_LOG("%d guest passes, %zu bytes, %llu dirty pages withheld",
	       w.passes, self->st.len, (unsigned long long)forgotten);
	if (vmm_forgets)
		ASSERT_LT(0, forgotten);
	ASSERT_LT(3, w.passes);
	EXPECT_EQ(0, memcmp(self->a.mem, self->b.mem, VM_SIZE));

	/* Both ends agree on what crossed, and say it is complete. */
	ASSERT_EQ(0, tnl_get(&self->t, self->p.src.id, &src));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
	EXPECT_EQ(TRUSTMIG_STATE_COMPLETE, src.state);
	EXPECT_EQ(TRUSTMIG_STATE_COMPLETE, dst.state);
	EXPECT_EQ(src.records, dst.records);
	EXPECT_EQ(src.bytes, dst.bytes);
	EXPECT_EQ(self->st.len, src.bytes);
	EXPECT_EQ(src.pages, dst.pages);
	EXPECT_EQ(src.zero_pages, dst.zero_pages);
	EXPECT_EQ(5, src.rounds);
	EXPECT_EQ(5, dst.rounds);
	/* Round 0 alone carried every page. */
	EXPECT_LE(self->a.npages, src.pages);
	/* One completion event per side. */
	ASSERT_EQ(0, tnl_event(&self->t, self->p.src.id, &ev, 2000));
	EXPECT_EQ(TRUSTMIG_CMD_EVENT_COMPLETE, ev.cmd);
	EXPECT_EQ(src.records, ev.records);
	ASSERT_EQ(0, tnl_event(&self->t, self->p.dst.id, &ev, 2000));
	EXPECT_EQ(TRUSTMIG_CMD_EVENT_COMPLETE, ev.cmd);
}

TEST_F_TIMEOUT(dp, live_precopy_identical, 180)
{
	dp_migrate(_metadata, self, false);
}

/* The module's own dirty set covers pages the VMM did not report. */
TEST_F_TIMEOUT(dp, vmm_omits_dirty_pages_still_identical, 180)
{
	dp_migrate(_metadata, self, true);
}

static bool dp_page_zero(struct tvm *vm, __u64 page)
{
	static const __u8 zeroes[TVM_PAGE_SIZE];

	return !memcmp(tvm_page(vm, page), zeroes, TVM_PAGE_SIZE);
}

/*
 * One record per full page, one 44-byte ZERO_RUN per run of consecutive
 * zero pages (A has single ones and one of 17), all on lane 0 in
 * sequence; the runs' counts, sealed, add up to A's zero pages at B.
 */
TEST_F(dp, record_sizes_on_the_wire)
{
	size_t offs[4096], n, i, full = 0, runs = 0, zero_in_a = 0;
	size_t runs_in_a = 0;
	const struct trustmig_rec_hdr *h;
	struct tnl_session dst;
	__u64 gfn;

	memset(tvm_page(&self->a, 8), 0, 16 * TVM_PAGE_SIZE);
	/* B's pages are not zero: the runs must clear them. */
	tvm_fill(&self->b, 9);
	memset(tvm_page(&self->b, 0), 0xa5, TVM_PAGE_SIZE);
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_round(self, NULL));
	n = tmig_index(&self->st, offs, 4096);
	for (i = 0; i < self->a.npages; i++) {
		if (!dp_page_zero(&self->a, i))
			continue;
		zero_in_a++;
		runs_in_a += !i || !dp_page_zero(&self->a, i - 1);
	}
	ASSERT_LT(0, zero_in_a);
	ASSERT_LT(runs_in_a, zero_in_a);
	for (i = 0; i < n; i++) {
		h = (const void *)(self->st.buf + offs[i]);
		EXPECT_EQ(i, be64toh(h->seq));
		EXPECT_EQ(0, h->lane);
		EXPECT_EQ(TRUSTMIG_WIRE_VERSION, h->version);
		gfn = (__u64)h->gfn_hi << 32 | be32toh(h->gfn_lo);
		if (h->type == TRUSTMIG_REC_PAGE) {
			EXPECT_EQ(4096 + 40, tmig_record_size((void *)h));
			EXPECT_FALSE(dp_page_zero(&self->a, gfn));
			full++;
		} else if (h->type == TRUSTMIG_REC_ZERO_RUN) {
			EXPECT_EQ(TRUSTMIG_ZERO_RUN_REC_LEN,
				  tmig_record_size((void *)h));
			EXPECT_GE(64, TRUSTMIG_ZERO_RUN_REC_LEN);
			/* A run starts where A's zero pages start. */
			EXPECT_TRUE(dp_page_zero(&self->a, gfn));
			EXPECT_TRUE(!gfn || !dp_page_zero(&self->a, gfn - 1));
			runs++;
		}
	}
	EXPECT_EQ(TRUSTMIG_REC_ROUND_END,
		  ((struct trustmig_rec_hdr *)(self->st.buf + offs[n - 1]))->type);
	EXPECT_EQ(full + runs + 1, n);
	EXPECT_EQ(runs_in_a, runs);
	EXPECT_EQ(self->a.npages - zero_in_a, full);
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
	EXPECT_EQ(self->a.npages, dst.pages);
	EXPECT_EQ(zero_in_a, dst.zero_pages);
	EXPECT_EQ(0, memcmp(self->a.mem, self->b.mem, VM_SIZE));
	/* Nothing of a page's plaintext is visible on the wire. */
	EXPECT_EQ(NULL, memmem(self->st.buf, self->st.len,
			       tvm_page(&self->a, 1), 64));
}

/* No commit while KVM saw a write that was not harvested since. */
TEST_F_TIMEOUT(dp, commit_refused_while_pages_dirty, 120)
{
	__u32 result;

	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_round(self, NULL));
	ASSERT_EQ(0, tvm_run_pass(&self->a, 1, 10, 1));
	EXPECT_EQ(-EBUSY, tmig_commit(self->p.src.fd, &self->st));
	/*
	 * Re-protecting, then sealing the module's own set (the VMM's
	 * bitmap withheld), is enough to catch up.
	 */
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_round(self, NULL));
	ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st));
	ASSERT_EQ(0, dp_deliver(self, TRUSTMIG_OPEN_EOF, &result));
	EXPECT_EQ(TRUSTMIG_OPEN_COMPLETE, result);
	EXPECT_EQ(0, memcmp(self->a.mem, self->b.mem, VM_SIZE));
}

TEST_F(dp, wrong_role_and_bad_arguments)
{
	struct trustmig_seal s = { .slot = self->a.slot };
	struct trustmig_open o = { 0 };

	/* A destination does not seal, a source does not open. */
	EXPECT_EQ(-1, ioctl(self->p.dst.fd, TRUSTMIG_SEAL, &s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_OPEN, &o));
	EXPECT_EQ(EINVAL, errno);
	/*
	 * A slot not tracked yet (here: none at all) needs a harvest;
	 * unknown flags; SMM slots.
	 */
	s.slot = 1;
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s));
	EXPECT_EQ(EINVAL, errno);
	s.flags = 1U << 7;
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s));
	EXPECT_EQ(EINVAL, errno);
	s.flags = TRUSTMIG_SEAL_HARVEST;
	s.slot = 1 << 16;
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s));
	EXPECT_EQ(EINVAL, errno);
	/* A buffer too small for one record. */
	s.slot = self->a.slot;
	s.flags = TRUSTMIG_SEAL_HARVEST;
	s.out.buf_len = 100;
	s.out.buf = (unsigned long)self->bitmap;
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s));
	EXPECT_EQ(ENOBUFS, errno);
	/* None of this hurt the sessions. */
	EXPECT_EQ(0, dp_round(self, NULL));
}

/* Slot 1 of A: 1 MiB at 1 GiB, logging.  Its memory, or NULL. */
static void *dp_slot1_add(struct _test_data_dp *self,
			  struct kvm_userspace_memory_region *r)
{
	return tvm_add_slot(&self->a, 1, 1UL << 30, 1UL << 20, r);
}

/*
 * Harvests and seals all of slot 1 (zero: one ZERO_RUN record): the
 * pages sealed, or -errno.
 */
static int dp_slot1_seal(struct _test_data_dp *self)
{
	struct trustmig_seal s = { .slot = 1, .flags = TRUSTMIG_SEAL_HARVEST };
	int err;

	s.out.buf = (unsigned long)malloc(1 << 20);
	s.out.buf_len = 1 << 20;
	err = ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s) ? -errno : 0;
	free((void *)(unsigned long)s.out.buf);
	return err ?: (int)s.pages;
}

/*
 * A zero memslot of 8192 pages takes two SEAL calls of one ZERO_RUN of
 * 4096 pages each, however large the buffer: a call reads at most 4096.
 */
TEST_F(dp, zero_memslot_sealed_in_bounded_calls)
{
	struct kvm_userspace_memory_region extra;
	struct trustmig_seal s = { .slot = 1, .flags = TRUSTMIG_SEAL_HARVEST };
	int call;
	void *mem;

	mem = tvm_add_slot(&self->a, 1, 1UL << 30, 32UL << 20, &extra);
	ASSERT_NE(NULL, mem);
	s.out.buf = (unsigned long)malloc(1 << 20);
	ASSERT_NE(0, s.out.buf);
	for (call = 1; call <= 2; call++) {
		s.out.buf_len = 1 << 20;
		ASSERT_EQ(0, ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s));
		EXPECT_EQ(1, s.out.records);
		EXPECT_EQ(TRUSTMIG_ZERO_RUN_REC_LEN, s.out.bytes);
		EXPECT_EQ(TRUSTMIG_SEAL_PAGES_MAX, s.pages);
		EXPECT_EQ(8192 - 4096 * call, s.pages_left);
		s.flags = 0;
	}
	free((void *)(unsigned long)s.out.buf);
	munmap(mem, extra.memory_size);
}

/* A commit needs a round ended and every user memslot sealed. */
TEST_F_TIMEOUT(dp, commit_needs_whole_vm, 120)
{
	struct kvm_userspace_memory_region extra;
	void *mem;

	/* Nothing sealed yet: no commit. */
	EXPECT_EQ(-EBUSY, tmig_commit(self->p.src.fd, &self->st));
	mem = dp_slot1_add(self, &extra);
	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, dp_round(self, NULL));
	/* Slot 1 was never sealed: still no commit. */
	EXPECT_EQ(-EBUSY, tmig_commit(self->p.src.fd, &self->st));
	EXPECT_EQ(256, dp_slot1_seal(self));
	EXPECT_EQ(0, tmig_end_round(self->p.src.fd, &self->st));
	EXPECT_EQ(0, tmig_commit(self->p.src.fd, &self->st));
	munmap(mem, extra.memory_size);
}

/* A memslot re-created under the stream's feet fails the session. */
TEST_F(dp, memslot_replaced_fails_session)
{
	struct kvm_userspace_memory_region slot0 = {
		.slot = 0,
		.flags = KVM_MEM_LOG_DIRTY_PAGES,
		.memory_size = VM_SIZE,
	};
	struct tnl_session s;
	void *mem;

	ASSERT_EQ(0, dp_round(self, NULL));
	mem = mmap(NULL, VM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	/* Delete, then the same gpa and size, other memory. */
	slot0.memory_size = 0;
	ASSERT_EQ(0, ioctl(self->a.vm_fd, KVM_SET_USER_MEMORY_REGION, &slot0));
	slot0.memory_size = VM_SIZE;
	slot0.userspace_addr = (unsigned long)mem;
	ASSERT_EQ(0, ioctl(self->a.vm_fd, KVM_SET_USER_MEMORY_REGION, &slot0));
	EXPECT_EQ(-ESTALE, dp_round(self, NULL));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.src.id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, s.state);
	EXPECT_EQ(TRUSTMIG_REASON_SLOT, s.reason);
	munmap(mem, VM_SIZE);
}

/* vCPU state crosses as STATE records, handed back only whole. */
TEST_F(dp, state_records)
{
	static __u8 state[5000], got[TRUSTMIG_STATE_MAX];
	struct trustmig_open o;
	struct kvm_regs regs;
	size_t start;
	int err;

	ASSERT_EQ(0, ioctl(self->a.vcpu_fd, KVM_GET_REGS, &regs));
	memset(state, 0xa5, sizeof(state));
	memcpy(state, &regs, sizeof(regs));
	ASSERT_EQ(0, dp_round(self, NULL));
	start = self->st.len;
	ASSERT_EQ(0, tmig_seal_state(self->p.src.fd, state, sizeof(state),
				     &self->st));
	EXPECT_EQ(sizeof(state) + 40, self->st.len - start);
	/* Refused when empty or too large; nothing consumed. */
	EXPECT_EQ(-EINVAL, tmig_seal_state(self->p.src.fd, state, 0,
					   &self->st));
	EXPECT_EQ(-EINVAL, tmig_seal_state(self->p.src.fd, got,
					   TRUSTMIG_STATE_MAX + 1, &self->st));
	ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st));

	/* No room for the state: the VMM is told, the stream is not hurt. */
	err = tmig_open_state(self->p.dst.fd, self->st.buf + self->opened,
			      self->st.len - self->opened, got, 100, &o);
	EXPECT_EQ(-EMSGSIZE, err);
	EXPECT_EQ(0, o.consumed);
	/* With room: the call stops right after the state record. */
	ASSERT_EQ(0, tmig_open_state(self->p.dst.fd,
				     self->st.buf + self->opened,
				     self->st.len - self->opened, got,
				     sizeof(got), &o));
	EXPECT_EQ(TRUSTMIG_OPEN_STATE, o.result);
	ASSERT_EQ(sizeof(state), o.state_len);
	EXPECT_EQ(0, memcmp(state, got, sizeof(state)));
	self->opened += o.consumed;
	ASSERT_EQ(0, tmig_open(self->p.dst.fd, self->st.buf + self->opened,
			       self->st.len - self->opened, TRUSTMIG_OPEN_EOF,
			       &o));
	EXPECT_EQ(TRUSTMIG_OPEN_COMPLETE, o.result);
}

TEST_F(dp, state_record_tampered)
{
	static __u8 state[300], got[TRUSTMIG_STATE_MAX];
	struct trustmig_open o;
	struct tnl_session s;
	size_t start;

	ASSERT_EQ(0, dp_round(self, NULL));
	start = self->st.len;
	memset(state, 0x3c, sizeof(state));
	ASSERT_EQ(0, tmig_seal_state(self->p.src.fd, state, sizeof(state),
				     &self->st));
	self->st.buf[start + 24 + 7] ^= 0x80;
	memset(got, 0, sizeof(got));
	EXPECT_EQ(-EBADMSG, tmig_open_state(self->p.dst.fd,
					    self->st.buf + start,
					    self->st.len - start, got,
					    sizeof(got), &o));
	EXPECT_EQ(0, o.state_len);
	EXPECT_EQ(0, got[7]);
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, s.state);
	EXPECT_EQ(TRUSTMIG_REASON_AUTH, s.reason);
}

static int dp_resumed(int fd, __u8 *rec, __u64 *len)
{
	struct trustmig_out o = { .buf = (uintptr_t)rec,
				  .buf_len = TRUSTMIG_RESUMED_REC_LEN };

	if (ioctl(fd, TRUSTMIG_RESUMED, &o))
		return -errno;
	*len = o.bytes;
	return 0;
}

static int dp_confirm(int fd, const __u8 *rec, __u64 len)
{
	struct trustmig_confirm c = { .buf = (uintptr_t)rec, .buf_len = len };

	return ioctl(fd, TRUSTMIG_CONFIRM, &c) ? -errno : 0;
}

/* The source lets its VM go only for the destination's sealed receipt. */
TEST_F(dp, resume_receipt)
{
	__u8 rec[TRUSTMIG_RESUMED_REC_LEN], bad[TRUSTMIG_RESUMED_REC_LEN];
	struct tnl_session src, dst;
	__u64 len = 0;
	__u32 result;
	size_t i;

	/* Not before the commit. */
	ASSERT_EQ(0, dp_round(self, NULL));
	EXPECT_EQ(-EBUSY, dp_resumed(self->p.dst.fd, rec, &len));
	memset(rec, 0, sizeof(rec));
	EXPECT_EQ(-EBUSY, dp_confirm(self->p.src.fd, rec, sizeof(rec)));
	ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st));
	ASSERT_EQ(0, dp_deliver(self, TRUSTMIG_OPEN_EOF, &result));
	ASSERT_EQ(TRUSTMIG_OPEN_COMPLETE, result);

	/* Each end plays only its own part. */
	EXPECT_EQ(-EINVAL, dp_resumed(self->p.src.fd, rec, &len));
	EXPECT_EQ(-EINVAL, dp_confirm(self->p.dst.fd, rec, sizeof(rec)));
	/* A receipt nobody sealed, or one of the wrong size. */
	EXPECT_EQ(-EBADMSG, dp_confirm(self->p.src.fd, rec, sizeof(rec)));
	EXPECT_EQ(-EINVAL, dp_confirm(self->p.src.fd, rec, sizeof(rec) - 1));

	ASSERT_EQ(0, dp_resumed(self->p.dst.fd, rec, &len));
	ASSERT_EQ(sizeof(rec), len);
	EXPECT_EQ(TRUSTMIG_REC_RESUMED,
		  ((struct trustmig_rec_hdr *)rec)->type);
	/* One receipt per stream: the key is gone after it. */
	EXPECT_EQ(-EALREADY, dp_resumed(self->p.dst.fd, bad, &len));
	/* A flipped bit anywhere is refused, without spending the key. */
	for (i = 0; i < sizeof(rec); i++) {
		memcpy(bad, rec, sizeof(rec));
		bad[i] ^= 1 << (i % 8);
		EXPECT_EQ(-EBADMSG, dp_confirm(self->p.src.fd, bad,
					       sizeof(bad)));
	}
	EXPECT_EQ(0, dp_confirm(self->p.src.fd, rec, sizeof(rec)));
	EXPECT_EQ(-EALREADY, dp_confirm(self->p.src.fd, rec, sizeof(rec)));
	/* Both ends count it. */
	ASSERT_EQ(0, tnl_get(&self->t, self->p.src.id, &src));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
	EXPECT_EQ(src.records, dst.records);
	EXPECT_EQ(src.bytes, dst.bytes);
}

/* Pages of A that differ from B's after a migration. */
static __u64 dp_differing_pages(struct _test_data_dp *self)
{
	__u64 page, n = 0;

	for (page = 0; page < self->a.npages; page++)
		n += !!memcmp(tvm_page(&self->a, page), tvm_page(&self->b, page),
			      TVM_PAGE_SIZE);
	return n;
}

/* An honest paused round, the commit and its delivery: B must equal A. */
static void dp_finish(struct __test_metadata *_metadata,
		      struct _test_data_dp *self)
{
	__u32 result = 0;

	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_round(self, NULL));
	ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st));
	ASSERT_EQ(0, dp_deliver(self, TRUSTMIG_OPEN_EOF, &result));
	ASSERT_EQ(TRUSTMIG_OPEN_COMPLETE, result);
	EXPECT_EQ(0, dp_differing_pages(self));
}

/* The guest writes every data page once. */
static int dp_write_all(struct _test_data_dp *self)
{
	return tvm_run_pass(&self->a, 1, self->a.npages - 1, 1);
}

/*
 * A page that went out in a zero run and is written afterwards is dirty
 * again: the next round carries it as a full page, and B ends equal.
 */
TEST_F_TIMEOUT(dp, zero_page_written_after_its_run_is_resent, 120)
{
	size_t offs[4096], n, i, round1;
	const struct trustmig_rec_hdr *h;
	bool resent = false;

	memset(tvm_page(&self->a, 8), 0, 16 * TVM_PAGE_SIZE);
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_round(self, NULL));
	round1 = self->st.len;
	ASSERT_EQ(0, tvm_run_pass(&self->a, 10, 1, 1));
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_round(self, self->bitmap));
	n = tmig_index(&self->st, offs, 4096);
	for (i = 0; i < n; i++) {
		h = (const void *)(self->st.buf + offs[i]);
		if (offs[i] >= round1 && h->type == TRUSTMIG_REC_PAGE &&
		    be32toh(h->gfn_lo) == 10)
			resent = true;
	}
	EXPECT_TRUE(resent);
	dp_finish(_metadata, self);
}

/*
 * Writes between the VMM's first re-protection and its first harvest
 * fault once, then go on unfaulted: the module tracks from ATTACH and
 * seals such pages again once the VMM re-protected them, even when the
 * VMM withholds its bitmap every round.
 */
TEST_F_TIMEOUT(dp, writes_before_first_harvest_with_bitmap_withheld, 120)
{
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_write_all(self));
	ASSERT_EQ(0, dp_round(self, NULL));
	ASSERT_EQ(0, dp_write_all(self));
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_round(self, NULL));
	dp_finish(_metadata, self);
}

/*
 * A page sealed while still writable and written again after its last
 * harvest blocks the commit until it is sealed once more after the VMM
 * re-protected it.
 */
TEST_F_TIMEOUT(dp, commit_refused_while_pages_carried, 120)
{
	struct tnl_session s;

	ASSERT_EQ(0, dp_round(self, NULL));
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_write_all(self));
	ASSERT_EQ(0, dp_round(self, NULL));
	ASSERT_EQ(0, dp_write_all(self));
	EXPECT_EQ(-EBUSY, tmig_commit(self->p.src.fd, &self->st));
	/* Without re-protection, more rounds change nothing. */
	ASSERT_EQ(0, dp_round(self, NULL));
	EXPECT_EQ(-EBUSY, tmig_commit(self->p.src.fd, &self->st));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.src.id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_ACTIVE, s.state);
	dp_finish(_metadata, self);
}

/* Harvesting twice in a round, without re-protecting, loses nothing. */
TEST_F_TIMEOUT(dp, second_harvest_in_round_keeps_carry, 120)
{
	ASSERT_EQ(0, dp_round(self, NULL));
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_write_all(self));
	ASSERT_EQ(0, tmig_seal(self->p.src.fd, &self->a, TRUSTMIG_SEAL_HARVEST,
			       NULL, &self->st));
	ASSERT_EQ(0, dp_write_all(self));
	ASSERT_EQ(0, tmig_seal(self->p.src.fd, &self->a, TRUSTMIG_SEAL_HARVEST,
			       NULL, &self->st));
	ASSERT_EQ(0, dp_write_all(self));
	ASSERT_EQ(0, tmig_end_round(self->p.src.fd, &self->st));
	ASSERT_EQ(0, tvm_harvest(&self->a, self->bitmap));
	ASSERT_EQ(0, dp_round(self, NULL));
	dp_finish(_metadata, self);
}

static int dp_set_logging(struct tvm *vm, bool on)
{
	struct kvm_userspace_memory_region r = {
		.slot = vm->slot,
		.flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.memory_size = vm->mem_size,
		.userspace_addr = (unsigned long)vm->mem,
	};

	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) ? -errno : 0;
}

static void dp_expect_failed(struct __test_metadata *_metadata,
			     struct _test_data_dp *self, __u32 id, __u8 reason)
{
	struct tnl_session s;

	ASSERT_EQ(0, tnl_get(&self->t, id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, s.state);
	EXPECT_EQ(reason, s.reason);
}

/*
 * Dirty logging switched off and on between two calls: back to back, the
 * slab hands the new memslot the old one's address, so only watching
 * KVM's memslot changes sees it.  A write while logging is off would
 * never be logged.
 */
TEST_F(dp, dirty_logging_toggled_fails_session)
{
	ASSERT_EQ(0, dp_round(self, NULL));
	ASSERT_EQ(0, dp_set_logging(&self->a, false));
	ASSERT_EQ(0, dp_set_logging(&self->a, true));
	EXPECT_EQ(-ESTALE, dp_round(self, NULL));
	dp_expect_failed(_metadata, self, self->p.src.id, TRUSTMIG_REASON_SLOT);
	EXPECT_EQ(-EPIPE, tmig_commit(self->p.src.fd, &self->st));
}

/* A memslot sealed and then deleted cannot be part of a whole VM. */
TEST_F_TIMEOUT(dp, sealed_memslot_deleted_fails_commit, 120)
{
	struct kvm_userspace_memory_region extra;
	void *mem;

	mem = dp_slot1_add(self, &extra);
	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, tmig_seal(self->p.src.fd, &self->a, TRUSTMIG_SEAL_HARVEST,
			       NULL, &self->st));
	ASSERT_EQ(256, dp_slot1_seal(self));
	ASSERT_EQ(0, tmig_end_round(self->p.src.fd, &self->st));
	extra.memory_size = 0;
	ASSERT_EQ(0, ioctl(self->a.vm_fd, KVM_SET_USER_MEMORY_REGION, &extra));
	EXPECT_EQ(-ESTALE, tmig_commit(self->p.src.fd, &self->st));
	dp_expect_failed(_metadata, self, self->p.src.id, TRUSTMIG_REASON_SLOT);
	munmap(mem, 1UL << 20);
}

/*
 * SEAL whose result cannot be written back: the records are sealed and
 * their sequence numbers spent, so the session must end.
 */
TEST_F(dp, seal_result_unwritable_fails_session)
{
	long page = sysconf(_SC_PAGESIZE);
	struct trustmig_seal *s;
	void *buf;

	buf = malloc(1 << 20);
	ASSERT_NE(NULL, buf);
	s = mmap(NULL, page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, s);
	s->slot = self->a.slot;
	s->flags = TRUSTMIG_SEAL_HARVEST;
	s->out.buf = (unsigned long)buf;
	s->out.buf_len = 1 << 20;
	ASSERT_EQ(0, mprotect(s, page, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_SEAL, s));
	EXPECT_EQ(EFAULT, errno);
	dp_expect_failed(_metadata, self, self->p.src.id, TRUSTMIG_REASON_FAULT);
	munmap(s, page);
	free(buf);
}

/* Deleting a completed session ends its receipt key too. */
TEST_F_TIMEOUT(dp, deleted_complete_session_refuses_receipt, 120)
{
	__u8 rec[TRUSTMIG_RESUMED_REC_LEN] = { 0 };
	struct trustmig_confirm c = { .buf = (unsigned long)rec,
				      .buf_len = sizeof(rec) };
	struct trustmig_out o = { .buf = (unsigned long)rec,
				  .buf_len = sizeof(rec) };
	__u32 result;

	ASSERT_EQ(0, dp_round(self, NULL));
	ASSERT_EQ(0, tmig_commit(self->p.src.fd, &self->st));
	ASSERT_EQ(0, dp_deliver(self, TRUSTMIG_OPEN_EOF, &result));
	ASSERT_EQ(TRUSTMIG_OPEN_COMPLETE, result);
	ASSERT_EQ(0, tnl_del(&self->t, self->p.src.id));
	ASSERT_EQ(0, tnl_del(&self->t, self->p.dst.id));
	EXPECT_EQ(-1, ioctl(self->p.dst.fd, TRUSTMIG_RESUMED, &o));
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(-1, ioctl(self->p.src.fd, TRUSTMIG_CONFIRM, &c));
	EXPECT_EQ(EPIPE, errno);
	/* Deleted is deleted: the table no longer knows them. */
	EXPECT_EQ(-ENOENT, tnl_del(&self->t, self->p.src.id));
}

/*
 * A VM that logs into a dirty ring has no bitmap for the module to read:
 * refused at ATTACH, not silently unguarded.
 */
TEST_F(dp, dirty_ring_vm_refused)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING };
	struct tmig_pair p;
	int vm_fd, max;

	max = ioctl(self->a.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	if (max <= 0)
		SKIP(return, "this KVM has no dirty ring");
	vm_fd = ioctl(self->a.kvm_fd, KVM_CREATE_VM, 0);
	ASSERT_LE(0, vm_fd);
	cap.args[0] = max > 65536 ? 65536 : max;
	ASSERT_EQ(0, ioctl(vm_fd, KVM_ENABLE_CAP, &cap));
	ASSERT_EQ(0, tmig_pair_new(&self->t, &p, variant->cipher));
	EXPECT_EQ(-EOPNOTSUPP, tmig_attach(&p.src, vm_fd, p.src.ticket));
	tmig_pair_close(&self->t, &p);
	close(vm_fd);
}

/*
 * A VM whose one vCPU sits halted inside KVM_RUN (in-kernel LAPIC, no
 * interrupt will come): in KVM_RUN, but never in the guest, so KVM logs
 * nothing (a vCPU that enters the guest may log its code page anew at
 * every entry under this nested setup).
 */
struct dp_halted {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	void *mem;
	atomic_bool in_run, stop, done;
	int err;
};

#define DP_HALTED_MEM	(64UL << 10)

static int dp_halted_create(struct dp_halted *h, int kvm_fd)
{
	struct kvm_userspace_memory_region r = {
		.flags = KVM_MEM_LOG_DIRTY_PAGES,
		.memory_size = DP_HALTED_MEM,
	};
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_HALTED };

	h->kvm_fd = kvm_fd;
	h->mem = mmap(NULL, DP_HALTED_MEM, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->mem == MAP_FAILED)
		return -errno;
	r.userspace_addr = (unsigned long)h->mem;
	h->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (h->vm_fd < 0 || ioctl(h->vm_fd, KVM_CREATE_IRQCHIP, 0) ||
	    ioctl(h->vm_fd, KVM_SET_USER_MEMORY_REGION, &r))
		return -errno;
	h->vcpu_fd = ioctl(h->vm_fd, KVM_CREATE_VCPU, 0);
	h->run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (h->vcpu_fd < 0 || ioctl(h->vcpu_fd, KVM_SET_MP_STATE, &mp))
		return -errno;
	h->run = mmap(NULL, h->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      h->vcpu_fd, 0);
	return h->run == MAP_FAILED ? -errno : 0;
}

static void dp_halted_destroy(struct dp_halted *h)
{
	munmap(h->run, h->run_size);
	close(h->vcpu_fd);
	close(h->vm_fd);
	munmap(h->mem, DP_HALTED_MEM);
}

static void dp_sigusr1(int sig)
{
}

static void *dp_halted_run(void *arg)
{
	struct dp_halted *h = arg;

	while (!atomic_load(&h->stop)) {
		atomic_store(&h->in_run, true);
		if (ioctl(h->vcpu_fd, KVM_RUN, 0) < 0 && errno != EINTR) {
			h->err = -errno;
			break;
		}
	}
	atomic_store(&h->done, true);
	return NULL;
}

/*
 * The commit's point in time needs every vCPU out of KVM_RUN: a running
 * one could have written a page whose mark is still on its way.
 */
TEST_F(dp, commit_refused_while_vcpu_in_kvm_run)
{
	struct sigaction sa = { .sa_handler = dp_sigusr1 };
	struct trustmig_seal s = { .flags = TRUSTMIG_SEAL_HARVEST };
	struct tmig_stream st = { 0 };
	struct dp_halted h = { 0 };
	struct tmig_pair p;
	pthread_t thread;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, dp_halted_create(&h, self->a.kvm_fd));
	ASSERT_EQ(0, tmig_pair_new(&self->t, &p, variant->cipher));
	ASSERT_EQ(0, tmig_attach(&p.src, h.vm_fd, p.src.ticket));
	s.out.buf = (unsigned long)malloc(1 << 20);
	s.out.buf_len = 1 << 20;
	ASSERT_EQ(0, ioctl(p.src.fd, TRUSTMIG_SEAL, &s));
	free((void *)(unsigned long)s.out.buf);
	ASSERT_EQ(0, s.pages_left);
	ASSERT_EQ(0, tmig_end_round(p.src.fd, &st));

	ASSERT_EQ(0, pthread_create(&thread, NULL, dp_halted_run, &h));
	while (!atomic_load(&h.in_run))
		usleep(1000);
	/* Halted, it stays in KVM_RUN until a signal. */
	usleep(100000);
	EXPECT_EQ(-EBUSY, tmig_commit(p.src.fd, &st));
	atomic_store(&h.stop, true);
	h.run->immediate_exit = 1;
	while (!atomic_load(&h.done)) {
		pthread_kill(thread, SIGUSR1);
		usleep(1000);
	}
	pthread_join(thread, NULL);
	EXPECT_EQ(0, h.err);
	/* Out of KVM_RUN, with nothing logged meanwhile, the VM commits. */
	EXPECT_EQ(0, tmig_commit(p.src.fd, &st));
	tmig_pair_close(&self->t, &p);
	tmig_stream_free(&st);
	dp_halted_destroy(&h);
}

/*
 * KVM lets a VMM switch to a dirty ring after ATTACH (until its first
 * vCPU): from then on the bitmap the module reads stays clear, so the
 * stream can no longer be trusted to be whole.
 */
TEST_F(dp, dirty_ring_enabled_after_attach_fails_session)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING };
	struct tmig_stream st = { 0 };
	struct tmig_pair p;
	struct tvm c;
	int max;

	max = ioctl(self->a.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	if (max <= 0)
		SKIP(return, "this KVM has no dirty ring");
	ASSERT_EQ(0, tvm_create(&c, 2UL << 20, false));
	ASSERT_EQ(0, tmig_pair_new(&self->t, &p, variant->cipher));
	ASSERT_EQ(0, tmig_attach(&p.src, c.vm_fd, p.src.ticket));
	cap.args[0] = max > 65536 ? 65536 : max;
	ASSERT_EQ(0, ioctl(c.vm_fd, KVM_ENABLE_CAP, &cap));
	EXPECT_EQ(-ESTALE, tmig_seal(p.src.fd, &c, TRUSTMIG_SEAL_HARVEST, NULL,
				     &st));
	dp_expect_failed(_metadata, self, p.src.id, TRUSTMIG_REASON_SLOT);
	tmig_pair_close(&self->t, &p);
	tmig_stream_free(&st);
	tvm_destroy(&c);
}

TEST_HARNESS_MAIN
