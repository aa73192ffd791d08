/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * framer_tb.c: tpmbroker's own frames on the Unix socket (proto.h): an
 * 8-byte header, then the payload.  The frame length is apart from the TPM
 * header's size, so a command that lies about its size is answered without
 * losing the stream; a header that can't be trusted loses it.
 */
#include "../common/proto.h"
#include "../common/wire.h"
#include "framer.h"

static void
tb_parse(const uint8_t *hdr, size_t hdr_len, bool busy, struct frame *f)
{
	struct tb_msg_hdr h;

	(void)hdr_len;
	tb_hdr_unpack(hdr, &h);
	*f = (struct frame){.signal = h.type};
	if (busy && h.type != TB_MSG_CANCEL) {
		f->kind = FRAME_WAIT;
		return;
	}
	if (h.version != TB_PROTO_VERSION ||
	    (h.type != TB_MSG_COMMAND && h.type != TB_MSG_CANCEL && h.type != TB_MSG_STATUS &&
	     !tb_msg_is_service(h.type)) ||
	    (h.type == TB_MSG_COMMAND && h.locality > 4)) {
		*f = (struct frame){.kind = FRAME_ERROR, .rc = TB_RM_RC(TPM2_RC_BAD_TAG), .close = true};
		return;
	}
	if (tb_msg_is_service(h.type)) {
		if (h.len > TB_PROTO_MAX_REQUEST) {
			*f = (struct frame){.kind = FRAME_ERROR,
					    .rc = TB_RM_RC(TPM2_RC_COMMAND_SIZE), .close = true};
			return;
		}
		f->kind = FRAME_SERVICE;
		f->want = h.len;
		f->flags = h.flags;
		return;
	}
	if (h.len > TB_PROTO_MAX_PAYLOAD || h.len > TB_BUF_MAX ||
	    (h.type != TB_MSG_COMMAND && h.len != 0)) {
		*f = (struct frame){.kind = FRAME_ERROR, .rc = TB_RM_RC(TPM2_RC_COMMAND_SIZE),
				    .close = true};
		return;
	}
	switch (h.type) {
	case TB_MSG_CANCEL:
		f->kind = FRAME_CANCEL;
		break;
	case TB_MSG_STATUS:
		f->kind = FRAME_STATUS;
		f->status_fmt = (h.flags & TB_STATUS_FLAG_PROMETHEUS) != 0 ? 2
				: (h.flags & TB_STATUS_FLAG_JSON) != 0	   ? 1
									   : 0;
		break;
	default:
		f->kind = FRAME_COMMAND;
		f->want = h.len;
		f->locality = h.locality;
		break;
	}
}

static size_t
tb_wrap_type(uint8_t *out, size_t len, uint8_t type)
{
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = type, .len = (uint32_t)len};

	tb_hdr_pack(out, &h);
	return TB_PROTO_HDR_SIZE + len;
}

static size_t
tb_wrap(uint8_t *out, size_t len)
{
	return tb_wrap_type(out, len, TB_MSG_RESPONSE);
}

static size_t
tb_wrap_status(uint8_t *out, size_t len)
{
	return tb_wrap_type(out, len, TB_MSG_STATUS);
}

static size_t
tb_wrap_service(uint8_t *out, size_t len, uint8_t type)
{
	return tb_wrap_type(out, len, type);
}

const struct framer framer_tb = {
	.name = "unix",
	.busy_reads = true,
	.peer_creds = true,
	.hdr_min = TB_PROTO_HDR_SIZE,
	.rsp_head = TB_PROTO_HDR_SIZE,
	.parse = tb_parse,
	.wrap = tb_wrap,
	.wrap_status = tb_wrap_status,
	.wrap_service = tb_wrap_service,
};
