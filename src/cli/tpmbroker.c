/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tpmbroker: the administration tool of tpmbrokerd.
 *   tpmbroker [--socket PATH] status [--json | --format=text|json|prometheus]
 *   tpmbroker [--socket PATH] send [--locality N] HEX...
 *   ... and the commands of cmd_*.c (commands[] below).
 * One connection, one request frame, one reply frame (doc/protocol.md).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tpm2_types.h>

#include "cli.h"
#include "common/client.h"
#include "common/proto.h"
#include "common/util.h"

#ifndef TB_VERSION
#define TB_VERSION "unknown"
#endif

#define TPM_HEADER_SIZE 10u
/* status is answered by the daemon itself, never queued behind the TPM */
#define STATUS_TIMEOUT_S 10u

static int cmd_status(const struct cli_ctx *ctx, int argc, char **argv);
static int cmd_send(const struct cli_ctx *ctx, int argc, char **argv);

static const struct cli_cmd cli_cmd_status = {
	.name = "status",
	.run = cmd_status,
	.synopsis = "status [--json | --format=FMT]",
	.help = "  status [--json]      print the daemon's backend, connections, their TPM\n"
		"                       handles (loaded or saved) and counters, as text or\n"
		"                       as one JSON object; root or the daemon's user only\n"
		"    --format=FMT       text, json, or prometheus (the text exposition\n"
		"                       format, for node_exporter's textfile collector)\n",
};

static const struct cli_cmd cli_cmd_send = {
	.name = "send",
	.run = cmd_send,
	.synopsis = "send [--locality N] HEX...",
	.help = "  send HEX...          send one raw TPM command, given in hex (spaces and\n"
		"                       colons between bytes allowed, several arguments are\n"
		"                       joined), and print the TPM's response in hex\n"
		"    -l, --locality=N   run the command at locality N (0..4, default 0)\n",
};

static const struct cli_cmd *const commands[] = {
	&cli_cmd_status,
	&cli_cmd_send,
	&cli_cmd_instance,
	&cli_cmd_quote, &cli_cmd_verify_quote,
	&cli_cmd_measure,
	&cli_cmd_log,
};

static void
usage(FILE *out)
{
	fputs("Usage:", out);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "%s tpmbroker [OPTION]... %s\n", i == 0 ? "" : "      ",
			commands[i]->synopsis);
	fputs("Talk to tpmbrokerd, the TPM 2.0 access broker and resource manager.\n"
	      "\n"
	      "Commands:\n", out);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fputs(commands[i]->help, out);
	fputs("\n"
	      "Options:\n"
	      "  -s, --socket=PATH    the daemon's socket\n"
	      "  -t, --timeout=SEC    give up if no answer comes within SEC seconds\n"
	      "                       (default: 10 for status, 60 for quote, none for send;\n"
	      "                       0: none)\n"
	      "  -h, --help           print this text and exit\n"
	      "  -V, --version        print the version and exit\n"
	      "\n"
	      "Environment:\n"
	      "  " TB_SOCKET_ENV "     the socket when --socket is not given; without\n"
	      "                       both: " TB_SOCKET_DEFAULT_ROOT " as root,\n"
	      "                       else $XDG_RUNTIME_DIR/" TB_SOCKET_NAME "\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success\n"
	      "  1  the daemon or the TPM answered with an error (printed and decoded on\n"
	      "     stderr; for send the response is still printed on stdout)\n"
	      "  2  bad usage\n"
	      "  3  the daemon could not be reached, did not answer in time, or broke the\n"
	      "     protocol\n"
	      "\n"
	      "Examples:\n"
	      "  tpmbroker status\n"
	      "  tpmbroker --socket /tmp/tb.sock status --json\n"
	      "  tpmbroker send 80010000000c0000017b0008      # TPM2_GetRandom(8)\n"
	      "  tpmbroker quote -c ak.ctx -l sha256:0,7 -n 00112233 -m q.msg -s q.sig -p q.path\n"
	      "  tpmbroker verify-quote -u ak.pem -m q.msg -s q.sig -n 00112233 -p q.path\n",
	      out);
}

/* The response code of a TPM response, or -EBADMSG if it is not one. */
static int64_t
response_rc(const uint8_t *rsp, uint32_t len)
{
	if (len < TPM_HEADER_SIZE || get_be32(rsp + 2) != len)
		return -EBADMSG;
	return get_be32(rsp + 6);
}

