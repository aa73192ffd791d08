/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_tcti.c: the TCTI plugin against a fake tpmbrokerd, a thread serving
 * one connection on a temporary Unix socket with a scripted behaviour
 * (answer, stay silent, answer in two halves, hang up mid-frame, send
 * garbage) and recording every frame it reads.
 *
 * Built twice (tests/unit/meson.build): "tcti" compiles the plugin's source
 * in, so the sanitizer build instruments it; "tcti-so" (-DTEST_TCTI_SO)
 * runs the same tests against the shipped libtss2-tcti-tpmbroker.so.0,
 * found the way libtss2-tctildr finds it, plus tests of what it exports.
 *
 * cmocka asserts only in the main thread; the fake records, the test
 * checks after fake_finish() has joined it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tcti_tpmbroker.h>
#include <tss2/tss2_tctildr.h>

#include "common/proto.h"
#include "common/util.h"

/* the plugin under test: compiled in, or the .so's Tss2_Tcti_Info()->init */
static TSS2_TCTI_INIT_FUNC tcti_init;
static const TSS2_TCTI_INFO *tcti_info;

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
#define MAX_REC 8

static const uint8_t cmd_getrandom[12] = {0x80, 0x01, 0x00, 0x00, 0x00, 0x0c,
					  0x00, 0x00, 0x01, 0x7b, 0x00, 0x08};
static const uint8_t rsp_random[20] = {0x80, 0x01, 0x00, 0x00, 0x00, 0x14, 0x00,
				       0x00, 0x00, 0x00, 0x00, 0x08, 1,    2,
				       3,    4,    5,    6,    7,    8};
static const uint8_t rsp_canceled[10] = {0x80, 0x01, 0x00, 0x00, 0x00,
					 0x0a, 0x00, 0x0b, 0x09, 0x09};

enum fake_mode {
	FAKE_ECHO,        /* every COMMAND answered with rsp_random */
	FAKE_SILENT,      /* frames recorded, never answered */
	FAKE_SPLIT,       /* frame header and 5 bytes, the rest once released */
	FAKE_HANGUP_MID,  /* frame header and 5 bytes, then close */
	FAKE_HANGUP,      /* close on the first COMMAND */
	FAKE_BAD_VERSION, /* answer with protocol version 2 */
	FAKE_BAD_TYPE,    /* answer with a STATUS frame */
	FAKE_SIZE_LIE,    /* first answer's TPM size field lies, later ones do not */
	FAKE_CANCEL,      /* answer only a CANCEL, with TPM_RC_CANCELED */
};

struct rec {
	uint8_t raw[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h;
	uint8_t data[64];
};

struct fake {
	char dir[32];
	char path[SUN_PATH_MAX];
	enum fake_mode mode;
	int lfd;     /* listening socket, owned */
	int stop[2]; /* test -> thread: give up whatever you wait for */
	int go[2];   /* test -> thread: send FAKE_SPLIT's second half */
	pthread_t thr;
	bool started;
	/* written by the thread, read by the test only after the join */
	struct rec rec[MAX_REC];
	size_t nrec;
	bool accepted;
};

struct tc {
	struct fake f;
	TSS2_TCTI_CONTEXT *ctx; /* owned */
	bool inited;
};

/* 0: fd readable (preferred, so nothing sent before a stop is lost); -1: stop */
static int
fake_wait(struct fake *f, int fd)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = f->stop[0], .events = POLLIN}};

	for (;;) {
		int r = poll(p, 2, -1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (p[0].revents != 0)
			return 0;
		return -1;
	}
}

