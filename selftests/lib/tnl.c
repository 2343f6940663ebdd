// SPDX-License-Identifier: GPL-2.0
/*
 * tnl: trustmig generic netlink client for the selftests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "tnl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct tnl_ctx {
	struct tnl_reply *r;
	struct tnl_event *ev;
	__u32 seq;		/* of the request the replies answer */
	bool done;
};

/* Where each reply attribute lands in struct tnl_session, and its size. */
static const struct {
	int attr;
	size_t off, size;
} tnl_fields[] = {
	{ TRUSTMIG_A_SESSION_ID, offsetof(struct tnl_session, id), 4 },
	{ TRUSTMIG_A_ROLE, offsetof(struct tnl_session, role), 1 },
	{ TRUSTMIG_A_CIPHER, offsetof(struct tnl_session, cipher), 1 },
	{ TRUSTMIG_A_STATE, offsetof(struct tnl_session, state), 1 },
	{ TRUSTMIG_A_KEYED, offsetof(struct tnl_session, keyed), 1 },
	{ TRUSTMIG_A_ATTACHED, offsetof(struct tnl_session, attached), 1 },
	{ TRUSTMIG_A_REASON, offsetof(struct tnl_session, reason), 1 },
	{ TRUSTMIG_A_STREAM_ID, offsetof(struct tnl_session, stream), 4 },
	{ TRUSTMIG_A_ROUNDS, offsetof(struct tnl_session, rounds), 4 },
	{ TRUSTMIG_A_FAILURES, offsetof(struct tnl_session, failures), 4 },
	{ TRUSTMIG_A_ERRNO, offsetof(struct tnl_session, err), 4 },
	{ TRUSTMIG_A_AGE, offsetof(struct tnl_session, age), 4 },
	{ TRUSTMIG_A_ATTACH_TIMEOUT, offsetof(struct tnl_session, attach_timeout),
	  4 },
	{ TRUSTMIG_A_LIFETIME, offsetof(struct tnl_session, lifetime), 4 },
	{ TRUSTMIG_A_RECORDS, offsetof(struct tnl_session, records), 8 },
	{ TRUSTMIG_A_BYTES, offsetof(struct tnl_session, bytes), 8 },
	{ TRUSTMIG_A_PAGES, offsetof(struct tnl_session, pages), 8 },
	{ TRUSTMIG_A_ZERO_PAGES, offsetof(struct tnl_session, zero_pages), 8 },
	{ 0 }
};

/* A label as sent, NUL included; a malformed one is left empty. */
static void tnl_label(struct nlattr *a, char *label)
{
	int len = a ? nla_len(a) : 0;

	if (len > 0 && len <= TRUSTMIG_LABEL_LEN &&
	    memchr(nla_data(a), '\0', len))
		memcpy(label, nla_data(a), len);
}

/* Attributes are host-endian and exactly the field's size. */
static void tnl_parse_session(struct nlattr **tb, struct tnl_session *s)
{
	struct nlattr *a;
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; tnl_fields[i].attr; i++) {
		a = tb[tnl_fields[i].attr];
		if (a && (size_t)nla_len(a) == tnl_fields[i].size)
			memcpy((char *)s + tnl_fields[i].off, nla_data(a),
			       tnl_fields[i].size);
	}
	tnl_label(tb[TRUSTMIG_A_PEER_NAME], s->peer_name);
	tnl_label(tb[TRUSTMIG_A_PEER_ADDR], s->peer_addr);
	tnl_label(tb[TRUSTMIG_A_POLICY_ID], s->policy_id);
}

static int tnl_valid(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[TRUSTMIG_A_MAX + 1];
	struct tnl_ctx *ctx = arg;
	struct tnl_reply *r = ctx->r;
	size_t len = nlh->nlmsg_len;

	if (genlmsg_parse(nlh, 0, tb, TRUSTMIG_A_MAX, NULL))
		return NL_SKIP;
	if (r->raw_len + len <= sizeof(r->raw)) {
		memcpy(r->raw + r->raw_len, nlh, len);
		r->raw_len += len;
	}
	if (tb[TRUSTMIG_A_TICKET] &&
	    nla_len(tb[TRUSTMIG_A_TICKET]) == TRUSTMIG_TICKET_LEN) {
		memcpy(r->ticket, nla_data(tb[TRUSTMIG_A_TICKET]),
		       TRUSTMIG_TICKET_LEN);
		r->has_ticket = true;
	}
	if (r->nr < TNL_MAX_REPLIES)
		tnl_parse_session(tb, &r->s[r->nr++]);
	return NL_OK;
}

