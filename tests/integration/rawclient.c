/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rawclient: malformed input over the raw sockets of a running tpmbrokerd.
 * Every bad case gets its documented TPM-format answer; afterwards valid
 * commands from the same (where it stays open) and other connections work.
 *
 *   rawclient SOCKET [MSSIM_PORT]        exit 0 when every check held
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/proto.h"
#include "common/util.h"
#include "common/wire.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static const char *sock_path;

static int
connect_unix(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(2);
	}
	return fd;
}

static int
connect_tcp(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect tcp");
		exit(2);
	}
	return fd;
}

/* read exactly n bytes within 10 s; -1 on EOF/timeout */
static int
read_n(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, 10000) <= 0)
			return -1;
		r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void
send_frame(int fd, uint8_t version, uint8_t type, const uint8_t *p, uint32_t len, uint32_t hdr_len)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = version, .type = type, .len = hdr_len};

	tb_hdr_pack(hdr, &h);
	/* EPIPE is expected where the daemon closes on a bad header: not fatal */
	if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t)sizeof(hdr) ||
	    (len > 0 && send(fd, p, len, MSG_NOSIGNAL) != (ssize_t)len))
		fprintf(stderr, "rawclient: note: send: %s\n", strerror(errno));
}

/* one command, one answer: the answer's response code (or 0xffffffff) */
static uint32_t
roundtrip(int fd, const uint8_t *cmd, uint32_t len)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE], rsp[TB_PROTO_MAX_PAYLOAD];
	struct tb_msg_hdr h;

	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, cmd, len, len);
	if (read_n(fd, hdr, sizeof(hdr)) < 0)
		return 0xffffffff;
	tb_hdr_unpack(hdr, &h);
	if (h.type != TB_MSG_RESPONSE || h.len < 10 || h.len > sizeof(rsp) ||
	    read_n(fd, rsp, h.len) < 0)
		return 0xfffffffe;
	return get_be32(rsp + 6);
}

static uint32_t
getrandom_ok(int fd)
{
	uint8_t cmd[12];

	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	put_be16(cmd + 10, 8);
	return roundtrip(fd, cmd, 12);
}

static int
is_closed(int fd)
{
	uint8_t b;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, 5000) <= 0)
		return 0;
	/* EOF, or ECONNRESET when the daemon closed with our bytes unread */
	return read(fd, &b, 1) == 0 || errno == ECONNRESET;
}

static void
unix_cases(void)
{
	int fd = connect_unix(), other = connect_unix();
	uint8_t cmd[5200];
	uint8_t hdr[TB_PROTO_HDR_SIZE], rsp[64];
	struct tb_msg_hdr h;
	uint32_t rc;

	/* size field says 20, frame carries 12 */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 20, TPM2_CC_GetRandom);
	put_be16(cmd + 10, 8);
	CHECK((rc = roundtrip(fd, cmd, 12)) == 0x000B0142, "size mismatch: 0x%08x", rc);
	/* shorter than a header */
	CHECK((rc = roundtrip(fd, cmd, 7)) == 0x000B0142, "short: 0x%08x", rc);
	/* bad tag */
	wire_hdr_put(cmd, 0x8003, 12, TPM2_CC_GetRandom);
	CHECK((rc = roundtrip(fd, cmd, 12)) == 0x000B001E, "bad tag: 0x%08x", rc);
	/* larger than the TPM's maximum (4096), but within the frame limit */
	memset(cmd, 0, sizeof(cmd));
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 5000, TPM2_CC_GetRandom);
	CHECK((rc = roundtrip(fd, cmd, 5000)) == 0x000B0142, "too large: 0x%08x", rc);
	/* command codes the TPM does not implement, vendor range included */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, 0x0000ffff);
	CHECK((rc = roundtrip(fd, cmd, 12)) == 0x000B0143, "unknown cc: 0x%08x", rc);
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, 0x20000999);
	CHECK((rc = roundtrip(fd, cmd, 12)) == 0x000B0143, "unknown vendor cc: 0x%08x", rc);
	/* the same connection and another one still work */
	CHECK((rc = getrandom_ok(fd)) == 0, "same conn after errors: 0x%08x", rc);
	CHECK((rc = getrandom_ok(other)) == 0, "other conn: 0x%08x", rc);

	/* a frame too large to buffer: answered, then closed */
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, NULL, 0, 100000);
	CHECK(read_n(fd, hdr, sizeof(hdr)) == 0, "no answer to an oversized frame");
	tb_hdr_unpack(hdr, &h);
	CHECK(h.len == 10 && read_n(fd, rsp, 10) == 0 && get_be32(rsp + 6) == 0x000B0142,
	      "oversized frame answer");
	CHECK(is_closed(fd), "connection not closed after an oversized frame");
	close(fd);

	/* an unknown protocol version: answered, then closed */
	fd = connect_unix();
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	send_frame(fd, 9, TB_MSG_COMMAND, cmd, 12, 12);
	CHECK(read_n(fd, hdr, sizeof(hdr)) == 0 && read_n(fd, rsp, 10) == 0 &&
		      get_be32(rsp + 6) == 0x000B001E,
	      "bad version answer");
	CHECK(is_closed(fd), "connection not closed after a bad version");
	close(fd);

	/* a client that leaves mid-command */
	fd = connect_unix();
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, cmd, 5, 12);
	close(fd);
	/* a client that never reads its answer, and stays */
	fd = connect_unix();
	put_be16(cmd + 10, 32);
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, cmd, 12, 12);
	CHECK((rc = getrandom_ok(other)) == 0, "other conn after misbehaving peers: 0x%08x", rc);
	close(fd);
	CHECK((rc = getrandom_ok(other)) == 0, "other conn at the end: 0x%08x", rc);
	close(other);
}

static void
mssim_cases(unsigned port)
{
	int fd = connect_tcp(port);
	uint8_t buf[64], rsp[64];

	/* bad tag inside a well-framed SEND_COMMAND: error, connection stays */
	put_be32(buf, 8);
	buf[4] = 0;
	put_be32(buf + 5, 12);
	wire_hdr_put(buf + 9, 0x1234, 12, TPM2_CC_GetRandom);
	put_be16(buf + 19, 8);
	CHECK(write_all(fd, buf, 21) == 0, "mssim write");
	CHECK(read_n(fd, rsp, 18) == 0 && get_be32(rsp) == 10 && get_be32(rsp + 10) == 0x000B001E &&
		      get_be32(rsp + 14) == 0,
	      "mssim bad tag answer");
	/* then a good one */
	wire_hdr_put(buf + 9, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	CHECK(write_all(fd, buf, 21) == 0, "mssim write 2");
	CHECK(read_n(fd, rsp, 4) == 0 && get_be32(rsp) == 20 && read_n(fd, rsp + 4, 24) == 0 &&
		      get_be32(rsp + 10) == 0,
	      "mssim good command after a bad one");
	/* a size that can't be framed: answered, closed */
	put_be32(buf + 5, 1u << 20);
	CHECK(write_all(fd, buf, 9) == 0, "mssim write 3");
	CHECK(read_n(fd, rsp, 18) == 0 && get_be32(rsp + 10) == 0x000B0142, "mssim oversize");
	CHECK(is_closed(fd), "mssim connection not closed after an oversized frame");
	close(fd);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rawclient SOCKET [MSSIM_PORT]\n");
		return 2;
	}
	sock_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	unix_cases();
	if (argc > 2)
		mssim_cases((unsigned)strtoul(argv[2], NULL, 10));
	if (failures == 0)
		printf("rawclient: all checks held\n");
	return failures == 0 ? 0 : 1;
}
