/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sessclient: sessions at scale through a running tpmbrokerd: the context
 * gap, exhaustion of the TPM's 64 active sessions, per-user quotas, many
 * clients taking turns.  Every client is its own connection (ESYS over the
 * TCTI given, and hand-built commands on the same TCTI).  The authorized
 * command is always PCR_Extend with the same digest, so the final PCR value
 * counts the extends that really happened (sha256 chained N times), not
 * only the success codes the clients saw.
 *
 *   sessclient TCTI gap CYCLES CONNS
 *       An idle connection holds 4 HMAC sessions (more than the TPM's 3
 *       session slots: the broker has saved some); CONNS other connections
 *       each start a session and run CYCLES/CONNS rounds of ContextSave +
 *       ContextLoad of it (each save advances the TPM's context counter).
 *       Every save and load must succeed, the counter must have advanced by
 *       at least CYCLES, and then every session (idle and cycled) still
 *       authorizes a PCR_Extend of PCR 16.
 *   sessclient TCTI exhaust K QUOTA
 *       A greedy connection starts sessions (the first a policy session,
 *       then HMAC sessions) until refused: refused exactly after QUOTA with
 *       0x000B0905; it uses each once, oldest first (PolicyCommandCode on
 *       the policy session, PCR_Extend of PCR 23 with the others).  K other processes, released together, each start a session
 *       and extend PCR 16 with it, then hold it until every one got its
 *       turn (or nobody moved for 3 s), extend again and leave.  While they
 *       hold theirs, the greedy client's sessions must be a prefix of
 *       evicted ones (the oldest: 0x000B01A3 for the policy session in the
 *       handle area, 0x000B09A3 for the others as the 1st authorization,
 *       0x000B0AA3 as the 2nd) followed by working ones (at least the
 *       newest); FlushContext of an evicted one succeeds.  All K
 *       must succeed.  Prints "evicted N".
 *   sessclient TCTI peruser UID
 *       Drops to UID, opens two connections and talks in lines on
 *       stdin/stdout so that the script can read `status` between steps:
 *         -> "have 4"          2 sessions on each connection
 *         <- "try"   -> "refused"      a 5th on either: 0x000B0905
 *         <- "flush" -> "ok"           one flushed: the other connection
 *                                      starts one; all 4 still work
 *         <- "objects" -> "have 3"     2 + 1 primary objects (quota 3)
 *         <- "try"   -> "refused"      a 4th on either: 0x000B0906
 *         <- "end"                     closes both connections
 *   sessclient TCTI hold N
 *       one connection starts N HMAC sessions and uses each; prints "held",
 *       waits for a line "go" on stdin, then each must work again; "ok"
 *   sessclient TCTI fill CONNS PER
 *       CONNS connections start PER HMAC sessions each; prints "full",
 *       then on stdin "flush": the first connection flushes its first
 *       session, "flushed"; "end": every other session still works, "ok"
 *   sessclient TCTI start
 *       one StartAuthSession: prints "rc 0xRC"; on success uses the session
 *       for PCR_Extend and prints "used 0xRC"
 *   sessclient TCTI count
 *       start HMAC sessions until refused; print "count N rc 0xRC"
 *   sessclient TCTI storm K SECS
 *       K processes, released together, each loop StartAuthSession ->
 *       PCR_Extend with it -> FlushContext for SECS seconds.  Prints "go"
 *       when released, then per-client iterations and a summary; exit 0
 *       only with 0 errors, the slowest client at least half the median's
 *       iterations, and PCR 16 holding exactly the extends done.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tclient.h"

#define RM_RC(rc) (0x000B0000u | (uint32_t)(rc))
#define RC_SESSION_HANDLES RM_RC(TPM2_RC_SESSION_HANDLES)           /* 0x000B0905 */
#define RC_OBJECT_HANDLES RM_RC(TPM2_RC_OBJECT_HANDLES)             /* 0x000B0906 */
#define RC_EXPIRED_S1 RM_RC(TPM2_RC_EXPIRED | TPM2_RC_S | TPM2_RC_1) /* 0x000B09A3 */
#define RC_EXPIRED_S2 RM_RC(TPM2_RC_EXPIRED | TPM2_RC_S | TPM2_RC_2) /* 0x000B0AA3 */
#define RC_EXPIRED_H1 RM_RC(TPM2_RC_EXPIRED | TPM2_RC_H | TPM2_RC_1) /* 0x000B01A3 */
#define PCR_USED 16   /* extended by everyone through a session */
#define PCR_GREEDY 23 /* extended by the greedy client */
#define MAX_SESS 256

static const char *tcti_conf;
static const char *me = "sessclient";
static int failures;

#define CHECK(cond, ...)                                        \
	do {                                                    \
		if (!(cond)) {                                  \
			fprintf(stderr, "%s: FAIL: ", me);      \
			fprintf(stderr, __VA_ARGS__);           \
			fputc('\n', stderr);                    \
			failures++;                             \
		}                                               \
	} while (0)




static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- ESYS: sessions and the authorized command ---- */

static TSS2_RC
start_session(ESYS_CONTEXT *e, TPM2_SE type, ESYS_TR *ret)
{
	return tclient_start_session(e, type, NULL, ret);
}

static TSS2_RC
start_hmac(ESYS_CONTEXT *e, ESYS_TR *ret)
{
	return start_session(e, TPM2_SE_HMAC, ret);
}

static void
the_digest(uint8_t d[SHA256_DIGEST_LENGTH])
{
	for (unsigned i = 0; i < SHA256_DIGEST_LENGTH; i++)
		d[i] = (uint8_t)(0x5e + i);
}

/* PCR_Extend(pcr, sha256 = the digest), authorized by sess (and a 2nd session) */
static TSS2_RC
extend2(ESYS_CONTEXT *e, unsigned pcr, ESYS_TR sess, ESYS_TR sess2)
{
	TPML_DIGEST_VALUES v = {.count = 1};

	v.digests[0].hashAlg = TPM2_ALG_SHA256;
	the_digest(v.digests[0].digest.sha256);
	return Esys_PCR_Extend(e, ESYS_TR_PCR0 + pcr, sess, sess2, ESYS_TR_NONE, &v);
}

static TSS2_RC
extend(ESYS_CONTEXT *e, unsigned pcr, ESYS_TR sess)
{
	return extend2(e, pcr, sess, ESYS_TR_NONE);
}

/* CreatePrimary of a small ECC signing key under the owner hierarchy */
static TSS2_RC
create_primary(ESYS_CONTEXT *e, uint8_t unique, ESYS_TR *ret)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_PUBLIC p = {0};
	TPMT_PUBLIC *t = &p.publicArea;
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION pcrs = {0};

	t->type = TPM2_ALG_ECC;
	t->nameAlg = TPM2_ALG_SHA256;
	t->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_SIGN_ENCRYPT;
	t->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	t->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	t->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	t->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	t->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	t->unique.ecc.x.size = 1;
	t->unique.ecc.x.buffer[0] = unique;
	*ret = ESYS_TR_NONE;
	return Esys_CreatePrimary(e, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				  &sens, &p, &outside, &pcrs, ret, NULL, NULL, NULL, NULL);
}


