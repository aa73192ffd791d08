/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * supbe.c: the backend of a private instance, in front of its swtpm worker
 * (supervise.c), which comes and goes underneath.  Commands pass to a
 * swtpm backend on the worker's Unix sockets (be_swtpm.c) while the worker
 * runs; otherwise this file answers or holds them, so that the scheduler
 * and the RM above see one TPM that is sometimes reset:
 *
 * worker, link               command              action
 * running, linked            any                  passes to the worker (INNER)
 * running, a new worker      not Startup          answered TPM_RC_INITIALIZE: the
 *   the RM has not seen                           scheduler takes it for a reset
 *                                                 (rm_tpm_reset), the RM plans
 *                                                 Startup and sends the command again
 *                                                 (not after an idle stop or a VM:
 *                                                 the RM was told, supbe_forget)
 * crashed (tenant not told)  not Startup, the RM  TPM_RC_INITIALIZE, as above
 *                            holds state
 * crashed                    Startup              SUP_RC_RESTARTED (the tenant's
 *                                                 answer); the worker is started
 * stopped, starting          any                  held (HELD); the worker is started;
 *                                                 sent when it is up
 * start failed               the held one         SUP_RC_FAILED
 * attached to a VM           any                  SUP_RC_VM
 *
 * be->fd is a private epoll fd that holds either the inner backend's fd or
 * an eventfd, which is made readable when an answer of ours is ready or
 * the worker's state changed under a held command.  The only wait in the
 * loop: connecting to a worker whose sockets are up (be_swtpm's open: one
 * control exchange, ~10 ms while swtpm finishes its start, at most 5 s).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <tss2/tss2_tpm2_types.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "be_sock.h"
#include "sup_int.h"
#include "tpmcmd.h"

#define SB_CHECK_MS 5000 /* a worker whose sockets are up answers its first command in this */

enum sb_state { SB_IDLE, SB_HELD, SB_SYNTH, SB_INNER };

struct supbe {
	struct sup_inst *si;    /* not owned: outlives the backend (sup_delete frees both) */
	struct backend *inner;  /* owned; be_swtpm on the worker's sockets; NULL: no link */
	unsigned inner_gen;     /* the worker the link goes to */
	unsigned seen_gen;      /* the worker the RM is in step with; 0: any fresh one */
	struct be_waiter w;     /* be->fd is w.ep */
	int evfd;               /* owned */
	enum sb_state st;
	uint8_t loc;
	size_t cmd_len;
	uint8_t cmd[TB_BUF_MAX]; /* the command in flight (held, or to answer again) */
	uint8_t rsp[TPM_HDR_SIZE];
};

