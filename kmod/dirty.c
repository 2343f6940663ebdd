// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty tracking independent of the VMM.
 *
 * An ftrace hook on KVM's exported mark_page_dirty_in_slot() sees every
 * page KVM logs as dirty.  For each attached source VM it sets the page's
 * bit in a per-memslot "seen" bitmap.  A harvest moves "seen" into
 * "pending" with an atomic exchange per word, so a write that races the
 * harvest lands either in this round or in the next one, never nowhere.
 * What gets sealed is the union of the VMM's harvested dirty log and
 * this set: a VMM that forgets a page cannot make the destination miss
 * a write that KVM saw.  docs/architecture.md has the ordering argument.
 *
 * The hook runs in whatever context KVM marks pages from (mmu_lock held,
 * preemption off), so it only reads RCU-protected structures and sets
 * bits: no locks, no allocation.
 */
#include <linux/bitmap.h>
#include <linux/ftrace.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "dirty.h"

struct trustmig_tracker {
	struct list_head node;		/* in trustmig_trackers */
	struct kvm *kvm;
	struct xarray slots;		/* memslot id -> trustmig_dirty_slot */
};

static LIST_HEAD(trustmig_trackers);
static DEFINE_MUTEX(trustmig_trackers_lock);

static void notrace trustmig_dirty_hook(unsigned long ip,
					unsigned long parent_ip,
					struct ftrace_ops *ops,
					struct ftrace_regs *fregs)
{
	/* mark_page_dirty_in_slot(struct kvm *, memslot *, gfn_t) */
	struct pt_regs *regs = ftrace_get_regs(fregs);
	const struct kvm_memory_slot *ms;
	struct trustmig_dirty_slot *ds;
	struct trustmig_tracker *t;
	struct kvm *kvm;
	gfn_t gfn;
	int bit;

	bit = ftrace_test_recursion_trylock(ip, parent_ip);
	if (bit < 0)
		return;
	kvm = (struct kvm *)regs->di;
	ms = (const struct kvm_memory_slot *)regs->si;
	gfn = regs->dx;
	if (!ms || ms->as_id)
		goto out;

	rcu_read_lock();
	list_for_each_entry_rcu(t, &trustmig_trackers, node) {
		if (t->kvm != kvm)
			continue;
		ds = xa_load(&t->slots, ms->id);
		if (ds && gfn - ds->base_gfn < ds->npages)
			set_bit(gfn - ds->base_gfn, ds->seen);
	}
	rcu_read_unlock();
out:
	ftrace_test_recursion_unlock(bit);
}

static struct ftrace_ops trustmig_dirty_ops = {
	.func = trustmig_dirty_hook,
	/* The hook reads the traced function's arguments from pt_regs. */
	.flags = FTRACE_OPS_FL_SAVE_REGS,
};

int __init trustmig_dirty_init(void)
{
	unsigned long ip = (unsigned long)mark_page_dirty_in_slot;
	int err;

	err = ftrace_set_filter_ip(&trustmig_dirty_ops, ip, 0, 0);
	if (err) {
		pr_err("cannot filter on mark_page_dirty_in_slot: %d\n", err);
		return err;
	}
	err = register_ftrace_function(&trustmig_dirty_ops);
	if (err) {
		pr_err("cannot hook mark_page_dirty_in_slot: %d\n", err);
		ftrace_set_filter_ip(&trustmig_dirty_ops, ip, 1, 0);
	}
	return err;
}

void trustmig_dirty_exit(void)
{
	/* Returns once no CPU can still be inside the hook. */
	unregister_ftrace_function(&trustmig_dirty_ops);
	ftrace_set_filter_ip(&trustmig_dirty_ops,
			     (unsigned long)mark_page_dirty_in_slot, 1, 0);
}

struct trustmig_tracker *trustmig_tracker_new(struct kvm *kvm)
{
	struct trustmig_tracker *t = kzalloc(sizeof(*t), GFP_KERNEL);

	if (!t)
		return NULL;
	t->kvm = kvm;
	xa_init(&t->slots);
	mutex_lock(&trustmig_trackers_lock);
	list_add_rcu(&t->node, &trustmig_trackers);
	mutex_unlock(&trustmig_trackers_lock);
	return t;
}

