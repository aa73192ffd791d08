/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_mlog_export: the readers' side of the measurement log: the replay of
 * the current epoch (against a fold computed here with OpenSSL directly),
 * its rules, a stream's virtual registers, and the TCG and CEL-JSON exports
 * (the TCG log decoded back by a small parser of this file).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/mlog.h"
#include "common/mlog_export.h"
#include "common/mlog_replay.h"
#include "common/util.h"

static const uint16_t banks2[] = {TPM2_ALG_SHA1, TPM2_ALG_SHA256};

/* a log built in memory, then written to a file and read back as the CLI does */
struct tlog {
	uint8_t buf[1 << 16];
	size_t len;
	uint64_t seq;
	uint32_t reset, restart;
	char path[64];
	struct mlog_file f;
};

static void
tlog_init(struct tlog *t)
{
	memset(t, 0, sizeof(*t));
	mlog_header_put(t->buf);
	t->len = MLOG_HDR_SIZE;
	t->reset = 5;
}

static void
tlog_add(struct tlog *t, uint8_t kind, uint8_t reg_type, uint32_t reg, const uint16_t *algs,
	 size_t n, const char *stream, const char *data, uint8_t base)
{
	struct mlog_rec r = {.seq = ++t->seq, .reset_count = t->reset,
			     .restart_count = t->restart, .time_ns = 1000 * t->seq, .kind = kind,
			     .reg_type = reg_type, .reg = reg, .event_type = kind == MLOG_SECTION ? 3 : 0x0d,
			     .uid = 7, .pid = 8, .n_dig = n, .stream = stream,
			     .stream_len = strlen(stream), .desc = "d", .desc_len = 1};
	size_t len;

	if (kind == MLOG_EVENT) {
		r.data = (const uint8_t *)data;
		r.data_len = strlen(data);
		assert_int_equal(mlog_hash(algs, n, data, strlen(data), r.dig), 0);
	} else {
		for (size_t i = 0; i < n; i++) {
			r.dig[i] = (struct mlog_digest){.alg = algs[i],
							.size = (uint16_t)mlog_alg_size(algs[i])};
			memset(r.dig[i].d, 0, r.dig[i].size);
			r.dig[i].d[r.dig[i].size - 1] = base;
		}
	}
	assert_int_equal(mlog_rec_encode(&r, t->buf + t->len, sizeof(t->buf) - t->len, &len), 0);
	t->len += len;
}

static void
tlog_read(struct tlog *t)
{
	int fd;

	strcpy(t->path, "/tmp/test_mlog_export.XXXXXX");
	assert_true((fd = mkstemp(t->path)) >= 0);
	assert_int_equal(write(fd, t->buf, t->len), (ssize_t)t->len);
	close(fd);
	assert_int_equal(mlog_read_file(t->path, &t->f), 0);
	unlink(t->path);
}

/* H(a || b) with OpenSSL, not through mlog */
static void
ossl_fold(const char *md, uint8_t *v, const uint8_t *e, unsigned size)
{
	uint8_t in[2 * MLOG_MAX_DIGEST];
	unsigned n;

	memcpy(in, v, size);
	memcpy(in + size, e, size);
	assert_int_equal(EVP_Digest(in, 2 * size, v, &n, EVP_get_digestbyname(md), NULL), 1);
	assert_int_equal(n, size);
}

static void
ossl_hash(const char *md, const char *data, uint8_t *out)
{
	unsigned n;

	assert_int_equal(EVP_Digest(data, strlen(data), out, &n, EVP_get_digestbyname(md), NULL), 1);
}

/* value of a register after events data[0..n) from base zeros */
static void
expect_fold(const char *md, unsigned size, const char *const *data, size_t n, uint8_t *out)
{
	uint8_t e[MLOG_MAX_DIGEST];

	memset(out, 0, size);
	for (size_t i = 0; i < n; i++) {
		ossl_hash(md, data[i], e);
		ossl_fold(md, out, e, size);
	}
}

