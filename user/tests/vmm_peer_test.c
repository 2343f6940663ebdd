// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig-vm's handling of what a peer sends, on crafted input: the
 * destination's frames (net.c) from a socketpair, the LANE frames of a
 * source's streams over loopback TCP, and STATE records
 * (vcpu.c) against a VM that has no KVM file descriptors, so that
 * whatever reaches an ioctl fails with EBADF rather than EPROTO.  Built
 * with ASan and UBSan, every report fatal (tests/fuzz/Makefile); TAP on
 * stdout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
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

/*
 * A HELLO of a 4 MiB, 1-vCPU source speaking @conn and records @wire, with
 * @lanes streams; before version 3, of that version's shorter size.
 */
static void put_hello(int fd, __u32 conn, __u32 wire, __u32 lanes)
{
	struct tmvm_hello hello = {
		.magic = htonl(TMVM_MAGIC),
		.version = htonl(conn),
		.mem_bytes = htobe64(4 << 20),
		.vcpus = htonl(1),
		.wire = htonl(wire),
		.lanes = htonl(lanes),
	};

	put_frame(fd, TMVM_F_HELLO, &hello,
		  conn < 3 ? offsetof(struct tmvm_hello, lanes) : sizeof(hello));
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
	__u32 lanes = 0;
	char out[512];
	int sv[2], r1, r2, r3;
	__u8 *rx = malloc(4096);

	memcpy(abort_msg, &err, sizeof(err));
	memcpy(abort_msg + sizeof(err), why, sizeof(why) - 1);
	if (!rx || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		abort();
	put_hello(sv[1], TMVM_VERSION, TRUSTMIG_WIRE_VERSION, 2);
	put_frame(sv[1], TMVM_F_RECORDS, "x", 1);
	put_frame(sv[1], TMVM_F_ABORT, abort_msg, sizeof(abort_msg));
	close(sv[1]);
	capture();
	r1 = net_recv_hello(sv[0], &mem, &lanes, 1, why_v, sizeof(why_v));
	r2 = net_recv_records(sv[0], rx, &rx_len, 4096, 1);
	r3 = net_recv_records(sv[0], rx, &rx_len, 4096, 1);
	captured_text(out, sizeof(out));
	check(!r1 && mem == 4 << 20 && lanes == 2 && !r2 && rx_len == 1 &&
	      r3 == -ECONNABORTED && !strcmp(out, want), name,
	      "hello %d (%llu bytes, %u lanes), records %d (%zu bytes), abort %d, printed \"%s\"",
	      r1, (unsigned long long)mem, lanes, r2, rx_len, r3, out);
	close(sv[0]);
	free(rx);
}

/*
 * A HELLO the destination refuses with @want_err and the line @want: a
 * source of another version (version 1: records v1, 0 where the record
 * version now is; versions 1 and 2 send a HELLO without lanes), or one
 * asking for a number of streams the destination does not take.
 */
static void test_hello_refused(__u32 conn, __u32 wire, __u32 lanes,
			       int want_err, const char *name,
			       const char *want)
{
	char why[TMVM_WHY_MAX] = "";
	__u32 got_lanes = 0;
	__u64 mem = 0;
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		abort();
	put_hello(sv[1], conn, wire, lanes);
	close(sv[1]);
	r = net_recv_hello(sv[0], &mem, &got_lanes, 1, why, sizeof(why));
	check(r == want_err && !mem && !got_lanes && !strcmp(why, want), name,
	      "returned %d, why \"%s\"", r, why);
	close(sv[0]);
}

/* @a's end of a TCP connection is @b's peer. */
static bool same_connection(int a, int b)
{
	struct sockaddr_in sa, sb;
	socklen_t la = sizeof(sa), lb = sizeof(sb);

	return !getsockname(a, (struct sockaddr *)&sa, &la) &&
	       !getpeername(b, (struct sockaddr *)&sb, &lb) &&
	       sa.sin_port == sb.sin_port;
}

/*
 * The streams 1.. of a 3-stream source: @n connections to a destination
 * listening on loopback, the i-th sending a frame of @type naming lane
 * @named[i].  net_accept_lanes() must return @want_err and say @want
 * (nothing when it takes them), each connection on the lane it named.
 */
static void test_lanes(const char *name, __u32 type, const __u32 *named,
		       unsigned int n, int want_err, const char *want)
{
	struct tmvm_lane m = { .magic = htonl(TMVM_MAGIC) };
	int lfd, port, r, fds[TMVM_LANES_MAX], peer[2];
	char why[TMVM_WHY_MAX] = "", spec[32];
	bool mapped = true;
	unsigned int i;

	lfd = net_listen("127.0.0.1:0", &port);
	if (lfd < 0)
		abort();
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	for (i = 0; i < n; i++) {
		peer[i] = net_connect(spec, 1, 0);
		if (peer[i] < 0)
			abort();
		m.lane = htonl(named[i]);
		put_frame(peer[i], type, &m, sizeof(m));
	}
	r = net_accept_lanes(lfd, fds, 3, 0.2, why, sizeof(why));
	for (i = 0; i < n; i++) {
		if (r)
			mapped &= fds[1] < 0 && fds[2] < 0;
		else
			mapped &= same_connection(peer[i], fds[named[i]]);
		close(peer[i]);
	}
	check(r == want_err && mapped && !strcmp(why, want), name,
	      "returned %d, %s, why \"%s\"", r,
	      mapped ? "mapped" : "wrong streams", why);
	for (i = 1; !r && i < 3; i++)
		close(fds[i]);
	close(lfd);
}

static void test_lane_frames(void)
{
	static const __u32 swapped[] = { 2, 1 }, twice[] = { 1, 1 };
	static const __u32 zero[] = { 0 }, past[] = { 3 };

	test_lanes("LANE frames in any order", TMVM_F_LANE, swapped, 2, 0,
		   "");
	test_lanes("LANE frames naming one lane twice are refused",
		   TMVM_F_LANE, twice, 2, -EEXIST, "two streams name lane 1");
	test_lanes("a LANE frame naming lane 0 is refused", TMVM_F_LANE,
		   zero, 1, -ERANGE, "a stream names lane 0, out of 1..2");
	test_lanes("a LANE frame naming a lane past the last is refused",
		   TMVM_F_LANE, past, 1, -ERANGE,
		   "a stream names lane 3, out of 1..2");
	test_lanes("a stream opening with another frame is refused",
		   TMVM_F_RECORDS, swapped, 1, -EPROTO,
		   "a stream did not name its lane (Protocol error)");
	test_lanes("a stream that never connects is refused in time",
		   TMVM_F_LANE, swapped, 1, -ETIMEDOUT,
		   "2 of the source's 3 streams connected (Connection timed out)");
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
	test_hello_refused(1, 0, 1, -EPROTONOSUPPORT,
			   "HELLO of a version 1 source",
			   "the source speaks connection v1 with sealed records v1, this destination connection v3 with sealed records v2");
	test_hello_refused(2, 2, 1, -EPROTONOSUPPORT,
			   "HELLO of a version 2 source",
			   "the source speaks connection v2 with sealed records v2, this destination connection v3 with sealed records v2");
	test_hello_refused(3, 1, 1, -EPROTONOSUPPORT,
			   "HELLO with sealed records v1",
			   "the source speaks connection v3 with sealed records v1, this destination connection v3 with sealed records v2");
	test_hello_refused(3, 2, 0, -ERANGE, "HELLO asking for no stream",
			   "the source asks for 0 streams, this destination takes 1 to 16");
	test_hello_refused(3, 2, TMVM_LANES_MAX + 1, -ERANGE,
			   "HELLO asking for too many streams",
			   "the source asks for 17 streams, this destination takes 1 to 16");
	test_lane_frames();
	test_state();
	return failures ? 1 : 0;
}
