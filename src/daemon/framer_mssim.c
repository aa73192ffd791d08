/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * framer_mssim.c: the MS/IBM simulator protocol's TPM command port
 * (common/mssim.h), so that unmodified TSS stacks (tpm2-tss' mssim TCTI,
 * IBM's TSS) connect as to a simulator.  Signals are big-endian u32s:
 *   SEND_COMMAND, locality (u8), size (u32), command -> size (u32),
 *                                                       response, 0 (u32)
 *   REMOTE_HANDSHAKE, client version (u32) -> version, flags, 0
 *   SESSION_END, STOP -> the connection ends (STOP would end a simulator;
 *                        here it ends only this client)
 * Others (hash, ACT, ...) have no meaning on a shared TPM and their framing
 * is unknown: answered with an error, then the connection is closed.
 *
 * A client may also send bare TPM commands, as to swtpm's data port (the
 * tpm2-tss swtpm TCTI, which tctildr's default list tries on port 2321
 * before the mssim TCTI): a first word 0x8001xxxx / 0x8002xxxx is a TPM tag,
 * never a signal, and the connection switches to framer_raw.
 */
#include "../common/mssim.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "framer.h"

static void
mssim_parse(const uint8_t *hdr, size_t hdr_len, bool busy, struct frame *f)
{
	uint32_t sig = get_be32(hdr), size;

	(void)busy; /* no busy_reads: never called while busy */
	*f = (struct frame){.signal = sig};
	if (sig >> 16 == TPM2_ST_NO_SESSIONS || sig >> 16 == TPM2_ST_SESSIONS) {
		framer_raw.parse(hdr, hdr_len, busy, f);
		f->switch_to = &framer_raw;
		return;
	}
	switch (sig) {
	case MSSIM_SEND_COMMAND:
		if (hdr_len < 9) {
			f->kind = FRAME_MORE; /* signal, locality, size */
			f->want = 9;
			return;
		}
		size = get_be32(hdr + 5);
		if (size > TB_BUF_MAX || hdr[4] > 4) {
			/* the stream can't be resynchronised past this: answer, close */
			f->kind = FRAME_ERROR;
			f->rc = TB_RM_RC(TPM2_RC_COMMAND_SIZE);
			f->close = true;
			return;
		}
		f->kind = FRAME_COMMAND;
		f->want = size;
		f->locality = hdr[4];
		return;
	case MSSIM_REMOTE_HANDSHAKE:
		if (hdr_len < 8) {
			f->kind = FRAME_MORE; /* signal, client version */
			f->want = 8;
			return;
		}
		f->kind = FRAME_REPLY;
		put_be32(f->raw, MSSIM_SERVER_VERSION);
		put_be32(f->raw + 4, MSSIM_HANDSHAKE_FLAGS);
		put_be32(f->raw + 8, 0);
		f->raw_len = 12;
		return;
	case MSSIM_SESSION_END:
	case MSSIM_STOP:
		f->kind = FRAME_END;
		return;
	default:
		f->kind = FRAME_ERROR;
		f->rc = TB_RM_RC(TPM2_RC_COMMAND_CODE);
		f->close = true;
		return;
	}
}

/* Shared with the platform port: the response's size, the response, an ack. */
size_t
framer_mssim_wrap(uint8_t *out, size_t len)
{
	put_be32(out, (uint32_t)len);
	put_be32(out + 4 + len, 0);
	return 4 + len + 4;
}

const struct framer framer_mssim_tpm = {
	.name = "mssim",
	.tcp = true,
	.hdr_min = 4,
	.rsp_head = 4,
	.parse = mssim_parse,
	.wrap = framer_mssim_wrap,
};
