// SPDX-License-Identifier: GPL-2.0
/*
 * Baseline files, parsed with json-c (strict RFC 8259 mode).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>
#include <openssl/evp.h>

#include "baseline.h"
#include "ima.h"
#include "tpmsw.h"
#include "util.h"

#define TM_ID_MAX	64
#define TM_TEXT_MAX	4096

static int tm_bl_fail(const char *fmt, const char *what)
{
	return tm_fail(TM_EXIT_BASELINE, fmt, what);
}

static int tm_token_char(char c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr(extra, c);
}

/* A copy of string member @key of @obj matching the given constraints. */
static int tm_get_string(json_object *obj, const char *key, int optional,
			 const char *charset, size_t max, char **out)
{
	json_object *v;
	const char *s;
	size_t i, n;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v)) {
		if (optional)
			return 0;
		return tm_bl_fail("baseline lacks \"%s\"", key);
	}
	if (!json_object_is_type(v, json_type_string))
		return tm_bl_fail("baseline \"%s\" is not a string", key);
	s = json_object_get_string(v);
	n = json_object_get_string_len(v);
	if (!n || n > max || strlen(s) != n)
		return tm_bl_fail("baseline \"%s\" is empty or too long", key);
	for (i = 0; charset && i < n; i++)
		if (!tm_token_char(s[i], charset))
			return tm_bl_fail("baseline \"%s\" has a forbidden character",
					  key);
	*out = strdup(s);
	if (!*out)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	return 0;
}

int tm_json_check_keys(json_object *obj, const char *const *allowed,
		       const char *where, int code)
{
	size_t i;

	json_object_object_foreach(obj, key, val) {
		(void)val;
		for (i = 0; allowed[i]; i++)
			if (!strcmp(key, allowed[i]))
				break;
		if (!allowed[i])
			return tm_fail(code, "unknown key \"%.64s\" in %s", key,
				       where);
	}
	return 0;
}

static int tm_parse_pcrs(json_object *pcrs, struct tm_baseline *b)
{
	size_t dlen = tm_hash_size(b->bank);
	unsigned int i, j, idx;
	unsigned long v;
	const char *hex;

	if (!json_object_is_type(pcrs, json_type_object))
		return tm_bl_fail("baseline \"%s\" is not an object", "pcrs");
	json_object_object_foreach(pcrs, key, val) {
		if (b->npcrs == TM_PCR_MAX)
			return tm_bl_fail("baseline has too many %s", "pcrs");
		if (tm_parse_ulong(key, 0, TM_PCR_MAX - 1, &v) ||
		    (key[0] == '0' && key[1]))
			return tm_fail(TM_EXIT_BASELINE,
				       "PCR index \"%.16s\" is not in 0..23", key);
		if (!json_object_is_type(val, json_type_string))
			return tm_fail(TM_EXIT_BASELINE,
				       "PCR %lu value is not a hex string", v);
		if (v == TM_IMA_PCR)
			return tm_fail(TM_EXIT_BASELINE,
				       "PCR %d is IMA's: it changes with every file measured, in any order, so the handshake replays IMA's list instead (baseline \"ima\")",
				       TM_IMA_PCR);
		hex = json_object_get_string(val);
		/* keep pcr[] sorted: insertion into its place */
		idx = v;
		for (i = 0; i < b->npcrs && b->pcr[i] < idx; i++)
			;
		for (j = b->npcrs; j > i; j--) {
			b->pcr[j] = b->pcr[j - 1];
			b->value[j] = b->value[j - 1];
		}
		b->pcr[i] = idx;
		b->value[i].size = dlen;
		b->npcrs++;
		if (tm_unhex(hex, b->value[i].buffer, dlen))
			return tm_fail(TM_EXIT_BASELINE,
				       "PCR %u value is not %zu bytes of hex",
				       idx, dlen);
	}
	if (!b->npcrs)
		return tm_bl_fail("baseline has no %s", "pcrs");
	return 0;
}

