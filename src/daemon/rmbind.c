/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmbind.c: saved contexts are bound to their saver.
 *
 * What the TPM allows: a context blob (TPMS_CONTEXT) is integrity-protected
 * and encrypted with a key derived from its hierarchy's proof, so it
 * cannot be forged or read; but anyone who holds the blob can ContextLoad
 * it, as long as the hierarchy's proof is unchanged (an object) or the
 * session is still active and the blob is its latest (a session).  The TPM
 * knows nothing of users: behind a broker every client is the broker.
 *
 * What the broker adds: a context it handed to one uid (the client's
 * ContextSave of an object or of a session) loads for that uid only.
 *  - Sessions: only the blob the client was given loads the session, and
 *    only for its saver's uid (sess_may_adopt()).
 *  - Objects: an object's context may be loaded any number of times and
 *    outlives the connection (tpm2_createprimary -c key.ctx), so the
 *    broker remembers the SHA-256 of every object context it hands out and
 *    the saver's uid, RM_BINDS_PER_UID per uid (a uid's oldest forgotten
 *    first, so no uid can push out another's), and refuses it to others.
 * Unless the saver's profile says share-contexts = yes.  Another uid's blob
 * is answered 0x000B01CB (TPM_RC_HANDLE + P1 in the RM layer), as any
 * session blob the client may not load.  A blob the broker does not know
 * (saved before the daemon started, or forgotten) loads as the TPM allows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "rm_int.h"

static int
bind_md(const uint8_t *blob, size_t len, uint8_t md[32])
{
	unsigned n = 0;

	if (EVP_Digest(blob, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -EIO;
	return 0;
}

static struct rm_bind *
bind_find(const struct rm *rm, const uint8_t md[32])
{
	for (size_t i = 0; i < rm->n_binds; i++) {
		if (CRYPTO_memcmp(rm->binds[i].md, md, 32) == 0)
			return &rm->binds[i];
	}
	return NULL;
}

/* A slot for a new binding of uid: its oldest when it has its fill, else a new one. */
static struct rm_bind *
bind_slot(struct rm *rm, uid_t uid)
{
	struct rm_bind *oldest = NULL, *b;
	unsigned n = 0;

	for (size_t i = 0; i < rm->n_binds; i++) {
		b = &rm->binds[i];
		if (b->uid != uid)
			continue;
		n++;
		if (oldest == NULL || b->seq < oldest->seq)
			oldest = b;
	}
	if (n >= RM_BINDS_PER_UID)
		return oldest;
	if (rm->n_binds == rm->cap_binds) {
		size_t cap = rm->cap_binds == 0 ? 64 : rm->cap_binds * 2;
		b = reallocarray(rm->binds, cap, sizeof(*b));
		if (b == NULL)
			return NULL;
		rm->binds = b;
		rm->cap_binds = cap;
	}
	return &rm->binds[rm->n_binds++];
}

int
rm_bind_saved(struct rm *rm, const struct rm_conn *rc, const uint8_t *blob, size_t len)
{
	uint8_t md[32];
	struct rm_bind *b;
	int r;

	if ((r = bind_md(blob, len, md)) < 0)
		return r;
	if ((b = bind_find(rm, md)) == NULL && (b = bind_slot(rm, rc->own.uid)) == NULL)
		return -ENOMEM;
	memcpy(b->md, md, sizeof(b->md));
	b->uid = rc->own.uid;
	b->share = rc->lim.share_contexts;
	b->seq = ++rm->bind_seq;
	return 0;
}

bool
rm_bind_may_load(struct rm *rm, const struct rm_conn *rc, const uint8_t *blob, size_t len)
{
	const struct rm_bind *b;
	uint8_t md[32];

	if (bind_md(blob, len, md) < 0)
		return false;
	if ((b = bind_find(rm, md)) == NULL)
		return true; /* never handed out by this broker: as the TPM allows */
	return b->uid == rc->own.uid || b->share;
}
