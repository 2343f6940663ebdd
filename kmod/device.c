// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/trustmig: attach a KVM VM to a session, seal its pages into
 * records (source) or open records straight into its memory (destination).
 *
 * Guest memory is reached through the VM's memslots, with the VMM's own
 * user mappings: every call must come from the process that owns the VM,
 * which is also what KVM demands of its own ioctls.  A record is opened
 * into a kernel buffer and only copied into the guest once its tag has
 * verified and every header check has passed, so a rejected record never
 * changes a byte of guest memory.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <crypto/algapi.h>
#include <asm/unaligned.h>

#include "device.h"
#include "dirty.h"
#include "seal.h"
#include "session.h"

static int trustmig_open(struct inode *inode, struct file *file)
{
	struct trustmig_file *tf;

	tf = kzalloc(sizeof(*tf), GFP_KERNEL);
	if (!tf)
		return -ENOMEM;
	/* kmalloc, not vmalloc: the AEAD maps it with one scatterlist entry. */
	tf->rec = kmalloc(TRUSTMIG_REC_MAX, GFP_KERNEL);
	if (!tf->rec) {
		kfree(tf);
		return -ENOMEM;
	}
	mutex_init(&tf->lock);
	file->private_data = tf;
	return 0;
}

static int trustmig_release(struct inode *inode, struct file *file)
{
	struct trustmig_file *tf = file->private_data;
	struct trustmig_session *s = tf->session;

	if (s) {
		mutex_lock(&s->lock);
		trustmig_session_detach(s);
		mutex_unlock(&s->lock);
		trustmig_tracker_free(tf->tracker);
		kvm_put_kvm(tf->kvm);
		trustmig_session_put(s);
	}
	mutex_destroy(&tf->lock);
	/* The buffer held guest pages in clear. */
	kfree_sensitive(tf->rec);
	kfree(tf);
	return 0;
}

static struct kvm *trustmig_get_vm(int vm_fd)
{
	struct file *vm_file = fget(vm_fd);
	struct kvm *kvm;

	if (!vm_file)
		return ERR_PTR(-EBADF);
	if (!file_is_kvm(vm_file)) {
		fput(vm_file);
		return ERR_PTR(-EINVAL);
	}
	kvm = vm_file->private_data;
	kvm_get_kvm(kvm);
	fput(vm_file);
	if (kvm->mm != current->mm) {
		kvm_put_kvm(kvm);
		return ERR_PTR(-EPERM);
	}
	return kvm;
}

static long trustmig_ioc_attach(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_tracker *tracker = NULL;
	struct trustmig_session *s;
	struct trustmig_attach arg;
	struct kvm *kvm;
	int err;

	lockdep_assert_held(&tf->lock);
	if (tf->session)
		return -EBUSY;
	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;

	kvm = trustmig_get_vm(arg.vm_fd);
	if (IS_ERR(kvm)) {
		err = PTR_ERR(kvm);
		goto out;
	}
	s = trustmig_session_get(arg.session_id);
	if (!s) {
		err = -ENOENT;
		goto err_kvm;
	}
	if (s->role == TRUSTMIG_ROLE_SOURCE) {
		/* A source is only as good as the hooks that watch KVM. */
		err = trustmig_dirty_self_check();
		if (err)
			goto err_session;
		tracker = trustmig_tracker_new(kvm);
		if (IS_ERR(tracker)) {
			err = PTR_ERR(tracker);
			tracker = NULL;
			goto err_session;
		}
	}
	mutex_lock(&s->lock);
	err = trustmig_session_attach(s, arg.ticket);
	mutex_unlock(&s->lock);
	if (err)
		goto err_tracker;

	tf->session = s;
	tf->kvm = kvm;
	tf->tracker = tracker;
	goto out;

err_tracker:
	trustmig_tracker_free(tracker);
err_session:
	trustmig_session_put(s);
err_kvm:
	kvm_put_kvm(kvm);
out:
	memzero_explicit(&arg, sizeof(arg));
	return err;
}

/*
 * Seal tf->rec (header still to fill, @len bytes of payload in place) and
 * copy the record to @ubuf.  Returns the record's size.
 */
