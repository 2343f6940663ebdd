// SPDX-License-Identifier: GPL-2.0
/*
 * The records a /dev/trustmig file produces: a source seals its VM's
 * pages, its state, round ends and the commit; a destination seals its
 * receipt once its VM runs.
 *
 * Every record is sealed in the file's one buffer, tf->rec, and copied
 * to the VMM whole.  Sealing spends the record's sequence number, which
 * is its nonce: a record the VMM does not get leaves a gap the stream
 * cannot go on with, so such a failure fails the session.
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

/* The one lane a source seals on, until sealing is spread over CPUs. */
#define TRUSTMIG_SEND_LANE	0

/*
 * Seal tf->rec (header still to fill, @len bytes of payload in place) and
 * copy the record to @ubuf.  Returns the record's size.
 */
static int trustmig_seal_record(struct trustmig_file *tf, u8 type, u64 gfn,
				unsigned int len, u8 __user *ubuf)
{
	struct trustmig_rec_hdr *hdr = (struct trustmig_rec_hdr *)tf->rec;
	struct trustmig_session *s = tf->session;
	struct trustmig_lane *l = &s->lanes[TRUSTMIG_SEND_LANE];
	unsigned int size = TRUSTMIG_HDR_LEN + len + TRUSTMIG_TAG_LEN;

	/* Each record moves the lane's sequence on. */
	lockdep_assert_held(&s->lock);
	/* The nonce holds seq: a wrapped sequence would reuse nonces. */
	if (l->seq == U64_MAX)
		return trustmig_session_fail(s, TRUSTMIG_REASON_EXHAUSTED,
					     EOVERFLOW);
	hdr->version = TRUSTMIG_WIRE_VERSION;
	hdr->type = type;
	hdr->flags = 0;
	hdr->gfn_hi = gfn >> 32;
	hdr->gfn_lo = cpu_to_be32(lower_32_bits(gfn));
	hdr->lane = cpu_to_be32(TRUSTMIG_SEND_LANE);
	hdr->round = cpu_to_be16(l->round);
	hdr->len = cpu_to_be16(len);
	hdr->seq = cpu_to_be64(l->seq);
	if (trustmig_aead_seal(s->aead, TRUSTMIG_SEND_LANE, l->seq, tf->rec,
			       len))
		return trustmig_session_fail(s, TRUSTMIG_REASON_CRYPTO, EIO);
	/*
	 * A record that cannot reach the VMM has still consumed its nonce:
	 * the stream cannot continue without a gap, so it ends here.
	 */
	if (copy_to_user(ubuf, tf->rec, size))
		return trustmig_session_fail(s, TRUSTMIG_REASON_FAULT, EFAULT);
	trustmig_session_account(s, TRUSTMIG_SEND_LANE, len);
	return size;
}

/*
 * Consecutive zero pages read since the last record, not sealed yet; at
 * most TRUSTMIG_SEAL_PAGES_MAX, as a run ends with its SEAL call.
 */
struct trustmig_zero_pending {
	gfn_t gfn;
	u32 pages;
};

static int trustmig_seal_zero_run(struct trustmig_file *tf,
				  struct trustmig_zero_pending *run,
				  u8 __user *ubuf)
{
	struct trustmig_zero_run *zr = (void *)(tf->rec + TRUSTMIG_HDR_LEN);
	int size;

	if (!run->pages)
		return 0;
	zr->pages = cpu_to_be32(run->pages);
	size = trustmig_seal_record(tf, TRUSTMIG_REC_ZERO_RUN, run->gfn,
				    sizeof(*zr), ubuf);
	if (size < 0)
		return size;
	trustmig_session_pages(tf->session, TRUSTMIG_SEND_LANE, run->pages,
			       true);
	run->pages = 0;
	return size;
}

/*
 * Reads the page at @gfn and seals it, unless it is zero: then it joins
 * @run, sealed as one record once the run ends.  Either way the page's
 * content is what the read saw, as dirty.c's ordering argument needs.
 * Returns the bytes written to @ubuf (a run ended by this page, and the
 * page), 0 for a page that joined the run.
 */
