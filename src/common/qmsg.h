/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * qmsg.h: the payloads of a QUOTE service request and its reply
 * (proto.h: TB_MSG_QUOTE; doc/protocol.md), TPM structures marshalled with
 * libtss2-mu, back to back, nothing else:
 *
 * request                                    frame flags: QMSG_FLAG_ALONE
 *   TPMS_CONTEXT        the signing key, as ContextSave gave it (tpm2-tools'
 *                       context file holds the same fields in another order)
 *   TPML_PCR_SELECTION  the PCRs to quote
 *   TPMT_SIG_SCHEME     inScheme (TPM2_ALG_NULL: the key's own scheme)
 *   TPM2B_DATA          the client's nonce, 1..QTREE_NONCE_MAX bytes
 *
 * reply body (after the reply's 4-byte rc; present only when rc is 0)
 *   TPM2B_ATTEST        the TPM's quote (TPMS_ATTEST, marshalled)
 *   TPMT_SIGNATURE      its signature
 *   UINT16              batch size: requests this one TPM2_Quote answered
 *   UINT16              this request's leaf index in the tree
 *   path                qtree.h: u8 n, n x { u8 side, 32 bytes }
 *
 * Requests with the same context blob, PCR selection and scheme, from the
 * same uid, that come within the daemon's window (--quote-window) share a
 * quote.  QMSG_FLAG_ALONE asks for a quote of its own, with the nonce as
 * qualifyingData.  rc: 0, a TPM error of the quote (or of the ContextLoad,
 * e.g. a key of another TPM), or the broker's own in the RM layer: a
 * malformed request 0x000B0095 (TPM_RC_SIZE) or 0x000B0084 (TPM_RC_VALUE);
 * a context that is not an object 0x000B008B (TPM_RC_HANDLE).
 */
#ifndef TB_QMSG_H
#define TB_QMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "qtree.h"

/* the request's frame flags: a quote of its own, not batched */
#define QMSG_FLAG_ALONE 0x01u

struct qmsg_req {
	TPMS_CONTEXT context;
	TPML_PCR_SELECTION pcrs;
	TPMT_SIG_SCHEME scheme;
	TPM2B_DATA nonce;
	size_t ctx_len; /* bytes of the payload the context takes (it comes first) */
	size_t key_len; /* bytes of the payload before the nonce: what batches share */
};

struct qmsg_reply {
	TPM2B_ATTEST quoted;
	TPMT_SIGNATURE sig;
	uint16_t batch;
	uint16_t index;
	struct qtree_path path;
};

/* The request payload in buf[0 .. return value), 0 if cap is too small or a field is bad. */
size_t qmsg_req_encode(const struct qmsg_req *q, uint8_t *buf, size_t cap);
/*
 * Parse a request payload that fills buf[0..len) exactly: 0, or the rc
 * to answer in the RM layer (TPM2_RC_SIZE: truncated or trailing bytes,
 * TPM2_RC_VALUE: a bad field).
 */
uint32_t qmsg_req_decode(const uint8_t *buf, size_t len, struct qmsg_req *ret);

size_t qmsg_reply_encode(const struct qmsg_reply *q, uint8_t *buf, size_t cap);
/* 0, or -EBADMSG. */
int qmsg_reply_decode(const uint8_t *buf, size_t len, struct qmsg_reply *ret);

/*
 * tpm2-tools' context file (lib/files.c): BE u32 magic 0xBADCC0DE, BE u32
 * version 1, BE u32 hierarchy, BE u32 savedHandle, BE u64 sequence, then
 * the TPM2B_CONTEXT_DATA blob (TPMS_CONTEXT's fields in another order).
 * The blob ESYS wraps (Esys_ContextSave: u32 0, the TPM's blob, ESYS's
 * metadata) is unwrapped: ret is what the TPM's ContextSave gave.
 * 0 or -EBADMSG.
 */
int qmsg_context_file_parse(const uint8_t *buf, size_t len, TPMS_CONTEXT *ret);

/*
 * A PCR selection as tpm2-tools writes it: "sha256:0,1,16+sha1:0" (banks
 * sha1, sha256, sha384, sha512, sm3_256; PCRs 0..23, "all" too).  0 or -EINVAL.
 */
int qmsg_pcr_parse(const char *s, TPML_PCR_SELECTION *ret);
/* "sha256" ... or NULL */
const char *qmsg_hash_name(TPM2_ALG_ID alg);
/* a hash algorithm's digest size, 0 if unknown */
size_t qmsg_hash_size(TPM2_ALG_ID alg);

#endif
