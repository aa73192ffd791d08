/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * measure.c: log-first measurement, the pipeline (measure.h): requests in,
 * batches to the writer thread, extends in log order, answers out.
 * Opening and recovering the log at start is mrecover.c's.
 *
 * The loop drives everything from m_kick(), which is called whenever
 * something moved (a request came, the writer finished, a job ended):
 *   1. a TPM reset seen by the RM owes a new epoch (clock_owed);
 *   2. the head of the extending queue is extended (a RTMR at once, a PCR
 *      as the daemon's job; one job at a time, so extends keep log order);
 *   3. owed sections: once the pipeline is empty, ReadClock, then each
 *      owed register's value, then SECTION records at the head of incoming;
 *   4. with no batch at the writer, everything incoming becomes the next
 *      batch (group commit).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_tpm2_types.h>

#include "../common/log.h"
#include "../common/mreq.h"
#include "../common/proto.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "instance.h"
#include "measure_int.h"
#include "policy.h"
#include "rm.h"
#include "sched.h"
#include "service.h"

static void m_kick(struct measure *m);

/* ---- crash points (tests only: meson -Dcrash_points) ---- */

static void
m_crash_point(struct measure *m, enum mcrash at)
{
#ifdef TB_CRASH_POINTS
	if (m->crash_at == at && m->crash_n > 0 && --m->crash_n == 0) {
		log_warnx("measure: crash point %d reached: killing the daemon (test build)",
			  (int)at);
		(void)kill(getpid(), SIGKILL);
	}
#else
	(void)m;
	(void)at;
#endif
}

static void
m_crash_parse(struct measure *m)
{
#ifdef TB_CRASH_POINTS
	static const char *const names[] = {"", "append", "sync", "extend"};
	const char *v = getenv("TPMBROKERD_CRASH_AT");
	size_t n;

	if (v == NULL || v[0] == '\0')
		return;
	for (size_t i = 1; i < ARRAY_SIZE(names); i++) {
		n = strlen(names[i]);
		if (strncmp(v, names[i], n) == 0 && (v[n] == '\0' || v[n] == ':')) {
			m->crash_at = (enum mcrash)i;
			m->crash_n = v[n] == ':' ? (unsigned)strtoul(v + n + 1, NULL, 10) : 1;
			log_warnx("measure: TPMBROKERD_CRASH_AT=%s: this daemon kills itself there",
				  v);
			return;
		}
	}
	log_warnx("measure: TPMBROKERD_CRASH_AT=%s: not append, sync or extend; ignored", v);
#else
	(void)m;
#endif
}

/* ---- small things ---- */

const char *
measure_reg_name(const struct mreg *r)
{
	static char buf[32]; /* the loop's thread only */

	return mreg_label(r, buf, sizeof(buf));
}

void
measure_set_inconsistent(struct measure *m, struct mreg *r, const char *fmt, ...)
{
	va_list ap;

	(void)m;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	r->inconsistent = true;
	log_msg(LOG_LVL_ERR,
		"measure: %s is INCONSISTENT with its log: %s; measurements to it are refused "
		"(0x%08x) until an admin starts a new section (tpmbroker measure --reset-section)",
		measure_reg_name(r), r->why, MREQ_RC_INCONSISTENT);
}

int
measure_encode(struct measure *m, const struct mlog_rec *r)
{
	size_t need = mlog_rec_size(r), len = 0;
	int e;

	if (need == 0)
		return -EINVAL;
	if (m->wlen + need > m->wcap) {
		size_t cap = MAX(m->wcap * 2, m->wlen + need + 65536);
		uint8_t *nb = realloc(m->wbuf, cap);

		if (nb == NULL)
			return -ENOMEM;
		m->wbuf = nb;
		m->wcap = cap;
	}
	if ((e = mlog_rec_encode(r, m->wbuf + m->wlen, m->wcap - m->wlen, &len)) < 0)
		return e;
	m->wlen += len;
	return 0;
}

static uint32_t
m_errno_rc(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == -EFBIG ? MREQ_RC_DISK_FULL : MREQ_RC_IO;
}

/* The end of a record's way: answer its client (if any) and free it. */
static void
m_finish(struct measure *m, struct mpend *p, uint32_t rc)
{
	if (p->req != NULL) {
		struct mreq_reply rep = {.seq = p->seq, .reset_count = m->reset_count,
					 .restart_count = m->restart_count};
		uint8_t body[MREQ_REPLY_SIZE];

		if (rc == 0) {
			mreq_reply_put(&rep, body);
			svc_reply(p->req, 0, body, sizeof(body));
		} else {
			svc_reply(p->req, rc, NULL, 0);
		}
	}
	if (rc != 0)
		m->st.refused++;
	m->n_pending--;
	free(p);
}

/* ---- the writer thread ---- */

/* On the writer thread: append the batch under the exclusive lock, then fdatasync. */
static void
m_write_run(void *arg)
{
	struct measure *m = arg;
	size_t done = 0;
	int r = 0;

	while (flock(m->fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			m->wresult = -errno;
			return;
		}
	while (done < m->wlen) {
		ssize_t n = pwrite(m->fd, m->wbuf + done, m->wlen - done, m->woff + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (r == 0)
		m_crash_point(m, MCRASH_APPEND);
	if (r == 0 && fdatasync(m->fd) < 0)
		r = -errno;
	if (r < 0) {
		/* the log must end where it ended: nothing of a refused batch stays */
		if (ftruncate(m->fd, m->woff) < 0 || fdatasync(m->fd) < 0)
			log_errno(LOG_LVL_WARN, errno, "measure: %s: cutting a failed batch", m->path);
	}
	(void)flock(m->fd, LOCK_UN);
	m->wresult = r;
}

/* The batch is durable (or refused): its records go on to their extends. */
static void
m_write_done(struct measure *m)
{
	struct mpend *p;
	unsigned n = 0;

	m->writing_now = false;
	if (m->wresult == 0) {
		m->end += (off_t)m->wlen;
		m->st.fsyncs++;
		TAILQ_FOREACH(p, &m->writing, entry)
			n++;
		m->st.records += n;
		m->st.written += n;
		m->st.last_seq = m->next_seq - 1;
		m->st.batch_max = MAX(m->st.batch_max, n);
		m_crash_point(m, MCRASH_SYNC);
		while ((p = TAILQ_FIRST(&m->writing)) != NULL) {
			TAILQ_REMOVE(&m->writing, p, entry);
			TAILQ_INSERT_TAIL(&m->extending, p, entry);
		}
		return;
	}
	log_errno(LOG_LVL_ERR, -m->wresult, "measure: %s: a batch could not be written; its "
		  "events are refused, their registers not extended", m->path);
	while ((p = TAILQ_FIRST(&m->writing)) != NULL) {
		TAILQ_REMOVE(&m->writing, p, entry);
		m->next_seq--; /* none of them is in the log */
		m->st.refused_disk++;
		if (p->kind == MLOG_SECTION) {
			/*
			 * Still owed, but tried again only with the register's next
			 * event: a full disk must not spin the pipeline.
			 */
			size_t i = (size_t)(p->reg - m->reg);

			m->sect_owed[i] = true;
			m->sect_read[i] = false;
			m->sect_wait[i] = true;
		}
		m_finish(m, p, m_errno_rc(m->wresult));
	}
}

static void
m_on_writer(struct loop_io *io, uint32_t events)
{
	struct measure *m = io->data;

	(void)events;
	if (be_worker_collect(&m->w) != 1)
		return;
	m_write_done(m);
	m_kick(m);
}

/* Everything incoming (up to a batch's bytes) to the writer: one append, one fdatasync. */
static void
m_batch(struct measure *m)
{
	struct timespec ts;
	struct mpend *p;
	int e;

	if (m->writing_now || TAILQ_EMPTY(&m->incoming) || be_worker_claim(&m->w) < 0)
		return;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	m->wlen = 0;
	while ((p = TAILQ_FIRST(&m->incoming)) != NULL) {
		struct mlog_rec r = {
			.seq = m->next_seq,
			.reset_count = m->reset_count,
			.restart_count = m->restart_count,
			.time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
			.kind = p->kind,
			.reg_type = p->reg->ops->type,
			.reg = p->reg->index,
			.event_type = p->event_type,
			.uid = p->uid,
			.pid = p->pid,
			.n_dig = p->n_dig,
			.stream = p->stream,
			.stream_len = strlen(p->stream),
			.desc = p->desc,
			.desc_len = p->desc_len,
			.data = p->data,
			.data_len = p->data_len,
		};
		size_t before = m->wlen;

		if (m->wlen > 0 && m->wlen + mlog_rec_size(&r) > MEASURE_BATCH_MAX)
			break;
		memcpy(r.dig, p->dig, sizeof(r.dig));
		TAILQ_REMOVE(&m->incoming, p, entry);
		if ((e = measure_encode(m, &r)) < 0) {
			m->wlen = before;
			log_errno(LOG_LVL_ERR, -e, "measure: encoding a record");
			m_finish(m, p, MREQ_RC_IO);
			continue;
		}
		p->seq = m->next_seq++;
		TAILQ_INSERT_TAIL(&m->writing, p, entry);
	}
	if (m->wlen == 0)
		return;
	m->woff = m->end;
	m->wresult = 0;
	m->writing_now = true;
	be_worker_queue(&m->w);
}

/* ---- the service's TPM job ---- */

static void m_job_done(struct job *j, int r);

static void
m_job_submit(struct measure *m, enum mjob kind, size_t len)
{
	job_init(&m->job, JOB_INTERNAL, m_job_done, m);
	m->job.cmd = m->cmd;
	m->job.cmd_len = len;
	m->job.rsp = m->rsp;
	m->job.rsp_cap = sizeof(m->rsp);
	m->job_kind = kind;
	sched_submit_first(m->ti->sched, &m->job);
}

/* The head of the extending queue: its extend is over (rc 0) or failed. */
static void
m_extended(struct measure *m, uint32_t rc, int err)
{
	struct mpend *p = TAILQ_FIRST(&m->extending);

	TAILQ_REMOVE(&m->extending, p, entry);
	if (rc != 0 || err < 0) {
		measure_set_inconsistent(m, p->reg,
					 "the extend of record %llu failed (%s 0x%08x): the log is "
					 "ahead of the register; a restart rolls it forward",
					 (unsigned long long)p->seq, err < 0 ? strerror(-err) : "TPM",
					 rc);
		m_finish(m, p, rc != 0 ? rc : MREQ_RC_IO);
		return;
	}
	m_crash_point(m, MCRASH_EXTEND);
	p->reg->events++;
	m->st.events++;
	m_finish(m, p, 0);
}

/* Extend what is durable, in log order: RTMRs at once, a PCR as one job. */
static void
m_extend_next(struct measure *m)
{
	struct mpend *p;

	while (m->job_kind == MJ_NONE && (p = TAILQ_FIRST(&m->extending)) != NULL) {
		size_t len;

		if (p->kind == MLOG_SECTION) {
			size_t i = (size_t)(p->reg - m->reg);

			TAILQ_REMOVE(&m->extending, p, entry);
			if (p->reg->inconsistent)
				log_warnx("measure: %s: new section (record %llu): consistent again",
					  measure_reg_name(p->reg), (unsigned long long)p->seq);
			p->reg->inconsistent = false;
			p->reg->why[0] = '\0';
			m->st.sections++;
			(void)i;
			m_finish(m, p, 0);
			continue;
		}
		if (p->reg->ops->extend != NULL) {
			int e = p->reg->ops->extend(p->reg, p->dig, p->n_dig);

			m_extended(m, 0, e);
			continue;
		}
		len = p->reg->ops->extend_cmd(p->reg, p->dig, p->n_dig, m->cmd, sizeof(m->cmd));
		if (len == 0) {
			m_extended(m, 0, -EINVAL);
			continue;
		}
		m_job_submit(m, MJ_EXTEND, len);
	}
}

/* A new epoch, or an admin's reset: are sections owed? */
static bool
m_sections_owed(const struct measure *m)
{
	if (m->clock_owed)
		return true;
	for (size_t i = 0; i < m->n_reg; i++)
		if (m->sect_owed[i] && !m->sect_wait[i])
			return true;
	return false;
}

/* The owed sections' bases are read: SECTION records go first into the next batch. */
static void
m_sections_queue(struct measure *m)
{
	struct mpend_q q = TAILQ_HEAD_INITIALIZER(q);
	struct mpend *p;

	for (size_t i = 0; i < m->n_reg; i++) {
		struct mreg *r = &m->reg[i];

		if (!m->sect_owed[i] || m->sect_wait[i])
			continue;
		m->sect_owed[i] = m->sect_read[i] = false;
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			measure_set_inconsistent(m, r, "no memory for a new section");
			if (m->sect_req[i] != NULL)
				svc_reply(m->sect_req[i], MREQ_RC_IO, NULL, 0);
			m->sect_req[i] = NULL;
			continue;
		}
		p->req = m->sect_req[i];
		m->sect_req[i] = NULL;
		p->reg = r;
		p->kind = MLOG_SECTION;
		p->event_type = 0x03; /* EV_NO_ACTION */
		p->n_dig = r->n_algs;
		memcpy(p->dig, m->sect_base[i], sizeof(p->dig));
		snprintf(p->note, sizeof(p->note), "%s", m->sect_note[i]);
		p->desc = p->note;
		p->desc_len = strlen(p->note);
		p->uid = (uint32_t)-1;
		m->n_pending++;
		TAILQ_INSERT_TAIL(&q, p, entry);
	}
	while ((p = TAILQ_LAST(&q, mpend_q)) != NULL) {
		TAILQ_REMOVE(&q, p, entry);
		TAILQ_INSERT_HEAD(&m->incoming, p, entry);
	}
}

/* Read the next owed base; false when a job was started (wait for it). */
static bool
m_sections_read(struct measure *m)
{
	for (size_t i = 0; i < m->n_reg; i++) {
		struct mreg *r = &m->reg[i];
		size_t len;
		int e;

		if (!m->sect_owed[i] || m->sect_read[i] || m->sect_wait[i])
			continue;
		if (r->ops->read != NULL) {
			if ((e = r->ops->read(r, m->sect_base[i])) < 0) {
				log_errno(LOG_LVL_ERR, -e, "measure: %s: reading its value",
					  measure_reg_name(r));
				measure_set_inconsistent(m, r, "its value could not be read "
							       "for a new section");
				m->sect_owed[i] = false;
				if (m->sect_req[i] != NULL)
					svc_reply(m->sect_req[i], MREQ_RC_IO, NULL, 0);
				m->sect_req[i] = NULL;
				continue;
			}
			m->sect_read[i] = true;
			continue;
		}
		len = r->ops->read_cmd(r, m->cmd, sizeof(m->cmd));
		m->job_reg = i;
		m_job_submit(m, MJ_READ, len);
		return false;
	}
	return true;
}

/* Owed sections, once nothing else is on its way: the epoch, the bases, the records. */
static void
m_sections(struct measure *m)
{
	if (!m_sections_owed(m) || m->job_kind != MJ_NONE || m->writing_now ||
	    !TAILQ_EMPTY(&m->extending))
		return;
	if (m->clock_owed) {
		m_job_submit(m, MJ_CLOCK, mreg_read_clock_cmd(m->cmd, sizeof(m->cmd)));
		return;
	}
	if (m_sections_read(m))
		m_sections_queue(m);
}

/* The TPM's new epoch is known: every PCR starts a new section. */
static void
m_new_epoch(struct measure *m, uint32_t reset_count, uint32_t restart_count)
{
	if (reset_count == m->reset_count && restart_count == m->restart_count) {
		log_info("measure: the TPM came back in the same epoch (reset %u, restart %u)",
			 reset_count, restart_count);
		return;
	}
	log_warnx("measure: the TPM was reset: epoch %u/%u -> %u/%u; every PCR starts a new "
		  "section", m->reset_count, m->restart_count, reset_count, restart_count);
	m->reset_count = m->st.reset_count = reset_count;
	m->restart_count = m->st.restart_count = restart_count;
	for (size_t i = 0; i < m->n_reg; i++) {
		/* a RTMR does not reset with the TPM: its section goes on */
		if (m->reg[i].ops->type != MLOG_REG_PCR)
			continue;
		m->sect_owed[i] = true;
		m->sect_read[i] = false;
		snprintf(m->sect_note[i], sizeof(m->sect_note[i]),
			 "TPM reset: epoch %u/%u, base read from the TPM", reset_count,
			 restart_count);
	}
}

static void
m_job_done(struct job *j, int r)
{
	struct measure *m = j->data;
	enum mjob kind = m->job_kind;
	uint32_t rc = r < 0 ? 0 : wire_response_rc(m->rsp, j->rsp_len);
	uint32_t reset_count, restart_count;

	m->job_kind = MJ_NONE;
	switch (kind) {
	case MJ_EXTEND:
		m_extended(m, rc, r);
		break;
	case MJ_CLOCK:
		if (r < 0 || mreg_read_clock_parse(m->rsp, j->rsp_len, &reset_count,
						   &restart_count) < 0) {
			/* tried again at the next kick: events wait meanwhile */
			log_warnx("measure: ReadClock after a TPM reset failed (0x%08x)", rc);
			break;
		}
		m->clock_owed = false;
		m_new_epoch(m, reset_count, restart_count);
		break;
	case MJ_READ: {
		struct mreg *reg = &m->reg[m->job_reg];

		if (r < 0 || reg->ops->read_parse(reg, m->rsp, j->rsp_len,
						  m->sect_base[m->job_reg]) < 0) {
			measure_set_inconsistent(m, reg, "PCR_Read for a new section failed "
							 "(0x%08x)", rc);
			m->sect_owed[m->job_reg] = false;
			if (m->sect_req[m->job_reg] != NULL)
				svc_reply(m->sect_req[m->job_reg], rc != 0 ? rc : MREQ_RC_IO, NULL,
					  0);
			m->sect_req[m->job_reg] = NULL;
			break;
		}
		m->sect_read[m->job_reg] = true;
		break;
	}
	case MJ_NONE:
	default:
		break;
	}
	m_kick(m);
}

/* A TPM reset since the epoch was read owes a new one. */
static void
m_check_reset(struct measure *m)
{
	uint64_t g = rm_reset_gen(m->ti->rm);

	if (g != m->reset_gen) {
		m->reset_gen = g;
		m->clock_owed = true;
	}
}

static void
m_kick(struct measure *m)
{
	if (!m->available)
		return;
	if (m->kicking) {
		m->kick_again = true;
		return;
	}
	m->kicking = true;
	do {
		m->kick_again = false;
		m_check_reset(m);
		m_extend_next(m);
		m_sections(m);
		if (!m_sections_owed(m))
			m_batch(m);
	} while (m->kick_again);
	m->kicking = false;
}

/* ---- the service ---- */

static struct mreg *
m_find(struct measure *m, uint8_t type, uint32_t index)
{
	for (size_t i = 0; i < m->n_reg; i++)
		if (m->reg[i].ops->type == type && m->reg[i].index == index)
			return &m->reg[i];
	return NULL;
}

bool
measure_manages_pcr(const struct measure *m, uint32_t index)
{
	if (m == NULL)
		return false;
	for (size_t i = 0; i < m->n_reg; i++)
		if (m->reg[i].ops->type == MLOG_REG_PCR && m->reg[i].index == index)
			return true;
	return false;
}

/* The writer's stream: the name it asked for, else its cgroup, else its uid. */
static void
m_stream(const struct svc_req *r, const struct mreq *q, char *out, size_t cap)
{
	if ((q->flags & MREQ_F_STREAM) != 0)
		snprintf(out, cap, "%.*s", (int)q->stream_len, q->stream);
	else if (r->peer.cgroup[0] != '\0')
		snprintf(out, cap, "%s", r->peer.cgroup);
	else if (r->peer.uid_known)
		snprintf(out, cap, "uid:%u", (unsigned)r->peer.uid);
	else
		snprintf(out, cap, "unknown");
}

/* An admin's new section for a register that does not match its log. */
static void
m_reset_section(struct measure *m, struct svc_req *r, struct mreg *reg)
{
	size_t i = (size_t)(reg - m->reg);

	if (m->sect_req[i] != NULL) {
		svc_reply(r, TB_RM_RC(TPM2_RC_RETRY), NULL, 0);
		return;
	}
	log_warnx("measure: %s: a new section at the request of uid %d (profile %s)%s%s",
		  measure_reg_name(reg), r->peer.uid_known ? (int)r->peer.uid : -1,
		  r->profile_name, reg->inconsistent ? "; it was inconsistent: " : "",
		  reg->inconsistent ? reg->why : "");
	snprintf(m->sect_note[i], sizeof(m->sect_note[i]),
		 "admin reset (uid %d): base read from the register%s%.120s",
		 r->peer.uid_known ? (int)r->peer.uid : -1,
		 reg->inconsistent ? "; was inconsistent: " : "", reg->inconsistent ? reg->why : "");
	m->sect_owed[i] = true;
	m->sect_read[i] = false;
	m->sect_wait[i] = false;
	m->sect_req[i] = r;
	m_kick(m);
}

void
measure_service(struct server *srv, struct svc_req *r)
{
	struct measure *m = r->inst != NULL ? r->inst->measure : NULL;
	struct mreq q;
	struct mreg *reg;
	struct mpend *p;
	bool admin;
	int e;

	(void)srv;
	if (m == NULL) {
		svc_reply(r, MREQ_RC_OFF, NULL, 0);
		return;
	}
	admin = r->profile != NULL && r->profile->measure_admin;
	if (!m->available) {
		m->st.refused++;
		svc_reply(r, MREQ_RC_NO_LOG, NULL, 0);
		return;
	}
	/* an EV_NO_ACTION event is never extended (TCG): not a measurement */
	if (mreq_decode(r->data, r->len, &q) < 0 ||
	    ((q.flags & MREQ_F_RESET_SECTION) == 0 && q.event_type == 0x03)) {
		m->st.refused++;
		svc_reply(r, MREQ_RC_MALFORMED, NULL, 0);
		return;
	}
	if ((reg = m_find(m, q.reg_type, q.reg)) == NULL) {
		m->st.refused++;
		svc_reply(r, MREQ_RC_NOT_MANAGED, NULL, 0);
		return;
	}
	if ((q.flags & (MREQ_F_STREAM | MREQ_F_RESET_SECTION)) != 0 && !admin) {
		m->st.refused++;
		svc_reply(r, MREQ_RC_DENIED, NULL, 0);
		return;
	}
	if ((q.flags & MREQ_F_RESET_SECTION) != 0) {
		m_reset_section(m, r, reg);
		return;
	}
	if (reg->inconsistent) {
		reg->refused++;
		m->st.refused++;
		m->st.refused_inconsistent++;
		svc_reply(r, MREQ_RC_INCONSISTENT, NULL, 0);
		return;
	}
	if (m->n_pending >= MEASURE_MAX_PENDING || (p = calloc(1, sizeof(*p))) == NULL) {
		m->st.refused++;
		svc_reply(r, TB_RM_RC(TPM2_RC_RETRY), NULL, 0);
		return;
	}
	m->sect_wait[reg - m->reg] = false; /* a section that failed to be written: try again */
	p->reg = reg;
	p->kind = MLOG_EVENT;
	p->event_type = q.event_type;
	p->n_dig = reg->n_algs;
	if ((e = mlog_hash(reg->algs, reg->n_algs, q.data, q.data_len, p->dig)) < 0) {
		free(p);
		m->st.refused++;
		svc_reply(r, MREQ_RC_IO, NULL, 0);
		return;
	}
	m_stream(r, &q, p->stream, sizeof(p->stream));
	p->desc = q.desc;
	p->desc_len = q.desc_len;
	p->data = q.data;
	p->data_len = q.data_len;
	p->uid = r->peer.uid_known ? (uint32_t)r->peer.uid : (uint32_t)-1;
	p->pid = r->peer.pid > 0 ? (uint32_t)r->peer.pid : 0;
	p->req = r; /* the payload p points into lives until the answer */
	m->n_pending++;
	TAILQ_INSERT_TAIL(&m->incoming, p, entry);
	m_kick(m);
}

void
measure_raw_command(struct measure *m, const uint8_t *cmd, size_t len,
		    const struct peer_id *peer, uint64_t conn_id)
{
	uint32_t cc, pcr;
	struct mreg *reg;

	if (m == NULL || len < 14)
		return;
	cc = get_be32(cmd + 6);
	if (cc != TPM2_CC_PCR_Extend && cc != TPM2_CC_PCR_Event && cc != TPM2_CC_PCR_Reset)
		return;
	pcr = get_be32(cmd + 10);
	if ((reg = m_find(m, MLOG_REG_PCR, pcr)) == NULL)
		return;
	m->st.raw_extends++;
	if (reg->inconsistent)
		return;
	measure_set_inconsistent(m, reg, "a raw %s from conn %llu (uid %d) bypassed the log",
				 cc == TPM2_CC_PCR_Extend ? "PCR_Extend"
				 : cc == TPM2_CC_PCR_Event ? "PCR_Event" : "PCR_Reset",
				 (unsigned long long)conn_id, peer->uid_known ? (int)peer->uid : -1);
}

/* ---- life ---- */

int
measure_open(struct loop *loop, struct tpm_instance *ti, const struct measure_params *p,
	     struct measure **ret)
{
	struct measure *m = calloc(1, sizeof(*m));
	int e;

	if (m == NULL)
		return -ENOMEM;
	m->loop = loop;
	m->ti = ti;
	m->fd = m->lock_fd = -1;
	TAILQ_INIT(&m->incoming);
	TAILQ_INIT(&m->writing);
	TAILQ_INIT(&m->extending);
	job_init(&m->job, JOB_INTERNAL, m_job_done, m);
	m_crash_parse(m);
	m->reset_gen = rm_reset_gen(ti->rm);
	if ((e = mrecover_open(m, p)) < 0) {
		measure_free(m);
		return e;
	}
	if (m->available) {
		if ((e = be_worker_start(&m->w, "measure-writer", m_write_run, NULL, m)) < 0) {
			measure_free(m);
			return e;
		}
		m->worker_started = true;
		if ((e = loop_io_add(loop, &m->wio, m->w.ev_fd, EPOLLIN, m_on_writer, m)) < 0) {
			measure_free(m);
			return e;
		}
	}
	m->st.available = m->available;
	*ret = m;
	return 0;
}

void
measure_free(struct measure *m)
{
	struct mpend *p;

	if (m == NULL)
		return;
	if (m->worker_started) {
		if (m->wio.added)
			loop_io_del(m->loop, &m->wio);
		(void)be_worker_stop(&m->w, -1);
	}
	if (m->job.state == JOB_QUEUED || m->job.state == JOB_PARKED)
		sched_forget(m->ti->sched, &m->job);
	for (struct mpend_q *q = &m->incoming;; q = q == &m->incoming ? &m->writing
						: q == &m->writing ? &m->extending : NULL) {
		if (q == NULL)
			break;
		while ((p = TAILQ_FIRST(q)) != NULL) {
			TAILQ_REMOVE(q, p, entry);
			m_finish(m, p, MREQ_RC_IO);
		}
	}
	for (size_t i = 0; i < m->n_reg; i++) {
		if (m->sect_req[i] != NULL)
			svc_reply(m->sect_req[i], MREQ_RC_IO, NULL, 0);
		mreg_close(&m->reg[i]);
	}
	if (m->fd >= 0)
		(void)close(m->fd);
	if (m->lock_fd >= 0)
		(void)close(m->lock_fd);
	free(m->wbuf);
	free(m);
}

void
measure_get_stats(const struct measure *m, struct measure_stats *ret)
{
	*ret = m->st;
	ret->pending = m->n_pending;
	ret->available = m->available;
	ret->reset_count = m->reset_count;
	ret->restart_count = m->restart_count;
}

/* ---- status ---- */

static void
m_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const char *
m_state(const struct measure *m)
{
	if (!m->available)
		return "unavailable";
	for (size_t i = 0; i < m->n_reg; i++)
		if (m->reg[i].inconsistent)
			return "inconsistent";
	return "ok";
}

void
measure_status(const struct measure *m, FILE *f, bool json)
{
	const struct measure_stats *st = &m->st;
	double per = st->fsyncs > 0 ? (double)st->written / (double)st->fsyncs : 0.0;
	bool first = true;

	if (!json) {
		fprintf(f, "measure: %s, log %s%s%s\n", m_state(m), m->path,
			m->available ? "" : ": ", m->available ? "" : m->why);
		fprintf(f, "  %llu records, last %llu, epoch %u/%u; since start: %llu events, "
			   "%llu fsyncs (%.1f records per fsync, largest batch %llu), %llu sections, "
			   "%u pending\n",
			(unsigned long long)st->records, (unsigned long long)st->last_seq,
			m->reset_count, m->restart_count, (unsigned long long)st->events,
			(unsigned long long)st->fsyncs, per, (unsigned long long)st->batch_max,
			(unsigned long long)st->sections, m->n_pending);
		fprintf(f, "  refused %llu (inconsistent %llu, log full or failing %llu); at start: "
			   "%llu rolled forward, %llu torn bytes cut; raw extends seen %llu\n",
			(unsigned long long)st->refused, (unsigned long long)st->refused_inconsistent,
			(unsigned long long)st->refused_disk, (unsigned long long)st->rolled_forward,
			(unsigned long long)st->torn_bytes, (unsigned long long)st->raw_extends);
		for (size_t i = 0; i < m->n_reg; i++) {
			const struct mreg *r = &m->reg[i];

			fprintf(f, "  %s: %s%s%s, %llu events, %llu refused\n", measure_reg_name(r),
				r->inconsistent ? "INCONSISTENT" : "ok", r->inconsistent ? ": " : "",
				r->inconsistent ? r->why : "", (unsigned long long)r->events,
				(unsigned long long)r->refused);
		}
		return;
	}
	fputs("\"measure\": {\"log\": ", f);
	m_json_str(f, m->path);
	fprintf(f, ", \"available\": %s, \"state\": \"%s\", \"why\": ",
		m->available ? "true" : "false", m_state(m));
	m_json_str(f, m->available ? "" : m->why);
	fputs(", \"inconsistent\": [", f);
	for (size_t i = 0; i < m->n_reg; i++) {
		if (!m->reg[i].inconsistent)
			continue;
		fprintf(f, "%s\"%s\"", first ? "" : ", ", measure_reg_name(&m->reg[i]));
		first = false;
	}
	fprintf(f, "], \"records\": %llu, \"last_seq\": %llu, \"events\": %llu, "
		   "\"fsyncs\": %llu, \"written\": %llu, \"events_per_fsync\": %.2f, "
		   "\"batch_max\": %llu, \"pending\": %u, \"refused\": %llu, "
		   "\"refused_inconsistent\": %llu, \"refused_disk\": %llu, "
		   "\"rolled_forward\": %llu, \"torn_bytes\": %llu, \"sections\": %llu, "
		   "\"raw_extends\": %llu, \"reset_count\": %u, \"restart_count\": %u, "
		   "\"registers\": [",
		(unsigned long long)st->records, (unsigned long long)st->last_seq,
		(unsigned long long)st->events, (unsigned long long)st->fsyncs,
		(unsigned long long)st->written, per, (unsigned long long)st->batch_max,
		m->n_pending, (unsigned long long)st->refused,
		(unsigned long long)st->refused_inconsistent, (unsigned long long)st->refused_disk,
		(unsigned long long)st->rolled_forward, (unsigned long long)st->torn_bytes,
		(unsigned long long)st->sections, (unsigned long long)st->raw_extends,
		m->reset_count, m->restart_count);
	for (size_t i = 0; i < m->n_reg; i++) {
		const struct mreg *r = &m->reg[i];

		fprintf(f, "%s{\"type\": \"%s\", \"index\": %u, \"state\": \"%s\", \"why\": ",
			i == 0 ? "" : ", ", r->ops->name, (unsigned)r->index,
			r->inconsistent ? "inconsistent" : "ok");
		m_json_str(f, r->why);
		fputs(", \"banks\": [", f);
		for (size_t b = 0; b < r->n_algs; b++)
			fprintf(f, "%s\"%s\"", b == 0 ? "" : ", ", mlog_alg_name(r->algs[b]));
		fprintf(f, "], \"events\": %llu, \"refused\": %llu}", (unsigned long long)r->events,
			(unsigned long long)r->refused);
	}
	fputs("]}", f);
}
