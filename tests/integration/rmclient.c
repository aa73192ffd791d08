/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rmclient: resource-manager scenarios through a running tpmbrokerd, with
 * ESYS (real HMAC sessions) and hand-built commands on a second connection.
 *
 *   rmclient TCTI iso KIND      client A holds keys and sessions; client B
 *                               tries A's handles: KIND is use | flush |
 *                               read | save | see | session.  B must get
 *                               the RM-layer handle errors, A must go on.
 *   rmclient TCTI holder K SECS K processes, each 3 objects (storage
 *                               primary, two signing keys) and 2 HMAC
 *                               sessions, loop ReadPublic + Sign (key and
 *                               session i % 2; every 32 iterations both
 *                               signatures also verified) for SECS seconds.
 *                               Exit 0 only with 0 errors and iterations.
 *   rmclient TCTI hold          3 objects + 2 sessions (HMAC, policy),
 *                               print "held", sleep until killed
 *   rmclient TCTI stale         a key; print "ready", wait for a line on
 *                               stdin (the TPM is reset meanwhile); then
 *                               its handle must get 0x000B018B, a new key
 *                               must work
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tclient.h"

#define RM_RC(rc) (0x000B0000u | (uint32_t)(rc))
#define RC_H1 RM_RC(TPM2_RC_HANDLE | TPM2_RC_1)
#define RC_P1 RM_RC(TPM2_RC_HANDLE | TPM2_RC_P | TPM2_RC_1)
#define RC_S1 RM_RC(TPM2_RC_HANDLE | TPM2_RC_S | TPM2_RC_1)

static const char *tcti_conf;
static int failures;

#define CHECK(cond, ...)                                            \
	do {                                                        \
		if (!(cond)) {                                      \
			fprintf(stderr, "rmclient: FAIL: " __VA_ARGS__); \
			fputc('\n', stderr);                        \
			failures++;                                 \
		}                                                   \
	} while (0)




/* ---- ESYS helpers ---- */

static TPM2B_PUBLIC
ecc_template(bool storage, uint8_t unique)
{
	TPM2B_PUBLIC p = {0};
	TPMT_PUBLIC *t = &p.publicArea;

	t->type = TPM2_ALG_ECC;
	t->nameAlg = TPM2_ALG_SHA256;
	t->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
	if (storage) {
		t->objectAttributes |= TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
		t->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
		t->parameters.eccDetail.symmetric.keyBits.aes = 128;
		t->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
		t->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	} else {
		t->objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
		t->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		t->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		t->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	}
	t->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	t->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	t->unique.ecc.x.size = 1;
	t->unique.ecc.x.buffer[0] = unique;
	return p;
}

static TSS2_RC
create_primary(ESYS_CONTEXT *e, bool storage, uint8_t unique, ESYS_TR *ret)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_PUBLIC tmpl = ecc_template(storage, unique);
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION pcrs = {0};

	return Esys_CreatePrimary(e, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				  ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, ret, NULL, NULL,
				  NULL, NULL);
}

static TSS2_RC
start_session(ESYS_CONTEXT *e, TPM2_SE type, ESYS_TR *ret)
{
	TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES,
			    .keyBits.aes = 128,
			    .mode.aes = TPM2_ALG_CFB};

	return tclient_start_session(e, type, &sym, ret);
}

/* Sign with key (and sess); with verify, the key must also verify it */
static TSS2_RC
sign_maybe_verify(ESYS_CONTEXT *e, ESYS_TR key, ESYS_TR sess, uint32_t n, bool verify)
{
	TPM2B_DIGEST dig = {.size = 32};
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TPMT_TK_HASHCHECK tk = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
	TPMT_SIGNATURE *sig = NULL;
	TPMT_TK_VERIFIED *ok = NULL;
	TSS2_RC rc;

	memcpy(dig.buffer, &n, sizeof(n));
	rc = Esys_Sign(e, key, sess, ESYS_TR_NONE, ESYS_TR_NONE, &dig, &scheme, &tk, &sig);
	if (rc == TSS2_RC_SUCCESS && verify)
		rc = Esys_VerifySignature(e, key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &dig, sig,
					  &ok);
	Esys_Free(sig);
	Esys_Free(ok);
	return rc;
}

static TSS2_RC
sign_verify(ESYS_CONTEXT *e, ESYS_TR key, ESYS_TR sess, uint32_t n)
{
	return sign_maybe_verify(e, key, sess, n, true);
}

/* ---- hand-built commands on B's raw connection ---- */

