/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * instance.c: a TPM instance's parts, put together in the order they
 * depend on each other: backend, caps (asked of the TPM), RM, scheduler.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/log.h"
#include "../common/util.h"
#include "backend.h"
#include "instance.h"

int
instance_new(struct loop *loop, const char *name, struct backend *be, const struct tpm_caps *caps,
	     const struct instance_params *p, struct tpm_instance **ret)
{
	struct tpm_instance *ti = calloc(1, sizeof(*ti));
	struct rm_params rp = p->rm;
	int r;

	if (ti == NULL) {
		struct tpm_caps c = *caps;
		caps_free(&c);
		be_close(be);
		return -ENOMEM;
	}
	snprintf(ti->name, sizeof(ti->name), "%s", name);
	ti->be = be;
	ti->caps = *caps;
	rp.caps = &ti->caps;
	if ((r = rm_new(&rp, &ti->rm)) < 0 ||
	    (r = sched_new(loop, be, ti->rm, &p->sched, &ti->sched)) < 0) {
		instance_free(ti);
		return r;
	}
	*ret = ti;
	return 0;
}

int
instance_open(struct loop *loop, const char *name, const char *spec,
	      const struct instance_params *p, struct tpm_instance **ret)
{
	struct backend *be;
	struct tpm_caps caps = {0};
	unsigned swept = 0;
	int r;

	if ((r = be_open(spec, &be)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "%s: backend '%s'", name, spec);
		return r;
	}
	if (be->needs_startup && (r = be_startup(be)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "%s: TPM2_Startup", be->desc);
		goto fail;
	}
	if ((r = caps_load(be, &caps)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "%s: reading the TPM's commands and properties", be->desc);
		goto fail;
	}
	log_info("%s: %zu commands, %u object slots, %u session slots, max command %u", be->desc,
		 caps.n_cc, caps.transient_slots, caps.loaded_sessions, caps.max_command);
	/* a TPM that outlived an earlier broker may hold its clients' leftovers */
	if (p->sweep && (r = rm_sweep(be, &swept)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "%s: flushing leftover transient objects and sessions",
			  be->desc);
		caps_free(&caps);
		goto fail;
	}
	if (swept > 0)
		log_info("%s: flushed %u transient objects and sessions left over", be->desc,
			 swept);
	return instance_new(loop, name, be, &caps, p, ret);
fail:
	be_close(be);
	return r;
}

void
instance_free(struct tpm_instance *ti)
{
	if (ti == NULL)
		return;
	sched_free(ti->sched);
	rm_free(ti->rm);
	caps_free(&ti->caps);
	be_close(ti->be);
	free(ti);
}
