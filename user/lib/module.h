/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key installation into trustmig.ko over its generic netlink family
 * (uapi/linux/trustmig.h) with libnl-genl-3, and the session line handed
 * to the VMM.
 */
#ifndef TRUSTMIG_MODULE_H
#define TRUSTMIG_MODULE_H

#include <stdio.h>

#include <linux/trustmig.h>

struct tm_session {
	__u32 id;
	__u32 stream;
	__u8 role;			/* enum trustmig_role */
	unsigned char ticket[TRUSTMIG_TICKET_LEN];
	/* asked of trustmig.ko at SESSION_NEW: 0 and NULL leave it out */
	__u32 attach_timeout, lifetime;
	const char *peer_name, *peer_addr, *policy_id;
};

/*
 * 0 if the family exists (resolving it loads trustmig.ko through its
 * alias), else TM_EXIT_NO_MODULE, or TM_EXIT_MODULE_VERSION if it is
 * not the netlink version this build speaks, with the reason.
 */
int tm_module_probe(void);
/*
 * SESSION_NEW(@s->role, deadlines and labels) then SESSION_SET_KEY(
 * @s->stream, @key, @salt): fills s->id and s->ticket. On failure no
 * session is left behind.
 */
int tm_module_install(struct tm_session *s,
		      const unsigned char key[TRUSTMIG_KEY_LEN],
		      const unsigned char salt[TRUSTMIG_SALT_LEN]);
/* SESSION_DEL(@id): 0, or TM_EXIT_NETLINK with trustmig.ko's reason. */
int tm_module_delete(__u32 id);
/*
 * The line the VMM parses (docs/protocol.md):
 * "trustmig-session v1 role=source id=7 stream=0a1b2c3d ticket=HEX\n"
 */
int tm_session_print(FILE *f, const struct tm_session *s);
/*
 * The same line in a new string of *@len bytes (newline included) that
 * holds the ticket: the caller wipes it (OPENSSL_cleanse) and frees it.
 * NULL on failure, with the reason.
 */
char *tm_session_line(const struct tm_session *s, size_t *len);
/* A session as SESSION_GET reports it (never a key). */
struct tm_session_info {
	__u32 id, stream, rounds, failures, err;
	__u32 age, attach_timeout, lifetime;	/* seconds */
	__u8 role, cipher, state, keyed, attached, reason, has_stream;
	__u64 records, bytes, pages, zero_pages;
	char peer_name[TRUSTMIG_LABEL_LEN];	/* "" if not given */
	char peer_addr[TRUSTMIG_LABEL_LEN];
	char policy_id[TRUSTMIG_LABEL_LEN];
};

/* A failure or completion from the events group. */
struct tm_session_event {
	__u8 cmd;		/* TRUSTMIG_CMD_EVENT_* */
	__u32 id, err;
	__u8 reason;
	__u64 seq, records, bytes, pages;
};

/* 0 to go on; anything else stops the walk and is returned. */
typedef int (*tm_session_fn)(const struct tm_session_info *s, void *arg);
typedef int (*tm_event_fn)(const struct tm_session_event *ev, void *arg);

/*
 * Calls @fn for session @id, or for every session with @id 0.
 * TM_EXIT_NO_SESSION if there is no session @id, TM_EXIT_NO_MODULE if
 * trustmig.ko is not loaded.
 */
int tm_module_sessions(__u32 id, tm_session_fn fn, void *arg);
/*
 * Joins the events group (calling @ready, if given, once joined) and
 * calls @fn for each event until it returns non-zero; returns that
 * value if positive, 0 if negative.
 */
int tm_module_monitor(tm_event_fn fn, void *arg, void (*ready)(void));

#endif /* TRUSTMIG_MODULE_H */
