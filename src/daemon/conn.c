/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conn.c: client connections.  Reads the frames of the connection's
 * protocol through its framer (framer.h), validates the TPM command inside
 * before anything else sees it, runs it as the connection's job on its TPM
 * instance, and writes the framed response back.  Every problem a client
 * causes is answered with a TPM response carrying the RM layer; the
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

#include <tss2/tss2_rc.h>

#include "../common/ccnames.h"
#include "../common/log.h"
#include "../common/util.h"
#include "caps.h"
#include "conn.h"
#include "instance.h"
#include "policy.h"
#include "sched.h"
#include "server.h"
#include "measure.h"
#include "service.h"
#include "supervise.h"

static void conn_on_io(struct loop_io *io, uint32_t events);
static void conn_update_events(struct conn *c);
static void conn_read(struct conn *c);
static void conn_job_done(struct job *j, int r);
static void conn_send_rc(struct conn *c, uint32_t rc);
static void conn_job_late(struct job *j);
static void conn_service_ready(struct conn *c);

/* "TPM2_GetRandom" for the command in c->cmd (for logs: names, never parameters) */
static const char *
conn_cc_name(const struct conn *c)
{
	static char buf[CC_LABEL_MAX];

	return cc_label(get_be32(c->cmd + 6), buf);
}

const char *
conn_state_name(const struct conn *c)
{
	switch (c->state) {
	case CONN_READ: return "read";
	case CONN_BUSY: return c->svc != NULL ? "service" : job_state_name(c->job.state);
	case CONN_WRITE: return "write";
	case CONN_DEAD: return "dead";
	}
	return "?";
}

/* ---- buffers: from the server's pool while in use ---- */

static uint8_t *
buf_get(struct server *srv)
{
	if (srv->n_buf_spare > 0)
		return srv->buf_spare[--srv->n_buf_spare];
	return malloc(CONN_BUF_SIZE);
}

static void
buf_put(struct server *srv, uint8_t **b)
{
	if (*b == NULL)
		return;
	if (srv->n_buf_spare < SRV_BUF_SPARE)
		srv->buf_spare[srv->n_buf_spare++] = *b;
	else
		free(*b);
	*b = NULL;
}

/* The output buffer, taken from the pool if need be; false: out of memory (c killed). */
static bool
conn_need_out(struct conn *c)
{
	if (c->out == NULL && (c->out = buf_get(c->srv)) == NULL) {
		conn_kill(c, "out of memory for its output");
		return false;
	}
	return true;
}

static uint8_t *
conn_rsp_buf(struct conn *c)
{
	return c->out + c->fr->rsp_head;
}

static void
conn_reset_input(struct conn *c)
{
	c->hdr_len = 0;
	c->hdr_want = c->fr->hdr_min;
	c->cmd_len = 0;
	c->cmd_want = 0;
	c->in_payload = false;
}

/* ---- admission: who it is, what it may do, whether there is room ---- */