/* v := sha256(v || D), n times */
static void
pcr_advance(uint8_t v[SHA256_DIGEST_LENGTH], unsigned long n)
{
	uint8_t buf[2 * SHA256_DIGEST_LENGTH];

	for (unsigned long k = 0; k < n; k++) {
		memcpy(buf, v, SHA256_DIGEST_LENGTH);
		the_digest(buf + SHA256_DIGEST_LENGTH);
		SHA256(buf, sizeof(buf), v);
	}
}

/* PCR pcr must be `before` extended exactly n times */
static void
pcr_check(ESYS_CONTEXT *e, unsigned pcr, const uint8_t before[SHA256_DIGEST_LENGTH],
	  unsigned long n)
{
	uint8_t want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];

	memcpy(want, before, sizeof(want));
	pcr_advance(want, n);
	if (tclient_pcr_read(e, pcr, got, me) < 0) {
		CHECK(false, "cannot read PCR %u", pcr);
		return;
	}
	CHECK(memcmp(want, got, sizeof(want)) == 0,
	      "PCR %u does not show exactly %lu extends", pcr, n);
}


/* ---- hand-built ContextSave / ContextLoad ---- */

static void
put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* one command; the response code, 0xffffffff if the transport failed */
static uint32_t
xfer(TSS2_TCTI_CONTEXT *t, uint8_t *cmd, size_t len, uint8_t *rsp, size_t *rlen)
{
	size_t cap = *rlen;

	put32(cmd + 2, (uint32_t)len);
	if (Tss2_Tcti_Transmit(t, len, cmd) != TSS2_RC_SUCCESS ||
	    Tss2_Tcti_Receive(t, &cap, rsp, TSS2_TCTI_TIMEOUT_BLOCK) != TSS2_RC_SUCCESS ||
	    cap < 10 || get32(rsp + 2) != cap)
		return 0xffffffffu;
	*rlen = cap;
	return get32(rsp + 6);
}

/* ContextSave(h): the TPMS_CONTEXT in blob[0..*blen) */
static uint32_t
ctx_save(TSS2_TCTI_CONTEXT *t, uint32_t h, uint8_t *blob, size_t *blen)
{
	uint8_t cmd[14] = {0x80, 0x01}, rsp[4096];
	size_t rlen = sizeof(rsp);
	uint32_t rc;

	put32(cmd + 6, TPM2_CC_ContextSave);
	put32(cmd + 10, h);
	rc = xfer(t, cmd, sizeof(cmd), rsp, &rlen);
	if (rc == 0) {
		if (rlen - 10 > *blen || rlen < 10 + 8 + 4 + 4 + 2)
			return 0xfffffffeu;
		*blen = rlen - 10;
		memcpy(blob, rsp + 10, *blen);
	}
	return rc;
}

