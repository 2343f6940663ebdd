/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Untrusted text made safe to print.  Its own file, free of the
 * library's dependencies, so that trustmig-vm builds it in too.
 */
#ifndef TRUSTMIG_PRINTABLE_H
#define TRUSTMIG_PRINTABLE_H

#include <stddef.h>

/*
 * Bounded copy of @len bytes of untrusted text (a peer's reason, a name
 * from a file or token) for printing: non-printable bytes become '?'.
 * With @quoted, '"' and '\' become '\"' and '\\' too: the text is
 * the value of a quoted log field (reason="..."), which it cannot end.
 */
void tm_printable(const void *in, size_t len, char *buf, size_t size,
		  int quoted);

#endif /* TRUSTMIG_PRINTABLE_H */
