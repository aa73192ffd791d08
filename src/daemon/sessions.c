/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sessions.c: abandoned sessions and take-over.  See sessions.h.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sessions.h"

void
sess_abandon(struct ent_table *t, struct rm_ent *e)
{
	struct ent_owner *o = e->owner;

	/* keep it tracked (t->sessions): only move it to the abandoned queue */
	TAILQ_REMOVE(&o->sess, e, link);
	o->n_sess--;
	if (o->acct != NULL)
		o->acct->n[ENT_SESSION]--;
	if (o->cg != NULL)
		o->cg->n[ENT_SESSION]--;
	e->owner = NULL;
	TAILQ_INSERT_TAIL(&t->abandoned, e, link);
	t->n_abandoned++;
}

static void
sess_client_md(const uint8_t *blob, size_t len, uint8_t md[32])
{
	unsigned n = 0;

	if (EVP_Digest(blob, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		memset(md, 0, 32); /* matches no blob: the session can't be taken over */
}

void
sess_client_saved(struct rm_ent *e, const uint8_t *blob, size_t len)
{
	e->client_saved = true;
	e->shared = false; /* the caller says, after */
	sess_client_md(blob, len, e->client_md);
}

bool
sess_may_adopt(const struct rm_ent *e, const struct ent_owner *o, const uint8_t *blob,
	       size_t len)
{
	uint8_t md[32];

	if (e->kind != ENT_SESSION || !e->client_saved || e->loaded || !e->blob_valid)
		return false;
	/* the saver's profile may share it (share-contexts): any uid that has the blob */
	if (e->owner != o && e->uid != o->uid && !e->shared)
		return false;
	/*
	 * The blob the client was given, which the broker's copy may no longer
	 * be: a context-gap refresh saves the session again.
	 */
	sess_client_md(blob, len, md);
	return CRYPTO_memcmp(md, e->client_md, sizeof(md)) == 0;
}

struct rm_ent *
sess_trim_victim(const struct ent_table *t, uid_t uid, unsigned max_per_uid, unsigned max_total)
{
	struct rm_ent *e, *oldest = NULL;
	unsigned n = 0;

	TAILQ_FOREACH(e, &t->abandoned, link) {
		if (e->uid != uid)
			continue;
		if (oldest == NULL)
			oldest = e;
		n++;
	}
	if (n > max_per_uid)
		return oldest;
	if (t->n_abandoned > max_total)
		return TAILQ_FIRST(&t->abandoned);
	return NULL;
}

struct rm_ent *
sess_oldest_abandoned(const struct ent_table *t)
{
	return TAILQ_FIRST(&t->abandoned);
}
