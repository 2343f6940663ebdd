/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Migration sessions: the per-direction key, the record stream state and
 * the statistics netlink reports.
 */
#ifndef _TRUSTMIG_SESSION_H
#define _TRUSTMIG_SESSION_H

#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/trustmig.h>

struct netlink_ext_ack;
struct trustmig_aead;

struct trustmig_stats {
	u64 records;
	u64 bytes;
	u64 pages;
	u64 zero_pages;
	u32 rounds;
	u32 failures;
};

/*
 * One lane of the record stream: a sequence (nonce) space of its own.
 * The one call sealing or opening on the lane holds @lock and changes
 * the counters; others read them with READ_ONCE().  A destination's
 * @seq moves on only once its record is applied (release, acquire).
 */
struct trustmig_lane {
	struct mutex lock;		/* held by the call on the lane */
	u64 seq;			/* sequence of the lane's next record */
	u64 bytes;			/* record bytes, tags included */
	u64 pages;			/* pages carried, full and zero */
	u64 zero_pages;			/* of which zero */
	u64 round_pages;		/* of which in the current round */
	u16 round;			/* current round = rounds it ended */
};

/* What SESSION_NEW asks for; 0 timeouts and NULL labels: defaults. */
struct trustmig_session_args {
	u8 role;
	u8 cipher;
	u32 attach_timeout;		/* seconds */
	u32 lifetime;			/* seconds */
	const char *peer_name;
	const char *peer_addr;
	const char *policy_id;
};

struct trustmig_session {
	struct kref ref;
	u32 id;
	u8 role;
	u8 cipher;
	u32 attach_timeout;		/* seconds, as granted */
	u32 lifetime;			/* seconds, as granted */
	unsigned long created;		/* jiffies */
	char peer_name[TRUSTMIG_LABEL_LEN];
	char peer_addr[TRUSTMIG_LABEL_LEN];
	char policy_id[TRUSTMIG_LABEL_LEN];

	/*
	 * Read by every call on a lane, written by the calls that need
	 * every lane still (COMMIT).  Taken before a lane's lock.
	 */
	struct rw_semaphore lanes_sem;
	/* Serialises netlink and the state; taken after a lane's lock. */
	struct mutex lock;
	u8 state;			/* enum trustmig_state */
	u8 reason;			/* enum trustmig_reason */
	int err;			/* positive errno of the failure */
	bool keyed;
	bool ticket_used;
	bool attached;			/* a VMM's file holds the VM */
	u8 ticket[TRUSTMIG_TICKET_LEN];
	struct trustmig_aead *aead;	/* NULL unless keyed and not failed */
	u32 stream;			/* the handshake's id, for GET */
	u32 nlanes;			/* lanes of the stream, from ATTACH */
	struct trustmig_lane lanes[TRUSTMIG_LANES_MAX];
	u32 failures;			/* calls that failed the session */
	/*
	 * The next deadline (attach timeout, lifetime, removal from the
	 * table); queued only while the table holds the session, and then
	 * holds a reference of its own.
	 */
	struct delayed_work timer;
	bool linked;			/* the table holds the session */
	bool finished;			/* failed, or completed and the key
					 * erased
					 */
	unsigned long remove_at;	/* jiffies, once finished */
};

int trustmig_sessions_init(void);
void trustmig_sessions_exit(void);

/* Checks @args against the module's bounds and fills in the defaults. */
int trustmig_session_grant(struct trustmig_session_args *args,
			   struct netlink_ext_ack *extack);
struct trustmig_session *
trustmig_session_new(const struct trustmig_session_args *args);
struct trustmig_session *trustmig_session_get(u32 id);
void trustmig_session_put(struct trustmig_session *s);
int trustmig_session_del(u32 id);
int trustmig_session_set_key(struct trustmig_session *s, u32 stream,
			     const u8 *key, const u8 *salt);
int trustmig_session_attach(struct trustmig_session *s, const u8 *ticket,
			    u32 lanes);
void trustmig_session_detach(struct trustmig_session *s);
int trustmig_session_fail(struct trustmig_session *s, u8 reason, int err);
void trustmig_session_complete(struct trustmig_session *s);
int trustmig_session_in_handover(struct trustmig_session *s, u8 role);
void trustmig_session_end_handover(struct trustmig_session *s);
int trustmig_session_usable(struct trustmig_session *s, u8 role);
/* The sums over the lanes; rounds are lane 0's. */
void trustmig_session_stats(struct trustmig_session *s,
			    struct trustmig_stats *st);
/* A record of @len payload bytes sealed or opened on @l, with its lock. */
void trustmig_lane_account(struct trustmig_lane *l, unsigned int len);
/* @pages guest pages (zero ones if @zero) sealed or applied on @l. */
void trustmig_lane_pages(struct trustmig_lane *l, u64 pages, bool zero);

/* Iterate over live sessions from *@id on; returns a reference or NULL. */
struct trustmig_session *trustmig_session_next(unsigned long *id);

#endif /* _TRUSTMIG_SESSION_H */
