/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rm.c: the resource manager's planner (rm.h).  Every client sees its own
 * transient objects under virtual handles and only its own sessions; the
 * TPM's few slots are shared by swapping contexts lazily:
 *
 *  - Nothing is saved after a command.  Contexts stay loaded while they
 *    fit; before a command, what it names is loaded, and only when a slot
 *    is needed is a context of any connection evicted: idle ones first
 *    (least recently used), else the one whose owner comes back last in
 *    the scheduler's round robin (ent_victim(): LRU would evict the next
 *    one needed when busy clients cycle through more contexts than fit).
 *  - An object whose context was saved once and has not changed since
 *    (anything but a sequence object) is evicted by FlushContext alone; a
 *    session needs a ContextSave every time (a session context loads once).
 *    ReadPublic of a known object is answered from the broker's copy.
 *  - TPM_RC_OBJECT_MEMORY / SESSION_MEMORY and friends are cured by
 *    eviction and the command is sent again (rm_fixes[] in rmfix.c).
 *  - An object whose ContextSave fails stays loaded (noswap) until its
 *    owner flushes it or leaves; it only narrows the slots others share.
 *
 * A job (rm_int.h: enum rm_state) is planned in its home state (COMMAND,
 * CLOSE, INTERNAL) by rm_plan() and waits for the TPM in another; every
 * answer takes it home to be planned again, or ends it.  "home" below is
 * whichever of the three the job has; "cure" is rm_fixes[] (rmfix.c).
 *
 * state     event                                     next          TPM command / action
 * IDLE      rm_begin: the RM answers (bad handle,     IDLE          RM_DONE, RM-layer error
 *           quota, cache, GetCapability(HANDLES))                   or the answer
 * IDLE      rm_begin / rm_close / rm_begin_internal   COMMAND/CLOSE/INTERNAL  plan
 * home      Startup owed (rm_tpm_reset)               STARTUP       Startup(CLEAR)
 * COMMAND   a saved session near the context gap      REFRESH       ContextLoad
 * COMMAND   a pinned entry not loaded, its kind full  SAVE | EVICT  evict a victim
 * COMMAND   a pinned entry not loaded                 LOAD          ContextLoad
 * COMMAND   no room for what the command creates      SAVE | EVICT  evict a victim
 * COMMAND   a new session, active slots all taken     FLUSH | IDLE  abandoned / fair share;
 *                                                                   else RM_WAIT
 * COMMAND   ContextLoad of a session, it is loaded    IDLE          the RM answers
 * COMMAND   otherwise                                 CLIENT        the client's, translated
 * CLOSE     an object loaded, a session not kept,     FLUSH         FlushContext
 *           abandoned sessions over bounds
 * CLOSE     nothing left                              IDLE          rm_conn freed
 * INTERNAL  a command / none                          OWN / IDLE    the daemon's, as it is
 * STARTUP   SUCCESS or INITIALIZE                     home          tpm_startups++
 * STARTUP   any other answer                          IDLE          that answer (close: forget)
 * SAVE      saved: an object / a session              EVICT / home  FlushContext / -
 * SAVE      refused                                   home          the victim stays (noswap)
 * EVICT     any answer                                home          unloaded
 * LOAD      loaded                                    home
 * LOAD      TPM full                                  cure | IDLE   or the TPM's answer
 * LOAD      refused: object / session                 home / FLUSH  dropped, planned anew
 * FLUSH     any answer                                home          freed (lost: planned anew)
 * REFRESH   loaded / refused                          SAVE / FLUSH  ContextSave / session lost
 * CLIENT    a warning with a cure                     cure          evict, gap, resend, RM_WAIT
 * CLIENT    answered, EXTENSIVE command               RESYNC        GetCapability(HANDLES)
 * CLIENT    answered                                  IDLE          bookkeeping, RM_DONE
 * RESYNC    any answer                                IDLE          objects the TPM flushed go
 * OWN       any answer                                IDLE          copied to step->rsp
 * waiting   a warning to the RM's own command         same | IDLE   resend, gap cure, RM_WAIT
 * waiting   rm_abort(-ECONNRESET), first time         same | home   resend; after a reset
 *                                                                   planned anew, Startup first
 * waiting   rm_abort(other error)                     IDLE          RM-layer error (close: forget)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "caps.h"