static int
fake_read(struct fake *f, int fd, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (fake_wait(f, fd) < 0)
			return -1;
		n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
fake_send(int fd, uint8_t version, uint8_t type, const uint8_t *payload, uint32_t len,
	  size_t send_len)
{
	uint8_t buf[TB_PROTO_HDR_SIZE + 64];
	struct tb_msg_hdr h = {.version = version, .type = type, .len = len};

	tb_hdr_pack(buf, &h);
	memcpy(buf + TB_PROTO_HDR_SIZE, payload, len);
	return write_all(fd, buf, send_len);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	_cleanup_(closep) int fd = -1;
	const size_t full = TB_PROTO_HDR_SIZE + sizeof(rsp_random);
	unsigned answered = 0;

	if (fake_wait(f, f->lfd) < 0)
		return NULL;
	fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	f->accepted = true;
	for (;;) {
		uint8_t data[TB_PROTO_MAX_PAYLOAD];
		uint8_t hdr[TB_PROTO_HDR_SIZE];
		struct tb_msg_hdr h;
		uint8_t lie[sizeof(rsp_random)];

		if (fake_read(f, fd, hdr, sizeof(hdr)) < 0)
			break;
		tb_hdr_unpack(hdr, &h);
		if (h.len > sizeof(data) || fake_read(f, fd, data, h.len) < 0)
			break;
		if (f->nrec < MAX_REC) {
			struct rec *r = &f->rec[f->nrec++];

			memcpy(r->raw, hdr, sizeof(hdr));
			r->h = h;
			memcpy(r->data, data, MIN(h.len, sizeof(r->data)));
		}
		if (h.type == TB_MSG_CANCEL && f->mode == FAKE_CANCEL) {
			if (fake_send(fd, 1, TB_MSG_RESPONSE, rsp_canceled, sizeof(rsp_canceled),
				      TB_PROTO_HDR_SIZE + sizeof(rsp_canceled)) < 0)
				break;
			continue;
		}
		if (h.type != TB_MSG_COMMAND)
			continue;
		switch (f->mode) {
		case FAKE_ECHO:
			if (fake_send(fd, 1, TB_MSG_RESPONSE, rsp_random, sizeof(rsp_random),
				      full) < 0)
				return NULL;
			break;
		case FAKE_SILENT:
		case FAKE_CANCEL:
			break;
		case FAKE_SPLIT: {
			uint8_t b[TB_PROTO_HDR_SIZE + sizeof(rsp_random)];
			struct tb_msg_hdr rh = {.version = 1, .type = TB_MSG_RESPONSE,
						.len = sizeof(rsp_random)};

			tb_hdr_pack(b, &rh);
			memcpy(b + TB_PROTO_HDR_SIZE, rsp_random, sizeof(rsp_random));
			if (write_all(fd, b, TB_PROTO_HDR_SIZE + 5) < 0 ||
			    fake_wait(f, f->go[0]) < 0 ||
			    write_all(fd, b + TB_PROTO_HDR_SIZE + 5, sizeof(rsp_random) - 5) < 0)
				return NULL;
			break;
		}
		case FAKE_HANGUP_MID:
			(void)fake_send(fd, 1, TB_MSG_RESPONSE, rsp_random, sizeof(rsp_random),
					TB_PROTO_HDR_SIZE + 5);
			return NULL;
		case FAKE_HANGUP:
			return NULL;
		case FAKE_BAD_VERSION:
			if (fake_send(fd, 2, TB_MSG_RESPONSE, rsp_random, sizeof(rsp_random),
				      full) < 0)
				return NULL;
			break;
		case FAKE_BAD_TYPE:
			if (fake_send(fd, 1, TB_MSG_STATUS, rsp_random, sizeof(rsp_random),
				      full) < 0)
				return NULL;
			break;
		case FAKE_SIZE_LIE:
			memcpy(lie, rsp_random, sizeof(lie));
			if (answered++ == 0)
				lie[5] = 0x13; /* says 19, the frame has 20 */
			if (fake_send(fd, 1, TB_MSG_RESPONSE, lie, sizeof(lie), full) < 0)
				return NULL;
			break;
		}
	}
	return NULL;
}

static void
fake_start(struct tc *tc, enum fake_mode mode)
{
	tc->f.mode = mode;
	assert_int_equal(pthread_create(&tc->f.thr, NULL, fake_main, &tc->f), 0);
	tc->f.started = true;
}

static void
tcti_close(struct tc *tc)
{
	if (tc->inited)
		Tss2_Tcti_Finalize(tc->ctx);
	tc->inited = false;
}

/* The TCTI hangs up, the fake reads to EOF and ends: its records are final. */
static void
fake_finish(struct tc *tc)
{
	tcti_close(tc);
	if (tc->f.started) {
		(void)pthread_join(tc->f.thr, NULL);
		tc->f.started = false;
	}
}

static void
on_alarm(int sig)
{
	static const char msg[] = "test_tcti: a test blocked for 20 s: the TCTI hangs\n";

	(void)sig;
	(void)write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

static int
setup(void **state)
{
	struct tc *tc = calloc(1, sizeof(*tc));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t size = 0;

	if (tc == NULL)
		return -1;
	/* a hang is a failure: the TCTI must never block past its timeout */
	alarm(20);
	strcpy(tc->f.dir, "/tmp/tb-tcti-XXXXXX");
	if (mkdtemp(tc->f.dir) == NULL)
		return -1;
	snprintf(tc->f.path, sizeof(tc->f.path), "%s/s.sock", tc->f.dir);
	strcpy(sa.sun_path, tc->f.path);
	tc->f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tc->f.lfd < 0 || bind(tc->f.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(tc->f.lfd, 4) < 0)
		return -1;
	if (pipe2(tc->f.stop, O_CLOEXEC) < 0 || pipe2(tc->f.go, O_CLOEXEC) < 0)
		return -1;
	if (tcti_init(NULL, &size, NULL) != TSS2_RC_SUCCESS ||
	    (tc->ctx = calloc(1, size)) == NULL)
		return -1;
	*state = tc;
	return 0;
}

static int
teardown(void **state)
{
	struct tc *tc = *state;

	if (tc->f.started)
		(void)write(tc->f.stop[1], "x", 1);
	fake_finish(tc);
	(void)close(tc->f.lfd);
	(void)close(tc->f.stop[0]);
	(void)close(tc->f.stop[1]);
	(void)close(tc->f.go[0]);
	(void)close(tc->f.go[1]);
	(void)unlink(tc->f.path);
	(void)rmdir(tc->f.dir);
	free(tc->ctx);
	free(tc);
	/* a failed assert skips a test's own unsetenv() */
	unsetenv("TSS2_LOG");
	unsetenv(TB_SOCKET_ENV);
	alarm(0);
	return 0;
}

static TSS2_RC
tcti_open(struct tc *tc, const char *conf)
{
	size_t size = 0;
	TSS2_RC rc;

	assert_int_equal(tcti_init(NULL, &size, NULL), TSS2_RC_SUCCESS);
	rc = tcti_init(tc->ctx, &size, conf);
	tc->inited = rc == TSS2_RC_SUCCESS;
	return rc;
}

/* "path=<the fake's socket>" */
static const char *
conf_path(struct tc *tc)
{
	static char conf[SUN_PATH_MAX + 8];

	snprintf(conf, sizeof(conf), "path=%s", tc->f.path);
	return conf;
}

static void
open_fake(struct tc *tc, enum fake_mode mode)
{
	fake_start(tc, mode);
	assert_int_equal(tcti_open(tc, conf_path(tc)), TSS2_RC_SUCCESS);
}

static void
roundtrip(struct tc *tc)
{
	uint8_t rsp[64];
	size_t size = sizeof(rsp);

	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, TSS2_TCTI_TIMEOUT_BLOCK),
			 TSS2_RC_SUCCESS);
	assert_int_equal(size, sizeof(rsp_random));
	assert_memory_equal(rsp, rsp_random, sizeof(rsp_random));
}

