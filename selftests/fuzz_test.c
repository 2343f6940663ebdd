// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_test: a structure-aware fuzzer of trustmig.ko's whole user-facing
 * surface.  Several threads issue random sequences of generic netlink
 * commands (valid, almost valid and random attributes) and /dev/trustmig
 * ioctls (valid, boundary and random arguments, on attached and
 * unattached files) against two shared nested-KVM VMs, while they close
 * files, delete sessions mid-seal, change memslots mid-round, run the
 * vCPU, recreate a VM and try rmmod.  After every step it checks what
 * must hold whatever the interleaving:
 *   - a session's state only moves forward (NEW, KEYED, ACTIVE, then
 *     COMPLETE or FAILED for good), its counters never go back;
 *   - nothing succeeds on a session last seen FAILED; a key is installed
 *     once; ATTACH succeeds only with the session's ticket, once per file;
 *   - no reply and no output buffer ever holds a key (every key starts
 *     with FZ_KEY_MARK, searched for in every byte the kernel returns).
 * Splats and leaks are judged by run-in-guest.sh (dmesg, kmemleak).
 *
 * With KCOV (debug kernels) each thread traces its own steps; an input
 * that reaches a new PC in trustmig.ko's text joins the corpus, and half
 * of the inputs are mutations of corpus entries.
 *
 *   fuzz_test [--seed S] [--seconds N] [--threads T]
 *
 * Defaults from TRUSTMIG_FUZZ_SEED (else random), TRUSTMIG_FUZZ_SECONDS
 * (180) and TRUSTMIG_FUZZ_THREADS (3).  After an rmmod succeeds the
 * module under test is loaded again ($TRUSTMIG_KO, else modprobe).  Each
 * thread draws from its own generator, seeded from S: --threads 1 with
 * the seed a run printed replays its choices (coverage steering and the
 * kernel's timing aside).  A step that takes over FZ_HANG_SECONDS is
 * reported as a hang with the seed, never retried.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/kcov.h>
#include <netlink/genl/genl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "kselftest.h"
#include "tmig.h"

#define FZ_SESSIONS	64
#define FZ_FILES	8
#define FZ_KEYS		4
#define FZ_PAIRS	4
#define FZ_CORPUS	4096
#define FZ_BLOB		256
#define FZ_OUT		(256UL << 10)
#define FZ_STREAM_MAX	(1024UL * 1024)
#define FZ_KCOV_WORDS	65536UL
#define FZ_VM_SIZE	(256UL << 10)
#define FZ_SLOT1_GPA	0x40000000UL
#define FZ_SLOT1_SIZE	(64UL << 10)
#define FZ_HANG_SECONDS	120
#define FZ_KEY_MARK	"TMFZKEY!"
#define FZ_MARK_LEN	8

enum fz_action {
	FZ_NEW, FZ_SET_KEY, FZ_GET, FZ_DUMP, FZ_DEL, FZ_GENL_RAW, FZ_OPEN_DEV,
	FZ_CLOSE_DEV, FZ_ATTACH, FZ_SEAL, FZ_SEAL_STATE, FZ_END_ROUND,
	FZ_COMMIT, FZ_OPEN_REC, FZ_IOCTL_RAW, FZ_VCPU_RUN, FZ_HARVEST,
	FZ_SLOT, FZ_VM_RECREATE, FZ_RMMOD, FZ_PAIR, FZ_NR_ACTIONS
};

static const char *const fz_action_name[FZ_NR_ACTIONS] = {
	"SESSION_NEW", "SET_KEY", "GET", "GET(dump)", "DEL", "genl(raw)",
	"open", "close", "ATTACH", "SEAL", "SEAL_STATE", "END_ROUND", "COMMIT",
	"OPEN", "ioctl(raw)", "vcpu run", "harvest", "memslot", "VM recreate",
	"rmmod", "pair",
};

/* How often each action is drawn when fresh, relative to the others. */
static const unsigned int fz_weight[FZ_NR_ACTIONS] = {
	[FZ_NEW] = 80, [FZ_SET_KEY] = 80, [FZ_GET] = 40, [FZ_DUMP] = 15,
	[FZ_DEL] = 15, [FZ_GENL_RAW] = 70, [FZ_OPEN_DEV] = 50,
	[FZ_CLOSE_DEV] = 25, [FZ_ATTACH] = 50, [FZ_SEAL] = 150,
	[FZ_SEAL_STATE] = 30, [FZ_END_ROUND] = 50, [FZ_COMMIT] = 50,
	[FZ_OPEN_REC] = 150, [FZ_IOCTL_RAW] = 40, [FZ_VCPU_RUN] = 30,
	[FZ_HARVEST] = 25, [FZ_SLOT] = 10, [FZ_VM_RECREATE] = 1,
	[FZ_RMMOD] = 1, [FZ_PAIR] = 60,
};

/* One step: an action and the numbers and bytes it draws from. */
struct fz_input {
	__u8 action;
	__u8 mode;		/* 0 valid, 1 almost valid, 2 random */
	__u16 len;
	__u32 n[6];
	__u8 blob[FZ_BLOB];
};

struct fz_session {
	__u32 id;		/* 0: free */
	__u8 role, state, ticket[TRUSTMIG_TICKET_LEN];
	bool keyed, ticket_used;
	__u64 records, failures;
};

struct fz_file {
	pthread_rwlock_t rw;	/* read: a call on fd; write: (re)open, close, attach */
	int fd;			/* -1: closed */
	bool attached;
	__u32 session;		/* id it attached to */
	pthread_mutex_t stream_lock;	/* several sealers share a file */
	__u8 *stream;		/* what it sealed, for OPEN to replay */
	size_t stream_len;
};

/* A source file and a destination file keyed alike: OPEN replays one into the other. */
struct fz_pair {
	unsigned int src, dst;	/* indices into fz.files */
	size_t opened;		/* bytes of src's stream opened so far */
};

struct fz_vm {
	pthread_mutex_t lock;	/* vCPU, harvest, memslot changes */
	struct tvm vm;
	bool ok;
	void *slot1;		/* slot 1's memory while it exists */
	struct kvm_userspace_memory_region slot1_region;
	unsigned long *bitmap;	/* the last harvest */
};

struct fz_thread {
	pthread_t thread;
	unsigned int idx;
	__u64 rng;
	struct tnl t;
	unsigned int tnl_gen;
	struct tnl_reply *r;
	__u8 *out;		/* FZ_OUT bytes, for the kernel to write */
	int kcov_fd;
	unsigned long *kcov;
	__u64 steps;
	atomic_int action;
	atomic_llong step_start;	/* CLOCK_MONOTONIC s, 0 between steps */
};

static struct {
	__u64 seed;
	unsigned int seconds, nthreads;
	time_t deadline;
	/* Steps hold it for reading; rmmod and VM recreation for writing. */
	pthread_rwlock_t world;
	pthread_mutex_t lock;		/* sessions, corpus */
	/*
	 * Held across a GET and the model's update from it: replies are
	 * recorded in the order the kernel produced them.
	 */
	pthread_mutex_t observe;
	struct fz_session sessions[FZ_SESSIONS];
	struct fz_file files[FZ_FILES];
	struct fz_vm vms[2];		/* 0: source (vCPU), 1: destination */
	struct fz_pair pairs[FZ_PAIRS];
	unsigned int npairs;		/* under lock */
	__u8 keys[FZ_KEYS][TRUSTMIG_KEY_LEN];
	__u8 salts[FZ_KEYS][TRUSTMIG_SALT_LEN];
	unsigned int gen;		/* module loads */
	/* Coverage: one byte per byte of the module's text. */
	unsigned long text_start, text_len;
	atomic_uchar *seen;
	atomic_ulong pcs;
	struct fz_input *corpus;
	unsigned int ncorpus;
	atomic_ulong execs, violations, reloads, hangs;
	atomic_ulong count[FZ_NR_ACTIONS], ok[FZ_NR_ACTIONS];
} fz;

static __u64 fz_rand(struct fz_thread *t)
{
	__u64 z = (t->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static __u32 fz_below(struct fz_thread *t, __u32 n)
{
	return n ? fz_rand(t) % n : 0;
}

static void fz_bytes(struct fz_thread *t, void *p, size_t len)
{
	__u8 *b = p;

	while (len--)
		*b++ = fz_rand(t);
}

static void fz_violation(struct fz_thread *t, const struct fz_input *in,
			 const char *what)
{
	atomic_fetch_add(&fz.violations, 1);
	printf("# VIOLATION (seed 0x%llx, thread %u, step %llu, %s): %s\n",
	       (unsigned long long)fz.seed, t->idx,
	       (unsigned long long)t->steps, fz_action_name[in->action], what);
	fflush(stdout);
}

/* No byte string the kernel hands back may contain a key. */
static void fz_no_key(struct fz_thread *t, const struct fz_input *in,
		      const void *buf, size_t len, const char *where)
{
	char what[128];

	if (len >= FZ_MARK_LEN && memmem(buf, len, FZ_KEY_MARK, FZ_MARK_LEN)) {
		snprintf(what, sizeof(what), "a key in %s", where);
		fz_violation(t, in, what);
	}
}

/* ---- the session model ------------------------------------------------ */

static struct fz_session *fz_session_find(__u32 id)
{
	int i;

	for (i = 0; i < FZ_SESSIONS; i++)
		if (id && fz.sessions[i].id == id)
			return &fz.sessions[i];
	return NULL;
}

/* A session SESSION_NEW made; its role is learnt from the first GET. */
static void fz_session_add(__u32 id, const __u8 *ticket, struct fz_thread *t)
{
	struct fz_session *s = NULL;
	int i;

	pthread_mutex_lock(&fz.lock);
	for (i = 0; i < FZ_SESSIONS && !s; i++)
		if (!fz.sessions[i].id)
			s = &fz.sessions[i];
	if (!s)
		s = &fz.sessions[fz_below(t, FZ_SESSIONS)];
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->state = TRUSTMIG_STATE_NEW;
	memcpy(s->ticket, ticket, TRUSTMIG_TICKET_LEN);
	pthread_mutex_unlock(&fz.lock);
}

/* A session id to act on: mostly one we know, sometimes any number. */
static __u32 fz_pick_id(struct fz_thread *t, const struct fz_input *in)
{
	__u32 id;

	if (in->mode == 2)
		return in->n[0] % 4 ? in->n[1] : 0;
	pthread_mutex_lock(&fz.lock);
	id = fz.sessions[in->n[0] % FZ_SESSIONS].id;
	pthread_mutex_unlock(&fz.lock);
	return id ?: in->n[1] % 64;
}

static bool fz_last_failed(__u32 id)
{
	struct fz_session *s;
	bool failed;

	pthread_mutex_lock(&fz.lock);
	s = fz_session_find(id);
	failed = s && s->state == TRUSTMIG_STATE_FAILED;
	pthread_mutex_unlock(&fz.lock);
	return failed;
}

/* Is @to a state session @from may move to (or stay in)? */
static bool fz_forward(__u8 from, __u8 to)
{
	if (from == TRUSTMIG_STATE_COMPLETE || from == TRUSTMIG_STATE_FAILED)
		return to == from;
	return to >= from;
}

/* Checks what GET says about a session against what we saw before. */
static void fz_observe(struct fz_thread *t, const struct fz_input *in,
		       const struct tnl_session *now)
{
	struct fz_session *s;
	char what[160] = "";

	pthread_mutex_lock(&fz.lock);
	s = fz_session_find(now->id);
	if (s) {
		if (!fz_forward(s->state, now->state))
			snprintf(what, sizeof(what), "session %u went from state %u to %u",
				 now->id, s->state, now->state);
		else if (now->records < s->records || now->failures < s->failures)
			snprintf(what, sizeof(what), "session %u: counters went back",
				 now->id);
		else if (s->role && now->role != s->role)
			snprintf(what, sizeof(what), "session %u changed role", now->id);
		s->role = now->role;
		s->state = now->state;
		s->records = now->records;
		s->failures = now->failures;
	}
	pthread_mutex_unlock(&fz.lock);
	if (what[0])
		fz_violation(t, in, what);
}

static void fz_refresh(struct fz_thread *t, const struct fz_input *in, __u32 id)
{
	struct tnl_session s;

	if (!id)
		return;
	pthread_mutex_lock(&fz.observe);
	if (!tnl_get(&t->t, id, &s))
		fz_observe(t, in, &s);
	pthread_mutex_unlock(&fz.observe);
}

/* ---- generic netlink ----------------------------------------------------- */

static void fz_key_material(struct fz_thread *t, const struct fz_input *in,
			    __u8 *key, __u8 *salt, __u32 *stream)
{
	unsigned int k = in->n[2] % FZ_KEYS;

	memcpy(key, fz.keys[k], TRUSTMIG_KEY_LEN);
	memcpy(salt, fz.salts[k], TRUSTMIG_SALT_LEN);
	*stream = 1000 + k;
}

static int fz_send(struct fz_thread *t, const struct fz_input *in,
		   struct nl_msg *msg)
{
	int err;

	if (!msg)
		return -ENOMEM;
	err = tnl_send(&t->t, msg, t->r);
	fz_no_key(t, in, t->r->raw, t->r->raw_len, "a netlink reply");
	return err;
}

static int fz_new(struct fz_thread *t, const struct fz_input *in)
{
	__u8 role = in->n[1] % 2 ? TRUSTMIG_ROLE_DEST : TRUSTMIG_ROLE_SOURCE;
	__u8 cipher = in->n[2] % 2 ? TRUSTMIG_CIPHER_CHACHA20POLY1305 :
				     TRUSTMIG_CIPHER_AES256GCM;
	struct nl_msg *msg = tnl_msg(&t->t, TRUSTMIG_CMD_SESSION_NEW, 0);
	int err;

	if (msg && in->mode == 0) {
		nla_put_u8(msg, TRUSTMIG_A_ROLE, role);
		nla_put_u8(msg, TRUSTMIG_A_CIPHER, cipher);
	} else if (msg) {
		nla_put_u8(msg, TRUSTMIG_A_ROLE, in->n[1]);
		if (in->n[3] % 2)
			nla_put(msg, TRUSTMIG_A_CIPHER, in->n[2] % 4, in->blob);
	}
	err = fz_send(t, in, msg);
	if (!err && t->r->nr && t->r->has_ticket)
		fz_session_add(t->r->s[0].id, t->r->ticket, t);
	return err;
}

static int fz_set_key(struct fz_thread *t, const struct fz_input *in)
{
	__u8 key[TRUSTMIG_KEY_LEN], salt[TRUSTMIG_SALT_LEN];
	__u32 id = fz_pick_id(t, in), stream;
	struct nl_msg *msg = tnl_msg(&t->t, TRUSTMIG_CMD_SESSION_SET_KEY, 0);
	bool failed = fz_last_failed(id), was_keyed;
	struct fz_session *s;
	int err;

	fz_key_material(t, in, key, salt, &stream);
	if (msg) {
		nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, id);
		nla_put_u32(msg, TRUSTMIG_A_STREAM_ID, stream);
		/* Almost valid: a key or salt one byte short or long. */
		nla_put(msg, TRUSTMIG_A_KEY, TRUSTMIG_KEY_LEN +
			(in->mode == 1 ? (int)(in->n[3] % 3) - 1 : 0), key);
		if (in->mode != 2 || in->n[3] % 2)
			nla_put(msg, TRUSTMIG_A_SALT, TRUSTMIG_SALT_LEN, salt);
	}
	pthread_mutex_lock(&fz.lock);
	s = fz_session_find(id);
	was_keyed = s && s->keyed;
	pthread_mutex_unlock(&fz.lock);
	err = fz_send(t, in, msg);
	memset(key, 0, sizeof(key));
	if (!err && failed)
		fz_violation(t, in, "SET_KEY accepted by a failed session");
	if (!err && was_keyed)
		fz_violation(t, in, "a second SET_KEY accepted");
	if (!err) {
		pthread_mutex_lock(&fz.lock);
		s = fz_session_find(id);
		if (s)
			s->keyed = true;
		pthread_mutex_unlock(&fz.lock);
	}
	fz_refresh(t, in, id);
	return err;
}

static int fz_get(struct fz_thread *t, const struct fz_input *in, bool dump)
{
	struct nl_msg *msg = tnl_msg(&t->t, TRUSTMIG_CMD_SESSION_GET,
				     dump ? NLM_F_DUMP : 0);
	int err, i;

	if (msg && !dump)
		nla_put_u32(msg, TRUSTMIG_A_SESSION_ID, fz_pick_id(t, in));
	pthread_mutex_lock(&fz.observe);
	err = fz_send(t, in, msg);
	for (i = 0; !err && i < t->r->nr; i++)
		fz_observe(t, in, &t->r->s[i]);
	pthread_mutex_unlock(&fz.observe);
	return err;
}

static int fz_del(struct fz_thread *t, const struct fz_input *in)
{
	__u32 id = fz_pick_id(t, in);
	int err = tnl_del(&t->t, id);
	struct fz_session *s;

	if (!err) {
		pthread_mutex_lock(&fz.lock);
		s = fz_session_find(id);
		if (s)
			s->id = 0;
		pthread_mutex_unlock(&fz.lock);
	}
	return err;
}

/* Any command, version and flags, with attributes of any type and length. */
static int fz_genl_raw(struct fz_thread *t, const struct fz_input *in)
{
	struct nl_msg *msg = tnl_msg(&t->t, in->n[0] % 10,
				     in->n[1] % 4 ? 0 : NLM_F_DUMP);
	unsigned int off = 0, len, type;

	if (!msg)
		return -ENOMEM;
	if (in->mode == 2)
		genlmsg_hdr(nlmsg_hdr(msg))->version = in->n[2];
	while (off < in->len) {
		type = in->blob[off] % (TRUSTMIG_A_MAX + 3);
		if (in->blob[off] & 0x80)
			type |= NLA_F_NESTED;
		len = off + 1 < in->len ? in->blob[off + 1] % 40 : 0;
		off += 2;
		if (off + len > in->len)
			len = in->len - off;
		nla_put(msg, type, len, in->blob + off);
		off += len;
	}
	return fz_send(t, in, msg);
}

/* ---- /dev/trustmig ---------------------------------------------------------- */

/* Under @f->rw held for writing: @fd (or -1), attached to @session if not 0. */
static void fz_file_reset(struct fz_file *f, int fd, __u32 session)
{
	if (f->fd >= 0 && f->fd != fd)
		close(f->fd);
	f->fd = fd;
	f->attached = session != 0;
	f->session = session;
	f->stream_len = 0;
}

/* Under fz.lock: the session's ticket is spent (the kernel erased it). */
static void fz_ticket_used(__u32 id)
{
	struct fz_session *s = fz_session_find(id);

	if (s)
		s->ticket_used = true;
}

static struct fz_file *fz_pick_file(const struct fz_input *in)
{
	return &fz.files[in->n[4] % FZ_FILES];
}

static int fz_open_dev(struct fz_thread *t, const struct fz_input *in)
{
	struct fz_file *f = fz_pick_file(in);
	int fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	pthread_rwlock_wrlock(&f->rw);
	fz_file_reset(f, fd, 0);
	pthread_rwlock_unlock(&f->rw);
	return 0;
}

static int fz_close_dev(struct fz_thread *t, const struct fz_input *in)
{
	struct fz_file *f = fz_pick_file(in);
	__u32 id;

	pthread_rwlock_wrlock(&f->rw);
	id = f->session;
	fz_file_reset(f, -1, 0);
	pthread_rwlock_unlock(&f->rw);
	fz_refresh(t, in, id);
	return 0;
}

static int fz_attach(struct fz_thread *t, const struct fz_input *in)
{
	struct fz_file *f = fz_pick_file(in);
	struct fz_vm *v = &fz.vms[in->n[2] % 2];
	struct trustmig_attach a = { .session_id = fz_pick_id(t, in) };
	bool right_ticket = false, failed = fz_last_failed(a.session_id);
	struct fz_session *s;
	int err;

	pthread_mutex_lock(&fz.lock);
	s = fz_session_find(a.session_id);
	if (s && in->mode == 0) {
		memcpy(a.ticket, s->ticket, sizeof(a.ticket));
		right_ticket = !s->ticket_used;
	} else {
		memcpy(a.ticket, in->blob, sizeof(a.ticket));
	}
	pthread_mutex_unlock(&fz.lock);
	/* Valid means valid: a spent ticket would only fail the session. */
	if (in->mode == 0 && !right_ticket)
		return -EALREADY;
	a.vm_fd = in->mode == 2 ? (int)(in->n[3] % 16) - 1 : v->vm.vm_fd;
	/* Lanes past TRUSTMIG_LANES_MAX, and 0, are refused. */
	a.lanes = in->mode == 2 ? in->n[4] % (TRUSTMIG_LANES_MAX + 2) : 1;

	pthread_rwlock_wrlock(&f->rw);
	err = ioctl(f->fd, TRUSTMIG_ATTACH, &a) ? -errno : 0;
	if (!err && f->attached)
		fz_violation(t, in, "a file attached twice");
	if (!err && !right_ticket)
		fz_violation(t, in, "ATTACH with a ticket not the session's");
	if (!err && failed)
		fz_violation(t, in, "ATTACH to a failed session");
	if (!err) {
		fz_file_reset(f, f->fd, a.session_id);
		pthread_mutex_lock(&fz.lock);
		fz_ticket_used(a.session_id);
		pthread_mutex_unlock(&fz.lock);
	}
	pthread_rwlock_unlock(&f->rw);
	fz_refresh(t, in, a.session_id);
	return err;
}

/* Keeps what a source file sealed, for OPEN to replay on destinations. */
static void fz_keep(struct fz_file *f, const __u8 *out, size_t len)
{
	pthread_mutex_lock(&f->stream_lock);
	if (!f->stream)
		f->stream = malloc(FZ_STREAM_MAX);
	if (f->stream && len <= FZ_STREAM_MAX) {
		if (f->stream_len + len > FZ_STREAM_MAX)
			f->stream_len = 0;
		memcpy(f->stream + f->stream_len, out, len);
		f->stream_len += len;
	}
	pthread_mutex_unlock(&f->stream_lock);
}

/* An output buffer: mostly the whole of ours, sometimes a boundary. */
static void fz_out(struct fz_thread *t, const struct fz_input *in,
		   struct trustmig_out *o)
{
	static const __u64 lens[] = { 0, 1, 4095, 4096, 4096 + 40, 65536 };

	o->buf = (unsigned long)t->out;
	o->buf_len = FZ_OUT;
	if (in->mode == 1)
		o->buf_len = lens[in->n[5] % ARRAY_SIZE(lens)];
	if (in->mode == 2) {
		o->buf = in->n[5] % 3 ? o->buf + in->n[3] % 64 : in->n[5];
		o->buf_len = in->n[3] % 2 ? in->n[5] : ~0ULL;
		o->lane = in->n[3] % 5 == 0;
	}
}

/* A data-path call on @f's fd; the caller holds @f->rw.  0 or -errno. */
static int fz_data_call(struct fz_thread *t, const struct fz_input *in,
			struct fz_file *f, unsigned long cmd, void *arg,
			struct trustmig_out *o)
{
	bool failed = f->attached && fz_last_failed(f->session);
	int err;

	err = ioctl(f->fd, cmd, arg) ? -errno : 0;
	if (!err && failed)
		fz_violation(t, in, "a failed session took a data-path call");
	if (!err && !f->attached)
		fz_violation(t, in, "an unattached file took a data-path call");
	if (o && o->buf == (unsigned long)t->out) {
		fz_no_key(t, in, t->out, o->buf_len < FZ_OUT ? o->buf_len : FZ_OUT,
			  "a sealed stream");
		if (!err && o->bytes <= FZ_OUT)
			fz_keep(f, t->out, o->bytes);
	}
	return err;
}

/* @cmd on a file of the pool, under its read lock. */
static int fz_file_ioctl(struct fz_thread *t, const struct fz_input *in,
			 unsigned long cmd, void *arg, struct trustmig_out *o)
{
	struct fz_file *f = fz_pick_file(in);
	__u32 id;
	int err;

	pthread_rwlock_rdlock(&f->rw);
	id = f->session;
	err = fz_data_call(t, in, f, cmd, arg, o);
	pthread_rwlock_unlock(&f->rw);
	fz_refresh(t, in, id);
	return err;
}

static int fz_seal(struct fz_thread *t, const struct fz_input *in)
{
	struct fz_vm *v = &fz.vms[0];
	struct trustmig_seal s = {
		.slot = in->mode == 2 ? in->n[0] : in->n[0] % 2,
		.flags = in->mode == 2 ? in->n[1] : in->n[1] % 2,
	};

	/* The VMM's bitmap: the last harvest, a random one, or none. */
	if (in->n[2] % 3 == 1)
		s.dirty_bitmap = (unsigned long)v->bitmap;
	else if (in->n[2] % 3 == 2)
		s.dirty_bitmap = in->mode == 2 ? in->n[3] : (unsigned long)in->blob;
	fz_out(t, in, &s.out);
	return fz_file_ioctl(t, in, TRUSTMIG_SEAL, &s, &s.out);
}

static int fz_seal_state(struct fz_thread *t, const struct fz_input *in)
{
	struct trustmig_seal_state s = {
		.data = (unsigned long)in->blob,
		.len = in->mode == 0 ? in->len % FZ_BLOB + 1 : in->n[0],
	};

	fz_out(t, in, &s.out);
	return fz_file_ioctl(t, in, TRUSTMIG_SEAL_STATE, &s, &s.out);
}

static int fz_control(struct fz_thread *t, const struct fz_input *in,
		      unsigned long cmd)
{
	struct trustmig_out o;

	memset(&o, 0, sizeof(o));
	fz_out(t, in, &o);
	return fz_file_ioctl(t, in, cmd, &o, &o);
}

/*
 * A whole valid migration set-up in one step: a source and a destination
 * session keyed alike, each attached through a fresh file, source to VM
 * 0 and destination to VM 1.  Most data-path calls need one.
 */
static int fz_pair(struct fz_thread *t, const struct fz_input *in)
{
	unsigned int a = in->n[0] % FZ_FILES, b = (a + 1 + in->n[1] % (FZ_FILES - 1)) % FZ_FILES;
	struct fz_file *fs = &fz.files[a], *fd = &fz.files[b];
	__u8 key[TRUSTMIG_KEY_LEN], salt[TRUSTMIG_SALT_LEN];
	struct fz_input sub = *in;
	struct tmig_end src = { .fd = -1 }, dst = { .fd = -1 };
	__u8 cipher = in->n[2] % 2 ? TRUSTMIG_CIPHER_CHACHA20POLY1305 :
				     TRUSTMIG_CIPHER_AES256GCM;
	__u32 stream;
	int err;

	fz_key_material(t, in, key, salt, &stream);
	err = tnl_new(&t->t, TRUSTMIG_ROLE_SOURCE, cipher, &src.id, src.ticket) ?:
	      tnl_new(&t->t, TRUSTMIG_ROLE_DEST, cipher, &dst.id, dst.ticket);
	if (src.id)
		fz_session_add(src.id, src.ticket, t);
	if (dst.id)
		fz_session_add(dst.id, dst.ticket, t);
	if (!err)
		err = tnl_set_key(&t->t, src.id, stream, key, salt) ?:
		      tnl_set_key(&t->t, dst.id, stream, key, salt);
	memset(key, 0, sizeof(key));
	if (err)
		return err;
	/* Files in index order: OPEN takes two of them the same way. */
	pthread_rwlock_wrlock(&fz.files[a < b ? a : b].rw);
	pthread_rwlock_wrlock(&fz.files[a < b ? b : a].rw);
	src.fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR | O_CLOEXEC);
	dst.fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR | O_CLOEXEC);
	err = src.fd < 0 || dst.fd < 0 ? -EMFILE :
	      tmig_attach(&src, fz.vms[0].vm.vm_fd, src.ticket) ?:
	      tmig_attach(&dst, fz.vms[1].vm.vm_fd, dst.ticket);
	if (!err) {
		fz_file_reset(fs, src.fd, src.id);
		fz_file_reset(fd, dst.fd, dst.id);
	} else {
		if (src.fd >= 0)
			close(src.fd);
		if (dst.fd >= 0)
			close(dst.fd);
	}
	pthread_rwlock_unlock(&fz.files[a].rw);
	pthread_rwlock_unlock(&fz.files[b].rw);
	if (!err) {
		pthread_mutex_lock(&fz.lock);
		fz_ticket_used(src.id);
		fz_ticket_used(dst.id);
		fz.pairs[fz.npairs < FZ_PAIRS ? fz.npairs++ : in->n[3] % FZ_PAIRS] =
			(struct fz_pair){ .src = a, .dst = b };
		pthread_mutex_unlock(&fz.lock);
	}
	sub.action = FZ_ATTACH;
	fz_refresh(t, &sub, src.id);
	fz_refresh(t, &sub, dst.id);
	return err;
}

