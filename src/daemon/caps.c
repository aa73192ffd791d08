/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>


#include "../common/log.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "backend.h"
#include "caps.h"
#include "tpmcmd.h"

static int
caps_cmp(const void *a, const void *b)
{
	uint32_t ka = caps_cc_key(*(const TPMA_CC *)a), kb = caps_cc_key(*(const TPMA_CC *)b);

	return ka < kb ? -1 : ka > kb;
}

int
caps_parse_commands(const uint8_t *rsp, size_t len, struct tpm_caps *caps, bool *more,
		    uint32_t *next)
{
	_cleanup_(freep) TPMS_CAPABILITY_DATA *data = calloc(1, sizeof(*data));
	const TPML_CCA *l;
	TPMA_CC *n;
	int r;

	if (data == NULL)
		return -ENOMEM;
	if ((r = tpmcmd_parse_capability(rsp, len, more, data)) < 0)
		return r;
	if (data->capability != TPM2_CAP_COMMANDS)
		return -EBADMSG;
	l = &data->data.command;
	if (l->count == 0) {
		*more = false;
		return 0;
	}
	n = realloc(caps->cc, (caps->n_cc + l->count) * sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	caps->cc = n;
	memcpy(caps->cc + caps->n_cc, l->commandAttributes, l->count * sizeof(*n));
	caps->n_cc += l->count;
	/* continue after the last command code returned (vendor ones carry V) */
	*next = caps_cc_key(l->commandAttributes[l->count - 1]) + 1;
	return 0;
}

static int
caps_get_u32(struct backend *be, uint32_t prop, uint32_t *ret)
{
	_cleanup_(freep) TPMS_CAPABILITY_DATA *data = calloc(1, sizeof(*data));
	uint8_t cmd[TPMCMD_MAX], rsp[TB_BUF_MAX];
	size_t clen, rlen;
	bool more;
	int r;

	if (data == NULL)
		return -ENOMEM;
	clen = tpmcmd_get_capability(cmd, sizeof(cmd), TPM2_CAP_TPM_PROPERTIES, prop, 1);
	if ((r = be_transact(be, cmd, clen, rsp, sizeof(rsp), &rlen, 30000)) < 0)
		return r;
	if ((r = tpmcmd_parse_capability(rsp, rlen, &more, data)) < 0)
		return r;
	if (data->capability != TPM2_CAP_TPM_PROPERTIES ||
	    data->data.tpmProperties.count < 1 ||
	    data->data.tpmProperties.tpmProperty[0].property != prop)
		return -ENOENT;
	*ret = data->data.tpmProperties.tpmProperty[0].value;
	return 0;
}

int
caps_load(struct backend *be, struct tpm_caps *ret)
{
	struct tpm_caps caps = {0};
	uint8_t cmd[TPMCMD_MAX], rsp[TB_BUF_MAX];
	uint32_t prop = TPM2_CC_FIRST;
	bool more = true;
	size_t clen, rlen;
	int r;

	for (int pages = 0; more && pages < 64; pages++) {
		clen = tpmcmd_get_capability(cmd, sizeof(cmd), TPM2_CAP_COMMANDS, prop,
					     TPM2_MAX_CAP_CC);
		if ((r = be_transact(be, cmd, clen, rsp, sizeof(rsp), &rlen, 30000)) < 0 ||
		    (r = caps_parse_commands(rsp, rlen, &caps, &more, &prop)) < 0) {
			caps_free(&caps);
			return r;
		}
	}
	qsort(caps.cc, caps.n_cc, sizeof(*caps.cc), caps_cmp);

	struct {
		uint32_t prop;
		uint32_t *dst;
		uint32_t dflt;
	} props[] = {
		{TPM2_PT_MAX_COMMAND_SIZE, &caps.max_command, TB_DEFAULT_MAX_MSG},
		{TPM2_PT_MAX_RESPONSE_SIZE, &caps.max_response, TB_DEFAULT_MAX_MSG},
		{TPM2_PT_HR_TRANSIENT_MIN, &caps.transient_slots, 3},
		{TPM2_PT_HR_LOADED_MIN, &caps.loaded_sessions, 3},
		{TPM2_PT_ACTIVE_SESSIONS_MAX, &caps.active_sessions_max, 64},
		{TPM2_PT_CONTEXT_GAP_MAX, &caps.context_gap_max, 0xffff},
	};
	for (size_t i = 0; i < ARRAY_SIZE(props); i++) {
		if ((r = caps_get_u32(be, props[i].prop, props[i].dst)) < 0) {
			log_debug("TPM property 0x%x unavailable (%d), using %u", props[i].prop, r,
				  props[i].dflt);
			*props[i].dst = props[i].dflt;
		}
	}
	caps.max_command = MAX(TB_DEFAULT_MAX_MSG, MIN(caps.max_command, TB_BUF_MAX));
	caps.max_response = MAX(TB_DEFAULT_MAX_MSG, MIN(caps.max_response, TB_BUF_MAX));
	*ret = caps;
	return 0;
}

void
caps_free(struct tpm_caps *caps)
{
	free(caps->cc);
	caps->cc = NULL;
	caps->n_cc = 0;
}

const TPMA_CC *
caps_find(const struct tpm_caps *caps, uint32_t cc)
{
	uint32_t key = caps_cc_key(cc);
	size_t lo = 0, hi = caps->n_cc;

	/* a command code has no bits outside index and V: others are unknown */
	if ((cc & ~(TPMA_CC_COMMANDINDEX_MASK | TPMA_CC_V)) != 0)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t k = caps_cc_key(caps->cc[mid]);
		if (k == key)
			return &caps->cc[mid];
		if (k < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
