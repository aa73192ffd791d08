/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sched.h: fair turns at one TPM instance.  Turns go first over users
 * (job->owner_key), by the TPM time each has used divided by its weight,
 * higher priority classes first (a waiting lower class rises with time),
 * then round robin over a user's jobs: a connection has at most one job
 * queued, so opening more connections buys a user no more of the TPM.
 * One job at a time is driven through the RM and the asynchronous backend;
 * the loop stays free while the TPM works.  The details are atop sched.c.
 *
 * Close jobs and the daemon's own (sched_submit_first) go ahead of every
 * user: they free TPM slots others wait for.
 *
 * A job the RM cannot run yet (RM_WAIT: no session slot free, or a TPM
 * warning to retry after a pause) is *parked*: out of the run queue, with a
 * deadline, until its time comes or a session slot is freed; it then goes
 * to the head of the queue, oldest first.  Others run meanwhile.
 *
 * The scheduler knows jobs, the RM, the backend and the loop; never who
 * owns a job (a connection, the daemon): that is the done callback's.
 */
#ifndef TB_SCHED_H
#define TB_SCHED_H

#include <stdbool.h>
#include <stdint.h>

struct backend;
struct job;
struct loop;
struct rm;
struct sched;

struct sched_params {
	unsigned backend_timeout_ms; /* one TPM command; then cancel, then fail */
	/*
	 * The clock of the TPM time charged to users and of priority aging,
	 * monotonic ns; NULL: now_ns().  Tests pass a fake one.
	 */
	uint64_t (*now_ns)(void *ctx);
	void *clock_ctx;             /* not owned; given to now_ns */
};

struct sched_stats {
	uint64_t jobs;            /* client commands completed */
	uint64_t tpm_commands;    /* commands sent to the TPM (RM's own included) */
	uint64_t backend_errors;
	uint64_t reconnects;
	uint64_t cancels;
	uint64_t timeouts;        /* commands the TPM did not answer within --backend-timeout */
	uint64_t parks;           /* commands that had to wait (a session slot, a TPM warning) */
	uint64_t aged;            /* turns a lower class got by waiting (aging) */
	uint64_t holds;           /* times the TPM waited a moment for a user owed time */
	uint64_t inline_cmds;     /* commands the backend ran in the loop's thread */
	unsigned inline_max_us;   /* the longest of them, µs: the most the loop stood still */
	unsigned queued;          /* now */
	unsigned parked;          /* now: commands waiting out of turn */
	bool busy;                /* a job is running now */
};

/* be and rm are not owned and must outlive the scheduler. */
int sched_new(struct loop *loop, struct backend *be, struct rm *rm,
	      const struct sched_params *params, struct sched **ret);
void sched_free(struct sched *s);

/* Queue j behind its user's other jobs (a client's command: its turn comes round). */
void sched_submit(struct sched *s, struct job *j);
/* Queue j at the head, ahead of every user: close jobs free TPM slots others wait for. */
void sched_submit_first(struct sched *s, struct job *j);
/*
 * Cancel: a queued or parked job is taken out (true; the owner answers
 * it); a running client command is cancelled at the TPM (false).
 */
bool sched_cancel(struct sched *s, struct job *j);
/* The owner is gone: drop a queued or parked job (no callback). */
void sched_forget(struct sched *s, struct job *j);

void sched_get_stats(const struct sched *s, struct sched_stats *ret);

#endif
