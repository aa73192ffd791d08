/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rm_harness.c: see rm_harness.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "daemon/status.h"
#include "rm_harness.h"

struct fake_tpm tpm;
struct tpm_caps caps;
struct rm_params params;
struct rm *rm;
uint8_t rsp[TB_BUF_MAX];
size_t rsp_len;
static uint8_t tbuf[TB_BUF_MAX];
/* the command parked by run() (RC_PARKED), as sched.c keeps it */
uint8_t pk_cmd[TB_BUF_MAX];
size_t pk_len;
struct rm_step pk_step;
uint64_t clock_ns;

static uint64_t
fake_now(void *ctx)
{
	(void)ctx;
	return clock_ns;
}

void
clock_advance_ms(unsigned ms)
{
	clock_ns += (uint64_t)ms * 1000000u;
}

void
rm_start(void)
{
	if (rm != NULL)
		rm_free(rm);
	assert_int_equal(rm_new(&params, &rm), 0);
}

int
setup(void **state)
{
	(void)state;
	fake_tpm_init(&tpm);
	fake_caps(&caps);
	params = (struct rm_params){.caps = &caps,
				    .max_objects_per_conn = 32,
				    .max_sessions_per_conn = 16,
				    .max_abandoned_per_uid = 8,
				    .max_abandoned = 32,
				    .retry_time_ms = 2000,
				    .now_ns = fake_now};
	clock_ns = 1000000000u; /* not 0: parked_ns 0 means "never parked" */
	rm = NULL;
	rm_start();
	return 0;
}

int
teardown(void **state)
{
	(void)state;
	rm_free(rm);
	rm = NULL;
	return 0;
}

struct rm_conn *
conn(uid_t uid)
{
	struct rm_peer peer = {.uid = uid, .gid = uid, .pid = 1};
	struct rm_conn *rc;

	assert_int_equal(rm_conn_new(rm, &peer, &rc), 0);
	return rc;
}

int
drive(int r, struct rm_conn *rc, struct rm_step *st)
{
	while (r == RM_SEND) {
		size_t n = fake_tpm_run(&tpm, st->tpm_cmd, st->tpm_cmd_len, tbuf, sizeof(tbuf));
		r = rm_resume(rm, rc, tbuf, n, st);
	}
	return r;
}

/*
 * Drive a command on step st until it is answered, as sched.c does: after
 * RM_WAIT for a pause (a TPM warning), let the pause pass on the fake clock
 * and run it again; RM_WAIT for
 * a session slot returns RC_PARKED, the command kept in pk_*.
 */
uint32_t
run_step(struct rm_conn *rc, uint8_t *cmd, size_t len, struct rm_step *st)
{
	int r;

	while ((r = drive(rm_begin(rm, rc, cmd, len, st), rc, st)) == RM_WAIT) {
		/* the command is as the client sent it, for the next run */
		if (st->wake_on_slot) {
			memcpy(pk_cmd, cmd, len);
			pk_len = len;
			pk_step = *st;
			return RC_PARKED;
		}
		clock_advance_ms(st->wait_ms);
	}
	assert_int_equal(r, RM_DONE);
	rsp_len = st->rsp_len;
	assert_true(rsp_len >= 10);
	assert_int_equal(get_be32(rsp + 2), rsp_len);
	return get_be32(rsp + 6);
}

/* Run the parked command again (a slot was freed, or its time is up). */
uint32_t
run_parked(struct rm_conn *rc)
{
	return run_step(rc, pk_cmd, pk_len, &pk_step);
}

/* Run one client command; returns the response code (response in rsp). */
uint32_t
run(struct rm_conn *rc, uint8_t *cmd, size_t len)
{
	struct rm_step st = {.rsp = rsp, .rsp_cap = sizeof(rsp)};
	uint32_t r = run_step(rc, cmd, len, &st);

	if (r == RC_PARKED)
		return r;
	rsp_len = st.rsp_len;
	assert_true(rsp_len >= 10);
	assert_int_equal(get_be32(rsp + 2), rsp_len);
	return get_be32(rsp + 6);
}

