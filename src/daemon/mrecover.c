/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mrecover.c: open the measurement log at start and bring it and the
 * registers into step (measure.h), synchronously, before the loop runs.
 *
 *   1. PATH.lock, flock'ed for the daemon's life: one writer per log;
 *   2. the log (created with its header if new), read and scanned; a torn
 *      tail (a crash during an append) is cut, loudly; more than one
 *      batch's bytes of bad data is damage, not a torn tail: not cut, the
 *      service refuses until an admin looks;
 *   3. the TPM's epoch (ReadClock) and each PCR's active banks;
 *   4. each register's current section (a PCR's in this epoch, a RTMR's
 *      last) replayed and compared with the register:
 *        full replay            consistent
 *        replay minus k events  extend those k (roll forward), logged
 *        anything else          INCONSISTENT: refused until an admin acts
 *      and a register with no current section gets one (its value now);
 *   5. those SECTION records appended and synced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_tpm2_types.h>

#include "../common/log.h"
#include "../common/proto.h"
#include "../common/util.h"
#include "backend.h"
#include "instance.h"
#include "measure_int.h"
#include "mreg.h"

#define MREC_TIMEOUT_MS 30000

/* Not available: say why, loudly; the daemon goes on without the service. */
static int
mrec_unavailable(struct measure *m, int err, const char *what)
{
	snprintf(m->why, sizeof(m->why), "%s%s%s", what, err != 0 ? ": " : "",
		 err != 0 ? strerror(err) : "");
	log_msg(LOG_LVL_ERR, "measure: %s: %s; measurement requests are refused (0x%08x)",
		m->path, m->why, 0x000B0923u);
	m->available = false;
	return 0;
}

