// SPDX-License-Identifier: GPL-2.0
/*
 * Generic netlink control plane.  The attribute trees are drawn in
 * uapi/linux/trustmig.h.  Every operation needs CAP_NET_ADMIN, is strictly
 * validated against a policy of its own (so an attribute that means
 * nothing to the command is refused, not ignored) and explains every
 * refusal in an extack message.  No operation ever returns key material.
 */
#include <linux/module.h>
#include <linux/rwsem.h>
#include <net/genetlink.h>

#include "netlink.h"
#include "session.h"

static struct genl_family trustmig_genl_family;

/*
 * Session timers send events too, with no request in flight that
 * unregistering would wait for: none may reach a family on its way out.
 */
static DECLARE_RWSEM(trustmig_nl_events_lock);
static bool trustmig_nl_live;

static const struct nla_policy trustmig_new_policy[TRUSTMIG_A_MAX + 1] = {
	[TRUSTMIG_A_ROLE] = NLA_POLICY_RANGE(NLA_U8, TRUSTMIG_ROLE_SOURCE,
					     TRUSTMIG_ROLE_DEST),
	[TRUSTMIG_A_CIPHER] =
		NLA_POLICY_RANGE(NLA_U8, TRUSTMIG_CIPHER_AES256GCM,
				 TRUSTMIG_CIPHER_CHACHA20POLY1305),
	[TRUSTMIG_A_ATTACH_TIMEOUT] = NLA_POLICY_MIN(NLA_U32, 1),
	[TRUSTMIG_A_LIFETIME] = NLA_POLICY_MIN(NLA_U32, 1),
	[TRUSTMIG_A_PEER_NAME] = { .type = NLA_NUL_STRING,
				   .len = TRUSTMIG_LABEL_LEN - 1 },
	[TRUSTMIG_A_PEER_ADDR] = { .type = NLA_NUL_STRING,
				   .len = TRUSTMIG_LABEL_LEN - 1 },
	[TRUSTMIG_A_POLICY_ID] = { .type = NLA_NUL_STRING,
				   .len = TRUSTMIG_LABEL_LEN - 1 },
};

static const struct nla_policy trustmig_set_key_policy[TRUSTMIG_A_MAX + 1] = {
	[TRUSTMIG_A_SESSION_ID] = NLA_POLICY_MIN(NLA_U32, 1),
	[TRUSTMIG_A_STREAM_ID] = { .type = NLA_U32 },
	[TRUSTMIG_A_KEY] = NLA_POLICY_EXACT_LEN(TRUSTMIG_KEY_LEN),
	[TRUSTMIG_A_SALT] = NLA_POLICY_EXACT_LEN(TRUSTMIG_SALT_LEN),
};

static const struct nla_policy trustmig_id_policy[TRUSTMIG_A_MAX + 1] = {
	[TRUSTMIG_A_SESSION_ID] = NLA_POLICY_MIN(NLA_U32, 1),
};

/*
 * Besides the missing attribute's type (which tools can decode), say in
 * words what is missing: the extack message is what an operator reads.
 */
#define trustmig_nl_missing(info, attr, msg) ({				\
	struct genl_info *__tm_info = (info);				\
	bool __missing = GENL_REQ_ATTR_CHECK(__tm_info, attr);		\
									\
	if (__missing)							\
		NL_SET_ERR_MSG(__tm_info->extack, msg);			\
	__missing;							\
})

static struct trustmig_session *trustmig_nl_session(struct genl_info *info)
{
	struct trustmig_session *s;

	if (trustmig_nl_missing(info, TRUSTMIG_A_SESSION_ID,
				"missing session id"))
		return ERR_PTR(-EINVAL);
	s = trustmig_session_get(nla_get_u32(info->attrs[TRUSTMIG_A_SESSION_ID]));
	if (!s) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[TRUSTMIG_A_SESSION_ID],
				    "no such session");
		return ERR_PTR(-ENOENT);
	}
	return s;
}

static u32 trustmig_nl_u32(struct genl_info *info, int type)
{
	return info->attrs[type] ? nla_get_u32(info->attrs[type]) : 0;
}

static const char *trustmig_nl_label(struct genl_info *info, int type)
{
	return info->attrs[type] ? nla_data(info->attrs[type]) : NULL;
}

