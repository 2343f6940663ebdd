// SPDX-License-Identifier: GPL-2.0
/*
 * Every allocation on trustmig.ko's paths failed once, by the kernel's
 * per-task fault injection (/proc/thread-self/fail-nth; debug kernels
 * only): a migration is replayed once per fault point of each of its
 * steps, with that point failing.  Each time
 * the step must fail with ENOMEM/ENOBUFS (EIO if the cipher itself could
 * not run) or cope; the sessions must then
 * either carry on to a byte-identical COMPLETE or fail closed; the
 * destination must never hold a byte the source did not seal; a failed
 * SESSION_NEW must leave no session behind.  Loading the module is
 * replayed the same way, once per fault point from the end of a load
 * back to the first one before the module's init: the load
 * fails with ENOMEM and leaves nothing behind, or succeeds whole.
 * The kernel reports most
 * injected failures with a stack (verbose=2): the test lists which
 * allocating calls in trustmig.ko's code (objdump) showed up there.
 * Leaks and splats are judged by run-in-guest.sh (kmemleak, dmesg).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/family.h>
#include <netlink/genl/genl.h>

#include "kselftest_harness.h"
#include "tmig.h"

#define FI_VM_SIZE	(64UL << 10)
#define FI_SLOT1_GPA	0x40000000UL
#define FI_SLOT1_SIZE	(64UL << 10)
#define FI_DST_FILL	0xee
#define FI_MAX_POINTS	5000
#define FI_DEBUGFS	"/sys/kernel/debug/"
#define FI_COUNT_ALL	1000000000U	/* armed only to count fault points */

/*
 * The calls in trustmig.ko that can reach an injectable allocation; the
 * module's own helpers are inlined into, or call, these.
 */
static const char *const fi_allocators[] = {
	"__kmalloc", "kmalloc_trace", "kmalloc_large", "kvmalloc_node",
	"__alloc_skb", "__xa_alloc_cyclic", "xa_store", "crypto_alloc_aead",
	"ftrace_set_filter_ip", "register_kprobe", "register_ftrace_function",
	"misc_register", "genl_register_family",
};

/* Call sites as "function+0xoffset" of the return address, as in a stack. */
struct fi_sites {
	char (*site)[128];
	size_t n, cap;
};

static void fi_sites_add(struct fi_sites *s, const char *site)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->site[i], site))
			return;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->site = realloc(s->site, s->cap * sizeof(*s->site));
		if (!s->site)
			abort();
	}
	snprintf(s->site[s->n++], sizeof(*s->site), "%s", site);
}

static bool fi_sites_has(const struct fi_sites *s, const char *site)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->site[i], site))
			return true;
	return false;
}

static bool fi_is_allocator(const char *sym)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fi_allocators); i++)
		if (!strcmp(sym, fi_allocators[i]))
			return true;
	return false;
}

/* Every direct call to an allocator in @ko's code, from its disassembly. */
static int fi_static_sites(const char *ko, struct fi_sites *out)
{
	unsigned long func_addr = 0, call_addr = 0, addr;
	char cmd[PATH_MAX + 64], line[512], func[128] = "", sym[128];
	bool after_call = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "objdump -dr --no-show-raw-insn '%s'", ko);
	f = popen(cmd, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx <%127[^>]>:", &addr, sym) == 2) {
			func_addr = addr;
			snprintf(func, sizeof(func), "%s", sym);
			after_call = false;
		} else if (strstr(line, "\tcall ") &&
			   sscanf(line, " %lx:", &addr) == 1) {
			call_addr = addr;
			after_call = true;
		} else if (after_call &&
			   sscanf(line, " %lx: R_X86_64_PLT32 %127[^-+\t\n]",
				  &addr, sym) == 2) {
			after_call = false;
			if (fi_is_allocator(sym)) {
				/* A direct call is 5 bytes: e8 rel32. */
				snprintf(line, sizeof(line), "%s+0x%lx", func,
					 call_addr + 5 - func_addr);
				fi_sites_add(out, line);
			}
		} else {
			after_call = false;
		}
	}
	return pclose(f) == 0 ? 0 : -EIO;
}

