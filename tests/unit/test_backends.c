/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_backends.c: the socket backends against fake peers on loopback
 * (threads) that record what they are sent and answer as told: a byte at a
 * time (finish() must resume), with a garbage size field or trailer, with
 * bytes after the response (finish() must not read them), or by hanging
 * up.  swtpm: locality only on change, cancel without waiting, CMD_INIT of
 * a swtpm that was not initialised, no control channel.  mssim: power-on,
 * the SEND_COMMAND framing with locality, cancel on/off, session end.
 * Also the spec parser's errors.  The real swtpm, libtpms and the device
 * driver have their own binaries (test_be_*.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "be_test.h"

/* ---- loopback listeners ---- */

static int
listen_on(unsigned port, unsigned *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		close(fd);
		return -1;
	}
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

/*
 * Two listeners on consecutive ports (P, P+1), as the simulators use; below
 * the ephemeral range, where bind(0) leaves P+1 likely taken by a client.
 */
static unsigned
listen_pair(int fds[2])
{
	srandom((unsigned)(now_ns() ^ (uint64_t)getpid()));
	for (int tries = 0; tries < 200; tries++) {
		unsigned p = 10000 + (unsigned)(random() % 22000), got;
		if ((fds[0] = listen_on(p, &got)) < 0)
			continue;
		if ((fds[1] = listen_on(p + 1, &got)) >= 0)
			return p;
		close(fds[0]);
	}
	fail_msg("no free port pair");
	return 0;
}

static void
listeners_close(int fds[2])
{
	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		shutdown(fds[i], SHUT_RDWR); /* wakes the thread in accept() */
		close(fds[i]);
		fds[i] = -1;
	}
}

/* a GetRandom(4) answer */
static const uint8_t getrandom_rsp[] = {0x80, 0x01, 0, 0, 0, 0x10, 0, 0, 0, 0,
					0, 4, 0xde, 0xad, 0xbe, 0xef};

enum answer { ANS_NORMAL, ANS_DRIBBLE, ANS_BAD_SIZE, ANS_HUGE_SIZE, ANS_BAD_TRAILER,
	      ANS_TRAILING_BYTES, ANS_HANG_UP };

/* What a fake saw, guarded by mu: threads write, the test reads. */
struct fake {
	int lfd[2];
	unsigned port;
	pthread_t t[2];
	pthread_mutex_t mu;
	enum answer answer;
	uint32_t ctrl[32]; /* swtpm control commands / mssim platform signals */
	uint8_t ctrl_arg[32];
	int n_ctrl;
	int n_conn;        /* data / TPM connections accepted */
	uint8_t cmd[64];   /* the last command */
	size_t cmd_len;
	uint8_t locality;  /* mssim: of the last command */
	int n_cmds;
	uint32_t tpm_signals[8]; /* mssim TPM port: other signals than SEND_COMMAND */
	int n_tpm_signals;
	/* swtpm */
	bool not_running;  /* GET_TPMESTABLISHED says so until CMD_INIT */
	bool reject_loc4;
	int loc_delay_ms;  /* SET_LOCALITY is answered this late (swtpm busy) */
	/* mssim */
	int ack_delay_ms;  /* platform acks come late (single-threaded simulator) */
};

static void
fake_set(struct fake *f, enum answer a, int ack_delay_ms)
{
	pthread_mutex_lock(&f->mu);
	f->answer = a;
	f->ack_delay_ms = ack_delay_ms;
	pthread_mutex_unlock(&f->mu);
}

static void
fake_record(struct fake *f, uint32_t code, uint8_t arg)
{
	pthread_mutex_lock(&f->mu);
	f->ctrl_arg[f->n_ctrl % 32] = arg;
	f->ctrl[f->n_ctrl++ % 32] = code;
	pthread_mutex_unlock(&f->mu);
}

