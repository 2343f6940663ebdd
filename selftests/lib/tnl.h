/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tnl: a generic netlink client of the trustmig family for the selftests,
 * over libnl-genl-3.  It records everything a test wants to assert on: the
 * errno, the extack message and every attribute of every reply.
 */
#ifndef _TNL_H
#define _TNL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <netlink/attr.h>
#include <linux/trustmig.h>

#define TNL_MAX_REPLIES	64

struct tnl_session {
	__u32 id;
	__u8 role, cipher, state, keyed, attached, reason;
	__u32 stream, rounds, failures, err;
	__u32 age, attach_timeout, lifetime;
	__u64 records, bytes, pages, zero_pages;
	char peer_name[TRUSTMIG_LABEL_LEN];
	char peer_addr[TRUSTMIG_LABEL_LEN];
	char policy_id[TRUSTMIG_LABEL_LEN];
};

/* SESSION_NEW's optional attributes; 0 and NULL leave one out. */
struct tnl_new_opts {
	__u8 cipher;
	__u32 attach_timeout, lifetime;
	const char *peer_name, *peer_addr, *policy_id;
};

struct tnl_reply {
	int err;			/* 0 or negative errno */
	char extack[256];		/* "" if the kernel gave none */
	int nr;				/* replies (sessions for a dump) */
	struct tnl_session s[TNL_MAX_REPLIES];
	__u8 ticket[TRUSTMIG_TICKET_LEN];
	bool has_ticket;
	/* Every reply's raw bytes, to look for what must never be there. */
	__u8 raw[16384];
	size_t raw_len;
};

struct tnl {
	struct nl_sock *sk;
	struct nl_sock *events;		/* NULL unless tnl_subscribe() */
	int family;
};

struct tnl_event {
	__u8 cmd;
	__u32 session_id;
	__u8 reason;
	__u32 err;
	__u64 seq, records;
};

int tnl_open(struct tnl *t);
void tnl_close(struct tnl *t);

/* A request of @cmd, to fill with nla_put*() and pass to tnl_send(). */
struct nl_msg *tnl_msg(struct tnl *t, __u8 cmd, int flags);
/* Sends and frees @msg; fills @r; returns r->err. */
int tnl_send(struct tnl *t, struct nl_msg *msg, struct tnl_reply *r);

/* Shorthands; each returns 0 or the negative errno. */
int tnl_new(struct tnl *t, __u8 role, __u8 cipher, __u32 *id, __u8 *ticket);
/* The same with every option; @r (if not NULL) gets the reply. */
int tnl_new_opts(struct tnl *t, __u8 role, const struct tnl_new_opts *o,
		 __u32 *id, __u8 *ticket, struct tnl_reply *r);
int tnl_set_key(struct tnl *t, __u32 id, __u32 stream, const __u8 *key,
		const __u8 *salt);
int tnl_get(struct tnl *t, __u32 id, struct tnl_session *s);
int tnl_del(struct tnl *t, __u32 id);

int tnl_subscribe(struct tnl *t);
/*
 * Waits up to @timeout_ms (each) for the next event about session @id,
 * passing over events about other sessions; 0, or -ETIMEDOUT.
 */
int tnl_event(struct tnl *t, __u32 id, struct tnl_event *ev, int timeout_ms);

#endif /* _TNL_H */
