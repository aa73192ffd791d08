/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tclient.h: what the integration test clients (concur, rmclient,
 * sessclient) share: an ESYS context over a TCTI loaded by tctildr, and a
 * few ESYS helpers.
 */
#ifndef TB_TCLIENT_H
#define TB_TCLIENT_H

#include <stdint.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

struct tclient {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

/* Load the TCTI conf (e.g. "tpmbroker:path=S") and ESYS on it; 0, or -1 with
 * a message prefixed by who on stderr. */
int tclient_open(struct tclient *c, const char *conf, const char *who);
void tclient_close(struct tclient *c);

/* An unbound, unsalted session of type with sym (NULL: none), continueSession set. */
TSS2_RC tclient_start_session(ESYS_CONTEXT *e, TPM2_SE type, const TPMT_SYM_DEF *sym,
			      ESYS_TR *ret);

/* The TPM handle behind tr (0 if ESYS does not know it). */
uint32_t tclient_tpm_handle(ESYS_CONTEXT *e, ESYS_TR tr);

/* PCR pcr of the SHA-256 bank into out: 0, or -1 with a message prefixed by who. */
int tclient_pcr_read(ESYS_CONTEXT *e, unsigned pcr, uint8_t out[32], const char *who);

#endif
