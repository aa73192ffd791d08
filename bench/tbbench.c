/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tbbench: load generator for a TPM 2.0 stack reached through any TCTI
 * (direct swtpm, tpmbrokerd, tpm2-abrmd, ...), after the idea of the peers'
 * tpmbench.
 *
 *   tbbench -T TCTI [-k CLIENTS] [-d SECONDS] [-m MODE] [-p PID] [-P PID] [--csv]
 *
 * Modes (cmds = TPM commands per iteration):
 *   getrandom  GetRandom(32)                                            1
 *   pcr        PCR_Extend(16, sha256)                                   1
 *   keyuser    setup: ECC P-256 signing primary; per iteration an HMAC
 *              session is started, used for one Sign and flushed        3
 *   holder     setup: ECC storage primary, two loaded ECC signing
 *              children (3 transient objects) and 2 HMAC sessions held
 *              for the whole run; per iteration ReadPublic(primary) and
 *              Sign(child[i%2], session[i%2]): the RM's swap work       2
 *
 * Every client is a fork()ed process with its own TCTI connection.  All
 * finish setup, wait at a barrier (a pipe the parent closes), run for the
 * duration, say so on a second pipe, then clean up outside the window.
 * Results and latency histograms go to shared memory.  CPU per command is
 * measured inside the window: the clients' own CPU, and with -p/-P that of
 * a daemon and of the TPM process (/proc/PID/stat utime+stime, all threads).
 *
 * Latency is per iteration (= per command in getrandom and pcr).  Nothing
 * here asserts anything: it measures and prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#define MAX_CLIENTS 1024
#define MAX_RCS 16            /* distinct (rc, where) pairs kept per client */
#define SETUP_TIMEOUT_S 120   /* clients not at the barrier by then are killed */
#define EXIT_GRACE_S 30       /* after the run: cleanup time before SIGKILL */

/*
 * Latency histogram, log-linear: values below 2^SUB_BITS ns are exact,
 * above, each power of two is split into 2^SUB_BITS buckets (error < 1.6%).
 * Fixed size, so a client never allocates in its timed loop.
 */
#define SUB_BITS 6
#define SUB_COUNT (1u << SUB_BITS)
#define MAX_EXP 40   /* 2^40 ns = 18 min: anything longer lands in the last bucket */
#define NBUCKETS ((MAX_EXP - SUB_BITS + 2) * SUB_COUNT)

enum mode { MODE_GETRANDOM, MODE_PCR, MODE_KEYUSER, MODE_HOLDER };

static const struct mode_info {
	const char *name;
	unsigned cmds_per_iter;
} modes[] = {
	[MODE_GETRANDOM] = {"getrandom", 1},
	[MODE_PCR] = {"pcr", 1},
	[MODE_KEYUSER] = {"keyuser", 3},
	[MODE_HOLDER] = {"holder", 2},
};

/* client phases, written by the client, read by the parent */
enum phase { PH_START, PH_READY, PH_RAN, PH_DONE };

struct rc_count {
	uint32_t rc;
	uint64_t count;
	char where[24];
};

/* One per client, in shared memory. */
struct result {
	volatile int phase;
	bool setup_ok;
	uint64_t iters;     /* iterations without error */
	uint64_t cmds;      /* commands that succeeded */
	uint64_t errs;      /* commands that failed */
	uint64_t cpu_ns;    /* the client's own CPU during its timed loop */
	unsigned n_rcs;
	struct rc_count rcs[MAX_RCS];
	uint32_t hist[NBUCKETS];
};

struct opts {
	const char *tcti;
	enum mode mode;
	unsigned clients;
	double seconds;
	pid_t daemon_pid;   /* -p: CPU per command of a daemon */
	pid_t tpm_pid;      /* -P: ... and of the TPM process */
	bool csv;
};

static struct opts opt = {.mode = MODE_GETRANDOM, .clients = 1, .seconds = 5.0};

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	(void)clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned
hist_index(uint64_t v)
{
	unsigned e;

	if (v < SUB_COUNT)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e > MAX_EXP)
		return NBUCKETS - 1;
	return ((e - SUB_BITS + 1) << SUB_BITS) + (unsigned)((v >> (e - SUB_BITS)) & (SUB_COUNT - 1));
}