static int tnl_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = { NULL };
	struct tnl_ctx *ctx = arg;
	size_t off = sizeof(*e);
	int len;

	ctx->r->err = e->error;
	ctx->done = true;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	len = (int)nlh->nlmsg_len - NLMSG_HDRLEN - (int)off;
	if (len <= 0)
		return NL_STOP;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)e + off), len, NULL))
		return NL_STOP;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(ctx->r->extack, sizeof(ctx->r->extack), "%s",
			 nla_get_string(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static int tnl_finish(struct nl_msg *msg, void *arg)
{
	struct tnl_ctx *ctx = arg;

	ctx->done = true;
	return NL_STOP;
}

int tnl_open(struct tnl *t)
{
	int one = 1;

	memset(t, 0, sizeof(*t));
	t->sk = nl_socket_alloc();
	if (!t->sk)
		return -ENOMEM;
	if (genl_connect(t->sk))
		goto err;
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));
	t->family = genl_ctrl_resolve(t->sk, TRUSTMIG_GENL_NAME);
	if (t->family < 0)
		goto err;
	return 0;
err:
	nl_socket_free(t->sk);
	t->sk = NULL;
	return -ENOENT;
}

void tnl_close(struct tnl *t)
{
	if (t->events)
		nl_socket_free(t->events);
	if (t->sk)
		nl_socket_free(t->sk);
	memset(t, 0, sizeof(*t));
}

struct nl_msg *tnl_msg(struct tnl *t, __u8 cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, t->family, 0,
				flags | NLM_F_ACK, cmd, TRUSTMIG_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

/*
 * Replies to this request only: a request that failed to send, or was
 * cut short, must not leave later ones reading its leftovers (libnl's
 * own check expects every request it numbered to be answered).
 */
static int tnl_seq(struct nl_msg *msg, void *arg)
{
	struct tnl_ctx *ctx = arg;

	return nlmsg_hdr(msg)->nlmsg_seq == ctx->seq ? NL_OK : NL_SKIP;
}

/* libnl's error codes fold errnos; keep the one a caller may expect. */
static int tnl_errno(int nlerr)
{
	return nlerr == -NLE_NOMEM ? -ENOMEM : -EIO;
}

int tnl_send(struct tnl *t, struct nl_msg *msg, struct tnl_reply *r)
{
	struct tnl_ctx ctx = { .r = r };
	struct nl_cb *cb;
	int err, fd, fl;
	bool dump;

	memset(r, 0, sizeof(*r));
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return r->err = -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, tnl_valid, &ctx);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, tnl_finish, &ctx);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, tnl_finish, &ctx);
	nl_cb_err(cb, NL_CB_CUSTOM, tnl_error, &ctx);
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, tnl_seq, &ctx);
	nl_complete_msg(t->sk, msg);
	ctx.seq = nlmsg_hdr(msg)->nlmsg_seq;
	dump = nlmsg_hdr(msg)->nlmsg_flags & NLM_F_DUMP;
	err = nl_send(t->sk, msg);
	nlmsg_free(msg);
	if (err < 0) {
		r->err = tnl_errno(err);
		goto out;
	}
	while (!ctx.done) {
		err = nl_recvmsgs(t->sk, cb);
		if (err >= 0 || ctx.done)
			continue;
		/*
		 * The socket lost a message (ENOBUFS; under fault injection,
		 * the kernel could not allocate our ACK).  What is already
		 * queued still counts: a doit's reply means it was carried
		 * out.
		 */
		fd = nl_socket_get_fd(t->sk);
		fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		while (!ctx.done && nl_recvmsgs(t->sk, cb) >= 0)
			;
		fcntl(fd, F_SETFL, fl);
		/* Otherwise ENOBUFS: the request arrived, a message to us did not. */
		if (!ctx.done)
			r->err = r->nr && !dump ? 0 :
				 err == -NLE_NOMEM ? -ENOBUFS : tnl_errno(err);
		break;
	}
out:
	nl_cb_put(cb);
	return r->err;
}

int tnl_new_opts(struct tnl *t, __u8 role, const struct tnl_new_opts *o,
		 __u32 *id, __u8 *ticket, struct tnl_reply *r)
{
	struct nl_msg *msg = tnl_msg(t, TRUSTMIG_CMD_SESSION_NEW, 0);
	struct tnl_reply own;

	if (!msg)
		return -ENOMEM;
	if (!r)
		r = &own;
	nla_put_u8(msg, TRUSTMIG_A_ROLE, role);
	if (o->cipher)
		nla_put_u8(msg, TRUSTMIG_A_CIPHER, o->cipher);
	if (o->attach_timeout)
		nla_put_u32(msg, TRUSTMIG_A_ATTACH_TIMEOUT, o->attach_timeout);
	if (o->lifetime)
		nla_put_u32(msg, TRUSTMIG_A_LIFETIME, o->lifetime);
	if (o->peer_name)
		nla_put_string(msg, TRUSTMIG_A_PEER_NAME, o->peer_name);
	if (o->peer_addr)
		nla_put_string(msg, TRUSTMIG_A_PEER_ADDR, o->peer_addr);
	if (o->policy_id)
		nla_put_string(msg, TRUSTMIG_A_POLICY_ID, o->policy_id);
	if (tnl_send(t, msg, r))
		return r->err;
	if (!r->nr || !r->has_ticket)
		return -EBADMSG;
	*id = r->s[0].id;
	memcpy(ticket, r->ticket, TRUSTMIG_TICKET_LEN);
	return 0;
}

