// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig.ko control over generic netlink (libnl-genl-3).
 */
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/family.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "module.h"
#include "util.h"

#define TM_NOT_LOADED	"trustmig.ko not loaded: keys not installed"

struct tm_nl {
	struct nl_sock *sk;
	int family;
};

/*
 * The registered family's version, from the controller's list (a dump:
 * unlike resolving the name, it never loads the module); -1 if absent.
 */
static int tm_nl_family_version(struct nl_sock *sk)
{
	struct nl_cache *cache;
	struct genl_family *fam;
	int version = -1;

	if (genl_ctrl_alloc_cache(sk, &cache))
		return -1;
	fam = genl_ctrl_search_by_name(cache, TRUSTMIG_GENL_NAME);
	if (fam) {
		version = genl_family_get_version(fam);
		genl_family_put(fam);
	}
	nl_cache_free(cache);
	return version;
}

/* Does a line of @path hold @text (@at_start: begin with it)? */
static bool tm_file_has(const char *path, const char *text, bool at_start)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = at_start ? !strncmp(line, text, strlen(text)) :
				   !!strstr(line, text);
	fclose(f);
	return found;
}

/*
 * Why kernel @release loaded no trustmig.ko, as far as this host shows
 * it: DKMS builds the module only for a kernel with headers and KVM.
 */
static void tm_module_missing(const char *release, char *why, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/lib/modules/%s/modules.dep", release);
	if (tm_file_has(path, "/trustmig.ko", false)) {
		snprintf(why, len, "'modprobe trustmig' says why kernel %s does not load it",
			 release);
		return;
	}
	snprintf(path, sizeof(path), "/lib/modules/%s/build/Makefile", release);
	if (access(path, F_OK)) {
		snprintf(why, len,
			 "none is installed for kernel %s, which has no headers for DKMS to build it: apt-get install linux-headers-%s",
			 release, release);
		return;
	}
	snprintf(path, sizeof(path), "/boot/config-%s", release);
	if (!access(path, F_OK) && !tm_file_has(path, "CONFIG_KVM=", true)) {
		snprintf(why, len,
			 "none is installed for kernel %s, which is built without KVM (CONFIG_KVM), which trustmig.ko hooks",
			 release);
		return;
	}
	snprintf(why, len,
		 "none is installed for kernel %s: install trustmig-dkms, or make install",
		 release);
}

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
		tm_module_missing(uts.release, why, sizeof(why));
		return tm_fail(TM_EXIT_NO_MODULE, TM_NOT_LOADED
			       " (no generic netlink family \"%s\"): %s",
			       TRUSTMIG_GENL_NAME, why);
	}
	version = tm_nl_family_version(n->sk);
	if (version != TRUSTMIG_GENL_VERSION) {
		nl_socket_free(n->sk);
		return tm_fail(TM_EXIT_MODULE_VERSION,
			       "trustmig.ko speaks netlink family \"%s\" version %d, this %s speaks version %d: install the tools and the module of one release",
			       TRUSTMIG_GENL_NAME, version, tm_prog,
			       TRUSTMIG_GENL_VERSION);
	}
	return 0;
}

void tm_module_print_versions(FILE *f, const char *tool)
{
	char release[64] = "";
	struct nl_sock *sk = nl_socket_alloc();
	FILE *sys = fopen("/sys/module/trustmig/version", "r");
	int version = -1;

	fprintf(f, "%s %s (netlink family %s v%d)\n", tool, TRUSTMIG_VERSION,
		TRUSTMIG_GENL_NAME, TRUSTMIG_GENL_VERSION);
	if (sys) {
		if (!fgets(release, sizeof(release), sys))
			release[0] = '\0';
		release[strcspn(release, "\n")] = '\0';
		fclose(sys);
	}
	if (sk && !genl_connect(sk))
		version = tm_nl_family_version(sk);
	nl_socket_free(sk);
	if (version < 0)
		fputs("trustmig.ko not loaded\n", f);
	else
		fprintf(f, "trustmig.ko %s (netlink family %s v%d)\n",
			release[0] ? release : "(no version)",
			TRUSTMIG_GENL_NAME, version);
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
	if (!msg || nla_put_u8(msg, TRUSTMIG_A_ROLE, s->role)) {
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
		/* no half-made session: delete it */
		msg = tm_nl_msg(&n, TRUSTMIG_CMD_SESSION_DEL);
		if (msg && !nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, s->id))
			nl_send_sync(n.sk, msg);
		else
			nlmsg_free(msg);
		OPENSSL_cleanse(s->ticket, sizeof(s->ticket));
	}
out:
	nl_socket_free(n.sk);
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

static const char *const tm_role_names[] = {
	[TRUSTMIG_ROLE_SOURCE] = "source", [TRUSTMIG_ROLE_DEST] = "dest",
};