/* The middle of a bucket, in ns. */
static double
hist_value(unsigned idx)
{
	unsigned g = idx >> SUB_BITS, e, m = idx & (SUB_COUNT - 1);

	if (g == 0)
		return idx;
	e = g + SUB_BITS - 1;
	return (double)((uint64_t)(SUB_COUNT + m) << (e - SUB_BITS)) +
	       (double)(1ull << (e - SUB_BITS)) / 2.0;
}

static void
note_rc(struct result *r, uint32_t rc, const char *where)
{
	r->errs++;
	for (unsigned i = 0; i < r->n_rcs; i++) {
		if (r->rcs[i].rc == rc && strcmp(r->rcs[i].where, where) == 0) {
			r->rcs[i].count++;
			return;
		}
	}
	if (r->n_rcs == MAX_RCS)
		return;   /* counted in errs, not itemized */
	r->rcs[r->n_rcs].rc = rc;
	r->rcs[r->n_rcs].count = 1;
	snprintf(r->rcs[r->n_rcs].where, sizeof(r->rcs[0].where), "%s", where);
	r->n_rcs++;
}

/* ---- TPM operations ---------------------------------------------------- */

static TPM2B_PUBLIC
ecc_template(bool storage)
{
	TPM2B_PUBLIC t = {0};
	TPMS_ECC_PARMS *ecc = &t.publicArea.parameters.eccDetail;

	t.publicArea.type = TPM2_ALG_ECC;
	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					TPMA_OBJECT_SENSITIVEDATAORIGIN |
					TPMA_OBJECT_USERWITHAUTH;
	ecc->curveID = TPM2_ECC_NIST_P256;
	ecc->kdf.scheme = TPM2_ALG_NULL;
	if (storage) {
		t.publicArea.objectAttributes |= TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
		ecc->symmetric.algorithm = TPM2_ALG_AES;
		ecc->symmetric.keyBits.aes = 128;
		ecc->symmetric.mode.aes = TPM2_ALG_CFB;
		ecc->scheme.scheme = TPM2_ALG_NULL;
	} else {
		t.publicArea.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
		ecc->symmetric.algorithm = TPM2_ALG_NULL;
		ecc->scheme.scheme = TPM2_ALG_ECDSA;
		ecc->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	}
	return t;
}

static TSS2_RC
create_primary(ESYS_CONTEXT *ctx, bool storage, ESYS_TR *ret)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION pcrs = {0};
	TPM2B_PUBLIC t = ecc_template(storage);

	return Esys_CreatePrimary(ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				  ESYS_TR_NONE, &sens, &t, &outside, &pcrs, ret, NULL, NULL, NULL,
				  NULL);
}

static TSS2_RC
start_hmac(ESYS_CONTEXT *ctx, ESYS_TR *ret)
{
	static const TPMT_SYM_DEF sym_null = {.algorithm = TPM2_ALG_NULL};
	TSS2_RC rc;

	rc = Esys_StartAuthSession(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym_null, TPM2_ALG_SHA256,
				   ret);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_TRSess_SetAttributes(ctx, *ret, TPMA_SESSION_CONTINUESESSION, 0xff);
	return rc;
}

static TSS2_RC
sign(ESYS_CONTEXT *ctx, ESYS_TR key, ESYS_TR sess, uint32_t i)
{
	TPM2B_DIGEST dig = {.size = 32};
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TPMT_TK_HASHCHECK check = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
	TPMT_SIGNATURE *sig = NULL;
	TSS2_RC rc;

	memset(dig.buffer, 0x5a, sizeof(dig.buffer));
	memcpy(dig.buffer, &i, sizeof(i));
	rc = Esys_Sign(ctx, key, sess, ESYS_TR_NONE, ESYS_TR_NONE, &dig, &scheme, &check, &sig);
	Esys_Free(sig);
	return rc;
}

/* ---- one client -------------------------------------------------------- */

