/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_backends.c: each backend against a fake peer: swtpm and mssim
 * against fake servers on loopback (threads) that check the framing and
 * dribble answers a byte at a time; libtpms for real in a temp state dir
 * (persistence across power cycles and reopen, one instance per process,
 * the state-dir lock); the device backend's argument and error paths.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/wire.h"
#include "daemon/backend.h"

/* ---- loopback listeners ---- */

static int
listen_any(unsigned *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* two listeners on consecutive ports (P, P+1), as simulators use */
static void
listen_pair(int fds[2], unsigned *port)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		unsigned p;
		fds[0] = listen_any(&p);
		fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons((uint16_t)(p + 1));
		if (bind(fds[1], (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fds[1], 8) == 0) {
			*port = p;
			return;
		}
		close(fds[0]);
		close(fds[1]);
	}
	fail_msg("no port pair");
}

static const uint8_t getrandom_rsp[] = {0x80, 0x01, 0, 0, 0, 0x10, 0, 0, 0, 0,
					0, 4, 0xde, 0xad, 0xbe, 0xef};

/* wait for be->fd and finish(); counts the calls that returned 0 */
static int
finish_wait(struct backend *be, uint8_t *rsp, size_t cap, size_t *len, int *partials)
{
	for (int i = 0; i < 2000; i++) {
		struct pollfd p = {.fd = be->fd, .events = POLLIN};
		int r;
		(void)poll(&p, 1, 1000);
		r = be->ops->finish(be, rsp, cap, len);
		if (r != 0)
			return r;
		(*partials)++;
	}
	return -ETIMEDOUT;
}

/* ---- fake swtpm: data port answers GetRandom byte by byte; ctrl records ---- */

struct fake_swtpm {
	int lfd[2];
	unsigned port;
	uint32_t ctrl_cmds[8];
	uint8_t ctrl_arg[8];
	int n_ctrl;
	int bad_size;    /* answer with a garbage size field */
	int close_early; /* close instead of answering */
};

static void *
fake_swtpm_ctrl(void *arg)
{
	struct fake_swtpm *f = arg;

	for (;;) {
		uint8_t buf[8], ok[4] = {0};
		int c = accept(f->lfd[1], NULL, NULL);
		if (c < 0)
			return NULL;
		if (read_all(c, buf, 4) == 0) {
			uint32_t cmd = get_be32(buf);
			if (cmd == 0x05)
				(void)read_all(c, buf + 4, 1);
			if (cmd == 0x02)
				(void)read_all(c, buf + 4, 4);
			f->ctrl_arg[f->n_ctrl & 7] = buf[4];
			f->ctrl_cmds[f->n_ctrl++ & 7] = cmd;
			(void)write_all(c, ok, 4);
		}
		close(c);
	}
}

