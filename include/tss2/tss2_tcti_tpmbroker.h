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

#include <tss2/tss2_tcti.h>

#ifdef __cplusplus
extern "C" {
#endif

TSS2_RC Tss2_Tcti_Tpmbroker_Init(TSS2_TCTI_CONTEXT *tctiContext, size_t *size,
				 const char *conf);

/* The plugin's description for libtss2-tctildr (TSS2_TCTI_INFO_SYMBOL). */
const TSS2_TCTI_INFO *Tss2_Tcti_Info(void);

#ifdef __cplusplus
}
#endif

#endif
