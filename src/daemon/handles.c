/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * handles.c: entries for transient objects and sessions, their pool, the
 * per-kind LRU queues and virtual handle allocation.  See handles.h.
 * Lists are short (a connection's objects are bounded by its quota; at most
 * a handful are loaded), so lookups are linear scans of small tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tpm2_types.h>

#include "handles.h"
#include "tpmcmd.h"

/* Free entries kept for reuse; more are given back to malloc. */
#define ENT_POOL_MAX 256u

void
ent_table_init(struct ent_table *t, size_t blob_cap)
{
	memset(t, 0, sizeof(*t));
	TAILQ_INIT(&t->pool);
	TAILQ_INIT(&t->lru[ENT_OBJECT]);
	TAILQ_INIT(&t->lru[ENT_SESSION]);
	TAILQ_INIT(&t->sessions);
	TAILQ_INIT(&t->abandoned);
	t->blob_cap = blob_cap;
}

void
ent_table_free(struct ent_table *t)
{
	struct rm_ent *e;

	while ((e = TAILQ_FIRST(&t->pool)) != NULL) {
		TAILQ_REMOVE(&t->pool, e, link);
		free(e);
	}
	t->n_pool = 0;
}

void
ent_owner_init(struct ent_owner *o, uid_t uid)
{
	memset(o, 0, sizeof(*o));
	TAILQ_INIT(&o->objs);
	TAILQ_INIT(&o->sess);
	o->vh_floor = ENT_TRANSIENT_FIRST;
	o->uid = uid;
}

int
ent_new(struct ent_table *t, enum ent_kind kind, struct rm_ent **ret)
{
	struct rm_ent *e = TAILQ_FIRST(&t->pool);

	if (e != NULL) {
		TAILQ_REMOVE(&t->pool, e, link);
		t->n_pool--;
	} else {
		e = malloc(sizeof(*e) + t->blob_cap + ENT_PUB_MAX);
		if (e == NULL)
			return -ENOMEM;
	}
	memset(e, 0, sizeof(*e)); /* not the blob: blob_len says what is valid */
	e->kind = (uint8_t)kind;
	*ret = e;
	return 0;
}

static struct ent_q *
ent_home(struct ent_table *t, struct rm_ent *e)
{
	if (e->owner == NULL)
		return &t->abandoned;
	return e->kind == ENT_OBJECT ? &e->owner->objs : &e->owner->sess;
}

/* Take e out of its owner's list (or the abandoned queue); stays tracked. */
static void
ent_detach(struct ent_table *t, struct rm_ent *e)
{
	if (!e->attached)
		return;
	TAILQ_REMOVE(ent_home(t, e), e, link);
	if (e->owner == NULL)
		t->n_abandoned--;
	else if (e->kind == ENT_OBJECT)
		e->owner->n_objs--;
	else
		e->owner->n_sess--;
	if (e->owner != NULL && e->owner->acct != NULL)
		e->owner->acct->n[e->kind]--;
	if (e->owner != NULL && e->owner->cg != NULL)
		e->owner->cg->n[e->kind]--;
	e->attached = false;
	e->owner = NULL;
}

void
ent_free(struct ent_table *t, struct rm_ent *e)
{
	if (e->loaded)
		ent_set_unloaded(t, e);
	if (e->attached) {
		if (e->kind == ENT_SESSION) {
			TAILQ_REMOVE(&t->sessions, e, all);
			t->n_sessions--;
			t->sessions_freed++;
		} else {
			t->n_objects--;
		}
		ent_detach(t, e);
	}
	if (t->n_pool >= ENT_POOL_MAX) {
		free(e);
		return;
	}
	TAILQ_INSERT_HEAD(&t->pool, e, link); /* LIFO: the warmest memory first */
	t->n_pool++;
}

/* The lowest value from the floor up that o does not use. */
static uint32_t
ent_next_vh(const struct ent_owner *o)
{
	uint32_t h = o->vh_floor;

	/* the quota keeps the list short and far below 2^24 values: this ends */
	while (ent_find(o, ENT_OBJECT, h) != NULL)
		h = h >= ENT_TRANSIENT_LAST ? ENT_TRANSIENT_FIRST : h + 1;
	return h;
}

/* o may still hold value h of an object it lost: none at or below h again. */
static void
ent_owner_raise_floor(struct ent_owner *o, uint32_t h)
{
	if (h < o->vh_floor)
		return;
	/* past the range (after 16M lost objects) start again from the bottom */
	o->vh_floor = h >= ENT_TRANSIENT_LAST ? ENT_TRANSIENT_FIRST : h + 1;
}

void
ent_attach(struct ent_table *t, struct rm_ent *e, struct ent_owner *owner, uint32_t handle)
{
	bool tracked = e->attached;

	ent_detach(t, e);
	e->owner = owner;
	e->uid = owner->uid;
	if (e->kind == ENT_OBJECT) {
		e->handle = ent_next_vh(owner);
		TAILQ_INSERT_TAIL(&owner->objs, e, link);
		owner->n_objs++;
		if (!tracked)
			t->n_objects++;
	} else {
		e->handle = handle;
		TAILQ_INSERT_TAIL(&owner->sess, e, link);
		owner->n_sess++;
		/* the TPM gave the handle out again: it is a live session now */
		for (unsigned i = 0; i < ENT_TOMBS; i++) {
			if (owner->tomb[i] == handle)
				owner->tomb[i] = 0;
		}
		if (!tracked) {
			TAILQ_INSERT_TAIL(&t->sessions, e, all);
			t->n_sessions++;
		}
	}
	if (owner->acct != NULL)
		owner->acct->n[e->kind]++;
	if (owner->cg != NULL)
		owner->cg->n[e->kind]++;
	e->attached = true;
}

