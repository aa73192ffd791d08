/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmstep.c: the resource manager's building blocks, the bottom of its
 * layers (rm_int.h): end a job (reply, park), send one of the RM's own
 * commands (ContextSave, FlushContext, ContextLoad) and move the job to the
 * state that waits for its answer, choose and evict a victim, pin what a
 * command needs, quotas, the clock.  Nothing here plans: these are the steps
 * the planner (rm.c) and its helpers put together.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "../common/util.h"
#include "../common/wire.h"
#include "rm_int.h"
#include "tpmcmd.h"

uint64_t
rm_now(const struct rm *rm)
{
	if (rm->params.now_ns != NULL)
		return rm->params.now_ns(rm->params.clock_ctx);
	return now_ns();
}

int
rm_done(struct rm *rm)
{
	struct rm_job *j = &rm->job;

	if (j->fresh != NULL) {
		ent_free(&rm->tab, j->fresh);
		j->fresh = NULL;
	}
	j->home = RS_IDLE;
	j->state = RS_IDLE;
	j->target = NULL;
	j->subject = NULL;
	j->trimming = false;
	/* between jobs: the recorder of held handles (held.c) looks at them later */
	if (rm->params.held_changed != NULL)
		rm->params.held_changed(rm->params.held_ctx);
	return RM_DONE;
}

int
rm_reply_len(struct rm *rm, struct rm_step *step, size_t len)
{
	step->rsp_len = len;
	return rm_done(rm);
}

int
rm_reply_rc(struct rm *rm, struct rm_step *step, uint32_t rc)
{
	if ((rc & TB_RM_LAYER) == TB_RM_LAYER)
		rm->stats.rm_errors++;
	/* an internal job may have no response buffer */
	if (step->rsp == NULL || step->rsp_cap < TPM_HDR_SIZE)
		return rm_reply_len(rm, step, 0);
	return rm_reply_len(rm, step, wire_rc_response(step->rsp, step->rsp_cap, rc));
}

void
rm_pin(struct rm *rm, struct rm_ent *e)
{
	struct rm_job *j = &rm->job;

	if (e->pin == j->id)
		return;
	e->pin = j->id;
	e->used = rm->turn;
	e->used_cmd = j->rc->own.cmds;
	j->pins[j->n_pins++] = e;
}

int
rm_send(struct rm *rm, struct rm_step *step, enum rm_state state, struct rm_ent *target,
	size_t len)
{
	rm->job.state = state;
	rm->job.target = target;
	step->tpm_cmd = rm->scratch;
	step->tpm_cmd_len = len;
	step->client_cmd = false;
	return RM_SEND;
}

struct rm_ent *
rm_victim(struct rm *rm, enum ent_kind kind)
{
	const struct rm_job *j = &rm->job;

	return ent_victim(&rm->tab, kind, j->id, j->home == RS_COMMAND ? &j->rc->own : NULL);
}

int
rm_evict(struct rm *rm, struct rm_ent *v, struct rm_step *step)
{
	if (v->kind == ENT_OBJECT && v->blob_valid)
		return rm_send(rm, step, RS_EVICT, v,
			       tpmcmd_flush_context(rm->scratch, sizeof(rm->scratch), v->phys));
	return rm_send(rm, step, RS_SAVE, v,
		       tpmcmd_context_save(rm->scratch, sizeof(rm->scratch),
					   v->kind == ENT_OBJECT ? v->phys : v->handle));
}

int
rm_send_flush(struct rm *rm, struct rm_ent *e, struct rm_step *step)
{
	uint32_t h = e->kind == ENT_OBJECT ? e->phys : e->handle;

	return rm_send(rm, step, RS_FLUSH, e, tpmcmd_flush_context(rm->scratch, sizeof(rm->scratch), h));
}

int
rm_send_load(struct rm *rm, struct rm_ent *e, struct rm_step *step, enum rm_state state)
{
	size_t len = tpmcmd_context_load(rm->scratch, sizeof(rm->scratch), e->blob, e->blob_len);

	if (len == 0)
		return -EMSGSIZE; /* blob_cap keeps it below max_command */
	return rm_send(rm, step, state, e, len);
}

void
rm_restore(struct rm_job *j)
{
	for (unsigned i = 0; i < j->pc.n_h; i++)
		put_be32(j->cmd + rmp_handle_off(i), j->pc.h[i]);
	if (j->param_patched) {
		put_be32(j->cmd + j->pc.params, j->param_h);
		j->param_patched = false;
	}
}

unsigned
rm_parked_ms(const struct rm *rm, const struct rm_step *step)
{
	uint64_t now = rm_now(rm);

	if (step->parked_ns == 0 || now <= step->parked_ns)
		return 0;
	return (unsigned)MIN((now - step->parked_ns) / 1000000u, (uint64_t)UINT32_MAX);
}

