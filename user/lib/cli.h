/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sub-command dispatch and help for the trustmig command-line tools.
 */
#ifndef TRUSTMIG_CLI_H
#define TRUSTMIG_CLI_H

#include "util.h"

struct tm_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;	/* the command's manual section */
};

/*
 * Run "prog COMMAND [options]"; "prog --help" prints @manual and every
 * command's help, "prog COMMAND --help" that command's help.
 */
int tm_cli_main(int argc, char **argv, const char *manual,
		const struct tm_cmd *cmds);
/* Report a usage error of command @cmd and return TM_EXIT_USAGE. */
__printf(2, 3) int tm_usage(const char *cmd, const char *fmt, ...);

/*
 * The value @val of option --@opt as a number in [@min, @max], or a
 * usage error naming the option and the range: of command @cmd, or of
 * the tool itself if @cmd is NULL.
 */
int tm_opt_ulong(const char *cmd, const char *opt, const char *val,
		 unsigned long min, unsigned long max, unsigned long *out);

/* "prog --version" (version.h), a command of its own */
int tm_cmd_version(int argc, char **argv);
#define TM_CMD_VERSION	{ "--version", tm_cmd_version,			\
	"  --version\n"							\
	"    Print this tool's release and netlink version, the wire formats\n" \
	"    it speaks, then the running trustmig.ko's release and netlink\n" \
	"    version (/sys/module/trustmig/version), or why none runs; never\n" \
	"    loads the module.\n\n" }

extern const char *tm_prog;

#endif /* TRUSTMIG_CLI_H */
