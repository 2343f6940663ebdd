// SPDX-License-Identifier: GPL-2.0
/*
 * tlog: trustmig-vm log lines for the tests and benchmarks.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tlog.h"

bool tlog_has(const char *path, const char *needle)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle);
	fclose(f);
	return found;
}

double tlog_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool tlog_wait(const char *path, const char *needle, double timeout)
{
	double end = tlog_now() + timeout;

	for (;;) {
		if (tlog_has(path, needle))
			return true;
		if (tlog_now() > end)
			return false;
		usleep(100000);
	}
}
