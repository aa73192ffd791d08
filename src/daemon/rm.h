/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rm.h: the resource manager.  It sits between the connections and the
 * backend and never sees an fd: the scheduler (sched.c) feeds it one client
 * command at a time and carries the TPM commands it asks for to the backend.
 *
 * One client command, one connection close, or one command of the daemon's
 * own (rm_begin_internal) is a *job*.  The RM drives a job as a small
 * planner: each call returns either
 *   RM_SEND  "send step->tpm_cmd to the TPM, then call rm_resume() with the
 *            answer"  (context loads/saves/flushes it needs, then the
 *            client's own command, retries), or
 *   RM_DONE  "the job is over": for a command, the client's response is in
 *            step->rsp[0 .. rsp_len); for a close, the rm_conn is freed.
 * The scheduler runs one job at a time, so the RM's state needs no locks and
 * the event loop never blocks on the TPM.
 *
 * Client-caused problems are never errors of these functions: they become
 * RM_DONE with a TPM-format response carrying TB_RM_LAYER.
 */
#ifndef TB_RM_H
#define TB_RM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h> /* not needed here; sched.c's headers have relied on it */
#include <sys/types.h>

struct backend;
struct policy;
struct profile;
struct tpm_caps;
struct rm;
struct rm_conn;

/*
 * What one connection may hold, from its profile (policy.h).  A field left
 * at RM_LIMIT_INHERIT takes the daemon-wide value of struct rm_params.
 * Per-user and per-cgroup quotas are judged with the asking connection's
 * limits; uid 0 is exempt from the per-user ones (it can open the TPM
 * itself), never from the per-cgroup ones.
 */
#define RM_LIMIT_INHERIT UINT_MAX
struct rm_limits {
	unsigned objects;             /* per connection */
	unsigned sessions;            /* per connection */
	unsigned objects_per_uid;     /* 0: no limit */
	unsigned sessions_per_uid;    /* 0: no limit */
	unsigned abandoned_per_uid;
	unsigned objects_per_cgroup;  /* 0 or inherited (none daemon-wide): no limit */
	unsigned sessions_per_cgroup; /* 0 or inherited (none daemon-wide): no limit */
	/*
	 * > 0: the profile reserves active session slots (rm_params
	 * .reserved_sessions is the sum over profiles): its connections may use
	 * them, nobody else may.
	 */
	unsigned reserved_sessions;
	unsigned nv_write_rate;       /* NV writes per second per uid (burst as many); 0: none */
	bool share_contexts;          /* its saved contexts load for other uids too */
};

/* All fields RM_LIMIT_INHERIT, nothing reserved, no NV rate, no sharing. */
#define RM_LIMITS_INHERIT                                                                          \
	((struct rm_limits){RM_LIMIT_INHERIT, RM_LIMIT_INHERIT, RM_LIMIT_INHERIT, RM_LIMIT_INHERIT, \
			    RM_LIMIT_INHERIT, RM_LIMIT_INHERIT, RM_LIMIT_INHERIT, 0, 0, false})

/* A profile's limits (policy.h), or all inherited for NULL. */
void rm_limits_from_profile(const struct profile *p, struct rm_limits *ret);
/* The active session slots the profiles reserve, together (rm_params.reserved_sessions). */
unsigned rm_policy_reserved(const struct policy *pol);

/* Who is on the other end of a connection (SO_PEERCRED), and its limits. */
struct rm_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char cgroup[256];        /* cgroup v2 path; "": unknown (not counted per cgroup) */
	struct rm_limits limits; /* zeroed (rm_peer{0}): as RM_LIMITS_INHERIT */
	bool has_limits;         /* false: limits ignored, RM_LIMITS_INHERIT */
};

