/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmd_log_verify.c: tpmbroker log verify: the current epoch of the
 * measurement log replayed per register and bank, compared with the PCRs
 * read through the daemon (TPM2_ReadClock for the epoch, TPM2_PCR_Read as
 * raw commands marshalled with libtss2-mu).
 *
 * Order of reads, because the daemon appends to the log BEFORE it extends:
 * log (which registers) -> TPM -> log again.  The second read holds every
 * event the PCRs read before it can contain, so a PCR can only lag that
 * log (an extend in flight), never lead it.  A lagging register is read
 * again a few times; one that still lags, or matches no prefix of its log,
 * fails the verification.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "cli.h"
#include "cmd_log.h"
#include "common/client.h"
#include "common/mlog.h"
#include "common/mlog_replay.h"
#include "common/proto.h"
#include "common/util.h"

#define VERIFY_TRIES 5
#define VERIFY_RETRY_NS 200000000L
#define TPM_HDR 10u

/* the PCR values of one bank as read from the TPM */
struct bank_read {
	uint16_t alg;
	uint32_t want; /* PCRs to read (bit N: PCR N) */
	uint32_t got;  /* PCRs read */
	struct mlog_digest v[MLOG_PCRS];
};

struct tpm_read {
	uint32_t reset_count, restart_count;
	struct bank_read b[MLOG_MAX_BANKS];
	size_t n;
};

/* one raw command on fd; the response's parameters (after the header) in *rsp */
static int
tpm_exchange(int fd, const char *path, const uint8_t *cmd, size_t len, uint8_t **rsp,
	     size_t *rsp_len)
{
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND,
			       .len = (uint32_t)len};
	struct tb_msg_hdr rh;
	uint32_t rc;
	int r;

	if ((r = tb_client_exchange(fd, &h, cmd, TB_PROTO_MAX_PAYLOAD, &rh, rsp)) < 0)
		return cli_exchange_error(path, r);
	if (rh.type != TB_MSG_RESPONSE || rh.len < TPM_HDR || get_be32(*rsp + 2) != rh.len)
		return cli_exchange_error(path, -EBADMSG);
	if ((rc = get_be32(*rsp + 6)) != TPM2_RC_SUCCESS) {
		cli_print_rc(rc);
		return EXIT_TPM_ERROR;
	}
	*rsp_len = rh.len;
	return EXIT_OK;
}

static int
read_clock(int fd, const char *path, struct tpm_read *t)
{
	uint8_t cmd[TPM_HDR];
	_cleanup_(freep) uint8_t *rsp = NULL;
	TPMS_TIME_INFO ti;
	size_t len, off = TPM_HDR;
	int r;

	put_be16(cmd, TPM2_ST_NO_SESSIONS);
	put_be32(cmd + 2, TPM_HDR);
	put_be32(cmd + 6, TPM2_CC_ReadClock);
	if ((r = tpm_exchange(fd, path, cmd, sizeof(cmd), &rsp, &len)) != EXIT_OK)
		return r;
	if (Tss2_MU_TPMS_TIME_INFO_Unmarshal(rsp, len, &off, &ti) != TSS2_RC_SUCCESS)
		return cli_exchange_error(path, -EBADMSG);
	t->reset_count = ti.clockInfo.resetCount;
	t->restart_count = ti.clockInfo.restartCount;
	return EXIT_OK;
}

