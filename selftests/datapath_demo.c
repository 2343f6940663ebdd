// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig data-path demo: a running KVM guest's memory crosses from VM A
 * to VM B as records sealed and opened by trustmig.ko, over live pre-copy
 * rounds, then one tampered record is shown being refused, and the cost
 * of sealing is measured next to the kernel's raw AEAD transform.
 *
 * It plays the parts the attestation helper (netlink) and the VMM
 * (/dev/trustmig) play in a real migration, on one host.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/if_alg.h>

#include "tmig.h"

#define VM_SIZE		(16UL << 20)
#define MAX_ROUNDS	6

struct writer {
	struct tvm *vm;
	atomic_bool stop;
	atomic_int passes;
	int err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	__u32 stride = 5;

	while (!atomic_load(&w->stop) && !w->err) {
		w->err = tvm_run_pass(w->vm, 1, w->vm->npages / 4, stride);
		stride = stride % 11 + 3;
		atomic_fetch_add(&w->passes, 1);
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const char *what, int err)
{
	fprintf(stderr, "demo: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static int deliver(struct tmig_pair *p, struct tmig_stream *st, size_t *done,
		   __u32 flags)
{
	struct trustmig_open o;
	int err = tmig_open(p->dst.fd, st->buf + *done, st->len - *done, flags,
			    &o);

	if (err)
		return err;
	*done += o.consumed;
	return o.result;
}

static void migrate(struct tnl *t)
{
	struct tvm a, b;
	struct tmig_pair p;
	struct tmig_stream st = { 0 };
	struct writer w = { .vm = &a };
	struct tnl_session s;
	unsigned long *bitmap;
	size_t done = 0, before;
	pthread_t thread;
	int round, err;
	__u64 dirty;

	printf("== live migration of a %lu MiB guest, A -> B, through trustmig.ko\n",
	       VM_SIZE >> 20);
	err = tvm_create(&a, VM_SIZE, true);
	if (!err)
		err = tvm_create(&b, VM_SIZE, false);
	if (err)
		die("create VMs", err);
	tvm_fill(&a, 2026);
	bitmap = calloc(1, tvm_bitmap_bytes(a.npages));
	if (!bitmap)
		die("bitmap", ENOMEM);
	err = tmig_pair_new(t, &p, TRUSTMIG_CIPHER_AES256GCM);
	if (err)
		die("create sessions and install the key over netlink", err);
	printf("helper: source session %u, destination session %u, %s\n",
	       p.src.id, p.dst.id, "AES-256-GCM key installed (write-only)");
	err = tmig_attach(&p.src, a.vm_fd, p.src.ticket);
	if (!err)
		err = tmig_attach(&p.dst, b.vm_fd, p.dst.ticket);
	if (err)
		die("attach VMs with their tickets", err);
	printf("vmm: VM A attached to session %u, VM B to session %u (one-time tickets)\n",
	       p.src.id, p.dst.id);

	tvm_harvest(&a, bitmap);
	pthread_create(&thread, NULL, writer_main, &w);
	for (round = 0; round < MAX_ROUNDS; round++) {
		before = st.len;
		if (round) {
			while (atomic_load(&w.passes) < round && !w.err)
				usleep(1000);
			tvm_harvest(&a, bitmap);
		}
		dirty = round ? tvm_bitmap_count(bitmap, a.npages) : a.npages;
		err = tmig_seal(p.src.fd, &a, TRUSTMIG_SEAL_HARVEST,
				round ? bitmap : NULL, &st);
		if (!err)
			err = tmig_end_round(p.src.fd, &st);
		if (!err)
			err = deliver(&p, &st, &done, 0);
		if (err < 0)
			die("pre-copy round", err);
		printf("round %d: guest running, %llu pages dirty, %.2f MiB sealed and opened\n",
		       round, (unsigned long long)dirty,
		       (st.len - before) / 1048576.0);
	}
	atomic_store(&w.stop, true);
	pthread_join(thread, NULL);
	if (w.err)
		die("guest", w.err);
	tvm_harvest(&a, bitmap);
	before = st.len;
	err = tmig_seal(p.src.fd, &a, TRUSTMIG_SEAL_HARVEST, bitmap, &st);
	if (!err)
		err = tmig_end_round(p.src.fd, &st);
	if (!err)
		err = tmig_commit(p.src.fd, &st);
	if (err)
		die("final round and commit", err);
	printf("final round: guest paused after %d passes, %.2f MiB, commit sealed\n",
	       atomic_load(&w.passes), (st.len - before) / 1048576.0);
	err = deliver(&p, &st, &done, TRUSTMIG_OPEN_EOF);
	if (err != TRUSTMIG_OPEN_COMPLETE)
		die("destination: commit not verified", err < 0 ? err : EPROTO);
	tnl_get(t, p.src.id, &s);
	printf("destination: commit verified: %llu records, %llu pages ",
	       (unsigned long long)s.records, (unsigned long long)s.pages);
	printf("(%llu zero), %u rounds, %.2f MiB on the wire\n",
	       (unsigned long long)s.zero_pages, s.rounds,
	       s.bytes / 1048576.0);
	if (memcmp(a.mem, b.mem, VM_SIZE))
		die("VM B differs from VM A", EIO);
	printf("result: VM B is byte-identical to VM A (%lu MiB)\n\n",
	       VM_SIZE >> 20);

	tmig_pair_close(t, &p);
	tmig_stream_free(&st);
	free(bitmap);
	tvm_destroy(&a);
	tvm_destroy(&b);
}

/* Two memory-only VMs, a keyed session pair, each VM attached. */
static void setup_pair(struct tnl *t, struct tvm *a, struct tvm *b,
		       size_t size, struct tmig_pair *p)
{
	int err = tvm_create(a, size, false);

	if (!err)
		err = tvm_create(b, size, false);
	if (!err)
		err = tmig_pair_new(t, p, 0);
	if (!err)
		err = tmig_attach(&p->src, a->vm_fd, p->src.ticket);
	if (!err)
		err = tmig_attach(&p->dst, b->vm_fd, p->dst.ticket);
	if (err)
		die("set up VMs and sessions", err);
}

static void tamper(struct tnl *t)
{
	struct tvm a, b;
	struct tmig_pair p;
	struct tmig_stream st = { 0 };
	struct trustmig_open o;
	struct tnl_session s;
	size_t offs[8];
	int err;

	printf("== one flipped bit on the wire\n");
	setup_pair(t, &a, &b, 1UL << 20, &p);
	tvm_fill(&a, 1);
	err = tmig_seal(p.src.fd, &a, TRUSTMIG_SEAL_HARVEST,
			NULL, &st);
	if (err)
		die("seal", err);
	tmig_index(&st, offs, 8);
	st.buf[offs[1] + 100] ^= 0x01;
	err = tmig_open(p.dst.fd, st.buf, st.len, 0, &o);
	tnl_get(t, p.dst.id, &s);
	printf("destination: record 1 refused: %s; ", strerror(-err));
	printf("session state %u (failed), reason %u, page untouched: %s\n\n",
	       s.state, s.reason, tvm_page(&b, 1)[0] == 0 ? "yes" : "NO");
	tmig_pair_close(t, &p);
	tmig_stream_free(&st);
	tvm_destroy(&a);
	tvm_destroy(&b);
}

/* The floor: the kernel's own gcm(aes) over the same pages, via AF_ALG. */
static double raw_gcm(const __u8 *mem, __u64 npages)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG, .salg_type = "aead",
				   .salg_name = "gcm(aes)" };
	static __u8 in[24 + 4096], out[24 + 4096 + 16];
	__u8 key[32] = { 7 }, cbuf[CMSG_SPACE(4) + CMSG_SPACE(4 + 12) +
				   CMSG_SPACE(4)] = { 0 };
	struct iovec iov = { .iov_base = in, .iov_len = sizeof(in) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	struct af_alg_iv *iv;
	int tfm, op;
	double t0;
	__u64 i;