/* KVM allows 2^31-page slots: far beyond what kmalloc can give. */
static unsigned long *trustmig_bitmap_alloc(unsigned long nbits)
{
	return kvcalloc(BITS_TO_LONGS(nbits), sizeof(long), GFP_KERNEL_ACCOUNT);
}

static void trustmig_dirty_slot_free(struct trustmig_dirty_slot *ds)
{
	kvfree(ds->seen);
	kvfree(ds->pending);
	kvfree(ds->carry);
	kfree(ds);
}

void trustmig_tracker_free(struct trustmig_tracker *t)
{
	struct trustmig_dirty_slot *ds;
	unsigned long id;

	if (!t)
		return;
	mutex_lock(&trustmig_trackers_lock);
	list_del_rcu(&t->node);
	mutex_unlock(&trustmig_trackers_lock);
	/* The hook may still be looking at this tracker's slots. */
	synchronize_rcu();
	xa_for_each(&t->slots, id, ds)
		trustmig_dirty_slot_free(ds);
	xa_destroy(&t->slots);
	kfree(t);
}

struct trustmig_dirty_slot *
trustmig_tracker_slot(struct trustmig_tracker *t, u32 slot)
{
	return xa_load(&t->slots, slot);
}

struct trustmig_dirty_slot *
trustmig_tracker_add_slot(struct trustmig_tracker *t,
			  const struct kvm_memory_slot *ms)
{
	struct trustmig_dirty_slot *ds;
	int err;

	ds = kzalloc(sizeof(*ds), GFP_KERNEL);
	if (!ds)
		return ERR_PTR(-ENOMEM);
	ds->identity = ms;
	ds->userspace_addr = ms->userspace_addr;
	ds->base_gfn = ms->base_gfn;
	ds->npages = ms->npages;
	ds->seen = trustmig_bitmap_alloc(ms->npages);
	ds->pending = trustmig_bitmap_alloc(ms->npages);
	ds->carry = trustmig_bitmap_alloc(ms->npages);
	if (!ds->seen || !ds->pending || !ds->carry) {
		err = -ENOMEM;
		goto err_free;
	}
	/* The first round of a slot carries every page of it. */
	bitmap_fill(ds->pending, ds->npages);
	/* Publishes a fully initialised slot to the hook. */
	err = xa_err(xa_store(&t->slots, ms->id, ds, GFP_KERNEL));
	if (err)
		goto err_free;
	return ds;

err_free:
	trustmig_dirty_slot_free(ds);
	return ERR_PTR(err);
}

bool trustmig_dirty_slot_same(const struct trustmig_dirty_slot *ds,
			      const struct kvm_memory_slot *ms)
{
	return ms == ds->identity && ms->userspace_addr == ds->userspace_addr &&
	       ms->base_gfn == ds->base_gfn && ms->npages == ds->npages &&
	       ms->flags & KVM_MEM_LOG_DIRTY_PAGES;
}

/*
 * The hook sees only the write that faults after the VMM re-protected a
 * page; later writes go unseen until the VMM's next harvest protects it
 * again.  A page taken from "seen" may therefore change after it was
 * sealed, so it is sealed once more in the next round, which reads it
 * after that re-protection.
 */
void trustmig_dirty_harvest(struct trustmig_dirty_slot *ds)
{
	unsigned long i, seen;

	for (i = 0; i < BITS_TO_LONGS(ds->npages); i++) {
		seen = xchg(&ds->seen[i], 0);
		ds->pending[i] |= seen | ds->carry[i];
		ds->carry[i] = seen;
	}
}

/* True while some page is harvested but unsealed, or (with_seen) dirty. */
bool trustmig_tracker_pending(struct trustmig_tracker *t, bool with_seen)
{
	struct trustmig_dirty_slot *ds;
	unsigned long id;

	xa_for_each(&t->slots, id, ds) {
		if (!bitmap_empty(ds->pending, ds->npages))
			return true;
		if (with_seen && !bitmap_empty(ds->seen, ds->npages))
			return true;
	}
	return false;
}