static uint32_t
ctx_load(TSS2_TCTI_CONTEXT *t, const uint8_t *blob, size_t blen, uint32_t *h)
{
	uint8_t cmd[4096] = {0x80, 0x01}, rsp[64];
	size_t rlen = sizeof(rsp);
	uint32_t rc;

	put32(cmd + 6, TPM2_CC_ContextLoad);
	memcpy(cmd + 10, blob, blen);
	rc = xfer(t, cmd, 10 + blen, rsp, &rlen);
	if (rc == 0) {
		if (rlen != 14)
			return 0xfffffffeu;
		*h = get32(rsp + 10);
	}
	return rc;
}

static uint64_t
ctx_sequence(const uint8_t *blob)
{
	return (uint64_t)get32(blob) << 32 | get32(blob + 4);
}

/* ---- helpers for forked clients ---- */

/* read exactly n bytes (or EOF: returns what was read) */
static size_t
read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	return got;
}

static int
wait_all(pid_t *pids, unsigned n, const char *what)
{
	int bad = 0;

	for (unsigned i = 0; i < n; i++) {
		int st;
		if (pids[i] <= 0)
			continue;
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			if (bad++ < 5)
				fprintf(stderr, "%s: %s %u failed\n", me, what, i);
		}
	}
	return bad;
}

/* ---- gap ---- */

struct gap_result {
	uint64_t first_seq, last_seq;
	uint32_t cycles;
};

