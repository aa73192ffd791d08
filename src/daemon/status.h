/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * status.h: the answers to `tpmbroker status`: text and JSON, both walking
 * one table of counters (a counter added there appears in both).
 */
#ifndef TB_STATUS_H
#define TB_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct rm;
struct rm_conn;
struct server;

enum status_format {
	STATUS_TEXT = 0,
	STATUS_JSON = 1,
	STATUS_PROMETHEUS = 2, /* the text exposition format, version 0.0.4 */
};

/* One connection's handles, as text or as the members of a JSON object (the RM's tests too). */
void status_conn_handles(const struct rm *rm, const struct rm_conn *rc, FILE *f, bool json);
/* The abandoned sessions, as text or as a JSON member. */
void status_abandoned(const struct rm *rm, FILE *f, bool json);

/* Render into a malloc'd buffer (*ret, owned by the caller); fmt: enum status_format. */
int status_render(struct server *srv, int fmt, char **ret, size_t *ret_len);

#endif