#include "rm_int.h"
#include "sessions.h"
#include "tpmcmd.h"


static bool
is_transient(uint32_t h)
{
	return (h >> TPM2_HR_SHIFT) == TPM2_HT_TRANSIENT;
}

/* Write the TPM's handles into the client's command (idempotent). */
static void
rm_translate(struct rm_job *j)
{
	for (unsigned i = 0; i < j->pc.n_h; i++) {
		struct rm_ent *e = j->hent[i];
		if (e != NULL && e->kind == ENT_OBJECT)
			put_be32(j->cmd + rmp_handle_off(i), e->phys);
	}
	/* the client's FlushContext of its loaded object names it in a parameter */
	if (j->pc.cc == TPM2_CC_FlushContext && j->subject != NULL &&
	    j->subject->kind == ENT_OBJECT) {
		put_be32(j->cmd + j->pc.params, j->subject->phys);
		j->param_patched = true;
	}
}

static int
rm_send_client(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;

	rm_translate(j);
	for (unsigned i = 0; i < j->n_pins; i++)
		ent_touch(&rm->tab, j->pins[i]);
	j->state = RS_CLIENT;
	step->tpm_cmd = j->cmd;
	step->tpm_cmd_len = j->len;
	step->client_cmd = true;
	return RM_SEND;
}

/* The internal job's command as it is, or the end of a housekeeping-only job. */
static int
rm_send_own(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;

	if (j->own_cmd == NULL)
		return rm_done(rm);
	j->state = RS_OWN;
	step->tpm_cmd = j->own_cmd;
	step->tpm_cmd_len = j->len;
	step->client_cmd = false;
	return RM_SEND;
}

/*
 * The client's command is answered (step->rsp): give back what it loaded
 * beyond rm->slots (a command may need more than the RM keeps, three
 * sessions with one slot reserved, say), so that between jobs the reserve
 * is free for the TPM's other users.  Its own entries may go too.
 */
static int
rm_trim(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *v;

	if (!j->trimming) {
		j->trimming = true;
		j->id = ++rm->job_seq; /* unpins what the command needed */
	}
	for (unsigned k = ENT_OBJECT; k <= ENT_SESSION; k++) {
		if (rm->tab.n_loaded[k] > rm->slots[k] &&
		    (v = rm_victim(rm, (enum ent_kind)k)) != NULL) {
			rm->stats.trims++;
			return rm_evict(rm, v, step);
		}
	}
	return rm_done(rm);
}

static int
rm_plan(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct ent_table *t = &rm->tab;
	struct rm_ent *v;
	int r;

	j->state = j->home;
	if (j->trimming)
		return rm_trim(rm, step);
	/* the TPM was reset: started again before it runs anything else */
	if (rm->need_startup && !(j->home == RS_CLOSE && j->offline))
		return rm_send(rm, step, RS_STARTUP, NULL,
			       tpmcmd_startup(rm->scratch, sizeof(rm->scratch), TPM2_SU_CLEAR));
	if (j->home == RS_CLOSE)
		return rm_close_next(rm, step);
	if (j->home == RS_INTERNAL)
		return rm_send_own(rm, step);
	/* 0: no saved session falls behind the context gap */
	if ((r = rm_gap_step(rm, step)) != RM_PASS)
		return r;
	/* 1: what the command names, loaded */
	for (unsigned i = 0; i < j->n_pins; i++) {
		struct rm_ent *e = j->pins[i];
		if (e->loaded)
			continue;
		if (t->n_loaded[e->kind] >= rm->slots[e->kind] &&
		    (v = rm_victim(rm, e->kind)) != NULL)
			return rm_evict(rm, v, step);
		return rm_send_load(rm, e, step, RS_LOAD);
	}
	/* 2: the slots the command fills itself */
	for (unsigned k = ENT_OBJECT; k <= ENT_SESSION; k++) {
		if (j->want[k] > 0 && t->n_loaded[k] + j->want[k] > rm->slots[k] &&
		    (v = rm_victim(rm, (enum ent_kind)k)) != NULL)
			return rm_evict(rm, v, step);
	}
	/* 3: a new session when every active slot is taken */
	if (j->want[ENT_SESSION] > 0 && t->n_sessions >= rm_active_cap(rm, j->rc) &&
	    (r = rm_session_room(rm, step)) != RM_PASS)
		return r;
	/* 4: the session a ContextLoad takes over is loaded: the RM answers */
	if (j->pc.cc == TPM2_CC_ContextLoad && j->subject != NULL)
		return rm_cmd_adopted(rm, step);
	return rm_send_client(rm, step);
}

