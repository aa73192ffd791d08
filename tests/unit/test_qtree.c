/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_qtree.c: the hash tree of batched quotes (common/qtree.h) against a
 * recomputation written out by hand, every path of trees of 2..70 and 256
 * leaves, tampering of each part; the QUOTE payloads and tpm2-tools'
 * context files (common/qmsg.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "common/qmsg.h"
#include "common/qtree.h"

/* SHA-256(tag || a || b), independently of qtree.c */
static void
h2(uint8_t tag, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned n;

	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(md, &tag, 1), 1);
	assert_int_equal(EVP_DigestUpdate(md, a, a_len), 1);
	if (b_len > 0)
		assert_int_equal(EVP_DigestUpdate(md, b, b_len), 1);
	assert_int_equal(EVP_DigestFinal_ex(md, out, &n), 1);
	EVP_MD_CTX_free(md);
}

static void
nonce_of(unsigned i, uint8_t out[8])
{
	for (unsigned k = 0; k < 8; k++)
		out[k] = (uint8_t)(i * 31u + k);
}

static void
leaves_of(size_t n, uint8_t (*leaves)[32])
{
	uint8_t nonce[8];

	for (size_t i = 0; i < n; i++) {
		nonce_of((unsigned)i, nonce);
		assert_int_equal(qtree_leaf(nonce, sizeof(nonce), leaves[i]), 0);
	}
}

/* The documented hashing, spelled out for 2, 3 and 5 leaves (promotion, not duplication). */
static void
test_known_roots(void **state)
{
	uint8_t l[5][32], n01[32], n23[32], n0123[32], want[32], root[32], nonce[8];

	(void)state;
	for (unsigned i = 0; i < 5; i++) {
		nonce_of(i, nonce);
		h2(0x00, nonce, sizeof(nonce), NULL, 0, l[i]);
	}
	leaves_of(5, l + 0); /* the same, through qtree_leaf */
	for (unsigned i = 0; i < 5; i++) {
		nonce_of(i, nonce);
		h2(0x00, nonce, sizeof(nonce), NULL, 0, want);
		assert_memory_equal(l[i], want, 32);
	}
	h2(0x01, l[0], 32, l[1], 32, n01);
	assert_int_equal(qtree_build((const uint8_t(*)[32])l, 2, root, NULL), 0);
	assert_memory_equal(root, n01, 32);
	/* 3: the third leaf is promoted, then paired */
	h2(0x01, n01, 32, l[2], 32, want);
	assert_int_equal(qtree_build((const uint8_t(*)[32])l, 3, root, NULL), 0);
	assert_memory_equal(root, want, 32);
	/* 5: ((01)(23))(4) */
	h2(0x01, l[2], 32, l[3], 32, n23);
	h2(0x01, n01, 32, n23, 32, n0123);
	h2(0x01, n0123, 32, l[4], 32, want);
	assert_int_equal(qtree_build((const uint8_t(*)[32])l, 5, root, NULL), 0);
	assert_memory_equal(root, want, 32);
	/* no tree of 0, 1 or too many leaves */
	assert_int_equal(qtree_build((const uint8_t(*)[32])l, 1, root, NULL), -EINVAL);
	assert_int_equal(qtree_build((const uint8_t(*)[32])l, QTREE_MAX_LEAVES + 1, root, NULL),
			 -EINVAL);
}

static unsigned
ceil_log2(size_t n)
{
	unsigned d = 0;

	while (((size_t)1 << d) < n)
		d++;
	return d;
}