struct rm_params {
	const struct tpm_caps *caps; /* not owned; outlives the rm */
	unsigned max_objects_per_conn;
	unsigned max_sessions_per_conn;
	unsigned max_abandoned_per_uid;
	unsigned max_abandoned;
	unsigned max_objects_per_uid;  /* 0: no limit; uid 0 is exempt */
	unsigned max_sessions_per_uid; /* 0: no limit; UINT_MAX: 3/4 of the TPM's; uid 0 exempt */
	unsigned session_wait_ms;      /* a new session waits this long for a slot */
	unsigned reserved_sessions;    /* active session slots only reserving profiles may use */
	unsigned retry_time_ms;        /* TPM warnings retried with backoff this long */
	/*
	 * The RM's clock, monotonic ns (waits for a session slot, backoff of
	 * TPM warnings); NULL: now_ns() of src/common/util.h.  Tests pass a
	 * fake one.
	 */
	uint64_t (*now_ns)(void *ctx);
	void *clock_ctx; /* not owned; given to now_ns */
	/*
	 * Slots of each kind (objects, sessions) left free for the TPM's other
	 * users: the RM keeps at most slots - reserve loaded once a job is over
	 * (at least 1).
	 */
	unsigned reserve[2];
	/*
	 * Called at the end of every job (no TPM command in flight): what the
	 * broker holds in the TPM (rm_held_handles) may have changed.  NULL:
	 * nobody records it.  Must not start a job.
	 */
	void (*held_changed)(void *ctx);
	void *held_ctx; /* not owned; given to held_changed */
};

enum rm_result {
	RM_DONE = 0,
	RM_SEND = 1,
	/*
	 * The command must wait: no answer yet and no job in progress.  Run it
	 * again with rm_begin() (same command bytes, step->parked_ns and
	 * step->backoffs kept) after step->wait_ms, or earlier if
	 * step->wake_on_slot and rm_slot_gen() moved (a session slot was
	 * freed).  Meanwhile other commands run.
	 */
	RM_WAIT = 2,
};

struct rm_step {
	/* set by the caller before rm_begin()/rm_close(); untouched by the RM */
	uint8_t *rsp;   /* the client's response buffer (owned by the conn) */
	size_t rsp_cap;
	/* set by the RM on RM_SEND */
	const uint8_t *tpm_cmd; /* owned by the rm or the job's command buffer */
	size_t tpm_cmd_len;
	bool client_cmd; /* the client's own command: send at its locality; may be cancelled */
	/* set by the RM on RM_DONE of a command */
	size_t rsp_len;
	/* a parked command (RM_WAIT): the caller keeps these across runs */
	uint64_t parked_ns; /* when it first had to wait (the RM's clock); 0: never */
	unsigned backoffs;  /* TPM warnings retried so far */
	/* set by the RM on RM_WAIT */
	unsigned wait_ms;
	bool wake_on_slot;
};

/*
 * The TPM handles the broker holds now: loaded transient objects (their
 * TPM handles) and every session it tracks, loaded or saved (a saved
 * session keeps its slot among the TPM's active sessions).  At most cap
 * are written; returns how many there are.  What --sweep=own flushes at
 * the next start.
 */
size_t rm_held_handles(const struct rm *rm, uint32_t *out, size_t cap);

/* Bumped whenever a session slot is freed (flush, close, eviction). */
uint64_t rm_slot_gen(const struct rm *rm);

/*
 * Once at start, before serving (after TPM2_Startup and caps_load()): flush
 * transient objects and sessions someone left in the TPM (a broker killed
 * before, on a TPM that outlived it: swtpm, a device).  Synchronous; the
 * count flushed in *ret_flushed.  -errno from the backend, -EIO if the TPM
 * refuses GetCapability.
 */
int rm_sweep(struct backend *be, unsigned *ret_flushed);

/* One synchronous round trip to the TPM (be_transact, or a fake in tests). */
typedef int (*rm_xact_fn)(void *ctx, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap,
			  size_t *ret_len);
struct rm_sweep_result {
	unsigned flushed; /* FlushContext that succeeded */
	unsigned left;    /* transient objects and sessions not flushed: not ours */
};
/*
 * The same with a choice: own == NULL flushes every transient object and
 * session (--sweep=all); otherwise only the handles among own[0 .. n_own)
 * (what an earlier broker recorded holding, rm_held_handles()), and the
 * TPM's other users keep theirs (--sweep=own).
 */
int rm_sweep_handles(rm_xact_fn xact, void *ctx, const uint32_t *own, size_t n_own,
		     struct rm_sweep_result *ret);

