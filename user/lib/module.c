// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig.ko control over generic netlink (libnl-genl-3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/family.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "module.h"
#include "util.h"
#include "version.h"

#define TM_NOT_LOADED	"trustmig.ko not loaded: keys not installed"

struct tm_nl {
	struct nl_sock *sk;
	int family;
};

static int tm_nl_open(struct tm_nl *n)
{
	int version;

	n->sk = nl_socket_alloc();
	if (!n->sk)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	if (genl_connect(n->sk)) {
		nl_socket_free(n->sk);
		return tm_fail(TM_EXIT_NO_MODULE,
			       TM_NOT_LOADED " (no generic netlink)");
	}
	/* By name: the kernel loads trustmig.ko if it is installed. */
	n->family = genl_ctrl_resolve(n->sk, TRUSTMIG_GENL_NAME);
	if (n->family < 0) {
		struct utsname uts;
		char why[512];

		nl_socket_free(n->sk);
		uname(&uts);
		tm_module_missing(uts.release, true, why, sizeof(why));
		return tm_fail(TM_EXIT_NO_MODULE, TM_NOT_LOADED
			       " (no generic netlink family \"%s\"): %s",
			       TRUSTMIG_GENL_NAME, why);
	}
	version = tm_genl_family_version(n->sk);
	if (version != TRUSTMIG_GENL_VERSION) {
		nl_socket_free(n->sk);
		return tm_fail(TM_EXIT_MODULE_VERSION,
			       "trustmig.ko speaks netlink family \"%s\" version %d, this %s speaks version %d: install the tools and the module of one release",
			       TRUSTMIG_GENL_NAME, version, tm_prog,
			       TRUSTMIG_GENL_VERSION);
	}
	return 0;
}

int tm_module_probe(void)
{
	struct tm_nl n;
	int ret;

	ret = tm_nl_open(&n);
	if (!ret)
		nl_socket_free(n.sk);
	return ret;
}

/*
 * The attributes of the module's replies (uapi/linux/trustmig.h): libnl
 * refuses a reply with one shorter than its type, so that no nla_get_*()
 * reads past it, or a ticket of another length.
 */
static const struct nla_policy tm_reply_policy[TRUSTMIG_A_MAX + 1] = {
	[TRUSTMIG_A_SESSION_ID] = { .type = NLA_U32 },
	[TRUSTMIG_A_ROLE] = { .type = NLA_U8 },
	[TRUSTMIG_A_CIPHER] = { .type = NLA_U8 },
	[TRUSTMIG_A_TICKET] = { .minlen = TRUSTMIG_TICKET_LEN,
				.maxlen = TRUSTMIG_TICKET_LEN },
	[TRUSTMIG_A_STREAM_ID] = { .type = NLA_U32 },
	[TRUSTMIG_A_STATE] = { .type = NLA_U8 },
	[TRUSTMIG_A_KEYED] = { .type = NLA_U8 },
	[TRUSTMIG_A_ATTACHED] = { .type = NLA_U8 },
	[TRUSTMIG_A_RECORDS] = { .type = NLA_U64 },
	[TRUSTMIG_A_BYTES] = { .type = NLA_U64 },
	[TRUSTMIG_A_PAGES] = { .type = NLA_U64 },
	[TRUSTMIG_A_ZERO_PAGES] = { .type = NLA_U64 },
	[TRUSTMIG_A_ROUNDS] = { .type = NLA_U32 },
	[TRUSTMIG_A_FAILURES] = { .type = NLA_U32 },
	[TRUSTMIG_A_REASON] = { .type = NLA_U8 },
	[TRUSTMIG_A_ERRNO] = { .type = NLA_U32 },
	[TRUSTMIG_A_SEQ] = { .type = NLA_U64 },
	[TRUSTMIG_A_AGE] = { .type = NLA_U32 },
	[TRUSTMIG_A_ATTACH_TIMEOUT] = { .type = NLA_U32 },
	[TRUSTMIG_A_LIFETIME] = { .type = NLA_U32 },
	[TRUSTMIG_A_PEER_NAME] = { .type = NLA_NUL_STRING,
				   .maxlen = TRUSTMIG_LABEL_LEN },
	[TRUSTMIG_A_PEER_ADDR] = { .type = NLA_NUL_STRING,
				   .maxlen = TRUSTMIG_LABEL_LEN },
	[TRUSTMIG_A_POLICY_ID] = { .type = NLA_NUL_STRING,
				   .maxlen = TRUSTMIG_LABEL_LEN },
};

