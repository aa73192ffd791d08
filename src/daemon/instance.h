/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * instance.h: one TPM the daemon serves: a backend with the commands and
 * properties learnt from it (caps), its resource manager, its scheduler and
 * their counters.  The server holds a table of them; a connection is bound
 * to one when it is accepted: "shared", and the private instances (a
 * software TPM per user, tenant or VM, each in a swtpm worker: supervise.h),
 * which are made and deleted while the daemon runs.
 *
 * Below this line nothing knows the server or the connections: jobs come
 * in through inst->sched, and that is all.
 */
#ifndef TB_INSTANCE_H
#define TB_INSTANCE_H

#include <limits.h>
#include <stdint.h>

#include "caps.h"
#include "quote.h"
#include "rm.h"
#include "sched.h"

struct backend;
struct held;
struct loop;
struct sup_inst;
struct measure;

#define INSTANCE_NAME_MAX 32

/* What instance_open() flushes of the transient objects and sessions it finds. */
enum inst_sweep {
	INST_SWEEP_NONE = 0, /* nothing */
	INST_SWEEP_ALL = 1,  /* everything: the broker is the TPM's only user */
	INST_SWEEP_OWN = 2,  /* what the state file says an earlier broker held */
};

/* rm_params.reserve[k] = INST_RESERVE_AUTO: 1 on a device backend (shared), else 0 */
#define INST_RESERVE_AUTO UINT_MAX

struct instance_params {
	struct rm_params rm;       /* .caps, .held_changed are filled in by the instance */
	struct sched_params sched;
	struct quote_params quote; /* batched quotes */
	enum inst_sweep sweep;     /* at open (rm_sweep_handles) */
	/* the record of handles the broker holds (held.h); NULL or "": none kept */
	const char *state_file;
};

struct tpm_instance {
	char name[INSTANCE_NAME_MAX]; /* "shared" */
	struct backend *be;           /* owned */
	struct tpm_caps caps;         /* owned */
	struct rm *rm;                /* owned */
	struct sched *sched;          /* owned */
	struct held *held;            /* owned; NULL: no record of held handles */
	struct sup_inst *sup;         /* its swtpm worker (supervise.h); NULL: not supervised */
	struct quote_svc *quote;      /* owned; batched quotes (quote.h) */
	struct measure *measure;      /* owned; NULL: no log-first measurement (measure.h) */
	unsigned n_conns;             /* connections bound to it now */
	uint64_t conns_total;
};

/*
 * Open the backend from spec, start the TPM, learn its caps, sweep
 * leftovers (p->sweep: an earlier broker's, as its record in p->state_file
 * says, or everything), then record what this one holds there: synchronous,
 * at start-up, before the loop runs.
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
