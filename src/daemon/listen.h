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
/*
 * An already bound socket (socket activation), speaking fr, called name in
 * logs and status ("unix:/run/...", "mssim:127.0.0.1:2321").  On success
 * the listener owns fd; on failure the caller still does.
 */
int listen_adopt(struct server *srv, int fd, const struct framer *fr, const char *name,
		 struct listener **ret);
/* Before dropping root: a socket directory the daemon made becomes uid's. */
int listener_chown(struct listener *l, uid_t uid, gid_t gid);
/* Close; a Unix socket's file is removed. */
void listener_free(struct server *srv, struct listener *l);
const char *listener_name(const struct listener *l);

#endif