/* tcti_open(conf) with stderr caught: returns what it wrote (static buffer). */
static const char *
stderr_of(struct tc *tc, const char *conf, TSS2_RC *ret_rc)
{
	static char out[1024];
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	*ret_rc = tcti_open(tc, conf);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	(void)close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof(out) - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return out;
}

static void
test_init_size(void **state)
{
	struct tc *tc = *state;
	size_t size = 0;

	assert_int_equal(tcti_init(NULL, &size, NULL), TSS2_RC_SUCCESS);
	assert_true(size >= sizeof(TSS2_TCTI_CONTEXT_COMMON_V2));
	assert_int_equal(tcti_init(NULL, NULL, NULL), TSS2_TCTI_RC_BAD_VALUE);
	assert_int_equal(tcti_init(tc->ctx, NULL, NULL), TSS2_TCTI_RC_BAD_VALUE);
	size--;
	assert_int_equal(tcti_init(tc->ctx, &size, conf_path(tc)),
			 TSS2_TCTI_RC_INSUFFICIENT_BUFFER);
}

static void
test_info(void **state)
{
	(void)state;
	assert_non_null(tcti_info);
	assert_int_equal(tcti_info->version, 2);
	assert_string_equal(tcti_info->name, "tcti-tpmbroker");
	assert_non_null(strstr(tcti_info->description, "tpmbrokerd"));
	assert_non_null(strstr(tcti_info->config_help, "path="));
	assert_non_null(strstr(tcti_info->config_help, TB_SOCKET_ENV));
	assert_ptr_equal(tcti_info->init, tcti_init);
}

static void
test_roundtrip_frames(void **state)
{
	struct tc *tc = *state;
	static const uint8_t hdr3[] = {0x01, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x0c};

	open_fake(tc, FAKE_ECHO);
	assert_int_equal(TSS2_TCTI_VERSION(tc->ctx), 2);
	roundtrip(tc); /* locality 0 by default */
	assert_int_equal(Tss2_Tcti_SetLocality(tc->ctx, 3), TSS2_RC_SUCCESS);
	roundtrip(tc);
	roundtrip(tc); /* it sticks */
	assert_int_equal(Tss2_Tcti_SetLocality(tc->ctx, 0), TSS2_RC_SUCCESS);
	roundtrip(tc);
	fake_finish(tc);

	assert_int_equal(tc->f.nrec, 4);
	for (size_t i = 0; i < 4; i++) {
		const struct rec *r = &tc->f.rec[i];

		assert_int_equal(r->h.version, TB_PROTO_VERSION);
		assert_int_equal(r->h.type, TB_MSG_COMMAND);
		assert_int_equal(r->h.flags, 0);
		assert_int_equal(r->h.len, sizeof(cmd_getrandom));
		assert_memory_equal(r->data, cmd_getrandom, sizeof(cmd_getrandom));
	}
	assert_int_equal(tc->f.rec[0].h.locality, 0);
	assert_int_equal(tc->f.rec[1].h.locality, 3);
	assert_int_equal(tc->f.rec[2].h.locality, 3);
	assert_int_equal(tc->f.rec[3].h.locality, 0);
	/* the bytes on the wire, not just what tb_hdr_unpack makes of them */
	assert_memory_equal(tc->f.rec[1].raw, hdr3, sizeof(hdr3));
}

