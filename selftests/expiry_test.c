// SPDX-License-Identifier: GPL-2.0
/*
 * Session lifetimes: a key that no VMM attaches to, or a migration that
 * outlives its lifetime, is erased by the module itself; finished
 * sessions leave the table after gc_delay.  Also the bounds the module
 * sets on what the helper asks for, and the labels GET reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "tmig.h"

#define VM_SIZE		(2UL << 20)

FIXTURE(ex) {
	struct tnl t;
	struct tnl_reply r;
	struct tvm vm;
	unsigned int max_attach, max_lifetime, gc_delay;
	__u8 key[TRUSTMIG_KEY_LEN];
	__u8 salt[TRUSTMIG_SALT_LEN];
};

FIXTURE_SETUP(ex)
{
	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, tnl_subscribe(&self->t));
	ASSERT_EQ(0, tvm_create(&self->vm, VM_SIZE, false));
	ASSERT_EQ(0, tmig_param_get("max_attach_timeout", &self->max_attach));
	ASSERT_EQ(0, tmig_param_get("max_lifetime", &self->max_lifetime));
	ASSERT_EQ(0, tmig_param_get("gc_delay", &self->gc_delay));
	memset(self->key, 0x5a, sizeof(self->key));
	memset(self->salt, 0xa5, sizeof(self->salt));
}

FIXTURE_TEARDOWN(ex)
{
	tmig_param_set("gc_delay", self->gc_delay);
	tvm_destroy(&self->vm);
	tnl_close(&self->t);
}

/* A keyed session of @o's lifetimes; its id and ticket. */
static int ex_keyed(struct _test_data_ex *self, const struct tnl_new_opts *o,
		    struct tmig_end *e)
{
	int err = tnl_new_opts(&self->t, TRUSTMIG_ROLE_SOURCE, o, &e->id,
			       e->ticket, NULL);

	e->fd = -1;
	return err ?: tnl_set_key(&self->t, e->id, 1, self->key, self->salt);
}

/* Attaches the fixture's VM to @e through a new /dev/trustmig file. */
static int ex_attach(struct _test_data_ex *self, struct tmig_end *e)
{
	e->fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (e->fd < 0)
		return -errno;
	return tmig_attach(e, self->vm.vm_fd, e->ticket);
}

static void ex_expect_failed(struct __test_metadata *_metadata,
			     struct _test_data_ex *self, __u32 id, __u8 reason,
			     int timeout_ms)
{
	struct tnl_session s;
	struct tnl_event ev;

	ASSERT_EQ(0, tnl_event(&self->t, id, &ev, timeout_ms));
	EXPECT_EQ(TRUSTMIG_CMD_EVENT_FAILED, ev.cmd);
	EXPECT_EQ(reason, ev.reason);
	EXPECT_EQ(ETIMEDOUT, ev.err);
	ASSERT_EQ(0, tnl_get(&self->t, id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_FAILED, s.state);
	EXPECT_EQ(reason, s.reason);
	EXPECT_EQ(ETIMEDOUT, s.err);
}

TEST_F(ex, defaults_are_the_module_bounds)
{
	struct tnl_new_opts o = { 0 };
	struct tmig_end e;
	struct tnl_session s;
	time_t start = time(NULL);

	ASSERT_EQ(0, ex_keyed(self, &o, &e));
	ASSERT_EQ(0, tnl_get(&self->t, e.id, &s));
	EXPECT_EQ(self->max_lifetime, s.lifetime);
	EXPECT_EQ(self->max_attach < self->max_lifetime ? self->max_attach :
		  self->max_lifetime, s.attach_timeout);
	/* A debug kernel's first cipher set-up alone may take seconds. */
	EXPECT_GE(time(NULL) - start + 1, s.age);
	EXPECT_STREQ("", s.peer_name);
	EXPECT_EQ(0, tnl_del(&self->t, e.id));

	/* A short lifetime shortens the default attach timeout with it. */
	o.lifetime = 1;
	ASSERT_EQ(0, ex_keyed(self, &o, &e));
	ASSERT_EQ(0, tnl_get(&self->t, e.id, &s));
	EXPECT_EQ(1, s.lifetime);
	EXPECT_EQ(1, s.attach_timeout);
	EXPECT_EQ(0, tnl_del(&self->t, e.id));
}

TEST_F(ex, requests_beyond_the_bounds_refused)
{
	const struct {
		struct tnl_new_opts o;
		int err;
		const char *extack;
	} cases[] = {
		{ { .attach_timeout = self->max_attach + 1 }, -ERANGE,
		  "attach timeout above the module's max_attach_timeout" },
		{ { .lifetime = self->max_lifetime + 1 }, -ERANGE,
		  "lifetime above the module's max_lifetime" },
		{ { .attach_timeout = 2, .lifetime = 1 }, -EINVAL,
		  "attach timeout longer than the lifetime" },
	};
	__u8 ticket[TRUSTMIG_TICKET_LEN];
	size_t i;
	__u32 id;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		EXPECT_EQ(cases[i].err,
			  tnl_new_opts(&self->t, TRUSTMIG_ROLE_DEST,
				       &cases[i].o, &id, ticket, &self->r));
		EXPECT_STREQ(cases[i].extack, self->r.extack);
	}
}

