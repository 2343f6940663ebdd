// SPDX-License-Identifier: GPL-2.0
/*
 * The records a /dev/trustmig file consumes: a destination opens the
 * stream straight into its VM's memory; a source checks the receipt the
 * destination sealed once its VM runs.
 *
 * A record is opened into its lane's buffer and only copied into the
 * guest once its tag has verified and every header check has passed, so
 * a rejected record never changes a byte of guest memory.
 *
 * Each call opens the records of one lane, and calls on different lanes
 * run at once: a lane's lock orders its records, and a page always
 * travels on the lane that owns it (TRUSTMIG_LANE_OF()), so the versions
 * of one page are applied in the order they were sealed.
 */
#include <linux/kvm_host.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/srcu.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "device.h"
#include "receive.h"
#include "seal.h"
#include "session.h"

/* Pages a zero run clears between two chances to reschedule (2 MiB). */
#define TRUSTMIG_ZERO_CHUNK	512

/* Is @len a valid payload length for a record of @type? */
static bool trustmig_payload_len_ok(u8 type, unsigned int len)
{
	switch (type) {
	case TRUSTMIG_REC_PAGE:
		return len == TRUSTMIG_PAGE_SIZE;
	case TRUSTMIG_REC_ZERO_RUN:
		return len == sizeof(struct trustmig_zero_run);
	case TRUSTMIG_REC_ROUND_END:
		return len == sizeof(struct trustmig_round_end);
	case TRUSTMIG_REC_COMMIT:
		return len >= TRUSTMIG_COMMIT_LEN(1) &&
		       len <= TRUSTMIG_COMMIT_LEN(TRUSTMIG_LANES_MAX) &&
		       !((len - TRUSTMIG_COMMIT_LEN(0)) %
			 sizeof(struct trustmig_commit_lane));
	case TRUSTMIG_REC_STATE:
		return len && len <= TRUSTMIG_STATE_MAX;
	}
	return false;
}

static u64 trustmig_hdr_gfn(const struct trustmig_rec_hdr *hdr)
{
	return (u64)hdr->gfn_hi << 32 | be32_to_cpu(hdr->gfn_lo);
}

/*
 * Checks a record's header against its lane before anything else is
 * read: these are cheap, and they name what is wrong.  The AEAD then
 * authenticates the very same bytes as associated data.
 */
static int trustmig_check_hdr(struct trustmig_lane_call *c,
			      const struct trustmig_rec_hdr *hdr,
			      const struct kvm_memory_slot **msp)
{
	bool is_page = hdr->type == TRUSTMIG_REC_PAGE ||
		       hdr->type == TRUSTMIG_REC_ZERO_RUN;
	u64 gfn = trustmig_hdr_gfn(hdr);

	/*
	 * A record of another lane, a page its lane does not own, or a
	 * commit or state not on lane 0 (they come after every lane's
	 * pages).
	 */
	if (be32_to_cpu(hdr->lane) != c->lane ||
	    (is_page && TRUSTMIG_LANE_OF(gfn, c->s->nlanes) != c->lane) ||
	    (c->lane && (hdr->type == TRUSTMIG_REC_COMMIT ||
			 hdr->type == TRUSTMIG_REC_STATE)))
		return trustmig_lane_fail(c, TRUSTMIG_REASON_LANE, EPROTO);
	if (be64_to_cpu(hdr->seq) != c->l->seq)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_SEQUENCE, EPROTO);
	if (be16_to_cpu(hdr->round) != c->l->round)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_ROUND, EPROTO);
	if (!is_page) {
		if (gfn)
			return trustmig_lane_fail(c, TRUSTMIG_REASON_BAD_HEADER,
						  EPROTO);
		return 0;
	}
	/* KVM's private memslots (APIC page, TSS...) are not the guest's. */
	*msp = gfn_to_memslot(c->tf->kvm, gfn);
	if (!*msp || (*msp)->id >= KVM_USER_MEM_SLOTS)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_GFN, ERANGE);
	return 0;
}

/*
 * Clears a zero run: all of it inside the memslot of its first page and,
 * with several lanes, inside its lane's stripe, checked before the first
 * byte is written.
 */
