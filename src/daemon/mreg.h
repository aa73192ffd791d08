/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mreg.h: measurement registers as an interface, for log-first measurement
 * (measure.h).  A register is extended and read either through TPM
 * commands the daemon runs as its own jobs (a TPM PCR: PCR_Extend with
 * every bank's digest, PCR_Read) or directly (a TDX RTMR: the sha384
 * digest written to a file, as the kernel's sysfs/configfs-tsm RTMR
 * interface takes it).  measure.c only asks "does it have commands, or
 * does it extend at once?".
 *
 * The RTMR here is a stand-in: a plain file opened O_WRONLY|O_APPEND, each
 * extend one write() of 48 bytes; its "value" is read back by folding the
 * file's digests from zeros, which is what the register would hold.  On a
 * TDX guest the same file would be the kernel's
 * /sys/class/misc/tdx_guest/measurements/rtmrN:sha384 (write extends; the
 * value is read from that file instead of folded: mreg_rtmr_read).
 */
#ifndef TB_MREG_H
#define TB_MREG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/mlog.h"

struct backend;
struct mreg;

#define MREG_MAX 8      /* managed registers per instance: PCRs and RTMRs together */
#define MREG_PATH_MAX 256
#define MREG_RTMR_COUNT 4

struct mreg_ops {
	const char *name; /* "PCR", "RTMR" */
	uint8_t type;     /* enum mlog_reg_type */
	/*
	 * Registers behind the TPM: the command that extends r by d[0..n)
	 * (one digest per bank, r->algs' order) / reads r's banks, into buf:
	 * its length, 0 if it does not fit.  NULL for direct registers.
	 */
	size_t (*extend_cmd)(const struct mreg *r, const struct mlog_digest *d, size_t n,
			     uint8_t *buf, size_t cap);
	size_t (*read_cmd)(const struct mreg *r, uint8_t *buf, size_t cap);
	/* the answer to read_cmd: r's value in each bank. 0, -EIO (TPM error), -EBADMSG */
	int (*read_parse)(const struct mreg *r, const uint8_t *rsp, size_t len,
			  struct mlog_digest *out);
	/* Direct registers: extend and read now.  0 or -errno.  NULL for TPM registers. */
	int (*extend)(struct mreg *r, const struct mlog_digest *d, size_t n);
	int (*read)(struct mreg *r, struct mlog_digest *out);
};

extern const struct mreg_ops mreg_pcr_ops;
extern const struct mreg_ops mreg_rtmr_ops;

/* One managed register. */
struct mreg {
	const struct mreg_ops *ops;
	uint32_t index;
	uint16_t algs[MLOG_MAX_BANKS]; /* the banks it is extended in */
	size_t n_algs;
	int fd;                        /* RTMR: the file; owned; -1 for a PCR */
	char path[MREG_PATH_MAX];      /* RTMR: the file's path */
	/* the log-first state (measure.c) */
	bool inconsistent;             /* the register does not match its log: refused */
	char why[160];                 /* ... why (status, logs) */
	uint64_t events;               /* measured since start */
	uint64_t refused;              /* requests refused because inconsistent */
};

/* Open a RTMR stand-in's file: 0 or -errno. */
int mreg_rtmr_open(struct mreg *r, uint32_t index, const char *path);
void mreg_close(struct mreg *r);

/* "PCR 23", "RTMR 2" */
const char *mreg_label(const struct mreg *r, char *buf, size_t cap);

/* Synchronous use at start-up (recovery): through be_transact for TPM registers. */
int mreg_read_sync(struct mreg *r, struct backend *be, struct mlog_digest *out);
int mreg_extend_sync(struct mreg *r, struct backend *be, const struct mlog_digest *d, size_t n);

/*
 * The TPM's commands the service runs besides: ReadClock (the boot epoch)
 * and GetCapability(TPM_CAP_PCRS) (the active banks).
 */
size_t mreg_read_clock_cmd(uint8_t *buf, size_t cap);
/* 0 and the epoch, -EIO (a TPM error), -EBADMSG */
int mreg_read_clock_parse(const uint8_t *rsp, size_t len, uint32_t *reset_count,
			  uint32_t *restart_count);
/* The banks in which PCR index is allocated (and whose hash we know), in the TPM's order. */
int mreg_pcr_banks(struct backend *be, uint32_t index, uint16_t *algs, size_t *n);

#endif
