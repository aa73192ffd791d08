/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmsess.c: sessions at scale.  A TPM holds 64 active sessions in all
 * (loaded or saved), and a saved session stops its context counter from
 * running more than TPM_PT_CONTEXT_GAP_MAX ahead of it.  No session gets a
 * lease: one may wait minutes for a smart card and must still work.
 *
 * Context gap.  Every session context the broker keeps (swapped out by it,
 * or saved by its client, who holds the blob) carries the TPM's sequence.
 * When the newest sequence seen gets 3/4 of the gap ahead of the oldest
 * saved session, that session is refreshed: ContextLoad, then ContextSave,
 * which gives it the newest sequence.  A client-saved session is matched on
 * ContextLoad by the digest of the blob its client was given, so the
 * client's old blob still loads it (sess_may_adopt()).  If the TPM answers
 * TPM_RC_CONTEXT_GAP all the same (sessions saved behind the broker's back),
 * the oldest saved session is refreshed, or, with no session slot free to
 * do that, flushed for good, and the command is sent again.
 *
 * Active sessions full.  When a new session finds the 64 taken (by the
 * broker's count, or TPM_RC_SESSION_HANDLES from the TPM):
 *   1. the oldest abandoned session (client-saved, its client gone) goes;
 *   2. else a session taken from a holder above its fair share, shared
 *      hierarchically: first between users (uids): the uid holding the
 *      most, if it holds more than max(1, active slots / uids holding
 *      sessions, the asker's counted) and more than the asker's uid, loses
 *      the oldest session of its heaviest connection; else within the
 *      asker's uid: its connection holding the most, if above max(1, what
 *      the uid holds / its connections holding sessions, the asker
 *      counted) and above the asker, loses its oldest.  So opening more
 *      connections buys a user no more of the TPM.  The owner's later use
 *      of a session taken gets TPM_RC_EXPIRED in the RM layer;
 *   3. else the command waits (RM_WAIT) for a slot to be freed, at most
 *      params.session_wait_ms, while other clients' commands run; then it
 *      fails with TPM_RC_SESSION_HANDLES in the RM layer.
 * "Active slots" are the TPM's less the slots reserving profiles
 * (reserved-sessions) hold free: those are never given to the others.
 *
 * Quotas come first (rm_session_quota): over its own per-connection quota
 * a new session is refused at once; over its uid's or cgroup's, a
 * connection of that uid (cgroup) holding no session yet takes the oldest
 * session of the heaviest one above its share of the quota (max(1, quota /
 * connections holding sessions, the asker counted)); otherwise it waits,
 * at most params.session_wait_ms, for a session to end (any slot freed
 * wakes it to be judged again), then gets TPM_RC_SESSION_HANDLES.  Only a
 * newcomer takes: a connection that holds sessions already goes on with
 * them, and connections never take sessions back and forth.
 */
#include <errno.h>
#include <inttypes.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "rm_int.h"
#include "sessions.h"

uint64_t
rm_slot_gen(const struct rm *rm)
{
	return rm->tab.sessions_freed;
}

int
rm_evict_session(struct rm *rm, struct rm_ent *v, bool fair, struct rm_step *step)
{
	if (v->owner != NULL)
		ent_owner_tomb(v->owner, v->handle);
	if (fair)
		rm->stats.sessions_evicted++;
	else
		rm->stats.sessions_lost++;
	log_debug("rm: session 0x%08" PRIx32 " (uid %lld) flushed %s", v->handle,
		  (long long)v->uid, fair ? "for another client" : "(its context is lost)");
	return rm_send_flush(rm, v, step);
}

/* The oldest session of rc that the job does not need, or NULL. */
static struct rm_ent *
sess_oldest_of(struct rm *rm, const struct rm_conn *rc)
{
	struct rm_ent *e;

	if (rc == NULL)
		return NULL;
	TAILQ_FOREACH(e, &rc->own.sess, link) {
		if (e->pin != rm->job.id)
			return e; /* oldest first */
	}
	return NULL;
}

/*
 * Among the connections that share acct (a uid's or a cgroup's account;
 * the asker excepted), the one holding the most sessions, if it holds more
 * than its share of total: max(1, total / connections holding sessions,
 * the asker counted); NULL if none does.
 */
static const struct rm_conn *
sess_heavy_conn(const struct rm *rm, const struct rm_conn *asker, const struct ent_acct *acct,
		unsigned total)
{
	const struct rm_conn *rc, *top = NULL;
	unsigned holders = asker->own.n_sess == 0 ? 1 : 0;

	TAILQ_FOREACH(rc, &rm->conns, entry) {
		if (rc->own.n_sess == 0 || (rc->own.acct != acct && rc->own.cg != acct))
			continue;
		holders++;
		if (rc != asker && (top == NULL || rc->own.n_sess > top->own.n_sess))
			top = rc;
	}
	if (top == NULL || top->own.n_sess <= MAX(1u, total / MAX(holders, 1u)))
		return NULL;
	return top;
}

/*
 * The victim for a new session when the active slots are full, shared
 * hierarchically: first between users (the uid holding the most, above
 * its fair share of the slots the asker may count on and above the
 * asker's uid: its heaviest connection's oldest session), then within the
 * asker's own uid (its heaviest connection above its share of what the
 * uid holds, and above the asker).  NULL: nobody above a share.
 */
static struct rm_ent *
sess_fair_victim(struct rm *rm, const struct rm_conn *asker)
{
	const struct ent_acct *mine = asker->own.acct, *top = NULL, *a;
	const struct rm_conn *rc, *heavy = NULL;
	unsigned users = mine == NULL || mine->n[ENT_SESSION] == 0 ? 1 : 0, fair;
	unsigned my_n = mine != NULL ? mine->n[ENT_SESSION] : asker->own.n_sess;

	LIST_FOREACH(a, &rm->accts, link) {
		if (a->n[ENT_SESSION] == 0)
			continue;
		users++;
		if (a != mine && (top == NULL || a->n[ENT_SESSION] > top->n[ENT_SESSION]))
			top = a;
	}
	fair = MAX(1u, rm_active_cap(rm, asker) / MAX(users, 1u));
	if (top != NULL && top->n[ENT_SESSION] > fair && top->n[ENT_SESSION] > my_n) {
		TAILQ_FOREACH(rc, &rm->conns, entry) {
			if (rc->own.acct == top &&
			    (heavy == NULL || rc->own.n_sess > heavy->own.n_sess))
				heavy = rc;
		}
		return sess_oldest_of(rm, heavy);
	}
	if (mine == NULL)
		return NULL;
	heavy = sess_heavy_conn(rm, asker, mine, mine->n[ENT_SESSION]);
	if (heavy == NULL || heavy->own.n_sess <= asker->own.n_sess)
		return NULL;
	return sess_oldest_of(rm, heavy);
}

int
rm_session_room(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *v;
	unsigned waited, limit = rm->params.session_wait_ms;

	if ((v = sess_oldest_abandoned(&rm->tab)) != NULL) {
		rm->stats.abandoned_flushed++;
		return rm_send_flush(rm, v, step);
	}
	if (j->home != RS_COMMAND)
		return RM_PASS; /* only a client's new session may take another's slot or wait */
	if ((v = sess_fair_victim(rm, j->rc)) != NULL)
		return rm_evict_session(rm, v, true, step);
	waited = rm_parked_ms(rm, step);
	if (waited >= limit) {
		if (step->parked_ns != 0 && limit > 0)
			rm->stats.session_wait_timeouts++;
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SESSION_HANDLES));
	}
	if (step->parked_ns == 0)
		rm->stats.session_waits++;
	return rm_park(rm, step, limit - waited, true);
}

