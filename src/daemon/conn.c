/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conn.c: client connections.  Reads frames of the connection's protocol,
 * validates the TPM command inside before anything else sees it, hands it
 * to the scheduler, and writes the framed response back.  Every problem a
 * client causes is answered with a TPM response carrying the RM layer; the
 * connection is closed only when framing is lost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "conn.h"
#include "sched.h"
#include "server.h"
#include "status.h"

/* MS/IBM simulator protocol signals (TpmTcpProtocol.h) */
enum mssim_signal {
	MSSIM_POWER_ON = 1,
	MSSIM_POWER_OFF = 2,
	MSSIM_SEND_COMMAND = 8,
	MSSIM_CANCEL_ON = 9,
	MSSIM_CANCEL_OFF = 10,
	MSSIM_NV_ON = 11,
	MSSIM_REMOTE_HANDSHAKE = 15,
	MSSIM_SESSION_END = 20,
	MSSIM_STOP = 21,
};
#define MSSIM_SERVER_VERSION 1u
/* handshake flags: tpmPlaying | tpmRunning | nvAvailable (as the simulator) */
#define MSSIM_HANDSHAKE_FLAGS 0x7u

static void conn_on_io(struct loop_io *io, uint32_t events);
static void conn_update_events(struct conn *c);
static void conn_read(struct conn *c);

const char *
conn_proto_name(enum conn_proto p)
{
	switch (p) {
	case PROTO_TB: return "unix";
	case PROTO_MSSIM_TPM: return "mssim";
	case PROTO_MSSIM_PLATFORM: return "mssim-platform";
	}
	return "?";
}

const char *
conn_state_name(enum conn_state s)
{
	static const char *const names[] = {"read", "queued", "running", "write", "dead"};

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

/* bytes in front of the TPM response in c->out */
static size_t
conn_rsp_offset(const struct conn *c)
{
	return c->proto == PROTO_TB ? TB_PROTO_HDR_SIZE : 4u;
}

uint8_t *
conn_rsp_buf(struct conn *c, size_t *cap)
{
	*cap = TB_BUF_MAX;
	return c->out + conn_rsp_offset(c);
}

static void
conn_reset_input(struct conn *c)
{
	c->hdr_len = 0;
	c->hdr_want = c->proto == PROTO_TB ? TB_PROTO_HDR_SIZE : 4u;
	c->cmd_len = 0;
	c->cmd_want = 0;
	c->in_payload = false;
}

int
conn_new(struct server *srv, int fd, enum conn_proto proto, struct conn **ret)
{
	struct conn *c = calloc(1, sizeof(*c));
	int r;

	if (c == NULL)
		return -ENOMEM;
	c->srv = srv;
	c->proto = proto;
	c->state = CONN_READ;
	c->id = ++srv->next_conn_id;
	c->peer.uid = (uid_t)-1;
	c->peer.gid = (gid_t)-1;
	if (proto == PROTO_TB) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			c->peer.uid = cred.uid;
			c->peer.gid = cred.gid;
			c->peer.pid = cred.pid;
			c->peer_known = true;
		}
	}
	conn_reset_input(c);
	if ((r = rm_conn_new(srv->rm, &c->peer, &c->rmc)) < 0) {
		free(c);
		return r;
	}
	if ((r = loop_io_add(srv->loop, &c->io, fd, EPOLLIN | EPOLLRDHUP, conn_on_io, c)) < 0) {
		struct rm_step step = {0};
		(void)rm_close(srv->rm, c->rmc, &step); /* owns nothing yet: RM_DONE */
		free(c);
		return r;
	}
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->n_conns++;
	srv->conns_total++;
	if (srv->n_conns > srv->cfg.max_connections) {
		c->refused = true;
		srv->conns_refused++;
	}
	log_debug("conn %llu: new %s peer pid %d uid %d", (unsigned long long)c->id,
		  conn_proto_name(proto), (int)c->peer.pid, (int)c->peer.uid);
	*ret = c;
	return 0;
}

/* ---- output ---- */

static void
conn_write_timeout(struct loop_timer *t)
{
	conn_kill(t->data, "client does not read its response");
}

static void
conn_flush(struct conn *c)
{
	const uint8_t *buf = c->big_out != NULL ? c->big_out : c->out;

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->io.fd, buf + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!c->write_timer.armed)
					loop_timer_arm(c->srv->loop, &c->write_timer,
						       (uint64_t)c->srv->cfg.write_timeout_ms * 1000000u,
						       conn_write_timeout, c);
				conn_update_events(c);
				return;
			}
			conn_kill(c, strerror(errno));
			return;
		}
		c->out_off += (size_t)n;
	}
	loop_timer_disarm(c->srv->loop, &c->write_timer);
	free(c->big_out);
	c->big_out = NULL;
	c->out_len = c->out_off = 0;
	if (c->close_after_write) {
		conn_kill(c, "framing lost");
		return;
	}
	c->state = CONN_READ;
	if (!c->in_payload && c->hdr_len > 0)
		conn_read(c); /* a header arrived while we were busy */
	else
		conn_update_events(c);
}