static void
test_locality_range(void **state)
{
	struct tc *tc = *state;

	open_fake(tc, FAKE_ECHO);
	assert_int_equal(Tss2_Tcti_SetLocality(tc->ctx, 4), TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_Tcti_SetLocality(tc->ctx, 5), TSS2_TCTI_RC_BAD_VALUE);
	assert_int_equal(Tss2_Tcti_SetLocality(tc->ctx, 32), TSS2_TCTI_RC_BAD_VALUE);
	roundtrip(tc);
	fake_finish(tc);
	assert_int_equal(tc->f.nrec, 1);
	assert_int_equal(tc->f.rec[0].h.locality, 4); /* the refused values changed nothing */
}

static void
test_size_query(void **state)
{
	struct tc *tc = *state;
	uint8_t rsp[64];
	size_t size = 0;

	open_fake(tc, FAKE_ECHO);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	/* response NULL: the size only, and the response stays */
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, NULL, TSS2_TCTI_TIMEOUT_BLOCK),
			 TSS2_RC_SUCCESS);
	assert_int_equal(size, sizeof(rsp_random));
	size = 0;
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, NULL, 0), TSS2_RC_SUCCESS);
	assert_int_equal(size, sizeof(rsp_random));
	/* a buffer too small: told the size, the response still stays */
	size = 10;
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, TSS2_TCTI_TIMEOUT_BLOCK),
			 TSS2_TCTI_RC_INSUFFICIENT_BUFFER);
	assert_int_equal(size, sizeof(rsp_random));
	size = sizeof(rsp);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 0), TSS2_RC_SUCCESS);
	assert_int_equal(size, sizeof(rsp_random));
	assert_memory_equal(rsp, rsp_random, sizeof(rsp_random));
	/* consumed */
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 0), TSS2_TCTI_RC_BAD_SEQUENCE);
	roundtrip(tc);
}

static void
test_timeout(void **state)
{
	struct tc *tc = *state;
	uint8_t rsp[64];
	size_t size = sizeof(rsp);
	uint64_t t0, ms;

	open_fake(tc, FAKE_SILENT);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	t0 = now_ns();
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 100), TSS2_TCTI_RC_TRY_AGAIN);
	ms = (now_ns() - t0) / 1000000u;
	assert_in_range(ms, 95, 2000);
	t0 = now_ns();
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, NULL, TSS2_TCTI_TIMEOUT_NONE),
			 TSS2_TCTI_RC_TRY_AGAIN);
	assert_in_range((now_ns() - t0) / 1000000u, 0, 50);
	/* still waiting for that response: no second command */
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_TCTI_RC_BAD_SEQUENCE);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, -2), TSS2_TCTI_RC_BAD_VALUE);
	fake_finish(tc);
	assert_int_equal(tc->f.nrec, 1);
}

static void
test_partial_frame_kept(void **state)
{
	struct tc *tc = *state;
	uint8_t rsp[64];
	size_t size = sizeof(rsp);
	struct pollfd pfd;

	open_fake(tc, FAKE_SPLIT);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	/* the header and 5 bytes come, the rest does not */
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 100), TSS2_TCTI_RC_TRY_AGAIN);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, NULL, 0), TSS2_TCTI_RC_TRY_AGAIN);
	assert_int_equal(write(tc->f.go[1], "x", 1), 1);
	/* what came first is not lost, nor read twice */
	size = sizeof(rsp);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 5000), TSS2_RC_SUCCESS);
	assert_int_equal(size, sizeof(rsp_random));
	assert_memory_equal(rsp, rsp_random, sizeof(rsp_random));
	/* and nothing of it is left in the socket */
	size = 1;
	assert_int_equal(Tss2_Tcti_GetPollHandles(tc->ctx, &pfd, &size), TSS2_RC_SUCCESS);
	assert_int_equal(poll(&pfd, 1, 50), 0);
}