/* one TPM2_PCR_Read of what is still wanted; *progress: something came back */
static int
pcr_read_once(int fd, const char *path, struct tpm_read *t, bool *progress)
{
	uint8_t cmd[TPM_HDR + sizeof(TPML_PCR_SELECTION)];
	_cleanup_(freep) uint8_t *rsp = NULL;
	TPML_PCR_SELECTION sel = {0}, out;
	TPML_DIGEST vals;
	size_t off = TPM_HDR, len, k = 0;
	uint32_t counter;
	int r;

	for (size_t i = 0; i < t->n; i++) {
		uint32_t m = t->b[i].want & ~t->b[i].got;

		if (m == 0)
			continue;
		sel.pcrSelections[sel.count++] = (TPMS_PCR_SELECTION){
			.hash = t->b[i].alg, .sizeofSelect = 3,
			.pcrSelect = {(uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16)}};
	}
	if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, cmd, sizeof(cmd), &off) != TSS2_RC_SUCCESS)
		return cli_exchange_error(path, -EINVAL);
	put_be16(cmd, TPM2_ST_NO_SESSIONS);
	put_be32(cmd + 2, (uint32_t)off);
	put_be32(cmd + 6, TPM2_CC_PCR_Read);
	if ((r = tpm_exchange(fd, path, cmd, off, &rsp, &len)) != EXIT_OK)
		return r;
	off = TPM_HDR;
	if (Tss2_MU_UINT32_Unmarshal(rsp, len, &off, &counter) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPML_PCR_SELECTION_Unmarshal(rsp, len, &off, &out) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPML_DIGEST_Unmarshal(rsp, len, &off, &vals) != TSS2_RC_SUCCESS)
		return cli_exchange_error(path, -EBADMSG);
	/* the digests come in the order of the selection out: bank, then PCR ascending */
	for (uint32_t s = 0; s < out.count; s++) {
		struct bank_read *b = NULL;

		for (size_t i = 0; i < t->n; i++)
			if (t->b[i].alg == out.pcrSelections[s].hash)
				b = &t->b[i];
		for (uint32_t p = 0; p < MLOG_PCRS && p / 8 < out.pcrSelections[s].sizeofSelect;
		     p++) {
			if (!(out.pcrSelections[s].pcrSelect[p / 8] & (1u << (p % 8))))
				continue;
			if (b == NULL || k >= vals.count ||
			    vals.digests[k].size != mlog_alg_size(b->alg))
				return cli_exchange_error(path, -EBADMSG);
			b->v[p] = (struct mlog_digest){.alg = b->alg, .size = vals.digests[k].size};
			memcpy(b->v[p].d, vals.digests[k].buffer, vals.digests[k].size);
			b->got |= 1u << p;
			k++;
			*progress = true;
		}
	}
	return k == vals.count ? EXIT_OK : cli_exchange_error(path, -EBADMSG);
}

/* the epoch and every PCR bank the replay has; at most 8 PCRs a call, so loop */
static int
read_tpm(int fd, const char *path, const struct mlog_replay *rp, struct tpm_read *t)
{
	bool progress = true;
	int r;

	*t = (struct tpm_read){0};
	for (size_t i = 0; i < rp->n_regs; i++) {
		const struct mlog_reg *g = &rp->regs[i];

		for (size_t k = 0; g->reg_type == MLOG_REG_PCR && k < g->n_banks; k++) {
			size_t j = 0;

			while (j < t->n && t->b[j].alg != g->v[k].alg)
				j++;
			if (j == t->n) /* n < MLOG_MAX_BANKS: replay only lets known banks in */
				t->b[t->n++] = (struct bank_read){.alg = g->v[k].alg};
			t->b[j].want |= 1u << g->reg;
		}
	}
	if ((r = read_clock(fd, path, t)) != EXIT_OK)
		return r;
	for (;;) {
		bool left = false;

		for (size_t i = 0; i < t->n; i++)
			left |= (t->b[i].want & ~t->b[i].got) != 0;
		if (!left || !progress)
			return EXIT_OK; /* what is still missing is not active on the TPM */
		progress = false;
		if ((r = pcr_read_once(fd, path, t, &progress)) != EXIT_OK)
			return r;
	}
}

/*
 * PCR value v of register g's bank alg equals the replay of all but the
 * last *lag events of the epoch: 0.  -1: it equals no prefix.
 */
static int
prefix_of(const struct mlog_file *f, const struct mlog_replay *rp, const struct mlog_reg *g,
	  const struct mlog_digest *v, uint64_t *lag)
{
	struct mlog_digest acc = {0};
	struct mlog_rec r;
	size_t off = rp->epoch_off;
	uint64_t folded = 0;
	bool started = false;

	while (mlog_next(f, &off, &r) > 0) {
		const struct mlog_digest *d = NULL;

		if (r.reg_type != g->reg_type || r.reg != g->reg)
			continue;
		for (size_t i = 0; i < r.n_dig; i++)
			if (r.dig[i].alg == v->alg)
				d = &r.dig[i];
		if (d == NULL)
			return -1;
		if (r.kind == MLOG_SECTION) { /* the replay starts at the register's last one */
			acc = *d;
			folded = 0;
			started = true;
		} else if (!started || mlog_fold(&acc, d) < 0) {
			return -1;
		} else {
			folded++;
		}
		if (folded < g->n_events && acc.size == v->size &&
		    memcmp(acc.d, v->d, v->size) == 0) {
			*lag = g->n_events - folded;
			return 0;
		}
	}
	return -1;
}

