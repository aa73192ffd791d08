/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_device.c: a Linux TPM character device.  /dev/tpm0 gives the broker
 * the raw TPM (it is the resource manager); /dev/tpmrm0 works too, stacked
 * on the kernel's RM.  One write() per command; the driver answers POLLIN
 * and one read() returns the whole response.  The kernel has no locality
 * control for user space: commands at locality != 0 are refused.
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

struct tpmdev {
	char path[128];
};

static int
dev_open(struct backend *be, const char *args)
{
	struct tpmdev *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -ENOMEM;
	if (strncmp(args, "path=", 5) == 0)
		args += 5;
	snprintf(d->path, sizeof(d->path), "%s", args[0] != '\0' ? args : "/dev/tpm0");
	if (d->path[0] != '/') {
		log_warnx("backend device: '%s' is not an absolute path", d->path);
		free(d);
		return -EINVAL;
	}
	be->fd = open(d->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (be->fd < 0) {
		int r = -errno;
		if (r == -EBUSY)
			log_msg(LOG_LVL_ERR, "%s is held by another process (tpm2-abrmd? "
					     "use /dev/tpmrm0, or stop it)", d->path);
		else
			log_errno(LOG_LVL_ERR, -r, "%s", d->path);
		free(d);
		return r;
	}
	be->priv = d;
	snprintf(be->desc, sizeof(be->desc), "device %s", d->path);
	return 0; /* the kernel has started the TPM */
}

static int
dev_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	ssize_t n;

	if (locality != 0)
		return -EOPNOTSUPP;
	n = write(be->fd, cmd, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int
dev_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	ssize_t n = read(be->fd, rsp, cap);

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if ((size_t)n < TPM_HDR_SIZE || get_be32(rsp + 2) != (uint32_t)n)
		return -EBADMSG;
	*ret_len = (size_t)n;
	return 1;
}

static void
dev_close(struct backend *be)
{
	if (be->fd >= 0)
		(void)close(be->fd);
	be->fd = -1;
	free(be->priv);
	be->priv = NULL;
}

const struct backend_ops be_device_ops = {
	.name = "device",
	.help = "device[:PATH]",
	.open = dev_open,
	.submit = dev_submit,
	.finish = dev_finish,
	.close = dev_close,
};
