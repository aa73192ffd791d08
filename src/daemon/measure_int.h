/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * measure_int.h: what measure.c (the pipeline) and mrecover.c (opening and
 * recovering the log at start) share.  Nobody else includes it.
 */
#ifndef TB_MEASURE_INT_H
#define TB_MEASURE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "../common/mlog.h"
#include "be_worker.h"
#include "job.h"
#include "loop.h"
#include "measure.h"

struct svc_req;

/*
 * Requests in the pipeline at most (incoming, being written, waiting for
 * their extend); more are refused with TPM_RC_RETRY.  It also bounds how
 * many records of a register can be durable but not yet extended at a
 * crash, so recovery keeps that many of the replay's last values.
 */
#define MEASURE_MAX_PENDING 4096u
/* a batch's bytes at most (a torn tail is never longer; recovery cuts no more) */
#define MEASURE_BATCH_MAX (8u << 20)
/* a section's note (the SECTION record's description) */
#define MEASURE_NOTE_MAX 200u

/* One record on its way: an event a client waits for, or a SECTION. */
struct mpend {
	struct svc_req *req;  /* answered at its end; NULL: nobody waits; owned */
	struct mreg *reg;     /* not owned */
	uint8_t kind;         /* MLOG_EVENT / MLOG_SECTION */
	uint32_t event_type;
	struct mlog_digest dig[MLOG_MAX_BANKS];
	size_t n_dig;
	char stream[MLOG_MAX_STREAM + 1];
	char note[MEASURE_NOTE_MAX]; /* a SECTION's description */
	const char *desc;     /* into req's payload, or note */
	size_t desc_len;
	const uint8_t *data;  /* into req's payload */
	size_t data_len;
	uint32_t uid, pid;
	uint64_t seq;         /* set when it is encoded into a batch */
	TAILQ_ENTRY(mpend) entry;
};
TAILQ_HEAD(mpend_q, mpend);

/* what the service's one TPM job is doing */
enum mjob {
	MJ_NONE,
	MJ_EXTEND, /* the head of the extending queue */
	MJ_CLOCK,  /* ReadClock: the epoch after a reset */
	MJ_READ,   /* PCR_Read of reg[job_reg]: a section's base */
};

/* a crash point (tests; -Dcrash_points): TPMBROKERD_CRASH_AT=POINT[:N] */
enum mcrash {
	MCRASH_NONE,
	MCRASH_APPEND, /* after the append, before the fdatasync (writer thread) */
	MCRASH_SYNC,   /* after the fdatasync, before the extends */
	MCRASH_EXTEND, /* after an extend, before the answer */
};

struct measure {
	struct loop *loop;            /* not owned */
	struct tpm_instance *ti;      /* not owned: the instance owns us */
	char path[256];
	int fd;                       /* the log; owned; -1 when unavailable */
	int lock_fd;                  /* PATH.lock, flock'ed for our life; owned */
	bool available;
	char why[256];                /* why not available */
	struct mreg reg[MREG_MAX];    /* owned (RTMR fds) */
	size_t n_reg;
	/* the log */
	uint64_t next_seq;
	off_t end;                    /* where the next batch goes */
	uint32_t reset_count, restart_count; /* the epoch records are written in */
	uint64_t reset_gen;           /* rm_reset_gen() when the epoch was read */
	/* sections owed before the next events */
	bool clock_owed;              /* a TPM reset was seen: read the epoch again */
	bool sect_owed[MREG_MAX];
	bool sect_read[MREG_MAX];     /* base read for the owed section */
	bool sect_wait[MREG_MAX];     /* its write failed: tried again with the next event */
	struct mlog_digest sect_base[MREG_MAX][MLOG_MAX_BANKS];
	char sect_note[MREG_MAX][MEASURE_NOTE_MAX];
	struct svc_req *sect_req[MREG_MAX]; /* the admin waiting for it; owned */
	/* the pipeline */
	struct mpend_q incoming;      /* accepted, not yet in a batch */
	struct mpend_q writing;       /* the batch at the writer */
	struct mpend_q extending;     /* durable, extended in this order */
	unsigned n_pending;
	/* the writer thread: one batch at a time */
	struct be_worker w;
	struct loop_io wio;
	bool worker_started;
	bool writing_now;
	uint8_t *wbuf;                /* owned */
	size_t wcap, wlen;
	off_t woff;
	int wresult;                  /* the writer's: 0 or -errno */
	/* the service's one TPM job at a time (JOB_INTERNAL, sched_submit_first) */
	struct job job;
	enum mjob job_kind;
	size_t job_reg;
	uint8_t cmd[512];
	uint8_t rsp[1024];
	bool kicking, kick_again;
	enum mcrash crash_at;
	unsigned crash_n;             /* crash at the n-th time the point is passed */
	struct measure_stats st;
};

/* mrecover.c: open the log and bring it and the registers into step. */
int mrecover_open(struct measure *m, const struct measure_params *p);
/* Encode r into m->wbuf at m->wlen, growing it: 0 or -errno. */
int measure_encode(struct measure *m, const struct mlog_rec *r);
/* The register's label for messages. */
const char *measure_reg_name(const struct mreg *r);
/* Mark r inconsistent with a reason (logged at error level). */
void measure_set_inconsistent(struct measure *m, struct mreg *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
