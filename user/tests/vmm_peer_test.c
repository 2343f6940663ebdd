// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig-vm's handling of what a peer sends, on crafted input: the
 * destination's frames (net.c) from a socketpair, and STATE records
 * (vcpu.c) against a VM that has no KVM file descriptors, so that
 * whatever reaches an ioctl fails with EBADF rather than EPROTO.  Built
 * with ASan and UBSan, every report fatal (tests/fuzz/Makefile); TAP on
 * stdout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "proto.h"
#include "vmm.h"

/* vcpu.c's STATE layout (docs/vmm.md). */
#define ST_MAGIC	0x54535654
#define ST_REGS		1
#define ST_XSAVE	3
#define ST_MSRS		5
#define ST_DEBUGREGS	7
#define ST_UNKNOWN	99

static int failures;

static void check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s - vmm_peer_test: %s", ok ? "ok" : "not ok", name);
	if (!ok) {
		printf(": ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		failures++;
	}
	printf("\n");
	fflush(stdout);
}

/* What the code under test prints, kept from stderr. */
static FILE *captured;
static int saved_stderr;

static void capture(void)
{
	fflush(stderr);
	saved_stderr = dup(2);
	captured = tmpfile();
	if (saved_stderr < 0 || !captured)
		abort();
	dup2(fileno(captured), 2);
}

static void captured_text(char *buf, size_t size)
{
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	rewind(captured);
	n = fread(buf, 1, size - 1, captured);
	buf[n] = '\0';
	fclose(captured);
}

static void put_frame(int fd, __u32 type, const void *data, __u32 len)
{
	if (net_send_frame(fd, type, data, len))
		abort();
}

/* A HELLO of a 4 MiB, 1-vCPU source speaking @conn and records @wire. */
static void put_hello(int fd, __u32 conn, __u32 wire)
{
	struct tmvm_hello hello = {
		.magic = htonl(TMVM_MAGIC),
		.version = htonl(conn),
		.mem_bytes = htobe64(4 << 20),
		.vcpus = htonl(1),
		.wire = htonl(wire),
	};

	put_frame(fd, TMVM_F_HELLO, &hello, sizeof(hello));
}

/*
 * The destination receives HELLO, a 1-byte RECORDS frame and an ABORT
 * with a terminal escape in its text: the ABORT lands at an odd offset of
 * the receive buffer, and its text is printed made printable.
 */
