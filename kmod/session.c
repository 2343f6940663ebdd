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
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>
#include <crypto/algapi.h>

#include "netlink.h"
#include "seal.h"
#include "session.h"

static DEFINE_XARRAY_ALLOC1(trustmig_sessions);
static u32 trustmig_next_id;

struct trustmig_session *trustmig_session_new(u8 role, u8 cipher)
{
	struct trustmig_session *s;
	int err;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return ERR_PTR(-ENOMEM);
	kref_init(&s->ref);
	mutex_init(&s->lock);
	s->role = role;
	s->cipher = cipher;
	s->state = TRUSTMIG_STATE_NEW;
	get_random_bytes(s->ticket, sizeof(s->ticket));
	sha256_init(&s->transcript);

	/*
	 * The table's reference, taken before the session becomes visible;
	 * the caller keeps the initial one.
	 */
	kref_get(&s->ref);
	/* Cyclic ids: a stale id held by a helper never names a new session. */
	err = xa_alloc_cyclic(&trustmig_sessions, &s->id, s, xa_limit_32b,
			      &trustmig_next_id, GFP_KERNEL);
	if (err < 0) {
		kfree_sensitive(s);
		return ERR_PTR(err);
	}
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
	struct trustmig_session *s = container_of(ref, struct trustmig_session,
						  ref);

	trustmig_aead_free(s->aead);
	mutex_destroy(&s->lock);
	/* Erases the ticket and the transcript state along with the rest. */
	kfree_sensitive(s);
}

void trustmig_session_put(struct trustmig_session *s)
{
	kref_put(&s->ref, trustmig_session_release);
}

/* Ends the life of the key: it is never needed again after this. */
static void trustmig_session_erase_secrets(struct trustmig_session *s)
{
	lockdep_assert_held(&s->lock);
	trustmig_aead_free(s->aead);
	s->aead = NULL;
	memzero_explicit(s->ticket, sizeof(s->ticket));
	memzero_explicit(&s->transcript, sizeof(s->transcript));
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
	s->stats.failures++;
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
 * (trustmig_session_end_handover); the ticket and transcript do not.
 */
void trustmig_session_complete(struct trustmig_session *s)
{
	lockdep_assert_held(&s->lock);
	s->state = TRUSTMIG_STATE_COMPLETE;
	memzero_explicit(s->ticket, sizeof(s->ticket));
	memzero_explicit(&s->transcript, sizeof(s->transcript));
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

int trustmig_session_attach(struct trustmig_session *s, const u8 *ticket)
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

/* Book-keeping shared by both ends for every record sealed or opened. */
void trustmig_session_account(struct trustmig_session *s, const u8 *rec,
			      unsigned int len)
{
	lockdep_assert_held(&s->lock);
	sha256_update(&s->transcript, rec, TRUSTMIG_HDR_LEN);
	sha256_update(&s->transcript, rec + TRUSTMIG_HDR_LEN + len,
		      TRUSTMIG_TAG_LEN);
	s->seq++;
	s->stats.records++;
	s->stats.bytes += TRUSTMIG_HDR_LEN + len + TRUSTMIG_TAG_LEN;
}
