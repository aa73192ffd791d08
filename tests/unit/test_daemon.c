/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_daemon.c: the frontends and the scheduler, end to end inside one
 * process: real loop, conn, instance, sched and rm over scripted fake
 * backends, with clients on socketpairs.  Framing, validation answers,
 * fairness, cancel, the mssim protocol, clients that misbehave, and two
 * TPM instances in one daemon.  Fair shares between users: the scheduler
 * runs on a fake clock that only the fake TPM's commands advance, so turns
 * are counted, never timed.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/proto.h"
#include "common/util.h"
#include "common/wire.h"
#include "daemon/backend.h"
#include "daemon/caps.h"
#include "daemon/conn.h"
#include "daemon/framer.h"
#include "daemon/instance.h"
#include "daemon/loop.h"
#include "daemon/policy.h"
#include "daemon/rm.h"
#include "daemon/sched.h"
#include "daemon/server.h"
#include "daemon/status.h"
#include "daemon/service.h"

/* ---- a fake backend: answers GetRandom with the requested count echoed ---- */

#define LOG_MAX 1024
#define COST_MAX 64

struct fake {
	uint8_t cmd[TB_BUF_MAX];
	size_t cmd_len;
	bool pending;
	bool hold;              /* don't complete until released */
	uint16_t log[LOG_MAX];  /* bytesRequested of each GetRandom seen */
	size_t n_log;
	unsigned cancels;
	uint8_t fill;           /* the random bytes it answers: tells TPMs apart */
	uint64_t cost_ns[COST_MAX]; /* GetRandom(n) takes cost_ns[n] of the fake clock */
	bool now_ok;            /* submit_now() runs commands at once (a libtpms) */
	uint64_t now_spin_ns;   /* ... and each takes this much real time */
	bool ran_now;           /* the pending command ran in submit_now() */
	unsigned n_now;         /* commands run in submit_now() */
};

/* The schedulers' clock: only the fake TPMs' work moves it. */
static uint64_t fake_now_ns;

static uint64_t
fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now_ns;
}

/* the shared instance's TPM; the two-instance test adds fake2 */
static struct fake fake, fake2;

static int
fake_open(struct backend *be, const char *args)
{
	(void)args;
	be->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	snprintf(be->desc, sizeof(be->desc), "fake");
	return be->fd < 0 ? -errno : 0;
}

static int
fake_submit(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct fake *f = be->priv;
	uint64_t one = 1;

	(void)locality;
	memcpy(f->cmd, cmd, len);
	f->cmd_len = len;
	f->pending = true;
	if (get_be32(cmd + 6) == TPM2_CC_GetRandom && f->n_log < LOG_MAX)
		f->log[f->n_log++] = get_be16(cmd + 10);
	if (get_be32(cmd + 6) == TPM2_CC_GetRandom && get_be16(cmd + 10) < COST_MAX)
		fake_now_ns += f->cost_ns[get_be16(cmd + 10)];
	if (!f->hold && write(be->fd, &one, sizeof(one)) != sizeof(one))
		return -EIO;
	return 0;
}

/* Like a libtpms: cheap commands (all, when now_ok) to their end at once. */
static int
fake_submit_now(struct backend *be, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct fake *f = be->priv;
	uint64_t until = now_ns() + f->now_spin_ns;

	(void)locality;
	if (!f->now_ok)
		return 0;
	assert_false(f->pending);
	memcpy(f->cmd, cmd, len);
	f->cmd_len = len;
	f->pending = true;
	f->ran_now = true;
	f->n_now++;
	if (get_be32(cmd + 6) == TPM2_CC_GetRandom && f->n_log < LOG_MAX)
		f->log[f->n_log++] = get_be16(cmd + 10);
	while (now_ns() < until) /* real time passes: the loop's budget */
		;
	return 1;
}

static void
fake_release(struct backend *be)
{
	struct fake *f = be->priv;
	uint64_t one = 1;

	f->hold = false;
	assert_int_equal(write(be->fd, &one, sizeof(one)), sizeof(one));
}

static int
fake_finish(struct backend *be, uint8_t *rsp, size_t cap, size_t *ret_len)
{
	struct fake *f = be->priv;
	uint64_t v;
	uint16_t n = get_be16(f->cmd + 10);

	if (f->ran_now)
		f->ran_now = false;
	else if (read(be->fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	assert_true(f->pending);
	f->pending = false;
	assert_true(cap >= 12u + n);
	wire_hdr_put(rsp, TPM2_ST_NO_SESSIONS, 12u + n, TPM2_RC_SUCCESS);
	put_be16(rsp + 10, n);
	memset(rsp + 12, f->fill, n);
	*ret_len = 12u + n;
	return 1;
}

static int
fake_cancel(struct backend *be)
{
	struct fake *f = be->priv;

	f->cancels++;
	return 0;
}

static void
fake_close(struct backend *be)
{
	(void)close(be->fd);
}

static const struct backend_ops fake_ops = {
	.name = "fake",
	.open = fake_open,
	.submit = fake_submit,
	.submit_now = fake_submit_now,
	.finish = fake_finish,
	.cancel = fake_cancel,
	.close = fake_close,
};

/* ---- a server around it ---- */

static struct server srv;
static TPMA_CC cc_table[] = { /* sorted by command code; cHandles 0 */
	TPM2_CC_Startup,
	TPM2_CC_Shutdown,
	TPM2_CC_GetRandom,
};

/* A TPM instance on a fake backend whose state is f. */
static struct tpm_instance *
fake_instance(const char *name, struct fake *f, uint8_t fill)
{
	struct instance_params ip = {
		.rm = {.max_objects_per_conn = 8, .max_sessions_per_conn = 8},
		.sched = {.backend_timeout_ms = srv.cfg.backend_timeout_ms, .now_ns = fake_clock},
	};
	struct backend *be = calloc(1, sizeof(*be));
	struct tpm_caps caps = {.n_cc = ARRAY_SIZE(cc_table), .max_command = TB_DEFAULT_MAX_MSG};
	struct tpm_instance *ti;

	memset(f, 0, sizeof(*f));
	f->fill = fill;
	assert_non_null(be);
	be->ops = &fake_ops;
	be->priv = f;
	assert_int_equal(fake_open(be, ""), 0);
	caps.cc = malloc(sizeof(cc_table));
	assert_non_null(caps.cc);
	memcpy(caps.cc, cc_table, sizeof(cc_table));
	assert_int_equal(instance_new(srv.loop, name, be, &caps, &ip, &ti), 0);
	return ti;
}

static int
setup(void **state)
{
	char *argv[] = {"tpmbrokerd", "--socket", "none", NULL};

	(void)state;
	memset(&srv, 0, sizeof(srv));
	optind = 0;
	assert_int_equal(cfg_parse(3, argv, &srv.cfg), 0);
	TAILQ_INIT(&srv.conns);
	srv.uid = geteuid();
	srv.render_status = status_render;
	assert_int_equal(loop_new(&srv.loop), 0);
	srv.inst[0] = fake_instance("shared", &fake, 0xab);
	srv.n_inst = 1;
	return 0;
}

static int
teardown(void **state)
{
	struct conn *c;

	(void)state;
	/* tests that played another uid: the per-uid connection count is the real one's */
	TAILQ_FOREACH(c, &srv.conns, entry)
		c->peer.uid = srv.uid;
	while ((c = TAILQ_FIRST(&srv.conns)) != NULL)
		conn_kill(c, "test end");
	for (int i = 0; i < 10; i++)
		(void)loop_run_once(srv.loop, 0);
	conn_linger_flush(&srv);
	for (size_t i = 0; i < srv.n_inst; i++)
		instance_free(srv.inst[i]);
	loop_free(srv.loop);
	return 0;
}

/* A client of instance ti: returns its socket; the daemon side becomes a conn. */
static int
client_of(struct tpm_instance *ti, const struct framer *fr)
{
	int sv[2];
	struct conn *c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fcntl_nonblock(sv[0]), 0);
	assert_int_equal(conn_new(&srv, ti, sv[0], fr, "unix:test", &c), 0);
	assert_non_null(c);
	return sv[1];
}

static int
client(const struct framer *fr)
{
	return client_of(srv.inst[0], fr);
}

static void
pump(int rounds)
{
	for (int i = 0; i < rounds; i++)
		(void)loop_run_once(srv.loop, 5);
}

static size_t
getrandom_cmd(uint8_t *buf, uint16_t n)
{
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	put_be16(buf + 10, n);
	return 12;
}

static void
send_frame(int fd, uint8_t type, const uint8_t *payload, size_t len)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = type, .len = (uint32_t)len};

	tb_hdr_pack(hdr, &h);
	assert_int_equal(write_all(fd, hdr, sizeof(hdr)), 0);
	if (len > 0)
		assert_int_equal(write_all(fd, payload, len), 0);
}

