/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * client.c: the client side of proto.h (client.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "util.h"

int
tb_client_connect(const char *path, unsigned timeout_s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = (time_t)timeout_s};
	_cleanup_(closep) int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	/* a wedged daemon turns into EAGAIN from read_all(), not a hang */
	if (timeout_s > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int
tb_client_exchange(int fd, const struct tb_msg_hdr *h, const uint8_t *payload, uint32_t max,
		   struct tb_msg_hdr *ret_hdr, uint8_t **ret_buf)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	_cleanup_(freep) uint8_t *buf = NULL;
	struct tb_msg_hdr rh;
	int r;

	tb_hdr_pack(hdr, h);
	if ((r = write_all(fd, hdr, sizeof(hdr))) < 0)
		return r;
	if (h->len > 0 && (r = write_all(fd, payload, h->len)) < 0)
		return r;
	if ((r = read_all(fd, hdr, sizeof(hdr))) < 0)
		return r;
	tb_hdr_unpack(hdr, &rh);
	if (rh.version != TB_PROTO_VERSION || rh.len > max)
		return -EBADMSG;
	buf = malloc((size_t)rh.len + 1u);
	if (buf == NULL)
		return -ENOMEM;
	if ((r = read_all(fd, buf, rh.len)) < 0)
		return r;
	buf[rh.len] = '\0';
	*ret_hdr = rh;
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

int
tb_client_service(int fd, uint8_t type, uint8_t flags, const uint8_t *req, size_t len,
		  uint32_t *rc, uint8_t **body, size_t *body_len)
{
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = type, .flags = flags,
			       .len = (uint32_t)len};
	struct tb_msg_hdr rh;
	_cleanup_(freep) uint8_t *buf = NULL;
	int r;

	*body = NULL;
	*body_len = 0;
	if (!tb_msg_is_service(type) || len > TB_PROTO_MAX_REQUEST)
		return -EINVAL;
	if ((r = tb_client_exchange(fd, &h, req, TB_PROTO_MAX_REPLY, &rh, &buf)) < 0)
		return r;
	if (rh.type == TB_MSG_RESPONSE) {
		/* the daemon's error as a TPM response: header of 10 bytes */
		if (rh.len < 10 || get_be32(buf + 2) != rh.len)
			return -EBADMSG;
		*rc = get_be32(buf + 6);
		return 0;
	}
	if (rh.type != type || rh.len < 4)
		return -EBADMSG;
	*rc = get_be32(buf);
	if (rh.len > 4) {
		*body_len = rh.len - 4;
		memmove(buf, buf + 4, *body_len + 1); /* the NUL too */
		*body = TAKE_PTR(buf);
	}
	return 0;
}
