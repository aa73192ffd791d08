/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * faultclient: load and victims for the fault tests (fault-kill, tpm-stall,
 * fd-exhaust, scripts/soak.sh).
 *
 *   faultclient mix TCTI KIND SECS [LOCALITY]
 *       One ESYS connection loops KIND for SECS seconds (0: until SIGTERM),
 *       at LOCALITY (default 0):
 *         getrandom  GetRandom(16)
 *         holder     holds two ECC signing primaries and an HMAC session;
 *                    loops Sign (through the session) + ReadPublic
 *         churn      holds one primary; loops StartAuthSession (HMAC) ->
 *                    Sign through it -> FlushContext
 *         policy     loops StartAuthSession (policy) -> PolicyPCR ->
 *                    PolicyCommandCode -> PolicyGetDigest -> FlushContext
 *       Codes listed in $FAULT_OK (e.g. "0x000b0909") are counted apart, as
 *       expected; any other failure is an error.  Prints
 *       "KIND ops N errors E expected X" and exits 0 only with N > 0 and
 *       E == 0.  SIGTERM ends the loop after the current operation.
 *
 *   faultclient victims SOCKET N PAR SEED
 *       N victims, PAR at a time, each a forked process on its own
 *       connection (hand-built frames): it creates up to 3 primaries
 *       (ECC in the null hierarchy; one in four an RSA-2048, which takes
 *       the TPM a while) and up to 2 HMAC sessions, then is SIGKILLed at a
 *       point picked at random:
 *         send      half a command written
 *         command   a whole command written, killed 0-20 ms later (queued
 *                   or at the TPM)
 *         response  its answer arrived and 3 bytes of it were read
 *         anytime   0-15 ms after its start, whatever it was doing
 *       Prints "victims N send S command C response R anytime A errors E";
 *       exit 0 only with E == 0 (a victim's own commands must succeed).
 *
 *   faultclient statpoll SOCKET INTERVAL_MS
 *       Asks for `status` on a new connection every INTERVAL_MS until
 *       SIGTERM; prints "status n N max_ms X p99_ms Y mean_ms Z fail F"
 *       (a request that got no answer counts as failed).
 *
 *   faultclient open SOCKET N
 *       Opens up to N connections, each asked a GetRandom and given 3 s
 *       for the answer; prints "served S refused R hung H" (refused: any
 *       answer but success, or the connection ended; hung: no answer in
 *       3 s) and holds the served ones open until stdin closes, asking
 *       each again then: prints "again S2".
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "common/proto.h"
#include "common/util.h"
#include "common/wire.h"
#include "frameclient.h"
#include "tclient.h"

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double
now_ms(void)
{
	return (double)now_ns() / 1e6;
}

/* ---- mix: steady ESYS load ---- */

struct mix {
	const char *kind;
	ESYS_CONTEXT *e;
	unsigned long ops, errors, expected;
	uint32_t ok_rc[8];
	size_t n_ok;
};

/* 0: fine; 1: an expected code; -1: an error (reported) */
static int
mix_rc(struct mix *m, const char *what, TSS2_RC rc)
{
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	for (size_t i = 0; i < m->n_ok; i++) {
		if (rc == m->ok_rc[i]) {
			m->expected++;
			return 1;
		}
	}
	if (m->errors++ < 5)
		fprintf(stderr, "faultclient %s: %s: 0x%08x %s\n", m->kind, what, rc,
			Tss2_RC_Decode(rc));
	return -1;
}

static TSS2_RC
primary_ecc(ESYS_CONTEXT *e, ESYS_TR *ret)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_PUBLIC pub = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION pcrs = {0};
	TPMT_PUBLIC *t = &pub.publicArea;

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
	return Esys_CreatePrimary(e, ESYS_TR_RH_NULL, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				  &sens, &pub, &outside, &pcrs, ret, NULL, NULL, NULL, NULL);
}

static TSS2_RC
sign(ESYS_CONTEXT *e, ESYS_TR key, ESYS_TR auth)
{
	TPM2B_DIGEST d = {.size = 32};
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TPMT_TK_HASHCHECK ticket = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
	TPMT_SIGNATURE *sig = NULL;
	TSS2_RC rc;

	memset(d.buffer, 0x5a, sizeof(d.buffer));
	rc = Esys_Sign(e, key, auth, ESYS_TR_NONE, ESYS_TR_NONE, &d, &scheme, &ticket, &sig);
	Esys_Free(sig);
	return rc;
}