/* Pump the loop until a whole response frame arrived on fd. */
static size_t
recv_frame(int fd, uint8_t *type, uint8_t *buf, size_t cap)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h;
	size_t got = 0;

	for (int i = 0; i < 400 && got < sizeof(hdr); i++) {
		ssize_t n = recv(fd, hdr + got, sizeof(hdr) - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			pump(1);
	}
	assert_int_equal(got, sizeof(hdr));
	tb_hdr_unpack(hdr, &h);
	assert_int_equal(h.version, TB_PROTO_VERSION);
	assert_true(h.len <= cap);
	got = 0;
	for (int i = 0; i < 400 && got < h.len; i++) {
		ssize_t n = recv(fd, buf + got, h.len - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			pump(1);
	}
	assert_int_equal(got, h.len);
	*type = h.type;
	return h.len;
}

static uint32_t
roundtrip_rc(int fd, const uint8_t *cmd, size_t len)
{
	uint8_t rsp[TB_BUF_MAX], type;
	size_t n;

	send_frame(fd, TB_MSG_COMMAND, cmd, len);
	n = recv_frame(fd, &type, rsp, sizeof(rsp));
	assert_int_equal(type, TB_MSG_RESPONSE);
	return wire_response_rc(rsp, n);
}

static bool
peer_closed(int fd)
{
	uint8_t b;

	for (int i = 0; i < 100; i++) {
		ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
		if (n == 0)
			return true;
		pump(1);
	}
	return false;
}

/* ---- tests ---- */

static void
test_getrandom_roundtrip(void **state)
{
	int fd = client(&framer_tb);
	uint8_t cmd[12], rsp[64], type;
	size_t n;

	(void)state;
	send_frame(fd, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 8));
	n = recv_frame(fd, &type, rsp, sizeof(rsp));
	assert_int_equal(type, TB_MSG_RESPONSE);
	assert_int_equal(n, 20);
	assert_int_equal(wire_response_rc(rsp, n), 0);
	assert_int_equal(get_be16(rsp + 10), 8);
	close(fd);
}

static void
test_malformed_keep_connection(void **state)
{
	int fd = client(&framer_tb), other = client(&framer_tb);
	uint8_t cmd[64];

	(void)state;
	/* header size disagrees with the frame length */
	getrandom_cmd(cmd, 8);
	put_be32(cmd + 2, 20);
	assert_int_equal(roundtrip_rc(fd, cmd, 12), 0x000B0142);
	/* shorter than a header */
	assert_int_equal(roundtrip_rc(fd, cmd, 6), 0x000B0142);
	/* empty command */
	assert_int_equal(roundtrip_rc(fd, cmd, 0), 0x000B0142);
	/* bad tag */
	getrandom_cmd(cmd, 8);
	put_be16(cmd, 0x8003);
	assert_int_equal(roundtrip_rc(fd, cmd, 12), 0x000B001E);
	/* command code the TPM does not have */
	getrandom_cmd(cmd, 8);
	put_be32(cmd + 6, 0x20000999);
	assert_int_equal(roundtrip_rc(fd, cmd, 12), 0x000B0143);
	put_be32(cmd + 6, TPM2_CC_Clear);
	assert_int_equal(roundtrip_rc(fd, cmd, 12), 0x000B0143);
	/* nothing reached the TPM, and both connections still work */
	assert_int_equal(fake.n_log, 0);
	assert_int_equal(roundtrip_rc(fd, cmd, getrandom_cmd(cmd, 4)), 0);
	assert_int_equal(roundtrip_rc(other, cmd, getrandom_cmd(cmd, 4)), 0);
	assert_int_equal(fake.n_log, 2);
	close(fd);
	close(other);
}

static void
test_framing_lost_closes(void **state)
{
	int fd = client(&framer_tb), other = client(&framer_tb);
	uint8_t hdr[TB_PROTO_HDR_SIZE], rsp[64], cmd[12], type;
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND,
			       .len = TB_PROTO_MAX_PAYLOAD + 1};

	(void)state;
	tb_hdr_pack(hdr, &h);
	assert_int_equal(write_all(fd, hdr, sizeof(hdr)), 0);
	assert_int_equal(recv_frame(fd, &type, rsp, sizeof(rsp)), 10);
	assert_int_equal(wire_response_rc(rsp, 10), 0x000B0142);
	assert_true(peer_closed(fd));
	close(fd);

	fd = client(&framer_tb);
	h = (struct tb_msg_hdr){.version = 7, .type = TB_MSG_COMMAND, .len = 12};
	tb_hdr_pack(hdr, &h);
	assert_int_equal(write_all(fd, hdr, sizeof(hdr)), 0);
	assert_int_equal(recv_frame(fd, &type, rsp, sizeof(rsp)), 10);
	assert_int_equal(wire_response_rc(rsp, 10), 0x000B001E);
	assert_true(peer_closed(fd));
	close(fd);

	assert_int_equal(roundtrip_rc(other, cmd, getrandom_cmd(cmd, 4)), 0);
	close(other);
}

