// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig-vm: the migration connection (TCP) and its frames (proto.h).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "printable.h"
#include "proto.h"
#include "vmm.h"

/* "HOST:PORT", "PORT" or ":PORT" (listen only: any address). */
static int net_split(const char *spec, char *host, size_t hlen,
		     const char **port)
{
	const char *colon = strrchr(spec, ':');
	size_t n;

	if (!colon) {
		host[0] = 0;
		*port = spec;
		return 0;
	}
	n = colon - spec;
	if (n >= hlen)
		return -EINVAL;
	memcpy(host, spec, n);
	host[n] = 0;
	*port = colon + 1;
	return 0;
}

static int net_resolve(const char *spec, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = passive ? AI_PASSIVE : 0,
	};
	const char *port;
	char host[256];
	int err;

	if (net_split(spec, host, sizeof(host), &port))
		return -EINVAL;
	err = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
	if (err) {
		fprintf(stderr, "trustmig-vm: %s: %s\n", spec,
			gai_strerror(err));
		return -EINVAL;
	}
	return 0;
}

int net_listen(const char *spec, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *res;
	int fd, one = 1, err;

	err = net_resolve(spec, true, &res);
	if (err)
		return err;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The source connects its streams without waiting for accept(). */
	if (bind(fd, res->ai_addr, res->ai_addrlen) ||
	    listen(fd, TMVM_LANES_MAX) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		err = -errno;
		close(fd);
		goto out;
	}
	*port = ntohs(ss.ss_family == AF_INET6 ?
		      ((struct sockaddr_in6 *)&ss)->sin6_port :
		      ((struct sockaddr_in *)&ss)->sin_port);
	err = fd;
out:
	freeaddrinfo(res);
	return err;
}