static int trustmig_seal_page(struct trustmig_file *tf,
			      const struct kvm_memory_slot *ms, gfn_t gfn,
			      struct trustmig_zero_pending *run,
			      u8 __user *ubuf)
{
	struct trustmig_session *s = tf->session;
	u8 *page = tf->rec + TRUSTMIG_HDR_LEN;
	unsigned long hva = __gfn_to_hva_memslot(ms, gfn);
	u8 head[TRUSTMIG_ZERO_RUN_REC_LEN - TRUSTMIG_HDR_LEN];
	int run_size, size;

	if (copy_from_user(page, (void __user *)hva, PAGE_SIZE))
		return trustmig_session_fail(s, TRUSTMIG_REASON_FAULT, EFAULT);
	if (trustmig_page_zero(page)) {
		size = 0;
		/* A page not pending in between ends the run. */
		if (run->pages && run->gfn + run->pages != gfn)
			size = trustmig_seal_zero_run(tf, run, ubuf);
		if (size < 0)
			return size;
		if (!run->pages)
			run->gfn = gfn;
		run->pages++;
		return size;
	}
	/* The run's record overwrites the head of the page read: keep it. */
	run_size = 0;
	if (run->pages) {
		memcpy(head, page, sizeof(head));
		run_size = trustmig_seal_zero_run(tf, run, ubuf);
		memcpy(page, head, sizeof(head));
		memzero_explicit(head, sizeof(head));
		if (run_size < 0)
			return run_size;
	}
	size = trustmig_seal_record(tf, TRUSTMIG_REC_PAGE, gfn, PAGE_SIZE,
				    ubuf + run_size);
	if (size < 0)
		return size;
	trustmig_session_pages(s, TRUSTMIG_SEND_LANE, 1, false);
	return run_size + size;
}

/* Finds the memslot and its dirty state, checking it has not changed. */
static int trustmig_seal_slot(struct trustmig_file *tf, u32 slot, u32 flags,
			      const struct kvm_memory_slot **msp,
			      struct trustmig_dirty_slot **dsp)
{
	struct trustmig_session *s = tf->session;
	const struct kvm_memory_slot *ms;
	struct trustmig_dirty_slot *ds;