static void
test_fair_turns(void **state)
{
	int fds[3];
	uint8_t cmd[12], rsp[64], type;

	(void)state;
	for (int i = 0; i < 3; i++)
		fds[i] = client(&framer_tb);
	/* client 0 pipelines 6 commands before the others send 2 each */
	for (int k = 0; k < 6; k++)
		send_frame(fds[0], TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 1));
	for (int i = 1; i < 3; i++)
		for (int k = 0; k < 2; k++)
			send_frame(fds[i], TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, (uint16_t)(i + 1)));
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < (i == 0 ? 6 : 2); k++) {
			size_t n = recv_frame(fds[i], &type, rsp, sizeof(rsp));
			assert_int_equal(wire_response_rc(rsp, n), 0);
			assert_int_equal(get_be16(rsp + 10), i + 1);
		}
	assert_int_equal(fake.n_log, 10);
	/*
	 * Round robin: while others wait, nobody goes twice in a row; so the
	 * two other clients are served within the first 6 commands.
	 */
	for (size_t j = 1; j < 6; j++)
		assert_int_not_equal(fake.log[j], fake.log[j - 1]);
	for (size_t j = 6; j < 10; j++)
		assert_int_equal(fake.log[j], 1);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

static void
test_cancel_queued(void **state)
{
	int a = client(&framer_tb), b = client(&framer_tb);
	uint8_t cmd[12], rsp[64], type;
	size_t n;

	(void)state;
	fake.hold = true;
	send_frame(a, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 1));
	pump(3);
	send_frame(b, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 2));
	pump(3);
	/* b waits behind a: cancel takes it off the queue */
	send_frame(b, TB_MSG_CANCEL, NULL, 0);
	n = recv_frame(b, &type, rsp, sizeof(rsp));
	assert_int_equal(wire_response_rc(rsp, n), 0x000B0909);
	/* a is at the TPM: cancel goes to the backend, answer comes as usual */
	send_frame(a, TB_MSG_CANCEL, NULL, 0);
	pump(3);
	assert_int_equal(fake.cancels, 1);
	fake_release(srv.inst[0]->be);
	n = recv_frame(a, &type, rsp, sizeof(rsp));
	assert_int_equal(wire_response_rc(rsp, n), 0);
	assert_int_equal(fake.n_log, 1);
	close(a);
	close(b);
}

static void
test_client_gone_midway(void **state)
{
	int a = client(&framer_tb), b = client(&framer_tb), c = client(&framer_tb);
	uint8_t cmd[12], half[TB_PROTO_HDR_SIZE + 12];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND, .len = 12};

	(void)state;
	/* a sends half a command and leaves */
	tb_hdr_pack(half, &h);
	getrandom_cmd(half + TB_PROTO_HDR_SIZE, 1);
	assert_int_equal(write_all(a, half, TB_PROTO_HDR_SIZE + 5), 0);
	pump(2);
	close(a);
	/* b sends a command and never reads the answer, then leaves while it runs */
	fake.hold = true;
	send_frame(b, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 2));
	pump(3);
	close(b);
	pump(3);
	fake_release(srv.inst[0]->be);
	pump(3);
	/* c is served */
	assert_int_equal(roundtrip_rc(c, cmd, getrandom_cmd(cmd, 3)), 0);
	assert_int_equal(srv.n_conns, 1);
	close(c);
}

static void
test_status(void **state)
{
	int fd = client(&framer_tb);
	uint8_t rsp[TB_BUF_MAX], type, hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_STATUS,
			       .flags = TB_STATUS_FLAG_JSON};
	size_t n;

	(void)state;
	tb_hdr_pack(hdr, &h);
	assert_int_equal(write_all(fd, hdr, sizeof(hdr)), 0);
	n = recv_frame(fd, &type, rsp, sizeof(rsp) - 1);
	assert_int_equal(type, TB_MSG_STATUS);
	rsp[n] = '\0';
	assert_non_null(strstr((char *)rsp, "\"connections\": [{\"id\""));
	assert_non_null(strstr((char *)rsp, "\"backend\": \"fake\""));
	close(fd);
}

/* ---- service requests (service.h) ---- */

static struct svc_req *held_req; /* the echo service's request, answered by the test */

static void
echo_later(struct server *s, struct svc_req *r)
{
	(void)s;
	assert_null(held_req);
	assert_true(r->peer.uid_known);
	assert_int_equal(r->peer.uid, geteuid());
	assert_ptr_equal(r->inst, srv.inst[0]);
	held_req = r;
}

/* A service request's reply: its type, rc, then the body. */
static uint32_t
service_rc(int fd, uint8_t want_type, uint8_t *body, size_t cap, size_t *body_len)
{
	uint8_t rsp[256], type;
	size_t n = recv_frame(fd, &type, rsp, sizeof(rsp));

	assert_int_equal(type, want_type);
	assert_true(n >= 4);
	assert_true(n - 4 <= cap);
	memcpy(body, rsp + 4, n - 4);
	*body_len = n - 4;
	return get_be32(rsp);
}

static void
test_service_unknown(void **state)
{
	svc_fn old = svc_set_handler(TB_MSG_QUOTE, NULL);
	int fd = client(&framer_tb);
	uint8_t body[16], cmd[12];
	size_t n;

	(void)state;
	send_frame(fd, TB_MSG_QUOTE, (const uint8_t *)"abc", 3);
	assert_int_equal(service_rc(fd, TB_MSG_QUOTE, body, sizeof(body), &n), 0x000B0143);
	assert_int_equal(n, 0);
	/* the stream is still in step */
	assert_int_equal(roundtrip_rc(fd, cmd, getrandom_cmd(cmd, 4)), 0);
	svc_set_handler(TB_MSG_QUOTE, old);
	close(fd);
}

