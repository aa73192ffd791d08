/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmsweep.c: at start, before any client, flush what a previous broker (or
 * anyone) left in the TPM: transient objects, loaded and saved sessions.
 * Nobody can use them any more (their virtual handles died with that
 * broker), and the RM counts the TPM's slots as its own.  Synchronous, like
 * caps_load(); persistent objects and NV are not touched.
 */
#include <errno.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "handles.h"
#include "rm.h"
#include "tpmcmd.h"

#define SWEEP_TIMEOUT_MS 30000

int
rm_sweep(struct backend *be, unsigned *ret_flushed)
{
	static const uint32_t ranges[] = {ENT_TRANSIENT_FIRST, 0x02000000u, 0x03000000u};
	TPMS_CAPABILITY_DATA data;
	const TPML_HANDLE *l = &data.data.handles;
	uint8_t cmd[TPMCMD_MAX], rsp[TB_BUF_MAX];
	unsigned flushed = 0;
	size_t rlen;
	bool more;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		/* flushing shrinks the list: ask again from the start until it is empty */
		for (int round = 0; round < 64; round++) {
			r = be_transact(be, cmd,
					tpmcmd_get_capability(cmd, sizeof(cmd), TPM2_CAP_HANDLES,
							      ranges[i], TPM2_MAX_CAP_HANDLES),
					rsp, sizeof(rsp), &rlen, SWEEP_TIMEOUT_MS);
			if (r < 0)
				return r;
			if (tpmcmd_parse_capability(rsp, rlen, &more, &data) < 0 ||
			    data.capability != TPM2_CAP_HANDLES)
				return -EIO;
			if (l->count == 0)
				break;
			for (size_t k = 0; k < l->count; k++) {
				r = be_transact(be, cmd,
						tpmcmd_flush_context(cmd, sizeof(cmd), l->handle[k]),
						rsp, sizeof(rsp), &rlen, SWEEP_TIMEOUT_MS);
				if (r < 0)
					return r;
				if (wire_response_rc(rsp, rlen) == TPM2_RC_SUCCESS)
					flushed++;
				else
					log_debug("rm: sweep: FlushContext(0x%08x): 0x%08x", l->handle[k],
						  wire_response_rc(rsp, rlen));
			}
		}
	}
	*ret_flushed = flushed;
	return 0;
}
