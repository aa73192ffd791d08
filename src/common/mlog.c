/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mlog.c: the measurement log's records (mlog.h): encode, decode, read a
 * whole log, and the hashing both the daemon and its readers do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "mlog.h"
#include "util.h"

/* ---- algorithms ---- */

static const struct {
	uint16_t alg;
	size_t size;
	const char *name;
} algs[] = {
	{TPM2_ALG_SHA1, 20, "sha1"},
	{TPM2_ALG_SHA256, 32, "sha256"},
	{TPM2_ALG_SHA384, 48, "sha384"},
	{TPM2_ALG_SHA512, 64, "sha512"},
	{TPM2_ALG_SM3_256, 32, "sm3"},
};

size_t
mlog_alg_size(uint16_t alg)
{
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		if (algs[i].alg == alg)
			return algs[i].size;
	return 0;
}

const char *
mlog_alg_name(uint16_t alg)
{
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		if (algs[i].alg == alg)
			return algs[i].name;
	return NULL;
}

/* H(a || b) into out (size bytes); 0 or -EINVAL (unknown or unavailable hash). */
static int
hash2(uint16_t alg, const void *a, size_t alen, const void *b, size_t blen, uint8_t *out)
{
	const char *name = mlog_alg_name(alg);
	const EVP_MD *md = name != NULL ? EVP_get_digestbyname(name) : NULL;
	unsigned int n = 0;
	EVP_MD_CTX *ctx;
	int ok;

	if (md == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return -EINVAL;
	ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, a, alen) == 1 &&
	     (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
	     EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == mlog_alg_size(alg);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EINVAL;
}

int
mlog_hash(const uint16_t *alg, size_t n, const void *data, size_t len, struct mlog_digest *d)
{
	for (size_t i = 0; i < n; i++) {
		int r;

		d[i] = (struct mlog_digest){.alg = alg[i], .size = (uint16_t)mlog_alg_size(alg[i])};
		if (d[i].size == 0)
			return -EINVAL;
		if ((r = hash2(alg[i], data, len, NULL, 0, d[i].d)) < 0)
			return r;
	}
	return 0;
}

int
mlog_fold(struct mlog_digest *v, const struct mlog_digest *e)
{
	uint8_t out[MLOG_MAX_DIGEST];
	int r;

	if (v->alg != e->alg || v->size != e->size || v->size != mlog_alg_size(v->alg))
		return -EINVAL;
	if ((r = hash2(v->alg, v->d, v->size, e->d, e->size, out)) < 0)
		return r;
	memcpy(v->d, out, v->size);
	return 0;
}

/* the record's check: the first 8 bytes of SHA-256 over p[0..len) */
static int
check_of(const uint8_t *p, size_t len, uint8_t out[MLOG_CHECK_SIZE])
{
	uint8_t h[32];
	int r = hash2(TPM2_ALG_SHA256, p, len, NULL, 0, h);

	if (r == 0)
		memcpy(out, h, MLOG_CHECK_SIZE);
	return r;
}

/* ---- header ---- */

void
mlog_header_put(uint8_t out[MLOG_HDR_SIZE])
{
	memset(out, 0, MLOG_HDR_SIZE);
	memcpy(out, MLOG_MAGIC, 8);
	put_be32(out + 8, MLOG_VERSION);
	put_be32(out + 12, MLOG_HDR_SIZE);
}

int
mlog_header_check(const uint8_t *buf, size_t len)
{
	if (len < MLOG_HDR_SIZE)
		return -ENODATA;
	if (memcmp(buf, MLOG_MAGIC, 8) != 0 || get_be32(buf + 8) != MLOG_VERSION ||
	    get_be32(buf + 12) != MLOG_HDR_SIZE)
		return -EBADMSG;
	return 0;
}

/* ---- records ---- */

static bool
rec_valid(const struct mlog_rec *r)
{
	if ((r->kind != MLOG_EVENT && r->kind != MLOG_SECTION) ||
	    (r->reg_type != MLOG_REG_PCR && r->reg_type != MLOG_REG_RTMR) || r->n_dig == 0 ||
	    r->n_dig > MLOG_MAX_BANKS || r->stream_len > MLOG_MAX_STREAM ||
	    r->desc_len > MLOG_MAX_DESC || r->data_len > MLOG_MAX_DATA)
		return false;
	for (size_t i = 0; i < r->n_dig; i++)
		if (r->dig[i].size > MLOG_MAX_DIGEST)
			return false;
	return true;
}

size_t
mlog_rec_size(const struct mlog_rec *r)
{
	size_t n = 52;

	if (!rec_valid(r))
		return 0;
	for (size_t i = 0; i < r->n_dig; i++)
		n += 4u + r->dig[i].size;
	return n + 2u + r->stream_len + 2u + r->desc_len + 4u + r->data_len + MLOG_CHECK_SIZE;
}

int
mlog_rec_encode(const struct mlog_rec *r, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = mlog_rec_size(r), off = 52;

	if (n == 0)
		return -EINVAL;
	if (n > cap)
		return -ENOSPC;
	put_be32(out, MLOG_REC_MAGIC);
	put_be32(out + 4, (uint32_t)n);
	put_be64(out + 8, r->seq);
	put_be32(out + 16, r->reset_count);
	put_be32(out + 20, r->restart_count);
	put_be64(out + 24, r->time_ns);
	out[32] = r->kind;
	out[33] = r->reg_type;
	put_be16(out + 34, (uint16_t)r->n_dig);
	put_be32(out + 36, r->reg);
	put_be32(out + 40, r->event_type);
	put_be32(out + 44, r->uid);
	put_be32(out + 48, r->pid);
	for (size_t i = 0; i < r->n_dig; i++) {
		put_be16(out + off, r->dig[i].alg);
		put_be16(out + off + 2, r->dig[i].size);
		memcpy(out + off + 4, r->dig[i].d, r->dig[i].size);
		off += 4u + r->dig[i].size;
	}
	put_be16(out + off, (uint16_t)r->stream_len);
	if (r->stream_len > 0)
		memcpy(out + off + 2, r->stream, r->stream_len);
	off += 2u + r->stream_len;
	put_be16(out + off, (uint16_t)r->desc_len);
	if (r->desc_len > 0)
		memcpy(out + off + 2, r->desc, r->desc_len);
	off += 2u + r->desc_len;
	put_be32(out + off, (uint32_t)r->data_len);
	if (r->data_len > 0)
		memcpy(out + off + 4, r->data, r->data_len);
	off += 4u + r->data_len;
	if (check_of(out, off, out + off) < 0)
		return -EINVAL;
	*len = n;
	return 0;
}

int
mlog_rec_decode(const uint8_t *buf, size_t len, struct mlog_rec *r, size_t *used)
{
	uint8_t check[MLOG_CHECK_SIZE];
	size_t n, off = 52, end;

	if (len < MLOG_REC_MIN || get_be32(buf) != MLOG_REC_MAGIC)
		return -EBADMSG;
	n = get_be32(buf + 4);
	if (n < MLOG_REC_MIN || n > MLOG_REC_MAX || n > len)
		return -EBADMSG;
	end = n - MLOG_CHECK_SIZE;
	if (check_of(buf, end, check) < 0 || memcmp(check, buf + end, MLOG_CHECK_SIZE) != 0)
		return -EBADMSG;
	*r = (struct mlog_rec){
		.seq = get_be64(buf + 8),
		.reset_count = get_be32(buf + 16),
		.restart_count = get_be32(buf + 20),
		.time_ns = get_be64(buf + 24),
		.kind = buf[32],
		.reg_type = buf[33],
		.n_dig = get_be16(buf + 34),
		.reg = get_be32(buf + 36),
		.event_type = get_be32(buf + 40),
		.uid = get_be32(buf + 44),
		.pid = get_be32(buf + 48),
	};
	if (r->n_dig == 0 || r->n_dig > MLOG_MAX_BANKS)
		return -EBADMSG;
	for (size_t i = 0; i < r->n_dig; i++) {
		if (off + 4 > end)
			return -EBADMSG;
		r->dig[i].alg = get_be16(buf + off);
		r->dig[i].size = get_be16(buf + off + 2);
		if (r->dig[i].size > MLOG_MAX_DIGEST || off + 4 + r->dig[i].size > end)
			return -EBADMSG;
		memcpy(r->dig[i].d, buf + off + 4, r->dig[i].size);
		off += 4u + r->dig[i].size;
	}
	if (off + 2 > end || (r->stream_len = get_be16(buf + off)) > MLOG_MAX_STREAM ||
	    off + 2 + r->stream_len > end)
		return -EBADMSG;
	r->stream = (const char *)buf + off + 2;
	off += 2u + r->stream_len;
	if (off + 2 > end || (r->desc_len = get_be16(buf + off)) > MLOG_MAX_DESC ||
	    off + 2 + r->desc_len > end)
		return -EBADMSG;
	r->desc = (const char *)buf + off + 2;
	off += 2u + r->desc_len;
	if (off + 4 > end || (r->data_len = get_be32(buf + off)) > MLOG_MAX_DATA ||
	    off + 4 + r->data_len != end)
		return -EBADMSG;
	r->data = buf + off + 4;
	if (!rec_valid(r))
		return -EBADMSG;
	*used = n;
	return 0;
}

/* ---- whole files ---- */

static int
scan(struct mlog_file *f)
{
	size_t off = MLOG_HDR_SIZE;
	int r;

	if ((r = mlog_header_check(f->buf, f->size)) < 0)
		return r == -ENODATA ? -EBADMSG : r;
	f->valid_end = off;
	while (off < f->size) {
		struct mlog_rec rec;
		size_t used;

		if (mlog_rec_decode(f->buf + off, f->size - off, &rec, &used) < 0)
			break; /* a torn tail (or damage): the valid log ends here */
		if (rec.seq != f->last_seq + 1)
			f->seq_gap = true;
		f->last_seq = rec.seq;
		f->n_records++;
		off += used;
		f->valid_end = off;
	}
	return 0;
}

int
mlog_read_fd(int fd, struct mlog_file *f)
{
	struct stat st;
	size_t got = 0;

	*f = (struct mlog_file){0};
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)SIZE_MAX / 2)
		return -EFBIG;
	if ((f->buf = malloc((size_t)st.st_size + 1)) == NULL)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, f->buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			mlog_file_free(f);
			return -e;
		}
		if (n == 0)
			break; /* shrank meanwhile: what we have */
		got += (size_t)n;
	}
	f->size = got;
	if (scan(f) < 0) {
		mlog_file_free(f);
		return -EBADMSG;
	}
	return 0;
}

int
mlog_read_file(const char *path, struct mlog_file *f)
{
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	*f = (struct mlog_file){0};
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_SH) < 0)
		if (errno != EINTR)
			return -errno;
	r = mlog_read_fd(fd, f);
	(void)flock(fd, LOCK_UN);
	return r;
}

int
mlog_next(const struct mlog_file *f, size_t *off, struct mlog_rec *r)
{
	size_t used;

	if (*off < MLOG_HDR_SIZE)
		*off = MLOG_HDR_SIZE;
	if (*off >= f->valid_end)
		return 0;
	if (mlog_rec_decode(f->buf + *off, f->valid_end - *off, r, &used) < 0)
		return 0; /* cannot happen: scan() decoded it */
	*off += used;
	return 1;
}

void
mlog_file_free(struct mlog_file *f)
{
	free(f->buf);
	*f = (struct mlog_file){0};
}