/*
 * Check and pin what the handle and authorization areas name.  RM_PASS (go
 * on), or RM_DONE with the error the TPM would give, in the RM layer.
 */
static int
rm_pin_command(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct ent_owner *o = &j->rc->own;
	struct rm_ent *e;

	for (unsigned i = 0; i < j->pc.n_h; i++) {
		uint32_t h = j->pc.h[i];
		uint32_t pos = (i + 1) << 8; /* TPM_RC_1 .. TPM_RC_7: handle i + 1 */

		j->hent[i] = NULL;
		if (is_transient(h)) {
			if ((e = ent_find(o, ENT_OBJECT, h)) == NULL)
				return rm_reply_rc(rm, step,
						   TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_H | pos));
		} else if (sess_is_handle(h)) {
			if ((e = ent_find(o, ENT_SESSION, h)) == NULL && ent_owner_is_tomb(o, h))
				return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_EXPIRED | TPM2_RC_H | pos));
			if (e == NULL)
				return rm_reply_rc(rm, step,
						   TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_H | pos));
			/* the client saved it: not loaded, as far as it knows */
			if (e->client_saved)
				return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_REFERENCE_H0 + i));
		} else {
			/* a persistent object is loaded into a transient slot while it runs */
			if ((h >> TPM2_HR_SHIFT) == TPM2_HT_PERSISTENT)
				j->want[ENT_OBJECT]++;
			continue;
		}
		j->hent[i] = e;
		rm_pin(rm, e);
	}
	for (unsigned i = 0; i < j->pc.n_s; i++) {
		uint32_t h = j->pc.s[i];
		uint32_t pos = (i + 1) << 8;

		j->sent[i] = NULL;
		if (!sess_is_handle(h))
			continue; /* a password, or a value the TPM will refuse */
		if ((e = ent_find(o, ENT_SESSION, h)) == NULL && ent_owner_is_tomb(o, h))
			return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_EXPIRED | TPM2_RC_S | pos));
		if (e == NULL)
			return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_S | pos));
		if (e->client_saved)
			return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_REFERENCE_S0 + i));
		j->sent[i] = e;
		rm_pin(rm, e);
	}
	return RM_PASS;
}

