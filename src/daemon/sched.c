/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sched.c: one job at a time at the TPM, fair turns for everyone else.
 *
 * Whose turn.  Every job draws from the share of its owner_key (job.h): a
 * local user, a remote host, the daemon.  Each key has an account (struct
 * sched_user) with a virtual time, vtime: the TPM time its jobs took, each
 * measured on the monotonic clock from the hand-over to the backend until
 * the answer (a job's every exchange: context loads, the command, saves),
 * plus SCHED_JOB_COST_NS for the broker's own work, divided by the key's
 * weight (the profile's, 1..100).  The next turn goes to
 *   1. the urgent queue: close jobs, the daemon's own, parked jobs whose
 *      time came (oldest first), as before: they free what others wait for;
 *   2. else the user with jobs queued in the highest class, where a user's
 *      class is its profile's priority raised one class per SCHED_AGE_NS it
 *      has waited, since its last turn, while higher classes had theirs
 *      (not while its own class did: that is its fair share at work);
 *   3. within a class, the least vtime (ties: the older job);
 *   4. within a user, its oldest job: a connection has one job queued at a
 *      time, so this is round robin over the user's connections.
 * This is start-time fair queuing with the TPM's time as the cost, so a
 * 300 ms CreatePrimary counts 300 ms, not one turn: the user who ran it
 * waits while the others catch up.  A user that starts waiting gets
 * vtime = max(its vtime, vnow), vnow being the vtime of the last user
 * served: no credit for the time it had nothing to do, but a debt it ran up
 * stays (its account is kept, with no jobs, until vnow passes it).
 *
 * Holding the TPM for a moment.  A client that sends one command at a time
 * has nothing queued while its answer travels and its next command comes
 * back (tens of µs): a work-conserving scheduler would start a long job of
 * another user in that gap, and such a client would get one command per
 * long job however little TPM time it used.  So when a user's command has
 * just been answered and that user would win the next turn (a higher class,
 * or the same class and less vtime) against a user whose jobs take long, the
 * TPM waits for that user's next command, up to SCHED_HOLD_NS of real time
 * and a quarter of the other user's average job (an anticipatory scheduler,
 * as in Linux's AS and BFQ I/O schedulers).  Users of cheap jobs (average
 * under 4 x SCHED_HOLD_MIN_NS) are never kept waiting this way.
 *
 * Close jobs and the daemon's jobs go to the urgent queue (sched_submit_first):
 * they free TPM slots others wait for; they are charged like any other.
 *
 * A job is driven by the RM (rm.h): every RM_SEND goes to the asynchronous
 * backend and the loop returns to epoll; the backend's fd wakes us when the
 * answer is in.  Re-entrancy: a job's done callback may write to a client,
 * which may read and submit its next command; sched_run() is guarded so
 * that nested submissions only enqueue.
 *
 * Cheap commands at the loop.  A backend that computes in-process (libtpms)
 * may run a cheap command to its end in submit_now(): its answer is taken in
 * at once, with no trip through epoll.  The loop stands still meanwhile, so
 * such commands get at most SCHED_INLINE_BUDGET_NS of one dispatch round
 * (loop_round()); past that the next one goes to the backend's worker as any
 * other, and the loop serves its other fds first.  So another client waits
 * at most the budget plus one cheap command (the longest is kept:
 * st.inline_max_us).
 */
#include <errno.h>
#include <limits.h>
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

#define MS_NS 1000000ull
/* Charged per job on top of its TPM time, so that jobs the broker answers alone are not
 * free turns; small against a TPM command (GetRandom on libtpms: 60-80 µs hand-over to
 * answer), or cheap commands would pay for a cost they do not cause. */
#define SCHED_JOB_COST_NS (10 * 1000ull)
/* A waiting user rises one priority class per this long: bulk work waits at most 3 of
 * these (plus the job running, and one job's worth of another user's vtime) behind a
 * stream of system-class work. */
#define SCHED_AGE_NS (200 * MS_NS)
/* The TPM waits at most this long (real time) for the next command of a user owed time,
 * and at most a quarter of what the other user's jobs take on average (so it is idle at
 * most 1/5 of the time when the user does not come back)... */
#define SCHED_HOLD_NS (4 * MS_NS)
/* ...and not at all when that is shorter than this (cheap jobs: no waiting for anyone). */
#define SCHED_HOLD_MIN_NS (250 * 1000ull)
#define SCHED_USER_BUCKETS 64
#define SCHED_WEIGHT_MAX 100 /* a profile's weight: 1..POLICY_WEIGHT_MAX */
/* Idle accounts whose debt is paid are freed every this many turns. */
#define SCHED_SWEEP_TURNS 64
/* Cheap commands run at the loop for at most this long per dispatch round (see atop). */
#define SCHED_INLINE_BUDGET_NS (500 * 1000ull)

/* One owner_key's account. */
struct sched_user {
	uint64_t key;         /* job->owner_key */
	unsigned weight;      /* of its latest job: 1..SCHED_WEIGHT_MAX */
	enum job_prio prio;   /* of its latest job */
	uint64_t vtime;       /* TPM time charged / weight, ns: the least goes first */
	uint64_t aged_ns;     /* waited behind higher classes since its last turn: aging */
	uint64_t since;       /* the interval aged_ns is yet to count began (sched clock) */
	bool starved;         /* that interval counts: a higher class had the turn */
	uint64_t avg_ns;      /* its jobs' recent cost (average, 1/4 weight to the latest) */
	unsigned n_jobs;      /* its jobs in the scheduler: queued, parked or running */
	struct job_q q;       /* its queued jobs, oldest first; not owned */
	LIST_ENTRY(sched_user) hash;
	TAILQ_ENTRY(sched_user) entry; /* s->active while q is not empty, else s->idle */
};
TAILQ_HEAD(user_q, sched_user);

struct sched {
	struct loop *loop;         /* not owned */
	struct backend *be;        /* not owned */
	struct rm *rm;             /* not owned */
	struct sched_params p;
	struct loop_io be_io;
	int be_fd_registered;      /* the fd be_io watches, -1 if none */
	struct loop_timer be_timer;
	struct job_q urgent;       /* jobs ahead of every user (close, daemon, unparked); not owned */
	struct job_q parked;       /* jobs waiting out of turn, oldest first; not owned */
	struct user_q active;      /* accounts with jobs queued; owned */
	struct user_q idle;        /* accounts without (jobs parked or running, or a debt); owned */
	LIST_HEAD(, sched_user) users[SCHED_USER_BUCKETS]; /* the same accounts, by key */
	struct sched_user spare;   /* for jobs whose account could not be allocated */
	uint64_t vnow;             /* vtime of the user served last */
	uint64_t seq;              /* jobs submitted so far */
	unsigned turns;            /* since the last sweep of idle accounts */
	uint64_t sent_ns;          /* the step at the backend was handed over (sched clock) */
	uint64_t tpm_ns;           /* the current job's TPM time so far */
	unsigned cur_level;        /* the class the job in progress was picked at (urgent: 0) */
	struct sched_user *hold_for; /* its command was just answered: worth waiting for */
	struct loop_timer hold_timer;
	struct loop_timer park_timer;
	uint64_t slot_gen;         /* rm_slot_gen() when last looked at */
	struct job *cur;           /* the job in progress; not owned */
	struct rm_step step;
	bool waiting;              /* a command is at the backend */
	bool reconnected;          /* the current job already had its one reconnect */
	bool late;                 /* the current job's owner was answered at a timeout */
	bool slow;                 /* the current job had its one timeout: the next breaks the link */
	bool running;              /* re-entrancy guard of sched_run() */
	uint64_t inline_round;     /* the loop_round() inline_ns is of */
	uint64_t inline_ns;        /* spent on cheap commands at the loop in that round */
	struct sched_stats st;
	struct job startup_job;    /* the daemon's: TPM2_Startup after a reset (JOB_INTERNAL) */
	uint8_t scratch[TB_BUF_MAX]; /* step->rsp of jobs that want no answer */
	uint8_t rsp[TB_BUF_MAX];     /* the backend's answer */
};

static void sched_run(struct sched *s);
static void sched_on_backend(struct loop_io *io, uint32_t events);
static void sched_startup_done(struct job *j, int r);

static uint64_t
sched_now(const struct sched *s)
{
	return s->p.now_ns != NULL ? s->p.now_ns(s->p.clock_ctx) : now_ns();
}

/* ---- accounts ---- */

static unsigned
user_bucket(uint64_t key)
{
	return (unsigned)((key * 0x9e3779b97f4a7c15ull) >> 58) % SCHED_USER_BUCKETS;
}

/* The account of j's owner_key, made if new; never fails (the spare one). */
static struct sched_user *
user_get(struct sched *s, const struct job *j)
{
	unsigned b = user_bucket(j->owner_key);
	struct sched_user *u;

	LIST_FOREACH(u, &s->users[b], hash)
		if (u->key == j->owner_key)
			return u;
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		log_debug("sched: no memory for an account; sharing the spare one");
		return &s->spare;
	}
	u->key = j->owner_key;
	u->vtime = s->vnow;
	TAILQ_INIT(&u->q);
	LIST_INSERT_HEAD(&s->users[b], u, hash);
	TAILQ_INSERT_TAIL(&s->idle, u, entry);
	return u;
}

