/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_coexist.c: the resource manager sharing the (fake) TPM with users it
 * does not know of, whose objects and sessions are loaded straight into the
 * TPM: the start-up sweep in own mode leaves them, clients never see nor
 * touch them, --reserve-slots keeps the RM below the TPM's count once a job
 * is over, and OBJECT_MEMORY / SESSION_MEMORY caused by another holder
 * lower the RM's slot count for a while.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/wire.h"
#include "daemon/held.h"
#include "daemon/loop.h"
#include "daemon/rm_int.h"
#include "rm_harness.h"

static uint8_t dbuf[TB_BUF_MAX], drsp[TB_BUF_MAX];

/* A command straight to the fake TPM, as another user of the chip sends it. */
static uint32_t
direct(size_t len, uint32_t *ret_h)
{
	size_t n = fake_tpm_run(&tpm, dbuf, len, drsp, sizeof(drsp));
	uint32_t rc = get_be32(drsp + 6);

	if (rc == TPM2_RC_SUCCESS && ret_h != NULL && n >= 14)
		*ret_h = get_be32(drsp + 10);
	return rc;
}

static uint32_t
foreign_object(void)
{
	uint32_t h = TPM2_RH_OWNER;

	assert_int_equal(direct(build(dbuf, TPM2_CC_CreatePrimary, &h, 1, &pw, 1, "f", 1), &h), 0);
	return h;
}

static uint32_t
foreign_session(void)
{
	uint32_t h[2] = {TPM2_RH_NULL, TPM2_RH_NULL}, s;
	uint8_t p[9] = {0, 0, 0, 0, TPM2_SE_HMAC, 0, 0x10, 0, 0x0b};

	assert_int_equal(direct(build(dbuf, TPM2_CC_StartAuthSession, h, 2, NULL, 0, p, 9), &s), 0);
	return s;
}

static bool
tpm_has_object(uint32_t h)
{
	uint32_t i = h - ENT_TRANSIENT_FIRST;

	return i < FAKE_OBJ_MAX && tpm.obj[i].used;
}

static bool
tpm_has_session(uint32_t h)
{
	return tpm.sess[h & 0xffffff].state != FS_NONE;
}

static int
xact(void *ctx, const uint8_t *cmd, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
	(void)ctx;
	*ret_len = fake_tpm_run(&tpm, cmd, len, out, cap);
	return 0;
}

/* A broker held objects and sessions, then died; the next start sweeps. */
static void
test_sweep_own_leaves_foreign(void **state)
{
	struct rm_conn *a = conn(1000);
	uint32_t fo, fs, fs_saved, held[16];
	uint32_t k, s1, s2;
	struct rm_sweep_result res;
	size_t n;

	(void)state;
	/* before the broker: a boot-time tool's object and two sessions, one saved */
	fo = foreign_object();
	fs = foreign_session();
	fs_saved = foreign_session();
	assert_int_equal(direct(build(dbuf, TPM2_CC_ContextSave, &fs_saved, 1, NULL, 0, NULL, 0),
				NULL),
			 0);
	/* the broker's client: a key, a loaded session and one swapped out */
	k = create_primary(a);
	s1 = start_session(a, false);
	s2 = start_session(a, true);
	assert_int_equal(sign(a, k, s1, CONT, false), 0);
	n = rm_held_handles(rm, held, 16);
	assert_int_equal(n, 3); /* the key's TPM handle, both sessions */
	(void)s2;
	/* the broker is killed here (nothing flushed); a new one starts: own */
	assert_int_equal(rm_sweep_handles(xact, NULL, held, n, &res), 0);
	assert_int_equal(res.flushed, 3);
	assert_int_equal(res.left, 3);
	assert_true(tpm_has_object(fo));
	assert_true(tpm_has_session(fs));
	assert_true(tpm_has_session(fs_saved));
	assert_int_equal(fake_objects_loaded(&tpm), 1);
	assert_int_equal(fake_sessions(&tpm, FS_LOADED) + fake_sessions(&tpm, FS_SAVED), 2);
	/* own with an empty record flushes nothing */
	assert_int_equal(rm_sweep_handles(xact, NULL, held, 0, &res), 0);
	assert_int_equal(res.flushed, 0);
	assert_int_equal(res.left, 3);
	/* all: everything goes, as before */
	assert_int_equal(rm_sweep_handles(xact, NULL, NULL, 0, &res), 0);
	assert_int_equal(res.flushed, 3);
	assert_int_equal(fake_objects_loaded(&tpm), 0);
	assert_int_equal(fake_sessions(&tpm, FS_LOADED) + fake_sessions(&tpm, FS_SAVED), 0);
	rm_tpm_reset(rm); /* the TPM lost what the RM thinks it holds */
	close_conn(a);
}