static int trustmig_nl_new(struct sk_buff *skb, struct genl_info *info)
{
	struct trustmig_session_args args = {
		.cipher = TRUSTMIG_CIPHER_AES256GCM,
		.attach_timeout = trustmig_nl_u32(info,
						  TRUSTMIG_A_ATTACH_TIMEOUT),
		.lifetime = trustmig_nl_u32(info, TRUSTMIG_A_LIFETIME),
		.peer_name = trustmig_nl_label(info, TRUSTMIG_A_PEER_NAME),
		.peer_addr = trustmig_nl_label(info, TRUSTMIG_A_PEER_ADDR),
		.policy_id = trustmig_nl_label(info, TRUSTMIG_A_POLICY_ID),
	};
	struct trustmig_session *s;
	struct sk_buff *msg;
	void *hdr;
	int err;

	if (trustmig_nl_missing(info, TRUSTMIG_A_ROLE, "missing role"))
		return -EINVAL;
	args.role = nla_get_u8(info->attrs[TRUSTMIG_A_ROLE]);
	if (info->attrs[TRUSTMIG_A_CIPHER])
		args.cipher = nla_get_u8(info->attrs[TRUSTMIG_A_CIPHER]);
	err = trustmig_session_grant(&args, info->extack);
	if (err)
		return err;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &trustmig_genl_family, 0,
				TRUSTMIG_CMD_SESSION_NEW);
	if (!hdr) {
		err = -EMSGSIZE;
		goto err_msg;
	}

	s = trustmig_session_new(&args);
	if (IS_ERR(s)) {
		err = PTR_ERR(s);
		NL_SET_ERR_MSG(info->extack, "cannot allocate a session");
		goto err_msg;
	}
	mutex_lock(&s->lock);
	err = nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, s->id) ?:
	      nla_put(msg, TRUSTMIG_A_TICKET, TRUSTMIG_TICKET_LEN, s->ticket);
	mutex_unlock(&s->lock);
	if (err)
		goto err_session;
	genlmsg_end(msg, hdr);
	trustmig_session_put(s);
	return genlmsg_reply(msg, info);

err_session:
	trustmig_session_del(s->id);
	trustmig_session_put(s);
err_msg:
	/* It may hold the ticket. */
	memzero_explicit(msg->data, msg->len);
	nlmsg_free(msg);
	return err;
}

static int trustmig_nl_set_key(struct sk_buff *skb, struct genl_info *info)
{
	struct trustmig_session *s;
	struct nlattr **attrs;
	u32 stream;
	int err;

	if (trustmig_nl_missing(info, TRUSTMIG_A_STREAM_ID,
				"missing stream id") ||
	    trustmig_nl_missing(info, TRUSTMIG_A_KEY, "missing key") ||
	    trustmig_nl_missing(info, TRUSTMIG_A_SALT, "missing salt"))
		return -EINVAL;
	s = trustmig_nl_session(info);
	if (IS_ERR(s))
		return PTR_ERR(s);

	attrs = info->attrs;
	stream = nla_get_u32(attrs[TRUSTMIG_A_STREAM_ID]);
	err = mutex_lock_killable(&s->lock);
	if (!err) {
		err = trustmig_session_set_key(s, stream,
					       nla_data(attrs[TRUSTMIG_A_KEY]),
					       nla_data(attrs[TRUSTMIG_A_SALT]));
		mutex_unlock(&s->lock);
	}
	/* The request skb is freed without being cleared: clear it now. */
	memzero_explicit(nla_data(attrs[TRUSTMIG_A_KEY]), TRUSTMIG_KEY_LEN);
	memzero_explicit(nla_data(attrs[TRUSTMIG_A_SALT]), TRUSTMIG_SALT_LEN);
	if (err == -EEXIST)
		NL_SET_ERR_MSG(info->extack,
			       "session already has a key (keys are set once)");
	else if (err == -EPIPE)
		NL_SET_ERR_MSG(info->extack, "session has failed");
	else if (err == -ENOENT)
		NL_SET_ERR_MSG(info->extack,
			       "cipher not available in this kernel");
	else if (err == -EINTR)
		NL_SET_ERR_MSG(info->extack, "interrupted");
	else if (err)
		NL_SET_ERR_MSG(info->extack, "cannot set up the cipher");
	trustmig_session_put(s);
	return err;
}

/* Labels the helper did not give are left out. */
static int trustmig_nl_put_label(struct sk_buff *msg, int type,
				 const char *label)
{
	return *label ? nla_put_string(msg, type, label) : 0;
}

