/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_libtpms.c: the embedded TPM.  libtpms runs in-process, TPM 2.0 mode;
 * its NV state is persisted by our callbacks as one file per blob
 * ("permall") in the state directory, written atomically (temp file, fsync,
 * rename, fsync of the directory), so a crash never leaves a torn blob.  A
 * lock (flock on DIR/.lock) keeps a second daemon off the same state.
 *
 * libtpms computes in the calling thread and an RSA key generation takes
 * hundreds of ms, so commands run on a be_worker (be_worker.h): one worker
 * thread, completion on an eventfd the event loop watches (be->fd).
 * libtpms is a process-wide singleton: one libtpms backend per process.
 *
 * Cheap commands (lt_cheap(): GetRandom, PCRs, contexts, salt-less
 * sessions, policy assertions...; a few µs to tens of µs, no asymmetric
 * crypto, no state write in the ordinary case) run in the loop's own thread
 * instead (submit_now): the hand-over to the worker and back (a futex, an
 * eventfd, two wake-ups) costs more than the command.  Never while the
 * worker has a job (be_worker_claim() says so): libtpms' state is global.
 * Both paths run lt_run(), so a failed state write is handled alike.
 *
 * Volatile state (loaded objects, sessions) is not saved at close: a
 * daemon restart is a TPM power cycle, and the daemon sends
 * TPM2_Startup(CLEAR), as firmware does after a reboot.
 *
 * The job table is be_worker.h's, with TPMLIB_Process as the job; and:
 * RUNNING    cancel                       RUNNING   TPMLIB_CancelCommand
 * QUEUED,    power_cycle                  -         -EBUSY
 *  RUNNING
 * RUNNING    close                        -         wait for it (libtpms may be
 *                                                   writing its NV), however long
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "be_worker.h"
#include "tpmcmd.h"

struct libtpms {
	char dir[PATH_MAX - 64];
	int dir_fd;          /* the state directory: blobs are opened relative to it */
	int lock_fd;
	struct be_worker w;  /* its ev_fd is be->fd; the job fields follow the job's owner */
	bool broken;         /* MainInit failed at a power cycle: no TPM until reopened */
	uint8_t locality;    /* of the job; read by lt_io_locality in the job's thread */
	uint8_t cmd[TB_BUF_MAX];
	uint32_t cmd_len;
	unsigned char *rbuf; /* owned; libtpms reallocs it, we reuse it across commands */
	uint32_t rlen, rbufsize;
	TPM_RESULT result;
	bool store_failed;   /* the job's command could not write the state (disk full, I/O) */
	bool recovering;     /* libtpms is stopped after a failed write, until it starts again */
	bool warned;         /* a failed write is logged, once until a write succeeds */
	bool ran_now;        /* the last command ran in the loop's thread: finish() answers it */
	/*
	 * The TPM's state as it was before the running command (a worker
	 * job): what a failed state write brings it back to.  snap_ok: taken
	 * for this command.
	 */
	unsigned char *snap_perm, *snap_vol;
	uint32_t snap_perm_len, snap_vol_len;
	bool snap_ok;
	uint8_t nv_rsp[TPM_HDR_SIZE]; /* the answer meanwhile: TPM_RC_NV_UNAVAILABLE */
};

/* the callbacks have no context pointer: libtpms is a singleton anyway */
static struct libtpms *lt_self;

/*
 * A blob's name inside the state directory.  Blobs are opened relative to
 * dir_fd, opened at start: after a drop from root the daemon may no longer
 * be able to walk the directory's parents (a 0700 /tmp/x/state), only the
 * directory itself, which lt_chown made its own.
 */
static int
lt_name(char *buf, size_t cap, const char *name, const char *suffix)
{
	int n = snprintf(buf, cap, "%s%s", name, suffix);

	return n < 0 || (size_t)n >= cap || strchr(buf, '/') != NULL ? -ENAMETOOLONG : 0;
}