/*
 * The kernel's fault reports read so far from /dev/kmsg: after each
 * "FAULT_INJECTION: forcing a failure", the innermost trustmig frame of
 * the stack dump that follows is the call site that failed.
 */
struct fi_kmsg {
	int fd;
	bool in_report, site_seen;
	size_t reports;
	bool lost;		/* the log wrapped: some reports are gone */
	struct fi_sites hit;
};

static void fi_kmsg_drain(struct fi_kmsg *k)
{
	char rec[8192], *msg, *end, *site;
	ssize_t n;

	for (;;) {
		n = read(k->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE) {
			k->lost = true;	/* overwritten before we read it */
			continue;
		}
		if (n < 0 && errno != EAGAIN)
			k->lost = true;	/* a record we cannot read */
		if (n <= 0)
			return;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		msg[strcspn(msg, "\n")] = '\0';
		if (strstr(msg, "FAULT_INJECTION: forcing a failure")) {
			k->in_report = true;
			k->site_seen = false;
			k->reports++;
			continue;
		}
		if (!k->in_report)
			continue;
		if (strstr(msg, "</TASK>")) {
			k->in_report = false;
			continue;
		}
		site = msg + strspn(msg, " ");
		if (!strncmp(site, "? ", 2))
			continue;	/* a guess of the unwinder */
		end = strstr(site, " [trustmig]");
		if (k->site_seen || !end)
			continue;
		site[strcspn(site, "/ ")] = '\0';
		fi_sites_add(&k->hit, site);
		k->site_seen = true;
	}
}

static int fi_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -EIO;
}

/*
 * failslab and fail_page_alloc skip GFP_KERNEL and order-0 allocations
 * by default: make every one a fault point (user pages, __GFP_HIGHMEM,
 * stay exempt, so no page fault of ours is failed).  @on false restores
 * the defaults.
 */
static int fi_configure(bool on)
{
	return fi_write(FI_DEBUGFS "failslab/ignore-gfp-wait", on ? "N" : "Y") ?:
	       fi_write(FI_DEBUGFS "fail_page_alloc/ignore-gfp-wait",
			on ? "N" : "Y") ?:
	       fi_write(FI_DEBUGFS "fail_page_alloc/min-order", on ? "0" : "1") ?:
	       fi_write(FI_DEBUGFS "failslab/verbose", "2") ?:
	       fi_write(FI_DEBUGFS "fail_page_alloc/verbose", "2");
}

/* The @nth fault point this thread reaches fails. */
static void fi_arm(int nth_fd, unsigned int nth)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", nth);
	if (pwrite(nth_fd, buf, strlen(buf), 0) < 0)
		abort();
}

/* Disarms; how many fault points were still to go (0: it failed). */
static unsigned long fi_disarm_left(int nth_fd)
{
	char buf[16] = "";

	if (pread(nth_fd, buf, sizeof(buf) - 1, 0) <= 0 ||
	    pwrite(nth_fd, "0", 1, 0) != 1)
		abort();
	return strtoul(buf, NULL, 10);
}

/* Disarms; true if the armed fault point was reached (and failed). */
static bool fi_disarm(int nth_fd)
{
	return fi_disarm_left(nth_fd) == 0;
}

/* The steps of one migration, in order. */
enum fi_step {
	FI_NEW_SRC, FI_NEW_DST, FI_KEY_SRC, FI_KEY_DST, FI_OPEN_SRC,
	FI_OPEN_DST, FI_ATTACH_SRC, FI_ATTACH_DST, FI_SEAL, FI_SEAL_SLOT1,
	FI_END_ROUND, FI_DELIVER, FI_SEAL_STATE, FI_COMMIT, FI_DELIVER_LAST,
	FI_GET, FI_DUMP, FI_NR_STEPS
};