/* Every leaf's path leads to the root, and no other nonce's does. */
static void
check_tree(size_t n)
{
	uint8_t(*l)[32] = calloc(n, 32);
	struct qtree_path *paths = calloc(n, sizeof(*paths));
	uint8_t root[32], nonce[8], other[8];

	assert_non_null(l);
	assert_non_null(paths);
	leaves_of(n, l);
	assert_int_equal(qtree_build((const uint8_t(*)[32])l, n, root, paths), 0);
	for (size_t i = 0; i < n; i++) {
		nonce_of((unsigned)i, nonce);
		assert_true(paths[i].n <= ceil_log2(n));
		assert_int_equal(qtree_verify(nonce, sizeof(nonce), &paths[i], root, 32), 0);
		/* another leaf's nonce on this path */
		nonce_of((unsigned)((i + 1) % n), other);
		assert_int_equal(qtree_verify(other, sizeof(other), &paths[i], root, 32), -EBADMSG);
	}
	free(l);
	free(paths);
}

static void
test_all_paths(void **state)
{
	(void)state;
	for (size_t n = 2; n <= 70; n++)
		check_tree(n);
	check_tree(QTREE_MAX_LEAVES);
}

static void
test_tamper(void **state)
{
	uint8_t l[7][32], root[32], nonce[8], bad[32];
	struct qtree_path paths[7], p;

	(void)state;
	leaves_of(7, l);
	assert_int_equal(qtree_build((const uint8_t(*)[32])l, 7, root, paths), 0);
	nonce_of(2, nonce);
	assert_int_equal(qtree_verify(nonce, sizeof(nonce), &paths[2], root, 32), 0);
	/* the nonce, a bit of it */
	nonce[3] ^= 0x10;
	assert_int_equal(qtree_verify(nonce, sizeof(nonce), &paths[2], root, 32), -EBADMSG);
	nonce[3] ^= 0x10;
	/* a nonce one byte short: no length prefix, but a different leaf */
	assert_int_equal(qtree_verify(nonce, sizeof(nonce) - 1, &paths[2], root, 32), -EBADMSG);
	/* each sibling hash, each side */
	for (unsigned s = 0; s < paths[2].n; s++) {
		p = paths[2];
		p.step[s].hash[0] ^= 1;
		assert_int_equal(qtree_verify(nonce, sizeof(nonce), &p, root, 32), -EBADMSG);
		p = paths[2];
		p.step[s].side ^= 1;
		assert_int_equal(qtree_verify(nonce, sizeof(nonce), &p, root, 32), -EBADMSG);
		p = paths[2];
		p.step[s].side = 7;
		assert_int_equal(qtree_verify(nonce, sizeof(nonce), &p, root, 32), -EINVAL);
	}
	/* a step dropped */
	p = paths[2];
	p.n--;
	assert_int_equal(qtree_verify(nonce, sizeof(nonce), &p, root, 32), -EBADMSG);
	/* another root, a root of another length */
	memcpy(bad, root, 32);
	bad[31] ^= 0x80;
	assert_int_equal(qtree_verify(nonce, sizeof(nonce), &paths[2], bad, 32), -EBADMSG);
	assert_int_equal(qtree_verify(nonce, sizeof(nonce), &paths[2], root, 31), -EBADMSG);
	/* a leaf hash passed off as a nonce does not verify as the node above it */
	p = paths[2];
	assert_int_equal(qtree_verify(l[2], 32, &p, root, 32), -EBADMSG);
}

/* A batch of one: no path, qualifyingData is the nonce itself. */
static void
test_empty_path(void **state)
{
	struct qtree_path p = {0};
	uint8_t nonce[5] = {1, 2, 3, 4, 5}, qd[5] = {1, 2, 3, 4, 5};

	(void)state;
	assert_int_equal(qtree_verify(nonce, 5, &p, qd, 5), 0);
	qd[4] = 6;
	assert_int_equal(qtree_verify(nonce, 5, &p, qd, 5), -EBADMSG);
	assert_int_equal(qtree_verify(nonce, 5, &p, qd, 4), -EBADMSG);
	p.n = QTREE_MAX_DEPTH + 1;
	assert_int_equal(qtree_verify(nonce, 5, &p, qd, 5), -EINVAL);
}

