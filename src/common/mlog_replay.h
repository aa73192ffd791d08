/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mlog_replay.h: what the readers of the measurement log (mlog.h) compute
 * from it: the current boot epoch, each register's replayed value per bank
 * (from its SECTION's base values), and a stream's virtual registers (the
 * fold from zeros over that stream's own events).  No I/O: the CLI reads the
 * file (mlog_read_file) and the TPM; the fuzz target runs this on any bytes.
 *
 * The rules a log must keep, checked here (the first record that breaks one
 * is reported in bad_seq/bad_why, and the replay stops there):
 *   - register index: PCR 0..23, RTMR 0..3
 *   - every digest's algorithm is a hash we know, of its size
 *   - an EVENT comes after its register's SECTION in the epoch, with exactly
 *     the section's banks (none missing, none added)
 * A later SECTION of a register in the same epoch (an admin's
 * `tpmbroker measure --reset-section` after an inconsistency) starts its
 * replay again from that section's values, as the daemon's recovery does;
 * n_sections counts them.  A stream's virtual registers ignore sections:
 * they fold the stream's events of the whole epoch.
 */
#ifndef TB_MLOG_REPLAY_H
#define TB_MLOG_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mlog.h"

#define MLOG_PCRS 24u
#define MLOG_RTMRS 4u
#define MLOG_MAX_REGS (MLOG_PCRS + MLOG_RTMRS)

/* one register's replay; banks in the order of its SECTION (or first event) */
struct mlog_reg {
	uint8_t reg_type; /* enum mlog_reg_type */
	uint32_t reg;
	struct mlog_digest v[MLOG_MAX_BANKS];    /* the replayed value */
	struct mlog_digest base[MLOG_MAX_BANKS]; /* the section's (zeros for a stream) */
	size_t n_banks;
	bool has_section;
	uint32_t n_sections; /* > 1: the replay restarted at the last one */
	bool base_nonzero; /* the section's base values are not all zero */
	uint64_t n_events;       /* folded in since the last section */
	uint64_t section_seq;    /* the last section's record (0: none) */
	uint64_t last_seq;       /* the last event folded in (0: none) */
};

struct mlog_replay {
	bool have_epoch; /* the log holds at least one record */
	uint32_t reset_count, restart_count; /* the current (last) epoch */
	size_t epoch_off;                     /* its first record's offset */
	uint64_t epoch_first_seq;
	uint64_t n_epoch_records;
	struct mlog_reg regs[MLOG_MAX_REGS]; /* in order of first appearance */
	size_t n_regs;
	uint64_t bad_seq;    /* 0: the epoch keeps the rules */
	const char *bad_why; /* static text, when bad_seq != 0 */
};

/*
 * Replay the current epoch of f.  stream NULL: the real registers, from
 * their sections.  Else the virtual registers of that stream (stream_len
 * bytes): only its events, from zeros, sections ignored.  0, or -EINVAL
 * (a hash OpenSSL cannot compute).
 */
int mlog_replay(const struct mlog_file *f, const char *stream, size_t stream_len,
		struct mlog_replay *out);

/* The register's slot in rp, or NULL. */
const struct mlog_reg *mlog_replay_find(const struct mlog_replay *rp, uint8_t reg_type,
					uint32_t reg);

/* "pcr" / "rtmr" */
const char *mlog_reg_type_name(uint8_t reg_type);
/* "EV_IPL", or NULL for a type we have no name for */
const char *mlog_event_type_name(uint32_t type);

/*
 * The log of the daemon on socket (NULL: the default socket), as the daemon
 * picks it without --measure-log: a daemon on another socket than the
 * default one keeps SOCKET.measure.log; else measure.log in the state
 * directory: $STATE_DIRECTORY, /var/lib/tpmbroker as root, else
 * $XDG_STATE_HOME/tpmbroker or ~/.local/state/tpmbroker.
 * 0, -ENOENT (no home), -ENAMETOOLONG.
 */
int mlog_default_path(const char *socket, char *buf, size_t cap);

#endif
