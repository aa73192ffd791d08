/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rm.c: resource manager.  This first version passes commands through,
 * refusing command codes the TPM does not implement; handle virtualization
 * slots in behind the same interface (rm.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "../common/wire.h"
#include "caps.h"
#include "rm.h"

struct rm {
	struct rm_params params;
	struct rm_stats stats;
};

struct rm_conn {
	struct rm_peer peer;
	bool resent; /* the current command was sent again after a reconnect */
};

int
rm_new(const struct rm_params *params, struct rm **ret)
{
	struct rm *rm = calloc(1, sizeof(*rm));

	if (rm == NULL)
		return -ENOMEM;
	rm->params = *params;
	*ret = rm;
	return 0;
}

void
rm_free(struct rm *rm)
{
	free(rm);
}

int
rm_conn_new(struct rm *rm, const struct rm_peer *peer, struct rm_conn **ret)
{
	struct rm_conn *rc = calloc(1, sizeof(*rc));

	(void)rm;
	if (rc == NULL)
		return -ENOMEM;
	rc->peer = *peer;
	*ret = rc;
	return 0;
}

static int
rm_reply_rc(struct rm *rm, struct rm_step *step, uint32_t rc)
{
	rm->stats.rm_errors++;
	step->rsp_len = wire_rc_response(step->rsp, step->rsp_cap, rc);
	return RM_DONE;
}

int
rm_begin(struct rm *rm, struct rm_conn *rc, uint8_t *cmd, size_t len, struct rm_step *step)
{
	uint32_t cc = get_be32(cmd + 6);

	rm->stats.commands++;
	rc->resent = false;
	if (caps_find(rm->params.caps, cc) == NULL)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_COMMAND_CODE));
	step->tpm_cmd = cmd;
	step->tpm_cmd_len = len;
	step->client_cmd = true;
	return RM_SEND;
}

int
rm_resume(struct rm *rm, struct rm_conn *rc, const uint8_t *rsp, size_t len, struct rm_step *step)
{
	(void)rm;
	(void)rc;
	if (len > step->rsp_cap)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_SIZE));
	memcpy(step->rsp, rsp, len);
	step->rsp_len = len;
	return RM_DONE;
}

int
rm_abort(struct rm *rm, struct rm_conn *rc, int err, struct rm_step *step)
{
	/* the link is back: step->tpm_cmd is still the client's command */
	if (err == -ECONNRESET && !rc->resent) {
		rc->resent = true;
		return RM_SEND;
	}
	if (err == -EOPNOTSUPP)
		return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_LOCALITY));
	return rm_reply_rc(rm, step, TB_RM_RC(TPM2_RC_FAILURE));
}

int
rm_close(struct rm *rm, struct rm_conn *rc, struct rm_step *step)
{
	(void)rm;
	(void)step;
	free(rc);
	return RM_DONE;
}

void
rm_tpm_reset(struct rm *rm)
{
	(void)rm;
}

void
rm_get_stats(const struct rm *rm, struct rm_stats *ret)
{
	*ret = rm->stats;
}

void
rm_conn_describe(const struct rm *rm, const struct rm_conn *rc, FILE *out, bool json)
{
	(void)rm;
	(void)rc;
	fputs(json ? "\"objects\": [], \"sessions\": []" : "", out);
}
