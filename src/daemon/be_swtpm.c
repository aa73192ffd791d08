/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_swtpm.c: swtpm's TCP data port carries raw TPM commands and responses
 * (no framing: the response's own header gives its size).  The control
 * port (port+1 unless ctrl=) takes swtpm's control commands, one exchange
 * per connection as tpm2-tss's swtpm TCTI does: locality, cancel, power.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "be_sock.h"

/* swtpm control commands (swtpm_ioctls(4)) */
enum {
	SWTPM_CMD_INIT = 0x02,
	SWTPM_CMD_SET_LOCALITY = 0x05,
	SWTPM_CMD_CANCEL_TPM_CMD = 0x09,
};
#define SWTPM_CTRL_TIMEOUT_MS 5000

struct swtpm {
	struct be_addr addr;
	unsigned ctrl_port;
	uint8_t locality;  /* the locality swtpm currently has */
	uint8_t hdr[TPM_HDR_SIZE];
	size_t have;       /* response bytes received, header included */
	size_t want;       /* 10 until the header is in, then its size */
};

/* One control exchange: cmd code + payload, answer be32 result. */
static int
swtpm_ctrl(struct backend *be, uint32_t cmd, const uint8_t *payload, size_t len)
{
	struct swtpm *sw = be->priv;
	uint8_t buf[16], res[4];
	int fd, r;

	put_be32(buf, cmd);
	if (len > 0)
		memcpy(buf + 4, payload, len);
	if ((r = be_tcp_connect(sw->addr.host, sw->ctrl_port, &fd)) < 0)
		return r;
	r = be_send_all(fd, buf, 4 + len, SWTPM_CTRL_TIMEOUT_MS);
	if (r == 0)
		r = be_recv_all(fd, res, sizeof(res), SWTPM_CTRL_TIMEOUT_MS);
	(void)close(fd);
	if (r < 0)
		return r;
	if (get_be32(res) != 0) {
		log_warnx("%s: control command 0x%x failed: 0x%x", be->desc, cmd, get_be32(res));
		return -EIO;
	}
	return 0;
}

static int
swtpm_connect(struct backend *be)
{
	struct swtpm *sw = be->priv;
	int fd, r;

	if ((r = be_tcp_connect(sw->addr.host, sw->addr.port, &fd)) < 0) {
		log_errno(LOG_LVL_WARN, -r, "%s: connect", be->desc);
		return r;
	}
	if (be->fd >= 0)
		(void)close(be->fd);
	be->fd = fd;
	sw->have = 0;
	return 0;
}

static int
swtpm_open(struct backend *be, const char *args)
{
	static const char *const keys[] = {"host", "port", "ctrl", NULL};
	struct swtpm *sw = calloc(1, sizeof(*sw));
	char ctrl[16];
	int r;

	if (sw == NULL)
		return -ENOMEM;
	be->priv = sw;
	if ((r = be_addr_parse("swtpm", args, keys, &sw->addr)) < 0)
		goto fail;
	sw->ctrl_port = sw->addr.port + 1;
	if ((r = be_arg_get(args, "ctrl", ctrl, sizeof(ctrl))) < 0)
		goto fail;
	if (r == 1)
		sw->ctrl_port = (unsigned)strtoul(ctrl, NULL, 10);
	snprintf(be->desc, sizeof(be->desc), "swtpm %s:%u", sw->addr.host, sw->addr.port);
	if ((r = swtpm_connect(be)) < 0)
		goto fail;
	/* swtpm may have been started without startup-clear: be_startup tolerates both */
	be->needs_startup = true;
	return 0;
fail:
	free(sw);
	be->priv = NULL;
	return r;
}

static int
swtpm_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct swtpm *sw = be->priv;
	int r;

	if (locality != sw->locality) {
		if ((r = swtpm_ctrl(be, SWTPM_CMD_SET_LOCALITY, &locality, 1)) < 0)
			return r;
		sw->locality = locality;
	}
	sw->have = 0;
	sw->want = TPM_HDR_SIZE;
	return be_send_all(be->fd, cmd, len, 5000);
}

static int
swtpm_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct swtpm *sw = be->priv;
	int r;

	for (;;) {
		r = be_read_some(be->fd, rsp, &sw->have, sw->want);
		if (r <= 0)
			return r;
		if (sw->want > TPM_HDR_SIZE)
			break;
		sw->want = get_be32(rsp + 2);
		if (sw->want < TPM_HDR_SIZE || sw->want > cap)
			return -EBADMSG;
		if (sw->want == TPM_HDR_SIZE)
			break;
	}
	*ret_len = sw->have;
	return 1;
}

static int
swtpm_cancel(struct backend *be)
{
	return swtpm_ctrl(be, SWTPM_CMD_CANCEL_TPM_CMD, NULL, 0);
}

static int
swtpm_reconnect(struct backend *be)
{
	struct swtpm *sw = be->priv;
	int r;

	if ((r = swtpm_connect(be)) < 0)
		return r;
	sw->locality = 0;
	be->needs_startup = true;
	return 0;
}

static int
swtpm_power_cycle(struct backend *be)
{
	uint8_t flags[4] = {0};
	int r;

	if ((r = swtpm_ctrl(be, SWTPM_CMD_INIT, flags, sizeof(flags))) < 0)
		return r;
	be->needs_startup = true;
	return 0;
}

static void
swtpm_close(struct backend *be)
{
	if (be->fd >= 0)
		(void)close(be->fd);
	be->fd = -1;
	free(be->priv);
	be->priv = NULL;
}

const struct backend_ops be_swtpm_ops = {
	.name = "swtpm",
	.help = "swtpm:host=H,port=P[,ctrl=PORT]",
	.open = swtpm_open,
	.submit = swtpm_submit,
	.finish = swtpm_finish,
	.cancel = swtpm_cancel,
	.reconnect = swtpm_reconnect,
	.power_cycle = swtpm_power_cycle,
	.close = swtpm_close,
};
