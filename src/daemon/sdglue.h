/* SPDX-License-Identifier: BSD-2-Clause */
/* sdglue.h: systemd socket activation and sd_notify (libsystemd); no-ops without systemd. */
#ifndef TB_SDGLUE_H
#define TB_SDGLUE_H

#include <stdbool.h>

#include "loop.h"

struct server;

struct sdnotify {
	struct server *srv;      /* not owned */
	struct loop_timer timer; /* STATUS= when the connection count changed */
	unsigned last_conns;
	bool armed;
};

/*
 * Adopt the listening sockets systemd passed (LISTEN_FDS): they replace
 * --socket and --listen.  Returns how many (0: not socket-activated), or
 * -errno (logged) for a socket the daemon cannot serve.
 */
int sd_adopt_frontends(struct server *srv);
/* READY=1 and a first STATUS=; then STATUS= every 2 s while the count changes. */
void sd_ready(struct server *srv, struct sdnotify *sn);
/* STOPPING=1 (SIGTERM, SIGINT). */
void sd_stopping(struct server *srv, struct sdnotify *sn);

#endif
