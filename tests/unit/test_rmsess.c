/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_rmsess.c: sessions at scale against the fake TPM (64 active
 * sessions, a context gap it enforces): per-connection and per-user quotas,
 * fair-share eviction and its TPM_RC_EXPIRED answers, waiting for a slot
 * and its bound, context-gap refresh ahead of time and after the TPM's
 * TPM_RC_CONTEXT_GAP, client-saved blobs loading refreshed sessions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/wire.h"
#include "rm_harness.h"

#define RC_SESS_FULL TB_RM_RC(TPM2_RC_SESSION_HANDLES)               /* 0x000B0905 */
#define RC_EXPIRED_H1 TB_RM_RC(TPM2_RC_EXPIRED | TPM2_RC_H | TPM2_RC_1) /* 0x000B01A3 */
#define RC_EXPIRED_S1 TB_RM_RC(TPM2_RC_EXPIRED | TPM2_RC_S | TPM2_RC_1) /* 0x000B09A3 */

static void
test_session_quota_and_fair_share(void **state)
{
	struct rm_conn *greedy = conn(1000), *other[64];
	uint32_t gs[16], h;
	size_t mark;

	(void)state;
	for (int i = 0; i < 16; i++)
		gs[i] = start_session(greedy, true);
	/* its quota: refused without the TPM being asked */
	mark = tpm.n_log;
	assert_int_equal(start_session_rc(greedy, true), RC_SESS_FULL);
	assert_int_equal(tpm.n_log, mark);
	assert_int_equal(stats().quota_refusals, 1);
	/* 48 others fill the TPM's 64 */
	for (int i = 0; i < 48; i++) {
		other[i] = conn(2000 + (uid_t)i);
		(void)start_session(other[i], false);
	}
	assert_int_equal(fake_sessions(&tpm, FS_LOADED) + fake_sessions(&tpm, FS_SAVED), 64);
	/* 15 more: each takes the greedy client's oldest session */
	for (int i = 48; i < 63; i++) {
		other[i] = conn(2000 + (uid_t)i);
		(void)start_session(other[i], false);
	}
	assert_int_equal(stats().sessions_evicted, 15);
	assert_int_equal(fake_count_rc(&tpm, 0, TPM2_RC_SESSION_HANDLES), 0);
	/* the 64th finds everyone at its fair share (1): no wait configured, refused */
	other[63] = conn(3000);
	assert_int_equal(start_session_rc(other[63], false), RC_SESS_FULL);
	/* the greedy client: its oldest are gone, with a documented answer, its newest works */
	assert_int_equal(policy_cc(greedy, gs[0], TPM2_CC_Sign), RC_EXPIRED_H1);
	assert_int_equal(policy_cc(greedy, gs[14], TPM2_CC_Sign), RC_EXPIRED_H1);
	assert_int_equal(policy_cc(greedy, gs[15], TPM2_CC_Sign), TPM2_RC_SUCCESS);
	h = create_primary(greedy);
	assert_int_equal(sign(greedy, h, gs[3], CONT, false), RC_EXPIRED_S1);
	/* flushing an evicted session: it is gone, as asked */
	assert_int_equal(flush(greedy, gs[0]), TPM2_RC_SUCCESS);
	/* another client never sees an evicted session as its own */
	assert_int_equal(policy_cc(other[0], gs[1], TPM2_CC_Sign), RC_H1);
}

/* A fresh RM waiting wait_ms for a slot; 64 connections c[i] with one session
 * each fill the TPM, c[64] is one more; the first session's handle. */
static uint32_t
fill_active(struct rm_conn *c[65], unsigned wait_ms)
{
	uint32_t s0 = 0, r;

	params.session_wait_ms = wait_ms;
	rm_start();
	fake_tpm_init(&tpm);
	for (int i = 0; i < 64; i++) {
		c[i] = conn(2000 + (uid_t)i);
		r = start_session(c[i], false);
		if (i == 0)
			s0 = r;
	}
	c[64] = conn(3000);
	return s0;
}

