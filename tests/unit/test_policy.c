/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_policy.c: profiles: their keys and errors, the shipped defaults,
 * first-match-wins matching, and judging commands (command code, locality,
 * hierarchies and PCRs in the handle area).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ccnames.h"
#include "common/util.h"
#include "common/wire.h"
#include "daemon/config.h"
#include "daemon/policy.h"

/* a command with n handles: header, handles, and an empty body */
static size_t
cmd_with(uint8_t *b, uint32_t cc, const uint32_t *h, unsigned n)
{
	size_t len = 10 + 4 * (size_t)n;

	wire_hdr_put(b, TPM2_ST_NO_SESSIONS, (uint32_t)len, cc);
	for (unsigned i = 0; i < n; i++)
		put_be32(b + 10 + 4 * i, h[i]);
	return len;
}

static TPMA_CC
attr(uint32_t cc, unsigned handles)
{
	return (cc & TPMA_CC_COMMANDINDEX_MASK) | ((TPMA_CC)handles << TPMA_CC_CHANDLES_SHIFT);
}

static void
test_cc_names(void **state)
{
	uint32_t cc;

	(void)state;
	assert_int_equal(cc_from_name("TPM2_Clear", &cc), 0);
	assert_int_equal(cc, TPM2_CC_Clear);
	assert_int_equal(cc_from_name("nv_undefinespacespecial", &cc), 0);
	assert_int_equal(cc, TPM2_CC_NV_UndefineSpaceSpecial);
	assert_int_equal(cc_from_name("TPM2_CC_PCR_Reset", &cc), 0);
	assert_int_equal(cc, TPM2_CC_PCR_Reset);
	assert_int_equal(cc_from_name("0x20000001", &cc), 0);
	assert_int_equal(cc, 0x20000001);
	assert_int_equal(cc_from_name("NoSuchCommand", &cc), -1);
	assert_int_equal(cc_from_name("0x", &cc), -1);
	assert_string_equal(cc_name(TPM2_CC_GetRandom), "GetRandom");
	assert_null(cc_name(0x20000001));
	{
		char buf[CC_LABEL_MAX];
		assert_string_equal(cc_label(TPM2_CC_Clear, buf), "TPM2_Clear");
		assert_string_equal(cc_label(0x20000001, buf), "command 0x20000001");
	}
}

