// SPDX-License-Identifier: GPL-2.0
/*
 * Handshake transport over TCP: connect, listen, frames with deadlines.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"
#include "util.h"
#include "wire.h"

int tm_wire_addr_check(const char *hostport, int listen, const char *what)
{
	char why[256];

	if (tm_addr_check(hostport, listen ? TM_ADDR_LISTEN : 0, what, why,
			  sizeof(why)))
		return tm_fail(TM_EXIT_USAGE, "%s", why);
	return 0;
}

/* The HOST of a checked "HOST:PORT" / "[V6]:PORT" into @host. */
static int tm_split(const char *hostport, char host[TM_ADDR_MAX])
{
	size_t n = strrchr(hostport, ':') - hostport;

	if (hostport[0] == '[' && hostport[n - 1] == ']') {
		hostport++;
		n -= 2;
	}
	if (!n || n >= TM_ADDR_MAX)
		return tm_fail(TM_EXIT_USAGE, "bad host in \"%.64s\"", hostport);
	memcpy(host, hostport, n);
	host[n] = '\0';
	return 0;
}

static int tm_resolve(const char *hostport, int passive, struct addrinfo **ai)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	char host[TM_ADDR_MAX];
	int rc;

	rc = tm_wire_addr_check(hostport, passive, "address");
	if (!rc)
		rc = tm_split(hostport, host);
	if (rc)
		return rc;
	rc = getaddrinfo(host, strrchr(hostport, ':') + 1, &hints, ai);
	if (rc)
		return tm_fail(TM_EXIT_PEER, "cannot resolve %s: %s", host,
			       gai_strerror(rc));
	return 0;
}

static int tm_wait(int fd, short events, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left;
	int rc;

	for (;;) {
		left = deadline - tm_now_ms();
		if (left <= 0)
			return tm_fail(TM_EXIT_PEER,
				       "timeout: the peer did not answer in time");
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return tm_fail(TM_EXIT_PEER, "poll: %s",
				       strerror(errno));
	}
}

static int tm_connect_one(const struct addrinfo *a, long long deadline,
			  int *fd)
{
	socklen_t sl = sizeof(int);
	int s, err = 0, ret;

	s = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		   0);
	if (s < 0)
		return tm_fail(TM_EXIT_PEER, "socket: %s", strerror(errno));
	if (connect(s, a->ai_addr, a->ai_addrlen) && errno != EINPROGRESS) {
		err = errno;
	} else {
		ret = tm_wait(s, POLLOUT, deadline);
		if (ret) {
			close(s);
			return ret;
		}
		getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &sl);
	}
	if (err) {
		close(s);
		return tm_fail(TM_EXIT_PEER, "cannot connect: %s",
			       strerror(err));
	}
	*fd = s;
	return 0;
}

int tm_wire_host_name(const char *hostport, char host[TM_ADDR_MAX])
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST }, *ai;

	if (tm_split(hostport, host))
		return 0;
	/* getaddrinfo() takes "10.1", "0x7f.1" and "[::1]" as addresses */
	if (!getaddrinfo(host, NULL, &hints, &ai)) {
		freeaddrinfo(ai);
		return 0;
	}
	return 1;
}

int tm_wire_connect(const char *hostport, int timeout_ms, int *fd)
{
	long long deadline = tm_now_ms() + timeout_ms;
	struct addrinfo *ai, *a;
	int ret;

	ret = tm_resolve(hostport, 0, &ai);
	if (ret)
		return ret;
	for (a = ai; a; a = a->ai_next) {
		ret = tm_connect_one(a, deadline, fd);
		if (!ret)
			break;
	}
	freeaddrinfo(ai);
	if (ret)
		return tm_fail_prefix(TM_EXIT_PEER, hostport);
	return 0;
}

