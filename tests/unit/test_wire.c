/* SPDX-License-Identifier: BSD-2-Clause */
/* test_wire.c: command validation, error responses, the cursor, caps parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <tss2/tss2_mu.h>

#include "common/proto.h"
#include "common/util.h"
#include "common/wire.h"
#include "daemon/caps.h"
#include "daemon/tpmcmd.h"

static void
test_check_command(void **state)
{
	uint8_t b[32];
	struct tpm_hdr h;

	(void)state;
	wire_hdr_put(b, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	put_be16(b + 10, 8);
	assert_int_equal(wire_check_command(b, 12, 4096, &h), 0);
	assert_int_equal(h.code, TPM2_CC_GetRandom);
	assert_int_equal(h.size, 12);
	/* truncated, too short, size field lies either way */
	assert_int_equal(wire_check_command(b, 9, 4096, &h), TPM2_RC_COMMAND_SIZE);
	assert_int_equal(wire_check_command(b, 11, 4096, &h), TPM2_RC_COMMAND_SIZE);
	assert_int_equal(wire_check_command(b, 13, 4096, &h), TPM2_RC_COMMAND_SIZE);
	/* over the limit */
	assert_int_equal(wire_check_command(b, 12, 11, &h), TPM2_RC_COMMAND_SIZE);
	/* size field below the header size */
	put_be32(b + 2, 4);
	assert_int_equal(wire_check_command(b, 12, 4096, &h), TPM2_RC_COMMAND_SIZE);
	put_be32(b + 2, 12);
	/* tags */
	put_be16(b, TPM2_ST_SESSIONS);
	assert_int_equal(wire_check_command(b, 12, 4096, &h), 0);
	put_be16(b, TPM2_ST_RSP_COMMAND);
	assert_int_equal(wire_check_command(b, 12, 4096, &h), TPM2_RC_BAD_TAG);
	put_be16(b, 0);
	assert_int_equal(wire_check_command(b, 12, 4096, &h), TPM2_RC_BAD_TAG);
}

static void
test_rc_response(void **state)
{
	uint8_t b[16];

	(void)state;
	assert_int_equal(wire_rc_response(b, sizeof(b), TB_RM_RC(TPM2_RC_COMMAND_CODE)), 10);
	assert_int_equal(get_be16(b), TPM2_ST_NO_SESSIONS);
	assert_int_equal(get_be32(b + 2), 10);
	assert_int_equal(get_be32(b + 6), 0x000B0143);
	assert_int_equal(wire_response_rc(b, 10), 0x000B0143);
	assert_int_equal(wire_response_rc(b, 9), TPM2_RC_FAILURE);
	assert_int_equal(wire_rc_response(b, 9, 0), 0);
}

