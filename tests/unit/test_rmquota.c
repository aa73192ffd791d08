/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_rmquota.c: per-profile limits against the fake TPM (64 active
 * sessions): the fair share of session slots between users first, then a
 * user's connections; reserved session slots; per-cgroup and per-user
 * quotas where a newcomer takes from a greedy connection or waits; the NV
 * write rate on the fake clock; saved contexts bound to their saver;
 * limits changed by rm_conn_set_limits().
 */
#include <errno.h>
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
#include "daemon/policy.h"
#include "rm_harness.h"

#define RC_SESS_FULL TB_RM_RC(TPM2_RC_SESSION_HANDLES)                  /* 0x000B0905 */
#define RC_EXPIRED_H1 TB_RM_RC(TPM2_RC_EXPIRED | TPM2_RC_H | TPM2_RC_1) /* 0x000B01A3 */

/* A connection of uid in cgroup ("" none) with limits (NULL: all inherited). */
static struct rm_conn *
conn_lim(uid_t uid, const char *cgroup, const struct rm_limits *lim)
{
	struct rm_peer peer = {.uid = uid, .gid = uid, .pid = 1, .has_limits = lim != NULL};
	struct rm_conn *rc;

	snprintf(peer.cgroup, sizeof(peer.cgroup), "%s", cgroup);
	if (lim != NULL)
		peer.limits = *lim;
	assert_int_equal(rm_conn_new(rm, &peer, &rc), 0);
	return rc;
}

static void
count_one(const struct rm_handle_info *hi, void *ctx)
{
	if (hi->session)
		(*(unsigned *)ctx)++;
}

/* Sessions rc holds. */
static unsigned
n_sessions(struct rm_conn *rc)
{
	unsigned n = 0;

	rm_conn_handles(rm, rc, count_one, &n);
	return n;
}

static uint32_t
nv_write(struct rm_conn *rc)
{
	static const uint8_t data[] = {0x00, 0x04, 1, 2, 3, 4, 0x00, 0x00}; /* TPM2B, offset 0 */
	uint32_t h[2] = {0x01500000u, 0x01500000u};

	return run(rc, cmdbuf, build(cmdbuf, TPM2_CC_NV_Write, h, 2, &pw, 1, data, sizeof(data)));
}

/*
 * Between users first: user A holds 48 sessions in 48 connections of one
 * each, user B 16.  Per connection everyone holds its fair share (1 of 64 /
 * 65) and a newcomer would be refused; per user A holds more than its
 * share (64 / 3) and gives one.
 */
static void
test_fair_share_between_users(void **state)
{
	struct rm_conn *a[48], *b[16], *c;
	uint32_t a0 = 0;

	(void)state;
	for (int i = 0; i < 48; i++) {
		a[i] = conn(1000);
		uint32_t s = start_session(a[i], false);
		if (i == 0)
			a0 = s;
	}
	for (int i = 0; i < 16; i++) {
		b[i] = conn(2000);
		(void)start_session(b[i], false);
	}
	c = conn(3000);
	assert_int_equal(start_session_rc(c, false), TPM2_RC_SUCCESS);
	assert_int_equal(stats().sessions_evicted, 1);
	/* the oldest session of the user above its share went, with the documented answer */
	assert_int_equal(policy_cc(a[0], a0, TPM2_CC_Sign), RC_EXPIRED_H1);
	for (int i = 0; i < 16; i++)
		assert_int_equal(n_sessions(b[i]), 1);
}

/*
 * Users first, then connections: user A's one connection holds 30, user B
 * 34 in 34 connections.  Per connection A's (30, the heaviest) would lose
 * one; per user B (34 > 64 / 3 users... > 21) holds more than A's newcomer's
 * user and loses one, A's connection keeps all of its 30.
 */
