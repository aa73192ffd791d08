/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy.h: who may do what.  Profiles are read from the config file
 * ([profile NAME] sections); a connection gets the first profile, in file
 * order, whose match holds for its peer (peer.h) and the listener it came
 * in on.  A profile says which commands the peer may send, at which
 * localities, which hierarchies and PCRs its commands may name, and how
 * many connections its user may hold.
 *
 * A refusal never reaches the TPM: the client gets a TPM response with the
 * resource-manager layer:
 *   0x000B0120  TPM_RC_DISABLED  the command, or a hierarchy or PCR it names,
 *                                is not allowed to this peer
 *   0x000B0907  TPM_RC_LOCALITY  the locality is not allowed to this peer
 */
#ifndef TB_POLICY_H
#define TB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include <tss2/tss2_tpm2_types.h>

#include "peer.h"

#define POLICY_MAX_PROFILES 32
#define POLICY_NAME_MAX 32
#define POLICY_MAX_MATCH 8
/* command codes 0x100..0x4ff (TPM 2.0 uses 0x11f..0x1a0), by commandIndex */
#define POLICY_CC_BITS 1024u

/* refusals (see above) */
#define POLICY_RC_DENIED 0x000B0120u
#define POLICY_RC_LOCALITY 0x000B0907u

/* the hierarchies a profile may name in a command's handle area */
enum policy_hierarchy {
	PH_OWNER = 1u << 0,
	PH_ENDORSEMENT = 1u << 1,
	PH_PLATFORM = 1u << 2, /* and PLATFORM_NV */
	PH_LOCKOUT = 1u << 3,
	PH_NULL = 1u << 4,
	PH_ALL = 0x1fu,
};

/*
 * A profile's priority class at the scheduler (sched.c): a higher class is
 * served first; a waiting lower class rises one class per 200 ms waited, so
 * it is never starved.  Defaults: admin interactive, everyone else normal.
 */
enum policy_priority {
	POLICY_PRIO_SYSTEM,
	POLICY_PRIO_INTERACTIVE,
	POLICY_PRIO_NORMAL,
	POLICY_PRIO_BULK,
};
#define POLICY_WEIGHT_MAX 100

struct profile {
	char name[POLICY_NAME_MAX];
	/* match: any of these; a profile that names none matches nobody (a template) */
	bool match_any;
	uid_t uid[POLICY_MAX_MATCH];
	size_t n_uid;
	gid_t gid[POLICY_MAX_MATCH];
	size_t n_gid;
	char cgroup[POLICY_MAX_MATCH][128]; /* path prefixes */
	size_t n_cgroup;
	char listen[POLICY_MAX_MATCH][80];  /* listener names: "mssim:127.0.0.1:2321" */
	size_t n_listen;
	/* what it may send */
	uint8_t cc_allowed[POLICY_CC_BITS / 8]; /* bit per commandIndex - 0x100 */
	bool vendor_allowed;                    /* commands with the vendor bit */
	uint8_t localities;                     /* bit per locality 0..4 */
	unsigned hierarchies;                   /* enum policy_hierarchy */
	uint32_t pcrs;                          /* PCR_Extend/Event/Reset may name these (bit n) */
	/* how much */
	unsigned max_connections_per_user;      /* 0: no limit of its own */
	unsigned line;                          /* where it was defined (0: built in) */
	/*
	 * What its connections may hold in the resource manager (rm.h: struct
	 * rm_limits); POLICY_INHERIT: the daemon-wide option (--max-objects...).
	 */
	unsigned max_objects;            /* per connection */
	unsigned max_sessions;           /* per connection */
	unsigned max_objects_per_user;   /* 0: no limit */
	unsigned max_sessions_per_user;  /* 0: no limit */
	unsigned max_abandoned_per_user;
	unsigned max_objects_per_cgroup; /* 0 (or inherited): no limit */
	unsigned max_sessions_per_cgroup;
	unsigned reserved_sessions;      /* active session slots other profiles never get */
	unsigned nv_write_rate;          /* NV writes per second per user; 0: no limit */
	bool share_contexts;             /* saved contexts load for other users too */
	/*
	 * Log-first measurement (measure.h): raw PCR_Extend/Event/Reset of the
	 * PCRs the log owns (which makes them inconsistent), stream names of its
	 * own choosing, new sections.  Without it those PCRs are out of pcrs.
	 */
	bool measure_admin;
	/* its users' share of the TPM's time against other users (sched.c) */
	unsigned weight;                        /* 1..POLICY_WEIGHT_MAX, default 1 */
	enum policy_priority priority;          /* default normal */
	/* the TPM instance its connections are bound to: shared, private (uid-N), or a name */
	char instance[32];
};
#define POLICY_INHERIT UINT_MAX

struct policy {
	struct profile p[POLICY_MAX_PROFILES];
	size_t n;
};

/* The shipped profiles: admin (root, group tss), user (everyone else). */
void policy_defaults(struct policy *pol);

/*
 * Add a profile NAME (from a "[profile NAME]" line) with the built-in
 * defaults of an unknown peer: everything allowed at locality 0, matching
 * nobody until a match key says so.  -EEXIST / -ENOSPC with a message.
 */
int policy_add(struct policy *pol, const char *name, unsigned line, struct profile **ret,
	       char *err, size_t errcap);
/* Apply "key = value" of a profile section.  0, or -EINVAL with a message in err. */
int policy_set(struct profile *p, const char *key, const char *value, char *err, size_t errcap);

/*
 * The PCRs in mask belong to log-first measurement on the shared TPM: out
 * of every profile's pcrs but those with measure_admin (raw extends would
 * bypass the log) and those bound to a private instance (its PCRs are its
 * tenant's).
 */
void policy_exclude_pcrs(struct policy *pol, uint32_t mask);

/* "system", "interactive", "normal", "bulk" */
const char *policy_priority_name(enum policy_priority prio);

/* The first profile whose match holds, or NULL (then nothing is allowed). */
const struct profile *policy_match(const struct policy *pol, const struct peer_id *peer,
				   const char *listen);
/* The same profile in another policy (after a reload), by name; NULL if gone. */
const struct profile *policy_find(const struct policy *pol, const char *name);

/*
 * May a peer of profile p send this command?  cmd has passed
 * wire_check_command(); attr is the command's TPMA_CC, or NULL if the TPM
 * does not know it (then only the command code is judged).  0, or the RC
 * to answer with (POLICY_RC_*).  A command the TPM lacks is not judged
 * (0): the RM answers it TPM_RC_COMMAND_CODE as the TPM would.
 */
uint32_t policy_check(const struct profile *p, const uint8_t *cmd, size_t len, uint8_t locality,
		      const TPMA_CC *attr);

#endif
