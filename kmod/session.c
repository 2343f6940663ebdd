// SPDX-License-Identifier: GPL-2.0
/*
 * Session table and life cycle.
 *
 * A session is reachable from the table (one reference) and from the
 * /dev/trustmig file its VM is attached to (one reference).  Everything a
 * session holds is guarded by its mutex; the key lives only between
 * SET_KEY and the first of failure, completion or deletion, and is erased
 * at each of them.
 */
#include <linux/jiffies.h>
#include <linux/moduleparam.h>
#include <linux/netlink.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>
#include <crypto/algapi.h>

#include "netlink.h"
#include "seal.h"
#include "session.h"

static int trustmig_param_set_seconds(const char *val,
				      const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, TRUSTMIG_SECONDS_MAX);
}

static const struct kernel_param_ops trustmig_seconds_ops = {
	.set = trustmig_param_set_seconds,
	.get = param_get_uint,
};

/*
 * Bounds on what the helper may ask for, and the defaults: a key no VMM
 * uses must not stay in the kernel (WireGuard's REJECT_AFTER_TIME and
 * IPsec's hard lifetimes serve the same end).
 */
static unsigned int max_attach_timeout = 120;
module_param_cb(max_attach_timeout, &trustmig_seconds_ops,
		&max_attach_timeout, 0644);
MODULE_PARM_DESC(max_attach_timeout,
		 "longest and default wait for a session's VMM, seconds (120)");

static unsigned int max_lifetime = 86400;
module_param_cb(max_lifetime, &trustmig_seconds_ops, &max_lifetime, 0644);
MODULE_PARM_DESC(max_lifetime,
		 "longest and default time for a session to complete, seconds (86400)");

static unsigned int gc_delay = 300;
module_param_cb(gc_delay, &trustmig_seconds_ops, &gc_delay, 0644);
MODULE_PARM_DESC(gc_delay,
		 "how long a finished session stays listed, seconds (300)");

static DEFINE_XARRAY_ALLOC1(trustmig_sessions);
static u32 trustmig_next_id;
static struct workqueue_struct *trustmig_session_wq;

int trustmig_session_grant(struct trustmig_session_args *args,
			   struct netlink_ext_ack *extack)
{
	u32 attach_max = READ_ONCE(max_attach_timeout);
	u32 lifetime_max = READ_ONCE(max_lifetime);

	if (args->attach_timeout > attach_max) {
		NL_SET_ERR_MSG(extack,
			       "attach timeout above the module's max_attach_timeout");
		return -ERANGE;
	}
	if (args->lifetime > lifetime_max) {
		NL_SET_ERR_MSG(extack,
			       "lifetime above the module's max_lifetime");
		return -ERANGE;
	}
	if (!args->lifetime)
		args->lifetime = lifetime_max;
	if (!args->attach_timeout)
		args->attach_timeout = min(attach_max, args->lifetime);
	if (args->attach_timeout > args->lifetime) {
		NL_SET_ERR_MSG(extack,
			       "attach timeout longer than the lifetime");
		return -EINVAL;
	}
	return 0;
}

/* When the timer must next look at @s. */
static unsigned long trustmig_session_deadline(const struct trustmig_session *s)
{
	lockdep_assert_held(&s->lock);
	if (s->finished)
		return s->remove_at;
	if (s->state < TRUSTMIG_STATE_ACTIVE)
		return s->created + s->attach_timeout * HZ;
	return s->created + s->lifetime * HZ;
}

/* Queues the timer for the next deadline of @s, if the table holds it. */
static void trustmig_session_arm(struct trustmig_session *s)
{
	unsigned long when, now = jiffies;

	lockdep_assert_held(&s->lock);
	if (!s->linked)
		return;
	when = trustmig_session_deadline(s);
	/* The timer's reference; one already queued has its own. */
	kref_get(&s->ref);
	if (mod_delayed_work(trustmig_session_wq, &s->timer,
			     time_after(when, now) ? when - now : 0))
		trustmig_session_put(s);
}

static void trustmig_session_expire(struct work_struct *work);

static void trustmig_session_free(struct trustmig_session *s)
{
	int i;

	trustmig_aead_put(s->aead);
	for (i = 0; i < TRUSTMIG_LANES_MAX; i++)
		mutex_destroy(&s->lanes[i].lock);
	mutex_destroy(&s->lock);
	/* Erases the ticket along with the rest. */
	kfree_sensitive(s);
}

