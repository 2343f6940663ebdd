/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sealing: the ioctls through which a /dev/trustmig file produces
 * records (SEAL, END_ROUND and COMMIT, SEAL_STATE, RESUMED), called as
 * device.h says.
 */
#ifndef _TRUSTMIG_SEND_H
#define _TRUSTMIG_SEND_H

#include <linux/types.h>

struct trustmig_file;

long trustmig_ioc_seal(struct trustmig_file *tf, void __user *argp);
/* END_ROUND, or COMMIT if @commit. */
long trustmig_ioc_control(struct trustmig_file *tf, void __user *argp,
			  bool commit);
long trustmig_ioc_seal_state(struct trustmig_file *tf, void __user *argp);
long trustmig_ioc_resumed(struct trustmig_file *tf, void __user *argp);

#endif /* _TRUSTMIG_SEND_H */
