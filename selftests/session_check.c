// SPDX-License-Identifier: GPL-2.0
/*
 * session_check: proves that a handshake installed matching keys in
 * trustmig.ko.  Given the source's and the destination's session lines
 * ("trustmig-session v1 role=... id=... stream=... ticket=..."), it
 * attaches a VM to each session with its ticket, seals a small VM's
 * memory on one and opens it on the other.  Only identical keys, salts
 * and stream ids let the commit verify.  Exit 0 on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmig.h"

#define VM_SIZE		(2UL << 20)

static int parse_line(const char *line, const char *role, struct tmig_end *e)
{
	char r[16], hex[2 * TRUSTMIG_TICKET_LEN + 1];
	unsigned int stream, byte;
	int i;

	if (sscanf(line, "trustmig-session v1 role=%15s id=%u stream=%x ticket=%64s",
		   r, &e->id, &stream, hex) != 4 || strcmp(r, role) ||
	    strlen(hex) != 2 * TRUSTMIG_TICKET_LEN) {
		fprintf(stderr, "session_check: not a %s session line: %s\n",
			role, line);
		return -EINVAL;
	}
	for (i = 0; i < TRUSTMIG_TICKET_LEN; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return -EINVAL;
		e->ticket[i] = byte;
	}
	return 0;
}

static int check(struct tmig_end *src, struct tmig_end *dst)
{
	struct tmig_stream st = { 0 };
	struct trustmig_open o;
	struct tvm a, b;
	int err;

	err = tvm_create(&a, VM_SIZE, false);
	if (err)
		return err;
	err = tvm_create(&b, VM_SIZE, false);
	if (err)
		goto out_a;
	tvm_fill(&a, 11);
	err = tmig_attach(src, a.vm_fd, src->ticket);
	if (!err)
		err = tmig_attach(dst, b.vm_fd, dst->ticket);
	if (!err)
		err = tmig_seal(src->fd, &a, TRUSTMIG_SEAL_HARVEST, NULL, &st);
	if (!err)
		err = tmig_end_round(src->fd, &st);
	if (!err)
		err = tmig_commit(src->fd, &st);
	if (!err)
		err = tmig_open(dst->fd, st.buf, st.len, TRUSTMIG_OPEN_EOF, &o);
	if (!err && (o.result != TRUSTMIG_OPEN_COMPLETE ||
		     memcmp(a.mem, b.mem, VM_SIZE)))
		err = -EBADMSG;
	tmig_stream_free(&st);
	tvm_destroy(&b);
out_a:
	tvm_destroy(&a);
	return err;
}

int main(int argc, char **argv)
{
	struct tmig_pair p = { .src.fd = -1, .dst.fd = -1 };
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: session_check SOURCE-LINE DEST-LINE\n");
		return 2;
	}
	if (parse_line(argv[1], "source", &p.src) ||
	    parse_line(argv[2], "dest", &p.dst))
		return 2;
	p.src.fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR | O_CLOEXEC);
	p.dst.fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (p.src.fd < 0 || p.dst.fd < 0) {
		perror("session_check: /dev/" TRUSTMIG_DEV_NAME);
		return 1;
	}
	err = check(&p.src, &p.dst);
	tmig_pair_close(NULL, &p);
	if (err) {
		fprintf(stderr, "session_check: sessions %u -> %u: %s\n",
			p.src.id, p.dst.id, strerror(-err));
		return 1;
	}
	printf("session_check: sessions %u -> %u carry a VM: keys match\n",
	       p.src.id, p.dst.id);
	return 0;
}
