/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rawclient: malformed input over the raw sockets of a running tpmbrokerd.
 * Every bad case gets its documented TPM-format answer; afterwards valid
 * commands from the same connection (where it stays open) and from other
 * connections work.  Misbehaving peers (leaving mid-command, never reading,
 * flooding) disturb nobody.
 *
 *   rawclient [-w WRITE_TIMEOUT_MS] SOCKET [MSSIM_PORT]
 *           exit 0 when every check held; with -w, also check that a peer
 *           that never reads is dropped after about that long
 *   rawclient --hold SOCKET
 *           park two connections mid-exchange (half a frame; a command
 *           whose answer is never read), print "held", sleep until killed
 *   rawclient --many N SOCKET
 *           N connections at once, each a GetRandom in flight together;
 *           all answered right; then held until a line on stdin
 *
 * Expected codes (README, "Errors the broker raises itself"):
 *   frame length != TPM size field, < 10 bytes, > 4096  0x000B0142, stays open
 *   bad tag                                             0x000B001E, stays open
 *   command code the TPM lacks                          0x000B0143, stays open
 *   frame > 8192, unknown version/type (framing lost)   RM-layer error, closed
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/proto.h"
#include "common/util.h"
#include "common/wire.h"

#define RC_NO_ANSWER 0xffffffffu
#define RC_BAD_ANSWER 0xfffffffeu
#define RM_LAYER 0x000B0000u
#define RC_SIZE 0x000B0142u
#define RC_TAG 0x000B001Eu
#define RC_CC 0x000B0143u
#define RC_CANCELED 0x000B0909u

/* mssim signals (TpmTcpProtocol.h) */
#define SIG_POWER_ON 1u
#define SIG_POWER_OFF 2u
#define SIG_SEND_COMMAND 8u
#define SIG_CANCEL_ON 9u
#define SIG_CANCEL_OFF 10u
#define SIG_NV_ON 11u
#define SIG_NV_OFF 12u
#define SIG_HANDSHAKE 15u
#define SIG_RESET 17u
#define SIG_SESSION_END 20u

static int failures;
static const char *sock_path;
static unsigned mssim_port;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static int
connect_unix(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("rawclient: connect");
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
		perror("rawclient: connect tcp");
		exit(2);
	}
	return fd;
}

/* read exactly n bytes within 10 s; -1 on EOF, error or timeout */
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

/* nothing arrives within ms milliseconds (and the peer did not close) */
static int
quiet_for(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 0;
}

/*
 * The daemon closed fd: EOF (or ECONNRESET) within timeout_ms, after
 * draining whatever answers were still queued for us.
 */
static int
closed_within(int fd, int timeout_ms)
{
	uint8_t buf[4096];
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long left;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		r = read(fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 1;
		if (r < 0 && errno != EINTR && errno != EAGAIN)
			return 0;
	}
}

/* the daemon closed fd within timeout_ms; unread answers stay unread */
static int
hung_up_within(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void
send_raw(int fd, const void *p, size_t len)
{
	/* EPIPE is expected where the daemon closes on a bad header: not fatal */
	if (len > 0 && send(fd, p, len, MSG_NOSIGNAL) != (ssize_t)len)
		fprintf(stderr, "rawclient: note: send: %s\n", strerror(errno));
}

static void
send_frame(int fd, uint8_t version, uint8_t type, uint8_t locality, const uint8_t *p,
	   uint32_t len, uint32_t hdr_len)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = version, .type = type, .locality = locality,
			       .len = hdr_len};

	tb_hdr_pack(hdr, &h);
	send_raw(fd, hdr, sizeof(hdr));
	send_raw(fd, p, len);
}

/*
 * Read one RESPONSE frame: its response code, RC_NO_ANSWER if nothing (or
 * EOF) came, RC_BAD_ANSWER if the frame or the TPM header inside is wrong.
 * ret_len (optional) gets the TPM response's length.
 */
static uint32_t
recv_response(int fd, size_t *ret_len)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE], rsp[TB_PROTO_MAX_PAYLOAD];
	struct tb_msg_hdr h;

	if (read_n(fd, hdr, sizeof(hdr)) < 0)
		return RC_NO_ANSWER;
	tb_hdr_unpack(hdr, &h);
	if (h.version != TB_PROTO_VERSION || h.type != TB_MSG_RESPONSE || h.len < 10 ||
	    h.len > sizeof(rsp) || read_n(fd, rsp, h.len) < 0 || get_be32(rsp + 2) != h.len)
		return RC_BAD_ANSWER;
	if (ret_len != NULL)
		*ret_len = h.len;
	return get_be32(rsp + 6);
}