/* Steps that are a netlink request (the rest are syscalls on files). */
static bool fi_netlink_step(enum fi_step step)
{
	return step == FI_NEW_SRC || step == FI_NEW_DST || step == FI_KEY_SRC ||
	       step == FI_KEY_DST || step == FI_GET || step == FI_DUMP;
}

static const char *const fi_step_name[FI_NR_STEPS] = {
	"SESSION_NEW(source)", "SESSION_NEW(destination)",
	"SET_KEY(source)", "SET_KEY(destination)", "open(source)",
	"open(destination)", "ATTACH(source)", "ATTACH(destination)",
	"SEAL(slot 0, VMM bitmap)", "SEAL(slot 1)", "END_ROUND", "OPEN",
	"SEAL_STATE", "COMMIT", "OPEN(last)", "SESSION_GET", "SESSION_GET(dump)",
};

FIXTURE(fi) {
	struct tnl t;
	struct tvm a, b;
	struct kvm_userspace_memory_region a1, b1;
	__u8 *a1_mem, *b1_mem;
	unsigned long *bitmap;
	int nth_fd;
	struct fi_kmsg kmsg;
	unsigned int lost_acks;		/* netlink replies the kernel dropped */
	/* One migration: */
	__u8 cipher;
	struct tmig_pair p;
	struct tmig_stream st;
	size_t opened;
	bool complete;
};

FIXTURE_SETUP(fi)
{
	size_t bytes;

	/* SKIP here would not stop the body: it checks nth_fd itself. */
	self->nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (self->nth_fd >= 0 && (access(FI_DEBUGFS "failslab", F_OK) ||
				  access(FI_DEBUGFS "fail_page_alloc", F_OK))) {
		close(self->nth_fd);
		self->nth_fd = -1;
	}
	if (self->nth_fd < 0)
		return;
	ASSERT_EQ(0, fi_configure(true));
	self->kmsg.fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, self->kmsg.fd);
	lseek(self->kmsg.fd, 0, SEEK_END);

	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, tvm_create(&self->a, FI_VM_SIZE, false));
	ASSERT_EQ(0, tvm_create(&self->b, FI_VM_SIZE, false));
	/* A second slot: its tracker needs an xarray node. */
	self->a1_mem = tvm_add_slot(&self->a, 1, FI_SLOT1_GPA, FI_SLOT1_SIZE,
				    &self->a1);
	self->b1_mem = tvm_add_slot(&self->b, 1, FI_SLOT1_GPA, FI_SLOT1_SIZE,
				    &self->b1);
	ASSERT_NE(NULL, self->a1_mem);
	ASSERT_NE(NULL, self->b1_mem);
	tvm_fill(&self->a, 7);
	memset(self->a1_mem, 0x5a, FI_SLOT1_SIZE);
	bytes = tvm_bitmap_bytes(self->a.npages);
	self->bitmap = malloc(bytes);
	ASSERT_NE(NULL, self->bitmap);
	memset(self->bitmap, 0xff, bytes);
	self->p.src.fd = -1;
	self->p.dst.fd = -1;
}

FIXTURE_TEARDOWN(fi)
{
	if (self->nth_fd < 0)
		return;
	fi_configure(false);
	/* The tests after this one need the module, whatever happened here. */
	tmig_trustmig_restore();
	close(self->nth_fd);
	tnl_close(&self->t);
	if (self->a1_mem)
		munmap(self->a1_mem, FI_SLOT1_SIZE);
	if (self->b1_mem)
		munmap(self->b1_mem, FI_SLOT1_SIZE);
	tvm_destroy(&self->a);
	tvm_destroy(&self->b);
	free(self->bitmap);
	tmig_stream_free(&self->st);
	free(self->kmsg.hit.site);
	close(self->kmsg.fd);
}

static int fi_new(struct tnl *t, struct tmig_end *e, __u8 role, __u8 cipher)
{
	return tnl_new(t, role, cipher, &e->id, e->ticket);
}

