/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * schedclient: load for the scheduling tests.  N connections to
 * tpmbrokerd's Unix socket, one process each, loop one command for S
 * seconds, one command at a time (send, wait for the answer, send again):
 *
 *   schedclient SOCKET N SECONDS getrandom   GetRandom(8)
 *   schedclient SOCKET N SECONDS rsa2048     CreatePrimary of an RSA-2048 key
 *                                            in the null hierarchy, then its
 *                                            FlushContext (not counted)
 *
 * Prints "ok K err E": commands answered TPM_RC_SUCCESS and otherwise, all
 * connections together.  Exit 0 if nothing failed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/proto.h"
#include "common/util.h"
#include "common/wire.h"
#include "frameclient.h"

/* CreatePrimary(TPM_RH_NULL) with an empty password session, of an RSA-2048 signing key */
static size_t
createprimary_rsa(uint8_t *b)
{
	static const uint8_t tail[] = {
		/* TPM2B_SENSITIVE_CREATE: empty */
		0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
		/* TPM2B_PUBLIC (22 bytes): RSA, SHA256, fixedTPM|fixedParent|
		 * sensitiveDataOrigin|userWithAuth|sign, no policy, symmetric NULL,
		 * scheme NULL, 2048 bits, exponent 0 (65537), empty unique */
		0x00, 0x16, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x04, 0x00, 0x72, 0x00, 0x00,
		0x00, 0x10, 0x00, 0x10, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		/* outsideInfo, creationPCR */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	size_t off = TPM_HDR_SIZE;

	put_be32(b + off, TPM2_RH_NULL);
	put_be32(b + off + 4, 9); /* authorizationSize */
	put_be32(b + off + 8, TPM2_RS_PW);
	put_be16(b + off + 12, 0); /* nonce */
	b[off + 14] = 0x01;        /* continueSession */
	put_be16(b + off + 15, 0); /* hmac */
	off += 17;
	memcpy(b + off, tail, sizeof(tail));
	off += sizeof(tail);
	wire_hdr_put(b, TPM2_ST_SESSIONS, (uint32_t)off, TPM2_CC_CreatePrimary);
	return off;
}

/* One connection's loop; writes "ok err" to out. */
static int
child(const char *sock, unsigned seconds, bool rsa, int out)
{
	uint8_t cmd[128], rsp[TB_BUF_MAX];
	unsigned long ok = 0, err = 0;
	uint64_t end = now_ns() + (uint64_t)seconds * 1000000000u;
	size_t len, rlen = 0;
	char line[64];
	int fd = fc_connect(sock), n;

	if (fd < 0) {
		perror(sock);
		return 1;
	}
	if (rsa) {
		len = createprimary_rsa(cmd);
	} else {
		wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
		put_be16(cmd + 10, 8);
		len = 12;
	}
	while (now_ns() < end) {
		uint32_t rc = fc_roundtrip(fd, cmd, len, 0, rsp, sizeof(rsp), &rlen);
		if (rc == 0xffffffffu)
			return 1;
		if (rc != 0) {
			if (err++ == 0)
				fprintf(stderr, "schedclient: 0x%08x\n", rc);
			continue;
		}
		ok++;
		if (rsa && rlen >= 14) {
			uint8_t fl[14];
			wire_hdr_put(fl, TPM2_ST_NO_SESSIONS, 14, TPM2_CC_FlushContext);
			put_be32(fl + 10, get_be32(rsp + 10));
			(void)fc_roundtrip(fd, fl, sizeof(fl), 0, rsp, sizeof(rsp), &rlen);
		}
	}
	n = snprintf(line, sizeof(line), "%lu %lu\n", ok, err);
	return write_all(out, line, (size_t)n) < 0;
}

int
main(int argc, char **argv)
{
	unsigned long ok = 0, err = 0, a, b;
	unsigned n, seconds;
	bool rsa;
	int p[2], status, bad = 0;
	FILE *in;

	if (argc != 5 || (n = (unsigned)atoi(argv[2])) == 0 ||
	    (seconds = (unsigned)atoi(argv[3])) == 0 ||
	    (strcmp(argv[4], "getrandom") != 0 && strcmp(argv[4], "rsa2048") != 0)) {
		fprintf(stderr, "usage: schedclient SOCKET N SECONDS getrandom|rsa2048\n");
		return 2;
	}
	rsa = strcmp(argv[4], "rsa2048") == 0;
	if (pipe(p) < 0)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(p[0]);
			_exit(child(argv[1], seconds, rsa, p[1]));
		}
	}
	close(p[1]);
	if ((in = fdopen(p[0], "r")) == NULL)
		return 1;
	while (fscanf(in, "%lu %lu", &a, &b) == 2) {
		ok += a;
		err += b;
	}
	fclose(in);
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	printf("ok %lu err %lu\n", ok, err);
	return bad == 0 && err == 0 ? 0 : 1;
}
