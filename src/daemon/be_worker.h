/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_worker.h: one blocking job at a time on a worker thread, its end
 * signalled on an eventfd the event loop watches (be->fd).  libtpms
 * computes in the calling thread (an RSA key takes hundreds of ms) and the
 * device driver's write() and read() block for the whole command: both
 * backends hand their commands to a be_worker.
 *
 * job state  event                          next      action
 * IDLE       claim, queue                   QUEUED    the caller's input is in place
 * QUEUED     worker wakes                   RUNNING   run(arg), lock dropped
 * RUNNING    run returns                    DONE      write the eventfd (lock released)
 * DONE       collect                        IDLE      the caller takes the output
 * DONE       claim (answer abandoned)       IDLE      reset the eventfd (if it came
 *                                                     already: else a stale wake-up,
 *                                                     which collect answers 0 or -EPROTO)
 * QUEUED,    claim                          -         -EBUSY
 *  RUNNING
 * QUEUED     stop                           -         dropped; the worker ends
 * RUNNING    stop(wait_ms)                  -         wait for run to return; after
 *                                                     wait_ms (>= 0): orphaned, the worker
 *                                                     frees all (orphan(arg)) when it does
 *
 * The job's input and output belong to the worker while QUEUED or RUNNING
 * and to the loop otherwise; only the loop claims, queues and collects, so
 * the buffers are filled and read without the lock.
 */
#ifndef TB_BE_WORKER_H
#define TB_BE_WORKER_H

#include <pthread.h>
#include <stdbool.h>

enum be_job { BE_JOB_IDLE, BE_JOB_QUEUED, BE_JOB_RUNNING, BE_JOB_DONE };

struct be_worker {
	pthread_t thread;
	pthread_mutex_t mu;         /* guards job, stop, orphaned */
	pthread_cond_t cv;          /* CLOCK_MONOTONIC */
	enum be_job job;
	bool stop;
	bool orphaned;              /* stop() left: the worker cleans up */
	int ev_fd;                  /* owned; the backend's be->fd */
	void (*run)(void *arg);     /* the blocking job, on the worker thread */
	void (*orphan)(void *arg);  /* frees what arg owns, w included; NULL: never orphan */
	void *arg;                  /* not owned */
	const char *name;           /* for logs; static */
};

/* Create the eventfd and start the thread; 0 or -errno (logged). */
int be_worker_start(struct be_worker *w, const char *name, void (*run)(void *),
		    void (*orphan)(void *), void *arg);
/*
 * Make the worker the loop's to fill: 0 (an uncollected answer is
 * dropped), or -EBUSY while a job is queued or running.
 */
int be_worker_claim(struct be_worker *w);
/* After a claim, with the input in place: hand the job over. */
void be_worker_queue(struct be_worker *w);
/*
 * When ev_fd is readable: 1 the job is done (output readable, worker
 * IDLE), 0 not yet (a stale wake-up), -EPROTO nothing was queued.
 */
int be_worker_collect(struct be_worker *w);
/* The job runs now (a snapshot: it may end right after). */
bool be_worker_running(struct be_worker *w);
/*
 * Stop the worker: drop a queued job, wait for a running one, forever if
 * wait_ms < 0.  false: all is stopped and freed, the caller frees arg.
 * true: orphaned, the worker calls orphan(arg) when the job ends, the
 * caller must not touch w or arg again.
 */
bool be_worker_stop(struct be_worker *w, int wait_ms);

#endif
