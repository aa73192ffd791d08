/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_mssim.c: the client side of the Microsoft / IBM TPM simulator
 * protocol (src/common/mssim.h has the wire format).  At open we power
 * the simulator on and enable NV, as tpm2-tss does; POWER_ON on a running
 * simulator is a no-op there.
 *
 * submit(), finish() and cancel() never wait: the command is written
 * without blocking (a full socket is resumed from finish(), be->fd then
 * being a private epoll fd that reports EPOLLOUT), and so are the platform
 * signals of a cancel.  A cancel is CANCEL_ON while the command runs and
 * CANCEL_OFF once its response is in (the simulator keeps the flag until
 * told).  Neither waits for its ack, which a single-threaded simulator
 * sends only after the command: acks_due counts them, and the next
 * blocking signal reads them.  Blocking, bounded: open() and reconnect()
 * (two connects, POWER_ON and NV_ON: 5 s each, BE_SOCK_TIMEOUT_MS),
 * power_cycle() (two signals, 5 s each plus acks due), close() (none).
 *
 * TPM link    event                        next        action
 * IDLE        submit                       SEND        write 8, locality, size, command
 * SEND        all written                  HEAD
 * SEND        socket full                  SEND        be->fd: waiter for EPOLLOUT
 * HEAD        4 bytes, size in [10, cap]   BODY
 * HEAD        size outside [10, cap]       IDLE        -EBADMSG
 * BODY        size bytes                   TRAILER
 * TRAILER     4 bytes == 0                 IDLE        finish() returns 1, CANCEL_OFF if on
 * TRAILER     4 bytes != 0                 IDLE        -EBADMSG
 * any         EOF, error                   IDLE        -EPIPE/-errno, caller reconnect()s
 */
#include <errno.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/mssim.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "be_sock.h"

enum ms_state { MS_IDLE, MS_SEND, MS_HEAD, MS_BODY, MS_TRAILER };

struct mssim {
	struct be_addr addr;
	int tpm_fd;        /* owned; be->fd unless waiting to write */
	int plat_fd;       /* owned */
	struct be_waiter wait;
	enum ms_state state;
	bool cancel_on;    /* CANCEL_ON sent for the command in flight */
	unsigned acks_due; /* platform acks not read yet */
	uint8_t head[MSSIM_U32_SIZE]; /* response size prefix, then the trailer */
	size_t head_have;
	size_t have, want; /* response bytes */
	size_t out_len, out_sent;
	uint8_t out[MSSIM_CMD_HEAD_SIZE + TB_BUF_MAX]; /* the command, framed */
};

/* Read the acks of signals sent without waiting; a broken link is -errno. */
static int
ms_collect_acks(struct backend *be, int timeout_ms)
{
	struct mssim *ms = be->priv;
	uint8_t ack[4];
	int r;

	for (; ms->acks_due > 0; ms->acks_due--) {
		if ((r = be_recv_all(ms->plat_fd, ack, sizeof(ack), timeout_ms)) < 0)
			return r;
		if (get_be32(ack) != 0)
			log_warnx("%s: platform signal answered 0x%x", be->desc, get_be32(ack));
	}
	return 0;
}

/*
 * A signal whose ack is read later; never waits.  4 bytes into the
 * platform socket always fit: the simulator reads it between commands and
 * we send at most two signals per command.
 */
static int
ms_signal_nowait(struct backend *be, uint32_t sig)
{
	struct mssim *ms = be->priv;
	uint8_t buf[MSSIM_U32_SIZE];
	size_t sent = 0;
	int r;

	put_be32(buf, sig);
	if ((r = be_send_some(ms->plat_fd, buf, &sent, sizeof(buf))) < 0)
		return r;
	if (r == 0 && sent == 0)
		return -EAGAIN;
	if (r == 0) {
		/* half a signal: the platform link is out of step until reconnect */
		log_warnx("%s: platform signal %u half sent", be->desc, sig);
		return -EIO;
	}
	ms->acks_due++;
	return 0;
}

