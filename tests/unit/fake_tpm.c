/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fake_tpm.c: see fake_tpm.h.  Test code: parses with get_be*() on
 * buffers the tests build themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/wire.h"
#include "fake_tpm.h"

#define ATTR(cc, nh, extra) ((TPMA_CC)((cc) | ((uint32_t)(nh) << TPMA_CC_CHANDLES_SHIFT) | (extra)))

TPMA_CC fake_cc_table[] = {
	ATTR(TPM2_CC_Startup, 0, 0),
	ATTR(TPM2_CC_Shutdown, 0, 0),
	ATTR(TPM2_CC_GetRandom, 0, 0),
	ATTR(TPM2_CC_GetCapability, 0, 0),
	ATTR(TPM2_CC_CreatePrimary, 1, TPMA_CC_RHANDLE),
	ATTR(TPM2_CC_Create, 1, 0),
	ATTR(TPM2_CC_Load, 1, TPMA_CC_RHANDLE),
	ATTR(TPM2_CC_ReadPublic, 1, 0),
	ATTR(TPM2_CC_Sign, 1, 0),
	ATTR(TPM2_CC_StartAuthSession, 2, TPMA_CC_RHANDLE),
	ATTR(TPM2_CC_PolicyCommandCode, 1, 0),
	ATTR(TPM2_CC_PolicyGetDigest, 1, 0),
	ATTR(TPM2_CC_ContextSave, 1, 0),
	ATTR(TPM2_CC_ContextLoad, 0, TPMA_CC_RHANDLE),
	ATTR(TPM2_CC_FlushContext, 0, 0),
	ATTR(TPM2_CC_HashSequenceStart, 0, TPMA_CC_RHANDLE),
	ATTR(TPM2_CC_SequenceUpdate, 1, 0),
	ATTR(TPM2_CC_SequenceComplete, 1, TPMA_CC_FLUSHED),
	ATTR(TPM2_CC_Clear, 1, TPMA_CC_EXTENSIVE),
	ATTR(TPM2_CC_NV_Write, 2, TPMA_CC_NV),
	ATTR(FAKE_VENDOR_CC, 1, 0),
};
const size_t fake_cc_count = ARRAY_SIZE(fake_cc_table);

static int
cc_cmp(const void *a, const void *b)
{
	uint32_t ka = caps_cc_key(*(const TPMA_CC *)a), kb = caps_cc_key(*(const TPMA_CC *)b);

	return ka < kb ? -1 : ka > kb;
}

void
fake_caps(struct tpm_caps *caps)
{
	qsort(fake_cc_table, fake_cc_count, sizeof(TPMA_CC), cc_cmp);
	memset(caps, 0, sizeof(*caps));
	caps->cc = fake_cc_table;
	caps->n_cc = fake_cc_count;
	caps->max_command = TB_DEFAULT_MAX_MSG;
	caps->max_response = TB_DEFAULT_MAX_MSG;
	caps->transient_slots = 3;
	caps->loaded_sessions = 3;
	caps->active_sessions_max = 64;
	caps->context_gap_max = 0xffff;
}

void
fake_tpm_init(struct fake_tpm *f)
{
	memset(f, 0, sizeof(*f));
	f->obj_slots = 3;
	f->sess_slots = 3;
	f->active_max = 64;
}

static unsigned
nh_of(uint32_t cc)
{
	for (size_t i = 0; i < fake_cc_count; i++) {
		if (caps_cc_key(fake_cc_table[i]) == caps_cc_key(cc))
			return (fake_cc_table[i] & TPMA_CC_CHANDLES_MASK) >> TPMA_CC_CHANDLES_SHIFT;
	}
	return 0;
}

struct out {
	uint8_t *buf;
	size_t cap;
	size_t len;
};

static void
put32(struct out *o, uint32_t v)
{
	if (o->len + 4 <= o->cap)
		put_be32(o->buf + o->len, v);
	o->len += 4;
}