static int
fake_n_ctrl(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->n_ctrl;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* wait (up to 5 s) until the fake has recorded n control requests */
static void
fake_wait_ctrl(struct fake *f, int n)
{
	for (int i = 0; i < 500 && fake_n_ctrl(f) < n; i++)
		usleep(10000);
	assert_int_equal(fake_n_ctrl(f), n);
}

/* Send one response in the configured way; prefix/suffix frame it (mssim). */
static bool
fake_answer(struct fake *f, int c, bool mssim)
{
	uint8_t out[64];
	size_t n = 0;
	enum answer a;

	pthread_mutex_lock(&f->mu);
	a = f->answer;
	pthread_mutex_unlock(&f->mu);
	if (a == ANS_HANG_UP)
		return false;
	if (mssim) {
		put_be32(out, a == ANS_BAD_SIZE	   ? 3u
			      : a == ANS_HUGE_SIZE ? 0x7fffffffu
						   : (uint32_t)sizeof(getrandom_rsp));
		n = 4;
	}
	memcpy(out + n, getrandom_rsp, sizeof(getrandom_rsp));
	if (!mssim && a == ANS_BAD_SIZE)
		put_be32(out + n + 2, 3);
	if (!mssim && a == ANS_HUGE_SIZE)
		put_be32(out + n + 2, 0x7fffffff);
	n += sizeof(getrandom_rsp);
	if (mssim) {
		put_be32(out + n, a == ANS_BAD_TRAILER ? 1 : 0);
		n += 4;
	}
	if (a == ANS_TRAILING_BYTES) {
		memcpy(out + n, "EXTRA", 5);
		n += 5;
	}
	if (a != ANS_DRIBBLE)
		return write_all(c, out, n) == 0;
	for (size_t i = 0; i < n; i++) {
		if (write_all(c, out + i, 1) < 0)
			return false;
		usleep(300);
	}
	return true;
}

/* ---- fake swtpm ---- */

static void *
swtpm_ctrl_thread(void *arg)
{
	struct fake *f = arg;
	int c;

	while ((c = accept(f->lfd[1], NULL, NULL)) >= 0) {
		uint8_t buf[8] = {0}, res[8] = {0};
		size_t rlen = 4;
		uint32_t cmd;

		if (read_all(c, buf, 4) < 0) {
			close(c);
			continue;
		}
		cmd = get_be32(buf);
		if (cmd == 0x05)
			(void)read_all(c, buf + 4, 1);
		if (cmd == 0x02)
			(void)read_all(c, buf + 4, 4);
		fake_record(f, cmd, buf[4]);
		pthread_mutex_lock(&f->mu);
		/* swtpm answers a cancel only once the command is done */
		if (cmd == 0x09 && f->ack_delay_ms > 0) {
			pthread_mutex_unlock(&f->mu);
			usleep(300 * 1000);
			pthread_mutex_lock(&f->mu);
		}
		if (cmd == 0x05 && f->loc_delay_ms > 0) {
			int ms = f->loc_delay_ms;
			pthread_mutex_unlock(&f->mu);
			usleep((useconds_t)ms * 1000);
			pthread_mutex_lock(&f->mu);
		}
		if (cmd == 0x04 && f->not_running)
			put_be32(res, 0x0a);
		else if (cmd == 0x04)
			rlen = 8;
		if (cmd == 0x02)
			f->not_running = false;
		if (cmd == 0x05 && (buf[4] > 4 || (buf[4] == 4 && f->reject_loc4)))
			put_be32(res, 0x3d);
		pthread_mutex_unlock(&f->mu);
		(void)write_all(c, res, rlen);
		close(c);
	}
	return NULL;
}

static void *
swtpm_data_thread(void *arg)
{
	struct fake *f = arg;
	int c;

	while ((c = accept(f->lfd[0], NULL, NULL)) >= 0) {
		uint8_t cmd[64];

		pthread_mutex_lock(&f->mu);
		f->n_conn++;
		pthread_mutex_unlock(&f->mu);
		while (read_all(c, cmd, 10) == 0) {
			uint32_t size = get_be32(cmd + 2);
			if (size < 10 || size > sizeof(cmd) || read_all(c, cmd + 10, size - 10) < 0)
				break;
			pthread_mutex_lock(&f->mu);
			memcpy(f->cmd, cmd, size);
			f->cmd_len = size;
			f->n_cmds++;
			pthread_mutex_unlock(&f->mu);
			if (!fake_answer(f, c, false))
				break;
		}
		close(c);
	}
	return NULL;
}

static void
fake_start(struct fake *f, void *(*t0)(void *), void *(*t1)(void *))
{
	pthread_mutex_init(&f->mu, NULL);
	f->port = listen_pair(f->lfd);
	assert_int_equal(pthread_create(&f->t[0], NULL, t0, f), 0);
	assert_int_equal(pthread_create(&f->t[1], NULL, t1, f), 0);
}

static void
fake_stop(struct fake *f)
{
	listeners_close(f->lfd);
	pthread_join(f->t[0], NULL);
	pthread_join(f->t[1], NULL);
	pthread_mutex_destroy(&f->mu);
}

static struct backend *
fake_open(struct fake *f, const char *name)
{
	struct backend *be;
	char spec[96];

	snprintf(spec, sizeof(spec), "%s:host=127.0.0.1,port=%u", name, f->port);
	assert_int_equal(be_open(spec, &be), 0);
	assert_string_equal(be->ops->name, name);
	return be;
}

/* one GetRandom(4) at loc; the finish() result */
static int
getrandom_at(struct backend *be, uint8_t loc, uint8_t *rsp, size_t *rlen, int *partials)
{
	struct bt_cmd m;
	int r;

	bt_getrandom(&m, 4);
	if ((r = be->ops->submit(be, m.b, m.c.off, loc)) < 0)
		return r;
	return bt_wait(be, rsp, 64, rlen, partials);
}

static void
test_swtpm(void **state)
{
	struct fake f = {.lfd = {-1, -1}};
	struct backend *be, *be2 = NULL;
	uint8_t rsp[64], extra[8];
	size_t rlen;
	int partials = 0, fd0;
	struct bt_cmd m;
	uint64_t t0;

	(void)state;
	fake_start(&f, swtpm_data_thread, swtpm_ctrl_thread);
	be = fake_open(&f, "swtpm");
	assert_true(be->needs_startup);
	assert_int_equal(be_open("swtpm:port=1", &be2), -ECONNREFUSED);
	assert_null(be2);
	/* open asked whether the TPM runs; it does, so no CMD_INIT */
	assert_int_equal(fake_n_ctrl(&f), 1);
	assert_int_equal(f.ctrl[0], 0x04);

	/* the first command sets the (unknown) locality once; a dribbled answer resumes */
	fake_set(&f, ANS_DRIBBLE, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, &partials), 1);
	assert_int_equal(rlen, sizeof(getrandom_rsp));
	assert_memory_equal(rsp, getrandom_rsp, rlen);
	assert_true(partials > 0);
	assert_int_equal(f.cmd_len, 12);
	assert_int_equal(get_be32(f.cmd + 6), TPM2_CC_GetRandom);
	fake_set(&f, ANS_NORMAL, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), 1);
	assert_int_equal(fake_n_ctrl(&f), 2);
	assert_int_equal(f.ctrl[1], 0x05);
	assert_int_equal(f.ctrl_arg[1], 0);
	/* locality 3: one SET_LOCALITY; again 3: none; back to 0: one */
	assert_int_equal(getrandom_at(be, 3, rsp, &rlen, NULL), 1);
	assert_int_equal(getrandom_at(be, 3, rsp, &rlen, NULL), 1);
	assert_int_equal(fake_n_ctrl(&f), 3);
	assert_int_equal(f.ctrl[2], 0x05);
	assert_int_equal(f.ctrl_arg[2], 3);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), 1);
	assert_int_equal(fake_n_ctrl(&f), 4);
	/* beyond swtpm's range, or refused by it: not supported, nothing sent */
	assert_int_equal(getrandom_at(be, 5, rsp, &rlen, NULL), -EOPNOTSUPP);
	assert_int_equal(fake_n_ctrl(&f), 4);
	f.reject_loc4 = true;
	assert_int_equal(getrandom_at(be, 4, rsp, &rlen, NULL), -EOPNOTSUPP);
	assert_int_equal(fake_n_ctrl(&f), 5);
	assert_int_equal(f.n_cmds, 5);

	/*
	 * cancel: nothing in flight, nothing sent; in flight, CANCEL_TPM_CMD,
	 * without waiting for the answer (which swtpm gives late)
	 */
	assert_int_equal(be->ops->cancel(be), 0);
	fake_set(&f, ANS_DRIBBLE, 300);
	bt_getrandom(&m, 4);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), -EBUSY);
	t0 = now_ns();
	assert_int_equal(be->ops->cancel(be), 0);
	assert_true(now_ns() - t0 < 100 * 1000000ull);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
	fake_wait_ctrl(&f, 6);
	assert_int_equal(f.ctrl[5], 0x09);
	fake_set(&f, ANS_NORMAL, 0);

	/* power cycle: CMD_INIT without flags, and the TPM needs TPM2_Startup */
	be->needs_startup = false;
	assert_int_equal(be->ops->power_cycle(be), 0);
	assert_true(be->needs_startup);
	assert_int_equal(f.ctrl[6], 0x02);

	/* garbage size fields are refused, not trusted */
	fake_set(&f, ANS_BAD_SIZE, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), -EBADMSG);
	assert_int_equal(be->ops->reconnect(be), 0);
	fake_set(&f, ANS_HUGE_SIZE, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), -EBADMSG);
	/* too small a buffer for the response */
	fake_set(&f, ANS_NORMAL, 0);
	assert_int_equal(be->ops->reconnect(be), 0);
	bt_getrandom(&m, 4);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	assert_int_equal(bt_wait(be, rsp, 12, &rlen, NULL), -EBADMSG);

	/* finish() reads one response and not a byte more */
	assert_int_equal(be->ops->reconnect(be), 0);
	fake_set(&f, ANS_TRAILING_BYTES, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), 1);
	assert_int_equal(rlen, sizeof(getrandom_rsp));
	usleep(20000);
	assert_int_equal(recv(be->fd, extra, sizeof(extra), MSG_PEEK | MSG_DONTWAIT), 5);
	assert_memory_equal(extra, "EXTRA", 5);

	/* a hang-up mid-command is an error, not a hang; reconnect gets a new link */
	fake_set(&f, ANS_HANG_UP, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), -EPIPE);
	fake_set(&f, ANS_NORMAL, 0);
	fd0 = fake_n_ctrl(&f);
	be->needs_startup = false;
	assert_int_equal(be->ops->reconnect(be), 0);
	assert_true(be->needs_startup);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), 1);
	/* after a reconnect the locality is unknown: set again */
	fake_wait_ctrl(&f, fd0 + 2);
	assert_int_equal(f.ctrl[fd0], 0x04);
	assert_int_equal(f.ctrl[fd0 + 1], 0x05);
	assert_int_equal(f.n_conn, 5);
	be_close(be);
	fake_stop(&f);
}

