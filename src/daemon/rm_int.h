/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rm_int.h: state shared by rm.c (the planner) and rmcmd.c (the commands
 * the RM intercepts).  Not for other modules: they use rm.h.
 */
#ifndef TB_RM_INT_H
#define TB_RM_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "../common/wire.h"
#include "handles.h"
#include "rm.h"
#include "rmparse.h"

/* What the job in progress is. */
enum rm_kind {
	RK_IDLE = 0,
	RK_COMMAND,       /* a command, handles translated; FLUSHED/EXTENSIVE/sessions tracked */
	RK_FLUSH,         /* client FlushContext of a loaded object or a session */
	RK_CTX_SAVE,      /* client ContextSave of a loaded object or session */
	RK_CTX_LOAD_OBJ,  /* client ContextLoad of an object context */
	RK_CTX_LOAD_SESS, /* client ContextLoad of its (or an abandoned) session: RM answers */
	RK_CLOSE,         /* the connection left: flush what it owned */
	RK_INTERNAL,      /* the daemon's own (rm_begin_internal): housekeeping, its command */
};

/* The TPM command in flight. */
enum rm_op {
	OP_NONE = 0,
	OP_CLIENT, /* the client's command (handles translated) */
	OP_SAVE,   /* ContextSave of an eviction victim (target) */
	OP_EVICT,  /* FlushContext of a victim whose context is saved (target) */
	OP_LOAD,   /* ContextLoad of an entry the command needs (target) */
	OP_FLUSH,  /* FlushContext of target, which is then freed (close, trim, lost) */
	OP_RESYNC, /* GetCapability(transient handles) after an EXTENSIVE command */
	OP_REFRESH, /* ContextLoad of a saved session near the context gap (then OP_SAVE) */
	OP_STARTUP, /* TPM2_Startup(CLEAR) after rm_tpm_reset() */
	OP_OWN,     /* the internal job's command, as the daemon gave it */
};

#define RM_MAX_PINS (RMP_MAX_HANDLES + RMP_MAX_SESSIONS)
/* Not RM_DONE, RM_SEND nor RM_WAIT: "go on with the command as any other" */
#define RM_PASS 3
/* Cures (eviction, resend) tried for one command before the TPM's answer stands. */
#define RM_MAX_FIXES 8u

struct rm_job {
	enum rm_kind kind;
	enum rm_op op;
	struct rm_conn *rc; /* not owned */
	uint64_t id;        /* entries it needs carry pin == id */
	uint64_t reset_gen; /* rm->reset_gen when planned */
	uint8_t *cmd;       /* the client's command (its conn's buffer); not owned */
	size_t len;
	const uint8_t *own_cmd; /* RK_INTERNAL: the daemon's command (len bytes), or NULL; not owned */
	struct rmp_cmd pc;
	struct rm_ent *hent[RMP_MAX_HANDLES];  /* entry named by handle i; not owned */
	struct rm_ent *sent[RMP_MAX_SESSIONS]; /* entry of auth session i; not owned */
	struct rm_ent *pins[RM_MAX_PINS];      /* to be loaded before the command; not owned */
	unsigned n_pins;
	unsigned want[2];      /* free slots per kind the command itself needs */
	struct rm_ent *fresh;  /* owned: becomes the response handle's entry */
	struct rm_ent *target; /* what the op in flight is about; not owned */
	unsigned fixes;        /* cures tried (RM_MAX_FIXES) */
	bool resent;           /* the one resend after a reconnect is used */
	bool replan;           /* OP_FLUSH of a lost session: plan the command again after */
	bool offline;          /* close job: the TPM is out of reach, just forget */
	bool refreshing;       /* the OP_SAVE in flight is a gap refresh */
	bool param_patched;    /* FlushContext's parameter holds a TPM handle ... */
	uint32_t param_h;      /* ... instead of this, the client's */
};

struct rm_conn {
	TAILQ_ENTRY(rm_conn) entry;
	struct rm_peer peer;
	struct ent_owner own;
};

/* Refresh a saved session once the TPM's context counter is this far ahead of it. */
#define RM_GAP_REFRESH(gap_max) ((gap_max) - (gap_max) / 4u)