static int tm_parse_controls(json_object *arr, struct tm_baseline *b)
{
	static const char *const keys[] = { "id", "statement", NULL };
	struct tm_control *c;
	json_object *o;
	size_t i, n;
	int ret;

	if (!json_object_is_type(arr, json_type_array))
		return tm_bl_fail("baseline \"%s\" is not an array", "controls");
	n = json_object_array_length(arr);
	if (!n || n > TM_CONTROLS_MAX)
		return tm_fail(TM_EXIT_BASELINE,
			       "baseline must name 1 to %d controls",
			       TM_CONTROLS_MAX);
	b->controls = calloc(n, sizeof(*b->controls));
	if (!b->controls)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(arr, i);
		c = &b->controls[i];
		b->ncontrols++;
		if (!json_object_is_type(o, json_type_object))
			return tm_bl_fail("baseline %s entry is not an object",
					  "controls");
		ret = tm_json_check_keys(o, keys, "a control",
					 TM_EXIT_BASELINE);
		if (!ret)
			ret = tm_get_string(o, "id", 0, "()._-", 32, &c->id);
		if (!ret)
			ret = tm_get_string(o, "statement", 1, NULL,
					    TM_TEXT_MAX, &c->statement);
		if (ret)
			return ret;
	}
	return 0;
}

static int tm_parse_ima_file(json_object *o, struct tm_ima_file *f)
{
	static const char *const keys[] = {
		"path", "sha256", "key_module", NULL
	};
	json_object *v;
	char *hex = NULL;
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return tm_bl_fail("baseline %s entry is not an object",
				  "\"ima\" \"files\"");
	ret = tm_json_check_keys(o, keys, "an \"ima\" file",
				 TM_EXIT_BASELINE);
	if (!ret)
		ret = tm_get_string(o, "path", 0, NULL, 4096, &f->path);
	if (!ret)
		ret = tm_get_string(o, "sha256", 0, "", 64, &hex);
	if (!ret && tm_unhex(hex, f->sha256, sizeof(f->sha256)))
		ret = tm_bl_fail("baseline \"ima\" file \"%s\" is not 32 bytes of hex",
				 "sha256");
	free(hex);
	if (ret || !json_object_object_get_ex(o, "key_module", &v))
		return ret;
	if (!json_object_is_type(v, json_type_boolean))
		return tm_bl_fail("baseline \"ima\" file \"%s\" is not true or false",
				  "key_module");
	f->key_module = json_object_get_boolean(v);
	return 0;
}

/*
 *   "ima": { "files": [ { "path": "/usr/lib/modules/.../trustmig.ko",
 *                         "sha256": "...", "key_module": true }, ... ] }
 */
