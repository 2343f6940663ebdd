/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Opening: the ioctls through which a /dev/trustmig file consumes
 * records (OPEN, CONFIRM), called as device.h says.
 */
#ifndef _TRUSTMIG_RECEIVE_H
#define _TRUSTMIG_RECEIVE_H

#include <linux/types.h>

struct trustmig_file;

long trustmig_ioc_open(struct trustmig_file *tf, void __user *argp);
long trustmig_ioc_confirm(struct trustmig_file *tf, void __user *argp);

#endif /* _TRUSTMIG_RECEIVE_H */
