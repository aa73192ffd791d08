/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_device.c: a Linux TPM character device.  /dev/tpm0 gives the broker
 * the raw TPM (it is the resource manager); /dev/tpmrm0 works too, stacked
 * on the kernel's RM.  The kernel allows one open of /dev/tpm0.
 *
 * The event loop does not watch the device fd: the driver's poll() takes
 * the lock its worker holds while the TPM runs a command, so a level-
 * triggered epoll_wait() that re-polls the fd blocks for the whole command
 * (measured on 6.1: epoll_wait(0) took 25 ms during a 25 ms CreatePrimary),
 * and kernels before 4.20 have no non-blocking mode at all.  So, as for
 * libtpms, one worker thread does the blocking write() (the driver sends
 * the command and waits for the TPM) and read() (the whole response), and
 * signals an eventfd, which is be->fd.
 *
 * The kernel has no locality control for user space (firmware or the
 * driver picks it): commands at another locality than 0 are refused.  No
 * cancel (the driver has none for user space), no reconnect (the kernel
 * finishes or fails a command with its own timeouts), no power cycle.
 *
 * job state  event                        next      action
 * IDLE       submit                       QUEUED    copy command, signal the worker
 * QUEUED     worker wakes                 RUNNING   write(), read() (lock dropped)
 * RUNNING    read() returns or fails      DONE      write the eventfd
 * DONE       finish                       IDLE      check and copy the response out
 * DONE       submit (answer abandoned)    QUEUED    drop the old answer
 * QUEUED,    submit                       -         -EBUSY
 *  RUNNING
 * QUEUED     close                        -         drop it, stop the worker
 * RUNNING    close                        -         wait up to DEV_CLOSE_WAIT_MS for it
 * RUNNING    close, still after the wait  -         orphan: the worker frees all when
 *                                                   the driver returns
 * other      close                        -         stop the worker
 *
 * close() is bounded: it returns within DEV_CLOSE_WAIT_MS (2 s, the
 * kernel's TPM2 "long" command duration) even if the TPM holds a command
 * longer (key generation on a slow TPM: tens of seconds).  It does not
 * cut the command short: nothing can, the driver waits with its own
 * timeouts.  The orphaned worker keeps the device open until the driver
 * returns; at daemon exit the process ends first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"

#define DEV_CLOSE_WAIT_MS 2000

enum dev_job { DEV_IDLE, DEV_QUEUED, DEV_RUNNING, DEV_DONE };

struct tpmdev {
	char path[128];
	int tpm_fd;
	int ev_fd;           /* eventfd, be->fd; owned here so an orphaned worker can use it */
	pthread_t thread;
	pthread_mutex_t mu;  /* guards job, stop and orphan; the buffers follow job's owner */
	pthread_cond_t cv;   /* CLOCK_MONOTONIC */
	enum dev_job job;
	bool stop;
	bool orphan;         /* close() left: the worker frees everything when it is done */
	int err;             /* of the job: 0 or -errno */
	size_t cmd_len, rsp_len;
	uint8_t cmd[TB_BUF_MAX];
	uint8_t rsp[TB_BUF_MAX];
};

/* The blocking exchange of one job; 0 or -errno. */
static int
dev_exchange(struct tpmdev *d)
{
	ssize_t n;

	do
		n = write(d->tpm_fd, d->cmd, d->cmd_len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != d->cmd_len)
		return -EIO; /* the driver takes a command whole or not at all */
	do
		n = read(d->tpm_fd, d->rsp, sizeof(d->rsp));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	d->rsp_len = (size_t)n;
	return 0;
}

static void
dev_free(struct tpmdev *d)
{
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	(void)close(d->tpm_fd);
	(void)close(d->ev_fd);
	free(d);
}

static void *
dev_worker(void *arg)
{
	struct tpmdev *d = arg;
	uint64_t one = 1;
	bool orphan;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (d->job != DEV_QUEUED && !d->stop)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->stop)
			break;
		d->job = DEV_RUNNING;
		pthread_mutex_unlock(&d->mu);
		d->err = dev_exchange(d);
		pthread_mutex_lock(&d->mu);
		d->job = DEV_DONE;
		if (d->orphan)
			break;
		if (write(d->ev_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			log_errno(LOG_LVL_WARN, errno, "device %s: eventfd", d->path);
		pthread_cond_broadcast(&d->cv); /* close() may wait for the job */
	}
	orphan = d->orphan;
	pthread_mutex_unlock(&d->mu);
	if (orphan)
		dev_free(d); /* nobody else has d any more */
	return NULL;
}

static int
dev_path(const char *args, char *buf, size_t cap)
{
	const char *path = args;

	/* "device:/dev/tpm0" and "device:path=/dev/tpm0" */
	if (strncmp(path, "path=", 5) == 0)
		path += 5;
	if (path[0] == '\0')
		path = "/dev/tpm0";
	if (path[0] != '/' || strchr(path, ',') != NULL || strlen(path) >= cap) {
		log_warnx("backend device: '%s' is not an absolute device path (device[:/dev/tpm0])",
			  path);
		return -EINVAL;
	}
	strcpy(buf, path);
	return 0;
}

static void
dev_close(struct backend *be)
{
	struct tpmdev *d = be->priv;

	struct timespec deadline;

	if (d == NULL)
		return;
	be->fd = -1;
	be->priv = NULL;
	(void)clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += DEV_CLOSE_WAIT_MS / 1000;
	deadline.tv_nsec += (DEV_CLOSE_WAIT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->mu);
	d->stop = true; /* a QUEUED job is dropped: the worker stops before it */
	pthread_cond_signal(&d->cv);
	/* a RUNNING one: the driver has the command; let it end, for a while */
	while (d->job == DEV_RUNNING)
		if (pthread_cond_timedwait(&d->cv, &d->mu, &deadline) == ETIMEDOUT)
			break;
	if (d->job == DEV_RUNNING) {
		d->orphan = true;
		pthread_mutex_unlock(&d->mu);
		log_warnx("device %s: a command still runs after %d ms; closing without it",
			  d->path, DEV_CLOSE_WAIT_MS);
		(void)pthread_detach(d->thread);
		return;
	}
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	dev_free(d);
}

static int
dev_open(struct backend *be, const char *args)
{
	_cleanup_(freep) struct tpmdev *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	int r;

	if (d == NULL)
		return -ENOMEM;
	if ((r = dev_path(args, d->path, sizeof(d->path))) < 0)
		return r;
	/* blocking: the worker waits in write() and read() */
	d->tpm_fd = open(d->path, O_RDWR | O_CLOEXEC);
	if (d->tpm_fd < 0) {
		r = -errno;
		if (r == -EBUSY)
			log_msg(LOG_LVL_ERR, "%s is held by another process (tpm2-abrmd? another "
				"tpmbrokerd?): stop it, or use /dev/tpmrm0", d->path);
		else if (r == -EACCES)
			log_errno(LOG_LVL_ERR, -r, "%s (run as root or as the device's group, "
				  "usually tss)", d->path);
		else
			log_errno(LOG_LVL_ERR, -r, "%s", d->path);
		return r;
	}
	if ((d->ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		r = -errno;
		log_errno(LOG_LVL_ERR, -r, "%s: eventfd", d->path);
		(void)close(d->tpm_fd);
		return r;
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((r = -pthread_create(&d->thread, NULL, dev_worker, d)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "%s: worker thread", d->path);
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		(void)close(d->tpm_fd);
		(void)close(d->ev_fd);
		return r;
	}
	be->fd = d->ev_fd;
	be->priv = d;
	snprintf(be->desc, sizeof(be->desc), "device %s", d->path);
	d = NULL; /* owned by be->priv now */
	/* firmware or the kernel has run TPM2_Startup: needs_startup stays false */
	return 0;
}

static int
dev_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct tpmdev *d = be->priv;
	uint64_t v;
	int r = 0;

	if (locality != 0)
		return -EOPNOTSUPP;
	if (len > sizeof(d->cmd))
		return -EMSGSIZE;
	pthread_mutex_lock(&d->mu);
	if (d->job == DEV_QUEUED || d->job == DEV_RUNNING) {
		r = -EBUSY;
	} else {
		if (d->job == DEV_DONE) /* reset the eventfd of an answer nobody took */
			(void)!read(be->fd, &v, sizeof(v));
		memcpy(d->cmd, cmd, len);
		d->cmd_len = len;
		d->job = DEV_QUEUED;
		pthread_cond_signal(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
	return r;
}

static int
dev_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct tpmdev *d = be->priv;
	struct tpm_hdr h = {0};
	uint64_t v;
	int r = 1;

	if (read(be->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&d->mu);
	if (d->job == DEV_QUEUED || d->job == DEV_RUNNING) {
		r = 0; /* an abandoned job's wake-up: keep waiting */
	} else if (d->job == DEV_IDLE) {
		r = -EPROTO;
	} else {
		d->job = DEV_IDLE;
		if (d->err < 0) {
			r = d->err;
			/* EBUSY: an earlier response was never read (another user of the fd) */
			log_errno(LOG_LVL_WARN, -r, "%s", be->desc);
		} else if (wire_hdr_parse(d->rsp, d->rsp_len, &h) < 0 || h.size != d->rsp_len) {
			log_warnx("%s: %zu-byte response with size field %u", be->desc, d->rsp_len,
				  d->rsp_len >= TPM_HDR_SIZE ? h.size : 0);
			r = -EBADMSG;
		} else if (d->rsp_len > cap) {
			r = -EMSGSIZE;
		} else {
			memcpy(rsp, d->rsp, d->rsp_len);
			*ret_len = d->rsp_len;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return r;
}

const struct backend_ops be_device_ops = {
	.name = "device",
	.help = "device[:PATH] (/dev/tpm0)",
	.open = dev_open,
	.submit = dev_submit,
	.finish = dev_finish,
	.cancel = NULL,
	.reconnect = NULL,
	.power_cycle = NULL,
	.close = dev_close,
};
