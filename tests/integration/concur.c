/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * concur: N client processes hit one TPM through the same TCTI at the same
 * moment, each with its own connection, issuing GetRandom and PCR_Extend.
 *
 *   concur TCTI_CONF N ITER
 *
 * Every child connects (Tss2_TctiLdr_Initialize + Esys_Initialize) and
 * reports ready; only when all N are connected does the parent release
 * them together, so the daemon really holds N connections with commands
 * queued at once.  Each child then runs ITER rounds of GetRandom(16) and
 * PCR_Extend(PCR 23, sha256 = D), D the same for everyone.  Because every
 * extend uses the same digest the final PCR value does not depend on the
 * order: after PCR_Reset it must be H^(N*ITER) with H(v) = sha256(v || D).
 * So a lost, repeated or corrupted command shows up in the value, not only
 * in an error code.  Exit 0 only if every child succeeded and the value
 * holds.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tclient.h"

#define PCR_INDEX 23

static const char *tcti_conf;




static void
the_digest(uint8_t d[SHA256_DIGEST_LENGTH])
{
	for (unsigned i = 0; i < SHA256_DIGEST_LENGTH; i++)
		d[i] = (uint8_t)(0xa0 + i);
}

static TSS2_RC
extend(ESYS_CONTEXT *esys)
{
	TPML_DIGEST_VALUES v = {.count = 1};

	v.digests[0].hashAlg = TPM2_ALG_SHA256;
	the_digest(v.digests[0].digest.sha256);
	return Esys_PCR_Extend(esys, ESYS_TR_PCR0 + PCR_INDEX, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, &v);
}


/* one child: connect, say ready, wait for the start, run, exit 0 on success */
static int
child(int ready_fd, int go_fd, unsigned iter, unsigned id)
{
	struct tclient cl;
	char b = 'r';

	if (tclient_open(&cl, tcti_conf, "concur") < 0)
		return 1;
	/* one command before the barrier: the connection is really up */
	TPM2B_DIGEST *rnd = NULL;
	TSS2_RC rc = Esys_GetRandom(cl.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 16, &rnd);
	Esys_Free(rnd);
	if (rc != TSS2_RC_SUCCESS) {
		fprintf(stderr, "concur[%u]: first GetRandom: %s\n", id, Tss2_RC_Decode(rc));
		tclient_close(&cl);
		return 1;
	}
	if (write(ready_fd, &b, 1) != 1 || read(go_fd, &b, 1) != 0) {
		fprintf(stderr, "concur[%u]: barrier: %s\n", id, strerror(errno));
		tclient_close(&cl);
		return 1;
	}
	for (unsigned i = 0; i < iter; i++) {
		rnd = NULL;
		rc = Esys_GetRandom(cl.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 16, &rnd);
		if (rc == TSS2_RC_SUCCESS && rnd->size != 16) {
			fprintf(stderr, "concur[%u]: GetRandom gave %u bytes\n", id, rnd->size);
			rc = TSS2_BASE_RC_GENERAL_FAILURE;
		}
		Esys_Free(rnd);
		if (rc != TSS2_RC_SUCCESS) {
			fprintf(stderr, "concur[%u]: GetRandom %u: %s\n", id, i, Tss2_RC_Decode(rc));
			tclient_close(&cl);
			return 1;
		}
		rc = extend(cl.esys);
		if (rc != TSS2_RC_SUCCESS) {
			fprintf(stderr, "concur[%u]: PCR_Extend %u: %s\n", id, i, Tss2_RC_Decode(rc));
			tclient_close(&cl);
			return 1;
		}
	}
	tclient_close(&cl);
	return 0;
}

int
main(int argc, char **argv)
{
	uint8_t want[SHA256_DIGEST_LENGTH] = {0}, got[SHA256_DIGEST_LENGTH], d[SHA256_DIGEST_LENGTH];
	int ready[2], go[2];
	unsigned n, iter, ok = 0, failed = 0;
	struct tclient cl;
	pid_t *pids;
	TSS2_RC rc;

	if (argc != 4) {
		fprintf(stderr, "usage: concur TCTI_CONF N ITER\n");
		return 2;
	}
	tcti_conf = argv[1];
	n = (unsigned)strtoul(argv[2], NULL, 10);
	iter = (unsigned)strtoul(argv[3], NULL, 10);
	if (n == 0 || n > 1024 || iter == 0) {
		fprintf(stderr, "concur: bad N or ITER\n");
		return 2;
	}

	/* PCR 23 is resettable from locality 0: start from zeros */
	if (tclient_open(&cl, tcti_conf, "concur") < 0)
		return 1;
	rc = Esys_PCR_Reset(cl.esys, ESYS_TR_PCR0 + PCR_INDEX, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			    ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS) {
		fprintf(stderr, "concur: PCR_Reset: %s\n", Tss2_RC_Decode(rc));
		return 1;
	}
	tclient_close(&cl);

	if (pipe(ready) < 0 || pipe(go) < 0) {
		perror("pipe");
		return 1;
	}
	pids = calloc(n, sizeof(*pids));
	if (pids == NULL)
		return 1;
	fflush(NULL);
	for (unsigned i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			return 1;
		}
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			_exit(child(ready[1], go[0], iter, i));
		}
	}
	close(ready[1]);
	close(go[0]);
	/* all connected (or dead: EOF ends the wait early) */
	for (unsigned got_ready = 0; got_ready < n;) {
		char b;
		ssize_t r = read(ready[0], &b, 1);
		if (r == 1)
			got_ready++;
		else if (r == 0 || errno != EINTR)
			break;
	}
	close(go[1]); /* go */
	for (unsigned i = 0; i < n; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) < 0) {
			perror("waitpid");
			failed++;
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			ok++;
		} else {
			fprintf(stderr, "concur: child %u: %s %d\n", i,
				WIFEXITED(st) ? "exit" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			failed++;
		}
	}
	free(pids);
	printf("concur: %u clients x %u rounds via %s: %u ok, %u failed\n", n, iter, tcti_conf, ok,
	       failed);

	/* the value n*iter extends with the same digest must give */
	the_digest(d);
	for (unsigned long k = 0; k < (unsigned long)n * iter; k++) {
		uint8_t buf[2 * SHA256_DIGEST_LENGTH];
		memcpy(buf, want, SHA256_DIGEST_LENGTH);
		memcpy(buf + SHA256_DIGEST_LENGTH, d, SHA256_DIGEST_LENGTH);
		SHA256(buf, sizeof(buf), want);
	}
	if (tclient_open(&cl, tcti_conf, "concur") < 0 ||
	    tclient_pcr_read(cl.esys, PCR_INDEX, got, "concur") < 0)
		return 1;
	tclient_close(&cl);
	if (memcmp(want, got, sizeof(want)) != 0) {
		fprintf(stderr, "concur: PCR %d does not show exactly %lu extends\n", PCR_INDEX,
			(unsigned long)n * iter);
		failed++;
	}
	return failed == 0 ? 0 : 1;
}
