/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_test.h: helpers of the backend tests: TPM commands built byte by byte
 * through the wire cursor (what the daemon forwards, without a TSS), and a
 * round trip at a given locality that counts finish() calls that returned
 * 0 (resumed short reads).  Header-only: each test binary is one .c file.
 */
#ifndef TB_BE_TEST_H
#define TB_BE_TEST_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "common/util.h"
#include "common/wire.h"
#include "daemon/backend.h"

#define BT_NV_INDEX 0x01500020u
#define BT_PERSISTENT 0x81000020u

struct bt_cmd {
	uint8_t b[1024];
	struct wire_cur c;
};

static inline void
bt_begin(struct bt_cmd *m, uint16_t tag, uint32_t cc)
{
	wire_cur_init(&m->c, m->b, sizeof(m->b));
	assert_int_equal(wire_put_u16(&m->c, tag), 0);
	assert_int_equal(wire_put_u32(&m->c, 0), 0); /* size, set by bt_end */
	assert_int_equal(wire_put_u32(&m->c, cc), 0);
}

static inline void
bt_u8(struct bt_cmd *m, uint8_t v)
{
	assert_int_equal(wire_put_u8(&m->c, v), 0);
}

static inline void
bt_u16(struct bt_cmd *m, uint16_t v)
{
	assert_int_equal(wire_put_u16(&m->c, v), 0);
}

static inline void
bt_u32(struct bt_cmd *m, uint32_t v)
{
	assert_int_equal(wire_put_u32(&m->c, v), 0);
}

static inline void
bt_bytes(struct bt_cmd *m, const void *p, size_t n)
{
	assert_int_equal(wire_put_bytes(&m->c, p, n), 0);
}

/* authorization area: one password session with an empty password */
static inline void
bt_pw(struct bt_cmd *m)
{
	bt_u32(m, 9);
	bt_u32(m, TPM2_RS_PW);
	bt_u16(m, 0); /* nonce */
	bt_u8(m, 0);  /* attributes */
	bt_u16(m, 0); /* hmac */
}

static inline size_t
bt_end(struct bt_cmd *m)
{
	put_be32(m->b + 2, (uint32_t)m->c.off);
	return m->c.off;
}

static inline size_t
bt_getrandom(struct bt_cmd *m, uint16_t n)
{
	bt_begin(m, TPM2_ST_NO_SESSIONS, TPM2_CC_GetRandom);
	bt_u16(m, n);
	return bt_end(m);
}

/* PCR_Extend(pcr, sha256 digest of 32 x fill) */
static inline size_t
bt_pcr_extend(struct bt_cmd *m, uint32_t pcr, uint8_t fill)
{
	uint8_t d[32];

	memset(d, fill, sizeof(d));
	bt_begin(m, TPM2_ST_SESSIONS, TPM2_CC_PCR_Extend);
	bt_u32(m, pcr);
	bt_pw(m);
	bt_u32(m, 1);
	bt_u16(m, TPM2_ALG_SHA256);
	bt_bytes(m, d, sizeof(d));
	return bt_end(m);
}

/* NV_DefineSpace(owner, index, size), owner read/write, empty auth */
static inline size_t
bt_nv_define(struct bt_cmd *m, uint32_t index, uint16_t size)
{
	bt_begin(m, TPM2_ST_SESSIONS, TPM2_CC_NV_DefineSpace);
	bt_u32(m, TPM2_RH_OWNER);
	bt_pw(m);
	bt_u16(m, 0); /* auth of the index */
	bt_u16(m, 14); /* TPM2B_NV_PUBLIC */
	bt_u32(m, index);
	bt_u16(m, TPM2_ALG_SHA256);
	bt_u32(m, TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD);
	bt_u16(m, 0); /* policy */
	bt_u16(m, size);
	return bt_end(m);
}

static inline size_t
bt_nv_write(struct bt_cmd *m, uint32_t index, const void *data, uint16_t len)
{
	bt_begin(m, TPM2_ST_SESSIONS, TPM2_CC_NV_Write);
	bt_u32(m, TPM2_RH_OWNER);
	bt_u32(m, index);
	bt_pw(m);
	bt_u16(m, len);
	bt_bytes(m, data, len);
	bt_u16(m, 0); /* offset */
	return bt_end(m);
}