/* a swtpm started without --flags not-need-init gets CMD_INIT at open */
static void
test_swtpm_not_running(void **state)
{
	struct fake f = {.lfd = {-1, -1}, .not_running = true};
	struct backend *be;

	(void)state;
	fake_start(&f, swtpm_data_thread, swtpm_ctrl_thread);
	be = fake_open(&f, "swtpm");
	assert_int_equal(fake_n_ctrl(&f), 2);
	assert_int_equal(f.ctrl[0], 0x04);
	assert_int_equal(f.ctrl[1], 0x02);
	assert_false(f.not_running);
	be_close(be);
	fake_stop(&f);
}

/* no control channel: locality 0 works, others are not supported */
static void
test_swtpm_no_ctrl(void **state)
{
	struct fake f = {.lfd = {-1, -1}};
	struct backend *be;
	uint8_t rsp[64];
	size_t rlen;

	(void)state;
	fake_start(&f, swtpm_data_thread, swtpm_ctrl_thread);
	shutdown(f.lfd[1], SHUT_RDWR);
	close(f.lfd[1]);
	f.lfd[1] = -1;
	be = fake_open(&f, "swtpm");
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), 1);
	assert_int_equal(getrandom_at(be, 3, rsp, &rlen, NULL), -EOPNOTSUPP);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), 1);
	be_close(be);
	fake_stop(&f);
}