static void
test_cursor(void **state)
{
	uint8_t b[8] = {0x00, 0x03, 'a', 'b', 'c', 0x12, 0x34, 0x56};
	struct wire_cur c;
	const uint8_t *p;
	uint16_t n;
	uint32_t v;

	(void)state;
	wire_cur_init(&c, b, sizeof(b));
	assert_int_equal(wire_get_2b(&c, &p, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(wire_get_u32(&c, &v), -EBADMSG); /* only 3 bytes left */
	assert_int_equal(wire_get_u16(&c, &n), 0);
	assert_int_equal(n, 0x1234);
	assert_int_equal(wire_skip(&c, 2), -EBADMSG);
	/* a 2B whose size runs past the end */
	b[1] = 0x20;
	wire_cur_init(&c, b, sizeof(b));
	assert_int_equal(wire_get_2b(&c, &p, &n), -EBADMSG);
	/* writes are bounded */
	wire_cur_init(&c, b, 5);
	assert_int_equal(wire_put_u32(&c, 1), 0);
	assert_int_equal(wire_put_u16(&c, 1), -ENOSPC);
	assert_int_equal(wire_put_u8(&c, 7), 0);
	assert_int_equal(wire_put_bytes(&c, "x", 1), -ENOSPC);
}

/* Build a GetCapability(COMMANDS) response holding attrs. */
static size_t
commands_rsp(uint8_t *buf, size_t cap, const TPMA_CC *attrs, uint32_t n, bool more)
{
	TPMS_CAPABILITY_DATA d = {.capability = TPM2_CAP_COMMANDS};
	size_t off = TPM_HDR_SIZE;

	d.data.command.count = n;
	memcpy(d.data.command.commandAttributes, attrs, n * sizeof(*attrs));
	assert_int_equal(Tss2_MU_UINT8_Marshal(more, buf, cap, &off), 0);
	assert_int_equal(Tss2_MU_TPMS_CAPABILITY_DATA_Marshal(&d, buf, cap, &off), 0);
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, (uint32_t)off, 0);
	return off;
}

static void
test_caps_paging_and_vendor(void **state)
{
	/* Load: 2 handles + rHandle; a vendor command with 1 handle */
	TPMA_CC p1[] = {TPM2_CC_Load | (2u << TPMA_CC_CHANDLES_SHIFT) | TPMA_CC_RHANDLE,
			TPM2_CC_GetRandom};
	TPMA_CC p2[] = {0x0005u | TPMA_CC_V | (1u << TPMA_CC_CHANDLES_SHIFT)};
	struct tpm_caps caps = {0};
	uint8_t buf[1024];
	uint32_t next = 0;
	bool more = false;
	size_t len;
	const TPMA_CC *a;

	(void)state;
	len = commands_rsp(buf, sizeof(buf), p1, 2, true);
	assert_int_equal(caps_parse_commands(buf, len, &caps, &more, &next), 0);
	assert_true(more);
	assert_int_equal(next, TPM2_CC_GetRandom + 1);
	len = commands_rsp(buf, sizeof(buf), p2, 1, false);
	assert_int_equal(caps_parse_commands(buf, len, &caps, &more, &next), 0);
	assert_false(more);
	assert_int_equal(next, 0x20000006);
	assert_int_equal(caps.n_cc, 3);
	/* caps_load sorts; the table here is already in key order */
	a = caps_find(&caps, TPM2_CC_Load);
	assert_non_null(a);
	assert_int_equal(caps_c_handles(*a), 2);
	assert_true(caps_r_handle(*a));
	a = caps_find(&caps, 0x20000005);
	assert_non_null(a);
	assert_int_equal(caps_c_handles(*a), 1);
	assert_null(caps_find(&caps, 0x00000005));  /* same index, not vendor */
	assert_null(caps_find(&caps, TPM2_CC_Clear));
	assert_null(caps_find(&caps, TPM2_CC_GetRandom | 0x00010000)); /* reserved bits */
	/* an error response is not parsed */
	wire_rc_response(buf, sizeof(buf), TPM2_RC_VALUE);
	assert_int_equal(caps_parse_commands(buf, 10, &caps, &more, &next), -EIO);
	/* a truncated one neither */
	len = commands_rsp(buf, sizeof(buf), p1, 2, false);
	assert_int_equal(caps_parse_commands(buf, len - 3, &caps, &more, &next), -EBADMSG);
	caps_free(&caps);
}

/* The broker's own commands: the bytes a TPM expects. */
static void
test_tpmcmd_build(void **state)
{
	static const uint8_t startup[] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0};
	static const uint8_t flush[] = {0x80, 0x01, 0, 0, 0, 14, 0, 0, 0x01, 0x65, 0x80, 0, 0, 2};
	static const uint8_t getcap[] = {0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7a, 0, 0, 0, 1,
					 0x80, 0, 0, 0, 0, 0, 0, 0xfe};
	uint8_t b[64], ctx[] = {1, 2, 3};

	(void)state;
	assert_int_equal(tpmcmd_startup(b, sizeof(b), TPM2_SU_CLEAR), sizeof(startup));
	assert_memory_equal(b, startup, sizeof(startup));
	assert_int_equal(tpmcmd_flush_context(b, sizeof(b), 0x80000002u), sizeof(flush));
	assert_memory_equal(b, flush, sizeof(flush));
	assert_int_equal(tpmcmd_context_save(b, sizeof(b), 0x02000001u), 14);
	assert_int_equal(get_be32(b + 6), TPM2_CC_ContextSave);
	assert_int_equal(get_be32(b + 10), 0x02000001u);
	assert_int_equal(tpmcmd_get_capability(b, sizeof(b), TPM2_CAP_HANDLES, 0x80000000u, 254),
			 sizeof(getcap));
	assert_memory_equal(b, getcap, sizeof(getcap));
	assert_int_equal(tpmcmd_context_load(b, sizeof(b), ctx, 3), 13);
	assert_memory_equal(b + 10, ctx, 3);
	/* no room: nothing */
	assert_int_equal(tpmcmd_get_capability(b, 21, TPM2_CAP_HANDLES, 0, 1), 0);
	assert_int_equal(tpmcmd_context_load(b, 12, ctx, 3), 0);
}

