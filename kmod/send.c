// SPDX-License-Identifier: GPL-2.0
/*
 * The records a /dev/trustmig file produces: a source seals its VM's
 * pages, its state, round ends and the commit; a destination seals its
 * receipt once its VM runs.
 *
 * Each call seals on one lane, in the lane's buffer, and copies every
 * record to the VMM whole.  Sealing spends the record's sequence number,
 * which is its nonce: a record the VMM does not get leaves a gap the
 * lane cannot go on with, so such a failure fails the session.
 *
 * Calls on different lanes run at once.  Pages are read, up to
 * TRUSTMIG_READ_BATCH per hold, and their dirty state settled, under
 * KVM's slots_lock (dirty.c says why); the zero test, the cipher and
 * the copy to the VMM run with the lane's lock alone.
 */
#include <linux/bitmap.h>
#include <linux/kvm_host.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "device.h"
#include "dirty.h"
#include "seal.h"
#include "send.h"
#include "session.h"

/*
 * Seal @rec (header still to fill, @len bytes of payload in place) on
 * the call's lane and copy the record to @ubuf.  Returns its size.
 */
static int trustmig_seal_rec(struct trustmig_lane_call *c, u8 *rec, u8 type,
			     u64 gfn, unsigned int len, u8 __user *ubuf)
{
	struct trustmig_rec_hdr *hdr = (struct trustmig_rec_hdr *)rec;
	struct trustmig_lane *l = c->l;
	unsigned int size = TRUSTMIG_HDR_LEN + len + TRUSTMIG_TAG_LEN;

	/* Each record moves the lane's sequence on. */
	lockdep_assert_held(&l->lock);
	/* The nonce holds seq: a wrapped sequence would reuse nonces. */
	if (l->seq == U64_MAX)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_EXHAUSTED,
					  EOVERFLOW);
	hdr->version = TRUSTMIG_WIRE_VERSION;
	hdr->type = type;
	hdr->flags = 0;
	hdr->gfn_hi = gfn >> 32;
	hdr->gfn_lo = cpu_to_be32(lower_32_bits(gfn));
	hdr->lane = cpu_to_be32(c->lane);
	hdr->round = cpu_to_be16(l->round);
	hdr->len = cpu_to_be16(len);
	hdr->seq = cpu_to_be64(l->seq);
	if (trustmig_aead_seal(&c->crypt, c->lane, l->seq, rec, len))
		return trustmig_lane_fail(c, TRUSTMIG_REASON_CRYPTO, EIO);
	/*
	 * A record that cannot reach the VMM has still consumed its nonce:
	 * the stream now has a gap the destination will refuse.
	 */
	if (copy_to_user(ubuf, rec, size))
		return trustmig_lane_fail(c, TRUSTMIG_REASON_FAULT, EFAULT);
	trustmig_lane_account(l, len);
	return size;
}

/* A control record, a zero run or a state: in the call's own buffer. */
static int trustmig_seal_record(struct trustmig_lane_call *c, u8 type,
				u64 gfn, unsigned int len, u8 __user *ubuf)
{
	return trustmig_seal_rec(c, c->rec, type, gfn, len, ubuf);
}

/*
 * Consecutive zero pages read since the last record, not sealed yet; at
 * most TRUSTMIG_SEAL_PAGES_MAX, as a run ends with its SEAL call.
 */
struct trustmig_zero_pending {
	gfn_t gfn;
	u32 pages;
};

static int trustmig_seal_zero_run(struct trustmig_lane_call *c,
				  struct trustmig_zero_pending *run,
				  u8 __user *ubuf)
{
	struct trustmig_zero_run *zr = (void *)(c->rec + TRUSTMIG_HDR_LEN);
	int size;

	if (!run->pages)
		return 0;
	zr->pages = cpu_to_be32(run->pages);
	size = trustmig_seal_record(c, TRUSTMIG_REC_ZERO_RUN, run->gfn,
				    sizeof(*zr), ubuf);
	if (size < 0)
		return size;
	trustmig_lane_pages(c->l, run->pages, true);
	run->pages = 0;
	return size;
}

/*
 * Seals the page at @gfn, read into @rec's payload, unless it is zero:
 * then it joins @run, sealed as one record once the run ends.  Either
 * way the page's content is what the read saw, as dirty.c's ordering
 * argument needs.  Returns the bytes written to @ubuf (a run ended by
 * this page, and the page), 0 for a page that joined the run.
 */
