/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * be_smoke: drive one backend directly, without the daemon, as the VM test
 * needs for the real kernel driver:
 *   be_smoke SPEC            TPM2_Startup (tolerating "already started"),
 *                            GetRandom twice (16 bytes, different), an RSA
 *                            CreatePrimary during which a level-triggered
 *                            epoll_wait() on be->fd must not block (it did
 *                            on the device fd itself; a stall must repeat
 *                            in three tries to count), and a locality-3
 *                            command (EOPNOTSUPP for device:)
 *   be_smoke --hold SPEC     open SPEC, print "held", wait for stdin to close
 *   be_smoke --busy SPEC     exit 0 if opening SPEC fails with EBUSY
 * Prints one line per step; exit 0 when all went as expected.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"
#include "daemon/backend.h"

static int
getrandom16(struct backend *be, uint8_t loc, uint8_t *out, int *early)
{
	uint8_t cmd[12], rsp[TB_BUF_MAX];
	size_t rlen = 0;
	int r;

	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, sizeof(cmd), TPM2_CC_GetRandom);
	put_be16(cmd + 10, 16);
	if ((r = be->ops->submit(be, cmd, sizeof(cmd), loc)) < 0)
		return r;
	for (int i = 0; i < 10000; i++) {
		struct pollfd p = {.fd = be->fd, .events = POLLIN};
		if (poll(&p, 1, 10000) != 1)
			return -ETIMEDOUT;
		if ((r = be->ops->finish(be, rsp, sizeof(rsp), &rlen)) < 0)
			return r;
		if (r == 1)
			break;
		(*early)++; /* readable, but no response yet */
	}
	if (r != 1)
		return -ETIMEDOUT;
	if (wire_response_rc(rsp, rlen) != TPM2_RC_SUCCESS || rlen != 28 || get_be16(rsp + 10) != 16) {
		fprintf(stderr, "GetRandom: rc 0x%x, %zu bytes\n", wire_response_rc(rsp, rlen), rlen);
		return -EBADMSG;
	}
	memcpy(out, rsp + 12, 16);
	return 0;
}

/* CreatePrimary(owner, RSA-2048 restricted decryption key), empty auth */
static const uint8_t create_primary[] = {
	0x80, 0x02, 0, 0, 0, 0x43, 0, 0, 0x01, 0x31, 0x40, 0, 0, 0x01,
	0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0,          /* password session */
	0, 4, 0, 0, 0, 0,                                   /* inSensitive */
	0, 0x1a, 0, 0x01, 0, 0x0b, 0, 0x03, 0, 0x72, 0, 0,  /* RSA, sha256, attributes */
	0, 0x06, 0, 0x80, 0, 0x43, 0, 0x10, 0x08, 0, 0, 0, 0, 0, 0, 0, /* AES-128-CFB, 2048 */
	0, 0, 0, 0, 0, 0,                                   /* outsideInfo, creationPCR */
};

/*
 * The daemon's loop: epoll, level-triggered, be->fd left registered.  While
 * a long command runs, epoll_wait(0) must return at once.  One round: 0,
 * 1 if some epoll_wait(0) took longer than STALL_NS, or -errno.
 */
#define STALL_NS (5 * 1000000ull)

static int
no_stall_once(struct backend *be, int ep)
{
	struct epoll_event ev;
	uint8_t rsp[TB_BUF_MAX], flush[14];
	uint64_t t0, start, worst = 0;
	size_t rlen = 0;
	int r, early = 0;

	/* one round first, so that the fd has been reported ready once */
	if ((r = getrandom16(be, 0, rsp, &early)) < 0)
		return r;
	if ((r = be->ops->submit(be, create_primary, sizeof(create_primary), 0)) < 0)
		return r;
	start = now_ns();
	for (r = 0; r == 0;) {
		int n;
		t0 = now_ns();
		n = epoll_wait(ep, &ev, 1, 0);
		worst = MAX(worst, now_ns() - t0);
		if (n == 1)
			r = be->ops->finish(be, rsp, sizeof(rsp), &rlen);
		else
			usleep(200);
	}
	if (r < 0)
		return r;
	printf("CreatePrimary: rc 0x%x in %.1f ms; longest epoll_wait(0) %.2f ms\n",
	       wire_response_rc(rsp, rlen), (double)(now_ns() - start) / 1e6, (double)worst / 1e6);
	if (wire_response_rc(rsp, rlen) != TPM2_RC_SUCCESS)
		return -EIO;
	wire_hdr_put(flush, TPM2_ST_NO_SESSIONS, sizeof(flush), TPM2_CC_FlushContext);
	memcpy(flush + 10, rsp + 10, 4);
	if ((r = be_transact(be, flush, sizeof(flush), rsp, sizeof(rsp), &rlen, 10000)) < 0)
		return r;
	return worst > STALL_NS;
}

/*
 * A blocking fd stalls every round for the whole command; a guest whose
 * vCPU was descheduled once does not: three rounds before it counts.
 */
static int
no_stall(struct backend *be)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ep, r = -EDEADLK;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -errno;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, be->fd, &ev) < 0) {
		r = -errno;
		close(ep);
		return r;
	}
	for (int i = 0; i < 3; i++) {
		if ((r = no_stall_once(be, ep)) <= 0)
			break;
		r = -EDEADLK; /* the loop would have stalled */
	}
	close(ep);
	return r;
}

int
main(int argc, char **argv)
{
	struct backend *be;
	uint8_t a[16], b[16];
	int r, early = 0;
	char c;

	log_init("be_smoke", LOG_LVL_INFO);
	if (argc == 3 && strcmp(argv[1], "--busy") == 0) {
		r = be_open(argv[2], &be);
		printf("open %s while held: %s\n", argv[2], r < 0 ? strerror(-r) : "opened");
		return r == -EBUSY ? 0 : 1;
	}
	if (argc == 3 && strcmp(argv[1], "--hold") == 0) {
		if ((r = be_open(argv[2], &be)) < 0)
			return 1;
		printf("held\n");
		fflush(stdout);
		while (read(0, &c, 1) > 0)
			;
		be_close(be);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: be_smoke [--hold|--busy] SPEC\n");
		return 2;
	}
	if ((r = be_open(argv[1], &be)) < 0)
		return 1;
	printf("opened %s (needs_startup %d)\n", be->desc, be->needs_startup);
	if ((r = be_startup(be)) < 0) {
		fprintf(stderr, "startup: %s\n", strerror(-r));
		return 1;
	}
	printf("startup ok\n");
	if ((r = getrandom16(be, 0, a, &early)) < 0 || (r = getrandom16(be, 0, b, &early)) < 0) {
		fprintf(stderr, "GetRandom: %s\n", strerror(-r));
		return 1;
	}
	if (memcmp(a, b, sizeof(a)) == 0) {
		fprintf(stderr, "GetRandom returned the same bytes twice\n");
		return 1;
	}
	printf("getrandom ok (%d early wake-ups)\n", early);
	if ((r = no_stall(be)) < 0) {
		fprintf(stderr, "long command: %s\n", strerror(-r));
		return 1;
	}
	r = getrandom16(be, 3, a, &early);
	printf("locality 3: %s\n", r < 0 ? strerror(-r) : "ok");
	if (strncmp(argv[1], "device", 6) == 0 && r != -EOPNOTSUPP)
		return 1;
	be_close(be);
	return 0;
}
