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
 * libtpms, a be_worker (be_worker.h) does the blocking write() (the
 * driver sends the command and waits for the TPM) and read() (the whole
 * response) on its thread, and signals an eventfd, which is be->fd.
 *
 * The kernel has no locality control for user space (firmware or the
 * driver picks it): commands at another locality than 0 are refused.  No
 * cancel (the driver has none for user space), no reconnect (the kernel
 * finishes or fails a command with its own timeouts), no power cycle.
 *
 * close() is bounded: it waits DEV_CLOSE_WAIT_MS (2 s, the kernel's TPM2
 * "long" command duration) at most for a command the TPM has, then leaves
 * the worker as an orphan that closes the device and frees the state when
 * the driver returns (key generation on a slow TPM: tens of seconds).
 * Nothing can cut the command short: the driver waits with its own
 * timeouts.  At daemon exit the process ends first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "be_worker.h"

#define DEV_CLOSE_WAIT_MS 2000

struct tpmdev {
	char path[128];
	int tpm_fd;          /* owned */
	struct be_worker w;  /* its ev_fd is be->fd */
	/* the job: the worker's while it runs, the loop's otherwise */
	int err;             /* 0 or -errno */
	size_t cmd_len, rsp_len;
	uint8_t cmd[TB_BUF_MAX];
	uint8_t rsp[TB_BUF_MAX];
};

/* The blocking exchange of one job, on the worker. */
static void
dev_run(void *arg)
{
	struct tpmdev *d = arg;
	ssize_t n;

	d->err = 0;
	do
		n = write(d->tpm_fd, d->cmd, d->cmd_len);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n != d->cmd_len) {
		/* the driver takes a command whole or not at all */
		d->err = n < 0 ? -errno : -EIO;
		return;
	}
	do
		n = read(d->tpm_fd, d->rsp, sizeof(d->rsp));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		d->err = -errno;
	else
		d->rsp_len = (size_t)n;
}

/* An orphaned worker's end: the driver returned at last. */
static void
dev_free(void *arg)
{
	struct tpmdev *d = arg;

	(void)close(d->tpm_fd);
	free(d);
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

	if (d == NULL)
		return;
	be->fd = -1;
	be->priv = NULL;
	if (be_worker_stop(&d->w, DEV_CLOSE_WAIT_MS)) {
		log_warnx("device %s: a command still runs after %d ms; closing without it",
			  d->path, DEV_CLOSE_WAIT_MS);
		return; /* d is the worker's now */
	}
	dev_free(d);
}

static int
dev_open(struct backend *be, const char *args)
{
	_cleanup_(freep) struct tpmdev *d = calloc(1, sizeof(*d));
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
	if ((r = be_worker_start(&d->w, "device", dev_run, dev_free, d)) < 0) {
		(void)close(d->tpm_fd);
		return r;
	}
	be->fd = d->w.ev_fd;
	be->priv = TAKE_PTR(d);
	snprintf(be->desc, sizeof(be->desc), "device %s", ((struct tpmdev *)be->priv)->path);
	/* firmware or the kernel has run TPM2_Startup: needs_startup stays false */
	return 0;
}

static int
dev_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct tpmdev *d = be->priv;
	int r;

	if (locality != 0)
		return -EOPNOTSUPP;
	if (len > sizeof(d->cmd))
		return -EMSGSIZE;
	if ((r = be_worker_claim(&d->w)) < 0)
		return r;
	memcpy(d->cmd, cmd, len);
	d->cmd_len = len;
	be_worker_queue(&d->w);
	return 0;
}

static int
dev_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct tpmdev *d = be->priv;
	struct tpm_hdr h = {0};
	int r;

	if ((r = be_worker_collect(&d->w)) <= 0)
		return r;
	if (d->err < 0) {
		/* EBUSY: an earlier response was never read (another user of the fd) */
		log_errno(LOG_LVL_WARN, -d->err, "%s", be->desc);
		return d->err;
	}
	if (wire_hdr_parse(d->rsp, d->rsp_len, &h) < 0 || h.size != d->rsp_len) {
		log_warnx("%s: %zu-byte response with size field %u", be->desc, d->rsp_len,
			  d->rsp_len >= TPM_HDR_SIZE ? h.size : 0);
		return -EBADMSG;
	}
	if (d->rsp_len > cap)
		return -EMSGSIZE;
	memcpy(rsp, d->rsp, d->rsp_len);
	*ret_len = d->rsp_len;
	return 1;
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