static void
test_bad_sequence(void **state)
{
	struct tc *tc = *state;
	uint8_t rsp[64];
	size_t size = sizeof(rsp);

	open_fake(tc, FAKE_ECHO);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 0), TSS2_TCTI_RC_BAD_SEQUENCE);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, NULL, 0), TSS2_TCTI_RC_BAD_SEQUENCE);
	assert_int_equal(Tss2_Tcti_Cancel(tc->ctx), TSS2_TCTI_RC_BAD_SEQUENCE);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_TCTI_RC_BAD_SEQUENCE);
	assert_int_equal(Tss2_Tcti_SetLocality(tc->ctx, 1), TSS2_TCTI_RC_BAD_SEQUENCE);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, NULL, rsp, 0), TSS2_TCTI_RC_BAD_REFERENCE);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, TSS2_TCTI_TIMEOUT_BLOCK),
			 TSS2_RC_SUCCESS);
	fake_finish(tc);
	/* the refused second command never reached the daemon */
	assert_int_equal(tc->f.nrec, 1);
}

static void
test_bad_args(void **state)
{
	struct tc *tc = *state;
	static uint8_t big[TB_PROTO_MAX_PAYLOAD + 1];

	setenv("TSS2_LOG", "all+none", 1); /* read at init */
	open_fake(tc, FAKE_ECHO);
	unsetenv("TSS2_LOG");
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(big), big), TSS2_TCTI_RC_BAD_VALUE);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, 12, NULL), TSS2_TCTI_RC_BAD_REFERENCE);
	assert_int_equal(Tss2_Tcti_MakeSticky(tc->ctx, NULL, 1), TSS2_TCTI_RC_NOT_IMPLEMENTED);
	/* none of that disturbed the connection */
	roundtrip(tc);
	fake_finish(tc);
	assert_int_equal(tc->f.nrec, 1);
}

static void
test_cancel(void **state)
{
	struct tc *tc = *state;
	uint8_t rsp[64];
	size_t size = sizeof(rsp);

	open_fake(tc, FAKE_CANCEL);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 20), TSS2_TCTI_RC_TRY_AGAIN);
	assert_int_equal(Tss2_Tcti_Cancel(tc->ctx), TSS2_RC_SUCCESS);
	/* the cancelled command's response is still collected by receive() */
	size = sizeof(rsp);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 5000), TSS2_RC_SUCCESS);
	assert_int_equal(size, sizeof(rsp_canceled));
	assert_memory_equal(rsp, rsp_canceled, sizeof(rsp_canceled));
	assert_int_equal(Tss2_Tcti_Cancel(tc->ctx), TSS2_TCTI_RC_BAD_SEQUENCE);
	fake_finish(tc);

	assert_int_equal(tc->f.nrec, 2);
	assert_int_equal(tc->f.rec[0].h.type, TB_MSG_COMMAND);
	assert_int_equal(tc->f.rec[1].h.version, TB_PROTO_VERSION);
	assert_int_equal(tc->f.rec[1].h.type, TB_MSG_CANCEL);
	assert_int_equal(tc->f.rec[1].h.locality, 0);
	assert_int_equal(tc->f.rec[1].h.flags, 0);
	assert_int_equal(tc->f.rec[1].h.len, 0);
}

static void
test_conf_path(void **state)
{
	struct tc *tc = *state;

	fake_start(tc, FAKE_ECHO);
	assert_int_equal(tcti_open(tc, conf_path(tc)), TSS2_RC_SUCCESS);
	roundtrip(tc);
	fake_finish(tc);
	assert_true(tc->f.accepted);
}

static void
test_conf_bare(void **state)
{
	struct tc *tc = *state;

	fake_start(tc, FAKE_ECHO);
	assert_int_equal(tcti_open(tc, tc->f.path), TSS2_RC_SUCCESS);
	roundtrip(tc);
	fake_finish(tc);
	assert_true(tc->f.accepted);
}

static void
test_conf_relative(void **state)
{
	struct tc *tc = *state;
	char cwd[4096];
	TSS2_RC rc;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tc->f.dir), 0);
	fake_start(tc, FAKE_ECHO);
	rc = tcti_open(tc, "s.sock");
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
	roundtrip(tc);
}

static void
test_conf_env(void **state)
{
	struct tc *tc = *state;

	fake_start(tc, FAKE_ECHO);
	setenv(TB_SOCKET_ENV, tc->f.path, 1);
	assert_int_equal(tcti_open(tc, NULL), TSS2_RC_SUCCESS);
	roundtrip(tc);
	tcti_close(tc);
	/* "" is no configuration either; and path= wins over the environment */
	setenv(TB_SOCKET_ENV, "/nonexistent/tpmbroker.sock", 1);
	setenv("TSS2_LOG", "all+none", 1);
	assert_int_equal(tcti_open(tc, ""), TSS2_TCTI_RC_NO_CONNECTION);
	unsetenv("TSS2_LOG");
	unsetenv(TB_SOCKET_ENV);
}

static void
test_conf_env_loses_to_path(void **state)
{
	struct tc *tc = *state;

	fake_start(tc, FAKE_ECHO);
	setenv(TB_SOCKET_ENV, "/nonexistent/tpmbroker.sock", 1);
	assert_int_equal(tcti_open(tc, conf_path(tc)), TSS2_RC_SUCCESS);
	unsetenv(TB_SOCKET_ENV);
	roundtrip(tc);
}