/* TPMS_CONTEXT and handle lists read with libtss2-mu, and the RM's own answer. */
static void
test_tpmcmd_parse(void **state)
{
	TPMS_CONTEXT c = {.sequence = 0x0102030405060708ull, .savedHandle = 0x80000001u,
			  .hierarchy = TPM2_RH_OWNER, .contextBlob = {.size = 3}};
	TPML_HANDLE l = {.count = 2, .handle = {0x80000000u, 0x80000005u}};
	TPMS_CAPABILITY_DATA d;
	struct tpmcmd_context ctx;
	uint8_t b[256];
	size_t off = 0, len;
	bool more = false;

	(void)state;
	assert_int_equal(Tss2_MU_TPMS_CONTEXT_Marshal(&c, b, sizeof(b), &off), 0);
	assert_int_equal(tpmcmd_parse_context(b, off, &ctx), 0);
	assert_true(ctx.sequence == 0x0102030405060708ull);
	assert_int_equal(ctx.saved, 0x80000001u);
	assert_int_equal(ctx.hierarchy, TPM2_RH_OWNER);
	/* it must fill the buffer exactly */
	assert_int_equal(tpmcmd_parse_context(b, off - 1, &ctx), -EBADMSG);
	assert_int_equal(tpmcmd_parse_context(b, off + 1, &ctx), -EBADMSG);
	len = tpmcmd_answer_handles(b, sizeof(b), &l, true);
	assert_int_equal(len, 10 + 1 + 4 + 4 + 8);
	assert_int_equal(tpmcmd_parse_capability(b, len, &more, &d), 0);
	assert_true(more);
	assert_int_equal(d.capability, TPM2_CAP_HANDLES);
	assert_int_equal(d.data.handles.count, 2);
	assert_int_equal(d.data.handles.handle[1], 0x80000005u);
	assert_int_equal(tpmcmd_parse_capability(b, len - 1, &more, &d), -EBADMSG);
	assert_int_equal(tpmcmd_answer_handles(b, len - 1, &l, true), 0);
	wire_rc_response(b, sizeof(b), TPM2_RC_VALUE);
	assert_int_equal(tpmcmd_parse_capability(b, 10, &more, &d), -EIO);
}

static void
test_socket_path(void **state)
{
	char buf[108];

	(void)state;
	setenv(TB_SOCKET_ENV, "/tmp/env.sock", 1);
	assert_int_equal(tb_socket_path("/x/explicit.sock", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/x/explicit.sock");
	assert_int_equal(tb_socket_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/env.sock");
	assert_int_equal(tb_socket_path("", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/env.sock");
	unsetenv(TB_SOCKET_ENV);
	assert_int_equal(tb_socket_path(NULL, buf, 4), -ENAMETOOLONG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_command),
		cmocka_unit_test(test_rc_response),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_caps_paging_and_vendor),
		cmocka_unit_test(test_tpmcmd_build),
		cmocka_unit_test(test_tpmcmd_parse),
		cmocka_unit_test(test_socket_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