/*
 * The loop never waits on swtpm's control channel: a SET_LOCALITY answered
 * 2 s late leaves submit() immediate and be->fd quiet until the answer, and
 * every finish() immediate.
 */
static void
test_swtpm_slow_ctrl(void **state)
{
	struct fake f = {.lfd = {-1, -1}, .loc_delay_ms = 2000};
	struct backend *be;
	uint8_t rsp[64];
	size_t rlen = 0;
	struct bt_cmd m;
	uint64_t t0, t, worst = 0;
	int r = 0, polls = 0;

	(void)state;
	fake_start(&f, swtpm_data_thread, swtpm_ctrl_thread);
	be = fake_open(&f, "swtpm");
	bt_getrandom(&m, 4);
	t0 = now_ns();
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 3), 0);
	assert_true(now_ns() - t0 < 100 * 1000000ull);
	/* the daemon's loop: poll be->fd as it is now, finish() when readable */
	while (r == 0 && now_ns() - t0 < 10 * 1000000000ull) {
		struct pollfd p = {.fd = be->fd, .events = POLLIN};
		polls++;
		if (poll(&p, 1, 20) != 1)
			continue;
		t = now_ns();
		r = be->ops->finish(be, rsp, sizeof(rsp), &rlen);
		worst = MAX(worst, now_ns() - t);
	}
	print_message("# SET_LOCALITY 2 s late: %d polls, longest finish() %.2f ms\n", polls,
		      (double)worst / 1e6);
	assert_int_equal(r, 1);
	assert_int_equal(rlen, sizeof(getrandom_rsp));
	assert_true(now_ns() - t0 >= 1900 * 1000000ull);
	assert_true(polls > 50);                 /* the loop went round while swtpm was busy */
	assert_true(worst < 50 * 1000000ull);
	assert_int_equal(fake_n_ctrl(&f), 2);
	assert_int_equal(f.ctrl[1], 0x05);
	assert_int_equal(f.ctrl_arg[1], 3);
	assert_int_equal(f.n_cmds, 1);
	/* be->fd is the data socket again: the next command at 3 goes straight there */
	pthread_mutex_lock(&f.mu);
	f.loc_delay_ms = 0;
	pthread_mutex_unlock(&f.mu);
	assert_int_equal(getrandom_at(be, 3, rsp, &rlen, NULL), 1);
	assert_int_equal(fake_n_ctrl(&f), 2);
	be_close(be);
	fake_stop(&f);
}

