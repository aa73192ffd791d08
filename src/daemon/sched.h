/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sched.h: fair turns at the TPM.  Connections with a command wait in one
 * FIFO run queue (each appears at most once, so the FIFO is round robin over
 * connections); one job at a time is driven through the RM and the
 * asynchronous backend; the loop stays free while the TPM works.
 *
 * A command the RM cannot run yet (RM_WAIT: no session slot free, or a TPM
 * warning to retry after a pause) is *parked*: out of the run queue, with a
 * deadline, until its time comes or a session slot is freed; it then goes
 * to the head of the queue, oldest first.  Others run meanwhile.
 */
#ifndef TB_SCHED_H
#define TB_SCHED_H

#include <stdbool.h>
#include <stdint.h>

struct server;
struct conn;
struct sched;

struct sched_stats {
	uint64_t jobs;            /* client commands completed */
	uint64_t tpm_commands;    /* commands sent to the TPM (RM's own included) */
	uint64_t backend_errors;
	uint64_t reconnects;
	uint64_t tpm_resets;      /* TPM found un-started and started again */
	uint64_t cancels;
	uint64_t parks;           /* commands that had to wait (a session slot, a TPM warning) */
	unsigned queued;          /* now */
	unsigned parked;          /* now: commands waiting out of turn */
	bool busy;                /* a job is running now */
};

int sched_new(struct server *srv, struct sched **ret);
void sched_free(struct sched *s);

/* c->cmd holds a validated command: queue it (c->state becomes QUEUED). */
void sched_submit(struct sched *s, struct conn *c);
/* Queue c's close job (c is DEAD); runs before queued commands. */
void sched_submit_close(struct sched *s, struct conn *c);
/*
 * CANCEL from the client: a queued command is taken off the queue (true;
 * the caller answers it); a running one is cancelled at the TPM (false).
 */
bool sched_cancel(struct sched *s, struct conn *c);
/* c died: drop it from the queue or the parked list (its close job follows). */
void sched_forget(struct sched *s, struct conn *c);

void sched_get_stats(const struct sched *s, struct sched_stats *ret);

#endif
