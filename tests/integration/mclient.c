/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mclient: K forked clients of log-first measurement, each on its own
 * connection, each sending MEASURE requests (mreq.h) one at a time.
 *
 *   mclient SOCK [-k K] [-n EVENTS] [-t SECONDS] [-p PCR | -r RTMR]
 *           [-d BYTES] [-s] [-a DIR] [-R]
 *
 *   -k K        clients (default 1)
 *   -n EVENTS   events per client (default 1000; 0: until -t runs out)
 *   -t SECONDS  stop after this long (default: none)
 *   -p / -r     the register (default PCR 23)
 *   -d BYTES    event data size (default 32): "c<client>e<event>" padded
 *   -s          client i names its stream "stream-<i % 2>" (an admin's)
 *   -a DIR      each acknowledged event goes to DIR/ack.<i> at once, as a line
 *               "SEQ STREAM DATA" (STREAM "-" without -s; DATA is ASCII)
 *   -N FILE     the naive way instead, for the benchmark: TPM2_PCR_Event of the
 *               data (through the broker, raw), then the event appended to FILE
 *               and fdatasync'ed: extend first, log second, one sync per event
 *   -R          crash mode: a broken connection is not an error; the client
 *               connects again (for up to 60 s) and goes on
 *
 * One last line on stdout, summed over the clients:
 *   events N errors E seconds S rate R p50_us P50 p99_us P99
 * Exit status 0 if no request was refused (in -R mode: broken connections
 * and the requests they cut are not refusals).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/client.h"
#include "common/mreq.h"
#include "common/proto.h"
#include "common/util.h"

#define LAT_MAX 200000u /* latencies kept per client */

struct shared {
	uint64_t events, errors;
	uint32_t lat_us[]; /* K * LAT_MAX */
};

struct opts {
	const char *sock, *ackdir, *naive;
	unsigned k, n, secs, reg, dsize;
	uint8_t reg_type;
	int streams, crash;
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
connect_retry(const struct opts *o, uint64_t until)
{
	for (;;) {
		int fd = tb_client_connect(o->sock, 30);

		if (fd >= 0 || !o->crash || mono_ns() > until)
			return fd;
		usleep(20000);
	}
}

/* TPM2_PCR_Event(pcr, data) with the empty password; its length */
static size_t
pcr_event_cmd(uint8_t *buf, uint32_t pcr, const uint8_t *data, size_t len)
{
	size_t off = 10;

	put_be32(buf + off, pcr);
	put_be32(buf + off + 4, 9);
	put_be32(buf + off + 8, 0x40000009); /* TPM2_RS_PW */
	memset(buf + off + 12, 0, 5);
	off += 17;
	put_be16(buf + off, (uint16_t)len);
	memcpy(buf + off + 2, data, len);
	off += 2 + len;
	put_be16(buf, 0x8002);
	put_be32(buf + 2, (uint32_t)off);
	put_be32(buf + 6, 0x13C); /* TPM2_CC_PCR_Event */
	return off;
}

/* the naive way: extend, then append to a file and fdatasync it */
static int
naive_event(const struct opts *o, int fd, int logfd, const uint8_t *data, size_t len)
{
	uint8_t cmd[1200], line[1100];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND};
	struct tb_msg_hdr rh;
	_cleanup_(freep) uint8_t *rsp = NULL;
	int r;

	len = MIN(len, (size_t)1024);
	h.len = (uint32_t)pcr_event_cmd(cmd, o->reg, data, len);
	if ((r = tb_client_exchange(fd, &h, cmd, TB_PROTO_MAX_PAYLOAD, &rh, &rsp)) < 0)
		return r;
	if (rh.len < 10 || get_be32(rsp + 6) != 0)
		return -EIO;
	memcpy(line, data, len);
	line[len] = '\n';
	if (write(logfd, line, len + 1) != (ssize_t)(len + 1) || fdatasync(logfd) < 0)
		return -errno;
	return 0;
}

static void
client(const struct opts *o, unsigned id, struct shared *sh)
{
	uint8_t data[MREQ_MAX_DATA], req[TB_PROTO_MAX_REQUEST];
	char stream[32], desc[64];
	uint32_t *lat = sh->lat_us + (size_t)id * LAT_MAX;
	uint64_t t_end = o->secs > 0 ? mono_ns() + (uint64_t)o->secs * 1000000000u : UINT64_MAX;
	uint64_t events = 0, errors = 0;
	FILE *ack = NULL;
	int fd;

	if (o->ackdir != NULL) {
		char path[512];

		snprintf(path, sizeof(path), "%s/ack.%u", o->ackdir, id);
		if ((ack = fopen(path, "a")) == NULL)
			_exit(3);
	}
	snprintf(stream, sizeof(stream), "stream-%u", id % 2);
	fd = connect_retry(o, mono_ns() + 60000000000ull);
	if (fd < 0)
		_exit(3);
	if (o->naive != NULL) {
		int logfd = open(o->naive, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		if (logfd < 0)
			_exit(3);
		for (unsigned e = 0; (o->n == 0 || e < o->n) && mono_ns() < t_end; e++) {
			uint64_t t0 = mono_ns();
			int n = snprintf((char *)data, sizeof(data), "c%ue%u", id, e);

			memset(data + n, '.', o->dsize > (unsigned)n ? o->dsize - (unsigned)n : 0);
			if (naive_event(o, fd, logfd, data, MAX((size_t)o->dsize, (size_t)n)) < 0) {
				errors++;
				break;
			}
			if (events < LAT_MAX)
				lat[events] = (uint32_t)MIN((mono_ns() - t0) / 1000u,
							    (uint64_t)UINT32_MAX);
			events++;
		}
		close(logfd);
		goto out;
	}
	for (unsigned e = 0; (o->n == 0 || e < o->n) && mono_ns() < t_end; e++) {
		struct mreq q = {.reg_type = o->reg_type, .reg = o->reg, .event_type = MREQ_EV_IPL};
		_cleanup_(freep) uint8_t *body = NULL;
		struct mreq_reply rep;
		size_t len = 0, blen = 0;
		uint64_t t0;
		uint32_t rc = 0;
		int n, r;

		n = snprintf((char *)data, sizeof(data), "c%ue%u", id, e);
		memset(data + n, '.', o->dsize > (unsigned)n ? o->dsize - (unsigned)n : 0);
		q.data = data;
		q.data_len = MAX((size_t)o->dsize, (size_t)n);
		snprintf(desc, sizeof(desc), "mclient %u event %u", id, e);
		q.desc = desc;
		q.desc_len = strlen(desc);
		if (o->streams) {
			q.stream = stream;
			q.stream_len = strlen(stream);
			q.flags = MREQ_F_STREAM;
		}
		if (mreq_encode(&q, req, sizeof(req), &len) < 0)
			_exit(2);
		t0 = mono_ns();
		r = tb_client_service(fd, TB_MSG_MEASURE, 0, req, len, &rc, &body, &blen);
		if (r < 0) {
			if (!o->crash) {
				fprintf(stderr, "mclient[%u]: event %u: %s\n", id, e, strerror(-r));
				errors++;
				break;
			}
			/* the daemon died: this event may or may not be in the log; go on */
			close(fd);
			if ((fd = connect_retry(o, mono_ns() + 60000000000ull)) < 0)
				break;
			continue;
		}
		if (rc != 0 || mreq_reply_get(body, blen, &rep) < 0) {
			fprintf(stderr, "mclient[%u]: event %u: refused 0x%08x\n", id, e, rc);
			errors++;
			continue;
		}
		if (events < LAT_MAX)
			lat[events] = (uint32_t)MIN((mono_ns() - t0) / 1000u, (uint64_t)UINT32_MAX);
		events++;
		if (ack != NULL) {
			fprintf(ack, "%" PRIu64 " %s %.*s\n", rep.seq, o->streams ? stream : "-",
				(int)q.data_len, (const char *)data);
			fflush(ack);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	__atomic_add_fetch(&sh->events, events, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&sh->errors, errors, __ATOMIC_SEQ_CST);
	if (ack != NULL)
		fclose(ack);
	_exit(0);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct opts o = {.k = 1, .n = 1000, .reg = 23, .dsize = 32};
	struct shared *sh;
	uint32_t *all;
	size_t shsize, n_lat = 0;
	uint64_t t0, t1;
	int opt;

	if (argc < 2) {
		fprintf(stderr, "usage: mclient SOCK [-k K] [-n N] [-t S] [-p PCR|-r RTMR] [-d B] "
				"[-s] [-a DIR] [-R]\n");
		return 2;
	}
	o.sock = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "k:n:t:p:r:d:sa:RN:")) != -1) {
		switch (opt) {
		case 'k': o.k = (unsigned)atoi(optarg); break;
		case 'n': o.n = (unsigned)atoi(optarg); break;
		case 't': o.secs = (unsigned)atoi(optarg); break;
		case 'p': o.reg = (unsigned)atoi(optarg); o.reg_type = 0; break;
		case 'r': o.reg = (unsigned)atoi(optarg); o.reg_type = 1; break;
		case 'd': o.dsize = (unsigned)atoi(optarg); break;
		case 's': o.streams = 1; break;
		case 'a': o.ackdir = optarg; break;
		case 'R': o.crash = 1; break;
		case 'N': o.naive = optarg; break;
		default: return 2;
		}
	}
	if (o.k == 0 || o.k > 256 || o.dsize > MREQ_MAX_DATA)
		return 2;
	shsize = sizeof(*sh) + (size_t)o.k * LAT_MAX * sizeof(uint32_t);
	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 3;
	signal(SIGPIPE, SIG_IGN);
	t0 = mono_ns();
	for (unsigned i = 0; i < o.k; i++) {
		pid_t p = fork();

		if (p == 0) {
			/* the clients end with their parent (a test's kill) */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				_exit(0);
			client(&o, i, sh);
		}
		if (p < 0)
			return 3;
	}
	while (wait(NULL) > 0)
		;
	t1 = mono_ns();
	all = calloc(sh->events + 1, sizeof(*all));
	if (all == NULL)
		return 3;
	for (unsigned i = 0; i < o.k; i++) {
		uint32_t *lat = sh->lat_us + (size_t)i * LAT_MAX;

		for (size_t j = 0; j < LAT_MAX && lat[j] != 0 && n_lat < sh->events; j++)
			all[n_lat++] = lat[j];
	}
	qsort(all, n_lat, sizeof(*all), cmp_u32);
	printf("events %" PRIu64 " errors %" PRIu64 " seconds %.3f rate %.0f p50_us %u p99_us %u\n",
	       sh->events, sh->errors, (double)(t1 - t0) / 1e9,
	       (double)sh->events / ((double)(t1 - t0) / 1e9), n_lat ? all[n_lat / 2] : 0,
	       n_lat ? all[n_lat * 99 / 100] : 0);
	free(all);
	return __atomic_load_n(&sh->errors, __ATOMIC_SEQ_CST) == 0 ? 0 : 1;
}
