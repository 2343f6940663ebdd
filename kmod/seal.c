// SPDX-License-Identifier: GPL-2.0
/*
 * AEAD over records through the kernel crypto API.
 *
 * The header is the associated data, the payload is encrypted in place and
 * the tag follows it.  The nonce is the session salt XOR the 32-bit lane
 * and the lane's 64-bit record sequence (TLS 1.3's construction, widened
 * by the lane), so a (key, nonce) pair never repeats as long as no lane's
 * sequence wraps, which the session layer enforces.
 */
#include <crypto/aead.h>
#include <linux/kref.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <asm/unaligned.h>

#include "seal.h"

/*
 * The session's key.  Calls on several lanes use it at once, each with
 * a request of its own; the session's reference goes when the key must,
 * and the last caller's then erases it.
 */
struct trustmig_aead {
	struct kref ref;
	struct crypto_aead *tfm;
	u8 salt[TRUSTMIG_SALT_LEN];
};

const char *trustmig_cipher_name(u8 cipher)
{
	switch (cipher) {
	case TRUSTMIG_CIPHER_AES256GCM:
		return "gcm(aes)";
	case TRUSTMIG_CIPHER_CHACHA20POLY1305:
		return "rfc7539(chacha20,poly1305)";
	}
	return NULL;
}

struct trustmig_aead *trustmig_aead_new(u8 cipher, const u8 *key,
					const u8 *salt)
{
	const char *name = trustmig_cipher_name(cipher);
	struct trustmig_aead *aead;
	int err;

	if (!name)
		return ERR_PTR(-EINVAL);

	aead = kzalloc(sizeof(*aead), GFP_KERNEL);
	if (!aead)
		return ERR_PTR(-ENOMEM);
	kref_init(&aead->ref);

	/*
	 * Synchronous and asynchronous implementations are both accepted,
	 * as kTLS does: the AES-NI one is an async SIMD wrapper that runs
	 * inline in process context, and every call below waits.
	 */
	aead->tfm = crypto_alloc_aead(name, 0, 0);
	if (IS_ERR(aead->tfm)) {
		err = PTR_ERR(aead->tfm);
		goto err_free;
	}
	if (crypto_aead_ivsize(aead->tfm) != TRUSTMIG_SALT_LEN) {
		err = -EINVAL;
		goto err_tfm;
	}
	err = crypto_aead_setkey(aead->tfm, key, TRUSTMIG_KEY_LEN);
	if (err)
		goto err_tfm;
	err = crypto_aead_setauthsize(aead->tfm, TRUSTMIG_TAG_LEN);
	if (err)
		goto err_tfm;
	memcpy(aead->salt, salt, TRUSTMIG_SALT_LEN);
	return aead;

err_tfm:
	/* crypto_free_aead() erases the expanded key with kfree_sensitive. */
	crypto_free_aead(aead->tfm);
err_free:
	kfree_sensitive(aead);
	return ERR_PTR(err);
}

static void trustmig_aead_release(struct kref *ref)
{
	struct trustmig_aead *aead = container_of(ref, struct trustmig_aead,
						  ref);

	crypto_free_aead(aead->tfm);
	kfree_sensitive(aead);
}

void trustmig_aead_put(struct trustmig_aead *aead)
{
	if (aead)
		kref_put(&aead->ref, trustmig_aead_release);
}

int trustmig_crypt_begin(struct trustmig_crypt *c, struct trustmig_aead *aead)
{
	c->req = aead_request_alloc(aead->tfm, GFP_KERNEL);
	if (!c->req)
		return -ENOMEM;
	kref_get(&aead->ref);
	c->aead = aead;
	return 0;
}

void trustmig_crypt_end(struct trustmig_crypt *c)
{
	if (!c->aead)
		return;
	/* The request context may hold key-derived state (e.g. GHASH key). */
	aead_request_free(c->req);
	trustmig_aead_put(c->aead);
	c->aead = NULL;
}

/*
 * Eight words ORed per step: about a third of memchr_inv()'s instructions
 * on a zero page (docs/benchmarks.md), and a page of data still stops at
 * its first non-zero 64 bytes.  @page must be 8-byte aligned.
 */
bool trustmig_page_zero(const void *page)
{
	const u64 *w = page;
	unsigned int i;

	for (i = 0; i < PAGE_SIZE / sizeof(*w); i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] |
		    w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

#ifndef TRUSTMIG_BENCH_COPY_ONLY
/* salt ^ (be32(lane) || be64(seq)) */
static void trustmig_nonce(const struct trustmig_aead *aead, u32 lane,
			   u64 seq, u8 *iv)
{
	u8 ctr[TRUSTMIG_SALT_LEN];
	int i;

	put_unaligned_be32(lane, ctr);
	put_unaligned_be64(seq, ctr + 4);
	for (i = 0; i < TRUSTMIG_SALT_LEN; i++)
		iv[i] = aead->salt[i] ^ ctr[i];
}

static int trustmig_aead_crypt(struct trustmig_crypt *c, u32 lane, u64 seq,
			       u8 *rec, unsigned int len, bool encrypt)
{
	struct aead_request *req = c->req;
	unsigned int total = TRUSTMIG_HDR_LEN + len + TRUSTMIG_TAG_LEN;
	u8 iv[TRUSTMIG_SALT_LEN];
	struct scatterlist sg;
	DECLARE_CRYPTO_WAIT(wait);
	int err;

	trustmig_nonce(c->aead, lane, seq, iv);
	sg_init_one(&sg, rec, total);
	/* An async AEAD with a full queue makes us wait, not fail. */
	aead_request_set_callback(req, CRYPTO_TFM_REQ_MAY_SLEEP |
				  CRYPTO_TFM_REQ_MAY_BACKLOG,
				  crypto_req_done, &wait);
	aead_request_set_ad(req, TRUSTMIG_HDR_LEN);
	aead_request_set_crypt(req, &sg, &sg,
			       encrypt ? len : len + TRUSTMIG_TAG_LEN, iv);
	if (encrypt)
		err = crypto_wait_req(crypto_aead_encrypt(req), &wait);
	else
		err = crypto_wait_req(crypto_aead_decrypt(req), &wait);
	memzero_explicit(iv, sizeof(iv));
	return err;
}

int trustmig_aead_seal(struct trustmig_crypt *c, u32 lane, u64 seq,
		       u8 *rec, unsigned int len)
{
	return trustmig_aead_crypt(c, lane, seq, rec, len, true);
}

int trustmig_aead_open(struct trustmig_crypt *c, u32 lane, u64 seq,
		       u8 *rec, unsigned int len)
{
	return trustmig_aead_crypt(c, lane, seq, rec, len, false);
}
#else
/*
 * The benchmarks' copy-only build (bench/Kbuild, main.c): the same data
 * path with the cipher left out, payload in clear and a zero tag, to
 * measure what sealing adds to a migration.  trustmig.ko never has it.
 */
int trustmig_aead_seal(struct trustmig_crypt *c, u32 lane, u64 seq,
		       u8 *rec, unsigned int len)
{
	memset(rec + TRUSTMIG_HDR_LEN + len, 0, TRUSTMIG_TAG_LEN);
	return 0;
}

int trustmig_aead_open(struct trustmig_crypt *c, u32 lane, u64 seq,
		       u8 *rec, unsigned int len)
{
	return 0;
}
#endif