static inline size_t
bt_nv_read(struct bt_cmd *m, uint32_t index, uint16_t len)
{
	bt_begin(m, TPM2_ST_SESSIONS, TPM2_CC_NV_Read);
	bt_u32(m, TPM2_RH_OWNER);
	bt_u32(m, index);
	bt_pw(m);
	bt_u16(m, len);
	bt_u16(m, 0); /* offset */
	return bt_end(m);
}

/* CreatePrimary(owner): an ECC P-256 or RSA-2048 restricted decryption key */
static inline size_t
bt_create_primary(struct bt_cmd *m, bool rsa)
{
	TPM2B_PUBLIC pub = {.publicArea = {
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
	}};
	TPMT_SYM_DEF_OBJECT sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				   .mode.aes = TPM2_ALG_CFB};
	size_t off = 0;

	if (rsa) {
		pub.publicArea.type = TPM2_ALG_RSA;
		pub.publicArea.parameters.rsaDetail.symmetric = sym;
		pub.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		pub.publicArea.parameters.rsaDetail.keyBits = 2048;
	} else {
		pub.publicArea.type = TPM2_ALG_ECC;
		pub.publicArea.parameters.eccDetail.symmetric = sym;
		pub.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		pub.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		pub.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
	bt_begin(m, TPM2_ST_SESSIONS, TPM2_CC_CreatePrimary);
	bt_u32(m, TPM2_RH_OWNER);
	bt_pw(m);
	bt_u16(m, 4); /* TPM2B_SENSITIVE_CREATE: empty auth, no data */
	bt_u16(m, 0);
	bt_u16(m, 0);
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, m->b + m->c.off, m->c.len - m->c.off,
						      &off), TSS2_RC_SUCCESS);
	m->c.off += off;
	bt_u16(m, 0); /* outsideInfo */
	bt_u32(m, 0); /* creationPCR: no selections */
	return bt_end(m);
}

static inline size_t
bt_evict(struct bt_cmd *m, uint32_t obj, uint32_t persistent)
{
	bt_begin(m, TPM2_ST_SESSIONS, TPM2_CC_EvictControl);
	bt_u32(m, TPM2_RH_OWNER);
	bt_u32(m, obj);
	bt_pw(m);
	bt_u32(m, persistent);
	return bt_end(m);
}

static inline size_t
bt_handle_cmd(struct bt_cmd *m, uint32_t cc, uint32_t handle)
{
	bt_begin(m, TPM2_ST_NO_SESSIONS, cc);
	bt_u32(m, handle);
	return bt_end(m);
}

static inline uint32_t
bt_rc(const uint8_t *rsp, size_t len)
{
	return wire_response_rc(rsp, len);
}

/* Wait for be->fd and finish(); *partials counts finish() calls that returned 0. */
static inline int
bt_wait(struct backend *be, uint8_t *rsp, size_t cap, size_t *rlen, int *partials)
{
	uint64_t deadline = now_ns() + 20 * 1000000000ull; /* an RSA key takes < 1 s */

	while (now_ns() < deadline) {
		struct pollfd p = {.fd = be->fd, .events = POLLIN};
		int r;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		if ((r = be->ops->finish(be, rsp, cap, rlen)) != 0)
			return r;
		if (partials != NULL)
			(*partials)++;
	}
	return -ETIMEDOUT;
}

/* submit at locality, wait, finish; the finish() result (1) or -errno */
static inline int
bt_transact(struct backend *be, const struct bt_cmd *m, uint8_t loc, uint8_t *rsp, size_t cap,
	    size_t *rlen)
{
	int r;

	if ((r = be->ops->submit(be, m->b, m->c.off, loc)) < 0)
		return r;
	return bt_wait(be, rsp, cap, rlen, NULL);
}

/* the response code of a command that must go through */
static inline uint32_t
bt_run(struct backend *be, const struct bt_cmd *m, uint8_t loc, uint8_t *rsp, size_t *rlen)
{
	assert_int_equal(bt_transact(be, m, loc, rsp, TB_BUF_MAX, rlen), 1);
	assert_int_equal(get_be32(rsp + 2), *rlen);
	return bt_rc(rsp, *rlen);
}

/* FlushContext(handle), which must succeed */
static inline void
bt_flush(struct backend *be, uint32_t handle)
{
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;

	bt_handle_cmd(&m, TPM2_CC_FlushContext, handle);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
}

#endif
