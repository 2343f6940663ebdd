// SPDX-License-Identifier: GPL-2.0
/*
 * The trustmig generic netlink family: every command with valid input,
 * every kind of malformed input, privilege, and what replies may carry.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netlink/genl/genl.h>

#include "kselftest_harness.h"
#include "tnl.h"
#include "tvm.h"

static const __u8 test_key[TRUSTMIG_KEY_LEN] = {
	0x6b, 0x65, 0x79, 0x21, 0x9a, 0x51, 0x3c, 0x07, 0xe2, 0x44, 0x18,
	0xd0, 0x7f, 0x2e, 0x91, 0xab, 0x33, 0x05, 0xc8, 0x6d, 0x12, 0xfe,
	0x87, 0x4a, 0x29, 0xb6, 0x50, 0x0c, 0xe9, 0x73, 0x1d, 0xa4,
};

static const __u8 test_salt[TRUSTMIG_SALT_LEN] = {
	0x73, 0x61, 0x6c, 0x74, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
};

FIXTURE(nl) {
	struct tnl t;
	struct tnl_reply r;
	__u32 id;
	__u8 ticket[TRUSTMIG_TICKET_LEN];
};

FIXTURE_SETUP(nl)
{
	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, tnl_new(&self->t, TRUSTMIG_ROLE_SOURCE, 0, &self->id,
			     self->ticket));
}

FIXTURE_TEARDOWN(nl)
{
	tnl_del(&self->t, self->id);
	tnl_close(&self->t);
}

enum { END, U8, U32, BIN };

/*
 * Sends @cmd with the attributes that follow, as (U8 | U32, type, value)
 * or (BIN, type, length, pointer), up to END; returns the errno.
 */
static int send_attrs(struct _test_data_nl *self, __u8 cmd, ...)
{
	struct nl_msg *msg = tnl_msg(&self->t, cmd, 0);
	int kind, type, len;
	const void *data;
	va_list ap;

	if (!msg)
		return -ENOMEM;
	va_start(ap, cmd);
	while ((kind = va_arg(ap, int)) != END) {
		type = va_arg(ap, int);
		if (kind == U8) {
			nla_put_u8(msg, type, va_arg(ap, unsigned int));
		} else if (kind == U32) {
			nla_put_u32(msg, type, va_arg(ap, unsigned int));
		} else {
			len = va_arg(ap, int);
			data = va_arg(ap, const void *);
			nla_put(msg, type, len, data);
		}
	}
	va_end(ap);
	return tnl_send(&self->t, msg, &self->r);
}

TEST_F(nl, new_defaults_and_get)
{
	static const __u8 zero_ticket[TRUSTMIG_TICKET_LEN];
	struct tnl_session s;

	ASSERT_EQ(0, tnl_get(&self->t, self->id, &s));
	EXPECT_EQ(self->id, s.id);
	EXPECT_EQ(TRUSTMIG_ROLE_SOURCE, s.role);
	EXPECT_EQ(TRUSTMIG_CIPHER_AES256GCM, s.cipher);
	EXPECT_EQ(TRUSTMIG_STATE_NEW, s.state);
	EXPECT_EQ(0, s.keyed);
	EXPECT_EQ(0, s.attached);
	EXPECT_EQ(0, s.records);
	/* The ticket is random: not all zero. */
	EXPECT_NE(0, memcmp(self->ticket, zero_ticket, TRUSTMIG_TICKET_LEN));
}

TEST_F(nl, new_chacha_destination)
{
	struct tnl_session s;
	__u8 ticket[TRUSTMIG_TICKET_LEN];
	__u32 id;

	ASSERT_EQ(0, tnl_new(&self->t, TRUSTMIG_ROLE_DEST,
			     TRUSTMIG_CIPHER_CHACHA20POLY1305, &id, ticket));
	ASSERT_EQ(0, tnl_get(&self->t, id, &s));
	EXPECT_EQ(TRUSTMIG_ROLE_DEST, s.role);
	EXPECT_EQ(TRUSTMIG_CIPHER_CHACHA20POLY1305, s.cipher);
	EXPECT_NE(self->id, id);
	/* Two sessions never share a ticket. */
	EXPECT_NE(0, memcmp(ticket, self->ticket, TRUSTMIG_TICKET_LEN));
	ASSERT_EQ(0, tnl_set_key(&self->t, id, 7, test_key, test_salt));
	EXPECT_EQ(0, tnl_del(&self->t, id));
}