static void
putb(struct out *o, const void *p, size_t n)
{
	if (o->len + n <= o->cap)
		memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static struct fake_obj *
obj_at(struct fake_tpm *f, uint32_t h)
{
	uint32_t i = h - ENT_TRANSIENT_FIRST;

	if ((h >> 24) != TPM2_HT_TRANSIENT || i >= f->obj_slots || !f->obj[i].used)
		return NULL;
	return &f->obj[i];
}

static int
obj_alloc(struct fake_tpm *f)
{
	for (unsigned i = 0; i < f->obj_slots; i++) {
		if (!f->obj[i].used)
			return (int)i;
	}
	return -1;
}

static struct fake_sess *
sess_at(struct fake_tpm *f, uint32_t h)
{
	uint32_t ht = h >> 24, i = h & 0xffffff;

	if ((ht != TPM2_HT_HMAC_SESSION && ht != TPM2_HT_POLICY_SESSION) || i >= FAKE_SESS_MAX ||
	    f->sess[i].state == FS_NONE || f->sess[i].policy != (ht == TPM2_HT_POLICY_SESSION))
		return NULL;
	return &f->sess[i];
}

unsigned
fake_sessions(const struct fake_tpm *f, enum fake_sess_state st)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FAKE_SESS_MAX; i++)
		n += f->sess[i].state == st;
	return n;
}

unsigned
fake_objects_loaded(const struct fake_tpm *f)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->obj_slots; i++)
		n += f->obj[i].used;
	return n;
}

unsigned
fake_count(const struct fake_tpm *f, size_t from, uint32_t cc)
{
	unsigned n = 0;

	for (size_t i = from; i < f->n_log; i++)
		n += f->log[i].cc == cc;
	return n;
}

unsigned
fake_count_rc(const struct fake_tpm *f, size_t from, uint32_t rc)
{
	unsigned n = 0;

	for (size_t i = from; i < f->n_log; i++)
		n += f->log[i].rc == rc;
	return n;
}

static void
sess_handles(struct fake_tpm *f, uint8_t ht, uint32_t prop, struct out *o)
{
	size_t count_at;
	uint32_t n = 0;

	put32(o, TPM2_CAP_HANDLES);
	count_at = o->len;
	put32(o, 0);
	for (uint32_t i = prop & 0xffffff; i < FAKE_SESS_MAX; i++) {
		struct fake_sess *s = &f->sess[i];
		if (s->state == (ht == TPM2_HT_LOADED_SESSION ? FS_LOADED : FS_SAVED)) {
			put32(o, (s->policy ? TPM2_HR_POLICY_SESSION : TPM2_HR_HMAC_SESSION) + i);
			n++;
		}
	}
	put_be32(o->buf + count_at, n);
}

/* The command proper; *o gets the body after the header.  Returns the rc. */
static uint32_t
run_cc(struct fake_tpm *f, uint32_t cc, const uint32_t *h, const uint8_t *p, size_t plen,
       struct out *o)
{
	struct fake_obj *ob;
	struct fake_sess *s;
	int slot;