/* one command frame (frame length len), one answer: its response code */
static uint32_t
roundtrip(int fd, const uint8_t *cmd, uint32_t len)
{
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, len, len);
	return recv_response(fd, NULL);
}

static size_t
getrandom_cmd(uint8_t cmd[12], uint16_t n)
{
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	put_be16(cmd + 10, n);
	return 12;
}

/* a GetRandom(8) that must succeed with exactly 8 bytes: 0, else the code */
static uint32_t
getrandom_ok(int fd)
{
	uint8_t cmd[12];
	size_t len = 0;
	uint32_t rc;

	getrandom_cmd(cmd, 8);
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, 12, 12);
	rc = recv_response(fd, &len);
	return rc == 0 && len != 20 ? RC_BAD_ANSWER : rc;
}

/* a frame after which the daemon must answer with an RM-layer code, then close */
static void
expect_framing_lost(uint8_t version, uint8_t type, uint8_t locality, uint32_t len,
		    uint32_t want_rc, const char *what)
{
	int fd = connect_unix();
	uint8_t cmd[12];
	uint32_t rc;

	getrandom_cmd(cmd, 8);
	send_frame(fd, version, type, locality, cmd, MIN(len, 12u), len);
	rc = recv_response(fd, NULL);
	if (want_rc != 0)
		CHECK(rc == want_rc, "%s: answer 0x%08x, want 0x%08x", what, rc, want_rc);
	else
		CHECK((rc & 0xffff0000u) == RM_LAYER && (rc & 0xffffu) != 0,
		      "%s: answer 0x%08x, want an RM-layer error", what, rc);
	CHECK(closed_within(fd, 5000), "%s: connection not closed", what);
	close(fd);
}

static void
unix_bad_commands(int fd, int other)
{
	static uint8_t cmd[TB_PROTO_MAX_PAYLOAD];
	uint32_t rc;

	/* size field says 20, the frame carries 12: a truncated command */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 20, TPM2_CC_GetRandom);
	put_be16(cmd + 10, 8);
	CHECK((rc = roundtrip(fd, cmd, 12)) == RC_SIZE, "size field > frame: 0x%08x", rc);
	/* size field says 12, the frame carries 20: trailing bytes */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	CHECK((rc = roundtrip(fd, cmd, 20)) == RC_SIZE, "size field < frame: 0x%08x", rc);
	/* size field below a header's size, frame agrees */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 8, TPM2_CC_GetRandom);
	CHECK((rc = roundtrip(fd, cmd, 8)) == RC_SIZE, "size field 8: 0x%08x", rc);
	/* shorter than a header */
	getrandom_cmd(cmd, 8);
	CHECK((rc = roundtrip(fd, cmd, 7)) == RC_SIZE, "7-byte command: 0x%08x", rc);
	CHECK((rc = roundtrip(fd, cmd, 0)) == RC_SIZE, "empty command: 0x%08x", rc);
	/* bad tags */
	wire_hdr_put(cmd, 0x8003, 12, TPM2_CC_GetRandom);
	CHECK((rc = roundtrip(fd, cmd, 12)) == RC_TAG, "tag 0x8003: 0x%08x", rc);
	wire_hdr_put(cmd, 0x0000, 12, TPM2_CC_GetRandom);
	CHECK((rc = roundtrip(fd, cmd, 12)) == RC_TAG, "tag 0: 0x%08x", rc);
	/* larger than the TPM's maximum (4096), within the frame limit */
	memset(cmd, 0, sizeof(cmd));
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 5000, TPM2_CC_GetRandom);
	CHECK((rc = roundtrip(fd, cmd, 5000)) == RC_SIZE, "5000 bytes: 0x%08x", rc);
	/* exactly the frame limit: still only a size error, the stream is intact */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, TB_PROTO_MAX_PAYLOAD, TPM2_CC_GetRandom);
	CHECK((rc = roundtrip(fd, cmd, TB_PROTO_MAX_PAYLOAD)) == RC_SIZE, "8192 bytes: 0x%08x",
	      rc);
	/* command codes the TPM does not implement, vendor range included */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, 0x0000ffff);
	CHECK((rc = roundtrip(fd, cmd, 12)) == RC_CC, "unknown cc: 0x%08x", rc);
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, 0x20000999);
	CHECK((rc = roundtrip(fd, cmd, 12)) == RC_CC, "unknown vendor cc: 0x%08x", rc);
	wire_hdr_put(cmd, TPM2_ST_SESSIONS, 12, 0x00000100); /* below TPM2_CC_FIRST */
	CHECK((rc = roundtrip(fd, cmd, 12)) == RC_CC, "cc 0x100: 0x%08x", rc);
	/* the same connection and another one still work */
	CHECK((rc = getrandom_ok(fd)) == 0, "same connection after errors: 0x%08x", rc);
	CHECK((rc = getrandom_ok(other)) == 0, "other connection: 0x%08x", rc);
}