/* Frame the response that sits at conn_rsp_buf() and start writing it. */
static void
conn_send(struct conn *c, size_t rsp_len)
{
	size_t off = conn_rsp_offset(c);

	if (c->proto == PROTO_TB) {
		struct tb_msg_hdr h = {.version = TB_PROTO_VERSION,
				       .type = TB_MSG_RESPONSE,
				       .len = (uint32_t)rsp_len};
		tb_hdr_pack(c->out, &h);
		c->out_len = off + rsp_len;
	} else {
		put_be32(c->out, (uint32_t)rsp_len);
		put_be32(c->out + off + rsp_len, 0); /* the simulator's trailing ack */
		c->out_len = off + rsp_len + 4;
	}
	c->out_off = 0;
	c->state = CONN_WRITE;
	conn_flush(c);
}

/* Answer with a bare RM-layer TPM error, without the TPM. */
static void
conn_send_rc(struct conn *c, uint32_t rc)
{
	size_t cap;
	uint8_t *p = conn_rsp_buf(c, &cap);

	c->srv->frames_bad++;
	if (c->state == CONN_QUEUED || c->state == CONN_RUNNING) {
		/*
		 * A broken frame behind a command still in progress: an answer
		 * now would overtake that command's response.  The stream is
		 * lost anyway: drop the client (its command is cleaned up).
		 */
		conn_kill(c, "malformed frame while a command is in progress");
		return;
	}
	log_debug("conn %llu: answering 0x%08x", (unsigned long long)c->id, rc);
	conn_send(c, wire_rc_response(p, cap, rc));
}

/* Raw bytes, no framing (mssim acks and handshake). */
static void
conn_send_raw(struct conn *c, const uint8_t *p, size_t len)
{
	memcpy(c->out, p, len);
	c->out_len = len;
	c->out_off = 0;
	c->state = CONN_WRITE;
	conn_flush(c);
}

void
conn_command_done(struct conn *c, size_t rsp_len)
{
	c->commands++;
	if (c->cancelled)
		c->cancelled = false;
	conn_send(c, rsp_len);
}

/* ---- input ---- */

static void
conn_update_events(struct conn *c)
{
	uint32_t ev = EPOLLRDHUP;

	if (c->state == CONN_DEAD)
		return;
	if (c->state == CONN_READ)
		ev |= EPOLLIN;
	/* while busy, a PROTO_TB peer may still send CANCEL: read one header */
	else if (c->proto == PROTO_TB && c->hdr_len < c->hdr_want && !c->in_payload)
		ev |= EPOLLIN;
	if (c->state == CONN_WRITE && c->out_off < c->out_len)
		ev |= EPOLLOUT;
	if (loop_io_mod(c->srv->loop, &c->io, ev) < 0)
		conn_kill(c, "epoll_ctl failed");
}

/* Read up to want bytes into buf (at *len).  1 complete, 0 wait, <0 gone. */
static int
conn_fill(struct conn *c, uint8_t *buf, size_t *len, size_t want)
{
	while (*len < want) {
		ssize_t n = read(c->io.fd, buf + *len, want - *len);
		if (n > 0 && c->proto != PROTO_TB) {
			/*
			 * tpm2-tss's mssim TCTI writes the frame header and the
			 * command separately; with Nagle on its side, our delayed
			 * ACK would stall every command ~40 ms.  Ack at once.
			 */
			int one = 1;
			(void)setsockopt(c->io.fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		}
		if (n > 0)
			*len += (size_t)n;
		else if (n == 0)
			return -EPIPE;
		else if (errno == EINTR)
			continue;
		else
			return errno == EAGAIN ? 0 : -errno;
	}
	return 1;
}

static void
conn_command_ready(struct conn *c)
{
	struct tpm_hdr h;
	uint32_t rc;

	rc = wire_check_command(c->cmd, c->cmd_len, c->srv->caps.max_command, &h);
	conn_reset_input(c);
	if (rc != 0) {
		conn_send_rc(c, TB_RM_RC(rc));
		return;
	}
	if (c->refused) {
		/* over --max-connections: "try again later", in TPM terms */
		conn_send_rc(c, TB_RM_RC(TPM2_RC_RETRY));
		return;
	}
	c->queued_ns = now_ns();
	c->job_len = h.size;
	sched_submit(c->srv->sched, c);
	conn_update_events(c);
}

static void
conn_status(struct conn *c, bool json)
{
	char *text = NULL;
	size_t len = 0;
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_STATUS};

	if (!c->peer_known || (c->peer.uid != 0 && c->peer.uid != c->srv->uid)) {
		conn_send_rc(c, TB_RC_DENIED);
		return;
	}
	if (status_render(c->srv, json, &text, &len) < 0 || len > TB_PROTO_MAX_STATUS) {
		free(text);
		conn_send_rc(c, TB_RM_RC(TPM2_RC_MEMORY));
		return;
	}
	c->big_out = malloc(TB_PROTO_HDR_SIZE + len);
	if (c->big_out == NULL) {
		free(text);
		conn_send_rc(c, TB_RM_RC(TPM2_RC_MEMORY));
		return;
	}
	h.len = (uint32_t)len;
	tb_hdr_pack(c->big_out, &h);
	memcpy(c->big_out + TB_PROTO_HDR_SIZE, text, len);
	free(text);
	c->out_len = TB_PROTO_HDR_SIZE + len;
	c->out_off = 0;
	c->state = CONN_WRITE;
	conn_flush(c);
}

