// SPDX-License-Identifier: GPL-2.0
/*
 * Session life cycle: deletion in use, a VMM that goes away, and the
 * references trustmig takes on KVM VMs and on itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "tmig.h"

#define VM_SIZE		(2UL << 20)

/* /sys/module/trustmig/refcnt: open /dev/trustmig files pin the module. */
static int module_refcnt(void)
{
	FILE *f = fopen("/sys/module/trustmig/refcnt", "r");
	int n = -1;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/* KVM keeps /sys/kernel/debug/kvm/<pid>-<fd> until the VM is destroyed. */
static bool vm_alive(pid_t pid, int vm_fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d", pid,
		 vm_fd);
	return access(path, F_OK) == 0;
}

FIXTURE(lc) {
	struct tnl t;
	struct tmig_pair p;
	struct tvm a;
	struct tmig_stream st;
};

FIXTURE_SETUP(lc)
{
	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, tnl_subscribe(&self->t));
	ASSERT_EQ(0, tvm_create(&self->a, VM_SIZE, false));
	tvm_fill(&self->a, 3);
	ASSERT_EQ(0, tmig_pair_new(&self->t, &self->p, 0));
	ASSERT_EQ(0, tmig_attach(&self->p.src, self->a.vm_fd,
				 self->p.src.ticket));
}

FIXTURE_TEARDOWN(lc)
{
	tmig_pair_close(&self->t, &self->p);
	tmig_stream_free(&self->st);
	tvm_destroy(&self->a);
	tnl_close(&self->t);
}

TEST_F(lc, delete_session_in_use)
{
	struct tnl_session s;
	struct tnl_event ev;

	ASSERT_EQ(0, tmig_seal(self->p.src.fd, &self->a, TRUSTMIG_SEAL_HARVEST, NULL, &self->st));
	ASSERT_EQ(0, tnl_del(&self->t, self->p.src.id));
	EXPECT_EQ(-ENOENT, tnl_get(&self->t, self->p.src.id, &s));
	ASSERT_EQ(0, tnl_event(&self->t, self->p.src.id, &ev, 2000));
	EXPECT_EQ(TRUSTMIG_CMD_EVENT_FAILED, ev.cmd);
	EXPECT_EQ(TRUSTMIG_REASON_DELETED, ev.reason);
	/* The VMM's next call learns the session is gone. */
	EXPECT_EQ(-EPIPE, tmig_end_round(self->p.src.fd, &self->st));
	EXPECT_EQ(-EPIPE, tmig_commit(self->p.src.fd, &self->st));
}

TEST_F(lc, vmm_exits_before_commit)
{
	struct tnl_session s;
	struct tnl_event ev;

	ASSERT_EQ(0, tnl_get(&self->t, self->p.src.id, &s));
	EXPECT_EQ(1, s.attached);
	EXPECT_EQ(TRUSTMIG_STATE_ACTIVE, s.state);
	close(self->p.src.fd);
	self->p.src.fd = -1;
	ASSERT_EQ(0, tnl_get(&self->t, self->p.src.id, &s));
	EXPECT_EQ(0, s.attached);
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, s.state);
	EXPECT_EQ(TRUSTMIG_REASON_DETACHED, s.reason);
	ASSERT_EQ(0, tnl_event(&self->t, self->p.src.id, &ev, 2000));
	EXPECT_EQ(TRUSTMIG_CMD_EVENT_FAILED, ev.cmd);
	EXPECT_EQ(TRUSTMIG_REASON_DETACHED, ev.reason);
}

TEST_F(lc, calls_before_attach)
{
	struct trustmig_out o = { 0 };

	EXPECT_EQ(-1, ioctl(self->p.dst.fd, TRUSTMIG_COMMIT, &o));
	EXPECT_EQ(ENOTCONN, errno);
	EXPECT_EQ(-1, ioctl(self->p.src.fd, _IO(TRUSTMIG_IOC_MAGIC, 99), 0));
	EXPECT_EQ(ENOTTY, errno);
}

/* Attaching needs a key first; the ticket survives the attempt. */
TEST_F(lc, attach_needs_key)
{
	__u8 ticket[TRUSTMIG_TICKET_LEN];
	struct tmig_end e;

	ASSERT_EQ(0, tnl_new(&self->t, TRUSTMIG_ROLE_DEST, 0, &e.id, ticket));
	e.fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR);
	ASSERT_LE(0, e.fd);
	EXPECT_EQ(-ENOKEY, tmig_attach(&e, self->a.vm_fd, ticket));
	ASSERT_EQ(0, tnl_set_key(&self->t, e.id, 1, self->p.key,
				 self->p.salt));
	EXPECT_EQ(0, tmig_attach(&e, self->a.vm_fd, ticket));
	close(e.fd);
	EXPECT_EQ(0, tnl_del(&self->t, e.id));
}

/* Only the process that owns the VM may move its memory. */
TEST_F(lc, other_process_refused)
{
	int status;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid) {
		struct trustmig_seal s = {
			.slot = self->a.slot,
			.flags = TRUSTMIG_SEAL_HARVEST,
		};

		_exit(ioctl(self->p.src.fd, TRUSTMIG_SEAL, &s) == -1 &&
		      errno == EPERM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* Every reference taken is given back: the VM, and the module itself. */
TEST_F(lc, references_released)
{
	int base = module_refcnt();
	int vm_fd = self->a.vm_fd;

	ASSERT_LE(2, base);
	ASSERT_TRUE(vm_alive(getpid(), vm_fd));
	tmig_pair_close(NULL, &self->p);
	EXPECT_EQ(base - 2, module_refcnt());
	/* Our fd is the last reference: closing it must destroy the VM. */
	tvm_destroy(&self->a);
	EXPECT_FALSE(vm_alive(getpid(), vm_fd));
	ASSERT_EQ(0, tvm_create(&self->a, VM_SIZE, false));
}

TEST_HARNESS_MAIN
