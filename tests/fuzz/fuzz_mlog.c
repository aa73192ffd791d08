/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_mlog: arbitrary bytes as a measurement log (src/common/mlog.h)
 * through everything that reads one: mlog_read_fd's scan, mlog_next, the
 * replay of the current epoch and of a stream (mlog_replay.c), and both
 * exports (mlog_export.c).  The TCG export is decoded again here and must
 * hold exactly the events the export counted; the CEL-JSON export must be
 * one RS-prefixed, LF-terminated line per event with no raw control byte.
 *
 * Input: one mode byte, then the file.  Mode bit 0: recompute each
 * record's check (its length field taken as given) so that the decoder
 * behind the check is reached at all; bit 1: prepend a valid header.
 * Without them, nearly every mutation is a torn tail, which is tested too.
 *
 * Built as a libFuzzer target by `make fuzz`; otherwise a replay main()
 * runs every file named on the command line (tests/fuzz/corpus/mlog).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/mlog.h"
#include "common/mlog_export.h"
#include "common/mlog_replay.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_INPUT (MLOG_HDR_SIZE + 4 * MLOG_REC_MAX)

static void
fixup_checks(uint8_t *p, size_t len)
{
	size_t off = MLOG_HDR_SIZE;

	while (off + 8 <= len) {
		size_t n = get_be32(p + off + 4);
		uint8_t h[32];
		unsigned hl;

		if (n < MLOG_REC_MIN || n > len - off)
			break;
		put_be32(p + off, MLOG_REC_MAGIC);
		if (EVP_Digest(p + off, n - MLOG_CHECK_SIZE, h, &hl, EVP_sha256(), NULL) != 1)
			abort();
		memcpy(p + off + n - MLOG_CHECK_SIZE, h, MLOG_CHECK_SIZE);
		off += n;
	}
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* the TCG export decodes to n events of known banks, to its last byte */
static void
check_tcg(const struct mlog_buf *b, const struct mlog_export_info *info)
{
	size_t off, n = 0, esz;

	if (b->len < 32 || le32(b->p + 4) != 3 || (esz = le32(b->p + 28)) > b->len - 32)
		abort();
	off = 32 + esz;
	while (off < b->len) {
		uint32_t type, cnt;

		if (b->len - off < 12)
			abort();
		type = le32(b->p + off + 4);
		cnt = le32(b->p + off + 8);
		off += 12;
		for (uint32_t i = 0; i < cnt; i++) {
			size_t s;

			if (b->len - off < 2 ||
			    (s = mlog_alg_size((uint16_t)(b->p[off] | b->p[off + 1] << 8))) == 0 ||
			    b->len - off - 2 < s)
				abort();
			off += 2 + s;
		}
		if (b->len - off < 4 || le32(b->p + off) > b->len - off - 4)
			abort();
		off += 4 + le32(b->p + off);
		n++;
		(void)type;
	}
	if (n != info->n_events + info->startup_locality)
		abort();
}

static void
check_cel(const struct mlog_buf *b, const struct mlog_export_info *info)
{
	size_t lines = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->p[i] == 0x1e) {
			if (i > 0 && b->p[i - 1] != '\n')
				abort();
			lines++;
		} else if (b->p[i] < 0x20 && b->p[i] != '\n') {
			abort();
		} else if (b->p[i] == '\n' && i + 1 < b->len && b->p[i + 1] != 0x1e) {
			abort();
		}
	}
	if (lines != info->n_events || (b->len > 0 && b->p[b->len - 1] != '\n'))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[FZ_MAX_INPUT];
	struct mlog_file f;
	struct mlog_replay *rp;
	struct mlog_rec r;
	size_t len = 0, off = 0;
	uint64_t n = 0;
	uint8_t mode;
	int fd;

	if (size < 1 || size - 1 > FZ_MAX_INPUT - MLOG_HDR_SIZE)
		return 0;
	mode = data[0];
	if (mode & 2) {
		mlog_header_put(buf);
		len = MLOG_HDR_SIZE;
	}
	memcpy(buf + len, data + 1, size - 1);
	len += size - 1;
	if (mode & 1)
		fixup_checks(buf, len);
	if ((fd = memfd_create("fuzz_mlog", MFD_CLOEXEC)) < 0)
		abort();
	if (write(fd, buf, len) != (ssize_t)len)
		abort();
	if (mlog_read_fd(fd, &f) < 0) {
		close(fd);
		return 0;
	}
	close(fd);
	if (f.valid_end > f.size || f.valid_end < MLOG_HDR_SIZE)
		abort();
	while (mlog_next(&f, &off, &r) > 0)
		n++;
	if (n != f.n_records || off != f.valid_end)
		abort();
	if ((rp = malloc(sizeof(*rp))) == NULL)
		abort();
	if (mlog_replay(&f, NULL, 0, rp) == 0 && rp->bad_seq == 0 && rp->have_epoch) {
		/* a stream's virtual registers: that of the epoch's first record */
		off = rp->epoch_off;
		if (mlog_next(&f, &off, &r) > 0)
			(void)mlog_replay(&f, r.stream, r.stream_len, rp);
	}
	free(rp);
	for (int fmt = MLOG_EXPORT_TCG; fmt <= MLOG_EXPORT_CEL_JSON; fmt++) {
		struct mlog_export_info info;
		struct mlog_buf b = {0};

		if (mlog_export(&f, (enum mlog_export_format)fmt, &b, &info) == 0) {
			if (fmt == MLOG_EXPORT_TCG)
				check_tcg(&b, &info);
			else
				check_cel(&b, &info);
		}
		mlog_buf_free(&b);
	}
	mlog_file_free(&f);
	return 0;
}