/* Handles that were in the TPM before: never listed, never usable, never flushed. */
static void
test_foreign_invisible(void **state)
{
	struct rm_conn *a = conn(1000), *root = conn(0);
	uint32_t fo, fs, out[16], k, s;
	size_t mark;
	bool more;

	(void)state;
	fo = foreign_object();
	fs = foreign_session();
	k = create_primary(a);
	s = start_session(a, false);
	assert_int_equal(getcap(a, ENT_TRANSIENT_FIRST, 16, out, &more), 1);
	assert_int_equal(out[0], k);
	assert_int_equal(getcap(a, 0x02000000u, 16, out, &more), 1);
	assert_int_equal(out[0], s);
	assert_int_equal(getcap(a, 0x03000000u, 16, out, &more), 0);
	assert_int_equal(getcap(root, ENT_TRANSIENT_FIRST, 16, out, &more), 0);
	assert_int_equal(getcap(root, 0x02000000u, 16, out, &more), 0);
	mark = tpm.n_log;
	/* root too: a foreign session is nobody's here */
	assert_int_equal(flush(root, fs), RC_P1);
	assert_int_equal(ctx_save(root, fs, dbuf, &(size_t){0}), RC_H1);
	assert_int_equal(sign(root, k, fs, CONT, false), RC_H1); /* root has no key k */
	assert_int_equal(policy_cc(root, fs, TPM2_CC_Sign), RC_H1);
	/* a foreign object's TPM handle is a virtual handle root does not have */
	assert_int_equal(flush(root, fo), RC_P1);
	assert_int_equal(vendor_id(root, fo, NULL), RC_H1);
	assert_int_equal(tpm.n_log, mark); /* none of it reached the TPM */
	close_conn(a);
	close_conn(root);
	assert_true(tpm_has_object(fo));
	assert_true(tpm_has_session(fs));
	assert_int_equal(fake_objects_loaded(&tpm), 1);
}

/* --reserve-slots=1,1 on a 3+3 TPM: at most 2+2 loaded once a job is over. */
static void
test_reserve_slots(void **state)
{
	struct rm_conn *c[3];
	uint32_t k[3][2], s[3][2];

	(void)state;
	params.reserve[ENT_OBJECT] = 1;
	params.reserve[ENT_SESSION] = 1;
	rm_start();
	assert_int_equal(stats().slots[ENT_OBJECT], 2);
	assert_int_equal(stats().slots[ENT_SESSION], 2);
	for (int i = 0; i < 3; i++) {
		c[i] = conn(1000 + (uid_t)i);
		k[i][0] = create_primary(c[i]);
		k[i][1] = load(c[i], k[i][0]);
		s[i][0] = start_session(c[i], false);
		s[i][1] = start_session(c[i], false);
		assert_true(fake_objects_loaded(&tpm) <= 2);
		assert_true(fake_sessions(&tpm, FS_LOADED) <= 2);
	}
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 3; i++) {
			assert_int_equal(sign(c[i], k[i][round & 1], s[i][(round >> 1) & 1], CONT,
					      false),
					 0);
			assert_true(fake_objects_loaded(&tpm) <= 2);
			assert_true(fake_sessions(&tpm, FS_LOADED) <= 2);
		}
	}
	/* another user of the TPM can load an object and start a session */
	(void)foreign_object();
	(void)foreign_session();
	for (int i = 0; i < 3; i++)
		close_conn(c[i]);
}

/* A command that needs more than slots - reserve: loaded for it, trimmed after. */
static void
test_reserve_trim(void **state)
{
	struct rm_conn *a = conn(1000);
	struct sess_use su[2];
	uint32_t k;
	uint8_t p = 0;

	(void)state;
	params.reserve[ENT_SESSION] = 2; /* one session slot of three */
	rm_start();
	a = conn(1000);
	k = create_primary(a);
	su[0] = (struct sess_use){start_session(a, false), CONT};
	su[1] = (struct sess_use){start_session(a, false), CONT};
	assert_int_equal(fake_sessions(&tpm, FS_LOADED), 1);
	/* two sessions in one command: both loaded while it runs */
	assert_int_equal(run(a, cmdbuf, build(cmdbuf, TPM2_CC_Sign, &k, 1, su, 2, &p, 1)), 0);
	assert_int_equal(fake_sessions(&tpm, FS_LOADED), 1);
	assert_int_equal(stats().trims, 1);
	close_conn(a);
}