static int trustmig_apply_zero_run(struct trustmig_lane_call *c,
				   const struct kvm_memory_slot *ms, u64 gfn,
				   u64 pages)
{
	u64 done, n;
	u8 __user *hva;

	if (!pages || gfn + pages > ms->base_gfn + ms->npages)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_GFN, ERANGE);
	if (c->s->nlanes > 1 &&
	    (gfn ^ (gfn + pages - 1)) >> TRUSTMIG_LANE_STRIPE_SHIFT)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_LANE, EPROTO);
	hva = (u8 __user *)__gfn_to_hva_memslot(ms, gfn);
	/* A slot is one mapping: clear it in bounded steps. */
	for (done = 0; done < pages; done += n) {
		n = min_t(u64, pages - done, TRUSTMIG_ZERO_CHUNK);
		if (clear_user(hva + done * PAGE_SIZE, n * PAGE_SIZE))
			return trustmig_lane_fail(c, TRUSTMIG_REASON_FAULT,
						  EFAULT);
		cond_resched();
	}
	return 0;
}

/*
 * The stream is whole if every lane opened exactly the records and pages
 * the source sealed on it and ended every round, and the source had as
 * many lanes as this end.  The strict sequence per lane and the AEAD make
 * "as many records" mean "the very records".  Other lanes' counters move
 * on only once their records are applied: one still in flight makes its
 * lane short, and the commit fails rather than wait.
 */
static bool trustmig_commit_ok(struct trustmig_lane_call *c,
			       const struct trustmig_commit *commit,
			       unsigned int len)
{
	struct trustmig_session *s = c->s;
	const struct trustmig_lane *l;
	u64 records;
	u32 i;

	if (commit->pad || be32_to_cpu(commit->lanes) != s->nlanes ||
	    len != TRUSTMIG_COMMIT_LEN(s->nlanes))
		return false;
	for (i = 0; i < s->nlanes; i++) {
		l = &s->lanes[i];
		/* Pairs with trustmig_lane_account(): seq counts applied. */
		records = smp_load_acquire(&l->seq);
		if (be64_to_cpu(commit->lane[i].records) != records ||
		    be64_to_cpu(commit->lane[i].pages) != READ_ONCE(l->pages) ||
		    be64_to_cpu(commit->rounds) != READ_ONCE(l->round))
			return false;
	}
	return true;
}

/* Acts on an authenticated record; guest memory changes only here. */
static int trustmig_apply(struct trustmig_lane_call *c,
			  const struct trustmig_rec_hdr *hdr,
			  const struct kvm_memory_slot *ms,
			  void __user *state_buf)
{
	struct trustmig_lane *l = c->l;
	const u8 *payload = c->rec + TRUSTMIG_HDR_LEN;
	const struct trustmig_round_end *re = (const void *)payload;
	const struct trustmig_zero_run *zr = (const void *)payload;
	u64 gfn = trustmig_hdr_gfn(hdr);
	int err;

	switch (hdr->type) {
	case TRUSTMIG_REC_PAGE:
		if (copy_to_user((void __user *)__gfn_to_hva_memslot(ms, gfn),
				 payload, PAGE_SIZE))
			return trustmig_lane_fail(c, TRUSTMIG_REASON_FAULT,
						  EFAULT);
		trustmig_lane_pages(l, 1, false);
		return 0;
	case TRUSTMIG_REC_ZERO_RUN:
		err = trustmig_apply_zero_run(c, ms, gfn,
					      be32_to_cpu(zr->pages));
		if (err)
			return err;
		trustmig_lane_pages(l, be32_to_cpu(zr->pages), true);
		return 0;
	case TRUSTMIG_REC_STATE:
		/* Into the VMM's buffer; it waits for the commit to use it. */
		if (copy_to_user(state_buf, payload, be16_to_cpu(hdr->len)))
			return trustmig_lane_fail(c, TRUSTMIG_REASON_FAULT,
						  EFAULT);
		return 0;
	case TRUSTMIG_REC_ROUND_END:
		if (be64_to_cpu(re->pages) != l->round_pages ||
		    be64_to_cpu(re->records) != l->seq)
			return trustmig_lane_fail(c, TRUSTMIG_REASON_COMMIT,
						  EBADMSG);
		WRITE_ONCE(l->round, l->round + 1);
		WRITE_ONCE(l->round_pages, 0);
		return 0;
	}
	if (!trustmig_commit_ok(c, (const void *)payload,
				be16_to_cpu(hdr->len)))
		return trustmig_lane_fail(c, TRUSTMIG_REASON_COMMIT, EBADMSG);
	return 0;
}

