/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_rm_libtpms.c: the resource manager in front of a real TPM (libtpms,
 * in process, through the backend), so contexts, policy sessions and
 * signatures are the real thing.  Two clients hold more keys and sessions
 * than the TPM has slots; every signature is verified by the key that made
 * it and refused by the other: a mixed-up handle cannot pass.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>
#include <tss2/tss2_mu.h>

#include "common/util.h"
#include "common/wire.h"
#include "daemon/backend.h"
#include "daemon/caps.h"
#include "daemon/handles.h"
#include "daemon/rm.h"

#define RC_H1 TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_1)

static struct backend *be;
static struct tpm_caps caps;
static struct rm *rm;
static char dir[] = "/tmp/tbtest-rm.XXXXXX";
static uint8_t rsp[TB_BUF_MAX], tbuf[TB_BUF_MAX], cmd[TB_BUF_MAX];
static size_t rsp_len;
static uint8_t sign_policy[32]; /* PolicyCommandCode(TPM2_CC_Sign) */
/* The RM's clock (params.now_ns): a pause for a TPM warning passes at once. */
static uint64_t clock_ns = 1000000000u;

static uint64_t
fake_now(void *ctx)
{
	(void)ctx;
	return clock_ns;
}

static int
group_setup(void **state)
{
	char spec[128];
	struct rm_params p = {.caps = &caps,
			      .max_objects_per_conn = 32,
			      .max_sessions_per_conn = 16,
			      .max_abandoned_per_uid = 8,
			      .max_abandoned = 32,
			      .retry_time_ms = 2000,
			      .now_ns = fake_now};
	uint8_t m[40] = {0};

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "libtpms:state=%s/tpm", dir);
	assert_int_equal(be_open(spec, &be), 0);
	assert_int_equal(be_startup(be), 0);
	assert_int_equal(caps_load(be, &caps), 0);
	assert_int_equal(caps.transient_slots, 3);
	assert_int_equal(caps.loaded_sessions, 3);
	assert_int_equal(rm_new(&p, &rm), 0);
	/* policyDigest' = H(policyDigest || TPM_CC_PolicyCommandCode || code) */
	put_be32(m + 32, TPM2_CC_PolicyCommandCode);
	put_be32(m + 36, TPM2_CC_Sign);
	SHA256(m, sizeof(m), sign_policy);
	return 0;
}

static int
group_teardown(void **state)
{
	char c[160];

	(void)state;
	rm_free(rm);
	caps_free(&caps);
	be_close(be);
	snprintf(c, sizeof(c), "rm -rf %s", dir);
	return system(c);
}

static struct rm_conn *
conn(uid_t uid)
{
	struct rm_peer peer = {.uid = uid, .gid = uid, .pid = 1};
	struct rm_conn *rc;

	assert_int_equal(rm_conn_new(rm, &peer, &rc), 0);
	return rc;
}

static int
drive(int r, struct rm_conn *rc, struct rm_step *st)
{
	while (r == RM_SEND) {
		size_t n;
		assert_int_equal(be_transact(be, st->tpm_cmd, st->tpm_cmd_len, tbuf, sizeof(tbuf), &n,
					     60000),
				 0);
		r = rm_resume(rm, rc, tbuf, n, st);
	}
	return r;
}

static uint32_t
run(struct rm_conn *rc, size_t len)
{
	struct rm_step st = {.rsp = rsp, .rsp_cap = sizeof(rsp)};
	int r;

	/* a TPM warning (libtpms says RETRY now and then): the pause, then again */
	while ((r = drive(rm_begin(rm, rc, cmd, len, &st), rc, &st)) == RM_WAIT) {
		assert_false(st.wake_on_slot);
		clock_ns += (uint64_t)st.wait_ms * 1000000u;
	}
	assert_int_equal(r, RM_DONE);
	rsp_len = st.rsp_len;
	return get_be32(rsp + 6);
}

static void
close_conn(struct rm_conn *rc)
{
	uint8_t scratch[TB_BUF_MAX];
	struct rm_step st = {.rsp = scratch, .rsp_cap = sizeof(scratch)};

	assert_int_equal(drive(rm_close(rm, rc, &st), rc, &st), RM_DONE);
}