/* Validate and route the job's command; the job's cmd is as the client sent it. */
static int
rm_prepare(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	const TPMA_CC *attr;
	uint32_t cc = get_be32(j->cmd + 6), err;
	int r;

	j->home = j->state = RS_COMMAND;
	j->id = ++rm->job_seq;
	j->reset_gen = rm->reset_gen;
	j->n_pins = 0;
	j->want[ENT_OBJECT] = j->want[ENT_SESSION] = 0;
	j->target = NULL;
	j->subject = NULL;
	if ((attr = caps_find(rm->params.caps, cc)) == NULL)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_COMMAND_CODE));
	if ((err = rmp_parse_cmd(j->cmd, j->len, *attr, &j->pc)) != 0)
		return rm_reply_rc(rm, step, TB_RM_RC(err));
	switch (cc) {
	case TPM2_CC_Startup:
		/* the broker keeps the TPM started: answer as a started TPM does */
		return rm_reply_rc(rm, step, TPM2_RC_INITIALIZE);
	case TPM2_CC_Shutdown:
		/* the shared TPM is not the client's to shut down; its state is kept */
		return rm_reply_rc(rm, step, TPM2_RC_SUCCESS);
	case TPM2_CC_FlushContext:
		r = rm_cmd_flush(rm, step);
		break;
	case TPM2_CC_ContextSave:
		r = rm_cmd_context_save(rm, step);
		break;
	case TPM2_CC_ContextLoad:
		r = rm_cmd_context_load(rm, step);
		break;
	case TPM2_CC_GetCapability:
		r = rm_cmd_getcap(rm, step);
		break;
	case TPM2_CC_ReadPublic:
		r = rm_cmd_read_public(rm, step);
		break;
	default:
		r = RM_PASS;
		break;
	}
	if (r == RM_REPLAN)
		return rm_plan(rm, step);
	if (r != RM_PASS)
		return r;
	if (rm_cc_writes_nv(cc) && (r = rm_nv_rate(rm, step)) != RM_PASS)
		return r;
	if ((r = rm_pin_command(rm, step)) != RM_PASS)
		return r;
	if (caps_r_handle(*attr)) {
		if (cc == TPM2_CC_StartAuthSession) {
			if ((r = rm_session_quota(rm, step)) != RM_PASS)
				return r;
			j->want[ENT_SESSION]++;
		} else {
			if (rm_quota_full(rm, j->rc, ENT_OBJECT))
				return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_OBJECT_HANDLES));
			j->want[ENT_OBJECT]++;
		}
		if (j->fresh == NULL && (r = ent_new(&rm->tab, ENT_OBJECT, &j->fresh)) < 0)
			return r;
	}
	/* the reference TPM's Create builds the object in a free slot */
	if (cc == TPM2_CC_Create)
		j->want[ENT_OBJECT]++;
	return rm_plan(rm, step);
}

/* Plan the job again from the client's command (after a TPM reset or a lost entry). */
static int
rm_replan(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;

	if (j->home != RS_COMMAND)
		return rm_plan(rm, step);
	rm_restore(j);
	return rm_prepare(rm, step);
}

int
rm_begin(struct rm *rm, struct rm_conn *rc, uint8_t *cmd, size_t len, struct rm_step *step)
{
	struct rm_job *j = &rm->job;

	if (step->parked_ns == 0)
		rm->stats.commands++; /* not again when a parked command runs again */
	rm_slots_check(rm);
	rc->own.prev_turn = rc->own.turn;
	rc->own.turn = ++rm->turn;
	rc->own.cmds++;
	j->rc = rc;
	j->cmd = cmd;
	j->len = len;
	j->fixes = 0;
	j->resent = false;
	j->replan = false;
	j->refreshing = false;
	j->param_patched = false;
	/* run again after a TPM warning: it passed its NV write rate before */
	j->nv_charged = step->backoffs > 0;
	j->pc.n_h = 0;
	return rm_prepare(rm, step);
}

int
rm_begin_internal(struct rm *rm, const uint8_t *cmd, size_t len, struct rm_step *step)
{
	struct rm_job *j = &rm->job;

	j->home = j->state = RS_INTERNAL;
	j->rc = NULL;
	j->id = ++rm->job_seq;
	j->reset_gen = rm->reset_gen;
	j->cmd = NULL;
	j->own_cmd = cmd;
	j->len = cmd != NULL ? len : 0;
	j->n_pins = 0;
	j->pc.n_h = j->pc.n_s = 0;
	j->want[ENT_OBJECT] = j->want[ENT_SESSION] = 0;
	j->target = NULL;
	j->subject = NULL;
	j->fixes = 0;
	j->resent = false;
	j->replan = false;
	j->offline = false;
	j->refreshing = false;
	j->param_patched = false;
	step->rsp_len = 0;
	return rm_plan(rm, step);
}

int
rm_close(struct rm *rm, struct rm_conn *rc, struct rm_step *step)
{
	struct rm_job *j = &rm->job;

	if (rc->own.n_objs == 0 && rc->own.n_sess == 0) {
		/* nothing in the TPM: no job (the caller may be outside the scheduler) */
		rm_conn_free(rm, rc);
		return RM_DONE;
	}
	j->home = j->state = RS_CLOSE;
	j->rc = rc;
	j->id = ++rm->job_seq;
	j->reset_gen = rm->reset_gen;
	j->cmd = NULL;
	j->own_cmd = NULL;
	j->n_pins = 0;
	j->pc.n_h = j->pc.n_s = 0;
	j->want[ENT_OBJECT] = j->want[ENT_SESSION] = 0;
	j->target = NULL;
	j->subject = NULL;
	j->resent = false;
	j->replan = false;
	j->offline = false;
	j->refreshing = false;
	j->param_patched = false;
	j->fixes = 0;
	return rm_plan(rm, step);
}

