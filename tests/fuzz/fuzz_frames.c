/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_frames: arbitrary bytes from a client, on the Unix (tpmbroker) and
 * the mssim frontends, through the real loop, framers, conn, instance, sched and rm over a
 * backend that answers every command.  Whatever the bytes, the daemon must
 * not crash, hang or leak, and must keep serving a well-behaved client.
 *
 * Built as a libFuzzer target by `make fuzz` (scripts/fuzz.sh: clang,
 * -Dfuzz=true, ASan+UBSan); otherwise a replay main() runs every file named
 * on the command line (the corpus), the way systemd does, so
 * `meson test --suite fuzz` replays the corpus.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/proto.h"
#include "common/util.h"
#include "common/wire.h"
#include "daemon/backend.h"
#include "daemon/caps.h"
#include "daemon/conn.h"
#include "daemon/framer.h"
#include "daemon/instance.h"
#include "daemon/loop.h"
#include "daemon/rm.h"
#include "daemon/server.h"
#include "daemon/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t fz_cmd[TB_BUF_MAX];

static int
fz_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	uint64_t one = 1;

	(void)locality;
	memcpy(fz_cmd, cmd, len);
	return write(be->fd, &one, sizeof(one)) == sizeof(one) ? 0 : -EIO;
}

static int
fz_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	uint64_t v;

	if (read(be->fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	(void)cap;
	*ret_len = wire_rc_response(rsp, cap, TPM2_RC_SUCCESS);
	return 1;
}

static void
fz_close(struct backend *be)
{
	(void)close(be->fd);
}

static const struct backend_ops fz_ops = {
	.name = "fuzz", .submit = fz_submit, .finish = fz_finish, .close = fz_close,
};

static TPMA_CC fz_cc[] = {TPM2_CC_GetRandom, TPM2_CC_PCR_Extend | (1u << TPMA_CC_CHANDLES_SHIFT)};

/*
 * status: rendered in full once per input (every format the input asks
 * first), then a short text: a real rendering costs about a millisecond
 * under the sanitizers, and inputs that asked for it dozens of times ran
 * at a third of the rate, for no new coverage (the replies' framing is
 * what is under test here).
 */
static unsigned fz_status_calls;

static int
fz_render(struct server *srv, int fmt, char **ret, size_t *ret_len)
{
	if (fz_status_calls++ == 0)
		return status_render(srv, fmt, ret, ret_len);
	if ((*ret = strdup("status again\n")) == NULL)
		return -ENOMEM;
	*ret_len = strlen(*ret);
	return 0;
}

static void
pump(struct server *srv, int rounds)
{
	for (int i = 0; i < rounds; i++)
		(void)loop_run_once(srv->loop, 0);
}

static void
run_one(const uint8_t *data, size_t size, const struct framer *fr)
{
	static char *argv[] = {"tpmbrokerd", "--socket", "none", NULL};
	struct server srv;
	struct backend *be = calloc(1, sizeof(*be));
	struct instance_params ip = {.rm = {.max_objects_per_conn = 4, .max_sessions_per_conn = 4},
				     .sched = {.backend_timeout_ms = 1000}};
	struct tpm_caps caps = {.n_cc = 2, .max_command = TB_DEFAULT_MAX_MSG};
	struct tpm_instance *ti;
	struct conn *c, *good;
	int sv[2], gv[2];
	uint8_t buf[256], cmd[12];
	size_t off = 0;

	memset(&srv, 0, sizeof(srv));
	optind = 0;
	if (cfg_parse(3, argv, &srv.cfg) != 0)
		abort();
	TAILQ_INIT(&srv.conns);
	srv.uid = geteuid();
	srv.render_status = fz_render;
	fz_status_calls = 0;
	caps.cc = malloc(sizeof(fz_cc));
	if (be == NULL || caps.cc == NULL)
		abort();
	memcpy(caps.cc, fz_cc, sizeof(fz_cc));
	be->ops = &fz_ops;
	be->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	snprintf(be->desc, sizeof(be->desc), "fuzz");
	if (be->fd < 0 || loop_new(&srv.loop) < 0 ||
	    instance_new(srv.loop, "shared", be, &caps, &ip, &ti) < 0)
		abort();
	srv.inst[0] = ti;
	srv.n_inst = 1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gv) < 0 ||
	    fcntl_nonblock(sv[0]) < 0 || fcntl_nonblock(gv[0]) < 0 || fcntl_nonblock(sv[1]) < 0 ||
	    conn_new(&srv, ti, sv[0], fr, "fuzz", &c) < 0 || c == NULL ||
	    conn_new(&srv, ti, gv[0], &framer_tb, "fuzz", &good) < 0 || good == NULL)
		abort();
	/* feed the bytes in chunks, draining whatever the daemon answers */
	while (off < size) {
		ssize_t n = send(sv[1], data + off, MIN(size - off, (size_t)512), MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
		pump(&srv, 4);
		while (recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
	pump(&srv, 8);
	/* a well-behaved client on the same daemon is still served */
	{
		struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND, .len = 12};
		uint8_t frame[20];
		ssize_t got = 0;

		tb_hdr_pack(frame, &h);
		wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
		put_be16(cmd + 10, 1);
		memcpy(frame + 8, cmd, 12);
		if (write_all(gv[1], frame, sizeof(frame)) < 0)
			abort();
		for (int i = 0; i < 1000 && got < 18; i++) {
			ssize_t n;
			pump(&srv, 1);
			n = recv(gv[1], buf + got, sizeof(buf) - (size_t)got, MSG_DONTWAIT);
			if (n > 0)
				got += n;
		}
		if (got != 18 || get_be32(buf + 8 + 6) != 0) {
			fprintf(stderr, "fuzz_frames: the good client was not served\n");
			abort();
		}
	}
	close(sv[1]);
	close(gv[1]);
	pump(&srv, 4);
	while ((c = TAILQ_FIRST(&srv.conns)) != NULL)
		conn_kill(c, "end");
	pump(&srv, 4);
	conn_linger_flush(&srv);
	instance_free(ti);
	loop_free(srv.loop);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* first byte picks the frontend */
	if (size < 1)
		return 0;
	run_one(data + 1, size - 1,
		data[0] % 3 == 0   ? &framer_tb
		: data[0] % 3 == 1 ? &framer_mssim_tpm
				   : &framer_mssim_platform);
	return 0;
}
