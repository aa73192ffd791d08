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
#include "held.h"
#include "instance.h"
#include "measure.h"

/* rm_params.held_changed: the record (if any) is written a little later. */
static void
instance_held_changed(void *ctx)
{
	struct tpm_instance *ti = ctx;

	if (ti->held != NULL)
		held_changed(ti->held);
}

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
	rp.held_changed = instance_held_changed;
	rp.held_ctx = ti;
	/* a TPM device is shared with the kernel and its users; other backends are ours */
	for (unsigned k = 0; k < 2; k++) {
		if (rp.reserve[k] == INST_RESERVE_AUTO)
			rp.reserve[k] = be->ops == &be_device_ops ? 1 : 0;
	}
	if ((r = rm_new(&rp, &ti->rm)) < 0 ||
	    (r = sched_new(loop, be, ti->rm, &p->sched, &ti->sched)) < 0 ||
	    (r = quote_new(loop, ti->rm, ti->sched, &ti->caps, &p->quote, &ti->quote)) < 0) {
		instance_free(ti);
		return r;
	}
	if (rp.reserve[0] > 0 || rp.reserve[1] > 0) {
		struct rm_stats st;

		rm_get_stats(ti->rm, &st);
		log_info("%s: the broker fills %u of %u object and %u of %u session slots; the "
			 "rest is the TPM's other users'",
			 be->desc, st.slots[0], caps->transient_slots, st.slots[1],
			 caps->loaded_sessions);
	}
	/* without a record the next start flushes nothing of ours (--sweep=own): a leak, no harm */
	if (p->state_file != NULL && p->state_file[0] != '\0' &&
	    (r = held_new(loop, p->state_file, be->desc, ti->rm, &ti->held)) < 0)
		log_errno(LOG_LVL_WARN, -r, "%s: cannot record the handles the broker holds",
			  p->state_file);
	*ret = ti;
	return 0;
}

static int
instance_xact(void *ctx, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap,
	      size_t *ret_len)
{
	return be_transact(ctx, cmd, len, rsp, cap, ret_len, 30000);
}

/*
 * Flush what an earlier broker left: everything (all), or what its record
 * names (own); the TPM's other users keep theirs.  -errno from the backend.
 */
static int
instance_sweep(struct backend *be, const struct instance_params *p)
{
	static uint32_t own[HELD_MAX]; /* start-up only */
	struct rm_sweep_result res = {0};
	size_t n = 0;
	int r;

	if (p->sweep == INST_SWEEP_NONE)
		return 0;
	if (p->sweep == INST_SWEEP_OWN && p->state_file != NULL && p->state_file[0] != '\0') {
		r = held_read(p->state_file, be->desc, own, HELD_MAX, &n);
		if (r == -ESTALE)
			log_warnx("%s: written for another TPM; nothing of it flushed",
				  p->state_file);
		else if (r < 0 && r != -ENOENT)
			log_errno(LOG_LVL_WARN, -r, "%s: not read; nothing of it flushed",
				  p->state_file);
		if (r < 0)
			n = 0;
	}
	r = rm_sweep_handles(instance_xact, be, p->sweep == INST_SWEEP_ALL ? NULL : own, n, &res);
	if (r < 0)
		return r;
	if (res.flushed > 0)
		log_info("%s: flushed %u transient objects and sessions left over", be->desc,
			 res.flushed);
	if (res.left > 0)
		log_info("%s: %u transient objects and sessions of the TPM's other users left alone",
			 be->desc, res.left);
	return 0;
}

int
instance_open(struct loop *loop, const char *name, const char *spec,
	      const struct instance_params *p, struct tpm_instance **ret)
{
	struct backend *be;
	struct tpm_caps caps = {0};
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
	if ((r = instance_sweep(be, p)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "%s: flushing leftover transient objects and sessions",
			  be->desc);
		caps_free(&caps);
		goto fail;
	}
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
	quote_free(ti->quote); /* before the RM: its rm_conn, if any, goes with the RM */
	measure_free(ti->measure); /* before the scheduler: its job may be queued there */
	held_free(ti->held); /* what is still held (abandoned sessions) */
	sched_free(ti->sched);
	rm_free(ti->rm);
	caps_free(&ti->caps);
	be_close(ti->be);
	free(ti);
}
