/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_rm: the resource manager driven by arbitrary programs against the
 * fake TPM (tests/unit/fake_tpm.c) with a tiny TPM: 3 object and 3 session
 * slots, 6 active sessions, a context gap of 30 (announced or not), warnings
 * injected at will.  Four connections (root and two users) start sessions,
 * create and load keys, flush, save and load contexts (their own blobs and
 * each other's), use sessions in handle and authorization areas, send raw
 * bytes, leave and come back; the TPM is reset underneath (and must be
 * started again by the RM); the daemon runs jobs of its own.  Parked commands
 * (RM_WAIT) are run again as the scheduler would: when a session slot is
 * freed, or with their time run out.
 *
 * Whatever the program: no crash, no sanitizer report, every command gets a
 * well-formed answer, and once every connection has left the TPM holds
 * nothing but the abandoned sessions the RM still tracks.
 *
 * Built as a libFuzzer target by `make fuzz` (scripts/fuzz.sh: clang,
 * -Dfuzz=true, ASan+UBSan; FUZZ_SECONDS=600 make fuzz for longer runs);
 * otherwise main() replays the files and directories named on the command
 * line (tests/fuzz/corpus/rm) as a test of `make check`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/wire.h"
#include "daemon/caps.h"
#include "daemon/rm.h"
#include "fake_tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCONN 4
#define NH 8 /* handles remembered per connection */

struct fconn {
	struct rm_conn *rc;
	uint32_t h[NH]; /* handles the TPM (through the RM) gave it */
	unsigned nh;
	uint8_t blob[TB_BUF_MAX]; /* its last ContextSave */
	size_t blob_len;
	/* a parked command (RM_WAIT), kept as sched.c keeps it */
	bool parked;
	uint8_t pcmd[TB_BUF_MAX];
	size_t plen;
	struct rm_step pstep;
};

static struct fake_tpm tpm;
static struct tpm_caps caps;
static struct rm *rm;
static struct fconn fc[NCONN];
static uint8_t rsp[TB_BUF_MAX], tbuf[TB_BUF_MAX], cmd[TB_BUF_MAX];
static const uid_t uids[NCONN] = {0, 1000, 1000, 2000};

/* the input, consumed a byte at a time (zeros once it runs out) */
static const uint8_t *in;
static size_t in_left;

static uint8_t
next(void)
{
	if (in_left == 0)
		return 0;
	in_left--;
	return *in++;
}

static uint32_t
next32(void)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | next();
	return v;
}

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_rm: invariant broken: %s\n", what);
		abort();
	}
}

/* A handle of connection c to name, or a made-up one. */
static uint32_t
pick(const struct fconn *c)
{
	uint8_t b = next();

	if (c->nh > 0 && b < 200)
		return c->h[b % c->nh];
	switch (b % 4) {
	case 0:
		return 0x80000000u | (b & 7);
	case 1:
		return 0x02000000u | (b & 7);
	case 2:
		return 0x03000000u | (b & 7);
	default:
		return next32();
	}
}

static void
remember(struct fconn *c, uint32_t h)
{
	c->h[c->nh < NH ? c->nh++ : next() % NH] = h;
}

static size_t
build(uint32_t cc, const uint32_t *h, unsigned nh, const uint32_t *s, const uint8_t *sattr,
      unsigned ns, const void *p, size_t plen)
{
	size_t off = 10;

	for (unsigned i = 0; i < nh; i++, off += 4)
		put_be32(cmd + off, h[i]);
	if (ns > 0) {
		put_be32(cmd + off, ns * 9);
		off += 4;
		for (unsigned i = 0; i < ns; i++, off += 9) {
			put_be32(cmd + off, s[i]);
			put_be16(cmd + off + 4, 0);
			cmd[off + 6] = sattr[i];
			put_be16(cmd + off + 7, 0);
		}
	}
	if (plen > 0)
		memcpy(cmd + off, p, plen);
	off += plen;
	wire_hdr_put(cmd, ns > 0 ? TPM2_ST_SESSIONS : TPM2_ST_NO_SESSIONS, (uint32_t)off, cc);
	return off;
}

