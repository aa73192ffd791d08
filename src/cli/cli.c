/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cli.c: helpers the CLI's commands share (cli.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_rc.h>

#include "cli.h"
#include "common/client.h"
#include "common/proto.h"
#include "common/util.h"

int
cli_connect(const char *path, unsigned timeout_s)
{
	int fd = tb_client_connect(path, timeout_s);

	if (fd == -ENAMETOOLONG) {
		fprintf(stderr, "tpmbroker: socket path too long: %s\n", path);
	} else if (fd < 0) {
		fprintf(stderr, "tpmbroker: cannot reach tpmbrokerd at %s: %s\n", path,
			strerror(-fd));
		if (fd == -ENOENT || fd == -ECONNREFUSED)
			fprintf(stderr, "tpmbroker: is tpmbrokerd running? (--socket PATH or "
					"$" TB_SOCKET_ENV " name another socket)\n");
	}
	return fd;
}

int
cli_exchange_error(const char *path, int r)
{
	if (r == -EAGAIN || r == -EWOULDBLOCK)
		fprintf(stderr, "tpmbroker: no answer from tpmbrokerd at %s in time\n", path);
	else if (r == -EPIPE || r == -ECONNRESET)
		fprintf(stderr, "tpmbroker: tpmbrokerd at %s closed the connection\n", path);
	else if (r == -EBADMSG)
		fprintf(stderr, "tpmbroker: %s: malformed reply; is this tpmbrokerd?\n", path);
	else
		fprintf(stderr, "tpmbroker: %s: %s\n", path, strerror(-r));
	return EXIT_NO_DAEMON;
}

void
cli_print_rc(uint32_t rc)
{
	fprintf(stderr, "tpmbroker: 0x%08X: %s\n", rc, Tss2_RC_Decode(rc));
}

static int
hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
cli_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)
		s += 2;
	while (*s != '\0') {
		int hi, lo;

		if (*s == ' ' || *s == ':' || *s == '\t' || *s == '\n') {
			s++;
			continue;
		}
		if ((hi = hex_nibble(s[0])) < 0 || (lo = hex_nibble(s[1])) < 0)
			return -EINVAL;
		if (*len >= cap)
			return -E2BIG;
		out[(*len)++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return 0;
}

int
cli_parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int
cli_service(const struct cli_ctx *ctx, unsigned def_timeout_s, uint8_t type, uint8_t flags,
	    const uint8_t *req, size_t len, uint32_t *rc, uint8_t **body, size_t *body_len)
{
	_cleanup_(closep) int fd = -1;
	int r;

	fd = cli_connect(ctx->path, ctx->timeout_s < 0 ? def_timeout_s : (unsigned)ctx->timeout_s);
	if (fd < 0)
		return fd == -ENAMETOOLONG ? EXIT_USAGE : EXIT_NO_DAEMON;
	if ((r = tb_client_service(fd, type, flags, req, len, rc, body, body_len)) < 0)
		return cli_exchange_error(ctx->path, r);
	return EXIT_OK;
}