static int
gap_child(unsigned id, unsigned long cycles, int res_fd)
{
	struct tclient c;
	struct gap_result res = {0};
	uint8_t blob[4096];
	ESYS_TR s;
	uint32_t h, h2 = 0, rc;
	TSS2_RC trc;

	if (tclient_open(&c, tcti_conf, me) < 0)
		return 1;
	if ((trc = start_hmac(c.esys, &s)) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "%s[%u]: StartAuthSession: %s\n", me, id, Tss2_RC_Decode(trc));
		return 1;
	}
	h = tclient_tpm_handle(c.esys, s);
	for (unsigned long i = 0; i < cycles; i++) {
		size_t blen = sizeof(blob);
		uint64_t seq;

		if ((rc = ctx_save(c.tcti, h, blob, &blen)) != 0) {
			fprintf(stderr, "%s[%u]: cycle %lu: ContextSave: 0x%08x (%s)\n", me, id, i, rc,
				Tss2_RC_Decode(rc));
			return 1;
		}
		seq = ctx_sequence(blob);
		if (i == 0)
			res.first_seq = seq;
		else if (seq <= res.last_seq) {
			fprintf(stderr, "%s[%u]: cycle %lu: context sequence went from %llu to %llu\n",
				me, id, i, (unsigned long long)res.last_seq,
				(unsigned long long)seq);
			return 1;
		}
		res.last_seq = seq;
		if ((rc = ctx_load(c.tcti, blob, blen, &h2)) != 0 || h2 != h) {
			fprintf(stderr, "%s[%u]: cycle %lu: ContextLoad: 0x%08x (%s), handle 0x%08x\n",
				me, id, i, rc, Tss2_RC_Decode(rc), h2);
			return 1;
		}
		res.cycles++;
	}
	/* save/load kept the nonces: ESYS goes on with the session */
	if ((trc = extend(c.esys, PCR_USED, s)) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "%s[%u]: PCR_Extend after the cycles: %s\n", me, id,
			Tss2_RC_Decode(trc));
		return 1;
	}
	if ((trc = Esys_FlushContext(c.esys, s)) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "%s[%u]: FlushContext: %s\n", me, id, Tss2_RC_Decode(trc));
		return 1;
	}
	tclient_close(&c);
	if (write(res_fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		return 1;
	return 0;
}

static int
gap(unsigned long cycles, unsigned conns)
{
	struct tclient idle;
	uint8_t before[SHA256_DIGEST_LENGTH];
	static uint8_t kept[2][4096];
	size_t kept_len[2] = {sizeof(kept[0]), sizeof(kept[1])};
	const unsigned kept_i[2] = {0, 3};
	ESYS_TR s[4];
	unsigned long extends = 0, done = 0;
	uint64_t lo = UINT64_MAX, hi = 0;
	pid_t pids[64];
	int res[2];
	TSS2_RC rc;
	double t0;

	if (conns == 0 || conns > 64 || cycles < conns)
		return 2;
	if (tclient_open(&idle, tcti_conf, me) < 0 ||
	    tclient_pcr_read(idle.esys, PCR_USED, before, me) < 0)
		return 1;
	for (unsigned i = 0; i < 4; i++) {
		rc = start_hmac(idle.esys, &s[i]);
		if (rc == 0)
			rc = extend(idle.esys, PCR_USED, s[i]);
		if (rc != 0) {
			fprintf(stderr, "%s: idle session %u: %s\n", me, i, Tss2_RC_Decode(rc));
			return 1;
		}
		extends++;
	}
	/* the client keeps two of them saved itself: the oldest (swapped out
	 * by the broker by now: 4 sessions, 3 slots) and the newest (loaded) */
	for (unsigned k = 0; k < 2; k++) {
		uint32_t r = ctx_save(idle.tcti, tclient_tpm_handle(idle.esys, s[kept_i[k]]), kept[k],
				      &kept_len[k]);
		if (r != 0) {
			fprintf(stderr, "%s: ContextSave of idle session %u: 0x%08x\n", me, kept_i[k], r);
			return 1;
		}
	}
	if (pipe(res) < 0)
		return 1;
	t0 = now_s();
	fflush(NULL);
	for (unsigned i = 0; i < conns; i++) {
		unsigned long n = cycles / conns + (i < cycles % conns ? 1 : 0);
		if ((pids[i] = fork()) == 0) {
			close(res[0]);
			_exit(gap_child(i, n, res[1]));
		}
		if (pids[i] < 0)
			return 1;
	}
	close(res[1]);
	for (;;) {
		struct gap_result r;
		if (read_full(res[0], &r, sizeof(r)) != sizeof(r))
			break;
		done += r.cycles;
		lo = r.first_seq < lo ? r.first_seq : lo;
		hi = r.last_seq > hi ? r.last_seq : hi;
		extends++;
	}
	CHECK(wait_all(pids, conns, "cycling client") == 0, "a cycling client failed");
	CHECK(done == cycles, "%lu save/load cycles of %lu", done, cycles);
	CHECK(done == 0 || hi - lo + 1 >= cycles,
	      "the context counter advanced by %llu only", (unsigned long long)(hi - lo + 1));
	printf("gap: %lu save/load cycles on %u connections in %.1f s; context sequence "
	       "%llu..%llu\n",
	       done, conns, now_s() - t0, (unsigned long long)lo, (unsigned long long)hi);
	/* the idle connection's sessions (some saved by the broker, two by
	 * itself: their blobs load again) still work */
	for (unsigned k = 0; k < 2; k++) {
		uint32_t h = 0, want = tclient_tpm_handle(idle.esys, s[kept_i[k]]);
		uint32_t r = ctx_load(idle.tcti, kept[k], kept_len[k], &h);
		CHECK(r == 0 && h == want,
		      "ContextLoad of the blob kept for idle session %u: 0x%08x, handle 0x%08x", kept_i[k],
		      r, h);
	}
	for (unsigned i = 0; i < 4; i++) {
		rc = extend(idle.esys, PCR_USED, s[i]);
		CHECK(rc == 0, "idle session %u after the cycles: %s", i, Tss2_RC_Decode(rc));
		if (rc == 0)
			extends++;
		rc = Esys_FlushContext(idle.esys, s[i]);
		CHECK(rc == 0, "flush of idle session %u: %s", i, Tss2_RC_Decode(rc));
	}
	pcr_check(idle.esys, PCR_USED, before, extends);
	tclient_close(&idle);
	if (failures == 0)
		printf("ok: gap: every save, load and session use succeeded\n");
	return failures == 0 ? 0 : 1;
}

/* ---- exhaust ---- */

/* one of the K: connect; on go start a session and use it; report 'k' (or
 * 'e'); hold it until released; use it again; flush; leave */
static int
exhaust_child(unsigned id, int ready_fd, int go_fd, int rep_fd, int rel_fd)
{
	struct tclient c;
	ESYS_TR s;
	TSS2_RC rc;
	char b = 'r';

	if (tclient_open(&c, tcti_conf, me) < 0)
		return 1;
	if (write(ready_fd, &b, 1) != 1 || read(go_fd, &b, 1) != 0)
		return 1;
	rc = start_hmac(c.esys, &s);
	if (rc != 0)
		fprintf(stderr, "%s[%u]: StartAuthSession: 0x%08x %s\n", me, id, rc,
			Tss2_RC_Decode(rc));
	else if ((rc = extend(c.esys, PCR_USED, s)) != 0)
		fprintf(stderr, "%s[%u]: PCR_Extend: 0x%08x %s\n", me, id, rc, Tss2_RC_Decode(rc));
	b = rc == 0 ? 'k' : 'e';
	if (write(rep_fd, &b, 1) != 1 || rc != 0)
		return 1;
	(void)read(rel_fd, &b, 1); /* released: EOF */
	if ((rc = extend(c.esys, PCR_USED, s)) != 0) {
		fprintf(stderr, "%s[%u]: second PCR_Extend: 0x%08x %s\n", me, id, rc,
			Tss2_RC_Decode(rc));
		return 1;
	}
	if ((rc = Esys_FlushContext(c.esys, s)) != 0) {
		fprintf(stderr, "%s[%u]: FlushContext: %s\n", me, id, Tss2_RC_Decode(rc));
		return 1;
	}
	tclient_close(&c);
	return 0;
}

/* the greedy client's use of its session i: 0 is a policy session
 * (PolicyCommandCode: the session in the handle area), the others
 * authorize PCR_Extend of PCR 23 (counted in *ext) */
static TSS2_RC
greedy_use(ESYS_CONTEXT *e, const ESYS_TR *s, unsigned i, unsigned *ext)
{
	TSS2_RC rc;

	if (i == 0)
		return Esys_PolicyCommandCode(e, s[0], ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					      TPM2_CC_Unseal);
	rc = extend(e, PCR_GREEDY, s[i]);
	*ext += rc == 0;
	return rc;
}

static int
exhaust(unsigned k, unsigned quota)
{
	struct tclient g;
	uint8_t before16[SHA256_DIGEST_LENGTH], before23[SHA256_DIGEST_LENGTH];
	ESYS_TR s[MAX_SESS];
	bool alive[MAX_SESS];
	unsigned n = 0, ok = 0, bad = 0, evicted = 0, g_ext = 0;
	int ready[2], go[2], rep[2], rel[2];
	pid_t *pids;
	TSS2_RC rc = 0;

	if (k == 0 || k > 1000 || quota == 0 || quota >= MAX_SESS)
		return 2;
	if (tclient_open(&g, tcti_conf, me) < 0 ||
	    tclient_pcr_read(g.esys, PCR_USED, before16, me) < 0 ||
	    tclient_pcr_read(g.esys, PCR_GREEDY, before23, me) < 0)
		return 1;
	/* greedy: sessions until refused */
	while (n < MAX_SESS &&
	       (rc = start_session(g.esys, n == 0 ? TPM2_SE_POLICY : TPM2_SE_HMAC, &s[n])) == 0)
		n++;
	printf("exhaust: the greedy client got %u sessions, then 0x%08x\n", n, rc);
	CHECK(n == quota, "the greedy client got %u sessions, its quota is %u", n, quota);
	CHECK(rc == RC_SESSION_HANDLES, "refusal 0x%08x, want 0x%08x", rc, RC_SESSION_HANDLES);
	if (n < 3 || n == MAX_SESS)
		return 1;
	/* each used once, oldest first: creation order is also use order */
	for (unsigned i = 0; i < n; i++) {
		rc = greedy_use(g.esys, s, i, &g_ext);
		CHECK(rc == 0, "greedy session %u: %s", i, Tss2_RC_Decode(rc));
	}
	if (failures != 0)
		return 1;

	if (pipe(ready) < 0 || pipe(go) < 0 || pipe(rep) < 0 || pipe(rel) < 0)
		return 1;
	if ((pids = calloc(k, sizeof(*pids))) == NULL)
		return 1;
	fflush(NULL);
	for (unsigned i = 0; i < k; i++) {
		if ((pids[i] = fork()) == 0) {
			/* g's connection stays the parent's: not closed here */
			close(ready[0]);
			close(go[1]);
			close(rep[0]);
			close(rel[1]);
			_exit(exhaust_child(i, ready[1], go[0], rep[1], rel[0]));
		}
		if (pids[i] < 0)
			return 1;
	}
	close(ready[1]);
	close(go[0]);
	close(rep[1]);
	close(rel[0]);
	{
		char b;
		for (unsigned r = 0; r < k && read_full(ready[0], &b, 1) == 1; r++)
			;
	}
	close(go[1]);
	/* until all K reported, or nobody did for 3 s (the rest wait for a slot) */
	for (unsigned got = 0; got < k;) {
		struct pollfd p = {.fd = rep[0], .events = POLLIN};
		char b;
		int r = poll(&p, 1, 3000);
		if (r == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || read_full(rep[0], &b, 1) != 1)
			break;
		got++;
		if (b == 'k')
			ok++;
		else
			bad++;
	}
	printf("exhaust: %u of %u clients hold a session (%u failed)\n", ok, k, bad);
	/* now, while the others hold theirs: the oldest ones are gone, the
	 * newest work, and the handles the TPM may have given to others since
	 * do not reach their sessions */
	for (unsigned i = 0; i < n; i++) {
		uint32_t gone = i == 0 ? RC_EXPIRED_H1 : RC_EXPIRED_S1;
		rc = greedy_use(g.esys, s, i, &g_ext);
		alive[i] = rc == 0;
		if (!alive[i])
			evicted++;
		CHECK(rc == 0 || rc == gone,
		      "greedy session %u after the others came: 0x%08x, want 0 or 0x%08x", i, rc,
		      gone);
		CHECK(i == 0 || alive[i] || !alive[i - 1],
		      "greedy session %u is gone but the older %u works", i, i - 1);
	}
	printf("evicted %u\n", evicted);
	CHECK(evicted > 0, "no greedy session was evicted");
	CHECK(alive[n - 1], "the greedy client's newest session was evicted");
	if (evicted >= 2 && alive[n - 1]) {
		/* an evicted session as the 2nd (audit) session of a command */
		rc = Esys_TRSess_SetAttributes(g.esys, s[1],
					       TPMA_SESSION_AUDIT | TPMA_SESSION_CONTINUESESSION, 0xff);
		if (rc == 0)
			rc = extend2(g.esys, PCR_GREEDY, s[n - 1], s[1]);
		CHECK(rc == RC_EXPIRED_S2, "an evicted session as the 2nd: 0x%08x, want 0x%08x", rc,
		      RC_EXPIRED_S2);
		g_ext += rc == 0;
	}
	for (unsigned i = 0; i < n; i++) {
		if (alive[i])
			continue;
		rc = Esys_FlushContext(g.esys, s[i]);
		CHECK(rc == 0, "FlushContext of evicted session %u: 0x%08x", i, rc);
	}
	close(rel[1]); /* release */
	for (;;) {
		char b;
		if (read_full(rep[0], &b, 1) != 1)
			break;
		if (b == 'k')
			ok++;
		else
			bad++;
	}
	CHECK(wait_all(pids, k, "client") == 0 && ok == k,
	      "of %u clients %u got a session and used it", k, ok);
	/* the greedy client's survivors still work after everyone left */
	for (unsigned i = 0; i < n; i++) {
		if (!alive[i])
			continue;
		rc = greedy_use(g.esys, s, i, &g_ext);
		CHECK(rc == 0, "greedy session %u at the end: %s", i, Tss2_RC_Decode(rc));
		rc = Esys_FlushContext(g.esys, s[i]);
		CHECK(rc == 0, "FlushContext of greedy session %u: %s", i, Tss2_RC_Decode(rc));
	}
	/* every client extended twice, the greedy one g_ext times */
	pcr_check(g.esys, PCR_USED, before16, 2ul * ok);
	pcr_check(g.esys, PCR_GREEDY, before23, g_ext);
	tclient_close(&g);
	free(pids);
	if (failures == 0)
		printf("ok: exhaust: %u clients served, the greedy client's oldest %u of %u "
		       "sessions evicted\n",
		       k, evicted, n);
	return failures == 0 ? 0 : 1;
}

/* ---- per user ---- */

static bool
line_is(const char *want)
{
	char line[64];

	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	line[strcspn(line, "\n")] = '\0';
	return strcmp(line, want) == 0;
}

static int
peruser(uid_t uid)
{
	struct tclient a, b;
	ESYS_TR sa[3], sb[3];
	TSS2_RC rc;

	if (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid(uid) < 0 ||
	    getuid() != uid || geteuid() != uid) {
		fprintf(stderr, "%s: cannot become uid %u: %s\n", me, (unsigned)uid,
			strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (tclient_open(&a, tcti_conf, me) < 0 || tclient_open(&b, tcti_conf, me) < 0)
		return 1;
	for (unsigned i = 0; i < 2; i++) {
		if ((rc = start_hmac(a.esys, &sa[i])) != 0 || (rc = start_hmac(b.esys, &sb[i])) != 0) {
			fprintf(stderr, "%s: session %u: 0x%08x %s\n", me, i, rc, Tss2_RC_Decode(rc));
			return 1;
		}
	}
	printf("have 4\n");
	if (!line_is("try"))
		return 1;
	rc = start_hmac(a.esys, &sa[2]);
	CHECK(rc == RC_SESSION_HANDLES, "5th session on the first connection: 0x%08x, want 0x%08x",
	      rc, RC_SESSION_HANDLES);
	rc = start_hmac(b.esys, &sb[2]);
	CHECK(rc == RC_SESSION_HANDLES,
	      "5th session on the second connection: 0x%08x, want 0x%08x", rc, RC_SESSION_HANDLES);
	printf(failures == 0 ? "refused\n" : "not refused\n");
	if (!line_is("flush"))
		return 1;
	/* the quota counts what the user holds now */
	rc = Esys_FlushContext(a.esys, sa[0]);
	CHECK(rc == 0, "FlushContext: %s", Tss2_RC_Decode(rc));
	rc = start_hmac(b.esys, &sb[2]);
	CHECK(rc == 0, "a session after one was flushed: 0x%08x %s", rc, Tss2_RC_Decode(rc));
	if (rc == 0) {
		ESYS_TR use[4] = {sa[1], sb[0], sb[1], sb[2]};
		ESYS_CONTEXT *on[4] = {a.esys, b.esys, b.esys, b.esys};
		for (unsigned i = 0; i < 4; i++) {
			rc = extend(on[i], PCR_USED, use[i]);
			CHECK(rc == 0, "session %u of the user: %s", i, Tss2_RC_Decode(rc));
		}
	}
	printf(failures == 0 ? "ok\n" : "failed\n");
	/* objects: 2 on the first connection, 1 on the second fill the user's
	 * quota of 3; a 4th on either is refused */
	if (!line_is("objects"))
		return 1;
	ESYS_TR o;
	for (unsigned i = 0; i < 3; i++) {
		rc = create_primary(i < 2 ? a.esys : b.esys, (uint8_t)i, &o);
		CHECK(rc == 0, "object %u of the user: 0x%08x %s", i, rc, Tss2_RC_Decode(rc));
	}
	printf(failures == 0 ? "have 3\n" : "failed\n");
	if (!line_is("try"))
		return 1;
	rc = create_primary(b.esys, 3, &o);
	CHECK(rc == RC_OBJECT_HANDLES, "4th object on the second connection: 0x%08x, want 0x%08x",
	      rc, RC_OBJECT_HANDLES);
	rc = create_primary(a.esys, 4, &o);
	CHECK(rc == RC_OBJECT_HANDLES, "4th object on the first connection: 0x%08x, want 0x%08x",
	      rc, RC_OBJECT_HANDLES);
	printf(failures == 0 ? "refused\n" : "not refused\n");
	(void)line_is("end"); /* the script reads status before anything is flushed */
	tclient_close(&a);
	tclient_close(&b);
	return failures == 0 ? 0 : 1;
}

static int
hold(unsigned n)
{
	struct tclient c;
	uint8_t before[SHA256_DIGEST_LENGTH];
	ESYS_TR s[MAX_SESS];
	unsigned long ext = 0;
	TSS2_RC rc;

	if (n == 0 || n > MAX_SESS)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (tclient_open(&c, tcti_conf, me) < 0 || tclient_pcr_read(c.esys, PCR_USED, before, me) < 0)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		if ((rc = start_hmac(c.esys, &s[i])) != 0 || (rc = extend(c.esys, PCR_USED, s[i])) != 0) {
			fprintf(stderr, "%s: session %u: 0x%08x %s\n", me, i, rc, Tss2_RC_Decode(rc));
			return 1;
		}
		ext++;
	}
	printf("held\n");
	if (!line_is("go"))
		return 1;
	for (unsigned i = 0; i < n; i++) {
		rc = extend(c.esys, PCR_USED, s[i]);
		CHECK(rc == 0, "held session %u: 0x%08x %s", i, rc, Tss2_RC_Decode(rc));
		ext += rc == 0;
		rc = Esys_FlushContext(c.esys, s[i]);
		CHECK(rc == 0, "FlushContext of held session %u: %s", i, Tss2_RC_Decode(rc));
	}
	pcr_check(c.esys, PCR_USED, before, ext);
	tclient_close(&c);
	printf(failures == 0 ? "ok\n" : "failed\n");
	return failures == 0 ? 0 : 1;
}

static int
fill(unsigned conns, unsigned per)
{
	struct tclient *c = calloc(conns, sizeof(*c));
	ESYS_TR *s = calloc((size_t)conns * per, sizeof(*s));
	TSS2_RC rc;

	if (c == NULL || s == NULL || conns == 0 || per == 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned i = 0; i < conns; i++) {
		if (tclient_open(&c[i], tcti_conf, me) < 0)
			return 1;
		for (unsigned j = 0; j < per; j++) {
			if ((rc = start_hmac(c[i].esys, &s[i * per + j])) != 0) {
				fprintf(stderr, "%s: connection %u, session %u: 0x%08x %s\n", me, i,
					j, rc, Tss2_RC_Decode(rc));
				return 1;
			}
		}
	}
	printf("full\n");
	if (!line_is("flush"))
		return 1;
	rc = Esys_FlushContext(c[0].esys, s[0]);
	CHECK(rc == 0, "FlushContext: %s", Tss2_RC_Decode(rc));
	printf("flushed\n");
	if (!line_is("end"))
		return 1;
	for (unsigned i = 0; i < conns; i++) {
		for (unsigned j = i == 0 ? 1 : 0; j < per; j++) {
			rc = extend(c[i].esys, PCR_USED, s[i * per + j]);
			CHECK(rc == 0, "connection %u, session %u: 0x%08x %s", i, j, rc,
			      Tss2_RC_Decode(rc));
		}
		tclient_close(&c[i]);
	}
	free(c);
	free(s);
	printf(failures == 0 ? "ok\n" : "failed\n");
	return failures == 0 ? 0 : 1;
}

static int
start(void)
{
	struct tclient c;
	ESYS_TR s;
	TSS2_RC rc;

	if (tclient_open(&c, tcti_conf, me) < 0)
		return 1;
	rc = start_hmac(c.esys, &s);
	printf("rc 0x%08x\n", rc);
	if (rc == 0) {
		rc = extend(c.esys, PCR_USED, s);
		printf("used 0x%08x\n", rc);
	}
	tclient_close(&c);
	return 0;
}

static int
count(void)
{
	struct tclient c;
	ESYS_TR s;
	unsigned n = 0;
	TSS2_RC rc;

	if (tclient_open(&c, tcti_conf, me) < 0)
		return 1;
	while (n < MAX_SESS && (rc = start_hmac(c.esys, &s)) == 0)
		n++;
	printf("count %u rc 0x%08x\n", n, rc);
	tclient_close(&c);
	return 0;
}

/* ---- storm ---- */

struct storm_result {
	uint32_t id, iter, errors, extends;
};

static int
storm_child(unsigned id, unsigned secs, int ready_fd, int go_fd, int res_fd)
{
	struct storm_result res = {.id = id};
	struct tclient c;
	double end;
	char b = 'r';

	if (tclient_open(&c, tcti_conf, me) < 0)
		return 1;
	if (write(ready_fd, &b, 1) != 1 || read(go_fd, &b, 1) != 0)
		return 1;
	end = now_s() + secs;
	while (now_s() < end) {
		ESYS_TR s;
		TSS2_RC rc = start_hmac(c.esys, &s);
		const char *what = "StartAuthSession";

		if (rc == 0) {
			what = "PCR_Extend";
			rc = extend(c.esys, PCR_USED, s);
			res.extends += rc == 0;
			TSS2_RC rf = Esys_FlushContext(c.esys, s);
			if (rc == 0 && rf != 0) {
				what = "FlushContext";
				rc = rf;
			}
		}
		if (rc != 0) {
			if (res.errors++ < 3)
				fprintf(stderr, "%s[%u]: iteration %u: %s: 0x%08x %s\n", me, id,
					res.iter, what, rc, Tss2_RC_Decode(rc));
			if (rc == 0xffffffffu || (rc & 0xffff0000u) == 0xa0000u)
				break; /* the connection is gone */
		} else {
			res.iter++;
		}
	}
	tclient_close(&c);
	return write(res_fd, &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
storm(unsigned k, unsigned secs)
{
	struct tclient c;
	uint8_t before[SHA256_DIGEST_LENGTH];
	struct storm_result r;
	uint32_t *iters;
	unsigned got = 0;
	unsigned long errors = 0, extends = 0, total = 0;
	int ready[2], go[2], res[2];
	pid_t *pids;
	double t0;

	if (k == 0 || k > 1000 || secs == 0)
		return 2;
	if (tclient_open(&c, tcti_conf, me) < 0 || tclient_pcr_read(c.esys, PCR_USED, before, me) < 0)
		return 1;
	iters = calloc(k, sizeof(*iters));
	pids = calloc(k, sizeof(*pids));
	if (iters == NULL || pids == NULL || pipe(ready) < 0 || pipe(go) < 0 || pipe(res) < 0)
		return 1;
	fflush(NULL);
	for (unsigned i = 0; i < k; i++) {
		if ((pids[i] = fork()) == 0) {
			close(ready[0]);
			close(go[1]);
			close(res[0]);
			_exit(storm_child(i, secs, ready[1], go[0], res[1]));
		}
		if (pids[i] < 0)
			return 1;
	}
	close(ready[1]);
	close(go[0]);
	close(res[1]);
	{
		char b;
		unsigned n = 0;
		while (n < k && read_full(ready[0], &b, 1) == 1)
			n++;
		CHECK(n == k, "only %u of %u clients connected", n, k);
	}
	t0 = now_s();
	close(go[1]);
	printf("go\n");
	fflush(stdout);
	while (read_full(res[0], &r, sizeof(r)) == sizeof(r)) {
		if (r.id < k)
			iters[r.id] = r.iter;
		got++;
		errors += r.errors;
		extends += r.extends;
		total += r.iter;
	}
	CHECK(wait_all(pids, k, "client") == 0 && got == k, "%u of %u clients reported", got, k);
	qsort(iters, k, sizeof(*iters), cmp_u32);
	printf("storm: %u clients, %u s (%.1f s in all): %lu iterations, %lu errors; per client "
	       "min %u, median %u, max %u\n",
	       k, secs, now_s() - t0, total, errors, iters[0], iters[k / 2], iters[k - 1]);
	CHECK(errors == 0, "%lu errors", errors);
	CHECK(iters[0] > 0 && 2ul * iters[0] >= iters[k / 2],
	      "the slowest client did %u iterations, the median %u", iters[0], iters[k / 2]);
	pcr_check(c.esys, PCR_USED, before, extends);
	tclient_close(&c);
	free(iters);
	free(pids);
	if (failures == 0)
		printf("ok: storm\n");
	return failures == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: sessclient TCTI gap CYCLES CONNS | exhaust K QUOTA | "
				"peruser UID | hold N | fill CONNS PER | start | count | storm K SECS\n");
		return 2;
	}
	tcti_conf = argv[1];
	signal(SIGPIPE, SIG_IGN);
	/* refusals are expected here and reported by us: ESYS stays quiet */
	if (getenv("TSS2_LOG") == NULL)
		setenv("TSS2_LOG", "all+none", 1);
	if (strcmp(argv[2], "gap") == 0 && argc == 5)
		return gap(strtoul(argv[3], NULL, 10), (unsigned)strtoul(argv[4], NULL, 10));
	if (strcmp(argv[2], "exhaust") == 0 && argc == 5)
		return exhaust((unsigned)strtoul(argv[3], NULL, 10),
			       (unsigned)strtoul(argv[4], NULL, 10));
	if (strcmp(argv[2], "peruser") == 0 && argc == 4)
		return peruser((uid_t)strtoul(argv[3], NULL, 10));
	if (strcmp(argv[2], "hold") == 0 && argc == 4)
		return hold((unsigned)strtoul(argv[3], NULL, 10));
	if (strcmp(argv[2], "fill") == 0 && argc == 5)
		return fill((unsigned)strtoul(argv[3], NULL, 10), (unsigned)strtoul(argv[4], NULL, 10));
	if (strcmp(argv[2], "start") == 0 && argc == 3)
		return start();
	if (strcmp(argv[2], "count") == 0 && argc == 3)
		return count();
	if (strcmp(argv[2], "storm") == 0 && argc == 5)
		return storm((unsigned)strtoul(argv[3], NULL, 10),
			     (unsigned)strtoul(argv[4], NULL, 10));
	fprintf(stderr, "%s: bad arguments\n", me);
	return 2;
}
