// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded random adversarial VMM.  Each run is one short migration of VM
 * A into VM B during which the VMM does, in random order, what the
 * interfaces let it do: let the guest write, read KVM's dirty log with or
 * without write-protecting the pages again, hand the module an honest,
 * withheld, forged or partial bitmap, harvest twice in a row, seal in
 * small chunks between guest writes, end rounds early, switch dirty
 * logging off and on, delete and re-create or move the memslot, commit
 * early, and finish with an honest or a dishonest last round.
 *
 * Whatever it does, the destination must never report COMPLETE with
 * memory that differs from the source's.  After every run either the
 * source's commit succeeded and B, given the whole stream, completes and
 * equals A page for page; or the migration did not complete (commit
 * refused, or the source failed with a documented reason) and B, given
 * every record sealed and the end of the stream, fails it as truncated.
 * Every errno a trustmig ioctl returns must be a documented one.
 *
 * Environment:
 *   TRUSTMIG_ADVERSARY_SEED       base seed (default: random; printed)
 *   TRUSTMIG_ADVERSARY_SECONDS    time budget of both variants together
 *                                 (default 100, half each, at most
 *                                 ADV_MAX_SECONDS each)
 *   TRUSTMIG_ADVERSARY_RUNS       at most this many runs per variant
 *   TRUSTMIG_ADVERSARY_FIRST_RUN  index of the first run (to replay one)
 *
 * Each run starts from the same KVM state (the whole dirty log read and
 * cleared) and draws everything from its own seed, a function of the base
 * seed, the cipher and its index: a failure prints how to replay it
 * alone, and the trace of what the VMM did, one token per action:
 *
 *   pF+N/S     the guest writes every S-th page of the N from page F
 *   gN         KVM_GET_DIRTY_LOG, N pages dirty
 *   cXN, c-    KVM_CLEAR_DIRTY_LOG of N pages, X: a(ll read so far),
 *              s(ome of them), f(orged); c-: left writable
 *   HKR        TRUSTMIG_SEAL with HARVEST, bitmap K: h(onest), 0
 *              (withheld), f(orged), p(artial); room R: * (until nothing
 *              is pending), 1-3 records, t (less than one)
 *   sR         TRUSTMIG_SEAL without HARVEST
 *              either followed by the records sealed and >pages_left
 *   e, K       TRUSTMIG_END_ROUND, TRUSTMIG_COMMIT (=ok)
 *   T[ ]       dirty logging off, what happened meanwhile, on again
 *   R[ ], M[ ] slot 0 deleted and re-created, moved away and back
 *   Fh:, Fd:   the guest paused for good, honest or dishonest last round
 *   retry:     one more honest round after the commit said EBUSY
 *   !ERRNO     what a trustmig call returned
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "tmig.h"

#define ADV_VM_SIZE		(2UL << 20)
/* Where a moved slot 0 goes for a while; nothing else lives there. */
#define ADV_MOVED_GPA		0x40000000UL	/* 1 GiB */
#define ADV_REC_LEN		(sizeof(struct trustmig_rec_hdr) + \
				 TRUSTMIG_PAGE_SIZE + TRUSTMIG_TAG_LEN)
/* A buffer too small for one record. */
#define ADV_TINY_BUF		100
/* Records per SEAL call when sealing until nothing is pending. */
#define ADV_BATCH		64
#define ADV_STEPS_MIN		10
#define ADV_STEPS_MAX		40
#define ADV_LOG_LEN		4096
#define ADV_LOG_LINE		72
#define ADV_VARIANTS		2
#define ADV_SECONDS		100
/* Per variant: below the harness timeout, with room for a slow run. */
#define ADV_MAX_SECONDS		200
#define ADV_TIMEOUT		290
/* Runs whose whole action log is printed. */
#define ADV_SHOW_LOGS		10
#define ADV_NR_REASONS		32

enum adv_outcome {
	ADV_COMPLETE_IDENTICAL,
	ADV_COMPLETE_DIFFERENT,		/* the property broken */
	ADV_COMPLETE_REFUSED,		/* committed, B did not complete */
	ADV_DEST_COMPLETE_UNCOMMITTED,	/* B completed, A never committed */
	ADV_DEST_NOT_TRUNCATED,		/* B failed otherwise than ENODATA */
	ADV_REFUSED_BUSY,		/* A's last commit said EBUSY */
	ADV_FAILED_SLOT,		/* A failed: memslot changed */
	ADV_FAILED_OTHER,		/* A failed for another reason */
	ADV_NR_OUTCOMES
};