/* The new handle in a successful response (step->rsp): make it the client's. */
static void
rm_attach_fresh(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct ent_table *t = &rm->tab;
	struct rm_ent *e = j->fresh, *stale;
	uint32_t h;

	if (step->rsp_len < TPM_HDR_SIZE + 4 || e == NULL)
		return;
	h = get_be32(step->rsp + TPM_HDR_SIZE);
	if (is_transient(h)) {
		/* a loaded entry at the same TPM handle was flushed without our knowing */
		if ((stale = ent_find_phys(t, h)) != NULL) {
			log_debug("rm: TPM reused handle 0x%08" PRIx32 "; dropping its old entry", h);
			ent_drop(t, stale);
		}
		e->kind = ENT_OBJECT;
		e->used = rm->turn;
		e->used_cmd = j->rc->own.cmds;
		ent_attach(t, e, &j->rc->own, 0);
		ent_set_loaded(t, e, h);
		put_be32(step->rsp + TPM_HDR_SIZE, e->handle);
		/* a loaded context is the object's saved state until it is used */
		if (j->pc.cc == TPM2_CC_ContextLoad)
			(void)ent_set_blob(t, e, j->cmd + j->pc.params, j->len - j->pc.params);
	} else if (sess_is_handle(h)) {
		if ((stale = ent_find_session(t, h)) != NULL) {
			log_debug("rm: TPM reused session 0x%08" PRIx32 "; dropping its old entry",
				  h);
			ent_free(t, stale);
		}
		e->kind = ENT_SESSION;
		e->used = rm->turn;
		e->used_cmd = j->rc->own.cmds;
		ent_attach(t, e, &j->rc->own, h);
		ent_set_loaded(t, e, h);
	} else {
		return; /* not ours to virtualize */
	}
	j->fresh = NULL;
}

/* Forget e (the TPM flushed it) and every reference the job holds to it. */
static void
rm_forget(struct rm *rm, struct rm_ent *e)
{
	struct rm_job *j = &rm->job;

	for (unsigned i = 0; i < j->pc.n_h; i++) {
		if (j->hent[i] == e)
			j->hent[i] = NULL;
	}
	for (unsigned i = 0; i < j->pc.n_s; i++) {
		if (j->sent[i] == e)
			j->sent[i] = NULL;
	}
	if (j->subject == e)
		j->subject = NULL;
	ent_free(&rm->tab, e);
}

static int
rm_send_resync(struct rm *rm, struct rm_step *step)
{
	rm->stats.resyncs++;
	return rm_send(rm, step, RS_RESYNC, NULL,
		       tpmcmd_get_capability(rm->scratch, sizeof(rm->scratch), TPM2_CAP_HANDLES,
					     ENT_TRANSIENT_FIRST, TPM2_MAX_CAP_HANDLES));
}

/* Bookkeeping after the client's command ran (its response is in step->rsp). */
static int
rm_command_done(struct rm *rm, struct rm_step *step, uint32_t rc)
{
	struct rm_job *j = &rm->job;
	TPMA_CC attr = j->pc.attr;

	/* a sequence object changes when used: its saved context is stale */
	for (unsigned i = 0; i < j->pc.n_h; i++) {
		if (j->hent[i] != NULL && j->hent[i]->sequence)
			j->hent[i]->blob_valid = false;
	}
	if (rc != TPM2_RC_SUCCESS)
		return rm_trim(rm, step);
	if (j->pc.cc == TPM2_CC_ReadPublic && j->pc.tag == TPM2_ST_NO_SESSIONS &&
	    j->hent[0] != NULL && j->hent[0]->kind == ENT_OBJECT)
		ent_set_pub(&rm->tab, j->hent[0], step->rsp, step->rsp_len);
	if (attr & TPMA_CC_FLUSHED) {
		for (unsigned i = 0; i < j->pc.n_h; i++) {
			if (j->hent[i] != NULL && j->hent[i]->kind == ENT_OBJECT)
				rm_forget(rm, j->hent[i]);
		}
	}
	/* continueSession clear: the TPM closed the session on success */
	for (unsigned i = 0; i < j->pc.n_s; i++) {
		if (j->sent[i] != NULL && !(j->pc.s_attr[i] & TPMA_SESSION_CONTINUESESSION))
			rm_forget(rm, j->sent[i]);
	}
	if (caps_r_handle(attr))
		rm_attach_fresh(rm, step);
	if (attr & TPMA_CC_EXTENSIVE)
		return rm_send_resync(rm, step);
	return rm_trim(rm, step);
}