/* Send a platform signal and wait for its ack (and any earlier ones). */
static int
ms_signal(struct backend *be, uint32_t sig)
{
	struct mssim *ms = be->priv;
	uint8_t ack[4];
	int r;

	if ((r = ms_collect_acks(be, BE_SOCK_TIMEOUT_MS)) < 0)
		return r;
	put_be32(ack, sig);
	if ((r = be_send_all(ms->plat_fd, ack, sizeof(ack), BE_SOCK_TIMEOUT_MS)) < 0 ||
	    (r = be_recv_all(ms->plat_fd, ack, sizeof(ack), BE_SOCK_TIMEOUT_MS)) < 0)
		return r;
	if (get_be32(ack) != 0) {
		log_warnx("%s: platform signal %u answered 0x%x", be->desc, sig, get_be32(ack));
		return -EIO;
	}
	return 0;
}

static void
ms_disconnect(struct backend *be)
{
	struct mssim *ms = be->priv;

	be_waiter_clear(&ms->wait);
	if (ms->tpm_fd >= 0)
		(void)close(ms->tpm_fd);
	if (ms->plat_fd >= 0)
		(void)close(ms->plat_fd);
	be->fd = ms->tpm_fd = ms->plat_fd = -1;
	ms->state = MS_IDLE;
	ms->cancel_on = false;
	ms->acks_due = 0;
}

static int
ms_connect(struct backend *be)
{
	struct mssim *ms = be->priv;
	int r;

	ms_disconnect(be);
	if ((r = be_tcp_connect(ms->addr.host, ms->addr.port + 1, &ms->plat_fd)) < 0 ||
	    (r = be_tcp_connect(ms->addr.host, ms->addr.port, &ms->tpm_fd)) < 0) {
		log_errno(LOG_LVL_WARN, -r, "%s: connect", be->desc);
		ms_disconnect(be);
		return r;
	}
	be->fd = ms->tpm_fd;
	if ((r = ms_signal(be, MSSIM_POWER_ON)) < 0 || (r = ms_signal(be, MSSIM_NV_ON)) < 0) {
		log_errno(LOG_LVL_WARN, -r, "%s: power on", be->desc);
		ms_disconnect(be);
		return r;
	}
	/* a simulator that was running answers Startup with TPM_RC_INITIALIZE */
	be->needs_startup = true;
	return 0;
}

static void
ms_close(struct backend *be)
{
	struct mssim *ms = be->priv;
	uint8_t end[MSSIM_U32_SIZE];
	size_t sent = 0;

	if (ms == NULL)
		return;
	/* polite, not needed, not waited for: the simulator also ends the session on EOF */
	put_be32(end, MSSIM_SESSION_END);
	if (ms->tpm_fd >= 0 && ms->state == MS_IDLE)
		(void)be_send_some(ms->tpm_fd, end, &sent, sizeof(end));
	sent = 0;
	if (ms->plat_fd >= 0)
		(void)be_send_some(ms->plat_fd, end, &sent, sizeof(end));
	ms_disconnect(be);
	be_waiter_fini(&ms->wait);
	free(ms);
	be->priv = NULL;
}

static int
ms_open(struct backend *be, const char *args)
{
	static const char *const keys[] = {"host", "port", NULL};
	struct mssim *ms = calloc(1, sizeof(*ms));
	int r;

	if (ms == NULL)
		return -ENOMEM;
	ms->tpm_fd = ms->plat_fd = -1;
	be->priv = ms;
	if ((r = be_addr_parse("mssim", args, keys, &ms->addr)) < 0 ||
	    (r = be_waiter_init(&ms->wait)) < 0)
		goto fail;
	snprintf(be->desc, sizeof(be->desc), "mssim %s:%u", ms->addr.host, ms->addr.port);
	if ((r = ms_connect(be)) < 0)
		goto fail;
	return 0;
fail:
	be_waiter_fini(&ms->wait);
	free(ms);
	be->priv = NULL;
	return r;
}

static int ms_step(struct backend *be, uint8_t *rsp, size_t cap);

static int
ms_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct mssim *ms = be->priv;
	int r;

	if (ms->state != MS_IDLE)
		return -EBUSY;
	if (len > TB_BUF_MAX)
		return -EMSGSIZE;
	put_be32(ms->out, MSSIM_SEND_COMMAND);
	ms->out[4] = locality;
	put_be32(ms->out + 5, (uint32_t)len);
	memcpy(ms->out + MSSIM_CMD_HEAD_SIZE, cmd, len);
	ms->out_len = MSSIM_CMD_HEAD_SIZE + len;
	ms->out_sent = 0;
	ms->head_have = ms->have = 0;
	ms->state = MS_SEND;
	if ((r = ms_step(be, NULL, 0)) < 0) {
		ms->state = MS_IDLE;
		be_waiter_clear(&ms->wait);
		be->fd = ms->tpm_fd;
		return r;
	}
	return 0;
}

