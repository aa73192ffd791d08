/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mlog.h: tpmbroker's measurement log, the write-ahead log of log-first
 * measurement (src/daemon/measure.h).  One file per TPM instance in the
 * state directory (default /var/lib/tpmbroker/measure.log).  The daemon
 * appends records and fdatasyncs them BEFORE it extends the register, so a
 * register is never ahead of the durable log.  The CLI reads it (show,
 * verify, export as a TCG PC Client log or a Canonical Event Log).
 *
 * Locking: a reader takes a shared flock(2) on the file while it reads; the
 * daemon an exclusive one while it appends (and holds the file open all the
 * time; a second daemon on the same log is refused by a separate lock file,
 * see measure.c).
 *
 * File layout; every integer is big-endian:
 *
 *   header (MLOG_HDR_SIZE = 32 bytes)
 *     0   8  magic        "TBMLOG\r\n"
 *     8   4  version      MLOG_VERSION (1)
 *     12  4  header size  32
 *     16 16  reserved     zero
 *   records, back to back, each:
 *     0   4  magic        MLOG_REC_MAGIC ("TBMR")
 *     4   4  len          the whole record, magic to check inclusive
 *     8   8  seq          record number: 1, 2, 3 ... without gaps
 *     16  4  reset_count  the TPM's resetCount when it was written  } the boot
 *     20  4  restart_count                                          } epoch
 *     24  8  time         CLOCK_REALTIME, ns since the Unix epoch
 *     32  1  kind         enum mlog_kind
 *     33  1  reg_type     enum mlog_reg_type
 *     34  2  n_digests    1..MLOG_MAX_BANKS
 *     36  4  reg          register index (PCR 0..23, RTMR 0..3)
 *     40  4  event_type   TCG event type (EV_*; MLOG_SECTION: EV_NO_ACTION)
 *     44  4  uid          the writer's uid ((uint32_t)-1 unknown)
 *     48  4  pid          the writer's pid (0 unknown)
 *     52     digests      n_digests x { u16 hashAlg (TPM2_ALG_*), u16 size, size bytes }
 *            stream       u16 length, bytes (UTF-8, no NUL): the writer's stream
 *            description  u16 length, bytes (UTF-8, no NUL)
 *            data         u32 length, bytes: the event data that was hashed
 *     len-8  8  check      the first 8 bytes of SHA-256 over bytes [0, len-8)
 *
 * A record whose magic, len (< MLOG_REC_MIN or > MLOG_REC_MAX, or past the
 * end of the file) or check is wrong ends the valid log: everything from
 * it on is a torn tail (a crash during the append), cut at recovery.
 *
 * Kinds:
 *   MLOG_EVENT    a measurement: digests[b] = hash of data in bank b; the
 *                 register was (or is about to be) extended by exactly these.
 *   MLOG_SECTION  a new boot epoch (reset_count/restart_count changed):
 *                 digests[b] = the register's value in bank b when the
 *                 section began (zero after a TPM reset; what firmware left
 *                 if it measured into it first).  One per managed register,
 *                 before that register's first event in the epoch.  Replay
 *                 of a register starts from its section's values.
 *
 * Replay: for each register, in seq order within the last section,
 *   value[b] = H_b(value[b] || digest[b])           (as TPM2_PCR_Extend)
 * A stream's virtual register (per register and bank): the same fold over
 * that stream's events only, starting from zeros (not the section's base):
 *   v[b] = 0...0 (size of H_b); for each event of the stream: v[b] = H_b(v[b] || digest[b])
 * so a verifier recomputes it from the stream's events alone.
 */
#ifndef TB_MLOG_H
#define TB_MLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MLOG_MAGIC "TBMLOG\r\n"
#define MLOG_VERSION 1u
#define MLOG_HDR_SIZE 32u
#define MLOG_REC_MAGIC 0x54424d52u /* "TBMR" */
#define MLOG_CHECK_SIZE 8u
#define MLOG_MAX_BANKS 5u          /* sha1, sha256, sha384, sha512, sm3_256 */
#define MLOG_MAX_DIGEST 64u
#define MLOG_MAX_STREAM 255u
#define MLOG_MAX_DESC 1024u
#define MLOG_MAX_DATA 65536u
#define MLOG_REC_MIN (52u + 4u + 2u + 2u + 4u + MLOG_CHECK_SIZE) /* one empty digest */
#define MLOG_REC_MAX                                                                       \
	(52u + MLOG_MAX_BANKS * (4u + MLOG_MAX_DIGEST) + 2u + MLOG_MAX_STREAM + 2u +        \
	 MLOG_MAX_DESC + 4u + MLOG_MAX_DATA + MLOG_CHECK_SIZE)

