/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * loop.h: the daemon's single event loop (epoll), in the spirit of Redis'
 * ae.c: fd callbacks, one-shot timers on a timerfd-free timer list, and
 * deferred work that runs after each dispatch round (two-phase close).
 */
#ifndef TB_LOOP_H
#define TB_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct loop;
struct loop_io;
typedef void (*loop_io_cb)(struct loop_io *io, uint32_t events);

/* Embedded in its owner; data.ptr of the epoll event points at it. */
struct loop_io {
	int fd;
	uint32_t events;
	loop_io_cb cb;
	void *data; /* not owned: the embedding object */
	bool added;
};

struct loop_timer;
typedef void (*loop_timer_cb)(struct loop_timer *t);
struct loop_timer {
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	loop_timer_cb cb;
	void *data; /* not owned */
	bool armed;
	TAILQ_ENTRY(loop_timer) entry;
};

int loop_new(struct loop **ret);
void loop_free(struct loop *l);

int loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t events, loop_io_cb cb,
		void *data);
int loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events);
void loop_io_del(struct loop *l, struct loop_io *io);

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ns, loop_timer_cb cb,
		    void *data);
void loop_timer_disarm(struct loop *l, struct loop_timer *t);

/* Run fn(data) once after the current dispatch round. */
int loop_defer(struct loop *l, void (*fn)(void *data), void *data);

/* One dispatch round, waiting at most timeout_ms (tests step the loop). */
int loop_run_once(struct loop *l, int timeout_ms);

/*
 * Which dispatch round this is (it changes with every epoll_wait()): work
 * done on the loop between two changes delays every other fd's callback.
 */
uint64_t loop_round(const struct loop *l);

/* Run until loop_quit(); returns the code given there. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l, int code);

#endif