static int fi_open_dev(struct tmig_end *e)
{
	e->fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR | O_CLOEXEC);
	return e->fd < 0 ? -errno : 0;
}

/* Opens what the source produced since the last call, STATE and all. */
static int fi_deliver(struct _test_data_fi *self, __u32 flags)
{
	__u8 state[TRUSTMIG_STATE_MAX];
	struct trustmig_open o;
	int err = 0;

	while (!err && self->opened < self->st.len) {
		err = tmig_open_state(self->p.dst.fd, self->st.buf + self->opened,
				      self->st.len - self->opened, state,
				      sizeof(state), &o);
		if (!err && (o.result & TRUSTMIG_OPEN_COMPLETE))
			self->complete = true;
		if (!err && !o.consumed)
			break;
		self->opened += o.consumed;
	}
	/* Short of a commit, the end of the stream fails the session. */
	if (!err && flags && !self->complete)
		err = tmig_open(self->p.dst.fd, NULL, 0, flags, &o);
	return err;
}

static int fi_dump_has(struct tnl *t, __u32 id, int *count)
{
	static struct tnl_reply r;
	int i, found = 0;

	if (tnl_send(t, tnl_msg(t, TRUSTMIG_CMD_SESSION_GET, NLM_F_DUMP), &r))
		return r.err;
	for (i = 0; i < r.nr; i++)
		found |= r.s[i].id == id;
	if (count)
		*count = r.nr;
	return found;
}

static int fi_step(struct _test_data_fi *self, enum fi_step step)
{
	struct tmig_pair *p = &self->p;
	struct tnl_session s;
	static const __u8 state[64] = { 1, 2, 3 };
	int n;

	switch (step) {
	case FI_NEW_SRC:
		return fi_new(&self->t, &p->src, TRUSTMIG_ROLE_SOURCE,
			      self->cipher);
	case FI_NEW_DST:
		return fi_new(&self->t, &p->dst, TRUSTMIG_ROLE_DEST,
			      self->cipher);
	case FI_KEY_SRC:
		return tnl_set_key(&self->t, p->src.id, p->stream, p->key,
				   p->salt);
	case FI_KEY_DST:
		return tnl_set_key(&self->t, p->dst.id, p->stream, p->key,
				   p->salt);
	case FI_OPEN_SRC:
		return fi_open_dev(&p->src);
	case FI_OPEN_DST:
		return fi_open_dev(&p->dst);
	case FI_ATTACH_SRC:
		return tmig_attach(&p->src, self->a.vm_fd, p->src.ticket);
	case FI_ATTACH_DST:
		return tmig_attach(&p->dst, self->b.vm_fd, p->dst.ticket);
	case FI_SEAL:
		return tmig_seal(p->src.fd, &self->a, TRUSTMIG_SEAL_HARVEST,
				 self->bitmap, &self->st);
	case FI_SEAL_SLOT1:
		return tmig_seal_slot(p->src.fd, 1, TRUSTMIG_SEAL_HARVEST, NULL,
				      &self->st);
	case FI_END_ROUND:
		return tmig_end_round(p->src.fd, &self->st);
	case FI_DELIVER:
		return fi_deliver(self, 0);
	case FI_SEAL_STATE:
		return tmig_seal_state(p->src.fd, state, sizeof(state),
				       &self->st);
	case FI_COMMIT:
		return tmig_commit(p->src.fd, &self->st);
	case FI_DELIVER_LAST:
		return fi_deliver(self, TRUSTMIG_OPEN_EOF);
	case FI_GET:
		return tnl_get(&self->t, p->src.id, &s) ?:
		       tnl_get(&self->t, p->dst.id, &s);
	case FI_DUMP:
		n = fi_dump_has(&self->t, p->src.id, NULL);
		return n < 0 ? n : 0;
	default:
		return -EINVAL;
	}
}

