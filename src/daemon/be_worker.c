/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "be_worker.h"

static void
be_worker_destroy(struct be_worker *w)
{
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	(void)close(w->ev_fd);
	w->ev_fd = -1;
}

static void *
be_worker_main(void *p)
{
	struct be_worker *w = p;
	uint64_t one = 1;
	bool orphaned;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->job != BE_JOB_QUEUED && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		w->job = BE_JOB_RUNNING;
		pthread_mutex_unlock(&w->mu);
		w->run(w->arg);
		pthread_mutex_lock(&w->mu);
		w->job = BE_JOB_DONE;
		if (w->orphaned)
			break;
		pthread_cond_broadcast(&w->cv); /* stop() may wait for the job */
		/*
		 * The wake-up goes out with the lock released: the loop it wakes
		 * takes the lock at once (collect) and would otherwise sleep on
		 * it until this thread is scheduled again (on a loaded machine,
		 * milliseconds).
		 */
		pthread_mutex_unlock(&w->mu);
		if (write(w->ev_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			log_errno(LOG_LVL_WARN, errno, "%s: eventfd", w->name);
		pthread_mutex_lock(&w->mu);
	}
	orphaned = w->orphaned;
	pthread_mutex_unlock(&w->mu);
	if (orphaned) {
		void (*orphan)(void *) = w->orphan;
		void *arg = w->arg;

		be_worker_destroy(w);
		orphan(arg); /* frees w too: nobody else has it any more */
	}
	return NULL;
}

int
be_worker_start(struct be_worker *w, const char *name, void (*run)(void *),
		void (*orphan)(void *), void *arg)
{
	pthread_condattr_t ca;
	int r;

	w->job = BE_JOB_IDLE;
	w->stop = w->orphaned = false;
	w->run = run;
	w->orphan = orphan;
	w->arg = arg;
	w->name = name;
	if ((w->ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		r = -errno;
		log_errno(LOG_LVL_ERR, -r, "%s: eventfd", name);
		return r;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((r = -pthread_create(&w->thread, NULL, be_worker_main, w)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "%s: worker thread", name);
		be_worker_destroy(w);
		return r;
	}
	return 0;
}

int
be_worker_claim(struct be_worker *w)
{
	uint64_t v;
	int r = 0;

	pthread_mutex_lock(&w->mu);
	if (w->job == BE_JOB_QUEUED || w->job == BE_JOB_RUNNING) {
		r = -EBUSY;
	} else {
		if (w->job == BE_JOB_DONE) /* reset the eventfd of an answer nobody took */
			(void)!read(w->ev_fd, &v, sizeof(v));
		w->job = BE_JOB_IDLE;
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

void
be_worker_queue(struct be_worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->job = BE_JOB_QUEUED;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int
be_worker_collect(struct be_worker *w)
{
	uint64_t v;
	int r = 1;

	if (read(w->ev_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&w->mu);
	if (w->job == BE_JOB_QUEUED || w->job == BE_JOB_RUNNING)
		r = 0; /* an earlier, abandoned job's wake-up: keep waiting */
	else if (w->job == BE_JOB_IDLE)
		r = -EPROTO;
	else
		w->job = BE_JOB_IDLE;
	pthread_mutex_unlock(&w->mu);
	return r;
}

bool
be_worker_running(struct be_worker *w)
{
	bool running;

	pthread_mutex_lock(&w->mu);
	running = w->job == BE_JOB_RUNNING;
	pthread_mutex_unlock(&w->mu);
	return running;
}

bool
be_worker_stop(struct be_worker *w, int wait_ms)
{
	struct timespec deadline;

	(void)clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (wait_ms >= 0) {
		deadline.tv_sec += wait_ms / 1000;
		deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&w->mu);
	w->stop = true; /* a queued job is dropped: the worker stops before it */
	pthread_cond_signal(&w->cv);
	while (w->job == BE_JOB_RUNNING) {
		if (wait_ms < 0)
			pthread_cond_wait(&w->cv, &w->mu);
		else if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == ETIMEDOUT)
			break;
	}
	if (w->job == BE_JOB_RUNNING && w->orphan != NULL) {
		w->orphaned = true;
		pthread_mutex_unlock(&w->mu);
		(void)pthread_detach(w->thread);
		return true;
	}
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	be_worker_destroy(w);
	return false;
}
