// SPDX-License-Identifier: GPL-2.0
/*
 * Unloading trustmig with sessions alive and with VMs attached.  Runs
 * last: it removes and reloads the module under test ($TRUSTMIG_KO, else
 * the installed one, by modprobe).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <netlink/genl/genl.h>

#include "kselftest_harness.h"
#include "tmig.h"

static int count_sessions(struct tnl *t)
{
	struct nl_msg *msg = tnl_msg(t, TRUSTMIG_CMD_SESSION_GET, NLM_F_DUMP);
	struct tnl_reply r;

	if (!msg || tnl_send(t, msg, &r))
		return -1;
	return r.nr;
}

TEST(unload_with_sessions_alive)
{
	__u8 ticket[TRUSTMIG_TICKET_LEN], key[TRUSTMIG_KEY_LEN] = { 1 };
	__u8 salt[TRUSTMIG_SALT_LEN] = { 2 };
	struct tnl t;
	__u32 id;
	int i;

	ASSERT_EQ(0, tnl_open(&t));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, tnl_new(&t, TRUSTMIG_ROLE_SOURCE, 0, &id, ticket));
	ASSERT_EQ(0, tnl_set_key(&t, id, 1, key, salt));
	tnl_close(&t);

	ASSERT_EQ(0, tmig_module_unload("trustmig"));
	ASSERT_EQ(-ENOENT, access("/sys/module/trustmig", F_OK) ? -errno : 0);
	ASSERT_EQ(0, tmig_trustmig_load());
	ASSERT_EQ(0, tnl_open(&t));
	EXPECT_EQ(0, count_sessions(&t));
	tnl_close(&t);
}

/*
 * Session timers fire on their own: unloading while they fail sessions
 * (and would send events) must neither touch freed memory nor send an
 * event through a family on its way out.  Each round unloads at another
 * point of the timers' run; the debug kernel's KASAN and lockdep watch.
 */
FIXTURE(timers) {
};

FIXTURE_SETUP(timers)
{
}

/* Whatever happened, leave the module loaded for the next test. */
FIXTURE_TEARDOWN(timers)
{
	tmig_trustmig_restore();
}

TEST_F_TIMEOUT(timers, unload_while_timers_fire, 300)
{
	const struct tnl_new_opts o = { .attach_timeout = 1 };
	__u8 ticket[TRUSTMIG_TICKET_LEN];
	struct tnl t;
	int round, i;
	__u32 id;

	for (round = 0; round < 10; round++) {
		ASSERT_EQ(0, tnl_open(&t));
		ASSERT_EQ(0, tnl_subscribe(&t));
		for (i = 0; i < 32; i++)
			ASSERT_EQ(0, tnl_new_opts(&t, TRUSTMIG_ROLE_DEST, &o,
						  &id, ticket, NULL));
		usleep(900 * 1000 + round * 20 * 1000);
		ASSERT_EQ(0, tmig_module_unload("trustmig"));
		tnl_close(&t);
		ASSERT_EQ(0, tmig_trustmig_load());
	}
}

TEST(unload_refused_while_vm_attached)
{
	struct tmig_pair p;
	struct tnl t;
	struct tvm vm;
	int err;

	ASSERT_EQ(0, tnl_open(&t));
	ASSERT_EQ(0, tvm_create(&vm, 2UL << 20, false));
	ASSERT_EQ(0, tmig_pair_new(&t, &p, 0));
	ASSERT_EQ(0, tmig_attach(&p.src, vm.vm_fd, p.src.ticket));
	ASSERT_EQ(0, tmig_attach(&p.dst, vm.vm_fd, p.dst.ticket));
	tnl_close(&t);

	/* Attached files pin the module: unloading must not pull it away. */
	err = tmig_module_unload("trustmig");
	EXPECT_TRUE(err == -EWOULDBLOCK || err == -EBUSY);
	EXPECT_EQ(0, access("/sys/module/trustmig", F_OK));

	/* Once the VMM lets go, it unloads, and the VM lives on. */
	tmig_pair_close(NULL, &p);
	ASSERT_EQ(0, tmig_module_unload("trustmig"));
	tvm_fill(&vm, 1);
	ASSERT_EQ(0, tmig_trustmig_load());
	tvm_destroy(&vm);
}

#define FTRACE_ENABLED "/proc/sys/kernel/ftrace_enabled"

/* Writes @val to kernel.ftrace_enabled: 0 or -errno. */
static int set_ftrace(const char *val)
{
	int fd = open(FTRACE_ENABLED, O_WRONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

static char get_ftrace(void)
{
	char c = '?';
	int fd = open(FTRACE_ENABLED, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = '?';
		close(fd);
	}
	return c;
}

/* The dirty hooks cannot be switched off under a loaded module. */
TEST(ftrace_stays_on_while_loaded)
{
	if (access(FTRACE_ENABLED, F_OK))
		SKIP(return, "no %s", FTRACE_ENABLED);
	ASSERT_EQ(0, access("/sys/module/trustmig", F_OK));
	EXPECT_EQ(-EBUSY, set_ftrace("0"));
	EXPECT_EQ('1', get_ftrace());
	ASSERT_EQ(0, set_ftrace("1"));
}

/* With ftrace off the module would load blind: it must refuse. */
TEST(load_refused_while_ftrace_off)
{
	int err;

	if (access(FTRACE_ENABLED, F_OK))
		SKIP(return, "no %s", FTRACE_ENABLED);
	ASSERT_EQ(0, tmig_module_unload("trustmig"));
	err = set_ftrace("0");
	if (!err)
		err = tmig_trustmig_load();
	else
		err = -EALREADY;
	/* Whatever happened, leave ftrace on and the module loaded. */
	ASSERT_EQ(0, set_ftrace("1"));
	if (!err)
		tmig_module_unload("trustmig");
	ASSERT_EQ(0, tmig_trustmig_load());
	EXPECT_EQ(-EBUSY, err);
}

TEST_HARNESS_MAIN