	switch (cc) {
	case TPM2_CC_Startup:
	case TPM2_CC_Shutdown:
		return TPM2_RC_SUCCESS;
	case TPM2_CC_GetRandom: {
		uint8_t z[64] = {0};
		uint16_t n = plen >= 2 ? get_be16(p) : 0;
		n = n > 64 ? 64 : n;
		o->buf[o->len] = (uint8_t)(n >> 8);
		o->buf[o->len + 1] = (uint8_t)n;
		o->len += 2;
		putb(o, z, n);
		return TPM2_RC_SUCCESS;
	}
	case TPM2_CC_CreatePrimary:
	case TPM2_CC_Load:
	case TPM2_CC_HashSequenceStart:
		if (cc == TPM2_CC_Load && obj_at(f, h[0]) == NULL)
			return TPM2_RC_REFERENCE_H0;
		if ((slot = obj_alloc(f)) < 0)
			return TPM2_RC_OBJECT_MEMORY;
		f->obj[slot] = (struct fake_obj){.used = true, .id = ++f->next_id, .gen = f->gen,
						 .sequence = cc == TPM2_CC_HashSequenceStart};
		put32(o, ENT_TRANSIENT_FIRST + (uint32_t)slot);
		put32(o, f->obj[slot].id);
		return TPM2_RC_SUCCESS;
	case TPM2_CC_Create:
		if (obj_at(f, h[0]) == NULL)
			return TPM2_RC_REFERENCE_H0;
		/* the reference TPM builds the new object in a free slot */
		if (obj_alloc(f) < 0)
			return TPM2_RC_OBJECT_MEMORY;
		return TPM2_RC_SUCCESS;
	case TPM2_CC_ReadPublic:
	case FAKE_VENDOR_CC:
		if (h[0] == FAKE_PERSISTENT) {
			/* a persistent object takes a transient slot while the command runs */
			if (obj_alloc(f) < 0)
				return TPM2_RC_OBJECT_MEMORY;
			put32(o, 0xffffffff);
			put32(o, 0);
			return TPM2_RC_SUCCESS;
		}
		if ((ob = obj_at(f, h[0])) == NULL)
			return TPM2_RC_REFERENCE_H0;
		put32(o, ob->id);
		put32(o, ob->count);
		return TPM2_RC_SUCCESS;
	case TPM2_CC_Sign:
		if ((ob = obj_at(f, h[0])) == NULL)
			return TPM2_RC_REFERENCE_H0;
		if (plen > 0 && p[0] == FAKE_SIGN_FAIL)
			return TPM2_RC_SIGNATURE | TPM2_RC_P | TPM2_RC_1;
		put32(o, ob->id);
		return TPM2_RC_SUCCESS;
	case TPM2_CC_StartAuthSession: {
		unsigned active = 0, loaded = 0;
		size_t off = 0;
		for (unsigned i = 0; i < 2; i++) {
			if ((h[i] >> 24) == TPM2_HT_TRANSIENT && obj_at(f, h[i]) == NULL)
				return TPM2_RC_REFERENCE_H0 + i;
		}
		for (unsigned i = 0; i < 2 && off + 2 <= plen; i++)
			off += 2u + get_be16(p + off);
		if (off >= plen)
			return TPM2_RC_INSUFFICIENT;
		loaded = fake_sessions(f, FS_LOADED);
		active = loaded + fake_sessions(f, FS_SAVED);
		if (loaded >= f->sess_slots)
			return TPM2_RC_SESSION_MEMORY;
		if (active >= f->active_max)
			return TPM2_RC_SESSION_HANDLES;
		for (uint32_t i = 0; i < FAKE_SESS_MAX; i++) {
			if (f->sess[i].state != FS_NONE)
				continue;
			f->sess[i] = (struct fake_sess){.state = FS_LOADED, .policy = p[off] != 0};
			put32(o, (p[off] != 0 ? TPM2_HR_POLICY_SESSION : TPM2_HR_HMAC_SESSION) + i);
			return TPM2_RC_SUCCESS;
		}
		return TPM2_RC_SESSION_HANDLES;
	}
	case TPM2_CC_PolicyCommandCode:
	case TPM2_CC_PolicyGetDigest:
		if ((s = sess_at(f, h[0])) == NULL || !s->policy)
			return TPM2_RC_HANDLE | TPM2_RC_1;
		if (s->state != FS_LOADED)
			return TPM2_RC_REFERENCE_H0;
		if (cc == TPM2_CC_PolicyCommandCode)
			s->digest = s->digest * 31 + (plen >= 4 ? get_be32(p) : 0);
		else
			put32(o, s->digest);
		return TPM2_RC_SUCCESS;
	case TPM2_CC_ContextSave: {
		uint8_t blob[16];
		if ((ob = obj_at(f, h[0])) != NULL) {
			if (ob->sequence && f->seq_unsaveable)
				return TPM2_RC_TYPE | TPM2_RC_H | TPM2_RC_1;
			put_be32(blob, ob->id);
			put_be32(blob + 4, ob->count);
			put_be32(blob + 8, ob->gen);
			blob[12] = ob->sequence;
			put32(o, (uint32_t)(++f->ctx_seq >> 32));
			put32(o, (uint32_t)f->ctx_seq);
			put32(o, ob->sequence ? 0x80000001u : 0x80000000u);
			put32(o, TPM2_RH_OWNER);
			o->buf[o->len++] = 0;
			o->buf[o->len++] = 13;
			putb(o, blob, 13);
			return TPM2_RC_SUCCESS;
		}
		if ((s = sess_at(f, h[0])) != NULL) {
			if (s->state != FS_LOADED)
				return TPM2_RC_REFERENCE_H0;
			/* the counter may not run gap_max past the oldest saved session */
			for (unsigned i = 0; f->gap_max > 0 && i < FAKE_SESS_MAX; i++) {
				if (f->sess[i].state == FS_SAVED &&
				    f->sess_seq + 1 - f->sess[i].seq > f->gap_max)
					return TPM2_RC_CONTEXT_GAP;
			}
			s->state = FS_SAVED;
			s->seq = ++f->sess_seq;
			put32(o, (uint32_t)(s->seq >> 32));
			put32(o, (uint32_t)s->seq);
			put32(o, h[0]);
			put32(o, TPM2_RH_NULL);
			o->buf[o->len++] = 0;
			o->buf[o->len++] = 4;
			put32(o, h[0] & 0xffffff);
			return TPM2_RC_SUCCESS;
		}
		return TPM2_RC_HANDLE | TPM2_RC_1;
	}
	case TPM2_CC_ContextLoad: {
		uint64_t seq;
		uint32_t saved;
		uint16_t dl;
		if (plen < 18)
			return TPM2_RC_INSUFFICIENT;
		seq = (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
		saved = get_be32(p + 8);
		dl = get_be16(p + 16);
		if (plen != 18u + dl)
			return TPM2_RC_SIZE;
		if ((saved >> 24) == TPM2_HT_TRANSIENT) {
			if (dl != 13)
				return TPM2_RC_SIZE | TPM2_RC_P | TPM2_RC_1;
			if (get_be32(p + 18 + 8) != f->gen)
				return TPM2_RC_INTEGRITY | TPM2_RC_P | TPM2_RC_1;
			if ((slot = obj_alloc(f)) < 0)
				return TPM2_RC_OBJECT_MEMORY;
			f->obj[slot] = (struct fake_obj){.used = true, .id = get_be32(p + 18),
							 .count = get_be32(p + 22), .gen = f->gen,
							 .sequence = p[30] != 0};
			put32(o, ENT_TRANSIENT_FIRST + (uint32_t)slot);
			return TPM2_RC_SUCCESS;
		}
		if ((s = sess_at(f, saved)) == NULL || s->state != FS_SAVED || s->seq != seq)
			return TPM2_RC_HANDLE | TPM2_RC_P | TPM2_RC_1;
		if (fake_sessions(f, FS_LOADED) >= f->sess_slots)
			return TPM2_RC_SESSION_MEMORY;
		s->state = FS_LOADED;
		put32(o, saved);
		return TPM2_RC_SUCCESS;
	}
	case TPM2_CC_FlushContext: {
		uint32_t fh = plen >= 4 ? get_be32(p) : 0;
		if ((ob = obj_at(f, fh)) != NULL) {
			ob->used = false;
			return TPM2_RC_SUCCESS;
		}
		if ((s = sess_at(f, fh)) != NULL) {
			s->state = FS_NONE;
			return TPM2_RC_SUCCESS;
		}
		return TPM2_RC_HANDLE | TPM2_RC_P | TPM2_RC_1;
	}
	case TPM2_CC_GetCapability: {
		uint32_t cap = get_be32(p), prop = get_be32(p + 4);
		if (cap != TPM2_CAP_HANDLES)
			return TPM2_RC_VALUE | TPM2_RC_P | TPM2_RC_1;
		o->buf[o->len++] = 0; /* moreData */
		if ((prop >> 24) == TPM2_HT_TRANSIENT) {
			size_t count_at;
			uint32_t n = 0;
			put32(o, TPM2_CAP_HANDLES);
			count_at = o->len;
			put32(o, 0);
			for (unsigned i = 0; i < f->obj_slots; i++) {
				if (f->obj[i].used && ENT_TRANSIENT_FIRST + i >= prop) {
					put32(o, ENT_TRANSIENT_FIRST + i);
					n++;
				}
			}
			put_be32(o->buf + count_at, n);
		} else {
			sess_handles(f, (uint8_t)(prop >> 24), prop, o);
		}
		return TPM2_RC_SUCCESS;
	}
	case TPM2_CC_SequenceUpdate:
	case TPM2_CC_SequenceComplete:
		if ((ob = obj_at(f, h[0])) == NULL)
			return TPM2_RC_REFERENCE_H0;
		if (!ob->sequence)
			return TPM2_RC_MODE | TPM2_RC_H | TPM2_RC_1;
		if (cc == TPM2_CC_SequenceUpdate) {
			ob->count++;
			return TPM2_RC_SUCCESS;
		}
		put32(o, ob->count);
		ob->used = false;
		return TPM2_RC_SUCCESS;
	case TPM2_CC_Clear:
		/* every transient object goes; saved contexts no longer load */
		for (unsigned i = 0; i < FAKE_OBJ_MAX; i++)
			f->obj[i].used = false;
		f->gen++;
		return TPM2_RC_SUCCESS;
	case TPM2_CC_NV_Write:
		return TPM2_RC_SUCCESS; /* counted in the log: the NV write rate tests */
	default:
		return TPM2_RC_COMMAND_CODE;
	}
}

size_t
fake_tpm_run(struct fake_tpm *f, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap)
{
	struct out o = {.buf = rsp, .cap = cap, .len = TPM_HDR_SIZE};
	uint16_t tag = get_be16(cmd);
	uint32_t cc = get_be32(cmd + 6), h[8] = {0}, rc = TPM2_RC_SUCCESS;
	uint32_t sh[3] = {0};
	uint8_t sa[3] = {0};
	unsigned nh = nh_of(cc), ns = 0;
	size_t off = TPM_HDR_SIZE;

	for (unsigned i = 0; i < nh && off + 4 <= len; i++, off += 4)
		h[i] = get_be32(cmd + off);
	if (tag == TPM2_ST_SESSIONS && off + 4 <= len) {
		size_t end = off + 4 + get_be32(cmd + off);
		off += 4;
		while (off + 9 <= end && ns < 3) {
			sh[ns] = get_be32(cmd + off);
			off += 4;
			off += 2u + get_be16(cmd + off);
			sa[ns] = cmd[off++];
			off += 2u + get_be16(cmd + off);
			ns++;
		}
		off = end;
	}
	if (cc == TPM2_CC_Startup) {
		rc = f->startup_rc != 0 ? f->startup_rc
		     : f->unstarted     ? TPM2_RC_SUCCESS
					: TPM2_RC_INITIALIZE;
		if (rc == TPM2_RC_SUCCESS)
			f->unstarted = false;
		goto out;
	}
	if (f->unstarted) {
		rc = TPM2_RC_INITIALIZE;
		goto out;
	}
	if (f->inject_n > 0 && cc != TPM2_CC_ContextSave && cc != TPM2_CC_ContextLoad &&
	    cc != TPM2_CC_FlushContext) {
		f->inject_n--;
		rc = f->inject_rc;
		goto out;
	}
	/* authorization sessions must be loaded */
	for (unsigned i = 0; i < ns; i++) {
		struct fake_sess *s = sess_at(f, sh[i]);
		if ((sh[i] >> 24) == TPM2_HT_HMAC_SESSION || (sh[i] >> 24) == TPM2_HT_POLICY_SESSION) {
			if (s == NULL || s->state != FS_LOADED) {
				rc = TPM2_RC_REFERENCE_S0 + i;
				goto out;
			}
		}
	}
	rc = run_cc(f, cc, h, cmd + off, off <= len ? len - off : 0, &o);
	if (rc == TPM2_RC_SUCCESS) {
		for (unsigned i = 0; i < ns; i++) {
			struct fake_sess *s = sess_at(f, sh[i]);
			if (s == NULL)
				continue;
			s->uses++;
			if (!(sa[i] & TPMA_SESSION_CONTINUESESSION))
				s->state = FS_NONE;
		}
	}
out:
	if (f->n_log < FAKE_LOG_MAX) {
		uint32_t lh = nh > 0 ? h[0] : 0;
		if (cc == TPM2_CC_FlushContext && len >= 14)
			lh = get_be32(cmd + 10);
		f->log[f->n_log++] = (struct fake_log){.cc = cc, .h = lh, .rc = rc};
	}
	if (rc != TPM2_RC_SUCCESS)
		o.len = TPM_HDR_SIZE;
	wire_hdr_put(rsp, TPM2_ST_NO_SESSIONS, (uint32_t)o.len, rc);
	return o.len;
}
