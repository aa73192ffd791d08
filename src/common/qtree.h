/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * qtree.h: the hash tree of batched quotes (doc/protocol.md, "QUOTE").
 * One TPM2_Quote answers n concurrent requests: its qualifyingData is the
 * root of a SHA-256 Merkle tree over their nonces, and each client gets
 * its path from its nonce to that root.  The daemon builds the tree; the
 * CLI (verify-quote) and anybody else checks a path.  Exactly:
 *
 *   leaf   = SHA-256(0x00 || nonce)            nonce: its bytes, no length
 *   node   = SHA-256(0x01 || left || right)
 *   levels are built bottom up, pairing neighbours left to right in the
 *   order the requests came; the last node of a level with an odd count is
 *   promoted to the next level unchanged (not hashed, not duplicated)
 *   root   = the single node of the top level (n >= 2)
 *
 * A batch of one is no tree: qualifyingData is the nonce itself and the
 * path is empty, so an unbatched quote is an ordinary one (tpm2_checkquote
 * verifies it).  The prefixes keep a leaf from passing for a node and the
 * other way round (second preimages, as in RFC 6962).
 *
 * A path is the list of siblings from the leaf up, each with its side:
 *   u8 n (0..QTREE_MAX_DEPTH), then n x { u8 side, 32 bytes hash }
 *   side QTREE_SIB_LEFT (0): node = H(0x01 || sibling || current)
 *   side QTREE_SIB_RIGHT (1): node = H(0x01 || current || sibling)
 * A promoted level contributes no step.  That is also the --out-path file
 * of `tpmbroker quote`.
 *
 * No state, no I/O; OpenSSL's SHA-256.  Returns 0 or -errno.
 */
#ifndef TB_QTREE_H
#define TB_QTREE_H

#include <stddef.h>
#include <stdint.h>

#define QTREE_HASH_SIZE 32u
/* a batch is at most this big, so a path has at most QTREE_MAX_DEPTH steps */
#define QTREE_MAX_LEAVES 256u
#define QTREE_MAX_DEPTH 8u
/* a nonce, like TPM2B_DATA's digest, is at most 64 bytes */
#define QTREE_NONCE_MAX 64u
/* the encoded path's longest form */
#define QTREE_PATH_MAX (1u + QTREE_MAX_DEPTH * (1u + QTREE_HASH_SIZE))

enum qtree_side {
	QTREE_SIB_LEFT = 0,
	QTREE_SIB_RIGHT = 1,
};

struct qtree_step {
	uint8_t side; /* enum qtree_side */
	uint8_t hash[QTREE_HASH_SIZE];
};

struct qtree_path {
	unsigned n;
	struct qtree_step step[QTREE_MAX_DEPTH];
};

/* leaf = SHA-256(0x00 || nonce) */
int qtree_leaf(const uint8_t *nonce, size_t len, uint8_t ret[QTREE_HASH_SIZE]);

/*
 * The tree over n leaves (2..QTREE_MAX_LEAVES): its root, and if paths is
 * not NULL, paths[i] for every leaf i.  -EINVAL for n out of range, -ENOMEM.
 */
int qtree_build(const uint8_t (*leaves)[QTREE_HASH_SIZE], size_t n,
		uint8_t root[QTREE_HASH_SIZE], struct qtree_path *paths);

/*
 * Does path lead from nonce to qd (the quote's qualifyingData)?  An empty
 * path: qd must be the nonce itself.  0 yes, -EBADMSG no, -EINVAL bad path.
 */
int qtree_verify(const uint8_t *nonce, size_t nonce_len, const struct qtree_path *path,
		 const uint8_t *qd, size_t qd_len);

/* The encoded path in buf[0 .. return value), 0 if cap is too small. */
size_t qtree_path_encode(const struct qtree_path *path, uint8_t *buf, size_t cap);
/* Decode a path from buf (*used: bytes taken); -EBADMSG if malformed. */
int qtree_path_decode(const uint8_t *buf, size_t len, struct qtree_path *ret, size_t *used);

#endif