/* An account with no jobs and no debt is the same as none: free it. */
static void
user_maybe_free(struct sched *s, struct sched_user *u)
{
	if (u == &s->spare || u->n_jobs > 0 || u->vtime > s->vnow || u == s->hold_for)
		return;
	LIST_REMOVE(u, hash);
	TAILQ_REMOVE(&s->idle, u, entry);
	free(u);
}

static void
users_sweep(struct sched *s)
{
	struct sched_user *u, *next;

	s->turns = 0;
	for (u = TAILQ_FIRST(&s->idle); u != NULL; u = next) {
		next = TAILQ_NEXT(u, entry);
		user_maybe_free(s, u);
	}
}

/* j enters the scheduler: charge it to its owner's account from now on. */
static void
sched_attach(struct sched *s, struct job *j)
{
	struct sched_user *u = user_get(s, j);

	u->weight = j->weight < 1 ? 1 : j->weight > SCHED_WEIGHT_MAX ? SCHED_WEIGHT_MAX : j->weight;
	u->prio = j->prio > JOB_PRIO_BULK ? JOB_PRIO_BULK : j->prio;
	u->n_jobs++;
	j->user = u;
	j->seq = ++s->seq;
}

/* j leaves the scheduler (done or forgotten). */
static void
sched_detach(struct sched *s, struct job *j)
{
	struct sched_user *u = j->user;

	j->user = NULL;
	if (u != NULL && --u->n_jobs == 0)
		user_maybe_free(s, u);
}

