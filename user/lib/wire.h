/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Handshake transport: TCP and length-prefixed frames (docs/protocol.md).
 *
 *   frame = version (1 byte, TM_WIRE_VERSION) || type (1 byte)
 *           || length (4 bytes, big-endian, <= TM_WIRE_MAX) || body
 *
 * Every read has a deadline; a peer that is silent, slow or gone makes the
 * call fail with TM_EXIT_PEER.
 */
#ifndef TRUSTMIG_WIRE_H
#define TRUSTMIG_WIRE_H

#include <stddef.h>

/* 2: M1 names the destinations; 3: quotes cover PCR 10, IMA's list */
#define TM_WIRE_VERSION		3
#define TM_WIRE_HDR		6
#define TM_WIRE_MAX		(1024u << 10)	/* TM_IMA_LOG_MAX and more */
#define TM_ADDR_MAX		300

/*
 * @hostport is "HOST:PORT" or "[V6]:PORT" with PORT a number from 1 (0
 * if @listen: any free port) to 65535; else TM_EXIT_USAGE naming @what,
 * the option or key it came from.
 */
int tm_wire_addr_check(const char *hostport, int listen, const char *what);
/*
 * Whether the HOST of a checked @hostport is a name rather than an address
 * (IPv4 in any form getaddrinfo() takes, or IPv6): 1 with @host set to
 * it, else 0.
 */
int tm_wire_host_name(const char *hostport, char host[TM_ADDR_MAX]);
/* "HOST:PORT" or "[V6]:PORT"; connect within @timeout_ms. */
int tm_wire_connect(const char *hostport, int timeout_ms, int *fd);
/* Listen on "HOST:PORT" (port 0: any); @bound gets the actual address. */
int tm_wire_listen(const char *hostport, int *fd, char *bound, size_t len);
/*
 * Whether the first frame on a new connection @fd has all arrived, read
 * by nothing: 1 if so, or if it never will (the peer @closed its side,
 * the connection failed, the header is invalid), so that tm_wire_recv()
 * takes it at once or says why not; 0 while more is to come, with
 * SO_RCVLOWAT set so that poll() reports POLLIN only once it may be
 * whole (a partial frame must not wake the poll loop again and again).
 */
int tm_wire_first_frame(int fd, int closed);
/* Printable "ADDR:PORT" of the peer of @fd. */
void tm_wire_peer(int fd, char *buf, size_t len);

/* Send one frame (the header is prepended). */
int tm_wire_send(int fd, unsigned char type, const void *body, size_t len,
		 int timeout_ms);
/*
 * Receive one whole frame within @timeout_ms into a malloc()ed *body;
 * TM_EXIT_PROTOCOL for a bad version or length, TM_EXIT_PEER for a
 * timeout or a closed connection.
 */
int tm_wire_recv(int fd, unsigned char *type, unsigned char **body,
		 size_t *len, int timeout_ms);

#endif /* TRUSTMIG_WIRE_H */
