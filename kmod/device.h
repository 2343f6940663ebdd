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
#include <linux/trustmig.h>

#include "seal.h"

struct kvm;
struct trustmig_lane;
struct trustmig_session;
struct trustmig_tracker;

/*
 * Pages a source's SEAL reads per hold of KVM's slots_lock: the lock and
 * the memslot lookup are paid once per batch, not per page.
 */
#define TRUSTMIG_READ_BATCH	16

/*
 * An open /dev/trustmig: what a VMM attached it to, once it has.  The
 * ioctls of send.h and receive.h run on an attached file, from the VM's
 * owner (trustmig_ioctl()), each inside a trustmig_lane_call.
 */
struct trustmig_file {
	/* Serialises attach against the check that a file is attached. */
	struct mutex lock;
	struct trustmig_session *session;	/* set once, by ATTACH */
	struct kvm *kvm;
	struct trustmig_tracker *tracker;	/* sources only */
	/* Each lane's record in clear, made by its first call. */
	u8 *rec[TRUSTMIG_LANES_MAX];
	/* A source lane's pages read, each with room for its record. */
	u8 *pages[TRUSTMIG_LANES_MAX][TRUSTMIG_READ_BATCH];
};

/*
 * One call's hold on a lane: the session's lanes_sem (read, or write for
 * a call that needs every lane still), the lane's lock, the key in use,
 * and the lane's record buffer.  Nothing of it needs the session's lock.
 */
struct trustmig_lane_call {
	struct trustmig_file *tf;
	struct trustmig_session *s;
	struct trustmig_lane *l;
	u32 lane;
	bool all_lanes;
	struct trustmig_crypt crypt;
	u8 *rec;
	u8 reason;		/* the session must fail: why */
};

/*
 * Takes @lane of @tf's session for @role, if @check (the session's
 * state test) passes.  0 or -errno, with nothing held on error.
 */
int trustmig_lane_begin(struct trustmig_lane_call *c, struct trustmig_file *tf,
			u32 lane, bool all_lanes,
			int (*check)(struct trustmig_session *s, u8 role),
			u8 role);
/* The lane's page buffers, made by its first SEAL; 0 or -ENOMEM. */
int trustmig_lane_pages_alloc(struct trustmig_lane_call *c);
/*
 * Lets the lane go; if the call set a reason, fails the session first.
 * Returns @err, or the failure's error.
 */
int trustmig_lane_end(struct trustmig_lane_call *c, int err);

/* The call must fail the session: records why, returns -@err. */
static inline int trustmig_lane_fail(struct trustmig_lane_call *c, u8 reason,
				     int err)
{
	c->reason = reason;
	return -err;
}

int trustmig_device_init(void);
void trustmig_device_exit(void);

#endif /* _TRUSTMIG_DEVICE_H */
