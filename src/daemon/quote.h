/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * quote.h: batched quotes, the QUOTE service (service.h; the payloads in
 * common/qmsg.h, the tree in common/qtree.h).  Requests for the same key
 * (context blob), PCR selection and scheme, from the same uid, that arrive
 * within a short window are answered by one TPM2_Quote whose
 * qualifyingData is the root of a hash tree over their nonces; a batch of
 * one is an ordinary quote of the nonce.
 *
 * The TPM work runs as the requesting user's own commands through the
 * resource manager (an rm_conn per batch, JOB_COMMAND jobs on the
 * instance's scheduler): ContextLoad, Quote with an empty password, then
 * the rm_conn's close flushes the key.  So the RM counts the key's slot
 * (evicting others' contexts if need be), the key's blob loads only for
 * the uid it is bound to (rmbind.c), the user's quotas apply and the TPM
 * time is charged to that user's share, exactly as if the client had sent
 * the commands itself.  One batch is at the TPM at a time per instance.
 */
#ifndef TB_QUOTE_H
#define TB_QUOTE_H

#include <stdint.h>

struct loop;
struct rm;
struct tpm_caps;
struct sched;
struct server;
struct svc_req;
struct quote_svc;

struct quote_params {
	unsigned window_ms; /* a batch collects requests this long after its first; 0: none */
	unsigned max_batch; /* 1..QTREE_MAX_LEAVES; 1: every request is quoted alone */
};
#define QUOTE_WINDOW_MS_DEFAULT 5u
#define QUOTE_MAX_BATCH_DEFAULT 64u

struct quote_stats {
	uint64_t requests;   /* QUOTE requests received */
	uint64_t refused;    /* answered by the broker alone: malformed, denied */
	uint64_t batches;    /* batches formed */
	uint64_t tpm_quotes; /* TPM2_Quote commands sent */
	uint64_t failed;     /* batches the TPM failed (ContextLoad or Quote) */
	unsigned batch_max;  /* the largest batch so far */
};

/* loop, rm, sched and caps are not owned and outlive the service. */
int quote_new(struct loop *loop, struct rm *rm, struct sched *sched, const struct tpm_caps *caps,
	      const struct quote_params *p, struct quote_svc **ret);
/* Requests still waiting are dropped (their connections are gone by now). */
void quote_free(struct quote_svc *qs);
/* New window and batch size (SIGHUP), for batches formed from now on. */
void quote_set_params(struct quote_svc *qs, const struct quote_params *p);
void quote_get_stats(const struct quote_svc *qs, struct quote_stats *ret);

/* The service's handler (service.c: svc_types[]). */
void quote_handle(struct server *srv, struct svc_req *r);

#endif
