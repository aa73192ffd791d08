/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_be_swtpm.c: the swtpm backend against a real swtpm (socket mode, TCP
 * data and control ports) that the test starts on free ports: start-up and
 * GetRandom; locality through CMD_SET_LOCALITY, sent only when it changes
 * (counted in swtpm's own log); power cycle; swtpm killed and restarted,
 * with and without not-need-init, under an idle and a busy backend; a
 * cancel that does not wait for swtpm.  Exit 77 when swtpm is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "be_test.h"

static char tmp[64];
static unsigned port;
static pid_t swtpm_pid = -1;

/* free for a listener that sets SO_REUSEADDR, as swtpm does */
static bool
port_free(unsigned p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

static bool
port_listening(unsigned p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

/*
 * Start swtpm on port/port+1 with state in tmp/state and its log (level 20:
 * every control command) in tmp/swtpm.log; flags NULL: none.
 */
static void
swtpm_start(const char *flags)
{
	char server[96], ctrl[96], state[96], log[96];

	snprintf(server, sizeof(server), "type=tcp,port=%u,bindaddr=127.0.0.1", port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%u,bindaddr=127.0.0.1", port + 1);
	snprintf(state, sizeof(state), "dir=%s", tmp);
	snprintf(log, sizeof(log), "file=%s/swtpm.log,level=20", tmp);
	swtpm_pid = fork();
	assert_true(swtpm_pid >= 0);
	if (swtpm_pid == 0) {
		const char *argv[] = {"swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl,
				      "--tpmstate", state, "--log", log, "--flags", flags, NULL};
		if (flags == NULL)
			argv[11] = NULL;
		/* never outlive the test, whatever stops it */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		execvp("swtpm", (char **)argv);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		int status;
		if (port_listening(port) && port_listening(port + 1))
			return;
		if (waitpid(swtpm_pid, &status, WNOHANG) == swtpm_pid) {
			swtpm_pid = -1;
			fail_msg("swtpm exited at start (status 0x%x)", status);
		}
		usleep(25000);
	}
	fail_msg("swtpm not listening on %u", port);
}

static void
swtpm_stop(void)
{
	if (swtpm_pid < 0)
		return;
	kill(swtpm_pid, SIGTERM);
	(void)waitpid(swtpm_pid, NULL, 0);
	swtpm_pid = -1;
	/* swtpm closed its sockets: the ports are free again */
	for (int i = 0; i < 200 && (!port_free(port) || !port_free(port + 1)); i++)
		usleep(10000);
}

/* how many CMD_SET_LOCALITY swtpm has received (its log: " Ctrl Cmd: ...\n 00 00 00 05 ...") */
static int
swtpm_set_locality_count(void)
{
	char path[96], line[256];
	bool next = false;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/swtpm.log", tmp);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (next && strncmp(line, " 00 00 00 05", 12) == 0)
			n++;
		next = strstr(line, "Ctrl Cmd:") != NULL;
	}
	fclose(f);
	return n;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/tbtest-swtpm.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	/* below the ephemeral range, where clients do not take P+1 */
	srandom((unsigned)(now_ns() ^ (uint64_t)getpid()));
	for (int i = 0; i < 200; i++) {
		port = 10000 + (unsigned)(random() % 22000);
		if (port_free(port) && port_free(port + 1))
			return 0;
	}
	return -1;
}

/* after each test, also a failed one: no swtpm left on our ports */
static int
stop(void **state)
{
	(void)state;
	swtpm_stop();
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	swtpm_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static struct backend *
open_swtpm(void)
{
	struct backend *be;
	char spec[96];

	snprintf(spec, sizeof(spec), "swtpm:host=127.0.0.1,port=%u", port);
	assert_int_equal(be_open(spec, &be), 0);
	return be;
}

static void
getrandom_ok(struct backend *be, uint8_t loc)
{
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;

	bt_getrandom(&m, 16);
	assert_int_equal(bt_run(be, &m, loc, rsp, &rlen), TPM2_RC_SUCCESS);
	assert_int_equal(rlen, 10 + 2 + 16);
}

static void
test_basic(void **state)
{
	struct backend *be;
	char want[64];
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;
	int n0;

	(void)state;
	swtpm_start("not-need-init,startup-clear");
	be = open_swtpm();
	snprintf(want, sizeof(want), "swtpm 127.0.0.1:%u", port);
	assert_string_equal(be->desc, want);
	assert_true(be->needs_startup);
	assert_int_equal(be_startup(be), 0); /* TPM_RC_INITIALIZE: already started */
	n0 = swtpm_set_locality_count();
	assert_true(n0 >= 0);
	getrandom_ok(be, 0);
	getrandom_ok(be, 0);

	/* PC Client PCR 17 extends from locality 2-4 only: locality reaches the TPM */
	bt_pcr_extend(&m, 17, 0x5a);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_LOCALITY);
	assert_int_equal(bt_run(be, &m, 3, rsp, &rlen), TPM2_RC_SUCCESS);
	assert_int_equal(bt_run(be, &m, 3, rsp, &rlen), TPM2_RC_SUCCESS);
	getrandom_ok(be, 3);
	getrandom_ok(be, 0);
	getrandom_ok(be, 0);
	/* be_startup set the unknown locality to 0; then 3 and 0 again: two, not six */
	assert_int_equal(swtpm_set_locality_count() - n0, 2);
	/* swtpm has no extended localities */
	bt_getrandom(&m, 8);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 32), -EOPNOTSUPP);

	/* power cycle: CMD_INIT; the TPM wants TPM2_Startup, and gets it */
	assert_int_equal(be->ops->power_cycle(be), 0);
	assert_true(be->needs_startup);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_INITIALIZE);
	assert_int_equal(be_startup(be), 0);
	getrandom_ok(be, 0);
	be_close(be);
	swtpm_stop();
}

