/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sched.c: one job at a time at the TPM, fair turns for everyone else.
 *
 * The run queue holds jobs (job.h); a connection has one command in flight,
 * so its job is in the queue at most once, and FIFO order is round robin
 * over connections: a client that sends command after command goes to the
 * back each time.  Close jobs (flushing a dead client's objects) go to the
 * front: they free TPM slots others wait for.
 *
 * A job is driven by the RM (rm.h): every RM_SEND goes to the asynchronous
 * backend and the loop returns to epoll; the backend's fd wakes us when the
 * answer is in.  Re-entrancy: a job's done callback may write to a client,
 * which may read and submit its next command; sched_run() is guarded so
 * that nested submissions only enqueue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <tss2/tss2_rc.h>

#include "../common/ccnames.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "job.h"
#include "loop.h"
#include "rm.h"
#include "sched.h"

TAILQ_HEAD(job_q, job);

struct sched {
	struct loop *loop;         /* not owned */
	struct backend *be;        /* not owned */
	struct rm *rm;             /* not owned */
	struct sched_params p;
	struct loop_io be_io;
	int be_fd_registered;      /* the fd be_io watches, -1 if none */
	struct loop_timer be_timer;
	struct job_q queue;        /* jobs waiting for their turn; not owned */
	struct job_q parked;       /* jobs waiting out of turn, oldest first; not owned */
	struct loop_timer park_timer;
	uint64_t slot_gen;         /* rm_slot_gen() when last looked at */
	struct job *cur;           /* the job in progress; not owned */
	struct rm_step step;
	bool waiting;              /* a command is at the backend */
	bool reconnected;          /* the current job already had its one reconnect */
	bool running;              /* re-entrancy guard of sched_run() */
	struct sched_stats st;
	struct job startup_job;    /* the daemon's: TPM2_Startup after a reset (JOB_INTERNAL) */
	uint8_t scratch[TB_BUF_MAX]; /* step->rsp of jobs that want no answer */
	uint8_t rsp[TB_BUF_MAX];     /* the backend's answer */
};

static void sched_run(struct sched *s);
static void sched_on_backend(struct loop_io *io, uint32_t events);
static void sched_startup_done(struct job *j, int r);

static void
sched_unwatch_backend(struct sched *s)
{
	if (s->be_fd_registered >= 0)
		loop_io_del(s->loop, &s->be_io);
	s->be_fd_registered = -1;
}

static int
sched_watch_backend(struct sched *s)
{
	struct backend *be = s->be;
	int r;

	if (s->be_fd_registered == be->fd)
		return 0;
	sched_unwatch_backend(s); /* -2: already removed */
	if (be->fd < 0)
		return -ENOTCONN;
	if ((r = loop_io_add(s->loop, &s->be_io, be->fd, EPOLLIN, sched_on_backend, s)) < 0)
		return r;
	s->be_fd_registered = be->fd;
	return 0;
}

const char *
job_state_name(enum job_state st)
{
	static const char *const names[] = {"idle", "queued", "parked", "running"};

	return (unsigned)st < ARRAY_SIZE(names) ? names[st] : "?";
}

int
sched_new(struct loop *loop, struct backend *be, struct rm *rm,
	  const struct sched_params *params, struct sched **ret)
{
	struct sched *s = calloc(1, sizeof(*s));
	int r;

	if (s == NULL)
		return -ENOMEM;
	s->loop = loop;
	s->be = be;
	s->rm = rm;
	s->p = *params;
	job_init(&s->startup_job, JOB_INTERNAL, sched_startup_done, s);
	s->be_fd_registered = -1;
	TAILQ_INIT(&s->queue);
	TAILQ_INIT(&s->parked);
	if ((r = sched_watch_backend(s)) < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void
sched_free(struct sched *s)
{
	if (s == NULL)
		return;
	sched_unwatch_backend(s);
	loop_timer_disarm(s->loop, &s->be_timer);
	loop_timer_disarm(s->loop, &s->park_timer);
	free(s);
}

static void
sched_enqueue(struct sched *s, struct job *j, bool first)
{
	j->state = JOB_QUEUED;
	if (first)
		TAILQ_INSERT_HEAD(&s->queue, j, q_entry);
	else
		TAILQ_INSERT_TAIL(&s->queue, j, q_entry);
	s->st.queued++;
	sched_run(s);
}

void
sched_submit(struct sched *s, struct job *j)
{
	j->orphaned = false;
	j->park_ns = 0; /* a new command (the last one may have been cancelled parked) */
	j->backoffs = 0;
	sched_enqueue(s, j, false);
}

void
sched_submit_first(struct sched *s, struct job *j)
{
	sched_enqueue(s, j, true);
}

void
sched_forget(struct sched *s, struct job *j)
{
	if (j->state == JOB_PARKED) {
		TAILQ_REMOVE(&s->parked, j, q_entry);
		s->st.parked--;
	} else if (j->state == JOB_QUEUED) {
		TAILQ_REMOVE(&s->queue, j, q_entry);
		s->st.queued--;
	}
	j->state = JOB_IDLE;
}

/* ---- parked commands ---- */

static void sched_park_timeout(struct loop_timer *t);

static void
sched_arm_park_timer(struct sched *s)
{
	uint64_t first = UINT64_MAX, now = now_ns();
	struct job *j;

	TAILQ_FOREACH(j, &s->parked, q_entry)
		first = MIN(first, j->wake_ns);
	if (first == UINT64_MAX)
		loop_timer_disarm(s->loop, &s->park_timer);
	else
		loop_timer_arm(s->loop, &s->park_timer, first > now ? first - now : 0,
			       sched_park_timeout, s);
}

/* Back to the run queue, before the jobs that did not wait; *after: the last one moved. */
static void
sched_unpark(struct sched *s, struct job *j, struct job **after)
{
	TAILQ_REMOVE(&s->parked, j, q_entry);
	s->st.parked--;
	j->state = JOB_QUEUED;
	if (*after == NULL)
		TAILQ_INSERT_HEAD(&s->queue, j, q_entry);
	else
		TAILQ_INSERT_AFTER(&s->queue, *after, j, q_entry);
	*after = j;
	s->st.queued++;
}

static void sched_job_done(struct sched *s, int r);

/* The current job must wait (RM_WAIT): out of turn until its time. */
static void
sched_park(struct sched *s)
{
	struct job *j = s->cur, *p;

	if (j->orphaned) {
		/* its owner left while it ran: nothing to wait for */
		s->cur = NULL;
		j->state = JOB_IDLE;
		j->done(j, -ECANCELED);
		return;
	}
	s->cur = NULL;
	j->state = JOB_PARKED;
	j->park_ns = s->step.parked_ns;
	j->backoffs = s->step.backoffs;
	j->wake_on_slot = s->step.wake_on_slot;
	j->wake_ns = now_ns() + (uint64_t)s->step.wait_ms * 1000000u;
	/* oldest first: one woken for a slot another took keeps its place */
	for (p = TAILQ_LAST(&s->parked, job_q); p != NULL && p->park_ns > j->park_ns;
	     p = TAILQ_PREV(p, job_q, q_entry))
		;
	if (p == NULL)
		TAILQ_INSERT_HEAD(&s->parked, j, q_entry);
	else
		TAILQ_INSERT_AFTER(&s->parked, p, j, q_entry);
	s->st.parked++;
	s->st.parks++;
	sched_arm_park_timer(s);
}

/* Session slots were freed: as many parked jobs waiting for one run next. */
static void
sched_wake_slots(struct sched *s)
{
	uint64_t gen = rm_slot_gen(s->rm), n = gen - s->slot_gen;
	struct job *j, *next, *after = NULL;

	s->slot_gen = gen;
	for (j = TAILQ_FIRST(&s->parked); j != NULL && n > 0; j = next) {
		next = TAILQ_NEXT(j, q_entry);
		if (!j->wake_on_slot)
			continue;
		sched_unpark(s, j, &after);
		n--;
	}
	if (after != NULL)
		sched_arm_park_timer(s);
}

static void
sched_park_timeout(struct loop_timer *t)
{
	struct sched *s = t->data;
	uint64_t now = now_ns();
	struct job *j, *next, *after = NULL;

	for (j = TAILQ_FIRST(&s->parked); j != NULL; j = next) {
		next = TAILQ_NEXT(j, q_entry);
		if (j->wake_ns <= now + 100000u) /* due within 0.1 ms: now */
			sched_unpark(s, j, &after);
	}
	sched_arm_park_timer(s);
	sched_run(s);
}

bool
sched_cancel(struct sched *s, struct job *j)
{
	struct backend *be = s->be;

	if (j->state == JOB_QUEUED || j->state == JOB_PARKED) {
		sched_forget(s, j);
		s->st.cancels++;
		return true;
	}
	if (s->cur == j && s->waiting && s->step.client_cmd && be->ops->cancel != NULL) {
		s->st.cancels++;
		if (be->ops->cancel(be) < 0)
			log_debug("%s: cancel failed", be->desc);
	}
	return false;
}

void
sched_get_stats(const struct sched *s, struct sched_stats *ret)
{
	*ret = s->st;
	ret->busy = s->cur != NULL;
}

static void
sched_timeout(struct loop_timer *t)
{
	struct sched *s = t->data;
	struct backend *be = s->be;

	log_warnx("%s: no answer in %u ms", be->desc, s->p.backend_timeout_ms);
	if (be->ops->cancel != NULL)
		(void)be->ops->cancel(be);
	/* without reconnect() (libtpms) the command is bound to finish: keep waiting */
	if (be->ops->reconnect == NULL)
		return;
	s->waiting = false;
	s->step.rsp_len = 0;
	/* treated as a broken link: sched_on_backend's failure path */
	sched_on_backend(&s->be_io, 0);
}

static const char *
sched_cc_name(uint32_t cc)
{
	const char *n = cc_name(cc);

	return n != NULL ? n : "vendor command";
}

/* Hand step.tpm_cmd to the backend.  0: submitted, wait; <0: failed. */
static int
sched_send(struct sched *s)
{
	struct backend *be = s->be;
	uint8_t loc = s->step.client_cmd ? s->cur->locality : 0;
	int r;

	if ((r = sched_watch_backend(s)) < 0)
		return r;
	if ((r = be->ops->submit(be, s->step.tpm_cmd, s->step.tpm_cmd_len, loc)) < 0)
		return r;
	/* the backend may wait on another fd first (swtpm's control channel) */
	if ((r = sched_watch_backend(s)) < 0)
		return r;
	s->waiting = true;
	s->st.tpm_commands++;
	if (!s->step.client_cmd && s->step.tpm_cmd_len >= TPM_HDR_SIZE)
		log_debug("%s: the RM's own %s (for %s %llu)", be->desc,
			  sched_cc_name(get_be32(s->step.tpm_cmd + 6)),
			  s->cur->kind == JOB_INTERNAL ? "the daemon, job" : "conn",
			  (unsigned long long)s->cur->owner_id);
	if (s->step.client_cmd)
		s->cur->reached_tpm = true;
	loop_timer_arm(s->loop, &s->be_timer,
		       (uint64_t)s->p.backend_timeout_ms * 1000000u, sched_timeout, s);
	return 0;
}

/* The daemon's own job after a TPM reset: the RM's pending Startup, at once. */
static void
sched_startup_done(struct job *j, int r)
{
	struct sched *s = j->data;

	if (r < 0)
		log_errno(LOG_LVL_WARN, -r, "%s: TPM2_Startup after reset", s->be->desc);
}

/*
 * The TPM lost its state.  The RM drops every handle and plans a
 * TPM2_Startup as the next step of whatever job runs next (the one in
 * flight re-plans after rm_abort); the startup job, at the head of the
 * queue, makes sure that happens now even if no client sends anything.
 */
static void
sched_tpm_restarted(struct sched *s)
{
	log_warnx("%s: the TPM was reset underneath; starting it again, "
		  "clients' transient handles are gone", s->be->desc);
	s->be->needs_startup = false;
	rm_tpm_reset(s->rm);
	if (s->startup_job.state == JOB_IDLE)
		sched_submit_first(s, &s->startup_job);
}

/*
 * The backend failed the step in flight: reconnect once per job; the RM then
 * decides (rm_abort) whether to send again.
 */
static int
sched_backend_failed(struct sched *s, int err)
{
	struct backend *be = s->be;
	struct rm_conn *rmc = s->cur->rmc;
	int r;

	s->st.backend_errors++;
	log_errno(LOG_LVL_WARN, -err, "%s: command failed", be->desc);
	if (be->ops->reconnect != NULL && !s->reconnected) {
		s->reconnected = true;
		/*
		 * Unwatch first: the new link may reuse the fd number, and the
		 * old fd's close dropped it from epoll without our knowing.
		 */
		sched_unwatch_backend(s);
		if ((r = be->ops->reconnect(be)) == 0 && (r = sched_watch_backend(s)) == 0) {
			s->st.reconnects++;
			if (be->needs_startup)
				sched_tpm_restarted(s);
			return rm_abort(s->rm, rmc, -ECONNRESET, &s->step);
		}
		log_errno(LOG_LVL_WARN, -r, "%s: reconnect", be->desc);
	}
	return rm_abort(s->rm, rmc, err, &s->step);
}

/* The job is over (RM_DONE, or r < 0 an internal RM failure): hand it back. */
static void
sched_job_done(struct sched *s, int r)
{
	struct job *j = s->cur;

	s->cur = NULL;
	j->state = JOB_IDLE;
	if (j->kind == JOB_COMMAND) {
		s->st.jobs++;
		j->park_ns = 0;
		j->backoffs = 0;
	}
	j->rsp_len = r < 0 ? 0 : s->step.rsp_len;
	j->done(j, r); /* the last touch: the owner may submit or free j */
}

/* Drive the current job from RM result r until it waits or ends. */
static void
sched_advance(struct sched *s, int r)
{
	while (r == RM_SEND) {
		int e = sched_send(s);
		if (e == 0)
			return;
		if (e == -EOPNOTSUPP) /* e.g. a locality the backend can't set */
			r = rm_abort(s->rm, s->cur->rmc, e, &s->step);
		else
			r = sched_backend_failed(s, e);
	}
	if (r == RM_WAIT)
		sched_park(s);
	else
		sched_job_done(s, r);
}

static void
sched_start(struct sched *s, struct job *j)
{
	int r;

	TAILQ_REMOVE(&s->queue, j, q_entry);
	s->st.queued--;
	s->cur = j;
	j->state = JOB_RUNNING;
	j->reached_tpm = false;
	s->reconnected = false;
	memset(&s->step, 0, sizeof(s->step));
	s->step.rsp = j->rsp != NULL ? j->rsp : s->scratch;
	s->step.rsp_cap = j->rsp != NULL ? j->rsp_cap : sizeof(s->scratch);
	switch (j->kind) {
	case JOB_CLOSE:
		r = rm_close(s->rm, j->rmc, &s->step);
		break;
	case JOB_INTERNAL:
		r = rm_begin_internal(s->rm, j->cmd, j->cmd_len, &s->step);
		break;
	case JOB_COMMAND:
	default:
		s->step.parked_ns = j->park_ns;
		s->step.backoffs = j->backoffs;
		r = rm_begin(s->rm, j->rmc, j->cmd, j->cmd_len, &s->step);
		break;
	}
	sched_advance(s, r);
}

static void
sched_run(struct sched *s)
{
	struct job *j;

	if (s->running)
		return;
	s->running = true;
	while (s->cur == NULL) {
		/* slots freed by the last job go to parked commands first */
		if (rm_slot_gen(s->rm) != s->slot_gen)
			sched_wake_slots(s);
		if ((j = TAILQ_FIRST(&s->queue)) == NULL)
			break;
		sched_start(s, j);
	}
	s->running = false;
}

static void
sched_on_backend(struct loop_io *io, uint32_t events)
{
	struct sched *s = io->data;
	struct backend *be = s->be;
	size_t len = 0;
	int r;

	(void)events;
	if (!s->waiting && s->cur == NULL) {
		/*
		 * Readable while idle: the link broke (EOF).  Stop watching the
		 * dead fd and reconnect lazily, when the next command fails on
		 * it: a simulator still restarting now would only fail twice.
		 */
		loop_io_del(s->loop, &s->be_io);
		s->be_fd_registered = -2; /* never equal to be->fd: re-added on next send */
		log_debug("%s: link closed while idle; reconnecting on next use", be->desc);
		return;
	}
	if (s->waiting) {
		r = be->ops->finish(be, s->rsp, sizeof(s->rsp), &len);
		if (r == 0) {
			/* not yet; the backend may have moved to another fd */
			if ((r = sched_watch_backend(s)) == 0)
				return;
		}
	} else {
		r = -ETIMEDOUT; /* from sched_timeout */
	}
	s->waiting = false;
	loop_timer_disarm(s->loop, &s->be_timer);
	s->running = true;
	if (r == -EOPNOTSUPP) {
		/* the backend could not set the locality; the link is fine */
		r = rm_abort(s->rm, s->cur->rmc, r, &s->step);
	} else if (r < 0) {
		r = sched_backend_failed(s, r);
	} else if (wire_response_rc(s->rsp, len) == TPM2_RC_INITIALIZE &&
		   get_be32(s->step.tpm_cmd + 6) != TPM2_CC_Startup) {
		/* powered off and on underneath us without the link breaking */
		sched_tpm_restarted(s);
		r = rm_abort(s->rm, s->cur->rmc, -ECONNRESET, &s->step);
	} else {
		if (!s->step.client_cmd && wire_response_rc(s->rsp, len) != TPM2_RC_SUCCESS)
			log_debug("%s: the RM's own %s -> 0x%08x %s", be->desc,
				  sched_cc_name(get_be32(s->step.tpm_cmd + 6)),
				  wire_response_rc(s->rsp, len), Tss2_RC_Decode(wire_response_rc(s->rsp, len)));
		r = rm_resume(s->rm, s->cur->rmc, s->rsp, len, &s->step);
	}
	sched_advance(s, r);
	s->running = false;
	sched_run(s);
}