static int trustmig_seal_page(struct trustmig_lane_call *c, u8 *rec,
			      gfn_t gfn, struct trustmig_zero_pending *run,
			      u8 __user *ubuf)
{
	int run_size, size;

	if (trustmig_page_zero(rec + TRUSTMIG_HDR_LEN)) {
		size = 0;
		/* A page not pending in between ends the run. */
		if (run->pages && run->gfn + run->pages != gfn)
			size = trustmig_seal_zero_run(c, run, ubuf);
		if (size < 0)
			return size;
		if (!run->pages)
			run->gfn = gfn;
		run->pages++;
		return size;
	}
	run_size = trustmig_seal_zero_run(c, run, ubuf);
	if (run_size < 0)
		return run_size;
	size = trustmig_seal_rec(c, rec, TRUSTMIG_REC_PAGE, gfn, PAGE_SIZE,
				 ubuf + run_size);
	if (size < 0)
		return size;
	trustmig_lane_pages(c->l, 1, false);
	return run_size + size;
}

/* Finds the memslot and its dirty state, checking it has not changed. */
static int trustmig_seal_slot(struct trustmig_lane_call *c, u32 slot,
			      u32 flags, const struct kvm_memory_slot **msp,
			      struct trustmig_dirty_slot **dsp)
{
	struct trustmig_file *tf = c->tf;
	const struct kvm_memory_slot *ms;
	struct trustmig_dirty_slot *ds;

	/* Memslots and the tracker's slots hold still under slots_lock. */
	lockdep_assert_held(&tf->kvm->slots_lock);
	/* SMM address spaces are refused at commit. */
	if (slot >> 16 || slot >= KVM_USER_MEM_SLOTS)
		return -EINVAL;
	ms = id_to_memslot(__kvm_memslots(tf->kvm, 0), slot);
	ds = trustmig_tracker_slot(tf->tracker, slot);
	if (ds) {
		/*
		 * A memslot that moved, was re-created or stopped logging
		 * (even briefly), or a VM now logging into a dirty ring, may
		 * hide writes: the stream cannot be trusted to be whole.
		 */
		if (!ms || !trustmig_dirty_slot_same(tf->tracker, ds, ms))
			return trustmig_lane_fail(c, TRUSTMIG_REASON_SLOT,
						  ESTALE);
	} else {
		if (!ms || !(flags & TRUSTMIG_SEAL_HARVEST))
			return -EINVAL;
		ds = trustmig_tracker_add_slot(tf->tracker, ms);
		if (IS_ERR(ds))
			return PTR_ERR(ds);
	}
	*msp = ms;
	*dsp = ds;
	return 0;
}

/*
 * Tells the VMM what it got.  Records it never learns of have still
 * spent their sequence numbers: the lane cannot go on without a gap.
 */
static int trustmig_copy_out(struct trustmig_lane_call *c, void __user *argp,
			     const void *arg, size_t len, u32 records)
{
	if (!copy_to_user(argp, arg, len))
		return 0;
	if (records)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_FAULT, EFAULT);
	return -EFAULT;
}

static int trustmig_seal_harvest(struct trustmig_dirty_slot *ds, u64 ubitmap)
{
	unsigned long *vmm = NULL;
	size_t len = BITS_TO_LONGS(ds->npages) * sizeof(long);

	if (ubitmap) {
		vmm = kvmalloc(len, GFP_KERNEL_ACCOUNT);
		if (!vmm)
			return -ENOMEM;
		if (copy_from_user(vmm, u64_to_user_ptr(ubitmap), len)) {
			kvfree(vmm);
			return -EFAULT;
		}
	}
	trustmig_dirty_harvest(ds, vmm);
	kvfree(vmm);
	return 0;
}

/* Pages a SEAL step read under one hold of slots_lock, in gfn order. */
struct trustmig_read {
	unsigned int n;
	gfn_t gfn[TRUSTMIG_READ_BATCH];
};

/*
 * One step of a SEAL, under slots_lock, so that no re-protection is half
 * done while a page is read (dirty.c): the harvest, if @harvest; then up
 * to @max of the lane's pending pages from *@bit on, each into its own
 * buffer of the lane and settled in the tracker.  Sets arg->pages_left
 * when it reads fewer than @max (none pending) or @max is 0 (the call
 * ends).  One hold and one memslot lookup serve the whole batch.
 */
static int trustmig_seal_step(struct trustmig_lane_call *c,
			      struct trustmig_seal *arg, bool harvest,
			      unsigned int max, unsigned long *bit,
			      struct trustmig_read *rd)
{
	struct kvm *kvm = c->tf->kvm;
	const struct kvm_memory_slot *ms;
	struct trustmig_dirty_slot *ds;
	u8 **pages = c->tf->pages[c->lane];
	u32 lanes = c->s->nlanes;
	gfn_t gfn;
	int err;

