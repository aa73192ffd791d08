/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * backend.h: the TPM the daemon owns.  One const ops table per backend file
 * (be_libtpms.c, be_swtpm.c, be_mssim.c, be_device.c).
 *
 * The interface is asynchronous so the event loop never blocks on the TPM:
 * submit() hands one command over and returns at once; be->fd becomes
 * readable when (part of) the response is there; finish() collects it.
 * Socket backends use their own fd; libtpms and the device run the command
 * on a worker thread and signal an eventfd; libtpms runs cheap commands in
 * the caller's thread instead (submit_now()).  Exactly one command is in
 * flight.
 *
 * The loop never waits on a backend: submit(), finish() and cancel() make
 * non-blocking system calls only (no poll(), no deadline, no wait on the
 * TPM).  A command that needs more than one exchange (swtpm: SET_LOCALITY
 * on the control channel, then the command on the data port) is a state
 * machine that finish() advances.  Hence:
 *
 *   be->fd may change across submit() and finish() calls: the scheduler
 *   re-registers be->fd (EPOLLIN, level-triggered) after every submit()
 *   and after every finish() that returns 0.  cancel() never changes it.
 *   After a finish() that returns 1 or -errno, be->fd is the idle link's
 *   fd again; re-registering it before the next submit() (as
 *   sched_watch_backend() does) is enough.  reconnect() changes it too.
 *   A backend hands out as be->fd only fds that stay open until
 *   reconnect() or close() (swtpm: its data socket or a private epoll fd,
 *   never a short-lived control socket), so a registration one step
 *   behind is harmless: never a closed fd whose number was reused.
 *
 *   finish() may return -EOPNOTSUPP: the command never reached the TPM
 *   (swtpm refused the locality) and the link is fine; treat it as
 *   submit()'s -EOPNOTSUPP (an RM-layer TPM_RC_LOCALITY for the client),
 *   not as a broken link to reconnect.
 *
 * open(), reconnect(), power_cycle() and close() may block, with bounds
 * each backend file states (connect and control deadlines of 5 s): they run
 * at start-up and shutdown, or on the failure path after a broken link.
 *
 * All functions return >= 0 or -errno.
 */
#ifndef TB_BACKEND_H
#define TB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct backend;

struct backend_ops {
	const char *name; /* "libtpms", "swtpm", "mssim", "device" */
	const char *help; /* one line: "libtpms[:state=DIR]" */
	/*
	 * Parse args (the spec after "name:", "" if none), open/connect and
	 * power the TPM on where that is the backend's job.  Sets be->fd,
	 * be->desc, and be->needs_startup if the TPM must get TPM2_Startup.
	 */
	int (*open)(struct backend *be, const char *args);
	/*
	 * Start one command; cmd is copied or written out before returning.
	 * Errors here mean nothing was sent (-EOPNOTSUPP: locality), or the
	 * link is broken (the caller may reconnect()).  May change be->fd.
	 */
	int (*submit)(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality);
	/*
	 * Optional (NULL: never): run a cheap command to its end now, in the
	 * caller's thread, instead of submit().  1: done, finish() returns its
	 * answer at once, without be->fd; 0: not cheap, or the TPM is busy:
	 * submit() it; -errno as submit().  The backend decides what is cheap
	 * (tens of µs: no key generation, no asymmetric crypto, no state
	 * write in the ordinary case); the caller decides whether its loop can
	 * spare the time now.  Never called while a command is in flight.
	 */
	int (*submit_now)(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality);
	/*
	 * Called when be->fd is readable.  1: the whole response is in rsp,
	 * *ret_len set.  0: not complete yet, wait for be->fd again.
	 * -errno: the command is lost (connection broken, response larger
	 * than cap, ...); the caller may reconnect().  -EOPNOTSUPP: see above.
	 * Returning 0 it may have changed be->fd.
	 */
	int (*finish)(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len);
	/*
	 * Ask the TPM to cancel the command in flight, without waiting for
	 * anything; the command still ends through finish().  NULL: unsupported.
	 */
	int (*cancel)(struct backend *be);
	/*
	 * Re-establish the link after an error (simulator restarted).  May
	 * change be->fd and set be->needs_startup.  NULL: cannot.
	 */
	int (*reconnect)(struct backend *be);
	/* Power-cycle the TPM (tests; TPM reset handling).  NULL: unsupported. */
	int (*power_cycle)(struct backend *be);
	void (*close)(struct backend *be);
	/*
	 * The daemon is about to drop from root to uid/gid: hand over the
	 * files the backend will write later (libtpms: its state directory).
	 * NULL: nothing to hand over (an fd opened as root stays usable).
	 */
	int (*chown)(struct backend *be, uid_t uid, gid_t gid);
};

struct backend {
	const struct backend_ops *ops;
	void *priv;         /* owned by the backend file */
	int fd;             /* readable when finish() has work; may change (above) */
	bool needs_startup; /* the TPM was (re)powered: send TPM2_Startup(CLEAR) */
	char desc[192];     /* "swtpm 127.0.0.1:2321", for logs and status */
};

extern const struct backend_ops be_libtpms_ops;
extern const struct backend_ops be_swtpm_ops;
extern const struct backend_ops be_mssim_ops;
extern const struct backend_ops be_device_ops;

/*
 * Open a backend from a spec "name[:args]": libtpms[:state=DIR],
 * swtpm:host=H,port=P, mssim:host=H,port=P, device[:PATH].
 * -EINVAL for an unknown name or bad args (logged with the reason).
 */
int be_open(const char *spec, struct backend **ret);
void be_close(struct backend *be);

/*
 * Synchronous round trip (start-up, tests, tools): submit, poll be->fd
 * (read again before every poll), finish; -ETIMEDOUT after timeout_ms.
 */
int be_transact(struct backend *be, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap,
		size_t *ret_len, int timeout_ms);

/*
 * Send TPM2_Startup(TPM_SU_CLEAR) synchronously.  TPM_RC_SUCCESS and
 * TPM_RC_INITIALIZE (already started) are success.  Clears needs_startup.
 */
int be_startup(struct backend *be);

/*
 * Parse "key=value,key=value" args: find key, copy its value into buf.
 * 1 found, 0 absent, -ENAMETOOLONG value too long.
 */
int be_arg_get(const char *args, const char *key, char *buf, size_t cap);
/* Reject keys not in the NULL-terminated list: 0 or -EINVAL (logged). */
int be_args_check(const char *backend, const char *args, const char *const *keys);

#endif
