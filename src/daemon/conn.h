/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conn.h: one client connection, whatever its frontend protocol:
 * framing, validation, per-peer state (SO_PEERCRED) and buffers.
 *
 * conn state   event                           next     action
 * READ         frame complete, command ok      QUEUED   sched_submit()
 * READ         command malformed               WRITE    RM-layer error response
 * READ         frame unparseable (len > max)   WRITE    RM-layer error, then close
 * READ         STATUS frame                    WRITE    status text
 * QUEUED       CANCEL frame                    WRITE    0x000B0909
 * QUEUED       picked by the scheduler         RUNNING
 * RUNNING      CANCEL frame                    RUNNING  backend cancel
 * RUNNING      response ready                  WRITE    arm EPOLLOUT
 * WRITE        all bytes sent                  READ     (or DEAD if close_after_write)
 * WRITE        write timeout                   DEAD
 * any          EOF, EPIPE, error               DEAD     conn_kill(): flush job queued
 * DEAD         flush job done                  (freed)
 */
#ifndef TB_CONN_H
#define TB_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "../common/proto.h"
#include "../common/wire.h"
#include "loop.h"
#include "rm.h"

struct server;

enum conn_proto {
	PROTO_TB,             /* our framed protocol (TCTI plugin, CLI) */
	PROTO_MSSIM_TPM,      /* simulator protocol, TPM command port */
	PROTO_MSSIM_PLATFORM, /* simulator protocol, platform port */
};

enum conn_state {
	CONN_READ,
	CONN_QUEUED,
	CONN_RUNNING,
	CONN_WRITE,
	CONN_DEAD,
};

enum job_kind {
	JOB_COMMAND,
	JOB_CLOSE,
};

/* mssim frames: the largest header before a payload (cmd + locality + size) */
#define CONN_HDR_MAX 16u

struct conn {
	struct loop_io io;
	struct server *srv;     /* not owned */
	struct rm_conn *rmc;    /* owned by the rm; released by the close job */
	enum conn_proto proto;
	enum conn_state state;
	enum job_kind job;      /* what the scheduler runs for this conn */
	struct rm_peer peer;
	bool peer_known;        /* SO_PEERCRED worked (Unix socket) */
	uint64_t id;
	uint8_t locality;
	bool close_after_write;
	bool cancelled;         /* a CANCEL arrived while RUNNING */
	bool refused;           /* over --max-connections: every command gets RETRY */
	struct loop_timer write_timer;
	TAILQ_ENTRY(conn) entry;   /* server->conns while alive */
	TAILQ_ENTRY(conn) q_entry; /* the scheduler's run queue, or its parked list */
	bool parked;            /* QUEUED: waiting in the parked list (RM_WAIT) */
	bool wake_on_slot;      /* parked: a freed session slot wakes it */
	unsigned backoffs;      /* of its command so far (rm_step.backoffs) */
	uint64_t park_ns;       /* its command first parked (rm_step.parked_ns); 0: never */
	uint64_t wake_ns;       /* parked: run it again by then */
	uint64_t commands;
	uint64_t queued_ns;
	size_t job_len;         /* length of the command in cmd[] while QUEUED/RUNNING */

	/* input: a frame header, then its payload (a TPM command) */
	uint8_t hdr[CONN_HDR_MAX];
	size_t hdr_len, hdr_want;
	uint8_t cmd[TB_BUF_MAX];
	size_t cmd_len, cmd_want;
	bool in_payload;
	uint8_t frame_type;     /* PROTO_TB: tb_msg_type; mssim: signal code */
	uint8_t frame_flags;

	/* output: a framed response; big_out for status text */
	uint8_t out[CONN_HDR_MAX + TB_BUF_MAX + 4];
	size_t out_len, out_off;
	uint8_t *big_out;       /* owned; NULL unless a status reply is pending */
};

/* Take over an accepted socket. */
int conn_new(struct server *srv, int fd, enum conn_proto proto, struct conn **ret);

/* The scheduler finished the connection's command: rsp_len bytes in conn_rsp_buf(). */
void conn_command_done(struct conn *c, size_t rsp_len);
/* Where the RM writes the client's response, and how much fits. */
uint8_t *conn_rsp_buf(struct conn *c, size_t *cap);

/* Close now: unregister, close the fd, queue the flush job (two-phase). */
void conn_kill(struct conn *c, const char *why);
/* The scheduler finished the close job: free the memory (deferred). */
void conn_release(struct conn *c);

const char *conn_proto_name(enum conn_proto p);
const char *conn_state_name(enum conn_state s);

#endif
