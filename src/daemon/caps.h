/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * caps.h: what the daemon learns from the TPM itself at start (and after a
 * TPM reset): every command's TPMA_CC (TPM_CAP_COMMANDS, paged with
 * moreData, vendor commands included) and the properties that size the
 * resource manager.  No hand-kept table of commands anywhere.
 */
#ifndef TB_CAPS_H
#define TB_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

struct backend;

struct tpm_caps {
	TPMA_CC *cc; /* owned; sorted by caps_cc_key() */
	size_t n_cc;
	uint32_t max_command;         /* TPM_PT_MAX_COMMAND_SIZE, clamped to TB_BUF_MAX */
	uint32_t max_response;        /* TPM_PT_MAX_RESPONSE_SIZE, clamped */
	uint32_t transient_slots;     /* TPM_PT_HR_TRANSIENT_MIN */
	uint32_t loaded_sessions;     /* TPM_PT_HR_LOADED_MIN */
	uint32_t active_sessions_max; /* TPM_PT_ACTIVE_SESSIONS_MAX */
	uint32_t context_gap_max;     /* TPM_PT_CONTEXT_GAP_MAX */
};

/* Key of a command code or TPMA_CC: commandIndex plus the vendor bit. */
static inline uint32_t
caps_cc_key(uint32_t cc_or_attr)
{
	return cc_or_attr & (TPMA_CC_COMMANDINDEX_MASK | TPMA_CC_V);
}

/* Query the TPM synchronously.  -EIO if it answers with an error. */
int caps_load(struct backend *be, struct tpm_caps *ret);
/* Parse one GetCapability(TPM_CAP_COMMANDS) response, appending; for tests. */
int caps_parse_commands(const uint8_t *rsp, size_t len, struct tpm_caps *caps, bool *more,
			uint32_t *next);
void caps_free(struct tpm_caps *caps);

/* The TPMA_CC of command code cc (0x20000000 set for vendor), or NULL. */
const TPMA_CC *caps_find(const struct tpm_caps *caps, uint32_t cc);

/* Helpers on TPMA_CC */
static inline unsigned
caps_c_handles(TPMA_CC a)
{
	return (a & TPMA_CC_CHANDLES_MASK) >> TPMA_CC_CHANDLES_SHIFT;
}

static inline bool
caps_r_handle(TPMA_CC a)
{
	return (a & TPMA_CC_RHANDLE) != 0;
}

#endif