static void
test_conf_bad(void **state)
{
	struct tc *tc = *state;
	char conf[512];
	char longp[200];
	TSS2_RC rc;

	setenv("TSS2_LOG", "all+none", 1);
	assert_int_equal(tcti_open(tc, "foo=bar"), TSS2_TCTI_RC_BAD_VALUE);
	assert_int_equal(tcti_open(tc, "path="), TSS2_TCTI_RC_BAD_VALUE);
	snprintf(conf, sizeof(conf), "%s,mode=0", conf_path(tc));
	assert_int_equal(tcti_open(tc, conf), TSS2_TCTI_RC_BAD_VALUE);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	snprintf(conf, sizeof(conf), "path=%s", longp);
	assert_int_equal(tcti_open(tc, conf), TSS2_TCTI_RC_BAD_VALUE);
	assert_int_equal(tcti_open(tc, longp), TSS2_TCTI_RC_BAD_VALUE);
	unsetenv("TSS2_LOG");
	/* and the unknown key is named on stderr */
	assert_non_null(strstr(stderr_of(tc, "flavour=strawberry", &rc), "flavour"));
	assert_int_equal(rc, TSS2_TCTI_RC_BAD_VALUE);
}

static void
test_no_connection(void **state)
{
	struct tc *tc = *state;
	char conf[SUN_PATH_MAX + 8];
	const char *err;
	TSS2_RC rc;

	snprintf(conf, sizeof(conf), "path=%s/missing.sock", tc->f.dir);
	err = stderr_of(tc, conf, &rc);
	assert_int_equal(rc, TSS2_TCTI_RC_NO_CONNECTION);
	/* the message names the socket it tried */
	assert_non_null(strstr(err, conf + 5));
	assert_non_null(strstr(err, "tpmbrokerd"));
	/* a program that silenced the TSS is not chatty through us */
	setenv("TSS2_LOG", "all+none", 1);
	err = stderr_of(tc, conf, &rc);
	unsetenv("TSS2_LOG");
	assert_int_equal(rc, TSS2_TCTI_RC_NO_CONNECTION);
	assert_string_equal(err, "");
	setenv("TSS2_LOG", "all+none,tcti+error", 1);
	err = stderr_of(tc, conf, &rc);
	unsetenv("TSS2_LOG");
	assert_non_null(strstr(err, conf + 5));
	/* a socket that is there but not listening: the same */
	assert_int_equal(close(tc->f.lfd), 0);
	tc->f.lfd = -1;
	setenv("TSS2_LOG", "all+none", 1);
	assert_int_equal(tcti_open(tc, conf_path(tc)), TSS2_TCTI_RC_NO_CONNECTION);
	unsetenv("TSS2_LOG");
}

static void
test_quiet_when_fine(void **state)
{
	struct tc *tc = *state;
	TSS2_RC rc;

	fake_start(tc, FAKE_ECHO);
	assert_string_equal(stderr_of(tc, conf_path(tc), &rc), "");
	assert_int_equal(rc, TSS2_RC_SUCCESS);
	roundtrip(tc);
	tcti_close(tc);
	/* and says something at debug level */
	setenv("TSS2_LOG", "tcti+debug", 1);
	assert_non_null(strstr(stderr_of(tc, conf_path(tc), &rc), "connected"));
	unsetenv("TSS2_LOG");
}

static void
test_hangup_mid_response(void **state)
{
	struct tc *tc = *state;
	uint8_t rsp[64];
	size_t size = sizeof(rsp);
	uint64_t t0;

	setenv("TSS2_LOG", "all+none", 1);
	open_fake(tc, FAKE_HANGUP_MID);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	t0 = now_ns();
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 10000), TSS2_TCTI_RC_IO_ERROR);
	/* at once, not at the timeout */
	assert_in_range((now_ns() - t0) / 1000000u, 0, 5000);
	/* and the connection stays broken */
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 0), TSS2_TCTI_RC_IO_ERROR);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_TCTI_RC_IO_ERROR);
	unsetenv("TSS2_LOG");
}

static void
test_hangup(void **state)
{
	struct tc *tc = *state;
	uint8_t rsp[64];
	size_t size = sizeof(rsp);
	TSS2_RC rc;

	setenv("TSS2_LOG", "all+none", 1);
	open_fake(tc, FAKE_HANGUP);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, TSS2_TCTI_TIMEOUT_BLOCK),
			 TSS2_TCTI_RC_NO_CONNECTION);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 0), TSS2_TCTI_RC_NO_CONNECTION);
	/* the daemon is gone: a write to it is an error code, not SIGPIPE */
	rc = Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom);
	assert_int_equal(rc, TSS2_TCTI_RC_NO_CONNECTION);
	unsetenv("TSS2_LOG");
}

