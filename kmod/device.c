// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/trustmig: attach a KVM VM to a session, then seal its pages into
 * records (source, send.c) or open records straight into its memory
 * (destination, receive.c).
 *
 * Guest memory is reached through the VM's memslots, with the VMM's own
 * user mappings: every call must come from the process that owns the VM,
 * which is also what KVM demands of its own ioctls.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "device.h"
#include "dirty.h"
#include "receive.h"
#include "seal.h"
#include "send.h"
#include "session.h"

static int trustmig_open(struct inode *inode, struct file *file)
{
	struct trustmig_file *tf;

	tf = kzalloc(sizeof(*tf), GFP_KERNEL);
	if (!tf)
		return -ENOMEM;
	mutex_init(&tf->lock);
	file->private_data = tf;
	return 0;
}

static int trustmig_release(struct inode *inode, struct file *file)
{
	struct trustmig_file *tf = file->private_data;
	struct trustmig_session *s = tf->session;
	int i, j;

	if (s) {
		mutex_lock(&s->lock);
		trustmig_session_detach(s);
		mutex_unlock(&s->lock);
		trustmig_tracker_free(tf->tracker);
		kvm_put_kvm(tf->kvm);
		trustmig_session_put(s);
	}
	mutex_destroy(&tf->lock);
	/* The buffers held guest pages in clear. */
	for (i = 0; i < TRUSTMIG_LANES_MAX; i++) {
		kfree_sensitive(tf->rec[i]);
		for (j = 0; j < TRUSTMIG_READ_BATCH; j++)
			kfree_sensitive(tf->pages[i][j]);
	}
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
	if (!arg.lanes || arg.lanes > TRUSTMIG_LANES_MAX || arg.pad) {
		err = -EINVAL;
		goto out;
	}

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
	err = trustmig_session_attach(s, arg.ticket, arg.lanes);
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

static long trustmig_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct trustmig_file *tf = file->private_data;
	void __user *argp = (void __user *)arg;
	long ret;

	mutex_lock(&tf->lock);
	if (cmd == TRUSTMIG_ATTACH)
		ret = trustmig_ioc_attach(tf, argp);
	else if (!tf->session)
		ret = -ENOTCONN;
	/* The VM's memory is reached through its owner's mappings. */
	else if (current->mm != tf->kvm->mm)
		ret = -EPERM;
	else
		ret = 0;
	mutex_unlock(&tf->lock);
	/* Attached for good: the lanes' locks serialise what follows. */
	if (ret || cmd == TRUSTMIG_ATTACH)
		return ret;

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
	return ret;
}

int trustmig_lane_begin(struct trustmig_lane_call *c, struct trustmig_file *tf,
			u32 lane, bool all_lanes,
			int (*check)(struct trustmig_session *s, u8 role),
			u8 role)
{
	struct trustmig_session *s = tf->session;
	int err;

	if (lane >= TRUSTMIG_LANES_MAX)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->tf = tf;
	c->s = s;
	c->l = &s->lanes[lane];
	c->lane = lane;
	c->all_lanes = all_lanes;
	err = all_lanes ? down_write_killable(&s->lanes_sem) :
			  down_read_killable(&s->lanes_sem);
	if (err)
		return err;
	err = mutex_lock_killable(&c->l->lock);
	if (err)
		goto err_sem;
	/* kmalloc, not vmalloc: the AEAD maps it with one scatterlist entry. */
	if (!tf->rec[lane]) {
		tf->rec[lane] = kmalloc(TRUSTMIG_REC_MAX, GFP_KERNEL);
		if (!tf->rec[lane]) {
			err = -ENOMEM;
			goto err_lane;
		}
	}
	c->rec = tf->rec[lane];
	mutex_lock(&s->lock);
	err = check(s, role);
	if (!err && lane >= s->nlanes)
		err = -EINVAL;
	/* The session's reference keeps the key alive until we hold ours. */
	if (!err)
		err = trustmig_crypt_begin(&c->crypt, s->aead);
	mutex_unlock(&s->lock);
	if (err)
		goto err_lane;
	return 0;

err_lane:
	mutex_unlock(&c->l->lock);
err_sem:
	if (all_lanes)
		up_write(&s->lanes_sem);
	else
		up_read(&s->lanes_sem);
	return err;
}

int trustmig_lane_pages_alloc(struct trustmig_lane_call *c)
{
	u8 **pages = c->tf->pages[c->lane];
	int i;

	lockdep_assert_held(&c->l->lock);
	for (i = 0; i < TRUSTMIG_READ_BATCH; i++) {
		if (pages[i])
			continue;
		/* kmalloc: the AEAD maps each with one scatterlist entry. */
		pages[i] = kmalloc(TRUSTMIG_PAGE_REC_LEN, GFP_KERNEL);
		if (!pages[i])
			return -ENOMEM;
	}
	return 0;
}

int trustmig_lane_end(struct trustmig_lane_call *c, int err)
{
	struct trustmig_session *s = c->s;

	if (c->reason) {
		mutex_lock(&s->lock);
		err = trustmig_session_fail(s, c->reason, -err);
		mutex_unlock(&s->lock);
	}
	trustmig_crypt_end(&c->crypt);
	mutex_unlock(&c->l->lock);
	if (c->all_lanes)
		up_write(&s->lanes_sem);
	else
		up_read(&s->lanes_sem);
	return err;
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