/*
 * The cure rmfix.c picks for rc (own: in answer to one of the RM's own
 * commands): the plan's next step, or RM_PASS (the TPM's answer stands).
 */
static int
rm_cure(struct rm *rm, uint32_t rc, bool own, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *v = NULL;

	switch (rm_fix_pick(rm, rc, own, &v)) {
	case FIX_NONE:
		break;
	case FIX_EVICT_OBJECT:
	case FIX_EVICT_SESSION:
		return rm_evict(rm, v, step);
	case FIX_SESSION_ROOM:
		return rm_session_room(rm, step);
	case FIX_GAP:
		j->refreshing = false; /* a save that failed; a refresh sets it again */
		return rm_gap_cure(rm, step);
	case FIX_RESEND:
		/* own: rm->scratch is unchanged, step->tpm_cmd once more */
		return own ? RM_SEND : rm_plan(rm, step);
	case FIX_BACKOFF:
		/* not after the client's command ran (a re-sync): parking would run it
		 * twice; close and internal jobs never wait */
		if (own && (j->state == RS_RESYNC || j->home != RS_COMMAND || j->trimming))
			return RM_SEND;
		return rm_backoff(rm, step);
	}
	return RM_PASS;
}

static int
rm_client_answered(struct rm *rm, const uint8_t *rsp, size_t len, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	uint32_t rc = wire_response_rc(rsp, len);
	int r;

	if (rc != TPM2_RC_SUCCESS && (r = rm_cure(rm, rc, false, step)) != RM_PASS)
		return r;
	if (len > step->rsp_cap)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SIZE));
	memcpy(step->rsp, rsp, len);
	step->rsp_len = len;
	if (j->subject == NULL)
		return rm_command_done(rm, step, rc);
	/* the client's FlushContext or ContextSave of its own entry */
	if (rc == TPM2_RC_SUCCESS && j->pc.cc == TPM2_CC_FlushContext)
		rm_forget(rm, j->subject);
	else if (rc == TPM2_RC_SUCCESS)
		rm_cmd_saved(rm, step);
	return rm_trim(rm, step);
}

/* The TPM refused to load e's context: e is gone. */
static int
rm_lost(struct rm *rm, struct rm_ent *e, uint32_t rc, struct rm_step *step)
{
	struct rm_job *j = &rm->job;

	log_debug("rm: ContextLoad of 0x%08" PRIx32 " failed (0x%08" PRIx32 "); dropped",
		  e->handle, rc);
	j->n_pins = 0; /* planned again below: the pins point at e */
	if (e->kind == ENT_SESSION) {
		/* the TPM still counts it active: flush it, then plan the command again */
		j->replan = true;
		return rm_send_flush(rm, e, step);
	}
	ent_drop(&rm->tab, e);
	return rm_replan(rm, step);
}

static int
rm_loaded(struct rm *rm, const uint8_t *rsp, size_t len, struct rm_step *step)
{
	struct rm_ent *e = rm->job.target, *stale;
	uint32_t rc = wire_response_rc(rsp, len), h;
	int r;

	if (rc == TPM2_RC_SUCCESS && len >= TPM_HDR_SIZE + 4) {
		h = get_be32(rsp + TPM_HDR_SIZE);
		/* the client's own ContextLoad of its session is no swap */
		if (rm->job.subject != e)
			rm->stats.context_loads++;
		if (e->kind == ENT_OBJECT) {
			if ((stale = ent_find_phys(&rm->tab, h)) != NULL)
				ent_drop(&rm->tab, stale);
			ent_set_loaded(&rm->tab, e, h);
		} else {
			ent_set_loaded(&rm->tab, e, e->handle);
			e->blob_valid = false; /* a session context loads once */
		}
		return rm_plan(rm, step);
	}
	if (rm_fix_known(rc)) {
		/* the TPM is full, not the context bad: its answer stands if nothing cures it */
		if ((r = rm_cure(rm, rc, false, step)) != RM_PASS)
			return r;
		return rm_reply_rc(rm, step, rc);
	}
	return rm_lost(rm, e, rc, step);
}

