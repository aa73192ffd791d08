/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * frameclient.h: the tpmbroker frames (common/proto.h) spoken by hand over
 * the Unix socket, for the test clients that build their commands
 * themselves (polclient, schedclient).
 */
#ifndef TB_FRAMECLIENT_H
#define TB_FRAMECLIENT_H

#include <stddef.h>
#include <stdint.h>

/* A connected socket, or -1. */
int fc_connect(const char *path);
/*
 * Send cmd[0..len) at locality and read the response into rsp (cap
 * bytes; its length in *ret_len if not NULL): its response code, or
 * 0xffffffff if the connection ended or the frame was not a response.
 * cmd NULL: only read (an answer that came without a command).
 */
uint32_t fc_roundtrip(int fd, const uint8_t *cmd, size_t len, uint8_t locality, uint8_t *rsp,
		      size_t cap, size_t *ret_len);

#endif
