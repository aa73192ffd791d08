/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mcall: Tss2_Tcti_Tpmbroker_Measure() from C, as an application would.
 *   mcall CONF pcr|rtmr INDEX DATA [STREAM]
 * Prints the record number, or the TSS2_RC in hex and exits 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tcti_tpmbroker.h>

int
main(int argc, char **argv)
{
	uint64_t seq = 0;
	TSS2_RC rc;

	if (argc < 5)
		return 2;
	rc = Tss2_Tcti_Tpmbroker_Measure(argv[1],
					 strcmp(argv[2], "rtmr") == 0 ? TSS2_TCTI_TPMBROKER_REG_RTMR
								      : TSS2_TCTI_TPMBROKER_REG_PCR,
					 (uint32_t)atoi(argv[3]), 0, argv[4], strlen(argv[4]),
					 "mcall", argc > 5 ? argv[5] : NULL, &seq);
	if (rc != TSS2_RC_SUCCESS) {
		printf("0x%08" PRIx32 "\n", rc);
		return 1;
	}
	printf("%" PRIu64 "\n", seq);
	return 0;
}
