/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmcmd.c: the commands the resource manager intercepts, and what a client
 * sees of the TPM's handles.
 *
 *   FlushContext   own object: flushed in the TPM if loaded, else its saved
 *                  context is forgotten; own session (or an abandoned one
 *                  of the same uid): flushed in the TPM (loaded or saved).
 *   ContextSave    own object: the TPM's blob (the broker keeps a copy: the
 *                  object can then be evicted by FlushContext alone); own
 *                  session: the TPM's blob, the session is then saved for
 *                  the client, who alone can load it back.  Swapped out by
 *                  the broker: answered from the broker's copy.
 *   ContextLoad    object context: loaded, under a new virtual handle;
 *                  session: only the blob the client was given, by its
 *                  connection or, once abandoned, by one of the same uid.
 *   GetCapability  handles in the transient, loaded-session and
 *   (HANDLES)      saved-session ranges: the connection's own only.
 *   ReadPublic     of an own object whose answer the broker has seen: that
 *                  answer again (an object's public area, name and
 *                  qualified name never change), without loading it.
 *
 * With an audit session (tag TPM_ST_SESSIONS) these are refused with
 * TPM_RC_BAD_TAG in the RM layer: the broker cannot answer the audit.
 */
#include <inttypes.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "rm_int.h"
#include "sessions.h"
#include "tpmcmd.h"

#define RC_BAD_PARAM1 TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_P | TPM2_RC_1)
#define RC_BAD_HANDLE1 TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_H | TPM2_RC_1)
#define RC_EXPIRED_H1 TB_RM_RC(TPM2_RC_EXPIRED | TPM2_RC_H | TPM2_RC_1)
#define RC_EXPIRED_P1 TB_RM_RC(TPM2_RC_EXPIRED | TPM2_RC_P | TPM2_RC_1)

static bool
is_transient(uint32_t h)
{
	return (h >> TPM2_HR_SHIFT) == TPM2_HT_TRANSIENT;
}

int
rm_cmd_flush(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct ent_owner *o = &j->rc->own;
	size_t end = j->pc.params + 4;
	struct rm_ent *e;
	uint32_t h;

	if (j->len < end)
		return RM_PASS; /* the TPM refuses it (TPM_RC_INSUFFICIENT) */
	h = get_be32(j->cmd + j->pc.params);
	if (!is_transient(h) && !sess_is_handle(h))
		return RM_PASS;
	if (j->pc.tag != TPM2_ST_NO_SESSIONS)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_BAD_TAG));
	if (j->len != end)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SIZE));
	if (is_transient(h)) {
		if ((e = ent_find(o, ENT_OBJECT, h)) == NULL)
			return rm_reply_rc(rm, step, RC_BAD_PARAM1);
		if (!e->loaded) {
			ent_free(&rm->tab, e); /* only the broker held it */
			return rm_reply_rc(rm, step, TPM2_RC_SUCCESS);
		}
	} else {
		e = ent_find(o, ENT_SESSION, h);
		if (e == NULL && (e = ent_find_session(&rm->tab, h)) != NULL &&
		    (e->owner != NULL || e->uid != o->uid))
			e = NULL;
		/* flushed for another client: gone, as the client wants it */
		if (e == NULL && ent_owner_is_tomb(o, h))
			return rm_reply_rc(rm, step, TPM2_RC_SUCCESS);
		if (e == NULL)
			return rm_reply_rc(rm, step, RC_BAD_PARAM1);
	}
	j->subject = e;
	j->param_h = h;
	return RM_REPLAN;
}

int
rm_cmd_context_save(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *e;
	enum ent_kind kind;
	uint32_t h;
	size_t len;

	if (j->pc.n_h != 1)
		return RM_PASS;
	h = j->pc.h[0];
	if (is_transient(h))
		kind = ENT_OBJECT;
	else if (sess_is_handle(h))
		kind = ENT_SESSION;
	else
		return RM_PASS;
	if (j->pc.tag != TPM2_ST_NO_SESSIONS)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_BAD_TAG));
	if ((e = ent_find(&j->rc->own, kind, h)) == NULL && kind == ENT_SESSION &&
	    ent_owner_is_tomb(&j->rc->own, h))
		return rm_reply_rc(rm, step, RC_EXPIRED_H1);
	if (e == NULL)
		return rm_reply_rc(rm, step, RC_BAD_HANDLE1);
	if (e->client_saved)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_REFERENCE_H0));
	if (!e->loaded) {
		/* swapped out: the broker's copy is what the TPM would give */
		len = rmp_answer_context(step->rsp, step->rsp_cap, e->blob, e->blob_len);
		if (len == 0)
			return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SIZE));
		if (kind == ENT_SESSION) {
			sess_client_saved(e, e->blob, e->blob_len);
			e->shared = j->rc->lim.share_contexts;
		} else if (rm_bind_saved(rm, j->rc, e->blob, e->blob_len) < 0) {
			return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_MEMORY));
		}
		return rm_reply_len(rm, step, len);
	}
	j->subject = e;
	j->hent[0] = e;
	rm_pin(rm, e);
	return RM_REPLAN;
}

