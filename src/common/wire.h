/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * wire.h: TPM 2.0 wire format helpers: the 10-byte command/response header,
 * validation of client commands before they reach the TPM, RM-layer error
 * responses, and a bounds-checked cursor over libtss2-mu.
 */
#ifndef TB_WIRE_H
#define TB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_common.h>
#include <tss2/tss2_tpm2_types.h>

#define TPM_HDR_SIZE 10u
/* Default command/response size limit (TCG PC Client: 4096) */
#define TB_DEFAULT_MAX_MSG 4096u
/* Largest buffer we ever embed; TPM_PT_MAX_COMMAND_SIZE above it is clamped. */
#define TB_BUF_MAX 8192u

/* The resource-manager layer (11), as the kernel RM and tpm2-abrmd use it. */
#define TB_RM_LAYER ((uint32_t)TSS2_RESMGR_RC_LAYER)
#define TB_RM_RC(rc) (TB_RM_LAYER | (uint32_t)(rc))

struct tpm_hdr {
	uint16_t tag;
	uint32_t size;
	uint32_t code; /* command code or response code */
};

/* Parse the first 10 bytes; -EINVAL if len < 10. No semantic checks. */
int wire_hdr_parse(const uint8_t *buf, size_t len, struct tpm_hdr *ret);
void wire_hdr_put(uint8_t *buf, uint16_t tag, uint32_t size, uint32_t code);

/*
 * Validate a client command of len bytes against max_size.
 * Returns 0 if well formed (and fills *ret), else the TPM_RC (without the
 * layer) to answer with:
 *   len < 10, header size != len, size > max  -> TPM2_RC_COMMAND_SIZE
 *   tag not TPM2_ST_(NO_)SESSIONS              -> TPM2_RC_BAD_TAG
 */
uint32_t wire_check_command(const uint8_t *buf, size_t len, size_t max_size, struct tpm_hdr *ret);

/* Write a bare 10-byte error response carrying rc; returns 10. cap >= 10. */
size_t wire_rc_response(uint8_t *buf, size_t cap, uint32_t rc);

/* Response code of a response buffer, or TPM2_RC_FAILURE if it is short. */
uint32_t wire_response_rc(const uint8_t *buf, size_t len);

/* Bounds-checked cursor: every op returns 0 or -EBADMSG / -ENOSPC. */
struct wire_cur {
	uint8_t *buf; /* not owned */
	size_t len;   /* bytes valid (read) or capacity (write) */
	size_t off;
};

static inline void
wire_cur_init(struct wire_cur *c, uint8_t *buf, size_t len)
{
	c->buf = buf;
	c->len = len;
	c->off = 0;
}

int wire_get_u8(struct wire_cur *c, uint8_t *v);
int wire_get_u16(struct wire_cur *c, uint16_t *v);
int wire_get_u32(struct wire_cur *c, uint32_t *v);
int wire_skip(struct wire_cur *c, size_t n);
/* a TPM2B: u16 size then size bytes; returns pointer into the buffer */
int wire_get_2b(struct wire_cur *c, const uint8_t **ret_data, uint16_t *ret_size);
int wire_put_u8(struct wire_cur *c, uint8_t v);
int wire_put_u16(struct wire_cur *c, uint16_t v);
int wire_put_u32(struct wire_cur *c, uint32_t v);
int wire_put_bytes(struct wire_cur *c, const void *p, size_t n);


#endif
