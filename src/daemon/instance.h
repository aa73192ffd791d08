/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * instance.h: one TPM the daemon serves: a backend with the commands and
 * properties learnt from it (caps), its resource manager, its scheduler and
 * their counters.  The server holds a table of them; a connection is bound
 * to one when it is accepted.  Today there is one, "shared"; private
 * instances (a software TPM per user, tenant or VM) are more rows.
 *
 * Below this line nothing knows the server or the connections: jobs come
 * in through inst->sched, and that is all.
 */
#ifndef TB_INSTANCE_H
#define TB_INSTANCE_H

#include <stdint.h>

#include "caps.h"
#include "rm.h"
#include "sched.h"

struct backend;
struct loop;

#define INSTANCE_NAME_MAX 32

struct instance_params {
	struct rm_params rm;       /* .caps is filled in by the instance */
	struct sched_params sched;
	bool sweep;                /* flush transient leftovers at open (rm_sweep) */
};

struct tpm_instance {
	char name[INSTANCE_NAME_MAX]; /* "shared" */
	struct backend *be;           /* owned */
	struct tpm_caps caps;         /* owned */
	struct rm *rm;                /* owned */
	struct sched *sched;          /* owned */
	unsigned n_conns;             /* connections bound to it now */
	uint64_t conns_total;
};

/*
 * Open the backend from spec, start the TPM, learn its caps, sweep
 * leftovers: synchronous, at start-up, before the loop runs.
 */
int instance_open(struct loop *loop, const char *name, const char *spec,
		  const struct instance_params *p, struct tpm_instance **ret);
/*
 * Serve a backend that is open and started, whose caps are known (tests,
 * and instances whose backend someone else starts).  Takes ownership of be
 * and of caps->cc, also on failure.
 */
int instance_new(struct loop *loop, const char *name, struct backend *be,
		 const struct tpm_caps *caps, const struct instance_params *p,
		 struct tpm_instance **ret);
/* Every job must be over (the loop drained): frees the RM, sched, backend. */
void instance_free(struct tpm_instance *ti);

#endif