/* The RM's clock (params.now_ns): it moves by the pauses the RM asks for. */
static uint64_t clock_ns;

static uint64_t
fake_now(void *ctx)
{
	(void)ctx;
	return clock_ns;
}

static int
drive(int r, struct fconn *c, struct rm_step *st)
{
	while (r == RM_SEND) {
		size_t n = fake_tpm_run(&tpm, st->tpm_cmd, st->tpm_cmd_len, tbuf, sizeof(tbuf));
		r = rm_resume(rm, c->rc, tbuf, n, st);
	}
	check(r == RM_DONE || r == RM_WAIT, "rm result");
	return r;
}

/* A job of the daemon's own: the housekeeping owed, then GetRandom or nothing. */
static void
internal_job(bool with_cmd)
{
	uint8_t own[12], out[64];
	struct rm_step st = {.rsp = out, .rsp_cap = sizeof(out)};
	int r;

	wire_hdr_put(own, TPM2_ST_NO_SESSIONS, sizeof(own), TPM2_CC_GetRandom);
	put_be16(own + 10, 8);
	r = rm_begin_internal(rm, with_cmd ? own : NULL, with_cmd ? sizeof(own) : 0, &st);
	while (r == RM_SEND) {
		size_t n = fake_tpm_run(&tpm, st.tpm_cmd, st.tpm_cmd_len, tbuf, sizeof(tbuf));
		check(!st.client_cmd, "internal job at a client's locality");
		r = rm_resume(rm, NULL, tbuf, n, &st);
	}
	check(r == RM_DONE, "internal job result");
	check(!with_cmd || (st.rsp_len >= 10 && get_be32(out + 2) == st.rsp_len), "internal answer");
	check(!tpm.unstarted, "the RM did not start the TPM");
}

/* Run the command in buf on step st; answered (true) or parked. */
static bool
run_step(struct fconn *c, uint8_t *buf, size_t len, struct rm_step *st)
{
	int r;

	for (unsigned tries = 0;; tries++) {
		r = drive(rm_begin(rm, c->rc, buf, len, st), c, st);
		if (r == RM_DONE)
			break;
		if (st->wake_on_slot) {
			c->parked = true;
			memcpy(c->pcmd, buf, len);
			c->plen = len;
			c->pstep = *st;
			return false;
		}
		/* a pause for a TPM warning: after a few, let its time run out */
		clock_ns += (uint64_t)st->wait_ms * 1000000u;
		if (tries > 4)
			st->parked_ns = 1;
	}
	check(st->rsp_len >= 10 && st->rsp_len <= st->rsp_cap, "response length");
	check(get_be32(st->rsp + 2) == st->rsp_len, "response size field");
	return true;
}

/* One command of connection c; the new handle, if any, remembered. */
static void
run(struct fconn *c, size_t len)
{
	struct rm_step st = {.rsp = rsp, .rsp_cap = sizeof(rsp)};
	uint32_t rc;

	if (c->parked)
		return; /* one command at a time per connection */
	if (!run_step(c, cmd, len, &st))
		return;
	rc = get_be32(rsp + 6);
	if (rc == TPM2_RC_SUCCESS && st.rsp_len >= 14) {
		uint32_t cc = get_be32(cmd + 6), h = get_be32(rsp + 10);
		if (cc == TPM2_CC_StartAuthSession || cc == TPM2_CC_CreatePrimary ||
		    cc == TPM2_CC_Load || cc == TPM2_CC_ContextLoad)
			remember(c, h);
		if (cc == TPM2_CC_ContextSave && st.rsp_len - 10 <= sizeof(c->blob)) {
			c->blob_len = st.rsp_len - 10;
			memcpy(c->blob, rsp + 10, c->blob_len);
		}
	}
}

