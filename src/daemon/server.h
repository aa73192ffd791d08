/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * server.h: the daemon's global state, owned by main.c: the TPM instances,
 * the listeners and the connections.  Frontends (listen.c, conn.c) and
 * status.c see it; nothing below the connections does: an instance's
 * scheduler, RM and backend know jobs only.
 */
#ifndef TB_SERVER_H
#define TB_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "loop.h"

struct loop;
struct conn;
struct listener;
struct tpm_instance;
struct sup;

TAILQ_HEAD(conn_list, conn);

/* TPM instances one daemon serves: "shared", then private ones (supervise.h) */
#define SRV_MAX_INSTANCES 64

/* live connections of one uid (the per-user connection cap) */
struct uid_count {
	uid_t uid;
	unsigned n;
	LIST_ENTRY(uid_count) entry;
};
#define SRV_UID_BUCKETS 256

/*
 * Refused connections, answered and shut for writing, kept open a moment
 * so that the client's first command does not fail with EPIPE before it
 * reads the answer: fds only, no buffers; the oldest goes first when full.
 */
#define SRV_LINGER_MAX 256
#define SRV_LINGER_NS 1000000000u
struct linger_ring {
	int fd[SRV_LINGER_MAX];
	uint64_t until[SRV_LINGER_MAX];
	unsigned head, n;
	struct loop_timer timer;
};

struct server_stats {
	uint64_t conns_total;
	uint64_t conns_refused;  /* over --max-connections or the profile's per-user cap */
	uint64_t policy_denied;  /* commands a profile did not allow (never sent to the TPM) */
	uint64_t frames_bad;     /* malformed frames and commands */
	uint64_t broker_answers; /* TPM-format answers the broker made instead of the TPM */
	uint64_t status_denied;  /* status requests refused (not root, not the daemon's uid) */
};

struct server {
	struct config cfg;
	struct loop *loop;       /* owned */
	struct tpm_instance *inst[SRV_MAX_INSTANCES]; /* owned; [0] is "shared" */
	size_t n_inst;
	struct sup *sup;         /* owned; the private instances' workers; NULL: none */
	struct listener *listeners[2 * CFG_MAX_LISTEN]; /* owned */
	size_t n_listeners;
	struct conn_list conns;  /* live connections (not dead ones awaiting their close job) */
	unsigned n_conns;
	uint64_t next_conn_id;
	uint64_t started_ns;
	uid_t uid;               /* the daemon's uid: may ask for status */
	bool activated;          /* the listeners came from systemd (LISTEN_FDS) */
	struct server_stats st;
	struct linger_ring linger;
	/* spare connection buffers (conn.h: CONN_BUF_SIZE each), reused LIFO */
#define SRV_BUF_SPARE 128
	uint8_t *buf_spare[SRV_BUF_SPARE]; /* owned */
	unsigned n_buf_spare;
	LIST_HEAD(, uid_count) uid_conns[SRV_UID_BUCKETS]; /* owned entries; n > 0 */
	/*
	 * Render the status text (status.c's status_render; main.c wires it,
	 * so that the connections need not know how status is made).
	 */
	int (*render_status)(struct server *srv, int fmt, char **ret, size_t *ret_len);
};

#endif
