/* SPDX-License-Identifier: BSD-2-Clause */
/* frameclient.c: see frameclient.h. */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/proto.h"
#include "common/util.h"
#include "common/wire.h"
#include "frameclient.h"

int
fc_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

uint32_t
fc_roundtrip(int fd, const uint8_t *cmd, size_t len, uint8_t locality, uint8_t *rsp, size_t cap,
	     size_t *ret_len)
{
	uint8_t hdr[TB_PROTO_HDR_SIZE];
	struct tb_msg_hdr h = {.version = TB_PROTO_VERSION, .type = TB_MSG_COMMAND,
			       .locality = locality, .len = (uint32_t)len};

	tb_hdr_pack(hdr, &h);
	if (cmd != NULL && (write_all(fd, hdr, sizeof(hdr)) < 0 || write_all(fd, cmd, len) < 0))
		return 0xffffffffu;
	if (read_all(fd, hdr, sizeof(hdr)) < 0)
		return 0xffffffffu;
	tb_hdr_unpack(hdr, &h);
	if (h.type != TB_MSG_RESPONSE || h.len < TPM_HDR_SIZE || h.len > cap ||
	    read_all(fd, rsp, h.len) < 0)
		return 0xffffffffu;
	if (ret_len != NULL)
		*ret_len = h.len;
	return get_be32(rsp + 6);
}
