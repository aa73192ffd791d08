/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_swtpm.c: swtpm's TCP data port carries raw TPM commands and responses
 * (no framing: the response's own header gives its size).  The control
 * port (port+1 unless ctrl=) takes swtpm's control commands (src/common/
 * swtpm_ctrl.h), one exchange
 * per connection as tpm2-tss's swtpm TCTI does, for locality, cancel and
 * power.
 *
 * swtpm runs commands and control requests on one thread, so a control
 * request sent while a command runs is answered only when the command is
 * done.  Locality changes happen between commands and are waited for; a
 * cancel is sent and not waited for (its answer is reaped later), or it
 * would stall the daemon for as long as the command it means to cut short.
 *
 * data link   event                       next        action
 * IDLE        submit                      WAIT        SET_LOCALITY if changed, send
 * WAIT        10 header bytes, size ok    WAIT        read the rest
 * WAIT        size < 10 or > cap          IDLE        -EBADMSG
 * WAIT        all bytes                   IDLE        finish() returns 1
 * WAIT        EOF, error                  IDLE        -EPIPE/-errno, caller reconnect()s
 * any         reconnect                   IDLE        new socket, locality unknown,
 *                                                     CMD_INIT if swtpm is not running
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/swtpm_ctrl.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "be_sock.h"

#define SWTPM_LOCALITY_UNKNOWN (-1)

struct swtpm {
	struct be_addr addr;
	unsigned ctrl_port;
	int locality;   /* swtpm's current locality, or SWTPM_LOCALITY_UNKNOWN */
	bool inflight;  /* a command was sent, its response not yet complete */
	bool warned_noctrl;
	int cancel_fd;  /* control connection of a cancel whose answer is not read yet */
	size_t have;    /* response bytes received, header included */
	size_t want;    /* 10 until the header is in, then its size */
};

/* Drop the connection of an earlier cancel; its answer does not matter. */
static void
swtpm_reap_cancel(struct swtpm *sw)
{
	if (sw->cancel_fd >= 0)
		(void)close(sw->cancel_fd);
	sw->cancel_fd = -1;
}

/*
 * One control exchange: cmd code + payload; *ret_res is swtpm's be32 result,
 * and on success extra more answer bytes are read and dropped.  < 0 only for
 * a broken exchange (no control channel, timeout).
 */
static int
swtpm_ctrl(struct backend *be, uint32_t cmd, const uint8_t *payload, size_t len, size_t extra,
	   uint32_t *ret_res)
{
	struct swtpm *sw = be->priv;
	_cleanup_(closep) int fd = -1;
	uint8_t buf[16], res[8];
	int r;

	if (len > sizeof(buf) - 4 || extra > sizeof(res) - 4)
		return -EINVAL;
	put_be32(buf, cmd);
	if (len > 0)
		memcpy(buf + 4, payload, len);
	if ((r = be_tcp_connect(sw->addr.host, sw->ctrl_port, &fd)) < 0 ||
	    (r = be_send_all(fd, buf, 4 + len, BE_SOCK_TIMEOUT_MS)) < 0 ||
	    (r = be_recv_all(fd, res, 4, BE_SOCK_TIMEOUT_MS)) < 0)
		return r;
	*ret_res = get_be32(res);
	if (*ret_res == 0 && extra > 0 && (r = be_recv_all(fd, res + 4, extra, BE_SOCK_TIMEOUT_MS)) < 0)
		return r;
	return 0;
}

/*
 * A swtpm started without --flags not-need-init answers every command with
 * TPM_RC_FAILURE until it gets CMD_INIT (QEMU sends it).  Ask whether the
 * TPM runs and initialise it if not; without a control channel assume it
 * does.
 */
static int
swtpm_ensure_running(struct backend *be)
{
	struct swtpm *sw = be->priv;
	uint8_t flags[4] = {0};
	uint32_t res;
	int r;

	r = swtpm_ctrl(be, SWTPM_CMD_GET_TPMESTABLISHED, NULL, 0, 4, &res);
	if (r < 0) {
		if (!sw->warned_noctrl)
			log_errno(LOG_LVL_WARN, -r, "%s: no control channel on port %u "
				  "(locality stays 0, no cancel, no power cycle)", be->desc, sw->ctrl_port);
		sw->warned_noctrl = true;
		return 0;
	}
	if (res != SWTPM_RES_BAD_ORDINAL)
		return 0;
	log_info("%s: swtpm is not initialised, sending CMD_INIT", be->desc);
	if ((r = swtpm_ctrl(be, SWTPM_CMD_INIT, flags, sizeof(flags), 0, &res)) < 0)
		return r;
	if (res != 0) {
		log_warnx("%s: CMD_INIT failed: 0x%x", be->desc, res);
		return -EIO;
	}
	return 0;
}

static int
swtpm_set_locality(struct backend *be, uint8_t locality)
{
	struct swtpm *sw = be->priv;
	uint32_t res;
	int r;

	r = swtpm_ctrl(be, SWTPM_CMD_SET_LOCALITY, &locality, 1, 0, &res);
	if (r < 0) {
		/* no control channel: a fresh swtpm is at 0, and stays there */
		if (locality == 0 && sw->locality == SWTPM_LOCALITY_UNKNOWN) {
			sw->locality = 0;
			return 0;
		}
		log_errno(LOG_LVL_WARN, -r, "%s: setting locality %u", be->desc, locality);
		return r == -ECONNREFUSED ? -EOPNOTSUPP : r;
	}
	if (res == SWTPM_RES_BAD_LOCALITY) /* 4 with swtpm's reject-locality-4 flag */
		return -EOPNOTSUPP;
	if (res != 0) {
		log_warnx("%s: CMD_SET_LOCALITY %u failed: 0x%x", be->desc, locality, res);
		return -EIO;
	}
	sw->locality = locality;
	return 0;
}

