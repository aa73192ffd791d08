/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmd_log.h: what cmd_log.c (the command word, show, export) and
 * cmd_log_verify.c (verify: the log against the TPM) share.
 */
#ifndef TB_CMD_LOG_H
#define TB_CMD_LOG_H

#include <stddef.h>

#include "cli.h"

/*
 * Verify the log at path against the PCRs read through the daemon (socket:
 * NULL for ctx's); with stream, also print its virtual registers and check
 * the n_expect "REG:BANK=HEX" values.  Returns the exit status.
 */
int cli_log_verify(const struct cli_ctx *ctx, const char *socket, const char *path,
		   const char *stream, const char *const *expect, size_t n_expect);

#endif
