/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the operator reads of trustmig.ko's sessions and events: one line
 * each (trustmig session list, monitor), a block each (trustmig status,
 * session show), or JSON (--json) with the same fields, for tools.
 * Labels the module holds came from peers and are printed sanitised.
 */
#ifndef TRUSTMIG_SHOW_H
#define TRUSTMIG_SHOW_H

#include <stdio.h>
#include <json-c/json.h>

#include "module.h"

/* "attach-timeout", or "?" for a reason this build does not know. */
const char *tm_reason_name(unsigned int reason);

void tm_show_session_line(FILE *f, const struct tm_session_info *s);
void tm_show_session_block(FILE *f, const struct tm_session_info *s);
struct json_object *tm_show_session_json(const struct tm_session_info *s);

void tm_show_event_line(FILE *f, const struct tm_session_event *ev);
struct json_object *tm_show_event_json(const struct tm_session_event *ev);

/* @j as one line of JSON on @f, then frees it; TM_EXIT_ERROR if NULL. */
int tm_show_json(FILE *f, struct json_object *j);

#endif /* TRUSTMIG_SHOW_H */
