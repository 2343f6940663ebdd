// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: trustmig-vm's destination reading what a source
 * sends (net.c): the HELLO, then frames into the receive buffer until an
 * ABORT, another frame or the end.  The records themselves are the
 * module's to check.
 *
 * The input is the frames, separated by PEER_SEP: a chunk's first byte
 * is the frame's type and the rest its payload, the header's length is
 * the payload's, so that a mutation that grows or shrinks one frame
 * leaves the next one whole (where it lands in the receive buffer is
 * what matters).  A chunk of type PEER_RAW goes out as it is: bad
 * headers and cut frames.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "proto.h"
#include "vmm.h"

#define PEER_SEP	"TMVF"
#define PEER_RAW	0xff
/* Its frames still fit in the socket without a reader. */
#define PEER_INPUT_MAX	32768

/* The bytes on the connection for @data; their length. */
static size_t peer_stream(const __u8 *data, size_t size, __u8 *out)
{
	const __u8 *end = data + size, *next;
	struct tmvm_frame f;
	size_t n = 0, len;

	for (; data < end; data = next + strlen(PEER_SEP)) {
		next = memmem(data, end - data, PEER_SEP, strlen(PEER_SEP));
		if (!next)
			next = end;
		len = next - data;
		if (len && data[0] != PEER_RAW) {
			f.type = htonl(data[0]);
			f.len = htonl(len - 1);
			memcpy(out + n, &f, sizeof(f));
			n += sizeof(f);
		}
		if (len) {
			memcpy(out + n, data + 1, len - 1);
			n += len - 1;
		}
		if (next == end)
			break;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const __u8 *data, size_t size)
{
	size_t n, rx_len = 0;
	char why[TMVM_WHY_MAX];
	__u64 mem_bytes;
	__u32 lanes;
	__u8 *stream, *rx;
	int sv[2];

	if (size > PEER_INPUT_MAX)
		return -1;
	/* A chunk of n bytes and its separator become n + 7 bytes. */
	stream = malloc(2 * size + 8);
	rx = malloc(2 * size + 8);
	if (!stream || !rx)
		abort();
	n = peer_stream(data, size, stream);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ||
	    send(sv[1], stream, n, MSG_DONTWAIT) != (ssize_t)n)
		abort();
	close(sv[1]);
	if (!net_recv_hello(sv[0], &mem_bytes, &lanes, 1, why, sizeof(why)))
		while (!net_recv_records(sv[0], rx, &rx_len, 2 * size + 8, 1))
			;
	close(sv[0]);
	free(stream);
	free(rx);
	return 0;
}
