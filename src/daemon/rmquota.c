/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmquota.c: per-profile limits (rm.h: struct rm_limits) as the RM holds
 * them, and the reservation of active session slots.
 *
 * Limits.  conn.c gives each connection its profile's limits at
 * rm_conn_new() and again at rm_conn_set_limits() when the config is
 * reloaded; what a profile leaves unset (RM_LIMIT_INHERIT) is the
 * daemon-wide option.  A lowered limit takes nothing away: the connection
 * only gets no more.
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
rm_set_reserved_sessions(struct rm *rm, unsigned n)
{
	rm->reserved = MIN(n, rm->active_max - 1); /* one slot is always everyone's */
}

void
rm_accts_gc(struct rm *rm)
{
	struct ent_acct *a, *next;

	for (a = LIST_FIRST(&rm->accts); a != NULL; a = next) {
		next = LIST_NEXT(a, link);
		if (a->refs == 0) {
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
