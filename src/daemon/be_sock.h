/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_sock.h: what the TCP backends (swtpm, mssim) share: parsing host and
 * port; resolving once; connecting with a deadline (open, reconnect) or
 * without waiting (in the loop); sending without waiting (be_send_some,
 * the twin of util.h's read_some) and the waiter fd for EPOLLOUT; and the
 * waits with a deadline that only open, reconnect and power cycle use.
 */
#ifndef TB_BE_SOCK_H
#define TB_BE_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* control exchanges and connects give up after this */
#define BE_SOCK_TIMEOUT_MS 5000

/* host:port of a simulator, from args host=H,port=P (defaults given) */
struct be_addr {
	char host[64];
	unsigned port;
};

/* an address resolved once (at open), for connects that must not wait on DNS */
struct be_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/*
 * Check args against keys (NULL-terminated) and parse host= and port=
 * (127.0.0.1, 2321 when absent).  port <= 65534: P+1 must exist too.
 */
int be_addr_parse(const char *backend, const char *args, const char *const *keys,
		  struct be_addr *ret);
/* A TCP port in [1, 65535] from a decimal string; -EINVAL (logged). */
int be_port_parse(const char *backend, const char *key, const char *s, unsigned *ret);

/* Connect within BE_SOCK_TIMEOUT_MS; the fd is O_NONBLOCK, CLOEXEC, TCP_NODELAY. */
int be_tcp_connect(const char *host, unsigned port, int *ret_fd);

/* Resolve host:port (getaddrinfo: may block on DNS; start-up only). */
int be_resolve(const char *host, unsigned port, struct be_sockaddr *ret);
/*
 * Start a non-blocking connect to sa and return at once: the fd is
 * O_NONBLOCK, CLOEXEC, TCP_NODELAY.  Until the handshake is done, sends
 * give EAGAIN (wait for POLLOUT); a refused connect shows as
 * -ECONNREFUSED from the first send.  On loopback the handshake is done
 * before connect() returns.
 */
int be_connect_start(const struct be_sockaddr *sa, int *ret_fd);

/*
 * Non-blocking write of what is left of buf: *sent counts across calls.
 * 1 all sent, 0 the socket is full or still connecting (wait for POLLOUT),
 * -errno (-EPIPE: peer gone).  Never raises SIGPIPE.
 */
int be_send_some(int fd, const void *buf, size_t *sent, size_t len);

/*
 * What be->fd names while a backend waits for something the scheduler
 * cannot ask for (it watches EPOLLIN only): a private epoll fd holding one
 * socket and the events waited for (EPOLLOUT of a connecting or full
 * socket, EPOLLIN of a control socket).  It lives as long as the backend,
 * so the scheduler never holds a short-lived fd's number.
 */
struct be_waiter {
	int ep;          /* owned; -1 before init */
	int fd;          /* the socket in ep, -1: none (not owned) */
	uint32_t events;
};
int be_waiter_init(struct be_waiter *w);
/* Wait for events on fd through w->ep (replacing what was there); 0 or -errno. */
int be_waiter_watch(struct be_waiter *w, int fd, uint32_t events);
/* Take the socket out of ep; call before closing it. */
void be_waiter_clear(struct be_waiter *w);
void be_waiter_fini(struct be_waiter *w);

/* Wait until fd is ready for ev (POLLIN/POLLOUT): 0, or -ETIMEDOUT at deadline (ns). */
int be_wait(int fd, short ev, uint64_t deadline);

/* Write all of buf to a non-blocking socket, waiting up to timeout_ms. */
int be_send_all(int fd, const void *buf, size_t len, int timeout_ms);
/* Read exactly len bytes, waiting up to timeout_ms (control exchanges). */
int be_recv_all(int fd, void *buf, size_t len, int timeout_ms);

#endif