static bool fi_all_bytes(const __u8 *p, __u8 byte, size_t len)
{
	while (len--)
		if (*p++ != byte)
			return false;
	return true;
}

/* Each page of @dst is still @byte throughout, or equals @src's. */
static long fi_foreign_page(const __u8 *dst, const __u8 *src, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += TVM_PAGE_SIZE)
		if (!fi_all_bytes(dst + off, FI_DST_FILL, TVM_PAGE_SIZE) &&
		    memcmp(dst + off, src + off, TVM_PAGE_SIZE))
			return off / TVM_PAGE_SIZE;
	return -1;
}

/* A session's state, or 0 if there is none. */
static int fi_state(struct tnl *t, __u32 id)
{
	struct tnl_session s;

	return id && !tnl_get(t, id, &s) ? s.state : 0;
}

static bool fi_same_or_failed(struct tnl *t, __u32 id, int before)
{
	int now = fi_state(t, id);

	return now == before || now == TRUSTMIG_STATE_FAILED;
}

static bool fi_crypto_failed(struct tnl *t, __u32 id)
{
	struct tnl_session s;

	return id && !tnl_get(t, id, &s) && s.state == TRUSTMIG_STATE_FAILED &&
	       s.reason == TRUSTMIG_REASON_CRYPTO;
}

/*
 * One migration with the @nth fault point of @target failing.  Returns
 * whether that point was reached; checks everything the note at the top
 * promises.
 */
