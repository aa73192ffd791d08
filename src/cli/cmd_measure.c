/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmd_measure.c: tpmbroker measure: hand an event to the broker's
 * log-first measurement (mreq.h); it answers with the record number once
 * the event is in the durable log and the register is extended.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "common/mreq.h"
#include "common/proto.h"
#include "common/util.h"

/* waits for a sync and a TPM turn behind others: a minute is generous */
#define MEASURE_TIMEOUT_S 60u

static int cmd_measure(const struct cli_ctx *ctx, int argc, char **argv);

const struct cli_cmd cli_cmd_measure = {
	.name = "measure",
	.run = cmd_measure,
	.synopsis = "measure (--pcr N | --rtmr N) [--type T] (--data FILE|- | --string S) "
		    "[--description TEXT] [--stream NAME]",
	.help = "  measure              log an event and extend a register with it, in that\n"
		"                       order (log-first): prints the event's record number once\n"
		"                       the log holds it durably and the register is extended\n"
		"    --pcr=N            the PCR (one the daemon manages: --measure-pcrs)\n"
		"    --rtmr=N           a TDX RTMR instead (--measure-rtmr)\n"
		"    --type=T           TCG event type, a number or EV_IPL, EV_EVENT_TAG,\n"
		"                       EV_COMPACT_HASH, EV_ACTION (default EV_IPL, 0x0d)\n"
		"    --data=FILE        the event data (up to 64 KiB), '-' for stdin\n"
		"    --string=S         the event data as a string (no NUL)\n"
		"    --description=TEXT what it is, for the log's readers (up to 1024 bytes)\n"
		"    --stream=NAME      the event's stream (default: the caller's cgroup);\n"
		"                       profiles with measure-admin only\n"
		"    --reset-section    instead of an event: start a new section of an\n"
		"                       inconsistent register from its value now (measure-admin)\n",
};

static const struct {
	const char *name;
	uint32_t type;
} ev_names[] = {
	{"EV_IPL", 0x0d},
	{"EV_EVENT_TAG", 0x06},
	{"EV_COMPACT_HASH", 0x0c},
	{"EV_ACTION", 0x05},
	{"EV_SEPARATOR", 0x04},
};

static int
parse_type(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	for (size_t i = 0; i < ARRAY_SIZE(ev_names); i++)
		if (strcasecmp(s, ev_names[i].name) == 0) {
			*ret = ev_names[i].type;
			return 0;
		}
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* The whole of a file or stdin, at most MREQ_MAX_DATA bytes (one more: too long). */
static int
read_data(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rbe");
	size_t n;

	if (f == NULL)
		return -errno;
	n = fread(buf, 1, cap, f);
	if (ferror(f)) {
		if (f != stdin)
			fclose(f);
		return -EIO;
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return 0;
}

static int
cmd_measure(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"pcr", required_argument, NULL, 'p'},
		{"rtmr", required_argument, NULL, 'r'},
		{"type", required_argument, NULL, 't'},
		{"data", required_argument, NULL, 'd'},
		{"string", required_argument, NULL, 'S'},
		{"description", required_argument, NULL, 'D'},
		{"stream", required_argument, NULL, 's'},
		{"reset-section", no_argument, NULL, 'R'},
		{NULL, 0, NULL, 0},
	};
	static uint8_t data[MREQ_MAX_DATA + 1], req[TB_PROTO_MAX_REQUEST];
	struct mreq q = {.event_type = MREQ_EV_IPL};
	const char *file = NULL, *str = NULL;
	_cleanup_(freep) uint8_t *body = NULL;
	struct mreq_reply rep;
	bool have_reg = false;
	size_t len = 0, body_len = 0, dlen = 0;
	unsigned long v;
	uint32_t rc;
	int opt, r;

	optind = 0; /* glibc: rescan from argv[1] with fresh state */
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
		case 'r':
			if (have_reg || cli_parse_uint(optarg, opt == 'p' ? 23 : 3, &v) < 0) {
				fprintf(stderr, "tpmbroker: measure: one --pcr 0..23 or --rtmr 0..3\n");
				return EXIT_USAGE;
			}
			have_reg = true;
			q.reg_type = opt == 'p' ? 0 : 1;
			q.reg = (uint32_t)v;
			break;
		case 't':
			if (parse_type(optarg, &q.event_type) < 0) {
				fprintf(stderr, "tpmbroker: measure: --type '%s' is not a number or "
						"an EV_ name\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'd':
			file = optarg;
			break;
		case 'S':
			str = optarg;
			break;
		case 'D':
			q.desc = optarg;
			q.desc_len = strlen(optarg);
			break;
		case 's':
			q.stream = optarg;
			q.stream_len = strlen(optarg);
			q.flags |= MREQ_F_STREAM;
			break;
		case 'R':
			q.flags |= MREQ_F_RESET_SECTION;
			break;
		default:
			fprintf(stderr, "Try 'tpmbroker --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tpmbroker: measure: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!have_reg) {
		fprintf(stderr, "tpmbroker: measure: which register? --pcr N or --rtmr N\n");
		return EXIT_USAGE;
	}
	if ((q.flags & MREQ_F_RESET_SECTION) != 0 ? (file != NULL || str != NULL)
						   : (file != NULL) == (str != NULL)) {
		fprintf(stderr, "tpmbroker: measure: %s\n",
			(q.flags & MREQ_F_RESET_SECTION) != 0
				? "--reset-section takes no data"
				: "the data: one of --data FILE, --data - or --string S");
		return EXIT_USAGE;
	}
	if (file != NULL && (r = read_data(file, data, sizeof(data), &dlen)) < 0) {
		fprintf(stderr, "tpmbroker: measure: %s: %s\n", file, strerror(-r));
		return EXIT_USAGE;
	}
	if (str != NULL) {
		dlen = strlen(str);
		if (dlen <= MREQ_MAX_DATA)
			memcpy(data, str, dlen);
	}
	if (dlen > MREQ_MAX_DATA || q.desc_len > MREQ_MAX_DESC || q.stream_len > MREQ_MAX_STREAM) {
		fprintf(stderr, "tpmbroker: measure: data over %u, description over %u or stream "
				"over %u bytes\n", MREQ_MAX_DATA, MREQ_MAX_DESC, MREQ_MAX_STREAM);
		return EXIT_USAGE;
	}
	q.data = data;
	q.data_len = dlen;
	if (mreq_encode(&q, req, sizeof(req), &len) < 0) {
		fprintf(stderr, "tpmbroker: measure: request too large\n");
		return EXIT_USAGE;
	}
	r = cli_service(ctx, MEASURE_TIMEOUT_S, TB_MSG_MEASURE, 0, req, len, &rc, &body,
			&body_len);
	if (r != EXIT_OK)
		return r;
	if (rc != 0) {
		cli_print_rc(rc);
		if (rc == MREQ_RC_INCONSISTENT)
			fputs("tpmbroker: the register does not match the log: see `tpmbroker "
			      "status`; an admin may start a new section (--reset-section)\n",
			      stderr);
		else if (rc == MREQ_RC_NOT_MANAGED)
			fputs("tpmbroker: the daemon does not manage that register "
			      "(tpmbrokerd --measure-pcrs, --measure-rtmr)\n", stderr);
		return EXIT_TPM_ERROR;
	}
	if (mreq_reply_get(body, body_len, &rep) < 0)
		return cli_exchange_error(ctx->path, -EBADMSG);
	printf("%" PRIu64 "\n", rep.seq);
	if (fflush(stdout) == EOF)
		return EXIT_TPM_ERROR;
	return EXIT_OK;
}