TEST_F(nl, set_key_once_and_never_returned)
{
	struct tnl_session s;
	struct tnl_reply r;
	struct nl_msg *msg;

	ASSERT_EQ(0, tnl_set_key(&self->t, self->id, 0x1234, test_key,
				 test_salt));
	ASSERT_EQ(0, tnl_get(&self->t, self->id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_KEYED, s.state);
	EXPECT_EQ(1, s.keyed);
	EXPECT_EQ(0x1234, s.stream);

	/* A second key is refused: keys are set once. */
	EXPECT_EQ(-EEXIST, tnl_set_key(&self->t, self->id, 1, test_key,
				       test_salt));

	/* Neither GET nor a dump carries the key or the salt. */
	msg = tnl_msg(&self->t, TRUSTMIG_CMD_SESSION_GET, 0);
	nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, self->id);
	ASSERT_EQ(0, tnl_send(&self->t, msg, &r));
	ASSERT_LT(0, r.raw_len);
	EXPECT_EQ(NULL, memmem(r.raw, r.raw_len, test_key, 8));
	EXPECT_EQ(NULL, memmem(r.raw, r.raw_len, test_salt, 8));
	msg = tnl_msg(&self->t, TRUSTMIG_CMD_SESSION_GET, NLM_F_DUMP);
	ASSERT_EQ(0, tnl_send(&self->t, msg, &r));
	ASSERT_LE(1, r.nr);
	EXPECT_EQ(NULL, memmem(r.raw, r.raw_len, test_key, 8));
	EXPECT_EQ(NULL, memmem(r.raw, r.raw_len, test_salt, 8));
}

TEST_F(nl, dump_lists_every_session)
{
	__u8 ticket[TRUSTMIG_TICKET_LEN];
	struct nl_msg *msg;
	__u32 ids[3];
	int i, j, found;

	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, tnl_new(&self->t, TRUSTMIG_ROLE_DEST, 0, &ids[i],
				     ticket));
	msg = tnl_msg(&self->t, TRUSTMIG_CMD_SESSION_GET, NLM_F_DUMP);
	ASSERT_EQ(0, tnl_send(&self->t, msg, &self->r));
	found = 0;
	for (i = 0; i < self->r.nr; i++) {
		for (j = 0; j < 3; j++)
			found += self->r.s[i].id == ids[j];
		found += self->r.s[i].id == self->id;
	}
	EXPECT_EQ(4, found);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, tnl_del(&self->t, ids[i]));
}

/* A session that failed before it had a key does not claim one. */
TEST_F(nl, keyed_only_when_keyed)
{
	struct trustmig_attach a = { .session_id = self->id, .lanes = 1 };
	struct tnl_session s;
	struct tvm vm;
	int fd;

	ASSERT_EQ(0, tvm_create(&vm, 1UL << 20, false));
	fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR);
	ASSERT_LE(0, fd);
	a.vm_fd = vm.vm_fd;
	/* An all-zero ticket is wrong: the session fails, still unkeyed. */
	EXPECT_EQ(-1, ioctl(fd, TRUSTMIG_ATTACH, &a));
	EXPECT_EQ(EACCES, errno);
	ASSERT_EQ(0, tnl_get(&self->t, self->id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, s.state);
	EXPECT_EQ(0, s.keyed);
	EXPECT_EQ(0, s.stream);
	/* And a failed session takes no key. */
	EXPECT_EQ(-EPIPE, tnl_set_key(&self->t, self->id, 1, test_key,
				      test_salt));
	close(fd);
	tvm_destroy(&vm);
}

TEST_F(nl, delete_then_gone)
{
	struct tnl_session s;

	ASSERT_EQ(0, tnl_del(&self->t, self->id));
	EXPECT_EQ(-ENOENT, tnl_get(&self->t, self->id, &s));
	EXPECT_EQ(-ENOENT, tnl_del(&self->t, self->id));
	EXPECT_EQ(-ENOENT, tnl_set_key(&self->t, self->id, 1, test_key,
				       test_salt));
}

TEST_F(nl, missing_attributes)
{
	int err;

	err = send_attrs(self, TRUSTMIG_CMD_SESSION_NEW, END);
	EXPECT_EQ(-EINVAL, err);
	EXPECT_STREQ("missing role", self->r.extack);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_GET, END);
	EXPECT_EQ(-EINVAL, err);
	EXPECT_STREQ("missing session id", self->r.extack);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_DEL, END);
	EXPECT_EQ(-EINVAL, err);
	EXPECT_STREQ("missing session id", self->r.extack);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_SET_KEY,
			 U32, TRUSTMIG_A_SESSION_ID, self->id,
			 U32, TRUSTMIG_A_STREAM_ID, 1,
			 BIN, TRUSTMIG_A_KEY, TRUSTMIG_KEY_LEN, test_key, END);
	EXPECT_EQ(-EINVAL, err);
	EXPECT_STREQ("missing salt", self->r.extack);
	/* Nothing was set by the refused request. */
	EXPECT_EQ(0, tnl_set_key(&self->t, self->id, 1, test_key, test_salt));
}

