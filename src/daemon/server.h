/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * server.h: the daemon's global state, owned by main.c.  Frontends reach
 * the scheduler and counters through it; the RM and backends never see it.
 */
#ifndef TB_SERVER_H
#define TB_SERVER_H

#include <stdint.h>
#include <sys/queue.h>

#include "caps.h"
#include "config.h"

struct loop;
struct backend;
struct rm;
struct sched;
struct conn;
struct listener;

TAILQ_HEAD(conn_list, conn);

struct server {
	struct config cfg;
	struct loop *loop;       /* owned */
	struct backend *be;      /* owned */
	struct tpm_caps caps;    /* owned */
	struct rm *rm;           /* owned */
	struct sched *sched;     /* owned */
	struct listener *listeners[2 * CFG_MAX_LISTEN]; /* owned */
	size_t n_listeners;
	struct conn_list conns;  /* live connections (not dead ones awaiting flush) */
	unsigned n_conns;
	uint64_t next_conn_id;
	uint64_t started_ns;
	uid_t uid;               /* the daemon's uid: may ask for status */
	/* counters */
	uint64_t conns_total;
	uint64_t conns_refused;  /* over --max-connections */
	uint64_t frames_bad;     /* malformed frames/commands answered by the broker */
};

#endif
