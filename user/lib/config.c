// SPDX-License-Identifier: GPL-2.0
/*
 * The host's configuration file: "key = value" lines.
 */
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/trustmig.h>

#include "config.h"
#include "token.h"
#include "util.h"
#include "wire.h"

#define TM_CONFIG_LINE_MAX	4096
#define TM_CONFIG_FILE_MAX	(64u << 10)

enum tm_conf_kind { TM_CONF_STRING, TM_CONF_PATH, TM_CONF_ADDR,
	TM_CONF_SECONDS, TM_CONF_PATHS };

struct tm_conf_key {
	const char *name;
	enum tm_conf_kind kind;
	size_t off;		/* of the value (PATHS: of the array) */
	size_t count;		/* PATHS: offset of the array's count */
	unsigned long max;	/* SECONDS: the largest value */
};

#define TM_KEY(n, k, f)	{ n, k, offsetof(struct tm_config, f), 0, 0 }
#define TM_LIST(n, cnt, arr)	{ n, TM_CONF_PATHS, \
				  offsetof(struct tm_config, arr), \
				  offsetof(struct tm_config, cnt), 0 }
#define TM_SECONDS(n, f, m)	{ n, TM_CONF_SECONDS, \
				  offsetof(struct tm_config, f), 0, m }

static const struct tm_conf_key tm_conf_keys[] = {
	TM_KEY("tcti", TM_CONF_STRING, tcti),
	TM_KEY("state", TM_CONF_PATH, state),
	TM_KEY("policy-dir", TM_CONF_PATH, policy_dir),
	TM_KEY("session-dir", TM_CONF_PATH, session_dir),
	TM_KEY("listen", TM_CONF_ADDR, listen),
	TM_KEY("ima-log", TM_CONF_PATH, ima_log),
	TM_SECONDS("timeout", timeout, 3600),
	TM_SECONDS("attach-timeout", attach_timeout, TRUSTMIG_SECONDS_MAX),
	TM_SECONDS("session-lifetime", lifetime, TRUSTMIG_SECONDS_MAX),
	TM_LIST("anchor", nanchors, anchor),
	TM_LIST("crl", ncrls, crl),
};

_Static_assert(ARRAY_SIZE(tm_conf_keys) == TM_CONFIG_KEYS,
	       "struct tm_config has a line for every key");

struct tm_conf_parser {
	const char *name;	/* file name in messages */
	const char *dir;	/* for relative paths */
	unsigned int line;
};

/* "FILE:LINE: message" of the line being parsed */
static __printf(2, 3) int tm_conf_error(const struct tm_conf_parser *p,
					 const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tm_fail(TM_EXIT_CONFIG, "%s:%u: %s", p->name, p->line, msg);
}

/* @value as it is stored: paths made absolute from the file's directory. */
static char *tm_conf_value(const struct tm_conf_parser *p,
			   const struct tm_conf_key *k, const char *value)
{
	char *s;

	if ((k->kind != TM_CONF_PATH && k->kind != TM_CONF_PATHS) ||
	    value[0] == '/')
		return strdup(value);
	if (asprintf(&s, "%s/%s", p->dir, value) < 0)
		return NULL;
	return s;
}

static const struct tm_conf_key *tm_conf_key(const char *name, size_t *i)
{
	for (*i = 0; *i < ARRAY_SIZE(tm_conf_keys); (*i)++)
		if (!strcmp(tm_conf_keys[*i].name, name))
			return &tm_conf_keys[*i];
	return NULL;
}

static int tm_conf_set(struct tm_conf_parser *p, struct tm_config *c,
		       const char *key, const char *value)
{
	const struct tm_conf_key *k;
	unsigned int *count = NULL, *line;
	char **slot;
	size_t i;

	k = tm_conf_key(key, &i);
	if (!k)
		return tm_conf_error(p, "unknown key \"%.64s\"", key);
	if (!*value)
		return tm_conf_error(p, "\"%s\" has no value", key);
	if (k->kind == TM_CONF_PATHS) {
		count = (unsigned int *)((char *)c + k->count);
		if (*count == TM_CONFIG_LIST_MAX)
			return tm_conf_error(p, "more than %d \"%s\" lines",
					     TM_CONFIG_LIST_MAX, key);
	}
	line = &c->line[i][count ? *count : 0];
	if (*line)
		return tm_conf_error(p, "\"%s\" is already set on line %u",
				     key, *line);
	*line = p->line;
	if (k->kind == TM_CONF_SECONDS) {
		if (tm_parse_ulong(value, 1, k->max,
				   (unsigned long *)((char *)c + k->off)))
			return tm_conf_error(p,
					     "\"%s\" is not a number of seconds from 1 to %lu",
					     key, k->max);
		return 0;
	}
	if (k->kind == TM_CONF_ADDR && tm_wire_addr_check(value, 1, key))
		return tm_conf_error(p, "%s", tm_last_error());
	slot = (char **)((char *)c + k->off) + (count ? *count : 0);
	*slot = tm_conf_value(p, k, value);
	if (!*slot)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	if (count)
		(*count)++;
	return 0;
}

