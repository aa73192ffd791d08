/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmd_instance.c: tpmbroker instance list [--json]|create|show|delete|export|import|
 * attach|detach: the lifecycle of private TPM instances, through INSTANCE
 * service requests (src/common/instproto.h).  Root and tpmbrokerd's user.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/instproto.h"
#include "common/proto.h"
#include "common/util.h"

/* lifecycle requests are the daemon's own work: a few ms; attach waits for swtpm */
#define INSTANCE_TIMEOUT_S 30u

static const struct {
	const char *word;
	uint8_t op;
	bool name;  /* takes NAME */
	bool file;  /* takes FILE (export, import) */
} ops[] = {
	{"list", TB_INST_LIST, false, false},     {"create", TB_INST_CREATE, true, false},
	{"show", TB_INST_SHOW, true, false},      {"delete", TB_INST_DELETE, true, false},
	{"export", TB_INST_EXPORT, true, true},   {"import", TB_INST_IMPORT, true, true},
	{"attach", TB_INST_ATTACH, true, false},  {"detach", TB_INST_DETACH, true, false},
};

/* The whole of FILE ('-': stdin) after the request header; NULL on error (printed). */
static uint8_t *
read_request(const char *file, size_t head, size_t *ret_len)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
	size_t cap = TB_PROTO_MAX_REQUEST, len = head, n;
	uint8_t *buf;

	if (f == NULL) {
		fprintf(stderr, "tpmbroker: %s: %s\n", file, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(cap + 1)) == NULL) {
		if (f != stdin)
			fclose(f);
		return NULL;
	}
	while ((n = fread(buf + len, 1, cap + 1 - len, f)) > 0)
		len += n;
	if (f != stdin)
		fclose(f);
	if (len > cap) {
		fprintf(stderr, "tpmbroker: %s: larger than %zu bytes\n", file, cap - head);
		free(buf);
		return NULL;
	}
	*ret_len = len;
	return buf;
}

static int
write_file(const char *file, const uint8_t *p, size_t len)
{
	FILE *f = strcmp(file, "-") == 0 ? stdout : fopen(file, "wb");
	int ok;

	if (f == NULL) {
		fprintf(stderr, "tpmbroker: %s: %s\n", file, strerror(errno));
		return EXIT_TPM_ERROR;
	}
	ok = fwrite(p, 1, len, f) == len;
	ok = (f == stdout ? fflush(f) == 0 : fclose(f) == 0) && ok;
	if (!ok) {
		fprintf(stderr, "tpmbroker: writing %s: %s\n", file, strerror(errno));
		return EXIT_TPM_ERROR;
	}
	return EXIT_OK;
}

static int
cmd_instance(const struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(freep) uint8_t *req = NULL;
	_cleanup_(freep) uint8_t *body = NULL;
	uint32_t owner = TB_INST_NO_OWNER, rc = 0;
	size_t i, len, nlen = 0, body_len = 0;
	const char *name = "", *file = NULL;
	const char *pos[3];
	size_t npos = 0;
	bool json = ctx->json;
	unsigned long v;
	int r;

	/* instance OP [NAME [FILE]] with --owner UID anywhere after the word */
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--owner") == 0 || strcmp(argv[a], "-o") == 0 ||
		    strncmp(argv[a], "--owner=", 8) == 0) {
			const char *val = argv[a][1] == 'o' || argv[a][7] == '\0' ? argv[++a] : argv[a] + 8;
			if (val == NULL || cli_parse_uint(val, 0xfffffffeul, &v) < 0) {
				fprintf(stderr, "tpmbroker: instance: --owner wants a uid\n");
				return EXIT_USAGE;
			}
			owner = (uint32_t)v;
		} else if (strcmp(argv[a], "--json") == 0) {
			json = true;
		} else if (npos < ARRAY_SIZE(pos)) {
			pos[npos++] = argv[a];
		} else {
			npos++;
		}
	}
	for (i = 0; npos > 0 && i < ARRAY_SIZE(ops); i++)
		if (strcmp(pos[0], ops[i].word) == 0)
			break;
	if (npos == 0 || i == ARRAY_SIZE(ops)) {
		fprintf(stderr, "tpmbroker: instance: list, create, show, delete, export, import, "
				"attach or detach\n");
		return EXIT_USAGE;
	}
	if (npos - 1 != (ops[i].name ? 1u : 0u) + (ops[i].file ? 1u : 0u)) {
		fprintf(stderr, "tpmbroker: instance %s %s\n", ops[i].word,
			ops[i].file ? "NAME FILE" : ops[i].name ? "NAME" : "(no arguments)");
		return EXIT_USAGE;
	}
	if (json && ops[i].op != TB_INST_LIST) {
		fprintf(stderr, "tpmbroker: instance: --json is for list\n");
		return EXIT_USAGE;
	}
	optind = 1;
	if (ops[i].name) {
		name = pos[1];
		nlen = strlen(name);
		if (nlen == 0 || nlen > 255) {
			fprintf(stderr, "tpmbroker: instance: bad name '%s'\n", name);
			return EXIT_USAGE;
		}
	}
	if (ops[i].file)
		file = pos[2];
	if (ops[i].op == TB_INST_IMPORT)
		req = read_request(file, 6 + nlen, &len);
	else if ((req = malloc(6 + nlen)) != NULL)
		len = 6 + nlen;
	if (req == NULL)
		return EXIT_USAGE;
	req[0] = (uint8_t)(ops[i].op | (json ? TB_INST_FLAG_JSON : 0));
	put_be32(req + 1, owner);
	req[5] = (uint8_t)nlen;
	memcpy(req + 6, name, nlen);
	r = cli_service(ctx, INSTANCE_TIMEOUT_S, TB_MSG_INSTANCE, 0, req, len, &rc, &body,
			&body_len);
	if (r != EXIT_OK)
		return r;
	if (rc != 0) {
		cli_print_rc(rc);
		if (body != NULL)
			fprintf(stderr, "tpmbroker: %s\n", (char *)body);
		if (rc == TB_RC_DENIED)
			fputs("tpmbroker: instance is for root and tpmbrokerd's user\n", stderr);
		return EXIT_TPM_ERROR;
	}
	if (ops[i].op == TB_INST_EXPORT)
		return write_file(file, body, body_len);
	return body != NULL ? write_file("-", body, body_len) : EXIT_OK;
}

const struct cli_cmd cli_cmd_instance = {
	.name = "instance",
	.run = cmd_instance,
	.synopsis = "instance list [--json]|create|show|delete|export|import|attach|detach [NAME] [FILE]",
	.help = "  instance list [--json]  private TPM instances: owner, worker, connections\n"
		"  instance create NAME [--owner UID]   a new instance (its worker starts on\n"
		"                       its first command)\n"
		"  instance show NAME   one instance: directory, worker, sockets, state size\n"
		"  instance delete NAME its worker and state, for good (no clients connected)\n"
		"  instance export NAME FILE  its state blob (encrypted if tpmbrokerd has an\n"
		"                       --instance-key) into FILE ('-': stdout)\n"
		"  instance import NAME FILE [--owner UID]  a new instance from an export\n"
		"  instance attach NAME hand the instance to a VM: prints its control socket,\n"
		"                       then the QEMU options (-chardev socket,path=SOCK\n"
		"                       -tpmdev emulator ...); host clients are refused until\n"
		"                       the VM exits or it is detached\n"
		"  instance detach NAME take it back from the VM (which loses its TPM)\n",
};