static void
mix_getrandom(struct mix *m)
{
	TPM2B_DIGEST *r = NULL;

	if (mix_rc(m, "GetRandom", Esys_GetRandom(m->e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						 16, &r)) == 0)
		m->ops++;
	Esys_Free(r);
}

/* keys[0..2) and one session, made once (again after an expected failure) */
static void
mix_holder(struct mix *m, ESYS_TR keys[2], ESYS_TR *s, unsigned long iter)
{
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_NAME *name = NULL, *qname = NULL;
	ESYS_TR k;

	for (int i = 0; i < 2; i++)
		if (keys[i] == ESYS_TR_NONE &&
		    mix_rc(m, "CreatePrimary", primary_ecc(m->e, &keys[i])) != 0)
			return;
	if (*s == ESYS_TR_NONE &&
	    mix_rc(m, "StartAuthSession", tclient_start_session(m->e, TPM2_SE_HMAC, NULL, s)) != 0)
		return;
	k = keys[iter % 2];
	if (mix_rc(m, "Sign", sign(m->e, k, *s)) != 0)
		return;
	if (mix_rc(m, "ReadPublic", Esys_ReadPublic(m->e, k, ESYS_TR_NONE, ESYS_TR_NONE,
						    ESYS_TR_NONE, &pub, &name, &qname)) == 0)
		m->ops++;
	Esys_Free(pub);
	Esys_Free(name);
	Esys_Free(qname);
}

static void
mix_churn(struct mix *m, ESYS_TR *key)
{
	ESYS_TR s = ESYS_TR_NONE;
	int r;

	if (*key == ESYS_TR_NONE && mix_rc(m, "CreatePrimary", primary_ecc(m->e, key)) != 0)
		return;
	if (mix_rc(m, "StartAuthSession", tclient_start_session(m->e, TPM2_SE_HMAC, NULL, &s)) != 0)
		return;
	r = mix_rc(m, "Sign", sign(m->e, *key, s));
	if (mix_rc(m, "FlushContext", Esys_FlushContext(m->e, s)) == 0 && r == 0)
		m->ops++;
}

static void
mix_policy(struct mix *m)
{
	TPM2B_DIGEST empty = {0};
	TPML_PCR_SELECTION sel = {.count = 1};
	TPM2B_DIGEST *dig = NULL;
	ESYS_TR s = ESYS_TR_NONE;
	int r;

	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[0].sizeofSelect = 3;
	sel.pcrSelections[0].pcrSelect[0] = 0x01;
	if (mix_rc(m, "StartAuthSession",
		   tclient_start_session(m->e, TPM2_SE_POLICY, NULL, &s)) != 0)
		return;
	r = mix_rc(m, "PolicyPCR", Esys_PolicyPCR(m->e, s, ESYS_TR_NONE, ESYS_TR_NONE,
						 ESYS_TR_NONE, &empty, &sel));
	if (r == 0)
		r = mix_rc(m, "PolicyCommandCode",
			   Esys_PolicyCommandCode(m->e, s, ESYS_TR_NONE, ESYS_TR_NONE,
						  ESYS_TR_NONE, TPM2_CC_Sign));
	if (r == 0)
		r = mix_rc(m, "PolicyGetDigest", Esys_PolicyGetDigest(m->e, s, ESYS_TR_NONE,
								      ESYS_TR_NONE, ESYS_TR_NONE,
								      &dig));
	Esys_Free(dig);
	if (mix_rc(m, "FlushContext", Esys_FlushContext(m->e, s)) == 0 && r == 0)
		m->ops++;
}