static uint32_t
raw(TSS2_TCTI_CONTEXT *t, uint8_t *cmd, size_t len)
{
	uint8_t rsp[4096];
	size_t rlen = sizeof(rsp);

	cmd[2] = (uint8_t)(len >> 24);
	cmd[3] = (uint8_t)(len >> 16);
	cmd[4] = (uint8_t)(len >> 8);
	cmd[5] = (uint8_t)len;
	if (Tss2_Tcti_Transmit(t, len, cmd) != TSS2_RC_SUCCESS ||
	    Tss2_Tcti_Receive(t, &rlen, rsp, 10000) != TSS2_RC_SUCCESS || rlen < 10)
		return 0xffffffffu;
	return (uint32_t)rsp[6] << 24 | (uint32_t)rsp[7] << 16 | (uint32_t)rsp[8] << 8 | rsp[9];
}

static size_t
put32(uint8_t *b, size_t off, uint32_t v)
{
	b[off] = (uint8_t)(v >> 24);
	b[off + 1] = (uint8_t)(v >> 16);
	b[off + 2] = (uint8_t)(v >> 8);
	b[off + 3] = (uint8_t)v;
	return off + 4;
}

/* header with tag and cc (size filled by raw()) */
static size_t
hdr(uint8_t *b, uint16_t tag, uint32_t cc)
{
	b[0] = (uint8_t)(tag >> 8);
	b[1] = (uint8_t)tag;
	return put32(b, 6, cc);
}

/* an authorization area with one session, empty nonce and hmac */
static size_t
auth1(uint8_t *b, size_t off, uint32_t sess)
{
	off = put32(b, off, 9);
	off = put32(b, off, sess);
	b[off++] = 0;
	b[off++] = 0;
	b[off++] = TPMA_SESSION_CONTINUESESSION;
	b[off++] = 0;
	b[off++] = 0;
	return off;
}

static uint32_t
raw_handle_cmd(TSS2_TCTI_CONTEXT *t, uint32_t cc, uint32_t h)
{
	uint8_t b[64];
	size_t off = hdr(b, TPM2_ST_NO_SESSIONS, cc);

	return raw(t, b, put32(b, off, h));
}

/* Sign(key) with one session; a zero digest, scheme NULL, ticket NULL */
static uint32_t
raw_sign(TSS2_TCTI_CONTEXT *t, uint32_t key, uint32_t sess)
{
	uint8_t b[128];
	size_t off = hdr(b, TPM2_ST_SESSIONS, TPM2_CC_Sign);

	off = put32(b, off, key);
	off = auth1(b, off, sess);
	b[off++] = 0;
	b[off++] = 32;
	memset(b + off, 0, 32);
	off += 32;
	b[off++] = (uint8_t)(TPM2_ALG_NULL >> 8);
	b[off++] = (uint8_t)TPM2_ALG_NULL;
	b[off++] = (uint8_t)(TPM2_ST_HASHCHECK >> 8);
	b[off++] = (uint8_t)TPM2_ST_HASHCHECK;
	off = put32(b, off, TPM2_RH_NULL);
	b[off++] = 0;
	b[off++] = 0;
	return raw(t, b, off);
}

static uint32_t
raw_policy_cc(TSS2_TCTI_CONTEXT *t, uint32_t sess)
{
	uint8_t b[64];
	size_t off = hdr(b, TPM2_ST_NO_SESSIONS, TPM2_CC_PolicyCommandCode);

	off = put32(b, off, sess);
	return raw(t, b, put32(b, off, TPM2_CC_Sign));
}

/* GetCapability(HANDLES, prop): the count, or -1 */
static long
raw_handles(TSS2_TCTI_CONTEXT *t, uint32_t prop)
{
	uint8_t b[64], rsp[4096];
	size_t off = hdr(b, TPM2_ST_NO_SESSIONS, TPM2_CC_GetCapability), rlen = sizeof(rsp);

	off = put32(b, off, TPM2_CAP_HANDLES);
	off = put32(b, off, prop);
	off = put32(b, off, 64);
	put32(b, 2, (uint32_t)off);
	if (Tss2_Tcti_Transmit(t, off, b) != TSS2_RC_SUCCESS ||
	    Tss2_Tcti_Receive(t, &rlen, rsp, 10000) != TSS2_RC_SUCCESS || rlen < 19 ||
	    rsp[9] != 0 || rsp[8] != 0)
		return -1;
	return (long)((uint32_t)rsp[15] << 24 | (uint32_t)rsp[16] << 16 | (uint32_t)rsp[17] << 8 |
		      rsp[18]);
}

