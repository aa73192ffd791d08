/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * framer.h: one wire protocol of a frontend.  A framer turns the bytes a
 * client sends into events (a TPM command, a cancel, a status request, an
 * answer of its own, an error) and frames the responses; conn.c does the
 * reading, writing and state, the same for every protocol.
 *
 * Adding a frontend: one framer_*.c with a const struct framer, a line in
 * framers[] (framer.c), and the listen spec that names it (config.c).
 *
 * Reading a frame (conn.c):
 *   1. read hdr_min bytes of header; call parse()
 *   2. FRAME_MORE: read until want header bytes are in; parse() again
 *   3. FRAME_COMMAND: read want bytes of payload: the TPM command
 *   4. anything else: act on it; the header is consumed
 * While the connection's command is in the scheduler, a framer with
 * busy_reads reads headers too; parse() with busy set answers FRAME_WAIT
 * for anything but a cancel, and the header waits until the command is
 * answered.
 */
#ifndef TB_FRAMER_H
#define TB_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* the largest header before a payload (mssim: signal + locality + size) */
#define FRAMER_HDR_MAX 16u
/* the most a framer adds around a response (head + tail) */
#define FRAMER_WRAP_MAX 12u

enum frame_kind {
	FRAME_MORE,    /* want: header bytes in all, more than now */
	FRAME_COMMAND, /* want: the TPM command's length, which follows; locality */
	FRAME_CANCEL,  /* cancel this connection's command */
	FRAME_STATUS,  /* the daemon's status (json: as JSON) */
	FRAME_REPLY,   /* send raw[0..raw_len) as it is (acks, handshakes) */
	FRAME_ERROR,   /* answer rc as a TPM response; close after it if close */
	FRAME_END,     /* the client ends its session: close */
	FRAME_WAIT,    /* busy: leave this header until the command is answered */
	FRAME_SERVICE, /* want: the request's length, which follows; signal: its type */
};

struct frame {
	enum frame_kind kind;
	size_t want;
	uint8_t locality;
	uint8_t status_fmt; /* FRAME_STATUS: enum status_format */
	uint8_t flags;      /* FRAME_SERVICE: the request's flags */
	bool close;
	uint32_t rc;
	uint8_t raw[12];
	size_t raw_len;
	uint32_t signal; /* the protocol's message code, for logs */
	bool hdr_in_cmd; /* FRAME_COMMAND: the header read so far begins the command */
	const struct framer *switch_to; /* from now on the connection speaks this */
};

struct framer {
	const char *name;  /* "unix", "mssim", "mssim-platform": logs and status */
	bool tcp;          /* TCP_NODELAY, and TCP_QUICKACK as the client writes */
	bool busy_reads;   /* headers are read while a command is in progress */
	bool peer_creds;   /* SO_PEERCRED identifies the peer (Unix sockets) */
	size_t hdr_min;    /* header bytes to read first */
	size_t rsp_head;   /* bytes in front of a TPM response */
	/* Decide on the hdr_len header bytes in hdr (hdr_len >= hdr_min). */
	void (*parse)(const uint8_t *hdr, size_t hdr_len, bool busy, struct frame *ret);
	/*
	 * Frame a TPM response of len bytes at out + rsp_head: write the head
	 * in front and any tail after it; return the frame's whole length.
	 */
	size_t (*wrap)(uint8_t *out, size_t len);
	/* Frame status text the same way (NULL: the protocol has no status). */
	size_t (*wrap_status)(uint8_t *out, size_t len);
	/* Frame a service reply of type (NULL: the protocol has no services). */
	size_t (*wrap_service)(uint8_t *out, size_t len, uint8_t type);
};

extern const struct framer framer_tb;
extern const struct framer framer_mssim_tpm;
extern const struct framer framer_mssim_platform;
extern const struct framer framer_raw;

/* The simulator protocol's response frame: size (u32), response, 0 (u32). */
size_t framer_mssim_wrap(uint8_t *out, size_t len);

/* A framer by name ("unix", "mssim", "mssim-platform"), or NULL. */
const struct framer *framer_find(const char *name);

#endif
