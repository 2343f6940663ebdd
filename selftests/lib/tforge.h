/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tforge: records sealed in userspace with a test pair's key, for the
 * attacks only a holder of the key can make (a commit that lies, a zero
 * run out of bounds, a record of another wire version).  Nonce and
 * associated data as docs/wire-format.md says.
 */
#ifndef _TFORGE_H
#define _TFORGE_H

#include <stddef.h>
#include <linux/types.h>

#include "tmig.h"

/*
 * Seals @rec in place: its header (lane, seq and len as given) is the
 * associated data, header.len bytes of plaintext follow it, and the tag
 * is written after them.  @cipher 0 is AES-256-GCM, as for the module.
 * Returns the record's size, or 0 if the cipher failed.
 */
size_t tforge_seal(const struct tmig_pair *p, __u8 cipher, __u8 *rec);

/*
 * Fills @rec's header: this wire version, flags 0, gfn, lane, round,
 * @len and seq.
 */
void tforge_hdr(__u8 *rec, __u8 type, __u64 gfn, __u32 lane, __u16 round,
		__u16 len, __u64 seq);

#endif /* _TFORGE_H */