static void
test_transmit_after_daemon_left(void **state)
{
	struct tc *tc = *state;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	uint8_t rsp[64];
	size_t size;

	setenv("TSS2_LOG", "all+none", 1);
	open_fake(tc, FAKE_ECHO);
	roundtrip(tc);
	/* the daemon goes away between commands */
	assert_int_equal(write(tc->f.stop[1], "x", 1), 1);
	(void)pthread_join(tc->f.thr, NULL);
	tc->f.started = false;
	/* the first send may still land in the socket buffer; then receive says so */
	rc = Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom);
	if (rc == TSS2_RC_SUCCESS) {
		size = sizeof(rsp);
		rc = Tss2_Tcti_Receive(tc->ctx, &size, rsp, 5000);
	}
	assert_int_equal(rc, TSS2_TCTI_RC_NO_CONNECTION);
	unsetenv("TSS2_LOG");
}

static void
test_malformed_header(void **state)
{
	struct tc *tc = *state;
	static const enum fake_mode modes[] = {FAKE_BAD_VERSION, FAKE_BAD_TYPE};

	setenv("TSS2_LOG", "all+none", 1);
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		uint8_t rsp[64];
		size_t size = sizeof(rsp);

		open_fake(tc, modes[i]);
		assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
				 TSS2_RC_SUCCESS);
		assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 5000),
				 TSS2_TCTI_RC_MALFORMED_RESPONSE);
		/* framing is lost: nothing more on this connection */
		assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
				 TSS2_TCTI_RC_IO_ERROR);
		fake_finish(tc);
		tc->f.nrec = 0;
	}
	unsetenv("TSS2_LOG");
}

static void
test_size_field_lies(void **state)
{
	struct tc *tc = *state;
	uint8_t rsp[64];
	size_t size = sizeof(rsp);

	setenv("TSS2_LOG", "all+none", 1);
	open_fake(tc, FAKE_SIZE_LIE);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 5000),
			 TSS2_TCTI_RC_MALFORMED_RESPONSE);
	unsetenv("TSS2_LOG");
	/* the frame was whole, so the stream is still in step */
	roundtrip(tc);
}

static void
test_poll_handles(void **state)
{
	struct tc *tc = *state;
	TSS2_TCTI_POLL_HANDLE h[2];
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);
	uint8_t rsp[64];
	size_t n = 0;

	open_fake(tc, FAKE_ECHO);
	assert_int_equal(Tss2_Tcti_GetPollHandles(tc->ctx, NULL, &n), TSS2_RC_SUCCESS);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(Tss2_Tcti_GetPollHandles(tc->ctx, h, &n),
			 TSS2_TCTI_RC_INSUFFICIENT_BUFFER);
	assert_int_equal(n, 1);
	assert_int_equal(Tss2_Tcti_GetPollHandles(tc->ctx, h, NULL), TSS2_TCTI_RC_BAD_REFERENCE);
	n = 2;
	assert_int_equal(Tss2_Tcti_GetPollHandles(tc->ctx, h, &n), TSS2_RC_SUCCESS);
	assert_int_equal(n, 1);
	assert_true(h[0].events & POLLIN);
	/* it is our connection to the daemon */
	assert_int_equal(getpeername(h[0].fd, (struct sockaddr *)&peer, &plen), 0);
	assert_string_equal(peer.sun_path, tc->f.path);
	/* idle: nothing to read; after a command: the response makes it readable */
	assert_int_equal(poll(h, 1, 0), 0);
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	assert_int_equal(poll(h, 1, 5000), 1);
	assert_true(h[0].revents & POLLIN);
	n = sizeof(rsp);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &n, rsp, 0), TSS2_RC_SUCCESS);
	assert_int_equal(n, sizeof(rsp_random));
}