/* The current job's TPM time goes on its owner's account. */
static void
sched_charge(struct sched *s, struct job *j)
{
	struct sched_user *u = j->user;
	uint64_t cost = s->tpm_ns + SCHED_JOB_COST_NS;

	s->tpm_ns = 0;
	u->vtime += cost / u->weight;
	u->avg_ns = u->avg_ns - u->avg_ns / 4 + cost / 4;
}

/* Queue j: urgent ones ahead of every user (first: at the very head), others behind
 * their user's other jobs. */
static void
sched_queue(struct sched *s, struct job *j, bool urgent, bool first)
{
	struct sched_user *u = j->user;

	j->state = JOB_QUEUED;
	j->urgent = urgent;
	s->st.queued++;
	if (urgent) {
		if (first)
			TAILQ_INSERT_HEAD(&s->urgent, j, q_entry);
		else
			TAILQ_INSERT_TAIL(&s->urgent, j, q_entry);
		return;
	}
	if (TAILQ_EMPTY(&u->q)) {
		/* it starts waiting: no credit for the time it had nothing to do */
		u->vtime = MAX(u->vtime, s->vnow);
		u->aged_ns = 0;
		u->since = sched_now(s);
		u->starved = s->cur != NULL && s->cur_level < u->prio;
		TAILQ_REMOVE(&s->idle, u, entry);
		TAILQ_INSERT_TAIL(&s->active, u, entry);
	}
	TAILQ_INSERT_TAIL(&u->q, j, q_entry);
}