	rd->n = 0;
	/* Another lane, or the lifetime, ended the session: stop here. */
	if (READ_ONCE(c->s->state) != TRUSTMIG_STATE_ACTIVE)
		return -EPIPE;
	err = mutex_lock_killable(&kvm->slots_lock);
	if (err)
		return err;
	err = trustmig_seal_slot(c, arg->slot, harvest ? arg->flags : 0,
				 &ms, &ds);
	if (!err && harvest)
		err = trustmig_seal_harvest(ds, arg->dirty_bitmap);
	while (!err && rd->n < max) {
		*bit = trustmig_dirty_next(ds, *bit, c->lane, lanes);
		if (*bit >= ds->npages)
			break;
		gfn = ds->base_gfn + *bit;
		if (copy_from_user(pages[rd->n] + TRUSTMIG_HDR_LEN,
				   (void __user *)__gfn_to_hva_memslot(ms, gfn),
				   PAGE_SIZE)) {
			err = trustmig_lane_fail(c, TRUSTMIG_REASON_FAULT,
						 EFAULT);
			break;
		}
		trustmig_dirty_sealed(c->tf->tracker, ds, ms, *bit);
		rd->gfn[rd->n++] = gfn;
		(*bit)++;
	}
	if (!err && (rd->n < max || !max))
		arg->pages_left = trustmig_dirty_pending(ds, c->lane, lanes);
	mutex_unlock(&kvm->slots_lock);
	return err;
}

/*
 * How many pages the next step may read: as many full-page records as
 * the buffer still holds, less the run record a pending run may need
 * (zero pages take no room, and end at most one run each), within the
 * batch and the call's page limit.
 */
static unsigned int trustmig_seal_room(const struct trustmig_seal *arg,
				       const struct trustmig_zero_pending *run,
				       u64 read)
{
	u64 room = arg->out.buf_len - arg->out.bytes;
	u64 need = run->pages ? TRUSTMIG_ZERO_RUN_REC_LEN : 0;

	if (room < need || fatal_signal_pending(current))
		return 0;
	return min3((room - need) / TRUSTMIG_PAGE_REC_LEN,
		    (u64)TRUSTMIG_READ_BATCH, TRUSTMIG_SEAL_PAGES_MAX - read);
}

long trustmig_ioc_seal(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_zero_pending run = { 0 };
	struct trustmig_lane_call c;
	struct trustmig_read rd;
	struct trustmig_seal arg;
	unsigned long bit = 0;
	bool harvest, only_harvest;
	unsigned int max, i;
	u64 records, pages;
	u8 __user *ubuf;
	int err, size;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~TRUSTMIG_SEAL_HARVEST ||
	    (arg.dirty_bitmap && !(arg.flags & TRUSTMIG_SEAL_HARVEST)))
		return -EINVAL;
	ubuf = u64_to_user_ptr(arg.out.buf);
	arg.out.bytes = 0;
	arg.out.records = 0;
	arg.pages = 0;
	harvest = arg.flags & TRUSTMIG_SEAL_HARVEST;
	only_harvest = harvest && !arg.out.buf_len;

	err = trustmig_lane_begin(&c, tf, arg.out.lane, false,
				  trustmig_session_usable,
				  TRUSTMIG_ROLE_SOURCE);
	if (err)
		return err;
	err = only_harvest ? 0 : trustmig_lane_pages_alloc(&c);
	records = c.l->seq;
	pages = c.l->pages;
	while (!err) {
		max = only_harvest ? 0 :
		      trustmig_seal_room(&arg, &run,
					 c.l->pages + run.pages - pages);
		err = trustmig_seal_step(&c, &arg, harvest, max, &bit, &rd);
		harvest = false;
		for (i = 0; !err && i < rd.n; i++) {
			size = trustmig_seal_page(&c, tf->pages[c.lane][i],
						  rd.gfn[i], &run,
						  ubuf + arg.out.bytes);
			err = min(size, 0);
			arg.out.bytes += max(size, 0);
		}
		if (rd.n < max || !max)
			break;
		cond_resched();
	}
	if (!err) {
		size = trustmig_seal_zero_run(&c, &run, ubuf + arg.out.bytes);
		err = min(size, 0);
		arg.out.bytes += max(size, 0);
	}
	arg.out.records = c.l->seq - records;
	arg.pages = c.l->pages - pages;
	if (!err && arg.pages_left && !arg.out.records && !only_harvest)
		err = -ENOBUFS;
	if (!err)
		err = trustmig_copy_out(&c, argp, &arg, sizeof(arg),
					arg.out.records);
	return trustmig_lane_end(&c, err);
}

