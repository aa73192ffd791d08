/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * qtree.c: the hash tree of batched quotes (qtree.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "qtree.h"

static int
sha256_parts(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, const uint8_t *c,
	     size_t c_len, uint8_t ret[QTREE_HASH_SIZE])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned n = 0;
	int ok;

	if (md == NULL)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, a, a_len) == 1 && (b_len == 0 || EVP_DigestUpdate(md, b, b_len) == 1) &&
	     (c_len == 0 || EVP_DigestUpdate(md, c, c_len) == 1) &&
	     EVP_DigestFinal_ex(md, ret, &n) == 1 && n == QTREE_HASH_SIZE;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -EIO;
}

int
qtree_leaf(const uint8_t *nonce, size_t len, uint8_t ret[QTREE_HASH_SIZE])
{
	static const uint8_t leaf_tag = 0x00;

	return sha256_parts(&leaf_tag, 1, nonce, len, NULL, 0, ret);
}

static int
qtree_node(const uint8_t left[QTREE_HASH_SIZE], const uint8_t right[QTREE_HASH_SIZE],
	   uint8_t ret[QTREE_HASH_SIZE])
{
	static const uint8_t node_tag = 0x01;

	return sha256_parts(&node_tag, 1, left, QTREE_HASH_SIZE, right, QTREE_HASH_SIZE, ret);
}

int
qtree_build(const uint8_t (*leaves)[QTREE_HASH_SIZE], size_t n, uint8_t root[QTREE_HASH_SIZE],
	    struct qtree_path *paths)
{
	uint8_t(*level)[QTREE_HASH_SIZE];
	size_t *pos = NULL; /* each leaf's node on the current level */
	size_t width = n;
	int r = 0;

	if (n < 2 || n > QTREE_MAX_LEAVES)
		return -EINVAL;
	level = calloc(n, QTREE_HASH_SIZE);
	pos = calloc(n, sizeof(*pos));
	if (level == NULL || pos == NULL) {
		free(level);
		free(pos);
		return -ENOMEM;
	}
	memcpy(level, leaves, n * QTREE_HASH_SIZE);
	for (size_t i = 0; i < n; i++) {
		pos[i] = i;
		if (paths != NULL)
			paths[i].n = 0;
	}
	while (width > 1 && r == 0) {
		/* the siblings of every leaf's node, before the level is overwritten */
		for (size_t i = 0; paths != NULL && i < n; i++) {
			size_t p = pos[i], sib = p ^ 1u;
			struct qtree_step *st;

			if (sib >= width)
				continue; /* promoted: no step */
			st = &paths[i].step[paths[i].n++];
			st->side = (p & 1u) ? QTREE_SIB_LEFT : QTREE_SIB_RIGHT;
			memcpy(st->hash, level[sib], QTREE_HASH_SIZE);
		}
		for (size_t k = 0; k < width / 2 && r == 0; k++)
			r = qtree_node(level[2 * k], level[2 * k + 1], level[k]);
		if (width % 2 == 1)
			memmove(level[width / 2], level[width - 1], QTREE_HASH_SIZE);
		width = (width + 1) / 2;
		for (size_t i = 0; i < n; i++)
			pos[i] /= 2;
	}
	if (r == 0)
		memcpy(root, level[0], QTREE_HASH_SIZE);
	free(level);
	free(pos);
	return r;
}

int
qtree_verify(const uint8_t *nonce, size_t nonce_len, const struct qtree_path *path,
	     const uint8_t *qd, size_t qd_len)
{
	uint8_t cur[QTREE_HASH_SIZE];
	int r;

	if (path->n > QTREE_MAX_DEPTH)
		return -EINVAL;
	if (path->n == 0)
		return qd_len == nonce_len && CRYPTO_memcmp(qd, nonce, nonce_len) == 0 ? 0
											 : -EBADMSG;
	if ((r = qtree_leaf(nonce, nonce_len, cur)) < 0)
		return r;
	for (unsigned i = 0; i < path->n; i++) {
		const struct qtree_step *st = &path->step[i];

		if (st->side == QTREE_SIB_LEFT)
			r = qtree_node(st->hash, cur, cur);
		else if (st->side == QTREE_SIB_RIGHT)
			r = qtree_node(cur, st->hash, cur);
		else
			return -EINVAL;
		if (r < 0)
			return r;
	}
	return qd_len == QTREE_HASH_SIZE && CRYPTO_memcmp(qd, cur, QTREE_HASH_SIZE) == 0 ? 0
											 : -EBADMSG;
}

size_t
qtree_path_encode(const struct qtree_path *path, uint8_t *buf, size_t cap)
{
	size_t need = 1 + (size_t)path->n * (1 + QTREE_HASH_SIZE), off = 1;

	if (path->n > QTREE_MAX_DEPTH || cap < need)
		return 0;
	buf[0] = (uint8_t)path->n;
	for (unsigned i = 0; i < path->n; i++) {
		buf[off++] = path->step[i].side;
		memcpy(buf + off, path->step[i].hash, QTREE_HASH_SIZE);
		off += QTREE_HASH_SIZE;
	}
	return need;
}

int
qtree_path_decode(const uint8_t *buf, size_t len, struct qtree_path *ret, size_t *used)
{
	size_t off = 1;

	if (len < 1 || buf[0] > QTREE_MAX_DEPTH || len < 1 + (size_t)buf[0] * (1 + QTREE_HASH_SIZE))
		return -EBADMSG;
	ret->n = buf[0];
	for (unsigned i = 0; i < ret->n; i++) {
		if (buf[off] != QTREE_SIB_LEFT && buf[off] != QTREE_SIB_RIGHT)
			return -EBADMSG;
		ret->step[i].side = buf[off++];
		memcpy(ret->step[i].hash, buf + off, QTREE_HASH_SIZE);
		off += QTREE_HASH_SIZE;
	}
	*used = off;
	return 0;
}
