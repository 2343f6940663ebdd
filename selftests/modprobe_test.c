// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig.ko as installed (lib/modules/KVER/updates, depmod): modprobe
 * finds it and its dependencies, and resolving the netlink family by
 * name, as the tools do first, loads it through its alias.  Its device
 * node, made from depmod's devname index as kmod does at boot, loads it
 * when opened.
 *
 * The installed module is the system's (make install, or the packages'
 * DKMS build).  A build tree's ($TRUSTMIG_KO) is installed first into a
 * staging root beside the modules it needs (the test guest's root is
 * read-only); the guest's modprobe helper for the kernel (mkinitramfs.sh)
 * resolves requests there while it exists.  Unloads and reloads it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>

#include "kselftest_harness.h"
#include "tmig.h"

#define MP_ROOT		"/run/trustmig-modroot"
#define MP_STAGING	MP_ROOT ".staging"
#define MP_NODE		"/run/trustmig-node"

FIXTURE(mp) {
	bool ready;
	/* The staging root for a build tree's module, else "". */
	const char *root;
	char tool[PATH_MAX];
};

/*
 * The staging root: trustmig.ko copied into updates/, the modules it
 * depends on and the kernel's builtin lists by link, depmod's index
 * over them.  Made under another name and renamed, so the kernel's
 * requests never see half of it.
 */
FIXTURE_SETUP(mp)
{
	const char *ko = getenv("TRUSTMIG_KO");
	static const char *const lists[] = {
		"modules.builtin", "modules.builtin.bin",
		"modules.builtin.modinfo", "modules.order",
	};
	char cmd[1024], dir[256], src[512], dst[512], deps[4096];
	char *path, *save;
	struct utsname u;
	size_t i;

	tmig_tool("trustmig", self->tool, sizeof(self->tool));
	self->root = "";
	if (!ko) {
		self->ready = !tmig_sh("modinfo -n trustmig", NULL, 0);
		return;
	}
	self->root = MP_ROOT;
	ASSERT_EQ(0, uname(&u));
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", MP_ROOT, MP_STAGING);
	ASSERT_EQ(0, tmig_sh(cmd, NULL, 0));
	snprintf(dir, sizeof(dir), MP_STAGING "/lib/modules/%s", u.release);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/updates && cp '%s' %s/updates/",
		 dir, ko, dir);
	ASSERT_EQ(0, tmig_sh(cmd, NULL, 0));
	for (i = 0; i < ARRAY_SIZE(lists); i++) {
		snprintf(src, sizeof(src), "/lib/modules/%s/%s", u.release,
			 lists[i]);
		snprintf(dst, sizeof(dst), "%s/%s", dir, lists[i]);
		if (!access(src, F_OK))
			ASSERT_EQ(0, symlink(src, dst));
	}
	/* What trustmig.ko needs, as the installed kernel resolves it. */
	snprintf(cmd, sizeof(cmd),
		 "for d in $(modinfo -F depends '%s' | tr , ' '); do modprobe --show-depends \"$d\"; done | awk '$1 == \"insmod\" { print $2 }'",
		 ko);
	ASSERT_EQ(0, tmig_sh(cmd, deps, sizeof(deps)));
	for (path = strtok_r(deps, "\n", &save); path;
	     path = strtok_r(NULL, "\n", &save)) {
		snprintf(dst, sizeof(dst), MP_STAGING "%s", path);
		snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", dst);
		ASSERT_EQ(0, tmig_sh(cmd, NULL, 0));
		ASSERT_EQ(0, symlink(path, dst));
	}
	snprintf(cmd, sizeof(cmd), "depmod -b %s %s 2>&1", MP_STAGING,
		 u.release);
	ASSERT_EQ(0, tmig_sh(cmd, NULL, 0));
	ASSERT_EQ(0, rename(MP_STAGING, MP_ROOT));
	self->ready = true;
}

FIXTURE_TEARDOWN(mp)
{
	if (*self->root)
		tmig_sh("rm -rf " MP_ROOT " " MP_STAGING, NULL, 0);
	/* The tests after this one need the module, whatever happened. */
	tmig_trustmig_restore();
}

#define MP_NOT_INSTALLED "no trustmig.ko installed (modinfo -n trustmig), nor $TRUSTMIG_KO to install"

/*
 * Runs "@tool [@root_flag ROOT] @args" (modprobe -d, modinfo -b) in the
 * test's root: its status, its output in @out.
 */