static int
cmd_status(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"format", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_STATUS,
			       .flags = ctx->json ? TB_STATUS_FLAG_JSON : 0};
	struct tb_msg_hdr rh;
	_cleanup_(freep) uint8_t *reply = NULL;
	_cleanup_(closep) int fd = -1;
	int opt, r;

	optind = 0; /* glibc: rescan from argv[1] with fresh state */
	while ((opt = getopt_long(argc, argv, "+j", opts, NULL)) != -1) {
		if (opt == 'j') {
			h.flags = TB_STATUS_FLAG_JSON;
		} else if (opt == 'f' && strcmp(optarg, "json") == 0) {
			h.flags = TB_STATUS_FLAG_JSON;
		} else if (opt == 'f' && strcmp(optarg, "prometheus") == 0) {
			h.flags = TB_STATUS_FLAG_PROMETHEUS;
		} else if (opt == 'f' && strcmp(optarg, "text") == 0) {
			h.flags = 0;
		} else {
			if (opt == 'f')
				fprintf(stderr, "tpmbroker: --format is text, json or prometheus\n");
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tpmbroker: status: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	fd = cli_connect(ctx->path,
			 ctx->timeout_s < 0 ? STATUS_TIMEOUT_S : (unsigned)ctx->timeout_s);
	if (fd < 0)
		return fd == -ENAMETOOLONG ? EXIT_USAGE : EXIT_NO_DAEMON;
	if ((r = tb_client_exchange(fd, &h, NULL, TB_PROTO_MAX_STATUS, &rh, &reply)) < 0)
		return cli_exchange_error(ctx->path, r);
	if (rh.type == TB_MSG_RESPONSE) {
		/* refused (TB_RC_DENIED) or another RM-layer error, as a TPM response */
		int64_t rc = response_rc(reply, rh.len);

		if (rc < 0)
			return cli_exchange_error(ctx->path, -EBADMSG);
		cli_print_rc((uint32_t)rc);
		if (rc == TB_RC_DENIED)
			fputs("tpmbroker: status is for root and tpmbrokerd's user\n", stderr);
		return EXIT_TPM_ERROR;
	}
	if (rh.type != TB_MSG_STATUS)
		return cli_exchange_error(ctx->path, -EBADMSG);
	if (fwrite(reply, 1, rh.len, stdout) != rh.len ||
	    (rh.len > 0 && reply[rh.len - 1] != '\n' && putchar('\n') == EOF) ||
	    fflush(stdout) == EOF) {
		fprintf(stderr, "tpmbroker: writing to stdout: %s\n", strerror(errno));
		return EXIT_TPM_ERROR;
	}
	return EXIT_OK;
}

static int
cmd_send(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"locality", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	uint8_t cmd[TB_PROTO_MAX_PAYLOAD];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND};
	struct tb_msg_hdr rh;
	_cleanup_(freep) uint8_t *reply = NULL;
	_cleanup_(closep) int fd = -1;
	unsigned long loc;
	size_t len = 0;
	int64_t rc;
	int opt, r;

	optind = 0; /* glibc: rescan from argv[1] with fresh state */
	while ((opt = getopt_long(argc, argv, "+l:", opts, NULL)) != -1) {
		if (opt != 'l') {
			usage(stderr);
			return EXIT_USAGE;
		}
		if (cli_parse_uint(optarg, 4, &loc) < 0) {
			fprintf(stderr, "tpmbroker: send: locality must be 0..4, not '%s'\n",
				optarg);
			return EXIT_USAGE;
		}
		h.locality = (uint8_t)loc;
	}
	if (optind >= argc) {
		fprintf(stderr, "tpmbroker: send: no command given\n");
		return EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		if ((r = cli_hex_decode(argv[i], cmd, sizeof(cmd), &len)) < 0) {
			if (r == -E2BIG)
				fprintf(stderr, "tpmbroker: send: command longer than %u bytes\n",
					TB_PROTO_MAX_PAYLOAD);
			else
				fprintf(stderr, "tpmbroker: send: '%s' is not hex bytes\n",
					argv[i]);
			return EXIT_USAGE;
		}
	}
	/* deliberately no checks of the TPM header: this is how to test the daemon's */
	h.len = (uint32_t)len;
	if ((fd = cli_connect(ctx->path, ctx->timeout_s < 0 ? 0 : (unsigned)ctx->timeout_s)) < 0)
		return fd == -ENAMETOOLONG ? EXIT_USAGE : EXIT_NO_DAEMON;
	if ((r = tb_client_exchange(fd, &h, cmd, TB_PROTO_MAX_PAYLOAD, &rh, &reply)) < 0)
		return cli_exchange_error(ctx->path, r);
	if (rh.type != TB_MSG_RESPONSE || (rc = response_rc(reply, rh.len)) < 0)
		return cli_exchange_error(ctx->path, -EBADMSG);
	for (uint32_t i = 0; i < rh.len; i++)
		printf("%02x", reply[i]);
	printf("\n");
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "tpmbroker: writing to stdout: %s\n", strerror(errno));
		return EXIT_TPM_ERROR;
	}
	if (rc != TPM2_RC_SUCCESS) {
		cli_print_rc((uint32_t)rc);
		return EXIT_TPM_ERROR;
	}
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"json", no_argument, NULL, 'j'}, /* "tpmbroker --json status" too */
		{NULL, 0, NULL, 0},
	};
	const char *sock = NULL;
	bool json = false;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int timeout_s = -1; /* per command default */
	struct cli_ctx ctx;
	unsigned long v;
	int opt;

	/* a daemon that closes on us is an error message, not a silent death */
	(void)signal(SIGPIPE, SIG_IGN);
	/* "+": options after the command word are the command's */
	while ((opt = getopt_long(argc, argv, "+s:t:hVj", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 't':
			if (cli_parse_uint(optarg, 86400, &v) < 0) {
				fprintf(stderr, "tpmbroker: --timeout wants seconds, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			timeout_s = (int)v;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("tpmbroker " TB_VERSION "\n");
			return EXIT_OK;
		case 'j':
			json = true;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (sock != NULL && sock[0] == '\0') {
		fprintf(stderr, "tpmbroker: --socket wants a path\n");
		return EXIT_USAGE;
	}
	if (tb_socket_path(sock, path, sizeof(path)) < 0) {
		fprintf(stderr, "tpmbroker: socket path too long (at most %zu bytes)\n",
			sizeof(path) - 1);
		return EXIT_USAGE;
	}
	/* the command's own getopt sees argv[optind] as its argv[0] */
	ctx = (struct cli_ctx){.path = path, .timeout_s = timeout_s, .json = json};
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(argv[optind], commands[i]->name) == 0)
			return commands[i]->run(&ctx, argc - optind, argv + optind);
	fprintf(stderr, "tpmbroker: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