/*
 * A cancel does not wait for the control channel's connect: with swtpm's
 * control thread busy with another client and its accept queue full (SYNs
 * dropped), cancel() still returns at once, and the command still ends.
 * Nor does a SET_LOCALITY: submit() returns, finish() writes it later.
 */
static void
test_swtpm_cancel_nowait(void **state)
{
	struct fake f = {.lfd = {-1, -1}};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int busy, fill[24];
	struct backend *be;
	uint8_t rsp[64];
	size_t rlen;
	struct bt_cmd m;
	uint64_t t0, dt;

	(void)state;
	fake_start(&f, swtpm_data_thread, swtpm_ctrl_thread);
	be = fake_open(&f, "swtpm");
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), 1);
	/* a client that connects and says nothing: the control thread waits on it */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)(f.port + 1));
	busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(busy, (struct sockaddr *)&sa, sizeof(sa)), 0);
	usleep(50000); /* accepted, now in read() */
	for (size_t i = 0; i < ARRAY_SIZE(fill); i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		(void)connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	fake_set(&f, ANS_DRIBBLE, 0);
	bt_getrandom(&m, 4);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	t0 = now_ns();
	assert_int_equal(be->ops->cancel(be), 0);
	dt = now_ns() - t0;
	print_message("# cancel with the control port's queue full: %.2f ms\n", (double)dt / 1e6);
	assert_true(dt < 50 * 1000000ull);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
	assert_int_equal(rlen, sizeof(getrandom_rsp));

	/*
	 * SET_LOCALITY too: submit() returns while the control connect hangs;
	 * be->fd reports when it is up (EPOLLOUT through the waiter), once
	 * the queue has room and the SYN is sent again (1 s later)
	 */
	fake_set(&f, ANS_NORMAL, 0);
	t0 = now_ns();
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 2), 0);
	assert_true(now_ns() - t0 < 50 * 1000000ull);
	for (size_t i = 0; i < ARRAY_SIZE(fill); i++)
		close(fill[i]);
	close(busy);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
	print_message("# SET_LOCALITY through a full accept queue: %.0f ms\n",
		      (double)(now_ns() - t0) / 1e6);
	fake_wait_ctrl(&f, 3);
	assert_int_equal(f.ctrl[2], 0x05);
	assert_int_equal(f.ctrl_arg[2], 2);
	be_close(be);
	fake_stop(&f);
}

/* ---- fake mssim ---- */

