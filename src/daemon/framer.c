/* SPDX-License-Identifier: BSD-2-Clause */
/* framer.c: the table of frontend wire protocols. */
#include <string.h>

#include "../common/util.h"
#include "framer.h"

static const struct framer *const framers[] = {
	&framer_tb,
	&framer_mssim_tpm,
	&framer_mssim_platform,
	&framer_raw,
};

const struct framer *
framer_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(framers); i++)
		if (strcmp(framers[i]->name, name) == 0)
			return framers[i];
	return NULL;
}