static bool fi_migrate(struct __test_metadata *_metadata,
		       struct _test_data_fi *self, enum fi_step target,
		       unsigned int nth)
{
	struct tmig_pair *p = &self->p;
	bool injected = false;
	int step, err, before = 0, after = 0, state_src = 0, state_dst = 0;

	memset(p, 0, sizeof(*p));
	p->src.fd = -1;
	p->dst.fd = -1;
	p->stream = 77;
	memset(p->key, 0x11, sizeof(p->key));
	memset(p->salt, 0x22, sizeof(p->salt));
	self->st.len = 0;
	self->opened = 0;
	self->complete = false;
	memset(self->b.mem, FI_DST_FILL, FI_VM_SIZE);
	memset(self->b1_mem, FI_DST_FILL, FI_SLOT1_SIZE);
	/* Fault in the stream buffer: the kernel writes it under injection. */
	ASSERT_EQ(0, tmig_reserve(&self->st, 2 << 20));
	memset(self->st.buf, 0, self->st.cap);

	for (step = 0; step < FI_NR_STEPS; step++) {
		if (step == target) {
			fi_dump_has(&self->t, 0, &before);
			state_src = fi_state(&self->t, p->src.id);
			state_dst = fi_state(&self->t, p->dst.id);
			fi_arm(self->nth_fd, nth);
		}
		err = fi_step(self, step);
		if (step != target) {
			ASSERT_EQ(0, err)
				TH_LOG("%s failed, not injected (fault %u of %s)",
				       fi_step_name[step], nth,
				       fi_step_name[target]);
			continue;
		}
		injected = fi_disarm(self->nth_fd);
		fi_kmsg_drain(&self->kmsg);
		/*
		 * ENOBUFS on receive: the one injected failure was in a message
		 * to us (the ACK), so the command itself was carried out.
		 * That is the transport, not the module.
		 */
		if (err == -ENOBUFS && injected && fi_netlink_step(step)) {
			err = 0;
			self->lost_acks++;
		}
		if (!err)
			continue;
		ASSERT_TRUE(injected) TH_LOG("%s: %s without an injected fault",
					     fi_step_name[step], strerror(-err));
		/*
		 * The cipher's own allocation failing mid-record fails the
		 * session (EIO, REASON_CRYPTO): a retry could reuse a nonce.
		 */
		ASSERT_TRUE(err == -ENOMEM || err == -ENOBUFS ||
			    (err == -EIO && (fi_crypto_failed(&self->t, p->src.id) ||
					     fi_crypto_failed(&self->t, p->dst.id))))
			TH_LOG("%s, fault %u: %s, not ENOMEM/ENOBUFS",
			       fi_step_name[step], nth, strerror(-err));
		/* A step that failed changed nothing, or failed a session. */
		ASSERT_TRUE(fi_same_or_failed(&self->t, p->src.id, state_src) &&
			    fi_same_or_failed(&self->t, p->dst.id, state_dst))
			TH_LOG("%s, fault %u: %s, yet a session moved on (now %d, %d)",
			       fi_step_name[step], nth, strerror(-err),
			       fi_state(&self->t, p->src.id),
			       fi_state(&self->t, p->dst.id));
		if (step == FI_NEW_SRC || step == FI_NEW_DST) {
			fi_dump_has(&self->t, 0, &after);
			ASSERT_EQ(before, after)
				TH_LOG("a failed SESSION_NEW left a session (fault %u)",
				       nth);
		}
		/* Nothing was lost: it works the second time... */
		err = fi_step(self, step);
		if (!err)
			continue;
		/* ...or a session failed closed and refuses the rest. */
		ASSERT_TRUE(fi_state(&self->t, p->src.id) == TRUSTMIG_STATE_FAILED ||
			    fi_state(&self->t, p->dst.id) == TRUSTMIG_STATE_FAILED)
			TH_LOG("%s after fault %u: retry fails (%s) and no session failed",
			       fi_step_name[step], nth, strerror(-err));
		if (fi_state(&self->t, p->src.id) == TRUSTMIG_STATE_FAILED)
			EXPECT_NE(0, fi_step(self, FI_COMMIT));
		EXPECT_NE(0, fi_step(self, FI_DELIVER_LAST));
		break;
	}

	/* The destination holds its own bytes or the source's, no others. */
	EXPECT_EQ(-1, fi_foreign_page(self->b.mem, self->a.mem, FI_VM_SIZE))
		TH_LOG("slot 0 of the destination holds bytes never sealed (fault %u of %s)",
		       nth, fi_step_name[target]);
	EXPECT_EQ(-1, fi_foreign_page(self->b1_mem, self->a1_mem, FI_SLOT1_SIZE))
		TH_LOG("slot 1 of the destination holds bytes never sealed (fault %u of %s)",
		       nth, fi_step_name[target]);
	if (self->complete) {
		EXPECT_EQ(0, memcmp(self->a.mem, self->b.mem, FI_VM_SIZE));
		EXPECT_EQ(0, memcmp(self->a1_mem, self->b1_mem, FI_SLOT1_SIZE));
	} else {
		EXPECT_NE(FI_NR_STEPS, step)
			TH_LOG("all steps passed, no COMPLETE (fault %u of %s)",
			       nth, fi_step_name[target]);
	}

	tmig_pair_close(&self->t, p);
	EXPECT_EQ(0, fi_dump_has(&self->t, p->src.id, NULL));
	EXPECT_EQ(0, fi_dump_has(&self->t, p->dst.id, NULL));
	fi_kmsg_drain(&self->kmsg);
	return injected;
}

/* Every fault point of every step of a migration, one at a time. */
static void fi_every_step(struct __test_metadata *_metadata,
			  struct _test_data_fi *self, __u8 cipher,
			  unsigned int *points)
{
	unsigned int step, nth;

	self->cipher = cipher;
	for (step = 0; step < FI_NR_STEPS; step++) {
		for (nth = 1; nth < FI_MAX_POINTS; nth++) {
			if (!fi_migrate(_metadata, self, step, nth))
				break;
			if (!_metadata->passed)
				return;
			++*points;
		}
		ASSERT_LT(nth, FI_MAX_POINTS);
		TH_LOG("%s: %u fault points", fi_step_name[step], nth - 1);
	}
}

