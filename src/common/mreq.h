/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mreq.h: the MEASURE service request (proto.h TB_MSG_MEASURE) and its
 * reply, shared by the daemon (src/daemon/measure.c), the CLI
 * (tpmbroker measure) and the TCTI plugin (Tss2_Tcti_Tpmbroker_Measure).
 * No libcrypto: the daemon hashes.  doc/protocol.md has the prose.
 *
 * Request payload, every integer big-endian:
 *   0   1  version      MREQ_VERSION (1)
 *   1   1  reg_type     enum mlog_reg_type: 0 PCR, 1 RTMR
 *   2   2  flags        MREQ_F_*
 *   4   4  reg          register index (PCR 0..23, RTMR 0..3)
 *   8   4  event_type   TCG event type (EV_IPL 0x0d is the clients' default)
 *   12  2  stream length, then the stream (UTF-8, no NUL; <= 255 bytes)
 *       2  description length, then the description (<= 1024 bytes)
 *       4  data length, then the data (<= 65536 bytes): what is hashed
 * Nothing may follow.
 *
 * Reply body on success (rc 0), 16 bytes:
 *   0   8  seq          the event's record number in the log
 *   8   4  reset_count  the TPM's boot epoch the event was logged in
 *   12  4  restart_count
 * With MREQ_F_RESET_SECTION the reply's seq is the last SECTION record written.
 */
#ifndef TB_MREQ_H
#define TB_MREQ_H

#include <stddef.h>
#include <stdint.h>

#define MREQ_VERSION 1u
#define MREQ_HDR_SIZE 12u
#define MREQ_REPLY_SIZE 16u
#define MREQ_MAX_STREAM 255u
#define MREQ_MAX_DESC 1024u
#define MREQ_MAX_DATA 65536u
#define MREQ_EV_IPL 0x0du /* EV_IPL: the default event type of the CLI and the C call */

/* the request names a stream (honoured for profiles with measure-admin only) */
#define MREQ_F_STREAM 0x0001u
/*
 * Not a measurement: the admin action on an inconsistent register (a new
 * section whose base is the register's value now); no data.
 */
#define MREQ_F_RESET_SECTION 0x0002u
#define MREQ_F_ALL (MREQ_F_STREAM | MREQ_F_RESET_SECTION)

/*
 * The broker's refusals (TPM format, resource-manager layer 0x000B....):
 *   0x000B0095  RC_SIZE         malformed request (lengths, version, flags)
 *   0x000B0084  RC_VALUE        the register is not one the broker manages
 *   0x000B0120  RC_DISABLED     not allowed to this peer (a stream name or
 *                               --reset-section without measure-admin)
 *   0x000B0128  RC_PCR_CHANGED  the register does not match its log
 *                               (inconsistent): refused until an admin acts
 *   0x000B014B  RC_NV_SPACE     the log cannot grow (disk full, quota)
 *   0x000B0101  RC_FAILURE      the log cannot be written (I/O error) or the
 *                               register's extend failed
 *   0x000B0923  RC_NV_UNAVAILABLE  the log could not be opened at start
 *   0x000B0143  RC_COMMAND_CODE    measurement is off (--measure-log=none)
 * A TPM error of the extend itself comes back in the TPM's own layer.
 */
#define MREQ_RC_MALFORMED 0x000B0095u
#define MREQ_RC_NOT_MANAGED 0x000B0084u
#define MREQ_RC_DENIED 0x000B0120u
#define MREQ_RC_INCONSISTENT 0x000B0128u
#define MREQ_RC_DISK_FULL 0x000B014Bu
#define MREQ_RC_IO 0x000B0101u
#define MREQ_RC_NO_LOG 0x000B0923u
#define MREQ_RC_OFF 0x000B0143u

struct mreq {
	uint8_t reg_type;
	uint16_t flags;
	uint32_t reg;
	uint32_t event_type;
	const char *stream; /* NULL or stream_len bytes */
	size_t stream_len;
	const char *desc;
	size_t desc_len;
	const uint8_t *data;
	size_t data_len;
};

/* The encoded size of q (0: a field over its limit). */
size_t mreq_size(const struct mreq *q);
/* Encode q into out[0..cap); its length in *len.  -EINVAL, -ENOSPC. */
int mreq_encode(const struct mreq *q, uint8_t *out, size_t cap, size_t *len);
/* Decode buf[0..len) (pointers into buf): 0 or -EBADMSG. */
int mreq_decode(const uint8_t *buf, size_t len, struct mreq *q);

struct mreq_reply {
	uint64_t seq;
	uint32_t reset_count, restart_count;
};
void mreq_reply_put(const struct mreq_reply *r, uint8_t out[MREQ_REPLY_SIZE]);
/* 0 or -EBADMSG (not MREQ_REPLY_SIZE bytes). */
int mreq_reply_get(const uint8_t *buf, size_t len, struct mreq_reply *r);

#endif
