// SPDX-License-Identifier: GPL-2.0
/*
 * Migration policy files (json-c, strict).
 */
#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json.h>

#include "policy.h"
#include "token.h"
#include "util.h"

int tm_policy_id_valid(const char *id)
{
	size_t i, n = strlen(id);

	if (!n || n > TM_POLICY_ID_MAX || id[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && !strchr("._-", id[i]))
			return 0;
	return 1;
}

int tm_hosts_add(struct tm_hosts *h, const char *name, size_t len, int code,
		 const char *what)
{
	int ret;

	if (h->n == TM_POLICY_MAX)
		return tm_fail(code, "%s: more than %d host names", what,
			       TM_POLICY_MAX);
	ret = tm_host_name_check(name, len, code, what);
	if (ret)
		return ret;
	h->name[h->n] = strndup(name, len);
	if (!h->name[h->n])
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	h->n++;
	return 0;
}

int tm_hosts_has(const struct tm_hosts *h, const char *name)
{
	unsigned int i;

	for (i = 0; i < h->n; i++)
		if (!strcasecmp(h->name[i], name))
			return 1;
	return 0;
}

void tm_hosts_print(const struct tm_hosts *h, char *buf, size_t size)
{
	size_t used = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < h->n && used + 3 < size; i++) {
		if (i) {
			strcpy(buf + used, ", ");
			used += 2;
		}
		tm_printable(h->name[i], strlen(h->name[i]), buf + used,
			     size - used, 0);
		used += strlen(buf + used);
	}
}

void tm_hosts_free(struct tm_hosts *h)
{
	unsigned int i;

	for (i = 0; i < h->n; i++)
		free(h->name[i]);
	memset(h, 0, sizeof(*h));
}

/* The string array @key of @root: 1..TM_POLICY_MAX strings (@what). */
static int tm_policy_list(json_object *root, const char *key,
			  const char *what, json_object **arr, size_t *n)
{
	size_t i;

	if (!json_object_object_get_ex(root, key, arr) ||
	    !json_object_is_type(*arr, json_type_array))
		return tm_fail(TM_EXIT_POLICY, "policy \"%s\" is not an array",
			       key);
	*n = json_object_array_length(*arr);
	if (!*n || *n > TM_POLICY_MAX)
		return tm_fail(TM_EXIT_POLICY,
			       "policy \"%s\" must list 1 to %d %s", key,
			       TM_POLICY_MAX, what);
	for (i = 0; i < *n; i++)
		if (!json_object_is_type(json_object_array_get_idx(*arr, i),
					 json_type_string))
			return tm_fail(TM_EXIT_POLICY,
				       "policy \"%s\" holds a non-string", key);
	return 0;
}

/* @dir/@name unless @name is absolute. */
static int tm_policy_path(char *buf, size_t size, const char *dir,
			  const char *name)
{
	int n;

	n = name[0] == '/' ? snprintf(buf, size, "%s", name) :
			     snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size)
		return tm_fail(TM_EXIT_POLICY, "path too long: %.64s", name);
	return 0;
}

static int tm_policy_files(json_object *root, const char *dir,
			   struct tm_policy *p)
{
	json_object *arr;
	char path[4096];
	size_t i, n;
	int ret;

	ret = tm_policy_list(root, "anchors", "files", &arr, &n);
	for (i = 0; !ret && i < n; i++) {
		ret = tm_policy_path(path, sizeof(path), dir,
				     json_object_get_string(json_object_array_get_idx(arr, i)));
		if (!ret)
			ret = tm_anchors_load(p->anchors, path);
	}
	if (!ret)
		ret = tm_policy_list(root, "baselines", "files", &arr, &n);
	for (i = 0; !ret && i < n; i++) {
		ret = tm_policy_path(path, sizeof(path), dir,
				     json_object_get_string(json_object_array_get_idx(arr, i)));
		if (!ret)
			ret = tm_baseline_load(path, &p->baseline[i]);
		if (!ret)
			p->nbaselines++;
	}
	return ret;
}

/* Optional @key of @root: "any", or 1..TM_POLICY_MAX host names. */
static int tm_policy_hosts(json_object *root, const char *key,
			   struct tm_hosts *h)
{
	json_object *arr, *v;
	char what[32];
	size_t i, n;
	int ret;

	if (!json_object_object_get_ex(root, key, &arr))
		return 0;
	if (json_object_is_type(arr, json_type_string)) {
		h->any = !strcmp(json_object_get_string(arr), "any");
		return h->any ? 0 :
		       tm_fail(TM_EXIT_POLICY,
			       "policy \"%s\" is neither \"any\" nor an array of host names",
			       key);
	}
	ret = tm_policy_list(root, key, "host names", &arr, &n);
	snprintf(what, sizeof(what), "policy \"%s\"", key);
	for (i = 0; !ret && i < n; i++) {
		v = json_object_array_get_idx(arr, i);
		ret = tm_hosts_add(h, json_object_get_string(v),
				   json_object_get_string_len(v),
				   TM_EXIT_POLICY, what);
	}
	return ret;
}

static int tm_policy_parse(json_object *root, const char *dir,
			   struct tm_policy *p)
{
	static const char *const keys[] = {
		"schema", "id", "description", "anchors", "baselines",
		"destinations", "sources", NULL
	};
	json_object *v;
	int ret;