static void
unix_cancel(int fd)
{
	uint8_t cmd[12];
	uint32_t rc;

	/* CANCEL with nothing in flight: no answer, the stream stays in step */
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_CANCEL, 0, NULL, 0, 0);
	CHECK(quiet_for(fd, 200), "an idle CANCEL was answered");
	CHECK((rc = getrandom_ok(fd)) == 0, "GetRandom after an idle CANCEL: 0x%08x", rc);
	/*
	 * CANCEL right behind a command: exactly one answer, success or
	 * RM-layer CANCELED (it depends on timing which), then in step.
	 */
	getrandom_cmd(cmd, 8);
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, 12, 12);
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_CANCEL, 0, NULL, 0, 0);
	rc = recv_response(fd, NULL);
	CHECK(rc == 0 || rc == RC_CANCELED, "GetRandom+CANCEL: 0x%08x", rc);
	CHECK(quiet_for(fd, 200), "a second answer after GetRandom+CANCEL");
	CHECK((rc = getrandom_ok(fd)) == 0, "GetRandom after GetRandom+CANCEL: 0x%08x", rc);
}

static void
unix_framing_lost(void)
{
	/* a frame too large to buffer, and the first length past the limit */
	expect_framing_lost(TB_PROTO_VERSION, TB_MSG_COMMAND, 0, 100000, RC_SIZE, "len 100000");
	expect_framing_lost(TB_PROTO_VERSION, TB_MSG_COMMAND, 0, TB_PROTO_MAX_PAYLOAD + 1, RC_SIZE,
			    "len 8193");
	expect_framing_lost(TB_PROTO_VERSION, TB_MSG_COMMAND, 0, 0xffffffffu, RC_SIZE,
			    "len 0xffffffff");
	/* unknown version and types */
	expect_framing_lost(9, TB_MSG_COMMAND, 0, 12, 0, "version 9");
	expect_framing_lost(0, TB_MSG_COMMAND, 0, 12, 0, "version 0");
	expect_framing_lost(TB_PROTO_VERSION, 0, 0, 12, 0, "type 0");
	expect_framing_lost(TB_PROTO_VERSION, TB_MSG_RESPONSE, 0, 12, 0, "type RESPONSE");
	expect_framing_lost(TB_PROTO_VERSION, 99, 0, 12, 0, "type 99");
	/* a locality no TPM has */
	expect_framing_lost(TB_PROTO_VERSION, TB_MSG_COMMAND, 5, 12, 0, "locality 5");
	/* CANCEL carries no payload */
	expect_framing_lost(TB_PROTO_VERSION, TB_MSG_CANCEL, 0, 12, 0, "CANCEL with payload");
}

/* peers that leave mid-exchange or never read: nobody else notices */
static void
unix_bad_peers(int other)
{
	uint8_t cmd[12];
	uint32_t rc;
	int fd, lurk_half, lurk_unread;

	getrandom_cmd(cmd, 8);
	/* leaves after half a header, after a header, after half a command */
	fd = connect_unix();
	send_raw(fd, (const uint8_t[]){TB_PROTO_VERSION, TB_MSG_COMMAND, 0, 0}, 4);
	close(fd);
	fd = connect_unix();
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, NULL, 0, 12);
	close(fd);
	fd = connect_unix();
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, 5, 12);
	close(fd);
	/* leaves right after a whole command, before its answer */
	fd = connect_unix();
	send_frame(fd, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, 12, 12);
	close(fd);
	CHECK((rc = getrandom_ok(other)) == 0, "after peers left mid-command: 0x%08x", rc);

	/* stays with half a command; stays with an answer it never reads */
	lurk_half = connect_unix();
	send_frame(lurk_half, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, 6, 12);
	lurk_unread = connect_unix();
	put_be16(cmd + 10, 32);
	send_frame(lurk_unread, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, 12, 12);
	rc = 0;
	for (int i = 0; i < 20 && rc == 0; i++)
		CHECK((rc = getrandom_ok(other)) == 0, "next to lurking peers (%d): 0x%08x", i, rc);
	fd = connect_unix();
	CHECK((rc = getrandom_ok(fd)) == 0, "new connection next to lurking peers: 0x%08x", rc);
	close(fd);
	/* the half command completes late: answered as usual */
	send_raw(lurk_half, cmd + 6, 6);
	CHECK((rc = recv_response(lurk_half, NULL)) == 0, "late second half: 0x%08x", rc);
	close(lurk_half);
	close(lurk_unread);
	CHECK((rc = getrandom_ok(other)) == 0, "after the lurkers left: 0x%08x", rc);
}