/* Opens the record at @ubuf; returns its size, 0 if incomplete. */
static int trustmig_open_record(struct trustmig_lane_call *c, u8 __user *ubuf,
				u64 avail, void __user *state_buf,
				u32 state_room)
{
	struct trustmig_rec_hdr *hdr = (struct trustmig_rec_hdr *)c->rec;
	const struct kvm_memory_slot *ms = NULL;
	unsigned int len, size;
	int err;

	/* Each record moves its lane's sequence on. */
	lockdep_assert_held(&c->l->lock);
	if (avail < TRUSTMIG_HDR_LEN)
		return 0;
	if (copy_from_user(hdr, ubuf, TRUSTMIG_HDR_LEN))
		return trustmig_lane_fail(c, TRUSTMIG_REASON_FAULT, EFAULT);
	if (hdr->version != TRUSTMIG_WIRE_VERSION) {
		pr_notice_ratelimited("session %u: record of wire format v%u, this module speaks v%u\n",
				      c->s->id, hdr->version,
				      TRUSTMIG_WIRE_VERSION);
		return trustmig_lane_fail(c, TRUSTMIG_REASON_VERSION, EPROTO);
	}
	len = be16_to_cpu(hdr->len);
	if (hdr->flags || !trustmig_payload_len_ok(hdr->type, len))
		return trustmig_lane_fail(c, TRUSTMIG_REASON_BAD_HEADER,
					  EPROTO);
	size = TRUSTMIG_HDR_LEN + len + TRUSTMIG_TAG_LEN;
	if (avail < size)
		return 0;
	/* Not the stream's fault: let the VMM retry with room for it. */
	if (hdr->type == TRUSTMIG_REC_STATE && len > state_room)
		return -EMSGSIZE;
	err = trustmig_check_hdr(c, hdr, &ms);
	if (err)
		return err;
	if (copy_from_user(c->rec + TRUSTMIG_HDR_LEN, ubuf + TRUSTMIG_HDR_LEN,
			   len + TRUSTMIG_TAG_LEN))
		return trustmig_lane_fail(c, TRUSTMIG_REASON_FAULT, EFAULT);
	/* Only a tag mismatch is one: the cipher may also fail to run. */
	err = trustmig_aead_open(&c->crypt, c->lane, c->l->seq, c->rec, len);
	if (err == -EBADMSG)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_AUTH, EBADMSG);
	if (err)
		return trustmig_lane_fail(c, TRUSTMIG_REASON_CRYPTO, EIO);
	err = trustmig_apply(c, hdr, ms, state_buf);
	if (err)
		return err;
	trustmig_lane_account(c->l, len);
	return size;
}

