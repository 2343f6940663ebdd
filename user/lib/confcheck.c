// SPDX-License-Identifier: GPL-2.0
/*
 * What the host's configuration names, checked for trustmig config
 * (config.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "host.h"
#include "policy.h"
#include "token.h"
#include "util.h"

/* Problems in the file's order, then those of settings it did not set. */
static bool tm_problem_before(unsigned int line, unsigned int other)
{
	return line && (!other || line < other);
}

static __printf(5, 6) void tm_problem(struct tm_config_report *r,
				      const char *key, unsigned int line,
				      bool warning, const char *fmt, ...)
{
	struct tm_config_problem *p;
	unsigned int at = r->n;
	char *msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	p = n < 0 ? NULL : realloc(r->p, (r->n + 1) * sizeof(*p));
	if (!p) {
		if (n >= 0)
			free(msg);
		r->oom = true;
		return;
	}
	r->p = p;
	while (at && tm_problem_before(line, p[at - 1].line))
		at--;
	memmove(p + at + 1, p + at, (r->n - at) * sizeof(*p));
	p[at] = (struct tm_config_problem) {
		.key = key, .line = line, .warning = warning, .msg = msg,
	};
	r->n++;
	r->errors += !warning;
}

/* @name on one line, "CN=...,O=..." */
static void tm_name(const X509_NAME *name, char *buf, int len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = -1;

	if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0)
		n = BIO_read(b, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/*
 * Every anchor file holds certificates, each a CA's, which go to @cas.
 * False if one does not: the CRLs' issuers are then unknown.
 */
static bool tm_check_anchors(const struct tm_config *c,
			     struct stack_st_X509 *cas,
			     struct tm_config_report *r)
{
	struct stack_st_X509_OBJECT *objs;	/* STACK_OF() */
	unsigned int i, line;
	bool all = true;
	X509_STORE *st;
	char name[256];
	int j, n;
	X509 *x;

	for (i = 0; i < c->nanchors; i++) {
		line = tm_config_line(c, "anchor", i);
		st = X509_STORE_new();
		if (!st) {
			r->oom = true;
			return false;
		}
		if (tm_anchors_load(st, c->anchor[i])) {
			tm_problem(r, "anchor", line, false, "%s",
				   tm_last_error());
			X509_STORE_free(st);
			all = false;
			continue;
		}
		objs = X509_STORE_get0_objects(st);
		for (j = 0, n = 0; j < sk_X509_OBJECT_num(objs); j++) {
			x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, j));
			if (!x)
				continue;
			n++;
			if (X509_check_ca(x)) {
				X509_up_ref(x);
				if (!sk_X509_push(cas, x)) {
					X509_free(x);
					r->oom = true;
				}
				continue;
			}
			tm_name(X509_get_subject_name(x), name, sizeof(name));
			tm_problem(r, "anchor", line, false,
				   "%s: \"%s\" is not a CA certificate (basicConstraints CA:TRUE)",
				   c->anchor[i], name);
			all = false;
		}
		if (!n) {
			tm_problem(r, "anchor", line, false,
				   "%s holds no certificate", c->anchor[i]);
			all = false;
		}
		X509_STORE_free(st);
	}
	return all;
}

/* The key of a CA of @cas of its issuer's name signed @crl. */
static bool tm_crl_signed(X509_CRL *crl, struct stack_st_X509 *cas)
{
	bool ok = false;
	X509 *x;
	int i;

	for (i = 0; !ok && i < sk_X509_num(cas); i++) {
		x = sk_X509_value(cas, i);
		ok = !X509_NAME_cmp(X509_CRL_get_issuer(crl),
				    X509_get_subject_name(x)) &&
		     X509_CRL_verify(crl, X509_get0_pubkey(x)) == 1;
	}
	/* not to be taken for the reason of a later failure */
	ERR_clear_error();
	return ok;
}

/*
 * Every CRL parses and, if the anchors are known (@cas_known), one of
 * them signed it. One past its nextUpdate is only a warning: the file
 * is right, the TTP has to issue the next CRL.
 */
static void tm_check_crls(const struct tm_config *c,
			  struct stack_st_X509 *cas, bool cas_known,
			  struct tm_config_report *r)
{
	const ASN1_TIME *next;
	unsigned int i, line;
	char name[256], when[32];
	X509_CRL *crl;

	for (i = 0; i < c->ncrls; i++) {
		line = tm_config_line(c, "crl", i);
		if (tm_crl_load(c->crl[i], &crl)) {
			tm_problem(r, "crl", line, false, "%s", tm_last_error());
			continue;
		}
		if (cas_known && c->nanchors && !tm_crl_signed(crl, cas)) {
			tm_name(X509_CRL_get_issuer(crl), name, sizeof(name));
			tm_problem(r, "crl", line, false,
				   "%s is signed by none of the anchors (its issuer: \"%s\")",
				   c->crl[i], name);
		}
		next = X509_CRL_get0_nextUpdate(crl);
		if (next && X509_cmp_current_time(next) < 0 &&
		    !tm_time_text(next, TM_TIME_ISO, when, sizeof(when))) {
			tm_problem(r, "crl", line, true,
				   "%s expired at its nextUpdate, %s: every token of its TTP is refused until the TTP issues a new CRL (trustmig-ttp crl)",
				   c->crl[i], when);
		}
		X509_CRL_free(crl);
	}
}