int rm_new(const struct rm_params *params, struct rm **ret);
void rm_free(struct rm *rm);

int rm_conn_new(struct rm *rm, const struct rm_peer *peer, struct rm_conn **ret);

/*
 * The connection's profile changed (config reloaded): its limits from its
 * next command on.  What it holds above a lowered limit stays; it only
 * gets no more.
 */
void rm_conn_set_limits(struct rm *rm, struct rm_conn *rc, const struct rm_limits *lim);
/* The reservation changed (config reloaded): see rm_params.reserved_sessions. */
void rm_set_reserved_sessions(struct rm *rm, unsigned n);
/*
 * The daemon-wide limits changed (SIGHUP): take p's max_* fields,
 * session_wait_ms and retry_time_ms (nothing else of p).  Connections'
 * inherited limits follow at their next rm_conn_set_limits().
 */
void rm_set_defaults(struct rm *rm, const struct rm_params *p);

/*
 * Start a job for one validated client command (header checked: tag, size).
 * cmd is the connection's buffer and stays valid and untouched by others
 * until RM_DONE; the RM may rewrite handles in place.
 * Returns RM_SEND / RM_DONE or -errno (internal failure: the caller answers
 * TB_RM_RC(TPM2_RC_FAILURE)).
 */
int rm_begin(struct rm *rm, struct rm_conn *rc, uint8_t *cmd, size_t len, struct rm_step *step);

/*
 * Start a job of the daemon's own: first the housekeeping the TPM is owed
 * (TPM2_Startup after rm_tpm_reset()), then, if cmd != NULL, cmd as it is
 * (no handle translation, no quota, no cure of TPM warnings; cmd stays
 * valid and untouched until RM_DONE), at locality 0.  RM_SEND ... RM_DONE
 * as any job (rm_resume/rm_abort with rc NULL); at RM_DONE the TPM's answer
 * to cmd is in step->rsp[0 .. rsp_len), or a TPM-format error (the failed
 * Startup's answer, or an RM-layer one); cmd == NULL: rsp_len 0 unless the
 * Startup failed.  step->rsp may be NULL with rsp_cap 0: nothing is copied.
 * Never RM_WAIT.
 */
int rm_begin_internal(struct rm *rm, const uint8_t *cmd, size_t len, struct rm_step *step);

/* The TPM answered the last RM_SEND with rsp[0..len). */
int rm_resume(struct rm *rm, struct rm_conn *rc, const uint8_t *rsp, size_t len,
	      struct rm_step *step);

/*
 * The backend failed the last RM_SEND.  err == -ECONNRESET: the link was
 * re-established (and if the TPM lost its state, rm_tpm_reset() was called
 * just before): the RM may re-plan and RM_SEND again (once), e.g. resend a
 * command that names no stale handle.  Any other err: the TPM is out of
 * reach; -EOPNOTSUPP: the backend cannot run it as asked (a locality the
 * Linux device can't set): answer TB_RM_RC(TPM2_RC_LOCALITY).
 * The RM repairs its bookkeeping and ends the job with RM_DONE and
 * an RM-layer error for the client, or RM_SEND if it wants to try again.
 */
int rm_abort(struct rm *rm, struct rm_conn *rc, int err, struct rm_step *step);

/*
 * The connection is gone: flush or forget everything it owned.  Runs as a
 * job like a command (RM_SEND ... RM_DONE); at RM_DONE rc has been freed.
 * step->rsp is unused.
 */
int rm_close(struct rm *rm, struct rm_conn *rc, struct rm_step *step);

/*
 * The TPM was reset underneath (power cycle, simulator restarted): every
 * loaded or saved context is gone.  Drop every virtual handle (later uses
 * of them get TPM-format errors) and mark that the TPM needs
 * TPM2_Startup(TPM_SU_CLEAR).  The RM plans that Startup itself: the first
 * TPM command of whatever job runs next (command, close, internal) is the
 * Startup, an RM_SEND of the RM's own command (client_cmd false: locality
 * 0, never the client's).  A job the RM answers without the TPM (a stale
 * handle, say) leaves it to the next one.  TPM_RC_SUCCESS or
 * TPM_RC_INITIALIZE clears the mark and counts rm_stats.tpm_startups; any
 * other answer ends the job with it (a client command gets the TPM's rc in
 * its response; a close job forgets what its client owned) and keeps the
 * mark for the next job.  May be called while a job is between RM_SEND and
 * its answer; rm_abort(-ECONNRESET) follows for that job and plans it again,
 * the Startup first.  The caller no longer runs be_startup() itself.
 */
