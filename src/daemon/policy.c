/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy.c: profiles (policy.h): their keys, the shipped defaults, matching
 * a peer, and judging a command before it goes anywhere near the TPM.
 *
 * The default "user" profile keeps an unprivileged local user from taking
 * the shared TPM away from everyone else: no Clear (through lockout or
 * platform), no change of a hierarchy's auth or policy, no disabling a
 * hierarchy, no new seeds, no dictionary-attack parameters or lockout
 * reset, no removal of persistent keys or NV indices others defined, no PCR
 * bank changes, resets or auth, no clock changes, no firmware upgrade, no
 * audit changes, no physical-presence commands, no vendor commands; the
 * platform and lockout hierarchies may not be named at all; PCRs 16
 * (debug) and 23 (application) only; locality 0 only.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/ccnames.h"
#include "../common/util.h"
#include "policy.h"

/* What an unprivileged user may not send (see the comment above). */
static const char *const user_denied[] = {
	"Clear", "ClearControl", "HierarchyControl", "HierarchyChangeAuth", "SetPrimaryPolicy",
	"ChangeEPS", "ChangePPS", "DictionaryAttackLockReset", "DictionaryAttackParameters",
	"EvictControl", "NV_UndefineSpace", "NV_UndefineSpaceSpecial", "PCR_Allocate",
	"PCR_SetAuthPolicy", "PCR_SetAuthValue", "PCR_Reset", "ClockSet", "ClockRateAdjust",
	"FieldUpgradeStart", "FieldUpgradeData", "FirmwareRead", "SetCommandCodeAuditStatus",
	"PP_Commands", "SetAlgorithmSet", "NV_GlobalWriteLock",
};

static bool
cc_bit(uint32_t cc, size_t *ret)
{
	uint32_t idx = cc & TPMA_CC_COMMANDINDEX_MASK;

	if ((cc & TPMA_CC_V) != 0 || idx < 0x100 || idx >= 0x100 + POLICY_CC_BITS)
		return false;
	*ret = idx - 0x100;
	return true;
}

static void
cc_set(struct profile *p, uint32_t cc, bool allow)
{
	size_t b;

	if ((cc & TPMA_CC_V) != 0) {
		p->vendor_allowed = allow;
		return;
	}
	if (!cc_bit(cc, &b))
		return;
	if (allow)
		p->cc_allowed[b / 8] |= (uint8_t)(1u << (b % 8));
	else
		p->cc_allowed[b / 8] &= (uint8_t)~(1u << (b % 8));
}

static bool
cc_allowed(const struct profile *p, uint32_t cc)
{
	size_t b;

	if ((cc & TPMA_CC_V) != 0)
		return p->vendor_allowed;
	if (!cc_bit(cc, &b))
		return false;
	return (p->cc_allowed[b / 8] & (1u << (b % 8))) != 0;
}

static void
profile_init(struct profile *p, const char *name, unsigned line)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	memset(p->cc_allowed, 0xff, sizeof(p->cc_allowed));
	p->vendor_allowed = true;
	p->localities = 0x01;
	p->hierarchies = PH_ALL;
	p->pcrs = 0xffffffu;
	p->line = line;
	p->max_objects = p->max_sessions = POLICY_INHERIT;
	p->max_objects_per_user = p->max_sessions_per_user = POLICY_INHERIT;
	p->max_abandoned_per_user = POLICY_INHERIT;
	p->max_objects_per_cgroup = p->max_sessions_per_cgroup = POLICY_INHERIT;
	p->weight = 1;
	p->priority = POLICY_PRIO_NORMAL;
	strcpy(p->instance, "shared");
}