static void
test_user_defaults(void **state)
{
	struct policy pol;
	const struct profile *user;
	struct peer_id nobody = {.source = PEER_UNIX, .uid_known = true, .uid = 65534,
				 .gid = 65534};
	struct peer_id root = {.source = PEER_UNIX, .uid_known = true, .uid = 0, .gid = 0};
	uint8_t b[64];
	uint32_t h[2];
	TPMA_CC a;

	(void)state;
	policy_defaults(&pol);
	assert_string_equal(policy_match(&pol, &root, "unix:x")->name, "admin");
	user = policy_match(&pol, &nobody, "unix:x");
	assert_string_equal(user->name, "user");
	/* denied by command */
	h[0] = TPM2_RH_LOCKOUT;
	a = attr(TPM2_CC_Clear, 1);
	assert_int_equal(policy_check(user, b, cmd_with(b, TPM2_CC_Clear, h, 1), 0, &a),
			 POLICY_RC_DENIED);
	assert_int_equal(policy_check(policy_match(&pol, &root, ""), b,
				      cmd_with(b, TPM2_CC_Clear, h, 1), 0, &a),
			 0);
	/* a vendor command the TPM has; one it lacks is the RM's to answer */
	a = 0x0001 | TPMA_CC_V;
	assert_int_equal(policy_check(user, b, cmd_with(b, 0x20000001, NULL, 0), 0, &a),
			 POLICY_RC_DENIED);
	assert_int_equal(policy_check(user, b, cmd_with(b, 0x20000001, NULL, 0), 0, NULL), 0);
	/* allowed, but not at locality 3 */
	a = attr(TPM2_CC_GetRandom, 0);
	assert_int_equal(policy_check(user, b, cmd_with(b, TPM2_CC_GetRandom, NULL, 0), 0, &a), 0);
	assert_int_equal(policy_check(user, b, cmd_with(b, TPM2_CC_GetRandom, NULL, 0), 3, &a),
			 POLICY_RC_LOCALITY);
	/* CreatePrimary in the owner hierarchy yes, in the platform hierarchy no */
	a = attr(TPM2_CC_CreatePrimary, 1);
	h[0] = TPM2_RH_OWNER;
	assert_int_equal(policy_check(user, b, cmd_with(b, TPM2_CC_CreatePrimary, h, 1), 0, &a), 0);
	h[0] = TPM2_RH_PLATFORM;
	assert_int_equal(policy_check(user, b, cmd_with(b, TPM2_CC_CreatePrimary, h, 1), 0, &a),
			 POLICY_RC_DENIED);
	/* a hierarchy in the second handle (PolicySecret(lockout, session)) */
	a = attr(TPM2_CC_PolicySecret, 2);
	h[0] = TPM2_RH_LOCKOUT;
	h[1] = 0x03000000;
	assert_int_equal(policy_check(user, b, cmd_with(b, TPM2_CC_PolicySecret, h, 2), 0, &a),
			 POLICY_RC_DENIED);
	/* PCRs: 16 and 23 only */
	a = attr(TPM2_CC_PCR_Extend, 1);
	h[0] = 16;
	assert_int_equal(policy_check(user, b, cmd_with(b, TPM2_CC_PCR_Extend, h, 1), 0, &a), 0);
	h[0] = 10;
	assert_int_equal(policy_check(user, b, cmd_with(b, TPM2_CC_PCR_Extend, h, 1), 0, &a),
			 POLICY_RC_DENIED);
	/* no profile: nothing */
	assert_int_equal(policy_check(NULL, b, cmd_with(b, TPM2_CC_GetRandom, NULL, 0), 0, NULL),
			 POLICY_RC_DENIED);
}

