// SPDX-License-Identifier: GPL-2.0
/*
 * Untrusted text made safe to print (printable.h).
 */
#include <ctype.h>

#include "printable.h"

void tm_printable(const void *in, size_t len, char *buf, size_t size,
		  int quoted)
{
	const unsigned char *p = in;
	size_t i, n = 0;
	int esc;

	for (i = 0; i < len && n + 1 < size; i++) {
		esc = quoted && (p[i] == '"' || p[i] == '\\');
		/* an escape and its character, or neither */
		if (esc && n + 2 >= size)
			break;
		if (esc)
			buf[n++] = '\\';
		buf[n++] = isprint(p[i]) ? p[i] : '?';
	}
	buf[n] = '\0';
}