static int mp_run(struct _test_data_mp *self, const char *tool,
		  const char *root_flag, const char *args, char *out,
		  size_t len)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s %s %s %s 2>&1", tool,
		 *self->root ? root_flag : "", self->root, args);
	return tmig_sh(cmd, out, len);
}

TEST_F_TIMEOUT(mp, modprobe_loads_it_with_its_dependencies, 300)
{
	char out[4096], deps[256];

	if (!self->ready)
		SKIP(return, MP_NOT_INSTALLED);
	ASSERT_EQ(0, mp_run(self, "modprobe", "-d", "--show-depends trustmig", out,
			    sizeof(out)));
	/* make install's updates/, or DKMS's updates/dkms/. */
	EXPECT_TRUE(strstr(out, "/updates/trustmig.ko") ||
		    strstr(out, "/updates/dkms/trustmig.ko")) TH_LOG("%s", out);
	ASSERT_EQ(0, mp_run(self, "modinfo", "-b", "-F depends trustmig", deps,
			    sizeof(deps)));
	/* kvm, unless this kernel has it built in. */
	if (strstr(deps, "kvm"))
		EXPECT_NE(NULL, strstr(out, "/kvm.ko")) TH_LOG("%s", out);

	ASSERT_EQ(0, tmig_module_unload("trustmig"));
	EXPECT_EQ(0, mp_run(self, "modprobe", "-d", "trustmig", out, sizeof(out)))
		TH_LOG("%s", out);
	EXPECT_TRUE(tmig_module_loaded());
	EXPECT_EQ(0, mp_run(self, "modprobe", "-d", "-r trustmig", out, sizeof(out)))
		TH_LOG("%s", out);
	EXPECT_FALSE(tmig_module_loaded());
}

TEST_F_TIMEOUT(mp, resolving_the_family_loads_it, 300)
{
	char cmd[PATH_MAX + 32], out[1024];

	if (!self->ready)
		SKIP(return, MP_NOT_INSTALLED);
	ASSERT_EQ(0, tmig_module_unload("trustmig"));
	ASSERT_FALSE(tmig_module_loaded());

	/* --version only looks. */
	snprintf(cmd, sizeof(cmd), "'%s' --version", self->tool);
	EXPECT_EQ(0, tmig_sh(cmd, out, sizeof(out)));
	/* Why it is not loaded depends on where the module lies here. */
	EXPECT_NE(NULL, strstr(out, "\ntrustmig.ko not loaded: "))
		TH_LOG("%s", out);
	EXPECT_FALSE(tmig_module_loaded());

	/* session list resolves the family: the kernel loads the module. */
	snprintf(cmd, sizeof(cmd), "'%s' session list 2>&1", self->tool);
	EXPECT_EQ(0, tmig_sh(cmd, out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_TRUE(tmig_module_loaded());
}

/*
 * kmod-static-nodes reads modules.devname at boot and systemd-tmpfiles
 * makes the nodes in /dev; the test makes the same node elsewhere (a
 * staging root's index is not the one read at boot) and opens it.
 */
TEST_F_TIMEOUT(mp, opening_the_device_node_loads_it, 300)
{
	char cmd[PATH_MAX], out[256];
	int fd;

	if (!self->ready)
		SKIP(return, MP_NOT_INSTALLED);
	snprintf(cmd, sizeof(cmd),
		 "grep '^trustmig ' %s/lib/modules/$(uname -r)/modules.devname",
		 self->root);
	ASSERT_EQ(0, tmig_sh(cmd, out, sizeof(out)));
	snprintf(cmd, sizeof(cmd), "trustmig %s c10:%d\n", TRUSTMIG_DEV_NAME,
		 TRUSTMIG_DEV_MINOR);
	ASSERT_STREQ(cmd, out);

	ASSERT_EQ(0, tmig_module_unload("trustmig"));
	ASSERT_FALSE(tmig_module_loaded());
	unlink(MP_NODE);
	ASSERT_EQ(0, mknod(MP_NODE, S_IFCHR | 0600,
			   makedev(10, TRUSTMIG_DEV_MINOR)));
	fd = open(MP_NODE, O_RDWR | O_CLOEXEC);
	EXPECT_LE(0, fd) TH_LOG("open %s: %s", MP_NODE, strerror(errno));
	EXPECT_TRUE(tmig_module_loaded());
	if (fd >= 0)
		close(fd);
	unlink(MP_NODE);
}

TEST_HARNESS_MAIN