static void
test_service_async(void **state)
{
	svc_fn old = svc_set_handler(TB_MSG_MEASURE, echo_later);
	int a = client(&framer_tb), b = client(&framer_tb);
	uint8_t body[16], cmd[12], big[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_MEASURE,
			       .len = TB_PROTO_MAX_REQUEST + 1};
	size_t n;

	(void)state;
	/* answered later: the client waits; a second frame waits its turn */
	send_frame(a, TB_MSG_MEASURE, (const uint8_t *)"hello", 5);
	pump(3);
	assert_non_null(held_req);
	assert_int_equal(held_req->len, 5);
	send_frame(a, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 4));
	pump(3);
	svc_reply(held_req, 0, held_req->data, held_req->len);
	held_req = NULL;
	assert_int_equal(service_rc(a, TB_MSG_MEASURE, body, sizeof(body), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(body, "hello", 5);
	uint8_t rsp[64], type;
	(void)recv_frame(a, &type, rsp, sizeof(rsp));
	assert_int_equal(type, TB_MSG_RESPONSE);
	assert_int_equal(wire_response_rc(rsp, 20), 0);

	/* the client leaves before the answer: the answer goes nowhere, nothing leaks */
	send_frame(b, TB_MSG_MEASURE, (const uint8_t *)"bye", 3);
	pump(3);
	assert_non_null(held_req);
	close(b);
	pump(3);
	assert_int_equal(srv.n_conns, 1);
	svc_reply(held_req, 0, "x", 1);
	held_req = NULL;

	/* a request over the limit loses framing: answered, then closed */
	tb_hdr_pack(big, &h);
	assert_int_equal(write_all(a, big, sizeof(big)), 0);
	(void)recv_frame(a, &type, rsp, sizeof(rsp));
	assert_int_equal(type, TB_MSG_RESPONSE);
	assert_int_equal(wire_response_rc(rsp, 10), 0x000B0000u | TPM2_RC_COMMAND_SIZE);
	assert_true(peer_closed(a));
	svc_set_handler(TB_MSG_MEASURE, old);
	close(a);
}

/* mssim: SEND_COMMAND framing, handshake, platform port acks */
static void
test_mssim(void **state)
{
	int fd = client(&framer_mssim_tpm), plat = client(&framer_mssim_platform);
	uint8_t buf[64], rsp[64];
	size_t got = 0;

	(void)state;
	put_be32(buf, 1); /* POWER_ON */
	assert_int_equal(write_all(plat, buf, 4), 0);
	put_be32(buf, 11); /* NV_ON */
	assert_int_equal(write_all(plat, buf, 4), 0);
	for (int i = 0; i < 200 && got < 8; i++) {
		ssize_t n = recv(plat, rsp + got, 8 - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			pump(1);
	}
	assert_int_equal(got, 8);
	assert_int_equal(get_be32(rsp), 0);
	assert_int_equal(get_be32(rsp + 4), 0);

	put_be32(buf, 8); /* SEND_COMMAND */
	buf[4] = 0;
	put_be32(buf + 5, 12);
	getrandom_cmd(buf + 9, 5);
	assert_int_equal(write_all(fd, buf, 21), 0);
	got = 0;
	for (int i = 0; i < 200 && got < 4 + 17 + 4; i++) {
		ssize_t n = recv(fd, rsp + got, 25 - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			pump(1);
	}
	assert_int_equal(got, 25);
	assert_int_equal(get_be32(rsp), 17);
	assert_int_equal(wire_response_rc(rsp + 4, 17), 0);
	assert_int_equal(get_be32(rsp + 21), 0);

	/* a bad command keeps the connection; an oversized frame closes it */
	put_be32(buf + 5, 12);
	getrandom_cmd(buf + 9, 5);
	put_be16(buf + 9, 0x1234);
	assert_int_equal(write_all(fd, buf, 21), 0);
	got = 0;
	for (int i = 0; i < 200 && got < 18; i++) {
		ssize_t n = recv(fd, rsp + got, 18 - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			pump(1);
	}
	assert_int_equal(got, 18);
	assert_int_equal(get_be32(rsp), 10);
	assert_int_equal(wire_response_rc(rsp + 4, 10), 0x000B001E);
	put_be32(buf + 5, 100000);
	assert_int_equal(write_all(fd, buf, 9), 0);
	got = 0;
	for (int i = 0; i < 200 && got < 18; i++) {
		ssize_t n = recv(fd, rsp + got, 18 - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			pump(1);
	}
	assert_int_equal(got, 18);
	assert_int_equal(wire_response_rc(rsp + 4, 10), 0x000B0142);
	assert_true(peer_closed(fd));
	close(fd);
	close(plat);
}

/*
 * A CANCEL frame that cannot be trusted (a length, a bad version) behind a
 * running command: the command's response still arrives, then the error
 * for the bad frame, then the connection closes (framing is lost).  It used
 * to drop the connection without the command's response.
 */
static void
test_bad_cancel_while_busy(void **state)
{
	int a = client(&framer_tb), b = client(&framer_tb);
	uint8_t cmd[12], rsp[64], type, hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr bad[] = {
		{.version = TB_PROTO_VERSION, .type = TB_MSG_CANCEL, .len = 5},
		{.version = 9, .type = TB_MSG_CANCEL},
	};
	size_t n;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		fake.hold = true;
		send_frame(a, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 6));
		pump(3);
		tb_hdr_pack(hdr, &bad[i]);
		assert_int_equal(write_all(a, hdr, sizeof(hdr)), 0);
		pump(3);
		fake_release(srv.inst[0]->be);
		n = recv_frame(a, &type, rsp, sizeof(rsp));
		assert_int_equal(type, TB_MSG_RESPONSE);
		assert_int_equal(wire_response_rc(rsp, n), 0);
		assert_int_equal(get_be16(rsp + 10), 6);
		n = recv_frame(a, &type, rsp, sizeof(rsp));
		assert_int_equal(wire_response_rc(rsp, n),
				 i == 0 ? 0x000B0142 : 0x000B001E);
		assert_true(peer_closed(a));
		close(a);
		a = client(&framer_tb);
	}
	/* others were never disturbed */
	assert_int_equal(roundtrip_rc(b, cmd, getrandom_cmd(cmd, 2)), 0);
	close(a);
	close(b);
}

/* Half a frame and then silence: dropped after --read-timeout; a slow but whole frame is served. */
static void
test_partial_frame_timeout(void **state)
{
	int slow = client(&framer_tb), stuck = client(&framer_tb), other = client(&framer_tb);
	uint8_t frame[TB_PROTO_HDR_SIZE + 12], rsp[64], type;
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND, .len = 12};
	size_t n;

	(void)state;
	srv.cfg.read_timeout_ms = 200;
	tb_hdr_pack(frame, &h);
	getrandom_cmd(frame + TB_PROTO_HDR_SIZE, 3);
	/* stuck: half a frame, then nothing */
	assert_int_equal(write_all(stuck, frame, TB_PROTO_HDR_SIZE + 5), 0);
	/* slow: half now, the rest within the timeout */
	assert_int_equal(write_all(slow, frame, TB_PROTO_HDR_SIZE + 5), 0);
	pump(10); /* about 50 ms */
	assert_int_equal(write_all(slow, frame + TB_PROTO_HDR_SIZE + 5, 7), 0);
	n = recv_frame(slow, &type, rsp, sizeof(rsp));
	assert_int_equal(wire_response_rc(rsp, n), 0);
	for (int i = 0; i < 100 && !peer_closed(stuck); i++)
		;
	assert_true(peer_closed(stuck));
	assert_int_equal(srv.st.frames_bad, 1);
	/* the others are served, and the slow one is not dropped later */
	assert_int_equal(roundtrip_rc(other, frame + TB_PROTO_HDR_SIZE, 12), 0);
	assert_int_equal(roundtrip_rc(slow, frame + TB_PROTO_HDR_SIZE, 12), 0);
	close(slow);
	close(stuck);
	close(other);
}

static void recv_random(int fd, uint16_t *n, uint8_t *fill);

/*
 * A slow TPM is not a reset: a command the TPM does not answer within
 * --backend-timeout is cancelled and its client answered 0x000B0909 at
 * once; nothing else goes to the TPM until it answers; then the others'
 * commands (and the same client's next one) run, and nothing was reset.
 */
static void
test_slow_tpm(void **state)
{
	struct tpm_instance *slow;
	struct sched_stats st;
	struct rm_stats rs;
	uint8_t cmd[12], rsp[64], type;
	uint16_t n;
	uint8_t fill;
	size_t len;
	int a, b;

	(void)state;
	srv.cfg.backend_timeout_ms = 100;
	slow = fake_instance("slow", &fake2, 0xcd);
	srv.inst[srv.n_inst++] = slow;
	a = client_of(slow, &framer_tb);
	b = client_of(slow, &framer_tb);
	fake2.hold = true;
	send_frame(a, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 5));
	len = recv_frame(a, &type, rsp, sizeof(rsp)); /* within about 100 ms */
	assert_int_equal(wire_response_rc(rsp, len), 0x000B0909);
	assert_int_equal(fake2.cancels, 1);
	/* its next command and another client's wait: the TPM still has the first */
	send_frame(a, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 6));
	send_frame(b, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 7));
	pump(20);
	assert_int_equal(fake2.n_log, 1);
	sched_get_stats(slow->sched, &st);
	assert_true(st.busy);
	assert_int_equal(st.timeouts, 1);
	/* the TPM answers at last: its answer is nobody's; the others run */
	fake_release(slow->be);
	recv_random(b, &n, &fill);
	assert_int_equal(n, 7);
	recv_random(a, &n, &fill);
	assert_int_equal(n, 6);
	assert_int_equal(fake2.n_log, 3);
	rm_get_stats(slow->rm, &rs);
	assert_int_equal(rs.tpm_startups, 0);
	close(a);
	close(b);
}

