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
};

/*
 * 0 if the family exists (resolving it loads trustmig.ko through its
 * alias), else TM_EXIT_NO_MODULE, or TM_EXIT_MODULE_VERSION if it is
 * not the netlink version this build speaks, with the reason.
 */
int tm_module_probe(void);
/*
 * "@tool VERSION (netlink family trustmig vN)", then the same of the
 * running trustmig.ko, or that it is not loaded (never loads it).
 */
void tm_module_print_versions(FILE *f, const char *tool);
/*
 * SESSION_NEW(@s->role) then SESSION_SET_KEY(@s->stream, @key, @salt):
 * fills s->id and s->ticket. On failure no session is left behind.
 */
int tm_module_install(struct tm_session *s,
		      const unsigned char key[TRUSTMIG_KEY_LEN],
		      const unsigned char salt[TRUSTMIG_SALT_LEN]);
/*
 * The line the VMM parses (docs/protocol.md):
 * "trustmig-session v1 role=source id=7 stream=0a1b2c3d ticket=HEX\n"
 */
int tm_session_print(FILE *f, const struct tm_session *s);
/*
 * One line per session trustmig.ko holds (SESSION_GET dump): its state
 * and counters, never a key.  TM_EXIT_NO_MODULE if it is not loaded.
 */
int tm_module_status(FILE *f);

#endif /* TRUSTMIG_MODULE_H */
