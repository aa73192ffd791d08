/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sup_int.h: what supervise.c (workers), supbe.c (the backend in front of
 * a worker) and instsvc.c (the lifecycle service) share.
 *
 * worker    event                          next      action
 * STOPPED   a command (supbe), attach      STARTING  spawn swtpm (broker or VM mode)
 * STARTING  its sockets are there and it    RUNNING   supbe's link kept, sends what waits;
 *           answers a TPM2_Startup                   an import is answered
 * STARTING  exit, not up in 5 s, no link   STOPPED   the waiting command: SUP_RC_FAILED;
 *                                                    an import: SUP_RC_BADSTATE, deleted
 * RUNNING   idle --instance-idle, attach   STOPPING  SIGTERM; the RM forgets the TPM's
 *                                                    volatile state (sup_forget): the
 *                                                    next worker is no surprise
 * RUNNING   exit (not asked)               STOPPED   crashed: the tenant's next command
 *                                                    gets SUP_RC_RESTARTED, the worker
 *                                                    starts again from its state on disk
 * STOPPING  exit                           STOPPED   (a command waiting: start again)
 * VM        exit (QEMU left, detach)       STOPPED   the host may use it again
 */
#ifndef TB_SUP_INT_H
#define TB_SUP_INT_H

#include "caps.h"
#include "job.h"
#include "loop.h"
#include "server.h"
#include "supervise.h"
#include "swlog.h"
#include "tpmcmd.h"

enum sup_state { SUP_STOPPED, SUP_STARTING, SUP_RUNNING, SUP_STOPPING, SUP_VM };

struct sup_inst {
	struct sup *sup;                 /* not owned */
	char name[INSTANCE_NAME_MAX];
	char dir[256];                   /* its state and sockets, mode 0700 */
	uid_t owner;                     /* its tenant; (uid_t)-1: none */
	struct tpm_instance *ti;         /* in srv->inst[] (owned there); NULL: not served */
	struct backend *be;              /* ti->be: supbe's; not owned */
	enum sup_state state;
	bool vm_mode;                    /* the worker (STARTING/VM) is for QEMU */
	bool crashed;                    /* died unasked; the tenant is not told yet */
	bool start_failed;               /* the last start failed; the waiting command is told */
	pid_t pid;                       /* the worker; 0: none */
	struct loop_io pidfd;            /* readable when it exits */
	struct loop_io out;              /* its stdout and stderr (a pipe); fd -1: none */
	struct swlog swlog;              /* ...filtered into DIR/swtpm.log */
	struct loop_timer start_timer;   /* looks for its sockets while STARTING */
	uint64_t spawn_ns;
	uint64_t idle_since_ns;          /* no connection, nothing running since */
	unsigned gen;                    /* +1 per worker started */
	unsigned starts, crashes;
	uint64_t last_start_us;          /* spawn to sockets, the last start */
	struct svc_req *attach_req;      /* an attach waiting for the VM worker; owned */
	struct svc_req *import_req;      /* an import waiting for its worker to open the state; owned */
	/*
	 * An idle stop: TPM2_Shutdown(STATE) first, as the daemon's job, then
	 * the stop (a worker killed without it is a power loss to the TPM, and
	 * a power loss after a DA-protected authorization counts a failure).
	 */
	struct job shut_job;
	uint8_t shut_cmd[TPMCMD_MAX];
	uint8_t shut_rsp[64];
	struct loop_timer stop_timer;    /* the stop, after the job's round */
};

struct sup {
	struct server *srv;              /* not owned */
	struct sup_params p;
	char swtpm_path[256];            /* resolved at sup_new */
	uint8_t key[128];                /* the key file's bytes */
	size_t key_len;                  /* 0: no key */
	bool key_hex;
	bool have_caps;
	struct tpm_caps caps;            /* owned: learnt from the probe worker */
	struct sup_inst *inst[SRV_MAX_INSTANCES];
	size_t n;
	struct loop_timer tick;          /* idle stops, once a second */
};

/* supervise.c */
int sup_worker_start(struct sup_inst *si, bool vm_mode);
void sup_worker_stop(struct sup_inst *si);
/*
 * The link to a RUNNING worker broke, or its TPM is in failure mode (why
 * says which, for the log): kill it if it lives; it counts as a crash.
 */
void sup_worker_lost(struct sup_inst *si, const char *why);
/* "/dir/name/data.sock" etc. */
void sup_path(const struct sup_inst *si, const char *file, char *buf, size_t cap);
struct sup_inst *sup_find(struct sup *sup, const char *name);
int sup_create(struct sup *sup, const char *name, uid_t owner, struct sup_inst **ret);
int sup_delete(struct sup *sup, struct sup_inst *si);
bool sup_name_ok(const char *name);
unsigned sup_count_uid(const struct sup *sup, uid_t uid);
const char *sup_state_name(const struct sup_inst *si);
bool sup_inst_busy(const struct sup_inst *si);

/* supbe.c: the backend in front of a worker */
int supbe_new(struct sup_inst *si, struct backend **ret);
/* The worker's state changed (up, failed, gone): move a waiting command on. */
void supbe_worker_event(struct backend *be);
/*
 * The RM was told the worker is going (rm_tpm_reset): the next worker is
 * the TPM it expects, not a reset to report.
 */
void supbe_forget(struct backend *be);
/*
 * Link to the worker whose sockets are up and see that it serves (one
 * TPM2_Startup, which swtpm answers once it has loaded its state); at most
 * 5 s, typically well under 10 ms.  0 or -errno.
 */
int supbe_link(struct backend *be);
/* The worker went away: drop the link to it. */
void supbe_unlink(struct backend *be);

#endif