/* The module's own bounds: 1 second to a year. */
TEST_F(ex, parameters_range_checked)
{
	unsigned int v;

	EXPECT_EQ(-EINVAL, tmig_param_set("gc_delay", 0));
	EXPECT_EQ(-EINVAL, tmig_param_set("max_lifetime", 31536001));
	EXPECT_EQ(-EINVAL, tmig_param_set("max_attach_timeout", 0));
	ASSERT_EQ(0, tmig_param_get("gc_delay", &v));
	EXPECT_EQ(self->gc_delay, v);
	EXPECT_EQ(0, tmig_param_set("gc_delay", 31536000));
}

TEST_F(ex, labels_kept_and_bounded)
{
	char longest[TRUSTMIG_LABEL_LEN], too_long[TRUSTMIG_LABEL_LEN + 1];
	struct tnl_new_opts o = {
		.peer_name = "host-b.example",
		.peer_addr = "[fd00::2]:7468",
		.policy_id = "fedramp-moderate",
	};
	struct tnl_session s;
	struct tmig_end e;

	ASSERT_EQ(0, ex_keyed(self, &o, &e));
	ASSERT_EQ(0, tnl_get(&self->t, e.id, &s));
	EXPECT_STREQ(o.peer_name, s.peer_name);
	EXPECT_STREQ(o.peer_addr, s.peer_addr);
	EXPECT_STREQ(o.policy_id, s.policy_id);
	EXPECT_EQ(0, tnl_del(&self->t, e.id));

	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	o.policy_id = longest;
	ASSERT_EQ(0, ex_keyed(self, &o, &e));
	ASSERT_EQ(0, tnl_get(&self->t, e.id, &s));
	EXPECT_STREQ(longest, s.policy_id);
	EXPECT_EQ(0, tnl_del(&self->t, e.id));

	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	o.policy_id = too_long;
	EXPECT_EQ(-EINVAL, tnl_new_opts(&self->t, TRUSTMIG_ROLE_DEST, &o,
					&e.id, e.ticket, &self->r));
	EXPECT_NE(0, self->r.extack[0]);
}

/*
 * Sessions no VMM attaches to fail at their attach timeout, keyed or
 * not, and their key is gone; one attached in time lives on.
 */