static int trustmig_seal_record(struct trustmig_file *tf, u8 type, u64 gfn,
				unsigned int len, u8 __user *ubuf)
{
	struct trustmig_rec_hdr *hdr = (struct trustmig_rec_hdr *)tf->rec;
	struct trustmig_session *s = tf->session;
	unsigned int size = TRUSTMIG_HDR_LEN + len + TRUSTMIG_TAG_LEN;

	lockdep_assert_held(&s->lock);
	/* The nonce is salt ^ seq: a wrapped sequence would reuse nonces. */
	if (s->seq == U64_MAX)
		return trustmig_session_fail(s, TRUSTMIG_REASON_EXHAUSTED,
					     EOVERFLOW);
	hdr->version = TRUSTMIG_WIRE_VERSION;
	hdr->type = type;
	hdr->flags = 0;
	hdr->gfn_hi = gfn >> 32;
	hdr->gfn_lo = cpu_to_be32(lower_32_bits(gfn));
	hdr->stream = cpu_to_be32(s->stream);
	hdr->round = cpu_to_be16(s->round);
	hdr->len = cpu_to_be16(len);
	hdr->seq = cpu_to_be64(s->seq);
	if (trustmig_aead_seal(s->aead, s->seq, tf->rec, len))
		return trustmig_session_fail(s, TRUSTMIG_REASON_CRYPTO, EIO);
	/*
	 * A record that cannot reach the VMM has still consumed its nonce:
	 * the stream cannot continue without a gap, so it ends here.
	 */
	if (copy_to_user(ubuf, tf->rec, size))
		return trustmig_session_fail(s, TRUSTMIG_REASON_FAULT, EFAULT);
	trustmig_session_account(s, tf->rec, len);
	return size;
}

static int trustmig_seal_page(struct trustmig_file *tf,
			      const struct kvm_memory_slot *ms, gfn_t gfn,
			      u8 __user *ubuf)
{
	struct trustmig_session *s = tf->session;
	u8 *page = tf->rec + TRUSTMIG_HDR_LEN;
	unsigned long hva = __gfn_to_hva_memslot(ms, gfn);
	bool zero;
	int size;

	if (copy_from_user(page, (void __user *)hva, PAGE_SIZE))
		return trustmig_session_fail(s, TRUSTMIG_REASON_FAULT, EFAULT);
	zero = !memchr_inv(page, 0, PAGE_SIZE);
	size = trustmig_seal_record(tf, zero ? TRUSTMIG_REC_ZERO :
					TRUSTMIG_REC_PAGE, gfn,
				    zero ? 0 : PAGE_SIZE, ubuf);
	if (size < 0)
		return size;
	s->stats.pages++;
	s->stats.zero_pages += zero;
	s->round_pages++;
	return size;
}

/* Finds the memslot and its dirty state, checking it has not changed. */
static int trustmig_seal_slot(struct trustmig_file *tf, u32 slot, u32 flags,
			      const struct kvm_memory_slot **msp,
			      struct trustmig_dirty_slot **dsp)
{
	struct trustmig_session *s = tf->session;
	const struct kvm_memory_slot *ms;
	struct trustmig_dirty_slot *ds;

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

static long trustmig_ioc_seal(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_session *s = tf->session;
	const struct kvm_memory_slot *ms;
	struct trustmig_dirty_slot *ds;
	struct trustmig_seal arg;
	unsigned long bit;
	u8 __user *ubuf;
	int err, size;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~TRUSTMIG_SEAL_HARVEST ||
	    (arg.dirty_bitmap && !(arg.flags & TRUSTMIG_SEAL_HARVEST)) ||
	    trustmig_out_check(&arg.out))
		return -EINVAL;
	ubuf = u64_to_user_ptr(arg.out.buf);
	arg.out.bytes = 0;
	arg.out.records = 0;

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
	for_each_set_bit(bit, ds->pending, ds->npages) {
		if (arg.out.buf_len - arg.out.bytes < TRUSTMIG_PAGE_REC_LEN ||
		    fatal_signal_pending(current))
			break;
		size = trustmig_seal_page(tf, ms, ds->base_gfn + bit,
					  ubuf + arg.out.bytes);
		if (size < 0) {
			err = size;
			goto out_slots;
		}
		trustmig_dirty_sealed(tf->tracker, ds, ms, bit);
		arg.out.bytes += size;
		arg.out.records++;
		cond_resched();
	}
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

