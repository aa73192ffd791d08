/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_mssim.c: the Microsoft / IBM TPM simulator protocol.  TPM port P:
 * TPM_SEND_COMMAND (8), locality, be32 size, command; answer be32 size,
 * response, be32 0.  Platform port P+1: one be32 signal, answer be32 0;
 * we power the simulator on and enable NV at open, as tpm2-tss does.
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

enum {
	MS_POWER_ON = 1,
	MS_POWER_OFF = 2,
	MS_SEND_COMMAND = 8,
	MS_CANCEL_ON = 9,
	MS_CANCEL_OFF = 10,
	MS_NV_ON = 11,
	MS_SESSION_END = 20,
};
#define MS_TIMEOUT_MS 5000

struct mssim {
	struct be_addr addr;
	int plat_fd;
	bool cancel_on;
	uint8_t head[4];  /* the size prefix */
	size_t head_have;
	size_t have, want; /* response bytes; then the 4-byte trailer */
	uint8_t trailer[4];
	size_t trailer_have;
};

static int
ms_signal(struct backend *be, uint32_t sig)
{
	struct mssim *ms = be->priv;
	uint8_t buf[4];
	int r;

	put_be32(buf, sig);
	if ((r = be_send_all(ms->plat_fd, buf, 4, MS_TIMEOUT_MS)) < 0 ||
	    (r = be_recv_all(ms->plat_fd, buf, 4, MS_TIMEOUT_MS)) < 0)
		return r;
	return get_be32(buf) == 0 ? 0 : -EIO;
}

static void
ms_disconnect(struct backend *be)
{
	struct mssim *ms = be->priv;

	if (be->fd >= 0)
		(void)close(be->fd);
	if (ms->plat_fd >= 0)
		(void)close(ms->plat_fd);
	be->fd = ms->plat_fd = -1;
}

static int
ms_connect(struct backend *be)
{
	struct mssim *ms = be->priv;
	int r;

	ms_disconnect(be);
	if ((r = be_tcp_connect(ms->addr.host, ms->addr.port + 1, &ms->plat_fd)) < 0 ||
	    (r = be_tcp_connect(ms->addr.host, ms->addr.port, &be->fd)) < 0) {
		log_errno(LOG_LVL_WARN, -r, "%s: connect", be->desc);
		ms_disconnect(be);
		return r;
	}
	if ((r = ms_signal(be, MS_POWER_ON)) < 0 || (r = ms_signal(be, MS_NV_ON)) < 0) {
		log_errno(LOG_LVL_WARN, -r, "%s: power on", be->desc);
		ms_disconnect(be);
		return r;
	}
	be->needs_startup = true;
	return 0;
}

static int
ms_open(struct backend *be, const char *args)
{
	static const char *const keys[] = {"host", "port", NULL};
	struct mssim *ms = calloc(1, sizeof(*ms));
	int r;

	if (ms == NULL)
		return -ENOMEM;
	ms->plat_fd = -1;
	be->priv = ms;
	if ((r = be_addr_parse("mssim", args, keys, &ms->addr)) < 0)
		goto fail;
	snprintf(be->desc, sizeof(be->desc), "mssim %s:%u", ms->addr.host, ms->addr.port);
	if ((r = ms_connect(be)) < 0)
		goto fail;
	return 0;
fail:
	free(ms);
	be->priv = NULL;
	return r;
}

static int
ms_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct mssim *ms = be->priv;
	uint8_t head[9];
	int r;

	put_be32(head, MS_SEND_COMMAND);
	head[4] = locality;
	put_be32(head + 5, (uint32_t)len);
	ms->head_have = ms->have = ms->want = ms->trailer_have = 0;
	if ((r = be_send_all(be->fd, head, sizeof(head), MS_TIMEOUT_MS)) < 0)
		return r;
	return be_send_all(be->fd, cmd, len, MS_TIMEOUT_MS);
}

static int
ms_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct mssim *ms = be->priv;
	int r;

	if (ms->head_have < 4) {
		if ((r = be_read_some(be->fd, ms->head, &ms->head_have, 4)) <= 0)
			return r;
		ms->want = get_be32(ms->head);
		if (ms->want < TPM_HDR_SIZE || ms->want > cap)
			return -EBADMSG;
	}
	if (ms->have < ms->want && (r = be_read_some(be->fd, rsp, &ms->have, ms->want)) <= 0)
		return r;
	if ((r = be_read_some(be->fd, ms->trailer, &ms->trailer_have, 4)) <= 0)
		return r;
	if (ms->cancel_on) {
		ms->cancel_on = false;
		(void)ms_signal(be, MS_CANCEL_OFF);
	}
	*ret_len = ms->want;
	return 1;
}

static int
ms_cancel(struct backend *be)
{
	struct mssim *ms = be->priv;
	int r;

	if ((r = ms_signal(be, MS_CANCEL_ON)) == 0)
		ms->cancel_on = true;
	return r;
}

static int
ms_power_cycle(struct backend *be)
{
	int r;

	if ((r = ms_signal(be, MS_POWER_OFF)) < 0 || (r = ms_signal(be, MS_POWER_ON)) < 0)
		return r;
	be->needs_startup = true;
	return 0;
}

static void
ms_close(struct backend *be)
{
	struct mssim *ms = be->priv;
	uint8_t end[4];

	if (ms == NULL)
		return;
	put_be32(end, MS_SESSION_END);
	if (be->fd >= 0)
		(void)be_send_all(be->fd, end, 4, 100);
	if (ms->plat_fd >= 0)
		(void)be_send_all(ms->plat_fd, end, 4, 100);
	ms_disconnect(be);
	free(ms);
	be->priv = NULL;
}

const struct backend_ops be_mssim_ops = {
	.name = "mssim",
	.help = "mssim:host=H,port=P",
	.open = ms_open,
	.submit = ms_submit,
	.finish = ms_finish,
	.cancel = ms_cancel,
	.reconnect = ms_connect,
	.power_cycle = ms_power_cycle,
	.close = ms_close,
};