/*
 * Was every vCPU outside KVM_RUN at some moment during this call?  A vCPU
 * leaves KVM_RUN only once its writes are logged (VMX empties its PML
 * buffer at every exit), so every write made before the first of those
 * moments is in the dirty log by the end: that moment is the commit's
 * point in time.  Trylock: a running vCPU means "not now", never a wait.
 */
static bool trustmig_vcpus_stopped(struct kvm *kvm)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	kvm_for_each_vcpu(i, vcpu, kvm) {
		if (!mutex_trylock(&vcpu->mutex))
			return false;
		mutex_unlock(&vcpu->mutex);
	}
	return true;
}

/*
 * The stream may end only when it holds the whole VM as it is now: every
 * lane ended the same rounds, one at least, with no page since; every
 * user memslot tracked and unchanged, the vCPUs stopped, and no page
 * seen, pending or carried.
 */
static int trustmig_commit_ready(struct trustmig_lane_call *c)
{
	struct trustmig_session *s = c->s;
	struct kvm *kvm = c->tf->kvm;
	struct trustmig_lane *l;
	int err;

	/* Every lane holds still. */
	lockdep_assert_held_write(&s->lanes_sem);
	if (!s->lanes[0].round)
		return -EBUSY;
	for (l = s->lanes; l < s->lanes + s->nlanes; l++)
		if (l->round_pages || l->round != s->lanes[0].round)
			return -EBUSY;
	err = mutex_lock_killable(&kvm->slots_lock);
	if (err)
		return err;
	err = trustmig_tracker_check_slots(c->tf->tracker);
	if (err == -ESTALE)
		err = trustmig_lane_fail(c, TRUSTMIG_REASON_SLOT, ESTALE);
	else if (!err && (!trustmig_vcpus_stopped(kvm) ||
			  trustmig_tracker_unsettled(c->tf->tracker)))
		err = -EBUSY;
	mutex_unlock(&kvm->slots_lock);
	return err;
}

/* The commit's payload: the rounds and every lane's counts. */
static unsigned int trustmig_commit_fill(struct trustmig_session *s,
					 struct trustmig_commit *commit)
{
	u32 i;

	lockdep_assert_held_write(&s->lanes_sem);
	commit->rounds = cpu_to_be64(s->lanes[0].round);
	commit->lanes = cpu_to_be32(s->nlanes);
	commit->pad = 0;
	for (i = 0; i < s->nlanes; i++) {
		commit->lane[i].records = cpu_to_be64(s->lanes[i].seq);
		commit->lane[i].pages = cpu_to_be64(s->lanes[i].pages);
	}
	return TRUSTMIG_COMMIT_LEN(s->nlanes);
}

/* A round ends on a lane once everything harvested for it is sealed. */
static int trustmig_round_end_fill(struct trustmig_lane_call *c,
				   struct trustmig_round_end *re)
{
	struct kvm *kvm = c->tf->kvm;
	bool pending;
	int err;

	err = mutex_lock_killable(&kvm->slots_lock);
	if (err)
		return err;
	pending = trustmig_tracker_pending(c->tf->tracker, c->lane,
					   c->s->nlanes);
	mutex_unlock(&kvm->slots_lock);
	if (pending)
		return -EBUSY;
	if (c->l->round == U16_MAX)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_EXHAUSTED,
					  EOVERFLOW);
	re->pages = cpu_to_be64(c->l->round_pages);
	re->records = cpu_to_be64(c->l->seq);
	return sizeof(*re);
}

/*
 * Seals a ROUND_END on the call's lane, or the COMMIT on lane 0, into
 * the VMM's buffer.
 */
