/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tpmcmd.c: see tpmcmd.h.  Commands go through the bounds-checked cursor
 * of src/common/wire.c (itself over libtss2-mu); structures are read with
 * Tss2_MU_* directly.
 */
#include <errno.h>

#include <tss2/tss2_mu.h>

#include "../common/log.h"
#include "../common/wire.h"
#include "tpmcmd.h"

/* The cursor after the header of a command or response in buf. */
static void
tpmcmd_open(struct wire_cur *c, uint8_t *buf, size_t cap)
{
	wire_cur_init(c, buf, cap);
	c->off = TPM_HDR_SIZE;
}

/* Write the header once the body is in: the length, or 0 if anything failed. */
static size_t
tpmcmd_close(struct wire_cur *c, int r, uint32_t code)
{
	if (r < 0 || c->len < TPM_HDR_SIZE || c->off > UINT32_MAX)
		return 0;
	wire_hdr_put(c->buf, TPM2_ST_NO_SESSIONS, (uint32_t)c->off, code);
	return c->off;
}

size_t
tpmcmd_startup(uint8_t *buf, size_t cap, TPM2_SU su)
{
	struct wire_cur c;

	tpmcmd_open(&c, buf, cap);
	return tpmcmd_close(&c, wire_put_u16(&c, su), TPM2_CC_Startup);
}

size_t
tpmcmd_shutdown(uint8_t *buf, size_t cap, TPM2_SU su)
{
	struct wire_cur c;

	tpmcmd_open(&c, buf, cap);
	return tpmcmd_close(&c, wire_put_u16(&c, su), TPM2_CC_Shutdown);
}

size_t
tpmcmd_get_capability(uint8_t *buf, size_t cap, TPM2_CAP capability, uint32_t property,
		      uint32_t count)
{
	struct wire_cur c;
	int r;

	tpmcmd_open(&c, buf, cap);
	if ((r = wire_put_u32(&c, capability)) == 0 && (r = wire_put_u32(&c, property)) == 0)
		r = wire_put_u32(&c, count);
	return tpmcmd_close(&c, r, TPM2_CC_GetCapability);
}

size_t
tpmcmd_flush_context(uint8_t *buf, size_t cap, TPM2_HANDLE handle)
{
	struct wire_cur c;

	/* flushHandle is a parameter, not in the handle area */
	tpmcmd_open(&c, buf, cap);
	return tpmcmd_close(&c, wire_put_u32(&c, handle), TPM2_CC_FlushContext);
}

size_t
tpmcmd_context_save(uint8_t *buf, size_t cap, TPM2_HANDLE handle)
{
	struct wire_cur c;

	tpmcmd_open(&c, buf, cap);
	return tpmcmd_close(&c, wire_put_u32(&c, handle), TPM2_CC_ContextSave);
}

size_t
tpmcmd_context_load(uint8_t *buf, size_t cap, const uint8_t *ctx, size_t len)
{
	struct wire_cur c;

	/* already marshalled: copied as it came, not parsed and built again */
	tpmcmd_open(&c, buf, cap);
	return tpmcmd_close(&c, wire_put_bytes(&c, ctx, len), TPM2_CC_ContextLoad);
}

int
tpmcmd_parse_context(const uint8_t *buf, size_t len, struct tpmcmd_context *ret)
{
	struct tpmcmd_context ctx;
	size_t off = 0;

	/*
	 * TPMS_CONTEXT field by field: the blob (up to 5 KB) is checked in
	 * place (NULL: no copy), the RM keeps the bytes as they are.
	 */
	if (Tss2_MU_UINT64_Unmarshal(buf, len, &off, &ctx.sequence) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2_HANDLE_Unmarshal(buf, len, &off, &ctx.saved) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2_HANDLE_Unmarshal(buf, len, &off, &ctx.hierarchy) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_CONTEXT_DATA_Unmarshal(buf, len, &off, NULL) != TSS2_RC_SUCCESS ||
	    off != len)
		return -EBADMSG;
	*ret = ctx;
	return 0;
}

int
tpmcmd_parse_capability(const uint8_t *rsp, size_t len, bool *ret_more,
			TPMS_CAPABILITY_DATA *ret)
{
	uint32_t rc = wire_response_rc(rsp, len);
	size_t off = TPM_HDR_SIZE;
	TPMI_YES_NO more;

	if (rc != TPM2_RC_SUCCESS) {
		log_debug("GetCapability: TPM answered 0x%08x", rc);
		return -EIO;
	}
	if (Tss2_MU_UINT8_Unmarshal(rsp, len, &off, &more) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPMS_CAPABILITY_DATA_Unmarshal(rsp, len, &off, ret) != TSS2_RC_SUCCESS)
		return -EBADMSG;
	*ret_more = more != 0;
	return 0;
}

size_t
tpmcmd_answer_handles(uint8_t *buf, size_t cap, const TPML_HANDLE *l, bool more)
{
	size_t off = TPM_HDR_SIZE;

	if (cap < TPM_HDR_SIZE || cap > UINT32_MAX ||
	    Tss2_MU_UINT8_Marshal(more ? TPM2_YES : TPM2_NO, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT32_Marshal(TPM2_CAP_HANDLES, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPML_HANDLE_Marshal(l, buf, cap, &off) != TSS2_RC_SUCCESS)
		return 0;
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, (uint32_t)off, TPM2_RC_SUCCESS);
	return off;
}