static void
test_session_wait(void **state)
{
	struct rm_conn *c[65];
	uint32_t s0;

	(void)state;
	s0 = fill_active(c, 60000);
	/* everyone holds its fair share: the newcomer waits, others go on */
	assert_int_equal(start_session_rc(c[64], true), RC_PARKED);
	assert_int_equal(stats().session_waits, 1);
	assert_int_equal(rm_slot_gen(rm), 0);
	(void)create_primary(c[1]);
	/* a slot is freed: the parked command gets it */
	assert_int_equal(flush(c[0], s0), TPM2_RC_SUCCESS);
	assert_int_equal(rm_slot_gen(rm), 1);
	assert_int_equal(run_parked(c[64]), TPM2_RC_SUCCESS);
	assert_int_equal(stats().sessions_evicted, 0);
	/* bounded: with nothing freed in time, refused */
	(void)fill_active(c, 5);
	assert_int_equal(start_session_rc(c[64], true), RC_PARKED);
	assert_true(pk_step.wait_ms > 0 && pk_step.wait_ms <= 5);
	clock_advance_ms(6);
	assert_int_equal(run_parked(c[64]), RC_SESS_FULL);
	assert_int_equal(stats().session_wait_timeouts, 1);
}

static void
test_user_quotas(void **state)
{
	struct rm_conn *a, *b, *root;
	uint32_t p;
	size_t mark;

	(void)state;
	params.max_sessions_per_uid = 4;
	params.max_objects_per_uid = 2;
	rm_start();
	a = conn(1000);
	b = conn(1000);
	root = conn(0);
	for (int i = 0; i < 3; i++)
		(void)start_session(a, true);
	(void)start_session(b, false);
	mark = tpm.n_log;
	assert_int_equal(start_session_rc(b, false), RC_SESS_FULL);
	assert_int_equal(start_session_rc(a, false), RC_SESS_FULL);
	assert_int_equal(tpm.n_log, mark); /* the TPM was not asked */
	assert_int_equal(stats().quota_refusals, 2);
	/* a connection leaving gives its share back */
	close_conn(b);
	(void)start_session(a, false);
	/* objects: the same per user */
	p = create_primary(a);
	(void)load(a, p);
	assert_int_equal(load_rc(a, p), TB_RM_RC(TPM2_RC_OBJECT_HANDLES));
	/* root may open the TPM itself: no per-user quota */
	for (int i = 0; i < 6; i++)
		(void)start_session(root, false);
	p = create_primary(root);
	(void)load(root, p);
	(void)load(root, p);
}

/* A policy session of rc, run once and ContextSaved: its digest; the blob in blob[*len]. */
static uint32_t
saved_policy_session(struct rm_conn *rc, uint32_t *s, uint8_t *blob, size_t *len)
{
	uint32_t d;

	*s = start_session(rc, true);
	assert_int_equal(policy_cc(rc, *s, TPM2_CC_Sign), TPM2_RC_SUCCESS);
	d = policy_digest(rc, *s);
	assert_int_equal(ctx_save(rc, *s, blob, len), TPM2_RC_SUCCESS);
	return d;
}

/* rc's session s saved and loaded n times: the TPM's context counter moves n. */
static void
cycle_context(struct rm_conn *rc, uint32_t s, unsigned n)
{
	uint8_t blob[TB_BUF_MAX];
	uint32_t h;
	size_t len;

	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(ctx_save(rc, s, blob, &len), TPM2_RC_SUCCESS);
		assert_int_equal(ctx_load(rc, blob, len, &h), TPM2_RC_SUCCESS);
		assert_int_equal(h, s);
	}
}