struct trustmig_session *
trustmig_session_new(const struct trustmig_session_args *args)
{
	struct trustmig_session *s;
	int err, i;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return ERR_PTR(-ENOMEM);
	kref_init(&s->ref);
	init_rwsem(&s->lanes_sem);
	mutex_init(&s->lock);
	for (i = 0; i < TRUSTMIG_LANES_MAX; i++)
		mutex_init(&s->lanes[i].lock);
	INIT_DELAYED_WORK(&s->timer, trustmig_session_expire);
	s->role = args->role;
	s->cipher = args->cipher;
	s->attach_timeout = args->attach_timeout;
	s->lifetime = args->lifetime;
	s->created = jiffies;
	if (args->peer_name)
		strscpy(s->peer_name, args->peer_name, sizeof(s->peer_name));
	if (args->peer_addr)
		strscpy(s->peer_addr, args->peer_addr, sizeof(s->peer_addr));
	if (args->policy_id)
		strscpy(s->policy_id, args->policy_id, sizeof(s->policy_id));
	s->state = TRUSTMIG_STATE_NEW;
	get_random_bytes(s->ticket, sizeof(s->ticket));

	/*
	 * The table's reference, taken before the session becomes visible;
	 * the caller keeps the initial one.
	 */
	kref_get(&s->ref);
	mutex_lock(&s->lock);
	/* Cyclic ids: a stale id held by a helper never names a new session. */
	err = xa_alloc_cyclic(&trustmig_sessions, &s->id, s, xa_limit_32b,
			      &trustmig_next_id, GFP_KERNEL);
	if (err < 0) {
		mutex_unlock(&s->lock);
		trustmig_session_free(s);
		return ERR_PTR(err);
	}
	s->linked = true;
	trustmig_session_arm(s);
	mutex_unlock(&s->lock);
	return s;
}

struct trustmig_session *trustmig_session_get(u32 id)
{
	struct trustmig_session *s;

	xa_lock(&trustmig_sessions);
	s = xa_load(&trustmig_sessions, id);
	if (s)
		kref_get(&s->ref);
	xa_unlock(&trustmig_sessions);
	return s;
}

struct trustmig_session *trustmig_session_next(unsigned long *id)
{
	struct trustmig_session *s;

	xa_lock(&trustmig_sessions);
	s = xa_find(&trustmig_sessions, id, ULONG_MAX, XA_PRESENT);
	if (s)
		kref_get(&s->ref);
	xa_unlock(&trustmig_sessions);
	return s;
}

static void trustmig_session_release(struct kref *ref)
{
	trustmig_session_free(container_of(ref, struct trustmig_session, ref));
}

void trustmig_session_put(struct trustmig_session *s)
{
	kref_put(&s->ref, trustmig_session_release);
}

/*
 * Ends the life of the key: it is never needed again after this, and the
 * session has nothing left to do but be listed for a while.
 */
static void trustmig_session_erase_secrets(struct trustmig_session *s)
{
	lockdep_assert_held(&s->lock);
	trustmig_aead_put(s->aead);
	s->aead = NULL;
	memzero_explicit(s->ticket, sizeof(s->ticket));
	if (s->finished)
		return;
	s->finished = true;
	s->remove_at = jiffies + READ_ONCE(gc_delay) * HZ;
	trustmig_session_arm(s);
}

static void trustmig_session_end(struct trustmig_session *s, u8 reason,
				 int err, bool notify)
{
	lockdep_assert_held(&s->lock);
	s->state = TRUSTMIG_STATE_FAILED;
	s->reason = reason;
	s->err = err;
	trustmig_session_erase_secrets(s);
	if (notify)
		trustmig_nl_notify_failed(s);
}

int trustmig_session_fail(struct trustmig_session *s, u8 reason, int err)
{
	lockdep_assert_held(&s->lock);
	s->failures++;
	if (s->state == TRUSTMIG_STATE_FAILED)
		return -EPIPE;
	/* A completed stream stays complete; the caller's error stands. */
	if (s->state == TRUSTMIG_STATE_COMPLETE)
		return -err;
	trustmig_session_end(s, reason, err, true);
	return -err;
}