static void *
mssim_platform_thread(void *arg)
{
	struct fake *f = arg;
	int c;

	while ((c = accept(f->lfd[1], NULL, NULL)) >= 0) {
		uint8_t buf[4], ok[4] = {0};

		while (read_all(c, buf, 4) == 0) {
			int delay;
			fake_record(f, get_be32(buf), 0);
			pthread_mutex_lock(&f->mu);
			delay = f->ack_delay_ms;
			pthread_mutex_unlock(&f->mu);
			if (delay > 0)
				usleep((useconds_t)delay * 1000);
			if (get_be32(buf) == 20 || write_all(c, ok, 4) < 0)
				break;
		}
		close(c);
	}
	return NULL;
}

static void *
mssim_tpm_thread(void *arg)
{
	struct fake *f = arg;
	int c;

	while ((c = accept(f->lfd[0], NULL, NULL)) >= 0) {
		uint8_t head[9], cmd[64];

		pthread_mutex_lock(&f->mu);
		f->n_conn++;
		pthread_mutex_unlock(&f->mu);
		while (read_all(c, head, 4) == 0) {
			uint32_t size;
			if (get_be32(head) != 8) {
				pthread_mutex_lock(&f->mu);
				f->tpm_signals[f->n_tpm_signals++ % 8] = get_be32(head);
				pthread_mutex_unlock(&f->mu);
				break;
			}
			if (read_all(c, head + 4, 5) < 0)
				break;
			size = get_be32(head + 5);
			if (size > sizeof(cmd) || read_all(c, cmd, size) < 0)
				break;
			pthread_mutex_lock(&f->mu);
			f->locality = head[4];
			memcpy(f->cmd, cmd, size);
			f->cmd_len = size;
			f->n_cmds++;
			pthread_mutex_unlock(&f->mu);
			if (!fake_answer(f, c, true))
				break;
		}
		close(c);
	}
	return NULL;
}

static void
test_mssim(void **state)
{
	struct fake f = {.lfd = {-1, -1}};
	struct backend *be;
	uint8_t rsp[64];
	size_t rlen;
	int partials = 0;
	uint64_t t0;
	struct bt_cmd m;

	(void)state;
	fake_start(&f, mssim_tpm_thread, mssim_platform_thread);
	be = fake_open(&f, "mssim");
	/* powered on and NV enabled, and the daemon is told to start the TPM */
	assert_int_equal(fake_n_ctrl(&f), 2);
	assert_int_equal(f.ctrl[0], 1);
	assert_int_equal(f.ctrl[1], 11);
	assert_true(be->needs_startup);

	/* SEND_COMMAND, locality, size, the command bytes as given */
	fake_set(&f, ANS_DRIBBLE, 0);
	assert_int_equal(getrandom_at(be, 2, rsp, &rlen, &partials), 1);
	assert_int_equal(rlen, sizeof(getrandom_rsp));
	assert_memory_equal(rsp, getrandom_rsp, rlen);
	assert_true(partials > 2); /* resumed in the size, the body and the trailer */
	bt_getrandom(&m, 4);
	assert_int_equal(f.locality, 2);
	assert_int_equal(f.cmd_len, m.c.off);
	assert_memory_equal(f.cmd, m.b, m.c.off);
	fake_set(&f, ANS_NORMAL, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), 1);
	assert_int_equal(f.locality, 0);
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), -EPROTO);

	/* cancel: CANCEL_ON while it runs, CANCEL_OFF after; neither waits for its ack */
	assert_int_equal(be->ops->cancel(be), 0); /* idle: nothing sent */
	fake_set(&f, ANS_DRIBBLE, 300);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), -EBUSY);
	t0 = now_ns();
	assert_int_equal(be->ops->cancel(be), 0);
	assert_int_equal(be->ops->cancel(be), 0); /* once is enough */
	assert_true(now_ns() - t0 < 100 * 1000000ull);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
	fake_wait_ctrl(&f, 4);
	assert_int_equal(f.ctrl[2], 9);
	assert_int_equal(f.ctrl[3], 10);
	/* the next blocking signal first collects those acks */
	fake_set(&f, ANS_DRIBBLE, 0);
	be->needs_startup = false;
	assert_int_equal(be->ops->power_cycle(be), 0);
	assert_true(be->needs_startup);
	assert_int_equal(fake_n_ctrl(&f), 6);
	assert_int_equal(f.ctrl[4], 2);
	assert_int_equal(f.ctrl[5], 1);

	/* bad size prefix either way, bad trailer: refused */
	fake_set(&f, ANS_BAD_SIZE, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), -EBADMSG);
	assert_int_equal(be->ops->reconnect(be), 0);
	fake_set(&f, ANS_HUGE_SIZE, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), -EBADMSG);
	assert_int_equal(be->ops->reconnect(be), 0);
	fake_set(&f, ANS_BAD_TRAILER, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), -EBADMSG);
	assert_int_equal(be->ops->reconnect(be), 0);
	/* one response and its trailer, not a byte more */
	fake_set(&f, ANS_TRAILING_BYTES, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), 1);
	usleep(20000);
	assert_int_equal(recv(be->fd, rsp, sizeof(rsp), MSG_PEEK | MSG_DONTWAIT), 5);
	assert_int_equal(be->ops->reconnect(be), 0);
	/* hang-up */
	fake_set(&f, ANS_HANG_UP, 0);
	assert_int_equal(getrandom_at(be, 0, rsp, &rlen, NULL), -EPIPE);
	fake_set(&f, ANS_NORMAL, 0);
	assert_int_equal(be->ops->reconnect(be), 0);
	assert_int_equal(getrandom_at(be, 1, rsp, &rlen, NULL), 1);
	assert_int_equal(f.n_conn, 6);
	/* every connect powered on and enabled NV again */
	assert_int_equal(f.ctrl[fake_n_ctrl(&f) - 2], 1);
	assert_int_equal(f.ctrl[fake_n_ctrl(&f) - 1], 11);

	/* close ends the session on both ports */
	be_close(be);
	for (int i = 0; i < 500 && f.n_tpm_signals == 0; i++)
		usleep(10000);
	fake_wait_ctrl(&f, 17);
	assert_int_equal(f.ctrl[16], 20);
	assert_int_equal(f.tpm_signals[0], 20);
	fake_stop(&f);
}

