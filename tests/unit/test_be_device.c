/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_be_device.c: the device backend against a fake character device.
 * open() is wrapped (-Wl,--wrap=open): "/fake/tpm0" opens one end of a
 * SOCK_SEQPACKET socketpair, which keeps message boundaries as the TPM
 * driver does (one write per command, one read per whole response); the
 * test plays the TPM on the other end.  Other
 * /fake/ paths fail with the errno a real device gives.  The real driver is
 * tested in a VM: tests/integration/device-vm.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
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

/*
 * Meson builds with -D_FILE_OFFSET_BITS=64, so glibc turns open() into
 * open64(); both are wrapped, whichever the backend's object refers to.
 */
int __wrap_open(const char *path, int flags, ...);
int __real_open(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);
int __real_open64(const char *path, int flags, ...);

static char open_path[128];
static int open_flags;
static int tpm_fd = -1; /* the fake TPM's end */

/* -2: not ours, call the real open */
static int
fake_open(const char *path, int flags)
{
	int sv[2];

	if (strncmp(path, "/fake/", 6) != 0 && strcmp(path, "/dev/tpm0") != 0)
		return -2;
	strncpy(open_path, path, sizeof(open_path) - 1);
	open_flags = flags;
	if (strcmp(path, "/fake/tpm0") != 0) {
		errno = strcmp(path, "/fake/busy") == 0	    ? EBUSY
			: strcmp(path, "/fake/denied") == 0 ? EACCES
							    : ENOENT;
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if ((flags & O_NONBLOCK) && fcntl_nonblock(sv[0]) < 0)
		return -1;
	tpm_fd = sv[1];
	return sv[0];
}

static mode_t
open_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

int
__wrap_open(const char *path, int flags, ...)
{
	int fd = fake_open(path, flags & ~O_LARGEFILE);
	va_list ap;
	mode_t mode;

	if (fd != -2)
		return fd;
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return __real_open(path, flags, mode);
}

int
__wrap_open64(const char *path, int flags, ...)
{
	int fd = fake_open(path, flags & ~O_LARGEFILE);
	va_list ap;
	mode_t mode;

	if (fd != -2)
		return fd;
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return __real_open64(path, flags, mode);
}

static bool
readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1;
}

/* the fake TPM takes the command the backend wrote */
static void
tpm_takes(const struct bt_cmd *m)
{
	uint8_t got[64];

	assert_int_equal(read(tpm_fd, got, sizeof(got)), (ssize_t)m->c.off);
	assert_memory_equal(got, m->b, m->c.off);
}

static const uint8_t ans[] = {0x80, 0x01, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4};

static void
test_roundtrip(void **state)
{
	struct backend *be;
	struct bt_cmd m;
	uint8_t rsp[64], bad[16];
	size_t rlen;

	(void)state;
	assert_int_equal(be_open("device:/fake/tpm0", &be), 0);
	assert_string_equal(open_path, "/fake/tpm0");
	/* blocking: the backend's worker thread waits in write() and read() */
	assert_int_equal(open_flags, O_RDWR | O_CLOEXEC);
	assert_string_equal(be->desc, "device /fake/tpm0");
	assert_false(be->needs_startup); /* firmware started the TPM */
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), -EPROTO);

	/* the whole command in one write */
	bt_getrandom(&m, 4);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	tpm_takes(&m);
	/* nothing yet: be->fd (not the device) is not readable, finish() waits */
	assert_false(readable(be->fd, 50));
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), 0);
	/* the answer in one piece */
	assert_int_equal(write(tpm_fd, ans, sizeof(ans)), (ssize_t)sizeof(ans));
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
	assert_int_equal(rlen, sizeof(ans));
	assert_memory_equal(rsp, ans, sizeof(ans));
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), -EPROTO);

	/* locality: the kernel cannot set one; nothing reaches the device */
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 3), -EOPNOTSUPP);
	assert_false(readable(tpm_fd, 50));
	/* one command at a time */
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), -EBUSY);
	tpm_takes(&m);

	/* answers whose size field disagrees with what was read, or short ones */
	memcpy(bad, ans, sizeof(ans));
	put_be32(bad + 2, 17);
	assert_int_equal(write(tpm_fd, bad, sizeof(bad)), (ssize_t)sizeof(bad));
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), -EBADMSG);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	tpm_takes(&m);
	assert_int_equal(write(tpm_fd, ans, 6), 6);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), -EBADMSG);
	/* a response larger than the caller's buffer */
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	tpm_takes(&m);
	assert_int_equal(write(tpm_fd, ans, sizeof(ans)), (ssize_t)sizeof(ans));
	assert_int_equal(bt_wait(be, rsp, 12, &rlen, NULL), -EMSGSIZE);

	/* an answer nobody collected is dropped by the next submit */
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	tpm_takes(&m);
	assert_int_equal(write(tpm_fd, bad, sizeof(bad)), (ssize_t)sizeof(bad));
	assert_true(readable(be->fd, 5000));
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	tpm_takes(&m);
	assert_false(readable(be->fd, 50));
	assert_int_equal(write(tpm_fd, ans, sizeof(ans)), (ssize_t)sizeof(ans));
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
	assert_memory_equal(rsp, ans, sizeof(ans));

	/* the driver goes away while a command runs, or before one: errors */
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	tpm_takes(&m);
	close(tpm_fd);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), -EBADMSG);
	be_close(be);
	assert_int_equal(be_open("device:/fake/tpm0", &be), 0);
	close(tpm_fd);
	tpm_fd = -1;
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), -EPIPE);
	be_close(be);
}

