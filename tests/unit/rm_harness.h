/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rm_harness.h: the resource-manager unit tests' harness (test_rm.c,
 * test_rmsess.c): a fake TPM (fake_tpm.c), an RM over it driven the way
 * sched.c drives it (rm_begin, every RM_SEND to the TPM and its answer to
 * rm_resume, until RM_DONE; RM_WAIT as the scheduler parks, on a fake
 * clock), and builders
 * of the client commands the tests send.
 */
#ifndef TB_RM_HARNESS_H
#define TB_RM_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/wire.h"
#include "daemon/caps.h"
#include "daemon/rm.h"
#include "fake_tpm.h"

#define RC_H1 TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_1)                /* 0x000B018B */
#define RC_P1 TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_P | TPM2_RC_1)    /* 0x000B01CB */
#define RC_S1 TB_RM_RC(TPM2_RC_HANDLE | TPM2_RC_S | TPM2_RC_1)    /* 0x000B098B */
#define CONT TPMA_SESSION_CONTINUESESSION
#define RC_PARKED 0xDEAD0000u /* run(): the command waits for a session slot (pk_*) */

struct sess_use {
	uint32_t h;
	uint8_t attr;
};

extern struct fake_tpm tpm;
extern struct tpm_caps caps;
extern struct rm_params params;
extern struct rm *rm;
extern uint8_t rsp[TB_BUF_MAX];
extern size_t rsp_len;
extern uint8_t pk_cmd[TB_BUF_MAX];
extern size_t pk_len;
extern struct rm_step pk_step;
extern const struct sess_use pw;
extern uint8_t cmdbuf[TB_BUF_MAX];

/* The RM's clock in these tests (params.now_ns): time moves only when told. */
extern uint64_t clock_ns;
void clock_advance_ms(unsigned ms);

/* a new RM over tpm and caps with params (the old one freed) */
void rm_start(void);
int setup(void **state);
int teardown(void **state);
struct rm_conn *conn(uid_t uid);
int drive(int r, struct rm_conn *rc, struct rm_step *st);
/* run a client command: its response code (RC_PARKED: kept in pk_*) */
uint32_t run_step(struct rm_conn *rc, uint8_t *cmd, size_t len, struct rm_step *st);
uint32_t run_parked(struct rm_conn *rc);
uint32_t run(struct rm_conn *rc, uint8_t *cmd, size_t len);
void close_conn(struct rm_conn *rc);
/* a command: handles h[nh], sessions s[ns] (empty auths), parameters p[plen] */
size_t build(uint8_t *b, uint32_t cc, const uint32_t *h, unsigned nh, const struct sess_use *s,
	     unsigned ns, const void *p, size_t plen);
uint32_t h_of_rsp(void);
uint32_t create_primary(struct rm_conn *rc);
uint32_t load_rc(struct rm_conn *rc, uint32_t parent);
uint32_t load(struct rm_conn *rc, uint32_t parent);
uint32_t create(struct rm_conn *rc, uint32_t parent);
uint32_t read_public(struct rm_conn *rc, uint32_t h, uint32_t *id);
uint32_t id_of(struct rm_conn *rc, uint32_t h);
uint32_t vendor_id(struct rm_conn *rc, uint32_t h, uint32_t *id);
uint32_t start_session_rc(struct rm_conn *rc, bool policy);
uint32_t start_session(struct rm_conn *rc, bool policy);
uint32_t sign(struct rm_conn *rc, uint32_t key, uint32_t sess, uint8_t attr, bool fail);
uint32_t policy_cc(struct rm_conn *rc, uint32_t sess, uint32_t code);
uint32_t policy_digest(struct rm_conn *rc, uint32_t sess);
uint32_t ctx_save(struct rm_conn *rc, uint32_t h, uint8_t *blob, size_t *len);
uint32_t ctx_load(struct rm_conn *rc, const uint8_t *blob, size_t len, uint32_t *h);
uint32_t flush(struct rm_conn *rc, uint32_t h);
size_t getcap(struct rm_conn *rc, uint32_t prop, uint32_t count, uint32_t *out, bool *more);
bool swapped_out(struct rm_conn *rc, uint32_t h);
/* What `tpmbroker status` prints (status.c's rendering of rm_conn_handles() and
 * rm_abandoned_handles(), the same text and JSON) */
void describe_conn(struct rm_conn *rc, FILE *f, bool json);
void describe_abandoned(FILE *f, bool json);
struct rm_stats stats(void);

#endif