static void
print_hex(FILE *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%02x", p[i]);
}

enum { CMP_OK, CMP_LAG, CMP_FAIL };

/* compare every PCR bank; print only when final (no retry left) */
static int
compare(const struct mlog_file *f, const struct mlog_replay *rp, const struct tpm_read *t,
	bool final)
{
	int worst = CMP_OK;

	for (size_t i = 0; i < rp->n_regs; i++) {
		const struct mlog_reg *g = &rp->regs[i];

		if (final && g->n_sections > 1)
			printf("%s%u  replayed from its section at seq %llu (a new section in this "
			       "epoch: an admin's --reset-section)\n", mlog_reg_type_name(g->reg_type),
			       g->reg, (unsigned long long)g->section_seq);
		if (g->reg_type != MLOG_REG_PCR) {
			if (final)
				printf("%s%u  not checked: an RTMR is not read through the TPM\n",
				       mlog_reg_type_name(g->reg_type), g->reg);
			continue;
		}
		for (size_t k = 0; k < g->n_banks; k++) {
			const struct bank_read *b = NULL;
			const char *alg = mlog_alg_name(g->v[k].alg);
			uint64_t lag = 0;

			for (size_t j = 0; j < t->n; j++)
				if (t->b[j].alg == g->v[k].alg)
					b = &t->b[j];
			if (b == NULL || !(b->got & (1u << g->reg))) {
				worst = CMP_FAIL;
				if (final)
					fprintf(stderr, "tpmbroker: log verify: pcr%u %s: the log "
							"has this bank, the TPM did not return it "
							"(bank not active: unknown bank)\n", g->reg, alg);
				continue;
			}
			if (memcmp(b->v[g->reg].d, g->v[k].d, g->v[k].size) == 0) {
				if (final) {
					printf("pcr%-2u %-6s ok  %llu events  ", g->reg, alg,
					       (unsigned long long)g->n_events);
					print_hex(stdout, g->v[k].d, g->v[k].size);
					printf("\n");
				}
				continue;
			}
			if (prefix_of(f, rp, g, &b->v[g->reg], &lag) == 0) {
				worst = MAX(worst, CMP_LAG);
				if (final)
					fprintf(stderr, "tpmbroker: log verify: pcr%u %s: the TPM "
							"lacks the last %llu event(s) of the log (up "
							"to seq %llu): an extend in flight, or lost in "
							"a crash (tpmbrokerd rolls it forward at its "
							"start)\n", g->reg, alg,
						(unsigned long long)lag, (unsigned long long)g->last_seq);
				continue;
			}
			worst = CMP_FAIL;
			if (final) {
				fprintf(stderr, "tpmbroker: log verify: pcr%u %s MISMATCH: the log "
						"replays to ", g->reg, alg);
				print_hex(stderr, g->v[k].d, g->v[k].size);
				fprintf(stderr, ", the TPM has ");
				print_hex(stderr, b->v[g->reg].d, b->v[g->reg].size);
				fprintf(stderr, "\n");
			}
		}
	}
	return worst;
}

