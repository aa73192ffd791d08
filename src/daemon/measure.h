/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * measure.h: log-first measurement (issue 11), one per TPM instance.  A
 * client hands over an event (proto.h TB_MSG_MEASURE, mreq.h); the broker
 * makes "durable log record + register extend" one step:
 *
 *   1. hash the data for every bank of the register (mlog_hash);
 *   2. append the record to the log (mlog.h) and fdatasync it, on a
 *      writer thread: the loop never waits for the disk;
 *   3. extend the register with all banks' digests at once (a PCR:
 *      TPM2_PCR_Extend as the daemon's own job; a RTMR: a write, mreg.h);
 *   4. answer the client with the record number.
 *
 * Group commit: requests that arrive while a batch is being synced wait
 * and go together into the next batch: one append, one fdatasync, then
 * their extends in log order.  A register is therefore never ahead of the
 * durable log; a crash between 2 and 3 leaves the log ahead, and the next
 * start rolls the register forward.
 *
 * request state   event                         next        action
 * INCOMING        no batch being written        WRITING     encoded, handed to the writer
 * WRITING         fdatasync done                EXTENDING   queued for its extend, in order
 * WRITING         write failed (ENOSPC, EIO)    -           log cut back; refused
 * EXTENDING       its turn, extend done         -           answered: rc 0, record number
 * EXTENDING       the extend failed             -           refused; register inconsistent
 *
 * Sections.  Each record carries the TPM's boot epoch (resetCount,
 * restartCount from TPM2_ReadClock).  Before a register's first event in an
 * epoch the log gets a SECTION record with the register's value then
 * (PCR_Read): the base its replay starts from.  When the RM sees the TPM
 * reset (rm_reset_gen), the pipeline drains, reads the epoch and the
 * registers again, and writes new sections before the next events.
 *
 * Recovery at start (synchronous, as instance_open): cut a torn tail,
 * replay each register's current section against the register: equal to
 * the full replay, nothing to do; equal to the replay without its last
 * records, extend those (roll forward); anything else: the register is
 * INCONSISTENT, loudly, and measurements to it are refused until an admin
 * starts a new section (MREQ_F_RESET_SECTION) or the TPM's next epoch does.
 */
#ifndef TB_MEASURE_H
#define TB_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>

#include "mreg.h"

struct loop;
struct measure;
struct peer_id;
struct server;
struct svc_req;
struct tpm_instance;

/* the PCRs managed by default: neither firmware, boot loaders, IMA nor systemd use them */
#define MEASURE_DEFAULT_PCRS ((1u << 16) | (1u << 23))

struct measure_params {
	const char *log_path;       /* the log; its lock is PATH.lock */
	uint32_t pcrs;              /* managed PCRs, bit n = PCR n */
	uint32_t rtmr_index[MREG_RTMR_COUNT];
	const char *rtmr_path[MREG_RTMR_COUNT]; /* RTMR stand-in files */
	size_t n_rtmr;
	/* the daemon drops to this user later: the log and its lock become its (owner
	 * (uid_t)-1: they stay as they are) */
	uid_t owner;
	gid_t group;
};

/* for status */
struct measure_stats {
	uint64_t records;           /* in the log now */
	uint64_t last_seq;
	uint64_t events;            /* measured since start */
	uint64_t fsyncs;            /* batches synced since start */
	uint64_t written;           /* records those batches held */
	uint64_t batch_max;         /* the largest batch */
	uint64_t refused;           /* requests refused (any reason) */
	uint64_t refused_inconsistent;
	uint64_t refused_disk;      /* ENOSPC / EIO on the log */
	uint64_t rolled_forward;    /* events extended at start (recovery) */
	uint64_t torn_bytes;        /* bytes cut from the log's tail at start */
	uint64_t sections;          /* SECTION records written since start */
	uint64_t raw_extends;       /* raw extends/resets of managed PCRs seen (admins) */
	unsigned pending;           /* requests in the pipeline now */
	uint32_t reset_count, restart_count;
	bool available;
};

/*
 * The measurement service of instance ti: open (or create) the log at
 * p->log_path, read the active banks and the epoch from the TPM, recover
 * (see above).  Synchronous, before the loop runs.  A log that cannot be
 * opened is logged as an error and gives a service that refuses every
 * request (MREQ_RC_NO_LOG): the daemon still serves TPM commands.
 * -errno only for a bad configuration or no memory.
 */
int measure_open(struct loop *loop, struct tpm_instance *ti, const struct measure_params *p,
		 struct measure **ret);
/* Requests still in the pipeline are answered with MREQ_RC_IO. */
void measure_free(struct measure *m);

/* The MEASURE service handler (service.c's table). */
void measure_service(struct server *srv, struct svc_req *r);

/* Is PCR index one of m's?  (m may be NULL) */
bool measure_manages_pcr(const struct measure *m, uint32_t index);
/*
 * A client's raw command passed policy (an admin's: others may not name
 * managed PCRs): a PCR_Extend, PCR_Event or PCR_Reset of a managed PCR
 * makes it inconsistent, loudly.  Other commands: nothing.
 */
void measure_raw_command(struct measure *m, const uint8_t *cmd, size_t len,
			 const struct peer_id *peer, uint64_t conn_id);

/* The "measure" block of status: text lines or a JSON object member. */
void measure_status(const struct measure *m, FILE *f, bool json);
void measure_get_stats(const struct measure *m, struct measure_stats *ret);

#endif