/*
 * A peer that pipelines commands and never reads: once its socket is full
 * the daemon must stop serving it without blocking anybody; with a write
 * timeout (-w) it must also drop it.
 */
static void
unix_flood(int other, int write_timeout_ms)
{
	uint8_t frame[TB_PROTO_HDR_SIZE + 12];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND, .len = 12};
	int fd = connect_unix(), stalls = 0;
	unsigned long sent = 0;
	uint32_t rc;

	tb_hdr_pack(frame, &h);
	getrandom_cmd(frame + TB_PROTO_HDR_SIZE, 64);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		perror("fcntl");
		exit(2);
	}
	/* until both directions are full: our sends stall for 3 x 200 ms */
	while (stalls < 3 && sent < 1000000) {
		ssize_t n = send(fd, frame, sizeof(frame), MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(frame)) {
			sent++;
			continue;
		}
		if (n >= 0 || errno != EAGAIN)
			break;
		stalls++;
		/* a partial frame is fine: the daemon must not care either */
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		(void)poll(&p, 1, 200);
	}
	printf("rawclient: flooding peer stalled after %lu commands\n", sent);
	rc = 0;
	for (int i = 0; i < 20 && rc == 0; i++)
		CHECK((rc = getrandom_ok(other)) == 0, "next to a flooding peer (%d): 0x%08x", i, rc);
	if (write_timeout_ms > 0)
		CHECK(hung_up_within(fd, write_timeout_ms + 10000),
		      "a peer that never reads was not dropped after its write timeout");
	close(fd);
	CHECK((rc = getrandom_ok(other)) == 0, "after the flooding peer: 0x%08x", rc);
}

static void
unix_cases(int write_timeout_ms)
{
	int fd = connect_unix(), other = connect_unix();
	uint32_t rc;

	unix_bad_commands(fd, other);
	unix_cancel(fd);
	unix_framing_lost();
	unix_bad_peers(other);
	unix_flood(other, write_timeout_ms);
	CHECK((rc = getrandom_ok(fd)) == 0, "first connection at the end: 0x%08x", rc);
	close(fd);
	close(other);
}

/* ---- mssim frontend ---- */

/* SEND_COMMAND with the given mssim size field and bytes */
static void
mssim_send(int fd, uint8_t locality, uint32_t size, const uint8_t *cmd, size_t len)
{
	uint8_t h[9];

	put_be32(h, SIG_SEND_COMMAND);
	h[4] = locality;
	put_be32(h + 5, size);
	send_raw(fd, h, 9);
	send_raw(fd, cmd, len);
}

/* size, response, 4-byte 0 acknowledgement: the response code */
static uint32_t
mssim_recv(int fd, size_t *ret_len)
{
	uint8_t b[4], rsp[TB_PROTO_MAX_PAYLOAD];
	uint32_t len;

	if (read_n(fd, b, 4) < 0)
		return RC_NO_ANSWER;
	len = get_be32(b);
	if (len < 10 || len > sizeof(rsp) || read_n(fd, rsp, len) < 0 ||
	    get_be32(rsp + 2) != len || read_n(fd, b, 4) < 0 || get_be32(b) != 0)
		return RC_BAD_ANSWER;
	if (ret_len != NULL)
		*ret_len = len;
	return get_be32(rsp + 6);
}

static uint32_t
mssim_roundtrip(int fd, uint32_t size, const uint8_t *cmd, size_t len)
{
	mssim_send(fd, 0, size, cmd, len);
	return mssim_recv(fd, NULL);
}

static uint32_t
mssim_getrandom_ok(int fd)
{
	uint8_t cmd[12];
	size_t len = 0;
	uint32_t rc;

	getrandom_cmd(cmd, 8);
	mssim_send(fd, 0, 12, cmd, 12);
	rc = mssim_recv(fd, &len);
	return rc == 0 && len != 20 ? RC_BAD_ANSWER : rc;
}