/* OBJECT_MEMORY while the RM counts a free slot: someone else holds it. */
static void
test_learn_from_object_memory(void **state)
{
	struct rm_conn *a = conn(1000);
	uint32_t k[3], fo;
	size_t mark;

	(void)state;
	fo = foreign_object(); /* before the broker knew: it counts 3 free slots */
	k[0] = create_primary(a);
	k[1] = load(a, k[0]);
	assert_int_equal(stats().slots_lowered, 0);
	/* the third does not fit: TPM_RC_OBJECT_MEMORY, cured by an eviction */
	k[2] = load(a, k[0]);
	assert_int_equal(stats().slots_lowered, 1);
	assert_int_equal(stats().slots[ENT_OBJECT], 2);
	assert_int_equal(fake_count_rc(&tpm, 0, TPM2_RC_OBJECT_MEMORY), 1);
	/* from now on the RM keeps 2 loaded: no more OBJECT_MEMORY */
	mark = tpm.n_log;
	for (int i = 0; i < 9; i++)
		assert_int_equal(vendor_id(a, k[i % 3], NULL), 0);
	assert_int_equal(fake_count_rc(&tpm, mark, TPM2_RC_OBJECT_MEMORY), 0);
	assert_true(tpm_has_object(fo));
	/* after RM_SLOTS_LOW_MS it tries the full count again, and learns again */
	clock_advance_ms(RM_SLOTS_LOW_MS);
	mark = tpm.n_log;
	for (int i = 0; i < 3; i++)
		assert_int_equal(vendor_id(a, k[i], NULL), 0);
	assert_int_equal(fake_count_rc(&tpm, mark, TPM2_RC_OBJECT_MEMORY), 1);
	assert_int_equal(stats().slots_lowered, 2);
	assert_int_equal(stats().slots[ENT_OBJECT], 2);
	/* the other user lets go: after the pause the RM uses all three */
	assert_int_equal(direct(build(dbuf, TPM2_CC_FlushContext, NULL, 0, NULL, 0,
				      (uint8_t[4]){fo >> 24, fo >> 16 & 0xff, fo >> 8 & 0xff,
						   fo & 0xff},
				      4),
				NULL),
			 0);
	clock_advance_ms(RM_SLOTS_LOW_MS);
	mark = tpm.n_log;
	for (int i = 0; i < 6; i++)
		assert_int_equal(vendor_id(a, k[i % 3], NULL), 0);
	assert_int_equal(fake_count_rc(&tpm, mark, TPM2_RC_OBJECT_MEMORY), 0);
	assert_int_equal(stats().slots[ENT_OBJECT], 3);
	assert_int_equal(fake_objects_loaded(&tpm), 3);
	close_conn(a);
}

/* The same for sessions: SESSION_MEMORY. */
static void
test_learn_from_session_memory(void **state)
{
	struct rm_conn *a = conn(1000);
	uint32_t s[3], fs, k;

	(void)state;
	fs = foreign_session();
	k = create_primary(a);
	s[0] = start_session(a, false);
	s[1] = start_session(a, false);
	s[2] = start_session(a, false);
	assert_int_equal(stats().slots_lowered, 1);
	assert_int_equal(stats().slots[ENT_SESSION], 2);
	assert_true(tpm_has_session(fs));
	for (int i = 0; i < 3; i++)
		assert_int_equal(sign(a, k, s[i], CONT, false), 0);
	assert_int_equal(fake_count_rc(&tpm, 0, TPM2_RC_SESSION_MEMORY), 1);
	close_conn(a);
	assert_true(tpm_has_session(fs));
}

/* The record: written as the RM holds, read back by the next start, refused when in doubt. */
static void
test_held_record(void **state)
{
	char dir[] = "/tmp/tbheld.XXXXXX", path[64];
	struct rm_conn *a = conn(1000);
	uint32_t held[16], got[16];
	struct loop *loop;
	struct held *hd;
	size_t n, m = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/held-shared", dir);
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(held_read(path, "fake", got, 16, &m), -ENOENT);
	assert_int_equal(held_new(loop, path, "fake", rm, &hd), 0);
	assert_int_equal(held_read(path, "fake", got, 16, &m), 0);
	assert_int_equal(m, 0);
	(void)create_primary(a);
	(void)start_session(a, false);
	held_changed(hd); /* arms the write: none yet (a write at start was just made) */
	assert_int_equal(held_read(path, "fake", got, 16, &m), 0);
	assert_int_equal(m, 0);
	for (int i = 0; i < 50 && m == 0; i++) {
		assert_true(loop_run_once(loop, 10) >= 0);
		assert_int_equal(held_read(path, "fake", got, 16, &m), 0);
	}
	n = rm_held_handles(rm, held, 16);
	assert_int_equal(n, 2);
	assert_int_equal(m, 2);
	assert_true((got[0] == held[0] && got[1] == held[1]) ||
		    (got[0] == held[1] && got[1] == held[0]));
	/* a record of another TPM is never applied */
	assert_int_equal(held_read(path, "swtpm 127.0.0.1:1", got, 16, &m), -ESTALE);
	close_conn(a);
	held_free(hd); /* the last write: nothing held */
	assert_int_equal(held_read(path, "fake", got, 16, &m), 0);
	assert_int_equal(m, 0);
	/* cut short (a crash mid-write), or not a record: refused as a whole */
	assert_non_null(f = fopen(path, "a"));
	fputs("0x80000001\n0x8000000\n", f);
	fclose(f);
	assert_int_equal(held_read(path, "fake", got, 16, &m), -EBADMSG);
	assert_non_null(f = fopen(path, "w"));
	fputs("0x80000001\n", f);
	fclose(f);
	assert_int_equal(held_read(path, "fake", got, 16, &m), -EBADMSG);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	(void)rmdir(path);
	(void)rmdir(dir);
	loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sweep_own_leaves_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_invisible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_trim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learn_from_object_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learn_from_session_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_record, setup, teardown),
	};

	return cmocka_run_group_tests_name("rm-coexist", tests, NULL, NULL);
}