static void
test_keys(void **state)
{
	struct policy pol = {0};
	struct profile *p;
	char err[256];
	uint8_t b[64];
	uint32_t h[1] = {TPM2_RH_OWNER};
	TPMA_CC a = attr(TPM2_CC_GetRandom, 0);

	(void)state;
	assert_int_equal(policy_add(&pol, "ro", 1, &p, err, sizeof(err)), 0);
	assert_int_equal(policy_add(&pol, "ro", 2, &p, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "twice"));
	p = &pol.p[0];
	assert_int_equal(policy_set(p, "commands", "none", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "allow", "GetRandom, TPM2_PCR_Read", err, sizeof(err)), 0);
	assert_int_equal(policy_check(p, b, cmd_with(b, TPM2_CC_GetRandom, NULL, 0), 0, &a), 0);
	a = attr(TPM2_CC_CreatePrimary, 1);
	assert_int_equal(policy_check(p, b, cmd_with(b, TPM2_CC_CreatePrimary, h, 1), 0, &a),
			 POLICY_RC_DENIED);
	assert_int_equal(policy_set(p, "localities", "0-2 4", err, sizeof(err)), 0);
	assert_int_equal(p->localities, 0x17);
	assert_int_equal(policy_set(p, "localities", "5", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'5'"));
	assert_int_equal(policy_set(p, "pcrs", "0-7, 23", err, sizeof(err)), 0);
	assert_int_equal(p->pcrs, 0x8000ffu);
	assert_int_equal(policy_set(p, "pcrs", "24", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_set(p, "hierarchies", "owner null", err, sizeof(err)), 0);
	assert_int_equal(p->hierarchies, PH_OWNER | PH_NULL);
	assert_int_equal(policy_set(p, "hierarchies", "ownr", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_set(p, "deny", "Clear Bogus", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "Bogus"));
	assert_int_equal(policy_set(p, "match", "everyone", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_set(p, "match-user", "no-such-user-here", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(policy_set(p, "match-cgroup", "relative", err, sizeof(err)), -EINVAL);
	assert_string_equal(p->instance, "shared");
	assert_int_equal(policy_set(p, "instance", "shared", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "instance", "tenant-a", err, sizeof(err)), 0);
	assert_string_equal(p->instance, "tenant-a");
	assert_int_equal(policy_set(p, "instance", "private", err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "instance", "../etc", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "shared, private"));
	assert_int_equal(policy_set(p, "instance", "a b", err, sizeof(err)), -EINVAL);
	assert_string_equal(p->instance, "private");
	assert_int_equal(policy_set(p, "colour", "blue", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "colour"));
	assert_int_equal(policy_set(p, "max-connections-per-user", "-1", err, sizeof(err)),
			 -EINVAL);
}

static void
test_match_order(void **state)
{
	struct policy pol = {0};
	struct profile *p;
	char err[256];
	struct peer_id u = {.source = PEER_UNIX, .uid_known = true, .uid = 1000, .gid = 1000,
			    .n_groups = 1, .groups = {27}};
	struct peer_id anon = {.source = PEER_TCP_REMOTE};

	(void)state;
	strcpy(u.cgroup, "/system.slice/foo.service");
	assert_int_equal(policy_add(&pol, "svc", 1, &p, err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "match-cgroup", "/system.slice/foo.service", err,
				    sizeof(err)),
			 0);
	assert_int_equal(policy_add(&pol, "grp", 2, &p, err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "match-group", "27", err, sizeof(err)), 0);
	assert_int_equal(policy_add(&pol, "net", 3, &p, err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "match-listen", "mssim:0.0.0.0:2321", err, sizeof(err)),
			 0);
	assert_int_equal(policy_add(&pol, "tmpl", 4, &p, err, sizeof(err)), 0);
	/* first match wins, in file order */
	assert_string_equal(policy_match(&pol, &u, "unix:x")->name, "svc");
	strcpy(u.cgroup, "/system.slice/foobar.service");
	assert_string_equal(policy_match(&pol, &u, "unix:x")->name, "grp");
	u.n_groups = 0;
	assert_null(policy_match(&pol, &u, "unix:x"));
	/* an unknown peer matches only by its listener; a template matches nobody */
	assert_string_equal(policy_match(&pol, &anon, "mssim:0.0.0.0:2321")->name, "net");
	assert_null(policy_match(&pol, &anon, "mssim:127.0.0.1:2321"));
	assert_string_equal(policy_find(&pol, "tmpl")->name, "tmpl");
}

/* the log's PCRs are closed to raw extends on the shared TPM only */
static void
test_exclude_pcrs(void **state)
{
	struct policy pol = {0};
	struct profile *a, *u, *t;
	char err[128];

	(void)state;
	assert_int_equal(policy_add(&pol, "admin", 1, &a, err, sizeof(err)), 0);
	assert_int_equal(policy_set(a, "measure-admin", "yes", err, sizeof(err)), 0);
	assert_int_equal(policy_add(&pol, "user", 2, &u, err, sizeof(err)), 0);
	assert_int_equal(policy_add(&pol, "tenant", 3, &t, err, sizeof(err)), 0);
	assert_int_equal(policy_set(t, "instance", "private", err, sizeof(err)), 0);
	a->pcrs = u->pcrs = t->pcrs = 0xffffff;
	policy_exclude_pcrs(&pol, 1u << 16 | 1u << 23);
	assert_int_equal(a->pcrs, 0xffffff);
	assert_int_equal(u->pcrs, 0xffffff & ~(1u << 16 | 1u << 23));
	assert_int_equal(t->pcrs, 0xffffff);
}

/* --sweep: each word gives its own mode (all once gave own) */
static void
test_sweep_option(void **state)
{
	static const struct {
		const char *arg;
		int want;
	} cases[] = {{"--sweep=own", CFG_SWEEP_OWN}, {"--sweep=all", CFG_SWEEP_ALL},
		     {"--sweep=none", CFG_SWEEP_NONE}};
	static struct config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = {"tpmbrokerd", (char *)cases[i].arg, NULL};
		optind = 0;
		assert_int_equal(cfg_parse(2, argv, &cfg), 0);
		assert_int_equal(cfg.sweep, cases[i].want);
	}
	char *bad[] = {"tpmbrokerd", "--sweep=some", NULL};
	optind = 0;
	assert_int_not_equal(cfg_parse(2, bad, &cfg), 0);
}

/* The example config's admin and user profiles are the built-in ones. */
static void
test_dist_conf(void **state)
{
	char *argv[] = {"tpmbrokerd", "--config", TB_DIST_CONF, NULL};
	static struct config cfg;
	struct policy def;

	(void)state;
	policy_defaults(&def);
	optind = 0;
	assert_int_equal(cfg_parse(3, argv, &cfg), 0);
	/* the log's PCRs leave the built-in profiles' pcrs as the file's */
	policy_exclude_pcrs(&def, cfg.measure_pcrs);
	assert_int_equal(cfg.policy.n, 3);
	for (size_t i = 0; i < 2; i++) {
		const struct profile *a = &def.p[i], *b = &cfg.policy.p[i];
		assert_string_equal(a->name, b->name);
		assert_memory_equal(a->cc_allowed, b->cc_allowed, sizeof(a->cc_allowed));
		assert_int_equal(a->vendor_allowed, b->vendor_allowed);
		assert_int_equal(a->localities, b->localities);
		assert_int_equal(a->hierarchies, b->hierarchies);
		assert_int_equal(a->pcrs, b->pcrs);
		assert_int_equal(a->measure_admin, b->measure_admin);
		assert_int_equal(a->match_any, b->match_any);
		assert_int_equal(a->n_uid, b->n_uid);
		assert_int_equal(a->n_gid, b->n_gid);
		assert_int_equal(a->max_connections_per_user, b->max_connections_per_user);
		assert_int_equal(a->weight, b->weight);
		assert_int_equal(a->priority, b->priority);
	}
	/* the vm template denies what user denies, and matches nobody */
	assert_memory_equal(def.p[1].cc_allowed, cfg.policy.p[2].cc_allowed,
			    sizeof(def.p[1].cc_allowed));
	assert_false(cfg.policy.p[2].match_any);
}

/* weight and priority: the scheduler's share keys, their defaults and bounds */
static void
test_share_keys(void **state)
{
	struct policy pol;
	struct profile *p;
	char err[160];

	(void)state;
	policy_defaults(&pol);
	assert_int_equal(pol.p[0].priority, POLICY_PRIO_INTERACTIVE); /* admin */
	assert_int_equal(pol.p[1].priority, POLICY_PRIO_NORMAL);      /* user */
	assert_int_equal(pol.p[0].weight, 1);
	assert_int_equal(pol.p[1].weight, 1);
	assert_int_equal(policy_add(&pol, "batch", 7, &p, err, sizeof(err)), 0);
	assert_int_equal(p->weight, 1);
	assert_int_equal(p->priority, POLICY_PRIO_NORMAL);
	assert_int_equal(policy_set(p, "weight", "3", err, sizeof(err)), 0);
	assert_int_equal(p->weight, 3);
	assert_int_equal(policy_set(p, "weight", "0", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_set(p, "weight", "101", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_set(p, "weight", "x", err, sizeof(err)), -EINVAL);
	assert_int_equal(p->weight, 3);
	assert_int_equal(policy_set(p, "priority", "bulk", err, sizeof(err)), 0);
	assert_int_equal(p->priority, POLICY_PRIO_BULK);
	assert_int_equal(policy_set(p, "priority", "System", err, sizeof(err)), 0);
	assert_int_equal(p->priority, POLICY_PRIO_SYSTEM);
	assert_int_equal(policy_set(p, "priority", "high", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "interactive"));
	assert_string_equal(policy_priority_name(POLICY_PRIO_BULK), "bulk");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cc_names),
		cmocka_unit_test(test_user_defaults),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_match_order),
		cmocka_unit_test(test_dist_conf),
		cmocka_unit_test(test_sweep_option),
		cmocka_unit_test(test_exclude_pcrs),
		cmocka_unit_test(test_share_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
