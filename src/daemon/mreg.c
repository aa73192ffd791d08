/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mreg.c: the registers of log-first measurement (mreg.h): TPM PCRs
 * through commands, the TDX RTMR stand-in through a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tss2/tss2_mu.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "mreg.h"
#include "tpmcmd.h"

#define MREG_TIMEOUT_MS 30000
#define RTMR_DIGEST 48u /* sha384 */

/* ---- TPM PCRs ---- */

static void
pcr_select(const struct mreg *r, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = (UINT32)r->n_algs;
	for (size_t i = 0; i < r->n_algs; i++) {
		sel->pcrSelections[i].hash = r->algs[i];
		sel->pcrSelections[i].sizeofSelect = 3;
		sel->pcrSelections[i].pcrSelect[r->index / 8] = (BYTE)(1u << (r->index % 8));
	}
}

static size_t
pcr_extend_cmd(const struct mreg *r, const struct mlog_digest *d, size_t n, uint8_t *buf,
	       size_t cap)
{
	TPML_DIGEST_VALUES v = {.count = (UINT32)n};
	size_t off = TPM_HDR_SIZE;

	if (n == 0 || n > TPM2_NUM_PCR_BANKS || cap > UINT32_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		v.digests[i].hashAlg = d[i].alg;
		if (d[i].size > sizeof(v.digests[i].digest))
			return 0;
		memcpy(&v.digests[i].digest, d[i].d, d[i].size);
	}
	/* one password session with the empty auth: PCRs 16 and 23 have none */
	if (Tss2_MU_UINT32_Marshal(r->index, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT32_Marshal(9, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT32_Marshal(TPM2_RS_PW, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT16_Marshal(0, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT8_Marshal(0, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT16_Marshal(0, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPML_DIGEST_VALUES_Marshal(&v, buf, cap, &off) != TSS2_RC_SUCCESS)
		return 0;
	wire_hdr_put(buf, TPM2_ST_SESSIONS, (uint32_t)off, TPM2_CC_PCR_Extend);
	return off;
}

static size_t
pcr_read_cmd(const struct mreg *r, uint8_t *buf, size_t cap)
{
	TPML_PCR_SELECTION sel;
	size_t off = TPM_HDR_SIZE;

	pcr_select(r, &sel);
	if (cap > UINT32_MAX ||
	    Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, buf, cap, &off) != TSS2_RC_SUCCESS)
		return 0;
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, (uint32_t)off, TPM2_CC_PCR_Read);
	return off;
}

static int
pcr_read_parse(const struct mreg *r, const uint8_t *rsp, size_t len, struct mlog_digest *out)
{
	TPML_PCR_SELECTION sel;
	TPML_DIGEST dig;
	size_t off = TPM_HDR_SIZE;
	UINT32 counter;

	if (wire_response_rc(rsp, len) != TPM2_RC_SUCCESS)
		return -EIO;
	if (Tss2_MU_UINT32_Unmarshal(rsp, len, &off, &counter) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPML_PCR_SELECTION_Unmarshal(rsp, len, &off, &sel) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPML_DIGEST_Unmarshal(rsp, len, &off, &dig) != TSS2_RC_SUCCESS)
		return -EBADMSG;
	/* the TPM answers the banks asked for, in that order, or it could not read them all */
	if (sel.count != r->n_algs || dig.count != r->n_algs)
		return -EBADMSG;
	for (size_t i = 0; i < r->n_algs; i++) {
		size_t sz = mlog_alg_size(r->algs[i]);

		if (sel.pcrSelections[i].hash != r->algs[i] || dig.digests[i].size != sz)
			return -EBADMSG;
		out[i] = (struct mlog_digest){.alg = r->algs[i], .size = (uint16_t)sz};
		memcpy(out[i].d, dig.digests[i].buffer, sz);
	}
	return 0;
}

const struct mreg_ops mreg_pcr_ops = {
	.name = "PCR",
	.type = MLOG_REG_PCR,
	.extend_cmd = pcr_extend_cmd,
	.read_cmd = pcr_read_cmd,
	.read_parse = pcr_read_parse,
};

/* ---- the TDX RTMR stand-in: a file ---- */

static int
rtmr_extend(struct mreg *r, const struct mlog_digest *d, size_t n)
{
	ssize_t w;

	if (n != 1 || d[0].alg != TPM2_ALG_SHA384 || d[0].size != RTMR_DIGEST)
		return -EINVAL;
	/* one write of the whole digest, as the kernel's interface wants it */
	do
		w = write(r->fd, d[0].d, RTMR_DIGEST);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return w == RTMR_DIGEST ? 0 : -EIO;
}

/* The value: the fold of the file's digests from zeros (the stand-in's register). */
static int
rtmr_read(struct mreg *r, struct mlog_digest *out)
{
	_cleanup_(closep) int fd = open(r->path, O_RDONLY | O_CLOEXEC);
	uint8_t buf[RTMR_DIGEST * 64];
	struct mlog_digest v = {.alg = TPM2_ALG_SHA384, .size = RTMR_DIGEST};
	size_t have = 0;
	int rr;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		have += (size_t)n;
		for (size_t off = 0; off + RTMR_DIGEST <= have; off += RTMR_DIGEST) {
			struct mlog_digest e = {.alg = TPM2_ALG_SHA384, .size = RTMR_DIGEST};

			memcpy(e.d, buf + off, RTMR_DIGEST);
			if ((rr = mlog_fold(&v, &e)) < 0)
				return rr;
		}
		memmove(buf, buf + have - have % RTMR_DIGEST, have % RTMR_DIGEST);
		have %= RTMR_DIGEST;
	}
	if (have != 0)
		return -EBADMSG; /* a torn digest: not what a register takes */
	out[0] = v;
	return 0;
}

const struct mreg_ops mreg_rtmr_ops = {
	.name = "RTMR",
	.type = MLOG_REG_RTMR,
	.extend = rtmr_extend,
	.read = rtmr_read,
};

int
mreg_rtmr_open(struct mreg *r, uint32_t index, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (index >= MREG_RTMR_COUNT || strlen(path) >= sizeof(r->path))
		return -EINVAL;
	r->ops = &mreg_rtmr_ops;
	r->index = index;
	r->algs[0] = TPM2_ALG_SHA384;
	r->n_algs = 1;
	strcpy(r->path, path);
	r->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	return r->fd < 0 ? -errno : 0;
}

void
mreg_close(struct mreg *r)
{
	if (r->fd >= 0)
		(void)close(r->fd);
	r->fd = -1;
}

const char *
mreg_label(const struct mreg *r, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s %u", r->ops->name, (unsigned)r->index);
	return buf;
}

/* ---- synchronous, at start-up ---- */

int
mreg_read_sync(struct mreg *r, struct backend *be, struct mlog_digest *out)
{
	uint8_t cmd[64], rsp[1024];
	size_t len, rlen = 0;
	int e;

	if (r->ops->read != NULL)
		return r->ops->read(r, out);
	if ((len = r->ops->read_cmd(r, cmd, sizeof(cmd))) == 0)
		return -EINVAL;
	if ((e = be_transact(be, cmd, len, rsp, sizeof(rsp), &rlen, MREG_TIMEOUT_MS)) < 0)
		return e;
	return r->ops->read_parse(r, rsp, rlen, out);
}

int
mreg_extend_sync(struct mreg *r, struct backend *be, const struct mlog_digest *d, size_t n)
{
	uint8_t cmd[512], rsp[64];
	size_t len, rlen = 0;
	int e;

	if (r->ops->extend != NULL)
		return r->ops->extend(r, d, n);
	if ((len = r->ops->extend_cmd(r, d, n, cmd, sizeof(cmd))) == 0)
		return -EINVAL;
	if ((e = be_transact(be, cmd, len, rsp, sizeof(rsp), &rlen, MREG_TIMEOUT_MS)) < 0)
		return e;
	return wire_response_rc(rsp, rlen) == TPM2_RC_SUCCESS ? 0 : -EIO;
}

size_t
mreg_read_clock_cmd(uint8_t *buf, size_t cap)
{
	if (cap < TPM_HDR_SIZE)
		return 0;
	wire_hdr_put(buf, TPM2_ST_NO_SESSIONS, TPM_HDR_SIZE, TPM2_CC_ReadClock);
	return TPM_HDR_SIZE;
}

int
mreg_read_clock_parse(const uint8_t *rsp, size_t len, uint32_t *reset_count,
		      uint32_t *restart_count)
{
	TPMS_TIME_INFO ti;
	size_t off = TPM_HDR_SIZE;

	if (wire_response_rc(rsp, len) != TPM2_RC_SUCCESS)
		return -EIO;
	if (Tss2_MU_TPMS_TIME_INFO_Unmarshal(rsp, len, &off, &ti) != TSS2_RC_SUCCESS)
		return -EBADMSG;
	*reset_count = ti.clockInfo.resetCount;
	*restart_count = ti.clockInfo.restartCount;
	return 0;
}

int
mreg_pcr_banks(struct backend *be, uint32_t index, uint16_t *algs, size_t *n)
{
	uint8_t cmd[TPMCMD_MAX], rsp[1024];
	TPMS_CAPABILITY_DATA cd;
	size_t len, rlen = 0;
	bool more;
	int e;

	*n = 0;
	if (index >= 24)
		return -EINVAL;
	len = tpmcmd_get_capability(cmd, sizeof(cmd), TPM2_CAP_PCRS, 0, 1);
	if ((e = be_transact(be, cmd, len, rsp, sizeof(rsp), &rlen, MREG_TIMEOUT_MS)) < 0 ||
	    (e = tpmcmd_parse_capability(rsp, rlen, &more, &cd)) < 0)
		return e;
	for (UINT32 i = 0; i < cd.data.assignedPCR.count && *n < MLOG_MAX_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &cd.data.assignedPCR.pcrSelections[i];
		uint8_t dummy[1] = {0};
		struct mlog_digest d;

		if (index / 8 >= s->sizeofSelect || (s->pcrSelect[index / 8] & (1u << (index % 8))) == 0)
			continue;
		/* a bank whose hash OpenSSL lacks cannot be logged: left out, loudly */
		if (mlog_hash(&s->hash, 1, dummy, 0, &d) < 0) {
			log_warnx("measure: PCR %u: bank 0x%04x is active but its hash is not "
				  "available; the log does not cover that bank",
				  (unsigned)index, s->hash);
			continue;
		}
		algs[(*n)++] = s->hash;
	}
	return *n > 0 ? 0 : -ENOENT;
}