static void tm_addr_str(const struct sockaddr *sa, socklen_t sl, char *buf,
			size_t len)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (getnameinfo(sa, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(buf, len, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%s", host, port);
	else
		snprintf(buf, len, "%s:%s", host, port);
}

void tm_wire_peer(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		snprintf(buf, len, "?");
	else
		tm_addr_str((struct sockaddr *)&ss, sl, buf, len);
}

int tm_wire_listen(const char *hostport, int *fd, char *bound, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *ai;
	int s, one = 1, ret;

	ret = tm_resolve(hostport, 1, &ai);
	if (ret)
		return ret;
	s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s, ai->ai_addr, ai->ai_addrlen) || listen(s, 16) ||
	    getsockname(s, (struct sockaddr *)&ss, &sl)) {
		ret = tm_fail(TM_EXIT_ERROR, "cannot listen on %s: %s",
			      hostport, strerror(errno));
		if (s >= 0)
			close(s);
	} else {
		tm_addr_str((struct sockaddr *)&ss, sl, bound, len);
		*fd = s;
	}
	freeaddrinfo(ai);
	return ret;
}

static int tm_io(int fd, unsigned char *p, size_t len, int out,
		 long long deadline)
{
	ssize_t n;
	int ret;

	while (len) {
		ret = tm_wait(fd, out ? POLLOUT : POLLIN, deadline);
		if (ret)
			return ret;
		n = out ? send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT) :
			  recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return tm_fail(TM_EXIT_PEER, "connection failed: %s",
				       strerror(errno));
		if (!n)
			return tm_fail(TM_EXIT_PEER,
				       "the peer closed the connection mid-handshake");
		p += n;
		len -= n;
	}
	return 0;
}

int tm_wire_send(int fd, unsigned char type, const void *body, size_t len,
		 int timeout_ms)
{
	long long deadline = tm_now_ms() + timeout_ms;
	unsigned char hdr[TM_WIRE_HDR] = {
		TM_WIRE_VERSION, type, len >> 24, len >> 16, len >> 8, len
	};
	int ret;

	if (len > TM_WIRE_MAX)
		return tm_fail(TM_EXIT_ERROR, "message too large");
	ret = tm_io(fd, hdr, sizeof(hdr), 1, deadline);
	if (!ret)
		ret = tm_io(fd, (unsigned char *)body, len, 1, deadline);
	return ret;
}

int tm_wire_recv(int fd, unsigned char *type, unsigned char **body,
		 size_t *len, int timeout_ms)
{
	long long deadline = tm_now_ms() + timeout_ms;
	unsigned char hdr[TM_WIRE_HDR];
	size_t n;
	int ret;

	*body = NULL;
	ret = tm_io(fd, hdr, sizeof(hdr), 0, deadline);
	if (ret)
		return ret;
	n = (size_t)hdr[2] << 24 | hdr[3] << 16 | hdr[4] << 8 | hdr[5];
	if (hdr[0] != TM_WIRE_VERSION)
		return tm_fail(TM_EXIT_PROTOCOL,
			       "protocol version %u, expected %u", hdr[0],
			       TM_WIRE_VERSION);
	if (n > TM_WIRE_MAX)
		return tm_fail(TM_EXIT_PROTOCOL,
			       "message of %zu bytes exceeds the %u-byte limit",
			       n, TM_WIRE_MAX);
	*body = malloc(n ? n : 1);
	if (!*body)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	ret = tm_io(fd, *body, n, 0, deadline);
	if (ret) {
		free(*body);
		*body = NULL;
		return ret;
	}
	*type = hdr[1];
	*len = n;
	return 0;
}

int tm_wire_first_frame(int fd, int closed)
{
	unsigned char hdr[TM_WIRE_HDR];
	int want = TM_WIRE_HDR, have, one = 1;
	size_t n;
	ssize_t got;

	got = recv(fd, hdr, sizeof(hdr), MSG_PEEK | MSG_DONTWAIT);
	if (got < 0 && (errno == EAGAIN || errno == EINTR) && !closed)
		return 0;
	if (got == TM_WIRE_HDR) {
		n = (size_t)hdr[2] << 24 | hdr[3] << 16 | hdr[4] << 8 | hdr[5];
		/* tm_wire_recv() refuses a bad header at once */
		if (hdr[0] != TM_WIRE_VERSION || n > TM_WIRE_MAX)
			closed = 1;
		else
			want += n;
	}
	if (!closed && got > 0 && !ioctl(fd, FIONREAD, &have) &&
	    have < want) {
		/* poll() says POLLIN only once @want bytes are there */
		setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want));
		return 0;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	return 1;
}
