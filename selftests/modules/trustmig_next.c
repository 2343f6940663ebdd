// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig_next.ko: all that the tools see of a trustmig.ko from a
 * release with the next netlink version, its generic netlink family.
 * version_test loads it in trustmig.ko's place: the tools must refuse it
 * with one line naming both versions.
 */
#include <linux/module.h>
#include <net/genetlink.h>

#include <linux/trustmig.h>

static int trustmig_next_doit(struct sk_buff *skb, struct genl_info *info)
{
	return -EOPNOTSUPP;
}

static const struct genl_small_ops trustmig_next_ops[] = {
	{
		.cmd = TRUSTMIG_CMD_SESSION_GET,
		.doit = trustmig_next_doit,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family trustmig_next_family __ro_after_init = {
	.name = TRUSTMIG_GENL_NAME,
	.version = TRUSTMIG_GENL_VERSION + 1,
	.small_ops = trustmig_next_ops,
	.n_small_ops = ARRAY_SIZE(trustmig_next_ops),
	.resv_start_op = TRUSTMIG_CMD_SESSION_NEW,
	.module = THIS_MODULE,
};

static int __init trustmig_next_init(void)
{
	return genl_register_family(&trustmig_next_family);
}

static void __exit trustmig_next_exit(void)
{
	genl_unregister_family(&trustmig_next_family);
}

module_init(trustmig_next_init);
module_exit(trustmig_next_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("trustmig selftests: the trustmig family, next netlink version");