void
rm_cmd_saved(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *e = j->subject;
	const uint8_t *ctx = step->rsp + TPM_HDR_SIZE;
	size_t len = step->rsp_len - TPM_HDR_SIZE;
	int r = -EBADMSG;

	if (step->rsp_len >= TPM_HDR_SIZE)
		r = ent_set_blob(&rm->tab, e, ctx, len);
	if (e->kind == ENT_OBJECT) {
		/* not bound (out of memory): the blob then loads as one the broker never saw */
		if (r == 0 && rm_bind_saved(rm, j->rc, ctx, len) < 0)
			log_debug("rm: object context of uid %lld not bound", (long long)e->uid);
		return;
	}
	if (r < 0) {
		/* cannot happen with blob_cap from max_response; it then cannot be taken over */
		log_debug("rm: session 0x%08" PRIx32 " context not kept (%d)", e->handle, r);
		e->blob_valid = false;
	}
	ent_set_unloaded(&rm->tab, e);
	sess_client_saved(e, ctx, len);
	e->shared = j->rc->lim.share_contexts;
	if (r == 0)
		rm_session_saved(rm, e);
}

int
rm_cmd_context_load(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct ent_owner *o = &j->rc->own;
	const uint8_t *blob = j->cmd + j->pc.params;
	size_t len = j->len - j->pc.params;
	struct tpmcmd_context ctx;
	struct rm_ent *e;
	uint32_t saved;
	int r;

	if (tpmcmd_parse_context(blob, len, &ctx) < 0)
		return RM_PASS; /* malformed: the TPM refuses it, loading nothing */
	saved = ctx.saved;
	if (!is_transient(saved) && !sess_is_handle(saved))
		return RM_PASS;
	if (j->pc.tag != TPM2_ST_NO_SESSIONS)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_BAD_TAG));
	if (is_transient(saved)) {
		if (!rm_bind_may_load(rm, j->rc, blob, len)) {
			rm->stats.foreign_blobs++;
			return rm_reply_rc(rm, step, RC_BAD_PARAM1);
		}
		if (rm_quota_full(rm, j->rc, ENT_OBJECT))
			return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_OBJECT_HANDLES));
		if (j->fresh == NULL && (r = ent_new(&rm->tab, ENT_OBJECT, &j->fresh)) < 0)
			return r;
		j->want[ENT_OBJECT] = 1;
		return RM_REPLAN;
	}
	e = ent_find_session(&rm->tab, saved);
	if (e == NULL || !sess_may_adopt(e, o, blob, len)) {
		if (e != NULL && e->uid != o->uid && !e->shared)
			rm->stats.foreign_blobs++;
		return rm_reply_rc(rm, step, ent_owner_is_tomb(o, saved) ? RC_EXPIRED_P1 : RC_BAD_PARAM1);
	}
	if (e->owner != o && rm_quota_full(rm, j->rc, ENT_SESSION))
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SESSION_HANDLES));
	j->subject = e;
	rm_pin(rm, e); /* loaded by the plan from the broker's copy (the same blob) */
	return RM_REPLAN;
}

int
rm_cmd_adopted(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	struct rm_ent *e = j->subject;
	struct ent_owner *o = &j->rc->own;

	if (e->owner != o) {
		ent_attach(&rm->tab, e, o, e->handle);
		rm->stats.takeovers++;
	}
	e->client_saved = false;
	return rm_reply_len(rm, step, rmp_answer_handle(step->rsp, step->rsp_cap, e->handle));
}