/* ---- iso ---- */


static int
iso(const char *kind)
{
	struct tclient a, b;
	ESYS_TR p, q, sh, sp, bk;
	uint32_t hq, hs, hsp;
	TPM2B_PUBLIC *pa = NULL, *pb = NULL;
	TSS2_RC rc;

	if (tclient_open(&a, tcti_conf, "rmclient") < 0 || tclient_open(&b, tcti_conf, "rmclient") < 0)
		return 1;
	/* A: two keys (0x80000000, 0x80000001), an HMAC and a policy session */
	if ((rc = create_primary(a.esys, false, 1, &p)) != TSS2_RC_SUCCESS ||
	    (rc = create_primary(a.esys, false, 2, &q)) != TSS2_RC_SUCCESS ||
	    (rc = start_session(a.esys, TPM2_SE_HMAC, &sh)) != TSS2_RC_SUCCESS ||
	    (rc = start_session(a.esys, TPM2_SE_POLICY, &sp)) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "rmclient: A's setup: %s\n", Tss2_RC_Decode(rc));
		return 1;
	}
	hq = tclient_tpm_handle(a.esys, q);
	hs = tclient_tpm_handle(a.esys, sh);
	hsp = tclient_tpm_handle(a.esys, sp);
	CHECK(hq == 0x80000001u, "A's second key is 0x%08x, not 0x80000001", hq);
	/* B: a key of its own, the value of A's first */
	rc = create_primary(b.esys, false, 3, &bk);
	CHECK(rc == TSS2_RC_SUCCESS, "B's key: %s", Tss2_RC_Decode(rc));
	CHECK(tclient_tpm_handle(b.esys, bk) == 0x80000000u, "B's key is not 0x80000000");

	if (strcmp(kind, "use") == 0) {
		uint32_t r = raw_sign(b.tcti, hq, TPM2_RS_PW);
		CHECK(r == RC_H1, "B's Sign with A's key: 0x%08x, want 0x%08x", r, RC_H1);
		r = raw_sign(b.tcti, 0x80000000u, TPM2_RS_PW);
		CHECK(r == 0, "B's Sign with its own key: 0x%08x", r);
	} else if (strcmp(kind, "flush") == 0) {
		uint32_t r = raw_handle_cmd(b.tcti, TPM2_CC_FlushContext, hq);
		CHECK(r == RC_P1, "B's FlushContext of A's key: 0x%08x, want 0x%08x", r, RC_P1);
	} else if (strcmp(kind, "read") == 0) {
		uint32_t r = raw_handle_cmd(b.tcti, TPM2_CC_ReadPublic, hq);
		CHECK(r == RC_H1, "B's ReadPublic of A's key: 0x%08x, want 0x%08x", r, RC_H1);
		/* the same value names different keys for A and B */
		rc = Esys_ReadPublic(a.esys, p, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pa, NULL,
				     NULL);
		CHECK(rc == 0, "A's ReadPublic: %s", Tss2_RC_Decode(rc));
		rc = Esys_ReadPublic(b.esys, bk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pb,
				     NULL, NULL);
		CHECK(rc == 0, "B's ReadPublic: %s", Tss2_RC_Decode(rc));
		CHECK(pa != NULL && pb != NULL &&
			      pa->publicArea.unique.ecc.x.size == pb->publicArea.unique.ecc.x.size &&
			      memcmp(pa->publicArea.unique.ecc.x.buffer,
				     pb->publicArea.unique.ecc.x.buffer,
				     pa->publicArea.unique.ecc.x.size) != 0,
		      "A and B read the same key at 0x80000000");
	} else if (strcmp(kind, "save") == 0) {
		uint32_t r = raw_handle_cmd(b.tcti, TPM2_CC_ContextSave, hq);
		CHECK(r == RC_H1, "B's ContextSave of A's key: 0x%08x, want 0x%08x", r, RC_H1);
		r = raw_handle_cmd(b.tcti, TPM2_CC_ContextSave, hs);
		CHECK(r == RC_H1, "B's ContextSave of A's session: 0x%08x, want 0x%08x", r, RC_H1);
	} else if (strcmp(kind, "see") == 0) {
		long n = raw_handles(b.tcti, 0x80000000u);
		CHECK(n == 1, "B sees %ld transient handles, want its 1", n);
		n = raw_handles(b.tcti, 0x02000000u);
		CHECK(n == 0, "B sees %ld loaded sessions, want 0", n);
		n = raw_handles(b.tcti, 0x03000000u);
		CHECK(n == 0, "B sees %ld saved sessions, want 0", n);
		n = raw_handles(a.tcti, 0x80000000u);
		CHECK(n == 2, "A sees %ld transient handles, want 2", n);
		n = raw_handles(a.tcti, 0x02000000u);
		CHECK(n == 2, "A sees %ld loaded sessions, want 2", n);
	} else if (strcmp(kind, "session") == 0) {
		uint32_t r = raw_sign(b.tcti, 0x80000000u, hs);
		CHECK(r == RC_S1, "B's Sign with A's HMAC session: 0x%08x, want 0x%08x", r, RC_S1);
		r = raw_policy_cc(b.tcti, hsp);
		CHECK(r == RC_H1, "B's PolicyCommandCode on A's session: 0x%08x, want 0x%08x", r,
		      RC_H1);
		r = raw_handle_cmd(b.tcti, TPM2_CC_FlushContext, hs);
		CHECK(r == RC_P1, "B's FlushContext of A's session: 0x%08x, want 0x%08x", r, RC_P1);
	} else {
		fprintf(stderr, "rmclient: unknown kind %s\n", kind);
		return 2;
	}
	/* A's objects and sessions are untouched */
	rc = sign_verify(a.esys, q, sh, 7);
	CHECK(rc == 0, "A's Sign afterwards: %s", Tss2_RC_Decode(rc));
	rc = Esys_PolicyCommandCode(a.esys, sp, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				    TPM2_CC_Sign);
	CHECK(rc == 0, "A's PolicyCommandCode afterwards: %s", Tss2_RC_Decode(rc));
	Esys_Free(pa);
	Esys_Free(pb);
	tclient_close(&b);
	tclient_close(&a);
	if (failures == 0)
		printf("ok: isolation (%s)\n", kind);
	return failures == 0 ? 0 : 1;
}

