// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig: attested, kernel-sealed live migration of KVM guests.
 */
#include <linux/module.h>

#include "device.h"
#include "dirty.h"
#include "netlink.h"
#include "session.h"

static int __init trustmig_init(void)
{
	int err;

	err = trustmig_nl_init();
	if (err)
		return err;
	err = trustmig_dirty_init();
	if (err)
		goto err_nl;
	err = trustmig_device_init();
	if (err)
		goto err_dirty;
	pr_info("loaded: netlink family %s v%d, /dev/%s\n",
		TRUSTMIG_GENL_NAME, TRUSTMIG_GENL_VERSION, TRUSTMIG_DEV_NAME);
	return 0;

err_dirty:
	trustmig_dirty_exit();
err_nl:
	trustmig_nl_exit();
	return err;
}

static void __exit trustmig_exit(void)
{
	/* No open file remains: each one pins the module. */
	trustmig_device_exit();
	trustmig_dirty_exit();
	/* Waits for requests in flight; none can create a session after. */
	trustmig_nl_exit();
	/* Erases the keys of the sessions netlink left behind. */
	trustmig_sessions_exit();
}

module_init(trustmig_init);
module_exit(trustmig_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Attested, kernel-sealed live migration of KVM guests");
