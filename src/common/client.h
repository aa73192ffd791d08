/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * client.h: the client side of proto.h, shared by the tpmbroker CLI and the
 * TCTI plugin: connect, one request frame, one reply frame.  No printing:
 * errors are -errno (-EBADMSG: the peer does not speak our protocol).
 */
#ifndef TB_CLIENT_H
#define TB_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/*
 * Connect to the daemon's socket at path; with timeout_s > 0, a read that
 * waits longer fails with -EAGAIN instead of hanging.  Returns the fd or
 * -errno (-ENAMETOOLONG: path too long for a Unix socket).
 */
int tb_client_connect(const char *path, unsigned timeout_s);

/*
 * Send one frame (h->len payload bytes), read the reply frame into a
 * malloc'd buffer with a NUL after its len bytes.  A reply over max bytes
 * is -EBADMSG, not an allocation made for the peer.
 */
int tb_client_exchange(int fd, const struct tb_msg_hdr *h, const uint8_t *payload, uint32_t max,
		       struct tb_msg_hdr *ret_hdr, uint8_t **ret_buf);

/*
 * A service request (proto.h: MEASURE, QUOTE, INSTANCE) and its reply:
 * *rc is the TPM-format response code (the daemon's, or a TPM response's if
 * the daemon answered with one: refused, framing), *body the rest of the
 * reply (malloc'd, NUL after it; NULL if empty).  0 when a reply came,
 * whatever its rc; <0 -errno when none did.
 */
int tb_client_service(int fd, uint8_t type, uint8_t flags, const uint8_t *req, size_t len,
		      uint32_t *rc, uint8_t **body, size_t *body_len);

#endif
