/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * proto.h: the wire protocol between tpmbroker clients (the TCTI plugin,
 * the tpmbroker CLI) and tpmbrokerd over the Unix stream socket.
 * doc/protocol.md is the prose version of this file.
 *
 * Every message, both directions, is an 8-byte header then len bytes:
 *
 *   offset size field
 *   0      1    version   TB_PROTO_VERSION (1)
 *   1      1    type      enum tb_msg_type
 *   2      1    locality  TPM locality 0..4 for TB_MSG_COMMAND, else 0
 *   3      1    flags     per type; 0 unless stated
 *   4      4    len       payload length, big-endian, <= TB_PROTO_MAX_PAYLOAD
 *
 * The frame length is independent of the TPM header's size field, so the
 * daemon can tell a command that lies about its size from a short read and
 * answer it without losing the stream.  A frame whose version or type is
 * unknown, or whose len exceeds TB_PROTO_MAX_PAYLOAD, loses framing: the
 * daemon answers with a TB_MSG_RESPONSE carrying an RM-layer TPM error and
 * closes the connection.
 *
 * Exchanges:
 *   COMMAND  -> RESPONSE    payload: TPM command bytes / TPM response bytes.
 *                           One command in flight per connection; a second
 *                           one is not read until the first is answered.
 *   CANCEL   (no reply)     len 0. Cancels this connection's command: if it
 *                           is still queued it is answered with
 *                           0x000B0909 (RM layer | TPM_RC_CANCELED); if the
 *                           TPM is running it, the backend is asked to
 *                           cancel (when it can) and the TPM's answer is
 *                           returned as usual.
 *   STATUS   -> STATUS      admin query; flags bit 0: JSON instead of text,
 *                           bit 1: Prometheus text exposition format.
 *                           Reply payload: UTF-8 text.  Only root and the
 *                           daemon's own uid may ask; others get a
 *                           RESPONSE carrying TB_RC_DENIED.
 */
#ifndef TB_PROTO_H
#define TB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TB_PROTO_VERSION 1u
#define TB_PROTO_HDR_SIZE 8u
/* the largest TPM command/response we carry, and the largest status text */
#define TB_PROTO_MAX_PAYLOAD 8192u
#define TB_PROTO_MAX_STATUS (1u << 20)
/* the largest service request payload (measure: event data up to 64 KiB) */
#define TB_PROTO_MAX_REQUEST (65536u + 4096u)
/* the largest service reply payload */
#define TB_PROTO_MAX_REPLY (1u << 20)

enum tb_msg_type {
	TB_MSG_COMMAND = 1,
	TB_MSG_RESPONSE = 2,
	TB_MSG_CANCEL = 3,
	TB_MSG_STATUS = 4,
	TB_MSG_MEASURE = 5,
	TB_MSG_QUOTE = 6,
	TB_MSG_INSTANCE = 7,
};

/* a service request's type (MEASURE ..): the range framers and daemons accept */
#define TB_MSG_SERVICE_FIRST TB_MSG_MEASURE
#define TB_MSG_SERVICE_LAST TB_MSG_INSTANCE
static inline int
tb_msg_is_service(unsigned type)
{
	return type >= TB_MSG_SERVICE_FIRST && type <= TB_MSG_SERVICE_LAST;
}

#define TB_STATUS_FLAG_JSON 0x01u
/* Prometheus text exposition format (wins over JSON if both are set) */
#define TB_STATUS_FLAG_PROMETHEUS 0x02u

/*
 * Answer to an admin query (STATUS) from a peer that is not root and not
 * the daemon's uid: RM layer | TPM_RC_DISABLED (0x120), "the command is
 * disabled" -- the nearest TPM meaning for "not for you".
 */
#define TB_RC_DENIED 0x000B0120u

/* default socket when root; else $XDG_RUNTIME_DIR/tpmbroker.sock */
#define TB_SOCKET_DEFAULT_ROOT "/run/tpmbroker/tpmbroker.sock"
#define TB_SOCKET_NAME "tpmbroker.sock"
#define TB_SOCKET_ENV "TPMBROKER_SOCKET"

struct tb_msg_hdr {
	uint8_t version;
	uint8_t type;
	uint8_t locality;
	uint8_t flags;
	uint32_t len;
};

static inline void
tb_hdr_pack(uint8_t out[TB_PROTO_HDR_SIZE], const struct tb_msg_hdr *h)
{
	out[0] = h->version;
	out[1] = h->type;
	out[2] = h->locality;
	out[3] = h->flags;
	out[4] = (uint8_t)(h->len >> 24);
	out[5] = (uint8_t)(h->len >> 16);
	out[6] = (uint8_t)(h->len >> 8);
	out[7] = (uint8_t)h->len;
}

static inline void
tb_hdr_unpack(const uint8_t in[TB_PROTO_HDR_SIZE], struct tb_msg_hdr *h)
{
	h->version = in[0];
	h->type = in[1];
	h->locality = in[2];
	h->flags = in[3];
	h->len = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 | (uint32_t)in[6] << 8 | in[7];
}

/*
 * Resolve the socket path the way every program of the project does:
 * explicit (option / TCTI path=) if non-NULL and non-empty, else
 * $TPMBROKER_SOCKET, else the default for the caller's uid.
 * Returns 0 and writes into buf, or -ENAMETOOLONG.  A non-root user
 * without XDG_RUNTIME_DIR gets the root default.
 */
int tb_socket_path(const char *explicit_path, char *buf, size_t cap);

#endif
