/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmparse.c: command/response layout for the resource manager, through the
 * bounds-checked cursor of src/common/wire.c.  See rmparse.h.
 */
#include <string.h>

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
