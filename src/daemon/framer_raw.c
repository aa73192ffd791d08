/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * framer_raw.c: bare TPM commands and responses, no framing of their own,
 * as swtpm's data port and /dev/tpm0 take them: the command's header says
 * its size.  Reached from the mssim port when a client speaks it (the
 * tpm2-tss swtpm TCTI); a size that can't be trusted loses the stream.
 */
#include "../common/util.h"
#include "../common/wire.h"
#include "framer.h"

static void
raw_parse(const uint8_t *hdr, size_t hdr_len, bool busy, struct frame *f)
{
	uint32_t size;

	*f = (struct frame){.signal = get_be32(hdr)};
	(void)busy; /* no busy_reads */
	if (hdr_len < TPM_HDR_SIZE) {
		f->kind = FRAME_MORE;
		f->want = TPM_HDR_SIZE;
		return;
	}
	size = get_be32(hdr + 2);
	if (size < TPM_HDR_SIZE || size > TB_BUF_MAX) {
		f->kind = FRAME_ERROR;
		f->rc = TB_RM_RC(TPM2_RC_COMMAND_SIZE);
		f->close = true;
		return;
	}
	f->kind = FRAME_COMMAND;
	f->want = size;
	f->hdr_in_cmd = true;
}

static size_t
raw_wrap(uint8_t *out, size_t len)
{
	(void)out;
	return len;
}

const struct framer framer_raw = {
	.name = "raw",
	.tcp = true,
	.hdr_min = 4, /* as the mssim port it is reached from */
	.rsp_head = 0,
	.parse = raw_parse,
	.wrap = raw_wrap,
};