/* @msg's attributes checked against tm_reply_policy; a reason if not. */
static int tm_nl_parse(struct nl_msg *msg, struct nlattr **a,
		       const char *what)
{
	int err = genlmsg_parse(nlmsg_hdr(msg), 0, a, TRUSTMIG_A_MAX,
				tm_reply_policy);

	if (err)
		return tm_fail(TM_EXIT_NETLINK,
			       "trustmig.ko sent a malformed %s: %s", what,
			       nl_geterror(err));
	return 0;
}

static int tm_nl_reply(struct nl_msg *msg, void *arg)
{
	struct tm_session *s = arg;
	struct nlattr *a[TRUSTMIG_A_MAX + 1];

	if (tm_nl_parse(msg, a, "session") ||
	    !a[TRUSTMIG_A_SESSION_ID] || !a[TRUSTMIG_A_TICKET])
		return NL_SKIP;
	s->id = nla_get_u32(a[TRUSTMIG_A_SESSION_ID]);
	memcpy(s->ticket, nla_data(a[TRUSTMIG_A_TICKET]), TRUSTMIG_TICKET_LEN);
	return NL_OK;
}

/* Send @msg (wiped and freed) and wait for the kernel's answer. */
static int tm_nl_call(struct tm_nl *n, struct nl_msg *msg, const char *what,
		      struct tm_session *reply)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	int err;

	if (reply)
		nl_socket_modify_cb(n->sk, NL_CB_VALID, NL_CB_CUSTOM,
				    tm_nl_reply, reply);
	err = nl_send_auto(n->sk, msg);
	OPENSSL_cleanse(h, h->nlmsg_len);
	nlmsg_free(msg);
	if (err >= 0)
		err = nl_recvmsgs_default(n->sk);
	if (err >= 0 && reply)
		err = nl_wait_for_ack(n->sk);
	if (err == -NLE_OBJ_NOTFOUND)
		return tm_fail(TM_EXIT_NO_SESSION,
			       "trustmig.ko refused %s: no such session", what);
	if (err < 0)
		return tm_fail(TM_EXIT_NETLINK, "trustmig.ko refused %s: %s",
			       what, nl_geterror(err));
	return 0;
}

static struct nl_msg *tm_nl_msg(const struct tm_nl *n, __u8 cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, n->family, 0,
				0, cmd, TRUSTMIG_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

static int tm_nl_delete(struct tm_nl *n, __u32 id)
{
	struct nl_msg *msg = tm_nl_msg(n, TRUSTMIG_CMD_SESSION_DEL);

	if (!msg || nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, id)) {
		nlmsg_free(msg);
		return tm_fail(TM_EXIT_ERROR, "cannot build netlink message");
	}
	return tm_nl_call(n, msg, "SESSION_DEL", NULL);
}

/* Optional attributes: 0 and NULL (or "") are left out. */
static int tm_nl_put_u32(struct nl_msg *msg, int type, __u32 v)
{
	return v ? nla_put_u32(msg, type, v) : 0;
}

/* A label longer than trustmig.ko keeps is cut, not refused. */
static int tm_nl_put_label(struct nl_msg *msg, int type, const char *label)
{
	char cut[TRUSTMIG_LABEL_LEN];

	if (!label || !*label)
		return 0;
	snprintf(cut, sizeof(cut), "%s", label);
	return nla_put_string(msg, type, cut);
}

