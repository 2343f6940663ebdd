// SPDX-License-Identifier: GPL-2.0
/*
 * Text and JSON views of trustmig.ko's sessions and events.
 */
#include <stdbool.h>
#include <string.h>

#include "cli.h"
#include "printable.h"
#include "show.h"
#include "util.h"

#define TM_STR_(x)	#x
#define TM_STR(x)	TM_STR_(x)

struct tm_reason {
	const char *name;
	const char *text;
};

/* enum trustmig_reason, in the words of uapi/linux/trustmig.h */
static const struct tm_reason tm_reasons[] = {
	[TRUSTMIG_REASON_NONE] = { "none", "no failure" },
	[TRUSTMIG_REASON_BAD_HEADER] = { "bad-header",
		"record of another type or length" },
	[TRUSTMIG_REASON_LANE] = { "lane",
		"record of a lane the stream cannot have" },
	[TRUSTMIG_REASON_SEQUENCE] = { "sequence",
		"replayed, reordered or dropped record" },
	[TRUSTMIG_REASON_ROUND] = { "round", "round number out of order" },
	[TRUSTMIG_REASON_GFN] = { "gfn", "page outside every memory slot" },
	[TRUSTMIG_REASON_AUTH] = { "auth",
		"record failed authentication" },
	[TRUSTMIG_REASON_COMMIT] = { "commit",
		"commit disagrees with the stream" },
	[TRUSTMIG_REASON_TRUNCATED] = { "truncated",
		"stream ended before its commit" },
	[TRUSTMIG_REASON_TICKET] = { "ticket", "wrong or reused ticket" },
	[TRUSTMIG_REASON_EXHAUSTED] = { "exhausted",
		"sequence or round numbers used up" },
	[TRUSTMIG_REASON_DELETED] = { "deleted", "deleted by the operator" },
	[TRUSTMIG_REASON_DETACHED] = { "detached",
		"VMM let go of the VM before the commit" },
	[TRUSTMIG_REASON_SLOT] = { "slot",
		"a memory slot vanished or changed" },
	[TRUSTMIG_REASON_CRYPTO] = { "crypto", "the cipher failed" },
	[TRUSTMIG_REASON_FAULT] = { "fault",
		"guest memory or a VMM buffer unreadable or unwritable" },
	[TRUSTMIG_REASON_ATTACH_TIMEOUT] = { "attach-timeout",
		"no VMM attached in time" },
	[TRUSTMIG_REASON_EXPIRED] = { "expired",
		"lifetime over before the commit" },
	[TRUSTMIG_REASON_VERSION] = { "version",
		"record of a wire format version other than v"
		TM_STR(TRUSTMIG_WIRE_VERSION) },
};

static const struct tm_reason *tm_reason(unsigned int reason)
{
	static const struct tm_reason unknown = { "?", "unknown reason" };

	if (reason < ARRAY_SIZE(tm_reasons) && tm_reasons[reason].name)
		return &tm_reasons[reason];
	return &unknown;
}

const char *tm_reason_name(unsigned int reason)
{
	return tm_reason(reason)->name;
}

/* @names[@v], or "?" for a value this build does not know. */
static const char *tm_name(const char *const *names, size_t n, unsigned int v)
{
	return v < n && names[v] ? names[v] : "?";
}

static const char *tm_role(unsigned int v)
{
	static const char *const names[] = {
		[TRUSTMIG_ROLE_SOURCE] = "source",
		[TRUSTMIG_ROLE_DEST] = "dest",
	};

	return tm_name(names, ARRAY_SIZE(names), v);
}

static const char *tm_cipher(unsigned int v)
{
	static const char *const names[] = {
		[TRUSTMIG_CIPHER_AES256GCM] = "aes-256-gcm",
		[TRUSTMIG_CIPHER_CHACHA20POLY1305] = "chacha20-poly1305",
	};

	return tm_name(names, ARRAY_SIZE(names), v);
}

static const char *tm_state(unsigned int v)
{
	static const char *const names[] = {
		[TRUSTMIG_STATE_NEW] = "new",
		[TRUSTMIG_STATE_KEYED] = "keyed",
		[TRUSTMIG_STATE_ACTIVE] = "active",
		[TRUSTMIG_STATE_COMPLETE] = "complete",
		[TRUSTMIG_STATE_FAILED] = "failed",
	};

	return tm_name(names, ARRAY_SIZE(names), v);
}

