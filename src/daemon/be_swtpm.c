/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_swtpm.c: swtpm's TCP data port carries raw TPM commands and responses
 * (no framing: the response's own header gives its size).  The control
 * port (port+1 unless ctrl=) takes swtpm's control commands
 * (src/common/swtpm_ctrl.h), one exchange per connection as tpm2-tss's
 * swtpm TCTI does, for locality, cancel and power.
 *
 * Nothing here waits on swtpm from submit(), finish() or cancel(): a
 * command at another locality is SET_LOCALITY on a new control connection
 * (connect without waiting, write when it is up, read the answer when it
 * comes), then the command on the data port; finish() moves the machine
 * on whenever be->fd is readable.  While it waits for anything but the
 * response on the data port, be->fd is a private epoll fd (be_waiter)
 * holding the one socket and the event waited for: the scheduler watches
 * EPOLLIN only, and must never hold a short-lived control socket's number.
 *
 * swtpm runs commands and control requests on one thread, so a control
 * request sent while a command runs is answered only when the command is
 * done.  A cancel is written and never waited for: its connection is
 * closed when the command ends or the next one starts.  If its connect is
 * not done when cancel() returns (never on loopback, where the handshake
 * is over before connect() returns), the request goes out from the next
 * finish() of that command.
 *
 * state     event                          next      be->fd   action
 * IDLE      submit, locality known         SEND      data     write the command
 * IDLE      submit, locality changes       LOCALITY  waiter   connect ctrl, SET_LOCALITY
 * LOCALITY  ctrl writable / readable       LOCALITY  waiter   write request / read result
 * LOCALITY  result 0                       SEND      data     close ctrl, write the command
 * LOCALITY  BAD_LOCALITY                   IDLE      data     -EOPNOTSUPP, nothing sent
 * LOCALITY  ctrl refused, error            IDLE      data     -errno, caller reconnect()s
 * SEND      socket full                    SEND      waiter   wait for EPOLLOUT
 * SEND      all written                    RECV      data
 * RECV      10 header bytes, size ok       RECV      data     read the rest
 * RECV      size < 10 or > cap             IDLE      data     -EBADMSG
 * RECV      all bytes                      IDLE      data     finish() returns 1
 * any       EOF, error                     IDLE      data     -EPIPE/-errno, caller reconnect()s
 * any       reconnect                      IDLE      data     new socket, locality unknown,
 *                                                             CMD_INIT if swtpm is not running
 *
 * swtpm:path=DATA,ctrlpath=CTRL speaks to a swtpm on Unix sockets instead
 * (--server type=unixio, --ctrl type=unixio): the supervised workers of
 * private instances (supervise.c), which no other local user can reach.
 *
 * Blocking, bounded: open() and reconnect() (connect and control exchanges,
 * 5 s each: BE_SOCK_TIMEOUT_MS) and power_cycle() (CMD_INIT, 5 s).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/swtpm_ctrl.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "be_sock.h"

#define SWTPM_LOCALITY_UNKNOWN (-1)

enum sw_state { SW_IDLE, SW_LOCALITY, SW_SEND, SW_RECV };

/* one control exchange, on its own connection */
struct sw_ctrl {
	int fd;          /* owned; -1: none */
	uint8_t req[8];  /* be32 command code, payload */
	size_t req_len, sent;
	uint8_t res[8];  /* be32 result, then extra answer bytes */
	size_t have, extra;
};

struct swtpm {
	struct be_addr addr;
	unsigned ctrl_port;
	struct be_sockaddr ctrl_sa; /* resolved at open: no DNS in the loop */
	struct be_sockaddr data_sa; /* path=: the data socket's (AF_UNIX); else unused */
	int data_fd;                /* owned; be->fd when not waiting on something else */
	struct be_waiter wait;      /* be->fd otherwise */
	enum sw_state state;
	int locality;               /* swtpm's current locality, or SWTPM_LOCALITY_UNKNOWN */
	uint8_t want_loc;           /* of the SET_LOCALITY in flight */
	bool have_ctrl;             /* the control channel answered at (re)connect */
	bool loc4_refused;          /* swtpm runs with reject-locality-4 */
	bool warned_noctrl;
	struct sw_ctrl loc;         /* SET_LOCALITY of the command in flight */
	struct sw_ctrl cancel;      /* CANCEL_TPM_CMD; its answer is never waited for */
	size_t out_len, out_sent;   /* the command, while it is written */
	size_t have;                /* response bytes received, header included */
	size_t want;                /* 10 until the header is in, then its size */
	uint8_t out[TB_BUF_MAX];
};

static void
sw_ctrl_close(struct swtpm *sw, struct sw_ctrl *x)
{
	if (x->fd < 0)
		return;
	if (sw != NULL && sw->wait.fd == x->fd)
		be_waiter_clear(&sw->wait); /* out of the epoll set before the number is free */
	(void)close(x->fd);
	x->fd = -1;
}

/*
 * Open a control connection without waiting and queue cmd + payload; a
 * successful answer has extra more bytes.  The old exchange in x is dropped.
 */
static int
sw_ctrl_start(struct swtpm *sw, struct sw_ctrl *x, uint32_t cmd, const uint8_t *payload,
	      size_t len, size_t extra)
{
	sw_ctrl_close(sw, x);
	if (len > sizeof(x->req) - 4 || extra > sizeof(x->res) - 4)
		return -EINVAL;
	put_be32(x->req, cmd);
	if (len > 0)
		memcpy(x->req + 4, payload, len);
	x->req_len = 4 + len;
	x->sent = x->have = 0;
	x->extra = extra;
	return be_connect_start(&sw->ctrl_sa, &x->fd);
}

/* Move x on without waiting: 1 answer in x->res, 0 wait for *ret_events on x->fd, -errno. */
static int
sw_ctrl_step(struct sw_ctrl *x, uint32_t *ret_events)
{
	int r;

	*ret_events = EPOLLOUT; /* still connecting, or (never for 8 bytes) full */
	if ((r = be_send_some(x->fd, x->req, &x->sent, x->req_len)) <= 0)
		return r;
	*ret_events = EPOLLIN;
	if ((r = read_some(x->fd, x->res, &x->have, 4)) <= 0)
		return r;
	if (get_be32(x->res) != SWTPM_RES_SUCCESS || x->extra == 0)
		return 1;
	return read_some(x->fd, x->res, &x->have, 4 + x->extra);
}

/*
 * One control exchange, waited for (open, reconnect, power cycle): *ret_res
 * is swtpm's result.  < 0 only for a broken exchange (no control channel,
 * BE_SOCK_TIMEOUT_MS over).
 */
static int
swtpm_ctrl(struct backend *be, uint32_t cmd, const uint8_t *payload, size_t len, size_t extra,
	   uint32_t *ret_res)
{
	struct swtpm *sw = be->priv;
	uint64_t deadline = now_ns() + (uint64_t)BE_SOCK_TIMEOUT_MS * 1000000u;
	struct sw_ctrl x = {.fd = -1};
	uint32_t ev;
	int r;

	/* a Unix socket whose backlog is full refuses at once: wait as for a TCP connect */
	while ((r = sw_ctrl_start(sw, &x, cmd, payload, len, extra)) == -EAGAIN &&
	       now_ns() < deadline)
		(void)poll(NULL, 0, 1);
	if (r < 0)
		return r;
	while ((r = sw_ctrl_step(&x, &ev)) == 0)
		if ((r = be_wait(x.fd, ev == EPOLLIN ? POLLIN : POLLOUT, deadline)) < 0)
			break;
	sw_ctrl_close(NULL, &x);
	if (r < 0)
		return r;
	*ret_res = get_be32(x.res);
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
	sw->have_ctrl = r == 0;
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
	if (res != SWTPM_RES_SUCCESS) {
		log_warnx("%s: CMD_INIT failed: 0x%x", be->desc, res);
		return -EIO;
	}
	return 0;
}

/* Point be->fd at what the machine waits for: the data port's input, or the waiter. */
static int
sw_wait(struct backend *be, int fd, uint32_t events)
{
	struct swtpm *sw = be->priv;
	int r;

	if (fd == sw->data_fd && events == EPOLLIN) {
		be_waiter_clear(&sw->wait);
		be->fd = sw->data_fd;
		return 0;
	}
	if ((r = be_waiter_watch(&sw->wait, fd, events)) < 0)
		return r;
	be->fd = sw->wait.ep;
	return 0;
}

/* Back to IDLE: drop the exchanges of the command that ended. */
static void
sw_idle(struct backend *be)
{
	struct swtpm *sw = be->priv;

	sw_ctrl_close(sw, &sw->loc);
	sw_ctrl_close(sw, &sw->cancel); /* its answer does not matter any more */
	be_waiter_clear(&sw->wait);
	be->fd = sw->data_fd;
	sw->state = SW_IDLE;
}

/* The SET_LOCALITY exchange ended with r (sw_ctrl_step): 0 go on, < 0 the command is off. */
static int
sw_locality_done(struct backend *be, int r)
{
	struct swtpm *sw = be->priv;
	uint32_t res = r > 0 ? get_be32(sw->loc.res) : 0;

	sw_ctrl_close(sw, &sw->loc);
	if (r < 0) {
		/* the control channel went away: a fresh swtpm is at 0, and stays there */
		if (sw->want_loc == 0 && sw->locality == SWTPM_LOCALITY_UNKNOWN) {
			sw->locality = 0;
			return 0;
		}
		log_errno(LOG_LVL_WARN, -r, "%s: setting locality %u", be->desc, sw->want_loc);
		/* it answered at connect (else submit() keeps to 0): swtpm is gone
		 * or restarting, a broken link (reconnect), not a bad locality */
		return r;
	}
	if (res == SWTPM_RES_BAD_LOCALITY) { /* 4 with swtpm's reject-locality-4 flag */
		if (sw->want_loc == 4)
			sw->loc4_refused = true;
		return -EOPNOTSUPP;
	}
	if (res != SWTPM_RES_SUCCESS) {
		log_warnx("%s: CMD_SET_LOCALITY %u failed: 0x%x", be->desc, sw->want_loc, res);
		return -EIO;
	}
	sw->locality = sw->want_loc;
	return 0;
}

/* A cancel whose connect was not up at cancel() goes out as soon as it is. */
static void
sw_cancel_push(struct backend *be)
{
	struct swtpm *sw = be->priv;
	struct sw_ctrl *x = &sw->cancel;

	if (x->fd < 0 || x->sent == x->req_len)
		return;
	if (be_send_some(x->fd, x->req, &x->sent, x->req_len) < 0)
		sw_ctrl_close(sw, x);
}

/* RECV: read the header, then the size it gives; 1 complete, 0 wait, -errno. */
static int
sw_read(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct swtpm *sw = be->priv;
	struct tpm_hdr h;
	int r;

	for (;;) {
		if ((r = read_some(sw->data_fd, rsp, &sw->have, sw->want)) <= 0)
			return r;
		if (sw->want > TPM_HDR_SIZE)
			break; /* body complete */
		if ((r = wire_hdr_parse(rsp, sw->have, &h)) < 0)
			return r;
		sw->want = h.size;
		if (sw->want < TPM_HDR_SIZE || sw->want > cap) {
			log_warnx("%s: response size %zu outside [10, %zu]", be->desc, sw->want, cap);
			return -EBADMSG;
		}
		if (sw->want == TPM_HDR_SIZE)
			break;
	}
	*ret_len = sw->have;
	return 1;
}

/*
 * Run the table above as far as it goes without waiting: 1 the response
 * is in rsp, 0 wait for be->fd, -errno.  From submit() rsp is NULL: it
 * stops once the command is written.
 */
static int
sw_advance(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct swtpm *sw = be->priv;
	uint32_t ev;
	int r;

	sw_cancel_push(be);
	if (sw->state == SW_LOCALITY) {
		if ((r = sw_ctrl_step(&sw->loc, &ev)) == 0)
			return sw_wait(be, sw->loc.fd, ev);
		if ((r = sw_locality_done(be, r)) < 0)
			return r;
		sw->state = SW_SEND;
	}
	if (sw->state == SW_SEND) {
		if ((r = be_send_some(sw->data_fd, sw->out, &sw->out_sent, sw->out_len)) == 0)
			return sw_wait(be, sw->data_fd, EPOLLOUT);
		if (r < 0)
			return r;
		sw->have = 0;
		sw->want = TPM_HDR_SIZE;
		sw->state = SW_RECV;
		if ((r = sw_wait(be, sw->data_fd, EPOLLIN)) < 0)
			return r;
	}
	if (rsp == NULL)
		return 0;
	return sw_read(be, rsp, cap, ret_len);
}

/* A Unix socket's address; -ENAMETOOLONG (logged) if the path does not fit. */
static int
sw_unix_addr(const char *path, struct be_sockaddr *ret)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&ret->ss;

	memset(ret, 0, sizeof(*ret));
	if (path[0] == '\0' || strlen(path) >= sizeof(sun->sun_path)) {
		log_warnx("backend swtpm: socket path '%s' empty or too long", path);
		return -ENAMETOOLONG;
	}
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	ret->len = sizeof(*sun);
	return 0;
}