/*
 * OPEN on a destination file.  Valid: the rest of its pair's source
 * stream.  Almost valid: that, one bit flipped, or from another file at
 * any offset.  Random: any bytes.
 */
static int fz_open_rec(struct fz_thread *t, const struct fz_input *in)
{
	struct fz_pair pair = { .src = in->n[0] % FZ_FILES, .dst = in->n[4] % FZ_FILES };
	struct fz_file *src, *dst;
	struct trustmig_open o;
	size_t len = 0, off = 0;
	bool paired = false;
	__u8 state[512];
	int err;

	pthread_mutex_lock(&fz.lock);
	if (fz.npairs && in->mode < 2 && in->n[1] % 4) {
		pair = fz.pairs[in->n[0] % fz.npairs];
		paired = true;
	}
	pthread_mutex_unlock(&fz.lock);
	src = &fz.files[pair.src];
	dst = &fz.files[pair.dst];
	if (pair.src == pair.dst)
		return -EINVAL;
	pthread_rwlock_rdlock(&fz.files[pair.src < pair.dst ? pair.src : pair.dst].rw);
	pthread_rwlock_rdlock(&fz.files[pair.src < pair.dst ? pair.dst : pair.src].rw);
	pthread_mutex_lock(&src->stream_lock);
	if (src->stream && src->stream_len) {
		if (paired)
			off = pair.opened <= src->stream_len ? pair.opened : 0;
		else
			off = in->n[1] % src->stream_len;
		len = src->stream_len - off;
		if (len > FZ_OUT)
			len = FZ_OUT;
		memcpy(t->out, src->stream + off, len);
	}
	pthread_mutex_unlock(&src->stream_lock);
	if (in->mode == 1 && len)
		t->out[in->n[2] % len] ^= 1 << (in->n[3] % 8);
	if (in->mode == 2 || !len) {
		len = in->len;
		memcpy(t->out, in->blob, len);
	}
	memset(&o, 0, sizeof(o));
	o.buf = (unsigned long)t->out;
	o.buf_len = in->n[5] % 8 ? len : in->n[5] % (len + 1);
	o.flags = in->n[4] % 5 ? 0 : TRUSTMIG_OPEN_EOF;
	if (in->n[3] % 2) {
		o.state_buf = (unsigned long)state;
		o.state_len = in->mode == 2 ? in->n[3] : sizeof(state);
	}
	err = fz_data_call(t, in, dst, TRUSTMIG_OPEN, &o, NULL);
	pthread_rwlock_unlock(&fz.files[pair.src].rw);
	pthread_rwlock_unlock(&fz.files[pair.dst].rw);
	fz_refresh(t, in, dst->session);
	if (!err && o.state_buf == (unsigned long)state)
		fz_no_key(t, in, state, sizeof(state), "a STATE payload");
	if (paired && !err) {
		pthread_mutex_lock(&fz.lock);
		for (off = 0; off < fz.npairs; off++)
			if (fz.pairs[off].src == pair.src && fz.pairs[off].dst == pair.dst)
				fz.pairs[off].opened = pair.opened + o.consumed;
		pthread_mutex_unlock(&fz.lock);
	}
	return err;
}