/* ---- status counters: each event moves exactly its counters ---- */

#define MAX_CTRS 64

struct ctrs {
	char key[MAX_CTRS][40];
	uint64_t val[MAX_CTRS];
	size_t n;
};

/* The daemon's "counters" object, as key/value pairs (true/false as 1/0). */
static void
read_counters(struct ctrs *out)
{
	char *text = NULL, *p, *end;
	size_t len = 0;

	assert_int_equal(status_render(&srv, STATUS_JSON, &text, &len), 0);
	p = strstr(text, "\"counters\": {");
	assert_non_null(p);
	p += strlen("\"counters\": {");
	end = strchr(p, '}');
	assert_non_null(end);
	out->n = 0;
	while (p < end) {
		char *q = strchr(p, '"'), *k;
		if (q == NULL || q > end)
			break;
		k = q + 1;
		q = strchr(k, '"');
		assert_true(out->n < MAX_CTRS && (size_t)(q - k) < sizeof(out->key[0]));
		memcpy(out->key[out->n], k, (size_t)(q - k));
		out->key[out->n][q - k] = '\0';
		p = q + 3; /* '": ' */
		if (strncmp(p, "true", 4) == 0)
			out->val[out->n] = 1;
		else if (strncmp(p, "false", 5) == 0)
			out->val[out->n] = 0;
		else
			out->val[out->n] = strtoull(p, NULL, 10);
		out->n++;
		p = strchr(p, ',');
		if (p == NULL)
			break;
	}
	free(text);
	assert_true(out->n > 20);
}

/*
 * Between a and b, exactly the counters named in moved (NULL-terminated)
 * went up by one ("-name": down by one, a gauge).  Durations ("..._us":
 * inline_max_us, the longest inline command) are measures, not counts: a
 * loaded machine moves them; test_inline_budget checks that one.
 */
static void
assert_moved(const struct ctrs *a, const struct ctrs *b, const char *const *moved)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		uint64_t want = a->val[i];
		size_t kl = strlen(a->key[i]);

		assert_string_equal(a->key[i], b->key[i]);
		if (kl > 3 && strcmp(a->key[i] + kl - 3, "_us") == 0)
			continue;
		for (size_t m = 0; moved[m] != NULL; m++) {
			if (strcmp(moved[m], a->key[i]) == 0)
				want++;
			else if (moved[m][0] == '-' && strcmp(moved[m] + 1, a->key[i]) == 0)
				want--;
		}
		if (b->val[i] != want)
			fail_msg("counter %s: %llu -> %llu, expected %llu", a->key[i],
				 (unsigned long long)a->val[i], (unsigned long long)b->val[i],
				 (unsigned long long)want);
	}
}

