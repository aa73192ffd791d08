/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mlogwrite LOG < SPEC: write a measurement log (src/common/mlog.h) the
 * way the daemon does, for the log readers' tests while they run without
 * the daemon's measure service.  SPEC, one record a line (seq counts from 1):
 *
 *   epoch RESET RESTART                  the epoch of the records that follow
 *   seq N                                the next record's seq (a gap)
 *   section REG BANKS [ff]               base zeros (or all 0xff bytes)
 *   event REG BANKS TYPE STREAM DESC DATA
 *
 * REG pcrN or rtmrN, BANKS sha1,sha256,..., TYPE a number (0x0d), STREAM
 * and DESC single words ("-": empty), DATA a word (its bytes are hashed).
 * For each event it prints "N:sha1=HEX,sha256=HEX" (the register's index
 * and digests), the argument tpm2_pcrextend takes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tpm2_types.h>

#include "common/mlog.h"

static int
parse_reg(const char *s, struct mlog_rec *r)
{
	int n = 0;

	if (sscanf(s, "pcr%u%n", &r->reg, &n) == 1 && s[n] == '\0')
		r->reg_type = MLOG_REG_PCR;
	else if (sscanf(s, "rtmr%u%n", &r->reg, &n) == 1 && s[n] == '\0')
		r->reg_type = MLOG_REG_RTMR;
	else
		return -1;
	return 0;
}

static int
parse_banks(char *s, uint16_t *algs, size_t *n)
{
	static const struct {
		const char *name;
		uint16_t alg;
	} names[] = {{"sha1", TPM2_ALG_SHA1}, {"sha256", TPM2_ALG_SHA256},
		     {"sha384", TPM2_ALG_SHA384}, {"sha512", TPM2_ALG_SHA512}};
	char *save = NULL;

	*n = 0;
	for (char *t = strtok_r(s, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		size_t i = 0;

		while (i < 4 && strcmp(names[i].name, t) != 0)
			i++;
		if (i == 4 || *n >= MLOG_MAX_BANKS)
			return -1;
		algs[(*n)++] = names[i].alg;
	}
	return *n > 0 ? 0 : -1;
}

static const char *
dash(const char *s)
{
	return strcmp(s, "-") == 0 ? "" : s;
}

int
main(int argc, char **argv)
{
	static uint8_t buf[MLOG_REC_MAX];
	char line[4096];
	uint32_t reset = 0, restart = 0;
	uint64_t seq = 0;
	FILE *out;

	if (argc != 2) {
		fprintf(stderr, "usage: mlogwrite LOG < SPEC\n");
		return 2;
	}
	if ((out = fopen(argv[1], "wb")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	mlog_header_put(buf);
	fwrite(buf, 1, MLOG_HDR_SIZE, out);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char w[7][1024] = {{0}};
		struct mlog_rec r = {.time_ns = 1700000000000000000ull, .uid = 0, .pid = 1};
		uint16_t algs[MLOG_MAX_BANKS];
		size_t n, len;
		int k = sscanf(line, "%1023s %1023s %1023s %1023s %1023s %1023s %1023s", w[0], w[1],
			       w[2], w[3], w[4], w[5], w[6]);

		if (k <= 0 || w[0][0] == '#')
			continue;
		if (strcmp(w[0], "epoch") == 0 && k == 3) {
			reset = (uint32_t)strtoul(w[1], NULL, 0);
			restart = (uint32_t)strtoul(w[2], NULL, 0);
			continue;
		}
		if (strcmp(w[0], "seq") == 0 && k == 2) {
			seq = strtoull(w[1], NULL, 0) - 1;
			continue;
		}
		r.seq = ++seq;
		r.reset_count = reset;
		r.restart_count = restart;
		if (k < 3 || parse_reg(w[1], &r) < 0 || parse_banks(w[2], algs, &n) < 0)
			goto bad;
		r.n_dig = n;
		if (strcmp(w[0], "section") == 0 && (k == 3 || k == 4)) {
			r.kind = MLOG_SECTION;
			r.event_type = 0x3; /* EV_NO_ACTION */
			for (size_t i = 0; i < n; i++) {
				r.dig[i] = (struct mlog_digest){.alg = algs[i],
								.size = (uint16_t)mlog_alg_size(algs[i])};
				memset(r.dig[i].d, k == 4 ? 0xff : 0, r.dig[i].size);
			}
		} else if (strcmp(w[0], "event") == 0 && k == 7) {
			r.kind = MLOG_EVENT;
			r.event_type = (uint32_t)strtoul(w[3], NULL, 0);
			r.stream = dash(w[4]);
			r.stream_len = strlen(r.stream);
			r.desc = dash(w[5]);
			r.desc_len = strlen(r.desc);
			r.data = (const uint8_t *)w[6];
			r.data_len = strlen(w[6]);
			if (mlog_hash(algs, n, r.data, r.data_len, r.dig) < 0)
				goto bad;
			printf("%u:", r.reg);
			for (size_t i = 0; i < n; i++) {
				printf("%s%s=", i ? "," : "", mlog_alg_name(algs[i]));
				for (size_t j = 0; j < r.dig[i].size; j++)
					printf("%02x", r.dig[i].d[j]);
			}
			printf("\n");
		} else {
			goto bad;
		}
		if (mlog_rec_encode(&r, buf, sizeof(buf), &len) < 0)
			goto bad;
		fwrite(buf, 1, len, out);
		continue;
bad:
		fprintf(stderr, "mlogwrite: bad line: %s", line);
		return 2;
	}
	if (fclose(out) != 0) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}