static void
sb_kick(struct supbe *sb)
{
	uint64_t one = 1;

	if (write(sb->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_errno(LOG_LVL_WARN, errno, "instance %s: eventfd", sb->si->name);
}

static void
sb_drain(struct supbe *sb)
{
	uint64_t v;

	(void)!read(sb->evfd, &v, sizeof(v));
}

/* Our own answer rc to the command in flight, ready at the next finish(). */
static int
sb_synth(struct supbe *sb, uint32_t rc)
{
	wire_rc_response(sb->rsp, sizeof(sb->rsp), rc);
	sb->st = SB_SYNTH;
	sb_kick(sb);
	return be_waiter_watch(&sb->w, sb->evfd, EPOLLIN);
}

static bool
sb_is_startup(const struct supbe *sb)
{
	return sb->cmd_len >= TPM_HDR_SIZE && get_be32(sb->cmd + 6) == TPM2_CC_Startup;
}

/* Open the link to the running worker (bounded wait: see atop). */
static int
sb_link(struct supbe *sb)
{
	struct sup_inst *si = sb->si;
	char spec[1200], data[512], ctrl[512];
	int r;

	if (sb->inner != NULL && sb->inner_gen == si->gen)
		return 0;
	supbe_unlink(si->be);
	sup_path(si, "data.sock", data, sizeof(data));
	sup_path(si, "ctrl.sock", ctrl, sizeof(ctrl));
	snprintf(spec, sizeof(spec), "swtpm:path=%s,ctrlpath=%s", data, ctrl);
	if ((r = be_open(spec, &sb->inner)) < 0)
		return r;
	sb->inner_gen = si->gen;
	return 0;
}

/* Decide what becomes of the command in sb->cmd (the table atop).  0 or -errno. */
static int
sb_dispatch(struct backend *be)
{
	struct supbe *sb = be->priv;
	struct sup_inst *si = sb->si;
	int r;

	if (si->state == SUP_VM || (si->vm_mode && si->state == SUP_STARTING))
		return sb_synth(sb, SUP_RC_VM);
	if (si->crashed) {
		if (sb->seen_gen != 0 && !sb_is_startup(sb)) {
			sb->seen_gen = 0;
			return sb_synth(sb, TPM2_RC_INITIALIZE);
		}
		si->crashed = false; /* told now */
		if (si->state == SUP_STOPPED)
			(void)sup_worker_start(si, false);
		return sb_synth(sb, SUP_RC_RESTARTED);
	}
	if (si->state == SUP_RUNNING) {
		if (sb->seen_gen != 0 && sb->seen_gen != si->gen && !sb_is_startup(sb)) {
			/* a worker the RM has not seen (restarted after idle): reset, Startup */
			sb->seen_gen = 0;
			return sb_synth(sb, TPM2_RC_INITIALIZE);
		}
		if ((r = sb_link(sb)) == 0 &&
		    (r = sb->inner->ops->submit(sb->inner, sb->cmd, sb->cmd_len, sb->loc)) == 0) {
			sb->seen_gen = si->gen;
			sb->st = SB_INNER;
			return be_waiter_watch(&sb->w, sb->inner->fd, EPOLLIN);
		}
		if (r == -EOPNOTSUPP)
			return r; /* a locality swtpm refused; the link is fine */
		log_errno(LOG_LVL_WARN, -r, "instance %s: worker %d", si->name, (int)si->pid);
		sup_worker_lost(si, "the link broke");
		return sb_dispatch(be); /* crashed now: answered at once */
	}
	if (si->start_failed) {
		si->start_failed = false;
		return sb_synth(sb, SUP_RC_FAILED);
	}
	if (si->state == SUP_STOPPED && (r = sup_worker_start(si, false)) < 0)
		return sb_synth(sb, SUP_RC_FAILED);
	sb->st = SB_HELD; /* until supbe_worker_event() */
	return be_waiter_watch(&sb->w, sb->evfd, EPOLLIN);
}

static int
supbe_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct supbe *sb = be->priv;
	int r;

	if (sb->st != SB_IDLE)
		return -EBUSY;
	if (len > sizeof(sb->cmd))
		return -EMSGSIZE;
	memcpy(sb->cmd, cmd, len);
	sb->cmd_len = len;
	sb->loc = locality;
	if ((r = sb_dispatch(be)) < 0)
		sb->st = SB_IDLE;
	return r;
}

static int
sb_take(struct supbe *sb, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	sb_drain(sb);
	sb->st = SB_IDLE;
	if (cap < sizeof(sb->rsp))
		return -EMSGSIZE;
	memcpy(rsp, sb->rsp, sizeof(sb->rsp));
	*ret_len = sizeof(sb->rsp);
	return 1;
}

static int
supbe_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct supbe *sb = be->priv;
	int r;

	switch (sb->st) {
	case SB_IDLE:
		return -EPROTO;
	case SB_SYNTH:
		return sb_take(sb, rsp, cap, ret_len);
	case SB_HELD:
		sb_drain(sb);
		if ((r = sb_dispatch(be)) < 0) {
			sb->st = SB_IDLE;
			return r;
		}
		if (sb->st == SB_SYNTH)
			return sb_take(sb, rsp, cap, ret_len);
		return 0;
	case SB_INNER:
		break;
	}
	r = sb->inner->ops->finish(sb->inner, rsp, cap, ret_len);
	if (r == 0) {
		if ((r = be_waiter_watch(&sb->w, sb->inner->fd, EPOLLIN)) < 0)
			sb->st = SB_IDLE;
		return r;
	}
	sb->st = SB_IDLE;
	if (r > 0 && *ret_len >= TPM_HDR_SIZE && get_be32(rsp + 6) == TPM2_RC_FAILURE) {
		/*
		 * The worker's TPM is in failure mode (a state write failed: a
		 * full disk), for good: swtpm would answer TPM_RC_FAILURE to
		 * every command, even once space is freed.  This answer is the
		 * TPM's; the worker is replaced by one started from the state on
		 * disk, as after a crash (the tenant's transient objects and
		 * sessions are gone; its next command gets SUP_RC_RESTARTED).
		 */
		sup_worker_lost(sb->si, "its TPM is in failure mode (TPM_RC_FAILURE: its state "
				"could not be written?)");
		return r;
	}
	if (r > 0 || r == -EOPNOTSUPP)
		return r;
	/* the link broke under the command: the worker is gone (or as good as) */
	log_errno(LOG_LVL_WARN, -r, "instance %s: worker %d", sb->si->name, (int)sb->si->pid);
	sup_worker_lost(sb->si, "the link broke");
	if ((r = sb_dispatch(be)) < 0)
		return r;
	return sb->st == SB_SYNTH ? sb_take(sb, rsp, cap, ret_len) : 0;
}

