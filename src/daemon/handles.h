/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * handles.h: the resource manager's tables.  One entry per transient object
 * or session a client holds, whether loaded in the TPM or saved by the
 * broker; each entry embeds its saved context (a marshalled TPMS_CONTEXT),
 * so swapping allocates nothing.  Freed entries go back to a pool.
 *
 *   objects   handle = virtual (per owner, 0x80xxxxxx, handed out as a TPM
 *             hands out slots: the lowest free value), phys = the TPM's
 *             while loaded.  An object's context may be loaded any number
 *             of times, so once saved it is swapped out by FlushContext
 *             alone, until it changes (sequence objects change when used).
 *   sessions  handle = the TPM's (it assigns them and a ContextLoad of a
 *             session returns the same one).  A saved session context loads
 *             once: every swap-out is a ContextSave.
 *
 * Invariant: an entry that is not loaded has a valid blob.
 *
 * Loaded entries of each kind sit in an LRU queue (head = least recently
 * used) shared by all owners: eviction picks across connections.
 */
#ifndef TB_HANDLES_H
#define TB_HANDLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

enum ent_kind {
	ENT_OBJECT = 0,
	ENT_SESSION = 1,
};

/*
 * Handle ranges.  Not tss2's TPM2_TRANSIENT_FIRST & co: they shift 0x80 into
 * the sign bit of an int (undefined behaviour UBSan reports).
 */
#define ENT_TRANSIENT_FIRST 0x80000000u
#define ENT_TRANSIENT_LAST 0x80FFFFFFu
#define ENT_PERSISTENT_FIRST 0x81000000u

/* savedHandle values of object contexts (TPM 2.0 Part 3, ContextSave) */
#define ENT_SAVED_SEQUENCE 0x80000001u
/* Room for an object's ReadPublic response (an RSA-4096 key needs ~800 bytes). */
#define ENT_PUB_MAX 1024u

struct rm_ent;
TAILQ_HEAD(ent_q, rm_ent);

/*
 * What the connections of one uid, or of one cgroup, hold together (the
 * per-user and per-cgroup quotas).
 */
struct ent_acct {
	LIST_ENTRY(ent_acct) link;
	uid_t uid;
	char *cgroup;  /* owned; NULL: a uid's account */
	unsigned refs; /* connections of this uid / cgroup */
	unsigned n[2]; /* entries of each kind they hold */
	uint64_t nv_tat; /* uid: NV write rate, when its bucket is full again (ns; GCRA) */
};

/* Sessions of an owner the broker flushed for others (a small ring). */
#define ENT_TOMBS 16u

/* What a connection holds; embedded in struct rm_conn. */
struct ent_owner {
	struct ent_q objs; /* its transient objects, oldest first */
	struct ent_q sess; /* its sessions, oldest first */
	unsigned n_objs;
	unsigned n_sess;
	/*
	 * Virtual handles below this are never handed out again: the TPM lost
	 * those objects behind the client's back (reset, Clear, a context that
	 * no longer loads), and the client may still hold the values.
	 */
	uint32_t vh_floor;
	uid_t uid;
	struct ent_acct *acct; /* its uid's totals; NULL: none kept; not owned */
	struct ent_acct *cg;   /* its cgroup's totals; NULL: none (cgroup unknown); not owned */
	uint32_t tomb[ENT_TOMBS]; /* session handles evicted for others; 0: none */
	unsigned n_tomb;          /* next slot of tomb[] */
	uint64_t turn;      /* clock value of its current (last) command */
	uint64_t prev_turn; /* of the one before; 0: none */
	uint64_t cmds;      /* commands it issued */
};

struct rm_ent {
	TAILQ_ENTRY(rm_ent) link; /* owner's objs/sess, the abandoned queue, or the pool */
	TAILQ_ENTRY(rm_ent) lru;  /* t->lru[kind] while loaded */
	TAILQ_ENTRY(rm_ent) all;  /* sessions: t->sessions */
	struct ent_owner *owner;  /* not owned; NULL: an abandoned session (or unattached) */
	uid_t uid;                /* of the owner; kept while abandoned */
	uint32_t handle;          /* objects: virtual; sessions: the TPM's */
	uint32_t phys;            /* objects while loaded: the TPM's handle */
	uint64_t pin;             /* id of the job that needs it loaded */
	uint64_t used;            /* turn of the last command that needed it */
	uint64_t used_cmd;        /* owner's cmds then */
	uint64_t seq;             /* sessions: the TPM's context sequence of blob */
	uint8_t client_md[32];    /* client-saved session: SHA-256 of the blob it was given */
	uint8_t kind;             /* enum ent_kind */
	bool attached;            /* in an owner's list or the abandoned queue */
	bool loaded;
	bool blob_valid;   /* blob loads and is current */
	bool sequence;     /* a sequence object: its state changes when used */
	bool noswap;       /* ContextSave failed: stays loaded until flushed */
	bool client_saved; /* session the client ContextSaved: it holds blob */
	bool shared;       /* ... and its saver's profile lets other uids load it */
	uint16_t blob_len;
	uint16_t pub_len; /* objects: cached ReadPublic response, 0 if none */
	/* marshalled TPMS_CONTEXT (t->blob_cap bytes), then the ReadPublic response */
	uint8_t blob[];
};