static void
test_fair_share_users_then_conns(void **state)
{
	struct rm_conn *x, *y, *b[34];

	(void)state;
	params.max_sessions_per_conn = 64;
	rm_start();
	x = conn(1000);
	for (int i = 0; i < 30; i++)
		(void)start_session(x, false);
	for (int i = 0; i < 34; i++) {
		b[i] = conn(2000);
		(void)start_session(b[i], false);
	}
	y = conn(1000);
	assert_int_equal(start_session_rc(y, false), TPM2_RC_SUCCESS);
	assert_int_equal(stats().sessions_evicted, 1);
	assert_int_equal(n_sessions(x), 30);
}

/* Within one user: no other user above its share, the user's heaviest connection gives. */
static void
test_fair_share_within_user(void **state)
{
	struct rm_conn *x, *y;

	(void)state;
	params.max_sessions_per_conn = 64;
	rm_start();
	x = conn(1000);
	for (int i = 0; i < 40; i++)
		(void)start_session(x, false);
	for (int i = 0; i < 24; i++)
		(void)start_session(conn(4000 + (uid_t)i), false);
	y = conn(1000);
	assert_int_equal(start_session_rc(y, false), TPM2_RC_SUCCESS);
	assert_int_equal(stats().sessions_evicted, 1);
	assert_int_equal(n_sessions(x), 39);
}

/* Two users with 48 + 16 sessions cannot keep a reserving profile from one. */
static void
test_reserved_sessions(void **state)
{
	struct rm_limits admin = RM_LIMITS_INHERIT;
	struct rm_conn *a[48], *b, *root;

	(void)state;
	params.reserved_sessions = 1;
	rm_start();
	for (int i = 0; i < 48; i++) {
		a[i] = conn(1000);
		(void)start_session(a[i], false);
	}
	b = conn(2000);
	for (int i = 0; i < 15; i++)
		(void)start_session(b, false);
	/* 63 taken, the 64th reserved: B's 16th takes one of A's (above 63 / 2) */
	assert_int_equal(start_session_rc(b, false), TPM2_RC_SUCCESS);
	assert_int_equal(stats().sessions_evicted, 1);
	assert_int_equal(fake_sessions(&tpm, FS_LOADED) + fake_sessions(&tpm, FS_SAVED), 63);
	/* root's profile reserves the slot: it gets it at once, taking no one's */
	admin.reserved_sessions = 1;
	root = conn_lim(0, "", &admin);
	assert_int_equal(start_session_rc(root, false), TPM2_RC_SUCCESS);
	assert_int_equal(stats().sessions_evicted, 1);
	assert_int_equal(fake_sessions(&tpm, FS_LOADED) + fake_sessions(&tpm, FS_SAVED), 64);
	assert_int_equal(n_sessions(b), 16);
}

/* The reservation alone: the others see 63 slots; the reload that drops it gives 64. */
static void
test_reserved_sessions_plain(void **state)
{
	struct rm_limits admin = RM_LIMITS_INHERIT;
	struct rm_conn *c[64], *root;
	size_t mark;

	(void)state;
	params.reserved_sessions = 1;
	rm_start();
	for (int i = 0; i < 63; i++) {
		c[i] = conn(2000 + (uid_t)i);
		(void)start_session(c[i], false);
	}
	c[63] = conn(3000);
	mark = tpm.n_log;
	assert_int_equal(start_session_rc(c[63], false), RC_SESS_FULL);
	assert_int_equal(fake_count(&tpm, mark, TPM2_CC_StartAuthSession), 0);
	admin.reserved_sessions = 1;
	root = conn_lim(0, "", &admin);
	assert_int_equal(start_session_rc(root, false), TPM2_RC_SUCCESS);
	assert_int_equal(stats().sessions_evicted, 0);
	/* once the admin's session is gone, the reserved slot is free but still not theirs */
	close_conn(root);
	assert_int_equal(start_session_rc(c[63], false), RC_SESS_FULL);
	/* the config reloaded without the reservation */
	rm_set_reserved_sessions(rm, 0);
	assert_int_equal(start_session_rc(c[63], false), TPM2_RC_SUCCESS);
}

