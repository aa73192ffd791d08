/* SPDX-License-Identifier: BSD-2-Clause */
/* listen.h: listening sockets; accepted fds become connections (conn.h). */
#ifndef TB_LISTEN_H
#define TB_LISTEN_H

#include <sys/types.h>

struct framer;
struct server;
struct listener;

/* A Unix stream socket at path (parent directory created; a stale socket replaced). */
int listen_unix(struct server *srv, const char *path, mode_t mode, struct listener **ret);
/* A TCP socket on a numeric host address (IPv4 or IPv6) and port, speaking fr. */
int listen_tcp(struct server *srv, const char *host, unsigned port, const struct framer *fr,
	       struct listener **ret);
/* Close; a Unix socket's file is removed. */
void listener_free(struct server *srv, struct listener *l);
const char *listener_name(const struct listener *l);

#endif