int
policy_add(struct policy *pol, const char *name, unsigned line, struct profile **ret, char *err,
	   size_t errcap)
{
	if (name[0] == '\0' || strlen(name) >= POLICY_NAME_MAX) {
		snprintf(err, errcap, "profile name '%s' empty or longer than %d", name,
			 POLICY_NAME_MAX - 1);
		return -EINVAL;
	}
	if (policy_find(pol, name) != NULL) {
		snprintf(err, errcap, "profile '%s' defined twice", name);
		return -EEXIST;
	}
	if (pol->n >= POLICY_MAX_PROFILES) {
		snprintf(err, errcap, "more than %d profiles", POLICY_MAX_PROFILES);
		return -ENOSPC;
	}
	*ret = &pol->p[pol->n++];
	profile_init(*ret, name, line);
	return 0;
}

void
policy_defaults(struct policy *pol)
{
	struct profile *p;
	char err[128];

	memset(pol, 0, sizeof(*pol));
	(void)policy_add(pol, "admin", 0, &p, err, sizeof(err));
	p->uid[p->n_uid++] = 0;
	{
		struct group *g = getgrnam("tss");
		if (g != NULL)
			p->gid[p->n_gid++] = g->gr_gid;
	}
	p->localities = 0x1f;
	/* root and tss may extend the log's PCRs raw (they can open the TPM device anyway) */
	p->measure_admin = true;
	/* root's and tss's services (disk unlock, attestation) go before users' bulk work */
	p->priority = POLICY_PRIO_INTERACTIVE;
	(void)policy_add(pol, "user", 0, &p, err, sizeof(err));
	p->match_any = true;
	for (size_t i = 0; i < ARRAY_SIZE(user_denied); i++) {
		uint32_t cc;
		if (cc_from_name(user_denied[i], &cc) == 0)
			cc_set(p, cc, false);
	}
	p->vendor_allowed = false;
	p->hierarchies = PH_OWNER | PH_ENDORSEMENT | PH_NULL;
	p->pcrs = (1u << 16) | (1u << 23);
	p->max_connections_per_user = 64;
}

/* ---- parsing values ---- */

/* Split value at blanks and commas; call fn on each word.  Stops at the first error. */
static int
each_word(const char *value, int (*fn)(void *, const char *, char *, size_t), void *ctx,
	  char *err, size_t errcap)
{
	char buf[1024], *save = NULL, *w;
	int r;

	if (strlen(value) >= sizeof(buf)) {
		snprintf(err, errcap, "value too long");
		return -EINVAL;
	}
	strcpy(buf, value);
	for (w = strtok_r(buf, " \t,", &save); w != NULL; w = strtok_r(NULL, " \t,", &save))
		if ((r = fn(ctx, w, err, errcap)) < 0)
			return r;
	return 0;
}

/* "N" or "N-M" within [0, max]: bits into *mask */
static int
parse_range(const char *w, unsigned max, uint32_t *mask)
{
	char *end;
	unsigned long a, b;

	a = strtoul(w, &end, 10);
	if (end == w)
		return -EINVAL;
	b = a;
	if (*end == '-') {
		const char *s = end + 1;
		b = strtoul(s, &end, 10);
		if (end == s)
			return -EINVAL;
	}
	if (*end != '\0' || a > b || b > max)
		return -EINVAL;
	for (unsigned long i = a; i <= b; i++)
		*mask |= 1u << i;
	return 0;
}

static int
word_uid(void *ctx, const char *w, char *err, size_t errcap)
{
	struct profile *p = ctx;
	struct passwd *pw;
	char *end;
	unsigned long v = strtoul(w, &end, 10);

	if (p->n_uid >= POLICY_MAX_MATCH) {
		snprintf(err, errcap, "more than %d users", POLICY_MAX_MATCH);
		return -EINVAL;
	}
	if (end != w && *end == '\0' && v < (uid_t)-1) {
		p->uid[p->n_uid++] = (uid_t)v;
		return 0;
	}
	if ((pw = getpwnam(w)) == NULL) {
		snprintf(err, errcap, "no user '%s'", w);
		return -EINVAL;
	}
	p->uid[p->n_uid++] = pw->pw_uid;
	return 0;
}