/* Parked commands: again when a slot was freed; all of them when time is up. */
static void
run_parked(bool time_up)
{
	static uint64_t gen;

	if (!time_up && rm_slot_gen(rm) == gen)
		return;
	gen = rm_slot_gen(rm);
	for (int i = 0; i < NCONN; i++) {
		struct fconn *c = &fc[i];
		if (!c->parked)
			continue;
		c->parked = false;
		c->pstep.rsp = rsp;
		if (time_up)
			c->pstep.parked_ns = 1;
		(void)run_step(c, c->pcmd, c->plen, &c->pstep);
	}
}

static void
conn_open(struct fconn *c, uid_t uid)
{
	struct rm_peer peer = {.uid = uid, .gid = uid, .pid = 1};

	memset(c->h, 0, sizeof(c->h));
	c->nh = 0;
	c->parked = false;
	check(rm_conn_new(rm, &peer, &c->rc) == 0, "rm_conn_new");
}

static void
conn_close(struct fconn *c)
{
	uint8_t scratch[TB_BUF_MAX];
	struct rm_step st = {.rsp = scratch, .rsp_cap = sizeof(scratch)};

	c->parked = false; /* the scheduler forgets a parked command of a dead client */
	check(drive(rm_close(rm, c->rc, &st), c, &st) == RM_DONE, "close job");
	c->rc = NULL;
}

