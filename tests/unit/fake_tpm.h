/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fake_tpm.h: a small TPM for the resource manager's unit tests.  It keeps
 * real slot limits (3 objects, 3 loaded sessions, 64 active sessions by
 * default), hands out physical handles the way the reference TPM does
 * (0x80000000 + slot, 0x02/0x03000000 + session index), checks contexts on
 * ContextLoad (a session context loads once; object contexts die with their
 * hierarchy on Clear), and records every command it is sent.
 *
 * Objects carry an id and a mutable counter (sequence objects: the updates
 * so far), both inside their saved context, so a test can tell which object
 * a command reached and whether a stale context was loaded.
 */
#ifndef TB_FAKE_TPM_H
#define TB_FAKE_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/caps.h"
#include "daemon/handles.h"

#define FAKE_OBJ_MAX 8
#define FAKE_SESS_MAX 64
#define FAKE_LOG_MAX 8192
#define FAKE_PERSISTENT 0x81000001u
#define FAKE_VENDOR_CC 0x20000001u /* vendor command: cHandles 1, echoes the object's id */
#define FAKE_SIGN_FAIL 0xEEu       /* first parameter byte of Sign: fail the command */

struct fake_obj {
	bool used;
	bool sequence;
	uint32_t id;
	uint32_t count; /* sequence updates so far */
	uint32_t gen;   /* hierarchy generation it belongs to */
};

enum fake_sess_state { FS_NONE, FS_LOADED, FS_SAVED };

struct fake_sess {
	enum fake_sess_state state;
	bool policy;
	uint64_t seq;    /* context sequence when saved */
	uint32_t digest; /* policy digest stand-in */
	uint32_t uses;   /* commands authorized */
};

struct fake_log {
	uint32_t cc;
	uint32_t h;  /* first handle or handle parameter, 0 if none */
	uint32_t rc; /* what the fake answered */
};

struct fake_tpm {
	unsigned obj_slots;   /* enforced */
	unsigned sess_slots;  /* loaded sessions, enforced */
	unsigned active_max;  /* active sessions, enforced */
	bool seq_unsaveable;  /* ContextSave of sequence objects fails */
	bool unstarted;       /* power-cycled: anything but TPM2_Startup gets TPM_RC_INITIALIZE */
	uint32_t startup_rc;  /* not 0: TPM2_Startup answers this (and leaves it unstarted) */
	uint32_t inject_rc;   /* answer the next inject_n non-context commands with this */
	unsigned inject_n;
	struct fake_obj obj[FAKE_OBJ_MAX];
	struct fake_sess sess[FAKE_SESS_MAX];
	uint32_t next_id;
	uint64_t ctx_seq;     /* object contexts */
	uint64_t sess_seq;    /* session contexts (the TPM's contextCounter) */
	uint32_t gap_max;     /* 0: no context gap enforced; else TPM_RC_CONTEXT_GAP */
	uint32_t gen;
	struct fake_log log[FAKE_LOG_MAX];
	size_t n_log;
};

void fake_tpm_init(struct fake_tpm *f);
/* Run one command; returns the response length. */
size_t fake_tpm_run(struct fake_tpm *f, const uint8_t *cmd, size_t len, uint8_t *rsp,
		    size_t cap);
/* Commands with code cc recorded since index from. */
unsigned fake_count(const struct fake_tpm *f, size_t from, uint32_t cc);
/* Responses with code rc recorded since index from. */
unsigned fake_count_rc(const struct fake_tpm *f, size_t from, uint32_t rc);
unsigned fake_objects_loaded(const struct fake_tpm *f);
unsigned fake_sessions(const struct fake_tpm *f, enum fake_sess_state st);

/* The TPMA_CC table of the fake (sorted), for struct tpm_caps. */
extern TPMA_CC fake_cc_table[];
extern const size_t fake_cc_count;
void fake_caps(struct tpm_caps *caps);

#endif