static void
test_cgroup_quota(void **state)
{
	struct rm_limits lim = RM_LIMITS_INHERIT;
	struct rm_conn *a, *b, *other, *none;
	uint32_t a0;
	size_t mark;

	(void)state;
	lim.sessions_per_cgroup = 2;
	lim.objects_per_cgroup = 1;
	a = conn_lim(1000, "/test.slice/box", &lim);
	b = conn_lim(1001, "/test.slice/box", &lim);
	other = conn_lim(1000, "/test.slice/other", &lim);
	none = conn_lim(1000, "", &lim);
	a0 = start_session(a, false);
	(void)start_session(a, false);
	/* the cgroup's quota, whoever asks: a holds both, refused without the TPM */
	mark = tpm.n_log;
	assert_int_equal(start_session_rc(a, false), RC_SESS_FULL);
	assert_int_equal(tpm.n_log, mark);
	/* b (another user, same cgroup) is a newcomer: a is above its share (2 / 2) */
	assert_int_equal(start_session_rc(b, false), TPM2_RC_SUCCESS);
	assert_int_equal(policy_cc(a, a0, TPM2_CC_Sign), RC_EXPIRED_H1);
	/* b holds one now: a second waits (no wait configured: refused) */
	assert_int_equal(start_session_rc(b, false), RC_SESS_FULL);
	/* another cgroup has its own count; a peer of no known cgroup is not counted */
	for (int i = 0; i < 2; i++)
		(void)start_session(other, false);
	for (int i = 0; i < 4; i++)
		(void)start_session(none, false);
	/* objects: the same quota per cgroup */
	(void)create_primary(a);
	(void)create_primary(other);
	mark = tpm.n_log;
	assert_int_equal(run(b, cmdbuf, build(cmdbuf, TPM2_CC_CreatePrimary,
					      (const uint32_t[]){TPM2_RH_OWNER}, 1, &pw, 1, 0, 0)),
			 TB_RM_RC(TPM2_RC_OBJECT_HANDLES));
	assert_int_equal(tpm.n_log, mark);
}

/* A per-user quota full with every connection at its share: the newcomer waits, bounded. */
static void
test_user_quota_wait(void **state)
{
	struct rm_limits lim = RM_LIMITS_INHERIT;
	struct rm_conn *a, *b, *c;
	uint32_t s;

	(void)state;
	params.session_wait_ms = 60000;
	rm_start();
	lim.sessions_per_uid = 2;
	a = conn_lim(1000, "", &lim);
	b = conn_lim(1000, "", &lim);
	c = conn_lim(1000, "", &lim);
	s = start_session(a, false);
	(void)start_session(b, false);
	assert_int_equal(start_session_rc(c, false), RC_PARKED);
	assert_int_equal(stats().quota_waits, 1);
	/* a session of the same user ends: the newcomer gets the room */
	assert_int_equal(flush(a, s), TPM2_RC_SUCCESS);
	assert_int_equal(run_parked(c), TPM2_RC_SUCCESS);
	/* bounded: nothing freed in time, the quota error */
	c = conn_lim(1000, "", &lim);
	assert_int_equal(start_session_rc(c, false), RC_PARKED);
	clock_advance_ms(60001);
	assert_int_equal(run_parked(c), RC_SESS_FULL);
	assert_int_equal(stats().session_wait_timeouts, 1);
	/* a greedy connection of the user gives way to a newcomer */
	lim.sessions_per_uid = 4;
	rm_start();
	a = conn_lim(1000, "", &lim);
	for (int i = 0; i < 4; i++)
		(void)start_session(a, false);
	c = conn_lim(1000, "", &lim);
	assert_int_equal(start_session_rc(c, false), TPM2_RC_SUCCESS);
	assert_int_equal(stats().sessions_evicted, 1);
}