	tfm = socket(AF_ALG, SOCK_SEQPACKET, 0);
	if (tfm < 0 || bind(tfm, (void *)&sa, sizeof(sa)) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, sizeof(key)) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, 16))
		die("AF_ALG gcm(aes)", errno);
	op = accept(tfm, NULL, 0);
	if (op < 0)
		die("AF_ALG accept", errno);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_ALG;
	c->cmsg_type = ALG_SET_OP;
	c->cmsg_len = CMSG_LEN(4);
	*(__u32 *)CMSG_DATA(c) = ALG_OP_ENCRYPT;
	c = CMSG_NXTHDR(&msg, c);
	c->cmsg_level = SOL_ALG;
	c->cmsg_type = ALG_SET_IV;
	c->cmsg_len = CMSG_LEN(4 + 12);
	iv = (void *)CMSG_DATA(c);
	iv->ivlen = 12;
	c = CMSG_NXTHDR(&msg, c);
	c->cmsg_level = SOL_ALG;
	c->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
	c->cmsg_len = CMSG_LEN(4);
	*(__u32 *)CMSG_DATA(c) = 24;

	t0 = now();
	for (i = 0; i < npages; i++) {
		memcpy(in + 24, mem + i * 4096, 4096);
		memcpy(iv->iv, &i, sizeof(i));
		if (sendmsg(op, &msg, 0) != sizeof(in) ||
		    read(op, out, sizeof(out)) != sizeof(out))
			die("AF_ALG encrypt", errno);
	}
	t0 = now() - t0;
	close(op);
	close(tfm);
	return t0;
}