/* "ETIMEDOUT", or the number if the C library has no name for it. */
static const char *tm_errno_name(unsigned int err, char *buf, size_t len)
{
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, len, "errno %u", err);
	return buf;
}

/* The labels came from peers: printed sanitised, "-" if absent. */
struct tm_labels {
	char peer[TRUSTMIG_LABEL_LEN], addr[TRUSTMIG_LABEL_LEN];
	char policy[TRUSTMIG_LABEL_LEN];
};

static void tm_label_clean(const char *in, char *out)
{
	if (*in)
		tm_printable(in, strlen(in), out, TRUSTMIG_LABEL_LEN, 0);
	else
		strcpy(out, "-");
}

static void tm_labels(const struct tm_session_info *s, struct tm_labels *l)
{
	tm_label_clean(s->peer_name, l->peer);
	tm_label_clean(s->peer_addr, l->addr);
	tm_label_clean(s->policy_id, l->policy);
}

static bool tm_failed(const struct tm_session_info *s)
{
	return s->state == TRUSTMIG_STATE_FAILED;
}

void tm_show_session_line(FILE *f, const struct tm_session_info *s)
{
	struct tm_labels l;
	char num[32];

	tm_labels(s, &l);
	fprintf(f, "session %u role=%s peer=%s addr=%s policy=%s cipher=%s state=%s",
		s->id, tm_role(s->role), l.peer, l.addr, l.policy,
		tm_cipher(s->cipher), tm_state(s->state));
	if (tm_failed(s))
		fprintf(f, " reason=%s error=%s",
			tm_reason_name(s->reason),
			tm_errno_name(s->err, num, sizeof(num)));
	fprintf(f, " keyed=%u attached=%u", s->keyed, s->attached);
	if (s->has_stream)
		fprintf(f, " stream=%08x", s->stream);
	fprintf(f,
		" age=%us attach-timeout=%us lifetime=%us records=%llu bytes=%llu pages=%llu zero=%llu rounds=%u failures=%u\n",
		s->age, s->attach_timeout, s->lifetime,
		(unsigned long long)s->records, (unsigned long long)s->bytes,
		(unsigned long long)s->pages,
		(unsigned long long)s->zero_pages, s->rounds, s->failures);
}

void tm_show_session_block(FILE *f, const struct tm_session_info *s)
{
	bool source = s->role == TRUSTMIG_ROLE_SOURCE;
	struct tm_labels l;
	char num[32];

	tm_labels(s, &l);
	fprintf(f, "session %u: %s %s %s (%s)\n", s->id, tm_role(s->role),
		source ? "to" : "from", l.peer, l.addr);
	fprintf(f, "  policy:   %s\n", l.policy);
	fprintf(f, "  cipher:   %s", tm_cipher(s->cipher));
	if (s->has_stream)
		fprintf(f, ", stream %08x", s->stream);
	fprintf(f, "\n  state:    %s", tm_state(s->state));
	if (tm_failed(s))
		fprintf(f, ": %s, %s (%s: %s)", tm_reason_name(s->reason),
			tm_reason(s->reason)->text,
			tm_errno_name(s->err, num, sizeof(num)),
			strerror(s->err));
	fprintf(f, "\n  vm:       %s\n",
		s->attached ? "attached" : "not attached");
	fprintf(f, "  age:      %u s (a VMM must attach within %u s; lifetime %u s)\n",
		s->age, s->attach_timeout, s->lifetime);
	fprintf(f, "  transfer: %llu records, %llu bytes, %llu pages (%llu zero), %u rounds %s\n",
		(unsigned long long)s->records, (unsigned long long)s->bytes,
		(unsigned long long)s->pages,
		(unsigned long long)s->zero_pages, s->rounds,
		source ? "sealed" : "opened");
	fprintf(f, "  failures: %u\n", s->failures);
}

