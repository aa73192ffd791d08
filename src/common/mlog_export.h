/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mlog_export.h: the measurement log (mlog.h) in the formats attestation
 * tools read.  Both carry the PCR events of the current epoch only (what
 * the PCRs hold now); RTMR records are not PCR events and are left out.
 *
 * TCG: the TCG PC Client crypto-agile binary event log (PC Client Platform
 * Firmware Profile, "Crypto Agile Log Entry Format"), little-endian:
 *   Spec ID Event03: TCG_PCClientPCREvent { PCRIndex 0, EV_NO_ACTION,
 *     20 zero bytes, EventSize, TCG_EfiSpecIdEvent { "Spec ID Event03\0",
 *     platformClass 0, version 2.0, errata 0, uintnSize 2,
 *     numberOfAlgorithms, { algorithmId, digestSize }..., vendorInfoSize 0 } }
 *   [StartupLocality: an EV_NO_ACTION of PCR 0 when PCR 0's section base
 *     is 0...0L, L 1..4, as a TPM started at locality L leaves it]
 *   TCG_PCR_EVENT2 per EVENT: { PCRIndex, EventType, TPML_DIGEST_VALUES
 *     { count, { hashAlg, digest }... in the Spec ID's bank order },
 *     EventSize, Event = the record's data }
 * A TCG log replays from zero (PCR 0 from its locality), so a register
 * whose section began elsewhere (PCR 17-22 after a reset, firmware's
 * measurements) replays differently: reported in info->nonzero_base.
 *
 * CEL-JSON: systemd's userspace measurement log (/run/log/systemd/
 * tpm2-measure.log) with the record numbers of the TCG Canonical Event
 * Log added: one record per EVENT as an RFC 7464 JSON text sequence
 * (0x1E, the object, '\n'):
 *   {"recnum":SEQ,"pcr":N,"digests":[{"hashAlg":"sha256","digest":"HEX"},...],
 *    "content_type":"systemd","content":{"string":DESCRIPTION,"stream":S,
 *    "tcgEventType":"EV_IPL","data":"HEX","uid":U,"pid":P,"timeNs":T,
 *    "epoch":"RESET/RESTART"}}
 * recnum is the log's seq (increasing, with gaps where sections are).
 * The TCG event type goes in "tcgEventType", not systemd's "eventType",
 * whose values are systemd's own ("phase", "machine-id", ...).
 */
#ifndef TB_MLOG_EXPORT_H
#define TB_MLOG_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mlog.h"

/* a growing output buffer; a failed allocation sticks (checked once, at the end) */
struct mlog_buf {
	uint8_t *p; /* owned */
	size_t len, cap;
	bool nomem;
};

void mlog_buf_put(struct mlog_buf *b, const void *p, size_t n);
void mlog_buf_printf(struct mlog_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mlog_buf_hex(struct mlog_buf *b, const uint8_t *p, size_t n);
/* a JSON string: quoted, escaped; bytes that are not UTF-8 become U+FFFD */
void mlog_buf_json_str(struct mlog_buf *b, const char *s, size_t n);
void mlog_buf_free(struct mlog_buf *b);

enum mlog_export_format {
	MLOG_EXPORT_TCG,
	MLOG_EXPORT_CEL_JSON,
};

struct mlog_export_info {
	uint64_t n_events;       /* records written */
	uint64_t n_rtmr_skipped; /* RTMR events of the epoch left out */
	uint64_t n_no_action;    /* EVENTs typed EV_NO_ACTION: extended, but a TCG replay skips them */
	bool startup_locality;   /* the TCG log begins with a StartupLocality event */
	uint32_t nonzero_base;   /* bit N: PCR N's section base is not what a TCG replay starts from */
	uint16_t banks[MLOG_MAX_BANKS]; /* the Spec ID's banks */
	size_t n_banks;
	uint64_t bad_seq;        /* export refused: this record breaks mlog_replay.h's rules */
	const char *bad_why;
};

/*
 * Export the current epoch of f into out (appended).  0; -EBADMSG when the
 * epoch breaks the replay rules (info->bad_*: its TCG log would not
 * replay); -ENOMEM; -EINVAL (a hash OpenSSL lacks).
 */
int mlog_export(const struct mlog_file *f, enum mlog_export_format fmt, struct mlog_buf *out,
		struct mlog_export_info *info);

#endif
