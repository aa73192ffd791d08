/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * job.h: the unit a TPM instance's scheduler runs.  A job is one TPM
 * command's worth of work for somebody: a client's command (the connection
 * embeds its job), the clean-up of a connection that closed (the same
 * embedded job, reused), or the daemon's own work (a Startup after a TPM
 * reset, a log-first extend (measure.c), the Shutdown before a private
 * instance's idle stop (supervise.c)).  The scheduler knows jobs only;
 * whose job it is matters to it only through the done callback.
 *
 * job state   event                              next      who
 * IDLE        sched_submit()/sched_submit_first  QUEUED    the owner
 * QUEUED      its turn                           RUNNING   sched
 * QUEUED      sched_cancel() / sched_forget()    IDLE      the owner
 * RUNNING     the RM says wait (RM_WAIT)         PARKED    sched (unless orphaned: done)
 * PARKED      its deadline, or a slot freed      QUEUED    sched (ahead of the others,
 *                                                           oldest first)
 * PARKED      sched_cancel() / sched_forget()    IDLE      the owner
 * RUNNING     the RM is done (RM_DONE), or fails IDLE      sched, then done(job, r)
 *
 * done() is the scheduler's last touch of the job: the owner may submit it
 * again (its next command, or its close) or free it from there.
 *
 * Fair shares (sched.c): the owner says whose share a job draws from
 * (owner_key: a local user, a remote host, the daemon), how big that share
 * is (weight) and its priority class; the scheduler takes turns over those
 * keys, then over each key's jobs.
 */
#ifndef TB_JOB_H
#define TB_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct rm_conn;
struct sched_user;

/* owner_key values: whose share of the TPM a job draws from */
#define JOB_KEY_DAEMON 0ull                                 /* the daemon's own */
#define JOB_KEY_UID(uid) ((1ull << 32) | (uint64_t)(uid))  /* a local user */
#define JOB_KEY_HOST (1ull << 63) /* | a hash of a peer's address: no uid known */

/* priority classes, highest first (the profile's "priority") */
enum job_prio {
	JOB_PRIO_SYSTEM,
	JOB_PRIO_INTERACTIVE,
	JOB_PRIO_NORMAL,
	JOB_PRIO_BULK,
};

enum job_kind {
	JOB_COMMAND,  /* a client's TPM command, through the RM (rm_begin) */
	JOB_CLOSE,    /* release what a closed connection held (rm_close) */
	JOB_INTERNAL, /* the daemon's own: RM housekeeping, then cmd as is (rm_begin_internal) */
};

enum job_state {
	JOB_IDLE,
	JOB_QUEUED,
	JOB_PARKED,
	JOB_RUNNING,
};

struct job;
/*
 * The job is over.  r == 0: for a command, rsp_len bytes of response are in
 * rsp; r < 0: an internal failure (the RM's or the backend's), nothing in
 * rsp; -ECANCELED: its owner left (orphaned) before it could finish.
 */
typedef void (*job_done_fn)(struct job *j, int r);

struct job {
	enum job_kind kind;
	enum job_state state;       /* written by the scheduler only */
	struct rm_conn *rmc;        /* whose handles; NULL for JOB_INTERNAL; not owned */
	uint64_t owner_id;          /* for logs: the connection's id, 0 the daemon */
	uint8_t *cmd;               /* the command; the RM may rewrite handles; not owned */
	size_t cmd_len;
	uint8_t *rsp;               /* where the response goes; not owned */
	size_t rsp_cap;
	size_t rsp_len;             /* set before done(j, 0) */
	uint8_t locality;           /* of a JOB_COMMAND */
	bool orphaned;              /* its owner left while it ran: nobody wants the answer */
	bool reached_tpm;           /* the command itself was sent to the TPM (not answered
				     * by the broker alone) */
	/* a command that had to wait (RM_WAIT): kept across its runs */
	uint64_t park_ns;           /* it first waited (the RM's clock); 0: never */
	uint64_t wake_ns;           /* parked: run it again by then */
	unsigned backoffs;          /* TPM warnings retried so far */
	bool wake_on_slot;          /* parked: a freed session slot wakes it */
	TAILQ_ENTRY(job) q_entry;   /* the run queue or the parked list */
	job_done_fn done;
	/*
	 * The TPM did not answer its command within --backend-timeout: answer
	 * the client now (0x000B0909); the job goes on until the TPM answers,
	 * so that the RM's books stay right, and done() still follows (its
	 * response is then nobody's).  NULL: the owner just waits.
	 */
	void (*late)(struct job *j);
	void *data;                 /* the owner; not owned */
	/* fair shares: set by the owner before it submits */
	uint64_t owner_key;         /* JOB_KEY_* */
	unsigned weight;            /* 1..100: the key's share against other keys */
	enum job_prio prio;
	/* the scheduler's, while the job is in it */
	struct sched_user *user;    /* the owner_key's account; not owned */
	uint64_t seq;               /* order of submission: ties go to the older job */
	bool urgent;                /* queued ahead of every user (close, daemon, unparked) */
};

static inline void
job_init(struct job *j, enum job_kind kind, job_done_fn done, void *data)
{
	*j = (struct job){.kind = kind, .state = JOB_IDLE, .done = done, .data = data,
			  .owner_key = JOB_KEY_DAEMON, .weight = 1, .prio = JOB_PRIO_NORMAL};
}

/* "queued", "parked", "running" or "idle": for status. */
const char *job_state_name(enum job_state s);

#endif
