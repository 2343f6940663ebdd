/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The module's own record of what KVM marked dirty in attached VMs, and
 * of which pages may have changed since they were sealed.
 */
#ifndef _TRUSTMIG_DIRTY_H
#define _TRUSTMIG_DIRTY_H

#include <linux/kvm_host.h>

struct trustmig_dirty_slot {
	/* The memslot's geometry when tracking began. */
	unsigned long userspace_addr;
	gfn_t base_gfn;
	unsigned long npages;
	/*
	 * Set by the memslot hook when KVM changes this slot in any way
	 * (logging toggled, moved, deleted): writes may have gone unlogged.
	 */
	bool stale;
	unsigned long *seen;	/* set by the hook since the last harvest */
	unsigned long *pending;	/* to be sealed in this round */
	unsigned long *carry;	/* sealed while KVM's dirty bit was set:
				 * possibly still writable, sealed again
				 */
};

struct trustmig_tracker;

int trustmig_dirty_init(void);
void trustmig_dirty_exit(void);
int trustmig_dirty_self_check(void);

struct trustmig_tracker *trustmig_tracker_new(struct kvm *kvm);
void trustmig_tracker_free(struct trustmig_tracker *t);

struct trustmig_dirty_slot *
trustmig_tracker_slot(struct trustmig_tracker *t, u32 slot);
struct trustmig_dirty_slot *
trustmig_tracker_add_slot(struct trustmig_tracker *t,
			  const struct kvm_memory_slot *ms);
int trustmig_tracker_check_slots(struct trustmig_tracker *t);
/* Some page of @lane is harvested but not sealed yet: its round goes on. */
bool trustmig_tracker_pending(struct trustmig_tracker *t, u32 lane, u32 lanes);
bool trustmig_tracker_unsettled(struct trustmig_tracker *t);

void trustmig_dirty_harvest(struct trustmig_dirty_slot *ds,
			    const unsigned long *vmm_bitmap);
void trustmig_dirty_sealed(struct trustmig_tracker *t,
			   struct trustmig_dirty_slot *ds,
			   const struct kvm_memory_slot *ms,
			   unsigned long bit);
/*
 * The first pending page of @ds from @bit on that @lane of @lanes carries
 * (TRUSTMIG_LANE_OF()), or ds->npages; and how many it has pending.
 */
unsigned long trustmig_dirty_next(const struct trustmig_dirty_slot *ds,
				  unsigned long bit, u32 lane, u32 lanes);
unsigned long trustmig_dirty_pending(const struct trustmig_dirty_slot *ds,
				     u32 lane, u32 lanes);
bool trustmig_dirty_slot_same(struct trustmig_tracker *t,
			      const struct trustmig_dirty_slot *ds,
			      const struct kvm_memory_slot *ms);

#endif /* _TRUSTMIG_DIRTY_H */
