/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tcti-tpmbroker.c: the TCTI of tpmbrokerd.  One Unix stream connection to
 * the daemon; each TPM command goes out as one frame of doc/protocol.md and
 * its response comes back as one frame.  Locality rides in every command
 * frame, so SetLocality costs nothing; Cancel is a frame of its own.
 *
 * state      call                 next       notes
 * TRANSMIT   transmit()           RECEIVE    frame written whole
 * RECEIVE    receive(), complete  TRANSMIT   (response NULL: size only, stay)
 * RECEIVE    receive(), timeout   RECEIVE    TRY_AGAIN; partial frame kept
 * RECEIVE    cancel()             RECEIVE    the daemon answers the command
 * any        daemon gone          (broken)   IO_ERROR from then on
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tcti_tpmbroker.h>

#include "common/proto.h"
#include "common/util.h"

#define TCTI_TPMBROKER_MAGIC 0x74706d62726b7231ull /* "tpmbrkr1" */
#define TCTI_EXPORT __attribute__((visibility("default")))

enum tcti_state {
	TCTI_TRANSMIT,
	TCTI_RECEIVE,
	TCTI_BROKEN,
};

struct tcti_tpmbroker {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;
	int fd;
	enum tcti_state state;
	uint8_t locality;
	size_t rx_len;      /* bytes of the response frame received so far */
	uint32_t rsp_len;   /* payload length, once the header is in */
	uint8_t rx[TB_PROTO_HDR_SIZE + TB_PROTO_MAX_PAYLOAD];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static struct tcti_tpmbroker *
tcti_cast(TSS2_TCTI_CONTEXT *ctx)
{
	struct tcti_tpmbroker *t = (struct tcti_tpmbroker *)ctx;

	if (t == NULL || t->common.v1.magic != TCTI_TPMBROKER_MAGIC)
		return NULL;
	return t;
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
	if (cmd == NULL && size > 0)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	if (t->state == TCTI_BROKEN)
		return TSS2_TCTI_RC_IO_ERROR;
	if (t->state != TCTI_TRANSMIT)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	if (size > TB_PROTO_MAX_PAYLOAD)
		return TSS2_TCTI_RC_BAD_VALUE;
	h.locality = t->locality;
	h.len = (uint32_t)size;
	tb_hdr_pack(hdr, &h);
	iov[0] = (struct iovec){.iov_base = hdr, .iov_len = sizeof(hdr)};
	iov[1] = (struct iovec){.iov_base = (void *)cmd, .iov_len = size};
	left = sizeof(hdr) + size;
	while (left > 0) {
		ssize_t n = sendmsg(t->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			t->state = TCTI_BROKEN;
			return TSS2_TCTI_RC_IO_ERROR;
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

/* Read until the whole frame is in, or the timeout (ms, -1 forever) passes. */
static TSS2_RC
tcti_fill(struct tcti_tpmbroker *t, int32_t timeout)
{
	uint64_t deadline = timeout > 0 ? now_ns() + (uint64_t)timeout * 1000000u : 0;

	for (;;) {
		size_t want = TB_PROTO_HDR_SIZE + (t->rx_len >= TB_PROTO_HDR_SIZE ? t->rsp_len : 0);
		struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
		int wait_ms, r;
		ssize_t n;

		if (t->rx_len >= TB_PROTO_HDR_SIZE && t->rx_len == want)
			return TSS2_RC_SUCCESS;
		if (timeout < 0)
			wait_ms = -1;
		else if (timeout == 0)
			wait_ms = 0;
		else {
			uint64_t now = now_ns();
			wait_ms = now >= deadline ? 0 : (int)((deadline - now + 999999u) / 1000000u);
		}
		r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			t->state = TCTI_BROKEN;
			return TSS2_TCTI_RC_IO_ERROR;
		}
		if (r == 0)
			return TSS2_TCTI_RC_TRY_AGAIN;
		n = read(t->fd, t->rx + t->rx_len, want - t->rx_len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			/* the daemon went away mid-response: never hang, never guess */
			t->state = TCTI_BROKEN;
			return TSS2_TCTI_RC_IO_ERROR;
		}
		t->rx_len += (size_t)n;
		if (t->rx_len == TB_PROTO_HDR_SIZE) {
			struct tb_msg_hdr h;
			tb_hdr_unpack(t->rx, &h);
			if (h.version != TB_PROTO_VERSION || h.type != TB_MSG_RESPONSE ||
			    h.len > TB_PROTO_MAX_PAYLOAD || h.len < 10) {
				t->state = TCTI_BROKEN;
				return TSS2_TCTI_RC_MALFORMED_RESPONSE;
			}
			t->rsp_len = h.len;
		}
	}
}

static TSS2_RC
tcti_receive(TSS2_TCTI_CONTEXT *ctx, size_t *size, uint8_t *response, int32_t timeout)
{
	struct tcti_tpmbroker *t = tcti_cast(ctx);
	TSS2_RC rc;

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	if (size == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	if (t->state == TCTI_BROKEN)
		return TSS2_TCTI_RC_IO_ERROR;
	if (t->state != TCTI_RECEIVE)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	if (timeout < TSS2_TCTI_TIMEOUT_BLOCK)
		return TSS2_TCTI_RC_BAD_VALUE;
	if ((rc = tcti_fill(t, timeout)) != TSS2_RC_SUCCESS)
		return rc;
	if (response == NULL) {
		*size = t->rsp_len; /* size query: the response stays for the next call */
		return TSS2_RC_SUCCESS;
	}
	if (*size < t->rsp_len) {
		*size = t->rsp_len;
		return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
	}
	memcpy(response, t->rx + TB_PROTO_HDR_SIZE, t->rsp_len);
	*size = t->rsp_len;
	t->state = TCTI_TRANSMIT;
	t->rx_len = 0;
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
	t->common.v1.magic = 0;
}

static TSS2_RC
tcti_cancel(TSS2_TCTI_CONTEXT *ctx)
{
	struct tcti_tpmbroker *t = tcti_cast(ctx);
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_CANCEL};

	if (t == NULL)
		return TSS2_TCTI_RC_BAD_CONTEXT;
	if (t->state == TCTI_BROKEN)
		return TSS2_TCTI_RC_IO_ERROR;
	if (t->state != TCTI_RECEIVE)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	tb_hdr_pack(hdr, &h);
	if (send(t->fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t)sizeof(hdr)) {
		t->state = TCTI_BROKEN;
		return TSS2_TCTI_RC_IO_ERROR;
	}
	/* the command's response (TPM_RC_CANCELED or the TPM's) follows as usual */
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
	if (locality > 4)
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

/* "path=/x.sock", a bare "/x.sock", or "" (then $TPMBROKER_SOCKET / default) */
static TSS2_RC
tcti_parse_conf(const char *conf, char *path, size_t cap)
{
	char explicit_path[sizeof(((struct sockaddr_un *)0)->sun_path)] = "";
	const char *p = conf;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *val = NULL;
		size_t vlen = 0;

		if (n > 5 && strncmp(p, "path=", 5) == 0) {
			val = p + 5;
			vlen = n - 5;
		} else if (n > 0 && p[0] == '/' && memchr(p, '=', n) == NULL) {
			val = p;
			vlen = n;
		} else if (n > 0) {
			fprintf(stderr, "tcti-tpmbroker: unknown option '%.*s' (expected path=SOCKET)\n",
				(int)n, p);
			return TSS2_TCTI_RC_BAD_VALUE;
		}
		if (val != NULL) {
			if (vlen >= sizeof(explicit_path))
				return TSS2_TCTI_RC_BAD_VALUE;
			memcpy(explicit_path, val, vlen);
			explicit_path[vlen] = '\0';
		}
		p = end != NULL ? end + 1 : NULL;
	}
	if (tb_socket_path(explicit_path, path, cap) < 0)
		return TSS2_TCTI_RC_BAD_VALUE;
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
	if ((rc = tcti_parse_conf(conf, t->path, sizeof(t->path))) != TSS2_RC_SUCCESS)
		return rc;
	memcpy(sa.sun_path, t->path, strlen(t->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return TSS2_TCTI_RC_IO_ERROR;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		(void)close(fd);
		fprintf(stderr, "tcti-tpmbroker: cannot connect to tpmbrokerd at %s: %s "
				"(is the daemon running? path=, $TPMBROKER_SOCKET)\n",
			t->path, strerror(e));
		return TSS2_TCTI_RC_NO_CONNECTION;
	}
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

static const TSS2_TCTI_INFO tcti_info = {
	.version = 2,
	.name = "tcti-tpmbroker",
	.description = "TCTI for tpmbrokerd, the TPM 2.0 access broker and resource manager",
	.config_help = "path=SOCKET (default: $TPMBROKER_SOCKET, else "
		       "/run/tpmbroker/tpmbroker.sock as root, $XDG_RUNTIME_DIR/tpmbroker.sock "
		       "otherwise)",
	.init = Tss2_Tcti_Tpmbroker_Init,
};

TCTI_EXPORT const TSS2_TCTI_INFO *
Tss2_Tcti_Info(void)
{
	return &tcti_info;
}