static int
mix(const char *tcti, const char *kind, unsigned secs, unsigned locality)
{
	struct mix m = {.kind = kind};
	ESYS_TR keys[2] = {ESYS_TR_NONE, ESYS_TR_NONE}, s = ESYS_TR_NONE;
	const char *ok = getenv("FAULT_OK");
	struct tclient c;
	double end = now_ms() + secs * 1000.0;
	unsigned long iter = 0, before;

	while (ok != NULL && *ok != '\0' && m.n_ok < sizeof(m.ok_rc) / sizeof(m.ok_rc[0])) {
		char *next;
		m.ok_rc[m.n_ok++] = (uint32_t)strtoul(ok, &next, 0);
		ok = *next == ',' ? next + 1 : "";
	}
	if (tclient_open(&c, tcti, "faultclient") < 0)
		return 1;
	m.e = c.esys;
	if (locality != 0 && Tss2_Tcti_SetLocality(c.tcti, (uint8_t)locality) != 0) {
		fprintf(stderr, "faultclient: SetLocality(%u) failed\n", locality);
		return 1;
	}
	while (!stop && (secs == 0 || now_ms() < end)) {
		before = m.errors + m.expected;
		if (strcmp(kind, "getrandom") == 0)
			mix_getrandom(&m);
		else if (strcmp(kind, "holder") == 0)
			mix_holder(&m, keys, &s, iter);
		else if (strcmp(kind, "churn") == 0)
			mix_churn(&m, &keys[0]);
		else if (strcmp(kind, "policy") == 0)
			mix_policy(&m);
		else
			return 2;
		iter++;
		/* after a failure, what the client holds may be gone (the TPM's
		 * answer came too late, the TPM was reset): it makes them again,
		 * as a real one would */
		if (m.errors + m.expected != before &&
		    (strcmp(kind, "holder") == 0 || strcmp(kind, "churn") == 0)) {
			for (int i = 0; i < 2; i++)
				if (keys[i] != ESYS_TR_NONE)
					(void)Esys_FlushContext(m.e, keys[i]);
			if (s != ESYS_TR_NONE)
				(void)Esys_FlushContext(m.e, s);
			keys[0] = keys[1] = s = ESYS_TR_NONE;
		}
		if (m.errors > 1000)
			break;
	}
	printf("%s ops %lu errors %lu expected %lu\n", kind, m.ops, m.errors, m.expected);
	fflush(stdout);
	tclient_close(&c);
	return m.ops > 0 && m.errors == 0 ? 0 : 1;
}

/* ---- victims: clients killed at random points ---- */

enum { AT_SEND, AT_COMMAND, AT_RESPONSE, AT_ANYTIME, AT_N };
static const char *const at_name[AT_N] = {"send", "command", "response", "anytime"};