static int
mrec_write_all(int fd, const uint8_t *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* The lock and the log's fd; a new log gets its header, durably. */
static int
mrec_open_files(struct measure *m, const struct measure_params *p)
{
	char lock[sizeof(m->path) + 8], dir[sizeof(m->path)], *slash;
	uint8_t hdr[MLOG_HDR_SIZE];
	struct stat st;
	int e;

	snprintf(dir, sizeof(dir), "%s", m->path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if ((e = mkdir_p(dir, 0755)) < 0)
			return mrec_unavailable(m, -e, "its directory cannot be made");
	}
	snprintf(lock, sizeof(lock), "%s.lock", m->path);
	if ((m->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return mrec_unavailable(m, errno, "its lock file cannot be opened");
	if (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return mrec_unavailable(m, errno == EWOULDBLOCK ? 0 : errno,
					errno == EWOULDBLOCK ? "in use by another tpmbrokerd"
							     : "its lock file");
	if ((m->fd = open(m->path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return mrec_unavailable(m, errno, "cannot be opened");
	/* the user the daemon runs as reads it (tpmbroker log verify) and opens it next time */
	if (p->owner != (uid_t)-1 &&
	    (fchown(m->fd, p->owner, p->group) < 0 || fchown(m->lock_fd, p->owner, p->group) < 0))
		return mrec_unavailable(m, errno, "cannot be given to the daemon's user");
	if (fstat(m->fd, &st) < 0)
		return mrec_unavailable(m, errno, "fstat");
	if (st.st_size == 0) {
		mlog_header_put(hdr);
		if ((e = mrec_write_all(m->fd, hdr, sizeof(hdr), 0)) < 0 || fsync(m->fd) < 0) {
			e = e < 0 ? -e : errno;
			(void)ftruncate(m->fd, 0);
			return mrec_unavailable(m, e, "a new log cannot be written");
		}
		if (slash != NULL) {
			_cleanup_(closep) int dfd = open(slash == dir ? "/" : dir,
							 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd >= 0)
				(void)fsync(dfd);
		}
		log_info("measure: new log %s", m->path);
	}
	return 1;
}

/* The managed registers and their banks. */
static int
mrec_registers(struct measure *m, const struct measure_params *p)
{
	struct backend *be = m->ti->be;
	int e;

	for (uint32_t i = 0; i < 24; i++) {
		struct mreg *r;

		if ((p->pcrs & (1u << i)) == 0)
			continue;
		if (m->n_reg >= MREG_MAX) {
			log_msg(LOG_LVL_ERR, "measure: at most %u registers", MREG_MAX);
			return -EINVAL;
		}
		r = &m->reg[m->n_reg];
		memset(r, 0, sizeof(*r));
		r->fd = -1;
		r->ops = &mreg_pcr_ops;
		r->index = i;
		if ((e = mreg_pcr_banks(be, i, r->algs, &r->n_algs)) < 0) {
			log_errno(LOG_LVL_ERR, -e, "measure: PCR %u: no active bank", (unsigned)i);
			return mrec_unavailable(m, -e, "the TPM's PCR banks could not be read");
		}
		m->n_reg++;
	}
	for (size_t i = 0; i < p->n_rtmr; i++) {
		if (m->n_reg >= MREG_MAX) {
			log_msg(LOG_LVL_ERR, "measure: at most %u registers", MREG_MAX);
			return -EINVAL;
		}
		if ((e = mreg_rtmr_open(&m->reg[m->n_reg], p->rtmr_index[i], p->rtmr_path[i])) < 0) {
			log_errno(LOG_LVL_ERR, -e, "measure: RTMR %u: %s", (unsigned)p->rtmr_index[i],
				  p->rtmr_path[i]);
			mreg_close(&m->reg[m->n_reg]);
			return mrec_unavailable(m, -e, "a RTMR's file cannot be opened");
		}
		m->n_reg++;
	}
	return 1;
}

static bool
digests_equal(const struct mlog_digest *a, const struct mlog_digest *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].alg != b[i].alg || a[i].size != b[i].size || memcmp(a[i].d, b[i].d, a[i].size) != 0)
			return false;
	return true;
}

/* r's digests in reg's bank order: 0, or -EINVAL if the banks differ. */
static int
rec_digests(const struct mreg *reg, const struct mlog_rec *r, struct mlog_digest *out)
{
	if (r->n_dig != reg->n_algs)
		return -EINVAL;
	for (size_t b = 0; b < reg->n_algs; b++) {
		size_t k;

		for (k = 0; k < r->n_dig && r->dig[k].alg != reg->algs[b]; k++)
			;
		if (k == r->n_dig || r->dig[k].size != mlog_alg_size(reg->algs[b]))
			return -EINVAL;
		out[b] = r->dig[k];
	}
	return 0;
}

static bool
rec_is(const struct mlog_rec *r, const struct mreg *reg)
{
	return r->reg_type == reg->ops->type && r->reg == reg->index;
}

/* one value of the replay: after the event whose record begins at off (0: the base) */
struct mrec_step {
	struct mlog_digest v[MLOG_MAX_BANKS];
	size_t off;
};

#define MREC_RING (MEASURE_MAX_PENDING + 1u)

/*
 * Replay reg's section starting at sect_off against the register: nothing,
 * roll forward, or inconsistent.  0 or -errno (the register unreadable).
 */
static int
mrec_replay(struct measure *m, const struct mlog_file *f, struct mreg *reg, size_t sect_off)
{
	struct mrec_step *ring = calloc(MREC_RING, sizeof(*ring));
	struct mlog_digest now[MLOG_MAX_BANKS];
	struct mlog_rec r;
	size_t off = sect_off, head = 0, n = 1;
	uint64_t events = 0;
	int e;

	if (ring == NULL)
		return -ENOMEM;
	if (mlog_next(f, &off, &r) != 1 || rec_digests(reg, &r, ring[0].v) < 0) {
		measure_set_inconsistent(m, reg, "its section's banks are not the TPM's");
		free(ring);
		return 0;
	}
	for (;;) {
		size_t start = off;
		struct mrec_step *prev = &ring[head], *cur;
		struct mlog_digest d[MLOG_MAX_BANKS];

		if (mlog_next(f, &off, &r) != 1)
			break;
		if (r.kind != MLOG_EVENT || !rec_is(&r, reg))
			continue;
		if (rec_digests(reg, &r, d) < 0) {
			measure_set_inconsistent(m, reg, "record %llu has other banks than its "
							 "section", (unsigned long long)r.seq);
			free(ring);
			return 0;
		}
		head = (head + 1) % MREC_RING;
		cur = &ring[head];
		memcpy(cur->v, prev->v, sizeof(cur->v));
		for (size_t b = 0; b < reg->n_algs; b++)
			if ((e = mlog_fold(&cur->v[b], &d[b])) < 0) {
				free(ring);
				return e;
			}
		cur->off = start; /* where the event's record begins */
		n = MIN(n + 1, MREC_RING);
		events++;
	}
	if ((e = mreg_read_sync(reg, m->ti->be, now)) < 0) {
		free(ring);
		return e;
	}
	for (size_t k = 0; k < n; k++) {
		size_t j = (head + MREC_RING - k) % MREC_RING;

		if (!digests_equal(ring[j].v, now, reg->n_algs))
			continue;
		if (k == 0) {
			log_info("measure: %s: consistent with its log (%llu events in its section)",
				 measure_reg_name(reg), (unsigned long long)events);
			free(ring);
			return 0;
		}
		/* the last k events are durable but were never extended: roll forward */
		for (size_t i = k; i > 0; i--) {
			size_t roff = ring[(head + MREC_RING - i + 1) % MREC_RING].off;
			struct mlog_digest d[MLOG_MAX_BANKS];
			struct mlog_rec er;

			if (mlog_next(f, &roff, &er) != 1 || rec_digests(reg, &er, d) < 0 ||
			    (e = mreg_extend_sync(reg, m->ti->be, d, reg->n_algs)) < 0) {
				measure_set_inconsistent(m, reg, "rolling an event forward failed");
				free(ring);
				return 0;
			}
			log_verbose("measure: %s: record %llu rolled forward", measure_reg_name(reg),
				  (unsigned long long)er.seq);
			m->st.rolled_forward++;
		}
		log_warnx("measure: %s: its last %zu logged event(s) had not been extended (a "
			  "crash before their extend): rolled forward", measure_reg_name(reg), k);
		free(ring);
		return 0;
	}
	measure_set_inconsistent(m, reg, "its value is not the replay of its section (%llu "
					 "events) nor of any of its last %zu prefixes",
				 (unsigned long long)events, n - 1);
	free(ring);
	return 0;
}

/* SECTION records for the registers that have none in this epoch: appended, synced. */
static int
mrec_new_sections(struct measure *m, const bool *need)
{
	struct timespec ts;
	int e;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	m->wlen = 0;
	for (size_t i = 0; i < m->n_reg; i++) {
		struct mreg *reg = &m->reg[i];
		struct mlog_digest base[MLOG_MAX_BANKS];
		char note[MEASURE_NOTE_MAX];
		struct mlog_rec r;

		if (!need[i])
			continue;
		if ((e = mreg_read_sync(reg, m->ti->be, base)) < 0) {
			log_errno(LOG_LVL_ERR, -e, "measure: %s: reading its value", measure_reg_name(reg));
			measure_set_inconsistent(m, reg, "its value could not be read for a section");
			continue;
		}
		snprintf(note, sizeof(note), "section at start: epoch %u/%u, base read from the %s",
			 m->reset_count, m->restart_count,
			 reg->ops->type == MLOG_REG_PCR ? "TPM" : "register");
		r = (struct mlog_rec){
			.seq = m->next_seq,
			.reset_count = m->reset_count,
			.restart_count = m->restart_count,
			.time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
			.kind = MLOG_SECTION,
			.reg_type = reg->ops->type,
			.reg = reg->index,
			.event_type = 0x03, /* EV_NO_ACTION */
			.uid = (uint32_t)-1,
			.n_dig = reg->n_algs,
			.desc = note,
			.desc_len = strlen(note),
		};
		memcpy(r.dig, base, sizeof(base));
		if ((e = measure_encode(m, &r)) < 0)
			return e;
		m->next_seq++;
		m->st.sections++;
		m->st.records++;
	}
	if (m->wlen == 0)
		return 0;
	if ((e = mrec_write_all(m->fd, m->wbuf, m->wlen, m->end)) < 0 || fdatasync(m->fd) < 0) {
		e = e < 0 ? e : -errno;
		(void)ftruncate(m->fd, m->end);
		return e;
	}
	m->end += (off_t)m->wlen;
	m->st.last_seq = m->next_seq - 1;
	m->wlen = 0;
	return 0;
}

/* Read, cut, replay, roll forward, start sections: the whole of recovery. */
static int
mrec_recover(struct measure *m)
{
	struct mlog_file f;
	bool need[MREG_MAX] = {false};
	size_t sect[MREG_MAX] = {0}, off = 0;
	struct mlog_rec r;
	int e;

	if ((e = mlog_read_fd(m->fd, &f)) < 0)
		return mrec_unavailable(m, e == -EBADMSG ? 0 : -e,
					e == -EBADMSG ? "not a tpmbroker measurement log (move it away)"
						      : "cannot be read");
	if (f.valid_end < f.size) {
		size_t torn = f.size - f.valid_end;

		if (torn > MEASURE_BATCH_MAX) {
			mlog_file_free(&f);
			return mrec_unavailable(m, 0, "damaged: more bad bytes at its end than one "
						      "batch can leave; not cut (look at it, move it away)");
		}
		if (ftruncate(m->fd, (off_t)f.valid_end) < 0 || fdatasync(m->fd) < 0) {
			e = errno;
			mlog_file_free(&f);
			return mrec_unavailable(m, e, "its torn tail cannot be cut");
		}
		log_warnx("measure: %s: CUT A TORN TAIL of %zu bytes at offset %zu (a crash during "
			  "an append; those records were never acknowledged)", m->path, torn,
			  f.valid_end);
		m->st.torn_bytes = torn;
	}
	m->end = (off_t)f.valid_end;
	m->next_seq = f.last_seq + 1;
	m->st.records = f.n_records;
	m->st.last_seq = f.last_seq;
	/* each register's current section: a PCR's in this epoch, a RTMR's last */
	while (off < f.valid_end) {
		size_t at = off;

		if (mlog_next(&f, &off, &r) != 1)
			break;
		if (r.kind != MLOG_SECTION)
			continue;
		for (size_t i = 0; i < m->n_reg; i++) {
			if (!rec_is(&r, &m->reg[i]))
				continue;
			if (r.reg_type == MLOG_REG_PCR &&
			    (r.reset_count != m->reset_count || r.restart_count != m->restart_count))
				continue;
			sect[i] = at == 0 ? MLOG_HDR_SIZE : at;
		}
	}
	for (size_t i = 0; i < m->n_reg; i++) {
		if (f.seq_gap) {
			measure_set_inconsistent(m, &m->reg[i], "the log's records are out of "
								"sequence (damage)");
			continue;
		}
		if (sect[i] == 0) {
			need[i] = true;
			continue;
		}
		if ((e = mrec_replay(m, &f, &m->reg[i], sect[i])) < 0) {
			log_errno(LOG_LVL_ERR, -e, "measure: %s: recovery", measure_reg_name(&m->reg[i]));
			measure_set_inconsistent(m, &m->reg[i], "its value could not be read at "
								"start");
		}
	}
	mlog_file_free(&f);
	if ((e = mrec_new_sections(m, need)) < 0)
		return mrec_unavailable(m, -e, "new sections cannot be written");
	return 0;
}

int
mrecover_open(struct measure *m, const struct measure_params *p)
{
	uint8_t cmd[16], rsp[256];
	size_t len, rlen = 0;
	int e;

	m->available = true;
	if (strlen(p->log_path) >= sizeof(m->path) || p->log_path[0] != '/') {
		log_msg(LOG_LVL_ERR, "measure: log path '%s' not absolute or too long", p->log_path);
		return -EINVAL;
	}
	strcpy(m->path, p->log_path);
	if ((e = mrec_registers(m, p)) <= 0)
		return e;
	if ((e = mrec_open_files(m, p)) <= 0)
		return e;
	len = mreg_read_clock_cmd(cmd, sizeof(cmd));
	if ((e = be_transact(m->ti->be, cmd, len, rsp, sizeof(rsp), &rlen, MREC_TIMEOUT_MS)) < 0 ||
	    (e = mreg_read_clock_parse(rsp, rlen, &m->reset_count, &m->restart_count)) < 0)
		return mrec_unavailable(m, -e, "the TPM's epoch (ReadClock) could not be read");
	m->st.reset_count = m->reset_count;
	m->st.restart_count = m->restart_count;
	while (flock(m->fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return mrec_unavailable(m, errno, "flock");
	e = mrec_recover(m);
	(void)flock(m->fd, LOCK_UN);
	if (e == 0 && m->available) {
		size_t bad = 0;

		for (size_t i = 0; i < m->n_reg; i++)
			bad += m->reg[i].inconsistent;
		log_info("measure: %s: %llu records, epoch %u/%u, %zu registers (%zu inconsistent), "
			 "%llu events rolled forward", m->path, (unsigned long long)m->st.records,
			 m->reset_count, m->restart_count, m->n_reg, bad,
			 (unsigned long long)m->st.rolled_forward);
	}
	return e;
}
