/* SPDX-License-Identifier: BSD-2-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "backend.h"
#include "be_sock.h"

int
be_port_parse(const char *backend, const char *key, const char *s, unsigned *ret)
{
	unsigned long p;
	char *end;

	errno = 0;
	p = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || p == 0 || p > 65535) {
		log_warnx("backend %s: %s '%s' is not a port in [1, 65535]", backend, key, s);
		return -EINVAL;
	}
	*ret = (unsigned)p;
	return 0;
}

int
be_addr_parse(const char *backend, const char *args, const char *const *keys, struct be_addr *ret)
{
	char port[16];
	int r;

	if ((r = be_args_check(backend, args, keys)) < 0)
		return r;
	if ((r = be_arg_get(args, "host", ret->host, sizeof(ret->host))) < 0) {
		log_warnx("backend %s: host name too long", backend);
		return -EINVAL;
	}
	if (r == 0)
		strcpy(ret->host, "127.0.0.1");
	if (ret->host[0] == '\0') {
		log_warnx("backend %s: empty host", backend);
		return -EINVAL;
	}
	ret->port = 2321;
	if ((r = be_arg_get(args, "port", port, sizeof(port))) < 0) {
		log_warnx("backend %s: port too long", backend);
		return -EINVAL;
	}
	if (r == 1 && (r = be_port_parse(backend, "port", port, &ret->port)) < 0)
		return r;
	if (ret->port == 65535) {
		/* both simulators use P+1 for their second channel */
		log_warnx("backend %s: port 65535 leaves no room for port+1", backend);
		return -EINVAL;
	}
	return 0;
}

int
be_wait(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = ev};
		uint64_t now = now_ns();
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* socket + non-blocking connect, without waiting: 0 (maybe still connecting) or -errno */
static int
be_connect_nowait(int family, const struct sockaddr *sa, socklen_t len, int *ret_fd)
{
	_cleanup_(closep) int fd = -1;
	int one = 1;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS)
		return -errno;
	/* small request/response exchanges: Nagle would add 40 ms each */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/*
 * Non-blocking connect with a deadline: a blocking connect() to a host
 * that drops SYNs would hang the daemon for minutes.
 */
static int
be_connect_one(const struct addrinfo *ai, uint64_t deadline, int *ret_fd)
{
	_cleanup_(closep) int fd = -1;
	socklen_t elen = sizeof(int);
	int err = 0, r;

	if ((r = be_connect_nowait(ai->ai_family, ai->ai_addr, ai->ai_addrlen, &fd)) < 0)
		return r;
	if ((r = be_wait(fd, POLLOUT, deadline)) < 0)
		return r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -errno;
	if (err != 0)
		return -err;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* getaddrinfo for a TCP host:port; the caller frees *ret.  May block on DNS. */
static int
be_lookup(const char *host, unsigned port, struct addrinfo **ret)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	char portstr[16];
	int r;

	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((r = getaddrinfo(host, portstr, &hints, ret)) != 0) {
		log_warnx("%s: %s", host, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	return 0;
}

int
be_resolve(const char *host, unsigned port, struct be_sockaddr *ret)
{
	struct addrinfo *res;
	int r;

	if ((r = be_lookup(host, port, &res)) < 0)
		return r;
	if (res->ai_addrlen > sizeof(ret->ss)) {
		freeaddrinfo(res);
		return -EAFNOSUPPORT;
	}
	memcpy(&ret->ss, res->ai_addr, res->ai_addrlen);
	ret->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
be_connect_start(const struct be_sockaddr *sa, int *ret_fd)
{
	return be_connect_nowait(sa->ss.ss_family, (const struct sockaddr *)&sa->ss, sa->len, ret_fd);
}

int
be_send_some(int fd, const void *buf, size_t *sent, size_t len)
{
	const uint8_t *p = buf;

	while (*sent < len) {
		ssize_t n = send(fd, p + *sent, len - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0)
			*sent += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN)
			return 0;
		else
			return n < 0 ? -errno : -EPIPE;
	}
	return 1;
}

int
be_waiter_init(struct be_waiter *w)
{
	w->fd = -1;
	w->events = 0;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	return w->ep < 0 ? -errno : 0;
}

int
be_waiter_watch(struct be_waiter *w, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};

	if (w->fd == fd && w->events == events)
		return 0;
	if (epoll_ctl(w->ep, w->fd == fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		be_waiter_clear(w);
		return r;
	}
	if (w->fd >= 0 && w->fd != fd)
		(void)epoll_ctl(w->ep, EPOLL_CTL_DEL, w->fd, NULL);
	w->fd = fd;
	w->events = events;
	return 0;
}

void
be_waiter_clear(struct be_waiter *w)
{
	if (w->fd >= 0)
		(void)epoll_ctl(w->ep, EPOLL_CTL_DEL, w->fd, NULL);
	w->fd = -1;
	w->events = 0;
}

void
be_waiter_fini(struct be_waiter *w)
{
	if (w->ep >= 0)
		(void)close(w->ep);
	w->ep = w->fd = -1;
}

int
be_tcp_connect(const char *host, unsigned port, int *ret_fd)
{
	uint64_t deadline = now_ns() + (uint64_t)BE_SOCK_TIMEOUT_MS * 1000000u;
	struct addrinfo *res;
	int r;

	if ((r = be_lookup(host, port, &res)) < 0)
		return r;
	r = -ECONNREFUSED;
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
		if ((r = be_connect_one(ai, deadline, ret_fd)) == 0)
			break;
	freeaddrinfo(res);
	return r;
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
be_recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	size_t have = 0;
	int r;

	while ((r = read_some(fd, buf, &have, len)) == 0)
		if ((r = be_wait(fd, POLLIN, deadline)) < 0)
			return r;
	return r < 0 ? r : 0;
}