static void
test_replay(void **state)
{
	static const char *const p16[] = {"one", "three"}, *const p23[] = {"two"};
	_cleanup_(freep) struct tlog *t = malloc(sizeof(*t));
	struct mlog_replay rp;
	const struct mlog_reg *g;
	uint8_t want[MLOG_MAX_DIGEST];

	(void)state;
	tlog_init(t);
	/* an older epoch whose events must not count */
	t->reset = 4;
	tlog_add(t, MLOG_SECTION, MLOG_REG_PCR, 16, banks2, 2, "", NULL, 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "a", "old", 0);
	t->reset = 5;
	tlog_add(t, MLOG_SECTION, MLOG_REG_PCR, 16, banks2, 2, "", NULL, 0);
	tlog_add(t, MLOG_SECTION, MLOG_REG_PCR, 23, banks2, 2, "", NULL, 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "a", "one", 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 23, banks2, 2, "b", "two", 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "b", "three", 0);
	tlog_read(t);
	assert_int_equal(mlog_replay(&t->f, NULL, 0, &rp), 0);
	assert_int_equal(rp.bad_seq, 0);
	assert_true(rp.have_epoch);
	assert_int_equal(rp.reset_count, 5);
	assert_int_equal(rp.epoch_first_seq, 3);
	assert_int_equal(rp.n_epoch_records, 5);
	assert_int_equal(rp.n_regs, 2);
	g = mlog_replay_find(&rp, MLOG_REG_PCR, 16);
	assert_non_null(g);
	assert_int_equal(g->n_events, 2);
	assert_int_equal(g->last_seq, 7);
	expect_fold("sha1", 20, p16, 2, want);
	assert_memory_equal(g->v[0].d, want, 20);
	expect_fold("sha256", 32, p16, 2, want);
	assert_memory_equal(g->v[1].d, want, 32);
	g = mlog_replay_find(&rp, MLOG_REG_PCR, 23);
	expect_fold("sha256", 32, p23, 1, want);
	assert_memory_equal(g->v[1].d, want, 32);
	assert_null(mlog_replay_find(&rp, MLOG_REG_PCR, 0));
	mlog_file_free(&t->f);
}

static void
test_stream(void **state)
{
	static const char *const b[] = {"two", "three"};
	_cleanup_(freep) struct tlog *t = malloc(sizeof(*t));
	struct mlog_replay rp;
	const struct mlog_reg *g;
	uint8_t want[MLOG_MAX_DIGEST];

	(void)state;
	tlog_init(t);
	/* the real register starts from a non-zero base; the virtual one from zeros */
	tlog_add(t, MLOG_SECTION, MLOG_REG_PCR, 16, banks2, 2, "", NULL, 0xff);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "a", "one", 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "b", "two", 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "ab", "x", 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "b", "three", 0);
	tlog_read(t);
	assert_int_equal(mlog_replay(&t->f, "b", 1, &rp), 0);
	assert_int_equal(rp.bad_seq, 0);
	assert_int_equal(rp.n_regs, 1);
	g = &rp.regs[0];
	assert_int_equal(g->n_events, 2);
	expect_fold("sha256", 32, b, 2, want);
	assert_memory_equal(g->v[1].d, want, 32);
	/* the real replay has the base */
	assert_int_equal(mlog_replay(&t->f, NULL, 0, &rp), 0);
	assert_true(rp.regs[0].base_nonzero);
	assert_int_equal(rp.regs[0].n_events, 4);
	/* a stream without events has no register */
	assert_int_equal(mlog_replay(&t->f, "c", 1, &rp), 0);
	assert_int_equal(rp.n_regs, 0);
	mlog_file_free(&t->f);
}

