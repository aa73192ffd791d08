/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmconn.c: the resource manager's life and its connections': creation,
 * the close job (flush what a client owned; keep its saved sessions as
 * abandoned, within bounds), a TPM reset, counters, what connections hold.
 *
 * close job    what is left                        TPM command
 *              an object loaded                    FlushContext (object freed)
 *              an object saved by the broker       - (forgotten)
 *              a session the client saved (and     - (abandoned: another process
 *              holds the blob of)                    of the same uid may load it)
 *              any other session                   FlushContext (loaded or saved)
 *              abandoned over bounds (uid, all)    FlushContext of the oldest
 *              nothing                             rm_conn freed, RM_DONE
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "../common/wire.h"
#include "caps.h"
#include "rm_int.h"
#include "sessions.h"

int
rm_new(const struct rm_params *params, struct rm **ret)
{
	const struct tpm_caps *caps = params->caps;
	struct rm *rm = calloc(1, sizeof(*rm));

	if (rm == NULL)
		return -ENOMEM;
	rm->params = *params;
	rm->slots[ENT_OBJECT] = caps->transient_slots > 0 ? caps->transient_slots : 3;
	rm->slots[ENT_SESSION] = caps->loaded_sessions > 0 ? caps->loaded_sessions : 3;
	/* the reserve is the TPM's other users'; one slot of each kind stays ours */
	for (unsigned k = ENT_OBJECT; k <= ENT_SESSION; k++) {
		rm->slots[k] -= MIN(params->reserve[k], rm->slots[k] - 1);
		rm->slots_max[k] = rm->slots[k];
	}
	rm->active_max = caps->active_sessions_max > 0 ? caps->active_sessions_max : 64;
	rm->gap_max = caps->context_gap_max;
	/* by default no one user holds more than 3/4 of the TPM's sessions */
	rm->max_sess_uid = params->max_sessions_per_uid == UINT_MAX ? MAX(1u, rm->active_max * 3 / 4)
								     : params->max_sessions_per_uid;
	rm->reserved = MIN(params->reserved_sessions, rm->active_max - 1);
	LIST_INIT(&rm->accts);
	LIST_INIT(&rm->cgaccts);
	/* a context comes back in a ContextSave response, and goes in a ContextLoad */
	ent_table_init(&rm->tab, MIN(MAX(caps->max_response, TB_DEFAULT_MAX_MSG),
				     MAX(caps->max_command, TB_DEFAULT_MAX_MSG)) -
					 TPM_HDR_SIZE);
	TAILQ_INIT(&rm->conns);
	*ret = rm;
	return 0;
}

void
rm_free(struct rm *rm)
{
	struct ent_acct *a;
	struct rm_conn *rc;
	struct rm_ent *e;

	if (rm == NULL)
		return;
	while ((rc = TAILQ_FIRST(&rm->conns)) != NULL) {
		ent_owner_drop(&rm->tab, &rc->own);
		rm_conn_free(rm, rc);
	}
	while ((e = TAILQ_FIRST(&rm->tab.abandoned)) != NULL)
		ent_free(&rm->tab, e);
	if (rm->job.fresh != NULL)
		ent_free(&rm->tab, rm->job.fresh);
	while ((a = LIST_FIRST(&rm->accts)) != NULL) { /* what rm_accts_gc() kept */
		LIST_REMOVE(a, link);
		free(a);
	}
	ent_table_free(&rm->tab);
	free(rm->binds);
	free(rm);
}

