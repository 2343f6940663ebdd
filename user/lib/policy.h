/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Migration policies: which TTPs (trust anchors) and which certified
 * baselines a VM accepts for the hosts it runs on (docs/protocol.md).
 * A JSON file read with json-c in strict mode:
 *
 *   { "schema": "trustmig-policy/1", "id": "prod-db",
 *     "description": "optional text",
 *     "anchors": [ "ttp-acme.pem", ... ],        -- PEM TTP certificates
 *     "baselines": [ "kvm-prod-v8.json", ... ],  -- baseline files
 *     "destinations": [ "host-b.example", ... ] or "any", -- optional
 *     "sources": [ "host-a.example", ... ] or "any" }     -- optional
 *
 * Relative paths are relative to the policy file's directory.
 * "destinations" lists the hosts a VM may go to, as interchangeable for
 * the source when its operator names none; "sources" the hosts a
 * destination takes the VM from (absent: any the policy accepts).
 */
#ifndef TRUSTMIG_POLICY_H
#define TRUSTMIG_POLICY_H

#include <openssl/x509.h>

#include "baseline.h"
#include "token.h"

#define TM_POLICY_SCHEMA	"trustmig-policy/1"
#define TM_POLICY_ID_MAX	64
#define TM_POLICY_MAX		16	/* anchors files, baselines */

/*
 * Host names (RFC 1123, compared ignoring case, as DNS does): @any says
 * explicitly "any host"; neither @any nor a name: nothing said.
 */
struct tm_hosts {
	int any;
	unsigned int n;
	char *name[TM_POLICY_MAX];
};

struct tm_policy {
	char *id;
	X509_STORE *anchors;
	unsigned int nbaselines;
	struct tm_baseline baseline[TM_POLICY_MAX];
	struct tm_hosts destinations;
	struct tm_hosts sources;
};

/* Append the @len bytes of @name; @code naming @what if it is no host name. */
int tm_hosts_add(struct tm_hosts *h, const char *name, size_t len, int code,
		 const char *what);
/* @name is one of @h's names. */
int tm_hosts_has(const struct tm_hosts *h, const char *name);
/* @h's names as "a.example, b.example" for a message, cut to @size. */
void tm_hosts_print(const struct tm_hosts *h, char *buf, size_t size);
void tm_hosts_free(struct tm_hosts *h);

/* Parse @path; TM_EXIT_POLICY if it is invalid, with the reason. */
int tm_policy_load(const char *path, struct tm_policy *p);
/* Load policy @id from @dir/@id.json; TM_EXIT_POLICY if there is none. */
int tm_policy_find(const char *dir, const char *id, struct tm_policy *p);
void tm_policy_free(struct tm_policy *p);
/*
 * Keep only the anchors of @p that are also in @host (the TTPs this host
 * trusts at all, from its configuration); TM_EXIT_POLICY if none is left.
 * A NULL @host leaves @p alone.
 */
int tm_policy_restrict(struct tm_policy *p, X509_STORE *host);
/* A policy id: 1-64 of A-Z a-z 0-9 . _ - (it names a file). */
int tm_policy_id_valid(const char *id);
/*
 * @info's baseline is one of @p's, then in @match; TM_EXIT_POLICY_BASELINE
 * if not.
 */
int tm_policy_check(const struct tm_policy *p,
		    const struct tm_token_info *info,
		    const struct tm_baseline **match);
/* A source certified as @host may send @p's VMs; TM_EXIT_PEER_NAME if not. */
int tm_policy_check_source(const struct tm_policy *p, const char *host);

#endif /* TRUSTMIG_POLICY_H */