static void
test_context_gap(void **state)
{
	uint8_t blob[TB_BUF_MAX];
	struct rm_conn *a, *b, *c;
	uint32_t sa, sc, h, d0, dc;
	size_t len;

	(void)state;
	tpm.gap_max = 200;
	caps.context_gap_max = 200;
	rm_start();
	a = conn(1000);
	b = conn(1001);
	c = conn(1002);
	/* a saves its policy session and keeps the blob; c's is swapped out by the broker */
	d0 = saved_policy_session(a, &sa, blob, &len);
	sc = start_session(c, true);
	assert_int_equal(policy_cc(c, sc, TPM2_CC_Unseal), TPM2_RC_SUCCESS);
	dc = policy_digest(c, sc);
	for (int i = 0; i < 3; i++)
		(void)start_session(b, false);
	assert_true(swapped_out(c, sc));
	/* b runs the TPM's context counter far past the gap */
	cycle_context(b, start_session(b, false), 1000);
	assert_true(tpm.sess_seq > 5 * 200);
	assert_int_equal(fake_count_rc(&tpm, 0, TPM2_RC_CONTEXT_GAP), 0);
	assert_true(stats().gap_refreshes >= 5);
	assert_int_equal(stats().sessions_lost + stats().sessions_evicted, 0);
	/* both still work; a's old blob still loads it */
	assert_int_equal(ctx_load(a, blob, len, &h), TPM2_RC_SUCCESS);
	assert_int_equal(h, sa);
	assert_int_equal(policy_digest(a, sa), d0);
	assert_int_equal(policy_digest(c, sc), dc);
}

static void
test_context_gap_answered(void **state)
{
	uint8_t blob[TB_BUF_MAX];
	struct rm_conn *a, *b;
	uint32_t sa, h, d0;
	size_t len;

	(void)state;
	/* the TPM's gap is smaller than it says: TPM_RC_CONTEXT_GAP is cured all the same */
	tpm.gap_max = 50;
	caps.context_gap_max = 0xffff;
	rm_start();
	a = conn(1000);
	b = conn(1001);
	d0 = saved_policy_session(a, &sa, blob, &len);
	cycle_context(b, start_session(b, false), 200);
	assert_true(fake_count_rc(&tpm, 0, TPM2_RC_CONTEXT_GAP) >= 1);
	assert_true(stats().gap_refreshes >= 1);
	assert_int_equal(ctx_load(a, blob, len, &h), TPM2_RC_SUCCESS);
	assert_int_equal(policy_digest(a, sa), d0);
}

static void
test_context_gap_no_room(void **state)
{
	uint8_t blob[TB_BUF_MAX];
	struct rm_conn *a, *b;
	uint32_t sa, sb[3], h;
	size_t len;

	(void)state;
	/* a gap smaller than announced, and every session slot loaded when it bites */
	tpm.gap_max = 50;
	caps.context_gap_max = 0xffff;
	rm_start();
	a = conn(1000);
	b = conn(1001);
	(void)saved_policy_session(a, &sa, blob, &len);
	for (int i = 0; i < 3; i++)
		sb[i] = start_session(b, true);
	/* b's saves run into TPM_RC_CONTEXT_GAP with no slot to refresh a's in: a's goes */
	cycle_context(b, sb[0], 60);
	assert_true(fake_count_rc(&tpm, 0, TPM2_RC_CONTEXT_GAP) >= 1);
	assert_int_equal(stats().sessions_lost, 1);
	assert_int_equal(stats().sessions_evicted, 0);
	/* a learns it with the documented answer, b's sessions all work */
	assert_int_equal(ctx_load(a, blob, len, &h), TB_RM_RC(TPM2_RC_EXPIRED | TPM2_RC_P | TPM2_RC_1));
	for (int i = 0; i < 3; i++)
		assert_int_equal(policy_cc(b, sb[i], TPM2_CC_Sign), TPM2_RC_SUCCESS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_quota_and_fair_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_quotas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_gap_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_gap_no_room, setup, teardown),
	};

	return cmocka_run_group_tests_name("rm-sessions", tests, NULL, NULL);
}