static void
op(struct fconn *c)
{
	uint32_t h[2], s[2];
	uint8_t a[2], p[64], b = next();

	switch (b % 14) {
	case 0: { /* StartAuthSession, policy or HMAC */
		uint8_t sp[9] = {0, 0, 0, 0, next() & 1 ? TPM2_SE_POLICY : TPM2_SE_HMAC,
				 0, 0x10, 0, 0x0b};
		h[0] = h[1] = TPM2_RH_NULL;
		run(c, build(TPM2_CC_StartAuthSession, h, 2, NULL, NULL, 0, sp, sizeof(sp)));
		break;
	}
	case 1:
		h[0] = TPM2_RH_OWNER;
		s[0] = TPM2_RS_PW;
		a[0] = TPMA_SESSION_CONTINUESESSION;
		run(c, build(TPM2_CC_CreatePrimary, h, 1, s, a, 1, "t", 1));
		break;
	case 2:
		h[0] = pick(c);
		s[0] = TPM2_RS_PW;
		a[0] = TPMA_SESSION_CONTINUESESSION;
		run(c, build(TPM2_CC_Load, h, 1, s, a, 1, "k", 1));
		break;
	case 3:
		put_be32(p, pick(c));
		run(c, build(TPM2_CC_FlushContext, NULL, 0, NULL, NULL, 0, p, 4));
		break;
	case 4:
		h[0] = pick(c);
		run(c, build(TPM2_CC_ContextSave, h, 1, NULL, NULL, 0, NULL, 0));
		break;
	case 5: { /* ContextLoad of some connection's blob, maybe damaged */
		struct fconn *o = &fc[next() % NCONN];
		size_t n = o->blob_len;
		memcpy(p, o->blob, MIN(n, sizeof(p)));
		if (n > sizeof(p) || n == 0)
			break;
		if (next() < 16)
			p[next() % n] ^= (uint8_t)(1u << (next() & 7));
		run(c, build(TPM2_CC_ContextLoad, NULL, 0, NULL, NULL, 0, p, n));
		break;
	}
	case 6:
		h[0] = pick(c);
		put_be32(p, TPM2_CC_Sign);
		run(c, build(TPM2_CC_PolicyCommandCode, h, 1, NULL, NULL, 0, p, 4));
		break;
	case 7: /* Sign with up to two sessions */
		h[0] = pick(c);
		s[0] = pick(c);
		s[1] = pick(c);
		a[0] = next() & 1 ? TPMA_SESSION_CONTINUESESSION : 0;
		a[1] = TPMA_SESSION_CONTINUESESSION;
		p[0] = 0;
		run(c, build(TPM2_CC_Sign, h, 1, s, a, 1 + (next() & 1), p, 1));
		break;
	case 8:
		h[0] = pick(c);
		run(c, build(TPM2_CC_ReadPublic, h, 1, NULL, NULL, 0, NULL, 0));
		break;
	case 9: /* leave, a new client comes */
		conn_close(c);
		conn_open(c, uids[next() % NCONN]);
		break;
	case 10:
		put_be32(p, TPM2_CAP_HANDLES);
		put_be32(p + 4, next() % 3 == 0 ? 0x80000000u : next() & 1 ? 0x02000000u : 0x03000000u);
		put_be32(p + 8, next() % 10);
		run(c, build(TPM2_CC_GetCapability, NULL, 0, NULL, NULL, 0, p, 12));
		break;
	case 11: { /* the TPM says a warning to the next commands */
		static const uint32_t w[] = {TPM2_RC_RETRY, TPM2_RC_YIELDED, TPM2_RC_TESTING,
					     TPM2_RC_OBJECT_MEMORY, TPM2_RC_SESSION_MEMORY,
					     TPM2_RC_SESSION_HANDLES, TPM2_RC_OBJECT_HANDLES,
					     TPM2_RC_NV_RATE, TPM2_RC_CONTEXT_GAP};
		tpm.inject_rc = w[next() % ARRAY_SIZE(w)];
		tpm.inject_n = next() % 4;
		break;
	}
	case 12: { /* raw bytes behind a valid header of a known command */
		size_t n = 10 + next() % 40;
		for (size_t i = 10; i < n; i++)
			cmd[i] = next();
		wire_hdr_put(cmd, next() & 1 ? TPM2_ST_SESSIONS : TPM2_ST_NO_SESSIONS,
			     (uint32_t)n, caps.cc[next() % caps.n_cc] & TPMA_CC_COMMANDINDEX_MASK);
		run(c, n);
		break;
	}
	default: { /* the TPM is reset underneath (the RM starts it); the daemon's own jobs */
		uint8_t v = next();
		if (v < 32) {
			uint32_t gap = tpm.gap_max;
			fake_tpm_init(&tpm);
			tpm.active_max = 6;
			tpm.gap_max = gap;
			tpm.unstarted = true;
			rm_tpm_reset(rm);
		} else if (v < 48) {
			internal_job(v & 1);
		}
		break;
	}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rm_params params;
	struct rm_stats st;
	uint8_t flags;

	in = data;
	in_left = size;
	flags = next();
	fake_tpm_init(&tpm);
	tpm.active_max = 6;
	tpm.gap_max = 30;
	fake_caps(&caps);
	caps.active_sessions_max = 6;
	/* announced, or larger than the TPM's (TPM_RC_CONTEXT_GAP comes first) */
	caps.context_gap_max = flags & 1 ? 30 : 0xffff;
	params = (struct rm_params){.caps = &caps,
				    .max_objects_per_conn = 4,
				    .max_sessions_per_conn = 4,
				    .max_abandoned_per_uid = 2,
				    .max_abandoned = 3,
				    .max_objects_per_uid = 6,
				    .max_sessions_per_uid = flags & 2 ? 5 : 0,
				    .session_wait_ms = flags & 4 ? 60000 : 0,
				    .retry_time_ms = flags & 8 ? 60000 : 0,
				    .now_ns = fake_now};
	clock_ns = 3600000000000u; /* an hour in: parked_ns 1 is long ago */
	check(rm_new(&params, &rm) == 0, "rm_new");
	for (int i = 0; i < NCONN; i++) {
		memset(&fc[i], 0, sizeof(fc[i]));
		conn_open(&fc[i], uids[i]);
	}
	while (in_left > 0) {
		op(&fc[next() % NCONN]);
		run_parked(false);
	}
	run_parked(true);
	for (int i = 0; i < NCONN; i++)
		conn_close(&fc[i]);
	rm_get_stats(rm, &st);
	check(st.objects == 0 && st.sessions == st.abandoned, "connections' handles left");
	check(fake_objects_loaded(&tpm) == 0, "objects left in the TPM");
	check(fake_sessions(&tpm, FS_LOADED) + fake_sessions(&tpm, FS_SAVED) <= st.abandoned,
	      "sessions left in the TPM that the RM does not track");
	rm_free(rm);
	rm = NULL;
	return 0;
}