struct ent_table {
	struct ent_q pool;        /* free entries, reused before malloc */
	unsigned n_pool;
	size_t blob_cap;          /* bytes of rm_ent.blob */
	struct ent_q lru[2];      /* loaded entries per kind, LRU first */
	unsigned n_loaded[2];
	struct ent_q sessions;    /* every session the broker tracks (TPM-active) */
	unsigned n_sessions;
	struct ent_q abandoned;   /* client-saved sessions whose client left, oldest first */
	unsigned n_abandoned;
	unsigned n_objects;
	uint64_t sessions_freed; /* tracked sessions freed so far (slots given back) */
};

void ent_table_init(struct ent_table *t, size_t blob_cap);
void ent_table_free(struct ent_table *t);
void ent_owner_init(struct ent_owner *o, uid_t uid);

/* An unattached, unloaded entry of kind; -ENOMEM. */
int ent_new(struct ent_table *t, enum ent_kind kind, struct rm_ent **ret);
/* Unlink e from every list and return it to the pool. */
void ent_free(struct ent_table *t, struct rm_ent *e);

/*
 * Give e to owner.  Objects get the lowest virtual handle the owner does not
 * use, from its vh_floor up, as a TPM reuses the slot of a flushed object:
 * the client flushed it, so it knows the value is free.  A value only ever
 * names the owner's own objects (ent_find() looks in the owner's list), so a
 * stale handle of one connection never reaches another's.  Sessions keep
 * handle (the TPM's).
 */
void ent_attach(struct ent_table *t, struct rm_ent *e, struct ent_owner *owner, uint32_t handle);

void ent_set_loaded(struct ent_table *t, struct rm_ent *e, uint32_t phys);
void ent_set_unloaded(struct ent_table *t, struct rm_ent *e);
/* Most recently used now. */
void ent_touch(struct ent_table *t, struct rm_ent *e);
/*
 * Keep a context (a marshalled TPMS_CONTEXT): its sequence, and for an
 * object whether it is a sequence object.  0; -EBADMSG if it is not a
 * context, -EMSGSIZE if it does not fit.
 */
int ent_set_blob(struct ent_table *t, struct rm_ent *e, const uint8_t *blob, size_t len);

/*
 * An object's ReadPublic response never changes while it exists: keep it
 * (answers ReadPublic without loading the object).  ent_pub() is NULL if
 * there is none.
 */
void ent_set_pub(struct ent_table *t, struct rm_ent *e, const uint8_t *rsp, size_t len);
const uint8_t *ent_pub(const struct ent_table *t, const struct rm_ent *e);

/*
 * The loaded entry of kind to evict for a command of asker, not one job
 * needs; NULL if none.  Clients take turns (round robin), so while several
 * are busy their contexts are used cyclically, where least-recently-used
 * always evicts the very next one needed.  So:
 *  1. idle entries first, least recently used first: the owner issued no
 *     command since the asker's previous one, or the entry was not needed
 *     by its owner's last ENT_DORMANT commands;
 *  2. else the entry of the owner whose turn comes back last: the one that
 *     ran most recently (the asker itself: as of its previous command);
 *     among its entries the most recently used (it cycles through them),
 *     among the asker's own the least recently used (locality).
 * With no history (asker->prev_turn == 0) plain LRU; one busy client alone
 * gets LRU too (everything else is idle).
 */
#define ENT_DORMANT 8u
struct rm_ent *ent_victim(struct ent_table *t, enum ent_kind kind, uint64_t job,
			  const struct ent_owner *asker);

/* Owner's entry of kind with that (virtual or session) handle, or NULL. */
struct rm_ent *ent_find(const struct ent_owner *o, enum ent_kind kind, uint32_t handle);
/* Any tracked session with that handle, or NULL. */
struct rm_ent *ent_find_session(const struct ent_table *t, uint32_t handle);
/* The loaded object at TPM handle phys, or NULL. */
struct rm_ent *ent_find_phys(const struct ent_table *t, uint32_t phys);

/* Remember that o's session h was flushed for others / ask whether it was. */
void ent_owner_tomb(struct ent_owner *o, uint32_t h);
bool ent_owner_is_tomb(const struct ent_owner *o, uint32_t h);

/*
 * The TPM lost e behind its owner's back (it flushed it, or its context no
 * longer loads): free it, and never hand its virtual handle out again to
 * that owner (vh_floor).
 */
void ent_drop(struct ent_table *t, struct rm_ent *e);
/* Forget everything owner holds, as ent_drop() (TPM reset; or the TPM is unreachable). */
void ent_owner_drop(struct ent_table *t, struct ent_owner *o);

#endif