/* The data connection: TCP, or the Unix socket of path=, within BE_SOCK_TIMEOUT_MS. */
static int
sw_connect_data(struct swtpm *sw, int *ret_fd)
{
	uint64_t deadline = now_ns() + (uint64_t)BE_SOCK_TIMEOUT_MS * 1000000u;
	_cleanup_(closep) int fd = -1;
	socklen_t elen = sizeof(int);
	int err = 0, r;

	if (sw->data_sa.ss.ss_family != AF_UNIX)
		return be_tcp_connect(sw->addr.host, sw->addr.port, ret_fd);
	while ((r = be_connect_start(&sw->data_sa, &fd)) == -EAGAIN && now_ns() < deadline)
		(void)poll(NULL, 0, 1); /* backlog full: see swtpm_ctrl() */
	if (r < 0 || (r = be_wait(fd, POLLOUT, deadline)) < 0)
		return r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -errno;
	if (err != 0)
		return -err;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* (Re)open the data connection; the old fd is closed only once a new one is there. */
static int
swtpm_connect(struct backend *be)
{
	struct swtpm *sw = be->priv;
	int fd, r;

	sw_idle(be); /* the command in flight, if any, is lost either way */
	if ((r = sw_connect_data(sw, &fd)) < 0) {
		log_errno(LOG_LVL_WARN, -r, "%s: connect", be->desc);
		return r;
	}
	if (sw->data_fd >= 0)
		(void)close(sw->data_fd);
	be->fd = sw->data_fd = fd;
	/* swtpm may have been restarted (locality 0, flags anew) or not (whatever it was) */
	sw->locality = SWTPM_LOCALITY_UNKNOWN;
	sw->loc4_refused = false;
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

	if (sw != NULL) {
		sw_ctrl_close(sw, &sw->loc);
		sw_ctrl_close(sw, &sw->cancel);
		be_waiter_fini(&sw->wait);
		if (sw->data_fd >= 0)
			(void)close(sw->data_fd);
	}
	be->fd = -1;
	free(sw);
	be->priv = NULL;
}

static int
swtpm_open(struct backend *be, const char *args)
{
	static const char *const keys[] = {"host", "port", "ctrl", "path", "ctrlpath", NULL};
	struct swtpm *sw = calloc(1, sizeof(*sw));
	char ctrl[16], path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	int r;

	if (sw == NULL)
		return -ENOMEM;
	sw->data_fd = sw->loc.fd = sw->cancel.fd = sw->wait.ep = sw->wait.fd = -1;
	be->priv = sw;
	if ((r = be_addr_parse("swtpm", args, keys, &sw->addr)) < 0)
		goto fail;
	sw->ctrl_port = sw->addr.port + 1;
	if ((r = be_arg_get(args, "ctrl", ctrl, sizeof(ctrl))) < 0 ||
	    (r == 1 && (r = be_port_parse("swtpm", "ctrl", ctrl, &sw->ctrl_port)) < 0)) {
		r = -EINVAL;
		goto fail;
	}
	if ((r = be_arg_get(args, "path", path, sizeof(path))) == 1) {
		/* Unix sockets: the control channel is ctrlpath= (none without it) */
		if ((r = sw_unix_addr(path, &sw->data_sa)) < 0)
			goto fail;
		snprintf(be->desc, sizeof(be->desc), "swtpm unix:%s", path);
		if ((r = be_arg_get(args, "ctrlpath", path, sizeof(path))) < 1 ||
		    (r = sw_unix_addr(path, &sw->ctrl_sa)) < 0) {
			r = -EINVAL;
			goto fail;
		}
		if ((r = be_waiter_init(&sw->wait)) < 0 || (r = swtpm_connect(be)) < 0)
			goto fail;
		return 0;
	}
	if (r < 0) {
		r = -EINVAL;
		goto fail;
	}
	snprintf(be->desc, sizeof(be->desc), "swtpm %s:%u", sw->addr.host, sw->addr.port);
	if ((r = be_waiter_init(&sw->wait)) < 0 ||
	    (r = be_resolve(sw->addr.host, sw->ctrl_port, &sw->ctrl_sa)) < 0 ||
	    (r = swtpm_connect(be)) < 0)
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

	if (sw->state != SW_IDLE)
		return -EBUSY;
	if (locality > SWTPM_LOCALITY_MAX || (locality == 4 && sw->loc4_refused))
		return -EOPNOTSUPP;
	if (len > sizeof(sw->out))
		return -EMSGSIZE;
	/* no control channel: a fresh swtpm is at 0, and stays there */
	if (locality != sw->locality && !sw->have_ctrl && locality != 0)
		return -EOPNOTSUPP;
	if (locality != sw->locality && !sw->have_ctrl)
		sw->locality = 0;
	sw_ctrl_close(sw, &sw->cancel); /* an earlier cancel: its answer does not matter */
	memcpy(sw->out, cmd, len);
	sw->out_len = len;
	sw->out_sent = 0;
	sw->state = SW_SEND;
	if (locality != sw->locality) {
		sw->want_loc = locality;
		sw->state = SW_LOCALITY;
		if ((r = sw_ctrl_start(sw, &sw->loc, SWTPM_CMD_SET_LOCALITY, &locality, 1, 0)) < 0)
			r = sw_locality_done(be, r);
		if (r < 0) {
			sw_idle(be);
			return r;
		}
	}
	if ((r = sw_advance(be, NULL, 0, NULL)) < 0) {
		sw_idle(be);
		return r;
	}
	return 0;
}

static int
swtpm_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct swtpm *sw = be->priv;
	int r;

	if (sw->state == SW_IDLE)
		return -EPROTO; /* data nobody asked for, or EOF: the link is not usable */
	if (cap < TPM_HDR_SIZE)
		return -EMSGSIZE;
	if ((r = sw_advance(be, rsp, cap, ret_len)) == 0)
		return 0;
	sw_idle(be);
	return r;
}