TEST_F(nl, wrong_lengths_and_types)
{
	__u8 big[TRUSTMIG_KEY_LEN + 1] = { 0 };
	int err;

	/* Keys and salts must have their exact length. */
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_SET_KEY,
			 U32, TRUSTMIG_A_SESSION_ID, self->id,
			 U32, TRUSTMIG_A_STREAM_ID, 1,
			 BIN, TRUSTMIG_A_KEY, TRUSTMIG_KEY_LEN - 1, test_key,
			 BIN, TRUSTMIG_A_SALT, TRUSTMIG_SALT_LEN, test_salt, END);
	EXPECT_EQ(-ERANGE, err);
	EXPECT_NE(0, self->r.extack[0]);
	TH_LOG("short key: %s", self->r.extack);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_SET_KEY,
			 U32, TRUSTMIG_A_SESSION_ID, self->id,
			 U32, TRUSTMIG_A_STREAM_ID, 1,
			 BIN, TRUSTMIG_A_KEY, (int)sizeof(big), big,
			 BIN, TRUSTMIG_A_SALT, TRUSTMIG_SALT_LEN, test_salt, END);
	EXPECT_EQ(-ERANGE, err);
	EXPECT_NE(0, self->r.extack[0]);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_SET_KEY,
			 U32, TRUSTMIG_A_SESSION_ID, self->id,
			 U32, TRUSTMIG_A_STREAM_ID, 1,
			 BIN, TRUSTMIG_A_KEY, TRUSTMIG_KEY_LEN, test_key,
			 BIN, TRUSTMIG_A_SALT, TRUSTMIG_SALT_LEN + 4, big, END);
	EXPECT_EQ(-ERANGE, err);
	EXPECT_NE(0, self->r.extack[0]);
	/* A u32 where a u8 belongs, and values out of range. */
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_NEW,
			 U32, TRUSTMIG_A_ROLE, TRUSTMIG_ROLE_SOURCE, END);
	EXPECT_EQ(-EINVAL, err);
	EXPECT_NE(0, self->r.extack[0]);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_NEW,
			 U8, TRUSTMIG_A_ROLE, 3, END);
	EXPECT_EQ(-ERANGE, err);
	EXPECT_NE(0, self->r.extack[0]);
	TH_LOG("role 3: %s", self->r.extack);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_NEW,
			 U8, TRUSTMIG_A_ROLE, TRUSTMIG_ROLE_DEST,
			 U8, TRUSTMIG_A_CIPHER, 9, END);
	EXPECT_EQ(-ERANGE, err);
	EXPECT_NE(0, self->r.extack[0]);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_GET,
			 U32, TRUSTMIG_A_SESSION_ID, 0, END);
	EXPECT_EQ(-ERANGE, err);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_GET,
			 U8, TRUSTMIG_A_SESSION_ID, 1, END);
	EXPECT_EQ(-EINVAL, err);
}

TEST_F(nl, unknown_and_foreign_attributes)
{
	int err;

	/* An attribute beyond the family's range. */
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_NEW,
			 U8, TRUSTMIG_A_ROLE, TRUSTMIG_ROLE_SOURCE,
			 U32, TRUSTMIG_A_MAX + 5, 1, END);
	EXPECT_EQ(-EINVAL, err);
	EXPECT_NE(0, self->r.extack[0]);
	TH_LOG("unknown: %s", self->r.extack);
	/* A known attribute that means nothing to the command. */
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_NEW,
			 U8, TRUSTMIG_A_ROLE, TRUSTMIG_ROLE_SOURCE,
			 BIN, TRUSTMIG_A_KEY, TRUSTMIG_KEY_LEN, test_key, END);
	EXPECT_EQ(-EINVAL, err);
	EXPECT_NE(0, self->r.extack[0]);
	err = send_attrs(self, TRUSTMIG_CMD_SESSION_GET,
			 U32, TRUSTMIG_A_SESSION_ID, self->id,
			 BIN, TRUSTMIG_A_TICKET, TRUSTMIG_TICKET_LEN, self->ticket, END);
	EXPECT_EQ(-EINVAL, err);
	EXPECT_NE(0, self->r.extack[0]);
}

TEST_F(nl, unknown_session_has_extack)
{
	int err;

	err = send_attrs(self, TRUSTMIG_CMD_SESSION_GET,
			 U32, TRUSTMIG_A_SESSION_ID, 0x7fffffff, END);
	EXPECT_EQ(-ENOENT, err);
	EXPECT_STREQ("no such session", self->r.extack);
}

TEST_F(nl, unknown_command)
{
	int err;

	err = send_attrs(self, TRUSTMIG_CMD_EVENT_FAILED, END);
	EXPECT_EQ(-EOPNOTSUPP, err);
}

/* Drops root in a child; every command must then fail with EPERM. */
TEST_F(nl, unprivileged_gets_eperm)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct tnl t;
		__u8 ticket[TRUSTMIG_TICKET_LEN];
		struct tnl_session s;
		__u32 id;
		int fails = 0;

		if (setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(100);
		if (tnl_open(&t))
			_exit(101);
		fails += tnl_new(&t, TRUSTMIG_ROLE_SOURCE, 0, &id,
				 ticket) != -EPERM;
		fails += tnl_get(&t, self->id, &s) != -EPERM;
		fails += tnl_set_key(&t, self->id, 1, test_key,
				     test_salt) != -EPERM;
		fails += tnl_del(&t, self->id) != -EPERM;
		fails += tnl_subscribe(&t) == 0;
		_exit(fails);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