/* Any ioctl number of ours or near it, with any argument. */
static int fz_ioctl_raw(struct fz_thread *t, const struct fz_input *in)
{
	unsigned long cmd = _IOC(in->n[0] % 4, in->n[1] % 3 ? TRUSTMIG_IOC_MAGIC :
				 in->n[1] & 0xff, in->n[2] % 12, in->n[3] % 128);
	struct fz_file *f = fz_pick_file(in);
	void *arg = in->mode == 2 ? (void *)(unsigned long)in->n[5] : t->out;
	int err;

	memcpy(t->out, in->blob, FZ_BLOB);
	pthread_rwlock_rdlock(&f->rw);
	err = ioctl(f->fd, cmd, arg) ? -errno : 0;
	pthread_rwlock_unlock(&f->rw);
	fz_no_key(t, in, t->out, FZ_BLOB, "an ioctl argument");
	return err;
}

/* ---- the VMs ------------------------------------------------------------- */

static int fz_vm_create(struct fz_vm *v, bool with_vcpu)
{
	int err = tvm_create(&v->vm, FZ_VM_SIZE, with_vcpu);

	v->ok = !err;
	if (!err && !v->bitmap)
		v->bitmap = calloc(1, tvm_bitmap_bytes(v->vm.npages));
	if (!err && with_vcpu)
		tvm_fill(&v->vm, fz.seed);
	return err;
}