/* each broken rule stops the replay at its record */
static void
test_rules(void **state)
{
	static const uint16_t sha256[] = {TPM2_ALG_SHA256};
	static const uint16_t sha1[] = {TPM2_ALG_SHA1};
	_cleanup_(freep) struct tlog *t = malloc(sizeof(*t));
	struct mlog_replay rp;
	struct {
		int kind; /* 0 event 1 section */
		uint32_t reg;
		const uint16_t *algs;
		size_t n;
		uint8_t base;
		const char *why; /* of the last record; NULL: fine */
	} cases[][3] = {
		{{0, 16, banks2, 2, 0, "an event before its register's section"}},
		{{1, 16, banks2, 2, 0, NULL}, {0, 16, sha256, 1, 0, "a bank of the register's section is missing"}},
		{{1, 16, sha256, 1, 0, NULL}, {0, 16, banks2, 2, 0, "a bank the register's section does not have (unknown bank)"}},
		{{1, 16, sha256, 1, 0, NULL}, {0, 16, sha1, 1, 0, "a bank the register's section does not have (unknown bank)"}},
		{{1, 24, sha256, 1, 0, "register index out of range"}},
		{{1, 16, sha256, 1, 0, NULL}, {1, 16, sha256, 1, 0, NULL}, {0, 16, sha256, 1, 0, NULL}},
		{{1, 16, sha256, 1, 0, NULL}, {0, 16, sha256, 1, 0, NULL}, {1, 16, sha256, 1, 7, NULL}},
		{{1, 16, sha256, 1, 0, NULL}, {1, 16, banks2, 2, 0, "a bank the register's section does not have (unknown bank)"}},
	};

	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		size_t n = 0;

		tlog_init(t);
		for (size_t i = 0; i < 3 && cases[c][i].algs != NULL; i++, n++)
			tlog_add(t, cases[c][i].kind ? MLOG_SECTION : MLOG_EVENT, MLOG_REG_PCR,
				 cases[c][i].reg, cases[c][i].algs, cases[c][i].n, "", "e",
				 cases[c][i].base);
		tlog_read(t);
		assert_int_equal(mlog_replay(&t->f, NULL, 0, &rp), 0);
		if (cases[c][n - 1].why == NULL) {
			const struct mlog_reg *g = mlog_replay_find(&rp, MLOG_REG_PCR, 16);

			assert_int_equal(rp.bad_seq, 0);
			/* a new section: the replay starts again from its base */
			if (c == 6) {
				assert_int_equal(g->n_sections, 2);
				assert_int_equal(g->section_seq, 3);
				assert_int_equal(g->n_events, 0);
				assert_int_equal(g->v[0].d[31], 7);
				assert_true(g->base_nonzero);
			}
		} else {
			assert_int_equal(rp.bad_seq, n);
			assert_string_equal(rp.bad_why, cases[c][n - 1].why);
		}
		mlog_file_free(&t->f);
	}
}

/* ---- an independent reader of the TCG log (PC Client FPF, little-endian) ---- */

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

struct tcg_ev {
	uint32_t pcr, type, n_dig;
	uint16_t alg[MLOG_MAX_BANKS];
	const uint8_t *dig[MLOG_MAX_BANKS];
	const uint8_t *data;
	uint32_t data_len;
};

/* parse the whole log: the Spec ID's algorithms, then the events; count */
static size_t
tcg_parse(const uint8_t *p, size_t len, uint16_t *algs, uint16_t *sizes, size_t *n_algs,
	  struct tcg_ev *ev, size_t max)
{
	size_t off, n = 0;
	uint32_t esz;

	assert_true(len >= 32);
	assert_int_equal(le32(p), 0);
	assert_int_equal(le32(p + 4), 3);
	for (size_t i = 8; i < 28; i++)
		assert_int_equal(p[i], 0);
	esz = le32(p + 28);
	assert_true(len >= 32 + esz);
	assert_memory_equal(p + 32, "Spec ID Event03\0", 16);
	assert_int_equal(p[32 + 21], 2); /* specVersionMajor */
	*n_algs = le32(p + 32 + 24);
	assert_true(*n_algs >= 1 && *n_algs <= MLOG_MAX_BANKS);
	for (size_t i = 0; i < *n_algs; i++) {
		algs[i] = le16(p + 32 + 28 + 4 * i);
		sizes[i] = le16(p + 32 + 30 + 4 * i);
	}
	assert_int_equal(esz, 16 + 12 + 4 * *n_algs + 1 + p[32 + 28 + 4 * *n_algs]);
	off = 32 + esz;
	while (off < len) {
		struct tcg_ev *e = &ev[n];

		assert_true(n < max && off + 12 <= len);
		e->pcr = le32(p + off);
		e->type = le32(p + off + 4);
		e->n_dig = le32(p + off + 8);
		off += 12;
		for (uint32_t i = 0; i < e->n_dig; i++) {
			size_t k = 0;

			assert_true(off + 2 <= len);
			e->alg[i] = le16(p + off);
			while (k < *n_algs && algs[k] != e->alg[i])
				k++;
			assert_true(k < *n_algs); /* a bank of the Spec ID */
			e->dig[i] = p + off + 2;
			off += 2u + sizes[k];
		}
		assert_true(off + 4 <= len);
		e->data_len = le32(p + off);
		e->data = p + off + 4;
		off += 4u + e->data_len;
		assert_true(off <= len);
		n++;
	}
	return n;
}