/* The account of uid (cgroup NULL) or of cgroup, made if need be; NULL: out of memory. */
static struct ent_acct *
acct_get(struct rm *rm, uid_t uid, const char *cgroup)
{
	struct ent_acct *a;

	/* a handful of uids and cgroups at a time: a list will do */
	if (cgroup == NULL) {
		LIST_FOREACH(a, &rm->accts, link) {
			if (a->uid == uid)
				return a;
		}
	} else {
		LIST_FOREACH(a, &rm->cgaccts, link) {
			if (strcmp(a->cgroup, cgroup) == 0)
				return a;
		}
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->uid = uid;
	if (cgroup != NULL && (a->cgroup = strdup(cgroup)) == NULL) {
		free(a);
		return NULL;
	}
	if (cgroup != NULL)
		LIST_INSERT_HEAD(&rm->cgaccts, a, link);
	else
		LIST_INSERT_HEAD(&rm->accts, a, link);
	return a;
}

int
rm_conn_new(struct rm *rm, const struct rm_peer *peer, struct rm_conn **ret)
{
	struct rm_conn *rc = calloc(1, sizeof(*rc));
	struct ent_acct *a, *cg = NULL;

	if (rc == NULL)
		return -ENOMEM;
	rm_accts_gc(rm);
	if ((a = acct_get(rm, peer->uid, NULL)) == NULL ||
	    (peer->cgroup[0] != '\0' && (cg = acct_get(rm, peer->uid, peer->cgroup)) == NULL)) {
		free(rc);
		rm_accts_gc(rm);
		return -ENOMEM;
	}
	a->refs++;
	if (cg != NULL)
		cg->refs++;
	rc->peer = *peer;
	rc->peer.cgroup[sizeof(rc->peer.cgroup) - 1] = '\0';
	if (!peer->has_limits)
		rc->peer.limits = RM_LIMITS_INHERIT;
	rm_limits_resolve(rm, &rc->peer.limits, &rc->lim);
	ent_owner_init(&rc->own, peer->uid);
	rc->own.acct = a;
	rc->own.cg = cg;
	TAILQ_INSERT_TAIL(&rm->conns, rc, entry);
	*ret = rc;
	return 0;
}

/* rc holds nothing any more: free it; its accounts go with the next rm_accts_gc(). */
void
rm_conn_free(struct rm *rm, struct rm_conn *rc)
{
	TAILQ_REMOVE(&rm->conns, rc, entry);
	if (rc->own.acct != NULL)
		rc->own.acct->refs--;
	if (rc->own.cg != NULL)
		rc->own.cg->refs--;
	free(rc);
	rm_accts_gc(rm);
}

/* The close job: flush objects, flush or abandon sessions, trim, free. */
int
rm_close_next(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_conn *rc = j->rc;
	struct ent_table *t = &rm->tab;
	struct rm_ent *e;
	bool keep = rc->lim.abandoned_per_uid > 0 && rm->params.max_abandoned > 0;

	if (j->offline)
		ent_owner_drop(t, &rc->own);
	while ((e = TAILQ_FIRST(&rc->own.objs)) != NULL) {
		if (e->loaded)
			return rm_send_flush(rm, e, step);
		ent_free(t, e); /* saved by the broker: forget the context */
	}
	while ((e = TAILQ_FIRST(&rc->own.sess)) != NULL) {
		if (keep && e->client_saved && !e->loaded && e->blob_valid) {
			sess_abandon(t, e);
			continue;
		}
		return rm_send_flush(rm, e, step); /* loaded or saved: both free the slot */
	}
	if (!j->offline && (e = sess_trim_victim(t, rc->peer.uid, rc->lim.abandoned_per_uid,
				  rm->params.max_abandoned)) != NULL) {
		rm->stats.abandoned_flushed++;
		return rm_send_flush(rm, e, step);
	}
	rm_conn_free(rm, rc);
	j->rc = NULL;
	return rm_done(rm);
}

void
rm_tpm_reset(struct rm *rm)
{
	struct rm_job *j = &rm->job;
	struct rm_conn *rc;
	struct rm_ent *e;

	TAILQ_FOREACH(rc, &rm->conns, entry) {
		ent_owner_drop(&rm->tab, &rc->own);
		memset(rc->own.tomb, 0, sizeof(rc->own.tomb));
	}
	while ((e = TAILQ_FIRST(&rm->tab.abandoned)) != NULL)
		ent_free(&rm->tab, e);
	/* the job in flight, if any, is planned again by rm_abort() */
	j->n_pins = 0;
	j->target = NULL;
	j->subject = NULL;
	memset(j->hent, 0, sizeof(j->hent));
	memset(j->sent, 0, sizeof(j->sent));
	rm->reset_gen++;
	rm->need_startup = true;
	rm->ctx_seq = 0; /* the context counter starts again */
	rm->gap_check = false;
}

uint64_t
rm_reset_gen(const struct rm *rm)
{
	return rm->reset_gen;
}

void
rm_get_stats(const struct rm *rm, struct rm_stats *ret)
{
	const struct ent_table *t = &rm->tab;

	*ret = rm->stats;
	ret->objects = t->n_objects;
	ret->objects_loaded = t->n_loaded[ENT_OBJECT];
	ret->sessions = t->n_sessions;
	ret->sessions_loaded = t->n_loaded[ENT_SESSION];
	ret->abandoned = t->n_abandoned;
	ret->slots[ENT_OBJECT] = rm->slots[ENT_OBJECT];
	ret->slots[ENT_SESSION] = rm->slots[ENT_SESSION];
}

static void
rm_handle_info(const struct rm_ent *e, struct rm_handle_info *hi)
{
	*hi = (struct rm_handle_info){
		.handle = e->handle,
		.tpm_handle = e->kind == ENT_OBJECT && e->loaded ? e->phys : 0,
		.session = e->kind == ENT_SESSION,
		.state = e->loaded         ? RM_H_LOADED
			 : e->client_saved ? RM_H_CLIENT_SAVED
					   : RM_H_SAVED,
		.uid = e->uid,
	};
}

void
rm_conn_handles(const struct rm *rm, const struct rm_conn *rc, rm_handle_fn fn, void *ctx)
{
	const struct ent_q *lists[2] = {&rc->own.objs, &rc->own.sess};
	struct rm_handle_info hi;
	const struct rm_ent *e;

	(void)rm;
	for (size_t l = 0; l < 2; l++) {
		TAILQ_FOREACH(e, lists[l], link) {
			rm_handle_info(e, &hi);
			fn(&hi, ctx);
		}
	}
}

void
rm_abandoned_handles(const struct rm *rm, rm_handle_fn fn, void *ctx)
{
	struct rm_handle_info hi;
	const struct rm_ent *e;

	TAILQ_FOREACH(e, &rm->tab.abandoned, link) {
		rm_handle_info(e, &hi);
		fn(&hi, ctx);
	}
}
