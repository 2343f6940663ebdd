// SPDX-License-Identifier: GPL-2.0
/*
 * IMA's binary measurement list (security/integrity/ima/ima_fs.c writes
 * it, host byte order), one entry per measurement:
 *
 *   u32 pcr, u8 sha1_template_digest[20], u32 name_len, char name[],
 *   u32 data_len, u8 data[]
 *
 * data is the template's fields, each a u32 length and its bytes; the
 * templates read here begin with d-ng ("sha256:\0" and the file's
 * digest) and n-ng (the path, NUL-terminated).  Each bank of the PCR is
 * extended with that bank's hash of data, or with all ones for a
 * violation (logged with a zero template digest).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <linux/types.h>

#include "ima.h"
#include "printable.h"
#include "tpmsw.h"
#include "util.h"

#define TM_IMA_NAME_MAX		255	/* IMA_TEMPLATE_NAME_LEN_MAX */
#define TM_IMA_SHA1		20
#define TM_IMA_ALGO		"sha256"

int tm_ima_read(const char *path, unsigned char **log, size_t *len)
{
	int ret;

	*log = NULL;
	*len = 0;
	if (access(path, F_OK) && errno == ENOENT)
		return 0;
	ret = tm_read_file(path, log, len);
	if (!ret && *len > TM_IMA_LOG_MAX)
		ret = tm_fail(TM_EXIT_MEASURED,
			      "IMA's list %s is %zu bytes, more than a handshake carries (%u): measure only kernel modules (docs/operations.md)",
			      path, *len, TM_IMA_LOG_MAX);
	return ret;
}

int tm_ima_is_key_module(const struct tm_ima_entry *e)
{
	static const char name[] = "/trustmig.ko";
	size_t n = sizeof(name) - 1;

	return e->path_len > n && !memcmp(e->path + e->path_len - n, name, n);
}

/* Bounded reader over the list; any overrun is a malformed list. */
struct tm_ima_cursor {
	const unsigned char *p, *end;
};

static int tm_ima_take(struct tm_ima_cursor *c, size_t n,
		       const unsigned char **out)
{
	if ((size_t)(c->end - c->p) < n)
		return -1;
	*out = c->p;
	c->p += n;
	return 0;
}

static int tm_ima_u32(struct tm_ima_cursor *c, __u32 *v)
{
	const unsigned char *p;

	if (tm_ima_take(c, sizeof(*v), &p))
		return -1;
	memcpy(v, p, sizeof(*v));
	return 0;
}

/* One length-prefixed template field. */
static int tm_ima_field(struct tm_ima_cursor *c, const unsigned char **f,
			__u32 *len)
{
	return tm_ima_u32(c, len) || tm_ima_take(c, *len, f) ? -1 : 0;
}

/* The file's digest and path from the d-ng and n-ng fields of @data. */
static int tm_ima_fields(const unsigned char *data, __u32 len,
			 struct tm_ima_entry *e)
{
	static const char algo[] = TM_IMA_ALGO ":";	/* and its NUL */
	struct tm_ima_cursor c = { data, data + len };
	const unsigned char *d, *n;
	__u32 dlen, nlen;

	if (tm_ima_field(&c, &d, &dlen) || tm_ima_field(&c, &n, &nlen))
		return tm_fail(TM_EXIT_MEASURED,
			       "malformed IMA list: an entry's fields overrun it");
	if (dlen != sizeof(algo) + 32 || memcmp(d, algo, sizeof(algo)))
		return tm_fail(TM_EXIT_MEASURED,
			       "IMA measured a file with another hash than %s (ima_hash=%s on the kernel command line)",
			       TM_IMA_ALGO, TM_IMA_ALGO);
	if (!nlen || n[nlen - 1])
		return tm_fail(TM_EXIT_MEASURED,
			       "malformed IMA list: a path is not NUL-terminated");
	memcpy(e->sha256, d + sizeof(algo), 32);
	e->path = (const char *)n;
	e->path_len = nlen - 1;
	return 0;
}

static int tm_ima_template(const unsigned char *name, __u32 len)
{
	static const char *const known[] = { "ima-ng", "ima-sig", "ima-modsig" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(known); i++)
		if (len == strlen(known[i]) && !memcmp(name, known[i], len))
			return 0;
	return tm_fail(TM_EXIT_MEASURED,
		       "IMA logs with template \"%.*s\", not ima-ng, ima-sig or ima-modsig",
		       (int)len, name);
}

