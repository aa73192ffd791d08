/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * service.c: dispatch of service requests (service.h) to their services.
 */
#include <stdlib.h>

#include <tss2/tss2_tpm2_types.h>

#include "../common/log.h"
#include "../common/proto.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "quote.h"
#include "measure.h"
#include "service.h"
#include "supervise.h"

struct svc_type {
	const char *name;
	svc_fn fn; /* NULL: this daemon does not offer it */
};

static struct svc_type svc_types[TB_MSG_SERVICE_LAST + 1] = {
	[TB_MSG_MEASURE] = {"measure", measure_service},
	[TB_MSG_QUOTE] = {"quote", quote_handle},
	[TB_MSG_INSTANCE] = {"instance", sup_service},
};

const char *
svc_name(uint8_t type)
{
	if (!tb_msg_is_service(type) || svc_types[type].name == NULL)
		return "?";
	return svc_types[type].name;
}

svc_fn
svc_set_handler(uint8_t type, svc_fn fn)
{
	svc_fn old;

	if (!tb_msg_is_service(type))
		return NULL;
	old = svc_types[type].fn;
	svc_types[type].fn = fn;
	return old;
}

struct svc_req *
svc_req_new(uint8_t type, uint8_t flags, size_t want)
{
	struct svc_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	/* one byte more: a zero-length request still has a buffer */
	if ((r->data = malloc(want + 1)) == NULL) {
		free(r);
		return NULL;
	}
	r->type = type;
	r->flags = flags;
	r->want = want;
	return r;
}

void
svc_req_free(struct svc_req *r)
{
	if (r == NULL)
		return;
	free(r->data);
	free(r);
}

void
svc_dispatch(struct server *srv, struct svc_req *r)
{
	svc_fn fn = tb_msg_is_service(r->type) ? svc_types[r->type].fn : NULL;

	r->start_ns = now_ns();
	if (fn == NULL) {
		svc_reply(r, TB_RM_RC(TPM2_RC_COMMAND_CODE), NULL, 0);
		return;
	}
	log_debug("conn %llu: %s request, %zu bytes", (unsigned long long)r->conn_id,
		  svc_name(r->type), r->len);
	fn(srv, r);
}

void
svc_reply(struct svc_req *r, uint32_t rc, const void *body, size_t len)
{
	if (r->owner != NULL && r->reply != NULL)
		r->reply(r->owner, r, rc, body, len);
	svc_req_free(r);
}