void
ent_owner_tomb(struct ent_owner *o, uint32_t h)
{
	o->tomb[o->n_tomb] = h;
	o->n_tomb = (o->n_tomb + 1) % ENT_TOMBS;
}

bool
ent_owner_is_tomb(const struct ent_owner *o, uint32_t h)
{
	for (unsigned i = 0; i < ENT_TOMBS; i++) {
		if (o->tomb[i] == h && h != 0)
			return true;
	}
	return false;
}

void
ent_set_loaded(struct ent_table *t, struct rm_ent *e, uint32_t phys)
{
	if (e->loaded)
		TAILQ_REMOVE(&t->lru[e->kind], e, lru);
	else
		t->n_loaded[e->kind]++;
	TAILQ_INSERT_TAIL(&t->lru[e->kind], e, lru);
	e->loaded = true;
	e->phys = phys;
}

void
ent_set_unloaded(struct ent_table *t, struct rm_ent *e)
{
	if (!e->loaded)
		return;
	TAILQ_REMOVE(&t->lru[e->kind], e, lru);
	t->n_loaded[e->kind]--;
	e->loaded = false;
	e->phys = 0;
}

void
ent_touch(struct ent_table *t, struct rm_ent *e)
{
	if (!e->loaded || TAILQ_NEXT(e, lru) == NULL)
		return;
	TAILQ_REMOVE(&t->lru[e->kind], e, lru);
	TAILQ_INSERT_TAIL(&t->lru[e->kind], e, lru);
}

int
ent_set_blob(struct ent_table *t, struct rm_ent *e, const uint8_t *blob, size_t len)
{
	struct tpmcmd_context ctx;

	if (tpmcmd_parse_context(blob, len, &ctx) < 0)
		return -EBADMSG;
	if (len > t->blob_cap || len > UINT16_MAX)
		return -EMSGSIZE;
	memcpy(e->blob, blob, len);
	e->blob_len = (uint16_t)len;
	e->blob_valid = true;
	e->seq = ctx.sequence;
	/* an object's savedHandle tells a sequence object (it changes when used) */
	if (e->kind == ENT_OBJECT)
		e->sequence = ctx.saved == ENT_SAVED_SEQUENCE;
	return 0;
}

void
ent_set_pub(struct ent_table *t, struct rm_ent *e, const uint8_t *rsp, size_t len)
{
	if (len > ENT_PUB_MAX)
		return; /* not cached: ReadPublic goes to the TPM */
	memcpy(e->blob + t->blob_cap, rsp, len);
	e->pub_len = (uint16_t)len;
}

const uint8_t *
ent_pub(const struct ent_table *t, const struct rm_ent *e)
{
	return e->pub_len > 0 ? e->blob + t->blob_cap : NULL;
}

static bool
ent_idle(const struct rm_ent *e, const struct ent_owner *asker)
{
	const struct ent_owner *o = e->owner;

	if (o == NULL || o->cmds - e->used_cmd > ENT_DORMANT)
		return true;
	return o != asker && o->turn <= asker->prev_turn;
}

/* When the owner of e comes back, as far as round robin tells: later is larger. */
static uint64_t
ent_owner_turn(const struct rm_ent *e, const struct ent_owner *asker)
{
	return e->owner == asker ? asker->prev_turn : e->owner->turn;
}

struct rm_ent *
ent_victim(struct ent_table *t, enum ent_kind kind, uint64_t job, const struct ent_owner *asker)
{
	struct rm_ent *e, *best = NULL;

	/* the queue is in order of use: the first idle one is the LRU one */
	TAILQ_FOREACH(e, &t->lru[kind], lru) {
		if (e->pin == job || e->noswap)
			continue;
		if (asker == NULL || asker->prev_turn == 0 || ent_idle(e, asker))
			return e;
		/* ties: another owner's most recently used (it cycles through them),
		 * the asker's own least recently used (locality) */
		if (best == NULL || ent_owner_turn(e, asker) > ent_owner_turn(best, asker) ||
		    (ent_owner_turn(e, asker) == ent_owner_turn(best, asker) && e->owner != asker))
			best = e;
	}
	return best;
}

struct rm_ent *
ent_find(const struct ent_owner *o, enum ent_kind kind, uint32_t handle)
{
	struct rm_ent *e;

	TAILQ_FOREACH(e, kind == ENT_OBJECT ? &o->objs : &o->sess, link) {
		if (e->handle == handle)
			return e;
	}
	return NULL;
}

struct rm_ent *
ent_find_session(const struct ent_table *t, uint32_t handle)
{
	struct rm_ent *e;

	TAILQ_FOREACH(e, &t->sessions, all) {
		if (e->handle == handle)
			return e;
	}
	return NULL;
}

struct rm_ent *
ent_find_phys(const struct ent_table *t, uint32_t phys)
{
	struct rm_ent *e;

	TAILQ_FOREACH(e, &t->lru[ENT_OBJECT], lru) {
		if (e->phys == phys)
			return e;
	}
	return NULL;
}

void
ent_drop(struct ent_table *t, struct rm_ent *e)
{
	if (e->kind == ENT_OBJECT && e->attached && e->owner != NULL)
		ent_owner_raise_floor(e->owner, e->handle);
	ent_free(t, e);
}

void
ent_owner_drop(struct ent_table *t, struct ent_owner *o)
{
	struct rm_ent *e;

	while ((e = TAILQ_FIRST(&o->objs)) != NULL)
		ent_drop(t, e);
	while ((e = TAILQ_FIRST(&o->sess)) != NULL)
		ent_free(t, e);
}
