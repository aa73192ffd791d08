/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rm_int.h: the state the resource manager's files share (the job, the
 * rm) and their interfaces, layer by layer (the picture below the
 * structures).  Not for other modules: they use rm.h.
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

/*
 * Where the job is: the transition table atop rm.c.  A job is planned in
 * its home state (COMMAND, CLOSE or INTERNAL: j->home, fixed for its life)
 * and waits for the TPM in one of the others (j->state); every answer takes
 * it back home to be planned again, or ends it (IDLE).
 */
enum rm_state {
	RS_IDLE = 0, /* no job */
	/* home */
	RS_COMMAND,  /* a client's command */
	RS_CLOSE,    /* its connection left: flush what it owned */
	RS_INTERNAL, /* the daemon's own (rm_begin_internal) */
	/* waiting for the TPM */
	RS_STARTUP,  /* TPM2_Startup(CLEAR) owed since rm_tpm_reset() */
	RS_SAVE,     /* ContextSave of an eviction victim or a refreshed session (target) */
	RS_EVICT,    /* FlushContext of a victim whose context is saved (target) */
	RS_LOAD,     /* ContextLoad of an entry the command needs (target) */
	RS_FLUSH,    /* FlushContext of target, freed then (close, trim, lost, fair share) */
	RS_REFRESH,  /* ContextLoad of a saved session near the context gap (then RS_SAVE) */
	RS_CLIENT,   /* the client's command, handles translated */
	RS_RESYNC,   /* GetCapability(transient handles) after an EXTENSIVE command */
	RS_OWN,      /* the internal job's command, as the daemon gave it */
};

#define RM_MAX_PINS (RMP_MAX_HANDLES + RMP_MAX_SESSIONS)
/* Not RM_DONE, RM_SEND nor RM_WAIT: "go on with the command as any other" */
#define RM_PASS 3
/* A helper set the job up (or cured something): the planner plans it (rm_plan) */
#define RM_REPLAN 4
/* Cures (eviction, resend) tried for one command before the TPM's answer stands. */
#define RM_MAX_FIXES 8u

struct rm_job {
	enum rm_state home;  /* RS_COMMAND, RS_CLOSE or RS_INTERNAL; RS_IDLE: no job */
	enum rm_state state; /* what it waits for from the TPM; home while planned */
	struct rm_conn *rc;  /* not owned; NULL: internal job */
	uint64_t id;        /* entries it needs carry pin == id */
	uint64_t reset_gen; /* rm->reset_gen when planned */
	uint8_t *cmd;       /* the client's command (its conn's buffer); not owned */
	size_t len;
	const uint8_t *own_cmd; /* RS_INTERNAL: the daemon's command (len bytes), or NULL; not owned */
	struct rmp_cmd pc;
	struct rm_ent *hent[RMP_MAX_HANDLES];  /* entry named by handle i; not owned */
	struct rm_ent *sent[RMP_MAX_SESSIONS]; /* entry of auth session i; not owned */
	struct rm_ent *pins[RM_MAX_PINS];      /* to be loaded before the command; not owned */
	unsigned n_pins;
	unsigned want[2];      /* free slots per kind the command itself needs */
	struct rm_ent *fresh;  /* owned: becomes the response handle's entry */
	struct rm_ent *target; /* what the TPM command in flight is about; not owned */
	/* the entry the client's FlushContext or ContextSave names, or the session
	 * its ContextLoad takes over (answered by the RM); NULL: none; not owned */
	struct rm_ent *subject;
	unsigned fixes;        /* cures tried (RM_MAX_FIXES) */
	bool resent;           /* the one resend after a reconnect is used */
	bool replan;           /* RS_FLUSH of a lost session: plan the command again after */
	bool offline;          /* close job: the TPM is out of reach, just forget */
	bool refreshing;       /* the RS_SAVE in flight is a gap refresh */
	bool trimming;         /* the client is answered: evicting down to rm->slots (rm_trim) */
	bool nv_charged;       /* the command took its NV write token (not again if run again) */
	bool param_patched;    /* FlushContext's parameter holds a TPM handle ... */
	uint32_t param_h;      /* ... instead of this, the client's */
};

struct rm_conn {
	TAILQ_ENTRY(rm_conn) entry;
	struct rm_peer peer;
	struct rm_limits lim; /* its profile's, RM_LIMIT_INHERIT resolved (rm_limits_resolve) */
	struct ent_owner own;
};

/* A context blob the broker handed to a client (ContextSave of an object): who may load it. */
struct rm_bind {
	uint8_t md[32]; /* SHA-256 of the TPMS_CONTEXT the client was given */
	uid_t uid;      /* the saver's */
	bool share;     /* the saver's profile shares its contexts */
	uint64_t seq;   /* age, for the per-uid bound */
};
/* Bindings kept per uid (the oldest forgotten first): see rmbind.c. */
#define RM_BINDS_PER_UID 256u

/* Refresh a saved session once the TPM's context counter is this far ahead of it. */
#define RM_GAP_REFRESH(gap_max) ((gap_max) - (gap_max) / 4u)