static void test_abort_after_odd_records(void)
{
	static const char name[] = "ABORT after a 1-byte RECORDS frame";
	static const char why[] = "bad\x1b[2Jtext";
	char why_v[TMVM_WHY_MAX];
	static const char want[] =
		"trustmig-vm: source aborted: bad?[2Jtext (Protocol error, EPROTO)\n";
	__u8 abort_msg[sizeof(struct tmvm_abort) + sizeof(why) - 1];
	__be32 err = htonl(EPROTO);
	size_t rx_len = 0;
	__u64 mem = 0;
	char out[512];
	int sv[2], r1, r2, r3;
	__u8 *rx = malloc(4096);

	memcpy(abort_msg, &err, sizeof(err));
	memcpy(abort_msg + sizeof(err), why, sizeof(why) - 1);
	if (!rx || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		abort();
	put_hello(sv[1], TMVM_VERSION, TRUSTMIG_WIRE_VERSION);
	put_frame(sv[1], TMVM_F_RECORDS, "x", 1);
	put_frame(sv[1], TMVM_F_ABORT, abort_msg, sizeof(abort_msg));
	close(sv[1]);
	capture();
	r1 = net_recv_hello(sv[0], &mem, 1, why_v, sizeof(why_v));
	r2 = net_recv_records(sv[0], rx, &rx_len, 4096, 1);
	r3 = net_recv_records(sv[0], rx, &rx_len, 4096, 1);
	captured_text(out, sizeof(out));
	check(!r1 && mem == 4 << 20 && !r2 && rx_len == 1 &&
	      r3 == -ECONNABORTED && !strcmp(out, want), name,
	      "hello %d (%llu bytes), records %d (%zu bytes), abort %d, printed \"%s\"",
	      r1, (unsigned long long)mem, r2, rx_len, r3, out);
	close(sv[0]);
	free(rx);
}

/*
 * A version 1 source (connection v1, records v1, 0 where the record
 * version now is) and one that speaks connection v2 with records v1: each
 * is refused with one line naming both sides' versions.
 */
static void test_hello_of_other_version(__u32 conn, __u32 wire,
					const char *name, const char *want)
{
	char why[TMVM_WHY_MAX] = "";
	__u64 mem = 0;
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		abort();
	put_hello(sv[1], conn, wire);
	close(sv[1]);
	r = net_recv_hello(sv[0], &mem, 1, why, sizeof(why));
	check(r == -EPROTONOSUPPORT && !mem && !strcmp(why, want), name,
	      "returned %d, why \"%s\"", r, why);
	close(sv[0]);
}

static void test_abort_without_reason(void)
{
	static const char name[] = "ABORT too short for an errno";
	static const char want[] =
		"trustmig-vm: destination aborted (no reason given)\n";
	char out[512];

	capture();
	net_print_abort("destination", "\x00\x05", 2);
	captured_text(out, sizeof(out));
	check(!strcmp(out, want), name, "printed \"%s\"", out);
}

/* A STATE record: a kind-2 (vCPU) header and items, 8-aligned. */
struct rec {
	__u64 buf[2048];
	size_t len;
};

static void rec_init(struct rec *r)
{
	__u8 *p = (__u8 *)r->buf;
	__u32 magic = ST_MAGIC;
	__u16 version = 1, kind = 2;

	memset(r, 0, sizeof(*r));
	memcpy(p, &magic, 4);
	memcpy(p + 4, &version, 2);
	memcpy(p + 6, &kind, 2);
	r->len = 8;
}

/* An item of @len zero bytes, padded to 8: where they are. */
static __u8 *rec_add(struct rec *r, __u32 tag, __u32 len)
{
	__u8 *item = (__u8 *)r->buf + r->len;

	memcpy(item, &tag, 4);
	memcpy(item + 4, &len, 4);
	r->len += 8 + ((len + 7) & ~7u);
	return item + 8;
}

/* vmm_load_state() on @r must give @want_err and print @want_text. */
static void check_state(const char *name, const struct rec *r, int want_err,
			const char *want_text)
{
	struct vmm v;
	char out[512];
	int err;

	memset(&v, 0, sizeof(v));
	v.vm.kvm_fd = -1;
	v.vm.vm_fd = -1;
	v.vm.vcpu_fd = -1;
	capture();
	err = vmm_load_state(&v, r->buf, r->len);
	captured_text(out, sizeof(out));
	check(err == want_err && strstr(out, want_text), name,
	      "returned %d (want %d), printed \"%s\"", err, want_err, out);
}

static void test_state(void)
{
	struct kvm_msrs msrs = { .nmsrs = 1 };
	struct rec r;

	rec_init(&r);
	rec_add(&r, ST_REGS, 8);
	rec_add(&r, ST_DEBUGREGS, sizeof(struct kvm_debugregs));
	check_state("STATE: a short kvm_regs item is refused", &r, -EPROTO,
		    "state item 1 has 8 bytes where KVM reads 144: refused");

	rec_init(&r);
	rec_add(&r, ST_REGS, sizeof(struct kvm_regs) + 8);
	check_state("STATE: a long kvm_regs item is refused", &r, -EPROTO,
		    "state item 1 has 152 bytes where KVM reads 144: refused");

	rec_init(&r);
	rec_add(&r, ST_XSAVE, 1024);
	check_state("STATE: an XSAVE item short of kvm_xsave is refused", &r,
		    -EPROTO,
		    "state item 3 has 1024 bytes where KVM reads 4096: refused");

	/* nmsrs says 1, the item holds 2 entries. */
	rec_init(&r);
	memcpy(rec_add(&r, ST_MSRS,
		       sizeof(msrs) + 2 * sizeof(struct kvm_msr_entry)),
	       &msrs, sizeof(msrs));
	check_state("STATE: an MSR item of another count than nmsrs is refused",
		    &r, -EPROTO,
		    "state item 5 has 40 bytes where KVM reads 24: refused");

	rec_init(&r);
	rec_add(&r, ST_REGS, sizeof(struct kvm_regs));
	r.len -= 8;
	check_state("STATE: an item past the record's end is refused", &r,
		    -EPROTO, "runs past its end");

	rec_init(&r);
	memcpy(rec_add(&r, ST_UNKNOWN, 3), "abc", 3);
	check_state("STATE: an unknown item is skipped", &r, 0, "");
}

int main(void)
{
	test_abort_after_odd_records();
	test_abort_without_reason();
	test_hello_of_other_version(1, 0, "HELLO of a version 1 source",
				    "the source speaks connection v1 with sealed records v1, this destination connection v2 with sealed records v2");
	test_hello_of_other_version(2, 1, "HELLO with sealed records v1",
				    "the source speaks connection v2 with sealed records v1, this destination connection v2 with sealed records v2");
	test_state();
	return failures ? 1 : 0;
}