static void sealing_cost(struct tnl *t)
{
	struct tvm a, b;
	struct tmig_pair p;
	struct tmig_stream st = { 0 };
	struct trustmig_open o;
	double seal, open, floor;
	__u64 i;
	int err;

	printf("== sealing cost in this guest, %lu MiB of random pages\n",
	       VM_SIZE >> 21);
	setup_pair(t, &a, &b, VM_SIZE / 2, &p);
	for (i = 0; i < a.mem_size / 4; i++)
		((__u32 *)a.mem)[i] = rand() | 1;
	st.cap = a.mem_size + a.npages * 64 + (1 << 20);
	st.buf = malloc(st.cap);
	if (!st.buf)
		die("buffer", ENOMEM);
	seal = now();
	err = tmig_seal(p.src.fd, &a, TRUSTMIG_SEAL_HARVEST, NULL, &st);
	seal = now() - seal;
	if (err)
		die("seal", err);
	open = now();
	err = tmig_open(p.dst.fd, st.buf, st.len, 0, &o);
	open = now() - open;
	if (err || o.records != a.npages)
		die("open", err ? err : EPROTO);
	floor = raw_gcm(a.mem, a.npages);
	printf("%-34s %10s %10s %8s\n", "", "pages/s", "MB/s", "vs raw");
	printf("%-34s %10.0f %10.1f %8.2f\n", "raw gcm(aes) via AF_ALG (floor)",
	       a.npages / floor, a.mem_size / floor / 1e6, 1.0);
	printf("%-34s %10.0f %10.1f %8.2f\n", "trustmig seal (read+seal+copy)",
	       a.npages / seal, a.mem_size / seal / 1e6, seal / floor);
	printf("%-34s %10.0f %10.1f %8.2f\n", "trustmig open (verify+write)",
	       a.npages / open, a.mem_size / open / 1e6, open / floor);
	printf("(time relative to the floor; absolute figures mean little under TCG)\n");
	tmig_pair_close(t, &p);
	tmig_stream_free(&st);
	tvm_destroy(&a);
	tvm_destroy(&b);
}

int main(void)
{
	struct tnl t;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	err = tnl_open(&t);
	if (err)
		die("netlink family trustmig (is trustmig.ko loaded?)", err);
	migrate(&t);
	tamper(&t);
	sealing_cost(&t);
	tnl_close(&t);
	return 0;
}
