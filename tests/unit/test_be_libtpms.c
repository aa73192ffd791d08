/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_be_libtpms.c: the embedded TPM for real, in temporary state
 * directories: start-up and GetRandom; an NV index and a persistent key
 * survive a power cycle and a close/reopen (the NV callbacks write the
 * blobs, atomically); one instance per process; the state-directory lock,
 * also against another process; locality reaches the TPM; commands run on
 * the worker thread (submit returns at once, busy while running, an
 * abandoned answer is dropped); cheap commands in the caller's thread
 * (submit_now), never while the worker has one; the default state directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "be_test.h"

static char tmp[64];
/* the open instance (one per process), closed by the teardown if a test failed */
static struct backend *cur;

static void
close_be(struct backend *be)
{
	assert_ptr_equal(be, cur);
	be_close(be);
	cur = NULL;
}

static int
close_left(void **state)
{
	(void)state;
	be_close(cur);
	cur = NULL;
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/tbtest-lt.XXXXXX");
	/* searchable: test_default_dir's child runs as another user */
	return mkdtemp(tmp) == NULL || chmod(tmp, 0711) < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static struct backend *
open_started(const char *spec)
{
	struct backend *be = NULL;

	assert_int_equal(be_open(spec, &be), 0);
	cur = be;
	assert_true(be->needs_startup);
	assert_int_equal(be_startup(be), 0);
	assert_false(be->needs_startup);
	return be;
}

static void
test_getrandom(void **state)
{
	char spec[128], dir[96];
	struct backend *be;
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX], first[16];
	size_t rlen;
	struct stat st;

	(void)state;
	/* the directory and its parents are created; the state dir is 0700 */
	snprintf(dir, sizeof(dir), "%s/a/b/state", tmp);
	snprintf(spec, sizeof(spec), "libtpms:state=%s", dir);
	be = open_started(spec);
	assert_non_null(strstr(be->desc, dir));
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	bt_getrandom(&m, 16);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	assert_int_equal(rlen, 10 + 2 + 16);
	assert_int_equal(get_be16(rsp + 10), 16);
	memcpy(first, rsp + 12, 16);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	assert_memory_not_equal(first, rsp + 12, 16);
	/* finish() with nothing submitted; a response larger than cap */
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), -EPROTO);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	assert_int_equal(bt_wait(be, rsp, 20, &rlen, NULL), -EMSGSIZE);
	/* the backend is usable after that */
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	close_be(be);
}

static bool
nv_reads_back(struct backend *be, const char *want)
{
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;

	bt_nv_read(&m, BT_NV_INDEX, 8);
	if (bt_run(be, &m, 0, rsp, &rlen) != TPM2_RC_SUCCESS)
		return false;
	/* header, parameterSize, TPM2B_MAX_NV_BUFFER */
	return get_be16(rsp + 14) == 8 && memcmp(rsp + 16, want, 8) == 0;
}

static bool
handle_exists(struct backend *be, uint32_t handle)
{
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;

	bt_handle_cmd(&m, TPM2_CC_ReadPublic, handle);
	return bt_run(be, &m, 0, rsp, &rlen) == TPM2_RC_SUCCESS;
}

/* no temp file is left behind, and the blob is private */
static void
check_state_files(const char *dir)
{
	char path[160];
	struct stat st;
	struct dirent *e;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		assert_null(strstr(e->d_name, ".tmp"));
	closedir(d);
	snprintf(path, sizeof(path), "%s/permall", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_size > 1000);
}

static void
test_persistence(void **state)
{
	char spec[128], dir[96];
	struct backend *be;
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;
	uint32_t transient;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/persist", tmp);
	snprintf(spec, sizeof(spec), "libtpms:state=%s", dir);
	be = open_started(spec);
	assert_false(nv_reads_back(be, "persist!"));
	bt_nv_define(&m, BT_NV_INDEX, 8);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	bt_nv_write(&m, BT_NV_INDEX, "persist!", 8);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	assert_true(nv_reads_back(be, "persist!"));
	bt_create_primary(&m, false);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	transient = get_be32(rsp + 10);
	bt_evict(&m, transient, BT_PERSISTENT);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	check_state_files(dir);

	/* power cycle: the TPM wants TPM2_Startup again; NV stays, transients go */
	assert_int_equal(be->ops->power_cycle(be), 0);
	assert_true(be->needs_startup);
	bt_getrandom(&m, 8);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_INITIALIZE);
	assert_int_equal(be_startup(be), 0);
	assert_true(nv_reads_back(be, "persist!"));
	assert_true(handle_exists(be, BT_PERSISTENT));
	assert_false(handle_exists(be, transient));
	close_be(be);

	/* a new process would do this: everything comes back from the files */
	snprintf(spec, sizeof(spec), "libtpms:%s", dir); /* the short form */
	be = open_started(spec);
	assert_true(nv_reads_back(be, "persist!"));
	assert_true(handle_exists(be, BT_PERSISTENT));
	close_be(be);
}