int
rm_park(struct rm *rm, struct rm_step *step, unsigned wait_ms, bool on_slot)
{
	rm_restore(&rm->job);
	if (step->parked_ns == 0)
		step->parked_ns = MAX(rm_now(rm), 1u);
	step->wait_ms = wait_ms;
	step->wake_on_slot = on_slot;
	(void)rm_done(rm);
	return RM_WAIT;
}

int
rm_backoff(struct rm *rm, struct rm_step *step)
{
	unsigned waited = rm_parked_ms(rm, step), limit = rm->params.retry_time_ms, delay;

	/* only a client's command can wait: nobody runs a close or internal job again */
	if (rm->job.home != RS_COMMAND || waited >= limit)
		return RM_PASS; /* the TPM's answer stands */
	/* 1, 2, 4 ... 256 ms */
	delay = MIN(1u << MIN(step->backoffs, 8u), limit - waited);
	step->backoffs++;
	rm->stats.backoff_retries++;
	return rm_park(rm, step, MAX(delay, 1u), false);
}

void
rm_limits_resolve(const struct rm *rm, const struct rm_limits *in, struct rm_limits *out)
{
	const struct rm_params *p = &rm->params;

	*out = *in;
#define INHERIT(f, v)                                                                              \
	do {                                                                                       \
		if (out->f == RM_LIMIT_INHERIT)                                                    \
			out->f = (v);                                                              \
	} while (0)
	INHERIT(objects, p->max_objects_per_conn);
	INHERIT(sessions, p->max_sessions_per_conn);
	INHERIT(objects_per_uid, p->max_objects_per_uid);
	INHERIT(sessions_per_uid, rm->max_sess_uid);
	INHERIT(abandoned_per_uid, p->max_abandoned_per_uid);
	INHERIT(objects_per_cgroup, 0u); /* no daemon-wide cgroup quota */
	INHERIT(sessions_per_cgroup, 0u);
#undef INHERIT
}

enum rm_quota
rm_quota_check(const struct rm *rm, const struct rm_conn *rc, enum ent_kind kind)
{
	const struct ent_owner *o = &rc->own;
	const struct rm_limits *l = &rc->lim;
	bool sess = kind == ENT_SESSION;
	unsigned uid_limit = sess ? l->sessions_per_uid : l->objects_per_uid;
	unsigned cg_limit = sess ? l->sessions_per_cgroup : l->objects_per_cgroup;

	(void)rm;
	if ((sess ? o->n_sess : o->n_objs) >= (sess ? l->sessions : l->objects))
		return RQ_CONN;
	/* root may open the TPM device itself: a per-user quota would buy nothing */
	if (o->uid != 0 && o->acct != NULL && uid_limit > 0 && o->acct->n[kind] >= uid_limit)
		return RQ_UID;
	/* a cgroup (a container, a service) is held to its quota whoever runs in it */
	if (o->cg != NULL && cg_limit > 0 && o->cg->n[kind] >= cg_limit)
		return RQ_CGROUP;
	return RQ_OK;
}

bool
rm_quota_full(struct rm *rm, const struct rm_conn *rc, enum ent_kind kind)
{
	if (rm_quota_check(rm, rc, kind) == RQ_OK)
		return false;
	rm->stats.quota_refusals++;
	return true;
}

unsigned
rm_active_cap(const struct rm *rm, const struct rm_conn *rc)
{
	const struct rm_conn *c;
	unsigned held = 0, unused;

	if (rm->reserved == 0 || (rc != NULL && rc->lim.reserved_sessions > 0))
		return rm->active_max;
	/* the reserving profiles' sessions fill their reservation first */
	TAILQ_FOREACH(c, &rm->conns, entry) {
		if (c->lim.reserved_sessions > 0)
			held += c->own.n_sess;
	}
	unused = held >= rm->reserved ? 0 : rm->reserved - held;
	return rm->active_max - MIN(unused, rm->active_max - 1);
}

void
rm_session_saved(struct rm *rm, struct rm_ent *e)
{
	if (e->seq > rm->ctx_seq)
		rm->ctx_seq = e->seq;
	rm->gap_check = true;
}

void
rm_slots_learn(struct rm *rm, enum ent_kind kind)
{
	unsigned loaded = rm->tab.n_loaded[kind];
	unsigned n = MAX(1u, MIN(rm->slots[kind], loaded));

	/* at or over its count the RM learns nothing: the command needed more */
	if (n >= rm->slots[kind])
		return;
	rm->slots[kind] = n;
	rm->slots_low_until[kind] = MAX(rm_now(rm) + (uint64_t)RM_SLOTS_LOW_MS * 1000000u, 1u);
	rm->stats.slots_lowered++;
}

void
rm_slots_check(struct rm *rm)
{
	uint64_t now = 0;

	for (unsigned k = ENT_OBJECT; k <= ENT_SESSION; k++) {
		if (rm->slots_low_until[k] == 0)
			continue;
		if (now == 0)
			now = rm_now(rm);
		/* the other user may have let go: try the full count again (and learn anew) */
		if (now >= rm->slots_low_until[k]) {
			rm->slots[k] = rm->slots_max[k];
			rm->slots_low_until[k] = 0;
		}
	}
}
