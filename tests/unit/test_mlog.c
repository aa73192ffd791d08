/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_mlog: the measurement log's records (mlog.h): round trips, every
 * torn tail and every flipped bit is caught, the fold is TPM2_PCR_Extend's.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/mlog.h"
#include "common/util.h"

static const uint16_t banks[] = {TPM2_ALG_SHA1, TPM2_ALG_SHA256};

static void
make_event(struct mlog_rec *r, uint64_t seq, const char *data, const char *stream)
{
	*r = (struct mlog_rec){.seq = seq, .reset_count = 3, .restart_count = 1,
			       .time_ns = 1234567890123ull, .kind = MLOG_EVENT,
			       .reg_type = MLOG_REG_PCR, .reg = 16, .event_type = 0x0d,
			       .uid = 1000, .pid = 42, .n_dig = 2,
			       .stream = stream, .stream_len = strlen(stream),
			       .desc = "a test", .desc_len = 6,
			       .data = (const uint8_t *)data, .data_len = strlen(data)};
	assert_int_equal(mlog_hash(banks, 2, data, strlen(data), r->dig), 0);
}

static void
test_roundtrip(void **state)
{
	struct mlog_rec r, d;
	uint8_t buf[1024];
	size_t len, used;

	(void)state;
	make_event(&r, 7, "hello", "/system.slice/foo.service");
	assert_int_equal(mlog_rec_size(&r), 52 + 24 + 36 + 2 + 25 + 2 + 6 + 4 + 5 + 8);
	assert_int_equal(mlog_rec_encode(&r, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, mlog_rec_size(&r));
	assert_int_equal(mlog_rec_encode(&r, buf, len - 1, &len), -ENOSPC);
	assert_int_equal(mlog_rec_encode(&r, buf, sizeof(buf), &len), 0);
	assert_int_equal(mlog_rec_decode(buf, len, &d, &used), 0);
	assert_int_equal(used, len);
	assert_int_equal(d.seq, 7);
	assert_int_equal(d.reset_count, 3);
	assert_int_equal(d.restart_count, 1);
	assert_int_equal(d.time_ns, 1234567890123ull);
	assert_int_equal(d.kind, MLOG_EVENT);
	assert_int_equal(d.reg, 16);
	assert_int_equal(d.event_type, 0x0d);
	assert_int_equal(d.uid, 1000);
	assert_int_equal(d.pid, 42);
	assert_int_equal(d.n_dig, 2);
	assert_int_equal(d.dig[1].alg, TPM2_ALG_SHA256);
	assert_memory_equal(d.dig[1].d, r.dig[1].d, 32);
	assert_int_equal(d.stream_len, 25);
	assert_memory_equal(d.stream, "/system.slice/foo.service", 25);
	assert_memory_equal(d.desc, "a test", 6);
	assert_int_equal(d.data_len, 5);
	assert_memory_equal(d.data, "hello", 5);
	/* not a record: nothing encodes */
	r.n_dig = 0;
	assert_int_equal(mlog_rec_size(&r), 0);
	assert_int_equal(mlog_rec_encode(&r, buf, sizeof(buf), &len), -EINVAL);
}

static void
test_torn_and_flipped(void **state)
{
	struct mlog_rec r, d;
	uint8_t buf[512];
	size_t len, used;

	(void)state;
	make_event(&r, 1, "x", "s");
	assert_int_equal(mlog_rec_encode(&r, buf, sizeof(buf), &len), 0);
	/* every cut is caught */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(mlog_rec_decode(buf, cut, &d, &used), -EBADMSG);
	/* every flipped bit is caught */
	for (size_t i = 0; i < len * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(mlog_rec_decode(buf, len, &d, &used), -EBADMSG);
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_int_equal(mlog_rec_decode(buf, len, &d, &used), 0);
}

/* the fold is TPM2_PCR_Extend: sha256(zeros || sha256("abc")) */
static void
test_fold(void **state)
{
	/* python3: hashlib.sha256(bytes(32) + hashlib.sha256(b"abc").digest()) */
	static const uint8_t want[32] = {
		0x58, 0x9f, 0x9f, 0xfe, 0xd4, 0xc4, 0x77, 0x96, 0x6b, 0xfb, 0x8d, 0x41,
		0xf3, 0x78, 0x95, 0xb0, 0x8c, 0x69, 0x04, 0x7d, 0xf8, 0xf9, 0x11, 0xd6,
		0xf3, 0xb5, 0x7f, 0xbe, 0x08, 0xfa, 0xee, 0x8d};
	struct mlog_digest v = {.alg = TPM2_ALG_SHA256, .size = 32}, e, e1;
	uint16_t a = TPM2_ALG_SHA256;

	(void)state;
	assert_int_equal(mlog_hash(&a, 1, "abc", 3, &e), 0);
	assert_int_equal(mlog_fold(&v, &e), 0);
	assert_memory_equal(v.d, want, 32);
	a = TPM2_ALG_SHA1;
	assert_int_equal(mlog_hash(&a, 1, "abc", 3, &e1), 0);
	assert_int_equal(mlog_fold(&v, &e1), -EINVAL); /* banks don't mix */
	assert_int_equal(mlog_alg_size(TPM2_ALG_SHA384), 48);
	assert_null(mlog_alg_name(0x1234));
}

/* a file: header, three records, a torn fourth */
static void
test_file(void **state)
{
	char path[] = "/tmp/test_mlog.XXXXXX";
	int fd = mkstemp(path);
	uint8_t hdr[MLOG_HDR_SIZE], buf[512];
	struct mlog_file f;
	struct mlog_rec r;
	size_t len, off = 0, torn_at = 0;
	int n = 0;

	(void)state;
	assert_true(fd >= 0);
	mlog_header_put(hdr);
	assert_int_equal(write_all(fd, hdr, sizeof(hdr)), 0);
	for (uint64_t s = 1; s <= 4; s++) {
		make_event(&r, s, "data", "stream");
		assert_int_equal(mlog_rec_encode(&r, buf, sizeof(buf), &len), 0);
		if (s == 4) {
			torn_at = (size_t)lseek(fd, 0, SEEK_CUR);
			len /= 2;
		}
		assert_int_equal(write_all(fd, buf, len), 0);
	}
	assert_int_equal(mlog_read_file(path, &f), 0);
	assert_int_equal(f.n_records, 3);
	assert_int_equal(f.last_seq, 3);
	assert_false(f.seq_gap);
	assert_int_equal(f.valid_end, torn_at);
	assert_true(f.size > f.valid_end);
	while (mlog_next(&f, &off, &r) == 1)
		assert_int_equal(r.seq, (uint64_t)++n);
	assert_int_equal(n, 3);
	mlog_file_free(&f);
	/* not a log of ours */
	assert_int_equal(pwrite(fd, "garbage!", 8, 0), 8);
	assert_int_equal(mlog_read_file(path, &f), -EBADMSG);
	close(fd);
	unlink(path);
	assert_int_equal(mlog_read_file(path, &f), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_torn_and_flipped),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
