// SPDX-License-Identifier: GPL-2.0
/*
 * tforge: seal records with OpenSSL, as trustmig.ko's seal.c does.
 */
#include <endian.h>
#include <string.h>
#include <openssl/evp.h>

#include "tforge.h"

void tforge_hdr(__u8 *rec, __u8 type, __u64 gfn, __u32 lane, __u16 round,
		__u16 len, __u64 seq)
{
	struct trustmig_rec_hdr h = {
		.version = TRUSTMIG_WIRE_VERSION,
		.type = type,
		.gfn_hi = gfn >> 32,
		.gfn_lo = htobe32((__u32)gfn),
		.lane = htobe32(lane),
		.round = htobe16(round),
		.len = htobe16(len),
		.seq = htobe64(seq),
	};

	memcpy(rec, &h, sizeof(h));
}

size_t tforge_seal(const struct tmig_pair *p, __u8 cipher, __u8 *rec)
{
	const struct trustmig_rec_hdr *h = (const void *)rec;
	size_t hlen = sizeof(*h), len = be16toh(h->len);
	__u8 iv[TRUSTMIG_SALT_LEN], ctr[TRUSTMIG_SALT_LEN];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	__be32 lane = h->lane;
	__be64 seq = h->seq;
	int n, ok, i;

	/* salt ^ (be32(lane) || be64(seq)) */
	memcpy(ctr, &lane, sizeof(lane));
	memcpy(ctr + sizeof(lane), &seq, sizeof(seq));
	for (i = 0; i < TRUSTMIG_SALT_LEN; i++)
		iv[i] = p->salt[i] ^ ctr[i];
	ok = ctx && EVP_EncryptInit_ex(ctx,
			cipher == TRUSTMIG_CIPHER_CHACHA20POLY1305 ?
			EVP_chacha20_poly1305() : EVP_aes_256_gcm(),
			NULL, NULL, NULL) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, sizeof(iv),
				 NULL) &&
	     EVP_EncryptInit_ex(ctx, NULL, NULL, p->key, iv) &&
	     EVP_EncryptUpdate(ctx, NULL, &n, rec, hlen) &&
	     (!len || EVP_EncryptUpdate(ctx, rec + hlen, &n, rec + hlen,
					len)) &&
	     EVP_EncryptFinal_ex(ctx, rec + hlen + len, &n) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TRUSTMIG_TAG_LEN,
				 rec + hlen + len);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? hlen + len + TRUSTMIG_TAG_LEN : 0;
}