static void tm_json_add(struct json_object *o, const char *key,
			struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static void tm_json_label(struct json_object *o, const char *key,
			  const char *label)
{
	char clean[TRUSTMIG_LABEL_LEN];

	if (!*label) {
		tm_json_add(o, key, NULL);
		return;
	}
	tm_printable(label, strlen(label), clean, sizeof(clean), 0);
	tm_json_add(o, key, json_object_new_string(clean));
}

/* The failure as JSON: reason and errno by name, and in words. */
static void tm_json_failure(struct json_object *o, unsigned int reason,
			    unsigned int err)
{
	char num[32];

	tm_json_add(o, "reason", json_object_new_string(tm_reason_name(reason)));
	tm_json_add(o, "reason_text",
		    json_object_new_string(tm_reason(reason)->text));
	tm_json_add(o, "errno",
		    json_object_new_string(tm_errno_name(err, num,
							 sizeof(num))));
	tm_json_add(o, "error", json_object_new_string(strerror(err)));
}

struct json_object *tm_show_session_json(const struct tm_session_info *s)
{
	struct json_object *o = json_object_new_object();
	char stream[16];

	if (!o)
		return NULL;
	tm_json_add(o, "id", json_object_new_int64(s->id));
	tm_json_add(o, "role", json_object_new_string(tm_role(s->role)));
	tm_json_label(o, "peer", s->peer_name);
	tm_json_label(o, "address", s->peer_addr);
	tm_json_label(o, "policy", s->policy_id);
	tm_json_add(o, "cipher", json_object_new_string(tm_cipher(s->cipher)));
	tm_json_add(o, "state", json_object_new_string(tm_state(s->state)));
	if (tm_failed(s))
		tm_json_failure(o, s->reason, s->err);
	tm_json_add(o, "keyed", json_object_new_boolean(s->keyed));
	tm_json_add(o, "attached", json_object_new_boolean(s->attached));
	snprintf(stream, sizeof(stream), "%08x", s->stream);
	tm_json_add(o, "stream",
		    s->has_stream ? json_object_new_string(stream) : NULL);
	tm_json_add(o, "age_s", json_object_new_int64(s->age));
	tm_json_add(o, "attach_timeout_s",
		    json_object_new_int64(s->attach_timeout));
	tm_json_add(o, "lifetime_s", json_object_new_int64(s->lifetime));
	tm_json_add(o, "records", json_object_new_uint64(s->records));
	tm_json_add(o, "bytes", json_object_new_uint64(s->bytes));
	tm_json_add(o, "pages", json_object_new_uint64(s->pages));
	tm_json_add(o, "zero_pages", json_object_new_uint64(s->zero_pages));
	tm_json_add(o, "rounds", json_object_new_int64(s->rounds));
	tm_json_add(o, "failures", json_object_new_int64(s->failures));
	return o;
}

void tm_show_event_line(FILE *f, const struct tm_session_event *ev)
{
	char num[32];

	if (ev->cmd == TRUSTMIG_CMD_EVENT_FAILED)
		fprintf(f, "failed session %u reason=%s error=%s at-record=%llu: %s (%s)\n",
			ev->id, tm_reason_name(ev->reason),
			tm_errno_name(ev->err, num, sizeof(num)),
			(unsigned long long)ev->seq, tm_reason(ev->reason)->text,
			strerror(ev->err));
	else
		fprintf(f, "complete session %u records=%llu bytes=%llu pages=%llu\n",
			ev->id, (unsigned long long)ev->records,
			(unsigned long long)ev->bytes,
			(unsigned long long)ev->pages);
	fflush(f);
}

struct json_object *tm_show_event_json(const struct tm_session_event *ev)
{
	struct json_object *o = json_object_new_object();
	bool failed = ev->cmd == TRUSTMIG_CMD_EVENT_FAILED;

	if (!o)
		return NULL;
	tm_json_add(o, "event",
		    json_object_new_string(failed ? "failed" : "complete"));
	tm_json_add(o, "id", json_object_new_int64(ev->id));
	if (failed) {
		tm_json_failure(o, ev->reason, ev->err);
		tm_json_add(o, "at_record", json_object_new_uint64(ev->seq));
	} else {
		tm_json_add(o, "records", json_object_new_uint64(ev->records));
		tm_json_add(o, "bytes", json_object_new_uint64(ev->bytes));
		tm_json_add(o, "pages", json_object_new_uint64(ev->pages));
	}
	return o;
}

int tm_show_json(FILE *f, struct json_object *j)
{
	if (!j)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	fprintf(f, "%s\n",
		json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return fflush(f) ? tm_fail(TM_EXIT_ERROR, "cannot write the output") : 0;
}