static void *
fake_swtpm_data(void *arg)
{
	struct fake_swtpm *f = arg;
	int c = accept(f->lfd[0], NULL, NULL);
	uint8_t cmd[64];

	while (c >= 0 && read_all(c, cmd, 10) == 0) {
		uint32_t size = get_be32(cmd + 2);
		if (size > 10 && read_all(c, cmd + 10, size - 10) < 0)
			break;
		if (f->close_early)
			break;
		if (f->bad_size) {
			uint8_t bad[10] = {0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
			(void)write_all(c, bad, sizeof(bad));
			continue;
		}
		for (size_t i = 0; i < sizeof(getrandom_rsp); i++) {
			(void)write_all(c, getrandom_rsp + i, 1);
			usleep(200);
		}
	}
	if (c >= 0)
		close(c);
	return NULL;
}

static void
getrandom_cmd(uint8_t *c)
{
	wire_hdr_put(c, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	put_be16(c + 10, 4);
}

static void
test_swtpm(void **state)
{
	struct fake_swtpm f = {0};
	pthread_t td, tc;
	struct backend *be;
	char spec[64];
	uint8_t cmd[12], rsp[64];
	size_t len;
	int partials = 0;

	(void)state;
	listen_pair(f.lfd, &f.port);
	pthread_create(&tc, NULL, fake_swtpm_ctrl, &f);
	pthread_create(&td, NULL, fake_swtpm_data, &f);
	snprintf(spec, sizeof(spec), "swtpm:host=127.0.0.1,port=%u", f.port);
	assert_int_equal(be_open(spec, &be), 0);
	assert_string_equal(be->ops->name, "swtpm");
	getrandom_cmd(cmd);
	/* locality 0 needs no control exchange */
	assert_int_equal(be->ops->submit(be, cmd, 12, 0), 0);
	assert_int_equal(finish_wait(be, rsp, sizeof(rsp), &len, &partials), 1);
	assert_int_equal(len, sizeof(getrandom_rsp));
	assert_memory_equal(rsp, getrandom_rsp, len);
	assert_true(partials > 0); /* it really was resumed across short reads */
	assert_int_equal(f.n_ctrl, 0);
	/* locality 3: one SET_LOCALITY first; again 3: none */
	assert_int_equal(be->ops->submit(be, cmd, 12, 3), 0);
	assert_int_equal(finish_wait(be, rsp, sizeof(rsp), &len, &partials), 1);
	assert_int_equal(be->ops->submit(be, cmd, 12, 3), 0);
	assert_int_equal(finish_wait(be, rsp, sizeof(rsp), &len, &partials), 1);
	assert_int_equal(f.n_ctrl, 1);
	assert_int_equal(f.ctrl_cmds[0], 0x05);
	assert_int_equal(f.ctrl_arg[0], 3);
	/* cancel and power cycle go to the control port */
	assert_int_equal(be->ops->cancel(be), 0);
	assert_int_equal(be->ops->power_cycle(be), 0);
	assert_int_equal(f.ctrl_cmds[1], 0x09);
	assert_int_equal(f.ctrl_cmds[2], 0x02);
	assert_true(be->needs_startup);
	/* a response whose size field is garbage is refused, not trusted */
	f.bad_size = 1;
	assert_int_equal(be->ops->submit(be, cmd, 12, 3), 0);
	assert_int_equal(finish_wait(be, rsp, sizeof(rsp), &len, &partials), -EBADMSG);
	/* the peer hangs up mid-command: an error, not a hang */
	f.bad_size = 0;
	f.close_early = 1;
	assert_int_equal(be->ops->submit(be, cmd, 12, 3), 0);
	assert_int_equal(finish_wait(be, rsp, sizeof(rsp), &len, &partials), -EPIPE);
	be_close(be);
	shutdown(f.lfd[0], SHUT_RDWR);
	shutdown(f.lfd[1], SHUT_RDWR);
	close(f.lfd[0]);
	close(f.lfd[1]);
	pthread_join(td, NULL);
	pthread_join(tc, NULL);
}

/* ---- fake mssim ---- */

struct fake_mssim {
	int lfd[2];
	unsigned port;
	uint32_t signals[8];
	int n_signals;
	uint8_t locality;
};

static void *
fake_mssim_platform(void *arg)
{
	struct fake_mssim *f = arg;
	int c = accept(f->lfd[1], NULL, NULL);
	uint8_t buf[4], ok[4] = {0};

	while (c >= 0 && read_all(c, buf, 4) == 0) {
		f->signals[f->n_signals++ & 7] = get_be32(buf);
		(void)write_all(c, ok, 4);
	}
	if (c >= 0)
		close(c);
	return NULL;
}

static void *
fake_mssim_tpm(void *arg)
{
	struct fake_mssim *f = arg;
	int c = accept(f->lfd[0], NULL, NULL);
	uint8_t head[9], cmd[64], out[4];

	while (c >= 0 && read_all(c, head, 4) == 0 && get_be32(head) == 8 &&
	       read_all(c, head + 4, 5) == 0) {
		uint32_t size = get_be32(head + 5);
		if (size > sizeof(cmd) || read_all(c, cmd, size) < 0)
			break;
		f->locality = head[4];
		put_be32(out, sizeof(getrandom_rsp));
		(void)write_all(c, out, 4);
		for (size_t i = 0; i < sizeof(getrandom_rsp); i++) {
			(void)write_all(c, getrandom_rsp + i, 1);
			usleep(200);
		}
		put_be32(out, 0);
		(void)write_all(c, out, 4);
	}
	if (c >= 0)
		close(c);
	return NULL;
}

static void
test_mssim(void **state)
{
	struct fake_mssim f = {0};
	pthread_t tt, tp;
	struct backend *be;
	char spec[64];
	uint8_t cmd[12], rsp[64];
	size_t len;
	int partials = 0;

	(void)state;
	listen_pair(f.lfd, &f.port);
	pthread_create(&tp, NULL, fake_mssim_platform, &f);
	pthread_create(&tt, NULL, fake_mssim_tpm, &f);
	snprintf(spec, sizeof(spec), "mssim:host=127.0.0.1,port=%u", f.port);
	assert_int_equal(be_open(spec, &be), 0);
	/* powered on and NV enabled, and the daemon is told to start the TPM */
	assert_int_equal(f.n_signals, 2);
	assert_int_equal(f.signals[0], 1);
	assert_int_equal(f.signals[1], 11);
	assert_true(be->needs_startup);
	getrandom_cmd(cmd);
	assert_int_equal(be->ops->submit(be, cmd, 12, 2), 0);
	assert_int_equal(finish_wait(be, rsp, sizeof(rsp), &len, &partials), 1);
	assert_int_equal(len, sizeof(getrandom_rsp));
	assert_memory_equal(rsp, getrandom_rsp, len);
	assert_int_equal(f.locality, 2);
	assert_true(partials > 0);
	be_close(be);
	close(f.lfd[0]);
	close(f.lfd[1]);
	pthread_join(tt, NULL);
	pthread_join(tp, NULL);
}

/* ---- libtpms, for real ---- */

static uint32_t
transact_rc(struct backend *be, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t *rlen)
{
	assert_int_equal(be_transact(be, cmd, len, rsp, TB_BUF_MAX, rlen, 60000), 0);
	return wire_response_rc(rsp, *rlen);
}

/* NV_DefineSpace(owner, index 0x01500001, 8 bytes, ownerread|ownerwrite) */
static size_t
nv_define_cmd(uint8_t *b)
{
	struct wire_cur c;

	wire_cur_init(&c, b, 128);
	assert_int_equal(wire_put_u16(&c, TPM2_ST_SESSIONS), 0);
	assert_int_equal(wire_put_u32(&c, 0), 0); /* size, patched below */
	assert_int_equal(wire_put_u32(&c, TPM2_CC_NV_DefineSpace), 0);
	assert_int_equal(wire_put_u32(&c, TPM2_RH_OWNER), 0);
	/* password session, empty auth */
	assert_int_equal(wire_put_u32(&c, 9), 0);
	assert_int_equal(wire_put_u32(&c, TPM2_RS_PW), 0);
	assert_int_equal(wire_put_u16(&c, 0), 0);
	assert_int_equal(wire_put_u8(&c, 0), 0);
	assert_int_equal(wire_put_u16(&c, 0), 0);
	assert_int_equal(wire_put_u16(&c, 0), 0); /* auth of the index */
	/* TPM2B_NV_PUBLIC */
	assert_int_equal(wire_put_u16(&c, 14), 0);
	assert_int_equal(wire_put_u32(&c, 0x01500001), 0);
	assert_int_equal(wire_put_u16(&c, TPM2_ALG_SHA256), 0);
	assert_int_equal(wire_put_u32(&c, TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD), 0);
	assert_int_equal(wire_put_u16(&c, 0), 0);
	assert_int_equal(wire_put_u16(&c, 8), 0);
	put_be32(b + 2, (uint32_t)c.off);
	return c.off;
}

static bool
nv_exists(struct backend *be)
{
	uint8_t cmd[14], rsp[TB_BUF_MAX];
	size_t rlen;

	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 14, TPM2_CC_NV_ReadPublic);
	put_be32(cmd + 10, 0x01500001);
	return transact_rc(be, cmd, sizeof(cmd), rsp, &rlen) == TPM2_RC_SUCCESS;
}

static void
test_libtpms(void **state)
{
	char dir[] = "/tmp/tbtest-libtpms.XXXXXX", spec[128];
	struct backend *be, *be2;
	uint8_t cmd[128], rsp[TB_BUF_MAX];
	size_t len, rlen;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "libtpms:state=%s/tpm", dir);
	assert_int_equal(be_open(spec, &be), 0);
	assert_true(be->needs_startup);
	assert_int_equal(be_startup(be), 0);
	/* one embedded TPM per process */
	assert_int_equal(be_open(spec, &be2), -EBUSY);
	/* GetRandom */
	getrandom_cmd(cmd);
	assert_int_equal(transact_rc(be, cmd, 12, rsp, &rlen), 0);
	assert_int_equal(rlen, 16);
	/* an NV index survives a power cycle and a close/reopen */
	assert_false(nv_exists(be));
	len = nv_define_cmd(cmd);
	assert_int_equal(transact_rc(be, cmd, len, rsp, &rlen), 0);
	assert_true(nv_exists(be));
	assert_int_equal(be->ops->power_cycle(be), 0);
	assert_int_equal(be_startup(be), 0);
	assert_true(nv_exists(be));
	be_close(be);
	assert_int_equal(be_open(spec, &be), 0);
	assert_int_equal(be_startup(be), 0);
	assert_true(nv_exists(be));
	be_close(be);
	/* unknown argument */
	assert_int_equal(be_open("libtpms:bogus=1", &be), -EINVAL);
	snprintf(spec, sizeof(spec), "rm -rf %s", dir);
	assert_int_equal(system(spec), 0);
}

static void
test_device(void **state)
{
	struct backend *be;
	uint8_t cmd[12], rsp[64];
	size_t len;

	(void)state;
	assert_int_equal(be_open("device:/nonexistent/tpm", &be), -ENOENT);
	assert_int_equal(be_open("device:relative", &be), -EINVAL);
	/* /dev/null stands in for a device that answers garbage */
	assert_int_equal(be_open("device:/dev/null", &be), 0);
	getrandom_cmd(cmd);
	assert_int_equal(be->ops->submit(be, cmd, 12, 1), -EOPNOTSUPP);
	assert_int_equal(be->ops->submit(be, cmd, 12, 0), 0);
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &len), -EBADMSG);
	be_close(be);
	assert_int_equal(be_open("nosuch:x", &be), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swtpm),
		cmocka_unit_test(test_mssim),
		cmocka_unit_test(test_libtpms),
		cmocka_unit_test(test_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
