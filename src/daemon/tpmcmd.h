/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tpmcmd.h: the TPM commands the broker builds itself (Startup,
 * GetCapability, FlushContext, ContextSave, ContextLoad) and the TPM
 * structures it reads in answers (TPMS_CONTEXT, TPMS_CAPABILITY_DATA), in
 * one place, marshalled and unmarshalled with libtss2-mu.  Used by caps.c,
 * rmsweep.c, be_startup() and the resource manager.  No state, no I/O.
 */
#ifndef TB_TPMCMD_H
#define TB_TPMCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

/* Longest command built here but ContextLoad: GetCapability. */
#define TPMCMD_MAX 22u

/*
 * Builders: the command in buf[0 .. return value), or 0 if cap is too
 * small (every one but ContextLoad fits in TPMCMD_MAX bytes).
 */
size_t tpmcmd_startup(uint8_t *buf, size_t cap, TPM2_SU su);
size_t tpmcmd_shutdown(uint8_t *buf, size_t cap, TPM2_SU su);
size_t tpmcmd_get_capability(uint8_t *buf, size_t cap, TPM2_CAP capability, uint32_t property,
			     uint32_t count);
size_t tpmcmd_flush_context(uint8_t *buf, size_t cap, TPM2_HANDLE handle);
size_t tpmcmd_context_save(uint8_t *buf, size_t cap, TPM2_HANDLE handle);
/* ctx[0..len) is a marshalled TPMS_CONTEXT (as ContextSave gave it) */
size_t tpmcmd_context_load(uint8_t *buf, size_t cap, const uint8_t *ctx, size_t len);

/* What the RM reads of a TPMS_CONTEXT. */
struct tpmcmd_context {
	uint64_t sequence;     /* the TPM's context counter when saved */
	TPM2_HANDLE saved;     /* savedHandle: a session's handle, or an object class */
	TPM2_HANDLE hierarchy;
};

/*
 * A marshalled TPMS_CONTEXT that fills buf[0..len) exactly: 0 and its
 * header fields, or -EBADMSG.
 */
int tpmcmd_parse_context(const uint8_t *buf, size_t len, struct tpmcmd_context *ret);

/*
 * A whole GetCapability response (header included): moreData and the
 * TPMS_CAPABILITY_DATA.  0; -EIO if the TPM answered an error; -EBADMSG.
 */
int tpmcmd_parse_capability(const uint8_t *rsp, size_t len, bool *ret_more,
			    TPMS_CAPABILITY_DATA *ret);

/*
 * A GetCapability(TPM_CAP_HANDLES) answer the broker gives itself:
 * moreData and the list, header included.  Its length, 0 if cap is short.
 */
size_t tpmcmd_answer_handles(uint8_t *buf, size_t cap, const TPML_HANDLE *l, bool more);

#endif