static void
test_status_counters(void **state)
{
	static const char *const cmd_only[] = {"commands", "broker_answers", NULL};
	static const char *const unknown[] = {"commands", "broker_answers", "rm_errors", NULL};
	static const char *const malformed[] = {"bad_frames", "broker_answers", NULL};
	static const char *const cancel[] = {"cancels", "broker_answers", "-queued", NULL};
	static const char *const denied[] = {"status_denied", "broker_answers", NULL};
	static const char *const to_tpm[] = {"commands", "tpm_commands", NULL};
	struct conn *other = NULL, *c;
	struct ctrs a, b;
	uint8_t cmd[64], rsp[TB_BUF_MAX], type;
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr sh = {.version = TB_PROTO_VERSION, .type = TB_MSG_STATUS};
	int fd = client(&framer_tb), busy = client(&framer_tb), nosy = client(&framer_tb);
	size_t n;

	(void)state;
	/* Startup and Shutdown: answered by the broker, never sent to the TPM */
	read_counters(&a);
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_Startup);
	put_be16(cmd + 10, TPM2_SU_CLEAR);
	assert_int_equal(roundtrip_rc(fd, cmd, 12), TPM2_RC_INITIALIZE);
	read_counters(&b);
	assert_moved(&a, &b, cmd_only);
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_Shutdown);
	assert_int_equal(roundtrip_rc(fd, cmd, 12), 0);
	read_counters(&a);
	assert_moved(&b, &a, cmd_only);
	/* a command the TPM does not have */
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 10, TPM2_CC_Clear);
	assert_int_equal(roundtrip_rc(fd, cmd, 10), 0x000B0143);
	read_counters(&b);
	assert_moved(&a, &b, unknown);
	/* a malformed command (its size disagrees with the frame) */
	getrandom_cmd(cmd, 8);
	put_be32(cmd + 2, 20);
	assert_int_equal(roundtrip_rc(fd, cmd, 12), 0x000B0142);
	read_counters(&a);
	assert_moved(&b, &a, malformed);
	/* a command to the TPM */
	assert_int_equal(roundtrip_rc(fd, cmd, getrandom_cmd(cmd, 4)), 0);
	read_counters(&b);
	assert_moved(&a, &b, to_tpm);
	/* cancel of a queued command: busy holds the TPM, fd waits behind it */
	fake.hold = true;
	send_frame(busy, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 1));
	pump(3);
	send_frame(fd, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 2));
	pump(3);
	read_counters(&a);
	send_frame(fd, TB_MSG_CANCEL, NULL, 0);
	n = recv_frame(fd, &type, rsp, sizeof(rsp));
	assert_int_equal(wire_response_rc(rsp, n), 0x000B0909);
	read_counters(&b);
	assert_moved(&a, &b, cancel);
	fake_release(srv.inst[0]->be);
	n = recv_frame(busy, &type, rsp, sizeof(rsp));
	assert_int_equal(wire_response_rc(rsp, n), 0);
	/* a status request from a peer that is neither root nor the daemon's uid */
	TAILQ_FOREACH(c, &srv.conns, entry)
		other = c; /* the last one: nosy's */
	assert_non_null(other);
	other->peer.uid = 4242;
	read_counters(&a);
	tb_hdr_pack(hdr, &sh);
	assert_int_equal(write_all(nosy, hdr, sizeof(hdr)), 0);
	n = recv_frame(nosy, &type, rsp, sizeof(rsp));
	assert_int_equal(type, TB_MSG_RESPONSE);
	assert_int_equal(wire_response_rc(rsp, n), TB_RC_DENIED);
	read_counters(&b);
	assert_moved(&a, &b, denied);
	close(fd);
	close(busy);
	close(nosy);
}

/* Receive a GetRandom answer on fd: its byte count and fill byte. */
static void
recv_random(int fd, uint16_t *n, uint8_t *fill)
{
	uint8_t rsp[64], type;
	size_t len = recv_frame(fd, &type, rsp, sizeof(rsp));

	assert_int_equal(type, TB_MSG_RESPONSE);
	assert_int_equal(wire_response_rc(rsp, len), 0);
	*n = get_be16(rsp + 10);
	assert_int_equal(len, 12u + *n);
	*fill = *n > 0 ? rsp[12] : 0;
	for (uint16_t i = 0; i < *n; i++)
		assert_int_equal(rsp[12 + i], *fill);
}

/*
 * Two instances in one daemon: a client sees only its own instance's TPM;
 * one TPM held busy does not hold up the other; within each instance the
 * turns stay round robin; and a client's close flushes on its own instance.
 */
static void
test_two_instances(void **state)
{
	struct tpm_instance *priv;
	int a[2], b[2];
	uint8_t cmd[12], fill;
	uint16_t n;
	struct sched_stats sa, sb;

	(void)state;
	priv = fake_instance("private", &fake2, 0xcd);
	srv.inst[srv.n_inst++] = priv;
	for (int i = 0; i < 2; i++) {
		a[i] = client(&framer_tb);
		b[i] = client_of(priv, &framer_tb);
	}
	/* the shared TPM is busy with a[0]'s command; a[1] waits behind it */
	fake.hold = true;
	send_frame(a[0], TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 10));
	pump(3);
	send_frame(a[1], TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 11));
	pump(3);
	/* meanwhile the private instance serves its clients, fairly */
	for (int k = 0; k < 4; k++)
		send_frame(b[0], TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 20));
	for (int k = 0; k < 2; k++)
		send_frame(b[1], TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 21));
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < (i == 0 ? 4 : 2); k++) {
			recv_random(b[i], &n, &fill);
			assert_int_equal(n, 20 + i);
			assert_int_equal(fill, 0xcd);
		}
	assert_int_equal(fake2.n_log, 6);
	for (size_t j = 1; j < 4; j++)
		assert_int_not_equal(fake2.log[j], fake2.log[j - 1]);
	/* the shared TPM saw nothing of them, and still holds a[0]'s command */
	assert_int_equal(fake.n_log, 1);
	assert_int_equal(fake.log[0], 10);
	sched_get_stats(srv.inst[0]->sched, &sa);
	sched_get_stats(priv->sched, &sb);
	assert_true(sa.busy);
	assert_int_equal(sa.queued, 1);
	assert_false(sb.busy);
	assert_int_equal(sb.jobs, 6);
	assert_int_equal(priv->n_conns, 2);
	assert_int_equal(srv.inst[0]->n_conns, 2);
	/* released: the shared TPM's clients get their answers, from their TPM */
	fake_release(srv.inst[0]->be);
	for (int i = 0; i < 2; i++) {
		recv_random(a[i], &n, &fill);
		assert_int_equal(n, 10 + i);
		assert_int_equal(fill, 0xab);
	}
	assert_int_equal(fake.n_log, 2);
	assert_int_equal(fake2.n_log, 6);
	/* a private client leaves: counted off its own instance only */
	close(b[1]);
	pump(5);
	assert_int_equal(priv->n_conns, 1);
	assert_int_equal(srv.inst[0]->n_conns, 2);
	sched_get_stats(srv.inst[0]->sched, &sa);
	assert_int_equal(sa.jobs, 2);
	for (int i = 0; i < 2; i++)
		close(a[i]);
	close(b[0]);
}

/* ---- fair shares: users, weights, TPM time, priority classes ---- */

#define UID_A 5001
#define UID_B 5002