/* ---- holder ---- */

struct holder {
	struct tclient c;
	ESYS_TR primary, kids[2], sess[2];
};

static TSS2_RC
holder_setup(struct holder *h, const char **where)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_PUBLIC kt = ecc_template(false, 0);
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION pcrs = {0};
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TSS2_RC rc;

	*where = "createprimary";
	if ((rc = create_primary(h->c.esys, true, 0, &h->primary)) != TSS2_RC_SUCCESS)
		return rc;
	*where = "create";
	rc = Esys_Create(h->c.esys, h->primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
			 &kt, &outside, &pcrs, &priv, &pub, NULL, NULL, NULL);
	for (int j = 0; j < 2 && rc == TSS2_RC_SUCCESS; j++) {
		*where = "load";
		rc = Esys_Load(h->c.esys, h->primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			       priv, pub, &h->kids[j]);
	}
	Esys_Free(priv);
	Esys_Free(pub);
	for (int j = 0; j < 2 && rc == TSS2_RC_SUCCESS; j++) {
		*where = "startauthsession";
		rc = start_session(h->c.esys, TPM2_SE_HMAC, &h->sess[j]);
	}
	return rc;
}

static int
holder_child(unsigned id, unsigned secs, int go_fd)
{
	struct holder h;
	const char *where = "connect";
	TSS2_RC rc = TSS2_RC_SUCCESS;
	uint32_t iter = 0, errors = 0;
	time_t end;
	char ch;

	if (tclient_open(&h.c, tcti_conf, "rmclient") < 0)
		return 1;
	if ((rc = holder_setup(&h, &where)) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "rmclient[%u]: setup %s: %s\n", id, where, Tss2_RC_Decode(rc));
		return 1;
	}
	if (read(go_fd, &ch, 1) != 0)
		return 1;
	end = time(NULL) + (time_t)secs;
	while (time(NULL) < end) {
		TPM2B_PUBLIC *pub = NULL;
		rc = Esys_ReadPublic(h.c.esys, h.primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				     &pub, NULL, NULL);
		Esys_Free(pub);
		if (rc != TSS2_RC_SUCCESS) {
			if (errors++ < 3)
				fprintf(stderr, "rmclient[%u]: ReadPublic: %s\n", id,
					Tss2_RC_Decode(rc));
		}
		/* the bench's holder iteration; a signature checked now and then */
		rc = sign_maybe_verify(h.c.esys, h.kids[iter & 1], h.sess[iter & 1], iter,
				       iter % 32 < 2);
		if (rc != TSS2_RC_SUCCESS) {
			if (errors++ < 3)
				fprintf(stderr, "rmclient[%u]: Sign/Verify: %s\n", id,
					Tss2_RC_Decode(rc));
		}
		iter++;
	}
	for (int j = 0; j < 2; j++) {
		(void)Esys_FlushContext(h.c.esys, h.sess[j]);
		(void)Esys_FlushContext(h.c.esys, h.kids[j]);
	}
	(void)Esys_FlushContext(h.c.esys, h.primary);
	tclient_close(&h.c);
	printf("rmclient[%u]: %u iterations, %u errors\n", id, iter, errors);
	return errors == 0 && iter > 0 ? 0 : 1;
}