struct client {
	ESYS_CONTEXT *ctx;
	ESYS_TR key;        /* keyuser: the signing primary; holder: the storage primary */
	ESYS_TR kids[2];    /* holder: loaded signing children */
	ESYS_TR sess[2];    /* holder: HMAC sessions */
};

/* Returns the failing rc and names the step in *where. */
static TSS2_RC
client_setup(struct client *c, const char **where)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION pcrs = {0};
	TPM2B_PUBLIC kt = ecc_template(false);
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	static const char *const load_step[] = {"setup:load1", "setup:load2"};
	static const char *const sess_step[] = {"setup:session1", "setup:session2"};
	TSS2_RC rc;

	if (opt.mode != MODE_KEYUSER && opt.mode != MODE_HOLDER)
		return TSS2_RC_SUCCESS;
	*where = "setup:createprimary";
	if ((rc = create_primary(c->ctx, opt.mode == MODE_HOLDER, &c->key)) != TSS2_RC_SUCCESS)
		return rc;
	if (opt.mode == MODE_KEYUSER)
		return TSS2_RC_SUCCESS;
	*where = "setup:create";
	rc = Esys_Create(c->ctx, c->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &kt,
			 &outside, &pcrs, &priv, &pub, NULL, NULL, NULL);
	for (int j = 0; j < 2 && rc == TSS2_RC_SUCCESS; j++) {
		*where = load_step[j];
		rc = Esys_Load(c->ctx, c->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv,
			       pub, &c->kids[j]);
	}
	Esys_Free(priv);
	Esys_Free(pub);
	for (int j = 0; j < 2 && rc == TSS2_RC_SUCCESS; j++) {
		*where = sess_step[j];
		rc = start_hmac(c->ctx, &c->sess[j]);
	}
	return rc;
}

/* One iteration; false if any command failed. */
static bool
client_iter(struct client *c, struct result *r, uint32_t i)
{
	TPM2B_DIGEST *rnd = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TPML_DIGEST_VALUES v = {.count = 1};
	ESYS_TR s = ESYS_TR_NONE;
	unsigned ok = 0, want = modes[opt.mode].cmds_per_iter;
	TSS2_RC rc;

#define STEP(call, name)                          \
	do {                                      \
		if ((rc = (call)) == TSS2_RC_SUCCESS) \
			ok++;                     \
		else                              \
			note_rc(r, rc, (name));   \
	} while (0)

	switch (opt.mode) {
	case MODE_GETRANDOM:
		STEP(Esys_GetRandom(c->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 32, &rnd),
		     "getrandom");
		Esys_Free(rnd);
		break;
	case MODE_PCR:
		v.digests[0].hashAlg = TPM2_ALG_SHA256;
		memcpy(v.digests[0].digest.sha256, &i, sizeof(i));
		STEP(Esys_PCR_Extend(c->ctx, ESYS_TR_PCR16, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				     ESYS_TR_NONE, &v),
		     "pcr_extend");
		break;
	case MODE_KEYUSER:
		STEP(start_hmac(c->ctx, &s), "startauthsession");
		if (rc != TSS2_RC_SUCCESS)
			break;
		STEP(sign(c->ctx, c->key, s, i), "sign");
		STEP(Esys_FlushContext(c->ctx, s), "flushcontext");
		break;
	case MODE_HOLDER:
		STEP(Esys_ReadPublic(c->ctx, c->key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				     &pub, NULL, NULL),
		     "readpublic");
		Esys_Free(pub);
		STEP(sign(c->ctx, c->kids[i & 1], c->sess[i & 1], i), "sign");
		break;
	}
#undef STEP
	r->cmds += ok;
	return ok == want;
}

static void
client_cleanup(struct client *c)
{
	ESYS_TR *hs[] = {&c->sess[0], &c->sess[1], &c->kids[0], &c->kids[1], &c->key};

	for (size_t j = 0; j < sizeof(hs) / sizeof(hs[0]); j++) {
		if (*hs[j] != ESYS_TR_NONE)
			(void)Esys_FlushContext(c->ctx, *hs[j]);
	}
}