TEST_F_TIMEOUT(ex, unattached_sessions_expire, 60)
{
	struct tnl_new_opts o = { .attach_timeout = 1 };
	struct tmig_end keyed, unkeyed, attached;
	struct tnl_session s;

	/* A second apart: the timers of both may run in either order. */
	ASSERT_EQ(0, ex_keyed(self, &o, &keyed));
	o.attach_timeout = 2;
	ASSERT_EQ(0, tnl_new_opts(&self->t, TRUSTMIG_ROLE_DEST, &o,
				  &unkeyed.id, unkeyed.ticket, NULL));
	ASSERT_EQ(0, ex_keyed(self, &o, &attached));
	ASSERT_EQ(0, ex_attach(self, &attached));

	ex_expect_failed(_metadata, self, keyed.id,
			 TRUSTMIG_REASON_ATTACH_TIMEOUT, 5000);
	ex_expect_failed(_metadata, self, unkeyed.id,
			 TRUSTMIG_REASON_ATTACH_TIMEOUT, 5000);
	/* The key is gone: its genuine ticket finds nothing to attach to. */
	EXPECT_EQ(-EPIPE, ex_attach(self, &keyed));
	close(keyed.fd);

	sleep(3);
	ASSERT_EQ(0, tnl_get(&self->t, attached.id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_ACTIVE, s.state);
	close(attached.fd);
	EXPECT_EQ(0, tnl_del(&self->t, keyed.id));
	EXPECT_EQ(0, tnl_del(&self->t, unkeyed.id));
	EXPECT_EQ(0, tnl_del(&self->t, attached.id));
}

/* A migration still running at the end of its lifetime fails. */
TEST_F_TIMEOUT(ex, lifetime_ends_an_active_session, 60)
{
	struct tnl_new_opts o = { .attach_timeout = 1, .lifetime = 2 };
	struct tmig_stream st = { 0 };
	struct tmig_end e;

	ASSERT_EQ(0, ex_keyed(self, &o, &e));
	ASSERT_EQ(0, ex_attach(self, &e));
	ASSERT_EQ(0, tmig_seal(e.fd, &self->vm, TRUSTMIG_SEAL_HARVEST, NULL,
			       &st));
	ex_expect_failed(_metadata, self, e.id, TRUSTMIG_REASON_EXPIRED, 5000);
	EXPECT_EQ(-EPIPE, tmig_end_round(e.fd, &st));
	tmig_stream_free(&st);
	close(e.fd);
	EXPECT_EQ(0, tnl_del(&self->t, e.id));
}

/*
 * Polls until session @id leaves the table; the number of 100 ms polls
 * it took, or -1 if it is still there after 5 s.
 */
static int ex_await_gone(struct _test_data_ex *self, __u32 id)
{
	struct tnl_session s;
	int i;

	for (i = 0; i < 50; i++) {
		if (tnl_get(&self->t, id, &s) == -ENOENT)
			return i;
		usleep(100 * 1000);
	}
	return -1;
}

static void ex_expect_not_dumped(struct __test_metadata *_metadata,
				 struct _test_data_ex *self, __u32 id)
{
	int n;

	ASSERT_EQ(0, tnl_send(&self->t,
			      tnl_msg(&self->t, TRUSTMIG_CMD_SESSION_GET,
				      NLM_F_DUMP), &self->r));
	for (n = 0; n < self->r.nr; n++)
		EXPECT_NE(id, self->r.s[n].id);
}

/* A failed session is listed for gc_delay seconds, then gone. */
TEST_F_TIMEOUT(ex, failed_sessions_leave_the_table, 60)
{
	struct tnl_new_opts o = { .attach_timeout = 1 };
	struct tnl_session s;
	struct tmig_end e;

	ASSERT_EQ(0, tmig_param_set("gc_delay", 2));
	ASSERT_EQ(0, ex_keyed(self, &o, &e));
	ex_expect_failed(_metadata, self, e.id,
			 TRUSTMIG_REASON_ATTACH_TIMEOUT, 5000);
	/* Listed right after the failure, for the operator to see why. */
	ASSERT_EQ(0, tnl_get(&self->t, e.id, &s));
	/* Gone after about 2 s, not before. */
	EXPECT_LE(15, ex_await_gone(self, e.id));
	ex_expect_not_dumped(_metadata, self, e.id);
}

/* Both ends of a completed migration go too, once their key is erased. */
TEST_F_TIMEOUT(ex, completed_sessions_leave_the_table, 60)
{
	unsigned long *bitmap = calloc(1, tvm_bitmap_bytes(self->vm.npages));
	struct tmig_stream st = { 0 };
	struct trustmig_open res;
	struct tnl_session s;
	struct tmig_pair p;
	struct tvm b;

	ASSERT_NE(NULL, bitmap);
	ASSERT_EQ(0, tmig_param_set("gc_delay", 1));
	ASSERT_EQ(0, tvm_create(&b, VM_SIZE, false));
	ASSERT_EQ(0, tmig_pair_new(&self->t, &p, 0));
	ASSERT_EQ(0, tmig_attach(&p.src, self->vm.vm_fd, p.src.ticket));
	ASSERT_EQ(0, tmig_attach(&p.dst, b.vm_fd, p.dst.ticket));
	ASSERT_EQ(0, tvm_harvest(&self->vm, bitmap));
	ASSERT_EQ(0, tmig_seal(p.src.fd, &self->vm, TRUSTMIG_SEAL_HARVEST,
			       NULL, &st));
	ASSERT_EQ(0, tmig_end_round(p.src.fd, &st));
	ASSERT_EQ(0, tmig_commit(p.src.fd, &st));
	ASSERT_EQ(0, tmig_open(p.dst.fd, st.buf, st.len, TRUSTMIG_OPEN_EOF,
			       &res));
	ASSERT_EQ(TRUSTMIG_OPEN_COMPLETE, res.result);
	/* The receipt key keeps them, past gc_delay, until the files close. */
	EXPECT_EQ(-1, ex_await_gone(self, p.src.id));
	EXPECT_EQ(0, tnl_get(&self->t, p.dst.id, &s));
	EXPECT_EQ(TRUSTMIG_STATE_COMPLETE, s.state);
	tmig_pair_close(NULL, &p);
	EXPECT_LE(0, ex_await_gone(self, p.src.id));
	EXPECT_LE(0, ex_await_gone(self, p.dst.id));
	ex_expect_not_dumped(_metadata, self, p.dst.id);
	tmig_stream_free(&st);
	tvm_destroy(&b);
	free(bitmap);
}

TEST_HARNESS_MAIN