int tm_module_install(struct tm_session *s,
		      const unsigned char key[TRUSTMIG_KEY_LEN],
		      const unsigned char salt[TRUSTMIG_SALT_LEN])
{
	struct nl_msg *msg;
	struct tm_nl n;
	int ret;

	ret = tm_nl_open(&n);
	if (ret)
		return ret;
	s->id = 0;
	msg = tm_nl_msg(&n, TRUSTMIG_CMD_SESSION_NEW);
	if (!msg || nla_put_u8(msg, TRUSTMIG_A_ROLE, s->role) ||
	    tm_nl_put_u32(msg, TRUSTMIG_A_ATTACH_TIMEOUT, s->attach_timeout) ||
	    tm_nl_put_u32(msg, TRUSTMIG_A_LIFETIME, s->lifetime) ||
	    tm_nl_put_label(msg, TRUSTMIG_A_PEER_NAME, s->peer_name) ||
	    tm_nl_put_label(msg, TRUSTMIG_A_PEER_ADDR, s->peer_addr) ||
	    tm_nl_put_label(msg, TRUSTMIG_A_POLICY_ID, s->policy_id)) {
		nlmsg_free(msg);
		ret = tm_fail(TM_EXIT_ERROR, "cannot build netlink message");
		goto out;
	}
	/* The reason if no reply counts; a malformed one gives its own. */
	tm_fail(TM_EXIT_NETLINK, "trustmig.ko sent no session id and ticket");
	ret = tm_nl_call(&n, msg, "SESSION_NEW", s);
	if (!ret && !s->id)
		ret = TM_EXIT_NETLINK;
	if (ret)
		goto out;
	msg = tm_nl_msg(&n, TRUSTMIG_CMD_SESSION_SET_KEY);
	if (!msg || nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, s->id) ||
	    nla_put_u32(msg, TRUSTMIG_A_STREAM_ID, s->stream) ||
	    nla_put(msg, TRUSTMIG_A_KEY, TRUSTMIG_KEY_LEN, key) ||
	    nla_put(msg, TRUSTMIG_A_SALT, TRUSTMIG_SALT_LEN, salt)) {
		if (msg)
			OPENSSL_cleanse(nlmsg_hdr(msg),
					nlmsg_hdr(msg)->nlmsg_len);
		nlmsg_free(msg);
		ret = tm_fail(TM_EXIT_ERROR, "cannot build netlink message");
	} else {
		ret = tm_nl_call(&n, msg, "SESSION_SET_KEY", NULL);
	}
	if (ret) {
		/* no half-made session */
		tm_nl_delete(&n, s->id);
		OPENSSL_cleanse(s->ticket, sizeof(s->ticket));
	}
out:
	nl_socket_free(n.sk);
	return ret;
}

int tm_module_delete(__u32 id)
{
	struct tm_nl n;
	int ret;

	ret = tm_nl_open(&n);
	if (ret)
		return ret;
	ret = tm_nl_delete(&n, id);
	nl_socket_free(n.sk);
	if (ret == TM_EXIT_NO_SESSION)
		ret = tm_fail(ret, "trustmig.ko holds no session %u", id);
	return ret;
}

int tm_session_print(FILE *f, const struct tm_session *s)
{
	char *hex = tm_hex(s->ticket, sizeof(s->ticket));

	if (!hex)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	fprintf(f, "trustmig-session v1 role=%s id=%u stream=%08x ticket=%s\n",
		s->role == TRUSTMIG_ROLE_SOURCE ? "source" : "dest", s->id,
		s->stream, hex);
	OPENSSL_cleanse(hex, strlen(hex));
	OPENSSL_free(hex);
	return fflush(f) ? tm_fail(TM_EXIT_ERROR, "cannot write the session line")
			 : 0;
}