struct rm {
	struct rm_params params;
	struct rm_stats stats;
	unsigned slots[2];      /* object / session slots in the TPM */
	unsigned active_max;    /* sessions loaded or saved, in all */
	struct ent_table tab;
	TAILQ_HEAD(, rm_conn) conns;
	struct rm_job job;
	uint64_t job_seq;
	uint64_t turn;          /* client commands begun: the clock of ent_victim() */
	uint64_t reset_gen;     /* bumped by rm_tpm_reset() */
	unsigned max_sess_uid;  /* params.max_sessions_per_uid resolved; 0: none */
	uint32_t gap_max;       /* TPM_PT_CONTEXT_GAP_MAX */
	uint64_t ctx_seq;       /* newest session context sequence seen */
	bool gap_check;         /* ctx_seq moved: look for a session to refresh */
	bool need_startup;      /* rm_tpm_reset(): TPM2_Startup before any other command */
	LIST_HEAD(, ent_acct) accts; /* per-uid totals */
	TPMS_CAPABILITY_DATA capd;   /* GetCapability lists, read or answered */
	uint8_t scratch[TB_BUF_MAX]; /* the RM's own commands */
};

/* rmconn.c: the time by params.now_ns */
uint64_t rm_now(const struct rm *rm);

/* rm.c */
int rm_done(struct rm *rm);
int rm_send_flush(struct rm *rm, struct rm_ent *e, struct rm_step *step);
int rm_reply_rc(struct rm *rm, struct rm_step *step, uint32_t rc);
int rm_reply_len(struct rm *rm, struct rm_step *step, size_t len);
void rm_pin(struct rm *rm, struct rm_ent *e);
int rm_plan(struct rm *rm, struct rm_step *step);
int rm_pin_command(struct rm *rm, struct rm_step *step);

/* rmconn.c: the close job's next step */
int rm_close_next(struct rm *rm, struct rm_step *step);
/*
 * rmconn.c: would one more entry of kind put o over its connection's or its
 * uid's quota?  Counts the refusal when it would.
 */
bool rm_quota_full(struct rm *rm, const struct ent_owner *o, enum ent_kind kind);

/* rm.c: building blocks of the plan */
void rm_restore(struct rm_job *j);
struct rm_ent *rm_victim(struct rm *rm, enum ent_kind kind);
int rm_evict(struct rm *rm, struct rm_ent *v, struct rm_step *step);
int rm_send_load_op(struct rm *rm, struct rm_ent *e, struct rm_step *step, enum rm_op op);

/* rmfix.c: TPM warnings and their cures (rm_fixes[]) */
bool rm_fix_known(uint32_t rc);
/* A cure for rc of the client's command: what rm_plan() returns, or RM_PASS. */
int rm_try_fix(struct rm *rm, uint32_t rc, struct rm_step *step);
/* A warning in answer to one of the RM's own commands: resend or pause; or RM_PASS. */
int rm_own_warning(struct rm *rm, uint32_t rc, struct rm_step *step);

/*
 * rmsess.c: sessions at scale.  Each returns what rm_plan() does, or
 * RM_PASS when it has nothing to do.
 */
/* Every active session slot is taken: free one (abandoned, fair share) or wait. */
int rm_session_room(struct rm *rm, struct rm_step *step);
/* Refresh the oldest saved session if the context counter nears the gap. */
int rm_gap_step(struct rm *rm, struct rm_step *step);
/* The TPM answered TPM_RC_CONTEXT_GAP: refresh (or flush) the oldest saved session. */
int rm_gap_cure(struct rm *rm, struct rm_step *step);
/* e's context was just saved (e->seq set): the counter moved. */
void rm_session_saved(struct rm *rm, struct rm_ent *e);
/* End the job without an answer: RM_WAIT (rm.h). */
int rm_park(struct rm *rm, struct rm_step *step, unsigned wait_ms, bool on_slot);
/* A TPM warning: park the command for a pause that doubles, within params.retry_time_ms. */
int rm_backoff(struct rm *rm, struct rm_step *step);
/*
 * Flush session v for good; its owner remembers it (TPM_RC_EXPIRED later).
 * fair: for another client (fair share); else its context could not be kept
 * (a refresh failed, or no slot to refresh it in against the context gap).
 */
int rm_evict_session(struct rm *rm, struct rm_ent *v, bool fair, struct rm_step *step);

/* rmcmd.c: the commands the RM answers or rewrites itself.  Each returns
 * RM_SEND/RM_DONE, RM_PASS ("not mine: handle as any command") or -errno. */
int rm_cmd_flush(struct rm *rm, struct rm_step *step);
int rm_cmd_context_save(struct rm *rm, struct rm_step *step);
int rm_cmd_context_load(struct rm *rm, struct rm_step *step);
int rm_cmd_getcap(struct rm *rm, struct rm_step *step);
int rm_cmd_read_public(struct rm *rm, struct rm_step *step);
/* after the TPM answered OP_CLIENT successfully (response copied to step->rsp) */
void rm_cmd_saved(struct rm *rm, struct rm_step *step);
int rm_cmd_adopted(struct rm *rm, struct rm_step *step);

#endif