static int
word_gid(void *ctx, const char *w, char *err, size_t errcap)
{
	struct profile *p = ctx;
	struct group *g;
	char *end;
	unsigned long v = strtoul(w, &end, 10);

	if (p->n_gid >= POLICY_MAX_MATCH) {
		snprintf(err, errcap, "more than %d groups", POLICY_MAX_MATCH);
		return -EINVAL;
	}
	if (end != w && *end == '\0' && v < (gid_t)-1) {
		p->gid[p->n_gid++] = (gid_t)v;
		return 0;
	}
	if ((g = getgrnam(w)) == NULL) {
		snprintf(err, errcap, "no group '%s'", w);
		return -EINVAL;
	}
	p->gid[p->n_gid++] = g->gr_gid;
	return 0;
}

static int
word_cgroup(void *ctx, const char *w, char *err, size_t errcap)
{
	struct profile *p = ctx;
	if (p->n_cgroup >= POLICY_MAX_MATCH || w[0] != '/' || strlen(w) >= sizeof(p->cgroup[0])) {
		snprintf(err, errcap, "'%s': a cgroup path (\"/system.slice/x.service\"), at most %d",
			 w, POLICY_MAX_MATCH);
		return -EINVAL;
	}
	strcpy(p->cgroup[p->n_cgroup++], w);
	return 0;
}

static int
word_listen(void *ctx, const char *w, char *err, size_t errcap)
{
	struct profile *p = ctx;
	if (p->n_listen >= POLICY_MAX_MATCH || strlen(w) >= sizeof(p->listen[0])) {
		snprintf(err, errcap, "'%s': a listener (\"mssim:127.0.0.1:2321\"), at most %d", w,
			 POLICY_MAX_MATCH);
		return -EINVAL;
	}
	strcpy(p->listen[p->n_listen++], w);
	return 0;
}

static int
word_cc(struct profile *p, const char *w, bool allow, char *err, size_t errcap)
{
	uint32_t cc;

	if (strcasecmp(w, "vendor") == 0) {
		p->vendor_allowed = allow;
		return 0;
	}
	if (cc_from_name(w, &cc) < 0 || (!cc_bit(cc, &(size_t){0}) && (cc & TPMA_CC_V) == 0)) {
		snprintf(err, errcap, "'%s' is not a TPM command (TPM2_Clear, Clear, 0x126, vendor)",
			 w);
		return -EINVAL;
	}
	cc_set(p, cc, allow);
	return 0;
}

static int
word_allow(void *ctx, const char *w, char *err, size_t errcap)
{
	struct profile *p = ctx;
	return word_cc(p, w, true, err, errcap);
}

static int
word_deny(void *ctx, const char *w, char *err, size_t errcap)
{
	struct profile *p = ctx;
	return word_cc(p, w, false, err, errcap);
}

static int
word_locality(void *ctx, const char *w, char *err, size_t errcap)
{
	uint32_t *mask = ctx;
	if (parse_range(w, 4, mask) < 0) {
		snprintf(err, errcap, "'%s': a locality 0..4 or a range 0-4", w);
		return -EINVAL;
	}
	return 0;
}

static int
word_pcr(void *ctx, const char *w, char *err, size_t errcap)
{
	uint32_t *mask = ctx;
	if (strcasecmp(w, "all") == 0) {
		*mask = 0xffffffu;
		return 0;
	}
	if (strcasecmp(w, "none") == 0)
		return 0;
	if (parse_range(w, 23, mask) < 0) {
		snprintf(err, errcap, "'%s': a PCR 0..23, a range 16-23, all or none", w);
		return -EINVAL;
	}
	return 0;
}