void
close_conn(struct rm_conn *rc)
{
	uint8_t scratch[TB_BUF_MAX];
	struct rm_step st = {.rsp = scratch, .rsp_cap = sizeof(scratch)};

	assert_int_equal(drive(rm_close(rm, rc, &st), rc, &st), RM_DONE);
}

/* ---- command builders ---- */


size_t
build(uint8_t *b, uint32_t cc, const uint32_t *h, unsigned nh, const struct sess_use *s,
      unsigned ns, const void *p, size_t plen)
{
	size_t off = 10;

	for (unsigned i = 0; i < nh; i++, off += 4)
		put_be32(b + off, h[i]);
	if (ns > 0) {
		put_be32(b + off, ns * 9);
		off += 4;
		for (unsigned i = 0; i < ns; i++) {
			put_be32(b + off, s[i].h);
			put_be16(b + off + 4, 0);
			b[off + 6] = s[i].attr;
			put_be16(b + off + 7, 0);
			off += 9;
		}
	}
	if (plen > 0)
		memcpy(b + off, p, plen);
	off += plen;
	wire_hdr_put(b, ns > 0 ? TPM2_ST_SESSIONS : TPM2_ST_NO_SESSIONS, (uint32_t)off, cc);
	return off;
}

const struct sess_use pw = {TPM2_RS_PW, CONT};
uint8_t cmdbuf[TB_BUF_MAX];

uint32_t
h_of_rsp(void)
{
	assert_true(rsp_len >= 14);
	return get_be32(rsp + 10);
}

uint32_t
create_primary(struct rm_conn *rc)
{
	uint32_t h = TPM2_RH_OWNER;

	assert_int_equal(run(rc, cmdbuf, build(cmdbuf, TPM2_CC_CreatePrimary, &h, 1, &pw, 1, "t", 1)),
			 TPM2_RC_SUCCESS);
	return h_of_rsp();
}

uint32_t
load_rc(struct rm_conn *rc, uint32_t parent)
{
	return run(rc, cmdbuf, build(cmdbuf, TPM2_CC_Load, &parent, 1, &pw, 1, "k", 1));
}

uint32_t
load(struct rm_conn *rc, uint32_t parent)
{
	assert_int_equal(load_rc(rc, parent), TPM2_RC_SUCCESS);
	return h_of_rsp();
}

uint32_t
create(struct rm_conn *rc, uint32_t parent)
{
	return run(rc, cmdbuf, build(cmdbuf, TPM2_CC_Create, &parent, 1, &pw, 1, "c", 1));
}

uint32_t
read_public(struct rm_conn *rc, uint32_t h, uint32_t *id)
{
	uint32_t r = run(rc, cmdbuf, build(cmdbuf, TPM2_CC_ReadPublic, &h, 1, NULL, 0, NULL, 0));

	if (r == TPM2_RC_SUCCESS && id != NULL)
		*id = get_be32(rsp + 10);
	return r;
}

uint32_t
id_of(struct rm_conn *rc, uint32_t h)
{
	uint32_t id = 0;

	assert_int_equal(read_public(rc, h, &id), TPM2_RC_SUCCESS);
	return id;
}

/* The object's id through a command nobody caches (vendor: no hand-kept table) */
uint32_t
vendor_id(struct rm_conn *rc, uint32_t h, uint32_t *id)
{
	uint32_t r = run(rc, cmdbuf, build(cmdbuf, FAKE_VENDOR_CC, &h, 1, NULL, 0, NULL, 0));

	if (r == TPM2_RC_SUCCESS && id != NULL)
		*id = get_be32(rsp + 10);
	return r;
}

uint32_t
start_session_rc(struct rm_conn *rc, bool policy)
{
	uint32_t h[2] = {TPM2_RH_NULL, TPM2_RH_NULL};
	uint8_t p[9] = {0, 0, 0, 0, policy ? TPM2_SE_POLICY : TPM2_SE_HMAC, 0, 0x10, 0, 0x0b};

	return run(rc, cmdbuf, build(cmdbuf, TPM2_CC_StartAuthSession, h, 2, NULL, 0, p, sizeof(p)));
}

uint32_t
start_session(struct rm_conn *rc, bool policy)
{
	assert_int_equal(start_session_rc(rc, policy), TPM2_RC_SUCCESS);
	return h_of_rsp();
}