long trustmig_ioc_open(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_lane_call c;
	struct trustmig_open arg;
	struct trustmig_session *s;
	u32 state_room;
	u8 __user *ubuf;
	int err, size, idx;
	u8 type;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~TRUSTMIG_OPEN_EOF)
		return -EINVAL;
	ubuf = u64_to_user_ptr(arg.buf);
	state_room = arg.state_buf ? arg.state_len : 0;
	arg.consumed = 0;
	arg.records = 0;
	arg.result = 0;
	arg.state_len = 0;

	err = trustmig_lane_begin(&c, tf, arg.lane, false,
				  trustmig_session_usable, TRUSTMIG_ROLE_DEST);
	if (err)
		goto out;
	s = c.s;
	idx = srcu_read_lock(&tf->kvm->srcu);
	/* Another lane may end the session, or complete it. */
	while (READ_ONCE(s->state) == TRUSTMIG_STATE_ACTIVE) {
		size = trustmig_open_record(&c, ubuf + arg.consumed,
					    arg.buf_len - arg.consumed,
					    u64_to_user_ptr(arg.state_buf),
					    state_room);
		if (size <= 0) {
			err = size;
			break;
		}
		arg.consumed += size;
		arg.records++;
		type = ((struct trustmig_rec_hdr *)c.rec)->type;
		if (type == TRUSTMIG_REC_COMMIT) {
			mutex_lock(&s->lock);
			if (s->state == TRUSTMIG_STATE_ACTIVE)
				trustmig_session_complete(s);
			mutex_unlock(&s->lock);
		}
		if (type == TRUSTMIG_REC_STATE) {
			arg.result |= TRUSTMIG_OPEN_STATE;
			arg.state_len = size - TRUSTMIG_HDR_LEN -
					TRUSTMIG_TAG_LEN;
			break;
		}
		if (fatal_signal_pending(current))
			break;
		cond_resched();
	}
	srcu_read_unlock(&tf->kvm->srcu, idx);
	if (!err && READ_ONCE(s->state) == TRUSTMIG_STATE_COMPLETE) {
		arg.result |= TRUSTMIG_OPEN_COMPLETE;
	} else if (!err && READ_ONCE(s->state) != TRUSTMIG_STATE_ACTIVE) {
		err = -EPIPE;
	} else if (!err && arg.flags & TRUSTMIG_OPEN_EOF &&
		   !(arg.result & TRUSTMIG_OPEN_STATE) &&
		   (!c.lane || arg.consumed < arg.buf_len)) {
		/* Lane 0 ends with the commit, every lane with a record. */
		err = trustmig_lane_fail(&c, TRUSTMIG_REASON_TRUNCATED,
					 ENODATA);
	}
	err = trustmig_lane_end(&c, err);
out:
	/* Progress is reported on errors too: those records were taken. */
	if (copy_to_user(argp, &arg, sizeof(arg)) && !err)
		err = -EFAULT;
	return err;
}

/*
 * The source checks the receipt before it lets its VM go.  A record that
 * is not exactly the peer's receipt for this stream is refused with
 * EBADMSG and changes nothing: the genuine one may still come.
 */
long trustmig_ioc_confirm(struct trustmig_file *tf, void __user *argp)
{
	struct trustmig_rec_hdr *hdr;
	struct trustmig_resumed *r;
	struct trustmig_lane_call c;
	struct trustmig_confirm arg;
	struct trustmig_stats stats;
	struct trustmig_lane *l;
	int err;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.buf_len != TRUSTMIG_RESUMED_REC_LEN)
		return -EINVAL;

	/* Every lane still: the counts are final. */
	err = trustmig_lane_begin(&c, tf, 0, true,
				  trustmig_session_in_handover,
				  TRUSTMIG_ROLE_SOURCE);
	if (err)
		return err;
	l = c.l;
	hdr = (void *)c.rec;
	r = (void *)(c.rec + TRUSTMIG_HDR_LEN);
	mutex_lock(&c.s->lock);
	err = trustmig_session_in_handover(c.s, TRUSTMIG_ROLE_SOURCE);
	if (err)
		goto out_unlock;
	if (copy_from_user(c.rec, u64_to_user_ptr(arg.buf),
			   TRUSTMIG_RESUMED_REC_LEN)) {
		err = -EFAULT;
		goto out_unlock;
	}
	err = -EBADMSG;
	if (hdr->version != TRUSTMIG_WIRE_VERSION ||
	    hdr->type != TRUSTMIG_REC_RESUMED || hdr->flags || hdr->gfn_hi ||
	    hdr->gfn_lo || hdr->lane ||
	    be16_to_cpu(hdr->round) != l->round ||
	    be16_to_cpu(hdr->len) != sizeof(*r) ||
	    be64_to_cpu(hdr->seq) != l->seq)
		goto out_unlock;
	err = trustmig_aead_open(&c.crypt, 0, l->seq, c.rec, sizeof(*r));
	if (err) {
		err = err == -EBADMSG ? err : -EIO;
		goto out_unlock;
	}
	err = -EBADMSG;
	trustmig_session_stats(c.s, &stats);
	if (be64_to_cpu(r->records) != stats.records ||
	    be64_to_cpu(r->pages) != stats.pages)
		goto out_unlock;
	trustmig_lane_account(l, sizeof(*r));
	trustmig_session_end_handover(c.s);
	err = 0;
out_unlock:
	mutex_unlock(&c.s->lock);
	return trustmig_lane_end(&c, err);
}
