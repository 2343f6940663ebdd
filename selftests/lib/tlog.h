/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tlog: what a trustmig-vm run wrote to its log, for the tests and
 * benchmarks that start one and wait for its milestones.
 */
#ifndef _TLOG_H
#define _TLOG_H

#include <stdbool.h>

/* A line of the log at @path contains @needle (false if it cannot open). */
bool tlog_has(const char *path, const char *needle);
/* Seconds on CLOCK_MONOTONIC: the clock of tlog_wait()'s @timeout. */
double tlog_now(void);
/* tlog_has(), polled until true or @timeout seconds have passed. */
bool tlog_wait(const char *path, const char *needle, double timeout);

#endif /* _TLOG_H */