/* a full path, for lt_lock and the logs */
static int
lt_path(char *buf, size_t cap, const char *name, const char *suffix)
{
	int n = snprintf(buf, cap, "%s/%s%s", lt_self->dir, name, suffix);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static TPM_RESULT
lt_nvram_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT
lt_nvram_load(unsigned char **data, uint32_t *length, uint32_t tpm_number, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	unsigned char *buf;
	int fd, r;

	(void)tpm_number;
	if (lt_name(path, sizeof(path), name, "") < 0)
		return TPM_FAIL;
	fd = openat(lt_self->dir_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? TPM_RETRY : TPM_FAIL; /* TPM_RETRY: no such blob yet */
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > (1 << 24)) {
		(void)close(fd);
		return TPM_FAIL;
	}
	buf = malloc((size_t)st.st_size);
	if (buf == NULL) {
		(void)close(fd);
		return TPM_FAIL;
	}
	r = read_all(fd, buf, (size_t)st.st_size);
	(void)close(fd);
	if (r < 0) {
		log_errno(LOG_LVL_WARN, -r, "libtpms: reading %s/%s", lt_self->dir, path);
		free(buf);
		return TPM_FAIL;
	}
	*data = buf; /* libtpms frees it */
	*length = (uint32_t)st.st_size;
	return TPM_SUCCESS;
}

static TPM_RESULT
lt_nvram_store(const unsigned char *data, uint32_t length, uint32_t tpm_number, const char *name)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, r;

	(void)tpm_number;
	if (lt_name(path, sizeof(path), name, "") < 0 || lt_name(tmp, sizeof(tmp), name, ".tmp") < 0)
		return TPM_FAIL;
	fd = openat(lt_self->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		log_errno(LOG_LVL_WARN, errno, "libtpms: creating %s/%s", lt_self->dir, tmp);
		return TPM_FAIL;
	}
	r = write_all(fd, data, length);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(lt_self->dir_fd, tmp, lt_self->dir_fd, path) < 0)
		r = -errno;
	if (r < 0) {
		if (!lt_self->warned) /* once until it can be written again */
			log_errno(LOG_LVL_WARN, -r, "libtpms: writing %s/%s", lt_self->dir, path);
		(void)unlinkat(lt_self->dir_fd, tmp, 0);
		lt_self->store_failed = true;
		return TPM_FAIL;
	}
	/* make the rename itself durable */
	(void)fsync(lt_self->dir_fd);
	if (lt_self->warned) {
		lt_self->warned = false;
		log_warnx("libtpms: the TPM's state can be written again in %s", lt_self->dir);
	}
	return TPM_SUCCESS;
}

static TPM_RESULT
lt_nvram_delete(uint32_t tpm_number, const char *name, TPM_BOOL must_exist)
{
	char path[PATH_MAX];

	(void)tpm_number;
	if (lt_name(path, sizeof(path), name, "") < 0)
		return TPM_FAIL;
	if (unlinkat(lt_self->dir_fd, path, 0) < 0 && (errno != ENOENT || must_exist))
		return TPM_FAIL;
	return TPM_SUCCESS;
}

static TPM_RESULT
lt_io_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT
lt_io_locality(TPM_MODIFIER_INDICATOR *locality, uint32_t tpm_number)
{
	(void)tpm_number;
	*locality = lt_self->locality; /* read in the job's thread, after its hand-off */
	return TPM_SUCCESS;
}

static TPM_RESULT
lt_io_pp(TPM_BOOL *pp, uint32_t tpm_number)
{
	(void)tpm_number;
	*pp = FALSE;
	return TPM_SUCCESS;
}

/*
 * Before a command on the worker (one that may write the state: NV,
 * hierarchy, DA counters on a failed authorization), the TPM's permanent and
 * volatile state is taken in memory (TPMLIB_GetState,
 * TPMLIB_VolatileAll_Store: 10-20 µs with 3 objects loaded, against
 * hundreds of µs to seconds for such commands).  Cheap commands (in the
 * loop's thread) take none: they write no state in the ordinary case.
 */
