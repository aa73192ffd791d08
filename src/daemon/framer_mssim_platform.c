/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * framer_mssim_platform.c: the simulator protocol's platform port (the TPM
 * port + 1).  POWER_ON/OFF, NV_ON/OFF, CANCEL_ON/OFF, PHYS_PRES_*, RESET,
 * ... are acknowledged and never reach the shared TPM: a power cycle by one
 * client would reset everyone's TPM.  Cancel cannot be tied to a TPM-port
 * connection here.  SESSION_END and STOP end the connection.
 */
#include "../common/mssim.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "framer.h"

static void
platform_parse(const uint8_t *hdr, size_t hdr_len, bool busy, struct frame *f)
{
	uint32_t sig = get_be32(hdr);

	(void)hdr_len;
	(void)busy;
	*f = (struct frame){.signal = sig};
	if (sig == MSSIM_SESSION_END || sig == MSSIM_STOP) {
		f->kind = FRAME_END;
		return;
	}
	f->kind = FRAME_REPLY;
	put_be32(f->raw, 0);
	f->raw_len = 4;
}

const struct framer framer_mssim_platform = {
	.name = "mssim-platform",
	.tcp = true,
	.hdr_min = 4,
	.rsp_head = 4,
	.parse = platform_parse,
	.wrap = framer_mssim_wrap, /* never used: nothing here reaches the TPM */
};