struct rm {
	struct rm_params params;
	struct rm_stats stats;
	/*
	 * Slots of each kind the RM fills: the TPM's less --reserve-slots
	 * (slots_max), lowered for RM_SLOTS_LOW_MS when the TPM says it is full
	 * before the RM's count does (another user holds the rest: rm_slots_learn).
	 */
	unsigned slots[2];
	unsigned slots_max[2];
	uint64_t slots_low_until[2]; /* rm_now() when slots goes back to slots_max; 0: not lowered */
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
	LIST_HEAD(, ent_acct) accts; /* per-uid totals (and NV write buckets) */
	LIST_HEAD(, ent_acct) cgaccts; /* per-cgroup totals */
	unsigned reserved;      /* active session slots for reserving profiles only */
	struct rm_bind *binds;  /* owned; object blobs handed out, n_binds of them */
	size_t n_binds;
	size_t cap_binds;
	uint64_t bind_seq;
	TPMS_CAPABILITY_DATA capd;   /* GetCapability lists, read or answered */
	uint8_t scratch[TB_BUF_MAX]; /* the RM's own commands */
};

/*
 * The RM's files depend downwards only:
 *
 *   rm.c        the planner: rm_begin/rm_resume/rm_abort/rm_close, rm_plan,
 *      |        the TPM's answers; the only caller of rm_plan()
 *      v
 *   rmcmd.c  rmfix.c  rmsess.c  rmconn.c    helpers: intercepted commands,
 *      |                                     the warnings' table, sessions at
 *      |                                     scale, connections and resets;
 *      |                                     never call each other nor rm.c:
 *      |                                     they return RM_REPLAN, RM_PASS or
 *      v                                     a fix for the planner to act on
 *   rmstep.c    building blocks: send the RM's own commands, evict, reply,
 *      |        pin, park, quotas, the clock
 *      v
 *   handles.c sessions.c tpmcmd.c rmparse.c caps.c ../common
 */

/* ---- rmstep.c: building blocks ---- */
uint64_t rm_now(const struct rm *rm);
/* The job is over (RM_DONE); the client's response is in step->rsp. */
int rm_done(struct rm *rm);
int rm_reply_len(struct rm *rm, struct rm_step *step, size_t len);
int rm_reply_rc(struct rm *rm, struct rm_step *step, uint32_t rc);
void rm_pin(struct rm *rm, struct rm_ent *e);
/* Send the RM's own command in rm->scratch[0..len): the job waits in state. */
int rm_send(struct rm *rm, struct rm_step *step, enum rm_state state, struct rm_ent *target,
	    size_t len);
/* FlushContext of e, which is freed when the TPM answers (RS_FLUSH). */
int rm_send_flush(struct rm *rm, struct rm_ent *e, struct rm_step *step);
/* ContextLoad of e's saved context, waiting in state (RS_LOAD, RS_REFRESH). */
int rm_send_load(struct rm *rm, struct rm_ent *e, struct rm_step *step, enum rm_state state);
/* What to evict for the job in progress (ent_victim()), or NULL. */
struct rm_ent *rm_victim(struct rm *rm, enum ent_kind kind);
/* Make room: save (if need be) and flush v. */
int rm_evict(struct rm *rm, struct rm_ent *v, struct rm_step *step);
/* The command as the client sent it (entries may be gone: use no pointers). */
void rm_restore(struct rm_job *j);
/* End the job without an answer: RM_WAIT (rm.h). */
int rm_park(struct rm *rm, struct rm_step *step, unsigned wait_ms, bool on_slot);
/* ms since the command was first parked (0: never). */
unsigned rm_parked_ms(const struct rm *rm, const struct rm_step *step);
/* A TPM warning: park the command for a pause that doubles, within params.retry_time_ms. */
int rm_backoff(struct rm *rm, struct rm_step *step);
/* Which quota one more entry of kind would break. */
enum rm_quota {
	RQ_OK = 0,
	RQ_CONN,   /* the connection's own */
	RQ_UID,    /* its uid's (all its connections) */
	RQ_CGROUP, /* its cgroup's */
};
/* The quota one more entry of kind would put rc over; refusals are counted by the caller. */
enum rm_quota rm_quota_check(const struct rm *rm, const struct rm_conn *rc, enum ent_kind kind);
/* Would one more entry of kind put rc over a quota?  Counts a refusal. */
bool rm_quota_full(struct rm *rm, const struct rm_conn *rc, enum ent_kind kind);
/* Active session slots rc may count on: the TPM's, less what others reserve. */
unsigned rm_active_cap(const struct rm *rm, const struct rm_conn *rc);
/* rc's limits with RM_LIMIT_INHERIT replaced by the daemon-wide values. */
void rm_limits_resolve(const struct rm *rm, const struct rm_limits *in, struct rm_limits *out);
/* e's session context was just saved (e->seq set): the context counter moved. */
void rm_session_saved(struct rm *rm, struct rm_ent *e);