static const char *const tm_cipher_names[] = {
	[TRUSTMIG_CIPHER_AES256GCM] = "aes-256-gcm",
	[TRUSTMIG_CIPHER_CHACHA20POLY1305] = "chacha20-poly1305",
};

static const char *const tm_state_names[] = {
	[TRUSTMIG_STATE_NEW] = "new", [TRUSTMIG_STATE_KEYED] = "keyed",
	[TRUSTMIG_STATE_ACTIVE] = "active",
	[TRUSTMIG_STATE_COMPLETE] = "complete",
	[TRUSTMIG_STATE_FAILED] = "failed",
};

/* @names[@v], or "?" for a value this build does not know. */
static const char *tm_name(const char *const *names, size_t n,
			   struct nlattr *a)
{
	unsigned int v = a ? nla_get_u8(a) : 0;

	return v < n && names[v] ? names[v] : "?";
}

static unsigned long long tm_u64(struct nlattr *a)
{
	return a ? nla_get_u64(a) : 0;
}

static unsigned int tm_u32(struct nlattr *a)
{
	return a ? nla_get_u32(a) : 0;
}

struct tm_status {
	FILE *f;
	int ret;		/* TM_EXIT_NETLINK: a malformed session */
};

static int tm_status_line(struct nl_msg *msg, void *arg)
{
	struct nlattr *a[TRUSTMIG_A_MAX + 1];
	struct tm_status *st = arg;
	FILE *f = st->f;

	st->ret = tm_nl_parse(msg, a, "session");
	if (st->ret)
		return NL_STOP;
	if (!a[TRUSTMIG_A_SESSION_ID])
		return NL_SKIP;
	fprintf(f, "session %u role=%s cipher=%s state=%s keyed=%u attached=%u",
		tm_u32(a[TRUSTMIG_A_SESSION_ID]),
		tm_name(tm_role_names, TRUSTMIG_ROLE_DEST + 1,
			a[TRUSTMIG_A_ROLE]),
		tm_name(tm_cipher_names, TRUSTMIG_CIPHER_CHACHA20POLY1305 + 1,
			a[TRUSTMIG_A_CIPHER]),
		tm_name(tm_state_names, TRUSTMIG_STATE_FAILED + 1,
			a[TRUSTMIG_A_STATE]),
		a[TRUSTMIG_A_KEYED] ? nla_get_u8(a[TRUSTMIG_A_KEYED]) : 0,
		a[TRUSTMIG_A_ATTACHED] ? nla_get_u8(a[TRUSTMIG_A_ATTACHED]) : 0);
	if (a[TRUSTMIG_A_STREAM_ID])
		fprintf(f, " stream=%08x", tm_u32(a[TRUSTMIG_A_STREAM_ID]));
	fprintf(f, " records=%llu bytes=%llu pages=%llu zero=%llu rounds=%u failures=%u",
		tm_u64(a[TRUSTMIG_A_RECORDS]), tm_u64(a[TRUSTMIG_A_BYTES]),
		tm_u64(a[TRUSTMIG_A_PAGES]), tm_u64(a[TRUSTMIG_A_ZERO_PAGES]),
		tm_u32(a[TRUSTMIG_A_ROUNDS]), tm_u32(a[TRUSTMIG_A_FAILURES]));
	if (tm_u32(a[TRUSTMIG_A_ERRNO]))
		fprintf(f, " reason=%u errno=%u",
			a[TRUSTMIG_A_REASON] ? nla_get_u8(a[TRUSTMIG_A_REASON]) : 0,
			tm_u32(a[TRUSTMIG_A_ERRNO]));
	fputc('\n', f);
	return NL_OK;
}

int tm_module_status(FILE *f)
{
	struct tm_status st = { .f = f };
	struct nl_msg *msg;
	struct tm_nl n;
	int ret, err;

	ret = tm_nl_open(&n);
	if (ret)
		return ret;
	msg = nlmsg_alloc();
	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, n.family, 0,
				 NLM_F_DUMP, TRUSTMIG_CMD_SESSION_GET,
				 TRUSTMIG_GENL_VERSION)) {
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
		goto out;
	}
	nl_socket_modify_cb(n.sk, NL_CB_VALID, NL_CB_CUSTOM, tm_status_line,
			    &st);
	err = nl_send_auto(n.sk, msg);
	if (err >= 0)
		err = nl_recvmsgs_default(n.sk);
	if (err < 0)
		ret = tm_fail(TM_EXIT_NETLINK, "trustmig.ko refused the dump: %s",
			      nl_geterror(err));
	else
		ret = st.ret;
out:
	nlmsg_free(msg);
	nl_socket_free(n.sk);
	return ret;
}
