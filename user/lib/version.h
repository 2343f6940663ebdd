/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every tool's --version, and what this host shows of the trustmig.ko it
 * runs.  Its own file, needing libnl-genl but none of the library's other
 * dependencies, so that trustmig-vm builds it in too.
 */
#ifndef TRUSTMIG_VERSION_H
#define TRUSTMIG_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <netlink/netlink.h>

/*
 * Three lines: "@tool RELEASE (netlink family trustmig vN)", "wire
 * formats: sealed records vN, handshake vN[, @own]", then the running
 * trustmig.ko's "trustmig.ko RELEASE (netlink family trustmig vN)" or
 * "trustmig.ko not loaded: WHY". Never loads the module.
 */
void tm_print_versions(FILE *f, const char *tool, const char *own);
/*
 * The registered family's version, from the controller's list (a dump:
 * unlike resolving the name, it never loads the module); -1 if absent.
 */
int tm_genl_family_version(struct nl_sock *sk);
/*
 * Why kernel @release runs no trustmig.ko, as far as this host shows it;
 * @tried: a load was attempted (resolving the family), and failed.
 */
void tm_module_missing(const char *release, bool tried, char *why,
		       size_t len);

#endif /* TRUSTMIG_VERSION_H */
