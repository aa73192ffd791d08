/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * status.h: the answers to `tpmbroker status`: text and JSON, both walking
 * one table of counters (a counter added there appears in both).
 */
#ifndef TB_STATUS_H
#define TB_STATUS_H

#include <stdbool.h>
#include <stddef.h>

struct server;

/* Render into a malloc'd buffer (*ret, owned by the caller). */
int status_render(struct server *srv, bool json, char **ret, size_t *ret_len);

#endif