static int
word_hierarchy(void *ctx, const char *w, char *err, size_t errcap)
{
	uint32_t *mask = ctx;
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{"owner", PH_OWNER}, {"endorsement", PH_ENDORSEMENT}, {"platform", PH_PLATFORM},
		{"lockout", PH_LOCKOUT}, {"null", PH_NULL}, {"all", PH_ALL}, {"none", 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcasecmp(w, names[i].name) == 0) {
			*mask |= names[i].bit;
			return 0;
		}
	snprintf(err, errcap, "'%s': owner, endorsement, platform, lockout, null, all or none", w);
	return -EINVAL;
}

static int
parse_uint(const char *value, unsigned max, unsigned *ret, char *err, size_t errcap)
{
	char *end;
	unsigned long v = strtoul(value, &end, 10);

	if (end == value || *end != '\0' || v > max) {
		snprintf(err, errcap, "'%s' is not a number in [0, %u]", value, max);
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

/* A limit in [min, max]; "inherit": the daemon-wide option. */
static int
parse_limit(const char *value, unsigned min, unsigned max, unsigned *ret, char *err, size_t errcap)
{
	unsigned v;
	int r;

	if (strcmp(value, "inherit") == 0) {
		*ret = POLICY_INHERIT;
		return 0;
	}
	if ((r = parse_uint(value, max, &v, err, errcap)) < 0)
		return r;
	if (v < min) {
		snprintf(err, errcap, "'%s' is not a number in [%u, %u]", value, min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int
parse_bool(const char *value, bool *ret, char *err, size_t errcap)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
		*ret = true;
		return 0;
	}
	if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
		*ret = false;
		return 0;
	}
	snprintf(err, errcap, "'%s' is not yes or no", value);
	return -EINVAL;
}

static const char *const prio_names[] = {"system", "interactive", "normal", "bulk"};

const char *
policy_priority_name(enum policy_priority prio)
{
	return (unsigned)prio < ARRAY_SIZE(prio_names) ? prio_names[prio] : "?";
}

static int
parse_weight(const char *value, unsigned *ret, char *err, size_t errcap)
{
	unsigned w;

	if (parse_uint(value, POLICY_WEIGHT_MAX, &w, err, errcap) < 0 || w == 0) {
		snprintf(err, errcap, "weight '%s' is not a number in [1, %u]", value,
			 POLICY_WEIGHT_MAX);
		return -EINVAL;
	}
	*ret = w;
	return 0;
}

static int
parse_priority(const char *value, enum policy_priority *ret, char *err, size_t errcap)
{
	for (size_t i = 0; i < ARRAY_SIZE(prio_names); i++)
		if (strcasecmp(value, prio_names[i]) == 0) {
			*ret = (enum policy_priority)i;
			return 0;
		}
	snprintf(err, errcap, "priority '%s': system, interactive, normal or bulk", value);
	return -EINVAL;
}

int
policy_set(struct profile *p, const char *key, const char *value, char *err, size_t errcap)
{
	uint32_t mask = 0;
	int r;

	if (strcmp(key, "match") == 0) {
		if (strcmp(value, "*") != 0) {
			snprintf(err, errcap, "match = * is the only form (match-uid, match-group, "
					      "match-cgroup, match-listen name peers)");
			return -EINVAL;
		}
		p->match_any = true;
		return 0;
	}
	if (strcmp(key, "match-uid") == 0 || strcmp(key, "match-user") == 0)
		return each_word(value, word_uid, p, err, errcap);
	if (strcmp(key, "match-group") == 0)
		return each_word(value, word_gid, p, err, errcap);
	if (strcmp(key, "match-cgroup") == 0)
		return each_word(value, word_cgroup, p, err, errcap);
	if (strcmp(key, "match-listen") == 0)
		return each_word(value, word_listen, p, err, errcap);
	if (strcmp(key, "commands") == 0) {
		if (strcmp(value, "all") != 0 && strcmp(value, "none") != 0) {
			snprintf(err, errcap, "commands = all or none (then allow/deny adjust)");
			return -EINVAL;
		}
		memset(p->cc_allowed, value[0] == 'a' ? 0xff : 0, sizeof(p->cc_allowed));
		p->vendor_allowed = value[0] == 'a';
		return 0;
	}
	if (strcmp(key, "allow") == 0)
		return each_word(value, word_allow, p, err, errcap);
	if (strcmp(key, "deny") == 0)
		return each_word(value, word_deny, p, err, errcap);
	if (strcmp(key, "localities") == 0) {
		if ((r = each_word(value, word_locality, &mask, err, errcap)) < 0)
			return r;
		p->localities = (uint8_t)mask;
		return 0;
	}
	if (strcmp(key, "pcrs") == 0) {
		if ((r = each_word(value, word_pcr, &mask, err, errcap)) < 0)
			return r;
		p->pcrs = mask;
		return 0;
	}
	if (strcmp(key, "hierarchies") == 0) {
		if ((r = each_word(value, word_hierarchy, &mask, err, errcap)) < 0)
			return r;
		p->hierarchies = mask;
		return 0;
	}
	if (strcmp(key, "max-connections-per-user") == 0)
		return parse_uint(value, 1u << 20, &p->max_connections_per_user, err, errcap);
	/* resource-manager limits (rm.h: struct rm_limits) */
	if (strcmp(key, "max-objects") == 0)
		return parse_limit(value, 1, 4096, &p->max_objects, err, errcap);
	if (strcmp(key, "max-sessions") == 0)
		return parse_limit(value, 1, 4096, &p->max_sessions, err, errcap);
	if (strcmp(key, "max-objects-per-user") == 0)
		return parse_limit(value, 0, 1u << 20, &p->max_objects_per_user, err, errcap);
	if (strcmp(key, "max-sessions-per-user") == 0)
		return parse_limit(value, 0, 4096, &p->max_sessions_per_user, err, errcap);
	if (strcmp(key, "max-abandoned-per-user") == 0)
		return parse_limit(value, 0, 4096, &p->max_abandoned_per_user, err, errcap);
	if (strcmp(key, "max-objects-per-cgroup") == 0)
		return parse_limit(value, 0, 1u << 20, &p->max_objects_per_cgroup, err, errcap);
	if (strcmp(key, "max-sessions-per-cgroup") == 0)
		return parse_limit(value, 0, 4096, &p->max_sessions_per_cgroup, err, errcap);
	if (strcmp(key, "reserved-sessions") == 0)
		return parse_uint(value, 63, &p->reserved_sessions, err, errcap);
	if (strcmp(key, "nv-write-rate") == 0)
		return parse_uint(value, 1000000, &p->nv_write_rate, err, errcap);
	if (strcmp(key, "share-contexts") == 0)
		return parse_bool(value, &p->share_contexts, err, errcap);
	if (strcmp(key, "measure-admin") == 0)
		return parse_bool(value, &p->measure_admin, err, errcap);
	/* scheduling (sched.c) */
	if (strcmp(key, "weight") == 0)
		return parse_weight(value, &p->weight, err, errcap);
	if (strcmp(key, "priority") == 0)
		return parse_priority(value, &p->priority, err, errcap);
	if (strcmp(key, "instance") == 0) {
		/*
		 * shared; private: each uid its own instance "uid-N" (supervise.h);
		 * or the name of an instance made with tpmbroker instance create
		 */
		size_t n = strlen(value);
		bool ok = n > 0 && n < sizeof(p->instance) && value[0] != '.';

		for (size_t i = 0; ok && i < n; i++)
			ok = isalnum((unsigned char)value[i]) || strchr("-_.", value[i]) != NULL;
		if (!ok) {
			snprintf(err, errcap, "instance '%s': shared, private, or an instance's name",
				 value);
			return -EINVAL;
		}
		strcpy(p->instance, value);
		return 0;
	}
	snprintf(err, errcap, "unknown profile setting '%s'", key);
	return -EINVAL;
}

void
policy_exclude_pcrs(struct policy *pol, uint32_t mask)
{
	/* the log is the shared TPM's: a private instance's PCRs are its tenant's */
	for (size_t i = 0; i < pol->n; i++)
		if (!pol->p[i].measure_admin && strcmp(pol->p[i].instance, "shared") == 0)
			pol->p[i].pcrs &= ~mask;
}

/* ---- matching and judging ---- */

const struct profile *
policy_find(const struct policy *pol, const char *name)
{
	for (size_t i = 0; i < pol->n; i++)
		if (strcmp(pol->p[i].name, name) == 0)
			return &pol->p[i];
	return NULL;
}

static bool
profile_matches(const struct profile *p, const struct peer_id *peer, const char *listen)
{
	if (p->match_any)
		return true;
	for (size_t i = 0; i < p->n_listen; i++)
		if (listen != NULL && strcmp(p->listen[i], listen) == 0)
			return true;
	if (!peer->uid_known)
		return false;
	for (size_t i = 0; i < p->n_uid; i++)
		if (p->uid[i] == peer->uid)
			return true;
	for (size_t i = 0; i < p->n_gid; i++)
		if (peer_in_group(peer, p->gid[i]))
			return true;
	for (size_t i = 0; i < p->n_cgroup; i++)
		if (peer_in_cgroup(peer, p->cgroup[i]))
			return true;
	return false;
}

const struct profile *
policy_match(const struct policy *pol, const struct peer_id *peer, const char *listen)
{
	for (size_t i = 0; i < pol->n; i++)
		if (profile_matches(&pol->p[i], peer, listen))
			return &pol->p[i];
	return NULL;
}

static unsigned
hierarchy_bit(uint32_t h)
{
	switch (h) {
	case TPM2_RH_OWNER: return PH_OWNER;
	case TPM2_RH_ENDORSEMENT: return PH_ENDORSEMENT;
	case TPM2_RH_PLATFORM:
	case TPM2_RH_PLATFORM_NV: return PH_PLATFORM;
	case TPM2_RH_LOCKOUT: return PH_LOCKOUT;
	case TPM2_RH_NULL: return PH_NULL;
	default: return 0; /* not a hierarchy */
	}
}

uint32_t
policy_check(const struct profile *p, const uint8_t *cmd, size_t len, uint8_t locality,
	     const TPMA_CC *attr)
{
	uint32_t cc = get_be32(cmd + 6);
	unsigned n_handles = attr != NULL ? (*attr & TPMA_CC_CHANDLES_MASK) >> TPMA_CC_CHANDLES_SHIFT
					  : 0;

	if (p == NULL)
		return POLICY_RC_DENIED;
	if (attr == NULL)
		return 0; /* the TPM does not have it: the RM answers TPM_RC_COMMAND_CODE */
	if (!cc_allowed(p, cc))
		return POLICY_RC_DENIED;
	if (locality > 4 || (p->localities & (1u << locality)) == 0)
		return POLICY_RC_LOCALITY;
	/* the handle area; a short one is the RM's to answer */
	for (unsigned i = 0; i < n_handles && 10 + 4 * (size_t)(i + 1) <= len; i++) {
		uint32_t h = get_be32(cmd + 10 + 4 * i), bit = hierarchy_bit(h);
		if (bit != 0 && (p->hierarchies & bit) == 0)
			return POLICY_RC_DENIED;
	}
	if ((cc == TPM2_CC_PCR_Extend || cc == TPM2_CC_PCR_Event || cc == TPM2_CC_PCR_Reset) &&
	    len >= 14) {
		uint32_t pcr = get_be32(cmd + 10);
		if (pcr <= 23 && (p->pcrs & (1u << pcr)) == 0)
			return POLICY_RC_DENIED;
	}
	return 0;
}
