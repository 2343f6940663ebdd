/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The module's own record of what KVM marked dirty in attached VMs.
 */
#ifndef _TRUSTMIG_DIRTY_H
#define _TRUSTMIG_DIRTY_H

#include <linux/kvm_host.h>

struct trustmig_dirty_slot {
	/*
	 * What the memslot was when tracking began.  KVM allocates a new
	 * kvm_memory_slot for every change (flags, move, re-creation), so
	 * the pointer is kept as an identity, never dereferenced.
	 */
	const struct kvm_memory_slot *identity;
	unsigned long userspace_addr;
	gfn_t base_gfn;
	unsigned long npages;
	unsigned long *seen;	/* set by the hook since the last harvest */
	unsigned long *pending;	/* harvested, not sealed yet */
	unsigned long *carry;	/* taken from seen last harvest: sealed
				 * again in the next round
				 */
};

struct trustmig_tracker;

int trustmig_dirty_init(void);
void trustmig_dirty_exit(void);

struct trustmig_tracker *trustmig_tracker_new(struct kvm *kvm);
void trustmig_tracker_free(struct trustmig_tracker *t);

struct trustmig_dirty_slot *
trustmig_tracker_slot(struct trustmig_tracker *t, u32 slot);
struct trustmig_dirty_slot *
trustmig_tracker_add_slot(struct trustmig_tracker *t,
			  const struct kvm_memory_slot *ms);
void trustmig_dirty_harvest(struct trustmig_dirty_slot *ds);
bool trustmig_tracker_pending(struct trustmig_tracker *t, bool with_seen);
bool trustmig_dirty_slot_same(const struct trustmig_dirty_slot *ds,
			      const struct kvm_memory_slot *ms);

#endif /* _TRUSTMIG_DIRTY_H */
