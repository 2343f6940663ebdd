// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig: attested, kernel-sealed live migration of KVM guests.
 */
#include <linux/module.h>

#include "device.h"
#include "dirty.h"
#include "netlink.h"
#include "session.h"

#ifdef TRUSTMIG_BENCH_COPY_ONLY
/* The benchmarks' copy-only build (seal.c) loads only when asked to. */
static bool bench_copy_only;
module_param(bench_copy_only, bool, 0444);
MODULE_PARM_DESC(bench_copy_only,
		 "benchmark build: pages cross in clear; set to 1 to load anyway");
#endif

static int __init trustmig_init(void)
{
	int err;

#ifdef TRUSTMIG_BENCH_COPY_ONLY
	if (!bench_copy_only) {
		pr_err("benchmark build, pages are NOT encrypted: refusing to load without bench_copy_only=1\n");
		return -EPERM;
	}
	pr_warn("benchmark build: records are copied, NOT encrypted or authenticated\n");
#endif
	err = trustmig_sessions_init();
	if (err)
		return err;
	err = trustmig_dirty_init();
	if (err)
		goto err_sessions;
	err = trustmig_device_init();
	if (err)
		goto err_dirty;
	/* Last: once the family exists, sessions can be made. */
	err = trustmig_nl_init();
	if (err)
		goto err_device;
	pr_info("%s loaded: netlink family %s v%d, /dev/%s\n",
		TRUSTMIG_VERSION, TRUSTMIG_GENL_NAME, TRUSTMIG_GENL_VERSION,
		TRUSTMIG_DEV_NAME);
	return 0;

err_device:
	trustmig_device_exit();
err_dirty:
	trustmig_dirty_exit();
err_sessions:
	trustmig_sessions_exit();
	return err;
}

static void __exit trustmig_exit(void)
{
	/* Waits for requests in flight; none can create a session after. */
	trustmig_nl_exit();
	/* No open file remains: each one pins the module. */
	trustmig_device_exit();
	trustmig_dirty_exit();
	/* Erases the keys of the sessions netlink left behind. */
	trustmig_sessions_exit();
}

module_init(trustmig_init);
module_exit(trustmig_exit);

MODULE_LICENSE("GPL");
MODULE_VERSION(TRUSTMIG_VERSION);
MODULE_DESCRIPTION("Attested, kernel-sealed live migration of KVM guests");