char *tm_session_line(const struct tm_session *s, size_t *len)
{
	char *line = NULL;
	FILE *f;
	int ret;

	*len = 0;
	f = open_memstream(&line, len);
	if (!f) {
		tm_fail(TM_EXIT_ERROR, "out of memory");
		return NULL;
	}
	ret = tm_session_print(f, s);
	fclose(f);
	if (ret) {
		OPENSSL_cleanse(line, *len);
		free(line);
		return NULL;
	}
	return line;
}

static unsigned long long tm_u64(struct nlattr *a)
{
	return a ? nla_get_u64(a) : 0;
}

static unsigned int tm_u32(struct nlattr *a)
{
	return a ? nla_get_u32(a) : 0;
}

static unsigned int tm_u8(struct nlattr *a)
{
	return a ? nla_get_u8(a) : 0;
}

/* A label as trustmig.ko holds it, cut at the first NUL. */
static void tm_label(struct nlattr *a, char *label)
{
	size_t len = a ? strnlen(nla_data(a), nla_len(a)) : 0;

	if (len >= TRUSTMIG_LABEL_LEN)
		len = TRUSTMIG_LABEL_LEN - 1;
	memcpy(label, a ? nla_data(a) : "", len);
	label[len] = '\0';
}

struct tm_walk {
	tm_session_fn fn;
	void *arg;
	int ret;	/* the first non-zero of fn, or a malformed reply */
};

static int tm_walk_session(struct nl_msg *msg, void *arg)
{
	struct nlattr *a[TRUSTMIG_A_MAX + 1];
	struct tm_walk *w = arg;
	struct tm_session_info s;

	w->ret = tm_nl_parse(msg, a, "session");
	if (w->ret)
		return NL_STOP;
	if (!a[TRUSTMIG_A_SESSION_ID])
		return NL_SKIP;
	s = (struct tm_session_info) {
		.id = tm_u32(a[TRUSTMIG_A_SESSION_ID]),
		.role = tm_u8(a[TRUSTMIG_A_ROLE]),
		.cipher = tm_u8(a[TRUSTMIG_A_CIPHER]),
		.state = tm_u8(a[TRUSTMIG_A_STATE]),
		.keyed = tm_u8(a[TRUSTMIG_A_KEYED]),
		.attached = tm_u8(a[TRUSTMIG_A_ATTACHED]),
		.has_stream = !!a[TRUSTMIG_A_STREAM_ID],
		.stream = tm_u32(a[TRUSTMIG_A_STREAM_ID]),
		.records = tm_u64(a[TRUSTMIG_A_RECORDS]),
		.bytes = tm_u64(a[TRUSTMIG_A_BYTES]),
		.pages = tm_u64(a[TRUSTMIG_A_PAGES]),
		.zero_pages = tm_u64(a[TRUSTMIG_A_ZERO_PAGES]),
		.rounds = tm_u32(a[TRUSTMIG_A_ROUNDS]),
		.failures = tm_u32(a[TRUSTMIG_A_FAILURES]),
		.reason = tm_u8(a[TRUSTMIG_A_REASON]),
		.err = tm_u32(a[TRUSTMIG_A_ERRNO]),
		.age = tm_u32(a[TRUSTMIG_A_AGE]),
		.attach_timeout = tm_u32(a[TRUSTMIG_A_ATTACH_TIMEOUT]),
		.lifetime = tm_u32(a[TRUSTMIG_A_LIFETIME]),
	};
	tm_label(a[TRUSTMIG_A_PEER_NAME], s.peer_name);
	tm_label(a[TRUSTMIG_A_PEER_ADDR], s.peer_addr);
	tm_label(a[TRUSTMIG_A_POLICY_ID], s.policy_id);
	w->ret = w->fn(&s, w->arg);
	return w->ret ? NL_STOP : NL_OK;
}