static struct uid_count *
uid_count_find(struct server *srv, uid_t uid, bool create)
{
	struct uid_count *u;
	unsigned b = (unsigned)uid % SRV_UID_BUCKETS;

	LIST_FOREACH(u, &srv->uid_conns[b], entry)
		if (u->uid == uid)
			return u;
	if (!create || (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->uid = uid;
	LIST_INSERT_HEAD(&srv->uid_conns[b], u, entry);
	return u;
}

static unsigned
uid_conns(struct server *srv, uid_t uid)
{
	struct uid_count *u = uid_count_find(srv, uid, false);

	return u != NULL ? u->n : 0;
}

static void
uid_conns_put(struct server *srv, uid_t uid)
{
	struct uid_count *u = uid_count_find(srv, uid, false);

	if (u != NULL && --u->n == 0) {
		LIST_REMOVE(u, entry);
		free(u);
	}
}

/*
 * Whose share of the TPM its jobs draw from (job.h): its uid; a peer
 * without one (a TCP peer not on loopback) its host, so that all of one
 * host's connections are one user; how big a share and which class: its
 * profile's.
 */
static void
conn_set_share(struct conn *c)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the address without its port */
	const char *end = strrchr(c->peer.addr, ':');

	for (const char *p = c->peer.addr; end != NULL && p < end; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	c->job.owner_key = c->peer.uid_known ? JOB_KEY_UID(c->peer.uid) : JOB_KEY_HOST | (h >> 1);
	c->job.weight = c->profile != NULL ? c->profile->weight : 1;
	c->job.prio = c->profile != NULL ? (enum job_prio)c->profile->priority : JOB_PRIO_NORMAL;
}
_Static_assert((int)POLICY_PRIO_BULK == (int)JOB_PRIO_BULK &&
		       (int)POLICY_PRIO_SYSTEM == (int)JOB_PRIO_SYSTEM,
	       "a profile's priority is a job's");

static void linger_arm(struct server *srv);

static void
linger_expire(struct loop_timer *t)
{
	struct server *srv = t->data;
	struct linger_ring *lr = &srv->linger;
	uint64_t now = now_ns();

	while (lr->n > 0 && lr->until[lr->head] <= now) {
		(void)close(lr->fd[lr->head]);
		lr->head = (lr->head + 1) % SRV_LINGER_MAX;
		lr->n--;
	}
	linger_arm(srv);
}

static void
linger_arm(struct server *srv)
{
	struct linger_ring *lr = &srv->linger;
	uint64_t now = now_ns(), until;

	if (lr->n == 0)
		return;
	until = lr->until[lr->head];
	loop_timer_arm(srv->loop, &lr->timer, until > now ? until - now : 0, linger_expire, srv);
}

/* Keep fd open for a moment (closing the oldest one if the ring is full). */
static void
linger_add(struct server *srv, int fd)
{
	struct linger_ring *lr = &srv->linger;

	if (lr->n == SRV_LINGER_MAX) {
		(void)close(lr->fd[lr->head]);
		lr->head = (lr->head + 1) % SRV_LINGER_MAX;
		lr->n--;
	}
	lr->fd[(lr->head + lr->n) % SRV_LINGER_MAX] = fd;
	lr->until[(lr->head + lr->n) % SRV_LINGER_MAX] = now_ns() + SRV_LINGER_NS;
	lr->n++;
	if (!lr->timer.armed)
		linger_arm(srv);
}

void
conn_linger_flush(struct server *srv)
{
	struct linger_ring *lr = &srv->linger;

	loop_timer_disarm(srv->loop, &lr->timer);
	while (lr->n > 0) {
		(void)close(lr->fd[lr->head]);
		lr->head = (lr->head + 1) % SRV_LINGER_MAX;
		lr->n--;
	}
	while (srv->n_buf_spare > 0)
		free(srv->buf_spare[--srv->n_buf_spare]);
}

/*
 * No room for this peer: answer RETRY ("try again later", in TPM terms)
 * once, without allocating anything for it, and shut the socket for
 * writing.  The answer is sent before the client asks: its command goes
 * into a socket that is still open (no EPIPE), and its first receive reads
 * the answer, then the end.  The caller keeps the fd open for a moment
 * (linger_add; listen.c when out of descriptors).
 */
void
conn_refuse(struct server *srv, int fd, const struct framer *fr, uint32_t rc, const char *why)
{
	uint8_t out[FRAMER_WRAP_MAX + TPM_HDR_SIZE];
	size_t len = fr->wrap(out, wire_rc_response(out + fr->rsp_head, TPM_HDR_SIZE, rc));

	srv->st.conns_refused++;
	srv->st.broker_answers++;
	log_verbose("%s: connection refused (0x%08x): %s", fr->name, rc, why);
	(void)send(fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)shutdown(fd, SHUT_WR);
}

int
conn_new(struct server *srv, struct tpm_instance *inst, int fd, const struct framer *fr,
	 const char *listen, struct conn **ret)
{
	struct peer_id peer = {0};
	const struct profile *prof;
	struct uid_count *uc = NULL;
	struct rm_peer rp;
	struct conn *c;
	int r;

	*ret = NULL;
	if (fr->peer_creds)
		(void)peer_from_unix(fd, &peer);
	else
		(void)peer_from_tcp(fd, &peer);
	prof = policy_match(&srv->cfg.policy, &peer, listen);
	if (srv->n_conns >= srv->cfg.max_connections) {
		conn_refuse(srv, fd, fr, TB_RM_RC(TPM2_RC_RETRY), "over --max-connections");
		linger_add(srv, fd);
		return 0;
	}
	if (peer.uid_known && prof != NULL && prof->max_connections_per_user > 0 &&
	    uid_conns(srv, peer.uid) >= prof->max_connections_per_user) {
		conn_refuse(srv, fd, fr, TB_RM_RC(TPM2_RC_RETRY),
			    "over the profile's max-connections-per-user");
		linger_add(srv, fd);
		return 0;
	}
	if (inst == NULL && prof != NULL && strcmp(prof->instance, "shared") != 0) {
		/* a private profile may Clear its TPM: never fall back to the shared one */
		uint32_t rc = sup_route(srv, prof->instance, &peer, &inst);
		if (rc != 0) {
			conn_refuse(srv, fd, fr, rc, "no private TPM instance for it");
			linger_add(srv, fd);
			return 0;
		}
	}
	if (inst == NULL)
		inst = srv->inst[0]; /* the shared TPM; no profile: it may send nothing */
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	if (peer.uid_known && (uc = uid_count_find(srv, peer.uid, true)) == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->srv = srv;
	c->inst = inst;
	c->fr = fr;
	c->state = CONN_READ;
	c->peer = peer;
	c->profile = prof;
	snprintf(c->listen, sizeof(c->listen), "%s", listen != NULL ? listen : "");
	c->id = ++srv->next_conn_id;
	conn_reset_input(c);
	rp = (struct rm_peer){.uid = peer.uid_known ? peer.uid : (uid_t)-1,
			      .gid = peer.uid_known ? peer.gid : (gid_t)-1,
			      .pid = peer.pid,
			      .has_limits = true};
	snprintf(rp.cgroup, sizeof(rp.cgroup), "%s", peer.cgroup);
	rm_limits_from_profile(prof, &rp.limits);
	if ((r = rm_conn_new(inst->rm, &rp, &c->rmc)) < 0)
		goto fail;
	job_init(&c->job, JOB_COMMAND, conn_job_done, c);
	c->job.late = conn_job_late;
	c->job.rmc = c->rmc;
	c->job.owner_id = c->id;
	conn_set_share(c);
	if ((r = loop_io_add(srv->loop, &c->io, fd, EPOLLIN | EPOLLRDHUP, conn_on_io, c)) < 0) {
		struct rm_step step = {0};
		(void)rm_close(inst->rm, c->rmc, &step); /* owns nothing yet: RM_DONE */
		goto fail;
	}
	if (uc != NULL)
		uc->n++;
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->n_conns++;
	srv->st.conns_total++;
	inst->n_conns++;
	inst->conns_total++;
	if (log_get_level() >= LOG_LVL_VERBOSE) {
		char who[160];
		peer_describe(&c->peer, who, sizeof(who));
		log_verbose("conn %llu: open on %s by %s, profile %s, TPM %s",
			    (unsigned long long)c->id, c->listen[0] != '\0' ? c->listen : fr->name, who,
			    prof != NULL ? prof->name : "(none)", inst->name);
	}
	*ret = c;
	return 0;
fail:
	if (uc != NULL && uc->n == 0) {
		LIST_REMOVE(uc, entry);
		free(uc);
	}
	free(c);
	return r;
}

void
conn_rematch_all(struct server *srv)
{
	struct conn *c;

	struct rm_limits lim;

	for (size_t i = 0; i < srv->n_inst; i++)
		rm_set_reserved_sessions(srv->inst[i]->rm, rm_policy_reserved(&srv->cfg.policy));
	for (struct conn *next = TAILQ_FIRST(&srv->conns); (c = next) != NULL;) {
		next = TAILQ_NEXT(c, entry);
		c->profile = policy_match(&srv->cfg.policy, &c->peer, c->listen);
		if (c->profile != NULL && !(strcmp(c->profile->instance, "shared") == 0
						    ? c->inst == srv->inst[0]
						    : sup_fits(c->inst, c->profile->instance, c->peer.uid))) {
			/* bound to a TPM its new profile does not name: its rules are not for it */
			conn_kill(c, "its profile now names another TPM instance");
			continue;
		}
		rm_limits_from_profile(c->profile, &lim);
		rm_conn_set_limits(c->inst->rm, c->rmc, &lim);
		conn_set_share(c); /* a queued job keeps its old share until its next command */
	}
}

/* ---- output ---- */

static void
conn_write_timeout(struct loop_timer *t)
{
	conn_kill(t->data, "client does not read its response");
}

static void
conn_read_timeout(struct loop_timer *t)
{
	struct conn *c = t->data;

	c->srv->st.frames_bad++;
	conn_kill(c, "part of a frame, then nothing");
}

/* Arm the read timer while a frame is half in, in READ state; else disarm it. */
static void
conn_watch_partial(struct conn *c)
{
	bool partial = c->state == CONN_READ && (c->hdr_len > 0 || c->in_payload);

	if (partial && !c->read_timer.armed)
		loop_timer_arm(c->srv->loop, &c->read_timer,
			       (uint64_t)c->srv->cfg.read_timeout_ms * 1000000u, conn_read_timeout, c);
	else if (!partial && c->read_timer.armed)
		loop_timer_disarm(c->srv->loop, &c->read_timer);
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
	buf_put(c->srv, &c->out);
	if (c->deferred) {
		/* the answer to a bad frame that came while the command ran */
		c->deferred = false;
		c->state = CONN_READ;
		conn_send_rc(c, c->deferred_rc);
		return;
	}
	if (c->close_after_write) {
		conn_kill(c, "framing lost");
		return;
	}
	if (c->late) {
		/* answered at a timeout; the TPM still has the command: wait for it */
		c->state = CONN_BUSY;
		conn_update_events(c);
		return;
	}
	c->state = CONN_READ;
	if (!c->in_payload && c->hdr_len > 0)
		conn_read(c); /* a header arrived while we were busy */
	else
		conn_update_events(c);
}

/* Start writing out[0..len). */
static void
conn_start_write(struct conn *c, size_t len)
{
	c->out_len = len;
	c->out_off = 0;
	c->state = CONN_WRITE;
	conn_flush(c);
}

/* Frame the TPM response of rsp_len bytes that sits at conn_rsp_buf() and send it. */
static void
conn_send(struct conn *c, size_t rsp_len)
{
	conn_start_write(c, c->fr->wrap(c->out, rsp_len)); /* c->out holds the response */
}

/* Answer with a bare TPM response code, without the TPM. */
static void
conn_send_rc(struct conn *c, uint32_t rc)
{
	if (c->state == CONN_BUSY || c->state == CONN_WRITE) {
		/*
		 * A bad frame behind a command still in progress: an answer now
		 * would overtake that command's response.  Answer it after the
		 * response (then close, if framing is lost); read nothing more
		 * meanwhile.
		 */
		c->deferred = true;
		c->deferred_rc = rc;
		conn_update_events(c);
		return;
	}
	log_debug("conn %llu: answered by the broker: 0x%08x %s", (unsigned long long)c->id, rc,
		  Tss2_RC_Decode(rc));
	if (!conn_need_out(c))
		return;
	c->srv->st.broker_answers++;
	conn_send(c, wire_rc_response(conn_rsp_buf(c), TB_BUF_MAX, rc));
}

/* Raw bytes, no framing (mssim acks and handshake). */
static void
conn_send_raw(struct conn *c, const uint8_t *p, size_t len)
{
	if (!conn_need_out(c))
		return;
	memcpy(c->out, p, len);
	conn_start_write(c, len);
}

/* The TPM is slow: answer the client now; conn_job_done() follows when the TPM answers. */
static void
conn_job_late(struct job *j)
{
	struct conn *c = j->data;

	if (c->state != CONN_BUSY)
		return; /* dead (the close follows), or answered already */
	c->late = true;
	c->state = CONN_READ; /* so that the answer goes out now, not after the job */
	conn_send_rc(c, TB_RM_RC(TPM2_RC_CANCELED));
}

/* The scheduler is done with the connection's job: its command, or its close. */
static void
conn_job_done(struct job *j, int r)
{
	struct conn *c = j->data;

	if (j->kind == JOB_CLOSE) {
		if (r < 0)
			log_errno(LOG_LVL_WARN, -r, "conn %llu: releasing its TPM resources",
				  (unsigned long long)c->id);
		buf_put(c->srv, &c->cmd);
		buf_put(c->srv, &c->out);
		if (loop_defer(c->srv->loop, free, c) < 0)
			log_warnx("conn %llu: leaked (out of memory)", (unsigned long long)c->id);
		return;
	}
	if (c->late && c->state != CONN_DEAD) {
		/* its answer went out at the timeout: this one is nobody's */
		c->late = false;
		c->commands++;
		buf_put(c->srv, &c->cmd);
		if (c->state == CONN_BUSY) {
			c->state = CONN_READ;
			if (!c->in_payload && c->hdr_len > 0)
				conn_read(c);
			else
				conn_update_events(c);
		}
		return;
	}
	if (c->state == CONN_DEAD) {
		/* the client left while its command ran: now release what it owned */
		j->kind = JOB_CLOSE;
		j->rsp = NULL;
		sched_submit_first(c->inst->sched, j);
		return;
	}
	if (r < 0) {
		log_errno(LOG_LVL_WARN, -r, "conn %llu: resource manager", (unsigned long long)c->id);
		j->rsp_len = wire_rc_response(j->rsp, j->rsp_cap, TB_RM_RC(TPM2_RC_FAILURE));
	}
	if (!j->reached_tpm)
		c->srv->st.broker_answers++;
	if (log_get_level() >= LOG_LVL_DEBUG) {
		uint32_t rc = wire_response_rc(j->rsp, j->rsp_len);
		log_debug("conn %llu: %s -> 0x%08x %s%s", (unsigned long long)c->id,
			  conn_cc_name(c), rc, Tss2_RC_Decode(rc),
			  j->reached_tpm ? "" : " (answered by the broker)");
	}
	c->commands++;
	c->cancelled = false;
	buf_put(c->srv, &c->cmd); /* the command is over */
	conn_send(c, j->rsp_len);
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
	/* while busy, a peer may still send CANCEL: read one header */
	else if (c->fr->busy_reads && c->hdr_len < c->hdr_want && !c->in_payload &&
		 !c->deferred && !c->close_after_write && !c->late)
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
	size_t before = *len;
	int r = read_some(c->io.fd, buf, len, want);

	if (*len > before && c->fr->tcp) {
		/*
		 * tpm2-tss's mssim TCTI writes the frame header and the command
		 * separately; with Nagle on its side, our delayed ACK would
		 * stall every command ~40 ms.  Ack at once.
		 */
		int one = 1;
		(void)setsockopt(c->io.fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	}
	return r;
}

/* A profile refused cc: log it once per connection and command. */
static void
conn_denied(struct conn *c, uint32_t cc, uint8_t locality, uint32_t rc)
{
	char who[160], label[CC_LABEL_MAX];

	c->srv->st.policy_denied++;
	for (unsigned i = 0; i < c->n_denied; i++)
		if (c->denied[i] == cc)
			return;
	if (c->n_denied < ARRAY_SIZE(c->denied))
		c->denied[c->n_denied++] = cc;
	peer_describe(&c->peer, who, sizeof(who));
	log_info("conn %llu: %s (0x%x) at locality %u refused (0x%08x): profile %s, %s",
		 (unsigned long long)c->id, cc_label(cc, label),
		 cc, locality, rc, c->profile != NULL ? c->profile->name : "(none)", who);
}

static void
conn_command_ready(struct conn *c, uint8_t locality)
{
	struct tpm_hdr h;
	uint32_t rc;

	rc = wire_check_command(c->cmd, c->cmd_len, c->inst->caps.max_command, &h);
	conn_reset_input(c);
	if (rc != 0) {
		c->srv->st.frames_bad++;
		buf_put(c->srv, &c->cmd);
		conn_send_rc(c, TB_RM_RC(rc));
		return;
	}
	rc = policy_check(c->profile, c->cmd, h.size, locality,
			  caps_find(&c->inst->caps, h.code));
	if (rc != 0) {
		conn_denied(c, h.code, locality, rc);
		buf_put(c->srv, &c->cmd);
		conn_send_rc(c, rc);
		return;
	}
	/* an admin's raw extend of a PCR the log owns: the log cannot vouch for it any more */
	measure_raw_command(c->inst->measure, c->cmd, h.size, &c->peer, c->id);
	if (!conn_need_out(c))
		return;
	log_debug("conn %llu: %s (0x%x), %u bytes, locality %u", (unsigned long long)c->id,
		  conn_cc_name(c), h.code, h.size, locality);
	c->state = CONN_BUSY;
	c->job.kind = JOB_COMMAND;
	c->job.cmd = c->cmd;
	c->job.cmd_len = h.size;
	c->job.rsp = conn_rsp_buf(c);
	c->job.rsp_cap = TB_BUF_MAX;
	c->job.locality = locality;
	sched_submit(c->inst->sched, &c->job);
	conn_update_events(c);
}

/*
 * A reply too big for c->out (status, service answers): room for a payload
 * of n bytes in c->big_out, where the framer's header and trailer fit
 * around it; NULL when memory is short.  conn_start_write() sends it
 * (conn_flush writes big_out when there is one).
 */
static uint8_t *
conn_big_payload(struct conn *c, size_t n)
{
	c->big_out = malloc(c->fr->rsp_head + n + FRAMER_WRAP_MAX);
	return c->big_out != NULL ? c->big_out + c->fr->rsp_head : NULL;
}

static void
conn_status(struct conn *c, int fmt)
{
	struct server *srv = c->srv;
	char *text = NULL;
	size_t len = 0;
	uint8_t *p;

	if (!c->fr->peer_creds || !c->peer.uid_known ||
	    (c->peer.uid != 0 && c->peer.uid != srv->uid) ||
	    c->fr->wrap_status == NULL || srv->render_status == NULL) {
		srv->st.status_denied++;
		conn_send_rc(c, TB_RC_DENIED);
		return;
	}
	if (srv->render_status(srv, fmt, &text, &len) < 0 || len > TB_PROTO_MAX_STATUS) {
		free(text);
		conn_send_rc(c, TB_RM_RC(TPM2_RC_MEMORY));
		return;
	}
	if ((p = conn_big_payload(c, len)) == NULL) {
		free(text);
		conn_send_rc(c, TB_RM_RC(TPM2_RC_MEMORY));
		return;
	}
	memcpy(p, text, len);
	free(text);
	conn_start_write(c, c->fr->wrap_status(c->big_out, len));
}

/* ---- service requests (service.h) ---- */

/* The service's answer: a frame of the request's type, rc then body. */
static void
conn_service_reply(void *owner, struct svc_req *r, uint32_t rc, const uint8_t *body, size_t len)
{
	struct conn *c = owner;
	size_t n = 4 + (rc == 0 || body != NULL ? len : 0);
	uint8_t *p;

	c->svc = NULL;
	c->svc_dispatched = false;
	if (c->state == CONN_DEAD)
		return;
	if (rc != 0)
		c->srv->st.broker_answers++;
	if (n > TB_PROTO_MAX_REPLY) {
		log_warnx("conn %llu: %s reply of %zu bytes is too long",
			  (unsigned long long)c->id, svc_name(r->type), n);
		rc = TB_RM_RC(TPM2_RC_SIZE);
		n = 4;
	}
	if ((p = conn_big_payload(c, n)) == NULL) {
		conn_kill(c, "out of memory for a service reply");
		return;
	}
	put_be32(p, rc);
	if (n > 4)
		memcpy(p + 4, body, n - 4);
	log_debug("conn %llu: %s -> 0x%08x, %zu bytes", (unsigned long long)c->id,
		  svc_name(r->type), rc, n);
	conn_start_write(c, c->fr->wrap_service(c->big_out, n, r->type));
}

/* A service request's header: read its payload next. */
static void
conn_service_start(struct conn *c, const struct frame *f)
{
	if (c->fr->wrap_service == NULL) {
		conn_reset_input(c);
		c->srv->st.frames_bad++;
		c->close_after_write = true;
		conn_send_rc(c, TB_RM_RC(TPM2_RC_BAD_TAG));
		return;
	}
	if ((c->svc = svc_req_new((uint8_t)f->signal, f->flags, f->want)) == NULL) {
		conn_kill(c, "out of memory for a service request");
		return;
	}
	c->in_payload = true;
	if (f->want == 0)
		conn_service_ready(c);
}

/* A service request is in: hand it to its service. */
static void
conn_service_ready(struct conn *c)
{
	struct svc_req *r = c->svc;

	conn_reset_input(c);
	r->peer = c->peer;
	r->profile = c->profile;
	snprintf(r->profile_name, sizeof(r->profile_name), "%s",
		 c->profile != NULL ? c->profile->name : "");
	r->inst = c->inst;
	r->conn_id = c->id;
	r->owner = c;
	r->reply = conn_service_reply;
	c->svc_dispatched = true;
	c->state = CONN_BUSY;
	conn_update_events(c);
	svc_dispatch(c->srv, r); /* may answer at once */
}

/* A CANCEL frame arrived (any state). */
static void
conn_cancel(struct conn *c)
{
	conn_reset_input(c);
	if (c->svc != NULL) {
		/* a service request is not cancelled: its answer follows */
	} else if (c->state == CONN_BUSY && c->job.state != JOB_RUNNING) {
		if (sched_cancel(c->inst->sched, &c->job)) {
			c->state = CONN_READ;
			conn_send_rc(c, TB_RM_RC(TPM2_RC_CANCELED));
		}
	} else if (c->state == CONN_BUSY && !c->cancelled) {
		c->cancelled = true;
		(void)sched_cancel(c->inst->sched, &c->job);
	}
	if (c->state != CONN_DEAD)
		conn_update_events(c);
}

/* A whole header is in c->hdr: act on what the framer makes of it. */
static void
conn_header(struct conn *c)
{
	struct frame f;

	c->fr->parse(c->hdr, c->hdr_len, c->state != CONN_READ, &f);
	if (f.switch_to != NULL && f.switch_to != c->fr) {
		log_debug("conn %llu: speaks %s", (unsigned long long)c->id, f.switch_to->name);
		c->fr = f.switch_to;
	}
	switch (f.kind) {
	case FRAME_WAIT:
		return;
	case FRAME_MORE:
		c->hdr_want = MIN(f.want, sizeof(c->hdr));
		return;
	case FRAME_COMMAND:
		if (c->cmd == NULL && (c->cmd = buf_get(c->srv)) == NULL) {
			conn_kill(c, "out of memory for its command");
			return;
		}
		c->in_payload = true;
		c->cmd_want = f.want;
		c->cmd_len = 0;
		if (f.hdr_in_cmd) {
			/* the header is the command's first bytes (want >= hdr_len) */
			memcpy(c->cmd, c->hdr, c->hdr_len);
			c->cmd_len = c->hdr_len;
		}
		if (f.want == 0)
			conn_command_ready(c, f.locality); /* empty command: size error */
		else
			c->job.locality = f.locality;
		return;
	case FRAME_SERVICE:
		conn_service_start(c, &f);
		return;
	case FRAME_CANCEL:
		conn_cancel(c);
		return;
	case FRAME_STATUS:
		conn_reset_input(c);
		conn_status(c, f.status_fmt);
		return;
	case FRAME_REPLY:
		conn_reset_input(c);
		log_debug("conn %llu: %s signal %u answered", (unsigned long long)c->id,
			  c->fr->name, f.signal);
		conn_send_raw(c, f.raw, f.raw_len);
		return;
	case FRAME_END:
		conn_reset_input(c);
		conn_kill(c, "session end");
		return;
	case FRAME_ERROR:
		conn_reset_input(c);
		c->srv->st.frames_bad++;
		if (f.close)
			c->close_after_write = true;
		conn_send_rc(c, f.rc);
		return;
	}
}

static void
conn_read_frames(struct conn *c)
{
	int r = 0;

	while (c->state != CONN_DEAD && !c->close_after_write) {
		if (c->in_payload && c->svc != NULL) {
			r = conn_fill(c, c->svc->data, &c->svc->len, c->svc->want);
			if (r <= 0)
				break;
			conn_service_ready(c);
			if (c->state != CONN_READ)
				return;
			continue;
		}
		if (c->in_payload) {
			r = conn_fill(c, c->cmd, &c->cmd_len, c->cmd_want);
			if (r <= 0)
				break;
			conn_command_ready(c, c->job.locality);
			/*
			 * Busy now: don't try another read (EAGAIN almost always);
			 * EPOLLIN stays armed for a CANCEL and will wake us.
			 */
			if (c->state != CONN_READ)
				return;
			continue;
		}
		if (c->hdr_len < c->hdr_want) {
			if (c->state != CONN_READ && !c->fr->busy_reads)
				return;
			r = conn_fill(c, c->hdr, &c->hdr_len, c->hdr_want);
			if (r <= 0)
				break;
		}
		conn_header(c);
		if (c->state != CONN_READ && c->state != CONN_DEAD && c->hdr_len == c->hdr_want &&
		    !c->in_payload) {
			/* a header that waits for the command in progress */
			conn_update_events(c);
			return;
		}
	}
	if (r < 0)
		conn_kill(c, r == -EPIPE ? "end of file" : strerror(-r));
	else if (c->state != CONN_DEAD)
		conn_update_events(c);
}

static void
conn_read(struct conn *c)
{
	conn_read_frames(c);
	if (c->state != CONN_DEAD)
		conn_watch_partial(c);
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

static void
conn_count_handle(const struct rm_handle_info *hi, void *ctx)
{
	unsigned *held = ctx;

	held[hi->session ? 1 : 0]++;
}

void
conn_kill(struct conn *c, const char *why)
{
	struct server *srv = c->srv;
	enum conn_state was = c->state;

	if (was == CONN_DEAD)
		return;
	if (log_get_level() >= LOG_LVL_VERBOSE) {
		unsigned held[2] = {0, 0};
		rm_conn_handles(c->inst->rm, c->rmc, conn_count_handle, held);
		log_verbose("conn %llu: closed (%s) after %llu commands; releasing what it held: "
			    "objects %u, sessions %u", (unsigned long long)c->id, why,
			    (unsigned long long)c->commands, held[0], held[1]);
	}
	loop_io_del(srv->loop, &c->io);
	(void)close(c->io.fd);
	c->io.fd = -1;
	loop_timer_disarm(srv->loop, &c->write_timer);
	loop_timer_disarm(srv->loop, &c->read_timer);
	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->n_conns--;
	c->inst->n_conns--;
	if (c->peer.uid_known)
		uid_conns_put(srv, c->peer.uid);
	free(c->big_out);
	c->big_out = NULL;
	if (c->svc != NULL) {
		if (c->svc_dispatched)
			c->svc->owner = NULL; /* the service's now: it frees it at its answer */
		else
			svc_req_free(c->svc);
		c->svc = NULL;
	}
	c->state = CONN_DEAD;
	if (c->job.state == JOB_RUNNING) {
		/* a running command (answered late or not) finishes first; its done callback
		 * queues the close */
		c->job.orphaned = true;
		return;
	}
	if (c->job.state != JOB_IDLE)
		sched_forget(c->inst->sched, &c->job);
	c->job.kind = JOB_CLOSE;
	c->job.rsp = NULL;
	sched_submit_first(c->inst->sched, &c->job);
}