static const char * const adv_outcome_names[ADV_NR_OUTCOMES] = {
	[ADV_COMPLETE_IDENTICAL] = "complete_identical",
	[ADV_COMPLETE_DIFFERENT] = "complete_different",
	[ADV_COMPLETE_REFUSED] = "committed_but_dest_incomplete",
	[ADV_DEST_COMPLETE_UNCOMMITTED] = "dest_complete_uncommitted",
	[ADV_DEST_NOT_TRUNCATED] = "dest_not_truncated",
	[ADV_REFUSED_BUSY] = "commit_refused_busy",
	[ADV_FAILED_SLOT] = "failed_slot_estale",
	[ADV_FAILED_OTHER] = "failed_other",
};

static bool adv_outcome_bad(enum adv_outcome o)
{
	return o == ADV_COMPLETE_DIFFERENT || o == ADV_COMPLETE_REFUSED ||
	       o == ADV_DEST_COMPLETE_UNCOMMITTED ||
	       o == ADV_DEST_NOT_TRUNCATED;
}

enum adv_action {
	ADV_PASS,
	ADV_GET,
	ADV_CLEAR,
	ADV_HARVEST,
	ADV_CHUNK,
	ADV_END_ROUND,
	ADV_COMMIT,
	ADV_TOGGLE,
	ADV_RECREATE,
	ADV_MOVE,
	ADV_NR_ACTIONS
};

static const unsigned int adv_weight[ADV_NR_ACTIONS] = {
	[ADV_PASS] = 6,
	[ADV_GET] = 3,
	[ADV_CLEAR] = 3,
	[ADV_HARVEST] = 4,
	[ADV_CHUNK] = 4,
	[ADV_END_ROUND] = 2,
	[ADV_COMMIT] = 1,
	[ADV_TOGGLE] = 1,
	[ADV_RECREATE] = 1,
	[ADV_MOVE] = 1,
};

/* The bitmap a harvesting SEAL gets. */
enum adv_bitmap {
	ADV_BM_HONEST,		/* everything read from KVM since the last */
	ADV_BM_NONE,		/* withheld */
	ADV_BM_FORGED,		/* random bits */
	ADV_BM_PARTIAL,		/* a random part of the honest one */
	ADV_NR_BM
};

enum adv_clear {
	ADV_CLEAR_ALL,		/* everything read */
	ADV_CLEAR_SOME,		/* a random part of it */
	ADV_CLEAR_FORGED,	/* random bits, read or not */
	ADV_CLEAR_NONE,		/* leave the pages writable */
};

FIXTURE(adv) {
	struct tnl t;
	struct tvm a, b;
	struct tmig_pair p;
	bool paired;
	struct tmig_stream st;
	size_t words;		/* longs in a bitmap of the slot */
	unsigned long *vmm;	/* read from KVM, not handed to SEAL yet */
	unsigned long *got;	/* one KVM_GET_DIRTY_LOG */
	unsigned long *arg;	/* what goes to SEAL or KVM_CLEAR_DIRTY_LOG */
	/* Slot 0 of A as the test last set it. */
	__u64 slot_gpa;
	__u32 slot_flags;
	bool slot_present;
	/* This run. */
	__u64 rng;
	unsigned int swarm;	/* actions enabled, by enum adv_action */
	bool tracked;		/* a harvesting SEAL succeeded */
	bool changed;		/* slot 0 is not as tvm_create() made it */
	bool failed;		/* the source session failed */
	bool committed;		/* the source's commit succeeded */
	unsigned int bad;	/* undocumented errnos */
	char log[ADV_LOG_LEN];
	size_t log_len;
	/* All runs. */
	unsigned int counts[ADV_NR_OUTCOMES];
	unsigned int reasons[ADV_NR_REASONS];
	unsigned int bad_runs, early_commits, busy_retries, slot_runs;
	unsigned int logs_shown;
};

FIXTURE_VARIANT(adv) {
	__u8 cipher;
};

FIXTURE_VARIANT_ADD(adv, aes256gcm) {
	.cipher = TRUSTMIG_CIPHER_AES256GCM,
};

FIXTURE_VARIANT_ADD(adv, chacha20poly1305) {
	.cipher = TRUSTMIG_CIPHER_CHACHA20POLY1305,
};

FIXTURE_SETUP(adv)
{
	size_t bytes;

	self->p.src.fd = -1;
	self->p.dst.fd = -1;
	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, tvm_create(&self->a, ADV_VM_SIZE, true));
	ASSERT_EQ(0, tvm_create(&self->b, ADV_VM_SIZE, false));
	self->slot_present = true;
	self->slot_flags = KVM_MEM_LOG_DIRTY_PAGES;
	bytes = tvm_bitmap_bytes(self->a.npages);
	self->words = bytes / sizeof(long);
	self->vmm = calloc(1, bytes);
	self->got = calloc(1, bytes);
	self->arg = calloc(1, bytes);
	ASSERT_NE(NULL, self->vmm);
	ASSERT_NE(NULL, self->got);
	ASSERT_NE(NULL, self->arg);
}