void rm_tpm_reset(struct rm *rm);
/* How many times rm_tpm_reset() ran: a change means the TPM was reset (log-first measurement). */
uint64_t rm_reset_gen(const struct rm *rm);

/* Counters for `tpmbroker status`. */
struct rm_stats {
	uint64_t commands;
	uint64_t context_saves;     /* by the RM to swap out (clients' own not counted) */
	uint64_t context_loads;     /* by the RM to swap in */
	uint64_t flushes;           /* by the RM: evictions, closes, abandoned sessions */
	uint64_t evictions;         /* contexts swapped out to make room */
	uint64_t rm_errors;         /* client commands answered by the RM itself */
	uint64_t retries;           /* TPM warnings cured by eviction or resending */
	uint64_t resyncs;           /* transient handles re-read after EXTENSIVE commands */
	uint64_t takeovers;         /* abandoned sessions loaded by another connection */
	uint64_t abandoned_flushed; /* abandoned sessions flushed (bounds, TPM full) */
	uint64_t cached;            /* ReadPublic answered from the broker's copy */
	uint64_t gap_refreshes;     /* saved sessions loaded and saved again (context gap) */
	uint64_t sessions_evicted;  /* sessions flushed for good for others (fair share) */
	uint64_t sessions_lost;     /* sessions flushed for good: context gap, refresh failed */
	uint64_t session_waits;     /* new sessions that had to wait for a slot */
	uint64_t session_wait_timeouts; /* ... and got none in time */
	uint64_t quota_refusals;    /* commands refused by a per-connection or per-user quota */
	uint64_t quota_waits;       /* new sessions that waited for room in a per-user/cgroup quota */
	uint64_t nv_rate_waits;     /* NV writes held back by their profile's nv-write-rate */
	uint64_t foreign_blobs;     /* ContextLoads of another uid's saved context refused */
	uint64_t backoff_retries;   /* TPM warnings (RETRY, TESTING...) retried after a pause */
	uint64_t tpm_startups;      /* TPM2_Startup after rm_tpm_reset() that succeeded */
	uint64_t slots_lowered;     /* OBJECT/SESSION_MEMORY with room by the RM's count:
				     * another user of the TPM holds slots */
	uint64_t trims;             /* evictions after a job to give the reserve back */
	/* now */
	unsigned objects;         /* transient objects held by clients */
	unsigned objects_loaded;  /* of which in the TPM */
	unsigned sessions;        /* sessions tracked (loaded, saved, abandoned) */
	unsigned sessions_loaded; /* of which in the TPM's session slots */
	unsigned abandoned;       /* client-saved sessions whose client left */
	unsigned slots[2];        /* object / session slots the RM uses now (reserve, learnt) */
};
void rm_get_stats(const struct rm *rm, struct rm_stats *ret);

/* What a client holds, for `tpmbroker status` (status.c renders it). */
enum rm_handle_state { RM_H_LOADED, RM_H_SAVED, RM_H_CLIENT_SAVED };
struct rm_handle_info {
	uint32_t handle;      /* the client's (virtual) handle */
	uint32_t tpm_handle;  /* object loaded in the TPM: its TPM handle; else 0 */
	bool session;
	enum rm_handle_state state;
	uid_t uid;            /* owner's uid (abandoned sessions) */
};
typedef void (*rm_handle_fn)(const struct rm_handle_info *hi, void *ctx);
/* A connection's objects first, then its sessions, in table order. */
void rm_conn_handles(const struct rm *rm, const struct rm_conn *rc, rm_handle_fn fn, void *ctx);
/* Abandoned sessions (client-saved, client gone), oldest first. */
void rm_abandoned_handles(const struct rm *rm, rm_handle_fn fn, void *ctx);

#endif