static int trustmig_nl_fill(struct sk_buff *msg, struct trustmig_session *s,
			    u32 portid, u32 seq, int flags, u8 cmd)
{
	struct trustmig_stats stats, *st = &stats;
	void *hdr;

	trustmig_session_stats(s, st);
	hdr = genlmsg_put(msg, portid, seq, &trustmig_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, s->id) ||
	    nla_put_u8(msg, TRUSTMIG_A_ROLE, s->role) ||
	    nla_put_u8(msg, TRUSTMIG_A_CIPHER, s->cipher) ||
	    nla_put_u8(msg, TRUSTMIG_A_STATE, s->state) ||
	    nla_put_u8(msg, TRUSTMIG_A_KEYED, s->keyed) ||
	    nla_put_u8(msg, TRUSTMIG_A_ATTACHED, s->attached) ||
	    (s->keyed && nla_put_u32(msg, TRUSTMIG_A_STREAM_ID, s->stream)) ||
	    nla_put_u64_64bit(msg, TRUSTMIG_A_RECORDS, st->records,
			      TRUSTMIG_A_PAD) ||
	    nla_put_u64_64bit(msg, TRUSTMIG_A_BYTES, st->bytes,
			      TRUSTMIG_A_PAD) ||
	    nla_put_u64_64bit(msg, TRUSTMIG_A_PAGES, st->pages,
			      TRUSTMIG_A_PAD) ||
	    nla_put_u64_64bit(msg, TRUSTMIG_A_ZERO_PAGES, st->zero_pages,
			      TRUSTMIG_A_PAD) ||
	    nla_put_u32(msg, TRUSTMIG_A_ROUNDS, st->rounds) ||
	    nla_put_u32(msg, TRUSTMIG_A_FAILURES, st->failures) ||
	    nla_put_u8(msg, TRUSTMIG_A_REASON, s->reason) ||
	    nla_put_u32(msg, TRUSTMIG_A_ERRNO, s->err) ||
	    nla_put_u32(msg, TRUSTMIG_A_AGE,
			(jiffies - s->created) / HZ) ||
	    nla_put_u32(msg, TRUSTMIG_A_ATTACH_TIMEOUT, s->attach_timeout) ||
	    nla_put_u32(msg, TRUSTMIG_A_LIFETIME, s->lifetime) ||
	    trustmig_nl_put_label(msg, TRUSTMIG_A_PEER_NAME, s->peer_name) ||
	    trustmig_nl_put_label(msg, TRUSTMIG_A_PEER_ADDR, s->peer_addr) ||
	    trustmig_nl_put_label(msg, TRUSTMIG_A_POLICY_ID, s->policy_id)) {
		genlmsg_cancel(msg, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return 0;
}

static int trustmig_nl_get(struct sk_buff *skb, struct genl_info *info)
{
	struct trustmig_session *s;
	struct sk_buff *msg;
	int err;

	s = trustmig_nl_session(info);
	if (IS_ERR(s))
		return PTR_ERR(s);
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		err = -ENOMEM;
		goto out;
	}
	/* Killable: a VMM stuck in a fault must not park the operator. */
	err = mutex_lock_killable(&s->lock);
	if (!err) {
		err = trustmig_nl_fill(msg, s, info->snd_portid, info->snd_seq,
				       0, TRUSTMIG_CMD_SESSION_GET);
		mutex_unlock(&s->lock);
	}
	if (err) {
		nlmsg_free(msg);
		goto out;
	}
	err = genlmsg_reply(msg, info);
out:
	trustmig_session_put(s);
	return err;
}

static int trustmig_nl_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long id = cb->args[0];
	struct trustmig_session *s;
	int err = 0;

	while ((s = trustmig_session_next(&id))) {
		err = mutex_lock_killable(&s->lock);
		if (!err) {
			err = trustmig_nl_fill(skb, s,
					       NETLINK_CB(cb->skb).portid,
					       cb->nlh->nlmsg_seq, NLM_F_MULTI,
					       TRUSTMIG_CMD_SESSION_GET);
			mutex_unlock(&s->lock);
		}
		trustmig_session_put(s);
		if (err)
			break;
		id++;
	}
	cb->args[0] = id;
	/* A full skb ends this part of the dump; the next one resumes. */
	if (err == -EMSGSIZE && skb->len)
		return skb->len;
	return err ?: skb->len;
}

static int trustmig_nl_del(struct sk_buff *skb, struct genl_info *info)
{
	int err;

	if (trustmig_nl_missing(info, TRUSTMIG_A_SESSION_ID,
				"missing session id"))
		return -EINVAL;
	err = trustmig_session_del(nla_get_u32(info->attrs[TRUSTMIG_A_SESSION_ID]));
	if (err == -ENOENT)
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[TRUSTMIG_A_SESSION_ID],
				    "no such session");
	return err;
}

