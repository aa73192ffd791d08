/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tclient.c: see tclient.h.
 */
#include <stdio.h>
#include <string.h>

#include <tss2/tss2_rc.h>

#include "tclient.h"

int
tclient_open(struct tclient *c, const char *conf, const char *who)
{
	TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &c->tcti);

	if (rc != TSS2_RC_SUCCESS) {
		fprintf(stderr, "%s: TctiLdr_Initialize(%s): %s\n", who, conf, Tss2_RC_Decode(rc));
		return -1;
	}
	if ((rc = Esys_Initialize(&c->esys, c->tcti, NULL)) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "%s: Esys_Initialize: %s\n", who, Tss2_RC_Decode(rc));
		Tss2_TctiLdr_Finalize(&c->tcti);
		return -1;
	}
	return 0;
}

void
tclient_close(struct tclient *c)
{
	Esys_Finalize(&c->esys);
	Tss2_TctiLdr_Finalize(&c->tcti);
}

TSS2_RC
tclient_start_session(ESYS_CONTEXT *e, TPM2_SE type, const TPMT_SYM_DEF *sym, ESYS_TR *ret)
{
	TPMT_SYM_DEF none = {.algorithm = TPM2_ALG_NULL};
	TSS2_RC rc;

	*ret = ESYS_TR_NONE;
	rc = Esys_StartAuthSession(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, type, sym != NULL ? sym : &none,
				   TPM2_ALG_SHA256, ret);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_TRSess_SetAttributes(e, *ret, TPMA_SESSION_CONTINUESESSION, 0xff);
	return rc;
}

uint32_t
tclient_tpm_handle(ESYS_CONTEXT *e, ESYS_TR tr)
{
	TPM2_HANDLE h = 0;

	if (Esys_TR_GetTpmHandle(e, tr, &h) != TSS2_RC_SUCCESS)
		return 0;
	return h;
}

int
tclient_pcr_read(ESYS_CONTEXT *e, unsigned pcr, uint8_t out[32], const char *who)
{
	TPML_PCR_SELECTION sel = {.count = 1};
	TPML_PCR_SELECTION *upd = NULL;
	TPML_DIGEST *vals = NULL;
	UINT32 counter;
	TSS2_RC rc;
	int r = -1;

	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[0].sizeofSelect = 3;
	sel.pcrSelections[0].pcrSelect[pcr / 8] = (uint8_t)(1u << (pcr % 8));
	rc = Esys_PCR_Read(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter, &upd, &vals);
	if (rc != TSS2_RC_SUCCESS)
		fprintf(stderr, "%s: PCR_Read: %s\n", who, Tss2_RC_Decode(rc));
	else if (vals->count != 1 || vals->digests[0].size != 32)
		fprintf(stderr, "%s: PCR_Read returned %u digests\n", who, vals->count);
	else {
		memcpy(out, vals->digests[0].buffer, 32);
		r = 0;
	}
	Esys_Free(upd);
	Esys_Free(vals);
	return r;
}