enum mlog_kind {
	MLOG_EVENT = 1,
	MLOG_SECTION = 2,
};

enum mlog_reg_type {
	MLOG_REG_PCR = 0,  /* a TPM PCR, extended with TPM2_PCR_Extend */
	MLOG_REG_RTMR = 1, /* a TDX RTMR (sha384 only), extended through a file */
};

struct mlog_digest {
	uint16_t alg;  /* TPM2_ALG_SHA1, ... */
	uint16_t size; /* bytes in d */
	uint8_t d[MLOG_MAX_DIGEST];
};

/* One record, decoded; stream, desc and data point into the buffer decoded from. */
struct mlog_rec {
	uint64_t seq;
	uint32_t reset_count, restart_count;
	uint64_t time_ns;
	uint8_t kind;     /* enum mlog_kind */
	uint8_t reg_type; /* enum mlog_reg_type */
	uint32_t reg;
	uint32_t event_type;
	uint32_t uid, pid;
	struct mlog_digest dig[MLOG_MAX_BANKS];
	size_t n_dig;
	const char *stream;
	size_t stream_len;
	const char *desc;
	size_t desc_len;
	const uint8_t *data;
	size_t data_len;
};

/* The file header, to write at offset 0 of a new log. */
void mlog_header_put(uint8_t out[MLOG_HDR_SIZE]);
/* 0 if buf holds a header of ours, -EBADMSG if not, -ENODATA if too short. */
int mlog_header_check(const uint8_t *buf, size_t len);

/* The size mlog_rec_encode() will need for r (0: r is not valid). */
size_t mlog_rec_size(const struct mlog_rec *r);
/* Encode r (check included) into out[0..cap); its length in *len.  -EINVAL, -ENOSPC. */
int mlog_rec_encode(const struct mlog_rec *r, uint8_t *out, size_t cap, size_t *len);
/*
 * Decode the record at buf[0..len): 0 and its length in *used, or
 * -EBADMSG (not a whole, valid record: a torn tail or damage).
 */
int mlog_rec_decode(const uint8_t *buf, size_t len, struct mlog_rec *r, size_t *used);

/* A whole log read into memory (under a shared flock, released after reading). */
struct mlog_file {
	uint8_t *buf;      /* owned */
	size_t size;       /* bytes read */
	size_t valid_end;  /* offset past the last valid record (== size: no torn tail) */
	uint64_t n_records;
	uint64_t last_seq; /* 0: no records */
	bool seq_gap;      /* records out of sequence (damage, not a torn tail) */
};
/* Read and scan the log at path.  -ENOENT, -EBADMSG (no header of ours), -errno. */
int mlog_read_file(const char *path, struct mlog_file *f);
/* Read and scan from an open fd (the daemon at recovery; no lock taken). */
int mlog_read_fd(int fd, struct mlog_file *f);
/* Iterate: *off starts at 0 (the header is skipped); 1 a record, 0 the end. */
int mlog_next(const struct mlog_file *f, size_t *off, struct mlog_rec *r);
void mlog_file_free(struct mlog_file *f);

/* Size of a bank's digest (0: not a hash we know), and its OpenSSL name. */
size_t mlog_alg_size(uint16_t alg);
const char *mlog_alg_name(uint16_t alg); /* "sha256" */
/* d[i] = H_alg(data) for each of the n algorithms in algs (OpenSSL). */
int mlog_hash(const uint16_t *algs, size_t n, const void *data, size_t len,
	      struct mlog_digest *d);
/* v = H_v.alg(v || e) (TPM2_PCR_Extend's fold); -EINVAL if the algs differ. */
int mlog_fold(struct mlog_digest *v, const struct mlog_digest *e);

#endif