static void fz_vm_destroy(struct fz_vm *v)
{
	if (v->slot1)
		munmap(v->slot1, FZ_SLOT1_SIZE);
	v->slot1 = NULL;
	if (v->ok)
		tvm_destroy(&v->vm);
	v->ok = false;
}

static int fz_vcpu_run(struct fz_thread *t, const struct fz_input *in)
{
	struct fz_vm *v = &fz.vms[0];
	__u32 first = 1 + in->n[0] % (v->vm.npages - 1);
	int err;

	pthread_mutex_lock(&v->lock);
	err = tvm_run_pass(&v->vm, first, 1 + in->n[1] % (v->vm.npages - first),
			   1 + in->n[2] % 8);
	pthread_mutex_unlock(&v->lock);
	return err;
}

static int fz_harvest(struct fz_thread *t, const struct fz_input *in)
{
	struct fz_vm *v = &fz.vms[0];
	int err;

	pthread_mutex_lock(&v->lock);
	err = tvm_harvest(&v->vm, v->bitmap);
	pthread_mutex_unlock(&v->lock);
	return err;
}

/* Slot 1 comes and goes, or changes its flags, under the sessions' feet. */
static int fz_slot(struct fz_thread *t, const struct fz_input *in)
{
	struct fz_vm *v = &fz.vms[in->n[0] % 2];
	struct kvm_userspace_memory_region *r = &v->slot1_region;
	int err = 0;

	pthread_mutex_lock(&v->lock);
	if (!v->slot1) {
		v->slot1 = tvm_add_slot(&v->vm, 1, FZ_SLOT1_GPA, FZ_SLOT1_SIZE, r);
		err = v->slot1 ? 0 : -errno;
	} else if (in->n[1] % 2) {
		r->flags ^= KVM_MEM_LOG_DIRTY_PAGES;
		err = ioctl(v->vm.vm_fd, KVM_SET_USER_MEMORY_REGION, r) ? -errno : 0;
	} else {
		r->memory_size = 0;
		err = ioctl(v->vm.vm_fd, KVM_SET_USER_MEMORY_REGION, r) ? -errno : 0;
		munmap(v->slot1, FZ_SLOT1_SIZE);
		v->slot1 = NULL;
	}
	pthread_mutex_unlock(&v->lock);
	return err;
}