	/* The session's tracker, and memslots held still by slots_lock. */
	lockdep_assert_held(&s->lock);
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
			return trustmig_session_fail(s, TRUSTMIG_REASON_SLOT,
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

static int trustmig_out_check(const struct trustmig_out *out)
{
	return out->pad ? -EINVAL : 0;
}

/*
 * Tells the VMM what it got.  Records it never learns of have still
 * spent their sequence numbers: the stream cannot go on without a gap.
 */
static int trustmig_copy_out(struct trustmig_session *s, void __user *argp,
			     const void *arg, size_t len, u32 records)
{
	/* It may fail the session. */
	lockdep_assert_held(&s->lock);
	if (!copy_to_user(argp, arg, len))
		return 0;
	if (records)
		return trustmig_session_fail(s, TRUSTMIG_REASON_FAULT, EFAULT);
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

long trustmig_ioc_seal(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_session *s = tf->session;
	const struct kvm_memory_slot *ms;
	struct trustmig_dirty_slot *ds;
	struct trustmig_zero_pending run = { 0 };
	struct trustmig_seal arg;
	unsigned long bit;
	u8 __user *ubuf;
	u64 records, pages;
	int err, size;

	lockdep_assert_held(&tf->lock);
	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~TRUSTMIG_SEAL_HARVEST ||
	    (arg.dirty_bitmap && !(arg.flags & TRUSTMIG_SEAL_HARVEST)) ||
	    trustmig_out_check(&arg.out))
		return -EINVAL;
	ubuf = u64_to_user_ptr(arg.out.buf);
	arg.out.bytes = 0;
	arg.out.records = 0;
	arg.pages = 0;

	mutex_lock(&s->lock);
	err = trustmig_session_usable(s, TRUSTMIG_ROLE_SOURCE);
	if (err)
		goto out_unlock;
	/*
	 * Memslots and KVM's dirty bits hold still under slots_lock: no
	 * re-protection is half done while a page is read (dirty.c).
	 */
	err = mutex_lock_killable(&tf->kvm->slots_lock);
	if (err)
		goto out_unlock;
	err = trustmig_seal_slot(tf, arg.slot, arg.flags, &ms, &ds);
	if (err)
		goto out_slots;
	if (arg.flags & TRUSTMIG_SEAL_HARVEST) {
		err = trustmig_seal_harvest(ds, arg.dirty_bitmap);
		if (err)
			goto out_slots;
	}
	records = s->stats.records;
	pages = s->stats.pages;
	for_each_set_bit(bit, ds->pending, ds->npages) {
		/*
		 * Room for this page's record and the run it may end; zero
		 * pages take none, so the page count bounds how long
		 * slots_lock, which KVM's dirty-log ioctls need, is held.
		 */
		if (arg.out.buf_len - arg.out.bytes < TRUSTMIG_PAGE_REC_LEN +
		    (run.pages ? TRUSTMIG_ZERO_RUN_REC_LEN : 0) ||
		    s->stats.pages + run.pages - pages ==
		    TRUSTMIG_SEAL_PAGES_MAX || fatal_signal_pending(current))
			break;
		size = trustmig_seal_page(tf, ms, ds->base_gfn + bit, &run,
					  ubuf + arg.out.bytes);
		if (size < 0) {
			err = size;
			goto out_slots;
		}
		trustmig_dirty_sealed(tf->tracker, ds, ms, bit);
		arg.out.bytes += size;
		cond_resched();
	}
	size = trustmig_seal_zero_run(tf, &run, ubuf + arg.out.bytes);
	if (size < 0) {
		err = size;
		goto out_slots;
	}
	arg.out.bytes += size;
	arg.out.records = s->stats.records - records;
	arg.pages = s->stats.pages - pages;
	arg.pages_left = bitmap_weight(ds->pending, ds->npages);
	if (arg.pages_left && !arg.out.records)
		err = -ENOBUFS;
out_slots:
	mutex_unlock(&tf->kvm->slots_lock);
	if (!err)
		err = trustmig_copy_out(s, argp, &arg, sizeof(arg),
					arg.out.records);
out_unlock:
	mutex_unlock(&s->lock);
	return err;
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
 * The stream may end only when it holds the whole VM as it is now: a
 * round ended with no page in it since, every user memslot tracked and
 * unchanged, the vCPUs stopped, and no page seen, pending or carried.
 */
static int trustmig_commit_ready(struct trustmig_file *tf)
{
	struct trustmig_session *s = tf->session;
	struct kvm *kvm = tf->kvm;
	int err;

	/* The round's count and the stream's stats are the session's. */
	lockdep_assert_held(&s->lock);
	if (s->lanes[TRUSTMIG_SEND_LANE].round_pages || !s->stats.rounds)
		return -EBUSY;
	err = mutex_lock_killable(&kvm->slots_lock);
	if (err)
		return err;
	err = trustmig_tracker_check_slots(tf->tracker);
	if (err == -ESTALE)
		err = trustmig_session_fail(s, TRUSTMIG_REASON_SLOT, ESTALE);
	else if (!err && (!trustmig_vcpus_stopped(kvm) ||
			  trustmig_tracker_unsettled(tf->tracker)))
		err = -EBUSY;
	mutex_unlock(&kvm->slots_lock);
	return err;
}

/* Seals a ROUND_END or COMMIT record into the VMM's buffer. */
long trustmig_ioc_control(struct trustmig_file *tf, void __user *argp,
			  bool commit)
{
	struct trustmig_session *s = tf->session;
	struct trustmig_lane *l = &s->lanes[TRUSTMIG_SEND_LANE];
	u8 *payload = tf->rec + TRUSTMIG_HDR_LEN;
	struct trustmig_round_end *re = (void *)payload;
	struct trustmig_commit *c = (void *)payload;
	unsigned int len = commit ? TRUSTMIG_COMMIT_LEN(1) : sizeof(*re);
	struct trustmig_out arg;
	int err, size;

	lockdep_assert_held(&tf->lock);
	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	err = trustmig_out_check(&arg);
	if (err)
		return err;
	if (arg.buf_len < TRUSTMIG_HDR_LEN + len + TRUSTMIG_TAG_LEN)
		return -ENOBUFS;

	mutex_lock(&s->lock);
	err = trustmig_session_usable(s, TRUSTMIG_ROLE_SOURCE);
	if (err)
		goto out_unlock;
	if (commit) {
		err = trustmig_commit_ready(tf);
		if (err)
			goto out_unlock;
		c->rounds = cpu_to_be64(l->round);
		c->lanes = cpu_to_be32(1);
		c->pad = 0;
		c->lane[0].records = cpu_to_be64(l->seq);
		c->lane[0].pages = cpu_to_be64(l->pages);
	} else {
		/* A round ends once everything harvested is sealed. */
		if (trustmig_tracker_pending(tf->tracker)) {
			err = -EBUSY;
			goto out_unlock;
		}
		if (l->round == U16_MAX) {
			err = trustmig_session_fail(s, TRUSTMIG_REASON_EXHAUSTED,
						    EOVERFLOW);
			goto out_unlock;
		}
		re->pages = cpu_to_be64(l->round_pages);
		re->records = cpu_to_be64(l->seq);
	}
	size = trustmig_seal_record(tf, commit ? TRUSTMIG_REC_COMMIT :
					TRUSTMIG_REC_ROUND_END, 0, len,
				    u64_to_user_ptr(arg.buf));
	if (size < 0) {
		err = size;
		goto out_unlock;
	}
	arg.bytes = size;
	arg.records = 1;
	err = trustmig_copy_out(s, argp, &arg, sizeof(arg), arg.records);
	if (err)
		goto out_unlock;
	if (commit) {
		trustmig_session_complete(s);
	} else {
		l->round++;
		l->round_pages = 0;
		s->stats.rounds++;
	}
out_unlock:
	mutex_unlock(&s->lock);
	return err;
}

long trustmig_ioc_seal_state(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_session *s = tf->session;
	struct trustmig_seal_state arg;
	int err, size;

	lockdep_assert_held(&tf->lock);
	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (!arg.len || arg.len > TRUSTMIG_STATE_MAX || arg.pad ||
	    trustmig_out_check(&arg.out))
		return -EINVAL;
	if (arg.out.buf_len < TRUSTMIG_HDR_LEN + arg.len + TRUSTMIG_TAG_LEN)
		return -ENOBUFS;

	mutex_lock(&s->lock);
	err = trustmig_session_usable(s, TRUSTMIG_ROLE_SOURCE);
	if (err)
		goto out_unlock;
	if (copy_from_user(tf->rec + TRUSTMIG_HDR_LEN,
			   u64_to_user_ptr(arg.data), arg.len)) {
		err = -EFAULT;
		goto out_unlock;
	}
	size = trustmig_seal_record(tf, TRUSTMIG_REC_STATE, 0, arg.len,
				    u64_to_user_ptr(arg.out.buf));
	if (size < 0) {
		err = size;
		goto out_unlock;
	}
	arg.out.bytes = size;
	arg.out.records = 1;
	err = trustmig_copy_out(s, argp, &arg, sizeof(arg), arg.out.records);
out_unlock:
	mutex_unlock(&s->lock);
	return err;
}

/*
 * The destination's receipt, sealed once its VM runs: the record after
 * the commit, under the stream's key, after which the key is erased.
 */
long trustmig_ioc_resumed(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_session *s = tf->session;
	struct trustmig_resumed *r = (void *)(tf->rec + TRUSTMIG_HDR_LEN);
	struct trustmig_out arg;
	int err, size;

	lockdep_assert_held(&tf->lock);
	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	err = trustmig_out_check(&arg);
	if (err)
		return err;
	if (arg.buf_len < TRUSTMIG_RESUMED_REC_LEN)
		return -ENOBUFS;

	BUILD_BUG_ON(TRUSTMIG_HDR_LEN + sizeof(*r) + TRUSTMIG_TAG_LEN !=
		     TRUSTMIG_RESUMED_REC_LEN);
	mutex_lock(&s->lock);
	err = trustmig_session_in_handover(s, TRUSTMIG_ROLE_DEST);
	if (err)
		goto out_unlock;
	r->records = cpu_to_be64(s->stats.records);
	r->pages = cpu_to_be64(s->stats.pages);
	size = trustmig_seal_record(tf, TRUSTMIG_REC_RESUMED, 0, sizeof(*r),
				    u64_to_user_ptr(arg.buf));
	trustmig_session_end_handover(s);
	if (size < 0) {
		err = size;
		goto out_unlock;
	}
	arg.bytes = size;
	arg.records = 1;
	/* The key is gone: a receipt the VMM never gets is lost for good. */
	err = trustmig_copy_out(s, argp, &arg, sizeof(arg), arg.records);
out_unlock:
	mutex_unlock(&s->lock);
	return err;
}