static void
test_singleton(void **state)
{
	char spec[128], spec2[128];
	struct backend *be, *be2 = NULL;

	(void)state;
	snprintf(spec, sizeof(spec), "libtpms:state=%s/one", tmp);
	snprintf(spec2, sizeof(spec2), "libtpms:state=%s/two", tmp);
	assert_int_equal(be_open(spec, &be), 0);
	cur = be;
	assert_int_equal(be_open(spec2, &be2), -EBUSY);
	assert_null(be2);
	close_be(be);
	/* once closed, another instance may open */
	be2 = open_started(spec2);
	close_be(be2);
}

static void
test_lock(void **state)
{
	char spec[128], dir[96], path[128], c;
	struct backend *be;
	int fd, to_child[2], to_parent[2], status;
	pid_t pid;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/locked", tmp);
	snprintf(spec, sizeof(spec), "libtpms:state=%s", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(be_open(spec, &be), -EBUSY);
	close(fd);

	/* another process holds the state: we are refused; after it exits, we get in */
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct backend *cbe;
		int r = be_open(spec, &cbe);
		(void)!write(to_parent[1], r == 0 ? "y" : "n", 1);
		(void)!read(to_child[0], &c, 1);
		if (r == 0)
			be_close(cbe);
		_exit(r == 0 ? 0 : 1);
	}
	assert_int_equal(read(to_parent[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_int_equal(be_open(spec, &be), -EBUSY);
	assert_int_equal(write(to_child[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	be = open_started(spec);
	close_be(be);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static void
test_locality(void **state)
{
	char spec[128];
	struct backend *be;
	struct bt_cmd m;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;

	(void)state;
	snprintf(spec, sizeof(spec), "libtpms:state=%s/loc", tmp);
	be = open_started(spec);
	/* PC Client: PCR 17 extends from localities 2-4 only; PCR 16 from any */
	bt_pcr_extend(&m, 17, 0xab);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_LOCALITY);
	assert_int_equal(bt_run(be, &m, 3, rsp, &rlen), TPM2_RC_SUCCESS);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_LOCALITY);
	bt_pcr_extend(&m, 16, 0xab);
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	close_be(be);
}

static void
test_worker(void **state)
{
	char spec[128];
	struct backend *be;
	struct bt_cmd m, small, big;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;
	uint32_t rc;
	struct pollfd p;
	bool busy = false;
	int r;

	(void)state;
	snprintf(spec, sizeof(spec), "libtpms:state=%s/worker", tmp);
	be = open_started(spec);

	/*
	 * An RSA key takes tens of ms: submit returns at once and the TPM is
	 * busy meanwhile.  Tried a few times, as the key may be done before we
	 * look on a loaded machine.
	 */
	bt_create_primary(&m, true);
	bt_getrandom(&small, 8);
	for (int i = 0; i < 10 && !busy; i++) {
		assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
		r = be->ops->submit(be, small.b, small.c.off, 0);
		if (r == -EBUSY) {
			busy = true;
			assert_int_equal(be->ops->power_cycle(be), -EBUSY);
		} else {
			assert_int_equal(r, 0); /* the key was done: its answer is dropped */
		}
		assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
		assert_int_equal(bt_rc(rsp, rlen), TPM2_RC_SUCCESS);
		assert_int_equal(rlen, busy ? get_be32(rsp + 2) : 10 + 2 + 8);
	}
	assert_true(busy);

	/* cancel: the command ends (cancelled or not), the next one is not affected */
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	usleep(5000);
	assert_int_equal(be->ops->cancel(be), 0);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
	rc = bt_rc(rsp, rlen);
	assert_true(rc == TPM2_RC_SUCCESS || rc == TPM2_RC_CANCELED);
	printf("# RSA CreatePrimary after cancel: 0x%x\n", rc);
	assert_int_equal(be->ops->cancel(be), 0); /* idle: nothing to do */
	assert_int_equal(bt_run(be, &m, 0, rsp, &rlen), TPM2_RC_SUCCESS);

	/* an answer nobody collected is dropped by the next submit */
	assert_int_equal(be->ops->submit(be, small.b, small.c.off, 0), 0);
	p = (struct pollfd){.fd = be->fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 10000), 1);
	bt_getrandom(&big, 32);
	assert_int_equal(be->ops->submit(be, big.b, big.c.off, 0), 0);
	assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
	assert_int_equal(rlen, 10 + 2 + 32);
	close_be(be);

	/* close while a command runs: waits for it, no leak, no crash */
	be = open_started(spec);
	assert_int_equal(be->ops->submit(be, m.b, m.c.off, 0), 0);
	close_be(be);
}

/* StartAuthSession(tpmKey, bind NULL, HMAC, no symmetric, SHA-256) */
static void
start_session_cmd(struct bt_cmd *m, uint32_t tpm_key)
{
	uint8_t nonce[16] = {1};

	bt_begin(m, TPM2_ST_NO_SESSIONS, TPM2_CC_StartAuthSession);
	bt_u32(m, tpm_key);
	bt_u32(m, TPM2_RH_NULL);
	bt_u16(m, sizeof(nonce));
	bt_bytes(m, nonce, sizeof(nonce));
	bt_u16(m, 0); /* encryptedSalt */
	bt_u8(m, TPM2_SE_HMAC);
	bt_u16(m, TPM2_ALG_NULL);
	bt_u16(m, TPM2_ALG_SHA256);
	bt_end(m);
}

/*
 * Cheap commands run in the caller's thread (submit_now): the answer is
 * there at once, with nothing on be->fd.  Key generation and salted
 * sessions are left to the worker, and nothing runs in the caller's thread
 * while the worker has a command (libtpms' state is global).
 */
static void
test_submit_now(void **state)
{
	char spec[128];
	struct backend *be;
	struct bt_cmd m, small, ecc, rsa;
	uint8_t rsp[TB_BUF_MAX];
	size_t rlen;
	struct pollfd p;
	bool busy = false;
	int r;

	(void)state;
	snprintf(spec, sizeof(spec), "libtpms:state=%s/now", tmp);
	be = open_started(spec);
	assert_non_null(be->ops->submit_now);

	bt_getrandom(&small, 8);
	assert_int_equal(be->ops->submit_now(be, small.b, small.c.off, 0), 1);
	p = (struct pollfd){.fd = be->fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 0), 0); /* nothing from the worker */
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), 1);
	assert_int_equal(rlen, 10 + 2 + 8);
	assert_int_equal(bt_rc(rsp, rlen), TPM2_RC_SUCCESS);
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), -EPROTO);
	/* a cheap command whose answer is larger than cap */
	assert_int_equal(be->ops->submit_now(be, small.b, small.c.off, 0), 1);
	assert_int_equal(be->ops->finish(be, rsp, 12, &rlen), -EMSGSIZE);

	/* a session without a salt runs now; with a salt key (an RSA/ECC decryption) it does not */
	start_session_cmd(&m, TPM2_RH_NULL);
	assert_int_equal(be->ops->submit_now(be, m.b, m.c.off, 0), 1);
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), 1);
	assert_int_equal(bt_rc(rsp, rlen), TPM2_RC_SUCCESS);
	bt_flush(be, get_be32(rsp + 10));
	start_session_cmd(&m, 0x81000001u);
	assert_int_equal(be->ops->submit_now(be, m.b, m.c.off, 0), 0);
	/* key generation does not */
	bt_create_primary(&ecc, false);
	assert_int_equal(be->ops->submit_now(be, ecc.b, ecc.c.off, 0), 0);

	/*
	 * While the worker computes an RSA key, GetRandom does not run in this
	 * thread (0: submit it); tried a few times, as the key may be done
	 * before we look (then its answer is dropped and GetRandom runs now).
	 */
	bt_create_primary(&rsa, true);
	for (int i = 0; i < 10 && !busy; i++) {
		assert_int_equal(be->ops->submit(be, rsa.b, rsa.c.off, 0), 0);
		r = be->ops->submit_now(be, small.b, small.c.off, 0);
		if (r == 0) {
			busy = true;
			assert_int_equal(bt_wait(be, rsp, sizeof(rsp), &rlen, NULL), 1);
			assert_int_equal(rlen, get_be32(rsp + 2));
			assert_true(rlen > 100); /* the key's answer, not GetRandom's */
		} else {
			assert_int_equal(r, 1);
			assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), 1);
			assert_int_equal(rlen, 10 + 2 + 8);
		}
		assert_int_equal(bt_rc(rsp, rlen), TPM2_RC_SUCCESS);
		if (rlen > 100)
			bt_flush(be, get_be32(rsp + 10));
	}
	assert_true(busy);
	/* the worker's answers and the ones run now alternate cleanly */
	assert_int_equal(bt_run(be, &small, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	assert_int_equal(be->ops->submit_now(be, small.b, small.c.off, 0), 1);
	assert_int_equal(be->ops->finish(be, rsp, sizeof(rsp), &rlen), 1);
	assert_int_equal(bt_run(be, &small, 0, rsp, &rlen), TPM2_RC_SUCCESS);
	assert_int_equal(rlen, 10 + 2 + 8);
	close_be(be);
}

/* garbage where the state should be: refused with an error, and no leftovers */
static void
test_bad_state(void **state)
{
	char spec[128], dir[96], path[128];
	struct backend *be;
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/bad", tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/permall", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "this is not a libtpms state blob", 32), 32);
	close(fd);
	snprintf(spec, sizeof(spec), "libtpms:state=%s", dir);
	assert_int_equal(be_open(spec, &be), -EIO);
	/* the failed open released the singleton and the lock */
	snprintf(spec, sizeof(spec), "libtpms:state=%s/good", tmp);
	be = open_started(spec);
	close_be(be);
	assert_int_equal(be_open("libtpms:bogus=1", &be), -EINVAL);
	assert_int_equal(be_open("libtpms:state=relative/dir", &be), -EINVAL);
}

