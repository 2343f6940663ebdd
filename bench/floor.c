// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig_bench: the floors of trustmig's sealing benchmarks.  It runs
 * the kernel's AEAD transform through the crypto API exactly as
 * trustmig's seal.c calls it (one request per record, header as
 * associated data, in place, one scatterlist entry, waiting for each),
 * over pages already in kernel memory, and nothing else: no guest memory,
 * no zero check, no header, no copy to the VMM.  Built by
 * make bench only, never installed.
 */
#include <crypto/aead.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/unaligned.h>
#include <linux/trustmig.h>

#include "seal.h"
#include "tmbench.h"

static DEFINE_MUTEX(trustmig_bench_lock);
static u8 **trustmig_bench_recs;	/* TRUSTMIG_PAGE_REC_LEN each */
static u32 trustmig_bench_loaded;
static u8 *trustmig_bench_bounce;

static void trustmig_bench_free(void)
{
	u32 i;

	for (i = 0; i < trustmig_bench_loaded; i++)
		kfree(trustmig_bench_recs[i]);
	kvfree(trustmig_bench_recs);
	trustmig_bench_recs = NULL;
	trustmig_bench_loaded = 0;
}

static long trustmig_bench_load(void __user *argp)
{
	struct tmbench_load arg;
	const u8 __user *src;
	int err = -ENOMEM;
	u32 i;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.pad || !arg.npages || arg.npages > TMBENCH_MAX_PAGES)
		return -EINVAL;
	trustmig_bench_free();
	trustmig_bench_recs = kvcalloc(arg.npages, sizeof(u8 *), GFP_KERNEL);
	if (!trustmig_bench_recs)
		return -ENOMEM;
	src = u64_to_user_ptr(arg.buf);
	for (i = 0; i < arg.npages; i++) {
		/* kmalloc, as trustmig's record buffer: one sg entry. */
		trustmig_bench_recs[i] = kzalloc(TRUSTMIG_PAGE_REC_LEN,
						 GFP_KERNEL);
		if (!trustmig_bench_recs[i])
			goto err;
		trustmig_bench_loaded = i + 1;
		if (copy_from_user(trustmig_bench_recs[i] + TRUSTMIG_HDR_LEN,
				   src + (size_t)i * PAGE_SIZE, PAGE_SIZE)) {
			err = -EFAULT;
			goto err;
		}
	}
	return 0;
err:
	trustmig_bench_free();
	return err;
}

static int trustmig_bench_aead(const struct tmbench_run *arg)
{
	const char *name = trustmig_cipher_name(arg->cipher);
	bool encrypt = arg->op == TMBENCH_SEAL;
	u8 key[TRUSTMIG_KEY_LEN], iv[TRUSTMIG_SALT_LEN];
	struct aead_request *req;
	struct crypto_aead *tfm;
	struct scatterlist sg;
	DECLARE_CRYPTO_WAIT(wait);
	int err;
	u32 i;

	if (!name)
		return -EINVAL;
	tfm = crypto_alloc_aead(name, 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	/* The same key every run, so OPEN verifies what SEAL produced. */
	memset(key, 0x5a, sizeof(key));
	err = crypto_aead_setkey(tfm, key, sizeof(key));
	if (!err)
		err = crypto_aead_setauthsize(tfm, TRUSTMIG_TAG_LEN);
	req = err ? NULL : aead_request_alloc(tfm, GFP_KERNEL);
	if (!req) {
		err = err ?: -ENOMEM;
		goto out;
	}
	memset(iv, 0, sizeof(iv));
	for (i = 0; i < arg->npages && !err; i++) {
		put_unaligned_be64(i, iv + TRUSTMIG_SALT_LEN - 8);
		sg_init_one(&sg, trustmig_bench_recs[i],
			    TRUSTMIG_HDR_LEN + arg->len + TRUSTMIG_TAG_LEN);
		aead_request_set_callback(req, CRYPTO_TFM_REQ_MAY_SLEEP,
					  crypto_req_done, &wait);
		aead_request_set_ad(req, TRUSTMIG_HDR_LEN);
		aead_request_set_crypt(req, &sg, &sg, encrypt ? arg->len :
				       arg->len + TRUSTMIG_TAG_LEN, iv);
		err = crypto_wait_req(encrypt ? crypto_aead_encrypt(req) :
				      crypto_aead_decrypt(req), &wait);
	}
	aead_request_free(req);
out:
	crypto_free_aead(tfm);
	return err;
}

/* What trustmig does per record besides the AEAD, one piece at a time. */
static int trustmig_bench_piece(const struct tmbench_run *arg)
{
	const u8 *rec;
	int zeros = 0;
	u32 i;

	for (i = 0; i < arg->npages; i++) {
		rec = trustmig_bench_recs[i];
		switch (arg->op) {
		case TMBENCH_COPY:
			memcpy(trustmig_bench_bounce, rec + TRUSTMIG_HDR_LEN,
			       PAGE_SIZE);
			break;
		case TMBENCH_ZERO_CHECK:
			zeros += trustmig_page_zero(rec + TRUSTMIG_HDR_LEN);
			break;
		}
	}
	/* Keeps the zero check from being optimised away. */
	return zeros > arg->npages ? -EINVAL : 0;
}

static long trustmig_bench_run(void __user *argp)
{
	struct tmbench_run arg;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.npages > trustmig_bench_loaded ||
	    (arg.len != 0 && arg.len != PAGE_SIZE))
		return -EINVAL;
	switch (arg.op) {
	case TMBENCH_SEAL:
	case TMBENCH_OPEN:
		return trustmig_bench_aead(&arg);
	case TMBENCH_COPY:
	case TMBENCH_ZERO_CHECK:
		return trustmig_bench_piece(&arg);
	}
	return -EINVAL;
}

static long trustmig_bench_ioctl(struct file *file, unsigned int cmd,
				 unsigned long arg)
{
	void __user *argp = (void __user *)arg;
	long ret;

	mutex_lock(&trustmig_bench_lock);
	switch (cmd) {
	case TMBENCH_LOAD:
		ret = trustmig_bench_load(argp);
		break;
	case TMBENCH_RUN:
		ret = trustmig_bench_run(argp);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&trustmig_bench_lock);
	return ret;
}

static const struct file_operations trustmig_bench_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = trustmig_bench_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice trustmig_bench_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = TMBENCH_DEV_NAME,
	.fops = &trustmig_bench_fops,
	.mode = 0600,
};

static int __init trustmig_bench_init(void)
{
	int err;

	trustmig_bench_bounce = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!trustmig_bench_bounce)
		return -ENOMEM;
	err = misc_register(&trustmig_bench_misc);
	if (err)
		kfree(trustmig_bench_bounce);
	return err;
}

static void __exit trustmig_bench_exit(void)
{
	misc_deregister(&trustmig_bench_misc);
	trustmig_bench_free();
	kfree(trustmig_bench_bounce);
}

module_init(trustmig_bench_init);
module_exit(trustmig_bench_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("trustmig benchmarks: raw AEAD and copy floors (benchmark only)");