static void
test_path_codec(void **state)
{
	uint8_t l[9][32], root[32], buf[QTREE_PATH_MAX + 4];
	struct qtree_path paths[9], back;
	size_t len, used;

	(void)state;
	leaves_of(9, l);
	assert_int_equal(qtree_build((const uint8_t(*)[32])l, 9, root, paths), 0);
	len = qtree_path_encode(&paths[8], buf, sizeof(buf));
	assert_int_equal(len, 1 + paths[8].n * 33u);
	assert_int_equal(qtree_path_decode(buf, len, &back, &used), 0);
	assert_int_equal(used, len);
	assert_int_equal(back.n, paths[8].n);
	assert_memory_equal(back.step, paths[8].step, back.n * sizeof(back.step[0]));
	/* too small a buffer, a short input, a bad side, too deep */
	assert_int_equal(qtree_path_encode(&paths[8], buf, len - 1), 0);
	assert_int_equal(qtree_path_decode(buf, len - 1, &back, &used), -EBADMSG);
	buf[1] = 2;
	assert_int_equal(qtree_path_decode(buf, len, &back, &used), -EBADMSG);
	buf[0] = QTREE_MAX_DEPTH + 1;
	assert_int_equal(qtree_path_decode(buf, sizeof(buf), &back, &used), -EBADMSG);
	assert_int_equal(qtree_path_decode(buf, 0, &back, &used), -EBADMSG);
}

static void
sample_req(struct qmsg_req *q)
{
	memset(q, 0, sizeof(*q));
	q->context.sequence = 7;
	q->context.savedHandle = 0x80000000;
	q->context.hierarchy = TPM2_RH_OWNER;
	q->context.contextBlob.size = 40;
	memset(q->context.contextBlob.buffer, 0xab, 40);
	assert_int_equal(qmsg_pcr_parse("sha256:0,1,16+sha1:0", &q->pcrs), 0);
	q->scheme.scheme = TPM2_ALG_NULL;
	q->nonce.size = 20;
	memset(q->nonce.buffer, 0x5a, 20);
}