/* one 4-byte signal on the platform port: its 4-byte answer, or ~0 */
static uint32_t
platform_signal(int fd, uint32_t sig)
{
	uint8_t b[4];

	put_be32(b, sig);
	send_raw(fd, b, 4);
	return read_n(fd, b, 4) < 0 ? RC_NO_ANSWER : get_be32(b);
}

static void
mssim_cases(void)
{
	int fd = connect_tcp(mssim_port), other = connect_tcp(mssim_port), pf;
	uint8_t cmd[64], b[12];
	uint32_t rc;

	/* REMOTE_HANDSHAKE (IBM TSS): server version 1, flags, 0 */
	put_be32(b, SIG_HANDSHAKE);
	put_be32(b + 4, 1);
	send_raw(fd, b, 8);
	CHECK(read_n(fd, b, 12) == 0 && get_be32(b) == 1 && get_be32(b + 8) == 0,
	      "mssim handshake answer");
	/* bad tag inside a well-framed SEND_COMMAND: error, connection stays */
	wire_hdr_put(cmd, 0x1234, 12, TPM2_CC_GetRandom);
	put_be16(cmd + 10, 8);
	CHECK((rc = mssim_roundtrip(fd, 12, cmd, 12)) == RC_TAG, "mssim bad tag: 0x%08x", rc);
	/* TPM size field 20, mssim size 12 (and the reverse) */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 20, TPM2_CC_GetRandom);
	CHECK((rc = mssim_roundtrip(fd, 12, cmd, 12)) == RC_SIZE, "mssim size 12/20: 0x%08x",
	      rc);
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	CHECK((rc = mssim_roundtrip(fd, 20, cmd, 20)) == RC_SIZE, "mssim size 20/12: 0x%08x",
	      rc);
	/* shorter than a header, empty */
	CHECK((rc = mssim_roundtrip(fd, 5, cmd, 5)) == RC_SIZE, "mssim 5 bytes: 0x%08x", rc);
	CHECK((rc = mssim_roundtrip(fd, 0, cmd, 0)) == RC_SIZE, "mssim 0 bytes: 0x%08x", rc);
	/* unknown command code */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, 0x0000ffff);
	CHECK((rc = mssim_roundtrip(fd, 12, cmd, 12)) == RC_CC, "mssim unknown cc: 0x%08x", rc);
	/* then good ones, here and on another connection */
	CHECK((rc = mssim_getrandom_ok(fd)) == 0, "mssim same connection after errors: 0x%08x",
	      rc);
	CHECK((rc = mssim_getrandom_ok(other)) == 0, "mssim other connection: 0x%08x", rc);

	/* a size that can't be framed: answered, closed */
	mssim_send(fd, 0, 1u << 20, NULL, 0);
	CHECK((rc = mssim_recv(fd, NULL)) == RC_SIZE, "mssim oversize: 0x%08x", rc);
	CHECK(closed_within(fd, 5000), "mssim connection not closed after an oversized frame");
	close(fd);
	/* locality 5 */
	fd = connect_tcp(mssim_port);
	getrandom_cmd(cmd, 8);
	mssim_send(fd, 5, 12, cmd, 12);
	rc = mssim_recv(fd, NULL);
	CHECK((rc & 0xffff0000u) == RM_LAYER, "mssim locality 5: 0x%08x", rc);
	CHECK(closed_within(fd, 5000), "mssim connection not closed after locality 5");
	close(fd);
	/* a signal the TPM port does not know: closed (an error answer is fine) */
	fd = connect_tcp(mssim_port);
	put_be32(b, 99);
	send_raw(fd, b, 4);
	CHECK(closed_within(fd, 5000), "mssim connection not closed after signal 99");
	close(fd);
	/* SESSION_END: closed without an answer */
	fd = connect_tcp(mssim_port);
	put_be32(b, SIG_SESSION_END);
	send_raw(fd, b, 4);
	CHECK(closed_within(fd, 5000), "mssim connection not closed after SESSION_END");
	close(fd);
	/* peers that leave mid-command, or never read */
	fd = connect_tcp(mssim_port);
	mssim_send(fd, 0, 12, cmd, 6);
	close(fd);
	fd = connect_tcp(mssim_port);
	send_raw(fd, (const uint8_t[]){0, 0, 0, SIG_SEND_COMMAND, 0, 0}, 6);
	close(fd);
	fd = connect_tcp(mssim_port);
	mssim_send(fd, 0, 12, cmd, 12);
	CHECK((rc = mssim_getrandom_ok(other)) == 0, "mssim next to a non-reader: 0x%08x", rc);
	close(fd);
	CHECK((rc = mssim_getrandom_ok(other)) == 0, "mssim at the end: 0x%08x", rc);

	/*
	 * Platform port: every power/NV/reset signal is acknowledged with 0;
	 * that none reaches the TPM is checked by the calling script (PCRs).
	 */
	pf = connect_tcp(mssim_port + 1);
	static const uint32_t sigs[] = {SIG_POWER_OFF, SIG_POWER_ON, SIG_NV_OFF, SIG_NV_ON,
					SIG_RESET,     SIG_CANCEL_ON, SIG_CANCEL_OFF};
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		CHECK((rc = platform_signal(pf, sigs[i])) == 0, "platform signal %u: 0x%08x",
		      sigs[i], rc);
	/* the TPM is still started: no TPM_RC_INITIALIZE */
	CHECK((rc = mssim_getrandom_ok(other)) == 0, "mssim after platform signals: 0x%08x", rc);
	put_be32(b, SIG_SESSION_END);
	send_raw(pf, b, 4);
	CHECK(closed_within(pf, 5000), "platform connection not closed after SESSION_END");
	close(pf);
	close(other);
}