int tnl_new(struct tnl *t, __u8 role, __u8 cipher, __u32 *id, __u8 *ticket)
{
	struct tnl_new_opts o = { .cipher = cipher };

	return tnl_new_opts(t, role, &o, id, ticket, NULL);
}

int tnl_set_key(struct tnl *t, __u32 id, __u32 stream, const __u8 *key,
		const __u8 *salt)
{
	struct nl_msg *msg = tnl_msg(t, TRUSTMIG_CMD_SESSION_SET_KEY, 0);
	struct tnl_reply r;

	if (!msg)
		return -ENOMEM;
	nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, id);
	nla_put_u32(msg, TRUSTMIG_A_STREAM_ID, stream);
	nla_put(msg, TRUSTMIG_A_KEY, TRUSTMIG_KEY_LEN, key);
	nla_put(msg, TRUSTMIG_A_SALT, TRUSTMIG_SALT_LEN, salt);
	return tnl_send(t, msg, &r);
}

static int tnl_id_cmd(struct tnl *t, __u8 cmd, __u32 id, struct tnl_reply *r)
{
	struct nl_msg *msg = tnl_msg(t, cmd, 0);

	if (!msg)
		return -ENOMEM;
	nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, id);
	return tnl_send(t, msg, r);
}

int tnl_get(struct tnl *t, __u32 id, struct tnl_session *s)
{
	struct tnl_reply r;

	if (tnl_id_cmd(t, TRUSTMIG_CMD_SESSION_GET, id, &r))
		return r.err;
	if (r.nr != 1)
		return -EBADMSG;
	*s = r.s[0];
	return 0;
}

int tnl_del(struct tnl *t, __u32 id)
{
	struct tnl_reply r;

	return tnl_id_cmd(t, TRUSTMIG_CMD_SESSION_DEL, id, &r);
}

int tnl_subscribe(struct tnl *t)
{
	int grp;

	t->events = nl_socket_alloc();
	if (!t->events)
		return -ENOMEM;
	if (genl_connect(t->events))
		return -EIO;
	grp = genl_ctrl_resolve_grp(t->sk, TRUSTMIG_GENL_NAME,
				    TRUSTMIG_MCGRP_EVENTS);
	if (grp < 0)
		return -ENOENT;
	if (nl_socket_add_membership(t->events, grp))
		return -EIO;
	return 0;
}

/* Events are unsolicited: sequence number 0. */
static int tnl_no_seq_check(struct nl_msg *msg, void *arg)
{
	return NL_OK;
}

static int tnl_event_valid(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[TRUSTMIG_A_MAX + 1];
	struct tnl_ctx *ctx = arg;
	struct tnl_event *ev = ctx->ev;

	if (genlmsg_parse(nlh, 0, tb, TRUSTMIG_A_MAX, NULL))
		return NL_SKIP;
	memset(ev, 0, sizeof(*ev));
	ev->cmd = ((struct genlmsghdr *)nlmsg_data(nlh))->cmd;
	if (tb[TRUSTMIG_A_SESSION_ID])
		ev->session_id = nla_get_u32(tb[TRUSTMIG_A_SESSION_ID]);
	if (tb[TRUSTMIG_A_REASON])
		ev->reason = nla_get_u8(tb[TRUSTMIG_A_REASON]);
	if (tb[TRUSTMIG_A_ERRNO])
		ev->err = nla_get_u32(tb[TRUSTMIG_A_ERRNO]);
	if (tb[TRUSTMIG_A_SEQ])
		ev->seq = nla_get_u64(tb[TRUSTMIG_A_SEQ]);
	if (tb[TRUSTMIG_A_RECORDS])
		ev->records = nla_get_u64(tb[TRUSTMIG_A_RECORDS]);
	ctx->done = true;
	return NL_STOP;
}

static int tnl_next_event(struct tnl *t, struct tnl_event *ev,
			  int timeout_ms)
{
	struct pollfd pfd = { .fd = nl_socket_get_fd(t->events),
			      .events = POLLIN };
	struct tnl_ctx ctx = { .ev = ev };
	struct nl_cb *cb;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, tnl_no_seq_check, NULL);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, tnl_event_valid, &ctx);
	nl_recvmsgs(t->events, cb);
	nl_cb_put(cb);
	return ctx.done ? 0 : -EIO;
}

int tnl_event(struct tnl *t, __u32 id, struct tnl_event *ev, int timeout_ms)
{
	int err;

	do
		err = tnl_next_event(t, ev, timeout_ms);
	while (!err && ev->session_id != id);
	return err;
}
