// SPDX-License-Identifier: GPL-2.0
/*
 * The tools and the module say which release and netlink version they
 * are, and a tool refuses a module of another netlink version with one
 * line naming both (trustmig_next.ko, $TRUSTMIG_NEXT_KO, stands in for
 * that module).  Runs the tools of the build tree ($TRUSTMIG_BUILD/user)
 * or the installed ones; unloads and reloads the module under test.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "tmig.h"

/* Runs "@tool @args"; its exit status, or -1. */
static int run_tool(const char *tool, const char *args, char *out,
		    size_t len, bool want_stderr)
{
	char cmd[PATH_MAX + 1024], path[PATH_MAX];

	tmig_tool(tool, path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "'%s' %s %s", path, args,
		 want_stderr ? "2>&1 >/dev/null" : "2>/dev/null");
	return tmig_sh(cmd, out, len);
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok = f && fgets(buf, len, f);

	if (f)
		fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * Each test runs two tools, which under a debug kernel on a loaded
 * machine take far longer than the harness's default 30 s.
 */
#define VER_TIMEOUT	300

FIXTURE(ver) {
};

FIXTURE_SETUP(ver)
{
}

/* The tests after this one need trustmig.ko, whatever happened here. */
FIXTURE_TEARDOWN(ver)
{
	if (!access("/sys/module/trustmig_next", F_OK))
		tmig_module_unload("trustmig_next");
	tmig_trustmig_restore();
}

TEST_F_TIMEOUT(ver, versions_of_tools_and_module, VER_TIMEOUT)
{
	char out[1024], first[1024], head[512], ko[512], release[64];
	char *p;

	ASSERT_EQ(0, read_line("/sys/module/trustmig/version", release,
			       sizeof(release)));
	ASSERT_STRNE("", release);
	/* the handshake's version is the tools' own: any number */
	snprintf(head, sizeof(head),
		 "trustmig %s (netlink family trustmig v%d)\n"
		 "wire formats: sealed records v%d, handshake v",
		 release, TRUSTMIG_GENL_VERSION, TRUSTMIG_WIRE_VERSION);
	snprintf(ko, sizeof(ko), "trustmig.ko %s (netlink family trustmig v%d)\n",
		 release, TRUSTMIG_GENL_VERSION);
	EXPECT_EQ(0, run_tool("trustmig", "--version", first, sizeof(first),
			      false));
	EXPECT_EQ(0, strncmp(head, first, strlen(head))) TH_LOG("%s", first);
	/* the third line, the module's */
	p = strchr(first, '\n');
	p = p ? strchr(p + 1, '\n') : NULL;
	ASSERT_NE(NULL, p);
	EXPECT_STREQ(ko, p + 1);
	EXPECT_EQ(0, run_tool("trustmigd", "--version", out, sizeof(out),
			      false));
	EXPECT_STREQ(first + strlen("trustmig"), out + strlen("trustmigd"));
}

TEST_F_TIMEOUT(ver, tools_refuse_a_module_of_another_netlink_version,
	       VER_TIMEOUT)
{
	const char *next = getenv("TRUSTMIG_NEXT_KO");
	char out[1024], want[512];
	int rc;

	if (!next)
		SKIP(return, "TRUSTMIG_NEXT_KO not set: no module of another version");
	ASSERT_EQ(0, tmig_module_unload("trustmig"));
	ASSERT_EQ(0, tmig_module_load(next));
	rc = run_tool("trustmig", "session list", out, sizeof(out), true);
	snprintf(want, sizeof(want),
		 "trustmig: trustmig.ko speaks netlink family \"trustmig\" version %d, this trustmig speaks version %d: install the tools and the module of one release\n",
		 TRUSTMIG_GENL_VERSION + 1, TRUSTMIG_GENL_VERSION);
	EXPECT_EQ(58, rc);
	EXPECT_STREQ(want, out);
	EXPECT_EQ(0, tmig_module_unload("trustmig_next"));
	EXPECT_EQ(0, tmig_trustmig_load());
}

TEST_HARNESS_MAIN
