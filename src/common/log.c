/* SPDX-License-Identifier: BSD-2-Clause */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *log_prog = "tpmbroker";
static enum log_level log_level = LOG_LVL_INFO;
static bool log_journal; /* stderr is the journal: prefix each line with its priority */

void
log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

static void vlog(enum log_level level, int err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
vlog(enum log_level level, int err, const char *fmt, va_list ap)
{
	static const char *const names[] = {"error", "warning", "info", "info", "debug"};
	static const int prio[] = {3, 4, 5, 6, 7}; /* syslog: err, warning, notice, info, debug */
	char buf[1024], pfx[8] = "";

	if (level > log_level)
		return;
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_journal)
		(void)snprintf(pfx, sizeof(pfx), "<%d>", prio[level]);
	if (err > 0)
		(void)fprintf(stderr, "%s%s: %s: %s: %s\n", pfx, log_prog, names[level], buf,
			      strerror(err));
	else
		(void)fprintf(stderr, "%s%s: %s: %s\n", pfx, log_prog, names[level], buf);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
}

void
log_errno(enum log_level level, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, err, fmt, ap);
	va_end(ap);
}

void
fatal(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, err, fmt, ap);
	va_end(ap);
	exit(1);
}