/* Under the world lock held for writing: nobody is in a step. */
static int fz_vm_recreate(struct fz_thread *t, const struct fz_input *in)
{
	unsigned int i = in->n[0] % 2;

	fz_vm_destroy(&fz.vms[i]);
	return fz_vm_create(&fz.vms[i], i == 0);
}

/*
 * Under the world lock held for writing.  One time in eight every file
 * is closed first, so the unload can succeed; then the module is loaded
 * again and the model starts over.
 */
static int fz_rmmod(struct fz_thread *t, const struct fz_input *in)
{
	int i, err;

	if (in->n[0] % 8 == 0)
		for (i = 0; i < FZ_FILES; i++)
			fz_file_reset(&fz.files[i], -1, 0);
	err = tmig_module_unload("trustmig");
	if (err)
		return err;
	err = tmig_trustmig_load();
	if (err) {
		fz_violation(t, in, "the module does not load again after rmmod");
		return err;
	}
	memset(fz.sessions, 0, sizeof(fz.sessions));
	fz.npairs = 0;
	fz.gen++;
	atomic_fetch_add(&fz.reloads, 1);
	return 0;
}

/* ---- coverage ---------------------------------------------------------- */

/* The module's text, from /proc/kallsyms (nokaslr: KCOV's PCs as is). */
static void fz_text_range(void)
{
	unsigned long addr, lo = ~0UL, hi = 0;
	char line[256], type;
	FILE *f = fopen("/proc/kallsyms", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, "[trustmig]") ||
		    sscanf(line, "%lx %c", &addr, &type) != 2 ||
		    (type != 't' && type != 'T') || !addr)
			continue;
		lo = addr < lo ? addr : lo;
		hi = addr > hi ? addr : hi;
	}
	if (f)
		fclose(f);
	if (hi > lo) {
		fz.text_start = lo;
		fz.text_len = hi - lo + 65536;
	}
}