/* "pcr16:sha256=HEX" against the stream's virtual registers */
static int
check_expect(const struct mlog_replay *vp, const char *e)
{
	char reg_s[16], alg_s[16];
	const char *hex = strchr(e, '=');
	uint8_t want[MLOG_MAX_DIGEST];
	size_t wlen = 0;
	unsigned idx;
	uint8_t type;
	int n = 0;

	if (hex == NULL || sscanf(e, "%15[a-z0-9]:%15[a-z0-9]=%n", reg_s, alg_s, &n) != 2 ||
	    n != hex + 1 - e || cli_hex_decode(hex + 1, want, sizeof(want), &wlen) < 0) {
		fprintf(stderr, "tpmbroker: log verify: --expect is REG:BANK=HEX (pcr16:sha256=..), "
				"not '%s'\n", e);
		return EXIT_USAGE;
	}
	if (sscanf(reg_s, "pcr%u%n", &idx, &n) == 1 && reg_s[n] == '\0')
		type = MLOG_REG_PCR;
	else if (sscanf(reg_s, "rtmr%u%n", &idx, &n) == 1 && reg_s[n] == '\0')
		type = MLOG_REG_RTMR;
	else {
		fprintf(stderr, "tpmbroker: log verify: --expect: register '%s' is pcrN or rtmrN\n",
			reg_s);
		return EXIT_USAGE;
	}
	const struct mlog_reg *g = mlog_replay_find(vp, type, idx);
	for (size_t k = 0; g != NULL && k < g->n_banks; k++) {
		if (strcmp(mlog_alg_name(g->v[k].alg), alg_s) != 0)
			continue;
		if (wlen == g->v[k].size && memcmp(want, g->v[k].d, wlen) == 0) {
			printf("expect %s ok\n", e);
			return EXIT_OK;
		}
		fprintf(stderr, "tpmbroker: log verify: --expect %s:%s MISMATCH: the stream's "
				"virtual register is ", reg_s, alg_s);
		print_hex(stderr, g->v[k].d, g->v[k].size);
		fprintf(stderr, "\n");
		return EXIT_TPM_ERROR;
	}
	fprintf(stderr, "tpmbroker: log verify: --expect %s:%s: the stream has no events in "
			"that register and bank\n", reg_s, alg_s);
	return EXIT_TPM_ERROR;
}

static int
verify_stream(const struct mlog_file *f, const char *stream, const char *const *expect,
	      size_t n_expect)
{
	_cleanup_(freep) struct mlog_replay *vp = calloc(1, sizeof(*vp));
	int r, status = EXIT_OK;

	if (vp == NULL || (r = mlog_replay(f, stream, strlen(stream), vp)) < 0) {
		fprintf(stderr, "tpmbroker: log verify: %s\n", strerror(ENOMEM));
		return EXIT_TPM_ERROR;
	}
	if (vp->bad_seq != 0) {
		fprintf(stderr, "tpmbroker: log verify: stream: seq %llu: %s\n",
			(unsigned long long)vp->bad_seq, vp->bad_why);
		return EXIT_TPM_ERROR;
	}
	for (size_t i = 0; i < vp->n_regs; i++)
		for (size_t k = 0; k < vp->regs[i].n_banks; k++) {
			printf("stream %s %s%u %-6s %llu events  ", stream,
			       mlog_reg_type_name(vp->regs[i].reg_type), vp->regs[i].reg,
			       mlog_alg_name(vp->regs[i].v[k].alg),
			       (unsigned long long)vp->regs[i].n_events);
			print_hex(stdout, vp->regs[i].v[k].d, vp->regs[i].v[k].size);
			printf("\n");
		}
	for (size_t i = 0; i < n_expect; i++) {
		r = check_expect(vp, expect[i]);
		if (r == EXIT_USAGE)
			return r;
		if (r != EXIT_OK)
			status = r;
	}
	return status;
}

/* one round: log, TPM, log; the exit status if it cannot go on */
static int
verify_round(const char *sock, const char *path, struct mlog_file *f, struct mlog_replay *rp,
	     struct tpm_read *t)
{
	_cleanup_(closep) int fd = -1;
	int r;

	mlog_file_free(f);
	if ((r = mlog_read_file(path, f)) < 0) {
		fprintf(stderr, "tpmbroker: log verify: %s: %s\n", path, strerror(-r));
		return EXIT_TPM_ERROR;
	}
	if ((r = mlog_replay(f, NULL, 0, rp)) < 0 || rp->bad_seq != 0)
		return EXIT_OK; /* the caller reports it */
	if ((fd = cli_connect(sock, 10)) < 0)
		return fd == -ENAMETOOLONG ? EXIT_USAGE : EXIT_NO_DAEMON;
	if ((r = read_tpm(fd, sock, rp, t)) != EXIT_OK) {
		if (r == EXIT_TPM_ERROR)
			fprintf(stderr, "tpmbroker: log verify: reading the epoch or the PCRs failed "
					"(a bank of the log the TPM does not implement?)\n");
		return r;
	}
	mlog_file_free(f);
	if ((r = mlog_read_file(path, f)) < 0) {
		fprintf(stderr, "tpmbroker: log verify: %s: %s\n", path, strerror(-r));
		return EXIT_TPM_ERROR;
	}
	(void)mlog_replay(f, NULL, 0, rp); /* the caller reports a bad replay */
	return EXIT_OK;
}