static void
test_export_tcg(void **state)
{
	static const uint16_t sha384[] = {TPM2_ALG_SHA384};
	_cleanup_(freep) struct tlog *t = malloc(sizeof(*t));
	struct mlog_buf b = {0};
	struct mlog_export_info info;
	struct mlog_replay rp;
	struct tcg_ev ev[8];
	uint16_t algs[MLOG_MAX_BANKS], sizes[MLOG_MAX_BANKS];
	uint8_t want[MLOG_MAX_DIGEST], v[32] = {0};
	size_t n_algs, n;

	(void)state;
	tlog_init(t);
	t->reset = 4;
	tlog_add(t, MLOG_SECTION, MLOG_REG_PCR, 16, banks2, 2, "", NULL, 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "a", "old epoch", 0);
	t->reset = 5;
	tlog_add(t, MLOG_SECTION, MLOG_REG_PCR, 16, banks2, 2, "", NULL, 0);
	tlog_add(t, MLOG_SECTION, MLOG_REG_RTMR, 2, sha384, 1, "", NULL, 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "a", "one", 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_RTMR, 2, sha384, 1, "a", "rtmr", 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "b", "two", 0);
	tlog_read(t);
	assert_int_equal(mlog_export(&t->f, MLOG_EXPORT_TCG, &b, &info), 0);
	assert_int_equal(info.n_events, 2);
	assert_int_equal(info.n_rtmr_skipped, 1);
	assert_int_equal(info.nonzero_base, 0);
	n = tcg_parse(b.p, b.len, algs, sizes, &n_algs, ev, ARRAY_SIZE(ev));
	assert_int_equal(n, 2);
	assert_int_equal(n_algs, 2); /* the RTMR's sha384 is not a PCR bank */
	assert_int_equal(algs[0], TPM2_ALG_SHA1);
	assert_int_equal(sizes[0], 20);
	assert_int_equal(algs[1], TPM2_ALG_SHA256);
	assert_int_equal(sizes[1], 32);
	assert_int_equal(ev[0].pcr, 16);
	assert_int_equal(ev[0].type, 0x0d);
	assert_int_equal(ev[0].n_dig, 2);
	assert_int_equal(ev[1].data_len, 3);
	assert_memory_equal(ev[1].data, "two", 3);
	/* the digests are the data's; replayed they give the TPM's fold */
	for (size_t i = 0; i < n; i++) {
		ossl_hash("sha256", i == 0 ? "one" : "two", want);
		assert_int_equal(ev[i].alg[1], TPM2_ALG_SHA256);
		assert_memory_equal(ev[i].dig[1], want, 32);
		ossl_fold("sha256", v, ev[i].dig[1], 32);
	}
	assert_int_equal(mlog_replay(&t->f, NULL, 0, &rp), 0);
	assert_memory_equal(mlog_replay_find(&rp, MLOG_REG_PCR, 16)->v[1].d, v, 32);
	mlog_buf_free(&b);
	mlog_file_free(&t->f);
}

/* PCR 0 begun at locality 3: a StartupLocality event, which replays to 0...03 */
static void
test_export_locality(void **state)
{
	_cleanup_(freep) struct tlog *t = malloc(sizeof(*t));
	struct mlog_buf b = {0};
	struct mlog_export_info info;
	struct tcg_ev ev[4];
	uint16_t algs[MLOG_MAX_BANKS], sizes[MLOG_MAX_BANKS];
	size_t n_algs;

	(void)state;
	tlog_init(t);
	tlog_add(t, MLOG_SECTION, MLOG_REG_PCR, 0, banks2, 2, "", NULL, 3);
	tlog_add(t, MLOG_SECTION, MLOG_REG_PCR, 17, banks2, 2, "", NULL, 0xff);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 0, banks2, 2, "", "crtm", 0);
	tlog_read(t);
	assert_int_equal(mlog_export(&t->f, MLOG_EXPORT_TCG, &b, &info), 0);
	assert_int_equal(info.nonzero_base, 1u << 17); /* 0 is explained, 17 is not */
	assert_int_equal(tcg_parse(b.p, b.len, algs, sizes, &n_algs, ev, 4), 2);
	assert_int_equal(ev[0].type, 3);
	assert_int_equal(ev[0].data_len, 17);
	assert_memory_equal(ev[0].data, "StartupLocality\0\3", 17);
	assert_int_equal(ev[1].type, 0x0d);
	mlog_buf_free(&b);
	mlog_file_free(&t->f);
}