static void *
answer_late(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	(void)!write(tpm_fd, ans, sizeof(ans));
	return NULL;
}

/* close() with a command at the TPM waits for it, for a while (the driver would too) */
static void
test_close_busy(void **state)
{
	struct backend *be;
	struct bt_cmd m;
	pthread_t t;
	uint64_t t0;

	(void)state;
	assert_int_equal(be_open("device:/fake/tpm0", &be), 0);
	bt_getrandom(&m, 4);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	tpm_takes(&m);
	assert_int_equal(pthread_create(&t, NULL, answer_late, NULL), 0);
	t0 = now_ns();
	be_close(be);
	assert_true(now_ns() - t0 >= 50 * 1000000ull);
	pthread_join(t, NULL);
	close(tpm_fd);
	tpm_fd = -1;
}

/*
 * close() is bounded: a TPM that keeps the command (here: never answers)
 * holds it 2 s, not forever; the worker lets go of the device when the
 * driver returns (here: the fake TPM hangs up).
 */
static void
test_close_stuck(void **state)
{
	struct backend *be;
	struct bt_cmd m;
	uint64_t t0, dt;

	(void)state;
	assert_int_equal(be_open("device:/fake/tpm0", &be), 0);
	bt_getrandom(&m, 4);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	tpm_takes(&m);
	t0 = now_ns();
	be_close(be);
	dt = now_ns() - t0;
	print_message("# close with a command the TPM never answers: %.0f ms\n", (double)dt / 1e6);
	assert_true(dt >= 1900 * 1000000ull);
	assert_true(dt < 3000 * 1000000ull);
	/* the driver returns at last: the orphaned worker frees its state */
	close(tpm_fd);
	tpm_fd = -1;
	usleep(100 * 1000);
	/* and the device can be opened again */
	assert_int_equal(be_open("device:/fake/tpm0", &be), 0);
	be_close(be);
	close(tpm_fd);
	tpm_fd = -1;
}

static void
test_open_errors(void **state)
{
	struct backend *be = NULL;

	(void)state;
	/* the default is the raw device: the broker is the resource manager */
	assert_int_equal(be_open("device", &be), -ENOENT);
	assert_string_equal(open_path, "/dev/tpm0");
	assert_int_equal(be_open("device:", &be), -ENOENT);
	assert_string_equal(open_path, "/dev/tpm0");
	assert_int_equal(be_open("device:path=/fake/tpm0", &be), 0);
	be_close(be);
	close(tpm_fd);
	tpm_fd = -1;
	be = NULL;
	/* held by another process (tpm2-abrmd), no permission */
	assert_int_equal(be_open("device:/fake/busy", &be), -EBUSY);
	assert_int_equal(be_open("device:/fake/denied", &be), -EACCES);
	assert_int_equal(be_open("device:relative/tpm0", &be), -EINVAL);
	assert_int_equal(be_open("device:/fake/tpm0,mode=x", &be), -EINVAL);
	assert_null(be);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_close_busy),
		cmocka_unit_test(test_close_stuck),
		cmocka_unit_test(test_open_errors),
	};

	signal(SIGPIPE, SIG_IGN); /* as the daemon does; a socket stands in for the device */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
