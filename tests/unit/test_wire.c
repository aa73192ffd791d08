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
		cmocka_unit_test(test_socket_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