static _Noreturn void
client_main(struct result *r, int ready_w, int go_r, int ran_w)
{
	struct client c = {.key = ESYS_TR_NONE,
			   .kids = {ESYS_TR_NONE, ESYS_TR_NONE},
			   .sess = {ESYS_TR_NONE, ESYS_TR_NONE}};
	TSS2_TCTI_CONTEXT *tcti = NULL;
	const char *where = "setup:tctildr";
	uint64_t t0, tend, t, cpu0;
	TSS2_RC rc;
	uint32_t i;
	char ch = 1;

	rc = Tss2_TctiLdr_Initialize(opt.tcti, &tcti);
	if (rc == TSS2_RC_SUCCESS) {
		where = "setup:esys_init";
		rc = Esys_Initialize(&c.ctx, tcti, NULL);
	}
	if (rc == TSS2_RC_SUCCESS)
		rc = client_setup(&c, &where);
	r->setup_ok = rc == TSS2_RC_SUCCESS;
	if (!r->setup_ok)
		note_rc(r, rc, where);

	r->phase = PH_READY;
	if (write(ready_w, &ch, 1) != 1)
		_exit(2);
	(void)close(ready_w);
	while (read(go_r, &ch, 1) > 0)   /* barrier: EOF when the parent closes it */
		;

	cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	t0 = clock_ns(CLOCK_MONOTONIC);
	tend = t0 + (uint64_t)(opt.seconds * 1e9);
	for (i = 0; r->setup_ok && (t = clock_ns(CLOCK_MONOTONIC)) < tend; i++) {
		if (client_iter(&c, r, i)) {
			r->iters++;
			r->hist[hist_index(clock_ns(CLOCK_MONOTONIC) - t)]++;
		}
	}
	r->cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	r->phase = PH_RAN;
	if (write(ran_w, &ch, 1) != 1)
		_exit(2);

	/* outside the window */
	if (c.ctx != NULL) {
		client_cleanup(&c);
		Esys_Finalize(&c.ctx);
	}
	if (tcti != NULL)
		Tss2_TctiLdr_Finalize(&tcti);
	r->phase = PH_DONE;
	_exit(0);
}

/* ---- parent ------------------------------------------------------------ */