static void fz_kcov_open(struct fz_thread *t)
{
	t->kcov_fd = open("/sys/kernel/debug/kcov", O_RDWR | O_CLOEXEC);
	if (t->kcov_fd < 0)
		return;
	if (ioctl(t->kcov_fd, KCOV_INIT_TRACE, FZ_KCOV_WORDS))
		goto err;
	t->kcov = mmap(NULL, FZ_KCOV_WORDS * sizeof(long),
		       PROT_READ | PROT_WRITE, MAP_SHARED, t->kcov_fd, 0);
	if (t->kcov == MAP_FAILED)
		goto err;
	if (!ioctl(t->kcov_fd, KCOV_ENABLE, KCOV_TRACE_PC))
		return;
	munmap(t->kcov, FZ_KCOV_WORDS * sizeof(long));
err:
	t->kcov = NULL;
	close(t->kcov_fd);
	t->kcov_fd = -1;
}

/* New PCs in trustmig.ko since the last reset of this thread's trace. */
static unsigned int fz_kcov_new(struct fz_thread *t)
{
	unsigned long n, i, off;
	unsigned int fresh = 0;

	if (!t->kcov || !fz.seen)
		return 0;
	n = __atomic_load_n(&t->kcov[0], __ATOMIC_RELAXED);
	for (i = 1; i <= n && i < FZ_KCOV_WORDS; i++) {
		off = t->kcov[i] - fz.text_start;
		if (off >= fz.text_len || atomic_exchange(&fz.seen[off], 1))
			continue;
		fresh++;
	}
	atomic_fetch_add(&fz.pcs, fresh);
	return fresh;
}

