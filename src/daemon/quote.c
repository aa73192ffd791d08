/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * quote.c: batched quotes (quote.h).
 *
 * A request joins a waiting batch of the same key bytes (context, PCR
 * selection, scheme) and uid that has room, else starts one.  A batch is
 * open for --quote-window after its first request, then closed; a closed
 * batch waits for the TPM (one batch at a time) and still takes matching
 * requests until it starts, so while the TPM works the next batch fills
 * (group commit).  A full batch, or one asked for alone, is closed at once.
 *
 * batch       event                          next     action
 * OPEN        a matching request             OPEN     joins (full: CLOSED)
 * OPEN        its window is over             CLOSED
 * CLOSED      a matching request, room       CLOSED   joins
 * CLOSED      the TPM is free, its turn      LOAD     rm_conn of its uid; ContextLoad
 * LOAD        loaded                         QUOTE    Quote(handle, root or nonce)
 * LOAD        refused                        CLOSE    every request gets the TPM's rc
 * QUOTE       answered                       CLOSE    each request its reply (or the rc)
 * CLOSE       the rm_conn is closed          -        the key flushed; next batch
 *
 * A client that leaves meanwhile: its request's owner is NULL, its answer
 * only frees it (svc_reply); a batch whose clients have all left before it
 * starts is dropped without TPM work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <tss2/tss2_mu.h>

#include "../common/log.h"
#include "../common/qmsg.h"
#include "../common/qtree.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "caps.h"
#include "instance.h"
#include "job.h"
#include "loop.h"
#include "policy.h"
#include "quote.h"
#include "rm.h"
#include "sched.h"
#include "service.h"
#include "tpmcmd.h"

struct quote_item {
	struct svc_req *req; /* owned until answered */
	uint8_t nonce[QTREE_NONCE_MAX];
	uint16_t nonce_len;
	TAILQ_ENTRY(quote_item) entry;
};
TAILQ_HEAD(item_q, quote_item);

struct quote_batch {
	uint8_t *key;        /* the payload before the nonce: context, PCRs, scheme; owned */
	size_t key_len;
	size_t ctx_len;      /* the marshalled TPMS_CONTEXT at key[0 ..) */
	TPML_PCR_SELECTION pcrs;
	TPMT_SIG_SCHEME scheme;
	struct rm_peer peer; /* the first requester's; limits from its profile */
	uint64_t owner_key;  /* job.h: the uid's share of the TPM */
	unsigned weight;
	enum job_prio prio;
	bool alone;          /* QMSG_FLAG_ALONE: nobody joins */
	bool closed;         /* its window is over: waits for the TPM */
	uint64_t deadline_ns;
	unsigned n;
	struct item_q items; /* owned */
	TAILQ_ENTRY(quote_batch) entry;
};
TAILQ_HEAD(batch_q, quote_batch);

enum quote_step { QS_IDLE, QS_LOAD, QS_QUOTE, QS_CLOSE };

struct quote_svc {
	struct loop *loop;          /* not owned */
	struct rm *rm;              /* not owned */
	struct sched *sched;        /* not owned */
	const struct tpm_caps *caps; /* not owned */
	struct quote_params p;
	struct batch_q waiting;     /* open and closed batches, oldest first; owned */
	struct quote_batch *cur;    /* the one at the TPM; owned */
	struct qtree_path *paths;   /* cur's, one per request (n >= 2); owned */
	enum quote_step step;
	struct rm_conn *rmc;        /* cur's connection in the RM; the RM frees it at close */
	struct job job;
	struct loop_timer timer;    /* the first open batch's window */
	struct quote_stats st;
	uint8_t cmd[TB_BUF_MAX];
	uint8_t rsp[TB_BUF_MAX];
	uint8_t out[TB_BUF_MAX];    /* a reply body */
};

static void quote_kick(struct quote_svc *qs);

static void
batch_free(struct quote_batch *b)
{
	struct quote_item *it;

	if (b == NULL)
		return;
	while ((it = TAILQ_FIRST(&b->items)) != NULL) {
		TAILQ_REMOVE(&b->items, it, entry);
		if (it->req != NULL)
			svc_reply(it->req, TB_RM_RC(TPM2_RC_CANCELED), NULL, 0);
		free(it);
	}
	free(b->key);
	free(b);
}

/* Every request of b gets rc and nothing else. */
static void
batch_fail(struct quote_batch *b, uint32_t rc)
{
	struct quote_item *it;

	TAILQ_FOREACH(it, &b->items, entry) {
		svc_reply(it->req, rc, NULL, 0);
		it->req = NULL;
	}
}

