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
