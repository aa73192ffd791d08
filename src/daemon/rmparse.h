/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmparse.h: the resource manager's view of TPM commands and responses.
 * Where the handle area, the authorization area and the parameters of a
 * command lie comes from its TPMA_CC (cHandles) and tag alone, so vendor
 * commands are covered without a table.  Also the answers the RM gives
 * itself; its own commands are built in tpmcmd.c.
 *
 * Command layout:   header(10) | handles(4 * cHandles) |
 *                   [authSize(4) | {handle(4) nonce(2B) attrs(1) hmac(2B)}...] |
 *                   parameters
 * Response layout:  header(10) | [handle(4) if rHandle] | ...
 */
#ifndef TB_RMPARSE_H
#define TB_RMPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#define RMP_MAX_HANDLES 7  /* cHandles is a 3-bit field */
#define RMP_MAX_SESSIONS 3 /* TPM 2.0 Part 1: at most three sessions */

struct rmp_cmd {
	uint16_t tag;
	uint32_t cc;
	TPMA_CC attr;
	unsigned n_h;
	uint32_t h[RMP_MAX_HANDLES]; /* handle area, as sent */
	unsigned n_s;
	uint32_t s[RMP_MAX_SESSIONS]; /* authorization area session handles */
	uint8_t s_attr[RMP_MAX_SESSIONS];
	size_t params; /* offset of the parameters */
};

/* Offset of handle i in a command. */
static inline size_t
rmp_handle_off(unsigned i)
{
	return 10u + 4u * i;
}

/*
 * Parse a validated command (header checked) whose TPMA_CC is attr.
 * Returns 0, or the TPM_RC (no layer) for a command that is malformed where
 * the RM must look: handle area cut short (TPM_RC_INSUFFICIENT), an
 * authorization area that does not parse or has more than three sessions
 * (TPM_RC_AUTHSIZE).
 */
uint32_t rmp_parse_cmd(const uint8_t *cmd, size_t len, TPMA_CC attr, struct rmp_cmd *ret);

/* Answers the RM gives itself.  Each returns the length, 0 if cap is too small. */
size_t rmp_answer_handle(uint8_t *buf, size_t cap, uint32_t handle);
size_t rmp_answer_context(uint8_t *buf, size_t cap, const uint8_t *blob, size_t len);

#endif