int tm_module_sessions(__u32 id, tm_session_fn fn, void *arg)
{
	struct tm_walk w = { .fn = fn, .arg = arg };
	struct nl_msg *msg;
	struct tm_nl n;
	int ret, err;

	ret = tm_nl_open(&n);
	if (ret)
		return ret;
	msg = nlmsg_alloc();
	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, n.family, 0,
				 id ? 0 : NLM_F_DUMP, TRUSTMIG_CMD_SESSION_GET,
				 TRUSTMIG_GENL_VERSION) ||
	    (id && nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, id))) {
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
		goto out;
	}
	nl_socket_modify_cb(n.sk, NL_CB_VALID, NL_CB_CUSTOM, tm_walk_session,
			    &w);
	err = nl_send_auto(n.sk, msg);
	if (err >= 0)
		err = nl_recvmsgs_default(n.sk);
	if (err >= 0 && id && !w.ret)
		err = nl_wait_for_ack(n.sk);
	if (err == -NLE_OBJ_NOTFOUND)
		ret = tm_fail(TM_EXIT_NO_SESSION,
			      "trustmig.ko holds no session %u", id);
	else if (err < 0)
		ret = tm_fail(TM_EXIT_NETLINK, "trustmig.ko refused SESSION_GET: %s",
			      nl_geterror(err));
	else
		ret = w.ret;
out:
	nlmsg_free(msg);
	nl_socket_free(n.sk);
	return ret;
}

struct tm_watch {
	tm_event_fn fn;
	void *arg;
	int ret;
};

static int tm_watch_event(struct nl_msg *msg, void *arg)
{
	struct genlmsghdr *g = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *a[TRUSTMIG_A_MAX + 1];
	struct tm_watch *w = arg;
	struct tm_session_event ev;

	w->ret = tm_nl_parse(msg, a, "event");
	if (w->ret)
		return NL_STOP;
	ev = (struct tm_session_event) {
		.cmd = g->cmd,
		.id = tm_u32(a[TRUSTMIG_A_SESSION_ID]),
		.reason = tm_u8(a[TRUSTMIG_A_REASON]),
		.err = tm_u32(a[TRUSTMIG_A_ERRNO]),
		.seq = tm_u64(a[TRUSTMIG_A_SEQ]),
		.records = tm_u64(a[TRUSTMIG_A_RECORDS]),
		.bytes = tm_u64(a[TRUSTMIG_A_BYTES]),
		.pages = tm_u64(a[TRUSTMIG_A_PAGES]),
	};
	w->ret = w->fn(&ev, w->arg);
	return w->ret ? NL_STOP : NL_OK;
}

int tm_module_monitor(tm_event_fn fn, void *arg, void (*ready)(void))
{
	struct tm_watch w = { .fn = fn, .arg = arg };
	struct tm_nl n;
	int ret, group, err;

	ret = tm_nl_open(&n);
	if (ret)
		return ret;
	group = genl_ctrl_resolve_grp(n.sk, TRUSTMIG_GENL_NAME,
				      TRUSTMIG_MCGRP_EVENTS);
	err = group < 0 ? group : nl_socket_add_membership(n.sk, group);
	if (err < 0) {
		ret = tm_fail(TM_EXIT_NETLINK,
			      "cannot join trustmig.ko's events group: %s",
			      nl_geterror(err));
		goto out;
	}
	/* Events carry no sequence number of ours. */
	nl_socket_disable_seq_check(n.sk);
	nl_socket_modify_cb(n.sk, NL_CB_VALID, NL_CB_CUSTOM, tm_watch_event,
			    &w);
	if (ready)
		ready();
	while (!w.ret) {
		err = nl_recvmsgs_default(n.sk);
		if (err < 0 && err != -NLE_INTR) {
			ret = tm_fail(TM_EXIT_NETLINK,
				      "reading trustmig.ko's events: %s",
				      nl_geterror(err));
			goto out;
		}
	}
	ret = w.ret > 0 ? w.ret : 0;
out:
	nl_socket_free(n.sk);
	return ret;
}