uint32_t
sign(struct rm_conn *rc, uint32_t key, uint32_t sess, uint8_t attr, bool fail)
{
	struct sess_use s = {sess, attr};
	uint8_t p = fail ? FAKE_SIGN_FAIL : 0;

	return run(rc, cmdbuf, build(cmdbuf, TPM2_CC_Sign, &key, 1, &s, 1, &p, 1));
}

uint32_t
policy_cc(struct rm_conn *rc, uint32_t sess, uint32_t code)
{
	uint8_t p[4];

	put_be32(p, code);
	return run(rc, cmdbuf, build(cmdbuf, TPM2_CC_PolicyCommandCode, &sess, 1, NULL, 0, p, 4));
}

uint32_t
policy_digest(struct rm_conn *rc, uint32_t sess)
{
	assert_int_equal(run(rc, cmdbuf,
			     build(cmdbuf, TPM2_CC_PolicyGetDigest, &sess, 1, NULL, 0, NULL, 0)),
			 TPM2_RC_SUCCESS);
	return get_be32(rsp + 10);
}

uint32_t
ctx_save(struct rm_conn *rc, uint32_t h, uint8_t *blob, size_t *len)
{
	uint32_t r = run(rc, cmdbuf, build(cmdbuf, TPM2_CC_ContextSave, &h, 1, NULL, 0, NULL, 0));

	if (r == TPM2_RC_SUCCESS) {
		*len = rsp_len - 10;
		memcpy(blob, rsp + 10, *len);
	}
	return r;
}

uint32_t
ctx_load(struct rm_conn *rc, const uint8_t *blob, size_t len, uint32_t *h)
{
	uint32_t r = run(rc, cmdbuf, build(cmdbuf, TPM2_CC_ContextLoad, NULL, 0, NULL, 0, blob, len));

	if (r == TPM2_RC_SUCCESS)
		*h = h_of_rsp();
	return r;
}

uint32_t
flush(struct rm_conn *rc, uint32_t h)
{
	uint8_t p[4];

	put_be32(p, h);
	return run(rc, cmdbuf, build(cmdbuf, TPM2_CC_FlushContext, NULL, 0, NULL, 0, p, 4));
}

/* GetCapability(HANDLES, prop, count): the handles into out, returns count */
size_t
getcap(struct rm_conn *rc, uint32_t prop, uint32_t count, uint32_t *out, bool *more)
{
	uint8_t p[12];
	size_t n;

	put_be32(p, TPM2_CAP_HANDLES);
	put_be32(p + 4, prop);
	put_be32(p + 8, count);
	assert_int_equal(run(rc, cmdbuf, build(cmdbuf, TPM2_CC_GetCapability, NULL, 0, NULL, 0, p, 12)),
			 TPM2_RC_SUCCESS);
	assert_int_equal(get_be32(rsp + 11), TPM2_CAP_HANDLES);
	n = get_be32(rsp + 15);
	assert_int_equal(rsp_len, 19 + 4 * n);
	for (size_t i = 0; i < n; i++)
		out[i] = get_be32(rsp + 19 + 4 * i);
	if (more != NULL)
		*more = rsp[10] != 0;
	return n;
}

struct find_saved {
	uint32_t h;
	bool saved;
};

static void
find_saved(const struct rm_handle_info *hi, void *ctx)
{
	struct find_saved *fs = ctx;

	if (hi->handle == fs->h && hi->state == RM_H_SAVED)
		fs->saved = true;
}

/* What the status shows: is the object (or session) saved by the broker? */
bool
swapped_out(struct rm_conn *rc, uint32_t h)
{
	struct find_saved fs = {.h = h};

	rm_conn_handles(rm, rc, find_saved, &fs);
	return fs.saved;
}

/* ---- status.c's rendering of the RM's handles ---- */

void
describe_conn(struct rm_conn *rc, FILE *f, bool json)
{
	status_conn_handles(rm, rc, f, json);
}

void
describe_abandoned(FILE *f, bool json)
{
	status_abandoned(rm, f, json);
}

struct rm_stats
stats(void)
{
	struct rm_stats s;

	rm_get_stats(rm, &s);
	return s;
}