/* Take queued j out of its queue. */
static void
sched_dequeue(struct sched *s, struct job *j)
{
	struct sched_user *u = j->user;

	s->st.queued--;
	if (j->urgent) {
		TAILQ_REMOVE(&s->urgent, j, q_entry);
		return;
	}
	TAILQ_REMOVE(&u->q, j, q_entry);
	if (TAILQ_EMPTY(&u->q)) {
		TAILQ_REMOVE(&s->active, u, entry);
		TAILQ_INSERT_TAIL(&s->idle, u, entry);
	}
}

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
	TAILQ_INIT(&s->urgent);
	TAILQ_INIT(&s->parked);
	TAILQ_INIT(&s->active);
	TAILQ_INIT(&s->idle);
	for (size_t i = 0; i < SCHED_USER_BUCKETS; i++)
		LIST_INIT(&s->users[i]);
	s->spare.weight = 1;
	TAILQ_INIT(&s->spare.q);
	TAILQ_INSERT_TAIL(&s->idle, &s->spare, entry);
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
	struct sched_user *u;

	if (s == NULL)
		return;
	sched_unwatch_backend(s);
	loop_timer_disarm(s->loop, &s->be_timer);
	loop_timer_disarm(s->loop, &s->park_timer);
	loop_timer_disarm(s->loop, &s->hold_timer);
	TAILQ_CONCAT(&s->idle, &s->active, entry);
	while ((u = TAILQ_FIRST(&s->idle)) != NULL) {
		TAILQ_REMOVE(&s->idle, u, entry);
		if (u != &s->spare)
			free(u);
	}
	free(s);
}

void
sched_submit(struct sched *s, struct job *j)
{
	j->orphaned = false;
	j->park_ns = 0; /* a new command (the last one may have been cancelled parked) */
	j->backoffs = 0;
	sched_attach(s, j);
	sched_queue(s, j, false, false);
	sched_run(s);
}

void
sched_submit_first(struct sched *s, struct job *j)
{
	sched_attach(s, j);
	sched_queue(s, j, true, true);
	sched_run(s);
}

