// SPDX-License-Identifier: GPL-2.0
/*
 * Strict parsing of numbers and addresses (parse.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int tm_ulong_in(const char *s, unsigned long min, unsigned long max,
		unsigned long *out)
{
	unsigned long v;
	char *end;

	/* strtoul() would take a sign or leading space */
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int tm_addr_check(const char *hostport, unsigned int flags, const char *what,
		  char *why, size_t len)
{
	const char *colon = strrchr(hostport, ':');
	const char *port = colon ? colon + 1 : hostport;
	bool any_host = flags & TM_ADDR_ANY_HOST;
	unsigned long min = !(flags & TM_ADDR_LISTEN), v;

	/* getaddrinfo() would take 99999 as 34463, and "http" as 80 */
	if ((any_host || (colon && colon != hostport)) &&
	    !tm_ulong_in(port, min, 65535, &v))
		return 0;
	snprintf(why, len,
		 "%s: \"%.64s\" is not %s with PORT a number from %lu to 65535",
		 what, hostport, any_host ? "[HOST:]PORT" : "HOST:PORT", min);
	return -1;
}