/* --hold: two connections parked mid-exchange until we are killed */
static int
hold(void)
{
	uint8_t cmd[12];
	int half = connect_unix(), unread = connect_unix();

	getrandom_cmd(cmd, 16);
	send_frame(half, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, 6, 12);
	send_frame(unread, TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, 12, 12);
	printf("held\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0; /* not reached */
}

/*
 * --many N: N connections at once, a GetRandom sent on every one before any
 * answer is read; every answer must be right.  Then print "held N" and keep
 * them open until a line arrives on stdin.
 */
static int
many(unsigned n)
{
	struct rlimit rl;
	uint8_t cmd[12];
	unsigned ok = 0;
	int *fd = calloc(n, sizeof(*fd));
	char line[16];

	if (fd == NULL)
		return 2;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 16u) {
		rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)n + 16);
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < n + 16u) {
			fprintf(stderr, "rawclient: cannot open %u files\n", n);
			return 2;
		}
	}
	getrandom_cmd(cmd, 8);
	for (unsigned i = 0; i < n; i++)
		fd[i] = connect_unix();
	for (unsigned i = 0; i < n; i++)
		send_frame(fd[i], TB_PROTO_VERSION, TB_MSG_COMMAND, 0, cmd, 12, 12);
	for (unsigned i = 0; i < n; i++) {
		size_t len = 0;
		uint32_t rc = recv_response(fd[i], &len);
		CHECK(rc == 0 && len == 20, "connection %u of %u: 0x%08x (%zu bytes)", i, n, rc, len);
		ok += rc == 0 && len == 20;
	}
	printf("held %u, %u answered\n", n, ok);
	fflush(stdout);
	(void)fgets(line, sizeof(line), stdin);
	for (unsigned i = 0; i < n; i++)
		close(fd[i]);
	free(fd);
	return failures == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	int write_timeout_ms = 0, a = 1;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "--hold") == 0) {
		sock_path = argv[2];
		return hold();
	}
	if (argc == 4 && strcmp(argv[1], "--many") == 0) {
		sock_path = argv[3];
		return many((unsigned)strtoul(argv[2], NULL, 10));
	}
	if (argc > 2 && strcmp(argv[1], "-w") == 0) {
		write_timeout_ms = atoi(argv[2]);
		a = 3;
	}
	if (argc - a < 1 || argc - a > 2) {
		fprintf(stderr, "usage: rawclient [-w WRITE_TIMEOUT_MS] SOCKET [MSSIM_PORT]\n"
				"       rawclient --hold SOCKET\n"
				"       rawclient --many N SOCKET\n");
		return 2;
	}
	sock_path = argv[a];
	unix_cases(write_timeout_ms);
	if (argc - a == 2) {
		mssim_port = (unsigned)strtoul(argv[a + 1], NULL, 10);
		mssim_cases();
	}
	if (failures == 0)
		printf("rawclient: all checks held\n");
	else
		fprintf(stderr, "rawclient: %d checks failed\n", failures);
	return failures == 0 ? 0 : 1;
}
