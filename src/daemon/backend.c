/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tpm2_types.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "tpmcmd.h"

static const struct backend_ops *const be_table[] = {
	&be_libtpms_ops,
	&be_swtpm_ops,
	&be_mssim_ops,
	&be_device_ops,
};

int
be_open(const char *spec, struct backend **ret)
{
	_cleanup_(freep) struct backend *be = NULL;
	const char *colon = strchr(spec, ':');
	size_t nlen = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	const char *args = colon != NULL ? colon + 1 : "";
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(be_table); i++) {
		const struct backend_ops *ops = be_table[i];
		if (strlen(ops->name) != nlen || strncmp(ops->name, spec, nlen) != 0)
			continue;
		if ((be = calloc(1, sizeof(*be))) == NULL)
			return -ENOMEM;
		be->ops = ops;
		be->fd = -1;
		if ((r = ops->open(be, args)) < 0)
			return r;
		*ret = TAKE_PTR(be);
		return 0;
	}
	log_warnx("unknown backend '%.*s' (libtpms, swtpm, mssim, device)", (int)nlen, spec);
	return -EINVAL;
}

void
be_close(struct backend *be)
{
	if (be == NULL)
		return;
	be->ops->close(be);
	free(be);
}

int
be_transact(struct backend *be, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap,
	    size_t *ret_len, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	int r;

	if ((r = be->ops->submit(be, cmd, len, 0)) < 0)
		return r;
	for (;;) {
		/* be->fd as it is now: submit() and finish() may have moved it */
		struct pollfd pfd = {.fd = be->fd, .events = POLLIN};
		uint64_t now = now_ns();
		int wait_ms;

		if (now >= deadline)
			return -ETIMEDOUT;
		wait_ms = (int)((deadline - now) / 1000000u) + 1;
		r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			continue;
		if ((r = be->ops->finish(be, rsp, cap, ret_len)) != 0)
			return r < 0 ? r : 0;
	}
}

int
be_startup(struct backend *be)
{
	uint8_t cmd[TPMCMD_MAX], rsp[64];
	size_t clen = tpmcmd_startup(cmd, sizeof(cmd), TPM2_SU_CLEAR), rlen;
	uint32_t rc;
	int r;

	if ((r = be_transact(be, cmd, clen, rsp, sizeof(rsp), &rlen, 30000)) < 0)
		return r;
	rc = wire_response_rc(rsp, rlen);
	if (rc != TPM2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) {
		log_warnx("%s: TPM2_Startup failed: 0x%08x", be->desc, rc);
		return -EIO;
	}
	be->needs_startup = false;
	return 0;
}

int
be_arg_get(const char *args, const char *key, char *buf, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = args;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = n - klen - 1;
			if (vlen >= cap)
				return -ENAMETOOLONG;
			memcpy(buf, p + klen + 1, vlen);
			buf[vlen] = '\0';
			return 1;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

int
be_args_check(const char *backend, const char *args, const char *const *keys)
{
	const char *p = args;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t klen = eq != NULL ? (size_t)(eq - p) : n;
		bool ok = false;

		for (size_t i = 0; keys[i] != NULL; i++)
			if (strlen(keys[i]) == klen && strncmp(keys[i], p, klen) == 0 && eq != NULL)
				ok = true;
		if (!ok) {
			log_warnx("backend %s: unknown or malformed argument '%.*s'", backend, (int)n, p);
			return -EINVAL;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}
