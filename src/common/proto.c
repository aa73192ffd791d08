/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto.h"

int
tb_socket_path(const char *explicit_path, char *buf, size_t cap)
{
	const char *env = getenv(TB_SOCKET_ENV);
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (explicit_path != NULL && explicit_path[0] != '\0')
		n = snprintf(buf, cap, "%s", explicit_path);
	else if (env != NULL && env[0] != '\0')
		n = snprintf(buf, cap, "%s", env);
	else if (geteuid() != 0 && xdg != NULL && xdg[0] != '\0')
		n = snprintf(buf, cap, "%s/%s", xdg, TB_SOCKET_NAME);
	else
		n = snprintf(buf, cap, "%s", TB_SOCKET_DEFAULT_ROOT);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return 0;
}