static char *tm_trim(char *s)
{
	char *end = s + strlen(s);

	while (*s == ' ' || *s == '\t')
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* One line, NUL-terminated and without its newline. */
static int tm_conf_line(struct tm_conf_parser *p, struct tm_config *c,
			char *line)
{
	char *eq, *key, *s;

	/* tabs anywhere, a CR only as part of a CRLF line end */
	for (s = line; *s; s++)
		if (iscntrl((unsigned char)*s) && *s != '\t' &&
		    (*s != '\r' || s[1]))
			return tm_conf_error(p, "control character 0x%02x",
					     (unsigned char)*s);
	key = tm_trim(line);
	if (!*key || *key == '#')
		return 0;
	eq = strchr(key, '=');
	if (!eq)
		return tm_conf_error(p, "expected \"key = value\", got \"%.64s\"",
				     key);
	*eq = '\0';
	return tm_conf_set(p, c, tm_trim(key), tm_trim(eq + 1));
}

/* @len bytes of @text as the file @name in directory @dir */
static int tm_config_parse(const char *text, size_t len, const char *name,
			   const char *dir, struct tm_config *c)
{
	struct tm_conf_parser p = { .name = name, .dir = dir };
	char line[TM_CONFIG_LINE_MAX + 1];
	size_t start, end;
	int ret = 0;

	for (start = 0; !ret && start < len; start = end + 1) {
		p.line++;
		for (end = start; end < len && text[end] != '\n'; end++)
			if (!text[end])
				return tm_conf_error(&p, "NUL byte");
		if (end - start > TM_CONFIG_LINE_MAX)
			return tm_conf_error(&p, "line longer than %d bytes",
					     TM_CONFIG_LINE_MAX);
		memcpy(line, text + start, end - start);
		line[end - start] = '\0';
		ret = tm_conf_line(&p, c, line);
	}
	return ret;
}

int tm_config_load(const char *path, struct tm_config *c)
{
	unsigned char *text;
	char *copy;
	size_t len;
	int ret;

	memset(c, 0, sizeof(*c));
	if (!path)
		path = getenv(TM_CONFIG_ENV);
	if (!path || !*path) {
		path = TM_CONFIG_DEFAULT;
		if (access(path, F_OK) && errno == ENOENT)
			return 0;
	}
	ret = tm_read_file(path, &text, &len);
	if (ret)
		return tm_fail_prefix(ret == TM_EXIT_UNREADABLE ? ret :
				      TM_EXIT_CONFIG, "configuration");
	if (len > TM_CONFIG_FILE_MAX) {
		free(text);
		return tm_fail(TM_EXIT_CONFIG, "%s: larger than %u bytes", path,
			       TM_CONFIG_FILE_MAX);
	}
	c->file = strdup(path);
	copy = strdup(path);
	ret = c->file && copy ? tm_config_parse((char *)text, len, path,
						dirname(copy), c) :
				tm_fail(TM_EXIT_ERROR, "out of memory");
	free(copy);
	free(text);
	if (ret)
		tm_config_free(c);
	return ret;
}

unsigned int tm_config_line(const struct tm_config *c, const char *key,
			    unsigned int i)
{
	size_t k;

	return tm_conf_key(key, &k) && i < TM_CONFIG_LIST_MAX ?
	       c->line[k][i] : 0;
}

void tm_config_free(struct tm_config *c)
{
	unsigned int i;

	for (i = 0; i < c->nanchors; i++)
		free(c->anchor[i]);
	for (i = 0; i < c->ncrls; i++)
		free(c->crl[i]);
	free(c->file);
	free(c->tcti);
	free(c->state);
	free(c->policy_dir);
	free(c->session_dir);
	free(c->listen);
	free(c->ima_log);
	memset(c, 0, sizeof(*c));
}

const char *tm_setting(const char *flag, const char *env, const char *conf,
		       const char *dflt)
{
	const char *e = env ? getenv(env) : NULL;

	if (flag && *flag)
		return flag;
	if (e && *e)
		return e;
	return conf ? conf : dflt;
}

int tm_config_list_add(char **list, unsigned int *n, const char *what,
		       char *value)
{
	if (*n == TM_CONFIG_LIST_MAX)
		return tm_fail(TM_EXIT_USAGE, "more than %d %s", TM_CONFIG_LIST_MAX,
			       what);
	list[(*n)++] = value;
	return 0;
}

int tm_config_crls(const struct tm_config *c, char *const *flags,
		   unsigned int nflags, struct stack_st_X509_CRL **crls)
{
	char *const *paths = nflags ? flags : c->crl;
	unsigned int i, n = nflags ? nflags : c->ncrls;
	X509_CRL *crl;
	int ret = 0;

	*crls = NULL;
	if (!n)
		return tm_fail(TM_EXIT_USAGE,
			       "--crl is required (one per TTP), here or as \"crl = FILE\" in %s",
			       c->file ? c->file : TM_CONFIG_DEFAULT);
	*crls = sk_X509_CRL_new_null();
	if (!*crls)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	for (i = 0; !ret && i < n; i++) {
		ret = tm_crl_load(paths[i], &crl);
		if (!ret && !sk_X509_CRL_push(*crls, crl)) {
			X509_CRL_free(crl);
			ret = tm_fail(TM_EXIT_ERROR, "out of memory");
		}
	}
	if (ret) {
		sk_X509_CRL_pop_free(*crls, X509_CRL_free);
		*crls = NULL;
	}
	return ret;
}

int tm_config_anchors(const struct tm_config *c, X509_STORE **st)
{
	unsigned int i;
	int ret = 0;

	*st = NULL;
	if (!c->nanchors)
		return 0;
	*st = X509_STORE_new();
	if (!*st)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	for (i = 0; !ret && i < c->nanchors; i++)
		ret = tm_anchors_load(*st, c->anchor[i]);
	if (ret) {
		X509_STORE_free(*st);
		*st = NULL;
		ret = tm_fail_prefix(ret == TM_EXIT_UNREADABLE ? ret :
				     TM_EXIT_CONFIG, c->file);
	}
	return ret;
}