/* ---- the loop -------------------------------------------------------------- */

static void fz_fresh(struct fz_thread *t, struct fz_input *in)
{
	unsigned int total = 0, w, a = 0;
	int i;

	for (i = 0; i < FZ_NR_ACTIONS; i++)
		total += fz_weight[i];
	w = fz_below(t, total);
	while (w >= fz_weight[a])
		w -= fz_weight[a++];
	in->action = a;
	in->mode = fz_below(t, 10) < 6 ? 0 : fz_below(t, 2) + 1;
	for (i = 0; i < 6; i++)
		in->n[i] = fz_rand(t);
	in->len = fz_below(t, FZ_BLOB + 1);
	fz_bytes(t, in->blob, FZ_BLOB);
}

/* Half the inputs: a corpus entry, some numbers or bytes changed. */
static void fz_next(struct fz_thread *t, struct fz_input *in)
{
	unsigned int i, k;

	pthread_mutex_lock(&fz.lock);
	k = fz.ncorpus;
	if (k && fz_below(t, 2))
		*in = fz.corpus[fz_below(t, k)];
	pthread_mutex_unlock(&fz.lock);
	if (!k || fz_below(t, 2) == 0) {
		fz_fresh(t, in);
		return;
	}
	for (i = fz_below(t, 4) + 1; i; i--) {
		switch (fz_below(t, 4)) {
		case 0:
			in->n[fz_below(t, 6)] = fz_rand(t);
			break;
		case 1:
			in->blob[fz_below(t, FZ_BLOB)] ^= 1 << fz_below(t, 8);
			break;
		case 2:
			in->len = fz_below(t, FZ_BLOB + 1);
			break;
		default:
			in->mode = fz_below(t, 3);
			break;
		}
	}
}

static int fz_step(struct fz_thread *t, const struct fz_input *in)
{
	switch (in->action) {
	case FZ_NEW:		return fz_new(t, in);
	case FZ_SET_KEY:	return fz_set_key(t, in);
	case FZ_GET:		return fz_get(t, in, false);
	case FZ_DUMP:		return fz_get(t, in, true);
	case FZ_DEL:		return fz_del(t, in);
	case FZ_GENL_RAW:	return fz_genl_raw(t, in);
	case FZ_OPEN_DEV:	return fz_open_dev(t, in);
	case FZ_CLOSE_DEV:	return fz_close_dev(t, in);
	case FZ_ATTACH:		return fz_attach(t, in);
	case FZ_SEAL:		return fz_seal(t, in);
	case FZ_SEAL_STATE:	return fz_seal_state(t, in);
	case FZ_END_ROUND:	return fz_control(t, in, TRUSTMIG_END_ROUND);
	case FZ_COMMIT:		return fz_control(t, in, TRUSTMIG_COMMIT);
	case FZ_OPEN_REC:	return fz_open_rec(t, in);
	case FZ_IOCTL_RAW:	return fz_ioctl_raw(t, in);
	case FZ_VCPU_RUN:	return fz_vcpu_run(t, in);
	case FZ_HARVEST:	return fz_harvest(t, in);
	case FZ_SLOT:		return fz_slot(t, in);
	case FZ_VM_RECREATE:	return fz_vm_recreate(t, in);
	case FZ_RMMOD:		return fz_rmmod(t, in);
	case FZ_PAIR:		return fz_pair(t, in);
	}
	return -EINVAL;
}

static long long fz_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void *fz_thread_main(void *arg)
{
	struct fz_thread *t = arg;
	struct fz_input in;
	bool exclusive;
	int err;

	fz_kcov_open(t);
	while (time(NULL) < fz.deadline) {
		fz_next(t, &in);
		exclusive = in.action == FZ_VM_RECREATE || in.action == FZ_RMMOD;
		if (exclusive)
			pthread_rwlock_wrlock(&fz.world);
		else
			pthread_rwlock_rdlock(&fz.world);
		/* The family is new after a reload: a new socket for it. */
		if (t->tnl_gen != fz.gen || !t->t.sk) {
			tnl_close(&t->t);
			tnl_open(&t->t);
			t->tnl_gen = fz.gen;
		}
		atomic_store(&t->action, in.action);
		atomic_store(&t->step_start, fz_now());
		if (t->kcov)
			__atomic_store_n(&t->kcov[0], 0, __ATOMIC_RELAXED);
		err = t->t.sk || exclusive ? fz_step(t, &in) : -ENOENT;
		atomic_store(&t->step_start, 0);
		pthread_rwlock_unlock(&fz.world);

		atomic_fetch_add(&fz.count[in.action], 1);
		if (!err)
			atomic_fetch_add(&fz.ok[in.action], 1);
		if (fz_kcov_new(t)) {
			pthread_mutex_lock(&fz.lock);
			if (fz.ncorpus < FZ_CORPUS)
				fz.corpus[fz.ncorpus++] = in;
			pthread_mutex_unlock(&fz.lock);
		}
		atomic_fetch_add(&fz.execs, 1);
		t->steps++;
	}
	if (t->kcov) {
		ioctl(t->kcov_fd, KCOV_DISABLE, 0);
		munmap(t->kcov, FZ_KCOV_WORDS * sizeof(long));
		close(t->kcov_fd);
	}
	tnl_close(&t->t);
	return NULL;
}

/* A step stuck for FZ_HANG_SECONDS: report it with the seed, fail. */
static bool fz_watch(struct fz_thread *threads)
{
	long long start, now = fz_now();
	unsigned int i;

	for (i = 0; i < fz.nthreads; i++) {
		start = atomic_load(&threads[i].step_start);
		if (start && now - start > FZ_HANG_SECONDS) {
			printf("# HANG (seed 0x%llx): thread %u in %s for %lld s\n",
			       (unsigned long long)fz.seed, i,
			       fz_action_name[atomic_load(&threads[i].action)],
			       now - start);
			return true;
		}
	}
	return false;
}

