/* SPDX-License-Identifier: BSD-2-Clause */
/* swlog.c: swtpm's output without the command bytes libtpms dumps (swlog.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/util.h"
#include "swlog.h"

void
swlog_init(struct swlog *l, int out_fd)
{
	memset(l, 0, sizeof(*l));
	l->out_fd = out_fd;
}

bool
swlog_is_bytes(const char *s, size_t n)
{
	size_t pairs = 0, i = 0;

	while (i < n) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r') {
			i++;
			continue;
		}
		if (i + 1 >= n || !isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]))
			return false;
		if (i + 2 < n && s[i + 2] != ' ' && s[i + 2] != '\t' && s[i + 2] != '\r')
			return false;
		pairs++;
		i += 2;
	}
	return pairs > 0;
}

static void
swlog_write(struct swlog *l, const char *s, size_t n)
{
	if (l->out_fd >= 0)
		(void)write_all(l->out_fd, s, n);
}

/* the end of a run of byte lines: one line in their place */
static void
swlog_run_end(struct swlog *l)
{
	char msg[96];
	int n;

	if (l->run == 0)
		return;
	n = snprintf(msg, sizeof(msg), "[tpmbrokerd: %u lines of command bytes not logged]\n",
		     l->run);
	swlog_write(l, msg, (size_t)n);
	l->run = 0;
}

/* a whole line in l->line[0..n), its newline not included */
static void
swlog_line(struct swlog *l)
{
	size_t n = l->n;

	/* a cut line: judged by its whole pairs (up to its last blank) */
	while (l->cut && n > 0 && l->line[n - 1] != ' ' && l->line[n - 1] != '\t')
		n--;
	if (swlog_is_bytes(l->line, n)) {
		l->run++;
		l->dropped++;
	} else {
		swlog_run_end(l);
		swlog_write(l, l->line, l->n);
		swlog_write(l, l->cut ? " [cut]\n" : "\n", l->cut ? 7 : 1);
	}
	l->n = 0;
	l->cut = false;
}

void
swlog_feed(struct swlog *l, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			swlog_line(l);
		} else if (l->n < sizeof(l->line)) {
			l->line[l->n++] = buf[i];
		} else {
			l->cut = true; /* its start is kept (unless bytes) */
		}
	}
}

void
swlog_end(struct swlog *l)
{
	if (l->n > 0 || l->cut)
		swlog_line(l);
	swlog_run_end(l);
	if (l->out_fd >= 0)
		(void)close(l->out_fd);
	l->out_fd = -1;
}