static void
test_nv_rate(void **state)
{
	struct rm_limits lim = RM_LIMITS_INHERIT;
	struct rm_conn *a, *free_conn;
	uint64_t t0;
	size_t mark;

	(void)state;
	lim.nv_write_rate = 2;
	a = conn_lim(1000, "", &lim);
	free_conn = conn(2000);
	mark = tpm.n_log;
	t0 = clock_ns;
	/* a burst of 2, then 2 a second: 10 writes take 4 s of the RM's clock */
	for (int i = 0; i < 10; i++)
		assert_int_equal(nv_write(a), TPM2_RC_SUCCESS);
	assert_int_equal(fake_count(&tpm, mark, TPM2_CC_NV_Write), 10);
	assert_true(clock_ns - t0 >= 4000000000u);
	assert_true(clock_ns - t0 <= 4010000000u);
	assert_int_equal(stats().nv_rate_waits, 8);
	/* another user without a rate is not held */
	t0 = clock_ns;
	for (int i = 0; i < 10; i++)
		assert_int_equal(nv_write(free_conn), TPM2_RC_SUCCESS);
	assert_true(clock_ns == t0);
	/* reconnecting buys no tokens */
	close_conn(a);
	a = conn_lim(1000, "", &lim);
	t0 = clock_ns;
	assert_int_equal(nv_write(a), TPM2_RC_SUCCESS);
	assert_true(clock_ns > t0);
	/* an idle second refills one... two seconds the whole burst */
	clock_advance_ms(2000);
	t0 = clock_ns;
	assert_int_equal(nv_write(a), TPM2_RC_SUCCESS);
	assert_int_equal(nv_write(a), TPM2_RC_SUCCESS);
	assert_true(clock_ns == t0);
}

static void
test_blob_binding(void **state)
{
	struct rm_limits share = RM_LIMITS_INHERIT;
	struct rm_conn *a = conn(1000), *a2, *b = conn(2000), *c;
	uint8_t ob[TB_BUF_MAX], sb[TB_BUF_MAX];
	size_t olen, slen, mark;
	uint32_t o, s, h;

	(void)state;
	o = create_primary(a);
	assert_int_equal(ctx_save(a, o, ob, &olen), 0);
	s = start_session(a, true);
	assert_int_equal(ctx_save(a, s, sb, &slen), 0);
	close_conn(a); /* tpm2-tools: the saver is gone, its files stay */
	/* uid B presents A's blobs: refused, the TPM not asked */
	mark = tpm.n_log;
	assert_int_equal(ctx_load(b, ob, olen, &h), RC_P1);
	assert_int_equal(ctx_load(b, sb, slen, &h), RC_P1);
	assert_int_equal(tpm.n_log, mark);
	assert_int_equal(stats().foreign_blobs, 2);
	/* A still loads both */
	a2 = conn(1000);
	assert_int_equal(ctx_load(a2, ob, olen, &h), 0);
	assert_int_equal(ctx_load(a2, sb, slen, &h), 0);
	assert_int_equal(h, s);
	/* a profile with share-contexts = yes: its blobs load for others */
	share.share_contexts = true;
	c = conn_lim(3000, "", &share);
	o = create_primary(c);
	assert_int_equal(ctx_save(c, o, ob, &olen), 0);
	s = start_session(c, true);
	assert_int_equal(ctx_save(c, s, sb, &slen), 0);
	close_conn(c);
	assert_int_equal(ctx_load(b, ob, olen, &h), 0);
	assert_int_equal(ctx_load(b, sb, slen, &h), 0);
	assert_int_equal(h, s);
}

