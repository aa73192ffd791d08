/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_sock.h: what the TCP backends (swtpm, mssim) share: parsing host and
 * port, connecting with a deadline, a blocking-with-deadline write of a
 * small request and read of its answer (responses are read with util.h's
 * read_some()).
 */
#ifndef TB_BE_SOCK_H
#define TB_BE_SOCK_H

#include <stddef.h>
#include <stdint.h>

/* control exchanges and connects give up after this */
#define BE_SOCK_TIMEOUT_MS 5000

/* host:port of a simulator, from args host=H,port=P (defaults given) */
struct be_addr {
	char host[64];
	unsigned port;
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

/* Write all of buf to a non-blocking socket, waiting up to timeout_ms. */
int be_send_all(int fd, const void *buf, size_t len, int timeout_ms);
/* Read exactly len bytes, waiting up to timeout_ms (control exchanges). */
int be_recv_all(int fd, void *buf, size_t len, int timeout_ms);

#endif