static int net_poll(int fd, short events, double timeout)
{
	struct pollfd p = { .fd = fd, .events = events };
	int ms = timeout < 0 ? -1 : (int)(timeout * 1000);
	int ret;

	do {
		ret = poll(&p, 1, ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	return ret ? 0 : -ETIMEDOUT;
}

static void net_tune(int fd, double timeout)
{
	struct timeval tv = {
		.tv_sec = (time_t)timeout,
		.tv_usec = (long)((timeout - (time_t)timeout) * 1e6),
	};
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A destination that stops reading must not hang the source. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int net_accept(int lfd, double timeout)
{
	int fd, err;

	err = net_poll(lfd, POLLIN, timeout);
	if (err)
		return err;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	net_tune(fd, 30);
	return fd;
}

/* Retries for @retry seconds: the destination may still be starting. */
int net_connect(const char *spec, double timeout, double retry)
{
	double end = vmm_now() + retry;
	struct addrinfo *res;
	int fd, err;

	err = net_resolve(spec, false, &res);
	if (err)
		return err;
	for (;;) {
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = -errno;
			break;
		}
		if (!connect(fd, res->ai_addr, res->ai_addrlen)) {
			net_tune(fd, timeout);
			err = fd;
			break;
		}
		err = -errno;
		close(fd);
		if ((err != -ECONNREFUSED && err != -ENETUNREACH) ||
		    vmm_now() > end)
			break;
		usleep(100000);
	}
	freeaddrinfo(res);
	return err;
}

static int net_write(int fd, const void *data, size_t len)
{
	const __u8 *p = data;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int net_read(int fd, void *data, size_t len, double timeout)
{
	__u8 *p = data;
	ssize_t n;
	int err;

	while (len) {
		err = net_poll(fd, POLLIN, timeout);
		if (err)
			return err;
		n = recv(fd, p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return -ECONNRESET;	/* peer closed */
		p += n;
		len -= n;
	}
	return 0;
}

int net_send_frame(int fd, __u32 type, const void *data, __u32 len)
{
	struct tmvm_frame f = { .type = htonl(type), .len = htonl(len) };
	int err = net_write(fd, &f, sizeof(f));

	if (!err && len)
		err = net_write(fd, data, len);
	return err;
}

int net_recv_frame(int fd, __u32 *type, void *buf, __u32 *len,
		   double timeout)
{
	struct tmvm_frame f;
	__u32 n;
	int err;

	err = net_read(fd, &f, sizeof(f), timeout);
	if (err)
		return err;
	n = ntohl(f.len);
	if (n > *len || n > TMVM_FRAME_MAX)
		return -EMSGSIZE;
	err = net_read(fd, buf, n, timeout);
	if (err)
		return err;
	*type = ntohl(f.type);
	*len = n;
	return 0;
}

int net_recv_hello(int fd, __u64 *mem_bytes, __u32 *lanes, double timeout,
		   char *why, size_t why_len)
{
	/* Read another version's HELLO whole, longer or not, to name it. */
	union {
		struct tmvm_hello h;
		__u8 other[256];
	} m;
	__u32 type, len = sizeof(m), conn, wire, n;
	int err;

	*why = 0;
	err = net_recv_frame(fd, &type, &m, &len, timeout);
	if (err)
		return err;
	/*
	 * Versions 1 and 2 ended before lanes, version 1 with 0 where wire
	 * is: the versions first, the size then.
	 */
	if (type != TMVM_F_HELLO || len < offsetof(struct tmvm_hello, lanes) ||
	    ntohl(m.h.magic) != TMVM_MAGIC)
		return -EPROTO;
	conn = ntohl(m.h.version);
	wire = conn == 1 ? 1 : ntohl(m.h.wire);
	if (conn != TMVM_VERSION || wire != TRUSTMIG_WIRE_VERSION) {
		snprintf(why, why_len,
			 "the source speaks connection v%u with sealed records v%u, this destination connection v%u with sealed records v%u",
			 conn, wire, TMVM_VERSION, TRUSTMIG_WIRE_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (len != sizeof(m.h) || ntohl(m.h.vcpus) != 1)
		return -EPROTO;
	n = ntohl(m.h.lanes);
	if (!n || n > TMVM_LANES_MAX) {
		snprintf(why, why_len,
			 "the source asks for %u streams, this destination takes 1 to %u",
			 n, TMVM_LANES_MAX);
		return -ERANGE;
	}
	*mem_bytes = be64toh(m.h.mem_bytes);
	*lanes = n;
	return 0;
}

/* Seconds left until @end, none once past it. */
static double net_left(double end)
{
	double left = end - vmm_now();

	return left > 0 ? left : 0;
}

/* The lane the LANE frame on @fd names, in 1..@lanes - 1, or -errno. */
static int net_recv_lane(int fd, __u32 lanes, double timeout, char *why,
			 size_t why_len)
{
	struct tmvm_lane m;
	__u32 type, len = sizeof(m), lane;
	int err;

	err = net_recv_frame(fd, &type, &m, &len, timeout);
	if (!err && (type != TMVM_F_LANE || len != sizeof(m) ||
		     ntohl(m.magic) != TMVM_MAGIC))
		err = -EPROTO;
	if (err) {
		snprintf(why, why_len, "a stream did not name its lane (%s)",
			 strerror(-err));
		return err;
	}
	lane = ntohl(m.lane);
	if (!lane || lane >= lanes) {
		snprintf(why, why_len, "a stream names lane %u, out of 1..%u",
			 lane, lanes - 1);
		return -ERANGE;
	}
	return lane;
}

int net_accept_lanes(int lfd, int *fds, __u32 lanes, double timeout,
		     char *why, size_t why_len)
{
	double end = vmm_now() + timeout;
	int fd, lane;
	__u32 i;

	for (i = 1; i < lanes; i++)
		fds[i] = -1;
	for (i = 1; i < lanes; i++) {
		fd = net_accept(lfd, net_left(end));
		if (fd < 0) {
			snprintf(why, why_len,
				 "%u of the source's %u streams connected (%s)",
				 i, lanes, strerror(-fd));
			lane = fd;
			goto fail;
		}
		lane = net_recv_lane(fd, lanes, net_left(end), why, why_len);
		if (lane > 0 && fds[lane] >= 0) {
			snprintf(why, why_len, "two streams name lane %d",
				 lane);
			lane = -EEXIST;
		}
		if (lane < 0) {
			close(fd);
			goto fail;
		}
		fds[lane] = fd;
	}
	return 0;

fail:
	for (i = 1; i < lanes; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	return lane;
}

int net_recv_records(int fd, __u8 *rx, size_t *rx_len, size_t cap,
		     double timeout)
{
	__u32 type, len = cap - *rx_len;
	int err;

	err = net_recv_frame(fd, &type, rx + *rx_len, &len, timeout);
	if (err) {
		/* A closed connection is the caller's to judge. */
		if (err != -ECONNRESET)
			fprintf(stderr, "trustmig-vm: connection: %s\n",
				strerror(-err));
		return err;
	}
	if (type == TMVM_F_ABORT) {
		net_print_abort("source", rx + *rx_len, len);
		return -ECONNABORTED;
	}
	if (type != TMVM_F_RECORDS)
		return -EPROTO;
	*rx_len += len;
	return 0;
}

int net_send_abort(int fd, int err, const char *why)
{
	struct {
		struct tmvm_abort a;
		char why[TMVM_WHY_MAX];
	} m;
	size_t n = strnlen(why, TMVM_WHY_MAX);

	m.a.err = htonl(err < 0 ? -err : err);
	memcpy(m.why, why, n);
	return net_send_frame(fd, TMVM_F_ABORT, &m, sizeof(m.a) + n);
}

void net_print_abort(const char *who, const void *buf, __u32 len)
{
	char why[TMVM_WHY_MAX + 1];
	struct tmvm_abort a;
	int err;

	if (len < sizeof(a)) {
		fprintf(stderr, "trustmig-vm: %s aborted (no reason given)\n",
			who);
		return;
	}
	/* The frame lies wherever it landed in a receive buffer: copy out. */
	memcpy(&a, buf, sizeof(a));
	err = ntohl(a.err);
	tm_printable((const __u8 *)buf + sizeof(a), len - sizeof(a), why,
		     sizeof(why), 0);
	fprintf(stderr, "trustmig-vm: %s aborted: %s (%s, %s)\n", who, why,
		strerror(err), strerrorname_np(err) ?: "?");
}
