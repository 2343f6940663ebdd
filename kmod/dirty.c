// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty tracking independent of the VMM.
 *
 * KVM logs a page by write-protecting it and, on the first write that
 * faults, calling mark_page_dirty_in_slot(), which sets the page's bit in
 * the memslot's dirty bitmap; later writes do not fault until the VMM
 * re-protects the page (KVM_CLEAR_DIRTY_LOG, or KVM_GET_DIRTY_LOG without
 * manual protect), which clears that bit under kvm->slots_lock.  So,
 * outside those ioctls, a page whose KVM dirty bit is clear is protected
 * and its next write is logged again.
 *
 * Two ftrace hooks watch KVM for each attached source VM:
 *  - on mark_page_dirty_in_slot() the page's bit is set in "seen";
 *  - on kvm_arch_commit_memory_region() a tracked slot that KVM changes
 *    in any way is marked stale: with logging off even briefly, or with
 *    other memory behind it, writes may have gone unlogged.
 * A harvest moves "seen" into "pending" with an atomic exchange per word,
 * so a write that races the harvest lands in this round or the next.  A
 * page is sealed with kvm->slots_lock held, and if KVM's dirty bit for it
 * is still set it may change without faulting again: it stays in "carry"
 * and is sealed again, every round, until it is sealed while protected.
 * A commit needs "seen", "pending" and "carry" empty: every page's last
 * seal then read it while protected, and nothing faulted since, so no
 * write KVM saw is missing, whatever the VMM reported or re-protected.
 * docs/architecture.md has the whole argument.
 *
 * The hooks run in whatever context KVM calls from (mmu_lock held,
 * preemption off), so they only read RCU-protected structures and set
 * bits: no locks, no allocation.  They are permanent: ftrace cannot be
 * switched off (sysctl kernel.ftrace_enabled) while the module is loaded.
 */
#include <linux/bitmap.h>
#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include <linux/trustmig.h>

#include "dirty.h"

#if !IS_ENABLED(CONFIG_DYNAMIC_FTRACE_WITH_REGS)
#error "trustmig hooks KVM through ftrace with registers (DYNAMIC_FTRACE_WITH_REGS)"
#endif

struct trustmig_tracker {
	struct list_head node;		/* in trustmig_trackers */
	struct kvm *kvm;
	struct xarray slots;		/* memslot id -> trustmig_dirty_slot */
};

static LIST_HEAD(trustmig_trackers);
static DEFINE_MUTEX(trustmig_trackers_lock);

/*
 * The self-check's VM: never a real one.  With no users and no running
 * vCPU, mark_page_dirty_in_slot() returns before touching anything.
 */
static struct kvm *trustmig_probe_kvm;
static atomic_t trustmig_probe_hits;

static struct trustmig_dirty_slot *
trustmig_hooked_slot(struct trustmig_tracker *t, struct kvm *kvm,
		     const struct kvm_memory_slot *ms)
{
	if (t->kvm != kvm || !ms || ms->as_id)
		return NULL;
	return xa_load(&t->slots, ms->id);
}

static void notrace trustmig_mark_hook(unsigned long ip,
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
	kvm = (struct kvm *)regs_get_kernel_argument(regs, 0);
	ms = (const struct kvm_memory_slot *)regs_get_kernel_argument(regs, 1);
	gfn = regs_get_kernel_argument(regs, 2);
	if (kvm == READ_ONCE(trustmig_probe_kvm)) {
		atomic_inc(&trustmig_probe_hits);
		goto out;
	}
	rcu_read_lock();
	list_for_each_entry_rcu(t, &trustmig_trackers, node) {
		ds = trustmig_hooked_slot(t, kvm, ms);
		if (ds && gfn - ds->base_gfn < ds->npages)
			set_bit(gfn - ds->base_gfn, ds->seen);
	}
	rcu_read_unlock();
out:
	ftrace_test_recursion_unlock(bit);
}