static unsigned long fz_env(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static int fz_setup(void)
{
	int i;

	pthread_rwlock_init(&fz.world, NULL);
	pthread_mutex_init(&fz.lock, NULL);
	pthread_mutex_init(&fz.observe, NULL);
	for (i = 0; i < FZ_FILES; i++) {
		pthread_rwlock_init(&fz.files[i].rw, NULL);
		pthread_mutex_init(&fz.files[i].stream_lock, NULL);
		fz.files[i].fd = -1;
	}
	for (i = 0; i < FZ_KEYS; i++) {
		if (getrandom(fz.keys[i], TRUSTMIG_KEY_LEN, 0) < 0 ||
		    getrandom(fz.salts[i], TRUSTMIG_SALT_LEN, 0) < 0)
			return -errno;
		memcpy(fz.keys[i], FZ_KEY_MARK, FZ_MARK_LEN);
	}
	for (i = 0; i < 2; i++) {
		pthread_mutex_init(&fz.vms[i].lock, NULL);
		if (fz_vm_create(&fz.vms[i], i == 0))
			return -ENODEV;
	}
	fz.corpus = calloc(FZ_CORPUS, sizeof(*fz.corpus));
	if (!fz.corpus)
		return -ENOMEM;
	fz_text_range();
	if (fz.text_len && !access("/sys/kernel/debug/kcov", R_OK))
		fz.seen = calloc(fz.text_len, 1);
	return 0;
}

/* Everything the run left behind: files, then sessions it knows of. */
static void fz_teardown(void)
{
	struct tnl t;
	int i;

	for (i = 0; i < FZ_FILES; i++) {
		if (fz.files[i].fd >= 0)
			close(fz.files[i].fd);
		free(fz.files[i].stream);
	}
	/* Raw commands make sessions the model never saw: delete them all. */
	if (!tnl_open(&t)) {
		struct tnl_reply *r = malloc(sizeof(*r));
		int rounds = 0;

		while (r && rounds++ < 1000 &&
		       !tnl_send(&t, tnl_msg(&t, TRUSTMIG_CMD_SESSION_GET, NLM_F_DUMP), r) &&
		       r->nr)
			for (i = 0; i < r->nr; i++)
				tnl_del(&t, r->s[i].id);
		free(r);
		tnl_close(&t);
	}
	for (i = 0; i < 2; i++) {
		fz_vm_destroy(&fz.vms[i]);
		free(fz.vms[i].bitmap);
	}
	free(fz.corpus);
	free((void *)fz.seen);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ }
	};
	struct fz_thread *threads;
	unsigned int i;
	bool hung = false;
	int c;

	fz.seed = fz_env("TRUSTMIG_FUZZ_SEED", 0);
	if (!fz.seed && getrandom(&fz.seed, sizeof(fz.seed), 0) < 0)
		fz.seed = time(NULL);
	fz.seconds = fz_env("TRUSTMIG_FUZZ_SECONDS", 180);
	fz.nthreads = fz_env("TRUSTMIG_FUZZ_THREADS", 3);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			fz.seed = strtoull(optarg, NULL, 0);
			break;
		case 'S':
			fz.seconds = strtoul(optarg, NULL, 0);
			break;
		case 't':
			fz.nthreads = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [--seed S] [--seconds N] [--threads T]\n",
				argv[0]);
			return KSFT_FAIL;
		}
	}

	ksft_print_header();
	ksft_set_plan(1);
	if (access("/dev/" TRUSTMIG_DEV_NAME, F_OK))
		ksft_exit_skip("no /dev/trustmig (module not loaded)\n");
	printf("# seed 0x%llx (--seed to replay), %u s, %u threads\n",
	       (unsigned long long)fz.seed, fz.seconds, fz.nthreads);
	fflush(stdout);
	if (fz_setup())
		ksft_exit_fail_msg("setup: VMs or memory\n");
	printf(fz.seen ? "# KCOV: steering by new PCs in trustmig.ko\n" :
			 "# no KCOV here: unsteered\n");

	threads = calloc(fz.nthreads, sizeof(*threads));
	if (!threads)
		ksft_exit_fail_msg("out of memory\n");
	fz.deadline = time(NULL) + fz.seconds;
	for (i = 0; i < fz.nthreads; i++) {
		threads[i].idx = i;
		threads[i].rng = fz.seed + i * 0x9e3779b97f4a7c15ULL;
		threads[i].r = malloc(sizeof(*threads[i].r));
		threads[i].out = mmap(NULL, FZ_OUT, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (!threads[i].r || threads[i].out == MAP_FAILED ||
		    pthread_create(&threads[i].thread, NULL, fz_thread_main,
				   &threads[i]))
			ksft_exit_fail_msg("thread %u\n", i);
	}
	while (time(NULL) < fz.deadline + 5 && !hung) {
		sleep(1);
		hung = fz_watch(threads);
	}
	while (!hung) {
		for (i = 0; i < fz.nthreads; i++)
			if (pthread_tryjoin_np(threads[i].thread, NULL) == EBUSY)
				break;
		if (i == fz.nthreads)
			break;
		sleep(1);
		hung = fz_watch(threads);
	}
	if (hung) {
		atomic_fetch_add(&fz.hangs, 1);
		ksft_test_result_fail("fuzz: a step hung (seed 0x%llx)\n",
				      (unsigned long long)fz.seed);
		ksft_exit_fail();
	}

	for (i = 0; i < FZ_NR_ACTIONS; i++)
		printf("# %-12s %8lu calls, %8lu succeeded\n", fz_action_name[i],
		       atomic_load(&fz.count[i]), atomic_load(&fz.ok[i]));
	printf("# %lu steps in %u s, %lu module reloads, %lu trustmig.ko PCs reached, corpus %u\n",
	       atomic_load(&fz.execs), fz.seconds, atomic_load(&fz.reloads),
	       atomic_load(&fz.pcs), fz.ncorpus);
	fz_teardown();
	for (i = 0; i < fz.nthreads; i++) {
		free(threads[i].r);
		munmap(threads[i].out, FZ_OUT);
	}
	free(threads);
	if (atomic_load(&fz.violations))
		ksft_test_result_fail("fuzz: %lu invariant violations (seed 0x%llx)\n",
				      atomic_load(&fz.violations),
				      (unsigned long long)fz.seed);
	else
		ksft_test_result_pass("fuzz: %lu steps, no invariant violated (seed 0x%llx)\n",
				      atomic_load(&fz.execs),
				      (unsigned long long)fz.seed);
	ksft_finished();
}
