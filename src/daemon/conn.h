/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conn.h: one client connection, whatever its wire protocol (framer.h):
 * reading and writing, validation of the commands it sends, per-peer state
 * (SO_PEERCRED) and buffers.  Its commands run as its embedded job (job.h)
 * on the TPM instance it was bound to when accepted.
 *
 * conn state   event                           next     action
 * READ         frame complete, command ok      BUSY     sched_submit(job)
 * READ         command malformed               WRITE    RM-layer error response
 * READ         frame unparseable (len > max)   WRITE    RM-layer error, then close
 * READ         STATUS frame                    WRITE    status text
 * READ         service request complete        BUSY     svc_dispatch() (service.h)
 * BUSY         the service answers             WRITE    its reply frame
 * BUSY         CANCEL frame, job queued        WRITE    0x000B0909
 * BUSY         CANCEL frame, job running       BUSY     backend cancel
 * BUSY         job done                        WRITE    arm EPOLLOUT
 * WRITE        all bytes sent                  READ     (or DEAD if close_after_write)
 * WRITE        write timeout                   DEAD
 * any          EOF, EPIPE, error               DEAD     conn_kill(): close job queued
 *                                                       (after a running command)
 * DEAD         close job done                  (freed)
 */
#ifndef TB_CONN_H
#define TB_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "../common/proto.h"
#include "../common/wire.h"
#include "framer.h"
#include "job.h"
#include "loop.h"
#include "peer.h"
#include "rm.h"

struct server;
struct tpm_instance;

/*
 * A connection's command and output buffers are taken from a pool of the
 * server's when a frame starts and given back when it is answered, so an
 * idle connection holds none (about 1.5 KB in all instead of 17).
 */
#define CONN_BUF_SIZE (FRAMER_WRAP_MAX + TB_BUF_MAX)

enum conn_state {
	CONN_READ,
	CONN_BUSY,  /* its job is in the scheduler (queued, parked, running) */
	CONN_WRITE,
	CONN_DEAD,
};

struct conn {
	struct loop_io io;
	struct server *srv;           /* not owned */
	struct tpm_instance *inst;    /* the TPM it is bound to; not owned */
	const struct framer *fr;      /* its wire protocol */
	struct rm_conn *rmc;          /* owned by the rm; released by the close job */
	struct job job;               /* its command, then its close */
	enum conn_state state;
	struct peer_id peer;    /* who is on the other end (peer.h) */
	const struct profile *profile; /* what it may do; an entry of srv->cfg.policy, matched
					* again when the config is reloaded; NULL: nothing */
	char listen[80];        /* the listener it came in on ("unix:/run/...") */
	uint32_t denied[4];     /* commands whose refusal was logged (once per command) */
	unsigned n_denied;
	uint64_t id;
	bool close_after_write;
	bool deferred;          /* a bad frame came while busy: answer deferred_rc after the
				 * response in progress */
	uint32_t deferred_rc;
	bool cancelled;         /* a CANCEL arrived while its command ran */
	bool late;              /* answered at a backend timeout; its job still runs: read
				 * nothing until it is over */
	struct loop_timer write_timer;
	struct loop_timer read_timer;  /* armed while a frame is half read */
	TAILQ_ENTRY(conn) entry;   /* server->conns while alive */
	uint64_t commands;

	/* input: a frame header, then its payload (a TPM command) */
	uint8_t hdr[FRAMER_HDR_MAX];
	size_t hdr_len, hdr_want;
	uint8_t *cmd;           /* CONN_BUF_SIZE, from the pool while a command is read or runs */
	size_t cmd_len, cmd_want;
	bool in_payload;

	/* output: a framed response; big_out for status text */
	uint8_t *out;           /* CONN_BUF_SIZE, from the pool while an answer is made or sent */
	size_t out_len, out_off;
	uint8_t *big_out;       /* owned; NULL unless a status or service reply is pending */
	/*
	 * A service request (service.h) being read (in_payload), or handed to
	 * its service (BUSY); owned until dispatched, then the service's.
	 */
	struct svc_req *svc;
	bool svc_dispatched;
};

/*
 * Take over an accepted socket speaking fr, that came in on listener
 * listen: identify the peer, match its profile, and bind it to instance
 * inst (NULL: the one its profile names).  A peer over --max-connections or
 * its profile's per-user cap gets one TPM-format answer (RETRY) and the
 * socket is closed: 0 and *ret NULL.  <0: fd is not taken (the caller
 * closes it).
 */
int conn_new(struct server *srv, struct tpm_instance *inst, int fd, const struct framer *fr,
	     const char *listen, struct conn **ret);
/*
 * Answer the peer on fd rc (RETRY, or why it has no TPM) in its protocol
 * before it asks, and shut the socket for writing; counted as refused, why
 * in the verbose log.  The caller closes fd a moment later (at once, its
 * command would meet EPIPE).
 */
void conn_refuse(struct server *srv, int fd, const struct framer *fr, uint32_t rc,
		 const char *why);
/* Close the refused connections still lingering, free the spare buffers (at exit). */
void conn_linger_flush(struct server *srv);
/* The profiles were reloaded: match every connection's profile again. */
void conn_rematch_all(struct server *srv);

/* Close now: unregister, close the fd, queue the close job (two-phase). */
void conn_kill(struct conn *c, const char *why);

/* "read", "queued", "parked", "running", "write", "dead": for status. */
const char *conn_state_name(const struct conn *c);

#endif