/* utime+stime of all threads of PID, in ns; -1 if unreadable. */
static int64_t
proc_cpu_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces: fields 14 and 15 count from the last ')' */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (int64_t)((ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/*
 * The whole machine's idle and steal time (/proc/stat), in ns: busy time not
 * ours in the window tells whether something else loaded the machine.  Busy
 * is wall time minus idle: with NO_HZ the kernel measures idle periods
 * exactly, while its user/system columns are tick samples that disagree
 * with the tasks' own (exact) run times under ping-pong loads.
 */
struct sys_cpu {
	int64_t idle_ns;    /* idle + iowait, all CPUs */
	int64_t steal_ns;   /* taken by the hypervisor */
};

static int
sys_cpu_read(struct sys_cpu *ret)
{
	unsigned long long v[8] = {0};
	int64_t tick = (int64_t)(1000000000ll / sysconf(_SC_CLK_TCK));
	FILE *f = fopen("/proc/stat", "re");
	int n;

	if (f == NULL)
		return -errno;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	(void)fclose(f);
	if (n != 8)
		return -EINVAL;
	ret->idle_ns = (int64_t)(v[3] + v[4]) * tick;
	ret->steal_ns = (int64_t)v[7] * tick;
	return 0;
}

/* Read n bytes from fd, or until deadline (CLOCK_MONOTONIC ns); returns bytes read. */
static unsigned
wait_bytes(int fd, unsigned n, uint64_t deadline)
{
	unsigned got = 0;
	char buf[256];

	while (got < n) {
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t k;
		int r;

		if (now >= deadline)
			break;
		r = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		k = read(fd, buf, n - got < sizeof(buf) ? n - got : sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;   /* EOF: every writer is gone */
		got += (unsigned)k;
	}
	return got;
}

/* Kill the clients still before phase `upto`; returns how many. */
static unsigned
kill_laggards(struct result *res, const pid_t *pids, int upto)
{
	unsigned n = 0;

	for (unsigned i = 0; i < opt.clients; i++) {
		if (pids[i] > 0 && res[i].phase < upto) {
			(void)kill(pids[i], SIGKILL);
			n++;
		}
	}
	return n;
}

struct summary {
	uint64_t iters, cmds, errs, cpu_ns;
	unsigned setup_fail, hung;
	double window_s;
	double p50_ms, p99_ms, max_ms;
	double daemon_us, tpm_us;   /* < 0: not measured */
	double other_pct;           /* CPU of everything else, % of all CPUs; < 0: unknown */
	double steal_pct;
	unsigned n_rcs;
	struct rc_count rcs[64];
};

static void
merge_rcs(struct summary *s, const struct result *r)
{
	for (unsigned j = 0; j < r->n_rcs; j++) {
		unsigned m;

		for (m = 0; m < s->n_rcs; m++) {
			if (s->rcs[m].rc == r->rcs[j].rc &&
			    strcmp(s->rcs[m].where, r->rcs[j].where) == 0)
				break;
		}
		if (m < s->n_rcs)
			s->rcs[m].count += r->rcs[j].count;
		else if (s->n_rcs < sizeof(s->rcs) / sizeof(s->rcs[0]))
			s->rcs[s->n_rcs++] = r->rcs[j];
	}
}

static void
summarize(const struct result *res, struct summary *s)
{
	static uint32_t hist[NBUCKETS];
	uint64_t total = 0, seen = 0, at50, at99;
	int last = -1;

	memset(hist, 0, sizeof(hist));
	for (unsigned i = 0; i < opt.clients; i++) {
		const struct result *r = &res[i];

		if (r->phase < PH_RAN)
			s->hung++;
		if (!r->setup_ok)
			s->setup_fail++;
		s->iters += r->iters;
		s->cmds += r->cmds;
		s->errs += r->errs;
		s->cpu_ns += r->cpu_ns;
		merge_rcs(s, r);
		for (unsigned b = 0; b < NBUCKETS; b++) {
			hist[b] += r->hist[b];
			total += r->hist[b];
		}
	}
	at50 = total / 2;
	at99 = total - total / 100;
	s->p50_ms = s->p99_ms = -1;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		if (hist[b] == 0)
			continue;
		seen += hist[b];
		last = (int)b;
		if (s->p50_ms < 0 && seen > at50)
			s->p50_ms = hist_value(b) / 1e6;
		if (s->p99_ms < 0 && seen >= at99)
			s->p99_ms = hist_value(b) / 1e6;
	}
	if (s->p50_ms < 0)
		s->p50_ms = s->p99_ms = 0;
	s->max_ms = last >= 0 ? hist_value((unsigned)last) / 1e6 : 0;
}

static double
per_cmd_us(int64_t a, int64_t b, uint64_t cmds)
{
	if (a < 0 || b < 0 || cmds == 0)
		return -1;
	return (double)(b - a) / 1e3 / (double)cmds;
}

static void
print_summary(const struct summary *s)
{
	double rate = s->window_s > 0 ? (double)s->cmds / s->window_s : 0;

	printf("tbbench: %s, %u clients, %.2f s: %" PRIu64 " iterations, %" PRIu64
	       " commands, %.1f cmd/s; latency per iteration p50 %.3f ms, p99 %.3f ms,"
	       " max %.2f ms\n",
		modes[opt.mode].name, opt.clients, s->window_s, s->iters, s->cmds, rate, s->p50_ms,
		s->p99_ms, s->max_ms);
	printf("tbbench: errors %" PRIu64 ", setup failures %u, clients killed %u;"
	       " CPU per command: clients %.1f us",
		s->errs, s->setup_fail, s->hung,
		s->cmds ? (double)s->cpu_ns / 1e3 / (double)s->cmds : 0.0);
	if (s->daemon_us >= 0)
		printf(", daemon %.1f us", s->daemon_us);
	if (s->tpm_us >= 0)
		printf(", TPM process %.1f us", s->tpm_us);
	putchar('\n');
	if (s->other_pct >= 0)
		printf("tbbench: other processes used %.0f%% of the machine's CPU, steal %.0f%%\n",
		       s->other_pct, s->steal_pct);
	for (unsigned m = 0; m < s->n_rcs; m++)
		printf("  error x%" PRIu64 " at %s: 0x%08" PRIx32 " %s\n", s->rcs[m].count,
		       s->rcs[m].where, s->rcs[m].rc, Tss2_RC_Decode(s->rcs[m].rc));
	if (!opt.csv)
		return;
	/* csv,mode,k,window_s,iters,cmds,cmd_s,p50_ms,p99_ms,max_ms,errs,setup_fail,killed,
	 * client_us,daemon_us,tpm_us,other_pct,steal_pct,errors...
	 * (-1: not measured; the last field is free text and may hold commas) */
	printf("csv,%s,%u,%.3f,%" PRIu64 ",%" PRIu64 ",%.1f,%.3f,%.3f,%.2f,%" PRIu64 ",%u,%u,%.1f,"
	       "%.1f,%.1f,%.1f,%.1f,",
	       modes[opt.mode].name, opt.clients, s->window_s, s->iters, s->cmds, rate, s->p50_ms,
	       s->p99_ms, s->max_ms, s->errs, s->setup_fail, s->hung,
	       s->cmds ? (double)s->cpu_ns / 1e3 / (double)s->cmds : -1.0, s->daemon_us, s->tpm_us,
	       s->other_pct, s->steal_pct);
	for (unsigned m = 0; m < s->n_rcs; m++)
		printf("%s%" PRIu64 "x %s 0x%08" PRIx32 " %s", m ? "; " : "", s->rcs[m].count,
		       s->rcs[m].where, s->rcs[m].rc, Tss2_RC_Decode(s->rcs[m].rc));
	putchar('\n');
}

static void
usage(FILE *out)
{
	fputs("Usage: tbbench -T TCTI [OPTION]...\n"
	      "Load a TPM 2.0 stack with K client processes and measure it.\n"
	      "\n"
	      "  -T, --tcti=CONF      the TCTI (swtpm:..., tpmbroker:path=..., tabrmd:...)\n"
	      "  -k, --clients=K      client processes, each with its own connection (1)\n"
	      "  -d, --duration=SECS  measured window (5)\n"
	      "  -m, --mode=MODE      getrandom | pcr | keyuser | holder (getrandom)\n"
	      "  -p, --daemon-pid=PID report PID's CPU per command (the broker)\n"
	      "  -P, --tpm-pid=PID    report PID's CPU per command (the TPM process)\n"
	      "      --csv            also print one machine-readable line starting 'csv,'\n"
	      "  -h, --help           this text\n",
	      out);
}

static int
parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"tcti", required_argument, NULL, 'T'},
		{"clients", required_argument, NULL, 'k'},
		{"duration", required_argument, NULL, 'd'},
		{"mode", required_argument, NULL, 'm'},
		{"daemon-pid", required_argument, NULL, 'p'},
		{"tpm-pid", required_argument, NULL, 'P'},
		{"csv", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	char *end;
	int c;
	size_t m;

	while ((c = getopt_long(argc, argv, "T:k:d:m:p:P:h", lopts, NULL)) != -1) {
		errno = 0;
		switch (c) {
		case 'T':
			opt.tcti = optarg;
			break;
		case 'k':
			opt.clients = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || opt.clients < 1 || opt.clients > MAX_CLIENTS)
				return -EINVAL;
			break;
		case 'd':
			opt.seconds = strtod(optarg, &end);
			if (*end != '\0' || !(opt.seconds > 0 && opt.seconds < 86400))
				return -EINVAL;
			break;
		case 'm':
			for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
				if (strcmp(optarg, modes[m].name) == 0)
					break;
			}
			if (m == sizeof(modes) / sizeof(modes[0]))
				return -EINVAL;
			opt.mode = (enum mode)m;
			break;
		case 'p':
		case 'P':
			*(c == 'p' ? &opt.daemon_pid : &opt.tpm_pid) =
				(pid_t)strtol(optarg, &end, 10);
			if (*end != '\0')
				return -EINVAL;
			break;
		case 'C':
			opt.csv = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (opt.tcti == NULL || optind != argc)
		return -EINVAL;
	return 0;
}

int
main(int argc, char **argv)
{
	int ready[2], go[2], ran[2];
	struct summary s = {0};
	struct result *res;
	pid_t *pids;
	uint64_t t_go, t_ran;
	int64_t d0, d1, p0, p1;
	struct sys_cpu m0, m1;
	bool have_sys;
	unsigned killed = 0;
	size_t sz;

	if (parse_args(argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	sz = sizeof(*res) * opt.clients;
	res = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pids = calloc(opt.clients, sizeof(*pids));
	if (res == MAP_FAILED || pids == NULL) {
		perror("tbbench: memory");
		return 1;
	}
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(ran, O_CLOEXEC) < 0) {
		perror("tbbench: pipe");
		return 1;
	}
	fflush(stdout);
	for (unsigned i = 0; i < opt.clients; i++) {
		pid_t p = fork();

		if (p < 0) {
			perror("tbbench: fork");
			(void)kill_laggards(res, pids, PH_DONE + 1);
			return 1;
		}
		if (p == 0) {
			(void)close(ready[0]);
			(void)close(go[1]);
			(void)close(ran[0]);
			client_main(&res[i], ready[1], go[0], ran[1]);
		}
		pids[i] = p;
	}
	(void)close(ready[1]);
	(void)close(go[0]);
	(void)close(ran[1]);

	if (wait_bytes(ready[0], opt.clients,
		       clock_ns(CLOCK_MONOTONIC) + SETUP_TIMEOUT_S * 1000000000ull) < opt.clients) {
		killed = kill_laggards(res, pids, PH_READY);
		fprintf(stderr, "tbbench: %u clients stuck in setup, killed\n", killed);
	}

	have_sys = sys_cpu_read(&m0) == 0;
	d0 = proc_cpu_ns(opt.daemon_pid);
	p0 = proc_cpu_ns(opt.tpm_pid);
	t_go = clock_ns(CLOCK_MONOTONIC);
	(void)close(go[1]);   /* go */
	(void)wait_bytes(ran[0], opt.clients - killed,
			 t_go + (uint64_t)((opt.seconds + EXIT_GRACE_S) * 1e9));
	t_ran = clock_ns(CLOCK_MONOTONIC);
	d1 = proc_cpu_ns(opt.daemon_pid);
	p1 = proc_cpu_ns(opt.tpm_pid);
	have_sys = have_sys && sys_cpu_read(&m1) == 0;
	if (kill_laggards(res, pids, PH_RAN) > 0)
		fprintf(stderr, "tbbench: clients hung in the run, killed\n");

	/* give cleanup its time, then reap everyone */
	(void)wait_bytes(ran[0], 1, t_ran + EXIT_GRACE_S * 1000000000ull);
	if (kill_laggards(res, pids, PH_DONE) > 0)
		fprintf(stderr, "tbbench: clients hung in cleanup, killed\n");
	for (unsigned i = 0; i < opt.clients; i++)
		(void)waitpid(pids[i], NULL, 0);

	summarize(res, &s);
	s.window_s = (double)(t_ran - t_go) / 1e9;
	s.daemon_us = per_cmd_us(d0, d1, s.cmds);
	s.tpm_us = per_cmd_us(p0, p1, s.cmds);
	s.other_pct = s.steal_pct = -1;
	if (have_sys && t_ran > t_go) {
		double all = (double)(t_ran - t_go) * (double)sysconf(_SC_NPROCESSORS_ONLN) / 100.0;
		double ours = (double)s.cpu_ns + (d0 >= 0 && d1 >= 0 ? (double)(d1 - d0) : 0) +
			      (p0 >= 0 && p1 >= 0 ? (double)(p1 - p0) : 0);
		double busy = all * 100.0 - (double)(m1.idle_ns - m0.idle_ns);
		double other = busy - ours;

		s.other_pct = other > 0 ? other / all : 0;
		s.steal_pct = (double)(m1.steal_ns - m0.steal_ns) / all;
	}
	print_summary(&s);
	free(pids);
	return 0;
}