/* Profiles "a" (uid A) and "b" (uid B) with these shares, then one for everyone else. */
static void
share_profiles(const char *wa, const char *pa, const char *wb, const char *pb)
{
	const char *names[] = {"a", "b"}, *uids[] = {"5001", "5002"};
	const char *w[] = {wa, wb}, *pr[] = {pa, pb};
	struct profile *p;
	char err[160];

	memset(&srv.cfg.policy, 0, sizeof(srv.cfg.policy));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(policy_add(&srv.cfg.policy, names[i], 1, &p, err, sizeof(err)), 0);
		assert_int_equal(policy_set(p, "match-uid", uids[i], err, sizeof(err)), 0);
		assert_int_equal(policy_set(p, "weight", w[i], err, sizeof(err)), 0);
		assert_int_equal(policy_set(p, "priority", pr[i], err, sizeof(err)), 0);
	}
	assert_int_equal(policy_add(&srv.cfg.policy, "rest", 1, &p, err, sizeof(err)), 0);
	assert_int_equal(policy_set(p, "match", "*", err, sizeof(err)), 0);
}

/* A client whose peer is uid (as SO_PEERCRED would say), matched again. */
static int
client_as(uid_t uid)
{
	int fd = client(&framer_tb);
	struct conn *c = TAILQ_LAST(&srv.conns, conn_list);

	c->peer.uid = uid;
	conn_rematch_all(&srv);
	assert_string_equal(c->profile->name, uid == UID_A ? "a" : "b");
	return fd;
}

/* k GetRandom(n) commands in one write (one by one, a socketpair holds too few) */
static void
pipeline(int fd, unsigned k, uint16_t n)
{
	uint8_t buf[200 * (TB_PROTO_HDR_SIZE + 12)], *p = buf;
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND, .len = 12};

	assert_true(k <= 200);
	for (unsigned i = 0; i < k; i++, p += TB_PROTO_HDR_SIZE + 12) {
		tb_hdr_pack(p, &h);
		getrandom_cmd(p + TB_PROTO_HDR_SIZE, n);
	}
	assert_int_equal(write_all(fd, buf, (size_t)(p - buf)), 0);
}

static void
drain(int fd, unsigned k, uint16_t want)
{
	uint8_t fill;
	uint16_t n;

	for (unsigned i = 0; i < k; i++) {
		recv_random(fd, &n, &fill);
		assert_int_equal(n, want);
	}
}

/* GetRandom(n) commands among the TPM's commands [from, to) */
static unsigned
turns(size_t from, size_t to, uint16_t n)
{
	unsigned k = 0;

	for (size_t i = from; i < to && i < fake.n_log; i++)
		k += fake.log[i] == n;
	return k;
}

/* User A with 8 connections, B with 1, all pipelining: B gets about half the turns. */
static void
test_share_users(void **state)
{
	int a[8], b;
	unsigned nb;

	(void)state;
	share_profiles("1", "normal", "1", "normal");
	for (int i = 0; i < 8; i++)
		a[i] = client_as(UID_A);
	b = client_as(UID_B);
	for (int i = 0; i < 8; i++)
		pipeline(a[i], 12, 1);
	pipeline(b, 48, 2);
	for (int i = 0; i < 8; i++)
		drain(a[i], 12, 1);
	drain(b, 48, 2);
	assert_int_equal(fake.n_log, 8 * 12 + 48);
	/* while both wait: round robin over connections would give B 64 / 9 = 7 */
	nb = turns(0, 64, 2);
	if (nb < 26 || nb > 38)
		fail_msg("B had %u of the first 64 turns, expected about 32", nb);
	for (int i = 0; i < 8; i++)
		close(a[i]);
	close(b);
}

/* Weight 3 against weight 1, two connections each: 3 turns to 1. */
static void
test_share_weight(void **state)
{
	int a[2], b[2];
	unsigned na, nb;

	(void)state;
	share_profiles("3", "normal", "1", "normal");
	for (int i = 0; i < 2; i++) {
		a[i] = client_as(UID_A);
		b[i] = client_as(UID_B);
	}
	for (int i = 0; i < 2; i++) {
		pipeline(a[i], 40, 1);
		pipeline(b[i], 40, 2);
	}
	for (int i = 0; i < 2; i++) {
		drain(a[i], 40, 1);
		drain(b[i], 40, 2);
	}
	na = turns(0, 60, 1);
	nb = turns(0, 60, 2);
	if (2 * na < 5 * nb || 2 * na > 7 * nb)
		fail_msg("weight 3 had %u turns, weight 1 %u: expected 3 to 1", na, nb);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
}

/*
 * A's commands take 300 ms, B's 1 ms: turns are charged by time, so B runs
 * about 300 commands for each of A's (round robin: 1 for 4).
 */
static void
test_share_time(void **state)
{
	int a[4], b;
	unsigned na;

	(void)state;
	share_profiles("1", "normal", "1", "normal");
	fake.cost_ns[9] = 300 * 1000000ull;
	fake.cost_ns[2] = 1000000ull;
	for (int i = 0; i < 4; i++)
		a[i] = client_as(UID_A);
	b = client_as(UID_B);
	for (int i = 0; i < 4; i++)
		pipeline(a[i], 3, 9);
	pipeline(b, 150, 2);
	for (int i = 0; i < 4; i++)
		drain(a[i], 3, 9);
	drain(b, 150, 2);
	assert_int_equal(fake.n_log, 12 + 150);
	na = turns(0, 100, 9);
	if (na > 2)
		fail_msg("A's 300 ms commands had %u of the first 100 turns, expected at most 2", na);
	for (int i = 0; i < 4; i++)
		close(a[i]);
	close(b);
}

/*
 * B sends one command at a time: between its answer and its next command
 * nothing of B's is queued.  The TPM waits that moment for B rather than
 * start another of A's 300 ms commands, as long as B is owed time.
 */
static void
test_share_hold(void **state)
{
	int a[4], b;
	uint8_t cmd[12];
	size_t first, last;
	unsigned na;

	(void)state;
	share_profiles("1", "normal", "1", "normal");
	fake.cost_ns[9] = 300 * 1000000ull;
	fake.cost_ns[2] = 1000000ull;
	for (int i = 0; i < 4; i++)
		a[i] = client_as(UID_A);
	b = client_as(UID_B);
	fake.hold = true;
	for (int i = 0; i < 4; i++)
		pipeline(a[i], 10, 9);
	pump(3);
	first = fake.n_log;
	for (int k = 0; k < 20; k++) {
		send_frame(b, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 2));
		if (k == 0) {
			pump(3);
			fake_release(srv.inst[0]->be);
		}
		drain(b, 1, 2);
	}
	last = fake.n_log;
	na = turns(first, last, 9);
	if (na > 3)
		fail_msg("A had %u turns while B sent 20 commands one by one, expected at most 3", na);
	for (int i = 0; i < 4; i++)
		drain(a[i], 10, 9);
	for (int i = 0; i < 4; i++)
		close(a[i]);
	close(b);
}