int
rm_cmd_read_public(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	const struct rm_ent *e;
	const uint8_t *pub;

	/* with sessions (audit, encrypt) only the TPM can answer */
	if (j->pc.n_h != 1 || j->pc.tag != TPM2_ST_NO_SESSIONS || j->len != j->pc.params ||
	    !is_transient(j->pc.h[0]))
		return RM_PASS;
	e = ent_find(&j->rc->own, ENT_OBJECT, j->pc.h[0]);
	if (e == NULL || (pub = ent_pub(&rm->tab, e)) == NULL || e->pub_len > step->rsp_cap)
		return RM_PASS;
	memcpy(step->rsp, pub, e->pub_len);
	rm->stats.cached++;
	return rm_reply_len(rm, step, e->pub_len);
}

/* ---- GetCapability(TPM_CAP_HANDLES): the connection's own handles ---- */

/* Order key: transient handles by value, sessions by index (both types mixed). */
static uint32_t
cap_key(uint32_t h, uint8_t ht)
{
	return ht == TPM2_HT_TRANSIENT ? h : h & TPM2_HR_HANDLE_MASK;
}

static bool
cap_lists(const struct rm_ent *e, uint8_t ht, const struct ent_owner *o)
{
	switch (ht) {
	case TPM2_HT_TRANSIENT:
		return e->kind == ENT_OBJECT && e->owner == o;
	case TPM2_HT_LOADED_SESSION:
		return e->kind == ENT_SESSION && e->owner == o && !e->client_saved;
	default: /* TPM2_HT_SAVED_SESSION; abandoned ones of the same uid, too */
		return e->kind == ENT_SESSION && e->client_saved &&
		       (e->owner == o || (e->owner == NULL && e->uid == o->uid));
	}
}

/* The listed entry with the smallest key >= lo, or NULL. */
static const struct rm_ent *
cap_next(const struct rm *rm, const struct ent_owner *o, uint8_t ht, uint32_t lo)
{
	const struct ent_q *lists[2] = {ht == TPM2_HT_TRANSIENT ? &o->objs : &o->sess,
					ht == TPM2_HT_SAVED_SESSION ? &rm->tab.abandoned : NULL};
	const struct rm_ent *e, *best = NULL;

	for (size_t l = 0; l < 2 && lists[l] != NULL; l++) {
		TAILQ_FOREACH(e, lists[l], link) {
			uint32_t k = cap_key(e->handle, ht);
			if (cap_lists(e, ht, o) && k >= lo &&
			    (best == NULL || k < cap_key(best->handle, ht)))
				best = e;
		}
	}
	return best;
}

int
rm_cmd_getcap(struct rm *rm, struct rm_step *step)
{
	struct rm_job *j = &rm->job;
	const struct ent_owner *o = &j->rc->own;
	TPML_HANDLE *l = &rm->capd.data.handles;
	const struct rm_ent *e;
	uint32_t cap, prop, count, lo;
	size_t len;
	bool more = false;
	uint8_t ht;

	if (j->len < j->pc.params + 12)
		return RM_PASS; /* the TPM refuses it */
	cap = get_be32(j->cmd + j->pc.params);
	prop = get_be32(j->cmd + j->pc.params + 4);
	count = get_be32(j->cmd + j->pc.params + 8);
	ht = (uint8_t)(prop >> TPM2_HR_SHIFT);
	if (cap != TPM2_CAP_HANDLES ||
	    (ht != TPM2_HT_TRANSIENT && ht != TPM2_HT_LOADED_SESSION && ht != TPM2_HT_SAVED_SESSION))
		return RM_PASS;
	if (j->pc.tag != TPM2_ST_NO_SESSIONS)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_BAD_TAG));
	if (j->len != j->pc.params + 12)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SIZE));
	count = MIN(count, (uint32_t)TPM2_MAX_CAP_HANDLES);
	lo = cap_key(prop, ht);
	l->count = 0;
	while ((e = cap_next(rm, o, ht, lo)) != NULL) {
		if (l->count == count) {
			more = true;
			break;
		}
		l->handle[l->count++] = e->handle;
		lo = cap_key(e->handle, ht) + 1; /* keys stay below 0x81000000: no wrap */
	}
	len = tpmcmd_answer_handles(step->rsp, step->rsp_cap, l, more);
	if (len == 0)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SIZE));
	return rm_reply_len(rm, step, len);
}