static int fi_read_file(const char *path, void **data, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	*data = NULL;
	if (!fstat(fd, &st))
		*data = malloc(st.st_size);
	n = *data ? read(fd, *data, st.st_size) : -1;
	close(fd);
	*len = n;
	return n == st.st_size ? 0 : -EIO;
}

/* Is the trustmig family registered?  (A dump: resolving by name loads.) */
static int fi_family_registered(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *cache = NULL;
	struct genl_family *fam;
	int ret = -EIO;

	if (!sk)
		return -ENOMEM;
	if (!genl_connect(sk) && !genl_ctrl_alloc_cache(sk, &cache)) {
		fam = genl_ctrl_search_by_name(cache, TRUSTMIG_GENL_NAME);
		ret = !!fam;
		if (fam)
			genl_family_put(fam);
		nl_cache_free(cache);
	}
	nl_socket_free(sk);
	return ret;
}

/* Is KVM's dirty logging hooked by ftrace (by anyone)? */
static int fi_hooked(void)
{
	FILE *f = fopen(FI_DEBUGFS "tracing/enabled_functions", "r");
	char line[512];
	int ret = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		ret |= !strncmp(line, "mark_page_dirty_in_slot ", 24) ||
		       !strncmp(line, "kvm_arch_commit_memory_region ", 30);
	fclose(f);
	return ret;
}

/*
 * What a load leaves: 1 if all of the module is there, 0 if none of it
 * is (no module, family, device node or hook), -1 if only some.
 */
static int fi_module_parts(void)
{
	int parts = tmig_module_loaded() +
		    (fi_family_registered() == 1) +
		    !access("/dev/" TRUSTMIG_DEV_NAME, F_OK) +
		    (fi_hooked() == 1);

	return parts == 4 ? 1 : parts == 0 ? 0 : -1;
}

/*
 * The kernel's module_load event: a load that emits it reached
 * do_init_module, which runs the module's init.
 */
static int fi_load_events(bool on)
{
	return fi_write(FI_DEBUGFS "tracing/events/module/module_load/enable",
			on ? "1" : "0");
}

