/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Strict parsing of numbers and HOST:PORT addresses given by an
 * operator.  Its own file, free of the library's dependencies, so that
 * trustmig-vm builds it in too.
 */
#ifndef TRUSTMIG_PARSE_H
#define TRUSTMIG_PARSE_H

#include <stddef.h>

/* tm_addr_check() flags */
#define TM_ADDR_LISTEN		1	/* PORT may be 0: any free one */
#define TM_ADDR_ANY_HOST	2	/* HOST may be left out: "PORT", ":PORT" */

/* @s is a decimal number in [@min, @max], digits only: 0, else -1. */
int tm_ulong_in(const char *s, unsigned long min, unsigned long max,
		unsigned long *out);
/*
 * @hostport is "HOST:PORT" or "[V6]:PORT" with PORT a number from 1 (0
 * with TM_ADDR_LISTEN) to 65535: 0. Else -1 and in @why the reason, which
 * names @what, the option or key the address came from.
 */
int tm_addr_check(const char *hostport, unsigned int flags, const char *what,
		  char *why, size_t len);

#endif /* TRUSTMIG_PARSE_H */