/*
 * The key outlives the commit by one record, the destination's receipt
 * (trustmig_session_end_handover); the ticket does not.
 */
void trustmig_session_complete(struct trustmig_session *s)
{
	lockdep_assert_held(&s->lock);
	s->state = TRUSTMIG_STATE_COMPLETE;
	memzero_explicit(s->ticket, sizeof(s->ticket));
	trustmig_nl_notify_complete(s);
}

void trustmig_session_end_handover(struct trustmig_session *s)
{
	trustmig_session_erase_secrets(s);
}

/* 0 if the receipt may be sealed (destination) or checked (source). */
int trustmig_session_in_handover(struct trustmig_session *s, u8 role)
{
	lockdep_assert_held(&s->lock);
	switch (s->state) {
	case TRUSTMIG_STATE_ACTIVE:
		return -EBUSY;
	case TRUSTMIG_STATE_COMPLETE:
		if (s->role != role)
			return -EINVAL;
		return s->aead ? 0 : -EALREADY;
	case TRUSTMIG_STATE_FAILED:
		return -EPIPE;
	}
	return -ENOKEY;
}

/*
 * Ends @s, completed or not (its receipt key goes too: RESUMED and
 * CONFIRM see EPIPE), and drops the table's reference if the table still
 * holds @s.  The caller holds a reference and the lock.
 */
static int trustmig_session_unlink(struct trustmig_session *s, bool notify)
{
	lockdep_assert_held(&s->lock);
	if (xa_cmpxchg(&trustmig_sessions, s->id, s, NULL, 0) != s)
		return -ENOENT;
	s->linked = false;
	/* A queued timer holds a reference; a running one sees !linked. */
	if (cancel_delayed_work(&s->timer))
		trustmig_session_put(s);
	if (s->state != TRUSTMIG_STATE_FAILED)
		trustmig_session_end(s, TRUSTMIG_REASON_DELETED, EPIPE, notify);
	trustmig_session_put(s);
	return 0;
}

int trustmig_session_del(u32 id)
{
	struct trustmig_session *s = trustmig_session_get(id);
	int err;

	if (!s)
		return -ENOENT;
	/* A VMM stuck in a page fault must not park the operator for good. */
	err = mutex_lock_killable(&s->lock);
	if (!err) {
		err = trustmig_session_unlink(s, true);
		mutex_unlock(&s->lock);
	}
	trustmig_session_put(s);
	return err;
}

/*
 * A deadline of @s passed: no VMM attached in time, the lifetime is over,
 * or a finished session has been listed long enough.
 */
static void trustmig_session_expire(struct work_struct *work)
{
	struct trustmig_session *s = container_of(to_delayed_work(work),
						  struct trustmig_session,
						  timer);

	mutex_lock(&s->lock);
	/* Not due if the state moved on since the timer was queued. */
	if (s->linked && !time_before(jiffies, trustmig_session_deadline(s))) {
		if (s->finished)
			trustmig_session_unlink(s, false);
		else if (s->state < TRUSTMIG_STATE_ACTIVE)
			trustmig_session_fail(s, TRUSTMIG_REASON_ATTACH_TIMEOUT,
					      ETIMEDOUT);
		else if (s->state == TRUSTMIG_STATE_COMPLETE)
			trustmig_session_end_handover(s);
		else
			trustmig_session_fail(s, TRUSTMIG_REASON_EXPIRED,
					      ETIMEDOUT);
	}
	trustmig_session_arm(s);
	mutex_unlock(&s->lock);
	trustmig_session_put(s);
}

int __init trustmig_sessions_init(void)
{
	trustmig_session_wq = alloc_workqueue("trustmig", 0, 0);
	return trustmig_session_wq ? 0 : -ENOMEM;
}

/*
 * Runs after the netlink family is gone (no request can race it, and no
 * event can be sent) and after the last /dev/trustmig file closed.
 */
void trustmig_sessions_exit(void)
{
	struct trustmig_session *s;
	unsigned long id;

	xa_for_each(&trustmig_sessions, id, s) {
		kref_get(&s->ref);
		mutex_lock(&s->lock);
		trustmig_session_unlink(s, false);
		mutex_unlock(&s->lock);
		trustmig_session_put(s);
	}
	xa_destroy(&trustmig_sessions);
	/* Waits for timers that ran into an unlinked session. */
	destroy_workqueue(trustmig_session_wq);
}