int
rm_session_quota(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	const struct rm_conn *rc = j->rc, *heavy;
	enum rm_quota q = rm_quota_check(rm, rc, ENT_SESSION);
	unsigned waited, limit = rm->params.session_wait_ms;
	struct rm_ent *v;

	if (q == RQ_OK)
		return RM_PASS;
	if (q != RQ_CONN && rc->own.n_sess == 0) {
		/* a newcomer: a connection of the same uid (cgroup) above its share gives way */
		const struct ent_acct *a = q == RQ_UID ? rc->own.acct : rc->own.cg;
		unsigned quota = q == RQ_UID ? rc->lim.sessions_per_uid : rc->lim.sessions_per_cgroup;
		if ((heavy = sess_heavy_conn(rm, rc, a, quota)) != NULL &&
		    (v = sess_oldest_of(rm, heavy)) != NULL) {
			j->replan = true; /* judged again once the slot is given back */
			return rm_evict_session(rm, v, true, step);
		}
	}
	waited = rm_parked_ms(rm, step);
	if (q == RQ_CONN || waited >= limit) {
		if (q != RQ_CONN && step->parked_ns != 0 && limit > 0)
			rm->stats.session_wait_timeouts++;
		rm->stats.quota_refusals++;
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SESSION_HANDLES));
	}
	/* a session of the same uid (cgroup) may end meanwhile */
	if (step->parked_ns == 0)
		rm->stats.quota_waits++;
	return rm_park(rm, step, limit - waited, true);
}

/* ---- context gap ---- */

/* The saved session with the oldest context, or NULL. */
static struct rm_ent *
gap_oldest(struct rm *rm)
{
	struct rm_ent *e, *old = NULL;

	TAILQ_FOREACH(e, &rm->tab.sessions, all) {
		if (e->loaded || !e->blob_valid || e->pin == rm->job.id)
			continue;
		if (old == NULL || e->seq < old->seq)
			old = e;
	}
	return old;
}

/* ContextLoad of e; its answer (RS_REFRESH) saves it again. */
static int
rm_refresh(struct rm *rm, struct rm_ent *e, struct rm_step *step)
{
	struct rm_ent *v;

	if (rm->tab.n_loaded[ENT_SESSION] >= rm->slots[ENT_SESSION]) {
		if ((v = rm_victim(rm, ENT_SESSION)) == NULL)
			return RM_PASS;
		return rm_evict(rm, v, step);
	}
	return rm_send_load(rm, e, step, RS_REFRESH);
}

int
rm_gap_step(struct rm *rm, struct rm_step *step)
{
	struct rm_ent *e;

	if (!rm->gap_check || rm->gap_max == 0)
		return RM_PASS;
	e = gap_oldest(rm);
	if (e == NULL || e->seq > rm->ctx_seq ||
	    rm->ctx_seq - e->seq < RM_GAP_REFRESH(rm->gap_max)) {
		rm->gap_check = false;
		return RM_PASS;
	}
	return rm_refresh(rm, e, step);
}

int
rm_gap_cure(struct rm *rm, struct rm_step *step)
{
	struct rm_ent *e = gap_oldest(rm);

	if (e == NULL)
		return RM_PASS;
	if (rm->tab.n_loaded[ENT_SESSION] < rm->slots[ENT_SESSION])
		return rm_send_load(rm, e, step, RS_REFRESH);
	/* no session can be saved to make room for the refresh: the oldest goes */
	return rm_evict_session(rm, e, false, step);
}
