/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Record sealing: one AEAD transform per session, used by every lane's
 * calls at once, and the record layout.
 */
#ifndef _TRUSTMIG_SEAL_H
#define _TRUSTMIG_SEAL_H

#include <linux/types.h>
#include <linux/trustmig.h>

#define TRUSTMIG_HDR_LEN	sizeof(struct trustmig_rec_hdr)
/* A full-page record. */
#define TRUSTMIG_PAGE_REC_LEN	(TRUSTMIG_HDR_LEN + TRUSTMIG_PAGE_SIZE + \
				 TRUSTMIG_TAG_LEN)
/* The largest record: a full STATE record. */
#define TRUSTMIG_REC_MAX	(TRUSTMIG_HDR_LEN + TRUSTMIG_STATE_MAX + \
				 TRUSTMIG_TAG_LEN)

struct trustmig_aead;
struct aead_request;

/* One call's use of the key: a reference to it and a request of its own. */
struct trustmig_crypt {
	struct trustmig_aead *aead;
	struct aead_request *req;
};

struct trustmig_aead *trustmig_aead_new(u8 cipher, const u8 *key,
					const u8 *salt);
/* Drops a reference; the last one erases the key. */
void trustmig_aead_put(struct trustmig_aead *aead);

/* The caller keeps @aead alive until this returns (the session's lock). */
int trustmig_crypt_begin(struct trustmig_crypt *c, struct trustmig_aead *aead);
/* Ends a use begun, and does nothing on a zeroed @c. */
void trustmig_crypt_end(struct trustmig_crypt *c);

/*
 * @rec holds header || plaintext of @len bytes and has room for the tag;
 * on return it holds the whole sealed record.
 */
int trustmig_aead_seal(struct trustmig_crypt *c, u32 lane, u64 seq,
		       u8 *rec, unsigned int len);
/*
 * @rec holds a whole sealed record with @len bytes of ciphertext; on
 * success the ciphertext is replaced by the plaintext.  -EBADMSG when the
 * tag does not verify, in which case the plaintext must not be used.
 */
int trustmig_aead_open(struct trustmig_crypt *c, u32 lane, u64 seq,
		       u8 *rec, unsigned int len);

const char *trustmig_cipher_name(u8 cipher);

/* Is the PAGE_SIZE bytes at @page (8-byte aligned) all zero? */
bool trustmig_page_zero(const void *page);

#endif /* _TRUSTMIG_SEAL_H */