	lockdep_assert_held(&s->lock);
	if (s->round_pages || !s->stats.rounds)
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

/* Seals a ROUND_END or COMMIT record from @payload into the VMM's buffer. */
static long trustmig_ioc_control(struct trustmig_file *tf, void __user *argp,
				 bool commit)
{
	struct trustmig_session *s = tf->session;
	u8 *payload = tf->rec + TRUSTMIG_HDR_LEN;
	struct trustmig_round_end *re = (void *)payload;
	struct trustmig_commit *c = (void *)payload;
	unsigned int len = commit ? sizeof(*c) : sizeof(*re);
	struct sha256_state transcript;
	struct trustmig_out arg;
	int err, size;

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
		transcript = s->transcript;
		c->records = cpu_to_be64(s->seq);
		c->pages = cpu_to_be64(s->stats.pages);
		c->rounds = cpu_to_be64(s->stats.rounds);
		sha256_final(&transcript, c->transcript);
	} else {
		/* A round ends once everything harvested is sealed. */
		if (trustmig_tracker_pending(tf->tracker)) {
			err = -EBUSY;
			goto out_unlock;
		}
		if (s->round == U16_MAX) {
			err = trustmig_session_fail(s, TRUSTMIG_REASON_EXHAUSTED,
						    EOVERFLOW);
			goto out_unlock;
		}
		re->pages = cpu_to_be64(s->round_pages);
		re->records = cpu_to_be64(s->seq);
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
		s->round++;
		s->round_pages = 0;
		s->stats.rounds++;
	}
out_unlock:
	mutex_unlock(&s->lock);
	return err;
}