/* (Re)open the data connection; the old fd is closed only once a new one is there. */
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
	sw->inflight = false;
	/* swtpm may have been restarted (locality 0) or not (whatever it was) */
	sw->locality = SWTPM_LOCALITY_UNKNOWN;
	swtpm_reap_cancel(sw);
	if ((r = swtpm_ensure_running(be)) < 0)
		return r;
	/* restarted with or without startup-clear: be_startup tolerates both */
	be->needs_startup = true;
	return 0;
}

static void
swtpm_close(struct backend *be)
{
	struct swtpm *sw = be->priv;

	if (be->fd >= 0)
		(void)close(be->fd);
	be->fd = -1;
	if (sw != NULL)
		swtpm_reap_cancel(sw);
	free(sw);
	be->priv = NULL;
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
	sw->cancel_fd = -1;
	be->priv = sw;
	if ((r = be_addr_parse("swtpm", args, keys, &sw->addr)) < 0)
		goto fail;
	sw->ctrl_port = sw->addr.port + 1;
	if ((r = be_arg_get(args, "ctrl", ctrl, sizeof(ctrl))) < 0 ||
	    (r == 1 && (r = be_port_parse("swtpm", "ctrl", ctrl, &sw->ctrl_port)) < 0)) {
		r = -EINVAL;
		goto fail;
	}
	snprintf(be->desc, sizeof(be->desc), "swtpm %s:%u", sw->addr.host, sw->addr.port);
	if ((r = swtpm_connect(be)) < 0)
		goto fail;
	return 0;
fail:
	swtpm_close(be);
	return r;
}

static int
swtpm_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct swtpm *sw = be->priv;
	int r;

	if (sw->inflight)
		return -EBUSY;
	if (locality > SWTPM_LOCALITY_MAX)
		return -EOPNOTSUPP;
	swtpm_reap_cancel(sw);
	if (locality != sw->locality && (r = swtpm_set_locality(be, locality)) < 0)
		return r;
	if ((r = be_send_all(be->fd, cmd, len, BE_SOCK_TIMEOUT_MS)) < 0)
		return r;
	sw->have = 0;
	sw->want = TPM_HDR_SIZE;
	sw->inflight = true;
	return 0;
}

static int
swtpm_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct swtpm *sw = be->priv;
	int r;

	if (!sw->inflight)
		return -EPROTO; /* data nobody asked for, or EOF: the link is not usable */
	if (cap < TPM_HDR_SIZE)
		return -EMSGSIZE;
	for (;;) {
		r = read_some(be->fd, rsp, &sw->have, sw->want);
		if (r == 0)
			return 0;
		if (r < 0)
			break;
		if (sw->want > TPM_HDR_SIZE)
			break; /* body complete */
		sw->want = get_be32(rsp + 2);
		if (sw->want < TPM_HDR_SIZE || sw->want > cap) {
			log_warnx("%s: response size %zu outside [10, %zu]", be->desc, sw->want, cap);
			r = -EBADMSG;
			break;
		}
		if (sw->want == TPM_HDR_SIZE)
			break;
	}
	sw->inflight = false;
	if (r < 0)
		return r;
	*ret_len = sw->have;
	return 1;
}

static int
swtpm_cancel(struct backend *be)
{
	struct swtpm *sw = be->priv;
	uint8_t buf[4];
	int fd, r;

	if (!sw->inflight)
		return 0;
	swtpm_reap_cancel(sw);
	put_be32(buf, SWTPM_CMD_CANCEL_TPM_CMD);
	if ((r = be_tcp_connect(sw->addr.host, sw->ctrl_port, &fd)) < 0)
		return r;
	/* 4 bytes into an empty socket buffer: never blocks */
	if ((r = be_send_all(fd, buf, sizeof(buf), BE_SOCK_TIMEOUT_MS)) < 0) {
		(void)close(fd);
		return r;
	}
	sw->cancel_fd = fd;
	return 0;
}

static int
swtpm_reconnect(struct backend *be)
{
	return swtpm_connect(be);
}

static int
swtpm_power_cycle(struct backend *be)
{
	struct swtpm *sw = be->priv;
	uint8_t flags[4] = {0}; /* no PTM_INIT_FLAG_DELETE_VOLATILE */
	uint32_t res;
	int r;

	if (sw->inflight)
		return -EBUSY;
	if ((r = swtpm_ctrl(be, SWTPM_CMD_INIT, flags, sizeof(flags), 0, &res)) < 0)
		return r;
	if (res != 0) {
		log_warnx("%s: CMD_INIT failed: 0x%x", be->desc, res);
		return -EIO;
	}
	be->needs_startup = true;
	return 0;
}

const struct backend_ops be_swtpm_ops = {
	.name = "swtpm",
	.help = "swtpm[:host=H,port=P,ctrl=PORT] (127.0.0.1, 2321, port+1)",
	.open = swtpm_open,
	.submit = swtpm_submit,
	.finish = swtpm_finish,
	.cancel = swtpm_cancel,
	.reconnect = swtpm_reconnect,
	.power_cycle = swtpm_power_cycle,
	.close = swtpm_close,
};
