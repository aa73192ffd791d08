/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * loop.c: epoll event loop.  Timers are a short sorted list (the daemon
 * arms a handful: accept back-off, backend timeout, idle checks), whose
 * earliest deadline bounds epoll_wait().  Deferred callbacks run after each
 * dispatch round, so an object killed by one callback is freed only when no
 * later callback of the same epoll_wait() batch can still touch it.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "loop.h"

#define LOOP_BATCH 64

struct loop_defer_item {
	void (*fn)(void *data);
	void *data; /* not owned */
	TAILQ_ENTRY(loop_defer_item) entry;
};

struct loop {
	int epfd;
	bool quit;
	int quit_code;
	uint64_t round;                          /* epoll_wait() calls so far */
	TAILQ_HEAD(, loop_timer) timers;         /* sorted by deadline */
	TAILQ_HEAD(, loop_defer_item) deferred;  /* owned items */
};

int
loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;
		free(l);
		return r;
	}
	TAILQ_INIT(&l->timers);
	TAILQ_INIT(&l->deferred);
	*ret = l;
	return 0;
}

static void
loop_run_deferred(struct loop *l)
{
	struct loop_defer_item *d;

	while ((d = TAILQ_FIRST(&l->deferred)) != NULL) {
		TAILQ_REMOVE(&l->deferred, d, entry);
		d->fn(d->data);
		free(d);
	}
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	loop_run_deferred(l);
	(void)close(l->epfd);
	free(l);
}

int
loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t events, loop_io_cb cb, void *data)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	io->fd = fd;
	io->events = events;
	io->cb = cb;
	io->data = data;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	io->added = true;
	return 0;
}

int
loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (!io->added)
		return -EINVAL;
	if (io->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

void
loop_io_del(struct loop *l, struct loop_io *io)
{
	if (!io->added)
		return;
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->added = false;
}

void
loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ns, loop_timer_cb cb,
	       void *data)
{
	struct loop_timer *it;

	loop_timer_disarm(l, t);
	t->deadline_ns = now_ns() + after_ns;
	t->cb = cb;
	t->data = data;
	t->armed = true;
	TAILQ_FOREACH(it, &l->timers, entry) {
		if (it->deadline_ns > t->deadline_ns) {
			TAILQ_INSERT_BEFORE(it, t, entry);
			return;
		}
	}
	TAILQ_INSERT_TAIL(&l->timers, t, entry);
}

void
loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
	if (!t->armed)
		return;
	TAILQ_REMOVE(&l->timers, t, entry);
	t->armed = false;
}

int
loop_defer(struct loop *l, void (*fn)(void *data), void *data)
{
	struct loop_defer_item *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -ENOMEM;
	d->fn = fn;
	d->data = data;
	TAILQ_INSERT_TAIL(&l->deferred, d, entry);
	return 0;
}

static int
loop_timeout_ms(struct loop *l)
{
	struct loop_timer *t = TAILQ_FIRST(&l->timers);
	uint64_t now;

	if (t == NULL)
		return -1;
	now = now_ns();
	if (t->deadline_ns <= now)
		return 0;
	return (int)MIN((t->deadline_ns - now + 999999u) / 1000000u, (uint64_t)60000);
}

static void
loop_fire_timers(struct loop *l)
{
	uint64_t now = now_ns();
	struct loop_timer *t;

	while ((t = TAILQ_FIRST(&l->timers)) != NULL && t->deadline_ns <= now) {
		TAILQ_REMOVE(&l->timers, t, entry);
		t->armed = false;
		t->cb(t);
	}
}

int
loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_BATCH];
	int n, t = loop_timeout_ms(l);

	if (t < 0 || (timeout_ms >= 0 && timeout_ms < t))
		t = timeout_ms;
	n = epoll_wait(l->epfd, evs, LOOP_BATCH, t);
	l->round++;
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		struct loop_io *io = evs[i].data.ptr;
		/* an earlier callback of this batch may have removed it */
		if (io->added)
			io->cb(io, evs[i].events);
	}
	loop_fire_timers(l);
	loop_run_deferred(l);
	return n;
}

int
loop_run(struct loop *l)
{
	int r;

	while (!l->quit) {
		if ((r = loop_run_once(l, -1)) < 0) {
			log_errno(LOG_LVL_ERR, -r, "epoll_wait");
			return r;
		}
	}
	return l->quit_code;
}

uint64_t
loop_round(const struct loop *l)
{
	return l->round;
}

void
loop_quit(struct loop *l, int code)
{
	l->quit = true;
	l->quit_code = code;
}