static void notrace trustmig_memslot_hook(unsigned long ip,
					  unsigned long parent_ip,
					  struct ftrace_ops *ops,
					  struct ftrace_regs *fregs)
{
	/*
	 * kvm_arch_commit_memory_region(struct kvm *, old, new, change),
	 * called with kvm->slots_lock held for every memslot change; old is
	 * NULL when a slot is created, new when one is deleted.
	 */
	struct pt_regs *regs = ftrace_get_regs(fregs);
	const struct kvm_memory_slot *old, *new;
	struct trustmig_dirty_slot *ds;
	struct trustmig_tracker *t;
	struct kvm *kvm;
	int bit;

	bit = ftrace_test_recursion_trylock(ip, parent_ip);
	if (bit < 0)
		return;
	kvm = (struct kvm *)regs_get_kernel_argument(regs, 0);
	old = (const struct kvm_memory_slot *)regs_get_kernel_argument(regs, 1);
	new = (const struct kvm_memory_slot *)regs_get_kernel_argument(regs, 2);
	rcu_read_lock();
	list_for_each_entry_rcu(t, &trustmig_trackers, node) {
		ds = trustmig_hooked_slot(t, kvm, old ?: new);
		if (ds)
			WRITE_ONCE(ds->stale, true);
	}
	rcu_read_unlock();
	ftrace_test_recursion_unlock(bit);
}

static struct ftrace_ops trustmig_mark_ops = {
	.func = trustmig_mark_hook,
	/* Registers give the arguments; nobody may turn the hook off. */
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_PERMANENT,
};

static struct ftrace_ops trustmig_memslot_ops = {
	.func = trustmig_memslot_hook,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_PERMANENT,
};

/*
 * By address, not by name: when an allocation fails inside it, 6.1's
 * ftrace_set_filter() can return 0 with the function left out of the
 * filter, and an ops with an empty filter traces every kernel function.
 * ftrace_set_filter_ip() reports that failure.
 */
static int __init trustmig_hook(struct ftrace_ops *ops, unsigned long addr,
				const char *func)
{
	int err;

	err = ftrace_set_filter_ip(ops, addr, 0, 0);
	if (err) {
		pr_err("cannot trace %s: %d\n", func, err);
		return err;
	}
	err = register_ftrace_function(ops);
	if (err) {
		pr_err("cannot hook %s: %d%s\n", func, err,
		       err == -EBUSY ? " (kernel.ftrace_enabled is 0)" : "");
		ftrace_free_filter(ops);
	}
	return err;
}

/*
 * KVM does not export kvm_arch_commit_memory_region(): its address, from
 * kallsyms by a kprobe that is registered disabled, so never armed.
 */
static int __init trustmig_lookup(const char *func, unsigned long *addr)
{
	struct kprobe kp = {
		.symbol_name = func,
		.flags = KPROBE_FLAG_DISABLED,
	};
	int err;

	err = register_kprobe(&kp);
	if (err) {
		pr_err("cannot find %s: %d\n", func, err);
		return err;
	}
	*addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	return 0;
}

static void trustmig_unhook(struct ftrace_ops *ops)
{
	/* Returns once no CPU can still be inside the hook. */
	unregister_ftrace_function(ops);
	ftrace_free_filter(ops);
}

/*
 * Does the dirty hook fire right now?  It sees a call that KVM turns
 * into a no-op; the memslot hook lives and dies with the same ftrace.
 */
int trustmig_dirty_self_check(void)
{
	int before = atomic_read(&trustmig_probe_hits);

	mark_page_dirty_in_slot(trustmig_probe_kvm, NULL, 0);
	if (atomic_read(&trustmig_probe_hits) != before &&
	    trustmig_mark_ops.flags & FTRACE_OPS_FL_ENABLED &&
	    trustmig_memslot_ops.flags & FTRACE_OPS_FL_ENABLED)
		return 0;
	pr_err("self-check: the hooks on KVM's dirty logging are not running\n");
	return -EIO;
}