int trustmig_session_set_key(struct trustmig_session *s, u32 stream,
			     const u8 *key, const u8 *salt)
{
	struct trustmig_aead *aead;

	lockdep_assert_held(&s->lock);
	if (s->state == TRUSTMIG_STATE_FAILED)
		return -EPIPE;
	if (s->state != TRUSTMIG_STATE_NEW)
		return -EEXIST;
	aead = trustmig_aead_new(s->cipher, key, salt);
	if (IS_ERR(aead))
		return PTR_ERR(aead);
	s->aead = aead;
	s->stream = stream;
	s->keyed = true;
	s->state = TRUSTMIG_STATE_KEYED;
	return 0;
}

int trustmig_session_attach(struct trustmig_session *s, const u8 *ticket,
			    u32 lanes)
{
	lockdep_assert_held(&s->lock);
	if (s->state == TRUSTMIG_STATE_FAILED)
		return -EPIPE;
	/*
	 * A second use of a ticket, or a wrong one, means somebody other
	 * than the helper's VMM holds or guesses it: fail closed.
	 */
	if (s->ticket_used ||
	    crypto_memneq(s->ticket, ticket, TRUSTMIG_TICKET_LEN))
		return trustmig_session_fail(s, TRUSTMIG_REASON_TICKET, EACCES);
	if (s->state != TRUSTMIG_STATE_KEYED)
		return -ENOKEY;
	s->ticket_used = true;
	s->attached = true;
	s->nlanes = lanes;
	memzero_explicit(s->ticket, sizeof(s->ticket));
	s->state = TRUSTMIG_STATE_ACTIVE;
	return 0;
}

/* The VMM let go of its VM: a stream not committed by now never will be. */
void trustmig_session_detach(struct trustmig_session *s)
{
	lockdep_assert_held(&s->lock);
	s->attached = false;
	if (s->state == TRUSTMIG_STATE_ACTIVE)
		trustmig_session_fail(s, TRUSTMIG_REASON_DETACHED, EPIPE);
	else if (s->state == TRUSTMIG_STATE_COMPLETE)
		trustmig_session_end_handover(s);
}

int trustmig_session_usable(struct trustmig_session *s, u8 role)
{
	lockdep_assert_held(&s->lock);
	switch (s->state) {
	case TRUSTMIG_STATE_ACTIVE:
		return s->role == role ? 0 : -EINVAL;
	case TRUSTMIG_STATE_COMPLETE:
		return -EALREADY;
	case TRUSTMIG_STATE_FAILED:
		return -EPIPE;
	}
	return -ENOKEY;
}

void trustmig_session_stats(struct trustmig_session *s,
			    struct trustmig_stats *st)
{
	const struct trustmig_lane *l;

	lockdep_assert_held(&s->lock);
	memset(st, 0, sizeof(*st));
	for (l = s->lanes; l < s->lanes + TRUSTMIG_LANES_MAX; l++) {
		st->records += READ_ONCE(l->seq);
		st->bytes += READ_ONCE(l->bytes);
		st->pages += READ_ONCE(l->pages);
		st->zero_pages += READ_ONCE(l->zero_pages);
	}
	st->rounds = READ_ONCE(s->lanes[0].round);
	st->failures = s->failures;
}

/* Book-keeping shared by both ends for every record sealed or opened. */
void trustmig_lane_account(struct trustmig_lane *l, unsigned int len)
{
	lockdep_assert_held(&l->lock);
	WRITE_ONCE(l->bytes, l->bytes + TRUSTMIG_HDR_LEN + len +
		   TRUSTMIG_TAG_LEN);
	/* Last: a destination's commit counts the record once applied. */
	smp_store_release(&l->seq, l->seq + 1);
}

void trustmig_lane_pages(struct trustmig_lane *l, u64 pages, bool zero)
{
	lockdep_assert_held(&l->lock);
	WRITE_ONCE(l->pages, l->pages + pages);
	WRITE_ONCE(l->round_pages, l->round_pages + pages);
	if (zero)
		WRITE_ONCE(l->zero_pages, l->zero_pages + pages);
}
