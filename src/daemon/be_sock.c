/* SPDX-License-Identifier: BSD-2-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "backend.h"
#include "be_sock.h"

int
be_addr_parse(const char *backend, const char *args, const char *const *keys, struct be_addr *ret)
{
	char port[16];
	char *end;
	unsigned long p;
	int r;

	if ((r = be_args_check(backend, args, keys)) < 0)
		return r;
	if ((r = be_arg_get(args, "host", ret->host, sizeof(ret->host))) < 0)
		return r;
	if (r == 0)
		strcpy(ret->host, "127.0.0.1");
	if ((r = be_arg_get(args, "port", port, sizeof(port))) < 0)
		return r;
	ret->port = 2321;
	if (r == 1) {
		p = strtoul(port, &end, 10);
		if (end == port || *end != '\0' || p == 0 || p > 65534) {
			log_warnx("backend %s: port '%s' is not in [1, 65534]", backend, port);
			return -EINVAL;
		}
		ret->port = (unsigned)p;
	}
	return 0;
}

int
be_tcp_connect(const char *host, unsigned port, int *ret_fd)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL, *ai;
	char portstr[16];
	int fd = -1, r, one = 1;

	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((r = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		log_warnx("%s: %s", host, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	r = -ECONNREFUSED;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		r = -errno;
		(void)close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return r;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((r = fcntl_nonblock(fd)) < 0) {
		(void)close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int
be_wait(int fd, short ev, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	uint64_t now = now_ns();
	int r;

	if (now >= deadline)
		return -ETIMEDOUT;
	r = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

int
be_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const uint8_t *p = buf;
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	int r;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			if ((r = be_wait(fd, POLLOUT, deadline)) < 0)
				return r;
		} else {
			return n < 0 ? -errno : -EPIPE;
		}
	}
	return 0;
}

int
be_read_some(int fd, uint8_t *buf, size_t *have, size_t want)
{
	while (*have < want) {
		ssize_t n = read(fd, buf + *have, want - *have);
		if (n > 0)
			*have += (size_t)n;
		else if (n == 0)
			return -EPIPE;
		else if (errno == EINTR)
			continue;
		else
			return errno == EAGAIN ? 0 : -errno;
	}
	return 1;
}

int
be_recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	size_t have = 0;
	int r;

	while ((r = be_read_some(fd, buf, &have, len)) == 0)
		if ((r = be_wait(fd, POLLIN, deadline)) < 0)
			return r;
	return r < 0 ? r : 0;
}
