/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * quotebench: quote requests per second through tpmbrokerd's QUOTE service
 * (bench/quote.sh drives it).  N threads, each one connection sending
 * quote requests back to back, each with a nonce of its own, for S
 * seconds; prints one line:
 *   clients N quotes Q seconds S qps X p50_ms A p99_ms B mean_batch M errors E
 *
 *   quotebench SOCKET KEY.CTX PCRS CLIENTS SECONDS [alone]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/client.h"
#include "common/proto.h"
#include "common/qmsg.h"
#include "common/util.h"

#define MAX_CLIENTS 512
#define MAX_SAMPLES 200000

struct shared {
	const char *sock;
	uint8_t req[TB_PROTO_MAX_REQUEST];
	size_t req_len;
	uint8_t flags;
	atomic_ullong start_ns, end_ns; /* set by main once every client is connected */
	atomic_uint ready;
	atomic_ullong done, errors, batch_sum;
	atomic_uint n_samples;
	uint32_t samples_us[MAX_SAMPLES];
};

struct client {
	struct shared *sh;
	unsigned id;
};

static void *
client_run(void *arg)
{
	struct client *c = arg;
	struct shared *sh = c->sh;
	uint8_t req[TB_PROTO_MAX_REQUEST];
	uint64_t seq = 0;
	int fd = tb_client_connect(sh->sock, 60);

	if (fd < 0) {
		fprintf(stderr, "quotebench: connect: %s\n", strerror(-fd));
		atomic_fetch_add(&sh->errors, 1);
		atomic_fetch_add(&sh->ready, 1);
		return NULL;
	}
	memcpy(req, sh->req, sh->req_len);
	atomic_fetch_add(&sh->ready, 1);
	while (now_ns() < atomic_load(&sh->start_ns))
		usleep(100);
	for (;;) {
		uint64_t t0 = now_ns(), t1;
		uint8_t *body = NULL;
		size_t body_len = 0;
		uint32_t rc = 0;
		struct qmsg_reply rep;
		unsigned k;

		if (t0 >= atomic_load(&sh->end_ns))
			break;
		/* the nonce is the last 32 bytes: client id and sequence */
		put_be32(req + sh->req_len - 32, c->id);
		put_be32(req + sh->req_len - 28, (uint32_t)(seq >> 32));
		put_be32(req + sh->req_len - 24, (uint32_t)seq++);
		if (tb_client_service(fd, TB_MSG_QUOTE, sh->flags, req, sh->req_len, &rc, &body,
				      &body_len) < 0 ||
		    rc != 0 || body == NULL || qmsg_reply_decode(body, body_len, &rep) < 0) {
			if (atomic_fetch_add(&sh->errors, 1) == 0)
				fprintf(stderr, "quotebench: a request failed: rc 0x%08x\n", rc);
			free(body);
			break;
		}
		free(body);
		t1 = now_ns();
		if (t1 > atomic_load(&sh->end_ns))
			break; /* finished after the end: not counted */
		atomic_fetch_add(&sh->done, 1);
		atomic_fetch_add(&sh->batch_sum, rep.batch);
		if ((k = atomic_fetch_add(&sh->n_samples, 1)) < MAX_SAMPLES)
			sh->samples_us[k] = (uint32_t)((t1 - t0) / 1000u);
	}
	close(fd);
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
load_request(struct shared *sh, const char *ctx_path, const char *pcrs)
{
	static uint8_t file[65536];
	struct qmsg_req q = {.scheme = {.scheme = TPM2_ALG_NULL}};
	FILE *f = fopen(ctx_path, "rb");
	size_t n;

	if (f == NULL)
		return -errno;
	n = fread(file, 1, sizeof(file), f);
	(void)fclose(f);
	if (qmsg_context_file_parse(file, n, &q.context) < 0 || qmsg_pcr_parse(pcrs, &q.pcrs) < 0)
		return -EINVAL;
	q.nonce.size = 32;
	sh->req_len = qmsg_req_encode(&q, sh->req, sizeof(sh->req));
	return sh->req_len > 0 ? 0 : -EINVAL;
}

int
main(int argc, char **argv)
{
	static struct shared sh;
	static struct client cl[MAX_CLIENTS];
	pthread_t th[MAX_CLIENTS];
	unsigned long n, secs;
	unsigned ns;
	double p50 = 0, p99 = 0, qps;

	if (argc < 6 || (n = strtoul(argv[4], NULL, 10)) < 1 || n > MAX_CLIENTS ||
	    (secs = strtoul(argv[5], NULL, 10)) < 1) {
		fprintf(stderr, "usage: quotebench SOCKET KEY.CTX PCRS CLIENTS SECONDS [alone]\n");
		return 2;
	}
	sh.sock = argv[1];
	sh.flags = argc > 6 && strcmp(argv[6], "alone") == 0 ? QMSG_FLAG_ALONE : 0;
	if (load_request(&sh, argv[2], argv[3]) < 0) {
		fprintf(stderr, "quotebench: %s or %s will not do\n", argv[2], argv[3]);
		return 2;
	}
	atomic_store(&sh.start_ns, UINT64_MAX);
	atomic_store(&sh.end_ns, UINT64_MAX);
	for (unsigned i = 0; i < n; i++) {
		cl[i] = (struct client){.sh = &sh, .id = i};
		if (pthread_create(&th[i], NULL, client_run, &cl[i]) != 0)
			return 1;
	}
	while (atomic_load(&sh.ready) < n)
		usleep(1000);
	{
		uint64_t start = now_ns() + 20000000u; /* 20 ms from now */

		atomic_store(&sh.end_ns, start + secs * 1000000000ull);
		atomic_store(&sh.start_ns, start);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	ns = atomic_load(&sh.n_samples);
	if (ns > MAX_SAMPLES)
		ns = MAX_SAMPLES;
	if (ns > 0) {
		qsort(sh.samples_us, ns, sizeof(sh.samples_us[0]), cmp_u32);
		p50 = sh.samples_us[ns / 2] / 1000.0;
		p99 = sh.samples_us[(size_t)ns * 99 / 100] / 1000.0;
	}
	qps = (double)atomic_load(&sh.done) / (double)secs;
	printf("clients %lu quotes %llu seconds %lu qps %.0f p50_ms %.2f p99_ms %.2f mean_batch %.1f "
	       "errors %llu\n",
	       n, (unsigned long long)atomic_load(&sh.done), secs, qps, p50, p99,
	       atomic_load(&sh.done) ? (double)atomic_load(&sh.batch_sum) / (double)atomic_load(&sh.done)
				     : 0.0,
	       (unsigned long long)atomic_load(&sh.errors));
	return atomic_load(&sh.errors) > 0 ? 1 : 0;
}
