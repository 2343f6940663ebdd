/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Generic netlink control plane (family "trustmig").
 */
#ifndef _TRUSTMIG_NETLINK_H
#define _TRUSTMIG_NETLINK_H

struct trustmig_session;

int trustmig_nl_init(void);
void trustmig_nl_exit(void);

void trustmig_nl_notify_failed(struct trustmig_session *s);
void trustmig_nl_notify_complete(struct trustmig_session *s);

#endif /* _TRUSTMIG_NETLINK_H */
