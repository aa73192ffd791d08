/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmparse.c: command/response layout for the resource manager, through the
 * bounds-checked cursor of src/common/wire.c.  See rmparse.h.
 */
#include <errno.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "../common/util.h"
#include "../common/wire.h"
#include "caps.h"
#include "rmparse.h"

uint32_t
rmp_parse_cmd(const uint8_t *cmd, size_t len, TPMA_CC attr, struct rmp_cmd *ret)
{
	struct wire_cur c;
	uint32_t auth_size;
	size_t auth_end;

	/* the cursor only reads: the cast drops const for its shared type */
	wire_cur_init(&c, (uint8_t *)(uintptr_t)cmd, len);
	ret->tag = get_be16(cmd);
	ret->cc = get_be32(cmd + 6);
	ret->attr = attr;
	ret->n_h = caps_c_handles(attr);
	ret->n_s = 0;
	c.off = TPM_HDR_SIZE;
	for (unsigned i = 0; i < ret->n_h; i++) {
		if (wire_get_u32(&c, &ret->h[i]) < 0)
			return TPM2_RC_INSUFFICIENT;
	}
	if (ret->tag != TPM2_ST_SESSIONS) {
		ret->params = c.off;
		return 0;
	}
	if (wire_get_u32(&c, &auth_size) < 0 || auth_size > len - c.off || auth_size < 9)
		return TPM2_RC_AUTHSIZE;
	auth_end = c.off + auth_size;
	c.len = auth_end; /* sessions must end exactly at auth_end */
	while (c.off < auth_end) {
		const uint8_t *p;
		uint16_t sz;
		uint32_t h;
		uint8_t a;

		if (ret->n_s == RMP_MAX_SESSIONS || wire_get_u32(&c, &h) < 0 ||
		    wire_get_2b(&c, &p, &sz) < 0 || wire_get_u8(&c, &a) < 0 ||
		    wire_get_2b(&c, &p, &sz) < 0)
			return TPM2_RC_AUTHSIZE;
		ret->s[ret->n_s] = h;
		ret->s_attr[ret->n_s] = a;
		ret->n_s++;
	}
	ret->params = auth_end;
	return 0;
}

int
rmp_parse_context(const uint8_t *buf, size_t len, uint32_t *ret_saved_handle)
{
	struct wire_cur c;
	const uint8_t *p;
	uint32_t seq_hi, seq_lo, saved, hier;
	uint16_t sz;

	wire_cur_init(&c, (uint8_t *)(uintptr_t)buf, len);
	if (wire_get_u32(&c, &seq_hi) < 0 || wire_get_u32(&c, &seq_lo) < 0 ||
	    wire_get_u32(&c, &saved) < 0 || wire_get_u32(&c, &hier) < 0 ||
	    wire_get_2b(&c, &p, &sz) < 0 || c.off != len)
		return -EBADMSG;
	*ret_saved_handle = saved;
	return 0;
}

size_t
rmp_build_handle_cmd(uint8_t *buf, uint32_t cc, uint32_t handle)
{
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, 14, cc);
	put_be32(buf + 10, handle);
	return 14;
}

size_t
rmp_build_context_load(uint8_t *buf, size_t cap, const uint8_t *blob, size_t len)
{
	if (len > cap - TPM_HDR_SIZE)
		return 0;
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, (uint32_t)(TPM_HDR_SIZE + len),
		     TPM2_CC_ContextLoad);
	memcpy(buf + TPM_HDR_SIZE, blob, len);
	return TPM_HDR_SIZE + len;
}

size_t
rmp_build_getcap(uint8_t *buf, uint32_t capability, uint32_t property, uint32_t count)
{
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, 22, TPM2_CC_GetCapability);
	put_be32(buf + 10, capability);
	put_be32(buf + 14, property);
	put_be32(buf + 18, count);
	return 22;
}

int
rmp_parse_handles(const uint8_t *rsp, size_t len, uint32_t *out, size_t cap, size_t *ret_n,
		  bool *ret_more)
{
	struct wire_cur c;
	uint32_t capability, count;
	uint8_t more;

	wire_cur_init(&c, (uint8_t *)(uintptr_t)rsp, len);
	c.off = TPM_HDR_SIZE;
	if (wire_get_u8(&c, &more) < 0 || wire_get_u32(&c, &capability) < 0 ||
	    wire_get_u32(&c, &count) < 0 || capability != TPM2_CAP_HANDLES)
		return -EBADMSG;
	if (count > cap)
		return -EBADMSG;
	for (uint32_t i = 0; i < count; i++) {
		if (wire_get_u32(&c, &out[i]) < 0)
			return -EBADMSG;
	}
	*ret_n = count;
	*ret_more = more != 0;
	return 0;
}

size_t
rmp_answer_handle(uint8_t *buf, size_t cap, uint32_t handle)
{
	if (cap < 14)
		return 0;
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, 14, TPM2_RC_SUCCESS);
	put_be32(buf + 10, handle);
	return 14;
}

size_t
rmp_answer_context(uint8_t *buf, size_t cap, const uint8_t *blob, size_t len)
{
	if (cap < TPM_HDR_SIZE || len > cap - TPM_HDR_SIZE)
		return 0;
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, (uint32_t)(TPM_HDR_SIZE + len), TPM2_RC_SUCCESS);
	memcpy(buf + TPM_HDR_SIZE, blob, len);
	return TPM_HDR_SIZE + len;
}

size_t
rmp_answer_handles(uint8_t *buf, size_t cap, const uint32_t *h, size_t n, bool more)
{
	struct wire_cur c;

	wire_cur_init(&c, buf, cap);
	c.off = TPM_HDR_SIZE;
	if (wire_put_u8(&c, more ? 1 : 0) < 0 || wire_put_u32(&c, TPM2_CAP_HANDLES) < 0 ||
	    wire_put_u32(&c, (uint32_t)n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (wire_put_u32(&c, h[i]) < 0)
			return 0;
	}
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, (uint32_t)c.off, TPM2_RC_SUCCESS);
	return c.off;
}
