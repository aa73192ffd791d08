/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tcti-tpmbroker.c: the TCTI of tpmbrokerd.  One Unix stream connection to
 * the daemon; each TPM command goes out as one frame of doc/protocol.md and
 * its response comes back as one frame.  Locality rides in every command
 * frame, so SetLocality costs nothing; Cancel is a frame of its own.
 *
 * state      call                  next       notes
 * TRANSMIT   transmit()            RECEIVE    frame written whole
 * TRANSMIT   receive(), cancel()   TRANSMIT   BAD_SEQUENCE
 * RECEIVE    transmit()            RECEIVE    BAD_SEQUENCE
 * RECEIVE    receive(), complete   TRANSMIT   (response NULL: size only, stay)
 * RECEIVE    receive(), small buf  RECEIVE    INSUFFICIENT_BUFFER, frame kept
 * RECEIVE    receive(), timeout    RECEIVE    TRY_AGAIN; partial frame kept
 * RECEIVE    cancel()              RECEIVE    the daemon still answers the
 *                                             command: receive() collects it
 * RECEIVE    setLocality()         RECEIVE    BAD_SEQUENCE
 * any        daemon gone, garbage  BROKEN     that error; then NO_CONNECTION if
 *                                             the daemon hung up, else IO_ERROR
 *
 * Unlike tcti-mssim, cancel() does not return to TRANSMIT: the daemon always
 * answers a cancelled command (TPM_RC_CANCELED or the TPM's own response),
 * and leaving that frame unread would hand it to the next command.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tcti_tpmbroker.h>

#include "common/client.h"
#include "common/mreq.h"
#include "common/proto.h"
#include "common/util.h"

#define TCTI_TPMBROKER_MAGIC 0x74706d62726b7231ull /* "tpmbrkr1" */
/* the library is built -fvisibility=hidden; these two are its whole ABI */
#define TCTI_EXPORT __attribute__((visibility("default")))

#define TPM_HEADER_SIZE 10u
#define TB_MAX_LOCALITY 4u
#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

enum tcti_state {
	TCTI_TRANSMIT,
	TCTI_RECEIVE,
	TCTI_BROKEN,
};

/* tpm2-tss's levels, so TSS2_LOG means the same for us as for the TSS */
enum tcti_log {
	TLOG_NONE,
	TLOG_ERROR,
	TLOG_WARNING,
	TLOG_INFO,
	TLOG_DEBUG,
	TLOG_TRACE,
};

struct tcti_tpmbroker {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;
	int fd;                  /* owned; -1 after finalize */
	enum tcti_state state;
	TSS2_RC broken_rc;       /* what broke the connection, once BROKEN */
	enum tcti_log log_level; /* from $TSS2_LOG at init */
	uint8_t locality;
	size_t rx_len;           /* bytes of the response frame received so far */
	uint32_t rsp_len;        /* payload length, once the header is in */
	uint8_t rx[TB_PROTO_HDR_SIZE + TB_PROTO_MAX_PAYLOAD];
	char path[SUN_PATH_MAX];
};

static const char *const log_names[] = {
	[TLOG_NONE] = "none", [TLOG_ERROR] = "error", [TLOG_WARNING] = "warning",
	[TLOG_INFO] = "info", [TLOG_DEBUG] = "debug", [TLOG_TRACE] = "trace",
};

/*
 * $TSS2_LOG as tpm2-tss reads it: "module+level" items separated by commas,
 * module "all" or "tcti", the last match wins.  Default: warnings and errors,
 * as in tpm2-tss, so a program that silenced the TSS is not chatty through us.
 */
static enum tcti_log
tcti_log_level_env(void)
{
	const char *p = getenv("TSS2_LOG");
	enum tcti_log level = TLOG_WARNING;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *plus = memchr(p, '+', n);

		if (plus != NULL) {
			size_t mlen = (size_t)(plus - p), llen = n - mlen - 1;

			if ((mlen == 3 && strncasecmp(p, "all", 3) == 0) ||
			    (mlen == 4 && strncasecmp(p, "tcti", 4) == 0)) {
				for (size_t i = 0; i < ARRAY_SIZE(log_names); i++) {
					if (strlen(log_names[i]) == llen &&
					    strncasecmp(plus + 1, log_names[i], llen) == 0)
						level = (enum tcti_log)i;
				}
			}
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return level;
}

/* as tpm2-tss tags its lines */
static const char *const level_tags[] = {
	[TLOG_NONE] = "", [TLOG_ERROR] = "ERROR", [TLOG_WARNING] = "WARNING",
	[TLOG_INFO] = "info", [TLOG_DEBUG] = "debug", [TLOG_TRACE] = "trace",
};

static void tcti_log(enum tcti_log max, enum tcti_log level, const char *func, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));

static void
tcti_log(enum tcti_log max, enum tcti_log level, const char *func, const char *fmt, ...)
{
	va_list ap;

	if (level > max)
		return;
	/* the shape of tpm2-tss's own lines: LEVEL:module:file:function() text */
	fprintf(stderr, "%s:tcti:tcti-tpmbroker.c:%s() ", level_tags[level], func);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define LOG(t, lvl, ...) tcti_log((t)->log_level, (lvl), __func__, __VA_ARGS__)

static struct tcti_tpmbroker *
tcti_cast(TSS2_TCTI_CONTEXT *ctx)
{
	struct tcti_tpmbroker *t = (struct tcti_tpmbroker *)ctx;

	if (t == NULL || t->common.v1.magic != TCTI_TPMBROKER_MAGIC)
		return NULL;
	return t;
}

/* The connection is beyond use: report rc now, and from then on: */
static TSS2_RC
tcti_break(struct tcti_tpmbroker *t, TSS2_RC rc)
{
	t->state = TCTI_BROKEN;
	t->broken_rc = rc;
	return rc;
}

static TSS2_RC
tcti_broken_rc(const struct tcti_tpmbroker *t)
{
	return t->broken_rc == TSS2_TCTI_RC_NO_CONNECTION ? TSS2_TCTI_RC_NO_CONNECTION
							  : TSS2_TCTI_RC_IO_ERROR;
}

/* ECONNRESET/EPIPE: the daemon closed on us (restart, framing lost) */
static TSS2_RC
tcti_errno_rc(int err)
{
	return err == EPIPE || err == ECONNRESET ? TSS2_TCTI_RC_NO_CONNECTION
						 : TSS2_TCTI_RC_IO_ERROR;
}

static TSS2_RC
tcti_transmit(TSS2_TCTI_CONTEXT *ctx, size_t size, const uint8_t *cmd)
{
	struct tcti_tpmbroker *t = tcti_cast(ctx);
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND};
	struct iovec iov[2];
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
	size_t left;

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	if (cmd == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	if (t->state == TCTI_BROKEN)
		return tcti_broken_rc(t);
	if (t->state != TCTI_TRANSMIT)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	if (size > TB_PROTO_MAX_PAYLOAD) {
		LOG(t, TLOG_ERROR, "command of %zu bytes is over the limit of %u", size,
		    TB_PROTO_MAX_PAYLOAD);
		return TSS2_TCTI_RC_BAD_VALUE;
	}
	/* no checks of the TPM header: the daemon answers a bad one as a TPM would */
	h.locality = t->locality;
	h.len = (uint32_t)size;
	tb_hdr_pack(hdr, &h);
	iov[0] = (struct iovec){.iov_base = hdr, .iov_len = sizeof(hdr)};
	iov[1] = (struct iovec){.iov_base = (void *)(uintptr_t)cmd, .iov_len = size};
	if (size >= TPM_HEADER_SIZE)
		LOG(t, TLOG_DEBUG, "command 0x%08x, %zu bytes, locality %u", get_be32(cmd + 6),
		    size, t->locality);
	left = sizeof(hdr) + size;
	while (left > 0) {
		/* MSG_NOSIGNAL: a daemon gone away is an error code, not SIGPIPE */
		ssize_t n = sendmsg(t->fd, &msg, MSG_NOSIGNAL);

		if (n < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			LOG(t, TLOG_ERROR, "sending to tpmbrokerd at %s: %s", t->path, strerror(e));
			return tcti_break(t, tcti_errno_rc(e));
		}
		left -= (size_t)n;
		/* advance the iovecs past what was sent */
		while (n > 0 && msg.msg_iovlen > 0) {
			if ((size_t)n >= msg.msg_iov[0].iov_len) {
				n -= (ssize_t)msg.msg_iov[0].iov_len;
				msg.msg_iov++;
				msg.msg_iovlen--;
			} else {
				msg.msg_iov[0].iov_base = (uint8_t *)msg.msg_iov[0].iov_base + n;
				msg.msg_iov[0].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	t->state = TCTI_RECEIVE;
	t->rx_len = 0;
	t->rsp_len = 0;
	return TSS2_RC_SUCCESS;
}

/* A response frame header is in: check it before reading a payload by it. */
static TSS2_RC
tcti_check_hdr(struct tcti_tpmbroker *t)
{
	struct tb_msg_hdr h;

	tb_hdr_unpack(t->rx, &h);
	if (h.version != TB_PROTO_VERSION || h.type != TB_MSG_RESPONSE ||
	    h.len > TB_PROTO_MAX_PAYLOAD || h.len < TPM_HEADER_SIZE) {
		LOG(t, TLOG_ERROR,
		    "malformed frame from %s (version %u, type %u, length %u): "
		    "is this tpmbrokerd?",
		    t->path, h.version, h.type, h.len);
		return tcti_break(t, TSS2_TCTI_RC_MALFORMED_RESPONSE);
	}
	t->rsp_len = h.len;
	return TSS2_RC_SUCCESS;
}

/* Read until the whole frame is in, or the timeout (ms, -1 forever) passes. */
static TSS2_RC
tcti_fill(struct tcti_tpmbroker *t, int32_t timeout)
{
	uint64_t deadline = timeout > 0 ? now_ns() + (uint64_t)timeout * 1000000u : 0;

	for (;;) {
		size_t want = TB_PROTO_HDR_SIZE + t->rsp_len;
		struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
		int wait_ms, r;
		ssize_t n;

		if (t->rx_len >= TB_PROTO_HDR_SIZE && t->rx_len == want)
			return TSS2_RC_SUCCESS;
		if (timeout <= 0) {
			wait_ms = timeout;
		} else {
			uint64_t now = now_ns();

			/* round up: poll(1 ms early) would report a timeout too soon */
			wait_ms = 0;
			if (now < deadline)
				wait_ms = (int)((deadline - now + 999999u) / 1000000u);
		}
		r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			LOG(t, TLOG_ERROR, "poll: %s", strerror(errno));
			return tcti_break(t, TSS2_TCTI_RC_IO_ERROR);
		}
		if (r == 0)
			return TSS2_TCTI_RC_TRY_AGAIN; /* what came so far stays in rx */
		/* never past this frame: the next one is the next command's */
		n = read(t->fd, t->rx + t->rx_len, want - t->rx_len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			int e = errno;

			LOG(t, TLOG_ERROR, "receiving from tpmbrokerd at %s: %s", t->path,
			    strerror(e));
			return tcti_break(t, tcti_errno_rc(e));
		}
		if (n == 0 && t->rx_len == 0) {
			LOG(t, TLOG_ERROR, "tpmbrokerd at %s closed the connection", t->path);
			return tcti_break(t, TSS2_TCTI_RC_NO_CONNECTION);
		}
		if (n == 0) {
			/* gone mid-response: never hang, never guess */
			LOG(t, TLOG_ERROR, "tpmbrokerd at %s hung up after %zu of %zu bytes",
			    t->path, t->rx_len, want);
			return tcti_break(t, TSS2_TCTI_RC_IO_ERROR);
		}
		t->rx_len += (size_t)n;
		if (t->rx_len == TB_PROTO_HDR_SIZE) {
			TSS2_RC rc = tcti_check_hdr(t);

			if (rc != TSS2_RC_SUCCESS)
				return rc;
		}
	}
}

static TSS2_RC
tcti_receive(TSS2_TCTI_CONTEXT *ctx, size_t *size, uint8_t *response, int32_t timeout)
{
	struct tcti_tpmbroker *t = tcti_cast(ctx);
	const uint8_t *rsp;
	TSS2_RC rc;

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	if (size == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	if (t->state == TCTI_BROKEN)
		return tcti_broken_rc(t);
	if (t->state != TCTI_RECEIVE)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	if (timeout < TSS2_TCTI_TIMEOUT_BLOCK)
		return TSS2_TCTI_RC_BAD_VALUE;
	if ((rc = tcti_fill(t, timeout)) != TSS2_RC_SUCCESS)
		return rc;
	rsp = t->rx + TB_PROTO_HDR_SIZE;
	if (get_be32(rsp + 2) != t->rsp_len) {
		/*
		 * The frame is whole, so the stream is still in step; but a
		 * response whose size field lies is not one to hand up.
		 */
		LOG(t, TLOG_ERROR, "response size field %u, frame %u bytes", get_be32(rsp + 2),
		    t->rsp_len);
		t->state = TCTI_TRANSMIT;
		t->rx_len = 0;
		t->rsp_len = 0;
		return TSS2_TCTI_RC_MALFORMED_RESPONSE;
	}
	if (response == NULL) {
		*size = t->rsp_len; /* size query: the response stays for the next call */
		return TSS2_RC_SUCCESS;
	}
	if (*size < t->rsp_len) {
		*size = t->rsp_len;
		return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
	}
	LOG(t, TLOG_DEBUG, "response 0x%08x, %u bytes", get_be32(rsp + 6), t->rsp_len);
	memcpy(response, rsp, t->rsp_len);
	*size = t->rsp_len;
	t->state = TCTI_TRANSMIT;
	t->rx_len = 0;
	t->rsp_len = 0;
	return TSS2_RC_SUCCESS;
}

static void
tcti_finalize(TSS2_TCTI_CONTEXT *ctx)
{
	struct tcti_tpmbroker *t = tcti_cast(ctx);

	if (t == NULL)
		return;
	if (t->fd >= 0)
		(void)close(t->fd);
	t->fd = -1;
	/* any later call through this context is BAD_CONTEXT, not a stale fd */
	t->common.v1.magic = 0;
}

static TSS2_RC
tcti_cancel(TSS2_TCTI_CONTEXT *ctx)
{
	struct tcti_tpmbroker *t = tcti_cast(ctx);
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_CANCEL};
	ssize_t n;

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	if (t->state == TCTI_BROKEN)
		return tcti_broken_rc(t);
	if (t->state != TCTI_RECEIVE)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	tb_hdr_pack(hdr, &h);
	do
		n = send(t->fd, hdr, sizeof(hdr), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	/* 8 bytes into a stream socket with at most one frame queued: whole or error */
	if (n != (ssize_t)sizeof(hdr)) {
		int e = n < 0 ? errno : EIO;

		LOG(t, TLOG_ERROR, "sending cancel to %s: %s", t->path, strerror(e));
		return tcti_break(t, tcti_errno_rc(e));
	}
	LOG(t, TLOG_DEBUG, "cancel sent");
	return TSS2_RC_SUCCESS;
}

static TSS2_RC
tcti_get_poll_handles(TSS2_TCTI_CONTEXT *ctx, TSS2_TCTI_POLL_HANDLE *handles, size_t *num)
{
	struct tcti_tpmbroker *t = tcti_cast(ctx);

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	if (num == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	if (handles == NULL) {
		*num = 1;
		return TSS2_RC_SUCCESS;
	}
	if (*num < 1) {
		*num = 1;
		return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
	}
	/* readable = (part of) the response is in: receive() will make progress */
	handles[0].fd = t->fd;
	handles[0].events = POLLIN;
	handles[0].revents = 0;
	*num = 1;
	return TSS2_RC_SUCCESS;
}

static TSS2_RC
tcti_set_locality(TSS2_TCTI_CONTEXT *ctx, uint8_t locality)
{
	struct tcti_tpmbroker *t = tcti_cast(ctx);

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	if (t->state == TCTI_RECEIVE)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	/* the daemon drops a connection over an unknown locality: refuse it here */
	if (locality > TB_MAX_LOCALITY)
		return TSS2_TCTI_RC_BAD_VALUE;
	t->locality = locality;
	return TSS2_RC_SUCCESS;
}

static TSS2_RC
tcti_make_sticky(TSS2_TCTI_CONTEXT *ctx, TPM2_HANDLE *handle, uint8_t sticky)
{
	(void)ctx;
	(void)handle;
	(void)sticky;
	return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

/*
 * "path=/x.sock", a bare "/x.sock" (any value without '='), or NULL / ""
 * (then $TPMBROKER_SOCKET, else the default).  Items are comma separated,
 * the last path wins.
 */
static TSS2_RC
tcti_parse_conf(enum tcti_log log_level, const char *conf, char *path, size_t cap)
{
	char explicit_path[SUN_PATH_MAX] = "";
	const char *p = conf;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *val;
		size_t vlen;

		if (n >= 5 && strncmp(p, "path=", 5) == 0) {
			val = p + 5;
			vlen = n - 5;
			if (vlen == 0) {
				tcti_log(log_level, TLOG_ERROR, __func__, "empty path= in \"%s\"",
					 conf);
				return TSS2_TCTI_RC_BAD_VALUE;
			}
		} else if (memchr(p, '=', n) == NULL) {
			val = p;
			vlen = n;
		} else {
			tcti_log(log_level, TLOG_ERROR, __func__,
				 "unknown option '%.*s' in \"%s\" (known: path=SOCKET)", (int)n, p,
				 conf);
			return TSS2_TCTI_RC_BAD_VALUE;
		}
		if (vlen >= sizeof(explicit_path)) {
			tcti_log(log_level, TLOG_ERROR, __func__,
				 "socket path '%.*s' is longer than %zu bytes", (int)vlen, val,
				 sizeof(explicit_path) - 1);
			return TSS2_TCTI_RC_BAD_VALUE;
		}
		if (vlen > 0) { /* "a,,b" and a trailing comma are harmless */
			memcpy(explicit_path, val, vlen);
			explicit_path[vlen] = '\0';
		}
		p = end != NULL ? end + 1 : NULL;
	}
	if (tb_socket_path(explicit_path, path, cap) < 0) {
		tcti_log(log_level, TLOG_ERROR, __func__,
			 "socket path from $" TB_SOCKET_ENV " or $XDG_RUNTIME_DIR is longer "
			 "than %zu bytes",
			 cap - 1);
		return TSS2_TCTI_RC_BAD_VALUE;
	}
	return TSS2_RC_SUCCESS;
}

TCTI_EXPORT TSS2_RC
Tss2_Tcti_Tpmbroker_Init(TSS2_TCTI_CONTEXT *ctx, size_t *size, const char *conf)
{
	struct tcti_tpmbroker *t = (struct tcti_tpmbroker *)ctx;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	TSS2_RC rc;
	int fd;

	if (size == NULL)
		return TSS2_TCTI_RC_BAD_VALUE;
	if (ctx == NULL) {
		*size = sizeof(struct tcti_tpmbroker);
		return TSS2_RC_SUCCESS;
	}
	if (*size < sizeof(struct tcti_tpmbroker))
		return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->log_level = tcti_log_level_env();
	if ((rc = tcti_parse_conf(t->log_level, conf, t->path, sizeof(t->path))) != TSS2_RC_SUCCESS)
		return rc;
	memcpy(sa.sun_path, t->path, strlen(t->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		LOG(t, TLOG_ERROR, "socket: %s", strerror(errno));
		return TSS2_TCTI_RC_IO_ERROR;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		(void)close(fd);
		LOG(t, TLOG_ERROR,
		    "cannot connect to tpmbrokerd at %s: %s (is tpmbrokerd running? "
		    "set the socket with -T tpmbroker:path=SOCKET or $" TB_SOCKET_ENV ")",
		    t->path, strerror(e));
		return TSS2_TCTI_RC_NO_CONNECTION;
	}
	LOG(t, TLOG_DEBUG, "connected to %s", t->path);
	t->fd = fd;
	t->state = TCTI_TRANSMIT;
	t->common.v1.magic = TCTI_TPMBROKER_MAGIC;
	t->common.v1.version = 2;
	t->common.v1.transmit = tcti_transmit;
	t->common.v1.receive = tcti_receive;
	t->common.v1.finalize = tcti_finalize;
	t->common.v1.cancel = tcti_cancel;
	t->common.v1.getPollHandles = tcti_get_poll_handles;
	t->common.v1.setLocality = tcti_set_locality;
	t->common.makeSticky = tcti_make_sticky;
	return TSS2_RC_SUCCESS;
}

/*
 * Log-first measurement (doc/protocol.md, MEASURE): one request on a
 * connection of its own, so it never gets between a context's command and
 * its response.  Blocks until the event is durable and extended.
 */
TCTI_EXPORT TSS2_RC
Tss2_Tcti_Tpmbroker_Measure(const char *conf, uint8_t reg_type, uint32_t reg, uint32_t event_type,
			    const void *data, size_t size, const char *description,
			    const char *stream, uint64_t *seq)
{
	static const uint8_t empty[1];
	enum tcti_log lv = tcti_log_level_env();
	struct mreq q = {.reg_type = reg_type, .reg = reg,
			 .event_type = event_type != 0 ? event_type : MREQ_EV_IPL,
			 .data = data != NULL ? data : empty, .data_len = size};
	char path[SUN_PATH_MAX];
	uint8_t *req, *body = NULL;
	struct mreq_reply rep;
	size_t len = 0, blen = 0;
	uint32_t rc = 0;
	TSS2_RC trc;
	int fd, r;

	if ((data == NULL && size > 0) || reg_type > TSS2_TCTI_TPMBROKER_REG_RTMR)
		return TSS2_TCTI_RC_BAD_VALUE;
	if (description != NULL) {
		q.desc = description;
		q.desc_len = strlen(description);
	}
	if (stream != NULL) {
		q.stream = stream;
		q.stream_len = strlen(stream);
		q.flags |= MREQ_F_STREAM;
	}
	if (mreq_size(&q) == 0) {
		tcti_log(lv, TLOG_ERROR, __func__, "data over %u, description over %u or stream "
			 "over %u bytes", MREQ_MAX_DATA, MREQ_MAX_DESC, MREQ_MAX_STREAM);
		return TSS2_TCTI_RC_BAD_VALUE;
	}
	if ((trc = tcti_parse_conf(lv, conf, path, sizeof(path))) != TSS2_RC_SUCCESS)
		return trc;
	if ((req = malloc(mreq_size(&q))) == NULL)
		return TSS2_TCTI_RC_MEMORY;
	(void)mreq_encode(&q, req, mreq_size(&q), &len);
	if ((fd = tb_client_connect(path, 0)) < 0) {
		free(req);
		tcti_log(lv, TLOG_ERROR, __func__, "cannot connect to tpmbrokerd at %s: %s", path,
			 strerror(-fd));
		return TSS2_TCTI_RC_NO_CONNECTION;
	}
	r = tb_client_service(fd, TB_MSG_MEASURE, 0, req, len, &rc, &body, &blen);
	(void)close(fd);
	free(req);
	if (r < 0) {
		tcti_log(lv, TLOG_ERROR, __func__, "%s: %s", path, strerror(-r));
		return r == -EBADMSG ? TSS2_TCTI_RC_MALFORMED_RESPONSE : TSS2_TCTI_RC_IO_ERROR;
	}
	if (rc == 0 && mreq_reply_get(body, blen, &rep) < 0)
		rc = TSS2_TCTI_RC_MALFORMED_RESPONSE;
	free(body);
	if (rc != 0) {
		tcti_log(lv, TLOG_DEBUG, __func__, "refused: 0x%08x", rc);
		return rc;
	}
	if (seq != NULL)
		*seq = rep.seq;
	return TSS2_RC_SUCCESS;
}

static const TSS2_TCTI_INFO tcti_info = {
	.version = 2,
	.name = "tcti-tpmbroker",
	.description = "TCTI for tpmbrokerd, the TPM 2.0 access broker and resource manager",
	.config_help = "path=SOCKET, or a bare SOCKET path. Default: $" TB_SOCKET_ENV
		       ", else " TB_SOCKET_DEFAULT_ROOT " as root, "
		       "$XDG_RUNTIME_DIR/" TB_SOCKET_NAME " otherwise.",
	.init = Tss2_Tcti_Tpmbroker_Init,
};

TCTI_EXPORT const TSS2_TCTI_INFO *
Tss2_Tcti_Info(void)
{
	return &tcti_info;
}