/* ---- building commands ---- */

struct auth {
	uint32_t h;
	uint8_t attr;
};

static const struct auth pw = {TPM2_RS_PW, TPMA_SESSION_CONTINUESESSION};

/* header and handles and sessions; returns the parameters' offset */
static size_t
begin(uint32_t cc, const uint32_t *h, unsigned nh, const struct auth *a)
{
	size_t off = 10;

	for (unsigned i = 0; i < nh; i++, off += 4)
		put_be32(cmd + off, h[i]);
	if (a != NULL) {
		put_be32(cmd + off, 9);
		put_be32(cmd + off + 4, a->h);
		put_be16(cmd + off + 8, 0);
		cmd[off + 10] = a->attr;
		put_be16(cmd + off + 11, 0);
		off += 13;
	}
	wire_hdr_put(cmd, a != NULL ? TPM2_ST_SESSIONS : TPM2_ST_NO_SESSIONS, 0, cc);
	return off;
}

static size_t
end(size_t off)
{
	put_be32(cmd + 2, (uint32_t)off);
	return off;
}

#define MU(call) assert_int_equal((call), TSS2_RC_SUCCESS)

/* CreatePrimary of an ECC signing key (unique = which) into cmd; its length */
static size_t
build_create_key(uint8_t which)
{
	uint32_t h = TPM2_RH_OWNER;
	size_t off = begin(TPM2_CC_CreatePrimary, &h, 1, &pw);
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_PUBLIC pub = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION pcrs = {0};
	TPMT_PUBLIC *t = &pub.publicArea;

	t->type = TPM2_ALG_ECC;
	t->nameAlg = TPM2_ALG_SHA256;
	t->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_SIGN_ENCRYPT;
	t->authPolicy.size = 32;
	memcpy(t->authPolicy.buffer, sign_policy, 32);
	t->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	t->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	t->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	t->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	t->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	t->unique.ecc.x.size = 1; /* a different key per value */
	t->unique.ecc.x.buffer[0] = which;
	MU(Tss2_MU_TPM2B_SENSITIVE_CREATE_Marshal(&sens, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPM2B_DATA_Marshal(&outside, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPML_PCR_SELECTION_Marshal(&pcrs, cmd, sizeof(cmd), &off));
	return end(off);
}

static uint32_t
create_key(struct rm_conn *rc, uint8_t which)
{
	assert_int_equal(run(rc, build_create_key(which)), 0);
	return get_be32(rsp + 10);
}

/* cmd straight to the TPM, behind the RM's back */
static uint32_t
direct(size_t len)
{
	assert_int_equal(be_transact(be, cmd, len, rsp, sizeof(rsp), &rsp_len, 60000), 0);
	return get_be32(rsp + 6);
}

static uint32_t
start_policy(struct rm_conn *rc)
{
	uint32_t h[2] = {TPM2_RH_NULL, TPM2_RH_NULL};
	size_t off = begin(TPM2_CC_StartAuthSession, h, 2, NULL);
	TPM2B_NONCE nonce = {.size = 32};
	TPM2B_ENCRYPTED_SECRET salt = {0};
	TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};

	memset(nonce.buffer, 0x5a, 32);
	MU(Tss2_MU_TPM2B_NONCE_Marshal(&nonce, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&salt, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_UINT8_Marshal(TPM2_SE_POLICY, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPMT_SYM_DEF_Marshal(&sym, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_UINT16_Marshal(TPM2_ALG_SHA256, cmd, sizeof(cmd), &off));
	assert_int_equal(run(rc, end(off)), 0);
	return get_be32(rsp + 10);
}

static uint32_t
policy_sign_cc(struct rm_conn *rc, uint32_t s)
{
	size_t off = begin(TPM2_CC_PolicyCommandCode, &s, 1, NULL);

	MU(Tss2_MU_UINT32_Marshal(TPM2_CC_Sign, cmd, sizeof(cmd), &off));
	return run(rc, end(off));
}

static void
assert_policy_digest(struct rm_conn *rc, uint32_t s, const uint8_t *want)
{
	size_t off = begin(TPM2_CC_PolicyGetDigest, &s, 1, NULL);

	assert_int_equal(run(rc, end(off)), 0);
	assert_int_equal(get_be16(rsp + 10), 32);
	assert_memory_equal(rsp + 12, want, 32);
}

static uint32_t
sign(struct rm_conn *rc, uint32_t key, uint32_t sess, TPMT_SIGNATURE *sig)
{
	struct auth a = {sess, TPMA_SESSION_CONTINUESESSION};
	size_t off = begin(TPM2_CC_Sign, &key, 1, &a), roff = 14;
	TPM2B_DIGEST dig = {.size = 32};
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_ECDSA,
				  .details.ecdsa.hashAlg = TPM2_ALG_SHA256};
	TPMT_TK_HASHCHECK tk = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
	uint32_t r;

	memset(dig.buffer, 0x11, 32);
	MU(Tss2_MU_TPM2B_DIGEST_Marshal(&dig, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPMT_SIG_SCHEME_Marshal(&scheme, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPMT_TK_HASHCHECK_Marshal(&tk, cmd, sizeof(cmd), &off));
	if ((r = run(rc, end(off))) == 0)
		MU(Tss2_MU_TPMT_SIGNATURE_Unmarshal(rsp, rsp_len, &roff, sig));
	return r;
}

static uint32_t
verify(struct rm_conn *rc, uint32_t key, const TPMT_SIGNATURE *sig)
{
	size_t off = begin(TPM2_CC_VerifySignature, &key, 1, NULL);
	TPM2B_DIGEST dig = {.size = 32};

	memset(dig.buffer, 0x11, 32);
	MU(Tss2_MU_TPM2B_DIGEST_Marshal(&dig, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPMT_SIGNATURE_Marshal(sig, cmd, sizeof(cmd), &off));
	return run(rc, end(off));
}

static uint32_t
read_public(struct rm_conn *rc, uint32_t h)
{
	return run(rc, end(begin(TPM2_CC_ReadPublic, &h, 1, NULL)));
}

static uint32_t
flush(struct rm_conn *rc, uint32_t h)
{
	size_t off = begin(TPM2_CC_FlushContext, NULL, 0, NULL);

	put_be32(cmd + off, h);
	return run(rc, end(off + 4));
}

/* the TPM's own count of handles in a range */
static uint32_t
tpm_handles(uint32_t first)
{
	size_t off = begin(TPM2_CC_GetCapability, NULL, 0, NULL);

	put_be32(cmd + off, TPM2_CAP_HANDLES);
	off += 4;
	put_be32(cmd + off, first);
	put_be32(cmd + off + 4, 64);
	assert_int_equal(direct(end(off + 8)), 0);
	return get_be32(rsp + 15);
}

static struct rm_stats
stats(void)
{
	struct rm_stats s;

	rm_get_stats(rm, &s);
	return s;
}

/* ---- tests ---- */

static void
test_keys_and_policy_sessions_swapped(void **state)
{
	struct rm_conn *c[2] = {conn(1000), conn(1001)};
	uint32_t key[2][2], sess[2][2];
	TPMT_SIGNATURE sig;
	struct rm_stats st0 = stats();

	(void)state;
	/* 4 keys on 3 object slots, 4 policy sessions on 3 session slots */
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 2; k++)
			key[i][k] = create_key(c[i], (uint8_t)(i * 2 + k));
		for (int k = 0; k < 2; k++)
			sess[i][k] = start_policy(c[i]);
	}
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 2; i++) {
			for (int k = 0; k < 2; k++) {
				uint32_t s = sess[i][(k + round) & 1];
				assert_int_equal(policy_sign_cc(c[i], s), 0);
				assert_policy_digest(c[i], s, sign_policy);
				assert_int_equal(sign(c[i], key[i][k], s, &sig), 0);
				/* the key that signed verifies it, the other one refuses */
				assert_int_equal(verify(c[i], key[i][k], &sig), 0);
				assert_int_not_equal(verify(c[i], key[i][k ^ 1], &sig), 0);
			}
		}
	}
	assert_true(stats().context_saves > st0.context_saves);
	assert_true(stats().context_loads > st0.context_loads);
	assert_int_equal(stats().retries, st0.retries); /* the slot counts were right */
	/* the other client's handles are not usable */
	assert_int_equal(read_public(c[1], key[0][1] + 7), RC_H1);
	assert_int_equal(policy_sign_cc(c[1], sess[0][0]), RC_H1);
	close_conn(c[0]);
	close_conn(c[1]);
	assert_int_equal(stats().objects + stats().sessions, 0);
}

/* Sign with a password (the keys allow userWithAuth): the key must be loaded */
static uint32_t
sign_pw(struct rm_conn *rc, uint32_t key)
{
	size_t off = begin(TPM2_CC_Sign, &key, 1, &pw);
	TPM2B_DIGEST dig = {.size = 32};
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TPMT_TK_HASHCHECK tk = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};

	MU(Tss2_MU_TPM2B_DIGEST_Marshal(&dig, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPMT_SIG_SCHEME_Marshal(&scheme, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_TPMT_TK_HASHCHECK_Marshal(&tk, cmd, sizeof(cmd), &off));
	return run(rc, end(off));
}

static void
test_sequence_swapped(void **state)
{
	struct rm_conn *a = conn(1000);
	uint32_t seq, keys[3];
	uint8_t want[32];
	TPM2B_MAX_BUFFER data = {.size = 3};
	TPM2B_AUTH auth = {0};
	struct rm_stats st0;
	size_t off;

	(void)state;
	for (int i = 0; i < 3; i++)
		keys[i] = create_key(a, (uint8_t)(10 + i));
	off = begin(TPM2_CC_HashSequenceStart, NULL, 0, NULL);
	MU(Tss2_MU_TPM2B_AUTH_Marshal(&auth, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_UINT16_Marshal(TPM2_ALG_SHA256, cmd, sizeof(cmd), &off));
	assert_int_equal(run(a, end(off)), 0);
	seq = get_be32(rsp + 10);
	st0 = stats();
	for (int part = 0; part < 3; part++) {
		off = begin(TPM2_CC_SequenceUpdate, &seq, 1, &pw);
		memcpy(data.buffer, "abc", 3);
		data.buffer[0] = (uint8_t)('a' + part); /* "abc" "bbc" "cbc" */
		MU(Tss2_MU_TPM2B_MAX_BUFFER_Marshal(&data, cmd, sizeof(cmd), &off));
		assert_int_equal(run(a, end(off)), 0);
		/* the three keys push the sequence out of the TPM in between */
		for (int i = 0; i < 3; i++)
			assert_int_equal(sign_pw(a, keys[i]), 0);
	}
	/* libtpms saves sequence objects: it was swapped out and in again */
	assert_true(stats().context_loads - st0.context_loads >= 3 + 2);
	off = begin(TPM2_CC_SequenceComplete, &seq, 1, &pw);
	data.size = 0;
	MU(Tss2_MU_TPM2B_MAX_BUFFER_Marshal(&data, cmd, sizeof(cmd), &off));
	MU(Tss2_MU_UINT32_Marshal(TPM2_RH_NULL, cmd, sizeof(cmd), &off));
	assert_int_equal(run(a, end(off)), 0);
	/* every update is in: a stale context was never loaded */
	SHA256((const uint8_t *)"abcbbccbc", 9, want);
	assert_int_equal(get_be16(rsp + 14), 32);
	assert_memory_equal(rsp + 16, want, 32);
	/* SequenceComplete flushed it */
	assert_int_equal(flush(a, seq), TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_P | TPM2_RC_1));
	for (int i = 0; i < 3; i++)
		assert_int_equal(flush(a, keys[i]), 0);
	close_conn(a);
}

static void
test_session_across_processes(void **state)
{
	struct rm_conn *a = conn(1000), *b;
	uint8_t blob[TB_BUF_MAX];
	uint32_t s, key;
	size_t len, off;
	TPMT_SIGNATURE sig;

	(void)state;
	/* tpm2_startauthsession -S s.ctx --policy-session; tpm2_policycommandcode */
	s = start_policy(a);
	assert_int_equal(policy_sign_cc(a, s), 0);
	assert_int_equal(run(a, end(begin(TPM2_CC_ContextSave, &s, 1, NULL))), 0);
	len = rsp_len - 10;
	memcpy(blob, rsp + 10, len);
	close_conn(a);
	assert_int_equal(stats().abandoned, 1);
	/* tpm2_sign -p session:s.ctx in the next process */
	b = conn(1000);
	key = create_key(b, 42);
	off = begin(TPM2_CC_ContextLoad, NULL, 0, NULL);
	memcpy(cmd + off, blob, len);
	assert_int_equal(run(b, end(off + len)), 0);
	assert_int_equal(get_be32(rsp + 10), s);
	assert_policy_digest(b, s, sign_policy);
	assert_int_equal(sign(b, key, s, &sig), 0);
	assert_int_equal(verify(b, key, &sig), 0);
	close_conn(b);
	assert_int_equal(stats().sessions + stats().objects, 0);
}

static void
test_clear_and_reset(void **state)
{
	struct rm_conn *a = conn(1000);
	uint32_t k[4], plat = TPM2_RH_PLATFORM;

	(void)state;
	for (int i = 0; i < 4; i++)
		k[i] = create_key(a, (uint8_t)(20 + i));
	/* TPM2_Clear is EXTENSIVE: the owner's objects are gone */
	assert_int_equal(run(a, end(begin(TPM2_CC_Clear, &plat, 1, &pw))), 0);
	assert_int_equal(stats().objects, 1); /* the one swapped out: the TPM will refuse it */
	for (int i = 0; i < 4; i++)
		assert_int_equal(read_public(a, k[i]), RC_H1);
	assert_int_equal(stats().objects, 0);
	/* a power cycle under the broker */
	k[0] = create_key(a, 30);
	assert_int_equal(be->ops->power_cycle(be), 0);
	assert_int_equal(be_startup(be), 0);
	rm_tpm_reset(rm);
	assert_int_equal(read_public(a, k[0]), RC_H1);
	k[1] = create_key(a, 31);
	assert_int_not_equal(k[1], k[0]);
	assert_int_equal(read_public(a, k[1]), 0);
	close_conn(a);
}

static void
test_sweep(void **state)
{
	uint32_t s, h[2] = {TPM2_RH_NULL, TPM2_RH_NULL};
	unsigned n = 0;
	size_t off;

	(void)state;
	/* a previous broker left two objects, a loaded and a saved session */
	assert_int_equal(direct(build_create_key(90)), 0);
	assert_int_equal(direct(build_create_key(91)), 0);
	for (int i = 0; i < 2; i++) {
		off = begin(TPM2_CC_StartAuthSession, h, 2, NULL);
		memset(cmd + off, 0, 2 + 16 + 2);
		cmd[off + 1] = 16;
		off += 2 + 16 + 2;
		cmd[off++] = TPM2_SE_HMAC;
		put_be16(cmd + off, TPM2_ALG_NULL);
		put_be16(cmd + off + 2, TPM2_ALG_SHA256);
		assert_int_equal(direct(end(off + 4)), 0);
		s = get_be32(rsp + 10);
	}
	assert_int_equal(direct(end(begin(TPM2_CC_ContextSave, &s, 1, NULL))), 0);
	assert_int_equal(tpm_handles(ENT_TRANSIENT_FIRST), 2);
	assert_int_equal(tpm_handles(0x02000000u), 1);
	assert_int_equal(tpm_handles(0x03000000u), 1);
	assert_int_equal(rm_sweep(be, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(tpm_handles(ENT_TRANSIENT_FIRST), 0);
	assert_int_equal(tpm_handles(0x02000000u), 0);
	assert_int_equal(tpm_handles(0x03000000u), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_keys_and_policy_sessions_swapped),
		cmocka_unit_test(test_sequence_swapped),
		cmocka_unit_test(test_session_across_processes),
		cmocka_unit_test(test_clear_and_reset),
	};

	return cmocka_run_group_tests_name("rm-libtpms", tests, group_setup, group_teardown);
}
