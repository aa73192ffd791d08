/* SPDX-License-Identifier: BSD-2-Clause */
/* ccnames.h: TPM 2.0 command codes by name ("Clear"), both ways. */
#ifndef TB_CCNAMES_H
#define TB_CCNAMES_H

#include <stdint.h>

/* "Clear" for TPM2_CC_Clear, or NULL for a code the spec does not name (vendor). */
const char *cc_name(uint32_t cc);
/* "TPM2_GetRandom", or "command 0x20000001" for one the spec does not name: for logs. */
#define CC_LABEL_MAX 48
const char *cc_label(uint32_t cc, char buf[CC_LABEL_MAX]);

/*
 * A command code from "TPM2_Clear", "TPM2_CC_Clear", "Clear" (any case) or
 * a hex number "0x126" / "0x20000001".  0, or -1 if it names nothing.
 */
int cc_from_name(const char *s, uint32_t *ret);

#endif