/* swtpm dies under an idle backend and comes back not initialised */
static void
test_restart_idle(void **state)
{
	struct backend *be;
	struct pollfd p;

	(void)state;
	swtpm_start("not-need-init,startup-clear");
	be = open_swtpm();
	assert_int_equal(be_startup(be), 0);
	getrandom_ok(be, 3);
	swtpm_stop();
	/* the daemon sees the fd readable while idle (EOF) */
	p = (struct pollfd){.fd = be->fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(be->ops->reconnect(be), -ECONNREFUSED);
	/* as QEMU would start it: no flags, it waits for CMD_INIT */
	swtpm_start(NULL);
	be->needs_startup = false;
	assert_int_equal(be->ops->reconnect(be), 0);
	assert_true(be->needs_startup);
	assert_int_equal(be_startup(be), 0);
	/* a new swtpm is at locality 0, an old one where we left it: set again */
	getrandom_ok(be, 3);
	getrandom_ok(be, 0);
	be_close(be);
	swtpm_stop();
}

/* swtpm dies while the backend sends: an error, then reconnect works */
static void
test_restart_busy(void **state)
{
	struct backend *be;
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;
	int r;

	(void)state;
	swtpm_start("not-need-init,startup-clear");
	be = open_swtpm();
	assert_int_equal(be_startup(be), 0);
	swtpm_stop();
	swtpm_start("not-need-init");
	bt_getrandom(&m, 8);
	/* the old link is dead: submit or finish fails, never hangs or succeeds */
	r = be->ops->submit(be, m.b, m.c.off, 0);
	if (r == 0)
		r = bt_wait(be, rsp, sizeof(rsp), &rlen, NULL);
	assert_true(r == -EPIPE || r == -ECONNRESET);
	assert_int_equal(be->ops->reconnect(be), 0);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_INITIALIZE);
	assert_int_equal(be_startup(be), 0);
	getrandom_ok(be, 0);
	be_close(be);
	swtpm_stop();
}

/* cancel returns at once although swtpm answers control requests only between commands */
static void
test_cancel(void **state)
{
	struct backend *be;
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;
	uint64_t t0, dt;
	uint32_t rc;

	(void)state;
	swtpm_start("not-need-init,startup-clear");
	be = open_swtpm();
	assert_int_equal(be_startup(be), 0);
	bt_create_primary(&m, true);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
		t0 = now_ns();
		assert_int_equal(be->ops->cancel(be), 0);
		dt = now_ns() - t0;
		assert_true(dt < 50 * 1000000ull);
		assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
		rc = bt_rc(rsp, rlen);
		assert_true(rc == TPM2_RC_SUCCESS || rc == TPM2_RC_CANCELED);
		print_message("# cancel took %.2f ms, CreatePrimary: 0x%x\n", (double)dt / 1e6, rc);
		if (rc == TPM2_RC_SUCCESS)
			bt_flush(be, get_be32(rsp + 10));
	}
	/* the next command is not cancelled by a left-over flag */
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	be_close(be);
	swtpm_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_basic, stop),
		cmocka_unit_test_teardown(test_restart_idle, stop),
		cmocka_unit_test_teardown(test_restart_busy, stop),
		cmocka_unit_test_teardown(test_cancel, stop),
	};

	if (system("swtpm --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "swtpm not installed: skipped\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