static void
lt_snapshot(struct libtpms *lt)
{
	free(lt->snap_perm);
	free(lt->snap_vol);
	lt->snap_perm = lt->snap_vol = NULL;
	lt->snap_ok = TPMLIB_GetState(TPMLIB_STATE_PERMANENT, &lt->snap_perm,
				      &lt->snap_perm_len) == TPM_SUCCESS &&
		      TPMLIB_VolatileAll_Store(&lt->snap_vol, &lt->snap_vol_len) == TPM_SUCCESS;
}

/* libtpms again, exactly as it was before the command: 0, or -EIO */
static int
lt_restore(struct libtpms *lt)
{
	if (!lt->snap_ok)
		return -EIO;
	lt->snap_ok = false;
	if (TPMLIB_SetState(TPMLIB_STATE_PERMANENT, lt->snap_perm, lt->snap_perm_len) !=
		    TPM_SUCCESS ||
	    TPMLIB_SetState(TPMLIB_STATE_VOLATILE, lt->snap_vol, lt->snap_vol_len) != TPM_SUCCESS)
		return -EIO;
	if (TPMLIB_MainInit() != TPM_SUCCESS) {
		TPMLIB_Terminate();
		return -EIO;
	}
	return 0;
}

/*
 * The command could not write the TPM's state (disk full, an I/O error):
 * libtpms is in failure mode now and would answer TPM_RC_FAILURE to every
 * command until the daemon restarted.  The command is answered
 * TPM_RC_NV_UNAVAILABLE (the RM retries it with backoff, then passes it
 * on); libtpms is started again as it was before the command, from the
 * snapshot: loaded objects, sessions, PCRs and every client's saved
 * contexts are as they were, and other clients go on as if nothing
 * happened (the state on disk is still the one before the command: stores
 * are atomic).
 *
 * Without a snapshot (a cheap command that wrote the state: a clock
 * update, rare), or if it does not load, libtpms starts again from its last
 * good state on disk, as soon as the state can be written again: until then
 * every command is answered TPM_RC_NV_UNAVAILABLE.  The volatile state is
 * lost then (a TPM restart; taken out of a TPM in failure mode it does not
 * load again): the new instance answers TPM_RC_INITIALIZE, so the scheduler
 * starts it and the RM forgets every transient handle, as after any reset.
 */
static void
lt_recover(struct libtpms *lt)
{
	wire_hdr_put(lt->nv_rsp, TPM2_ST_NO_SESSIONS, TPM_HDR_SIZE, TPM2_RC_NV_UNAVAILABLE);
	if (!lt->recovering) {
		TPMLIB_Terminate();
		if (lt_restore(lt) == 0)
			return;
		lt->recovering = true;
	}
	/* starting writes the state too: it fails until space is freed */
	if (TPMLIB_MainInit() != TPM_SUCCESS) {
		TPMLIB_Terminate();
		return;
	}
	lt->recovering = false;
}

/* libtpms' debug output goes to /dev/null (kept open for the process's life). */
static void
lt_quiet(void)
{
	static int null_fd = -1;

	if (null_fd < 0)
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd >= 0)
		TPMLIB_SetDebugFD(null_fd);
	TPMLIB_SetDebugLevel(0);
}

static bool lt_cheap(const uint8_t *cmd, size_t len);

/*
 * The job, on the worker (or in the loop's thread: lt_submit_now): while it
 * runs only that thread touches cmd, rbuf, rlen, result.
 */
static void
lt_run(void *arg)
{
	struct libtpms *lt = arg;

	lt->store_failed = false;
	if (lt->recovering) {
		lt_recover(lt); /* space may have been freed */
		if (lt->recovering) {
			lt->store_failed = true; /* answered TPM_RC_NV_UNAVAILABLE again */
			return;
		}
	}
	if (!lt_cheap(lt->cmd, lt->cmd_len))
		lt_snapshot(lt);
	else
		lt->snap_ok = false;
	lt->result = TPMLIB_Process(&lt->rbuf, &lt->rlen, &lt->rbufsize, lt->cmd, lt->cmd_len);
	if (lt->store_failed)
		lt_recover(lt);
}

