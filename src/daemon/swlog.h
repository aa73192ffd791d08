/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * swlog.h: a private instance's swtpm output, filtered on its way to the
 * worker's log (DIR/swtpm.log).  libtpms, as it enters failure mode (a state
 * write that failed: a full disk), prints the command that caused it as
 * lines of hex bytes: NV data, sensitive areas, password authorizations in
 * the clear.  Those lines never reach the log; a run of them becomes one
 * line saying how many were dropped.  Everything else (swtpm's own
 * messages: why it did not start, which write failed) is kept.
 *
 * Pure: bytes in (any split), lines out to a file descriptor.
 */
#ifndef TB_SWLOG_H
#define TB_SWLOG_H

#include <stdbool.h>
#include <stddef.h>

#define SWLOG_LINE_MAX 512 /* longer lines are cut (and marked) */

struct swlog {
	int out_fd;         /* owned; -1: output dropped */
	char line[SWLOG_LINE_MAX];
	size_t n;           /* bytes in line */
	bool cut;           /* the line overflowed: the rest is skipped up to its end */
	unsigned run;       /* byte lines dropped in the current run */
	unsigned long dropped; /* byte lines dropped in all */
};

void swlog_init(struct swlog *l, int out_fd);
/* swtpm's bytes, split anywhere */
void swlog_feed(struct swlog *l, const char *buf, size_t len);
/* the output ended: write what is pending and close out_fd */
void swlog_end(struct swlog *l);
/* a line of nothing but hex byte pairs and blanks (at least one pair) */
bool swlog_is_bytes(const char *s, size_t n);

#endif
