/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sessions.h: session policy on top of the entry tables (handles.h):
 * abandoning a client-saved session when its connection leaves, who may
 * take one over, and which abandoned session goes when there are too many.
 *
 * A session the client ContextSaved (tpm2_startauthsession -S s.ctx) is not
 * flushed when the connection closes: it is *abandoned*, still active in the
 * TPM, waiting for another process to ContextLoad the same blob.  A
 * connection of the same uid that presents exactly the blob the client was
 * given takes it over.  Abandoned sessions are bounded per uid and in all;
 * the oldest is flushed first.
 */
#ifndef TB_SESSIONS_H
#define TB_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "handles.h"

static inline bool
sess_is_handle(uint32_t h)
{
	uint32_t ht = h >> TPM2_HR_SHIFT;

	return ht == TPM2_HT_HMAC_SESSION || ht == TPM2_HT_POLICY_SESSION;
}

/* The owner of e left; e is client-saved: keep it for a taker. */
void sess_abandon(struct ent_table *t, struct rm_ent *e);

/*
 * The client was given blob[0..len) for session e: e is saved for it, and
 * the blob's digest is kept to know it again on ContextLoad.
 */
void sess_client_saved(struct rm_ent *e, const uint8_t *blob, size_t len);

/*
 * May owner o take over session e (owned by another connection or
 * abandoned) by ContextLoad of blob[0..len)?  Only a client-saved session,
 * only the very blob its client was given (its digest), only for the same
 * uid, unless its saver's profile shares its contexts (e->shared).
 */
bool sess_may_adopt(const struct rm_ent *e, const struct ent_owner *o, const uint8_t *blob,
		    size_t len);

/*
 * After sessions of uid were abandoned: the abandoned session to flush to
 * get back under max_per_uid (of uid) and max_total, oldest first; NULL if
 * within bounds.
 */
struct rm_ent *sess_trim_victim(const struct ent_table *t, uid_t uid, unsigned max_per_uid,
				unsigned max_total);

/* Oldest abandoned session, or NULL (the TPM ran out of session handles). */
struct rm_ent *sess_oldest_abandoned(const struct ent_table *t);

#endif