/* ---- device, without a device (test_be_device.c has a fake one) ---- */

static void
test_device_paths(void **state)
{
	struct backend *be;
	uint8_t rsp[64];
	size_t rlen;
	struct bt_cmd m;

	(void)state;
	assert_int_equal(be_open("device:/nonexistent/tpm", &be), -ENOENT);
	assert_int_equal(be_open("device:path=/nonexistent/tpm", &be), -ENOENT);
	assert_int_equal(be_open("device:relative", &be), -EINVAL);
	/* /dev/null stands in for a device that answers nothing */
	assert_int_equal(be_open("device:/dev/null", &be), 0);
	assert_false(be->needs_startup);
	assert_string_equal(be->desc, "device /dev/null");
	assert_null(be->ops->cancel);
	assert_null(be->ops->reconnect);
	bt_getrandom(&m, 4);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 1), -EOPNOTSUPP);
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), -EPROTO);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), -EBADMSG);
	be_close(be);
}

/* ---- specs ---- */

static void
test_specs(void **state)
{
	static const char *const bad[] = {
		"nosuch",
		"nosuch:x=1",
		"swtpm:port=0",
		"swtpm:port=65535",
		"swtpm:port=99999",
		"swtpm:port=12ab",
		"swtpm:port=-1",
		"swtpm:port=",
		"swtpm:host=",
		"swtpm:ctrl=0",
		"swtpm:ctrl=x",
		"swtpm:bogus=1",
		"swtpm:host",
		"mssim:port=65535",
		"mssim:ctrl=2322",
		"mssim:host=127.0.0.1,port=2321,extra=1",
		"libtpms:nostate=1",
	};
	struct backend *be = NULL;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		print_message("%s\n", bad[i]);
		assert_int_equal(be_open(bad[i], &be), -EINVAL);
		assert_null(be);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swtpm),
		cmocka_unit_test(test_swtpm_not_running),
		cmocka_unit_test(test_swtpm_no_ctrl),
		cmocka_unit_test(test_swtpm_slow_ctrl),
		cmocka_unit_test(test_swtpm_cancel_nowait),
		cmocka_unit_test(test_mssim),
		cmocka_unit_test(test_device_paths),
		cmocka_unit_test(test_specs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