void
sched_forget(struct sched *s, struct job *j)
{
	if (j->state == JOB_PARKED) {
		TAILQ_REMOVE(&s->parked, j, q_entry);
		s->st.parked--;
		sched_detach(s, j);
	} else if (j->state == JOB_QUEUED) {
		sched_dequeue(s, j);
		sched_detach(s, j);
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
	j->urgent = true;
	if (*after == NULL)
		TAILQ_INSERT_HEAD(&s->urgent, j, q_entry);
	else
		TAILQ_INSERT_AFTER(&s->urgent, *after, j, q_entry);
	*after = j;
	s->st.queued++;
}

static void sched_job_done(struct sched *s, int r);

/* The current job must wait (RM_WAIT): out of turn until its time. */
static void
sched_park(struct sched *s)
{
	struct job *j = s->cur, *p;

	sched_charge(s, j);
	if (j->orphaned) {
		/* its owner left while it ran: nothing to wait for */
		s->cur = NULL;
		j->state = JOB_IDLE;
		sched_detach(s, j);
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

/*
 * The TPM did not answer in --backend-timeout.  A slow TPM is not a reset:
 * ask it to cancel, answer the client now (job->late), and keep waiting for
 * the TPM's answer, which the RM still takes in (what the command loaded
 * stays accounted for); nothing else is sent meanwhile.  Only when no
 * answer comes in a second timeout is the link taken for broken
 * (reconnect; whether the TPM was reset, the TPM then says).
 */
static void
sched_timeout(struct loop_timer *t)
{
	struct sched *s = t->data;
	struct backend *be = s->be;
	struct job *j = s->cur;

	if (be->ops->cancel != NULL)
		(void)be->ops->cancel(be);
	if (!s->slow && j != NULL) {
		/* the first timeout of this job: keep waiting, a second one breaks the link */
		s->slow = true;
		s->st.timeouts++;
		loop_timer_arm(s->loop, &s->be_timer,
			       (uint64_t)s->p.backend_timeout_ms * 1000000u, sched_timeout, s);
		if (j->late == NULL) {
			/* a close or the daemon's own job: nobody to answer, its owner wants
			 * the TPM's answer */
			log_warnx("%s: no answer in %u ms to the daemon's own command; cancelling, "
				  "the TPM's answer is still awaited", be->desc,
				  s->p.backend_timeout_ms);
			return;
		}
		log_warnx("%s: no answer in %u ms; cancelling, the client is answered 0x%08x, "
			  "the TPM's answer is still awaited", be->desc, s->p.backend_timeout_ms,
			  TB_RM_RC(TPM2_RC_CANCELED));
		s->late = true;
		/* the TPM's answer, when it comes, is nobody's */
		s->step.rsp = s->scratch;
		s->step.rsp_cap = sizeof(s->scratch);
		j->late(j);
		return;
	}
	log_warnx("%s: no answer in %u ms", be->desc, s->p.backend_timeout_ms);
	/* without reconnect() (libtpms) the command is bound to finish: keep waiting */
	if (be->ops->reconnect == NULL)
		return;
	s->waiting = false;
	s->step.rsp_len = 0;
	/* treated as a broken link: sched_on_backend's failure path */
	sched_on_backend(&s->be_io, 0);
}

/*
 * Let the backend run step.tpm_cmd at once, if it is cheap and this
 * dispatch round has time left for it.  1: ran (finish() has the answer),
 * 0: submit it, <0: failed.
 */
static int
sched_send_now(struct sched *s, uint8_t loc)
{
	struct backend *be = s->be;
	uint64_t round = loop_round(s->loop), t0, dt;
	int r;

	if (be->ops->submit_now == NULL)
		return 0;
	if (s->inline_round != round) {
		s->inline_round = round;
		s->inline_ns = 0;
	}
	if (s->inline_ns >= SCHED_INLINE_BUDGET_NS)
		return 0;
	t0 = now_ns();
	if ((r = be->ops->submit_now(be, s->step.tpm_cmd, s->step.tpm_cmd_len, loc)) <= 0)
		return r;
	dt = now_ns() - t0;
	s->inline_ns += dt;
	s->st.inline_cmds++;
	if (dt / 1000u > s->st.inline_max_us)
		s->st.inline_max_us = (unsigned)MIN(dt / 1000u, (uint64_t)UINT_MAX);
	return 1;
}

/*
 * Hand step.tpm_cmd to the backend.  0: submitted, wait; 1: answered at
 * once (sched_send_now), collect it; <0: failed.
 */
static int
sched_send(struct sched *s)
{
	struct backend *be = s->be;
	uint8_t loc = s->step.client_cmd ? s->cur->locality : 0;
	char label[CC_LABEL_MAX];
	int r, now;

	/* the client was answered "cancelled" at a timeout: its command must not run now */
	if (s->late && s->step.client_cmd)
		return -ECANCELED;
	if ((r = sched_watch_backend(s)) < 0)
		return r;
	s->sent_ns = sched_now(s);
	if ((now = sched_send_now(s, loc)) < 0)
		return now;
	if (now == 0 && (r = be->ops->submit(be, s->step.tpm_cmd, s->step.tpm_cmd_len, loc)) < 0)
		return r;
	/* the backend may wait on another fd first (swtpm's control channel) */
	if (now == 0 && (r = sched_watch_backend(s)) < 0)
		return r;
	s->waiting = true;
	s->st.tpm_commands++;
	if (!s->step.client_cmd && s->step.tpm_cmd_len >= TPM_HDR_SIZE)
		log_debug("%s: the RM's own %s (for %s %llu)", be->desc,
			  cc_label(get_be32(s->step.tpm_cmd + 6), label),
			  s->cur->kind == JOB_INTERNAL ? "the daemon, job" : "conn",
			  (unsigned long long)s->cur->owner_id);
	if (s->step.client_cmd)
		s->cur->reached_tpm = true;
	if (now == 1)
		return 1;
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
	sched_charge(s, j);
	if (j->kind == JOB_COMMAND) {
		s->st.jobs++;
		j->park_ns = 0;
		j->backoffs = 0;
		if (!j->orphaned)
			s->hold_for = j->user; /* its next command may be on its way */
	}
	sched_detach(s, j);
	j->rsp_len = r < 0 ? 0 : s->step.rsp_len;
	j->done(j, r); /* the last touch: the owner may submit or free j */
}

/*
 * The step at the backend ended with finish()'s r (1: the answer, len bytes
 * in s->rsp; -errno: failed): what the RM makes of it, the next RM result.
 */
static int
sched_taken_in(struct sched *s, int r, size_t len)
{
	struct backend *be = s->be;
	char label[CC_LABEL_MAX];

	s->tpm_ns += sched_now(s) - s->sent_ns;
	s->waiting = false;
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
				  cc_label(get_be32(s->step.tpm_cmd + 6), label),
				  wire_response_rc(s->rsp, len), Tss2_RC_Decode(wire_response_rc(s->rsp, len)));
		r = rm_resume(s->rm, s->cur->rmc, s->rsp, len, &s->step);
	}
	return r;
}

/* A step the backend ran at once (sched_send_now): take its answer in. */
static int
sched_answer(struct sched *s)
{
	size_t len = 0;
	int r = s->be->ops->finish(s->be, s->rsp, sizeof(s->rsp), &len);

	if (r == 0) /* a backend must not do this after submit_now(): a broken contract */
		r = -EPROTO;
	return sched_taken_in(s, r, len);
}

/* Drive the current job from RM result r until it waits or ends. */
static void
sched_advance(struct sched *s, int r)
{
	while (r == RM_SEND) {
		int e = sched_send(s);
		if (e == 0)
			return;
		if (e == 1) { /* answered at once */
			r = sched_answer(s);
			continue;
		}
		if (e == -EOPNOTSUPP || e == -ECANCELED) /* a locality the backend can't
							   * set; a command answered late */
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

	sched_dequeue(s, j);
	s->hold_for = NULL;
	loop_timer_disarm(s->loop, &s->hold_timer);
	if (++s->turns >= SCHED_SWEEP_TURNS)
		users_sweep(s);
	s->cur = j;
	j->state = JOB_RUNNING;
	j->reached_tpm = false;
	s->reconnected = false;
	s->late = false;
	s->slow = false;
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

/* A user's class now: its profile's, raised one per SCHED_AGE_NS waited behind higher ones. */
static unsigned
user_level(const struct sched_user *u)
{
	uint64_t aged = u->aged_ns / SCHED_AGE_NS;

	return aged >= (uint64_t)u->prio ? 0 : u->prio - (unsigned)aged;
}

/* Before a turn: the time since the last one counts for those a higher class passed over. */
static void
sched_age(struct sched *s, uint64_t now)
{
	struct sched_user *v;

	TAILQ_FOREACH(v, &s->active, entry) {
		if (v->starved && now > v->since)
			v->aged_ns += now - v->since;
		v->since = now;
	}
}

/*
 * After a turn at level lvl (u's; NULL: an urgent job, above every class):
 * who is passed over by a higher class until the next one.  Users of lvl
 * itself are not: they wait for their fair share, not for a higher class,
 * and the TPM time of their own class must not lift them over it.
 */
static void
sched_mark(struct sched *s, struct sched_user *u, unsigned lvl)
{
	struct sched_user *v;

	s->cur_level = lvl;
	TAILQ_FOREACH(v, &s->active, entry)
		v->starved = v != u && user_level(v) > lvl;
	if (u != NULL) {
		u->aged_ns = 0; /* served: its next job starts aging afresh */
		u->starved = false;
	}
}

/* Does a win the turn over b (levels la, lb)? */
static bool
user_before(const struct sched_user *a, unsigned la, const struct sched_user *b, unsigned lb)
{
	if (la != lb)
		return la < lb;
	if (a->vtime != b->vtime)
		return a->vtime < b->vtime;
	return TAILQ_FIRST(&a->q)->seq < TAILQ_FIRST(&b->q)->seq;
}

/* The user whose turn it is (NULL: nobody waits) and its level. */
static struct sched_user *
sched_pick(struct sched *s, uint64_t now, unsigned *ret_level)
{
	struct sched_user *u, *best = NULL;
	unsigned lvl, best_lvl = 0;

	sched_age(s, now);
	TAILQ_FOREACH(u, &s->active, entry) {
		lvl = user_level(u);
		if (best == NULL || user_before(u, lvl, best, best_lvl)) {
			best = u;
			best_lvl = lvl;
		}
	}
	*ret_level = best_lvl;
	return best;
}

static void
sched_hold_timeout(struct loop_timer *t)
{
	struct sched *s = t->data;

	s->hold_for = NULL;
	sched_run(s);
}

/*
 * Should the TPM wait for the next command of the user just answered
 * (s->hold_for) rather than start u's job (at level lvl)?  See atop.
 */
static bool
sched_hold(struct sched *s, const struct sched_user *u, unsigned lvl)
{
	const struct sched_user *w = s->hold_for;
	uint64_t hold_ns = MIN(SCHED_HOLD_NS, u->avg_ns / 4);

	if (w == NULL || w == u || !TAILQ_EMPTY(&w->q) || hold_ns < SCHED_HOLD_MIN_NS ||
	    w->prio > lvl || (w->prio == lvl && w->vtime >= u->vtime)) {
		loop_timer_disarm(s->loop, &s->hold_timer);
		return false;
	}
	if (!s->hold_timer.armed) {
		s->st.holds++;
		loop_timer_arm(s->loop, &s->hold_timer, hold_ns, sched_hold_timeout, s);
	}
	return true;
}

static void
sched_run(struct sched *s)
{
	struct sched_user *u;
	struct job *j;
	uint64_t now;
	unsigned lvl;

	if (s->running)
		return;
	s->running = true;
	while (s->cur == NULL) {
		/* slots freed by the last job go to parked commands first */
		if (rm_slot_gen(s->rm) != s->slot_gen)
			sched_wake_slots(s);
		if ((j = TAILQ_FIRST(&s->urgent)) != NULL) {
			sched_age(s, sched_now(s));
			sched_mark(s, NULL, 0);
			sched_start(s, j);
			continue;
		}
		now = sched_now(s);
		if ((u = sched_pick(s, now, &lvl)) == NULL || sched_hold(s, u, lvl))
			break;
		if (lvl < u->prio)
			s->st.aged++;
		sched_mark(s, u, lvl);
		s->vnow = MAX(s->vnow, u->vtime);
		sched_start(s, TAILQ_FIRST(&u->q));
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
	loop_timer_disarm(s->loop, &s->be_timer);
	s->running = true;
	sched_advance(s, sched_taken_in(s, r, len));
	s->running = false;
	sched_run(s);
}
