/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tpmbroker: the administration tool of tpmbrokerd.
 *   tpmbroker [--socket PATH] status [--json]
 *   tpmbroker [--socket PATH] send HEX
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <tss2/tss2_rc.h>

#include "common/proto.h"
#include "common/util.h"

static void
usage(FILE *out)
{
	fputs("Usage: tpmbroker [--socket PATH] COMMAND [ARG]...\n"
	      "Talk to tpmbrokerd, the TPM 2.0 access broker and resource manager.\n"
	      "\n"
	      "Commands:\n"
	      "  status [--json]   the daemon's connections, their TPM handles (loaded or\n"
	      "                    saved) and counters; root or the daemon's user only\n"
	      "  send HEX          send one TPM command given in hex, print the response in hex\n"
	      "\n"
	      "Options:\n"
	      "  -s, --socket=PATH the daemon's socket (default: $TPMBROKER_SOCKET, else\n"
	      "                    " TB_SOCKET_DEFAULT_ROOT " as root,\n"
	      "                    else $XDG_RUNTIME_DIR/" TB_SOCKET_NAME ")\n"
	      "  -h, --help        this text\n"
	      "\n"
	      "Exit status: 0 success; 1 the daemon answered with an error (printed, decoded);\n"
	      "2 bad usage; 3 the daemon could not be reached.\n",
	      out);
}

static int
connect_daemon(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "tpmbroker: socket path too long\n");
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "tpmbroker: cannot reach tpmbrokerd at %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	return fd;
}

/* Send one frame, read the reply frame into a malloc'd buffer. */
static int
exchange(int fd, uint8_t type, uint8_t flags, const uint8_t *payload, uint32_t len,
	 struct tb_msg_hdr *rh, uint8_t **ret)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = type, .flags = flags,
			       .len = len};
	uint8_t *buf;
	int r;

	tb_hdr_pack(hdr, &h);
	if ((r = write_all(fd, hdr, sizeof(hdr))) < 0 ||
	    (len > 0 && (r = write_all(fd, payload, len)) < 0) ||
	    (r = read_all(fd, hdr, sizeof(hdr))) < 0)
		return r;
	tb_hdr_unpack(hdr, rh);
	if (rh->version != TB_PROTO_VERSION || rh->len > TB_PROTO_MAX_STATUS)
		return -EBADMSG;
	buf = malloc(rh->len + 1u);
	if (buf == NULL)
		return -ENOMEM;
	if ((r = read_all(fd, buf, rh->len)) < 0) {
		free(buf);
		return r;
	}
	buf[rh->len] = '\0';
	*ret = buf;
	return 0;
}

static int
print_rc(uint32_t rc)
{
	fprintf(stderr, "tpmbroker: 0x%08x: %s\n", rc, Tss2_RC_Decode(rc));
	return 1;
}

static int
hex_decode(const char *s, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t n = 0;

	while (*s != '\0') {
		unsigned v;
		if (*s == ' ' || *s == ':') {
			s++;
			continue;
		}
		if (n >= cap || sscanf(s, "%2x", &v) != 1 || s[1] == '\0')
			return -EINVAL;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	*ret_len = n;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	const char *sock = NULL;
	char path[108];
	struct tb_msg_hdr rh;
	uint8_t *reply = NULL;
	bool json = false;
	int opt, fd, r;

	while ((opt = getopt_long(argc, argv, "+s:hj", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'j':
			json = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (tb_socket_path(sock, path, sizeof(path)) < 0) {
		fprintf(stderr, "tpmbroker: socket path too long\n");
		return 2;
	}
	if (strcmp(argv[optind], "status") == 0) {
		for (int i = optind + 1; i < argc; i++) {
			if (strcmp(argv[i], "--json") != 0) {
				usage(stderr);
				return 2;
			}
			json = true;
		}
		if ((fd = connect_daemon(path)) < 0)
			return 3;
		r = exchange(fd, TB_MSG_STATUS, json ? TB_STATUS_FLAG_JSON : 0, NULL, 0, &rh,
			     &reply);
		(void)close(fd);
		if (r < 0) {
			fprintf(stderr, "tpmbroker: %s: %s\n", path, strerror(-r));
			return 3;
		}
		if (rh.type == TB_MSG_RESPONSE) {
			r = print_rc(rh.len >= 10 ? get_be32(reply + 6) : 0);
			free(reply);
			return r;
		}
		fputs((char *)reply, stdout);
		free(reply);
		return 0;
	}
	if (strcmp(argv[optind], "send") == 0 && optind + 2 == argc) {
		uint8_t cmd[TB_PROTO_MAX_PAYLOAD];
		size_t len;

		if (hex_decode(argv[optind + 1], cmd, sizeof(cmd), &len) < 0) {
			fprintf(stderr, "tpmbroker: send: '%s' is not hex\n", argv[optind + 1]);
			return 2;
		}
		if ((fd = connect_daemon(path)) < 0)
			return 3;
		r = exchange(fd, TB_MSG_COMMAND, 0, cmd, (uint32_t)len, &rh, &reply);
		(void)close(fd);
		if (r < 0) {
			fprintf(stderr, "tpmbroker: %s: %s\n", path, strerror(-r));
			return 3;
		}
		for (uint32_t i = 0; i < rh.len; i++)
			printf("%02x", reply[i]);
		printf("\n");
		free(reply);
		return 0;
	}
	usage(stderr);
	return 2;
}
