/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * polclient: one connection to tpmbrokerd's Unix socket that lives across
 * many commands, for the policy tests (a profile reloaded under a
 * connected client, localities, the per-user connection cap).  Commands
 * are built by hand, with an empty password session where the TPM wants
 * one, so that a refusal can be told from the TPM's own answer.
 *
 *   polclient SOCKET            read lines from stdin, print the response
 *                               code of each as 0x%08x:
 *     getrandom                 GetRandom(8)
 *     clear                     Clear(TPM_RH_LOCKOUT)
 *     pcrextend PCR [LOC]       PCR_Extend(PCR, sha256 of nothing...) at locality LOC
 *     pcrreset PCR [LOC]        PCR_Reset(PCR) at locality LOC
 *     createprimary HIER        CreatePrimary(o|e|p|n) of an ECC P-256 key, then
 *                               FlushContext of it
 *   polclient --open N SOCKET   open N connections, each sends GetRandom;
 *                               print "served S refused R" (refused: RETRY
 *                               answered, then closed), hold them until a
 *                               line on stdin
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/proto.h"
#include "common/util.h"
#include "common/wire.h"
#include "frameclient.h"

/* Header, handles, then an authorization area of one empty password session. */
static size_t
with_pw(uint8_t *b, uint32_t cc, const uint32_t *handles, size_t n_handles)
{
	size_t off = TPM_HDR_SIZE;

	for (size_t i = 0; i < n_handles; i++, off += 4)
		put_be32(b + off, handles[i]);
	put_be32(b + off, 9); /* authorizationSize */
	put_be32(b + off + 4, TPM2_RS_PW);
	put_be16(b + off + 8, 0);   /* nonce */
	b[off + 10] = 0x01;         /* continueSession */
	put_be16(b + off + 11, 0);  /* hmac */
	off += 13;
	wire_hdr_put(b, TPM2_ST_SESSIONS, (uint32_t)off, cc);
	return off;
}

static void
finish(uint8_t *b, size_t len)
{
	put_be32(b + 2, (uint32_t)len);
}

static int
run_lines(const char *sock)
{
	int fd = fc_connect(sock);
	char line[256];
	uint8_t cmd[512], rsp[TB_BUF_MAX];

	if (fd < 0) {
		perror(sock);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char what[32] = "";
		unsigned a = 0, loc = 0;
		size_t len = 0, rlen = 0;
		uint32_t rc;
		int n = sscanf(line, "%31s %u %u", what, &a, &loc);

		if (n < 1)
			continue;
		if (strcmp(what, "getrandom") == 0) {
			wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
			put_be16(cmd + 10, 8);
			len = 12;
		} else if (strcmp(what, "clear") == 0) {
			uint32_t h = TPM2_RH_LOCKOUT;
			len = with_pw(cmd, TPM2_CC_Clear, &h, 1);
		} else if (strcmp(what, "pcrreset") == 0) {
			len = with_pw(cmd, TPM2_CC_PCR_Reset, &a, 1);
		} else if (strcmp(what, "pcrextend") == 0) {
			len = with_pw(cmd, TPM2_CC_PCR_Extend, &a, 1);
			put_be32(cmd + len, 1); /* TPML_DIGEST_VALUES: one sha256 */
			put_be16(cmd + len + 4, TPM2_ALG_SHA256);
			memset(cmd + len + 6, 0x5a, 32);
			len += 38;
			finish(cmd, len);
		} else if (strcmp(what, "createprimary") == 0) {
			static const uint8_t tmpl[] = {
				/* TPM2B_SENSITIVE_CREATE: empty */
				0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
				/* TPM2B_PUBLIC (22 bytes): ECC, SHA256, fixedTPM|fixedParent|
				 * sensitiveDataOrigin|userWithAuth|sign, no policy, symmetric
				 * NULL, scheme NULL, NIST P-256, kdf NULL, empty unique */
				0x00, 0x16, 0x00, 0x23, 0x00, 0x0b, 0x00, 0x04, 0x00, 0x72, 0x00, 0x00,
				0x00, 0x10, 0x00, 0x10, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
				/* outsideInfo, creationPCR */
				0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
			};
			char hier = 'o';
			uint32_t h;

			(void)sscanf(line, "%*s %c", &hier);
			h = hier == 'e' ? TPM2_RH_ENDORSEMENT
			    : hier == 'p' ? TPM2_RH_PLATFORM
			    : hier == 'n' ? TPM2_RH_NULL
					  : TPM2_RH_OWNER;
			len = with_pw(cmd, TPM2_CC_CreatePrimary, &h, 1);
			memcpy(cmd + len, tmpl, sizeof(tmpl));
			len += sizeof(tmpl);
			finish(cmd, len);
		} else {
			fprintf(stderr, "polclient: unknown '%s'\n", what);
			return 2;
		}
		rc = fc_roundtrip(fd, cmd, len, (uint8_t)loc, rsp, sizeof(rsp), &rlen);
		printf("0x%08x\n", rc);
		fflush(stdout);
		if (rc == 0 && strcmp(what, "createprimary") == 0 && rlen >= 14) {
			uint32_t obj = get_be32(rsp + 10);
			wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 14, TPM2_CC_FlushContext);
			put_be32(cmd + 10, obj);
			(void)fc_roundtrip(fd, cmd, 14, 0, rsp, sizeof(rsp), NULL);
		}
		if (rc == 0xffffffffu)
			return 1;
	}
	close(fd);
	return 0;
}

static int
open_many(unsigned n, const char *sock)
{
	int *fds = calloc(n, sizeof(*fds));
	uint8_t cmd[12], rsp[64];
	unsigned served = 0, refused = 0;
	char line[8];

	if (fds == NULL)
		return 1;
	wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
	put_be16(cmd + 10, 4);
	for (unsigned i = 0; i < n; i++) {
		uint32_t rc;
		if ((fds[i] = fc_connect(sock)) < 0) {
			perror("connect");
			return 1;
		}
		rc = fc_roundtrip(fds[i], cmd, sizeof(cmd), 0, rsp, sizeof(rsp), NULL);
		if (rc == 0) {
			served++;
		} else if (rc == (TSS2_RESMGR_RC_LAYER | TPM2_RC_RETRY)) {
			/* refused: the daemon closes it; the next read sees the end */
			uint8_t b;
			if (read(fds[i], &b, 1) == 0)
				refused++;
			close(fds[i]);
			fds[i] = -1;
		} else {
			fprintf(stderr, "polclient: connection %u: 0x%08x\n", i, rc);
		}
	}
	printf("served %u refused %u\n", served, refused);
	fflush(stdout);
	(void)fgets(line, sizeof(line), stdin);
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--open") == 0)
		return open_many((unsigned)strtoul(argv[2], NULL, 10), argv[3]);
	if (argc == 2)
		return run_lines(argv[1]);
	fprintf(stderr, "usage: polclient SOCKET | polclient --open N SOCKET\n");
	return 2;
}
