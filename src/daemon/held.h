/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * held.h: the record of what the broker holds in the TPM (transient
 * objects and sessions: rm_held_handles()), kept in a small file in the
 * runtime directory so that the next start flushes only those
 * (--sweep=own) and never a handle of the TPM's other users.  The runtime
 * directory is a tmpfs: a reboot loses the record exactly when the TPM
 * loses its transient state.
 */
#ifndef TB_HELD_H
#define TB_HELD_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct rm;
struct held;

/* At most this many handles in a record (a TPM has a few object slots and ~64 sessions). */
#define HELD_MAX 1024u
/* A change is written at most this long after the job that made it (held.c). */
#define HELD_WRITE_MS 100u

/*
 * The default record for an instance: /run/tpmbroker/held-NAME for the
 * daemon on the default root socket, else beside the socket
 * (SOCKET.held-NAME); "" (no record) without a socket.
 */
int held_default_path(const char *socket, const char *name, char *buf, size_t cap);

/*
 * Read a record written for backend spec into out[0 .. *ret_n) (at most
 * cap).  -ENOENT: none; -ESTALE: written for another backend (its handles
 * name another TPM's slots); -EBADMSG: not a record.
 */
int held_read(const char *path, const char *backend, uint32_t *out, size_t cap, size_t *ret_n);

/*
 * Start recording rm's handles in path for backend: writes the record
 * (empty at start) at once; -errno if it cannot be written.
 */
int held_new(struct loop *loop, const char *path, const char *backend, const struct rm *rm,
	     struct held **ret);
/* rm_params.held_changed: something may have changed; written within HELD_WRITE_MS. */
void held_changed(void *ctx);
/* Write the record now, if it changed (clean exit). */
int held_sync(struct held *hd);
/* Write what is still held, and stop recording. */
void held_free(struct held *hd);

#endif
