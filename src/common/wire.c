/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "util.h"
#include "wire.h"

int
wire_hdr_parse(const uint8_t *buf, size_t len, struct tpm_hdr *ret)
{
	size_t off = 0;
	struct tpm_hdr h;

	if (len < TPM_HDR_SIZE)
		return -EINVAL;
	if (Tss2_MU_UINT16_Unmarshal(buf, len, &off, &h.tag) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT32_Unmarshal(buf, len, &off, &h.size) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT32_Unmarshal(buf, len, &off, &h.code) != TSS2_RC_SUCCESS)
		return -EINVAL;
	*ret = h;
	return 0;
}

void
wire_hdr_put(uint8_t *buf, uint16_t tag, uint32_t size, uint32_t code)
{
	put_be16(buf, tag);
	put_be32(buf + 2, size);
	put_be32(buf + 6, code);
}

uint32_t
wire_check_command(const uint8_t *buf, size_t len, size_t max_size, struct tpm_hdr *ret)
{
	struct tpm_hdr h;

	if (wire_hdr_parse(buf, len, &h) < 0)
		return TPM2_RC_COMMAND_SIZE;
	if (h.tag != TPM2_ST_NO_SESSIONS && h.tag != TPM2_ST_SESSIONS)
		return TPM2_RC_BAD_TAG;
	if (h.size != len || h.size > max_size)
		return TPM2_RC_COMMAND_SIZE;
	*ret = h;
	return 0;
}

size_t
wire_rc_response(uint8_t *buf, size_t cap, uint32_t rc)
{
	if (cap < TPM_HDR_SIZE)
		return 0;
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, TPM_HDR_SIZE, rc);
	return TPM_HDR_SIZE;
}

uint32_t
wire_response_rc(const uint8_t *buf, size_t len)
{
	if (len < TPM_HDR_SIZE)
		return TPM2_RC_FAILURE;
	return get_be32(buf + 6);
}

int
wire_get_u8(struct wire_cur *c, uint8_t *v)
{
	if (Tss2_MU_UINT8_Unmarshal(c->buf, c->len, &c->off, v) != TSS2_RC_SUCCESS)
		return -EBADMSG;
	return 0;
}

int
wire_get_u16(struct wire_cur *c, uint16_t *v)
{
	if (Tss2_MU_UINT16_Unmarshal(c->buf, c->len, &c->off, v) != TSS2_RC_SUCCESS)
		return -EBADMSG;
	return 0;
}

int
wire_get_u32(struct wire_cur *c, uint32_t *v)
{
	if (Tss2_MU_UINT32_Unmarshal(c->buf, c->len, &c->off, v) != TSS2_RC_SUCCESS)
		return -EBADMSG;
	return 0;
}

int
wire_skip(struct wire_cur *c, size_t n)
{
	if (n > c->len - c->off)
		return -EBADMSG;
	c->off += n;
	return 0;
}

int
wire_get_2b(struct wire_cur *c, const uint8_t **ret_data, uint16_t *ret_size)
{
	uint16_t sz;
	const uint8_t *p;
	int r;

	if ((r = wire_get_u16(c, &sz)) < 0)
		return r;
	p = c->buf + c->off;
	if ((r = wire_skip(c, sz)) < 0)
		return r;
	*ret_data = p;
	*ret_size = sz;
	return 0;
}

int
wire_put_u8(struct wire_cur *c, uint8_t v)
{
	if (Tss2_MU_UINT8_Marshal(v, c->buf, c->len, &c->off) != TSS2_RC_SUCCESS)
		return -ENOSPC;
	return 0;
}

int
wire_put_u16(struct wire_cur *c, uint16_t v)
{
	if (Tss2_MU_UINT16_Marshal(v, c->buf, c->len, &c->off) != TSS2_RC_SUCCESS)
		return -ENOSPC;
	return 0;
}

int
wire_put_u32(struct wire_cur *c, uint32_t v)
{
	if (Tss2_MU_UINT32_Marshal(v, c->buf, c->len, &c->off) != TSS2_RC_SUCCESS)
		return -ENOSPC;
	return 0;
}

int
wire_put_bytes(struct wire_cur *c, const void *p, size_t n)
{
	if (n > c->len - c->off)
		return -ENOSPC;
	memcpy(c->buf + c->off, p, n);
	c->off += n;
	return 0;
}