/* How long a slot count learnt from OBJECT_MEMORY / SESSION_MEMORY holds. */
#define RM_SLOTS_LOW_MS 10000u
/*
 * The TPM answered OBJECT_MEMORY / SESSION_MEMORY (kind): if the RM's count
 * had room, the TPM's other users hold the rest: use no more than is loaded
 * now (at least 1) for RM_SLOTS_LOW_MS.
 */
void rm_slots_learn(struct rm *rm, enum ent_kind kind);
/* At a job's start: a lowered slot count whose time is up goes back up. */
void rm_slots_check(struct rm *rm);
/* ---- rmquota.c: per-profile limits the planner applies (NV write rate) ---- */
/*
 * An NV-writing command of a connection whose profile has nv-write-rate:
 * RM_PASS (a token taken), or RM_WAIT until the uid's bucket has one.
 */
int rm_nv_rate(struct rm *rm, struct rm_step *step);
bool rm_cc_writes_nv(uint32_t cc);
/* Free uid and cgroup accounts nobody uses (and whose NV bucket is full). */
void rm_accts_gc(struct rm *rm);

/* ---- rmbind.c: saved contexts bound to their saver ---- */
/* The client of rc was given the context blob[0..len) of an object: remember whose it is. */
int rm_bind_saved(struct rm *rm, const struct rm_conn *rc, const uint8_t *blob, size_t len);
/* May rc load this object context?  false: another uid saved it and does not share it. */
bool rm_bind_may_load(struct rm *rm, const struct rm_conn *rc, const uint8_t *blob, size_t len);

/* ---- rmconn.c: connections ---- */
/* The close job's next step: RM_SEND (a flush) or RM_DONE (rc freed). */
int rm_close_next(struct rm *rm, struct rm_step *step);
/* rc holds nothing any more: free it. */
void rm_conn_free(struct rm *rm, struct rm_conn *rc);

/* ---- rmfix.c: TPM warnings and their cures (rm_fixes[]) ---- */
enum rm_fix {
	FIX_NONE = 0,      /* not a warning the RM cures, or out of tries: the answer stands */
	FIX_EVICT_OBJECT,  /* swap a loaded object out (*ret_victim) */
	FIX_EVICT_SESSION, /* swap a loaded session out (*ret_victim) */
	FIX_SESSION_ROOM,  /* free an active session slot, or wait for one (rmsess.c) */
	FIX_GAP,           /* refresh the oldest saved session (rmsess.c) */
	FIX_RESEND,        /* send it again at once */
	FIX_BACKOFF,       /* send it again after a pause (1, 2, 4 ... 256 ms); others go first */
};
bool rm_fix_known(uint32_t rc);
/*
 * The cure for rc in answer to the job's command: counted as a try, the
 * victim chosen for FIX_EVICT_*.  own: the answer was to one of the RM's own
 * commands (nothing happened): only a resend, a pause or the gap cure.
 */
enum rm_fix rm_fix_pick(struct rm *rm, uint32_t rc, bool own, struct rm_ent **ret_victim);

/*
 * ---- rmsess.c: sessions at scale ----  Each returns RM_SEND/RM_DONE/RM_WAIT,
 * or RM_PASS when it has nothing to do.
 */
/* Every active session slot is taken: free one (abandoned, fair share) or wait. */
int rm_session_room(struct rm *rm, struct rm_step *step);
/*
 * A new session of the job's connection: RM_PASS within its quotas; over
 * its own, refused; over its uid's or cgroup's, another connection of the
 * same uid (cgroup) above its share loses its oldest session, or the
 * command waits and is then refused.
 */
int rm_session_quota(struct rm *rm, struct rm_step *step);
/* Refresh the oldest saved session if the context counter nears the gap. */
int rm_gap_step(struct rm *rm, struct rm_step *step);
/* The TPM answered TPM_RC_CONTEXT_GAP: refresh (or flush) the oldest saved session. */
int rm_gap_cure(struct rm *rm, struct rm_step *step);
/*
 * Flush session v for good; its owner remembers it (TPM_RC_EXPIRED later).
 * fair: for another client (fair share); else its context could not be kept
 * (a refresh failed, or no slot to refresh it in against the context gap).
 */
int rm_evict_session(struct rm *rm, struct rm_ent *v, bool fair, struct rm_step *step);

/*
 * ---- rmcmd.c: the commands the RM answers or rewrites itself ----  Each
 * returns RM_DONE (answered), RM_REPLAN (set up: plan it), RM_PASS ("not
 * mine: handle as any command") or -errno.
 */
int rm_cmd_flush(struct rm *rm, struct rm_step *step);
int rm_cmd_context_save(struct rm *rm, struct rm_step *step);
int rm_cmd_context_load(struct rm *rm, struct rm_step *step);
int rm_cmd_getcap(struct rm *rm, struct rm_step *step);
int rm_cmd_read_public(struct rm *rm, struct rm_step *step);
/* after the TPM answered the client's ContextSave successfully (response in step->rsp) */
void rm_cmd_saved(struct rm *rm, struct rm_step *step);
/* the session to take over is loaded: answer the client's ContextLoad (RM_DONE) */
int rm_cmd_adopted(struct rm *rm, struct rm_step *step);

#endif