static int
lt_default_dir(char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	const char *sd_state = getenv("STATE_DIRECTORY");
	int n;

	if (sd_state != NULL && sd_state[0] == '/' && strchr(sd_state, ':') == NULL)
		/* systemd's StateDirectory=tpmbroker: /var/lib/tpmbroker */
		n = snprintf(buf, cap, "%s/libtpms", sd_state);
	else if (geteuid() == 0)
		n = snprintf(buf, cap, "/var/lib/tpmbroker/libtpms");
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, cap, "%s/tpmbroker/libtpms", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, cap, "%s/.local/state/tpmbroker/libtpms", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The state directory from args: state=DIR, a bare /DIR, or the default. */
static int
lt_state_dir(const char *args, char *buf, size_t cap)
{
	static const char *const keys[] = {"state", NULL};
	int r;

	if (args[0] == '/') { /* "libtpms:/some/dir" */
		r = strlen(args) < cap ? 1 : -ENAMETOOLONG;
		if (r > 0)
			strcpy(buf, args);
	} else {
		if ((r = be_args_check("libtpms", args, keys)) < 0)
			return r;
		if ((r = be_arg_get(args, "state", buf, cap)) == 0)
			r = lt_default_dir(buf, cap);
	}
	if (r == -ENOENT) {
		log_msg(LOG_LVL_ERR, "libtpms: no state directory: give state=DIR "
			"(neither XDG_STATE_HOME nor HOME is set)");
		return -EINVAL;
	}
	if (r < 0) {
		log_msg(LOG_LVL_ERR, "libtpms: state directory path too long");
		return -EINVAL;
	}
	if (buf[0] != '/') {
		/* the daemon may chdir("/"): a relative path would move */
		log_msg(LOG_LVL_ERR, "libtpms: state directory '%s' is not absolute", buf);
		return -EINVAL;
	}
	return 0;
}

/* Create the state directory and lock it for this process. */
static int
lt_lock(struct libtpms *lt)
{
	char lockpath[PATH_MAX];
	int r;

	if ((r = mkdir_p(lt->dir, 0700)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "libtpms: state directory %s", lt->dir);
		return r;
	}
	lt->dir_fd = open(lt->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lt->dir_fd < 0) {
		r = -errno;
		log_errno(LOG_LVL_ERR, -r, "libtpms: state directory %s", lt->dir);
		return r;
	}
	if ((r = lt_path(lockpath, sizeof(lockpath), ".lock", "")) < 0)
		return r;
	lt->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lt->lock_fd < 0) {
		r = -errno;
		log_errno(LOG_LVL_ERR, -r, "libtpms: %s", lockpath);
		return r;
	}
	if (flock(lt->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r == -EWOULDBLOCK)
			log_msg(LOG_LVL_ERR, "libtpms: state directory %s is in use by another "
				"process (%s is locked)", lt->dir, lockpath);
		else
			log_errno(LOG_LVL_ERR, -r, "libtpms: locking %s", lockpath);
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	return 0;
}

static int
lt_open(struct backend *be, const char *args)
{
	static struct libtpms_callbacks cbs = {
		.sizeOfStruct = sizeof(struct libtpms_callbacks),
		.tpm_nvram_init = lt_nvram_init,
		.tpm_nvram_loaddata = lt_nvram_load,
		.tpm_nvram_storedata = lt_nvram_store,
		.tpm_nvram_deletename = lt_nvram_delete,
		.tpm_io_init = lt_io_init,
		.tpm_io_getlocality = lt_io_locality,
		.tpm_io_getphysicalpresence = lt_io_pp,
	};
	struct libtpms *lt;
	int r;

	if (lt_self != NULL) {
		log_msg(LOG_LVL_ERR, "libtpms: the embedded TPM is already open in this process "
			"(%s); libtpms is a process-wide singleton", lt_self->dir);
		return -EBUSY;
	}
	if ((lt = calloc(1, sizeof(*lt))) == NULL)
		return -ENOMEM;
	if ((r = lt_state_dir(args, lt->dir, sizeof(lt->dir))) < 0) {
		free(lt);
		return r;
	}
	lt->lock_fd = -1;
	lt->dir_fd = -1;
	be->priv = lt;
	lt_self = lt; /* the callbacks find the directory here */

	if ((r = lt_lock(lt)) < 0)
		goto fail;
	/*
	 * libtpms' own debug output prints commands' bytes (NV data, keys'
	 * sensitive parts) on failures: it never reaches the logs; the broker
	 * logs what happened in its own words.
	 */
	lt_quiet();
	if (TPMLIB_ChooseTPMVersion(TPMLIB_TPM_VERSION_2) != TPM_SUCCESS ||
	    TPMLIB_RegisterCallbacks(&cbs) != TPM_SUCCESS) {
		log_msg(LOG_LVL_ERR, "libtpms: cannot select TPM 2.0 or register callbacks");
		r = -EIO;
		goto fail;
	}
	if (TPMLIB_MainInit() != TPM_SUCCESS) {
		log_msg(LOG_LVL_ERR, "libtpms: TPMLIB_MainInit failed (state in %s damaged?)",
			lt->dir);
		TPMLIB_Terminate(); /* frees what the failed init allocated */
		r = -EIO;
		goto fail;
	}
	if ((r = be_worker_start(&lt->w, "libtpms", lt_run, NULL, lt)) < 0) {
		TPMLIB_Terminate();
		goto fail;
	}
	be->fd = lt->w.ev_fd;
	be->needs_startup = true;
	snprintf(be->desc, sizeof(be->desc), "libtpms %.170s", lt->dir);
	return 0;
fail:
	if (lt->lock_fd >= 0)
		(void)close(lt->lock_fd);
	if (lt->dir_fd >= 0)
		(void)close(lt->dir_fd);
	free(lt);
	be->priv = NULL;
	lt_self = NULL;
	return r;
}

static int
lt_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct libtpms *lt = be->priv;
	int r;

	if (len > sizeof(lt->cmd))
		return -EMSGSIZE;
	if (lt->broken)
		return -EIO;
	if ((r = be_worker_claim(&lt->w)) < 0)
		return r;
	lt->ran_now = false; /* an answer nobody took is dropped, as the worker's */
	memcpy(lt->cmd, cmd, len);
	lt->cmd_len = (uint32_t)len;
	lt->locality = locality;
	be_worker_queue(&lt->w);
	return 0;
}