/* Did trustmig's load reach its init since the last call? */
static bool fi_reached_init(int pipe_fd)
{
	char buf[4096];
	bool seen = false;
	ssize_t n;

	while ((n = read(pipe_fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		seen |= !!strstr(buf, "module_load: trustmig");
	}
	return seen;
}

/*
 * Each fault point of a load of trustmig.ko failed in turn, from the
 * last one back to the first one before the module's init (a failure
 * there ends the load before the module_load event).  The image is in
 * memory: reading the file would put the filesystem's allocations in
 * the armed window.
 */
static void fi_every_load_point(struct __test_metadata *_metadata,
				struct _test_data_fi *self, const char *ko)
{
	unsigned int nth, total, tried = 0, failed = 0, whole = 0;
	bool injected, reached_init = true;
	size_t len = 0;
	void *image = NULL;
	int err, pipe_fd;

	ASSERT_EQ(0, fi_read_file(ko, &image, &len));
	ASSERT_EQ(1, fi_module_parts())
		TH_LOG("the loaded module, its family, /dev/%s and its hooks (%s) must show",
		       TRUSTMIG_DEV_NAME, FI_DEBUGFS "tracing/enabled_functions");
	ASSERT_EQ(0, fi_load_events(true));
	pipe_fd = open(FI_DEBUGFS "tracing/trace_pipe", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, pipe_fd);

	/* How many fault points one whole load passes. */
	ASSERT_EQ(0, tmig_module_unload("trustmig"));
	ASSERT_EQ(0, fi_module_parts());
	fi_arm(self->nth_fd, FI_COUNT_ALL);
	err = syscall(SYS_init_module, image, len, "") ? -errno : 0;
	total = FI_COUNT_ALL - fi_disarm_left(self->nth_fd);
	ASSERT_EQ(0, err);
	ASSERT_TRUE(fi_reached_init(pipe_fd))
		TH_LOG("no module_load event: the test cannot tell where init starts");

	for (nth = total; nth > 0 && reached_init; nth--) {
		ASSERT_EQ(0, tmig_module_unload("trustmig"));
		fi_arm(self->nth_fd, nth);
		err = syscall(SYS_init_module, image, len, "") ? -errno : 0;
		injected = fi_disarm(self->nth_fd);
		reached_init = fi_reached_init(pipe_fd);
		fi_kmsg_drain(&self->kmsg);
		tried++;
		if (!err) {
			EXPECT_EQ(1, fi_module_parts())
				TH_LOG("fault %u of %u: loaded, but not all of it", nth, total);
			whole++;
			continue;
		}
		ASSERT_TRUE(injected) TH_LOG("load failed without a fault: %s",
					     strerror(-err));
		EXPECT_EQ(-ENOMEM, err) TH_LOG("fault %u of %u: %s", nth, total,
					       strerror(-err));
		ASSERT_EQ(0, fi_module_parts())
			TH_LOG("fault %u of %u: a failed load left parts behind",
			       nth, total);
		failed++;
		/* A hook left on freed code would run here. */
		self->a1.flags ^= KVM_MEM_LOG_DIRTY_PAGES;
		ASSERT_EQ(0, ioctl(self->a.vm_fd, KVM_SET_USER_MEMORY_REGION,
				   &self->a1));
		ASSERT_EQ(0, tmig_trustmig_load());
		fi_reached_init(pipe_fd);
	}
	TH_LOG("a load passes %u fault points; the last %u failed in turn:",
	       total, tried);
	TH_LOG("%u loads failed cleanly, %u loaded whole", failed, whole);
	EXPECT_LT(0, failed);
	EXPECT_FALSE(reached_init) TH_LOG("every fault point was in or after init?");
	fi_load_events(false);
	close(pipe_fd);
	free(image);
}

TEST_F_TIMEOUT(fi, every_allocation_fails_once, 2700)
{
	struct fi_sites want = { 0 };
	char ko[PATH_MAX];
	unsigned int points = 0, missing = 0;
	size_t i;

	if (self->nth_fd < 0)
		SKIP(return, "no fault injection here (a debug kernel has it: make check-debug)");
	ASSERT_EQ(0, tmig_trustmig_path(ko, sizeof(ko)))
		TH_LOG("no trustmig.ko: neither $TRUSTMIG_KO nor an installed one");
	fi_every_step(_metadata, self, TRUSTMIG_CIPHER_AES256GCM, &points);
	fi_every_step(_metadata, self, TRUSTMIG_CIPHER_CHACHA20POLY1305,
		      &points);
	fi_every_load_point(_metadata, self, ko);

	/*
	 * Which allocating calls failed, from the kernel's reports.  A
	 * failure under __GFP_NOWARN prints none (kvmalloc's first try,
	 * xarray nodes, ...): this is a guide, the line coverage of the
	 * error paths (scripts/coverage.sh) is the measure.
	 */
	ASSERT_EQ(0, fi_static_sites(ko, &want));
	ASSERT_LT(0, want.n);
	for (i = 0; i < want.n; i++) {
		if (fi_sites_has(&self->kmsg.hit, want.site[i]))
			continue;
		TH_LOG("no report for: the allocation at %s", want.site[i]);
		missing++;
	}
	for (i = 0; i < self->kmsg.hit.n; i++)
		if (!fi_sites_has(&want, self->kmsg.hit.site[i]))
			TH_LOG("also failed, below: %s", self->kmsg.hit.site[i]);
	TH_LOG("%u fault points failed one at a time (%zu reports, %u lost ACKs)",
	       points, self->kmsg.reports, self->lost_acks);
	TH_LOG("%zu of the %zu allocating calls in trustmig.ko reported",
	       want.n - missing, want.n);
	/* The list above is only as good as the log it was read from. */
	EXPECT_FALSE(self->kmsg.lost);
	free(want.site);
}

TEST_HARNESS_MAIN