static long trustmig_ioc_seal_state(struct trustmig_file *tf,
				    void __user *argp)
{
	struct trustmig_session *s = tf->session;
	struct trustmig_seal_state arg;
	int err, size;

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
static long trustmig_ioc_resumed(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_session *s = tf->session;
	struct trustmig_resumed *r = (void *)(tf->rec + TRUSTMIG_HDR_LEN);
	struct trustmig_out arg;
	int err, size;

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
	r->records = cpu_to_be64(s->seq);
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

/*
 * The source checks the receipt before it lets its VM go.  A record that
 * is not exactly the peer's receipt for this stream is refused with
 * EBADMSG and changes nothing: the genuine one may still come.
 */
static long trustmig_ioc_confirm(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_session *s = tf->session;
	struct trustmig_rec_hdr *hdr = (void *)tf->rec;
	struct trustmig_resumed *r = (void *)(tf->rec + TRUSTMIG_HDR_LEN);
	struct trustmig_confirm arg;
	int err;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.buf_len != TRUSTMIG_RESUMED_REC_LEN)
		return -EINVAL;

	mutex_lock(&s->lock);
	err = trustmig_session_in_handover(s, TRUSTMIG_ROLE_SOURCE);
	if (err)
		goto out_unlock;
	if (copy_from_user(tf->rec, u64_to_user_ptr(arg.buf),
			   TRUSTMIG_RESUMED_REC_LEN)) {
		err = -EFAULT;
		goto out_unlock;
	}
	err = -EBADMSG;
	if (hdr->version != TRUSTMIG_WIRE_VERSION ||
	    hdr->type != TRUSTMIG_REC_RESUMED || hdr->flags || hdr->gfn_hi ||
	    hdr->gfn_lo || be32_to_cpu(hdr->stream) != s->stream ||
	    be16_to_cpu(hdr->round) != s->round ||
	    be16_to_cpu(hdr->len) != sizeof(*r) ||
	    be64_to_cpu(hdr->seq) != s->seq)
		goto out_unlock;
	err = trustmig_aead_open(s->aead, s->seq, tf->rec, sizeof(*r));
	if (err) {
		err = err == -EBADMSG ? err : -EIO;
		goto out_unlock;
	}
	err = -EBADMSG;
	if (be64_to_cpu(r->records) != s->seq ||
	    be64_to_cpu(r->pages) != s->stats.pages)
		goto out_unlock;
	trustmig_session_account(s, tf->rec, sizeof(*r));
	trustmig_session_end_handover(s);
	err = 0;
out_unlock:
	mutex_unlock(&s->lock);
	return err;
}

/* Is @len a valid payload length for a record of @type? */
static bool trustmig_payload_len_ok(u8 type, unsigned int len)
{
	switch (type) {
	case TRUSTMIG_REC_PAGE:
		return len == TRUSTMIG_PAGE_SIZE;
	case TRUSTMIG_REC_ZERO:
		return len == 0;
	case TRUSTMIG_REC_ROUND_END:
		return len == sizeof(struct trustmig_round_end);
	case TRUSTMIG_REC_COMMIT:
		return len == sizeof(struct trustmig_commit);
	case TRUSTMIG_REC_STATE:
		return len && len <= TRUSTMIG_STATE_MAX;
	}
	return false;
}

static u64 trustmig_hdr_gfn(const struct trustmig_rec_hdr *hdr)
{
	return (u64)hdr->gfn_hi << 32 | be32_to_cpu(hdr->gfn_lo);
}

/*
 * Checks a record's header against the stream before anything else is
 * read: these are cheap, and they name what is wrong.  The AEAD then
 * authenticates the very same bytes as associated data.
 */
static int trustmig_check_hdr(struct trustmig_file *tf,
			      const struct trustmig_rec_hdr *hdr,
			      unsigned int len,
			      const struct kvm_memory_slot **msp)
{
	struct trustmig_session *s = tf->session;
	bool is_page = hdr->type == TRUSTMIG_REC_PAGE ||
		       hdr->type == TRUSTMIG_REC_ZERO;
	u64 gfn = trustmig_hdr_gfn(hdr);

	if (be32_to_cpu(hdr->stream) != s->stream)
		return trustmig_session_fail(s, TRUSTMIG_REASON_WRONG_STREAM,
					     EPROTO);
	if (be64_to_cpu(hdr->seq) != s->seq)
		return trustmig_session_fail(s, TRUSTMIG_REASON_SEQUENCE,
					     EPROTO);
	if (be16_to_cpu(hdr->round) != s->round)
		return trustmig_session_fail(s, TRUSTMIG_REASON_ROUND, EPROTO);
	if (!is_page) {
		if (gfn)
			return trustmig_session_fail(s,
					TRUSTMIG_REASON_BAD_HEADER, EPROTO);
		return 0;
	}
	/* KVM's private memslots (APIC page, TSS...) are not the guest's. */
	*msp = gfn_to_memslot(tf->kvm, gfn);
	if (!*msp || (*msp)->id >= KVM_USER_MEM_SLOTS)
		return trustmig_session_fail(s, TRUSTMIG_REASON_GFN, ERANGE);
	return 0;
}

/* Acts on an authenticated record; guest memory changes only here. */
static int trustmig_apply(struct trustmig_file *tf,
			  const struct trustmig_rec_hdr *hdr,
			  const struct kvm_memory_slot *ms,
			  void __user *state_buf)
{
	struct trustmig_session *s = tf->session;
	const u8 *payload = tf->rec + TRUSTMIG_HDR_LEN;
	const struct trustmig_round_end *re = (const void *)payload;
	const struct trustmig_commit *c = (const void *)payload;
	struct sha256_state transcript;
	u8 digest[SHA256_DIGEST_SIZE];
	void __user *hva;
	bool ok;

	switch (hdr->type) {
	case TRUSTMIG_REC_PAGE:
	case TRUSTMIG_REC_ZERO:
		hva = (void __user *)__gfn_to_hva_memslot(ms,
						trustmig_hdr_gfn(hdr));
		if (hdr->type == TRUSTMIG_REC_PAGE ?
		    copy_to_user(hva, payload, PAGE_SIZE) :
		    clear_user(hva, PAGE_SIZE))
			return trustmig_session_fail(s, TRUSTMIG_REASON_FAULT,
						     EFAULT);
		s->stats.pages++;
		s->stats.zero_pages += hdr->type == TRUSTMIG_REC_ZERO;
		s->round_pages++;
		return 0;
	case TRUSTMIG_REC_STATE:
		/* Into the VMM's buffer; it waits for the commit to use it. */
		if (copy_to_user(state_buf, payload, be16_to_cpu(hdr->len)))
			return trustmig_session_fail(s, TRUSTMIG_REASON_FAULT,
						     EFAULT);
		return 0;
	case TRUSTMIG_REC_ROUND_END:
		if (be64_to_cpu(re->pages) != s->round_pages ||
		    be64_to_cpu(re->records) != s->seq)
			return trustmig_session_fail(s, TRUSTMIG_REASON_COMMIT,
						     EBADMSG);
		s->round++;
		s->round_pages = 0;
		s->stats.rounds++;
		return 0;
	}
	transcript = s->transcript;
	sha256_final(&transcript, digest);
	ok = be64_to_cpu(c->records) == s->seq &&
	     be64_to_cpu(c->pages) == s->stats.pages &&
	     be64_to_cpu(c->rounds) == s->stats.rounds &&
	     !crypto_memneq(digest, c->transcript, sizeof(digest));
	memzero_explicit(digest, sizeof(digest));
	if (!ok)
		return trustmig_session_fail(s, TRUSTMIG_REASON_COMMIT,
					     EBADMSG);
	return 0;
}

/* Opens the record at @ubuf; returns its size, 0 if incomplete. */
static int trustmig_open_record(struct trustmig_file *tf, u8 __user *ubuf,
				u64 avail, void __user *state_buf,
				u32 state_room)
{
	struct trustmig_rec_hdr *hdr = (struct trustmig_rec_hdr *)tf->rec;
	struct trustmig_session *s = tf->session;
	const struct kvm_memory_slot *ms = NULL;
	unsigned int len, size;
	int err;

	if (avail < TRUSTMIG_HDR_LEN)
		return 0;
	if (copy_from_user(hdr, ubuf, TRUSTMIG_HDR_LEN))
		return trustmig_session_fail(s, TRUSTMIG_REASON_FAULT, EFAULT);
	len = be16_to_cpu(hdr->len);
	if (hdr->version != TRUSTMIG_WIRE_VERSION || hdr->flags ||
	    !trustmig_payload_len_ok(hdr->type, len))
		return trustmig_session_fail(s, TRUSTMIG_REASON_BAD_HEADER,
					     EPROTO);
	size = TRUSTMIG_HDR_LEN + len + TRUSTMIG_TAG_LEN;
	if (avail < size)
		return 0;
	/* Not the stream's fault: let the VMM retry with room for it. */
	if (hdr->type == TRUSTMIG_REC_STATE && len > state_room)
		return -EMSGSIZE;
	err = trustmig_check_hdr(tf, hdr, len, &ms);
	if (err)
		return err;
	if (copy_from_user(tf->rec + TRUSTMIG_HDR_LEN, ubuf + TRUSTMIG_HDR_LEN,
			   len + TRUSTMIG_TAG_LEN))
		return trustmig_session_fail(s, TRUSTMIG_REASON_FAULT, EFAULT);
	/* Only a tag mismatch is one: the cipher may also fail to run. */
	err = trustmig_aead_open(s->aead, s->seq, tf->rec, len);
	if (err == -EBADMSG)
		return trustmig_session_fail(s, TRUSTMIG_REASON_AUTH, EBADMSG);
	if (err)
		return trustmig_session_fail(s, TRUSTMIG_REASON_CRYPTO, EIO);
	err = trustmig_apply(tf, hdr, ms, state_buf);
	if (err)
		return err;
	trustmig_session_account(s, tf->rec, len);
	return size;
}

static long trustmig_ioc_open(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_session *s = tf->session;
	struct trustmig_open arg;
	u32 state_room;
	u8 __user *ubuf;
	int err, size, idx;
	u8 type;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~TRUSTMIG_OPEN_EOF || arg.pad)
		return -EINVAL;
	ubuf = u64_to_user_ptr(arg.buf);
	state_room = arg.state_buf ? arg.state_len : 0;
	arg.consumed = 0;
	arg.records = 0;
	arg.result = 0;
	arg.state_len = 0;

	mutex_lock(&s->lock);
	err = trustmig_session_usable(s, TRUSTMIG_ROLE_DEST);
	if (err)
		goto out_unlock;
	idx = srcu_read_lock(&tf->kvm->srcu);
	while (s->state == TRUSTMIG_STATE_ACTIVE) {
		size = trustmig_open_record(tf, ubuf + arg.consumed,
					    arg.buf_len - arg.consumed,
					    u64_to_user_ptr(arg.state_buf),
					    state_room);
		if (size <= 0) {
			err = size;
			break;
		}
		arg.consumed += size;
		arg.records++;
		type = ((struct trustmig_rec_hdr *)tf->rec)->type;
		if (type == TRUSTMIG_REC_COMMIT)
			trustmig_session_complete(s);
		if (type == TRUSTMIG_REC_STATE) {
			arg.result |= TRUSTMIG_OPEN_STATE;
			arg.state_len = size - TRUSTMIG_HDR_LEN -
					TRUSTMIG_TAG_LEN;
			break;
		}
		if (fatal_signal_pending(current))
			break;
		cond_resched();
	}
	srcu_read_unlock(&tf->kvm->srcu, idx);
	if (!err && s->state == TRUSTMIG_STATE_COMPLETE)
		arg.result |= TRUSTMIG_OPEN_COMPLETE;
	else if (!err && arg.flags & TRUSTMIG_OPEN_EOF &&
		 !(arg.result & TRUSTMIG_OPEN_STATE))
		err = trustmig_session_fail(s, TRUSTMIG_REASON_TRUNCATED,
					    ENODATA);
out_unlock:
	mutex_unlock(&s->lock);
	/* Progress is reported on errors too: those records were taken. */
	if (copy_to_user(argp, &arg, sizeof(arg)) && !err)
		err = -EFAULT;
	return err;
}

