/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /dev/trustmig: the VMM's data path.  device.c attaches a file to a VM
 * and a session and dispatches its ioctls; send.c seals records and
 * receive.c opens them.
 */
#ifndef _TRUSTMIG_DEVICE_H
#define _TRUSTMIG_DEVICE_H

#include <linux/mutex.h>
#include <linux/types.h>

struct kvm;
struct trustmig_session;
struct trustmig_tracker;

/*
 * An open /dev/trustmig: what a VMM attached it to, once it has.  The
 * ioctls of send.h and receive.h run on an attached file, from the VM's
 * owner, with @lock held (trustmig_ioctl()): the attachment and @rec are
 * theirs for the call.  Each takes the session's lock itself.
 */
struct trustmig_file {
	/* Serialises attach against everything else on this file. */
	struct mutex lock;
	struct trustmig_session *session;	/* set once, by ATTACH */
	struct kvm *kvm;
	struct trustmig_tracker *tracker;	/* sources only */
	u8 *rec;				/* one record in clear */
};

int trustmig_device_init(void);
void trustmig_device_exit(void);

#endif /* _TRUSTMIG_DEVICE_H */