/*
 * Commands cheap enough for the loop's thread: no key generation, no
 * asymmetric crypto, no NV write in the ordinary case (a DA failure count
 * or a clock update may still write the state: rare, and timed by the
 * scheduler as any other).  Not: Load (an RSA key computes its private
 * exponent), Sign, NV_* (a DA-protected index's failed auth writes NV),
 * Startup/Shutdown (write the state), StartAuthSession with a salt key
 * (an RSA/ECC decryption).
 */
static bool
lt_cheap(const uint8_t *cmd, size_t len)
{
	switch (get_be32(cmd + 6)) {
	case TPM2_CC_GetRandom:
	case TPM2_CC_StirRandom:
	case TPM2_CC_GetCapability:
	case TPM2_CC_GetTestResult:
	case TPM2_CC_TestParms:
	case TPM2_CC_ReadClock:
	case TPM2_CC_PCR_Extend:
	case TPM2_CC_PCR_Event:
	case TPM2_CC_PCR_Read:
	case TPM2_CC_ReadPublic:
	case TPM2_CC_ContextSave:
	case TPM2_CC_ContextLoad:
	case TPM2_CC_FlushContext:
	case TPM2_CC_Hash:
	case TPM2_CC_HashSequenceStart:
	case TPM2_CC_SequenceUpdate:
	case TPM2_CC_PolicyRestart:
	case TPM2_CC_PolicyGetDigest:
	case TPM2_CC_PolicyPCR:
	case TPM2_CC_PolicyCommandCode:
	case TPM2_CC_PolicyAuthValue:
	case TPM2_CC_PolicyPassword:
	case TPM2_CC_PolicyLocality:
	case TPM2_CC_PolicyOR:
	case TPM2_CC_PolicyCpHash:
	case TPM2_CC_PolicyNameHash:
		return true;
	case TPM2_CC_StartAuthSession:
		/* tpmKey, the first handle: TPM_RH_NULL means no salt to decrypt */
		return len >= TPM_HDR_SIZE + 8 && get_be32(cmd + TPM_HDR_SIZE) == TPM2_RH_NULL;
	default:
		return false;
	}
}

