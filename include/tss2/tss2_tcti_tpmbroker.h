/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tss2_tcti_tpmbroker.h: the TCTI for tpmbrokerd, the TPM 2.0 access
 * broker and resource manager.  doc/protocol.md has the details.
 *
 * Configuration string (all keys optional, comma separated):
 *   path=/run/tpmbroker/tpmbroker.sock   the daemon's Unix socket
 * Without path=, $TPMBROKER_SOCKET, else /run/tpmbroker/tpmbroker.sock for
 * root and $XDG_RUNTIME_DIR/tpmbroker.sock for other users.  A bare value
 * without "key=" is taken as the path ("tpmbroker:/x/y.sock").  An unknown
 * key or an over-long path: TSS2_TCTI_RC_BAD_VALUE; nobody listening on the
 * socket: TSS2_TCTI_RC_NO_CONNECTION (and one line on stderr naming it).
 *
 * Tss2_Tcti_Tpmbroker_Init() follows the usual two-call pattern: with
 * tctiContext NULL it stores the context size in *size; then it connects.
 * The context supports SetLocality (0..4, carried with every command),
 * Cancel (the command's response is still collected by Receive), Receive
 * with a timeout and the response-NULL size query, and GetPollHandles.
 * Messages obey TSS2_LOG as tpm2-tss's own do (TSS2_LOG=tcti+debug).
 *
 * Loaded by name through libtss2-tctildr: "-T tpmbroker[:conf]",
 * TPM2TOOLS_TCTI=tpmbroker, Tss2_TctiLdr_Initialize("tpmbroker", ...).
 */
#ifndef TSS2_TCTI_TPMBROKER_H
#define TSS2_TCTI_TPMBROKER_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tcti.h>

#ifdef __cplusplus
extern "C" {
#endif

TSS2_RC Tss2_Tcti_Tpmbroker_Init(TSS2_TCTI_CONTEXT *tctiContext, size_t *size,
				 const char *conf);

/*
 * Log-first measurement (tpmbrokerd --measure-*): hand an event to the
 * broker, which appends it to its measurement log, syncs the log, extends
 * the register with the data's digest in every active bank, and only then
 * answers.  conf as for Init (path=SOCKET).  reg_type: ..._REG_PCR (PCR
 * 0..23) or ..._REG_RTMR (TDX RTMR 0..3); event_type 0 means EV_IPL
 * (0x0d); data up to 64 KiB; description (up to 1024 bytes) and stream (up
 * to 255; NULL: the caller's cgroup; a name only for profiles with
 * measure-admin) may be NULL.  Opens a connection of its own for the call.
 * Returns TSS2_RC_SUCCESS and the event's record number in *seq (may be
 * NULL); the daemon's refusal in TPM format (0x000B0084 register not
 * managed, 0x000B0120 not allowed, 0x000B0128 register inconsistent with
 * its log, 0x000B014B log full, 0x000B0101 log or extend failed; see
 * doc/protocol.md); TSS2_TCTI_RC_NO_CONNECTION, _IO_ERROR,
 * _MALFORMED_RESPONSE, _BAD_VALUE, _MEMORY.  No libcrypto: the broker hashes.
 */
#define TSS2_TCTI_TPMBROKER_REG_PCR 0
#define TSS2_TCTI_TPMBROKER_REG_RTMR 1
TSS2_RC Tss2_Tcti_Tpmbroker_Measure(const char *conf, uint8_t reg_type, uint32_t reg,
				    uint32_t event_type, const void *data, size_t size,
				    const char *description, const char *stream, uint64_t *seq);

/* The plugin's description for libtss2-tctildr (TSS2_TCTI_INFO_SYMBOL). */
const TSS2_TCTI_INFO *Tss2_Tcti_Info(void);

#ifdef __cplusplus
}
#endif

#endif