static int
swtpm_cancel(struct backend *be)
{
	struct swtpm *sw = be->priv;
	int r;

	if (sw->state == SW_IDLE)
		return 0;
	if ((r = sw_ctrl_start(sw, &sw->cancel, SWTPM_CMD_CANCEL_TPM_CMD, NULL, 0, 0)) < 0)
		return r;
	/* 4 bytes into an empty socket buffer, if the connect is up (loopback: it is) */
	if ((r = be_send_some(sw->cancel.fd, sw->cancel.req, &sw->cancel.sent,
			      sw->cancel.req_len)) < 0) {
		sw_ctrl_close(sw, &sw->cancel);
		return r;
	}
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
	uint8_t flags[4] = {0}; /* no SWTPM_INIT_FLAG_DELETE_VOLATILE */
	uint32_t res;
	int r;

	if (sw->state != SW_IDLE)
		return -EBUSY;
	sw_ctrl_close(sw, &sw->cancel);
	if ((r = swtpm_ctrl(be, SWTPM_CMD_INIT, flags, sizeof(flags), 0, &res)) < 0)
		return r;
	if (res != SWTPM_RES_SUCCESS) {
		log_warnx("%s: CMD_INIT failed: 0x%x", be->desc, res);
		return -EIO;
	}
	be->needs_startup = true;
	return 0;
}

const struct backend_ops be_swtpm_ops = {
	.name = "swtpm",
	.help = "swtpm[:host=H,port=P,ctrl=PORT] (127.0.0.1, 2321, port+1), "
		"swtpm:path=SOCK,ctrlpath=SOCK",
	.open = swtpm_open,
	.submit = swtpm_submit,
	.finish = swtpm_finish,
	.cancel = swtpm_cancel,
	.reconnect = swtpm_reconnect,
	.power_cycle = swtpm_power_cycle,
	.close = swtpm_close,
};