/* The answer of the command that ran (on the worker or in the loop's thread). */
static int
lt_answer(struct libtpms *lt, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	if (lt->store_failed) {
		if (!lt->warned && !lt->recovering)
			log_warnx("libtpms: the TPM's state could not be written in %s (disk full?): "
				  "commands that write it are answered TPM_RC_NV_UNAVAILABLE (0x923) "
				  "and undone until it can be; the others are served", lt->dir);
		else if (!lt->warned)
			log_warnx("libtpms: the TPM's state could not be written in %s (disk full?): "
				  "answered TPM_RC_NV_UNAVAILABLE (0x923) until it can be; then the "
				  "TPM restarts from its last good state (clients' transient objects "
				  "and sessions are gone, as after a reset)", lt->dir);
		lt->warned = true;
		memcpy(rsp, lt->nv_rsp, MIN(cap, sizeof(lt->nv_rsp)));
		*ret_len = sizeof(lt->nv_rsp);
		return 1;
	}
	if (lt->result != TPM_SUCCESS || lt->rlen < TPM_HDR_SIZE) {
		log_warnx("libtpms: TPMLIB_Process failed: 0x%x", lt->result);
		return -EIO;
	}
	if (lt->rlen > cap)
		return -EMSGSIZE;
	memcpy(rsp, lt->rbuf, lt->rlen);
	*ret_len = lt->rlen;
	return 1;
}

static int
lt_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct libtpms *lt = be->priv;
	int r;

	if (lt->ran_now) {
		lt->ran_now = false;
		return lt_answer(lt, rsp, cap, ret_len);
	}
	if ((r = be_worker_collect(&lt->w)) <= 0)
		return r;
	return lt_answer(lt, rsp, cap, ret_len);
}

/* A cheap command, in the loop's thread: 1 ran (finish() has the answer), 0 submit() it. */
static int
lt_submit_now(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct libtpms *lt = be->priv;

	if (len > sizeof(lt->cmd))
		return -EMSGSIZE;
	if (lt->broken || len < TPM_HDR_SIZE || !lt_cheap(cmd, len))
		return 0;
	/* the worker is idle (and stays so: only this thread queues): libtpms is ours */
	if (be_worker_claim(&lt->w) < 0)
		return 0;
	memcpy(lt->cmd, cmd, len);
	lt->cmd_len = (uint32_t)len;
	lt->locality = locality;
	lt_run(lt);
	lt->ran_now = true;
	return 1;
}

static int
lt_cancel(struct backend *be)
{
	struct libtpms *lt = be->priv;

	/*
	 * libtpms clears the flag when a command starts: only a running one
	 * can see it, and one that ends meanwhile leaves none behind
	 */
	if (be_worker_running(&lt->w) && TPMLIB_CancelCommand() != TPM_SUCCESS)
		return -EIO;
	return 0;
}