/* The line of setting @key if @value is the file's, else 0. */
static unsigned int tm_line_of(const struct tm_config *c, const char *key,
			       const char *value, const char *file_value)
{
	return value == file_value ? tm_config_line(c, key, 0) : 0;
}

/* @path is a directory; else an error. */
static bool tm_check_dir(struct tm_config_report *r, const char *key,
			 unsigned int line, const char *path)
{
	struct stat st;

	if (stat(path, &st)) {
		tm_problem(r, key, line, false, "%s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		tm_problem(r, key, line, false, "%s is not a directory", path);
		return false;
	}
	return true;
}

static void tm_check_state(const struct tm_config *c, const char *state,
			   struct tm_config_report *r)
{
	unsigned int line = tm_line_of(c, "state", state, c->state);
	char token[4096];

	if (!tm_check_dir(r, "state", line, state))
		return;
	if (tm_path(token, sizeof(token), state, "token.pem") ||
	    access(token, F_OK))
		tm_problem(r, "state", line, true,
			   "%s holds no token.pem: this host is not enrolled (trustmig enrol-install)",
			   state);
}

static int tm_is_policy(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 &&
	       !strcmp(d->d_name + n - 5, ".json");
}

/*
 * Every DIR/ID.json loads as policy ID and names an anchor this host
 * trusts (@trusted, NULL: any).
 */
static void tm_check_policies(const struct tm_config *c, const char *dir,
			      X509_STORE *trusted, struct tm_config_report *r)
{
	unsigned int line = tm_line_of(c, "policy-dir", dir, c->policy_dir);
	struct tm_policy pol;
	struct dirent **ent;
	int i, n;

	if (!tm_check_dir(r, "policy-dir", line, dir))
		return;
	n = scandir(dir, &ent, tm_is_policy, alphasort);
	if (n < 0) {
		tm_problem(r, "policy-dir", line, false, "%s: %s", dir,
			   strerror(errno));
		return;
	}
	if (!n)
		tm_problem(r, "policy-dir", line, true,
			   "%s holds no policy (ID.json): no VM can migrate to or from this host by policy id",
			   dir);
	for (i = 0; i < n; i++) {
		ent[i]->d_name[strlen(ent[i]->d_name) - 5] = '\0';
		if (!tm_policy_find(dir, ent[i]->d_name, &pol)) {
			if (tm_policy_restrict(&pol, trusted))
				tm_problem(r, "policy-dir", line, false, "%s",
					   tm_last_error());
			tm_policy_free(&pol);
		} else {
			tm_problem(r, "policy-dir", line, false, "%s",
				   tm_last_error());
		}
		free(ent[i]);
	}
	free(ent);
}

/*
 * trustmigd writes a session line there per handshake. Missing is only a
 * warning: /run is emptied at boot, and trustmigd.service creates the
 * default directory as it starts.
 */
static void tm_check_sessions(const struct tm_config *c, const char *dir,
			      struct tm_config_report *r)
{
	unsigned int line = tm_line_of(c, "session-dir", dir, c->session_dir);

	if (access(dir, F_OK) && errno == ENOENT)
		tm_problem(r, "session-dir", line, true,
			   "%s does not exist: trustmigd can hand no VMM its session until it does",
			   dir);
	else if (tm_check_dir(r, "session-dir", line, dir) &&
		 access(dir, W_OK))
		tm_problem(r, "session-dir", line, false, "%s: %s", dir,
			   strerror(errno));
}

/* The store of @cas, the TTPs this host trusts; NULL if it names none. */
static X509_STORE *tm_trusted(struct stack_st_X509 *cas, bool *oom)
{
	X509_STORE *st;
	int i;

	if (!sk_X509_num(cas))
		return NULL;
	st = X509_STORE_new();
	for (i = 0; st && i < sk_X509_num(cas); i++)
		if (!X509_STORE_add_cert(st, sk_X509_value(cas, i))) {
			X509_STORE_free(st);
			st = NULL;
		}
	if (!st)
		*oom = true;
	return st;
}

int tm_config_check(const struct tm_config *c, const char *state,
		    const char *policy_dir, const char *session_dir,
		    struct tm_config_report *r)
{
	struct stack_st_X509 *cas = sk_X509_new_null();
	X509_STORE *trusted = NULL;
	bool cas_known;

	memset(r, 0, sizeof(*r));
	if (!cas)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	cas_known = tm_check_anchors(c, cas, r);
	tm_check_crls(c, cas, cas_known, r);
	tm_check_state(c, state, r);
	/* with an anchor unknown, a policy naming it cannot be judged */
	if (cas_known)
		trusted = tm_trusted(cas, &r->oom);
	tm_check_policies(c, policy_dir, trusted, r);
	tm_check_sessions(c, session_dir, r);
	X509_STORE_free(trusted);
	sk_X509_pop_free(cas, X509_free);
	return r->oom ? tm_fail(TM_EXIT_ERROR, "out of memory") : 0;
}

void tm_config_report_free(struct tm_config_report *r)
{
	unsigned int i;

	for (i = 0; i < r->n; i++)
		free(r->p[i].msg);
	free(r->p);
	memset(r, 0, sizeof(*r));
}