static int tm_parse_ima(json_object *ima, struct tm_baseline *b)
{
	static const char *const keys[] = { "files", NULL };
	unsigned int i;
	json_object *arr;
	size_t n;
	int ret;

	if (!json_object_is_type(ima, json_type_object))
		return tm_bl_fail("baseline \"%s\" is not an object", "ima");
	ret = tm_json_check_keys(ima, keys, "baseline \"ima\"",
				 TM_EXIT_BASELINE);
	if (ret)
		return ret;
	if (!json_object_object_get_ex(ima, "files", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return tm_bl_fail("baseline \"ima\" lacks the array \"%s\"",
				  "files");
	n = json_object_array_length(arr);
	if (!n || n > TM_IMA_FILES_MAX)
		return tm_fail(TM_EXIT_BASELINE,
			       "baseline \"ima\" must list 1 to %d files",
			       TM_IMA_FILES_MAX);
	b->ima = calloc(n, sizeof(*b->ima));
	if (!b->ima)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	b->has_ima = 1;
	for (i = 0; i < n; i++) {
		b->nima++;
		ret = tm_parse_ima_file(json_object_array_get_idx(arr, i),
					&b->ima[i]);
		if (ret)
			return ret;
	}
	if (!tm_baseline_key_modules(b))
		return tm_bl_fail("baseline \"ima\" marks no file as %s (a trustmig.ko build)",
				  "\"key_module\"");
	return 0;
}

static int tm_parse_obj(json_object *root, struct tm_baseline *b)
{
	static const char *const keys[] = {
		"schema", "id", "version", "description", "pcr_bank", "pcrs",
		"controls", "ima", NULL
	};
	json_object *v;
	char *s = NULL;
	long long ver;
	int ret;

	if (!json_object_is_type(root, json_type_object))
		return tm_bl_fail("baseline is not a JSON %s", "object");
	ret = tm_json_check_keys(root, keys, "the baseline",
				 TM_EXIT_BASELINE);
	if (!ret)
		ret = tm_get_string(root, "schema", 0, "/-", TM_ID_MAX, &s);
	if (!ret && strcmp(s, TM_BASELINE_SCHEMA))
		ret = tm_bl_fail("baseline schema is not \"%s\"",
				 TM_BASELINE_SCHEMA);
	free(s);
	s = NULL;
	if (!ret)
		ret = tm_get_string(root, "id", 0, "._-", TM_ID_MAX, &b->id);
	if (!ret)
		ret = tm_get_string(root, "description", 1, NULL, TM_TEXT_MAX,
				    &b->description);
	if (ret)
		return ret;
	if (!json_object_object_get_ex(root, "version", &v) ||
	    !json_object_is_type(v, json_type_int))
		return tm_bl_fail("baseline \"%s\" is not an integer", "version");
	ver = json_object_get_int64(v);
	if (ver < 1 || ver > INT32_MAX)
		return tm_bl_fail("baseline \"%s\" is out of range", "version");
	b->version = ver;
	ret = tm_get_string(root, "pcr_bank", 0, "", 16, &s);
	if (!ret && tm_hash_from_name(s, &b->bank))
		ret = tm_bl_fail("baseline \"%s\" is not sha1, sha256, sha384 or sha512",
				 "pcr_bank");
	free(s);
	if (ret)
		return ret;
	if (!json_object_object_get_ex(root, "pcrs", &v))
		return tm_bl_fail("baseline lacks \"%s\"", "pcrs");
	ret = tm_parse_pcrs(v, b);
	if (ret)
		return ret;
	if (!json_object_object_get_ex(root, "controls", &v))
		return tm_bl_fail("baseline lacks \"%s\"", "controls");
	ret = tm_parse_controls(v, b);
	if (!ret && json_object_object_get_ex(root, "ima", &v))
		ret = tm_parse_ima(v, b);
	return ret;
}

static const char *tm_json_ws(const char *p, const char *end)
{
	while (p < end && strchr(" \t\r\n", *p))
		p++;
	return p;
}

/* Just past the string whose opening quote is at @p. */
static const char *tm_json_str_end(const char *p)
{
	for (p++; *p != '"'; p++)
		if (*p == '\\')
			p++;
	return p + 1;
}

struct tm_json_walk {
	const char *start, *end, *what;
	int code;
	json_tokener *tok;	/* decodes keys: "a" and "\u0061" are one */
};

/* Add the key at @key (a string ending before @end) to @seen, once. */
static int tm_json_key(struct tm_json_walk *w, json_object *seen,
		       const char *key, const char *end)
{
	char shown[TM_ID_MAX + 1];
	json_object *name;
	const char *s;
	int ret = 0;

	json_tokener_reset(w->tok);
	name = json_tokener_parse_ex(w->tok, key, end - key);
	if (!name)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	s = json_object_get_string(name);
	if (json_object_object_get_ex(seen, s, NULL)) {
		tm_printable(s, json_object_get_string_len(name), shown,
			     sizeof(shown), 0);
		ret = tm_fail(w->code,
			      "%s names the key \"%s\" twice in one object (again at byte %zu)",
			      w->what, shown, (size_t)(key - w->start));
	} else if (json_object_object_add(seen, s, NULL)) {
		ret = tm_fail(TM_EXIT_ERROR, "out of memory");
	}
	json_object_put(name);
	return ret;
}

/*
 * json-c keeps the last of two members of an object with the same name
 * and says nothing; such a file is ambiguous (which "pcrs" did its
 * author review?), so it is refused. Walks the value at *@p of text that
 * json-c has already accepted as strict JSON, so no syntax can be wrong
 * here, and json-c's depth limit bounds the recursion.
 */
static int tm_json_unique(struct tm_json_walk *w, const char **p)
{
	const char *q = tm_json_ws(*p, w->end), *key;
	json_object *seen = NULL;
	char open = *q;
	int ret = 0;

	if (open == '"') {
		*p = tm_json_str_end(q);
		return 0;
	}
	if (open != '{' && open != '[') {
		while (q < w->end && !strchr(",]} \t\r\n", *q))
			q++;
		*p = q;
		return 0;
	}
	if (open == '{') {
		seen = json_object_new_object();
		if (!seen)
			return tm_fail(TM_EXIT_ERROR, "out of memory");
	}
	for (q = tm_json_ws(q + 1, w->end); !ret && *q != '}' && *q != ']';) {
		if (open == '{') {
			key = q;
			q = tm_json_str_end(q);
			ret = tm_json_key(w, seen, key, q);
			q = tm_json_ws(q, w->end) + 1;	/* past the ':' */
		}
		if (!ret)
			ret = tm_json_unique(w, &q);
		q = tm_json_ws(q, w->end);
		if (*q == ',')
			q = tm_json_ws(q + 1, w->end);
	}
	json_object_put(seen);
	*p = q + 1;
	return ret;
}

int tm_json_parse(const unsigned char *buf, size_t len, const char *what,
		  int code, json_object **root)
{
	struct tm_json_walk w = {
		.start = (const char *)buf, .end = (const char *)buf + len,
		.what = what, .code = code,
	};
	enum json_tokener_error jerr;
	const char *p = w.start;
	size_t n;
	int ret;

	w.tok = json_tokener_new();
	if (!w.tok)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	json_tokener_set_flags(w.tok, JSON_TOKENER_STRICT);
	*root = json_tokener_parse_ex(w.tok, w.start, len);
	jerr = json_tokener_get_error(w.tok);
	n = json_tokener_get_parse_end(w.tok);
	if (!*root || jerr != json_tokener_success)
		/* json-c's "continue": it wanted more text */
		ret = tm_fail(code, "%s is not valid JSON (%s at byte %zu)",
			      what, jerr == json_tokener_continue ?
			      "unexpected end of text" :
			      json_tokener_error_desc(jerr), n);
	else
		ret = tm_json_unique(&w, &p);
	json_tokener_free(w.tok);
	if (ret) {
		json_object_put(*root);
		*root = NULL;
	}
	return ret;
}

int tm_baseline_parse(const unsigned char *buf, size_t len,
		      struct tm_baseline *b)
{
	json_object *root;
	int ret;

	memset(b, 0, sizeof(*b));
	ret = tm_json_parse(buf, len, "baseline", TM_EXIT_BASELINE, &root);
	if (ret)
		return ret;
	ret = tm_parse_obj(root, b);
	json_object_put(root);
	if (!ret && !EVP_Q_digest(NULL, "SHA256", NULL, buf, len,
				  b->file_sha256, NULL))
		ret = tm_fail(TM_EXIT_ERROR, "SHA-256 failed");
	if (!ret)
		ret = tm_baseline_derive(b);
	if (ret)
		tm_baseline_free(b);
	return ret;
}

int tm_baseline_load(const char *path, struct tm_baseline *b)
{
	unsigned char *buf;
	size_t len;
	int ret;

	ret = tm_read_file(path, &buf, &len);
	if (ret)
		return ret;
	ret = tm_baseline_parse(buf, len, b);
	free(buf);
	return ret;
}

void tm_baseline_free(struct tm_baseline *b)
{
	unsigned int i;

	for (i = 0; i < b->ncontrols; i++) {
		free(b->controls[i].id);
		free(b->controls[i].statement);
	}
	free(b->controls);
	for (i = 0; i < b->nima; i++)
		free(b->ima[i].path);
	free(b->ima);
	free(b->id);
	free(b->description);
	memset(b, 0, sizeof(*b));
}

void tm_pcr_selection(TPMI_ALG_HASH bank, const unsigned int *pcr,
		      unsigned int n, TPML_PCR_SELECTION *sel)
{
	unsigned int i;

	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = bank;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (i = 0; i < n; i++)
		tm_pcr_select(sel, pcr[i]);
}

void tm_pcr_select(TPML_PCR_SELECTION *sel, unsigned int pcr)
{
	sel->pcrSelections[0].pcrSelect[pcr / 8] |= 1 << (pcr % 8);
}

const struct tm_ima_file *tm_baseline_ima_file(const struct tm_baseline *b,
					       const unsigned char sha256[32])
{
	unsigned int i;

	for (i = 0; i < b->nima; i++)
		if (!memcmp(b->ima[i].sha256, sha256, 32))
			return &b->ima[i];
	return NULL;
}

unsigned int tm_baseline_key_modules(const struct tm_baseline *b)
{
	unsigned int i, n = 0;

	for (i = 0; i < b->nima; i++)
		n += b->ima[i].key_module;
	return n;
}

int tm_baseline_quote(const struct tm_baseline *b,
		      const TPM2B_DIGEST *ima_pcr, TPML_PCR_SELECTION *sel,
		      TPM2B_DIGEST *digest)
{
	TPM2B_DIGEST value[TM_PCR_MAX];
	unsigned int i, n = 0;

	/* the values in ascending PCR order, PCR 10's in its place */
	for (i = 0; i <= b->npcrs; i++) {
		if (ima_pcr && (i == b->npcrs || b->pcr[i] > TM_IMA_PCR)) {
			value[n++] = *ima_pcr;
			ima_pcr = NULL;
		}
		if (i < b->npcrs)
			value[n++] = b->value[i];
	}
	*sel = b->sel;
	tm_pcr_select(sel, TM_IMA_PCR);
	return tm_pcr_digest(value, n, digest);
}

int tm_baseline_derive(struct tm_baseline *b)
{
	int ret;

	tm_pcr_selection(b->bank, b->pcr, b->npcrs, &b->sel);
	ret = tm_pcr_digest(b->value, b->npcrs, &b->pcr_digest);
	if (!ret)
		ret = tm_policy_pcr(&b->sel, &b->pcr_digest, &b->policy);
	return ret;
}

static int tm_json_add_str(json_object *o, const char *key, const char *s)
{
	json_object *v;

	if (!s)
		return 0;
	v = json_object_new_string(s);
	if (!v || json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static int tm_json_add(json_object *o, const char *key, json_object *v)
{
	if (!v || json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static json_object *tm_ima_json(const struct tm_baseline *b)
{
	json_object *ima = json_object_new_object();
	json_object *files = json_object_new_array();
	json_object *f;
	unsigned int i;
	char *hex;
	int err;

	err = !ima || !files;
	for (i = 0; !err && i < b->nima; i++) {
		f = json_object_new_object();
		hex = tm_hex(b->ima[i].sha256, 32);
		err = !f || !hex || tm_json_add_str(f, "path", b->ima[i].path) ||
		      tm_json_add_str(f, "sha256", hex) ||
		      (b->ima[i].key_module &&
		       tm_json_add(f, "key_module",
				   json_object_new_boolean(1)));
		OPENSSL_free(hex);
		err = err || json_object_array_add(files, f);
		if (err)
			json_object_put(f);
	}
	err = err || tm_json_add(ima, "files", json_object_get(files));
	json_object_put(files);
	if (err) {
		json_object_put(ima);
		return NULL;
	}
	return ima;
}

char *tm_baseline_to_json(const struct tm_baseline *b)
{
	const int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			  JSON_C_TO_STRING_NOSLASHESCAPE;
	json_object *root, *pcrs, *controls, *c;
	char key[8], *hex, *out = NULL;
	const char *text;
	unsigned int i;
	int err;

	root = json_object_new_object();
	pcrs = json_object_new_object();
	controls = json_object_new_array();
	err = !root || !pcrs || !controls;
	err = err || tm_json_add_str(root, "schema", TM_BASELINE_SCHEMA);
	err = err || tm_json_add_str(root, "id", b->id);
	err = err || tm_json_add(root, "version",
				 json_object_new_int64(b->version));
	err = err || tm_json_add_str(root, "description", b->description);
	err = err || tm_json_add_str(root, "pcr_bank", tm_hash_name(b->bank));
	for (i = 0; !err && i < b->npcrs; i++) {
		snprintf(key, sizeof(key), "%u", b->pcr[i]);
		hex = tm_hex(b->value[i].buffer, b->value[i].size);
		err = !hex || tm_json_add_str(pcrs, key, hex);
		OPENSSL_free(hex);
	}
	err = err || tm_json_add(root, "pcrs", json_object_get(pcrs));
	for (i = 0; !err && i < b->ncontrols; i++) {
		c = json_object_new_object();
		err = !c || tm_json_add_str(c, "id", b->controls[i].id) ||
		      tm_json_add_str(c, "statement", b->controls[i].statement);
		err = err || json_object_array_add(controls, c);
		if (err)
			json_object_put(c);
	}
	err = err || tm_json_add(root, "controls", json_object_get(controls));
	err = err || (b->has_ima && tm_json_add(root, "ima", tm_ima_json(b)));
	text = err ? NULL : json_object_to_json_string_ext(root, flags);
	if (!text || asprintf(&out, "%s\n", text) < 0)
		out = NULL;
	json_object_put(pcrs);
	json_object_put(controls);
	json_object_put(root);
	if (!out)
		tm_fail(TM_EXIT_ERROR, "cannot build baseline JSON");
	return out;
}