static void
test_finalize(void **state)
{
	struct tc *tc = *state;
	uint8_t rsp[64];
	size_t size = sizeof(rsp);

	open_fake(tc, FAKE_ECHO);
	roundtrip(tc);
	Tss2_Tcti_Finalize(tc->ctx);
	tc->inited = false;
	/* the daemon sees the hang-up: the fake reaches EOF and ends */
	(void)pthread_join(tc->f.thr, NULL);
	tc->f.started = false;
	assert_int_equal(tc->f.nrec, 1);
	/* a finalized context is refused, not used */
	assert_int_equal(Tss2_Tcti_Transmit(tc->ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_TCTI_RC_BAD_CONTEXT);
	assert_int_equal(Tss2_Tcti_Receive(tc->ctx, &size, rsp, 0), TSS2_TCTI_RC_BAD_CONTEXT);
	assert_int_equal(Tss2_Tcti_Cancel(tc->ctx), TSS2_TCTI_RC_BAD_CONTEXT);
	assert_int_equal(Tss2_Tcti_SetLocality(tc->ctx, 0), TSS2_TCTI_RC_BAD_CONTEXT);
	Tss2_Tcti_Finalize(tc->ctx); /* twice: harmless */
}

#ifdef TEST_TCTI_SO
/* -------- the shipped .so -------- */

static void *so_handle;

static void
test_so_exports(void **state)
{
	static const char *const hidden[] = {
		"tb_socket_path", "now_ns", "write_all", "read_all", "fcntl_nonblock",
		"tcti_transmit", "tcti_receive", "tcti_parse_conf", "tcti_log",
	};

	(void)state;
	assert_non_null(dlsym(so_handle, "Tss2_Tcti_Tpmbroker_Init"));
	assert_non_null(dlsym(so_handle, TSS2_TCTI_INFO_SYMBOL));
	for (size_t i = 0; i < ARRAY_SIZE(hidden); i++) {
		if (dlsym(so_handle, hidden[i]) != NULL)
			fail_msg("the plugin exports %s", hidden[i]);
	}
}

static void
test_so_tctildr(void **state)
{
	struct tc *tc = *state;
	TSS2_TCTI_CONTEXT *ctx = NULL;
	TSS2_TCTI_INFO *info = NULL;
	char conf[SUN_PATH_MAX + 20];
	uint8_t rsp[64];
	size_t size = sizeof(rsp);

	/* by the short name, as tpm2-tools' -T tpmbroker does */
	assert_int_equal(Tss2_TctiLdr_GetInfo("tpmbroker", &info), TSS2_RC_SUCCESS);
	assert_string_equal(info->name, "tcti-tpmbroker");
	Tss2_TctiLdr_FreeInfo(&info);

	fake_start(tc, FAKE_ECHO);
	snprintf(conf, sizeof(conf), "tpmbroker:%s", conf_path(tc));
	assert_int_equal(Tss2_TctiLdr_Initialize(conf, &ctx), TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_Tcti_SetLocality(ctx, 2), TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_Tcti_Transmit(ctx, sizeof(cmd_getrandom), cmd_getrandom),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_Tcti_Receive(ctx, &size, rsp, TSS2_TCTI_TIMEOUT_BLOCK),
			 TSS2_RC_SUCCESS);
	assert_int_equal(size, sizeof(rsp_random));
	assert_memory_equal(rsp, rsp_random, sizeof(rsp_random));
	Tss2_TctiLdr_Finalize(&ctx);
	fake_finish(tc);
	assert_int_equal(tc->f.nrec, 1);
	assert_int_equal(tc->f.rec[0].h.locality, 2);
}
#endif

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_size),
		T(test_info),
		T(test_roundtrip_frames),
		T(test_locality_range),
		T(test_size_query),
		T(test_timeout),
		T(test_partial_frame_kept),
		T(test_bad_sequence),
		T(test_bad_args),
		T(test_cancel),
		T(test_conf_path),
		T(test_conf_bare),
		T(test_conf_relative),
		T(test_conf_env),
		T(test_conf_env_loses_to_path),
		T(test_conf_bad),
		T(test_no_connection),
		T(test_quiet_when_fine),
		T(test_hangup_mid_response),
		T(test_hangup),
		T(test_transmit_after_daemon_left),
		T(test_malformed_header),
		T(test_size_field_lies),
		T(test_poll_handles),
		T(test_finalize),
#ifdef TEST_TCTI_SO
		T(test_so_exports),
		T(test_so_tctildr),
#endif
	};

	/* the fake writes to clients that may have hung up */
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGALRM, on_alarm);
	unsetenv(TB_SOCKET_ENV);
	unsetenv("TSS2_LOG");
#ifdef TEST_TCTI_SO
	{
		TSS2_TCTI_INFO_FUNC info_fn;
		void *sym;

		/* by soname, from LD_LIBRARY_PATH, as libtss2-tctildr loads it */
		so_handle = dlopen("libtss2-tcti-tpmbroker.so.0", RTLD_NOW | RTLD_LOCAL);
		if (so_handle == NULL) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 1;
		}
		/* memcpy: ISO C has no object-to-function pointer cast */
		sym = dlsym(so_handle, TSS2_TCTI_INFO_SYMBOL);
		memcpy(&info_fn, &sym, sizeof(info_fn));
		if (info_fn == NULL || (tcti_info = info_fn()) == NULL) {
			fprintf(stderr, "no %s in the plugin\n", TSS2_TCTI_INFO_SYMBOL);
			return 1;
		}
		tcti_init = tcti_info->init;
	}
#else
	tcti_init = Tss2_Tcti_Tpmbroker_Init;
	tcti_info = Tss2_Tcti_Info();
#endif
	return cmocka_run_group_tests(tests, NULL, NULL);
}