static void
test_set_limits(void **state)
{
	struct rm_limits lim = RM_LIMITS_INHERIT;
	struct rm_conn *a;
	uint32_t p;
	size_t mark;

	(void)state;
	lim.sessions = 2;
	lim.objects = 1;
	a = conn_lim(1000, "", &lim);
	(void)start_session(a, false);
	(void)start_session(a, false);
	assert_int_equal(start_session_rc(a, false), RC_SESS_FULL);
	p = create_primary(a);
	assert_int_equal(load_rc(a, p), TB_RM_RC(TPM2_RC_OBJECT_HANDLES));
	/* the config is reloaded: the profile allows more */
	lim.sessions = 3;
	lim.objects = RM_LIMIT_INHERIT; /* the daemon's 32 */
	rm_conn_set_limits(rm, a, &lim);
	(void)start_session(a, false);
	assert_int_equal(start_session_rc(a, false), RC_SESS_FULL);
	(void)load(a, p);
	/* ... or less: what it holds stays, it only gets no more */
	lim.objects = 1;
	lim.nv_write_rate = 1;
	rm_conn_set_limits(rm, a, &lim);
	assert_int_equal(load_rc(a, p), TB_RM_RC(TPM2_RC_OBJECT_HANDLES));
	mark = tpm.n_log;
	assert_int_equal(nv_write(a), TPM2_RC_SUCCESS);
	assert_int_equal(nv_write(a), TPM2_RC_SUCCESS);
	assert_int_equal(fake_count(&tpm, mark, TPM2_CC_NV_Write), 2);
	assert_int_equal(stats().nv_rate_waits, 1);
}

/* SIGHUP changed the daemon-wide options: inherited limits follow at rm_conn_set_limits(). */
static void
test_set_defaults(void **state)
{
	struct rm_limits lim = RM_LIMITS_INHERIT;
	struct rm_params np = params;
	struct rm_conn *a;

	(void)state;
	a = conn_lim(1000, "", &lim);
	for (int i = 0; i < 3; i++)
		(void)start_session(a, false);
	/* the daemon now allows 3 sessions per connection */
	np.max_sessions_per_conn = 3;
	rm_set_defaults(rm, &np);
	rm_conn_set_limits(rm, a, &lim);
	assert_int_equal(start_session_rc(a, false), RC_SESS_FULL);
	/* and then 4 */
	np.max_sessions_per_conn = 4;
	rm_set_defaults(rm, &np);
	rm_conn_set_limits(rm, a, &lim);
	(void)start_session(a, false);
	assert_int_equal(start_session_rc(a, false), RC_SESS_FULL);
}

/* Profile keys become the RM's limits; unset ones are inherited. */
static void
test_profile_limits(void **state)
{
	struct policy pol = {0};
	struct profile *p;
	struct rm_limits l;
	char err[128];

	(void)state;
	assert_int_equal(policy_add(&pol, "box", 1, &p, err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "max-sessions", "4", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "max-sessions-per-user", "0", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "max-sessions-per-cgroup", "3", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "max-objects-per-cgroup", "7", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "max-abandoned-per-user", "2", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "reserved-sessions", "2", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "max-objects", "0", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_set(p, "max-objects", "inherit", err, sizeof(err)), 0);
	rm_limits_from_profile(p, &l);
	assert_int_equal(l.sessions, 4);
	assert_int_equal(l.sessions_per_uid, 0);
	assert_int_equal(l.sessions_per_cgroup, 3);
	assert_int_equal(l.objects_per_cgroup, 7);
	assert_int_equal(l.abandoned_per_uid, 2);
	assert_int_equal(l.reserved_sessions, 2);
	assert_int_equal(l.objects, RM_LIMIT_INHERIT);
	assert_int_equal(l.objects_per_uid, RM_LIMIT_INHERIT);
	assert_int_equal(rm_policy_reserved(&pol), 2);
	assert_false(l.share_contexts);
	assert_int_equal(policy_set(p, "share-contexts", "maybe", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_set(p, "share-contexts", "yes", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "nv-write-rate", "10", err, sizeof(err)), 0);
	rm_limits_from_profile(p, &l);
	assert_true(l.share_contexts);
	assert_int_equal(l.nv_write_rate, 10);
	/* a connection of that profile: the daemon's 32 objects, the profile's 4 sessions */
	{
		struct rm_conn *a = conn_lim(1000, "", &l);
		for (int i = 0; i < 4; i++)
			(void)start_session(a, false);
		assert_int_equal(start_session_rc(a, false), RC_SESS_FULL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fair_share_between_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fair_share_users_then_conns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fair_share_within_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_sessions_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_quota_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nv_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_limits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
