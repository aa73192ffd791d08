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
 *   2. else the oldest session of the connection holding the most, if it
 *      holds more than its fair share, max(1, active slots / connections
 *      holding sessions, the asker counted), and more than the asker; its
 *      owner's later use of it gets TPM_RC_EXPIRED in the RM layer;
 *   3. else the command waits (RM_WAIT) for a slot to be freed, at most
 *      params.session_wait_ms, while other clients' commands run; then it
 *      fails with TPM_RC_SESSION_HANDLES in the RM layer.
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

/* The oldest session of the heaviest holder above its fair share, or NULL. */
static struct rm_ent *
sess_fair_victim(struct rm *rm, const struct ent_owner *asker)
{
	const struct ent_owner *top = NULL;
	struct rm_conn *rc;
	struct rm_ent *e;
	unsigned holders = asker->n_sess == 0 ? 1 : 0, fair;

	TAILQ_FOREACH(rc, &rm->conns, entry) {
		const struct ent_owner *o = &rc->own;
		if (o->n_sess == 0)
			continue;
		holders++;
		if (o != asker && (top == NULL || o->n_sess > top->n_sess))
			top = o;
	}
	fair = MAX(1u, rm->active_max / MAX(holders, 1u));
	if (top == NULL || top->n_sess <= fair || top->n_sess <= asker->n_sess)
		return NULL;
	TAILQ_FOREACH(e, &top->sess, link) {
		if (e->pin != rm->job.id)
			return e; /* oldest first */
	}
	return NULL;
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
	if ((v = sess_fair_victim(rm, &j->rc->own)) != NULL)
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