/*
 * Aging lifts a user over higher classes only: a user of the same class
 * that waits because it ran up 600 ms of TPM time is not lifted over the
 * user catching up after 200 ms.
 */
static void
test_share_no_self_aging(void **state)
{
	int a[2], b;
	unsigned na;
	struct sched_stats st;

	(void)state;
	share_profiles("1", "normal", "1", "normal");
	fake.cost_ns[9] = 600 * 1000000ull;
	fake.cost_ns[2] = 2 * 1000000ull;
	for (int i = 0; i < 2; i++)
		a[i] = client_as(UID_A);
	b = client_as(UID_B);
	fake.hold = true;
	for (int i = 0; i < 2; i++)
		pipeline(a[i], 2, 9);
	pump(3);
	pipeline(b, 200, 2);
	pump(3);
	fake_release(srv.inst[0]->be);
	drain(b, 200, 2);
	for (int i = 0; i < 2; i++)
		drain(a[i], 2, 9);
	na = turns(0, 201, 9);
	if (na != 1)
		fail_msg("A had %u of the first 201 turns, expected 1 (B catches up for 600 ms)", na);
	sched_get_stats(srv.inst[0]->sched, &st);
	assert_int_equal(st.aged, 0);
	for (int i = 0; i < 2; i++)
		close(a[i]);
	close(b);
}

/* An interactive command queued behind 20 bulk ones runs next. */
static void
test_prio_interactive_first(void **state)
{
	int a[20], b;

	(void)state;
	share_profiles("1", "bulk", "1", "interactive");
	for (int i = 0; i < 20; i++)
		a[i] = client_as(UID_A);
	b = client_as(UID_B);
	fake.hold = true;
	for (int i = 0; i < 20; i++)
		pipeline(a[i], 1, 1);
	pump(3);
	pipeline(b, 1, 2);
	pump(3);
	fake_release(srv.inst[0]->be);
	drain(b, 1, 2);
	for (int i = 0; i < 20; i++)
		drain(a[i], 1, 1);
	assert_int_equal(fake.n_log, 21);
	assert_int_equal(fake.log[0], 1);
	assert_int_equal(fake.log[1], 2);
	for (int i = 0; i < 20; i++)
		close(a[i]);
	close(b);
}

/*
 * A backend that runs cheap commands at once (libtpms): the client is
 * answered with no trip through the backend's fd, and status counts them.
 * The loop spends at most its budget (0.5 ms) of one dispatch round on
 * them: three commands queued behind a held one, each taking 0.6 ms of real
 * time at once, run one at once and the next through submit() (the loop's
 * other fds get their turn), and every client is answered in order.
 */
static void
test_inline_budget(void **state)
{
	int a = client(&framer_tb), b = client(&framer_tb), c = client(&framer_tb), d;
	uint8_t cmd[12], rsp[64], type;
	struct ctrs c0, c1;
	struct sched_stats st;

	(void)state;
	fake.now_ok = true;
	read_counters(&c0);
	assert_int_equal(roundtrip_rc(a, cmd, getrandom_cmd(cmd, 1)), 0);
	read_counters(&c1);
	assert_moved(&c0, &c1, (const char *const[]){"commands", "tpm_commands", "inline_commands",
						    NULL});
	assert_int_equal(fake.n_now, 1);

	/* a command at the worker, three behind it */
	fake.now_ok = false;
	fake.hold = true;
	d = client(&framer_tb);
	send_frame(d, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 2));
	pump(3);
	send_frame(a, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 3));
	send_frame(b, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 4));
	send_frame(c, TB_MSG_COMMAND, cmd, getrandom_cmd(cmd, 5));
	pump(3);
	assert_int_equal(fake.n_log, 2);
	fake.now_ok = true;
	fake.now_spin_ns = 600 * 1000ull;
	fake_release(srv.inst[0]->be);
	/* one round: d's answer, a's command at once, b's to submit(); c's after b's */
	(void)loop_run_once(srv.loop, 1000);
	assert_int_equal(fake.n_now, 2);
	assert_int_equal(fake.n_log, 4);
	assert_true(fake.pending && !fake.ran_now); /* b's, through submit() */
	assert_int_equal(recv_frame(d, &type, rsp, sizeof(rsp)), 12 + 2);
	assert_int_equal(recv_frame(a, &type, rsp, sizeof(rsp)), 12 + 3);
	assert_int_equal(recv_frame(b, &type, rsp, sizeof(rsp)), 12 + 4);
	assert_int_equal(recv_frame(c, &type, rsp, sizeof(rsp)), 12 + 5);
	assert_int_equal(fake.n_log, 5);
	assert_int_equal(fake.log[2], 3);
	assert_int_equal(fake.log[3], 4);
	assert_int_equal(fake.log[4], 5);
	sched_get_stats(srv.inst[0]->sched, &st);
	assert_int_equal(st.inline_cmds, fake.n_now);
	assert_true(st.inline_max_us >= 600);
	close(a);
	close(b);
	close(c);
	close(d);
}

/*
 * A bulk command behind a stream of interactive ones (10 ms each) waits
 * while the stream goes on, but rises a class per 200 ms waited: it runs
 * after 400 ms, about 40 commands, never later.
 */
static void
test_prio_aging(void **state)
{
	int a, b[4];
	size_t pos = 0;
	struct sched_stats st;

	(void)state;
	share_profiles("1", "bulk", "1", "interactive");
	fake.cost_ns[2] = 10 * 1000000ull;
	a = client_as(UID_A);
	for (int i = 0; i < 4; i++)
		b[i] = client_as(UID_B);
	fake.hold = true;
	for (int i = 0; i < 4; i++)
		pipeline(b[i], 100, 2);
	pump(3);
	pipeline(a, 1, 1);
	pump(3);
	fake_release(srv.inst[0]->be);
	drain(a, 1, 1);
	for (int i = 0; i < 4; i++)
		drain(b[i], 100, 2);
	assert_int_equal(fake.n_log, 401);
	while (pos < fake.n_log && fake.log[pos] != 1)
		pos++;
	if (pos < 38 || pos > 44)
		fail_msg("the bulk command ran after %zu interactive ones, expected about 41", pos);
	sched_get_stats(srv.inst[0]->sched, &st);
	assert_int_equal(st.aged, 1);
	close(a);
	for (int i = 0; i < 4; i++)
		close(b[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_getrandom_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_keep_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framing_lost_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_cancel_while_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_frame_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_tpm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fair_turns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_gone_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mssim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_weight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_no_self_aging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prio_interactive_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prio_aging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_budget, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
