/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * supervise.h: private TPM instances (issue 12).  Each is a named software
 * TPM in its own swtpm worker process, with its state in a directory of
 * its own under --instance-dir; the daemon serves it as one more row of
 * srv->inst[] (a scheduler, a resource manager and a backend that hides
 * the worker's life: supbe.c).  Workers are started on demand (the first
 * command of the instance's tenant), stopped when idle (--instance-idle),
 * restarted after a crash (the tenant is told once, then the worker comes
 * back from its state on disk), and handed to a VM for QEMU (attach).
 *
 * A profile's "instance = private" binds each of its peers to the instance
 * of its uid, "uid-N", made on first use; "instance = NAME" to an instance
 * made with tpmbroker instance create.  A peer of such a profile never
 * falls back to the shared TPM.
 *
 * TPM-format answers (resource-manager layer):
 *   SUP_RC_RESTARTED 0x000B0922 TPM_RC_RETRY   the worker died; it is being
 *                    restarted from its state on disk: send again
 *   SUP_RC_LIMIT     0x000B0904 TPM_RC_MEMORY  over --max-instances-per-user
 *                    or --max-instances
 *   SUP_RC_VM        0x000B012D TPM_RC_UPGRADE the instance is attached to a
 *                    VM: no host client may use it until it is detached
 *   SUP_RC_FAILED    0x000B0101 TPM_RC_FAILURE the worker did not start
 *   SUP_RC_BADSTATE  0x000B009F TPM_RC_INTEGRITY import: the state does not
 *                    open with this daemon's --instance-key (swtpm could not
 *                    decrypt it or check its HMAC); nothing is imported
 */
#ifndef TB_SUPERVISE_H
#define TB_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "instance.h"

struct peer_id;
struct server;
struct sup;
struct svc_req;

#define SUP_RC_RESTARTED 0x000B0922u
#define SUP_RC_LIMIT 0x000B0904u
#define SUP_RC_VM 0x000B012Du
#define SUP_RC_FAILED 0x000B0101u
#define SUP_RC_BADSTATE 0x000B009Fu

struct sup_params {
	char dir[200];         /* --instance-dir: one directory per instance below it */
	char swtpm[256];       /* --swtpm: the worker's program */
	char key_file[256];    /* --instance-key: AES-256 key of the state at rest; "" none */
	unsigned idle_s;       /* --instance-idle: stop a worker idle this long; 0 never */
	unsigned max_per_uid;  /* --max-instances-per-user */
	unsigned max_total;    /* --max-instances */
	struct instance_params ip; /* RM and scheduler limits of every private instance */
};

/*
 * Before the privilege drop: read the key, make the directory (handed to
 * uid/gid, the user the daemon will run as; (uid_t)-1 keeps it).
 */
int sup_new(struct server *srv, const struct sup_params *p, uid_t uid, gid_t gid,
	    struct sup **ret);
/*
 * After the drop, before the loop: learn the TPM's properties from one
 * worker (started and stopped again, ~20 ms), then serve the instances
 * found in the directory (their workers start on demand).
 */
int sup_load(struct sup *sup);
/* At exit, after every instance is freed: stop the workers (SIGTERM, then SIGKILL). */
void sup_free(struct sup *sup);
/* SIGHUP: the RM and scheduler limits of instances made from now on. */
void sup_set_params(struct sup *sup, const struct instance_params *ip);

/*
 * The instance a connection of a profile naming instance (not "shared")
 * is bound to: 0 and *ret, or the TPM-format code to refuse it with.
 */
uint32_t sup_route(struct server *srv, const char *instance, const struct peer_id *peer,
		   struct tpm_instance **ret);
/* Whether a connection bound to ti may keep it under a profile naming instance. */
bool sup_fits(const struct tpm_instance *ti, const char *instance, uid_t uid);

/* One line on a supervised instance's worker for status ("" for others). */
void sup_describe(const struct tpm_instance *ti, char *buf, size_t cap);

/* The TB_MSG_INSTANCE service (instsvc.c). */
void sup_service(struct server *srv, struct svc_req *r);

#endif