int
cli_log_verify(const struct cli_ctx *ctx, const char *socket, const char *path,
	       const char *stream, const char *const *expect, size_t n_expect)
{
	_cleanup_(freep) struct mlog_replay *rp = calloc(1, sizeof(*rp));
	_cleanup_(freep) struct tpm_read *t = calloc(1, sizeof(*t));
	_cleanup_(mlog_file_free) struct mlog_file f = {0};
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int r, cmp = CMP_FAIL, status = EXIT_OK;
	bool damaged;

	if (rp == NULL || t == NULL) {
		fprintf(stderr, "tpmbroker: log verify: %s\n", strerror(ENOMEM));
		return EXIT_TPM_ERROR;
	}
	if (socket != NULL && (socket[0] == '\0' || tb_socket_path(socket, sock, sizeof(sock)) < 0)) {
		fprintf(stderr, "tpmbroker: log verify: bad --socket '%s'\n", socket);
		return EXIT_USAGE;
	}
	/* a register that lags its log (an extend in flight) is read again */
	for (int i = 0; i < VERIFY_TRIES; i++) {
		if (i > 0)
			nanosleep(&(struct timespec){.tv_nsec = VERIFY_RETRY_NS}, NULL);
		if ((r = verify_round(socket != NULL ? sock : ctx->path, path, &f, rp, t)) !=
		    EXIT_OK)
			return r;
		if (rp->bad_seq != 0 || !rp->have_epoch ||
		    t->reset_count != rp->reset_count || t->restart_count != rp->restart_count ||
		    compare(&f, rp, t, false) != CMP_LAG)
			break;
	}
	damaged = f.valid_end < f.size || f.seq_gap;
	if (f.valid_end < f.size)
		fprintf(stderr, "tpmbroker: log verify: %s: torn tail: %zu bytes at offset %zu "
				"after seq %llu are not a whole record (a crash during an append; "
				"tpmbrokerd cuts it at its next start)\n",
			path, f.size - f.valid_end, f.valid_end, (unsigned long long)f.last_seq);
	if (f.seq_gap)
		fprintf(stderr, "tpmbroker: log verify: %s: records out of sequence (a gap or "
				"a repeat in seq)\n", path);
	if (rp->bad_seq != 0) {
		fprintf(stderr, "tpmbroker: log verify: seq %llu: %s\n",
			(unsigned long long)rp->bad_seq, rp->bad_why);
		return EXIT_TPM_ERROR;
	}
	if (!rp->have_epoch) {
		printf("log verify: %s holds no records: nothing to verify\n", path);
		return damaged ? EXIT_TPM_ERROR : EXIT_OK;
	}
	if (t->reset_count != rp->reset_count || t->restart_count != rp->restart_count) {
		bool newer = t->reset_count > rp->reset_count ||
			     (t->reset_count == rp->reset_count &&
			      t->restart_count > rp->restart_count);

		if (!newer) {
			fprintf(stderr, "tpmbroker: log verify: the log's epoch %u/%u is ahead of "
					"the TPM's %u/%u: a log of another TPM or of a TPM "
					"state since lost\n", rp->reset_count, rp->restart_count,
				t->reset_count, t->restart_count);
			return EXIT_TPM_ERROR;
		}
		printf("log verify: the TPM restarted (epoch %u/%u) since the log's last "
		       "section (%u/%u); nothing was measured since: no register to check\n",
		       t->reset_count, t->restart_count, rp->reset_count, rp->restart_count);
		cmp = CMP_OK;
	} else if ((cmp = compare(&f, rp, t, true)) == CMP_OK) {
		printf("log verify: epoch %u/%u, records %llu..%llu: the log explains every "
		       "PCR above\n", rp->reset_count, rp->restart_count,
		       (unsigned long long)rp->epoch_first_seq, (unsigned long long)f.last_seq);
	}
	if (stream != NULL && (r = verify_stream(&f, stream, expect, n_expect)) != EXIT_OK)
		status = r;
	if (status == EXIT_OK && (cmp != CMP_OK || damaged))
		status = EXIT_TPM_ERROR;
	if (fflush(stdout) == EOF)
		return EXIT_TPM_ERROR;
	return status;
}