static int
lt_power_cycle(struct backend *be)
{
	struct libtpms *lt = be->priv;
	int r;

	/* the worker is idle and stays so: only this thread queues jobs */
	if ((r = be_worker_claim(&lt->w)) < 0)
		return r;
	lt->ran_now = false;
	if (!lt->recovering)
		TPMLIB_Terminate();
	lt->recovering = false;
	lt->broken = TPMLIB_MainInit() != TPM_SUCCESS;
	be->needs_startup = true;
	if (lt->broken) {
		log_msg(LOG_LVL_ERR, "libtpms: TPMLIB_MainInit failed at power cycle "
			"(state in %s damaged?)", lt->dir);
		return -EIO;
	}
	return 0;
}

/*
 * An orderly end: TPM2_Shutdown(STATE), as an operating system sends it
 * before a power-off.  Without it the next start is a power loss to the
 * TPM, which counts a dictionary-attack failure if a DA-protected
 * authorization was used since: keys without noda lock out (0x921) after a
 * few daemon restarts.  The worker is stopped: this thread has libtpms.
 */
static void
lt_shutdown(struct libtpms *lt)
{
	uint8_t cmd[TPMCMD_MAX];
	size_t n = tpmcmd_shutdown(cmd, sizeof(cmd), TPM2_SU_STATE);
	TPM_RESULT res = TPMLIB_Process(&lt->rbuf, &lt->rlen, &lt->rbufsize, cmd, (uint32_t)n);
	uint32_t rc = res == TPM_SUCCESS && lt->rlen >= TPM_HDR_SIZE ? get_be32(lt->rbuf + 6) : 0;

	/* not started (INITIALIZE): nothing to shut down */
	if (res != TPM_SUCCESS || lt->rlen < TPM_HDR_SIZE ||
	    (rc != TPM2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE))
		log_warnx("libtpms: TPM2_Shutdown at exit failed (0x%x, rc 0x%08x): the next start "
			  "is a power loss to the TPM", res, rc);
}

static void
lt_close(struct backend *be)
{
	struct libtpms *lt = be->priv;

	if (lt == NULL)
		return;
	/* a running command may be writing libtpms' NV: let it end */
	(void)be_worker_stop(&lt->w, -1);
	if (!lt->recovering && !lt->broken)
		lt_shutdown(lt);
	if (!lt->recovering)
		TPMLIB_Terminate();
	free(lt->rbuf);
	free(lt->snap_perm);
	free(lt->snap_vol);
	be->fd = -1;
	(void)close(lt->lock_fd);
	(void)close(lt->dir_fd);
	free(lt);
	be->priv = NULL;
	lt_self = NULL;
}

/*
 * Before a drop from root: the state directory and its files (NVChip
 * blobs, the lock) become uid's, or the first NV write after the drop
 * would fail.  Symlinks are not followed; subdirectories are not ours.
 */
static int
lt_chown(struct backend *be, uid_t uid, gid_t gid)
{
	struct libtpms *lt = be->priv;
	DIR *d;
	struct dirent *e;
	int dfd, r = 0;

	dfd = fcntl(lt->dir_fd, F_DUPFD_CLOEXEC, 0); /* closedir() closes it */
	if (dfd < 0)
		return -errno;
	if (fchown(dfd, uid, gid) < 0) {
		r = -errno;
		(void)close(dfd);
		return r;
	}
	if ((d = fdopendir(dfd)) == NULL) {
		r = -errno;
		(void)close(dfd);
		return r;
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (e->d_type != DT_REG)
			continue;
		if (fchownat(dfd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	}
	(void)closedir(d);
	return r;
}

const struct backend_ops be_libtpms_ops = {
	.name = "libtpms",
	.help = "libtpms[:state=DIR]",
	.open = lt_open,
	.submit = lt_submit,
	.submit_now = lt_submit_now,
	.finish = lt_finish,
	.cancel = lt_cancel,
	.reconnect = NULL, /* nothing to reconnect; a command always finishes */
	.power_cycle = lt_power_cycle,
	.close = lt_close,
	.chown = lt_chown,
};