static int
holder(unsigned k, unsigned secs)
{
	int go[2], bad = 0, st;
	pid_t *pids = calloc(k, sizeof(*pids));

	if (pids == NULL || pipe(go) < 0)
		return 1;
	fflush(stdout);
	for (unsigned i = 0; i < k; i++) {
		if ((pids[i] = fork()) == 0) {
			close(go[1]);
			_exit(holder_child(i, secs, go[0]));
		}
		if (pids[i] < 0)
			return 1;
	}
	close(go[0]);
	sleep(1 + k / 8); /* setup; then everyone starts at once */
	close(go[1]);
	for (unsigned i = 0; i < k; i++) {
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	free(pids);
	printf("holder: %u clients, %d failed\n", k, bad);
	return bad == 0 ? 0 : 1;
}

/* ---- hold, stale ---- */

static int
hold(void)
{
	struct tclient c;
	ESYS_TR p, k1, k2, s1, s2;
	TSS2_RC rc;

	if (tclient_open(&c, tcti_conf, "rmclient") < 0)
		return 1;
	if ((rc = create_primary(c.esys, false, 1, &p)) != TSS2_RC_SUCCESS ||
	    (rc = create_primary(c.esys, false, 2, &k1)) != TSS2_RC_SUCCESS ||
	    (rc = create_primary(c.esys, false, 3, &k2)) != TSS2_RC_SUCCESS ||
	    (rc = start_session(c.esys, TPM2_SE_HMAC, &s1)) != TSS2_RC_SUCCESS ||
	    (rc = start_session(c.esys, TPM2_SE_POLICY, &s2)) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "rmclient: hold: %s\n", Tss2_RC_Decode(rc));
		return 1;
	}
	printf("held\n");
	fflush(stdout);
	for (;;)
		pause();
}

static int
stale(void)
{
	struct tclient c;
	ESYS_TR k, k2;
	TPM2B_PUBLIC *pub = NULL;
	char line[16];
	TSS2_RC rc;

	if (tclient_open(&c, tcti_conf, "rmclient") < 0)
		return 1;
	if ((rc = create_primary(c.esys, false, 1, &k)) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "rmclient: stale: %s\n", Tss2_RC_Decode(rc));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	/* the TPM was reset: the old handle is stale, in TPM format */
	rc = raw_handle_cmd(c.tcti, TPM2_CC_ReadPublic, tclient_tpm_handle(c.esys, k));
	CHECK(rc == RC_H1, "stale handle: 0x%08x, want 0x%08x", rc, RC_H1);
	rc = create_primary(c.esys, false, 2, &k2);
	CHECK(rc == 0, "new key after the reset: %s", Tss2_RC_Decode(rc));
	if (rc == 0) {
		rc = Esys_ReadPublic(c.esys, k2, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
				     NULL, NULL);
		CHECK(rc == 0, "ReadPublic of the new key: %s", Tss2_RC_Decode(rc));
	}
	Esys_Free(pub);
	tclient_close(&c);
	if (failures == 0)
		printf("ok: stale handle after a TPM reset\n");
	return failures == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: rmclient TCTI iso KIND | holder K SECS | hold | stale\n");
		return 2;
	}
	tcti_conf = argv[1];
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[2], "iso") == 0 && argc == 4)
		return iso(argv[3]);
	if (strcmp(argv[2], "holder") == 0 && argc == 5)
		return holder((unsigned)strtoul(argv[3], NULL, 10),
			      (unsigned)strtoul(argv[4], NULL, 10));
	if (strcmp(argv[2], "hold") == 0)
		return hold();
	if (strcmp(argv[2], "stale") == 0)
		return stale();
	fprintf(stderr, "rmclient: bad arguments\n");
	return 2;
}
