// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/trustmig: attach a KVM VM to a session, then seal its pages into
 * records (source, send.c) or open records straight into its memory
 * (destination).
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
#include "send.h"
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