/* A CANCEL frame arrived (any state). */
static void
conn_cancel(struct conn *c)
{
	conn_reset_input(c);
	if (c->state == CONN_QUEUED) {
		if (sched_cancel(c->srv->sched, c)) {
			c->state = CONN_READ;
			conn_send_rc(c, TB_RM_RC(TPM2_RC_CANCELED));
		}
	} else if (c->state == CONN_RUNNING && !c->cancelled) {
		c->cancelled = true;
		(void)sched_cancel(c->srv->sched, c);
	}
	if (c->state != CONN_DEAD)
		conn_update_events(c);
}

/* PROTO_TB: a complete 8-byte header is in c->hdr. */
static void
conn_tb_header(struct conn *c)
{
	struct tb_msg_hdr h;

	tb_hdr_unpack(c->hdr, &h);
	c->frame_type = h.type;
	c->frame_flags = h.flags;
	if (h.version != TB_PROTO_VERSION ||
	    (h.type != TB_MSG_COMMAND && h.type != TB_MSG_CANCEL && h.type != TB_MSG_STATUS) ||
	    (h.type == TB_MSG_COMMAND && h.locality > 4)) {
		c->close_after_write = true;
		conn_reset_input(c);
		conn_send_rc(c, TB_RM_RC(TPM2_RC_BAD_TAG));
		return;
	}
	if (h.len > TB_PROTO_MAX_PAYLOAD || h.len > sizeof(c->cmd) ||
	    (h.type != TB_MSG_COMMAND && h.len != 0)) {
		c->close_after_write = true;
		conn_reset_input(c);
		conn_send_rc(c, TB_RM_RC(TPM2_RC_COMMAND_SIZE));
		return;
	}
	if (h.type == TB_MSG_CANCEL) {
		conn_cancel(c);
		return;
	}
	if (h.type == TB_MSG_STATUS) {
		conn_reset_input(c);
		conn_status(c, (h.flags & TB_STATUS_FLAG_JSON) != 0);
		return;
	}
	c->locality = h.locality;
	c->in_payload = true;
	c->cmd_want = h.len;
	c->cmd_len = 0;
}

