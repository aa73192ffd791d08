/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * service.h: the daemon's own services beside TPM commands, reached by
 * service requests on the broker socket (proto.h: MEASURE, QUOTE,
 * INSTANCE).  A connection reads a request's payload, fills a struct
 * svc_req and hands it to svc_dispatch(); the service answers it, now or
 * later, with exactly one svc_reply().  The connection may go away
 * meanwhile: its request stays valid, owner becomes NULL, and svc_reply()
 * then only frees it.  A service's work on the TPM runs as the daemon's own
 * jobs (job.h: JOB_INTERNAL) on the request's instance.
 *
 * Adding a service: a handler of type svc_fn in its own file, and a line in
 * svc_types[] (service.c).
 */
#ifndef TB_SERVICE_H
#define TB_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "peer.h"

struct profile;
struct server;
struct svc_req;
struct tpm_instance;

/* The connection's answer: frame and send rc + body (rc: TPM format, 0 success). */
typedef void (*svc_reply_fn)(void *owner, struct svc_req *r, uint32_t rc, const uint8_t *body,
			     size_t len);

struct svc_req {
	uint8_t type;                   /* TB_MSG_MEASURE, ... */
	uint8_t flags;                  /* the request frame's flags */
	uint8_t *data;                  /* the request's payload; owned */
	size_t len;                     /* bytes in data now */
	size_t want;                    /* bytes the frame announced */
	struct peer_id peer;            /* who asked: a copy */
	char profile_name[64];          /* the profile it was matched with ("" none) */
	/*
	 * The profile; valid during the handler's call only (a reload may
	 * free it later): copy what is needed.
	 */
	const struct profile *profile;
	struct tpm_instance *inst;      /* the connection's TPM; not owned */
	uint64_t conn_id;               /* for logs */
	uint64_t start_ns;              /* when the request was complete (monotonic) */
	void *owner;                    /* the connection; NULL once it is gone */
	svc_reply_fn reply;
};

/* A service: answer r with svc_reply(), now or later. */
typedef void (*svc_fn)(struct server *srv, struct svc_req *r);

/* A new request of type with room for want payload bytes, or NULL (no memory). */
struct svc_req *svc_req_new(uint8_t type, uint8_t flags, size_t want);
/* Free a request nobody will answer (its connection died while reading it). */
void svc_req_free(struct svc_req *r);

/* Hand a complete request to its service (an unknown one is answered at once). */
void svc_dispatch(struct server *srv, struct svc_req *r);

/*
 * Answer r (to its connection, if still there) and free it.  body may be
 * NULL when len is 0.  Exactly once per dispatched request.
 */
void svc_reply(struct svc_req *r, uint32_t rc, const void *body, size_t len);

/* Replace the handler of a service type (tests); returns the one it had. */
svc_fn svc_set_handler(uint8_t type, svc_fn fn);

/* "measure", "quote", "instance", or "?" (logs). */
const char *svc_name(uint8_t type);

#endif