static void
test_export_refused(void **state)
{
	_cleanup_(freep) struct tlog *t = malloc(sizeof(*t));
	struct mlog_buf b = {0};
	struct mlog_export_info info;

	(void)state;
	tlog_init(t);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "", "no section", 0);
	tlog_read(t);
	assert_int_equal(mlog_export(&t->f, MLOG_EXPORT_TCG, &b, &info), -EBADMSG);
	assert_int_equal(info.bad_seq, 1);
	mlog_buf_free(&b);
	mlog_file_free(&t->f);
}

static void
test_json_str(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{"plain", 5, "\"plain\""},
		{"q\"b\\", 4, "\"q\\\"b\\\\\""},
		{"nl\n\x01\x7f", 5, "\"nl\\n\\u0001\\u007f\""},
		{"\xc3\xa9", 2, "\"\xc3\xa9\""},                   /* é */
		{"\xc3", 1, "\"\\ufffd\""},                        /* truncated */
		{"\xc0\xaf", 2, "\"\\ufffd\\ufffd\""},             /* overlong */
		{"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""}, /* a surrogate */
		{"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""},   /* U+1F600 */
		{"a\0b", 3, "\"a\\u0000b\""},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct mlog_buf b = {0};

		mlog_buf_json_str(&b, cases[i].in, cases[i].len);
		assert_false(b.nomem);
		assert_int_equal(b.len, strlen(cases[i].out));
		assert_memory_equal(b.p, cases[i].out, b.len);
		mlog_buf_free(&b);
	}
}

static void
test_export_cel(void **state)
{
	_cleanup_(freep) struct tlog *t = malloc(sizeof(*t));
	struct mlog_buf b = {0};
	struct mlog_export_info info;
	uint8_t d[32];
	char hex[65], *s, *line, *save = NULL;
	size_t n = 0;

	(void)state;
	tlog_init(t);
	tlog_add(t, MLOG_SECTION, MLOG_REG_PCR, 16, banks2, 2, "", NULL, 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "/sys\"tem.slice\x01", "one", 0);
	tlog_add(t, MLOG_EVENT, MLOG_REG_PCR, 16, banks2, 2, "b", "two", 0);
	tlog_read(t);
	assert_int_equal(mlog_export(&t->f, MLOG_EXPORT_CEL_JSON, &b, &info), 0);
	assert_int_equal(info.n_events, 2);
	mlog_buf_put(&b, "", 1);
	s = (char *)b.p;
	assert_int_equal(s[0], 0x1e);
	assert_int_equal(s[b.len - 2], '\n');
	ossl_hash("sha256", "one", d);
	for (size_t i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	for (line = strtok_r(s, "\x1e", &save); line != NULL; line = strtok_r(NULL, "\x1e", &save)) {
		n++;
		assert_non_null(strstr(line, "\"pcr\":16,"));
		assert_non_null(strstr(line, "\"content_type\":\"systemd\""));
		assert_int_equal(line[strlen(line) - 1], '\n');
		assert_null(memchr(line, '\n', strlen(line) - 1));
		if (n == 1) {
			assert_memory_equal(line, "{\"recnum\":2,\"pcr\":16,", 21);
			assert_non_null(strstr(line, "{\"hashAlg\":\"sha256\",\"digest\":\""));
			assert_non_null(strstr(line, hex));
			assert_non_null(strstr(line, "\"stream\":\"/sys\\\"tem.slice\\u0001\""));
			assert_non_null(strstr(line, "\"tcgEventType\":\"EV_IPL\",\"data\":\"6f6e65\""));
			assert_non_null(strstr(line, "\"epoch\":\"5/0\"}}"));
		}
	}
	assert_int_equal(n, 2);
	mlog_buf_free(&b);
	mlog_file_free(&t->f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_export_tcg),
		cmocka_unit_test(test_export_locality),
		cmocka_unit_test(test_export_refused),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_export_cel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