static int
rm_saved(struct rm *rm, const uint8_t *rsp, size_t len, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *v = j->target;
	uint32_t rc = wire_response_rc(rsp, len);
	bool refresh = j->refreshing;

	j->refreshing = false;
	if (rc != TPM2_RC_SUCCESS ||
	    ent_set_blob(&rm->tab, v, rsp + TPM_HDR_SIZE, len - TPM_HDR_SIZE) < 0) {
		/* it stays where it is; another victim is chosen */
		log_debug("rm: ContextSave of 0x%08" PRIx32 " failed (0x%08" PRIx32
			  "); kept loaded",
			  v->handle, rc);
		v->noswap = true;
		return rm_plan(rm, step);
	}
	rm->stats.context_saves++;
	if (v->kind == ENT_SESSION) {
		/* a saved session frees its slot: no flush */
		ent_set_unloaded(&rm->tab, v);
		rm_session_saved(rm, v);
		if (refresh)
			rm->stats.gap_refreshes++;
		else
			rm->stats.evictions++;
		return rm_plan(rm, step);
	}
	return rm_evict(rm, v, step); /* now FlushContext (blob_valid: ent_set_blob) */
}

static int
rm_resynced(struct rm *rm, const uint8_t *rsp, size_t len, struct rm_step *step)
{
	struct ent_table *t = &rm->tab;
	struct rm_ent *e, *next;
	const TPML_HANDLE *l = &rm->capd.data.handles;
	struct rm_conn *rc;
	size_t n;
	bool more = false;

	if (tpmcmd_parse_capability(rsp, len, &more, &rm->capd) < 0 ||
	    rm->capd.capability != TPM2_CAP_HANDLES) {
		log_debug("rm: re-sync of transient handles failed");
		return rm_trim(rm, step);
	}
	n = l->count;
	for (e = TAILQ_FIRST(&t->lru[ENT_OBJECT]); e != NULL; e = next) {
		bool found = false;
		next = TAILQ_NEXT(e, lru);
		for (size_t i = 0; i < n && !found; i++)
			found = l->handle[i] == e->phys;
		/* beyond a partial list nothing is known */
		if (found || (more && n > 0 && e->phys > l->handle[n - 1]))
			continue;
		log_debug("rm: object 0x%08" PRIx32 " was flushed by the TPM", e->handle);
		ent_drop(t, e);
	}
	/* a swapped-out object may be dead too (its hierarchy changed): let the
	 * next ReadPublic load it and find out rather than answer for it */
	TAILQ_FOREACH(rc, &rm->conns, entry) {
		TAILQ_FOREACH(e, &rc->own.objs, link) {
			if (!e->loaded)
				e->pub_len = 0;
		}
	}
	return rm_trim(rm, step);
}


/* The saved session e was loaded to be refreshed: save it at once. */
static int
rm_refresh_loaded(struct rm *rm, const uint8_t *rsp, size_t len, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *e = j->target;

	if (wire_response_rc(rsp, len) != TPM2_RC_SUCCESS) {
		/* its context does not load any more: the session is gone */
		log_debug("rm: refresh of session 0x%08" PRIx32 " failed (0x%08" PRIx32 ")",
			  e->handle, wire_response_rc(rsp, len));
		return rm_evict_session(rm, e, false, step);
	}
	ent_set_loaded(&rm->tab, e, e->handle);
	e->blob_valid = false; /* a session context loads once */
	j->refreshing = true;
	return rm_send(rm, step, RS_SAVE, e,
		       tpmcmd_context_save(rm->scratch, sizeof(rm->scratch), e->handle));
}