static size_t
cmd_primary(uint8_t *b, bool rsa)
{
	/* TPM2B_PUBLIC of an ECC P-256 or RSA-2048 signing key, no policy,
	 * scheme NULL, empty unique */
	static const uint8_t ecc[] = {0x00, 0x16, 0x00, 0x23, 0x00, 0x0b, 0x00, 0x04, 0x00, 0x72,
				      0x00, 0x00, 0x00, 0x10, 0x00, 0x10, 0x00, 0x03, 0x00, 0x10,
				      0x00, 0x00, 0x00, 0x00};
	static const uint8_t rsa2048[] = {0x00, 0x16, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x04,
					  0x00, 0x72, 0x00, 0x00, 0x00, 0x10, 0x00, 0x10,
					  0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	size_t off = TPM_HDR_SIZE;

	put_be32(b + off, TPM2_RH_NULL);
	put_be32(b + off + 4, 9);
	put_be32(b + off + 8, TPM2_RS_PW);
	put_be16(b + off + 12, 0);
	b[off + 14] = 0x01;
	put_be16(b + off + 15, 0);
	off += 17;
	/* TPM2B_SENSITIVE_CREATE: empty */
	memcpy(b + off, (const uint8_t[]){0x00, 0x04, 0x00, 0x00, 0x00, 0x00}, 6);
	off += 6;
	memcpy(b + off, rsa ? rsa2048 : ecc, rsa ? sizeof(rsa2048) : sizeof(ecc));
	off += rsa ? sizeof(rsa2048) : sizeof(ecc);
	memset(b + off, 0, 6); /* outsideInfo, creationPCR */
	off += 6;
	wire_hdr_put(b, TPM2_ST_SESSIONS, (uint32_t)off, TPM2_CC_CreatePrimary);
	return off;
}

/* StartAuthSession: unbound, unsalted HMAC session, SHA-256, no symmetric */
static size_t
cmd_session(uint8_t *b)
{
	size_t off = TPM_HDR_SIZE;

	put_be32(b + off, TPM2_RH_NULL); /* tpmKey */
	put_be32(b + off + 4, TPM2_RH_NULL); /* bind */
	off += 8;
	put_be16(b + off, 16);
	memset(b + off + 2, 0x11, 16); /* nonceCaller */
	off += 18;
	put_be16(b + off, 0); /* encryptedSalt */
	b[off + 2] = TPM2_SE_HMAC;
	put_be16(b + off + 3, TPM2_ALG_NULL); /* symmetric */
	put_be16(b + off + 5, TPM2_ALG_SHA256);
	off += 7;
	wire_hdr_put(b, TPM2_ST_NO_SESSIONS, (uint32_t)off, TPM2_CC_StartAuthSession);
	return off;
}

static size_t
cmd_getrandom(uint8_t *b)
{
	wire_hdr_put(b, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	put_be16(b + 10, 16);
	return 12;
}

static size_t
cmd_any(uint8_t *b, unsigned r)
{
	switch (r % 4) {
	case 0:
		return cmd_primary(b, true);
	case 1:
		return cmd_primary(b, false);
	case 2:
		return cmd_session(b);
	default:
		return cmd_getrandom(b);
	}
}

/* The victim: tells the parent on fd once it is at its point, then waits to die. */
static void
victim(const char *sock, unsigned at, unsigned seed, int fd)
{
	uint8_t cmd[256], rsp[TB_BUF_MAX], hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND};
	unsigned r = seed, objs, sess;
	size_t len;
	char b = 'k';
	int s = fc_connect(sock);

	if (s < 0)
		_exit(1);
	r = r * 1103515245u + 12345u;
	objs = (r >> 16) % 4;
	r = r * 1103515245u + 12345u;
	sess = (r >> 16) % 3;
	for (unsigned i = 0; i < objs + sess; i++) {
		r = r * 1103515245u + 12345u;
		len = i < objs ? cmd_primary(cmd, (r >> 16) % 4 == 0) : cmd_session(cmd);
		uint32_t rc = fc_roundtrip(s, cmd, len, 0, rsp, sizeof(rsp), NULL);
		if (rc != 0) {
			fprintf(stderr, "faultclient victim: command %u: 0x%08x\n", i, rc);
			b = 'e';
			break;
		}
	}
	r = r * 1103515245u + 12345u;
	len = cmd_any(cmd, r >> 16);
	h.len = (uint32_t)len;
	tb_hdr_pack(hdr, &h);
	if (b == 'k') {
		switch (at) {
		case AT_SEND:
			/* the header and half the command */
			if (write_all(s, hdr, sizeof(hdr)) < 0 || write_all(s, cmd, len / 2) < 0)
				b = 'e';
			break;
		case AT_COMMAND:
			if (write_all(s, hdr, sizeof(hdr)) < 0 || write_all(s, cmd, len) < 0)
				b = 'e';
			break;
		case AT_RESPONSE: {
			struct pollfd p = {.fd = s, .events = POLLIN};
			if (write_all(s, hdr, sizeof(hdr)) < 0 || write_all(s, cmd, len) < 0 ||
			    poll(&p, 1, 30000) != 1 || read_all(s, rsp, 3) < 0)
				b = 'e';
			break;
		}
		default: /* AT_ANYTIME: go on until killed */
			for (;;)
				if (fc_roundtrip(s, cmd, len, 0, rsp, sizeof(rsp), NULL) != 0 &&
				    len > 12)
					len = cmd_getrandom(cmd);
		}
	}
	if (write(fd, &b, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* One of PAR lanes: n victims one after another; counts into cnt[AT_N + 1]. */
static int
victims_lane(const char *sock, unsigned n, unsigned seed, unsigned long cnt[AT_N + 1])
{
	unsigned r = seed;

	for (unsigned i = 0; i < n; i++) {
		int p[2];
		unsigned at;
		pid_t pid;
		char b = 0;

		r = r * 1103515245u + 12345u;
		at = (r >> 16) % AT_N;
		r = r * 1103515245u + 12345u;
		if (pipe(p) < 0)
			return -1;
		if ((pid = fork()) < 0)
			return -1;
		if (pid == 0) {
			close(p[0]);
			victim(sock, at, r, p[1]);
		}
		close(p[1]);
		if (at == AT_ANYTIME) {
			struct timespec ts = {0, (long)((r >> 8) % 15000) * 1000};
			nanosleep(&ts, NULL);
			b = 'k';
		} else {
			struct pollfd pf = {.fd = p[0], .events = POLLIN};
			if (poll(&pf, 1, 60000) != 1 || read(p[0], &b, 1) != 1)
				b = 'e';
			if (at == AT_COMMAND) {
				struct timespec ts = {0, (long)((r >> 8) % 20000) * 1000};
				nanosleep(&ts, NULL);
			}
		}
		kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		close(p[0]);
		if (b == 'k')
			cnt[at]++;
		else
			cnt[AT_N]++;
	}
	return 0;
}

static int
victims(const char *sock, unsigned n, unsigned par, unsigned seed)
{
	unsigned long cnt[AT_N + 1] = {0}, c[AT_N + 1];
	int p[2], status, bad = 0;

	if (par == 0 || pipe(p) < 0)
		return 2;
	for (unsigned l = 0; l < par; l++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(p[0]);
			memset(c, 0, sizeof(c));
			if (victims_lane(sock, n / par + (l < n % par), seed * 7919u + l, c) < 0)
				_exit(1);
			_exit(write_all(p[1], c, sizeof(c)) < 0);
		}
	}
	close(p[1]);
	while (read_all(p[0], c, sizeof(c)) == 0)
		for (int i = 0; i <= AT_N; i++)
			cnt[i] += c[i];
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	printf("victims %lu", cnt[0] + cnt[1] + cnt[2] + cnt[3]);
	for (int i = 0; i < AT_N; i++)
		printf(" %s %lu", at_name[i], cnt[i]);
	printf(" errors %lu\n", cnt[AT_N] + (unsigned long)bad);
	return cnt[AT_N] == 0 && bad == 0 ? 0 : 1;
}

/* ---- statpoll: how long `status` takes ---- */

/* ms for one status request on a new connection; < 0 if unanswered */
static double
status_once(const char *sock)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_STATUS};
	static uint8_t body[TB_PROTO_MAX_STATUS];
	double t0 = now_ms();
	struct pollfd p;
	int fd = fc_connect(sock);
	double ret = -1;

	if (fd < 0)
		return -1;
	tb_hdr_pack(hdr, &h);
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	/* bounded: a daemon whose loop blocks shows as a long time, not a hang */
	if (write_all(fd, hdr, sizeof(hdr)) == 0 && poll(&p, 1, 30000) == 1 &&
	    read_all(fd, hdr, sizeof(hdr)) == 0) {
		tb_hdr_unpack(hdr, &h);
		if (h.type == TB_MSG_STATUS && h.len <= sizeof(body) &&
		    read_all(fd, body, h.len) == 0)
			ret = now_ms() - t0;
	}
	close(fd);
	return ret;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
statpoll(const char *sock, unsigned interval_ms)
{
	size_t n = 0, cap = 1024, fail = 0;
	double *t = malloc(cap * sizeof(*t)), sum = 0;

	if (t == NULL)
		return 1;
	while (!stop) {
		double ms = status_once(sock);
		if (ms < 0) {
			fail++;
		} else {
			if (n == cap && (t = realloc(t, (cap *= 2) * sizeof(*t))) == NULL)
				return 1;
			t[n++] = ms;
			sum += ms;
		}
		struct timespec ts = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	qsort(t, n, sizeof(*t), cmp_double);
	printf("status n %zu max_ms %.1f p99_ms %.1f mean_ms %.2f fail %zu\n", n,
	       n ? t[n - 1] : 0.0, n ? t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0.0,
	       n ? sum / (double)n : 0.0, fail);
	free(t);
	return 0;
}

/* ---- open: many connections, each asked once ---- */

static int
open_many(const char *sock, unsigned n)
{
	uint8_t cmd[16], rsp[TB_BUF_MAX];
	int *fds = calloc(n, sizeof(int));
	unsigned served = 0, refused = 0, hung = 0, again = 0;
	struct timeval tv = {.tv_sec = 3};
	size_t len = cmd_getrandom(cmd);
	char line[16];

	if (fds == NULL)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		int fd = fc_connect(sock);
		uint32_t rc;

		if (fd < 0) {
			refused++;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		errno = 0;
		rc = fc_roundtrip(fd, cmd, len, 0, rsp, sizeof(rsp), NULL);
		if (rc == 0) {
			fds[served++] = fd;
		} else if (rc == 0xffffffffu && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			hung++;
			close(fd);
		} else {
			if (refused++ == 0)
				fprintf(stderr, "faultclient open: connection %u: 0x%08x\n", i, rc);
			close(fd);
		}
	}
	printf("served %u refused %u hung %u\n", served, refused, hung);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL)
		;
	for (unsigned i = 0; i < served; i++) {
		again += fc_roundtrip(fds[i], cmd, len, 0, rsp, sizeof(rsp), NULL) == 0;
		close(fds[i]);
	}
	printf("again %u\n", again);
	free(fds);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_term};

	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 5 && strcmp(argv[1], "mix") == 0)
		return mix(argv[2], argv[3], (unsigned)atoi(argv[4]),
			   argc > 5 ? (unsigned)atoi(argv[5]) : 0);
	if (argc == 6 && strcmp(argv[1], "victims") == 0)
		return victims(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]),
			       (unsigned)atoi(argv[5]));
	if (argc == 4 && strcmp(argv[1], "statpoll") == 0)
		return statpoll(argv[2], (unsigned)atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "open") == 0)
		return open_many(argv[2], (unsigned)atoi(argv[3]));
	fprintf(stderr, "usage: faultclient mix TCTI KIND SECS [LOCALITY] | victims SOCKET N PAR "
			"SEED | statpoll SOCKET INTERVAL_MS | open SOCKET N\n");
	return 2;
}