long trustmig_ioc_control(struct trustmig_file *tf, void __user *argp,
			  bool commit)
{
	struct trustmig_lane_call c;
	struct trustmig_session *s;
	struct trustmig_out arg;
	u8 *payload;
	int err, size;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (commit && arg.lane)
		return -EINVAL;
	err = trustmig_lane_begin(&c, tf, arg.lane, commit,
				  trustmig_session_usable,
				  TRUSTMIG_ROLE_SOURCE);
	if (err)
		return err;
	s = c.s;
	payload = c.rec + TRUSTMIG_HDR_LEN;
	/* The state the commit moves on from holds until it is sealed. */
	mutex_lock(&s->lock);
	err = trustmig_session_usable(s, TRUSTMIG_ROLE_SOURCE);
	if (err)
		goto out_unlock;
	if (commit) {
		err = trustmig_commit_ready(&c);
		size = err ?: trustmig_commit_fill(s, (void *)payload);
	} else {
		size = trustmig_round_end_fill(&c, (void *)payload);
	}
	if (size < 0) {
		err = size;
		goto out_unlock;
	}
	if (arg.buf_len < TRUSTMIG_HDR_LEN + size + TRUSTMIG_TAG_LEN) {
		err = -ENOBUFS;
		goto out_unlock;
	}
	size = trustmig_seal_record(&c, commit ? TRUSTMIG_REC_COMMIT :
				    TRUSTMIG_REC_ROUND_END, 0, size,
				    u64_to_user_ptr(arg.buf));
	if (size < 0) {
		err = size;
		goto out_unlock;
	}
	arg.bytes = size;
	arg.records = 1;
	err = trustmig_copy_out(&c, argp, &arg, sizeof(arg), arg.records);
	if (err)
		goto out_unlock;
	if (commit) {
		trustmig_session_complete(s);
	} else {
		WRITE_ONCE(c.l->round, c.l->round + 1);
		WRITE_ONCE(c.l->round_pages, 0);
	}
out_unlock:
	mutex_unlock(&s->lock);
	return trustmig_lane_end(&c, err);
}

long trustmig_ioc_seal_state(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_seal_state arg;
	struct trustmig_lane_call c;
	int err, size;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (!arg.len || arg.len > TRUSTMIG_STATE_MAX || arg.pad ||
	    arg.out.lane)
		return -EINVAL;
	if (arg.out.buf_len < TRUSTMIG_HDR_LEN + arg.len + TRUSTMIG_TAG_LEN)
		return -ENOBUFS;

	err = trustmig_lane_begin(&c, tf, 0, false, trustmig_session_usable,
				  TRUSTMIG_ROLE_SOURCE);
	if (err)
		return err;
	if (copy_from_user(c.rec + TRUSTMIG_HDR_LEN,
			   u64_to_user_ptr(arg.data), arg.len)) {
		err = -EFAULT;
		goto out;
	}
	size = trustmig_seal_record(&c, TRUSTMIG_REC_STATE, 0, arg.len,
				    u64_to_user_ptr(arg.out.buf));
	if (size < 0) {
		err = size;
		goto out;
	}
	arg.out.bytes = size;
	arg.out.records = 1;
	err = trustmig_copy_out(&c, argp, &arg, sizeof(arg), arg.out.records);
out:
	return trustmig_lane_end(&c, err);
}

/*
 * The destination's receipt, sealed once its VM runs: the record after
 * the commit on lane 0, under the stream's key, after which the key is
 * erased.
 */
long trustmig_ioc_resumed(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_lane_call c;
	struct trustmig_stats stats;
	struct trustmig_resumed *r;
	struct trustmig_out arg;
	int err, size;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.lane)
		return -EINVAL;
	if (arg.buf_len < TRUSTMIG_RESUMED_REC_LEN)
		return -ENOBUFS;

	BUILD_BUG_ON(TRUSTMIG_HDR_LEN + sizeof(*r) + TRUSTMIG_TAG_LEN !=
		     TRUSTMIG_RESUMED_REC_LEN);
	/* Every lane still: the counts are final. */
	err = trustmig_lane_begin(&c, tf, 0, true,
				  trustmig_session_in_handover,
				  TRUSTMIG_ROLE_DEST);
	if (err)
		return err;
	r = (void *)(c.rec + TRUSTMIG_HDR_LEN);
	mutex_lock(&c.s->lock);
	err = trustmig_session_in_handover(c.s, TRUSTMIG_ROLE_DEST);
	if (err)
		goto out_unlock;
	trustmig_session_stats(c.s, &stats);
	r->records = cpu_to_be64(stats.records);
	r->pages = cpu_to_be64(stats.pages);
	size = trustmig_seal_record(&c, TRUSTMIG_REC_RESUMED, 0, sizeof(*r),
				    u64_to_user_ptr(arg.buf));
	trustmig_session_end_handover(c.s);
	if (size < 0) {
		err = size;
		goto out_unlock;
	}
	arg.bytes = size;
	arg.records = 1;
	/* The key is gone: a receipt the VMM never gets is lost for good. */
	err = trustmig_copy_out(&c, argp, &arg, sizeof(arg), arg.records);
out_unlock:
	mutex_unlock(&c.s->lock);
	return trustmig_lane_end(&c, err);
}