	if (!json_object_is_type(root, json_type_object))
		return tm_fail(TM_EXIT_POLICY, "policy is not a JSON object");
	ret = tm_json_check_keys(root, keys, "the policy", TM_EXIT_POLICY);
	if (ret)
		return ret;
	if (!json_object_object_get_ex(root, "schema", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), TM_POLICY_SCHEMA))
		return tm_fail(TM_EXIT_POLICY, "policy schema is not \"%s\"",
			       TM_POLICY_SCHEMA);
	if (json_object_object_get_ex(root, "description", &v) &&
	    !json_object_is_type(v, json_type_string))
		return tm_fail(TM_EXIT_POLICY,
			       "policy \"description\" is not a string");
	if (!json_object_object_get_ex(root, "id", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !tm_policy_id_valid(json_object_get_string(v)))
		return tm_fail(TM_EXIT_POLICY,
			       "policy \"id\" is not 1-64 of A-Z a-z 0-9 . _ -");
	p->id = strdup(json_object_get_string(v));
	if (!p->id)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	ret = tm_policy_hosts(root, "destinations", &p->destinations);
	if (!ret)
		ret = tm_policy_hosts(root, "sources", &p->sources);
	return ret ? ret : tm_policy_files(root, dir, p);
}

int tm_policy_load(const char *path, struct tm_policy *p)
{
	json_object *root = NULL;
	unsigned char *buf;
	char *copy;
	size_t len;
	int ret;

	memset(p, 0, sizeof(*p));
	p->anchors = X509_STORE_new();
	copy = strdup(path);
	if (!p->anchors || !copy) {
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
		goto out;
	}
	ret = tm_read_file(path, &buf, &len);
	if (ret)
		goto out;
	ret = tm_json_parse(buf, len, "policy", TM_EXIT_POLICY, &root);
	free(buf);
	if (!ret)
		ret = tm_policy_parse(root, dirname(copy), p);
	json_object_put(root);
	/* a bad baseline or anchor file is a bad policy */
	if (ret && ret != TM_EXIT_ERROR && ret != TM_EXIT_UNREADABLE)
		ret = tm_fail_prefix(TM_EXIT_POLICY, path);
out:
	free(copy);
	if (ret)
		tm_policy_free(p);
	return ret;
}

int tm_policy_find(const char *dir, const char *id, struct tm_policy *p)
{
	char path[4096];
	int ret;

	memset(p, 0, sizeof(*p));
	if (!tm_policy_id_valid(id))
		return tm_fail(TM_EXIT_POLICY,
			       "invalid policy id \"%s\" (1-%d letters, digits, '.', '_', '-'; not '.' first)",
			       id, TM_POLICY_ID_MAX);
	ret = tm_policy_path(path, sizeof(path), dir, id);
	if (!ret && strlen(path) + 6 > sizeof(path))
		ret = tm_fail(TM_EXIT_POLICY, "path too long");
	if (ret)
		return ret;
	strcat(path, ".json");
	ret = tm_policy_load(path, p);
	if (!ret && strcmp(p->id, id)) {
		ret = tm_fail(TM_EXIT_POLICY, "%s holds policy \"%s\"", path,
			      p->id);
		tm_policy_free(p);
	}
	return ret;
}

void tm_policy_free(struct tm_policy *p)
{
	unsigned int i;

	for (i = 0; i < p->nbaselines; i++)
		tm_baseline_free(&p->baseline[i]);
	X509_STORE_free(p->anchors);
	tm_hosts_free(&p->destinations);
	tm_hosts_free(&p->sources);
	free(p->id);
	memset(p, 0, sizeof(*p));
}

int tm_policy_restrict(struct tm_policy *p, X509_STORE *host)
{
	struct stack_st_X509_OBJECT *have, *trusted;	/* STACK_OF() */
	X509_STORE *keep;
	X509_OBJECT *o;
	int i, n = 0;

	if (!host)
		return 0;
	keep = X509_STORE_new();
	if (!keep)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	have = X509_STORE_get0_objects(p->anchors);
	trusted = X509_STORE_get0_objects(host);
	for (i = 0; i < sk_X509_OBJECT_num(have); i++) {
		o = sk_X509_OBJECT_value(have, i);
		if (X509_OBJECT_get_type(o) != X509_LU_X509 ||
		    !X509_OBJECT_retrieve_match(trusted, o))
			continue;
		if (!X509_STORE_add_cert(keep, X509_OBJECT_get0_X509(o))) {
			X509_STORE_free(keep);
			return tm_fail_ssl(TM_EXIT_ERROR, "cannot copy an anchor");
		}
		n++;
	}
	X509_STORE_free(p->anchors);
	p->anchors = keep;
	if (!n)
		return tm_fail(TM_EXIT_POLICY,
			       "policy %s names no TTP anchor this host trusts (\"anchor\" in its configuration)",
			       p->id);
	return 0;
}

int tm_policy_check(const struct tm_policy *p,
		    const struct tm_token_info *info,
		    const struct tm_baseline **match)
{
	unsigned int i;

	for (i = 0; i < p->nbaselines; i++) {
		if (!tm_token_check_baseline(info, &p->baseline[i])) {
			*match = &p->baseline[i];
			return 0;
		}
	}
	return tm_fail(TM_EXIT_POLICY_BASELINE,
		       "%s is certified for baseline %s version %ld, which policy %s does not accept",
		       info->host, info->baseline_id, info->baseline_version,
		       p->id);
}

int tm_policy_check_source(const struct tm_policy *p, const char *host)
{
	char names[512];

	if (!p->sources.n || tm_hosts_has(&p->sources, host))
		return 0;
	tm_hosts_print(&p->sources, names, sizeof(names));
	return tm_fail(TM_EXIT_PEER_NAME,
		       "the source %s is not among policy %s's sources (%s)",
		       host, p->id, names);
}