/* One step of the table above: 1 moved on, 0 wait for more bytes, < 0 failed. */
static int
ms_step(struct backend *be, uint8_t *rsp, size_t cap)
{
	struct mssim *ms = be->priv;
	int r;

	switch (ms->state) {
	case MS_SEND:
		if ((r = be_send_some(ms->tpm_fd, ms->out, &ms->out_sent, ms->out_len)) < 0)
			return r;
		if (r == 0) {
			if ((r = be_waiter_watch(&ms->wait, ms->tpm_fd, EPOLLOUT)) < 0)
				return r;
			be->fd = ms->wait.ep;
			return 0;
		}
		be_waiter_clear(&ms->wait);
		be->fd = ms->tpm_fd;
		ms->state = MS_HEAD;
		return rsp == NULL ? 0 : 1; /* from submit: the answer cannot be there yet */
	case MS_HEAD:
		if ((r = read_some(ms->tpm_fd, ms->head, &ms->head_have, MSSIM_U32_SIZE)) <= 0)
			return r;
		ms->want = get_be32(ms->head);
		if (ms->want < TPM_HDR_SIZE || ms->want > cap) {
			log_warnx("%s: response size %zu outside [10, %zu]", be->desc, ms->want, cap);
			return -EBADMSG;
		}
		ms->state = MS_BODY;
		return 1;
	case MS_BODY:
		if ((r = read_some(ms->tpm_fd, rsp, &ms->have, ms->want)) <= 0)
			return r;
		ms->head_have = 0;
		ms->state = MS_TRAILER;
		return 1;
	case MS_TRAILER:
		if ((r = read_some(ms->tpm_fd, ms->head, &ms->head_have, MSSIM_U32_SIZE)) <= 0)
			return r;
		if (get_be32(ms->head) != 0) {
			log_warnx("%s: response trailer 0x%x, not 0", be->desc, get_be32(ms->head));
			return -EBADMSG;
		}
		ms->state = MS_IDLE;
		return 1;
	case MS_IDLE:
		break;
	}
	return -EPROTO;
}

static int
ms_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct mssim *ms = be->priv;
	int r;

	if (ms->state == MS_IDLE)
		return -EPROTO; /* data nobody asked for, or EOF */
	while ((r = ms_step(be, rsp, cap)) == 1 && ms->state != MS_IDLE)
		;
	if (r == 0)
		return 0;
	ms->state = MS_IDLE;
	be_waiter_clear(&ms->wait);
	be->fd = ms->tpm_fd;
	if (ms->cancel_on) {
		ms->cancel_on = false;
		if (ms_signal_nowait(be, MSSIM_CANCEL_OFF) < 0)
			log_warnx("%s: CANCEL_OFF not sent; the next command may be cancelled",
				  be->desc);
	}
	if (r < 0)
		return r;
	*ret_len = ms->want;
	return 1;
}

static int
ms_cancel(struct backend *be)
{
	struct mssim *ms = be->priv;
	int r;

	if (ms->state == MS_IDLE || ms->cancel_on)
		return 0;
	if ((r = ms_signal_nowait(be, MSSIM_CANCEL_ON)) < 0)
		return r;
	ms->cancel_on = true;
	return 0;
}

static int
ms_power_cycle(struct backend *be)
{
	struct mssim *ms = be->priv;
	int r;

	if (ms->state != MS_IDLE)
		return -EBUSY;
	if ((r = ms_signal(be, MSSIM_POWER_OFF)) < 0 || (r = ms_signal(be, MSSIM_POWER_ON)) < 0)
		return r;
	be->needs_startup = true;
	return 0;
}

const struct backend_ops be_mssim_ops = {
	.name = "mssim",
	.help = "mssim[:host=H,port=P] (127.0.0.1, 2321; platform port P+1)",
	.open = ms_open,
	.submit = ms_submit,
	.finish = ms_finish,
	.cancel = ms_cancel,
	.reconnect = ms_connect,
	.power_cycle = ms_power_cycle,
	.close = ms_close,
};