static int tm_ima_extend(const EVP_MD *md, TPM2B_DIGEST *pcr,
			 const unsigned char *data, __u32 len,
			 int violation)
{
	unsigned char v[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx;
	unsigned int n;
	int ok;

	if (violation)
		memset(v, 0xff, pcr->size);
	else if (!EVP_Digest(data, len, v, &n, md, NULL))
		return tm_fail_ssl(TM_EXIT_ERROR, "IMA replay failed");
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) &&
	     EVP_DigestUpdate(ctx, pcr->buffer, pcr->size) &&
	     EVP_DigestUpdate(ctx, v, pcr->size) &&
	     EVP_DigestFinal_ex(ctx, pcr->buffer, &n);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : tm_fail_ssl(TM_EXIT_ERROR, "IMA replay failed");
}

int tm_ima_replay(const unsigned char *log, size_t len, TPMI_ALG_HASH bank,
		  TPM2B_DIGEST *pcr, tm_ima_fn fn, void *arg)
{
	static const unsigned char zero[TM_IMA_SHA1];
	struct tm_ima_cursor c = { log, log + len };
	const unsigned char *entry, *digest, *name, *data;
	const EVP_MD *md = EVP_get_digestbyname(tm_hash_name(bank));
	__u32 index, nlen, dlen;
	struct tm_ima_entry e;
	int first = 1, ret;

	if (!md)
		return tm_fail(TM_EXIT_ERROR, "no hash for PCR bank %s",
			       tm_hash_name(bank));
	memset(pcr, 0, sizeof(*pcr));
	pcr->size = EVP_MD_get_size(md);
	while (c.p < c.end) {
		entry = c.p;
		if (tm_ima_u32(&c, &index) ||
		    tm_ima_take(&c, TM_IMA_SHA1, &digest) ||
		    tm_ima_u32(&c, &nlen) || nlen > TM_IMA_NAME_MAX ||
		    tm_ima_take(&c, nlen, &name) ||
		    tm_ima_field(&c, &data, &dlen))
			return tm_fail(TM_EXIT_MEASURED,
				       "malformed IMA list: the entry at byte %td overruns it",
				       entry - log);
		ret = tm_ima_template(name, nlen);
		if (!ret)
			ret = tm_ima_fields(data, dlen, &e);
		if (ret)
			return ret;
		if (index != TM_IMA_PCR)
			continue;
		e.violation = !memcmp(digest, zero, sizeof(zero));
		ret = tm_ima_extend(md, pcr, data, dlen, e.violation);
		/* the kernel's own first entry: PCRs 0-9 at IMA's start */
		if (!ret && fn && !(first && !strcmp(e.path, "boot_aggregate")))
			ret = fn(&e, arg);
		if (ret)
			return ret;
		first = 0;
	}
	return 0;
}

struct tm_ima_verdict {
	const struct tm_baseline *b;
	const char *host;
	int key_module;
};

static int tm_ima_allowed(const struct tm_ima_entry *e, void *arg)
{
	struct tm_ima_verdict *v = arg;
	const struct tm_ima_file *f;
	char path[256], *hex;

	tm_printable(e->path, e->path_len, path, sizeof(path), 0);
	if (e->violation)
		return tm_fail(TM_EXIT_MEASURED,
			       "IMA on %s logged a violation for %s (a file written while measured): its list vouches for nothing",
			       v->host, path);
	f = tm_baseline_ima_file(v->b, e->sha256);
	if (f) {
		v->key_module |= f->key_module;
		return 0;
	}
	hex = tm_hex(e->sha256, 8);
	tm_fail(TM_EXIT_MEASURED,
		"%s loaded %s (sha256 %s...), which baseline %s version %ld does not list",
		v->host, path, hex ? hex : "?", v->b->id, v->b->version);
	OPENSSL_free(hex);
	return TM_EXIT_MEASURED;
}

int tm_ima_check(const struct tm_baseline *b, const unsigned char *log,
		 size_t len, const char *host)
{
	struct tm_ima_verdict v = { .b = b, .host = host };
	TPM2B_DIGEST pcr;
	int ret;

	ret = tm_ima_replay(log, len, b->bank, &pcr, tm_ima_allowed, &v);
	if (!ret && !v.key_module)
		ret = tm_fail(TM_EXIT_MEASURED,
			      "IMA on %s never measured a trustmig.ko that baseline %s version %ld certifies: its IMA policy was not loaded before the module (docs/operations.md)",
			      host, b->id, b->version);
	return ret;
}
