/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmfix.c: what the resource manager does about the TPM's warnings, in one
 * table.  A warning means the TPM did not run the command; the cure (make
 * room, refresh a context, wait) runs and the command is planned and sent
 * again.  Bounded: RM_MAX_FIXES cures per run of a command, and pauses
 * within params.retry_time_ms; past either the client gets the TPM's answer.
 */
#include "../common/util.h"
#include "../common/wire.h"
#include "rm_int.h"

/* What cures a TPM warning. */
enum rm_fix {
	FIX_EVICT_OBJECT,  /* swap a loaded object out */
	FIX_EVICT_SESSION, /* swap a loaded session out */
	FIX_SESSION_ROOM,  /* free an active session slot, or wait for one (rmsess.c) */
	FIX_GAP,           /* refresh the oldest saved session (rmsess.c) */
	FIX_RESEND,        /* send it again at once */
	FIX_BACKOFF,       /* send it again after a pause (1, 2, 4 ... 256 ms); others go first */
};

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

static bool
rm_fix_for(uint32_t rc, enum rm_fix *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(rm_fixes); i++) {
		if (rm_fixes[i].rc == rc) {
			*ret = rm_fixes[i].fix;
			return true;
		}
	}
	return false;
}

bool
rm_fix_known(uint32_t rc)
{
	enum rm_fix fix;

	return rm_fix_for(rc, &fix);
}

/* Try the cure for rc: what rm_plan() returns, or RM_PASS if there is none. */
int
rm_try_fix(struct rm *rm, uint32_t rc, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *v = NULL;
	enum rm_fix fix;

	if (!rm_fix_for(rc, &fix) || j->fixes >= RM_MAX_FIXES)
		return RM_PASS;
	if (fix == FIX_EVICT_OBJECT || fix == FIX_EVICT_SESSION) {
		v = rm_victim(rm, fix == FIX_EVICT_OBJECT ? ENT_OBJECT : ENT_SESSION);
		if (v == NULL)
			return RM_PASS; /* nothing to evict: the TPM's answer stands */
	}
	j->fixes++;
	rm->stats.retries++;
	switch (fix) {
	case FIX_EVICT_OBJECT:
	case FIX_EVICT_SESSION:
		return rm_evict(rm, v, step);
	case FIX_SESSION_ROOM:
		return rm_session_room(rm, step);
	case FIX_GAP:
		return rm_gap_cure(rm, step);
	case FIX_RESEND:
		return rm_plan(rm, step);
	case FIX_BACKOFF:
		return rm_backoff(rm, step);
	}
	return RM_PASS;
}

/*
 * A TPM warning in answer to one of the RM's own commands (nothing
 * happened): send it again at once (close and internal jobs never wait),
 * park the client's command for a pause,
 * or, for a session save that met the context gap, make the oldest saved
 * session current first (the one to save stays loaded).  RM_PASS: not such
 * a warning, nothing to cure it with, or out of tries.
 */
int
rm_own_warning(struct rm *rm, uint32_t rc, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	enum rm_fix fix;

	if (!rm_fix_for(rc, &fix) || j->fixes >= RM_MAX_FIXES)
		return RM_PASS;
	switch (fix) {
	case FIX_GAP:
		j->fixes++;
		rm->stats.retries++;
		j->refreshing = false; /* that save failed; a refresh sets it again */
		return rm_gap_cure(rm, step);
	case FIX_RESEND:
	case FIX_BACKOFF:
		j->fixes++;
		rm->stats.retries++;
		/* not after the client's command ran (a re-sync): parking would run it twice */
		if (fix == FIX_BACKOFF && j->kind != RK_CLOSE && j->kind != RK_INTERNAL &&
		    j->op != OP_RESYNC)
			return rm_backoff(rm, step);
		return RM_SEND; /* step->tpm_cmd once more: the scratch buffer is unchanged */
	default:
		return RM_PASS;
	}
}