/* ---- the batch at the TPM ---- */

static void quote_job_done(struct job *j, int r);

static void
quote_submit(struct quote_svc *qs, enum quote_step step, size_t cmd_len)
{
	struct quote_batch *b = qs->cur;

	job_init(&qs->job, step == QS_CLOSE ? JOB_CLOSE : JOB_COMMAND, quote_job_done, qs);
	qs->job.rmc = qs->rmc;
	qs->job.cmd = qs->cmd;
	qs->job.cmd_len = cmd_len;
	qs->job.rsp = step == QS_CLOSE ? NULL : qs->rsp;
	qs->job.rsp_cap = sizeof(qs->rsp);
	qs->job.owner_key = b->owner_key;
	qs->job.weight = b->weight;
	qs->job.prio = b->prio;
	qs->step = step;
	/* the close frees the key's slot that others may wait for: ahead, as a connection's */
	if (step == QS_CLOSE)
		sched_submit_first(qs->sched, &qs->job);
	else
		sched_submit(qs->sched, &qs->job);
}

/* TPM2_Quote(handle) with an empty password, qualifyingData qd. */
static size_t
quote_build(struct quote_svc *qs, uint32_t handle, const uint8_t *qd, size_t qd_len)
{
	struct quote_batch *b = qs->cur;
	TPM2B_DATA data = {.size = (uint16_t)qd_len};
	TPMS_AUTH_COMMAND auth = {.sessionHandle = TPM2_RS_PW};
	size_t off = TPM_HDR_SIZE, cap = sizeof(qs->cmd);
	uint8_t *buf = qs->cmd;

	memcpy(data.buffer, qd, qd_len);
	if (Tss2_MU_UINT32_Marshal(handle, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT32_Marshal(9, buf, cap, &off) != TSS2_RC_SUCCESS || /* the auth area */
	    Tss2_MU_TPMS_AUTH_COMMAND_Marshal(&auth, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_DATA_Marshal(&data, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPMT_SIG_SCHEME_Marshal(&b->scheme, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPML_PCR_SELECTION_Marshal(&b->pcrs, buf, cap, &off) != TSS2_RC_SUCCESS)
		return 0;
	wire_hdr_put(buf, TPM2_ST_SESSIONS, (uint32_t)off, TPM2_CC_Quote);
	return off;
}

/* The key is loaded as handle: quote the root of the nonces' tree, or the one nonce. */
static int
quote_send_quote(struct quote_svc *qs, uint32_t handle)
{
	struct quote_batch *b = qs->cur;
	uint8_t(*leaves)[QTREE_HASH_SIZE];
	uint8_t root[QTREE_HASH_SIZE];
	struct quote_item *it;
	size_t i = 0, len;
	int r;

	if (b->n == 1) {
		it = TAILQ_FIRST(&b->items);
		len = quote_build(qs, handle, it->nonce, it->nonce_len);
	} else {
		if ((leaves = calloc(b->n, QTREE_HASH_SIZE)) == NULL ||
		    (qs->paths = calloc(b->n, sizeof(*qs->paths))) == NULL) {
			free(leaves);
			return -ENOMEM;
		}
		TAILQ_FOREACH(it, &b->items, entry) {
			if ((r = qtree_leaf(it->nonce, it->nonce_len, leaves[i++])) < 0) {
				free(leaves);
				return r;
			}
		}
		r = qtree_build((const uint8_t(*)[QTREE_HASH_SIZE])leaves, b->n, root, qs->paths);
		free(leaves);
		if (r < 0)
			return r;
		len = quote_build(qs, handle, root, sizeof(root));
	}
	if (len == 0)
		return -ENOBUFS;
	quote_submit(qs, QS_QUOTE, len);
	return 0;
}

/* The TPM's quote: every request gets it, the signature and its path. */
static void
quote_answer(struct quote_svc *qs, const uint8_t *rsp, size_t len)
{
	struct quote_batch *b = qs->cur;
	struct qmsg_reply q = {.batch = (uint16_t)b->n};
	struct quote_item *it;
	size_t off = TPM_HDR_SIZE, n;
	uint32_t param_size;

	if (Tss2_MU_UINT32_Unmarshal(rsp, len, &off, &param_size) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_ATTEST_Unmarshal(rsp, len, &off, &q.quoted) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPMT_SIGNATURE_Unmarshal(rsp, len, &off, &q.sig) != TSS2_RC_SUCCESS) {
		log_warnx("quote: the TPM's answer to TPM2_Quote does not parse");
		batch_fail(b, TB_RM_RC(TPM2_RC_FAILURE));
		return;
	}
	TAILQ_FOREACH(it, &b->items, entry) {
		if (b->n > 1)
			q.path = qs->paths[q.index];
		else
			q.path.n = 0;
		if ((n = qmsg_reply_encode(&q, qs->out, sizeof(qs->out))) == 0)
			svc_reply(it->req, TB_RM_RC(TPM2_RC_SIZE), NULL, 0);
		else
			svc_reply(it->req, 0, qs->out, n);
		it->req = NULL;
		q.index++;
	}
}

/* The batch is answered (or failed): release the key, then the next batch. */
static void
quote_close(struct quote_svc *qs)
{
	quote_submit(qs, QS_CLOSE, 0);
}

static void
quote_job_done(struct job *j, int r)
{
	struct quote_svc *qs = j->data;
	struct quote_batch *b = qs->cur;
	uint32_t rc = r < 0 ? TB_RM_RC(TPM2_RC_FAILURE) : wire_response_rc(qs->rsp, j->rsp_len);

	switch (qs->step) {
	case QS_LOAD:
		if (r < 0)
			log_errno(LOG_LVL_WARN, -r, "quote: ContextLoad");
		if (rc == TPM2_RC_SUCCESS && j->rsp_len >= TPM_HDR_SIZE + 4 &&
		    (r = quote_send_quote(qs, get_be32(qs->rsp + TPM_HDR_SIZE))) == 0)
			return;
		if (rc == TPM2_RC_SUCCESS) {
			log_errno(LOG_LVL_WARN, r < 0 ? -r : EBADMSG, "quote: TPM2_Quote");
			rc = TB_RM_RC(TPM2_RC_FAILURE);
		}
		log_debug("quote: the key of a batch of %u did not load: 0x%08x", b->n, rc);
		qs->st.failed++;
		batch_fail(b, rc);
		quote_close(qs);
		return;
	case QS_QUOTE:
		if (j->reached_tpm)
			qs->st.tpm_quotes++;
		if (r < 0)
			log_errno(LOG_LVL_WARN, -r, "quote: TPM2_Quote");
		if (rc == TPM2_RC_SUCCESS) {
			quote_answer(qs, qs->rsp, j->rsp_len);
		} else {
			qs->st.failed++;
			batch_fail(b, rc);
		}
		quote_close(qs);
		return;
	case QS_CLOSE:
		if (r < 0)
			log_errno(LOG_LVL_WARN, -r, "quote: releasing the key");
		qs->rmc = NULL; /* freed by the RM */
		qs->cur = NULL;
		qs->step = QS_IDLE;
		free(qs->paths);
		qs->paths = NULL;
		batch_free(b);
		quote_kick(qs);
		return;
	case QS_IDLE:
	default:
		fatal(0, "quote: a job done with no batch at the TPM");
	}
}

/* Drop the requests whose clients left; false if none is left. */
static bool
batch_prune(struct quote_batch *b)
{
	struct quote_item *it, *next;

	for (it = TAILQ_FIRST(&b->items); it != NULL; it = next) {
		next = TAILQ_NEXT(it, entry);
		if (it->req->owner != NULL)
			continue;
		TAILQ_REMOVE(&b->items, it, entry);
		svc_reply(it->req, TB_RM_RC(TPM2_RC_CANCELED), NULL, 0); /* only frees it */
		free(it);
		b->n--;
	}
	return b->n > 0;
}

/* The TPM is free: the oldest closed batch goes to it. */
static void
quote_kick(struct quote_svc *qs)
{
	struct quote_batch *b;
	size_t len;
	int r;

	while (qs->cur == NULL) {
		TAILQ_FOREACH(b, &qs->waiting, entry)
			if (b->closed)
				break;
		if (b == NULL)
			return;
		TAILQ_REMOVE(&qs->waiting, b, entry);
		if (!batch_prune(b)) {
			batch_free(b);
			continue;
		}
		qs->st.batches++;
		qs->st.batch_max = MAX(qs->st.batch_max, b->n);
		if ((r = rm_conn_new(qs->rm, &b->peer, &qs->rmc)) < 0 ||
		    (len = tpmcmd_context_load(qs->cmd, sizeof(qs->cmd), b->key, b->ctx_len)) == 0) {
			log_errno(LOG_LVL_WARN, r < 0 ? -r : ENOBUFS, "quote: a batch of %u", b->n);
			batch_fail(b, TB_RM_RC(r == -ENOMEM ? TPM2_RC_MEMORY : TPM2_RC_FAILURE));
			if (qs->rmc != NULL) {
				qs->cur = b;
				quote_close(qs);
				return;
			}
			batch_free(b);
			continue;
		}
		log_debug("quote: a batch of %u request(s) for uid %d", b->n, (int)b->peer.uid);
		qs->cur = b;
		quote_submit(qs, QS_LOAD, len);
	}
}

/* ---- windows ---- */

static void quote_window_over(struct loop_timer *t);

static void
quote_arm(struct quote_svc *qs)
{
	uint64_t first = UINT64_MAX, now = now_ns();
	struct quote_batch *b;

	TAILQ_FOREACH(b, &qs->waiting, entry)
		if (!b->closed)
			first = MIN(first, b->deadline_ns);
	if (first == UINT64_MAX)
		loop_timer_disarm(qs->loop, &qs->timer);
	else
		loop_timer_arm(qs->loop, &qs->timer, first > now ? first - now : 0,
			       quote_window_over, qs);
}

static void
quote_window_over(struct loop_timer *t)
{
	struct quote_svc *qs = t->data;
	uint64_t now = now_ns();
	struct quote_batch *b;

	TAILQ_FOREACH(b, &qs->waiting, entry)
		if (b->deadline_ns <= now + 100000u) /* due within 0.1 ms: now */
			b->closed = true;
	quote_arm(qs);
	quote_kick(qs);
}

/* ---- requests ---- */

/* A waiting batch r may join, or NULL. */
static struct quote_batch *
batch_find(struct quote_svc *qs, const struct svc_req *r, const struct qmsg_req *q, uid_t uid)
{
	struct quote_batch *b;

	if (r->flags & QMSG_FLAG_ALONE)
		return NULL;
	TAILQ_FOREACH(b, &qs->waiting, entry) {
		if (!b->alone && b->n < qs->p.max_batch && b->peer.uid == uid &&
		    b->key_len == q->key_len && memcmp(b->key, r->data, q->key_len) == 0)
			return b;
	}
	return NULL;
}

static struct quote_batch *
batch_new(struct quote_svc *qs, const struct svc_req *r, const struct qmsg_req *q, uid_t uid)
{
	struct quote_batch *b = calloc(1, sizeof(*b));
	const struct peer_id *peer = &r->peer;

	if (b == NULL || (b->key = malloc(q->key_len)) == NULL) {
		free(b);
		return NULL;
	}
	memcpy(b->key, r->data, q->key_len);
	b->key_len = q->key_len;
	b->ctx_len = q->ctx_len;
	b->pcrs = q->pcrs;
	b->scheme = q->scheme;
	b->peer = (struct rm_peer){.uid = uid,
				   .gid = peer->uid_known ? peer->gid : (gid_t)-1,
				   .pid = peer->pid,
				   .has_limits = true};
	snprintf(b->peer.cgroup, sizeof(b->peer.cgroup), "%s", peer->cgroup);
	rm_limits_from_profile(r->profile, &b->peer.limits);
	b->owner_key = peer->uid_known ? JOB_KEY_UID(peer->uid) : JOB_KEY_HOST;
	b->weight = r->profile != NULL ? r->profile->weight : 1;
	b->prio = r->profile != NULL ? (enum job_prio)r->profile->priority : JOB_PRIO_NORMAL;
	b->alone = (r->flags & QMSG_FLAG_ALONE) != 0;
	b->deadline_ns = now_ns() + (uint64_t)qs->p.window_ms * 1000000u;
	b->closed = b->alone || qs->p.window_ms == 0 || qs->p.max_batch <= 1;
	TAILQ_INIT(&b->items);
	TAILQ_INSERT_TAIL(&qs->waiting, b, entry);
	return b;
}

/*
 * May r's profile send the commands the batch runs for it?  0, or the
 * rc a raw command would get.  (Its FlushContext is the RM's own, at close.)
 */
static uint32_t
quote_allowed(struct quote_svc *qs, const struct svc_req *r, const struct qmsg_req *q)
{
	size_t len;
	uint32_t rc;

	len = tpmcmd_context_load(qs->out, sizeof(qs->out), r->data, q->ctx_len);
	if (len == 0)
		return TB_RM_RC(TPM2_RC_SIZE);
	if ((rc = policy_check(r->profile, qs->out, len, 0,
			       caps_find(qs->caps, TPM2_CC_ContextLoad))) != 0)
		return rc;
	/* a Quote of the request's own nonce by a transient key: what the batch sends */
	{
		uint8_t cmd[64];
		size_t off = TPM_HDR_SIZE;

		if (Tss2_MU_UINT32_Marshal(TPM2_TRANSIENT_FIRST, cmd, sizeof(cmd), &off) !=
			    TSS2_RC_SUCCESS ||
		    Tss2_MU_UINT32_Marshal(0, cmd, sizeof(cmd), &off) != TSS2_RC_SUCCESS)
			return TB_RM_RC(TPM2_RC_FAILURE);
		wire_hdr_put(cmd, TPM2_ST_SESSIONS, (uint32_t)off, TPM2_CC_Quote);
		return policy_check(r->profile, cmd, off, 0, caps_find(qs->caps, TPM2_CC_Quote));
	}
}

void
quote_handle(struct server *srv, struct svc_req *r)
{
	struct quote_svc *qs = r->inst != NULL ? r->inst->quote : NULL;
	uid_t uid = r->peer.uid_known ? r->peer.uid : (uid_t)-1;
	struct quote_batch *b;
	struct quote_item *it;
	struct qmsg_req q;
	uint32_t rc;

	(void)srv;
	if (qs == NULL) {
		svc_reply(r, TB_RM_RC(TPM2_RC_COMMAND_CODE), NULL, 0);
		return;
	}
	qs->st.requests++;
	if ((rc = qmsg_req_decode(r->data, r->len, &q)) != 0)
		rc = TB_RM_RC(rc);
	else if ((q.context.savedHandle >> TPM2_HR_SHIFT) != TPM2_HT_TRANSIENT)
		rc = TB_RM_RC(TPM2_RC_HANDLE); /* a session's context, or garbage */
	else
		rc = quote_allowed(qs, r, &q);
	if (rc != 0) {
		log_debug("conn %llu: quote request refused: 0x%08x", (unsigned long long)r->conn_id,
			  rc);
		qs->st.refused++;
		svc_reply(r, rc, NULL, 0);
		return;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    ((b = batch_find(qs, r, &q, uid)) == NULL && (b = batch_new(qs, r, &q, uid)) == NULL)) {
		free(it);
		qs->st.refused++;
		svc_reply(r, TB_RM_RC(TPM2_RC_MEMORY), NULL, 0);
		return;
	}
	it->req = r;
	memcpy(it->nonce, q.nonce.buffer, q.nonce.size);
	it->nonce_len = q.nonce.size;
	TAILQ_INSERT_TAIL(&b->items, it, entry);
	if (++b->n >= qs->p.max_batch)
		b->closed = true;
	quote_arm(qs);
	quote_kick(qs);
}

/* ---- life ---- */

static void
quote_clamp(struct quote_params *p)
{
	if (p->max_batch < 1)
		p->max_batch = 1;
	if (p->max_batch > QTREE_MAX_LEAVES)
		p->max_batch = QTREE_MAX_LEAVES;
}

int
quote_new(struct loop *loop, struct rm *rm, struct sched *sched, const struct tpm_caps *caps,
	  const struct quote_params *p, struct quote_svc **ret)
{
	struct quote_svc *qs = calloc(1, sizeof(*qs));

	if (qs == NULL)
		return -ENOMEM;
	qs->loop = loop;
	qs->rm = rm;
	qs->sched = sched;
	qs->caps = caps;
	qs->p = *p;
	quote_clamp(&qs->p);
	TAILQ_INIT(&qs->waiting);
	job_init(&qs->job, JOB_COMMAND, quote_job_done, qs);
	*ret = qs;
	return 0;
}

void
quote_free(struct quote_svc *qs)
{
	struct quote_batch *b;

	if (qs == NULL)
		return;
	loop_timer_disarm(qs->loop, &qs->timer);
	if (qs->job.state == JOB_QUEUED || qs->job.state == JOB_PARKED)
		sched_forget(qs->sched, &qs->job);
	/* an rm_conn still open is freed with the RM */
	while ((b = TAILQ_FIRST(&qs->waiting)) != NULL) {
		TAILQ_REMOVE(&qs->waiting, b, entry);
		batch_free(b);
	}
	batch_free(qs->cur);
	free(qs->paths);
	free(qs);
}

void
quote_set_params(struct quote_svc *qs, const struct quote_params *p)
{
	qs->p = *p;
	quote_clamp(&qs->p);
}

void
quote_get_stats(const struct quote_svc *qs, struct quote_stats *ret)
{
	*ret = qs->st;
}