static void
test_request(void **state)
{
	struct qmsg_req q, back;
	uint8_t buf[1024];
	size_t len;

	(void)state;
	sample_req(&q);
	len = qmsg_req_encode(&q, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(qmsg_req_decode(buf, len, &back), 0);
	assert_int_equal(back.ctx_len, 8 + 4 + 4 + 2 + 40);
	assert_int_equal(back.key_len, len - 2 - 20);
	assert_int_equal(back.nonce.size, 20);
	assert_int_equal(back.pcrs.count, 2);
	/* truncated anywhere, or a byte too many */
	for (size_t k = 0; k < len; k++)
		assert_int_equal(qmsg_req_decode(buf, k, &back), TPM2_RC_SIZE);
	assert_int_equal(qmsg_req_decode(buf, len + 1, &back), TPM2_RC_SIZE);
	/* a nonce of 0 or 65 bytes */
	q.nonce.size = 0;
	assert_int_equal(qmsg_req_encode(&q, buf, sizeof(buf)), 0);
	q.nonce.size = 1;
	len = qmsg_req_encode(&q, buf, sizeof(buf));
	buf[len - 2] = 0; /* the nonce's size field: 0 */
	assert_int_equal(qmsg_req_decode(buf, len - 1, &back), TPM2_RC_VALUE);
}

static void
test_context_file(void **state)
{
	uint8_t file[256], tpm_blob[40];
	TPMS_CONTEXT c;
	size_t off = 0, blob_at;

	(void)state;
	memset(tpm_blob, 0x11, sizeof(tpm_blob));
	tpm_blob[0] = 0x00;
	tpm_blob[1] = 0x20; /* an integrity digest's size: not ESYS-wrapped */
	assert_int_equal(Tss2_MU_UINT32_Marshal(0xBADCC0DE, file, sizeof(file), &off), 0);
	assert_int_equal(Tss2_MU_UINT32_Marshal(1, file, sizeof(file), &off), 0);
	assert_int_equal(Tss2_MU_UINT32_Marshal(TPM2_RH_OWNER, file, sizeof(file), &off), 0);
	assert_int_equal(Tss2_MU_UINT32_Marshal(0x80000000, file, sizeof(file), &off), 0);
	assert_int_equal(Tss2_MU_UINT64_Marshal(9, file, sizeof(file), &off), 0);
	blob_at = off;
	assert_int_equal(Tss2_MU_UINT16_Marshal(sizeof(tpm_blob), file, sizeof(file), &off), 0);
	memcpy(file + off, tpm_blob, sizeof(tpm_blob));
	off += sizeof(tpm_blob);
	assert_int_equal(qmsg_context_file_parse(file, off, &c), 0);
	assert_int_equal(c.hierarchy, TPM2_RH_OWNER);
	assert_int_equal(c.savedHandle, 0x80000000);
	assert_int_equal(c.sequence, 9);
	assert_int_equal(c.contextBlob.size, sizeof(tpm_blob));
	assert_int_equal(qmsg_context_file_parse(file, off - 1, &c), -EBADMSG);
	file[0] ^= 1;
	assert_int_equal(qmsg_context_file_parse(file, off, &c), -EBADMSG);
	file[0] ^= 1;
	/* ESYS's wrapping: u32 0, the TPM's blob, metadata */
	off = blob_at + 2;
	memset(file + off, 0, 4);
	off += 4;
	file[off++] = 0;
	file[off++] = sizeof(tpm_blob);
	memcpy(file + off, tpm_blob, sizeof(tpm_blob));
	off += sizeof(tpm_blob);
	memset(file + off, 0x77, 30); /* metadata */
	off += 30;
	file[blob_at] = 0;
	file[blob_at + 1] = (uint8_t)(off - blob_at - 2);
	assert_int_equal(qmsg_context_file_parse(file, off, &c), 0);
	assert_int_equal(c.contextBlob.size, sizeof(tpm_blob));
	assert_memory_equal(c.contextBlob.buffer, tpm_blob, sizeof(tpm_blob));
}

static void
test_pcr_parse(void **state)
{
	TPML_PCR_SELECTION s;

	(void)state;
	assert_int_equal(qmsg_pcr_parse("sha256:0,1,16+sha1:0", &s), 0);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.pcrSelections[0].hash, TPM2_ALG_SHA256);
	assert_int_equal(s.pcrSelections[0].sizeofSelect, 3);
	assert_int_equal(s.pcrSelections[0].pcrSelect[0], 0x03);
	assert_int_equal(s.pcrSelections[0].pcrSelect[2], 0x01);
	assert_int_equal(s.pcrSelections[1].hash, TPM2_ALG_SHA1);
	assert_int_equal(qmsg_pcr_parse("sha384:all", &s), 0);
	assert_int_equal(s.pcrSelections[0].pcrSelect[2], 0xff);
	assert_int_equal(qmsg_pcr_parse("sha256:24", &s), -EINVAL);
	assert_int_equal(qmsg_pcr_parse("sha256:1,", &s), -EINVAL);
	assert_int_equal(qmsg_pcr_parse("sha256:", &s), 0); /* no PCRs of that bank */
	assert_int_equal(qmsg_pcr_parse("md5:1", &s), -EINVAL);
	assert_int_equal(qmsg_pcr_parse("sha256:1+", &s), -EINVAL);
	assert_int_equal(qmsg_pcr_parse("", &s), -EINVAL);
	assert_int_equal(qmsg_pcr_parse("sha256", &s), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_roots),
		cmocka_unit_test(test_all_paths),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_empty_path),
		cmocka_unit_test(test_path_codec),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_context_file),
		cmocka_unit_test(test_pcr_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