static int
supbe_cancel(struct backend *be)
{
	struct supbe *sb = be->priv;

	if (sb->st == SB_INNER && sb->inner->ops->cancel != NULL)
		return sb->inner->ops->cancel(sb->inner);
	return 0;
}

/* After a failure we reported: nothing to mend here, the next command decides. */
static int
supbe_reconnect(struct backend *be)
{
	struct supbe *sb = be->priv;

	sb->st = SB_IDLE;
	sb_drain(sb);
	return 0;
}

void
supbe_unlink(struct backend *be)
{
	struct supbe *sb = be->priv;

	if (sb->inner == NULL)
		return;
	/* only the link's socket: a held command waits on evfd, and goes on waiting */
	if (sb->w.fd == sb->inner->fd)
		be_waiter_clear(&sb->w);
	be_close(sb->inner);
	sb->inner = NULL;
	if (sb->st == SB_INNER) {
		/* a command was on it: finish() finds the link gone */
		sb->st = SB_HELD;
		sb_kick(sb);
		(void)be_waiter_watch(&sb->w, sb->evfd, EPOLLIN);
	}
}

/*
 * swtpm listens before it loads its state and answers only once it has:
 * a TPM2_Startup (TPM_RC_INITIALIZE: started already, --flags
 * startup-clear) tells a worker that serves from one about to exit (a
 * state it cannot decrypt).  Bounded like the link itself.
 */
int
supbe_link(struct backend *be)
{
	struct supbe *sb = be->priv;
	uint8_t cmd[TPMCMD_MAX], rsp[64];
	size_t clen = tpmcmd_startup(cmd, sizeof(cmd), TPM2_SU_CLEAR), rlen;
	uint32_t rc;
	int r;

	if (sb->st == SB_INNER)
		return -EBUSY; /* never: a command on a worker that is starting */
	if ((r = sb_link(sb)) < 0)
		return r;
	r = be_transact(sb->inner, cmd, clen, rsp, sizeof(rsp), &rlen, SB_CHECK_MS);
	if (r == 0 && (rc = wire_response_rc(rsp, rlen)) != TPM2_RC_SUCCESS &&
	    rc != TPM2_RC_INITIALIZE)
		r = -EIO;
	if (r < 0)
		supbe_unlink(be);
	return r;
}

void
supbe_forget(struct backend *be)
{
	struct supbe *sb = be->priv;

	sb->seen_gen = 0;
}

void
supbe_worker_event(struct backend *be)
{
	struct supbe *sb = be->priv;

	if (sb->st == SB_HELD)
		sb_kick(sb);
}

static void
supbe_close(struct backend *be)
{
	struct supbe *sb = be->priv;

	if (sb != NULL) {
		if (sb->inner != NULL)
			be_close(sb->inner);
		be_waiter_fini(&sb->w);
		if (sb->evfd >= 0)
			(void)close(sb->evfd);
		if (sb->si != NULL && sb->si->be == be)
			sb->si->be = NULL;
		free(sb);
	}
	be->priv = NULL;
	be->fd = -1;
}

static int
supbe_open(struct backend *be, const char *args)
{
	(void)be;
	(void)args;
	return -EINVAL; /* made by supbe_new(), never from a --backend spec */
}

static const struct backend_ops supbe_ops = {
	.name = "private",
	.help = "(made for private instances)",
	.open = supbe_open,
	.submit = supbe_submit,
	.finish = supbe_finish,
	.cancel = supbe_cancel,
	.reconnect = supbe_reconnect,
	.close = supbe_close,
};

int
supbe_new(struct sup_inst *si, struct backend **ret)
{
	struct backend *be = calloc(1, sizeof(*be));
	struct supbe *sb = calloc(1, sizeof(*sb));
	int r;

	if (be == NULL || sb == NULL) {
		free(be);
		free(sb);
		return -ENOMEM;
	}
	be->ops = &supbe_ops;
	be->priv = sb;
	be->fd = -1;
	sb->si = si;
	sb->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sb->evfd < 0 || (r = be_waiter_init(&sb->w)) < 0) {
		r = -errno;
		sb->w.ep = -1;
		be_close(be);
		return r;
	}
	be->fd = sb->w.ep;
	snprintf(be->desc, sizeof(be->desc), "private %s (swtpm worker)", si->name);
	*ret = be;
	return 0;
}