int __init trustmig_dirty_init(void)
{
	unsigned long commit_addr;
	int err;

	/* Zeroed: no users, so KVM ignores the probe's calls. */
	trustmig_probe_kvm = kvzalloc(sizeof(*trustmig_probe_kvm), GFP_KERNEL);
	if (!trustmig_probe_kvm)
		return -ENOMEM;
	err = trustmig_lookup("kvm_arch_commit_memory_region", &commit_addr);
	if (err)
		goto err_probe;
	err = trustmig_hook(&trustmig_mark_ops,
			    (unsigned long)mark_page_dirty_in_slot,
			    "mark_page_dirty_in_slot");
	if (err)
		goto err_probe;
	err = trustmig_hook(&trustmig_memslot_ops, commit_addr,
			    "kvm_arch_commit_memory_region");
	if (err)
		goto err_mark;
	err = trustmig_dirty_self_check();
	if (err)
		goto err_memslot;
	return 0;

err_memslot:
	trustmig_unhook(&trustmig_memslot_ops);
err_mark:
	trustmig_unhook(&trustmig_mark_ops);
err_probe:
	kvfree(trustmig_probe_kvm);
	return err;
}

void trustmig_dirty_exit(void)
{
	trustmig_unhook(&trustmig_memslot_ops);
	trustmig_unhook(&trustmig_mark_ops);
	kvfree(trustmig_probe_kvm);
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

static void trustmig_tracker_free_slots(struct trustmig_tracker *t)
{
	struct trustmig_dirty_slot *ds;
	unsigned long id;

	xa_for_each(&t->slots, id, ds)
		trustmig_dirty_slot_free(ds);
	xa_destroy(&t->slots);
}

/*
 * The ring replaces the bitmap that the settled-page rule reads.  KVM
 * lets a VMM enable it until the first vCPU exists, after ATTACH too,
 * and it is never disabled again.
 */
static bool trustmig_ring_in_use(struct kvm *kvm)
{
	return READ_ONCE(kvm->dirty_ring_size);
}

/* Logging in a bitmap (not a dirty ring), within the wire's gfn range. */
static bool trustmig_slot_trackable(const struct kvm_memory_slot *ms)
{
	return ms->dirty_bitmap &&
	       gfn_to_gpa(ms->base_gfn + ms->npages) <=
	       BIT_ULL(TRUSTMIG_GFN_BITS + PAGE_SHIFT);
}

/*
 * Tracks every user memslot that logs from now on; slots whose logging
 * starts later are tracked from their first harvest.
 */
struct trustmig_tracker *trustmig_tracker_new(struct kvm *kvm)
{
	struct trustmig_dirty_slot *ds;
	struct trustmig_tracker *t;
	struct kvm_memory_slot *ms;
	int bkt, err;

	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return ERR_PTR(-ENOMEM);
	t->kvm = kvm;
	xa_init(&t->slots);
	err = mutex_lock_killable(&kvm->slots_lock);
	if (err)
		goto err_free;
	if (trustmig_ring_in_use(kvm)) {
		err = -EOPNOTSUPP;
		goto err_unlock;
	}
	kvm_for_each_memslot(ms, bkt, __kvm_memslots(kvm, 0)) {
		if (ms->id >= KVM_USER_MEM_SLOTS || !trustmig_slot_trackable(ms))
			continue;
		ds = trustmig_tracker_add_slot(t, ms);
		if (IS_ERR(ds)) {
			err = PTR_ERR(ds);
			goto err_unlock;
		}
	}
	/* Still under slots_lock: no memslot change can slip in between. */
	mutex_lock(&trustmig_trackers_lock);
	list_add_rcu(&t->node, &trustmig_trackers);
	mutex_unlock(&trustmig_trackers_lock);
	mutex_unlock(&kvm->slots_lock);
	return t;

err_unlock:
	mutex_unlock(&kvm->slots_lock);
err_free:
	trustmig_tracker_free_slots(t);
	kfree(t);
	return ERR_PTR(err);
}

void trustmig_tracker_free(struct trustmig_tracker *t)
{
	if (!t)
		return;
	mutex_lock(&trustmig_trackers_lock);
	list_del_rcu(&t->node);
	mutex_unlock(&trustmig_trackers_lock);
	/* The hooks may still be looking at this tracker's slots. */
	synchronize_rcu();
	trustmig_tracker_free_slots(t);
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

	lockdep_assert_held(&t->kvm->slots_lock);
	if (trustmig_ring_in_use(t->kvm))
		return ERR_PTR(-EOPNOTSUPP);
	if (!trustmig_slot_trackable(ms))
		return ERR_PTR(-EINVAL);
	ds = kzalloc(sizeof(*ds), GFP_KERNEL);
	if (!ds)
		return ERR_PTR(-ENOMEM);
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
	/* Publishes a fully initialised slot to the hooks. */
	err = xa_err(xa_store(&t->slots, ms->id, ds, GFP_KERNEL));
	if (err)
		goto err_free;
	return ds;

err_free:
	trustmig_dirty_slot_free(ds);
	return ERR_PTR(err);
}

bool trustmig_dirty_slot_same(struct trustmig_tracker *t,
			      const struct trustmig_dirty_slot *ds,
			      const struct kvm_memory_slot *ms)
{
	return !READ_ONCE(ds->stale) && !trustmig_ring_in_use(t->kvm) &&
	       ms->dirty_bitmap &&
	       ms->userspace_addr == ds->userspace_addr &&
	       ms->base_gfn == ds->base_gfn && ms->npages == ds->npages;
}

/*
 * Can a commit claim the whole VM?  -ESTALE if a tracked slot changed or
 * vanished or the VM switched to a dirty ring, -EBUSY if a user memslot
 * was never harvested, -EOPNOTSUPP for SMM memory (not migrated).
 */
int trustmig_tracker_check_slots(struct trustmig_tracker *t)
{
	struct trustmig_dirty_slot *ds;
	struct kvm_memory_slot *ms;
	int bkt, as_id;
	unsigned long id;

	lockdep_assert_held(&t->kvm->slots_lock);
	xa_for_each(&t->slots, id, ds) {
		ms = id_to_memslot(__kvm_memslots(t->kvm, 0), id);
		if (!ms || !trustmig_dirty_slot_same(t, ds, ms))
			return -ESTALE;
	}
	for (as_id = 0; as_id < KVM_ADDRESS_SPACE_NUM; as_id++) {
		kvm_for_each_memslot(ms, bkt, __kvm_memslots(t->kvm, as_id)) {
			if (ms->id >= KVM_USER_MEM_SLOTS)
				continue;
			if (as_id)
				return -EOPNOTSUPP;
			if (!xa_load(&t->slots, ms->id))
				return -EBUSY;
		}
	}
	return 0;
}

/*
 * pending |= seen | carry | what the VMM reported.  The VMM's bitmap is
 * only ever added: it can make the module send more, never less.
 */
void trustmig_dirty_harvest(struct trustmig_dirty_slot *ds,
			    const unsigned long *vmm_bitmap)
{
	unsigned long i, n = BITS_TO_LONGS(ds->npages);

	for (i = 0; i < n; i++) {
		ds->pending[i] |= xchg(&ds->seen[i], 0) | ds->carry[i];
		if (vmm_bitmap)
			ds->pending[i] |= vmm_bitmap[i];
	}
	if (ds->npages % BITS_PER_LONG)
		ds->pending[n - 1] &= BITMAP_LAST_WORD_MASK(ds->npages);
}

/*
 * Page @bit of @ds was just read and sealed.  If KVM's dirty bit for it
 * is set, the page may be writable without faulting, so it is sealed
 * again later; only a seal while it is clear settles the page.  Clear
 * means protected because the bit is cleared only by ioctls that hold
 * slots_lock until the page is protected and the TLBs flushed.
 */
void trustmig_dirty_sealed(struct trustmig_tracker *t,
			   struct trustmig_dirty_slot *ds,
			   const struct kvm_memory_slot *ms,
			   unsigned long bit)
{
	lockdep_assert_held(&t->kvm->slots_lock);
	__clear_bit(bit, ds->pending);
	if (test_bit_le(bit, ms->dirty_bitmap))
		__set_bit(bit, ds->carry);
	else
		__clear_bit(bit, ds->carry);
}

unsigned long trustmig_dirty_next(const struct trustmig_dirty_slot *ds,
				  unsigned long bit, u32 lane, u32 lanes)
{
	u64 gfn, stripe;
	u32 owner;

	for (;;) {
		bit = find_next_bit(ds->pending, ds->npages, bit);
		if (bit >= ds->npages)
			return ds->npages;
		gfn = ds->base_gfn + bit;
		owner = TRUSTMIG_LANE_OF(gfn, lanes);
		if (owner == lane)
			return bit;
		/* On to the lane's next stripe. */
		stripe = (gfn >> TRUSTMIG_LANE_STRIPE_SHIFT) +
			 (lane + lanes - owner) % lanes;
		bit = (stripe << TRUSTMIG_LANE_STRIPE_SHIFT) - ds->base_gfn;
	}
}

/* The set bits of @map in [@start, @end), @start < @end. */
static unsigned long trustmig_bits_in(const unsigned long *map,
				      unsigned long start, unsigned long end)
{
	unsigned long w = start / BITS_PER_LONG;
	unsigned long last = (end - 1) / BITS_PER_LONG;
	unsigned long mask = BITMAP_FIRST_WORD_MASK(start), n = 0;

	for (; w < last; w++, mask = ~0UL)
		n += hweight_long(map[w] & mask);
	return n + hweight_long(map[w] & mask & BITMAP_LAST_WORD_MASK(end));
}

unsigned long trustmig_dirty_pending(const struct trustmig_dirty_slot *ds,
				     u32 lane, u32 lanes)
{
	u64 gfn, next, end = ds->base_gfn + ds->npages;
	unsigned long n = 0;

	if (lanes == 1)
		return bitmap_weight(ds->pending, ds->npages);
	for (gfn = ds->base_gfn; gfn < end; gfn = next) {
		next = min(end, (gfn | (BIT_ULL(TRUSTMIG_LANE_STRIPE_SHIFT) - 1)) + 1);
		if (TRUSTMIG_LANE_OF(gfn, lanes) == lane)
			n += trustmig_bits_in(ds->pending, gfn - ds->base_gfn,
					      next - ds->base_gfn);
	}
	return n;
}

bool trustmig_tracker_pending(struct trustmig_tracker *t, u32 lane, u32 lanes)
{
	struct trustmig_dirty_slot *ds;
	unsigned long id;

	lockdep_assert_held(&t->kvm->slots_lock);
	xa_for_each(&t->slots, id, ds)
		if (trustmig_dirty_next(ds, 0, lane, lanes) < ds->npages)
			return true;
	return false;
}

/* Some page may differ from its last seal: the stream cannot end. */
bool trustmig_tracker_unsettled(struct trustmig_tracker *t)
{
	struct trustmig_dirty_slot *ds;
	unsigned long id;

	lockdep_assert_held(&t->kvm->slots_lock);
	xa_for_each(&t->slots, id, ds)
		if (!bitmap_empty(ds->pending, ds->npages) ||
		    !bitmap_empty(ds->seen, ds->npages) ||
		    !bitmap_empty(ds->carry, ds->npages))
			return true;
	return false;
}