static const struct genl_ops trustmig_genl_ops[] = {
	{
		.cmd = TRUSTMIG_CMD_SESSION_NEW,
		.doit = trustmig_nl_new,
		.policy = trustmig_new_policy,
		.maxattr = TRUSTMIG_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = TRUSTMIG_CMD_SESSION_SET_KEY,
		.doit = trustmig_nl_set_key,
		.policy = trustmig_set_key_policy,
		.maxattr = TRUSTMIG_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = TRUSTMIG_CMD_SESSION_GET,
		.doit = trustmig_nl_get,
		.dumpit = trustmig_nl_dump,
		.policy = trustmig_id_policy,
		.maxattr = TRUSTMIG_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = TRUSTMIG_CMD_SESSION_DEL,
		.doit = trustmig_nl_del,
		.policy = trustmig_id_policy,
		.maxattr = TRUSTMIG_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
};

enum trustmig_mcgrp {
	TRUSTMIG_MCGRP_EVENTS_ID,
};

static const struct genl_multicast_group trustmig_mcgrps[] = {
	[TRUSTMIG_MCGRP_EVENTS_ID] = {
		.name = TRUSTMIG_MCGRP_EVENTS,
		/* Failure reasons are for the operator's tools only. */
		.flags = GENL_MCAST_CAP_NET_ADMIN,
	},
};

static struct genl_family trustmig_genl_family __ro_after_init = {
	.name = TRUSTMIG_GENL_NAME,
	.version = TRUSTMIG_GENL_VERSION,
	.maxattr = TRUSTMIG_A_MAX,
	.module = THIS_MODULE,
	.ops = trustmig_genl_ops,
	.n_ops = ARRAY_SIZE(trustmig_genl_ops),
	/* Every command is new: strict validation, reserved fields zero. */
	.resv_start_op = TRUSTMIG_CMD_SESSION_NEW,
	/*
	 * Sessions have locks of their own; without this, a GET waiting
	 * for a long SEAL would hold genl_mutex and stall every family.
	 */
	.parallel_ops = true,
	.mcgrps = trustmig_mcgrps,
	.n_mcgrps = ARRAY_SIZE(trustmig_mcgrps),
};

static void trustmig_nl_event(struct trustmig_session *s, u8 cmd)
{
	struct trustmig_stats stats, *st = &stats;
	struct sk_buff *msg;
	void *hdr;

	trustmig_session_stats(s, st);
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &trustmig_genl_family, 0, cmd);
	if (!hdr)
		goto err;
	if (nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, s->id))
		goto err;
	if (cmd == TRUSTMIG_CMD_EVENT_FAILED) {
		if (nla_put_u8(msg, TRUSTMIG_A_REASON, s->reason) ||
		    nla_put_u32(msg, TRUSTMIG_A_ERRNO, s->err) ||
		    nla_put_u64_64bit(msg, TRUSTMIG_A_SEQ,
				      READ_ONCE(s->lanes[0].seq),
				      TRUSTMIG_A_PAD))
			goto err;
	} else if (nla_put_u64_64bit(msg, TRUSTMIG_A_RECORDS, st->records,
				     TRUSTMIG_A_PAD) ||
		   nla_put_u64_64bit(msg, TRUSTMIG_A_BYTES, st->bytes,
				     TRUSTMIG_A_PAD) ||
		   nla_put_u64_64bit(msg, TRUSTMIG_A_PAGES, st->pages,
				     TRUSTMIG_A_PAD)) {
		goto err;
	}
	genlmsg_end(msg, hdr);
	down_read(&trustmig_nl_events_lock);
	/* -ESRCH only says nobody listens; events are best effort. */
	if (trustmig_nl_live)
		genlmsg_multicast(&trustmig_genl_family, msg, 0,
				  TRUSTMIG_MCGRP_EVENTS_ID, GFP_KERNEL);
	else
		nlmsg_free(msg);
	up_read(&trustmig_nl_events_lock);
	return;
err:
	nlmsg_free(msg);
}

void trustmig_nl_notify_failed(struct trustmig_session *s)
{
	pr_info("session %u failed: reason %u, errno %d, lane 0 at record %llu\n",
		s->id, s->reason, s->err, READ_ONCE(s->lanes[0].seq));
	trustmig_nl_event(s, TRUSTMIG_CMD_EVENT_FAILED);
}

void trustmig_nl_notify_complete(struct trustmig_session *s)
{
	trustmig_nl_event(s, TRUSTMIG_CMD_EVENT_COMPLETE);
}

int __init trustmig_nl_init(void)
{
	int err = genl_register_family(&trustmig_genl_family);

	if (!err) {
		down_write(&trustmig_nl_events_lock);
		trustmig_nl_live = true;
		up_write(&trustmig_nl_events_lock);
	}
	return err;
}

void trustmig_nl_exit(void)
{
	down_write(&trustmig_nl_events_lock);
	trustmig_nl_live = false;
	up_write(&trustmig_nl_events_lock);
	genl_unregister_family(&trustmig_genl_family);
}

/* Resolving the family from userspace loads the module. */
MODULE_ALIAS_GENL_FAMILY(TRUSTMIG_GENL_NAME);
