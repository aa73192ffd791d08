/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmsweep.c: at start, before any client, flush what an earlier broker left
 * in the TPM: its clients' transient objects and sessions, loaded or saved.
 * Nobody can use them any more (their virtual handles died with that
 * broker), and they take slots.  Synchronous, like caps_load(); persistent
 * objects and NV are not touched.
 *
 * The TPM may have other users (the kernel's resource manager and
 * /dev/tpmrm0 when the broker uses /dev/tpm0, a boot-time tool keeping a
 * secret in a slot): --sweep=own flushes only the handles the earlier
 * broker recorded holding (held.c writes rm_held_handles() to a file),
 * --sweep=all everything, as a broker that owns the TPM alone may.
 *
 * Also here: rm_held_handles(), what that record says.
 */
#include <errno.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "rm_int.h"
#include "tpmcmd.h"

#define SWEEP_TIMEOUT_MS 30000
/* pages of GetCapability per range: a TPM lists at most a few hundred handles */
#define SWEEP_MAX_PAGES 64

static bool
sweep_is_own(uint32_t h, const uint32_t *own, size_t n_own)
{
	if (own == NULL)
		return true; /* --sweep=all */
	for (size_t i = 0; i < n_own; i++) {
		if (own[i] == h)
			return true;
	}
	return false;
}

int
rm_sweep_handles(rm_xact_fn xact, void *ctx, const uint32_t *own, size_t n_own,
		 struct rm_sweep_result *ret)
{
	/* transient objects, loaded sessions, saved (active, not loaded) sessions */
	static const uint32_t ranges[] = {ENT_TRANSIENT_FIRST, 0x02000000u, 0x03000000u};
	TPMS_CAPABILITY_DATA data;
	const TPML_HANDLE *l = &data.data.handles;
	uint8_t cmd[TPMCMD_MAX], rsp[TB_BUF_MAX];
	struct rm_sweep_result res = {0};
	size_t rlen;
	bool more;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		uint32_t prop = ranges[i];

		/* a page at a time from prop: flushing does not move the handles after it */
		for (int page = 0; page < SWEEP_MAX_PAGES; page++) {
			r = xact(ctx, cmd,
				 tpmcmd_get_capability(cmd, sizeof(cmd), TPM2_CAP_HANDLES, prop,
						       TPM2_MAX_CAP_HANDLES),
				 rsp, sizeof(rsp), &rlen);
			if (r < 0)
				return r;
			if (tpmcmd_parse_capability(rsp, rlen, &more, &data) < 0 ||
			    data.capability != TPM2_CAP_HANDLES)
				return -EIO;
			for (size_t k = 0; k < l->count; k++) {
				uint32_t h = l->handle[k], rc;

				if (!sweep_is_own(h, own, n_own)) {
					res.left++; /* another user's: never ours to flush */
					continue;
				}
				r = xact(ctx, cmd, tpmcmd_flush_context(cmd, sizeof(cmd), h), rsp,
					 sizeof(rsp), &rlen);
				if (r < 0)
					return r;
				rc = wire_response_rc(rsp, rlen);
				if (rc == TPM2_RC_SUCCESS) {
					res.flushed++;
				} else {
					res.left++;
					log_debug("rm: sweep: FlushContext(0x%08x): 0x%08x", h, rc);
				}
			}
			if (!more || l->count == 0)
				break;
			/* sessions list with their own types (0x02, 0x03): page by index */
			prop = (ranges[i] & ~TPM2_HR_HANDLE_MASK) |
			       ((l->handle[l->count - 1] & TPM2_HR_HANDLE_MASK) + 1);
		}
	}
	*ret = res;
	return 0;
}

static int
sweep_xact(void *ctx, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	return be_transact(ctx, cmd, len, rsp, cap, ret_len, SWEEP_TIMEOUT_MS);
}

int
rm_sweep(struct backend *be, unsigned *ret_flushed)
{
	struct rm_sweep_result res;
	int r;

	if ((r = rm_sweep_handles(sweep_xact, be, NULL, 0, &res)) < 0)
		return r;
	*ret_flushed = res.flushed;
	return 0;
}

size_t
rm_held_handles(const struct rm *rm, uint32_t *out, size_t cap)
{
	const struct ent_table *t = &rm->tab;
	const struct rm_ent *e;
	size_t n = 0;

	TAILQ_FOREACH(e, &t->lru[ENT_OBJECT], lru) {
		if (n < cap)
			out[n] = e->phys;
		n++;
	}
	/* every tracked session holds one of the TPM's active session slots */
	TAILQ_FOREACH(e, &t->sessions, all) {
		if (n < cap)
			out[n] = e->handle;
		n++;
	}
	return n;
}