FIXTURE_TEARDOWN(adv)
{
	if (self->paired)
		tmig_pair_close(&self->t, &self->p);
	tmig_stream_free(&self->st);
	free(self->vmm);
	free(self->got);
	free(self->arg);
	tvm_destroy(&self->a);
	tvm_destroy(&self->b);
	tnl_close(&self->t);
}

/* splitmix64 */
static __u64 adv_mix(__u64 *state)
{
	__u64 z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static __u64 adv_rand(struct _test_data_adv *self)
{
	return adv_mix(&self->rng);
}

/* Uniform enough in [0, n) for n far below 2^64. */
static __u32 adv_below(struct _test_data_adv *self, __u32 n)
{
	return adv_rand(self) % n;
}

static void adv_log(struct _test_data_adv *self, const char *fmt, ...)
{
	size_t room = sizeof(self->log) - self->log_len;
	va_list ap;
	int n;

	if (room <= 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(self->log + self->log_len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	self->log_len += (size_t)n < room ? (size_t)n : room - 1;
}

static const char *adv_errname(int err)
{
	switch (-err) {
	case EBUSY:
		return "EBUSY";
	case ENOBUFS:
		return "ENOBUFS";
	case ESTALE:
		return "ESTALE";
	case EINVAL:
		return "EINVAL";
	case EPIPE:
		return "EPIPE";
	case ENOTCONN:
		return "ENOTCONN";
	case EALREADY:
		return "EALREADY";
	case ENODATA:
		return "ENODATA";
	case EFAULT:
		return "EFAULT";
	case EPROTO:
		return "EPROTO";
	case ERANGE:
		return "ERANGE";
	case EBADMSG:
		return "EBADMSG";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	case ENOMEM:
		return "ENOMEM";
	}
	return NULL;
}

static void adv_log_err(struct _test_data_adv *self, int err)
{
	const char *name = adv_errname(err);

	if (name)
		adv_log(self, "!%s", name);
	else
		adv_log(self, "!E%d", -err);
}

/*
 * Is @err documented for this call in this state?  EINVAL only for a SEAL
 * of a slot the session does not track yet or that is not logging (or
 * not there); EPIPE/ENOTCONN only once the session failed.
 */
static bool adv_errno_ok(struct _test_data_adv *self, bool seal, int err)
{
	switch (-err) {
	case 0:
	case EBUSY:
	case ENOBUFS:
	case ESTALE:
		return true;
	case EINVAL:
		return seal && (!self->tracked || self->changed);
	case EPIPE:
	case ENOTCONN:
		return self->failed;
	}
	return false;
}

static int adv_note(struct _test_data_adv *self, bool seal, int err)
{
	if (!adv_errno_ok(self, seal, err)) {
		self->bad++;
		adv_log(self, "(undocumented)");
	}
	if (err == -ESTALE)
		self->failed = true;
	return err;
}

static __u64 adv_count(const struct _test_data_adv *self,
		       const unsigned long *bitmap)
{
	return tvm_bitmap_count(bitmap, self->a.npages);
}

/* KVM_SET_USER_MEMORY_REGION on A's slot 0, same memory and size. */
static void adv_set_slot(struct __test_metadata *_metadata,
			 struct _test_data_adv *self, bool present, __u64 gpa,
			 __u32 flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = self->a.slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = present ? self->a.mem_size : 0,
		.userspace_addr = (unsigned long)self->a.mem,
	};

	ASSERT_EQ(0, ioctl(self->a.vm_fd, KVM_SET_USER_MEMORY_REGION, &r));
	self->slot_present = present;
	self->slot_gpa = gpa;
	self->slot_flags = flags;
	self->changed = !present || gpa ||
			!(flags & KVM_MEM_LOG_DIRTY_PAGES);
}

/* Slot 0 back at gpa 0, logging, whatever a step left it as. */
static void adv_restore_slot(struct __test_metadata *_metadata,
			     struct _test_data_adv *self)
{
	if (!self->slot_present || self->slot_gpa ||
	    self->slot_flags != KVM_MEM_LOG_DIRTY_PAGES)
		adv_set_slot(_metadata, self, true, 0,
			     KVM_MEM_LOG_DIRTY_PAGES);
}

/* The guest writes a word into every stride-th page of a random range. */
static void adv_pass(struct __test_metadata *_metadata,
		     struct _test_data_adv *self)
{
	__u32 npages = self->a.npages, first, count, stride, max;

	first = 1 + adv_below(self, npages - 1);
	max = npages - first;
	if (adv_below(self, 2))
		count = 1 + adv_below(self, max < 32 ? max : 32);
	else
		count = 1 + adv_below(self, max);
	stride = 1 + adv_below(self, 8);
	adv_log(self, " p%u+%u/%u", first, count, stride);
	ASSERT_EQ(0, self->slot_gpa);
	ASSERT_EQ(0, tvm_run_pass(&self->a, first, count, stride));
}

/* KVM_GET_DIRTY_LOG, or-ed into what the VMM holds; nothing cleared. */
static void adv_get(struct __test_metadata *_metadata,
		    struct _test_data_adv *self)
{
	struct kvm_dirty_log log = {
		.slot = self->a.slot,
		.dirty_bitmap = self->got,
	};
	size_t i;

	ASSERT_EQ(0, ioctl(self->a.vm_fd, KVM_GET_DIRTY_LOG, &log));
	for (i = 0; i < self->words; i++)
		self->vmm[i] |= self->got[i];
	adv_log(self, " g%llu", (unsigned long long)adv_count(self, self->got));
}

static void adv_random_bits(struct _test_data_adv *self, unsigned long *bitmap,
			    const unsigned long *mask)
{
	size_t i;

	for (i = 0; i < self->words; i++) {
		bitmap[i] = adv_rand(self);
		if (mask)
			bitmap[i] &= mask[i];
	}
}

/* KVM_CLEAR_DIRTY_LOG: write-protects again the pages it clears. */
static void adv_clear(struct __test_metadata *_metadata,
		      struct _test_data_adv *self, enum adv_clear how)
{
	struct kvm_clear_dirty_log c = {
		.slot = self->a.slot,
		.first_page = 0,
		.num_pages = self->a.npages,
		.dirty_bitmap = self->arg,
	};
	static const char tag[] = "asf";

	switch (how) {
	case ADV_CLEAR_ALL:
		memcpy(self->arg, self->vmm, self->words * sizeof(long));
		break;
	case ADV_CLEAR_SOME:
		adv_random_bits(self, self->arg, self->vmm);
		break;
	case ADV_CLEAR_FORGED:
		adv_random_bits(self, self->arg, NULL);
		break;
	case ADV_CLEAR_NONE:
		adv_log(self, " c-");
		return;
	}
	adv_log(self, " c%c%llu", tag[how],
		(unsigned long long)adv_count(self, self->arg));
	ASSERT_EQ(0, ioctl(self->a.vm_fd, KVM_CLEAR_DIRTY_LOG, &c));
}

static enum adv_clear adv_random_clear(struct _test_data_adv *self)
{
	switch (adv_below(self, 8)) {
	case 0: case 1: case 2: case 3:
		return ADV_CLEAR_ALL;
	case 4: case 5:
		return ADV_CLEAR_SOME;
	case 6:
		return ADV_CLEAR_FORGED;
	}
	return ADV_CLEAR_NONE;
}

/*
 * TRUSTMIG_SEAL into the run's stream: once with @buf_len bytes of room,
 * or (@drain) in ADV_BATCH-record calls until nothing is pending.
 */
static int adv_seal(struct __test_metadata *_metadata,
		    struct _test_data_adv *self, __u32 flags,
		    const unsigned long *bitmap, size_t buf_len, bool drain)
{
	struct trustmig_seal s = {
		.slot = self->a.slot,
		.flags = flags,
		.dirty_bitmap = (unsigned long)bitmap,
	};
	unsigned int calls = 0;
	__u64 records = 0;
	int err;

	if (drain)
		buf_len = ADV_BATCH * ADV_REC_LEN;
	do {
		ASSERT_EQ(0, tmig_reserve(&self->st, buf_len));
		s.out.buf = (unsigned long)(self->st.buf + self->st.len);
		s.out.buf_len = buf_len;
		err = ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s) ? -errno : 0;
		if (err)
			break;
		self->st.len += s.out.bytes;
		records += s.out.records;
		s.flags = 0;
		s.dirty_bitmap = 0;
		/* Without guest writes, pending only shrinks. */
	} while (drain && s.pages_left && ++calls <= self->a.npages);
	adv_log(self, "%llu", (unsigned long long)records);
	if (err)
		adv_log_err(self, err);
	else
		adv_log(self, ">%llu", (unsigned long long)s.pages_left);
	if (drain && !err && s.pages_left) {
		adv_log(self, "(drain stuck)");
		self->bad++;
	}
	return adv_note(self, true, err);
}

/* Room for 1-3 records, or (now and then) for none. */
static size_t adv_random_buf(struct _test_data_adv *self, char *tag)
{
	__u32 n;

	if (!adv_below(self, 8)) {
		*tag = 't';
		return ADV_TINY_BUF;
	}
	n = 1 + adv_below(self, 3);
	*tag = '0' + n;
	return n * ADV_REC_LEN;
}

/* A harvesting SEAL with the bitmap @kind; drains or seals one chunk. */
static int adv_harvest(struct __test_metadata *_metadata,
		       struct _test_data_adv *self, enum adv_bitmap kind,
		       bool drain)
{
	static const char tag[] = "h0fp";
	const unsigned long *bitmap = NULL;
	size_t buf_len = 0;
	char size = '*';
	int err;

	switch (kind) {
	case ADV_BM_HONEST:
		bitmap = self->vmm;
		break;
	case ADV_BM_NONE:
		break;
	case ADV_BM_FORGED:
		adv_random_bits(self, self->arg, NULL);
		bitmap = self->arg;
		break;
	case ADV_BM_PARTIAL:
		adv_random_bits(self, self->arg, self->vmm);
		bitmap = self->arg;
		break;
	case ADV_NR_BM:
		break;
	}
	if (!drain)
		buf_len = adv_random_buf(self, &size);
	adv_log(self, " H%c%c", tag[kind], size);
	err = adv_seal(_metadata, self, TRUSTMIG_SEAL_HARVEST, bitmap,
		       buf_len, drain);
	if (!err || err == -ENOBUFS) {
		if (!self->changed)
			self->tracked = true;
		/* Handed over, or forgotten: the VMM starts afresh. */
		memset(self->vmm, 0, self->words * sizeof(long));
	}
	return err;
}

/* A random harvest; draws in a fixed order, so that runs replay. */
static int adv_random_harvest(struct __test_metadata *_metadata,
			      struct _test_data_adv *self)
{
	enum adv_bitmap kind = adv_below(self, ADV_NR_BM);
	bool drain = adv_below(self, 3);

	return adv_harvest(_metadata, self, kind, drain);
}

/* A SEAL without harvest: whatever is still pending, a chunk of it. */
static int adv_chunk(struct __test_metadata *_metadata,
		     struct _test_data_adv *self, bool drain)
{
	size_t buf_len = 0;
	char size = '*';

	if (!drain)
		buf_len = adv_random_buf(self, &size);
	adv_log(self, " s%c", size);
	return adv_seal(_metadata, self, 0, NULL, buf_len, drain);
}

static int adv_end_round(struct _test_data_adv *self)
{
	int err = tmig_end_round(self->p.src.fd, &self->st);

	adv_log(self, " e");
	if (err)
		adv_log_err(self, err);
	return adv_note(self, false, err);
}

static int adv_commit(struct _test_data_adv *self)
{
	int err = tmig_commit(self->p.src.fd, &self->st);

	adv_log(self, " K");
	if (err)
		adv_log_err(self, err);
	else
		adv_log(self, "=ok");
	if (!err)
		self->committed = true;
	return adv_note(self, false, err);
}

/* A trustmig call while slot 0 is off, away or gone. */
static void adv_probe(struct __test_metadata *_metadata,
		      struct _test_data_adv *self)
{
	/* A moved slot never tracked would be sealed at the wrong gfns. */
	if (self->slot_gpa && !self->tracked)
		return;
	switch (adv_below(self, 4)) {
	case 0:
		adv_harvest(_metadata, self, adv_below(self, ADV_NR_BM),
			    false);
		break;
	case 1:
		adv_chunk(_metadata, self, false);
		break;
	case 2:
		adv_end_round(self);
		break;
	default:
		adv_commit(self);
		break;
	}
}

/* Dirty logging off (the guest may write meanwhile), then on again. */
static void adv_toggle(struct __test_metadata *_metadata,
		       struct _test_data_adv *self)
{
	adv_log(self, " T[");
	adv_set_slot(_metadata, self, true, 0, 0);
	if (adv_below(self, 2))
		adv_pass(_metadata, self);
	if (!adv_below(self, 3))
		adv_probe(_metadata, self);
	adv_set_slot(_metadata, self, true, 0, KVM_MEM_LOG_DIRTY_PAGES);
	adv_log(self, " ]");
}

/* Slot 0 deleted, then created again just as it was. */
static void adv_recreate(struct __test_metadata *_metadata,
			 struct _test_data_adv *self)
{
	adv_log(self, " R[");
	adv_set_slot(_metadata, self, false, 0, KVM_MEM_LOG_DIRTY_PAGES);
	if (!adv_below(self, 3))
		adv_probe(_metadata, self);
	adv_set_slot(_metadata, self, true, 0, KVM_MEM_LOG_DIRTY_PAGES);
	adv_log(self, " ]");
}

/* Slot 0 moved away and back; the guest does not run meanwhile. */
static void adv_move(struct __test_metadata *_metadata,
		     struct _test_data_adv *self)
{
	adv_log(self, " M[");
	adv_set_slot(_metadata, self, true, ADV_MOVED_GPA,
		     KVM_MEM_LOG_DIRTY_PAGES);
	if (!adv_below(self, 3))
		adv_probe(_metadata, self);
	adv_set_slot(_metadata, self, true, 0, KVM_MEM_LOG_DIRTY_PAGES);
	adv_log(self, " ]");
}

/* What an honest VMM does with the guest paused: one whole round. */
static void adv_honest_round(struct __test_metadata *_metadata,
			     struct _test_data_adv *self)
{
	adv_get(_metadata, self);
	adv_clear(_metadata, self, ADV_CLEAR_ALL);
	if (!adv_harvest(_metadata, self, ADV_BM_HONEST, true))
		adv_end_round(self);
}

/* The guest paused for good; an honest or a dishonest last round. */
static void adv_final(struct __test_metadata *_metadata,
		      struct _test_data_adv *self)
{
	bool honest = adv_below(self, 2);

	adv_log(self, " F%c:", honest ? 'h' : 'd');
	if (honest) {
		adv_honest_round(_metadata, self);
	} else {
		if (adv_below(self, 2))
			adv_get(_metadata, self);
		if (adv_below(self, 2))
			adv_clear(_metadata, self, adv_random_clear(self));
		if (adv_below(self, 3))
			adv_random_harvest(_metadata, self);
		if (adv_below(self, 2))
			adv_chunk(_metadata, self, true);
		if (adv_below(self, 3))
			adv_end_round(self);
	}
	if (adv_commit(self) == -EBUSY && adv_below(self, 2)) {
		self->busy_retries++;
		adv_log(self, " retry:");
		adv_honest_round(_metadata, self);
		adv_commit(self);
	}
}

static void adv_step(struct __test_metadata *_metadata,
		     struct _test_data_adv *self)
{
	unsigned int total = 0, pick, a;

	for (a = 0; a < ADV_NR_ACTIONS; a++)
		if (self->swarm & (1U << a))
			total += adv_weight[a];
	pick = adv_below(self, total);
	for (a = 0; a < ADV_NR_ACTIONS; a++) {
		if (!(self->swarm & (1U << a)))
			continue;
		if (pick < adv_weight[a])
			break;
		pick -= adv_weight[a];
	}

	switch (a) {
	case ADV_PASS:
		adv_pass(_metadata, self);
		break;
	case ADV_GET:
		adv_get(_metadata, self);
		break;
	case ADV_CLEAR:
		adv_clear(_metadata, self, adv_random_clear(self));
		break;
	case ADV_HARVEST:
		adv_random_harvest(_metadata, self);
		/* Twice in a row, without re-protecting anything. */
		if (!adv_below(self, 4))
			adv_random_harvest(_metadata, self);
		break;
	case ADV_CHUNK:
		adv_chunk(_metadata, self, false);
		break;
	case ADV_END_ROUND:
		adv_end_round(self);
		break;
	case ADV_COMMIT:
		if (!adv_commit(self))
			self->early_commits++;
		break;
	case ADV_TOGGLE:
		adv_toggle(_metadata, self);
		break;
	case ADV_RECREATE:
		adv_recreate(_metadata, self);
		break;
	case ADV_MOVE:
		adv_move(_metadata, self);
		break;
	}
}

/*
 * Swarm testing: each run uses only some of the actions.  The guest's
 * writes and harvesting are always there; memslot games in few runs, so
 * that enough runs can complete.
 */
static unsigned int adv_random_swarm(struct _test_data_adv *self)
{
	unsigned int swarm = 1U << ADV_PASS | 1U << ADV_HARVEST;
	enum adv_action a;

	for (a = ADV_GET; a <= ADV_COMMIT; a++)
		if (adv_below(self, 4))
			swarm |= 1U << a;
	for (a = ADV_TOGGLE; a <= ADV_MOVE; a++)
		if (!adv_below(self, 4))
			swarm |= 1U << a;
	return swarm;
}

static __u64 adv_diff(struct _test_data_adv *self, __u64 *first)
{
	__u64 pg, n = 0;

	for (pg = 0; pg < self->a.npages; pg++) {
		if (!memcmp(tvm_page(&self->a, pg), tvm_page(&self->b, pg),
			    TVM_PAGE_SIZE))
			continue;
		if (!n++)
			*first = pg;
	}
	return n;
}

static void adv_show_log(struct __test_metadata *_metadata,
			 struct _test_data_adv *self)
{
	const char *p = self->log, *end = self->log + self->log_len;
	const char *cut, *sp;

	while (p < end) {
		cut = end - p > ADV_LOG_LINE ? p + ADV_LOG_LINE : end;
		if (cut < end) {
			for (sp = cut; sp > p && *sp != ' '; sp--)
				;
			if (sp > p)
				cut = sp;
		}
		TH_LOG("  %.*s", (int)(cut - p), p);
		p = cut;
		while (p < end && *p == ' ')
			p++;
	}
}

/* Feeds B the whole stream and the end of it; judges the run. */
static enum adv_outcome adv_judge(struct __test_metadata *_metadata,
				  struct _test_data_adv *self, __u64 base,
				  unsigned int run, __u64 seed)
{
	struct tnl_session src, dst;
	struct trustmig_open o;
	__u64 diff = 0, first = 0;
	enum adv_outcome out;
	bool complete;
	int err;

	err = tmig_open(self->p.dst.fd, self->st.buf, self->st.len,
			TRUSTMIG_OPEN_EOF, &o);
	complete = !err && o.result & TRUSTMIG_OPEN_COMPLETE;
	ASSERT_EQ(0, tnl_get(&self->t, self->p.src.id, &src));
	ASSERT_EQ(0, tnl_get(&self->t, self->p.dst.id, &dst));
	if (complete)
		diff = adv_diff(self, &first);

	if (complete && diff)
		out = ADV_COMPLETE_DIFFERENT;
	else if (self->committed)
		out = complete ? ADV_COMPLETE_IDENTICAL : ADV_COMPLETE_REFUSED;
	else if (complete)
		out = ADV_DEST_COMPLETE_UNCOMMITTED;
	else if (err != -ENODATA || dst.state != TRUSTMIG_STATE_FAILED ||
		 dst.reason != TRUSTMIG_REASON_TRUNCATED)
		out = ADV_DEST_NOT_TRUNCATED;
	else if (src.state != TRUSTMIG_STATE_FAILED)
		out = ADV_REFUSED_BUSY;
	else if (src.reason == TRUSTMIG_REASON_SLOT)
		out = ADV_FAILED_SLOT;
	else
		out = ADV_FAILED_OTHER;
	if (out == ADV_FAILED_OTHER)
		self->reasons[src.reason % ADV_NR_REASONS]++;

	if (!adv_outcome_bad(out) && !self->bad)
		return out;
	TH_LOG("run %u (seed %#llx): %s, %u undocumented errno(s)", run,
	       (unsigned long long)seed, adv_outcome_names[out], self->bad);
	TH_LOG("  %llu of %llu pages differ (first %llu), %zu bytes sealed",
	       (unsigned long long)diff, (unsigned long long)self->a.npages,
	       (unsigned long long)first, self->st.len);
	TH_LOG("  destination: open %d, state %u reason %u", err, dst.state,
	       dst.reason);
	TH_LOG("  source: state %u reason %u", src.state, src.reason);
	if (self->logs_shown < ADV_SHOW_LOGS) {
		self->logs_shown++;
		TH_LOG("  replay: TRUSTMIG_ADVERSARY_SEED=%#llx", base);
		TH_LOG("          TRUSTMIG_ADVERSARY_FIRST_RUN=%u", run);
		TH_LOG("          TRUSTMIG_ADVERSARY_RUNS=1");
		TH_LOG("  actions:");
		adv_show_log(_metadata, self);
	}
	return out;
}

/* One migration, start to end. */
static enum adv_outcome adv_run(struct __test_metadata *_metadata,
				struct _test_data_adv *self,
				const struct _fixture_variant_adv *variant,
				__u64 base, unsigned int run)
{
	__u64 seed = base ^ ((__u64)variant->cipher << 56) ^
		     ((__u64)run * 0xd6e8feb86659fd93ULL);
	unsigned int step, nsteps;
	enum adv_outcome out;

	seed = adv_mix(&seed);
	self->rng = seed;
	self->st.len = 0;
	self->log_len = 0;
	self->log[0] = '\0';
	self->tracked = false;
	self->failed = false;
	self->committed = false;
	self->bad = 0;
	memset(self->vmm, 0, self->words * sizeof(long));

	/* Same KVM state at every start: all pages write-protected. */
	ASSERT_EQ(0, tvm_harvest(&self->a, self->got));
	tvm_fill(&self->a, seed);
	memset(self->b.mem, 0xa5, self->b.mem_size);
	ASSERT_EQ(0, tmig_pair_new(&self->t, &self->p, variant->cipher));
	self->paired = true;
	ASSERT_EQ(0, tmig_attach(&self->p.src, self->a.vm_fd,
				 self->p.src.ticket));
	ASSERT_EQ(0, tmig_attach(&self->p.dst, self->b.vm_fd,
				 self->p.dst.ticket));

	self->swarm = adv_random_swarm(self);
	nsteps = ADV_STEPS_MIN +
		 adv_below(self, ADV_STEPS_MAX - ADV_STEPS_MIN + 1);
	adv_log(self, "swarm %#x steps %u:", self->swarm, nsteps);
	if (self->swarm & (1U << ADV_TOGGLE | 1U << ADV_RECREATE |
			   1U << ADV_MOVE))
		self->slot_runs++;
	for (step = 0; step < nsteps; step++) {
		if (self->committed || self->failed || self->bad)
			break;
		if (step == nsteps - 1 || !adv_below(self, 16)) {
			adv_final(_metadata, self);
			break;
		}
		adv_step(_metadata, self);
	}
	/* A failed session stays failed. */
	if (self->failed && !self->committed)
		adv_commit(self);
	adv_restore_slot(_metadata, self);

	out = adv_judge(_metadata, self, base, run, seed);
	if (self->bad)
		self->bad_runs++;
	tmig_pair_close(&self->t, &self->p);
	self->paired = false;
	return out;
}

static unsigned long long adv_env(struct __test_metadata *_metadata,
				  const char *name, unsigned long long def)
{
	const char *v = getenv(name);
	unsigned long long n;
	char *end;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtoull(v, &end, 0);
	ASSERT_TRUE(!errno && !*end) {
		TH_LOG("%s=%s: not a number", name, v);
	}
	return n;
}

/* One base seed for the whole binary: drawn before the tests fork. */
static unsigned long long adv_base_seed;

static void __attribute__((constructor)) adv_seed_init(void)
{
	if (getrandom(&adv_base_seed, sizeof(adv_base_seed), 0) !=
	    sizeof(adv_base_seed))
		adv_base_seed = time(NULL) ^ ((unsigned long long)getpid() << 32);
}

static double adv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

TEST_F_TIMEOUT(adv, no_complete_with_stale_pages, ADV_TIMEOUT)
{
	unsigned long long base, seconds, max_runs, first_run;
	char summary[1024];
	unsigned int run, runs = 0, i;
	enum adv_outcome out;
	size_t len = 0;
	double deadline;

	base = adv_env(_metadata, "TRUSTMIG_ADVERSARY_SEED", adv_base_seed);
	seconds = adv_env(_metadata, "TRUSTMIG_ADVERSARY_SECONDS",
			  ADV_SECONDS) / ADV_VARIANTS;
	if (seconds > ADV_MAX_SECONDS)
		seconds = ADV_MAX_SECONDS;
	max_runs = adv_env(_metadata, "TRUSTMIG_ADVERSARY_RUNS", ~0U);
	first_run = adv_env(_metadata, "TRUSTMIG_ADVERSARY_FIRST_RUN", 0);
	TH_LOG("base seed %#llx (TRUSTMIG_ADVERSARY_SEED), first run %llu",
	       base, first_run);
	TH_LOG("budget %llu s, at most %llu runs", seconds, max_runs);

	deadline = adv_now() + seconds;
	for (run = first_run; runs < max_runs && adv_now() < deadline; run++) {
		out = adv_run(_metadata, self, variant, base, run);
		self->counts[out]++;
		runs++;
	}

	for (i = 0; i < ADV_NR_OUTCOMES; i++)
		len += snprintf(summary + len, sizeof(summary) - len, " %s=%u",
				adv_outcome_names[i], self->counts[i]);
	for (i = 0; i < ADV_NR_REASONS; i++)
		if (self->reasons[i])
			len += snprintf(summary + len, sizeof(summary) - len,
					" (reason %u: %u)", i,
					self->reasons[i]);
	TH_LOG("%u runs (seed %#llx):%s", runs, base, summary);
	TH_LOG("undocumented_errno_runs=%u early_commits=%u busy_retries=%u",
	       self->bad_runs, self->early_commits, self->busy_retries);
	TH_LOG("slot_game_runs=%u", self->slot_runs);

	EXPECT_EQ(0, self->counts[ADV_COMPLETE_DIFFERENT]);
	EXPECT_EQ(0, self->counts[ADV_COMPLETE_REFUSED]);
	EXPECT_EQ(0, self->counts[ADV_DEST_COMPLETE_UNCOMMITTED]);
	EXPECT_EQ(0, self->counts[ADV_DEST_NOT_TRUNCATED]);
	EXPECT_EQ(0, self->bad_runs);
	/* A test that never completes a migration proves nothing. */
	EXPECT_LT(0, self->counts[ADV_COMPLETE_IDENTICAL]);
}

TEST_HARNESS_MAIN