/* The TPM answered the Startup owed since rm_tpm_reset(). */
static int
rm_started(struct rm *rm, const uint8_t *rsp, size_t len, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	uint32_t rc = wire_response_rc(rsp, len);

	if (rc == TPM2_RC_SUCCESS || rc == TPM2_RC_INITIALIZE) {
		rm->need_startup = false;
		rm->stats.tpm_startups++;
		return rm_plan(rm, step);
	}
	/* the mark stays: the next job tries again */
	log_debug("rm: TPM2_Startup after a reset failed (0x%08" PRIx32 ")", rc);
	if (j->home == RS_CLOSE) {
		/* nothing can be flushed in a TPM that does not run: forget */
		j->offline = true;
		return rm_close_next(rm, step);
	}
	return rm_reply_rc(rm, step, rc);
}

/* The TPM answered the internal job's command: that is its answer. */
static int
rm_own_answered(struct rm *rm, const uint8_t *rsp, size_t len, struct rm_step *step)
{
	if (step->rsp == NULL)
		return rm_reply_len(rm, step, 0);
	if (len > step->rsp_cap)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SIZE));
	memcpy(step->rsp, rsp, len);
	return rm_reply_len(rm, step, len);
}

int
rm_resume(struct rm *rm, struct rm_conn *rc, const uint8_t *rsp, size_t len, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *e = j->target;
	int r;

	(void)rc; /* the job knows its connection */
	if (j->state == RS_IDLE || j->state == j->home)
		return -EINVAL; /* nothing was sent */
	/* a warning to one of the RM's own commands: nothing happened */
	if (j->state != RS_CLIENT && j->state != RS_OWN &&
	    (r = rm_cure(rm, wire_response_rc(rsp, len), true, step)) != RM_PASS)
		return r;
	switch (j->state) {
	case RS_CLIENT:
		return rm_client_answered(rm, rsp, len, step);
	case RS_OWN:
		return rm_own_answered(rm, rsp, len, step);
	case RS_STARTUP:
		return rm_started(rm, rsp, len, step);
	case RS_SAVE:
		return rm_saved(rm, rsp, len, step);
	case RS_EVICT:
		/* whatever it says, the object is no longer ours in the TPM */
		ent_set_unloaded(&rm->tab, e);
		rm->stats.flushes++;
		rm->stats.evictions++;
		return rm_plan(rm, step);
	case RS_LOAD:
		return rm_loaded(rm, rsp, len, step);
	case RS_FLUSH:
		j->target = NULL;
		rm_forget(rm, e);
		rm->stats.flushes++;
		if (j->replan) {
			j->replan = false;
			return rm_replan(rm, step);
		}
		return rm_plan(rm, step);
	case RS_REFRESH:
		return rm_refresh_loaded(rm, rsp, len, step);
	case RS_RESYNC:
		return rm_resynced(rm, rsp, len, step);
	case RS_IDLE:
	case RS_COMMAND:
	case RS_CLOSE:
	case RS_INTERNAL:
		break;
	}
	return -EINVAL;
}

int
rm_abort(struct rm *rm, struct rm_conn *rc, int err, struct rm_step *step)
{
	struct rm_job *j = &rm->job;

	(void)rc; /* the job knows its connection */
	/* trimming after the client's command: its answer stands, whatever stays loaded */
	if (j->trimming && (err != -ECONNRESET || j->resent || j->reset_gen != rm->reset_gen))
		return rm_done(rm);
	if (err == -ECONNRESET && !j->resent) {
		j->resent = true;
		if (j->reset_gen != rm->reset_gen) {
			/* the TPM lost every context: plan again (Startup first); stale handles
			 * get errors */
			j->n_pins = 0;
			j->replan = false;
			return rm_replan(rm, step);
		}
		return RM_SEND; /* the link is back: step->tpm_cmd once more */
	}
	if (j->home == RS_CLOSE) {
		/* the TPM is out of reach: forget what the client owned */
		j->offline = true;
		return rm_close_next(rm, step);
	}
	if (err == -EOPNOTSUPP && j->state == RS_CLIENT)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_LOCALITY));
	return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_FAILURE));
}
