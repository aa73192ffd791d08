/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * instproto.h: the payload of an INSTANCE service request (proto.h
 * TB_MSG_INSTANCE), the lifecycle of private TPM instances:
 *
 *   offset size
 *   0      1    op          enum tb_inst_op, | TB_INST_FLAG_JSON (list: JSON)
 *   1      4    owner uid   big-endian; 0xffffffff: none (create, import)
 *   5      1    n           the name's length (< 32)
 *   6      n    name        letters, digits, '-', '_', '.'
 *   6+n    ...  data        import: a blob that export returned
 *
 * The reply: a 4-byte TPM-format rc, then text (a message, a table), or
 * for a successful export the blob.  src/daemon/instsvc.c has the rest.
 */
#ifndef TB_INSTPROTO_H
#define TB_INSTPROTO_H

enum tb_inst_op {
	TB_INST_LIST = 1,
	TB_INST_CREATE = 2,
	TB_INST_SHOW = 3,
	TB_INST_DELETE = 4,
	TB_INST_EXPORT = 5,
	TB_INST_IMPORT = 6,
	TB_INST_ATTACH = 7,
	TB_INST_DETACH = 8,
};

#define TB_INST_OP_MASK 0x7fu
#define TB_INST_FLAG_JSON 0x80u /* list: {"instances": [...]} instead of the table */
#define TB_INST_NO_OWNER 0xffffffffu

#endif
