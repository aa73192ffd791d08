/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cli.h: what the tpmbroker CLI's commands share.  One command per file
 * (cmd_*.c), each a const struct cli_cmd listed in commands[] (tpmbroker.c),
 * whose synopsis and help make up --help.
 */
#ifndef TB_CLI_H
#define TB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* exit status, as documented in --help */
enum {
	EXIT_OK = 0,
	EXIT_TPM_ERROR = 1, /* the daemon or the TPM answered with an error */
	EXIT_USAGE = 2,
	EXIT_NO_DAEMON = 3, /* not reachable, no answer, or not our protocol */
};

/* what the global options say */
struct cli_ctx {
	const char *path; /* the daemon's socket */
	int timeout_s;    /* -1: the command's default; 0: none */
	bool json;        /* --json before the command word */
};

struct cli_cmd {
	const char *name;
	/* argv[0] is the command word; getopt must start with optind = 0 */
	int (*run)(const struct cli_ctx *ctx, int argc, char **argv);
	const char *synopsis; /* "status [--json | --format=FMT]" */
	const char *help;     /* lines for --help, each indented by two spaces */
};

/* the commands of cmd_*.c (status and send live in tpmbroker.c) */
extern const struct cli_cmd cli_cmd_instance;
extern const struct cli_cmd cli_cmd_quote, cli_cmd_verify_quote; /* cmd_quote.c */
extern const struct cli_cmd cli_cmd_measure;
extern const struct cli_cmd cli_cmd_log; /* cmd_log.c: log show|export|verify */

/* Connect, printing why not; the fd or -errno (-ENAMETOOLONG: usage). */
int cli_connect(const char *path, unsigned timeout_s);
/* Print why an exchange failed; returns EXIT_NO_DAEMON. */
int cli_exchange_error(const char *path, int r);
/* "tpmbroker: 0x000B0143: tpm:... " on stderr */
void cli_print_rc(uint32_t rc);
/* Append the bytes spelled in hex by s to out[*len..cap); separators allowed. */
int cli_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len);
/* A decimal number <= max. */
int cli_parse_uint(const char *s, unsigned long max, unsigned long *ret);
/*
 * One service request on a new connection (timeout: ctx's, else def_s).
 * On a reply: *rc and the body (malloc'd, NUL-terminated; NULL if empty),
 * return EXIT_OK; else print why and return the exit status.
 */
int cli_service(const struct cli_ctx *ctx, unsigned def_timeout_s, uint8_t type, uint8_t flags,
		const uint8_t *req, size_t len, uint32_t *rc, uint8_t **body, size_t *body_len);

#endif
