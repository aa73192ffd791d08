/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmquota.c: per-profile limits (rm.h: struct rm_limits) as the RM holds
 * them, the reservation of active session slots, and the NV write rate.
 *
 * Limits.  conn.c gives each connection its profile's limits at
 * rm_conn_new() and again at rm_conn_set_limits() when the config is
 * reloaded; what a profile leaves unset (RM_LIMIT_INHERIT) is the
 * daemon-wide option.  A lowered limit takes nothing away: the connection
 * only gets no more.
 *
 * NV write rate.  A hardware TPM's NV is flash that wears out, and it
 * answers TPM_RC_NV_RATE when written too fast; one user must not spend
 * it for everyone.  A profile's nv-write-rate = N gives each uid a token
 * bucket, N per second with a burst of N, kept as GCRA (one "theoretical
 * arrival time" per uid: the bucket is full again at nv_tat).  Charged: the
 * commands that write NV whatever their parameters (rm_cc_writes_nv()).
 * Over the rate the command *waits* (RM_WAIT for the time until its
 * token, at most 1/N s unless the uid's other connections get there
 * first); other clients go on meanwhile.  Waiting rather than answering
 * TPM_RC_NV_RATE (0x000B0923) keeps every client working unchanged: tools
 * treat NV_RATE as a failure, and a loop that writes NV is slowed, not
 * broken.  A command charged once is not charged again when it is run
 * again after a TPM warning.  A uid's account outlives its connections
 * until its bucket is full again: reconnecting buys no tokens.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "../common/wire.h"
#include "policy.h"
#include "rm_int.h"

void
rm_limits_from_profile(const struct profile *p, struct rm_limits *ret)
{
	*ret = RM_LIMITS_INHERIT;
	if (p == NULL)
		return;
	/* POLICY_INHERIT and RM_LIMIT_INHERIT are both UINT_MAX */
	*ret = (struct rm_limits){
		.objects = p->max_objects,
		.sessions = p->max_sessions,
		.objects_per_uid = p->max_objects_per_user,
		.sessions_per_uid = p->max_sessions_per_user,
		.abandoned_per_uid = p->max_abandoned_per_user,
		.objects_per_cgroup = p->max_objects_per_cgroup,
		.sessions_per_cgroup = p->max_sessions_per_cgroup,
		.reserved_sessions = p->reserved_sessions,
		.nv_write_rate = p->nv_write_rate,
		.share_contexts = p->share_contexts,
	};
}

unsigned
rm_policy_reserved(const struct policy *pol)
{
	unsigned n = 0;

	for (size_t i = 0; i < pol->n; i++)
		n += pol->p[i].reserved_sessions;
	return n;
}

_Static_assert(POLICY_INHERIT == RM_LIMIT_INHERIT, "a profile's unset limit is the RM's");

void
rm_conn_set_limits(struct rm *rm, struct rm_conn *rc, const struct rm_limits *lim)
{
	rc->peer.limits = *lim;
	rc->peer.has_limits = true;
	rm_limits_resolve(rm, lim, &rc->lim);
}

void
rm_set_defaults(struct rm *rm, const struct rm_params *p)
{
	rm->params.max_objects_per_conn = p->max_objects_per_conn;
	rm->params.max_sessions_per_conn = p->max_sessions_per_conn;
	rm->params.max_abandoned_per_uid = p->max_abandoned_per_uid;
	rm->params.max_abandoned = p->max_abandoned;
	rm->params.max_objects_per_uid = p->max_objects_per_uid;
	rm->params.max_sessions_per_uid = p->max_sessions_per_uid;
	rm->params.session_wait_ms = p->session_wait_ms;
	rm->params.retry_time_ms = p->retry_time_ms;
	/* as rm_new(): by default no one user holds more than 3/4 of the TPM's sessions */
	rm->max_sess_uid = p->max_sessions_per_uid == UINT_MAX ? MAX(1u, rm->active_max * 3 / 4)
							       : p->max_sessions_per_uid;
}

void
rm_set_reserved_sessions(struct rm *rm, unsigned n)
{
	rm->reserved = MIN(n, rm->active_max - 1); /* one slot is always everyone's */
}

bool
rm_cc_writes_nv(uint32_t cc)
{
	switch (cc) {
	case TPM2_CC_NV_DefineSpace:
	case TPM2_CC_NV_UndefineSpace:
	case TPM2_CC_NV_UndefineSpaceSpecial:
	case TPM2_CC_NV_Write:
	case TPM2_CC_NV_Increment:
	case TPM2_CC_NV_Extend:
	case TPM2_CC_NV_SetBits:
	case TPM2_CC_NV_WriteLock:
	case TPM2_CC_NV_GlobalWriteLock:
	case TPM2_CC_NV_ChangeAuth:
	case TPM2_CC_EvictControl: /* a persistent object is NV too */
		return true;
	default:
		return false;
	}
}

/* The emission interval of rate per second, in ns. */
static uint64_t
nv_interval(unsigned rate)
{
	return 1000000000u / rate;
}

int
rm_nv_rate(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct ent_acct *a = j->rc->own.acct;
	unsigned rate = j->rc->lim.nv_write_rate;
	uint64_t now, t, tau, tat, wait_ns;

	if (rate == 0 || a == NULL || j->nv_charged)
		return RM_PASS;
	now = rm_now(rm);
	t = nv_interval(rate);
	tau = t * (rate - 1); /* a full bucket: rate commands at once */
	tat = MAX(a->nv_tat, now);
	if (tat - now > tau) {
		wait_ns = tat - now - tau;
		if (step->parked_ns == 0)
			rm->stats.nv_rate_waits++;
		/* round up: woken early it would only wait again */
		return rm_park(rm, step, (unsigned)MIN((wait_ns + 999999u) / 1000000u, 1000u), false);
	}
	a->nv_tat = tat + t;
	j->nv_charged = true;
	return RM_PASS;
}

/* An account nobody uses any more, whose NV bucket is full again. */
static bool
acct_idle(const struct ent_acct *a, uint64_t now)
{
	return a->refs == 0 && a->nv_tat <= now;
}

void
rm_accts_gc(struct rm *rm)
{
	struct ent_acct *a, *next;
	uint64_t now = rm_now(rm);

	for (a = LIST_FIRST(&rm->accts); a != NULL; a = next) {
		next = LIST_NEXT(a, link);
		if (acct_idle(a, now)) {
			LIST_REMOVE(a, link);
			free(a);
		}
	}
	for (a = LIST_FIRST(&rm->cgaccts); a != NULL; a = next) {
		next = LIST_NEXT(a, link);
		if (a->refs == 0) {
			LIST_REMOVE(a, link);
			free(a->cgroup);
			free(a);
		}
	}
}
