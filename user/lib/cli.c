// SPDX-License-Identifier: GPL-2.0
/*
 * Sub-command dispatch and help for the trustmig command-line tools.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"
#include "version.h"

const char *tm_prog = "trustmig";

int tm_usage(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tm_fail(TM_EXIT_USAGE, "%s: %s (try '%s %s --help')", cmd, msg,
		       tm_prog, cmd);
}

int tm_opt_ulong(const char *cmd, const char *opt, const char *val,
		 unsigned long min, unsigned long max, unsigned long *out)
{
	char why[256];

	if (!tm_parse_ulong(val, min, max, out))
		return 0;
	snprintf(why, sizeof(why), "%s", tm_last_error());
	if (cmd)
		return tm_usage(cmd, "--%s: %s", opt, why);
	return tm_fail(TM_EXIT_USAGE, "--%s: %s (try '%s --help')", opt, why,
		       tm_prog);
}

int tm_cmd_version(int argc, char **argv)
{
	if (argc != 1)
		return tm_usage(argv[0], "no arguments expected");
	tm_print_versions(stdout, tm_prog, NULL);
	return 0;
}

static int tm_is_help(const char *arg)
{
	return !strcmp(arg, "--help") || !strcmp(arg, "-h") ||
	       !strcmp(arg, "help");
}

int tm_cli_main(int argc, char **argv, const char *manual,
		const struct tm_cmd *cmds)
{
	const struct tm_cmd *c;
	int i;

	tm_prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (argc < 2 || tm_is_help(argv[1])) {
		fputs(manual, argc < 2 ? stderr : stdout);
		for (c = cmds; argc >= 2 && c->name; c++)
			fputs(c->help, stdout);
		return argc < 2 ? TM_EXIT_USAGE : 0;
	}
	for (c = cmds; c->name; c++) {
		if (strcmp(c->name, argv[1]))
			continue;
		for (i = 2; i < argc; i++) {
			if (tm_is_help(argv[i]) && strcmp(argv[i], "help")) {
				fputs(c->help, stdout);
				return 0;
			}
		}
		return tm_report(tm_prog, c->run(argc - 1, argv + 1));
	}
	fprintf(stderr, "%s: unknown command \"%s\"; try '%s --help'\n",
		tm_prog, argv[1], tm_prog);
	return TM_EXIT_USAGE;
}