/* mssim TPM/platform port: the signal code (and its fixed fields) are in. */
static void
conn_mssim_header(struct conn *c)
{
	uint32_t sig = get_be32(c->hdr);
	uint8_t ack[12];

	if (c->proto == PROTO_MSSIM_TPM && sig == MSSIM_SEND_COMMAND) {
		uint32_t size;
		if (c->hdr_want < 9) {
			c->hdr_want = 9; /* signal, locality, size */
			return;
		}
		c->locality = c->hdr[4];
		size = get_be32(c->hdr + 5);
		if (size > sizeof(c->cmd) || c->locality > 4) {
			/* the stream can't be resynchronised past this: answer, close */
			c->close_after_write = true;
			conn_reset_input(c);
			conn_send_rc(c, TB_RM_RC(TPM2_RC_COMMAND_SIZE));
			return;
		}
		c->in_payload = true;
		c->cmd_want = size;
		c->cmd_len = 0;
		return;
	}
	if (c->proto == PROTO_MSSIM_TPM && sig == MSSIM_REMOTE_HANDSHAKE) {
		if (c->hdr_want < 8) {
			c->hdr_want = 8; /* signal, client version */
			return;
		}
		conn_reset_input(c);
		put_be32(ack, MSSIM_SERVER_VERSION);
		put_be32(ack + 4, MSSIM_HANDSHAKE_FLAGS);
		put_be32(ack + 8, 0);
		conn_send_raw(c, ack, 12);
		return;
	}
	conn_reset_input(c);
	if (sig == MSSIM_SESSION_END || sig == MSSIM_STOP) {
		/* STOP would end the simulator; here it ends only this client */
		conn_kill(c, "session end");
		return;
	}
	if (c->proto == PROTO_MSSIM_TPM) {
		/* hash/ACT signals etc.: nothing a shared TPM can do; framing unknown */
		c->close_after_write = true;
		conn_send_rc(c, TB_RM_RC(TPM2_RC_COMMAND_CODE));
		return;
	}
	/*
	 * Platform port: POWER_ON/OFF, NV_ON/OFF, CANCEL_ON/OFF, PHYS_PRES_*,
	 * RESET, ... are acknowledged and never reach the shared TPM: a power
	 * cycle by one client would reset everyone's TPM.  Cancel cannot be tied
	 * to a TPM-port connection here.
	 */
	log_debug("conn %llu: platform signal %u acknowledged", (unsigned long long)c->id, sig);
	put_be32(ack, 0);
	conn_send_raw(c, ack, 4);
}

static void
conn_read(struct conn *c)
{
	int r = 0;

	while (c->state != CONN_DEAD && !c->close_after_write) {
		if (c->in_payload) {
			r = conn_fill(c, c->cmd, &c->cmd_len, c->cmd_want);
			if (r <= 0)
				break;
			conn_command_ready(c);
			/*
			 * Busy now: don't try another read (EAGAIN almost always);
			 * EPOLLIN stays armed for a CANCEL and will wake us.
			 */
			if (c->state != CONN_READ)
				return;
			continue;
		}
		if (c->hdr_len < c->hdr_want) {
			if (c->state != CONN_READ && c->proto != PROTO_TB)
				return;
			r = conn_fill(c, c->hdr, &c->hdr_len, c->hdr_want);
			if (r <= 0)
				break;
		}
		/* a whole header; while busy only a CANCEL is acted upon */
		if (c->state != CONN_READ &&
		    (c->proto != PROTO_TB || c->hdr[1] != TB_MSG_CANCEL)) {
			conn_update_events(c); /* parked: stop reading until our turn */
			return;
		}
		if (c->proto == PROTO_TB)
			conn_tb_header(c);
		else
			conn_mssim_header(c);
		if (c->in_payload && c->cmd_want == 0)
			conn_command_ready(c); /* empty command: size error */
	}
	if (r < 0)
		conn_kill(c, r == -EPIPE ? "end of file" : strerror(-r));
	else if (c->state != CONN_DEAD)
		conn_update_events(c);
}

static void
conn_on_io(struct loop_io *io, uint32_t events)
{
	struct conn *c = io->data;

	if (events & EPOLLOUT && c->state == CONN_WRITE)
		conn_flush(c);
	if (c->state == CONN_DEAD)
		return;
	if (events & EPOLLIN) {
		conn_read(c);
		if (c->state == CONN_DEAD)
			return;
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		conn_kill(c, "hang-up");
		return;
	}
	if ((events & EPOLLRDHUP) && !(events & EPOLLIN)) {
		/* the client is gone; a queued or running command of its is moot */
		conn_kill(c, "peer closed");
		return;
	}
	/* after a write completed, bytes may already wait (level triggered) */
}

void
conn_kill(struct conn *c, const char *why)
{
	struct server *srv = c->srv;
	enum conn_state was = c->state;

	if (was == CONN_DEAD)
		return;
	log_debug("conn %llu: closing: %s", (unsigned long long)c->id, why);
	loop_io_del(srv->loop, &c->io);
	(void)close(c->io.fd);
	c->io.fd = -1;
	loop_timer_disarm(srv->loop, &c->write_timer);
	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->n_conns--;
	free(c->big_out);
	c->big_out = NULL;
	c->state = CONN_DEAD;
	if (was == CONN_QUEUED)
		sched_forget(srv->sched, c);
	/* a running job finishes first; the scheduler then queues the close */
	if (was != CONN_RUNNING)
		sched_submit_close(srv->sched, c);
}

static void
conn_free(void *p)
{
	free(p);
}

void
conn_release(struct conn *c)
{
	if (loop_defer(c->srv->loop, conn_free, c) < 0)
		log_warnx("conn %llu: leaked (out of memory)", (unsigned long long)c->id);
}