/*
 * The default directory of a non-root user: $XDG_STATE_HOME/tpmbroker/libtpms,
 * else ~/.local/state/tpmbroker/libtpms.  Run in a child as an unprivileged
 * user when we are root (as root the default is /var/lib/tpmbroker/libtpms,
 * which a test must not create).
 */
static int
default_dir_child(const char *base)
{
	char xdg[128], home[128], want[256];
	struct backend *be;
	struct stat st;

	snprintf(xdg, sizeof(xdg), "%s/xdg", base);
	snprintf(home, sizeof(home), "%s/home", base);
	if (mkdir(xdg, 0700) < 0 || mkdir(home, 0700) < 0)
		return 10;
	if (geteuid() == 0 && (chown(base, 65534, 65534) < 0 || chown(xdg, 65534, 65534) < 0 ||
			       chown(home, 65534, 65534) < 0 || setgid(65534) < 0 ||
			       setuid(65534) < 0))
		return 11;
	setenv("XDG_STATE_HOME", xdg, 1);
	setenv("HOME", home, 1);
	if (be_open("libtpms", &be) < 0)
		return 12;
	be_close(be);
	snprintf(want, sizeof(want), "%s/tpmbroker/libtpms/permall", xdg);
	if (stat(want, &st) < 0)
		return 13;
	setenv("XDG_STATE_HOME", "relative/is/ignored", 1);
	if (be_open("libtpms:", &be) < 0)
		return 14;
	be_close(be);
	snprintf(want, sizeof(want), "%s/.local/state/tpmbroker/libtpms/permall", home);
	if (stat(want, &st) < 0)
		return 15;
	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
	if (be_open("libtpms", &be) != -EINVAL)
		return 16;
	return 0;
}

static void
test_default_dir(void **state)
{
	char base[96];
	int status;
	pid_t pid;

	(void)state;
	snprintf(base, sizeof(base), "%s/dflt", tmp);
	assert_int_equal(mkdir(base, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(default_dir_child(base));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_getrandom, close_left),
		cmocka_unit_test_teardown(test_persistence, close_left),
		cmocka_unit_test_teardown(test_singleton, close_left),
		cmocka_unit_test_teardown(test_lock, close_left),
		cmocka_unit_test_teardown(test_locality, close_left),
		cmocka_unit_test_teardown(test_worker, close_left),
		cmocka_unit_test_teardown(test_submit_now, close_left),
		cmocka_unit_test_teardown(test_bad_state, close_left),
		cmocka_unit_test_teardown(test_default_dir, close_left),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