static long trustmig_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct trustmig_file *tf = file->private_data;
	void __user *argp = (void __user *)arg;
	long ret;

	mutex_lock(&tf->lock);
	if (cmd == TRUSTMIG_ATTACH) {
		ret = trustmig_ioc_attach(tf, argp);
		goto out;
	}
	if (!tf->session) {
		ret = -ENOTCONN;
		goto out;
	}
	/* The VM's memory is reached through its owner's mappings. */
	if (current->mm != tf->kvm->mm) {
		ret = -EPERM;
		goto out;
	}
	switch (cmd) {
	case TRUSTMIG_SEAL:
		ret = trustmig_ioc_seal(tf, argp);
		break;
	case TRUSTMIG_END_ROUND:
		ret = trustmig_ioc_control(tf, argp, false);
		break;
	case TRUSTMIG_COMMIT:
		ret = trustmig_ioc_control(tf, argp, true);
		break;
	case TRUSTMIG_OPEN:
		ret = trustmig_ioc_open(tf, argp);
		break;
	case TRUSTMIG_SEAL_STATE:
		ret = trustmig_ioc_seal_state(tf, argp);
		break;
	case TRUSTMIG_RESUMED:
		ret = trustmig_ioc_resumed(tf, argp);
		break;
	case TRUSTMIG_CONFIRM:
		ret = trustmig_ioc_confirm(tf, argp);
		break;
	default:
		ret = -ENOTTY;
	}
out:
	mutex_unlock(&tf->lock);
	return ret;
}

static const struct file_operations trustmig_fops = {
	.owner = THIS_MODULE,
	.open = trustmig_open,
	.release = trustmig_release,
	.unlocked_ioctl = trustmig_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice trustmig_misc = {
	.minor = TRUSTMIG_DEV_MINOR,
	.name = TRUSTMIG_DEV_NAME,
	.fops = &trustmig_fops,
	/* The ticket authorises an attach; the node itself stays root's. */
	.mode = 0600,
};

int __init trustmig_device_init(void)
{
	int err = misc_register(&trustmig_misc);

	if (err == -EBUSY)
		pr_err("misc device 10:%d is another driver's: /dev/%s cannot be created\n",
		       TRUSTMIG_DEV_MINOR, TRUSTMIG_DEV_NAME);
	return err;
}

void trustmig_device_exit(void)
{
	misc_deregister(&trustmig_misc);
}

/* /dev/trustmig before the first load; opening it loads the module. */
MODULE_ALIAS_MISCDEV(TRUSTMIG_DEV_MINOR);
MODULE_ALIAS("devname:" TRUSTMIG_DEV_NAME);
