/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmfix.c: what the resource manager does about the TPM's warnings, in one
 * table.  A warning means the TPM did not run the command; the cure (make
 * room, refresh a context, wait) runs and the command is planned and sent
 * again.  Bounded: RM_MAX_FIXES cures per run of a command, and pauses
 * within params.retry_time_ms; past either the client gets the TPM's answer.
 * This file only picks the cure; the planner (rm.c) applies it.
 */
#include "../common/util.h"
#include "../common/wire.h"
#include "rm_int.h"

static const struct {
	uint32_t rc;
	enum rm_fix fix;
} rm_fixes[] = {
	/* transient memory full (a hidden use: persistent handle, Create's scratch) */
	{TPM2_RC_OBJECT_MEMORY, FIX_EVICT_OBJECT},
	/* no transient handle free: same cure */
	{TPM2_RC_OBJECT_HANDLES, FIX_EVICT_OBJECT},
	/* out of memory for object contexts: same cure */
	{TPM2_RC_MEMORY, FIX_EVICT_OBJECT},
	/* session memory full: ContextSave a loaded session */
	{TPM2_RC_SESSION_MEMORY, FIX_EVICT_SESSION},
	/* every active session slot used (sessions the broker does not know of,
	 * e.g. another RM's on a shared device): abandoned, fair share, or wait */
	{TPM2_RC_SESSION_HANDLES, FIX_SESSION_ROOM},
	/* a session save would put the context counter too far ahead of the
	 * oldest saved session: refresh that one */
	{TPM2_RC_CONTEXT_GAP, FIX_GAP},
	/* a long command was interrupted; TPM 2.0 Part 3 says send it again */
	{TPM2_RC_YIELDED, FIX_RESEND},
	/* the TPM did not run it now (busy); no state changed */
	{TPM2_RC_RETRY, FIX_BACKOFF},
	/* self test running; the command was not run */
	{TPM2_RC_TESTING, FIX_BACKOFF},
	/* the TPM rate-limits NV writes against wear-out */
	{TPM2_RC_NV_RATE, FIX_BACKOFF},
	/* NV not accessible now */
	{TPM2_RC_NV_UNAVAILABLE, FIX_BACKOFF},
};

static enum rm_fix
rm_fix_for(uint32_t rc)
{
	for (size_t i = 0; i < ARRAY_SIZE(rm_fixes); i++) {
		if (rm_fixes[i].rc == rc)
			return rm_fixes[i].fix;
	}
	return FIX_NONE;
}

bool
rm_fix_known(uint32_t rc)
{
	return rm_fix_for(rc) != FIX_NONE;
}

/*
 * To the client's command: any cure in the table; an eviction only if
 * there is a victim.  To one of the RM's own commands (nothing happened):
 * a resend, a pause, or, for a session save that met the context gap,
 * making the oldest saved session current first (the one to save stays
 * loaded).  FIX_NONE: nothing to cure it with, or out of tries.
 */
enum rm_fix
rm_fix_pick(struct rm *rm, uint32_t rc, bool own, struct rm_ent **ret_victim)
{
	struct rm_job *j = &rm->job;
	enum rm_fix fix = rm_fix_for(rc);
	struct rm_ent *v = NULL;

	if (fix == FIX_NONE || j->fixes >= RM_MAX_FIXES)
		return FIX_NONE;
	if (own && fix != FIX_GAP && fix != FIX_RESEND && fix != FIX_BACKOFF)
		return FIX_NONE;
	if (fix == FIX_EVICT_OBJECT || fix == FIX_EVICT_SESSION) {
		/* full before the RM's count says so: someone else holds slots */
		if (rc == TPM2_RC_OBJECT_MEMORY || rc == TPM2_RC_SESSION_MEMORY)
			rm_slots_learn(rm, fix == FIX_EVICT_OBJECT ? ENT_OBJECT : ENT_SESSION);
		v = rm_victim(rm, fix == FIX_EVICT_OBJECT ? ENT_OBJECT : ENT_SESSION);
		if (v == NULL)
			return FIX_NONE; /* nothing to evict: the TPM's answer stands */
	}
	j->fixes++;
	rm->stats.retries++;
	*ret_victim = v;
	return fix;
}
